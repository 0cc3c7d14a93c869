//! `hub`: a copy of every frame to every other hook (ng_hub).
//!
//! A frame received on one hook goes out of every other hook (the original to the last,
//! copies to the rest; a copy that cannot be made, the pool being empty, is skipped and
//! counted as a `no_buffers` drop). A frame
//! on a hub with one hook goes nowhere (`no_destination`).

use crate::graph::{
    BurstBox, Create, Cx, GraphError, HookCx, HookError, HookSpec, MsgCx, MsgSpec, NodeType, Slot,
    TypeInfo,
};
use crate::value::Value;

crate::drop_reasons! {
    pub mod reason {
        /// The hub has no other hook.
        NO_DESTINATION = "no_destination": "no link to flood to",
    }
}

pub static TYPE: TypeInfo = TypeInfo {
    name: "hub",
    summary: "sends a copy of every frame out of every other hook (ng_hub)",
    hooks: "any name",
    messages: &[MsgSpec {
        name: "setpersistent",
        args: "",
        help: "the hub stays when its last hook goes",
    }],
    hook_counters: &[],
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|_| Box::new(Hub)),
};

pub struct Hub;

impl NodeType for Hub {
    fn new_hook(&self, _name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        cx.any_slot()
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        super::spare_any(used)
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        flood_copies(cx, slot, frames);
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        cx.none(cmd, arg)?;
        cx.set_persistent();
        Ok(None)
    }
}

/// Sends copies of `frames` out of every hook but `slot`, and the originals out of the last.
fn flood_copies(cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
    let mut last: Option<Slot> = None;
    for h in cx.hooks() {
        if h.slot == slot {
            continue;
        }
        if let Some(prev) = last {
            for i in 0..frames.len() {
                let f = frames.as_slice()[i];
                if let Some(c) = cx.copy(&f) {
                    cx.send(prev, c);
                }
            }
        }
        last = Some(h.slot);
    }
    match last {
        Some(s) => cx.forward(s, frames),
        None => cx.drop_all(frames, reason::NO_DESTINATION),
    }
}
