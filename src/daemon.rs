//! The daemon (`xdpgraph run`) as a library: the data plane with its workers, the interfaces
//! and memory ports it starts with, the control socket, the metrics endpoint, and the
//! management loop that applies control requests one at a time and does the housekeeping.
//!
//! ```no_run
//! # use xdpgraph::daemon::{Daemon, DaemonConfig};
//! let mut d = Daemon::start(DaemonConfig {
//!     mem_ports: vec!["m0".into(), "m1".into()],
//!     socket: "/tmp/xg.sock".into(),
//!     ..DaemonConfig::default()
//! })?;
//! d.apply_script("setup", "connect m0: m1: lower lower", &mut std::io::stderr())?;
//! d.run(); // until SIGINT/SIGTERM/SIGHUP (after `sys::netdev::catch_stop_signals`) or a fault
//! let report = d.shutdown();
//! # Ok::<(), xdpgraph::daemon::DaemonError>(())
//! ```

use crate::ctl::capture;
use crate::ctl::exec::{self, Reply};
use crate::ctl::server::{Request, Server, SocketAccess, Work};
use crate::dataplane::mem::{self, MemGen};
use crate::dataplane::{
    Dataplane, DataplaneConfig, DataplaneError, ShutdownReport, TestFault, WorkerFault,
};
use crate::errno::Errno;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How often the management loop does its housekeeping ([`Dataplane::tick`]).
pub const TICK: Duration = Duration::from_millis(100);
/// Control requests waiting for the management loop, at most.
const QUEUED_REQUESTS: usize = 256;

/// An interface to attach at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceSpec {
    pub name: String,
    /// Use only the first N RX queues (None: all).
    pub queues: Option<u32>,
}

/// Traffic the first memory port generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemGenSpec {
    /// Frames per second.
    pub pps: u64,
    /// Stop after this many frames (None: no limit).
    pub count: Option<u64>,
}

/// Everything `xdpgraph run` takes.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Cores, frames, XDP mode, sockets, TAPs, DPDK...
    pub dataplane: DataplaneConfig,
    /// Interfaces to attach at start, in order.
    pub ifaces: Vec<IfaceSpec>,
    /// In-memory ports to add at start, in order (after the interfaces).
    pub mem_ports: Vec<String>,
    /// Generate traffic into the first memory port.
    pub mem_gen: Option<MemGenSpec>,
    /// The control socket's path.
    pub socket: String,
    /// The control socket's group and mode (default: 0600, the daemon's user and root only).
    pub socket_access: SocketAccess,
    /// The boot script (`run -f FILE`): where `ctl save -w` writes the running graph.
    pub boot_script: Option<String>,
    /// Serve Prometheus metrics on this loopback address.
    pub metrics: Option<String>,
    /// Accept the test hooks' `debug` lines on the control socket (the binary turns this on
    /// with `XDPGRAPH_TEST_HOOKS=1`; see docs/TESTING.md).
    pub test_hooks: bool,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            dataplane: DataplaneConfig::default(),
            ifaces: Vec::new(),
            mem_ports: Vec::new(),
            mem_gen: None,
            socket: crate::ctl::DEFAULT_SOCKET.into(),
            socket_access: SocketAccess::default(),
            boot_script: None,
            metrics: None,
            test_hooks: false,
        }
    }
}

/// Why the daemon could not start or apply a script.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("starting the workers")]
    Start(#[source] DataplaneError),
    #[error("attaching {name}")]
    Attach {
        name: String,
        #[source]
        source: DataplaneError,
    },
    #[error("--mem-port {name}")]
    MemPort {
        name: String,
        #[source]
        source: DataplaneError,
    },
    #[error("reading {path}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    /// A script line failed (`origin`: the file, `line`: from 1).
    #[error("{origin}:{line}: {error}")]
    Script {
        origin: String,
        line: usize,
        error: String,
        errno: Errno,
    },
    #[error("control socket {path}")]
    Socket {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("--metrics")]
    Metrics(#[source] io::Error),
}

impl DaemonError {
    /// The errno a netgraph user would expect.
    pub fn errno(&self) -> Errno {
        match self {
            DaemonError::Start(e)
            | DaemonError::Attach { source: e, .. }
            | DaemonError::MemPort { source: e, .. } => e.errno(),
            DaemonError::Read { source, .. } | DaemonError::Socket { source, .. } => {
                Errno::of_io(source)
            }
            DaemonError::Metrics(e) => Errno::of_io(e),
            DaemonError::Script { errno, .. } => *errno,
        }
    }
}

/// Why the management loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The stop flag was set.
    Stopped,
    /// A stop signal arrived (SIGINT, SIGTERM or SIGHUP).
    Signal(i32),
    /// A worker panicked or stalled: the daemon must stop, and exit non-zero so that its
    /// supervisor restarts it, rather than limp on with that worker's queues unserved.
    Fault(WorkerFault),
}

/// A running daemon.
pub struct Daemon {
    dp: Dataplane,
    requests: Receiver<Request>,
    server: Option<Server>,
    socket: String,
    boot_script: Option<String>,
    test_hooks: bool,
}

impl Daemon {
    /// Starts the workers, attaches the interfaces and memory ports, and opens the control
    /// socket and the metrics endpoint (requests wait until [`Daemon::run`]).
    pub fn start(mut cfg: DaemonConfig) -> Result<Daemon, DaemonError> {
        (cfg.dataplane.control_socket).get_or_insert_with(|| cfg.socket.clone());
        let mut dp = Dataplane::start(cfg.dataplane).map_err(DaemonError::Start)?;
        for i in &cfg.ifaces {
            dp.attach(&i.name, i.queues)
                .map_err(|source| DaemonError::Attach {
                    name: i.name.clone(),
                    source,
                })?;
        }
        for (i, name) in cfg.mem_ports.iter().enumerate() {
            let gen = match cfg.mem_gen {
                Some(g) if i == 0 => Some(MemGen::two_hosts(g.count.unwrap_or(u64::MAX), g.pps)),
                _ => None,
            };
            dp.add_mem_port(name, mem::mac(0x100 + i as u64), gen)
                .map_err(|source| DaemonError::MemPort {
                    name: name.clone(),
                    source,
                })?;
        }
        let (tx, requests) = mpsc::sync_channel::<Request>(QUEUED_REQUESTS);
        let server =
            Server::start_with(&cfg.socket, cfg.socket_access, tx.clone()).map_err(|source| {
                DaemonError::Socket {
                    path: cfg.socket.clone(),
                    source,
                }
            })?;
        if let Some(m) = &cfg.metrics {
            crate::ctl::metrics::serve(m, tx).map_err(DaemonError::Metrics)?;
        }
        Ok(Daemon {
            dp,
            requests,
            server: Some(server),
            socket: cfg.socket,
            boot_script: cfg.boot_script,
            test_hooks: cfg.test_hooks,
        })
    }

    pub fn dataplane(&mut self) -> &mut Dataplane {
        &mut self.dp
    }
    pub fn dataplane_ref(&self) -> &Dataplane {
        &self.dp
    }
    /// The control socket's path.
    pub fn socket(&self) -> &str {
        &self.socket
    }

    /// Applies a script of ctl commands line by line, as `xdpgraph run -f` does, writing what
    /// the commands print to `out`; stops at the first line that fails (`origin:line:` in the
    /// error).
    pub fn apply_script(
        &mut self,
        origin: &str,
        text: &str,
        out: &mut dyn Write,
    ) -> Result<(), DaemonError> {
        for (n, line) in text.lines().enumerate() {
            self.dp.fast_path_flush();
            let r = exec::execute(&mut self.dp, line);
            self.dp.fast_path_sync();
            if !r.ok {
                return Err(DaemonError::Script {
                    origin: origin.into(),
                    line: n + 1,
                    error: r.error.unwrap_or_default(),
                    errno: (r.errno.and_then(Errno::from_name)).unwrap_or(Errno::EINVAL),
                });
            }
            if !r.text.is_empty() {
                let _ = out.write_all(r.text.as_bytes());
            }
        }
        Ok(())
    }

    /// Reads a script file and applies it ([`Daemon::apply_script`]).
    pub fn apply_file(&mut self, path: &str, out: &mut dyn Write) -> Result<(), DaemonError> {
        let text = std::fs::read_to_string(path).map_err(|source| DaemonError::Read {
            path: path.into(),
            source,
        })?;
        self.apply_script(path, &text, out)
    }

    /// The management loop, until SIGINT, SIGTERM or SIGHUP (caught after
    /// `sys::netdev::catch_stop_signals`), or a worker's fault.
    pub fn run(&mut self) -> Outcome {
        self.run_until(&AtomicBool::new(false))
    }

    /// The management loop, until `stop` is set, a stop signal arrives, or a worker panics or
    /// stalls: control requests applied one at a time, the workers watched on every turn
    /// (at least every 50 ms), housekeeping every [`TICK`].
    ///
    /// Under systemd (`Type=notify`) it says `READY=1` as it starts (the interfaces are attached
    /// and the boot script applied by then), `WATCHDOG=1` at half the unit's `WatchdogSec` for
    /// as long as every worker is healthy (a stalled or panicked worker ends the loop, so the
    /// pings stop), and `STOPPING=1` as it returns.
    pub fn run_until(&mut self, stop: &AtomicBool) -> Outcome {
        tracing::info!(socket = %self.socket, cores = ?self.dp.cores(), "xdpgraph running");
        let status = format!(
            "READY=1\nSTATUS=serving {} on cores {:?}",
            self.socket,
            self.dp.cores()
        );
        if let Err(e) = crate::sys::notify::notify(&status) {
            tracing::warn!("cannot notify the service manager: {e}");
        }
        let outcome = self.manage(stop);
        let _ = crate::sys::notify::notify("STOPPING=1");
        outcome
    }

    fn manage(&mut self, stop: &AtomicBool) -> Outcome {
        let watchdog = crate::sys::notify::watchdog_interval();
        let mut last_ping = Instant::now();
        let mut last_tick = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                return Outcome::Stopped;
            }
            if let Some(sig) = crate::sys::netdev::stop_signal() {
                tracing::info!(signal = sig, "stopping");
                return Outcome::Signal(sig);
            }
            if let Some(f) = self.dp.check_workers() {
                tracing::error!("stopping after a worker fault: detaching every interface");
                return Outcome::Fault(f);
            }
            if watchdog.is_some_and(|w| last_ping.elapsed() >= w) {
                let _ = crate::sys::notify::notify("WATCHDOG=1");
                last_ping = Instant::now();
            }
            match self.requests.recv_timeout(Duration::from_millis(50)) {
                Ok(req) => self.serve(req),
                Err(RecvTimeoutError::Timeout) => {}
                // the server keeps a sender: not while the daemon runs
                Err(RecvTimeoutError::Disconnected) => return Outcome::Stopped,
            }
            if last_tick.elapsed() >= TICK {
                self.dp.tick();
                last_tick = Instant::now();
            }
        }
    }

    /// A test hook's line (`debug worker N panic|stall`), when the hooks are on.
    fn debug(&mut self, line: &str) -> Option<Reply> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let ["debug", rest @ ..] = words.as_slice() else {
            return None;
        };
        if !self.test_hooks {
            return None;
        }
        let r = match rest {
            ["worker", n, what] => match (n.parse::<usize>(), *what) {
                (Ok(n), "panic") => self.dp.debug_fault(n, TestFault::Panic),
                (Ok(n), "stall") => self.dp.debug_fault(n, TestFault::Stall),
                _ => {
                    return Some(Reply::err(
                        "usage: debug worker N panic|stall",
                        Errno::EINVAL,
                    ))
                }
            },
            _ => {
                return Some(Reply::err(
                    "usage: debug worker N panic|stall",
                    Errno::EINVAL,
                ))
            }
        };
        Some(match r {
            Ok(()) => Reply::ok(String::new(), serde_json::Value::Null),
            Err(e) => Reply::err(e.to_string(), e.errno()),
        })
    }

    /// `save -w`: the running graph written to the boot script (None: another line).
    fn save_boot(&mut self, line: &str) -> Option<Reply> {
        let (verb, words) = crate::ctl::grammar::split(line)?;
        let v = crate::ctl::grammar::lookup(verb).ok()?;
        (v.id == crate::ctl::grammar::VerbId::Save && words == ["-w"])
            .then(|| crate::ctl::save::save_to_boot(self.dp.graph(), self.boot_script.as_deref()))
    }

    /// Applies one control request and answers it.
    fn serve(&mut self, req: Request) {
        // counters exact when read; the fast path in step with an edit before it is answered
        self.dp.fast_path_flush();
        let r = match req.work {
            Work::Line(l) => match self.debug(&l).or_else(|| self.save_boot(&l)) {
                Some(r) => r,
                None => exec::execute(&mut self.dp, &l),
            },
            Work::Metrics => {
                let ports = self.dp.port_drops();
                let m = crate::ctl::metrics::render(self.dp.graph_ref(), &ports);
                Reply::ok(m, serde_json::Value::Null)
            }
            Work::CaptureStart(spec, to) => match capture::start(&mut self.dp, &spec) {
                Ok((c, r)) => {
                    let _ = to.send(c);
                    r
                }
                Err(e) => Reply::err(e.to_string(), e.errno()),
            },
            Work::CaptureStop(c) => {
                self.dp.graph().capture_stop(&c);
                Reply::ok(String::new(), serde_json::Value::Null)
            }
        };
        self.dp.fast_path_sync();
        let _ = req.reply.send(r);
    }

    /// Closes the control socket, stops the workers and detaches everything; returns what the
    /// backends found (DPDK: every frame home).
    pub fn shutdown(mut self) -> ShutdownReport {
        drop(self.server.take());
        let report = self.dp.shutdown();
        tracing::info!("stopped; XDP programs detached");
        report
    }
}
