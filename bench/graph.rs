//! In-process graph benchmark (issue: graph core).
//!
//! One worker thread pinned to core 0 runs the graph on in-memory ports with bursts of 64
//! frames: a generator port copies 64-byte template frames into the pool (what a NIC's DMA
//! costs), the graph forwards them, and a sink port frees them. Reported: Mpps on one core and
//! ns per frame, for four topologies, idle and while a management thread on core 1 applies
//! 1,000 edits per second to another part of the graph. Every case runs with the epoch design
//! and with the RwLock baseline (netgraph's pre-epoch design: a read lock per burst, edits
//! applied under the write lock). Medians of RUNS runs. The learned bridge runs once more with
//! a capture (`ctl capture`) on its busy hook, drained every 5 ms (1 ms while it fills fast) by the management thread as the
//! control server's thread would: its throughput against the bridge without one is printed after
//! the table, with the copies read and dropped. The learned bridge also runs with 16 sources
//! in turn (every frame of a burst from another host: decided frame by frame), epoch design only.
//!
//! `cargo bench --bench graph` (env: BENCH_SECS per run, default 2; BENCH_RUNS, default 5;
//! BENCH_WORKERS, default 1: with 2, two workers on cores 0 and 1, each with its own generator
//! and sinks on the same ports, and the Mpps columns are their sum).
//! Prints a Markdown table for docs/BENCHMARKS.md.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xdpgraph::buf::Pool;
use xdpgraph::dataplane::mem::{MemPort, MemPortCtl};
use xdpgraph::graph::capture::{Batch, Capture, Dirs, Reader, MAX_SNAPLEN};
use xdpgraph::graph::{gstat, Graph, GraphConfig, TopologyMode};
use xdpgraph::port::PortId;
use xdpgraph::testkit::{eth, mac, tagged};
use xdpgraph::value::Value;
use xdpgraph::wire::EtherType;

#[derive(Clone, Copy)]
enum Topo {
    Xconnect,
    Bridge,
    VlanBridge,
    TeeFanout,
    BridgeCapture,
    BridgeMixed,
}

impl Topo {
    const ALL: [Topo; 6] = [
        Topo::Xconnect,
        Topo::Bridge,
        Topo::VlanBridge,
        Topo::TeeFanout,
        Topo::BridgeCapture,
        Topo::BridgeMixed,
    ];

    fn name(self) -> &'static str {
        match self {
            Topo::Xconnect => "ether→ether",
            Topo::Bridge => "ether→bridge→ether (learned unicast)",
            Topo::VlanBridge => "ether→vlan→bridge→ether",
            Topo::TeeFanout => "tee fan-out (1 in, 2 out)",
            Topo::BridgeCapture => "ether→bridge→ether, capture on link1",
            Topo::BridgeMixed => "ether→bridge→ether, 16 sources in turn",
        }
    }
}

/// A built topology: (source port, sink ports, frame templates (sent in turn), the capture).
type Built = (PortId, Vec<PortId>, Vec<Vec<u8>>, Option<Arc<Capture>>);

/// Builds the topology.
fn build(g: &mut Graph, t: Topo) -> Built {
    let (src, sinks, template) = build_graph(g, t);
    // BENCH_CAPTURE_RING: bytes of ring per worker (default: the daemon's)
    let ring = (std::env::var("BENCH_CAPTURE_RING").ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(xdpgraph::graph::capture::RING_BYTES);
    let cap = matches!(t, Topo::BridgeCapture).then(|| {
        let c = g.capture_start_sized("br0:", "link1", Dirs::BOTH, MAX_SNAPLEN, ring);
        c.unwrap()
    });
    (src, sinks, template, cap)
}

fn build_graph(g: &mut Graph, t: Topo) -> (PortId, Vec<PortId>, Vec<Vec<u8>>) {
    let mut ports = Vec::new();
    for i in 0..3 {
        let ctl = Arc::new(MemPortCtl::new(&format!("p{i}"), i, mac(0xf0 + i as u64)));
        ports.push(g.attach_port(ctl).unwrap().1);
        g.msg(&format!("p{i}:"), "setautosrc", Some(&Value::Int(0)))
            .unwrap();
    }
    let v = |s: &str| Value::parse(s).unwrap();
    match t {
        Topo::Xconnect => {
            g.connect("p0:", "p1:", "lower", "lower").unwrap();
            (ports[0], vec![ports[1], ports[2]], vec![eth(2, 1)])
        }
        Topo::Bridge | Topo::BridgeCapture | Topo::BridgeMixed => {
            g.mkpeer("p0:", "bridge", "lower", "link0").unwrap();
            g.name("p0:lower", "br0").unwrap();
            g.connect("p1:", "br0:", "lower", "link1").unwrap();
            g.msg(
                "br0:",
                "movehost",
                Some(&v(&format!("{{ addr={} hook=\"link1\" }}", mac(2)))),
            )
            .unwrap();
            // the mixed case: every frame of a burst from another host than the one before
            // (all learned on link0 by the warm-up), to the same known host
            let n = if matches!(t, Topo::BridgeMixed) {
                16
            } else {
                1
            };
            let templates = (0..n)
                .map(|k| eth(2, if k == 0 { 1 } else { 0x100 + k }))
                .collect();
            (ports[0], vec![ports[1], ports[2]], templates)
        }
        Topo::VlanBridge => {
            g.mkpeer("p0:", "vlan", "lower", "downstream").unwrap();
            g.name("p0:lower", "v").unwrap();
            g.mkpeer("v:", "bridge", "v10", "link0").unwrap();
            g.name("v:v10", "br0").unwrap();
            g.msg("v:", "addfilter", Some(&v(r#"{ hook="v10" vid=10 }"#)))
                .unwrap();
            g.connect("p1:", "br0:", "lower", "link1").unwrap();
            g.msg(
                "br0:",
                "movehost",
                Some(&v(&format!("{{ addr={} hook=\"link1\" }}", mac(2)))),
            )
            .unwrap();
            (
                ports[0],
                vec![ports[1], ports[2]],
                vec![tagged(2, 1, EtherType::VLAN, 10, 0, 0)],
            )
        }
        Topo::TeeFanout => {
            g.mkpeer("p0:", "tee", "lower", "left").unwrap();
            g.name("p0:lower", "t").unwrap();
            g.connect("p1:", "t:", "lower", "right").unwrap();
            g.connect("p2:", "t:", "lower", "left2right").unwrap();
            (ports[0], vec![ports[1], ports[2]], vec![eth(2, 1)])
        }
    }
}

struct Run {
    mpps_in: f64,
    edits: u64,
    out_per_in: f64,
    /// Copies the capture's reader got, and those it missed.
    copied: u64,
    dropped: u64,
}

fn run_once(t: Topo, mode: TopologyMode, churn: bool, secs: f64) -> Run {
    // BENCH_WORKERS: workers, one per core from core 0 up (default 1); each has its own
    // generator and sinks on the same ports (as queues of one interface would)
    let workers: usize = (std::env::var("BENCH_WORKERS").ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let cfg = GraphConfig {
        workers,
        topology: mode,
        ..Default::default()
    };
    let mut g = Graph::new(cfg, xdpgraph::nodes::builtin());
    let (src, sinks, template, cap) = build(&mut g, t);
    let mut reader = cap.clone().map(Reader::new);
    let mut batch = Batch::default();
    let mut copied = 0u64;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..workers)
        .map(|i| {
            let (stop, started) = (stop.clone(), started.clone());
            let (h, sinks, template) = (g.handle(), sinks.clone(), template.clone());
            std::thread::spawn(move || {
                let _ = xdpgraph::sys::cpu::pin_current_thread(i);
                let mut w = h.worker(i, Pool::heap(4096, 2048, 256)).unwrap();
                w.add_port(Box::new(MemPort::generator(src, template, u64::MAX)));
                for s in sinks {
                    w.add_port(Box::new(MemPort::sink(s)));
                }
                // Warm up, then measure.
                for _ in 0..20_000 {
                    w.poll();
                }
                started.fetch_add(1, Ordering::SeqCst);
                let t0 = Instant::now();
                let mut frames = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    frames += w.poll() as u64;
                }
                (frames, t0.elapsed().as_nanos() as u64)
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < workers as u64 {
        std::thread::yield_now();
    }
    let rx0 = g.stat(gstat::RX);
    let tx0 = g.stat(gstat::TX);
    let t0 = Instant::now();
    let mut edits = 0u64;
    let _ = xdpgraph::sys::cpu::pin_current_thread(1);
    while t0.elapsed().as_secs_f64() < secs {
        if churn {
            // 1,000 edits per second on a part of the graph no frame visits.
            let due = (t0.elapsed().as_secs_f64() * 1000.0) as u64;
            while edits < due {
                let hook = format!("c{}", edits % 8);
                if g.show(&format!(".:{hook}")).is_ok() {
                    g.rmhook(".", &hook).unwrap();
                } else {
                    g.mkpeer(".", "hub", &hook, "a").unwrap();
                }
                edits += 1;
            }
            g.tick();
            std::thread::sleep(Duration::from_micros(200));
        } else {
            // as the control server: every 5 ms, every 1 ms while a drain reads much
            let busy = batch.len() >= xdpgraph::ctl::capture::BUSY_RECORDS;
            std::thread::sleep(Duration::from_millis(if busy { 1 } else { 5 }));
        }
        if let Some(r) = &mut reader {
            copied += r.drain(&mut batch) as u64;
        }
    }
    stop.store(true, Ordering::SeqCst);
    // Mpps of all the workers: the sum of each one's frames over its own time
    let mpps_in: f64 = (threads.into_iter())
        .map(|t| t.join().unwrap())
        .map(|(frames, ns)| frames as f64 / ns as f64 * 1e3)
        .sum();
    let rx = (g.stat(gstat::RX) - rx0) as f64;
    let tx = (g.stat(gstat::TX) - tx0) as f64;
    assert_eq!(g.total_drops(), 0, "{}: frames were dropped", t.name());
    Run {
        mpps_in,
        edits,
        out_per_in: tx / rx.max(1.0),
        copied,
        dropped: cap.map_or(0, |c| c.dropped()),
    }
}

/// Deterministic mode for instruction counting (scripts/bench-instructions.sh runs it under
/// callgrind): exactly `n` frames through one topology on this thread.
fn run_count(t: Topo, mode: TopologyMode, n: u64) {
    let cfg = GraphConfig {
        workers: 1,
        topology: mode,
        manual_clock: true,
        ..Default::default()
    };
    let mut g = Graph::new(cfg, xdpgraph::nodes::builtin());
    let (src, sinks, template, capture) = build(&mut g, t);
    // the capture's reader keeps up (drained between polls, outside the counted function), so
    // the count is of copies made, not of copies dropped
    let mut reader = capture.clone().map(Reader::new);
    let mut batch = Batch::default();
    let mut w = g.handle().worker(0, Pool::heap(4096, 2048, 256)).unwrap();
    w.add_port(Box::new(MemPort::generator(src, template, n)));
    for s in sinks {
        w.add_port(Box::new(MemPort::sink(s)));
    }
    let mut done = 0u64;
    while done < n {
        done += w.poll() as u64;
        if let Some(r) = &mut reader {
            r.drain(&mut batch);
        }
    }
    assert_eq!(g.total_drops(), 0);
    let dropped = capture.map_or(0, |c| c.dropped());
    println!("frames {done}, capture copies dropped {dropped}");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs this too: keep it short there.
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 0.05 } else { 2.0 });
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1 } else { 5 });
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Some(n) = std::env::var("BENCH_COUNT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        let only = std::env::var("BENCH_ONLY").unwrap_or_default();
        let t = (Topo::ALL.into_iter())
            .find(|t| t.name().contains(only.as_str()))
            .expect("BENCH_ONLY names a topology");
        let mode = if std::env::var("BENCH_DESIGN").as_deref() == Ok("rwlock") {
            TopologyMode::RwLock
        } else {
            TopologyMode::Epoch
        };
        run_count(t, mode, n);
        return;
    }
    println!("| topology | design | idle Mpps/core | idle ns/frame | churn Mpps/core | churn ns/frame | churn/idle | edits/s | frames out per in |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let epoch_only = std::env::var("BENCH_EPOCH_ONLY").is_ok();
    let mut cases = Vec::new();
    for t in Topo::ALL {
        if !only.is_empty() && !t.name().contains(only.as_str()) {
            continue;
        }
        for (mode, label) in [
            (TopologyMode::Epoch, "epoch"),
            (TopologyMode::RwLock, "RwLock baseline"),
        ] {
            // the capture is measured against the epoch design only
            let baseline_only = epoch_only || matches!(t, Topo::BridgeCapture | Topo::BridgeMixed);
            if baseline_only && mode != TopologyMode::Epoch {
                continue;
            }
            cases.push((t, mode, label));
        }
    }
    // Every round runs every case, idle and under churn, so drift in a noisy machine spreads
    // over all of them; medians per case.
    let mut idle = vec![Vec::new(); cases.len()];
    let mut busy = vec![Vec::new(); cases.len()];
    let mut eps = vec![Vec::new(); cases.len()];
    let mut ratio = vec![0.0; cases.len()];
    let mut copies = vec![(0u64, 0u64); cases.len()];
    for _ in 0..runs {
        for (i, (t, mode, _)) in cases.iter().enumerate() {
            let a = run_once(*t, *mode, false, secs);
            let b = run_once(*t, *mode, true, secs);
            ratio[i] = a.out_per_in;
            idle[i].push(a.mpps_in);
            busy[i].push(b.mpps_in);
            eps[i].push(b.edits as f64 / secs);
            copies[i].0 += a.copied + b.copied;
            copies[i].1 += a.dropped + b.dropped;
        }
    }
    for (i, (t, _, label)) in cases.iter().enumerate() {
        let (im, bm) = (median(idle[i].clone()), median(busy[i].clone()));
        // The churn/idle ratio is the median of the per-round ratios (each pair ran back to back).
        let per_round: Vec<f64> = idle[i].iter().zip(&busy[i]).map(|(a, b)| b / a).collect();
        println!(
            "| {} | {} | {:.2} | {:.1} | {:.2} | {:.1} | {:.3} | {:.0} | {:.1} |",
            t.name(),
            label,
            im,
            1e3 / im,
            bm,
            1e3 / bm,
            median(per_round),
            median(eps[i].clone()),
            ratio[i]
        );
    }
    capture_summary(&cases, &idle, &copies);
}

/// The bridge with a capture on its busy hook against the bridge without one (epoch design,
/// idle): the medians' ratio, and the copies the reader got and missed.
fn capture_summary(cases: &[(Topo, TopologyMode, &str)], idle: &[Vec<f64>], copies: &[(u64, u64)]) {
    let find = |want: fn(&Topo) -> bool| {
        (cases.iter()).position(|(t, m, _)| want(t) && *m == TopologyMode::Epoch)
    };
    let (Some(b), Some(c)) = (
        find(|t| matches!(t, Topo::Bridge)),
        find(|t| matches!(t, Topo::BridgeCapture)),
    ) else {
        return;
    };
    let (without, with) = (median(idle[b].clone()), median(idle[c].clone()));
    println!(
        "\ncapture on the bridge's busy hook: {with:.2} Mpps/core against {without:.2} without ({:.3}x); copies read {}, dropped {}",
        with / without,
        copies[c].0,
        copies[c].1
    );
    // each round ran the two back to back (bench/capture.sh reads these lines)
    let per_round: Vec<f64> = idle[b].iter().zip(&idle[c]).map(|(x, y)| y / x).collect();
    for (i, ((x, y), r)) in idle[b].iter().zip(&idle[c]).zip(&per_round).enumerate() {
        println!(
            "capture round {}: {y:.2} Mpps/core against {x:.2} without ({r:.3}x)",
            i + 1
        );
    }
    println!(
        "capture median of the per-round ratios: {:.3}x",
        median(per_round)
    );
}
