//! Frame memory as one byte range: an anonymous mapping (the backing store of an AF_XDP UMEM),
//! or memory owned elsewhere (a DPDK frame area) that the mapping keeps alive.

use std::any::Any;
use std::io;

/// A read/write byte range: a page-aligned anonymous mapping, unmapped on drop, or memory some
/// other owner maps (see [`Mapping::external`]), kept alive by this value.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
    /// The owner of external memory (None: an mmap of ours, unmapped on drop).
    owner: Option<Box<dyn Any + Send>>,
}

// SAFETY: the mapping is plain memory owned by this value (or by its `owner`, which is Send);
// moving it between threads moves the ownership. Shared access goes through `&self`/`&mut self`
// borrows like any buffer.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `len` bytes of zeroed anonymous memory; `huge` asks for huge pages first.
    pub fn anonymous(len: usize, huge: bool) -> io::Result<Mapping> {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
        let try_map = |extra: libc::c_int| {
            // SAFETY: a fresh anonymous mapping: no existing memory is aliased; the result is
            // checked for MAP_FAILED before use.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    flags | extra,
                    -1,
                    0,
                )
            };
            (p != libc::MAP_FAILED).then_some(p as *mut u8)
        };
        let ptr = huge
            .then(|| try_map(libc::MAP_HUGETLB))
            .flatten()
            .or_else(|| try_map(0))
            .ok_or_else(io::Error::last_os_error)?;
        Ok(Mapping {
            ptr,
            len,
            owner: None,
        })
    }

    /// The `len` bytes at `ptr`, which `owner` keeps mapped for as long as it lives (dropped
    /// with this value; never unmapped here).
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be readable and writable and stay so while `owner` lives, and
    /// nothing else may access the bytes except under the protocol [`Mapping::as_slice`]
    /// describes (a device or kernel writes only chunks it owns), and no other `Mapping` of
    /// the same memory may exist.
    pub unsafe fn external(ptr: *mut u8, len: usize, owner: Box<dyn Any + Send>) -> Mapping {
        Mapping {
            ptr,
            len,
            owner: Some(owner),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` mapped, initialised bytes that live as long as `self`
        // (zero-filled by mmap, or external memory its owner keeps mapped: `external`'s
        // contract). The kernel (or a DPDK driver) may write frames into chunks it owns (fill
        // ring, mempool); userspace reads only chunks handed back, so no byte is read while
        // the kernel writes it.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as for `as_slice`; `&mut self` makes this the only userspace borrow.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.owner.is_some() {
            return; // the owner, dropped with us, keeps or releases its memory
        }
        // SAFETY: `ptr`/`len` came from a successful mmap and are unmapped exactly once.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
    }
}
