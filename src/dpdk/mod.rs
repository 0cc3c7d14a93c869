//! The DPDK backend (cargo feature `dpdk`): the same graph, nodes and ctl over DPDK ethdev
//! ports.
//!
//! * [`eal`]: starting the EAL from `xdpgraph run --dpdk-eal "ARGS"` (with defaults that work
//!   without hugepages), once per process.
//! * [`port`]: [`port::DpdkPort`], a worker's queues on an ethdev, and [`port::DpdkCtl`], its
//!   settings and counters for the ether node.
//! * Frames: each worker's frame pool is a DPDK mempool laid over one memzone in 4096-byte
//!   chunks ([`crate::sys::dpdk::Area`]), so an mbuf and a frame descriptor convert by
//!   arithmetic and frames move through the graph without a copy. The same area is the
//!   worker's AF_XDP UMEM, so a DPDK port and an AF_XDP interface can be bridged in one graph,
//!   still without copies. Duplication (tee, flooding) copies into a fresh chunk, as with
//!   AF_XDP (see docs/DPDK.md for why not `rte_pktmbuf_clone`).
//!
//! Unsafe code lives in `crate::sys::dpdk` and the C shim; this module is safe.

pub mod eal;
pub mod port;

use crate::buf::ChunkSource;
use crate::sys::dpdk::Area;
use std::sync::Arc;

pub use crate::sys::dpdk::{DpdkError, RingPort};
pub use eal::{DpdkConfig, EalArgs};

/// A worker pool's [`ChunkSource`]: its area's mempool.
pub struct AreaSource(pub Arc<Area>);

impl ChunkSource for AreaSource {
    fn take(&mut self, out: &mut [u64]) -> usize {
        self.0.take(out)
    }
    fn give(&mut self, chunks: &[u64]) {
        self.0.give(chunks)
    }
}

/// Where every mbuf of a data plane's frame areas was at shutdown, once every device was
/// closed and every worker gone: all home, each exactly once, unless a driver kept some.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameCount {
    /// Chunks back in their mempools (counted once each).
    pub home: u64,
    /// Chunks the areas have.
    pub total: u64,
    /// Chunks found in a mempool twice (a double free: always a bug).
    pub double_freed: u64,
    /// Chunks a driver kept when its device closed (DPDK 22.11's af_xdp driver does not free
    /// the mbufs in its fill ring); reclaimed by the audit.
    pub kept_by_drivers: u64,
}
