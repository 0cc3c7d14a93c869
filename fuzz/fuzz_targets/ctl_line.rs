//! Any text as a ctl command line, run against a graph with a few nodes: the grammar, the
//! path syntax, the ASCII value parser and every verb's argument handling. Nothing may panic;
//! a refused line must come back with an error and an errno.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpgraph::ctl::exec::execute;
use xdpgraph::graph::{Graph, GraphConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut g = Graph::new(GraphConfig::default(), xdpgraph::nodes::builtin());
    for setup in [
        "mkpeer . bridge b0 link0",
        "name .:b0 br0",
        "mkpeer br0: vlan link1 downstream",
        "mkpeer br0: tee link2 left",
    ] {
        assert!(execute(&mut g, setup).ok, "{setup}");
    }
    for line in text.lines().take(16) {
        let r = execute(&mut g, line);
        if !r.ok {
            assert!(r.errno.is_some() && r.error.is_some(), "{line:?}: {r:?}");
        }
    }
    let _ = xdpgraph::value::Value::parse(text);
});
