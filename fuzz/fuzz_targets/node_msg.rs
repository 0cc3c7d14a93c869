//! Every node type's control messages with arbitrary arguments: the first byte picks a
//! creatable type, the second one of its messages, the rest is the ASCII argument.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpgraph::graph::{Graph, GraphConfig};
use xdpgraph::value::Value;

fuzz_target!(|data: &[u8]| {
    let [t, m, rest @ ..] = data else { return };
    let Ok(arg) = std::str::from_utf8(rest) else {
        return;
    };
    let mut g = Graph::new(GraphConfig::default(), xdpgraph::nodes::builtin());
    let types: Vec<_> = (g.registry().iter())
        .map(|r| r.info)
        // not eiface/ksocket: a TAP or a socket per input would be the fuzzer's bottleneck
        .filter(|i| i.user_creatable() && !i.opens_resources())
        .collect();
    let info = types[*t as usize % types.len()];
    let hook = match info.name {
        "bridge" => "link0",
        "vlan" => "downstream",
        "tee" => "left",
        "one2many" => "one",
        _ => "a",
    };
    if g.mkpeer(".", info.name, "x", hook).is_err() {
        return;
    }
    let Some(msg) = info.messages.get(*m as usize % info.messages.len().max(1)) else {
        return;
    };
    let value = if arg.is_empty() {
        None
    } else {
        match Value::parse(arg) {
            Ok(v) => Some(v),
            Err(_) => return,
        }
    };
    let _ = g.msg(".:x", msg.name, value.as_ref());
    // the node must still answer afterwards
    let _ = g.msg(".:x", msg.name, None);
});
