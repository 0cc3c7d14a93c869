//! A node type defined entirely outside the crate: registered through the public API, it shows
//! in `types`, `help` and `errors`, and carries frames like a built-in type.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use xdpgraph::ctl::exec::execute;
use xdpgraph::graph::{
    hook_stat, BurstBox, Create, Cx, Graph, GraphConfig, GraphError, HookCx, HookError, HookSpec,
    MsgCx, MsgSpec, NodeType, Slot, TypeInfo,
};
use xdpgraph::testkit::{eth, Lab};
use xdpgraph::value::Value;

xdpgraph::drop_reasons! {
    mod reason {
        /// Every Nth frame from `in`.
        THINNED = "thinned": "dropped on purpose: every Nth frame from in",
    }
}

/// `dropper`: frames from `in` go out `out`, except every Nth, which is dropped (`thinned`);
/// frames from `out` go out `in`.
static DROPPER: TypeInfo = TypeInfo {
    name: "dropper",
    summary: "passes frames between in and out, dropping every Nth frame from in",
    hooks: "in, out",
    messages: &[
        MsgSpec {
            name: "setevery",
            args: "<N>",
            help: "drop every Nth frame from in (0: none)",
        },
        MsgSpec {
            name: "getseen",
            args: "",
            help: "frames seen on in",
        },
    ],
    hook_counters: &["thinned"],
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|_| Box::new(Dropper::default())),
};

const IN: Slot = 0;
const OUT: Slot = 1;
/// The hook counter after the generic ones.
const THINNED: usize = hook_stat::GENERIC;

#[derive(Default)]
struct Dropper {
    every: AtomicU64,
    seen: AtomicU64,
}

impl NodeType for Dropper {
    fn new_hook(&self, name: &str, _cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        match name {
            "in" => Ok(HookSpec { slot: IN, tag: 0 }),
            "out" => Ok(HookSpec { slot: OUT, tag: 0 }),
            _ => Err("dropper hooks are in and out".into()),
        }
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        if slot == OUT {
            return cx.forward(IN, frames);
        }
        let every = self.every.load(Relaxed);
        for f in frames.drain() {
            let n = self.seen.fetch_add(1, Relaxed) + 1;
            if every != 0 && n.is_multiple_of(every) {
                if let Some(h) = cx.hook(IN) {
                    cx.count(h, THINNED, 1);
                }
                cx.drop_frame(f, reason::THINNED);
            } else {
                cx.send(OUT, f);
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
            "setevery" => {
                let n = cx.need(cmd, arg)?;
                let n = n.int_in(cmd, 0, 1 << 32).map_err(|e| cx.bad(cmd, e.0))?;
                self.every.store(n as u64, Relaxed);
                Ok(None)
            }
            "getseen" => {
                cx.none(cmd, arg)?;
                Ok(Some(Value::Uint(self.seen.load(Relaxed))))
            }
            _ => Err(cx.unknown(cmd)),
        }
    }
}

/// p0 - dropper d - p1, with the type registered on the lab's graph.
fn lab() -> Lab {
    let mut l = Lab::new(2);
    l.graph.register_type(&DROPPER).unwrap();
    for line in [
        "mkpeer p0: dropper lower in",
        "name p0:lower d",
        "connect d: p1: out lower",
    ] {
        let r = execute(&mut l.graph, line);
        assert!(r.ok, "{line}: {:?}", r.error);
    }
    l
}

#[test]
fn a_registered_type_is_listed_and_explained() {
    let mut l = lab();
    let e = l.graph.register_type(&DROPPER).unwrap_err();
    assert_eq!(e, GraphError::TypeExists("dropper"));
    assert_eq!(e.errno(), xdpgraph::errno::Errno::EEXIST);
    let r = execute(&mut l.graph, "types");
    assert!(r.text.contains("dropper           1"), "{}", r.text);
    let types = r.json["types"].as_array().unwrap();
    assert!(types
        .iter()
        .any(|t| t["type"] == "dropper" && t["nodes"] == 1));
    assert!(l.graph.types().contains(&("dropper", 1)));
    for line in ["help dropper", "help msg dropper"] {
        let h = execute(&mut l.graph, line).text;
        assert!(h.starts_with("Type dropper: passes frames"), "{h}");
        assert!(
            h.contains("setevery <N>") && h.contains("drop every Nth"),
            "{h}"
        );
        assert!(h.contains("getseen") && h.contains("nodeinfo"), "{h}");
        assert!(
            h.contains("thinned") && h.contains("every Nth frame from in"),
            "{h}"
        );
    }
    let r = execute(&mut l.graph, "msg d: frob");
    let err = r.error.unwrap();
    assert!(
        err.contains("(messages: setevery getseen nodeinfo listhooks listnodes listtypes)"),
        "{err}"
    );
    let r = execute(&mut l.graph, "mkpeer d: dropper in in");
    assert_eq!(r.errno, Some("EEXIST"), "{:?}", r.error);
}

#[test]
fn a_registered_type_carries_frames_and_counts_its_drops() {
    let mut l = lab();
    assert!(execute(&mut l.graph, "msg d: setevery 2").ok);
    let frames: Vec<Vec<u8>> = (0..10).map(|i| eth(2, 10 + i)).collect();
    l.send(0, &frames);
    assert_eq!(l.tx(1).len(), 5);
    l.send(1, &[eth(1, 2)]);
    assert_eq!(l.tx(0).len(), 1, "out -> in passes everything");
    let r = execute(&mut l.graph, "msg d: getseen");
    assert_eq!(r.json["reply"], 10);

    // The type's own reason, per node and graph-wide.
    assert_eq!(l.graph.drops_of("dropper", reason::THINNED), 5);
    assert_eq!(l.graph.drops_named("thinned"), 5);
    let s = l.graph.node_stats("d:").unwrap();
    assert_eq!(s.drops.len(), 1);
    assert_eq!((s.drops[0].0.name, s.drops[0].1), ("thinned", 5));
    let in_hook = s.hooks.iter().find(|(h, _)| h == "in").unwrap();
    assert!(in_hook.1.contains(&("thinned", 5)), "{:?}", in_hook.1);
    let r = execute(&mut l.graph, "errors");
    let row = ["d:", "dropper", "thinned", "5"];
    assert!(
        r.text.lines().any(|l| l.split_whitespace().take(4).eq(row)),
        "{}",
        r.text
    );
    assert_eq!(r.json["totals"]["thinned"], 5);
    assert_eq!(r.json["nodes"][0]["description"], reason::ALL[0].describe);
    assert_eq!(r.json["reasons"]["thinned"], reason::ALL[0].describe);

    // Totals outlive the node.
    assert!(execute(&mut l.graph, "shutdown d:").ok);
    let r = execute(&mut l.graph, "errors");
    let by_type = r.json["by_type"].as_array().unwrap();
    assert_eq!(by_type.len(), 1, "{by_type:?}");
    assert_eq!(
        (
            &by_type[0]["type"],
            &by_type[0]["reason"],
            &by_type[0]["count"]
        ),
        (&"dropper".into(), &"thinned".into(), &5.into())
    );
    assert!(r.json["nodes"].as_array().unwrap().is_empty());
    let (i, o) = l.balance();
    assert_eq!(i, o, "every frame accounted for");
}

/// A type's drop counters come out of a fixed graph-wide space: registering past it fails
/// with ENOBUFS and leaves the registry as it was.
#[test]
fn registration_stops_when_the_drop_counters_run_out() {
    let mut g = Graph::new(GraphConfig::default(), xdpgraph::nodes::builtin());
    let before = g.registry().iter().count();
    let mut added = 0;
    let err = loop {
        let name: &'static str = Box::leak(format!("filler{added}").into_boxed_str());
        let info: &'static TypeInfo = Box::leak(Box::new(TypeInfo { name, ..DROPPER }));
        match g.register_type(info) {
            Ok(()) => added += 1,
            Err(e) => break e,
        }
        assert!(added < 1000, "registration never stopped");
    };
    assert!(added > 10, "{added}");
    assert!(matches!(err, GraphError::NoSpace(_)), "{err}");
    assert_eq!(err.errno(), xdpgraph::errno::Errno::ENOBUFS);
    assert_eq!(g.registry().iter().count(), before + added);
    assert!(g.registry().drop_counters() <= xdpgraph::graph::MAX_DROP_COUNTERS);
}

// ----- docs/NETGRAPH.md's tables are the registry's ------------------------------------------

/// The cells of a markdown table row, without backticks, `\|` unescaped.
fn cells(line: &str) -> Option<Vec<String>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => cur.push(chars.next().unwrap()),
            '|' => cells.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    cells.push(cur);
    Some(cells.iter().map(|c| c.trim().replace('`', "")).collect())
}

/// A markdown row as the doc writes it.
fn row(cells: &[&str], code: &[bool]) -> String {
    let cell = |(c, code): (&&str, &bool)| {
        let c = c.replace('|', "\\|");
        match (code, c.is_empty()) {
            (true, false) => format!(" `{c}` |"),
            _ => format!(" {c} |"),
        }
    };
    let body: String = cells.iter().zip(code).map(cell).collect();
    format!("|{body}")
}

/// The doc's three tables, by their header, as the registry says they should be.
fn expected_tables() -> Vec<(&'static str, Vec<String>)> {
    let r = xdpgraph::nodes::builtin();
    let mut types = Vec::new();
    let mut msgs = Vec::new();
    let mut reasons = Vec::new();
    for g in xdpgraph::graph::GENERIC_REASONS {
        reasons.push(row(
            &["(engine)", g.name, g.describe],
            &[false, true, false],
        ));
    }
    let mut all: Vec<&TypeInfo> = r.iter().map(|t| t.info).collect();
    all.sort_by_key(|t| t.name);
    for t in all {
        let made = match t.create {
            Create::Mkpeer(_) | Create::Open(_) => "mkpeer",
            Create::Port(_) => "attach",
            Create::Control(_) => "the graph (`.`)",
        };
        types.push(row(&[t.name, made, t.summary], &[true, false, false]));
        for m in t.messages {
            msgs.push(row(&[t.name, m.name, m.args], &[true, true, true]));
        }
        for d in t.drop_reasons {
            reasons.push(row(&[t.name, d.name, d.describe], &[true, true, false]));
        }
    }
    vec![
        ("| Type | Made by | What it is |", types),
        ("| Type | Message | Argument |", msgs),
        ("| Type | Reason | Meaning |", reasons),
    ]
}

/// Every type, message and drop reason of the built-in registry is in NETGRAPH.md's tables,
/// with the registry's argument shapes and descriptions, and the tables name nothing else.
#[test]
fn the_netgraph_doc_tables_match_the_registry() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/NETGRAPH.md");
    let doc = std::fs::read_to_string(path).unwrap();
    for (header, want) in expected_tables() {
        let start = doc
            .find(header)
            .unwrap_or_else(|| panic!("NETGRAPH.md has no table {header:?}"));
        let got: Vec<Vec<String>> = (doc[start..].lines().skip(2))
            .take_while(|l| l.starts_with('|'))
            .filter_map(cells)
            .collect();
        let want_cells: Vec<Vec<String>> = want.iter().filter_map(|l| cells(l)).collect();
        assert!(
            got == want_cells,
            "NETGRAPH.md's table {header:?} differs from the registry; it should read:\n\
             {header}\n{}\n{}\n",
            "|---".repeat(3) + "|",
            want.join("\n")
        );
    }
}
