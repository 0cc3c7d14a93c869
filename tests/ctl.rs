//! End-to-end tests of the daemon, driven only through `xdpgraph ctl`, on in-memory ports
//! (no NIC, no root needed except for the permission test).

use serde_json::Value as J;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_xdpgraph");
static N: AtomicU32 = AtomicU32::new(0);

struct Daemon {
    child: Child,
    sock: String,
}

impl Daemon {
    /// A daemon with in-memory ports m0, m1, m2; m0 generates `pps` frames/s.
    fn start(pps: u64, extra: &[&str]) -> Daemon {
        let sock = format!(
            "/tmp/xdpgraph-test-{}-{}.sock",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let mut args = vec![
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
            "--mem-port",
            "m2",
        ];
        let p = pps.to_string();
        if pps > 0 {
            args.extend(["--mem-gen", &p]);
        }
        args.extend(extra);
        let child = Command::new(BIN)
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let d = Daemon { child, sock };
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

    fn ctl(&self, args: &[&str]) -> (bool, String, String) {
        let o = Command::new(BIN)
            .arg("ctl")
            .arg("--socket")
            .arg(&self.sock)
            .args(args)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into(),
            String::from_utf8_lossy(&o.stderr).into(),
        )
    }

    fn ok(&self, line: &str) -> String {
        let (ok, out, err) = self.ctl(&line.split_whitespace().collect::<Vec<_>>());
        assert!(ok, "{line}: {err}");
        out
    }

    fn json(&self, line: &str) -> J {
        let mut a = vec!["--json"];
        a.extend(line.split_whitespace());
        let (ok, out, err) = self.ctl(&a);
        assert!(ok, "{line}: {out}{err}");
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{line}: not JSON ({e}): {out}"))
    }

    /// Fails with a message containing `want`, in text and in JSON.
    fn fails(&self, line: &str, want: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (ok, out, err) = self.ctl(&words);
        assert!(!ok, "{line} should fail");
        assert!(err.contains(want), "{line}: {err:?} lacks {want:?}");
        assert!(out.is_empty());
        let mut a = vec!["--json"];
        a.extend(words);
        let (ok, out, _) = self.ctl(&a);
        assert!(!ok);
        let j: J = serde_json::from_str(out.trim()).unwrap();
        assert!(j["error"].as_str().unwrap().contains(want), "{j}");
        assert!(j["errno"].as_str().unwrap().starts_with('E'));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        unsafe_free_kill(&mut self.child);
    }
}

fn unsafe_free_kill(c: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(c.id().to_string())
        .status();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn every_verb_in_text_and_json() {
    let d = Daemon::start(0, &[]);
    // mkpeer, name, connect
    assert_eq!(d.ok("mkpeer m0: bridge lower link0"), "");
    d.ok("name m0:lower br0");
    d.ok("connect m1: br0: lower link1");
    let j = d.json("mkpeer br0: tee link2 left");
    assert!(j["path"].as_str().unwrap().starts_with('['));
    d.ok("name br0:link2 t");
    // list / ls -l / -n
    let out = d.ok("list");
    assert!(out.starts_with("There are 6 total nodes:"), "{out}");
    assert!(out.contains("Name: br0             Type: bridge"), "{out}");
    let out = d.ok("ls -l -n");
    assert!(
        out.contains("There are 5 total named nodes:") && out.contains("Local hook"),
        "{out}"
    );
    let j = d.json("ls");
    assert_eq!(j["nodes"].as_array().unwrap().len(), 6);
    // show / show -n
    let out = d.ok("show br0:");
    assert!(
        out.contains("link1           m1              ether"),
        "{out}"
    );
    let j = d.json("show -n br0:");
    assert_eq!(j["numhooks"], 3);
    assert!(j.get("hooks").is_none());
    // status, stats, types, dot, interfaces, help
    assert!(d.ok("status br0:").contains("hook link0:"));
    assert!(d.json("stats").get("nodes").is_some());
    assert!(d.ok("types").contains("bridge            1"));
    assert_eq!(
        d.json("types")["types"].as_array().unwrap().len(),
        xdpgraph::nodes::BUILTIN.len()
    );
    let dot = d.ok("dot");
    assert!(
        dot.starts_with("graph xdpgraph {") && dot.contains("br0|bridge|"),
        "{dot}"
    );
    assert!(d.ok("dot -c").contains("link0\\nin 0 out 0"));
    assert_eq!(d.json("dot")["dot"], dot);
    d.fails("dot -x", "unknown option -x");
    assert!(d.ok("interfaces").contains("m0"));
    assert_eq!(d.json("interfaces")["interfaces"][0]["kind"], "mem");
    assert!(d.ok("help").contains("mkpeer"));
    assert!(d
        .ok("help msg")
        .contains("Usage: msg <path> <command> [argument]"));
    // msg for each node type, text and JSON
    let out = d.ok("msg br0: getconfig");
    assert_eq!(out, "Rec'd response \"getconfig\" from \"br0:\":\nArgs:\t{ debugLevel=1 loopTimeout=60 maxStaleness=900 minStableAge=1 }\n");
    d.ok("msg br0: setconfig { loopTimeout=30 }");
    assert_eq!(d.json("msg br0: getconfig")["reply"]["loopTimeout"], 30);
    let j = d.json("msg br0: gettable");
    assert_eq!(j["reply"]["numHosts"], 0);
    assert_eq!(d.json("msg br0: getstats 0")["reply"]["recvPackets"], 0);
    d.ok("msg br0: setpersistent");
    assert!(d.json("msg t: getstats")["reply"].get("left").is_some());
    d.ok("mkpeer m2: vlan lower downstream");
    d.ok("name m2:lower v");
    d.ok("mkpeer v: hole v10 in");
    d.ok(r#"msg v: addfilter { hook="v10" vid=10 pcp=3 }"#);
    assert_eq!(d.ok("msg v: gettable"), "Rec'd response \"gettable\" from \"v:\":\nArgs:\t{ n=1 filter=[ { hook=\"v10\" vid=10 pcp=3 } ] }\n");
    d.ok("msg v: setencapproto 0x88a8");
    assert_eq!(d.json("msg v: getencapproto")["reply"], 0x88a8);
    d.ok("mkpeer t: one2many right one");
    d.ok("name t:right o");
    d.ok("msg o: setconfig { xmitAlg=2 }");
    assert_eq!(d.json("msg o: getconfig")["reply"]["xmitAlg"], 2);
    d.ok("mkpeer o: hub many0 a");
    d.ok("msg o:many0 setpersistent");
    assert_eq!(d.json("msg m0: getifname")["reply"], "m0");
    assert_eq!(d.json("msg m0: getautosrc")["reply"], 1);
    d.ok("msg m0: setautosrc 0");
    assert_eq!(d.json("msg m0: nodeinfo")["reply"]["type"], "ether");
    // rmhook, shutdown, errors, save
    d.ok("rmhook v: v10");
    d.ok("shutdown t:");
    let show = d.json("show br0:");
    assert!(
        show["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["peer_type"] == "one2many"),
        "tee spliced: {show}"
    );
    assert!(d.ok("errors").contains("no drops"));
    let e = d.json("errors");
    assert!(e["reasons"].get("hop_limit").is_some());
    assert_eq!(
        (e["total"].as_u64(), e["drops"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
    assert_eq!(e["ports"].as_array().map(Vec::len), Some(0), "{e}");
    let save = d.ok("save");
    assert!(
        save.contains("mkpeer m0: bridge lower link0") && save.contains("msg br0: setpersistent"),
        "{save}"
    );
}

#[test]
fn scripts_stdin_and_save_round_trip() {
    let d = Daemon::start(0, &[]);
    let dir = std::env::temp_dir().join(format!("xg-ctl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("s.ngctl");
    std::fs::write(&script, "# a comment\nmkpeer m0: bridge lower link0\n\nname m0:lower br0\nconnect m1: br0: lower link1\nmsg br0: setconfig { maxStaleness=77 }\n").unwrap();
    let (ok, _, err) = d.ctl(&["-f", script.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(d.json("msg br0: getconfig")["reply"]["maxStaleness"], 77);
    // A failing line stops the script and names it.
    std::fs::write(&script, "name br0: ok1\nshow nosuch:\nname ok1: never\n").unwrap();
    let (ok, _, err) = d.ctl(&["-f", script.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("s.ngctl:2"), "{err}");
    assert!(!d.ctl(&["show", "never:"]).0);
    // Commands on stdin, `read` and `quit`.
    let read = dir.join("r.ngctl");
    std::fs::write(&read, "name ok1: br1\n").unwrap();
    let mut c = Command::new(BIN)
        .args(["ctl", "--socket", &d.sock])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    write!(
        c.stdin.take().unwrap(),
        "read {}\nlist\nquit\nshow br1:\n",
        read.display()
    )
    .unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Name: br1") && !out.contains("Local hook"),
        "quit stopped before show: {out}"
    );
    // `-f -` and `-f-` read the script from stdin (`ngctl -f- <<EOF`); a failing line is named
    for (args, script, want_ok) in [
        (
            &["-f", "-"][..],
            "name br1: br2\nmsg br2: setconfig { maxStaleness=78 }\n",
            true,
        ),
        (
            &["-f-"][..],
            "name br2: br3\nshow nosuch:\nname br3: never\n",
            false,
        ),
    ] {
        let mut c = Command::new(BIN)
            .args(["ctl", "--socket", &d.sock])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.success(), want_ok, "{args:?}: {err}");
        if !want_ok {
            assert!(err.contains("<stdin>:2"), "{err}");
        }
    }
    assert_eq!(d.json("msg br3: getconfig")["reply"]["maxStaleness"], 78);
    assert!(!d.ctl(&["show", "never:"]).0);
    assert!(d.ctl(&["name", "br3:", "br1"]).0);
    // save FILE, dot FILE; the saved script rebuilds the same topology on a fresh daemon.
    let saved = dir.join("saved.ngctl");
    assert!(d.ctl(&["save", saved.to_str().unwrap()]).0);
    assert!(d.ctl(&["dot", "-c", dir.join("g.dot").to_str().unwrap()]).0);
    let dot = std::fs::read_to_string(dir.join("g.dot")).unwrap();
    assert!(
        dot.starts_with("graph xdpgraph {") && dot.contains("\\nin "),
        "{dot}"
    );
    let d2 = Daemon::start(0, &[]);
    let (ok, _, err) = d2.ctl(&["-f", saved.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(d.ok("show br1:"), d2.ok("show br1:"));
    assert_eq!(d2.json("msg br1: getconfig")["reply"]["maxStaleness"], 78);
    let _ = std::fs::remove_dir_all(&dir);
}

fn raw(sock: &str, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn out_frames(d: &Daemon) -> u64 {
    let j = d.json("stats m1:");
    j["hooks"]["lower"]["inFrames"].as_u64().unwrap()
}

#[test]
fn bad_input_gets_clear_errors_while_traffic_flows() {
    let d = Daemon::start(20_000, &[]);
    d.ok("connect m0: m1: lower lower");
    d.ok("msg m0: setautosrc 0");
    std::thread::sleep(Duration::from_millis(200));
    let before = out_frames(&d);
    assert!(before > 0, "traffic flows m0 -> m1");
    d.fails("frobnicate", "unknown command \"frobnicate\"");
    d.fails("sh m0:", "ambiguous command \"sh\"");
    d.fails("show nosuch:", "no such node \"nosuch:\"");
    d.fails("show m0:nohook", "no hook \"nohook\"");
    d.fails(
        "mkpeer m2: nosuchtype lower x",
        "unknown node type \"nosuchtype\"",
    );
    d.fails("msg m0: frob", "unknown message \"frob\"");
    d.fails("show a:b:c", "bad path");
    d.fails("show [zz]:", "bad path");
    d.fails("msg m0: setautosrc { x", "bad argument");
    d.fails("msg m0: setautosrc 7", "out of range");
    d.fails(
        "name m2: thisnameiswaytoolongfornetgraphs",
        "longer than 31",
    );
    d.fails("name m2: a.b", "contains '.' or ':'");
    d.fails("mkpeer m2: bridge lower link01", "refuses hook \"link01\"");
    d.fails("name m2: m0", "already in use");
    d.fails("connect m0: m2: lower lower", "already connected");
    d.fails("rmhook", "wrong number of arguments");
    d.fails("attach nosuchif0", "nosuchif0");
    // Malformed, oversized and truncated requests on the socket itself.
    let r = raw(&d.sock, b"this is not json\n");
    assert!(r.contains("malformed request"), "{r}");
    let r = raw(&d.sock, b"{\"nope\": 1}\n");
    assert!(r.contains("malformed request"), "{r}");
    let mut big = vec![b'x'; 100_000];
    big.push(b'\n');
    let r = raw(&d.sock, &big);
    assert!(r.contains("larger than 65536"), "{r}");
    let r = raw(&d.sock, b"{\"line\": \"list\"");
    assert!(
        r.is_empty(),
        "a client that goes away mid-request gets nothing: {r}"
    );
    // Many clients at once.
    let hs: Vec<_> = (0..24)
        .map(|i| {
            let sock = d.sock.clone();
            std::thread::spawn(move || {
                let o = Command::new(BIN)
                    .args([
                        "ctl",
                        "--socket",
                        &sock,
                        "--json",
                        "msg",
                        "m0:",
                        "getifname",
                    ])
                    .output()
                    .unwrap();
                assert!(o.status.success(), "client {i}");
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = out_frames(&d);
    assert!(
        after > before,
        "the frame count keeps rising: {before} -> {after}"
    );
    let e = d.json("errors");
    assert!(
        e["totals"].as_object().unwrap().is_empty(),
        "nothing lost: {e}"
    );
}

#[test]
fn socket_is_root_only() {
    let d = Daemon::start(0, &[]);
    let mode = std::fs::metadata(&d.sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    if !xdpgraph::testkit::require_root() {
        return;
    }
    // A non-root user is refused (by the file mode, and by the peer-uid check behind it).
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "ctl",
            "--socket",
            &d.sock,
            "list",
        ])
        .output();
    let o = match o {
        Ok(o) => o,
        Err(e) => return xdpgraph::testkit::skip(&format!("needs setpriv(1) (util-linux): {e}")),
    };
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("permission denied"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn metrics_on_loopback() {
    let port = 19000 + (std::process::id() % 1000) as u16;
    let addr = format!("127.0.0.1:{port}");
    let d = Daemon::start(0, &["--metrics", &addr]);
    d.ok("connect m0: m1: lower lower");
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.0 200 OK"), "{body}");
    assert!(body.contains("xdpgraph_frames_total{dir=\"rx\"}"));
    assert!(body.contains("xdpgraph_hook_frames_total{node=\"m0:\",hook=\"lower\",dir=\"in\"}"));
    // the ports' own counters, read for this scrape (drops: none on memory ports)
    assert!(
        body.contains("# TYPE xdpgraph_port_drops_total counter"),
        "{body}"
    );
    assert!(
        body.contains("xdpgraph_port_driver{port=\"m0\",queue=\"all\",counter=\"rx_packets\"}"),
        "{body}"
    );
    let e = Command::new(BIN)
        .args([
            "run",
            "--cores",
            "0",
            "--socket",
            "/tmp/xg-never.sock",
            "--metrics",
            "0.0.0.0:9",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&e.stderr).contains("only loopback"));
}

/// The messages exercised so far, by (type, message).
type Done = Vec<(String, String)>;

fn did(done: &mut Done, ty: &str, msgs: &[&str]) {
    for m in msgs {
        done.push((ty.to_string(), m.to_string()));
    }
}

/// m0 -> tee t -> bridge br0 -> { pipe pp (20 ms delay) -> m1, one2many o -> hole }, tee
/// copies -> hole h; m2 -> vlan v -> hub hb -> echo ec; the filters and policers hang off `.`
/// (no traffic): etf e, macfilter mf, tcpmss mss, vlan_rotate vr, bpf bp, car c. m0 sends
/// exactly 1000 frames (alternately 02:..:01 -> 02:..:02 and back, 64 bytes), all of which
/// have arrived when this returns; m0 is connected last (its generator starts then), so the
/// pipe is configured before the one frame the bridge floods to it.
fn message_topology(dir: &std::path::Path) -> Daemon {
    let script = dir.join("topo.ngctl");
    std::fs::write(
        &script,
        "mkpeer m1: pipe lower lower\nname m1:lower pp\nmsg pp: setcfg { delay=20000 }\n\
         mkpeer pp: bridge upper link1\nname pp:upper br0\nmkpeer br0: one2many link2 one\n\
         name br0:link2 o\nmkpeer o: hole many0 x\nmkpeer br0: tee link0 right\n\
         name br0:link0 t\nmkpeer t: hole left2right in\nname t:left2right h\n\
         mkpeer m2: vlan lower downstream\nname m2:lower v\n\
         mkpeer v: hub v10 a\nname v:v10 hb\nmkpeer hb: echo b e\nname hb:b ec\n\
         mkpeer . etf ce downstream\nname .:ce e\nmkpeer e: hole ip x\n\
         mkpeer . macfilter cm ether\nname .:cm mf\nmkpeer mf: hole known y\n\
         mkpeer . tcpmss ct in\nname .:ct mss\nmkpeer mss: hole out z\n\
         mkpeer . vlan_rotate cv original\nname .:cv vr\n\
         mkpeer . bpf cb in\nname .:cb bp\nmkpeer bp: hole m w\n\
         mkpeer . car cc upper\nname .:cc c\n\
         connect t: m0: left lower\n",
    )
    .unwrap();
    let d = Daemon::start(
        20_000,
        &["--mem-count", "1000", "-f", script.to_str().unwrap()],
    );
    // the generator starts when m0's lower is connected
    let t = Instant::now();
    while d.json("msg h: getstats \"in\"")["reply"]["frames"] != 1000 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "frames did not arrive"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    d
}

const TYPES_AND_PATHS: [(&str, &str); 16] = [
    ("bridge", "br0:"),
    ("tee", "t:"),
    ("hole", "h:"),
    ("one2many", "o:"),
    ("vlan", "v:"),
    ("hub", "hb:"),
    ("echo", "ec:"),
    ("ether", "m0:"),
    ("socket", "[1]:"),
    ("etf", "e:"),
    ("macfilter", "mf:"),
    ("tcpmss", "mss:"),
    ("vlan_rotate", "vr:"),
    ("bpf", "bp:"),
    ("car", "c:"),
    ("pipe", "pp:"),
];

fn generic_messages(d: &Daemon, done: &mut Done) {
    for (ty, _) in TYPES_AND_PATHS {
        did(
            done,
            ty,
            &["nodeinfo", "listhooks", "listnodes", "listtypes"],
        );
    }
    let j = d.json("msg br0: nodeinfo");
    assert_eq!(j["reply"]["type"], "bridge");
    assert_eq!(j["reply"]["hooks"], 3);
    let j = d.json("msg t: listhooks");
    assert_eq!(j["reply"]["hooklist"].as_array().unwrap().len(), 3);
    assert!(d
        .ok("msg t: listhooks")
        .contains("ourhook=\"right\" peerhook=\"link0\""));
    let j = d.json("msg ec: listnodes");
    assert!(j["reply"]["numnames"].as_u64().unwrap() >= 8);
    let j = d.json("msg [1]: listtypes");
    assert_eq!(j["reply"]["numtypes"], xdpgraph::nodes::BUILTIN.len());
    assert!(d
        .ok("msg m0: listtypes")
        .contains("typename=\"bridge\" numnodes=1"));
}

fn tee_messages(d: &Daemon, done: &mut Done) {
    // right/left/left2right carried all 1000
    did(done, "tee", &["getstats", "getclrstats", "clrstats"]);
    let j = d.json("msg t: getstats")["reply"].clone();
    assert_eq!(j["left"]["inFrames"], 1000);
    assert_eq!(j["right"]["outFrames"], 1000);
    assert_eq!(j["left2right"]["outFrames"], 1000);
    assert_eq!(j["left2right"]["outOctets"], 64000);
    assert!(d
        .ok("msg t: getstats")
        .contains("left={ inOctets=64000 inFrames=1000 }"));
    assert_eq!(
        d.json("msg t: getclrstats")["reply"]["left"]["inFrames"],
        1000
    );
    assert_eq!(d.json("msg t: getstats")["reply"]["left"]["inFrames"], 0);
    assert_eq!(d.ok("msg t: clrstats"), "");
}

fn hole_messages(d: &Daemon, done: &mut Done) {
    did(done, "hole", &["getstats", "getclrstats", "clrstats"]);
    assert_eq!(
        d.ok("msg h: getstats \"in\""),
        "Rec'd response \"getstats\" from \"h:\":\nArgs:\t{ frames=1000 octets=64000 }\n"
    );
    assert_eq!(
        d.json("msg h: getclrstats \"in\"")["reply"]["octets"],
        64000
    );
    assert_eq!(d.json("msg h: getstats \"in\"")["reply"]["frames"], 0);
    assert_eq!(d.ok("msg h: clrstats \"in\""), "");
    d.fails("msg h: getstats \"nope\"", "no hook \"nope\"");
}

/// The bridge learned both hosts on link0; one frame was flooded, 999 dropped `same_link`.
fn bridge_messages(d: &Daemon, done: &mut Done) {
    did(
        done,
        "bridge",
        &["gettable", "getstats", "getclrstats", "clrstats"],
    );
    let j = d.json("msg br0: gettable")["reply"].clone();
    assert_eq!(j["numHosts"], 2);
    assert!(j["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["hook"] == "link0"));
    let s0 = d.json("msg br0: getstats 0")["reply"].clone();
    assert_eq!(s0["recvPackets"], 1000);
    assert_eq!(s0["recvUnknown"], 1);
    assert_eq!(d.json("msg br0: getstats 1")["reply"]["xmitPackets"], 1);
    assert_eq!(d.json("msg br0: getclrstats 2")["reply"]["xmitPackets"], 1);
    assert_eq!(d.json("msg br0: getstats 2")["reply"]["xmitPackets"], 0);
    assert_eq!(d.ok("msg br0: clrstats 0"), "");
    assert_eq!(d.json("msg br0: getstats 0")["reply"]["recvPackets"], 0);
    d.fails("msg br0: getstats 7", "link7");
    let errs = d.json("errors");
    assert_eq!(errs["totals"]["same_link"], 999, "{errs}");
    let same_link =
        |j: &J| j["type"] == "bridge" && j["reason"] == "same_link" && j["count"] == 999;
    assert!(
        errs["by_type"].as_array().unwrap().iter().any(same_link),
        "{errs}"
    );
    let nodes = errs["nodes"].as_array().unwrap();
    assert!(
        nodes.iter().any(|j| j["node"] == "br0:" && same_link(j)),
        "{errs}"
    );
    // `drops` names each dropped frame once: the live node's row, nothing more for it
    let drops = errs["drops"].as_array().unwrap();
    assert!(
        drops.iter().any(|j| j["node"] == "br0:" && same_link(j)),
        "{errs}"
    );
    let sum: u64 = drops.iter().map(|j| j["count"].as_u64().unwrap()).sum();
    assert_eq!(errs["total"].as_u64(), Some(sum));
    let text = d.ok("errors");
    let row = ["br0:", "bridge", "same_link", "999"];
    assert!(
        text.lines().any(|l| l.split_whitespace().take(4).eq(row)),
        "{text}"
    );
    did(done, "bridge", &["movehost"]);
    d.ok("msg br0: movehost { addr=02:00:00:00:00:01 hook=\"link1\" }");
    let hosts = d.json("msg br0: gettable")["reply"]["hosts"].clone();
    assert!(
        hosts
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["addr"] == "02:00:00:00:00:01" && h["hook"] == "link1"),
        "{hosts}"
    );
    d.fails(
        "msg br0: movehost { addr=01:00:5e:00:00:01 hook=\"link1\" }",
        "multicast",
    );
    d.fails(
        "msg br0: movehost { addr=02:00:00:00:00:01 hook=\"link9\" }",
        "no hook \"link9\"",
    );
    did(done, "bridge", &["setconfig", "getconfig"]);
    d.ok("msg br0: setconfig { maxStaleness=120 minStableAge=2 }");
    let c = d.json("msg br0: getconfig")["reply"].clone();
    assert_eq!(
        (
            c["maxStaleness"].as_u64(),
            c["minStableAge"].as_u64(),
            c["loopTimeout"].as_u64()
        ),
        (Some(120), Some(2), Some(60))
    );
    d.fails("msg br0: setconfig { ageing=3 }", "ageing");
    did(done, "bridge", &["reset"]);
    d.ok("msg br0: reset");
    assert_eq!(d.json("msg br0: gettable")["reply"]["numHosts"], 0);
    did(done, "bridge", &["setpersistent"]);
    d.ok("msg br0: setpersistent");
}

/// The one2many got the one flooded frame on `one` and sent it out many0.
fn one2many_messages(d: &Daemon, done: &mut Done) {
    let msgs = [
        "getstats",
        "getclrstats",
        "clrstats",
        "getconfig",
        "setconfig",
    ];
    did(done, "one2many", &msgs);
    let j = d.json("msg o: getstats -1")["reply"].clone();
    assert_eq!(
        (j["recvPackets"].as_u64(), j["memoryFailures"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(d.json("msg o: getclrstats 0")["reply"]["xmitPackets"], 1);
    assert_eq!(d.json("msg o: getstats 0")["reply"]["xmitPackets"], 0);
    assert_eq!(d.ok("msg o: clrstats -1"), "");
    assert_eq!(d.json("msg o: getstats -1")["reply"]["recvPackets"], 0);
    assert_eq!(
        d.ok("msg o: getconfig"),
        "Rec'd response \"getconfig\" from \"o:\":\nArgs:\t{ xmitAlg=1 failAlg=1 enabledLinks=[ 1 ] }\n"
    );
    d.ok("msg o: setconfig { xmitAlg=failover enabledLinks=[ 1 1 ] }");
    let c = d.json("msg o: getconfig")["reply"].clone();
    assert_eq!(c["xmitAlg"], 3);
    assert_eq!(c["enabledLinks"][1], 1);
    d.fails("msg o: setconfig { xmitAlg=9 }", "xmitAlg");
    d.fails("msg o: getstats 64", "link");
}

fn vlan_messages(d: &Daemon, done: &mut Done) {
    for m in [
        "addfilter",
        "delfilter",
        "delvidflt",
        "gettable",
        "getdecap",
        "setdecap",
        "getencap",
        "setencap",
        "getencapproto",
        "setencapproto",
        "getstats",
        "clrstats",
    ] {
        did(done, "vlan", &[m]);
    }
    d.ok("msg v: addfilter { hook=\"v10\" vid=10 pcp=5 cfi=1 }");
    d.fails("msg v: addfilter { hook=\"v10\" vid=11 }", "already exists");
    d.fails(
        "msg v: addfilter { hook=\"downstream\" vid=12 }",
        "cannot carry a filter",
    );
    d.fails("msg v: addfilter { hook=\"v10\" vid=4096 }", "vid");
    let t = d.json("msg v: gettable")["reply"].clone();
    assert_eq!(t["n"], 1);
    assert_eq!(
        (
            t["filter"][0]["vid"].as_u64(),
            t["filter"][0]["pcp"].as_u64(),
            t["filter"][0]["cfi"].as_u64()
        ),
        (Some(10), Some(5), Some(1))
    );
    d.ok("msg v: delvidflt 10");
    assert_eq!(d.json("msg v: gettable")["reply"]["n"], 0);
    d.fails("msg v: delvidflt 10", "no such entry");
    d.ok("msg v: addfilter { hook=\"v10\" vlan=20 }");
    d.ok("msg v: delfilter \"v10\"");
    d.fails("msg v: delfilter \"v10\"", "no such entry");
    assert_eq!(d.json("msg v: getdecap")["reply"], 0);
    d.ok("msg v: setdecap 1");
    assert_eq!(d.json("msg v: getdecap")["reply"], 1);
    assert_eq!(d.json("msg v: getencap")["reply"], 1);
    d.ok("msg v: setencap 3");
    assert_eq!(d.json("msg v: getencap")["reply"], 3);
    d.fails("msg v: setencap 4", "out of range");
    assert!(d.ok("msg v: getencapproto").contains("0x8100"));
    d.ok("msg v: setencapproto 0x88a8");
    assert_eq!(d.json("msg v: getencapproto")["reply"], 0x88a8);
    d.fails("msg v: setencapproto 0x0800", "not a VLAN TPID");
    let s = d.json("msg v: getstats")["reply"]["hooks"].clone();
    assert_eq!(s.as_array().unwrap().len(), 2);
    assert!(s.as_array().unwrap().iter().all(|h| h["inFrames"] == 0));
    assert_eq!(d.ok("msg v: clrstats"), "");
}

fn hub_messages(d: &Daemon, done: &mut Done) {
    did(done, "hub", &["setpersistent"]);
    d.ok("msg hb: setpersistent");
    d.ok("rmhook hb: a");
    d.ok("rmhook hb: b");
    assert_eq!(
        d.json("show hb:")["numhooks"],
        0,
        "persistent hub outlives its hooks"
    );
    d.fails("show ec:", "no such node"); // the echo node went with its last hook
    d.ok("mkpeer hb: echo b e");
    d.ok("name hb:b ec");
}

fn ether_messages(d: &Daemon, done: &mut Done) {
    for m in [
        "getifname",
        "getifindex",
        "getenaddr",
        "setenaddr",
        "getpromisc",
        "setpromisc",
        "getautosrc",
        "setautosrc",
        "addmulti",
        "delmulti",
        "getstats",
    ] {
        did(done, "ether", &[m]);
    }
    assert_eq!(
        d.ok("msg m1: getifname"),
        "Rec'd response \"getifname\" from \"m1:\":\nArgs:\t\"m1\"\n"
    );
    assert_eq!(d.json("msg m1: getifindex")["reply"], 1001);
    assert_eq!(d.json("msg m1: getenaddr")["reply"], "02:00:00:00:01:01");
    d.ok("msg m1: setenaddr 02:aa:bb:cc:dd:ee");
    assert_eq!(d.json("msg m1: getenaddr")["reply"], "02:aa:bb:cc:dd:ee");
    d.fails("msg m1: setenaddr 01:00:5e:00:00:01", "multicast");
    assert_eq!(d.json("msg m1: getpromisc")["reply"], 0);
    d.ok("msg m1: setpromisc 1");
    assert_eq!(d.json("msg m1: getpromisc")["reply"], 1);
    assert_eq!(d.json("msg m1: getautosrc")["reply"], 1);
    d.ok("msg m1: setautosrc 0");
    assert_eq!(d.json("msg m1: getautosrc")["reply"], 0);
    d.ok("msg m1: addmulti 01:00:5e:00:00:fb");
    d.ok("msg m1: delmulti 01:00:5e:00:00:fb");
    d.fails("msg m1: delmulti 01:00:5e:00:00:fb", "not a member");
    d.fails(
        "msg m1: addmulti 02:00:00:00:00:01",
        "not a multicast address",
    );
    let s = d.json("msg m0: getstats")["reply"].clone();
    assert_eq!(
        (s["up"].as_u64(), s["rx_packets"].as_u64()),
        (Some(1), Some(1000))
    );
    assert_eq!(d.json("msg m1: getstats")["reply"]["tx_packets"], 1);
    let save = d.ok("save");
    assert!(
        save.contains("msg m1: setpromisc 1") && save.contains("msg m1: setautosrc 0"),
        "{save}"
    );
}

/// etf, tcpmss and vlan_rotate: configured, read back, counters read and cleared, refusals.
fn filter_messages(d: &Daemon, done: &mut Done) {
    did(done, "etf", &["getstatus", "setflag", "setfilter"]);
    d.ok("msg e: setfilter { matchhook=\"ip\" ethertype=0x800 }");
    d.fails(
        "msg e: setfilter { matchhook=\"ip\" ethertype=0x800 }",
        "already exists",
    );
    d.fails(
        "msg e: setfilter { matchhook=\"nope\" ethertype=0x806 }",
        "no hook \"nope\"",
    );
    assert_eq!(d.ok("msg e: setflag 1"), "");
    let j = d.json("msg e: getstatus")["reply"].clone();
    assert_eq!(j["packets_in"].as_u64().unwrap_or(0), 0, "{j}");
    did(
        done,
        "tcpmss",
        &["config", "getstats", "clrstats", "getclrstats"],
    );
    d.ok("msg mss: config { inHook=\"in\" outHook=\"out\" maxMSS=1452 }");
    assert_eq!(d.json("msg mss: getstats \"in\"")["reply"]["maxMSS"], 1452);
    assert_eq!(
        d.json("msg mss: getclrstats \"in\"")["reply"]["maxMSS"],
        1452
    );
    assert_eq!(d.ok("msg mss: clrstats \"in\""), "");
    d.fails("msg mss: getstats \"nope\"", "no hook \"nope\"");
    for m in ["setconf", "getconf", "getstat", "clrstat", "getclrstat"] {
        did(done, "vlan_rotate", &[m]);
    }
    d.ok("msg vr: setconf { rot=1 min=2 max=3 }");
    assert_eq!(
        d.ok("msg vr: getconf"),
        "Rec'd response \"getconf\" from \"vr:\":\nArgs:\t{ rot=1 min=2 max=3 }\n"
    );
    d.fails("msg vr: setconf { rot=20 min=2 max=3 }", "rot");
    assert!(d.ok("msg vr: getstat").contains("histogram"));
    assert!(d.ok("msg vr: getclrstat").contains("histogram"));
    assert_eq!(d.ok("msg vr: clrstat"), "");
}

fn macfilter_messages(d: &Daemon, done: &mut Done) {
    let msgs = [
        "reset",
        "direct",
        "directi",
        "getmacs",
        "getclrmacs",
        "clrmacs",
        "gethooks",
    ];
    did(done, "macfilter", &msgs);
    d.ok("msg mf: direct { hookname=\"known\" ether=02:00:00:00:00:01 }");
    d.ok("msg mf: directi { hookid=1 ether=02:00:00:00:00:02 }");
    assert_eq!(d.json("msg mf: getmacs")["reply"]["n"], 2);
    let h = d.json("msg mf: gethooks")["reply"].clone();
    assert!(
        (h["hooks"].as_array().unwrap().iter())
            .any(|x| x["hookname"] == "known" && x["maccnt"] == 2),
        "{h}"
    );
    assert_eq!(d.json("msg mf: getclrmacs")["reply"]["n"], 2);
    assert_eq!(d.ok("msg mf: clrmacs"), "");
    assert_eq!(d.ok("msg mf: reset"), "");
    assert_eq!(
        d.json("msg mf: getmacs")["reply"]["n"]
            .as_u64()
            .unwrap_or(0),
        0
    );
    d.fails("msg mf: direct { bogus=1 }", "bogus");
}

fn bpf_messages(d: &Daemon, done: &mut Done) {
    let msgs = [
        "setprogram",
        "getprogram",
        "getstats",
        "clrstats",
        "getclrstats",
    ];
    did(done, "bpf", &msgs);
    d.ok(
        "msg bp: setprogram { thisHook=\"in\" ifMatch=\"m\" bpf_prog_len=1 \
         bpf_prog=[ { code=6 k=65535 } ] }",
    );
    let p = d.json("msg bp: getprogram \"in\"")["reply"].clone();
    assert_eq!(
        (p["ifMatch"].as_str(), p["bpf_prog_len"].as_u64()),
        (Some("m"), Some(1))
    );
    d.fails(
        "msg bp: setprogram { thisHook=\"in\" bpf_prog_len=2 bpf_prog=[ { code=6 k=1 } ] }",
        "bpf_prog_len",
    );
    d.fails("msg bp: getprogram \"nope\"", "no hook \"nope\"");
    let s = d.json("msg bp: getstats \"in\"")["reply"].clone();
    assert_eq!(s["recvFrames"].as_u64().unwrap_or(0), 0, "{s}");
    d.json("msg bp: getclrstats \"in\"");
    assert_eq!(d.ok("msg bp: clrstats \"in\""), "");
}

fn car_messages(d: &Daemon, done: &mut Done) {
    let msgs = ["getstats", "clrstats", "getclrstats", "getconf", "setconf"];
    did(done, "car", &msgs);
    assert_eq!(
        d.json("msg c: getconf")["reply"]["downstream"]["cir"],
        10240
    );
    d.ok(
        "msg c: setconf { upstream={ cbs=100 ebs=100 cir=8000 greenAction=1 mode=3 } \
         downstream={ cbs=1000 ebs=1000 cir=64000 greenAction=1 yellowAction=1 redAction=2 } }",
    );
    let c = d.json("msg c: getconf")["reply"].clone();
    assert_eq!(
        (
            c["upstream"]["mode"].as_u64(),
            c["downstream"]["cir"].as_u64()
        ),
        (Some(3), Some(64000))
    );
    d.fails(
        "msg c: setconf { upstream={ cbs=100 cir=0 mode=3 } downstream={ cbs=100 } }",
        "needs a cir",
    );
    let s = d.json("msg c: getstats")["reply"].clone();
    assert_eq!(s["upstream"]["passed"].as_u64().unwrap_or(0), 0, "{s}");
    d.json("msg c: getclrstats");
    assert_eq!(d.ok("msg c: clrstats"), "");
}

/// The bridge flooded one frame to the pipe (its only frame): held for the 20 ms delay and
/// sent on by the daemon's worker with no traffic after it.
fn pipe_messages(d: &Daemon, done: &mut Done) {
    let msgs = [
        "getstats",
        "clrstats",
        "getclrstats",
        "getrun",
        "getcfg",
        "setcfg",
    ];
    did(done, "pipe", &msgs);
    let t = Instant::now();
    while d.json("msg pp: getstats")["reply"]["downstream"]["FwdFrames"] != 1 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the held frame never left"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(d.json("msg m1: getstats")["reply"]["tx_packets"], 1);
    let r = d.json("msg pp: getrun")["reply"].clone();
    assert_eq!(
        r["downstream"]["delayedFrames"].as_u64().unwrap_or(0),
        0,
        "{r}"
    );
    assert_eq!(
        d.ok("msg pp: getcfg"),
        "Rec'd response \"getcfg\" from \"pp:\":\nArgs:\t{ delay=20000 downstream={ \
         queuelen=50 fifo=1 droptail=1 } upstream={ queuelen=50 fifo=1 droptail=1 } }\n"
    );
    d.ok("msg pp: setcfg { bandwidth=2000000 downstream={ BER=-1 queuelen=100 } }");
    let c = d.json("msg pp: getcfg")["reply"].clone();
    assert_eq!(
        (c["bandwidth"].as_u64(), c["overhead"].as_u64()),
        (Some(2_000_000), Some(10))
    );
    assert_eq!(c["downstream"]["queuelen"], 100);
    d.fails("msg pp: setcfg { downstream={ wfq=1 } }", "wfq");
    assert_eq!(
        d.json("msg pp: getclrstats")["reply"]["downstream"]["FwdOctets"],
        64
    );
    assert_eq!(
        d.json("msg pp: getstats")["reply"]["downstream"]["FwdFrames"]
            .as_u64()
            .unwrap_or(0),
        0
    );
    assert_eq!(d.ok("msg pp: clrstats"), "");
}

/// Every message each type lists (the error for an unknown message names them all: the
/// type's own, from the registry, and the generic ones) was exercised.
fn every_listed_message_was_exercised(d: &Daemon, done: &Done) {
    let types = xdpgraph::nodes::builtin();
    for (ty, path) in TYPES_AND_PATHS {
        let (ok, _, err) = d.ctl(&["msg", path, "no-such-message"]);
        assert!(!ok);
        let list = err
            .split("(messages: ")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .unwrap_or_else(|| panic!("{ty}: no message list in {err:?}"));
        let declared = types.get(ty).unwrap().messages.iter().map(|m| m.name);
        let generic = xdpgraph::ctl::generic::MESSAGES.iter().map(|m| m.name);
        let want: Vec<&str> = declared.chain(generic).collect();
        assert_eq!(list.split_whitespace().collect::<Vec<_>>(), want, "{ty}");
        for m in list.split_whitespace() {
            assert!(
                done.iter().any(|(t, x)| t == ty && x == m),
                "{ty} message {m} not exercised by this test"
            );
        }
    }
    assert_eq!(d.json("msg [1]: nodeinfo")["reply"]["type"], "socket");
}

/// Every control message of every node type, through `xdpgraph ctl`, text and JSON, on a
/// graph that has carried a known number of frames. The test asks each node for its message
/// list (the error for an unknown message names them) and fails if one was not exercised.
#[test]
fn every_node_message_through_ctl() {
    let dir = std::env::temp_dir().join(format!("xg-msgs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = message_topology(&dir);
    let mut done = Done::new();
    generic_messages(&d, &mut done);
    tee_messages(&d, &mut done);
    hole_messages(&d, &mut done);
    bridge_messages(&d, &mut done);
    one2many_messages(&d, &mut done);
    vlan_messages(&d, &mut done);
    hub_messages(&d, &mut done);
    ether_messages(&d, &mut done);
    filter_messages(&d, &mut done);
    macfilter_messages(&d, &mut done);
    bpf_messages(&d, &mut done);
    car_messages(&d, &mut done);
    pipe_messages(&d, &mut done);
    every_listed_message_was_exercised(&d, &done);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `xdpgraph ctl` with no command on a terminal is an interactive shell with history. The
/// terminal is a pty from `script(1)`; lines are typed one at a time.
#[test]
fn interactive_shell_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("script(1) from util-linux is needed for this test");
    }
    let d = Daemon::start(0, &[]);
    let home = std::env::temp_dir().join(format!("xg-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let mut child = Command::new("timeout")
        .args(["20", "script", "-qec"])
        .arg(format!("{BIN} ctl --socket {}", d.sock))
        .arg("/dev/null")
        .env("HOME", &home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for l in [
        "mkpeer m0: bridge lower link0",
        "name m0:lower br0",
        "ls",
        "bogus",
        "msg br0: getconfig",
        "quit",
    ] {
        std::thread::sleep(Duration::from_millis(200));
        writeln!(stdin, "{l}").unwrap();
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let st = child.wait().unwrap();
    drop(stdin);
    assert!(st.success(), "shell exit {st:?}: {out}");
    assert!(out.contains("+ "), "no prompt: {out}");
    assert!(out.contains("There are 5 total nodes:"), "{out}");
    assert!(out.contains("unknown command \"bogus\""), "{out}");
    assert!(
        out.contains("Args:\t{ debugLevel=1 loopTimeout=60"),
        "{out}"
    );
    // the edit was applied, and the session is in the history file
    assert_eq!(d.json("show br0:")["type"], "bridge");
    let hist = std::fs::read_to_string(home.join(".xdpgraph_history")).unwrap();
    assert!(
        hist.contains("name m0:lower br0") && hist.contains("bogus"),
        "{hist}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

/// The errno name `ctl --json` gives for a failing `line`.
fn errno(d: &Daemon, line: &str) -> String {
    let mut a = vec!["--json"];
    a.extend(line.split_whitespace());
    let (ok, out, _) = d.ctl(&a);
    assert!(!ok, "{line} should fail");
    let j: J = serde_json::from_str(out.trim()).unwrap();
    j["errno"].as_str().unwrap_or("").to_string()
}

/// `ctl -f -` with a script on stdin; (success, stdout, stderr).
fn ctl_stdin(d: &Daemon, script: &str) -> (bool, String, String) {
    let mut c = Command::new(BIN)
        .args(["ctl", "--socket", &d.sock, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let o = c.wait_with_output().unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (o.status.success(), s(&o.stdout), s(&o.stderr))
}

/// The `Args:` of a reply as FreeBSD's eiface_test.sh reads it (awk: `$1 == "Args:"`, the
/// second field without its first and last character).
fn args_unquoted(out: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some("Args:"))
        .unwrap_or_else(|| panic!("no Args: line in {out:?}"));
    let a = line.split_whitespace().nth(1).unwrap();
    a[1..a.len() - 1].to_string()
}

/// eiface and ksocket through `xdpgraph ctl`, as FreeBSD's tests drive them: eiface_test.sh's
/// `ngctl -f -` script (`mkpeer . eiface path_N ether`, `msg .path_N getifname`, then
/// `shutdown ngethN:`), ten times, each interface gone after its shutdown; ksocket.c's messages
/// on `.:ks` (bind, getname, connect, getpeername) and their errors; every message both types
/// list was exercised. Root: eiface makes TAP interfaces.
#[test]
fn eiface_and_ksocket_through_ctl_as_freebsds_tests_do() {
    if !xdpgraph::testkit::require_root() {
        return;
    }
    let d = Daemon::start(0, &[]);
    let mut done = Done::new();
    for i in 1..=10 {
        let (ok, out, err) = ctl_stdin(
            &d,
            &format!("mkpeer . eiface path_{i} ether\nmsg .path_{i} getifname\n"),
        );
        assert!(ok, "{err}");
        let ngeth = args_unquoted(&out);
        assert!(ngeth.starts_with("ngeth"), "{out}");
        let sys = format!("/sys/class/net/{ngeth}");
        assert!(std::path::Path::new(&sys).exists(), "{ngeth} missing");
        d.ok(&format!("shutdown {ngeth}:"));
        assert!(
            !std::path::Path::new(&sys).exists(),
            "{ngeth} outlived shutdown"
        );
    }
    d.ok("mkpeer . eiface e ether");
    let name = d.json("msg .e getifname")["reply"]
        .as_str()
        .unwrap()
        .to_string();
    d.ok(&format!("msg {name}: set 02:11:22:33:44:55"));
    did(&mut done, "eiface", &["getifname", "set"]);
    assert_eq!(errno(&d, "mkpeer . eiface f nonether"), "EPFNOSUPPORT");
    // ksocket.c: mkpeer with peer hook inet/dgram/udp, then messages to ".:ks"
    d.ok("mkpeer . ksocket ks inet/dgram/udp");
    assert_eq!(d.ok("msg .:ks bind inet/127.0.0.1:0"), "");
    let out = d.ok("msg .:ks getname");
    let line = out.lines().find(|l| l.starts_with("Args:")).unwrap();
    let addr = line.split_whitespace().nth(1).unwrap().to_string();
    assert!(addr.starts_with("inet/127.0.0.1:"), "{out}");
    let us = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let ours = format!("inet/{}", us.local_addr().unwrap());
    assert_eq!(errno(&d, "msg .ks getpeername"), "ENOTCONN");
    d.ok(&format!("msg .ks connect {ours}"));
    assert_eq!(d.json("msg .ks getpeername")["reply"], ours.as_str());
    d.ok("msg .ks setopt { level=1 name=7 value=[ 0 0 2 0 ] }");
    let v = d.json("msg .ks getopt { level=1 name=7 }")["reply"]["value"].clone();
    assert_eq!(v.as_array().map(Vec::len), Some(4), "{v}");
    assert_eq!(errno(&d, "msg .ks listen 5"), "EOPNOTSUPP");
    assert_eq!(errno(&d, "msg .ks accept"), "EOPNOTSUPP");
    assert_eq!(
        errno(&d, "mkpeer . ksocket k6 inet6/dgram/udp"),
        "EAFNOSUPPORT"
    );
    assert_eq!(
        errno(&d, "mkpeer . ksocket kt inet/stream/tcp"),
        "EPROTONOSUPPORT"
    );
    did(
        &mut done,
        "ksocket",
        &[
            "bind",
            "connect",
            "getname",
            "getpeername",
            "setopt",
            "getopt",
            "listen",
            "accept",
        ],
    );
    let types = xdpgraph::nodes::builtin();
    for ty in ["eiface", "ksocket"] {
        for m in types.get(ty).unwrap().messages {
            assert!(
                done.iter().any(|(t, x)| t == ty && x == m.name),
                "{ty} message {} not exercised",
                m.name
            );
        }
    }
    // the daemon's end removes the interface
    drop(d);
    let t = Instant::now();
    while std::path::Path::new(&format!("/sys/class/net/{name}")).exists() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{name} outlived the daemon"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A ksocket in the daemon on a generating memory port: the port's frames leave as datagrams
/// for a socket of the test's (from the address `getname` says), the test's datagrams come
/// out of the hook and are transmitted on the port, and after `shutdown` the port number is
/// free again.
#[test]
fn ksocket_in_the_daemon_carries_frames_both_ways() {
    let d = Daemon::start(200, &[]);
    let us = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    us.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    // m0's generated frames, through a hub, to the ksocket (the generator starts when m0's
    // lower is connected: the ksocket is set up first)
    d.ok("mkpeer . hub h a");
    d.ok("name .:h hb");
    d.ok("mkpeer hb: ksocket b inet/dgram/udp");
    d.ok("name hb:b ks");
    d.ok("msg ks: bind inet/127.0.0.1:0");
    d.ok(&format!(
        "msg ks: connect inet/{}",
        us.local_addr().unwrap()
    ));
    let ks = d.json("msg ks: getname")["reply"]
        .as_str()
        .unwrap()
        .to_string();
    d.ok("connect hb: m0: c lower");
    let mut buf = [0u8; 2048];
    let (n, from) = us.recv_from(&mut buf).unwrap();
    assert!(n >= 60, "a datagram of {n} bytes");
    assert_eq!(format!("inet/{from}"), ks);
    // datagrams from the test's socket come out of the hook, into the hub, out of m0
    let before = d.json("msg m0: getstats")["reply"]["tx_packets"]
        .as_u64()
        .unwrap_or(0);
    let frame = [
        [0xffu8; 6].as_slice(),
        &[2, 0, 0, 0, 0, 9],
        &[0x88, 0xb5],
        &[7u8; 50],
    ]
    .concat();
    for _ in 0..10 {
        us.send_to(&frame, from).unwrap();
    }
    let t = Instant::now();
    loop {
        let now = d.json("msg m0: getstats")["reply"]["tx_packets"]
            .as_u64()
            .unwrap_or(0);
        if now >= before + 10 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{} of 10 out of m0",
            now - before
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    d.ok("shutdown ks:");
    std::net::UdpSocket::bind(from).expect("the port is free after shutdown");
}
