//! The kernel-timestamped engine and receiver (`--engine packet`, `--rx-engine packet`): the
//! generator's latency probe.
//!
//! Frames leave through an AF_PACKET socket, one `send` per frame at its due time (frames
//! late by less than a millisecond go out one after another until the schedule is met; later
//! than that, the schedule moves on instead of catching up with a burst), and arrive on
//! another (an AF_PACKET receive ring); the kernel stamps each as the sending driver takes it
//! and as the receiving stack takes it in (`sys::tstamp`). Latency is the difference of the
//! two kernel stamps of the same sequence number, so neither our sender's nor our receiver's
//! scheduling is in it: what remains is the path between the two interfaces (for the lab,
//! the forwarder).
//! One syscall per frame: up to a few hundred kpps, which latency runs do not need more of.
//!
//! Stamps are kept for the first [`MAX_STAMPED`] sequence numbers (the latency figures are
//! over those frames; counting and matching cover every frame).

use super::frame;
use super::rx::{percentiles, RxResult, Tally};
use super::tx::TxResult;
use super::{GenConfig, GenError, Latency, Live};
use crate::sys::tstamp::{StampedRing, StampedSocket};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Sequence numbers whose stamps are kept (32 MiB of stamps on each side).
pub const MAX_STAMPED: u64 = 1 << 22;

fn setup(e: impl std::fmt::Display) -> GenError {
    GenError::Setup(e.to_string())
}

/// Stamps by sequence number (0: none yet); numbers past [`MAX_STAMPED`] are not kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stamps {
    by_seq: Vec<u64>,
    /// How many are set.
    n: u64,
}

impl Stamps {
    /// Records `ts` for `seq` unless it has one already (a duplicate keeps the first).
    pub fn set(&mut self, seq: u64, ts: u64) {
        if seq >= MAX_STAMPED || ts == 0 {
            return;
        }
        let i = seq as usize;
        if i >= self.by_seq.len() {
            self.by_seq.resize(i + 1, 0);
        }
        if self.by_seq[i] == 0 {
            self.by_seq[i] = ts;
            self.n += 1;
        }
    }

    pub fn count(&self) -> u64 {
        self.n
    }
}

/// One-way latency from the transmit and receive stamps of the same sequence numbers; None
/// when no frame has both.
pub fn latency(tx: &Stamps, rx: &Stamps) -> Result<Option<Latency>, GenError> {
    let mut h = super::rx::histogram()?;
    for (t, r) in tx.by_seq.iter().zip(&rx.by_seq) {
        if *t != 0 && *r != 0 {
            let _ = h.record(r.saturating_sub(*t).max(1));
        }
    }
    Ok(percentiles(&h))
}

/// The frames of a run: one template per size, the flow and the stamp written per frame.
struct Frames<'a> {
    c: &'a GenConfig,
    max_size: usize,
    templates: HashMap<usize, Vec<u8>>,
    buf: Vec<u8>,
}

impl Frames<'_> {
    fn build(&mut self, seq: u64) -> &[u8] {
        let c = self.c;
        let size = c.sizes.size_of(seq, self.max_size).max(c.spec.min_size());
        let t = self
            .templates
            .entry(size)
            .or_insert_with(|| c.spec.build(size, 0));
        self.buf.clear();
        self.buf.extend_from_slice(t);
        c.spec.set_flow_of(&mut self.buf, seq);
        let now = crate::sys::netdev::monotonic_ns();
        frame::stamp(
            &mut self.buf,
            c.spec.ip_offset(),
            c.spec.stamp_offset(),
            seq,
            now,
        );
        &self.buf
    }
}

/// Reads the transmit stamps waiting on `sock` into `stamps`.
fn collect(sock: &StampedSocket, ebuf: &mut [u8], stamps: &mut Stamps) -> Result<u64, GenError> {
    sock.tx_stamps(ebuf, &mut |f, ts| {
        if let Some((seq, _, _)) = frame::parse(f) {
            stamps.set(seq, ts);
        }
    })
    .map_err(setup)
}

/// The engine: sends until stopped, the count or the duration is reached.
pub fn send(
    c: &GenConfig,
    max_size: usize,
    live: &Live,
    stop: &AtomicBool,
) -> Result<TxResult, GenError> {
    let sock = StampedSocket::transmitter(&c.tx)
        .map_err(|e| GenError::Setup(format!("{}: AF_PACKET socket: {e}", c.tx)))?;
    let dropped0 = super::tx::tx_dropped(&c.tx);
    let mut frames = Frames {
        c,
        max_size,
        templates: HashMap::new(),
        buf: Vec::with_capacity(max_size),
    };
    let period = c.rate.pps(c.sizes.mean(max_size)).map(|p| 1e9 / p);
    let (mut seq, mut sent, mut bytes, mut full) = (0u64, 0u64, 0u64, 0u64);
    let mut stamps = Stamps::default();
    let mut ebuf = [0u8; 256];
    let limit = c.count.unwrap_or(u64::MAX);
    let t0 = Instant::now();
    let mut due = crate::sys::netdev::monotonic_ns() as f64;
    while !stop.load(Ordering::Relaxed) && seq < limit {
        if let Some(p) = period {
            let now = crate::sys::netdev::monotonic_ns() as f64;
            if now < due {
                std::thread::sleep(Duration::from_nanos((due - now) as u64));
            } else if now > due + 1e6 {
                // more than a millisecond behind (descheduled): move on rather than catch up
                due = now;
            }
            due += p;
        }
        let f = frames.build(seq);
        let len = f.len() as u64;
        if sock.send(f).map_err(setup)? {
            sent += 1;
            bytes += len + 4;
        } else {
            full += 1;
        }
        seq += 1;
        live.tx.store(sent, Ordering::Relaxed);
        collect(&sock, &mut ebuf, &mut stamps)?;
    }
    // the last frames' stamps (at most 100 ms)
    let end = Instant::now();
    while stamps.count() < sent.min(MAX_STAMPED) && end.elapsed() < Duration::from_millis(100) {
        sock.wait(10);
        collect(&sock, &mut ebuf, &mut stamps)?;
    }
    // what the device dropped after taking it (a veth: its peer's queue full)
    let dropped = match (dropped0, super::tx::tx_dropped(&c.tx)) {
        (Some(a), Some(b)) => b.saturating_sub(a).min(sent),
        _ => 0,
    };
    let frames_ok = sent - dropped;
    live.tx.store(frames_ok, Ordering::Relaxed);
    Ok(TxResult {
        frames: frames_ok,
        refused: Some(dropped + full),
        bytes: (bytes * frames_ok).checked_div(sent).unwrap_or(0),
        seconds: t0.elapsed().as_secs_f64(),
        stamps: Some(stamps),
    })
}

/// The receiver: counts and matches every generator frame arriving on `c.rx`, keeping each
/// one's receive stamp.
pub fn receive(
    c: &GenConfig,
    live: &Live,
    stop: &AtomicBool,
    ready: &mpsc::Sender<Result<(), GenError>>,
) -> Result<RxResult, GenError> {
    let rx = c.rx.as_deref().unwrap_or_default();
    let mut sock = StampedRing::open(rx)
        .map_err(|e| GenError::Setup(format!("{rx}: AF_PACKET receive ring: {e}")))?;
    let _ = sock.drops();
    let _ = ready.send(Ok(()));
    let mut t = Tally::new()?;
    let mut stamps = Stamps::default();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        while let Some((len, ts)) = sock.recv(&mut buf, 10).map_err(setup)? {
            if let Some((seq, _)) = t.count(&buf[..len], len) {
                stamps.set(seq, ts);
            }
            live.rx.store(t.frames, Ordering::Relaxed);
        }
    }
    let dropped = sock.drops().map_err(setup)?;
    Ok(RxResult {
        stamps: Some(stamps),
        socket_dropped: Some(dropped),
        ..t.result()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_pairs_stamps_by_sequence_number() {
        let (mut tx, mut rx) = (Stamps::default(), Stamps::default());
        for s in 0..100u64 {
            tx.set(s, 1_000_000 + s * 1000);
        }
        // frame 7 lost; the rest arrive 10 us after they left, frame 99 after 500 us
        for s in (0..99u64).filter(|s| *s != 7) {
            rx.set(s, 1_000_000 + s * 1000 + 10_000);
        }
        rx.set(99, 1_000_000 + 99 * 1000 + 500_000);
        rx.set(3, 1); // a duplicate keeps the first stamp
        let l = latency(&tx, &rx).unwrap().unwrap();
        assert!(l.min >= 9.9, "{l:?}");
        assert!((l.p50 - 10.0).abs() < 0.02, "{l:?}");
        assert!((l.max - 500.0).abs() < 0.5, "{l:?}");
        assert_eq!(rx.count(), 99);
        assert!(latency(&tx, &Stamps::default()).unwrap().is_none());
    }

    #[test]
    fn stamps_never_grow_past_the_bound() {
        let mut s = Stamps::default();
        s.set(MAX_STAMPED, 5);
        s.set(u64::MAX, 5);
        assert_eq!(
            s.by_seq.len(),
            0,
            "a hostile sequence number allocates nothing"
        );
        s.set(2, 0);
        assert_eq!(s.count(), 0, "no stamp is not a stamp");
    }
}
