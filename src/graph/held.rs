//! Frames a node holds on a worker to send later (a pipe's delay line, a car's shaping queue),
//! and the worker's list of nodes to call back. See "Held frames" in `worker.rs`.
//!
//! A frame belongs to the worker that received it (its chunk is in that worker's pool), so a
//! node that holds frames keeps them in per-worker state the worker owns: a [`HeldFrames`]
//! value per (worker, node), made on the node's first use on that worker (the only
//! allocation), reached by the node through [`Cx::with_held`](super::Cx::with_held). The
//! worker keeps these in [`Held`], by the node's snapshot index, with the time the node asked
//! to be called back ([`Cx::wake_at`](super::Cx::wake_at), or what its
//! [`NodeType::poll`](super::NodeType::poll) returns).
//!
//! A node's held frames never outlive it on a worker: when the graph publishes an edit, a
//! worker holding frames for any node looks at each such node at once; the state of a node
//! gone from the topology (or dead) is freed into the worker's pool there, its frames counted
//! as `flushed` drops in the graph-wide counters of its type (the node's own counters went
//! with it). A worker that stops frees every node's held frames the same way.

use super::{gstat, DropReason, NodeId};
use crate::buf::Pool;
use crate::counters::PerWorker;
use std::any::Any;

/// A node's state on one worker, holding frames of that worker's pool.
pub trait HeldFrames: Any {
    /// Frees every frame held into `pool` (the node is gone, or the worker stops); returns
    /// how many.
    fn free_all(&mut self, pool: &mut Pool) -> u64;
}

/// One node's entry in a worker's [`Held`] list.
struct Entry {
    id: NodeId,
    /// The node's type's block of graph-wide drop counters.
    drop_base: usize,
    /// When to call the node's `poll` (graph ns); `u64::MAX`: not before an edit.
    due: u64,
    /// None while the node is using it (`Cx::with_held`).
    state: Option<Box<dyn HeldFrames>>,
}

/// A worker's nodes holding state, by snapshot index of the node.
#[derive(Default)]
pub(crate) struct Held {
    slots: Vec<Option<Entry>>,
    /// Entries in `slots`.
    count: usize,
    /// The earliest `due` of all entries (`u64::MAX`: none).
    pub(crate) next_due: u64,
    /// The graph's edit count when the entries were last looked at.
    pub(crate) seen_edits: u64,
}

impl Held {
    pub(crate) fn new() -> Held {
        Held {
            next_due: u64::MAX,
            ..Held::default()
        }
    }

    /// Whether any node holds state on this worker.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.count != 0
    }

    /// The state of node `id` at index `ix` (made by `make` if it has none), taken out of the
    /// list until [`Held::put`]. A stale entry of another node at that index is freed first.
    pub(crate) fn take<T: HeldFrames>(
        &mut self,
        ix: u32,
        (id, drop_base): (NodeId, usize),
        pool: &mut Pool,
        (stats, w): (&PerWorker, usize),
        make: impl FnOnce() -> T,
    ) -> Box<dyn HeldFrames> {
        let i = ix as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        if self.slots[i].as_ref().is_some_and(|e| e.id != id) {
            self.free_at(i, pool, stats, w);
        }
        let slot = &mut self.slots[i];
        if slot.is_none() {
            self.count += 1;
        }
        let e = slot.get_or_insert_with(|| Entry {
            id,
            drop_base,
            due: u64::MAX,
            state: None,
        });
        e.state.take().unwrap_or_else(|| Box::new(make()))
    }

    /// Gives back the state taken by [`Held::take`].
    pub(crate) fn put(&mut self, ix: u32, st: Box<dyn HeldFrames>) {
        let e = (self.slots.get_mut(ix as usize))
            .and_then(Option::as_mut)
            .expect("put after take");
        debug_assert!(e.state.is_none(), "held state taken twice");
        e.state = Some(st);
    }

    /// Asks for a call of node `ix`'s `poll` at `t` (the earlier of this and any earlier ask).
    pub(crate) fn wake_at(&mut self, ix: u32, t: u64) {
        if let Some(Some(e)) = self.slots.get_mut(ix as usize) {
            e.due = e.due.min(t);
            self.next_due = self.next_due.min(t);
        }
    }

    /// The entries to look at now: those due at `now`, or all of them when `all`. Their due
    /// times are reset (a node asks again from its `poll`).
    pub(crate) fn due_now(&mut self, now: u64, all: bool, out: &mut Vec<(u32, NodeId)>) {
        out.clear();
        for (i, e) in self.slots.iter_mut().enumerate() {
            if let Some(e) = e {
                if all || e.due <= now {
                    e.due = u64::MAX;
                    out.push((i as u32, e.id));
                }
            }
        }
        self.recompute();
    }

    /// The earliest due time, after entries changed.
    pub(crate) fn recompute(&mut self) {
        self.next_due = (self.slots.iter().flatten())
            .map(|e| e.due)
            .min()
            .unwrap_or(u64::MAX);
    }

    /// Frees the entry at `ix` (its node is gone), counting its frames `flushed` in its type's
    /// graph-wide counters.
    pub(crate) fn free_at(&mut self, i: usize, pool: &mut Pool, stats: &PerWorker, w: usize) {
        let Some(mut e) = self.slots.get_mut(i).and_then(Option::take) else {
            return;
        };
        self.count -= 1;
        let n = e.state.as_mut().map_or(0, |s| s.free_all(pool));
        if n > 0 {
            stats.add(
                w,
                gstat::DROPS + e.drop_base + DropReason::Flushed.index(),
                n,
            );
        }
    }

    /// Frees every entry (the worker stops).
    pub(crate) fn free_all(&mut self, pool: &mut Pool, stats: &PerWorker, w: usize) {
        for i in 0..self.slots.len() {
            self.free_at(i, pool, stats, w);
        }
        self.next_due = u64::MAX;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::Frame;

    /// Holds frames in a Vec.
    struct Bag(Vec<Frame>);

    impl HeldFrames for Bag {
        fn free_all(&mut self, pool: &mut Pool) -> u64 {
            let n = self.0.len() as u64;
            self.0.drain(..).for_each(|f| pool.free(f));
            n
        }
    }

    fn bag(
        h: &mut Held,
        ix: u32,
        id: NodeId,
        pool: &mut Pool,
        st: &PerWorker,
    ) -> Box<dyn HeldFrames> {
        h.take(ix, (id, 0), pool, (st, 0), || Bag(Vec::new()))
    }

    fn frames(b: &mut Box<dyn HeldFrames>) -> &mut Vec<Frame> {
        let any: &mut dyn Any = &mut **b;
        &mut any.downcast_mut::<Bag>().unwrap().0
    }

    #[test]
    fn entries_are_kept_called_back_in_time_and_freed_with_their_frames() {
        let mut pool = Pool::heap(64, 2048, 256);
        let stats = PerWorker::new(1, gstat::COUNT);
        let mut h = Held::new();
        assert!(!h.any());
        let mut b = bag(&mut h, 3, 7, &mut pool, &stats);
        frames(&mut b).push(pool.frame_from(&[1; 60]).unwrap());
        h.put(3, b);
        assert!(h.any());
        h.wake_at(3, 500);
        h.wake_at(3, 900);
        assert_eq!(h.next_due, 500, "the earlier ask wins");
        // Not due yet: nothing to call; due: called once, then not again until asked.
        let mut due = Vec::new();
        h.due_now(499, false, &mut due);
        assert!(due.is_empty());
        h.due_now(500, false, &mut due);
        assert_eq!(due, [(3, 7)]);
        assert_eq!(h.next_due, u64::MAX);
        h.due_now(10_000, false, &mut due);
        assert!(due.is_empty());
        // An edit looks at every entry.
        h.due_now(0, true, &mut due);
        assert_eq!(due, [(3, 7)]);
        // The state comes back with its frames.
        let mut b = bag(&mut h, 3, 7, &mut pool, &stats);
        assert_eq!(frames(&mut b).len(), 1);
        h.put(3, b);
        // Another node at the same index: the stale state is freed and counted first.
        let b = bag(&mut h, 3, 8, &mut pool, &stats);
        h.put(3, b);
        assert_eq!(pool.available(), pool.capacity());
        assert_eq!(stats.get(gstat::DROPS + DropReason::Flushed.index()), 1);
        h.free_all(&mut pool, &stats, 0);
        assert!(!h.any());
    }
}
