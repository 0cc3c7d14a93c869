//! In-memory ports for tests, benchmarks and demos.
//!
//! A [`MemPort`] receives from a queue of byte vectors, or from a generator that replays
//! templates forever (a benchmark source that costs about what a NIC's DMA costs: one 64-byte
//! copy per frame). It transmits into a capture list, or only counts (a benchmark sink).
//! [`MemPortCtl`] keeps the interface settings in memory.

use crate::buf::{Burst, Pool};
use crate::port::{Port, PortCtl, PortId};
use crate::wire::MacAddr;
use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// An in-memory queue of a port.
pub struct MemPort {
    id: PortId,
    /// Frames waiting to be received.
    pub rx: VecDeque<Vec<u8>>,
    /// Frames the host stack sends (for `upper`).
    pub host_rx: VecDeque<Vec<u8>>,
    templates: Vec<Vec<u8>>,
    next_template: usize,
    /// Frames left to generate (`u64::MAX`: forever).
    generate: u64,
    capture: bool,
    /// Frames transmitted, when capturing.
    pub tx: Vec<Vec<u8>>,
    /// Frames delivered to the host stack, when capturing.
    pub host_tx: Vec<Vec<u8>>,
    pub tx_frames: u64,
    pub tx_octets: u64,
    pub host_tx_frames: u64,
    /// Accept at most this many frames per `tx_burst` (to simulate a full ring).
    pub tx_limit: usize,
    /// Accept no frames for the host (no host path).
    pub host_refuse: bool,
    /// Generator pacing: frames per second (0: as fast as polled).
    pps: u64,
    start: Option<std::time::Instant>,
    generated: u64,
    /// Generate only while this is set (the interface's steering flag: a NIC's frames reach
    /// the graph only while `lower` is connected).
    gate: Option<Arc<AtomicBool>>,
    /// Interface counters shared with the [`MemPortCtl`], added to once per burst.
    shared: Option<Arc<MemCounters>>,
}

impl MemPort {
    /// A capturing port fed from `rx`.
    pub fn new(id: PortId) -> MemPort {
        MemPort {
            id,
            rx: VecDeque::new(),
            host_rx: VecDeque::new(),
            templates: Vec::new(),
            next_template: 0,
            generate: 0,
            capture: true,
            tx: Vec::new(),
            host_tx: Vec::new(),
            tx_frames: 0,
            tx_octets: 0,
            host_tx_frames: 0,
            tx_limit: usize::MAX,
            host_refuse: false,
            pps: 0,
            start: None,
            generated: 0,
            gate: None,
            shared: None,
        }
    }

    /// Ties the port to its interface settings: the generator runs only while the ether
    /// node steers frames to the graph, and received/transmitted counts show in `getstats`.
    pub fn tied(mut self, ctl: &MemPortCtl) -> MemPort {
        self.gate = Some(ctl.steering.clone());
        self.shared = Some(ctl.counters.clone());
        self
    }

    /// Paces the generator at `pps` frames per second (0: unpaced).
    pub fn paced(mut self, pps: u64) -> MemPort {
        self.pps = pps;
        self
    }

    /// A benchmark port: receives `count` frames cycling through `templates`, counts what it
    /// transmits without keeping it.
    pub fn generator(id: PortId, templates: Vec<Vec<u8>>, count: u64) -> MemPort {
        MemPort {
            templates,
            generate: count,
            capture: false,
            ..MemPort::new(id)
        }
    }

    /// A counting sink (transmits nothing anywhere).
    pub fn sink(id: PortId) -> MemPort {
        MemPort {
            capture: false,
            ..MemPort::new(id)
        }
    }

    /// Takes the captured transmitted frames.
    pub fn take_tx(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.tx)
    }
    pub fn take_host_tx(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.host_tx)
    }
}

impl Port for MemPort {
    fn id(&self) -> PortId {
        self.id
    }

    fn rx_burst(&mut self, pool: &mut Pool, out: &mut Burst) {
        let mut budget = usize::MAX;
        let gated = matches!(&self.gate, Some(g) if !g.load(Ordering::Relaxed));
        if self.generate > 0 && gated {
            budget = 0;
            // pacing restarts from now when the gate opens
            self.start = None;
            self.generated = 0;
        } else if self.pps > 0 && self.generate > 0 {
            let start = *self.start.get_or_insert_with(std::time::Instant::now);
            let due = (start.elapsed().as_secs_f64() * self.pps as f64) as u64;
            budget = due
                .saturating_sub(self.generated)
                .min(crate::buf::BURST as u64) as usize;
        }
        let before = out.len();
        while !out.is_full() && out.len() - before < budget {
            if let Some(b) = self.rx.pop_front() {
                match pool.frame_from(&b) {
                    Ok(f) => {
                        let _ = out.push(f);
                    }
                    Err(_) => {
                        self.rx.push_front(b);
                        break;
                    }
                }
            } else if self.generate > 0 && !self.templates.is_empty() {
                let t = &self.templates[self.next_template];
                match pool.frame_from(t) {
                    Ok(f) => {
                        let _ = out.push(f);
                        self.generate -= 1;
                        self.generated += 1;
                        self.next_template = (self.next_template + 1) % self.templates.len();
                    }
                    Err(_) => break,
                }
            } else {
                break;
            }
        }
        if let Some(c) = &self.shared {
            c.rx_frames
                .fetch_add((out.len() - before) as u64, Ordering::Relaxed);
        }
    }

    fn tx_burst(&mut self, pool: &mut Pool, frames: &mut Burst) {
        let take = frames.len().min(self.tx_limit);
        for f in &frames.as_slice()[..take] {
            self.tx_frames += 1;
            self.tx_octets += f.len as u64;
            if self.capture {
                self.tx.push(pool.to_vec(f));
            }
            pool.free(*f);
        }
        frames.consume_front(take);
        if let Some(c) = &self.shared {
            c.tx_frames.fetch_add(take as u64, Ordering::Relaxed);
        }
    }

    fn host_rx_burst(&mut self, pool: &mut Pool, out: &mut Burst) {
        while !out.is_full() {
            let Some(b) = self.host_rx.pop_front() else {
                break;
            };
            match pool.frame_from(&b) {
                Ok(f) => {
                    let _ = out.push(f);
                }
                Err(_) => {
                    self.host_rx.push_front(b);
                    break;
                }
            }
        }
    }

    fn host_tx_burst(&mut self, pool: &mut Pool, frames: &mut Burst) {
        if self.host_refuse {
            return;
        }
        for f in frames.drain() {
            self.host_tx_frames += 1;
            if self.capture {
                self.host_tx.push(pool.to_vec(&f));
            }
            pool.free(f);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Interface counters of an in-memory port (what a NIC's `ethtool -S` would give).
#[derive(Default)]
pub struct MemCounters {
    pub rx_frames: AtomicU64,
    pub tx_frames: AtomicU64,
}

/// In-memory interface settings.
pub struct MemPortCtl {
    name: String,
    ifindex: u32,
    mac: Mutex<MacAddr>,
    promisc: AtomicBool,
    multi: Mutex<Vec<MacAddr>>,
    /// Whether frames are steered to the graph (set by the ether node).
    pub steering: Arc<AtomicBool>,
    /// Frames the port's queues received and transmitted.
    pub counters: Arc<MemCounters>,
    pub up: AtomicBool,
    pub steer_changes: AtomicU64,
}

impl MemPortCtl {
    pub fn new(name: &str, ifindex: u32, mac: MacAddr) -> MemPortCtl {
        MemPortCtl {
            name: name.to_string(),
            ifindex,
            mac: Mutex::new(mac),
            promisc: AtomicBool::new(false),
            multi: Mutex::new(Vec::new()),
            steering: Arc::new(AtomicBool::new(false)),
            counters: Arc::default(),
            up: AtomicBool::new(true),
            steer_changes: AtomicU64::new(0),
        }
    }
    pub fn multicast(&self) -> Vec<MacAddr> {
        self.multi.lock().unwrap().clone()
    }
}

impl PortCtl for MemPortCtl {
    fn ifname(&self) -> String {
        self.name.clone()
    }
    fn ifindex(&self) -> u32 {
        self.ifindex
    }
    fn mac(&self) -> MacAddr {
        *self.mac.lock().unwrap()
    }
    fn set_mac(&self, mac: MacAddr) -> io::Result<()> {
        if mac.is_multicast() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "multicast address",
            ));
        }
        *self.mac.lock().unwrap() = mac;
        Ok(())
    }
    fn promisc(&self) -> bool {
        self.promisc.load(Ordering::Relaxed)
    }
    fn set_promisc(&self, on: bool) -> io::Result<()> {
        self.promisc.store(on, Ordering::Relaxed);
        Ok(())
    }
    fn add_multi(&self, mac: MacAddr) -> io::Result<()> {
        let mut m = self.multi.lock().unwrap();
        if !m.contains(&mac) {
            m.push(mac);
        }
        Ok(())
    }
    fn del_multi(&self, mac: MacAddr) -> io::Result<()> {
        let mut m = self.multi.lock().unwrap();
        let before = m.len();
        m.retain(|x| *x != mac);
        if m.len() == before {
            return Err(io::Error::new(io::ErrorKind::NotFound, "not a member"));
        }
        Ok(())
    }
    fn set_steering(&self, to_graph: bool) -> io::Result<()> {
        self.steering.store(to_graph, Ordering::Relaxed);
        self.steer_changes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "rx_packets",
                self.counters.rx_frames.load(Ordering::Relaxed),
            ),
            (
                "tx_packets",
                self.counters.tx_frames.load(Ordering::Relaxed),
            ),
        ]
    }
}
