//! [`AfxdpBackend`]: Linux interfaces attached with the XDP program and one AF_XDP socket per
//! RX queue, queue q on worker q mod W; [`AfxdpIface`]: one attached interface.

use super::fastpath::FastPathMaps;
use super::iface::STATS_WAIT;
use super::port::read_kernel_stats;
use super::program::{register_socket, unregister_socket};
use super::{check_mtu, io_ctx, rx_queues, AfxdpError, IfaceCtl, QueueStats, SocketConfig};
use super::{Owner, Umem, XdpMode, XskPort};
use crate::dataplane::backend::{
    AttachRequest, Backend, Claim, DriverStats, IfaceDesc, Interface, PortDrop, PortMaker,
    WorkerCx, WorkerPort,
};
use crate::dataplane::{DataplaneConfig, DataplaneError};
use crate::frame::{max_mtu, CHUNK_SIZE};
use crate::port::{PortCtl, PortId};
use crate::sys::netdev::{self, Tap};
use libbpf_rs::MapHandle;
use std::any::Any;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The backend's kind, as `ctl interfaces` shows it.
pub const KIND: &str = "afxdp";

/// TAP name for an interface: `<ifname>h`, cut to the 15 characters Linux allows.
pub fn tap_name(ifname: &str) -> String {
    let mut n: String = ifname.chars().take(14).collect();
    n.push('h');
    n
}

/// Attaches Linux interfaces over AF_XDP.
pub struct AfxdpBackend {
    mode: XdpMode,
    socket: SocketConfig,
    taps: bool,
    /// Recorded in every program attached (this process, and the daemon's control socket).
    owner: Owner,
    /// The fast path's shared maps (None: `--fast-path off`, or they could not be loaded).
    fast: Option<Arc<FastPathMaps>>,
}

impl AfxdpBackend {
    pub fn new(cfg: &DataplaneConfig) -> AfxdpBackend {
        AfxdpBackend {
            mode: cfg.xdp_mode,
            socket: cfg.socket,
            taps: cfg.taps,
            owner: Owner::this_process(cfg.control_socket.as_deref()),
            fast: cfg.fast_path.then(load_fast_path).flatten(),
        }
    }

    /// The fast path's shared maps, when it is on.
    pub fn fast_path(&self) -> Option<Arc<FastPathMaps>> {
        self.fast.clone()
    }
}

fn load_fast_path() -> Option<Arc<FastPathMaps>> {
    match FastPathMaps::load() {
        Ok(m) => {
            tracing::info!("XDP fast path on: learned bridge flows between attached interfaces are forwarded in the XDP program (--fast-path off disables it)");
            Some(Arc::new(m))
        }
        Err(e) => {
            tracing::warn!("no XDP fast path: {e}");
            None
        }
    }
}

impl Backend for AfxdpBackend {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// Any name another backend does not claim is taken for a Linux interface (the errors of
    /// an attach say what is wrong with it).
    fn claims(&self, _name: &str) -> Claim {
        Claim::Fallback
    }

    fn attach(&mut self, req: &AttachRequest<'_>) -> Result<Box<dyn Interface>, DataplaneError> {
        let ifname = req.name;
        // frames land in the workers' chunks: smaller than a page when they are DPDK's
        if req.chunk_size < CHUNK_SIZE {
            check_mtu(ifname, max_mtu(req.chunk_size))?;
        }
        let nw = req.workers as u32;
        let have = rx_queues(ifname).map_err(io_ctx(format!("{ifname}: reading its queues")))?;
        let nq = req.queues.unwrap_or(have).min(have);
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
        let mut ctl = IfaceCtl::attach(ifname, self.mode, &self.owner, self.fast.as_deref())?;
        let tap = if self.taps {
            open_tap(ifname, &mut ctl)
        } else {
            None
        };
        let ctl = Arc::new(ctl);
        let xsks = ctl.program().xsks()?;
        let mut queues: Vec<Vec<u32>> = vec![Vec::new(); nw as usize];
        for q in 0..nq {
            queues[(q % nw) as usize].push(q);
        }
        Ok(Box::new(AfxdpIface {
            ctl,
            queues,
            xsks,
            tap,
            socket: self.socket,
        }))
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The TAP mirror of `ifname` for its ether node's `upper` hook (None, with a warning, when it
/// cannot be made).
fn open_tap(ifname: &str, ctl: &mut IfaceCtl) -> Option<Tap> {
    let name = tap_name(ifname);
    match Tap::open(&name) {
        Ok(t) => {
            let _ = netdev::set_mac(&name, PortCtl::mac(ctl));
            // the host path carries the interface's frames, jumbo ones too
            let _ = netdev::set_mtu(&name, ctl.mtu());
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
            let _ = netdev::set_flags(&name, libc::IFF_UP, true);
            ctl.tap_name = Some(name);
            Some(t)
        }
        Err(e) => {
            tracing::warn!(%ifname, "no TAP mirror ({e}): the upper hook has no host path");
            None
        }
    }
}

/// An interface attached over AF_XDP.
pub struct AfxdpIface {
    ctl: Arc<IfaceCtl>,
    /// Queues per worker.
    queues: Vec<Vec<u32>>,
    xsks: MapHandle,
    tap: Option<Tap>,
    socket: SocketConfig,
}

impl AfxdpIface {
    /// The interface's control half: its XDP program, its queues' counters.
    pub fn ctl(&self) -> &Arc<IfaceCtl> {
        &self.ctl
    }
}

impl Interface for AfxdpIface {
    fn ctl(&self) -> Arc<dyn PortCtl> {
        self.ctl.clone()
    }

    fn describe(&self) -> IfaceDesc {
        IfaceDesc {
            name: self.ctl.ifname(),
            port: 0,
            kind: KIND,
            mode: self.ctl.program().mode().to_string(),
            queues: self.ctl.queue_stats().len(),
            up: self.ctl.is_up(),
        }
    }

    /// Worker `worker`'s sockets on its queues, sharing the worker's UMEM (its pool), and the
    /// TAP (which worker 0 also reads).
    fn worker_port(&mut self, worker: usize, port: PortId) -> Result<PortMaker, DataplaneError> {
        let queues = self.queues[worker].clone();
        let stats: Vec<Arc<QueueStats>> = queues
            .iter()
            .map(|q| Arc::new(QueueStats::new(*q)))
            .collect();
        for s in &stats {
            self.ctl.add_queue(s.clone());
        }
        let tap = match &self.tap {
            Some(t) => Some((
                t.try_clone()
                    .map_err(io_ctx("duplicating the TAP descriptor"))?,
                worker == 0,
            )),
            None => None,
        };
        let xsks = MapHandle::try_from(&self.xsks).map_err(|e| AfxdpError::Bpf {
            ifname: self.ctl.ifname(),
            what: "duplicating the xsks map".into(),
            err: e.to_string(),
        })?;
        let (ifindex, socket) = (self.ctl.ifindex(), self.socket);
        Ok(Box::new(move |cx: &mut WorkerCx<'_>| {
            for s in &stats {
                s.set_wake(cx.wake);
            }
            let (umem, pool) = cx.local_and_pool(|r| Umem::for_region(r.addr, r.len, r.chunk_size));
            let reg = |q: u32, fd| register_socket(&xsks, q, fd);
            let mut p = XskPort::open(port, ifindex, &queues, umem, pool, &socket, &reg, &stats)
                .map_err(io_ctx("opening AF_XDP sockets"))?;
            if let Some((t, reader)) = tap {
                p.set_tap(t, reader);
            }
            let fds = p.fds();
            let closing = fds.clone();
            Ok(WorkerPort {
                port: Box::new(p),
                fds,
                on_close: Some(Box::new(move |cx: &mut WorkerCx<'_>| {
                    if let Some(u) = cx.local::<Umem>() {
                        u.forget(&closing);
                    }
                })),
            })
        }))
    }

    /// Per queue, the kernel's socket counters (`XDP_STATISTICS`, read from the sockets now)
    /// and ours; for the interface, the XDP program's.
    fn driver_stats(&self) -> Vec<DriverStats> {
        let p = self.ctl.program().stats();
        let mut v = vec![DriverStats {
            queue: None,
            counters: vec![
                ("xdp_pass", p.pass),
                ("xdp_redirect", p.redirect),
                ("xdp_no_socket", p.no_socket),
                ("xdp_fast_path", p.fast_path),
                ("xdp_fast_path_moved", p.fast_path_moved),
                (
                    "fast_path_refused",
                    self.ctl.fast_path_refused.load(Relaxed),
                ),
            ],
        }];
        let queues = self.ctl.queue_stats();
        read_kernel_stats(&queues, STATS_WAIT);
        for q in queues {
            let k = q.kernel();
            v.push(DriverStats {
                queue: Some(q.queue),
                counters: vec![
                    ("rx_frames", q.rx_frames.load(Relaxed)),
                    ("tx_frames", q.tx_sent()),
                    ("tx_queued", q.tx_queued.load(Relaxed)),
                    ("tx_completed", q.tx_completed.load(Relaxed)),
                    ("tx_not_sent", q.tx_not_sent.load(Relaxed)),
                    ("rx_dropped", k.rx_dropped),
                    ("rx_ring_full", k.rx_ring_full),
                    ("rx_fill_ring_empty", k.rx_fill_ring_empty_descs),
                    ("rx_invalid_descs", k.rx_invalid_descs),
                    ("tx_invalid_descs", k.tx_invalid_descs),
                    ("tx_ring_empty", k.tx_ring_empty_descs),
                    ("kick_errors", q.kick_errors.load(Relaxed)),
                    ("lost_on_close", q.lost_on_close.load(Relaxed)),
                    ("rx_bad_chain", q.rx_bad_chain.load(Relaxed)),
                    ("tx_too_big", q.tx_too_big.load(Relaxed)),
                    ("fill_lost_on_close", q.fill_lost_on_close.load(Relaxed)),
                    ("zero_copy", q.zero_copy.load(Relaxed)),
                ],
            });
        }
        v
    }

    fn drops(&self) -> Vec<PortDrop> {
        self.ctl.drops()
    }

    /// Notices a vanished (deleted) or downed interface, or one without carrier: its ether
    /// node is down meanwhile (its frames are dropped as `port_down`).
    fn tick(&self) {
        if let Some((old, new)) = self.ctl.refresh_mtu() {
            let name = self.ctl.ifname();
            if new > super::MAX_MTU {
                tracing::error!(ifname = %name, old, new, max = super::MAX_MTU, "MTU raised beyond what xdpgraph receives: larger frames are dropped by the kernel (rx_dropped); lower it");
            } else {
                tracing::info!(ifname = %name, old, new, "MTU changed: frames up to the new MTU are received and sent");
            }
        }
        let was = self.ctl.is_up();
        let now = self.ctl.refresh();
        if was && !now {
            let name = self.ctl.ifname();
            tracing::warn!(ifname = %name, "interface vanished, went down or lost its carrier: its ether node is down");
        } else if !was && now {
            let name = self.ctl.ifname();
            tracing::info!(ifname = %name, "interface is up again");
        }
    }

    /// Frames go back to the kernel, and the sockets leave the program's map.
    fn quiesce(&mut self) {
        let _ = self.ctl.program().set_steering(false);
        for q in self.queues.iter().flatten() {
            unregister_socket(&self.xsks, *q);
        }
    }

    /// The program goes: the interface behaves as before.
    fn release(self: Box<Self>) {
        self.ctl.detach_program();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
