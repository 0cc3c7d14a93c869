//! AF_XDP sockets and their rings, over the `libc` crate's definitions.
//!
//! A worker owns one UMEM (a [`Mapping`](super::mmap::Mapping) that its frame pool also
//! covers). Its first socket registers the UMEM; every further socket of the worker binds with
//! `XDP_SHARED_UMEM` to that socket and has its own fill and completion rings, so a frame
//! received on one interface is transmitted on another as the same descriptor.
//!
//! Rings follow the kernel's single-producer/single-consumer protocol: the producer writes
//! descriptors and then publishes its index with a release store; the consumer reads the
//! index with an acquire load, reads the descriptors, and publishes its own index. Indexes
//! are cached and refreshed only when the cached view runs out (libxdp's scheme).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// `XDP_MAX_TX_SKB_BUDGET` (Linux 6.16+): descriptors one copy-mode `sendto` may send.
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

/// Ring sizes (each a power of two).
#[derive(Debug, Clone, Copy)]
pub struct RingSizes {
    pub fill: u32,
    pub comp: u32,
    pub rx: u32,
    pub tx: u32,
}

impl Default for RingSizes {
    fn default() -> Self {
        RingSizes {
            fill: 4096,
            comp: 2048,
            rx: 4096,
            tx: 2048,
        }
    }
}

/// How the first socket of a UMEM binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Zero-copy (the driver must support it).
    ZeroCopy,
    /// Copy mode (works everywhere, the only mode veth has).
    Copy,
}

/// Where a socket's UMEM comes from.
pub enum UmemSource {
    /// Register this region (address and length of a mapping the caller keeps alive for the
    /// socket's life) with `chunk_size`-byte chunks: aligned mode when that is a power of two,
    /// else unaligned-chunk mode (received descriptors then carry their offset in the top 16
    /// bits: see [`desc_addr`]).
    Register {
        addr: u64,
        len: u64,
        chunk_size: u32,
    },
    /// Share the UMEM registered by the socket with this descriptor.
    Shared(RawFd),
}

struct RingMap {
    ptr: NonNull<u8>,
    len: usize,
}

impl Drop for RingMap {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from a successful mmap of a ring and are unmapped once.
        unsafe {
            libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.len);
        }
    }
}

/// One ring as mapped from the kernel.
struct Ring<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    descs: NonNull<T>,
    mask: u32,
    size: u32,
    cached_prod: u32,
    cached_cons: u32,
    _map: RingMap,
}

impl<T: Copy> Ring<T> {
    /// Maps ring `pgoff` of `fd` with `n` entries at the offsets `off`.
    fn map(fd: RawFd, pgoff: u64, off: &libc::xdp_ring_offset, n: u32) -> io::Result<Ring<T>> {
        let len = off.desc as usize + n as usize * std::mem::size_of::<T>();
        // SAFETY: maps a ring the kernel created for `fd` (setsockopt before this call) at the
        // documented page offset; the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = p as *mut u8;
        // SAFETY: the offsets come from XDP_MMAP_OFFSETS for this ring and lie inside the
        // mapping of `len` bytes; the producer/consumer/flags words are u32 and 4-aligned.
        unsafe {
            Ok(Ring {
                producer: NonNull::new_unchecked(base.add(off.producer as usize) as *mut AtomicU32),
                consumer: NonNull::new_unchecked(base.add(off.consumer as usize) as *mut AtomicU32),
                flags: NonNull::new_unchecked(base.add(off.flags as usize) as *mut AtomicU32),
                descs: NonNull::new_unchecked(base.add(off.desc as usize) as *mut T),
                mask: n - 1,
                size: n,
                cached_prod: 0,
                cached_cons: 0,
                _map: RingMap {
                    ptr: NonNull::new_unchecked(base),
                    len,
                },
            })
        }
    }

    #[inline]
    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the live ring mapping (kept by `_map`), shared with the kernel
        // through atomic accesses only.
        unsafe { self.producer.as_ref() }
    }
    #[inline]
    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }
    #[inline]
    fn flags(&self) -> u32 {
        // SAFETY: as for `producer`.
        unsafe { self.flags.as_ref() }.load(Ordering::Relaxed)
    }
    #[inline]
    fn slot(&self, idx: u32) -> *mut T {
        // SAFETY: `idx & mask` < size, inside the descriptor array of the mapping.
        unsafe { self.descs.as_ptr().add((idx & self.mask) as usize) }
    }
}

/// A ring userspace produces into (fill, TX).
pub struct ProdRing<T>(Ring<T>);
/// A ring userspace consumes from (completion, RX).
pub struct ConsRing<T>(Ring<T>);

impl<T: Copy> ProdRing<T> {
    fn new(mut r: Ring<T>) -> Self {
        r.cached_prod = r.producer().load(Ordering::Relaxed);
        r.cached_cons = r.consumer().load(Ordering::Acquire).wrapping_add(r.size);
        ProdRing(r)
    }
    /// Entries free for producing, refreshing the consumer index only when needed.
    #[inline]
    pub fn free(&mut self, want: u32) -> u32 {
        let r = &mut self.0;
        let free = r.cached_cons.wrapping_sub(r.cached_prod);
        if free >= want {
            return free;
        }
        r.cached_cons = r.consumer().load(Ordering::Acquire).wrapping_add(r.size);
        r.cached_cons.wrapping_sub(r.cached_prod)
    }
    /// Writes up to `n` of `items`, never more than the entries known free (call
    /// [`ProdRing::free`] first to refresh that), and publishes them. Returns how many were
    /// written: fewer than `n` only when `items` ran out or the ring had no more room, and the
    /// caller keeps ownership of whatever was not written.
    #[inline]
    pub fn produce(&mut self, items: impl IntoIterator<Item = T>, n: u32) -> u32 {
        let r = &mut self.0;
        // entries between our producer index and the consumer index last read (plus size)
        // belong to userspace; a stale consumer index only makes this smaller
        let room = r.cached_cons.wrapping_sub(r.cached_prod).min(r.size);
        let mut i = 0;
        for it in items.into_iter().take(n.min(room) as usize) {
            // SAFETY: i < room: slot cached_prod + i lies between our producer index and the
            // kernel's consumer index, so userspace owns it until the producer index is
            // published below; `slot` masks the index into the mapped descriptor array.
            unsafe { r.slot(r.cached_prod.wrapping_add(i)).write(it) };
            i += 1;
        }
        r.cached_prod = r.cached_prod.wrapping_add(i);
        r.producer().store(r.cached_prod, Ordering::Release);
        i
    }
    pub fn needs_wakeup(&self) -> bool {
        self.0.flags() & libc::XDP_RING_NEED_WAKEUP != 0
    }
    /// How many produced entries the kernel has not consumed yet.
    #[inline]
    pub fn unconsumed(&self) -> u32 {
        self.0
            .cached_prod
            .wrapping_sub(self.0.consumer().load(Ordering::Acquire))
    }
    /// Entries produced and not yet consumed by the kernel, as far as its published consumer
    /// index shows: the kernel publishes it late, so this may include entries it has taken
    /// (and even given back) already. Not a list of chunks to free.
    pub fn pending(&self) -> Vec<T> {
        let r = &self.0;
        let cons = r.consumer().load(Ordering::Acquire);
        (cons..r.cached_prod)
            // SAFETY: slots between the consumer and our producer index hold our writes.
            .map(|i| unsafe { r.slot(i).read() })
            .collect()
    }
    pub fn size(&self) -> u32 {
        self.0.size
    }
}

impl<T: Copy> ConsRing<T> {
    fn new(mut r: Ring<T>) -> Self {
        r.cached_cons = r.consumer().load(Ordering::Relaxed);
        r.cached_prod = r.producer().load(Ordering::Acquire);
        ConsRing(r)
    }
    /// Entries available, up to `want`.
    #[inline]
    pub fn available(&mut self, want: u32) -> u32 {
        let r = &mut self.0;
        let mut n = r.cached_prod.wrapping_sub(r.cached_cons);
        if n == 0 {
            r.cached_prod = r.producer().load(Ordering::Acquire);
            n = r.cached_prod.wrapping_sub(r.cached_cons);
        }
        n.min(want)
    }
    /// The `i`th available entry.
    ///
    /// # Panics
    /// When `i` is not below what [`ConsRing::available`] last saw published.
    #[inline]
    pub fn get(&self, i: u32) -> T {
        let r = &self.0;
        assert!(
            i < r.cached_prod.wrapping_sub(r.cached_cons),
            "ConsRing::get({i}) beyond the published entries"
        );
        // SAFETY: i < cached_prod - cached_cons (checked above): the kernel published this slot
        // before the producer index we read with acquire ordering, and we have not released it;
        // `slot` masks the index into the mapped descriptor array.
        unsafe { r.slot(r.cached_cons.wrapping_add(i)).read() }
    }
    /// Gives `n` consumed entries back to the kernel (at most those available).
    #[inline]
    pub fn release(&mut self, n: u32) {
        let r = &mut self.0;
        let n = n.min(r.cached_prod.wrapping_sub(r.cached_cons));
        r.cached_cons = r.cached_cons.wrapping_add(n);
        r.consumer().store(r.cached_cons, Ordering::Release);
    }
    pub fn needs_wakeup(&self) -> bool {
        self.0.flags() & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

/// Socket statistics (XDP_STATISTICS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStats {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

/// An AF_XDP socket bound to one (interface, queue).
pub struct XskSocket {
    pub fill: ProdRing<u64>,
    pub comp: ConsRing<u64>,
    pub rx: ConsRing<libc::xdp_desc>,
    pub tx: ProdRing<libc::xdp_desc>,
    pub ifindex: u32,
    pub queue: u32,
    pub zero_copy: bool,
    /// The rings use the need_wakeup protocol.
    pub need_wakeup: bool,
    fd: OwnedFd,
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: passes a pointer to a live, properly sized value of the option's type.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn getsockopt<T: Copy>(fd: RawFd, opt: libc::c_int, init: T) -> io::Result<T> {
    let mut v = init;
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `v`, a plain-data struct.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            &mut v as *mut T as *mut libc::c_void,
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}

fn ctx(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Registers the UMEM `[addr, addr + len)` in chunks of `chunk_size` on socket `s` (unaligned
/// chunk mode when the size is not a power of two).
fn register_umem(s: RawFd, addr: u64, len: u64, chunk_size: u32) -> io::Result<()> {
    // SAFETY: zeroed is a valid xdp_umem_reg (all-integer struct).
    let mut reg: libc::xdp_umem_reg = unsafe { std::mem::zeroed() };
    reg.addr = addr;
    reg.len = len;
    reg.chunk_size = chunk_size;
    reg.headroom = 0;
    if !chunk_size.is_power_of_two() {
        reg.flags = libc::XDP_UMEM_UNALIGNED_CHUNK_FLAG;
    }
    setsockopt(s, libc::XDP_UMEM_REG, &reg).map_err(|e| ctx("XDP_UMEM_REG", e))
}

type Rings = (
    ProdRing<u64>,
    ConsRing<u64>,
    ConsRing<libc::xdp_desc>,
    ProdRing<libc::xdp_desc>,
);

/// Sizes and maps socket `s`'s fill, completion, RX and TX rings.
fn map_rings(s: RawFd, sizes: RingSizes) -> io::Result<Rings> {
    setsockopt(s, libc::XDP_UMEM_FILL_RING, &sizes.fill)
        .map_err(|e| ctx("XDP_UMEM_FILL_RING", e))?;
    setsockopt(s, libc::XDP_UMEM_COMPLETION_RING, &sizes.comp)
        .map_err(|e| ctx("XDP_UMEM_COMPLETION_RING", e))?;
    setsockopt(s, libc::XDP_RX_RING, &sizes.rx).map_err(|e| ctx("XDP_RX_RING", e))?;
    setsockopt(s, libc::XDP_TX_RING, &sizes.tx).map_err(|e| ctx("XDP_TX_RING", e))?;
    // SAFETY: zeroed is a valid xdp_mmap_offsets.
    let off: libc::xdp_mmap_offsets =
        getsockopt(s, libc::XDP_MMAP_OFFSETS, unsafe { std::mem::zeroed() })
            .map_err(|e| ctx("XDP_MMAP_OFFSETS", e))?;
    let fill = ProdRing::new(
        Ring::map(s, libc::XDP_UMEM_PGOFF_FILL_RING, &off.fr, sizes.fill)
            .map_err(|e| ctx("mmap fill ring", e))?,
    );
    let comp = ConsRing::new(
        Ring::map(s, libc::XDP_UMEM_PGOFF_COMPLETION_RING, &off.cr, sizes.comp)
            .map_err(|e| ctx("mmap completion ring", e))?,
    );
    let rx = ConsRing::new(
        Ring::map(s, libc::XDP_PGOFF_RX_RING as u64, &off.rx, sizes.rx)
            .map_err(|e| ctx("mmap rx ring", e))?,
    );
    let tx = ProdRing::new(
        Ring::map(s, libc::XDP_PGOFF_TX_RING as u64, &off.tx, sizes.tx)
            .map_err(|e| ctx("mmap tx ring", e))?,
    );
    Ok((fill, comp, rx, tx))
}

/// Binds socket `s` to `ifindex`/`queue`; returns (zero-copy asked for, need-wakeup in use).
/// The socket that registers the UMEM asks for multi-buffer (`XDP_USE_SG`: jumbo frames as
/// chains of descriptors) when `sg`; the sockets sharing its UMEM inherit that.
fn bind_to(
    s: RawFd,
    umem: &UmemSource,
    ifindex: u32,
    queue: u32,
    mode: BindMode,
    sg: bool,
) -> io::Result<(bool, bool)> {
    // SAFETY: zeroed is a valid sockaddr_xdp.
    let mut sa: libc::sockaddr_xdp = unsafe { std::mem::zeroed() };
    sa.sxdp_family = libc::AF_XDP as u16;
    sa.sxdp_ifindex = ifindex;
    sa.sxdp_queue_id = queue;
    let flags = match umem {
        UmemSource::Shared(owner) => {
            sa.sxdp_flags = libc::XDP_SHARED_UMEM;
            sa.sxdp_shared_umem_fd = *owner as u32;
            (false, true)
        }
        UmemSource::Register { .. } => {
            sa.sxdp_flags = libc::XDP_USE_NEED_WAKEUP
                | if sg { libc::XDP_USE_SG } else { 0 }
                | if mode == BindMode::ZeroCopy {
                    libc::XDP_ZEROCOPY
                } else {
                    libc::XDP_COPY
                };
            (mode == BindMode::ZeroCopy, true)
        }
    };
    // SAFETY: binds with a fully initialised sockaddr_xdp of the right size.
    let r = unsafe {
        libc::bind(
            s,
            &sa as *const libc::sockaddr_xdp as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(ctx(
            &format!("bind AF_XDP socket to ifindex {ifindex} queue {queue}"),
            io::Error::last_os_error(),
        ));
    }
    Ok(flags)
}

impl XskSocket {
    /// Creates a socket, sets up its rings, and binds it to `ifindex`/`queue`.
    pub fn bind(
        umem: &UmemSource,
        ifindex: u32,
        queue: u32,
        sizes: RingSizes,
        mode: BindMode,
    ) -> io::Result<XskSocket> {
        // SAFETY: plain socket(2); the descriptor is owned immediately.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(ctx("socket(AF_XDP)", io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh, valid descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let s = fd.as_raw_fd();
        if let UmemSource::Register {
            addr,
            len,
            chunk_size,
        } = umem
        {
            register_umem(s, *addr, *len, *chunk_size)?;
        }
        let (fill, comp, rx, tx) = map_rings(s, sizes)?;
        // multi-buffer first; a kernel or driver without it binds without (one-chunk frames)
        let (zero_copy, need_wakeup) = bind_to(s, umem, ifindex, queue, mode, true)
            .or_else(|_| bind_to(s, umem, ifindex, queue, mode, false))?;
        // Let one sendto() move the whole TX ring in copy mode (older kernels refuse: fine).
        let _ = setsockopt(s, XDP_MAX_TX_SKB_BUDGET, &sizes.tx);
        let sock = XskSocket {
            fill,
            comp,
            rx,
            tx,
            ifindex,
            queue,
            zero_copy,
            need_wakeup,
            fd,
        };
        let zc = sock
            .options()
            .map(|o| o & libc::XDP_OPTIONS_ZEROCOPY != 0)
            .unwrap_or(zero_copy);
        Ok(XskSocket {
            zero_copy: zc,
            ..sock
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn options(&self) -> io::Result<u32> {
        // SAFETY: zeroed is a valid xdp_options.
        let o: libc::xdp_options =
            getsockopt(self.fd(), libc::XDP_OPTIONS, unsafe { std::mem::zeroed() })?;
        Ok(o.flags)
    }

    /// Kicks the kernel to transmit what is on the TX ring (what happened is not told: see
    /// [`XskSocket::kick_tx_status`]).
    #[inline]
    pub fn kick_tx(&self) -> io::Result<()> {
        self.kick_tx_status().map(|_| ())
    }

    /// Kicks the kernel to transmit what is on the TX ring, and says how it went.
    ///
    /// In copy mode (`xsk_generic_xmit`) the kernel sends descriptors one by one until the ring
    /// is empty or its budget is spent: `EBUSY` means it consumed and *completed* one frame it
    /// did not send (the device answered `NET_XMIT_DROP`: carrier off, or the driver or the
    /// veth peer dropped it) and stopped there; `EAGAIN` (and `ENOBUFS`) that it stopped with
    /// the frame still on the ring, to retry; `ENETDOWN` that the device is down and nothing
    /// was consumed.
    #[inline]
    pub fn kick_tx_status(&self) -> io::Result<TxKick> {
        // SAFETY: sendto with a null buffer of length 0 is the documented AF_XDP TX wakeup.
        let r = unsafe {
            libc::sendto(
                self.fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if r >= 0 {
            return Ok(TxKick::Done);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::ENOBUFS) => Ok(TxKick::Again),
            Some(libc::EBUSY) => Ok(TxKick::DroppedOne),
            Some(libc::ENETDOWN) => Ok(TxKick::Down),
            _ => Err(e),
        }
    }

    /// Wakes the kernel to process the fill ring (RX).
    #[inline]
    pub fn kick_rx(&self) {
        // SAFETY: recvfrom with a null buffer of length 0 is the documented RX wakeup.
        unsafe {
            libc::recvfrom(
                self.fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }

    pub fn stats(&self) -> io::Result<XskStats> {
        socket_stats(self.fd())
    }
}

/// What a TX kick did (see [`XskSocket::kick_tx_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKick {
    /// The kernel took what it could (the ring is empty, or the completion ring is full).
    Done,
    /// It stopped early (budget spent, device busy): kick again later.
    Again,
    /// It completed one frame without sending it (`EBUSY`), and stopped there.
    DroppedOne,
    /// The device is down (`ENETDOWN`): nothing was consumed.
    Down,
}

/// The statistics (XDP_STATISTICS) of the AF_XDP socket `fd`. Any thread may ask, as long as
/// the socket stays open meanwhile.
pub fn socket_stats(fd: RawFd) -> io::Result<XskStats> {
    // SAFETY: zeroed is a valid xdp_statistics.
    let s: libc::xdp_statistics =
        getsockopt(fd, libc::XDP_STATISTICS, unsafe { std::mem::zeroed() })?;
    Ok(XskStats {
        rx_dropped: s.rx_dropped,
        rx_invalid_descs: s.rx_invalid_descs,
        tx_invalid_descs: s.tx_invalid_descs,
        rx_ring_full: s.rx_ring_full,
        rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
        tx_ring_empty_descs: s.tx_ring_empty_descs,
    })
}

// SAFETY: the rings are mappings owned by this socket; moving the socket moves ownership of
// the mappings and the descriptor. Only one thread uses a socket at a time (`&mut self`).
unsafe impl Send for XskSocket {}

/// The UMEM offset of a received descriptor's address. In unaligned-chunk mode the kernel
/// returns the chunk's address with the data's offset in the top 16 bits; in aligned mode the
/// top bits are zero, so this is the identity.
#[inline]
pub fn desc_addr(raw: u64) -> u64 {
    (raw & libc::XSK_UNALIGNED_BUF_ADDR_MASK) + (raw >> libc::XSK_UNALIGNED_BUF_OFFSET_SHIFT)
}

/// Waits up to `timeout_ms` for any of `fds` to become readable.
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> io::Result<usize> {
    PollSet::new(fds).wait(timeout_ms)
}

/// Descriptors to wait on for reading, prepared once: waiting allocates nothing (a worker's
/// idle wait must not take the allocator's locks, which other threads hold).
#[derive(Debug, Default)]
pub struct PollSet(Vec<libc::pollfd>);

impl PollSet {
    pub fn new(fds: &[RawFd]) -> PollSet {
        PollSet(
            fds.iter()
                .map(|&fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits up to `timeout_ms` for any of the descriptors to become readable.
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<usize> {
        let p = &mut self.0;
        // SAFETY: passes a valid array of pollfd of the stated length.
        let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(r as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::desc_addr;

    #[test]
    fn descriptor_addresses_in_both_chunk_modes() {
        // aligned mode: the address is the data's offset
        assert_eq!(desc_addr(4096 * 3 + 256), 4096 * 3 + 256);
        // unaligned mode: chunk 3968 * 5, data 256 bytes in (fixture from the kernel's
        // xp_get_handle: orig_addr + (offset << 48))
        let raw = 3968 * 5 + (256u64 << 48);
        assert_eq!(desc_addr(raw), 3968 * 5 + 256);
        // an XDP program that moved the data start shows in the offset
        assert_eq!(desc_addr(7936 + (300u64 << 48)), 7936 + 300);
    }
}
