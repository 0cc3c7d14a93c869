//! Bridge scenarios, following ng_bridge(4).

use xdpgraph::graph::{DropReason, GraphError};
use xdpgraph::nodes::bridge::reason;
use xdpgraph::testkit::{bcast, eth, frame, mac, Lab};
use xdpgraph::value::Value;
use xdpgraph::wire::EtherType;

/// p0..p{n-1} on br0 link0..link{n-1}.
fn bridged(n: usize) -> Lab {
    let mut l = Lab::new(n);
    l.graph.mkpeer("p0:", "bridge", "lower", "link0").unwrap();
    l.graph.name("p0:lower", "br0").unwrap();
    for i in 1..n {
        l.graph
            .connect(&format!("p{i}:"), "br0:", "lower", &format!("link{i}"))
            .unwrap();
    }
    l
}

fn counts(l: &mut Lab) -> Vec<usize> {
    (0..l.ports.len()).map(|i| l.tx(i).len()).collect()
}

fn stat(l: &mut Lab, link: i64, name: &str) -> u64 {
    let v = l
        .graph
        .msg("br0:", "getstats", Some(&Value::Int(link)))
        .unwrap()
        .unwrap();
    v.field(name).and_then(|x| x.as_i128()).unwrap() as u64
}

fn table(l: &mut Lab) -> Vec<(String, String)> {
    let v = l.graph.msg("br0:", "gettable", None).unwrap().unwrap();
    let Some(Value::Array(hosts)) = v.field("hosts") else {
        panic!("{v}")
    };
    assert_eq!(
        v.field("numHosts").unwrap().as_i128().unwrap() as usize,
        hosts.len()
    );
    hosts
        .iter()
        .map(|h| {
            (
                h.field("addr").unwrap().as_mac().unwrap().to_string(),
                h.field("hook").unwrap().as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn broadcast_floods_to_every_other_link_never_back() {
    let mut l = bridged(3);
    l.send(0, &[bcast(1)]);
    assert_eq!(counts(&mut l), vec![0, 1, 1]);
    assert_eq!(stat(&mut l, 0, "recvBroadcasts"), 1);
    assert_eq!(stat(&mut l, 1, "xmitBroadcasts"), 1);
    assert_eq!(stat(&mut l, 2, "xmitBroadcasts"), 1);
    let m = frame(
        "01:00:5e:00:00:01".parse().unwrap(),
        mac(2),
        EtherType::IPV4,
        64,
        0,
    );
    l.send(1, &[m]);
    assert_eq!(counts(&mut l), vec![1, 0, 1]);
    assert_eq!(stat(&mut l, 1, "recvMulticasts"), 1);
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn unknown_unicast_floods_then_learned_unicast_goes_to_one_link() {
    let mut l = bridged(3);
    l.send(0, &[eth(2, 1)]); // 1 -> 2, 2 unknown: flood
    assert_eq!(counts(&mut l), vec![0, 1, 1]);
    assert_eq!(stat(&mut l, 0, "recvUnknown"), 1);
    l.send(1, &[eth(1, 2)]); // 2 -> 1, 1 known on link0
    assert_eq!(counts(&mut l), vec![1, 0, 0]);
    l.send(0, &vec![eth(2, 1); 10]); // now 2 is known on link1
    assert_eq!(counts(&mut l), vec![0, 10, 0]);
    assert_eq!(stat(&mut l, 1, "xmitPackets"), 11);
    assert_eq!(stat(&mut l, 0, "recvPackets"), 11);
    assert_eq!(stat(&mut l, 0, "recvOctets"), 11 * 64);
    let t = table(&mut l);
    assert_eq!(
        t,
        vec![
            (mac(1).to_string(), "link0".into()),
            (mac(2).to_string(), "link1".into())
        ]
    );
}

#[test]
fn destination_on_ingress_link_is_dropped() {
    let mut l = bridged(2);
    l.send(0, &[eth(9, 1), eth(9, 2)]); // hosts 1 and 2 both on link0
    counts(&mut l);
    l.send(0, &[eth(2, 1)]);
    assert_eq!(counts(&mut l), vec![0, 0]);
    assert_eq!(l.graph.drops_of("bridge", reason::SAME_LINK), 1);
}

#[test]
fn runts_and_multicast_sources_are_counted() {
    let mut l = bridged(2);
    l.send(
        0,
        &[
            vec![0u8; 13],
            frame(
                mac(2),
                "01:00:00:00:00:01".parse().unwrap(),
                EtherType::IPV4,
                64,
                0,
            ),
        ],
    );
    assert_eq!(counts(&mut l), vec![0, 0]);
    assert_eq!(stat(&mut l, 0, "recvRunts"), 1);
    assert_eq!(stat(&mut l, 0, "recvInvalid"), 1);
    assert_eq!(l.graph.drops_of("bridge", reason::RUNT), 1);
    assert_eq!(l.graph.drops_named("invalid_source"), 1);
}

#[test]
fn gettable_counts_many_hosts_and_rmhook_forgets_a_links_hosts() {
    let mut l = bridged(3);
    let a: Vec<Vec<u8>> = (0..1500).map(|h| eth(0xffff, 0x1000 + h)).collect();
    let b: Vec<Vec<u8>> = (0..700).map(|h| eth(0xffff, 0x9000 + h)).collect();
    l.send(0, &a);
    l.send(1, &b);
    assert_eq!(table(&mut l).len(), 2200);
    l.graph.rmhook("br0:", "link0").unwrap();
    let t = table(&mut l);
    assert_eq!(t.len(), 700);
    assert!(t.iter().all(|(_, h)| h == "link1"));
    // p0's ether node lost its lower hook with it.
    assert!(l.graph.show("p0:").unwrap().hooks.is_empty());
}

#[test]
fn host_moves_after_min_stable_age() {
    let mut l = bridged(3);
    l.send(0, &[eth(9, 1)]);
    l.graph.set_time(5);
    l.send(1, &[eth(9, 1)]); // 5s later on link1: a move, not a loop
    assert_eq!(table(&mut l), vec![(mac(1).to_string(), "link1".into())]);
    assert_eq!(stat(&mut l, 1, "loopDetects"), 0);
}

#[test]
fn hook_names_are_checked() {
    let mut l = bridged(1);
    for bad in ["link01", "uplink0", "link", "foo", "link-1", "uplink"] {
        let e = l.graph.connect("p0:", "br0:", "upper", bad).unwrap_err();
        assert!(
            matches!(e, GraphError::HookRefused { ty: "bridge", .. }),
            "{bad}: {e}"
        );
    }
    l.graph.connect("p0:", "br0:", "upper", "uplink3").unwrap();
    // A bridge hook may not loop back to the bridge.
    let e = l
        .graph
        .connect("br0:", "br0:", "link5", "link6")
        .unwrap_err();
    assert!(e.to_string().contains("itself"), "{e}");
}

#[test]
fn uplinks_do_not_learn_and_links_get_unknowns_when_unrestricted() {
    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "bridge", "lower", "link0").unwrap();
    l.graph.name("p0:lower", "br0").unwrap();
    l.graph.connect("p1:", "br0:", "lower", "link1").unwrap();
    l.graph.connect("p2:", "br0:", "lower", "uplink1").unwrap();
    l.send(2, &[eth(7, 5)]); // from the uplink: host 5 is not learned
    assert_eq!(counts(&mut l), vec![1, 1, 0]);
    assert!(table(&mut l).is_empty());
    l.send(0, &[eth(5, 1)]); // to 5: unknown, floods to link1 and the uplink
    assert_eq!(counts(&mut l), vec![0, 1, 1]);
    assert_eq!(stat(&mut l, -1, "xmitPackets"), 1);
}

#[test]
fn restricted_bridge_sends_unknown_unicast_only_to_uplinks() {
    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "bridge", "lower", "uplink1").unwrap(); // first hook: uplink
    l.graph.name("p0:lower", "br0").unwrap();
    l.graph.connect("p1:", "br0:", "lower", "link0").unwrap();
    l.graph.connect("p2:", "br0:", "lower", "link1").unwrap();
    l.send(1, &[eth(9, 1)]); // unknown unicast from a link: only the uplink gets it
    assert_eq!(counts(&mut l), vec![1, 0, 0]);
    l.send(1, &[bcast(1)]); // broadcasts still reach every link
    assert_eq!(counts(&mut l), vec![1, 0, 1]);
    l.send(0, &[eth(9, 3)]); // unknown from the uplink: no link takes unknowns
    assert_eq!(counts(&mut l), vec![0, 0, 0]);
    assert_eq!(l.graph.drops_of("bridge", reason::NO_DESTINATION), 1);
    l.send(0, &[eth(1, 3)]); // known host 1 on link0 is reachable from the uplink
    assert_eq!(counts(&mut l), vec![0, 1, 0]);
}

#[test]
fn bridge_shuts_down_with_its_last_link_unless_persistent() {
    let mut l = bridged(2);
    l.graph.rmhook("br0:", "link0").unwrap();
    l.graph.rmhook("br0:", "link1").unwrap();
    assert!(matches!(l.graph.show("br0:"), Err(GraphError::NoNode(_))));

    let mut l = bridged(2);
    l.graph.msg("br0:", "setpersistent", None).unwrap();
    l.graph.rmhook("br0:", "link0").unwrap();
    l.graph.rmhook("br0:", "link1").unwrap();
    assert_eq!(l.graph.show("br0:").unwrap().hooks.len(), 0);
    assert!(xdpgraph::ctl::save::save(&mut l.graph).contains("msg br0: setpersistent"));
}

#[test]
fn ageing_removes_idle_hosts() {
    let mut l = bridged(2);
    l.graph
        .msg(
            "br0:",
            "setconfig",
            Some(&Value::parse("{ maxStaleness=10 }").unwrap()),
        )
        .unwrap();
    let cfg = l.graph.msg("br0:", "getconfig", None).unwrap().unwrap();
    assert_eq!(
        cfg.to_string(),
        "{ debugLevel=1 loopTimeout=60 maxStaleness=10 minStableAge=1 }"
    );
    l.send(0, &[eth(9, 1)]);
    l.graph.set_time(6);
    l.send(1, &[eth(9, 2)]);
    l.graph.set_time(11);
    l.graph.tick();
    assert_eq!(table(&mut l), vec![(mac(2).to_string(), "link1".into())]);
    let v = l.graph.msg("br0:", "gettable", None).unwrap().unwrap();
    assert_eq!(
        v.to_string(),
        format!(
            "{{ numHosts=1 hosts=[ {{ addr={} hook=\"link1\" age=5 staleness=5 }} ] }}",
            mac(2)
        )
    );
}

#[test]
fn closed_loop_between_two_bridges_is_detected_and_bounded() {
    // p0 - A.link0; A.link1 = B.link1; A.link2 = B.link2; B.link0 - p1: two paths, a loop.
    let mut l = Lab::new(2);
    l.graph.mkpeer("p0:", "bridge", "lower", "link0").unwrap();
    l.graph.name("p0:lower", "A").unwrap();
    l.graph.mkpeer("p1:", "bridge", "lower", "link0").unwrap();
    l.graph.name("p1:lower", "B").unwrap();
    l.graph.connect("A:", "B:", "link1", "link1").unwrap();
    l.graph.connect("A:", "B:", "link2", "link2").unwrap();
    l.send(0, &[bcast(1)]);
    let out = counts(&mut l);
    let detects: u64 = ["A:", "B:"]
        .iter()
        .flat_map(|b| [1, 2].map(|k| (b.to_string(), k)))
        .map(|(b, k)| {
            let v = l
                .graph
                .msg(&b, "getstats", Some(&Value::Int(k)))
                .unwrap()
                .unwrap();
            v.field("loopDetects").unwrap().as_i128().unwrap() as u64
        })
        .sum();
    assert!(detects >= 1, "loop detected");
    assert!(
        out[1] >= 1 && out[1] <= 4,
        "p1 got a bounded number of copies: {out:?}"
    );
    assert_eq!(out[0], 0, "nothing back to the sender's port: {out:?}");
    // A muted link drops later traffic as loopDrops until loopTimeout passes.
    l.send(1, &[bcast(2)]);
    assert!(l.graph.drops_of("bridge", reason::LOOP_DROP) >= 1);
    let (i, o) = l.balance();
    assert_eq!(i, o, "every frame accounted for");
}

#[test]
fn loop_without_detection_is_bounded_by_the_hop_limit() {
    let mut l = Lab::new(2);
    l.graph.mkpeer("p0:", "bridge", "lower", "link0").unwrap();
    l.graph.name("p0:lower", "A").unwrap();
    l.graph.mkpeer("p1:", "bridge", "lower", "link0").unwrap();
    l.graph.name("p1:lower", "B").unwrap();
    for b in ["A:", "B:"] {
        l.graph
            .msg(
                b,
                "setconfig",
                Some(&Value::parse("{ minStableAge=0 }").unwrap()),
            )
            .unwrap();
    }
    l.graph.connect("A:", "B:", "link1", "link1").unwrap();
    l.graph.connect("A:", "B:", "link2", "link2").unwrap();
    l.send(0, &[bcast(1)]);
    assert!(l.graph.drops(DropReason::HopLimit) >= 1);
    let out = counts(&mut l);
    assert!(out[1] > 4 && out[1] < 200, "{out:?}");
    let (i, o) = l.balance();
    assert_eq!(i, o);
}

#[test]
fn muted_link_recovers_after_loop_timeout() {
    let mut l = bridged(3);
    l.graph
        .msg(
            "br0:",
            "setconfig",
            Some(&Value::parse("{ loopTimeout=5 }").unwrap()),
        )
        .unwrap();
    l.send(0, &[eth(9, 1)]);
    l.send(1, &[eth(9, 1)]); // same second, other link: loop, link1 muted
    assert_eq!(stat(&mut l, 1, "loopDetects"), 1);
    counts(&mut l);
    l.send(1, &[eth(9, 2)]);
    assert_eq!(counts(&mut l), vec![0, 0, 0]);
    assert_eq!(stat(&mut l, 1, "loopDrops"), 2);
    l.graph.set_time(5);
    l.send(1, &[eth(9, 2)]);
    assert_eq!(counts(&mut l), vec![1, 0, 1]);
}

#[test]
fn stats_messages_and_reset() {
    let mut l = bridged(2);
    l.send(0, &[eth(2, 1), eth(2, 1)]);
    let v = l
        .graph
        .msg("br0:", "getclrstats", Some(&Value::Int(0)))
        .unwrap()
        .unwrap();
    assert_eq!(v.field("recvPackets").unwrap().as_i128(), Some(2));
    assert_eq!(stat(&mut l, 0, "recvPackets"), 0, "cleared");
    assert!(matches!(
        l.graph.msg("br0:", "getstats", Some(&Value::Int(7))),
        Err(GraphError::NotConnected(_))
    ));
    assert!(matches!(
        l.graph.msg("br0:", "getstats", None),
        Err(GraphError::BadArg { .. })
    ));
    l.graph.msg("br0:", "reset", None).unwrap();
    assert!(table(&mut l).is_empty());
    let e = l
        .graph
        .msg("br0:", "frobnicate", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown message \"frobnicate\"") && e.contains("gettable"),
        "{e}"
    );
    let e = l
        .graph
        .msg(
            "br0:",
            "setconfig",
            Some(&Value::parse("{ loopTimeot=3 }").unwrap()),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field \"loopTimeot\""), "{e}");
}

#[test]
fn movehost_places_a_host() {
    let mut l = bridged(2);
    l.graph
        .msg(
            "br0:",
            "movehost",
            Some(&Value::parse(&format!("{{ addr={} hook=\"link1\" }}", mac(7))).unwrap()),
        )
        .unwrap();
    l.send(0, &[eth(7, 1)]);
    assert_eq!(counts(&mut l), vec![0, 1]);
}

#[test]
fn flood_to_a_thousand_links() {
    // ng_bridge hit "queue full" broadcasting to 1000 links; here every copy is delivered.
    let mut l = Lab::new(1);
    l.graph.mkpeer("p0:", "bridge", "lower", "link0").unwrap();
    l.graph.name("p0:lower", "br0").unwrap();
    for i in 1..=1000 {
        let id = l
            .graph
            .mkpeer("br0:", "hole", &format!("link{i}"), "in")
            .unwrap();
        assert!(id > 0);
    }
    l.send(0, &[bcast(1)]);
    assert_eq!(l.graph.drops(DropReason::Discarded), 1000);
    let (i, o) = l.balance();
    assert_eq!(i, o);
}

#[test]
fn a_loop_forgets_the_muted_links_hosts_at_once() {
    // ng_bridge forgets every host of a link on which it detects a loop. Here that is O(1) in
    // the worker (the link's generation moves on), and must look the same from outside.
    let mut l = bridged(3);
    l.send(1, &[eth(9, 5), eth(9, 6)]); // hosts 5 and 6 learned on link1
    l.send(0, &[eth(9, 1)]); // host 1 on link0
    assert_eq!(table(&mut l).len(), 3);
    l.send(1, &[eth(9, 1)]); // host 1 jumps to link1 too soon: loop, link1 muted
    assert_eq!(stat(&mut l, 1, "loopDetects"), 1);
    let hosts = table(&mut l);
    assert!(
        hosts.iter().all(|(_, hook)| hook != "link1"),
        "link1's hosts are forgotten: {hosts:?}"
    );
    counts(&mut l);
    // Unicast to a forgotten host floods (as in FreeBSD's ng_bridge, flooding does not skip a
    // muted link: muting stops what the link receives).
    l.send(0, &[eth(5, 1)]);
    assert_eq!(counts(&mut l), vec![0, 1, 1], "host 5 is unknown again");
    // After the mute, the link's hosts are learned afresh.
    l.graph.set_time(DEFAULT_LOOP_TIMEOUT + 1);
    l.send(1, &[eth(9, 5)]);
    assert!(table(&mut l).contains(&(mac(5).to_string(), "link1".to_string())));
    let (i, o) = l.balance();
    assert_eq!(i, o);
}

/// ng_bridge's default loopTimeout (seconds).
const DEFAULT_LOOP_TIMEOUT: u32 = 60;

#[test]
fn random_sources_fill_the_table_but_real_hosts_still_talk() {
    // 100,000 frames from random (unicast, locally administered) source MACs on link0 fill
    // the host table; hosts on link1 and link2 still exchange every frame: a source that
    // cannot be learned is counted in memoryFailures and its frame is flooded, not dropped.
    let mut l = bridged(3);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut sent = 0;
    while sent < 100_000 {
        let burst: Vec<Vec<u8>> = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let src =
                    xdpgraph::wire::MacAddr::from_u64((x & 0xfeff_ffff_ffff) | 0x0200_0000_0000);
                frame(mac(0xffff), src, EtherType::IPV4, 64, 0)
            })
            .collect();
        l.send(0, &burst);
        sent += burst.len();
        counts(&mut l);
    }
    assert!(stat(&mut l, 0, "memoryFailures") > 0, "the table did fill");
    let (a, b) = (0x0a, 0x0b);
    for round in 0..100 {
        l.send(1, &[eth(b, a)]);
        l.send(2, &[eth(a, b)]);
        let out = counts(&mut l);
        assert_eq!((out[2], out[1]), (1, 1), "round {round}: {out:?}");
    }
    let (i, o) = l.balance();
    assert_eq!(i, o, "every frame accounted for");
}

/// The vector path: a burst of one flow is decided once and moves on whole; a burst that
/// differs anywhere (another destination, a runt, a destination on the ingress link, a
/// host that jumps links) is decided frame by frame, in order, with the same counters.
#[test]
fn a_burst_of_one_flow_is_decided_once_and_any_odd_frame_is_decided_alone() {
    let mut l = bridged(3);
    l.send(1, &[eth(1, 2)]); // 2 on link1 (flooded: 1 unknown)
    l.send(2, &[eth(2, 3)]); // 3 on link2
    counts(&mut l);
    l.send(0, &vec![eth(2, 1); 64]);
    assert_eq!(counts(&mut l), vec![0, 64, 0]);
    assert_eq!(stat(&mut l, 0, "recvPackets"), 64);
    assert_eq!(stat(&mut l, 0, "recvOctets"), 64 * 64);
    // the last frame goes elsewhere: the first 63 to link1, then one to link2
    let mut b = vec![eth(2, 1); 63];
    b.push(eth(3, 1));
    l.send(0, &b);
    assert_eq!(counts(&mut l), vec![0, 63, 1]);
    // an unknown destination in the middle is flooded in its place in the order
    let mut b = vec![eth(2, 1); 64];
    b[31] = eth(7, 1);
    l.send(0, &b);
    let p1 = l.tx(1);
    assert_eq!(p1.len(), 64);
    assert_eq!(p1[31], eth(7, 1));
    assert_eq!(l.tx(2), vec![eth(7, 1)]);
    assert_eq!(stat(&mut l, 0, "recvUnknown"), 1);
    // a runt among equal frames is counted and dropped, the rest still go
    let mut b = vec![eth(2, 1); 64];
    b[40] = eth(2, 1)[..13].to_vec();
    l.send(0, &b);
    assert_eq!(counts(&mut l), vec![0, 63, 0]);
    assert_eq!(stat(&mut l, 0, "recvRunts"), 1);
    // a whole burst to a host on the ingress link: every frame a same_link drop
    l.send(0, &vec![eth(1, 9); 64]);
    assert_eq!(counts(&mut l), vec![0, 0, 0]);
    assert_eq!(l.graph.drops_of("bridge", reason::SAME_LINK), 64);
    // host 2 jumps to link0 at once (within minStableAge): a loop; link0 is muted, the
    // burst dropped
    l.send(0, &vec![eth(3, 2); 64]);
    assert_eq!(counts(&mut l), vec![0, 0, 0]);
    assert_eq!(stat(&mut l, 0, "loopDetects"), 1);
    assert_eq!(stat(&mut l, 0, "loopDrops"), 64);
    // (runts are not counted as received; the looping frame is, the muted ones after it not)
    assert_eq!(stat(&mut l, 0, "recvPackets"), 64 * 3 + 63 + 64 + 1);
    let (i, o) = l.balance();
    assert_eq!(i, o, "every frame accounted for");
}
