//! Transmit engines.

use super::frame::{self, Sizes};
use super::rate::Pacer;
use super::{Engine, GenConfig, GenError, Live};
use crate::buf::{ChunkSet, Pool, Region};
use crate::frame::{CHUNK_SIZE, HEADROOM, MAX_SEGMENTS};
use crate::sys::xsk::{BindMode, RingSizes, UmemSource, XskSocket};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What an engine sent.
#[derive(Debug, Clone, Default)]
pub struct TxResult {
    /// Frames the device accepted (the replay engine: its driver's count where it has one).
    pub frames: u64,
    /// Frames the device refused after the engine handed them over (the replay engine on a
    /// veth: `tx_queue_N_xdp_xmit_errors`, its peer's ring full or no NAPI there); None where
    /// the driver does not say.
    pub refused: Option<u64>,
    /// On the wire, with FCS.
    pub bytes: u64,
    pub seconds: f64,
    /// The `packet` engine: each frame's transmit stamp by sequence number.
    pub stamps: Option<super::packet::Stamps>,
}

fn setup(e: impl std::fmt::Display) -> GenError {
    GenError::Setup(e.to_string())
}

/// The largest frame (with FCS) the replay engine sends: BPF_PROG_RUN's live-frame mode
/// refuses frames larger than a page less the XDP headroom and the skb_shared_info
/// (net/bpf/test_run.c: "disallow live data mode for jumbo frames").
pub const REPLAY_MAX_WIRE: usize = 4096 - 256 - 320 + 4;

/// The largest frame (with FCS) the AF_XDP engine sends: a chain of
/// [`crate::frame::MAX_SEGMENTS`] chunks (multi-buffer).
pub const AFXDP_MAX_WIRE: usize = crate::frame::MAX_SEGMENTS * (CHUNK_SIZE - HEADROOM) + 4;

/// The largest frame (with FCS) the TX interface carries and the engine sends.
pub fn max_wire_size(cfg: &GenConfig) -> Result<usize, GenError> {
    let name = cfg.tx.clone();
    let mtu = super::xdp::in_netns(cfg.tx_netns.as_deref(), move || {
        crate::sys::netdev::mtu(&name)
    })
    .map_err(setup)?
    .map_err(|e| GenError::Setup(format!("{}: {e}", cfg.tx)))? as usize;
    let engine = match cfg.engine {
        Engine::Afxdp => AFXDP_MAX_WIRE,
        Engine::Replay => REPLAY_MAX_WIRE,
        Engine::Packet => usize::MAX,
    };
    Ok((mtu + cfg.spec.l2_len() + 4).min(engine))
}

/// Starts the engine on its own thread (in the TX namespace, pinned if asked).
pub fn start(
    cfg: &GenConfig,
    max_size: usize,
    live: Arc<Live>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<Result<TxResult, GenError>>, GenError> {
    let c = cfg.clone();
    std::thread::Builder::new()
        .name("xdpgraph-gen-tx".into())
        .spawn(move || {
            if let Some(ns) = &c.tx_netns {
                crate::sys::netdev::enter_netns(ns).map_err(setup)?;
            }
            if let Some(core) = c.tx_core {
                let _ = crate::sys::cpu::pin_current_thread(core);
            }
            crate::sys::cpu::set_timer_slack(1000);
            match c.engine {
                Engine::Afxdp => afxdp(&c, max_size, &live, &stop),
                Engine::Replay => replay(&c, max_size, &live, &stop),
                Engine::Packet => super::packet::send(&c, max_size, &live, &stop),
            }
        })
        .map_err(setup)
}

/// Frees up to 512 completed frames back into `pool`; returns how many.
/// Frees the completed chunks; returns how many frames completed (a jumbo frame's chunks
/// other than its last, in `contd`, are not frames).
fn reap(sock: &mut XskSocket, pool: &mut Pool, contd: &mut ChunkSet) -> u64 {
    let n = sock.comp.available(512);
    let mut not_last = 0;
    for i in 0..n {
        let a = sock.comp.get(i);
        if !contd.is_empty() {
            not_last += contd.remove(pool, a) as u64;
        }
        pool.free_addr(a);
    }
    sock.comp.release(n);
    n as u64 - not_last
}

/// The AF_XDP engine's socket on queue 0 of the TX interface, and the UMEM it sends from.
fn open_socket(c: &GenConfig) -> Result<(XskSocket, Pool), GenError> {
    let ifindex = crate::sys::netdev::ifindex(&c.tx).map_err(setup)?;
    let chunks = 4096;
    let mapping =
        crate::sys::mmap::Mapping::anonymous(chunks * CHUNK_SIZE, false).map_err(setup)?;
    let src = UmemSource::Register {
        addr: mapping.as_ptr() as u64,
        len: mapping.len() as u64,
        chunk_size: CHUNK_SIZE as u32,
    };
    let pool = Pool::with_region(Region::Mapped(mapping), CHUNK_SIZE, HEADROOM);
    let sizes = RingSizes {
        fill: 64,
        comp: 2048,
        rx: 64,
        tx: 2048,
    };
    let sock = XskSocket::bind(&src, ifindex, 0, sizes, BindMode::ZeroCopy)
        .or_else(|_| XskSocket::bind(&src, ifindex, 0, sizes, BindMode::Copy))
        .map_err(|e| GenError::Setup(format!("{}: AF_XDP socket: {e}", c.tx)))?;
    Ok((sock, pool))
}

/// Builds the AF_XDP engine's frames: one template per size, then the flow and the stamp
/// (sequence number, TX time, UDP checksum) per frame.
struct Stamper<'a> {
    c: &'a GenConfig,
    max_size: usize,
    templates: HashMap<usize, Vec<u8>>,
    ip: usize,
    off: usize,
    flows: u32,
    /// Every chunk of the pool holds the frame already ([`Stamper::prewrite`]): nothing to
    /// write per frame.
    written: Option<usize>,
}

impl Stamper<'_> {
    /// Frames are rewritten only when something needs it, as the replay engine's: the AF_XDP
    /// matcher (sequence numbers and TX times), flows, a size mix. Otherwise every chunk of
    /// `pool` gets the one frame once, here, and frames go out as they are (as fast as the bare
    /// AF_XDP TX loop).
    fn prewrite(&mut self, pool: &mut Pool) {
        let c = self.c;
        let matcher = c.rx.is_some() && c.rx_engine == super::RxEngine::Afxdp;
        let size = self.size(0);
        let fixed = matches!(c.sizes, Sizes::Fixed(_));
        if matcher || self.flows > 1 || !fixed || size - 4 > pool.max_frame() {
            return;
        }
        let t = c.spec.build(size, 0);
        let head = pool.headroom();
        let mut all = Vec::with_capacity(pool.available());
        while let Some(base) = pool.alloc() {
            pool.chunk_mut(base)[head..head + t.len()].copy_from_slice(&t);
            all.push(base);
        }
        for base in all {
            pool.free_addr(base);
        }
        self.written = Some(t.len());
    }

    /// The wire size (with FCS) of frame `seq`.
    fn size(&self, seq: u64) -> usize {
        let c = self.c;
        c.sizes.size_of(seq, self.max_size).max(c.spec.min_size())
    }

    /// Frame `seq` in fresh chunks of `pool` (which has [`MAX_SEGMENTS`] free); its
    /// descriptors are appended to `descs` (a jumbo frame's all but last in `contd`).
    fn build(
        &mut self,
        pool: &mut Pool,
        seq: u64,
        descs: &mut Vec<libc::xdp_desc>,
        contd: &mut ChunkSet,
    ) -> usize {
        if let Some(len) = self.written {
            let base = pool.alloc().expect("checked available");
            descs.push(libc::xdp_desc {
                addr: base + pool.headroom() as u64,
                len: len as u32,
                options: 0,
            });
            return len;
        }
        let size = self.size(seq);
        let c = self.c;
        let t = self
            .templates
            .entry(size)
            .or_insert_with(|| c.spec.build(size, 0));
        let len = t.len();
        if len > pool.max_frame() {
            return self.build_chained(pool, seq, size, descs, contd);
        }
        let head = pool.headroom();
        let base = pool.alloc().expect("checked available");
        let buf = &mut pool.chunk_mut(base)[head..head + len];
        buf.copy_from_slice(t);
        if self.flows > 1 {
            self.c.spec.set_flow_of(buf, seq);
        }
        frame::stamp(
            buf,
            self.ip,
            self.off,
            seq,
            crate::sys::netdev::monotonic_ns(),
        );
        descs.push(libc::xdp_desc {
            addr: base + head as u64,
            len: len as u32,
            options: 0,
        });
        len
    }

    /// [`Stamper::build`] of a jumbo frame: a chain (the headers, flow and stamp in its
    /// first segment), one descriptor per segment.
    #[cold]
    fn build_chained(
        &mut self,
        pool: &mut Pool,
        seq: u64,
        size: usize,
        descs: &mut Vec<libc::xdp_desc>,
        contd: &mut ChunkSet,
    ) -> usize {
        let f = pool
            .frame_from(&self.templates[&size])
            .expect("checked available");
        let buf = pool.data_mut(&f);
        if self.flows > 1 {
            self.c.spec.set_flow_of(buf, seq);
        }
        let ts = crate::sys::netdev::monotonic_ns();
        frame::stamp(buf, self.ip, self.off, seq, ts);
        let mut it = pool.segs(&f).peekable();
        while let Some(s) = it.next() {
            let last = it.peek().is_none();
            if !last {
                contd.insert(pool, s.addr);
            }
            descs.push(libc::xdp_desc {
                addr: s.addr,
                len: s.len,
                options: if last { 0 } else { libc::XDP_PKT_CONTD },
            });
        }
        f.len as usize
    }
}

/// Waits (at most 2 s) for the frames still in the kernel; returns how many completed.
fn drain(sock: &mut XskSocket, pool: &mut Pool, contd: &mut ChunkSet, mut in_flight: u64) -> u64 {
    let mut done = 0;
    let t_end = Instant::now();
    while in_flight > 0 && t_end.elapsed() < Duration::from_secs(2) {
        let _ = sock.kick_tx();
        let n = reap(sock, pool, contd);
        done += n;
        in_flight -= n;
        if n == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    done
}

fn afxdp(
    c: &GenConfig,
    max_size: usize,
    live: &Live,
    stop: &AtomicBool,
) -> Result<TxResult, GenError> {
    let (mut sock, mut pool) = open_socket(c)?;
    let dropped0 = tx_dropped(&c.tx);
    let mut stamper = Stamper {
        c,
        max_size,
        templates: HashMap::new(),
        ip: c.spec.ip_offset(),
        off: c.spec.stamp_offset(),
        flows: c.spec.flows.max(1),
        written: None,
    };
    stamper.prewrite(&mut pool);
    let pps = c.rate.pps(c.sizes.mean(max_size));
    let mut pacer = Pacer::new(pps);
    // The latency mode (paced, the matcher receiving) sleeps until the next frame's due time
    // exactly: one frame per wake-up, stamped just before it is handed to the kernel, so
    // frames do not leave in bursts that queue behind each other (several only when it is
    // behind, catching up). Otherwise it sleeps at least 50 us and sends what is due.
    let latency = pps.is_some() && c.rx.is_some() && c.rx_engine == super::RxEngine::Afxdp;
    let least_sleep = if latency { 0.0 } else { 50e-6 };
    let (mut seq, mut done, mut bytes, mut in_flight) = (0u64, 0u64, 0u64, 0u64);
    let t0 = Instant::now();
    let limit = c.count.unwrap_or(u64::MAX);
    let mut descs: Vec<libc::xdp_desc> = Vec::with_capacity(64 * MAX_SEGMENTS);
    let mut contd = ChunkSet::for_pool(&pool);
    // descriptors (and chunks) a frame may take: several for jumbo frames
    let per = if max_size - 4 > pool.max_frame() {
        MAX_SEGMENTS as u64
    } else {
        1
    };
    // Unpaced, every chunk holding the frame: the bare TX loop.
    let bare = stamper.written.filter(|_| pps.is_none());
    if let Some(len) = bare {
        (seq, done, in_flight) = bare_loop(&mut sock, &mut pool, len as u32, live, stop, limit);
        bytes = seq * (len as u64 + 4);
    }
    while bare.is_none() {
        // Completions return chunks.
        let n = reap(&mut sock, &mut pool, &mut contd);
        done += n;
        in_flight -= n;
        live.tx.store(done, Ordering::Relaxed);
        if stop.load(Ordering::Relaxed) || seq >= limit {
            break;
        }
        let due = pacer.due(64).min(limit - seq);
        if due == 0 {
            // Sleep rather than spin (on a small machine a spinning sender steals the core the
            // forwarder or the receiver needs); frames due meanwhile go out together.
            // At least 50 us (but in the latency mode): at high rates several frames then go
            // out together, and the schedule (absolute) keeps the average rate exact.
            std::thread::sleep(Duration::from_secs_f64(pacer.wait().max(least_sleep)));
            continue;
        }
        let k = (sock.tx.free((due * per) as u32) as u64 / per)
            .min(due)
            .min(pool.available() as u64 / per);
        if k == 0 {
            let _ = sock.kick_tx();
            continue;
        }
        descs.clear();
        for _ in 0..k {
            let len = stamper.build(&mut pool, seq, &mut descs, &mut contd);
            bytes += len as u64 + 4;
            seq += 1;
        }
        sock.tx.produce(descs.iter().copied(), descs.len() as u32);
        in_flight += k;
        pacer.sent(k);
        let _ = sock.kick_tx();
    }
    done += drain(&mut sock, &mut pool, &mut contd, in_flight);
    // A completion says the kernel is done with the frame, not that the device took it: a
    // veth whose peer's ring is full drops it (and counts it in tx_dropped).
    let refused = match (dropped0, tx_dropped(&c.tx)) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).min(done)),
        _ => None,
    };
    let frames = done - refused.unwrap_or(0);
    live.tx.store(frames, Ordering::Relaxed);
    // Bytes of frames never completed or refused are not counted.
    let bytes = (bytes * frames).checked_div(seq).unwrap_or(0);
    Ok(TxResult {
        frames,
        refused,
        bytes,
        seconds: t0.elapsed().as_secs_f64(),
        stamps: None,
    })
}

/// The AF_XDP engine unpaced when every chunk of `pool` holds the frame (of `len` bytes)
/// already: completed chunks go straight back onto the TX ring, as in the bare AF_XDP TX loop
/// (bench/afxdp_tx.rs). Returns (frames handed over, completed, still in flight); the chunks
/// not in flight are back in `pool`.
fn bare_loop(
    sock: &mut XskSocket,
    pool: &mut Pool,
    len: u32,
    live: &Live,
    stop: &AtomicBool,
    limit: u64,
) -> (u64, u64, u64) {
    let head = pool.headroom() as u64;
    let mut free: Vec<u64> = std::iter::from_fn(|| pool.alloc())
        .map(|b| b + head)
        .collect();
    let (mut seq, mut done, mut i) = (0u64, 0u64, 0u32);
    loop {
        let n = sock.comp.available(512);
        for k in 0..n {
            free.push(sock.comp.get(k));
        }
        sock.comp.release(n);
        done += n as u64;
        i = i.wrapping_add(1);
        if i % 64 == 0 {
            live.tx.store(done, Ordering::Relaxed);
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        if seq >= limit {
            break;
        }
        let k = (sock.tx.free(64).min(64).min(free.len() as u32) as u64).min(limit - seq) as u32;
        if k > 0 {
            let from = free.len() - k as usize;
            let descs = free.drain(from..).map(|addr| libc::xdp_desc {
                addr,
                len,
                options: 0,
            });
            sock.tx.produce(descs, k);
            seq += k as u64;
        }
        let _ = sock.kick_tx();
    }
    for a in free {
        pool.free_addr(a);
    }
    (seq, done, seq - done)
}

/// The replay engine's template (the largest frame of the mix) and program settings.
fn replay_setup(
    c: &GenConfig,
    max_size: usize,
) -> Result<(Vec<u8>, super::xdp::GenProgConfig), GenError> {
    if c.spec.dst_flows {
        return Err(GenError::Invalid(
            "the replay engine varies source flows only; use --engine afxdp".into(),
        ));
    }
    let min = c.spec.min_size();
    let clamp = |s: usize| s.max(min).min(max_size);
    // One template, the largest size; the XDP program trims each frame to its size (IMIX,
    // ranges), so the mix holds frame by frame.
    let (mode, size, largest) = match &c.sizes {
        Sizes::Fixed(n) => (0, [0; 3], clamp(*n)),
        Sizes::Imix => {
            let s = [clamp(64), clamp(594), clamp(1518)];
            (1, [s[0] as u32 - 4, s[1] as u32 - 4, s[2] as u32 - 4], s[2])
        }
        Sizes::Range(a, b) => (
            2,
            [clamp(*a) as u32 - 4, clamp(*b) as u32 - 4, 0],
            clamp(*b),
        ),
        Sizes::ImixJumbo => {
            return Err(GenError::Invalid(format!(
                "imix-jumbo: the replay engine sends at most {REPLAY_MAX_WIRE} bytes (the \
                 kernel's BPF_PROG_RUN refuses larger live frames); use --engine afxdp"
            )))
        }
    };
    let mut t = c.spec.build(largest, 0);
    let u = c.spec.ip_offset() + 20;
    t[u + 6] = 0; // no UDP checksum: the program rewrites the payload
    t[u + 7] = 0;
    // Frames are rewritten only when something needs it: the matcher (sequence numbers and
    // TX times), flows, a size mix. Otherwise the template goes out as it is (the fastest).
    let matcher = c.rx.is_some() && c.rx_engine == super::RxEngine::Afxdp;
    let pps = c.rate.pps(c.sizes.mean(max_size).max(min as f64));
    let (pace_mask, interval_q) = match pps {
        None => (0, 0),
        Some(p) => (
            pace_group(p) - 1,
            (1e9 / p * 65536.0).round().max(1.0) as u64,
        ),
    };
    let g = super::xdp::GenProgConfig {
        stamp: matcher || c.spec.flows > 1 || mode != 0,
        off: c.spec.stamp_offset() as u32,
        flows: c.spec.flows,
        ip_off: c.spec.ip_offset() as u32,
        sizes: mode,
        size,
        pace_mask,
        interval_q,
    };
    Ok((t, g))
}

/// Paced replay: frames wait for their due time in groups of this many (a power of two, at
/// most 16: the kernel hands XDP frames to the device in bulks of 16 anyway), about 2 us.
pub fn pace_group(pps: f64) -> u32 {
    let g = (pps * 2e-6).clamp(1.0, 16.0) as u32;
    1 << (31 - g.leading_zeros())
}

/// Paced replay: BPF_PROG_RUN's batch (frames run before the kernel flushes them to the
/// device and lets softirqs, e.g. the receiver's NAPI, run on this core): about 20 us worth,
/// at most the kernel's default 64.
pub fn replay_batch(pps: Option<f64>) -> u32 {
    match pps {
        None => 64,
        Some(p) => (p * 20e-6).clamp(1.0, 64.0) as u32,
    }
}

fn replay(
    c: &GenConfig,
    max_size: usize,
    live: &Live,
    stop: &AtomicBool,
) -> Result<TxResult, GenError> {
    let (t, g) = replay_setup(c, max_size)?;
    let h = super::xdp::Helpers::load().map_err(setup)?;
    super::xdp::configure_gen(&h, &g).map_err(setup)?;
    let state = h.gen_state().map_err(setup)?;
    let ifindex = crate::sys::netdev::ifindex(&c.tx).map_err(setup)?;
    let mean = c.sizes.mean(max_size).max(c.spec.min_size() as f64);
    let pps = c.rate.pps(mean);
    // As few calls as possible: each costs ~25 ms of setup and teardown in the kernel (no
    // frames go meanwhile). A paced run of a given duration is one call of exactly its
    // frames; otherwise calls of up to 2^32-1 frames, ended by a signal when told to stop.
    let total = match (c.count, c.duration, pps) {
        (Some(n), _, _) => n,
        (None, Some(d), Some(p)) => (d.as_secs_f64() * p).round().max(1.0) as u64,
        _ => u64::MAX,
    };
    let batch = replay_batch(pps);
    crate::sys::cpu::catch_interrupts();
    let tid = crate::sys::cpu::thread_id();
    let dev0 = xmit_counts(&c.tx);
    let done = AtomicBool::new(false);
    let calls = std::thread::scope(|s| {
        // Reports progress (the sending thread is in the kernel) and interrupts the call
        // when told to stop.
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
                live.tx.store(state.read().0, Ordering::Relaxed);
                if stop.load(Ordering::Relaxed) && !done.load(Ordering::SeqCst) {
                    let _ = crate::sys::cpu::interrupt_thread(tid);
                }
            }
        });
        let r = replay_calls(&h, ifindex, &t, total, batch, &state, stop);
        done.store(true, Ordering::SeqCst);
        r
    });
    calls?;
    let (handed, t_first, t_last) = state.read();
    live.tx.store(handed, Ordering::Relaxed);
    let (frames, refused) = accepted(handed, dev0, xmit_counts(&c.tx));
    // Bytes on the wire: exact for fixed sizes, the mix's mean otherwise.
    let bytes = match c.sizes {
        Sizes::Fixed(_) => frames * (t.len() as u64 + 4),
        _ => (frames as f64 * mean) as u64,
    };
    // From the first frame to the last (the program's clock), not the call's setup and
    // teardown (~25 ms in the kernel, no frames going).
    let seconds = t_last.saturating_sub(t_first) as f64 / 1e9;
    Ok(TxResult {
        frames,
        refused,
        bytes,
        seconds: if seconds > 0.0 { seconds } else { 1e-9 },
        stamps: None,
    })
}

/// The replay engine's BPF_PROG_RUN calls: `total` frames, or until `stop` (a signal ends
/// the current call).
fn replay_calls(
    h: &super::xdp::Helpers,
    ifindex: u32,
    t: &[u8],
    total: u64,
    batch: u32,
    state: &super::xdp::GenState,
    stop: &AtomicBool,
) -> Result<(), GenError> {
    loop {
        let sent = state.read().0;
        if sent >= total || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let n = (total - sent).min(u32::MAX as u64) as u32;
        match h.replay(ifindex, t, n, batch) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(GenError::Setup(format!(
                    "BPF_PROG_RUN (live frames need Linux 5.18+ and NAPI on the veth peer): {e}"
                )))
            }
        }
    }
}

/// (accepted, refused) of `handed` frames from the device's XDP transmit counters before and
/// after (see [`xmit_counts`]): what the device counted as transmitted is sent, the rest was
/// refused (its peer's ring full, or no NAPI there). Without counters, all are sent and the
/// refusals unknown.
pub fn accepted(
    handed: u64,
    before: Option<(u64, u64)>,
    after: Option<(u64, u64)>,
) -> (u64, Option<u64>) {
    match (before, after) {
        (Some((x0, _)), Some((x1, _))) => {
            let ok = x1.saturating_sub(x0).min(handed);
            (ok, Some(handed - ok))
        }
        _ => (handed, None),
    }
}

/// A device's transmit drops (`tx_dropped` of its link statistics, from
/// /proc/thread-self/net/dev: the calling thread's namespace); None when it has no such device.
pub fn tx_dropped(dev: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/net/dev").ok()?;
    parse_tx_dropped(&s, dev)
}

/// `tx_dropped` of `dev` in the text of /proc/net/dev (after the name: 8 receive columns,
/// then transmit bytes, packets, errs, drop).
fn parse_tx_dropped(text: &str, dev: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (name, rest) = l.split_once(':')?;
        (name.trim() == dev).then(|| rest.split_whitespace().nth(11)?.parse().ok())?
    })
}

/// A device's XDP transmit counters, summed over its queues: (accepted, refused), from the
/// driver's statistics (veth: `tx_queue_N_xdp_xmit`, `tx_queue_N_xdp_xmit_errors`); None when
/// the driver has no such counters. Read in the calling thread's namespace.
pub fn xmit_counts(dev: &str) -> Option<(u64, u64)> {
    let st = crate::sys::netdev::ethtool_stats(dev).ok()?;
    let sum = |suffix: &str| -> Option<u64> {
        let v: Vec<u64> = (st.iter())
            .filter(|(k, _)| k.starts_with("tx_queue_") && k.ends_with(suffix))
            .map(|(_, v)| *v)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum())
    };
    Some((sum("_xdp_xmit")?, sum("_xdp_xmit_errors")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tx_dropped_from_proc_net_dev() {
        let t = "Inter-|   Receive |  Transmit\n face |bytes packets ...\n    lo: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n  eth0: 10 20 0 1 0 0 0 0 30 40 0 7 0 0 0 0\n";
        assert_eq!(parse_tx_dropped(t, "eth0"), Some(7));
        assert_eq!(parse_tx_dropped(t, "lo"), Some(0));
        assert_eq!(parse_tx_dropped(t, "eth1"), None);
    }

    #[test]
    fn accepted_is_what_the_device_counted() {
        assert_eq!(accepted(100, Some((5, 0)), Some((95, 10))), (90, Some(10)));
        // no NAPI on the peer: the device counts nothing, every frame was refused
        assert_eq!(accepted(100, Some((5, 0)), Some((5, 0))), (0, Some(100)));
        assert_eq!(accepted(100, None, Some((5, 0))), (100, None));
    }

    #[test]
    fn pacing_groups_and_batches() {
        assert_eq!(pace_group(10_000.0), 1);
        assert_eq!(pace_group(600_000.0), 1);
        assert_eq!(pace_group(2_000_000.0), 4);
        assert_eq!(pace_group(5_000_000.0), 8);
        assert_eq!(pace_group(50e6), 16);
        assert_eq!(replay_batch(None), 64);
        assert_eq!(replay_batch(Some(10_000.0)), 1);
        assert_eq!(replay_batch(Some(500_000.0)), 10);
        assert_eq!(replay_batch(Some(5e6)), 64);
    }
}
