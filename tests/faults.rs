//! The daemon (`xdpgraph run`, the binary) when things go wrong: stop signals, a worker that
//! panics or stalls (the hidden test hook `debug worker N panic|stall`, enabled by
//! `XDPGRAPH_TEST_HOOKS=1`), a whole-process SIGSTOP (not a stall), a daemon killed with
//! SIGKILL (the next run reclaims its interfaces), and a second daemon on interfaces a live one
//! holds (refused, the live one undisturbed). Root for the lab ones; each makes its own lab.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use xdpgraph::lab::{LabConfig, LabGuard};

const BIN: &str = env!("CARGO_BIN_EXE_xdpgraph");
static N: AtomicU32 = AtomicU32::new(0);
/// One daemon test at a time: heartbeats are timed, and this machine is small.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn uniq() -> u32 {
    std::process::id() % 1000 * 10 + N.fetch_add(1, Ordering::SeqCst)
}

fn lab(ports: usize, addresses: bool) -> LabGuard {
    LabGuard::up(LabConfig {
        prefix: format!("fl{}", uniq()),
        ports,
        queues: 1,
        addresses,
        ..Default::default()
    })
    .unwrap()
}

/// A daemon process, killed (SIGKILL) if a test leaves it running.
struct Daemon {
    child: Child,
    sock: String,
}

impl Daemon {
    /// Starts `xdpgraph run ARGS --socket S` and waits for its control socket.
    fn start(args: &[&str], hooks: bool) -> Daemon {
        let d = Daemon::spawn(args, hooks);
        d.wait_ready();
        d
    }

    fn spawn(args: &[&str], hooks: bool) -> Daemon {
        Daemon::spawn_at(format!("/tmp/xdpgraph-faults-{}.sock", uniq()), args, hooks)
    }

    /// As [`Daemon::spawn`], with the control socket at `sock`.
    fn spawn_at(sock: String, args: &[&str], hooks: bool) -> Daemon {
        let mut c = Command::new(BIN);
        c.arg("run")
            .args(["--cores", "0", "--frames", "4096", "--socket", &sock]);
        c.args(args).env("RUST_LOG", "info");
        if hooks {
            c.env("XDPGRAPH_TEST_HOOKS", "1");
        }
        let child = c
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Daemon { child, sock }
    }

    fn wait_ready(&self) {
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.sock).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn ctl(&self, line: &str) -> (bool, String) {
        let o = Command::new(BIN)
            .args(["ctl", "--socket", &self.sock])
            .args(line.split_whitespace())
            .output()
            .unwrap();
        let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
        s += &String::from_utf8_lossy(&o.stderr);
        (o.status.success(), s)
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{sig}");
    }

    /// Waits (at most 20 s) for the daemon to exit: its status and its log.
    fn wait(mut self) -> (ExitStatus, String) {
        let t = Instant::now();
        let st = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "daemon did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut log = String::new();
        use std::io::Read;
        let mut err = self.child.stderr.take().unwrap();
        err.read_to_string(&mut log).unwrap();
        (st, log)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The XDP program attached to `ifname`: (id, name).
fn xdp_prog(ifname: &str) -> Option<(u32, String)> {
    let o = Command::new("ip")
        .args(["-d", "-o", "link", "show", "dev", ifname])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    let at = s.find("prog/xdp id ")?;
    let mut w = s[at + "prog/xdp id ".len()..].split_whitespace();
    let id = w.next()?.parse().ok()?;
    let name = match (w.next(), w.next()) {
        (Some("name"), Some(n)) => n.to_string(),
        _ => String::new(),
    };
    Some((id, name))
}

fn script(lines: &str) -> TempFile {
    let path = format!("/tmp/xdpgraph-faults-{}.ngctl", uniq());
    std::fs::write(&path, lines).unwrap();
    TempFile(path)
}

/// A file removed when dropped.
struct TempFile(String);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn stop_signals_detach_everything() {
    if !xdpgraph::testkit::require_root() {
        return;
    }
    let _s = serial();
    let l = lab(1, false);
    for sig in ["TERM", "INT", "HUP"] {
        let d = Daemon::start(&["-i", &l.iface(0)], false);
        assert_eq!(
            xdp_prog(&l.iface(0)).map(|p| p.1),
            Some("xdpgraph_steer".to_string())
        );
        let sock = d.sock.clone();
        d.signal(sig);
        let (st, log) = d.wait();
        assert!(st.success(), "SIG{sig}: {st:?}\n{log}");
        assert!(log.contains("XDP programs detached"), "SIG{sig}: {log}");
        assert_eq!(xdp_prog(&l.iface(0)), None, "SIG{sig}: program detached");
        assert!(
            !std::path::Path::new(&sock).exists(),
            "SIG{sig}: socket removed"
        );
    }
}

/// The hidden hook makes worker 0 panic or stall: the daemon notices, detaches every
/// interface and exits with status 1.
fn worker_fault(what: &str, want: &str) {
    if !xdpgraph::testkit::require_root() {
        return;
    }
    let _s = serial();
    let l = lab(2, false);
    let d = Daemon::start(&["-i", &l.iface(0), "-i", &l.iface(1)], true);
    let (ok, out) = d.ctl("status");
    assert!(ok && out.contains("running"), "{out}");
    assert!(xdp_prog(&l.iface(0)).is_some() && xdp_prog(&l.iface(1)).is_some());
    let t = Instant::now();
    let (ok, out) = d.ctl(&format!("debug worker 0 {what}"));
    assert!(ok, "{out}");
    let (st, log) = d.wait();
    eprintln!(
        "{what}: the daemon exited {:?} after the fault",
        t.elapsed()
    );
    assert_eq!(st.code(), Some(1), "{log}");
    assert!(log.contains(want), "{log}");
    assert!(log.contains("every interface was detached"), "{log}");
    for i in 0..2 {
        assert_eq!(
            xdp_prog(&l.iface(i)),
            None,
            "{}: program detached",
            l.iface(i)
        );
    }
}

#[test]
fn a_worker_panic_stops_the_daemon_cleanly_with_an_error() {
    worker_fault("panic", "worker 0 (core 0) panicked: test hook");
}

#[test]
fn a_stalled_worker_stops_the_daemon_cleanly_with_an_error() {
    worker_fault("stall", "worker 0 (core 0) stalled: no progress for");
}

#[test]
fn without_the_environment_variable_the_hooks_do_not_exist() {
    let _s = serial();
    let d = Daemon::start(&["--mem-port", "m0"], false);
    let (ok, out) = d.ctl("debug worker 0 panic");
    assert!(!ok && out.contains("unknown command"), "{out}");
    let (ok, out) = d.ctl("status");
    assert!(ok && out.contains("running"), "{out}");
    d.signal("TERM");
    assert!(d.wait().0.success());
}

/// SIGSTOP of the whole process, longer than the stall timeout: after SIGCONT the management
/// thread may run first and find every heartbeat old, but that is not a stall.
#[test]
fn a_stopped_and_continued_daemon_is_not_a_stalled_one() {
    let _s = serial();
    let d = Daemon::start(&["--mem-port", "m0", "--mem-port", "m1"], false);
    for _ in 0..5 {
        d.signal("STOP");
        std::thread::sleep(Duration::from_millis(600));
        d.signal("CONT");
        std::thread::sleep(Duration::from_millis(300));
    }
    let (ok, out) = d.ctl("--json status");
    assert!(ok, "the daemon still runs: {out}");
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(j["workers"][0]["state"], "running", "{j}");
    assert_eq!(j["pid"], d.pid());
    d.signal("TERM");
    let (st, log) = d.wait();
    assert!(st.success(), "{log}");
    assert!(!log.contains("stalled"), "{log}");
}

/// A daemon killed with SIGKILL leaves its XDP programs; the next run on the same interfaces
/// finds their owner gone, reclaims them, and forwards again.
#[test]
fn after_sigkill_the_next_run_reclaims_the_interfaces() {
    if !xdpgraph::testkit::require_root() {
        return;
    }
    let _s = serial();
    let l = lab(2, true);
    let (p0, p1) = (format!("{}:", l.iface(0)), format!("{}:", l.iface(1)));
    let f = script(&format!("connect {p0} {p1} lower lower\n"));
    let args = ["-i", &l.iface(0), "-i", &l.iface(1), "-f", &f.0];
    let a = Daemon::start(&args, false);
    assert!(l.ping(0, 1, 3, 1), "A forwards");
    let a_sock = a.sock.clone();
    a.signal("KILL");
    let (st, _) = a.wait();
    assert!(!st.success());
    let left = xdp_prog(&l.iface(0));
    assert_eq!(
        left.as_ref().map(|p| p.1.as_str()),
        Some("xdpgraph_steer"),
        "left behind"
    );
    // the same command line: the same control socket, which A left behind too
    let b = Daemon::spawn_at(a_sock, &args, false);
    b.wait_ready();
    assert!(l.ping(0, 1, 3, 1), "B forwards again, without manual steps");
    let now = xdp_prog(&l.iface(0));
    assert_ne!(now.map(|p| p.0), left.map(|p| p.0), "a fresh program");
    b.signal("TERM");
    let (st, log) = b.wait();
    assert!(st.success(), "{log}");
    assert!(
        log.contains("reclaiming the XDP program of an xdpgraph that is gone"),
        "{log}"
    );
    assert!(log.contains("removing a stale control socket"), "{log}");
    assert_eq!(xdp_prog(&l.iface(0)), None);
    assert_eq!(xdp_prog(&l.iface(1)), None);
}

/// A second daemon on an interface a live daemon holds fails, naming the holder; the live one
/// keeps its program and keeps forwarding.
#[test]
fn a_live_daemon_is_refused_by_name_and_left_forwarding() {
    if !xdpgraph::testkit::require_root() {
        return;
    }
    let _s = serial();
    let l = lab(2, true);
    let (p0, p1) = (format!("{}:", l.iface(0)), format!("{}:", l.iface(1)));
    let f = script(&format!("connect {p0} {p1} lower lower\n"));
    let a = Daemon::start(&["-i", &l.iface(0), "-i", &l.iface(1), "-f", &f.0], false);
    assert!(l.ping(0, 1, 3, 1), "A forwards");
    let held = xdp_prog(&l.iface(1)).unwrap();
    let b = Daemon::spawn(&["-i", &l.iface(1)], false);
    let (st, log) = b.wait();
    assert_eq!(st.code(), Some(1), "{log}");
    let want = format!(
        "{} is in use by another xdpgraph (pid {}, control socket {})",
        l.iface(1),
        a.pid(),
        a.sock
    );
    assert!(log.contains(&want), "{log}");
    assert_eq!(xdp_prog(&l.iface(1)), Some(held), "A's program untouched");
    assert!(l.ping(0, 1, 3, 1), "A still forwards");
    let (ok, out) = a.ctl("status");
    assert!(
        ok && out.contains(&l.iface(1)) && out.contains("up"),
        "{out}"
    );
    a.signal("TERM");
    assert!(a.wait().0.success());
    assert_eq!(xdp_prog(&l.iface(1)), None);
}
