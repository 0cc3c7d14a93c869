//! `bpf`: classifies frames with a classic BPF program per hook (ng_bpf).
//!
//! Hooks: any name. Each hook has a program and two target hook names, `ifMatch` and
//! `ifNotMatch`. A frame received on a hook runs through that hook's program (offset 0 is the
//! first byte of the destination MAC; an out-of-band VLAN tag is not seen, as ng_bpf does not
//! see `ether_vtag`). A result of 0 sends it out `ifNotMatch`; n > 0 sends it out `ifMatch`,
//! cut to its first n bytes when it is longer (ng_bpf's `m_adj`). A zero-length frame does not
//! run the program: it does not match. A target that is empty or names no connected hook drops
//! the frame (`match_no_hook` / `nomatch_no_hook`). A new hook gets `ret #0` with both targets
//! empty: it drops everything until `setprogram`. Targets are hook *names*, looked up again
//! whenever a hook connects or disconnects (a target may be the hook itself, or a hook
//! connected back to this node, as mpd5 chains its rules), and a hook's program goes with it.
//!
//! Messages (a hook name is a quoted string; an unknown one is ENOENT):
//! * `setprogram { thisHook="h" ifMatch="m" ifNotMatch="n" bpf_prog_len=N bpf_prog=[ { code=N
//!   jt=N jf=N k=N } ... ] }`: `bpf_prog_len` must be 1..=512 and the number of instructions
//!   given; the program is checked as FreeBSD's `bpf_validate` (see [`vm`]); EINVAL otherwise.
//!   `code` is read in decimal or `0x` hex and printed in hex (ng_parse_hint16); `jt`/`jf`
//!   take -128..=255, `k` -2^31..=2^32-1 (ng_parse's int8/int32 ranges, so `k=-1` is
//!   4294967295).
//! * `getprogram "h"`: the hook's program, as `setprogram` takes it (zero fields left out;
//!   an all-zero instruction prints `{ }` where netgraph would skip it and number the next).
//! * `getstats "h"`, `clrstats "h"`, `getclrstats "h"`: the hook's counters.
//!
//! Counters, per hook: `recvFrames`/`recvOctets` (frames received there: the graph's generic
//! in counters), `recvMatchFrames`/`recvMatchOctets` (of those, the ones its program matched,
//! with their length before cutting), `xmitFrames`/`xmitOctets` (frames sent out of the hook,
//! after cutting: the generic out counters). `clrstats` clears all six.
//!
//! Data path: per burst the worker loads the node's table (published through the epoch by the
//! management thread on every program or hook change), finds the hook's program and resolved
//! targets, and runs the program on each frame; a program that is one `ret #k` is applied to the
//! burst as a whole. No allocation or lock per frame.

pub mod vm;

use crate::epoch::EpochCell;
use crate::graph::{
    hook_stat, BurstBox, Create, Cx, DropReason, GraphError, HookCx, HookError, HookSpec,
    HookState, MsgCx, MsgSpec, NodeType, Slot, TypeInfo, MAX_NAME,
};
use crate::value::Value;
use std::sync::Arc;
use vm::{Insn, Program};

crate::drop_reasons! {
    pub mod reason {
        /// The program matched; `ifMatch` is empty or names no connected hook.
        MATCH_NO_HOOK = "match_no_hook": "matched its hook's program, and ifMatch names no \
                                          connected hook",
        /// The program did not match; `ifNotMatch` is empty or names no connected hook.
        NOMATCH_NO_HOOK = "nomatch_no_hook": "did not match its hook's program (a new hook's \
                                              matches nothing), and ifNotMatch names no \
                                              connected hook",
    }
}

const HOOK_ARG: &str = "\"<hook>\"";

pub static TYPE: TypeInfo = TypeInfo {
    name: "bpf",
    summary: "classifies frames with a classic BPF program per hook: matching frames go out \
              one hook, the others out another (ng_bpf)",
    hooks: "any name: frames received on a hook run through its program and go out its \
            ifMatch hook (cut to the length the program returns) or its ifNotMatch hook; an \
            empty or unconnected target drops them. A new hook's program (ret #0, no targets) \
            drops everything",
    messages: &[
        MsgSpec {
            name: "setprogram",
            args: "{ thisHook=\"<hook>\" ifMatch=\"<hook>\" ifNotMatch=\"<hook>\" \
                   bpf_prog_len=N bpf_prog=[ { code=N jt=N jf=N k=N } ... ] }",
            help: "set a hook's program and targets (checked as bpf_validate: EINVAL; an \
                   unknown thisHook: ENOENT)",
        },
        MsgSpec {
            name: "getprogram",
            args: HOOK_ARG,
            help: "the hook's program and targets, as setprogram takes them",
        },
        MsgSpec {
            name: "getstats",
            args: HOOK_ARG,
            help: "{ recvFrames recvOctets recvMatchFrames recvMatchOctets xmitFrames \
                   xmitOctets } of the hook",
        },
        MsgSpec {
            name: "clrstats",
            args: HOOK_ARG,
            help: "clear the hook's counters",
        },
        MsgSpec {
            name: "getclrstats",
            args: HOOK_ARG,
            help: "getstats, then clrstats",
        },
    ],
    hook_counters: &["recvMatchFrames", "recvMatchOctets"],
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|env| Box::new(Bpf::new(env.epoch))),
};

/// Hook counters after the generic ones.
const RECV_MATCH_FRAMES: usize = hook_stat::GENERIC;
const RECV_MATCH_OCTETS: usize = hook_stat::GENERIC + 1;

/// One hook's program as `setprogram` gave it (`struct ng_bpf_hookprog`), and decoded.
#[derive(Debug)]
pub struct HookProg {
    this_hook: String,
    if_match: String,
    if_not_match: String,
    insns: Box<[Insn]>,
    prog: Program,
}

/// ng_bpf's default program: `ret #0`.
const MATCH_NOTHING: Insn = Insn::stmt(vm::op::RET | vm::op::K, 0);

impl HookProg {
    /// The program of a new hook: matches nothing, no targets.
    fn default_for(hook: &str) -> HookProg {
        HookProg {
            this_hook: hook.to_string(),
            if_match: String::new(),
            if_not_match: String::new(),
            insns: Box::new([MATCH_NOTHING]),
            prog: Program::new(&[MATCH_NOTHING]).expect("ret #0 is valid"),
        }
    }

    fn is_default(&self) -> bool {
        self.if_match.is_empty() && self.if_not_match.is_empty() && *self.insns == [MATCH_NOTHING]
    }

    /// The ASCII form (`struct ng_bpf_hookprog` as ng_bpf's parse type prints it).
    fn to_value(&self) -> Value {
        let insn = |i: &Insn| {
            Value::record([
                ("code", Value::Hex(i.code as u64)),
                ("jt", Value::Uint(i.jt as u64)),
                ("jf", Value::Uint(i.jf as u64)),
                ("k", Value::Uint(i.k as u64)),
            ])
        };
        Value::record([
            ("thisHook", Value::Str(self.this_hook.clone())),
            ("ifMatch", Value::Str(self.if_match.clone())),
            ("ifNotMatch", Value::Str(self.if_not_match.clone())),
            ("bpf_prog_len", Value::Int(self.insns.len() as i64)),
            (
                "bpf_prog",
                Value::Array(self.insns.iter().map(insn).collect()),
            ),
        ])
    }
}

/// A target hook as resolved for one topology: its slot, and its uid to tell it from a later
/// hook on the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target {
    slot: Slot,
    uid: u64,
}

/// A hook's program with its targets resolved.
#[derive(Debug, Clone)]
struct Entry {
    slot: Slot,
    uid: u64,
    prog: Arc<HookProg>,
    on_match: Option<Target>,
    on_nomatch: Option<Target>,
}

/// What the workers read: each hook's entry, by slot. Replaced whole on every change.
#[derive(Debug, Default)]
struct Table {
    by_slot: Box<[Option<Entry>]>,
}

impl Table {
    #[inline]
    fn entry(&self, slot: Slot) -> Option<&Entry> {
        self.by_slot.get(slot as usize)?.as_ref()
    }
    fn by_uid(&self, uid: u64) -> Option<&Entry> {
        self.by_slot.iter().flatten().find(|e| e.uid == uid)
    }
}

pub struct Bpf {
    table: EpochCell<Table>,
}

impl Bpf {
    pub fn new(epoch: &crate::epoch::Epoch) -> Bpf {
        Bpf {
            table: EpochCell::new(epoch, Table::default()),
        }
    }

    /// Applies `edit` to the (slot, uid, program) rows, resolves every target against the
    /// node's hooks now, and publishes the new table (management thread: the only writer).
    fn edit(&self, cx: &MsgCx<'_>, edit: impl FnOnce(&mut Vec<(Slot, u64, Arc<HookProg>)>)) {
        let g = cx.epoch.pin_writer();
        let old = self.table.load(&g);
        let mut rows: Vec<(Slot, u64, Arc<HookProg>)> = (old.by_slot.iter().flatten())
            .map(|e| (e.slot, e.uid, Arc::clone(&e.prog)))
            .collect();
        edit(&mut rows);
        let target = |name: &str| {
            let h = cx.hook(name).filter(|_| !name.is_empty())?;
            Some(Target {
                slot: h.slot,
                uid: h.uid,
            })
        };
        let size = rows.iter().map(|r| r.0 as usize + 1).max().unwrap_or(0);
        let mut by_slot: Vec<Option<Entry>> = vec![None; size];
        for (slot, uid, prog) in rows {
            by_slot[slot as usize] = Some(Entry {
                slot,
                uid,
                on_match: target(&prog.if_match),
                on_nomatch: target(&prog.if_not_match),
                prog,
            });
        }
        let by_slot = by_slot.into_boxed_slice();
        self.table.replace_pinned(cx.epoch, Table { by_slot }, &g);
    }

    /// The program of hook `h` (its default if the table has none, which does not happen).
    fn program_of(&self, cx: &MsgCx<'_>, h: &HookState) -> Arc<HookProg> {
        let g = cx.epoch.pin_writer();
        match self.table.load(&g).by_uid(h.uid) {
            Some(e) => Arc::clone(&e.prog),
            None => Arc::new(HookProg::default_for(&h.name)),
        }
    }
}

// ----- the data path -----------------------------------------------------------------------

/// `t`'s slot if its hook is the one connected there in this burst's topology.
#[inline]
fn live(cx: &Cx<'_>, t: Option<Target>) -> Option<Slot> {
    let t = t?;
    cx.hook(t.slot).filter(|h| h.uid == t.uid).map(|_| t.slot)
}

/// The whole burst out of `to`, or dropped for `why`.
#[inline]
/// Runs `prog` over a chained (jumbo) frame laid out whole in this thread's scratch buffer
/// (allocated once per thread, grown to the largest frame seen; frames that fit one chunk run
/// in place).
#[cold]
fn run_chained(prog: &Program, cx: &mut Cx<'_>, f: &crate::buf::Frame) -> u32 {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        s.resize(f.len as usize, 0);
        let n = cx.pool().read_at(f, 0, &mut s);
        prog.run(&s[..n])
    })
}

fn out_all(cx: &mut Cx<'_>, to: Option<Slot>, why: DropReason, frames: &mut BurstBox) {
    match to {
        Some(s) => cx.forward(s, frames),
        None => cx.drop_all(frames, why),
    }
}

/// One frame out of `to`, or dropped for `why`.
#[inline(always)]
fn out_one(cx: &mut Cx<'_>, to: Option<Slot>, why: DropReason, f: crate::buf::Frame) {
    match to {
        Some(s) => cx.send(s, f),
        None => cx.drop_frame(f, why),
    }
}

impl Bpf {
    /// Runs `e`'s program over every frame; returns the matched frames and their octets
    /// (before cutting).
    fn filter(cx: &mut Cx<'_>, e: &Entry, frames: &mut BurstBox) -> (u64, u64) {
        let (yes, no) = (live(cx, e.on_match), live(cx, e.on_nomatch));
        let prog = &e.prog.prog;
        if let Some(k) = prog.constant() {
            if frames.as_slice().iter().all(|f| f.len > 0) {
                return Self::constant(cx, k, (yes, no), frames);
            }
        }
        let (mut n, mut octets) = (0, 0);
        for mut f in frames.drain() {
            let len = f.len;
            let verdict = match (len, f.is_chained()) {
                (0, _) => 0,
                (_, false) => prog.run(cx.data(&f)),
                (_, true) => run_chained(prog, cx, &f),
            };
            if verdict == 0 {
                out_one(cx, no, reason::NOMATCH_NO_HOOK, f);
                continue;
            }
            n += 1;
            octets += len as u64;
            cx.pool().truncate(&mut f, verdict as usize);
            out_one(cx, yes, reason::MATCH_NO_HOOK, f);
        }
        (n, octets)
    }

    /// A program that is `ret #k`, over a burst without zero-length frames.
    fn constant(
        cx: &mut Cx<'_>,
        k: u32,
        (yes, no): (Option<Slot>, Option<Slot>),
        frames: &mut BurstBox,
    ) -> (u64, u64) {
        if k == 0 {
            out_all(cx, no, reason::NOMATCH_NO_HOOK, frames);
            return (0, 0);
        }
        let matched = (frames.len() as u64, frames.octets());
        for f in frames.as_mut_slice() {
            cx.pool().truncate(f, k as usize);
        }
        out_all(cx, yes, reason::MATCH_NO_HOOK, frames);
        matched
    }
}

// ----- messages ----------------------------------------------------------------------------

/// A string field naming a hook (absent: empty, as netgraph's parser leaves it).
fn name_field(cx: &MsgCx<'_>, cmd: &str, a: &Value, f: &str) -> Result<String, GraphError> {
    let s = match a.field(f) {
        None => return Ok(String::new()),
        Some(v) => v
            .as_str()
            .ok_or_else(|| cx.bad(cmd, format!("{f}: expected a quoted hook name, got {v}")))?,
    };
    if s.len() > MAX_NAME {
        let why = format!("{f}: \"{s}\" is longer than {MAX_NAME} characters");
        return Err(cx.bad(cmd, why));
    }
    Ok(s.to_string())
}

/// One `bpf_prog` element: `{ code jt jf k }` (a gap left by explicit indexes is all zeros).
fn insn(cx: &MsgCx<'_>, cmd: &str, at: usize, v: &Value) -> Result<Insn, GraphError> {
    if let Value::Int(0) | Value::Uint(0) = v {
        return Ok(Insn::default());
    }
    let bad = |why: String| cx.bad(cmd, format!("bpf_prog[{at}]: {why}"));
    v.check_fields(&["code", "jt", "jf", "k"])
        .map_err(|e| bad(e.0))?;
    // ng_parse's hint16, uint8 and uint32 ranges (negative values wrap).
    let num = |f: &str, min: i128, max: i128| -> Result<i128, GraphError> {
        v.field(f)
            .map_or(Ok(0), |x| x.int_in(f, min, max))
            .map_err(|e| bad(e.0))
    };
    Ok(Insn {
        code: num("code", i16::MIN as i128, u16::MAX as i128)? as u16,
        jt: num("jt", i8::MIN as i128, u8::MAX as i128)? as u8,
        jf: num("jf", i8::MIN as i128, u8::MAX as i128)? as u8,
        k: num("k", i32::MIN as i128, u32::MAX as i128)? as u32,
    })
}

impl Bpf {
    /// `setprogram`.
    fn set_program(
        &self,
        cx: &MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<(), GraphError> {
        let a = cx.need(cmd, arg)?;
        let fields = [
            "thisHook",
            "ifMatch",
            "ifNotMatch",
            "bpf_prog_len",
            "bpf_prog",
        ];
        a.check_fields(&fields).map_err(|e| cx.bad(cmd, e.0))?;
        let this_hook = name_field(cx, cmd, a, "thisHook")?;
        let if_match = name_field(cx, cmd, a, "ifMatch")?;
        let if_not_match = name_field(cx, cmd, a, "ifNotMatch")?;
        let len = match a.field("bpf_prog_len") {
            None => 0,
            Some(v) => (v.int_in("bpf_prog_len", i32::MIN as i128, i32::MAX as i128))
                .map_err(|e| cx.bad(cmd, e.0))?,
        };
        let items: &[Value] = match a.field("bpf_prog") {
            None => &[],
            Some(Value::Array(items)) => items,
            Some(v) => return Err(cx.bad(cmd, format!("bpf_prog: expected an array, got {v}"))),
        };
        if len != items.len() as i128 {
            let why = format!(
                "bpf_prog_len={len} but bpf_prog has {} instructions",
                items.len()
            );
            return Err(cx.bad(cmd, why));
        }
        let insns = (items.iter().enumerate())
            .map(|(at, v)| insn(cx, cmd, at, v))
            .collect::<Result<Box<[Insn]>, _>>()?;
        let h = cx.hook(&this_hook).ok_or_else(|| no_hook(cx, &this_hook))?;
        let prog = Program::new(&insns).map_err(|e| cx.bad(cmd, e.to_string()))?;
        let hp = Arc::new(HookProg {
            this_hook,
            if_match,
            if_not_match,
            insns,
            prog,
        });
        let uid = h.uid;
        self.edit(cx, |rows| {
            for r in rows.iter_mut().filter(|r| r.1 == uid) {
                r.2 = Arc::clone(&hp);
            }
        });
        Ok(())
    }
}

fn no_hook(cx: &MsgCx<'_>, hook: &str) -> GraphError {
    GraphError::NoHook {
        node: cx.node().to_string(),
        hook: hook.to_string(),
    }
}

/// The hook a `getprogram`/`getstats`/... argument names.
fn hook_arg<'c>(
    cx: &'c MsgCx<'_>,
    cmd: &str,
    arg: Option<&Value>,
) -> Result<&'c Arc<HookState>, GraphError> {
    let v = cx.need(cmd, arg)?;
    let name = v
        .as_str()
        .ok_or_else(|| cx.bad(cmd, format!("expected a quoted hook name, got {v}")))?;
    cx.hook(name).ok_or_else(|| no_hook(cx, name))
}

/// `getstats` (and `getclrstats`) of a hook: `struct ng_bpf_hookstat`.
fn hook_stats(h: &HookState) -> Value {
    let get = |i: usize| Value::Uint(h.stats.get(i));
    Value::record([
        ("recvFrames", get(hook_stat::IN_FRAMES)),
        ("recvOctets", get(hook_stat::IN_OCTETS)),
        ("recvMatchFrames", get(RECV_MATCH_FRAMES)),
        ("recvMatchOctets", get(RECV_MATCH_OCTETS)),
        ("xmitFrames", get(hook_stat::OUT_FRAMES)),
        ("xmitOctets", get(hook_stat::OUT_OCTETS)),
    ])
}

impl NodeType for Bpf {
    fn new_hook(&self, _name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        cx.any_slot()
    }
    fn connected(&self, hook: &HookState, cx: &mut MsgCx<'_>) {
        let prog = Arc::new(HookProg::default_for(&hook.name));
        self.edit(cx, |rows| {
            rows.retain(|r| r.1 != hook.uid);
            rows.push((hook.slot, hook.uid, prog));
        });
    }
    fn disconnected(&self, hook: &HookState, cx: &mut MsgCx<'_>) {
        self.edit(cx, |rows| rows.retain(|r| r.1 != hook.uid));
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        super::spare_any(used)
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        let t = self.table.load(cx.guard());
        let mine = cx.hook(slot).map(|h| h.uid);
        // A hook without an entry (not possible in one topology) runs the default program.
        let Some(e) = t.entry(slot).filter(|e| Some(e.uid) == mine) else {
            return cx.drop_all(frames, reason::NOMATCH_NO_HOOK);
        };
        let (n, octets) = Self::filter(cx, e, frames);
        if n > 0 {
            if let Some(h) = cx.hook(slot) {
                cx.count(h, RECV_MATCH_FRAMES, n);
                cx.count(h, RECV_MATCH_OCTETS, octets);
            }
        }
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        match cmd {
            "setprogram" => {
                self.set_program(cx, cmd, arg)?;
                Ok(None)
            }
            "getprogram" => {
                let h = hook_arg(cx, cmd, arg)?;
                Ok(Some(self.program_of(cx, h).to_value()))
            }
            "getstats" | "clrstats" | "getclrstats" => {
                let h = hook_arg(cx, cmd, arg)?;
                let reply = (cmd != "clrstats").then(|| hook_stats(h));
                if cmd != "getstats" {
                    h.stats.clear();
                }
                Ok(reply)
            }
            _ => Err(cx.unknown(cmd)),
        }
    }
    fn config_msgs(&self, cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        (cx.hooks())
            .map(|h| self.program_of(cx, h))
            .filter(|p| !p.is_default())
            .map(|p| ("setprogram".to_string(), Some(p.to_value())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_program_matches_nothing_and_prints_as_netgraph() {
        let p = HookProg::default_for("in");
        assert!(p.is_default());
        assert_eq!(p.prog.constant(), Some(0));
        assert_eq!(
            p.to_value().to_string(),
            r#"{ thisHook="in" bpf_prog_len=1 bpf_prog=[ { code=0x6 } ] }"#
        );
    }

    #[test]
    fn the_descriptor_names_netgraphs_messages_and_counters() {
        let names: Vec<&str> = TYPE.messages.iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "setprogram",
                "getprogram",
                "getstats",
                "clrstats",
                "getclrstats"
            ]
        );
        assert_eq!(TYPE.hook_counters, ["recvMatchFrames", "recvMatchOctets"]);
        assert_eq!(reason::ALL[0].name, "match_no_hook");
        assert_eq!(reason::ALL[1].name, "nomatch_no_hook");
    }
}
