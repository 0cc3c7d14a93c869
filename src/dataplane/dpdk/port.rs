//! A DPDK ethdev as an xdpgraph port.
//!
//! [`DpdkPort`] is one worker's share of a device: the RX queues assigned to it (queue q goes
//! to worker q mod W) and its own TX queue (TX queue w for worker w, so no queue is shared and
//! nothing is locked). Received mbufs become frame descriptors in place; frames to transmit
//! become mbufs in place (see `crate::sys::dpdk`).
//!
//! Jumbo frames: an mbuf chain received (RX scatter) becomes a chained frame in place, its
//! links written into its chunks; a chained frame leaves as an mbuf chain (TX multi-segs).
//! The device's MTU is set at attach (see `backend`); a frame longer than MTU + 18 is not sent.
//!
//! [`DpdkCtl`] is the device's side for the ether node: name, MAC, promiscuity, multicast
//! list, link state (cached, refreshed by the data plane's tick), MTU, and counters: the
//! device's own (`rte_eth_stats`) and ours: `rx_chained` (frames received as chains),
//! `rx_copied` (frames copied into the area because their mbuf came from another mempool, as
//! net_ring does), and the named drops `rx_too_many_segs` (a chain of more than 18 segments),
//! `rx_nobuf_dropped` (a frame from a foreign mempool with no free chunk to copy it into) and
//! `tx_too_big` (longer than the device's MTU + 18).
//!
//! A DPDK device has no host stack: frames that arrive while the ether node's `lower` is not
//! connected go towards the host and are dropped as `host_unavailable` (counted), and
//! `set_steering` only records the wish.

use crate::buf::{Burst, Pool};
use crate::port::{Forwarded, Port, PortCtl, PortDrop, PortId};
use crate::sys::dpdk::{self as sys, Area};
use crate::wire::MacAddr;
use std::any::Any;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Whether `name` names a DPDK device rather than a Linux interface: a DPDK driver name
/// (`net_...`, with or without device arguments) or a PCI address (`0000:03:00.0`, or its
/// node-name form `0000_03_00_0`).
pub fn is_dpdk_name(name: &str) -> bool {
    let dev = name.split(',').next().unwrap_or(name);
    let pci = |s: &str| {
        let b = s.as_bytes();
        b.len() == 12
            && (b[4] == b':' || b[4] == b'_')
            && (b[7] == b':' || b[7] == b'_')
            && (b[10] == b'.' || b[10] == b'_')
            && s.chars()
                .enumerate()
                .all(|(i, c)| matches!(i, 4 | 7 | 10) || c.is_ascii_hexdigit())
    };
    dev.starts_with("net_") || name.contains(',') || pci(dev)
}

/// Ethernet header and one VLAN tag: a frame's longest over the MTU (as for AF_XDP).
pub const FRAME_OVER_MTU: u32 = 18;

/// Counters of frames refused or converted at the device, summed over its queues, and the
/// longest frame it sends.
#[derive(Debug, Default)]
pub struct RxStats {
    pub too_many_segs: AtomicU64,
    pub nobuf_dropped: AtomicU64,
    pub copied: AtomicU64,
    pub chained: AtomicU64,
    /// Frames longer than [`RxStats::tx_max_len`], dropped before the driver.
    pub tx_too_big: AtomicU64,
    /// The device's MTU + [`FRAME_OVER_MTU`] (0: no limit).
    pub tx_max_len: AtomicU32,
}

/// One worker's queues on a device.
pub struct DpdkPort {
    id: PortId,
    eth: u16,
    rxq: Vec<u16>,
    next: usize,
    txq: u16,
    area: Arc<Area>,
    stats: Arc<RxStats>,
}

impl DpdkPort {
    pub fn new(
        id: PortId,
        eth: u16,
        rxq: Vec<u16>,
        txq: u16,
        area: Arc<Area>,
        stats: Arc<RxStats>,
    ) -> DpdkPort {
        DpdkPort {
            id,
            eth,
            rxq,
            next: 0,
            txq,
            area,
            stats,
        }
    }
}

impl DpdkPort {
    /// Drops the frames of a burst longer than the device sends (`tx_too_big`).
    #[cold]
    fn drop_too_big(&mut self, pool: &mut Pool, frames: &mut Burst, max: u32) {
        let mut kept = Burst::new();
        let mut n = 0;
        for f in frames.drain() {
            if f.len > max {
                pool.free(f);
                n += 1;
            } else {
                let _ = kept.push(f);
            }
        }
        self.stats.tx_too_big.fetch_add(n, Relaxed);
        *frames = kept;
    }
}

impl DpdkPort {
    #[cold]
    fn count_rx(&self, c: sys::RxCounts) {
        let s = &self.stats;
        s.too_many_segs.fetch_add(c.too_many_segs as u64, Relaxed);
        s.copied.fetch_add(c.copied as u64, Relaxed);
        s.nobuf_dropped.fetch_add(c.nobuf as u64, Relaxed);
        s.chained.fetch_add(c.chained as u64, Relaxed);
    }
}

impl Port for DpdkPort {
    fn id(&self) -> PortId {
        self.id
    }

    fn rx_burst(&mut self, _pool: &mut Pool, out: &mut Burst) {
        let nq = self.rxq.len();
        for i in 0..nq {
            if out.is_full() {
                break;
            }
            let q = self.rxq[(self.next + i) % nq];
            let (got, c) = self.area.rx(self.eth, q, out.spare_mut());
            out.grow(got);
            if c.any() {
                self.count_rx(c);
            }
        }
        self.next = (self.next + 1) % nq.max(1);
    }

    fn can_forward(&self) -> bool {
        true
    }

    fn forward(&mut self, to: &mut dyn Port, out: &mut Burst) -> Option<Forwarded> {
        let to = to.as_any().downcast_ref::<DpdkPort>()?;
        let nq = self.rxq.len();
        if nq == 0 {
            return Some(Forwarded::default());
        }
        let q = self.rxq[self.next % nq];
        self.next = (self.next + 1) % nq;
        let max = match to.stats.tx_max_len.load(Relaxed) {
            0 => u32::MAX,
            m => m,
        };
        let (got, c, f) = self
            .area
            .forward((self.eth, q), (to.eth, to.txq), max, out.spare_mut());
        out.grow(got);
        if c.any() {
            self.count_rx(c);
        }
        Some(Forwarded {
            frames: f.rx as u64,
            octets: f.octets,
            sent: f.sent as u64,
        })
    }

    fn tx_burst(&mut self, pool: &mut Pool, frames: &mut Burst) {
        // 0: no limit; the shim checks every length as it converts (a frame too long: nothing
        // sent, those dropped here, the rest sent again)
        let max = match self.stats.tx_max_len.load(Relaxed) {
            0 => u32::MAX,
            m => m,
        };
        while !frames.is_empty() {
            let n = frames.len().min(64);
            let Some(sent) = self.area.tx(self.eth, self.txq, frames.as_slice(), max) else {
                self.drop_too_big(pool, frames, max);
                continue;
            };
            frames.consume_front(sent);
            if sent < n {
                return; // the queue is full: the worker drops and counts the rest
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

/// A device's settings and counters.
pub struct DpdkCtl {
    name: String,
    pub eth: u16,
    pub driver: String,
    ifindex: u32,
    up: AtomicBool,
    multi: Mutex<Vec<MacAddr>>,
    steering: AtomicBool,
    pub rx: Arc<RxStats>,
}

impl DpdkCtl {
    pub fn new(name: String, eth: u16, driver: String, ifindex: u32) -> DpdkCtl {
        DpdkCtl {
            name,
            eth,
            driver,
            ifindex,
            up: AtomicBool::new(sys::eth_link_up(eth)),
            multi: Mutex::new(Vec::new()),
            steering: AtomicBool::new(false),
            rx: Arc::default(),
        }
    }
    /// Re-reads the link state; returns it.
    pub fn refresh(&self) -> bool {
        let up = sys::eth_link_up(self.eth);
        self.up.store(up, Relaxed);
        up
    }
    /// The link state as last read.
    pub fn is_up_cached(&self) -> bool {
        self.up.load(Relaxed)
    }
    /// The MTU the device was started with.
    pub fn mtu(&self) -> u32 {
        self.rx
            .tx_max_len
            .load(Relaxed)
            .saturating_sub(FRAME_OVER_MTU)
    }
    /// Whether the ether node wants frames (its lower/orphans hook is connected).
    pub fn steering(&self) -> bool {
        self.steering.load(Relaxed)
    }
}

/// Why a DPDK device lost frames outside the graph.
pub mod reason {
    use crate::port::PortReason;
    pub const RX_MISSED: PortReason = PortReason {
        name: "rx_missed",
        describe: "the device dropped it on receive: no room on its RX queue (imissed)",
    };
    pub const RX_ERRORS: PortReason = PortReason {
        name: "rx_errors",
        describe: "the device received it in error (ierrors)",
    };
    pub const RX_NOMBUF: PortReason = PortReason {
        name: "rx_nombuf",
        describe: "the driver had no mbuf to receive into (rx_nombuf; for some drivers, e.g. \
                   af_xdp, failed refills rather than lost frames)",
    };
    pub const TX_ERRORS: PortReason = PortReason {
        name: "tx_errors",
        describe: "the device failed to transmit it (oerrors)",
    };
    pub const RX_TOO_MANY_SEGS: PortReason = PortReason {
        name: "rx_too_many_segs",
        describe: "received over more than 18 mbufs (a frame spans at most 18 chunks): \
                   refused before the graph",
    };
    pub const TX_TOO_BIG: PortReason = PortReason {
        name: "tx_too_big",
        describe: "longer than the device sends (its MTU + 18): dropped before the driver",
    };
    pub const RX_NOBUF: PortReason = PortReason {
        name: "rx_nobuf_dropped",
        describe: "from a foreign mempool, and no free chunk to copy it into",
    };
}

impl DpdkCtl {
    /// Every frame the device lost outside the graph, read now (device-wide: queue None).
    pub fn drops(&self) -> Vec<PortDrop> {
        let s = sys::eth_stats(self.eth).unwrap_or_default();
        let counts = [
            (reason::RX_MISSED, s[4]),
            (reason::RX_ERRORS, s[5]),
            (reason::RX_NOMBUF, s[7]),
            (reason::TX_ERRORS, s[6]),
            (
                reason::RX_TOO_MANY_SEGS,
                self.rx.too_many_segs.load(Relaxed),
            ),
            (reason::RX_NOBUF, self.rx.nobuf_dropped.load(Relaxed)),
            (reason::TX_TOO_BIG, self.rx.tx_too_big.load(Relaxed)),
        ];
        counts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(reason, count)| PortDrop {
                queue: None,
                reason,
                count,
                detail: None,
            })
            .collect()
    }
}

impl PortCtl for DpdkCtl {
    fn ifname(&self) -> String {
        self.name.clone()
    }
    fn ifindex(&self) -> u32 {
        self.ifindex
    }
    fn mac(&self) -> MacAddr {
        MacAddr(sys::eth_mac(self.eth))
    }
    fn set_mac(&self, mac: MacAddr) -> io::Result<()> {
        sys::eth_set_mac(self.eth, mac.0)
    }
    fn promisc(&self) -> bool {
        sys::eth_promisc(self.eth)
    }
    fn set_promisc(&self, on: bool) -> io::Result<()> {
        sys::eth_set_promisc(self.eth, on)
    }
    fn add_multi(&self, mac: MacAddr) -> io::Result<()> {
        let mut m = self.multi.lock().unwrap_or_else(|e| e.into_inner());
        if m.contains(&mac) {
            return Ok(());
        }
        m.push(mac);
        let list: Vec<[u8; 6]> = m.iter().map(|x| x.0).collect();
        sys::eth_set_multicast(self.eth, &list).inspect_err(|_| {
            m.pop();
        })
    }
    fn del_multi(&self, mac: MacAddr) -> io::Result<()> {
        let mut m = self.multi.lock().unwrap_or_else(|e| e.into_inner());
        let Some(i) = m.iter().position(|x| *x == mac) else {
            return Err(io::Error::new(io::ErrorKind::NotFound, "not a member"));
        };
        m.remove(i);
        let list: Vec<[u8; 6]> = m.iter().map(|x| x.0).collect();
        sys::eth_set_multicast(self.eth, &list)
    }
    fn set_steering(&self, to_graph: bool) -> io::Result<()> {
        self.steering.store(to_graph, Relaxed);
        Ok(())
    }
    fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut v = Vec::new();
        if let Some(s) = sys::eth_stats(self.eth) {
            let names = [
                "rx_packets",
                "tx_packets",
                "rx_bytes",
                "tx_bytes",
                "rx_missed",
                "rx_errors",
                "tx_errors",
                "rx_nombuf",
            ];
            v.extend(names.iter().copied().zip(s));
        }
        let r = &self.rx;
        v.push(("rx_too_many_segs", r.too_many_segs.load(Relaxed)));
        v.push(("rx_nobuf_dropped", r.nobuf_dropped.load(Relaxed)));
        v.push(("tx_too_big", r.tx_too_big.load(Relaxed)));
        v.push(("rx_copied", r.copied.load(Relaxed)));
        v.push(("rx_chained", r.chained.load(Relaxed)));
        v.push(("mtu", self.mtu() as u64));
        v
    }
}
