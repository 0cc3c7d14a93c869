//! Jumbo frames (issue 14) through every node type, in memory: the test kit's pool has
//! 2 KiB chunks, so a 9014-byte frame is a chain of six. Each node type carries, copies,
//! tags, returns or frees whole chains, a copy the pool has no chunks for is a named drop
//! (never a partial frame), and every chunk comes back.

use xdpgraph::buf::Pool;
use xdpgraph::graph::{DropReason, GraphConfig};
use xdpgraph::testkit::{frame, mac, Lab};
use xdpgraph::value::Value;
use xdpgraph::wire::{EtherType, MacAddr};

const SIZES: [usize; 7] = [60, 1514, 1515, 4096, 4097, 8000, 9014];

/// Frames of every size from host 1 to `dst`, with payloads that differ per frame.
fn jumbo(dst: MacAddr) -> Vec<Vec<u8>> {
    (SIZES.iter().enumerate())
        .map(|(i, &n)| frame(dst, mac(1), 0x88b5, n, i as u8 * 37))
        .collect()
}

fn v(s: &str) -> Value {
    Value::parse(s).unwrap()
}

/// Every chunk of the worker's pool is free again.
fn all_home(l: &Lab) {
    let p = l.worker.pool();
    assert_eq!(p.double_frees(), 0);
    assert_eq!(p.available(), p.capacity(), "every chunk came home");
}

#[test]
fn bridge_floods_and_forwards_learned_chains() {
    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "bridge", "lower", "link0").unwrap();
    l.graph.name("p0:lower", "br").unwrap();
    l.graph.connect("p1:", "br:", "lower", "link1").unwrap();
    l.graph.connect("p2:", "br:", "lower", "link2").unwrap();
    let f = jumbo(mac(2));
    l.send(0, &f);
    assert_eq!(l.tx(1), f, "flooded");
    assert_eq!(l.tx(2), f, "flooded");
    l.send(1, &[frame(mac(1), mac(2), 0x88b5, 9014, 3)]);
    assert_eq!(l.tx(0).len(), 1, "host 1 learned on link0");
    l.send(0, &f);
    assert_eq!(l.tx(1), f, "learned: to link1 only");
    assert!(l.tx(2).is_empty());
    all_home(&l);
}

#[test]
fn vlan_pushes_and_pops_tags_on_chains() {
    let mut l = Lab::new(2);
    l.graph
        .mkpeer("p0:", "vlan", "lower", "downstream")
        .unwrap();
    l.graph.name("p0:lower", "v").unwrap();
    l.graph.connect("p1:", "v:", "lower", "v10").unwrap();
    l.graph
        .msg("v:", "addfilter", Some(&v(r#"{ hook="v10" vid=10 }"#)))
        .unwrap();
    let plain = jumbo(mac(2));
    l.send(1, &plain);
    let tagged: Vec<Vec<u8>> = (plain.iter())
        .map(|f| {
            let mut t = f.clone();
            t.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
            t
        })
        .collect();
    let out = l.tx(0);
    assert_eq!(out, tagged, "a tag pushed: 9014 bytes leave as 9018");
    assert_eq!(out.last().unwrap().len(), 9018);
    l.send(0, &tagged);
    assert_eq!(l.tx(1), plain, "the tag popped");
    all_home(&l);
}

#[test]
fn tee_hub_and_one2many_copy_whole_chains() {
    let mut l = Lab::new(4);
    l.graph.mkpeer("p0:", "tee", "lower", "left").unwrap();
    l.graph.name("p0:lower", "t").unwrap();
    l.graph.connect("p1:", "t:", "lower", "right").unwrap();
    l.graph.connect("p2:", "t:", "lower", "left2right").unwrap();
    let f = jumbo(mac(2));
    l.send(0, &f);
    assert_eq!(l.tx(1), f);
    assert_eq!(l.tx(2), f);
    all_home(&l);

    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "hub", "lower", "a").unwrap();
    l.graph.name("p0:lower", "h").unwrap();
    l.graph.connect("p1:", "h:", "lower", "b").unwrap();
    l.graph.connect("p2:", "h:", "lower", "c").unwrap();
    l.send(0, &f);
    assert_eq!(l.tx(1), f);
    assert_eq!(l.tx(2), f);
    all_home(&l);

    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "one2many", "lower", "one").unwrap();
    l.graph.name("p0:lower", "o").unwrap();
    l.graph.connect("p1:", "o:", "lower", "many0").unwrap();
    l.graph.connect("p2:", "o:", "lower", "many1").unwrap();
    l.graph
        .msg("o:", "setconfig", Some(&v("{ xmitAlg=2 }")))
        .unwrap();
    l.send(0, &f);
    assert_eq!(l.tx(1), f, "xmitAlg=2 (all): a whole copy each");
    assert_eq!(l.tx(2), f);
    l.graph
        .msg("o:", "setconfig", Some(&v("{ xmitAlg=1 }")))
        .unwrap();
    l.send(0, &f);
    let (a, b) = (l.tx(1), l.tx(2));
    assert_eq!(a.len() + b.len(), f.len(), "round robin: each frame once");
    assert!(a.iter().chain(&b).all(|x| f.contains(x)), "whole frames");
    all_home(&l);
}

#[test]
fn echo_returns_chains_and_hole_frees_them() {
    let mut l = Lab::new(1);
    l.graph.mkpeer("p0:", "echo", "lower", "x").unwrap();
    let f = jumbo(mac(2));
    l.send(0, &f);
    assert_eq!(l.tx(0), f, "echoed whole");
    l.graph.shutdown("p0:lower").unwrap();
    l.graph.mkpeer("p0:", "hole", "lower", "x").unwrap();
    l.send(0, &f);
    assert!(l.tx(0).is_empty());
    all_home(&l);
}

#[test]
fn filters_see_the_headers_of_chains() {
    // etf: by EtherType; macfilter: by destination; bpf: a program over the whole frame
    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "etf", "lower", "downstream").unwrap();
    l.graph.name("p0:lower", "e").unwrap();
    l.graph.connect("p1:", "e:", "lower", "m").unwrap();
    l.graph.connect("p2:", "e:", "lower", "nomatch").unwrap();
    l.graph
        .msg(
            "e:",
            "setfilter",
            Some(&v(r#"{ matchhook="m" ethertype=0x88b5 }"#)),
        )
        .unwrap();
    let f = jumbo(mac(2));
    l.send(0, &f);
    assert_eq!(l.tx(1), f, "matched by EtherType");
    let other: Vec<_> = (SIZES.iter())
        .map(|&n| frame(mac(2), mac(1), EtherType::IPV4, n, 9))
        .collect();
    l.send(0, &other);
    assert_eq!(l.tx(2), other);
    all_home(&l);

    // bpf: `ld len; jge #8000 ok; ret 0; ok: ret -1` matches frames of 8000 bytes and more:
    // the length is the whole chain's
    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "bpf", "lower", "in").unwrap();
    l.graph.name("p0:lower", "b").unwrap();
    l.graph.connect("p1:", "b:", "lower", "big").unwrap();
    l.graph.connect("p2:", "b:", "lower", "small").unwrap();
    l.graph
        .msg(
            "b:",
            "setprogram",
            Some(&v(
                r#"{ thisHook="in" ifMatch="big" ifNotMatch="small" bpf_prog_len=4
                bpf_prog=[ { code=0x80 } { code=0x35 jt=0 jf=1 k=8000 }
                { code=0x06 k=0xffffffff } { code=0x06 k=0 } ] }"#,
            )),
        )
        .unwrap();
    l.send(0, &f);
    let big = l.tx(1);
    assert_eq!(big, f[5..].to_vec(), "8000 and 9014 bytes, whole");
    assert_eq!(l.tx(2), f[..5].to_vec());
    all_home(&l);
}

#[test]
fn a_chain_the_pool_cannot_copy_is_dropped_whole_and_named() {
    // 2 KiB chunks: a 9014-byte frame takes 6; 16 chunks hold it and one copy, not two
    let mut l = Lab::with_config(
        4,
        GraphConfig {
            manual_clock: true,
            ..GraphConfig::default()
        },
        Pool::heap(16, 2048, 256),
    );
    l.graph.mkpeer("p0:", "hub", "lower", "a").unwrap();
    l.graph.name("p0:lower", "h").unwrap();
    l.graph.connect("p1:", "h:", "lower", "b").unwrap();
    l.graph.connect("p2:", "h:", "lower", "c").unwrap();
    l.graph.connect("p3:", "h:", "lower", "d").unwrap();
    let f = frame(mac(2), mac(1), 0x88b5, 9014, 1);
    l.send(0, std::slice::from_ref(&f));
    let (b, c, d) = (l.tx(1), l.tx(2), l.tx(3));
    assert_eq!(
        b.len() + c.len() + d.len(),
        2,
        "the frame and one copy; no second copy"
    );
    let all = b.iter().chain(&c).chain(&d);
    assert!(all.into_iter().all(|x| *x == f), "never a partial frame");
    assert_eq!(l.graph.drops(DropReason::NoBufs), 1, "named: no_buffers");
    let (inn, out) = l.balance();
    assert_eq!(inn, out, "every frame accounted for");
    all_home(&l);
}
