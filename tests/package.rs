//! The Debian package (issue 17): `scripts/package.sh` builds it from this build's binary, it
//! installs with `dpkg -i`, the installed `xdpgraph` runs (`--version`, `lab up` / `lab down`),
//! and `dpkg -r` then `dpkg -P` take every file, the configuration and the system user away.
//! Root only, with dpkg; skipped loudly (never run) where it would touch an xdpgraph installed
//! otherwise (a package of that name already there, or a /usr/bin/xdpgraph of another origin).

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_xdpgraph");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

fn ok(cmd: &str, args: &[&str]) -> String {
    let o = run(cmd, args);
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn exists(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Root and dpkg (and setpriv), and nothing of an xdpgraph installed otherwise; else skipped loudly.
fn usable() -> bool {
    if !xdpgraph::testkit::require_root() {
        return false;
    }
    if !["dpkg", "dpkg-deb", "adduser", "deluser", "setpriv"]
        .into_iter()
        .all(exists)
    {
        xdpgraph::testkit::skip(
            "needs dpkg, dpkg-deb, adduser, deluser and setpriv (a Debian system)",
        );
        return false;
    }
    if run("dpkg", &["-s", "xdpgraph"]).status.success() {
        xdpgraph::testkit::skip("a package xdpgraph is installed already: not replacing it");
        return false;
    }
    if Path::new("/usr/bin/xdpgraph").exists() || Path::new("/etc/xdpgraph").exists() {
        xdpgraph::testkit::skip(
            "/usr/bin/xdpgraph or /etc/xdpgraph exists, not from the package: not overwriting it",
        );
        return false;
    }
    true
}

/// Purges the package when dropped (the test leaves nothing installed, even when it fails).
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run("dpkg", &["-P", "xdpgraph"]);
    }
}

fn getent(db: &str, key: &str) -> bool {
    run("getent", &[db, key]).status.success()
}

/// The package's files (not directories), checked: every kind of file, the dependencies and
/// the conffiles.
fn contents(deb: &str) -> Vec<String> {
    let listing = ok("dpkg-deb", &["-c", deb]);
    let files: Vec<String> = (listing.lines())
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches('.').to_string())
        .collect();
    for f in [
        "/usr/bin/xdpgraph",
        "/lib/systemd/system/xdpgraph.service",
        "/etc/xdpgraph/xdpgraph.env",
        "/etc/xdpgraph/graph.ngctl",
        "/usr/share/bash-completion/completions/xdpgraph",
        "/usr/share/zsh/vendor-completions/_xdpgraph",
        "/usr/share/fish/vendor_completions.d/xdpgraph.fish",
        "/usr/share/man/man8/xdpgraph.8.gz",
        "/usr/share/man/man8/xdpgraph-ctl.8.gz",
        "/usr/share/man/man8/xdpgraph-gen.8.gz",
        "/usr/share/doc/xdpgraph/copyright",
    ] {
        assert!(files.iter().any(|x| x == f), "no {f} in {listing}");
    }
    let depends = ok("dpkg-deb", &["-f", deb, "Depends"]);
    assert!(
        depends.contains("libelf1") && depends.contains("adduser"),
        "{depends}"
    );
    let conffiles = ok("dpkg-deb", &["-I", deb, "conffiles"]);
    assert_eq!(
        conffiles,
        "/etc/xdpgraph/xdpgraph.env\n/etc/xdpgraph/graph.ngctl\n"
    );
    files
}

#[test]
fn the_package_installs_runs_and_goes_away_cleanly() {
    if !usable() {
        return;
    }
    let user_before = getent("passwd", "xdpgraph") || getent("group", "xdpgraph");
    let out = format!("{ROOT}/target/debian");
    let deb = ok(
        &format!("{ROOT}/scripts/package.sh"),
        &["--bin", BIN, "--out", &out],
    );
    let deb = deb.trim().to_string();
    assert!(deb.ends_with(".deb") && Path::new(&deb).exists(), "{deb}");
    let files = contents(&deb);

    let guard = Installed;
    ok("dpkg", &["-i", &deb]);
    let v = ok("/usr/bin/xdpgraph", &["--version"]);
    let mine = ok(BIN, &["--version"]);
    assert_eq!(v, mine, "the installed binary is this build");
    assert!(
        v.starts_with(&format!(
            "xdpgraph {}\nrevision: ",
            env!("CARGO_PKG_VERSION")
        )),
        "{v}"
    );
    let prefix = format!("pk{}", std::process::id() % 10000);
    let up = ok(
        "/usr/bin/xdpgraph",
        &[
            "lab", "up", "--ports", "1", "--queues", "1", "--prefix", &prefix,
        ],
    );
    let down = run("/usr/bin/xdpgraph", &["lab", "down", "--prefix", &prefix]);
    assert!(up.contains(&format!("{prefix}0")), "{up}");
    assert!(down.status.success(), "{down:?}");
    // the unit's user, and the configuration directory it may write (ctl save -w)
    assert!(getent("passwd", "xdpgraph") && getent("group", "xdpgraph"));
    use std::os::unix::fs::MetadataExt;
    let etc = std::fs::metadata("/etc/xdpgraph").unwrap();
    assert_eq!(etc.mode() & 0o7777, 0o2775);
    the_installed_unit_runs_its_daemon_and_save_w_rewrites_the_boot_script();
    if exists("man") {
        let page = ok(
            "man",
            &["-l", "-P", "cat", "/usr/share/man/man8/xdpgraph-run.8.gz"],
        );
        assert!(page.contains("socket-group"), "{page}");
    }

    // remove: the files go, the configuration stays; purge: it goes too, with the user
    ok("dpkg", &["-r", "xdpgraph"]);
    assert!(!Path::new("/usr/bin/xdpgraph").exists());
    assert!(
        Path::new("/etc/xdpgraph/graph.ngctl").exists(),
        "conffiles stay until purge"
    );
    ok("dpkg", &["-P", "xdpgraph"]);
    drop(guard);
    for f in &files {
        assert!(!Path::new(f).exists(), "{f} left after purge");
    }
    assert!(!Path::new("/etc/xdpgraph").exists());
    assert!(!run("dpkg", &["-s", "xdpgraph"]).status.success());
    if !user_before {
        assert!(
            !getent("passwd", "xdpgraph") && !getent("group", "xdpgraph"),
            "user left"
        );
    }
}

/// A daemon killed if the test fails while it runs (before the package is purged).
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A key's value in the installed unit.
fn unit_value(key: &str) -> String {
    let unit = std::fs::read_to_string("/lib/systemd/system/xdpgraph.service").unwrap();
    let line = unit.lines().find(|l| l.starts_with(&format!("{key}=")));
    line.unwrap_or_else(|| panic!("no {key}= in the unit"))[key.len() + 1..].to_string()
}

/// As systemd would run it (no systemd here): the unit's ExecStart (XDPGRAPH_ARGS: memory
/// ports and a socket in a directory of the unit's user, as RuntimeDirectory= makes it) as its
/// User=, with its AmbientCapabilities= and no_new_privs. A member of group xdpgraph runs
/// `ctl save -w`, which replaces /etc/xdpgraph/graph.ngctl (the directory is the group's).
fn the_installed_unit_runs_its_daemon_and_save_w_rewrites_the_boot_script() {
    use std::os::unix::fs::MetadataExt;
    let user = unit_value("User");
    let caps: Vec<String> = (unit_value("AmbientCapabilities").split_whitespace())
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_ascii_lowercase()))
        .collect();
    let caps = format!("-all,{}", caps.join(","));
    let dir = format!("/tmp/xg-pkg-{}", std::process::id());
    ok(
        "install",
        &["-d", "-o", &user, "-g", &user, "-m", "0755", &dir],
    );
    let sock = format!("{dir}/ctl.sock");
    let args = format!("--cores 0 --frames 4096 --mem-port m0 --socket {sock}");
    let exec = unit_value("ExecStart").replace("$XDPGRAPH_ARGS", &args);
    let exec: Vec<&str> = exec.split_whitespace().collect();
    let mut child = KillOnDrop(Some(
        Command::new("setpriv")
            .args([
                "--reuid",
                &user,
                "--regid",
                &user,
                "--init-groups",
                "--no-new-privs",
            ])
            .args([
                format!("--inh-caps={caps}"),
                format!("--ambient-caps={caps}"),
            ])
            .arg(format!("--bounding-set={caps}"))
            .arg("--")
            .args(&exec)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let t = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        let c = child.0.as_mut().unwrap();
        if t.elapsed() > std::time::Duration::from_secs(20) || c.try_wait().unwrap().is_some() {
            let _ = c.kill();
            let o = child.0.take().unwrap().wait_with_output().unwrap();
            panic!(
                "the unit's daemon did not start: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let gid = std::fs::metadata(&sock).unwrap().gid();
    let operator = 61000 + std::process::id() % 1000;
    let ctl = |line: &str| {
        let o = Command::new("setpriv")
            .args([
                "--reuid",
                &operator.to_string(),
                "--regid",
                &operator.to_string(),
            ])
            .args(["--groups", &gid.to_string(), "--inh-caps=-all"])
            .args(["/usr/bin/xdpgraph", "ctl", "--socket", &sock])
            .args(line.split_whitespace())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    ctl("mkpeer m0: hub lower a");
    ctl("name m0:lower pkghub");
    ctl("save -w");
    let child = child.0.take().unwrap();
    // SAFETY: kill(2) on our own child's pid
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{log}");
    assert!(!log.contains("missing"), "the unit's capabilities: {log}");
    let boot = std::fs::read_to_string("/etc/xdpgraph/graph.ngctl").unwrap();
    assert!(boot.contains("name m0:lower pkghub"), "{boot}");
    let m = std::fs::metadata("/etc/xdpgraph/graph.ngctl").unwrap();
    assert_eq!(
        getent_id("passwd", &user),
        Some(m.uid()),
        "written by the unit's user"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The numeric ID of a passwd or group entry.
fn getent_id(db: &str, key: &str) -> Option<u32> {
    let o = run("getent", &[db, key]);
    let s = String::from_utf8_lossy(&o.stdout);
    s.split(':').nth(2)?.trim().parse().ok()
}
