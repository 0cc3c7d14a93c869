//! The graph core: nodes joined by hooks, edited by one management thread while workers
//! forward frames.
//!
//! * [`Graph`] (model.rs) is the management thread's authoritative, mutable model. Every edit
//!   validates, updates the model, and publishes a new immutable [`Snapshot`].
//! * [`Worker`] (worker.rs) is a data-path thread: it pins the epoch once per burst, reads the
//!   snapshot, and runs the burst through the nodes.
//! * [`NodeType`] (node.rs) is what each node type in `crate::nodes` implements.

mod drops;
mod error;
mod model;
mod node;
mod path;
mod snapshot;
mod worker;

pub use drops::DropReason;
pub use error::GraphError;
pub use model::{
    Clock, ErrorRow, Graph, GraphConfig, GraphHandle, HookInfo, NodeInfo, NodeStats, TopologyMode,
};
pub use node::{
    hook_stat, hook_stats_value, HookCx, HookRec, HookSpec, HookState, LiveCounts, MsgCx, NodeCore,
    NodeType, Slot, MAX_SLOT, SLOT_HOST, SLOT_WIRE,
};
pub use path::{check_hook_name, check_node_name, node_name_for, Addr, Base, MAX_NAME};
pub use snapshot::Snapshot;
pub use worker::{BurstBox, Cx, Worker};

pub(crate) use model::{Shared, Topo};

/// A node's unique numeric ID (printed in hex, as `[1f]:`).
pub type NodeId = u32;

/// Graph-wide per-worker counters.
pub mod gstat {
    use super::DropReason;
    /// Frames received from ports' wire side (and injected).
    pub const RX: usize = 0;
    /// Frames transmitted on ports.
    pub const TX: usize = 1;
    /// Frames delivered to the host stack.
    pub const HOST_TX: usize = 2;
    /// Frames the host stack sent into the graph.
    pub const HOST_RX: usize = 3;
    /// Copies made (tee, flooding, one2many all).
    pub const COPIES: usize = 4;
    /// Bursts run.
    pub const BURSTS: usize = 5;
    /// Drops, one counter per [`DropReason`], from here.
    pub const DROPS: usize = 6;
    pub const COUNT: usize = DROPS + DropReason::COUNT;
}
