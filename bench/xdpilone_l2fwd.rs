//! The bare AF_XDP forwarding loop of `afxdp::l2fwd`, written a second time on the `xdpilone`
//! crate instead of our own ring layer (`src/sys/xsk.rs`), so that the choice of AF_XDP library
//! rests on a measurement kept in `bench/` (docs/AFXDP.md records the result).
//!
//! Everything but the ring code is the same as ours: our XDP program and its `xsks` map, one
//! UMEM of `frames` 4096-byte chunks shared by both interfaces (the second socket binds with
//! `XDP_SHARED_UMEM` alone), rings of 2048, 1024 chunks kept in each fill ring, bursts of 64,
//! need_wakeup honoured on the first socket and a kick per burst on the second (which cannot
//! ask for need_wakeup), completions reaped before each burst and when TX is short of room.
//!
//! `xsk-rs` 0.11 is not in this comparison: it pins `libbpf-sys =1.5.1`, which cannot sit in
//! one build beside libbpf-rs 0.27 (libbpf-sys 1.7); `afxdp` 0.4 is built on libbpf's removed
//! xsk API.

use std::ffi::CString;
use std::num::NonZeroU32;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use xdpgraph::dataplane::afxdp::{program, XdpMode, XdpProgram};
use xdpilone::xdp::XdpDesc;
use xdpilone::{DeviceQueue, IfInfo, RingRx, RingTx, Socket, SocketConfig, Umem, UmemConfig};

const RING: u32 = 2048;
const FILL_TARGET: u32 = 1024;
const BURST: u32 = 64;

struct Side {
    dev: DeviceQueue,
    rx: RingRx,
    tx: RingTx,
    /// The socket was bound with need_wakeup (the first one): kick TX only when asked.
    wakeup: bool,
    in_fill: u32,
}

/// What the loop did: (received, transmitted, refused by a full TX ring).
pub type Counts = (u64, u64, u64);

fn errno(what: &str) -> impl Fn(xdpilone::Errno) -> String + '_ {
    move |e| format!("xdpilone: {what}: {e}")
}

/// Frees the completions of `s` into `free`.
fn complete(s: &mut Side, free: &mut Vec<u64>) {
    let mut c = s.dev.complete(RING);
    while let Some(a) = c.read() {
        free.push(a);
    }
    c.release();
}

fn refill(s: &mut Side, free: &mut Vec<u64>) {
    let want = FILL_TARGET.saturating_sub(s.in_fill).min(free.len() as u32);
    if want == 0 {
        return;
    }
    let mut w = s.dev.fill(want);
    let n = w.insert(free.iter().rev().take(want as usize).copied());
    w.commit();
    drop(w);
    free.truncate(free.len() - n as usize);
    s.in_fill += n;
    if s.dev.needs_wakeup() {
        s.dev.wake();
    }
}

/// Forwards between `a` and `b` on the calling thread (pinned to `core`) until `stop`.
pub fn run(
    a: &str,
    b: &str,
    core: usize,
    frames: u32,
    busy: bool,
    stop: &AtomicBool,
) -> Result<Counts, String> {
    let _ = xdpgraph::sys::cpu::pin_current_thread(core);
    let progs = [
        XdpProgram::attach(a, XdpMode::Native).map_err(|e| e.to_string())?,
        XdpProgram::attach(b, XdpMode::Native).map_err(|e| e.to_string())?,
    ];
    let chunk = xdpgraph::frame::CHUNK_SIZE as u32;
    let map = xdpgraph::sys::mmap::Mapping::anonymous((frames * chunk) as usize, false)
        .map_err(|e| format!("UMEM: {e}"))?;
    let area = NonNull::slice_from_raw_parts(
        NonNull::new(map.as_ptr()).ok_or("UMEM: null mapping")?,
        map.len(),
    );
    let cfg = UmemConfig {
        fill_size: RING,
        complete_size: RING,
        frame_size: chunk,
        headroom: 0,
        flags: 0,
    };
    // SAFETY: `map` is a private anonymous mapping, page aligned, that outlives `umem` (declared
    // before it, dropped after it) and that nothing else reads or writes.
    #[allow(unsafe_code)]
    let umem = unsafe { Umem::new(cfg, area) }.map_err(errno("UMEM"))?;
    let mut sides = Vec::new();
    for (i, p) in progs.iter().enumerate() {
        let mut info = IfInfo::invalid();
        let name = CString::new(p.ifname()).map_err(|e| e.to_string())?;
        info.from_name(&name).map_err(errno("interface"))?;
        info.set_queue(0);
        let sock = if i == 0 {
            Socket::with_shared(&info, &umem)
        } else {
            Socket::new(&info)
        }
        .map_err(errno("socket"))?;
        let dev = umem.fq_cq(&sock).map_err(errno("fill/completion rings"))?;
        let wakeup = i == 0;
        let user = umem
            .rx_tx(
                &sock,
                &SocketConfig {
                    rx_size: NonZeroU32::new(RING),
                    tx_size: NonZeroU32::new(RING),
                    bind_flags: if wakeup {
                        SocketConfig::XDP_BIND_NEED_WAKEUP
                    } else {
                        0
                    },
                },
            )
            .map_err(errno("rx/tx rings"))?;
        let (rx, tx) = (
            user.map_rx().map_err(errno("rx ring"))?,
            user.map_tx().map_err(errno("tx ring"))?,
        );
        umem.bind(&user).map_err(errno("bind"))?;
        let xsks = p.xsks().map_err(|e| e.to_string())?;
        program::register_socket(&xsks, 0, rx.as_raw_fd()).map_err(|e| e.to_string())?;
        sides.push(Side {
            dev,
            rx,
            tx,
            wakeup,
            in_fill: 0,
        });
    }
    let mut free: Vec<u64> = (0..frames as u64).map(|i| i * chunk as u64).collect();
    for s in sides.iter_mut() {
        refill(s, &mut free);
    }
    for p in progs.iter() {
        p.set_steering(true).map_err(|e| e.to_string())?;
    }
    let (mut rx_n, mut tx_n, mut full) = (0u64, 0u64, 0u64);
    // idle, wait in poll(2) as the data plane's workers do by default (unless `busy`)
    let fds: Vec<_> = sides.iter().map(|s| s.rx.as_raw_fd()).collect();
    let mut wait = xdpgraph::sys::xsk::PollSet::new(&fds);
    let mut idle = 0u32;
    let mut burst = [XdpDesc {
        addr: 0,
        len: 0,
        options: 0,
    }; BURST as usize];
    while !stop.load(Ordering::Relaxed) {
        idle = idle.saturating_add(1);
        if !busy && idle > xdpgraph::dataplane::afxdp::l2fwd::IDLE_POLLS {
            let _ = wait.wait(1);
        }
        for (si, di) in [(0usize, 1usize), (1, 0)] {
            complete(&mut sides[si], &mut free);
            refill(&mut sides[si], &mut free);
            let n = {
                let mut r = sides[si].rx.receive(BURST);
                let mut n = 0;
                while let Some(d) = r.read() {
                    burst[n] = d;
                    n += 1;
                }
                r.release();
                n
            };
            if n == 0 {
                continue;
            }
            idle = 0;
            sides[si].in_fill -= n as u32;
            rx_n += n as u64;
            let d = &mut sides[di];
            let sent = {
                let mut w = d.tx.transmit(n as u32);
                if w.capacity() < n as u32 {
                    drop(w);
                    complete(d, &mut free);
                    w = d.tx.transmit(n as u32);
                }
                let k = w.insert(burst[..n].iter().copied());
                w.commit();
                k as usize
            };
            tx_n += sent as u64;
            for f in &burst[sent..n] {
                // the chunk's base, as the fill ring wants it
                free.push(f.addr - f.addr % chunk as u64);
                full += 1;
            }
            if !d.wakeup || d.tx.needs_wakeup() {
                d.tx.wake();
            }
        }
    }
    for p in progs.iter() {
        let _ = p.set_steering(false);
    }
    Ok((rx_n, tx_n, full))
}
