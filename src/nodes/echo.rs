//! `echo`: sends every frame back out of the hook it came in on.
//!
//! Hooks: any name. Frames go back out of their incoming hook, as whole bursts.
//! Messages: none. Counters: per hook in/out frames and octets.

use crate::graph::{BurstBox, Cx, GraphError, HookCx, HookSpec, MsgCx, NodeType, Slot};
use crate::value::Value;

pub struct Echo;

impl NodeType for Echo {
    fn type_name(&self) -> &'static str {
        "echo"
    }
    fn new_hook(&self, _name: &str, cx: &HookCx<'_>) -> Result<HookSpec, String> {
        super::any_hook(cx)
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        (0..).map(|i| format!("_save{i}")).find(|n| !used(n))
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        cx.forward(slot, frames);
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
