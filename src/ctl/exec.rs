//! Runs command lines and renders replies (ngctl-style text, and JSON).

use super::grammar::{self, VerbId};
use super::{generic, render, Control, ControlError};
use crate::errno::Errno;
use crate::graph::{GraphError, NodeInfo};
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
    pub fn err(msg: impl Into<String>, errno: Errno) -> Reply {
        Reply {
            ok: false,
            text: String::new(),
            json: J::Null,
            error: Some(msg.into()),
            errno: Some(errno.name()),
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
            let errno = (j.get("errno").and_then(J::as_str))
                .and_then(Errno::from_name)
                .unwrap_or(Errno::EIO);
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

/// Runs one command line. Blank lines and comments succeed with nothing to say.
pub fn execute(c: &mut dyn Control, line: &str) -> Reply {
    let Some((verb, words)) = grammar::split(line) else {
        return Reply::ok(String::new(), J::Null);
    };
    let v = match grammar::lookup(verb) {
        Ok(v) => v,
        Err(e) => return Reply::err(e.to_string(), Errno::EINVAL),
    };
    if words.len() < v.min || words.len() > v.max {
        return Reply::err(
            format!("{}: wrong number of arguments; usage: {}", v.name, v.usage),
            Errno::EINVAL,
        );
    }
    match run(c, v.id, &words) {
        Ok(r) => r,
        Err(e) => Reply::err(e.to_string(), e.errno()),
    }
}

type Run = Result<Reply, ControlError>;

fn done() -> Run {
    Ok(Reply::ok(String::new(), J::Null))
}

fn run(c: &mut dyn Control, id: VerbId, w: &[&str]) -> Run {
    match id {
        VerbId::Mkpeer => mkpeer(c, w),
        VerbId::Connect => {
            let (p, a) = opt_path(w, 3);
            c.graph().connect(p, a[0], a[1], a[2])?;
            done()
        }
        VerbId::Name => {
            c.graph().name(w[0], w[1])?;
            done()
        }
        VerbId::Rmhook => {
            let (p, a) = opt_path(w, 1);
            c.graph().rmhook(p, a[0])?;
            done()
        }
        VerbId::Shutdown => {
            c.graph().shutdown(w[0])?;
            done()
        }
        VerbId::Msg => msg(c, w),
        VerbId::List => list(c, w),
        VerbId::Show => show(c, w),
        VerbId::Status if w.is_empty() => {
            let d = c.daemon_status().ok_or(ControlError::Unsupported(
                "status: this graph has no daemon around it; give a node's path",
            ))?;
            let (t, j) = render::daemon_status(&d);
            Ok(Reply::ok(t, j))
        }
        VerbId::Status | VerbId::Stats => stats(c, w),
        VerbId::Types => {
            let (t, j) = render::types(&c.graph().types());
            Ok(Reply::ok(t, j))
        }
        VerbId::Dot => dot(c, w),
        VerbId::Save if w.first() == Some(&"-w") => Err(ControlError::Unsupported(
            "save -w: only a daemon writes its boot script (the file it was started with, run -f)",
        )),
        VerbId::Save => {
            let s = super::save::save(c.graph());
            Ok(Reply::ok(s.clone(), json!({"script": s})))
        }
        VerbId::Errors => {
            let ports = c.port_drops();
            let g = c.graph();
            let (rows, totals) = g.errors();
            let (t, j) = render::errors(&rows, &totals, &ports, g.registry());
            Ok(Reply::ok(t, j))
        }
        VerbId::Attach => attach(c, w),
        VerbId::Detach => {
            c.detach(w[0])?;
            Ok(Reply::ok(String::new(), json!({"detached": w[0]})))
        }
        VerbId::Interfaces => {
            let (t, j) = render::interfaces(&c.interfaces());
            Ok(Reply::ok(t, j))
        }
        VerbId::Help => help(c, w),
        VerbId::Quit | VerbId::Read => Err(ControlError::Unsupported(
            "this command works in the ctl client only",
        )),
        VerbId::Capture => Err(ControlError::Unsupported(
            "capture streams frames over a connection of its own: run it as `xdpgraph ctl capture <path> <hook> ...`",
        )),
    }
}

/// Verbs with an optional leading path: when it is left out, it is ".".
fn opt_path<'a>(words: &'a [&'a str], n: usize) -> (&'a str, &'a [&'a str]) {
    if words.len() > n {
        (words[0], &words[1..])
    } else {
        (".", words)
    }
}

fn mkpeer(c: &mut dyn Control, w: &[&str]) -> Run {
    let (p, a) = opt_path(w, 3);
    let id = c.graph().mkpeer(p, a[0], a[1], a[2])?;
    Ok(Reply::ok(
        String::new(),
        json!({"id": format!("{id:08x}"), "path": format!("[{id:x}]:")}),
    ))
}

fn msg(c: &mut dyn Control, w: &[&str]) -> Run {
    let (path, cmd) = (w[0], w[1]);
    let arg = match w.get(2) {
        Some(text) => Some(Value::parse(text).map_err(|e| GraphError::BadArg {
            node: path.to_string(),
            cmd: cmd.to_string(),
            why: e.to_string(),
        })?),
        None => None,
    };
    let g = c.graph();
    let r = match generic::reply(g, path, cmd) {
        Some(r) => Some(r?),
        None => (g.msg(path, cmd, arg.as_ref())).map_err(generic::with_generic_names)?,
    };
    let text = match &r {
        Some(v) => format!("Rec'd response \"{cmd}\" from \"{path}\":\nArgs:\t{v}\n"),
        None => String::new(),
    };
    Ok(Reply::ok(
        text,
        json!({"path": path, "cmd": cmd, "reply": r.as_ref().map(Value::to_json)}),
    ))
}

fn list(c: &mut dyn Control, w: &[&str]) -> Run {
    let (mut long, mut named) = (false, false);
    for f in w {
        match *f {
            "-l" => long = true,
            "-n" => named = true,
            "-ln" | "-nl" => (long, named) = (true, true),
            other => {
                let why = format!("list: unknown option {other} (use -l, -n)");
                return Err(ControlError::Usage(why));
            }
        }
    }
    let nodes: Vec<NodeInfo> = (c.graph().list().into_iter())
        .filter(|n| !named || n.name.is_some())
        .collect();
    let mut t = format!(
        "There are {} total {}nodes:\n",
        nodes.len(),
        if named { "named " } else { "" }
    );
    for n in &nodes {
        t += &render::node_line(n);
        if long {
            t += &render::hooks_table(n);
        }
    }
    let j: Vec<J> = nodes.iter().map(|n| render::node_json(n, long)).collect();
    Ok(Reply::ok(t, json!({ "nodes": j })))
}

fn show(c: &mut dyn Control, w: &[&str]) -> Run {
    let (no_hooks, path) = match w {
        ["-n", p] => (true, *p),
        [p] => (false, *p),
        _ => return Err(ControlError::Usage("show: usage: show [-n] <path>".into())),
    };
    let n = c.graph().show(path)?;
    let mut t = render::node_line(&n);
    if !no_hooks {
        t += &render::hooks_table(&n);
    }
    Ok(Reply::ok(t, render::node_json(&n, !no_hooks)))
}

/// `stats [path]` / `status <path>`: one node, or every node; an interface's ether node
/// also shows its port's driver counters and what it lost outside the graph (read now).
fn stats(c: &mut dyn Control, w: &[&str]) -> Run {
    let ports = c.port_drops();
    let g = c.graph();
    let one = |s: &crate::graph::NodeStats| {
        let (mut t, mut j) = render::stats(s);
        let port = (ports.iter()).find(|p| s.info.name.as_deref() == Some(p.port.as_str()));
        if let Some(p) = port {
            let (pt, pj) = render::port_stats(p);
            t += &pt;
            j["port"] = pj;
        }
        (t, j)
    };
    if let Some(p) = w.first() {
        let (t, j) = one(&g.node_stats(p)?);
        return Ok(Reply::ok(t, j));
    }
    let mut t = String::new();
    let mut all = Vec::new();
    for n in g.list() {
        let (tt, j) = one(&g.stats_of(n.id));
        t += &tt;
        all.push(j);
    }
    Ok(Reply::ok(t, json!({ "nodes": all })))
}

fn dot(c: &mut dyn Control, w: &[&str]) -> Run {
    let counters = match w {
        [] => false,
        ["-c"] => true,
        [other, ..] => {
            let why = format!("dot: unknown option {other} (use -c for counters)");
            return Err(ControlError::Usage(why));
        }
    };
    let d = super::dot::dot(c.graph(), counters);
    Ok(Reply::ok(d.clone(), json!({ "dot": d })))
}

fn attach(c: &mut dyn Control, w: &[&str]) -> Run {
    let usage = || ControlError::Usage("attach: usage: attach <interface> [--queues N]".into());
    let q = match &w[1..] {
        [] => None,
        [one] if one.starts_with("--queues=") => Some(&one["--queues=".len()..]),
        ["--queues", n] | [n] => Some(*n),
        _ => return Err(usage()),
    };
    let q = match q {
        Some(n) => Some(n.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ControlError::Usage(format!(
                "attach: --queues takes a positive number, not {n:?}"
            ))
        })?),
        None => None,
    };
    c.attach(w[0], q)?;
    Ok(Reply::ok(String::new(), json!({ "attached": w[0] })))
}

/// `help`, `help <command>`, `help <type>`, `help msg <type>`.
fn help(c: &mut dyn Control, w: &[&str]) -> Run {
    let types = c.graph().registry();
    let type_named = |name: &str| {
        types.get(name).ok_or_else(|| {
            let why = format!("unknown node type \"{name}\" (try \"types\")");
            ControlError::Usage(why)
        })
    };
    let h = match w {
        [verb, ty] if grammar::lookup(verb).map(|v| v.id) == Ok(VerbId::Msg) => {
            render::type_help(type_named(ty)?)
        }
        [_, _] => return Err(ControlError::Usage(format!("usage: {}", help_usage()))),
        [word] if grammar::lookup_exact(word).is_none() && types.get(word).is_some() => {
            render::type_help(type_named(word)?)
        }
        _ => grammar::help(w.first().copied()).map_err(|e| ControlError::Usage(e.to_string()))?,
    };
    Ok(Reply::ok(h.clone(), json!({ "help": h })))
}

fn help_usage() -> &'static str {
    grammar::VERBS
        .iter()
        .find(|v| v.id == VerbId::Help)
        .map_or("help", |v| v.usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Graph, GraphConfig};

    #[test]
    fn runs_and_renders() {
        let mut g = Graph::new(GraphConfig::default(), crate::nodes::builtin());
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
        // ng_add_hook: a hook name the node already has is EEXIST.
        let r = execute(&mut g, "mkpeer . hub a c");
        assert_eq!(r.errno, Some("EEXIST"));
        let r = execute(&mut g, "connect . . b b");
        assert_eq!(r.errno, Some("EEXIST"));
        let r = execute(&mut g, "connect . h: a x");
        assert_eq!(r.errno, Some("EEXIST"));
        // ng_make_node: an unknown type is ENXIO.
        let r = execute(&mut g, "mkpeer . frobnode x y");
        assert_eq!(r.errno, Some("ENXIO"));
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

    #[test]
    fn help_for_commands_and_node_types() {
        let mut g = Graph::new(GraphConfig::default(), crate::nodes::builtin());
        let h = execute(&mut g, "help msg").text;
        assert!(
            h.starts_with("Usage: msg <path> <command> [argument]"),
            "{h}"
        );
        for line in ["help msg vlan", "help vlan", "? VLAN"] {
            let r = execute(&mut g, line);
            if line == "? VLAN" {
                // Type names are exact; VLAN is no verb either.
                assert_eq!(r.errno, Some("EINVAL"), "{line}");
                continue;
            }
            assert!(
                r.text.starts_with("Type vlan: 802.1Q"),
                "{line}: {}",
                r.text
            );
            assert!(r
                .text
                .contains("addfilter { hook=\"<hook>\" vid=N pcp=N cfi=N }"));
            assert!(r.text.contains("no_filter") && r.text.contains("nodeinfo"));
            assert_eq!(r.json["help"], r.text);
        }
        let h = execute(&mut g, "help ether").text;
        assert!(
            h.contains("(not made by mkpeer)") && h.contains("setpromisc <0|1>"),
            "{h}"
        );
        let r = execute(&mut g, "help msg nosuch");
        assert_eq!(r.errno, Some("EINVAL"));
        assert!(r.error.unwrap().contains("unknown node type \"nosuch\""));
        let r = execute(&mut g, "help list vlan");
        assert!(r.error.unwrap().contains("usage: help"));
        // A verb's own name wins over a type's.
        assert!(execute(&mut g, "help types")
            .text
            .starts_with("Usage: types"));
    }
}
