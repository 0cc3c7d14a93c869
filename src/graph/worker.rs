//! The data path: a worker polls its ports and runs each burst through the graph.
//!
//! Per burst a worker pins the epoch once, loads the published [`Snapshot`], and runs a
//! depth-first work stack of (node, input slot, burst). A node's `rcv` sends frames out of its
//! slots through [`Cx`]; after it returns, each output burst is handed to the peer of that slot
//! (one counter update per hook per burst). A node that sends its whole input one way hands the
//! burst on whole ([`Cx::forward`]). Frames written to a port are staged and transmitted once per
//! burst (or as soon as 64 are staged). No lock, no allocation in the steady state, no syscall
//! except the port's own, and no reference count is touched per frame.
//!
//! Frames in flight across edits: the burst runs against the snapshot it pinned. A hook or node
//! removed meanwhile is still readable (the epoch keeps it alive) but is marked dead, so frames
//! sent through it are dropped and counted (`hook_gone`, `node_gone`). Cycles are bounded by a
//! per-frame hop limit (`hop_limit`).
//!
//! Captures (`super::capture`): a hook crossing whose snapshot entry has taps copies the burst's
//! frames into the captures' rings for this worker; without captures it costs one `Option`
//! check per burst.
//!
//! Held frames (`super::held`): a node may keep frames to send later (a pipe's delay line, a
//! car's shaping queue) in its state on this worker ([`Cx::with_held`]), and ask to be called
//! back at a graph time ([`Cx::wake_at`]). [`Worker::poll`] then runs, after the ports, the
//! [`NodeType::poll`](super::NodeType::poll) of every node due (one clock read per loop, and
//! only while some node holds state here), and of every holding node after each published edit
//! (one atomic load per loop), where state of nodes gone is freed and counted (`flushed`). What
//! a poll sends runs through the graph as a received burst does. [`Worker::idle_wait`] tells
//! an idle worker how long it may sleep: never past the earliest call-back. So a held frame
//! leaves at the worker's first loop at or after its time: within a loop when busy, within the
//! sleep's overshoot (timer slack, ~50 µs) when idle; the resolution is the graph clock's (ns).

mod direct;

use super::held::{Held, HeldFrames};
use super::node::{hook_stat, HookState, NodeCore, Slot, SLOT_HOST, SLOT_WIRE};
use super::snapshot::{NodeIx, SnapHook, SnapNode, Snapshot, Taps, NO_NODE};
use super::{gstat, DropReason, GraphError, NodeId, Shared, Topo};
use crate::buf::{Burst, Frame, Pool};
use crate::epoch::{Guard, Participant};
use crate::port::{Port, PortId};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A burst owned by the scheduler (boxed so that handing it on moves a pointer).
pub type BurstBox = Box<Burst>;

/// The worker that reads the nodes' own devices ([`NodeType::input`](super::NodeType::input)).
pub const INPUT_WORKER: usize = 0;
/// Loops between two reads of the nodes' devices while they have nothing.
const INPUT_EVERY: u32 = 16;
/// Loops between two reads of a port's host side (its TAP: a `readv(2)` each) while it has
/// nothing. Read every loop, the TAPs of a busy worker 0 (every TAP's reader) took ~10% of
/// its core in the 2-queue lab (bench/lab_scaling.sh). An idle worker waits on the TAPs'
/// descriptors as well and reads them at once when woken ([`Worker::woken`]).
const HOST_EVERY: u32 = 16;

struct Work {
    node: NodeIx,
    slot: Slot,
    hops: u16,
    burst: BurstBox,
}

/// Output staging and the burst free list (split from the work stack for borrowing).
struct Outs {
    free: Vec<BurstBox>,
    allocated: usize,
    max_bursts: usize,
    /// Output bursts of the node being run, in the order they were opened.
    list: Vec<(Slot, BurstBox)>,
    /// Slot → index + 1 into `list` of the open (not full) burst for that slot.
    open: Vec<u32>,
    /// The slot sent to last and its index + 1 in `list` (a fast path for runs of frames
    /// going the same way); 0 when unset.
    last: (Slot, u32),
}

impl Outs {
    fn take(&mut self) -> Option<BurstBox> {
        if let Some(b) = self.free.pop() {
            return Some(b);
        }
        if self.allocated < self.max_bursts {
            self.allocated += 1;
            return Some(Box::new(Burst::new()));
        }
        None
    }
    /// A burst even past the limit (to keep a caller's burst slot valid).
    fn take_always(&mut self) -> BurstBox {
        self.take().unwrap_or_else(|| {
            self.allocated += 1;
            Box::new(Burst::new())
        })
    }
    fn give(&mut self, b: BurstBox) {
        debug_assert!(b.is_empty());
        self.free.push(b);
    }
}

struct LocalPort {
    id: PortId,
    port: Box<dyn Port>,
    tx: Burst,
    host: Burst,
    /// Loops left before the host side is read again ([`HOST_EVERY`]).
    host_skip: u32,
}

struct Ports {
    list: Vec<LocalPort>,
    /// Port ID → index into `list`, or u32::MAX.
    map: Vec<u32>,
}

impl Ports {
    fn local(&self, id: PortId) -> Option<usize> {
        match self.map.get(id as usize) {
            Some(&i) if i != u32::MAX => Some(i as usize),
            _ => None,
        }
    }
}

/// Counts `n` drops for `why` on `core` and in the graph-wide counter of (its type, `why`).
#[inline]
fn count_drop(
    stats: &crate::counters::PerWorker,
    core: &NodeCore,
    w: usize,
    why: DropReason,
    n: u64,
) {
    core.counters.add(w, NodeCore::drop_counter(why), n);
    stats.add(w, gstat::DROPS + core.drop_base + why.index(), n);
}

/// Counts `n` drops for an engine reason outside any node (graph-wide only).
#[inline]
fn count_graph_drop(stats: &crate::counters::PerWorker, w: usize, why: DropReason, n: u64) {
    debug_assert!(why.is_generic());
    stats.add(w, gstat::DROPS + why.index(), n);
}

/// Copies every frame of `b` into each capture of `taps` (worker `w`'s rings): one clock read
/// per burst and capture (the time-stamp counter, or CLOCK_REALTIME by the vDSO: no
/// syscall; `Capture::stamp`), no lock, one publication per capture per burst; a
/// copy that does not fit is counted by the capture and skipped (`Capture::record_burst`).
#[cold]
#[inline(never)]
fn tap(pool: &Pool, w: usize, taps: &Taps, b: &Burst) {
    for (cap, dir) in taps.iter() {
        cap.record_burst(w, cap.stamp(), *dir, pool, b.as_slice());
    }
}

/// A node's view of the worker while it handles a burst.
pub struct Cx<'a> {
    worker: usize,
    now: u32,
    clock: &'a super::Clock,
    guard: &'a Guard,
    node: &'a SnapNode,
    /// The node's index in the snapshot (its entry in `held`).
    ix: NodeIx,
    pool: &'a mut Pool,
    outs: &'a mut Outs,
    ports: &'a mut Ports,
    held: &'a mut Held,
    stats: &'a crate::counters::PerWorker,
}

impl<'a> Cx<'a> {
    /// This worker's index (for per-worker counters).
    #[inline]
    pub fn worker(&self) -> usize {
        self.worker
    }
    /// Graph time in seconds, read once per burst.
    #[inline]
    pub fn now(&self) -> u32 {
        self.now
    }
    /// Graph time in nanoseconds, read at the call (a clock read when the clock is real: a
    /// node that needs it reads it once per burst).
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }
    /// The guard pinned for this burst (for loading a node's own epoch-published state).
    #[inline]
    pub fn guard(&self) -> &'a Guard {
        self.guard
    }
    pub fn node_id(&self) -> NodeId {
        self.node.core.id
    }
    #[inline]
    pub fn data(&self, f: &Frame) -> &[u8] {
        self.pool.data(f)
    }
    /// The frame's first `N` bytes, or None when it is shorter ([`Pool::head`]).
    #[inline(always)]
    pub fn head<const N: usize>(&self, f: &Frame) -> Option<&[u8; N]> {
        self.pool.head::<N>(f)
    }
    #[inline]
    pub fn data_mut(&mut self, f: &Frame) -> &mut [u8] {
        self.pool.data_mut(f)
    }
    #[inline]
    pub fn pool(&mut self) -> &mut Pool {
        self.pool
    }
    /// The hook connected at `slot` in the topology of this burst.
    #[inline]
    pub fn hook(&self, slot: Slot) -> Option<&'a HookState> {
        let n: &'a SnapNode = self.node;
        n.hooks.get(slot as usize)?.as_ref().map(|h| &*h.state)
    }
    #[inline]
    pub fn is_connected(&self, slot: Slot) -> bool {
        self.hook(slot).is_some()
    }
    /// This node's connected hooks, in slot order.
    pub fn hooks(&self) -> impl Iterator<Item = &'a HookState> + 'a {
        let n: &'a SnapNode = self.node;
        n.hooks.iter().flatten().map(|h: &SnapHook| &*h.state)
    }
    /// Adds `v` to counter `idx` of hook `h` (this worker's cell).
    #[inline]
    pub fn count(&self, h: &HookState, idx: usize, v: u64) {
        h.stats.add(self.worker, idx, v);
    }

    /// Sends `f` out of `slot`.
    #[inline(always)]
    pub fn send(&mut self, slot: Slot, f: Frame) {
        let (ls, li) = self.outs.last;
        if li != 0 && ls == slot {
            let b = &mut self.outs.list[li as usize - 1].1;
            if !b.is_full() {
                let _ = b.push(f);
                return;
            }
        }
        // Scalars, not the struct: passing the frame by reference would force it through the
        // stack (written in pieces, read whole: a store-forwarding stall on every frame).
        self.send_slow(slot, f.addr, f.len, f.vtag)
    }

    #[inline(never)]
    fn send_slow(&mut self, slot: Slot, addr: u64, len: u32, vtag: u32) {
        let f = Frame { addr, len, vtag };
        let s = slot as usize;
        if s >= self.outs.open.len() {
            self.outs.open.resize(s + 1, 0);
        }
        let mut i = self.outs.open[s] as usize;
        if i == 0 || self.outs.list[i - 1].1.is_full() {
            let Some(b) = self.outs.take() else {
                self.drop_frame(f, DropReason::WorkOverflow);
                return;
            };
            self.outs.list.push((slot, b));
            i = self.outs.list.len();
            self.outs.open[s] = i as u32;
        }
        // Cannot fail: the burst was checked not full.
        let _ = self.outs.list[i - 1].1.push(f);
        self.outs.last = (slot, i as u32);
    }

    /// Sends the whole burst out of `slot`, as one unit; `frames` is left empty.
    #[inline]
    pub fn forward(&mut self, slot: Slot, frames: &mut BurstBox) {
        if frames.is_empty() {
            return;
        }
        let fresh = self.outs.take_always();
        let full = std::mem::replace(frames, fresh);
        self.push_out(slot, full);
    }

    /// Adds a whole output burst for `slot`; frames sent to `slot` later go after it.
    #[inline]
    fn push_out(&mut self, slot: Slot, b: BurstBox) {
        self.outs.list.push((slot, b));
        if let Some(o) = self.outs.open.get_mut(slot as usize) {
            *o = 0;
        }
        if self.outs.last.0 == slot {
            self.outs.last = (0, 0);
        }
    }

    /// Sends a copy of every frame of `frames` out of `slot`, in order, as one burst (see
    /// [`Cx::copy`] for a copy that cannot be made); `frames` is left as it was.
    pub fn copy_to(&mut self, slot: Slot, frames: &Burst) {
        let Some(mut out) = self.outs.take() else {
            // no burst to gather them in: one at a time (each may count a work overflow)
            for f in frames.as_slice() {
                if let Some(c) = self.copy(f) {
                    self.send(slot, c);
                }
            }
            return;
        };
        let mut failed = 0;
        for f in frames.as_slice() {
            match self.pool.copy(f) {
                Ok(c) => {
                    let _ = out.push(c);
                }
                Err(_) => failed += 1,
            }
        }
        if failed > 0 {
            self.copies_failed(failed);
        }
        let made = out.len() as u64;
        if made == 0 {
            return self.outs.give(out);
        }
        let core = &self.node.core;
        core.counters.add(self.worker, NodeCore::COPIES, made);
        self.stats.add(self.worker, gstat::COPIES, made);
        self.push_out(slot, out);
    }

    /// Drops `f`, counting `why` (an engine reason, or one of this node's type's own) on this
    /// node and graph-wide.
    #[inline]
    pub fn drop_frame(&mut self, f: Frame, why: DropReason) {
        self.pool.free(f);
        count_drop(self.stats, &self.node.core, self.worker, why, 1);
    }

    /// Counts `n` frames lost without a descriptor (a node's device gave frames the pool
    /// could not hold), as `why` on this node and graph-wide.
    pub fn lost(&mut self, why: DropReason, n: u64) {
        if n > 0 {
            count_drop(self.stats, &self.node.core, self.worker, why, n);
        }
    }

    /// Drops every frame of `frames`.
    pub fn drop_all(&mut self, frames: &mut Burst, why: DropReason) {
        let n = frames.len() as u64;
        if n == 0 {
            return;
        }
        for f in frames.drain() {
            self.pool.free(f);
        }
        count_drop(self.stats, &self.node.core, self.worker, why, n);
    }

    /// A copy of `f` in a fresh frame, or None when the pool is empty. A copy that could not be
    /// made is counted as a `no_buffers` drop of that copy on this node (a frame the graph
    /// would have sent and lost: in the balance, frames in = received + copies made + copies
    /// failed = out + drops); the caller skips it (and may count it in a hook counter too, as
    /// the bridge's and one2many's `memoryFailures`).
    #[inline]
    pub fn copy(&mut self, f: &Frame) -> Option<Frame> {
        let Ok(c) = self.pool.copy(f) else {
            self.copies_failed(1);
            return None;
        };
        self.node
            .core
            .counters
            .add(self.worker, NodeCore::COPIES, 1);
        self.stats.add(self.worker, gstat::COPIES, 1);
        Some(c)
    }

    /// Counts `n` copies that were wanted and not attempted (the pool ran dry on an earlier
    /// one): `no_buffers` drops, as a failed [`Cx::copy`] counts them.
    #[cold]
    pub fn copies_failed(&mut self, n: u64) {
        count_drop(
            self.stats,
            &self.node.core,
            self.worker,
            DropReason::NoBufs,
            n,
        );
    }

    /// Runs `f` with this node's state on this worker, where it holds frames to send later
    /// (made by `make` on the node's first use here: the only allocation). One state type per
    /// node type; the state must not be asked for again inside `f`.
    pub fn with_held<T: HeldFrames, R>(
        &mut self,
        make: impl FnOnce() -> T,
        f: impl FnOnce(&mut Cx<'a>, &mut T) -> R,
    ) -> R {
        let core = &self.node.core;
        let me = (core.id, core.drop_base);
        let stats = (self.stats, self.worker);
        let mut st = self.held.take(self.ix, me, self.pool, stats, make);
        let any: &mut dyn std::any::Any = &mut *st;
        let t = any
            .downcast_mut::<T>()
            .expect("a node keeps one type of held state");
        let r = f(self, t);
        self.held.put(self.ix, st);
        r
    }

    /// Asks this worker to call this node's [`NodeType::poll`](super::NodeType::poll) at graph
    /// time `ns` (or soon after); only for a node with held state here ([`Cx::with_held`]).
    #[inline]
    pub fn wake_at(&mut self, ns: u64) {
        self.held.wake_at(self.ix, ns);
    }

    /// Counts `n` frames this node wrote to a device of its own (eiface's TAP, ksocket's
    /// socket): they left the graph there (graph-wide `NODE_TX`, in the balance).
    #[inline]
    pub fn delivered(&mut self, n: u64) {
        self.stats.add(self.worker, gstat::NODE_TX, n);
    }

    /// Stages `f` for transmission on port `port`.
    pub fn port_tx(&mut self, port: PortId, f: Frame) {
        self.stage(port, f, false)
    }

    /// Transmits a whole burst on port `port` (staged frames first, to keep order). `frames`
    /// is left empty.
    pub fn port_tx_burst(&mut self, port: PortId, frames: &mut BurstBox) {
        let Some(i) = self.ports.local(port) else {
            return self.drop_all(frames, DropReason::NoPort);
        };
        if !self.ports.list[i].tx.is_empty() {
            for f in frames.drain() {
                self.stage(port, f, false);
            }
            return;
        }
        let lp = &mut self.ports.list[i];
        let n = frames.len() as u64;
        lp.port.tx_burst(self.pool, frames);
        let left = frames.len() as u64;
        self.stats.add(self.worker, gstat::TX, n - left);
        if left > 0 {
            self.drop_all(frames, DropReason::TxFull);
        }
    }

    /// Stages `f` for delivery to the host stack through port `port`.
    pub fn host_tx(&mut self, port: PortId, f: Frame) {
        self.stage(port, f, true)
    }

    fn stage(&mut self, port: PortId, f: Frame, host: bool) {
        let Some(i) = self.ports.local(port) else {
            self.drop_frame(f, DropReason::NoPort);
            return;
        };
        let full = if host {
            self.ports.list[i].host.is_full()
        } else {
            self.ports.list[i].tx.is_full()
        };
        if full {
            let (sent, left) = flush_port(&mut self.ports.list[i], self.pool, host);
            let w = self.worker;
            self.stats
                .add(w, if host { gstat::HOST_TX } else { gstat::TX }, sent);
            let why = if host {
                DropReason::HostUnavailable
            } else {
                DropReason::TxFull
            };
            if left > 0 {
                count_drop(self.stats, &self.node.core, w, why, left);
            }
        }
        let lp = &mut self.ports.list[i];
        let _ = if host { lp.host.push(f) } else { lp.tx.push(f) };
    }
}

/// Transmits a port's staged frames; frees what the port refused. Returns (sent, refused).
fn flush_port(lp: &mut LocalPort, pool: &mut Pool, host: bool) -> (u64, u64) {
    let LocalPort {
        port, tx, host: hb, ..
    } = lp;
    let b = if host { hb } else { tx };
    let before = b.len();
    if before == 0 {
        return (0, 0);
    }
    if host {
        port.host_tx_burst(pool, b);
    } else {
        port.tx_burst(pool, b);
    }
    let left = b.len();
    for f in b.drain() {
        pool.free(f);
    }
    ((before - left) as u64, left as u64)
}

/// A data-path thread's state. Create it on the thread that runs it (it registers with the
/// epoch there); it is not `Send`.
pub struct Worker {
    sh: Arc<Shared>,
    part: Participant,
    core: Core,
}

/// The worker's mutable parts, borrowed apart from the shared state.
struct Core {
    id: usize,
    hop_limit: u16,
    pool: Pool,
    stack: Vec<Work>,
    outs: Outs,
    ports: Ports,
    /// Nodes holding frames on this worker (see "Held frames" above).
    held: Held,
    /// The nodes to poll in one pass (kept to reuse its allocation).
    due: Vec<(NodeIx, NodeId)>,
    /// Node input (worker 0 only): loops left before the devices are read again when the
    /// last read found nothing, and the publication whose input descriptors were last handed
    /// out ([`Worker::input_fds`]).
    input_skip: u32,
    input_seen: u64,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Return staged frames to the pool before the ports go.
        for lp in self.core.ports.list.iter_mut() {
            for f in lp.tx.drain().chain(lp.host.drain()) {
                self.core.pool.free(f);
            }
        }
        let c = &mut self.core;
        c.held.free_all(&mut c.pool, &self.sh.stats, c.id);
        self.sh.taken[self.core.id].store(false, Ordering::Release);
    }
}

impl Worker {
    pub(crate) fn new(sh: Arc<Shared>, id: usize, pool: Pool) -> Result<Worker, GraphError> {
        if id >= sh.cfg.workers {
            return Err(GraphError::Worker {
                id,
                why: format!(
                    "out of range: the graph was created for {} workers",
                    sh.cfg.workers
                ),
            });
        }
        if sh.taken[id].swap(true, Ordering::AcqRel) {
            return Err(GraphError::Worker {
                id,
                why: "already exists".into(),
            });
        }
        let part = sh.epoch.register();
        let max_bursts = sh.cfg.max_bursts;
        let hop_limit = sh.cfg.hop_limit;
        let prealloc = 64.min(max_bursts);
        Ok(Worker {
            sh,
            part,
            core: Core {
                id,
                hop_limit,
                pool,
                stack: Vec::with_capacity(256),
                outs: Outs {
                    free: (0..prealloc).map(|_| Box::new(Burst::new())).collect(),
                    allocated: prealloc,
                    max_bursts,
                    list: Vec::with_capacity(256),
                    open: vec![0; 64],
                    last: (0, 0),
                },
                ports: Ports {
                    list: Vec::new(),
                    map: Vec::new(),
                },
                held: Held::new(),
                due: Vec::new(),
                input_skip: 0,
                input_seen: u64::MAX,
            },
        })
    }

    pub fn id(&self) -> usize {
        self.core.id
    }
    pub fn pool(&self) -> &Pool {
        &self.core.pool
    }
    pub fn pool_mut(&mut self) -> &mut Pool {
        &mut self.core.pool
    }

    /// Adds this worker's queue of a port (the port's ID comes from `Graph::attach_port`).
    /// A queue already there for the same port is removed first.
    pub fn add_port(&mut self, port: Box<dyn Port>) {
        let id = port.id();
        drop(self.remove_port(id));
        let ports = &mut self.core.ports;
        if ports.map.len() <= id as usize {
            ports.map.resize(id as usize + 1, u32::MAX);
        }
        ports.map[id as usize] = ports.list.len() as u32;
        ports.list.push(LocalPort {
            id,
            port,
            tx: Burst::new(),
            host: Burst::new(),
            host_skip: 0,
        });
    }

    /// Removes this worker's queue of port `id` (flushing what is staged), returning it.
    pub fn remove_port(&mut self, id: PortId) -> Option<Box<dyn Port>> {
        let c = &mut self.core;
        let i = c.ports.local(id)?;
        let mut lp = c.ports.list.swap_remove(i);
        c.ports.map[id as usize] = u32::MAX;
        if let Some(moved) = c.ports.list.get(i) {
            c.ports.map[moved.id as usize] = i as u32;
        }
        for host in [false, true] {
            let (sent, left) = flush_port(&mut lp, &mut c.pool, host);
            self.sh
                .stats
                .add(c.id, if host { gstat::HOST_TX } else { gstat::TX }, sent);
            let why = if host {
                DropReason::HostUnavailable
            } else {
                DropReason::TxFull
            };
            count_graph_drop(&self.sh.stats, c.id, why, left);
        }
        let mut port = lp.port;
        port.detach(&mut c.pool);
        Some(port)
    }

    pub fn port_ids(&self) -> Vec<PortId> {
        self.core.ports.list.iter().map(|p| p.id).collect()
    }

    /// The port object (for tests: downcast with `as_any`).
    pub fn port(&self, id: PortId) -> Option<&dyn Port> {
        self.core
            .ports
            .local(id)
            .map(|i| &*self.core.ports.list[i].port)
    }
    pub fn port_mut(&mut self, id: PortId) -> Option<&mut (dyn Port + 'static)> {
        let i = self.core.ports.local(id)?;
        Some(&mut *self.core.ports.list[i].port)
    }

    /// One pass over every port: housekeeping, one wire burst and one host burst each; then
    /// the nodes holding frames that are due (see "Held frames" above). Returns the frames
    /// received plus the held frames sent on.
    pub fn poll(&mut self) -> usize {
        let mut total = 0;
        for i in 0..self.core.ports.list.len() {
            let c = &mut self.core;
            c.ports.list[i].port.maintain(&mut c.pool);
            total += self.rx_one(i, false);
            let lp = &mut self.core.ports.list[i];
            if lp.host_skip > 0 {
                lp.host_skip -= 1;
                continue;
            }
            let n = self.rx_one(i, true);
            if n == 0 {
                self.core.ports.list[i].host_skip = HOST_EVERY;
            }
            total += n;
        }
        if self.core.held.any() {
            total += self.poll_held();
        }
        if self.core.id == INPUT_WORKER && self.sh.inputs.load(Ordering::Relaxed) > 0 {
            total += self.poll_inputs();
        }
        total
    }

    /// Reads the nodes' own devices (worker 0): every loop while they deliver, else every
    /// [`INPUT_EVERY`] loops (a read per device costs a syscall; an idle worker also waits on
    /// their descriptors, [`Worker::input_fds`], so it wakes when one becomes readable).
    fn poll_inputs(&mut self) -> usize {
        if self.core.input_skip > 0 {
            self.core.input_skip -= 1;
            return 0;
        }
        let sh: &Shared = &self.sh;
        let guard = self.part.pin();
        let n = match &sh.topo {
            Topo::Epoch(cell) => self.core.poll_inputs(sh, cell.load(&guard), &guard),
            Topo::Locked(lock) => {
                let snap = lock.read().unwrap_or_else(|e| e.into_inner());
                self.core.poll_inputs(sh, &snap, &guard)
            }
        };
        if n == 0 {
            self.core.input_skip = INPUT_EVERY;
        }
        n
    }

    /// The descriptors of the nodes' own devices when they changed since the last call (only
    /// on the input worker, worker 0): an idle worker waits on them too.
    pub fn input_fds(&mut self) -> Option<Vec<std::os::fd::RawFd>> {
        if self.core.id != INPUT_WORKER {
            return None;
        }
        let edits = self.sh.edits.load(Ordering::Acquire);
        if edits == self.core.input_seen {
            return None;
        }
        self.core.input_seen = edits;
        // a new node may have come: read at once
        self.core.input_skip = 0;
        let guard = self.part.pin();
        let fds = |snap: &Snapshot| -> Vec<std::os::fd::RawFd> {
            (snap.inputs.iter())
                .filter_map(|&ix| snap.node(ix))
                .filter_map(|n| n.core.imp.input_fd())
                .collect()
        };
        Some(match &self.sh.topo {
            Topo::Epoch(cell) => fds(cell.load(&guard)),
            Topo::Locked(lock) => fds(&lock.read().unwrap_or_else(|e| e.into_inner())),
        })
    }

    /// Polls the nodes holding frames here that are due, or all of them after an edit.
    fn poll_held(&mut self) -> usize {
        let sh: &Shared = &self.sh;
        let edits = sh.edits.load(Ordering::Acquire);
        let sweep = edits != self.core.held.seen_edits;
        if !sweep && self.core.held.next_due == u64::MAX {
            return 0;
        }
        let now = sh.clock.now_ns();
        if !sweep && now < self.core.held.next_due {
            return 0;
        }
        self.core.held.seen_edits = edits;
        let guard = self.part.pin();
        match &sh.topo {
            Topo::Epoch(cell) => self
                .core
                .poll_held(sh, cell.load(&guard), &guard, now, sweep),
            Topo::Locked(lock) => {
                let snap = lock.read().unwrap_or_else(|e| e.into_inner());
                self.core.poll_held(sh, &snap, &guard, now, sweep)
            }
        }
    }

    /// The worker woke from an idle wait (its descriptors may be readable): the next poll reads
    /// every host side and the nodes' devices without skipping.
    pub fn woken(&mut self) {
        for lp in &mut self.core.ports.list {
            lp.host_skip = 0;
        }
        self.core.input_skip = 0;
    }

    /// How long an idle worker may wait for frames before a node holding frames here must be
    /// called back: `max`, or less (zero: one is due now).
    pub fn idle_wait(&self, max: std::time::Duration) -> std::time::Duration {
        let h = &self.core.held;
        if !h.any() {
            return max;
        }
        if self.sh.edits.load(Ordering::Relaxed) != h.seen_edits {
            return std::time::Duration::ZERO;
        }
        if h.next_due == u64::MAX {
            return max;
        }
        let left = h.next_due.saturating_sub(self.sh.clock.now_ns());
        max.min(std::time::Duration::from_nanos(left))
    }

    /// Polls until `stop` is set.
    pub fn run(&mut self, stop: &std::sync::atomic::AtomicBool) {
        let mut idle = 0u32;
        while !stop.load(Ordering::Relaxed) {
            if self.poll() == 0 {
                idle = idle.saturating_add(1);
                if idle > 1024 {
                    std::thread::yield_now();
                }
            } else {
                idle = 0;
            }
        }
    }

    fn rx_one(&mut self, i: usize, host: bool) -> usize {
        if !host {
            if let Some(n) = self.rx_direct(i) {
                return n;
            }
        }
        let c = &mut self.core;
        let Some(mut b) = c.outs.take() else {
            return 0;
        };
        let lp = &mut c.ports.list[i];
        if host {
            lp.port.host_rx_burst(&mut c.pool, &mut b);
        } else {
            lp.port.rx_burst(&mut c.pool, &mut b);
        }
        let n = b.len();
        if n == 0 {
            c.outs.give(b);
            return 0;
        }
        let port = lp.id;
        self.run_burst(port, if host { SLOT_HOST } else { SLOT_WIRE }, b);
        n
    }

    /// Runs `frames` into port `port`'s ether node as if received from the wire (copies the
    /// bytes into the pool). Returns how many frames entered the graph.
    pub fn inject(&mut self, port: PortId, frames: &[&[u8]]) -> usize {
        self.inject_at(port, SLOT_WIRE, frames)
    }

    /// As [`Worker::inject`], as if the host stack had sent the frames.
    pub fn inject_host(&mut self, port: PortId, frames: &[&[u8]]) -> usize {
        self.inject_at(port, SLOT_HOST, frames)
    }

    fn inject_at(&mut self, port: PortId, slot: Slot, frames: &[&[u8]]) -> usize {
        let mut done = 0;
        for chunk in frames.chunks(crate::buf::BURST) {
            let c = &mut self.core;
            let mut b = c.outs.take_always();
            for bytes in chunk {
                match c.pool.frame_from(bytes) {
                    Ok(f) => {
                        let _ = b.push(f);
                    }
                    Err(_) => break,
                }
            }
            done += b.len();
            if b.is_empty() {
                c.outs.give(b);
                break;
            }
            self.run_burst(port, slot, b);
        }
        done
    }

    /// Runs one received burst through the graph and flushes the ports. The epoch is pinned
    /// once, here.
    fn run_burst(&mut self, port: PortId, slot: Slot, burst: BurstBox) {
        let sh: &Shared = &self.sh;
        let guard = self.part.pin();
        match &sh.topo {
            Topo::Epoch(cell) => {
                self.core
                    .run_burst(sh, cell.load(&guard), &guard, port, slot, burst)
            }
            Topo::Locked(lock) => {
                let snap = lock.read().unwrap_or_else(|e| e.into_inner());
                self.core.run_burst(sh, &snap, &guard, port, slot, burst)
            }
        }
    }
}

impl Core {
    /// A node's view of this worker for one call (`rcv`, `poll` or `input`).
    #[inline(always)]
    fn cx<'a>(
        &'a mut self,
        sh: &'a Shared,
        guard: &'a Guard,
        node: &'a SnapNode,
        ix: NodeIx,
        now: u32,
    ) -> Cx<'a> {
        Cx {
            worker: self.id,
            now,
            clock: &sh.clock,
            guard,
            node,
            ix,
            pool: &mut self.pool,
            outs: &mut self.outs,
            ports: &mut self.ports,
            held: &mut self.held,
            stats: &sh.stats,
        }
    }

    fn run_burst(
        &mut self,
        sh: &Shared,
        snap: &Snapshot,
        guard: &Guard,
        port: PortId,
        slot: Slot,
        burst: BurstBox,
    ) {
        let now = sh.clock.now();
        let w = self.id;
        sh.stats.add(
            w,
            if slot == SLOT_HOST {
                gstat::HOST_RX
            } else {
                gstat::RX
            },
            burst.len() as u64,
        );
        sh.stats.add(w, gstat::BURSTS, 1);
        let node = snap.port_node(port);
        if node == NO_NODE {
            let mut burst = burst;
            let n = burst.len() as u64;
            for f in burst.drain() {
                self.pool.free(f);
            }
            count_graph_drop(&sh.stats, w, DropReason::PortDown, n);
            self.outs.give(burst);
            return;
        }
        self.stack.push(Work {
            node,
            slot,
            hops: 0,
            burst,
        });
        self.run_stack(sh, snap, guard, now);
        self.flush(sh, snap);
    }

    fn run_stack(&mut self, sh: &Shared, snap: &Snapshot, guard: &Guard, now: u32) {
        let w = self.id;
        let stats = &sh.stats;
        while let Some(work) = self.stack.pop() {
            let node = snap
                .node(work.node)
                .expect("work items name nodes of their snapshot");
            let mut burst = work.burst;
            if !node.core.is_alive() {
                let n = burst.len() as u64;
                for f in burst.drain() {
                    self.pool.free(f);
                }
                count_drop(stats, &node.core, w, DropReason::NodeGone, n);
                self.outs.give(burst);
                continue;
            }
            {
                let mut cx = self.cx(sh, guard, node, work.node, now);
                node.core.imp.rcv(&mut cx, work.slot, &mut burst);
                if !burst.is_empty() {
                    cx.drop_all(&mut burst, DropReason::Unhandled);
                }
            }
            self.outs.give(burst);
            self.dispatch_outs(stats, snap, work.node, work.hops + 1);
        }
    }

    /// Hands each output burst of the node just run to the peer of its slot.
    #[inline]
    fn dispatch_outs(
        &mut self,
        stats: &crate::counters::PerWorker,
        snap: &Snapshot,
        from: NodeIx,
        hops: u16,
    ) {
        self.outs.last = (0, 0);
        let mut list = std::mem::take(&mut self.outs.list);
        for (slot, out) in list.drain(..) {
            if let Some(o) = self.outs.open.get_mut(slot as usize) {
                *o = 0;
            }
            self.dispatch(stats, snap, from, slot, out, hops);
        }
        self.outs.list = list;
    }

    /// Calls back the nodes holding frames here that are due at `now` (all of them after an
    /// edit, `sweep`), freeing the state of nodes gone; runs what they send through the graph
    /// and flushes the ports. Returns the frames they sent.
    fn poll_held(
        &mut self,
        sh: &Shared,
        snap: &Snapshot,
        guard: &Guard,
        now: u64,
        sweep: bool,
    ) -> usize {
        let (w, stats) = (self.id, &sh.stats);
        let secs = (now / 1_000_000_000) as u32;
        let mut due = std::mem::take(&mut self.due);
        self.held.due_now(now, sweep, &mut due);
        let mut sent = 0;
        for &(ix, id) in &due {
            let node = match snap.node(ix) {
                Some(n) if n.core.id == id && n.core.is_alive() => n,
                _ => {
                    self.held.free_at(ix as usize, &mut self.pool, stats, w);
                    continue;
                }
            };
            let mut cx = self.cx(sh, guard, node, ix, secs);
            if let Some(t) = node.core.imp.poll(&mut cx, now) {
                cx.wake_at(t);
            }
            sent += self.outs.list.iter().map(|(_, b)| b.len()).sum::<usize>();
            self.dispatch_outs(stats, snap, ix, 1);
            self.run_stack(sh, snap, guard, secs);
        }
        self.due = due;
        self.flush(sh, snap);
        sent
    }

    /// Has every node with a device of its own read a burst from it; runs what they sent
    /// through the graph and flushes the ports. Returns the frames read.
    fn poll_inputs(&mut self, sh: &Shared, snap: &Snapshot, guard: &Guard) -> usize {
        let (w, stats) = (self.id, &sh.stats);
        let now = sh.clock.now();
        let mut read = 0;
        for &ix in &snap.inputs {
            let Some(node) = snap.node(ix).filter(|n| n.core.is_alive()) else {
                continue;
            };
            let mut cx = self.cx(sh, guard, node, ix, now);
            // what the node read (some it may have dropped, counted, rather than sent)
            let got = node.core.imp.input(&mut cx);
            read += got;
            stats.add(w, gstat::NODE_RX, got as u64);
            if self.outs.list.is_empty() {
                continue;
            }
            stats.add(w, gstat::BURSTS, 1);
            self.dispatch_outs(stats, snap, ix, 1);
            self.run_stack(sh, snap, guard, now);
        }
        if read > 0 {
            self.flush(sh, snap);
        }
        read
    }

    #[inline]
    fn dispatch(
        &mut self,
        stats: &crate::counters::PerWorker,
        snap: &Snapshot,
        from: NodeIx,
        slot: Slot,
        mut b: BurstBox,
        hops: u16,
    ) {
        let w = self.id;
        let why = match snap.hook(from, slot) {
            None => DropReason::NotConnected,
            Some(h) if !h.state.is_alive() => DropReason::HookGone,
            Some(_) if hops > self.hop_limit => DropReason::HopLimit,
            Some(h) => {
                let frames = b.len() as u64;
                let octets = b.octets();
                h.state.stats.add(w, hook_stat::OUT_FRAMES, frames);
                h.state.stats.add(w, hook_stat::OUT_OCTETS, octets);
                if let Some(p) = snap.hook(h.peer_node, h.peer_slot) {
                    p.state.stats.add(w, hook_stat::IN_FRAMES, frames);
                    p.state.stats.add(w, hook_stat::IN_OCTETS, octets);
                }
                if let Some(taps) = &h.taps {
                    tap(&self.pool, w, taps, &b);
                }
                self.stack.push(Work {
                    node: h.peer_node,
                    slot: h.peer_slot,
                    hops,
                    burst: b,
                });
                return;
            }
        };
        let n = b.len() as u64;
        for f in b.drain() {
            self.pool.free(f);
        }
        if let Some(node) = snap.node(from) {
            count_drop(stats, &node.core, w, why, n);
        }
        self.outs.give(b);
    }

    /// Transmits everything staged on every port (once per burst).
    fn flush(&mut self, sh: &Shared, snap: &Snapshot) {
        let w = self.id;
        for lp in self.ports.list.iter_mut() {
            for host in [false, true] {
                let (sent, left) = flush_port(lp, &mut self.pool, host);
                if sent > 0 {
                    sh.stats
                        .add(w, if host { gstat::HOST_TX } else { gstat::TX }, sent);
                }
                if left > 0 {
                    let why = if host {
                        DropReason::HostUnavailable
                    } else {
                        DropReason::TxFull
                    };
                    match snap.node(snap.port_node(lp.id)) {
                        Some(n) => count_drop(&sh.stats, &n.core, w, why, left),
                        None => count_graph_drop(&sh.stats, w, why, left),
                    }
                }
            }
        }
    }
}
