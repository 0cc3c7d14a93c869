//! The `unsafe` edge of the DPDK backend: declarations of the C shim (`dpdk_shim.c`) and safe
//! wrappers over them. Everything above (`crate::dataplane::dpdk`) is safe code.
//!
//! The one piece of shared memory is the [`Area`]: a worker's frames, one DPDK mempool object
//! per chunk of 2368 or 3968 bytes (see the shim's header comment for the layout, and why not
//! 4096). The worker's `Pool` reads and writes frame bytes through the area's [`Mapping`] view
//! ([`Area::view`]) and exchanges free chunks with the mempool; DPDK drivers write only into
//! mbufs they took from the mempool.
//!
//! Frames cross the shim as [`crate::frame::Frame`] descriptors (the frame ABI).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::frame::{Frame, CHAINED, MAX_SEGMENTS, MIN_HEAD, SEG_LINK_LEN, VTAG_PRESENT};
use crate::sys::mmap::Mapping;

/// Bytes per chunk (one mempool object: header, mbuf, buffer) by default: the shim's
/// `XG_CHUNK_STD`, DPDK's default mbuf. Not a power of two, so that mbuf headers spread over
/// the cache sets (see the shim); an AF_XDP socket on an area registers it in unaligned-chunk
/// mode.
pub const CHUNK: usize = crate::frame::AREA_CHUNK_SIZE;
/// Bytes per chunk with large mbufs: the shim's `XG_CHUNK_LARGE`.
pub const CHUNK_LARGE: usize = crate::frame::AREA_CHUNK_LARGE;
/// The mbuf buffer sizes (`--dpdk-mbuf-size`, counted as testpmd's `--mbuf-size`: headroom
/// and data) of the two layouts, [`CHUNK`] and [`CHUNK_LARGE`].
pub const MBUF_SIZES: [u16; 2] = [(CHUNK - BUF_START) as u16, (CHUNK_LARGE - BUF_START) as u16];

/// The chunk size of the layout whose mbuf buffers are `mbuf_size` bytes (0: the default).
pub fn chunk_for_mbuf_size(mbuf_size: u16) -> Option<usize> {
    match mbuf_size {
        0 => Some(CHUNK),
        s => [CHUNK, CHUNK_LARGE]
            .into_iter()
            .find(|c| c - BUF_START == s as usize),
    }
}
/// The chunk size of an area that could not be made IOVA-contiguous where devices see
/// physical addresses: a page, so no chunk straddles two ([`Area::chunk_size`] says which).
pub const PAGE_CHUNK: usize = crate::frame::CHUNK_SIZE;

/// Offset in a chunk where an mbuf's buffer starts (object header 64 + `rte_mbuf` 128). Frame
/// bytes never go below it.
pub const BUF_START: usize = 192;

/// The headroom DPDK drivers leave before a received frame (`RTE_PKTMBUF_HEADROOM`).
pub const MBUF_HEADROOM: usize = 128;

// The shim writes and reads jumbo frames' segment links itself (XG_CHAINED, XG_MAX_SEGS,
// XG_MIN_HEAD, XG_LINK_LEN, a link at the start of the mbuf's buffer, i.e. at BUF_START, the
// pool's reserved bytes): these must stay what crate::frame and crate::buf say.
const _: () = assert!(CHAINED == 1 << 30);
const _: () = assert!(MAX_SEGMENTS == 18);
const _: () = assert!(MIN_HEAD == 256);
const _: () = assert!(SEG_LINK_LEN == 16);

/// `RTE_ETH_RX_OFFLOAD_SCATTER` and `RTE_ETH_TX_OFFLOAD_MULTI_SEGS` (the shim checks the bits).
const RX_OFFLOAD_SCATTER: u64 = 1 << 13;
const TX_OFFLOAD_MULTI_SEGS: u64 = 1 << 15;

#[repr(C)]
struct XgArea {
    mz: *const c_void,
    mp: *mut c_void,
    base: *mut u8,
    len: u64,
    nchunks: u32,
    hdr: u32,
    chunk: u32,
    dma_ok: u32,
}

#[repr(C)]
struct XgInfo {
    max_rxq: u16,
    max_txq: u16,
    min_mtu: u16,
    max_mtu: u16,
    if_index: u32,
    max_rx_pktlen: u32,
    rss_offloads: u64,
    rx_offloads: u64,
    tx_offloads: u64,
    driver: [c_char; 64],
}

/// What the shim's `xg_tx` returns when a frame is longer than it may send (`XG_TX_TOO_BIG`).
const TX_TOO_BIG: u16 = u16::MAX;

/// What one RX burst refused, copied or chained (the shim's `struct xg_rx_counts`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct RxCounts {
    /// Frames of more segments than a chain may have ([`MAX_SEGMENTS`]): dropped.
    pub too_many_segs: u32,
    /// Frames from another mempool (or shared mbufs) copied into the area.
    pub copied: u32,
    /// Frames to copy for which the area had no free chunks: dropped.
    pub nobuf: u32,
    /// Frames received as chains (jumbo frames).
    pub chained: u32,
}

/// What a direct cross-connect burst handed on (the shim's `struct xg_fwd`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Forwarded {
    /// Octets of the frames received and handed on.
    pub octets: u64,
    /// Frames received and handed on (0 when the burst was converted instead).
    pub rx: u32,
    /// Of those, the frames the driver took; the rest were freed (TX ring full).
    pub sent: u32,
}

impl RxCounts {
    pub fn any(&self) -> bool {
        self.too_many_segs | self.copied | self.nobuf | self.chained != 0
    }
}

extern "C" {
    fn xg_errno() -> c_int;
    fn xg_strerror(e: c_int) -> *const c_char;
    fn xg_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int;
    fn xg_eal_cleanup() -> c_int;
    fn xg_area_create(
        name: *const c_char,
        n: u32,
        chunk: u32,
        socket: c_int,
        a: *mut XgArea,
        err: *mut c_char,
        errlen: usize,
    ) -> c_int;
    fn xg_area_free(a: *mut XgArea);
    fn xg_area_avail(a: *const XgArea) -> u32;
    fn xg_thread_register() -> c_int;
    fn xg_thread_unregister(a: *const XgArea);
    fn xg_area_take(a: *const XgArea, chunks: *mut u64, n: u32) -> u32;
    fn xg_area_give(a: *const XgArea, chunks: *const u64, n: u32);
    fn xg_area_audit(a: *const XgArea, home: *mut u32, dups: *mut u32, kept: *mut u32) -> c_int;
    fn xg_rx(
        a: *const XgArea,
        port: u16,
        q: u16,
        out: *mut Frame,
        n: u16,
        vtag_present: u32,
        counts: *mut RxCounts,
    ) -> u16;
    fn xg_fwd(
        a: *const XgArea,
        rport: u16,
        rq: u16,
        tport: u16,
        tq: u16,
        max_len: u32,
        out: *mut Frame,
        vtag_present: u32,
        counts: *mut RxCounts,
        fwd: *mut Forwarded,
    ) -> u16;
    fn xg_tx(
        a: *const XgArea,
        port: u16,
        q: u16,
        frames: *const Frame,
        n: u16,
        max_len: u32,
    ) -> u16;
    fn xg_eth_next(after: c_int) -> c_int;
    fn xg_eth_name(port: u16, buf: *mut c_char, len: usize) -> c_int;
    fn xg_eth_info(port: u16, out: *mut XgInfo) -> c_int;
    fn xg_eth_is_virtual(port: u16) -> c_int;
    fn xg_eth_setup(
        port: u16,
        nrx: u16,
        ntx: u16,
        areas: *const *const XgArea,
        mtu: u32,
        nb_rxd: *mut u16,
        nb_txd: *mut u16,
        err: *mut c_char,
        errlen: usize,
    ) -> c_int;
    fn xg_eth_stop_close(port: u16) -> c_int;
    fn xg_eth_mac(port: u16, out: *mut u8) -> c_int;
    fn xg_eth_set_mac(port: u16, mac: *const u8) -> c_int;
    fn xg_eth_promisc(port: u16) -> c_int;
    fn xg_eth_set_promisc(port: u16, on: c_int) -> c_int;
    fn xg_eth_set_mc(port: u16, macs: *const u8, n: u32) -> c_int;
    fn xg_eth_link(port: u16) -> c_int;
    fn xg_eth_stats(port: u16, out: *mut u64) -> c_int;
    fn xg_dev_probe(devargs: *const c_char) -> c_int;
    fn xg_dev_remove(port: u16) -> c_int;
    fn xg_ring_port(
        name: *const c_char,
        nq: u16,
        rx: *mut *mut c_void,
        tx: *mut *mut c_void,
        err: *mut c_char,
        errlen: usize,
    ) -> c_int;
    fn xg_ring_free(r: *mut c_void);
    fn xg_test_pool(name: *const c_char, n: u32) -> *mut c_void;
    fn xg_pool_avail(mp: *mut c_void) -> u32;
    fn xg_pool_size(mp: *mut c_void) -> u32;
    fn xg_pool_free(mp: *mut c_void);
    fn xg_ring_inject(ring: *mut c_void, mp: *mut c_void, data: *const u8, len: u32) -> c_int;
    fn xg_ring_take(ring: *mut c_void, buf: *mut u8, cap: u32) -> c_int;
    fn xg_ring_wire(from: *mut c_void, to: *mut c_void, max: u32) -> c_int;
    // librte_eal
    fn rte_eal_get_runtime_dir() -> *const c_char;
}

/// A DPDK error: what was being done and DPDK's reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DpdkError(pub String);

fn strerror(e: c_int) -> String {
    // SAFETY: rte_strerror returns a pointer to a NUL-terminated string in static or
    // thread-local storage, valid until the next call on this thread; copied at once.
    unsafe { CStr::from_ptr(xg_strerror(e.abs())) }
        .to_string_lossy()
        .into_owned()
}

fn errbuf_string(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn cstring(s: &str) -> Result<CString, DpdkError> {
    CString::new(s).map_err(|_| DpdkError(format!("{s:?} contains a NUL byte")))
}

/// Starts DPDK's EAL with `args` (the program name first). Once per process.
pub fn eal_init(args: &[String]) -> Result<(), DpdkError> {
    let cs: Vec<CString> = args.iter().map(|a| cstring(a)).collect::<Result<_, _>>()?;
    let mut ptrs: Vec<*mut c_char> = cs.iter().map(|c| c.as_ptr() as *mut c_char).collect();
    ptrs.push(std::ptr::null_mut());
    // SAFETY: argv is a NULL-terminated array of `args.len()` valid C strings that outlive
    // the call (`cs`). rte_eal_init may permute the array, not the strings.
    let r = unsafe { xg_eal_init(cs.len() as c_int, ptrs.as_mut_ptr()) };
    if r < 0 {
        return Err(DpdkError(format!(
            "EAL initialisation failed: {} (arguments: {})",
            strerror(r),
            args[1..].join(" ")
        )));
    }
    Ok(())
}

/// The EAL's runtime directory (`/var/run/dpdk/<file-prefix>`, or under `$XDG_RUNTIME_DIR`
/// when not root), once the EAL has started.
pub fn runtime_dir() -> Option<std::path::PathBuf> {
    // SAFETY: returns a pointer to the EAL's static, NUL-terminated path buffer (empty before
    // the EAL starts); copied at once.
    let p = unsafe { CStr::from_ptr(rte_eal_get_runtime_dir()) };
    let s = p.to_str().ok().filter(|s| !s.is_empty())?;
    Some(std::path::PathBuf::from(s))
}

static RUNTIME_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

extern "C" fn remove_runtime_dir_at_exit() {
    if let Some(d) = RUNTIME_DIR.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Removes `dir` (the EAL's runtime directory) when the process exits normally, whether or not
/// the EAL was cleaned up (a test process never is). Once per process.
pub fn remove_at_exit(dir: std::path::PathBuf) {
    if RUNTIME_DIR.set(dir).is_ok() {
        // SAFETY: registers a plain function with no arguments; it only removes files.
        unsafe {
            libc::atexit(remove_runtime_dir_at_exit);
        }
    }
}

/// Releases the EAL's resources (after every port is closed and area freed).
pub fn eal_cleanup() {
    // SAFETY: called once, after the last DPDK object this process made is gone.
    unsafe {
        xg_eal_cleanup();
    }
}

/// A worker's frame area: a memzone of [`CHUNK`]- or [`CHUNK_LARGE`]-byte chunks, each one
/// mbuf of a mempool.
pub struct Area {
    a: XgArea,
    view_taken: AtomicBool,
}

// SAFETY: the area is DPDK memory plus a mempool, both usable from any thread (mempool
// get/put are thread-safe); the raw pointers are owned by this value until drop.
unsafe impl Send for Area {}
// SAFETY: shared access only reads the immutable descriptor or calls thread-safe mempool
// functions; byte access goes through the single view (`Area::view`).
unsafe impl Sync for Area {}

impl Area {
    /// Creates an area of `chunks` chunks of `chunk` bytes ([`CHUNK`] or [`CHUNK_LARGE`]) named
    /// `name` (unique among live areas).
    pub fn new(name: &str, chunks: u32, chunk: usize) -> Result<Arc<Area>, DpdkError> {
        let n = cstring(name)?;
        let mut err = [0 as c_char; 256];
        let mut a = XgArea {
            mz: std::ptr::null(),
            mp: std::ptr::null_mut(),
            base: std::ptr::null_mut(),
            len: 0,
            nchunks: 0,
            hdr: 0,
            chunk: 0,
            dma_ok: 0,
        };
        // SAFETY: `a` and `err` are valid for writes of their sizes; the name outlives the call.
        let r = unsafe {
            xg_area_create(
                n.as_ptr(),
                chunks,
                chunk as u32,
                -1,
                &mut a,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        if r != 0 {
            return Err(DpdkError(format!(
                "frame area {name}: {}",
                errbuf_string(&err)
            )));
        }
        debug_assert_eq!(a.hdr as usize + 128, BUF_START);
        if a.hdr as usize + 128 != BUF_START {
            let mut a = a;
            // SAFETY: `a` was just created and is freed once.
            unsafe { xg_area_free(&mut a) };
            return Err(DpdkError(
                "this DPDK's mempool object header is not 64 bytes".into(),
            ));
        }
        Ok(Arc::new(Area {
            a,
            view_taken: AtomicBool::new(false),
        }))
    }

    pub fn chunks(&self) -> u32 {
        self.a.nchunks
    }
    /// Bytes per chunk: as asked ([`CHUNK`] or [`CHUNK_LARGE`]), or [`PAGE_CHUNK`] when the
    /// area could not be made IOVA-contiguous for devices that see physical addresses.
    pub fn chunk_size(&self) -> usize {
        self.a.chunk as usize
    }
    /// Whether a device that DMAs to physical addresses may use the area (its chunks are
    /// IOVA-contiguous, or IOVAs are virtual addresses).
    pub fn dma_ok(&self) -> bool {
        self.a.dma_ok != 0
    }
    /// Chunks in the mempool now (all of them once every frame has been returned).
    pub fn available(&self) -> u32 {
        // SAFETY: the mempool lives as long as `self`.
        unsafe { xg_area_avail(&self.a) }
    }
    /// Counts the chunks home (each once), those found twice (double frees) and those a
    /// driver kept at close, and puts every chunk back once. Only when nothing can hold a
    /// chunk any more: every device using the area closed, its pool dropped.
    pub fn audit(self: &Arc<Self>) -> Result<(u32, u32, u32), DpdkError> {
        // the pool's view and source, and every port's queues, hold references
        if Arc::strong_count(self) != 1 {
            return Err(DpdkError("the frame area is still in use".into()));
        }
        let (mut home, mut dups, mut kept) = (0u32, 0u32, 0u32);
        // SAFETY: the out-pointers are valid; no pool or port holds the area (checked above)
        // and its devices are closed (the data plane closes them first), so taking every
        // object out of the mempool races with nobody.
        let r = unsafe { xg_area_audit(&self.a, &mut home, &mut dups, &mut kept) };
        if r != 0 {
            return Err(DpdkError(format!(
                "auditing the frame area: {}",
                strerror(r)
            )));
        }
        Ok((home, dups, kept))
    }

    /// Registers the calling thread (the area's worker) with the EAL, so that it uses the
    /// mempool's per-lcore cache. False when the EAL has no lcore id left (it then works
    /// without a cache).
    pub fn register_thread(&self) -> bool {
        // SAFETY: registers the calling thread only.
        unsafe { xg_thread_register() == 0 }
    }
    /// Flushes the calling thread's mempool cache into the mempool and unregisters it; the
    /// last thing a worker does with the area.
    pub fn unregister_thread(&self) {
        // SAFETY: acts on the calling thread's own cache and lcore id.
        unsafe { xg_thread_unregister(&self.a) }
    }

    /// Start address and length (to register the area as an AF_XDP UMEM).
    pub fn addr_len(&self) -> (u64, u64) {
        (self.a.base as u64, self.a.len)
    }

    /// The bytes of the area, for the worker's pool (which keeps the area alive through it).
    /// At most one.
    pub fn view(self: &Arc<Self>) -> Option<Mapping> {
        if self.view_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: `base` points to `len` bytes of DPDK memory that live as long as the area,
        // which the mapping owns a reference to. DPDK drivers write only into mbufs they hold
        // (taken from the mempool), and the worker reads only chunks it holds, so no byte is
        // read while a driver writes it; `view_taken` makes this the only view.
        Some(unsafe { Mapping::external(self.a.base, self.a.len as usize, Box::new(self.clone())) })
    }

    /// Bytes of frame one mbuf of the area holds as a driver receives into it (after
    /// [`MBUF_HEADROOM`]); a longer frame takes several mbufs (a chain).
    pub fn rx_room(&self) -> usize {
        self.chunk_size() - BUF_START - MBUF_HEADROOM
    }

    /// Receives up to `out.len()` (≤ 64) frames from `port` queue `q` straight into `out` (a
    /// VLAN tag the driver stripped becomes the frame's out-of-band tag; an mbuf chain of the
    /// area becomes a chained frame in place). Returns the number written and what was
    /// refused, copied or chained.
    #[inline]
    pub fn rx(&self, port: u16, q: u16, out: &mut [Frame]) -> (usize, RxCounts) {
        let mut c = RxCounts::default();
        // SAFETY: the shim writes at most min(out.len(), 64) frames into `out`; `Frame` is
        // #[repr(C)] {u64, u32, u32}, the layout of the shim's `struct xg_frame` (checked by
        // its _Static_assert on the size and by the field order here), and `c` is the shim's
        // `struct xg_rx_counts` (four u32s). The mempool and port outlive the call. Received
        // mbufs stay owned by the area (their chunks are the addresses returned; a chain's
        // links are written in its chunks' reserved headroom, which the pool never hands out).
        let got = unsafe {
            xg_rx(
                &self.a,
                port,
                q,
                out.as_mut_ptr(),
                out.len().min(64) as u16,
                VTAG_PRESENT,
                &mut c,
            )
        };
        (got as usize, c)
    }

    /// A direct cross-connect burst: receives up to 64 frames on `rport` queue `rq` and hands
    /// their mbufs untouched to `tport` queue `tq` (no conversion; mbufs the driver refuses are
    /// freed). When a frame of the burst is one the graph would not pass on unchanged (shorter
    /// than an Ethernet header, longer than `max_len`, with a VLAN tag the device stripped),
    /// nothing is handed on: the burst is converted into `out` as [`Area::rx`] does and the
    /// first value says how many frames it holds.
    #[inline]
    pub fn forward(
        &self,
        (rport, rq): (u16, u16),
        (tport, tq): (u16, u16),
        max_len: u32,
        out: &mut [Frame],
    ) -> (usize, RxCounts, Forwarded) {
        let (mut c, mut f) = (RxCounts::default(), Forwarded::default());
        assert!(out.len() >= 64, "a direct burst may need 64 frames of room");
        // SAFETY: as for `rx` (the shim converts at most 64 mbufs into `out`, which has room
        // for them), and `f` is the shim's `struct xg_fwd` ({u64, u32, u32}). The mbufs handed
        // on are the driver's from reception to transmission: no frame of ours is involved.
        let got = unsafe {
            xg_fwd(
                &self.a,
                rport,
                rq,
                tport,
                tq,
                max_len,
                out.as_mut_ptr(),
                VTAG_PRESENT,
                &mut c,
                &mut f,
            )
        };
        (got as usize, c, f)
    }

    /// Transmits up to 64 of `frames` on `port` queue `q`; returns how many the driver took
    /// (the first ones; the rest stay the caller's). A chained frame leaves as an mbuf chain.
    /// `None`, with nothing sent, when one of those frames is longer than `max_len`.
    #[inline]
    pub fn tx(&self, port: u16, q: u16, frames: &[Frame], max_len: u32) -> Option<usize> {
        let n = frames.len().min(64);
        // SAFETY: `frames` has n readable entries of the shim's `struct xg_frame` layout; every
        // address is a frame of this area owned by the caller (from the graph), at or above
        // BUF_START in its chunk, and a chained frame's links (the pool's) name segments of
        // this area; the driver takes ownership of those it accepts (every chunk of a chain).
        let sent = unsafe { xg_tx(&self.a, port, q, frames.as_ptr(), n as u16, max_len) };
        (sent != TX_TOO_BIG).then_some(sent as usize)
    }

    /// Takes up to `out.len()` (≤ 256) free chunks from the mempool (all or none).
    pub fn take(&self, out: &mut [u64]) -> usize {
        let n = out.len().min(256) as u32;
        // SAFETY: `out` has room for n entries; the mempool lives as long as self.
        unsafe { xg_area_take(&self.a, out.as_mut_ptr(), n) as usize }
    }
    /// Returns free chunks to the mempool.
    pub fn give(&self, chunks: &[u64]) {
        // SAFETY: each chunk belongs to this area and is free (the pool's bookkeeping
        // guarantees it is given once).
        unsafe { xg_area_give(&self.a, chunks.as_ptr(), chunks.len() as u32) }
    }

    /// The mempool pointer's identity (for the shim's queue setup).
    fn raw(&self) -> *const XgArea {
        &self.a
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: the last reference is gone: no view, no port queue uses the mempool any more
        // (the data plane closes ports before dropping areas). Freed once.
        unsafe { xg_area_free(&mut self.a) };
    }
}

/// Ports the EAL found (ids).
pub fn eth_ports() -> Vec<u16> {
    let mut v = Vec::new();
    let mut p: c_int = -1;
    loop {
        // SAFETY: plain query of the ethdev table.
        p = unsafe { xg_eth_next(p) };
        if p < 0 {
            return v;
        }
        v.push(p as u16);
    }
}

/// A device's name (`net_ring0`, `0000:03:00.0`).
pub fn eth_name(port: u16) -> Result<String, DpdkError> {
    let mut buf = [0 as c_char; 128];
    // SAFETY: buf is valid for its length.
    let r = unsafe { xg_eth_name(port, buf.as_mut_ptr(), buf.len()) };
    if r != 0 {
        return Err(DpdkError(format!("port {port}: {}", strerror(r))));
    }
    Ok(errbuf_string(&buf))
}

/// What a device supports.
#[derive(Debug, Clone)]
pub struct EthInfo {
    pub max_rxq: u16,
    pub max_txq: u16,
    pub min_mtu: u16,
    pub max_mtu: u16,
    pub if_index: u32,
    /// Longest frame the device receives (`max_rx_pktlen`; u32::MAX: no limit).
    pub max_rx_pktlen: u32,
    /// The device receives a frame over several mbufs (`RTE_ETH_RX_OFFLOAD_SCATTER`).
    pub rx_scatter: bool,
    /// The device sends mbuf chains (`RTE_ETH_TX_OFFLOAD_MULTI_SEGS`).
    pub tx_multi_segs: bool,
    pub driver: String,
}

/// Whether `port` is a software device (vdev bus), which never DMAs.
pub fn eth_is_virtual(port: u16) -> bool {
    // SAFETY: plain query of a port number (invalid ones answer 0).
    unsafe { xg_eth_is_virtual(port) != 0 }
}

pub fn eth_info(port: u16) -> Result<EthInfo, DpdkError> {
    let mut i = XgInfo {
        max_rxq: 0,
        max_txq: 0,
        min_mtu: 0,
        max_mtu: 0,
        if_index: 0,
        max_rx_pktlen: 0,
        rss_offloads: 0,
        rx_offloads: 0,
        tx_offloads: 0,
        driver: [0; 64],
    };
    // SAFETY: `i` is valid for writes.
    let r = unsafe { xg_eth_info(port, &mut i) };
    if r != 0 {
        return Err(DpdkError(format!("port {port}: {}", strerror(r))));
    }
    Ok(EthInfo {
        max_rxq: i.max_rxq,
        max_txq: i.max_txq,
        min_mtu: i.min_mtu,
        max_mtu: i.max_mtu,
        if_index: i.if_index,
        max_rx_pktlen: i.max_rx_pktlen,
        rx_scatter: i.rx_offloads & RX_OFFLOAD_SCATTER != 0,
        tx_multi_segs: i.tx_offloads & TX_OFFLOAD_MULTI_SEGS != 0,
        driver: errbuf_string(&i.driver),
    })
}

/// Configures and starts a port: RX queue q filled from `rx_areas[q]`, `ntx` TX queues, rings of
/// `nb_desc` (0: the driver's preference), MTU `mtu` (0: DPDK's default, 1500; RX scatter and
/// TX multi-segs are asked for when a frame does not fit one mbuf and the driver has them).
/// Returns the RX and TX ring sizes used.
pub fn eth_setup(
    port: u16,
    rx_areas: &[Arc<Area>],
    ntx: u16,
    nb_desc: u16,
    mtu: u32,
) -> Result<(u16, u16), DpdkError> {
    let ptrs: Vec<*const XgArea> = rx_areas.iter().map(|a| a.raw()).collect();
    let mut err = [0 as c_char; 256];
    let (mut rxd, mut txd) = (nb_desc, nb_desc);
    // SAFETY: ptrs has rx_areas.len() valid area pointers kept alive by `rx_areas` (and by
    // the port's owner for as long as the port runs); rxd/txd are valid u16s the shim reads
    // and writes back; err is valid for its length.
    let r = unsafe {
        xg_eth_setup(
            port,
            ptrs.len() as u16,
            ntx,
            ptrs.as_ptr(),
            mtu,
            &mut rxd,
            &mut txd,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if r != 0 {
        return Err(DpdkError(errbuf_string(&err)));
    }
    Ok((rxd, txd))
}

/// Stops and closes a port (its driver frees the mbufs it held back to their mempools).
pub fn eth_stop_close(port: u16) {
    // SAFETY: plain ethdev call; the port's queues are no longer polled.
    unsafe {
        xg_eth_stop_close(port);
    }
}

fn check(what: &str, r: c_int) -> std::io::Result<()> {
    if r < 0 {
        Err(std::io::Error::other(format!("{what}: {}", strerror(r))))
    } else {
        Ok(())
    }
}

pub fn eth_mac(port: u16) -> [u8; 6] {
    let mut m = [0u8; 6];
    // SAFETY: m has 6 bytes.
    unsafe { xg_eth_mac(port, m.as_mut_ptr()) };
    m
}
pub fn eth_set_mac(port: u16, mac: [u8; 6]) -> std::io::Result<()> {
    // SAFETY: mac has 6 bytes.
    check("setting the MAC address", unsafe {
        xg_eth_set_mac(port, mac.as_ptr())
    })
}
pub fn eth_promisc(port: u16) -> bool {
    // SAFETY: plain query.
    unsafe { xg_eth_promisc(port) == 1 }
}
pub fn eth_set_promisc(port: u16, on: bool) -> std::io::Result<()> {
    // SAFETY: plain ethdev call.
    check("setting promiscuous mode", unsafe {
        xg_eth_set_promisc(port, on as c_int)
    })
}
pub fn eth_set_multicast(port: u16, macs: &[[u8; 6]]) -> std::io::Result<()> {
    let flat: Vec<u8> = macs.iter().flatten().copied().collect();
    // SAFETY: flat holds 6 bytes per address.
    check("setting the multicast list", unsafe {
        xg_eth_set_mc(port, flat.as_ptr(), macs.len() as u32)
    })
}
/// Link up?
pub fn eth_link_up(port: u16) -> bool {
    // SAFETY: plain query.
    unsafe { xg_eth_link(port) == 1 }
}
/// ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf.
pub fn eth_stats(port: u16) -> Option<[u64; 8]> {
    let mut s = [0u64; 8];
    // SAFETY: s has 8 entries.
    (unsafe { xg_eth_stats(port, s.as_mut_ptr()) } == 0).then_some(s)
}
/// Hot-plugs a device (`net_null9`, `net_af_xdp1,iface=veth1`).
pub fn dev_probe(devargs: &str) -> Result<(), DpdkError> {
    let c = cstring(devargs)?;
    // SAFETY: c is a valid C string for the call.
    let r = unsafe { xg_dev_probe(c.as_ptr()) };
    if r < 0 {
        return Err(DpdkError(format!("probing {devargs}: {}", strerror(r))));
    }
    Ok(())
}

/// Unplugs the device behind ethdev `port` (hot-plugged by [`dev_probe`], never started).
pub fn dev_remove(port: u16) -> Result<(), DpdkError> {
    // SAFETY: plain ethdev/bus call; the port is not used by any queue (never started).
    let r = unsafe { xg_dev_remove(port) };
    if r < 0 {
        return Err(DpdkError(format!("removing port {port}: {}", strerror(r))));
    }
    Ok(())
}

/// The last DPDK error number on this thread, as text.
pub fn last_error() -> String {
    // SAFETY: reads rte_errno.
    strerror(unsafe { xg_errno() })
}

/// An ethdev over rings the caller owns (net_ring's `rte_eth_from_rings`), for tests: frames
/// injected on the RX rings are received by the port; what the port transmits is taken from
/// the TX rings.
pub struct RingPort {
    pub port: u16,
    rx: Vec<*mut c_void>,
    tx: Vec<*mut c_void>,
    pool: *mut c_void,
}

// SAFETY: rings and the mempool are thread-safe DPDK objects owned by this value.
unsafe impl Send for RingPort {}

impl RingPort {
    /// Creates `name` with `queues` queue pairs (the name must be unique in the process).
    pub fn new(name: &str, queues: u16) -> Result<RingPort, DpdkError> {
        let n = cstring(name)?;
        let mut rx = vec![std::ptr::null_mut(); queues as usize];
        let mut tx = vec![std::ptr::null_mut(); queues as usize];
        let mut err = [0 as c_char; 256];
        // SAFETY: rx/tx have `queues` entries; err is valid for its length.
        let p = unsafe {
            xg_ring_port(
                n.as_ptr(),
                queues,
                rx.as_mut_ptr(),
                tx.as_mut_ptr(),
                err.as_mut_ptr(),
                err.len(),
            )
        };
        if p < 0 {
            return Err(DpdkError(format!(
                "ring port {name}: {}",
                errbuf_string(&err)
            )));
        }
        let pn = cstring(&format!("{}_inj", &name[..name.len().min(20)]))?;
        // SAFETY: pn is a valid C string.
        let pool = unsafe { xg_test_pool(pn.as_ptr(), 8191) };
        if pool.is_null() {
            return Err(DpdkError(format!(
                "ring port {name}: pool: {}",
                last_error()
            )));
        }
        Ok(RingPort {
            port: p as u16,
            rx,
            tx,
            pool,
        })
    }

    /// The ethdev's name (net_ring names it `net_ring_<name>`), which is also its node's name.
    pub fn device(&self) -> String {
        eth_name(self.port).unwrap_or_default()
    }

    /// Queues a copy of `frame` as received on queue `q`. False when a ring or pool is full.
    pub fn inject(&self, q: usize, frame: &[u8]) -> bool {
        // SAFETY: the ring and pool live as long as self; frame is valid for its length.
        unsafe { xg_ring_inject(self.rx[q], self.pool, frame.as_ptr(), frame.len() as u32) == 0 }
    }

    /// Takes every frame transmitted on queue `q` so far.
    pub fn take(&self, q: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 16384];
        loop {
            // SAFETY: buf is valid for its length; the ring lives as long as self.
            let n = unsafe { xg_ring_take(self.tx[q], buf.as_mut_ptr(), buf.len() as u32) };
            if n < 0 {
                return out;
            }
            out.push(buf[..(n as usize).min(buf.len())].to_vec());
        }
    }

    /// Moves up to `max` frames this port transmitted on queue `q` to `to`'s RX queue `to_q`,
    /// mbufs and all (no copy: a wire between two ports); returns how many moved.
    pub fn wire(&self, q: usize, to: &RingPort, to_q: usize, max: u32) -> usize {
        // SAFETY: both rings live as long as their ports (borrowed here); the mbufs move from
        // one ring to the other, owned by whichever holds them.
        unsafe { xg_ring_wire(self.tx[q], to.rx[to_q], max).max(0) as usize }
    }

    /// (free, total) mbufs of the injection pool.
    pub fn pool_count(&self) -> (u32, u32) {
        // SAFETY: the pool lives as long as self.
        unsafe { (xg_pool_avail(self.pool), xg_pool_size(self.pool)) }
    }
}

impl Drop for RingPort {
    fn drop(&mut self) {
        // SAFETY: the port using these rings has been closed by its owner (the data plane)
        // before the rings go; each object is freed once. Frames left in a TX ring are
        // drained first so their mbufs return to their mempools.
        let mut buf = vec![0u8; 16384];
        for r in self.rx.iter().chain(self.tx.iter()) {
            // SAFETY: as above; buf is valid for its length.
            while unsafe { xg_ring_take(*r, buf.as_mut_ptr(), buf.len() as u32) } >= 0 {}
        }
        unsafe {
            for r in self.rx.iter().chain(self.tx.iter()) {
                xg_ring_free(*r);
            }
            xg_pool_free(self.pool);
        }
    }
}
