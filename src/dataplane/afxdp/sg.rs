//! AF_XDP multi-buffer (`XDP_USE_SG`): jumbo frames as chains of descriptors.
//!
//! A frame larger than one chunk arrives as several RX descriptors, each but the last marked
//! `XDP_PKT_CONTD`; [`RxChain`] gathers them into one chained [`Frame`] (see
//! [`crate::buf`]'s chains), even when they straddle two RX bursts. A chained frame leaves as
//! one TX descriptor per segment, each but the last marked `XDP_PKT_CONTD` ([`produce`]);
//! every chunk comes back on the completion ring on its own, and only a frame's last one
//! counts as a frame completed (`contd` remembers the others).

use crate::buf::{Burst, ChunkSet, Frame, Pool, Seg};
use crate::frame::MAX_SEGMENTS;
use crate::sys::xsk::XskSocket;

/// The segments of a jumbo frame received so far.
pub(super) struct RxChain {
    segs: [Seg; MAX_SEGMENTS],
    n: usize,
    /// More segments came than a frame may have: the rest of this frame is dropped.
    overflow: bool,
}

impl Default for RxChain {
    fn default() -> Self {
        RxChain {
            segs: [Seg { addr: 0, len: 0 }; MAX_SEGMENTS],
            n: 0,
            overflow: false,
        }
    }
}

/// What one RX descriptor made.
pub(super) enum RxSeg {
    /// A segment of a frame not finished yet.
    More,
    Frame(Frame),
    /// The last segment of a frame that could not be made (its chunks are freed).
    Bad,
}

impl RxChain {
    pub fn is_empty(&self) -> bool {
        self.n == 0 && !self.overflow
    }

    /// Takes one descriptor's segment; `more`: `XDP_PKT_CONTD` (another segment follows).
    pub fn push(&mut self, pool: &mut Pool, seg: Seg, more: bool) -> RxSeg {
        if self.n == MAX_SEGMENTS {
            self.overflow = true;
            pool.free_addr(seg.addr);
        } else {
            self.segs[self.n] = seg;
            self.n += 1;
        }
        if more {
            return RxSeg::More;
        }
        let made = if self.overflow {
            Err(())
        } else {
            pool.chain(&self.segs[..self.n]).map_err(|_| ())
        };
        let n = std::mem::take(&mut self.n);
        self.overflow = false;
        match made {
            Ok(f) => RxSeg::Frame(f),
            Err(()) => {
                for s in &self.segs[..n] {
                    pool.free_addr(s.addr);
                }
                RxSeg::Bad
            }
        }
    }

    /// Frees the segments of an unfinished frame (the socket is closing); true if there was one.
    pub fn discard(&mut self, pool: &mut Pool) -> bool {
        let had = !self.is_empty();
        for s in &self.segs[..self.n] {
            pool.free_addr(s.addr);
        }
        self.n = 0;
        self.overflow = false;
        had
    }
}

/// Puts the frames at the front of `frames` on the TX ring while they fit in `room`
/// descriptors, a chained frame as one descriptor per segment. Returns (frames, descriptors)
/// placed; the chunks are added to `held`, every segment but a frame's last to `contd` too.
pub(super) fn produce(
    sock: &mut XskSocket,
    pool: &Pool,
    frames: &Burst,
    room: u32,
    held: &mut ChunkSet,
    contd: &mut ChunkSet,
) -> (usize, u32) {
    let mut descs = [libc::xdp_desc {
        addr: 0,
        len: 0,
        options: 0,
    }; crate::buf::BURST];
    let (mut nf, mut nd) = (0usize, 0u32);
    for f in frames.as_slice() {
        let segs = if f.is_chained() {
            pool.segs(f).count() as u32
        } else {
            1
        };
        if nd + segs > room || nd as usize + segs as usize > descs.len() {
            break;
        }
        if !f.is_chained() {
            descs[nd as usize] = libc::xdp_desc {
                addr: f.addr,
                len: f.len,
                options: 0,
            };
            held.insert(pool, f.addr);
            nd += 1;
        } else {
            nd = chain_descs(pool, f, &mut descs, nd, held, contd);
        }
        nf += 1;
    }
    sock.tx.produce(descs[..nd as usize].iter().copied(), nd);
    (nf, nd)
}

/// Writes a chained frame's descriptors from `at`; returns the next free index.
fn chain_descs(
    pool: &Pool,
    f: &Frame,
    descs: &mut [libc::xdp_desc],
    at: u32,
    held: &mut ChunkSet,
    contd: &mut ChunkSet,
) -> u32 {
    let mut i = at as usize;
    let mut it = pool.segs(f).peekable();
    while let Some(s) = it.next() {
        let last = it.peek().is_none();
        descs[i] = libc::xdp_desc {
            addr: s.addr,
            len: s.len,
            options: if last { 0 } else { libc::XDP_PKT_CONTD },
        };
        held.insert(pool, s.addr);
        if !last {
            contd.insert(pool, s.addr);
        }
        i += 1;
    }
    i as u32
}
