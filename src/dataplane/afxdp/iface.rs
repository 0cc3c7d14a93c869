//! [`IfaceCtl`]: the control half of an attached interface.

use super::port::{read_kernel_stats, QueueStats};
use super::{io_ctx, AfxdpError, Owner, XdpMode, XdpProgram};
use crate::port::{PortCtl, PortDrop, PortReason};
use crate::sys::netdev::{self, IfSocket};
use crate::wire::MacAddr;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// How long a read of the sockets' counters waits for the workers (each answers at its next
/// poll: within a millisecond when idle) before reading them itself.
pub const STATS_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// Why an AF_XDP interface lost frames outside the graph.
pub mod reason {
    use crate::port::PortReason;
    pub const XDP_NO_SOCKET: PortReason = PortReason {
        name: "xdp_no_socket",
        describe: "steered, but its RX queue had no socket: the XDP program passed it to the host",
    };
    pub const RX_DROPPED: PortReason = PortReason {
        name: "rx_dropped",
        describe: "the kernel dropped it at the AF_XDP socket (no fill-ring buffer, or too large)",
    };
    pub const RX_RING_FULL: PortReason = PortReason {
        name: "rx_ring_full",
        describe: "the AF_XDP socket's RX ring was full (the worker did not keep up)",
    };
    pub const RX_INVALID: PortReason = PortReason {
        name: "rx_invalid_descs",
        describe: "invalid descriptors on the AF_XDP socket's RX side",
    };
    pub const TX_INVALID: PortReason = PortReason {
        name: "tx_invalid_descs",
        describe: "the kernel refused a TX descriptor as invalid",
    };
    pub const TX_NOT_SENT: PortReason = PortReason {
        name: "tx_not_sent",
        describe: "the kernel completed a TX frame without sending it (EBUSY: no carrier, or \
                   the driver or the veth peer dropped it)",
    };
    pub const FAST_PATH_REFUSED: PortReason = PortReason {
        name: "fast_path_refused",
        describe: "the fast path redirected it here and the kernel refused it with an error \
                   (e.g. a veth whose peer has no XDP program and no GRO: -ENXIO; down)",
    };
    pub const FAST_PATH_RING_FULL: PortReason = PortReason {
        name: "fast_path_ring_full",
        describe: "the fast path redirected it here and the kernel dropped it: the \
                   interface's ring was full (the receiver did not keep up)",
    };
    pub const RX_BAD_CHAIN: PortReason = PortReason {
        name: "rx_bad_chain",
        describe: "a frame received over several buffers that did not make one frame (more \
                   than 18 buffers)",
    };
    pub const TX_TOO_BIG: PortReason = PortReason {
        name: "tx_too_big",
        describe: "longer than the interface sends (its MTU + 18): dropped before the TX ring",
    };
    pub const LOST_ON_CLOSE: PortReason = PortReason {
        name: "lost_on_close",
        describe: "held by the socket when it closed (received and unread, or never sent)",
    };
}

/// An interface attached to xdpgraph: its XDP program, its queues' counters, its TAP mirror.
pub struct IfaceCtl {
    name: String,
    ifindex: u32,
    prog: Mutex<XdpProgram>,
    /// Name of the TAP interface that carries the `upper` hook to the host.
    pub tap_name: Option<String>,
    queues: Mutex<Vec<Arc<QueueStats>>>,
    up: AtomicBool,
    promisc_before: bool,
    /// For the link checks (one socket for the interface's life, not one per ioctl).
    link: Mutex<IfSocket>,
    /// Frames the fast path redirected here that the kernel refused (added by the
    /// management thread's `FastPath::flush`).
    pub fast_path_refused: std::sync::atomic::AtomicU64,
    /// Frames the fast path redirected here that the kernel dropped because the ring was full.
    pub fast_path_ring_full: std::sync::atomic::AtomicU64,
    /// The interface's MTU as last read (attach, then every link check).
    mtu: std::sync::atomic::AtomicU32,
}

/// Bytes a frame may have beyond the MTU: an Ethernet header and one VLAN tag (what Linux
/// forwards to a device, `is_skb_forwardable`).
pub const FRAME_OVER_MTU: u32 = 18;

impl IfaceCtl {
    /// Attaches the XDP program to `ifname` on behalf of `owner` (steering off: the host
    /// keeps the interface).
    /// `fast`: the fast path's shared maps, when it is on.
    pub fn attach(
        ifname: &str,
        mode: XdpMode,
        owner: &Owner,
        fast: Option<&super::fastpath::FastPathMaps>,
    ) -> Result<IfaceCtl, AfxdpError> {
        let link = IfSocket::open().map_err(io_ctx(format!("{ifname}: a socket for ioctls")))?;
        let prog = XdpProgram::attach_shared(ifname, mode, owner, fast)?;
        let mtu = link
            .mtu(ifname)
            .map_err(io_ctx(format!("{ifname}: reading MTU")))?;
        let promisc_before = netdev::flags(ifname)
            .map(|f| f & libc::IFF_PROMISC != 0)
            .unwrap_or(false);
        Ok(IfaceCtl {
            name: ifname.to_string(),
            ifindex: prog.ifindex(),
            prog: Mutex::new(prog),
            tap_name: None,
            queues: Mutex::new(Vec::new()),
            up: AtomicBool::new(true),
            promisc_before,
            link: Mutex::new(link),
            fast_path_refused: std::sync::atomic::AtomicU64::new(0),
            fast_path_ring_full: std::sync::atomic::AtomicU64::new(0),
            mtu: mtu.into(),
        })
    }

    pub fn program(&self) -> std::sync::MutexGuard<'_, XdpProgram> {
        self.prog.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Detaches the XDP program now (the interface goes back to the kernel).
    pub fn detach_program(&self) {
        let mut p = self.program();
        let _ = p.set_steering(false);
        p.detach();
    }

    /// Records the counters of a queue socket opened by a worker.
    pub fn add_queue(&self, q: Arc<QueueStats>) {
        q.tx_max_len.store(self.mtu() + FRAME_OVER_MTU, Relaxed);
        self.queues.lock().unwrap().push(q);
    }

    /// The interface's MTU as last read.
    pub fn mtu(&self) -> u32 {
        self.mtu.load(Relaxed)
    }

    /// Re-reads the MTU; when it changed, the queues send frames up to the new one, and the
    /// TAP mirror follows. Returns (old, new) on a change.
    pub fn refresh_mtu(&self) -> Option<(u32, u32)> {
        let now = {
            let link = self.link.lock().unwrap_or_else(|e| e.into_inner());
            link.mtu(&self.name).ok()?
        };
        let old = self.mtu.swap(now, Relaxed);
        if old == now {
            return None;
        }
        for q in self.queue_stats() {
            q.tx_max_len.store(now + FRAME_OVER_MTU, Relaxed);
        }
        if let Some(t) = &self.tap_name {
            let _ = netdev::set_mtu(t, now);
        }
        Some((old, now))
    }

    pub fn queue_stats(&self) -> Vec<Arc<QueueStats>> {
        self.queues.lock().unwrap().clone()
    }

    /// Re-reads whether the interface still exists and can carry frames: same index,
    /// administratively up (IFF_UP) and operationally up (IFF_RUNNING: carrier on; a veth
    /// whose peer is down has none). Returns the new state.
    pub fn refresh(&self) -> bool {
        let link = self.link.lock().unwrap_or_else(|e| e.into_inner());
        let want = libc::IFF_UP | libc::IFF_RUNNING;
        let up = link.ifindex(&self.name).ok() == Some(self.ifindex)
            && link.flags(&self.name).is_ok_and(|f| f & want == want);
        self.up.store(up, Relaxed);
        up
    }

    /// Every frame this interface lost outside the graph, read now: the XDP program's
    /// (per interface), each socket's kernel counters and ours (per queue). Disjoint: the
    /// kernel counts a fill-ring-empty drop in `rx_dropped` too, so that count is shown as
    /// `rx_dropped`'s detail, not as a drop of its own.
    pub fn drops(&self) -> Vec<PortDrop> {
        let mut v = Vec::new();
        let mut add = |queue, reason: PortReason, count, detail| {
            if count > 0 {
                v.push(PortDrop {
                    queue,
                    reason,
                    count,
                    detail,
                });
            }
        };
        add(
            None,
            reason::XDP_NO_SOCKET,
            self.program().stats().no_socket,
            None,
        );
        add(
            None,
            reason::FAST_PATH_REFUSED,
            self.fast_path_refused.load(Relaxed),
            None,
        );
        add(
            None,
            reason::FAST_PATH_RING_FULL,
            self.fast_path_ring_full.load(Relaxed),
            None,
        );
        let queues = self.queue_stats();
        read_kernel_stats(&queues, STATS_WAIT);
        for q in queues {
            let k = q.kernel();
            let qn = Some(q.queue);
            let fill = k.rx_fill_ring_empty_descs.min(k.rx_dropped);
            let detail = (fill > 0).then_some(("fill_ring_empty", fill));
            add(qn, reason::RX_DROPPED, k.rx_dropped, detail);
            add(qn, reason::RX_RING_FULL, k.rx_ring_full, None);
            add(qn, reason::RX_INVALID, k.rx_invalid_descs, None);
            add(qn, reason::TX_INVALID, k.tx_invalid_descs, None);
            add(qn, reason::TX_NOT_SENT, q.tx_not_sent.load(Relaxed), None);
            add(qn, reason::RX_BAD_CHAIN, q.rx_bad_chain.load(Relaxed), None);
            add(qn, reason::TX_TOO_BIG, q.tx_too_big.load(Relaxed), None);
            add(
                qn,
                reason::LOST_ON_CLOSE,
                q.lost_on_close.load(Relaxed),
                None,
            );
        }
        v
    }
}

impl Drop for IfaceCtl {
    fn drop(&mut self) {
        if !self.promisc_before {
            let _ = netdev::set_flags(&self.name, libc::IFF_PROMISC, false);
        }
    }
}

fn sysfs_counter(ifname: &str, name: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/statistics/{name}"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

impl PortCtl for IfaceCtl {
    fn ifname(&self) -> String {
        self.name.clone()
    }
    fn ifindex(&self) -> u32 {
        self.ifindex
    }
    fn mac(&self) -> MacAddr {
        netdev::mac(&self.name).unwrap_or_default()
    }
    fn set_mac(&self, mac: MacAddr) -> io::Result<()> {
        netdev::set_mac(&self.name, mac)?;
        if let Some(t) = &self.tap_name {
            let _ = netdev::set_mac(t, mac);
        }
        Ok(())
    }
    fn promisc(&self) -> bool {
        netdev::flags(&self.name)
            .map(|f| f & libc::IFF_PROMISC != 0)
            .unwrap_or(false)
    }
    fn set_promisc(&self, on: bool) -> io::Result<()> {
        netdev::set_flags(&self.name, libc::IFF_PROMISC, on)
    }
    fn add_multi(&self, mac: MacAddr) -> io::Result<()> {
        netdev::multicast(&self.name, mac, true)
    }
    fn del_multi(&self, mac: MacAddr) -> io::Result<()> {
        netdev::multicast(&self.name, mac, false)
    }
    fn set_steering(&self, to_graph: bool) -> io::Result<()> {
        self.program()
            .set_steering(to_graph)
            .map_err(io::Error::other)
    }
    fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<(&'static str, u64)> = [
            "rx_packets",
            "tx_packets",
            "rx_bytes",
            "tx_bytes",
            "rx_dropped",
            "tx_dropped",
            "rx_errors",
            "tx_errors",
        ]
        .iter()
        .map(|n| (*n, sysfs_counter(&self.name, n)))
        .collect();
        let p = self.program().stats();
        v.push(("xdp_pass", p.pass));
        v.push(("xdp_redirect", p.redirect));
        v.push(("xdp_no_socket", p.no_socket));
        // the sockets' drops, summed over the queues (prefixed: rx_dropped above is the
        // interface's own)
        let mut k = [0u64; 9];
        let queues = self.queue_stats();
        read_kernel_stats(&queues, STATS_WAIT);
        for q in queues {
            let s = q.kernel();
            let add = [
                s.rx_dropped,
                s.rx_ring_full,
                s.rx_invalid_descs,
                s.tx_invalid_descs,
                q.tx_not_sent.load(Relaxed),
                q.lost_on_close.load(Relaxed),
                s.rx_fill_ring_empty_descs,
                q.rx_bad_chain.load(Relaxed),
                q.tx_too_big.load(Relaxed),
            ];
            k.iter_mut().zip(add).for_each(|(a, b)| *a += b);
        }
        let names = [
            "xsk_rx_dropped",
            "xsk_rx_ring_full",
            "xsk_rx_invalid_descs",
            "xsk_tx_invalid_descs",
            "xsk_tx_not_sent",
            "xsk_lost_on_close",
            "xsk_fill_ring_empty",
            "xsk_rx_bad_chain",
            "xsk_tx_too_big",
        ];
        v.extend(names.into_iter().zip(k));
        v
    }
}
