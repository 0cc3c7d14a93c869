//! `sys::veth::redirect_target` on real veth pairs (root only; skipped loudly otherwise).
//!
//! Each test makes its own uniquely named veth pair(s) and namespace, removed by a guard even
//! when the test fails. The last test checks the classification against the kernel itself:
//! an XDP program redirects frames into a veth, and they arrive at its peer exactly when
//! `redirect_target` says `PeerNapi`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use xdpgraph::sys::netdev::{self, PacketSocket};
use xdpgraph::sys::veth::{redirect_target, RedirectTarget};

static N: AtomicU32 = AtomicU32::new(0);

/// Root, or the test is skipped loudly (and fails when `CI` is set).
fn root() -> bool {
    xdpgraph::testkit::require_root()
}

/// Runs a command, killing it after 20 s; Err with its stderr when it fails.
fn run(args: &[&str]) -> Result<(), String> {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{args:?}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("{args:?}: {e}"))? {
            let out = child
                .wait_with_output()
                .map_err(|e| format!("{args:?}: {e}"))?;
            if status.success() {
                return Ok(());
            }
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("{args:?}: {status}: {}", err.trim()));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{args:?}: timed out"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn must(args: &[&str]) {
    run(args).unwrap_or_else(|e| panic!("{e}"));
}

/// A namespace (optional) and the veth pairs made in it; all removed on drop.
struct Lab {
    /// `vn<pid><n>`: names are `{prefix}{letter}{0|1}` (end 0 here, end 1 the peer).
    prefix: String,
    ns: Option<String>,
    pairs: Vec<String>,
    dir: PathBuf,
}

impl Lab {
    fn new(with_ns: bool) -> Lab {
        let prefix = format!(
            "vn{}x{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(&prefix);
        let lab = Lab {
            ns: with_ns.then(|| prefix.clone()),
            prefix,
            pairs: Vec::new(),
            dir,
        };
        if let Some(ns) = &lab.ns {
            must(&["ip", "netns", "add", ns]);
        }
        lab
    }

    /// Makes pair `letter`: `{prefix}{letter}0` here, `{prefix}{letter}1` in the namespace
    /// (or here), both up. Returns (near end, peer).
    fn pair(&mut self, letter: char) -> (String, String) {
        let (a, b) = (
            format!("{}{letter}0", self.prefix),
            format!("{}{letter}1", self.prefix),
        );
        assert!(b.len() <= 15, "{b} is too long for an interface name");
        let mut cmd = vec!["ip", "link", "add", &a, "type", "veth", "peer", "name", &b];
        if let Some(ns) = &self.ns {
            cmd.extend(["netns", ns.as_str()]);
        }
        must(&cmd);
        self.pairs.push(a.clone());
        must(&["ip", "link", "set", &a, "up"]);
        self.peer_ip(&["link", "set", &b, "up"]);
        (a, b)
    }

    /// `ip ARGS` in the peers' namespace.
    fn peer_ip(&self, args: &[&str]) {
        let mut cmd = vec!["ip"];
        if let Some(ns) = &self.ns {
            cmd.extend(["-n", ns.as_str()]);
        }
        cmd.extend(args);
        must(&cmd);
    }

    /// `ethtool -K PEER gro on|off` in the peers' namespace.
    fn peer_gro(&self, peer: &str, on: bool) {
        let mut cmd = Vec::new();
        if let Some(ns) = &self.ns {
            cmd.extend(["ip", "netns", "exec", ns.as_str()]);
        }
        cmd.extend(["ethtool", "-K", peer, "gro", if on { "on" } else { "off" }]);
        must(&cmd);
    }

    /// The hint `redirect_target` should give for turning GRO on.
    fn gro_hint(&self, peer: &str) -> String {
        match &self.ns {
            Some(ns) => format!("ip netns exec {ns} ethtool -K {peer} gro on"),
            None => format!("ethtool -K {peer} gro on"),
        }
    }

    /// An XDP object (section "xdp") whose program is `body`, built with clang; None (the
    /// test skipped loudly) without clang.
    fn xdp_object(&self, name: &str, body: &str) -> Option<PathBuf> {
        std::fs::create_dir_all(&self.dir).unwrap();
        let src = self.dir.join(format!("{name}.c"));
        let obj = self.dir.join(format!("{name}.o"));
        let text = format!(
            "static long (*bpf_redirect)(unsigned int, unsigned long long) = (void *)23;\n\
             __attribute__((section(\"xdp\"), used)) int prog(void *ctx) {{ {body} }}\n\
             char _license[] __attribute__((section(\"license\"), used)) = \"GPL\";\n"
        );
        std::fs::write(&src, text).unwrap();
        let (s, o) = (src.to_str().unwrap(), obj.to_str().unwrap());
        match run(&["clang", "-O2", "-target", "bpf", "-c", s, "-o", o]) {
            Ok(()) => Some(obj),
            Err(e) => {
                xdpgraph::testkit::skip(&format!("cannot build an XDP object: {e}"));
                None
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for a in &self.pairs {
            let _ = run(&["ip", "link", "del", a]);
        }
        if let Some(ns) = &self.ns {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn without_napi(t: &RedirectTarget) -> (&str, &str) {
    match t {
        RedirectTarget::PeerWithoutNapi { peer, hint } => (peer, hint),
        other => panic!("expected PeerWithoutNapi, got {other:?}"),
    }
}

fn napi(peer: &str) -> RedirectTarget {
    RedirectTarget::PeerNapi {
        peer: peer.to_string(),
    }
}

#[test]
fn loopback_is_not_a_veth_and_a_missing_interface_is_unknown() {
    if !root() {
        return;
    }
    assert_eq!(redirect_target("lo"), RedirectTarget::NotVeth);
    let t = redirect_target("vnnosuchif0");
    assert!(
        matches!(&t, RedirectTarget::Unknown(why) if why.contains("vnnosuchif0")),
        "{t:?}"
    );
    assert!(matches!(redirect_target(""), RedirectTarget::Unknown(_)));
    assert!(matches!(
        redirect_target("a-name-far-too-long"),
        RedirectTarget::Unknown(_)
    ));
}

#[test]
fn peer_in_a_namespace_needs_gro_and_up() {
    if !root() {
        return;
    }
    let mut lab = Lab::new(true);
    let (a, b) = lab.pair('a');
    // a fresh veth has GRO off (veth_newlink: veth_disable_gro)
    let t = redirect_target(&a);
    let (peer, hint) = without_napi(&t);
    assert_eq!(peer, b);
    assert_eq!(hint, lab.gro_hint(&b));
    assert_eq!(t.deliverable(), Some(false));

    lab.peer_gro(&b, true);
    assert_eq!(redirect_target(&a), napi(&b));

    // down: veth_close deletes the NAPI whatever GRO says
    lab.peer_ip(&["link", "set", &b, "down"]);
    let t = redirect_target(&a);
    let (_, hint) = without_napi(&t);
    assert_eq!(hint, format!("ip -n {} link set dev {b} up", lab.prefix));
    lab.peer_ip(&["link", "set", &b, "up"]);
    assert_eq!(redirect_target(&a), napi(&b));

    lab.peer_gro(&b, false);
    without_napi(&redirect_target(&a));
    // the peer's name means nothing in our namespace
    assert_eq!(
        redirect_target(&b).deliverable(),
        None,
        "{b} is not in our namespace"
    );
}

#[test]
fn peer_in_the_same_namespace() {
    if !root() {
        return;
    }
    let mut lab = Lab::new(false);
    let (a, b) = lab.pair('a');
    let t = redirect_target(&a);
    let (peer, hint) = without_napi(&t);
    assert_eq!((peer, hint), (b.as_str(), lab.gro_hint(&b).as_str()));
    // both ends are ours here: the reverse direction has the same rule
    let t = redirect_target(&b);
    assert_eq!(without_napi(&t).0, a);

    lab.peer_gro(&b, true);
    assert_eq!(redirect_target(&a), napi(&b));
    without_napi(&redirect_target(&b)); // a's GRO is still off
}

#[test]
fn native_xdp_on_the_peer_counts_and_generic_xdp_does_not() {
    if !root() {
        return;
    }
    let mut lab = Lab::new(true);
    let (a, b) = lab.pair('a');
    let Some(obj) = lab.xdp_object("pass", "return 2; /* XDP_PASS */") else {
        return;
    };
    let obj = obj.to_str().unwrap();
    lab.peer_ip(&["link", "set", "dev", &b, "xdpdrv", "obj", obj, "sec", "xdp"]);
    // GRO stays off (6.6+: XDP no longer turns it on), yet the peer runs NAPI
    assert_eq!(redirect_target(&a), napi(&b));
    lab.peer_ip(&["link", "set", "dev", &b, "xdpdrv", "off"]);
    without_napi(&redirect_target(&a));

    lab.peer_ip(&[
        "link",
        "set",
        "dev",
        &b,
        "xdpgeneric",
        "obj",
        obj,
        "sec",
        "xdp",
    ]);
    let t = redirect_target(&a);
    let (_, hint) = without_napi(&t);
    assert_eq!(hint, lab.gro_hint(&b));
    lab.peer_ip(&["link", "set", "dev", &b, "xdpgeneric", "off"]);
}

/// A process in a namespace of its own, with no /run/netns name; killed on drop.
struct Unnamed(std::process::Child);

impl Drop for Unnamed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn peer_in_an_unnamed_namespace_is_found_through_proc() {
    if !root() {
        return;
    }
    let child = Command::new("unshare")
        .args(["--net", "sleep", "60"])
        .spawn()
        .unwrap();
    let holder = Unnamed(child);
    let pid = holder.0.id().to_string();
    // unshare execs sleep in the new namespace; wait until it has
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .ok()
        .as_ref()
        == Some(&own)
    {
        assert!(
            Instant::now() < deadline,
            "unshare did not enter a namespace"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut lab = Lab::new(false); // dropped before `holder`: the pair goes first
    let (a, b) = (format!("{}a0", lab.prefix), format!("{}a1", lab.prefix));
    must(&[
        "ip", "link", "add", &a, "type", "veth", "peer", "name", &b, "netns", &pid,
    ]);
    lab.pairs.push(a.clone());
    must(&["ip", "link", "set", &a, "up"]);
    let nsenter = format!("nsenter --net=/proc/{pid}/ns/net");
    let started = Instant::now();
    let t = redirect_target(&a);
    let took = started.elapsed();
    let (peer, hint) = without_napi(&t);
    assert_eq!(peer, b);
    assert_eq!(
        hint,
        format!("{nsenter} ethtool -K {b} gro on && {nsenter} ip link set dev {b} up")
    );
    let ns_arg = format!("--net=/proc/{pid}/ns/net");
    must(&["nsenter", &ns_arg, "ip", "link", "set", &b, "up"]);
    must(&["nsenter", &ns_arg, "ethtool", "-K", &b, "gro", "on"]);
    assert_eq!(redirect_target(&a), napi(&b));
    assert!(
        took < Duration::from_secs(2),
        "the /proc scan took {took:?}"
    );
}

/// Frames with our EtherType and `tag` in the payload that reach `rx` within `ms`.
fn count_arrivals(rx: &PacketSocket, tag: u8, ms: u64) -> usize {
    let deadline = Instant::now() + Duration::from_millis(ms);
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv(&mut buf, left.as_millis() as i32) {
            Ok(Some(len)) if len >= 15 && buf[12..14] == [0x88, 0xb5] && buf[14] == tag => n += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    n
}

fn send_burst(tx: &PacketSocket, tag: u8, count: usize) {
    let mut f = [0u8; 64];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14] = tag;
    for _ in 0..count {
        tx.send(&f).unwrap();
    }
}

/// The kernel agrees: frames an XDP program redirects into `b0` reach its peer `b1` exactly
/// when `redirect_target(b0)` is `PeerNapi`.
#[test]
fn the_kernel_delivers_exactly_when_the_peer_runs_napi() {
    if !root() {
        return;
    }
    let mut lab = Lab::new(true);
    let ns = lab.prefix.clone();
    let (a0, a1) = lab.pair('a');
    let (b0, b1) = lab.pair('b');
    let b0_index = netdev::ifindex(&b0).unwrap();
    let body = format!("return bpf_redirect({b0_index}, 0);");
    let Some(obj) = lab.xdp_object("redirect", &body) else {
        return;
    };
    // native XDP on a0 (its NAPI runs it on frames a1 sends) redirects everything into b0
    let obj = obj.to_str().unwrap();
    must(&[
        "ip", "link", "set", "dev", &a0, "xdpdrv", "obj", obj, "sec", "xdp",
    ]);
    let tx = PacketSocket::open_in(&ns, &a1).unwrap();
    let rx = PacketSocket::open_in(&ns, &b1).unwrap();

    without_napi(&redirect_target(&b0));
    send_burst(&tx, 1, 20);
    assert_eq!(
        count_arrivals(&rx, 1, 300),
        0,
        "delivered without NAPI on {b1}"
    );

    lab.peer_gro(&b1, true);
    assert_eq!(redirect_target(&b0), napi(&b1));
    send_burst(&tx, 2, 20);
    assert_eq!(
        count_arrivals(&rx, 2, 1000),
        20,
        "not all delivered with GRO on {b1}"
    );

    lab.peer_gro(&b1, false);
    without_napi(&redirect_target(&b0));
    send_burst(&tx, 3, 20);
    assert_eq!(
        count_arrivals(&rx, 3, 300),
        0,
        "delivered after GRO went off on {b1}"
    );
    let _ = run(&["ip", "link", "set", "dev", &a0, "xdpdrv", "off"]);
}

#[test]
fn no_test_left_interfaces_behind() {
    // runs alongside the others; checks only the names of tests that have finished, i.e. a
    // fresh Lab removed by its guard leaves nothing
    if !root() {
        return;
    }
    let prefix = {
        let mut lab = Lab::new(true);
        lab.pair('a');
        lab.prefix.clone()
    };
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains(&prefix), "left behind: {links}");
    assert!(!Path::new(&format!("/run/netns/{prefix}")).exists());
}
