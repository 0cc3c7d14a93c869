//! The XDP programs' own cost, exactly: each program run `BENCH_REPEAT` times (default 1e6)
//! on one crafted frame with `BPF_PROG_RUN` (the kernel times the loop and reports ns per run),
//! in `BENCH_ROUNDS` (default 15) interleaved rounds; prints the median, min and max per case.
//! No traffic, no veth: what the program itself costs, apart from the redirect's transmit
//! (BPF_PROG_RUN without live frames stops at the program's verdict).
//!
//! Cases:
//! * `xdp-redirect`: the in-kernel reference of the end-to-end suite (`xdpgraph_redirect`,
//!   bpf/bench.bpf.c: one array lookup, `bpf_redirect`).
//! * `fastpath-forward`: xdpgraph's program (`xdpgraph_steer`) with the fast path on, the frame's
//!   source learned on the ingress link and its destination on another link: redirected.
//! * `fastpath-miss`: the same, destination unknown: the program's lookups, then the worker path
//!   (no socket registered here: XDP_PASS).
//! * `steer-only`: xdpgraph's program with the fast path off (the worker path).
//! * `fastpath-forward-jumbo`: as `fastpath-forward`, a 9000-byte frame in several buffers.
//!
//! `XDP_PROG_OBJ=path` runs another build of bpf/xdpgraph.bpf.c (same maps) in place of the
//! embedded one, labelled `XDP_PROG_LABEL` (bench/xdp_prog_variants.sh: the program's variants).
//!
//! Root required (BPF); prints SKIPPED otherwise (fails under env CI). Run:
//! `sudo cargo bench --bench xdp_prog` (bench/xdp_prog_variants.sh keeps raw output in
//! bench/results/).

use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder, ProgramInput};
use xdpgraph::dataplane::afxdp::fastpath::{FastPathMaps, HostWrite};

static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xdpgraph.bpf.o"));
static BENCH: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench.bpf.o"));

const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;
const BRIDGE: u32 = 7;
const LINK_A: u32 = 10;
const LINK_B: u32 = 11;
const MAC_A: [u8; 6] = [0x02, 0x77, 0, 0, 1, 0];
const MAC_B: [u8; 6] = [0x02, 0x77, 0, 0, 2, 0];
const MAC_UNKNOWN: [u8; 6] = [0x02, 0x77, 0, 0, 3, 0];

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn frame(dst: [u8; 6], src: [u8; 6], len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f
}

fn map<'a>(obj: &'a Object, name: &str) -> libbpf_rs::Map<'a> {
    obj.maps().find(|m| m.name() == name).expect(name)
}

/// The fast path's maps with two fast-path links of one bridge (slots 0 and 1), host A learned
/// on the first and B on the second, and xdpgraph's program over them with the fast path on for
/// the first.
fn setup(maps: &FastPathMaps, target: u32) -> Object {
    let variant = std::env::var("XDP_PROG_OBJ")
        .ok()
        .map(|p| std::fs::read(p).unwrap());
    let mut open = (ObjectBuilder::default())
        .open_memory(variant.as_deref().unwrap_or(PROGRAM))
        .unwrap();
    maps.reuse_in(&mut open).unwrap();
    let obj = open.load().unwrap();
    maps.bench_port(0, target, BRIDGE, LINK_A).unwrap();
    maps.bench_port(1, target, BRIDGE, LINK_B).unwrap();
    maps.write_host(&HostWrite::new(BRIDGE, MAC_A, LINK_A, 0))
        .unwrap();
    maps.write_host(&HostWrite::new(BRIDGE, MAC_B, LINK_B, 1))
        .unwrap();
    obj
}

fn steer(obj: &Object, maps: &FastPathMaps, fast: bool) {
    let v = maps.bench_steer(fast, BRIDGE, LINK_A, 0);
    map(obj, "steer")
        .update(&0u32.to_ne_bytes(), &v, MapFlags::ANY)
        .unwrap();
}

/// One BPF_PROG_RUN of `repeat` runs: ns per run and the verdict.
fn run(obj: &mut Object, prog: &str, f: &[u8], ifindex: u32, repeat: u32) -> (f64, u32) {
    let p = obj.progs_mut().find(|p| p.name() == prog).expect(prog);
    // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex }
    let md: [u32; 6] = [0, f.len() as u32, 0, ifindex, 0, 0];
    let mut ctx: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let out = p
        .test_run(ProgramInput {
            context_in: Some(&mut ctx),
            data_in: Some(f),
            repeat,
            ..Default::default()
        })
        .unwrap();
    // the kernel's figure: the loop's time over `repeat`, in whole ns
    (out.duration.as_nanos() as f64, out.return_value)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "xdp_prog needs root");
        println!("SKIPPED: xdp_prog needs root (BPF_PROG_RUN)");
        return;
    }
    let repeat = env_u32("BENCH_REPEAT", 1_000_000);
    let rounds = env_u32("BENCH_ROUNDS", 15);
    // the redirect target: any device (BPF_PROG_RUN does not transmit); the loopback
    let lo = 1u32;
    let maps = FastPathMaps::load().expect("loading the fast path's maps");
    let obj = setup(&maps, lo);
    let bench = ObjectBuilder::default()
        .open_memory(BENCH)
        .unwrap()
        .load()
        .unwrap();
    map(&bench, "cfg")
        .update(&0u32.to_ne_bytes(), &lo.to_ne_bytes(), MapFlags::ANY)
        .unwrap();
    let fwd = frame(MAC_B, MAC_A, 60);
    let miss = frame(MAC_UNKNOWN, MAC_A, 60);
    let jumbo = frame(MAC_B, MAC_A, 9000);
    // (name, object: 0 bench.bpf.o, 1 xdpgraph.bpf.o, program, frame, fast path, verdict)
    type Case<'a> = (&'a str, usize, &'a str, &'a [u8], bool, u32);
    let cases: Vec<Case> = vec![
        (
            "xdp-redirect",
            0,
            "xdpgraph_redirect",
            &fwd,
            false,
            XDP_REDIRECT,
        ),
        (
            "fastpath-forward",
            1,
            "xdpgraph_steer",
            &fwd,
            true,
            XDP_REDIRECT,
        ),
        ("fastpath-miss", 1, "xdpgraph_steer", &miss, true, XDP_PASS),
        ("steer-only", 1, "xdpgraph_steer", &fwd, false, XDP_PASS),
        (
            "fastpath-forward-jumbo",
            1,
            "xdpgraph_steer",
            &jumbo,
            true,
            XDP_REDIRECT,
        ),
    ];
    let mut objs = [bench, obj];
    let mut res: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for r in 0..rounds as usize {
        // interleaved, in a rotating order
        for i in 0..cases.len() {
            let k = (i + r) % cases.len();
            let (name, o, prog, f, fast, want) = cases[k];
            if o == 1 {
                steer(&objs[1], &maps, fast);
            }
            let (ns, verdict) = run(&mut objs[o], prog, f, lo, repeat);
            assert_eq!(verdict, want, "{name}: verdict {verdict}, expected {want}");
            res[k].push(ns);
        }
    }
    let label = std::env::var("XDP_PROG_LABEL").unwrap_or_else(|_| "the built program".into());
    println!("# xdpgraph_steer: {label}");
    println!(
        "# BPF_PROG_RUN, {rounds} interleaved rounds of {repeat} runs each, ns per run (60-byte frame; jumbo: 9000 bytes)"
    );
    println!(
        "{:<24} {:>8} {:>8} {:>8}  vs xdp-redirect",
        "case", "median", "min", "max"
    );
    let base = median(&mut res[0].clone());
    for (k, c) in cases.iter().enumerate() {
        let mut v = res[k].clone();
        let m = median(&mut v);
        println!(
            "{:<24} {:>8.1} {:>8.1} {:>8.1}  {:.2}x",
            c.0,
            m,
            v[0],
            v[v.len() - 1],
            m / base
        );
    }
}
