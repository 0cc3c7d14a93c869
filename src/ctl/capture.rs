//! `capture PATH HOOK [-c COUNT] [-s SNAPLEN] [-d in|out|inout]`: the frames crossing a hook,
//! streamed to the `xdpgraph ctl` client (which writes pcapng or prints a line per frame).
//!
//! The client's connection is handed to [`serve`] by the control server's thread for that
//! client. It asks the management thread to start the capture (an edit: the hook's taps are in
//! the next snapshot; `crate::graph::capture`), answers, streams what the workers record, and
//! finally asks the management thread to stop the capture: the graph is left as it was.
//!
//! # Wire framing
//!
//! ```text
//! client → server   {"line": "capture br0: link1 -c 10 -s 96 -d in"}\n     (as any request)
//! server → client   one JSON reply line, as for any command:
//!                   {"ok": false, "error": ..., "errno": ...}: the exchange ends there;
//!                   {"ok": true, "text": "", "json": {"capture": "br0:link1",
//!                    "direction": "in", "snaplen": 96, "count": 10, "workers": 2}}
//!                   then binary messages, each starting with a kind byte (little-endian):
//!   'F' (0x46) a frame    u8 direction (1 in, 2 out), u16 0, u32 caplen, u32 origlen,
//!                         u64 timestamp (ns since the UNIX epoch, CLOCK_REALTIME,
//!                         non-decreasing), then caplen bytes          (20-byte header)
//!   'E' (0x45) the end    u32 length, then that many bytes of JSON: {"frames": N,
//!                         "dropped": D, "ended": "count" | "client" | "hook removed" |
//!                         "daemon stopping"}; the server closes the connection after it.
//! ```
//!
//! After its request the client sends nothing: closing the connection, or shutting down its
//! writing side (what the client does on SIGINT/SIGTERM), stops the capture, and the server
//! then sends what was still recorded and the end message. `dropped` counts the copies the
//! workers could not write because this reader had not kept up (the frames themselves went on).
//! The server drains the rings every [`DRAIN_EVERY`] ([`DRAIN_BUSY`] while a drain reads at
//! least [`BUSY_RECORDS`]), sleeping in between (it waits in a read of
//! the client's socket with that timeout, which is also how it sees the client leave); it runs
//! on the client's thread, which the data plane's placement keeps off the workers' cores.

use super::exec::Reply;
use super::{Control, ControlError};
use crate::graph::capture::{Batch, Capture, Dir, Dirs, Reader, Record, MAX_SNAPLEN};
use crate::wire::{EtherType, MacAddr};
use serde_json::{json, Value as J};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the server drains the capture's rings.
pub const DRAIN_EVERY: Duration = Duration::from_millis(5);
/// How often while they fill fast: after a drain that read at least [`BUSY_RECORDS`].
pub const DRAIN_BUSY: Duration = Duration::from_millis(1);
/// Records in one drain that make the next one come after [`DRAIN_BUSY`] (about a seventh of
/// what a worker's ring holds of 64-byte frames).
pub const BUSY_RECORDS: usize = 2048;
/// Kind byte of a frame message.
pub const FRAME: u8 = b'F';
/// Kind byte of the end message.
pub const END: u8 = b'E';
/// Bytes of a frame message before the frame's bytes.
pub const FRAME_HEADER: usize = 20;

/// A parsed `capture` request (the client's `-w` is not part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSpec {
    pub path: String,
    pub hook: String,
    /// Stop after this many frames.
    pub count: Option<u64>,
    pub snaplen: u32,
    pub dirs: Dirs,
}

fn usage(why: String) -> ControlError {
    ControlError::Usage(format!(
        "capture: {why}; usage: capture <path> <hook> [-c count] [-s snaplen] [-d in|out|inout]"
    ))
}

fn number(opt: &str, v: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, ControlError> {
    (v.parse::<u64>().ok())
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            usage(format!(
                "{opt} takes a number from {} to {}, not {v:?}",
                range.start(),
                range.end()
            ))
        })
}

impl CaptureSpec {
    /// From the words after the verb. `-s 0` means whole frames ([`MAX_SNAPLEN`]).
    pub fn parse(words: &[&str]) -> Result<CaptureSpec, ControlError> {
        let mut pos = Vec::new();
        let (mut count, mut snaplen, mut dirs) = (None, MAX_SNAPLEN, Dirs::BOTH);
        let mut it = words.iter();
        while let Some(w) = it.next() {
            if !w.starts_with('-') || *w == "-" {
                pos.push(*w);
                continue;
            }
            let (opt, inline) = w.split_at(2.min(w.len()));
            if !matches!(opt, "-c" | "-s" | "-d") {
                return Err(usage(match opt {
                    "-w" => "-w is the ctl client's (it writes the file)".into(),
                    _ => format!("unknown option {w}"),
                }));
            }
            let v = match inline {
                "" => *it
                    .next()
                    .ok_or_else(|| usage(format!("{opt} needs a value")))?,
                v => v,
            };
            match opt {
                "-c" => count = Some(number(opt, v, 1..=u64::MAX)?),
                "-s" => match number(opt, v, 0..=MAX_SNAPLEN as u64)? {
                    0 => snaplen = MAX_SNAPLEN,
                    n => snaplen = n as u32,
                },
                "-d" => {
                    dirs = Dirs::parse(v)
                        .ok_or_else(|| usage(format!("-d takes in, out or inout, not {v:?}")))?
                }
                _ => unreachable!("checked above"),
            }
        }
        let [path, hook] = pos[..] else {
            return Err(usage(format!(
                "{} arguments where <path> <hook> go",
                pos.len()
            )));
        };
        Ok(CaptureSpec {
            path: path.to_string(),
            hook: hook.to_string(),
            count,
            snaplen,
            dirs,
        })
    }
}

/// Starts the capture (on the management thread); the reply the client gets first.
pub fn start(
    c: &mut dyn Control,
    spec: &CaptureSpec,
) -> Result<(Arc<Capture>, Reply), ControlError> {
    let cap = (c.graph()).capture_start(&spec.path, &spec.hook, spec.dirs, spec.snaplen)?;
    Ok((Arc::clone(&cap), started(&cap, spec)))
}

/// The reply to a capture that started.
fn started(cap: &Capture, spec: &CaptureSpec) -> Reply {
    let j = json!({
        "capture": cap.point(),
        "direction": spec.dirs.name(),
        "snaplen": cap.snaplen(),
        "count": spec.count,
        "workers": cap.workers(),
    });
    Reply::ok(String::new(), j)
}

/// Why a capture ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// COUNT frames were sent.
    Count,
    /// The client closed the connection or stopped reading (its Ctrl-C, or it went away).
    Client,
    /// The hook went away (rmhook, shutdown, ...).
    HookRemoved,
    /// The daemon is stopping.
    Daemon,
}

impl Ended {
    pub fn name(self) -> &'static str {
        match self {
            Ended::Count => "count",
            Ended::Client => "client",
            Ended::HookRemoved => "hook removed",
            Ended::Daemon => "daemon stopping",
        }
    }
}

/// The end message's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    pub frames: u64,
    pub dropped: u64,
    pub ended: String,
}

impl Trailer {
    pub fn to_json(&self) -> J {
        json!({"frames": self.frames, "dropped": self.dropped, "ended": self.ended})
    }
}

/// Appends a frame message.
pub fn encode_frame(out: &mut Vec<u8>, ts: u64, dir: Dir, data: &[u8], origlen: u32) {
    out.extend_from_slice(&[FRAME, dir as u8, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&origlen.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(data);
}

/// Appends the end message.
pub fn encode_end(out: &mut Vec<u8>, t: &Trailer) {
    let j = t.to_json().to_string();
    out.push(END);
    out.extend_from_slice(&(j.len() as u32).to_le_bytes());
    out.extend_from_slice(j.as_bytes());
}

/// A message as decoded; a frame borrows the decoder's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Msg<'a> {
    Frame {
        ts: u64,
        dir: Dir,
        data: &'a [u8],
        origlen: u32,
    },
    End(Trailer),
}

/// Why the stream is not the framing above.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed capture stream: {0}")]
pub struct StreamError(String);

/// Decodes the messages of the stream from bytes fed as they arrive.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
    at: usize,
}

impl Decoder {
    pub fn feed(&mut self, b: &[u8]) {
        if self.at > 0 && self.at * 2 >= self.buf.len() {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        self.buf.extend_from_slice(b);
    }
    /// Bytes received and not yet decoded.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.at
    }
    /// The next whole message, if it has arrived.
    pub fn next_msg(&mut self) -> Result<Option<Msg<'_>>, StreamError> {
        let b = &self.buf[self.at..];
        let Some(&kind) = b.first() else {
            return Ok(None);
        };
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4"));
        match kind {
            FRAME if b.len() >= FRAME_HEADER => {
                let dir = Dir::from_bits(b[1] as u64)
                    .ok_or_else(|| StreamError(format!("direction {}", b[1])))?;
                let (caplen, origlen) = (u32_at(4) as usize, u32_at(8));
                if caplen > MAX_SNAPLEN as usize {
                    return Err(StreamError(format!("frame of {caplen} bytes")));
                }
                if b.len() < FRAME_HEADER + caplen {
                    return Ok(None);
                }
                let ts = u64::from_le_bytes(b[12..20].try_into().expect("8"));
                let start = self.at + FRAME_HEADER;
                self.at = start + caplen;
                let data = &self.buf[start..start + caplen];
                Ok(Some(Msg::Frame {
                    ts,
                    dir,
                    data,
                    origlen,
                }))
            }
            END if b.len() >= 5 => {
                let n = u32_at(1) as usize;
                if b.len() < 5 + n {
                    return Ok(None);
                }
                let j: J = serde_json::from_slice(&b[5..5 + n])
                    .map_err(|e| StreamError(format!("end message: {e}")))?;
                self.at += 5 + n;
                Ok(Some(Msg::End(Trailer {
                    frames: j["frames"].as_u64().unwrap_or(0),
                    dropped: j["dropped"].as_u64().unwrap_or(0),
                    ended: j["ended"].as_str().unwrap_or("?").to_string(),
                })))
            }
            FRAME | END => Ok(None),
            k => Err(StreamError(format!("message kind {k:#04x}"))),
        }
    }
}

/// What streaming a capture did.
struct Pumped {
    ended: Ended,
    frames: u64,
    dropped: u64,
}

/// Serves one `capture` request on `sock`: `begin` starts it on the management thread (the
/// capture and the reply from [`start`], or the error reply), `end` stops it there; `quit` is
/// set when the daemon stops.
pub fn serve(
    spec: Result<CaptureSpec, ControlError>,
    sock: &UnixStream,
    begin: impl FnOnce(CaptureSpec) -> Result<(Arc<Capture>, Reply), Box<Reply>>,
    end: impl FnOnce(Arc<Capture>),
    quit: &AtomicBool,
) -> io::Result<()> {
    let mut w = sock;
    let spec = match spec {
        Ok(s) => s,
        Err(e) => return writeln!(w, "{}", Reply::err(e.to_string(), e.errno()).to_wire()),
    };
    let count = spec.count;
    let (cap, reply) = match begin(spec) {
        Ok(c) => c,
        Err(r) => return writeln!(w, "{}", r.to_wire()),
    };
    let r = writeln!(w, "{}", reply.to_wire());
    let mut rd = Reader::new(Arc::clone(&cap));
    let mut out = Vec::with_capacity(1 << 16);
    let p = match r {
        Ok(()) => pump(&mut rd, count, sock, quit, &mut out),
        Err(_) => Pumped {
            ended: Ended::Client,
            frames: 0,
            dropped: 0,
        },
    };
    end(cap);
    finish(&mut rd, p, count, sock, &mut out)
}

/// After the capture is stopped: what was still recorded (unless COUNT was reached or the
/// client is gone), then the end message.
fn finish(
    rd: &mut Reader,
    mut p: Pumped,
    count: Option<u64>,
    mut sock: &UnixStream,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    out.clear();
    if p.ended != Ended::Count {
        let mut b = Batch::default();
        rd.drain(&mut b);
        p.frames += encode_batch(&b, count.map(|c| c - p.frames), out);
        // every copy lost until the capture stopped (with COUNT: until the last one needed)
        p.dropped = rd.capture().dropped();
    }
    let t = Trailer {
        frames: p.frames,
        dropped: p.dropped,
        ended: p.ended.name().to_string(),
    };
    encode_end(out, &t);
    sock.write_all(out)?;
    let _ = sock.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// Encodes up to `limit` records of `b` into `out`; returns how many.
fn encode_batch(b: &Batch, limit: Option<u64>, out: &mut Vec<u8>) -> u64 {
    let mut n = 0;
    for (r, data) in b.iter() {
        if limit.is_some_and(|l| n >= l) {
            break;
        }
        let Record {
            ts, dir, origlen, ..
        } = *r;
        encode_frame(out, ts, dir, data, origlen);
        n += 1;
    }
    n
}

/// Drains the rings every [`DRAIN_EVERY`] (or [`DRAIN_BUSY`]) and sends the frames until COUNT, the client
/// leaving, the hook going away or the daemon stopping.
fn pump(
    rd: &mut Reader,
    count: Option<u64>,
    sock: &UnixStream,
    quit: &AtomicBool,
    out: &mut Vec<u8>,
) -> Pumped {
    let mut p = Pumped {
        ended: Ended::Client,
        frames: 0,
        dropped: 0,
    };
    let _ = sock.set_read_timeout(Some(DRAIN_EVERY));
    let mut busy = false;
    let mut b = Batch::default();
    let mut scratch = [0u8; 256];
    loop {
        // read before draining: what the workers recorded before the hook went is sent
        let hook_gone = rd.capture().is_ended();
        rd.drain(&mut b);
        out.clear();
        p.frames += encode_batch(&b, count.map(|c| c - p.frames), out);
        p.dropped = rd.capture().dropped();
        if !out.is_empty() && (&*sock).write_all(out).is_err() {
            p.ended = Ended::Client;
            return p;
        }
        let ended = if count.is_some_and(|c| p.frames >= c) {
            Some(Ended::Count)
        } else if hook_gone {
            Some(Ended::HookRemoved)
        } else if quit.load(Ordering::Relaxed) {
            Some(Ended::Daemon)
        } else {
            None
        };
        if let Some(e) = ended {
            p.ended = e;
            return p;
        }
        let now_busy = b.len() >= BUSY_RECORDS;
        if now_busy != busy {
            busy = now_busy;
            let _ = sock.set_read_timeout(Some(if busy { DRAIN_BUSY } else { DRAIN_EVERY }));
        }
        // the wait: the client sends nothing, so this sleeps until the timeout or its end
        match (&*sock).read(&mut scratch) {
            Ok(0) => return p, // Ended::Client
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return p,
        }
    }
}

/// `HH:MM:SS.nnnnnnnnn` (UTC) of a timestamp in nanoseconds since the UNIX epoch.
pub fn utc_time(ts: u64) -> String {
    let s = ts / 1_000_000_000;
    format!(
        "{:02}:{:02}:{:02}.{:09}",
        s / 3600 % 24,
        s / 60 % 60,
        s % 60,
        ts % 1_000_000_000
    )
}

fn ethertype_name(t: u16) -> Option<&'static str> {
    match t {
        EtherType::IPV4 => Some("IPv4"),
        EtherType::ARP => Some("ARP"),
        EtherType::IPV6 => Some("IPv6"),
        EtherType::VLAN => Some("802.1Q"),
        EtherType::QINQ => Some("802.1ad"),
        _ => None,
    }
}

/// What a frame's header says.
struct EthHeader {
    dst: MacAddr,
    src: MacAddr,
    /// VLAN tags as (TPID, TCI).
    tags: Vec<(u16, u16)>,
    /// The EtherType after the tags (None: cut by the snap length).
    ty: Option<u16>,
}

fn header(data: &[u8]) -> Option<EthHeader> {
    let be = |i: usize| Some(u16::from_be_bytes(data.get(i..i + 2)?.try_into().ok()?));
    let (dst, src) = (
        MacAddr::from_bytes(data.get(0..6)?),
        MacAddr::from_bytes(data.get(6..12)?),
    );
    let (mut at, mut tags) = (12, Vec::new());
    let mut ty = be(at);
    while let Some(t @ (EtherType::VLAN | EtherType::QINQ)) = ty {
        let Some(tci) = be(at + 2) else { break };
        tags.push((t, tci));
        at += 4;
        ty = be(at);
    }
    Some(EthHeader { dst, src, tags, ty })
}

/// One line for a frame: UTC time, direction, MACs, VLAN tags, EtherType, length.
pub fn frame_line(ts: u64, dir: Dir, data: &[u8], origlen: u32) -> String {
    let mut s = format!("{} {:<3} ", utc_time(ts), dir.name());
    match header(data) {
        Some(EthHeader { dst, src, tags, ty }) => {
            s += &format!("{src} > {dst}");
            for (tpid, tci) in tags {
                let name = ethertype_name(tpid).unwrap_or("tag");
                s += &format!(", {name} vlan {} p {}", tci & 0xfff, tci >> 13);
            }
            match ty {
                Some(t) => match ethertype_name(t) {
                    Some(n) => s += &format!(", ethertype {n} ({t:#06x})"),
                    None => s += &format!(", ethertype {t:#06x}"),
                },
                None => s += ", ethertype ?",
            }
        }
        None => s += "(too short for an Ethernet header)",
    }
    s += &format!(", length {origlen}");
    if data.len() < origlen as usize {
        s += &format!(" (captured {})", data.len());
    }
    s
}

/// The same as JSON.
pub fn frame_json(ts: u64, dir: Dir, data: &[u8], origlen: u32) -> J {
    let mut j = json!({"ts": ts, "time": utc_time(ts), "dir": dir.name(),
        "length": origlen, "caplen": data.len()});
    if let Some(EthHeader { dst, src, tags, ty }) = header(data) {
        j["src"] = json!(src.to_string());
        j["dst"] = json!(dst.to_string());
        let v: Vec<J> = (tags.iter())
            .map(|(tpid, tci)| json!({"tpid": tpid, "vid": tci & 0xfff, "pcp": tci >> 13}))
            .collect();
        if !v.is_empty() {
            j["vlans"] = J::Array(v);
        }
        j["ethertype"] = json!(ty);
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let s = CaptureSpec::parse(&["br0:", "link1"]).unwrap();
        assert_eq!(
            (s.count, s.snaplen, s.dirs),
            (None, MAX_SNAPLEN, Dirs::BOTH)
        );
        let s = CaptureSpec::parse(&["br0:", "link1", "-c", "5", "-s20", "-d", "in"]).unwrap();
        assert_eq!((s.count, s.snaplen, s.dirs), (Some(5), 20, Dirs::IN));
        assert_eq!(
            CaptureSpec::parse(&["a:", "b", "-s", "0"]).unwrap().snaplen,
            MAX_SNAPLEN
        );
        for (bad, why) in [
            (&["a:"][..], "1 arguments"),
            (&["a:", "b", "c"][..], "3 arguments"),
            (&["a:", "b", "-c", "0"][..], "-c takes a number"),
            (&["a:", "b", "-c"][..], "-c needs a value"),
            (&["a:", "b", "-s", "x"][..], "-s takes a number"),
            (&["a:", "b", "-s", "262145"][..], "-s takes a number"),
            (&["a:", "b", "-d", "up"][..], "-d takes in, out or inout"),
            (&["a:", "b", "-x"][..], "unknown option -x"),
            (&["a:", "b", "-w", "f"][..], "-w is the ctl client's"),
        ] {
            let e = CaptureSpec::parse(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad:?}: {e}");
            assert_eq!(e.errno(), crate::errno::Errno::EINVAL);
        }
    }

    #[test]
    fn framing_round_trip_in_pieces() {
        let mut b = Vec::new();
        encode_frame(&mut b, 1_700_000_000_000_000_001, Dir::In, &[1, 2, 3], 60);
        encode_frame(&mut b, 1_700_000_000_000_000_002, Dir::Out, &[], 0);
        let t = Trailer {
            frames: 2,
            dropped: 7,
            ended: "count".into(),
        };
        encode_end(&mut b, &t);
        assert_eq!(
            b[..FRAME_HEADER],
            [b'F', 1, 0, 0, 3, 0, 0, 0, 60, 0, 0, 0, 1, 0, 42, 54, 254, 156, 151, 23]
        );
        // fed a byte at a time, every message comes out whole
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for byte in &b {
            d.feed(std::slice::from_ref(byte));
            while let Some(m) = d.next_msg().unwrap() {
                got.push(format!("{m:?}"));
            }
        }
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got[0].contains("data: [1, 2, 3], origlen: 60"),
            "{}",
            got[0]
        );
        assert!(got[1].contains("dir: Out"), "{}", got[1]);
        assert_eq!(got[2], format!("{:?}", Msg::End(t)));
        assert_eq!(d.pending(), 0);
        let mut d = Decoder::default();
        d.feed(b"X");
        assert!(d.next_msg().is_err());
    }

    #[test]
    fn lines_for_frames() {
        let mut f = crate::dataplane::mem::eth(2, 1);
        let l = frame_line(3_600_000_000_123 + 86_400_000_000_000, Dir::Out, &f, 64);
        assert_eq!(
            l,
            "01:00:00.000000123 out 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 64"
        );
        f.splice(12..12, [0x81, 0x00, 0x20, 0x0a]);
        let l = frame_line(0, Dir::In, &f[..20], 68);
        assert!(
            l.ends_with("802.1Q vlan 10 p 1, ethertype IPv4 (0x0800), length 68 (captured 20)"),
            "{l}"
        );
        assert!(frame_line(0, Dir::In, &f[..5], 68).contains("too short"));
        let j = frame_json(5, Dir::In, &f, 68);
        assert_eq!(j["vlans"][0]["vid"], 10);
        assert_eq!(j["ethertype"], 0x0800);
        assert_eq!(j["dir"], "in");
    }
}
