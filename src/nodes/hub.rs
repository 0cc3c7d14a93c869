//! `hub`: a copy of every frame to every other hook.
//!
//! Hooks: any name. A frame received on one hook goes out of every other hook (the original
//! to the last, copies to the rest; a copy that cannot be made is counted `no_buffers`).
//! A frame on a hub with one hook goes nowhere (`no_destination`).
//! Messages: `setpersistent` (the hub stays when its last hook goes).
//! Counters: per hook in/out frames and octets.

use crate::graph::{BurstBox, Cx, DropReason, GraphError, HookCx, HookSpec, MsgCx, NodeType, Slot};
use crate::value::Value;

pub struct Hub;

impl NodeType for Hub {
    fn type_name(&self) -> &'static str {
        "hub"
    }
    fn new_hook(&self, _name: &str, cx: &HookCx<'_>) -> Result<HookSpec, String> {
        super::any_hook(cx)
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        (0..).map(|i| format!("_save{i}")).find(|n| !used(n))
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        flood_copies(cx, slot, frames);
    }
    fn messages(&self) -> &'static [&'static str] {
        &["setpersistent"]
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
pub(crate) fn flood_copies(cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
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
        None => cx.drop_all(frames, DropReason::NoDestination),
    }
}
