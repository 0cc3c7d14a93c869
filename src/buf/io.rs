//! Frames to and from descriptors that carry one frame per read and per write: a TAP (the
//! ether node's host path, eiface) and a datagram socket (ksocket). One read is one frame,
//! received straight into a pool chunk; a frame longer than a chunk (a jumbo frame, a large
//! datagram) overflows into this thread's scratch buffer (allocated once) and becomes a chained
//! frame. One write is one frame, a chained frame's segments as I/O vectors.

use super::{Burst, Frame, Pool};
use std::cell::RefCell;
use std::io::{self, IoSlice, IoSliceMut};

/// What a [`read_burst`] did besides the frames it pushed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Frames pushed to the burst.
    pub frames: usize,
    /// Reads longer than `max_len`: the frame was cut to `max_len` and pushed (counted here).
    pub truncated: usize,
    /// Reads of zero bytes (an empty datagram): nothing pushed.
    pub empty: usize,
    /// Frames read that did not fit the pool as a chain: lost, counted here.
    pub no_buffers: usize,
}

impl ReadStats {
    /// Every read that returned something (frames + empty + lost).
    pub fn reads(&self) -> usize {
        self.frames + self.empty + self.no_buffers
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads frames into `out` (until it is full, or `read` says there is nothing more: None),
/// each up to `max_len` bytes. `read` reads one frame into the I/O vectors it is given (the
/// chunk, then the overflow) and returns the frame's whole length (a datagram longer than the
/// vectors: more than they hold, as `recvmsg` with `MSG_TRUNC` says). It reads only while the
/// pool has chunks for a frame of `max_len` bytes; what the source holds then waits there.
pub fn read_burst(
    pool: &mut Pool,
    out: &mut Burst,
    max_len: usize,
    mut read: impl FnMut(&mut [IoSliceMut<'_>]) -> Option<usize>,
) -> ReadStats {
    let room = pool.max_frame();
    let head = pool.headroom();
    let extra = max_len.saturating_sub(room);
    let need = 1 + extra.div_ceil(room);
    let mut st = ReadStats::default();
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if extra > 0 && s.len() < room + extra {
            s.resize(room + extra, 0);
        }
        while !out.is_full() && pool.available() >= need {
            let Some(base) = pool.alloc() else { break };
            let n = {
                let chunk = &mut pool.chunk_mut(base)[head..head + room];
                if extra == 0 {
                    read(&mut [IoSliceMut::new(chunk)])
                } else {
                    let over = &mut s[room..room + extra];
                    read(&mut [IoSliceMut::new(chunk), IoSliceMut::new(over)])
                }
            };
            match n {
                None => {
                    pool.free_addr(base);
                    break;
                }
                Some(0) => {
                    pool.free_addr(base);
                    st.empty += 1;
                }
                Some(n) if n <= room => {
                    let f = Frame {
                        addr: base + head as u64,
                        len: n as u32,
                        vtag: 0,
                    };
                    let _ = out.push(f);
                    st.frames += 1;
                }
                Some(n) => {
                    let got = n.min(room + extra);
                    st.truncated += (n > got) as usize;
                    if extra > 0 {
                        // the chunk's part joins the overflow, and the whole becomes a chain
                        s[..room].copy_from_slice(&pool.chunk_mut(base)[head..head + room]);
                        pool.free_addr(base);
                        match pool.frame_from(&s[..got]) {
                            Ok(f) => {
                                let _ = out.push(f);
                                st.frames += 1;
                            }
                            Err(_) => st.no_buffers += 1,
                        }
                    } else {
                        let f = Frame {
                            addr: base + head as u64,
                            len: got as u32,
                            vtag: 0,
                        };
                        let _ = out.push(f);
                        st.frames += 1;
                    }
                }
            }
        }
    });
    st
}

/// Writes frame `f` with one call of `write` (its bytes, or a chained frame's segments, as
/// I/O vectors).
pub fn write_frame(
    pool: &Pool,
    f: &Frame,
    write: impl FnOnce(&[IoSlice<'_>]) -> io::Result<()>,
) -> io::Result<()> {
    if !f.is_chained() {
        return write(&[IoSlice::new(pool.data(f))]);
    }
    let mut v = [IoSlice::new(&[]); crate::frame::MAX_SEGMENTS];
    let mut n = 0;
    for s in pool.segments(f) {
        v[n] = IoSlice::new(s);
        n += 1;
    }
    write(&v[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_small_jumbo_truncated_and_empty_frames() {
        let mut pool = Pool::heap(64, 4096, 256);
        let mut out = Burst::new();
        let mut src: Vec<Vec<u8>> = vec![vec![1; 60], vec![2; 9000], vec![], vec![3; 20000]];
        src.reverse();
        let st = read_burst(&mut pool, &mut out, 10000, |iov| {
            let d = src.pop()?;
            let mut off = 0;
            for v in iov.iter_mut() {
                let k = (d.len() - off).min(v.len());
                v[..k].copy_from_slice(&d[off..off + k]);
                off += k;
            }
            Some(d.len())
        });
        assert_eq!(st.frames, 3);
        assert_eq!(st.empty, 1);
        assert_eq!(st.truncated, 1);
        let f: Vec<Frame> = out.drain().collect();
        assert_eq!(pool.to_vec(&f[0]), vec![1; 60]);
        assert_eq!(pool.to_vec(&f[1]), vec![2; 9000]);
        assert!(f[1].is_chained());
        assert_eq!(pool.to_vec(&f[2]), vec![3; 10000]);
        let mut written = Vec::new();
        write_frame(&pool, &f[1], |iov| {
            for v in iov {
                written.extend_from_slice(v);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(written, vec![2; 9000]);
        for x in f {
            pool.free(x);
        }
        assert_eq!(pool.available(), 64);
    }
}
