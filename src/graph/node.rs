//! What a node type implements, and the state the graph keeps per node and per hook.

use super::{DropReason, GraphError, NodeId};
use crate::counters::PerWorker;
use crate::epoch::Epoch;
use crate::value::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub use super::worker::{BurstBox, Cx};

/// A hook's position in its node's hook table (chosen by the node type).
pub type Slot = u16;

/// Pseudo-slot on which an `ether` node receives frames from the wire.
pub const SLOT_WIRE: Slot = Slot::MAX;
/// Pseudo-slot on which an `ether` node receives frames the host stack sends.
pub const SLOT_HOST: Slot = Slot::MAX - 1;
/// Highest slot a node type may choose.
pub const MAX_SLOT: Slot = 4095;

/// Generic per-hook counters kept by the graph for every hook.
pub mod hook_stat {
    pub const IN_FRAMES: usize = 0;
    pub const IN_OCTETS: usize = 1;
    pub const OUT_FRAMES: usize = 2;
    pub const OUT_OCTETS: usize = 3;
    pub const GENERIC: usize = 4;
    pub const NAMES: [&str; GENERIC] = ["inFrames", "inOctets", "outFrames", "outOctets"];
}

/// What a node type decides for a new hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookSpec {
    pub slot: Slot,
    /// Type-defined word stored with the hook (e.g. a bridge's link number and flags).
    pub tag: u32,
}

/// What a node type can see when it is asked to accept a hook.
pub struct HookCx<'a> {
    pub(crate) used: &'a dyn Fn(Slot) -> bool,
    /// The hook connects this node to itself.
    pub peer_is_self: bool,
    /// Hooks the node has now.
    pub num_hooks: usize,
}

impl HookCx<'_> {
    pub fn slot_used(&self, s: Slot) -> bool {
        (self.used)(s)
    }
    /// The lowest free slot at or above `from`.
    pub fn first_free(&self, from: Slot) -> Result<Slot, String> {
        (from..=MAX_SLOT)
            .find(|s| !self.slot_used(*s))
            .ok_or_else(|| {
                format!(
                    "node has no free hook slot (limit {})",
                    MAX_SLOT as usize + 1
                )
            })
    }
}

/// A node type: its hooks, how it moves frames, its control messages.
///
/// One value per node, shared by the management thread (messages, hook changes) and the
/// workers (`rcv`). Mutable configuration lives in atomics or in [`crate::epoch::EpochCell`]s.
pub trait NodeType: Send + Sync + 'static {
    fn type_name(&self) -> &'static str;

    /// Accepts or refuses a hook name; picks its slot and tag.
    fn new_hook(&self, name: &str, cx: &HookCx<'_>) -> Result<HookSpec, String>;

    /// Names of the type's own per-hook counters (after the generic ones).
    fn hook_counters(&self) -> &'static [&'static str] {
        &[]
    }

    /// A hook was connected (called before workers can see it).
    fn connected(&self, _hook: &HookState, _cx: &mut MsgCx<'_>) {}

    /// A hook was removed (called after it is marked dead, before the new topology is published).
    fn disconnected(&self, _hook: &HookState, _cx: &mut MsgCx<'_>) {}

    /// Whether a new node of this type outlives the loss of its last hook.
    fn persistent(&self) -> bool {
        false
    }

    /// On `shutdown`, connect the peers of these two hooks to each other (ng_tee's bypass).
    fn splice_on_shutdown(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    /// On `shutdown` of a persistent interface node (ether): reset its settings instead of
    /// removing it.
    fn reset(&self) {}

    /// Handles a burst of frames that arrived on `slot`. Every frame must be sent, forwarded or
    /// dropped through `cx` (frames left behind are dropped as `unhandled`).
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox);

    /// Control messages this type understands (for errors and `help`).
    fn messages(&self) -> &'static [&'static str] {
        &[]
    }

    /// Handles a control message on the management thread.
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError>;

    /// Periodic housekeeping on the management thread (ageing, table resizing).
    fn tick(&self, _cx: &mut MsgCx<'_>) {}

    /// A hook name this type would accept that `used` says is free (for `ctl save` to attach
    /// a node to `.` temporarily). None when there is none.
    fn spare_hook(&self, _used: &dyn Fn(&str) -> bool) -> Option<String> {
        None
    }

    /// Saved-configuration commands (for `ctl save`): messages that recreate the node's
    /// settings, as (command, argument) pairs.
    fn config_msgs(&self, _cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        Vec::new()
    }
}

/// Objects alive now and ever created (for leak tests and `ctl status`).
#[derive(Debug, Default)]
pub struct LiveCounts {
    pub nodes_created: AtomicU64,
    pub nodes_freed: AtomicU64,
    pub hooks_created: AtomicU64,
    pub hooks_freed: AtomicU64,
}

impl LiveCounts {
    pub fn nodes_alive(&self) -> u64 {
        self.nodes_created.load(Ordering::SeqCst) - self.nodes_freed.load(Ordering::SeqCst)
    }
    pub fn hooks_alive(&self) -> u64 {
        self.hooks_created.load(Ordering::SeqCst) - self.hooks_freed.load(Ordering::SeqCst)
    }
}

/// A node as the workers see it.
pub struct NodeCore {
    pub id: NodeId,
    pub imp: Box<dyn NodeType>,
    /// Cleared when the node is shut down; workers holding an older topology drop frames for it.
    pub alive: AtomicBool,
    /// Drops by reason, plus copies made ([`NodeCore::COPIES`]).
    pub counters: PerWorker,
    live: Arc<LiveCounts>,
}

impl NodeCore {
    pub const COPIES: usize = DropReason::COUNT;

    pub(crate) fn new(
        id: NodeId,
        imp: Box<dyn NodeType>,
        workers: usize,
        live: Arc<LiveCounts>,
    ) -> NodeCore {
        live.nodes_created.fetch_add(1, Ordering::SeqCst);
        NodeCore {
            id,
            imp,
            alive: AtomicBool::new(true),
            counters: PerWorker::new(workers, DropReason::COUNT + 1),
            live,
        }
    }
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
    pub fn drops(&self, r: DropReason) -> u64 {
        self.counters.get(r as usize)
    }
}

impl Drop for NodeCore {
    fn drop(&mut self) {
        self.live.nodes_freed.fetch_add(1, Ordering::SeqCst);
    }
}

/// One end of a connection, as the workers see it.
pub struct HookState {
    /// Unique for the life of the graph (never reused).
    pub uid: u64,
    pub name: String,
    pub slot: Slot,
    pub tag: u32,
    /// Cleared when the hook is removed.
    pub alive: AtomicBool,
    /// Generic counters ([`hook_stat`]) then the type's own.
    pub stats: PerWorker,
    /// A type-defined word (a bridge link's mute deadline).
    pub word: AtomicU64,
    live: Arc<LiveCounts>,
}

impl HookState {
    pub(crate) fn new(
        uid: u64,
        name: &str,
        spec: HookSpec,
        ext: usize,
        workers: usize,
        live: Arc<LiveCounts>,
    ) -> HookState {
        live.hooks_created.fetch_add(1, Ordering::SeqCst);
        HookState {
            uid,
            name: name.to_string(),
            slot: spec.slot,
            tag: spec.tag,
            alive: AtomicBool::new(true),
            stats: PerWorker::new(workers, hook_stat::GENERIC + ext),
            word: AtomicU64::new(0),
            live,
        }
    }
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

impl Drop for HookState {
    fn drop(&mut self) {
        self.live.hooks_freed.fetch_add(1, Ordering::SeqCst);
    }
}

/// The management-side record of a hook.
#[derive(Clone)]
pub struct HookRec {
    pub state: Arc<HookState>,
    pub peer_node: NodeId,
    pub peer_hook: String,
}

/// What a control-message handler can see and do.
pub struct MsgCx<'a> {
    pub(crate) node_name: String,
    pub(crate) hooks: &'a BTreeMap<String, HookRec>,
    pub(crate) persistent: &'a mut bool,
    pub epoch: &'a Epoch,
    /// Graph time in seconds.
    pub now: u32,
    pub workers: usize,
}

impl MsgCx<'_> {
    /// The node's address for messages (`name:` or `[id]:`).
    pub fn node(&self) -> &str {
        &self.node_name
    }
    pub fn hook(&self, name: &str) -> Option<&Arc<HookState>> {
        self.hooks.get(name).map(|h| &h.state)
    }
    pub fn hook_at(&self, slot: Slot) -> Option<&Arc<HookState>> {
        self.hooks
            .values()
            .map(|h| &h.state)
            .find(|h| h.slot == slot)
    }
    pub fn hooks(&self) -> impl Iterator<Item = &Arc<HookState>> {
        self.hooks.values().map(|h| &h.state)
    }
    pub fn set_persistent(&mut self) {
        *self.persistent = true;
    }
    pub fn is_persistent(&self) -> bool {
        *self.persistent
    }
    /// An argument error for `cmd`.
    pub fn bad(&self, cmd: &str, why: impl Into<String>) -> GraphError {
        GraphError::BadArg {
            node: self.node_name.clone(),
            cmd: cmd.to_string(),
            why: why.into(),
        }
    }
    /// The argument, or an error saying it is required.
    pub fn need<'v>(
        &self,
        cmd: &str,
        arg: Option<&'v Value>,
        form: &str,
    ) -> Result<&'v Value, GraphError> {
        arg.ok_or_else(|| self.bad(cmd, format!("needs an argument: {form}")))
    }
    /// Refuses an argument for a command that takes none.
    pub fn none(&self, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        match arg {
            None => Ok(()),
            Some(v) => Err(self.bad(cmd, format!("takes no argument (got {v})"))),
        }
    }
    pub fn unknown(&self, cmd: &str, known: &[&str]) -> GraphError {
        GraphError::UnknownMsg {
            node: self.node_name.clone(),
            cmd: cmd.to_string(),
            known: known.join(" "),
        }
    }
}

/// Statistics of a hook as a message reply: generic counters then the type's own.
pub fn hook_stats_value(h: &HookState, ext_names: &[&str]) -> Value {
    let mut f: Vec<(String, Value)> = hook_stat::NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), Value::Uint(h.stats.get(i))))
        .collect();
    for (i, n) in ext_names.iter().enumerate() {
        f.push((
            n.to_string(),
            Value::Uint(h.stats.get(hook_stat::GENERIC + i)),
        ));
    }
    Value::Struct(f)
}
