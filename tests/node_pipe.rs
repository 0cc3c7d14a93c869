//! The `pipe` node (ng_pipe(4), a WAN emulator) in the in-memory lab, on the graph's manual
//! clock: `setcfg`/`getcfg` in netgraph's syntax and rules, frames held for the delay and
//! released on time with no later traffic, bandwidth spacing, the queue limits' named drops,
//! the BER loss rate and the duplication rate (fixed seeds), counters and `getrun`, held frames
//! freed (and named) when the node or the hook goes, the splice on shutdown, and `ctl save`.

use xdpgraph::ctl::exec::execute;
use xdpgraph::errno::Errno;
use xdpgraph::graph::{DropReason, GraphError};
use xdpgraph::nodes::pipe::reason;
use xdpgraph::testkit::{mac, Lab};
use xdpgraph::value::Value;

const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

fn v(s: &str) -> Value {
    Value::parse(s).unwrap()
}

/// A frame of `len` bytes carrying `seq` in bytes 14..18.
fn fr(len: usize, seq: u32) -> Vec<u8> {
    let mut f = xdpgraph::testkit::frame(mac(2), mac(1), 0x0800, len, 0);
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    f
}

fn seqs(frames: &[Vec<u8>]) -> Vec<u32> {
    (frames.iter())
        .map(|f| u32::from_be_bytes(f[14..18].try_into().unwrap()))
        .collect()
}

/// p0 on the pipe's upper (frames in p0 go downstream, out p1), p1 on its lower.
fn pipe() -> Lab {
    let mut l = Lab::new(2);
    l.graph.mkpeer("p0:", "pipe", "lower", "upper").unwrap();
    l.graph.name("p0:lower", "pp").unwrap();
    l.graph.connect("p1:", "pp:", "lower", "lower").unwrap();
    l
}

fn setcfg(l: &mut Lab, arg: &str) -> Result<(), GraphError> {
    l.graph.msg("pp:", "setcfg", Some(&v(arg))).map(|_| ())
}

fn getcfg(l: &mut Lab) -> Value {
    l.graph.msg("pp:", "getcfg", None).unwrap().unwrap()
}

fn num(v: &Value, path: &str) -> u64 {
    let mut x = v;
    for p in path.split('.') {
        x = x.field(p).unwrap_or_else(|| panic!("no {path} in {v}"));
    }
    x.as_i128().unwrap() as u64
}

/// One direction's counters: FwdOctets FwdFrames queueDropOctets queueDropFrames
/// delayDropOctets delayDropFrames.
fn stats(l: &mut Lab, dir: &str) -> [u64; 6] {
    let s = l.graph.msg("pp:", "getstats", None).unwrap().unwrap();
    [
        "FwdOctets",
        "FwdFrames",
        "queueDropOctets",
        "queueDropFrames",
        "delayDropOctets",
        "delayDropFrames",
    ]
    .map(|f| num(&s, &format!("{dir}.{f}")))
}

fn run(l: &mut Lab, dir: &str) -> [u64; 5] {
    let r = l.graph.msg("pp:", "getrun", None).unwrap().unwrap();
    [
        "queues",
        "queuedOctets",
        "queuedFrames",
        "delayedOctets",
        "delayedFrames",
    ]
    .map(|f| num(&r, &format!("{dir}.{f}")))
}

/// Sets graph time to `t` and lets the worker run its call-backs (no new traffic).
fn at(l: &mut Lab, t: u64) {
    l.graph.set_time_ns(t);
    l.worker.poll();
}

fn full_pool(l: &Lab) -> bool {
    l.worker.pool().available() == l.worker.pool().capacity()
}

#[test]
fn pipe_cfg_round_trips_with_netgraphs_names_and_rules() {
    let mut l = pipe();
    // ng_pipe's newhook defaults, both ways.
    let c = getcfg(&mut l);
    for d in ["downstream", "upstream"] {
        assert_eq!(num(&c, &format!("{d}.queuelen")), 50, "{c}");
        assert_eq!(num(&c, &format!("{d}.fifo")), 1);
        assert_eq!(num(&c, &format!("{d}.droptail")), 1);
    }
    assert_eq!(
        c.to_string(),
        "{ downstream={ queuelen=50 fifo=1 droptail=1 } upstream={ queuelen=50 fifo=1 \
         droptail=1 } }"
    );
    // The top-level bandwidth sets both ways and the overhead (Ethernet at 10 Mbit/s and up).
    setcfg(&mut l, "{ bandwidth=10000000 delay=2500 }").unwrap();
    let c = getcfg(&mut l);
    assert_eq!(
        (num(&c, "bandwidth"), num(&c, "delay"), num(&c, "overhead")),
        (10_000_000, 2500, 24)
    );
    assert_eq!(
        num(&c, "downstream.bandwidth"),
        0,
        "carried by the top level"
    );
    setcfg(&mut l, "{ bandwidth=64000 }").unwrap();
    assert_eq!(num(&getcfg(&mut l), "overhead"), 10, "HDLC below 10 Mbit/s");
    // Different bandwidths each way show per direction, the top level 0.
    setcfg(
        &mut l,
        "{ downstream={ bandwidth=2000000 BER=1000000 queuelen=20 delaylen=30 duplicate=5 \
         drophead=1 } upstream={ bandwidth=1000000 } }",
    )
    .unwrap();
    let c = getcfg(&mut l);
    assert_eq!(num(&c, "bandwidth"), 0);
    assert_eq!(num(&c, "downstream.bandwidth"), 2_000_000);
    assert_eq!(num(&c, "upstream.bandwidth"), 1_000_000);
    assert_eq!(num(&c, "downstream.BER"), 1_000_000);
    assert_eq!(num(&c, "downstream.queuelen"), 20);
    assert_eq!(num(&c, "downstream.delaylen"), 30);
    assert_eq!(num(&c, "downstream.duplicate"), 5);
    assert_eq!(num(&c, "downstream.drophead"), 1);
    assert_eq!(num(&c, "downstream.droptail"), 0);
    assert_eq!(num(&c, "delay"), 2500, "absent fields keep their value");
    // Out of range keeps, as ng_pipe: delay ≥ 10 s, queuelen < 5, duplicate > 50, bandwidth
    // under 100 bit/s, BER above 10^12.
    setcfg(
        &mut l,
        "{ delay=10000000 downstream={ queuelen=4 duplicate=51 bandwidth=99 \
         BER=1000000000001 } }",
    )
    .unwrap();
    let c2 = getcfg(&mut l);
    assert_eq!(c2, c);
    // -1 sets 0.
    setcfg(
        &mut l,
        "{ delay=-1 overhead=-1 downstream={ BER=-1 queuelen=-1 duplicate=-1 droptail=1 } }",
    )
    .unwrap();
    let c = getcfg(&mut l);
    assert_eq!((num(&c, "delay"), num(&c, "overhead")), (0, 0), "{c}");
    assert_eq!(num(&c, "downstream.BER"), 0);
    assert_eq!(num(&c, "downstream.queuelen"), 0);
    assert_eq!(num(&c, "downstream.duplicate"), 0);
    assert_eq!(num(&c, "downstream.droptail"), 1);
    setcfg(&mut l, "{ bandwidth=-1 }").unwrap();
    assert_eq!(num(&getcfg(&mut l), "upstream.bandwidth"), 0);
    assert_eq!(num(&getcfg(&mut l), "bandwidth"), 0);
}

#[test]
fn pipe_setcfg_refuses_unknown_fields_and_other_disciplines() {
    let mut l = pipe();
    let before = getcfg(&mut l);
    for bad in [
        "{ downstream={ wfq=1 } }",
        "{ upstream={ drr=2048 } }",
        "{ bogus=1 }",
        "{ downstream={ ber=5 } }",
        "{ delay=\"x\" }",
        "{ downstream={ queuelen=4294967296 } }",
        "7",
    ] {
        let e = setcfg(&mut l, bad).unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL, "{bad}: {e}");
    }
    assert_eq!(
        l.graph.msg("pp:", "setcfg", None).unwrap_err().errno(),
        Errno::EINVAL
    );
    assert_eq!(getcfg(&mut l), before, "a refused setcfg changes nothing");
    let e = l.graph.mkpeer("pp:", "hole", "middle", "x").unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
}

#[test]
fn pipe_without_configuration_passes_frames_straight_through() {
    let mut l = pipe();
    l.send(0, &(0..10).map(|i| fr(100, i)).collect::<Vec<_>>());
    assert_eq!(seqs(&l.tx(1)), (0..10).collect::<Vec<_>>());
    l.send(1, &[fr(60, 99)]);
    assert_eq!(seqs(&l.tx(0)), [99]);
    assert_eq!(stats(&mut l, "downstream"), [1000, 10, 0, 0, 0, 0]);
    assert_eq!(stats(&mut l, "upstream"), [60, 1, 0, 0, 0, 0]);
    assert!(full_pool(&l));
}

#[test]
fn pipe_delay_holds_frames_and_releases_them_on_time() {
    let mut l = pipe();
    setcfg(&mut l, "{ delay=10000 }").unwrap();
    l.graph.set_time_ns(SEC);
    l.send(0, &(0..5).map(|i| fr(100, i)).collect::<Vec<_>>());
    assert!(l.tx(1).is_empty(), "not before the delay");
    assert_eq!(run(&mut l, "downstream"), [0, 0, 0, 500, 5]);
    assert_eq!(l.worker.pool().available(), l.worker.pool().capacity() - 5);
    // A later frame, at 4 ms, is due at 14 ms.
    l.graph.set_time_ns(SEC + 4 * MS);
    l.send(0, &[fr(100, 5)]);
    at(&mut l, SEC + 10 * MS - 1);
    assert!(l.tx(1).is_empty(), "1 ns early");
    at(&mut l, SEC + 10 * MS);
    assert_eq!(seqs(&l.tx(1)), [0, 1, 2, 3, 4], "on time, with no traffic");
    // An idle worker would sleep no longer than until the next one is due.
    let wait = l.worker.idle_wait(std::time::Duration::from_secs(1));
    assert_eq!(wait, std::time::Duration::from_millis(4));
    at(&mut l, SEC + 14 * MS - 1);
    assert!(l.tx(1).is_empty());
    at(&mut l, SEC + 14 * MS);
    assert_eq!(seqs(&l.tx(1)), [5]);
    assert_eq!(run(&mut l, "downstream"), [0; 5]);
    assert_eq!(stats(&mut l, "downstream"), [600, 6, 0, 0, 0, 0]);
    // The other way is delayed too (delay is the node's).
    l.send(1, &[fr(100, 7)]);
    assert!(l.tx(0).is_empty());
    at(&mut l, SEC + 24 * MS);
    assert_eq!(seqs(&l.tx(0)), [7]);
    assert!(full_pool(&l));
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn pipe_bandwidth_spaces_frames_by_their_serialisation_time() {
    let mut l = pipe();
    // 1 Mbit/s downstream, no overhead: a 125-byte frame takes 1 ms; 2 ms delay after it.
    setcfg(&mut l, "{ delay=2000 downstream={ bandwidth=1000000 } }").unwrap();
    assert_eq!(num(&getcfg(&mut l), "overhead"), 0);
    l.graph.set_time_ns(SEC);
    l.send(0, &(0..8).map(|i| fr(125, i)).collect::<Vec<_>>());
    assert_eq!(
        run(&mut l, "downstream")[2],
        7,
        "one on the wire, 7 waiting"
    );
    let mut out = Vec::new();
    for step in 0..=200 {
        let t = SEC + step * 50 * US;
        at(&mut l, t);
        for s in seqs(&l.tx(1)) {
            out.push((s, t));
        }
    }
    assert_eq!(out.len(), 8, "{out:?}");
    for (i, (s, t)) in out.iter().enumerate() {
        // frame i ends its serialisation at (i + 1) ms and leaves 2 ms later
        assert_eq!(*s, i as u32);
        assert_eq!(*t, SEC + (i as u64 + 1) * MS + 2 * MS, "frame {i}");
    }
    // The upstream direction has no bandwidth: it only waits the delay.
    l.send(1, &(0..3).map(|i| fr(1500, i)).collect::<Vec<_>>());
    at(&mut l, SEC + 12 * MS - 1);
    assert!(l.tx(0).is_empty());
    at(&mut l, SEC + 12 * MS);
    assert_eq!(l.tx(0).len(), 3);
}

#[test]
fn pipe_bandwidth_counts_the_overhead() {
    let mut l = pipe();
    // 64 kbit/s top level: overhead 10 bytes, so a 70-byte frame takes (70 + 10)·8/64000 s.
    setcfg(&mut l, "{ bandwidth=64000 }").unwrap();
    l.graph.set_time_ns(SEC);
    l.send(0, &(0..3).map(|i| fr(70, i)).collect::<Vec<_>>());
    at(&mut l, SEC + 10 * MS - 1);
    assert!(l.tx(1).is_empty());
    at(&mut l, SEC + 10 * MS);
    assert_eq!(seqs(&l.tx(1)), [0]);
    at(&mut l, SEC + 30 * MS);
    assert_eq!(seqs(&l.tx(1)), [1, 2]);
}

#[test]
fn pipe_queue_limit_drops_are_named_droptail_and_drophead() {
    for (flag, kept) in [
        ("droptail", [0, 1, 2, 3, 4, 5]),
        ("drophead", [0, 15, 16, 17, 18, 19]),
    ] {
        let mut l = pipe();
        let arg = format!("{{ downstream={{ bandwidth=1000000 queuelen=5 {flag}=1 }} }}");
        setcfg(&mut l, &arg).unwrap();
        l.graph.set_time_ns(SEC);
        // One starts at once, five wait, fourteen overflow (ng_pipe counts them queueDrop).
        l.send(0, &(0..20).map(|i| fr(125, i)).collect::<Vec<_>>());
        assert_eq!(
            stats(&mut l, "downstream"),
            [0, 0, 14 * 125, 14, 0, 0],
            "{flag}"
        );
        assert_eq!(run(&mut l, "downstream"), [1, 625, 5, 125, 1]);
        assert_eq!(l.graph.drops_of("pipe", reason::QUEUE_FULL), 14);
        let r = execute(&mut l.graph, "errors");
        assert!(
            r.text.lines().any(|x| x.split_whitespace().take(4).eq([
                "pp:",
                "pipe",
                "queue_full",
                "14"
            ])),
            "{}",
            r.text
        );
        at(&mut l, SEC + 10 * MS);
        assert_eq!(seqs(&l.tx(1)), kept, "{flag}");
        assert_eq!(stats(&mut l, "downstream")[1], 6);
        assert_eq!(l.balance().0, l.balance().1);
        assert!(full_pool(&l));
    }
}

#[test]
fn pipe_delay_queue_limit_drops_are_named() {
    let mut l = pipe();
    setcfg(&mut l, "{ delay=5000 downstream={ delaylen=5 } }").unwrap();
    l.send(0, &(0..8).map(|i| fr(100, i)).collect::<Vec<_>>());
    assert_eq!(stats(&mut l, "downstream"), [0, 0, 0, 0, 300, 3]);
    assert_eq!(l.graph.drops_of("pipe", reason::DELAY_QUEUE_FULL), 3);
    at(&mut l, 5 * MS);
    assert_eq!(seqs(&l.tx(1)), [0, 1, 2, 3, 4]);
    // With room again, frames are accepted.
    l.send(0, &[fr(100, 9)]);
    at(&mut l, 10 * MS);
    assert_eq!(seqs(&l.tx(1)), [9]);
}

#[test]
fn pipe_ber_loses_frames_at_the_expected_rate_with_a_fixed_seed() {
    let run_once = || {
        let mut l = pipe();
        // 1000-byte frames are 8000 bits: clean with probability (1 − 1/80000)^8000 ≈ 0.9048.
        setcfg(&mut l, "{ downstream={ BER=80000 } }").unwrap();
        let n = 20_000u32;
        for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
            l.send(0, &chunk.iter().map(|i| fr(1000, *i)).collect::<Vec<_>>());
            l.tx(1);
        }
        let s = stats(&mut l, "downstream");
        assert_eq!(s[1] + s[5], n as u64);
        assert_eq!(l.graph.drops_of("pipe", reason::BER), s[5]);
        assert_eq!(l.balance().0, l.balance().1);
        s[5]
    };
    let lost = run_once();
    let p = 1.0 - (1.0 - 1.0 / 80000f64).powi(8000);
    let want = p * 20_000.0;
    // 5 standard deviations (~41 frames each)
    assert!(
        (lost as f64 - want).abs() < 5.0 * (want * (1.0 - p)).sqrt(),
        "lost {lost}, expected {want:.0}"
    );
    assert_eq!(run_once(), lost, "same node ID and worker: same losses");
    // BER 1: the link is down.
    let mut l = pipe();
    setcfg(&mut l, "{ upstream={ BER=1 } }").unwrap();
    l.send(1, &(0..10).map(|i| fr(60, i)).collect::<Vec<_>>());
    assert!(l.tx(0).is_empty());
    assert_eq!(stats(&mut l, "upstream")[5], 10);
}

#[test]
fn pipe_duplicates_frames_at_the_expected_rate() {
    let mut l = pipe();
    // ng_pipe duplicates when random() % 100 <= duplicate: 11 chances in 100 for 10; a
    // duplicated frame stays at the head and may be duplicated again: 0.11/0.89 copies each.
    setcfg(&mut l, "{ downstream={ duplicate=10 } }").unwrap();
    let n = 20_000u32;
    let mut got = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(32) {
        l.send(0, &chunk.iter().map(|i| fr(100, *i)).collect::<Vec<_>>());
        got.extend(seqs(&l.tx(1)));
    }
    let extra = got.len() as f64 - n as f64;
    let want = n as f64 * 0.11 / 0.89;
    assert!(
        (extra - want).abs() < 0.1 * want,
        "{extra} copies, expected {want:.0}"
    );
    let mut sorted = got.clone();
    sorted.dedup();
    assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "in order, every frame");
    assert_eq!(stats(&mut l, "downstream")[1], got.len() as u64);
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn pipe_held_frames_are_freed_and_named_when_the_node_goes() {
    let mut l = pipe();
    setcfg(&mut l, "{ delay=1000000 downstream={ bandwidth=100000 } }").unwrap();
    l.send(0, &(0..40).map(|i| fr(500, i)).collect::<Vec<_>>());
    l.send(1, &(0..30).map(|i| fr(500, i)).collect::<Vec<_>>());
    let r = run(&mut l, "downstream");
    assert_eq!(r[2] + r[4], 40, "{r:?}");
    assert_eq!(run(&mut l, "upstream")[4], 30);
    assert_eq!(l.worker.pool().available(), l.worker.pool().capacity() - 70);
    l.graph.shutdown("pp:").unwrap();
    l.worker.poll();
    assert!(full_pool(&l), "every held frame back in the pool");
    assert_eq!(l.graph.drops(DropReason::Flushed), 70);
    let r = execute(&mut l.graph, "errors");
    assert!(r.text.contains("flushed"), "{}", r.text);
    assert_eq!(l.balance().0, l.balance().1);
    // Nothing is left for the worker to call back.
    assert_eq!(
        l.worker.idle_wait(std::time::Duration::from_millis(1)),
        std::time::Duration::from_millis(1)
    );
}

#[test]
fn pipe_held_frames_of_a_removed_hook_are_flushed() {
    let mut l = pipe();
    setcfg(&mut l, "{ delay=50000 }").unwrap();
    l.send(0, &(0..4).map(|i| fr(100, i)).collect::<Vec<_>>());
    l.send(1, &(0..3).map(|i| fr(100, i)).collect::<Vec<_>>());
    // upper goes: the frames that came by it are freed (ng_pipe's disconnect), the others stay.
    l.graph.rmhook("pp:", "upper").unwrap();
    l.worker.poll();
    assert_eq!(l.graph.drops(DropReason::Flushed), 4);
    assert_eq!(run(&mut l, "downstream")[4], 0);
    assert_eq!(run(&mut l, "upstream")[4], 3);
    // Their way out is gone: due, they are delayDrops (not_connected), as ng_pipe counts them.
    at(&mut l, 50 * MS);
    assert_eq!(stats(&mut l, "upstream"), [0, 0, 0, 0, 300, 3]);
    assert_eq!(l.graph.drops(DropReason::NotConnected), 3);
    assert!(full_pool(&l));
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn pipe_connecting_a_hook_resets_its_direction() {
    let mut l = pipe();
    setcfg(&mut l, "{ delay=700 bandwidth=1000000 }").unwrap();
    l.send(1, &[fr(100, 1)]);
    l.graph.rmhook("pp:", "lower").unwrap();
    l.graph.connect("p1:", "pp:", "lower", "lower").unwrap();
    let c = getcfg(&mut l);
    assert_eq!(num(&c, "downstream.bandwidth"), 1_000_000, "{c}");
    assert_eq!(num(&c, "upstream.bandwidth"), 0, "{c}");
    assert_eq!(num(&c, "delay"), 700, "the node's delay stays");
    assert_eq!(stats(&mut l, "upstream"), [0; 6]);
}

#[test]
fn pipe_shutdown_splices_its_peers() {
    let mut l = pipe();
    setcfg(&mut l, "{ delay=1000 }").unwrap();
    l.graph.shutdown("pp:").unwrap();
    l.send(0, &[fr(100, 1)]);
    assert_eq!(seqs(&l.tx(1)), [1], "p0 and p1 joined, no delay");
}

#[test]
fn pipe_clears_its_counters() {
    let mut l = pipe();
    l.send(0, &[fr(100, 1)]);
    let s = l.graph.msg("pp:", "getclrstats", None).unwrap().unwrap();
    assert_eq!(num(&s, "downstream.FwdFrames"), 1);
    assert_eq!(stats(&mut l, "downstream"), [0; 6]);
    l.send(1, &[fr(100, 1)]);
    assert_eq!(l.graph.msg("pp:", "clrstats", None).unwrap(), None);
    assert_eq!(stats(&mut l, "upstream"), [0; 6]);
    for m in ["getstats", "getrun", "getcfg"] {
        let e = l.graph.msg("pp:", m, Some(&v("1"))).unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL, "{m}");
    }
}

#[test]
fn pipe_save_recreates_the_configuration() {
    let mut l = pipe();
    setcfg(
        &mut l,
        "{ bandwidth=2000000 delay=1500 overhead=-1 downstream={ BER=100000 queuelen=-1 \
         delaylen=7 duplicate=3 drophead=1 } }",
    )
    .unwrap();
    let want = getcfg(&mut l);
    let script = xdpgraph::ctl::save::save(&mut l.graph);
    assert!(script.contains("setcfg"), "{script}");
    let mut m = Lab::new(2);
    for line in script.lines() {
        let r = execute(&mut m.graph, line);
        assert!(r.ok, "{line}: {:?}", r.error);
    }
    assert_eq!(m.graph.msg("pp:", "getcfg", None).unwrap(), Some(want));
    let mut d = pipe();
    let script = xdpgraph::ctl::save::save(&mut d.graph);
    assert!(!script.contains("setcfg"), "{script}");
}

#[test]
fn pipe_held_frames_are_freed_and_named_when_the_worker_stops() {
    let mut l = pipe();
    setcfg(&mut l, "{ delay=500000 }").unwrap();
    l.send(0, &(0..9).map(|i| fr(100, i)).collect::<Vec<_>>());
    assert_eq!(run(&mut l, "downstream")[4], 9);
    let Lab { graph, worker, .. } = l;
    drop(worker);
    assert_eq!(graph.drops(DropReason::Flushed), 9);
    assert_eq!(graph.drops_of("pipe", DropReason::Flushed), 9);
}
