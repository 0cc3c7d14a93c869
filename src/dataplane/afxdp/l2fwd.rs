//! The bare AF_XDP forwarding loop: the data plane's own sockets, UMEM and rings (`XskPort`),
//! with no graph in between. Everything received on one interface is transmitted on the other.
//! It is the reference the benchmarks hold the graph against (the graph's cost is the gap).

use super::{io_ctx, program, AfxdpError, SocketConfig, Umem, XdpMode, XdpProgram, XskPort};
use crate::buf::{Burst, Pool, Region};
use crate::frame::{CHUNK_SIZE, HEADROOM};
use crate::port::Port;
use std::sync::atomic::{AtomicBool, Ordering};

/// Empty polls before the idle loop waits in poll(2) (the workers' rule).
pub const IDLE_POLLS: u32 = 2048;

/// What the loop did.
#[derive(Debug, Default, Clone, Copy)]
pub struct L2fwdStats {
    pub rx: u64,
    pub tx: u64,
    /// Frames the TX ring refused (freed).
    pub tx_full: u64,
}

/// Forwards between `a` and `b` on the calling thread (pinned to `core`) until `stop`. Idle,
/// it waits as the data plane's workers do by default (after [`IDLE_POLLS`] empty polls, in
/// poll(2) on its sockets, 1 ms at most); `busy` spins instead.
#[allow(clippy::too_many_arguments)]
pub fn run(
    a: &str,
    b: &str,
    core: usize,
    cfg: &SocketConfig,
    mode: XdpMode,
    frames: usize,
    busy: bool,
    stop: &AtomicBool,
) -> Result<L2fwdStats, AfxdpError> {
    let _ = crate::sys::cpu::pin_current_thread(core);
    let progs = [XdpProgram::attach(a, mode)?, XdpProgram::attach(b, mode)?];
    let mapping =
        crate::sys::mmap::Mapping::anonymous(frames * CHUNK_SIZE, false).map_err(io_ctx("UMEM"))?;
    let mut umem = Umem::for_region(mapping.as_ptr() as u64, mapping.len() as u64, CHUNK_SIZE);
    let mut pool = Pool::with_region(Region::Mapped(mapping), CHUNK_SIZE, HEADROOM);
    let mut ports = Vec::new();
    for (i, p) in progs.iter().enumerate() {
        let xsks = p.xsks()?;
        let nq = super::rx_queues(p.ifname()).map_err(io_ctx(p.ifname().to_string()))?;
        let queues: Vec<u32> = (0..nq).collect();
        let reg = |q: u32, fd: i32| program::register_socket(&xsks, q, fd);
        let port = XskPort::open(
            i as u32,
            p.ifindex(),
            &queues,
            &mut umem,
            &mut pool,
            cfg,
            &reg,
            &[],
        )
        .map_err(io_ctx(format!("{}: sockets", p.ifname())))?;
        ports.push(port);
        p.set_steering(true)?;
    }
    let mut st = L2fwdStats::default();
    let mut burst = Burst::new();
    let fds: Vec<_> = ports.iter().flat_map(|p| p.fds()).collect();
    let mut wait = crate::sys::xsk::PollSet::new(&fds);
    let mut idle = 0u32;
    while !stop.load(Ordering::Relaxed) {
        idle = idle.saturating_add(1);
        if !busy && idle > IDLE_POLLS {
            let _ = wait.wait(1);
        }
        for (s, d) in [(0usize, 1usize), (1, 0)] {
            ports[s].maintain(&mut pool);
            ports[s].rx_burst(&mut pool, &mut burst);
            let n = burst.len() as u64;
            if n == 0 {
                continue;
            }
            idle = 0;
            st.rx += n;
            ports[d].tx_burst(&mut pool, &mut burst);
            st.tx += n - burst.len() as u64;
            st.tx_full += burst.len() as u64;
            for f in burst.drain() {
                pool.free(f);
            }
        }
    }
    for p in ports.iter_mut() {
        p.detach(&mut pool);
    }
    for p in progs.iter() {
        let _ = p.set_steering(false);
    }
    Ok(st)
}
