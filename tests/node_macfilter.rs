//! macfilter (ng_macfilter(4)): FreeBSD's tests/sys/netgraph/ng_macfilter_test.sh ported to the
//! in-memory lab (the `freebsd_*` tests, same constants, same graph: p0's lower on the
//! macfilter's ether, p0's upper on a one2many whose many links are the macfilter's default and
//! out1..out3), then what that script does not check: hook ids as hooks come and go, the data
//! path, the per-MAC counters, the errors of direct/directi, and the MACs of a removed hook.

use xdpgraph::graph::{DropReason, GraphError};
use xdpgraph::nodes::macfilter;
use xdpgraph::testkit::{eth, frame, mac, Lab};
use xdpgraph::value::Value;
use xdpgraph::wire::{EtherType, MacAddr};

const HOOKS: usize = 3;
const HOOKSADD: usize = 42;
const ITERATIONS: usize = 7;
const SUBITERATIONS: usize = 71;

fn v(s: &str) -> Value {
    Value::parse(s).unwrap()
}

fn msg(l: &mut Lab, cmd: &str, arg: &str) -> Result<Option<Value>, GraphError> {
    let a = (!arg.is_empty()).then(|| v(arg));
    l.graph.msg("MF:", cmd, a.as_ref())
}

fn num(x: &Value, f: &str) -> u64 {
    x.field(f).and_then(Value::as_i128).unwrap_or(0) as u64
}

/// The script's `configure_nodes`.
fn configure() -> Lab {
    let mut l = Lab::new(1);
    let g = &mut l.graph;
    g.mkpeer("p0:", "macfilter", "lower", "ether").unwrap();
    g.name("p0:lower", "MF").unwrap();
    g.mkpeer("p0:", "one2many", "upper", "one").unwrap();
    g.name("p0:upper", "O2M").unwrap();
    let cfg = v("{ xmitAlg=3 failAlg=1 enabledLinks=[ 1 1 ] }");
    g.msg("O2M:", "setconfig", Some(&cfg)).unwrap();
    g.connect("MF:", "O2M:", "default", "many0").unwrap();
    for i in 1..=HOOKS {
        g.connect("MF:", "O2M:", &format!("out{i}"), &format!("many{i}"))
            .unwrap();
    }
    l
}

/// The `gethooks` reply's hooks as (hookname, hookid, maccnt), in reply order.
fn hook_rows(l: &mut Lab) -> Vec<(String, u64, u64)> {
    let r = msg(l, "gethooks", "").unwrap().unwrap();
    let Some(Value::Array(rows)) = r.field("hooks") else {
        panic!("no hooks array in {r}");
    };
    assert_eq!(num(&r, "n"), rows.len() as u64, "{r}");
    (rows.iter())
        .map(|h| {
            let name = h.field("hookname").and_then(Value::as_str).unwrap();
            (name.to_string(), num(h, "hookid"), num(h, "maccnt"))
        })
        .collect()
}

/// The script's `gethooks`: the hook names, sorted, joined by ':'.
fn gethooks(l: &mut Lab) -> String {
    let mut names: Vec<String> = hook_rows(l).into_iter().map(|h| h.0).collect();
    names.sort();
    names.join(":")
}

/// The script's `countmacs`: MACs directed to `hook` (every hook when None).
fn countmacs(l: &mut Lab, hook: Option<&str>) -> u64 {
    (hook_rows(l).into_iter())
        .filter(|h| hook.is_none_or(|n| h.0 == n))
        .map(|h| h.2)
        .sum()
}

/// The script's `genmac`.
fn genmac(a: usize, b: usize) -> String {
    format!("00:00:00:00:{a:02x}:{b:02x}")
}

fn direct(l: &mut Lab, hook: &str, ether: &str) {
    let arg = format!("{{ hookname=\"{hook}\" ether={ether} }}");
    msg(l, "direct", &arg).unwrap();
}

/// `sort -R` and `seq ... | sort -R | head -1`, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn shuffled(&mut self, mut v: Vec<usize>) -> Vec<usize> {
        for i in (1..v.len()).rev() {
            v.swap(i, (self.next() % (i as u64 + 1)) as usize);
        }
        v
    }
    /// The script's `randomedge`.
    fn edge(&mut self) -> String {
        match self.next() % (HOOKS as u64 + 1) {
            0 => "default".to_string(),
            n => format!("out{n}"),
        }
    }
}

// ----- FreeBSD's ng_macfilter_test.sh ------------------------------------------------------

#[test]
fn freebsd_duplicate_default_hook() {
    let mut l = configure();
    let e = l
        .graph
        .connect("MF:", "O2M:", "default", "many9")
        .unwrap_err();
    assert!(matches!(e, GraphError::HookExists { .. }), "{e}");
    assert_eq!(e.errno().name(), "EEXIST");
    assert_eq!(gethooks(&mut l), "default:out1:out2:out3");
}

#[test]
fn freebsd_add_and_remove_hooks() {
    let mut l = configure();
    let created = gethooks(&mut l);
    for i in 1..=3 {
        let many = format!("many{}", HOOKS + i);
        l.graph
            .connect("MF:", "O2M:", &format!("xxx{i}"), &many)
            .unwrap();
    }
    assert_eq!(gethooks(&mut l), format!("{created}:xxx1:xxx2:xxx3"));
    l.graph.rmhook("MF:", "xxx1").unwrap();
    assert_eq!(gethooks(&mut l), format!("{created}:xxx2:xxx3"));
    l.graph.rmhook("MF:", "xxx2").unwrap();
    assert_eq!(gethooks(&mut l), format!("{created}:xxx3"));
    l.graph.rmhook("MF:", "xxx3").unwrap();
    assert_eq!(gethooks(&mut l), created);
}

#[test]
fn freebsd_add_many_hooks() {
    let mut l = configure();
    let created = gethooks(&mut l);
    let mut added = String::new();
    for i in 10..=HOOKSADD {
        added += &format!(":xxx{i}");
        let many = format!("many{}", HOOKS + i);
        l.graph
            .connect("MF:", "O2M:", &format!("xxx{i}"), &many)
            .unwrap();
    }
    // The script compares with its names in creation order, which sort the same way here.
    let all = format!("{created}{added}");
    let mut want: Vec<&str> = all.split(':').collect();
    want.sort();
    assert_eq!(gethooks(&mut l), want.join(":"));
    for i in 10..=HOOKSADD {
        l.graph.rmhook("MF:", &format!("xxx{i}")).unwrap();
    }
    assert_eq!(gethooks(&mut l), created);
}

#[test]
fn freebsd_add_change_and_remove_many_macs() {
    let mut l = configure();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // Adding many MACs...
    for i in rng.shuffled((1..=ITERATIONS).collect()) {
        for j in 0..=SUBITERATIONS {
            let edge = if i == 2 { "out2" } else { "out1" };
            direct(&mut l, edge, &genmac(j, i));
        }
    }
    let per = (SUBITERATIONS + 1) as u64;
    assert_eq!(
        countmacs(&mut l, Some("out1")),
        (ITERATIONS as u64 - 1) * per
    );
    assert_eq!(countmacs(&mut l, Some("out2")), per);
    assert_eq!(countmacs(&mut l, Some("out3")), 0);

    // Changing hooks for MACs...
    for i in 1..=ITERATIONS {
        direct(&mut l, "out3", &genmac(0, i));
    }
    assert_eq!(
        countmacs(&mut l, Some("out1")),
        (ITERATIONS as u64 - 1) * (per - 1)
    );
    assert_eq!(countmacs(&mut l, Some("out2")), per - 1);
    assert_eq!(countmacs(&mut l, Some("out3")), ITERATIONS as u64);

    // Removing all MACs one by one...
    for i in rng.shuffled((1..=ITERATIONS).collect()) {
        for j in rng.shuffled((0..=SUBITERATIONS).collect()) {
            direct(&mut l, "default", &genmac(j, i));
        }
    }
    assert_eq!(countmacs(&mut l, None), 0);
    let r = msg(&mut l, "getmacs", "").unwrap().unwrap();
    assert_eq!(r.to_string(), "{ }", "n=0 and the empty array are left out");
}

#[test]
fn freebsd_random_macs_random_hooks_then_reset() {
    let mut l = configure();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let count = |entries: &[(String, String)], hook: &str| {
        entries.iter().filter(|(_, e)| e == hook).count() as u64
    };

    // Randomly adding MACs on random hooks...
    let mut entries = Vec::new();
    for i in 1..=ITERATIONS {
        for j in rng.shuffled((0..=SUBITERATIONS).collect()) {
            let (edge, ether) = (rng.edge(), genmac(j, i));
            direct(&mut l, &edge, &ether);
            entries.push((ether, edge));
        }
    }
    for hook in ["out1", "out2", "out3"] {
        assert_eq!(
            countmacs(&mut l, Some(hook)),
            count(&entries, hook),
            "{hook}"
        );
    }
    let macs = msg(&mut l, "getmacs", "").unwrap().unwrap();
    let in_table = entries.len() as u64 - count(&entries, "default");
    assert_eq!(num(&macs, "n"), in_table);

    // Randomly changing MAC assignments...
    for _ in 1..=ITERATIONS {
        let mut entries2 = Vec::new();
        for (ether, _) in &entries {
            let edge2 = rng.edge();
            direct(&mut l, &edge2, ether);
            entries2.push((ether.clone(), edge2));
        }
        for hook in ["out1", "out2", "out3"] {
            assert_eq!(
                countmacs(&mut l, Some(hook)),
                count(&entries2, hook),
                "{hook}"
            );
        }
        entries = entries2;
    }

    // Resetting macfilter...
    assert_eq!(msg(&mut l, "reset", "").unwrap(), None);
    assert_eq!(countmacs(&mut l, None), 0);
}

#[test]
fn freebsd_graph_carries_traffic_both_ways() {
    // The script's graph, with frames: in from the wire through the macfilter and the
    // one2many to the host, and from the host through many0 (failover) and default to the wire.
    let mut l = configure();
    direct(&mut l, "out2", &mac(7).to_string());
    l.send(0, &[eth(1, 7), eth(1, 8)]);
    assert_eq!(l.host(0).len(), 2);
    let hooks = l.graph.node_stats("MF:").unwrap().hooks;
    let out = |h: &str| hooks.iter().find(|x| x.0 == h).unwrap().1[2].1;
    assert_eq!((out("out2"), out("default")), (1, 1));
    l.worker.inject_host(l.ports[0], &[&eth(7, 1)]);
    assert_eq!(l.tx(0).len(), 1);
    let r = msg(&mut l, "getmacs", "").unwrap().unwrap();
    assert_eq!(
        r.to_string(),
        "{ n=1 macs=[ { ether=02:00:00:00:00:07 hookid=2 packets_in=1 bytes_in=50 \
         packets_out=1 bytes_out=50 } ] }"
    );
    assert_eq!(l.balance().0, l.balance().1);
}

// ----- hook ids ----------------------------------------------------------------------------

#[test]
fn hook_ids_are_the_lowest_free_and_default_is_zero() {
    let mut l = configure();
    let ids = |l: &mut Lab| -> Vec<(String, u64)> {
        hook_rows(l).into_iter().map(|h| (h.0, h.1)).collect()
    };
    let want = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
        v.iter().map(|(n, i)| (n.to_string(), *i)).collect()
    };
    assert_eq!(
        ids(&mut l),
        want(&[("default", 0), ("out1", 1), ("out2", 2), ("out3", 3)])
    );
    // The ether hook is not an upper hook: gethooks leaves it out.
    assert!(l
        .graph
        .show("MF:")
        .unwrap()
        .hooks
        .iter()
        .any(|h| h.name == "ether"));
    l.graph.connect("MF:", "O2M:", "xxx1", "many4").unwrap();
    l.graph.connect("MF:", "O2M:", "xxx2", "many5").unwrap();
    l.graph.rmhook("MF:", "out2").unwrap();
    l.graph.rmhook("MF:", "xxx1").unwrap();
    assert_eq!(
        ids(&mut l),
        want(&[("default", 0), ("out1", 1), ("out3", 3), ("xxx2", 5)])
    );
    // A new hook takes the lowest free id from 1; freed ids are reused.
    l.graph.connect("MF:", "O2M:", "new1", "many6").unwrap();
    l.graph.connect("MF:", "O2M:", "new2", "many7").unwrap();
    l.graph.connect("MF:", "O2M:", "new3", "many8").unwrap();
    // default, removed and connected again, is 0 again; never a name's id.
    l.graph.rmhook("MF:", "default").unwrap();
    l.graph.connect("MF:", "O2M:", "new4", "many9").unwrap();
    l.graph.connect("MF:", "O2M:", "default", "many0").unwrap();
    assert_eq!(
        ids(&mut l),
        want(&[
            ("default", 0),
            ("out1", 1),
            ("new1", 2),
            ("out3", 3),
            ("new2", 4),
            ("xxx2", 5),
            ("new3", 6),
            ("new4", 7),
        ])
    );
    let r = msg(&mut l, "gethooks", "").unwrap().unwrap();
    assert!(
        r.to_string()
            .starts_with("{ n=8 hooks=[ { hookname=\"default\" } { hookname=\"out1\" hookid=1 } "),
        "zero fields are left out: {r}"
    );
}

// ----- data path ---------------------------------------------------------------------------

/// p0 on ether; p1 on default, p2 on out1 (id 1), p3 on out2 (id 2).
fn lab4() -> Lab {
    let mut l = Lab::new(4);
    l.graph
        .mkpeer("p0:", "macfilter", "lower", "ether")
        .unwrap();
    l.graph.name("p0:lower", "MF").unwrap();
    l.graph.connect("MF:", "p1:", "default", "lower").unwrap();
    l.graph.connect("MF:", "p2:", "out1", "lower").unwrap();
    l.graph.connect("MF:", "p3:", "out2", "lower").unwrap();
    l
}

fn counts(l: &mut Lab) -> Vec<usize> {
    (0..l.ports.len()).map(|i| l.tx(i).len()).collect()
}

#[test]
fn frames_from_ether_go_out_the_hook_of_their_source_mac() {
    let mut l = lab4();
    // An empty table: everything to default.
    l.send(0, &[eth(1, 5), eth(1, 6), eth(5, 1)]);
    assert_eq!(counts(&mut l), vec![0, 3, 0, 0]);
    direct(&mut l, "out1", &mac(5).to_string());
    msg(
        &mut l,
        "directi",
        &format!("{{ hookid=2 ether={} }}", mac(6)),
    )
    .unwrap();
    // By source, never by destination; frames unchanged.
    let burst = vec![eth(1, 5), eth(6, 9), eth(2, 6), eth(5, 1), eth(1, 5)];
    l.send(0, &burst);
    let (t1, t2, t3) = (l.tx(1), l.tx(2), l.tx(3));
    assert_eq!(t2, vec![burst[0].clone(), burst[4].clone()]);
    assert_eq!(t3, vec![burst[2].clone()]);
    assert_eq!(t1, vec![burst[1].clone(), burst[3].clone()]);
    // Frames written to any upper hook go out ether, whatever their addresses.
    l.send(1, &[eth(5, 1)]);
    l.send(2, &[eth(9, 9), eth(6, 5)]);
    l.send(3, &[eth(1, 1)]);
    assert_eq!(counts(&mut l), vec![4, 0, 0, 0]);
    assert_eq!(l.graph.total_drops(), 0);
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn unconnected_destinations_and_runts_are_dropped_with_a_reason() {
    let mut l = Lab::new(2);
    l.graph
        .mkpeer("p0:", "macfilter", "lower", "ether")
        .unwrap();
    l.graph.name("p0:lower", "MF").unwrap();
    // No default hook: frames of unknown sources are dropped.
    l.send(0, &[eth(1, 5), eth(1, 6)]);
    assert_eq!(l.graph.drops_of("macfilter", DropReason::NotConnected), 2);
    // Runts, from either side.
    l.graph.connect("MF:", "p1:", "out1", "lower").unwrap();
    direct(&mut l, "out1", &mac(5).to_string());
    l.send(0, &[eth(1, 5)[..13].to_vec(), eth(1, 5)]);
    l.send(1, &[eth(5, 1)[..10].to_vec(), eth(5, 1)]);
    assert_eq!(counts(&mut l), vec![1, 1]);
    assert_eq!(l.graph.drops_of("macfilter", macfilter::reason::RUNT), 2);
    let stats = l.graph.node_stats("MF:").unwrap();
    let runt = stats.drops.iter().find(|(r, _)| r.name == "runt").unwrap();
    assert_eq!(runt.1, 2);
    // No ether hook: frames from upper hooks are dropped.
    l.graph.rmhook("MF:", "ether").unwrap();
    l.send(1, &[eth(5, 1), eth(5, 1), eth(5, 1)]);
    assert_eq!(l.graph.drops_of("macfilter", DropReason::NotConnected), 5);
    assert_eq!(counts(&mut l), vec![0, 0]);
    assert_eq!(l.balance().0, l.balance().1);
}

// ----- counters ----------------------------------------------------------------------------

#[test]
fn per_mac_counters_in_from_ether_by_source_out_to_ether_by_destination() {
    let mut l = lab4();
    // The man page's example address.
    direct(&mut l, "out1", "08:00:27:92:eb:aa");
    let known: MacAddr = "08:00:27:92:eb:aa".parse().unwrap();
    let from = |len| frame(mac(1), known, EtherType::IPV4, len, 0);
    let to = |len| frame(known, mac(1), EtherType::IPV4, len, 0);
    // In: frames from ether with that source (bytes without the 14-byte header).
    l.send(0, &[from(64), from(100)]);
    // Frames to it from ether, or from it out to ether, count nothing.
    l.send(0, &[to(64)]);
    l.send(1, &[from(64)]);
    // Out: frames to ether with that destination, from whichever upper hook.
    l.send(1, &[to(1000)]);
    l.send(3, &[to(60)]);
    assert_eq!(counts(&mut l), vec![3, 1, 2, 0]);
    let want = "{ n=1 macs=[ { ether=08:00:27:92:eb:aa hookid=1 packets_in=2 bytes_in=136 \
                packets_out=2 bytes_out=1032 } ] }";
    assert_eq!(
        msg(&mut l, "getmacs", "").unwrap().unwrap().to_string(),
        want
    );
    // getclrmacs: the counts, then zero; the MAC stays.
    let r = msg(&mut l, "getclrmacs", "").unwrap().unwrap();
    assert_eq!(r.to_string(), want);
    let zero = "{ n=1 macs=[ { ether=08:00:27:92:eb:aa hookid=1 } ] }";
    assert_eq!(
        msg(&mut l, "getmacs", "").unwrap().unwrap().to_string(),
        zero
    );
    // Moving the MAC to another hook keeps its counters; clrmacs clears them.
    l.send(0, &[from(14)]);
    direct(&mut l, "out2", &known.to_string());
    let r = msg(&mut l, "getmacs", "").unwrap().unwrap();
    let Some(Value::Array(rows)) = r.field("macs") else {
        panic!("{r}")
    };
    assert_eq!(
        (num(&rows[0], "hookid"), num(&rows[0], "packets_in")),
        (2, 1)
    );
    assert_eq!(
        num(&rows[0], "bytes_in"),
        0,
        "a header-only frame has no bytes"
    );
    assert_eq!(msg(&mut l, "clrmacs", "").unwrap(), None);
    let zero = "{ n=1 macs=[ { ether=08:00:27:92:eb:aa hookid=2 } ] }";
    assert_eq!(
        msg(&mut l, "getmacs", "").unwrap().unwrap().to_string(),
        zero
    );
    // Removed and directed again: from zero.
    l.send(0, &[from(64)]);
    direct(&mut l, "default", &known.to_string());
    direct(&mut l, "out2", &known.to_string());
    assert_eq!(
        msg(&mut l, "getmacs", "").unwrap().unwrap().to_string(),
        zero
    );
}

#[test]
fn getmacs_lists_macs_in_address_order() {
    let mut l = lab4();
    for (m, h) in [
        ("ff:00:00:00:00:01", "out1"),
        ("00:00:00:00:00:02", "out2"),
        ("08:00:27:92:eb:aa", "out1"),
        ("00:00:00:00:01:00", "out1"),
    ] {
        direct(&mut l, h, m);
    }
    let r = msg(&mut l, "getmacs", "").unwrap().unwrap();
    assert_eq!(
        r.to_string(),
        "{ n=4 macs=[ { ether=00:00:00:00:00:02 hookid=2 } { ether=00:00:00:00:01:00 hookid=1 } \
         { ether=08:00:27:92:eb:aa hookid=1 } { ether=ff:00:00:00:00:01 hookid=1 } ] }"
    );
    let rows = hook_rows(&mut l);
    assert_eq!(
        rows.iter().map(|h| h.2).collect::<Vec<_>>(),
        vec![0, 3, 1],
        "maccnt of default, out1, out2"
    );
}

// ----- removed hooks -----------------------------------------------------------------------

#[test]
fn removing_a_hook_sends_its_macs_back_to_default() {
    let mut l = lab4();
    direct(&mut l, "out1", &mac(5).to_string());
    direct(&mut l, "out1", &mac(6).to_string());
    direct(&mut l, "out2", &mac(7).to_string());
    l.send(0, &[eth(1, 5), eth(1, 6), eth(1, 7)]);
    assert_eq!(counts(&mut l), vec![0, 0, 2, 1]);
    l.graph.rmhook("MF:", "out1").unwrap();
    let r = msg(&mut l, "getmacs", "").unwrap().unwrap();
    assert_eq!(
        r.to_string(),
        "{ n=1 macs=[ { ether=02:00:00:00:00:07 hookid=2 packets_in=1 bytes_in=50 } ] }"
    );
    l.send(0, &[eth(1, 5), eth(1, 6), eth(1, 7)]);
    assert_eq!(counts(&mut l), vec![0, 2, 0, 1]);
    // A new hook taking the freed id 1 gets none of the old hook's MACs.
    l.graph.connect("MF:", "p2:", "again", "lower").unwrap();
    assert_eq!(
        hook_rows(&mut l),
        vec![
            ("default".to_string(), 0, 0),
            ("again".to_string(), 1, 0),
            ("out2".to_string(), 2, 1)
        ]
    );
    l.send(0, &[eth(1, 5)]);
    assert_eq!(counts(&mut l), vec![0, 1, 0, 0]);
    assert_eq!(l.graph.total_drops(), 0);
}

// ----- errors ------------------------------------------------------------------------------

fn errno(r: Result<Option<Value>, GraphError>) -> &'static str {
    r.unwrap_err().errno().name()
}

#[test]
fn direct_by_an_unknown_name_removes_the_mac_as_netgraph_does() {
    // ng_macfilter.c's macfilter_find_hook answers 0 (default) for a name no upper hook has,
    // so its ENOENT is never returned: the MAC leaves the table (or is never added).
    let mut l = lab4();
    direct(&mut l, "out1", &mac(5).to_string());
    direct(&mut l, "nosuchhook", &mac(5).to_string());
    direct(&mut l, "nosuchhook", &mac(6).to_string());
    // ether is not an upper hook either.
    direct(&mut l, "out1", &mac(7).to_string());
    direct(&mut l, "ether", &mac(7).to_string());
    // A missing hookname is the empty name.
    direct(&mut l, "out1", &mac(8).to_string());
    msg(&mut l, "direct", &format!("{{ ether={} }}", mac(8))).unwrap();
    assert_eq!(countmacs(&mut l, None), 0);
    // Without a default hook, "default" is just as unknown: the same.
    l.graph.rmhook("MF:", "default").unwrap();
    direct(&mut l, "out1", &mac(5).to_string());
    direct(&mut l, "default", &mac(5).to_string());
    assert_eq!(countmacs(&mut l, None), 0);
}

#[test]
fn directi_with_an_id_no_upper_hook_has_is_einval() {
    let mut l = lab4();
    let directi = |l: &mut Lab, id: &str| {
        let arg = format!("{{ hookid={id} ether={} }}", mac(5));
        msg(l, "directi", &arg)
    };
    assert_eq!(directi(&mut l, "2"), Ok(None));
    assert_eq!(countmacs(&mut l, Some("out2")), 1);
    assert_eq!(errno(directi(&mut l, "3")), "EINVAL");
    assert_eq!(errno(directi(&mut l, "4094")), "EINVAL");
    assert_eq!(errno(directi(&mut l, "65535")), "EINVAL");
    assert_eq!(errno(directi(&mut l, "65536")), "EINVAL", "not a u16");
    assert_eq!(errno(directi(&mut l, "-1")), "EINVAL");
    assert_eq!(
        countmacs(&mut l, Some("out2")),
        1,
        "failures change nothing"
    );
    // Id 0 is default: the MAC leaves the table.
    assert_eq!(directi(&mut l, "0"), Ok(None));
    assert_eq!(countmacs(&mut l, None), 0);
    // A freed id is EINVAL until a hook takes it again; without default, 0 is EINVAL too.
    l.graph.rmhook("MF:", "out1").unwrap();
    assert_eq!(errno(directi(&mut l, "1")), "EINVAL");
    l.graph.rmhook("MF:", "default").unwrap();
    assert_eq!(errno(directi(&mut l, "0")), "EINVAL");
    l.graph.connect("MF:", "p2:", "back", "lower").unwrap();
    assert_eq!(directi(&mut l, "1"), Ok(None));
    assert_eq!(countmacs(&mut l, Some("back")), 1);
}

#[test]
fn malformed_messages_are_einval() {
    let mut l = lab4();
    for (cmd, arg) in [
        ("direct", ""),
        ("directi", ""),
        ("direct", "{ hookname=\"out1\" ether=zz:00:00:00:00:01 }"),
        (
            "direct",
            "{ hookname=\"out1\" ether=02:00:00:00:00:01 vid=3 }",
        ),
        ("direct", "{ hookname={ } ether=02:00:00:00:00:01 }"),
        ("directi", "{ hookname=\"out1\" ether=02:00:00:00:00:01 }"),
        ("direct", "\"out1\""),
        ("getmacs", "1"),
        ("reset", "{ }"),
    ] {
        assert_eq!(errno(msg(&mut l, cmd, arg)), "EINVAL", "{cmd} {arg}");
    }
    let e = l.graph.msg("MF:", "getstats", None).unwrap_err();
    assert!(matches!(e, GraphError::UnknownMsg { .. }), "{e}");
    assert_eq!(countmacs(&mut l, None), 0);
}

// ----- life ----------------------------------------------------------------------------------

#[test]
fn the_node_goes_with_its_last_hook_and_saves_its_table() {
    let mut l = lab4();
    direct(&mut l, "out2", "08:00:27:92:eb:aa");
    let script = xdpgraph::ctl::save::save(&mut l.graph);
    assert!(
        script.contains("msg MF: direct { hookname=\"out2\" ether=08:00:27:92:eb:aa }"),
        "{script}"
    );
    for h in ["ether", "default", "out1"] {
        l.graph.rmhook("MF:", h).unwrap();
        assert!(l.graph.show("MF:").is_ok());
    }
    l.graph.rmhook("MF:", "out2").unwrap();
    assert!(matches!(l.graph.show("MF:"), Err(GraphError::NoNode(_))));
    // shutdown works too.
    let mut l = lab4();
    l.graph.shutdown("MF:").unwrap();
    assert!(l.graph.show("MF:").is_err());
    assert!(l.graph.show("p1:").unwrap().hooks.is_empty());
}
