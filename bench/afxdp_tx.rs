//! The bare AF_XDP TX loop: the reference of the generator's AF_XDP engine (issue 16). One
//! socket on queue 0 of a device, its UMEM's chunks written once with the same 60-byte frame;
//! the loop only recycles completed chunks onto the TX ring and kicks the kernel: no stamping,
//! no pacing, no per-frame work (the AF_XDP engine stamps and checksums every frame).
//!
//!     afxdp_tx DEV NETNS DST_MAC CORE SECONDS
//!
//! Prints one line of JSON: frames completed, seconds, pps. Root (AF_XDP). Used by bench/gen.sh.

use std::time::{Duration, Instant};
use xdpgraph::frame::CHUNK_SIZE;
use xdpgraph::sys::xsk::{BindMode, RingSizes, UmemSource, XskSocket};

const CHUNKS: usize = 4096;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    assert!(
        a.len() == 6,
        "usage: afxdp_tx DEV NETNS DST_MAC CORE SECONDS"
    );
    let (dev, ns, core) = (&a[1], &a[2], a[4].parse::<usize>().expect("CORE"));
    let secs: f64 = a[5].parse().expect("SECONDS");
    let mac: Vec<u8> = (a[3].split(':'))
        .map(|h| u8::from_str_radix(h, 16).expect("DST_MAC"))
        .collect();
    xdpgraph::sys::netdev::enter_netns(ns).expect("entering the namespace");
    xdpgraph::sys::cpu::pin_current_thread(core).expect("pinning");
    let ifindex = xdpgraph::sys::netdev::ifindex(dev).expect("no such device");
    let mut m = xdpgraph::sys::mmap::Mapping::anonymous(CHUNKS * CHUNK_SIZE, false).unwrap();
    // 60 bytes (64 on the wire): to the peer, IPv4 ethertype, the rest zero (the sink counts)
    let mut frame = [0u8; 60];
    frame[..6].copy_from_slice(&mac);
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&[8, 0]);
    for c in m.as_mut_slice().chunks_mut(CHUNK_SIZE) {
        c[..60].copy_from_slice(&frame);
    }
    let src = UmemSource::Register {
        addr: m.as_ptr() as u64,
        len: m.len() as u64,
        chunk_size: CHUNK_SIZE as u32,
    };
    let sizes = RingSizes {
        fill: 64,
        comp: 2048,
        rx: 64,
        tx: 2048,
    };
    let mut s = XskSocket::bind(&src, ifindex, 0, sizes, BindMode::ZeroCopy)
        .or_else(|_| XskSocket::bind(&src, ifindex, 0, sizes, BindMode::Copy))
        .expect("AF_XDP socket");
    let mut free: Vec<u64> = (0..CHUNKS as u64).map(|i| i * CHUNK_SIZE as u64).collect();
    let (mut done, mut i) = (0u64, 0u64);
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(secs);
    loop {
        let n = s.comp.available(512);
        for k in 0..n {
            free.push(s.comp.get(k));
        }
        s.comp.release(n);
        done += n as u64;
        i += 1;
        if i % 256 == 0 && Instant::now() >= end {
            break;
        }
        let k = s.tx.free(64).min(64).min(free.len() as u32);
        if k > 0 {
            let from = free.len() - k as usize;
            let descs = free.drain(from..).map(|addr| libc::xdp_desc {
                addr,
                len: 60,
                options: 0,
            });
            s.tx.produce(descs, k);
        }
        let _ = s.kick_tx();
    }
    let el = t0.elapsed().as_secs_f64();
    // frames still in the kernel at the end are not counted
    println!(
        "{{\"frames\": {done}, \"seconds\": {el:.6}, \"pps\": {:.0}}}",
        done as f64 / el
    );
}
