//! Helpers for tests and benchmarks (cargo feature `testkit`, not in the daemon): a graph with
//! in-memory ports and a worker on the calling thread, plus frame builders.

use crate::buf::Pool;
use crate::dataplane::mem::{MemPort, MemPortCtl};
use crate::graph::{Graph, GraphConfig, Worker};
use crate::port::PortId;
use crate::wire::{EtherType, MacAddr};
use std::sync::Arc;

pub use crate::dataplane::mem::{eth, frame, mac};

/// A graph, `n` in-memory ports named `p0`…, and worker 0 on this thread.
pub struct Lab {
    pub graph: Graph,
    pub worker: Worker,
    pub ports: Vec<PortId>,
    pub ctls: Vec<Arc<MemPortCtl>>,
}

impl Lab {
    /// Ports `p0..p{n-1}` with MACs 02:00:00:00:ff:NN, autosrc off (as bridging needs).
    pub fn new(n: usize) -> Lab {
        Lab::with_config(
            n,
            GraphConfig {
                manual_clock: true,
                ..GraphConfig::default()
            },
            Pool::heap(if cfg!(miri) { 1024 } else { 8192 }, 2048, 256),
        )
    }

    pub fn with_config(n: usize, cfg: GraphConfig, pool: Pool) -> Lab {
        let mut graph = Graph::new(cfg, crate::nodes::builtin());
        let mut worker = graph.handle().worker(0, pool).expect("worker 0");
        let mut ports = Vec::new();
        let mut ctls = Vec::new();
        for i in 0..n {
            let ctl = Arc::new(MemPortCtl::new(
                &format!("p{i}"),
                100 + i as u32,
                mac(0xff00 + i as u64),
            ));
            let (_, port) = graph.attach_port(ctl.clone()).expect("attach");
            graph
                .msg(
                    &format!("p{i}:"),
                    "setautosrc",
                    Some(&crate::value::Value::Int(0)),
                )
                .unwrap();
            worker.add_port(Box::new(MemPort::new(port)));
            ports.push(port);
            ctls.push(ctl);
        }
        Lab {
            graph,
            worker,
            ports,
            ctls,
        }
    }

    /// Frames transmitted on port `i` since the last call.
    pub fn tx(&mut self, i: usize) -> Vec<Vec<u8>> {
        self.mem(i).take_tx()
    }

    /// Frames delivered to the host through port `i` since the last call.
    pub fn host(&mut self, i: usize) -> Vec<Vec<u8>> {
        self.mem(i).take_host_tx()
    }

    pub fn mem(&mut self, i: usize) -> &mut MemPort {
        let id = self.ports[i];
        self.worker
            .port_mut(id)
            .and_then(|p| p.as_any_mut().downcast_mut::<MemPort>())
            .expect("a MemPort")
    }

    /// Runs `frames` in from port `i`'s wire.
    pub fn send(&mut self, i: usize, frames: &[Vec<u8>]) {
        let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
        self.worker.inject(self.ports[i], &refs);
    }

    /// Frames in = frames out + drops, graph-wide (after every burst completes). A copy a
    /// node wanted (tee, hub, bridge flooding, one2many `all`) is a frame in whether it was
    /// made (`copies`) or not (a `no_buffers` drop, on the out side too).
    pub fn balance(&self) -> (u64, u64) {
        use crate::graph::{gstat, DropReason};
        let g = &self.graph;
        let wanted = g.stat(gstat::COPIES) + g.drops(DropReason::NoBufs);
        let inn = g.stat(gstat::RX) + g.stat(gstat::HOST_RX) + g.stat(gstat::NODE_RX) + wanted;
        let out =
            g.stat(gstat::TX) + g.stat(gstat::HOST_TX) + g.stat(gstat::NODE_TX) + g.total_drops();
        (inn, out)
    }
}

/// A 64-byte broadcast frame from host `s`.
pub fn bcast(s: u64) -> Vec<u8> {
    frame(MacAddr::BROADCAST, mac(s), EtherType::ARP, 64, 0)
}

/// An 802.1Q/802.1ad tagged frame.
pub fn tagged(d: u64, s: u64, tpid: u16, vid: u16, pcp: u8, cfi: u8) -> Vec<u8> {
    let mut f = eth(d, s);
    let tci = crate::wire::Tci::new(vid, pcp, cfi).unwrap().0;
    let mut tag = tpid.to_be_bytes().to_vec();
    tag.extend_from_slice(&tci.to_be_bytes());
    f.splice(12..12, tag);
    f
}

/// Whether `CI` says this is a CI run (set, and not "0" or "false").
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The running test's name (libtest names each test's thread after it).
pub fn this_test() -> String {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("a test")
        .to_string()
}

/// The running test cannot run here (`why`: what it needs). In CI (`CI` set; CI runs as root, so
/// nothing may be skipped there) this panics with the reason: the test fails. Elsewhere it
/// prints a SKIPPED line (uncaptured: it shows even when the test passes), and appends it to
/// the file `$XDPGRAPH_SKIPPED` names (which scripts/test.sh sums up at the end).
pub fn skip(why: &str) {
    let line = format!("SKIPPED {}: {why}", this_test());
    if in_ci() {
        panic!("{line}, and CI is set: CI must run every test (as root, with DPDK)");
    }
    use std::io::Write;
    // straight to the descriptor: libtest captures eprintln! of a passing test
    let _ = writeln!(std::io::stderr(), "\n*** {line} ***");
    if let Ok(path) = std::env::var("XDPGRAPH_SKIPPED") {
        let f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path);
        if let Ok(mut f) = f {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Whether this process is root, as the tests on veths, namespaces and XDP need; when not, the
/// running test is [`skip`]ped (which fails it in CI).
pub fn require_root() -> bool {
    if crate::sys::netdev::euid() == 0 {
        return true;
    }
    skip("needs root (veths, namespaces, XDP programs)");
    false
}
