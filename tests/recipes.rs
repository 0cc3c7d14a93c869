//! The recipes of docs/examples run as ngctl scripts, on the veth lab (root only; CI runs them
//! as root), with the traffic checked at the far ends (the lab's namespaces).
//!
//! `mpd5.ngctl`: mpd5's interface graph (IfaceNgIpInit in mpd5's iface.c) between two ports:
//! tee, tcpmss, and the bpf node `limits` with a car on one rule. Port 0 is the link side, port
//! 1 the interface side. The script is run line by line as the daemon runs `-f`, with the lab's
//! port names in place of the script's `xgm0`/`xgm1`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use xdpgraph::ctl::exec::{execute, Reply};
use xdpgraph::dataplane::{Dataplane, DataplaneConfig};
use xdpgraph::lab::{Lab, LabConfig, LabGuard};
use xdpgraph::value::Value;

const BIN: &str = env!("CARGO_BIN_EXE_xdpgraph");
const MPD5: &str = include_str!("../docs/examples/mpd5.ngctl");
const PFATT: &str = include_str!("../docs/examples/pfatt.ngctl");
static SERIAL: Mutex<()> = Mutex::new(());
static N: AtomicU32 = AtomicU32::new(0);

/// The recipe with the lab's port names.
fn script(recipe: &str, ports: &[String]) -> Vec<String> {
    recipe
        .lines()
        .map(|l| {
            let mut l = l.to_string();
            for (i, p) in ports.iter().enumerate() {
                l = l.replace(&format!("xgm{i}:"), &format!("{p}:"));
            }
            l
        })
        .collect()
}

/// A two-port lab with addresses (unique prefix; removed when dropped, even on failure), the
/// namespace ends completing their own checksums: veth would otherwise hand over TCP segments
/// whose checksum the receiving kernel was to fill in, which a node that edits them (tcpmss)
/// cannot fix up (the hosts of a real link send complete checksums).
fn lab() -> Option<(LabGuard, MutexGuard<'static, ()>)> {
    if !xdpgraph::testkit::require_root() {
        return None;
    }
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = format!(
        "r{}x{}",
        std::process::id() % 1000,
        N.fetch_add(1, Ordering::SeqCst)
    );
    let lab = LabGuard::up(LabConfig {
        prefix,
        ports: 2,
        queues: 1,
        addresses: true,
        gro: false,
        ..Default::default()
    })
    .unwrap();
    for i in 0..2 {
        let ns = lab.ns(i);
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, "ethtool", "-K", "eth0", "tx", "off"])
            .output()
            .unwrap();
        assert!(out.status.success(), "ethtool: {out:?}");
    }
    Some((lab, serial))
}

/// A two-port lab with an in-process data plane on both ports. Field order: the data plane
/// goes before the lab.
struct Env {
    dp: Dataplane,
    lab: LabGuard,
    _serial: MutexGuard<'static, ()>,
}

impl Env {
    fn new(recipe: &str) -> Option<Env> {
        let (lab, serial) = lab()?;
        let mut dp = Dataplane::start(DataplaneConfig {
            cores: vec![0],
            frames_per_worker: Some(8192),
            taps: false,
            fast_path: false,
            ..Default::default()
        })
        .unwrap();
        let ports: Vec<String> = (0..2).map(|i| lab.iface(i)).collect();
        for p in &ports {
            dp.attach(p, None).unwrap();
        }
        let mut e = Env {
            dp,
            lab,
            _serial: serial,
        };
        for line in script(recipe, &ports) {
            e.ok(&line);
        }
        Some(e)
    }
    fn ok(&mut self, line: &str) -> Reply {
        let r = execute(&mut self.dp, line);
        assert!(r.ok, "{line}: {:?}", r.error);
        r
    }
    /// A field of a field of a node's reply to `cmd` (`sub` empty: a field of the reply).
    fn stat(&mut self, path: &str, cmd: &str, arg: Option<&str>, sub: &str, name: &str) -> u64 {
        let arg = arg.map(|a| Value::parse(a).unwrap());
        let v = (self.dp.graph().msg(path, cmd, arg.as_ref()))
            .unwrap()
            .unwrap();
        let v = if sub.is_empty() {
            v
        } else {
            v.field(sub).unwrap().clone()
        };
        v.field(name).and_then(Value::as_i128).unwrap_or(0) as u64
    }
}

/// `args` run in the namespace of port `i` (bounded: 30 s at most).
fn ns_cmd(lab: &Lab, i: usize, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &lab.ns(i), "timeout", "30"])
        .args(args);
    c
}

/// A child process killed and reaped when dropped (a failed test leaves none behind).
struct Reaped(Child);

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Runs a Python program in namespace `i`, `args` after it; its standard output.
fn python(e: &Lab, i: usize, prog: &str, args: &[&str]) -> String {
    let mut a = vec!["python3", "-c", prog];
    a.extend_from_slice(args);
    let out = ns_cmd(e, i, &a).output().unwrap();
    assert!(out.status.success(), "python in ns {i}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends a TCP SYN (the kernel's own: MSS 1460 for the lab's MTU of 1500) from port `from`'s
/// host to port `to`'s, and returns the line tcpdump -vv prints for it at `to`.
fn syn_seen_at(e: &Lab, from: usize, to: usize) -> String {
    let mut td = ns_cmd(
        e,
        to,
        &[
            "tcpdump",
            "-i",
            "eth0",
            "-n",
            "-vv",
            "-l",
            "-c",
            "1",
            "tcp[tcpflags] == tcp-syn",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .map(Reaped)
    .unwrap();
    // Ready when it says it listens.
    let mut err = BufReader::new(td.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("listening"), "tcpdump: {line}");
    let connect = "import socket,sys\n\
                   s=socket.socket(); s.settimeout(1)\n\
                   s.connect_ex((sys.argv[1], 5002))\n";
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = String::new();
    let mut stdout = td.stdout.take().unwrap();
    loop {
        python(e, from, connect, &[&e.addr(to)]);
        if let Ok(Some(_)) = td.try_wait() {
            stdout.read_to_string(&mut out).unwrap();
            break;
        }
        assert!(Instant::now() < deadline, "no SYN seen at port {to}");
    }
    out
}

/// Sends UDP to `port` of port 1's host from port 0's host for `secs` at `pps` datagrams of
/// `size` bytes, counting what arrives there: (sent, received, seconds sending).
fn udp_flood(e: &Lab, port: u16, pps: u32, size: usize, secs: f64) -> (u64, u64, f64) {
    let recv = "import socket,sys,time\n\
                s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                s.bind(('0.0.0.0',int(sys.argv[1]))); s.settimeout(1.5)\n\
                print('ready',flush=True)\n\
                n=0\n\
                end=time.time()+25\n\
                while time.time()<end:\n\
                \x20   try: s.recv(65536); n+=1\n\
                \x20   except socket.timeout:\n\
                \x20       if n: break\n\
                print(n,flush=True)\n";
    let p = port.to_string();
    let mut r = ns_cmd(e, 1, &["python3", "-c", recv, &p])
        .stdout(Stdio::piped())
        .spawn()
        .map(Reaped)
        .unwrap();
    let mut rout = BufReader::new(r.stdout.take().unwrap());
    let mut line = String::new();
    rout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let send = "import socket,sys,time\n\
                s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                dst=(sys.argv[1],int(sys.argv[2])); pps=int(sys.argv[3])\n\
                data=b'x'*int(sys.argv[4]); secs=float(sys.argv[5])\n\
                t0=time.time(); n=0\n\
                while True:\n\
                \x20   t=t0+n/pps\n\
                \x20   now=time.time()\n\
                \x20   if t-t0>=secs: break\n\
                \x20   if t>now: time.sleep(t-now)\n\
                \x20   s.sendto(data,dst); n+=1\n\
                print(n, time.time()-t0)\n";
    let out = python(
        e,
        0,
        send,
        &[
            &e.addr(1),
            &p,
            &pps.to_string(),
            &size.to_string(),
            &secs.to_string(),
        ],
    );
    let mut w = out.split_whitespace();
    let sent: u64 = w.next().unwrap().parse().unwrap();
    let took: f64 = w.next().unwrap().parse().unwrap();
    line.clear();
    rout.read_line(&mut line).unwrap();
    let _ = r.wait();
    let got: u64 = line.trim().parse().unwrap();
    (sent, got, took)
}

#[test]
fn mpd5_recipe_carries_ping_both_ways_and_counts_it_in_the_tee() {
    let Some(mut e) = Env::new(MPD5) else { return };
    assert!(e.lab.ping(0, 1, 3, 1), "ping link side -> interface side");
    assert!(e.lab.ping(1, 0, 3, 1), "ping interface side -> link side");
    // Every frame from the link side passed the tee to tcpmss `in`, and its copy went to the
    // accounting hole (r2l); the other way, to l2r.
    let r2l = e.stat("acct:", "getstats", Some("\"r2l\""), "", "frames");
    let l2r = e.stat("acct:", "getstats", Some("\"l2r\""), "", "frames");
    let mss_in = e.stat("mss:", "getstats", Some("\"in\""), "", "Packets");
    let mss_out = e.stat("mss:", "getstats", Some("\"out\""), "", "Packets");
    assert!(r2l >= 6 && l2r >= 6, "r2l {r2l} l2r {l2r}");
    assert_eq!(
        r2l, mss_in,
        "each frame from the link side counted once by the tee's copy"
    );
    assert_eq!(
        l2r, mss_out,
        "each frame from the interface side counted once"
    );
    // ICMP does not match the rule: the car saw nothing.
    assert_eq!(e.stat("car0:", "getstats", None, "upstream", "passed"), 0);
}

#[test]
fn mpd5_recipe_clamps_the_mss_both_ways_with_correct_checksums() {
    let Some(mut e) = Env::new(MPD5) else { return };
    assert!(e.lab.ping(0, 1, 3, 1));
    for (from, to) in [(0, 1), (1, 0)] {
        let seen = syn_seen_at(&e.lab, from, to);
        eprintln!("SYN {from} -> {to}, seen at {to}:\n{seen}");
        assert!(seen.contains("mss 1400"), "{from} -> {to}: {seen}");
        assert!(seen.contains("(correct)"), "{from} -> {to}: {seen}");
        assert!(!seen.contains("incorrect"), "{from} -> {to}: {seen}");
    }
    let fixed_in = e.stat("mss:", "getstats", Some("\"in\""), "", "FixedPkts");
    let fixed_out = e.stat("mss:", "getstats", Some("\"out\""), "", "FixedPkts");
    assert!(fixed_in >= 1 && fixed_out >= 1, "{fixed_in} {fixed_out}");
}

#[test]
fn mpd5_recipe_limits_udp_to_the_port_to_the_cars_rate() {
    let Some(mut e) = Env::new(MPD5) else { return };
    assert!(e.lab.ping(0, 1, 3, 1));
    // 1000 bytes of data: 1042-byte frames; 500 a second is 4.2 Mbit/s against a cir of 1.
    const FRAME: u64 = 1042;
    let (sent, got, secs) = udp_flood(&e.lab, 5001, 500, 1000, 4.0);
    let passed = e.stat("car0:", "getstats", None, "upstream", "passed");
    let dropped = e.stat("car0:", "getstats", None, "upstream", "droped");
    let rate = (passed * FRAME * 8) as f64 / secs;
    eprintln!(
        "sent {sent} in {secs:.2}s, car passed {passed} dropped {dropped}, received {got}: \
         {rate:.0} bit/s"
    );
    assert!(sent >= 1500, "the sender kept up: {sent}");
    assert!(
        passed + dropped <= sent && passed + dropped >= sent * 99 / 100,
        "every datagram reached the car: {passed} + {dropped} of {sent}"
    );
    assert!(
        (0.8e6..=1.2e6).contains(&rate),
        "{rate:.0} bit/s through a car of 1 Mbit/s"
    );
    assert!(
        got <= passed && got >= passed * 95 / 100,
        "received {got} of {passed} passed"
    );
    // The drops are the car's red ones, and `errors` names them.
    let r = e.ok("errors");
    let red = |j: &serde_json::Value| j["type"] == "car" && j["reason"] == "red";
    let by_type = r.json["by_type"].as_array().unwrap();
    assert!(
        by_type.iter().any(|j| red(j) && j["count"] == dropped),
        "{}",
        r.json
    );
    assert!(
        r.text
            .lines()
            .any(|x| x.split_whitespace().take(3).eq(["car0:", "car", "red"])),
        "{}",
        r.text
    );
    // Other UDP is not limited: the same flood to another port all arrives.
    let (sent2, got2, _) = udp_flood(&e.lab, 5003, 500, 1000, 2.0);
    assert!(got2 >= sent2 * 99 / 100, "port 5003: {got2} of {sent2}");
    assert_eq!(
        e.stat("car0:", "getstats", None, "upstream", "passed"),
        passed
    );
    // Shaping (mpd5's `shape`, car mode 3) is taken (tests/node_car.rs shapes with it).
    let r = execute(
        &mut e.dp,
        "msg car0: setconf { upstream={ cbs=125000 ebs=250000 cir=1000000 greenAction=1 \
         yellowAction=1 redAction=2 mode=3 } downstream={ cbs=125000 ebs=250000 cir=1000000 \
         greenAction=1 yellowAction=1 redAction=2 mode=3 } }",
    );
    assert!(r.ok, "{:?}", r.error);
}

/// The daemon binary running a script with `-f`, stopped when dropped.
struct Daemon {
    child: Child,
    sock: String,
}

impl Daemon {
    fn start(lab: &Lab, recipe: &str) -> Daemon {
        Daemon::start_until(lab, recipe, &["msg", "limits:", "getprogram", "\"iface\""])
    }
    /// The daemon running `recipe` with `-f`, once `ready` (a ctl command) succeeds.
    fn start_until(lab: &Lab, recipe: &str, ready: &[&str]) -> Daemon {
        let n = N.fetch_add(1, Ordering::SeqCst);
        let sock = format!("/tmp/xdpgraph-recipe-{}-{n}.sock", std::process::id());
        let setup = format!("{sock}.ngctl");
        let ports: Vec<String> = (0..2).map(|i| lab.iface(i)).collect();
        std::fs::write(&setup, script(recipe, &ports).join("\n")).unwrap();
        let child = Command::new(BIN)
            .args([
                "run", "--cores", "0", "--no-tap", "--socket", &sock, "-f", &setup,
            ])
            .args(["-i", &ports[0], "-i", &ports[1]])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let d = Daemon { child, sock };
        let t = Instant::now();
        // The script's last line done.
        while !d.ctl(ready).0 {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(&setup);
        d
    }
    fn ctl(&self, args: &[&str]) -> (bool, String) {
        let o = Command::new(BIN)
            .args(["ctl", "--socket", &self.sock])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        (
            o.status.success(),
            text + &String::from_utf8_lossy(&o.stderr),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_file(&self.sock);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.sock);
    }
}

#[test]
fn mpd5_recipe_runs_in_the_daemon_with_f() {
    let Some((lab, _serial)) = lab() else { return };
    let d = Daemon::start(&lab, MPD5);
    assert!(lab.ping(0, 1, 3, 1), "ping link side -> interface side");
    assert!(lab.ping(1, 0, 3, 1), "ping interface side -> link side");
    let seen = syn_seen_at(&lab, 0, 1);
    assert!(
        seen.contains("mss 1400") && seen.contains("(correct)"),
        "{seen}"
    );
    let (sent, got, _) = udp_flood(&lab, 5001, 500, 1000, 2.0);
    assert!(got < sent / 2, "limited: {got} of {sent}");
    let (ok, text) = d.ctl(&["msg", "car0:", "getstats"]);
    assert!(ok && text.contains("droped="), "{text}");
    let (ok, text) = d.ctl(&["errors"]);
    assert!(
        ok && text
            .lines()
            .any(|x| x.split_whitespace().take(3).eq(["car0:", "car", "red"])),
        "{text}"
    );
    let (ok, text) = d.ctl(&["msg", "acct:", "getstats", "\"r2l\""]);
    assert!(ok && text.contains("frames="), "{text}");
}

// ----- the same script on in-memory ports (no root needed) -----------------------------------

/// RFC 1071: the complement of the ones'-complement sum of big-endian words.
fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    for pair in data.chunks(2) {
        sum += ((pair[0] as u64) << 8) | pair.get(1).copied().unwrap_or(0) as u64;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

const SRC: [u8; 4] = [10, 77, 0, 1];
const DST: [u8; 4] = [10, 77, 0, 2];

/// An Ethernet frame carrying IPv4 with protocol `proto` and `l4` (whose checksum at `csum`,
/// if any, is computed here over the pseudo-header).
fn ipv4_frame(proto: u8, mut l4: Vec<u8>, csum: Option<usize>) -> Vec<u8> {
    let mut f = vec![2, 0x77, 0, 0, 1, 1, 2, 0x77, 0, 0, 1, 0, 0x08, 0x00];
    let total = (20 + l4.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, proto, 0, 0]);
    ip.extend_from_slice(&SRC);
    ip.extend_from_slice(&DST);
    let c = inet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    if let Some(at) = csum {
        let c = inet_checksum(&pseudo(proto, &l4));
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

fn pseudo(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut ph = SRC.to_vec();
    ph.extend_from_slice(&DST);
    ph.extend_from_slice(&[0, proto]);
    ph.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    ph.extend_from_slice(l4);
    ph
}

/// A TCP SYN with MSS `mss`, NOP NOP SACK-permitted.
fn syn(mss: u16) -> Vec<u8> {
    let mut t = vec![
        0xc0,
        1,
        0x13,
        0x8a,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        7 << 4,
        0x02,
        0xfa,
        0xf0,
    ];
    t.extend_from_slice(&[0, 0, 0, 0]);
    let [a, b] = mss.to_be_bytes();
    t.extend_from_slice(&[2, 4, a, b, 1, 1, 4, 2]);
    ipv4_frame(6, t, Some(16))
}

fn udp(dport: u16, len: usize) -> Vec<u8> {
    let mut u = vec![0xc0, 2];
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + len) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.resize(8 + len, 0x55);
    ipv4_frame(17, u, Some(6))
}

#[test]
fn mpd5_recipe_in_memory_clamps_limits_and_accounts() {
    use xdpgraph::testkit::Lab as MemLab;
    let mut l = MemLab::new(2);
    for line in script(MPD5, &["p0".into(), "p1".into()]) {
        let r = execute(&mut l.graph, &line);
        assert!(r.ok, "{line}: {:?}", r.error);
    }
    let s = syn(1460);
    // Link side to interface side, and back: clamped to 1400, checksum still right.
    for (from, to) in [(0, 1), (1, 0)] {
        l.send(from, std::slice::from_ref(&s));
        let out = l.tx(to);
        assert_eq!(out.len(), 1, "{from} -> {to}");
        let f = &out[0];
        assert_eq!(&f[54..58], &[2, 4, 0x05, 0x78], "MSS 1400 ({from} -> {to})");
        assert_eq!(inet_checksum(&pseudo(6, &f[34..])), 0, "TCP checksum");
        assert_eq!(
            (&f[..50], &f[52..54], f.len()),
            (&s[..50], &s[52..54], s.len()),
            "only the MSS and the TCP checksum change"
        );
    }
    // UDP to 5001 from the link side goes through the car (upstream); to 5003 it does not;
    // from the interface side nothing is limited.
    l.send(0, &[udp(5001, 100), udp(5003, 100)]);
    assert_eq!(l.tx(1).len(), 2);
    l.send(1, &[udp(5001, 100)]);
    assert_eq!(l.tx(0).len(), 1);
    let car = l.graph.msg("car0:", "getstats", None).unwrap().unwrap();
    let up = car.field("upstream").unwrap();
    assert_eq!(
        up.field("passed").and_then(Value::as_i128),
        Some(1),
        "{car}"
    );
    // The tee's copies: 3 frames from each side.
    for (hook, n) in [("\"r2l\"", 3), ("\"l2r\"", 2)] {
        let v = (l
            .graph
            .msg("acct:", "getstats", Some(&Value::parse(hook).unwrap())))
        .unwrap()
        .unwrap();
        assert_eq!(
            v.field("frames").and_then(Value::as_i128),
            Some(n),
            "{hook}: {v}"
        );
    }
    assert_eq!(l.balance().0, l.balance().1);
}

// ----- pfatt ------------------------------------------------------------------------------

/// The RG's MAC the recipe gives ngeth0.
const RG_MAC: [u8; 6] = [2, 0, 0, 0, 0xa0, 1];
const ONT_MAC: [u8; 6] = [2, 0, 0, 0, 0xa0, 2];

/// The pfatt recipe on a two-port lab (port 0 the ONT, port 1 the RG), run line by line; the
/// script's `ngeth0:` is the eiface it made (the lowest free number: ngeth0 unless another
/// program has one). Returns the environment and the eiface's interface name, which is up.
fn pfatt_env() -> Option<(Env, String)> {
    let mut e = Env::new("")?;
    let ports: Vec<String> = (0..2).map(|i| e.lab.iface(i)).collect();
    let mut ngeth = String::new();
    for line in script(PFATT, &ports) {
        let line = if line.contains("ngeth0:") {
            line.replace("ngeth0:", &format!("{ngeth}:"))
        } else {
            line
        };
        e.ok(&line);
        if line.starts_with("mkpeer vlan0: eiface") {
            let r = e.ok("msg vlan0:vlan0 getifname");
            ngeth = r.json["reply"].as_str().unwrap().to_string();
        }
    }
    assert!(ngeth.starts_with("ngeth"), "{ngeth}");
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{ngeth}/disable_ipv6"), "1");
    let out = Command::new("ip")
        .args(["link", "set", &ngeth, "up"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    Some((e, ngeth))
}

fn l2(dst: [u8; 6], src: [u8; 6], tag: Option<u16>, ethertype: u16, seq: u8) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    if let Some(tci) = tag {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    while f.len() < 80 {
        f.push(seq ^ f.len() as u8);
    }
    f
}

/// Whether `want` arrives on `sock` within `ms` (other frames are skipped).
fn arrives(sock: &xdpgraph::sys::netdev::PacketSocket, want: &[u8], ms: u64) -> bool {
    let until = Instant::now() + Duration::from_millis(ms);
    let mut buf = vec![0u8; 4096];
    while Instant::now() < until {
        if let Ok(Some(n)) = sock.recv(&mut buf, 50) {
            if &buf[..n] == want {
                return true;
            }
        }
    }
    false
}

#[test]
fn pfatt_recipe_passes_eapol_between_ont_and_rg_and_vlan0_to_ngeth0() {
    use xdpgraph::sys::netdev::PacketSocket;
    let Some((mut e, ngeth)) = pfatt_env() else {
        return;
    };
    let ont = PacketSocket::open_in(&e.lab.ns(0), "eth0").unwrap();
    let rg = PacketSocket::open_in(&e.lab.ns(1), "eth0").unwrap();
    let wan = PacketSocket::open(&ngeth).unwrap();
    let link = String::from_utf8(
        Command::new("ip")
            .args(["-o", "link", "show", &ngeth])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        link.contains("02:00:00:00:a0:01"),
        "ngeth's MAC is the RG's: {link}"
    );
    let pae = [0x01, 0x80, 0xc2, 0, 0, 3];
    for seq in 0..3u8 {
        // 802.1X from the ONT reaches the RG, and the RG's answer the ONT, unchanged
        let x = l2(pae, ONT_MAC, None, 0x888e, seq);
        ont.send(&x).unwrap();
        assert!(
            arrives(&rg, &x, 2000),
            "EAPOL {seq} from the ONT did not reach the RG"
        );
        let y = l2(pae, RG_MAC, None, 0x888e, 100 + seq);
        rg.send(&y).unwrap();
        assert!(
            arrives(&ont, &y, 2000),
            "EAPOL {seq} from the RG did not reach the ONT"
        );
        // VID 0 from the ONT reaches ngeth0 untagged
        let t = l2(RG_MAC, ONT_MAC, Some(0), 0x0800, 50 + seq);
        ont.send(&t).unwrap();
        let mut u_exp = t.clone();
        u_exp.drain(12..16);
        assert!(
            arrives(&wan, &u_exp, 2000),
            "VID-0 frame {seq} did not reach {ngeth}"
        );
        // what the host sends on ngeth0 leaves the ONT port tagged VID 0
        let h = l2(ONT_MAC, RG_MAC, None, 0x0800, 150 + seq);
        wan.send(&h).unwrap();
        let mut h_tagged = h.clone();
        h_tagged.splice(12..12, [0x81, 0x00, 0x00, 0x00]);
        assert!(
            arrives(&ont, &h_tagged, 2000),
            "{ngeth}'s frame {seq} not at the ONT"
        );
    }
    // the ONT's untagged non-EAP frames go nowhere: not to the RG, not to ngeth0
    let n = l2(RG_MAC, ONT_MAC, None, 0x0800, 222);
    ont.send(&n).unwrap();
    assert!(
        !arrives(&rg, &n, 300),
        "an untagged IPv4 frame reached the RG"
    );
    assert!(!arrives(&wan, &n, 100), "an untagged frame reached {ngeth}");
    // the etf counters saw the EAPOL both ways
    let st = e.ok("msg waneapfilter: getstatus");
    assert!(st.ok, "{:?}", st.error);
    let stat = e.stat("laneapfilter:", "getstatus", None, "", "packets_in");
    assert!(stat >= 3, "laneapfilter packets_in {stat}");
    // shutting ngeth0 down removes the interface
    e.ok(&format!("shutdown {ngeth}:"));
    assert!(!std::path::Path::new(&format!("/sys/class/net/{ngeth}")).exists());
}

#[test]
fn pfatt_recipe_runs_in_the_daemon_with_f_and_its_end_removes_ngeth0() {
    use xdpgraph::sys::netdev::PacketSocket;
    let Some((lab, _serial)) = lab() else { return };
    assert!(
        !std::path::Path::new("/sys/class/net/ngeth0").exists(),
        "ngeth0 exists already: the recipe's `msg ngeth0:` needs the first eiface to be ngeth0"
    );
    let mut d = Daemon::start_until(&lab, PFATT, &["show", "laneapfilter:"]);
    // the script's last line (promiscuity) done
    let t = Instant::now();
    while !d
        .ctl(&["msg", &format!("{}:", lab.iface(0)), "getpromisc"])
        .1
        .contains("Args:\t1")
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the script did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::write("/proc/sys/net/ipv6/conf/ngeth0/disable_ipv6", "1");
    assert!(Command::new("ip")
        .args(["link", "set", "ngeth0", "up"])
        .status()
        .unwrap()
        .success());
    let ont = PacketSocket::open_in(&lab.ns(0), "eth0").unwrap();
    let rg = PacketSocket::open_in(&lab.ns(1), "eth0").unwrap();
    let wan = PacketSocket::open("ngeth0").unwrap();
    let x = l2([0x01, 0x80, 0xc2, 0, 0, 3], ONT_MAC, None, 0x888e, 1);
    ont.send(&x).unwrap();
    assert!(
        arrives(&rg, &x, 2000),
        "EAPOL from the ONT did not reach the RG"
    );
    let t = l2(RG_MAC, ONT_MAC, Some(0), 0x0800, 2);
    ont.send(&t).unwrap();
    let mut u = t.clone();
    u.drain(12..16);
    assert!(arrives(&wan, &u, 2000), "VID-0 frame did not reach ngeth0");
    let (ok, text) = d.ctl(&["msg", "ngeth0:", "getifname"]);
    assert!(ok && text.contains("\"ngeth0\""), "{text}");
    // the daemon's end removes ngeth0
    let _ = Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status();
    let _ = d.child.wait();
    assert!(!std::path::Path::new("/sys/class/net/ngeth0").exists());
}
