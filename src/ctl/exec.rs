//! Runs command lines and renders replies (ngctl-style text, and JSON).

use super::grammar::{self, VerbId};
use super::Control;
use crate::graph::{DropReason, GraphError, NodeInfo};
use crate::value::Value;
use serde_json::{json, Value as J};

/// The outcome of one command.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub ok: bool,
    /// Text as ngctl would print it (may be empty).
    pub text: String,
    /// The same content as JSON (`null` when there is nothing to say).
    pub json: J,
    /// On failure: what was wrong.
    pub error: Option<String>,
    /// On failure: the errno name netgraph would return (EINVAL, ENOENT, ...).
    pub errno: Option<&'static str>,
}

impl Reply {
    pub fn ok(text: String, json: J) -> Reply {
        Reply {
            ok: true,
            text,
            json,
            error: None,
            errno: None,
        }
    }
    pub fn err(msg: impl Into<String>, errno: &'static str) -> Reply {
        Reply {
            ok: false,
            text: String::new(),
            json: J::Null,
            error: Some(msg.into()),
            errno: Some(errno),
        }
    }
    /// The wire form.
    pub fn to_wire(&self) -> J {
        if self.ok {
            json!({"ok": true, "text": self.text, "json": self.json})
        } else {
            json!({"ok": false, "error": self.error, "errno": self.errno})
        }
    }
    pub fn from_wire(j: &J) -> Reply {
        if j.get("ok").and_then(J::as_bool) == Some(true) {
            Reply::ok(
                j.get("text").and_then(J::as_str).unwrap_or("").to_string(),
                j.get("json").cloned().unwrap_or(J::Null),
            )
        } else {
            let errno = match j.get("errno").and_then(J::as_str) {
                Some(e) => errno_static(e),
                None => "EIO",
            };
            Reply::err(
                j.get("error")
                    .and_then(J::as_str)
                    .unwrap_or("malformed reply")
                    .to_string(),
                errno,
            )
        }
    }
}

fn errno_static(e: &str) -> &'static str {
    [
        "EINVAL",
        "ENOENT",
        "EISCONN",
        "EADDRINUSE",
        "EEXIST",
        "ENOTCONN",
        "EIO",
        "E2BIG",
        "EPERM",
        "EBUSY",
    ]
    .iter()
    .find(|x| **x == e)
    .copied()
    .unwrap_or("EIO")
}

fn errno_name(n: i32) -> &'static str {
    match n {
        libc::ENOENT => "ENOENT",
        libc::EISCONN => "EISCONN",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EEXIST => "EEXIST",
        libc::ENOTCONN => "ENOTCONN",
        libc::EIO => "EIO",
        _ => "EINVAL",
    }
}

fn graph_err(e: GraphError) -> Reply {
    let n = errno_name(e.errno());
    Reply::err(e.to_string(), n)
}

/// Runs one command line. Blank lines and comments succeed with nothing to say.
pub fn execute(c: &mut dyn Control, line: &str) -> Reply {
    let Some((verb, words)) = grammar::split(line) else {
        return Reply::ok(String::new(), J::Null);
    };
    let v = match grammar::lookup(verb) {
        Ok(v) => v,
        Err(e) => return Reply::err(e.to_string(), "EINVAL"),
    };
    if words.len() < v.min || words.len() > v.max {
        return Reply::err(
            format!("{}: wrong number of arguments; usage: {}", v.name, v.usage),
            "EINVAL",
        );
    }
    match run(c, v.id, &words) {
        Ok(r) => r,
        Err(e) => graph_err(e),
    }
}

fn opt_path<'a>(words: &'a [&'a str], n: usize) -> (&'a str, &'a [&'a str]) {
    // Verbs with an optional leading path: when it is left out, it is ".".
    if words.len() > n {
        (words[0], &words[1..])
    } else {
        (".", words)
    }
}

fn node_line(n: &NodeInfo) -> String {
    format!(
        "  Name: {:<15} Type: {:<15} ID: {:08x}   Num hooks: {}\n",
        n.name.as_deref().unwrap_or("<unnamed>"),
        n.ty,
        n.id,
        n.hooks.len()
    )
}

fn hooks_table(n: &NodeInfo) -> String {
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

fn node_json(n: &NodeInfo, hooks: bool) -> J {
    let mut o = json!({
        "id": format!("{:08x}", n.id),
        "path": n.path(),
        "name": n.name,
        "type": n.ty,
        "numhooks": n.hooks.len(),
    });
    if hooks {
        o["hooks"] = J::Array(
            n.hooks
                .iter()
                .map(|h| json!({"hook": h.name, "peer_name": h.peer_name, "peer_type": h.peer_type, "peer_id": format!("{:08x}", h.peer_id), "peer_hook": h.peer_hook}))
                .collect(),
        );
    }
    o
}

fn stats_of(c: &mut dyn Control, path: &str) -> Result<(String, J), GraphError> {
    let s = c.graph().node_stats(path)?;
    let mut t = node_line(&s.info);
    let mut hooks = serde_json::Map::new();
    for (h, counters) in &s.hooks {
        t += &format!("    hook {h}:");
        for (k, v) in counters {
            t += &format!(" {k}={v}");
        }
        t.push('\n');
        hooks.insert(
            h.clone(),
            J::Object(
                counters
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect(),
            ),
        );
    }
    if s.copies > 0 {
        t += &format!("    copies: {}\n", s.copies);
    }
    for (r, n) in &s.drops {
        t += &format!("    dropped {:<18} {n}\n", r.name());
    }
    let j = json!({
        "node": node_json(&s.info, false),
        "copies": s.copies,
        "drops": s.drops.iter().map(|(r, n)| (r.name().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "hooks": hooks,
    });
    Ok((t, j))
}

fn run(c: &mut dyn Control, id: VerbId, w: &[&str]) -> Result<Reply, GraphError> {
    Ok(match id {
        VerbId::Mkpeer => {
            let (p, a) = opt_path(w, 3);
            let id = c.graph().mkpeer(p, a[0], a[1], a[2])?;
            Reply::ok(
                String::new(),
                json!({"id": format!("{id:08x}"), "path": format!("[{id:x}]:")}),
            )
        }
        VerbId::Connect => {
            let (p, a) = opt_path(w, 3);
            c.graph().connect(p, a[0], a[1], a[2])?;
            Reply::ok(String::new(), J::Null)
        }
        VerbId::Name => {
            c.graph().name(w[0], w[1])?;
            Reply::ok(String::new(), J::Null)
        }
        VerbId::Rmhook => {
            let (p, a) = opt_path(w, 1);
            c.graph().rmhook(p, a[0])?;
            Reply::ok(String::new(), J::Null)
        }
        VerbId::Shutdown => {
            c.graph().shutdown(w[0])?;
            Reply::ok(String::new(), J::Null)
        }
        VerbId::Msg => {
            let arg = match w.get(2) {
                Some(text) => Some(Value::parse(text).map_err(|e| GraphError::BadArg {
                    node: w[0].to_string(),
                    cmd: w[1].to_string(),
                    why: e.to_string(),
                })?),
                None => None,
            };
            let r = c.graph().msg(w[0], w[1], arg.as_ref())?;
            let text = match &r {
                Some(v) => format!(
                    "Rec'd response \"{}\" from \"{}\":\nArgs:\t{}\n",
                    w[1], w[0], v
                ),
                None => String::new(),
            };
            Reply::ok(
                text,
                json!({"path": w[0], "cmd": w[1], "reply": r.as_ref().map(Value::to_json)}),
            )
        }
        VerbId::List => {
            let mut long = false;
            let mut named = false;
            for f in w {
                match *f {
                    "-l" => long = true,
                    "-n" => named = true,
                    "-ln" | "-nl" => {
                        long = true;
                        named = true
                    }
                    other => {
                        return Err(GraphError::Refused(format!(
                            "list: unknown option {other} (use -l, -n)"
                        )))
                    }
                }
            }
            let nodes: Vec<NodeInfo> = c
                .graph()
                .list()
                .into_iter()
                .filter(|n| !named || n.name.is_some())
                .collect();
            let mut t = format!(
                "There are {} total {}nodes:\n",
                nodes.len(),
                if named { "named " } else { "" }
            );
            for n in &nodes {
                t += &node_line(n);
                if long {
                    t += &hooks_table(n);
                }
            }
            Reply::ok(
                t,
                json!({"nodes": nodes.iter().map(|n| node_json(n, long)).collect::<Vec<_>>()}),
            )
        }
        VerbId::Show => {
            let (no_hooks, path) = match w {
                ["-n", p] => (true, *p),
                [p] => (false, *p),
                _ => return Err(GraphError::Refused("show: usage: show [-n] <path>".into())),
            };
            let n = c.graph().show(path)?;
            let mut t = node_line(&n);
            if !no_hooks {
                t += &hooks_table(&n);
            }
            Reply::ok(t, node_json(&n, !no_hooks))
        }
        VerbId::Status | VerbId::Stats if !w.is_empty() => {
            let (t, j) = stats_of(c, w[0])?;
            Reply::ok(t, j)
        }
        VerbId::Stats | VerbId::Status => {
            let paths: Vec<String> = c.graph().list().iter().map(|n| n.path()).collect();
            let mut t = String::new();
            let mut all = Vec::new();
            for p in paths {
                let (tt, j) = stats_of(c, &p)?;
                t += &tt;
                all.push(j);
            }
            Reply::ok(t, json!({"nodes": all}))
        }
        VerbId::Types => {
            let types = c.graph().types();
            let mut t = format!("There are {} total types:\n  Type name         Number of living nodes\n  ---------         ----------------------\n", types.len());
            for (n, k) in &types {
                t += &format!("  {n:<17} {k}\n");
            }
            Reply::ok(
                t,
                json!({"types": types.iter().map(|(n, k)| json!({"type": n, "nodes": k})).collect::<Vec<_>>()}),
            )
        }
        VerbId::Dot => {
            let counters = match w {
                [] => false,
                ["-c"] => true,
                [other, ..] => {
                    return Err(GraphError::Refused(format!(
                        "dot: unknown option {other} (use -c for counters)"
                    )))
                }
            };
            let d = c.graph().dot(counters);
            Reply::ok(d.clone(), json!({"dot": d}))
        }
        VerbId::Save => {
            let s = c.graph().save();
            Reply::ok(s.clone(), json!({"script": s}))
        }
        VerbId::Errors => {
            let (rows, totals) = c.graph().errors();
            let mut t = format!(
                "  {:<24} {:<18} {:>12}  {}\n",
                "Node", "Reason", "Count", "Meaning"
            );
            for r in &rows {
                t += &format!(
                    "  {:<24} {:<18} {:>12}  {}\n",
                    r.node,
                    r.reason.name(),
                    r.count,
                    r.reason.describe()
                );
            }
            t += "  Totals (all nodes, including shut down ones):\n";
            for (r, n) in &totals {
                t += &format!(
                    "  {:<24} {:<18} {:>12}  {}\n",
                    "*",
                    r.name(),
                    n,
                    r.describe()
                );
            }
            if totals.is_empty() {
                t += "  no drops\n";
            }
            Reply::ok(
                t,
                json!({
                    "nodes": rows.iter().map(|r| json!({"node": r.node, "reason": r.reason.name(), "count": r.count})).collect::<Vec<_>>(),
                    "totals": totals.iter().map(|(r, n)| (r.name().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
                    "reasons": DropReason::ALL.iter().map(|r| (r.name().to_string(), json!(r.describe()))).collect::<serde_json::Map<_, _>>(),
                }),
            )
        }
        VerbId::Attach => {
            let q = match &w[1..] {
                [] => None,
                [one] if one.starts_with("--queues=") => Some(&one["--queues=".len()..]),
                ["--queues", n] | [n] => Some(*n),
                _ => {
                    return Err(GraphError::Refused(
                        "attach: usage: attach <interface> [--queues N]".into(),
                    ))
                }
            };
            let q = match q {
                Some(n) => Some(n.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    GraphError::Refused(format!(
                        "attach: --queues takes a positive number, not {n:?}"
                    ))
                })?),
                None => None,
            };
            c.attach(w[0], q).map_err(GraphError::Refused)?;
            Reply::ok(String::new(), json!({"attached": w[0]}))
        }
        VerbId::Detach => {
            c.detach(w[0]).map_err(GraphError::Refused)?;
            Reply::ok(String::new(), json!({"detached": w[0]}))
        }
        VerbId::Interfaces => {
            let l = c.interfaces();
            let mut t = format!(
                "  {:<16} {:>4}  {:<6} {:<8} {:>6}  {}\n",
                "Interface", "Port", "Kind", "Mode", "Queues", "State"
            );
            for i in &l {
                t += &format!(
                    "  {:<16} {:>4}  {:<6} {:<8} {:>6}  {}\n",
                    i.name,
                    i.port,
                    i.kind,
                    i.mode,
                    i.queues,
                    if i.up { "up" } else { "DOWN" }
                );
            }
            Reply::ok(
                t,
                json!({"interfaces": l.iter().map(|i| json!({"name": i.name, "port": i.port, "kind": i.kind, "mode": i.mode, "queues": i.queues, "up": i.up})).collect::<Vec<_>>()}),
            )
        }
        VerbId::Help => {
            let h = grammar::help(w.first().copied())
                .map_err(|e| GraphError::Refused(e.to_string()))?;
            Reply::ok(h.clone(), json!({"help": h}))
        }
        VerbId::Quit | VerbId::Read => {
            return Err(GraphError::Refused(
                "this command works in the ctl client only".into(),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Graph, GraphConfig};

    #[test]
    fn runs_and_renders() {
        let mut g = Graph::new(GraphConfig::default());
        assert!(execute(&mut g, "mkpeer . hub a b").ok);
        assert!(execute(&mut g, "name .:a h").ok);
        let r = execute(&mut g, "ls");
        assert!(r.text.starts_with("There are 2 total nodes:"), "{}", r.text);
        assert!(
            r.text.contains("Name: h               Type: hub"),
            "{}",
            r.text
        );
        assert_eq!(r.json["nodes"][1]["type"], "hub");
        let r = execute(&mut g, "show h:");
        assert!(
            r.text.contains("b               <unnamed>       socket"),
            "{}",
            r.text
        );
        let r = execute(&mut g, "msg h: nodeinfo");
        assert!(
            r.text.starts_with(
                "Rec'd response \"nodeinfo\" from \"h:\":\nArgs:\t{ name=\"h\" type=\"hub\""
            ),
            "{}",
            r.text
        );
        let r = execute(&mut g, "frob");
        assert_eq!((r.ok, r.errno), (false, Some("EINVAL")));
        let r = execute(&mut g, "show nosuch:");
        assert_eq!(r.errno, Some("ENOENT"));
        let r = execute(&mut g, "mkpeer . hub a c");
        assert_eq!(r.errno, Some("EISCONN"));
        let r = execute(&mut g, "name h: .bad");
        assert!(r.error.unwrap().contains("invalid node name"));
        let r = execute(&mut g, "msg h: setpersistent { x");
        assert!(
            r.error.unwrap().contains("bad argument"),
            "ASCII errors are reported"
        );
        let r = execute(&mut g, "rmhook");
        assert!(r.error.unwrap().contains("usage: rmhook [path] <hook>"));
        assert!(execute(&mut g, "  # only a comment").ok);
    }
}
