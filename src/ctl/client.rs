//! The `xdpgraph ctl` client: sends command lines, prints replies, runs scripts and the
//! interactive shell.

use super::exec::Reply;
use super::grammar::{self, VerbId};
use crate::errno::Errno;
use std::io::{self, BufRead, BufReader, Write};
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
            io::ErrorKind::PermissionDenied => io::Error::new(e.kind(), format!("{path}: permission denied (the control socket is root-only)")),
            _ => io::Error::new(e.kind(), format!("{path}: {e}")),
        })?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    /// Sends one command line and waits for its reply.
    pub fn call(&mut self, line: &str) -> io::Result<Reply> {
        writeln!(self.w, "{}", super::server::encode_request(line))?;
        let mut buf = String::new();
        if self.r.read_line(&mut buf)? == 0 {
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
        (Ok(VerbId::Read), [file]) => {
            if depth > 8 {
                p.fail("read: scripts nested too deeply");
                return Ok(Step::Failed);
            }
            return run_file(c, p, file, depth + 1)
                .map(|ok| if ok { Step::Ok } else { Step::Failed });
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
