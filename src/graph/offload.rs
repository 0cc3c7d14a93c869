//! What the graph can hand to a kernel fast path (the XDP program, `dataplane::afxdp::fastpath`)
//! and take back from it, in graph terms only (nodes, hooks, ports): no BPF here.
//!
//! A node type opts in through [`NodeType::offload`]:
//! * a learning switch ([`L2Offload`], the bridge) says which of its links may take the fast
//!   path now and which hosts it has learned on them, takes the fast path's "host seen" back
//!   for ageing, and counts the frames the fast path forwarded in its own per-link counters;
//! * an interface node ([`PortOffload`], ether) says how a frame written to its `lower` hook
//!   is rewritten (autosrc).
//!
//! [`Graph::fast_path_plan`] walks the graph and answers with the links whose bridge hook is
//! joined directly to an interface's `lower` hook (nothing in between), and the hosts learned
//! on them, leaving out any link with a capture on either of its hooks while the capture runs
//! (frames the kernel forwards never reach a worker, so they would be missing from it).
//! [`Graph::fast_path_counted`] adds what the fast path forwarded to the hooks'
//! counters, so that every counter (`getstats`, `ctl stats`, `dot -c`, Prometheus) includes it.

use super::node::{hook_stat, HookState, MsgCx, NodeCore, Slot};
use super::{Graph, NodeId};
use crate::port::PortId;
use crate::wire::MacAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The hook an interface node's frames from the wire leave by when it takes part.
pub const PORT_HOOK: &str = "lower";

/// What a node type offers to a fast path.
pub enum Offload<'a> {
    L2(&'a dyn L2Offload),
    Port(&'a dyn PortOffload),
}

/// A learning switch whose known-unicast forwarding a fast path may do.
pub trait L2Offload {
    /// Whether frames received on `link`, and frames forwarded to it, may take the fast path
    /// now (a normal link of an unrestricted bridge, not muted after a loop).
    fn offload_link(&self, cx: &MsgCx<'_>, link: &HookState) -> bool;
    /// The hosts learned on live links: (MAC, the link's slot).
    fn offload_hosts(&self, cx: &MsgCx<'_>, out: &mut Vec<(u64, Slot)>);
    /// The fast path forwarded frames from host `mac` (seen at graph second `cx.now`).
    fn offload_seen(&self, cx: &MsgCx<'_>, mac: u64);
    /// Adds frames the fast path forwarded to the type's own counters of `link`: received on
    /// it (`rx`) and sent out of it (`tx`), as (frames, octets). The generic hook counters are
    /// the graph's ([`Graph::fast_path_counted`]).
    fn offload_counted(&self, link: &HookState, rx: (u64, u64), tx: (u64, u64));
}

/// An interface node.
pub trait PortOffload {
    /// The source MAC that frames written to [`PORT_HOOK`] get (autosrc), if they get one.
    fn tx_source(&self) -> Option<MacAddr>;
    /// The node's port and the slot of its [`PORT_HOOK`]: frames from the wire leave by it
    /// when it is connected, frames written to it go to the wire (rewritten as
    /// [`PortOffload::tx_source`] says). A worker uses this for a direct cross-connect
    /// (`graph::worker`: two such hooks joined, the frames handed port to port).
    fn port_lower(&self) -> (PortId, Slot);
    /// Whether the node's interface is up (frames written to it are dropped if not).
    fn port_up(&self) -> bool;
}

/// A bridge link that the fast path may use.
#[derive(Clone)]
pub struct PlanLink {
    pub bridge: NodeId,
    /// The bridge hook's unique ID, low 32 bits (the fast path's link number).
    pub link_id: u32,
    pub port: PortId,
    /// Frames written to the interface get this source MAC.
    pub autosrc: Option<MacAddr>,
    pub bridge_hook: Arc<HookState>,
    pub port_hook: Arc<HookState>,
    /// The bridge, for its own counters.
    pub bridge_core: Arc<NodeCore>,
}

/// A host the bridge has learned on a fast-path link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanHost {
    pub bridge: NodeId,
    pub mac: u64,
    pub link_id: u32,
}

/// What a fast path may do now.
#[derive(Default, Clone)]
pub struct FastPathPlan {
    pub links: Vec<PlanLink>,
    pub hosts: Vec<PlanHost>,
}

/// A hook's fast-path number.
pub fn link_id(h: &HookState) -> u32 {
    h.uid as u32
}

impl Graph {
    fn offload_of(&self, id: NodeId) -> Option<Offload<'_>> {
        self.nodes.get(&id)?.core.imp.offload()
    }

    /// The links and hosts a fast path may use now (see the module's documentation).
    pub fn fast_path_plan(&mut self) -> FastPathPlan {
        let mut plan = FastPathPlan::default();
        let bridges: Vec<NodeId> = (self.nodes.iter())
            .filter(|(_, n)| matches!(n.core.imp.offload(), Some(Offload::L2(_))))
            .map(|(id, _)| *id)
            .collect();
        for b in bridges {
            let links = self.plan_links(b);
            if links.is_empty() {
                continue;
            }
            let mut hosts = Vec::new();
            self.with_node(b, |t, cx| {
                if let Some(Offload::L2(l2)) = t.offload() {
                    l2.offload_hosts(cx, &mut hosts);
                }
            });
            for (mac, slot) in hosts {
                if let Some(l) = links.iter().find(|l| l.bridge_hook.slot == slot) {
                    plan.hosts.push(PlanHost {
                        bridge: b,
                        mac,
                        link_id: l.link_id,
                    });
                }
            }
            plan.links.extend(links);
        }
        plan
    }

    /// Bridge `b`'s links that may take the fast path: joined to an interface's `lower`.
    fn plan_links(&mut self, b: NodeId) -> Vec<PlanLink> {
        let hooks: Vec<_> = self.nodes[&b].hooks.values().cloned().collect();
        let core = Arc::clone(&self.nodes[&b].core);
        let mut out = Vec::new();
        for h in hooks {
            let Some((port, port_hook, autosrc)) = self.port_end(h.peer_node, &h.peer_hook) else {
                continue;
            };
            // frames in the kernel fast path never reach a worker: a captured link stays out
            if self.is_captured(h.state.uid) || self.is_captured(port_hook.uid) {
                continue;
            }
            let ok = self.with_node(b, |t, cx| match t.offload() {
                Some(Offload::L2(l2)) => l2.offload_link(cx, &h.state),
                _ => false,
            });
            if ok && h.state.is_alive() {
                out.push(PlanLink {
                    bridge: b,
                    link_id: link_id(&h.state),
                    port,
                    autosrc,
                    bridge_hook: Arc::clone(&h.state),
                    port_hook,
                    bridge_core: Arc::clone(&core),
                });
            }
        }
        out
    }

    /// The interface end of a bridge hook: its port, its `lower` hook, its autosrc.
    fn port_end(
        &self,
        peer: NodeId,
        peer_hook: &str,
    ) -> Option<(PortId, Arc<HookState>, Option<MacAddr>)> {
        let n = self.nodes.get(&peer)?;
        let port = n.port.filter(|_| peer_hook == PORT_HOOK)?;
        let Some(Offload::Port(p)) = self.offload_of(peer) else {
            return None;
        };
        let hook = Arc::clone(&n.hooks.get(PORT_HOOK)?.state);
        Some((port, hook, p.tx_source()))
    }

    /// Hosts of bridge `b` the fast path saw as sources since it last looked: refreshed in
    /// the bridge's table (at graph time now), so that they do not age out.
    pub fn fast_path_seen(&mut self, b: NodeId, macs: &[u64]) {
        if macs.is_empty() || !self.nodes.contains_key(&b) {
            return;
        }
        self.with_node(b, |t, cx| {
            if let Some(Offload::L2(l2)) = t.offload() {
                for m in macs {
                    l2.offload_seen(cx, *m);
                }
            }
        });
    }
}

/// Adds what the fast path forwarded through `link` to the hooks' counters: `rx` frames
/// received from its interface (out of the interface node's `lower`, into the bridge) and `tx`
/// frames sent to it (out of the bridge, into `lower`), as (frames, octets).
pub fn fast_path_counted(link: &PlanLink, rx: (u64, u64), tx: (u64, u64)) {
    let (b, p) = (&link.bridge_hook, &link.port_hook);
    let add = |h: &HookState, i: usize, v: u64| {
        if v > 0 {
            h.stats.add_offloaded(i, v);
        }
    };
    add(p, hook_stat::OUT_FRAMES, rx.0);
    add(p, hook_stat::OUT_OCTETS, rx.1);
    add(b, hook_stat::IN_FRAMES, rx.0);
    add(b, hook_stat::IN_OCTETS, rx.1);
    add(b, hook_stat::OUT_FRAMES, tx.0);
    add(b, hook_stat::OUT_OCTETS, tx.1);
    add(p, hook_stat::IN_FRAMES, tx.0);
    add(p, hook_stat::IN_OCTETS, tx.1);
    for h in [b, p] {
        h.fast_path.fetch_add(rx.0 + tx.0, Relaxed);
    }
    if let Some(Offload::L2(l2)) = link.bridge_core.imp.offload() {
        l2.offload_counted(b, rx, tx);
    }
}

#[cfg(test)]
mod tests {
    use crate::dataplane::mem::{mac, MemPortCtl};
    use crate::graph::capture::Dirs;
    use crate::graph::{Graph, GraphConfig};
    use crate::value::Value;
    use std::sync::Arc;

    /// Links in the plan, by bridge hook name, and the hosts on them.
    fn plan(g: &mut Graph) -> (Vec<String>, usize) {
        let p = g.fast_path_plan();
        let mut links: Vec<String> = p.links.iter().map(|l| l.bridge_hook.name.clone()).collect();
        links.sort();
        (links, p.hosts.len())
    }

    #[test]
    fn a_captured_link_leaves_the_fast_path_while_the_capture_runs() {
        let mut g = Graph::new(GraphConfig::default(), crate::nodes::builtin());
        for i in 0..2 {
            let ctl = Arc::new(MemPortCtl::new(
                &format!("m{i}"),
                10 + i,
                mac(0x100 + i as u64),
            ));
            g.attach_port(ctl).unwrap();
        }
        g.mkpeer("m0:", "bridge", "lower", "link0").unwrap();
        g.name("m0:lower", "br0").unwrap();
        g.connect("m1:", "br0:", "lower", "link1").unwrap();
        for (host, link) in [(1, "link0"), (2, "link1")] {
            let v = Value::parse(&format!("{{ addr={} hook=\"{link}\" }}", mac(host))).unwrap();
            g.msg("br0:", "movehost", Some(&v)).unwrap();
        }
        let both = (vec!["link0".to_string(), "link1".to_string()], 2);
        assert_eq!(plan(&mut g), both);
        // on the bridge's hook, in any direction: that link goes, with its host
        let c = g.capture_start("br0:", "link1", Dirs::IN, 100).unwrap();
        assert_eq!(plan(&mut g), (vec!["link0".to_string()], 1));
        // on the interface's end of the other link
        let d = g.capture_start("m0:", "lower", Dirs::OUT, 100).unwrap();
        assert_eq!(plan(&mut g), (vec![], 0));
        assert!(g.capture_stop(&c));
        assert_eq!(plan(&mut g), (vec!["link1".to_string()], 1));
        assert!(g.capture_stop(&d));
        assert!(!g.capture_stop(&d), "stopped once");
        assert_eq!(plan(&mut g), both);
    }
}
