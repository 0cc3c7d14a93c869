//! `one2many`: multiplexing one link over many (ng_one2many).
//!
//! Frames from any `many` hook go out `one`. Frames from `one` go out the enabled, connected
//! `many` links according to `xmitAlg`: 1 `roundrobin` (each frame to the next link; each
//! worker keeps its own position), 2 `all` (a copy to every link; a copy that cannot be made
//! is skipped, counted in that link's `memoryFailures` and as a `no_buffers` drop), 3
//! `failover` (the first enabled link). A link is enabled when it connects and disabled when it
//! disconnects; `setconfig` changes it.

use crate::graph::{
    hook_stat, BurstBox, Create, Cx, GraphError, HookCx, HookError, HookSpec, HookState, MsgCx,
    MsgSpec, NodeType, Slot, TypeInfo,
};
use crate::value::Value;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

crate::drop_reasons! {
    pub mod reason {
        NO_ACTIVE_LINK = "no_active_link": "one2many has no enabled many link",
    }
}

const LINK_ARG: &str = "<link#>";

pub static TYPE: TypeInfo = TypeInfo {
    name: "one2many",
    summary: "multiplexes one link over many (ng_one2many)",
    hooks: "one, and many0 ... many63: frames from a many hook go out one; frames from one go \
            out the enabled many links according to xmitAlg",
    messages: &[
        MsgSpec {
            name: "setconfig",
            args: "{ xmitAlg=N failAlg=N enabledLinks=[ ... ] }",
            help: "set the configuration (fields left out keep their values; xmitAlg also \
                   takes roundrobin/all/failover, failAlg manual/notify)",
        },
        MsgSpec {
            name: "getconfig",
            args: "",
            help: "{ xmitAlg failAlg enabledLinks=[ ... ] }",
        },
        MsgSpec {
            name: "getstats",
            args: LINK_ARG,
            help: "a link's { recvOctets recvPackets xmitOctets xmitPackets memoryFailures } \
                   (-1 is one)",
        },
        MsgSpec {
            name: "clrstats",
            args: LINK_ARG,
            help: "clear a link's counters (-1 is one)",
        },
        MsgSpec {
            name: "getclrstats",
            args: LINK_ARG,
            help: "getstats, then clrstats",
        },
    ],
    hook_counters: &["memoryFailures"],
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|_| Box::new(One2Many::new())),
};

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

const XMIT_ALGS: &[(&str, u32)] = &[
    ("roundrobin", XMIT_ROUNDROBIN),
    ("all", XMIT_ALL),
    ("failover", XMIT_FAILOVER),
];
const FAIL_ALGS: &[(&str, u32)] = &[("manual", FAIL_MANUAL), ("notify", FAIL_NOTIFY)];

/// An algorithm, by number or by name.
fn alg(
    cx: &MsgCx<'_>,
    cmd: &str,
    v: &Value,
    names: &[(&str, u32)],
    what: &str,
) -> Result<u32, GraphError> {
    if let Some((_, n)) = (v.as_str()).and_then(|s| names.iter().find(|(k, _)| *k == s)) {
        return Ok(*n);
    }
    let Some(n) = v.as_i128() else {
        let known: Vec<_> = names.iter().map(|x| x.0).collect();
        return Err(cx.bad(
            cmd,
            format!("{what}: expected a number or one of {known:?}"),
        ));
    };
    match names.iter().find(|(_, k)| *k as i128 == n) {
        Some(x) => Ok(x.1),
        None => {
            let known: Vec<_> = names.iter().map(|x| x.1).collect();
            Err(cx.bad(cmd, format!("{what}: {n} is not one of {known:?}")))
        }
    }
}

/// The `enabledLinks` array as a bit mask.
fn enabled_links(cx: &MsgCx<'_>, cmd: &str, v: &Value) -> Result<u64, GraphError> {
    let Value::Array(items) = v else {
        return Err(cx.bad(cmd, format!("enabledLinks: expected an array, got {v}")));
    };
    if items.len() > MAX_LINKS {
        let why = format!(
            "enabledLinks has {} entries; at most {MAX_LINKS}",
            items.len()
        );
        return Err(cx.bad(cmd, why));
    }
    let mut m = 0u64;
    for (i, v) in items.iter().enumerate() {
        let on = v
            .as_i128()
            .ok_or_else(|| cx.bad(cmd, "enabledLinks entries are 0 or 1"))?;
        if on != 0 {
            m |= 1 << i;
        }
    }
    Ok(m)
}

impl One2Many {
    /// Sends a burst from `one` out of the `n` active links.
    fn transmit(&self, cx: &mut Cx<'_>, active: &[Slot], frames: &mut BurstBox) {
        match self.xmit.load(Relaxed) {
            XMIT_ALL => {
                for &dst in &active[1..] {
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
                let n = active.len();
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

    fn set_config(&self, cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let a = cx.need(cmd, arg)?;
        a.check_fields(&["xmitAlg", "failAlg", "enabledLinks"])
            .map_err(|e| cx.bad(cmd, e.0))?;
        let xmit = match a.field("xmitAlg") {
            Some(v) => alg(cx, cmd, v, XMIT_ALGS, "xmitAlg")?,
            None => self.xmit.load(Relaxed),
        };
        let fail = match a.field("failAlg") {
            Some(v) => alg(cx, cmd, v, FAIL_ALGS, "failAlg")?,
            None => self.fail.load(Relaxed),
        };
        let en = match a.field("enabledLinks") {
            Some(v) => enabled_links(cx, cmd, v)?,
            None => self.enabled.load(Relaxed),
        };
        self.xmit.store(xmit, Relaxed);
        self.fail.store(fail, Relaxed);
        self.enabled.store(en, Relaxed);
        Ok(())
    }

    /// `getstats`, `clrstats`, `getclrstats` of link N (-1: `one`).
    fn link_stats(
        cx: &MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        let v = cx.need(cmd, arg)?;
        let n = v
            .int_in("link", -1, MAX_LINKS as i128 - 1)
            .map_err(|e| cx.bad(cmd, e.0))?;
        let h = cx.hook_at((n + 1) as Slot);
        let get = |i: usize| Value::Uint(h.map_or(0, |h| h.stats.get(i)));
        let reply = Value::record([
            ("recvOctets", get(hook_stat::IN_OCTETS)),
            ("recvPackets", get(hook_stat::IN_FRAMES)),
            ("xmitOctets", get(hook_stat::OUT_OCTETS)),
            ("xmitPackets", get(hook_stat::OUT_FRAMES)),
            ("memoryFailures", get(MEMORY_FAILURES)),
        ]);
        if let Some(h) = h.filter(|_| cmd != "getstats") {
            h.stats.clear();
        }
        Ok((cmd != "clrstats").then_some(reply))
    }
}

impl NodeType for One2Many {
    fn new_hook(&self, name: &str, _cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
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
            return cx.drop_all(frames, reason::NO_ACTIVE_LINK);
        }
        self.transmit(cx, &active[..n], frames);
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        match cmd {
            "getconfig" => {
                cx.none(cmd, arg)?;
                Ok(Some(self.config()))
            }
            "setconfig" => self.set_config(cx, cmd, arg).map(|_| None),
            "getstats" | "clrstats" | "getclrstats" => Self::link_stats(cx, cmd, arg),
            _ => Err(cx.unknown(cmd)),
        }
    }
    fn config_msgs(&self, _cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        vec![("setconfig".into(), Some(self.config()))]
    }
}
