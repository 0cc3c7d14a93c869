//! `vlan`: 802.1Q / 802.1ad tagging and demultiplexing (ng_vlan).
//!
//! A tagged frame on `downstream` (TPID = `encapproto`, or an out-of-band tag) whose VID has a
//! filter loses its tag and goes out that filter's hook; untagged frames and unmatched VIDs go
//! out `nomatch` (with `decap` on, an in-band tag is first removed and kept out of band, so
//! `nomatch` → `downstream` with encap bit 2 can restore it). Frames written to a filter hook
//! are tagged (VID, PCP, CFI; TPID `encapproto`) and sent out `downstream`.

use crate::buf::Frame;
use crate::graph::{
    hook_stat, BurstBox, Create, Cx, GraphError, HookCx, HookError, HookSpec, HookState, MsgCx,
    MsgSpec, NodeType, Slot, TypeInfo,
};
use crate::value::Value;
use crate::wire::{EtherType, EthernetFrame, Tci, VlanHeader, ETHERNET_ADDRS_LEN, VLAN_TAG_LEN};
use std::sync::atomic::{
    AtomicU32,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

crate::drop_reasons! {
    pub mod reason {
        RUNT = "runt": "shorter than an Ethernet header",
        TAG_FAILED = "tag_failed": "a VLAN tag could not be inserted or removed (no room, truncated)",
        NO_FILTER = "no_filter": "frame from a vlan hook that has no filter",
    }
}

const HOOK_ARG: &str = "\"<hook>\"";
const FLAG_ARG: &str = "<0|1>";

pub static TYPE: TypeInfo = TypeInfo {
    name: "vlan",
    summary: "802.1Q / 802.1ad tagging and demultiplexing (ng_vlan)",
    hooks: "downstream: the trunk. nomatch: frames from downstream that matched no filter; \
            frames written here go to downstream unchanged (or re-tagged, see setencap). Any \
            other name: a filter hook, bound to a VID by addfilter; frames from a hook \
            without a filter are dropped (no_filter)",
    messages: &[
        MsgSpec {
            name: "addfilter",
            args: "{ hook=\"<hook>\" vid=N pcp=N cfi=N }",
            help: "bind a hook to a VID (vlan= is accepted for vid=); its frames are tagged \
                   with the VID, PCP and CFI",
        },
        MsgSpec {
            name: "delfilter",
            args: HOOK_ARG,
            help: "remove a hook's filter",
        },
        MsgSpec {
            name: "delvidflt",
            args: "<vid>",
            help: "remove the filter of a VID",
        },
        MsgSpec {
            name: "gettable",
            args: "",
            help: "{ n=N filter=[ { hook vid pcp cfi } ... ] }",
        },
        MsgSpec {
            name: "getdecap",
            args: "",
            help: "1 if unmatched tagged frames lose their tag (kept out of band)",
        },
        MsgSpec {
            name: "setdecap",
            args: FLAG_ARG,
            help: "remove the tag of unmatched tagged frames, keeping it out of band",
        },
        MsgSpec {
            name: "getencap",
            args: "",
            help: "the encap bits",
        },
        MsgSpec {
            name: "setencap",
            args: "<0..3>",
            help: "bit 1: tag frames from filter hooks in band (the default); bit 2: tag frames \
                   from nomatch that carry an out-of-band tag",
        },
        MsgSpec {
            name: "getencapproto",
            args: "",
            help: "the TPID of the tags written",
        },
        MsgSpec {
            name: "setencapproto",
            args: "<0x8100|0x88a8>",
            help: "the TPID of the tags written and matched",
        },
        MsgSpec {
            name: "getstats",
            args: "",
            help: "{ hooks=[ { hook inFrames inOctets outFrames outOctets } ... ] } (not in \
                   netgraph's vlan)",
        },
        MsgSpec {
            name: "clrstats",
            args: "",
            help: "clear every hook's counters",
        },
    ],
    hook_counters: &[],
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|_| Box::new(Vlan::new())),
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
        for f in frames.drain() {
            self.demux_one(cx, f, proto, decap);
        }
    }

    /// Sends a frame from `downstream` to its VID's filter hook, or to `nomatch`.
    #[inline(always)]
    fn demux_one(&self, cx: &mut Cx<'_>, mut f: Frame, proto: u16, decap: bool) {
        let d = cx.data(&f);
        let Ok(eth) = EthernetFrame::new_checked(d) else {
            return cx.drop_frame(f, reason::RUNT);
        };
        let (vid, inband) = match f.oob_tag() {
            Some(t) => (t.vid(), false),
            None if eth.ethertype() == proto => {
                match VlanHeader::new_checked(&d[ETHERNET_ADDRS_LEN..]) {
                    Ok(tag) => (tag.tci().vid(), true),
                    Err(_) => return cx.drop_frame(f, reason::TAG_FAILED),
                }
            }
            None => return cx.send(NOMATCH, f),
        };
        match self.filter_slot(cx, vid) {
            Some(slot) => {
                if !inband {
                    f.set_oob_tag(None);
                } else if cx.pool().strip_vlan_tag(&mut f).is_err() {
                    return cx.drop_frame(f, reason::TAG_FAILED);
                }
                cx.send(slot, f);
            }
            None => {
                if inband && decap {
                    match cx.pool().strip_vlan_tag(&mut f) {
                        Ok((_, tci)) => f.set_oob_tag(Some(tci)),
                        Err(_) => return cx.drop_frame(f, reason::TAG_FAILED),
                    }
                }
                cx.send(NOMATCH, f);
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
                    f.set_oob_tag(None);
                    if cx.pool().insert_vlan_tag(&mut f, proto, t).is_err() {
                        cx.drop_frame(f, reason::TAG_FAILED);
                        continue;
                    }
                }
                cx.send(DOWNSTREAM, f);
            }
            return;
        }
        let w = cx.hook(slot).map_or(0, |h| h.word.load(Acquire));
        if w & FILTER_SET == 0 {
            return cx.drop_all(frames, reason::NO_FILTER);
        }
        let tci = Tci(w as u16);
        if encap & ENCAP_FROM_FILTER == 0 {
            for f in frames.as_mut_slice() {
                f.set_oob_tag(Some(tci));
            }
            return cx.forward(DOWNSTREAM, frames);
        }
        let mut failed = false;
        for f in frames.as_mut_slice() {
            if (f.len as usize) < ETHERNET_ADDRS_LEN {
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
            let tagged = d.len() >= ETHERNET_ADDRS_LEN + VLAN_TAG_LEN && {
                let tag = VlanHeader::new_unchecked(&d[ETHERNET_ADDRS_LEN..]);
                tag.tpid() == proto && tag.tci() == tci
            };
            if tagged {
                cx.send(DOWNSTREAM, f);
            } else {
                cx.drop_frame(f, reason::TAG_FAILED);
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
    let v = cx.need(cmd, arg)?;
    Ok(v.int_in(cmd, 0, max).map_err(|e| cx.bad(cmd, e.0))? as u32)
}

fn no_hook(cx: &MsgCx<'_>, hook: &str) -> GraphError {
    GraphError::NoHook {
        node: cx.node().to_string(),
        hook: hook.to_string(),
    }
}

/// The TCI of an `addfilter` argument: `vid=` (or netgraph's older `vlan=`), `pcp=`, `cfi=`.
fn filter_tci(cx: &MsgCx<'_>, cmd: &str, a: &Value) -> Result<Tci, GraphError> {
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
    Tci::new(vid, num("pcp", 7)? as u8, num("cfi", 1)? as u8)
        .map_err(|e| cx.bad(cmd, e.to_string()))
}

impl Vlan {
    fn add_filter(&self, cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let a = cx.need(cmd, arg)?;
        a.check_fields(&["hook", "vid", "vlan", "pcp", "cfi"])
            .map_err(|e| cx.bad(cmd, e.0))?;
        let hook = a
            .field("hook")
            .and_then(Value::as_str)
            .ok_or_else(|| cx.bad(cmd, "hook=\"name\" is required"))?;
        let tci = filter_tci(cx, cmd, a)?;
        let vid = tci.vid();
        let h = cx.hook(hook).ok_or_else(|| no_hook(cx, hook))?;
        if h.slot == DOWNSTREAM || h.slot == NOMATCH {
            return Err(cx.bad(cmd, format!("\"{hook}\" cannot carry a filter")));
        }
        if h.word.load(Acquire) & FILTER_SET != 0 {
            let what = format!("{} filter on hook \"{hook}\"", cx.node());
            return Err(GraphError::Exists(what));
        }
        if self.by_vid[vid as usize].load(Acquire) != 0 {
            let what = format!("{} filter for vid {vid}", cx.node());
            return Err(GraphError::Exists(what));
        }
        h.word.store(FILTER_SET | tci.0 as u64, Release);
        self.by_vid[vid as usize].store(h.slot as u32 + 1, Release);
        Ok(())
    }

    fn del_filter(&self, cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let a = cx.need(cmd, arg)?;
        let hook = a
            .as_str()
            .ok_or_else(|| cx.bad(cmd, "expected a hook name"))?;
        let h = cx.hook(hook).ok_or_else(|| no_hook(cx, hook))?;
        if h.word.load(Acquire) & FILTER_SET == 0 {
            let what = format!("{} filter on hook \"{hook}\"", cx.node());
            return Err(GraphError::NotFound(what));
        }
        self.clear_filter(h);
        Ok(())
    }

    fn del_vid_filter(
        &self,
        cx: &MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<(), GraphError> {
        let vid = flag(cx, cmd, arg, 4095)? as u16;
        let s = self.by_vid[vid as usize].load(Acquire);
        let h = (s != 0).then(|| cx.hook_at((s - 1) as Slot)).flatten();
        match h {
            Some(h) if h.word.load(Acquire) & FILTER_SET != 0 => {
                self.clear_filter(h);
                Ok(())
            }
            _ => Err(GraphError::NotFound(format!(
                "{} filter for vid {vid}",
                cx.node()
            ))),
        }
    }

    fn set_encap_proto(
        &self,
        cx: &MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<(), GraphError> {
        let p = flag(cx, cmd, arg, 0xffff)?;
        if p != EtherType::VLAN as u32 && p != EtherType::QINQ as u32 {
            let why = format!("0x{p:x} is not a VLAN TPID (0x8100 or 0x88a8)");
            return Err(cx.bad(cmd, why));
        }
        self.encap_proto.store(p, Relaxed);
        Ok(())
    }

    /// `getstats` (`clear` false) or `clrstats`.
    fn hook_stats(cx: &MsgCx<'_>, clear: bool) -> Option<Value> {
        let row = |h: &std::sync::Arc<HookState>| {
            let mut f = vec![("hook".to_string(), Value::Str(h.name.clone()))];
            for (i, n) in hook_stat::NAMES.iter().enumerate() {
                f.push((n.to_string(), Value::Uint(h.stats.get(i))));
            }
            if clear {
                h.stats.clear();
            }
            Value::Struct(f)
        };
        let rows: Vec<Value> = cx.hooks().map(row).collect();
        (!clear).then(|| Value::record([("hooks", Value::Array(rows))]))
    }

    /// The messages without an argument that read a setting.
    fn get(&self, cx: &MsgCx<'_>, cmd: &str) -> Result<Value, GraphError> {
        Ok(match cmd {
            "gettable" => {
                let rows = self.table(cx);
                Value::record([
                    ("n", Value::Uint(rows.len() as u64)),
                    ("filter", Value::Array(rows)),
                ])
            }
            "getdecap" => Value::Uint(self.decap.load(Relaxed) as u64),
            "getencap" => Value::Uint(self.encap.load(Relaxed) as u64),
            "getencapproto" => Value::Hex(self.encap_proto.load(Relaxed) as u64),
            _ => return Err(cx.unknown(cmd)),
        })
    }
}

impl NodeType for Vlan {
    fn new_hook(&self, name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
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
        super::spare_any(used)
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        if slot == DOWNSTREAM {
            self.demux_downstream(cx, frames)
        } else {
            self.to_downstream(cx, slot, frames)
        }
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        match cmd {
            "addfilter" => self.add_filter(cx, cmd, arg)?,
            "delfilter" => self.del_filter(cx, cmd, arg)?,
            "delvidflt" => self.del_vid_filter(cx, cmd, arg)?,
            "setdecap" => self.decap.store(flag(cx, cmd, arg, 1)?, Relaxed),
            "setencap" => self.encap.store(flag(cx, cmd, arg, 3)?, Relaxed),
            "setencapproto" => self.set_encap_proto(cx, cmd, arg)?,
            "getstats" | "clrstats" => {
                cx.none(cmd, arg)?;
                return Ok(Self::hook_stats(cx, cmd == "clrstats"));
            }
            _ => {
                cx.none(cmd, arg)?;
                return self.get(cx, cmd).map(Some);
            }
        }
        Ok(None)
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
