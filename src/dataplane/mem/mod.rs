//! The in-memory backend: ports without a device, for tests, benchmarks and demos
//! (`xdpgraph run --mem-port NAME [--mem-gen PPS]`).
//!
//! * [`port`]: [`MemPort`] (a queue of frames in memory, a generator, a capture or a counting
//!   sink) and [`MemPortCtl`] (interface settings kept in memory).
//! * [`MemBackend`]: the ports defined by [`Dataplane::add_mem_port`](super::Dataplane) (it
//!   claims their names, so a detached one can be attached again): worker 0 receives what the
//!   port generates, every worker can transmit on it.
//! * Frame builders ([`mac`], [`frame`], [`eth`]) for generator templates.

pub mod port;

pub use port::{MemCounters, MemPort, MemPortCtl};

use super::backend::{AttachRequest, Backend, Claim, DriverStats, IfaceDesc, Interface};
use super::backend::{PortMaker, WorkerCx, WorkerPort};
use super::DataplaneError;
use crate::port::{PortCtl, PortId};
use crate::wire::{EtherType, MacAddr};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The backend's kind, as `ctl interfaces` shows it.
pub const KIND: &str = "mem";

/// What a generating memory port receives: `count` frames cycling through `templates`, paced
/// at `pps` frames per second (0: unpaced), while its ether node steers frames to the graph.
#[derive(Debug, Clone)]
pub struct MemGen {
    pub templates: Vec<Vec<u8>>,
    pub count: u64,
    pub pps: u64,
}

impl MemGen {
    /// Two 64-byte IPv4 frames, between hosts [`mac`]`(1)` and [`mac`]`(2)` both ways.
    pub fn two_hosts(count: u64, pps: u64) -> MemGen {
        MemGen {
            templates: vec![eth(2, 1), eth(1, 2)],
            count,
            pps,
        }
    }
}

/// A memory port's definition.
struct Def {
    ifindex: u32,
    mac: MacAddr,
    gen: Option<MemGen>,
}

/// The in-memory ports of a data plane.
#[derive(Default)]
pub struct MemBackend {
    defs: BTreeMap<String, Def>,
}

impl MemBackend {
    /// Defines port `name` (attached next by the data plane).
    pub fn define(&mut self, name: &str, mac: MacAddr, gen: Option<MemGen>) {
        let ifindex = 1000 + self.defs.len() as u32;
        let ifindex = self.defs.get(name).map_or(ifindex, |d| d.ifindex);
        self.defs.insert(name.into(), Def { ifindex, mac, gen });
    }
}

impl Backend for MemBackend {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn claims(&self, name: &str) -> Claim {
        if self.defs.contains_key(name) {
            Claim::Yes
        } else {
            Claim::No
        }
    }

    fn attach(&mut self, req: &AttachRequest<'_>) -> Result<Box<dyn Interface>, DataplaneError> {
        let d = self
            .defs
            .get(req.name)
            .ok_or_else(|| DataplaneError::NotAttached(format!("memory port {}", req.name)))?;
        Ok(Box::new(MemIface {
            ctl: Arc::new(MemPortCtl::new(req.name, d.ifindex, d.mac)),
            gen: d.gen.clone(),
        }))
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// An attached memory port.
pub struct MemIface {
    ctl: Arc<MemPortCtl>,
    gen: Option<MemGen>,
}

impl MemIface {
    pub fn ctl(&self) -> &Arc<MemPortCtl> {
        &self.ctl
    }
}

impl Interface for MemIface {
    fn ctl(&self) -> Arc<dyn PortCtl> {
        self.ctl.clone()
    }

    fn describe(&self) -> IfaceDesc {
        IfaceDesc {
            name: self.ctl.ifname(),
            port: 0,
            kind: KIND,
            mode: "-".into(),
            queues: 0,
            up: true,
        }
    }

    /// Worker 0 generates (with a [`MemGen`]); the others only transmit (counted, freed).
    fn worker_port(&mut self, worker: usize, port: PortId) -> Result<PortMaker, DataplaneError> {
        let p = match (&self.gen, worker) {
            (Some(g), 0) => MemPort::generator(port, g.templates.clone(), g.count)
                .paced(g.pps)
                .tied(&self.ctl),
            _ => MemPort::sink(port).tied(&self.ctl),
        };
        Ok(Box::new(move |_: &mut WorkerCx<'_>| {
            Ok(WorkerPort::new(Box::new(p)))
        }))
    }

    fn driver_stats(&self) -> Vec<DriverStats> {
        vec![DriverStats {
            queue: None,
            counters: self.ctl.counters(),
        }]
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// 02:00:00:00:xx:xx.
pub fn mac(n: u64) -> MacAddr {
    MacAddr::from_u64(0x0200_0000_0000 | n)
}

/// An Ethernet frame of `len` bytes (at least 14) from `src` to `dst` with EtherType `etype`;
/// the payload bytes count up from `seq`.
pub fn frame(dst: MacAddr, src: MacAddr, etype: u16, len: usize, seq: u8) -> Vec<u8> {
    let mut f = Vec::with_capacity(len.max(14));
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&etype.to_be_bytes());
    let mut b = seq;
    while f.len() < len.max(14) {
        f.push(b);
        b = b.wrapping_add(1);
    }
    f
}

/// A 64-byte IPv4 frame from host `s` to host `d` (MACs from [`mac`]).
pub fn eth(d: u64, s: u64) -> Vec<u8> {
    frame(mac(d), mac(s), EtherType::IPV4, 64, 0)
}
