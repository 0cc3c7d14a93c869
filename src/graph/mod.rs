//! The graph core: nodes joined by hooks, edited by one management thread while workers
//! forward frames.
//!
//! * [`Graph`] (model.rs) is the management thread's authoritative, mutable model. Every edit
//!   validates, updates the model, and publishes a new immutable [`Snapshot`].
//! * [`Worker`] (worker.rs) is a data-path thread: it pins the epoch once per burst, reads the
//!   snapshot, and runs the burst through the nodes.
//! * [`NodeType`] (node.rs) is what each node type implements; [`TypeInfo`] (registry.rs) is
//!   what it declares about itself, and a [`Registry`] the types a graph can make. The types
//!   themselves live in `crate::nodes`, which this module does not name.
//! * [`HeldFrames`] (held.rs): frames a node holds on a worker to send later, and the
//!   worker's call-backs ([`NodeType::poll`]).
//! * [`DropReason`] (drops.rs): the engine's reasons and the numbering of the types' own.
//! * [`capture`]: copies of the frames crossing a hook, for `ctl capture`.
//! * [`offload`]: what a kernel fast path may forward for the graph, and its counts merged back.

pub mod capture;
mod drops;
mod error;
mod held;
mod model;
mod node;
pub mod offload;
mod path;
mod query;
mod registry;
mod snapshot;
mod worker;

pub use drops::{DropReason, ReasonInfo, GENERIC_REASONS};
pub use error::{GraphError, HookError};
pub use held::HeldFrames;
pub use model::{Clock, Graph, GraphConfig, GraphHandle, TopologyMode};
pub use node::{
    hook_stat, HookCx, HookRec, HookSpec, HookState, LiveCounts, MsgCx, NodeCore, NodeType, Slot,
    MAX_SLOT, SLOT_HOST, SLOT_WIRE,
};
pub use path::{check_hook_name, check_node_name, node_name_for, Addr, Base, MAX_NAME};
pub use query::{DropCount, ErrorRow, HookInfo, NodeConfig, NodeInfo, NodeStats};
pub use registry::{Create, MsgSpec, NodeEnv, Registered, Registry, TypeInfo, MAX_DROP_COUNTERS};
pub use snapshot::Snapshot;
pub use worker::{BurstBox, Cx, Worker};

pub(crate) use model::{Shared, Topo};

/// A node's unique numeric ID (printed in hex, as `[1f]:`).
pub type NodeId = u32;

/// Graph-wide per-worker counters.
pub mod gstat {
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
    /// Frames nodes read from devices of their own (eiface's TAP, ksocket's socket).
    pub const NODE_RX: usize = 6;
    /// Frames nodes wrote to devices of their own.
    pub const NODE_TX: usize = 7;
    /// Drops from here: the engine's reasons for frames dropped outside any node, then one
    /// block per registered type (see [`super::Registered::drop_base`]).
    pub const DROPS: usize = 8;
    pub const COUNT: usize = DROPS + super::MAX_DROP_COUNTERS;
}
