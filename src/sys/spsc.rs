//! A single-producer single-consumer ring of variable-length records in plain memory, copied
//! in and out with `memcpy` (the packet capture's per-worker ring, `graph::capture`).
//!
//! The ring is a power-of-two array of 8-byte words. A record is
//!
//! ```text
//! word 0   byte length (low 32 bits) | the caller's tag (high 32 bits)
//! word 1   the caller's word a
//! word 2   the caller's word b
//! word 3…  ceil(length / 8) words of bytes, the last one zero-padded
//! ```
//!
//! Positions are absolute word counts (masked to index), so a record may wrap around the
//! array's end. The producer checks the free space against the consumer's `tail` (Acquire),
//! copies the record into the free words, and publishes a burst of records with one
//! `head.store(Release)`; the consumer mirrors it. A record that does not fit is not written:
//! the producer counts a **dropped** record and goes on (it never blocks).
//!
//! Why `unsafe` (and why here, in the unsafe layer): the words are plain memory so that a
//! 64-byte frame is copied by a few vector moves, not by one atomic store per word (with the
//! first version, of `AtomicU64` words, a capture cost the worker 186.6 instructions per
//! 64-byte frame; with this one 93.8, all of it counted — `scripts/bench-instructions.sh`). Soundness rests on two rules, both enforced at run time
//! rather than left to the callers: at most one [`Writer`] and one [`Ring::drain`] at a time
//! (each side claims a flag, a second claimant gets nothing), and each side touches only its
//! own words — the producer the free words between `head` and `tail + size`, the consumer the
//! published ones between `tail` and `head` — with `head`/`tail` handed over by
//! Release/Acquire, so no word is ever read and written at once.

use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64};

/// Words of a record before its bytes.
pub const HEADER_WORDS: u64 = 3;

/// A record's header as the consumer reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Bytes of the record.
    pub len: u32,
    pub tag: u32,
    pub a: u64,
    pub b: u64,
}

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
    /// A ring of `words` words (rounded up to a power of two, at least 64).
    pub fn new(words: usize) -> Ring {
        let n = words.max(64).next_power_of_two();
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
        Some(Writer {
            ring: self,
            head: self.prod.head.load(Relaxed),
            limit: self.prod.tail_seen.load(Relaxed) + self.words.len() as u64,
            refreshed: false,
            dropped: 0,
        })
    }

    /// The first byte of the words.
    #[inline(always)]
    fn base(&self) -> *mut u8 {
        UnsafeCell::raw_get(self.words.as_ptr()).cast::<u8>()
    }

    /// Consumer only: reads every record published now (no more: a busy producer cannot keep
    /// it here), appending each one's bytes to `bytes` and calling `f` with its header and the
    /// offset of its bytes. Returns how many it read (0 while another drain runs).
    pub fn drain(&self, bytes: &mut Vec<u8>, mut f: impl FnMut(Meta, usize)) -> usize {
        if self.cons.claimed.swap(true, Acquire) {
            return 0;
        }
        let end = self.prod.head.load(Acquire);
        let mut t = self.cons.tail.load(Relaxed);
        let mut n = 0;
        while t < end {
            // SAFETY: words [t, end) were published by the producer (Acquire above) and it
            // writes none of them again until `tail` passes them; this is the only consumer.
            let (w0, a, b) = unsafe { (self.get(t), self.get(t + 1), self.get(t + 2)) };
            let len = w0 as u32;
            let off = bytes.len();
            // SAFETY: as above, for the record's bytes.
            unsafe { self.copy_out(t + HEADER_WORDS, len as usize, bytes) };
            t += HEADER_WORDS + (len as u64).div_ceil(8);
            n += 1;
            let tag = (w0 >> 32) as u32;
            f(Meta { len, tag, a, b }, off);
        }
        self.cons.tail.store(t, Release);
        self.cons.claimed.store(false, Release);
        n
    }

    /// # Safety
    /// Word `p` is not being written (the consumer's published words).
    #[inline(always)]
    unsafe fn get(&self, p: u64) -> u64 {
        // SAFETY: the index is masked into the array; the caller rules out a writer.
        unsafe { *self.words[(p & self.mask) as usize].get() }
    }

    /// # Safety
    /// Word `p` is the producer's (free) and nobody reads it.
    #[inline(always)]
    unsafe fn put(&self, p: u64, v: u64) {
        // SAFETY: the index is masked into the array; the caller rules out a reader.
        unsafe { *self.words[(p & self.mask) as usize].get() = v }
    }

    /// Writes a record's header words from word `p` on.
    ///
    /// # Safety
    /// As [`Ring::put`], for the three words.
    #[inline(always)]
    unsafe fn put_header(&self, p: u64, hdr: [u64; HEADER_WORDS as usize]) {
        let i = (p & self.mask) as usize;
        if i + hdr.len() <= self.words.len() {
            // SAFETY: the three words lie inside the array (checked); the caller rules out a
            // reader. One check for the three (the usual case: no wrap).
            unsafe {
                let w = UnsafeCell::raw_get(self.words.as_ptr().add(i));
                w.write(hdr[0]);
                w.add(1).write(hdr[1]);
                w.add(2).write(hdr[2]);
            }
        } else {
            for (k, v) in hdr.into_iter().enumerate() {
                // SAFETY: the caller's contract, word by word.
                unsafe { self.put(p + k as u64, v) };
            }
        }
    }

    /// The byte ranges of the `len` bytes from word `p` on: before and after the array's end.
    #[inline(always)]
    fn spans(&self, p: u64, len: usize) -> ((usize, usize), (usize, usize)) {
        let start = ((p & self.mask) as usize) * 8;
        let room = self.words.len() * 8 - start;
        let first = len.min(room);
        ((start, first), (0, len - first))
    }

    /// Copies `b` into the words from `p` on (wrapping), zero-padding the last one; returns the
    /// words written.
    ///
    /// # Safety
    /// Those `ceil(b.len() / 8)` words (fewer than the array's) are the producer's, unread.
    #[inline(always)]
    unsafe fn copy_in(&self, p: u64, b: &[u8]) -> u64 {
        if b.is_empty() {
            return 0;
        }
        let words = b.len().div_ceil(8);
        let pad = words * 8 - b.len();
        let ((s1, n1), (s2, n2)) = self.spans(p, b.len());
        let base = self.base();
        // SAFETY: both spans lie inside the array (`spans`), do not overlap `b` (the ring owns
        // its memory) and are the producer's words (the caller's contract); the pad bytes are
        // the rest of the last word, inside the array too (words are whole).
        unsafe {
            std::ptr::copy_nonoverlapping(b.as_ptr(), base.add(s1), n1);
            let mut end = s1 + n1;
            if n2 > 0 {
                std::ptr::copy_nonoverlapping(b.as_ptr().add(n1), base.add(s2), n2);
                end = s2 + n2;
            }
            if pad > 0 {
                std::ptr::write_bytes(base.add(end), 0, pad);
            }
        }
        words as u64
    }

    /// Appends the `len` bytes from word `p` on (wrapping) to `out`.
    ///
    /// # Safety
    /// Those words are published and not being written.
    #[inline(always)]
    unsafe fn copy_out(&self, p: u64, len: usize, out: &mut Vec<u8>) {
        let ((s1, n1), (s2, n2)) = self.spans(p, len);
        let base = self.base();
        // SAFETY: both spans lie inside the array (`spans`); the caller rules out a writer, so
        // shared slices over them are sound while they live (this call only).
        unsafe {
            out.extend_from_slice(std::slice::from_raw_parts(base.add(s1), n1));
            out.extend_from_slice(std::slice::from_raw_parts(base.add(s2), n2));
        }
    }
}

/// A burst of records into one [`Ring`] (its only producer while it lives): see
/// [`Ring::writer`].
pub struct Writer<'a> {
    ring: &'a Ring,
    /// Where the next record goes (published on drop).
    head: u64,
    /// The consumer's tail as last read, plus the ring's size: records end at or before it.
    limit: u64,
    /// Whether the consumer's tail was read again in this burst.
    refreshed: bool,
    dropped: u64,
}

impl Writer<'_> {
    /// Writes a record of `head` then `rest` (`head`'s length a multiple of 8 unless `rest` is
    /// empty) with the caller's `tag`, `a` and `b`, or counts a dropped record when it does not
    /// fit. Never blocks.
    #[inline]
    pub fn push(&mut self, tag: u32, a: u64, b: u64, head: &[u8], rest: &[u8]) -> bool {
        assert!(head.len().is_multiple_of(8) || rest.is_empty());
        let ring = self.ring;
        let len = head.len() + rest.len();
        let need = HEADER_WORDS + len.div_ceil(8) as u64;
        let h = self.head;
        if h + need > self.limit {
            if !self.refreshed {
                // once per burst: a full ring then costs a compare per record, not a load of
                // the consumer's cache line
                self.refreshed = true;
                let t = ring.cons.tail.load(Acquire);
                ring.prod.tail_seen.store(t, Relaxed);
                self.limit = t + ring.words.len() as u64;
            }
            if h + need > self.limit || len > u32::MAX as usize {
                self.dropped += 1;
                return false;
            }
        }
        // SAFETY: words [h, h + need) are free (h + need ≤ the consumer's tail + size, the
        // tail read with Acquire) and this is the only writer (claimed in `Ring::writer`); the
        // consumer reads none of them until the Release store of `head` on drop.
        unsafe {
            ring.put_header(h, [len as u64 | (tag as u64) << 32, a, b]);
            let k = ring.copy_in(h + HEADER_WORDS, head);
            ring.copy_in(h + HEADER_WORDS + k, rest);
        }
        self.head = h + need;
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

    fn read_all(r: &Ring) -> Vec<(Meta, Vec<u8>)> {
        let (mut b, mut hs) = (Vec::new(), Vec::new());
        r.drain(&mut b, |h, off| hs.push((h, off)));
        let out = hs
            .iter()
            .map(|(h, off)| (*h, b[*off..*off + h.len as usize].to_vec()));
        out.collect()
    }

    #[test]
    fn exact_bytes_and_headers_with_padding() {
        let r = Ring::new(1024);
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 200] {
            let data = bytes(len as u64, len);
            assert!(r.writer().unwrap().push(len as u32 + 1, 7, 9, &[], &data));
            let got = read_all(&r);
            assert_eq!(got.len(), 1);
            let (m, b) = &got[0];
            assert_eq!(
                (m.len as usize, m.tag, m.a, m.b),
                (len, len as u32 + 1, 7, 9)
            );
            assert_eq!(b, &data);
        }
        // a head of whole words, then the rest
        let (h, rest) = (bytes(1, 16), bytes(2, 13));
        assert!(r.writer().unwrap().push(0, 0, 0, &h, &rest));
        let got = read_all(&r);
        assert_eq!(got[0].1, [h, rest].concat());
    }

    #[test]
    fn records_wrap_around_the_end() {
        // 64 words; records of 3 + 8 = 11 words: the sixth and later ones wrap
        let r = Ring::new(64);
        for round in 0..20u64 {
            let mut w = r.writer().unwrap();
            for i in 0..3 {
                let seed = round * 3 + i;
                assert!(w.push(1, seed, 0, &[], &bytes(seed, 61)), "{seed}");
            }
            drop(w);
            let got = read_all(&r);
            assert_eq!(got.len(), 3);
            for (i, (m, b)) in got.iter().enumerate() {
                let seed = round * 3 + i as u64;
                assert_eq!((m.a, b.clone()), (seed, bytes(seed, 61)));
            }
        }
    }

    #[test]
    fn a_full_ring_drops_records_and_never_blocks() {
        let r = Ring::new(64);
        let mut w = r.writer().unwrap();
        let ok = (0..10)
            .filter(|&i| w.push(0, i, 0, &[], &bytes(i, 64)))
            .count();
        drop(w);
        assert_eq!(ok, 5, "64 / 11 = 5 records fit");
        assert_eq!(r.dropped(), 5);
        assert_eq!(read_all(&r).len(), 5);
        assert!(r.writer().unwrap().push(0, 99, 0, &[], &bytes(99, 64)));
        // a record larger than the ring never fits
        assert!(!r.writer().unwrap().push(0, 1, 0, &[], &bytes(1, 600)));
        assert_eq!(r.dropped(), 6);
    }

    #[test]
    fn one_writer_and_one_drain_at_a_time() {
        let r = Ring::new(64);
        let w = r.writer().unwrap();
        assert!(r.writer().is_none(), "a second writer while one lives");
        drop(w);
        assert!(r.writer().is_some());
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
                        if w.push(0, i, 0, &[], &bytes(i, len)) {
                            sent.push(i);
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
        let mut b = Vec::new();
        loop {
            let finished = done.load(Acquire);
            b.clear();
            let mut hs = Vec::new();
            r.drain(&mut b, |h, off| hs.push((h, off)));
            for (h, off) in hs {
                let len = (h.a % 97) as usize;
                assert_eq!(&b[off..off + h.len as usize], &bytes(h.a, len)[..]);
                got.push(h.a);
            }
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
