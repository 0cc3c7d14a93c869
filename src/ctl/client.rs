//! The `xdpgraph ctl` client: sends command lines, prints replies, runs scripts and the
//! interactive shell, and runs captures ([`capture`]: pcapng or a line per frame).

use super::capture;
use super::exec::Reply;
use super::grammar::{self, VerbId};
use crate::errno::Errno;
use crate::graph::capture::Dir;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

/// A connection to the daemon.
pub struct Client {
    w: UnixStream,
    r: BufReader<UnixStream>,
}

impl Client {
    pub fn connect(path: &str) -> io::Result<Client> {
        let s = UnixStream::connect(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => io::Error::new(
                e.kind(),
                format!("no xdpgraph daemon at {path} (is `xdpgraph run` running? see --socket / XDPGRAPH_SOCKET)"),
            ),
            io::ErrorKind::PermissionDenied => io::Error::new(e.kind(), denied(path)),
            _ => io::Error::new(e.kind(), format!("{path}: {e}")),
        })?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    /// Sends one command line and waits for its reply.
    pub fn call(&mut self, line: &str) -> io::Result<Reply> {
        let sent = writeln!(self.w, "{}", super::server::encode_request(line));
        let mut buf = String::new();
        if let Err(e) = sent {
            // a refusal (a peer the daemon does not serve) comes before the request is read:
            // the daemon's reason may be waiting, behind the closed connection
            let refused = matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            );
            if !refused || !matches!(self.r.read_line(&mut buf), Ok(n) if n > 0) {
                return Err(e);
            }
        } else if self.r.read_line(&mut buf)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection",
            ));
        }
        let j: serde_json::Value = serde_json::from_str(&buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad reply: {e}")))?;
        Ok(Reply::from_wire(&j))
    }
}

/// Why connecting to the socket at `path` was refused: who may use it, from its owner, group
/// and mode.
fn denied(path: &str) -> String {
    use crate::sys::users;
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return format!("{path}: permission denied (its directory is closed to you)");
    };
    let owner = users::user_name(m.uid()).unwrap_or_else(|| m.uid().to_string());
    let group = (users::group_name(m.gid()).ok().flatten()).unwrap_or_else(|| m.gid().to_string());
    let mode = m.mode() & 0o777;
    let who = match (mode & 0o020 != 0, owner == "root") {
        (true, true) => format!("root and the members of group {group}"),
        (true, false) => format!("root, {owner} and the members of group {group}"),
        (false, true) => "root".to_string(),
        (false, false) => format!("root and {owner}"),
    };
    format!(
        "{path}: permission denied (owner {owner}, group {group}, mode {mode:04o}: only {who} may use it; see xdpgraph run --socket-group)"
    )
}

/// Prints replies as text or JSON.
pub struct Printer<'a> {
    pub json: bool,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl Printer<'_> {
    /// Prints a reply; returns whether it succeeded.
    pub fn reply(&mut self, r: &Reply) -> bool {
        if self.json {
            let j = if r.ok {
                r.json.clone()
            } else {
                serde_json::json!({"error": r.error, "errno": r.errno})
            };
            let _ = writeln!(self.out, "{j}");
        } else if r.ok {
            let _ = write!(self.out, "{}", r.text);
        } else {
            let _ = writeln!(
                self.err,
                "xdpgraph ctl: {}",
                r.error.as_deref().unwrap_or("failed")
            );
        }
        r.ok
    }
    fn fail(&mut self, msg: &str) -> bool {
        self.reply(&Reply::err(msg, Errno::EINVAL))
    }
}

/// What running a line did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Ok,
    Failed,
    Quit,
}

/// Runs one line, handling the client-side verbs (`read`, `quit`, `dot FILE`, `save FILE`).
pub fn run_line(c: &mut Client, p: &mut Printer<'_>, line: &str, depth: usize) -> io::Result<Step> {
    let line = line.trim();
    let Some((verb, words)) = grammar::split(line) else {
        return Ok(Step::Ok);
    };
    let id = grammar::lookup(verb).map(|v| v.id);
    match (id, words.as_slice()) {
        (Ok(VerbId::Quit), _) => return Ok(Step::Quit),
        (Ok(VerbId::Capture), _) => {
            p.fail("capture runs from the command line: xdpgraph ctl capture <path> <hook> ...");
            return Ok(Step::Failed);
        }
        (Ok(VerbId::Read), [file]) => {
            if depth > 8 {
                p.fail("read: scripts nested too deeply");
                return Ok(Step::Failed);
            }
            return run_file(c, p, file, depth + 1)
                .map(|ok| if ok { Step::Ok } else { Step::Failed });
        }
        (Ok(VerbId::Save), [_, _]) if words.contains(&"-w") => {
            p.fail("save: -w writes the daemon's boot script; give it no file");
            return Ok(Step::Failed);
        }
        (Ok(v @ (VerbId::Dot | VerbId::Save)), [.., file]) if !file.starts_with('-') => {
            // the file is written here; the daemon gets the verb and its options
            let opts = &words[..words.len() - 1];
            let r = c.call(&format!(
                "{} {}",
                if v == VerbId::Dot { "dot" } else { "save" },
                opts.join(" ")
            ))?;
            if !r.ok {
                p.reply(&r);
                return Ok(Step::Failed);
            }
            return Ok(match std::fs::write(file, &r.text) {
                Ok(()) => Step::Ok,
                Err(e) => {
                    p.fail(&format!("{file}: {e}"));
                    Step::Failed
                }
            });
        }
        _ => {}
    }
    let r = c.call(line)?;
    Ok(if p.reply(&r) { Step::Ok } else { Step::Failed })
}

/// Runs a script; stops at the first failing line (naming it), like `ngctl -f`. `-` reads
/// standard input (`ngctl -f- <<EOF`, as the man pages' examples do).
pub fn run_file(c: &mut Client, p: &mut Printer<'_>, file: &str, depth: usize) -> io::Result<bool> {
    let read = if file == "-" {
        io::read_to_string(io::stdin())
    } else {
        std::fs::read_to_string(file)
    };
    let file = if file == "-" { "<stdin>" } else { file };
    let text = match read {
        Ok(t) => t,
        Err(e) => return Ok(p.fail(&format!("{file}: {e}"))),
    };
    for (n, line) in text.lines().enumerate() {
        match run_line(c, p, line, depth)? {
            Step::Ok => {}
            Step::Quit => return Ok(true),
            Step::Failed => {
                let _ = writeln!(
                    p.err,
                    "xdpgraph ctl: {file}:{}: stopped at this line",
                    n + 1
                );
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The interactive shell (line editing and history on a terminal). Like ngctl, ending the
/// session (`quit` or end of input) exits 0: errors were shown as they happened.
pub fn shell(c: &mut Client, p: &mut Printer<'_>) -> io::Result<bool> {
    use rustyline::error::ReadlineError;
    let mut ed = rustyline::DefaultEditor::new().map_err(io::Error::other)?;
    let hist = std::env::var("HOME")
        .map(|h| format!("{h}/.xdpgraph_history"))
        .ok();
    if let Some(h) = &hist {
        let _ = ed.load_history(h);
    }
    loop {
        match ed.readline("+ ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = ed.add_history_entry(line.as_str());
                }
                if let Step::Quit = run_line(c, p, &line, 0)? {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(io::Error::other(e)),
        }
    }
    if let Some(h) = &hist {
        let _ = ed.save_history(h);
    }
    Ok(true)
}

/// `xdpgraph ctl capture ...` as the client runs it: the request for the daemon, and where
/// the frames go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureArgs {
    /// The `capture` line without `-w` (the daemon checks the rest).
    pub request: String,
    /// `-w FILE` (`-`: standard output); None: one line per frame on standard output.
    pub write: Option<String>,
}

impl CaptureArgs {
    /// From the command's words (the verb first); `-w` is taken out here.
    pub fn parse(words: &[String]) -> Result<CaptureArgs, String> {
        let mut rest = Vec::new();
        let mut write = None;
        let mut it = words.iter();
        while let Some(w) = it.next() {
            let file = match w.strip_prefix("-w") {
                Some("") => it
                    .next()
                    .cloned()
                    .ok_or("capture: -w needs a file (or - for standard output)")?,
                Some(f) => f.to_string(),
                None => {
                    rest.push(w.as_str());
                    continue;
                }
            };
            if write.replace(file).is_some() {
                return Err("capture: -w given twice".into());
            }
        }
        Ok(CaptureArgs {
            request: rest.join(" "),
            write,
        })
    }
}

/// Where captured frames go.
enum Sink<'a> {
    Pcapng(super::pcapng::Writer<Box<dyn Write + 'a>>),
    Lines(io::BufWriter<&'a mut dyn Write>, bool),
}

impl Sink<'_> {
    fn frame(&mut self, ts: u64, dir: Dir, data: &[u8], origlen: u32) -> io::Result<()> {
        match self {
            Sink::Pcapng(w) => w.packet(0, ts, dir, data, origlen),
            Sink::Lines(w, false) => writeln!(w, "{}", capture::frame_line(ts, dir, data, origlen)),
            Sink::Lines(w, true) => writeln!(w, "{}", capture::frame_json(ts, dir, data, origlen)),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Pcapng(w) => w.flush(),
            Sink::Lines(w, _) => w.flush(),
        }
    }
}

/// How the stream of a capture ended, seen from the client.
enum StreamEnd {
    /// The daemon's end message.
    Trailer(capture::Trailer),
    /// Whoever reads our output went away (EPIPE).
    ReaderGone,
    /// Stopped by a signal, and the daemon did not finish in time.
    Interrupted,
}

/// Runs a capture: sends the request, then writes the frames as they come (pcapng, or a line
/// each) until the daemon's end message, SIGINT/SIGTERM (after
/// `sys::netdev::catch_stop_signals`: the client asks the daemon to stop and writes what is
/// still on its way), or EPIPE on the output. Returns whether it succeeded: a bad request, or a
/// capture whose hook went away or whose daemon stopped, did not.
pub fn capture(c: Client, a: &CaptureArgs, p: &mut Printer<'_>) -> io::Result<bool> {
    let Client { w, mut r } = c;
    writeln!(&w, "{}", super::server::encode_request(&a.request))?;
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the daemon closed the connection",
        ));
    }
    let j: serde_json::Value = serde_json::from_str(&line)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad reply: {e}")))?;
    let reply = Reply::from_wire(&j);
    if !reply.ok {
        return Ok(p.reply(&reply));
    }
    let point = reply.json["capture"].as_str().unwrap_or("?").to_string();
    let snaplen = reply.json["snaplen"].as_u64().unwrap_or(0) as u32;
    let mut dec = capture::Decoder::default();
    dec.feed(r.buffer());
    let (json, err): (bool, &mut dyn Write) = (p.json, &mut *p.err);
    let mut stdout: Option<&mut dyn Write> = Some(&mut *p.out);
    let mut sink = match open_sink(a.write.as_deref(), &mut stdout, json, &point, snaplen) {
        Ok(s) => s,
        Err(e) => {
            let what = format!("{}: {e}", a.write.as_deref().unwrap_or("-"));
            let mut none = io::sink();
            let out = stdout.unwrap_or(&mut none);
            let mut p = Printer { json, out, err };
            return Ok(p.reply(&Reply::err(what, Errno::of_io(&e))));
        }
    };
    if !json {
        let d = reply.json["direction"].as_str().unwrap_or("?");
        let _ = writeln!(
            err,
            "xdpgraph ctl: capturing on {point} ({d}), snap length {snaplen}"
        );
    }
    let (end, frames) = match stream(r.into_inner(), &w, &mut dec, &mut sink) {
        Ok(x) => x,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => (StreamEnd::ReaderGone, 0),
        Err(e) => return Err(e),
    };
    // the summary: on standard error, but in JSON on standard output when the frames did not
    // go there, or as the last line after JSON lines
    let lines = match sink {
        Sink::Lines(w, true) => w.into_inner().ok(),
        _ => None,
    };
    let summary: &mut dyn Write = match (json, stdout, lines) {
        (true, Some(o), _) | (true, None, Some(o)) => o,
        _ => err,
    };
    Ok(report(&point, end, frames, json, summary))
}

/// Where the frames go: pcapng to `write` (`-`: standard output, taken from `stdout`), or
/// lines (JSON lines with `json`) on standard output.
fn open_sink<'a>(
    write: Option<&str>,
    stdout: &mut Option<&'a mut dyn Write>,
    json: bool,
    point: &str,
    snaplen: u32,
) -> io::Result<Sink<'a>> {
    let w: Box<dyn Write + 'a> = match write {
        None => {
            let out = stdout.take().expect("standard output");
            return Ok(Sink::Lines(io::BufWriter::new(out), json));
        }
        Some("-") => Box::new(io::BufWriter::with_capacity(
            1 << 16,
            stdout.take().expect("standard output"),
        )),
        Some(f) => Box::new(io::BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(f)?,
        )),
    };
    let mut pw = super::pcapng::Writer::new(w, "xdpgraph")?;
    pw.interface(point, snaplen)?;
    Ok(Sink::Pcapng(pw))
}

/// Receives and writes frames until the stream ends; returns how, and how many frames.
fn stream(
    sock: UnixStream,
    w: &UnixStream,
    dec: &mut capture::Decoder,
    sink: &mut Sink<'_>,
) -> io::Result<(StreamEnd, u64)> {
    sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut frames = 0;
    let mut stopping: Option<std::time::Instant> = None;
    loop {
        loop {
            let m = dec
                .next_msg()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            match m {
                None => break,
                Some(capture::Msg::Frame {
                    ts,
                    dir,
                    data,
                    origlen,
                }) => {
                    sink.frame(ts, dir, data, origlen)?;
                    frames += 1;
                }
                Some(capture::Msg::End(t)) => {
                    sink.flush()?;
                    return Ok((StreamEnd::Trailer(t), frames));
                }
            }
        }
        sink.flush()?;
        if stopping.is_none() && crate::sys::netdev::stop_signal().is_some() {
            // the daemon stops the capture and sends what it still has, then its end
            let _ = w.shutdown(std::net::Shutdown::Write);
            stopping = Some(std::time::Instant::now());
        }
        // stopped, and nothing from the daemon for 3 s: give up waiting for its end
        if stopping.is_some_and(|t| t.elapsed() > std::time::Duration::from_secs(3)) {
            return Ok((StreamEnd::Interrupted, frames));
        }
        match (&sock).read(&mut buf) {
            Ok(0) => {
                let why = "the daemon closed the connection before the capture's end";
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, why));
            }
            Ok(n) => {
                dec.feed(&buf[..n]);
                if stopping.is_some() {
                    stopping = Some(std::time::Instant::now());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Says how the capture ended, on `out`; returns whether it ended as asked.
fn report(point: &str, end: StreamEnd, frames: u64, json: bool, out: &mut dyn Write) -> bool {
    let (dropped, ended) = match &end {
        StreamEnd::ReaderGone => return true,
        StreamEnd::Interrupted => (None, "interrupted".to_string()),
        StreamEnd::Trailer(t) => (Some(t.dropped), t.ended.clone()),
    };
    let ok = !matches!(ended.as_str(), "hook removed" | "daemon stopping");
    if json {
        let j = serde_json::json!({"capture": point, "frames": frames, "dropped": dropped, "ended": ended});
        let _ = writeln!(out, "{j}");
        return ok;
    }
    let mut s = format!("xdpgraph ctl: {frames} frames captured on {point}");
    match dropped {
        Some(d) if d > 0 => {
            s += &format!(
                "; {d} copies dropped (the capture did not keep up; the traffic was not affected)"
            )
        }
        None => s += "; dropped copies unknown (the daemon did not answer in time)",
        _ => {}
    }
    match ended.as_str() {
        "hook removed" => {
            s += &format!("\nxdpgraph ctl: capture on {point} ended: the hook was removed")
        }
        "daemon stopping" => {
            s += &format!("\nxdpgraph ctl: capture on {point} ended: the daemon is stopping")
        }
        _ => {}
    }
    let _ = writeln!(out, "{s}");
    ok
}
