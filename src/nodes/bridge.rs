//! `bridge`: a learning Ethernet bridge (ng_bridge).
//!
//! Forwarding: known unicast goes out its host's link (dropped, `same_link`, if that is the
//! link it came in on); unknown unicast, multicast and broadcast are flooded to every other
//! link (unknown unicast only to links that accept it), never back out of the ingress link.
//! Learning: a host seen on a new link moves there, unless it was learned less than
//! `minStableAge` seconds ago: then a loop is declared, the ingress link is muted for
//! `loopTimeout` seconds (its frames counted in `loopDrops`) and its hosts are forgotten.
//! Forgetting is O(1) in the worker: every host entry carries its link's generation, and the
//! loop bumps the link's generation, so the link's old entries stop matching at once (they are
//! learned again, or cleared by the next table rebuild on the management thread).
//! Hosts not heard from for `maxStaleness` seconds are removed (on the management tick).
//! Removing a link forgets its hosts. A source that cannot be learned (the table full, or its
//! probe chain) is counted in the ingress link's `memoryFailures` and the frame is still
//! delivered (flooded when its destination is unknown). A flooded copy that cannot be made (the
//! pool being empty) is skipped, counted in the ingress link's `memoryFailures` and as a
//! `no_buffers` drop, and so are the copies for the links after it (not attempted).
//!
//! The host table is lock-free ([`super::hosttable`]): known hosts are forwarded with no shared
//! write beyond refreshing a host's last-seen second.

use super::hosttable::HostTable;
use crate::buf::{Frame, BURST};
use crate::epoch::EpochCell;
use crate::graph::offload::{L2Offload, Offload};
use crate::graph::{
    hook_stat, BurstBox, Create, Cx, DropReason, GraphError, HookCx, HookError, HookSpec,
    HookState, MsgCx, MsgSpec, NodeType, Slot, TypeInfo, MAX_SLOT,
};
use crate::value::Value;
use crate::wire::{MacAddr, ETHERNET_HEADER_LEN};
use std::sync::atomic::{
    AtomicBool, AtomicU32,
    Ordering::{Relaxed, Release},
};
use std::sync::Arc;

crate::drop_reasons! {
    pub mod reason {
        RUNT = "runt": "shorter than an Ethernet header",
        INVALID_SOURCE = "invalid_source": "multicast source MAC address",
        LOOP_DROP = "loop_drop": "received on a bridge link muted after a loop was detected",
        SAME_LINK = "same_link": "destination host is on the link the frame came in on",
        NO_DESTINATION = "no_destination": "no link to flood to",
    }
}

const LINK_ARG: &str = "<link#>";

pub static TYPE: TypeInfo = TypeInfo {
    name: "bridge",
    summary: "a learning Ethernet bridge (ng_bridge)",
    hooks: "link<N> (N >= 0, no leading zeros): bridge ports; source MACs are learned per \
            link. uplink<N> (N >= 1): ports that do not learn and always get unknown unicast; \
            if the first hook is an uplink the bridge is restricted (normal links never get \
            unknown unicast). A hook to the bridge itself is refused",
    messages: &[
        MsgSpec {
            name: "setconfig",
            args: "{ debugLevel=N loopTimeout=N maxStaleness=N minStableAge=N }",
            help: "set the configuration (fields left out keep their values)",
        },
        MsgSpec {
            name: "getconfig",
            args: "",
            help: "{ debugLevel loopTimeout maxStaleness minStableAge }",
        },
        MsgSpec {
            name: "reset",
            args: "",
            help: "forget every host, unmute every link, clear every link's counters",
        },
        MsgSpec {
            name: "getstats",
            args: LINK_ARG,
            help: "a link's counters (a negative number is an uplink)",
        },
        MsgSpec {
            name: "clrstats",
            args: LINK_ARG,
            help: "clear a link's counters (a negative number is an uplink)",
        },
        MsgSpec {
            name: "getclrstats",
            args: LINK_ARG,
            help: "getstats, then clrstats",
        },
        MsgSpec {
            name: "gettable",
            args: "",
            help: "{ numHosts hosts=[ { addr hook age staleness } ... ] }",
        },
        MsgSpec {
            name: "setpersistent",
            args: "",
            help: "the bridge stays when its last link goes",
        },
        MsgSpec {
            name: "movehost",
            args: "{ addr=aa:bb:cc:dd:ee:ff hook=\"<link>\" }",
            help: "place a host on a link",
        },
    ],
    hook_counters: stat::NAMES,
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|env| Box::new(Bridge::new(env.epoch))),
};

/// Tag bits of a bridge hook.
const UPLINK: u32 = 1 << 31;
const SEND_UNKNOWN: u32 = 1 << 30;
const LINK_NUM: u32 = (1 << 24) - 1;

/// The bridge's own per-link counters (after the generic four).
mod stat {
    use crate::graph::hook_stat::GENERIC;
    pub const RECV_OCTETS: usize = GENERIC;
    pub const RECV_PACKETS: usize = GENERIC + 1;
    pub const RECV_MULTICASTS: usize = GENERIC + 2;
    pub const RECV_BROADCASTS: usize = GENERIC + 3;
    pub const RECV_UNKNOWN: usize = GENERIC + 4;
    pub const RECV_RUNTS: usize = GENERIC + 5;
    pub const RECV_INVALID: usize = GENERIC + 6;
    pub const XMIT_MULTICASTS: usize = GENERIC + 7;
    pub const XMIT_BROADCASTS: usize = GENERIC + 8;
    pub const LOOP_DROPS: usize = GENERIC + 9;
    pub const LOOP_DETECTS: usize = GENERIC + 10;
    pub const MEMORY_FAILURES: usize = GENERIC + 11;
    pub const NAMES: &[&str] = &[
        "recvOctets",
        "recvPackets",
        "recvMulticasts",
        "recvBroadcasts",
        "recvUnknown",
        "recvRunts",
        "recvInvalid",
        "xmitMulticasts",
        "xmitBroadcasts",
        "loopDrops",
        "loopDetects",
        "memoryFailures",
    ];
}

pub const DEFAULT_LOOP_TIMEOUT: u32 = 60;
pub const DEFAULT_MAX_STALENESS: u32 = 15 * 60;
pub const DEFAULT_MIN_STABLE_AGE: u32 = 1;
/// Initial host table slots (kept at most half full). Small under Miri and the fuzzers
/// (cargo-fuzz builds with `cfg(fuzzing)`): the tick's scan then costs little, and the table's
/// growth is exercised sooner.
pub const INITIAL_TABLE: usize = if cfg!(any(miri, fuzzing)) {
    512
} else {
    16 * 1024
};
/// Largest host table.
pub const MAX_TABLE: usize = 1 << 24;

pub struct Bridge {
    debug_level: AtomicU32,
    loop_timeout: AtomicU32,
    max_staleness: AtomicU32,
    min_stable_age: AtomicU32,
    /// The first hook was an uplink: normal links get no unknown unicast.
    restricted: AtomicBool,
    /// The host table: shared by the workers (they learn into it, lock-free), replaced by a
    /// larger one by the management thread's tick when it fills up.
    table: EpochCell<Arc<HostTable>>,
    /// The table the last rebuild replaced, until the hosts workers learned into it after it
    /// was copied are carried over (management thread only: [`Bridge::finish_migration`]).
    migrating: std::sync::Mutex<Option<Arc<HostTable>>>,
    /// Per link slot: the graph second until which the link is muted after a loop.
    muted_until: Box<[AtomicU32]>,
}

/// A link's host-table value, kept in its hook word: the link's generation (top 16 bits),
/// hook uid (low 32 bits of it) and slot. Set when the link connects; a loop moves the
/// generation on. A table value matches a link only while the link lives and keeps that
/// generation, so moving it on forgets the link's hosts at once.
#[inline]
fn pack(h: &HookState) -> u64 {
    h.word.load(Relaxed)
}

/// The first value of a new link.
fn first_pack(h: &HookState) -> u64 {
    (h.uid & 0xffff_ffff) << 16 | h.slot as u64
}

/// One generation more in a packed value.
const NEXT_GENERATION: u64 = 1 << 48;

/// One burst's ingress link and what it has counted so far.
struct Ingress<'a> {
    link: &'a HookState,
    table: &'a HostTable,
    /// `pack(link)`.
    me: u64,
    /// The link learns sources (it is not an uplink).
    learn: bool,
    min_stable: u32,
    now: u32,
    /// A loop was detected in this burst: the rest is dropped.
    muted: bool,
    pkts: u64,
    octets: u64,
    mcast: u64,
    bcast: u64,
    unknown: u64,
    /// The last source learned on the ingress link in this burst (or [`NO_MAC`]).
    last_src: u64,
    /// The last unicast destination looked up in this burst (or [`NO_MAC`]), and where it
    /// goes: a slot or [`act::FLOOD`].
    last_dst: u64,
    last_to: Act,
}

/// Not a MAC address (more than 48 bits): the burst's caches start empty.
const NO_MAC: u64 = u64::MAX;

/// What pass 1 decided for a frame: a slot to send it out of, a flood, or nothing more.
type Act = Slot;

mod act {
    use super::Act;
    /// Flood (unknown unicast); `FLOOD + 1`: multicast, `FLOOD + 2`: broadcast.
    pub const FLOOD: Act = 0xf000;
    /// Dropped (freed and counted) in pass 1.
    pub const DONE: Act = 0xffff;
}
const _: () = assert!(MAX_SLOT < act::FLOOD);

/// A frame's (destination, source) MAC addresses as 48-bit numbers.
#[inline(always)]
fn macs(h: &[u8; ETHERNET_HEADER_LEN]) -> (u64, u64) {
    let (d, s) = (h.first_chunk::<8>(), h[4..].first_chunk::<8>());
    let d = d.map_or(0, |b| u64::from_be_bytes(*b));
    let s = s.map_or(0, |b| u64::from_be_bytes(*b));
    (d >> 16, s & 0xffff_ffff_ffff)
}

/// When every frame of `rest` is a whole Ethernet header long and carries `first`'s
/// destination and source addresses: the sum of their lengths. One pass, one branch per
/// frame (the length), the addresses compared as two words without a branch (after a
/// quick look at the second frame: a burst of several flows is told at once).
#[inline(always)]
fn same_macs(cx: &Cx<'_>, first: Frame, rest: &[Frame]) -> Option<u64> {
    let h0 = cx.head::<ETHERNET_HEADER_LEN>(&first)?;
    let words = |h: &[u8; ETHERNET_HEADER_LEN]| {
        let a = h.first_chunk::<8>().map_or(0, |b| u64::from_ne_bytes(*b));
        let b = h[8..]
            .first_chunk::<4>()
            .map_or(0, |b| u32::from_ne_bytes(*b));
        (a, b)
    };
    let (a0, b0) = words(h0);
    // a burst of several flows mostly differs at once: say so before the pass
    let (a, b) = words(cx.head::<ETHERNET_HEADER_LEN>(rest.first()?)?);
    if (a ^ a0) | (b ^ b0) as u64 != 0 {
        return None;
    }
    let (mut diff, mut octets) = (0u64, 0u64);
    for f in rest {
        let (a, b) = words(cx.head::<ETHERNET_HEADER_LEN>(f)?);
        diff |= (a ^ a0) | (b ^ b0) as u64;
        octets += f.len as u64;
    }
    (diff == 0).then_some(octets)
}

/// What learning a frame's source decided.
enum Learned {
    /// Learned or refreshed; true when the host is now on the ingress link (so the same
    /// source later in the burst needs nothing).
    Ok(bool),
    /// The host jumped links too soon: a loop (the link is muted, the frame dropped).
    Loop,
    /// No room in the table for a new host: the frame is still forwarded.
    Unlearnable,
}

impl Bridge {
    pub fn new(epoch: &crate::epoch::Epoch) -> Bridge {
        Bridge {
            debug_level: AtomicU32::new(1),
            loop_timeout: AtomicU32::new(DEFAULT_LOOP_TIMEOUT),
            max_staleness: AtomicU32::new(DEFAULT_MAX_STALENESS),
            min_stable_age: AtomicU32::new(DEFAULT_MIN_STABLE_AGE),
            restricted: AtomicBool::new(false),
            muted_until: (0..=MAX_SLOT).map(|_| AtomicU32::new(0)).collect(),
            table: EpochCell::new(epoch, Arc::new(HostTable::new(INITIAL_TABLE))),
            migrating: std::sync::Mutex::new(None),
        }
    }

    fn config(&self) -> Value {
        Value::record([
            (
                "debugLevel",
                Value::Uint(self.debug_level.load(Relaxed) as u64),
            ),
            (
                "loopTimeout",
                Value::Uint(self.loop_timeout.load(Relaxed) as u64),
            ),
            (
                "maxStaleness",
                Value::Uint(self.max_staleness.load(Relaxed) as u64),
            ),
            (
                "minStableAge",
                Value::Uint(self.min_stable_age.load(Relaxed) as u64),
            ),
        ])
    }

    /// The link a table value points to, if it is still a live hook of this topology.
    #[inline]
    fn link_of<'a>(cx: &Cx<'a>, val: u64) -> Option<&'a HookState> {
        let h = cx.hook((val & 0xffff) as Slot)?;
        (pack(h) == val && h.is_alive()).then_some(h)
    }

    /// Pass 1 for one frame of a burst from `rx.link`: counts it, learns its source and
    /// decides where it goes ([`Act`]). A frame dropped here is freed and counted at once
    /// ([`act::DONE`]); sending and flooding wait for pass 2, in frame order.
    #[inline(always)]
    fn decide(&self, cx: &mut Cx<'_>, rx: &mut Ingress<'_>, slot: Slot, f: Frame) -> Act {
        let link = rx.link;
        if rx.muted {
            cx.count(link, stat::LOOP_DROPS, 1);
            cx.drop_frame(f, reason::LOOP_DROP);
            return act::DONE;
        }
        let Some(h) = cx.head::<ETHERNET_HEADER_LEN>(&f) else {
            cx.count(link, stat::RECV_RUNTS, 1);
            cx.drop_frame(f, reason::RUNT);
            return act::DONE;
        };
        let (dst, src) = macs(h);
        if src & (1 << 40) != 0 {
            cx.count(link, stat::RECV_INVALID, 1);
            cx.drop_frame(f, reason::INVALID_SOURCE);
            return act::DONE;
        }
        rx.pkts += 1;
        rx.octets += f.len as u64;
        let manycast: u8 = if dst & (1 << 40) == 0 {
            0
        } else if dst == 0xffff_ffff_ffff {
            rx.bcast += 1;
            2
        } else {
            rx.mcast += 1;
            1
        };
        // a source seen earlier in this burst is learned already: nothing to write
        if src != rx.last_src {
            match self.learn(cx, rx, src) {
                Learned::Ok(settled) => {
                    if settled {
                        rx.last_src = src;
                    }
                    if src == rx.last_dst {
                        rx.last_dst = NO_MAC; // its link may have changed
                    }
                }
                Learned::Loop => {
                    (rx.last_src, rx.last_dst) = (NO_MAC, NO_MAC);
                    cx.count(link, stat::LOOP_DROPS, 1);
                    cx.drop_frame(f, reason::LOOP_DROP);
                    return act::DONE;
                }
                Learned::Unlearnable => cx.count(link, stat::MEMORY_FAILURES, 1),
            }
        }
        if manycast != 0 {
            return act::FLOOD + manycast as Act;
        }
        if dst != rx.last_dst {
            rx.last_to = self.unicast(cx, rx, dst);
            rx.last_dst = dst;
        }
        match rx.last_to {
            act::FLOOD => {
                rx.unknown += 1;
                act::FLOOD
            }
            to if to == slot => {
                cx.drop_frame(f, reason::SAME_LINK);
                act::DONE
            }
            to => to,
        }
    }

    /// Decides a burst and carries it out. Pass 1 decides every frame (learning in frame
    /// order); pass 2 carries the decisions out in frame order, unless the whole burst goes
    /// out one link: then it moves on whole. A burst whose frames all carry its first frame's
    /// two addresses is decided once: the first frame's decision (a known host on another
    /// link, its source settled on the ingress link) is what every other frame's would be.
    #[inline(always)]
    fn switch(&self, cx: &mut Cx<'_>, rx: &mut Ingress<'_>, slot: Slot, frames: &mut BurstBox) {
        let mut acts = [act::DONE; BURST];
        let Some((&first, rest)) = frames.as_slice().split_first() else {
            return;
        };
        acts[0] = self.decide(cx, rx, slot, first);
        let to = acts[0];
        if to < act::FLOOD && rx.last_src != NO_MAC {
            if let Some(octets) = same_macs(cx, first, rest) {
                rx.pkts += rest.len() as u64;
                rx.octets += octets;
                return cx.forward(to, frames);
            }
        }
        for (a, f) in acts[1..].iter_mut().zip(rest) {
            *a = self.decide(cx, rx, slot, *f);
        }
        let acts = &acts[..frames.len()];
        if to < act::FLOOD && acts.iter().all(|&a| a == to) {
            return cx.forward(to, frames);
        }
        let link = rx.link;
        for (&a, f) in acts.iter().zip(frames.drain()) {
            match a {
                act::DONE => {}
                to if to < act::FLOOD => cx.send(to, f),
                flood => self.flood(cx, link, f, (flood - act::FLOOD) as u8),
            }
        }
    }

    /// Where known unicast to `dst` goes: its link's slot, or [`act::FLOOD`] (unknown).
    #[inline(always)]
    fn unicast(&self, cx: &Cx<'_>, rx: &Ingress<'_>, dst: u64) -> Act {
        rx.table
            .get(dst)
            .and_then(|e| Self::link_of(cx, e.val()))
            .map_or(act::FLOOD, |to| to.slot)
    }

    /// Learns (or refreshes) host `src` on the ingress link.
    #[inline(always)]
    fn learn(&self, cx: &Cx<'_>, rx: &mut Ingress<'_>, src: u64) -> Learned {
        let (me, now) = (rx.me, rx.now);
        let Some(e) = rx.table.get(src) else {
            if !rx.learn {
                return Learned::Ok(false);
            }
            return match rx.table.insert(src, me, now) {
                None => Learned::Unlearnable,
                Some((e, _)) => Learned::Ok(e.val() == me),
            };
        };
        let v = e.val();
        let mut settled = true;
        if v != me {
            if Self::link_of(cx, v).is_some() {
                if now.wrapping_sub(e.learned()) < rx.min_stable {
                    // Not `rx` itself: its address would escape, keeping it out of registers.
                    rx.muted |= self.mute(cx, rx.link, now);
                    return Learned::Loop;
                }
                // The host moved: it lives here now.
                e.set_val(me);
                e.set_learned(now);
            } else if rx.learn {
                // Its old link is gone (or the entry is being filled in).
                e.set_val(me);
                e.set_learned(now);
            } else {
                settled = false;
            }
        }
        e.touch(now);
        Learned::Ok(settled)
    }

    /// A loop: mutes the ingress link for `loopTimeout` and forgets its hosts by moving the
    /// link to its next generation (O(1): no table scan in the worker). Returns whether the
    /// link is muted (a zero timeout mutes nothing).
    #[cold]
    fn mute(&self, cx: &Cx<'_>, link: &HookState, now: u32) -> bool {
        let timeout = self.loop_timeout.load(Relaxed);
        link.word
            .store(pack(link).wrapping_add(NEXT_GENERATION), Relaxed);
        if timeout > 0 {
            self.muted_until[link.slot as usize].store(now.wrapping_add(timeout), Relaxed);
        }
        cx.count(link, stat::LOOP_DETECTS, 1);
        timeout > 0
    }

    /// Floods `f` from `from` (manycast: 0 unknown unicast, 1 multicast, 2 broadcast).
    fn flood(&self, cx: &mut Cx<'_>, from: &HookState, f: Frame, manycast: u8) {
        let mut first: Option<&HookState> = None;
        // after a copy failed, the links still to flood get no copy (counted, not attempted)
        let mut failed = false;
        for h in cx.hooks() {
            if h.slot == from.slot || (manycast == 0 && h.tag & SEND_UNKNOWN == 0) {
                continue;
            }
            if first.is_none() {
                first = Some(h);
                continue;
            }
            if failed {
                cx.copies_failed(1);
                continue;
            }
            match cx.copy(&f) {
                Some(c) => {
                    count_manycast(cx, h, manycast);
                    cx.send(h.slot, c);
                }
                None => {
                    cx.count(from, stat::MEMORY_FAILURES, 1);
                    failed = true;
                }
            }
        }
        match first {
            Some(h) => {
                count_manycast(cx, h, manycast);
                cx.send(h.slot, f);
            }
            None => cx.drop_frame(f, reason::NO_DESTINATION),
        }
    }

    fn link_hook<'m>(
        cx: &'m MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<&'m std::sync::Arc<HookState>, GraphError> {
        let v = cx.need(cmd, arg)?;
        let n = v
            .int_in("link", -(LINK_NUM as i128), LINK_NUM as i128)
            .map_err(|e| cx.bad(cmd, e.0))?;
        let name = if n < 0 {
            format!("uplink{}", -n)
        } else {
            format!("link{n}")
        };
        cx.hook(&name)
            .ok_or_else(|| GraphError::NotConnected(format!("{}{}", cx.node(), name)))
    }

    fn stats_value(h: &HookState) -> Value {
        let g = |i| Value::Uint(h.stats.get(i));
        Value::record([
            ("recvOctets", g(stat::RECV_OCTETS)),
            ("recvPackets", g(stat::RECV_PACKETS)),
            ("recvMulticasts", g(stat::RECV_MULTICASTS)),
            ("recvBroadcasts", g(stat::RECV_BROADCASTS)),
            ("recvUnknown", g(stat::RECV_UNKNOWN)),
            ("recvRunts", g(stat::RECV_RUNTS)),
            ("recvInvalid", g(stat::RECV_INVALID)),
            ("xmitOctets", g(hook_stat::OUT_OCTETS)),
            ("xmitPackets", g(hook_stat::OUT_FRAMES)),
            ("xmitMulticasts", g(stat::XMIT_MULTICASTS)),
            ("xmitBroadcasts", g(stat::XMIT_BROADCASTS)),
            ("loopDrops", g(stat::LOOP_DROPS)),
            ("loopDetects", g(stat::LOOP_DETECTS)),
            ("memoryFailures", g(stat::MEMORY_FAILURES)),
        ])
    }

    /// Hosts currently learned on live links: (mac, hook name, learned, seen).
    pub fn hosts(&self, cx: &MsgCx<'_>) -> Vec<(MacAddr, String, u32, u32)> {
        let g = cx.epoch.pin_writer();
        let t = self.table.load(&g);
        let mut v: Vec<_> = t
            .hosts()
            .filter_map(|h| {
                let link = cx.hook_at((h.val & 0xffff) as Slot)?;
                (pack(link) == h.val).then(|| (h.mac, link.name.clone(), h.learned, h.seen))
            })
            .collect();
        v.sort();
        v
    }

    // ----- messages ---------------------------------------------------------------------------

    fn set_config(&self, cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let a = cx.need(cmd, arg)?;
        let fields = ["debugLevel", "loopTimeout", "maxStaleness", "minStableAge"];
        a.check_fields(&fields).map_err(|e| cx.bad(cmd, e.0))?;
        let cur = [
            &self.debug_level,
            &self.loop_timeout,
            &self.max_staleness,
            &self.min_stable_age,
        ];
        let mut vals = [0u32; 4];
        for (i, f) in fields.iter().enumerate() {
            vals[i] = match a.field(f) {
                Some(v) => v
                    .int_in(f, 0, u32::MAX as i128)
                    .map_err(|e| cx.bad(cmd, e.0))? as u32,
                None => cur[i].load(Relaxed),
            };
        }
        for (c, v) in cur.iter().zip(vals) {
            c.store(v, Relaxed);
        }
        Ok(())
    }

    /// `reset`: forgets every host, unmutes every link and clears its counters.
    fn reset_all(&self, cx: &MsgCx<'_>) {
        *self.migrating.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let g = cx.epoch.pin_writer();
        self.table.load(&g).forget(|_| true);
        for h in cx.hooks() {
            // unmute; the generation stays (entries of older generations must not come back)
            self.muted_until[h.slot as usize].store(0, Release);
            h.stats.clear();
        }
    }

    fn table_value(&self, cx: &MsgCx<'_>) -> Value {
        let now = cx.now;
        let host = |(mac, hook, learned, seen): (MacAddr, String, u32, u32)| {
            Value::record([
                ("addr", Value::Mac(mac)),
                ("hook", Value::Str(hook)),
                ("age", Value::Uint(now.wrapping_sub(learned) as u64)),
                ("staleness", Value::Uint(now.wrapping_sub(seen) as u64)),
            ])
        };
        let hosts: Vec<Value> = self.hosts(cx).into_iter().map(host).collect();
        Value::record([
            ("numHosts", Value::Uint(hosts.len() as u64)),
            ("hosts", Value::Array(hosts)),
        ])
    }

    fn move_host(&self, cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let a = cx.need(cmd, arg)?;
        a.check_fields(&["addr", "hook"])
            .map_err(|e| cx.bad(cmd, e.0))?;
        let mac = a
            .field("addr")
            .and_then(Value::as_mac)
            .ok_or_else(|| cx.bad(cmd, "addr=<mac> is required"))?;
        if mac.is_multicast() {
            return Err(cx.bad(cmd, "a multicast address cannot be a host"));
        }
        let hook = a
            .field("hook")
            .and_then(Value::as_str)
            .ok_or_else(|| cx.bad(cmd, "hook=\"name\" is required"))?;
        let h = cx.hook(hook).ok_or_else(|| GraphError::NoHook {
            node: cx.node().to_string(),
            hook: hook.to_string(),
        })?;
        let g = cx.epoch.pin_writer();
        let t = self.table.load(&g);
        let full = || GraphError::NoSpace(format!("{} {cmd}: host table full", cx.node()));
        let (e, _) = t.insert(mac.to_u64(), pack(h), cx.now).ok_or_else(full)?;
        e.set_val(pack(h));
        e.set_learned(cx.now);
        e.touch(cx.now);
        Ok(())
    }
}

#[inline]
fn count_manycast(cx: &Cx<'_>, h: &HookState, manycast: u8) {
    match manycast {
        1 => cx.count(h, stat::XMIT_MULTICASTS, 1),
        2 => cx.count(h, stat::XMIT_BROADCASTS, 1),
        _ => {}
    }
}

impl NodeType for Bridge {
    fn new_hook(&self, name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        let (num, uplink) = if let Some(n) = super::numbered(name, "uplink", LINK_NUM) {
            if n == 0 {
                return Err("uplink numbers start at 1 (uplink0 is refused)".into());
            }
            (n, true)
        } else if let Some(n) = super::numbered(name, "link", LINK_NUM) {
            (n, false)
        } else {
            return Err(
                "bridge hooks are link<N> (N >= 0) and uplink<N> (N >= 1), without leading zeros"
                    .into(),
            );
        };
        if cx.peer_is_self {
            return Err("a bridge hook cannot connect to the bridge itself".into());
        }
        let mut tag = num;
        if uplink {
            tag |= UPLINK | SEND_UNKNOWN;
            if cx.num_hooks == 0 {
                self.restricted.store(true, Relaxed);
            }
        } else if !self.restricted.load(Relaxed) {
            tag |= SEND_UNKNOWN;
        }
        Ok(HookSpec {
            slot: cx.first_free(0)?,
            tag,
        })
    }

    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        (0..LINK_NUM).map(|i| format!("link{i}")).find(|n| !used(n))
    }

    fn connected(&self, hook: &HookState, _cx: &mut MsgCx<'_>) {
        hook.word.store(first_pack(hook), Relaxed);
        self.muted_until[hook.slot as usize].store(0, Relaxed);
    }

    fn disconnected(&self, hook: &HookState, cx: &mut MsgCx<'_>) {
        let g = cx.epoch.pin_writer();
        let v = pack(hook);
        self.table.load(&g).forget(|x| x == v);
    }

    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        let Some(link) = cx.hook(slot) else {
            return cx.drop_all(frames, DropReason::NotConnected);
        };
        let now = cx.now();
        if now < self.muted_until[slot as usize].load(Relaxed) {
            cx.count(link, stat::LOOP_DROPS, frames.len() as u64);
            return cx.drop_all(frames, reason::LOOP_DROP);
        }
        let mut rx = Ingress {
            link,
            table: self.table.load(cx.guard()),
            me: pack(link),
            learn: link.tag & UPLINK == 0,
            min_stable: self.min_stable_age.load(Relaxed),
            now,
            muted: false,
            pkts: 0,
            octets: 0,
            mcast: 0,
            bcast: 0,
            unknown: 0,
            last_src: NO_MAC,
            last_dst: NO_MAC,
            last_to: act::FLOOD,
        };
        self.switch(cx, &mut rx, slot, frames);
        cx.count(link, stat::RECV_PACKETS, rx.pkts);
        cx.count(link, stat::RECV_OCTETS, rx.octets);
        if rx.mcast > 0 {
            cx.count(link, stat::RECV_MULTICASTS, rx.mcast);
        }
        if rx.bcast > 0 {
            cx.count(link, stat::RECV_BROADCASTS, rx.bcast);
        }
        if rx.unknown > 0 {
            cx.count(link, stat::RECV_UNKNOWN, rx.unknown);
        }
    }

    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        match cmd {
            "setconfig" => self.set_config(cx, cmd, arg)?,
            "movehost" => self.move_host(cx, cmd, arg)?,
            "getstats" | "clrstats" | "getclrstats" => {
                let h = Self::link_hook(cx, cmd, arg)?;
                let v = Self::stats_value(h);
                if cmd != "getstats" {
                    h.stats.clear();
                }
                return Ok((cmd != "clrstats").then_some(v));
            }
            _ => {
                cx.none(cmd, arg)?;
                match cmd {
                    "getconfig" => return Ok(Some(self.config())),
                    "gettable" => return Ok(Some(self.table_value(cx))),
                    "reset" => self.reset_all(cx),
                    "setpersistent" => cx.set_persistent(),
                    _ => return Err(cx.unknown(cmd)),
                }
            }
        }
        Ok(None)
    }

    fn tick(&self, cx: &mut MsgCx<'_>) {
        self.finish_migration(cx);
        let g = cx.epoch.pin_writer();
        let t = self.table.load(&g);
        t.expire(cx.now, self.max_staleness.load(Relaxed).max(1));
        let (live, tomb) = t.occupancy();
        let cap = t.capacity();
        let grow = live * 2 > cap && cap < MAX_TABLE;
        let migrating = self.migrating.lock().map_or(true, |m| m.is_some());
        // (one rebuild at a time: the last one's late hosts are carried over first)
        if (grow || tomb * 4 > cap) && !migrating {
            let new_cap = if grow { cap * 2 } else { cap };
            let live_links: Vec<u64> = cx.hooks().map(|h| pack(h)).collect();
            let fresh = Arc::new(t.rebuilt(new_cap, |h| live_links.contains(&h.val)));
            let old = Arc::clone(t);
            drop(g);
            self.table.replace(cx.epoch, fresh);
            // workers that loaded the old table before the swap may still learn into it
            *self.migrating.lock().unwrap_or_else(|e| e.into_inner()) = Some(old);
        }
    }

    fn config_msgs(&self, _cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        vec![("setconfig".into(), Some(self.config()))]
    }

    fn offload(&self) -> Option<Offload<'_>> {
        Some(Offload::L2(self))
    }
}

impl Bridge {
    /// Carries over the hosts the workers learned into the replaced table after it was
    /// copied, once none of them can hold it any more: the retired reference in the epoch has
    /// been reclaimed (ours is the last), which happens only after every burst that loaded it
    /// has ended. (Found by RFC 2889's caching test: without this, hosts learned during a
    /// rebuild were forgotten, and frames to them flooded until they were learned again.)
    fn finish_migration(&self, cx: &MsgCx<'_>) {
        let mut m = self.migrating.lock().unwrap_or_else(|e| e.into_inner());
        let Some(old) = m.as_ref() else { return };
        if Arc::strong_count(old) > 1 {
            return; // not reclaimed yet: next tick
        }
        let live_links: Vec<u64> = cx.hooks().map(|h| pack(h)).collect();
        let g = cx.epoch.pin_writer();
        let cur = self.table.load(&g);
        for h in old.hosts().filter(|h| live_links.contains(&h.val)) {
            let mac = h.mac.to_u64();
            if cur.get(mac).is_none() {
                let _ = cur.insert(mac, h.val, h.learned);
            }
        }
        *m = None;
    }
}

/// The kernel fast path (`graph::offload`): known unicast between normal links of an
/// unrestricted bridge. Everything that needs the bridge's judgement stays in the worker: a
/// source not learned, or seen on another link (the XDP program then drops its entry), floods,
/// uplinks, muted links.
impl L2Offload for Bridge {
    fn offload_link(&self, cx: &MsgCx<'_>, link: &HookState) -> bool {
        !self.restricted.load(Relaxed)
            && link.tag & UPLINK == 0
            && cx.now >= self.muted_until[link.slot as usize].load(Relaxed)
    }

    fn offload_hosts(&self, cx: &MsgCx<'_>, out: &mut Vec<(u64, Slot)>) {
        let g = cx.epoch.pin_writer();
        for h in self.table.load(&g).hosts() {
            let slot = (h.val & 0xffff) as Slot;
            if cx.hook_at(slot).is_some_and(|l| pack(l) == h.val) {
                out.push((h.mac.to_u64(), slot));
            }
        }
    }

    fn offload_seen(&self, cx: &MsgCx<'_>, mac: u64) {
        let g = cx.epoch.pin_writer();
        if let Some(e) = self.table.load(&g).get(mac) {
            e.touch(cx.now);
        }
    }

    /// `tx` needs nothing here: the generic outFrames/outOctets are xmitPackets/xmitOctets
    /// (the fast path forwards unicast only).
    fn offload_counted(&self, link: &HookState, rx: (u64, u64), _tx: (u64, u64)) {
        let s = &link.stats;
        for (i, v) in [(stat::RECV_PACKETS, rx.0), (stat::RECV_OCTETS, rx.1)] {
            if v > 0 {
                s.add_offloaded(i, v);
            }
        }
    }
}
