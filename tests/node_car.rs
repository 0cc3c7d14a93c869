//! The `car` node (ng_car(4), committed access rate) in the in-memory lab: the rate held over
//! stepped graph time (bytes and packets), each mode's colouring, actions, both directions,
//! `setconf`'s errors, `getconf`, the counters' names and clearing, drops in `ctl errors`,
//! `ctl save`, and mode 3 (shaping): frames over the rate held in a queue and released as the
//! bucket refills, with no traffic; the queue's limit and early drop; held frames freed.

use xdpgraph::ctl::exec::execute;
use xdpgraph::errno::Errno;
use xdpgraph::graph::{DropReason, GraphError};
use xdpgraph::nodes::car::reason;
use xdpgraph::testkit::{frame, mac, Lab};
use xdpgraph::value::Value;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

fn v(s: &str) -> Value {
    Value::parse(s).unwrap()
}

/// A frame of `len` bytes; `seq` makes the bytes distinct.
fn fr(len: usize, seq: u8) -> Vec<u8> {
    frame(mac(2), mac(1), 0x0800, len, seq)
}

/// p0 on the car's upper (frames in p0 go downstream, out p1), p1 on its lower.
fn car() -> Lab {
    let mut l = Lab::new(2);
    l.graph.mkpeer("p0:", "car", "lower", "upper").unwrap();
    l.graph.name("p0:lower", "c").unwrap();
    l.graph.connect("p1:", "c:", "lower", "lower").unwrap();
    l
}

fn setconf(l: &mut Lab, arg: &str) -> Result<(), GraphError> {
    l.graph.msg("c:", "setconf", Some(&v(arg))).map(|_| ())
}

/// `setconf` with `down` for downstream and the defaults upstream.
fn down(l: &mut Lab, down: &str) {
    let up = "{ cbs=8192 ebs=8192 cir=10240 greenAction=1 yellowAction=1 redAction=2 }";
    setconf(l, &format!("{{ upstream={up} downstream={{ {down} }} }}")).unwrap();
}

/// One direction's counters from `getstats`: passed droped green yellow red errors.
fn stats(l: &mut Lab, dir: &str) -> [u64; 6] {
    let s = l.graph.msg("c:", "getstats", None).unwrap().unwrap();
    let d = s.field(dir).unwrap();
    ["passed", "droped", "green", "yellow", "red", "errors"].map(|f| {
        let x = d.field(f).unwrap_or_else(|| panic!("no field {f} in {s}"));
        x.as_i128().unwrap() as u64
    })
}

const CONF_FIELDS: [&str; 9] = [
    "cbs",
    "ebs",
    "cir",
    "pir",
    "greenAction",
    "yellowAction",
    "redAction",
    "mode",
    "opt",
];

fn conf_field(c: &Value, dir: &str, f: &str) -> u64 {
    let x = c.field(dir).and_then(|d| d.field(f));
    x.unwrap_or_else(|| panic!("no {dir}.{f} in {c}"))
        .as_i128()
        .unwrap() as u64
}

/// Offers frames of `len` bytes into p0, `per` at a time every `step` ns, for `t` ns of graph
/// time; returns (sent, transmitted on p1).
fn offer(l: &mut Lab, len: usize, per: usize, step: u64, t: u64) -> (u64, u64) {
    let (mut sent, mut out) = (0, 0);
    let mut now = l.graph.now_ns();
    let end = now + t;
    while now < end {
        now += step;
        l.graph.set_time_ns(now);
        let b: Vec<_> = (0..per).map(|i| fr(len, i as u8)).collect();
        l.send(0, &b);
        sent += per as u64;
        out += l.tx(1).len() as u64;
    }
    (sent, out)
}

/// Passed frames are within 10% of ⌊(cbs + ebs + cir/8·T) / len⌋ at a load above cir, and
/// passed + droped = sent.
fn check_rate(l: &mut Lab, (cbs, ebs, cir): (u64, u64, u64), len: usize, per: usize, step: u64) {
    let t = 10 * SEC;
    let offered = (len * per) as u64 * 8 * SEC / step;
    assert!(offered >= 2 * cir, "offered {offered} bit/s, cir {cir}");
    let red_before = l.graph.drops_of("car", reason::RED);
    let (sent, out) = offer(l, len, per, step, t);
    let want = (cbs + ebs + cir * (t / SEC) / 8) / len as u64;
    let [passed, droped, green, yellow, red, errors] = stats(l, "downstream");
    let lo = want - want / 10;
    let hi = want + want / 10;
    assert!(
        passed >= lo && passed <= hi,
        "passed {passed}, want {want}±10%"
    );
    assert_eq!(passed + droped, sent);
    assert_eq!((out, red, errors), (passed, droped, 0));
    assert_eq!(green + yellow + red, sent);
    assert_eq!(l.graph.drops_of("car", reason::RED) - red_before, droped);
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn car_defaults_hold_the_committed_rate() {
    let mut l = car();
    // cbs=8192 ebs=8192 cir=10240 bit/s; 100-byte frames at 80 kbit/s, one every 10 ms.
    check_rate(&mut l, (8192, 8192, 10240), 100, 1, 10 * MS);
}

#[test]
fn car_holds_a_megabit_rate_offered_in_bursts() {
    let mut l = car();
    down(
        &mut l,
        "cbs=10000 ebs=5000 cir=1000000 greenAction=1 yellowAction=1 redAction=2",
    );
    // 32 frames of 500 bytes every 64 ms: 2 Mbit/s into 1 Mbit/s.
    check_rate(&mut l, (10000, 5000, 1_000_000), 500, 32, 64 * MS);
    // Smoother: one frame every 2 ms, after the buckets refill.
    l.graph.msg("c:", "clrstats", None).unwrap();
    let now = l.graph.now_ns();
    l.graph.set_time_ns(now + 20 * SEC);
    check_rate(&mut l, (10000, 5000, 1_000_000), 500, 1, 2 * MS);
}

#[test]
fn car_counting_packets_holds_the_packet_rate() {
    let mut l = car();
    down(
        &mut l,
        "cbs=10 ebs=5 cir=100 opt=2 greenAction=1 yellowAction=1 redAction=2",
    );
    let c = l.graph.msg("c:", "getconf", None).unwrap().unwrap();
    assert_eq!(conf_field(&c, "downstream", "cbs"), 10, "{c}");
    assert_eq!(conf_field(&c, "downstream", "ebs"), 5);
    assert_eq!(conf_field(&c, "downstream", "cir"), 100);
    assert_eq!(conf_field(&c, "downstream", "opt"), 2);
    // 1000 packets/s for 10 s, small and large alike: size does not count.
    let (sent, out) = offer(&mut l, 60, 1, MS, 5 * SEC);
    let (sent2, out2) = offer(&mut l, 1500, 1, MS, 5 * SEC);
    let want = 10 + 5 + 100 * 10;
    let passed = out + out2;
    assert!(
        passed.abs_diff(want) <= want / 10,
        "passed {passed}, want {want}"
    );
    assert_eq!(stats(&mut l, "downstream")[0], passed);
    assert_eq!(stats(&mut l, "downstream")[1], sent + sent2 - passed);
}

#[test]
fn car_mode0_is_green_then_yellow_then_red() {
    let mut l = car();
    // cir 8000 bit/s = 1000 bytes a second.
    down(
        &mut l,
        "cbs=1000 ebs=500 cir=8000 greenAction=1 yellowAction=1 redAction=2",
    );
    let frames: Vec<_> = (0..20).map(|i| fr(100, i)).collect();
    l.send(0, &frames);
    assert_eq!(
        l.tx(1),
        frames[..15].to_vec(),
        "10 green, 5 yellow pass, in order"
    );
    assert_eq!(stats(&mut l, "downstream"), [15, 5, 10, 5, 5, 0]);
    // 1.2 s: 1200 bytes of tokens; 1000 fill the committed bucket, 200 overflow into ebs.
    l.graph.set_time_ns(1200 * MS);
    l.send(0, &frames[..14]);
    assert_eq!(l.tx(1).len(), 12);
    assert_eq!(stats(&mut l, "downstream"), [27, 7, 20, 7, 7, 0]);
    assert_eq!(l.graph.drops_of("car", reason::RED), 7);
}

#[test]
fn car_mode1_refills_the_peak_bucket_at_pir() {
    let mut l = car();
    // cir 1000 bytes/s, pir 2000 bytes/s; both buckets start full.
    down(
        &mut l,
        "cbs=1000 ebs=3000 cir=8000 pir=16000 mode=1 greenAction=1 yellowAction=1 redAction=2",
    );
    let frames: Vec<_> = (0..10).map(|i| fr(500, i)).collect();
    l.send(0, &frames);
    assert_eq!(stats(&mut l, "downstream"), [8, 2, 2, 6, 2, 0]);
    l.graph.set_time_ns(SEC / 2);
    l.send(0, &frames[..5]);
    // tc +500 (1 green), te +1000 (2 yellow), 2 red.
    assert_eq!(stats(&mut l, "downstream"), [11, 4, 3, 8, 4, 0]);
    let c = l.graph.msg("c:", "getconf", None).unwrap().unwrap();
    assert_eq!(conf_field(&c, "downstream", "pir"), 16000);
    assert_eq!(conf_field(&c, "downstream", "mode"), 1);
}

#[test]
fn car_mode2_borrows_future_tokens_red_like() {
    let mut l = car();
    down(
        &mut l,
        "cbs=1000 ebs=1500 cir=8000 mode=2 greenAction=1 yellowAction=1 redAction=2",
    );
    let frames: Vec<_> = (0..6).map(|i| fr(400, i)).collect();
    l.send(0, &frames);
    // ng_car's arithmetic: green, green, yellow (borrowed 200), yellow (800), red (1800 would
    // reach ebs: the borrowed total restarts), yellow (1000 borrowed).
    let want: Vec<_> = [0, 1, 2, 3, 5].iter().map(|i| frames[*i].clone()).collect();
    assert_eq!(l.tx(1), want);
    assert_eq!(stats(&mut l, "downstream"), [5, 1, 2, 3, 1, 0]);
    // The 1000 borrowed are repaid first: 1.5 s of cir leaves 500.
    l.graph.set_time_ns(1500 * MS);
    l.send(0, &frames[..2]);
    assert_eq!(stats(&mut l, "downstream")[2], 3, "one more green");
}

#[test]
fn car_actions_drop_or_mark_by_colour() {
    let mut l = car();
    down(
        &mut l,
        "cbs=200 ebs=200 cir=8000 greenAction=2 yellowAction=3 redAction=1",
    );
    let frames: Vec<_> = (0..6).map(|i| fr(100, i)).collect();
    l.send(0, &frames);
    // 2 green dropped; 2 yellow marked (forwarded, counted as errors, as ng_car does); 2 red
    // forwarded.
    assert_eq!(l.tx(1), frames[2..].to_vec());
    assert_eq!(stats(&mut l, "downstream"), [4, 2, 2, 2, 2, 2]);
    assert_eq!(l.graph.drops_of("car", reason::GREEN), 2);
    assert_eq!(l.graph.drops_of("car", reason::YELLOW), 0);
    assert_eq!(l.graph.drops_of("car", reason::RED), 0);
    // Any action but 1 and 3 drops (0 is what an absent field gives).
    down(
        &mut l,
        "cbs=200 ebs=200 cir=8000 greenAction=1 yellowAction=0 redAction=4",
    );
    l.send(0, &frames);
    assert_eq!(l.tx(1), frames[..2].to_vec());
    assert_eq!(l.graph.drops_of("car", reason::YELLOW), 2);
    assert_eq!(l.graph.drops_of("car", reason::RED), 2);
}

#[test]
fn car_directions_are_policed_and_counted_apart() {
    let mut l = car();
    setconf(
        &mut l,
        "{ upstream={ cbs=300 ebs=0 cir=8000 greenAction=1 yellowAction=1 redAction=2 } \
           downstream={ cbs=100 ebs=100 cir=8000 greenAction=1 yellowAction=1 redAction=2 } }",
    )
    .unwrap();
    let frames: Vec<_> = (0..5).map(|i| fr(100, i)).collect();
    l.send(1, &frames);
    assert_eq!(l.tx(0), frames[..3].to_vec(), "upstream: 3 green");
    l.send(0, &frames);
    assert_eq!(
        l.tx(1),
        frames[..2].to_vec(),
        "downstream: 1 green, 1 yellow"
    );
    assert_eq!(stats(&mut l, "upstream"), [3, 2, 3, 0, 2, 0]);
    assert_eq!(stats(&mut l, "downstream"), [2, 3, 1, 1, 3, 0]);
}

#[test]
fn car_setconf_refuses_what_ng_car_refuses() {
    let mut l = car();
    let dflt = "{ cbs=8192 ebs=8192 cir=10240 greenAction=1 yellowAction=1 redAction=2 }";
    let with = |d: &str| format!("{{ upstream={dflt} downstream={{ {d} }} }}");
    let errno = |l: &mut Lab, arg: &str| setconf(l, arg).unwrap_err().errno();
    for bad in [
        "cbs=100 ebs=100 cir=1000000001",
        "cbs=100 ebs=100 cir=1000 pir=1000000001",
        "cbs=0 ebs=0 cir=1000",
        "cbs=100 ebs=100 cir=0 mode=3",
        "cbs=100 ebs=100 cir=976563 opt=2",
        "cbs=100 ebs=100 cir=1000 mode=4",
        "cbs=100 ebs=100 cir=1000 bogus=1",
    ] {
        assert_eq!(errno(&mut l, &with(bad)), Errno::EINVAL, "{bad}");
    }
    // Absent structures are zeros: cbs = ebs = 0.
    let only_down = format!("{{ downstream={dflt} }}");
    assert_eq!(errno(&mut l, &only_down), Errno::EINVAL);
    assert_eq!(
        l.graph.msg("c:", "setconf", None).unwrap_err().errno(),
        Errno::EINVAL
    );
    // Nothing was changed by the refusals.
    let c = l.graph.msg("c:", "getconf", None).unwrap().unwrap();
    assert_eq!(conf_field(&c, "downstream", "cbs"), 8192);
    assert_eq!(conf_field(&c, "downstream", "mode"), 0);
    // Shaping with a cir is valid.
    setconf(&mut l, &with("cbs=100 ebs=100 cir=1000 mode=3")).unwrap();
    let c = l.graph.msg("c:", "getconf", None).unwrap().unwrap();
    assert_eq!(conf_field(&c, "downstream", "mode"), 3);
    // Edges that pass.
    setconf(&mut l, &with("cbs=0 ebs=1 cir=1000000000 pir=1000000000")).unwrap();
    setconf(&mut l, &with("cbs=1 ebs=1 cir=976562 opt=2")).unwrap();
}

#[test]
fn car_getconf_shows_the_defaults_and_echoes_setconf() {
    let mut l = car();
    let c = l.graph.msg("c:", "getconf", None).unwrap().unwrap();
    for dir in ["upstream", "downstream"] {
        let want = [8192, 8192, 10240, 0, 1, 1, 2, 0, 0];
        for (f, w) in CONF_FIELDS.iter().zip(want) {
            assert_eq!(conf_field(&c, dir, f), w, "{dir}.{f} in {c}");
        }
    }
    let arg = "{ upstream={ cbs=1 ebs=2 cir=3 pir=4 greenAction=3 yellowAction=2 redAction=1 \
               mode=1 opt=2 } downstream={ cbs=5000 ebs=6000 cir=7000 pir=8000 greenAction=1 \
               yellowAction=3 redAction=2 mode=2 opt=1 } }";
    setconf(&mut l, arg).unwrap();
    let c = l.graph.msg("c:", "getconf", None).unwrap().unwrap();
    let want = v(arg);
    for dir in ["upstream", "downstream"] {
        for f in CONF_FIELDS {
            let w = conf_field(&want, dir, f);
            assert_eq!(conf_field(&c, dir, f), w, "getconf echoes {dir}.{f}: {c}");
        }
    }
    assert_eq!(
        l.graph
            .msg("c:", "getconf", Some(&Value::Int(1)))
            .unwrap_err()
            .errno(),
        Errno::EINVAL
    );
}

#[test]
fn car_stats_are_named_as_ng_car_h_names_them_and_clear() {
    let mut l = car();
    let frames: Vec<_> = (0..100).map(|i| fr(200, i)).collect();
    l.send(0, &frames);
    let s = l.graph.msg("c:", "getstats", None).unwrap().unwrap();
    let Value::Struct(top) = &s else {
        panic!("{s}")
    };
    let dirs: Vec<&str> = top.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(dirs, ["upstream", "downstream"]);
    for (_, d) in top {
        let Value::Struct(f) = d else { panic!("{s}") };
        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["passed", "droped", "green", "yellow", "red", "errors"]
        );
    }
    // 16384 bytes of buckets: 40 green, 40 yellow (8192/200 each), 20 red.
    assert_eq!(stats(&mut l, "downstream"), [80, 20, 40, 40, 20, 0]);
    assert_eq!(stats(&mut l, "upstream"), [0; 6]);
    assert!(s.to_string().contains("droped=20"), "{s}");
    // getclrstats replies, then clears; clrstats replies nothing.
    let g = l.graph.msg("c:", "getclrstats", None).unwrap().unwrap();
    assert_eq!(g, s);
    assert_eq!(stats(&mut l, "downstream"), [0; 6]);
    l.send(0, &frames[..3]);
    assert_eq!(stats(&mut l, "downstream")[1], 3);
    assert_eq!(l.graph.msg("c:", "clrstats", None).unwrap(), None);
    assert_eq!(stats(&mut l, "downstream"), [0; 6]);
    for cmd in ["getstats", "clrstats", "getclrstats"] {
        let e = l.graph.msg("c:", cmd, Some(&Value::Int(0))).unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL, "{cmd} takes no argument");
    }
}

#[test]
fn car_red_drops_show_in_ctl_errors() {
    let mut l = car();
    down(
        &mut l,
        "cbs=1000 ebs=0 cir=8000 greenAction=1 yellowAction=1 redAction=2",
    );
    l.send(0, &(0..30).map(|i| fr(100, i)).collect::<Vec<_>>());
    assert_eq!(stats(&mut l, "downstream")[4], 20);
    let r = execute(&mut l.graph, "errors");
    assert!(r.ok, "{:?}", r.error);
    let red = |j: &serde_json::Value| j["type"] == "car" && j["reason"] == "red";
    let by_type = r.json["by_type"].as_array().unwrap();
    assert!(
        by_type.iter().any(|j| red(j) && j["count"] == 20),
        "{}",
        r.json
    );
    assert!(
        r.text
            .lines()
            .any(|x| x.split_whitespace().take(4).eq(["c:", "car", "red", "20"])),
        "{}",
        r.text
    );
}

#[test]
fn car_without_its_way_out_counts_errors() {
    let mut l = car();
    l.graph.rmhook("c:", "lower").unwrap();
    l.send(0, &[fr(100, 1), fr(100, 2)]);
    // ng_car counts a failed forward as passed and as an error.
    assert_eq!(stats(&mut l, "downstream"), [2, 0, 2, 0, 0, 2]);
    assert_eq!(l.graph.drops(DropReason::NotConnected), 2);
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn car_hooks_are_upper_and_lower_and_counters_restart_with_the_hook() {
    let mut l = car();
    let e = l.graph.mkpeer("c:", "hole", "middle", "x").unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
    l.send(1, &[fr(100, 1)]);
    assert_eq!(stats(&mut l, "upstream")[0], 1);
    // Counters of the direction entering by lower restart when lower is connected again.
    l.graph.rmhook("c:", "lower").unwrap();
    l.graph.connect("p1:", "c:", "lower", "lower").unwrap();
    assert_eq!(stats(&mut l, "upstream"), [0; 6]);
    // The last hook gone, the node goes (as ng_car).
    l.graph.rmhook("c:", "lower").unwrap();
    l.graph.rmhook("c:", "upper").unwrap();
    assert!(l.graph.resolve("c:").is_err());
}

#[test]
fn car_save_recreates_the_configuration() {
    let mut l = car();
    let arg = "{ upstream={ cbs=100 ebs=200 cir=64000 greenAction=1 yellowAction=3 redAction=2 \
               } downstream={ cbs=10 ebs=5 cir=100 greenAction=1 yellowAction=1 redAction=2 \
               mode=1 pir=200 opt=2 } }";
    setconf(&mut l, arg).unwrap();
    let want = l.graph.msg("c:", "getconf", None).unwrap();
    let script = xdpgraph::ctl::save::save(&mut l.graph);
    assert!(script.contains("setconf"), "{script}");
    let mut m = Lab::new(2);
    for line in script.lines() {
        let r = execute(&mut m.graph, line);
        assert!(r.ok, "{line}: {:?}", r.error);
    }
    assert_eq!(m.graph.msg("c:", "getconf", None).unwrap(), want);
    // Defaults need no message.
    let mut d = car();
    let script = xdpgraph::ctl::save::save(&mut d.graph);
    assert!(!script.contains("setconf"), "{script}");
}

/// Sets graph time to `t` and lets the worker run its call-backs (no new traffic).
fn at(l: &mut Lab, t: u64) {
    l.graph.set_time_ns(t);
    l.worker.poll();
}

fn seq(f: &[u8]) -> u8 {
    f[14]
}

#[test]
fn car_mode3_shapes_frames_over_the_rate_instead_of_dropping_them() {
    let mut l = car();
    // cir 8000 bit/s = 1000 bytes/s: a 100-byte frame every 100 ms once cbs is spent.
    down(&mut l, "cbs=1000 ebs=1000 cir=8000 greenAction=1 mode=3");
    l.send(0, &(0..20).map(|i| fr(100, i)).collect::<Vec<_>>());
    let out: Vec<u8> = l.tx(1).iter().map(|f| seq(f)).collect();
    assert_eq!(out, (0..10).collect::<Vec<_>>(), "cbs worth go at once");
    assert_eq!(stats(&mut l, "downstream"), [10, 0, 10, 10, 0, 0]);
    assert_eq!(l.worker.pool().available(), l.worker.pool().capacity() - 10);
    for k in 1..=10u64 {
        at(&mut l, k * 100 * MS - 1);
        assert!(l.tx(1).is_empty(), "frame {k}: not before its tokens");
        at(&mut l, k * 100 * MS);
        let out: Vec<u8> = l.tx(1).iter().map(|f| seq(f)).collect();
        assert_eq!(
            out,
            [9 + k as u8],
            "one a 100 ms, in order, with no traffic"
        );
    }
    assert_eq!(stats(&mut l, "downstream"), [20, 0, 10, 10, 0, 0]);
    assert_eq!(l.worker.pool().available(), l.worker.pool().capacity());
    assert_eq!(l.balance().0, l.balance().1);
    // The queue empty and the bucket refilled, frames are green again.
    at(&mut l, 3 * SEC);
    l.send(0, &[fr(100, 50)]);
    assert_eq!(l.tx(1).len(), 1);
    // The other direction (mode 0 by the defaults) is not shaped.
    assert_eq!(stats(&mut l, "upstream"), [0; 6]);
}

#[test]
fn car_mode3_queue_limit_and_early_drop_are_named() {
    let mut l = car();
    down(&mut l, "cbs=100 ebs=100 cir=8000 greenAction=1 mode=3");
    l.send(0, &(0..200).map(|i| fr(100, i)).collect::<Vec<_>>());
    // 1 green; then ng_car_enqueue: 99 queued at most, the early drop from the 23rd queued
    // on (te grows by the queue's length beyond 8; red when te + length reaches 100).
    assert_eq!(stats(&mut l, "downstream"), [1, 100, 1, 99, 100, 0]);
    assert_eq!(l.graph.drops_of("car", reason::QUEUE_FULL), 100);
    let r = execute(&mut l.graph, "errors");
    assert!(
        r.text.lines().any(|x| x
            .split_whitespace()
            .take(4)
            .eq(["c:", "car", "queue_full", "100"])),
        "{}",
        r.text
    );
    assert_eq!(l.tx(1).len(), 1);
    // cbs caps the bucket at one frame: one leaves every 100 ms.
    let mut out = Vec::new();
    for k in 1..=99u64 {
        at(&mut l, k * 100 * MS);
        let got = l.tx(1);
        assert_eq!(got.len(), 1, "step {k}");
        out.push(seq(&got[0]));
    }
    assert_eq!(out[..22], (1..23).collect::<Vec<u8>>()[..], "in order");
    assert!(out.windows(2).all(|w| w[0] < w[1]), "{out:?}");
    assert_eq!(stats(&mut l, "downstream")[0], 100);
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn car_mode3_queued_frames_are_freed_when_the_hook_or_node_goes() {
    let mut l = car();
    let shape = "{ cbs=100 ebs=100 cir=8000 greenAction=1 mode=3 }";
    setconf(
        &mut l,
        &format!("{{ upstream={shape} downstream={shape} }}"),
    )
    .unwrap();
    l.send(0, &(0..11).map(|i| fr(100, i)).collect::<Vec<_>>());
    l.send(1, &(0..6).map(|i| fr(100, i)).collect::<Vec<_>>());
    let cap = l.worker.pool().capacity();
    assert_eq!(l.worker.pool().available(), cap - 15);
    // lower goes: what came from it is freed, the rest stays queued.
    l.graph.rmhook("c:", "lower").unwrap();
    l.worker.poll();
    assert_eq!(l.graph.drops(DropReason::Flushed), 5);
    assert_eq!(l.worker.pool().available(), cap - 10);
    l.graph.shutdown("c:").unwrap();
    l.worker.poll();
    assert_eq!(
        l.worker.pool().available(),
        cap,
        "every queued frame back in the pool"
    );
    assert_eq!(l.graph.drops(DropReason::Flushed), 15);
    assert_eq!(l.balance().0, l.balance().1);
}
