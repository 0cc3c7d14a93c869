//! What a data-plane backend is: the [`Backend`] (one per kind of port: AF_XDP, DPDK,
//! in-memory), the [`Interface`]s it attaches, and what it hands the workers.
//!
//! The [`Dataplane`](super::Dataplane) asks each registered backend once whether it claims a
//! name ([`Backend::claims`]), lets the claimant [`attach`](Backend::attach) it, gives the
//! interface's [`PortCtl`] to the graph, and has every worker open the interface's per-queue
//! [`Port`] from a [`PortMaker`] the interface makes for it. Detaching runs the same steps
//! backwards. A backend may also provide the workers' frame memory
//! ([`Backend::worker_memory`]: DPDK's frame areas); otherwise a worker's frames live in an
//! anonymous mapping.

use super::DataplaneError;
use crate::buf::Pool;
pub use crate::port::{DriverStats, PortDrop};
use crate::port::{Port, PortCtl, PortId};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::Arc;

/// Whether a backend takes a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Not this backend's.
    No,
    /// This backend's.
    Yes,
    /// This backend's when no other backend says [`Claim::Yes`] (AF_XDP: any other name is a
    /// Linux interface name).
    Fallback,
}

/// An attach request, as the data plane hands it to the backend that claimed the name.
#[derive(Debug, Clone)]
pub struct AttachRequest<'a> {
    /// The name given (`ctl attach NAME`, `--iface NAME`).
    pub name: &'a str,
    /// RX queues to use at most (None: all, or the backend's default).
    pub queues: Option<u32>,
    /// Workers: the interface needs one port per worker.
    pub workers: usize,
    /// The smallest chunk of the workers' frame memory (frames must fit it).
    pub chunk_size: usize,
}

/// An interface as `ctl interfaces` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceDesc {
    /// The interface's name (its ether node's name).
    pub name: String,
    /// Its port in the graph.
    pub port: PortId,
    /// The backend: "afxdp", "dpdk", "mem".
    pub kind: &'static str,
    /// AF_XDP: "native"/"generic"; DPDK: the driver; memory: "-".
    pub mode: String,
    /// RX queues in use.
    pub queues: usize,
    pub up: bool,
}

/// The worker's memory region the pool is cut from (an AF_XDP socket registers it as its UMEM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionInfo {
    pub addr: u64,
    pub len: u64,
    pub chunk_size: usize,
}

/// A worker's frames, made on the worker's thread.
pub struct WorkerMemory {
    pub pool: Pool,
    pub region: RegionInfo,
    /// Dropped when the worker ends, after its pool and ports (e.g. its registration as a DPDK
    /// EAL thread, whose mempool cache gets the pool's last chunks).
    pub guard: Option<Box<dyn Any>>,
    /// The ports on this memory are polled only (no descriptor to sleep on): the worker spins.
    pub busy: bool,
}

/// Makes a worker's frame memory, on that worker's thread (arguments: worker index, core).
pub type MemoryMaker = Box<dyn FnOnce(usize, usize) -> Result<WorkerMemory, DataplaneError> + Send>;

/// Opens an interface's port on a worker, on the worker's thread.
pub type PortMaker =
    Box<dyn FnOnce(&mut WorkerCx<'_>) -> Result<WorkerPort, DataplaneError> + Send>;

/// Runs on the worker once a port is removed (its frames back in the pool).
pub type OnClose = Box<dyn FnOnce(&mut WorkerCx<'_>)>;

/// A port opened on a worker.
pub struct WorkerPort {
    pub port: Box<dyn Port>,
    /// Descriptors the worker may wait on when idle (none: it polls).
    pub fds: Vec<RawFd>,
    pub on_close: Option<OnClose>,
}

impl WorkerPort {
    /// A port that needs nothing more from the worker.
    pub fn new(port: Box<dyn Port>) -> WorkerPort {
        WorkerPort {
            port,
            fds: Vec::new(),
            on_close: None,
        }
    }
}

/// Per-worker state of the backends, one value per type (e.g. AF_XDP's shared UMEM).
#[derive(Default)]
pub struct Locals(HashMap<TypeId, Box<dyn Any>>);

/// What a [`PortMaker`] gets on the worker: its pool, its memory region, and the backends'
/// per-worker state.
pub struct WorkerCx<'a> {
    pub worker: usize,
    pub region: RegionInfo,
    /// Wakes the worker from its idle sleep (for a port whose management side asks the
    /// worker for something between frames).
    pub wake: &'a Arc<crate::sys::wake::Wake>,
    pub(super) pool: &'a mut Pool,
    pub(super) locals: &'a mut Locals,
}

impl WorkerCx<'_> {
    /// This worker's value of type `T` (made by `init` on first use), and the pool.
    pub fn local_and_pool<T: Any>(
        &mut self,
        init: impl FnOnce(&RegionInfo) -> T,
    ) -> (&mut T, &mut Pool) {
        let region = self.region;
        let v = self
            .locals
            .0
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(init(&region)));
        (v.downcast_mut().expect("keyed by type"), self.pool)
    }

    /// This worker's value of type `T`, if one was made.
    pub fn local<T: Any>(&mut self) -> Option<&mut T> {
        self.locals.0.get_mut(&TypeId::of::<T>())?.downcast_mut()
    }
}

/// One attached interface, kept by the data plane until it is detached.
pub trait Interface: Send {
    /// Its control half, for its ether node (its `ifname()` is the interface's name).
    fn ctl(&self) -> Arc<dyn PortCtl>;
    /// Kind, mode, queues, link state (name and port are filled in by the data plane).
    fn describe(&self) -> IfaceDesc;
    /// The maker of worker `worker`'s port (its queues of the interface) as graph port `port`.
    fn worker_port(&mut self, worker: usize, port: PortId) -> Result<PortMaker, DataplaneError>;
    /// Driver-level counters, read now (called on the management thread for `ctl stats`,
    /// `ctl errors` and the metrics).
    fn driver_stats(&self) -> Vec<DriverStats> {
        Vec::new()
    }
    /// Frames lost outside the graph (kernel, driver, XDP program), by queue and reason, read
    /// now; only non-zero counts, disjoint (their sum is what the interface lost).
    fn drops(&self) -> Vec<PortDrop> {
        Vec::new()
    }
    /// Housekeeping every ~100 ms: re-read the link state (and log changes).
    fn tick(&self) {}
    /// Before its ports close: stop steering frames to them.
    fn quiesce(&mut self) {}
    /// After its ports closed (detach, a failed attach, shutdown): give the interface back.
    fn release(self: Box<Self>) {}
    fn as_any(&self) -> &dyn Any;
}

/// A kind of port.
pub trait Backend: Send {
    /// "afxdp", "dpdk", "mem".
    fn kind(&self) -> &'static str;
    /// Whether `name` is this backend's to attach.
    fn claims(&self, name: &str) -> Claim;
    /// Attaches `req.name` (checks, driver setup); the data plane then makes its ports.
    fn attach(&mut self, req: &AttachRequest<'_>) -> Result<Box<dyn Interface>, DataplaneError>;
    /// Names to attach once the workers run (devices found at start).
    fn initial(&mut self) -> Result<Vec<String>, DataplaneError> {
        Ok(Vec::new())
    }
    /// Worker `worker`'s frame memory, when this backend provides it.
    fn worker_memory(&self, _worker: usize) -> Option<MemoryMaker> {
        None
    }
    /// After every worker stopped and every interface was released.
    fn shutdown(&mut self, _report: &mut ShutdownReport) {}
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// What shutting down found.
#[derive(Debug, Clone, Default)]
pub struct ShutdownReport {
    /// DPDK frame areas: chunks back in their mempools, of how many (all, each once, when
    /// nothing leaked or was freed twice). None without DPDK.
    pub dpdk_frames: Option<FrameCount>,
}

/// Where every chunk of a backend's frame memory was at shutdown, once every device was closed
/// and every worker gone: all home, each exactly once, unless a driver kept some.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameCount {
    /// Chunks back home (counted once each).
    pub home: u64,
    /// Chunks there are.
    pub total: u64,
    /// Chunks found home twice (a double free: always a bug).
    pub double_freed: u64,
    /// Chunks a driver kept when its device closed (DPDK 22.11's af_xdp driver does not free
    /// the mbufs in its fill ring); reclaimed by the audit.
    pub kept_by_drivers: u64,
}
