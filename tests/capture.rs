//! `xdpgraph ctl capture` end to end: the daemon on in-memory ports (no NIC, no root), the
//! client as a user runs it, and the files read back with the project's pcapng reader and with
//! tcpdump (installed by scripts/setup.sh; without it the tcpdump checks are SKIPPED, and fail
//! under CI).

use serde_json::Value as J;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use xdpgraph::ctl::pcapng;
use xdpgraph::graph::capture::Dir;
use xdpgraph::testkit::{eth, skip};

const BIN: &str = env!("CARGO_BIN_EXE_xdpgraph");
static N: AtomicU32 = AtomicU32::new(0);

struct Daemon {
    child: Child,
    sock: String,
    dir: std::path::PathBuf,
}

impl Daemon {
    /// A daemon with in-memory ports m0, m1, m2; m0 generates `pps` frames/s, alternately
    /// 02:..:01 → 02:..:02 and back (64-byte IPv4 frames).
    fn start(pps: u64) -> Daemon {
        let n = N.fetch_add(1, Ordering::SeqCst);
        let sock = format!("/tmp/xdpgraph-cap-{}-{n}.sock", std::process::id());
        let dir = std::env::temp_dir().join(format!("xdpgraph-cap-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = pps.to_string();
        let mut args = vec!["run", "--cores", "0", "--frames", "4096", "--socket", &sock];
        for m in ["m0", "m1", "m2"] {
            args.extend(["--mem-port", m]);
        }
        args.extend(["--mem-gen", &p]);
        let child = Command::new(BIN)
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let d = Daemon { child, sock, dir };
        let t = Instant::now();
        while UnixStream::connect(&d.sock).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("ctl").arg("--socket").arg(&self.sock).args(args);
        c
    }

    fn ctl(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, line: &str) -> String {
        let o = self.ctl(&line.split_whitespace().collect::<Vec<_>>());
        assert!(o.status.success(), "{line}: {}", text(&o.stderr));
        text(&o.stdout)
    }

    fn json_status(&self) -> J {
        let o = self.ctl(&["--json", "status"]);
        assert!(o.status.success());
        serde_json::from_str(text(&o.stdout).trim()).unwrap()
    }

    /// m0 — br0:link0, m1 — br0:link1, m2 — br0:link2: every generated frame enters br0
    /// through link0 (the bridge learns both hosts there and sends nothing back).
    fn bridge(&self) {
        self.ok("mkpeer m0: bridge lower link0");
        self.ok("name m0:lower br0");
        self.ok("connect m1: br0: lower link1");
        self.ok("connect m2: br0: lower link2");
    }

    /// Runs a capture to its end (it must end by itself: give -c).
    fn capture(&self, args: &str) -> Output {
        let mut a = vec!["capture"];
        a.extend(args.split_whitespace());
        let o = self.ctl(&a);
        assert!(o.status.success(), "capture {args}: {}", text(&o.stderr));
        o
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn signal(c: &Child, sig: &str) {
    let s = Command::new("kill")
        .arg(sig)
        .arg(c.id().to_string())
        .status()
        .unwrap();
    assert!(s.success());
}

/// Waits for a child to end, at most `secs` seconds.
fn wait_for(mut c: Child, secs: u64) -> Output {
    let t = Instant::now();
    while c.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(secs) {
            let _ = c.kill();
            panic!("the capture did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    c.wait_with_output().unwrap()
}

/// Reads a pcapng file with the project's reader and checks what every capture file must
/// hold: one section, one Ethernet interface with nanosecond stamps, frames of that interface
/// with non-decreasing timestamps in `[from, to]` and a direction.
fn read_pcapng(bytes: &[u8], name: &str, snaplen: u32, from: u64, to: u64) -> pcapng::Capture {
    let c = pcapng::read(bytes).unwrap();
    assert_eq!(c.sections, 1);
    assert_eq!(c.interfaces.len(), 1);
    let i = &c.interfaces[0];
    assert_eq!((i.linktype, i.tsresol, i.snaplen), (1, 9, snaplen));
    assert_eq!(i.name.as_deref(), Some(name));
    let mut last = from;
    for p in &c.packets {
        assert_eq!(p.iface, 0);
        assert!(
            p.ts >= last && p.ts <= to,
            "timestamp {} not in [{last}, {to}]",
            p.ts
        );
        last = p.ts;
        assert!(p.dir().is_some(), "epb_flags with a direction");
        assert!(p.data.len() <= p.origlen as usize && p.data.len() <= snaplen as usize);
    }
    c
}

/// The lines tcpdump prints for a file (`-` reads `input`), or None when tcpdump is missing
/// (SKIPPED here; a failure under CI).
fn tcpdump(file: &str, input: Option<Vec<u8>>) -> Option<Vec<String>> {
    let mut c = Command::new("tcpdump");
    c.args(["-r", file, "-nn", "-e"]);
    c.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = match c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(ch) => ch,
        Err(e) => {
            skip(&format!(
                "the tcpdump checks need tcpdump (scripts/setup.sh installs it): {e}"
            ));
            return None;
        }
    };
    if let Some(b) = input {
        child.stdin.take().unwrap().write_all(&b).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "tcpdump -r {file}: {}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("link-type EN10MB (Ethernet)"),
        "{}",
        text(&o.stderr)
    );
    Some(text(&o.stdout).lines().map(str::to_string).collect())
}

/// The two frames m0 generates.
fn generated() -> [Vec<u8>; 2] {
    [eth(2, 1), eth(1, 2)]
}

#[test]
fn a_file_reads_back_with_our_reader_and_with_tcpdump() {
    let d = Daemon::start(2000);
    d.bridge();
    let f = d.file("link0.pcapng");
    let from = now_ns();
    let o = d.capture(&format!("br0: link0 -c 50 -w {f}"));
    let to = now_ns();
    let err = text(&o.stderr);
    assert!(
        err.contains("capturing on br0:link0 (inout), snap length 262144"),
        "{err}"
    );
    assert!(err.contains("50 frames captured on br0:link0"), "{err}");
    assert!(!err.contains("dropped"), "{err}");
    let bytes = std::fs::read(&f).unwrap();
    let c = read_pcapng(&bytes, "br0:link0", 262_144, from, to);
    assert_eq!(c.packets.len(), 50);
    let gen = generated();
    for p in &c.packets {
        // every frame enters the bridge through link0, whole
        assert_eq!(p.dir(), Some(Dir::In));
        assert_eq!(p.origlen, 64);
        assert!(gen.contains(&p.data), "{:?}", p.data);
    }
    if let Some(lines) = tcpdump(&f, None) {
        assert_eq!(lines.len(), 50, "{lines:?}");
        assert!(
            lines[0].contains("ethertype IPv4 (0x0800), length 64"),
            "{}",
            lines[0]
        );
    }
    // Wireshark's tshark too, where it is installed (not by scripts/setup.sh: it is large)
    if let Ok(o) = Command::new("tshark")
        .args(["-r", &f, "-T", "fields", "-e", "frame.interface_name"])
        .args(["-e", "frame.packet_flags_direction", "-e", "frame.len"])
        .output()
    {
        assert!(o.status.success(), "tshark: {}", text(&o.stderr));
        let out = text(&o.stdout);
        assert_eq!(out.lines().count(), 50, "{out}");
        assert!(
            out.lines().all(|l| l == "br0:link0\t0x00000001\t64"),
            "{out}"
        );
    }
}

#[test]
fn pcapng_on_standard_output_pipes_into_tcpdump() {
    let d = Daemon::start(2000);
    d.bridge();
    let Ok(mut td) = Command::new("tcpdump")
        .args(["-r", "-", "-nn", "-e"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        // still check the stream with our reader
        let o = d.capture("br0: link0 -c 20 -w -");
        let c = read_pcapng(&o.stdout, "br0:link0", 262_144, 0, u64::MAX);
        assert_eq!(c.packets.len(), 20);
        return skip("needs tcpdump (scripts/setup.sh installs it)");
    };
    // xdpgraph ctl capture br0: link0 -c 20 -w - | tcpdump -r - -nn -e
    let cap = d
        .cmd(&["capture", "br0:", "link0", "-c", "20", "-w", "-"])
        .stdout(td.stdin.take().unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = wait_for(cap, 20);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let t = td.wait_with_output().unwrap();
    assert!(t.status.success(), "{}", text(&t.stderr));
    let lines: Vec<_> = text(&t.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 20, "{lines:?}");
    assert!(
        lines.iter().all(|l| l.contains("02:00:00:00:00:0")),
        "{lines:?}"
    );
}

#[test]
fn several_captures_at_once_on_the_same_hook_and_its_peer() {
    let d = Daemon::start(2000);
    d.bridge();
    let files: Vec<String> = (0..3).map(|i| d.file(&format!("c{i}.pcapng"))).collect();
    let specs = [
        format!("br0: link0 -c 40 -w {}", files[0]),
        format!("br0: link0 -c 40 -d in -w {}", files[1]),
        format!("m0: lower -c 40 -w {}", files[2]),
    ];
    let kids: Vec<Child> = (specs.iter())
        .map(|s| {
            let mut a = vec!["capture"];
            a.extend(s.split_whitespace());
            d.cmd(&a)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let o = wait_for(k, 20);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let names = ["br0:link0", "br0:link0", "m0:lower"];
    let mut seen = Vec::new();
    for (f, name) in files.iter().zip(names) {
        let c = read_pcapng(&std::fs::read(f).unwrap(), name, 262_144, 0, u64::MAX);
        assert_eq!(c.packets.len(), 40, "{name}");
        seen.push(c);
    }
    // the same frames cross br0:link0 inbound and m0:lower outbound
    assert!(seen[0].packets.iter().all(|p| p.dir() == Some(Dir::In)));
    assert!(seen[1].packets.iter().all(|p| p.dir() == Some(Dir::In)));
    assert!(seen[2].packets.iter().all(|p| p.dir() == Some(Dir::Out)));
    let gen = generated();
    assert!(seen
        .iter()
        .flat_map(|c| &c.packets)
        .all(|p| gen.contains(&p.data)));
}

#[test]
fn a_capture_goes_on_while_other_hooks_are_edited() {
    let d = Daemon::start(2000);
    d.bridge();
    let f = d.file("live.pcapng");
    let cap = (d.cmd(&["capture", "br0:", "link0", "-c", "400", "-w", &f]))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // edits elsewhere (and on the same node) while frames are captured
    for i in 0..30 {
        d.ok(&format!("mkpeer . hub h{i} a"));
        d.ok(&format!("mkpeer br0: hub link{} a", 3 + i % 2));
        d.ok(&format!("rmhook br0: link{}", 3 + i % 2));
        d.ok(&format!("rmhook . h{i}"));
    }
    let o = wait_for(cap, 30);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let c = read_pcapng(
        &std::fs::read(&f).unwrap(),
        "br0:link0",
        262_144,
        0,
        u64::MAX,
    );
    assert_eq!(c.packets.len(), 400);
}

#[test]
fn a_capture_whose_hook_is_removed_ends_and_says_so() {
    let d = Daemon::start(1000);
    d.bridge();
    for json in [false, true] {
        if json {
            d.ok("connect m0: br0: lower link0");
        }
        let f = d.file("gone.pcapng");
        let mut a = vec!["capture", "br0:", "link0", "-w", &f];
        if json {
            a.insert(0, "--json");
        }
        let cap = d
            .cmd(&a)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        d.ok("rmhook m0: lower");
        let o = wait_for(cap, 10);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        let c = read_pcapng(
            &std::fs::read(&f).unwrap(),
            "br0:link0",
            262_144,
            0,
            u64::MAX,
        );
        assert!(!c.packets.is_empty());
        if json {
            let j: J = serde_json::from_str(text(&o.stdout).trim()).unwrap();
            assert_eq!(j["ended"], "hook removed");
            assert_eq!(j["frames"].as_u64(), Some(c.packets.len() as u64));
            assert_eq!(j["dropped"], 0);
        } else {
            let err = text(&o.stderr);
            assert!(
                err.contains("capture on br0:link0 ended: the hook was removed"),
                "{err}"
            );
            assert!(
                err.contains(&format!("{} frames captured", c.packets.len())),
                "{err}"
            );
        }
    }
}

#[test]
fn the_graph_is_left_as_it_was() {
    let d = Daemon::start(1000);
    d.bridge();
    d.ok("mkpeer br0: tee link3 left");
    let views = ["list -l", "show br0:", "show m0:", "types", "save"];
    let before: Vec<String> = views.iter().map(|v| d.ok(v)).collect();
    d.capture("br0: link0 -c 10");
    d.capture("m0: lower -c 10 -d out -s 20");
    // the client went away mid-capture
    let mut cap = (d.cmd(&["capture", "br0:", "link0", "-d", "out", "-s", "30"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        let st = d.ok("status");
        if st.contains("Captures: 1") {
            assert!(st.contains("br0:link0"), "{st}");
            assert!(st.contains("out   snaplen 30"), "{st}");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the capture is listed: {st}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(d.json_status()["captures"][0]["capture"], "br0:link0");
    cap.kill().unwrap();
    cap.wait().unwrap();
    // the daemon saw it go and stopped the capture
    let t = Instant::now();
    while d.ok("status").contains("Captures:") {
        assert!(t.elapsed() < Duration::from_secs(2), "the capture stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    let after: Vec<String> = views.iter().map(|v| d.ok(v)).collect();
    assert_eq!(before, after);
}

#[test]
fn snaplen_keeps_the_first_bytes_and_the_length() {
    let d = Daemon::start(2000);
    d.bridge();
    let f = d.file("snap.pcapng");
    d.capture(&format!("br0: link0 -c 10 -s 20 -w {f}"));
    let c = read_pcapng(&std::fs::read(&f).unwrap(), "br0:link0", 20, 0, u64::MAX);
    assert_eq!(c.packets.len(), 10);
    let heads: Vec<Vec<u8>> = generated().iter().map(|g| g[..20].to_vec()).collect();
    for p in &c.packets {
        assert_eq!((p.data.len(), p.origlen), (20, 64));
        assert!(heads.contains(&p.data));
    }
    if let Some(lines) = tcpdump(&f, None) {
        assert_eq!(lines.len(), 10);
        assert!(lines[0].contains("length 64"), "{}", lines[0]);
    }
    // the text form says so too
    let o = d.capture("br0: link0 -c 2 -s 20");
    let out = text(&o.stdout);
    assert!(
        out.lines().all(|l| l.ends_with("length 64 (captured 20)")),
        "{out}"
    );
}

/// m0:lower ↔ v1:downstream; v1:nomatch ↔ v2:nomatch; v2:downstream ↔ v1:v10 (VID 10): the
/// untagged frames m0 generates leave m0 by `lower`, and come back into m0 through `lower`
/// tagged with VID 10.
fn vlan_loop(d: &Daemon) {
    d.ok("mkpeer m0: vlan lower downstream");
    d.ok("name m0:lower v1");
    d.ok("mkpeer v1: vlan nomatch nomatch");
    d.ok("name v1:nomatch v2");
    d.ok("connect v2: v1: downstream v10");
    let o = d.ctl(&["msg", "v1:", "addfilter", "{ hook=\"v10\" vid=10 }"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn in_and_out_are_the_two_ways_through_the_hook() {
    let d = Daemon::start(2000);
    vlan_loop(&d);
    let gen = generated();
    let tagged: Vec<Vec<u8>> = (gen.iter())
        .map(|g| {
            let mut t = g.clone();
            t.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
            t
        })
        .collect();
    for (dir, want) in [
        ("out", Some(Dir::Out)),
        ("in", Some(Dir::In)),
        ("inout", None),
    ] {
        let f = d.file(&format!("{dir}.pcapng"));
        d.capture(&format!("m0: lower -c 30 -d {dir} -w {f}"));
        let c = read_pcapng(
            &std::fs::read(&f).unwrap(),
            "m0:lower",
            262_144,
            0,
            u64::MAX,
        );
        assert_eq!(c.packets.len(), 30);
        for p in &c.packets {
            if let Some(w) = want {
                assert_eq!(p.dir(), Some(w), "-d {dir}");
            }
            // out: as generated; in: with the VLAN node's tag
            match p.dir().unwrap() {
                Dir::Out => assert!(gen.contains(&p.data) && p.origlen == 64),
                Dir::In => assert!(tagged.contains(&p.data) && p.origlen == 68),
            }
        }
        if want.is_none() {
            let ins = c
                .packets
                .iter()
                .filter(|p| p.dir() == Some(Dir::In))
                .count();
            assert!(ins > 0 && ins < 30, "both ways: {ins} in of 30");
        }
        if let Some(lines) = tcpdump(&f, None) {
            assert_eq!(lines.len(), 30);
            let vlan = lines.iter().filter(|l| l.contains("vlan 10")).count();
            let ins = c
                .packets
                .iter()
                .filter(|p| p.dir() == Some(Dir::In))
                .count();
            assert_eq!(vlan, ins, "{lines:?}");
        }
    }
}

#[test]
fn bad_paths_hooks_and_options_fail_at_once() {
    let d = Daemon::start(0);
    d.bridge();
    let f = d.file("never.pcapng");
    for (args, want, errno) in [
        ("nosuch: link0", "no such node \"nosuch:\"", "ENOENT"),
        ("br0: nolink", "br0: has no hook \"nolink\"", "ENOENT"),
        (
            "br0:",
            "capture: 1 arguments where <path> <hook> go",
            "EINVAL",
        ),
        (
            "br0: link0 -d sideways",
            "-d takes in, out or inout",
            "EINVAL",
        ),
        ("br0: link0 -c 0", "-c takes a number from 1", "EINVAL"),
        (
            "br0: link0 -s lots",
            "-s takes a number from 0 to 262144",
            "EINVAL",
        ),
        ("br0: link0 -q", "unknown option -q", "EINVAL"),
        ("br0: link0 -w", "-w needs a file", "EINVAL"),
    ] {
        for json in [false, true] {
            let mut a = vec!["capture"];
            if json {
                a.insert(0, "--json");
            }
            a.extend(args.split_whitespace());
            if !args.ends_with("-w") {
                a.extend(["-w", &f]);
            }
            let t = Instant::now();
            let o = d.ctl(&a);
            assert!(t.elapsed() < Duration::from_secs(5), "{args}: at once");
            assert_eq!(o.status.code(), Some(1), "{args}");
            if json {
                let j: J = serde_json::from_str(text(&o.stdout).trim()).unwrap();
                assert!(j["error"].as_str().unwrap().contains(want), "{args}: {j}");
                assert_eq!(j["errno"], errno, "{args}");
            } else {
                let err = text(&o.stderr);
                assert!(err.contains(want), "{args}: {err:?} lacks {want:?}");
                assert!(o.stdout.is_empty(), "{args}");
            }
            assert!(
                !std::path::Path::new(&f).exists(),
                "{args}: no file for a refused capture"
            );
        }
    }
    // a file that cannot be written: the capture the daemon started is stopped again
    let o = d.ctl(&[
        "--json",
        "capture",
        "br0:",
        "link0",
        "-w",
        "/nonexistent-dir/f.pcapng",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let j: J = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent-dir/f.pcapng"),
        "{j}"
    );
    assert_eq!(j["errno"], "ENOENT");
    let t = Instant::now();
    while d.ok("status").contains("Captures:") {
        assert!(t.elapsed() < Duration::from_secs(2), "the capture stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    // in a script or the shell it says where it runs
    let mut c = d
        .cmd(&[])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(b"capture br0: link0\n")
        .unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        text(&o.stderr).contains("capture runs from the command line"),
        "{}",
        text(&o.stderr)
    );
    assert!(d
        .ok("help capture")
        .contains("Usage: capture <path> <hook>"));
}

#[test]
fn sigint_and_sigterm_end_a_capture_cleanly() {
    let d = Daemon::start(1000);
    d.bridge();
    for sig in ["-INT", "-TERM"] {
        let f = d.file("sig.pcapng");
        let cap = (d.cmd(&["capture", "br0:", "link0", "-w", &f]))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        signal(&cap, sig);
        let o = wait_for(cap, 10);
        assert!(o.status.success(), "{sig}: {}", text(&o.stderr));
        let c = read_pcapng(
            &std::fs::read(&f).unwrap(),
            "br0:link0",
            262_144,
            0,
            u64::MAX,
        );
        assert!(!c.packets.is_empty(), "{sig}");
        let err = text(&o.stderr);
        assert!(
            err.contains(&format!("{} frames captured", c.packets.len())),
            "{sig}: {err}"
        );
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_capture_with_success() {
    let d = Daemon::start(2000);
    d.bridge();
    let mut cap = (d.cmd(&["capture", "br0:", "link0"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = cap.stdout.take().unwrap();
    let mut first = [0u8; 100];
    out.read_exact(&mut first).unwrap();
    drop(out); // EPIPE on the client's next write
    let o = wait_for(cap, 10);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn copies_a_slow_reader_misses_are_counted_and_reported() {
    let d = Daemon::start(200_000);
    d.bridge();
    let mut cap = (d.cmd(&["--json", "capture", "br0:", "link0", "-w", "-"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // nobody reads: the pipe, the socket and then the rings fill up; `status` shows the
    // copies dropped while it runs
    let t = Instant::now();
    loop {
        let j = d.json_status();
        let dropped = j["captures"][0]["dropped"].as_u64();
        if dropped.is_some_and(|n| n > 0) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no copy dropped: {j}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&cap, "-INT");
    let mut out = Vec::new();
    cap.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let o = wait_for(cap, 20);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let j: J = serde_json::from_str(text(&o.stderr).trim()).unwrap();
    assert_eq!(j["ended"], "client", "{j}");
    assert!(j["dropped"].as_u64().unwrap() > 0, "{j}");
    let c = read_pcapng(&out, "br0:link0", 262_144, 0, u64::MAX);
    assert_eq!(Some(c.packets.len() as u64), j["frames"].as_u64());
    // the frames themselves were not dropped for it: only the bridge's own reason appears
    let errors = d.ok("errors");
    assert!(
        errors.contains("same_link") && !errors.contains("no_buffers"),
        "{errors}"
    );
}

// ----- the graph API, in process (deterministic: the worker runs on the test's thread) -----

mod in_process {
    use std::sync::Arc;
    use xdpgraph::buf::Pool;
    use xdpgraph::dataplane::mem::MemPort;
    use xdpgraph::graph::capture::{Batch, Capture, Dir, Dirs, Reader};
    use xdpgraph::graph::{GraphConfig, GraphError};
    use xdpgraph::testkit::{eth, Lab};

    /// Every record of a capture now: (direction, bytes, original length).
    fn records(r: &mut Reader) -> Vec<(Dir, Vec<u8>, u32)> {
        let mut b = Batch::default();
        r.drain(&mut b);
        b.iter()
            .map(|(r, d)| (r.dir, d.to_vec(), r.origlen))
            .collect()
    }

    /// p0 — tee t (left), t:right — p1, t:left2right — p2.
    fn tee() -> Lab {
        let mut l = Lab::new(3);
        l.graph.mkpeer("p0:", "tee", "lower", "left").unwrap();
        l.graph.name("p0:lower", "t").unwrap();
        l.graph.connect("p1:", "t:", "lower", "right").unwrap();
        l.graph.connect("p2:", "t:", "lower", "left2right").unwrap();
        l
    }

    #[test]
    fn directions_peers_and_exact_bytes() {
        let mut l = tee();
        let g = &mut l.graph;
        let both = g.capture_start("t:", "right", Dirs::BOTH, 100).unwrap();
        let out = g.capture_start("t:", "right", Dirs::OUT, 100).unwrap();
        let peer_in = g.capture_start("p1:", "lower", Dirs::IN, 20).unwrap();
        assert_eq!(both.point(), "t:right");
        assert_eq!(g.captures().len(), 3);
        let (a, b) = (eth(2, 1), eth(1, 2));
        l.send(0, std::slice::from_ref(&a)); // p0 → t:left → out t:right → p1
        l.send(1, std::slice::from_ref(&b)); // p1 → in t:right → out t:left → p0
        let mut rb = Reader::new(Arc::clone(&both));
        assert_eq!(
            records(&mut rb),
            [(Dir::Out, a.clone(), 64), (Dir::In, b.clone(), 64)]
        );
        assert_eq!(records(&mut Reader::new(out)), [(Dir::Out, a.clone(), 64)]);
        // the same frame, seen from the other end of the link: entering p1 through lower
        assert_eq!(
            records(&mut Reader::new(peer_in)),
            [(Dir::In, a[..20].to_vec(), 64)]
        );
        // the frames themselves went on as before
        assert_eq!(l.tx(1), [a]);
        assert_eq!(l.tx(0), [b]);
        assert_eq!(l.balance().0, l.balance().1);
        // stopped: nothing more is recorded
        assert!(l.graph.capture_stop(&both));
        l.send(0, &[eth(2, 1)]);
        assert!(records(&mut rb).is_empty());
    }

    #[test]
    fn unknown_nodes_hooks_and_snap_lengths_are_refused() {
        let mut l = tee();
        let g = &mut l.graph;
        let e = g
            .capture_start("nosuch:", "x", Dirs::BOTH, 100)
            .err()
            .unwrap();
        assert!(matches!(e, GraphError::NoNode(_)), "{e}");
        let e = g
            .capture_start("t:", "nohook", Dirs::BOTH, 100)
            .err()
            .unwrap();
        assert_eq!(
            (e.to_string().as_str(), e.errno().name()),
            ("t: has no hook \"nohook\"", "ENOENT")
        );
        let e = g.capture_start("t:", "left", Dirs::BOTH, 0).err().unwrap();
        assert_eq!(e.errno().name(), "EINVAL");
        assert!(g.captures().is_empty());
    }

    /// Removing the hook (rmhook of either end, shutdown, a tee's splice) ends its captures.
    #[test]
    fn removing_the_hook_ends_the_capture() {
        let mut l = tee();
        let c1 = (l.graph)
            .capture_start("t:", "left2right", Dirs::BOTH, 100)
            .unwrap();
        let c2 = l
            .graph
            .capture_start("p1:", "lower", Dirs::BOTH, 100)
            .unwrap();
        let c3 = l
            .graph
            .capture_start("p0:", "lower", Dirs::BOTH, 100)
            .unwrap();
        l.graph.rmhook("p2:", "lower").unwrap(); // the peer's end of t:left2right
        assert!(c1.is_ended() && !c2.is_ended() && !c3.is_ended());
        assert!(!l.graph.capture_stop(&c1), "already stopped when it ended");
        // shutting the tee down splices p0 to p1: the tee's hooks go, p0's and p1's stay
        l.graph.shutdown("t:").unwrap();
        assert!(!c2.is_ended() && !c3.is_ended());
        l.send(0, &[eth(2, 1)]);
        assert_eq!(records(&mut Reader::new(Arc::clone(&c3)))[0].0, Dir::Out);
        assert_eq!(records(&mut Reader::new(Arc::clone(&c2)))[0].0, Dir::In);
        l.graph.shutdown("p1:").unwrap(); // an interface node resets: its hooks go
        assert!(c2.is_ended() && c3.is_ended());
        assert!(l.graph.captures().is_empty());
    }

    /// Two workers on two threads feed the same capture; the reader merges them in time order.
    #[test]
    fn fed_from_every_worker() {
        let cfg = GraphConfig {
            workers: 2,
            ..GraphConfig::default()
        };
        let mut l = Lab::with_config(2, cfg, Pool::heap(4096, 2048, 256));
        l.graph.connect("p0:", "p1:", "lower", "lower").unwrap();
        let cap: Arc<Capture> = l
            .graph
            .capture_start("p0:", "lower", Dirs::OUT, 64)
            .unwrap();
        let (h, p0) = (l.graph.handle(), l.ports[0]);
        let other = std::thread::spawn(move || {
            let mut w = h.worker(1, Pool::heap(4096, 2048, 256)).unwrap();
            w.add_port(Box::new(MemPort::new(p0)));
            for _ in 0..100 {
                w.inject(p0, &[&eth(9, 1)]);
            }
        });
        for _ in 0..100 {
            l.send(0, &[eth(9, 2)]);
        }
        other.join().unwrap();
        let mut r = Reader::new(Arc::clone(&cap));
        let mut b = Batch::default();
        assert_eq!(r.drain(&mut b), 200);
        let ts: Vec<u64> = b.iter().map(|(r, _)| r.ts).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        let from1 = b.iter().filter(|(_, d)| d[11] == 1).count();
        assert_eq!(from1, 100);
        assert_eq!(cap.dropped(), 0);
    }
}
