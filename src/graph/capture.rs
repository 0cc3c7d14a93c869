//! Packet capture on a hook (`xdpgraph ctl capture`): copies of the frames that cross one hook,
//! taken by the workers as bursts cross it and read by one consumer thread.
//!
//! A [`Capture`] has one ring per worker (`sys::spsc::Ring`: single producer, that worker;
//! single consumer; variable-length records in plain memory, the burst's records published
//! together). A burst that crosses the hook writes one **timestamp record**, read once per
//! burst (the frames of a burst share their burst's time): the CPU's time-stamp counter where
//! it is a clock (`sys::cpu::tsc_is_clock`; 13 ns a read here against 32 for
//! `clock_gettime`), which the [`Reader`] turns into nanoseconds since the UNIX epoch
//! (CLOCK_REALTIME) with pairs of both clocks it reads itself; elsewhere CLOCK_REALTIME
//! itself. Then it writes one record per frame: an 8-byte header (the bytes kept, the frame's
//! original length, the direction: 1 = in, entering the node through the hook; 2 = out,
//! leaving by it) and the first `snaplen` bytes of the frame — 72 bytes for a 64-byte frame.
//!
//! A record that does not fit is not written: the worker counts a **dropped copy** in that
//! ring's counter and goes on (it never blocks, and the frame itself is not touched: a dropped
//! copy is not a frame drop). A frame with an out-of-band VLAN tag (`VTAG_PRESENT`) is recorded
//! as it would leave on the wire, with an 802.1Q tag after the MAC addresses.
//!
//! Which captures a burst feeds is part of the published snapshot: `SnapHook::taps` holds the
//! captures of that hook that take `out` and those of its peer that take `in`, so the worker
//! checks one `Option` per burst per hook crossing and copies only when captures are on. The
//! model keeps the captures per hook uid ([`Graph::capture_start`], [`Graph::capture_stop`]);
//! starting or stopping one is an edit (the two nodes rebuilt, a snapshot published), and the
//! old snapshot with its `Arc<Capture>` is reclaimed through the epoch, so a worker never writes
//! into a freed ring. Removing the hook ends its captures ([`Capture::is_ended`]).
//!
//! [`Reader`] is the consumer's side: it drains every worker's ring, merges the records by
//! timestamp, and keeps the timestamps it hands out non-decreasing (a record of one worker that
//! is published after a later one of another, or a step of the realtime clock, is stamped with
//! the last time handed out).

use super::node::HookState;
use super::snapshot::Taps;
use super::{Graph, GraphError, NodeId};
use crate::buf::{Frame, Pool};
use crate::frame::{CHAINED, VTAG_PRESENT};
use crate::sys::cpu::{tsc, tsc_is_clock};
use crate::sys::netdev::realtime_ns;
use crate::sys::spsc::{Ring, Writer};
use crate::wire::EtherType;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::Arc;

/// Bytes of ring per worker per capture (1 MiB: about 14,500 records of 64-byte frames, 72
/// bytes each with a 16-byte timestamp record per burst; 686 of 1514-byte ones). The control
/// server drains it every 5 ms, every 1 ms while it fills fast: about 14 Mpps of 64-byte
/// frames, or 686 kpps of 1514-byte ones, per worker before copies are dropped. A larger ring
/// (4 MiB was the first) holds more but cost the worker more: it does not stay in the caches
/// (bench/graph.rs, paired runs: 0.75-0.86x the bridge's throughput without a capture, against
/// 0.93-1.00x with 1 MiB; docs/BENCHMARKS.md, "Capture cost").
pub const RING_BYTES: usize = 1 << 20;

/// The largest snap length (libpcap's `MAXIMUM_SNAPLEN`).
pub const MAX_SNAPLEN: u32 = 262_144;

/// Which way a frame crossed the hook. The values are pcapng's `epb_flags` direction bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Dir {
    /// Entering the capture's node through the hook (inbound).
    In = 1,
    /// Leaving the capture's node by the hook (outbound).
    Out = 2,
}

impl Dir {
    pub fn name(self) -> &'static str {
        match self {
            Dir::In => "in",
            Dir::Out => "out",
        }
    }
    pub fn from_bits(b: u64) -> Option<Dir> {
        match b {
            1 => Some(Dir::In),
            2 => Some(Dir::Out),
            _ => None,
        }
    }
}

/// The directions a capture takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dirs(u8);

impl Dirs {
    pub const IN: Dirs = Dirs(Dir::In as u8);
    pub const OUT: Dirs = Dirs(Dir::Out as u8);
    pub const BOTH: Dirs = Dirs(Dir::In as u8 | Dir::Out as u8);

    pub fn has(self, d: Dir) -> bool {
        self.0 & d as u8 != 0
    }
    /// `in`, `out` or `inout`.
    pub fn parse(s: &str) -> Option<Dirs> {
        match s {
            "in" => Some(Dirs::IN),
            "out" => Some(Dirs::OUT),
            "inout" => Some(Dirs::BOTH),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "in",
            2 => "out",
            _ => "inout",
        }
    }
}

/// One capture point: the frames crossing one hook, in the directions asked for.
pub struct Capture {
    point: String,
    node: NodeId,
    hook: String,
    hook_uid: u64,
    dirs: Dirs,
    snaplen: u32,
    rings: Box<[Ring]>,
    ended: AtomicBool,
    /// With the time-stamp counter as the workers' clock: both clocks when the capture began
    /// (else the workers stamp CLOCK_REALTIME nanoseconds).
    tsc: Option<Anchor>,
}

/// A reading of the time-stamp counter and of CLOCK_REALTIME taken together.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    tsc: u64,
    real: u64,
}

impl Anchor {
    /// Both clocks, from the closest of a few tries (a read interrupted between the two is
    /// not kept): the counter at the middle of the realtime read.
    fn now() -> Anchor {
        let mut best = (u64::MAX, Anchor { tsc: 0, real: 0 });
        for _ in 0..4 {
            let t0 = tsc();
            let real = realtime_ns();
            let t1 = tsc();
            let took = t1.wrapping_sub(t0);
            if took < best.0 {
                best = (
                    took,
                    Anchor {
                        tsc: t0.wrapping_add(took / 2),
                        real,
                    },
                );
            }
        }
        best.1
    }
}

impl Capture {
    /// A capture named `point` (e.g. `br0:link1`) with one ring of `ring_bytes` per worker.
    pub fn new(point: &str, dirs: Dirs, snaplen: u32, workers: usize, ring_bytes: usize) -> Self {
        Capture {
            point: point.to_string(),
            node: 0,
            hook: String::new(),
            hook_uid: 0,
            dirs,
            snaplen: snaplen.clamp(1, MAX_SNAPLEN),
            rings: (0..workers.max(1))
                .map(|_| Ring::new(ring_bytes / 8))
                .collect(),
            ended: AtomicBool::new(false),
            tsc: None,
        }
    }

    /// Has the workers stamp bursts with the time-stamp counter, which the reader converts
    /// (where the counter is a clock; else nothing changes). Before the capture is shared.
    pub fn stamp_with_tsc(&mut self) {
        if tsc_is_clock() {
            self.tsc = Some(Anchor::now());
        }
    }

    /// The time a worker stamps a burst with (see [`Capture::record_burst`]): the time-stamp
    /// counter after [`Capture::stamp_with_tsc`], else CLOCK_REALTIME nanoseconds.
    #[inline]
    pub fn stamp(&self) -> u64 {
        match self.tsc {
            Some(_) => tsc(),
            None => realtime_ns(),
        }
    }

    /// `node:hook`, as given when it started (the node's name, or its ID).
    pub fn point(&self) -> &str {
        &self.point
    }
    pub fn dirs(&self) -> Dirs {
        self.dirs
    }
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }
    /// The unique ID of the captured hook.
    pub fn hook_uid(&self) -> u64 {
        self.hook_uid
    }
    /// Workers (one ring each).
    pub fn workers(&self) -> usize {
        self.rings.len()
    }
    /// Copies the workers could not write because the reader had not kept up (summed).
    pub fn dropped(&self) -> u64 {
        self.rings.iter().map(Ring::dropped).sum()
    }
    /// Whether the hook went away (rmhook, shutdown, a splice): no more frames will come.
    pub fn is_ended(&self) -> bool {
        self.ended.load(Acquire)
    }
    pub(super) fn end(&self) {
        self.ended.store(true, Release);
    }

    /// Worker `w`: records a copy of frame bytes `data` (with out-of-band tag `vtag`) that
    /// crossed the hook going `dir`, stamped `ts`; the first `snaplen` bytes are kept.
    /// (One frame; a burst goes through [`Capture::record_burst`].)
    pub fn record(&self, w: usize, ts: u64, dir: Dir, data: &[u8], vtag: u32) {
        if let Some(mut wr) = self.writer(w, ts, dir) {
            wr.record_tagged(data, vtag);
        }
    }

    /// Worker `w`: records copies of the frames of a burst (in `pool`) that crossed the hook
    /// going `dir` at `ts`: one timestamp record, then per frame one header word and its
    /// bytes; one publication. A frame with an out-of-band tag, or chained, takes a slower
    /// path (the tag inserted; the segments laid out whole in a per-thread scratch buffer).
    #[inline]
    pub fn record_burst(&self, w: usize, ts: u64, dir: Dir, pool: &Pool, frames: &[Frame]) {
        let Some(mut wr) = self.writer(w, ts, dir) else {
            return;
        };
        if wr.lost {
            return wr.ring.count_dropped(frames.len() as u64);
        }
        let (snap, kind) = (wr.snaplen, wr.kind);
        let special = frames.iter().fold(0, |a, f| a | f.vtag) & (VTAG_PRESENT | CHAINED);
        if special == 0 {
            // every frame one segment with no out-of-band tag (the common burst): each record
            // its length (below ORIGLEN_MAX: one chunk) and its first `snap` bytes
            let mem = pool.bytes();
            return wr.ring.push_all(frames, |f| {
                let (at, len) = (f.addr as usize, f.len as usize);
                (kind | f.len, &mem[at..at + len.min(snap)])
            });
        }
        wr.ring.push_each(
            frames,
            |f| {
                // the common frame: one segment, no out-of-band tag
                (f.vtag & (VTAG_PRESENT | CHAINED) == 0).then(|| {
                    let d = pool.data(f);
                    (
                        kind | d.len().min(ORIGLEN_MAX) as u32,
                        &d[..d.len().min(snap)],
                    )
                })
            },
            |ring, f| push_special(ring, snap, kind, pool, f),
        );
    }

    /// Worker `w`'s writer for a burst of copies going `dir` at `ts` (`None` for a worker the
    /// capture has no ring for, or while another writer is open on its ring): see
    /// `sys::spsc::Ring::writer`. It writes the burst's timestamp record first.
    #[inline]
    pub fn writer(&self, w: usize, ts: u64, dir: Dir) -> Option<CaptureWriter<'_>> {
        let mut ring = self.rings.get(w)?.writer()?;
        let lost = !ring.push_uncounted(KIND_TS, &ts.to_le_bytes());
        Some(CaptureWriter {
            snaplen: self.snaplen as usize,
            kind: (dir as u32) << KIND_SHIFT,
            lost,
            ring,
        })
    }
}

/// A record's tag: its kind in the top two bits ([`KIND_TS`], or a [`Dir`]: a frame), a
/// frame's original length in the others (at most [`ORIGLEN_MAX`]).
const KIND_SHIFT: u32 = 30;
/// The kind of a burst's timestamp record (8 bytes, little-endian nanoseconds): the frames
/// after it in the ring, up to the next one, crossed the hook at that time.
const KIND_TS: u32 = 0;
/// The largest original length a record keeps (larger frames are recorded with this).
const ORIGLEN_MAX: usize = (1 << KIND_SHIFT) - 1;

/// A burst of copies into one worker's ring of a [`Capture`].
pub struct CaptureWriter<'a> {
    snaplen: usize,
    /// The direction, as a record's kind bits.
    kind: u32,
    /// The burst's timestamp record did not fit: its frames are dropped copies.
    lost: bool,
    ring: Writer<'a>,
}

impl CaptureWriter<'_> {
    /// Records a copy of frame bytes `data` (no out-of-band tag); the first `snaplen` bytes
    /// are kept.
    #[inline(always)]
    pub fn record(&mut self, data: &[u8]) {
        if self.lost {
            return self.ring.count_dropped(1);
        }
        self.put(data)
    }

    /// [`CaptureWriter::record`] in a burst whose timestamp record was written.
    #[inline(always)]
    fn put(&mut self, data: &[u8]) {
        let tag = self.kind | data.len().min(ORIGLEN_MAX) as u32;
        self.ring.push(tag, &data[..data.len().min(self.snaplen)]);
    }

    /// Records a copy of frame bytes `data` with out-of-band tag `vtag` (none unless
    /// `VTAG_PRESENT`): the tag as it would leave on the wire, after the MAC addresses.
    pub fn record_tagged(&mut self, data: &[u8], vtag: u32) {
        if self.lost {
            return self.ring.count_dropped(1);
        }
        push_tagged(&mut self.ring, self.snaplen, self.kind, data, vtag);
    }
}

/// Writes the record of frame `f` with an out-of-band tag, or chained (see
/// [`Capture::record_burst`]): `snap` bytes kept, `kind` its direction's bits.
#[cold]
#[inline(never)]
fn push_special(ring: &mut Writer<'_>, snap: usize, kind: u32, pool: &Pool, f: &Frame) {
    if !f.is_chained() {
        return push_tagged(ring, snap, kind, pool.data(f), f.vtag);
    }
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        s.resize(f.len as usize, 0);
        let n = pool.read_at(f, 0, &mut s);
        push_tagged(ring, snap, kind, &s[..n], f.vtag);
    })
}

/// Writes the record of frame bytes `data` with out-of-band tag `vtag` (none unless
/// `VTAG_PRESENT`): the tag as it would leave on the wire, after the MAC addresses.
fn push_tagged(ring: &mut Writer<'_>, snap: usize, kind: u32, data: &[u8], vtag: u32) {
    if vtag & VTAG_PRESENT == 0 || data.len() < 12 {
        let tag = kind | data.len().min(ORIGLEN_MAX) as u32;
        ring.push(tag, &data[..data.len().min(snap)]);
        return;
    }
    let mut head = [0u8; 16];
    head[..12].copy_from_slice(&data[..12]);
    head[12..14].copy_from_slice(&EtherType::VLAN.to_be_bytes());
    head[14..16].copy_from_slice(&(vtag as u16).to_be_bytes());
    let orig = data.len() + 4;
    let cap = orig.min(snap);
    let (h, r) = if cap <= 16 {
        (&head[..cap], &data[..0])
    } else {
        (&head[..], &data[12..cap - 4])
    };
    ring.push2(kind | orig.min(ORIGLEN_MAX) as u32, h, r);
}

/// A record handed out by a [`Reader`]; its bytes are in the [`Batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Nanoseconds since the UNIX epoch, non-decreasing across a reader's records.
    pub ts: u64,
    pub dir: Dir,
    pub origlen: u32,
    off: usize,
    len: u32,
}

/// What one [`Reader::drain`] read, in time order.
#[derive(Default)]
pub struct Batch {
    recs: Vec<Record>,
    bytes: Vec<u8>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.recs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }
    /// The records with their bytes (the first `caplen`).
    pub fn iter(&self) -> impl Iterator<Item = (&Record, &[u8])> + '_ {
        (self.recs.iter()).map(|r| (r, &self.bytes[r.off..r.off + r.len as usize]))
    }
    fn clear(&mut self) {
        self.recs.clear();
        self.bytes.clear();
    }
}

/// The consumer of a capture: drains every worker's ring, in time order.
pub struct Reader {
    cap: Arc<Capture>,
    last_ts: u64,
    /// Each ring's last timestamp record.
    ring_ts: Vec<u64>,
    /// With time-stamp counter stamps: the clocks as read at the last drain (or the start).
    prev: Option<Anchor>,
}

impl Reader {
    pub fn new(cap: Arc<Capture>) -> Reader {
        let ring_ts = vec![0; cap.rings.len()];
        let prev = cap.tsc;
        Reader {
            cap,
            last_ts: 0,
            ring_ts,
            prev,
        }
    }
    pub fn capture(&self) -> &Arc<Capture> {
        &self.cap
    }
    /// Replaces `b`'s contents with every record published now, ordered by timestamp, and
    /// returns how many.
    pub fn drain(&mut self, b: &mut Batch) -> usize {
        b.clear();
        let mut rings_with = 0;
        for (ring, cur) in self.cap.rings.iter().zip(self.ring_ts.iter_mut()) {
            let Batch { recs, bytes } = b;
            let before = recs.len();
            ring.drain(|tag, data| {
                let dir = match tag >> KIND_SHIFT {
                    KIND_TS => {
                        *cur = u64::from_le_bytes(data.try_into().unwrap_or_default());
                        return;
                    }
                    1 => Dir::In,
                    _ => Dir::Out,
                };
                recs.push(Record {
                    ts: *cur,
                    dir,
                    origlen: tag & ORIGLEN_MAX as u32,
                    off: bytes.len(),
                    len: data.len() as u32,
                });
                bytes.extend_from_slice(data);
            });
            rings_with += (recs.len() > before) as usize;
        }
        if rings_with > 1 {
            b.recs.sort_by_key(|r| r.ts); // stable: each worker's order is kept
        }
        if !b.recs.is_empty() {
            self.stamps_to_realtime(&mut b.recs);
        }
        for r in b.recs.iter_mut() {
            r.ts = r.ts.max(self.last_ts);
            self.last_ts = r.ts;
        }
        b.recs.len()
    }
}

impl Reader {
    /// Turns time-stamp counter stamps into CLOCK_REALTIME nanoseconds: the counter's rate
    /// over the capture's life so far (at least a millisecond: the first drain waits for it),
    /// from the clocks as read at the previous drain (so a step of the realtime clock shows
    /// from the next drain on). Every record drained now was stamped before this drain read
    /// the clocks; most after the previous drain did.
    fn stamps_to_realtime(&mut self, recs: &mut [Record]) {
        let (Some(start), Some(prev)) = (self.cap.tsc, self.prev) else {
            return;
        };
        let mut now = Anchor::now();
        let min = 1_000_000u64;
        if now.real.saturating_sub(start.real) < min {
            let left = min - now.real.saturating_sub(start.real);
            std::thread::sleep(std::time::Duration::from_nanos(left));
            now = Anchor::now();
        }
        let ticks = now.tsc.saturating_sub(start.tsc).max(1) as f64;
        let ns_per_tick = now.real.saturating_sub(start.real) as f64 / ticks;
        // (i64 and f64: a conversion from i128 is a call per record; counter values and
        // nanoseconds since 1970 are far below 2^63)
        let (t0, r0) = (prev.tsc as i64, prev.real as i64);
        for r in recs.iter_mut() {
            let d = (r.ts as i64).wrapping_sub(t0) as f64 * ns_per_tick;
            r.ts = r0.saturating_add(d as i64).max(0) as u64;
        }
        self.prev = Some(now);
    }
}

impl Graph {
    /// Starts capturing the frames that cross hook `hook` of the node at `path` in directions
    /// `dirs`, keeping the first `snaplen` bytes of each (1..=[`MAX_SNAPLEN`]). An edit: the
    /// capture is in the published snapshot when this returns. Fails with ENOENT for an unknown
    /// node or hook, EINVAL for a bad snap length.
    pub fn capture_start(
        &mut self,
        path: &str,
        hook: &str,
        dirs: Dirs,
        snaplen: u32,
    ) -> Result<Arc<Capture>, GraphError> {
        self.capture_start_sized(path, hook, dirs, snaplen, RING_BYTES)
    }

    /// [`Graph::capture_start`] with rings of `ring_bytes` per worker.
    pub fn capture_start_sized(
        &mut self,
        path: &str,
        hook: &str,
        dirs: Dirs,
        snaplen: u32,
        ring_bytes: usize,
    ) -> Result<Arc<Capture>, GraphError> {
        let id = self.resolve(path)?;
        let Some(h) = self.nodes[&id].hooks.get(hook) else {
            return Err(GraphError::NoHook {
                node: self.label(id),
                hook: hook.to_string(),
            });
        };
        if !(1..=MAX_SNAPLEN).contains(&snaplen) {
            return Err(GraphError::Refused(format!(
                "snap length {snaplen}: must be 1..{MAX_SNAPLEN}"
            )));
        }
        let (uid, peer) = (h.state.uid, h.peer_node);
        let point = format!("{}{hook}", self.label(id));
        let mut c = Capture::new(&point, dirs, snaplen, self.sh.cfg.workers, ring_bytes);
        c.stamp_with_tsc();
        (c.node, c.hook, c.hook_uid) = (id, hook.to_string(), uid);
        let c = Arc::new(c);
        self.captures.entry(uid).or_default().push(Arc::clone(&c));
        self.dirty.insert(id);
        self.dirty.insert(peer);
        self.publish();
        Ok(c)
    }

    /// Stops a capture (an edit, published before this returns; the workers may still write
    /// into its rings until they leave the bursts they are in). Returns whether it was running:
    /// a capture whose hook went away was stopped then.
    pub fn capture_stop(&mut self, c: &Arc<Capture>) -> bool {
        let Some(list) = self.captures.get_mut(&c.hook_uid) else {
            return false;
        };
        let before = list.len();
        list.retain(|x| !Arc::ptr_eq(x, c));
        if list.len() == before {
            return false;
        }
        if list.is_empty() {
            self.captures.remove(&c.hook_uid);
        }
        let peer = (self.nodes.get(&c.node))
            .and_then(|n| n.hooks.get(&c.hook))
            .filter(|h| h.state.uid == c.hook_uid)
            .map(|h| h.peer_node);
        if let Some(peer) = peer {
            self.dirty.insert(c.node);
            self.dirty.insert(peer);
            self.publish();
        }
        true
    }

    /// The captures running now.
    pub fn captures(&self) -> Vec<Arc<Capture>> {
        self.captures.values().flatten().cloned().collect()
    }

    /// Whether a capture is on the hook with unique ID `uid`.
    pub fn is_captured(&self, uid: u64) -> bool {
        self.captures.contains_key(&uid)
    }

    /// The hook with unique ID `uid` went away: its captures end.
    pub(super) fn end_captures(&mut self, uid: u64) {
        for c in self.captures.remove(&uid).into_iter().flatten() {
            c.end();
        }
    }

    /// What a burst leaving by hook `own` (into `peer`) feeds: the captures of `own` taking
    /// `out`, and those of `peer` taking `in`.
    pub(super) fn taps_for(&self, own: &HookState, peer: &HookState) -> Option<Taps> {
        if self.captures.is_empty() {
            return None;
        }
        let outs = (self.captures.get(&own.uid).into_iter().flatten())
            .filter(|c| c.dirs.has(Dir::Out))
            .map(|c| (Arc::clone(c), Dir::Out));
        let ins = (self.captures.get(&peer.uid).into_iter().flatten())
            .filter(|c| c.dirs.has(Dir::In))
            .map(|c| (Arc::clone(c), Dir::In));
        let v: Vec<_> = outs.chain(ins).collect();
        (!v.is_empty()).then(|| v.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(seed: u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (seed.wrapping_mul(31) as usize + i * 7) as u8)
            .collect()
    }

    /// (caplen, origlen, bytes) of every frame record in worker `w`'s ring.
    fn read_all(c: &Capture, w: usize) -> Vec<((u32, u32), Vec<u8>)> {
        let mut out = Vec::new();
        c.rings[w].drain(|tag, b| {
            if tag >> KIND_SHIFT != KIND_TS {
                out.push(((b.len() as u32, tag & ORIGLEN_MAX as u32), b.to_vec()));
            }
        });
        out
    }

    /// Stamps taken with the time-stamp counter come out as CLOCK_REALTIME nanoseconds: each
    /// within a millisecond of the realtime clock read beside it, in order, across drains.
    #[test]
    fn counter_stamps_come_out_as_realtime() {
        let mut c = Capture::new("x:y", Dirs::BOTH, MAX_SNAPLEN, 1, 1 << 16);
        c.stamp_with_tsc();
        if c.tsc.is_none() {
            eprintln!("the time-stamp counter is not a clock here: stamps stay CLOCK_REALTIME");
        }
        let c = Arc::new(c);
        let mut pool = Pool::heap(4, 2048, 256);
        let f = [pool.frame_from(&bytes(1, 64)).unwrap()];
        let mut rd = Reader::new(Arc::clone(&c));
        let mut b = Batch::default();
        let mut last = 0;
        for round in 0..3 {
            let mut beside = Vec::new();
            for _ in 0..4 {
                beside.push(realtime_ns());
                c.record_burst(0, c.stamp(), Dir::In, &pool, &f);
                std::thread::sleep(std::time::Duration::from_micros(300));
            }
            assert_eq!(rd.drain(&mut b), 4, "round {round}");
            for ((r, _), want) in b.iter().zip(&beside) {
                let off = r.ts as i64 - *want as i64;
                assert!(
                    off.abs() < 1_000_000,
                    "round {round}: {} ns from the clock",
                    off
                );
                assert!(r.ts >= last, "in order");
                last = r.ts;
            }
        }
    }

    #[test]
    fn snaplen_and_out_of_band_tags() {
        let c = Capture::new("x:y", Dirs::BOTH, 20, 2, 4096);
        let f = bytes(5, 60);
        c.record(1, 7, Dir::In, &f, 0);
        c.record(1, 8, Dir::Out, &f, VTAG_PRESENT | 0x200a);
        c.record(0, 9, Dir::Out, &f[..14], VTAG_PRESENT | 10);
        let got = read_all(&c, 1);
        assert_eq!(got[0].0, (20, 60));
        assert_eq!(got[0].1, f[..20]);
        assert_eq!(got[1].0, (20, 64));
        let mut tagged = f[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x20, 0x0a]);
        tagged.extend_from_slice(&f[12..16]);
        assert_eq!(got[1].1, tagged);
        let got = read_all(&c, 0);
        assert_eq!(got[0].0, (18, 18));
        assert_eq!(&got[0].1[12..18], &[0x81, 0x00, 0x00, 0x0a, f[12], f[13]]);
        // whole frames with a large snap length
        let c = Capture::new("x:y", Dirs::BOTH, MAX_SNAPLEN, 1, 4096);
        c.record(0, 1, Dir::In, &f, VTAG_PRESENT | 3);
        let got = read_all(&c, 0);
        assert_eq!((got[0].0, got[0].1.len()), ((64, 64), 64));
        assert_eq!(&got[0].1[16..], &f[12..]);
    }

    #[test]
    fn a_burst_shares_one_timestamp_and_keeps_tags_and_chains() {
        let mut pool = Pool::heap(16, 2048, 256);
        let (plain, jumbo) = (bytes(1, 64), bytes(2, 5000));
        let mut tagged = pool.frame_from(&bytes(3, 60)).unwrap();
        tagged.vtag = VTAG_PRESENT | 7;
        let frames = [
            pool.frame_from(&plain).unwrap(),
            tagged,
            pool.frame_from(&jumbo).unwrap(),
        ];
        assert!(frames[2].is_chained());
        let c = Arc::new(Capture::new("x:y", Dirs::BOTH, MAX_SNAPLEN, 1, 1 << 16));
        c.record_burst(0, 41, Dir::Out, &pool, &frames);
        c.record_burst(0, 42, Dir::In, &pool, &frames[..1]);
        let mut rd = Reader::new(Arc::clone(&c));
        let mut b = Batch::default();
        assert_eq!(rd.drain(&mut b), 4);
        let got: Vec<_> = b.iter().map(|(r, d)| (r.ts, r.dir, r.origlen, d)).collect();
        let mut t = bytes(3, 60);
        t.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
        assert_eq!(got[0], (41, Dir::Out, 64, &plain[..]));
        assert_eq!(got[1], (41, Dir::Out, 64, &t[..]));
        assert_eq!(got[2], (41, Dir::Out, 5000, &jumbo[..]));
        assert_eq!(got[3], (42, Dir::In, 64, &plain[..]));
        assert_eq!(c.dropped(), 0);
        // a full ring (64 words; a timestamp takes 2, a 64-byte frame 9): the copies that do
        // not fit are counted, also in a burst whose timestamp did not fit; never the frames
        let c = Arc::new(Capture::new("x:y", Dirs::BOTH, MAX_SNAPLEN, 1, 512));
        c.record_burst(0, 1, Dir::Out, &pool, &[frames[0]; 7]);
        assert_eq!(c.dropped(), 1);
        c.record_burst(0, 2, Dir::Out, &pool, &[frames[0], frames[2]]);
        assert_eq!(c.dropped(), 3);
        for ts in 3..7 {
            c.record_burst(0, ts, Dir::Out, &pool, &frames[..1]);
        }
        assert_eq!(c.dropped(), 7, "the last burst's timestamp did not fit");
        let mut rd = Reader::new(Arc::clone(&c));
        assert_eq!(rd.drain(&mut b), 6);
        assert!(b.iter().all(|(r, d)| r.ts == 1 && d == &plain[..]));
        c.record_burst(0, 9, Dir::Out, &pool, &frames[..1]);
        assert_eq!(rd.drain(&mut b), 1);
        assert_eq!(b.iter().next().unwrap().0.ts, 9);
    }

    #[test]
    fn the_reader_merges_workers_in_time_order() {
        let c = Arc::new(Capture::new("x:y", Dirs::BOTH, 100, 3, 4096));
        for (w, ts) in [(0, 5), (1, 1), (2, 3), (0, 6), (1, 2), (2, 4)] {
            c.record(w, ts, Dir::In, &bytes(ts, 10), 0);
        }
        let mut rd = Reader::new(Arc::clone(&c));
        let mut b = Batch::default();
        assert_eq!(rd.drain(&mut b), 6);
        let ts: Vec<u64> = b.iter().map(|(r, _)| r.ts).collect();
        assert_eq!(ts, [1, 2, 3, 4, 5, 6]);
        for (r, d) in b.iter() {
            assert_eq!(d, bytes(r.ts, 10));
        }
        // a late record older than what was handed out is stamped no earlier
        c.record(1, 2, Dir::Out, &bytes(2, 10), 0);
        assert_eq!(rd.drain(&mut b), 1);
        assert_eq!(b.iter().next().unwrap().0.ts, 6);
    }
}
