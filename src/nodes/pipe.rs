//! `pipe`: a WAN emulator (ng_pipe): bandwidth, delay, bit errors, duplication and queue
//! limits, each direction apart.
//!
//! Hooks: `upper` and `lower`. Frames from `upper` go out `lower` (downstream), frames from
//! `lower` out `upper` (upstream). On `shutdown` with both hooks connected the pipe splices
//! their peers together (ng_bypass). Connecting a hook resets its direction's configuration to
//! the defaults and clears its counters (ng_pipe's newhook); removing it frees the frames held
//! for its direction (`flushed` drops).
//!
//! Per direction, as ng_pipe: a frame enters the inbound queue (at most `queuelen` frames,
//! else one is dropped: the new one with `droptail`, the oldest waiting with `drophead`;
//! `queue_full`, counted in `queueDrop*`); from its head it is serialised at `bandwidth` bit/s,
//! `overhead` bytes a frame added to its length; when its serialisation starts (the link is
//! free: the previous frame's ended), it may first be duplicated (`duplicate` %: a copy is
//! serialised and the original stays at the head, so ng_pipe's `random() % 100 <= duplicate`
//! test is kept: 1 + `duplicate` chances in 100), then lost with the probability of a bit
//! error in its `8 · (length + overhead)` bits at one error in `BER` bits (`ber`, counted in
//! `delayDrop*`); a frame that survives enters the delay queue (at most `delaylen` frames, 0
//! unlimited; else `delay_queue_full`, `delayDrop*`) and goes out `delay` µs after its
//! serialisation ended (a `delay` is the whole node's, both ways). A frame due on a hook that is
//! not connected is a `delayDrop` and a `not_connected` drop, as ng_pipe counts a failed send.
//! A direction with no bandwidth, delay, BER nor duplication, and nothing held, passes bursts
//! straight through (counted `Fwd*`).
//!
//! `setcfg { bandwidth delay header_offset overhead downstream={ bandwidth BER queuelen
//! delaylen duplicate fifo drr wfq droptail drophead } upstream={ ... } }` (ng_pipe.h's parse
//! table names). As ng_pipe: a field left out or 0 keeps its value, and so does a value out of
//! range (delay 1..9999999 µs; bandwidth 100..10^9 bit/s, the top-level one setting both
//! directions and `overhead` to 24 bytes at 10 Mbit/s and above, else 10; overhead 1..255;
//! header_offset 1..63; BER 1..10^12; queuelen and delaylen ≥ 5; duplicate 1..50); −1 sets 0
//! (a direction's `bandwidth` −1 also restores `fifo`). Defaults per direction: queuelen=50
//! fifo=1 droptail=1, the rest 0. `getcfg` replies the same structure (the top-level
//! `bandwidth` when both directions have the same one, theirs then shown as 0, as ng_pipe).
//! Queueing disciplines: only FIFO: `wfq` or `drr` non-zero is refused (EINVAL), since ng_pipe's
//! per-flow queues (hashed on the IPv4 addresses at `header_offset`) have no use with one
//! FIFO; `header_offset` is kept and shown, and used by nothing.
//!
//! Counters: `getstats`, `clrstats`, `getclrstats`: `{ downstream={ FwdOctets FwdFrames
//! queueDropOctets queueDropFrames delayDropOctets delayDropFrames } upstream={ ... } }`
//! (`downstream`: frames that entered on upper). `getrun`: `{ downstream={ queues queuedOctets
//! queuedFrames delayedOctets delayedFrames } upstream={ ... } }`, the frames held now in the
//! inbound and delay queues of every worker (a worker adds its changes once per burst).
//!
//! Without a lock or a sleep on the worker. A frame stays on the worker that received it (its
//! pool's chunk), in this node's per-worker state ([`Cx::with_held`]): per direction an inbound
//! FIFO (with arrival times) and a delay FIFO (with due times). The link is the whole node's:
//! per direction one atomic virtual clock, the time its last serialisation ends; a worker
//! starts its head frame when that time has passed (start = the later of it and the frame's
//! arrival, end = start + serialisation time, one compare-exchange), so the bandwidth holds for
//! all workers together, frame after frame as on one link. The queue limits count the frames
//! of every worker (shared counters, updated once per burst): up to the frames other workers
//! added in the same instant, the limits are ng_pipe's. The worker calls the node back
//! ([`NodeType::poll`]) at the earliest of its head frames' start and due times; frames leave
//! at the worker's first loop at or after their time (`worker.rs`, "Held frames"). Each of a
//! worker's four queues holds at most an eighth of its pool (a frame past that is dropped as
//! if the queue were full), so that held frames never starve reception; held frames are freed
//! (`flushed`) when the node or the hook they came by goes. Random numbers (duplication, BER)
//! come from a xorshift generator per worker seeded from the node's ID and the worker's: the
//! same run gives the same losses. A worker's queues grow (allocate) up to their largest
//! occupancy so far, then never again; the per-worker state itself is made once.

use crate::buf::Frame;
use crate::counters::PerWorker;
use crate::epoch::EpochCell;
use crate::graph::{
    BurstBox, Create, Cx, DropReason, GraphError, HeldFrames, HookCx, HookError, HookSpec,
    HookState, MsgCx, MsgSpec, NodeEnv, NodeType, Slot, TypeInfo,
};
use crate::value::Value;
use std::collections::VecDeque;
use std::sync::atomic::{
    AtomicI64, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed},
};
use std::sync::OnceLock;

crate::drop_reasons! {
    pub mod reason {
        QUEUE_FULL = "queue_full": "the inbound queue was full (queuelen, or the worker's share \
                                    of its pool): a queueDrop",
        BER = "ber": "lost on the emulated link at its bit error rate (BER): a delayDrop",
        DELAY_QUEUE_FULL = "delay_queue_full": "the delay queue was full (delaylen, or the \
                                                worker's share of its pool): a delayDrop",
    }
}

const CFG_ARGS: &str = "{ bandwidth=N delay=N header_offset=N overhead=N downstream={ \
                        bandwidth=N BER=N queuelen=N delaylen=N duplicate=N fifo=N drr=N wfq=N \
                        droptail=N drophead=N } upstream={ ... } }";
const STATS: &str = "{ downstream={ FwdOctets FwdFrames queueDropOctets queueDropFrames \
                     delayDropOctets delayDropFrames } upstream={ ... } }: downstream counts \
                     frames from upper";
const RUN: &str = "{ downstream={ queues queuedOctets queuedFrames delayedOctets delayedFrames } \
                   upstream={ ... } }: frames held now";

pub static TYPE: TypeInfo = TypeInfo {
    name: "pipe",
    summary: "a WAN emulator: bandwidth, delay, bit errors, duplication and queue limits, each \
              direction apart (ng_pipe)",
    hooks: "upper, lower: frames from upper go out lower (downstream), frames from lower out \
            upper (upstream), through their direction's queues; connecting a hook resets its \
            direction's configuration",
    messages: &[
        MsgSpec {
            name: "getstats",
            args: "",
            help: STATS,
        },
        MsgSpec {
            name: "clrstats",
            args: "",
            help: "clear both directions' counters",
        },
        MsgSpec {
            name: "getclrstats",
            args: "",
            help: "getstats, then clrstats",
        },
        MsgSpec {
            name: "getrun",
            args: "",
            help: RUN,
        },
        MsgSpec {
            name: "getcfg",
            args: "",
            help: "the configuration, as setcfg takes it",
        },
        MsgSpec {
            name: "setcfg",
            args: CFG_ARGS,
            help: "configure: delay in µs (the node's), bandwidth in bit/s (top level: both \
                   directions); absent, 0 or out-of-range fields keep their value, -1 sets 0; \
                   wfq and drr are refused (FIFO only)",
        },
    ],
    hook_counters: &[],
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: Some(("upper", "lower")),
    create: Create::Mkpeer(|env| Box::new(Pipe::new(env))),
};

const UPPER: Slot = 0;
const LOWER: Slot = 1;
const NAMES: [(&str, Slot); 2] = [("upper", UPPER), ("lower", LOWER)];

/// Counters per direction, as ng_pipe.h's parse table names them.
pub const STAT_NAMES: [&str; 6] = [
    "FwdOctets",
    "FwdFrames",
    "queueDropOctets",
    "queueDropFrames",
    "delayDropOctets",
    "delayDropFrames",
];
const FWD: usize = 0;
const QDROP: usize = 2;
const DDROP: usize = 4;

const HOOK_FIELDS: [&str; 10] = [
    "bandwidth",
    "BER",
    "queuelen",
    "delaylen",
    "duplicate",
    "fifo",
    "drr",
    "wfq",
    "droptail",
    "drophead",
];
const CFG_FIELDS: [&str; 6] = [
    "bandwidth",
    "delay",
    "header_offset",
    "overhead",
    "downstream",
    "upstream",
];

/// One direction's configuration (ng_pipe_hookcfg).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HookCfg {
    pub bandwidth: u64,
    pub ber: u64,
    pub queuelen: u32,
    pub delaylen: u32,
    pub duplicate: u32,
    pub fifo: u32,
    pub drr: u32,
    pub wfq: u32,
    pub droptail: u32,
    pub drophead: u32,
    /// ln(1 − 1/BER): a frame of n bits is clean with probability exp(n · this).
    ber_ln: f64,
}

/// ng_pipe's newhook defaults.
pub const DEFAULT_HOOK: HookCfg = HookCfg {
    bandwidth: 0,
    ber: 0,
    queuelen: 50,
    delaylen: 0,
    duplicate: 0,
    fifo: 1,
    drr: 0,
    wfq: 0,
    droptail: 1,
    drophead: 0,
    ber_ln: 0.0,
};

/// The node's configuration (ng_pipe_cfg; downstream is indexed by UPPER).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cfg {
    /// µs.
    pub delay: u64,
    pub header_offset: u32,
    pub overhead: u32,
    pub dirs: [HookCfg; 2],
}

pub const DEFAULT_CFG: Cfg = Cfg {
    delay: 0,
    header_offset: 0,
    overhead: 0,
    dirs: [DEFAULT_HOOK; 2],
};

/// A setcfg field: absent (or 0), −1, or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Keep,
    Zero,
    To(u64),
}

impl Set {
    /// Reads field `f` of `v`, an unsigned of `bits` bits in ng_pipe's struct (−1 and its
    /// all-ones form both mean −1).
    fn read(v: &Value, f: &str, bits: u32) -> Result<Set, String> {
        let Some(x) = v.field(f) else {
            return Ok(Set::Keep);
        };
        let max = if bits == 64 {
            u64::MAX as i128
        } else {
            (1i128 << bits) - 1
        };
        let n = x.int_in(f, -1, max).map_err(|e| e.0)?;
        Ok(match n {
            0 => Set::Keep,
            -1 => Set::Zero,
            n if n == max => Set::Zero,
            n => Set::To(n as u64),
        })
    }

    /// ng_pipe's rule: −1 sets 0, a value in `ok` sets it, anything else keeps.
    fn apply<T: Copy + TryFrom<u64>>(self, cur: &mut T, zero: T, ok: impl Fn(u64) -> bool) {
        match self {
            Set::Keep => {}
            Set::Zero => *cur = zero,
            Set::To(n) if ok(n) => {
                if let Ok(v) = T::try_from(n) {
                    *cur = v
                }
            }
            Set::To(_) => {}
        }
    }
}

impl HookCfg {
    /// Applies one direction's structure as ng_pipe's parse_cfg does.
    fn update(&mut self, v: &Value) -> Result<(), String> {
        v.check_fields(&HOOK_FIELDS).map_err(|e| e.0)?;
        let get = |f: &str, bits: u32| Set::read(v, f, bits);
        if get("wfq", 32)? != Set::Keep || get("drr", 32)? != Set::Keep {
            return Err("wfq and drr are not supported (one FIFO queue per direction)".into());
        }
        match get("BER", 64)? {
            Set::Zero => self.ber = 0,
            Set::To(n) if (1..=1_000_000_000_000).contains(&n) => self.ber = n,
            _ => {}
        }
        get("queuelen", 32)?.apply(&mut self.queuelen, 0, |n| n >= 5);
        get("delaylen", 32)?.apply(&mut self.delaylen, 0, |n| n >= 5);
        get("duplicate", 32)?.apply(&mut self.duplicate, 0, |n| (1..=50).contains(&n));
        if get("fifo", 32)? != Set::Keep {
            (self.fifo, self.wfq, self.drr) = (1, 0, 0);
        }
        if get("droptail", 32)? != Set::Keep {
            (self.droptail, self.drophead) = (1, 0);
        }
        if get("drophead", 32)? != Set::Keep {
            (self.droptail, self.drophead) = (0, 1);
        }
        match get("bandwidth", 64)? {
            Set::Zero => (self.bandwidth, self.fifo, self.wfq, self.drr) = (0, 1, 0, 0),
            Set::To(n) if (100..=1_000_000_000).contains(&n) => self.bandwidth = n,
            _ => {}
        }
        self.ber_ln = match self.ber {
            0 => 0.0,
            1 => f64::NEG_INFINITY,
            b => (-1.0 / b as f64).ln_1p(),
        };
        Ok(())
    }

    fn to_value(self, bandwidth: u64) -> Value {
        let u = |n: u32| Value::Uint(n as u64);
        Value::record([
            ("bandwidth", Value::Uint(bandwidth)),
            ("BER", Value::Uint(self.ber)),
            ("queuelen", u(self.queuelen)),
            ("delaylen", u(self.delaylen)),
            ("duplicate", u(self.duplicate)),
            ("fifo", u(self.fifo)),
            ("drr", u(self.drr)),
            ("wfq", u(self.wfq)),
            ("droptail", u(self.droptail)),
            ("drophead", u(self.drophead)),
        ])
    }

    /// Nothing to do but forward (ng_pipe's noqueue).
    fn passes(&self, delay: u64) -> bool {
        self.bandwidth == 0 && delay == 0 && self.duplicate == 0 && self.ber == 0
    }

    /// Serialisation time of a frame of `len` bytes, ns.
    fn ser_ns(&self, len: u32, overhead: u32) -> u64 {
        if self.bandwidth == 0 {
            return 0;
        }
        (len as u64 + overhead as u64) * 8_000_000_000 / self.bandwidth
    }
}

impl Cfg {
    /// Applies a setcfg argument as ng_pipe does.
    pub fn update(&mut self, a: &Value) -> Result<(), String> {
        a.check_fields(&CFG_FIELDS).map_err(|e| e.0)?;
        let mut new = *self;
        Set::read(a, "delay", 64)?.apply(&mut new.delay, 0, |n| n < 10_000_000);
        match Set::read(a, "bandwidth", 64)? {
            Set::Zero => {
                new.dirs.iter_mut().for_each(|d| d.bandwidth = 0);
                new.overhead = 0;
            }
            Set::To(n) if (100..=1_000_000_000).contains(&n) => {
                new.dirs.iter_mut().for_each(|d| d.bandwidth = n);
                new.overhead = if n >= 10_000_000 { 8 + 4 + 12 } else { 10 };
            }
            _ => {}
        }
        Set::read(a, "overhead", 32)?.apply(&mut new.overhead, 0, |n| n < 256);
        Set::read(a, "header_offset", 32)?.apply(&mut new.header_offset, 0, |n| n < 64);
        for (name, slot) in [("downstream", UPPER), ("upstream", LOWER)] {
            if let Some(v) = a.field(name) {
                new.dirs[slot as usize]
                    .update(v)
                    .map_err(|e| format!("{name}: {e}"))?;
            }
        }
        *self = new;
        Ok(())
    }

    /// A setcfg argument that makes a new node's configuration this one (`ctl save`): zeros
    /// as −1 (a 0 would keep the default), flags only when set, a direction's bandwidth only
    /// when the top level does not carry it.
    pub fn save_value(&self) -> Value {
        let n = |v: u64| {
            if v == 0 {
                Value::Int(-1)
            } else {
                Value::Uint(v)
            }
        };
        let top = self.to_value();
        let dir = |c: &HookCfg, shown: &Value| {
            let mut f: Vec<(String, Value)> = Vec::new();
            let bw = shown
                .field("bandwidth")
                .and_then(Value::as_i128)
                .unwrap_or(0);
            if bw != 0 {
                f.push(("bandwidth".into(), Value::Uint(bw as u64)));
            }
            for (k, v) in [
                ("BER", c.ber),
                ("queuelen", c.queuelen as u64),
                ("delaylen", c.delaylen as u64),
                ("duplicate", c.duplicate as u64),
            ] {
                f.push((k.into(), n(v)));
            }
            let flag = if c.drophead != 0 {
                "drophead"
            } else {
                "droptail"
            };
            f.push((flag.into(), Value::Uint(1)));
            f.push(("fifo".into(), Value::Uint(1)));
            Value::Struct(f)
        };
        let shown = |d: &str| top.field(d).cloned().unwrap_or(Value::Uint(0));
        let bw = top.field("bandwidth").and_then(Value::as_i128).unwrap_or(0) as u64;
        Value::record([
            ("bandwidth", n(bw)),
            ("delay", n(self.delay)),
            ("header_offset", n(self.header_offset as u64)),
            ("overhead", n(self.overhead as u64)),
            ("downstream", dir(&self.dirs[0], &shown("downstream"))),
            ("upstream", dir(&self.dirs[1], &shown("upstream"))),
        ])
    }

    pub fn to_value(&self) -> Value {
        let [down, up] = self.dirs;
        let same = down.bandwidth == up.bandwidth;
        let (top, each) = if same { (down.bandwidth, 0) } else { (0, 1) };
        Value::record([
            ("bandwidth", Value::Uint(top)),
            ("delay", Value::Uint(self.delay)),
            ("header_offset", Value::Uint(self.header_offset as u64)),
            ("overhead", Value::Uint(self.overhead as u64)),
            ("downstream", down.to_value(down.bandwidth * each)),
            ("upstream", up.to_value(up.bandwidth * each)),
        ])
    }
}

/// One direction's shared run-time state.
#[derive(Default)]
struct Run {
    /// Graph ns at which the link's last serialisation ends (ng_pipe's qin_utime).
    vclock: AtomicU64,
    /// Frames and octets in the inbound and delay queues of every worker.
    qin: [AtomicI64; 2],
    qout: [AtomicI64; 2],
    /// Bumped when the entry hook goes: workers free what they hold for this direction.
    gen: AtomicU64,
}

impl Run {
    fn idle(&self) -> bool {
        self.qin[0].load(Relaxed) == 0 && self.qout[0].load(Relaxed) == 0
    }
    fn get(a: &AtomicI64) -> u64 {
        a.load(Relaxed).max(0) as u64
    }
    /// The run structure of getrun.
    fn to_value(&self) -> Value {
        let queued = Run::get(&self.qin[0]);
        Value::record([
            ("queues", Value::Uint((queued > 0) as u64)),
            ("queuedOctets", Value::Uint(Run::get(&self.qin[1]))),
            ("queuedFrames", Value::Uint(queued)),
            ("delayedOctets", Value::Uint(Run::get(&self.qout[1]))),
            ("delayedFrames", Value::Uint(Run::get(&self.qout[0]))),
        ])
    }

    /// Starts serialising a frame of `ser` ns that arrived at `arrival`, if the link is free at
    /// `now`: its serialisation's end.
    fn start(&self, arrival: u64, ser: u64, now: u64) -> Option<u64> {
        let mut v = self.vclock.load(Acquire);
        loop {
            let start = v.max(arrival);
            if start > now {
                return None;
            }
            if ser == 0 {
                return Some(start);
            }
            match (self.vclock).compare_exchange_weak(v, start + ser, AcqRel, Acquire) {
                Ok(_) => return Some(start + ser),
                Err(x) => v = x,
            }
        }
    }
}

/// Changes to a direction's shared queue counts, applied once per call.
#[derive(Default, Clone, Copy)]
struct Delta {
    qin: [i64; 2],
    qout: [i64; 2],
}

impl Delta {
    fn add(q: &mut [i64; 2], f: &Frame, sign: i64) {
        q[0] += sign;
        q[1] += sign * f.len as i64;
    }
    fn commit(&self, r: &Run) {
        for (a, d) in r
            .qin
            .iter()
            .chain(&r.qout)
            .zip(self.qin.iter().chain(&self.qout))
        {
            if *d != 0 {
                a.fetch_add(*d, Relaxed);
            }
        }
    }
}

/// One direction's frames on one worker.
struct LocalDir {
    /// Waiting to be serialised, with their arrival times.
    qin: VecDeque<(Frame, u64)>,
    /// Serialised, with the times they are due out.
    qout: VecDeque<(Frame, u64)>,
    /// The `Run::gen` these frames belong to.
    gen: u64,
}

/// The node's state on one worker.
struct Local {
    dirs: [LocalDir; 2],
    rng: u64,
    /// Most frames in any one queue.
    cap: usize,
}

impl Local {
    fn new(seed: u64, cap: usize) -> Local {
        let dir = || LocalDir {
            qin: VecDeque::with_capacity(64),
            qout: VecDeque::with_capacity(64),
            gen: 0,
        };
        // splitmix64 of the seed: never 0, which xorshift would keep.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Local {
            dirs: [dir(), dir()],
            rng: (z ^ (z >> 31)) | 1,
            cap,
        }
    }
    /// xorshift64*.
    fn rand(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.rand() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

impl HeldFrames for Local {
    fn free_all(&mut self, pool: &mut crate::buf::Pool) -> u64 {
        let mut n = 0;
        for d in &mut self.dirs {
            for (f, _) in d.qin.drain(..).chain(d.qout.drain(..)) {
                pool.free(f);
                n += 1;
            }
        }
        n
    }
}

/// The node.
pub struct Pipe {
    cfg: EpochCell<Cfg>,
    /// By entry slot: downstream (entered on upper), upstream (entered on lower).
    run: [Run; 2],
    /// Counters per direction ([`STAT_NAMES`]), made when the first hook connects.
    stats: OnceLock<[PerWorker; 2]>,
}

impl Pipe {
    pub fn new(env: &NodeEnv<'_>) -> Pipe {
        Pipe {
            cfg: EpochCell::new(env.epoch, DEFAULT_CFG),
            run: Default::default(),
            stats: OnceLock::new(),
        }
    }

    fn cfg(&self, cx: &MsgCx<'_>) -> Cfg {
        *self.cfg.load(&cx.epoch.pin_writer())
    }

    fn count(&self, cx: &Cx<'_>, entry: Slot, what: usize, f: &Frame) {
        if let Some(s) = self.stats.get() {
            let s = &s[entry as usize];
            s.add(cx.worker(), what, f.len as u64);
            s.add(cx.worker(), what + 1, 1);
        }
    }

    fn stats_value(&self, cmd: &str) -> Value {
        let one = |d: Slot| {
            let s = self.stats.get().map(|s| &s[d as usize]);
            let f = STAT_NAMES.map(|n| n.to_string());
            let vals = (0..STAT_NAMES.len()).map(|i| Value::Uint(s.map_or(0, |s| s.get(i))));
            Value::Struct(f.into_iter().zip(vals).collect())
        };
        let v = Value::record([("downstream", one(UPPER)), ("upstream", one(LOWER))]);
        if cmd != "getstats" {
            self.stats
                .get()
                .into_iter()
                .flatten()
                .for_each(|s| s.clear());
        }
        v
    }

    /// No queueing configured and nothing held: the whole burst goes on (ng_pipe's shortcut).
    fn pass(&self, cx: &mut Cx<'_>, entry: Slot, frames: &mut BurstBox) {
        let dest = LOWER - entry;
        let what = if cx.is_connected(dest) { FWD } else { DDROP };
        if let Some(s) = self.stats.get() {
            let s = &s[entry as usize];
            s.add(cx.worker(), what, frames.octets());
            s.add(cx.worker(), what + 1, frames.len() as u64);
        }
        if what == FWD {
            cx.forward(dest, frames);
        } else {
            cx.drop_all(frames, DropReason::NotConnected);
        }
    }

    /// Frees what this worker holds for direction `e` if its entry hook went since.
    fn check_gen(&self, cx: &mut Cx<'_>, l: &mut Local, e: usize, d: &mut Delta) {
        let gen = self.run[e].gen.load(Acquire);
        let ld = &mut l.dirs[e];
        if ld.gen == gen {
            return;
        }
        ld.gen = gen;
        for (f, _) in ld.qin.drain(..) {
            Delta::add(&mut d.qin, &f, -1);
            cx.drop_frame(f, DropReason::Flushed);
        }
        for (f, _) in ld.qout.drain(..) {
            Delta::add(&mut d.qout, &f, -1);
            cx.drop_frame(f, DropReason::Flushed);
        }
    }

    /// Adds `f` (arrived `now`) to the inbound queue, dropping one frame if that overflows it.
    fn enqueue(
        &self,
        cx: &mut Cx<'_>,
        l: &mut Local,
        (e, c): (usize, &HookCfg),
        f: Frame,
        now: u64,
        d: &mut Delta,
    ) {
        let cap = l.cap;
        let ld = &mut l.dirs[e];
        ld.qin.push_back((f, now));
        Delta::add(&mut d.qin, &f, 1);
        let queued = self.run[e].qin[0].load(Relaxed) + d.qin[0];
        if queued <= c.queuelen as i64 && ld.qin.len() <= cap {
            return;
        }
        let victim = if c.drophead != 0 {
            ld.qin.pop_front()
        } else {
            ld.qin.pop_back()
        };
        if let Some((v, _)) = victim {
            Delta::add(&mut d.qin, &v, -1);
            self.count(cx, e as Slot, QDROP, &v);
            cx.drop_frame(v, reason::QUEUE_FULL);
        }
    }

    /// Moves frames whose serialisation can start by `now` from the inbound queue to the delay
    /// queue (duplicating, losing or dropping them there), then sends what is due.
    fn dequeue(
        &self,
        cx: &mut Cx<'_>,
        l: &mut Local,
        e: usize,
        cfg: &Cfg,
        now: u64,
        d: &mut Delta,
    ) {
        let c = &cfg.dirs[e];
        let run = &self.run[e];
        while let Some(&(f, arrival)) = l.dirs[e].qin.front() {
            let Some(end) = run.start(arrival, c.ser_ns(f.len, cfg.overhead), now) else {
                break;
            };
            let dup = c.duplicate != 0 && l.rand() % 100 <= c.duplicate as u64;
            let g = match dup.then(|| cx.copy(&f)).flatten() {
                Some(copy) => copy,
                None => {
                    l.dirs[e].qin.pop_front();
                    Delta::add(&mut d.qin, &f, -1);
                    f
                }
            };
            if c.ber != 0 {
                let bits = 8.0 * (g.len as f64 + cfg.overhead as f64);
                if l.unit() >= (bits * c.ber_ln).exp() {
                    self.count(cx, e as Slot, DDROP, &g);
                    cx.drop_frame(g, reason::BER);
                    continue;
                }
            }
            let delayed = run.qout[0].load(Relaxed) + d.qout[0];
            let full = c.delaylen != 0 && delayed >= c.delaylen as i64;
            if full || l.dirs[e].qout.len() >= l.cap {
                self.count(cx, e as Slot, DDROP, &g);
                cx.drop_frame(g, reason::DELAY_QUEUE_FULL);
                continue;
            }
            l.dirs[e].qout.push_back((g, end + cfg.delay * 1000));
            Delta::add(&mut d.qout, &g, 1);
        }
        let dest = LOWER - e as Slot;
        while let Some(&(f, due)) = l.dirs[e].qout.front() {
            if due > now {
                break;
            }
            l.dirs[e].qout.pop_front();
            Delta::add(&mut d.qout, &f, -1);
            if cx.is_connected(dest) {
                self.count(cx, e as Slot, FWD, &f);
                cx.send(dest, f);
            } else {
                self.count(cx, e as Slot, DDROP, &f);
                cx.drop_frame(f, DropReason::NotConnected);
            }
        }
    }

    /// When this worker must look at direction `e` again: its head frames' due and start times.
    fn next(&self, l: &Local, e: usize) -> Option<u64> {
        let ld = &l.dirs[e];
        let out = ld.qout.front().map(|(_, due)| *due);
        let vclock = self.run[e].vclock.load(Relaxed);
        let start = ld.qin.front().map(|(_, arrival)| vclock.max(*arrival));
        out.into_iter().chain(start).min()
    }

    /// This node's state on this worker (made on first use) with `f`.
    fn with_local<R>(&self, cx: &mut Cx<'_>, f: impl FnOnce(&mut Cx<'_>, &mut Local) -> R) -> R {
        let seed = (cx.node_id() as u64) << 16 ^ cx.worker() as u64;
        let cap = (cx.pool().capacity() / 8).max(1);
        cx.with_held(|| Local::new(seed, cap), |cx, l| f(cx, l))
    }
}

impl NodeType for Pipe {
    fn new_hook(&self, name: &str, _cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        super::fixed_hook(&NAMES, name, "pipe hooks are upper and lower")
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        super::spare_fixed(&NAMES, used)
    }
    fn connected(&self, hook: &HookState, cx: &mut MsgCx<'_>) {
        let stats = self
            .stats
            .get_or_init(|| [PerWorker::new(cx.workers, 6), PerWorker::new(cx.workers, 6)]);
        stats[hook.slot as usize].clear();
        let mut cfg = self.cfg(cx);
        cfg.dirs[hook.slot as usize] = DEFAULT_HOOK;
        self.cfg.replace(cx.epoch, cfg);
    }
    fn disconnected(&self, hook: &HookState, _cx: &mut MsgCx<'_>) {
        self.run[hook.slot as usize].gen.fetch_add(1, AcqRel);
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        let cfg = *self.cfg.load(cx.guard());
        let e = slot as usize;
        if cfg.dirs[e].passes(cfg.delay) && self.run[e].idle() {
            return self.pass(cx, slot, frames);
        }
        let now = cx.now_ns();
        self.with_local(cx, |cx, l| {
            let mut d = Delta::default();
            self.check_gen(cx, l, e, &mut d);
            for f in frames.drain() {
                self.enqueue(cx, l, (e, &cfg.dirs[e]), f, now, &mut d);
                self.dequeue(cx, l, e, &cfg, now, &mut d);
            }
            d.commit(&self.run[e]);
            if let Some(t) = self.next(l, e) {
                cx.wake_at(t);
            }
        });
    }
    fn poll(&self, cx: &mut Cx<'_>, now: u64) -> Option<u64> {
        let cfg = *self.cfg.load(cx.guard());
        self.with_local(cx, |cx, l| {
            let mut next = None::<u64>;
            for e in 0..2 {
                let mut d = Delta::default();
                self.check_gen(cx, l, e, &mut d);
                self.dequeue(cx, l, e, &cfg, now, &mut d);
                d.commit(&self.run[e]);
                next = next.into_iter().chain(self.next(l, e)).min();
            }
            next
        })
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        match cmd {
            "setcfg" => {
                let a = cx.need(cmd, arg)?;
                let mut cfg = self.cfg(cx);
                cfg.update(a).map_err(|e| cx.bad(cmd, e))?;
                self.cfg.replace(cx.epoch, cfg);
                Ok(None)
            }
            "getcfg" => cx.none(cmd, arg).map(|_| Some(self.cfg(cx).to_value())),
            "getrun" => {
                cx.none(cmd, arg)?;
                let [down, up] = &self.run;
                let v =
                    Value::record([("downstream", down.to_value()), ("upstream", up.to_value())]);
                Ok(Some(v))
            }
            "getstats" | "clrstats" | "getclrstats" => {
                cx.none(cmd, arg)?;
                let v = self.stats_value(cmd);
                Ok((cmd != "clrstats").then_some(v))
            }
            _ => Err(cx.unknown(cmd)),
        }
    }
    fn config_msgs(&self, cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        let cfg = self.cfg(cx);
        if cfg == DEFAULT_CFG {
            return Vec::new();
        }
        vec![("setcfg".into(), Some(cfg.save_value()))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn setcfg_keeps_out_of_range_values_and_minus_one_sets_zero() {
        let mut c = DEFAULT_CFG;
        c.update(&Value::parse("{ delay=100 bandwidth=20000000 }").unwrap())
            .unwrap();
        assert_eq!(
            (c.delay, c.overhead, c.dirs[1].bandwidth),
            (100, 24, 20_000_000)
        );
        let keep = c;
        c.update(&Value::parse("{ delay=0 overhead=256 header_offset=64 }").unwrap())
            .unwrap();
        assert_eq!(c, keep);
        c.update(&Value::parse("{ delay=-1 overhead=4294967295 }").unwrap())
            .unwrap();
        assert_eq!((c.delay, c.overhead), (0, 0), "-1 in its unsigned form too");
        c.update(&Value::parse("{ upstream={ bandwidth=-1 BER=1 } }").unwrap())
            .unwrap();
        assert_eq!(c.dirs[1].bandwidth, 0);
        assert_eq!(
            c.dirs[1].ber_ln,
            f64::NEG_INFINITY,
            "BER 1: every frame lost"
        );
        assert!(c
            .update(&Value::parse("{ upstream={ drr=1 } }").unwrap())
            .is_err());
        assert_eq!(
            DEFAULT_HOOK.ser_ns(100, 0),
            0,
            "no bandwidth: no serialisation"
        );
        let mut h = DEFAULT_HOOK;
        h.bandwidth = 8_000_000;
        assert_eq!(h.ser_ns(976, 24), 1_000_000, "1000 bytes at 8 Mbit/s: 1 ms");
    }

    #[test]
    fn the_link_clock_serialises_frames_of_several_workers_back_to_back() {
        // Two threads start 1 µs frames on one link as its clock allows, at a shared "now"
        // that steps 10 µs at a time: every frame starts when the previous one ended.
        let run = Arc::new(Run::default());
        let now = Arc::new(AtomicU64::new(0));
        let ends: Vec<_> = (0..2)
            .map(|_| {
                let (run, now) = (run.clone(), now.clone());
                std::thread::spawn(move || {
                    let mut ends = Vec::new();
                    while ends.len() < 1000 {
                        let t = now.load(Acquire);
                        match run.start(0, 1000, t) {
                            Some(e) => ends.push(e),
                            None => {
                                let _ = now.compare_exchange(t, t + 10_000, AcqRel, Acquire);
                            }
                        }
                    }
                    ends
                })
            })
            .collect();
        let mut all: Vec<u64> = ends.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort();
        assert_eq!(all, (1..=2000).map(|i| i * 1000).collect::<Vec<_>>());
        // A frame arriving on an idle link starts at its arrival.
        let r = Run::default();
        assert_eq!(r.start(5_000_000, 1000, 5_000_000), Some(5_001_000));
        assert_eq!(
            r.start(5_000_000, 1000, 5_000_000),
            None,
            "busy until 5.001 ms"
        );
    }
}
