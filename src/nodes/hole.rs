//! `hole`: a sink (ng_hole). Every frame received is discarded and counted (`discarded`).

use crate::graph::{
    hook_stat, BurstBox, Create, Cx, DropReason, GraphError, HookCx, HookError, HookSpec, MsgCx,
    MsgSpec, NodeType, Slot, TypeInfo,
};
use crate::value::Value;

pub static TYPE: TypeInfo = TypeInfo {
    name: "hole",
    summary: "a sink: discards every frame it receives, counting them per hook (ng_hole)",
    hooks: "any name",
    messages: &[
        MsgSpec {
            name: "getstats",
            args: "\"<hook>\"",
            help: "frames and octets received on the hook: { frames octets }",
        },
        MsgSpec {
            name: "clrstats",
            args: "\"<hook>\"",
            help: "clear the hook's counters",
        },
        MsgSpec {
            name: "getclrstats",
            args: "\"<hook>\"",
            help: "getstats, then clrstats",
        },
    ],
    hook_counters: &[],
    drop_reasons: &[],
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|_| Box::new(Hole)),
};

pub struct Hole;

impl NodeType for Hole {
    fn new_hook(&self, _name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        cx.any_slot()
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        super::spare_any(used)
    }
    fn rcv(&self, cx: &mut Cx<'_>, _slot: Slot, frames: &mut BurstBox) {
        cx.drop_all(frames, DropReason::Discarded);
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        let a = cx.need(cmd, arg)?;
        let name = a
            .as_str()
            .ok_or_else(|| cx.bad(cmd, "expected a hook name"))?;
        let h = cx.hook(name).ok_or_else(|| GraphError::NoHook {
            node: cx.node().to_string(),
            hook: name.to_string(),
        })?;
        let reply = Value::record([
            ("frames", Value::Uint(h.stats.get(hook_stat::IN_FRAMES))),
            ("octets", Value::Uint(h.stats.get(hook_stat::IN_OCTETS))),
        ]);
        if cmd != "getstats" {
            h.stats.clear();
        }
        Ok((cmd != "clrstats").then_some(reply))
    }
}
