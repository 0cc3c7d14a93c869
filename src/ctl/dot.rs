//! `dot`: the live graph as Graphviz, in the style of ngctl's `dot`: a record per node (name,
//! type, ID), an octagon per hook, hooks joined in pairs, unconnected nodes in their own
//! cluster. With counters, each hook also shows the frames that entered (`in`) and left
//! (`out`) its node through it, and each node its drops.

use crate::graph::{Graph, NodeInfo, NodeStats};
use std::collections::BTreeMap;

/// Quotes for a Graphviz string.
fn q(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Quotes for a record label, where `{ } | < >` also mean something.
fn rec(s: &str) -> String {
    let mut o = String::new();
    for c in q(s).chars() {
        if "{}|<>".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

fn node_label(n: &NodeInfo, stats: Option<&NodeStats>) -> String {
    let name = n.name.as_deref().map(rec);
    let mut l = format!(
        "{}|{}|[{:x}]:",
        name.unwrap_or_else(|| "\\<unnamed\\>".into()),
        n.ty,
        n.id
    );
    let drops: u64 = stats.map_or(0, |s| s.drops.iter().map(|(_, c)| c).sum());
    if drops > 0 {
        l += &format!("|drops {drops}");
    }
    l
}

fn hook_label(name: &str, stats: Option<&NodeStats>) -> String {
    let mut l = q(name);
    let counters = stats.and_then(|s| s.hooks.iter().find(|(h, _)| h == name));
    if let Some((_, c)) = counters {
        let get = |k: &str| c.iter().find(|(n, _)| *n == k).map_or(0, |(_, v)| *v);
        l += &format!("\\nin {} out {}", get("inFrames"), get("outFrames"));
    }
    l
}

fn edges(list: &[NodeInfo]) -> String {
    let mut s = String::new();
    for n in list {
        for h in &n.hooks {
            s += &format!("  \"{:x}\" -- \"{:x}.{}\";\n", n.id, n.id, q(&h.name));
            if (n.id, h.name.as_str()) < (h.peer_id, h.peer_hook.as_str()) {
                s += &format!(
                    "  \"{:x}.{}\" -- \"{:x}.{}\" [weight=2.0];\n",
                    n.id,
                    q(&h.name),
                    h.peer_id,
                    q(&h.peer_hook)
                );
            }
        }
    }
    s
}

/// The graph as Graphviz; with `counters`, frames per hook and drops per node.
pub fn dot(g: &Graph, counters: bool) -> String {
    let list = g.list();
    let stats: BTreeMap<_, _> = (list.iter())
        .filter(|_| counters)
        .map(|n| (n.id, g.stats_of(n.id)))
        .collect();
    let mut s = String::from(
        "graph xdpgraph {\n  graph [rankdir=LR, fontname=\"monospace\"];\n  edge [weight=1.0];\n",
    );
    s += "  node [shape=record, fontsize=12, fontname=\"monospace\"];\n";
    let node = |n: &NodeInfo| {
        let label = node_label(n, stats.get(&n.id));
        format!("\"{:x}\" [label=\"{label}\"];\n", n.id)
    };
    for n in list.iter().filter(|n| !n.hooks.is_empty()) {
        s += &format!("  {}", node(n));
    }
    if list.iter().any(|n| n.hooks.is_empty()) {
        s += "  subgraph cluster_disconnected {\n    bgcolor=pink;\n    label=\"not connected\";\n";
        for n in list.iter().filter(|n| n.hooks.is_empty()) {
            s += &format!("    {}", node(n));
        }
        s += "  }\n";
    }
    s += "  node [shape=octagon, fontsize=10];\n";
    for n in &list {
        for h in &n.hooks {
            let l = hook_label(&h.name, stats.get(&n.id));
            s += &format!("  \"{:x}.{}\" [label=\"{}\"];\n", n.id, q(&h.name), l);
        }
    }
    s += &edges(&list);
    s += "}\n";
    s
}
