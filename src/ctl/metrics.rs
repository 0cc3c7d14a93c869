//! The graph's counters in Prometheus text format, and a minimal loopback HTTP endpoint.

use super::exec::Reply;
use super::server::{Request, Work};
use super::PortDrops;
use crate::graph::{gstat, Graph};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc::{self, SyncSender};

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Every reason name the graph's types count (the engine's first), once each.
fn reason_names(g: &Graph) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for t in g.registry().iter() {
        for (_, r) in t.info.reasons() {
            if !v.contains(&r.name) {
                v.push(r.name);
            }
        }
    }
    v
}

/// Renders every counter: the graph's, and the ports' (`ports`: read now, see
/// [`Control::port_drops`](super::Control::port_drops)).
pub fn render(g: &Graph, ports: &[PortDrops]) -> String {
    let mut s = String::new();
    s += "# HELP xdpgraph_frames_total Frames entering and leaving the graph.\n# TYPE xdpgraph_frames_total counter\n";
    for (k, i) in [
        ("rx", gstat::RX),
        ("tx", gstat::TX),
        ("host_tx", gstat::HOST_TX),
        ("host_rx", gstat::HOST_RX),
        ("copies", gstat::COPIES),
        ("node_rx", gstat::NODE_RX),
        ("node_tx", gstat::NODE_TX),
    ] {
        let _ = writeln!(s, "xdpgraph_frames_total{{dir=\"{k}\"}} {}", g.stat(i));
    }
    s += "# HELP xdpgraph_bursts_total Bursts run through the graph.\n# TYPE xdpgraph_bursts_total counter\n";
    let _ = writeln!(s, "xdpgraph_bursts_total {}", g.stat(gstat::BURSTS));
    s += "# HELP xdpgraph_drops_total Frames dropped, by reason, across all nodes (including shut down ones).\n# TYPE xdpgraph_drops_total counter\n";
    for name in reason_names(g) {
        let n = g.drops_named(name);
        let _ = writeln!(s, "xdpgraph_drops_total{{reason=\"{name}\"}} {n}");
    }
    s += "# HELP xdpgraph_node_drops_total Frames dropped by a node, by reason.\n# TYPE xdpgraph_node_drops_total counter\n";
    let (rows, _) = g.errors();
    for r in rows {
        let _ = writeln!(
            s,
            "xdpgraph_node_drops_total{{node=\"{}\",type=\"{}\",reason=\"{}\"}} {}",
            esc(&r.node),
            r.ty,
            r.reason.name,
            r.count
        );
    }
    s += "# HELP xdpgraph_hook_frames_total Frames through a hook.\n# TYPE xdpgraph_hook_frames_total counter\n";
    let mut oct = String::from("# HELP xdpgraph_hook_octets_total Octets through a hook.\n# TYPE xdpgraph_hook_octets_total counter\n");
    let mut fast = String::from("# HELP xdpgraph_hook_fast_path_frames_total Frames that crossed a hook in the XDP fast path (included in xdpgraph_hook_frames_total).\n# TYPE xdpgraph_hook_fast_path_frames_total counter\n");
    for n in g.list() {
        if let Ok(st) = g.node_stats(&n.path()) {
            for (h, cs) in st.hooks {
                for (k, v) in cs {
                    if k == "fastPathFrames" {
                        let _ = writeln!(
                            fast,
                            "xdpgraph_hook_fast_path_frames_total{{node=\"{}\",hook=\"{}\"}} {v}",
                            esc(&n.path()),
                            esc(&h)
                        );
                        continue;
                    }
                    let (metric, dir) = match k {
                        "inFrames" => (&mut s, "in"),
                        "outFrames" => (&mut s, "out"),
                        "inOctets" => (&mut oct, "in"),
                        "outOctets" => (&mut oct, "out"),
                        _ => continue,
                    };
                    let name = if k.ends_with("Frames") {
                        "xdpgraph_hook_frames_total"
                    } else {
                        "xdpgraph_hook_octets_total"
                    };
                    let _ = writeln!(
                        metric,
                        "{name}{{node=\"{}\",hook=\"{}\",dir=\"{dir}\"}} {v}",
                        esc(&n.path()),
                        esc(&h)
                    );
                }
            }
        }
    }
    s += &oct;
    s += &fast;
    s += "# HELP xdpgraph_nodes Nodes in the graph.\n# TYPE xdpgraph_nodes gauge\n";
    let _ = writeln!(s, "xdpgraph_nodes {}", g.list().len());
    s += &render_ports(ports);
    s
}

/// What each port lost outside the graph (kernel, driver, XDP program), and its driver
/// counters.
fn render_ports(ports: &[PortDrops]) -> String {
    let mut s = String::from(
        "# HELP xdpgraph_port_drops_total Frames a port lost outside the graph (kernel, driver, XDP program), by queue and reason; disjoint.\n# TYPE xdpgraph_port_drops_total counter\n",
    );
    let mut detail = String::from(
        "# HELP xdpgraph_port_drop_detail_total How the kernel explains part of a port drop count (not extra drops).\n# TYPE xdpgraph_port_drop_detail_total counter\n",
    );
    let mut drv = String::from(
        "# HELP xdpgraph_port_driver Driver-level counters of a port, by queue.\n# TYPE xdpgraph_port_driver untyped\n",
    );
    let q = |q: Option<u32>| q.map_or("all".to_string(), |q| q.to_string());
    for p in ports {
        let port = esc(&p.port);
        for d in &p.drops {
            let (qn, r) = (q(d.queue), d.reason.name);
            let _ = writeln!(
                s,
                "xdpgraph_port_drops_total{{port=\"{port}\",queue=\"{qn}\",reason=\"{r}\"}} {}",
                d.count
            );
            if let Some((what, n)) = d.detail {
                let _ = writeln!(
                    detail,
                    "xdpgraph_port_drop_detail_total{{port=\"{port}\",queue=\"{qn}\",reason=\"{r}\",detail=\"{what}\"}} {n}"
                );
            }
        }
        for st in &p.stats {
            let qn = q(st.queue);
            for (k, v) in &st.counters {
                let _ = writeln!(
                    drv,
                    "xdpgraph_port_driver{{port=\"{port}\",queue=\"{qn}\",counter=\"{k}\"}} {v}"
                );
            }
        }
    }
    s + &detail + &drv
}

/// Serves `GET /metrics` on `addr` (loopback only), asking the management thread for each
/// scrape; connections are served concurrently with a deadline and size cap ([`super::http`]).
pub fn serve(
    addr: &str,
    to_mgmt: SyncSender<Request>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let a: SocketAddr = addr.parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("--metrics {addr}: expected IP:PORT"),
        )
    })?;
    if !a.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("--metrics {addr}: only loopback addresses are served"),
        ));
    }
    let l = TcpListener::bind(a)?;
    std::thread::Builder::new()
        .name("xdpgraph-metrics".into())
        .spawn(move || {
            super::http::serve(l, super::http::Limits::default(), move |path| {
                if path != "/metrics" {
                    return None;
                }
                let (tx, rx) = mpsc::channel();
                to_mgmt
                    .send(Request {
                        work: Work::Metrics,
                        reply: tx,
                    })
                    .ok()?;
                rx.recv().ok().map(|r: Reply| r.text)
            })
        })
}
