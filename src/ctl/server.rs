//! The daemon's control socket.
//!
//! A Unix stream socket created mode 0600 (root and the daemon's user only), or with the group
//! and mode of a [`SocketAccess`] (`run --socket-group`: a group of operators); the peer's
//! credentials are checked against the same rule as well.
//! Each connection gets a thread that reads newline-delimited JSON requests (at most
//! [`MAX_REQUEST`](super::MAX_REQUEST) bytes each), hands them to the management thread through
//! a channel, and writes back the reply once the command has been applied. Bad requests get an
//! error reply; a client that disconnects mid-request is simply dropped. A `capture` request
//! turns the connection into a stream of frames (`super::capture`, which documents the framing)
//! until the capture ends; the connection closes then.

use super::capture::CaptureSpec;
use super::exec::Reply;
use super::grammar::{self, VerbId};
use super::MAX_REQUEST;
use crate::errno::Errno;
use crate::graph::capture::Capture;
use serde_json::json;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::time::Duration;

/// Most clients connected at once.
pub const MAX_CLIENTS: usize = 64;

/// What the management thread is asked to do.
pub enum Work {
    /// Run a command line.
    Line(String),
    /// Render the Prometheus metrics.
    Metrics,
    /// Start a capture: the capture goes back on the sender (before the reply) when it started.
    CaptureStart(CaptureSpec, mpsc::Sender<Arc<Capture>>),
    /// Stop a capture.
    CaptureStop(Arc<Capture>),
}

/// A request waiting for the management thread.
pub struct Request {
    pub work: Work,
    pub reply: mpsc::Sender<Reply>,
}

/// Makes room for the socket at `p`: nothing there is fine; a socket nobody listens on (left
/// by a process that died) is removed; a live socket, or anything that is not a socket, is an
/// error and stays as it is.
fn remove_stale(p: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let path = p.display();
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{path} exists and is not a socket: refusing to replace it (choose another --socket, or remove it)"),
        ));
    }
    match UnixStream::connect(p) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{path}: another xdpgraph is already serving this socket"),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(socket = %path, "removing a stale control socket");
            std::fs::remove_file(p)
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("{path}: cannot tell whether this socket is in use ({e}); not replacing it"),
        )),
    }
}

/// Who may use the control socket besides root and the daemon's own user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketAccess {
    /// The socket file's group (None: the daemon's own group).
    pub group: Option<u32>,
    /// The socket file's mode: 0600 lets only root and the daemon's user in; 0660 also the
    /// members of its group; 0666 everyone.
    pub mode: u32,
}

impl Default for SocketAccess {
    fn default() -> Self {
        SocketAccess {
            group: None,
            mode: 0o600,
        }
    }
}

impl SocketAccess {
    /// `group`, with mode 0660 unless `mode` says otherwise (0600 without a group).
    pub fn new(group: Option<u32>, mode: Option<u32>) -> SocketAccess {
        let mode = mode.unwrap_or(if group.is_some() { 0o660 } else { 0o600 });
        SocketAccess { group, mode }
    }
}

/// The rule the file's owner, group and mode make (connect(2) checks write permission on the
/// file), applied again to the peer's credentials: the file's mode could be changed, and a
/// connection that slipped through must not be served either.
#[derive(Debug, Clone, Copy)]
struct Gate {
    owner: u32,
    gid: u32,
    mode: u32,
}

impl Gate {
    /// Ok, or why the peer is refused.
    fn admit(&self, p: &crate::sys::users::Peer) -> Result<(), String> {
        let group_may = self.mode & 0o020 != 0 && p.in_group(self.gid);
        if p.uid == 0 || p.uid == self.owner || group_may || self.mode & 0o002 != 0 {
            return Ok(());
        }
        let who = match crate::sys::users::user_name(p.uid) {
            Some(n) => format!("uid {} ({n})", p.uid),
            None => format!("uid {}", p.uid),
        };
        Err(if self.mode & 0o020 != 0 {
            let g = (crate::sys::users::group_name(self.gid).ok().flatten())
                .unwrap_or_else(|| self.gid.to_string());
            format!(
                "permission denied: {who} is not root, not the daemon's user and not in group {g}"
            )
        } else {
            format!("permission denied: {who} is not root (nor the daemon's user)")
        })
    }
}

/// Binds the socket at `p` and gives it `access`'s group and mode; returns the listener and
/// the rule for peers.
fn bind(p: &Path, access: SocketAccess) -> io::Result<(UnixListener, Gate)> {
    use std::os::unix::fs::MetadataExt;
    let path = p.display();
    let old = crate::sys::netdev::umask(0o177);
    let l = UnixListener::bind(p);
    crate::sys::netdev::umask(old);
    let l = l.map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
    if let Some(g) = access.group {
        std::os::unix::fs::chown(p, None, Some(g)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{path}: giving it group {g}: {e} (the daemon must be root, have CAP_CHOWN, or be in that group)"),
            )
        })?;
    }
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(access.mode & 0o777))?;
    let m = std::fs::metadata(p)?;
    let gate = Gate {
        owner: m.uid(),
        gid: m.gid(),
        mode: m.mode() & 0o777,
    };
    Ok((l, gate))
}

/// The listening control socket; removed when dropped.
pub struct Server {
    /// The accept thread's listener (a second descriptor): shut down to wake it.
    listener: UnixListener,
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Listens on `path` (mode 0600), sending requests to `to_mgmt`.
    pub fn start(path: &str, to_mgmt: SyncSender<Request>) -> io::Result<Server> {
        Server::start_with(path, SocketAccess::default(), to_mgmt)
    }

    /// Listens on `path` with the group and mode of `access`, sending requests to `to_mgmt`.
    pub fn start_with(
        path: &str,
        access: SocketAccess,
        to_mgmt: SyncSender<Request>,
    ) -> io::Result<Server> {
        let p = Path::new(path);
        if let Some(dir) = p.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir)?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
            }
        }
        remove_stale(p)?;
        let (l, gate) = match bind(p, access) {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::remove_file(p);
                return Err(e);
            }
        };
        // accept(2) blocks: the thread sleeps until a client connects (no polling; issue 16).
        // Drop wakes it by shutting the listener down after setting `stop`.
        let listener = l.try_clone()?;
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("xdpgraph-ctl".into())
            .spawn(move || accept_loop(l, gate, to_mgmt, s2))?;
        Ok(Server {
            listener,
            path: p.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // wake the blocking accept: it sees `stop` and returns
            let _ = crate::sys::netdev::shutdown_listener(&self.listener);
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(l: UnixListener, gate: Gate, to_mgmt: SyncSender<Request>, stop: Arc<AtomicBool>) {
    let clients = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = l.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((s, _)) => {
                if clients.load(Ordering::SeqCst) >= MAX_CLIENTS {
                    let _ = refuse(
                        s,
                        &format!("too many clients (at most {MAX_CLIENTS})"),
                        Errno::EBUSY,
                    );
                    continue;
                }
                match crate::sys::users::peer(s.as_raw_fd()).map(|p| gate.admit(&p)) {
                    Ok(Ok(())) => {}
                    Ok(Err(why)) => {
                        let _ = refuse(s, &why, Errno::EACCES);
                        continue;
                    }
                    Err(_) => continue,
                }
                clients.fetch_add(1, Ordering::SeqCst);
                let (tx, c, st) = (to_mgmt.clone(), clients.clone(), stop.clone());
                let spawned = std::thread::Builder::new()
                    .name("xdpgraph-client".into())
                    .spawn(move || {
                        let _ = serve(s, tx, st);
                        c.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    clients.fetch_sub(1, Ordering::SeqCst);
                }
            }
            // EMFILE and the like: back off instead of spinning
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn refuse(mut s: UnixStream, why: &str, errno: Errno) -> io::Result<()> {
    let r = Reply::err(why, errno);
    writeln!(s, "{}", r.to_wire())
}

fn serve(s: UnixStream, to_mgmt: SyncSender<Request>, stop: Arc<AtomicBool>) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // Read one line, at most MAX_REQUEST bytes (polling `stop` while idle).
        let got = loop {
            let mut limited = (&mut r).take((MAX_REQUEST + 1 - buf.len()) as u64);
            match limited.read_until(b'\n', &mut buf) {
                Ok(0) => break None, // EOF: the client went away (mid-request or not)
                Ok(_) if buf.ends_with(b"\n") => break Some(()),
                Ok(_) if buf.len() > MAX_REQUEST => {
                    let e = Reply::err(
                        format!("request larger than {MAX_REQUEST} bytes"),
                        Errno::E2BIG,
                    );
                    let _ = writeln!(w, "{}", e.to_wire());
                    return Ok(());
                }
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
        };
        if got.is_none() {
            return Ok(());
        }
        if let Some(spec) = (parse_request(&buf).ok()).and_then(|l| capture_request(&l)) {
            let begin = |spec| capture_begin(&to_mgmt, spec);
            let end = |c| capture_end(&to_mgmt, c);
            return super::capture::serve(spec, r.get_ref(), begin, end, &stop);
        }
        let reply = match parse_request(&buf) {
            Ok(line) => {
                let (tx, rx) = mpsc::channel();
                if to_mgmt
                    .send(Request {
                        work: Work::Line(line),
                        reply: tx,
                    })
                    .is_err()
                {
                    Reply::err("the daemon is shutting down", Errno::EIO)
                } else {
                    rx.recv()
                        .unwrap_or_else(|_| Reply::err("the daemon is shutting down", Errno::EIO))
                }
            }
            Err(e) => Reply::err(e.to_string(), Errno::EINVAL),
        };
        writeln!(w, "{}", reply.to_wire())?;
    }
}

/// A `capture` line's options (or why they are wrong); None for other commands.
fn capture_request(line: &str) -> Option<Result<CaptureSpec, super::ControlError>> {
    let (verb, words) = grammar::split(line)?;
    let v = grammar::lookup(verb)
        .ok()
        .filter(|v| v.id == VerbId::Capture)?;
    Some(CaptureSpec::parse(&words).map_err(|e| match e {
        super::ControlError::Usage(m) if words.len() < v.min => {
            super::ControlError::Usage(format!("{m} (see: help capture)"))
        }
        e => e,
    }))
}

fn shutting_down() -> Box<Reply> {
    Box::new(Reply::err("the daemon is shutting down", Errno::EIO))
}

/// Asks the management thread to start a capture: the capture and the reply, or the error.
fn capture_begin(
    to_mgmt: &SyncSender<Request>,
    spec: CaptureSpec,
) -> Result<(Arc<Capture>, Reply), Box<Reply>> {
    let (tx, rx) = mpsc::channel();
    let (ctx, crx) = mpsc::channel();
    let work = Work::CaptureStart(spec, ctx);
    (to_mgmt.send(Request { work, reply: tx })).map_err(|_| shutting_down())?;
    let r = rx.recv().map_err(|_| shutting_down())?;
    if !r.ok {
        return Err(Box::new(r));
    }
    Ok((crx.recv().map_err(|_| shutting_down())?, r))
}

/// Asks the management thread to stop a capture, and waits until it has.
fn capture_end(to_mgmt: &SyncSender<Request>, c: Arc<Capture>) {
    let (tx, rx) = mpsc::channel();
    let work = Work::CaptureStop(c);
    if to_mgmt.send(Request { work, reply: tx }).is_ok() {
        let _ = rx.recv();
    }
}

/// Why a request line is not a request.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    #[error("malformed request: not UTF-8")]
    NotUtf8,
    #[error("malformed request ({0}): expected {{\"line\": \"<command>\"}}")]
    NotJson(serde_json::Error),
    #[error("malformed request: one command per request")]
    SeveralLines,
    #[error("malformed request: expected {{\"line\": \"<command>\"}}")]
    NoLine,
}

fn parse_request(buf: &[u8]) -> Result<String, RequestError> {
    let s = std::str::from_utf8(buf).map_err(|_| RequestError::NotUtf8)?;
    let j: serde_json::Value = serde_json::from_str(s.trim()).map_err(RequestError::NotJson)?;
    match j.get("line").and_then(|l| l.as_str()) {
        Some(l) if !l.contains('\n') => Ok(l.to_string()),
        Some(_) => Err(RequestError::SeveralLines),
        None => Err(RequestError::NoLine),
    }
}

/// Encodes a request line for the wire.
pub fn encode_request(line: &str) -> String {
    json!({ "line": line }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests here find the accept thread by name: one server at a time.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn only_a_stale_socket_is_replaced() {
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("xg-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // a regular file stays, and is an error
        let f = dir.join("file.sock");
        std::fs::write(&f, b"keep me").unwrap();
        let (tx, _rx) = mpsc::sync_channel(1);
        let e = Server::start(f.to_str().unwrap(), tx.clone())
            .err()
            .expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
        assert_eq!(std::fs::read(&f).unwrap(), b"keep me");
        // a socket nobody listens on is replaced
        let s = dir.join("stale.sock");
        drop(UnixListener::bind(&s).unwrap());
        assert!(s.exists());
        let srv = Server::start(s.to_str().unwrap(), tx.clone()).expect("stale replaced");
        // a live one is refused, and stays
        let e = Server::start(s.to_str().unwrap(), tx)
            .err()
            .expect("live refused");
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        assert!(s.exists());
        drop(srv);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The thread's voluntary context switches, found by name among this process's threads.
    fn switches(name: &str) -> Option<u64> {
        for t in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim() == name {
                let st = std::fs::read_to_string(t.path().join("status")).ok()?;
                return st.lines().find_map(|l| {
                    l.strip_prefix("voluntary_ctxt_switches:")
                        .and_then(|v| v.trim().parse().ok())
                });
            }
        }
        None
    }

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn the_accept_thread_sleeps_until_a_client_comes_and_stops_at_once() {
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("xg-idle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        let (tx, _rx) = mpsc::sync_channel(1);
        let srv = Server::start(path.to_str().unwrap(), tx).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let before = switches("xdpgraph-ctl").expect("the accept thread runs");
        std::thread::sleep(Duration::from_millis(400));
        let after = switches("xdpgraph-ctl").unwrap();
        // polling every 20 ms would wake it ~20 times; a blocked accept(2) not at all
        assert!(
            after - before <= 1,
            "woke {} times while idle",
            after - before
        );
        let t = std::time::Instant::now();
        drop(srv);
        assert!(
            t.elapsed() < Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
        assert!(
            switches("xdpgraph-ctl").is_none(),
            "the accept thread ended"
        );
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
