//! The frame ABI: what a frame is, shared by the pool ([`crate::buf`]), the graph and every
//! data-plane backend, down to the C shim of the DPDK backend (`src/sys/dpdk_shim.c`, whose
//! `struct xg_frame` has this layout).
//!
//! A [`Frame`] is a 16-byte descriptor into a worker's frame memory: the offset of its first
//! byte, its length, and an out-of-band VLAN tag. The memory is cut into equal chunks, each
//! holding one frame after [`HEADROOM`] bytes: an AF_XDP UMEM in aligned mode
//! ([`CHUNK_SIZE`]) or a DPDK frame area ([`AREA_CHUNK_SIZE`] or [`AREA_CHUNK_LARGE`], one
//! mbuf per chunk), so frames move between backends as descriptors.
//!
//! This module names nothing above it (only [`crate::wire`]'s tag type).

use crate::wire::Tci;

/// Out-of-band VLAN tag present (ng_vlan's `M_VLANTAG`), in [`Frame::vtag`].
pub const VTAG_PRESENT: u32 = 1 << 31;

/// In [`Frame::vtag`]: the frame spans more than one chunk (a jumbo frame). Its first segment
/// starts at [`Frame::addr`]; that segment's length and the address of the next one are in
/// the chunk's segment link ([`SEG_LINK_LEN`] bytes at the start of its headroom, after any
/// reserved bytes), and so on to the last segment, whose link has no next. [`Frame::len`] is
/// the whole frame's length. Headers are in the first segment: it always holds at least
/// [`MIN_HEAD`] bytes.
pub const CHAINED: u32 = 1 << 30;

/// Most segments in a frame: the kernel's limit for one AF_XDP packet in copy mode
/// (`MAX_SKB_FRAGS + 1`).
pub const MAX_SEGMENTS: usize = 18;

/// Bytes at the start of each chunk's headroom that hold its segment link (next segment's
/// address, this segment's length) when the frame is chained; frame data never moves into
/// them.
pub const SEG_LINK_LEN: usize = 16;

/// Bytes a chained frame's first segment holds at least: every header a node reads (Ethernet,
/// a stack of VLAN tags, IPv4/IPv6 with options, TCP with options) is in it.
pub const MIN_HEAD: usize = 256;

/// Bytes before each frame in its chunk: the kernel's `XDP_PACKET_HEADROOM`, kept by pools for
/// the frames they create too, so a VLAN tag can always be pushed in place.
pub const HEADROOM: usize = 256;

/// Chunk size of page-aligned frame memory: one frame per 4 KiB page (an aligned-mode AF_XDP
/// UMEM, and a DPDK frame area that had to fall back to page-sized chunks).
pub const CHUNK_SIZE: usize = 4096;

/// Chunk size of a DPDK frame area by default: one mempool object (header, mbuf, buffer), the
/// buffer DPDK's default mbuf's (2176 bytes: 128 of headroom, 2048 of data). Not a power of
/// two, so that mbuf headers spread over the cache sets (docs/DPDK.md); an AF_XDP socket on
/// such an area registers it in unaligned-chunk mode.
pub const AREA_CHUNK_SIZE: usize = 2368;

/// Chunk size of a DPDK frame area with large mbufs (`--dpdk-mbuf-size 3776`): frames of up
/// to 3648 bytes in one mbuf.
pub const AREA_CHUNK_LARGE: usize = 3968;

/// Largest MTU whose frames fit one `chunk`-byte chunk: room for the headroom, an Ethernet
/// header and a VLAN tag.
pub const fn max_mtu(chunk: usize) -> u32 {
    (chunk - HEADROOM - 14 - 4) as u32
}

/// Largest MTU whose frames fit a chain of [`MAX_SEGMENTS`] `chunk`-byte chunks.
pub const fn max_chained_mtu(chunk: usize) -> u32 {
    (MAX_SEGMENTS * (chunk - HEADROOM) - 14 - 4) as u32
}

/// A frame: where its bytes are in the pool and how many there are (a jumbo frame's first
/// segment and whole length: [`CHAINED`]).
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
    /// Sets or clears the out-of-band VLAN tag, keeping the other flags.
    #[inline]
    pub fn set_oob_tag(&mut self, t: Option<Tci>) {
        self.vtag = (self.vtag & CHAINED) | t.map_or(0, |t| VTAG_PRESENT | t.0 as u32);
    }
    /// The frame spans more than one chunk ([`CHAINED`]).
    #[inline]
    pub fn is_chained(&self) -> bool {
        self.vtag & CHAINED != 0
    }
}

const _: () = assert!(std::mem::size_of::<Frame>() == 16);
