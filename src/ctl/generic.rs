//! The control messages every node understands, answered from the graph's queries with
//! netgraph's reply structures (ng_base.c's generic messages).

use crate::graph::{Graph, GraphError, HookInfo, MsgSpec, NodeInfo};
use crate::value::Value;

/// The generic messages.
pub const MESSAGES: &[MsgSpec] = &[
    MsgSpec {
        name: "nodeinfo",
        args: "",
        help: "{ name type id hooks }",
    },
    MsgSpec {
        name: "listhooks",
        args: "",
        help: "nodeinfo and { hooklist=[ { ourhook peerhook nodeinfo } ... ] }",
    },
    MsgSpec {
        name: "listnodes",
        args: "",
        help: "{ numnames nodeinfo=[ ... ] }: every node",
    },
    MsgSpec {
        name: "listtypes",
        args: "",
        help: "{ numtypes typeinfo=[ { typename numnodes } ... ] }",
    },
];

/// The reply to generic message `cmd` sent to `path`, or None if `cmd` is not one (any
/// argument is ignored, as netgraph does).
pub fn reply(g: &Graph, path: &str, cmd: &str) -> Option<Result<Value, GraphError>> {
    let with_hooks = match cmd {
        "nodeinfo" => false,
        "listhooks" => true,
        "listnodes" | "listtypes" => {
            if let Err(e) = g.resolve(path) {
                return Some(Err(e));
            }
            return Some(Ok(if cmd == "listnodes" {
                list_nodes(g)
            } else {
                list_types(g)
            }));
        }
        _ => return None,
    };
    Some(g.show(path).map(|n| info_value(&n, with_hooks)))
}

/// Adds the generic messages to an unknown-message error's list.
pub fn with_generic_names(e: GraphError) -> GraphError {
    match e {
        GraphError::UnknownMsg { node, cmd, known } => {
            let mut all: Vec<&str> = known.split_whitespace().collect();
            all.extend(MESSAGES.iter().map(|m| m.name));
            let known = all.join(" ");
            GraphError::UnknownMsg { node, cmd, known }
        }
        e => e,
    }
}

fn list_nodes(g: &Graph) -> Value {
    let list = g.list();
    Value::record([
        ("numnames", Value::Uint(list.len() as u64)),
        (
            "nodeinfo",
            Value::Array(list.iter().map(|n| info_value(n, false)).collect()),
        ),
    ])
}

fn list_types(g: &Graph) -> Value {
    let t = g.types();
    let info = |(n, c): &(&str, usize)| {
        Value::record([
            ("typename", Value::Str(n.to_string())),
            ("numnodes", Value::Uint(*c as u64)),
        ])
    };
    Value::record([
        ("numtypes", Value::Uint(t.len() as u64)),
        ("typeinfo", Value::Array(t.iter().map(info).collect())),
    ])
}

fn hook_value(h: &HookInfo) -> Value {
    Value::record([
        ("ourhook", Value::Str(h.name.clone())),
        ("peerhook", Value::Str(h.peer_hook.clone())),
        (
            "nodeinfo",
            Value::record([
                ("name", Value::Str(h.peer_name.clone().unwrap_or_default())),
                ("type", Value::Str(h.peer_type.to_string())),
                ("id", Value::Hex(h.peer_id as u64)),
            ]),
        ),
    ])
}

/// netgraph's `struct nodeinfo` (and, with hooks, `struct hooklist`).
pub fn info_value(n: &NodeInfo, with_hooks: bool) -> Value {
    let mut f = vec![
        (
            "name".to_string(),
            Value::Str(n.name.clone().unwrap_or_default()),
        ),
        ("type".to_string(), Value::Str(n.ty.to_string())),
        ("id".to_string(), Value::Hex(n.id as u64)),
        ("hooks".to_string(), Value::Uint(n.hooks.len() as u64)),
    ];
    if with_hooks {
        let hooks = Value::Array(n.hooks.iter().map(hook_value).collect());
        f.push(("hooklist".to_string(), hooks));
    }
    Value::Struct(f)
}
