//! Interface ioctls, TAP devices, network namespaces and AF_PACKET sockets.

use crate::wire::MacAddr;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The index of interface `name`.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: passes a NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface named {name}"),
        ));
    }
    Ok(i)
}

/// Whether interface `name` exists in this namespace, as sysfs shows it (an interface being
/// removed leaves sysfs last).
pub fn exists(name: &str) -> bool {
    !name.contains('/') && std::path::Path::new(&format!("/sys/class/net/{name}")).exists()
}

/// The name of the interface with index `index`.
pub fn ifname(index: u32) -> io::Result<String> {
    let mut buf = [0 as libc::c_char; libc::IFNAMSIZ];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into buf.
    let c = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Ok(c.to_string_lossy().into_owned())
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    // SAFETY: ifreq is plain data; all-zero is valid.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in r.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(r)
}

fn ctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); owned immediately.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ioctl(req: libc::Ioctl, r: &mut libc::ifreq) -> io::Result<()> {
    let s = ctl_socket()?;
    // SAFETY: the request takes a pointer to an ifreq, which `r` is.
    if unsafe { libc::ioctl(s.as_raw_fd(), req, r as *mut libc::ifreq) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One socket for an interface's repeated queries (the management tick's link check), so
/// that each check costs its ioctls and no socket.
pub struct IfSocket(OwnedFd);

impl IfSocket {
    pub fn open() -> io::Result<IfSocket> {
        ctl_socket().map(IfSocket)
    }

    fn ioctl(&self, req: libc::Ioctl, r: &mut libc::ifreq) -> io::Result<()> {
        // SAFETY: the request takes a pointer to an ifreq, which `r` is.
        if unsafe { libc::ioctl(self.0.as_raw_fd(), req, r as *mut libc::ifreq) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The index of interface `name` (SIOCGIFINDEX).
    pub fn ifindex(&self, name: &str) -> io::Result<u32> {
        let mut r = ifreq(name)?;
        self.ioctl(libc::SIOCGIFINDEX, &mut r)?;
        // SAFETY: SIOCGIFINDEX filled the ifindex member.
        Ok(unsafe { r.ifr_ifru.ifru_ifindex } as u32)
    }

    /// The MTU of interface `name` (SIOCGIFMTU).
    pub fn mtu(&self, name: &str) -> io::Result<u32> {
        let mut r = ifreq(name)?;
        self.ioctl(libc::SIOCGIFMTU, &mut r)?;
        // SAFETY: SIOCGIFMTU filled the mtu member.
        Ok(unsafe { r.ifr_ifru.ifru_mtu } as u32)
    }

    /// The IFF_* flags of interface `name` (SIOCGIFFLAGS): IFF_UP is the administrative state,
    /// IFF_RUNNING the operational one (carrier on, e.g. a veth whose peer is up).
    pub fn flags(&self, name: &str) -> io::Result<i32> {
        let mut r = ifreq(name)?;
        self.ioctl(libc::SIOCGIFFLAGS, &mut r)?;
        // SAFETY: SIOCGIFFLAGS filled the flags member.
        Ok(unsafe { r.ifr_ifru.ifru_flags } as i32 & 0xffff)
    }
}

pub fn mac(name: &str) -> io::Result<MacAddr> {
    let mut r = ifreq(name)?;
    ioctl(libc::SIOCGIFHWADDR, &mut r)?;
    // SAFETY: SIOCGIFHWADDR filled the hwaddr member of the union.
    let sa = unsafe { r.ifr_ifru.ifru_hwaddr };
    let mut m = [0u8; 6];
    for (d, s) in m.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(MacAddr(m))
}

pub fn set_mac(name: &str, m: MacAddr) -> io::Result<()> {
    let mut r = ifreq(name)?;
    // SAFETY: zeroed sockaddr is valid; we write the hwaddr member before the ioctl reads it.
    let mut sa: libc::sockaddr = unsafe { std::mem::zeroed() };
    sa.sa_family = libc::ARPHRD_ETHER;
    for (d, s) in sa.sa_data.iter_mut().zip(m.0) {
        *d = s as libc::c_char;
    }
    r.ifr_ifru.ifru_hwaddr = sa;
    ioctl(libc::SIOCSIFHWADDR, &mut r)
}

pub fn flags(name: &str) -> io::Result<i32> {
    let mut r = ifreq(name)?;
    ioctl(libc::SIOCGIFFLAGS, &mut r)?;
    // SAFETY: SIOCGIFFLAGS filled the flags member.
    Ok(unsafe { r.ifr_ifru.ifru_flags } as i32 & 0xffff)
}

/// Sets (`on`) or clears the given IFF_* bits.
pub fn set_flags(name: &str, bits: i32, on: bool) -> io::Result<()> {
    let cur = flags(name)?;
    let new = if on { cur | bits } else { cur & !bits };
    if new == cur {
        return Ok(());
    }
    let mut r = ifreq(name)?;
    r.ifr_ifru.ifru_flags = new as libc::c_short;
    ioctl(libc::SIOCSIFFLAGS, &mut r)
}

/// Sets the MTU of interface `name` (SIOCSIFMTU).
pub fn set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let mut r = ifreq(name)?;
    r.ifr_ifru.ifru_mtu = mtu as libc::c_int;
    ioctl(libc::SIOCSIFMTU, &mut r)
}

pub fn mtu(name: &str) -> io::Result<u32> {
    let mut r = ifreq(name)?;
    ioctl(libc::SIOCGIFMTU, &mut r)?;
    // SAFETY: SIOCGIFMTU filled the mtu member.
    Ok(unsafe { r.ifr_ifru.ifru_mtu } as u32)
}

/// Joins (`add`) or leaves a link-layer multicast group.
pub fn multicast(name: &str, m: MacAddr, add: bool) -> io::Result<()> {
    let mut r = ifreq(name)?;
    // SAFETY: zeroed sockaddr is valid; hwaddr carries the group address.
    let mut sa: libc::sockaddr = unsafe { std::mem::zeroed() };
    sa.sa_family = libc::AF_UNSPEC as u16;
    for (d, s) in sa.sa_data.iter_mut().zip(m.0) {
        *d = s as libc::c_char;
    }
    r.ifr_ifru.ifru_hwaddr = sa;
    ioctl(
        if add {
            libc::SIOCADDMULTI
        } else {
            libc::SIOCDELMULTI
        },
        &mut r,
    )
}

/// A TAP interface: frames written are received by the host stack on it; frames the host
/// sends on it are read.
pub struct Tap {
    fd: OwnedFd,
    pub name: String,
}

/// TUNSETIFF flag: fail (EBUSY) rather than attach to an interface that exists.
const IFF_TUN_EXCL: libc::c_int = 0x8000;
/// TUNSETCARRIER: `_IOW('T', 226, int)`.
const TUNSETCARRIER: libc::Ioctl = 0x4004_54e2;

impl Tap {
    /// Creates (or attaches to) TAP interface `name`, non-blocking.
    pub fn open(name: &str) -> io::Result<Tap> {
        Tap::open_flags(name, 0)
    }

    /// Creates a new TAP interface `name`; fails (EBUSY) if an interface of that name exists,
    /// never attaching to someone else's.
    pub fn create(name: &str) -> io::Result<Tap> {
        Tap::open_flags(name, IFF_TUN_EXCL)
    }

    /// Creates `<prefix>N` with the lowest N whose name is free (eiface's `ngethN`).
    pub fn create_numbered(prefix: &str, max: u32) -> io::Result<Tap> {
        for n in 0..=max {
            let name = format!("{prefix}{n}");
            if exists(&name) || ifindex(&name).is_ok() {
                continue;
            }
            match Tap::create(&name) {
                Ok(t) => return Ok(t),
                // taken between the look and the creation: try the next number
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{prefix}0..{prefix}{max} are all taken"),
        ))
    }

    /// Switches the interface's carrier (operational state) on or off.
    pub fn set_carrier(&self, on: bool) -> io::Result<()> {
        let v: libc::c_int = on as libc::c_int;
        // SAFETY: TUNSETCARRIER reads one int through the pointer.
        if unsafe { libc::ioctl(self.fd(), TUNSETCARRIER, &v as *const libc::c_int) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads one frame into the buffers in order; None when none is waiting (or on an error).
    pub fn read_vectored(&self, bufs: &mut [io::IoSliceMut<'_>]) -> Option<usize> {
        // SAFETY: IoSliceMut is ABI-compatible with iovec; readv writes within the buffers.
        let n = unsafe {
            libc::readv(
                self.fd(),
                bufs.as_ptr() as *const libc::iovec,
                bufs.len() as libc::c_int,
            )
        };
        (n >= 0).then_some(n as usize)
    }

    /// Lets go of the interface now: the descriptor's number is made to name /dev/null
    /// (atomically, dup2), so the TAP (not persistent) is removed once no call is inside it,
    /// and a thread still using the number reads nothing and writes nowhere, never into a
    /// descriptor opened since. The number itself is closed when the `Tap` drops.
    pub fn retire(&self) -> io::Result<()> {
        retire_fd(self.fd())
    }

    fn open_flags(name: &str, extra: libc::c_int) -> io::Result<Tap> {
        let path = CString::new("/dev/net/tun").unwrap();
        // SAFETY: opens a device node; the descriptor is owned immediately.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::other(format!(
                "/dev/net/tun: {}",
                io::Error::last_os_error()
            )));
        }
        // SAFETY: fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut r = ifreq(name)?;
        r.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI | extra) as libc::c_short;
        // SAFETY: TUNSETIFF takes a pointer to an ifreq.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut r as *mut libc::ifreq) } < 0 {
            return Err(io::Error::other(format!(
                "TUNSETIFF {name}: {}",
                io::Error::last_os_error()
            )));
        }
        Ok(Tap {
            fd,
            name: name.to_string(),
        })
    }

    /// Another descriptor for the same TAP queue (for writers on other threads).
    pub fn try_clone(&self) -> io::Result<Tap> {
        Ok(Tap {
            fd: self.fd.try_clone()?,
            name: self.name.clone(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads one frame; Ok(0) when none is waiting.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: reads at most buf.len() bytes into buf.
        let n = unsafe { libc::read(self.fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }

    /// Writes one frame from the buffers in order (a jumbo frame's segments).
    pub fn write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<()> {
        // SAFETY: IoSlice is ABI-compatible with iovec; writev only reads the buffers.
        let n = unsafe {
            libc::writev(
                self.fd(),
                bufs.as_ptr() as *const libc::iovec,
                bufs.len() as libc::c_int,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Writes one frame.
    pub fn write(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: writes frame.len() bytes from frame.
        let n = unsafe {
            libc::write(
                self.fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Makes descriptor `fd` name /dev/null (dup2: atomic), releasing what it named (see
/// [`Tap::retire`]).
pub fn retire_fd(fd: RawFd) -> io::Result<()> {
    let path = CString::new("/dev/null").unwrap();
    // SAFETY: opens a device node; closed below.
    let null = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if null < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor, owned (closed when dropped).
    let null = unsafe { OwnedFd::from_raw_fd(null) };
    // SAFETY: dup2 onto a descriptor the caller owns; O_CLOEXEC is set again below.
    if unsafe { libc::dup3(null.as_raw_fd(), fd, libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the calling thread into network namespace `name` (from /var/run/netns).
pub fn enter_netns(name: &str) -> io::Result<()> {
    let path = CString::new(format!("/var/run/netns/{name}")).unwrap();
    // SAFETY: opens a namespace file; closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("netns {name}: {}", io::Error::last_os_error()),
        ));
    }
    // SAFETY: fresh descriptor, owned.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: setns on a namespace descriptor; affects only the calling thread.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

const PACKET_AUXDATA: libc::c_int = 8;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

#[repr(C)]
#[derive(Clone, Copy)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

/// A raw AF_PACKET socket bound to `ifname` (of the calling thread's namespace), receiving
/// EtherType `proto` (host order; `ETH_P_ALL` for every frame, 0 for none: a socket that only
/// sends).
pub fn packet_socket(ifname: &str, proto: u16) -> io::Result<OwnedFd> {
    let idx = ifindex(ifname)?;
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

/// One `recvmsg(2)` on packet socket `fd` into `buf` (`flags`: MSG_DONTWAIT, MSG_ERRQUEUE):
/// the bytes received (at most `buf.len()`) and the sender's address; `each` is called with
/// every control message's level, type and data.
pub fn recv_cmsgs(
    fd: RawFd,
    buf: &mut [u8],
    flags: i32,
    each: &mut dyn FnMut(i32, i32, *const u8),
) -> io::Result<(usize, libc::sockaddr_ll)> {
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
    let n = unsafe { libc::recvmsg(fd, &mut msg, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: walks the control messages the kernel wrote into `cbuf`, by the CMSG_* rules.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            each((*c).cmsg_level, (*c).cmsg_type, libc::CMSG_DATA(c));
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(((n as usize).min(buf.len()), sa))
}

/// A raw AF_PACKET socket bound to one interface (all EtherTypes).
pub struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    /// Opens a socket on `ifname` of the calling thread's namespace.
    pub fn open(ifname: &str) -> io::Result<PacketSocket> {
        let fd = packet_socket(ifname, libc::ETH_P_ALL as u16)?;
        let s = PacketSocket { fd };
        s.set_rcvbuf(8 << 20);
        let one: i32 = 1;
        // SAFETY: PACKET_AUXDATA takes an int; failure only loses VLAN reconstruction.
        unsafe {
            libc::setsockopt(
                s.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_AUXDATA,
                &one as *const i32 as *const libc::c_void,
                4,
            );
        }
        Ok(s)
    }

    /// Opens a socket on `ifname` inside network namespace `ns` (the socket stays in that
    /// namespace; the calling thread does not move).
    pub fn open_in(ns: &str, ifname: &str) -> io::Result<PacketSocket> {
        let (ns, ifname) = (ns.to_string(), ifname.to_string());
        std::thread::spawn(move || {
            enter_netns(&ns)?;
            PacketSocket::open(&ifname)
        })
        .join()
        .map_err(|_| io::Error::other("netns thread panicked"))?
    }

    fn set_rcvbuf(&self, bytes: i32) {
        // SAFETY: passes a pointer to an int option value (failure is harmless).
        unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &bytes as *const i32 as *const libc::c_void,
                4,
            );
        }
    }

    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sends frame.len() bytes from frame on a bound packet socket.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receives one frame as it was on the wire, waiting at most `timeout_ms`: a VLAN tag the
    /// kernel moved out of band is put back. Frames this socket sent are skipped. Ok(None) on
    /// timeout.
    pub fn recv(&self, buf: &mut [u8], timeout_ms: i32) -> io::Result<Option<usize>> {
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms.max(0) as u64);
        loop {
            let left = deadline
                .saturating_duration_since(std::time::Instant::now())
                .as_millis() as i32;
            let mut p = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut p, 1, left) };
            if r <= 0 {
                return Ok(None);
            }
            let mut aux = None;
            let len = buf.len().saturating_sub(4);
            let got = recv_cmsgs(
                self.fd.as_raw_fd(),
                &mut buf[..len],
                libc::MSG_DONTWAIT,
                &mut |lvl, ty, data| {
                    if lvl == libc::SOL_PACKET && ty == PACKET_AUXDATA {
                        // SAFETY: a PACKET_AUXDATA message's data is a tpacket_auxdata.
                        aux = Some(unsafe { (data as *const TpacketAuxdata).read_unaligned() });
                    }
                },
            );
            let (n, sa) = match got {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            if sa.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let mut n = n;
            if let Some(aux) = aux.filter(|a| a.tp_status & TP_STATUS_VLAN_VALID != 0 && n >= 12) {
                let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                    aux.tp_vlan_tpid
                } else {
                    0x8100
                };
                buf.copy_within(12..n, 16);
                buf[12..14].copy_from_slice(&tpid.to_be_bytes());
                buf[14..16].copy_from_slice(&aux.tp_vlan_tci.to_be_bytes());
                n += 4;
            }
            return Ok(Some(n));
        }
    }

    /// (packets received, packets dropped) since the last call (PACKET_STATISTICS).
    pub fn stats(&self) -> io::Result<(u32, u32)> {
        packet_stats(self.fd.as_raw_fd())
    }
}

/// (packets received, packets dropped) by packet socket `fd` since the last call
/// (PACKET_STATISTICS).
pub fn packet_stats(fd: RawFd) -> io::Result<(u32, u32)> {
    let mut st = [0u32; 2];
    let mut len = 8u32;
    // SAFETY: PACKET_STATISTICS writes a tpacket_stats (two u32) into `st`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            st.as_mut_ptr() as *mut libc::c_void,
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st[0], st[1]))
}

/// The user ID of the process at the other end of a Unix socket (SO_PEERCRED).
pub fn peer_uid(fd: RawFd) -> io::Result<u32> {
    // SAFETY: zeroed ucred is valid; the kernel writes at most `len` bytes into it.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED on a connected Unix socket writes a ucred.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut libc::ucred as *mut libc::c_void,
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// Shuts a listening socket down: a thread blocked in its accept(2) returns (EINVAL on Linux),
/// and so does every later accept.
pub fn shutdown_listener(fd: impl AsFd) -> io::Result<()> {
    // SAFETY: shutdown(2) on a file descriptor the caller holds open (borrowed for the call).
    let r = unsafe { libc::shutdown(fd.as_fd().as_raw_fd(), libc::SHUT_RDWR) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the process umask, returning the previous one.
pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask(2) cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

/// The effective user ID of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() }
}

static STOP_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_stop_signal(sig: libc::c_int) {
    STOP_SIGNAL.store(sig, std::sync::atomic::Ordering::SeqCst);
}

/// Installs SIGINT, SIGTERM and SIGHUP handlers that record the signal; [`stop_signal`]
/// reads it. (SIGHUP would otherwise end the daemon without detaching anything.)
pub fn catch_stop_signals() {
    for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installs an async-signal-safe handler (one atomic store).
        unsafe {
            libc::signal(s, on_stop_signal as *const () as libc::sighandler_t);
        }
    }
}

/// The SIGINT/SIGTERM/SIGHUP received, if any (after [`catch_stop_signals`]).
pub fn stop_signal() -> Option<i32> {
    match STOP_SIGNAL.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// An interface's driver statistics (what `ethtool -S` shows), by name.
pub fn ethtool_stats(name: &str) -> io::Result<Vec<(String, u64)>> {
    const SIOCETHTOOL: libc::Ioctl = 0x8946;
    const ETHTOOL_GSSET_INFO: u32 = 0x37;
    const ETHTOOL_GSTRINGS: u32 = 0x1b;
    const ETHTOOL_GSTATS: u32 = 0x1d;
    const ETH_SS_STATS: u32 = 1;
    const GSTRING_LEN: usize = 32;
    let s = ctl_socket()?;
    let call = |buf: &mut [u8]| -> io::Result<()> {
        let mut r = ifreq(name)?;
        r.ifr_ifru.ifru_data = buf.as_mut_ptr() as *mut libc::c_char;
        // SAFETY: SIOCETHTOOL reads/writes the ethtool command structure in `buf`, which is
        // large enough for the command and its declared length.
        if unsafe { libc::ioctl(s.as_raw_fd(), SIOCETHTOOL, &mut r as *mut libc::ifreq) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    // struct ethtool_sset_info { u32 cmd; u32 reserved; u64 sset_mask; u32 data[]; }
    let mut info = [0u8; 24];
    info[0..4].copy_from_slice(&ETHTOOL_GSSET_INFO.to_ne_bytes());
    info[8..16].copy_from_slice(&(1u64 << ETH_SS_STATS).to_ne_bytes());
    call(&mut info)?;
    let mask = u64::from_ne_bytes(info[8..16].try_into().unwrap());
    if mask == 0 {
        return Ok(Vec::new());
    }
    let n = u32::from_ne_bytes(info[16..20].try_into().unwrap()) as usize;
    // struct ethtool_gstrings { u32 cmd; u32 string_set; u32 len; u8 data[]; }
    let mut strings = vec![0u8; 12 + n * GSTRING_LEN];
    strings[0..4].copy_from_slice(&ETHTOOL_GSTRINGS.to_ne_bytes());
    strings[4..8].copy_from_slice(&ETH_SS_STATS.to_ne_bytes());
    strings[8..12].copy_from_slice(&(n as u32).to_ne_bytes());
    call(&mut strings)?;
    // struct ethtool_stats { u32 cmd; u32 n_stats; u64 data[]; }
    let mut stats = vec![0u8; 8 + n * 8];
    stats[0..4].copy_from_slice(&ETHTOOL_GSTATS.to_ne_bytes());
    stats[4..8].copy_from_slice(&(n as u32).to_ne_bytes());
    call(&mut stats)?;
    Ok((0..n)
        .map(|i| {
            let raw = &strings[12 + i * GSTRING_LEN..12 + (i + 1) * GSTRING_LEN];
            let end = raw.iter().position(|b| *b == 0).unwrap_or(GSTRING_LEN);
            let v = u64::from_ne_bytes(stats[8 + i * 8..16 + i * 8].try_into().unwrap());
            (String::from_utf8_lossy(&raw[..end]).into_owned(), v)
        })
        .collect())
}

/// CLOCK_MONOTONIC in nanoseconds (the clock `bpf_ktime_get_ns` reads).
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `t`.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t);
    }
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// CLOCK_REALTIME in nanoseconds since the UNIX epoch (a vDSO read, no syscall: what packet
/// captures stamp their frames with).
#[inline]
pub fn realtime_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `t`.
    unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut t);
    }
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}
