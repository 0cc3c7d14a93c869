//! Direct cross-connects: two interface nodes whose [`PORT_HOOK`]s are joined to each other
//! (`connect a: b: lower lower`) with nothing between them pass every frame from one port to
//! the other unchanged. When both ports can do it ([`Port::can_forward`]: DPDK devices of this
//! worker), the worker hands a received burst from one to the other as it is (DPDK: the mbufs,
//! as testpmd's io forwarding does) instead of making frames of it, running it through the two
//! nodes and making mbufs of it again.
//!
//! Checked on every burst against the snapshot of that burst, so an edit, a capture started on
//! either hook, autosrc switched on, or the interface going down takes effect at the next
//! burst: the frames then take the graph's way. The counters are the graph's: the hooks'
//! frames and octets, the worker's received, transmitted and bursts, and frames the other
//! port's TX ring refused as `TxFull` drops of its node. A burst holding a frame the nodes
//! would not pass on as it is (a runt, one over the MTU, a VLAN tag the device stripped) takes
//! the graph's way whole ([`Port::forward`]).
//!
//! [`PORT_HOOK`]: crate::graph::offload::PORT_HOOK
//! [`Port::can_forward`]: crate::port::Port::can_forward
//! [`Port::forward`]: crate::port::Port::forward

use super::{count_drop, LocalPort, Ports, Worker};
use crate::graph::node::hook_stat;
use crate::graph::offload::Offload;
use crate::graph::snapshot::{SnapHook, SnapNode, Snapshot};
use crate::graph::{gstat, DropReason, Shared, Topo, SLOT_WIRE};

/// Where port `i`'s frames go when they may go directly.
struct Peer<'s> {
    /// The other port's index in this worker's list.
    j: usize,
    /// The receiving node's hook the frames leave by.
    hook: &'s SnapHook,
    /// The transmitting node.
    to: &'s SnapNode,
}

/// The direct way for frames received on port `i`, if the graph would pass them to another
/// port of this worker unchanged: its node's port hook joined to another interface node's port
/// hook, both alive, no capture on the crossing, no source rewrite on the way out, that
/// interface up and nothing staged on it (order).
fn peer<'s>(snap: &'s Snapshot, ports: &Ports, i: usize) -> Option<Peer<'s>> {
    let a = snap.node(snap.port_node(ports.list[i].id))?;
    let Some(Offload::Port(pa)) = a.core.imp.offload() else {
        return None;
    };
    let hook = a.hooks.get(pa.port_lower().1 as usize)?.as_ref()?;
    if !a.core.is_alive() || !hook.state.is_alive() || hook.taps.is_some() {
        return None;
    }
    let to = snap.node(hook.peer_node)?;
    let Some(Offload::Port(pb)) = to.core.imp.offload() else {
        return None;
    };
    let (port, slot) = pb.port_lower();
    if slot != hook.peer_slot || !to.core.is_alive() || pb.tx_source().is_some() || !pb.port_up() {
        return None;
    }
    let j = ports.local(port)?;
    (j != i && ports.list[j].tx.is_empty()).then_some(Peer { j, hook, to })
}

/// Entries `i` and `j` (different) of `list`, both mutable.
fn pair(list: &mut [LocalPort], i: usize, j: usize) -> (&mut LocalPort, &mut LocalPort) {
    if i < j {
        let (lo, hi) = list.split_at_mut(j);
        (&mut lo[i], &mut hi[0])
    } else {
        let (lo, hi) = list.split_at_mut(i);
        (&mut hi[0], &mut lo[j])
    }
}

impl Worker {
    /// A direct cross-connect burst from port `i`: the frames handed on (or, when the burst had
    /// to take the graph's way after all, those run through it). `None`, with nothing
    /// received, when port `i`'s frames must take the graph's way.
    pub(super) fn rx_direct(&mut self, i: usize) -> Option<usize> {
        if !self.core.ports.list[i].port.can_forward() {
            return None;
        }
        let sh: &Shared = &self.sh;
        let Topo::Epoch(cell) = &sh.topo else {
            return None;
        };
        let guard = self.part.pin();
        let snap = cell.load(&guard);
        let c = &mut self.core;
        let p = peer(snap, &c.ports, i)?;
        let mut b = c.outs.take()?;
        let (src, dst) = pair(&mut c.ports.list, i, p.j);
        let Some(f) = src.port.forward(&mut *dst.port, &mut b) else {
            c.outs.give(b);
            return None;
        };
        if !b.is_empty() {
            let (port, n) = (src.id, b.len());
            drop(guard);
            self.run_burst(port, SLOT_WIRE, b);
            return Some(n);
        }
        c.outs.give(b);
        if f.frames == 0 {
            return Some(0);
        }
        let w = c.id;
        sh.stats.add(w, gstat::RX, f.frames);
        sh.stats.add(w, gstat::BURSTS, 1);
        sh.stats.add(w, gstat::TX, f.sent);
        let out = &p.hook.state.stats;
        out.add(w, hook_stat::OUT_FRAMES, f.frames);
        out.add(w, hook_stat::OUT_OCTETS, f.octets);
        if let Some(h) = snap.hook(p.hook.peer_node, p.hook.peer_slot) {
            h.state.stats.add(w, hook_stat::IN_FRAMES, f.frames);
            h.state.stats.add(w, hook_stat::IN_OCTETS, f.octets);
        }
        if f.sent < f.frames {
            count_drop(
                &sh.stats,
                &p.to.core,
                w,
                DropReason::TxFull,
                f.frames - f.sent,
            );
        }
        Some(f.frames as usize)
    }
}
