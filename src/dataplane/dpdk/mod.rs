//! The DPDK backend (cargo feature `dpdk`): the same graph, nodes and ctl over DPDK ethdev
//! ports.
//!
//! * [`backend`]: [`DpdkBackend`] (starts the EAL, makes one frame area per worker, attaches
//!   every device found at start and those named later) and [`DpdkIface`], an attached device.
//! * [`eal`]: starting the EAL from `xdpgraph run --dpdk-eal "ARGS"` (with defaults that work
//!   without hugepages), once per process.
//! * [`port`]: [`port::DpdkPort`], a worker's queues on an ethdev, and [`port::DpdkCtl`], its
//!   settings and counters for the ether node.
//! * Frames: each worker's frame memory is a DPDK mempool laid over one memzone in 2368-byte
//!   chunks (3968 with `--dpdk-mbuf-size 3776`; [`crate::sys::dpdk::Area`]), so an mbuf and a frame descriptor convert by
//!   arithmetic and frames move through the graph without a copy. The same area is the
//!   worker's AF_XDP UMEM, so a DPDK port and an AF_XDP interface can be bridged in one graph,
//!   still without copies. Duplication (tee, flooding) copies into a fresh chunk, as with
//!   AF_XDP (see docs/DPDK.md for why not `rte_pktmbuf_clone`).
//! * Jumbo frames: an mbuf chain and a chained frame (`crate::buf`'s chains) convert in place
//!   too, each segment's link written at the start of its mbuf's buffer; every device starts
//!   with an MTU (`DataplaneConfig::dpdk_mtu`, `--dpdk-mtu`) checked against its driver's limits at attach, and a
//!   frame longer than MTU + 18 is dropped as `tx_too_big` (docs/DPDK.md, "Jumbo frames").
//!
//! Unsafe code lives in `crate::sys::dpdk` and the C shim; this module is safe.

pub mod backend;
pub mod eal;
pub mod port;

pub use crate::sys::dpdk::{DpdkError, RingPort};
pub use backend::{DpdkBackend, DpdkIface};
pub use eal::EalArgs;

use crate::buf::ChunkSource;
use crate::dataplane::BackendError;
use crate::errno::Errno;
use crate::sys::dpdk::Area;
use std::sync::Arc;

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

/// DPDK failures are device or EAL errors.
impl BackendError for DpdkError {
    fn errno(&self) -> Errno {
        Errno::EIO
    }
}
