//! `socket`: the control node, `.` in paths (ngctl's own socket node).
//!
//! Hooks: any name, so that `mkpeer . <type> <hook> <peerhook>` can create free-standing
//! nodes. Frames that reach it are discarded and counted (`discarded`): the control socket
//! does not carry data. Persistent; cannot be shut down.
//! Messages: none. Counters: per hook in/out frames and octets.

use crate::graph::{BurstBox, Cx, DropReason, GraphError, HookCx, HookSpec, MsgCx, NodeType, Slot};
use crate::value::Value;

pub struct Socket;

impl NodeType for Socket {
    fn type_name(&self) -> &'static str {
        "socket"
    }
    fn new_hook(&self, _name: &str, cx: &HookCx<'_>) -> Result<HookSpec, String> {
        super::any_hook(cx)
    }
    fn persistent(&self) -> bool {
        true
    }
    fn rcv(&self, cx: &mut Cx<'_>, _slot: Slot, frames: &mut BurstBox) {
        cx.drop_all(frames, DropReason::Discarded);
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        _arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        Err(cx.unknown(cmd, &[]))
    }
}
