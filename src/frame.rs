//! The frame ABI: what a frame is, shared by the pool ([`crate::buf`]), the graph and every
//! data-plane backend, down to the C shim of the DPDK backend (`src/sys/dpdk_shim.c`, whose
//! `struct xg_frame` has this layout).
//!
//! A [`Frame`] is a 16-byte descriptor into a worker's frame memory: the offset of its first
//! byte, its length, and an out-of-band VLAN tag. The memory is cut into equal chunks, each
//! holding one frame after [`HEADROOM`] bytes: an AF_XDP UMEM in aligned mode
//! ([`CHUNK_SIZE`]) or a DPDK frame area ([`AREA_CHUNK_SIZE`], one mbuf per chunk), so frames
//! move between backends as descriptors.
//!
//! This module names nothing above it (only [`crate::wire`]'s tag type).

use crate::wire::Tci;

/// Out-of-band VLAN tag present (ng_vlan's `M_VLANTAG`), in [`Frame::vtag`].
pub const VTAG_PRESENT: u32 = 1 << 31;

/// Bytes before each frame in its chunk: the kernel's `XDP_PACKET_HEADROOM`, kept by pools for
/// the frames they create too, so a VLAN tag can always be pushed in place.
pub const HEADROOM: usize = 256;

/// Chunk size of page-aligned frame memory: one frame per 4 KiB page (an aligned-mode AF_XDP
/// UMEM, and a DPDK frame area that had to fall back to page-sized chunks).
pub const CHUNK_SIZE: usize = 4096;

/// Chunk size of a DPDK frame area: one mempool object (header, mbuf, buffer). Not a power of
/// two, so that mbuf headers spread over the cache sets (docs/DPDK.md); an AF_XDP socket on
/// such an area registers it in unaligned-chunk mode.
pub const AREA_CHUNK_SIZE: usize = 3968;

/// Largest MTU whose frames fit `chunk`-byte chunks: room for the headroom, an Ethernet header
/// and a VLAN tag.
pub const fn max_mtu(chunk: usize) -> u32 {
    (chunk - HEADROOM - 14 - 4) as u32
}

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

const _: () = assert!(std::mem::size_of::<Frame>() == 16);
