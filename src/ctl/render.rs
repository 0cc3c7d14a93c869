//! The graph's queries as ngctl-style text and as JSON.

use super::{DaemonStatus, IfaceInfo};
use crate::graph::{DropCount, ErrorRow, NodeInfo, NodeStats, Registry, TypeInfo};
use serde_json::{json, Map, Value as J};
use std::fmt::Display;

/// One line of `list`/`show`.
pub fn node_line(n: &NodeInfo) -> String {
    format!(
        "  Name: {:<15} Type: {:<15} ID: {:08x}   Num hooks: {}\n",
        n.name.as_deref().unwrap_or("<unnamed>"),
        n.ty,
        n.id,
        n.hooks.len()
    )
}

/// The hook table of `show` and `list -l`.
pub fn hooks_table(n: &NodeInfo) -> String {
    if n.hooks.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "  Local hook      Peer name       Peer type    Peer ID           Peer hook      \n",
    );
    s += "  ----------      ---------       ---------    -------           ---------      \n";
    for h in &n.hooks {
        s += &format!(
            "  {:<15} {:<15} {:<12} {:08x}          {:<15}\n",
            h.name,
            h.peer_name.as_deref().unwrap_or("<unnamed>"),
            h.peer_type,
            h.peer_id,
            h.peer_hook
        );
    }
    s
}

pub fn node_json(n: &NodeInfo, hooks: bool) -> J {
    let mut o = json!({
        "id": format!("{:08x}", n.id),
        "path": n.path(),
        "name": n.name,
        "type": n.ty,
        "numhooks": n.hooks.len(),
    });
    if hooks {
        let hook = |h: &crate::graph::HookInfo| {
            json!({"hook": h.name, "peer_name": h.peer_name, "peer_type": h.peer_type,
                   "peer_id": format!("{:08x}", h.peer_id), "peer_hook": h.peer_hook})
        };
        o["hooks"] = J::Array(n.hooks.iter().map(hook).collect());
    }
    o
}

/// `stats`/`status` of one node.
pub fn stats(s: &NodeStats) -> (String, J) {
    let mut t = node_line(&s.info);
    let mut hooks = Map::new();
    for (h, counters) in &s.hooks {
        t += &format!("    hook {h}:");
        for (k, v) in counters {
            t += &format!(" {k}={v}");
        }
        t.push('\n');
        let c = counters.iter().map(|(k, v)| (k.to_string(), json!(v)));
        hooks.insert(h.clone(), J::Object(c.collect()));
    }
    if s.copies > 0 {
        t += &format!("    copies: {}\n", s.copies);
    }
    for (r, n) in &s.drops {
        t += &format!("    dropped {:<18} {n}\n", r.name);
    }
    let drops: Map<_, _> = (s.drops.iter())
        .map(|(r, n)| (r.name.to_string(), json!(n)))
        .collect();
    let j = json!({
        "node": node_json(&s.info, false),
        "copies": s.copies,
        "drops": drops,
        "hooks": hooks,
    });
    (t, j)
}

/// `types`.
pub fn types(types: &[(&'static str, usize)]) -> (String, J) {
    let mut t = format!(
        "There are {} total types:\n  Type name         Number of living nodes\n  \
         ---------         ----------------------\n",
        types.len()
    );
    for (n, k) in types {
        t += &format!("  {n:<17} {k}\n");
    }
    let rows: Vec<J> = (types.iter())
        .map(|(n, k)| json!({"type": n, "nodes": k}))
        .collect();
    (t, json!({ "types": rows }))
}

fn error_line(node: &str, ty: &str, reason: &str, count: impl Display, meaning: &str) -> String {
    format!("  {node:<24} {ty:<10} {reason:<18} {count:>12}  {meaning}\n")
}

/// `errors`: every non-zero drop count per node, then graph-wide per (type, reason).
pub fn errors(rows: &[ErrorRow], totals: &[DropCount], types: &Registry) -> (String, J) {
    let mut t = error_line("Node", "Type", "Reason", "Count", "Meaning");
    for r in rows {
        t += &error_line(&r.node, r.ty, r.reason.name, r.count, r.reason.describe);
    }
    t += "  Totals (all nodes, including shut down ones):\n";
    for c in totals {
        let ty = c.ty.unwrap_or("-");
        t += &error_line("*", ty, c.reason.name, c.count, c.reason.describe);
    }
    if totals.is_empty() {
        t += "  no drops\n";
    }
    let nodes: Vec<J> = (rows.iter())
        .map(|r| {
            json!({"node": r.node, "type": r.ty, "reason": r.reason.name,
                   "description": r.reason.describe, "count": r.count})
        })
        .collect();
    let by_type: Vec<J> = (totals.iter())
        .map(|c| {
            json!({"type": c.ty, "reason": c.reason.name,
                   "description": c.reason.describe, "count": c.count})
        })
        .collect();
    let mut by_name: Map<String, J> = Map::new();
    for c in totals {
        let n = by_name.get(c.reason.name).and_then(J::as_u64).unwrap_or(0);
        by_name.insert(c.reason.name.to_string(), json!(n + c.count));
    }
    let j = json!({
        "nodes": nodes,
        "totals": by_name,
        "by_type": by_type,
        "reasons": reasons(types),
    });
    (t, j)
}

/// Every reason name any registered type counts, with its description.
fn reasons(types: &Registry) -> Map<String, J> {
    let mut m = Map::new();
    for t in types.iter() {
        for (_, r) in t.info.reasons() {
            m.entry(r.name.to_string())
                .or_insert_with(|| json!(r.describe));
        }
    }
    m
}

/// `interfaces`.
pub fn interfaces(l: &[IfaceInfo]) -> (String, J) {
    let line = |a: &str, b: &str, c: &str, d: &str, e: &str, f: &str| {
        format!("  {a:<16} {b:>4}  {c:<6} {d:<8} {e:>6}  {f}\n")
    };
    let mut t = line("Interface", "Port", "Kind", "Mode", "Queues", "State");
    for i in l {
        let state = if i.up { "up" } else { "DOWN" };
        let (port, queues) = (i.port.to_string(), i.queues.to_string());
        t += &line(&i.name, &port, i.kind, &i.mode, &queues, state);
    }
    let rows: Vec<J> = (l.iter())
        .map(|i| {
            json!({"name": i.name, "port": i.port, "kind": i.kind, "mode": i.mode,
                   "queues": i.queues, "up": i.up})
        })
        .collect();
    (t, json!({ "interfaces": rows }))
}

/// `status` without a path: the daemon, its workers and its interfaces.
pub fn daemon_status(d: &DaemonStatus) -> (String, J) {
    let mut t = format!("xdpgraph pid {}", d.pid);
    if let Some(s) = &d.socket {
        t += &format!(", control socket {s}");
    }
    t += &format!("\nWorkers: {}\n", d.workers.len());
    let line = |a: &str, b: &str, c: &str, e: &str, f: &str| {
        format!("  {a:<6} {b:>4}  {c:>12}  {e:>13}  {f}\n")
    };
    t += &line("Worker", "Core", "Heartbeats", "Free frames", "State");
    for w in &d.workers {
        let mut state = w.state.to_string();
        if !w.detail.is_empty() {
            state += &format!(" ({})", w.detail);
        }
        let frames = format!("{}/{}", w.free_frames, w.frames);
        let (id, core, beats) = (
            w.worker.to_string(),
            w.core.to_string(),
            w.heartbeats.to_string(),
        );
        t += &line(&id, &core, &beats, &frames, &state);
    }
    let (it, ij) = interfaces(&d.interfaces);
    t += &format!("Interfaces: {}\n{it}", d.interfaces.len());
    let workers: Vec<J> = (d.workers.iter())
        .map(|w| {
            json!({"worker": w.worker, "core": w.core, "state": w.state, "detail": w.detail,
                   "heartbeats": w.heartbeats, "free_frames": w.free_frames, "frames": w.frames})
        })
        .collect();
    let j = json!({"pid": d.pid, "socket": d.socket, "workers": workers,
                   "interfaces": ij["interfaces"]});
    (t, j)
}

/// `help <type>`: what a node type is, its hooks, messages with their arguments, counters and
/// drop reasons.
pub fn type_help(info: &TypeInfo) -> String {
    let mut s = format!("Type {}: {}\n", info.name, info.summary);
    if !info.user_creatable() {
        s += "  (not made by mkpeer)\n";
    }
    s += "Hooks:\n";
    s += &wrap(info.hooks, "  ");
    s += "Messages:\n";
    let generic = super::generic::MESSAGES.iter();
    for m in info.messages.iter().chain(generic) {
        let usage = format!("{} {}", m.name, m.args);
        s += &format!("  {}\n", usage.trim_end());
        s += &wrap(m.help, "      ");
    }
    if !info.hook_counters.is_empty() {
        s += "Hook counters (besides inFrames inOctets outFrames outOctets):\n";
        s += &wrap(&info.hook_counters.join(" "), "  ");
    }
    if !info.drop_reasons.is_empty() {
        s += "Drop reasons (besides the engine's, see `errors`):\n";
        for r in info.drop_reasons {
            s += &format!("  {:<18} {}\n", r.name, r.describe);
        }
    }
    s
}

/// `text` in lines of at most 92 columns, each starting with `indent`.
fn wrap(text: &str, indent: &str) -> String {
    const WIDTH: usize = 92;
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > WIDTH {
            out += line.trim_end();
            out.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line += word;
    }
    out += &line;
    out.push('\n');
    out
}
