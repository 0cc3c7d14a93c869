//! The running data plane: one pinned worker thread per core, each polling its ports and running
//! bursts through the graph; the management side (the caller's thread) owns the [`Graph`] and
//! attaches and detaches interfaces through the backends.
//!
//! * [`backend`]: what a backend is ([`Backend`], [`Interface`]) and what it hands the workers.
//! * [`worker`]: the worker threads (main loop, commands).
//! * Backends, one folder each, registered in [`backends`] (the only place that names them
//!   all): [`afxdp`] (AF_XDP sockets on Linux interfaces), [`mem`] (in-memory ports for tests
//!   and demos), `dpdk` (DPDK ethdevs, cargo feature `dpdk`).
//! * [`control`]: the data plane as the `ctl` commands' backend.
//! * [`health`]: the workers' heartbeats, and the faults the management thread finds in them
//!   ([`Dataplane::check_workers`]).
//!
//! Queues are spread over workers: queue q of every interface goes to worker q mod W, so every
//! worker has a port on every interface and can transmit on it; a frame never crosses workers.
//! Each worker owns one frame memory (its pool): an anonymous mapping that is also the UMEM
//! shared by all its AF_XDP sockets, or with DPDK its frame area, which is both mempool and
//! UMEM. Forwarding between interfaces on a worker moves descriptors, never bytes.

pub mod afxdp;
pub mod backend;
pub mod control;
#[cfg(feature = "dpdk")]
pub mod dpdk;
mod error;
pub mod health;
pub mod mem;
mod placement;
mod worker;

pub use crate::port::PortDrops;
pub use backend::{
    AttachRequest, Backend, Claim, DriverStats, FrameCount, IfaceDesc, Interface, PortDrop,
    ShutdownReport,
};
pub use error::{BackendError, BackendFailure, DataplaneError};
pub use health::{FaultKind, TestFault, WorkerFault, WorkerState, WorkerStatus};

use crate::graph::{Graph, GraphConfig, GraphHandle};
use crate::port::PortId;
use crate::wire::MacAddr;
use afxdp::{SocketConfig, XdpMode};
use health::{Heartbeat, Watch};
use placement::Placement;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::{Ended, Spawn, WorkerThread};

/// How long shutdown waits for each worker to end before leaving it to the process's exit.
const JOIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The workers' nice value by default when they have their cores to themselves (some core
/// has no worker): above anything else that lands there (see `src/dataplane/placement.rs`).
pub const WORKER_NICE: i32 = -10;

/// AF_XDP: UMEM chunks per worker by default (`--frames`): 128 MiB of 4 KiB chunks, room for
/// seven sockets' full fill rings (4096 each) and the reserve.
pub const AFXDP_DEFAULT_FRAMES: usize = 32768;

/// DPDK: frame-area chunks per worker by default (`--frames`).
pub const DPDK_DEFAULT_FRAMES: usize = 16384;

/// How the data plane runs.
#[derive(Debug, Clone)]
pub struct DataplaneConfig {
    /// One worker per listed core, pinned.
    pub cores: Vec<usize>,
    /// Frames (chunks) of memory per worker; None: the backend's default
    /// ([`AFXDP_DEFAULT_FRAMES`], [`DPDK_DEFAULT_FRAMES`]).
    pub frames_per_worker: Option<usize>,
    /// Spin instead of sleeping in poll(2) when idle.
    pub busy_poll: bool,
    /// Empty polls before an idle worker (not busy-polling) waits in poll(2).
    pub idle_polls: u32,
    /// The workers' nice value. None: [`WORKER_NICE`] when some core has no worker (the
    /// service threads run there), else 0, the service threads' own (see `src/dataplane/placement.rs`).
    pub worker_nice: Option<i32>,
    pub graph: GraphConfig,
    /// AF_XDP: how the XDP program is attached.
    pub xdp_mode: XdpMode,
    /// AF_XDP: how the workers open their sockets.
    pub socket: SocketConfig,
    /// AF_XDP: create a TAP mirror per interface for the ether node's `upper` hook.
    pub taps: bool,
    /// Run DPDK too: every ethdev the EAL finds becomes a port (needs the `dpdk` feature).
    pub dpdk: Option<DpdkConfig>,
    /// The daemon's control socket: recorded as the owner of the XDP programs it attaches
    /// (another run names it when it refuses an interface), and shown by `ctl status`.
    pub control_socket: Option<String>,
    /// A worker whose heartbeat stops for this long is a fault ([`Dataplane::check_workers`]).
    pub stall_timeout: std::time::Duration,
    /// AF_XDP: forward learned bridge flows in the XDP program ([`afxdp::fastpath`]).
    pub fast_path: bool,
    /// DPDK: the MTU every device starts with; a device whose driver cannot take it is
    /// refused at attach, naming its limit. 0: a device's Linux interface's MTU when it has
    /// one (af_packet, af_xdp), the largest the driver takes for other software devices
    /// (net_ring, net_null: they have no wire), 1500 for NICs; capped, with a warning, at
    /// what the driver takes.
    pub dpdk_mtu: u32,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            cores: vec![0],
            frames_per_worker: None,
            busy_poll: false,
            idle_polls: worker::IDLE_POLLS,
            worker_nice: None,
            graph: GraphConfig::default(),
            xdp_mode: XdpMode::Auto,
            socket: SocketConfig::default(),
            taps: true,
            dpdk: None,
            dpdk_mtu: 0,
            control_socket: None,
            stall_timeout: health::STALL_TIMEOUT,
            fast_path: true,
        }
    }
}

/// The DPDK part of a data plane's configuration.
#[derive(Debug, Clone, Default)]
pub struct DpdkConfig {
    /// EAL arguments as one string, as testpmd takes them (empty: defaults only).
    pub eal: String,
    /// RX/TX descriptors per queue (0: the driver's preferred ring size, else 1024).
    pub desc: u16,
    /// RX queues per port (0: one per worker).
    pub rx_queues: u16,
    /// Refuse to start when the EAL finds no device (the daemon does).
    pub require_device: bool,
    /// Bytes of each mbuf's buffer, headroom included, as testpmd's `--mbuf-size` counts
    /// them: 2176 (DPDK's default mbuf; 0 means it too) or 3776 (`crate::sys::dpdk::MBUF_SIZES`).
    pub mbuf_size: u16,
}

/// The backends of a data plane, in the order `ctl interfaces` lists their interfaces. A new
/// backend is a folder beside these and one line here.
fn backends(cfg: &DataplaneConfig) -> Result<Vec<Box<dyn Backend>>, DataplaneError> {
    let mut v: Vec<Box<dyn Backend>> = vec![
        Box::new(afxdp::AfxdpBackend::new(cfg)),
        Box::new(mem::MemBackend::default()),
    ];
    if let Some(d) = &cfg.dpdk {
        v.push(dpdk_backend(cfg, d)?);
    }
    Ok(v)
}

#[cfg(feature = "dpdk")]
fn dpdk_backend(cfg: &DataplaneConfig, d: &DpdkConfig) -> Result<Box<dyn Backend>, DataplaneError> {
    Ok(Box::new(dpdk::DpdkBackend::start(cfg, d)?))
}

#[cfg(not(feature = "dpdk"))]
fn dpdk_backend(_: &DataplaneConfig, _: &DpdkConfig) -> Result<Box<dyn Backend>, DataplaneError> {
    Err(DataplaneError::Unsupported(
        "this xdpgraph was built without DPDK: rebuild with `cargo build --release --features \
         dpdk` (needs libdpdk-dev)"
            .into(),
    ))
}

/// Releases what the backends hold for the whole process (DPDK's EAL), at exit, after every
/// data plane is gone.
pub fn cleanup_at_exit() {
    #[cfg(feature = "dpdk")]
    dpdk::eal::cleanup();
}

/// An attached interface.
struct Attached {
    backend: usize,
    port: PortId,
    iface: Box<dyn Interface>,
}

/// The running data plane.
pub struct Dataplane {
    cfg: DataplaneConfig,
    graph: Graph,
    workers: Vec<WorkerThread>,
    backends: Vec<Box<dyn Backend>>,
    ifaces: BTreeMap<String, Attached>,
    stop: Arc<AtomicBool>,
    report: Option<ShutdownReport>,
    placement: Placement,
    /// The management thread's view of each worker's heartbeat.
    watch: Vec<Watch>,
    /// The XDP fast path (None when off).
    fast: Option<afxdp::FastPath>,
}

impl Dataplane {
    /// Starts the backends and the workers, and attaches what the backends found at start
    /// (DPDK devices).
    pub fn start(cfg: DataplaneConfig) -> Result<Dataplane, DataplaneError> {
        if cfg.cores.is_empty() {
            return Err(DataplaneError::Invalid(
                "no cores given (--cores 0,1,...)".into(),
            ));
        }
        let online = crate::sys::cpu::online_cores();
        if let Some(c) = cfg.cores.iter().find(|c| **c >= online) {
            return Err(DataplaneError::Invalid(format!(
                "core {c} does not exist (this machine has {online})"
            )));
        }
        let graph = Graph::new(
            GraphConfig {
                workers: cfg.cores.len(),
                ..cfg.graph.clone()
            },
            crate::nodes::builtin(),
        );
        // Off the workers' cores before anything starts a thread (DPDK's EAL included).
        let mut placement = Placement::apply(&cfg.cores);
        let backends = match backends(&cfg) {
            Ok(b) => b,
            Err(e) => {
                placement.restore();
                return Err(e);
            }
        };
        let mut dp = Dataplane {
            cfg,
            graph,
            workers: Vec::new(),
            backends,
            ifaces: BTreeMap::new(),
            stop: Arc::new(AtomicBool::new(false)),
            report: None,
            placement,
            watch: Vec::new(),
            fast: None,
        };
        dp.fast = (dp.backends.iter_mut())
            .find_map(|b| b.as_any_mut().downcast_mut::<afxdp::AfxdpBackend>())
            .and_then(|b| b.fast_path())
            .map(afxdp::FastPath::new);
        // on an error below, dropping `dp` stops the workers started so far
        for (id, &core) in dp.cfg.cores.iter().enumerate() {
            let w = WorkerThread::spawn(Spawn {
                id,
                core,
                graph: dp.graph.handle(),
                memory: dp.backends.iter().find_map(|b| b.worker_memory(id)),
                frames: dp.cfg.frames_per_worker.unwrap_or(AFXDP_DEFAULT_FRAMES),
                busy_poll: dp.cfg.busy_poll,
                idle_polls: dp.cfg.idle_polls,
                nice: dp.worker_nice(),
                stop: dp.stop.clone(),
                health: Arc::new(Heartbeat::default()),
            })?;
            dp.workers.push(w);
            dp.watch.push(Watch::default());
        }
        for b in 0..dp.backends.len() {
            for name in dp.backends[b].initial()? {
                dp.attach_with(b, &name, None)?;
            }
        }
        Ok(dp)
    }

    pub fn graph(&mut self) -> &mut Graph {
        &mut self.graph
    }
    pub fn graph_ref(&self) -> &Graph {
        &self.graph
    }
    pub fn handle(&self) -> GraphHandle {
        self.graph.handle()
    }
    pub fn config(&self) -> &DataplaneConfig {
        &self.cfg
    }
    pub fn cores(&self) -> Vec<usize> {
        self.workers.iter().map(|w| w.core).collect()
    }
    /// The cores without a worker where the management and service threads run (empty when
    /// every core has a worker: they then share the workers' cores).
    pub fn service_cores(&self) -> &[usize] {
        &self.placement.service
    }

    /// The workers' nice value (see [`DataplaneConfig::worker_nice`]).
    pub fn worker_nice(&self) -> i32 {
        match (self.cfg.worker_nice, self.placement.service.is_empty()) {
            (Some(n), _) => n,
            (None, false) => WORKER_NICE,
            (None, true) => 0,
        }
    }

    /// Attached interfaces in listing order (by backend, then name).
    fn listed(&self) -> Vec<(&String, &Attached)> {
        let mut v: Vec<_> = self.ifaces.iter().collect();
        v.sort_by_key(|(n, a)| (a.backend, n.as_str()));
        v
    }

    /// Attached interfaces (name, port).
    pub fn interfaces(&self) -> Vec<(String, PortId)> {
        self.listed()
            .into_iter()
            .map(|(n, a)| (n.clone(), a.port))
            .collect()
    }

    /// Attached interfaces as `ctl interfaces` shows them.
    pub fn describe(&self) -> Vec<IfaceDesc> {
        self.listed()
            .into_iter()
            .map(|(n, a)| IfaceDesc {
                name: n.clone(),
                port: a.port,
                ..a.iface.describe()
            })
            .collect()
    }

    /// An interface's driver-level counters (per queue, or of the whole interface), read now.
    pub fn driver_stats(&self, name: &str) -> Option<Vec<DriverStats>> {
        self.ifaces.get(name).map(|a| a.iface.driver_stats())
    }

    /// Every attached interface's frames lost outside the graph (kernel, driver, XDP program)
    /// and its driver counters, read now, in listing order.
    pub fn port_drops(&self) -> Vec<PortDrops> {
        self.listed()
            .into_iter()
            .map(|(n, a)| PortDrops {
                port: n.clone(),
                drops: a.iface.drops(),
                stats: a.iface.driver_stats(),
            })
            .collect()
    }

    /// An attached interface as its backend's type (`afxdp::AfxdpIface`, ...).
    pub fn interface<T: 'static>(&self, name: &str) -> Option<&T> {
        self.ifaces.get(name)?.iface.as_any().downcast_ref()
    }

    /// The smallest chunk of the workers' frame memory.
    fn chunk_size(&self) -> usize {
        self.workers
            .iter()
            .map(|w| w.chunk_size)
            .min()
            .unwrap_or(crate::frame::CHUNK_SIZE)
    }

    /// Attaches an interface through the backend that claims its name: the backend's setup
    /// (an XDP program, a DPDK device), an ether node named after it, and one port per worker.
    /// `queues` limits how many RX queues are used (default: all).
    pub fn attach(&mut self, name: &str, queues: Option<u32>) -> Result<PortId, DataplaneError> {
        if self.ifaces.contains_key(name) {
            return Err(DataplaneError::Exists(format!("interface {name}")));
        }
        let claims: Vec<Claim> = self.backends.iter().map(|b| b.claims(name)).collect();
        let b = claims
            .iter()
            .position(|c| *c == Claim::Yes)
            .or_else(|| claims.iter().position(|c| *c == Claim::Fallback))
            .ok_or_else(|| DataplaneError::NotAttached(format!("no backend for {name}")))?;
        self.attach_with(b, name, queues)
    }

    fn attach_with(
        &mut self,
        b: usize,
        name: &str,
        queues: Option<u32>,
    ) -> Result<PortId, DataplaneError> {
        let req = AttachRequest {
            name,
            queues,
            workers: self.workers.len(),
            chunk_size: self.chunk_size(),
        };
        let iface = self.backends[b].attach(&req)?;
        self.add(b, iface)
    }

    /// Gives an interface a backend attached to the graph and to every worker.
    fn add(
        &mut self,
        backend: usize,
        mut iface: Box<dyn Interface>,
    ) -> Result<PortId, DataplaneError> {
        let ctl = iface.ctl();
        let name = ctl.ifname();
        if self.ifaces.contains_key(&name) {
            iface.release();
            return Err(DataplaneError::Exists(format!("interface {name}")));
        }
        let port = match self.graph.attach_port(ctl) {
            Ok((_, p)) => p,
            Err(e) => {
                iface.release();
                return Err(e.into());
            }
        };
        for w in 0..self.workers.len() {
            let opened = iface
                .worker_port(w, port)
                .and_then(|m| self.workers[w].open(w, port, m));
            if let Err(e) = opened {
                let _ = self.remove(&name, port, iface);
                return Err(DataplaneError::Port {
                    name,
                    worker: w,
                    source: Box::new(e),
                });
            }
        }
        let d = iface.describe();
        tracing::info!(ifname = %name, port, kind = d.kind, mode = %d.mode, queues = d.queues, "attached");
        self.ifaces.insert(
            name,
            Attached {
                backend,
                port,
                iface,
            },
        );
        Ok(port)
    }

    /// Detaches an interface: its ether node goes (with its hooks), its ports close, and its
    /// backend gives it back (an XDP program removed, a DPDK device stopped and closed).
    pub fn detach(&mut self, name: &str) -> Result<(), DataplaneError> {
        let a = self
            .ifaces
            .remove(name)
            .ok_or_else(|| DataplaneError::NotAttached(format!("interface {name}")))?;
        self.remove(name, a.port, a.iface)?;
        tracing::info!(ifname = %name, "detached");
        Ok(())
    }

    fn remove(
        &mut self,
        name: &str,
        port: PortId,
        mut iface: Box<dyn Interface>,
    ) -> Result<(), DataplaneError> {
        if let (Some(f), Some(a)) = (
            &mut self.fast,
            iface.as_any().downcast_ref::<afxdp::AfxdpIface>(),
        ) {
            f.forget(crate::port::PortCtl::ifindex(&**a.ctl()));
        }
        iface.quiesce();
        let r = self.graph.detach_port(port);
        for (w, t) in self.workers.iter().enumerate() {
            if let Err(e) = t.close(w, port) {
                tracing::warn!(ifname = %name, worker = w, "closing its port: {e}");
            }
        }
        iface.release();
        r.map_err(Into::into)
    }

    /// Adds an in-memory port named `name` (for tests and demos without interfaces): see
    /// [`mem::MemGen`] for `gen`. Every worker can transmit on it (frames are counted and
    /// freed).
    pub fn add_mem_port(
        &mut self,
        name: &str,
        mac: MacAddr,
        gen: Option<mem::MemGen>,
    ) -> Result<PortId, DataplaneError> {
        if self.ifaces.contains_key(name) {
            return Err(DataplaneError::Exists(format!("interface {name}")));
        }
        let b = self
            .backends
            .iter()
            .position(|b| b.kind() == mem::KIND)
            .expect("the memory backend is always registered");
        let m = self.backends[b]
            .as_any_mut()
            .downcast_mut::<mem::MemBackend>();
        m.expect("the memory backend's type").define(name, mac, gen);
        self.attach_with(b, name, None)
    }

    /// Looks at every worker (call it often, at least every 100 ms: the management loop does
    /// on each turn): a worker that panicked or ended, or whose heartbeat stood still for the
    /// stall timeout (as [`health`] defines it), is a fault. Logged here.
    pub fn check_workers(&mut self) -> Option<WorkerFault> {
        let now = Instant::now();
        let timeout = self.cfg.stall_timeout;
        for (i, w) in self.workers.iter().enumerate() {
            let kind = if let Some(m) = w.health.panic() {
                Some(FaultKind::Panicked(m))
            } else if w.finished() {
                Some(FaultKind::Panicked("its thread ended".into()))
            } else {
                let beats = w.health.beats();
                self.watch[i]
                    .observe(beats, now, timeout)
                    .map(FaultKind::Stalled)
            };
            if let Some(kind) = kind {
                let f = WorkerFault {
                    worker: i,
                    core: w.core,
                    kind,
                };
                tracing::error!("{f}");
                return Some(f);
            }
        }
        None
    }

    /// The workers, as `ctl status` shows them.
    pub fn worker_status(&self) -> Vec<WorkerStatus> {
        let stopping = self.stop.load(Ordering::Relaxed);
        (self.workers.iter().enumerate())
            .map(|(i, w)| {
                let state = if let Some(m) = w.health.panic() {
                    WorkerState::Panicked(m)
                } else if w.health.is_stopped() || (stopping && w.finished()) {
                    WorkerState::Stopped
                } else if w.finished() {
                    WorkerState::Panicked("its thread ended".into())
                } else {
                    (self.watch[i].standing())
                        .filter(|d| !d.is_zero())
                        .map_or(WorkerState::Running, WorkerState::Standing)
                };
                let (free_frames, frames, double_frees) = w.health.frames();
                WorkerStatus {
                    worker: i,
                    core: w.core,
                    state,
                    heartbeats: w.health.beats(),
                    free_frames,
                    frames,
                    double_frees,
                }
            })
            .collect()
    }

    /// A test hook: has worker `worker` panic or stop polling. Hidden: the daemon reaches it
    /// only through its `debug` line, enabled by `XDPGRAPH_TEST_HOOKS=1` (docs/TESTING.md).
    #[doc(hidden)]
    pub fn debug_fault(&self, worker: usize, fault: TestFault) -> Result<(), DataplaneError> {
        let w = self.workers.get(worker).ok_or_else(|| {
            DataplaneError::Invalid(format!(
                "no worker {worker} (there are {})",
                self.workers.len()
            ))
        })?;
        w.fault(fault);
        Ok(())
    }

    /// Housekeeping (call every ~100 ms): graph timers, reclamation, link states, and the
    /// fast path (hosts it saw refreshed before the bridges age theirs; new hosts added).
    pub fn tick(&mut self) {
        if let Some(f) = &mut self.fast {
            f.seen(&mut self.graph);
        }
        self.graph.tick();
        for a in self.ifaces.values() {
            a.iface.tick();
        }
        self.fast_path_sync();
    }

    /// Makes the fast path follow the graph now (after every command, before its answer:
    /// an edit that takes a link out of the fast path has taken effect when `ctl` returns).
    pub fn fast_path_sync(&mut self) {
        let Some(f) = &mut self.fast else {
            return;
        };
        let plan = self.graph.fast_path_plan();
        let ports: Vec<afxdp::FastPort> = (self.ifaces.values())
            .filter_map(|a| {
                let x = a.iface.as_any().downcast_ref::<afxdp::AfxdpIface>()?;
                Some(afxdp::FastPort {
                    port: a.port,
                    ctl: Arc::clone(x.ctl()),
                })
            })
            .collect();
        f.sync(&plan, &ports);
    }

    /// Adds what the fast path forwarded to the hooks' counters now (before a command reads
    /// them).
    pub fn fast_path_flush(&mut self) {
        if let Some(f) = &mut self.fast {
            f.flush();
        }
    }

    /// The interfaces the fast path uses now: (name, frames are redirected to it). Empty when
    /// the fast path is off.
    pub fn fast_path_ports(&self) -> Vec<(String, bool)> {
        (self.fast.iter())
            .flat_map(|f| f.active())
            .map(|(_, n, egress)| (n, egress))
            .collect()
    }

    /// Whether the fast path is on.
    pub fn fast_path_on(&self) -> bool {
        self.fast.is_some()
    }

    /// Stops the workers and detaches every interface; the backends say what they found
    /// (DPDK: every frame counted home).
    pub fn shutdown(mut self) -> ShutdownReport {
        self.shutdown_inner();
        self.report.take().unwrap_or_default()
    }

    fn shutdown_inner(&mut self) {
        if self.report.is_some() {
            return;
        }
        self.stop.store(true, Ordering::SeqCst);
        for w in &self.workers {
            w.kick();
        }
        for (i, w) in self.workers.iter_mut().enumerate() {
            match w.join(JOIN_TIMEOUT) {
                Ended::Clean => {}
                Ended::Panicked(m) => {
                    tracing::error!(worker = i, core = w.core, "the worker had panicked: {m}")
                }
                Ended::Stuck => tracing::error!(
                    worker = i,
                    core = w.core,
                    "the worker did not stop; its sockets close when the process exits"
                ),
            }
        }
        drop(self.fast.take());
        for (_, a) in std::mem::take(&mut self.ifaces) {
            a.iface.release();
        }
        let mut report = ShutdownReport::default();
        for b in self.backends.iter_mut() {
            b.shutdown(&mut report);
        }
        self.report = Some(report);
        self.placement.restore();
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}
