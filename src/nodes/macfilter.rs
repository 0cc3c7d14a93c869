//! `macfilter`: steers an interface's frames by their source MAC address (ng_macfilter).
//!
//! Hooks: `ether` (to an ether node's `lower`), `default` (hook id 0), and any other name: an
//! upper hook, which takes the lowest hook id from 1 that no connected upper hook has (ids of
//! removed hooks are reused, as netgraph's `mf_upper` slots are). Hook id N is slot N + 1, so
//! ids stop at 4094 (the graph's slot limit; netgraph's are 16-bit).
//!
//! Frames from `ether` go out the upper hook their **source** MAC is directed to, or `default`
//! when the MAC is not in the table; frames from any upper hook go out `ether`. Frames are never
//! changed. A frame for a hook that is not connected is dropped `not_connected`; one shorter than
//! an Ethernet header is dropped `runt` (netgraph reads the header regardless).
//!
//! Messages: `reset` (empty the table), `direct { hookname ether }`, `directi { hookid ether }`,
//! `getmacs`, `getclrmacs`, `clrmacs`, `gethooks`. As in ng_macfilter.c, directing a MAC to
//! `default` removes it from the table, and so does directing it to a name no upper hook has
//! (`macfilter_find_hook` answers 0 for an unknown name, so netgraph's ENOENT there is never
//! returned); `directi` with an id no upper hook has is EINVAL. Removing an upper hook removes
//! its MACs from the table: they go back to `default`. The table has no size limit (netgraph's
//! grows by blocks of 128 until memory runs out); it is kept sorted by address, as `getmacs`
//! lists it. Workers binary-search it without locks; each change copies it (O(n), as
//! netgraph's insertions move the array) and publishes the copy through the epoch.
//!
//! Counters, per MAC in the table (per worker, summed on read): `packets_in`/`bytes_in` for
//! frames from `ether` with that source, `packets_out`/`bytes_out` for frames to `ether` with
//! that destination; bytes leave out the 14-byte Ethernet header, as netgraph counts them. A MAC
//! moved to another hook keeps its counters; one removed and directed again starts from zero.

use crate::counters::PerWorker;
use crate::epoch::EpochCell;
use crate::graph::{
    BurstBox, Create, Cx, DropReason, GraphError, HookCx, HookError, HookSpec, HookState, MsgCx,
    MsgSpec, NodeType, Slot, TypeInfo, MAX_SLOT,
};
use crate::value::Value;
use crate::wire::{EthernetFrame, MacAddr, ETHERNET_HEADER_LEN};
use std::sync::Arc;

crate::drop_reasons! {
    pub mod reason {
        /// Shorter than an Ethernet header: no address to steer or count by.
        RUNT = "runt": "shorter than an Ethernet header",
    }
}

const MAC_ARGS: &str = "{ hookname=\"<hook>\" ether=<aa:bb:cc:dd:ee:ff> }";
const MACS_REPLY: &str =
    "{ n=N macs=[ { ether hookid packets_in bytes_in packets_out bytes_out } ... ] }";

pub static TYPE: TypeInfo = TypeInfo {
    name: "macfilter",
    summary: "steers frames from an interface out of hooks chosen by their source MAC \
              (ng_macfilter)",
    hooks: "ether: to an ether node's lower; frames from it go out the upper hook their source \
            MAC is directed to, else default. default (hook id 0), and any other name (an upper \
            hook, the lowest free hook id from 1): frames written there go out ether. Removing \
            an upper hook sends its MACs back to default",
    messages: &[
        MsgSpec {
            name: "reset",
            args: "",
            help: "empty the MAC table: every MAC goes to default",
        },
        MsgSpec {
            name: "direct",
            args: MAC_ARGS,
            help: "frames from this source MAC go out the named upper hook (default, or a name \
                   no upper hook has, removes the MAC from the table)",
        },
        MsgSpec {
            name: "directi",
            args: "{ hookid=N ether=<aa:bb:cc:dd:ee:ff> }",
            help: "as direct, by hook id (0 is default); EINVAL when no upper hook has the id",
        },
        MsgSpec {
            name: "getmacs",
            args: "",
            help: MACS_REPLY,
        },
        MsgSpec {
            name: "getclrmacs",
            args: "",
            help: "getmacs, then clrmacs",
        },
        MsgSpec {
            name: "clrmacs",
            args: "",
            help: "clear every MAC's packet and byte counters",
        },
        MsgSpec {
            name: "gethooks",
            args: "",
            help: "{ n=N hooks=[ { hookname hookid maccnt } ... ] }: the upper hooks by id",
        },
    ],
    hook_counters: &[],
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|env| Box::new(MacFilter::new(env.epoch))),
};

const ETHER: Slot = 0;
/// Hook id 0.
const DEFAULT: Slot = 1;
/// The hook id netgraph gives `default`.
pub const DEFAULT_ID: u16 = 0;

/// Per-MAC counters, in this order.
const PACKETS_IN: usize = 0;
const BYTES_IN: usize = 1;
const PACKETS_OUT: usize = 2;
const BYTES_OUT: usize = 3;
const COUNTERS: [&str; 4] = ["packets_in", "bytes_in", "packets_out", "bytes_out"];
/// Frames from `ether`, by source MAC.
const IN: (usize, usize) = (PACKETS_IN, BYTES_IN);
/// Frames to `ether`, by destination MAC.
const OUT: (usize, usize) = (PACKETS_OUT, BYTES_OUT);

/// The slot of upper hook id `id` (None beyond the slots a node has).
fn slot_of(id: u16) -> Option<Slot> {
    if (id as u32) < MAX_SLOT as u32 {
        Some(id + 1)
    } else {
        None
    }
}

/// One MAC address in the table.
#[derive(Clone)]
struct Row {
    mac: MacAddr,
    hookid: u16,
    /// Shared by every table this address is in, so counters survive other edits.
    stats: Arc<PerWorker>,
}

impl Row {
    /// Counts one frame of `len` bytes in direction `dir` (`IN` or `OUT`).
    #[inline]
    fn count(&self, worker: usize, dir: (usize, usize), len: u32) {
        self.stats.add(worker, dir.0, 1);
        let payload = (len as u64).saturating_sub(ETHERNET_HEADER_LEN as u64);
        self.stats.add(worker, dir.1, payload);
    }
}

/// The MAC table as workers read it: addresses sorted, searched by binary search. Replaced
/// whole (through the epoch) by the management thread on every change.
#[derive(Default)]
struct Table {
    /// `rows[i].mac` as [`MacAddr::to_u64`]: the sort and search key.
    keys: Box<[u64]>,
    rows: Box<[Row]>,
}

impl Table {
    fn new(rows: Vec<Row>) -> Table {
        Table {
            keys: rows.iter().map(|r| r.mac.to_u64()).collect(),
            rows: rows.into_boxed_slice(),
        }
    }
    #[inline]
    fn find(&self, mac: u64) -> Option<&Row> {
        self.keys.binary_search(&mac).ok().map(|i| &self.rows[i])
    }
    fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    fn count_of(&self, hookid: u16) -> usize {
        self.rows.iter().filter(|r| r.hookid == hookid).count()
    }
}

/// Directs `mac` to `hookid` in `rows` (sorted): ng_macfilter's `macfilter_mactable_change`.
/// `DEFAULT_ID` removes it. Returns whether anything changed.
fn change(rows: &mut Vec<Row>, mac: MacAddr, hookid: u16, workers: usize) -> bool {
    match rows.binary_search_by_key(&mac.to_u64(), |r| r.mac.to_u64()) {
        Ok(i) if hookid == DEFAULT_ID => {
            rows.remove(i);
            true
        }
        Ok(i) => {
            let moved = rows[i].hookid != hookid;
            rows[i].hookid = hookid;
            moved
        }
        Err(_) if hookid == DEFAULT_ID => false,
        Err(i) => {
            let stats = Arc::new(PerWorker::new(workers, COUNTERS.len()));
            rows.insert(i, Row { mac, hookid, stats });
            true
        }
    }
}

pub struct MacFilter {
    table: EpochCell<Table>,
}

impl MacFilter {
    pub fn new(epoch: &crate::epoch::Epoch) -> MacFilter {
        MacFilter {
            table: EpochCell::new(epoch, Table::default()),
        }
    }

    /// Applies `f` to a copy of the table's rows and publishes the result if `f` says it
    /// changed something (management thread: the only writer).
    fn edit(&self, cx: &MsgCx<'_>, f: impl FnOnce(&mut Vec<Row>) -> bool) {
        let g = cx.epoch.pin_writer();
        let mut rows = self.table.load(&g).rows.to_vec();
        if f(&mut rows) {
            self.table.replace_pinned(cx.epoch, Table::new(rows), &g);
        }
    }

    /// Frames from `ether`: out the hook of their source MAC, else `default`.
    fn demux(cx: &mut Cx<'_>, t: &Table, frames: &mut BurstBox) {
        if t.is_empty() && no_runts(frames) {
            return out_all(cx, DEFAULT, frames);
        }
        let w = cx.worker();
        for f in frames.drain() {
            let Some((_, src)) = addrs(cx, &f) else {
                cx.drop_frame(f, reason::RUNT);
                continue;
            };
            let slot = match t.find(src) {
                Some(r) => {
                    r.count(w, IN, f.len);
                    r.hookid + 1
                }
                None => DEFAULT,
            };
            if cx.is_connected(slot) {
                cx.send(slot, f);
            } else {
                cx.drop_frame(f, DropReason::NotConnected);
            }
        }
    }

    /// Frames from an upper hook: out `ether`, counted against their destination MAC.
    fn to_ether(cx: &mut Cx<'_>, t: &Table, frames: &mut BurstBox) {
        if !cx.is_connected(ETHER) {
            return cx.drop_all(frames, DropReason::NotConnected);
        }
        let w = cx.worker();
        if no_runts(frames) {
            if !t.is_empty() {
                for f in frames.as_slice() {
                    let dst = EthernetFrame::new_unchecked(cx.data(f)).addrs_u64().0;
                    if let Some(r) = t.find(dst) {
                        r.count(w, OUT, f.len);
                    }
                }
            }
            return cx.forward(ETHER, frames);
        }
        for f in frames.drain() {
            let Some((dst, _)) = addrs(cx, &f) else {
                cx.drop_frame(f, reason::RUNT);
                continue;
            };
            if let Some(r) = t.find(dst) {
                r.count(w, OUT, f.len);
            }
            cx.send(ETHER, f);
        }
    }
}

/// Every frame of the burst has a whole Ethernet header.
#[inline]
fn no_runts(frames: &BurstBox) -> bool {
    (frames.as_slice().iter()).all(|f| f.len as usize >= ETHERNET_HEADER_LEN)
}

/// The frame's (destination, source) addresses as 48-bit integers; None for a runt.
#[inline]
fn addrs(cx: &Cx<'_>, f: &crate::buf::Frame) -> Option<(u64, u64)> {
    EthernetFrame::new_checked(cx.data(f))
        .ok()
        .map(|e| e.addrs_u64())
}

/// The whole burst out of `slot`, or dropped `not_connected`.
fn out_all(cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
    if cx.is_connected(slot) {
        cx.forward(slot, frames);
    } else {
        cx.drop_all(frames, DropReason::NotConnected);
    }
}

/// The MAC address of a `direct`/`directi` argument (absent: 00:00:00:00:00:00, as netgraph
/// reads a missing field).
fn ether_arg(cx: &MsgCx<'_>, cmd: &str, a: &Value) -> Result<MacAddr, GraphError> {
    match a.field("ether") {
        None => Ok(MacAddr::ZERO),
        Some(v) => v
            .as_mac()
            .ok_or_else(|| cx.bad(cmd, format!("ether: expected a MAC address, got {v}"))),
    }
}

/// The id of the upper hook named `name`; `DEFAULT_ID` when no upper hook has the name
/// (ng_macfilter's `macfilter_find_hook`).
fn hookid_by_name(cx: &MsgCx<'_>, name: &str) -> u16 {
    match cx.hook(name) {
        Some(h) if h.slot != ETHER => h.slot - 1,
        _ => DEFAULT_ID,
    }
}

impl MacFilter {
    /// `direct` and `directi`.
    fn direct(&self, cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let a = cx.need(cmd, arg)?;
        let by_name = cmd == "direct";
        let fields: &[&str] = if by_name {
            &["hookname", "ether"]
        } else {
            &["hookid", "ether"]
        };
        a.check_fields(fields).map_err(|e| cx.bad(cmd, e.0))?;
        let mac = ether_arg(cx, cmd, a)?;
        let hookid = if by_name {
            let name = match a.field("hookname") {
                None => "",
                Some(v) => v
                    .as_str()
                    .ok_or_else(|| cx.bad(cmd, format!("hookname: expected a string, got {v}")))?,
            };
            hookid_by_name(cx, name)
        } else {
            let id = match a.field("hookid") {
                None => 0,
                Some(v) => v
                    .int_in("hookid", 0, u16::MAX as i128)
                    .map_err(|e| cx.bad(cmd, e.0))?,
            } as u16;
            let upper = slot_of(id).and_then(|s| cx.hook_at(s));
            if upper.is_none() {
                return Err(cx.bad(cmd, format!("no upper hook has hook id {id}")));
            }
            id
        };
        self.edit(cx, |rows| change(rows, mac, hookid, cx.workers));
        Ok(())
    }

    /// `getmacs` (and, with `clear`, `getclrmacs`).
    fn macs(&self, cx: &MsgCx<'_>, clear: bool) -> Value {
        let g = cx.epoch.pin_writer();
        let t = self.table.load(&g);
        let rows: Vec<Value> = (t.rows.iter())
            .map(|r| {
                let mut f = vec![
                    ("ether".to_string(), Value::Mac(r.mac)),
                    ("hookid".to_string(), Value::Uint(r.hookid as u64)),
                ];
                for (i, n) in COUNTERS.iter().enumerate() {
                    f.push((n.to_string(), Value::Uint(r.stats.get(i))));
                }
                if clear {
                    r.stats.clear();
                }
                Value::Struct(f)
            })
            .collect();
        Value::record([
            ("n", Value::Uint(rows.len() as u64)),
            ("macs", Value::Array(rows)),
        ])
    }

    fn clear_counters(&self, cx: &MsgCx<'_>) {
        let g = cx.epoch.pin_writer();
        for r in self.table.load(&g).rows.iter() {
            r.stats.clear();
        }
    }

    /// `gethooks`: the upper hooks in hook id order with the MACs directed to each.
    fn hooks(&self, cx: &MsgCx<'_>) -> Value {
        let g = cx.epoch.pin_writer();
        let t = self.table.load(&g);
        let mut upper: Vec<&Arc<HookState>> = cx.hooks().filter(|h| h.slot != ETHER).collect();
        upper.sort_by_key(|h| h.slot);
        let rows: Vec<Value> = (upper.iter())
            .map(|h| {
                let id = h.slot - 1;
                Value::record([
                    ("hookname", Value::Str(h.name.clone())),
                    ("hookid", Value::Uint(id as u64)),
                    ("maccnt", Value::Uint(t.count_of(id) as u64)),
                ])
            })
            .collect();
        Value::record([
            ("n", Value::Uint(rows.len() as u64)),
            ("hooks", Value::Array(rows)),
        ])
    }
}

impl NodeType for MacFilter {
    fn new_hook(&self, name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        let slot = match name {
            "ether" => ETHER,
            "default" => DEFAULT,
            _ => cx.first_free(DEFAULT + 1)?,
        };
        Ok(HookSpec { slot, tag: 0 })
    }
    fn disconnected(&self, hook: &HookState, cx: &mut MsgCx<'_>) {
        if hook.slot != ETHER {
            let id = hook.slot - 1;
            self.edit(cx, |rows| {
                let before = rows.len();
                rows.retain(|r| r.hookid != id);
                rows.len() != before
            });
        }
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        super::spare_any(used)
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        let t = self.table.load(cx.guard());
        if slot == ETHER {
            Self::demux(cx, t, frames)
        } else {
            Self::to_ether(cx, t, frames)
        }
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        if cmd == "direct" || cmd == "directi" {
            self.direct(cx, cmd, arg)?;
            return Ok(None);
        }
        cx.none(cmd, arg)?;
        Ok(match cmd {
            "reset" => {
                self.edit(cx, |rows| {
                    let had = !rows.is_empty();
                    rows.clear();
                    had
                });
                None
            }
            "getmacs" | "getclrmacs" => Some(self.macs(cx, cmd == "getclrmacs")),
            "clrmacs" => {
                self.clear_counters(cx);
                None
            }
            "gethooks" => Some(self.hooks(cx)),
            _ => return Err(cx.unknown(cmd)),
        })
    }
    fn config_msgs(&self, cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        let g = cx.epoch.pin_writer();
        let t = self.table.load(&g);
        (t.rows.iter())
            .filter_map(|r| {
                let h = cx.hook_at(r.hookid + 1)?;
                let arg = Value::record([
                    ("hookname", Value::Str(h.name.clone())),
                    ("ether", Value::Mac(r.mac)),
                ]);
                Some(("direct".to_string(), Some(arg)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(n: u64) -> MacAddr {
        MacAddr::from_u64(n)
    }

    fn ids(rows: &[Row]) -> Vec<(u64, u16)> {
        rows.iter().map(|r| (r.mac.to_u64(), r.hookid)).collect()
    }

    #[test]
    fn change_keeps_the_table_sorted_and_default_removes() {
        let mut rows = Vec::new();
        assert!(change(&mut rows, m(5), 1, 2));
        assert!(change(&mut rows, m(1), 2, 2));
        assert!(change(&mut rows, m(9), 1, 2));
        assert!(change(&mut rows, m(3), 3, 2));
        assert_eq!(ids(&rows), vec![(1, 2), (3, 3), (5, 1), (9, 1)]);
        // To default: removed; a MAC not in the table stays out.
        assert!(change(&mut rows, m(3), DEFAULT_ID, 2));
        assert!(!change(&mut rows, m(4), DEFAULT_ID, 2));
        assert_eq!(ids(&rows), vec![(1, 2), (5, 1), (9, 1)]);
        // Same hook again: nothing changes.
        assert!(!change(&mut rows, m(5), 1, 2));
        let t = Table::new(rows);
        assert_eq!(t.find(5).map(|r| r.hookid), Some(1));
        assert!(t.find(3).is_none() && t.find(0).is_none() && t.find(10).is_none());
        assert_eq!((t.count_of(1), t.count_of(2), t.count_of(3)), (2, 1, 0));
    }

    #[test]
    fn a_moved_mac_keeps_its_counters_a_readded_one_starts_at_zero() {
        let mut rows = Vec::new();
        change(&mut rows, m(7), 1, 2);
        rows[0].count(1, IN, 100);
        rows[0].count(0, OUT, 10);
        change(&mut rows, m(7), 2, 2);
        let c = |r: &Row| (0..4).map(|i| r.stats.get(i)).collect::<Vec<_>>();
        assert_eq!(c(&rows[0]), vec![1, 86, 1, 0], "a runt's bytes count as 0");
        change(&mut rows, m(7), DEFAULT_ID, 2);
        change(&mut rows, m(7), 1, 2);
        assert_eq!(c(&rows[0]), vec![0; 4]);
    }

    #[test]
    fn hook_ids_are_the_lowest_free_from_one() {
        let f = MacFilter::new(&crate::epoch::Epoch::new());
        let taken = [0 as Slot, 1, 2, 4];
        let used = |s: Slot| taken.contains(&s);
        let cx = HookCx {
            used: &used,
            peer_is_self: false,
            num_hooks: taken.len(),
        };
        let slot = |n: &str| f.new_hook(n, &cx).unwrap().slot;
        assert_eq!((slot("ether"), slot("default")), (ETHER, DEFAULT));
        assert_eq!(slot("anything"), 3, "hook id 2: id 1 (slot 2) is taken");
        assert_eq!(slot_of(4094), Some(MAX_SLOT));
        assert_eq!(slot_of(4095), None);
    }
}
