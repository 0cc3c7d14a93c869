//! Least privilege (issue 17): `xdpgraph run` as a non-root user (uid 65534) with exactly the
//! capabilities it checks for (src/cli/caps.rs) as ambient ones, under `setpriv` (the bounding
//! set cut to the same set, no_new_privs as the unit has it): it attaches a veth lab, forwards
//! and answers `ctl`; without any one required capability it stops at once, naming it and what
//! needs it; without an optional one it runs, says what it does without. And the control
//! socket's group (`--socket-group`): its members may use `ctl`, others are refused (EACCES).
//! Root only (a lab, other users); each test makes its own lab and socket directory.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use xdpgraph::lab::{LabConfig, LabGuard};
use xdpgraph::sys::caps::{Cap, CapSet};

const BIN: &str = env!("CARGO_BIN_EXE_xdpgraph");
/// nobody/nogroup on Debian; any unprivileged uid would do.
const NOBODY: u32 = 65534;
/// What `run` requires for interfaces, and what it does without (with a warning).
const REQUIRED: [&str; 5] = ["net_admin", "net_raw", "bpf", "perfmon", "ipc_lock"];
const OPTIONAL: [&str; 1] = ["sys_nice"];
static N: AtomicU32 = AtomicU32::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn uniq() -> u32 {
    std::process::id() % 1000 * 10 + N.fetch_add(1, Ordering::SeqCst)
}

/// Root, setpriv with ambient capabilities, and a kernel with CAP_BPF; else skipped loudly.
fn usable() -> bool {
    if !xdpgraph::testkit::require_root() {
        return false;
    }
    let help = Command::new("setpriv").arg("--help").output();
    if !help.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--ambient-caps")) {
        xdpgraph::testkit::skip("needs setpriv with --ambient-caps (util-linux 2.31 or later)");
        return false;
    }
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap_or_default();
    if last.trim().parse::<u8>().unwrap_or(0) < Cap::BPF.0 {
        xdpgraph::testkit::skip("the kernel has no CAP_BPF/CAP_PERFMON (before Linux 5.8)");
        return false;
    }
    true
}

/// `setpriv` running the binary as `uid`/`gid` (supplementary groups: `groups`) with exactly
/// `caps` (inheritable, ambient, bounding), no_new_privs; the binary's arguments follow.
fn as_user(uid: u32, gid: u32, groups: &[u32], caps: &[&str]) -> Command {
    let mut list = String::from("-all");
    for c in caps {
        list += &format!(",+{c}");
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid", &uid.to_string(), "--regid", &gid.to_string()]);
    if groups.is_empty() {
        c.arg("--clear-groups");
    } else {
        let g: Vec<String> = groups.iter().map(u32::to_string).collect();
        c.args(["--groups", &g.join(",")]);
    }
    c.arg("--no-new-privs")
        .arg(format!("--inh-caps={list}"))
        .arg(format!("--ambient-caps={list}"))
        .arg(format!("--bounding-set={list}"))
        .arg("--")
        .arg(BIN);
    c
}

fn capset(names: &[&str]) -> CapSet {
    (names.iter())
        .map(|n| Cap::from_name(n).unwrap())
        .fold(CapSet::default(), CapSet::with)
}

/// A directory for the control socket that uid 65534 may write; removed when dropped.
struct SockDir(PathBuf);

impl SockDir {
    fn new(owner: u32) -> SockDir {
        let d = std::env::temp_dir().join(format!("xg-priv-{}", uniq()));
        std::fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(owner), Some(owner)).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        SockDir(d)
    }
    fn sock(&self) -> String {
        self.0.join("ctl.sock").to_string_lossy().into_owned()
    }
}

impl Drop for SockDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A daemon process (SIGKILLed if a test leaves it running).
struct Daemon {
    child: Option<Child>,
    sock: String,
}

impl Daemon {
    /// `cmd` (xdpgraph, maybe under setpriv) `run --cores 0 --frames 4096 --socket S ARGS`.
    fn spawn(mut cmd: Command, sock: &str, args: &[&str]) -> Daemon {
        cmd.args(["run", "--cores", "0", "--frames", "4096", "--socket", sock])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Daemon {
            child: Some(cmd.spawn().unwrap()),
            sock: sock.to_string(),
        }
    }

    /// Waits until the socket answers; panics with the log if the daemon exits first.
    fn wait_ready(&mut self) {
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.sock).is_err() {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let o = self.child.take().unwrap().wait_with_output().unwrap();
                panic!(
                    "daemon exited ({st}): {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits (at most 20 s) for the daemon to exit by itself.
    fn wait(mut self) -> Output {
        let mut c = self.child.take().unwrap();
        let t = Instant::now();
        while c.try_wait().unwrap().is_none() {
            if t.elapsed() > Duration::from_secs(20) {
                let _ = c.kill();
                panic!("daemon did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        c.wait_with_output().unwrap()
    }

    /// SIGTERM; its log once it exited (successfully).
    fn stop(self) -> String {
        // SAFETY: kill(2) on our own child's pid
        assert_eq!(unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) }, 0);
        let o = self.wait();
        let log = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{}: {log}", o.status);
        log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `xdpgraph ctl --socket S LINE` as root: (success, stdout + stderr).
fn ctl(sock: &str, line: &str) -> (bool, String) {
    output(
        Command::new(BIN)
            .args(["ctl", "--socket", sock])
            .args(line.split_whitespace()),
    )
}

fn output(c: &mut Command) -> (bool, String) {
    let o = c.output().unwrap();
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s += &String::from_utf8_lossy(&o.stderr);
    (o.status.success(), s)
}

fn lab() -> LabGuard {
    LabGuard::up(LabConfig {
        prefix: format!("pv{}", uniq()),
        ports: 2,
        queues: 1,
        addresses: true,
        // NAPI at the namespace ends: without CAP_SYS_ADMIN the daemon cannot look into the
        // namespace to see that a peer lacks it, and the fast path would learn it from the
        // kernel's first refusals (counted, and a warning) instead
        gro: true,
        ..Default::default()
    })
    .unwrap()
}

/// Whether an XDP program is attached to `ifname`.
fn has_xdp(ifname: &str) -> bool {
    let o = Command::new("ip")
        .args(["-d", "-o", "link", "show", "dev", ifname])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).contains("prog/xdp id ")
}

/// A field of /proc/PID/status.
fn status(pid: u32, field: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with(&format!("{field}:")));
    line.expect(field)[field.len() + 1..].trim().to_string()
}

#[test]
fn a_non_root_user_with_exactly_these_capabilities_attaches_forwards_and_answers_ctl() {
    if !usable() {
        return;
    }
    let _s = serial();
    let l = lab();
    let dir = SockDir::new(NOBODY);
    let all: Vec<&str> = REQUIRED.iter().chain(&OPTIONAL).copied().collect();
    let (a, b) = (l.iface(0), l.iface(1));
    let args = ["-i", &a, "-i", &b];
    let mut d = Daemon::spawn(as_user(NOBODY, NOBODY, &[], &all), &dir.sock(), &args);
    d.wait_ready();
    // not root, and nothing but the set
    let uids = status(d.pid(), "Uid");
    assert!(uids.split_whitespace().all(|u| u == "65534"), "{uids}");
    let eff = xdpgraph::sys::caps::parse_status(
        &format!("CapEff: {}", status(d.pid(), "CapEff")),
        "CapEff",
    );
    assert_eq!(eff, Some(capset(&all)));
    // the daemon's own user may use ctl (the socket is its, mode 0600)
    let mode = std::fs::metadata(dir.sock()).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let own = output(as_user(NOBODY, NOBODY, &[], &[]).args([
        "ctl",
        "--socket",
        &dir.sock(),
        "interfaces",
    ]));
    assert!(own.0 && own.1.contains(&a) && own.1.contains(&b), "{own:?}");
    // a bridge between the two, and the namespaces reach each other through it
    for line in [
        format!("mkpeer {a}: bridge lower link0"),
        format!("name {a}:lower br0"),
        format!("connect {b}: br0: lower link1"),
    ] {
        let r = ctl(&dir.sock(), &line);
        assert!(r.0, "{line}: {}", r.1);
    }
    assert!(l.ping(0, 1, 3, 1), "no ping through the bridge");
    let (ok, st) = ctl(&dir.sock(), "status br0:");
    assert!(ok && st.contains("hook link1: inFrames="), "{st}");
    assert!(
        !st.contains("hook link1: inFrames=0 "),
        "nothing crossed the bridge: {st}"
    );
    let log = d.stop();
    assert!(log.contains("XDP fast path on"), "{log}");
    assert!(!log.contains("WARN"), "a warning with the whole set: {log}");
    assert!(!has_xdp(&a) && !has_xdp(&b), "programs detached");
}

#[test]
fn each_missing_capability_is_named_or_done_without() {
    if !usable() {
        return;
    }
    let _s = serial();
    let l = lab();
    let dir = SockDir::new(NOBODY);
    let all: Vec<&str> = REQUIRED.iter().chain(&OPTIONAL).copied().collect();
    let (a, b) = (l.iface(0), l.iface(1));
    for drop in REQUIRED {
        let caps: Vec<&str> = all.iter().copied().filter(|c| *c != drop).collect();
        let t = Instant::now();
        let d = Daemon::spawn(
            as_user(NOBODY, NOBODY, &[], &caps),
            &dir.sock(),
            &["-i", &a, "-i", &b],
        );
        let o = d.wait();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "without {drop}: {err}");
        let name = Cap::from_name(drop).unwrap().name();
        let line = (err.lines())
            .find(|l| l.trim_start().starts_with(&name))
            .unwrap_or_else(|| panic!("without {drop}, no line naming {name}: {err}"));
        assert!(line.contains(": "), "{name} says what needs it: {line}");
        assert!(err.contains("missing a capability"), "{err}");
        // at once: before the data plane (no program was ever attached)
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(!err.contains("attached"), "{err}");
        assert!(!has_xdp(&a) && !has_xdp(&b));
    }
    for (drop, says) in [("sys_nice", "CAP_SYS_NICE: the workers run at nice 0")] {
        let caps: Vec<&str> = all.iter().copied().filter(|c| *c != drop).collect();
        let mut d = Daemon::spawn(
            as_user(NOBODY, NOBODY, &[], &caps),
            &dir.sock(),
            &["-i", &a, "-i", &b],
        );
        d.wait_ready();
        let (ok, out) = ctl(&dir.sock(), "interfaces");
        assert!(ok && out.contains(&a) && out.contains(&b), "{out}");
        let log = d.stop();
        let online = xdpgraph::sys::cpu::online_cores();
        if drop == "sys_nice" && online < 2 {
            continue; // one core: the workers' default nice is 0 anyway
        }
        assert!(log.contains(says), "without {drop}: {log}");
        // done without, rather than tried and failed
        assert!(!log.contains("cannot set nice"), "{log}");
    }
}

/// An unused uid and gid (no passwd/group entry), for the users of the socket test.
fn unused_ids() -> (u32, u32) {
    use xdpgraph::sys::users;
    let base = 61000 + std::process::id() % 1000 * 2;
    let free = |i: &u32| users::user_name(*i).is_none() && users::group_name(*i).unwrap().is_none();
    let uid = (base..base + 400).find(free).unwrap();
    let gid = (uid + 1..uid + 400).find(free).unwrap();
    (uid, gid)
}

/// `xdpgraph ctl --json --socket S list` as `uid` with supplementary `groups`.
fn ctl_as(uid: u32, groups: &[u32], sock: &str) -> (bool, String) {
    output(as_user(uid, uid, groups, &[]).args(["ctl", "--socket", sock, "list"]))
}

#[test]
fn the_socket_group_may_use_ctl_and_nobody_else() {
    if !usable() {
        return;
    }
    let _s = serial();
    let (user, group) = unused_ids();
    let dir = SockDir::new(0);
    let sock = dir.sock();
    let g = group.to_string();
    let mut d = Daemon::spawn(
        Command::new(BIN),
        &sock,
        &["--mem-port", "m0", "--socket-group", &g],
    );
    d.wait_ready();
    let m = std::fs::metadata(&sock).unwrap();
    assert_eq!((m.gid(), m.mode() & 0o777), (group, 0o660));
    // a member (a supplementary group): served
    let (ok, out) = ctl_as(user, &[group], &sock);
    assert!(ok && out.contains("Name: m0"), "{out}");
    // not a member: refused by the file's mode, and told who may use it
    let (ok, out) = ctl_as(user, &[], &sock);
    assert!(!ok, "{out}");
    assert!(
        out.contains("permission denied") && out.contains(&format!("members of group {group}")),
        "{out}"
    );
    assert!(out.contains("--socket-group"), "{out}");
    let j =
        output(as_user(user, user, &[], &[]).args(["ctl", "--json", "--socket", &sock, "list"]));
    assert!(j.1.contains("\"errno\":\"EACCES\""), "{}", j.1);
    // the file opened to everyone behind the daemon's back: the daemon still refuses
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (ok, out) = ctl_as(user, &[], &sock);
    assert!(
        !ok && out.contains(&format!(
            "uid {user} is not root, not the daemon's user and not in group {group}"
        )),
        "{out}"
    );
    d.stop();
    // a group by name; and the default: 0600, root only
    let mut d = Daemon::spawn(
        Command::new(BIN),
        &sock,
        &["--mem-port", "m0", "--socket-group", "root"],
    );
    d.wait_ready();
    assert_eq!(std::fs::metadata(&sock).unwrap().gid(), 0);
    d.stop();
    let mut d = Daemon::spawn(Command::new(BIN), &sock, &["--mem-port", "m0"]);
    d.wait_ready();
    assert_eq!(std::fs::metadata(&sock).unwrap().mode() & 0o777, 0o600);
    let (ok, out) = ctl_as(user, &[group], &sock);
    assert!(!ok && out.contains("only root may use it"), "{out}");
    d.stop();
    // --socket-mode 0666: everyone
    let mut d = Daemon::spawn(
        Command::new(BIN),
        &sock,
        &["--mem-port", "m0", "--socket-mode", "0666"],
    );
    d.wait_ready();
    let (ok, out) = ctl_as(user, &[], &sock);
    assert!(ok, "{out}");
    d.stop();
    // a group that does not exist: the daemon does not start
    let o = Command::new(BIN)
        .args([
            "run",
            "--mem-port",
            "m0",
            "--socket",
            &sock,
            "--socket-group",
            "no-such-group-xg",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no such group"),
        "{err}"
    );
}
