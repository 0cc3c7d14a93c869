//! [`IfaceCtl`]: the control half of an attached interface.

use super::port::QueueStats;
use super::{AfxdpError, Owner, XdpMode, XdpProgram};
use crate::port::PortCtl;
use crate::sys::netdev;
use crate::wire::MacAddr;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

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
}

impl IfaceCtl {
    /// Attaches the XDP program to `ifname` on behalf of `owner` (steering off: the host
    /// keeps the interface).
    pub fn attach(ifname: &str, mode: XdpMode, owner: &Owner) -> Result<IfaceCtl, AfxdpError> {
        let prog = XdpProgram::attach_owned(ifname, mode, owner)?;
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
        self.queues.lock().unwrap().push(q);
    }

    pub fn queue_stats(&self) -> Vec<Arc<QueueStats>> {
        self.queues.lock().unwrap().clone()
    }

    /// Re-reads whether the interface still exists and is up; returns the new state.
    pub fn refresh(&self) -> bool {
        let up = netdev::ifindex(&self.name)
            .map(|i| i == self.ifindex)
            .unwrap_or(false)
            && netdev::flags(&self.name)
                .map(|f| f & libc::IFF_UP != 0)
                .unwrap_or(false);
        self.up.store(up, Relaxed);
        up
    }

    /// Frames the XDP program passed because their queue had no socket, and the sum of the
    /// socket drop counters: what the lab accounting adds to the graph's drops.
    pub fn kernel_drops(&self) -> Vec<(&'static str, u64)> {
        use std::sync::atomic::Ordering::Relaxed as R;
        let qs = self.queue_stats();
        let sum = |f: fn(&QueueStats) -> &std::sync::atomic::AtomicU64| {
            qs.iter().map(|q| f(q).load(R)).sum::<u64>()
        };
        // Disjoint counters only: rx_dropped already includes drops for an empty fill ring
        // (reported apart, in `counters`, as xsk_fill_ring_empty).
        vec![
            ("xdp_no_socket", self.program().stats().no_socket),
            ("xsk_rx_dropped", sum(|q| &q.rx_dropped)),
            ("xsk_rx_ring_full", sum(|q| &q.rx_ring_full)),
            ("xsk_rx_invalid_descs", sum(|q| &q.rx_invalid_descs)),
            ("xsk_tx_invalid_descs", sum(|q| &q.tx_invalid_descs)),
            ("xsk_lost_on_close", sum(|q| &q.lost_on_close)),
        ]
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
        v.extend(self.kernel_drops());
        let fill_empty = self
            .queue_stats()
            .iter()
            .map(|q| q.rx_fill_ring_empty.load(Relaxed))
            .sum();
        v.push(("xsk_fill_ring_empty", fill_empty));
        v
    }
}
