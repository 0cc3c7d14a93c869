//! The running data plane: one pinned worker thread per core, each polling its AF_XDP queues
//! (and in-memory ports) and running bursts through the graph; the management side (the
//! caller's thread) owns the [`Graph`] and attaches and detaches interfaces.
//!
//! Queues are spread over workers: queue q of every interface goes to worker q mod W, so every
//! worker has a socket on every interface and can transmit on it; a frame never crosses
//! workers. An interface therefore needs at least as many RX queues as there are workers (the
//! lab creates its veths with enough). Each worker owns one UMEM (its frame pool) shared by all
//! its sockets: forwarding between interfaces on a worker moves descriptors, never bytes.

use crate::afxdp::{self, AfxdpError, IfaceCtl, QueueStats, SocketConfig, Umem, XdpMode, XskPort};
use crate::buf::{Pool, Region};
use crate::graph::{Graph, GraphConfig, GraphError, GraphHandle};
use crate::port::mem::{MemPort, MemPortCtl};
use crate::port::{Port, PortCtl, PortId};
use crate::sys::netdev::{self, Tap};
use crate::wire::MacAddr;
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How the data plane runs.
#[derive(Debug, Clone)]
pub struct DataplaneConfig {
    /// One worker per listed core, pinned.
    pub cores: Vec<usize>,
    pub xdp_mode: XdpMode,
    pub socket: SocketConfig,
    /// UMEM chunks (frames) per worker.
    pub frames_per_worker: usize,
    /// Spin instead of sleeping in poll(2) when idle.
    pub busy_poll: bool,
    /// Create a TAP mirror per interface for the ether node's `upper` hook.
    pub taps: bool,
    pub graph: GraphConfig,
    /// Run DPDK too: every ethdev the EAL finds becomes a port (feature `dpdk`).
    #[cfg(feature = "dpdk")]
    pub dpdk: Option<crate::dpdk::DpdkConfig>,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            cores: vec![0],
            xdp_mode: XdpMode::Auto,
            socket: SocketConfig::default(),
            frames_per_worker: 16384,
            busy_poll: false,
            taps: true,
            graph: GraphConfig::default(),
            #[cfg(feature = "dpdk")]
            dpdk: None,
        }
    }
}

/// Why the data plane refused something.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    #[error(transparent)]
    Afxdp(#[from] AfxdpError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("{0}")]
    Other(String),
    #[cfg(feature = "dpdk")]
    #[error(transparent)]
    Dpdk(#[from] crate::dpdk::DpdkError),
}

enum Cmd {
    OpenXsk {
        port: PortId,
        ifindex: u32,
        queues: Vec<u32>,
        xsks: libbpf_rs::MapHandle,
        stats: Vec<Arc<QueueStats>>,
        tap: Option<(Tap, bool)>,
        reply: Sender<Result<(), String>>,
    },
    AddPort(Box<dyn Port>, Sender<Result<(), String>>),
    Close(PortId, Sender<Result<(), String>>),
}

struct WorkerThread {
    core: usize,
    cmds: Sender<Cmd>,
    thread: Option<JoinHandle<()>>,
}

struct Attached {
    port: PortId,
    ctl: Arc<IfaceCtl>,
    /// Queues per worker.
    queues: Vec<Vec<u32>>,
    xsks: libbpf_rs::MapHandle,
    _tap: Option<Tap>,
}

/// An in-memory port made by [`Dataplane::add_mem_port`].
struct MemAttached {
    port: PortId,
}

/// The DPDK side of a data plane: one frame area per worker, the devices attached.
#[cfg(feature = "dpdk")]
struct DpdkState {
    cfg: crate::dpdk::DpdkConfig,
    areas: Vec<Arc<crate::sys::dpdk::Area>>,
    ports: BTreeMap<String, DpdkAttached>,
}

#[cfg(feature = "dpdk")]
struct DpdkAttached {
    port: PortId,
    ctl: Arc<crate::dpdk::port::DpdkCtl>,
    rx_queues: u16,
}

/// Ethdevs claimed by a live data plane in this process (a device has one owner).
#[cfg(feature = "dpdk")]
static CLAIMED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

/// What shutting down found.
#[derive(Debug, Clone, Default)]
pub struct ShutdownReport {
    /// DPDK frame areas: chunks back in their mempools, of how many (all, each once, when
    /// nothing leaked or was freed twice).
    #[cfg(feature = "dpdk")]
    pub dpdk_frames: Option<crate::dpdk::FrameCount>,
}

/// The running data plane.
pub struct Dataplane {
    cfg: DataplaneConfig,
    graph: Graph,
    workers: Vec<WorkerThread>,
    ifaces: BTreeMap<String, Attached>,
    mems: BTreeMap<String, MemAttached>,
    stop: Arc<AtomicBool>,
    #[cfg(feature = "dpdk")]
    dpdk: Option<DpdkState>,
    report: ShutdownReport,
}

/// TAP name for an interface: `<ifname>h`, cut to the 15 characters Linux allows.
pub fn tap_name(ifname: &str) -> String {
    let mut n: String = ifname.chars().take(14).collect();
    n.push('h');
    n
}

impl Dataplane {
    /// Starts the workers (no interface yet).
    pub fn start(cfg: DataplaneConfig) -> Result<Dataplane, DataplaneError> {
        if cfg.cores.is_empty() {
            return Err(DataplaneError::Other(
                "no cores given (--cores 0,1,...)".into(),
            ));
        }
        let online = crate::sys::cpu::online_cores();
        if let Some(c) = cfg.cores.iter().find(|c| **c >= online) {
            return Err(DataplaneError::Other(format!(
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
        #[cfg(feature = "dpdk")]
        let dpdk = match &cfg.dpdk {
            Some(d) => Some(dpdk_start(&cfg, d)?),
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for (id, &core) in cfg.cores.iter().enumerate() {
            let (tx, rx) = mpsc::channel();
            let (ready_tx, ready_rx) = mpsc::channel();
            let (h, stop2, c2) = (graph.handle(), stop.clone(), cfg.clone());
            #[cfg(feature = "dpdk")]
            let area = dpdk.as_ref().map(|d| d.areas[id].clone());
            #[cfg(not(feature = "dpdk"))]
            let area = None;
            let thread = std::thread::Builder::new()
                .name(format!("xdpgraph-w{id}"))
                .spawn(move || worker_main(id, core, h, c2, area, rx, stop2, ready_tx))
                .map_err(|e| DataplaneError::Other(format!("spawning worker {id}: {e}")))?;
            workers.push(WorkerThread {
                core,
                cmds: tx,
                thread: Some(thread),
            });
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return Err(DataplaneError::Other(format!(
                        "worker {id} on core {core}: {e}"
                    )))
                }
                Err(_) => {
                    return Err(DataplaneError::Other(format!(
                        "worker {id} on core {core} died at start"
                    )))
                }
            }
        }
        #[allow(unused_mut)]
        let mut dp = Dataplane {
            cfg,
            graph,
            workers,
            ifaces: BTreeMap::new(),
            mems: BTreeMap::new(),
            stop,
            #[cfg(feature = "dpdk")]
            dpdk,
            report: ShutdownReport::default(),
        };
        #[cfg(feature = "dpdk")]
        if dp.dpdk.is_some() {
            dp.dpdk_attach_all()?;
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
    /// Attached interfaces (name, port).
    pub fn interfaces(&self) -> Vec<(String, PortId)> {
        #[allow(unused_mut)]
        let mut v: Vec<(String, PortId)> = self
            .ifaces
            .iter()
            .map(|(k, a)| (k.clone(), a.port))
            .chain(self.mems.iter().map(|(k, m)| (k.clone(), m.port)))
            .collect();
        #[cfg(feature = "dpdk")]
        if let Some(d) = &self.dpdk {
            v.extend(d.ports.iter().map(|(k, a)| (k.clone(), a.port)));
        }
        v
    }
    pub fn iface(&self, name: &str) -> Option<&Arc<IfaceCtl>> {
        self.ifaces.get(name).map(|a| &a.ctl)
    }

    fn ask(
        &self,
        w: usize,
        make: impl FnOnce(Sender<Result<(), String>>) -> Cmd,
    ) -> Result<(), String> {
        let (tx, rx) = mpsc::channel();
        self.workers[w]
            .cmds
            .send(make(tx))
            .map_err(|_| format!("worker {w} has stopped"))?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| format!("worker {w} did not answer"))?
    }

    /// Attaches an interface: XDP program, one socket per queue on the workers, an ether node
    /// named after it (and a TAP mirror for its `upper` hook). `queues` limits how many RX
    /// queues are used (default: all).
    pub fn attach(&mut self, ifname: &str, queues: Option<u32>) -> Result<PortId, DataplaneError> {
        if self.interfaces().iter().any(|(n, _)| n == ifname) {
            return Err(GraphError::Exists(format!("interface {ifname}")).into());
        }
        #[cfg(feature = "dpdk")]
        if self.dpdk.is_some() && crate::dpdk::port::is_dpdk_name(ifname) {
            return self.dpdk_attach_by_name(ifname, queues);
        }
        // With DPDK devices, AF_XDP frames land in the frame areas' smaller chunks.
        #[cfg(feature = "dpdk")]
        if let Some(d) = &self.dpdk {
            let chunk = d.areas.iter().map(|a| a.chunk_size()).min();
            let max = crate::sys::dpdk::afxdp_max_mtu(chunk.unwrap_or(crate::sys::dpdk::CHUNK));
            afxdp::check_mtu(ifname, max)?;
        }
        let nw = self.workers.len() as u32;
        let have = afxdp::rx_queues(ifname)
            .map_err(afxdp::io_ctx(format!("{ifname}: reading its queues")))?;
        let nq = queues.unwrap_or(have).min(have);
        if nq < nw {
            return Err(AfxdpError::Queues {
                ifname: ifname.into(),
                why: format!(
                    "{nq} RX queue(s) used, but {nw} workers each need one to transmit on it; \
                     use fewer --cores, or give the interface more queues (ethtool -L, or a veth made with numrxqueues/numtxqueues {nw})"
                ),
            }
            .into());
        }
        let mut ctl = IfaceCtl::attach(ifname, self.cfg.xdp_mode)?;
        let tap = if self.cfg.taps {
            let name = tap_name(ifname);
            match Tap::open(&name) {
                Ok(t) => {
                    let _ = netdev::set_mac(&name, PortCtl::mac(&ctl));
                    let _ =
                        std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
                    let _ = netdev::set_flags(&name, libc::IFF_UP, true);
                    ctl.tap_name = Some(name);
                    Some(t)
                }
                Err(e) => {
                    tracing::warn!(%ifname, "no TAP mirror ({e}): the upper hook has no host path");
                    None
                }
            }
        } else {
            None
        };
        let ctl = Arc::new(ctl);
        let xsks = ctl.program().xsks()?;
        let ifindex = ctl.ifindex();
        let (_, port) = self.graph.attach_port(ctl.clone() as Arc<dyn PortCtl>)?;
        let mut per_worker: Vec<Vec<u32>> = vec![Vec::new(); nw as usize];
        for q in 0..nq {
            per_worker[(q % nw) as usize].push(q);
        }
        for (w, qs) in per_worker.iter().enumerate() {
            let stats: Vec<Arc<QueueStats>> = qs
                .iter()
                .map(|q| {
                    Arc::new(QueueStats {
                        queue: *q,
                        ..Default::default()
                    })
                })
                .collect();
            for s in &stats {
                ctl.add_queue(s.clone());
            }
            let tap_for = match &tap {
                Some(t) => Some((
                    t.try_clone()
                        .map_err(afxdp::io_ctx("duplicating the TAP descriptor"))?,
                    w == 0,
                )),
                None => None,
            };
            let xsks_w = libbpf_rs::MapHandle::try_from(&xsks)
                .map_err(|e| DataplaneError::Other(e.to_string()))?;
            let qs2 = qs.clone();
            let r = self.ask(w, |reply| Cmd::OpenXsk {
                port,
                ifindex,
                queues: qs2,
                xsks: xsks_w,
                stats,
                tap: tap_for,
                reply,
            });
            if let Err(e) = r {
                let att = Attached {
                    port,
                    ctl,
                    queues: per_worker.clone(),
                    xsks,
                    _tap: tap,
                };
                self.ifaces.insert(ifname.to_string(), att);
                let _ = self.detach(ifname);
                return Err(DataplaneError::Other(format!("{ifname}: worker {w}: {e}")));
            }
        }
        tracing::info!(%ifname, port, queues = nq, mode = ctl.program().mode(), "attached");
        self.ifaces.insert(
            ifname.to_string(),
            Attached {
                port,
                ctl,
                queues: per_worker,
                xsks,
                _tap: tap,
            },
        );
        Ok(port)
    }

    /// Detaches an interface: its ether node goes (with its hooks), its sockets close, its XDP
    /// program is removed, and the interface behaves as before.
    pub fn detach(&mut self, ifname: &str) -> Result<(), DataplaneError> {
        #[cfg(feature = "dpdk")]
        if let Some(a) = self.dpdk.as_mut().and_then(|d| d.ports.remove(ifname)) {
            let r = self.graph.detach_port(a.port);
            for w in 0..self.workers.len() {
                let _ = self.ask(w, |reply| Cmd::Close(a.port, reply));
            }
            crate::sys::dpdk::eth_stop_close(a.ctl.eth);
            unclaim(a.ctl.eth);
            tracing::info!(%ifname, "detached");
            return r.map_err(Into::into);
        }
        if let Some(m) = self.mems.remove(ifname) {
            self.graph.detach_port(m.port)?;
            for w in 0..self.workers.len() {
                let _ = self.ask(w, |r| Cmd::Close(m.port, r));
            }
            return Ok(());
        }
        let a = self
            .ifaces
            .remove(ifname)
            .ok_or_else(|| GraphError::NotFound(format!("interface {ifname}")))?;
        let _ = a.ctl.program().set_steering(false);
        for qs in &a.queues {
            for q in qs {
                afxdp::program::unregister_socket(&a.xsks, *q);
            }
        }
        let r = self.graph.detach_port(a.port);
        for w in 0..self.workers.len() {
            if let Err(e) = self.ask(w, |reply| Cmd::Close(a.port, reply)) {
                tracing::warn!(%ifname, worker = w, "closing sockets: {e}");
            }
        }
        a.ctl.detach_program();
        tracing::info!(%ifname, "detached");
        r.map_err(Into::into)
    }

    /// Adds an in-memory port named `name` (for tests and demos without interfaces). With
    /// `gen`, worker 0 receives `gen.1` frames from templates `gen.0`, paced at `gen.2` per
    /// second (0: unpaced). Every worker can transmit on it (frames are counted and freed).
    pub fn add_mem_port(
        &mut self,
        name: &str,
        mac: MacAddr,
        gen: Option<(Vec<Vec<u8>>, u64, u64)>,
    ) -> Result<PortId, DataplaneError> {
        if self.ifaces.contains_key(name) || self.mems.contains_key(name) {
            return Err(GraphError::Exists(format!("interface {name}")).into());
        }
        let ctl = Arc::new(MemPortCtl::new(name, 1000 + self.mems.len() as u32, mac));
        let (_, port) = self.graph.attach_port(ctl.clone())?;
        for w in 0..self.workers.len() {
            let p: Box<dyn Port> = match (&gen, w) {
                (Some((t, n, pps)), 0) => Box::new(
                    MemPort::generator(port, t.clone(), *n)
                        .paced(*pps)
                        .tied(&ctl),
                ),
                _ => Box::new(MemPort::sink(port).tied(&ctl)),
            };
            self.ask(w, |r| Cmd::AddPort(p, r))
                .map_err(DataplaneError::Other)?;
        }
        self.mems.insert(name.to_string(), MemAttached { port });
        Ok(port)
    }

    /// Housekeeping (call every ~100 ms): graph timers, reclamation, vanished interfaces.
    pub fn tick(&mut self) {
        self.graph.tick();
        #[cfg(feature = "dpdk")]
        if let Some(d) = &self.dpdk {
            for (name, a) in &d.ports {
                let was = a.ctl.is_up_cached();
                let now = a.ctl.refresh();
                if was != now {
                    tracing::info!(device = %name, up = now, "link state changed");
                }
            }
        }
        for (name, a) in &self.ifaces {
            let was = a.ctl.is_up();
            let now = a.ctl.refresh();
            if was && !now {
                tracing::warn!(ifname = %name, "interface vanished or went down: its ether node is down");
            } else if !was && now {
                tracing::info!(ifname = %name, "interface is up again");
            }
        }
    }

    /// Stops the workers and detaches every interface; DPDK devices are stopped and closed
    /// and their frames counted home.
    pub fn shutdown(mut self) -> ShutdownReport {
        self.shutdown_inner();
        std::mem::take(&mut self.report)
    }

    fn shutdown_inner(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for w in self.workers.iter_mut() {
            if let Some(t) = w.thread.take() {
                if t.join().is_err() {
                    tracing::error!(core = w.core, "a worker panicked");
                }
            }
        }
        for (_, a) in std::mem::take(&mut self.ifaces) {
            a.ctl.detach_program();
        }
        #[cfg(feature = "dpdk")]
        if let Some(d) = self.dpdk.take() {
            for (_, a) in d.ports {
                crate::sys::dpdk::eth_stop_close(a.ctl.eth);
                unclaim(a.ctl.eth);
            }
            // every worker is gone (its pool gave its chunks back), every device closed (its
            // driver freed what it held): every chunk should be home, once
            let mut c = crate::dpdk::FrameCount::default();
            for a in &d.areas {
                c.total += a.chunks() as u64;
                match a.audit() {
                    Ok((home, dups, kept)) => {
                        c.home += home as u64;
                        c.double_freed += dups as u64;
                        c.kept_by_drivers += kept as u64;
                    }
                    Err(e) => tracing::error!("{e}"),
                }
            }
            if c.double_freed > 0 {
                tracing::error!(
                    double_freed = c.double_freed,
                    "DPDK frames were freed twice"
                );
            }
            if c.kept_by_drivers > 0 {
                tracing::warn!(
                    kept = c.kept_by_drivers,
                    "DPDK drivers kept frames when their devices closed (reclaimed)"
                );
            }
            self.report.dpdk_frames = Some(c);
        }
    }
}

#[cfg(feature = "dpdk")]
fn unclaim(eth: u16) {
    CLAIMED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|p| *p != eth);
}

/// Starts the EAL (once per process) and makes one frame area per worker.
#[cfg(feature = "dpdk")]
fn dpdk_start(
    cfg: &DataplaneConfig,
    d: &crate::dpdk::DpdkConfig,
) -> Result<DpdkState, DataplaneError> {
    use crate::dpdk::eal;
    let area_bytes =
        (cfg.frames_per_worker * crate::sys::dpdk::PAGE_CHUNK * cfg.cores.len()) as u64;
    let args = eal::build_args(
        &d.eal,
        cfg.cores[0],
        area_bytes,
        eal::hugepages_free() > 0,
        std::process::id(),
    )?;
    eal::init(&args)?;
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut areas = Vec::new();
    for w in 0..cfg.cores.len() {
        let a = crate::sys::dpdk::Area::new(&format!("xg{seq}w{w}"), cfg.frames_per_worker as u32)?;
        if a.chunk_size() != crate::sys::dpdk::CHUNK {
            tracing::warn!(
                worker = w,
                chunk = a.chunk_size(),
                "no IOVA-contiguous memory for the frame area and a device DMAs to physical \
                 addresses (IOVA as PA): using page-sized chunks, which cost cache misses (see \
                 docs/DPDK.md; VFIO with an IOMMU, or more hugepages, avoids this)"
            );
        }
        areas.push(a);
    }
    Ok(DpdkState {
        cfg: d.clone(),
        areas,
        ports: BTreeMap::new(),
    })
}

#[cfg(feature = "dpdk")]
impl Dataplane {
    /// Attaches every ethdev not yet owned by a data plane of this process.
    fn dpdk_attach_all(&mut self) -> Result<(), DataplaneError> {
        let claimed = CLAIMED.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let found: Vec<u16> = crate::sys::dpdk::eth_ports()
            .into_iter()
            .filter(|p| !claimed.contains(p))
            .collect();
        for eth in found {
            self.attach_dpdk(eth, None)?;
        }
        Ok(())
    }

    /// Attaches an ethdev by its name (or its node name), hot-plugging it first when `name`
    /// is a device argument string the EAL does not know yet (`net_null9`,
    /// `net_af_packet1,iface=eth1`).
    fn dpdk_attach_by_name(
        &mut self,
        name: &str,
        queues: Option<u32>,
    ) -> Result<PortId, DataplaneError> {
        let find = |n: &str| {
            crate::sys::dpdk::eth_ports().into_iter().find(|p| {
                crate::sys::dpdk::eth_name(*p)
                    .map(|d| d == n || crate::graph::node_name_for(&d) == n)
                    .unwrap_or(false)
            })
        };
        let dev = name.split(',').next().unwrap_or(name);
        let eth = match find(dev) {
            Some(p) => p,
            None => {
                crate::sys::dpdk::dev_probe(name)?;
                find(dev).ok_or_else(|| {
                    DataplaneError::Other(format!("{name}: probed, but no ethdev appeared"))
                })?
            }
        };
        if CLAIMED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&eth)
        {
            return Err(GraphError::Exists(format!("DPDK device {dev}")).into());
        }
        self.attach_dpdk(eth, queues)
    }

    /// Attaches ethdev `eth`: RX queue q is polled by worker q mod W (from that worker's
    /// frame area), worker w transmits on TX queue w; an ether node is named after the device.
    pub fn attach_dpdk(&mut self, eth: u16, queues: Option<u32>) -> Result<PortId, DataplaneError> {
        use crate::dpdk::port::{DpdkCtl, DpdkPort};
        use crate::sys::dpdk as sys;
        let d = self
            .dpdk
            .as_ref()
            .ok_or_else(|| DataplaneError::Other("DPDK is not enabled (--dpdk)".into()))?;
        let dev = sys::eth_name(eth)?;
        let info = sys::eth_info(eth)?;
        let nw = self.workers.len() as u16;
        if !d.areas.iter().all(|a| a.dma_ok()) && !sys::eth_is_virtual(eth) {
            return Err(DataplaneError::Other(format!(
                "DPDK device {dev} ({}) DMAs to physical addresses (IOVA as PA), but the frame \
                 areas were made for software devices only and are not IOVA-contiguous; start \
                 with the device present (or use VFIO with an IOMMU, --dpdk-eal \"--iova-mode=va\")",
                info.driver
            )));
        }
        if info.max_txq < nw {
            return Err(DataplaneError::Other(format!(
                "DPDK device {dev} ({}) has {} TX queue(s), but each of the {nw} workers needs its own; use fewer --cores (or give the vdev more queues, e.g. qpairs= / queue_count=)",
                info.driver, info.max_txq
            )));
        }
        let want = queues
            .map(|q| q as u16)
            .or((d.cfg.rx_queues > 0).then_some(d.cfg.rx_queues))
            .unwrap_or(nw);
        let nrx = want.clamp(1, info.max_rxq.max(1));
        let rx_areas: Vec<_> = (0..nrx)
            .map(|q| d.areas[(q % nw) as usize].clone())
            .collect();
        let (rxd, txd) = sys::eth_setup(eth, &rx_areas, nw, d.cfg.desc)
            .map_err(|e| DataplaneError::Other(format!("DPDK device {dev}: {e}")))?;
        tracing::info!(
            device = %dev,
            driver = %info.driver,
            rx_queues = nrx,
            tx_queues = nw,
            rx_ring = rxd,
            tx_ring = txd,
            "DPDK device started"
        );
        CLAIMED.lock().unwrap_or_else(|e| e.into_inner()).push(eth);
        let name = crate::graph::node_name_for(&dev);
        let ctl = Arc::new(DpdkCtl::new(
            name.clone(),
            eth,
            info.driver.clone(),
            info.if_index,
        ));
        let port = match self.graph.attach_port(ctl.clone() as Arc<dyn PortCtl>) {
            Ok((_, p)) => p,
            Err(e) => {
                sys::eth_stop_close(eth);
                unclaim(eth);
                return Err(e.into());
            }
        };
        for w in 0..nw {
            let rxq: Vec<u16> = (0..nrx).filter(|q| q % nw == w).collect();
            let p = DpdkPort::new(
                port,
                eth,
                rxq,
                w,
                d.areas[w as usize].clone(),
                ctl.rx.clone(),
            );
            if let Err(e) = self.ask(w as usize, |r| Cmd::AddPort(Box::new(p), r)) {
                let _ = self.graph.detach_port(port);
                for w2 in 0..w {
                    let _ = self.ask(w2 as usize, |r| Cmd::Close(port, r));
                }
                sys::eth_stop_close(eth);
                unclaim(eth);
                return Err(DataplaneError::Other(format!("{dev}: worker {w}: {e}")));
            }
        }
        tracing::info!(device = %dev, node = %name, driver = %info.driver, rx_queues = nrx, port, "attached DPDK device");
        if let Some(d) = self.dpdk.as_mut() {
            d.ports.insert(
                name,
                DpdkAttached {
                    port,
                    ctl,
                    rx_queues: nrx,
                },
            );
        }
        Ok(port)
    }

    /// DPDK devices attached (node names).
    pub fn dpdk_devices(&self) -> Vec<String> {
        self.dpdk
            .as_ref()
            .map(|d| d.ports.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A DPDK device's settings, by node name.
    pub fn dpdk_device(&self, name: &str) -> Option<(&Arc<crate::dpdk::port::DpdkCtl>, u16)> {
        self.dpdk
            .as_ref()
            .and_then(|d| d.ports.get(name))
            .map(|a| (&a.ctl, a.rx_queues))
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}

#[allow(clippy::too_many_arguments)]
fn worker_main(
    id: usize,
    core: usize,
    h: GraphHandle,
    cfg: DataplaneConfig,
    area: Option<WorkerArea>,
    cmds: Receiver<Cmd>,
    stop: Arc<AtomicBool>,
    ready: Sender<Result<(), String>>,
) {
    if let Err(e) = crate::sys::cpu::pin_current_thread(core) {
        tracing::warn!(core, "cannot pin worker {id}: {e}");
    }
    let busy = cfg.busy_poll || area.is_some();
    // declared before the pool and the worker, so dropped after them: their chunks go into
    // this thread's mempool cache, which the guard then flushes
    #[cfg(feature = "dpdk")]
    let _eal_thread = area
        .as_ref()
        .map(|a| EalThread::register(a.clone(), id, core));
    let (mut umem, pool) = match worker_pool(&cfg, area) {
        Ok(x) => x,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut w = match h.worker(id, pool) {
        Ok(w) => w,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut fds: BTreeMap<PortId, Vec<RawFd>> = BTreeMap::new();
    let mut idle = 0u32;
    while !stop.load(Ordering::Relaxed) {
        while let Ok(cmd) = cmds.try_recv() {
            handle_cmd(&mut w, &mut umem, &mut fds, &cfg, cmd);
        }
        if w.poll() > 0 {
            idle = 0;
            continue;
        }
        idle = idle.saturating_add(1);
        // DPDK devices are polled (no descriptor to sleep on), so a DPDK data plane spins
        if !busy && idle > 2048 {
            let all: Vec<RawFd> = fds.values().flatten().copied().collect();
            if all.is_empty() {
                std::thread::sleep(Duration::from_millis(1));
            } else {
                let _ = crate::sys::xsk::poll_readable(&all, 1);
            }
        }
    }
    for id in w.port_ids() {
        close_port(&mut w, &mut umem, &mut fds, id);
    }
}

/// A worker registered as an EAL thread (for mempool caches); unregisters on drop.
#[cfg(feature = "dpdk")]
struct EalThread(Arc<crate::sys::dpdk::Area>);

#[cfg(feature = "dpdk")]
impl EalThread {
    fn register(a: Arc<crate::sys::dpdk::Area>, id: usize, core: usize) -> EalThread {
        if !a.register_thread() {
            tracing::warn!(
                core,
                "worker {id}: no EAL lcore id left; DPDK mempool caches are off"
            );
        }
        EalThread(a)
    }
}

#[cfg(feature = "dpdk")]
impl Drop for EalThread {
    fn drop(&mut self) {
        self.0.unregister_thread();
    }
}

#[cfg(feature = "dpdk")]
type WorkerArea = Arc<crate::sys::dpdk::Area>;
#[cfg(not(feature = "dpdk"))]
type WorkerArea = std::convert::Infallible;

/// A worker's frame pool and UMEM: an anonymous mapping, or (with DPDK) its frame area, which
/// serves as both mempool and UMEM.
fn worker_pool(cfg: &DataplaneConfig, area: Option<WorkerArea>) -> Result<(Umem, Pool), String> {
    #[cfg(feature = "dpdk")]
    if let Some(a) = area {
        let view = a.view().ok_or("the frame area already has a pool")?;
        let (addr, len) = a.addr_len();
        let chunk = a.chunk_size();
        let pool = Pool::with_source(
            Region::Dpdk(view),
            chunk,
            afxdp::HEADROOM,
            crate::sys::dpdk::BUF_START,
            Box::new(crate::dpdk::AreaSource(a)),
        );
        return Ok((Umem::for_region(addr, len, chunk), pool));
    }
    #[cfg(not(feature = "dpdk"))]
    if let Some(never) = area {
        match never {}
    }
    let len = cfg.frames_per_worker * afxdp::CHUNK_SIZE;
    let mapping = crate::sys::mmap::Mapping::anonymous(len, false)
        .map_err(|e| format!("cannot map {len} bytes for the UMEM: {e}"))?;
    let umem = Umem::for_region(
        mapping.as_ptr() as u64,
        mapping.len() as u64,
        afxdp::CHUNK_SIZE,
    );
    Ok((
        umem,
        Pool::with_region(Region::Mapped(mapping), afxdp::CHUNK_SIZE, afxdp::HEADROOM),
    ))
}

fn close_port(
    w: &mut crate::graph::Worker,
    umem: &mut Umem,
    fds: &mut BTreeMap<PortId, Vec<RawFd>>,
    id: PortId,
) {
    fds.remove(&id);
    if let Some(p) = w.remove_port(id) {
        let any: Box<dyn std::any::Any> = p;
        if let Ok(x) = any.downcast::<XskPort>() {
            x.close(umem);
        }
    }
}

fn handle_cmd(
    w: &mut crate::graph::Worker,
    umem: &mut Umem,
    fds: &mut BTreeMap<PortId, Vec<RawFd>>,
    cfg: &DataplaneConfig,
    cmd: Cmd,
) {
    match cmd {
        Cmd::OpenXsk {
            port,
            ifindex,
            queues,
            xsks,
            stats,
            tap,
            reply,
        } => {
            let reg = |q: u32, fd: RawFd| afxdp::program::register_socket(&xsks, q, fd);
            let r = XskPort::open(
                port,
                ifindex,
                &queues,
                umem,
                w.pool_mut(),
                &cfg.socket,
                &reg,
                &stats,
            );
            let _ = reply.send(match r {
                Ok(mut p) => {
                    if let Some((t, reader)) = tap {
                        p.set_tap(t, reader);
                    }
                    fds.insert(port, p.fds());
                    w.add_port(Box::new(p));
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            });
        }
        Cmd::AddPort(p, reply) => {
            w.add_port(p);
            let _ = reply.send(Ok(()));
        }
        Cmd::Close(port, reply) => {
            close_port(w, umem, fds, port);
            let _ = reply.send(Ok(()));
        }
    }
}
