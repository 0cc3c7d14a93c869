//! The graph model: addressing, names, edits and their errors, automatic shutdown, queries,
//! and frames in flight across edits.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use xdpgraph::buf::Pool;
use xdpgraph::ctl::{dot, generic, save};
use xdpgraph::dataplane::mem::{MemPort, MemPortCtl};
use xdpgraph::graph::{
    BurstBox, Create, Cx, DropReason, Graph, GraphConfig, GraphError, HookCx, HookError, HookSpec,
    NodeType, Slot, TypeInfo,
};
use xdpgraph::testkit::{bcast, eth, mac, Lab};
use xdpgraph::value::Value;

#[test]
fn addressing_by_name_id_and_hook_path() {
    let mut l = Lab::new(2);
    let g = &mut l.graph;
    let t = g.mkpeer("p0:", "tee", "lower", "left").unwrap();
    g.mkpeer(&format!("[{t:x}]:"), "hub", "right", "a").unwrap();
    assert_eq!(g.show("p0:lower").unwrap().ty, "tee");
    assert_eq!(g.show("p0:lower.right").unwrap().ty, "hub");
    assert_eq!(g.resolve(&format!("[{t:x}]:")).unwrap(), t);
    // connect's second path is relative to the first.
    g.connect("p0:lower", "right", "left2right", "b").unwrap();
    let hub = g.show("p0:lower.right").unwrap();
    assert_eq!(hub.hooks.len(), 2);
    for (p, want) in [
        ("nosuch:", "no such node \"nosuch:\""),
        ("[ff]:", "no such node \"[ff]:\""),
        ("p0:upper", "no hook \"upper\""),
        ("p0:lower.nope", "no hook \"nope\""),
        ("p0:a:b", "more than one ':'"),
    ] {
        let e = g.show(p).unwrap_err().to_string();
        assert!(e.contains(want), "{p}: {e}");
    }
}

#[test]
fn names_are_unique_checked_and_renamable() {
    let mut l = Lab::new(1);
    let g = &mut l.graph;
    g.mkpeer("p0:", "hub", "lower", "a").unwrap();
    g.name("p0:lower", "h").unwrap();
    assert!(matches!(g.name("p0:", "h"), Err(GraphError::NameInUse(_))));
    for bad in ["", "a.b", "a:b", "has space", &"x".repeat(32), "[12]"] {
        assert!(
            matches!(g.name("h:", bad), Err(GraphError::BadName(..))),
            "{bad:?}"
        );
    }
    g.name("h:", "h2").unwrap();
    assert!(g.show("h:").is_err(), "old name released");
    g.name("p0:", "h").unwrap(); // "h" is free again: the interface node takes it
    assert_eq!(g.show("h:").unwrap().ty, "ether");
    assert!(g.show("p0:").is_err());
    assert!(g.show("h2:").is_ok());
    g.name("h2:", &"x".repeat(31)).unwrap();
}

#[test]
fn failed_mkpeer_leaves_nothing_behind() {
    let mut l = Lab::new(1);
    let before = l.graph.live().nodes_alive();
    let e = l
        .graph
        .mkpeer("p0:", "nosuchtype", "lower", "x")
        .unwrap_err();
    assert!(
        e.to_string().contains("unknown node type \"nosuchtype\"")
            && e.to_string().contains("bridge"),
        "{e}"
    );
    let e = l
        .graph
        .mkpeer("p0:", "bridge", "lower", "bogus")
        .unwrap_err();
    assert!(matches!(e, GraphError::HookRefused { .. }));
    let e = l
        .graph
        .mkpeer("p0:", "bridge", "sideways", "link0")
        .unwrap_err();
    assert!(
        matches!(e, GraphError::HookRefused { ty: "ether", .. }),
        "{e}"
    );
    assert_eq!(l.graph.list().len(), 2);
    assert_eq!(l.graph.epoch().quiesce(8), 0);
    assert_eq!(
        l.graph.live().nodes_alive(),
        before,
        "refused nodes were freed"
    );
    l.graph.mkpeer("p0:", "hub", "lower", "x").unwrap();
    assert!(matches!(
        l.graph.mkpeer("p0:", "hub", "lower", "x"),
        Err(GraphError::HookExists { .. })
    ));
    assert!(matches!(
        l.graph.connect("p0:", "p0:lower", "upper", "x"),
        Err(GraphError::HookExists { .. })
    ));
    for bad in ["", "a.b", "a:b", &"h".repeat(32)] {
        assert!(
            matches!(
                l.graph.connect("p0:", "p0:lower", "upper", bad),
                Err(GraphError::BadHookName(..))
            ),
            "{bad:?}"
        );
    }
}

/// The errno of each refused edit is the one FreeBSD's ng_base.c returns (tests/sys/netgraph/
/// basic.c's same_name case among them).
#[test]
fn edit_errors_carry_netgraphs_errno() {
    let mut l = Lab::new(1);
    let g = &mut l.graph;
    g.mkpeer(".", "hub", "a", "a").unwrap();
    g.name(".:a", "test").unwrap();
    let errno = |r: Result<(), GraphError>| r.unwrap_err().errno().0;
    // A hook name the node already has: EEXIST (ng_add_hook), on either side.
    assert_eq!(errno(g.connect(".", ".", "a", "b")), libc::EEXIST);
    assert_eq!(errno(g.connect(".", "test:", "c", "a")), libc::EEXIST);
    assert_eq!(
        errno(g.mkpeer(".", "hub", "a", "x").map(|_| ())),
        libc::EEXIST
    );
    // A node connected to itself by one hook name: EEXIST (ng_con_nodes finds it).
    let e = g.connect(".", ".", "b", "b").unwrap_err();
    assert!(matches!(e, GraphError::HookToItself { .. }), "{e}");
    assert_eq!(e.errno(), xdpgraph::errno::Errno::EEXIST);
    // A name in use: EADDRINUSE; renaming a node to its own name is no change.
    assert_eq!(errno(g.name(".", "test")), libc::EADDRINUSE);
    g.name("test:", "test").unwrap();
    // An unknown type: ENXIO (ng_make_node); a type mkpeer cannot make: EINVAL.
    assert_eq!(
        errno(g.mkpeer(".", "nosuch", "x", "y").map(|_| ())),
        libc::ENXIO
    );
    for (ty, why) in [
        ("ether", "each attached interface has one"),
        ("socket", "only one"),
    ] {
        let e = g.mkpeer(".", ty, "x", "y").unwrap_err();
        assert!(matches!(e, GraphError::NotCreatable { .. }), "{e}");
        assert!(e.to_string().contains(why), "{e}");
        assert_eq!(e.errno(), xdpgraph::errno::Errno::EINVAL);
    }
    // No such node or hook: ENOENT; a malformed path or a refused hook: EINVAL.
    assert_eq!(errno(g.shutdown("nosuch:")), libc::ENOENT);
    assert_eq!(errno(g.rmhook(".", "nosuch")), libc::ENOENT);
    assert_eq!(errno(g.shutdown("a:b:c")), libc::EINVAL);
    assert_eq!(
        errno(g.mkpeer(".", "tee", "t", "middle").map(|_| ())),
        libc::EINVAL
    );
    assert_eq!(g.list().len(), 3, "nothing half-made is left");
}

#[test]
fn nodes_without_hooks_go_away_in_a_cascade() {
    let mut l = Lab::new(1);
    let g = &mut l.graph;
    // p0 - hub a - tee b - hub c
    g.mkpeer("p0:", "hub", "lower", "x").unwrap();
    g.name("p0:lower", "a").unwrap();
    g.mkpeer("a:", "tee", "y", "left").unwrap();
    g.name("a:y", "b").unwrap();
    g.mkpeer("b:", "hub", "right", "z").unwrap();
    g.name("b:right", "c").unwrap();
    assert_eq!(g.list().len(), 5);
    g.shutdown("b:").unwrap(); // tee splices a.y to c.z
    assert_eq!(
        g.show("a:").unwrap().hooks[1].peer_name.as_deref(),
        Some("c")
    );
    g.rmhook("p0:", "lower").unwrap(); // a keeps y; still alive
    assert!(g.show("a:").is_ok());
    g.rmhook("a:", "y").unwrap(); // a and c lose their last hooks
    assert!(g.show("a:").is_err() && g.show("c:").is_err());
    assert_eq!(g.list().len(), 2, "only . and p0 remain");
    assert!(matches!(g.shutdown("."), Err(GraphError::Refused(_))));
    assert_eq!(g.epoch().quiesce(8), 0);
    assert_eq!(g.live().nodes_alive(), 2);
    assert_eq!(g.live().hooks_alive(), 0);
}

#[test]
fn queries_list_show_types_dot_and_generic_messages() {
    let mut l = Lab::new(2);
    let g = &mut l.graph;
    g.mkpeer("p0:", "bridge", "lower", "link0").unwrap();
    g.name("p0:lower", "br0").unwrap();
    g.connect("p1:", "br0:", "lower", "link1").unwrap();
    let list = g.list();
    assert_eq!(
        list.iter().map(|n| n.ty).collect::<Vec<_>>(),
        vec!["socket", "ether", "ether", "bridge"]
    );
    let br = g.show("br0:").unwrap();
    assert_eq!(br.path(), "br0:");
    assert_eq!(
        br.hooks
            .iter()
            .map(|h| (
                h.name.as_str(),
                h.peer_name.as_deref().unwrap(),
                h.peer_hook.as_str()
            ))
            .collect::<Vec<_>>(),
        vec![("link0", "p0", "lower"), ("link1", "p1", "lower")]
    );
    let types = g.types();
    assert!(
        types.contains(&("bridge", 1))
            && types.contains(&("ether", 2))
            && types.contains(&("hub", 0))
    );
    let dot = dot::dot(g, false);
    assert!(dot.starts_with("graph xdpgraph {"), "{dot}");
    for want in [
        "\"4\" [label=\"br0|bridge|[4]:\"];",
        "\"2\" [label=\"p0|ether|[2]:\"];",
        "\"2\" -- \"2.lower\";",
        "\"4\" -- \"4.link0\";",
        "\"2.lower\" -- \"4.link0\" [weight=2.0];",
        "\"3.lower\" -- \"4.link1\" [weight=2.0];",
        "\"4.link1\" [label=\"link1\"];",
    ] {
        assert!(dot.contains(want), "{want} not in {dot}");
    }
    // each hook pair is one edge; the unconnected socket node sits in its own cluster
    assert_eq!(dot.matches("[weight=2.0]").count(), 2);
    let cluster = &dot[dot.find("subgraph cluster_disconnected").unwrap()..];
    assert!(cluster[..cluster.find('}').unwrap()].contains("\\<unnamed\\>|socket|[1]:"));
    assert!(!dot.contains(" in 0 out 0") && !dot.contains("\\nin "));
    let info = generic::reply(g, "br0:", "nodeinfo").unwrap().unwrap();
    // with counters: frames in and out of each hook, drops of each node
    let _ = g;
    l.send(0, &[eth(2, 1), eth(0xffff_ffff_ffff, 1), eth(1, 3)]);
    let dot = dot::dot(&l.graph, true);
    assert!(
        dot.contains("\"4.link0\" [label=\"link0\\nin 3 out 0\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("\"4.link1\" [label=\"link1\\nin 0 out 2\"];"),
        "{dot}"
    );
    assert!(dot.contains("br0|bridge|[4]:|drops 1"), "{dot}");
    let g = &mut l.graph;
    assert_eq!(info.field("type").unwrap().as_str(), Some("bridge"));
    let hooks = generic::reply(g, "br0:", "listhooks").unwrap().unwrap();
    let Some(Value::Array(hl)) = hooks.field("hooklist") else {
        panic!()
    };
    assert_eq!(hl.len(), 2);
    let nodes = generic::reply(g, ".", "listnodes").unwrap().unwrap();
    assert_eq!(nodes.field("numnames").unwrap().as_i128(), Some(4));
    let save = save::save(g);
    assert!(
        save.contains("mkpeer p0: bridge lower link0\nname p0:lower br0\nconnect"),
        "{save}"
    );
}

#[test]
fn node_state_survives_unrelated_edits() {
    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "bridge", "lower", "link0").unwrap();
    l.graph.name("p0:lower", "br0").unwrap();
    l.graph.connect("p1:", "br0:", "lower", "link1").unwrap();
    l.send(0, &[eth(9, 1)]);
    l.send(1, &[eth(9, 2)]);
    for i in 2..50 {
        l.graph
            .mkpeer("br0:", "hole", &format!("link{i}"), "x")
            .unwrap();
        l.graph.rmhook("br0:", &format!("link{i}")).unwrap();
    }
    l.tx(1);
    l.send(0, &[eth(2, 1)]);
    assert_eq!(l.tx(1).len(), 1, "host 2 still known after 96 edits");
    let s = l
        .graph
        .msg("br0:", "getstats", Some(&Value::Int(0)))
        .unwrap()
        .unwrap();
    assert_eq!(s.field("recvPackets").unwrap().as_i128(), Some(2));
}

#[test]
fn a_cycle_is_bounded_by_the_hop_limit() {
    let mut l = Lab::with_config(
        1,
        GraphConfig {
            hop_limit: 16,
            manual_clock: true,
            ..Default::default()
        },
        Pool::heap(4096, 2048, 256),
    );
    // p0 - hub a, with a second loop a.l1 - b.l1, a.l2 - b.l2: every frame circulates.
    l.graph.mkpeer("p0:", "hub", "lower", "in").unwrap();
    l.graph.name("p0:lower", "a").unwrap();
    l.graph.mkpeer("a:", "echo", "e", "x").unwrap();
    l.send(0, &[bcast(1)]);
    assert!(
        l.graph.drops(DropReason::HopLimit) == 0,
        "echo on a hub with two hooks: bounded by design"
    );
    l.graph.shutdown("a:e").unwrap();
    l.graph.mkpeer("a:", "hub", "l1", "l1").unwrap();
    l.graph.name("a:l1", "b").unwrap();
    l.graph.connect("a:", "b:", "l2", "l2").unwrap();
    let t = Instant::now();
    l.send(0, &[bcast(1)]);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(l.graph.drops(DropReason::HopLimit) > 0);
    let (i, o) = l.balance();
    assert_eq!(i, o);
    assert_eq!(
        l.worker.pool().available(),
        l.worker.pool().capacity(),
        "no frame leaked"
    );
}

// ----- frames in flight across edits ----------------------------------------------------------

static SERIAL: Mutex<()> = Mutex::new(());
static ENTERED: AtomicBool = AtomicBool::new(false);
static RELEASE: AtomicBool = AtomicBool::new(false);
static LEFT: AtomicBool = AtomicBool::new(false);

/// Holds a burst inside its `rcv` (so inside the worker's epoch guard) until released.
struct Gate;

static GATE: TypeInfo = TypeInfo {
    name: "gate",
    summary: "holds a burst until released",
    hooks: "in, out",
    messages: &[],
    hook_counters: &[],
    drop_reasons: &[],
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|_| Box::new(Gate)),
};

impl NodeType for Gate {
    fn new_hook(&self, name: &str, _cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        match name {
            "in" => Ok(HookSpec { slot: 0, tag: 0 }),
            "out" => Ok(HookSpec { slot: 1, tag: 0 }),
            _ => Err("in or out".into()),
        }
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        ENTERED.store(true, SeqCst);
        while !RELEASE.load(SeqCst) {
            std::thread::yield_now();
        }
        LEFT.store(true, SeqCst);
        cx.forward(if slot == 0 { 1 } else { 0 }, frames);
    }
}

/// p0 - gate.in, gate.out - <what `setup` builds>; one frame injected on a worker thread;
/// `edit` runs while the frame is held inside the gate.
fn in_flight(setup: impl FnOnce(&mut Graph), edit: impl FnOnce(&mut Graph)) -> (Graph, usize) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ENTERED.store(false, SeqCst);
    RELEASE.store(false, SeqCst);
    LEFT.store(false, SeqCst);
    let mut g = Graph::new(GraphConfig::default(), xdpgraph::nodes::builtin());
    g.register_type(&GATE).unwrap();
    let mut ids = Vec::new();
    for i in 0..2 {
        let ctl = std::sync::Arc::new(MemPortCtl::new(&format!("p{i}"), i, mac(0xf0 + i as u64)));
        ids.push(g.attach_port(ctl).unwrap().1);
        g.msg(&format!("p{i}:"), "setautosrc", Some(&Value::Int(0)))
            .unwrap();
    }
    g.mkpeer("p0:", "gate", "lower", "in").unwrap();
    g.name("p0:lower", "gate").unwrap();
    setup(&mut g);
    let h = g.handle();
    let w = std::thread::spawn(move || {
        let mut w = h.worker(0, Pool::heap(256, 2048, 256)).unwrap();
        for id in ids {
            w.add_port(Box::new(MemPort::new(id)));
        }
        let refs: [&[u8]; 1] = [&eth(2, 1)];
        w.inject(0, &refs);
        let got = w
            .port(1)
            .unwrap()
            .as_any()
            .downcast_ref::<MemPort>()
            .unwrap()
            .tx
            .len();
        assert_eq!(w.pool().available(), w.pool().capacity(), "no frame leaked");
        got
    });
    let t = Instant::now();
    while !ENTERED.load(SeqCst) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "worker never reached the gate"
        );
        std::thread::yield_now();
    }
    let retired = g.epoch().stats().retired;
    edit(&mut g);
    // The edit returned while the worker is still inside its burst (edits never wait for
    // workers), and what it replaced cannot be freed while the worker holds the epoch.
    assert!(!LEFT.load(SeqCst), "the edit waited for the worker's burst");
    assert!(
        g.epoch().stats().retired > retired,
        "the edit retired the old topology"
    );
    assert!(
        g.epoch().quiesce(16) > 0,
        "the old topology was freed under a worker still using it"
    );
    RELEASE.store(true, SeqCst);
    let got = w.join().unwrap();
    (g, got)
}

#[test]
fn hook_removed_while_a_frame_is_in_flight_is_a_counted_drop() {
    let (g, got) = in_flight(
        |g| g.connect("gate:", "p1:", "out", "lower").unwrap(),
        |g| g.rmhook("gate:", "out").unwrap(),
    );
    assert_eq!(got, 0);
    assert_eq!(g.drops(DropReason::HookGone), 1);
    assert_eq!(
        g.epoch().quiesce(16),
        0,
        "the removed hooks are reclaimed once the worker left"
    );
    assert_eq!(
        g.live().hooks_alive(),
        2,
        "only p0.lower and gate.in remain"
    );
}

#[test]
fn node_shut_down_under_traffic_is_safe() {
    let (g, got) = in_flight(
        |g| {
            g.mkpeer("gate:", "hub", "out", "a").unwrap();
            g.name("gate:out", "h").unwrap();
            g.connect("h:", "p1:", "b", "lower").unwrap();
        },
        |g| g.shutdown("h:").unwrap(),
    );
    assert_eq!(got, 0);
    // The gate's out hook died with the hub, so the frame stops there.
    assert_eq!(
        g.drops(DropReason::HookGone) + g.drops(DropReason::NodeGone),
        1
    );
    assert_eq!(g.epoch().quiesce(16), 0);
}

#[test]
fn a_hook_added_in_flight_is_seen_by_the_next_burst_only() {
    let (g, got) = in_flight(
        |_| {},
        |g| g.connect("gate:", "p1:", "out", "lower").unwrap(),
    );
    // The burst pinned the old topology, where gate.out was not connected.
    assert_eq!(got, 0);
    assert_eq!(g.drops(DropReason::NotConnected), 1);
}

/// A port's host side (its TAP) is read every loop while it delivers; after an empty read, at
/// most `HOST_EVERY` (16) loops later, and at once after an idle wait (`Worker::woken`).
#[test]
fn host_side_is_read_within_sixteen_loops_and_at_once_when_woken() {
    let mut g = Graph::new(GraphConfig::default(), xdpgraph::nodes::builtin());
    let ctl = std::sync::Arc::new(MemPortCtl::new("p0", 0, mac(0xf0)));
    let id = g.attach_port(ctl).unwrap().1;
    let mut w = g.handle().worker(0, Pool::heap(256, 2048, 256)).unwrap();
    w.add_port(Box::new(MemPort::new(id)));
    let queued = |w: &mut xdpgraph::graph::Worker| {
        let p = w.port_mut(id).unwrap().as_any_mut();
        p.downcast_mut::<MemPort>().unwrap().host_rx.len()
    };
    let push = |w: &mut xdpgraph::graph::Worker| {
        let p = w.port_mut(id).unwrap().as_any_mut();
        let m = p.downcast_mut::<MemPort>().unwrap();
        m.host_rx.push_back(eth(2, 1));
    };
    assert_eq!(w.poll(), 0, "nothing anywhere: the host side read empty");
    push(&mut w);
    let mut loops = 0;
    while queued(&mut w) > 0 {
        w.poll();
        loops += 1;
        assert!(loops <= 17, "the host side was not read within 17 loops");
    }
    assert!(
        loops > 1,
        "read on the very next loop: the empty read set no skip"
    );
    assert_eq!(w.poll(), 0);
    push(&mut w);
    w.woken();
    w.poll();
    assert_eq!(queued(&mut w), 0, "not read at once after an idle wait");
}
