//! `echo`: sends every frame back out of the hook it came in on (ng_echo).

use crate::graph::{BurstBox, Create, Cx, HookCx, HookError, HookSpec, NodeType, Slot, TypeInfo};

pub static TYPE: TypeInfo = TypeInfo {
    name: "echo",
    summary: "sends every frame back out of the hook it came in on (ng_echo)",
    hooks: "any name; frames go back out of their incoming hook, as whole bursts",
    messages: &[],
    hook_counters: &[],
    drop_reasons: &[],
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|_| Box::new(Echo)),
};

pub struct Echo;

impl NodeType for Echo {
    fn new_hook(&self, _name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        cx.any_slot()
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        super::spare_any(used)
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        cx.forward(slot, frames);
    }
}
