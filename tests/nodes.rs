//! Scenarios for tee, vlan, one2many, hub, hole, echo and ether, following netgraph's man
//! pages (ng_tee(4), ng_vlan(4), ng_one2many(4), ng_hub(4), ng_hole(4), ng_echo(4),
//! ng_ether(4)).

use xdpgraph::graph::{DropReason, GraphError};
use xdpgraph::nodes::{one2many, vlan};
use xdpgraph::testkit::{bcast, eth, frame, mac, tagged, Lab};
use xdpgraph::value::Value;
use xdpgraph::wire::{EtherType, EthernetFrame, VlanHeader};

fn counts(l: &mut Lab) -> Vec<usize> {
    (0..l.ports.len()).map(|i| l.tx(i).len()).collect()
}

fn v(s: &str) -> Value {
    Value::parse(s).unwrap()
}

// ----- tee ----------------------------------------------------------------------------------

/// p0 - tee.left, tee.right - p1, tee.left2right - p2, tee.right2left - p3.
fn tee(with_copies: bool) -> Lab {
    let mut l = Lab::new(4);
    l.graph.mkpeer("p0:", "tee", "lower", "left").unwrap();
    l.graph.name("p0:lower", "t").unwrap();
    l.graph.connect("p1:", "t:", "lower", "right").unwrap();
    if with_copies {
        l.graph.connect("p2:", "t:", "lower", "left2right").unwrap();
        l.graph.connect("p3:", "t:", "lower", "right2left").unwrap();
    }
    l
}

#[test]
fn tee_passes_through_and_copies() {
    let mut l = tee(true);
    l.send(0, &[eth(2, 1), eth(2, 1)]);
    assert_eq!(counts(&mut l), vec![0, 2, 2, 0]);
    l.send(1, &[eth(1, 2)]);
    assert_eq!(counts(&mut l), vec![1, 0, 0, 1]);
    // Frames written into the copy hooks go out left / right.
    l.send(2, &[eth(1, 3)]);
    assert_eq!(counts(&mut l), vec![1, 0, 0, 0]);
    l.send(3, &[eth(1, 3)]);
    assert_eq!(counts(&mut l), vec![0, 1, 0, 0]);
    let s = l.graph.msg("t:", "getstats", None).unwrap().unwrap();
    let left = s.field("left").unwrap();
    assert_eq!(left.field("inFrames").unwrap().as_i128(), Some(2));
    assert_eq!(left.field("outFrames").unwrap().as_i128(), Some(2));
    assert_eq!(
        s.field("left2right")
            .unwrap()
            .field("outFrames")
            .unwrap()
            .as_i128(),
        Some(2)
    );
    assert_eq!(left.field("inOctets").unwrap().as_i128(), Some(128));
    // The copy is a different buffer with the same bytes.
    l.send(0, &[eth(2, 1)]);
    let (a, b) = (l.tx(1), l.tx(2));
    assert_eq!(a, b);
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn tee_copy_hook_becomes_primary_when_the_other_side_is_missing() {
    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "tee", "lower", "left").unwrap();
    l.graph.name("p0:lower", "t").unwrap();
    l.graph.connect("p1:", "t:", "lower", "left2right").unwrap();
    l.send(0, &[eth(2, 1)]);
    assert_eq!(counts(&mut l), vec![0, 1, 0]);
    assert_eq!(
        l.graph.stat(xdpgraph::graph::gstat::COPIES),
        0,
        "no copy needed"
    );
    // Neither right nor right2left: frames from left... (right2left missing too) from p1 (left2right) go out left.
    l.send(1, &[eth(1, 2)]);
    assert_eq!(counts(&mut l), vec![1, 0, 0]);
}

#[test]
fn tee_shutdown_splices_left_and_right() {
    let mut l = tee(true);
    l.graph.shutdown("t:").unwrap();
    let p0 = l.graph.show("p0:").unwrap();
    assert_eq!(p0.hooks.len(), 1);
    assert_eq!(p0.hooks[0].peer_name.as_deref(), Some("p1"));
    assert_eq!(p0.hooks[0].peer_hook, "lower");
    assert!(l.graph.show("p2:").unwrap().hooks.is_empty());
    l.send(0, &[eth(2, 1)]);
    assert_eq!(counts(&mut l), vec![0, 1, 0, 0]);
}

#[test]
fn tee_refuses_other_hook_names() {
    let mut l = Lab::new(1);
    let e = l.graph.mkpeer("p0:", "tee", "lower", "middle").unwrap_err();
    assert!(
        matches!(e, GraphError::HookRefused { ty: "tee", .. }),
        "{e}"
    );
    assert_eq!(l.graph.list().len(), 2, "the half-made tee is gone");
}

// ----- vlan ---------------------------------------------------------------------------------

/// p0 = trunk on downstream; p1 on filter hook v10 (vid 10, pcp 3); p2 on nomatch.
fn vlan() -> Lab {
    let mut l = Lab::new(3);
    l.graph
        .mkpeer("p0:", "vlan", "lower", "downstream")
        .unwrap();
    l.graph.name("p0:lower", "v").unwrap();
    l.graph.connect("p1:", "v:", "lower", "v10").unwrap();
    l.graph.connect("p2:", "v:", "lower", "nomatch").unwrap();
    l.graph
        .msg(
            "v:",
            "addfilter",
            Some(&v(r#"{ hook="v10" vid=10 pcp=3 }"#)),
        )
        .unwrap();
    l
}

fn tag_of(f: &[u8]) -> (u16, u16, u8, u8) {
    let t = VlanHeader::new_checked(&f[12..]).unwrap();
    (t.tpid(), t.tci().vid(), t.tci().pcp(), t.tci().cfi())
}

#[test]
fn vlan_tags_frames_from_filter_hooks() {
    let mut l = vlan();
    let orig = eth(1, 2);
    l.send(1, std::slice::from_ref(&orig));
    let out = l.tx(0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), orig.len() + 4);
    assert_eq!(tag_of(&out[0]), (EtherType::VLAN, 10, 3, 0));
    assert_eq!(&out[0][..12], &orig[..12]);
    assert_eq!(&out[0][16..], &orig[12..]);
}

#[test]
fn vlan_strips_matching_tags_and_sends_the_rest_to_nomatch() {
    let mut l = vlan();
    l.send(
        0,
        &[
            tagged(1, 2, EtherType::VLAN, 10, 5, 0),
            tagged(1, 2, EtherType::VLAN, 20, 0, 0),
            eth(1, 2),
        ],
    );
    let v10 = l.tx(1);
    assert_eq!(v10, vec![eth(1, 2)], "tag removed");
    let nm = l.tx(2);
    assert_eq!(nm.len(), 2);
    assert_eq!(tag_of(&nm[0]).1, 20, "unmatched VID passes tagged");
    assert_eq!(nm[1], eth(1, 2));
}

#[test]
fn vlan_decap_and_encap_from_nomatch_restore_the_tag() {
    let mut l = vlan();
    l.graph.msg("v:", "setdecap", Some(&Value::Int(1))).unwrap();
    assert_eq!(
        l.graph
            .msg("v:", "getdecap", None)
            .unwrap()
            .unwrap()
            .as_i128(),
        Some(1)
    );
    // With decap, an unmatched tag leaves nomatch out of band; an ether node writes it back in
    // band on transmit (as a NIC's VLAN offload would).
    l.send(0, &[tagged(1, 2, EtherType::VLAN, 20, 4, 0)]);
    assert_eq!(tag_of(&l.tx(2)[0]), (EtherType::VLAN, 20, 4, 0));
    // A second vlan node behind nomatch matches the out-of-band tag and strips it.
    l.graph.rmhook("v:", "nomatch").unwrap();
    l.graph
        .mkpeer("v:", "vlan", "nomatch", "downstream")
        .unwrap();
    l.graph.name("v:nomatch", "v2").unwrap();
    l.graph.connect("p2:", "v2:", "lower", "v20").unwrap();
    l.graph
        .msg("v2:", "addfilter", Some(&v(r#"{ hook="v20" vid=20 }"#)))
        .unwrap();
    l.send(0, &[tagged(1, 2, EtherType::VLAN, 20, 4, 0)]);
    assert_eq!(
        l.tx(2),
        vec![eth(1, 2)],
        "decap moved the tag out of band; v2 matched it"
    );
    l.graph.shutdown("v2:").unwrap();
    // Through an echo on nomatch, the out-of-band tag returns in band when encap has bit 2.
    l.graph.mkpeer("v:", "echo", "nomatch", "e").unwrap();
    l.graph.msg("v:", "setencap", Some(&Value::Int(3))).unwrap();
    l.send(0, &[tagged(1, 2, EtherType::VLAN, 20, 6, 1)]);
    let back = l.tx(0);
    assert_eq!(back.len(), 1);
    assert_eq!(tag_of(&back[0]), (EtherType::VLAN, 20, 6, 1));
}

#[test]
fn vlan_qinq_uses_encapproto() {
    let mut l = vlan();
    l.graph
        .msg("v:", "setencapproto", Some(&Value::Int(0x88a8)))
        .unwrap();
    assert_eq!(
        l.graph
            .msg("v:", "getencapproto", None)
            .unwrap()
            .unwrap()
            .to_string(),
        "0x88a8"
    );
    l.send(1, &[eth(1, 2)]);
    assert_eq!(tag_of(&l.tx(0)[0]), (EtherType::QINQ, 10, 3, 0));
    // An 802.1Q-tagged frame is "untagged" for a QinQ node: it goes to nomatch unchanged.
    let q = tagged(1, 2, EtherType::VLAN, 10, 0, 0);
    l.send(0, &[q.clone(), tagged(1, 2, EtherType::QINQ, 10, 0, 0)]);
    assert_eq!(l.tx(2), vec![q]);
    assert_eq!(l.tx(1), vec![eth(1, 2)]);
    let e = l
        .graph
        .msg("v:", "setencapproto", Some(&Value::Int(0x0800)))
        .unwrap_err();
    assert!(e.to_string().contains("not a VLAN TPID"), "{e}");
}

#[test]
fn vlan_filter_table_and_its_errors() {
    let mut l = vlan();
    l.graph.mkpeer("v:", "hole", "v20", "in").unwrap();
    l.graph
        .msg(
            "v:",
            "addfilter",
            Some(&v(r#"{ hook="v20" vid=20 cfi=1 }"#)),
        )
        .unwrap();
    let t = l.graph.msg("v:", "gettable", None).unwrap().unwrap();
    assert_eq!(
        t.to_string(),
        r#"{ n=2 filter=[ { hook="v10" vid=10 pcp=3 } { hook="v20" vid=20 cfi=1 } ] }"#
    );
    for (arg, want) in [
        (r#"{ hook="v20" vid=30 }"#, "filter on hook"),
        (r#"{ hook="v10x" vid=30 }"#, "no hook"),
        (r#"{ hook="downstream" vid=30 }"#, "cannot carry a filter"),
        (r#"{ hook="v20" vid=4096 }"#, "out of range"),
        (r#"{ hook="v20" vid=1 pcp=8 }"#, "out of range"),
        (r#"{ hook="v20" vid=1 cfi=2 }"#, "out of range"),
    ] {
        let e = l
            .graph
            .msg("v:", "addfilter", Some(&v(arg)))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{arg}: {e}");
    }
    l.graph.mkpeer("v:", "hole", "v30", "in").unwrap();
    let e = l
        .graph
        .msg("v:", "addfilter", Some(&v(r#"{ hook="v30" vid=10 }"#)))
        .unwrap_err();
    assert!(e.to_string().contains("vid 10"), "{e}");
    l.graph
        .msg("v:", "delfilter", Some(&Value::Str("v10".into())))
        .unwrap();
    l.graph
        .msg("v:", "delvidflt", Some(&Value::Int(20)))
        .unwrap();
    assert!(matches!(
        l.graph.msg("v:", "delvidflt", Some(&Value::Int(20))),
        Err(GraphError::NotFound(_))
    ));
    assert_eq!(
        l.graph
            .msg("v:", "gettable", None)
            .unwrap()
            .unwrap()
            .to_string(),
        "{ }"
    );
    // A hook without a filter drops what is written to it.
    l.send(1, &[eth(1, 2)]);
    assert_eq!(l.graph.drops_of("vlan", vlan::reason::NO_FILTER), 1);
}

#[test]
fn vlan_removing_a_filter_hook_frees_its_vid() {
    let mut l = vlan();
    l.graph.rmhook("v:", "v10").unwrap();
    l.send(0, &[tagged(1, 2, EtherType::VLAN, 10, 0, 0)]);
    assert_eq!(l.tx(2).len(), 1, "vid 10 now unmatched");
    l.graph.mkpeer("v:", "hole", "other", "in").unwrap();
    l.graph
        .msg("v:", "addfilter", Some(&v(r#"{ hook="other" vid=10 }"#)))
        .unwrap();
}

#[test]
fn vlan_truncated_tag_is_dropped_not_read_past() {
    let mut l = vlan();
    let mut short = tagged(1, 2, EtherType::VLAN, 10, 0, 0);
    short.truncate(16);
    l.send(0, &[short, vec![0; 10]]);
    assert_eq!(counts(&mut l), vec![0, 0, 0]);
    assert_eq!(l.graph.drops_of("vlan", vlan::reason::TAG_FAILED), 1);
    assert_eq!(l.graph.drops_of("vlan", vlan::reason::RUNT), 1);
}

// ----- one2many -----------------------------------------------------------------------------

/// p0 on one; p1..p3 on many0..many2.
fn o2m() -> Lab {
    let mut l = Lab::new(4);
    l.graph.mkpeer("p0:", "one2many", "lower", "one").unwrap();
    l.graph.name("p0:lower", "o").unwrap();
    for i in 1..4 {
        l.graph
            .connect(&format!("p{i}:"), "o:", "lower", &format!("many{}", i - 1))
            .unwrap();
    }
    l
}

#[test]
fn one2many_round_robin_all_and_failover() {
    let mut l = o2m();
    l.send(0, &vec![eth(2, 1); 6]);
    assert_eq!(counts(&mut l), vec![0, 2, 2, 2]);
    l.send(0, &[eth(2, 1)]);
    assert_eq!(
        counts(&mut l),
        vec![0, 1, 0, 0],
        "round robin continues where it left off"
    );
    l.graph
        .msg("o:", "setconfig", Some(&v("{ xmitAlg=2 }")))
        .unwrap();
    l.send(0, &vec![eth(2, 1); 3]);
    assert_eq!(counts(&mut l), vec![0, 3, 3, 3]);
    l.graph
        .msg(
            "o:",
            "setconfig",
            Some(&v("{ xmitAlg=failover enabledLinks=[ 0 1 1 ] }")),
        )
        .unwrap();
    l.send(0, &vec![eth(2, 1); 3]);
    assert_eq!(counts(&mut l), vec![0, 0, 3, 0], "first enabled link");
    l.send(3, &[eth(1, 2)]);
    assert_eq!(
        counts(&mut l),
        vec![1, 0, 0, 0],
        "many -> one, even from a disabled link"
    );
    let c = l.graph.msg("o:", "getconfig", None).unwrap().unwrap();
    assert_eq!(
        c.to_string(),
        "{ xmitAlg=3 failAlg=1 enabledLinks=[ 1=1 1 ] }"
    );
    let s = l
        .graph
        .msg("o:", "getstats", Some(&Value::Int(1)))
        .unwrap()
        .unwrap();
    assert_eq!(s.field("xmitPackets").unwrap().as_i128(), Some(2 + 3 + 3));
    let s = l
        .graph
        .msg("o:", "getclrstats", Some(&Value::Int(-1)))
        .unwrap()
        .unwrap();
    assert_eq!(
        s.field("recvPackets").unwrap().as_i128(),
        Some(6 + 1 + 3 + 3)
    );
    assert_eq!(s.field("xmitPackets").unwrap().as_i128(), Some(1));
}

#[test]
fn one2many_without_links_drops_and_validates_config() {
    let mut l = o2m();
    l.graph
        .msg("o:", "setconfig", Some(&v("{ enabledLinks=[ ] }")))
        .unwrap();
    l.send(0, &[eth(2, 1)]);
    assert_eq!(
        l.graph
            .drops_of("one2many", one2many::reason::NO_ACTIVE_LINK),
        1
    );
    for bad in [
        "{ xmitAlg=4 }",
        "{ failAlg=7 }",
        "{ bogus=1 }",
        "{ enabledLinks=3 }",
    ] {
        assert!(
            l.graph.msg("o:", "setconfig", Some(&v(bad))).is_err(),
            "{bad}"
        );
    }
    for bad in ["many64", "many01", "many", "two"] {
        assert!(l.graph.mkpeer("o:", "hole", bad, "x").is_err(), "{bad}");
    }
    // Connecting a link enables it; disconnecting disables it.
    l.graph.rmhook("o:", "many1").unwrap();
    l.graph.mkpeer("o:", "hole", "many5", "x").unwrap();
    let c = l.graph.msg("o:", "getconfig", None).unwrap().unwrap();
    assert_eq!(
        c.to_string(),
        "{ xmitAlg=1 failAlg=1 enabledLinks=[ 5=1 ] }"
    );
}

// ----- hub, hole, echo --------------------------------------------------------------------

#[test]
fn hub_copies_to_every_other_hook() {
    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "hub", "lower", "a").unwrap();
    l.graph.name("p0:lower", "h").unwrap();
    l.graph.connect("p1:", "h:", "lower", "b").unwrap();
    l.graph.connect("p2:", "h:", "lower", "c").unwrap();
    l.send(1, &[bcast(1), eth(3, 1)]);
    assert_eq!(counts(&mut l), vec![2, 0, 2]);
    l.graph.msg("h:", "setpersistent", None).unwrap();
    for p in ["p0:", "p1:", "p2:"] {
        l.graph.rmhook(p, "lower").unwrap();
    }
    assert!(l.graph.show("h:").is_ok(), "persistent hub stays");
}

#[test]
fn hole_discards_and_counts_echo_returns() {
    let mut l = Lab::new(2);
    l.graph.mkpeer("p0:", "hole", "lower", "in").unwrap();
    l.graph.name("p0:lower", "sink").unwrap();
    l.graph.mkpeer("p1:", "echo", "lower", "x").unwrap();
    l.send(0, &vec![eth(2, 1); 5]);
    l.send(1, &[eth(2, 1)]);
    assert_eq!(counts(&mut l), vec![0, 1]);
    assert_eq!(l.graph.drops(DropReason::Discarded), 5);
    let s = l
        .graph
        .msg("sink:", "getclrstats", Some(&Value::Str("in".into())))
        .unwrap()
        .unwrap();
    assert_eq!(s.to_string(), "{ frames=5 octets=320 }");
    let s = l
        .graph
        .msg("sink:", "getstats", Some(&Value::Str("in".into())))
        .unwrap()
        .unwrap();
    assert_eq!(s.to_string(), "{ }");
}

// ----- ether --------------------------------------------------------------------------------

#[test]
fn ether_without_hooks_gives_frames_to_the_host() {
    let mut l = Lab::new(1);
    l.send(0, &[eth(2, 1)]);
    assert_eq!(l.host(0).len(), 1);
    assert!(!l.ctls[0]
        .steering
        .load(std::sync::atomic::Ordering::Relaxed));
}

#[test]
fn ether_lower_steers_and_autosrc_rewrites() {
    let mut l = Lab::new(2);
    l.graph.connect("p0:", "p1:", "lower", "lower").unwrap();
    assert!(l.ctls[0]
        .steering
        .load(std::sync::atomic::Ordering::Relaxed));
    l.send(0, &[eth(2, 1)]);
    assert_eq!(l.tx(1), vec![eth(2, 1)], "autosrc off: unchanged");
    l.graph
        .msg("p1:", "setautosrc", Some(&Value::Int(1)))
        .unwrap();
    l.send(0, &[eth(2, 1)]);
    let out = l.tx(1);
    let f = EthernetFrame::new_checked(&out[0][..]).unwrap();
    assert_eq!(f.src_addr(), xdpgraph::port::PortCtl::mac(&*l.ctls[1]));
    // shutdown resets the interface node instead of removing it.
    l.graph.shutdown("p1:").unwrap();
    assert_eq!(
        l.graph.msg("p1:", "getautosrc", None).unwrap().unwrap(),
        Value::Int(1)
    );
    assert!(l.graph.show("p0:").unwrap().hooks.is_empty());
    assert!(!l.ctls[0]
        .steering
        .load(std::sync::atomic::Ordering::Relaxed));
}

#[test]
fn ether_upper_and_orphans() {
    let mut l = Lab::new(2);
    // p0's upper on an echo: what the host sends comes back to it.
    l.graph.mkpeer("p0:", "echo", "upper", "x").unwrap();
    let refs: [&[u8]; 1] = [&eth(9, 1)];
    l.worker.inject_host(l.ports[0], &refs);
    assert_eq!(l.host(0).len(), 1);
    assert_eq!(l.tx(0).len(), 0);
    // Orphans: only frames the host would not take.
    l.graph.connect("p1:", "p0:", "lower", "orphans").unwrap();
    let ours = frame(
        xdpgraph::port::PortCtl::mac(&*l.ctls[0]),
        mac(5),
        EtherType::IPV4,
        64,
        0,
    );
    l.send(0, &[ours.clone(), eth(7, 5), bcast(5)]);
    assert_eq!(l.host(0).len(), 2, "to us, and broadcast");
    assert_eq!(
        l.tx(1),
        vec![eth(7, 5)],
        "another host's unicast is an orphan"
    );
    let e = l.graph.mkpeer("p0:", "hole", "lower", "x").unwrap_err();
    assert!(
        e.to_string().contains("at most one of lower and orphans"),
        "{e}"
    );
}

#[test]
fn ether_messages() {
    let mut l = Lab::new(1);
    let g = &mut l.graph;
    assert_eq!(
        g.msg("p0:", "getifname", None).unwrap().unwrap(),
        Value::Str("p0".into())
    );
    assert_eq!(
        g.msg("p0:", "getifindex", None).unwrap().unwrap().as_i128(),
        Some(100)
    );
    g.msg("p0:", "setenaddr", Some(&v("02:11:22:33:44:55")))
        .unwrap();
    assert_eq!(
        g.msg("p0:", "getenaddr", None)
            .unwrap()
            .unwrap()
            .to_string(),
        "02:11:22:33:44:55"
    );
    assert!(g
        .msg("p0:", "setenaddr", Some(&v("01:11:22:33:44:55")))
        .is_err());
    g.msg("p0:", "setpromisc", Some(&Value::Int(1))).unwrap();
    assert_eq!(
        g.msg("p0:", "getpromisc", None).unwrap().unwrap(),
        Value::Int(1)
    );
    assert!(g.msg("p0:", "setpromisc", Some(&Value::Int(2))).is_err());
    g.msg("p0:", "addmulti", Some(&v("01:00:5e:00:00:fb")))
        .unwrap();
    assert!(g
        .msg("p0:", "addmulti", Some(&v("02:00:5e:00:00:fb")))
        .is_err());
    g.msg("p0:", "delmulti", Some(&v("01:00:5e:00:00:fb")))
        .unwrap();
    assert!(g
        .msg("p0:", "delmulti", Some(&v("01:00:5e:00:00:fb")))
        .is_err());
    assert!(g
        .mkpeer(".", "ether", "x", "lower")
        .unwrap_err()
        .to_string()
        .contains("each attached interface"));
    g.shutdown("p0:").unwrap();
    assert_eq!(
        g.msg("p0:", "getpromisc", None).unwrap().unwrap(),
        Value::Int(0),
        "reset turns off promiscuity it set"
    );
}

// ----- copies without buffers ---------------------------------------------------------------

/// A lab whose pool has 64 chunks: a burst of 64 frames takes them all, so no copy can be made.
fn starved(ports: usize) -> Lab {
    use xdpgraph::buf::Pool;
    use xdpgraph::graph::GraphConfig;
    let cfg = GraphConfig {
        manual_clock: true,
        ..GraphConfig::default()
    };
    Lab::with_config(ports, cfg, Pool::heap(64, 2048, 256))
}

/// Every copy a node wanted and could not make (the pool empty) is a `no_buffers` drop of
/// that copy on the node: tee, hub, bridge flooding (the links after the failed copy too) and
/// one2many `all`. The originals go on, and the balance holds with the failed copies counted
/// in: received + copies made + copies failed = sent + drops.
#[test]
fn copies_that_cannot_be_made_are_no_buffers_drops() {
    let burst: Vec<Vec<u8>> = (0..64).map(|_| bcast(1)).collect();
    let nobufs = |l: &Lab| l.graph.drops(DropReason::NoBufs);
    // tee: the left2right copy of each frame
    let mut l = starved(3);
    l.graph.mkpeer("p0:", "tee", "lower", "left").unwrap();
    l.graph.name("p0:lower", "t").unwrap();
    l.graph.connect("p1:", "t:", "lower", "right").unwrap();
    l.graph.connect("p2:", "t:", "lower", "left2right").unwrap();
    l.send(0, &burst);
    assert_eq!(counts(&mut l), vec![0, 64, 0]);
    assert_eq!(nobufs(&l), 64);
    let s = l.graph.node_stats("t:").unwrap();
    assert!(s
        .drops
        .iter()
        .any(|(r, n)| r.name == "no_buffers" && *n == 64));
    assert_eq!(l.balance().0, l.balance().1);
    // hub of three: one original, one copy per frame
    let mut l = starved(3);
    l.graph.mkpeer("p0:", "hub", "lower", "a").unwrap();
    l.graph.name("p0:lower", "h").unwrap();
    l.graph.connect("p1:", "h:", "lower", "b").unwrap();
    l.graph.connect("p2:", "h:", "lower", "c").unwrap();
    l.send(0, &burst);
    assert_eq!(counts(&mut l).iter().sum::<usize>(), 64);
    assert_eq!(nobufs(&l), 64);
    assert_eq!(l.balance().0, l.balance().1);
    // bridge flooding to three links: the first copy fails, the next is not attempted
    let mut l = starved(4);
    l.graph.mkpeer("p0:", "bridge", "lower", "link0").unwrap();
    l.graph.name("p0:lower", "br").unwrap();
    for i in 1..4 {
        let p = format!("p{i}:");
        l.graph
            .connect(&p, "br:", "lower", &format!("link{i}"))
            .unwrap();
    }
    l.send(0, &burst);
    assert_eq!(counts(&mut l).iter().sum::<usize>(), 64);
    assert_eq!(nobufs(&l), 128);
    let s = l.graph.msg("br:", "getstats", Some(&Value::Int(0)));
    let mf = s
        .unwrap()
        .unwrap()
        .field("memoryFailures")
        .unwrap()
        .as_i128();
    assert_eq!(
        mf,
        Some(64),
        "one failure counted per flooded frame on the ingress link"
    );
    assert_eq!(l.balance().0, l.balance().1);
    // one2many all over three links
    let mut l = starved(4);
    l.graph.mkpeer("p0:", "one2many", "lower", "one").unwrap();
    l.graph.name("p0:lower", "o").unwrap();
    for i in 1..4 {
        let p = format!("p{i}:");
        l.graph
            .connect(&p, "o:", "lower", &format!("many{i}"))
            .unwrap();
    }
    l.graph
        .msg("o:", "setconfig", Some(&v("{ xmitAlg=2 }")))
        .unwrap();
    l.send(0, &burst);
    assert_eq!(counts(&mut l).iter().sum::<usize>(), 64);
    assert_eq!(nobufs(&l), 128);
    assert_eq!(l.balance().0, l.balance().1);
}
