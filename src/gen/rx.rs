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
    let _ = ready.send(Ok(()));
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(5));
        live.rx.store(
            h.stat(super::xdp::stat::SINK_FRAMES) - base,
            Ordering::Relaxed,
        );
    }
    let frames = h.stat(super::xdp::stat::SINK_FRAMES) - base;
    let bytes = h.stat(super::xdp::stat::SINK_OCTETS) - base_octets + 4 * frames;
    live.rx.store(frames, Ordering::Relaxed);
    Ok(RxResult {
        frames,
        bytes,
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

fn histogram() -> Result<hdrhistogram::Histogram<u64>, GenError> {
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
struct Tally {
    hist: hdrhistogram::Histogram<u64>,
    /// This second's latencies (for the live p99).
    second: hdrhistogram::Histogram<u64>,
    /// One bit per sequence number seen, for a sliding window of them.
    seen: SeqWindow,
    frames: u64,
    bytes: u64,
    unique: u64,
    reordered: u64,
    duplicated: u64,
    max_seq: Option<u64>,
}

impl Tally {
    /// Counts a received generator frame of `len` bytes (others are ignored) whose first
    /// bytes are `data` (all of it, or a jumbo frame's first segment), received at `now` (ns).
    fn record(&mut self, data: &[u8], len: usize, now: u64) {
        let Some((seq, ts, _)) = frame::parse(data) else {
            return;
        };
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
        let lat = now.saturating_sub(ts).max(1);
        let _ = self.hist.record(lat);
        let _ = self.second.record(lat);
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

    fn result(self) -> RxResult {
        let h = &self.hist;
        let us = |v: u64| v as f64 / 1000.0;
        let latency = (!h.is_empty()).then(|| Latency {
            min: us(h.min()),
            p50: us(h.value_at_quantile(0.5)),
            p90: us(h.value_at_quantile(0.9)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: h.mean() / 1000.0,
        });
        RxResult {
            frames: self.frames,
            bytes: self.bytes,
            unique: Some(self.unique),
            reordered: self.reordered,
            duplicated: self.duplicated,
            latency,
        }
    }
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
    let mut t = Tally {
        hist: histogram()?,
        second: histogram()?,
        seen: SeqWindow::new(),
        frames: 0,
        bytes: 0,
        unique: 0,
        reordered: 0,
        duplicated: 0,
        max_seq: None,
    };
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
    use super::SeqWindow;

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
