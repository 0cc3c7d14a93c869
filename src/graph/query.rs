//! Read-only views of the model: nodes and hooks (`list`, `show`), counters (`stats`), drops
//! (`errors`), and what `ctl save` needs. Rendering them is `crate::ctl`'s job.

use super::node::{hook_stat, NodeCore};
use super::{gstat, DropReason, Graph, GraphError, NodeId, ReasonInfo, GENERIC_REASONS};
use crate::port::PortId;
use crate::value::Value;

/// A node as `list`/`show` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: NodeId,
    pub name: Option<String>,
    pub ty: &'static str,
    pub hooks: Vec<HookInfo>,
}

impl NodeInfo {
    /// `name:` or `[id]:`.
    pub fn path(&self) -> String {
        match &self.name {
            Some(n) => format!("{n}:"),
            None => format!("[{:x}]:", self.id),
        }
    }
}

/// A hook as `show` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookInfo {
    pub name: String,
    pub peer_id: NodeId,
    pub peer_name: Option<String>,
    pub peer_type: &'static str,
    pub peer_hook: String,
    /// Frames that crossed the hook in the kernel fast path (counted in its counters too).
    pub fast_path: u64,
}

/// Counters of a node and its hooks.
#[derive(Debug, Clone)]
pub struct NodeStats {
    pub info: NodeInfo,
    pub copies: u64,
    /// Reasons with a non-zero count.
    pub drops: Vec<(&'static ReasonInfo, u64)>,
    /// Per hook: name, then (counter name, value) pairs.
    pub hooks: Vec<(String, Vec<(&'static str, u64)>)>,
}

/// A graph-wide drop total of one (node type, reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropCount {
    /// The type of the nodes that dropped them; None for frames dropped before reaching a node.
    pub ty: Option<&'static str>,
    pub reason: &'static ReasonInfo,
    pub count: u64,
}

/// One node's count of one drop reason (a line of `ctl errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRow {
    /// `name:` or `[id]:`.
    pub node: String,
    pub ty: &'static str,
    pub reason: &'static ReasonInfo,
    pub count: u64,
}

/// A node's settings as messages that recreate them (for `ctl save`).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// `setpersistent` was sent to a node whose type is not persistent by itself.
    pub set_persistent: bool,
    /// (command, argument) pairs.
    pub msgs: Vec<(String, Option<Value>)>,
}

impl Graph {
    fn node_info(&self, id: NodeId) -> NodeInfo {
        let n = &self.nodes[&id];
        let hook = |(name, h): (&String, &super::HookRec)| {
            let p = &self.nodes[&h.peer_node];
            HookInfo {
                name: name.clone(),
                peer_id: h.peer_node,
                peer_name: p.name.clone(),
                peer_type: p.core.info.name,
                peer_hook: h.peer_hook.clone(),
                fast_path: h.state.fast_path.load(std::sync::atomic::Ordering::Relaxed),
            }
        };
        NodeInfo {
            id,
            name: n.name.clone(),
            ty: n.core.info.name,
            hooks: n.hooks.iter().map(hook).collect(),
        }
    }

    /// Node `id`, if it exists.
    pub fn node(&self, id: NodeId) -> Option<NodeInfo> {
        self.nodes.contains_key(&id).then(|| self.node_info(id))
    }

    /// Every node, by ID.
    pub fn list(&self) -> Vec<NodeInfo> {
        self.nodes.keys().map(|id| self.node_info(*id)).collect()
    }

    /// One node and its hooks.
    pub fn show(&self, path: &str) -> Result<NodeInfo, GraphError> {
        Ok(self.node_info(self.resolve(path)?))
    }

    /// Node types (by name) and how many nodes of each exist.
    pub fn types(&self) -> Vec<(&'static str, usize)> {
        let count = |t: &str| {
            let of_type = |n: &&super::model::NodeRec| n.core.info.name == t;
            self.nodes.values().filter(of_type).count()
        };
        let names = self.types.names();
        names.into_iter().map(|t| (t, count(t))).collect()
    }

    /// The interface port of an interface's node.
    pub fn port_of(&self, id: NodeId) -> Option<PortId> {
        self.nodes.get(&id)?.port
    }

    /// Counters of one node and its hooks.
    pub fn node_stats(&self, path: &str) -> Result<NodeStats, GraphError> {
        Ok(self.stats_of(self.resolve(path)?))
    }

    /// Counters of node `id` (which must exist) and its hooks.
    pub fn stats_of(&self, id: NodeId) -> NodeStats {
        let n = &self.nodes[&id];
        let ext = n.core.info.hook_counters;
        let info = n.core.info;
        let hook_counters = |h: &super::HookRec| -> Vec<(&'static str, u64)> {
            let generic = hook_stat::NAMES.iter().copied();
            let names = generic.chain(ext.iter().copied());
            let mut v: Vec<_> = (names.enumerate())
                .map(|(i, k)| (k, h.state.stats.get(i)))
                .collect();
            let fast = h.state.fast_path.load(std::sync::atomic::Ordering::Relaxed);
            if fast > 0 {
                v.push(("fastPathFrames", fast));
            }
            v
        };
        NodeStats {
            info: self.node_info(id),
            copies: n.core.counters.get(NodeCore::COPIES),
            drops: (n.core.all_drops())
                .filter(|(_, c)| *c > 0)
                .filter_map(|(r, c)| Some((info.reason(r)?, c)))
                .collect(),
            hooks: (n.hooks.iter())
                .map(|(name, h)| (name.clone(), hook_counters(h)))
                .collect(),
        }
    }

    // ----- drops ------------------------------------------------------------------------------

    fn drop_stat(&self, counter: usize) -> u64 {
        self.stat(gstat::DROPS + counter)
    }

    /// Total drops for the engine reason `why` (`DropReason::HopLimit` etc.), across all nodes
    /// (live or gone), types and workers, and frames that never reached a node.
    ///
    /// # Panics
    /// If `why` is a type's own reason: those are counted per type, see [`Graph::drops_of`].
    pub fn drops(&self, why: DropReason) -> u64 {
        assert!(
            why.is_generic(),
            "{why:?} is a node type's own reason: use drops_of(type, reason)"
        );
        let types = self.types.iter().map(|t| t.drop_base + why.index());
        let counters = std::iter::once(why.index()).chain(types);
        counters.map(|c| self.drop_stat(c)).sum()
    }

    /// Total drops for `why` by nodes of type `ty` (live or gone); 0 for an unknown type.
    pub fn drops_of(&self, ty: &str, why: DropReason) -> u64 {
        match self.types.entry(ty) {
            Some(t) if why.index() < t.info.drop_counters() => {
                self.drop_stat(t.drop_base + why.index())
            }
            _ => 0,
        }
    }

    /// Total drops for every reason named `name` (in any type).
    pub fn drops_named(&self, name: &str) -> u64 {
        let outside = DropReason::generic(name).map_or(0, |r| self.drop_stat(r.index()));
        let by_type = |t: &super::Registered| {
            (t.info.reason_named(name)).map_or(0, |r| self.drop_stat(t.drop_base + r.index()))
        };
        outside + self.types.iter().map(by_type).sum::<u64>()
    }

    /// Every frame dropped, for any reason, anywhere.
    pub fn total_drops(&self) -> u64 {
        (0..self.types.drop_counters())
            .map(|c| self.drop_stat(c))
            .sum()
    }

    /// Graph-wide totals with a non-zero count, per (type, reason): frames dropped outside
    /// any node first (type None), then by type in registration order.
    pub fn drop_totals(&self) -> Vec<DropCount> {
        let mut v = Vec::new();
        for (i, reason) in GENERIC_REASONS.iter().enumerate() {
            let count = self.drop_stat(i);
            if count > 0 {
                v.push(DropCount {
                    ty: None,
                    reason,
                    count,
                });
            }
        }
        for t in self.types.iter() {
            for (r, reason) in t.info.reasons() {
                let count = self.drop_stat(t.drop_base + r.index());
                if count > 0 {
                    let ty = Some(t.info.name);
                    v.push(DropCount { ty, reason, count });
                }
            }
        }
        v
    }

    /// Every drop reason with a non-zero count, per live node, then the graph-wide totals
    /// ([`Graph::drop_totals`], which also count nodes since shut down).
    pub fn errors(&self) -> (Vec<ErrorRow>, Vec<DropCount>) {
        let mut rows = Vec::new();
        for (id, n) in &self.nodes {
            let info = n.core.info;
            for (r, reason) in info.reasons() {
                let count = n.core.drops(r);
                if count > 0 {
                    let node = self.label(*id);
                    let ty = info.name;
                    rows.push(ErrorRow {
                        node,
                        ty,
                        reason,
                        count,
                    });
                }
            }
        }
        (rows, self.drop_totals())
    }

    // ----- for `ctl save` ---------------------------------------------------------------------

    /// A hook name node `id`'s type would accept that the node does not have (to attach it
    /// to `.` temporarily).
    pub fn spare_hook(&self, id: NodeId) -> Option<String> {
        let n = self.nodes.get(&id)?;
        n.core.imp.spare_hook(&|h| n.hooks.contains_key(h))
    }

    /// The messages that recreate node `id`'s settings (which must exist).
    pub fn node_config(&mut self, id: NodeId) -> NodeConfig {
        self.with_node(id, |t, cx| NodeConfig {
            set_persistent: cx.is_persistent() && !cx.info().persistent,
            msgs: t.config_msgs(cx),
        })
    }
}
