//! The `etf` node (ng_etf(4), EtherType filter) in the in-memory lab: demultiplexing from
//! downstream, the per-hook rule towards downstream, `getstatus`, `setfilter`'s errors, filters
//! purged with their hook, and the pfatt recipe (two etf nodes joined by their EAPOL hooks).

use xdpgraph::ctl::exec::execute;
use xdpgraph::errno::Errno;
use xdpgraph::graph::{DropReason, GraphError};
use xdpgraph::nodes::etf::reason;
use xdpgraph::testkit::{eth, frame, mac, Lab};
use xdpgraph::value::Value;
use xdpgraph::wire::EtherType;

const EAPOL: u16 = 0x888e;

fn v(s: &str) -> Value {
    Value::parse(s).unwrap()
}

/// A 64-byte frame of EtherType `t` from host `s`; `seq` makes the bytes distinct.
fn of_type(t: u16, s: u64, seq: u8) -> Vec<u8> {
    frame(mac(3), mac(s), t, 64, seq)
}

fn eapol(seq: u8) -> Vec<u8> {
    of_type(EAPOL, 1, seq)
}

fn ipv4(seq: u8) -> Vec<u8> {
    of_type(EtherType::IPV4, 1, seq)
}

fn filter(l: &mut Lab, node: &str, hook: &str, t: u16) -> Result<(), GraphError> {
    let arg = v(&format!("{{ matchhook=\"{hook}\" ethertype=0x{t:x} }}"));
    l.graph.msg(node, "setfilter", Some(&arg)).map(|_| ())
}

/// (packets_in, packets_out) of `getstatus`.
fn status(l: &mut Lab, node: &str) -> (i128, i128) {
    let s = l.graph.msg(node, "getstatus", None).unwrap().unwrap();
    let get = |f| s.field(f).map_or(0, |x| x.as_i128().unwrap());
    (get("packets_in"), get("packets_out"))
}

fn wrong_hook(l: &Lab) -> u64 {
    l.graph.drops_of("etf", reason::WRONG_HOOK)
}

/// p0 on downstream, p1 on match hook `eapout` (EAPOL), p2 on nomatch; p3 free.
fn etf() -> Lab {
    let mut l = Lab::new(4);
    l.graph.mkpeer("p0:", "etf", "lower", "downstream").unwrap();
    l.graph.name("p0:lower", "f").unwrap();
    l.graph.connect("p1:", "f:", "lower", "eapout").unwrap();
    l.graph.connect("p2:", "f:", "lower", "nomatch").unwrap();
    filter(&mut l, "f:", "eapout", EAPOL).unwrap();
    l
}

#[test]
fn etf_eapol_from_downstream_reaches_only_the_match_hook() {
    let mut l = etf();
    l.send(0, &[eapol(1), ipv4(2), eapol(3), ipv4(4)]);
    assert_eq!(l.tx(1), vec![eapol(1), eapol(3)], "EAPOL only on eapout");
    assert_eq!(l.tx(2), vec![ipv4(2), ipv4(4)], "IPv4 only on nomatch");
    assert!(l.tx(0).is_empty() && l.tx(3).is_empty());
    assert_eq!(status(&mut l, "f:"), (4, 0));
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn etf_without_filters_everything_goes_to_nomatch() {
    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "etf", "lower", "downstream").unwrap();
    l.graph.name("p0:lower", "f").unwrap();
    l.graph.connect("p2:", "f:", "lower", "nomatch").unwrap();
    l.graph.connect("p1:", "f:", "lower", "eapout").unwrap();
    l.send(0, &[eapol(1), ipv4(2)]);
    assert_eq!(l.tx(2), vec![eapol(1), ipv4(2)]);
    assert!(l.tx(1).is_empty());
    // From a hook without a filter nothing passes; from nomatch everything does.
    l.send(1, &[eapol(3), ipv4(4)]);
    l.send(2, &[eapol(5), ipv4(6)]);
    assert_eq!(l.tx(0), vec![eapol(5), ipv4(6)]);
    assert_eq!(wrong_hook(&l), 2);
    assert_eq!(status(&mut l, "f:"), (2, 2));
}

#[test]
fn etf_towards_downstream_a_type_passes_only_from_its_own_hook() {
    let mut l = etf();
    // From the match hook: its own type passes, another is dropped and counted.
    l.send(1, &[eapol(1), ipv4(2), eapol(3)]);
    assert_eq!(l.tx(0), vec![eapol(1), eapol(3)]);
    assert_eq!(wrong_hook(&l), 1);
    // From nomatch: an unfiltered type passes, the filtered one is dropped.
    l.send(2, &[ipv4(4), eapol(5), ipv4(6)]);
    assert_eq!(l.tx(0), vec![ipv4(4), ipv4(6)]);
    assert_eq!(wrong_hook(&l), 2);
    // Whole bursts that pass keep their order.
    l.send(1, &[eapol(7), eapol(8)]);
    l.send(2, &[ipv4(9)]);
    assert_eq!(l.tx(0), vec![eapol(7), eapol(8), ipv4(9)]);
    assert_eq!(status(&mut l, "f:"), (0, 7));
    // A second match hook may not send the first one's type, nor nomatch's.
    l.graph.connect("p3:", "f:", "lower", "ipv6").unwrap();
    filter(&mut l, "f:", "ipv6", EtherType::IPV6).unwrap();
    let v6 = of_type(EtherType::IPV6, 3, 0);
    l.send(3, &[eapol(10), ipv4(11), v6.clone()]);
    assert_eq!(l.tx(0), vec![v6]);
    assert_eq!(wrong_hook(&l), 4);
    let stats = l.graph.node_stats("f:").unwrap();
    assert!(
        (stats.drops.iter()).any(|(r, n)| r.name == "wrong_hook" && *n == 4),
        "{:?}",
        stats.drops
    );
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn etf_getstatus_counts_and_restarts_with_a_new_downstream() {
    let mut l = etf();
    l.send(0, &[eapol(1), ipv4(2), vec![0; 13]]);
    assert_eq!(l.graph.drops_of("etf", reason::RUNT), 1);
    l.send(1, &[eapol(3), vec![0; 12]]);
    l.send(2, &[ipv4(4), ipv4(5)]);
    assert_eq!(l.graph.drops_of("etf", reason::RUNT), 2);
    assert_eq!(status(&mut l, "f:"), (2, 3), "runts are not counted");
    let s = l.graph.msg("f:", "getstatus", None).unwrap().unwrap();
    assert_eq!(s.to_string(), "{ packets_in=2 packets_out=3 }");
    // Nothing counts as out while downstream is missing; a new downstream starts from 0
    // (netgraph's newhook clears both).
    l.graph.rmhook("f:", "downstream").unwrap();
    l.send(1, &[eapol(6)]);
    assert_eq!(l.graph.drops(DropReason::NotConnected), 1);
    assert_eq!(status(&mut l, "f:"), (2, 3));
    l.graph.connect("p0:", "f:", "lower", "downstream").unwrap();
    assert_eq!(
        l.graph
            .msg("f:", "getstatus", None)
            .unwrap()
            .unwrap()
            .to_string(),
        "{ }",
        "zero fields left out"
    );
    l.send(0, &[ipv4(7)]);
    assert_eq!(status(&mut l, "f:"), (1, 0));
    let e = l
        .graph
        .msg("f:", "getstatus", Some(&Value::Int(1)))
        .unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
}

#[test]
fn etf_unconnected_target_drops() {
    let mut l = Lab::new(2);
    l.graph.mkpeer("p0:", "etf", "lower", "downstream").unwrap();
    l.graph.name("p0:lower", "f").unwrap();
    l.graph.connect("p1:", "f:", "lower", "eapout").unwrap();
    filter(&mut l, "f:", "eapout", EAPOL).unwrap();
    l.send(0, &[ipv4(1), eapol(2), ipv4(3)]);
    assert_eq!(l.tx(1), vec![eapol(2)]);
    assert_eq!(
        l.graph.drops(DropReason::NotConnected),
        2,
        "no nomatch hook"
    );
    assert_eq!(status(&mut l, "f:"), (3, 0), "counted in, as netgraph does");
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn etf_setfilter_errors() {
    let mut l = etf();
    let e = filter(&mut l, "f:", "nosuch", EtherType::ARP).unwrap_err();
    assert_eq!(e.errno(), Errno::ENOENT, "{e}");
    let e = filter(&mut l, "f:", "downstream", EtherType::ARP).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL, "{e}");
    let e = filter(&mut l, "f:", "eapout", EAPOL).unwrap_err();
    assert_eq!(e.errno(), Errno::EEXIST, "{e}");
    assert!(e.to_string().contains("0x888e"), "{e}");
    l.graph.mkpeer("f:", "hole", "other", "in").unwrap();
    let e = filter(&mut l, "f:", "other", EAPOL).unwrap_err();
    assert_eq!(e.errno(), Errno::EEXIST, "one hook per type: {e}");
    // Shapes netgraph's parser refuses.
    for arg in [
        r#"{ matchhook="other" ethertype=0x10000 }"#,
        r#"{ matchhook="other" ethertype=-1 }"#,
        r#"{ matchhook="other" type=0x800 }"#,
        r#"{ matchhook=1 ethertype=0x800 }"#,
        "0x800",
    ] {
        let e = l.graph.msg("f:", "setfilter", Some(&v(arg))).unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL, "{arg}: {e}");
    }
    let e = l.graph.msg("f:", "setfilter", None).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
    // An absent matchhook is the empty name, which no hook has.
    let e = (l
        .graph
        .msg("f:", "setfilter", Some(&v("{ ethertype=0x800 }"))))
    .unwrap_err();
    assert_eq!(e.errno(), Errno::ENOENT, "{e}");
    // Several types may share a hook.
    filter(&mut l, "f:", "eapout", EtherType::ARP).unwrap();
    let arp = of_type(EtherType::ARP, 2, 0);
    l.send(0, &[arp.clone(), eapol(1), ipv4(2)]);
    assert_eq!(l.tx(1), vec![arp.clone(), eapol(1)]);
    assert_eq!(l.tx(2), vec![ipv4(2)]);
    l.send(1, &[arp.clone(), eapol(3)]);
    assert_eq!(l.tx(0), vec![arp, eapol(3)]);
}

#[test]
fn etf_setflag_is_kept_without_effect() {
    let mut l = etf();
    for n in [0i64, 1, -1, 0xffff_ffff] {
        l.graph.msg("f:", "setflag", Some(&Value::Int(n))).unwrap();
    }
    l.send(0, &[eapol(1), ipv4(2)]);
    assert_eq!((l.tx(1).len(), l.tx(2).len()), (1, 1));
    for bad in [None, Some(Value::Int(0x1_0000_0000)), Some(v("{ a=1 }"))] {
        let e = l.graph.msg("f:", "setflag", bad.as_ref()).unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL, "{e}");
    }
    let e = l.graph.msg("f:", "getfilters", None).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL, "not a netgraph etf message");
}

#[test]
fn etf_removing_a_match_hook_purges_its_filters() {
    let mut l = etf();
    filter(&mut l, "f:", "eapout", EtherType::ARP).unwrap();
    l.graph.rmhook("f:", "eapout").unwrap();
    let arp = of_type(EtherType::ARP, 2, 0);
    l.send(0, &[eapol(1), arp.clone()]);
    assert_eq!(
        l.tx(2),
        vec![eapol(1), arp.clone()],
        "both types unfiltered now"
    );
    // Unfiltered now: nomatch may send them down.
    l.send(2, &[eapol(2), arp]);
    assert_eq!(l.tx(0).len(), 2);
    // A new hook of the same name has no filter, and the types are free for any hook.
    l.graph.connect("p1:", "f:", "lower", "eapout").unwrap();
    l.send(0, &[eapol(3)]);
    assert_eq!((l.tx(1).len(), l.tx(2).len()), (0, 1));
    l.send(1, &[eapol(4)]);
    assert!(l.tx(0).is_empty(), "no filter on the new hook");
    l.graph.connect("p3:", "f:", "lower", "eap2").unwrap();
    filter(&mut l, "f:", "eap2", EAPOL).unwrap();
    filter(&mut l, "f:", "eapout", EtherType::ARP).unwrap();
    l.send(0, &[eapol(5)]);
    assert_eq!(l.tx(3), vec![eapol(5)]);
    // A filter on a hook shut down with its peer node goes too.
    l.graph.mkpeer("f:", "hole", "sink", "in").unwrap();
    filter(&mut l, "f:", "sink", EtherType::IPV6).unwrap();
    l.graph.shutdown("f:sink").unwrap();
    l.send(0, &[of_type(EtherType::IPV6, 4, 0)]);
    assert_eq!(l.tx(2).len(), 1);
}

#[test]
fn etf_filter_reads_the_outer_ethertype_only() {
    let mut l = etf();
    l.graph.connect("p3:", "f:", "lower", "tagged").unwrap();
    filter(&mut l, "f:", "tagged", EtherType::VLAN).unwrap();
    // EAPOL inside an 802.1Q tag: the outer type is 0x8100.
    let mut inner = eapol(1);
    inner.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
    let mut qinq = eapol(2);
    qinq.splice(12..12, [0x88, 0xa8, 0x00, 0x0a]);
    l.send(0, &[inner.clone(), qinq.clone()]);
    assert_eq!(l.tx(3), vec![inner]);
    assert_eq!(l.tx(2), vec![qinq]);
    assert!(l.tx(1).is_empty());
}

#[test]
fn etf_a_filter_may_name_nomatch() {
    // netgraph refuses only downstream as a match hook.
    let mut l = etf();
    filter(&mut l, "f:", "nomatch", EtherType::ARP).unwrap();
    let arp = of_type(EtherType::ARP, 2, 0);
    l.send(0, std::slice::from_ref(&arp));
    assert_eq!(l.tx(2), vec![arp.clone()]);
    l.send(2, std::slice::from_ref(&arp));
    assert_eq!(l.tx(0), vec![arp]);
    assert_eq!(wrong_hook(&l), 0);
}

/// pfatt: the ONT on p0, the AT&T gateway on p1; each behind an etf whose nomatch goes to its
/// interface's host side, the two joined by their EAPOL hooks `eapout`.
fn pfatt() -> Lab {
    let mut l = Lab::new(2);
    let script = r#"
        mkpeer p0: etf lower downstream
        name p0:lower waneapfilter
        connect waneapfilter: p0: nomatch upper
        mkpeer p1: etf lower downstream
        name p1:lower laneapfilter
        connect laneapfilter: p1: nomatch upper
        connect waneapfilter: laneapfilter: eapout eapout
        msg waneapfilter: setfilter { matchhook="eapout" ethertype=0x888e }
        msg laneapfilter: setfilter { matchhook="eapout" ethertype=0x888e }
    "#;
    for line in script.lines() {
        let r = execute(&mut l.graph, line);
        assert!(r.ok, "{line}: {:?}", r.error);
    }
    l
}

#[test]
fn etf_pfatt_eapol_crosses_between_the_two_filters() {
    let mut l = pfatt();
    // EAPOL from the ONT reaches the gateway's wire, and the answer the ONT's.
    let ont = of_type(EAPOL, 0x10, 1);
    let gw = of_type(EAPOL, 0x20, 2);
    l.send(0, std::slice::from_ref(&ont));
    assert_eq!(l.tx(1), vec![ont]);
    l.send(1, std::slice::from_ref(&gw));
    assert_eq!(l.tx(0), vec![gw]);
    // Everything else goes to each interface's own host side, and none of it crosses.
    l.send(0, &[eth(1, 2)]);
    l.send(1, &[eth(3, 4)]);
    assert_eq!(l.host(0), vec![eth(1, 2)]);
    assert_eq!(l.host(1), vec![eth(3, 4)]);
    assert!(l.tx(0).is_empty() && l.tx(1).is_empty());
    // The host's own traffic goes out its interface through nomatch; its EAPOL does not.
    let p0 = l.ports[0];
    l.worker.inject_host(p0, &[&eth(5, 6), &eapol(3)]);
    assert_eq!(l.tx(0), vec![eth(5, 6)]);
    assert!(l.tx(1).is_empty());
    assert_eq!(wrong_hook(&l), 1);
    assert_eq!(status(&mut l, "waneapfilter:"), (2, 2));
    assert_eq!(status(&mut l, "laneapfilter:"), (2, 1));
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn etf_save_recreates_filters_and_flags() {
    let mut l = pfatt();
    l.graph
        .msg("waneapfilter:", "setflag", Some(&Value::Int(5)))
        .unwrap();
    filter(&mut l, "laneapfilter:", "eapout", EtherType::ARP).unwrap();
    let script = xdpgraph::ctl::save::save(&mut l.graph);
    assert!(
        script.contains("setfilter { matchhook=\"eapout\" ethertype=0x888e }"),
        "{script}"
    );
    assert!(script.contains("msg waneapfilter: setflag 5"), "{script}");
    let mut m = Lab::new(2);
    for line in script.lines() {
        let r = execute(&mut m.graph, line);
        assert!(r.ok, "{line}: {:?}", r.error);
    }
    let arp = of_type(EtherType::ARP, 2, 0);
    m.send(0, &[eapol(1), arp.clone()]);
    assert_eq!(m.tx(1), vec![eapol(1)]);
    assert_eq!(m.host(0), vec![arp.clone()]);
    m.send(1, &[arp]);
    assert!(
        m.host(1).is_empty(),
        "ARP is filtered to eapout on the LAN side"
    );
    assert_eq!(wrong_hook(&m), 1, "and the WAN side refuses it from eapout");
}
