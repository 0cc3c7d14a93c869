//! Concurrency stress: worker threads forward bursts while the management thread applies
//! thousands of random edits. Afterwards every frame is accounted for exactly and every node
//! and hook ever created has been freed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use xdpgraph::buf::Pool;
use xdpgraph::ctl::generic;
use xdpgraph::dataplane::mem::{MemPort, MemPortCtl};
use xdpgraph::graph::{gstat, Graph, GraphConfig, GraphError};
use xdpgraph::testkit::{bcast, eth, frame, mac, tagged};
use xdpgraph::value::Value;
use xdpgraph::wire::EtherType;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// The types `mkpeer` can make, from the registry.
fn user_types() -> Vec<&'static str> {
    let r = xdpgraph::nodes::builtin();
    let types = r.iter().map(|t| t.info);
    types
        .filter(|t| t.user_creatable() && !t.opens_resources())
        .map(|t| t.name)
        .collect()
}

fn hook_for(ty: &str, r: &mut Rng) -> String {
    match ty {
        "bridge" => {
            if r.below(4) == 0 {
                format!("uplink{}", 1 + r.below(3))
            } else {
                format!("link{}", r.below(8))
            }
        }
        "tee" => r
            .pick(&["left", "right", "left2right", "right2left"])
            .to_string(),
        "vlan" => r
            .pick(&["downstream", "nomatch", "f0", "f1", "f2"])
            .to_string(),
        "one2many" => r
            .pick(&["one", "many0", "many1", "many2", "many3"])
            .to_string(),
        "ether" => r.pick(&["lower", "upper", "orphans"]).to_string(),
        _ => format!("h{}", r.below(6)),
    }
}

fn random_msg(ty: &str, r: &mut Rng) -> Option<(&'static str, Option<Value>)> {
    let v = |s: &str| Some(Value::parse(s).unwrap());
    Some(match ty {
        "bridge" => match r.below(5) {
            0 => ("getstats", Some(Value::Int(r.below(8) as i64))),
            1 => ("gettable", None),
            2 => (
                "setconfig",
                v(&format!(
                    "{{ minStableAge={} loopTimeout={} }}",
                    r.below(2),
                    r.below(3)
                )),
            ),
            3 => ("reset", None),
            _ => ("setpersistent", None),
        },
        "vlan" => match r.below(4) {
            0 => (
                "addfilter",
                v(&format!(
                    "{{ hook=\"f{}\" vid={} pcp={} }}",
                    r.below(3),
                    10 * (1 + r.below(3)),
                    r.below(8)
                )),
            ),
            1 => ("delvidflt", Some(Value::Int(10 * (1 + r.below(3) as i64)))),
            2 => ("setdecap", Some(Value::Int(r.below(2) as i64))),
            _ => (
                "setencapproto",
                Some(Value::Int(*r.pick(&[0x8100, 0x88a8]))),
            ),
        },
        "one2many" => ("setconfig", v(&format!("{{ xmitAlg={} }}", 1 + r.below(3)))),
        "tee" => ("getclrstats", None),
        "hub" => ("setpersistent", None),
        "ether" => ("getifname", None),
        _ => return None,
    })
}

const WORKERS: usize = 2;
const PORTS: u32 = 4;
const EDITS: usize = 12_000;

/// A graph with `PORTS` in-memory interfaces.
fn graph() -> Graph {
    let cfg = GraphConfig {
        workers: WORKERS,
        ..Default::default()
    };
    let mut g = Graph::new(cfg, xdpgraph::nodes::builtin());
    for i in 0..PORTS {
        let ctl = Arc::new(MemPortCtl::new(&format!("p{i}"), i, mac(0xf000 + i as u64)));
        g.attach_port(ctl).unwrap();
        g.msg(&format!("p{i}:"), "setautosrc", Some(&Value::Int(0)))
            .unwrap();
    }
    g
}

/// Workers generating traffic on their ports until `stop`; each checks its pool at the end.
fn spawn_workers(g: &Graph, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    let templates: Vec<Vec<u8>> = vec![
        eth(2, 1),
        eth(1, 2),
        eth(3, 4),
        bcast(5),
        frame(
            "01:00:5e:00:00:01".parse().unwrap(),
            mac(6),
            EtherType::IPV4,
            100,
            0,
        ),
        tagged(1, 2, EtherType::VLAN, 10, 3, 0),
        tagged(1, 3, EtherType::QINQ, 20, 0, 0),
        eth(7, 8),
        vec![0xaa; 10], // runt
    ];
    (0..WORKERS)
        .map(|w| {
            let h = g.handle();
            let stop = stop.clone();
            let templates = templates.clone();
            std::thread::spawn(move || {
                let mut wk = h.worker(w, Pool::heap(8192, 2048, 256)).unwrap();
                for p in 0..PORTS {
                    if p as usize % WORKERS == w {
                        wk.add_port(Box::new(MemPort::generator(p, templates.clone(), u64::MAX)));
                    } else {
                        wk.add_port(Box::new(MemPort::sink(p)));
                    }
                }
                wk.run(&stop);
                let pool = wk.pool();
                assert_eq!(pool.double_frees(), 0);
                // Every frame is back in the pool once the worker is idle.
                assert_eq!(
                    pool.available(),
                    pool.capacity(),
                    "worker {w} leaked frames"
                );
            })
        })
        .collect()
}

/// One random edit (or message) on a random node; returns its kind and outcome.
fn random_edit(g: &mut Graph, r: &mut Rng, types: &[&str]) -> (usize, Result<(), GraphError>) {
    let nodes = g.list();
    let a = r.pick(&nodes).clone();
    let k = if nodes.len() > 60 { 3 } else { r.below(7) };
    let generic = |g: &Graph, cmd| generic::reply(g, &a.path(), cmd).unwrap().map(|_| ());
    let res = match k {
        0 | 1 => {
            let ty = *r.pick(types);
            let (h, ph) = (hook_for(a.ty, r), hook_for(ty, r));
            g.mkpeer(&a.path(), ty, &h, &ph).map(|_| ())
        }
        2 => {
            let b = r.pick(&nodes).clone();
            let (h, ph) = (hook_for(a.ty, r), hook_for(b.ty, r));
            g.connect(&a.path(), &b.path(), &h, &ph)
        }
        3 if a.ty != "socket" => g.shutdown(&a.path()),
        4 if !a.hooks.is_empty() => {
            let h = r.pick(&a.hooks).name.clone();
            g.rmhook(&a.path(), &h)
        }
        5 => match random_msg(a.ty, r) {
            Some((cmd, arg)) => g.msg(&a.path(), cmd, arg.as_ref()).map(|_| ()),
            None => generic(g, "nodeinfo"),
        },
        _ if a.ty != "ether" && a.ty != "socket" => g.name(&a.path(), &format!("n{}", r.below(20))),
        _ => generic(g, "listhooks"),
    };
    (k, res)
}

#[test]
fn random_edits_under_traffic_lose_nothing_and_leak_nothing() {
    let mut g = graph();
    let live = g.live_handle();
    let stop = Arc::new(AtomicBool::new(false));
    let workers = spawn_workers(&g, &stop);
    let types = user_types();
    let mut r = Rng(0x9e3779b97f4a7c15);
    let (mut ok, mut refused) = (0usize, 0usize);
    let mut kinds = [0usize; 7];
    for i in 0..EDITS {
        let (k, res) = random_edit(&mut g, &mut r, &types);
        kinds[k] += 1;
        match res {
            Ok(()) => ok += 1,
            Err(_) => refused += 1,
        }
        if i % 500 == 0 {
            g.tick();
        }
    }
    // Let traffic run a moment over the final topology too.
    std::thread::sleep(std::time::Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }

    let rx = g.stat(gstat::RX) + g.stat(gstat::HOST_RX);
    let copies = g.stat(gstat::COPIES);
    let out = g.stat(gstat::TX) + g.stat(gstat::HOST_TX);
    let drops = g.total_drops();
    eprintln!(
        "edits: {ok} applied, {refused} refused ({kinds:?}); frames: rx {rx} copies {copies} tx {out} drops {drops}; \
         nodes created {}, hooks created {}",
        live.nodes_created.load(Ordering::SeqCst),
        live.hooks_created.load(Ordering::SeqCst)
    );
    assert!(ok >= 5_000, "most edits applied: {ok}");
    assert!(rx > 100_000, "traffic flowed during the edits: {rx}");
    assert_eq!(
        rx + copies,
        out + drops,
        "every frame delivered or dropped with a reason"
    );
    assert!(live.nodes_created.load(Ordering::SeqCst) > 1_000);

    // Everything ever created is freed once the graph is gone.
    drop(g);
    assert_eq!(live.nodes_alive(), 0, "nodes leaked");
    assert_eq!(live.hooks_alive(), 0, "hooks leaked");
}
