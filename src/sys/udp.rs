//! A non-blocking IPv4 UDP socket for the ksocket node: bind, connect, names, options, one
//! datagram per read and per write, and an early release ([`Udp::retire`]).

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A UDP/IPv4 socket.
pub struct Udp {
    fd: OwnedFd,
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn to_sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

const SIN_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

impl Udp {
    /// A new non-blocking socket (AF_INET, SOCK_DGRAM, IPPROTO_UDP).
    pub fn open() -> io::Result<Udp> {
        let ty = libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: plain socket(2); owned immediately.
        let fd = unsafe { libc::socket(libc::AF_INET, ty, libc::IPPROTO_UDP) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptor.
        Ok(Udp {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn bind(&self, a: SocketAddrV4) -> io::Result<()> {
        let sa = to_sockaddr(a);
        // SAFETY: passes a sockaddr_in of the length given.
        check(unsafe { libc::bind(self.fd(), &sa as *const _ as *const libc::sockaddr, SIN_LEN) })
    }

    pub fn connect(&self, a: SocketAddrV4) -> io::Result<()> {
        let sa = to_sockaddr(a);
        // SAFETY: passes a sockaddr_in of the length given.
        let r =
            unsafe { libc::connect(self.fd(), &sa as *const _ as *const libc::sockaddr, SIN_LEN) };
        check(r)
    }

    fn name(&self, peer: bool) -> io::Result<SocketAddrV4> {
        // SAFETY: all-zero sockaddr_in is valid; the call fills at most `len` bytes.
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut len = SIN_LEN;
        let p = &mut sa as *mut _ as *mut libc::sockaddr;
        // SAFETY: as above.
        let r = unsafe {
            if peer {
                libc::getpeername(self.fd(), p, &mut len)
            } else {
                libc::getsockname(self.fd(), p, &mut len)
            }
        };
        check(r)?;
        let ip = Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
        Ok(SocketAddrV4::new(ip, u16::from_be(sa.sin_port)))
    }

    /// The local address (after bind, or the first send).
    pub fn local(&self) -> io::Result<SocketAddrV4> {
        self.name(false)
    }

    /// The connected peer (ENOTCONN when not connected).
    pub fn peer(&self) -> io::Result<SocketAddrV4> {
        self.name(true)
    }

    /// Sets option (`level`, `name`) to the bytes of `value`.
    pub fn setopt(&self, level: i32, name: i32, value: &[u8]) -> io::Result<()> {
        // SAFETY: passes `value` with its length; the kernel only reads it.
        check(unsafe {
            libc::setsockopt(
                self.fd(),
                level,
                name,
                value.as_ptr() as *const libc::c_void,
                value.len() as libc::socklen_t,
            )
        })
    }

    /// Option (`level`, `name`) as bytes (at most 256).
    pub fn getopt(&self, level: i32, name: i32) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; 256];
        let mut len = buf.len() as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` bytes into `buf` and updates `len`.
        check(unsafe {
            libc::getsockopt(
                self.fd(),
                level,
                name,
                buf.as_mut_ptr() as *mut libc::c_void,
                &mut len,
            )
        })?;
        buf.truncate(len as usize);
        Ok(buf)
    }

    /// Sends one datagram of the buffers (to the connected peer).
    pub fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<()> {
        // SAFETY: all-zero msghdr is valid; the iovecs are IoSlices (ABI-compatible), read only.
        let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
        m.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        m.msg_iovlen = bufs.len() as _;
        // SAFETY: as above.
        let n = unsafe { libc::sendmsg(self.fd(), &m, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receives one datagram into the buffers; its whole length (more than the buffers hold
    /// when it was cut: MSG_TRUNC), or None when none is waiting (or on an error).
    pub fn recv_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> Option<usize> {
        // SAFETY: all-zero msghdr is valid; the iovecs are IoSliceMuts (ABI-compatible).
        let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
        m.msg_iov = bufs.as_mut_ptr() as *mut libc::iovec;
        m.msg_iovlen = bufs.len() as _;
        // SAFETY: the kernel writes within the iovecs.
        let n = unsafe { libc::recvmsg(self.fd(), &mut m, libc::MSG_DONTWAIT | libc::MSG_TRUNC) };
        (n >= 0).then_some(n as usize)
    }

    /// Lets go of the socket now (its port is free again), safely for a thread still using
    /// the descriptor number (see [`crate::sys::netdev::Tap::retire`]).
    pub fn retire(&self) -> io::Result<()> {
        super::netdev::retire_fd(self.fd())
    }
}
