//! `vlan_rotate`: rotates a frame's stack of VLAN tags (ng_vlan_rotate).
//!
//! Hooks: `original`, `ordered`, `excessive`, `incomplete`. A frame from `original` whose
//! in-band stack of tags (TPIDs 0x8100, 0x88a8, 0x9100, 0x9200, 0x9300; see
//! [`VlanStack`]) is `depth` deep has its tags rotated by `rot` and goes out `ordered`: tag `i`
//! moves to position `(i + rot) mod depth`, so `rot=1` brings the innermost tag outermost and a
//! negative `rot` rolls the other way; each tag moves whole (TPID, PCP, CFI, VID). A frame from
//! `ordered` is rotated by `-rot` (undoing it) and goes out `original`. Before rotating, as
//! ng_vlan_rotate.c: a stack deeper than `max` or 10 tags or more goes out `excessive`
//! (counted `excessive`); one shallower than `min`, or not deeper than `|rot|`, goes out
//! `incomplete` (counted `incomplete`); otherwise the stack depth's `histogram` entry counts
//! it. Frames from `excessive` or `incomplete` go out `original` unchanged.
//!
//! With the direction's target (`ordered` or `original`) not connected, every frame is dropped
//! before its stack is looked at; a frame meant for an unconnected `excessive` or `incomplete`
//! is dropped too. Both are `not_connected` drops; a frame too short for its stack (the
//! EtherType ending it must be followed by two bytes, as the C node's `m_pullup`) is a
//! `truncated` drop. Every drop also counts in the node's `drops` statistic. An out-of-band
//! tag (hardware-stripped, `Frame::vtag`) is not part of the stack and is left as it is, as
//! ng_vlan_rotate ignores `M_VLANTAG`.
//!
//! Messages: `setconf { rot min max }` (fields left out are 0; `max=0` keeps the current
//! `max`; refused with EINVAL unless `max <= 10`, `min <= max` and `|rot| < max`), `getconf`,
//! `getstat` → `{ drops excessive incomplete histogram=[ 10 counts, by depth ] }`, `clrstat`,
//! `getclrstat`. The node goes away with its last hook.

use crate::graph::{
    BurstBox, Create, Cx, DropReason, GraphError, HookCx, HookError, HookSpec, MsgCx, MsgSpec,
    NodeType, Slot, TypeInfo,
};
use crate::value::Value;
use crate::wire::VlanStack;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

crate::drop_reasons! {
    pub mod reason {
        /// The stack of tags, or the two bytes after the EtherType ending it, is cut short.
        TRUNCATED = "truncated": "the VLAN tag stack, or the 2 bytes after the EtherType \
                                  ending it, is cut short",
    }
}

const STATS: &str = "{ drops excessive incomplete histogram=[ ... ] } (histogram: frames \
                     rotated, by stack depth 0..9)";

pub static TYPE: TypeInfo = TypeInfo {
    name: "vlan_rotate",
    summary: "rotates the stack of VLAN tags of a frame (ng_vlan_rotate)",
    hooks: "original, ordered: frames from original have their tags rotated by rot and go out \
            ordered; frames from ordered are rotated back and go out original. excessive, \
            incomplete: stacks deeper than max / shallower than min (or not deeper than |rot|) \
            go out here; frames received here go out original unchanged",
    messages: &[
        MsgSpec {
            name: "setconf",
            args: "{ rot=N min=N max=N }",
            help: "rotate by rot (-9..9; positive brings the innermost tags outermost) stacks \
                   of min..max tags (max <= 10; max=0 keeps it; |rot| < max)",
        },
        MsgSpec {
            name: "getconf",
            args: "",
            help: "{ rot min max }",
        },
        MsgSpec {
            name: "getstat",
            args: "",
            help: STATS,
        },
        MsgSpec {
            name: "clrstat",
            args: "",
            help: "clear the statistics",
        },
        MsgSpec {
            name: "getclrstat",
            args: "",
            help: "getstat, then clrstat",
        },
    ],
    hook_counters: &[],
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|_| Box::new(VlanRotate::new())),
};

/// Most tags a stack may have (NG_VLANROTATE_MAX_VLANS); deeper stacks, and stacks of exactly
/// this many, are excessive. Also the histogram's length.
pub const MAX_VLANS: usize = 10;

const ORIGINAL: Slot = 0;
const ORDERED: Slot = 1;
const EXCESSIVE: Slot = 2;
const INCOMPLETE: Slot = 3;
const NAMES: [(&str, Slot); 4] = [
    ("original", ORIGINAL),
    ("ordered", ORDERED),
    ("excessive", EXCESSIVE),
    ("incomplete", INCOMPLETE),
];

/// Statistics: `drops`, `excessive`, `incomplete`, then the histogram.
const ST_DROPS: usize = 0;
const ST_EXCESSIVE: usize = 1;
const ST_INCOMPLETE: usize = 2;
const ST_HISTOGRAM: usize = 3;
const N_STATS: usize = ST_HISTOGRAM + MAX_VLANS;
type Tally = [u64; N_STATS];

/// The configuration (struct ng_vlanrotate_conf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conf {
    pub rot: i8,
    pub min: u8,
    pub max: u8,
}

impl Conf {
    pub const DEFAULT: Conf = Conf {
        rot: 0,
        min: 0,
        max: MAX_VLANS as u8,
    };
    fn pack(self) -> u32 {
        self.rot as u8 as u32 | (self.min as u32) << 8 | (self.max as u32) << 16
    }
    fn unpack(w: u32) -> Conf {
        Conf {
            rot: w as u8 as i8,
            min: (w >> 8) as u8,
            max: (w >> 16) as u8,
        }
    }
    fn to_value(self) -> Value {
        Value::record([
            ("rot", Value::Int(self.rot as i64)),
            ("min", Value::Uint(self.min as u64)),
            ("max", Value::Uint(self.max as u64)),
        ])
    }
}

/// The statistics, one block per worker (modulo the block count), added to once per burst;
/// clearing records the sums as a base that reads subtract (the management thread's).
struct Stats {
    blocks: Box<[CachePadded<[AtomicU64; N_STATS]>]>,
    base: [AtomicU64; N_STATS],
}

const STAT_BLOCKS: usize = 64;

impl Stats {
    fn new() -> Stats {
        Stats {
            blocks: (0..STAT_BLOCKS)
                .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            base: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
    fn add(&self, worker: usize, t: &Tally) {
        let b = &self.blocks[worker % STAT_BLOCKS];
        for (c, v) in b.iter().zip(t) {
            if *v != 0 {
                c.fetch_add(*v, Relaxed);
            }
        }
    }
    fn add_one(&self, worker: usize, i: usize, v: u64) {
        self.blocks[worker % STAT_BLOCKS][i].fetch_add(v, Relaxed);
    }
    fn raw(&self, i: usize) -> u64 {
        (self.blocks.iter()).fold(0, |s, b| s.wrapping_add(b[i].load(Relaxed)))
    }
    fn get(&self, i: usize) -> u64 {
        self.raw(i).wrapping_sub(self.base[i].load(Relaxed))
    }
    fn clear(&self) {
        for (i, b) in self.base.iter().enumerate() {
            b.store(self.raw(i), Relaxed);
        }
    }
    /// `{ drops excessive incomplete histogram=[ ... ] }`.
    fn to_value(&self) -> Value {
        let hist = (0..MAX_VLANS).map(|d| Value::Uint(self.get(ST_HISTOGRAM + d)));
        Value::record([
            ("drops", Value::Uint(self.get(ST_DROPS))),
            ("excessive", Value::Uint(self.get(ST_EXCESSIVE))),
            ("incomplete", Value::Uint(self.get(ST_INCOMPLETE))),
            ("histogram", Value::Array(hist.collect())),
        ])
    }
}

pub struct VlanRotate {
    /// [`Conf::pack`]ed, so a burst reads one consistent configuration.
    conf: AtomicU32,
    stats: Stats,
}

impl Default for VlanRotate {
    fn default() -> Self {
        Self::new()
    }
}

impl VlanRotate {
    pub fn new() -> VlanRotate {
        VlanRotate {
            conf: AtomicU32::new(Conf::DEFAULT.pack()),
            stats: Stats::new(),
        }
    }

    pub fn conf(&self) -> Conf {
        Conf::unpack(self.conf.load(Acquire))
    }

    /// Drops a whole burst whose target is not connected (counted in `drops`).
    fn drop_unconnected(&self, cx: &mut Cx<'_>, frames: &mut BurstBox) {
        self.stats
            .add_one(cx.worker(), ST_DROPS, frames.len() as u64);
        cx.drop_all(frames, DropReason::NotConnected);
    }

    /// Rotates a burst from `original` (`dir` 1) or `ordered` (`dir` -1) and sends it to `dst`.
    fn rotate_burst(&self, cx: &mut Cx<'_>, dir: isize, dst: Slot, frames: &mut BurstBox) {
        if !cx.is_connected(dst) {
            return self.drop_unconnected(cx, frames);
        }
        let conf = self.conf();
        let rot = dir * conf.rot as isize;
        let mut tally: Tally = [0; N_STATS];
        for f in frames.drain() {
            let out = match VlanStack::new_checked(cx.data_mut(&f), MAX_VLANS) {
                Err(_) => None,
                Ok(mut stack) => Some(classify(&mut stack, conf, rot, dst, &mut tally)),
            };
            match out {
                Some(s) if cx.is_connected(s) => cx.send(s, f),
                Some(_) => {
                    tally[ST_DROPS] += 1;
                    cx.drop_frame(f, DropReason::NotConnected);
                }
                None => {
                    tally[ST_DROPS] += 1;
                    cx.drop_frame(f, reason::TRUNCATED);
                }
            }
        }
        self.stats.add(cx.worker(), &tally);
    }

    fn set_conf(&self, cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let a = cx.need(cmd, arg)?;
        a.check_fields(&["rot", "min", "max"])
            .map_err(|e| cx.bad(cmd, e.0))?;
        let num = |n: &str, lo, hi| match a.field(n) {
            None => Ok(0),
            Some(v) => v.int_in(n, lo, hi).map_err(|e| cx.bad(cmd, e.0)),
        };
        let rot = num("rot", i8::MIN as i128, i8::MAX as i128)? as i8;
        let min = num("min", 0, u8::MAX as i128)? as u8;
        let mut max = num("max", 0, u8::MAX as i128)? as u8;
        if max == 0 {
            max = self.conf().max;
        }
        if max as usize > MAX_VLANS {
            return Err(cx.bad(cmd, format!("max {max} is above {MAX_VLANS}")));
        }
        if min > max {
            return Err(cx.bad(cmd, format!("min {min} is above max {max}")));
        }
        if rot.unsigned_abs() >= max {
            return Err(cx.bad(cmd, format!("|rot| {rot} is not below max {max}")));
        }
        self.conf.store(Conf { rot, min, max }.pack(), Release);
        Ok(())
    }
}

/// Where a frame with this stack goes (as ng_vlanrotate_rcvdata decides), counting it; a
/// stack that goes to `dst` is rotated by `rot` first.
#[inline(always)]
fn classify(
    stack: &mut VlanStack<&mut [u8]>,
    conf: Conf,
    rot: isize,
    dst: Slot,
    tally: &mut Tally,
) -> Slot {
    let d = stack.depth();
    if d > conf.max as usize || d >= MAX_VLANS {
        tally[ST_EXCESSIVE] += 1;
        EXCESSIVE
    } else if d < conf.min as usize || d <= rot.unsigned_abs() {
        tally[ST_INCOMPLETE] += 1;
        INCOMPLETE
    } else {
        tally[ST_HISTOGRAM + d] += 1;
        if rot != 0 {
            stack.rotate(rot);
        }
        dst
    }
}

impl NodeType for VlanRotate {
    fn new_hook(&self, name: &str, _cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        super::fixed_hook(
            &NAMES,
            name,
            "vlan_rotate hooks are original, ordered, excessive, incomplete",
        )
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        super::spare_fixed(&NAMES, used)
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        match slot {
            ORIGINAL => self.rotate_burst(cx, 1, ORDERED, frames),
            ORDERED => self.rotate_burst(cx, -1, ORIGINAL, frames),
            _ if cx.is_connected(ORIGINAL) => cx.forward(ORIGINAL, frames),
            _ => self.drop_unconnected(cx, frames),
        }
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        match cmd {
            "setconf" => self.set_conf(cx, cmd, arg).map(|_| None),
            "getconf" => {
                cx.none(cmd, arg)?;
                Ok(Some(self.conf().to_value()))
            }
            "getstat" | "clrstat" | "getclrstat" => {
                cx.none(cmd, arg)?;
                let reply = (cmd != "clrstat").then(|| self.stats.to_value());
                if cmd != "getstat" {
                    self.stats.clear();
                }
                Ok(reply)
            }
            _ => Err(cx.unknown(cmd)),
        }
    }
    fn config_msgs(&self, _cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        let c = self.conf();
        if c == Conf::DEFAULT {
            return Vec::new();
        }
        vec![("setconf".into(), Some(c.to_value()))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_packs_and_unpacks() {
        for c in [
            Conf::DEFAULT,
            Conf {
                rot: -9,
                min: 2,
                max: 10,
            },
            Conf {
                rot: i8::MIN,
                min: 255,
                max: 255,
            },
        ] {
            assert_eq!(Conf::unpack(c.pack()), c);
        }
        assert_eq!(
            Conf::DEFAULT.to_value().to_string(),
            "{ max=10 }",
            "netgraph leaves zero fields out"
        );
    }

    /// The decision table of ng_vlanrotate_rcvdata, on a 3-tag stack.
    #[test]
    fn classify_follows_the_c_source() {
        let mut frame = [0u8; 12 + 4 * 3 + 4];
        for i in 0..3 {
            frame[12 + 4 * i..16 + 4 * i].copy_from_slice(&[0x81, 0, 0, i as u8 + 1]);
        }
        frame[24..26].copy_from_slice(&[0x08, 0x00]);
        let conf = |rot, min, max| Conf { rot, min, max };
        let cases = [
            (conf(0, 0, 10), 0, ORDERED),
            (conf(0, 3, 3), 0, ORDERED),
            (conf(0, 4, 10), 0, INCOMPLETE),
            (conf(0, 0, 2), 0, EXCESSIVE),
            (conf(2, 0, 10), 2, ORDERED),
            (conf(3, 0, 10), 3, INCOMPLETE), // not deeper than |rot|
            (conf(-3, 0, 10), -3, INCOMPLETE),
        ];
        for (c, rot, want) in cases {
            let mut b = frame;
            let mut s = VlanStack::new_checked(&mut b[..], MAX_VLANS).unwrap();
            let mut t: Tally = [0; N_STATS];
            assert_eq!(classify(&mut s, c, rot, ORDERED, &mut t), want, "{c:?}");
            let counted = match want {
                EXCESSIVE => ST_EXCESSIVE,
                INCOMPLETE => ST_INCOMPLETE,
                _ => ST_HISTOGRAM + 3,
            };
            assert_eq!(t.iter().sum::<u64>(), 1);
            assert_eq!(t[counted], 1, "{c:?}");
        }
    }

    #[test]
    fn stats_sum_blocks_and_clear() {
        let s = Stats::new();
        let mut t: Tally = [0; N_STATS];
        t[ST_DROPS] = 2;
        t[ST_HISTOGRAM + 9] = 5;
        s.add(0, &t);
        s.add(STAT_BLOCKS + 3, &t);
        s.add_one(1, ST_EXCESSIVE, 1);
        assert_eq!((s.get(ST_DROPS), s.get(ST_HISTOGRAM + 9)), (4, 10));
        assert_eq!(
            s.to_value().to_string(),
            "{ drops=4 excessive=1 histogram=[ 9=10 ] }"
        );
        s.clear();
        assert!((0..N_STATS).all(|i| s.get(i) == 0));
        s.add_one(2, ST_INCOMPLETE, 1);
        assert_eq!(s.get(ST_INCOMPLETE), 1);
    }
}
