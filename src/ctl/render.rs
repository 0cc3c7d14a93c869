//! The graph's queries as ngctl-style text and as JSON.

use super::{DaemonStatus, IfaceInfo, PortDrops};
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
    let fast: Vec<String> = (n.hooks.iter())
        .filter(|h| h.fast_path > 0)
        .map(|h| format!("{} {}", h.name, h.fast_path))
        .collect();
    if !fast.is_empty() {
        s += &format!("  Frames in the XDP fast path: {}\n", fast.join(", "));
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
                   "peer_id": format!("{:08x}", h.peer_id), "peer_hook": h.peer_hook,
                   "fast_path_frames": h.fast_path})
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

/// `errors`: every non-zero drop count per node, then graph-wide per (type, reason), then what
/// each port lost outside the graph (kernel, driver, XDP program), per queue and reason.
///
/// JSON: `nodes`, `totals` (graph-wide, by reason name), `by_type` and `reasons` as before;
/// `ports` (one object per port, queue and reason: `port`, `node`, `queue`, `reason`,
/// `description`, `count`, `detail`); and `drops`, every named drop once (live nodes' rows,
/// then what shut-down nodes and no node dropped, then the ports'), each with `node`, `reason`
/// and `count`, summing to `total`.
pub fn errors(
    rows: &[ErrorRow],
    totals: &[DropCount],
    ports: &[PortDrops],
    types: &Registry,
) -> (String, J) {
    let mut t = error_line("Node", "Type", "Reason", "Count", "Meaning");
    for r in rows {
        t += &error_line(&r.node, r.ty, r.reason.name, r.count, r.reason.describe);
    }
    t += "  Totals (all nodes, including shut down ones):\n";
    for c in totals {
        let ty = c.ty.unwrap_or("-");
        t += &error_line("*", ty, c.reason.name, c.count, c.reason.describe);
    }
    let (pt, pj) = port_errors(ports);
    t += &pt;
    let drops = drop_list(rows, totals, &pj);
    let total: u64 = drops.iter().filter_map(|d| d["count"].as_u64()).sum();
    if total == 0 {
        t += "  no drops\n";
    } else {
        t += &format!("  Named drops in all: {total}\n");
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
        "ports": pj,
        "drops": drops,
        "total": total,
    });
    (t, j)
}

/// The ports' part of `errors`: text lines and one JSON object per (port, queue, reason).
fn port_errors(ports: &[PortDrops]) -> (String, Vec<J>) {
    let mut t = String::new();
    let mut j = Vec::new();
    for p in ports {
        for d in &p.drops {
            let q = d.queue.map_or("all".to_string(), |q| format!("q{q}"));
            let meaning = match d.detail {
                Some((what, n)) => format!("{} ({what}: {n})", d.reason.describe),
                None => d.reason.describe.to_string(),
            };
            t += &error_line(&p.port, &q, d.reason.name, d.count, &meaning);
            let detail = d.detail.map(|(k, n)| json!({ k: n }));
            j.push(
                json!({"port": p.port, "node": format!("{}:", p.port), "queue": d.queue,
                          "reason": d.reason.name, "description": d.reason.describe,
                          "count": d.count, "detail": detail}),
            );
        }
    }
    if !t.is_empty() {
        let head = "  Ports (lost outside the graph: kernel, driver, XDP program):\n";
        t = format!(
            "{head}{}{t}",
            error_line("Port", "Queue", "Reason", "Count", "Meaning")
        );
    }
    (t, j)
}

/// Every named drop once: live nodes' rows; per (type, reason), what the graph-wide total has
/// beyond them (nodes shut down since, or counters cleared), or what no node dropped (`-`);
/// then the ports'.
fn drop_list(rows: &[ErrorRow], totals: &[DropCount], ports: &[J]) -> Vec<J> {
    let mut v: Vec<J> = (rows.iter())
        .map(|r| json!({"node": r.node, "type": r.ty, "reason": r.reason.name, "count": r.count}))
        .collect();
    for c in totals {
        let live: u64 = (rows.iter())
            .filter(|r| Some(r.ty) == c.ty && r.reason.name == c.reason.name)
            .map(|r| r.count)
            .sum();
        let rest = c.count.saturating_sub(live);
        if rest > 0 {
            let node = if c.ty.is_some() { "*" } else { "-" };
            v.push(json!({"node": node, "type": c.ty, "reason": c.reason.name, "count": rest}));
        }
    }
    for p in ports {
        v.push(
            json!({"node": p["node"], "port": p["port"], "queue": p["queue"],
                      "reason": p["reason"], "count": p["count"]}),
        );
    }
    v
}

/// A port's lines and JSON for `stats` (its ether node's): driver counters per queue, and
/// what it lost outside the graph.
pub fn port_stats(p: &PortDrops) -> (String, J) {
    let mut t = String::new();
    let mut stats = Vec::new();
    for s in &p.stats {
        let q = s.queue.map_or(String::new(), |q| format!(" queue {q}"));
        t += &format!("    port {}{q}:", p.port);
        for (k, v) in &s.counters {
            t += &format!(" {k}={v}");
        }
        t.push('\n');
        let c: Map<_, _> = s
            .counters
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        stats.push(json!({"queue": s.queue, "counters": c}));
    }
    let (_, drops) = port_errors(std::slice::from_ref(p));
    for d in &p.drops {
        let q = d.queue.map_or("all".to_string(), |q| format!("q{q}"));
        let detail = d
            .detail
            .map_or(String::new(), |(k, n)| format!(" ({k}: {n})"));
        let what = format!("{} {q}", d.reason.name);
        t += &format!("    port dropped {what:<24} {}{detail}\n", d.count);
    }
    (t, json!({"port": p.port, "stats": stats, "drops": drops}))
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
    let mut caps = Vec::new();
    if !d.captures.is_empty() {
        t += &format!("Captures: {}\n", d.captures.len());
    }
    for c in &d.captures {
        t += &format!(
            "  {:<24} {:<5} snaplen {:<6} dropped copies {}\n",
            c.point, c.direction, c.snaplen, c.dropped
        );
        caps.push(json!({"capture": c.point, "direction": c.direction,
                         "snaplen": c.snaplen, "dropped": c.dropped}));
    }
    let j = json!({"pid": d.pid, "socket": d.socket, "workers": workers,
                   "interfaces": ij["interfaces"], "captures": caps});
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Graph, GraphConfig};
    use crate::port::{DriverStats, PortDrop, PortReason};

    const RX: PortReason = PortReason {
        name: "rx_dropped",
        describe: "dropped at the socket",
    };
    const TX: PortReason = PortReason {
        name: "tx_not_sent",
        describe: "completed unsent",
    };

    fn ports() -> Vec<PortDrops> {
        vec![PortDrops {
            port: "xg0".into(),
            drops: vec![
                PortDrop {
                    queue: Some(0),
                    reason: RX,
                    count: 81,
                    detail: Some(("fill_ring_empty", 81)),
                },
                PortDrop {
                    queue: None,
                    reason: TX,
                    count: 5,
                    detail: None,
                },
            ],
            stats: vec![DriverStats {
                queue: Some(0),
                counters: vec![("rx_frames", 7)],
            }],
        }]
    }

    #[test]
    fn errors_name_the_ports_drops_once_each() {
        let g = Graph::new(GraphConfig::default(), crate::nodes::builtin());
        let (rows, totals) = g.errors();
        let (t, j) = errors(&rows, &totals, &[], g.registry());
        assert!(t.contains("no drops") && !t.contains("Ports"), "{t}");
        assert_eq!(
            (j["total"].as_u64(), j["drops"].as_array().map(Vec::len)),
            (Some(0), Some(0))
        );
        let (t, j) = errors(&rows, &totals, &ports(), g.registry());
        assert!(!t.contains("no drops"), "{t}");
        let row = ["xg0", "q0", "rx_dropped", "81"];
        assert!(
            t.lines().any(|l| l.split_whitespace().take(4).eq(row)),
            "{t}"
        );
        assert!(
            t.contains("(fill_ring_empty: 81)") && t.contains("Named drops in all: 86"),
            "{t}"
        );
        // every row has node, reason and count; the fill-ring detail is no extra drop
        let drops = j["drops"].as_array().unwrap();
        assert_eq!(drops.len(), 2);
        for d in drops {
            assert!(
                d["node"] == "xg0:" && d["reason"].is_string() && d["count"].is_u64(),
                "{d}"
            );
        }
        assert_eq!(j["total"], 86);
        assert_eq!(j["ports"][0]["detail"]["fill_ring_empty"], 81);
        assert_eq!(j["ports"][1]["queue"], J::Null);
        assert!(j["nodes"].is_array() && j["totals"].is_object() && j["reasons"].is_object());
    }

    #[test]
    fn stats_show_a_ports_counters_and_drops() {
        let (t, j) = port_stats(&ports()[0]);
        assert!(t.contains("port xg0 queue 0: rx_frames=7"), "{t}");
        assert!(
            t.contains("port dropped rx_dropped") && t.contains("q0"),
            "{t}"
        );
        assert_eq!(j["stats"][0]["counters"]["rx_frames"], 7);
        assert_eq!(j["drops"][0]["count"], 81);
    }
}
