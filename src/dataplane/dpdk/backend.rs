//! [`DpdkBackend`]: DPDK ethdevs as ports. RX queue q of a device is polled by worker q mod W
//! (from that worker's frame area), worker w transmits on TX queue w; each device gets an
//! ether node named after it. [`DpdkIface`]: one attached device.

use super::eal;
use super::port::{is_dpdk_name, DpdkCtl, DpdkPort, FRAME_OVER_MTU};
use super::AreaSource;
use crate::buf::{Pool, Region};
use crate::dataplane::backend::{
    AttachRequest, Backend, Claim, DriverStats, FrameCount, IfaceDesc, Interface, MemoryMaker,
    PortDrop, PortMaker, RegionInfo, ShutdownReport, WorkerCx, WorkerMemory, WorkerPort,
};
use crate::dataplane::{DataplaneConfig, DataplaneError, DpdkConfig};
use crate::frame::HEADROOM;
use crate::graph::node_name_for;
use crate::port::{PortCtl, PortId};
use crate::sys::dpdk::{self as sys, Area, BUF_START, PAGE_CHUNK};
use std::any::Any;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The backend's kind, as `ctl interfaces` shows it.
pub const KIND: &str = "dpdk";

/// Ethdevs claimed by a live data plane in this process (a device has one owner).
static CLAIMED: Mutex<Vec<u16>> = Mutex::new(Vec::new());

fn claimed() -> std::sync::MutexGuard<'static, Vec<u16>> {
    CLAIMED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The DPDK side of a data plane: one frame area per worker.
pub struct DpdkBackend {
    cfg: DpdkConfig,
    /// `DataplaneConfig::dpdk_mtu`.
    mtu: u32,
    areas: Vec<Arc<Area>>,
}

impl DpdkBackend {
    /// Starts the EAL (once per process) and makes one frame area per worker.
    pub fn start(dp: &DataplaneConfig, d: &DpdkConfig) -> Result<DpdkBackend, DataplaneError> {
        let frames = dp
            .frames_per_worker
            .unwrap_or(crate::dataplane::DPDK_DEFAULT_FRAMES);
        let area_bytes = (frames * PAGE_CHUNK * dp.cores.len()) as u64;
        let args = eal::build_args(
            &d.eal,
            dp.cores[0],
            area_bytes,
            eal::hugepages_free() > 0,
            std::process::id(),
        )?;
        eal::init(&args)?;
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let chunk = sys::chunk_for_mbuf_size(d.mbuf_size).ok_or_else(|| {
            DataplaneError::Invalid(format!(
                "--dpdk-mbuf-size {}: xdpgraph's frame areas have mbufs of {} (the default) or \
                 {} bytes",
                d.mbuf_size,
                sys::MBUF_SIZES[0],
                sys::MBUF_SIZES[1]
            ))
        })?;
        let mut areas = Vec::new();
        for w in 0..dp.cores.len() {
            let a = Area::new(&format!("xg{seq}w{w}"), frames as u32, chunk)?;
            if a.chunk_size() == PAGE_CHUNK {
                tracing::warn!(
                    worker = w,
                    chunk = a.chunk_size(),
                    "no IOVA-contiguous memory for the frame area and a device DMAs to physical \
                     addresses (IOVA as PA): using page-sized chunks, which cost cache misses \
                     (see docs/DPDK.md; VFIO with an IOMMU, or more hugepages, avoids this)"
                );
            }
            areas.push(a);
        }
        Ok(DpdkBackend {
            cfg: d.clone(),
            mtu: dp.dpdk_mtu,
            areas,
        })
    }

    /// The ethdev `name` names (its device name or node name), hot-plugging it first when
    /// `name` is a device argument string the EAL does not know yet (`net_null9`,
    /// `net_af_packet1,iface=eth1`).
    /// Also says whether it was hot-plugged now.
    fn resolve(name: &str) -> Result<(u16, String, bool), DataplaneError> {
        let dev = name.split(',').next().unwrap_or(name);
        let (eth, probed) = match find(dev) {
            Some(p) => (p, false),
            None => {
                sys::dev_probe(name)?;
                let p = find(dev).ok_or_else(|| {
                    DataplaneError::Invalid(format!("{name}: probed, but no ethdev appeared"))
                })?;
                (p, true)
            }
        };
        Ok((eth, dev.to_string(), probed))
    }

    /// Checks ethdev `eth` can run with `workers` workers, and starts it.
    fn setup(
        &self,
        eth: u16,
        queues: Option<u32>,
        workers: u16,
    ) -> Result<DpdkIface, DataplaneError> {
        let dev = sys::eth_name(eth)?;
        let info = sys::eth_info(eth)?;
        if !self.areas.iter().all(|a| a.dma_ok()) && !sys::eth_is_virtual(eth) {
            return Err(DataplaneError::Unsupported(format!(
                "DPDK device {dev} ({}) DMAs to physical addresses (IOVA as PA), but the frame \
                 areas were made for software devices only and are not IOVA-contiguous; start \
                 with the device present (or use VFIO with an IOMMU, --dpdk-eal \"--iova-mode=va\")",
                info.driver
            )));
        }
        if info.max_txq < workers {
            return Err(DataplaneError::Invalid(format!(
                "DPDK device {dev} ({}) has {} TX queue(s), but each of the {workers} workers needs its own; use fewer --cores (or give the vdev more queues, e.g. qpairs= / queue_count=)",
                info.driver, info.max_txq
            )));
        }
        let want = queues
            .map(|q| q as u16)
            .or((self.cfg.rx_queues > 0).then_some(self.cfg.rx_queues))
            .unwrap_or(workers);
        let nrx = want.clamp(1, info.max_rxq.max(1));
        let rx_areas: Vec<_> = (0..nrx)
            .map(|q| self.areas[(q % workers) as usize].clone())
            .collect();
        let mtu = self.mtu_for(&dev, &info, sys::eth_is_virtual(eth))?;
        let (rxd, txd) = sys::eth_setup(eth, &rx_areas, workers, self.cfg.desc, mtu)
            .map_err(|e| sys::DpdkError(format!("DPDK device {dev}: {e}")))?;
        tracing::info!(
            device = %dev,
            driver = %info.driver,
            rx_queues = nrx,
            tx_queues = workers,
            rx_ring = rxd,
            tx_ring = txd,
            mtu,
            "DPDK device started"
        );
        claimed().push(eth);
        let ctl = DpdkCtl::new(node_name_for(&dev), eth, info.driver.clone(), info.if_index);
        ctl.rx
            .tx_max_len
            .store(mtu + FRAME_OVER_MTU, Ordering::Relaxed);
        Ok(DpdkIface {
            ctl: Arc::new(ctl),
            rx_queues: nrx,
            areas: self.areas.clone(),
        })
    }
}

impl DpdkBackend {
    /// The MTU to start device `dev` with: the one configured (refused when the driver cannot
    /// take it), else the kernel interface's (af_packet, af_xdp), the driver's largest for
    /// another software device (no wire: as large as it takes) or 1500 (a NIC), capped at the
    /// driver's limit with a warning.
    fn mtu_for(
        &self,
        dev: &str,
        info: &sys::EthInfo,
        virtual_dev: bool,
    ) -> Result<u32, DataplaneError> {
        let room = self.areas.iter().map(|a| a.rx_room()).min().unwrap_or(0) as u32;
        let (limit, why) = mtu_limit(info, room);
        if self.mtu != 0 {
            return check_mtu(dev, info, self.mtu, limit, &why);
        }
        let kernel = (info.if_index != 0)
            .then(|| crate::sys::netdev::ifname(info.if_index).ok())
            .flatten()
            .and_then(|n| crate::sys::netdev::mtu(&n).ok().map(|m| (n, m)));
        let want = match &kernel {
            Some((_, m)) => *m,
            None if virtual_dev && info.if_index == 0 => return Ok(limit),
            None => 1500,
        };
        if want > limit {
            tracing::warn!(
                device = %dev,
                driver = %info.driver,
                interface = kernel.as_ref().map_or("", |(n, _)| n.as_str()),
                mtu = want,
                limit,
                "the DPDK device takes an MTU of at most {limit} ({why}): started with that; \
                 longer frames are dropped as tx_too_big on transmit (and may not be received)"
            );
            return Ok(limit.max(info.min_mtu as u32));
        }
        Ok(want.max(info.min_mtu as u32))
    }
}

/// The largest MTU a device takes with xdpgraph's frame areas (one mbuf holds `room` bytes
/// as a driver receives into it), and what sets it.
pub fn mtu_limit(info: &sys::EthInfo, room: u32) -> (u32, String) {
    let chains = crate::frame::MAX_SEGMENTS as u32 * room - FRAME_OVER_MTU;
    let mut limit = (
        chains,
        format!("a frame spans at most {} mbufs", crate::frame::MAX_SEGMENTS),
    );
    let mut cap = |l: u32, why: String| {
        if l < limit.0 {
            limit = (l, why);
        }
    };
    cap(
        info.max_mtu as u32,
        format!("the driver's max_mtu is {}", info.max_mtu),
    );
    if info.max_rx_pktlen != u32::MAX {
        cap(
            info.max_rx_pktlen.saturating_sub(FRAME_OVER_MTU),
            format!(
                "the driver receives frames of at most {} bytes (max_rx_pktlen)",
                info.max_rx_pktlen
            ),
        );
        // a driver with a receive limit receives a longer frame over several mbufs only with
        // RX scatter, and must send mbuf chains (net_null, without a limit, needs neither)
        if !(info.rx_scatter && info.tx_multi_segs) {
            let what = match (info.rx_scatter, info.tx_multi_segs) {
                (false, false) => "RX scatter nor TX multi-segs",
                (false, true) => "RX scatter",
                _ => "TX multi-segs",
            };
            cap(
                room - FRAME_OVER_MTU,
                format!("the driver has no {what}, and one mbuf holds {room} bytes"),
            );
        }
    }
    if info.driver == "net_af_xdp" {
        // its UMEM is the mempool: the kernel writes a frame into an mbuf's buffer after the
        // driver's headroom and its own XDP_PACKET_HEADROOM, and drops a longer one
        // (`rx_missed`), whatever max_mtu says
        let umem = room.saturating_sub(AF_XDP_KERNEL_HEADROOM);
        cap(
            umem.saturating_sub(FRAME_OVER_MTU),
            format!(
                "the af_xdp driver's UMEM frames are this process's mbufs, and the kernel \
                 writes at most {umem} bytes into one (its {AF_XDP_KERNEL_HEADROOM}-byte XDP \
                 headroom comes out of the mbuf's {room}); --dpdk-mbuf-size 3776 has larger ones"
            ),
        );
    }
    limit
}

/// The headroom the kernel keeps before a frame it receives into an AF_XDP UMEM chunk
/// (`XDP_PACKET_HEADROOM`), on top of the one the DPDK af_xdp driver asks for (the mbuf's).
const AF_XDP_KERNEL_HEADROOM: u32 = 256;

/// `mtu` if device `dev` takes it, else the error naming its limit.
fn check_mtu(
    dev: &str,
    info: &sys::EthInfo,
    mtu: u32,
    limit: u32,
    why: &str,
) -> Result<u32, DataplaneError> {
    if mtu > limit {
        return Err(DataplaneError::Unsupported(format!(
            "DPDK device {dev} ({}) cannot take MTU {mtu}: at most {limit} ({why})",
            info.driver
        )));
    }
    if mtu < info.min_mtu as u32 {
        return Err(DataplaneError::Unsupported(format!(
            "DPDK device {dev} ({}) cannot take MTU {mtu}: at least {}",
            info.driver, info.min_mtu
        )));
    }
    Ok(mtu)
}

/// The ethdev named `n` (device name or node name).
fn find(n: &str) -> Option<u16> {
    sys::eth_ports().into_iter().find(|p| {
        sys::eth_name(*p)
            .map(|d| d == n || node_name_for(&d) == n)
            .unwrap_or(false)
    })
}

impl Backend for DpdkBackend {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// DPDK driver names (`net_...`, with or without device arguments), PCI addresses, and
    /// the names of ethdevs the EAL knows.
    fn claims(&self, name: &str) -> Claim {
        if is_dpdk_name(name) || find(name).is_some() {
            Claim::Yes
        } else {
            Claim::No
        }
    }

    fn attach(&mut self, req: &AttachRequest<'_>) -> Result<Box<dyn Interface>, DataplaneError> {
        let (eth, dev, probed) = DpdkBackend::resolve(req.name)?;
        if claimed().contains(&eth) {
            return Err(DataplaneError::Exists(format!("DPDK device {dev}")));
        }
        match self.setup(eth, req.queues, req.workers as u16) {
            Ok(i) => Ok(Box::new(i)),
            Err(e) => {
                // a device hot-plugged for this attach and refused is unplugged again (a
                // later data plane would otherwise find it and attach it at start)
                if probed {
                    if let Err(r) = sys::dev_remove(eth) {
                        tracing::warn!(device = %dev, "{r}");
                    }
                }
                Err(e)
            }
        }
    }

    /// Every ethdev the EAL found and no data plane of this process owns.
    fn initial(&mut self) -> Result<Vec<String>, DataplaneError> {
        let owned = claimed().clone();
        let names = sys::eth_ports()
            .into_iter()
            .filter(|p| !owned.contains(p))
            .map(sys::eth_name)
            .collect::<Result<Vec<_>, _>>()?;
        if names.is_empty() && self.cfg.require_device {
            return Err(DataplaneError::Invalid(
                "DPDK found no device: give the EAL a virtual device (--dpdk-eal \"--vdev \
                 net_af_xdp0,iface=eth1\") or bind a NIC to vfio-pci (see docs/DPDK.md)"
                    .into(),
            ));
        }
        Ok(names)
    }

    /// The worker's frame area, as its pool (exchanging chunks with the area's mempool) and
    /// its UMEM; the worker registers as an EAL thread for the mempool's cache, and spins
    /// (DPDK devices have no descriptor to sleep on).
    fn worker_memory(&self, worker: usize) -> Option<MemoryMaker> {
        let a = self.areas.get(worker)?.clone();
        Some(Box::new(move |id, core| {
            let guard = EalThread::register(a.clone(), id, core);
            let view = a.view().ok_or_else(|| {
                DataplaneError::Invalid("the frame area already has a pool".into())
            })?;
            let (addr, len) = a.addr_len();
            let chunk = a.chunk_size();
            let source = Box::new(AreaSource(a));
            Ok(WorkerMemory {
                pool: Pool::with_source(Region::Mapped(view), chunk, HEADROOM, BUF_START, source),
                region: RegionInfo {
                    addr,
                    len,
                    chunk_size: chunk,
                },
                guard: Some(Box::new(guard)),
                busy: true,
            })
        }))
    }

    /// Every worker is gone (its pool gave its chunks back), every device closed (its driver
    /// freed what it held): every chunk should be home, once.
    fn shutdown(&mut self, report: &mut ShutdownReport) {
        let areas = std::mem::take(&mut self.areas);
        if areas.is_empty() {
            return;
        }
        let c = audit(&areas);
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
        if c.home == c.total && c.double_freed == 0 {
            tracing::info!(
                frames = c.total,
                "DPDK devices closed; every frame back in its pool"
            );
        } else {
            tracing::warn!(
                home = c.home,
                total = c.total,
                double_freed = c.double_freed,
                kept_by_drivers = c.kept_by_drivers,
                "DPDK devices closed; not every frame came back by itself"
            );
        }
        report.dpdk_frames = Some(c);
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Counts every area's chunks home.
fn audit(areas: &[Arc<Area>]) -> FrameCount {
    let mut c = FrameCount::default();
    for a in areas {
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
    c
}

/// A worker registered as an EAL thread (for mempool caches); unregisters on drop, after the
/// worker's pool is gone (its last chunks go through this thread's cache).
struct EalThread(Arc<Area>);

impl EalThread {
    fn register(a: Arc<Area>, id: usize, core: usize) -> EalThread {
        if !a.register_thread() {
            tracing::warn!(
                core,
                "worker {id}: no EAL lcore id left; DPDK mempool caches are off"
            );
        }
        EalThread(a)
    }
}

impl Drop for EalThread {
    fn drop(&mut self) {
        self.0.unregister_thread();
    }
}

/// An attached DPDK device.
pub struct DpdkIface {
    ctl: Arc<DpdkCtl>,
    rx_queues: u16,
    /// The workers' frame areas (RX queue q fills from area q mod W).
    areas: Vec<Arc<Area>>,
}

impl DpdkIface {
    pub fn ctl(&self) -> &Arc<DpdkCtl> {
        &self.ctl
    }
}

impl Interface for DpdkIface {
    fn ctl(&self) -> Arc<dyn PortCtl> {
        self.ctl.clone()
    }

    fn describe(&self) -> IfaceDesc {
        IfaceDesc {
            name: self.ctl.ifname(),
            port: 0,
            kind: KIND,
            mode: self.ctl.driver.clone(),
            queues: self.rx_queues as usize,
            up: self.ctl.is_up(),
        }
    }

    /// Worker `worker` polls RX queues q ≡ worker (mod W) and transmits on TX queue `worker`.
    fn worker_port(&mut self, worker: usize, port: PortId) -> Result<PortMaker, DataplaneError> {
        let nw = self.areas.len() as u16;
        let w = worker as u16;
        let rxq: Vec<u16> = (0..self.rx_queues).filter(|q| q % nw == w).collect();
        let area = self.areas[worker].clone();
        let p = DpdkPort::new(port, self.ctl.eth, rxq, w, area, self.ctl.rx.clone());
        Ok(Box::new(move |_: &mut WorkerCx<'_>| {
            Ok(WorkerPort::new(Box::new(p)))
        }))
    }

    /// The device's `rte_eth_stats` (rx_missed is imissed, rx_errors ierrors, tx_errors
    /// oerrors, rx_nombuf) and the frames refused before the graph.
    fn driver_stats(&self) -> Vec<DriverStats> {
        vec![DriverStats {
            queue: None,
            counters: self.ctl.counters(),
        }]
    }

    fn drops(&self) -> Vec<PortDrop> {
        self.ctl.drops()
    }

    fn tick(&self) {
        let was = self.ctl.is_up_cached();
        let now = self.ctl.refresh();
        if was != now {
            tracing::info!(device = %self.ctl.ifname(), up = now, "link state changed");
        }
    }

    /// The device is stopped and closed (its driver frees the mbufs it held).
    fn release(self: Box<Self>) {
        sys::eth_stop_close(self.ctl.eth);
        claimed().retain(|p| *p != self.ctl.eth);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(max_mtu: u16, max_rx_pktlen: u32, scatter: bool, multi: bool) -> sys::EthInfo {
        sys::EthInfo {
            max_rxq: 1,
            max_txq: 1,
            min_mtu: 68,
            max_mtu,
            if_index: 0,
            max_rx_pktlen,
            rx_scatter: scatter,
            tx_multi_segs: multi,
            driver: "net_test".into(),
        }
    }

    /// What the drivers measured here report (docs/DPDK.md), and the limits they make.
    #[test]
    fn mtu_limits_follow_the_driver() {
        let room = 3648;
        // net_ring: no receive limit, RX scatter and TX multi-segs: max_mtu (65535, below
        // the 18 mbufs' 65646)
        let (l, why) = mtu_limit(&info(u16::MAX, u32::MAX, true, true), room);
        assert_eq!(l, 65535, "{why}");
        let (l2, why) = mtu_limit(&info(u16::MAX, u32::MAX, true, true), 1000);
        assert_eq!(l2, 18 * 1000 - 18, "{why}");
        assert!(why.contains("18 mbufs"), "{why}");
        // net_null: no receive limit, no offloads (it frees what it sends)
        assert_eq!(
            mtu_limit(&info(u16::MAX, u32::MAX, false, false), room).0,
            l
        );
        // net_af_packet: max_rx_pktlen 1518
        let (l, why) = mtu_limit(&info(u16::MAX, 1518, false, true), room);
        assert_eq!(l, 1500);
        assert!(why.contains("1518"), "{why}");
        // a driver like net_af_xdp's report (max_mtu 3542), another name: max_mtu
        let (l, why) = mtu_limit(&info(3542, 3560, false, false), room);
        assert_eq!(l, 3542);
        assert!(why.contains("max_mtu"), "{why}");
        // net_af_xdp itself: its UMEM frames are our mbufs, less the kernel's 256-byte
        // headroom (3648 - 256 - 18 = 3374 with large mbufs, 2048 - 256 - 18 = 1774 by default)
        let mut x = info(3542, 3560, false, false);
        x.driver = "net_af_xdp".into();
        let (l, why) = mtu_limit(&x, room);
        assert_eq!(l, 3374);
        assert!(why.contains("256-byte XDP headroom"), "{why}");
        assert_eq!(mtu_limit(&x, 2048).0, 1774);
        // a NIC taking 9600-byte frames but without RX scatter: one mbuf
        let (l, why) = mtu_limit(&info(9600, 9618, false, true), room);
        assert_eq!(l, 3630);
        assert!(why.contains("no RX scatter"), "{why}");
        assert_eq!(mtu_limit(&info(9600, 9618, true, true), room).0, 9600);
        let i = info(9600, 9618, true, true);
        let e = check_mtu("nic0", &i, 9700, 9600, "why")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot take MTU 9700: at most 9600"), "{e}");
        assert!(
            check_mtu("nic0", &i, 60, 9600, "").is_err(),
            "below min_mtu"
        );
        assert_eq!(check_mtu("nic0", &i, 9000, 9600, "").unwrap(), 9000);
    }
}
