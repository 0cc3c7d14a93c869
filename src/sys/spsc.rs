//! A single-producer single-consumer ring of variable-length records in plain memory (the
//! packet capture's per-worker ring, `graph::capture`).
//!
//! The ring is a power-of-two array of 8-byte words. A record is
//!
//! ```text
//! word 0   byte length (low 32 bits) | the caller's tag (high 32 bits)
//! word 1…  ceil(length / 8) words of bytes (the last one's spare bytes are left as they were)
//! ```
//!
//! A record never wraps around the array's end: when one does not fit before the end, the
//! producer writes a one-word **skip** header there ([`SKIP`] as the length) and puts the record
//! at the array's start; the consumer, reading a skip header, goes to the start too. So the
//! producer's per-record work is one compare (room before its stopping point: the end of the
//! array or the end of the free space, whichever comes first), one header store and a copy of
//! the bytes: fixed-size moves for up to 64 bytes (two overlapping 8/16/32-byte moves), `memcpy`
//! beyond.
//!
//! Positions are absolute word counts (masked to index). The producer checks the free space
//! against the consumer's `tail` (Acquire), copies records into the free words, and publishes a
//! burst of records with one `head.store(Release)`; the consumer reads the published records in
//! order, handing each one's bytes to its caller in place, and gives their space back in steps
//! of a quarter of the ring (one `tail.store(Release)` each). A record that does not fit is not
//! written: the producer counts a **dropped** record and goes on (it never blocks).
//!
//! Why `unsafe` (and why here, in the unsafe layer): the words are plain memory so that a
//! 64-byte frame is copied by a few vector moves, not by one atomic store per word (with the
//! first version, of `AtomicU64` words, a capture cost the worker 186.6 instructions per
//! 64-byte frame; `scripts/bench-instructions.sh`). Soundness rests on two rules, both enforced
//! at run time rather than left to the callers: at most one [`Writer`] and one [`Ring::drain`]
//! at a time (each side claims a flag, a second claimant gets nothing), and each side touches
//! only its own words — the producer the free words between `head` and `tail + size`, the
//! consumer the published ones between `tail` and `head` — with `head`/`tail` handed over by
//! Release/Acquire, so no word is ever read and written at once.

use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64};

/// The length of a skip header: the rest of the array up to its end is unused.
pub const SKIP: u32 = u32::MAX;

/// The producer's side (written by the producer only).
struct Producer {
    head: AtomicU64,
    /// The consumer's tail as last read (refreshed only when a record seems not to fit).
    tail_seen: AtomicU64,
    /// Records that did not fit.
    dropped: AtomicU64,
    /// A [`Writer`] exists.
    claimed: AtomicBool,
}

/// The consumer's side.
struct Consumer {
    tail: AtomicU64,
    /// A [`Ring::drain`] is running.
    claimed: AtomicBool,
}

/// A single-producer single-consumer ring of variable-length records (see the module's
/// documentation).
pub struct Ring {
    words: Box<[UnsafeCell<u64>]>,
    mask: u64,
    prod: CachePadded<Producer>,
    cons: CachePadded<Consumer>,
}

// SAFETY: the words are shared between one producer and one consumer at a time (both claims
// are checked at run time), each touching only words the other cannot touch until a
// Release/Acquire pair on `head` or `tail` hands them over (the module's documentation).
unsafe impl Sync for Ring {}

impl Ring {
    /// A ring of `words` words (rounded up to a power of two, at least 64, at most 2^28 so that
    /// any record that fits has a length below [`SKIP`]).
    pub fn new(words: usize) -> Ring {
        let n = words.clamp(64, 1 << 28).next_power_of_two();
        Ring {
            words: (0..n).map(|_| UnsafeCell::new(0)).collect(),
            mask: n as u64 - 1,
            prod: CachePadded::new(Producer {
                head: AtomicU64::new(0),
                tail_seen: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                claimed: AtomicBool::new(false),
            }),
            cons: CachePadded::new(Consumer {
                tail: AtomicU64::new(0),
                claimed: AtomicBool::new(false),
            }),
        }
    }

    /// Size in words.
    pub fn words(&self) -> usize {
        self.words.len()
    }

    /// Records the producer could not write (the ring was full).
    pub fn dropped(&self) -> u64 {
        self.prod.dropped.load(Relaxed)
    }

    /// The producer's writer for a burst of records, or `None` while another writer exists.
    /// The head and the free space are read once, the consumer's tail at most once more (when
    /// a record seems not to fit), and the burst is published when the writer is dropped.
    #[inline]
    pub fn writer(&self) -> Option<Writer<'_>> {
        if self.prod.claimed.swap(true, Acquire) {
            return None;
        }
        let head = self.prod.head.load(Relaxed);
        let limit = self.prod.tail_seen.load(Relaxed) + self.words.len() as u64;
        Some(Writer {
            ring: self,
            base: self.base(),
            mask: self.mask,
            head,
            stop: limit.min((head | self.mask) + 1),
            limit,
            refreshed: false,
            dropped: 0,
        })
    }

    /// The first word.
    #[inline(always)]
    fn base(&self) -> *mut u64 {
        UnsafeCell::raw_get(self.words.as_ptr())
    }

    /// Consumer only: reads every record published now (no more: a busy producer cannot keep
    /// it here), in order, calling `f` with each one's tag and bytes (in place: they are given
    /// back to the producer after `f` returns). Returns how many it read (0 while another drain
    /// runs).
    pub fn drain(&self, mut f: impl FnMut(u32, &[u8])) -> usize {
        if self.cons.claimed.swap(true, Acquire) {
            return 0;
        }
        let end = self.prod.head.load(Acquire);
        let mut t = self.cons.tail.load(Relaxed);
        // the space goes back in steps of a quarter of the ring: the producer gets room while a
        // long drain runs, and the consumer's cache line is written a few times per ring only
        let step = self.words.len() as u64 / 4;
        let mut released = t;
        let mut n = 0;
        while t < end {
            let i = (t & self.mask) as usize;
            // SAFETY: words [t, end) were published by the producer (Acquire above) and it
            // writes none of them again until `tail` passes them; this is the only consumer.
            let w0 = unsafe { self.base().add(i).read() };
            let len = w0 as u32;
            if len == SKIP {
                t = (t | self.mask) + 1;
                continue;
            }
            let words = (len as usize).div_ceil(8);
            // SAFETY: as above, for the record's bytes, which lie inside the array (records
            // never wrap); the slice lives during this call of `f` only, before `tail` moves.
            let b = unsafe {
                std::slice::from_raw_parts(self.base().add(i + 1).cast::<u8>(), len as usize)
            };
            f((w0 >> 32) as u32, b);
            t += 1 + words as u64;
            n += 1;
            if t - released >= step {
                self.cons.tail.store(t, Release);
                released = t;
            }
        }
        self.cons.tail.store(t, Release);
        self.cons.claimed.store(false, Release);
        n
    }
}

/// Copies `len` bytes from `src` to `dst`: for up to 64 bytes with two overlapping fixed-size
/// moves (no call, no loop), with `memcpy` beyond.
///
/// # Safety
/// `src` is readable and `dst` writable for `len` bytes, and they do not overlap.
#[inline(always)]
unsafe fn copy_bytes(dst: *mut u8, src: *const u8, len: usize) {
    use std::ptr::copy_nonoverlapping as copy;
    /// Two moves of `N` bytes, at the start and at the end (overlapping when `len < 2N`: the
    /// second rewrites some of the first's bytes with the same values).
    ///
    /// # Safety
    /// As `copy_bytes`, with `N <= len`.
    #[inline(always)]
    unsafe fn two<const N: usize>(dst: *mut u8, src: *const u8, len: usize) {
        // SAFETY: both moves lie inside the `len` bytes (`N <= len`, the caller's contract),
        // and source and destination do not overlap.
        unsafe {
            copy(src, dst, N);
            copy(src.add(len - N), dst.add(len - N), N);
        }
    }
    // SAFETY: each branch moves only the `len` bytes (the caller's contract).
    unsafe {
        match len {
            65.. => copy(src, dst, len),
            32.. => two::<32>(dst, src, len),
            16.. => two::<16>(dst, src, len),
            8.. => two::<8>(dst, src, len),
            4.. => two::<4>(dst, src, len),
            _ => {
                for k in 0..len {
                    dst.add(k).write(src.add(k).read());
                }
            }
        }
    }
}

/// A burst of records into one [`Ring`] (its only producer while it lives): see
/// [`Ring::writer`].
pub struct Writer<'a> {
    ring: &'a Ring,
    base: *mut u64,
    mask: u64,
    /// Where the next record goes (published on drop).
    head: u64,
    /// Records end at or before this: the array's end or `limit`, whichever comes first.
    stop: u64,
    /// The consumer's tail as last read, plus the ring's size: records end at or before it.
    limit: u64,
    /// Whether the consumer's tail was read again in this burst.
    refreshed: bool,
    dropped: u64,
}

impl Writer<'_> {
    /// Writes a record of `bytes` with the caller's `tag`, or counts a dropped record when it
    /// does not fit. Never blocks.
    #[inline(always)]
    pub fn push(&mut self, tag: u32, bytes: &[u8]) -> bool {
        self.push2(tag, &[], bytes)
    }

    /// Writes a record of `head` then `rest` (`head`'s length at most 16) with the caller's
    /// `tag`, or counts a dropped record when it does not fit. Never blocks.
    #[inline(always)]
    pub fn push2(&mut self, tag: u32, head: &[u8], rest: &[u8]) -> bool {
        if self.put(tag, head, rest) {
            return true;
        }
        self.dropped += 1;
        false
    }

    /// Writes a record for each of `items`: `fast` gives an item's tag and bytes, or `None`
    /// for an item `slow` writes itself (through this writer). Once a record from `fast` does
    /// not fit, it and the items after it are dropped records: the ring is full for this burst,
    /// and the rest costs one addition, not a compare per item. The head stays in a register
    /// from item to item.
    #[inline(always)]
    pub fn push_each<'d, T>(
        &mut self,
        items: &[T],
        mut fast: impl FnMut(&T) -> Option<(u32, &'d [u8])>,
        mut slow: impl FnMut(&mut Self, &T),
    ) {
        let (mut head, mut stop) = (self.head, self.stop);
        for (k, it) in items.iter().enumerate() {
            let Some((tag, bytes)) = fast(it) else {
                self.head = head;
                slow(self, it);
                (head, stop) = (self.head, self.stop);
                continue;
            };
            let need = 1 + bytes.len().div_ceil(8) as u64;
            if head + need > stop {
                self.head = head;
                if !self.make_room(need) {
                    self.dropped += (items.len() - k) as u64;
                    return;
                }
                (head, stop) = (self.head, self.stop);
            }
            // SAFETY: as in `put`: words [head, head + need) lie before `stop`.
            unsafe { self.write_at(head, tag, &[], bytes) };
            head += need;
        }
        self.head = head;
    }

    /// [`Writer::push_each`] for items that all take the simple path: `f` gives each one's tag
    /// and bytes. Fewer instructions per record (no per-item choice of path).
    #[inline(always)]
    pub fn push_all<'d, T>(&mut self, items: &[T], mut f: impl FnMut(&T) -> (u32, &'d [u8])) {
        // (inlined, the never-taken slow path goes away)
        self.push_each(items, |it| Some(f(it)), |_, _| {})
    }

    /// [`Writer::push`] that counts nothing when the record does not fit (for records that
    /// are not the caller's data, such as a burst's timestamp).
    #[inline(always)]
    pub fn push_uncounted(&mut self, tag: u32, bytes: &[u8]) -> bool {
        self.put(tag, &[], bytes)
    }

    /// Counts `n` records the caller dropped itself.
    #[inline(always)]
    pub fn count_dropped(&mut self, n: u64) {
        self.dropped += n;
    }

    #[inline(always)]
    fn put(&mut self, tag: u32, head: &[u8], rest: &[u8]) -> bool {
        debug_assert!(head.len() <= 16);
        let len = head.len() + rest.len();
        let need = 1 + len.div_ceil(8) as u64;
        if self.head + need > self.stop && !self.make_room(need) {
            return false;
        }
        // SAFETY: words [head, head + need) lie before `stop` (checked, or made so).
        unsafe { self.write_at(self.head, tag, head, rest) };
        self.head += need;
        true
    }

    /// Writes a record of `head` then `rest` with `tag` at word `at`.
    ///
    /// # Safety
    /// The record's words, [at, at + 1 + ceil(len / 8)), end at or before `stop`.
    #[inline(always)]
    unsafe fn write_at(&mut self, at: u64, tag: u32, head: &[u8], rest: &[u8]) {
        let len = head.len() + rest.len();
        let i = (at & self.mask) as usize;
        // SAFETY: the record's words lie inside the array (`stop` is at or before its end,
        // and records never wrap) and are free (`stop` ≤ the consumer's tail + size, the tail
        // read with Acquire); this is the only writer (claimed in `Ring::writer`) and the
        // consumer reads none of them until the Release store of `head` on drop. `len` is
        // below `SKIP`: the record fits in the array, of at most 2^28 words.
        unsafe {
            let w = self.base.add(i);
            w.write(len as u64 | (tag as u64) << 32);
            let d = w.add(1).cast::<u8>();
            if !head.is_empty() {
                copy_bytes(d, head.as_ptr(), head.len());
            }
            copy_bytes(d.add(head.len()), rest.as_ptr(), rest.len());
        }
    }

    /// Makes room for a record of `need` words from `head` on, before `stop`: skips to the
    /// array's start when it does not fit before the end, reads the consumer's tail again
    /// (once per burst) when the free space seems too small. False when there is no room.
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, need: u64) -> bool {
        let size = self.mask + 1;
        if need > size {
            return false;
        }
        let end = (self.head | self.mask) + 1;
        let (at, skip) = match self.head + need > end {
            true => (end, true),
            false => (self.head, false),
        };
        if at + need > self.limit && !self.refreshed {
            // once per burst: a full ring then costs a compare per record, not a load of the
            // consumer's cache line
            self.refreshed = true;
            let t = self.ring.cons.tail.load(Acquire);
            self.ring.prod.tail_seen.store(t, Relaxed);
            self.limit = t + size;
        }
        if at + need > self.limit {
            return false;
        }
        if skip {
            // SAFETY: word `head` is inside the array (it is before `end`) and free (`end` ≤
            // `limit`, checked above); the only writer, unread until published.
            unsafe {
                self.base
                    .add((self.head & self.mask) as usize)
                    .write(SKIP as u64)
            };
            self.head = end;
        }
        self.stop = self.limit.min((self.head | self.mask) + 1);
        true
    }
}

impl Drop for Writer<'_> {
    /// Publishes the burst's records, counts its dropped ones and lets the next writer in.
    #[inline]
    fn drop(&mut self) {
        let prod = &self.ring.prod;
        prod.head.store(self.head, Release);
        if self.dropped > 0 {
            prod.dropped
                .store(prod.dropped.load(Relaxed) + self.dropped, Relaxed);
        }
        prod.claimed.store(false, Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(seed: u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (seed as usize * 31 + i * 7) as u8)
            .collect()
    }

    fn read_all(r: &Ring) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        r.drain(|tag, b| out.push((tag, b.to_vec())));
        out
    }

    #[test]
    fn exact_bytes_for_every_length_class() {
        let r = Ring::new(1024);
        for len in (0usize..=70).chain([100, 200, 1500]) {
            let data = bytes(len as u64, len);
            assert!(r.writer().unwrap().push(len as u32 + 1, &data));
            assert_eq!(read_all(&r), [(len as u32 + 1, data)], "{len}");
        }
        // a head, then the rest
        for (hl, rl) in [(16, 13), (16, 48), (12, 0), (5, 70)] {
            let (h, rest) = (bytes(1, hl), bytes(2, rl));
            assert!(r.writer().unwrap().push2(9, &h, &rest));
            assert_eq!(read_all(&r), [(9, [h, rest].concat())]);
        }
    }

    #[test]
    fn records_skip_to_the_start_instead_of_wrapping() {
        // 64 words; records of 1 + 8 = 9 words: seven fit before the end, the eighth skips
        // the last word and goes to the start
        let r = Ring::new(64);
        for round in 0..20u64 {
            let mut w = r.writer().unwrap();
            for i in 0..3 {
                let seed = round * 3 + i;
                assert!(w.push(seed as u32, &bytes(seed, 61)), "{seed}");
            }
            drop(w);
            let got = read_all(&r);
            assert_eq!(got.len(), 3);
            for (i, (tag, b)) in got.iter().enumerate() {
                let seed = round * 3 + i as u64;
                assert_eq!((*tag, b.clone()), (seed as u32, bytes(seed, 61)));
            }
        }
        assert_eq!(r.dropped(), 0);
        // a record that ends exactly at the array's end needs no skip
        let r = Ring::new(64);
        assert!(r.writer().unwrap().push(1, &bytes(1, 63 * 8)));
        assert!(read_all(&r).len() == 1);
        assert!(r.writer().unwrap().push(2, &bytes(2, 8)));
        assert_eq!(read_all(&r), [(2, bytes(2, 8))]);
    }

    #[test]
    fn push_each_stops_at_the_first_record_that_does_not_fit() {
        // 64 words; 61 bytes take 9 words, the slow item's 3 bytes 2
        let r = Ring::new(64);
        let data: Vec<Vec<u8>> = (0..20).map(|i| bytes(i, 61)).collect();
        let items: Vec<usize> = (0..20).collect();
        let mut w = r.writer().unwrap();
        w.push_each(
            &items,
            |&i| (i != 3).then(|| (i as u32, &data[i][..])),
            |w, &i| assert!(w.push(100 + i as u32, &[1, 2, 3])),
        );
        drop(w);
        assert_eq!(r.dropped(), 13, "the eighth record and the twelve after it");
        let got = read_all(&r);
        let tags: Vec<u32> = got.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, [0, 1, 2, 103, 4, 5, 6]);
        assert_eq!(got[4].1, data[4]);
        assert_eq!(got[3].1, [1, 2, 3]);
    }

    #[test]
    fn a_full_ring_drops_records_and_never_blocks() {
        let r = Ring::new(64);
        let mut w = r.writer().unwrap();
        let ok = (0..10).filter(|&i| w.push(0, &bytes(i, 64))).count();
        drop(w);
        assert_eq!(ok, 7, "64 / 9 = 7 records fit");
        assert_eq!(r.dropped(), 3);
        assert_eq!(read_all(&r).len(), 7);
        assert!(r.writer().unwrap().push(0, &bytes(99, 64)));
        // a record larger than the ring never fits
        assert!(!r.writer().unwrap().push(0, &bytes(1, 600)));
        assert_eq!(r.dropped(), 4);
        // uncounted records and the caller's own drops
        let mut w = r.writer().unwrap();
        while w.push_uncounted(0, &[]) {}
        w.count_dropped(1);
        drop(w);
        assert_eq!(r.dropped(), 5);
    }

    #[test]
    fn one_writer_and_one_drain_at_a_time() {
        let r = Ring::new(64);
        let w = r.writer().unwrap();
        assert!(r.writer().is_none(), "a second writer while one lives");
        drop(w);
        assert!(r.writer().is_some());
        r.writer().unwrap().push(0, &[1]);
        let n = r.drain(|_, _| assert_eq!(r.drain(|_, _| ()), 0, "a drain within a drain"));
        assert_eq!(n, 1);
    }

    /// A producer thread and a consumer thread; every record read is checked.
    #[test]
    fn producer_and_consumer_threads() {
        let r = std::sync::Arc::new(Ring::new(256));
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let n: u64 = if cfg!(miri) { 300 } else { 100_000 };
        let p = {
            let (r, done) = (r.clone(), done.clone());
            std::thread::spawn(move || {
                let mut sent = Vec::new();
                let mut i = 0;
                while i < n {
                    let mut w = r.writer().unwrap();
                    for _ in 0..4 {
                        let len = (i % 97) as usize;
                        if w.push(i as u32, &bytes(i, len)) {
                            sent.push(i as u32);
                        }
                        i += 1;
                    }
                }
                // (a flag, not JoinHandle::is_finished: that one is no Acquire/Release pair)
                done.store(true, Release);
                sent
            })
        };
        let mut got = Vec::new();
        loop {
            let finished = done.load(Acquire);
            r.drain(|tag, b| {
                let len = (tag % 97) as usize;
                assert_eq!(b, &bytes(tag as u64, len)[..]);
                got.push(tag);
            });
            if finished {
                break;
            }
            std::thread::yield_now();
        }
        let sent = p.join().unwrap();
        assert_eq!(got, sent, "every record written is read, in order, intact");
        assert_eq!(
            sent.len() as u64 + r.dropped(),
            n,
            "read + dropped = written"
        );
        assert!(!sent.is_empty());
    }
}
