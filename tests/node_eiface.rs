//! The `eiface` node (ng_eiface(4)): a Linux TAP `ngethN` per node (root only; CI runs these
//! as root). An in-process data plane with one worker and no interfaces; frames are sent and
//! read on the TAPs with AF_PACKET sockets. The tests run one at a time (they watch which
//! `ngeth` interfaces exist).

use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use xdpgraph::ctl::exec::{execute, Reply};
use xdpgraph::dataplane::{Dataplane, DataplaneConfig};
use xdpgraph::nodes::eiface::reason;
use xdpgraph::sys::netdev::PacketSocket;

static SERIAL: Mutex<()> = Mutex::new(());

struct Env {
    dp: Dataplane,
    _serial: MutexGuard<'static, ()>,
}

fn env() -> Option<Env> {
    if !xdpgraph::testkit::require_root() {
        return None;
    }
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dp = Dataplane::start(DataplaneConfig {
        cores: vec![0],
        frames_per_worker: Some(4096),
        taps: false,
        fast_path: false,
        ..Default::default()
    })
    .unwrap();
    Some(Env {
        dp,
        _serial: serial,
    })
}

impl Env {
    fn run(&mut self, line: &str) -> Reply {
        execute(&mut self.dp, line)
    }
    fn ok(&mut self, line: &str) -> Reply {
        let r = self.run(line);
        assert!(r.ok, "{line}: {:?}", r.error);
        r
    }
    /// A new eiface hung off `.` by `hook`, then left alone (it outlives the hook): its name.
    fn eiface(&mut self, hook: &str) -> String {
        self.ok(&format!("mkpeer . eiface {hook} ether"));
        let r = self.ok(&format!("msg .{hook} getifname"));
        let name = r.json["reply"].as_str().map(str::to_string);
        let name = name.unwrap_or_else(|| panic!("getifname: {:?}", r.json));
        self.ok(&format!("rmhook . {hook}"));
        name
    }
    /// Drops named `why` counted by node `node`.
    fn drops(&mut self, node: &str, why: xdpgraph::graph::DropReason) -> u64 {
        let name = xdpgraph::nodes::eiface::TYPE.reason(why).unwrap().name;
        let st = self.dp.graph().node_stats(node).unwrap();
        st.drops
            .iter()
            .find(|d| d.0.name == name)
            .map_or(0, |d| d.1)
    }
}

/// The `ngeth*` interfaces that exist now.
fn ngeths() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("ngeth"))
        .collect();
    v.sort();
    v
}

fn exists(name: &str) -> bool {
    std::path::Path::new(&format!("/sys/class/net/{name}")).exists()
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Brings `name` up without IPv6 (no router solicitations or DAD frames to get in the way).
fn up(name: &str) {
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
    ip(&["link", "set", name, "up"]);
}

fn frame(dst: [u8; 6], src: [u8; 6], seq: u8, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x88b5u16.to_be_bytes()); // local experimental EtherType
    while f.len() < len {
        f.push(seq.wrapping_add(f.len() as u8));
    }
    f
}

/// Waits up to 2 s for `want` on `sock`; frames of other kinds are skipped.
fn wait_for(sock: &PacketSocket, want: &[u8]) -> bool {
    let until = Instant::now() + Duration::from_secs(2);
    let mut buf = vec![0u8; 65536];
    while Instant::now() < until {
        if let Ok(Some(n)) = sock.recv(&mut buf, 100) {
            if &buf[..n] == want {
                return true;
            }
        }
    }
    false
}

#[test]
fn mkpeer_makes_ngeth_named_after_it_which_outlives_its_hook_and_shutdown_removes() {
    let Some(mut e) = env() else { return };
    let before = ngeths();
    let name = e.eiface("e0");
    assert!(name.starts_with("ngeth"), "{name}");
    assert!(!before.contains(&name), "{name} existed before");
    // the lowest free number
    let n: u32 = name["ngeth".len()..].parse().unwrap();
    for k in 0..n {
        assert!(
            exists(&format!("ngeth{k}")),
            "ngeth{k} was free, {name} taken"
        );
    }
    assert!(exists(&name));
    // named after the interface; still there without its hook; created down
    let r = e.ok(&format!("show {name}:"));
    assert!(r.text.contains("eiface"), "{}", r.text);
    let link = ip(&["-o", "link", "show", &name]);
    assert!(!link.contains(",UP") && !link.contains("<UP"), "{link}");
    e.ok(&format!("shutdown {name}:"));
    assert!(!exists(&name), "{name} is still there after shutdown");
    assert!(!e.run(&format!("show {name}:")).ok);
    // the number is free again: the next eiface takes it
    let again = e.eiface("e1");
    assert_eq!(again, name);
    e.ok(&format!("shutdown {again}:"));
    assert_eq!(ngeths(), before);
}

#[test]
fn hook_rules_and_a_refused_mkpeer_leaves_no_interface() {
    let Some(mut e) = env() else { return };
    let before = ngeths();
    let r = e.run("mkpeer . eiface e0 notether");
    assert!(!r.ok);
    assert_eq!(r.errno, Some("EPFNOSUPPORT"), "{:?}", r.error);
    assert_eq!(ngeths(), before, "a refused mkpeer left an interface");
    // a second hook named ether: EEXIST, as ng_add_hook finds the name taken before the
    // type's newhook can say EISCONN; the node and its interface stay
    e.ok("mkpeer . eiface e0 ether");
    let name = e.ok("msg .:e0 getifname").json["reply"]
        .as_str()
        .unwrap()
        .to_string();
    e.ok("mkpeer . hole h0 x");
    let r = e.run(&format!("connect .h0 {name}: y ether"));
    assert!(!r.ok);
    assert_eq!(r.errno, Some("EEXIST"), "{:?}", r.error);
    assert!(exists(&name));
    e.ok(&format!("shutdown {name}:"));
    e.ok("shutdown .h0");
    assert_eq!(ngeths(), before);
}

#[test]
fn set_changes_the_mac_the_host_sees() {
    let Some(mut e) = env() else { return };
    let name = e.eiface("e0");
    e.ok(&format!("msg {name}: set 02:11:22:33:44:55"));
    let link = ip(&["-o", "link", "show", &name]);
    assert!(link.contains("02:11:22:33:44:55"), "{link}");
    let r = e.run(&format!("msg {name}: set 01:00:5e:00:00:01"));
    assert!(!r.ok, "a multicast MAC was taken");
    e.ok(&format!("shutdown {name}:"));
}

#[test]
fn frames_cross_between_the_host_and_the_hook_both_ways_and_down_drops_are_counted() {
    let Some(mut e) = env() else { return };
    let a = e.eiface("e0");
    let b = e.eiface("e1");
    // what the host sends on a comes out of a's hook into b's, and the host receives it on b
    e.ok(&format!("connect {a}: {b}: ether ether"));
    up(&a);
    up(&b);
    let ca = std::fs::read_to_string(format!("/sys/class/net/{a}/carrier")).unwrap();
    assert_eq!(ca.trim(), "1", "carrier of {a} while ether is connected");
    let sa = PacketSocket::open(&a).unwrap();
    let sb = PacketSocket::open(&b).unwrap();
    let (ma, mb) = ([2, 0, 0, 0, 0, 0xa], [2, 0, 0, 0, 0, 0xb]);
    for (i, len) in [60usize, 200, 1514].into_iter().enumerate() {
        let f = frame(mb, ma, i as u8, len);
        sa.send(&f).unwrap();
        assert!(
            wait_for(&sb, &f),
            "{len}-byte frame from {a} not received on {b}"
        );
        let g = frame(ma, mb, 100 + i as u8, len);
        sb.send(&g).unwrap();
        assert!(
            wait_for(&sa, &g),
            "{len}-byte frame from {b} not received on {a}"
        );
    }
    // b down: what reaches b's hook is dropped, counted as down
    ip(&["link", "set", &b, "down"]);
    let before = e.drops(&format!("{b}:"), reason::DOWN);
    for i in 0..5 {
        sa.send(&frame(mb, ma, 200 + i, 100)).unwrap();
    }
    let until = Instant::now() + Duration::from_secs(2);
    while e.drops(&format!("{b}:"), reason::DOWN) < before + 5 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(e.drops(&format!("{b}:"), reason::DOWN), before + 5);
    let r = e.ok(&format!("msg {a}: getifname"));
    assert_eq!(r.json["reply"].as_str(), Some(a.as_str()));
    assert!(r.text.contains(&format!("\"{a}\"")), "{}", r.text);
    e.ok(&format!("shutdown {a}:"));
    e.ok(&format!("shutdown {b}:"));
    assert!(!exists(&a) && !exists(&b));
}

#[test]
fn jumbo_frames_cross_as_chained_frames_once_the_mtu_is_raised() {
    let Some(mut e) = env() else { return };
    let a = e.eiface("e0");
    let b = e.eiface("e1");
    e.ok(&format!("connect {a}: {b}: ether ether"));
    for n in [&a, &b] {
        ip(&["link", "set", n, "mtu", "9000"]);
        up(n);
    }
    // the management tick reads the new MTU (the daemon ticks every 100 ms)
    e.dp.tick();
    let sa = PacketSocket::open(&a).unwrap();
    let sb = PacketSocket::open(&b).unwrap();
    let (ma, mb) = ([2, 0, 0, 0, 0, 0xa], [2, 0, 0, 0, 0, 0xb]);
    for (i, len) in [1514usize, 4000, 9014].into_iter().enumerate() {
        let f = frame(mb, ma, i as u8, len);
        sa.send(&f).unwrap();
        assert!(
            wait_for(&sb, &f),
            "{len}-byte frame from {a} not received on {b}"
        );
    }
    e.ok(&format!("shutdown {a}:"));
    e.ok(&format!("shutdown {b}:"));
}

#[test]
fn the_data_planes_end_removes_every_eiface() {
    let Some(mut e) = env() else { return };
    let a = e.eiface("e0");
    let b = e.eiface("e1");
    assert!(exists(&a) && exists(&b));
    let Env { dp, _serial } = e;
    dp.shutdown();
    assert!(!exists(&a), "{a} outlived the data plane");
    assert!(!exists(&b), "{b} outlived the data plane");
}
