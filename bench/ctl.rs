//! Edit latency through the control socket (no root needed): a daemon on in-memory ports, one
//! of them generating traffic, driven with the library client. Reports p50/p99/max round trips
//! of single edits (each acknowledged only once published to the workers) at two graph sizes,
//! of a read-only message, and the total time of a 1,000-line script through `xdpgraph ctl -f`.
//!
//! `cargo bench --bench ctl` (BENCH_EDITS, default 2000). Prints a Markdown table.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xdpgraph::ctl::client::Client;

const BIN: &str = env!("CARGO_BIN_EXE_xdpgraph");

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * q) as usize]
}

fn time_calls(c: &mut Client, lines: &[String]) -> Vec<f64> {
    lines
        .iter()
        .map(|l| {
            let t = Instant::now();
            let r = c.call(l).unwrap();
            assert!(r.ok, "{l}: {:?}", r.error);
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let n: usize = std::env::var("BENCH_EDITS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let sock = format!("/tmp/xdpgraph-bench-ctl-{}.sock", std::process::id());
    let mut d = Command::new(BIN)
        .args([
            "run",
            "--cores",
            "0",
            "--frames",
            "4096",
            "--socket",
            &sock,
            "--mem-port",
            "m0",
            "--mem-port",
            "m1",
            "--mem-gen",
            "100000",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let mut c = loop {
        if let Ok(c) = Client::connect(&sock) {
            break c;
        }
        assert!(t.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    };
    c.call("connect m0: m1: lower lower").unwrap();
    let edits = |prefix: &str| -> Vec<String> {
        (0..n)
            .flat_map(|i| {
                [
                    format!("mkpeer . hub {prefix}{i} a"),
                    format!("rmhook . {prefix}{i}"),
                ]
            })
            .collect()
    };
    let mut small = time_calls(&mut c, &edits("e"));
    let mut reads = time_calls(
        &mut c,
        &(0..n)
            .map(|_| "msg m0: getifname".to_string())
            .collect::<Vec<_>>(),
    );
    // Grow the graph to 1,000 more nodes, then edit again.
    for i in 0..1000 {
        assert!(c.call(&format!("mkpeer . hub g{i} a")).unwrap().ok);
    }
    let mut big = time_calls(&mut c, &edits("b"));
    // A 1,000-line script through the CLI.
    let script = std::env::temp_dir().join(format!("xdpgraph-bench-{}.ngctl", std::process::id()));
    let body: String = (0..500)
        .map(|i| format!("mkpeer . hub s{i} a\nname .:s{i} script{i}\n"))
        .collect();
    std::fs::write(&script, body).unwrap();
    let t = Instant::now();
    let o = Command::new(BIN)
        .args(["ctl", "--socket", &sock, "-f", script.to_str().unwrap()])
        .output()
        .unwrap();
    let script_s = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_file(&script);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(d.id().to_string())
        .status();
    let _ = d.wait();
    println!("| operation | count | p50 µs | p99 µs | max µs |");
    println!("|---|---:|---:|---:|---:|");
    for (name, v) in [
        ("edit (mkpeer/rmhook), graph of 5 nodes", &mut small),
        ("edit (mkpeer/rmhook), graph of 1,005 nodes", &mut big),
        ("read-only message (getifname)", &mut reads),
    ] {
        let max = v.iter().cloned().fold(0.0, f64::max);
        println!(
            "| {name} | {} | {:.0} | {:.0} | {:.0} |",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.99),
            max
        );
    }
    println!("\n1,000-line script (`xdpgraph ctl -f`, 500 mkpeer + 500 name, graph growing from 1,005 to 1,505 nodes): {:.3} s", script_s);
}
