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

    /// Once per poll: completions, fill ring, wake-ups.
    fn maintain(&mut self, _pool: &mut Pool) {}

    /// Before removal: return every frame the port holds to `pool`.
    fn detach(&mut self, _pool: &mut Pool) {}

    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
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
