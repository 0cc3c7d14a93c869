//! The immutable topology the workers read: built by the management thread after every edit,
//! published through an [`EpochCell`](crate::epoch::EpochCell), reclaimed through the epoch.

use super::capture::{Capture, Dir};
use super::node::{HookState, NodeCore, Slot};
use std::sync::Arc;

/// The captures a burst crossing a hook feeds, with the direction each records it as.
pub(crate) type Taps = Arc<[(Arc<Capture>, Dir)]>;

/// Index of a node within one snapshot (not stable across snapshots; the node ID is).
pub type NodeIx = u32;
/// "No node" in [`Snapshot::ports`].
pub const NO_NODE: NodeIx = NodeIx::MAX;

/// One published topology.
///
/// Nodes sit at stable indices (a node keeps its index for life; a freed index may be reused
/// by a later node), each behind its own `Arc`, so an edit rebuilds only the nodes it touched
/// and shares the rest with the previous snapshot.
pub struct Snapshot {
    pub(crate) nodes: Vec<Option<Arc<SnapNode>>>,
    /// Port ID → index of its ether node.
    pub(crate) ports: Vec<NodeIx>,
    /// Nodes with a device of their own to read (`NodeType::input`), for the input worker.
    pub(crate) inputs: Vec<NodeIx>,
    /// Increases with every publication.
    pub version: u64,
}

pub(crate) struct SnapNode {
    pub core: Arc<NodeCore>,
    /// By slot; `None` for unused slots.
    pub hooks: Box<[Option<SnapHook>]>,
}

pub(crate) struct SnapHook {
    pub state: Arc<HookState>,
    pub peer_node: NodeIx,
    pub peer_slot: Slot,
    /// The captures of this hook taking `out` and those of the peer hook taking `in`; None
    /// (the usual case) when there are none: one check per burst.
    pub taps: Option<Taps>,
}

impl Snapshot {
    pub(crate) fn empty() -> Snapshot {
        Snapshot {
            nodes: Vec::new(),
            ports: Vec::new(),
            inputs: Vec::new(),
            version: 0,
        }
    }
    pub fn num_nodes(&self) -> usize {
        self.nodes.iter().flatten().count()
    }
    #[inline]
    pub(crate) fn node(&self, ix: NodeIx) -> Option<&SnapNode> {
        self.nodes.get(ix as usize)?.as_deref()
    }
    #[inline]
    pub(crate) fn hook(&self, node: NodeIx, slot: Slot) -> Option<&SnapHook> {
        self.node(node)?.hooks.get(slot as usize)?.as_ref()
    }
    #[inline]
    pub(crate) fn port_node(&self, port: u32) -> NodeIx {
        self.ports.get(port as usize).copied().unwrap_or(NO_NODE)
    }
}
