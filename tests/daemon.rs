//! The daemon as a library (`xdpgraph::daemon`): what `xdpgraph run` does, in-process, with
//! memory ports (no interface, no root needed).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xdpgraph::ctl::client::Client;
use xdpgraph::daemon::{Daemon, DaemonConfig, DaemonError, MemGenSpec};
use xdpgraph::dataplane::DataplaneConfig;

static N: AtomicU32 = AtomicU32::new(0);

fn config(mem_gen: Option<MemGenSpec>) -> DaemonConfig {
    DaemonConfig {
        dataplane: DataplaneConfig {
            cores: vec![0],
            frames_per_worker: 4096,
            taps: false,
            ..Default::default()
        },
        mem_ports: vec!["m0".into(), "m1".into()],
        mem_gen,
        socket: format!(
            "/tmp/xdpgraph-daemon-{}-{}.sock",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ),
        ..Default::default()
    }
}

#[test]
fn scripts_apply_line_by_line_and_stop_at_the_first_failure() {
    let mut d = Daemon::start(config(None)).unwrap();
    let mut out = Vec::new();
    d.apply_script(
        "wire.ngctl",
        "connect m0: m1: lower lower\nshow m0:\n",
        &mut out,
    )
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("m0") && out.contains("lower"), "{out}");
    let e = d
        .apply_script(
            "bad.ngctl",
            "show m1:\nconnect nosuch: m1: x y\nname m1: never",
            &mut std::io::sink(),
        )
        .unwrap_err();
    assert!(matches!(e, DaemonError::Script { line: 2, .. }), "{e:?}");
    assert!(e.to_string().starts_with("bad.ngctl:2: "), "{e}");
    assert_eq!(e.errno().name(), "ENOENT");
    let g = d.dataplane().graph();
    assert!(g.msg("never:", "getstats", None).is_err(), "line 3 not run");
    let e = d
        .apply_file("/nonexistent/x.ngctl", &mut std::io::sink())
        .unwrap_err();
    assert!(
        e.to_string().contains("reading /nonexistent/x.ngctl"),
        "{e}"
    );
    let r = d.shutdown();
    assert!(r.dpdk_frames.is_none());
}

#[test]
fn the_management_loop_serves_the_control_socket_until_stopped() {
    let cfg = config(Some(MemGenSpec {
        pps: 0,
        count: Some(1000),
    }));
    let sock = cfg.socket.clone();
    let mut d = Daemon::start(cfg).unwrap();
    assert_eq!(d.socket(), sock);
    d.apply_script("x", "connect m0: m1: lower lower", &mut std::io::sink())
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (s2, path) = (stop.clone(), sock.clone());
    let client = std::thread::spawn(move || {
        let mut c = Client::connect(&path).unwrap();
        let ifs = c.call("interfaces").unwrap();
        // the generator's 1000 frames cross to m1
        let t = Instant::now();
        let mut tx = 0;
        while tx < 1000 && t.elapsed() < Duration::from_secs(10) {
            let r = c.call("msg m1: getstats").unwrap();
            tx = r.json["reply"]["tx_packets"].as_u64().unwrap_or(0);
            std::thread::sleep(Duration::from_millis(20));
        }
        s2.store(true, Ordering::SeqCst);
        (ifs, tx)
    });
    d.run_until(&stop);
    let (ifs, tx) = client.join().unwrap();
    assert!(ifs.ok, "{ifs:?}");
    let l = ifs.json["interfaces"].as_array().unwrap();
    assert_eq!(l.len(), 2);
    assert!(l.iter().all(|i| i["kind"] == "mem"), "{l:?}");
    assert_eq!(tx, 1000);
    d.shutdown();
    assert!(
        !std::path::Path::new(&sock).exists(),
        "the control socket is removed"
    );
}

#[test]
fn a_bad_start_says_what_failed() {
    let mut cfg = config(None);
    cfg.mem_ports = vec!["m0".into(), "m0".into()];
    let e = Daemon::start(cfg).err().expect("a duplicate memory port");
    assert!(matches!(e, DaemonError::MemPort { .. }), "{e:?}");
    assert_eq!(e.errno().name(), "EEXIST");
    let mut cfg = config(None);
    cfg.dataplane.cores = vec![];
    let e = Daemon::start(cfg).err().expect("no cores");
    assert_eq!(e.errno().name(), "EINVAL");
}

/// This process's resident memory (kB).
fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn hostile_value_arguments_are_refused_and_cost_no_memory() {
    // 100 requests whose ASCII arguments name huge array indexes (or nest big arrays) are
    // refused with EINVAL, and the daemon's memory stays flat.
    let cfg = config(None);
    let sock = cfg.socket.clone();
    let mut d = Daemon::start(cfg).unwrap();
    d.apply_script(
        "x",
        "mkpeer m0: bridge lower link0\nname m0:lower br0",
        &mut std::io::sink(),
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (s2, path) = (stop.clone(), sock.clone());
    let client = std::thread::spawn(move || {
        let mut c = Client::connect(&path).unwrap();
        let warm = c.call("msg br0: setconfig [ 4095=1 ]").unwrap();
        let before = rss_kb();
        let nested = format!("[ {} ]", vec!["[ 4095=1 ]"; 40].join(" "));
        let mut refused = Vec::new();
        for i in 0..100 {
            let arg = match i % 3 {
                0 => "[ 65535=1 ]".to_string(),
                1 => format!("[ {}=1 ]", u64::MAX),
                _ => nested.clone(),
            };
            let r = c.call(&format!("msg br0: setconfig {arg}")).unwrap();
            refused.push((r.ok, r.errno, r.error.unwrap_or_default()));
        }
        let after = rss_kb();
        s2.store(true, Ordering::SeqCst);
        (warm, refused, before, after)
    });
    d.run_until(&stop);
    let (warm, refused, before, after) = client.join().unwrap();
    assert!(!warm.ok, "a bridge takes no array: {warm:?}");
    // refused by the value parser's bounds, before any node sees them
    assert!(
        refused
            .iter()
            .all(|(ok, e, why)| !ok && *e == Some("EINVAL") && why.contains("array")),
        "{refused:?}"
    );
    assert!(
        after <= before + 2048,
        "memory grew from {before} kB to {after} kB"
    );
    d.shutdown();
}
