//! `hole`: a sink.
//!
//! Hooks: any name. Every frame received is discarded and counted (`discarded`).
//! Messages: `getstats "<hook>"`, `clrstats "<hook>"`, `getclrstats "<hook>"` give
//! `{ frames octets }` received on that hook.
//! Counters: per hook inFrames/inOctets.

use crate::graph::{
    hook_stat, BurstBox, Cx, DropReason, GraphError, HookCx, HookSpec, MsgCx, NodeType, Slot,
};
use crate::value::Value;

pub struct Hole;

const MSGS: &[&str] = &["getstats", "clrstats", "getclrstats"];

impl NodeType for Hole {
    fn type_name(&self) -> &'static str {
        "hole"
    }
    fn new_hook(&self, _name: &str, cx: &HookCx<'_>) -> Result<HookSpec, String> {
        super::any_hook(cx)
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        (0..).map(|i| format!("_save{i}")).find(|n| !used(n))
    }
    fn rcv(&self, cx: &mut Cx<'_>, _slot: Slot, frames: &mut BurstBox) {
        cx.drop_all(frames, DropReason::Discarded);
    }
    fn messages(&self) -> &'static [&'static str] {
        MSGS
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        let a = cx.need(cmd, arg, "\"<hook>\"")?;
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
