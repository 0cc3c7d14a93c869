//! A DPDK ethdev as an xdpgraph port.
//!
//! [`DpdkPort`] is one worker's share of a device: the RX queues assigned to it (queue q goes
//! to worker q mod W) and its own TX queue (TX queue w for worker w, so no queue is shared and
//! nothing is locked). Received mbufs become frame descriptors in place; frames to transmit
//! become mbufs in place (see `crate::sys::dpdk`).
//!
//! [`DpdkCtl`] is the device's side for the ether node: name, MAC, promiscuity, multicast
//! list, link state (cached, refreshed by the data plane's tick), and counters: the device's
//! own (`rte_eth_stats`) and ours for frames refused before the graph:
//! `rx_multiseg_dropped` (a frame larger than one chunk), `rx_nobuf_dropped` (a frame from a
//! foreign mempool with no free chunk to copy it into), `rx_copied` (frames copied into the
//! area because their mbuf came from another mempool, as net_ring does).
//!
//! A DPDK device has no host stack: frames that arrive while the ether node's `lower` is not
//! connected go towards the host and are dropped as `host_unavailable` (counted), and
//! `set_steering` only records the wish.

use crate::buf::{Burst, Pool};
use crate::port::{Port, PortCtl, PortDrop, PortId};
use crate::sys::dpdk::{self as sys, Area};
use crate::wire::MacAddr;
use std::any::Any;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
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

/// Counters of frames refused before the graph, summed over a device's queues.
#[derive(Debug, Default)]
pub struct RxStats {
    pub multiseg_dropped: AtomicU64,
    pub nobuf_dropped: AtomicU64,
    /// Jumbo (chained) frames handed to the device: dropped, multi-segment TX is not done yet.
    pub tx_chained_dropped: AtomicU64,
    pub copied: AtomicU64,
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
    /// Drops the jumbo (chained) frames of a burst, counted (`tx_chained_dropped`): this
    /// backend does not build multi-segment mbufs yet.
    #[cold]
    fn drop_chained(&mut self, pool: &mut Pool, frames: &mut Burst) {
        let mut kept = Burst::new();
        let mut n = 0;
        for f in frames.drain() {
            if f.is_chained() {
                pool.free(f);
                n += 1;
            } else {
                let _ = kept.push(f);
            }
        }
        self.stats.tx_chained_dropped.fetch_add(n, Relaxed);
        *frames = kept;
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
            let (got, [ms, cp, nb]) = self.area.rx(self.eth, q, out.spare_mut());
            out.grow(got);
            if ms | cp | nb != 0 {
                self.stats.multiseg_dropped.fetch_add(ms as u64, Relaxed);
                self.stats.copied.fetch_add(cp as u64, Relaxed);
                self.stats.nobuf_dropped.fetch_add(nb as u64, Relaxed);
            }
        }
        self.next = (self.next + 1) % nq.max(1);
    }

    fn tx_burst(&mut self, pool: &mut Pool, frames: &mut Burst) {
        if frames.as_slice().iter().any(|f| f.is_chained()) {
            self.drop_chained(pool, frames);
        }
        while !frames.is_empty() {
            let n = frames.len().min(64);
            let sent = self.area.tx(self.eth, self.txq, frames.as_slice());
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
    pub const RX_MULTISEG: PortReason = PortReason {
        name: "rx_multiseg_dropped",
        describe: "larger than one chunk (a multi-segment mbuf): refused before the graph",
    };
    pub const TX_CHAINED: PortReason = PortReason {
        name: "tx_chained_dropped",
        describe: "a jumbo frame (several chunks): multi-segment transmit is not done on DPDK yet",
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
            (reason::RX_MULTISEG, self.rx.multiseg_dropped.load(Relaxed)),
            (reason::RX_NOBUF, self.rx.nobuf_dropped.load(Relaxed)),
            (reason::TX_CHAINED, self.rx.tx_chained_dropped.load(Relaxed)),
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
        v.push((
            "rx_multiseg_dropped",
            self.rx.multiseg_dropped.load(Relaxed),
        ));
        v.push(("rx_nobuf_dropped", self.rx.nobuf_dropped.load(Relaxed)));
        v.push((
            "tx_chained_dropped",
            self.rx.tx_chained_dropped.load(Relaxed),
        ));
        v.push(("rx_copied", self.rx.copied.load(Relaxed)));
        v
    }
}
