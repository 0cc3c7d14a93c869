//! `tee`: a T-junction (ng_tee).
//!
//! A copy that cannot be made (the pool being empty) never stops the original; it is skipped
//! and counted as a `no_buffers` drop.
//! With neither the primary nor the copy hook connected, frames are dropped `not_connected`.
//! On `shutdown` a tee splices its `left` and `right` peers together.

use crate::graph::{
    hook_stat, BurstBox, Create, Cx, DropReason, GraphError, HookCx, HookError, HookSpec, MsgCx,
    MsgSpec, NodeType, Slot, TypeInfo,
};
use crate::value::Value;

const STATS: &str = "{ right={...} left={...} right2left={...} left2right={...} }, each \
                     { inOctets inFrames outOctets outFrames }";

pub static TYPE: TypeInfo = TypeInfo {
    name: "tee",
    summary: "a T-junction: passes frames between left and right, copying each direction \
              out of a third hook (ng_tee)",
    hooks: "left, right: frames from left go out right, a copy out left2right; frames from \
            right go out left, a copy out right2left (when the primary destination is not \
            connected, the copy hook becomes it). left2right, right2left: frames received \
            there go out left and right respectively",
    messages: &[
        MsgSpec {
            name: "getstats",
            args: "",
            help: STATS,
        },
        MsgSpec {
            name: "clrstats",
            args: "",
            help: "clear every hook's counters",
        },
        MsgSpec {
            name: "getclrstats",
            args: "",
            help: "getstats, then clrstats",
        },
    ],
    hook_counters: &[],
    drop_reasons: &[],
    persistent: false,
    splice_on_shutdown: Some(("left", "right")),
    create: Create::Mkpeer(|_| Box::new(Tee)),
};

pub struct Tee;

const LEFT: Slot = 0;
const RIGHT: Slot = 1;
const L2R: Slot = 2;
const R2L: Slot = 3;
const NAMES: [(&str, Slot); 4] = [
    ("right", RIGHT),
    ("left", LEFT),
    ("right2left", R2L),
    ("left2right", L2R),
];

impl NodeType for Tee {
    fn new_hook(&self, name: &str, _cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        super::fixed_hook(
            &NAMES,
            name,
            "tee hooks are left, right, left2right, right2left",
        )
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        super::spare_fixed(&NAMES, used)
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        let (mut dest, mut dup) = match slot {
            LEFT => (RIGHT, Some(L2R)),
            RIGHT => (LEFT, Some(R2L)),
            L2R => (LEFT, None),
            _ => (RIGHT, None),
        };
        dup = dup.filter(|d| cx.is_connected(*d));
        if !cx.is_connected(dest) {
            match dup.take() {
                Some(d) => dest = d,
                None => return cx.drop_all(frames, DropReason::NotConnected),
            }
        }
        if let Some(d) = dup {
            cx.copy_to(d, frames);
        }
        cx.forward(dest, frames);
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        cx.none(cmd, arg)?;
        let mut f = Vec::new();
        for (name, _) in NAMES {
            let v = match cx.hook(name) {
                Some(h) => Value::record([
                    ("inOctets", Value::Uint(h.stats.get(hook_stat::IN_OCTETS))),
                    ("inFrames", Value::Uint(h.stats.get(hook_stat::IN_FRAMES))),
                    ("outOctets", Value::Uint(h.stats.get(hook_stat::OUT_OCTETS))),
                    ("outFrames", Value::Uint(h.stats.get(hook_stat::OUT_FRAMES))),
                ]),
                None => Value::record([
                    ("inOctets", Value::Uint(0)),
                    ("inFrames", Value::Uint(0)),
                    ("outOctets", Value::Uint(0)),
                    ("outFrames", Value::Uint(0)),
                ]),
            };
            f.push((name.to_string(), v));
            if cmd != "getstats" {
                if let Some(h) = cx.hook(name) {
                    h.stats.clear();
                }
            }
        }
        Ok((cmd != "clrstats").then_some(Value::Struct(f)))
    }
}
