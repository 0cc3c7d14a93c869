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
    assert_eq!(d.json("types")["types"].as_array().unwrap().len(), 9);
    assert!(d.ok("dot").starts_with("digraph xdpgraph {"));
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
    assert!(d.json("errors")["reasons"].get("hop_limit").is_some());
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
    assert!(d.ctl(&["show", "never:"]).0 == false);
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
    // save FILE, dot FILE; the saved script rebuilds the same topology on a fresh daemon.
    let saved = dir.join("saved.ngctl");
    assert!(d.ctl(&["save", saved.to_str().unwrap()]).0);
    assert!(d.ctl(&["dot", dir.join("g.dot").to_str().unwrap()]).0);
    assert!(std::fs::read_to_string(dir.join("g.dot"))
        .unwrap()
        .contains("digraph"));
    let d2 = Daemon::start(0, &[]);
    let (ok, _, err) = d2.ctl(&["-f", saved.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(d.ok("show br1:"), d2.ok("show br1:"));
    assert_eq!(d2.json("msg br1: getconfig")["reply"]["maxStaleness"], 77);
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
    d.fails("show nosuch:", "nosuch:: no such node");
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
    if xdpgraph::sys::netdev::euid() != 0 {
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
        Err(_) => return,
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
