//! [`XskPort`]: one worker's AF_XDP sockets on one interface, as a [`Port`].
//!
//! Every frame a socket loses is counted somewhere: by the kernel (`XDP_STATISTICS`, read by
//! the worker at its next poll whenever the management thread asks, see [`QueueStats::ask`]),
//! or by us: frames the kernel completed without sending them (`tx_not_sent`: a TX kick
//! answered `EBUSY`) and frames still held when the socket closed (`lost_on_close`).

use super::sg::{self, RxChain, RxSeg};
use crate::buf::{Burst, ChunkSet, Frame, Pool, Seg, BURST};
use crate::port::{Port, PortId};
use crate::sys::netdev::Tap;
use crate::sys::xsk::{socket_stats, BindMode, RingSizes, TxKick, UmemSource, XskSocket, XskStats};
use std::any::Any;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{
    AtomicU32, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::{Arc, Mutex};

/// Counters of one queue's socket: ours, added to by the worker once per burst, and the
/// kernel's, read from the socket when asked (see [`QueueStats::ask`]).
#[derive(Debug, Default)]
pub struct QueueStats {
    pub queue: u32,
    pub rx_frames: AtomicU64,
    /// Frames put on the TX ring.
    pub tx_queued: AtomicU64,
    /// Frames the kernel gave back on the completion ring: sent, or completed unsent.
    pub tx_completed: AtomicU64,
    /// Frames the kernel completed without sending them: a TX kick answered `EBUSY` (the
    /// device said `NET_XMIT_DROP`: carrier off, or the driver or the veth peer dropped it).
    pub tx_not_sent: AtomicU64,
    /// TX kicks that failed otherwise (no frame known lost).
    pub kick_errors: AtomicU64,
    /// Frames lost when the socket closed: received and never read, queued and never taken by
    /// the kernel, or taken and never completed.
    pub lost_on_close: AtomicU64,
    /// Fill-ring chunks the kernel still held when the socket closed (buffers, not frames).
    pub fill_lost_on_close: AtomicU64,
    /// Frames received over several descriptors (a jumbo frame) that did not make a frame:
    /// more segments than [`crate::frame::MAX_SEGMENTS`], or a first segment too short.
    pub rx_bad_chain: AtomicU64,
    /// Frames longer than the interface can send ([`QueueStats::tx_max_len`]), dropped
    /// before the TX ring.
    pub tx_too_big: AtomicU64,
    /// The longest frame the interface sends: its MTU + 18 (Ethernet header and one VLAN
    /// tag, as Linux forwards); 0 while unknown. Kept current by the management thread when
    /// the MTU changes.
    pub tx_max_len: AtomicU32,
    pub zero_copy: AtomicU64,
    /// The kernel's counters as last read.
    kernel: [AtomicU64; 6],
    /// Reads of the kernel's counters asked for, and the last one the worker made.
    asked: AtomicU32,
    served: AtomicU32,
    /// The socket while it is open; locked while another thread reads its counters, and by
    /// the worker when it closes the socket, so a descriptor is never read after it closed.
    fd: Mutex<Option<RawFd>>,
    /// The worker's wake-up, kicked by [`QueueStats::ask`] (an idle worker sleeps up to 10 ms).
    wake: std::sync::OnceLock<Arc<crate::sys::wake::Wake>>,
}

impl QueueStats {
    pub fn new(queue: u32) -> QueueStats {
        QueueStats {
            queue,
            ..Default::default()
        }
    }

    fn fd(&self) -> std::sync::MutexGuard<'_, Option<RawFd>> {
        self.fd.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keep(&self, s: &XskStats) {
        let v = [
            s.rx_dropped,
            s.rx_invalid_descs,
            s.tx_invalid_descs,
            s.rx_ring_full,
            s.rx_fill_ring_empty_descs,
            s.tx_ring_empty_descs,
        ];
        for (a, v) in self.kernel.iter().zip(v) {
            a.fetch_max(v, Relaxed);
        }
    }

    /// Asks the worker to read the kernel's counters of this queue's socket at its next poll
    /// (it owns the socket: the kernel takes the socket's mutex for `XDP_STATISTICS` as for a
    /// copy-mode transmit, and a reader preempted while holding it would stall the worker).
    /// Returns a ticket for [`QueueStats::answered`]; None when the socket is closed.
    pub fn ask(&self) -> Option<u32> {
        let t = (self.fd().is_some()).then(|| self.asked.fetch_add(1, Relaxed).wrapping_add(1));
        if let (Some(_), Some(w)) = (t, self.wake.get()) {
            w.kick();
        }
        t
    }

    /// The worker whose socket this is: [`QueueStats::ask`] wakes it.
    pub fn set_wake(&self, wake: &Arc<crate::sys::wake::Wake>) {
        let _ = self.wake.set(wake.clone());
    }

    /// Whether the worker made the read asked for with `ticket` (or a later one).
    pub fn answered(&self, ticket: u32) -> bool {
        self.served.load(Acquire).wrapping_sub(ticket) as i32 >= 0
    }

    /// Reads the kernel's counters from this thread (the worker did not answer in time).
    pub fn read_now(&self) {
        if let Some(fd) = *self.fd() {
            if let Ok(s) = socket_stats(fd) {
                self.keep(&s);
            }
        }
    }

    /// The worker's side: makes the read asked for, if any (one relaxed load per poll).
    #[inline]
    fn serve(&self, sock: &XskSocket, served: &mut u32) {
        let asked = self.asked.load(Relaxed);
        if asked != *served {
            self.serve_now(sock, asked);
            *served = asked;
        }
    }

    #[cold]
    fn serve_now(&self, sock: &XskSocket, asked: u32) {
        if let Ok(s) = sock.stats() {
            self.keep(&s);
        }
        self.served.store(asked, Release);
    }

    /// The kernel's counters of this queue's socket (`XDP_STATISTICS`) as last read (see
    /// [`QueueStats::ask`]; also read when the socket closes).
    pub fn kernel(&self) -> XskStats {
        let k = |i: usize| self.kernel[i].load(Relaxed);
        XskStats {
            rx_dropped: k(0),
            rx_invalid_descs: k(1),
            tx_invalid_descs: k(2),
            rx_ring_full: k(3),
            rx_fill_ring_empty_descs: k(4),
            tx_ring_empty_descs: k(5),
        }
    }

    /// Frames the kernel sent from this socket (completed, less those completed unsent).
    pub fn tx_sent(&self) -> u64 {
        let done = self.tx_completed.load(Relaxed);
        done.saturating_sub(self.tx_not_sent.load(Relaxed))
    }

    /// The socket is about to close: keep its last counters, and never read it again.
    fn retire(&self) {
        let mut fd = self.fd();
        if let Some(f) = fd.take() {
            if let Ok(s) = socket_stats(f) {
                self.keep(&s);
            }
        }
    }
}

/// Has the workers read the kernel's counters of `queues` now, and waits for them (at most
/// `wait`; whatever a worker did not answer by then is read from this thread).
pub fn read_kernel_stats(queues: &[Arc<QueueStats>], wait: std::time::Duration) {
    let tickets: Vec<_> = queues.iter().map(|q| q.ask()).collect();
    let t = std::time::Instant::now();
    let pending = || (queues.iter().zip(&tickets)).any(|(q, t)| t.is_some_and(|t| !q.answered(t)));
    while pending() && t.elapsed() < wait {
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
    for (q, t) in queues.iter().zip(&tickets) {
        if t.is_some_and(|t| !q.answered(t)) {
            q.read_now();
        }
    }
}

/// A worker's UMEM: the pool region its sockets share. The first socket registers it; the
/// others bind with `XDP_SHARED_UMEM` to a live socket.
pub struct Umem {
    addr: u64,
    len: u64,
    chunk_size: u32,
    /// Descriptors of live sockets on this UMEM.
    live: Vec<RawFd>,
}

impl Umem {
    /// Describes the UMEM behind a pool: its region (an mmap'd
    /// [`Mapping`](crate::sys::mmap::Mapping), or a DPDK frame area) and chunk size.
    pub fn for_region(addr: u64, len: u64, chunk_size: usize) -> Umem {
        Umem {
            addr,
            len,
            chunk_size: chunk_size as u32,
            live: Vec::new(),
        }
    }

    /// Forgets sockets that are closed (or about to be): others no longer bind to them.
    pub fn forget(&mut self, fds: &[RawFd]) {
        self.live.retain(|fd| !fds.contains(fd));
    }

    fn source(&self) -> UmemSource {
        match self.live.first() {
            Some(fd) => UmemSource::Shared(*fd),
            None => UmemSource::Register {
                addr: self.addr,
                len: self.len,
                chunk_size: self.chunk_size,
            },
        }
    }
}

struct Queue {
    sock: XskSocket,
    /// A jumbo frame whose first descriptors arrived and whose last has not yet.
    rx_chain: RxChain,
    /// TX chunks that are not a frame's last segment (their completion is not a frame's).
    tx_contd: ChunkSet,
    /// Chunks given to the fill ring and not yet received.
    in_fill: u32,
    /// Frames on the TX ring or in the kernel, not yet completed.
    in_tx: u32,
    /// Every chunk handed to the kernel (fill and TX rings) and not back yet.
    held: ChunkSet,
    stats: Arc<QueueStats>,
    /// The last read of the kernel's counters made for the management thread.
    served: u32,
}

impl Drop for Queue {
    /// Before the socket closes (its fields drop after this): its last kernel counters.
    fn drop(&mut self) {
        self.stats.retire();
    }
}

/// This worker's queues of one interface.
pub struct XskPort {
    id: PortId,
    queues: Vec<Queue>,
    next_rx: usize,
    fill_target: u32,
    /// Free chunks the fill rings leave in the pool (for copies, the TAP, frames in flight).
    reserve: usize,
    tap: Option<Tap>,
    tap_reader: bool,
}

/// How a worker opens its sockets.
#[derive(Debug, Clone, Copy)]
pub struct SocketConfig {
    pub sizes: RingSizes,
    /// Try zero-copy first (falls back to copy mode when the driver refuses).
    pub zero_copy: bool,
    /// Chunks each socket keeps in its fill ring: what the kernel can receive while the worker
    /// is not running (4096: 51 ms at 80 kpps, 4 ms at 1 Mpps; twice libxdp's default). All of
    /// a worker's sockets draw on its pool (`--frames`, 32768 by default), which keeps
    /// [`FILL_RESERVE`] of itself for everything else.
    pub fill_target: u32,
}

/// The share of a worker's pool its fill rings never take (1/8): copies, TAP frames and
/// frames in flight draw on it.
pub const FILL_RESERVE: usize = 8;

/// The most of a worker's pool one socket's fill ring takes (1/4), so that a small pool
/// (`--frames 4096`) still fills three sockets.
pub const FILL_SHARE: usize = 4;

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            sizes: RingSizes::default(),
            zero_copy: true,
            fill_target: 4096,
        }
    }
}

impl XskPort {
    /// Opens sockets on `queues` of `ifindex`, sharing `umem`, and fills their fill rings
    /// from `pool`. `register` puts each socket in the XDP program's map.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        id: PortId,
        ifindex: u32,
        queues: &[u32],
        umem: &mut Umem,
        pool: &mut Pool,
        cfg: &SocketConfig,
        register: &dyn Fn(u32, RawFd) -> Result<(), libbpf_rs::Error>,
        stats: &[Arc<QueueStats>],
    ) -> io::Result<XskPort> {
        let mut port = XskPort {
            id,
            queues: Vec::new(),
            next_rx: 0,
            fill_target: (cfg.fill_target.min(cfg.sizes.fill) as usize)
                .min(pool.capacity() / FILL_SHARE) as u32,
            reserve: pool.capacity() / FILL_RESERVE,
            tap: None,
            tap_reader: false,
        };
        for (i, &q) in queues.iter().enumerate() {
            let src = umem.source();
            let sock = match bind(&src, ifindex, q, cfg) {
                Ok(s) => s,
                Err(e) => {
                    port.close(umem, pool);
                    return Err(e);
                }
            };
            umem.live.push(sock.fd());
            let st = stats.get(i).cloned().unwrap_or_default();
            st.zero_copy.store(sock.zero_copy as u64, Relaxed);
            *st.fd() = Some(sock.fd());
            let served = st.asked.load(Relaxed);
            st.served.store(served, Release);
            let mut queue = Queue {
                sock,
                in_fill: 0,
                in_tx: 0,
                held: ChunkSet::for_pool(pool),
                rx_chain: RxChain::default(),
                tx_contd: ChunkSet::for_pool(pool),
                stats: st,
                served,
            };
            refill(&mut queue, pool, port.fill_target, port.reserve);
            if let Err(e) = register(q, queue.sock.fd()) {
                port.queues.push(queue);
                port.close(umem, pool);
                return Err(io::Error::other(format!(
                    "registering queue {q} in the XDP program: {e}"
                )));
            }
            port.queues.push(queue);
        }
        Ok(port)
    }

    /// Gives this port the interface's TAP (host path); `reader`: this worker also reads what
    /// the host sends (one worker per interface does).
    pub fn set_tap(&mut self, tap: Tap, reader: bool) {
        self.tap = Some(tap);
        self.tap_reader = reader;
    }

    /// Closes a port that failed to open: its sockets leave `umem`, its chunks come home.
    fn close(&mut self, umem: &mut Umem, pool: &mut Pool) {
        umem.forget(&self.queues.iter().map(|q| q.sock.fd()).collect::<Vec<_>>());
        self.detach(pool);
    }

    /// The socket descriptors (for waiting when idle).
    pub fn fds(&self) -> Vec<RawFd> {
        let mut v: Vec<RawFd> = self.queues.iter().map(|q| q.sock.fd()).collect();
        if self.tap_reader {
            v.extend(self.tap.as_ref().map(|t| t.fd()));
        }
        v
    }
}

/// How long a bind retries a queue that is still busy.
const BIND_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// A socket on queue `q`: zero-copy first when asked and it registers the UMEM, else copy
/// mode. The kernel lets go of a closed socket's queue in deferred work, so a bind right
/// after a detach may find the queue busy a moment longer: that is retried, briefly.
fn bind(src: &UmemSource, ifindex: u32, q: u32, cfg: &SocketConfig) -> io::Result<XskSocket> {
    let first = matches!(src, UmemSource::Register { .. });
    let until = std::time::Instant::now() + BIND_RETRY;
    loop {
        let r = if first && cfg.zero_copy {
            XskSocket::bind(src, ifindex, q, cfg.sizes, BindMode::ZeroCopy)
                .or_else(|_| XskSocket::bind(src, ifindex, q, cfg.sizes, BindMode::Copy))
        } else {
            XskSocket::bind(src, ifindex, q, cfg.sizes, BindMode::Copy)
        };
        match r {
            Err(e)
                if e.kind() == io::ErrorKind::ResourceBusy && std::time::Instant::now() < until =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            r => return r,
        }
    }
}

/// Tops the fill ring up to `target` chunks, leaving `reserve` free chunks in the pool.
fn refill(q: &mut Queue, pool: &mut Pool, target: u32, reserve: usize) {
    if q.in_fill >= target {
        return;
    }
    let spare = pool.spare(reserve).min(u32::MAX as usize) as u32;
    let want = (target - q.in_fill).min(spare);
    let n = q.sock.fill.free(want).min(want);
    if n == 0 {
        return;
    }
    let mut bases = [0u64; 256];
    let mut done = 0;
    while done < n {
        let k = (n - done).min(256) as usize;
        let mut got = 0;
        while got < k {
            match pool.alloc() {
                Some(b) => {
                    bases[got] = b;
                    q.held.insert(pool, b);
                }
                None => break,
            }
            got += 1;
        }
        q.sock.fill.produce(bases.iter().copied(), got as u32);
        done += got as u32;
        if got < k {
            break;
        }
    }
    q.in_fill += done;
    if done > 0 && q.sock.fill.needs_wakeup() {
        q.sock.kick_rx();
    }
}

/// Takes the completed frames back into the pool.
fn complete(q: &mut Queue, pool: &mut Pool) {
    let mut done = 0;
    loop {
        let n = q.sock.comp.available(256);
        if n == 0 {
            break;
        }
        let mut contd = 0;
        for i in 0..n {
            let a = q.sock.comp.get(i);
            q.held.remove(pool, a);
            if !q.tx_contd.is_empty() {
                contd += q.tx_contd.remove(pool, a) as u64;
            }
            pool.free_addr(a);
        }
        q.sock.comp.release(n);
        q.in_tx = q.in_tx.saturating_sub(n);
        done += n as u64 - contd;
    }
    if done > 0 {
        q.stats.tx_completed.fetch_add(done, Relaxed);
    }
}

/// Kicks the kernel to transmit. A kick answered `EBUSY` cost one frame the kernel completed
/// without sending it: counted, and the kick repeated for the rest of the ring, at most a
/// burst's worth (a syscall per such frame, only while the link drops frames: the next tick
/// marks a port without carrier down, and its frames are then dropped, counted, before TX).
fn kick_tx(q: &mut Queue) {
    for _ in 0..BURST {
        match q.sock.kick_tx_status() {
            Ok(TxKick::DroppedOne) => {
                q.stats.tx_not_sent.fetch_add(1, Relaxed);
                if q.sock.tx.unconsumed() == 0 {
                    return;
                }
            }
            Ok(TxKick::Done | TxKick::Again | TxKick::Down) => return,
            Err(_) => {
                q.stats.kick_errors.fetch_add(1, Relaxed);
                return;
            }
        }
    }
}

/// A received descriptor that is part of a jumbo frame; returns 1 when it completed a frame
/// (pushed to `out`).
#[cold]
fn rx_segment(
    q: &mut Queue,
    pool: &mut Pool,
    out: &mut Burst,
    addr: u64,
    len: u32,
    opt: u32,
) -> u64 {
    let more = opt & libc::XDP_PKT_CONTD != 0;
    match q.rx_chain.push(pool, Seg { addr, len }, more) {
        RxSeg::More => 0,
        RxSeg::Frame(f) => {
            let _ = out.push(f);
            1
        }
        RxSeg::Bad => {
            q.stats.rx_bad_chain.fetch_add(1, Relaxed);
            0
        }
    }
}

/// [`XskPort::tx_burst`] of a burst holding a jumbo (chained) frame or one too long for the
/// interface: those are dropped (`tx_too_big`), the chains leave as one descriptor per segment.
#[cold]
fn tx_jumbo(q: &mut Queue, pool: &mut Pool, frames: &mut Burst, max: u32) {
    if max != 0 && frames.as_slice().iter().any(|f| f.len > max) {
        let mut kept = Burst::new();
        let mut big = 0;
        for f in frames.drain() {
            if f.len > max {
                pool.free(f);
                big += 1;
            } else {
                let _ = kept.push(f);
            }
        }
        q.stats.tx_too_big.fetch_add(big, Relaxed);
        *frames = kept;
    }
    // descriptors for the whole burst: up to MAX_SEGMENTS a frame
    let want = (frames.len() * crate::frame::MAX_SEGMENTS) as u32;
    if q.sock.tx.free(want) < want {
        complete(q, pool);
    }
    let mut queued = 0;
    while !frames.is_empty() {
        let room = q.sock.tx.free(BURST as u32).min(BURST as u32);
        let (held, contd) = (&mut q.held, &mut q.tx_contd);
        let (nf, nd) = sg::produce(&mut q.sock, pool, frames, room, held, contd);
        if nf == 0 {
            break;
        }
        frames.consume_front(nf);
        q.in_tx += nd;
        queued += nf;
    }
    if queued == 0 {
        return;
    }
    q.stats.tx_queued.fetch_add(queued as u64, Relaxed);
    if !q.sock.need_wakeup || q.sock.tx.needs_wakeup() {
        kick_tx(q);
    }
}

impl Port for XskPort {
    fn id(&self) -> PortId {
        self.id
    }

    fn rx_burst(&mut self, pool: &mut Pool, out: &mut Burst) {
        let nq = self.queues.len();
        for k in 0..nq {
            if out.is_full() {
                break;
            }
            let i = (self.next_rx + k) % nq;
            let (target, reserve) = (self.fill_target, self.reserve);
            let q = &mut self.queues[i];
            let n = q.sock.rx.available(out.room() as u32);
            let mut frames = 0;
            for j in 0..n {
                let d = q.sock.rx.get(j);
                let addr = crate::sys::xsk::desc_addr(d.addr);
                q.held.remove(pool, addr);
                if d.options & libc::XDP_PKT_CONTD == 0 && q.rx_chain.is_empty() {
                    let _ = out.push(Frame {
                        addr,
                        len: d.len,
                        vtag: 0,
                    });
                    frames += 1;
                } else {
                    frames += rx_segment(q, pool, out, addr, d.len, d.options);
                }
            }
            if n > 0 {
                q.sock.rx.release(n);
                q.in_fill -= n.min(q.in_fill);
                q.stats.rx_frames.fetch_add(frames, Relaxed);
                refill(q, pool, target, reserve);
            }
        }
        self.next_rx = (self.next_rx + 1) % nq.max(1);
    }

    fn tx_burst(&mut self, pool: &mut Pool, frames: &mut Burst) {
        let Some(q) = self.queues.first_mut() else {
            return;
        };
        if q.sock.tx.free(frames.len() as u32) < frames.len() as u32 {
            complete(q, pool);
        }
        let max = q.stats.tx_max_len.load(Relaxed);
        let plain = |f: &Frame| !f.is_chained() && (max == 0 || f.len <= max);
        if !frames.as_slice().iter().all(plain) {
            return tx_jumbo(q, pool, frames, max);
        }
        let n = q.sock.tx.free(frames.len() as u32).min(frames.len() as u32);
        if n == 0 {
            return;
        }
        let descs = frames.as_slice()[..n as usize]
            .iter()
            .map(|f| libc::xdp_desc {
                addr: f.addr,
                len: f.len,
                options: 0,
            });
        q.sock.tx.produce(descs, n);
        for f in &frames.as_slice()[..n as usize] {
            q.held.insert(pool, f.addr);
        }
        frames.consume_front(n as usize);
        q.in_tx += n;
        q.stats.tx_queued.fetch_add(n as u64, Relaxed);
        if !q.sock.need_wakeup || q.sock.tx.needs_wakeup() {
            kick_tx(q);
        }
    }

    fn host_rx_burst(&mut self, pool: &mut Pool, out: &mut Burst) {
        if !self.tap_reader {
            return;
        }
        let Some(tap) = &self.tap else { return };
        let max = self
            .queues
            .first()
            .map_or(0, |q| q.stats.tx_max_len.load(Relaxed));
        // EAGAIN (nothing queued) and errors of a TAP going away both end the burst; no frame
        // is lost by a failed read (frames over a chunk become chains: jumbo MTUs)
        let max = (max as usize).max(pool.max_frame());
        crate::buf::io::read_burst(pool, out, max, |iov| {
            tap.read_vectored(iov).filter(|&n| n > 0)
        });
    }

    fn host_tx_burst(&mut self, pool: &mut Pool, frames: &mut Burst) {
        let Some(tap) = &self.tap else { return };
        let mut kept = Burst::new();
        for f in frames.drain() {
            if crate::buf::io::write_frame(pool, &f, |iov| tap.write_vectored(iov)).is_ok() {
                pool.free(f);
            } else {
                let _ = kept.push(f);
            }
        }
        *frames = kept;
    }

    fn maintain(&mut self, pool: &mut Pool) {
        let (target, reserve) = (self.fill_target, self.reserve);
        for q in self.queues.iter_mut() {
            complete(q, pool);
            refill(q, pool, target, reserve);
            // Copy-mode TX stops at its per-call budget: kick again while the ring holds frames.
            if q.sock.tx.unconsumed() > 0 && q.sock.tx.needs_wakeup() {
                kick_tx(q);
            }
            q.stats.serve(&q.sock, &mut q.served);
        }
    }

    /// Returns every chunk: completions and received frames nobody took at once; then the
    /// sockets close, after which the kernel holds none of their chunks (copy mode), and the
    /// rest of what was handed to it (fill ring, TX ring, kept by the kernel) comes home from
    /// `held`, each chunk once. (Not by reading the fill and TX rings: the kernel publishes its
    /// consumer index late, so they may still show chunks it took and gave back already.)
    fn detach(&mut self, pool: &mut Pool) {
        for q in self.queues.iter_mut() {
            complete(q, pool);
            let n = q.sock.rx.available(u32::MAX);
            for i in 0..n {
                let a = crate::sys::xsk::desc_addr(q.sock.rx.get(i).addr);
                q.held.remove(pool, a);
                pool.free_addr(a);
            }
            q.sock.rx.release(n);
            let partial = q.rx_chain.discard(pool) as u64;
            // The chunks in the fill and TX rings come home with the rest of `held` once the
            // socket is closed (below); here they are only counted.
            let (fill, unsent) = (q.sock.fill.unconsumed(), q.sock.tx.unconsumed());
            q.in_fill = q.in_fill.saturating_sub(n + fill);
            q.in_tx = q.in_tx.saturating_sub(unsent);
            // Frames received and never read, queued and never taken by the kernel, or taken
            // and never completed: none was delivered (as far as we can know).
            let lost = n as u64 + unsent as u64 + q.in_tx as u64 + partial;
            q.stats.lost_on_close.fetch_add(lost, Relaxed);
            q.stats
                .fill_lost_on_close
                .fetch_add(q.in_fill as u64, Relaxed);
        }
        for mut q in std::mem::take(&mut self.queues) {
            let mut held = std::mem::take(&mut q.held);
            let zero_copy = q.sock.zero_copy;
            drop(q);
            // In zero-copy mode the driver lets go of its buffers later (a deferred work item),
            // not at close: those chunks stay out of the pool.
            if !zero_copy {
                held.free_all(pool);
            } else if !held.is_empty() {
                tracing::debug!(
                    chunks = held.len(),
                    "zero-copy socket closed: chunks not reclaimed"
                );
            }
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
