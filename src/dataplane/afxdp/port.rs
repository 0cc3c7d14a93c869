//! [`XskPort`]: one worker's AF_XDP sockets on one interface, as a [`Port`].

use crate::buf::{Burst, ChunkSet, Frame, Pool};
use crate::port::{Port, PortId};
use crate::sys::netdev::Tap;
use crate::sys::xsk::{BindMode, RingSizes, UmemSource, XskSocket, XskStats};
use std::any::Any;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Counters of one queue's socket, published by the worker for the management thread.
#[derive(Debug, Default)]
pub struct QueueStats {
    pub queue: u32,
    pub rx_frames: AtomicU64,
    pub tx_frames: AtomicU64,
    /// Frames the kernel dropped at the socket (XDP_STATISTICS rx_dropped).
    pub rx_dropped: AtomicU64,
    pub rx_ring_full: AtomicU64,
    pub rx_fill_ring_empty: AtomicU64,
    pub rx_invalid_descs: AtomicU64,
    pub tx_invalid_descs: AtomicU64,
    pub tx_ring_empty: AtomicU64,
    pub kick_errors: AtomicU64,
    /// Frames the kernel still held when the socket closed (their chunks come back to the
    /// pool once it is closed, in copy mode).
    pub lost_on_close: AtomicU64,
    pub zero_copy: AtomicU64,
}

impl QueueStats {
    fn publish(&self, s: &XskStats) {
        self.rx_dropped.store(s.rx_dropped, Relaxed);
        self.rx_ring_full.store(s.rx_ring_full, Relaxed);
        self.rx_fill_ring_empty
            .store(s.rx_fill_ring_empty_descs, Relaxed);
        self.rx_invalid_descs.store(s.rx_invalid_descs, Relaxed);
        self.tx_invalid_descs.store(s.tx_invalid_descs, Relaxed);
        self.tx_ring_empty.store(s.tx_ring_empty_descs, Relaxed);
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
    /// Chunks given to the fill ring and not yet received.
    in_fill: u32,
    /// Frames on the TX ring or in the kernel, not yet completed.
    in_tx: u32,
    /// Every chunk handed to the kernel (fill and TX rings) and not back yet.
    held: ChunkSet,
    stats: Arc<QueueStats>,
}

/// This worker's queues of one interface.
pub struct XskPort {
    id: PortId,
    queues: Vec<Queue>,
    next_rx: usize,
    fill_target: u32,
    tap: Option<Tap>,
    tap_reader: bool,
    polls: u32,
}

/// How a worker opens its sockets.
#[derive(Debug, Clone, Copy)]
pub struct SocketConfig {
    pub sizes: RingSizes,
    /// Try zero-copy first (falls back to copy mode when the driver refuses).
    pub zero_copy: bool,
    /// Chunks each socket keeps in its fill ring.
    pub fill_target: u32,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            sizes: RingSizes::default(),
            zero_copy: true,
            fill_target: 1024,
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
            fill_target: cfg.fill_target.min(cfg.sizes.fill),
            tap: None,
            tap_reader: false,
            polls: 0,
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
            let mut queue = Queue {
                sock,
                in_fill: 0,
                in_tx: 0,
                held: ChunkSet::for_pool(pool),
                stats: st,
            };
            refill(&mut queue, pool, port.fill_target);
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

/// Tops the fill ring up to `target` chunks.
fn refill(q: &mut Queue, pool: &mut Pool, target: u32) {
    if q.in_fill >= target {
        return;
    }
    let want = (target - q.in_fill).min(pool.available() as u32);
    let n = q.sock.fill.free(want).min(want);
    if n == 0 {
        return;
    }
    let mut bases = [0u64; 256];
    let mut done = 0;
    while done < n {
        let k = (n - done).min(256);
        for b in bases.iter_mut().take(k as usize) {
            *b = pool.alloc().expect("checked available");
            q.held.insert(pool, *b);
        }
        q.sock.fill.produce(bases.iter().copied(), k);
        done += k;
    }
    q.in_fill += n;
    if q.sock.fill.needs_wakeup() {
        q.sock.kick_rx();
    }
}

fn complete(q: &mut Queue, pool: &mut Pool) {
    loop {
        let n = q.sock.comp.available(256);
        if n == 0 {
            break;
        }
        for i in 0..n {
            let a = q.sock.comp.get(i);
            q.held.remove(pool, a);
            pool.free_addr(a);
        }
        q.sock.comp.release(n);
        q.in_tx = q.in_tx.saturating_sub(n);
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
            let target = self.fill_target;
            let q = &mut self.queues[i];
            let n = q.sock.rx.available(out.room() as u32);
            for j in 0..n {
                let d = q.sock.rx.get(j);
                let addr = crate::sys::xsk::desc_addr(d.addr);
                q.held.remove(pool, addr);
                let _ = out.push(Frame {
                    addr,
                    len: d.len,
                    vtag: 0,
                });
            }
            if n > 0 {
                q.sock.rx.release(n);
                q.in_fill -= n.min(q.in_fill);
                q.stats.rx_frames.fetch_add(n as u64, Relaxed);
                refill(q, pool, target);
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
        q.stats.tx_frames.fetch_add(n as u64, Relaxed);
        if (!q.sock.need_wakeup || q.sock.tx.needs_wakeup()) && q.sock.kick_tx().is_err() {
            q.stats.kick_errors.fetch_add(1, Relaxed);
        }
    }

    fn host_rx_burst(&mut self, pool: &mut Pool, out: &mut Burst) {
        if !self.tap_reader {
            return;
        }
        let Some(tap) = &self.tap else { return };
        let head = pool.headroom();
        while !out.is_full() {
            let Some(base) = pool.alloc() else { break };
            // EAGAIN (nothing queued) and errors of a TAP going away both end the burst;
            // no frame is lost by a failed read
            let n = tap.read(&mut pool.chunk_mut(base)[head..]).unwrap_or(0);
            if n == 0 {
                pool.free_addr(base);
                break;
            }
            let _ = out.push(Frame {
                addr: base + head as u64,
                len: n as u32,
                vtag: 0,
            });
        }
    }

    fn host_tx_burst(&mut self, pool: &mut Pool, frames: &mut Burst) {
        let Some(tap) = &self.tap else { return };
        let mut kept = Burst::new();
        for f in frames.drain() {
            if tap.write(pool.data(&f)).is_ok() {
                pool.free(f);
            } else {
                let _ = kept.push(f);
            }
        }
        *frames = kept;
    }

    fn maintain(&mut self, pool: &mut Pool) {
        self.polls = self.polls.wrapping_add(1);
        let target = self.fill_target;
        let publish = self.polls.is_multiple_of(4096);
        for q in self.queues.iter_mut() {
            complete(q, pool);
            refill(q, pool, target);
            // Copy-mode TX stops at its per-call budget: kick again while the ring holds frames.
            if q.sock.tx.unconsumed() > 0 && q.sock.tx.needs_wakeup() && q.sock.kick_tx().is_err() {
                q.stats.kick_errors.fetch_add(1, Relaxed);
            }
            if publish {
                if let Ok(s) = q.sock.stats() {
                    q.stats.publish(&s);
                }
            }
        }
    }

    /// Returns every chunk: completions and received frames nobody took at once; then the
    /// sockets close, after which the kernel holds none of their chunks (copy mode), and the
    /// rest of what was handed to it (fill ring, TX ring, kept by the kernel) comes home from
    /// `held`, each chunk once. (Not by reading the fill and TX rings: the kernel publishes its
    /// consumer index late, so they may still show chunks it took and gave back already.)
    fn detach(&mut self, pool: &mut Pool) {
        for q in self.queues.iter_mut() {
            if let Ok(s) = q.sock.stats() {
                q.stats.publish(&s);
            }
            complete(q, pool);
            let n = q.sock.rx.available(u32::MAX);
            for i in 0..n {
                let a = crate::sys::xsk::desc_addr(q.sock.rx.get(i).addr);
                q.held.remove(pool, a);
                pool.free_addr(a);
            }
            q.sock.rx.release(n);
            let (fill, tx) = (q.sock.fill.unconsumed(), q.sock.tx.unconsumed());
            q.in_fill = q.in_fill.saturating_sub(n + fill);
            q.in_tx = q.in_tx.saturating_sub(tx);
            q.stats
                .lost_on_close
                .fetch_add((q.in_fill + q.in_tx) as u64, Relaxed);
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
