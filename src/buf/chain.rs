//! Jumbo frames: a frame that spans several chunks ([`CHAINED`]).
//!
//! A chunk holds at most `chunk - headroom` bytes of frame (3840 in a 4 KiB UMEM chunk; the
//! kernel refuses larger AF_XDP chunks), so a 9000-byte frame is a chain of segments, as
//! AF_XDP multi-buffer (`XDP_USE_SG`) receives it. The [`Frame`] descriptor stays 16 bytes: it
//! names the first segment and the whole length, and carries [`CHAINED`]. Each segment's chunk
//! holds its link in the first [`SEG_LINK_LEN`] bytes of its headroom (after the reserved
//! bytes of a DPDK chunk): the next segment's address (or [`NO_NEXT`]) and this segment's
//! length. Nothing is allocated on the heap: a chain lives in its chunks.
//!
//! The first segment holds every header ([`MIN_HEAD`] bytes at least), so the nodes that only
//! read headers (bridge, ether, vlan, etf, macfilter …) see it through [`Pool::data`] as before;
//! what needs the whole frame walks it ([`Pool::segments`], [`Pool::read_at`]). Copies copy
//! every segment or none ([`Pool::copy`] fails whole when the pool runs dry), and a free
//! returns every chunk.

use super::{Pool, PoolError};
use crate::frame::{Frame, CHAINED, MAX_SEGMENTS, MIN_HEAD, SEG_LINK_LEN};

/// A segment link's "no next segment".
pub const NO_NEXT: u64 = u64::MAX;

/// One segment: its first byte and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seg {
    pub addr: u64,
    pub len: u32,
}

impl Pool {
    /// Where the link of the chunk holding `addr` is.
    #[inline]
    fn link_at(&self, addr: u64) -> usize {
        (self.chunk_of(addr) + self.reserved as u64) as usize
    }

    /// The link of the segment at `addr`: (next segment or [`NO_NEXT`], this one's length).
    #[inline]
    pub(super) fn link(&self, addr: u64) -> (u64, u32) {
        let at = self.link_at(addr);
        let m = &self.region.bytes()[at..at + SEG_LINK_LEN];
        let next = u64::from_le_bytes(m[0..8].try_into().unwrap());
        let len = u32::from_le_bytes(m[8..12].try_into().unwrap());
        (next, len)
    }

    #[inline]
    fn set_link(&mut self, addr: u64, next: u64, len: u32) {
        let at = self.link_at(addr);
        let m = &mut self.region.bytes_mut()[at..at + SEG_LINK_LEN];
        m[0..8].copy_from_slice(&next.to_le_bytes());
        m[8..12].copy_from_slice(&len.to_le_bytes());
    }

    /// The first segment's length (the frame's, unless it is chained).
    #[inline]
    pub fn head_len(&self, f: &Frame) -> usize {
        if f.is_chained() {
            self.link(f.addr).1 as usize
        } else {
            f.len as usize
        }
    }

    /// Sets a chained frame's first segment length (after a tag was pushed or popped there).
    #[inline]
    pub(super) fn set_head_len(&mut self, f: &Frame, len: usize) {
        if f.is_chained() {
            let (next, _) = self.link(f.addr);
            self.set_link(f.addr, next, len as u32);
        }
    }

    /// Where the frame's segments are, in order (one for a frame that is not chained). A
    /// damaged chain (a link out of the pool, more than [`MAX_SEGMENTS`]) ends the walk.
    pub fn segs<'a>(&'a self, f: &Frame) -> Segs<'a> {
        Segs {
            pool: self,
            next: f.addr,
            single: (!f.is_chained()).then_some(f.len),
            left: MAX_SEGMENTS,
        }
    }

    /// The frame's bytes, segment by segment.
    pub fn segments<'a>(&'a self, f: &Frame) -> impl Iterator<Item = &'a [u8]> + 'a {
        let bytes = self.region.bytes();
        (self.segs(f)).map(move |s| &bytes[s.addr as usize..s.addr as usize + s.len as usize])
    }

    /// Copies the frame's bytes from `off` into `out`; returns how many were copied (fewer
    /// than `out.len()` at the frame's end).
    pub fn read_at(&self, f: &Frame, off: usize, out: &mut [u8]) -> usize {
        let (mut skip, mut done) = (off, 0);
        for s in self.segments(f) {
            if done == out.len() {
                break;
            }
            if skip >= s.len() {
                skip -= s.len();
                continue;
            }
            let n = (s.len() - skip).min(out.len() - done);
            out[done..done + n].copy_from_slice(&s[skip..skip + n]);
            done += n;
            skip = 0;
        }
        done
    }

    /// The whole frame in one vector (tests, captures, slow paths).
    pub fn to_vec(&self, f: &Frame) -> Vec<u8> {
        let mut v = Vec::with_capacity(f.len as usize);
        for s in self.segments(f) {
            v.extend_from_slice(s);
        }
        v
    }

    /// Makes one frame of `segs` (in order), writing their links; the first must hold at least
    /// [`MIN_HEAD`] bytes unless it is the only one. One segment gives a plain frame.
    pub fn chain(&mut self, segs: &[Seg]) -> Result<Frame, PoolError> {
        let total: usize = segs.iter().map(|s| s.len as usize).sum();
        match segs {
            [] => return Err(PoolError::TooBig(0)),
            [one] => {
                return Ok(Frame {
                    addr: one.addr,
                    len: one.len,
                    vtag: 0,
                })
            }
            _ if segs.len() > MAX_SEGMENTS => return Err(PoolError::TooBig(total)),
            [head, ..] if (head.len as usize) < MIN_HEAD => return Err(PoolError::NoRoom),
            _ => {}
        }
        for (i, s) in segs.iter().enumerate() {
            let next = segs.get(i + 1).map_or(NO_NEXT, |n| n.addr);
            self.set_link(s.addr, next, s.len);
        }
        Ok(Frame {
            addr: segs[0].addr,
            len: total as u32,
            vtag: CHAINED,
        })
    }

    /// Frees every chunk of a chained frame.
    #[cold]
    pub(super) fn free_chain(&mut self, f: Frame) {
        let mut at = f.addr;
        for _ in 0..MAX_SEGMENTS {
            let (next, _) = self.link(at);
            self.free_addr(at);
            if next == NO_NEXT || self.index(next) >= self.nchunks {
                return;
            }
            at = next;
        }
    }

    /// A new frame holding `bytes`, chained over as many chunks as it needs.
    pub(super) fn chain_from(&mut self, bytes: &[u8]) -> Result<Frame, PoolError> {
        let room = self.max_frame();
        let n = bytes.len().div_ceil(room);
        if n > MAX_SEGMENTS || room < MIN_HEAD {
            return Err(PoolError::TooBig(bytes.len()));
        }
        let mut segs = [Seg { addr: 0, len: 0 }; MAX_SEGMENTS];
        let bases = self.alloc_n(n)?;
        for (i, part) in bytes.chunks(room).enumerate() {
            let addr = bases[i] + self.headroom as u64;
            let a = addr as usize;
            self.region.bytes_mut()[a..a + part.len()].copy_from_slice(part);
            segs[i] = Seg {
                addr,
                len: part.len() as u32,
            };
        }
        self.chain(&segs[..n])
    }

    /// `n` (at most [`MAX_SEGMENTS`]) free chunks, or none: what was taken goes back when the
    /// pool runs dry before `n`.
    fn alloc_n(&mut self, n: usize) -> Result<[u64; MAX_SEGMENTS], PoolError> {
        let mut bases = [0u64; MAX_SEGMENTS];
        for i in 0..n {
            match self.alloc() {
                Some(b) => bases[i] = b,
                None => {
                    for &b in &bases[..i] {
                        self.free_addr(b);
                    }
                    return Err(PoolError::Exhausted);
                }
            }
        }
        Ok(bases)
    }

    /// A copy of a chained frame: every segment at the same offsets in fresh chunks, or
    /// [`PoolError::Exhausted`] with nothing taken.
    #[cold]
    pub(super) fn copy_chain(&mut self, f: &Frame) -> Result<Frame, PoolError> {
        let mut segs = [Seg { addr: 0, len: 0 }; MAX_SEGMENTS];
        let mut n = 0;
        for s in self.segments(f) {
            segs[n].len = s.len() as u32;
            n += 1;
        }
        let mut at = f.addr;
        let bases = self.alloc_n(n)?;
        for i in 0..n {
            let (next, len) = self.link(at);
            let dst = bases[i] + (at - self.chunk_of(at));
            let a = at as usize;
            self.region
                .bytes_mut()
                .copy_within(a..a + len as usize, dst as usize);
            segs[i].addr = dst;
            at = next;
        }
        let mut c = self.chain(&segs[..n])?;
        c.vtag = f.vtag;
        Ok(c)
    }

    /// Shortens a frame to `len` bytes (no longer than it is), freeing the segments past it.
    pub fn truncate(&mut self, f: &mut Frame, len: usize) {
        if len >= f.len as usize {
            return;
        }
        if !f.is_chained() {
            f.len = len as u32;
            return;
        }
        let (mut at, mut left) = (f.addr, len);
        for _ in 0..MAX_SEGMENTS {
            let (next, slen) = self.link(at);
            if left <= slen as usize || next == NO_NEXT {
                self.set_link(at, NO_NEXT, left.min(slen as usize) as u32);
                if next != NO_NEXT {
                    self.free_chain(Frame {
                        addr: next,
                        len: 0,
                        vtag: CHAINED,
                    });
                }
                break;
            }
            left -= slen as usize;
            at = next;
        }
        f.len = len as u32;
        if len <= self.head_len(f) {
            // one segment left: a plain frame again
            f.vtag &= !CHAINED;
        }
    }
}

/// Where a frame's segments are ([`Pool::segs`]).
pub struct Segs<'a> {
    pool: &'a Pool,
    next: u64,
    single: Option<u32>,
    left: usize,
}

impl Iterator for Segs<'_> {
    type Item = Seg;
    fn next(&mut self) -> Option<Seg> {
        if self.left == 0 || self.next == NO_NEXT {
            return None;
        }
        let addr = self.next;
        let len = match self.single.take() {
            Some(len) => {
                self.next = NO_NEXT;
                len
            }
            None => {
                if self.pool.index(addr) >= self.pool.nchunks {
                    return None;
                }
                let (next, len) = self.pool.link(addr);
                self.next = next;
                len
            }
        };
        let end = addr as usize + len as usize;
        if end > self.pool.region.bytes().len() {
            return None;
        }
        self.left -= 1;
        Some(Seg { addr, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{CHUNK_SIZE, HEADROOM};
    use crate::wire::Tci;

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    const SIZES: [usize; 7] = [60, 1514, 1515, 4096, 4097, 8000, 9014];

    #[test]
    fn frames_of_every_size_come_back_byte_for_byte() {
        let mut p = Pool::heap(64, CHUNK_SIZE, HEADROOM);
        for (i, &n) in SIZES.iter().enumerate() {
            let b = bytes(n, i as u8);
            let f = p.frame_from(&b).unwrap();
            assert_eq!(f.len as usize, n);
            assert_eq!(f.is_chained(), n > CHUNK_SIZE - HEADROOM, "{n}");
            assert_eq!(p.to_vec(&f), b, "{n}");
            assert_eq!(p.data(&f), &b[..p.head_len(&f)]);
            let mut mid = vec![0u8; 100];
            let got = p.read_at(&f, n.saturating_sub(50), &mut mid);
            assert_eq!(&mid[..got], &b[n.saturating_sub(50)..]);
            p.free(f);
            assert_eq!(p.available(), 64, "every chunk of {n} came back");
        }
    }

    #[test]
    fn a_copy_is_whole_and_independent_or_nothing_is_taken() {
        let mut p = Pool::heap(6, CHUNK_SIZE, HEADROOM);
        let b = bytes(9014, 7);
        let f = p.frame_from(&b).unwrap(); // 3 chunks
        let c = p.copy(&f).unwrap(); // 3 more: the pool is dry
        assert_eq!(p.available(), 0);
        assert_eq!(p.to_vec(&c), b);
        p.data_mut(&c)[0] = 0xee;
        assert_eq!(p.to_vec(&f), b, "the original is untouched");
        p.free(c);
        let small = p.frame_from(&[1; 60]).unwrap(); // 2 left: not enough for 3
        assert_eq!(p.copy(&f), Err(PoolError::Exhausted));
        assert_eq!(p.available(), 2, "a failed copy takes nothing");
        p.free(small);
        p.free(f);
        assert_eq!(p.available(), 6);
    }

    #[test]
    fn a_tag_pushed_and_popped_on_a_chained_frame() {
        let mut p = Pool::heap(8, CHUNK_SIZE, HEADROOM);
        let b = bytes(9014, 3);
        let mut f = p.frame_from(&b).unwrap();
        p.insert_vlan_tag(&mut f, 0x8100, Tci(0x0123)).unwrap();
        assert_eq!(f.len, 9018);
        let v = p.to_vec(&f);
        assert_eq!(&v[..12], &b[..12]);
        assert_eq!(&v[12..16], &[0x81, 0x00, 0x01, 0x23]);
        assert_eq!(&v[16..], &b[12..]);
        assert_eq!(p.strip_vlan_tag(&mut f).unwrap(), (0x8100, Tci(0x0123)));
        assert_eq!(p.to_vec(&f), b);
        p.free(f);
        assert_eq!(p.available(), 8);
    }

    #[test]
    fn truncating_frees_the_segments_past_the_end() {
        let mut p = Pool::heap(8, CHUNK_SIZE, HEADROOM);
        let b = bytes(9014, 9);
        for keep in [9014, 9000, 7681, 7680, 3841, 3840, 100, 0] {
            let mut f = p.frame_from(&b).unwrap();
            p.truncate(&mut f, keep);
            assert_eq!(p.to_vec(&f), &b[..keep], "{keep}");
            assert_eq!(f.is_chained(), keep > CHUNK_SIZE - HEADROOM, "{keep}");
            p.free(f);
            assert_eq!(p.available(), 8, "{keep}");
        }
    }

    #[test]
    fn chains_refuse_what_does_not_fit() {
        let mut p = Pool::heap(32, CHUNK_SIZE, HEADROOM);
        let max = MAX_SEGMENTS * (CHUNK_SIZE - HEADROOM);
        let f = p.frame_from(&bytes(max, 1)).unwrap();
        p.free(f);
        assert_eq!(
            p.frame_from(&bytes(max + 1, 1)),
            Err(PoolError::TooBig(max + 1))
        );
        let a = p.alloc().unwrap() + HEADROOM as u64;
        let b = p.alloc().unwrap() + HEADROOM as u64;
        let short = [Seg { addr: a, len: 100 }, Seg { addr: b, len: 100 }];
        assert_eq!(
            p.chain(&short),
            Err(PoolError::NoRoom),
            "headers in the first"
        );
        assert_eq!(p.available(), 30);
    }
}
