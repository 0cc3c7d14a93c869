//! `one2many`: multiplexing one link over many (ng_one2many).
//!
//! Hooks: `one`, and `many0` … `many63`. Frames from any `many` hook go out `one`. Frames
//! from `one` go out the enabled, connected `many` links according to `xmitAlg`:
//! 1 `roundrobin` (each frame to the next link; each worker keeps its own position),
//! 2 `all` (a copy to every link), 3 `failover` (the first enabled link). A link is enabled
//! when it connects and disabled when it disconnects; `setconfig` changes it.
//! Messages: `setconfig { xmitAlg=N failAlg=N enabledLinks=[ ... ] }` (fields left out keep
//! their values; xmitAlg and failAlg also accept the names), `getconfig`,
//! `getstats <link#>`, `clrstats <link#>`, `getclrstats <link#>` (−1 is `one`):
//! `{ recvOctets recvPackets xmitOctets xmitPackets memoryFailures }`.
//! Drops: `no_active_link` (no enabled many link), `no_buffers` (a copy for `all`).

use crate::graph::{
    hook_stat, BurstBox, Cx, DropReason, GraphError, HookCx, HookSpec, HookState, MsgCx, NodeType,
    Slot,
};
use crate::value::Value;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

pub const MAX_LINKS: usize = 64;
const ONE: Slot = 0;
pub const XMIT_ROUNDROBIN: u32 = 1;
pub const XMIT_ALL: u32 = 2;
pub const XMIT_FAILOVER: u32 = 3;
pub const FAIL_MANUAL: u32 = 1;
pub const FAIL_NOTIFY: u32 = 2;
/// Extra per-hook counter: copies that could not be made.
const MEMORY_FAILURES: usize = hook_stat::GENERIC;

pub struct One2Many {
    xmit: AtomicU32,
    fail: AtomicU32,
    /// Bit n: many<n> enabled.
    enabled: AtomicU64,
    /// Round-robin position, per worker.
    rr: Box<[CachePadded<AtomicUsize>]>,
}

const MSGS: &[&str] = &[
    "setconfig",
    "getconfig",
    "getstats",
    "clrstats",
    "getclrstats",
];

impl Default for One2Many {
    fn default() -> Self {
        Self::new()
    }
}

impl One2Many {
    pub fn new() -> One2Many {
        One2Many {
            xmit: AtomicU32::new(XMIT_ROUNDROBIN),
            fail: AtomicU32::new(FAIL_MANUAL),
            enabled: AtomicU64::new(0),
            rr: (0..64)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
        }
    }

    fn config(&self) -> Value {
        let en = self.enabled.load(Relaxed);
        Value::record([
            ("xmitAlg", Value::Uint(self.xmit.load(Relaxed) as u64)),
            ("failAlg", Value::Uint(self.fail.load(Relaxed) as u64)),
            (
                "enabledLinks",
                Value::Array((0..MAX_LINKS).map(|i| Value::Uint((en >> i) & 1)).collect()),
            ),
        ])
    }
}

fn alg(v: &Value, names: &[(&str, u32)], what: &str) -> Result<u32, String> {
    if let Some(s) = v.as_str() {
        if let Some((_, n)) = names.iter().find(|(k, _)| *k == s) {
            return Ok(*n);
        }
    }
    let n = v.as_i128().ok_or_else(|| {
        format!(
            "{what}: expected a number or one of {:?}",
            names.iter().map(|x| x.0).collect::<Vec<_>>()
        )
    })?;
    names
        .iter()
        .find(|(_, k)| *k as i128 == n)
        .map(|x| x.1)
        .ok_or_else(|| {
            format!(
                "{what}: {n} is not one of {:?}",
                names.iter().map(|x| x.1).collect::<Vec<_>>()
            )
        })
}

impl NodeType for One2Many {
    fn type_name(&self) -> &'static str {
        "one2many"
    }
    fn new_hook(&self, name: &str, _cx: &HookCx<'_>) -> Result<HookSpec, String> {
        if name == "one" {
            return Ok(HookSpec { slot: ONE, tag: 0 });
        }
        match super::numbered(name, "many", MAX_LINKS as u32 - 1) {
            Some(n) => Ok(HookSpec {
                slot: n as Slot + 1,
                tag: n,
            }),
            None => Err("one2many hooks are one and many0..many63".into()),
        }
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        (0..MAX_LINKS)
            .map(|i| format!("many{i}"))
            .find(|n| !used(n))
    }
    fn hook_counters(&self) -> &'static [&'static str] {
        &["memoryFailures"]
    }
    fn connected(&self, hook: &HookState, _cx: &mut MsgCx<'_>) {
        if hook.slot != ONE {
            self.enabled.fetch_or(1 << hook.tag, Relaxed);
        }
    }
    fn disconnected(&self, hook: &HookState, _cx: &mut MsgCx<'_>) {
        if hook.slot != ONE {
            self.enabled.fetch_and(!(1 << hook.tag), Relaxed);
        }
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        if slot != ONE {
            return cx.forward(ONE, frames);
        }
        let en = self.enabled.load(Relaxed);
        let mut active = [0 as Slot; MAX_LINKS];
        let mut n = 0;
        for i in 0..MAX_LINKS {
            if en & (1 << i) != 0 && cx.is_connected(i as Slot + 1) {
                active[n] = i as Slot + 1;
                n += 1;
            }
        }
        if n == 0 {
            return cx.drop_all(frames, DropReason::NoActiveLink);
        }
        match self.xmit.load(Relaxed) {
            XMIT_ALL => {
                for &dst in &active[1..n] {
                    for i in 0..frames.len() {
                        let f = frames.as_slice()[i];
                        match cx.copy(&f) {
                            Some(c) => cx.send(dst, c),
                            None => {
                                if let Some(h) = cx.hook(dst) {
                                    cx.count(h, MEMORY_FAILURES, 1);
                                }
                            }
                        }
                    }
                }
                cx.forward(active[0], frames);
            }
            XMIT_FAILOVER => cx.forward(active[0], frames),
            _ => {
                let rr = &self.rr[cx.worker() % self.rr.len()];
                let mut pos = rr.load(Relaxed);
                for f in frames.drain() {
                    let p = pos % n;
                    cx.send(active[p], f);
                    pos = p + 1;
                }
                rr.store(pos, Relaxed);
            }
        }
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
        Ok(match cmd {
            "getconfig" => {
                cx.none(cmd, arg)?;
                Some(self.config())
            }
            "setconfig" => {
                let a = cx.need(cmd, arg, "{ xmitAlg=N failAlg=N enabledLinks=[ ... ] }")?;
                a.check_fields(&["xmitAlg", "failAlg", "enabledLinks"])
                    .map_err(|e| cx.bad(cmd, e.0))?;
                let xmit = match a.field("xmitAlg") {
                    Some(v) => alg(
                        v,
                        &[
                            ("roundrobin", XMIT_ROUNDROBIN),
                            ("all", XMIT_ALL),
                            ("failover", XMIT_FAILOVER),
                        ],
                        "xmitAlg",
                    )
                    .map_err(|e| cx.bad(cmd, e))?,
                    None => self.xmit.load(Relaxed),
                };
                let fail = match a.field("failAlg") {
                    Some(v) => alg(
                        v,
                        &[("manual", FAIL_MANUAL), ("notify", FAIL_NOTIFY)],
                        "failAlg",
                    )
                    .map_err(|e| cx.bad(cmd, e))?,
                    None => self.fail.load(Relaxed),
                };
                let en = match a.field("enabledLinks") {
                    Some(Value::Array(items)) => {
                        if items.len() > MAX_LINKS {
                            return Err(cx.bad(
                                cmd,
                                format!(
                                    "enabledLinks has {} entries; at most {MAX_LINKS}",
                                    items.len()
                                ),
                            ));
                        }
                        let mut m = 0u64;
                        for (i, v) in items.iter().enumerate() {
                            if v.as_i128()
                                .ok_or_else(|| cx.bad(cmd, "enabledLinks entries are 0 or 1"))?
                                != 0
                            {
                                m |= 1 << i;
                            }
                        }
                        m
                    }
                    Some(v) => {
                        return Err(cx.bad(cmd, format!("enabledLinks: expected an array, got {v}")))
                    }
                    None => self.enabled.load(Relaxed),
                };
                self.xmit.store(xmit, Relaxed);
                self.fail.store(fail, Relaxed);
                self.enabled.store(en, Relaxed);
                None
            }
            "getstats" | "clrstats" | "getclrstats" => {
                let v = cx.need(cmd, arg, "<link#> (-1 for one)")?;
                let n = v
                    .int_in("link", -1, MAX_LINKS as i128 - 1)
                    .map_err(|e| cx.bad(cmd, e.0))?;
                let slot = (n + 1) as Slot;
                let h = cx.hook_at(slot);
                let get = |i: usize| h.map_or(0, |h| h.stats.get(i));
                let reply = Value::record([
                    ("recvOctets", Value::Uint(get(hook_stat::IN_OCTETS))),
                    ("recvPackets", Value::Uint(get(hook_stat::IN_FRAMES))),
                    ("xmitOctets", Value::Uint(get(hook_stat::OUT_OCTETS))),
                    ("xmitPackets", Value::Uint(get(hook_stat::OUT_FRAMES))),
                    ("memoryFailures", Value::Uint(get(MEMORY_FAILURES))),
                ]);
                if cmd != "getstats" {
                    if let Some(h) = h {
                        h.stats.clear();
                    }
                }
                (cmd != "clrstats").then_some(reply)
            }
            _ => return Err(cx.unknown(cmd, MSGS)),
        })
    }
    fn config_msgs(&self, _cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        vec![("setconfig".into(), Some(self.config()))]
    }
}
