//! Loom model of the publish/reclaim protocol of `xdpgraph::epoch`.
//!
//! Run: `RUSTFLAGS="--cfg crossbeam_loom" cargo test --release --features loom --test loom_epoch`
//! (see docs/TESTING.md). Loom explores every interleaving of the threads below (within its
//! preemption bound) and checks that:
//! * a reader pinned before a replacement keeps a valid view of the value it loaded, and sees
//!   either the old or the new value, never a freed one;
//! * each retired value is dropped exactly once, and only after the reader unpinned;
//! * reclamation hands values to the mailbox and the writer frees them.

#![cfg(crossbeam_loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use xdpgraph::epoch::{Epoch, EpochCell};

struct Val {
    n: usize,
    dead: AtomicBool,
    drops: Arc<AtomicUsize>,
}

impl Val {
    fn new(n: usize, drops: &Arc<AtomicUsize>) -> Val {
        Val {
            n,
            dead: AtomicBool::new(false),
            drops: drops.clone(),
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        assert!(!self.dead.swap(true, SeqCst), "dropped twice");
        self.drops.fetch_add(1, SeqCst);
    }
}

#[test]
fn reader_sees_old_or_new_never_freed() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        let epoch = Epoch::new();
        let writer = epoch.register();
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(EpochCell::new(&epoch, Val::new(0, &drops)));
        let (e2, c2) = (epoch.clone(), cell.clone());
        let reader = thread::spawn(move || {
            let p = e2.register();
            let g = p.pin();
            let v = c2.load(&g);
            assert!(v.n <= 1);
            // Still pinned: the value we hold has not been dropped, whatever the writer did.
            thread::yield_now();
            assert!(!v.dead.load(SeqCst), "value freed under a pinned reader");
            v.n
        });
        cell.replace_pinned(&epoch, Val::new(1, &drops), &writer.pin());
        epoch.reclaim();
        let seen = reader.join().unwrap();
        assert!(seen <= 1);
        // Once no reader is pinned the old value is reclaimed, exactly once.
        assert_eq!(epoch.quiesce_with(&writer, 4), 0);
        assert_eq!(drops.load(SeqCst), 1);
        drop(cell);
        assert_eq!(drops.load(SeqCst), 2);
    });
}

#[test]
fn two_readers_two_replacements() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(1);
    b.check(|| {
        let epoch = Epoch::new();
        let writer = epoch.register();
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(EpochCell::new(&epoch, Val::new(0, &drops)));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (e, c) = (epoch.clone(), cell.clone());
                thread::spawn(move || {
                    let p = e.register();
                    let g = p.pin();
                    let v = c.load(&g);
                    assert!(!v.dead.load(SeqCst));
                    v.n
                })
            })
            .collect();
        cell.replace_pinned(&epoch, Val::new(1, &drops), &writer.pin());
        cell.replace_pinned(&epoch, Val::new(2, &drops), &writer.pin());
        epoch.reclaim();
        for r in readers {
            assert!(r.join().unwrap() <= 2);
        }
        assert_eq!(epoch.quiesce_with(&writer, 4), 0);
        assert_eq!(drops.load(SeqCst), 2);
    });
}
