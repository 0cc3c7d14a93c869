//! `socket`: the control node, `.` in paths (ngctl's own socket node).
//!
//! Frames that reach it are discarded and counted (`discarded`): the control socket does not
//! carry data. Persistent; cannot be shut down or made with `mkpeer`.

use crate::graph::{
    BurstBox, Create, Cx, DropReason, HookCx, HookError, HookSpec, NodeType, Slot, TypeInfo,
};

pub static TYPE: TypeInfo = TypeInfo {
    name: "socket",
    summary: "the control node \".\" (ngctl's socket node); discards data",
    hooks: "any name, so that `mkpeer . <type> <hook> <peerhook>` can create free-standing \
            nodes; frames arriving on them are discarded",
    messages: &[],
    hook_counters: &[],
    drop_reasons: &[],
    persistent: true,
    splice_on_shutdown: None,
    create: Create::Control(|_| Box::new(Socket)),
};

pub struct Socket;

impl NodeType for Socket {
    fn new_hook(&self, _name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        cx.any_slot()
    }
    fn rcv(&self, cx: &mut Cx<'_>, _slot: Slot, frames: &mut BurstBox) {
        cx.drop_all(frames, DropReason::Discarded);
    }
}
