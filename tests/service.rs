//! Running under systemd (issue 17): the `Type=notify` protocol the unit in dist/ relies on, and
//! the unit itself (`systemd-analyze verify`).

use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_xdpgraph");

/// The states the daemon sent, in order, until `until` is seen or `secs` pass.
fn collect(rx: &UnixDatagram, until: &str, secs: u64) -> Vec<String> {
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while Instant::now() < end {
        if let Ok(n) = rx.recv(&mut buf) {
            let s = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = s.contains(until);
            got.push(s);
            if done {
                break;
            }
        }
    }
    got
}

/// READY=1 once the boot script is applied and the control socket answers, WATCHDOG=1 at half
/// of WatchdogSec while the workers are healthy, none after a worker stalls, then STOPPING=1.
#[test]
fn notify_ready_watchdog_and_stopping() {
    let dir = std::env::temp_dir().join(format!("xg-service-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let notify = dir.join("notify.sock");
    let rx = UnixDatagram::bind(&notify).unwrap();
    let sock = dir.join("ctl.sock");
    let script = dir.join("boot.ngctl");
    std::fs::write(&script, "mkpeer m0: hub lower a\nname m0:lower boothub\n").unwrap();
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--cores",
            "0",
            "--frames",
            "4096",
            "--mem-port",
            "m0",
        ])
        .arg("--socket")
        .arg(&sock)
        .arg("-f")
        .arg(&script)
        .env("NOTIFY_SOCKET", &notify)
        .env("WATCHDOG_USEC", "200000")
        .env("XDPGRAPH_TEST_HOOKS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = collect(&rx, "READY=1", 20);
    assert!(
        first.last().is_some_and(|s| s.starts_with("READY=1")),
        "{first:?}"
    );
    // ready means serving, with the boot script applied
    assert!(UnixStream::connect(&sock).is_ok());
    let show = Command::new(BIN)
        .args(["ctl", "--socket"])
        .arg(&sock)
        .args(["show", "boothub:"])
        .output()
        .unwrap();
    assert!(show.status.success(), "{show:?}");
    // pings every ~100 ms
    let t = Instant::now();
    let pings = collect(&rx, "never", 1);
    let n = pings.iter().filter(|s| *s == "WATCHDOG=1").count();
    assert!(
        (5..=15).contains(&n),
        "{n} pings in {:?}: {pings:?}",
        t.elapsed()
    );
    // a stalled worker: the daemon stops, the pings stop, STOPPING=1 comes last
    let stall = Command::new(BIN)
        .args(["ctl", "--socket"])
        .arg(&sock)
        .args(["debug", "worker", "0", "stall"])
        .output()
        .unwrap();
    assert!(stall.status.success(), "{stall:?}");
    let tail = collect(&rx, "STOPPING=1", 10);
    assert_eq!(
        tail.last().map(String::as_str),
        Some("STOPPING=1"),
        "{tail:?}"
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "a worker fault exits 1");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The unit file passes `systemd-analyze verify` (with the binary where the unit expects it:
/// verify checks that ExecStart's program exists, so a copy of the unit points at this build).
#[test]
fn the_unit_verifies() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        xdpgraph::testkit::skip("systemd-analyze is not installed");
        return;
    }
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dist/xdpgraph.service"
    ))
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/xdpgraph run"));
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
    let dir = std::env::temp_dir().join(format!("xg-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("xdpgraph.service");
    std::fs::write(&path, unit.replace("/usr/bin/xdpgraph", BIN)).unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.trim().is_empty(), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The unit runs xdpgraph as its own unprivileged user with exactly the capabilities
/// `xdpgraph run` checks for (tests/privilege.rs proves that set on a veth lab; tests/package.rs
/// runs the installed unit's command line with it), its control socket open to its group.
#[test]
fn the_unit_grants_the_checked_capabilities_and_nothing_else() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dist/xdpgraph.service"
    ))
    .unwrap();
    let value = |key: &str| {
        let l = unit.lines().find(|l| l.starts_with(&format!("{key}=")));
        l.unwrap_or_else(|| panic!("no {key}="))
            .split_once('=')
            .unwrap()
            .1
            .to_string()
    };
    let set = |key: &str| {
        let mut v: Vec<String> = value(key).split_whitespace().map(String::from).collect();
        v.sort();
        v
    };
    let mut want = [
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_BPF",
        "CAP_PERFMON",
        "CAP_IPC_LOCK",
        "CAP_SYS_NICE",
    ];
    want.sort();
    assert_eq!(set("AmbientCapabilities"), want);
    assert_eq!(set("CapabilityBoundingSet"), want);
    assert_eq!(value("User"), "xdpgraph");
    assert_eq!(value("NoNewPrivileges"), "yes");
    assert!(value("ExecStart").contains("--socket-group xdpgraph"));
    assert!(value("ExecStart").ends_with("-f /etc/xdpgraph/graph.ngctl"));
    assert!(unit.contains("ReadWritePaths=/etc/xdpgraph"));
}
