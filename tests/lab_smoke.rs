//! Smoke test on the veth lab (root only): a bridge across three ports carries ping.

use xdpgraph::dataplane::{Dataplane, DataplaneConfig};
use xdpgraph::lab::{LabConfig, LabGuard};
use xdpgraph::value::Value;

fn is_root() -> bool {
    // SAFETY-free: geteuid via std is not available; read /proc/self/status.
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

#[test]
fn bridge_carries_ping() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = LabGuard::up(LabConfig { prefix: format!("sm{}", std::process::id() % 1000), ports: 3, queues: 2, ..Default::default() }).unwrap();
    let mut dp = Dataplane::start(DataplaneConfig { cores: vec![0, 1], ..Default::default() }).unwrap();
    for i in 0..3 {
        dp.attach(&lab.iface(i), None).unwrap();
    }
    let g = dp.graph();
    let p = |i: usize| format!("{}:", lab.iface(i));
    for i in 0..3 {
        g.msg(&p(i), "setautosrc", Some(&Value::Int(0))).unwrap();
        g.msg(&p(i), "setpromisc", Some(&Value::Int(1))).unwrap();
    }
    g.mkpeer(&p(0), "bridge", "lower", "link0").unwrap();
    g.name(&format!("{}lower", p(0)), "br0").unwrap();
    g.connect(&p(1), "br0:", "lower", "link1").unwrap();
    g.connect(&p(2), "br0:", "lower", "link2").unwrap();
    assert!(lab.ping(0, 1, 3, 1), "ping 0 -> 1 through the bridge");
    assert!(lab.ping(0, 2, 3, 1), "ping 0 -> 2 through the bridge");
    let t = dp.graph().msg("br0:", "gettable", None).unwrap().unwrap();
    eprintln!("{t}");
    dp.shutdown();
}
