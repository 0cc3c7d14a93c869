//! The control plane: ngctl's verbs over the graph, the daemon's control socket, and the
//! `xdpgraph ctl` client.
//!
//! * [`grammar`]: the command table (one place for every verb, its usage and help).
//! * [`exec`]: runs one command line against a [`Control`] backend and renders the reply as
//!   ngctl-style text and as JSON.
//! * [`server`]: the Unix socket (mode 0600, root only) and the request channel to the
//!   management thread.
//! * [`client`]: sends command lines and prints replies.
//! * [`metrics`]: the counters in Prometheus text format.
//!
//! Wire format: newline-delimited JSON. A request is `{"line": "<command>"}`; a reply is
//! `{"ok": true, "text": "...", "json": {...}}` or `{"ok": false, "error": "...",
//! "errno": "EINVAL"}`. Requests are limited to [`MAX_REQUEST`] bytes.

pub mod client;
pub mod exec;
pub mod grammar;
pub mod http;
pub mod metrics;
pub mod server;

use crate::graph::Graph;

/// Largest request line the server reads.
pub const MAX_REQUEST: usize = 64 * 1024;
/// Default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/xdpgraph/ctl.sock";

/// The socket path: `--socket`, else `$XDPGRAPH_SOCKET`, else the default.
pub fn socket_path(arg: Option<&str>) -> String {
    arg.map(str::to_string)
        .or_else(|| {
            std::env::var("XDPGRAPH_SOCKET")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_SOCKET.to_string())
}

/// An attached interface, as `ctl` reports it.
#[derive(Debug, Clone)]
pub struct IfaceInfo {
    pub name: String,
    pub port: u32,
    /// "afxdp" or "mem".
    pub kind: &'static str,
    /// "native"/"generic" (AF_XDP), "-" (memory).
    pub mode: String,
    pub queues: usize,
    pub up: bool,
}

/// What the commands run against: a graph, and interfaces when there is a data plane.
pub trait Control {
    fn graph(&mut self) -> &mut Graph;
    fn attach(&mut self, ifname: &str, queues: Option<u32>) -> Result<(), String>;
    fn detach(&mut self, ifname: &str) -> Result<(), String>;
    fn interfaces(&self) -> Vec<IfaceInfo>;
}

impl Control for Graph {
    fn graph(&mut self) -> &mut Graph {
        self
    }
    fn attach(&mut self, _ifname: &str, _q: Option<u32>) -> Result<(), String> {
        Err("this graph has no data plane: interfaces cannot be attached".into())
    }
    fn detach(&mut self, _ifname: &str) -> Result<(), String> {
        Err("this graph has no data plane: interfaces cannot be detached".into())
    }
    fn interfaces(&self) -> Vec<IfaceInfo> {
        Vec::new()
    }
}
