//! The operators' packaging (issue 17): `--version` with the git revision and the features,
//! shell completions, man pages, and logs that suit journald (`--log-format json`, no colours
//! without a terminal).

use serde_json::Value as J;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_xdpgraph");
static N: AtomicU32 = AtomicU32::new(0);

fn xdpgraph(args: &[&str]) -> Output {
    let o = Command::new(BIN).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "xdpgraph {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn stdout(args: &[&str]) -> String {
    String::from_utf8(xdpgraph(args).stdout).unwrap()
}

fn tmp(what: &str) -> String {
    format!(
        "/tmp/xdpgraph-ops-{}-{}-{what}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Whether `prog` runs at all (`--version` or similar exits, whatever its status).
fn have(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[test]
fn version_has_revision_and_features() {
    let v = stdout(&["--version"]);
    let lines: Vec<&str> = v.lines().collect();
    assert_eq!(
        lines[0],
        format!("xdpgraph {}", env!("CARGO_PKG_VERSION")),
        "{v}"
    );
    let rev = lines[1].strip_prefix("revision: ").expect(&v);
    // a short hash, maybe -dirty, or "unknown" outside git
    let hash = rev.strip_suffix("-dirty").unwrap_or(rev);
    assert!(
        rev == "unknown" || (hash.len() >= 7 && hash.chars().all(|c| c.is_ascii_hexdigit())),
        "{v}"
    );
    let features = lines[2].strip_prefix("features: ").expect(&v);
    assert!(!features.is_empty(), "{v}");
    assert!(features.contains("dpdk") == cfg!(feature = "dpdk"), "{v}");
    // -V: one line, with the revision
    let short = stdout(&["-V"]);
    assert!(short.trim_end().ends_with(&format!("({rev})")), "{short}");
}

#[test]
fn bash_completion_is_valid_and_knows_the_subcommands() {
    let script = stdout(&["completions", "bash"]);
    for sub in ["run", "ctl", "gen", "lab", "completions", "man"] {
        assert!(script.contains(sub), "no {sub} in the bash completion");
    }
    assert!(script.contains("--log-format") && script.contains("--socket"));
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    bash.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let o = bash.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn zsh_and_fish_completions() {
    for shell in ["zsh", "fish"] {
        let script = stdout(&["completions", shell]);
        assert!(!script.is_empty(), "{shell}");
        assert!(script.contains("ctl") && script.contains("run"), "{shell}");
    }
    // a shell clap_complete does not know is a usage error
    let o = Command::new(BIN)
        .args(["completions", "csh"])
        .output()
        .unwrap();
    assert!(!o.status.success());
}

/// Renders a man page with man -l, else groff; without either, checks the roff source.
fn render(page: &Path) -> Option<String> {
    let text = std::fs::read_to_string(page).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with(".TH ")),
        "{page:?} has no .TH"
    );
    let cmd = if have("man") {
        Command::new("man")
            .env("MANWIDTH", "100")
            .args(["-l", "-P", "cat"])
            .arg(page)
            .output()
    } else if have("groff") {
        Command::new("groff")
            .args(["-man", "-Tutf8"])
            .arg(page)
            .output()
    } else {
        xdpgraph::testkit::skip("neither man nor groff: only the pages' roff source checked");
        return None;
    };
    let o = cmd.unwrap();
    assert!(
        o.status.success(),
        "{page:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn man_pages_are_written_and_render() {
    let dir = tmp("man");
    xdpgraph(&["man", &dir]);
    for (page, mention) in [
        ("xdpgraph.8", "ctl"),
        ("xdpgraph-run.8", "--log-format"),
        ("xdpgraph-ctl.8", "--json"),
        ("xdpgraph-gen.8", "--rate"),
        ("xdpgraph-lab.8", "up"),
    ] {
        let p = Path::new(&dir).join(page);
        assert!(p.exists(), "no {page}");
        if let Some(out) = render(&p) {
            // the rendering may hyphenate or space words, but the name and options are there
            let flat: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(flat.contains("xdpgraph"), "{page}: {out}");
            assert!(flat.contains(mention), "{page} lacks {mention}: {out}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // no DIR: the main page on stdout
    let main = stdout(&["man"]);
    assert!(main.contains(".TH xdpgraph 8"), "{main}");
}

/// Starts the in-memory daemon with `extra` and RUST_LOG=info, stderr piped (not a
/// terminal), stops it with SIGTERM once its socket answers, and returns its stderr.
fn daemon_stderr(extra: &[&str]) -> String {
    let (child, _) = start(extra);
    stop(child)
}

/// The in-memory daemon (port m0) with `extra`, once its socket answers; and the socket.
fn start(extra: &[&str]) -> (Child, String) {
    let sock = tmp("sock");
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
    ];
    args.extend(extra);
    let child = Command::new(BIN)
        .args(&args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while UnixStream::connect(&sock).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, sock)
}

/// SIGTERM, and the daemon's stderr once it exited (successfully).
fn stop(child: Child) -> String {
    // SAFETY: kill(2) on our own child's pid
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{o:?}");
    String::from_utf8(o.stderr).unwrap()
}

#[test]
fn json_logs() {
    let err = daemon_stderr(&["--log-format", "json"]);
    let lines: Vec<J> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{err}");
    for j in &lines {
        assert!(j["level"].is_string() && j["timestamp"].is_string(), "{j}");
    }
    // structured fields, not one formatted string
    let attached = lines
        .iter()
        .find(|j| j["fields"]["message"] == "attached")
        .unwrap_or_else(|| panic!("no attach event: {err}"));
    assert_eq!(attached["fields"]["ifname"], "m0", "{attached}");
    assert!(
        lines.iter().any(|j| j["fields"]["message"] == "stopping"),
        "{err}"
    );
}

#[test]
fn json_logs_carry_the_fatal_error() {
    let o = Command::new(BIN)
        .args(["run", "--cores", "5-3", "--log-format", "json"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    let j: J = serde_json::from_str(err.lines().last().unwrap()).expect(&err);
    assert_eq!(j["level"], "ERROR", "{j}");
    assert!(
        j["fields"]["error"].as_str().unwrap().contains("backwards"),
        "{j}"
    );
}

#[test]
fn text_logs_without_a_terminal_have_no_escape_codes() {
    let err = daemon_stderr(&[]);
    assert!(err.contains("INFO") && err.contains("attached"), "{err}");
    assert!(!err.contains('\x1b'), "escape codes in {err:?}");
    // the default is text: not JSON
    assert!(!err.trim_start().starts_with('{'), "{err}");
}

/// The bash completion's extra: `ctl` verbs, and the node names of a daemon that answers.
#[test]
fn bash_completion_of_ctl_verbs_and_node_names() {
    let script = tmp("completion.bash");
    std::fs::write(&script, stdout(&["completions", "bash"])).unwrap();
    let (child, sock) = start(&["--mem-port", "m1"]);
    let complete = |words: &[&str]| -> Vec<String> {
        let line = format!(
            "source {script}; COMP_WORDS=({BIN} {}); COMP_CWORD={}; _xdpgraph_with_ctl; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words.join(" "),
            words.len()
        );
        let o = Command::new("bash").args(["-c", &line]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut v: Vec<String> = String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(Into::into)
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        complete(&["ctl", "--socket", &sock, "sh"]),
        ["show", "shutdown"]
    );
    assert_eq!(
        complete(&["ctl", "--socket", &sock, "show", "m"]),
        ["m0:", "m1:"]
    );
    assert_eq!(
        complete(&["ctl", "--socket", &sock, "--json", "msg", ""]),
        ["m0:", "m1:"]
    );
    stop(child);
    // no daemon: no node names (clap's completion of the remaining words instead)
    assert!(!complete(&["ctl", "--socket", &sock, "show", "m"]).contains(&"m0:".to_string()));
    let _ = std::fs::remove_file(&script);
}

/// `xdpgraph ctl --socket S WORDS...`: (success, stdout, stderr).
fn ctl(sock: &str, words: &[&str]) -> (bool, String, String) {
    let o = Command::new(BIN)
        .args(["ctl", "--socket", sock])
        .args(words)
        .output()
        .unwrap();
    let (out, err) = (o.stdout, o.stderr);
    let s = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (o.status.success(), s(out), s(err))
}

/// `ctl save -w` writes the running graph to the boot script (`run -f`), atomically; a daemon
/// started again with that file has the same graph (`ctl save` prints the same script).
#[test]
fn save_w_writes_the_boot_script_and_a_restart_brings_the_graph_back() {
    let dir = tmp("boot");
    std::fs::create_dir_all(&dir).unwrap();
    let boot = format!("{dir}/graph.ngctl");
    std::fs::write(&boot, "# nothing yet\n").unwrap();
    std::fs::set_permissions(&boot, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let (child, sock) = start(&["--mem-port", "m1", "-f", &boot]);
    for line in [
        "mkpeer m0: bridge lower link0",
        "name m0:lower br0",
        "connect m1: br0: lower link1",
        "mkpeer br0: tee link2 left",
        "name br0:link2 t0",
        "mkpeer t0: hub right a",
        "msg br0: setpersistent",
    ] {
        let (ok, _, err) = ctl(&sock, &line.split(' ').collect::<Vec<_>>());
        assert!(ok, "{line}: {err}");
    }
    let (ok, before, _) = ctl(&sock, &["save"]);
    assert!(
        ok && before.contains("br0") && before.contains("tee"),
        "{before}"
    );
    let (ok, out, err) = ctl(&sock, &["save", "-w"]);
    assert!(ok, "{err}");
    assert_eq!(out, format!("saved the running graph to {boot}\n"));
    assert_eq!(std::fs::read_to_string(&boot).unwrap(), before);
    let mode = std::fs::metadata(&boot).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o640
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["graph.ngctl"], "no temporary file left");
    // `save -w FILE` is not a thing; JSON says where it went
    let (ok, _, err) = ctl(&sock, &["save", "-w", "elsewhere"]);
    assert!(!ok && err.contains("-w"), "{err}");
    let (ok, j, _) = ctl(&sock, &["--json", "save", "-w"]);
    let j: J = serde_json::from_str(&j).unwrap();
    assert!(
        ok && j["saved"] == boot.as_str() && j["script"] == before.as_str(),
        "{j}"
    );
    stop(child);
    // a restart with that file: the same graph
    let (child, sock) = start(&["--mem-port", "m1", "-f", &boot]);
    let (ok, after, _) = ctl(&sock, &["save"]);
    assert!(ok);
    assert_eq!(after, before);
    stop(child);
    // a daemon without -f has nowhere to write
    let (child, sock) = start(&[]);
    let (ok, _, err) = ctl(&sock, &["save", "-w"]);
    assert!(!ok && err.contains("without a boot script"), "{err}");
    stop(child);
    let _ = std::fs::remove_dir_all(&dir);
}
