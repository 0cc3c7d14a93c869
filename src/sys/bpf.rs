//! BPF_PROG_RUN of a syscall program (BPF_PROG_TYPE_SYSCALL) through bpf(2): the program runs
//! once in the calling thread on a context the caller hands in (and may change).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `BPF_PROG_TEST_RUN` (a.k.a. BPF_PROG_RUN), the bpf(2) command.
const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// The `test` member of `union bpf_attr` (include/uapi/linux/bpf.h).
#[repr(C)]
#[derive(Default)]
struct TestAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// Runs the syscall program `prog` once on `ctx` (at most 65535 bytes; the kernel copies it
/// back, so what the program wrote there is in `ctx` after). Returns the program's return value.
pub fn run_syscall_prog(prog: BorrowedFd<'_>, ctx: &mut [u8]) -> io::Result<u32> {
    let mut a = TestAttr {
        prog_fd: prog.as_raw_fd() as u32,
        ctx_size_in: ctx.len() as u32,
        ctx_in: ctx.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: the kernel reads ctx.len() bytes from ctx_in and writes at most that many back
    // there, within `ctx`, which outlives the call.
    unsafe { test_run(&mut a)? };
    Ok(a.retval)
}

/// BPF_PROG_TEST_RUN with `a`.
///
/// # Safety
/// Every buffer `a` points to (data_in, ctx_in, and any output buffers) must be valid for the
/// sizes it gives, for reading and, for those the kernel writes back, for writing, until the
/// call returns.
unsafe fn test_run(a: &mut TestAttr) -> io::Result<()> {
    // SAFETY: `a` is a valid bpf_attr prefix of the size passed; its buffers are valid as the
    // caller promised.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            a as *mut TestAttr,
            std::mem::size_of::<TestAttr>() as u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `BPF_F_TEST_XDP_LIVE_FRAMES`: BPF_PROG_RUN transmits the frames for real (Linux 5.18+).
pub const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// Runs the XDP program `prog` `repeat` times on `frame` in live-frame mode (each run's
/// XDP_TX/XDP_REDIRECT transmits a copy), in batches of `batch_size` frames (0: the kernel's
/// 64); `ctx` is a `struct xdp_md` (its ingress_ifindex picks the device). A signal to the
/// calling thread ends the call early with `EINTR` (the kernel checks between batches).
pub fn run_xdp_live(
    prog: BorrowedFd<'_>,
    frame: &[u8],
    ctx: &mut [u8],
    repeat: u32,
    batch_size: u32,
) -> io::Result<()> {
    let mut a = TestAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        ctx_size_in: ctx.len() as u32,
        ctx_in: ctx.as_mut_ptr() as u64,
        repeat,
        flags: BPF_F_TEST_XDP_LIVE_FRAMES,
        batch_size,
        ..Default::default()
    };
    // SAFETY: the kernel reads frame.len() bytes from data_in and ctx.len() from ctx_in
    // (writing at most that many back there), both outliving the call; no output buffers.
    unsafe { test_run(&mut a) }
}
