//! Ports: where frames enter and leave the graph.
//!
//! A port has two halves:
//! * [`Port`], owned by one worker: bursts in and out of one queue, on the worker's [`Pool`]
//!   (for AF_XDP the pool is the worker's UMEM, so frames move as descriptors, never copied).
//!   A port may have one `Port` per worker (one per RX/TX queue pair).
//! * [`PortCtl`], shared, used by the management thread: the interface's name, index, MAC,
//!   promiscuity, multicast memberships, link state and counters, and whether received frames
//!   are steered to the graph at all (an `ether` node's `lower`/`orphans` connected).
//!
//! These two traits are what the graph knows of the data plane; the backends
//! ([`crate::dataplane`]: AF_XDP, DPDK, in-memory) implement them.

use crate::buf::{Burst, Pool};
use crate::wire::MacAddr;
use std::any::Any;
use std::io;

/// A port's index in the graph (assigned by `Graph::attach_port`).
pub type PortId = u32;

/// The data half of a port: one queue, owned by one worker.
pub trait Port: Send + Any {
    fn id(&self) -> PortId;

    /// Appends received frames to `out` (at most `out.room()`), allocating from `pool`.
    fn rx_burst(&mut self, pool: &mut Pool, out: &mut Burst);

    /// Queues frames for transmission. Takes the frames it accepts out of `frames` (the pool
    /// gets them back once sent) and leaves those it refuses (ring full); the worker drops and
    /// counts what is left.
    fn tx_burst(&mut self, pool: &mut Pool, frames: &mut Burst);

    /// Frames the host stack sends out of this interface (for the ether node's `upper` hook).
    fn host_rx_burst(&mut self, _pool: &mut Pool, _out: &mut Burst) {}

    /// Frames to deliver to the host stack as if received (the ether node's `upper` hook).
    /// Leaves refused frames in `frames`.
    fn host_tx_burst(&mut self, _pool: &mut Pool, _frames: &mut Burst) {}

    /// Whether [`Port::forward`] may hand this port's frames to another port directly.
    fn can_forward(&self) -> bool {
        false
    }

    /// A direct cross-connect burst, for a port whose frames the graph would pass to port `to`
    /// unchanged (the worker checked that): receives a burst and hands it to `to`'s transmit
    /// queue without making frames of it (DPDK: mbufs from one device to the other, as
    /// testpmd's io forwarding). `None`, having received nothing, when it cannot reach `to`
    /// that way. When the burst holds a frame the graph must see after all, nothing is handed
    /// on: the frames are appended to `out` (which must be empty) and the counts are zero.
    fn forward(&mut self, _to: &mut dyn Port, _out: &mut Burst) -> Option<Forwarded> {
        None
    }

    /// Once per poll: completions, fill ring, wake-ups.
    fn maintain(&mut self, _pool: &mut Pool) {}

    /// Before removal: return every frame the port holds to `pool`.
    fn detach(&mut self, _pool: &mut Pool) {}

    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// What one direct cross-connect burst ([`Port::forward`]) handed on.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Forwarded {
    /// Frames received and handed on.
    pub frames: u64,
    /// Their octets.
    pub octets: u64,
    /// Of those, the frames the other port took; the rest were dropped (its TX ring full).
    pub sent: u64,
}

/// The control half of a port, used by its ether node's messages.
pub trait PortCtl: Send + Sync {
    fn ifname(&self) -> String;
    fn ifindex(&self) -> u32;
    fn mac(&self) -> MacAddr;
    fn set_mac(&self, mac: MacAddr) -> io::Result<()>;
    fn promisc(&self) -> bool;
    fn set_promisc(&self, on: bool) -> io::Result<()>;
    fn add_multi(&self, mac: MacAddr) -> io::Result<()>;
    fn del_multi(&self, mac: MacAddr) -> io::Result<()>;
    /// Steer received frames to the graph (`true`) or leave them to the host stack.
    fn set_steering(&self, to_graph: bool) -> io::Result<()>;
    /// Whether the interface exists and is up.
    fn is_up(&self) -> bool;
    /// Interface counters, by name.
    fn counters(&self) -> Vec<(&'static str, u64)>;
}

/// Driver-level counters of an interface, or of one of its queues: what the kernel or the
/// driver counted beside the graph (AF_XDP: the sockets' `XDP_STATISTICS` and ours; DPDK:
/// `rte_eth_stats`), read when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverStats {
    /// The RX queue, or None for the interface as a whole.
    pub queue: Option<u32>,
    pub counters: Vec<(&'static str, u64)>,
}

/// Why a port lost frames outside the graph: a name (snake_case, as `ctl errors` prints it)
/// and a one-line explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortReason {
    pub name: &'static str,
    pub describe: &'static str,
}

/// Frames a port (one of its queues, or the interface as a whole) lost outside the graph: in
/// the kernel, the driver or the XDP program. Counts of different reasons are disjoint: their
/// sum is what the port lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortDrop {
    /// The RX queue (its socket), or None for the interface as a whole.
    pub queue: Option<u32>,
    pub reason: PortReason,
    pub count: u64,
    /// How the kernel explains (part of) `count`, not an extra drop: e.g. ("fill_ring_empty",
    /// n) for an AF_XDP socket's `rx_dropped`.
    pub detail: Option<(&'static str, u64)>,
}

/// Every frame a port lost outside the graph, by queue and reason (only non-zero counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortDrops {
    /// The interface's name (also its ether node's).
    pub port: String,
    pub drops: Vec<PortDrop>,
    /// Its driver-level counters (per queue and for the interface).
    pub stats: Vec<DriverStats>,
}

impl PortDrops {
    /// Every frame lost (the sum of the disjoint counts).
    pub fn total(&self) -> u64 {
        self.drops.iter().map(|d| d.count).sum()
    }
}
