//! The bridge's host table: a lock-free open-addressing hash map from MAC address to link.
//!
//! Workers look up and learn concurrently without locks: a lookup is a hash and a few atomic
//! loads; learning a new host claims an empty slot with one compare-and-swap; refreshing a
//! known host writes its `seen` time only when the second changes (the only shared write on
//! the known-host path). Entries are never moved. Removal (ageing, a link going away) marks a
//! slot as a tombstone. The management thread rebuilds the table into a fresh one (larger
//! when it fills up, to drop tombstones otherwise) and publishes it through the epoch; a host
//! learned into the old table during the rebuild is simply learned again.
//!
//! Source addresses come from the wire, so the slot a MAC lands in is keyed: each table draws
//! a random key when it is made (and a rebuilt table a new one), and the home slot is a
//! keyed multiply-shift hash (a universal family), so a sender that does not know the key
//! cannot aim addresses at one probe chain to make a real host unlearnable.

use crate::wire::MacAddr;
use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

const OCCUPIED: u64 = 1 << 63;
const TOMB: u64 = 1 << 62;
/// Slots probed before giving up (a lookup stops earlier, at the first empty slot).
pub const MAX_PROBE: usize = 64;

/// One host.
pub struct Entry {
    key: AtomicU64,
    /// `link id << 16 | slot` (see the bridge); 0 while being filled in.
    val: AtomicU64,
    learned: AtomicU32,
    seen: AtomicU32,
}

impl Entry {
    #[inline]
    pub fn val(&self) -> u64 {
        self.val.load(Acquire)
    }
    #[inline]
    pub fn set_val(&self, v: u64) {
        self.val.store(v, Release)
    }
    #[inline]
    pub fn learned(&self) -> u32 {
        self.learned.load(Relaxed)
    }
    #[inline]
    pub fn set_learned(&self, t: u32) {
        self.learned.store(t, Relaxed)
    }
    #[inline]
    pub fn seen(&self) -> u32 {
        self.seen.load(Relaxed)
    }
    /// Refreshes the last-seen time, writing only when it changed.
    #[inline]
    pub fn touch(&self, now: u32) {
        if self.seen.load(Relaxed) != now {
            self.seen.store(now, Relaxed);
        }
    }
}

/// A fixed-capacity table (power of two slots).
pub struct HostTable {
    mask: usize,
    shift: u32,
    /// The hash key: xored into the address, then an odd multiplier.
    key: (u64, u64),
    slots: Box<[Entry]>,
}

/// A live host as `gettable` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    pub mac: MacAddr,
    pub val: u64,
    pub learned: u32,
    pub seen: u32,
}

impl HostTable {
    /// An empty table of at least `capacity` slots with a fresh random key.
    pub fn new(capacity: usize) -> HostTable {
        let [a, b] = crate::sys::random::u64s::<2>();
        Self::with_key(capacity, (a, b))
    }

    /// As [`HostTable::new`] with a given key (tests; the multiplier is made odd).
    pub fn with_key(capacity: usize, key: (u64, u64)) -> HostTable {
        let cap = capacity.next_power_of_two().max(64);
        HostTable {
            mask: cap - 1,
            shift: 64 - cap.trailing_zeros(),
            key: (key.0, key.1 | 1),
            slots: (0..cap)
                .map(|_| Entry {
                    key: AtomicU64::new(0),
                    val: AtomicU64::new(0),
                    learned: AtomicU32::new(0),
                    seen: AtomicU32::new(0),
                })
                .collect(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn home(&self, mac: u64) -> usize {
        ((mac ^ self.key.0).wrapping_mul(self.key.1) >> self.shift) as usize
    }

    /// The entry for `mac` (a 48-bit address), if present.
    #[inline]
    pub fn get(&self, mac: u64) -> Option<&Entry> {
        let want = mac | OCCUPIED;
        let h = self.home(mac);
        for i in 0..MAX_PROBE.min(self.slots.len()) {
            let e = &self.slots[(h + i) & self.mask];
            let k = e.key.load(Acquire);
            if k == want {
                return Some(e);
            }
            if k == 0 {
                return None;
            }
        }
        None
    }

    /// Finds or creates the entry for `mac`. A new entry gets `val` and both times `now`.
    /// Returns (entry, created), or None when the probe window is full.
    pub fn insert(&self, mac: u64, val: u64, now: u32) -> Option<(&Entry, bool)> {
        let want = mac | OCCUPIED;
        let h = self.home(mac);
        for i in 0..MAX_PROBE.min(self.slots.len()) {
            let e = &self.slots[(h + i) & self.mask];
            let mut k = e.key.load(Acquire);
            if k == 0 {
                match e.key.compare_exchange(0, want, AcqRel, Acquire) {
                    Ok(_) => {
                        e.learned.store(now, Relaxed);
                        e.seen.store(now, Relaxed);
                        e.val.store(val, Release);
                        return Some((e, true));
                    }
                    Err(actual) => k = actual,
                }
            }
            if k == want {
                return Some((e, false));
            }
        }
        None
    }

    /// Removes every host whose value satisfies `pred`; returns how many.
    pub fn forget(&self, pred: impl Fn(u64) -> bool) -> usize {
        let mut n = 0;
        for e in self.slots.iter() {
            let k = e.key.load(Acquire);
            if k & OCCUPIED != 0
                && pred(e.val.load(Acquire))
                && e.key.compare_exchange(k, TOMB, AcqRel, Relaxed).is_ok()
            {
                n += 1;
            }
        }
        n
    }

    /// Removes hosts not seen for `max_age` seconds or more at time `now`.
    pub fn expire(&self, now: u32, max_age: u32) -> usize {
        let mut n = 0;
        for e in self.slots.iter() {
            let k = e.key.load(Acquire);
            if k & OCCUPIED != 0
                && now.wrapping_sub(e.seen.load(Relaxed)) >= max_age
                && e.key.compare_exchange(k, TOMB, AcqRel, Relaxed).is_ok()
            {
                n += 1;
            }
        }
        n
    }

    /// Live hosts.
    pub fn hosts(&self) -> impl Iterator<Item = Host> + '_ {
        self.slots.iter().filter_map(|e| {
            let k = e.key.load(Acquire);
            (k & OCCUPIED != 0).then(|| Host {
                mac: MacAddr::from_u64(k & !OCCUPIED),
                val: e.val.load(Acquire),
                learned: e.learned.load(Relaxed),
                seen: e.seen.load(Relaxed),
            })
        })
    }

    /// (live, tombstones).
    pub fn occupancy(&self) -> (usize, usize) {
        let mut live = 0;
        let mut tomb = 0;
        for e in self.slots.iter() {
            match e.key.load(Relaxed) {
                0 => {}
                TOMB => tomb += 1,
                _ => live += 1,
            }
        }
        (live, tomb)
    }

    /// A new table of `capacity` slots holding this table's live hosts for which `keep` holds.
    pub fn rebuilt(&self, capacity: usize, keep: impl Fn(&Host) -> bool) -> HostTable {
        let t = HostTable::new(capacity);
        for h in self.hosts().filter(|h| keep(h)) {
            if let Some((e, _)) = t.insert(h.mac.to_u64(), h.val, h.learned) {
                e.seen.store(h.seen, Relaxed);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_forget() {
        let t = HostTable::new(64);
        let (e, created) = t.insert(0x0200_0000_0001, 7, 5).unwrap();
        assert!(created);
        assert_eq!((e.val(), e.learned(), e.seen()), (7, 5, 5));
        let (_, created) = t.insert(0x0200_0000_0001, 9, 6).unwrap();
        assert!(!created, "second insert finds the first");
        assert_eq!(t.get(0x0200_0000_0001).unwrap().val(), 7);
        assert!(t.get(0x0200_0000_0002).is_none());
        assert_eq!(t.forget(|v| v == 7), 1);
        assert!(t.get(0x0200_0000_0001).is_none());
        assert_eq!(t.occupancy(), (0, 1));
    }

    #[test]
    fn lookups_pass_tombstones() {
        let t = HostTable::new(64);
        let macs: Vec<u64> = (1..=40).collect();
        for m in &macs {
            t.insert(*m, *m, 0).unwrap();
        }
        t.forget(|v| v % 2 == 0);
        for m in &macs {
            assert_eq!(t.get(*m).is_some(), m % 2 == 1, "{m}");
        }
    }

    #[test]
    fn expiry_and_rebuild() {
        let t = HostTable::new(128);
        for m in 1..=10u64 {
            t.insert(m, m, 0).unwrap().0.touch(m as u32);
        }
        assert_eq!(t.expire(10, 5), 5, "seen at 1..=5 are 5s or more old at 10");
        let r = t.rebuilt(256, |h| h.val != 10);
        assert_eq!(r.capacity(), 256);
        assert_eq!(r.occupancy(), (4, 0));
        assert_eq!(r.get(9).unwrap().seen(), 9);
    }

    #[test]
    fn full_window_is_reported() {
        let t = HostTable::new(64);
        let mut ok = 0;
        for m in 0..1000u64 {
            if t.insert(m + 1, 1, 0).is_some() {
                ok += 1;
            }
        }
        assert_eq!(ok, 64, "a 64-slot table holds 64 hosts, then refuses");
    }

    #[test]
    fn keys_differ_and_place_hosts_differently() {
        let (a, b) = (HostTable::new(1024), HostTable::new(1024));
        assert_ne!(a.key, b.key, "each table draws its own key");
        // with another key, the same addresses land in other slots
        let moved = (1..=64u64).filter(|m| a.home(*m) != b.home(*m)).count();
        assert!(moved > 32, "only {moved} of 64 homes moved");
    }

    #[test]
    fn addresses_aimed_at_one_chain_without_the_key_spread_out() {
        // An attacker who knows the old unkeyed hash (mac * K >> shift) picks addresses that
        // all share one home slot under it. Keyed, they spread: a real host still learns.
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let t = HostTable::new(1 << 14);
        let shift = 64 - 14;
        let aimed: Vec<u64> = (1..(1u64 << 40))
            .step_by(977)
            .map(|m| m | 0x0200_0000_0000)
            .filter(|m| m.wrapping_mul(K) >> shift == 0)
            .take(500)
            .collect();
        assert_eq!(aimed.len(), 500);
        for m in &aimed {
            t.insert(*m, 1, 0);
        }
        assert_eq!(t.occupancy().0, 500, "every aimed address was learned");
        assert!(
            t.insert(0x0200_dead_beef, 2, 0).is_some(),
            "a real host still learns"
        );
    }

    #[test]
    fn concurrent_learning_never_duplicates() {
        use std::sync::Arc;
        const HOSTS: u64 = if cfg!(miri) { 50 } else { 1000 };
        let t = Arc::new(HostTable::new(4096));
        let hs: Vec<_> = (0..4)
            .map(|w| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for m in 1..=HOSTS {
                        t.insert(m, w + 1, 0).unwrap();
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(t.occupancy(), (HOSTS as usize, 0));
    }
}
