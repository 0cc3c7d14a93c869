//! `vlan`: 802.1Q / 802.1ad tagging and demultiplexing (ng_vlan).
//!
//! Hooks:
//! * `downstream`: the trunk. A tagged frame (TPID = `encapproto`, or an out-of-band tag)
//!   whose VID has a filter has its tag removed and goes out that filter's hook; untagged
//!   frames and unmatched VIDs go out `nomatch` (with `decap` on, an in-band tag is first
//!   removed and kept out of band, so `nomatch` → `downstream` with encap can restore it).
//! * `nomatch`: frames from `downstream` that matched no filter; frames written here go to
//!   `downstream` unchanged (or, with encap bit 2 and an out-of-band tag, re-tagged in band).
//! * any other name: a filter hook, bound to a VID by `addfilter`. Frames written to it are
//!   tagged (VID, PCP, CFI; TPID `encapproto`) and sent out `downstream`. Frames from a hook
//!   without a filter are dropped (`no_filter`).
//!
//! Messages: `addfilter { hook="h" vid=N pcp=N cfi=N }` (`vlan=` is accepted for `vid=`),
//! `delfilter "<hook>"`, `delvidflt <vid>`, `gettable` → `{ n=N filter=[ {...} ] }`,
//! `getdecap`/`setdecap <0|1>`, `getencap`/`setencap <bits>` (1: tag frames from filter hooks
//! in band, the default; 2: tag frames from nomatch that carry an out-of-band tag),
//! `getencapproto`/`setencapproto <0x8100|0x88a8>`, and `getstats`/`clrstats` (per-hook
//! in/out frames and octets; netgraph's vlan has none, we add them).
//! Drops: `runt`, `tag_failed` (truncated tag, no room to insert), `no_filter`, plus
//! `not_connected` when the destination hook is missing.

use crate::buf::VTAG_PRESENT;
use crate::graph::{
    hook_stat, BurstBox, Cx, DropReason, GraphError, HookCx, HookSpec, HookState, MsgCx, NodeType,
    Slot,
};
use crate::value::Value;
use crate::wire::{EtherType, Tci};
use std::sync::atomic::{
    AtomicU32,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

const DOWNSTREAM: Slot = 0;
const NOMATCH: Slot = 1;
/// Hook word bit: the hook has a filter; the low 16 bits hold its TCI.
const FILTER_SET: u64 = 1 << 32;
pub const ENCAP_FROM_FILTER: u32 = 1;
pub const ENCAP_FROM_NOMATCH: u32 = 2;

pub struct Vlan {
    /// VID → slot + 1 of its filter hook (0: none).
    by_vid: Box<[AtomicU32]>,
    decap: AtomicU32,
    encap: AtomicU32,
    encap_proto: AtomicU32,
}

const MSGS: &[&str] = &[
    "addfilter",
    "delfilter",
    "delvidflt",
    "gettable",
    "getdecap",
    "setdecap",
    "getencap",
    "setencap",
    "getencapproto",
    "setencapproto",
    "getstats",
    "clrstats",
];

impl Default for Vlan {
    fn default() -> Self {
        Self::new()
    }
}

impl Vlan {
    pub fn new() -> Vlan {
        Vlan {
            by_vid: (0..4096).map(|_| AtomicU32::new(0)).collect(),
            decap: AtomicU32::new(0),
            encap: AtomicU32::new(ENCAP_FROM_FILTER),
            encap_proto: AtomicU32::new(EtherType::VLAN as u32),
        }
    }

    /// The filter hook for `vid`, if its hook in this topology still carries that filter.
    #[inline]
    fn filter_slot(&self, cx: &Cx<'_>, vid: u16) -> Option<Slot> {
        let s = self.by_vid[vid as usize].load(Acquire);
        if s == 0 {
            return None;
        }
        let slot = (s - 1) as Slot;
        let w = cx.hook(slot)?.word.load(Acquire);
        (w & FILTER_SET != 0 && Tci(w as u16).vid() == vid).then_some(slot)
    }

    fn demux_downstream(&self, cx: &mut Cx<'_>, frames: &mut BurstBox) {
        let proto = self.encap_proto.load(Relaxed) as u16;
        let decap = self.decap.load(Relaxed) != 0;
        for mut f in frames.drain() {
            if f.len < 14 {
                cx.drop_frame(f, DropReason::Runt);
                continue;
            }
            let d = cx.data(&f);
            let etype = u16::from_be_bytes([d[12], d[13]]);
            let (vid, inband) = match f.oob_tag() {
                Some(t) => (t.vid(), false),
                None if etype == proto => {
                    if f.len < 18 {
                        cx.drop_frame(f, DropReason::TagFailed);
                        continue;
                    }
                    (Tci(u16::from_be_bytes([d[14], d[15]])).vid(), true)
                }
                None => {
                    cx.send(NOMATCH, f);
                    continue;
                }
            };
            match self.filter_slot(cx, vid) {
                Some(slot) => {
                    if inband {
                        if cx.pool().strip_vlan_tag(&mut f).is_err() {
                            cx.drop_frame(f, DropReason::TagFailed);
                            continue;
                        }
                    } else {
                        f.vtag = 0;
                    }
                    cx.send(slot, f);
                }
                None => {
                    if inband && decap {
                        match cx.pool().strip_vlan_tag(&mut f) {
                            Ok((_, tci)) => f.vtag = VTAG_PRESENT | tci.0 as u32,
                            Err(_) => {
                                cx.drop_frame(f, DropReason::TagFailed);
                                continue;
                            }
                        }
                    }
                    cx.send(NOMATCH, f);
                }
            }
        }
    }

    fn to_downstream(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        let encap = self.encap.load(Relaxed);
        let proto = self.encap_proto.load(Relaxed) as u16;
        if slot == NOMATCH {
            if encap & ENCAP_FROM_NOMATCH == 0
                || frames.as_slice().iter().all(|f| f.oob_tag().is_none())
            {
                return cx.forward(DOWNSTREAM, frames);
            }
            for mut f in frames.drain() {
                if let Some(t) = f.oob_tag() {
                    f.vtag = 0;
                    if cx.pool().insert_vlan_tag(&mut f, proto, t).is_err() {
                        cx.drop_frame(f, DropReason::TagFailed);
                        continue;
                    }
                }
                cx.send(DOWNSTREAM, f);
            }
            return;
        }
        let w = cx.hook(slot).map_or(0, |h| h.word.load(Acquire));
        if w & FILTER_SET == 0 {
            return cx.drop_all(frames, DropReason::NoFilter);
        }
        let tci = Tci(w as u16);
        if encap & ENCAP_FROM_FILTER == 0 {
            for f in frames.as_mut_slice() {
                f.vtag = VTAG_PRESENT | tci.0 as u32;
            }
            return cx.forward(DOWNSTREAM, frames);
        }
        let mut failed = false;
        for f in frames.as_mut_slice() {
            if f.len < 12 {
                failed = true;
                continue;
            }
            if cx.pool().insert_vlan_tag(f, proto, tci).is_err() {
                failed = true;
            }
        }
        if !failed {
            return cx.forward(DOWNSTREAM, frames);
        }
        // Rare: some frames could not be tagged. Send the tagged ones, drop the rest.
        for f in frames.drain() {
            let d = cx.data(&f);
            if d.len() >= 16
                && u16::from_be_bytes([d[12], d[13]]) == proto
                && u16::from_be_bytes([d[14], d[15]]) == tci.0
            {
                cx.send(DOWNSTREAM, f);
            } else {
                cx.drop_frame(f, DropReason::TagFailed);
            }
        }
    }

    fn clear_filter(&self, h: &HookState) {
        let w = h.word.swap(0, AcqRel);
        if w & FILTER_SET != 0 {
            let vid = Tci(w as u16).vid() as usize;
            let _ = self.by_vid[vid].compare_exchange(h.slot as u32 + 1, 0, Release, Relaxed);
        }
    }

    fn table(&self, cx: &MsgCx<'_>) -> Vec<Value> {
        let mut rows: Vec<(u16, Value)> = cx
            .hooks()
            .filter_map(|h| {
                let w = h.word.load(Acquire);
                (w & FILTER_SET != 0).then(|| {
                    let t = Tci(w as u16);
                    (
                        t.vid(),
                        Value::record([
                            ("hook", Value::Str(h.name.clone())),
                            ("vid", Value::Uint(t.vid() as u64)),
                            ("pcp", Value::Uint(t.pcp() as u64)),
                            ("cfi", Value::Uint(t.cfi() as u64)),
                        ]),
                    )
                })
            })
            .collect();
        rows.sort_by_key(|(v, _)| *v);
        rows.into_iter().map(|(_, v)| v).collect()
    }
}

fn flag(cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>, max: i128) -> Result<u32, GraphError> {
    let v = cx.need(cmd, arg, "an integer")?;
    Ok(v.int_in(cmd, 0, max).map_err(|e| cx.bad(cmd, e.0))? as u32)
}

impl NodeType for Vlan {
    fn type_name(&self) -> &'static str {
        "vlan"
    }
    fn new_hook(&self, name: &str, cx: &HookCx<'_>) -> Result<HookSpec, String> {
        let slot = match name {
            "downstream" => DOWNSTREAM,
            "nomatch" => NOMATCH,
            _ => cx.first_free(2)?,
        };
        Ok(HookSpec { slot, tag: 0 })
    }
    fn disconnected(&self, hook: &HookState, _cx: &mut MsgCx<'_>) {
        self.clear_filter(hook);
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        (0..).map(|i| format!("_save{i}")).find(|n| !used(n))
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        if slot == DOWNSTREAM {
            self.demux_downstream(cx, frames)
        } else {
            self.to_downstream(cx, slot, frames)
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
            "addfilter" => {
                let a = cx.need(cmd, arg, "{ hook=\"name\" vid=N pcp=N cfi=N }")?;
                a.check_fields(&["hook", "vid", "vlan", "pcp", "cfi"])
                    .map_err(|e| cx.bad(cmd, e.0))?;
                let hook = a
                    .field("hook")
                    .and_then(Value::as_str)
                    .ok_or_else(|| cx.bad(cmd, "hook=\"name\" is required"))?;
                let num = |n: &str, max| -> Result<i128, GraphError> {
                    match a.field(n) {
                        None => Ok(0),
                        Some(v) => v.int_in(n, 0, max).map_err(|e| cx.bad(cmd, e.0)),
                    }
                };
                let (vid_new, vid_old) = (num("vid", 4095)?, num("vlan", 4095)?);
                if vid_new != 0 && vid_old != 0 && vid_new != vid_old {
                    return Err(cx.bad(cmd, "vid and vlan disagree"));
                }
                let vid = vid_new.max(vid_old) as u16;
                let tci = Tci::new(vid, num("pcp", 7)? as u8, num("cfi", 1)? as u8)
                    .map_err(|e| cx.bad(cmd, e.to_string()))?;
                let h = cx.hook(hook).ok_or_else(|| GraphError::NoHook {
                    node: cx.node().to_string(),
                    hook: hook.to_string(),
                })?;
                if h.slot == DOWNSTREAM || h.slot == NOMATCH {
                    return Err(cx.bad(cmd, format!("\"{hook}\" cannot carry a filter")));
                }
                if h.word.load(Acquire) & FILTER_SET != 0 {
                    return Err(GraphError::Exists(format!(
                        "{} filter on hook \"{hook}\"",
                        cx.node()
                    )));
                }
                if self.by_vid[vid as usize].load(Acquire) != 0 {
                    return Err(GraphError::Exists(format!(
                        "{} filter for vid {vid}",
                        cx.node()
                    )));
                }
                h.word.store(FILTER_SET | tci.0 as u64, Release);
                self.by_vid[vid as usize].store(h.slot as u32 + 1, Release);
                None
            }
            "delfilter" => {
                let a = cx.need(cmd, arg, "\"<hook>\"")?;
                let hook = a
                    .as_str()
                    .ok_or_else(|| cx.bad(cmd, "expected a hook name"))?;
                let h = cx.hook(hook).ok_or_else(|| GraphError::NoHook {
                    node: cx.node().to_string(),
                    hook: hook.to_string(),
                })?;
                if h.word.load(Acquire) & FILTER_SET == 0 {
                    return Err(GraphError::NotFound(format!(
                        "{} filter on hook \"{hook}\"",
                        cx.node()
                    )));
                }
                self.clear_filter(h);
                None
            }
            "delvidflt" => {
                let vid = flag(cx, cmd, arg, 4095)? as u16;
                let s = self.by_vid[vid as usize].load(Acquire);
                let h = (s != 0)
                    .then(|| cx.hook_at((s - 1) as Slot))
                    .flatten()
                    .cloned();
                match h {
                    Some(h) if h.word.load(Acquire) & FILTER_SET != 0 => self.clear_filter(&h),
                    _ => {
                        return Err(GraphError::NotFound(format!(
                            "{} filter for vid {vid}",
                            cx.node()
                        )))
                    }
                }
                None
            }
            "gettable" => {
                cx.none(cmd, arg)?;
                let rows = self.table(cx);
                Some(Value::record([
                    ("n", Value::Uint(rows.len() as u64)),
                    ("filter", Value::Array(rows)),
                ]))
            }
            "getdecap" => {
                cx.none(cmd, arg)?;
                Some(Value::Uint(self.decap.load(Relaxed) as u64))
            }
            "setdecap" => {
                self.decap.store(flag(cx, cmd, arg, 1)?, Relaxed);
                None
            }
            "getencap" => {
                cx.none(cmd, arg)?;
                Some(Value::Uint(self.encap.load(Relaxed) as u64))
            }
            "setencap" => {
                self.encap.store(flag(cx, cmd, arg, 3)?, Relaxed);
                None
            }
            "getencapproto" => {
                cx.none(cmd, arg)?;
                Some(Value::Hex(self.encap_proto.load(Relaxed) as u64))
            }
            "setencapproto" => {
                let p = flag(cx, cmd, arg, 0xffff)?;
                if p != EtherType::VLAN as u32 && p != EtherType::QINQ as u32 {
                    return Err(cx.bad(
                        cmd,
                        format!("0x{p:x} is not a VLAN TPID (0x8100 or 0x88a8)"),
                    ));
                }
                self.encap_proto.store(p, Relaxed);
                None
            }
            "getstats" | "clrstats" => {
                cx.none(cmd, arg)?;
                let rows: Vec<Value> = cx
                    .hooks()
                    .map(|h| {
                        let mut f = vec![("hook".to_string(), Value::Str(h.name.clone()))];
                        for (i, n) in hook_stat::NAMES.iter().enumerate() {
                            f.push((n.to_string(), Value::Uint(h.stats.get(i))));
                        }
                        if cmd == "clrstats" {
                            h.stats.clear();
                        }
                        Value::Struct(f)
                    })
                    .collect();
                (cmd == "getstats").then(|| Value::record([("hooks", Value::Array(rows))]))
            }
            _ => return Err(cx.unknown(cmd, MSGS)),
        })
    }
    fn config_msgs(&self, cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        let mut v = Vec::new();
        let proto = self.encap_proto.load(Relaxed);
        if proto != EtherType::VLAN as u32 {
            v.push(("setencapproto".into(), Some(Value::Hex(proto as u64))));
        }
        let encap = self.encap.load(Relaxed);
        if encap != ENCAP_FROM_FILTER {
            v.push(("setencap".into(), Some(Value::Uint(encap as u64))));
        }
        if self.decap.load(Relaxed) != 0 {
            v.push(("setdecap".into(), Some(Value::Uint(1))));
        }
        for row in self.table(cx) {
            v.push(("addfilter".into(), Some(row)));
        }
        v
    }
}
