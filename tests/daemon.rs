//! The daemon as a library (`xdpgraph::daemon`): what `xdpgraph run` does, in-process, with
//! memory ports (no interface, no root needed).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xdpgraph::ctl::client::Client;
use xdpgraph::daemon::{Daemon, DaemonConfig, DaemonError, MemGenSpec, Outcome};
use xdpgraph::dataplane::DataplaneConfig;

static N: AtomicU32 = AtomicU32::new(0);
/// One test at a time: `service_threads_stay_off_the_workers_core` looks at every thread of
/// the process.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn config(mem_gen: Option<MemGenSpec>) -> DaemonConfig {
    DaemonConfig {
        dataplane: DataplaneConfig {
            cores: vec![0],
            frames_per_worker: Some(4096),
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
    let _serial = serial();
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
    let _serial = serial();
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
    assert_eq!(d.run_until(&stop), Outcome::Stopped);
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
    let _serial = serial();
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
    let _serial = serial();
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

/// Threads of the daemon named `prefix...`, with their allowed cores and nice values (from
/// /proc: the kernel's view).
fn threads(prefix: &str) -> Vec<(Vec<usize>, i32)> {
    let mut v = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let status = std::fs::read_to_string(t.path().join("status")).unwrap();
        let list = (status.lines())
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_string();
        let cores = (list.split(','))
            .flat_map(|r| match r.split_once('-') {
                Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect::<Vec<usize>>(),
                None => vec![r.parse().unwrap()],
            })
            .collect();
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap();
        // the fields after the command name: state is field 3, nice field 19
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let nice = after.split(' ').nth(16).unwrap().parse().unwrap();
        v.push((cores, nice));
    }
    v
}

/// The worker's core is the worker's: the management thread (here, the test's) and the threads
/// it spawns (control server, clients, metrics) run on the other cores; the worker runs at a
/// higher priority; the management thread gets its cores back at shutdown.
#[test]
fn service_threads_stay_off_the_workers_core() {
    let _serial = serial();
    let online = xdpgraph::sys::cpu::online_cores();
    if online < 2 {
        return;
    }
    let before = xdpgraph::sys::cpu::current_affinity().unwrap();
    let mut cfg = config(None);
    cfg.metrics = Some(format!("127.0.0.1:{}", 20000 + std::process::id() % 20000));
    let d = Daemon::start(cfg).unwrap();
    let others: Vec<usize> = before.iter().copied().filter(|c| *c != 0).collect();
    assert_eq!(d.dataplane_ref().service_cores(), &others[..]);
    assert_eq!(xdpgraph::sys::cpu::current_affinity().unwrap(), others);
    let workers = threads("xdpgraph-w");
    assert_eq!(workers, vec![(vec![0], xdpgraph::dataplane::WORKER_NICE)]);
    for name in ["xdpgraph-ctl", "xdpgraph-metric"] {
        // a new thread takes its name when it first runs: on a busy machine, a moment later
        let t0 = std::time::Instant::now();
        let mut t = threads(name);
        while t.is_empty() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
            t = threads(name);
        }
        assert_eq!(t.len(), 1, "{name}");
        assert_eq!(t[0], (others.clone(), 0), "{name}");
    }
    d.shutdown();
    assert_eq!(xdpgraph::sys::cpu::current_affinity().unwrap(), before);
    // every core a worker: nobody moves, and the workers stay at the service threads' priority
    // (docs/AFXDP.md, "Cores and priorities")
    let mut cfg = config(None);
    cfg.dataplane.cores = (0..online).collect();
    let d = Daemon::start(cfg).unwrap();
    assert!(d.dataplane_ref().service_cores().is_empty());
    assert_eq!(d.dataplane_ref().worker_nice(), 0);
    assert_eq!(xdpgraph::sys::cpu::current_affinity().unwrap(), before);
    assert!(threads("xdpgraph-w").iter().all(|(_, nice)| *nice == 0));
    d.shutdown();
}

#[test]
fn a_worker_panic_ends_the_management_loop_and_status_shows_it() {
    let _serial = serial();
    let mut cfg = config(Some(MemGenSpec {
        pps: 10_000,
        count: None,
    }));
    cfg.test_hooks = true;
    let sock = cfg.socket.clone();
    let mut d = Daemon::start(cfg).unwrap();
    d.apply_script("x", "connect m0: m1: lower lower", &mut std::io::sink())
        .unwrap();
    let client = std::thread::spawn(move || {
        let mut c = Client::connect(&sock).unwrap();
        let st = c.call("status").unwrap();
        let r = c.call("debug worker 0 panic").unwrap();
        (st, r)
    });
    let t = Instant::now();
    let out = d.run_until(&AtomicBool::new(false));
    let (st, r) = client.join().unwrap();
    assert!(st.ok && r.ok, "{st:?} {r:?}");
    let w = &st.json["workers"][0];
    assert_eq!(
        (w["state"].as_str(), w["core"].as_u64()),
        (Some("running"), Some(0))
    );
    assert!(w["heartbeats"].as_u64().unwrap() > 0, "{w}");
    assert_eq!(st.json["interfaces"].as_array().unwrap().len(), 2);
    match &out {
        Outcome::Fault(f) => {
            assert_eq!(f.worker, 0);
            assert!(f.to_string().contains("panicked: test hook"), "{f}");
        }
        o => panic!("{o:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(10));
    // what `ctl status` shows once the fault is found
    let r = xdpgraph::ctl::exec::execute(d.dataplane(), "status");
    assert!(r.ok, "{r:?}");
    assert_eq!(r.json["workers"][0]["state"], "panicked", "{}", r.text);
    assert!(
        r.text.contains("panicked (test hook: worker 0 panics)"),
        "{}",
        r.text
    );
    d.shutdown();
}

#[test]
fn without_test_hooks_there_is_no_debug_line() {
    let _serial = serial();
    let cfg = config(None);
    let sock = cfg.socket.clone();
    let mut d = Daemon::start(cfg).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let client = std::thread::spawn(move || {
        let mut c = Client::connect(&sock).unwrap();
        let r = c.call("debug worker 0 panic").unwrap();
        s2.store(true, Ordering::SeqCst);
        r
    });
    assert_eq!(d.run_until(&stop), Outcome::Stopped);
    let r = client.join().unwrap();
    assert_eq!(r.errno, Some("EINVAL"));
    assert!(r.error.unwrap().contains("unknown command"));
    d.shutdown();
}
