//! Receivers: matching every frame over AF_XDP, or counting with an XDP program.

use super::frame;
use super::{GenConfig, GenError, Latency, Live, RxEngine};
use crate::buf::{Burst, Pool, Region};
use crate::dataplane::afxdp::{self, program, SocketConfig, Umem, XdpMode, XdpProgram, XskPort};
use crate::frame::{CHUNK_SIZE, HEADROOM};
use crate::port::Port;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a receiver saw.
#[derive(Debug, Clone, Default)]
pub struct RxResult {
    pub frames: u64,
    /// Bytes received, counting the 4-byte FCS per frame (as sizes are given).
    pub bytes: u64,
    /// Distinct sequence numbers (AF_XDP receiver only).
    pub unique: Option<u64>,
    pub reordered: u64,
    pub duplicated: u64,
    pub latency: Option<Latency>,
    /// The XDP counting receiver: the rate at the sink and how evenly frames came.
    pub arrivals: Option<Arrivals>,
    /// The `packet` receiver: each frame's receive stamp by sequence number.
    pub stamps: Option<super::packet::Stamps>,
    /// The `packet` receiver: frames its socket's queue had no room for (lost at the
    /// receiver, not on the path).
    pub socket_dropped: Option<u64>,
}

/// How frames arrived at the counting sink, from its count sampled about every millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Arrivals {
    /// From the first sample that saw frames to the last that saw new ones, seconds.
    pub seconds: f64,
    /// Frames in that window, and their rate.
    pub frames: u64,
    pub pps: f64,
    /// Frames per millisecond over the window's samples (each sample's frames over its length):
    /// percentiles 1, 50 and 99, and the share of milliseconds with no frame.
    pub per_ms_p1: f64,
    pub per_ms_p50: f64,
    pub per_ms_p99: f64,
    pub idle_ms_share: f64,
}

/// [`Arrivals`] from samples of (monotonic ns, cumulative frames).
pub fn arrivals(samples: &[(u64, u64)]) -> Option<Arrivals> {
    let base = samples.first()?.1;
    // the last sample before frames came, and the first after the last frame
    let start = samples.iter().rposition(|s| s.1 == base)?;
    let last = samples.last()?.1;
    let end = samples.iter().position(|s| s.1 == last)?;
    if end <= start {
        return None;
    }
    let w = &samples[start..=end];
    let (t0, n0) = w[0];
    let (t1, n1) = w[w.len() - 1];
    let mut per_ms: Vec<f64> = (w.windows(2))
        .map(|p| (p[1].1 - p[0].1) as f64 * 1e6 / (p[1].0 - p[0].0).max(1) as f64)
        .collect();
    let idle = per_ms.iter().filter(|v| **v == 0.0).count() as f64 / per_ms.len() as f64;
    per_ms.sort_by(f64::total_cmp);
    let pct = |q: f64| per_ms[((per_ms.len() - 1) as f64 * q).round() as usize];
    let seconds = (t1 - t0) as f64 / 1e9;
    Some(Arrivals {
        seconds,
        frames: n1 - n0,
        pps: (n1 - n0) as f64 / seconds,
        per_ms_p1: pct(0.01),
        per_ms_p50: pct(0.5),
        per_ms_p99: pct(0.99),
        idle_ms_share: idle,
    })
}

fn setup(e: impl std::fmt::Display) -> GenError {
    GenError::Setup(e.to_string())
}

/// Starts the receiver; returns once it is ready to receive.
pub fn start(
    cfg: &GenConfig,
    live: Arc<Live>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<Result<RxResult, GenError>>, GenError> {
    let c = cfg.clone();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), GenError>>();
    let h = std::thread::Builder::new()
        .name("xdpgraph-gen-rx".into())
        .spawn(move || {
            let r = (|| {
                if let Some(ns) = &c.rx_netns {
                    crate::sys::netdev::enter_netns(ns).map_err(setup)?;
                }
                if let Some(core) = c.rx_core {
                    let _ = crate::sys::cpu::pin_current_thread(core);
                }
                match c.rx_engine {
                    RxEngine::Xdp => count(&c, &live, &stop, &ready_tx),
                    RxEngine::Afxdp => matcher(&c, &live, &stop, &ready_tx),
                    RxEngine::Packet => super::packet::receive(&c, &live, &stop, &ready_tx),
                }
            })();
            if let Err(e) = &r {
                let _ = ready_tx.send(Err(e.clone()));
            }
            r
        })
        .map_err(setup)?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(h),
        Ok(Err(e)) => {
            let _ = h.join();
            Err(GenError::Setup(format!("receiver: {e}")))
        }
        Err(_) => Err(GenError::Setup("receiver: thread ended".into())),
    }
}

fn count(
    c: &GenConfig,
    live: &Live,
    stop: &AtomicBool,
    ready: &mpsc::Sender<Result<(), GenError>>,
) -> Result<RxResult, GenError> {
    let rx = c.rx.as_deref().unwrap();
    let h = super::xdp::Helpers::load().map_err(setup)?;
    let _att = h
        .attach("xdpgraph_sink", None, rx, XdpMode::Auto)
        .map_err(setup)?;
    let base = h.stat(super::xdp::stat::SINK_FRAMES);
    let base_octets = h.stat(super::xdp::stat::SINK_OCTETS);
    crate::sys::cpu::set_timer_slack(1000);
    let mut samples = Vec::with_capacity(1 << 16);
    samples.push((crate::sys::netdev::monotonic_ns(), 0));
    let _ = ready.send(Ok(()));
    // Sampled about every millisecond: the rate at the sink, and how evenly frames come.
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(1));
        let n = h.stat(super::xdp::stat::SINK_FRAMES) - base;
        samples.push((crate::sys::netdev::monotonic_ns(), n));
        live.rx.store(n, Ordering::Relaxed);
    }
    let frames = h.stat(super::xdp::stat::SINK_FRAMES) - base;
    let bytes = h.stat(super::xdp::stat::SINK_OCTETS) - base_octets + 4 * frames;
    live.rx.store(frames, Ordering::Relaxed);
    samples.push((crate::sys::netdev::monotonic_ns(), frames));
    Ok(RxResult {
        frames,
        bytes,
        arrivals: arrivals(&samples),
        ..Default::default()
    })
}

/// The matching receiver's program, sockets (one per RX queue) and UMEM.
fn open_matcher(rx: &str) -> Result<(XdpProgram, XskPort, Pool), GenError> {
    let prog = XdpProgram::attach(rx, XdpMode::Auto).map_err(setup)?;
    let mapping = crate::sys::mmap::Mapping::anonymous(8192 * CHUNK_SIZE, false).map_err(setup)?;
    let mut umem = Umem::for_region(mapping.as_ptr() as u64, mapping.len() as u64, CHUNK_SIZE);
    let mut pool = Pool::with_region(Region::Mapped(mapping), CHUNK_SIZE, HEADROOM);
    let xsks = prog.xsks().map_err(setup)?;
    let nq = afxdp::rx_queues(rx).map_err(setup)?;
    let queues: Vec<u32> = (0..nq).collect();
    let reg = |q: u32, fd: i32| program::register_socket(&xsks, q, fd);
    let port = XskPort::open(
        0,
        prog.ifindex(),
        &queues,
        &mut umem,
        &mut pool,
        &SocketConfig {
            fill_target: 2048,
            ..Default::default()
        },
        &reg,
        &[],
    )
    .map_err(|e| GenError::Setup(format!("{rx}: AF_XDP sockets: {e}")))?;
    prog.set_steering(true).map_err(setup)?;
    Ok((prog, port, pool))
}

pub(super) fn histogram() -> Result<hdrhistogram::Histogram<u64>, GenError> {
    hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).map_err(setup)
}

/// Which sequence numbers arrived, for the last 2^24 of them: a fixed bitmap
/// that slides forward, so no received number (a field of a frame) sizes memory. A number
/// older than the window counts as new (it cannot be told from a duplicate any more).
struct SeqWindow {
    bits: Box<[u64]>,
    /// The first word (sequence number / 64) the window covers.
    base: u64,
}

impl SeqWindow {
    const WORDS: u64 = 1 << 18;
    /// Sequence numbers the window covers (2^24: 16.7 million frames, 2 MiB).
    #[cfg(test)]
    const SPAN: u64 = Self::WORDS * 64;

    fn new() -> SeqWindow {
        SeqWindow {
            bits: vec![0u64; Self::WORDS as usize].into_boxed_slice(),
            base: 0,
        }
    }

    /// Marks `seq`; false if it was marked already.
    fn insert(&mut self, seq: u64) -> bool {
        let w = seq / 64;
        if w < self.base {
            return true;
        }
        if w >= self.base + Self::WORDS {
            let new_base = w + 1 - Self::WORDS;
            if new_base - self.base >= Self::WORDS {
                self.bits.fill(0);
            } else {
                for old in self.base..new_base {
                    self.bits[(old % Self::WORDS) as usize] = 0;
                }
            }
            self.base = new_base;
        }
        let (i, bit) = ((w % Self::WORDS) as usize, 1u64 << (seq % 64));
        let fresh = self.bits[i] & bit == 0;
        self.bits[i] |= bit;
        fresh
    }
}

/// What the matcher counted.
pub(super) struct Tally {
    hist: hdrhistogram::Histogram<u64>,
    /// This second's latencies (for the live p99).
    second: hdrhistogram::Histogram<u64>,
    /// One bit per sequence number seen, for a sliding window of them.
    seen: SeqWindow,
    pub(super) frames: u64,
    bytes: u64,
    unique: u64,
    reordered: u64,
    duplicated: u64,
    max_seq: Option<u64>,
}

impl Tally {
    pub(super) fn new() -> Result<Tally, GenError> {
        Ok(Tally {
            hist: histogram()?,
            second: histogram()?,
            seen: SeqWindow::new(),
            frames: 0,
            bytes: 0,
            unique: 0,
            reordered: 0,
            duplicated: 0,
            max_seq: None,
        })
    }

    /// Counts a received generator frame of `len` bytes (others are ignored) whose first
    /// bytes are `data` (all of it, or a jumbo frame's first segment), received at `now` (ns),
    /// with the latency from the TX time it carries.
    fn record(&mut self, data: &[u8], len: usize, now: u64) {
        let Some((_, ts)) = self.count(data, len) else {
            return;
        };
        let lat = now.saturating_sub(ts).max(1);
        let _ = self.hist.record(lat);
        let _ = self.second.record(lat);
    }

    /// Counts a received generator frame (as [`Tally::record`], without its latency);
    /// returns its sequence number and the TX time it carries, None for a frame not the
    /// generator's.
    pub(super) fn count(&mut self, data: &[u8], len: usize) -> Option<(u64, u64)> {
        let (seq, ts, _) = frame::parse(data)?;
        self.frames += 1;
        self.bytes += len as u64 + 4;
        if self.seen.insert(seq) {
            self.unique += 1;
        } else {
            self.duplicated += 1;
        }
        match self.max_seq {
            Some(m) if seq < m => self.reordered += 1,
            _ => self.max_seq = Some(seq),
        }
        Some((seq, ts))
    }

    /// The p99 latency of the last second (ns, 0: none); starts the next second.
    fn second_p99(&mut self) -> u64 {
        let p = if self.second.is_empty() {
            0
        } else {
            self.second.value_at_quantile(0.99)
        };
        self.second.reset();
        p
    }

    pub(super) fn result(self) -> RxResult {
        RxResult {
            frames: self.frames,
            bytes: self.bytes,
            unique: Some(self.unique),
            reordered: self.reordered,
            duplicated: self.duplicated,
            latency: percentiles(&self.hist),
            ..Default::default()
        }
    }
}

/// The percentiles of a histogram of nanoseconds, in microseconds; None when it is empty.
pub(super) fn percentiles(h: &hdrhistogram::Histogram<u64>) -> Option<Latency> {
    let us = |v: u64| v as f64 / 1000.0;
    (!h.is_empty()).then(|| Latency {
        min: us(h.min()),
        p50: us(h.value_at_quantile(0.5)),
        p90: us(h.value_at_quantile(0.9)),
        p99: us(h.value_at_quantile(0.99)),
        p999: us(h.value_at_quantile(0.999)),
        max: us(h.max()),
        mean: h.mean() / 1000.0,
    })
}

fn matcher(
    c: &GenConfig,
    live: &Live,
    stop: &AtomicBool,
    ready: &mpsc::Sender<Result<(), GenError>>,
) -> Result<RxResult, GenError> {
    let rx = c.rx.as_deref().unwrap();
    let (prog, mut port, mut pool) = open_matcher(rx)?;
    let _ = ready.send(Ok(()));
    let mut t = Tally::new()?;
    let mut burst = Burst::new();
    let mut tick = Instant::now();
    let fds = port.fds();
    let mut idle = 0u32;
    while !stop.load(Ordering::Relaxed) {
        port.maintain(&mut pool);
        port.rx_burst(&mut pool, &mut burst);
        if burst.is_empty() {
            // Spin briefly, then wait in poll(2) so as not to steal a core.
            idle += 1;
            if idle > 64 {
                let _ = crate::sys::xsk::poll_readable(&fds, 2);
            }
        } else {
            idle = 0;
        }
        let now = crate::sys::netdev::monotonic_ns();
        for f in burst.drain() {
            t.record(pool.data(&f), f.len as usize, now);
            pool.free(f);
        }
        live.rx.store(t.frames, Ordering::Relaxed);
        if tick.elapsed() >= Duration::from_secs(1) {
            live.p99_ns.store(t.second_p99(), Ordering::Relaxed);
            tick = Instant::now();
        }
    }
    port.detach(&mut pool);
    let _ = prog.set_steering(false);
    Ok(t.result())
}

#[cfg(test)]
mod tests {
    use super::{arrivals, SeqWindow};

    #[test]
    fn arrivals_over_the_window_with_frames() {
        // nothing for 2 ms, then 10 frames a ms for 4 ms, a 1 ms gap, 10 more, then nothing
        let ms = 1_000_000;
        let s = [
            (0, 0),
            (ms, 0),
            (2 * ms, 0),
            (3 * ms, 10),
            (4 * ms, 20),
            (5 * ms, 20),
            (6 * ms, 30),
            (7 * ms, 30),
            (8 * ms, 30),
        ];
        let a = arrivals(&s).unwrap();
        assert_eq!(a.frames, 30);
        assert!((a.seconds - 0.004).abs() < 1e-9, "{a:?}");
        assert!((a.pps - 7500.0).abs() < 1e-6, "{a:?}");
        assert_eq!((a.per_ms_p1, a.per_ms_p50, a.per_ms_p99), (0.0, 10.0, 10.0));
        assert!((a.idle_ms_share - 0.25).abs() < 1e-9);
        assert_eq!(arrivals(&[(0, 0), (ms, 0)]), None);
    }

    #[test]
    fn the_window_slides_and_never_grows() {
        let mut w = SeqWindow::new();
        assert!(w.insert(5));
        assert!(!w.insert(5), "a duplicate");
        assert!(
            w.insert(u64::MAX - 3),
            "a hostile number slides the window, allocates nothing"
        );
        assert_eq!(w.bits.len() as u64, SeqWindow::WORDS);
        assert!(!w.insert(u64::MAX - 3));
        assert!(w.insert(5), "older than the window: counted as new");
        let mut w = SeqWindow::new();
        let far = 3 * SeqWindow::SPAN;
        assert!(w.insert(1) && w.insert(far) && w.insert(far + 1) && !w.insert(far));
        assert!(w.insert(1), "slid out of the window");
    }
}
