//! AF_PACKET sockets with the kernel's software timestamps (`SO_TIMESTAMPING`).
//!
//! * Transmit: the driver stamps a frame as it takes it (`skb_tx_timestamp`; veth does, see
//!   `ethtool -T`), and the kernel returns a copy of the frame with the stamp on the socket's
//!   error queue ([`StampedSocket::tx_stamps`]).
//! * Receive: the stack stamps a frame as it enters it (`netif_rx` / `netif_receive_skb`),
//!   before any socket or program of ours sees it ([`StampedSocket::recv`]).
//!
//! Both stamps are CLOCK_REALTIME nanoseconds, so a frame's one-way latency between two
//! interfaces of this machine is the difference, free of the sender's and the receiver's
//! scheduling. The generator's `packet` engine and receiver (`gen::packet`) use them.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

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

/// A transmit socket receives nothing (protocol 0); a receive socket every EtherType.
fn open_raw(ifname: &str, proto: u16) -> io::Result<OwnedFd> {
    let idx = super::netdev::ifindex(ifname)?;
    let proto = proto.to_be();
    // SAFETY: plain socket(2); owned immediately below.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            proto as i32,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: a zeroed sockaddr_ll is valid; the fields that matter are set below.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = proto;
    sa.sll_ifindex = idx as i32;
    // SAFETY: binds with a valid sockaddr_ll of the stated size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
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

/// A received message: its length, whether the frame was one we sent, its software stamp.
struct Msg {
    len: usize,
    outgoing: bool,
    stamp: Option<u64>,
}

impl StampedSocket {
    /// A socket that sends on `ifname` (of the calling thread's namespace), each frame
    /// stamped by the driver.
    pub fn transmitter(ifname: &str) -> io::Result<StampedSocket> {
        let fd = open_raw(ifname, 0)?;
        let flags = libc::SOF_TIMESTAMPING_TX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE;
        set_int(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, flags as i32)?;
        // the error queue holds the stamped copies until read: room for many
        set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 64 << 20)?;
        Ok(StampedSocket { fd })
    }

    /// A socket that receives every frame arriving on `ifname`, each stamped by the stack.
    pub fn receiver(ifname: &str) -> io::Result<StampedSocket> {
        let fd = open_raw(ifname, libc::ETH_P_ALL as u16)?;
        let flags = libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE;
        set_int(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, flags as i32)?;
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
        // SAFETY: a zeroed sockaddr_ll is valid; the kernel fills at most msg_namelen bytes.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut cbuf = [0u64; 32];
        // SAFETY: a zeroed msghdr is valid; the pointers set below reference live locals.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = &mut sa as *mut libc::sockaddr_ll as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        // SAFETY: recvmsg into the buffers `msg` describes, all alive for the call.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, flags) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let mut stamp = None;
        // SAFETY: walks the control messages the kernel wrote into `cbuf`, by the CMSG_*
        // rules; SCM_TIMESTAMPING's data is a `struct scm_timestamping`.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPING {
                    let t = (libc::CMSG_DATA(c) as *const ScmTimestamping).read_unaligned();
                    let sw = t.ts[0];
                    if sw.tv_sec != 0 || sw.tv_nsec != 0 {
                        stamp = Some(sw.tv_sec as u64 * 1_000_000_000 + sw.tv_nsec as u64);
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(Some(Msg {
            len: (n as usize).min(buf.len()),
            outgoing: sa.sll_pkttype == libc::PACKET_OUTGOING,
            stamp,
        }))
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

    /// Receives one frame (not one this host sent on the interface), waiting at most
    /// `timeout_ms`: (its length in `buf`, the stack's stamp). Ok(None) on timeout.
    pub fn recv(&self, buf: &mut [u8], timeout_ms: i32) -> io::Result<Option<(usize, u64)>> {
        loop {
            match self.recv_msg(buf, libc::MSG_DONTWAIT)? {
                Some(m) if m.outgoing => continue,
                Some(m) => return Ok(Some((m.len, m.stamp.unwrap_or(0)))),
                None if self.wait(timeout_ms) => match self.recv_msg(buf, libc::MSG_DONTWAIT)? {
                    Some(m) if !m.outgoing => return Ok(Some((m.len, m.stamp.unwrap_or(0)))),
                    _ => continue,
                },
                None => return Ok(None),
            }
        }
    }

    /// Frames the kernel dropped for want of room in this socket's receive queue, since the
    /// last call (PACKET_STATISTICS).
    pub fn drops(&self) -> io::Result<u64> {
        let mut st = [0u32; 2];
        let mut len = 8u32;
        // SAFETY: PACKET_STATISTICS writes a tpacket_stats (two u32) into `st`.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                st.as_mut_ptr() as *mut libc::c_void,
                &mut len,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st[1] as u64)
    }
}
