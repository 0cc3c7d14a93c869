//! `etf`: an EtherType filter (ng_etf).
//!
//! Hooks: `downstream` (towards the wire), `nomatch`, and any other name: a match hook, bound
//! to EtherTypes by `setfilter` (a type has at most one hook; a hook may have several types).
//!
//! From `downstream`, the frame's EtherType (bytes 12–13: the outer one, no look-through a
//! VLAN tag) picks the way: a filtered type goes out its match hook, any other out `nomatch`.
//! A way that is not connected drops the frame (`not_connected`).
//!
//! Towards `downstream`, a frame passes only from the hook a frame of its type from downstream
//! would go out of: a filtered type from its own match hook, an unfiltered one from `nomatch`.
//! Any other is dropped (`wrong_hook`: netgraph's EPROTOTYPE). So two etf nodes joined by match
//! hooks filtering the same type pass that type between their downstreams.
//!
//! Messages: `setfilter { matchhook="h" ethertype=N }` (ENOENT: no such hook; EINVAL: the
//! hook is `downstream`; EEXIST: the type has a filter already), `getstatus`, `setflag <int>`
//! (stored, no effect, as in netgraph). Removing a match hook deletes its filters.
//!
//! Counters (`getstatus`): `packets_in`, frames from `downstream` (runts excepted);
//! `packets_out`, frames sent out a connected `downstream`. Both restart from 0 when a
//! `downstream` hook is connected, as netgraph's newhook does. Frames shorter than an Ethernet
//! header are dropped (`runt`) in both directions.

use crate::buf::Frame;
use crate::counters::PerWorker;
use crate::epoch::{Epoch, EpochCell};
use crate::graph::{
    BurstBox, Create, Cx, DropReason, GraphError, HookCx, HookError, HookSpec, HookState, MsgCx,
    MsgSpec, NodeEnv, NodeType, Slot, TypeInfo,
};
use crate::value::Value;
use crate::wire::{EthernetFrame, ETHERNET_HEADER_LEN};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::OnceLock;

crate::drop_reasons! {
    pub mod reason {
        RUNT = "runt": "shorter than an Ethernet header",
        WRONG_HOOK = "wrong_hook": "towards downstream from the wrong hook: a filtered EtherType \
                                    not from its match hook, or an unfiltered one not from nomatch",
    }
}

pub static TYPE: TypeInfo = TypeInfo {
    name: "etf",
    summary: "an EtherType filter: frames from downstream go out the hook their EtherType is \
              filtered to, or nomatch (ng_etf)",
    hooks: "downstream: frames from here go out the match hook of their EtherType, else \
            nomatch. nomatch: frames of unfiltered EtherTypes, both ways. Any other name: a \
            match hook, bound to EtherTypes by setfilter; frames written to a hook go to \
            downstream only when their EtherType is filtered to that hook (unfiltered ones only \
            from nomatch), else are dropped (wrong_hook)",
    messages: &[
        MsgSpec {
            name: "getstatus",
            args: "",
            help: "{ packets_in packets_out }: frames from downstream, frames sent to it",
        },
        MsgSpec {
            name: "setflag",
            args: "<int>",
            help: "set the node's flags word (kept; it has no effect, as in netgraph)",
        },
        MsgSpec {
            name: "setfilter",
            args: "{ matchhook=\"<hook>\" ethertype=N }",
            help: "frames of this EtherType from downstream go out the hook (which must exist \
                   and not be downstream); a type has one hook, a hook may have several types",
        },
    ],
    hook_counters: &[],
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|env| Box::new(Etf::new(env))),
};

const DOWNSTREAM: Slot = 0;
const NOMATCH: Slot = 1;
/// Node counters, in `Etf::stats`.
const PACKETS_IN: usize = 0;
const PACKETS_OUT: usize = 1;

/// One EtherType's filter: the hook (slot, and uid to tell it from a later hook on the slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Filter {
    ethertype: u16,
    slot: Slot,
    uid: u64,
}

/// The filter of `ethertype` in `table` (sorted by EtherType).
#[inline]
fn lookup(table: &[Filter], ethertype: u16) -> Option<&Filter> {
    let i = table
        .binary_search_by_key(&ethertype, |f| f.ethertype)
        .ok()?;
    Some(&table[i])
}

/// `table` with `f` added in order; None when its EtherType has a filter already.
fn with_filter(table: &[Filter], f: Filter) -> Option<Box<[Filter]>> {
    let at = table
        .binary_search_by_key(&f.ethertype, |x| x.ethertype)
        .err()?;
    let mut v = table.to_vec();
    v.insert(at, f);
    Some(v.into_boxed_slice())
}

/// `table` without the filters of hook `uid`; None when it has none.
fn without_hook(table: &[Filter], uid: u64) -> Option<Box<[Filter]>> {
    if !table.iter().any(|f| f.uid == uid) {
        return None;
    }
    Some(table.iter().filter(|f| f.uid != uid).copied().collect())
}

pub struct Etf {
    /// The filters, sorted by EtherType (replaced whole by the management thread).
    filters: EpochCell<Box<[Filter]>>,
    /// `packets_in`, `packets_out`; made when the first hook connects (the worker count is
    /// known then, before any worker can run the node).
    stats: OnceLock<PerWorker>,
    flags: AtomicU32,
}

impl Etf {
    pub fn new(env: &NodeEnv<'_>) -> Etf {
        Etf {
            filters: EpochCell::new(env.epoch, Box::default()),
            stats: OnceLock::new(),
            flags: AtomicU32::new(0),
        }
    }

    #[inline]
    fn count(&self, cx: &Cx<'_>, i: usize, n: usize) {
        if let Some(s) = self.stats.get() {
            s.add(cx.worker(), i, n as u64);
        }
    }

    fn stat(&self, i: usize) -> u64 {
        self.stats.get().map_or(0, |s| s.get(i))
    }

    /// The current filters (management thread).
    fn table(&self, epoch: &Epoch) -> Box<[Filter]> {
        let g = epoch.pin_writer();
        self.filters.load(&g).clone()
    }

    /// Frames from `downstream`: each out its EtherType's match hook, or `nomatch`.
    fn demux_downstream(&self, cx: &mut Cx<'_>, frames: &mut BurstBox) {
        let table: &[Filter] = self.filters.load(cx.guard());
        let n = frames.len();
        let no_runt = || (frames.as_slice().iter()).all(|f| f.len as usize >= ETHERNET_HEADER_LEN);
        if table.is_empty() && no_runt() {
            self.count(cx, PACKETS_IN, n);
            return cx.forward(NOMATCH, frames);
        }
        let mut seen = 0;
        for f in frames.drain() {
            let Ok(eth) = EthernetFrame::new_checked(cx.data(&f)) else {
                cx.drop_frame(f, reason::RUNT);
                continue;
            };
            let way = match_slot(cx, table, eth.ethertype()).unwrap_or(NOMATCH);
            seen += 1;
            cx.send(way, f);
        }
        self.count(cx, PACKETS_IN, seen);
    }

    /// Frames from a match hook or `nomatch`, towards `downstream` if `slot` is their way.
    fn to_downstream(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        let table: &[Filter] = self.filters.load(cx.guard());
        let up = cx.is_connected(DOWNSTREAM);
        let all_pass = (frames.as_slice().iter()).all(|f| verdict(cx, table, slot, f).is_none());
        if all_pass {
            if up {
                self.count(cx, PACKETS_OUT, frames.len());
            }
            return cx.forward(DOWNSTREAM, frames);
        }
        let mut sent = 0;
        for f in frames.drain() {
            match verdict(cx, table, slot, &f) {
                Some(why) => cx.drop_frame(f, why),
                None => {
                    sent += 1;
                    cx.send(DOWNSTREAM, f);
                }
            }
        }
        if up {
            self.count(cx, PACKETS_OUT, sent);
        }
    }
}

/// The match hook of `ethertype` in this burst's topology (None: no filter, or one left by a
/// hook removed since).
#[inline]
fn match_slot(cx: &Cx<'_>, table: &[Filter], ethertype: u16) -> Option<Slot> {
    let f = lookup(table, ethertype)?;
    let h = cx.hook(f.slot)?;
    (h.uid == f.uid).then_some(f.slot)
}

/// Why a frame from `slot` may not go to `downstream` (None: it may).
#[inline]
fn verdict(cx: &Cx<'_>, table: &[Filter], slot: Slot, f: &Frame) -> Option<DropReason> {
    let Ok(eth) = EthernetFrame::new_checked(cx.data(f)) else {
        return Some(reason::RUNT);
    };
    let way = match_slot(cx, table, eth.ethertype()).unwrap_or(NOMATCH);
    (way != slot).then_some(reason::WRONG_HOOK)
}

impl Etf {
    fn set_filter(&self, cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let a = cx.need(cmd, arg)?;
        a.check_fields(&["matchhook", "ethertype"])
            .map_err(|e| cx.bad(cmd, e.0))?;
        // Absent fields are zero, as netgraph's parser makes them: no hook "" (ENOENT).
        let hook = match a.field("matchhook") {
            None => "",
            Some(v) => v
                .as_str()
                .ok_or_else(|| cx.bad(cmd, format!("matchhook: expected a hook name, got {v}")))?,
        };
        let ethertype = match a.field("ethertype") {
            None => 0,
            Some(v) => v
                .int_in("ethertype", 0, 0xffff)
                .map_err(|e| cx.bad(cmd, e.0))? as u16,
        };
        let h = cx.hook(hook).ok_or_else(|| GraphError::NoHook {
            node: cx.node().to_string(),
            hook: hook.to_string(),
        })?;
        if h.slot == DOWNSTREAM {
            return Err(cx.bad(cmd, "downstream cannot be a match hook"));
        }
        let f = Filter {
            ethertype,
            slot: h.slot,
            uid: h.uid,
        };
        let Some(t) = with_filter(&self.table(cx.epoch), f) else {
            let what = format!("{} filter for ethertype 0x{ethertype:04x}", cx.node());
            return Err(GraphError::Exists(what));
        };
        self.filters.replace(cx.epoch, t);
        Ok(())
    }

    fn set_flag(&self, cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let v = cx.need(cmd, arg)?;
        // ng_parse_int32_type: a signed or an unsigned 32-bit number.
        let n =
            (v.int_in("flag", i32::MIN as i128, u32::MAX as i128)).map_err(|e| cx.bad(cmd, e.0))?;
        self.flags.store(n as u32, Relaxed);
        Ok(())
    }

    fn status(&self) -> Value {
        Value::record([
            ("packets_in", Value::Uint(self.stat(PACKETS_IN))),
            ("packets_out", Value::Uint(self.stat(PACKETS_OUT))),
        ])
    }
}

impl NodeType for Etf {
    fn new_hook(&self, name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        let slot = match name {
            "downstream" => DOWNSTREAM,
            "nomatch" => NOMATCH,
            _ => cx.first_free(2)?,
        };
        Ok(HookSpec { slot, tag: 0 })
    }
    fn connected(&self, hook: &HookState, cx: &mut MsgCx<'_>) {
        let stats = self.stats.get_or_init(|| PerWorker::new(cx.workers, 2));
        if hook.slot == DOWNSTREAM {
            stats.clear();
        }
    }
    fn disconnected(&self, hook: &HookState, cx: &mut MsgCx<'_>) {
        if let Some(t) = without_hook(&self.table(cx.epoch), hook.uid) {
            self.filters.replace(cx.epoch, t);
        }
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
            "setfilter" => self.set_filter(cx, cmd, arg)?,
            "setflag" => self.set_flag(cx, cmd, arg)?,
            "getstatus" => {
                cx.none(cmd, arg)?;
                return Ok(Some(self.status()));
            }
            _ => return Err(cx.unknown(cmd)),
        }
        Ok(None)
    }
    fn config_msgs(&self, cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        let mut v = Vec::new();
        let flags = self.flags.load(Relaxed);
        if flags != 0 {
            v.push(("setflag".into(), Some(Value::Uint(flags as u64))));
        }
        for f in self.table(cx.epoch).iter() {
            let Some(h) = cx.hooks().find(|h| h.uid == f.uid) else {
                continue;
            };
            let arg = Value::record([
                ("matchhook", Value::Str(h.name.clone())),
                ("ethertype", Value::Hex(f.ethertype as u64)),
            ]);
            v.push(("setfilter".into(), Some(arg)));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fl(ethertype: u16, slot: Slot) -> Filter {
        Filter {
            ethertype,
            slot,
            uid: 100 + slot as u64,
        }
    }

    #[test]
    fn filters_stay_sorted_and_unique() {
        let t: Box<[Filter]> = Box::default();
        let t = with_filter(&t, fl(0x888e, 2)).unwrap();
        let t = with_filter(&t, fl(0x0800, 3)).unwrap();
        let t = with_filter(&t, fl(0x86dd, 2)).unwrap();
        let types: Vec<u16> = t.iter().map(|f| f.ethertype).collect();
        assert_eq!(types, [0x0800, 0x86dd, 0x888e]);
        assert_eq!(with_filter(&t, fl(0x86dd, 4)), None, "a type has one hook");
        assert_eq!(lookup(&t, 0x888e), Some(&fl(0x888e, 2)));
        assert_eq!(lookup(&t, 0x0806), None);
    }

    #[test]
    fn removing_a_hook_removes_all_its_filters() {
        let t: Box<[Filter]> = [fl(0x0800, 3), fl(0x86dd, 2), fl(0x888e, 2)].into();
        let left = without_hook(&t, 102).unwrap();
        assert_eq!(&left[..], &[fl(0x0800, 3)]);
        assert_eq!(without_hook(&left, 102), None, "nothing to remove");
        assert!(without_hook(&left, 103).unwrap().is_empty());
    }

    #[test]
    fn the_descriptor_names_netgraphs_messages() {
        let names: Vec<&str> = TYPE.messages.iter().map(|m| m.name).collect();
        assert_eq!(names, ["getstatus", "setflag", "setfilter"]);
        assert_eq!(reason::ALL[0].name, "runt");
        assert_eq!(reason::ALL[1].name, "wrong_hook");
    }
}
