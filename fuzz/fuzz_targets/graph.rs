//! A graph (ether -> vlan -> bridge -> tee -> ether, with a hole and a second bridge port) fed
//! arbitrary frames on every port, interleaved with arbitrary edits from a list of the kinds
//! `ctl -f` scripts make (rmhook, connect, shutdown, mkpeer, name, msg), ticks and clock
//! steps. Nothing may panic, and at the end each frame that entered the graph left it
//! or was counted as a named drop (`Lab::balance`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpgraph::buf::Pool;
use xdpgraph::ctl::exec::execute;
use xdpgraph::graph::GraphConfig;
use xdpgraph::testkit::Lab;

const SETUP: &[&str] = &[
    "mkpeer p0: vlan lower downstream",
    "name p0:lower v0",
    "mkpeer v0: bridge vl1 link0",
    "msg v0: addfilter { hook=\"vl1\" vid=1 }",
    "name v0:vl1 br0",
    "connect p1: br0: lower link1",
    "mkpeer br0: tee link2 left",
    "name br0:link2 t0",
    "connect t0: p2: right lower",
    "mkpeer t0: hole left2right x",
];

const EDITS: &[&str] = &[
    "rmhook br0: link1",
    "connect p1: br0: lower link1",
    "shutdown t0:",
    "mkpeer br0: tee link2 left",
    "name br0:link2 t0",
    "connect t0: p2: right lower",
    "msg br0: reset",
    "msg br0: setconfig { minStableAge=0 loopTimeout=1 }",
    "msg br0: setpersistent",
    "msg v0: delfilter \"vl1\"",
    "msg v0: addfilter { hook=\"vl1\" vid=1 }",
    "msg v0: setencap 1",
    "mkpeer br0: hub link3 a",
    "connect br0: br0: link4 link5",
    "shutdown br0:",
    "rmhook p0: lower",
    "mkpeer p0: bridge lower link0",
    "name p0:lower br0",
    "mkpeer p2: one2many lower one",
    "msg p1: setautosrc 1",
    "mkpeer t0: echo right2left e",
    "shutdown v0:",
];

fuzz_target!(|data: &[u8]| {
    let mut l = Lab::with_config(
        3,
        GraphConfig {
            manual_clock: true,
            ..GraphConfig::default()
        },
        Pool::heap(256, 2048, 256),
    );
    for line in SETUP {
        assert!(execute(&mut l.graph, line).ok, "{line}");
    }
    let mut d = data;
    let mut now = 0;
    while let [op, rest @ ..] = d {
        d = rest;
        match op % 8 {
            0..=3 => {
                let [len, rest @ ..] = d else { break };
                let n = (*len as usize).min(rest.len());
                let (frame, rest) = rest.split_at(n);
                d = rest;
                l.send((*op as usize / 8) % 3, &[frame.to_vec()]);
            }
            4 | 5 => {
                let [i, rest @ ..] = d else { break };
                d = rest;
                let _ = execute(&mut l.graph, EDITS[*i as usize % EDITS.len()]);
            }
            6 => {
                now += 1 + (*op as u32 / 8);
                l.graph.set_time(now);
                l.graph.tick();
            }
            _ => {
                for i in 0..3 {
                    let _ = l.tx(i);
                    let _ = l.host(i);
                }
            }
        }
    }
    let (inn, out) = l.balance();
    assert_eq!(inn, out, "frames in = frames out + named drops");
});
