//! What a node type implements, and the state the graph keeps per node and per hook.

use super::{DropReason, GraphError, HookError, NodeId, TypeInfo};
use crate::counters::PerWorker;
use crate::epoch::Epoch;
use crate::value::Value;
use std::collections::BTreeMap;
use std::os::fd::RawFd;
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
    pub fn first_free(&self, from: Slot) -> Result<Slot, HookError> {
        (from..=MAX_SLOT)
            .find(|s| !self.slot_used(*s))
            .ok_or(HookError::NoSlot {
                limit: MAX_SLOT as usize + 1,
            })
    }
    /// For types that accept any hook name: the lowest free slot.
    pub fn any_slot(&self) -> Result<HookSpec, HookError> {
        Ok(HookSpec {
            slot: self.first_free(0)?,
            tag: 0,
        })
    }
}

/// A node type's behaviour: its hooks, how it moves frames, its control messages. What the
/// type *is* (name, messages, counters, drop reasons) is its [`TypeInfo`].
///
/// One value per node, shared by the management thread (messages, hook changes) and the
/// workers (`rcv`). Mutable configuration lives in atomics or in [`crate::epoch::EpochCell`]s.
pub trait NodeType: Send + Sync + 'static {
    /// Accepts or refuses a hook name; picks its slot and tag.
    fn new_hook(&self, name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError>;

    /// A hook was connected (called before workers can see it).
    fn connected(&self, _hook: &HookState, _cx: &mut MsgCx<'_>) {}

    /// A hook was removed (called after it is marked dead, before the new topology is published).
    fn disconnected(&self, _hook: &HookState, _cx: &mut MsgCx<'_>) {}

    /// On `shutdown` of a persistent interface node (ether): reset its settings instead of
    /// removing it.
    fn reset(&self) {}

    /// Handles a burst of frames that arrived on `slot`. Every frame must be sent, forwarded or
    /// dropped through `cx` (frames left behind are dropped as `unhandled`).
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox);

    /// For a type that holds frames to send later ([`Cx::with_held`]): called on a worker at
    /// or after the time the node asked for there ([`Cx::wake_at`], or this method's last
    /// answer), and after every published edit, with the graph time `now_ns`. It sends what
    /// is due through `cx` as `rcv` does (frames go on from this node's hooks) and returns
    /// when to be called next on this worker, None when it holds nothing there.
    fn poll(&self, _cx: &mut Cx<'_>, _now_ns: u64) -> Option<u64> {
        None
    }

    /// Handles one of the type's messages (`TypeInfo::messages`; the graph refuses others
    /// before calling this) on the management thread.
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        _arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        Err(cx.unknown(cmd))
    }

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

    /// What the type offers a kernel fast path ([`super::offload`]); most offer nothing.
    fn offload(&self) -> Option<super::offload::Offload<'_>> {
        None
    }

    /// For a type that owns an input device (eiface's TAP, ksocket's socket): the descriptor
    /// the input worker waits on when idle. Asked once, when the node is added; a node that
    /// answers Some is polled with [`NodeType::input`].
    fn input_fd(&self) -> Option<RawFd> {
        None
    }

    /// Reads what the node's device has (a bounded burst, without blocking) into frames of
    /// `cx`'s pool and sends them out of its hooks as `rcv` does. Called on one worker only
    /// (worker 0): in its loop, and when the descriptor is readable. Returns the frames read.
    fn input(&self, _cx: &mut Cx<'_>) -> usize {
        0
    }

    /// The name `mkpeer` gives a new node of this type when it is free (eiface: its
    /// interface's name, `ngeth0`).
    fn default_name(&self) -> Option<String> {
        None
    }

    /// The node is removed (on the management thread, before workers let go of it): release
    /// its OS resources now (eiface: the interface goes, so its number is free again), in a
    /// way that is safe for a worker still inside `rcv` or `input`.
    fn shutdown(&self) {}
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
    pub info: &'static TypeInfo,
    /// Cleared when the node is shut down; workers holding an older topology drop frames for it.
    pub alive: AtomicBool,
    /// Copies made ([`NodeCore::COPIES`]), then drops by reason ([`NodeCore::drop_counter`]).
    pub counters: PerWorker,
    /// Where its type's counters start among the graph-wide drop counters.
    pub(crate) drop_base: usize,
    live: Arc<LiveCounts>,
}

impl NodeCore {
    pub const COPIES: usize = 0;

    pub(crate) fn new(
        id: NodeId,
        imp: Box<dyn NodeType>,
        info: &'static TypeInfo,
        drop_base: usize,
        workers: usize,
        live: Arc<LiveCounts>,
    ) -> NodeCore {
        live.nodes_created.fetch_add(1, Ordering::SeqCst);
        NodeCore {
            id,
            imp,
            info,
            alive: AtomicBool::new(true),
            counters: PerWorker::new(workers, 1 + info.drop_counters()),
            drop_base,
            live,
        }
    }
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
    /// Index of reason `r`'s counter in [`NodeCore::counters`].
    #[inline(always)]
    pub fn drop_counter(r: DropReason) -> usize {
        1 + r.index()
    }
    pub fn drops(&self, r: DropReason) -> u64 {
        self.counters.get(Self::drop_counter(r))
    }
    /// Every reason this node counts with its count (zeros included).
    pub fn all_drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        self.info.reasons().map(|(r, _)| (r, self.drops(r)))
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
    /// A type-defined word (a bridge link's host-table value: generation, uid, slot).
    pub word: AtomicU64,
    /// Frames that crossed this hook in the kernel fast path (also in the generic counters).
    pub fast_path: AtomicU64,
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
            fast_path: AtomicU64::new(0),
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
    pub(crate) info: &'static TypeInfo,
    pub(crate) hooks: &'a BTreeMap<String, HookRec>,
    pub(crate) persistent: &'a mut bool,
    pub epoch: &'a Epoch,
    /// Graph time in seconds.
    pub now: u32,
    /// Graph time in nanoseconds (the same instant as `now`).
    pub now_ns: u64,
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
    /// The argument, or an error saying it is required (with the shape the type declares).
    pub fn need<'v>(&self, cmd: &str, arg: Option<&'v Value>) -> Result<&'v Value, GraphError> {
        arg.ok_or_else(|| {
            let form = self.info.message(cmd).map_or("", |m| m.args);
            self.bad(cmd, format!("needs an argument: {form}"))
        })
    }
    /// Refuses an argument for a command that takes none.
    pub fn none(&self, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        match arg {
            None => Ok(()),
            Some(v) => Err(self.bad(cmd, format!("takes no argument (got {v})"))),
        }
    }
    /// The node's type.
    pub fn info(&self) -> &'static TypeInfo {
        self.info
    }
    /// An unknown-message error listing the type's messages.
    pub fn unknown(&self, cmd: &str) -> GraphError {
        unknown_msg(&self.node_name, self.info, cmd)
    }
}

/// An unknown-message error for a node of type `info`, listing its messages.
pub(crate) fn unknown_msg(node: &str, info: &TypeInfo, cmd: &str) -> GraphError {
    let known: Vec<&str> = info.messages.iter().map(|m| m.name).collect();
    GraphError::UnknownMsg {
        node: node.to_string(),
        cmd: cmd.to_string(),
        known: known.join(" "),
    }
}
