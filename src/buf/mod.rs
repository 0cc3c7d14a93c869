//! Frames, bursts and the per-worker frame pool.
//!
//! A [`Frame`] is a 16-byte descriptor into a [`Pool`]: the address of its first byte and its
//! length. The pool is one contiguous region cut into equal chunks, exactly like an AF_XDP UMEM,
//! so the AF_XDP data plane uses its UMEM as the pool and a frame received on one socket is
//! transmitted on another as the same descriptor, without a copy. The in-memory ports use a heap
//! region with the same layout. Chunks are a power of two (4096, an aligned-mode UMEM) except in
//! DPDK frame areas, whose chunks are 3968 bytes so that their mbuf headers do not all fall in
//! the same cache sets (see [`crate::frame`]); the arithmetic takes a shift or a division.
//!
//! Each chunk keeps `headroom` bytes in front of the data so a VLAN tag can be pushed by moving
//! the 12 MAC bytes back, without moving the payload.
//!
//! Duplicating a frame (tee, flooding) copies it into a fresh chunk ([`Pool::copy`]). We copy
//! rather than reference-count: a copy-mode AF_XDP TX copies each frame into an skb anyway, a
//! copy of a 64..1500-byte frame costs less than the cache traffic of a shared count, and a copy
//! may then be modified (tagged, rewritten) without touching its siblings.

use crate::frame::SEG_LINK_LEN;
use crate::wire::{EtherType, Tci, WireError, VLAN_TAG_LEN};

mod chain;
pub mod io;
pub use chain::{Seg, Segs, NO_NEXT};

/// The descriptor and its tag flag are the frame ABI ([`crate::frame`]); the graph and the nodes
/// know them from here, beside the bursts and the pool that hold them.
pub use crate::frame::{Frame, CHAINED, VTAG_PRESENT};

/// The most frames a burst carries (DPDK and VPP use the same order of magnitude).
pub const BURST: usize = 64;

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
    /// The unused slots after the frames, for a driver to write frames into; [`Burst::grow`]
    /// then takes the first `n` of them in.
    pub fn spare_mut(&mut self) -> &mut [Frame] {
        &mut self.frames[self.len..]
    }
    /// Takes in `n` frames written into [`Burst::spare_mut`].
    pub fn grow(&mut self, n: usize) {
        assert!(n <= BURST - self.len, "a burst holds {BURST} frames");
        self.len += n;
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

/// The memory behind a pool: a heap buffer, or a [`Mapping`](crate::sys::mmap::Mapping):
/// anonymous memory mapped for an AF_XDP UMEM, or memory owned elsewhere that the mapping keeps
/// alive (a backend's frame area, e.g. DPDK's mbufs, also usable as a UMEM).
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

/// Where a pool's chunks come from when its free list runs dry and where surplus free chunks
/// go: a store shared with others (a DPDK mempool, which drivers also allocate from and free
/// to). Without one, a pool owns all of its region's chunks.
pub trait ChunkSource: Send {
    /// Fills a prefix of `out` with free chunk base addresses; returns how many.
    fn take(&mut self, out: &mut [u64]) -> usize;
    /// Takes back free chunks.
    fn give(&mut self, chunks: &[u64]);
}

/// `Pool::chunk_shift` of a chunk size that is not a power of two.
const NOT_POW2: u32 = u32::MAX;

/// Chunks moved between a pool and its source at a time.
const SOURCE_BATCH: usize = 64;
/// Free chunks a pool with a source keeps before giving a batch back.
const SOURCE_HIGH: usize = 4 * SOURCE_BATCH;

/// The free chunk addresses: a stack that never grows (each chunk is on it at most once, the
/// in-use bits see to that), so a push is a store without a capacity check.
struct FreeList {
    slots: Box<[u64]>,
    len: usize,
}

impl FreeList {
    fn new(cap: usize) -> FreeList {
        FreeList {
            slots: vec![0; cap].into_boxed_slice(),
            len: 0,
        }
    }
    #[inline(always)]
    fn len(&self) -> usize {
        self.len
    }
    #[inline(always)]
    fn push(&mut self, base: u64) {
        if let Some(s) = self.slots.get_mut(self.len) {
            *s = base;
            self.len += 1;
        }
    }
    #[inline(always)]
    fn pop(&mut self) -> Option<u64> {
        let i = self.len.checked_sub(1)?;
        let b = *self.slots.get(i)?;
        self.len = i;
        Some(b)
    }
    fn as_slice(&self) -> &[u64] {
        &self.slots[..self.len]
    }
    fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }
}

/// A worker's frames: a region cut into `chunk_size` chunks and a free list of chunk addresses.
pub struct Pool {
    region: Region,
    /// Chunk size in bytes.
    chunk: u64,
    /// log2 of the chunk size when it is a power of two, else `NOT_POW2` (divide instead).
    chunk_shift: u32,
    headroom: u32,
    /// Bytes at the start of each chunk that frame data never uses (an mbuf's header).
    reserved: u32,
    nchunks: usize,
    free: FreeList,
    /// One bit per chunk: set while the chunk is outside the free list (the bits past the
    /// last chunk stay clear, so a free of an address past the region is caught as a double
    /// free by the same test).
    in_use: Vec<u64>,
    /// Free chunks kept before a batch goes back to the source: [`SOURCE_HIGH`] with a
    /// source, never without one (one compare per free).
    high: usize,
    double_frees: u64,
    source: Option<Box<dyn ChunkSource>>,
}

impl Pool {
    /// A heap pool of `nchunks` chunks of `chunk_size` bytes (a multiple of 64, at least 256).
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
            p.free.push(i as u64 * p.chunk);
        }
        p.in_use.iter_mut().for_each(|w| *w = 0);
        p
    }

    /// Sets or clears chunk `i`'s in-use bit; false when `i` is past the region.
    #[inline(always)]
    fn mark(&mut self, i: usize, used: bool) -> bool {
        let Some(w) = self.in_use.get_mut(i / 64) else {
            return false;
        };
        if used {
            *w |= 1 << (i % 64);
        } else {
            *w &= !(1 << (i % 64));
        }
        true
    }

    /// A pool over `region` whose chunks all start in use (owned elsewhere, e.g. by an AF_XDP
    /// fill ring); they join the free list when freed.
    pub fn with_region_empty(region: Region, chunk_size: usize, headroom: usize) -> Pool {
        assert!(chunk_size.is_multiple_of(64) && chunk_size >= 256);
        assert!(headroom + 64 <= chunk_size);
        let nchunks = region.bytes().len() / chunk_size;
        let mut in_use = vec![u64::MAX; nchunks.div_ceil(64)];
        if let Some(last) = in_use.last_mut() {
            if !nchunks.is_multiple_of(64) {
                *last = (1 << (nchunks % 64)) - 1;
            }
        }
        Pool {
            region,
            chunk: chunk_size as u64,
            chunk_shift: if chunk_size.is_power_of_two() {
                chunk_size.trailing_zeros()
            } else {
                NOT_POW2
            },
            headroom: headroom as u32,
            reserved: 0,
            nchunks,
            free: FreeList::new(nchunks),
            in_use,
            high: usize::MAX,
            double_frees: 0,
            source: None,
        }
    }

    /// A pool over `region` whose chunks all start in `source` (see [`ChunkSource`]); frame
    /// data stays at or above `reserved` bytes into each chunk.
    pub fn with_source(
        region: Region,
        chunk_size: usize,
        headroom: usize,
        reserved: usize,
        source: Box<dyn ChunkSource>,
    ) -> Pool {
        assert!(reserved <= headroom);
        let mut p = Pool::with_region_empty(region, chunk_size, headroom);
        p.reserved = reserved as u32;
        p.source = Some(source);
        p.high = SOURCE_HIGH;
        p
    }

    /// Gets a batch of chunks from the source (the free list is empty).
    #[cold]
    fn refill(&mut self) {
        let Some(src) = self.source.as_mut() else {
            return;
        };
        let mut got = [0u64; SOURCE_BATCH];
        let n = src.take(&mut got);
        for &base in &got[..n] {
            let i = self.index(base);
            if i >= self.nchunks || base != self.chunk_of(base) {
                self.double_frees += 1;
                continue;
            }
            self.mark(i, false);
            self.free.push(base);
        }
    }

    /// Gives `n` free chunks back to the source.
    #[cold]
    fn flush(&mut self, n: usize) {
        if self.source.is_none() {
            return;
        }
        let at = self.free.len().saturating_sub(n);
        for k in at..self.free.len() {
            let i = self.index(self.free.as_slice()[k]);
            self.mark(i, true);
        }
        if let Some(src) = self.source.as_mut() {
            src.give(&self.free.as_slice()[at..]);
        }
        self.free.truncate(at);
    }

    pub fn chunk_size(&self) -> usize {
        self.chunk as usize
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
    /// Chunks one may take and still leave `reserve` free; with a source (whose count is not
    /// known here, e.g. a DPDK mempool) as many as asked: [`Pool::alloc`] says when it is dry.
    pub fn spare(&self, reserve: usize) -> usize {
        if self.source.is_some() {
            usize::MAX
        } else {
            self.free.len().saturating_sub(reserve)
        }
    }
    /// Frees that named a chunk already free (each one a bug somewhere; counted, not fatal).
    pub fn double_frees(&self) -> u64 {
        self.double_frees
    }
    /// Largest frame a chunk holds after the headroom.
    pub fn max_frame(&self) -> usize {
        self.chunk_size() - self.headroom()
    }
    /// The index of the chunk holding `addr`.
    #[inline]
    fn index(&self, addr: u64) -> usize {
        if self.chunk_shift != NOT_POW2 {
            (addr >> self.chunk_shift) as usize
        } else {
            (addr / self.chunk) as usize
        }
    }
    /// The index of the chunk holding `addr` (any address inside it), from 0.
    #[inline]
    pub fn chunk_index(&self, addr: u64) -> usize {
        self.index(addr)
    }
    /// The chunk address (base) of any address inside the chunk.
    #[inline]
    pub fn chunk_of(&self, addr: u64) -> u64 {
        if self.chunk_shift != NOT_POW2 {
            addr & !(self.chunk - 1)
        } else {
            addr - addr % self.chunk
        }
    }

    /// Takes a free chunk; returns its base address.
    #[inline(always)]
    pub fn alloc(&mut self) -> Option<u64> {
        let base = match self.free.pop() {
            Some(b) => b,
            None => {
                self.refill();
                self.free.pop()?
            }
        };
        let i = self.index(base);
        self.mark(i, true);
        Some(base)
    }

    /// Returns the chunk holding `addr` to the free list.
    #[inline(always)]
    pub fn free_addr(&mut self, addr: u64) {
        let (i, base) = if self.chunk_shift != NOT_POW2 {
            (addr >> self.chunk_shift, addr & !(self.chunk - 1))
        } else {
            let i = addr / self.chunk;
            (i, i * self.chunk)
        };
        let i = i as usize;
        let bit = 1u64 << (i % 64);
        match self.in_use.get_mut(i / 64) {
            Some(w) if *w & bit != 0 => *w &= !bit,
            _ => return self.double_free(),
        }
        self.free.push(base);
        if self.free.len() >= self.high {
            self.flush(SOURCE_BATCH);
        }
    }

    #[cold]
    #[inline(never)]
    fn double_free(&mut self) {
        self.double_frees += 1;
    }

    /// Returns every frame of `frames` to the free list (a burst at a time).
    #[inline]
    pub fn free_all(&mut self, frames: &[Frame]) {
        for f in frames {
            self.free(*f);
        }
    }

    /// Returns every chunk of `f`.
    #[inline(always)]
    pub fn free(&mut self, f: Frame) {
        if f.is_chained() {
            self.free_chain(f)
        } else {
            self.free_addr(f.addr)
        }
    }

    /// All of the pool's memory: a frame `f` that is not chained is
    /// `bytes()[f.addr..f.addr + f.len]` (for loops over many frames; [`Pool::data`] for one).
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.region.bytes()
    }

    /// The frame's bytes; of a chained frame, its first segment, which holds the headers
    /// ([`Pool::segments`] walks the rest).
    #[inline]
    pub fn data(&self, f: &Frame) -> &[u8] {
        let len = self.head_len(f);
        &self.region.bytes()[f.addr as usize..f.addr as usize + len]
    }
    /// The frame's first `N` bytes (of its first segment), or None when it is shorter.
    #[inline(always)]
    pub fn head<const N: usize>(&self, f: &Frame) -> Option<&[u8; N]> {
        if f.is_chained() {
            return self.data(f).first_chunk::<N>();
        }
        if (f.len as usize) < N {
            return None;
        }
        self.region
            .bytes()
            .get(f.addr as usize..)?
            .first_chunk::<N>()
    }
    /// The frame's bytes, writable; of a chained frame, its first segment.
    #[inline]
    pub fn data_mut(&mut self, f: &Frame) -> &mut [u8] {
        let len = self.head_len(f);
        &mut self.region.bytes_mut()[f.addr as usize..f.addr as usize + len]
    }
    /// The whole chunk at `base`.
    pub fn chunk_mut(&mut self, base: u64) -> &mut [u8] {
        let size = self.chunk_size();
        &mut self.region.bytes_mut()[base as usize..base as usize + size]
    }

    /// A new frame holding a copy of `bytes`, placed after the headroom (chained over several
    /// chunks when it does not fit one).
    #[inline(always)]
    pub fn frame_from(&mut self, bytes: &[u8]) -> Result<Frame, PoolError> {
        if bytes.len() > self.max_frame() {
            return self.chain_from(bytes);
        }
        let Some(base) = self.alloc() else {
            return Err(PoolError::Exhausted);
        };
        let addr = base + self.headroom as u64;
        self.region.bytes_mut()[addr as usize..addr as usize + bytes.len()].copy_from_slice(bytes);
        Ok(Frame {
            addr,
            len: bytes.len() as u32,
            vtag: 0,
        })
    }

    /// A copy of `f` in a fresh chunk, at the same offset within its chunk (a chained frame:
    /// in as many fresh chunks, or none).
    #[inline]
    pub fn copy(&mut self, f: &Frame) -> Result<Frame, PoolError> {
        if f.is_chained() {
            return self.copy_chain(f);
        }
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
        let head = self.head_len(f);
        let mem = self.region.bytes_mut();
        if f.addr - base >= (self.reserved as usize + SEG_LINK_LEN + VLAN_TAG_LEN) as u64 {
            mem.copy_within(start..start + 12, start - VLAN_TAG_LEN);
            f.addr -= VLAN_TAG_LEN as u64;
        } else {
            let end = start + head;
            if (end + VLAN_TAG_LEN) as u64 > base + self.chunk {
                return Err(PoolError::NoRoom);
            }
            mem.copy_within(start + 12..end, start + 12 + VLAN_TAG_LEN);
        }
        f.len += VLAN_TAG_LEN as u32;
        let at = f.addr as usize + 12;
        mem[at..at + 2].copy_from_slice(&tpid.to_be_bytes());
        mem[at + 2..at + 4].copy_from_slice(&tci.0.to_be_bytes());
        self.set_head_len(f, head + VLAN_TAG_LEN);
        Ok(())
    }

    /// Removes the tag after the MAC addresses, returning (TPID, TCI). The frame must carry a
    /// whole tag and inner EtherType (18 bytes).
    pub fn strip_vlan_tag(&mut self, f: &mut Frame) -> Result<(u16, Tci), PoolError> {
        let need = 12 + crate::wire::VLAN_HEADER_LEN;
        let head = self.head_len(f);
        if head < need {
            return Err(WireError::Truncated { need, have: head }.into());
        }
        let start = f.addr as usize;
        let mem = self.region.bytes_mut();
        let Some(h) = mem.get_mut(start..).and_then(|m| m.first_chunk_mut::<16>()) else {
            return Err(WireError::Truncated { need, have: 0 }.into());
        };
        let tpid = u16::from_be_bytes([h[12], h[13]]);
        let tci = Tci(u16::from_be_bytes([h[14], h[15]]));
        // the 12 MAC bytes move up over the tag: through registers, not a memmove call
        let macs: [u8; 12] = *h.first_chunk::<12>().unwrap_or(&[0; 12]);
        if let Some(to) = h[VLAN_TAG_LEN..].first_chunk_mut::<12>() {
            *to = macs;
        }
        f.addr += VLAN_TAG_LEN as u64;
        f.len -= VLAN_TAG_LEN as u32;
        self.set_head_len(f, head - VLAN_TAG_LEN);
        Ok((tpid, tci))
    }

    /// The EtherType of a frame of at least 14 bytes.
    pub fn ethertype(&self, f: &Frame) -> Option<u16> {
        let d = self.data(f);
        (d.len() >= 14).then(|| u16::from_be_bytes([d[12], d[13]]))
    }
}

impl Drop for Pool {
    /// A pool with a source gives its free chunks back (a DPDK mempool counts them home).
    fn drop(&mut self) {
        let n = self.free.len();
        self.flush(n);
    }
}

/// True when `t` is a VLAN TPID we recognise.
/// A set of a pool's chunks, one bit each: e.g. the chunks a port handed to the kernel and did
/// not get back yet, so that they can come home once the kernel holds none.
#[derive(Debug, Default)]
pub struct ChunkSet {
    bits: Vec<u64>,
    len: usize,
}

impl ChunkSet {
    /// An empty set for `pool`'s chunks.
    pub fn for_pool(pool: &Pool) -> ChunkSet {
        ChunkSet {
            bits: vec![0; pool.capacity().div_ceil(64)],
            len: 0,
        }
    }
    /// Adds the chunk holding `addr`.
    #[inline]
    pub fn insert(&mut self, pool: &Pool, addr: u64) {
        let i = pool.chunk_index(addr);
        if let Some(w) = self.bits.get_mut(i / 64) {
            self.len += (*w & (1 << (i % 64)) == 0) as usize;
            *w |= 1 << (i % 64);
        }
    }
    /// Removes the chunk holding `addr`; true if it was in the set.
    #[inline]
    pub fn remove(&mut self, pool: &Pool, addr: u64) -> bool {
        let i = pool.chunk_index(addr);
        if let Some(w) = self.bits.get_mut(i / 64) {
            let was = *w & (1 << (i % 64)) != 0;
            self.len -= was as usize;
            *w &= !(1 << (i % 64));
            return was;
        }
        false
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Frees every chunk of the set into `pool` and empties the set; returns how many.
    pub fn free_all(&mut self, pool: &mut Pool) -> usize {
        let n = self.len;
        for (k, w) in self.bits.iter_mut().enumerate() {
            while *w != 0 {
                let b = w.trailing_zeros() as u64;
                *w &= *w - 1;
                pool.free_addr((k as u64 * 64 + b) * pool.chunk);
            }
        }
        self.len = 0;
        n
    }
}

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
    fn chunk_sets_give_their_chunks_back() {
        let mut p = Pool::heap(200, 2048, 256);
        let mut held = ChunkSet::for_pool(&p);
        let out: Vec<u64> = (0..150).map(|_| p.alloc().unwrap()).collect();
        for a in &out {
            held.insert(&p, *a + 300);
        }
        held.insert(&p, out[0]);
        assert_eq!(held.len(), 150);
        for a in &out[..50] {
            held.remove(&p, *a);
        }
        for a in &out[..50] {
            p.free_addr(*a);
        }
        assert_eq!(held.free_all(&mut p), 100);
        assert!(held.is_empty());
        assert_eq!((p.available(), p.double_frees()), (200, 0));
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

    #[test]
    fn burst_filled_in_place() {
        let mut b = Burst::new();
        b.push(Frame {
            addr: 7,
            len: 1,
            vtag: 0,
        })
        .unwrap();
        let spare = b.spare_mut();
        assert_eq!(spare.len(), BURST - 1);
        spare[0].addr = 8;
        spare[1].addr = 9;
        b.grow(2);
        let v: Vec<u64> = b.as_slice().iter().map(|f| f.addr).collect();
        assert_eq!(v, [7, 8, 9]);
        b.grow(BURST - 3);
        assert!(b.is_full());
        assert!(b.spare_mut().is_empty());
        assert!(std::panic::catch_unwind(move || b.grow(1)).is_err());
    }

    /// A shared store of chunks (a stand-in for a DPDK mempool) that counts what comes home.
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u64>>>);
    impl ChunkSource for Shared {
        fn take(&mut self, out: &mut [u64]) -> usize {
            let mut v = self.0.lock().unwrap();
            let n = out.len().min(v.len());
            for o in out.iter_mut().take(n) {
                *o = v.pop().unwrap();
            }
            n
        }
        fn give(&mut self, chunks: &[u64]) {
            self.0.lock().unwrap().extend_from_slice(chunks);
        }
    }

    #[test]
    fn pool_with_a_source_borrows_and_returns_chunks() {
        source_round_trip(4096);
    }

    #[test]
    fn pool_with_a_source_of_dpdk_sized_chunks() {
        source_round_trip(3968);
    }

    fn source_round_trip(chunk: usize) {
        let n = 1024usize;
        let c = chunk as u64;
        let store = std::sync::Arc::new(std::sync::Mutex::new(
            (0..n as u64).map(|i| i * c).collect::<Vec<_>>(),
        ));
        let region = Region::Heap(vec![0u8; n * chunk].into_boxed_slice());
        let mut p = Pool::with_source(region, chunk, 256, 192, Box::new(Shared(store.clone())));
        assert_eq!(p.available(), 0, "every chunk starts in the source");
        let mut held: Vec<Frame> = (0..600).map(|i| frame(&mut p, 60 + i % 10)).collect();
        assert_eq!(store.lock().unwrap().len(), n - 600 - p.available());
        // a VLAN tag uses headroom but never the reserved bytes
        let mut f = held[0];
        f.addr = p.chunk_of(f.addr) + 194;
        assert!(p.insert_vlan_tag(&mut f, 0x8100, Tci(5)).is_ok());
        assert!(
            f.addr >= p.chunk_of(f.addr) + 192,
            "tag went into the reserved bytes"
        );
        held[0] = f;
        // freeing keeps at most SOURCE_HIGH locally, the rest goes home
        for f in held.drain(..) {
            p.free(f);
        }
        assert!(p.available() < SOURCE_HIGH);
        // (a chunk in the source looks held to the pool: drivers take chunks from a mempool
        // without passing through it, so a free of one cannot be told from a double free)
        let f = frame(&mut p, 10);
        p.free(f);
        p.free(f);
        assert_eq!(
            p.double_frees(),
            1,
            "a second free while it is still local is caught"
        );
        drop(p);
        let mut home = store.lock().unwrap().clone();
        home.sort_unstable();
        assert_eq!(
            home,
            (0..n as u64).map(|i| i * c).collect::<Vec<_>>(),
            "each chunk home once"
        );
    }

    #[test]
    fn chunks_that_are_not_a_power_of_two() {
        let mut p = Pool::heap(4, 3968, 256);
        assert_eq!(p.max_frame(), 3968 - 256);
        assert_eq!(p.capacity(), 4);
        let frames: Vec<Frame> = (0..4).map(|i| frame(&mut p, 60 + i)).collect();
        let mut bases: Vec<u64> = frames.iter().map(|f| p.chunk_of(f.addr)).collect();
        bases.sort_unstable();
        assert_eq!(bases, [0, 3968, 2 * 3968, 3 * 3968]);
        for f in &frames {
            assert_eq!(
                f.addr % 3968,
                256,
                "data after the headroom of its own chunk"
            );
            assert_eq!(p.chunk_of(f.addr + f.len as u64 - 1), p.chunk_of(f.addr));
        }
        assert_eq!(p.frame_from(&[0; 10]), Err(PoolError::Exhausted));
        // a free of any address inside a chunk frees that chunk, once
        let f = frames[2];
        p.free_addr(f.addr + 100);
        assert_eq!(p.available(), 1);
        p.free(f);
        assert_eq!(p.double_frees(), 1);
        // a copy lands at the same offset of another chunk
        let c = p.copy(&frames[1]).unwrap();
        assert_eq!(c.addr % 3968, frames[1].addr % 3968);
        assert_eq!(p.data(&c), p.data(&frames[1]));
        // the tailroom ends at the chunk's end, not at the next power of two
        let mut big = frames[3];
        big.addr = p.chunk_of(big.addr);
        big.len = 3968 - 2;
        assert_eq!(
            p.insert_vlan_tag(&mut big, 0x8100, Tci(1)),
            Err(PoolError::NoRoom)
        );
        big.len = 3968 - 4;
        assert!(p.insert_vlan_tag(&mut big, 0x8100, Tci(1)).is_ok());
        assert_eq!(
            p.chunk_of(big.addr + big.len as u64 - 1),
            p.chunk_of(big.addr)
        );
    }

    #[test]
    fn a_source_chunk_off_the_grid_is_refused() {
        // 4096 is not a chunk base when chunks are 3968 bytes: refused and counted
        let store = std::sync::Arc::new(std::sync::Mutex::new(vec![4096u64, 3968]));
        let region = Region::Heap(vec![0u8; 2 * 3968].into_boxed_slice());
        let mut p = Pool::with_source(region, 3968, 256, 192, Box::new(Shared(store)));
        let f = frame(&mut p, 10);
        assert_eq!(p.chunk_of(f.addr), 3968);
        assert_eq!(p.double_frees(), 1);
        assert_eq!(p.frame_from(&[0; 10]), Err(PoolError::Exhausted));
    }

    #[test]
    fn pool_with_an_empty_source_reports_exhaustion() {
        let store = std::sync::Arc::new(std::sync::Mutex::new(vec![0u64, 4096]));
        let region = Region::Heap(vec![0u8; 2 * 4096].into_boxed_slice());
        let mut p = Pool::with_source(region, 4096, 256, 192, Box::new(Shared(store.clone())));
        frame(&mut p, 10);
        frame(&mut p, 10);
        assert_eq!(p.frame_from(&[0; 10]), Err(PoolError::Exhausted));
    }
}
