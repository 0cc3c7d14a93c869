//! The control plane: ngctl's verbs over the graph, the daemon's control socket, and the
//! `xdpgraph ctl` client.
//!
//! * [`grammar`]: the command table (one place for every verb, its usage and help).
//! * [`exec`]: runs one command line against a [`Control`] backend; [`render`] turns the
//!   graph's queries into ngctl-style text and JSON, [`generic`] answers the messages every
//!   node understands (`nodeinfo`, ...), [`dot`] and [`save`] write the graph as Graphviz and
//!   as a script.
//! * [`server`]: the Unix socket (mode 0600: root and the daemon's user; or a group's, with
//!   `run --socket-group`) and the request channel to the management thread.
//! * [`client`]: sends command lines and prints replies.
//! * [`metrics`]: the counters in Prometheus text format.
//! * [`capture`]: `capture`, the frames crossing a hook streamed to the client (its framing is
//!   documented there); [`pcapng`] the file format the client writes.
//!
//! Wire format: newline-delimited JSON. A request is `{"line": "<command>"}`; a reply is
//! `{"ok": true, "text": "...", "json": {...}}` or `{"ok": false, "error": "...",
//! "errno": "EINVAL"}`. Requests are limited to [`MAX_REQUEST`] bytes.

pub mod capture;
pub mod client;
pub mod dot;
pub mod exec;
pub mod generic;
pub mod grammar;
pub mod http;
pub mod metrics;
pub mod pcapng;
pub mod render;
pub mod save;
pub mod server;

use crate::errno::Errno;
use crate::graph::{Graph, GraphError};
pub use crate::port::PortDrops;
use std::error::Error;

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

/// A worker thread, as `status` shows it.
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    pub worker: usize,
    pub core: usize,
    /// "running", "standing" (its heartbeat stood still at the last looks), "panicked",
    /// "stopped".
    pub state: &'static str,
    /// What is known beyond the state (a panic's message, how long it stood).
    pub detail: String,
    /// Loop iterations so far.
    pub heartbeats: u64,
    pub free_frames: u64,
    pub frames: u64,
}

/// A capture running (`ctl capture`), as `status` shows it.
#[derive(Debug, Clone)]
pub struct CaptureInfo {
    /// `node:hook`.
    pub point: String,
    /// "in", "out" or "inout".
    pub direction: &'static str,
    pub snaplen: u32,
    /// Copies the workers could not write so far (its reader had not kept up).
    pub dropped: u64,
}

/// The daemon, as `status` without a path shows it.
#[derive(Debug, Clone)]
pub struct DaemonStatus {
    pub pid: u32,
    pub socket: Option<String>,
    pub workers: Vec<WorkerInfo>,
    pub interfaces: Vec<IfaceInfo>,
    pub captures: Vec<CaptureInfo>,
}

/// Why a command failed. `errno()` is what the reply carries.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The command line is wrong (an unknown option, a bad number).
    #[error("{0}")]
    Usage(String),
    /// This backend or this side of the socket cannot do it.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The backend failed (an interface that cannot be attached).
    #[error("{source}")]
    Backend {
        source: Box<dyn Error + Send + Sync>,
        errno: Errno,
    },
}

impl ControlError {
    /// A backend failure, reported as EINVAL.
    pub fn backend(e: impl Into<Box<dyn Error + Send + Sync>>) -> ControlError {
        ControlError::Backend {
            source: e.into(),
            errno: Errno::EINVAL,
        }
    }
    /// The errno a netgraph user would expect.
    pub fn errno(&self) -> Errno {
        match self {
            ControlError::Graph(e) => e.errno(),
            ControlError::Usage(_) | ControlError::Unsupported(_) => Errno::EINVAL,
            ControlError::Backend { errno, .. } => *errno,
        }
    }
}

/// What the commands run against: a graph, and interfaces when there is a data plane.
pub trait Control {
    fn graph(&mut self) -> &mut Graph;
    fn attach(&mut self, ifname: &str, queues: Option<u32>) -> Result<(), ControlError>;
    fn detach(&mut self, ifname: &str) -> Result<(), ControlError>;
    fn interfaces(&self) -> Vec<IfaceInfo>;
    /// Every interface's frames lost outside the graph, and its driver counters, read now
    /// (none without a data plane).
    fn port_drops(&self) -> Vec<PortDrops> {
        Vec::new()
    }
    /// The daemon's state, for `status` without a path (None: there is no data plane).
    fn daemon_status(&self) -> Option<DaemonStatus> {
        None
    }
}

impl Control for Graph {
    fn graph(&mut self) -> &mut Graph {
        self
    }
    fn attach(&mut self, _ifname: &str, _q: Option<u32>) -> Result<(), ControlError> {
        Err(ControlError::Unsupported(
            "this graph has no data plane: interfaces cannot be attached",
        ))
    }
    fn detach(&mut self, _ifname: &str) -> Result<(), ControlError> {
        Err(ControlError::Unsupported(
            "this graph has no data plane: interfaces cannot be detached",
        ))
    }
    fn interfaces(&self) -> Vec<IfaceInfo> {
        Vec::new()
    }
}
