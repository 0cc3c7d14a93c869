//! The data plane as the backend of the `ctl` commands: the one adapter between
//! [`Dataplane`]'s typed API and [`ctl::Control`](crate::ctl::Control).

use super::{Dataplane, WorkerState};
use crate::ctl::{CaptureInfo, Control, ControlError, DaemonStatus, IfaceInfo, WorkerInfo};
use crate::graph::Graph;

impl Control for Dataplane {
    fn graph(&mut self) -> &mut Graph {
        Dataplane::graph(self)
    }
    fn attach(&mut self, ifname: &str, queues: Option<u32>) -> Result<(), ControlError> {
        Dataplane::attach(self, ifname, queues)
            .map(|_| ())
            .map_err(backend)
    }
    fn detach(&mut self, ifname: &str) -> Result<(), ControlError> {
        Dataplane::detach(self, ifname).map_err(backend)
    }
    fn interfaces(&self) -> Vec<IfaceInfo> {
        self.describe()
            .into_iter()
            .map(|d| IfaceInfo {
                name: d.name,
                port: d.port,
                kind: d.kind,
                mode: d.mode,
                queues: d.queues,
                up: d.up,
            })
            .collect()
    }
    fn port_drops(&self) -> Vec<crate::port::PortDrops> {
        Dataplane::port_drops(self)
    }
    fn daemon_status(&self) -> Option<DaemonStatus> {
        let workers = (self.worker_status().into_iter())
            .map(|w| {
                let (state, detail) = match w.state {
                    WorkerState::Running => ("running", String::new()),
                    WorkerState::Standing(d) => {
                        ("standing", format!("no heartbeat for {} ms", d.as_millis()))
                    }
                    WorkerState::Panicked(m) => ("panicked", m),
                    WorkerState::Stopped => ("stopped", String::new()),
                };
                WorkerInfo {
                    worker: w.worker,
                    core: w.core,
                    state,
                    detail,
                    heartbeats: w.heartbeats,
                    free_frames: w.free_frames,
                    frames: w.frames,
                }
            })
            .collect();
        Some(DaemonStatus {
            pid: std::process::id(),
            socket: self.config().control_socket.clone(),
            workers,
            interfaces: Control::interfaces(self),
            captures: (self.graph_ref().captures().iter())
                .map(|c| CaptureInfo {
                    point: c.point().to_string(),
                    direction: c.dirs().name(),
                    snaplen: c.snaplen(),
                    dropped: c.dropped(),
                })
                .collect(),
        })
    }
}

/// A data-plane error as ctl reports it, with its errno.
fn backend(e: super::DataplaneError) -> ControlError {
    let errno = e.errno();
    ControlError::Backend {
        source: Box::new(e),
        errno,
    }
}
