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
#[derive(Debug, Clone, Copy)]
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
}

impl Stamper<'_> {
    /// Frame `seq`'s flow in its headers (source, or destination for RFC 2889's test frames).
    fn flow(&self, buf: &mut [u8], seq: u64) {
        let f = (seq % self.flows as u64) as u32;
        if self.c.spec.dst_flows {
            frame::set_dst_flow(buf, f);
        } else {
            frame::set_flow(buf, self.ip, f);
        }
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
            self.flow(buf, seq);
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
            self.flow(buf, seq);
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
    let mut stamper = Stamper {
        c,
        max_size,
        templates: HashMap::new(),
        ip: c.spec.ip_offset(),
        off: c.spec.stamp_offset(),
        flows: c.spec.flows.max(1),
    };
    let pps = c.rate.pps(c.sizes.mean(max_size));
    let mut pacer = Pacer::new(pps);
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
    loop {
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
            // At least 50 us: at high rates several frames then go out together, and the
            // schedule (absolute) keeps the average rate exact.
            std::thread::sleep(Duration::from_secs_f64(pacer.wait().max(50e-6)));
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
    live.tx.store(done, Ordering::Relaxed);
    // Bytes of frames never completed are not counted.
    let bytes = (bytes * done).checked_div(seq).unwrap_or(0);
    Ok(TxResult {
        frames: done,
        refused: None,
        bytes,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn replay(
    c: &GenConfig,
    max_size: usize,
    live: &Live,
    stop: &AtomicBool,
) -> Result<TxResult, GenError> {
    if c.spec.dst_flows {
        return Err(GenError::Invalid(
            "the replay engine varies source flows only; use --engine afxdp".into(),
        ));
    }
    let h = super::xdp::Helpers::load().map_err(setup)?;
    let min = c.spec.min_size();
    let clamp = |s: usize| s.max(min).min(max_size);
    // One template, the largest size; the XDP program trims each frame to its size (IMIX,
    // ranges), so the mix holds frame by frame.
    let (mode, sizes, largest) = match &c.sizes {
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
    super::xdp::configure_gen(
        &h,
        true,
        c.spec.stamp_offset() as u32,
        c.spec.flows,
        c.spec.ip_offset() as u32,
        mode,
        sizes,
    )
    .map_err(setup)?;
    let ifindex = crate::sys::netdev::ifindex(&c.tx).map_err(setup)?;
    let mut t = c.spec.build(largest, 0);
    let u = c.spec.ip_offset() + 20;
    t[u + 6] = 0; // no UDP checksum: the program rewrites the payload
    t[u + 7] = 0;
    let mean = c.sizes.mean(max_size).max(min as f64);
    let pps = c.rate.pps(mean);
    // A BPF_PROG_RUN call has a fixed cost of tens of ms here: unpaced, make calls long;
    // paced, send about 50 ms worth per call (frames then leave in 50 ms bursts).
    let chunk = match pps {
        None => 1u64 << 20,
        Some(p) => ((p * 0.05) as u64).clamp(64, 1 << 20),
    };
    let limit = c.count.unwrap_or(u64::MAX);
    let base = h.stat(super::xdp::stat::GEN_TX);
    let dev0 = xmit_counts(&c.tx);
    let mut sent = 0u64;
    let t0 = Instant::now();
    while !stop.load(Ordering::Relaxed) && sent < limit {
        let n = chunk.min(limit - sent) as u32;
        h.replay(ifindex, &t, n).map_err(setup)?;
        sent += n as u64;
        live.tx.store(sent, Ordering::Relaxed);
        if let Some(p) = pps {
            let due = sent as f64 / p;
            let el = t0.elapsed().as_secs_f64();
            if due > el {
                std::thread::sleep(Duration::from_secs_f64(due - el));
            }
        }
    }
    let handed = h.stat(super::xdp::stat::GEN_TX) - base;
    // "Sent" is what the device accepted: the program's count less what the driver refused
    let refused = match (dev0, xmit_counts(&c.tx)) {
        (Some((_, e0)), Some((_, e1))) => Some(e1.saturating_sub(e0).min(handed)),
        _ => None,
    };
    let frames = handed - refused.unwrap_or(0);
    // Bytes on the wire: exact for fixed sizes, the mix's mean otherwise.
    let bytes = match c.sizes {
        Sizes::Fixed(_) => frames * (t.len() as u64 + 4),
        _ => (frames as f64 * mean) as u64,
    };
    Ok(TxResult {
        frames,
        refused,
        bytes,
        seconds: t0.elapsed().as_secs_f64(),
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
