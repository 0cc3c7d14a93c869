//! Frames, bursts and the per-worker frame pool.
//!
//! A [`Frame`] is a 16-byte descriptor into a [`Pool`]: the address of its first byte and its
//! length. The pool is one contiguous region cut into power-of-two chunks, exactly like an AF_XDP
//! UMEM, so the AF_XDP data plane uses its UMEM as the pool and a frame received on one socket is
//! transmitted on another as the same descriptor, without a copy. The in-memory ports use a heap
//! region with the same layout.
//!
//! Each chunk keeps `headroom` bytes in front of the data so a VLAN tag can be pushed by moving
//! the 12 MAC bytes back, without moving the payload.
//!
//! Duplicating a frame (tee, flooding) copies it into a fresh chunk ([`Pool::copy`]). We copy
//! rather than reference-count: a copy-mode AF_XDP TX copies each frame into an skb anyway, a
//! copy of a 64..1500-byte frame costs less than the cache traffic of a shared count, and a copy
//! may then be modified (tagged, rewritten) without touching its siblings.

use crate::wire::{EtherType, Tci, WireError, VLAN_TAG_LEN};

/// The most frames a burst carries (DPDK and VPP use the same order of magnitude).
pub const BURST: usize = 64;

/// Out-of-band VLAN tag present (ng_vlan's `M_VLANTAG`), in [`Frame::vtag`].
pub const VTAG_PRESENT: u32 = 1 << 31;

/// A frame: where its bytes are in the pool and how many there are.
///
/// 16-byte aligned so that it moves as one 128-bit value (a frame written in pieces and read
/// back whole stalls store-to-load forwarding on every hop).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct Frame {
    /// Offset of the first byte in the pool region.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
    /// Out-of-band VLAN tag: `VTAG_PRESENT | tci`, or 0.
    pub vtag: u32,
}

impl Frame {
    pub fn oob_tag(&self) -> Option<Tci> {
        (self.vtag & VTAG_PRESENT != 0).then_some(Tci(self.vtag as u16))
    }
}

/// Up to [`BURST`] frames, stored inline.
#[derive(Clone)]
pub struct Burst {
    len: usize,
    frames: [Frame; BURST],
}

impl Default for Burst {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl Burst {
    pub const fn new() -> Burst {
        Burst {
            len: 0,
            frames: [Frame {
                addr: 0,
                len: 0,
                vtag: 0,
            }; BURST],
        }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn is_full(&self) -> bool {
        self.len == BURST
    }
    pub fn room(&self) -> usize {
        BURST - self.len
    }
    /// Appends a frame; gives it back when the burst is full.
    #[inline]
    pub fn push(&mut self, f: Frame) -> Result<(), Frame> {
        if self.len == BURST {
            return Err(f);
        }
        self.frames[self.len] = f;
        self.len += 1;
        Ok(())
    }
    pub fn pop(&mut self) -> Option<Frame> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        Some(self.frames[self.len])
    }
    pub fn as_slice(&self) -> &[Frame] {
        &self.frames[..self.len]
    }
    pub fn as_mut_slice(&mut self) -> &mut [Frame] {
        &mut self.frames[..self.len]
    }
    /// Empties the burst, returning its frames in order.
    #[inline]
    pub fn drain(&mut self) -> Drain<'_> {
        let n = self.len;
        self.len = 0;
        Drain {
            it: self.frames[..n].iter(),
        }
    }
    /// Removes the first `n` frames (they now belong to the caller), keeping the rest in order.
    pub fn consume_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.frames.copy_within(n..self.len, 0);
        self.len -= n;
    }
    /// Keeps the first `n` frames.
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }
    /// Sum of the frame lengths.
    pub fn octets(&self) -> u64 {
        self.as_slice().iter().map(|f| f.len as u64).sum()
    }
}

/// The frames taken out of a burst by [`Burst::drain`].
pub struct Drain<'a> {
    it: std::slice::Iter<'a, Frame>,
}

impl Iterator for Drain<'_> {
    type Item = Frame;
    #[inline(always)]
    fn next(&mut self) -> Option<Frame> {
        self.it.next().copied()
    }
    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.it.size_hint()
    }
}

impl ExactSizeIterator for Drain<'_> {}

/// The memory behind a pool: a heap buffer, or a shared mapping (an AF_XDP UMEM).
pub enum Region {
    Heap(Box<[u8]>),
    Mapped(crate::sys::mmap::Mapping),
}

impl Region {
    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            Region::Heap(b) => b,
            Region::Mapped(m) => m.as_slice(),
        }
    }
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Region::Heap(b) => b,
            Region::Mapped(m) => m.as_mut_slice(),
        }
    }
}

/// Why a pool operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("no free frame in the pool")]
    Exhausted,
    #[error("frame of {0} bytes does not fit a chunk")]
    TooBig(usize),
    #[error("not enough headroom or tailroom to grow the frame")]
    NoRoom,
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// A worker's frames: a region cut into `chunk_size` chunks and a free list of chunk addresses.
pub struct Pool {
    region: Region,
    chunk_shift: u32,
    headroom: u32,
    nchunks: usize,
    free: Vec<u64>,
    /// One bit per chunk: set while the chunk is outside the free list.
    in_use: Vec<u64>,
    double_frees: u64,
}

impl Pool {
    /// A heap pool of `nchunks` chunks of `chunk_size` bytes (a power of two, at least 256).
    pub fn heap(nchunks: usize, chunk_size: usize, headroom: usize) -> Pool {
        Pool::with_region(
            Region::Heap(vec![0u8; nchunks * chunk_size].into_boxed_slice()),
            chunk_size,
            headroom,
        )
    }

    /// A pool over `region`; every chunk starts free.
    pub fn with_region(region: Region, chunk_size: usize, headroom: usize) -> Pool {
        let mut p = Pool::with_region_empty(region, chunk_size, headroom);
        for i in (0..p.nchunks).rev() {
            p.free.push((i << p.chunk_shift) as u64);
        }
        p.in_use.iter_mut().for_each(|w| *w = 0);
        p
    }

    /// A pool over `region` whose chunks all start in use (owned elsewhere, e.g. by an AF_XDP
    /// fill ring); they join the free list when freed.
    pub fn with_region_empty(region: Region, chunk_size: usize, headroom: usize) -> Pool {
        assert!(chunk_size.is_power_of_two() && chunk_size >= 256);
        assert!(headroom + 64 <= chunk_size);
        let nchunks = region.bytes().len() / chunk_size;
        Pool {
            region,
            chunk_shift: chunk_size.trailing_zeros(),
            headroom: headroom as u32,
            nchunks,
            free: Vec::with_capacity(nchunks),
            in_use: vec![u64::MAX; nchunks.div_ceil(64)],
            double_frees: 0,
        }
    }

    pub fn chunk_size(&self) -> usize {
        1 << self.chunk_shift
    }
    pub fn headroom(&self) -> usize {
        self.headroom as usize
    }
    pub fn capacity(&self) -> usize {
        self.nchunks
    }
    /// Free chunks.
    pub fn available(&self) -> usize {
        self.free.len()
    }
    /// Frees that named a chunk already free (each one a bug somewhere; counted, not fatal).
    pub fn double_frees(&self) -> u64 {
        self.double_frees
    }
    /// Largest frame a chunk holds after the headroom.
    pub fn max_frame(&self) -> usize {
        self.chunk_size() - self.headroom()
    }
    /// The chunk address (base) of any address inside the chunk.
    #[inline]
    pub fn chunk_of(&self, addr: u64) -> u64 {
        addr & !((1u64 << self.chunk_shift) - 1)
    }

    /// Takes a free chunk; returns its base address.
    #[inline]
    pub fn alloc(&mut self) -> Option<u64> {
        let base = self.free.pop()?;
        let i = (base >> self.chunk_shift) as usize;
        self.in_use[i / 64] |= 1 << (i % 64);
        Some(base)
    }

    /// Returns the chunk holding `addr` to the free list.
    #[inline]
    pub fn free_addr(&mut self, addr: u64) {
        let base = self.chunk_of(addr);
        let i = (base >> self.chunk_shift) as usize;
        if i >= self.nchunks || self.in_use[i / 64] & (1 << (i % 64)) == 0 {
            self.double_frees += 1;
            return;
        }
        self.in_use[i / 64] &= !(1 << (i % 64));
        self.free.push(base);
    }

    #[inline]
    pub fn free(&mut self, f: Frame) {
        self.free_addr(f.addr)
    }

    #[inline]
    pub fn data(&self, f: &Frame) -> &[u8] {
        &self.region.bytes()[f.addr as usize..f.addr as usize + f.len as usize]
    }
    #[inline]
    pub fn data_mut(&mut self, f: &Frame) -> &mut [u8] {
        &mut self.region.bytes_mut()[f.addr as usize..f.addr as usize + f.len as usize]
    }
    /// The whole chunk at `base`.
    pub fn chunk_mut(&mut self, base: u64) -> &mut [u8] {
        let size = self.chunk_size();
        &mut self.region.bytes_mut()[base as usize..base as usize + size]
    }

    /// A new frame holding a copy of `bytes`, placed after the headroom.
    pub fn frame_from(&mut self, bytes: &[u8]) -> Result<Frame, PoolError> {
        if bytes.len() > self.max_frame() {
            return Err(PoolError::TooBig(bytes.len()));
        }
        let base = self.alloc().ok_or(PoolError::Exhausted)?;
        let addr = base + self.headroom as u64;
        self.region.bytes_mut()[addr as usize..addr as usize + bytes.len()].copy_from_slice(bytes);
        Ok(Frame {
            addr,
            len: bytes.len() as u32,
            vtag: 0,
        })
    }

    /// A copy of `f` in a fresh chunk, at the same offset within its chunk.
    #[inline]
    pub fn copy(&mut self, f: &Frame) -> Result<Frame, PoolError> {
        let base = self.alloc().ok_or(PoolError::Exhausted)?;
        let off = f.addr - self.chunk_of(f.addr);
        let dst = base + off;
        self.region.bytes_mut().copy_within(
            f.addr as usize..f.addr as usize + f.len as usize,
            dst as usize,
        );
        Ok(Frame { addr: dst, ..*f })
    }

    /// Inserts a VLAN tag after the MAC addresses, using headroom (or tailroom when the
    /// headroom is used up).
    pub fn insert_vlan_tag(&mut self, f: &mut Frame, tpid: u16, tci: Tci) -> Result<(), PoolError> {
        if (f.len as usize) < 12 {
            return Err(WireError::Truncated {
                need: 12,
                have: f.len as usize,
            }
            .into());
        }
        let base = self.chunk_of(f.addr);
        let start = f.addr as usize;
        let mem = self.region.bytes_mut();
        if f.addr - base >= VLAN_TAG_LEN as u64 {
            mem.copy_within(start..start + 12, start - VLAN_TAG_LEN);
            f.addr -= VLAN_TAG_LEN as u64;
        } else {
            let end = start + f.len as usize;
            if (end + VLAN_TAG_LEN) as u64 > base + (1u64 << self.chunk_shift) {
                return Err(PoolError::NoRoom);
            }
            mem.copy_within(start + 12..end, start + 12 + VLAN_TAG_LEN);
        }
        f.len += VLAN_TAG_LEN as u32;
        let at = f.addr as usize + 12;
        mem[at..at + 2].copy_from_slice(&tpid.to_be_bytes());
        mem[at + 2..at + 4].copy_from_slice(&tci.0.to_be_bytes());
        Ok(())
    }

    /// Removes the tag after the MAC addresses, returning (TPID, TCI). The frame must carry a
    /// whole tag and inner EtherType (18 bytes).
    pub fn strip_vlan_tag(&mut self, f: &mut Frame) -> Result<(u16, Tci), PoolError> {
        let need = 12 + crate::wire::VLAN_HEADER_LEN;
        if (f.len as usize) < need {
            return Err(WireError::Truncated {
                need,
                have: f.len as usize,
            }
            .into());
        }
        let start = f.addr as usize;
        let mem = self.region.bytes_mut();
        let tpid = u16::from_be_bytes([mem[start + 12], mem[start + 13]]);
        let tci = Tci(u16::from_be_bytes([mem[start + 14], mem[start + 15]]));
        mem.copy_within(start..start + 12, start + VLAN_TAG_LEN);
        f.addr += VLAN_TAG_LEN as u64;
        f.len -= VLAN_TAG_LEN as u32;
        Ok((tpid, tci))
    }

    /// The EtherType of a frame of at least 14 bytes.
    pub fn ethertype(&self, f: &Frame) -> Option<u16> {
        let d = self.data(f);
        (d.len() >= 14).then(|| u16::from_be_bytes([d[12], d[13]]))
    }
}

/// True when `t` is a VLAN TPID we recognise.
pub fn is_vlan_tpid(t: u16) -> bool {
    t == EtherType::VLAN || t == EtherType::QINQ
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(p: &mut Pool, n: usize) -> Frame {
        let bytes: Vec<u8> = (0..n as u8).collect();
        p.frame_from(&bytes).unwrap()
    }

    #[test]
    fn alloc_free_accounting() {
        let mut p = Pool::heap(8, 2048, 256);
        assert_eq!(p.available(), 8);
        let f = frame(&mut p, 60);
        assert_eq!(p.available(), 7);
        assert_eq!(p.data(&f), &(0..60u8).collect::<Vec<_>>()[..]);
        p.free(f);
        assert_eq!(p.available(), 8);
        p.free(f);
        assert_eq!(p.double_frees(), 1, "second free is caught");
        assert_eq!(p.available(), 8);
    }

    #[test]
    fn exhaustion_is_an_error() {
        let mut p = Pool::heap(2, 256, 32);
        frame(&mut p, 10);
        frame(&mut p, 10);
        assert_eq!(p.frame_from(&[1, 2, 3]), Err(PoolError::Exhausted));
        assert_eq!(p.frame_from(&[0; 300]), Err(PoolError::TooBig(300)));
    }

    #[test]
    fn copy_is_independent() {
        let mut p = Pool::heap(4, 2048, 256);
        let a = frame(&mut p, 64);
        let b = p.copy(&a).unwrap();
        assert_ne!(p.chunk_of(a.addr), p.chunk_of(b.addr));
        assert_eq!(p.data(&a), p.data(&b));
        p.data_mut(&b)[0] = 0xee;
        assert_eq!(p.data(&a)[0], 0);
    }

    #[test]
    fn tag_push_and_pop_use_headroom() {
        let mut p = Pool::heap(4, 2048, 256);
        let orig: Vec<u8> = (0..64u8).collect();
        let mut f = p.frame_from(&orig).unwrap();
        p.insert_vlan_tag(&mut f, EtherType::VLAN, Tci::new(10, 3, 0).unwrap())
            .unwrap();
        assert_eq!(f.len, 68);
        let d = p.data(&f).to_vec();
        assert_eq!(&d[..12], &orig[..12]);
        assert_eq!(&d[12..16], &[0x81, 0x00, 0x60, 0x0a]);
        assert_eq!(&d[16..], &orig[12..]);
        let (tpid, tci) = p.strip_vlan_tag(&mut f).unwrap();
        assert_eq!((tpid, tci.vid(), tci.pcp()), (EtherType::VLAN, 10, 3));
        assert_eq!(p.data(&f), &orig[..]);
    }

    #[test]
    fn tag_push_without_headroom_uses_tailroom() {
        let mut p = Pool::heap(2, 256, 0);
        let orig: Vec<u8> = (0..64u8).collect();
        let mut f = p.frame_from(&orig).unwrap();
        p.insert_vlan_tag(&mut f, EtherType::QINQ, Tci::new(7, 0, 0).unwrap())
            .unwrap();
        let d = p.data(&f).to_vec();
        assert_eq!(&d[12..16], &[0x88, 0xa8, 0x00, 0x07]);
        assert_eq!(&d[16..], &orig[12..]);
        // A frame filling its chunk cannot grow.
        let mut full = p.frame_from(&[0u8; 256]).unwrap();
        assert_eq!(
            p.insert_vlan_tag(&mut full, EtherType::VLAN, Tci(1)),
            Err(PoolError::NoRoom)
        );
    }

    #[test]
    fn strip_refuses_truncated_tag() {
        let mut p = Pool::heap(2, 2048, 256);
        let mut f = p.frame_from(&[0u8; 17]).unwrap();
        assert!(matches!(
            p.strip_vlan_tag(&mut f),
            Err(PoolError::Wire(WireError::Truncated { need: 18, have: 17 }))
        ));
        assert_eq!(f.len, 17);
    }

    #[test]
    fn burst_push_drain() {
        let mut b = Burst::new();
        for i in 0..BURST {
            b.push(Frame {
                addr: i as u64,
                len: 1,
                vtag: 0,
            })
            .unwrap();
        }
        assert!(b.is_full());
        assert!(b.push(Frame::default()).is_err());
        assert_eq!(b.octets(), BURST as u64);
        let v: Vec<u64> = b.drain().map(|f| f.addr).collect();
        assert_eq!(v, (0..BURST as u64).collect::<Vec<_>>());
        assert!(b.is_empty());
    }
}
