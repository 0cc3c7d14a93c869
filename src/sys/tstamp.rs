//! AF_PACKET sockets with the kernel's software timestamps (`SO_TIMESTAMPING`).
//!
//! * Transmit: the driver stamps a frame as it takes it (`skb_tx_timestamp`; veth does, see
//!   `ethtool -T`), and the kernel returns a copy of the frame with the stamp on the socket's
//!   error queue ([`StampedSocket::tx_stamps`]).
//! * Receive: the stack stamps a frame as it enters it (`netif_rx` / `netif_receive_skb`),
//!   before any socket or program of ours sees it; [`StampedRing`] reads those stamps from a
//!   `PACKET_RX_RING` (TPACKET_V2), where the kernel writes each frame and its stamp as it
//!   takes it in. (With `recvmsg` a frame that reaches the socket without a stamp is stamped
//!   when it is read — the kernel's fallback in `__sock_recv_timestamp` — so a receiving thread
//!   descheduled for a millisecond adds that millisecond to the latency of what waited; the
//!   ring's fallback is the time the frame entered the ring, in the receive softirq.)
//!
//! Both stamps are CLOCK_REALTIME nanoseconds, so a frame's one-way latency between two
//! interfaces of this machine is the difference, free of the sender's and the receiver's
//! scheduling. The generator's `packet` engine and receiver (`gen::packet`) use them.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// `struct scm_timestamping`: [0] software, [1] deprecated, [2] hardware.
#[repr(C)]
#[derive(Clone, Copy)]
struct ScmTimestamping {
    ts: [libc::timespec; 3],
}

/// An AF_PACKET raw socket on one interface that stamps what it sends or receives.
pub struct StampedSocket {
    fd: OwnedFd,
}

fn set_int(fd: &OwnedFd, level: i32, name: i32, v: i32) -> io::Result<()> {
    // SAFETY: passes a pointer to an int option value of the stated size.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &v as *const i32 as *const libc::c_void,
            4,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A message from the error queue: its length and its software stamp.
struct Msg {
    len: usize,
    stamp: Option<u64>,
}

impl StampedSocket {
    /// A socket that sends on `ifname` (of the calling thread's namespace), each frame
    /// stamped by the driver.
    pub fn transmitter(ifname: &str) -> io::Result<StampedSocket> {
        let fd = super::netdev::packet_socket(ifname, 0)?;
        let flags = libc::SOF_TIMESTAMPING_TX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE;
        set_int(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, flags as i32)?;
        // the error queue holds the stamped copies until read: room for many
        set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 64 << 20)?;
        Ok(StampedSocket { fd })
    }

    /// Hands `frame` to the device; `Ok(false)` when the socket's queue is full (the frame
    /// was not sent).
    pub fn send(&self, frame: &[u8]) -> io::Result<bool> {
        // SAFETY: sends frame.len() bytes from `frame` on a bound packet socket.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) => Ok(false),
                _ => Err(e),
            };
        }
        Ok(true)
    }

    /// One message from the socket (`flags`: MSG_DONTWAIT, MSG_ERRQUEUE) into `buf`; None
    /// when there is none.
    fn recv_msg(&self, buf: &mut [u8], flags: i32) -> io::Result<Option<Msg>> {
        let mut stamp = None;
        let got =
            super::netdev::recv_cmsgs(self.fd.as_raw_fd(), buf, flags, &mut |lvl, ty, data| {
                if lvl == libc::SOL_SOCKET && ty == libc::SCM_TIMESTAMPING {
                    // SAFETY: SCM_TIMESTAMPING's data is a `struct scm_timestamping`.
                    let t = unsafe { (data as *const ScmTimestamping).read_unaligned() };
                    let sw = t.ts[0];
                    if sw.tv_sec != 0 || sw.tv_nsec != 0 {
                        stamp = Some(sw.tv_sec as u64 * 1_000_000_000 + sw.tv_nsec as u64);
                    }
                }
            });
        match got {
            Ok((len, _)) => Ok(Some(Msg { len, stamp })),
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            },
        }
    }

    /// Reads the transmit stamps waiting on the error queue, without waiting: `each` gets
    /// the frame's first bytes (as many as `buf` holds) and its stamp. Returns how many.
    pub fn tx_stamps(&self, buf: &mut [u8], each: &mut dyn FnMut(&[u8], u64)) -> io::Result<u64> {
        let mut n = 0;
        while let Some(m) = self.recv_msg(buf, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT)? {
            if let Some(ts) = m.stamp {
                each(&buf[..m.len], ts);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Waits at most `timeout_ms` for the socket to have something to read (its error queue
    /// included).
    pub fn wait(&self, timeout_ms: i32) -> bool {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut p, 1, timeout_ms) > 0 }
    }
}

/// `struct tpacket2_hdr`, the head of each frame in a TPACKET_V2 ring.
#[repr(C)]
#[derive(Clone, Copy)]
struct Tpacket2Hdr {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_sec: u32,
    tp_nsec: u32,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
    tp_padding: [u8; 4],
}

/// `struct tpacket_req`.
#[repr(C)]
struct TpacketReq {
    tp_block_size: u32,
    tp_block_nr: u32,
    tp_frame_size: u32,
    tp_frame_nr: u32,
}

const TPACKET_V2: i32 = 1;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
/// Where the `sockaddr_ll` sits after a frame's header (TPACKET_ALIGN(sizeof tpacket2_hdr)).
const SLL_OFFSET: usize = 32;
/// Bytes per ring frame (the stamp is near the start of any frame; longer frames are cut).
const RING_FRAME: usize = 2048;
/// Ring frames: 16384 (32 MiB), 330 ms at 50 kpps while the reader is away.
const RING_FRAMES: usize = 16384;
const RING_BLOCK: usize = 1 << 16;

/// An AF_PACKET receive ring (TPACKET_V2) on one interface: every arriving frame with the
/// receive stamp the kernel took as the frame entered the stack.
pub struct StampedRing {
    fd: OwnedFd,
    map: *mut u8,
    len: usize,
    next: usize,
}

// SAFETY: the ring is owned by this value alone; the kernel side synchronises through each
// frame's status word, read and written with acquire/release ordering below.
unsafe impl Send for StampedRing {}

impl StampedRing {
    /// A ring receiving every frame arriving on `ifname` (of the calling thread's namespace).
    pub fn open(ifname: &str) -> io::Result<StampedRing> {
        let fd = super::netdev::packet_socket(ifname, libc::ETH_P_ALL as u16)?;
        set_int(&fd, libc::SOL_PACKET, libc::PACKET_VERSION, TPACKET_V2)?;
        // the stamps come from software (the stack's), as the transmit side's
        let flags = libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE;
        set_int(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, flags as i32)?;
        let req = TpacketReq {
            tp_block_size: RING_BLOCK as u32,
            tp_block_nr: (RING_FRAMES * RING_FRAME / RING_BLOCK) as u32,
            tp_frame_size: RING_FRAME as u32,
            tp_frame_nr: RING_FRAMES as u32,
        };
        // SAFETY: PACKET_RX_RING takes a tpacket_req of the stated size.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_RX_RING,
                &req as *const TpacketReq as *const libc::c_void,
                std::mem::size_of::<TpacketReq>() as u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        let len = RING_FRAMES * RING_FRAME;
        // SAFETY: maps the ring the kernel just made for this socket; unmapped in Drop.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(StampedRing {
            fd,
            map: map as *mut u8,
            len,
            next: 0,
        })
    }

    /// The status word of ring frame `i`.
    fn status(&self, i: usize) -> &std::sync::atomic::AtomicU32 {
        // SAFETY: frame i's header starts RING_FRAME * i bytes into the mapping (i < RING_FRAMES),
        // 16-byte aligned; its first word is the status, shared with the kernel, so it is only
        // touched atomically.
        unsafe { &*(self.map.add(i * RING_FRAME) as *const std::sync::atomic::AtomicU32) }
    }

    /// Receives one frame (not one this host sent), waiting at most `timeout_ms`: its length on
    /// the wire less FCS (a VLAN tag the kernel took out of the frame counted; what fits of it
    /// copied into `buf`, the tag not put back) and its receive stamp. Ok(None) on timeout.
    pub fn recv(&mut self, buf: &mut [u8], timeout_ms: i32) -> io::Result<Option<(usize, u64)>> {
        use std::sync::atomic::Ordering;
        loop {
            let i = self.next;
            if self.status(i).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                let mut p = libc::pollfd {
                    fd: self.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd for the duration of the call.
                if unsafe { libc::poll(&mut p, 1, timeout_ms) } <= 0
                    && self.status(i).load(Ordering::Acquire) & TP_STATUS_USER == 0
                {
                    return Ok(None);
                }
                continue;
            }
            // SAFETY: the kernel handed frame i to us (TP_STATUS_USER, acquired above): its
            // header, address and data (tp_mac.., tp_snaplen bytes, inside the frame) are ours to
            // read until the status is given back below.
            let (h, outgoing, data) = unsafe {
                let base = self.map.add(i * RING_FRAME);
                let h = (base as *const Tpacket2Hdr).read();
                let sll = (base.add(SLL_OFFSET) as *const libc::sockaddr_ll).read_unaligned();
                let off = (h.tp_mac as usize).min(RING_FRAME);
                let n = (h.tp_snaplen as usize).min(RING_FRAME - off);
                let data = std::slice::from_raw_parts(base.add(off), n);
                (h, sll.sll_pkttype == libc::PACKET_OUTGOING, data)
            };
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            self.status(i).store(TP_STATUS_KERNEL, Ordering::Release);
            self.next = (i + 1) % RING_FRAMES;
            if outgoing {
                continue;
            }
            let tag = if h.tp_status & TP_STATUS_VLAN_VALID != 0 {
                4
            } else {
                0
            };
            let stamp = h.tp_sec as u64 * 1_000_000_000 + h.tp_nsec as u64;
            return Ok(Some((h.tp_len as usize + tag, stamp)));
        }
    }

    /// Frames the ring had no room for, since the last call (PACKET_STATISTICS).
    pub fn drops(&self) -> io::Result<u64> {
        Ok(super::netdev::packet_stats(self.fd.as_raw_fd())?.1 as u64)
    }
}

impl Drop for StampedRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`, used by nothing after this.
        unsafe {
            libc::munmap(self.map as *mut libc::c_void, self.len);
        }
    }
}
