//! The data plane as the backend of the `ctl` commands: the one adapter between
//! [`Dataplane`]'s typed API and [`ctl::Control`](crate::ctl::Control).

use super::Dataplane;
use crate::ctl::{Control, IfaceInfo};
use crate::graph::Graph;

impl Control for Dataplane {
    fn graph(&mut self) -> &mut Graph {
        Dataplane::graph(self)
    }
    fn attach(&mut self, ifname: &str, queues: Option<u32>) -> Result<(), String> {
        Dataplane::attach(self, ifname, queues)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    fn detach(&mut self, ifname: &str) -> Result<(), String> {
        Dataplane::detach(self, ifname).map_err(|e| e.to_string())
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
}
