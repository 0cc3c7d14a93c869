//! Memory stays flat over attach/detach cycles (root: the veth lab; alone in its own test
//! binary, so that the process's RSS is this test's).
//!
//! Each cycle attaches two veths over AF_XDP (XDP programs, sockets, TAPs, ether nodes),
//! cross-connects them, carries frames both ways, sends more that are still in the rings and
//! the kernel when both are detached, and detaches them. After the cycles every chunk of the
//! worker's frame memory is home again, and the RSS grew by no more than a small bound.
//! `XDPGRAPH_CYCLES` sets the number of cycles (default 200; docs/TESTING.md has a 1,000-cycle
//! run).
//!
//! A second test makes the kernel keep chunks at close for certain (frames arrive at a socket
//! whose RX ring is full: the kernel takes a chunk from the fill ring, cannot deliver it, and
//! keeps it) and checks that detaching the port brings them home.

use std::time::Instant;
use xdpgraph::dataplane::afxdp::{AfxdpIface, SocketConfig};
use xdpgraph::dataplane::{Dataplane, DataplaneConfig};
use xdpgraph::lab::{LabConfig, LabGuard};
use xdpgraph::sys::netdev::PacketSocket;
use xdpgraph::sys::xsk::RingSizes;
use xdpgraph::value::Value;
use xdpgraph::wire::MacAddr;

const ETYPE: u16 = 0x88b5;
const FRAMES: u32 = 4096;
/// RSS growth allowed over the measured cycles (allocator noise, not growth per cycle).
const RSS_SLACK_KB: u64 = 2048;

fn vm_rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn frame(dst: MacAddr, src: MacAddr, seq: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ETYPE.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.resize(64, 0x5a);
    f
}

/// Our frames received on `s` until `want` or `quiet_ms` of silence.
fn received(s: &PacketSocket, want: usize, quiet_ms: i32) -> usize {
    let mut buf = vec![0u8; 2048];
    let mut n = 0;
    while n < want {
        match s.recv(&mut buf, quiet_ms) {
            Ok(Some(len)) if len >= 14 && buf[12..14] == ETYPE.to_be_bytes() => n += 1,
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    n
}

struct Cycle<'a> {
    lab: &'a LabGuard,
    socks: [PacketSocket; 2],
    /// Frames that met a full RX ring (each time, the kernel kept a chunk for a while).
    ring_full: u64,
    delivered: usize,
}

impl Cycle<'_> {
    fn run(&mut self, dp: &mut Dataplane) {
        let names = [self.lab.iface(0), self.lab.iface(1)];
        for n in &names {
            dp.attach(n, None).unwrap();
            let p = format!("{n}:");
            dp.graph()
                .msg(&p, "setautosrc", Some(&Value::Int(0)))
                .unwrap();
        }
        let (p0, p1) = (format!("{}:", names[0]), format!("{}:", names[1]));
        dp.graph().connect(&p0, &p1, "lower", "lower").unwrap();
        let ctls: Vec<_> = (names.iter())
            .map(|n| dp.interface::<AfxdpIface>(n).unwrap().ctl().clone())
            .collect();
        let (m0, m1) = (self.lab.host_mac(0), self.lab.host_mac(1));
        for i in 0..16 {
            self.socks[0].send(&frame(m1, m0, i)).unwrap();
            self.socks[1].send(&frame(m0, m1, i)).unwrap();
        }
        self.delivered += received(&self.socks[1], 16, 500) + received(&self.socks[0], 16, 500);
        // more, still on their way when the sockets close
        for i in 0..64 {
            let _ = self.socks[0].send(&frame(m1, m0, 100 + i));
            let _ = self.socks[1].send(&frame(m0, m1, 100 + i));
        }
        for n in &names {
            dp.detach(n).unwrap();
        }
        for c in &ctls {
            let full: u64 = (c.queue_stats().iter())
                .map(|q| q.kernel().rx_ring_full)
                .sum();
            self.ring_full += full;
        }
        dp.tick();
        // what was in flight arrives or not; either way it is not ours any more
        received(&self.socks[0], usize::MAX, 10);
        received(&self.socks[1], usize::MAX, 10);
    }
}

/// The worker's free chunks, of how many, and its double frees (to be 0).
fn free_frames(dp: &Dataplane) -> (u64, u64, u64) {
    let w = &dp.worker_status()[0];
    (w.free_frames, w.frames, w.double_frees)
}

#[test]
fn attach_detach_cycles_leave_memory_flat() {
    if !xdpgraph::testkit::require_root() {
        return;
    }
    let cycles: usize = std::env::var("XDPGRAPH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let lab = LabGuard::up(LabConfig {
        prefix: format!("mc{}", std::process::id() % 10000),
        ports: 2,
        queues: 1,
        addresses: false,
        ..Default::default()
    })
    .unwrap();
    let mut dp = Dataplane::start(DataplaneConfig {
        cores: vec![0],
        frames_per_worker: Some(FRAMES as usize),
        // RX rings much smaller than the fill rings: a burst fills them, and the kernel keeps
        // the chunks it took from the fill ring and could not deliver (held at close)
        socket: SocketConfig {
            sizes: RingSizes {
                rx: 16,
                ..RingSizes::default()
            },
            ..SocketConfig::default()
        },
        ..Default::default()
    })
    .unwrap();
    let socks = [0, 1].map(|i| PacketSocket::open_in(&lab.ns(i), "eth0").unwrap());
    let mut c = Cycle {
        lab: &lab,
        socks,
        ring_full: 0,
        delivered: 0,
    };
    let before = free_frames(&dp);
    assert_eq!(
        before,
        (FRAMES as u64, FRAMES as u64, 0),
        "all home at start"
    );
    // warm up: the allocator's and the kernel's first-time costs
    for _ in 0..20 {
        c.run(&mut dp);
    }
    assert_eq!(free_frames(&dp), before, "all home after the warm-up");
    // (XDPGRAPH_CYCLES_TRACE=1: the RSS every 50 cycles)
    let (rss0, t) = (vm_rss_kb(), Instant::now());
    for i in 0..cycles {
        c.run(&mut dp);
        if std::env::var("XDPGRAPH_CYCLES_TRACE").is_ok() && i % 50 == 49 {
            eprintln!("cycle {}: RSS {} kB", i + 1, vm_rss_kb());
        }
    }
    let (rss1, took) = (vm_rss_kb(), t.elapsed());
    eprintln!(
        "{cycles} cycles in {took:.1?} ({:.1} ms each): RSS {rss0} -> {rss1} kB, frames \
         delivered {}, frames that met a full RX ring {}",
        took.as_secs_f64() * 1e3 / cycles as f64,
        c.delivered,
        c.ring_full
    );
    assert!(c.delivered > 0, "frames crossed in the cycles");
    assert_eq!(
        free_frames(&dp),
        before,
        "every chunk home after {cycles} cycles"
    );
    assert!(
        rss1 <= rss0 + RSS_SLACK_KB,
        "RSS grew by {} kB over {cycles} cycles",
        rss1.saturating_sub(rss0)
    );
    let links = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains(&xdpgraph::dataplane::afxdp::tap_name(&lab.iface(0))),
        "no TAP left"
    );
}

/// A socket nobody reads: its RX ring (16 entries) fills, and the kernel keeps the chunk it
/// took for a frame it could not deliver. Detaching (which closes the socket) brings every
/// chunk home, that one included, each once.
#[test]
fn chunks_the_kernel_kept_come_home_at_detach() {
    use xdpgraph::buf::{Pool, Region};
    use xdpgraph::dataplane::afxdp::{program, Umem, XdpMode, XdpProgram, XskPort};
    use xdpgraph::frame::{CHUNK_SIZE, HEADROOM};
    use xdpgraph::port::Port;
    if !xdpgraph::testkit::require_root() {
        return;
    }
    let lab = LabGuard::up(LabConfig {
        prefix: format!("mk{}", std::process::id() % 10000),
        ports: 1,
        queues: 1,
        addresses: false,
        ..Default::default()
    })
    .unwrap();
    let prog = XdpProgram::attach(&lab.iface(0), XdpMode::Native).unwrap();
    let mapping = xdpgraph::sys::mmap::Mapping::anonymous(1024 * CHUNK_SIZE, false).unwrap();
    let mut umem = Umem::for_region(mapping.as_ptr() as u64, mapping.len() as u64, CHUNK_SIZE);
    let mut pool = Pool::with_region(Region::Mapped(mapping), CHUNK_SIZE, HEADROOM);
    let xsks = prog.xsks().unwrap();
    let reg = |q: u32, fd: i32| program::register_socket(&xsks, q, fd);
    let cfg = SocketConfig {
        sizes: RingSizes {
            rx: 16,
            ..RingSizes::default()
        },
        fill_target: 256,
        ..SocketConfig::default()
    };
    let st = vec![std::sync::Arc::new(
        xdpgraph::dataplane::afxdp::QueueStats::default(),
    )];
    let mut port = XskPort::open(
        0,
        prog.ifindex(),
        &[0],
        &mut umem,
        &mut pool,
        &cfg,
        &reg,
        &st,
    )
    .unwrap();
    prog.set_steering(true).unwrap();
    assert_eq!(pool.available(), 1024 - 256);
    let s = PacketSocket::open_in(&lab.ns(0), "eth0").unwrap();
    for i in 0..64 {
        s.send(&frame(MacAddr::BROADCAST, lab.host_mac(0), i))
            .unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(prog.stats().redirect, 64, "every frame went to the socket");
    port.detach(&mut pool);
    let full = st[0].kernel().rx_ring_full;
    assert_eq!(full, 48, "16 frames delivered, 48 met a full RX ring");
    assert_eq!(
        (pool.available(), pool.double_frees()),
        (1024, 0),
        "every chunk home, once"
    );
    drop(port);
    drop(prog);
}
