//! Per-worker counters, summed on read.
//!
//! Each worker writes only its own cache-line-aligned block, with a plain load and store (one
//! writer per cell: no atomic read-modify-write, no shared line written per frame). Readers sum
//! the blocks. Clearing never races a worker: it records the current sums as a base that reads
//! subtract (the management thread owns the base).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[repr(align(64))]
struct Line([AtomicU64; 8]);

impl Line {
    fn new() -> Line {
        Line(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// `n` counters for each of `workers` workers.
pub struct PerWorker {
    n: usize,
    lines_per_worker: usize,
    workers: usize,
    lines: Box<[Line]>,
    base: Box<[AtomicU64]>,
    /// Counts of work done outside the workers (the kernel fast path), added by the
    /// management thread.
    offloaded: Box<[AtomicU64]>,
}

impl std::fmt::Debug for PerWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.totals()).finish()
    }
}

impl PerWorker {
    pub fn new(workers: usize, n: usize) -> PerWorker {
        let lines_per_worker = n.div_ceil(8).max(1);
        let workers = workers.max(1);
        PerWorker {
            n,
            lines_per_worker,
            workers,
            lines: (0..workers * lines_per_worker)
                .map(|_| Line::new())
                .collect(),
            base: (0..n).map(|_| AtomicU64::new(0)).collect(),
            offloaded: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    #[inline]
    fn cell(&self, worker: usize, i: usize) -> &AtomicU64 {
        debug_assert!(worker < self.workers && i < self.n);
        &self.lines[worker * self.lines_per_worker + i / 8].0[i % 8]
    }

    /// Adds `v` to counter `i` of `worker`. Only that worker's thread may call this.
    #[inline]
    pub fn add(&self, worker: usize, i: usize, v: u64) {
        let c = self.cell(worker, i);
        c.store(c.load(Relaxed).wrapping_add(v), Relaxed);
    }

    /// Sum over workers, minus the base recorded by the last clear.
    pub fn get(&self, i: usize) -> u64 {
        self.raw(i).wrapping_sub(self.base[i].load(Relaxed))
    }

    fn raw(&self, i: usize) -> u64 {
        (0..self.workers)
            .map(|w| self.cell(w, i).load(Relaxed))
            .fold(self.offloaded[i].load(Relaxed), u64::wrapping_add)
    }

    /// Adds `v` to counter `i` for work done outside the workers (the kernel fast path): read
    /// and cleared like the workers' counts.
    pub fn add_offloaded(&self, i: usize, v: u64) {
        self.offloaded[i].fetch_add(v, Relaxed);
    }

    /// Sum over workers of every counter, never cleared (for accounting).
    pub fn lifetime(&self, i: usize) -> u64 {
        self.raw(i)
    }

    pub fn totals(&self) -> Vec<u64> {
        (0..self.n).map(|i| self.get(i)).collect()
    }

    /// Makes subsequent reads start from zero.
    pub fn clear(&self) {
        for i in 0..self.n {
            self.base[i].store(self.raw(i), Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sums_across_workers_and_clears() {
        let c = PerWorker::new(3, 10);
        c.add(0, 9, 5);
        c.add(2, 9, 7);
        c.add(1, 0, 1);
        assert_eq!(c.get(9), 12);
        assert_eq!(c.totals()[0], 1);
        c.clear();
        assert_eq!(c.get(9), 0);
        c.add(1, 9, 2);
        assert_eq!(c.get(9), 2);
        assert_eq!(c.lifetime(9), 14);
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        // The property netgraph's non-atomic per-hook counters lacked: one writer per cell.
        let c = Arc::new(PerWorker::new(4, 2));
        let hs: Vec<_> = (0..4)
            .map(|w| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..if cfg!(miri) { 1_000 } else { 100_000 } {
                        c.add(w, 1, 1);
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(c.get(1), if cfg!(miri) { 4_000 } else { 400_000 });
    }
}
