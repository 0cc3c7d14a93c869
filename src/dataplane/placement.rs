//! Where the data plane's threads run: each worker pinned to its core; everything else (the
//! management thread, the control server and its clients' threads, the metrics server and its
//! connection threads, DPDK's control threads) on the cores that have no worker, when there
//! are such cores.
//!
//! The thread that starts the data plane is the management thread. It moves itself off the
//! workers' cores before it starts anything, so every thread it spawns afterwards inherits
//! that mask (DPDK's EAL computes its control threads' cores from it, too); the workers pin
//! themselves, and then run at nice [`WORKER_NICE`](super::WORKER_NICE), above anything else
//! that lands on their cores (processes we do not start). When every core has a worker there
//! is nowhere else to go: the service threads share the workers' cores at the same priority,
//! because a worker ranked above them waits for them when they hold the allocator's lock it
//! needs (docs/AFXDP.md, "Cores and priorities", has the measurements).

use crate::sys::cpu;

/// The management thread's placement, restored when the data plane stops.
pub(super) struct Placement {
    /// The thread that was moved, and its mask before.
    moved: Option<(libc::pid_t, Vec<usize>)>,
    /// The cores without a worker that the service threads run on (empty: all of them).
    pub service: Vec<usize>,
}

impl Placement {
    /// Moves the calling thread to the cores it may use that have no worker (if any).
    pub fn apply(workers: &[usize]) -> Placement {
        let before = cpu::current_affinity().unwrap_or_default();
        let service: Vec<usize> = (before.iter())
            .filter(|c| !workers.contains(c))
            .copied()
            .collect();
        if service.is_empty() {
            tracing::info!(
                ?workers,
                "every core has a worker: the other threads share their cores"
            );
            return Placement {
                moved: None,
                service,
            };
        }
        if let Err(e) = cpu::set_affinity(&service) {
            tracing::warn!(
                ?service,
                "cannot keep the management thread off the workers' cores: {e}"
            );
            return Placement {
                moved: None,
                service: Vec::new(),
            };
        }
        tracing::debug!(?service, "management and service threads run here");
        Placement {
            moved: Some((cpu::thread_id(), before)),
            service,
        }
    }

    /// Gives the management thread its mask back (when called on that thread).
    pub fn restore(&mut self) {
        if let Some((tid, before)) = self.moved.take() {
            if tid == cpu::thread_id() {
                let _ = cpu::set_affinity(&before);
            }
        }
    }
}
