//! `tee`: a T-junction (ng_tee).
//!
//! Hooks:
//! * `left`, `right`: frames from `left` go out `right`, a copy out `left2right`; frames from
//!   `right` go out `left`, a copy out `right2left`. If the primary destination is not
//!   connected, the copy hook becomes the primary destination (no copy is made).
//! * `left2right`, `right2left`: frames received here go out `left` and `right` respectively.
//!
//! A copy that cannot be made never stops the original (it is counted `no_buffers`).
//! On `shutdown` a tee splices its `left` and `right` peers together.
//! Messages: `getstats`, `clrstats`, `getclrstats`: `{ right={...} left={...} right2left={...}
//! left2right={...} }`, each `{ inOctets inFrames outOctets outFrames }`.

use crate::graph::{
    hook_stat, BurstBox, Cx, DropReason, GraphError, HookCx, HookSpec, MsgCx, NodeType, Slot,
};
use crate::value::Value;

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
    fn type_name(&self) -> &'static str {
        "tee"
    }
    fn new_hook(&self, name: &str, _cx: &HookCx<'_>) -> Result<HookSpec, String> {
        NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| HookSpec { slot: *s, tag: 0 })
            .ok_or_else(|| "tee hooks are left, right, left2right, right2left".to_string())
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        NAMES.iter().map(|(n, _)| n.to_string()).find(|n| !used(n))
    }
    fn splice_on_shutdown(&self) -> Option<(&'static str, &'static str)> {
        Some(("left", "right"))
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
            for i in 0..frames.len() {
                let f = frames.as_slice()[i];
                if let Some(c) = cx.copy(&f) {
                    cx.send(d, c);
                }
            }
        }
        cx.forward(dest, frames);
    }
    fn messages(&self) -> &'static [&'static str] {
        &["getstats", "clrstats", "getclrstats"]
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
