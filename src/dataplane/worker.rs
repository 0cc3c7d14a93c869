//! A worker thread: pinned to its core, it owns its frame memory (its pool) and the ports the
//! backends opened on it, runs bursts through the graph, and takes commands from the
//! management thread between bursts (open a port from a backend's [`PortMaker`], close one).

use super::backend::{
    Locals, MemoryMaker, OnClose, PortMaker, RegionInfo, WorkerCx, WorkerMemory, WorkerPort,
};
use super::health::{panic_message, Heartbeat, TestFault};
use super::DataplaneError;
use crate::buf::{Pool, Region};
use crate::frame::{CHUNK_SIZE, HEADROOM};
use crate::graph::{GraphHandle, Worker};
use crate::port::PortId;
use crate::sys::wake::Wake;
use crate::sys::xsk::PollSet;
use std::any::Any;
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the management thread waits for a worker's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Empty polls before an idle worker (not busy-polling) starts waiting in poll(2).
pub(super) const IDLE_POLLS: u32 = 2048;
/// The longest an idle worker sleeps in poll(2) on its ports' descriptors: a frame wakes it
/// at once, and so does a command (its [`Wake`]); it wakes by itself only to beat its
/// heartbeat (well within the stall timeout, `health::STALL_TIMEOUT`). Until 2026-12-03 this
/// was 1 ms: ~900 wake-ups a second on an idle worker's core, which took that core from the
/// kernel's receive work on it (the fast path's NAPI thread).
pub(super) const IDLE_WAIT: Duration = Duration::from_millis(10);
/// The longest an idle worker sleeps when one of its ports has no descriptor to wait on (a
/// DPDK device, an in-memory port): it sleeps, then polls, so this bounds the latency of a
/// frame arriving while it sleeps.
pub(super) const IDLE_SLEEP: Duration = Duration::from_millis(1);
/// Empty polls between two `sched_yield(2)`s of a worker spinning before its idle wait (not
/// busy-polling): a kernel thread that has work for it on the same core (a veth's NAPI thread
/// placed there) runs then, instead of waiting for the scheduler to preempt the worker. On the
/// veth lab with the ingress NAPI thread on the worker's core, at 50 kpps: p50 32 → 19 µs,
/// p99 0.2-0.35 → 0.07-0.24 ms, and 64 B throughput +5% (bench/results/worker-yield-ab-2026-12-03.txt;
/// every 16 polls was worse).
const YIELD_EVERY: u32 = 64;
/// Loop iterations between two publications of the pool's free count.
const PUBLISH_EVERY: u64 = 1024;

/// What the management thread asks a worker.
pub(super) enum Cmd {
    /// Open a port from a backend's maker and add it to the worker.
    Open(PortId, PortMaker, Sender<Result<(), DataplaneError>>),
    /// Remove a port (its frames go back to the pool) and close it.
    Close(PortId, Sender<Result<(), DataplaneError>>),
    /// A test hook: panic, or stop polling for good.
    Fault(TestFault),
}

/// How to start a worker.
pub(super) struct Spawn {
    pub id: usize,
    pub core: usize,
    pub graph: GraphHandle,
    /// A backend's frame memory for this worker (else an anonymous mapping of `frames`).
    pub memory: Option<MemoryMaker>,
    pub frames: usize,
    pub busy_poll: bool,
    /// Empty polls before waiting in poll(2) (see `DataplaneConfig::idle_polls`).
    pub idle_polls: u32,
    /// The worker's nice value (0: unchanged).
    pub nice: i32,
    pub stop: Arc<AtomicBool>,
    pub health: Arc<Heartbeat>,
}

/// The management thread's handle on a worker.
pub(super) struct WorkerThread {
    pub core: usize,
    /// Chunk size of the worker's frame memory.
    pub chunk_size: usize,
    pub health: Arc<Heartbeat>,
    cmds: Sender<Cmd>,
    /// Wakes the worker from its idle sleep (after a command, at the stop).
    wake: Arc<Wake>,
    thread: Option<JoinHandle<()>>,
}

/// How a worker thread ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ended {
    Clean,
    Panicked(String),
    /// It did not end in time (stuck): left running until the process exits.
    Stuck,
}

impl WorkerThread {
    /// Starts the worker; returns once its frame memory and graph worker are ready.
    pub fn spawn(s: Spawn) -> Result<WorkerThread, DataplaneError> {
        let (id, core, health) = (s.id, s.core, s.health.clone());
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let wake = Arc::new(Wake::new().map_err(|e| {
            DataplaneError::Worker(format!("worker {id}: eventfd for its wake-ups: {e}"))
        })?);
        let wake2 = wake.clone();
        let thread = std::thread::Builder::new()
            .name(format!("xdpgraph-w{id}"))
            .spawn(move || worker_main(s, rx, wake2, ready_tx))
            .map_err(|e| DataplaneError::Worker(format!("spawning worker {id}: {e}")))?;
        let mut w = WorkerThread {
            core,
            chunk_size: 0,
            health,
            cmds: tx,
            wake,
            thread: Some(thread),
        };
        match ready_rx.recv() {
            Ok(Ok(chunk)) => {
                w.chunk_size = chunk;
                Ok(w)
            }
            Ok(Err(e)) => Err(DataplaneError::Worker(format!(
                "worker {id} on core {core}: {e}"
            ))),
            Err(_) => Err(DataplaneError::Worker(format!(
                "worker {id} on core {core} died at start"
            ))),
        }
    }

    fn ask(
        &self,
        w: usize,
        make: impl FnOnce(Sender<Result<(), DataplaneError>>) -> Cmd,
    ) -> Result<(), DataplaneError> {
        let (tx, rx) = mpsc::channel();
        self.cmds
            .send(make(tx))
            .map_err(|_| DataplaneError::Worker(format!("worker {w} has stopped")))?;
        self.wake.kick();
        rx.recv_timeout(ANSWER_TIMEOUT)
            .map_err(|_| DataplaneError::Worker(format!("worker {w} did not answer")))?
    }

    /// Has worker `w` (this one) open a port.
    pub fn open(&self, w: usize, port: PortId, maker: PortMaker) -> Result<(), DataplaneError> {
        self.ask(w, |r| Cmd::Open(port, maker, r))
    }

    /// Has worker `w` (this one) close a port (nothing when it has none of that id).
    pub fn close(&self, w: usize, port: PortId) -> Result<(), DataplaneError> {
        self.ask(w, |r| Cmd::Close(port, r))
    }

    /// Has the worker panic or stall (a test hook); no answer.
    pub fn fault(&self, f: TestFault) {
        let _ = self.cmds.send(Cmd::Fault(f));
        self.wake.kick();
    }

    /// Wakes the worker if it sleeps (to see the stop flag at once).
    pub fn kick(&self) {
        self.wake.kick();
    }

    /// Whether the thread has ended (for whatever reason).
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits up to `timeout` for the worker to end (the stop flag is set); a worker still
    /// running then is left to the process's exit.
    pub fn join(&mut self, timeout: Duration) -> Ended {
        let Some(t) = self.thread.take() else {
            return Ended::Clean;
        };
        let until = Instant::now() + timeout;
        while !t.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        if !t.is_finished() {
            return Ended::Stuck;
        }
        match (t.join(), self.health.panic()) {
            (Err(p), _) => Ended::Panicked(panic_message(p.as_ref())),
            (Ok(()), Some(m)) => Ended::Panicked(m),
            (Ok(()), None) => Ended::Clean,
        }
    }
}

/// What a worker keeps of an open port besides the port itself.
struct Opened {
    fds: Vec<RawFd>,
    on_close: Option<OnClose>,
}

/// A running worker.
struct Running {
    id: usize,
    w: Worker,
    region: RegionInfo,
    locals: Locals,
    opened: BTreeMap<PortId, Opened>,
    /// Every open port's descriptors and the wake-up's, to wait on when idle.
    fds: PollSet,
    wake: Arc<Wake>,
    /// Whether every open port has a descriptor that wakes the worker when frames come (else
    /// it sleeps at most [`IDLE_SLEEP`] at a time).
    pollable: bool,
    /// The descriptors of the nodes' own devices (eiface, ksocket), on the input worker.
    input_fds: Vec<RawFd>,
    health: Arc<Heartbeat>,
}

fn worker_main(
    s: Spawn,
    cmds: Receiver<Cmd>,
    wake: Arc<Wake>,
    ready: Sender<Result<usize, DataplaneError>>,
) {
    if let Err(e) = crate::sys::cpu::pin_current_thread(s.core) {
        tracing::warn!(core = s.core, "cannot pin worker {}: {e}", s.id);
    }
    if s.nice != 0 {
        if let Err(e) = crate::sys::cpu::set_thread_nice(s.nice) {
            tracing::warn!(
                core = s.core,
                "worker {}: cannot set nice {} ({e}): other threads on its core compete with it as equals",
                s.id,
                s.nice
            );
        }
    }
    let memory = match s.memory {
        Some(make) => make(s.id, s.core),
        None => anonymous_memory(s.frames),
    };
    let WorkerMemory {
        pool,
        region,
        guard,
        busy,
    } = match memory {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let w = match s.graph.worker(s.id, pool) {
        Ok(w) => w,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    let _ = ready.send(Ok(region.chunk_size));
    let mut r = Running {
        id: s.id,
        w,
        region,
        locals: Locals::default(),
        opened: BTreeMap::new(),
        fds: PollSet::default(),
        wake,
        pollable: true,
        input_fds: Vec::new(),
        health: s.health,
    };
    r.collect_fds();
    r.publish();
    let busy = busy || s.busy_poll;
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        r.run(&cmds, &s.stop, busy, s.idle_polls)
    }));
    if let Err(p) = ran {
        // the management thread sees it and stops the daemon; the ports close as they drop
        let msg = panic_message(p.as_ref());
        tracing::error!(worker = r.id, core = s.core, "worker panicked: {msg}");
        r.health.panicked(msg);
        return;
    }
    for id in r.w.port_ids() {
        r.close(id);
    }
    r.health.stopped();
    // the pool goes before the guard: its chunks go home through what the guard keeps
    drop(r);
    drop(guard);
}

/// A worker's frames in an anonymous mapping of `frames` page-sized chunks (also its UMEM).
fn anonymous_memory(frames: usize) -> Result<WorkerMemory, DataplaneError> {
    let len = frames * CHUNK_SIZE;
    let mapping = crate::sys::mmap::Mapping::anonymous(len, false).map_err(DataplaneError::io(
        format!("cannot map {len} bytes for the UMEM"),
    ))?;
    let region = RegionInfo {
        addr: mapping.as_ptr() as u64,
        len: mapping.len() as u64,
        chunk_size: CHUNK_SIZE,
    };
    Ok(WorkerMemory {
        pool: Pool::with_region(Region::Mapped(mapping), CHUNK_SIZE, HEADROOM),
        region,
        guard: None::<Box<dyn Any>>,
        busy: false,
    })
}

impl Running {
    fn run(&mut self, cmds: &Receiver<Cmd>, stop: &AtomicBool, busy: bool, idle_polls: u32) {
        let mut idle = 0u32;
        let mut beats = 0u64;
        while !stop.load(Ordering::Relaxed) {
            beats += 1;
            self.health.beat(beats);
            if beats.is_multiple_of(PUBLISH_EVERY) {
                self.publish();
            }
            while let Ok(cmd) = cmds.try_recv() {
                self.handle(cmd);
            }
            if let Some(fds) = self.w.input_fds() {
                self.input_fds = fds;
                self.collect_fds();
            }
            if self.w.poll() > 0 {
                idle = 0;
                continue;
            }
            idle = idle.saturating_add(1);
            if !busy && idle.is_multiple_of(YIELD_EVERY) && idle <= idle_polls {
                std::thread::yield_now();
            }
            if !busy && idle > idle_polls {
                // Never past the time a node holding frames here must send them (a pipe's
                // delay, a car's shaping queue): nearer than poll(2)'s 1 ms step, a precise
                // sleep instead; due now, no wait.
                let most = if self.pollable { IDLE_WAIT } else { IDLE_SLEEP };
                let wait = self.w.idle_wait(most);
                if wait.is_zero() {
                    continue;
                }
                // what `ctl status` shows stays current while the loop turns slowly
                self.publish();
                if !self.pollable || wait < Duration::from_millis(1) {
                    std::thread::sleep(wait);
                } else if self.fds.wait(wait.as_millis() as i32).unwrap_or(0) > 0 {
                    self.wake.clear();
                }
                self.w.woken();
            }
        }
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Open(port, maker, reply) => {
                let r = self.open(port, maker);
                self.publish();
                let _ = reply.send(r);
            }
            Cmd::Close(port, reply) => {
                self.close(port);
                self.publish();
                let _ = reply.send(Ok(()));
            }
            Cmd::Fault(TestFault::Panic) => {
                panic!("test hook: worker {} panics", self.id)
            }
            Cmd::Fault(TestFault::Stall) => {
                tracing::warn!(worker = self.id, "test hook: this worker stops polling");
                loop {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    /// Publishes the pool's free count (for `ctl status` and the tests).
    fn publish(&self) {
        let p = self.w.pool();
        self.health
            .set_frames(p.available(), p.capacity(), p.double_frees());
    }

    fn cx(&mut self) -> WorkerCx<'_> {
        WorkerCx {
            worker: self.id,
            region: self.region,
            wake: &self.wake,
            pool: self.w.pool_mut(),
            locals: &mut self.locals,
        }
    }

    fn open(&mut self, port: PortId, maker: PortMaker) -> Result<(), DataplaneError> {
        let WorkerPort {
            port: p,
            fds,
            on_close,
        } = maker(&mut self.cx())?;
        debug_assert_eq!(p.id(), port);
        self.w.add_port(p);
        self.opened.insert(port, Opened { fds, on_close });
        self.collect_fds();
        Ok(())
    }

    fn close(&mut self, port: PortId) {
        let closed = self.w.remove_port(port);
        let opened = self.opened.remove(&port);
        drop(closed);
        if let Some(f) = opened.and_then(|o| o.on_close) {
            f(&mut self.cx());
        }
        self.collect_fds();
    }

    fn collect_fds(&mut self) {
        let fds: Vec<RawFd> = (self.opened.values())
            .flat_map(|o| o.fds.iter().copied())
            .chain(self.input_fds.iter().copied())
            .chain([self.wake.fd()])
            .collect();
        self.fds = PollSet::new(&fds);
        self.pollable = self.opened.values().all(|o| !o.fds.is_empty());
    }
}
