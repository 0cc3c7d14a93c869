//! The XDP fast path for learned bridge flows: known unicast between two interfaces whose
//! ether nodes' `lower` hooks are bridge links is forwarded by the XDP program itself (a
//! devmap redirect), without the workers.
//!
//! * [`FastPathMaps`]: the shared maps of `bpf/fastpath.h`, loaded once per daemon with the
//!   tracepoint programs of `bpf/fastpath.bpf.c` (which count the frames the kernel refuses
//!   after a redirect); every interface's copy of the XDP program reuses them.
//! * [`FastPath`]: the management thread's side. [`FastPath::sync`] makes the maps say what
//!   the graph's [`FastPathPlan`] says (the links, the hosts the bridges learned on them),
//!   removing what no longer holds before adding; it runs after every ctl command, before the
//!   command's answer, and on every tick (so a host the bridge has learned takes the fast path
//!   within a tick). [`FastPath::flush`] adds what the fast path forwarded to the hooks'
//!   counters; [`FastPath::seen`] hands the bridges the hosts the fast path saw, for ageing.
//!
//! The XDP program forwards a frame only if its source is a host learned on the ingress link
//! and its destination a host learned on another fast-path link of the same bridge; a source
//! found on another link has its entry marked moved by the program and goes to the worker, whose
//! bridge then decides (a move, or a loop). See docs/FASTPATH.md.

use super::iface::IfaceCtl;
use super::AfxdpError;
use crate::graph::offload::{fast_path_counted, FastPathPlan, PlanHost, PlanLink};
use crate::graph::{Graph, NodeId};
use crate::port::{PortCtl, PortId};
use libbpf_rs::{Link, Map, MapCore, MapFlags, Object, ObjectBuilder, OpenObject};
use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The compiled maps and tracepoint programs (build.rs).
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fastpath.bpf.o"));

/// The maps every copy of the XDP program shares (`bpf/fastpath.h`).
const SHARED: [&str; 5] = ["fp_port", "fp_hosts", "fp_tx", "fp_count", "fp_slot"];

/// `struct fp_port` flag: frames may be redirected to this slot.
const FP_EGRESS: u8 = 2;
/// Slots in fp_port / fp_tx / fp_count (`FP_MAX_PORTS`).
const MAX_SLOTS: u32 = 1024;
/// Buckets in fp_hosts (`FP_BUCKETS`), and hosts per bucket (`FP_WAYS`).
const BUCKETS: usize = 65536;
const WAYS: usize = 4;
/// Bytes of `struct fp_host` and `struct fp_bucket`.
const HOST_SIZE: usize = 32;
/// The syscall program that writes a host entry.
const WRITER: &str = "fp_host_write";

/// How often whether an interface can take redirected frames is looked at again.
const TARGET_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// The fast path's maps and its tracepoint programs, attached while this lives.
pub struct FastPathMaps {
    obj: Object,
    _links: Vec<Link>,
    /// fp_host_write (run with BPF_PROG_RUN).
    writer: std::os::fd::OwnedFd,
    /// The hash key (`fp_hash` in every XDP object: k1, k2; k2 odd).
    key: [u64; 2],
}

/// A BPF error of the fast path's own object (no interface).
fn bpf(what: &str) -> impl FnOnce(libbpf_rs::Error) -> AfxdpError {
    super::program::bpf_err("fast path", what)
}

impl FastPathMaps {
    /// Loads the maps and attaches the tracepoint programs (tp_btf: `xdp_devmap_xmit`,
    /// `xdp_redirect_err`; no tracefs needed). Without them the fast path's drops could not be named, so a
    /// failure here means no fast path.
    pub fn load() -> Result<FastPathMaps, AfxdpError> {
        let obj = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(bpf("opening the fast path object"))?
            .load()
            .map_err(bpf("loading the fast path's maps and tracepoint programs"))?;
        let mut links = Vec::new();
        let mut writer = None;
        for p in obj.progs_mut() {
            if p.name() == WRITER {
                let fd = p.as_fd().try_clone_to_owned();
                writer = Some(fd.map_err(|e| AfxdpError::Bpf {
                    ifname: "fast path".into(),
                    what: "duplicating the host writer's descriptor".into(),
                    err: e.to_string(),
                })?);
                continue;
            }
            links.push(p.attach().map_err(bpf("attaching a tracepoint program"))?);
        }
        let writer = writer.expect("fp_host_write in the fast path object");
        let [k1, k2] = crate::sys::random::u64s::<2>();
        Ok(FastPathMaps {
            obj,
            _links: links,
            writer,
            key: [k1, k2 | 1],
        })
    }

    fn map(&self, name: &str) -> Map<'_> {
        self.obj
            .maps()
            .find(|m| m.name() == name)
            .expect("map in the fast path object")
    }

    /// Makes an XDP object's copies of the shared maps these, and its hash key this one's,
    /// before it is loaded.
    pub fn reuse_in(&self, open: &mut OpenObject) -> Result<(), libbpf_rs::Error> {
        for mut m in open.maps_mut() {
            let name = m.name().to_string_lossy().into_owned();
            if SHARED.contains(&name.as_str()) {
                m.reuse_fd(self.map(&name).as_fd())?;
            } else if name.ends_with(".rodata") {
                // fp_hash {k1, k2}: the object's only read-only data
                let v = m
                    .initial_value_mut()
                    .filter(|v| v.len() >= 16)
                    .ok_or_else(|| {
                        libbpf_rs::Error::from(std::io::Error::other("no fast path hash key"))
                    })?;
                v[0..8].copy_from_slice(&self.key[0].to_ne_bytes());
                v[8..16].copy_from_slice(&self.key[1].to_ne_bytes());
            }
        }
        Ok(())
    }

    /// The bucket of (bridge, MAC) (`fp_bucket_of` in bpf/xdpgraph.bpf.c); `mac` as the graph
    /// keeps it (the 6 bytes big-endian in the low 48 bits).
    pub fn bucket_of(&self, bridge: u32, mac: u64) -> usize {
        let x = (mac48(mac) ^ ((bridge as u64) << 48) ^ self.key[0]).wrapping_mul(self.key[1]);
        (x >> 48) as usize & (BUCKETS - 1)
    }

    /// Writes way `way` of bucket `bucket` (an empty entry: `None`) through fp_host_write.
    fn write_way(
        &self,
        bucket: usize,
        way: usize,
        h: Option<&HostWrite>,
    ) -> Result<(), AfxdpError> {
        let mut ctx = [0u8; 8 + HOST_SIZE];
        ctx[0..4].copy_from_slice(&(bucket as u32).to_ne_bytes());
        ctx[4..8].copy_from_slice(&(way as u32).to_ne_bytes());
        if let Some(h) = h {
            let e = &mut ctx[8..];
            e[4..8].copy_from_slice(&h.bridge.to_ne_bytes());
            e[8..14].copy_from_slice(&h.mac);
            e[14] = 1;
            e[16..20].copy_from_slice(&h.link.to_ne_bytes());
            e[20..24].copy_from_slice(&h.slot.to_ne_bytes());
        }
        let err = |e: String| AfxdpError::Bpf {
            ifname: "fast path".into(),
            what: "writing a host (BPF_PROG_RUN fp_host_write)".into(),
            err: e,
        };
        match crate::sys::bpf::run_syscall_prog(self.writer.as_fd(), &mut ctx) {
            Ok(0) => Ok(()),
            Ok(r) => Err(err(format!("returned {r}"))),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Bucket `bucket` of fp_hosts (`WAYS * HOST_SIZE` bytes).
    fn read_bucket(&self, bucket: usize) -> Option<Vec<u8>> {
        let key = (bucket as u32).to_ne_bytes();
        let v = self.map("fp_hosts").lookup(&key, MapFlags::ANY).ok()??;
        (v.len() >= WAYS * HOST_SIZE).then_some(v)
    }
}

/// A MAC as the graph keeps it (big-endian in the low 48 bits) as the XDP program reads it
/// (its 6 bytes little-endian).
fn mac48(mac: u64) -> u64 {
    let b = mac.to_be_bytes();
    u64::from_le_bytes([b[2], b[3], b[4], b[5], b[6], b[7], 0, 0])
}

/// What way `way` of a bucket read with [`FastPathMaps::read_bucket`] holds: the host's
/// `seen` stamp while it is (bridge, mac)'s live entry; `None` once the program has marked it
/// moved (or it is another host's, or empty).
fn way_seen(bucket: &[u8], way: usize, bridge: u32, mac: u64) -> Option<u64> {
    let e = &bucket[way * HOST_SIZE..(way + 1) * HOST_SIZE];
    let word = u64::from_le_bytes(e[8..16].try_into().unwrap());
    let live = mac48(mac) | 1 << 48;
    (u32::from_ne_bytes(e[4..8].try_into().unwrap()) == bridge && word == live)
        .then(|| u64::from_ne_bytes(e[24..32].try_into().unwrap()))
}

/// A host entry to write into the fast path's host table (bench and test helper; the daemon
/// writes through [`FastPath::sync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostWrite {
    pub bridge: u32,
    pub mac: [u8; 6],
    pub link: u32,
    pub slot: u32,
}

impl HostWrite {
    pub fn new(bridge: u32, mac: [u8; 6], link: u32, slot: u32) -> HostWrite {
        HostWrite {
            bridge,
            mac,
            link,
            slot,
        }
    }

    fn mac_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        b[2..8].copy_from_slice(&self.mac);
        u64::from_be_bytes(b)
    }
}

impl FastPathMaps {
    /// Writes one host entry into an empty way of its bucket (bench/xdp_prog.rs; the daemon
    /// writes through [`FastPath::sync`]).
    pub fn write_host(&self, h: &HostWrite) -> Result<(), AfxdpError> {
        let bucket = self.bucket_of(h.bridge, h.mac_u64());
        let b = self.read_bucket(bucket).unwrap_or_default();
        let way = (0..WAYS)
            .find(|w| b.get(w * HOST_SIZE + 14) == Some(&0))
            .ok_or_else(|| AfxdpError::Bpf {
                ifname: "fast path".into(),
                what: "writing a host".into(),
                err: "bucket full".into(),
            })?;
        self.write_way(bucket, way, Some(h))
    }

    /// Makes `slot` a fast-path port of `bridge`'s link `link` on interface `ifindex`, a
    /// redirect target, without autosrc (bench/xdp_prog.rs).
    pub fn bench_port(
        &self,
        slot: u32,
        ifindex: u32,
        bridge: u32,
        link: u32,
    ) -> Result<(), AfxdpError> {
        let e = PortEntry {
            bridge,
            link,
            mac: [0; 6],
            autosrc: false,
            flags: FP_EGRESS,
        };
        let (key, idx) = (slot.to_ne_bytes(), ifindex.to_ne_bytes());
        (self.map("fp_tx").update(&key, &idx, MapFlags::ANY))
            .and_then(|_| (self.map("fp_port")).update(&key, &e.bytes(ifindex), MapFlags::ANY))
            .map_err(bpf("writing a port"))
    }

    /// A `steer` value (`struct steer`): steering on, the fast path for (bridge, link, slot)
    /// when `fast` (bench/xdp_prog.rs).
    pub fn bench_steer(&self, fast: bool, bridge: u32, link: u32, slot: u32) -> Vec<u8> {
        let v: [u32; 4] = if fast {
            [1 | 2, bridge, link, slot]
        } else {
            [1, 0, 0, 0]
        };
        v.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }
}

/// `struct fp_port` (without its ifindex, which is the key of [`FastPath::ports`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PortEntry {
    bridge: u32,
    link: u32,
    mac: [u8; 6],
    autosrc: bool,
    flags: u8,
}

impl PortEntry {
    fn bytes(&self, ifindex: u32) -> [u8; 20] {
        let mut v = [0u8; 20];
        v[0..4].copy_from_slice(&ifindex.to_ne_bytes());
        v[4..8].copy_from_slice(&self.bridge.to_ne_bytes());
        v[8..12].copy_from_slice(&self.link.to_ne_bytes());
        v[12..18].copy_from_slice(&self.mac);
        v[18] = self.autosrc as u8;
        v[19] = self.flags;
        v
    }
}

/// `struct fp_count`, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub rx_frames: u64,
    pub rx_octets: u64,
    pub tx_frames: u64,
    pub tx_octets: u64,
    /// Refused with an error (no NAPI at a veth's peer, down...).
    pub tx_refused: u64,
    /// Dropped without one: the target's ring was full.
    pub tx_ring_full: u64,
}

impl Counts {
    fn read(m: &Map<'_>, slot: u32) -> Counts {
        let Ok(Some(cpus)) = m.lookup_percpu(&slot.to_ne_bytes(), MapFlags::ANY) else {
            return Counts::default();
        };
        let mut c = Counts::default();
        for v in cpus {
            let f = |i: usize| u64::from_ne_bytes(v[i * 8..i * 8 + 8].try_into().unwrap());
            c.rx_frames += f(0);
            c.rx_octets += f(1);
            c.tx_frames += f(2);
            c.tx_octets += f(3);
            c.tx_refused += f(4);
            c.tx_ring_full += f(5);
        }
        c
    }

    fn since(&self, o: &Counts) -> Counts {
        Counts {
            rx_frames: self.rx_frames.wrapping_sub(o.rx_frames),
            rx_octets: self.rx_octets.wrapping_sub(o.rx_octets),
            tx_frames: self.tx_frames.wrapping_sub(o.tx_frames),
            tx_octets: self.tx_octets.wrapping_sub(o.tx_octets),
            tx_refused: self.tx_refused.wrapping_sub(o.tx_refused),
            tx_ring_full: self.tx_ring_full.wrapping_sub(o.tx_ring_full),
        }
    }
}

/// An interface the fast path uses now.
struct Installed {
    slot: u32,
    entry: PortEntry,
    link: PlanLink,
    ctl: Arc<IfaceCtl>,
    /// Its counters when last added to the hooks.
    counted: Counts,
}

/// A host entry the fast path has now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HostEntry {
    link: u32,
    /// Its interface.
    ifindex: u32,
    /// Its `seen` when last read.
    seen: u64,
    /// Where it is in fp_hosts.
    bucket: usize,
    way: usize,
}

/// An attached AF_XDP interface, as the fast path sees it.
pub struct FastPort {
    pub port: PortId,
    pub ctl: Arc<IfaceCtl>,
}

/// The management thread's side of the fast path.
pub struct FastPath {
    maps: Arc<FastPathMaps>,
    ports: HashMap<u32, Installed>,
    hosts: HashMap<(NodeId, u64), HostEntry>,
    /// Per fp_hosts bucket, the ways in use (bit i: way i).
    ways: Vec<u8>,
    /// Interfaces that refused redirected frames: no longer redirect targets (see `flush`).
    refused: HashSet<u32>,
    /// Slots not in use.
    free: Vec<u32>,
    /// Per interface, whether redirected frames can be delivered to it (`sys::veth`: a veth
    /// needs NAPI at its peer), and when that was last looked at.
    targets: HashMap<u32, (Option<bool>, std::time::Instant)>,
    /// The host map was full once (logged once).
    full: bool,
}

impl FastPath {
    pub fn new(maps: Arc<FastPathMaps>) -> FastPath {
        FastPath {
            maps,
            ports: HashMap::new(),
            hosts: HashMap::new(),
            ways: vec![0; BUCKETS],
            refused: HashSet::new(),
            free: (0..MAX_SLOTS).rev().collect(),
            targets: HashMap::new(),
            full: false,
        }
    }

    /// The interfaces that take part now (ifindex, name, whether frames are redirected to it).
    pub fn active(&self) -> Vec<(u32, String, bool)> {
        let mut v: Vec<_> = (self.ports.iter())
            .map(|(i, p)| (*i, p.ctl.ifname(), p.entry.flags & FP_EGRESS != 0))
            .collect();
        v.sort();
        v
    }

    /// Makes the maps say what `plan` says, for the interfaces in `ports` (the attached AF_XDP
    /// ones); what no longer holds goes first. Counters are flushed first, to the hooks of the
    /// links as they were.
    pub fn sync(&mut self, plan: &FastPathPlan, ports: &[FastPort]) {
        self.flush();
        let want = self.wanted_ports(plan, ports);
        let gone: Vec<u32> = (self.ports.iter())
            .filter(|(i, p)| {
                want.get(i)
                    .is_none_or(|(e, l, _)| *e != p.entry || !same_link(l, &p.link))
            })
            .map(|(i, _)| *i)
            .collect();
        for i in gone {
            self.remove_port(i);
        }
        for (ifindex, (entry, link, ctl)) in &want {
            if !self.ports.contains_key(ifindex) {
                self.add_port(*ifindex, *entry, link.clone(), Arc::clone(ctl));
            }
        }
        self.sync_hosts(plan, &want);
    }

    /// Whether frames redirected to the interface can be delivered: looked at when it first
    /// takes part and every [`TARGET_RECHECK`] after (not on every sync: it may enter the
    /// peer's namespace). Unknown counts as yes: refusals are then caught by the tracepoints.
    /// A target that refused frames is a target again once it has been seen without NAPI and
    /// then with it (a refusal of another cause keeps it out until it is detached).
    fn deliverable(&mut self, ifindex: u32, ctl: &IfaceCtl) -> bool {
        let now = std::time::Instant::now();
        let fresh = (self.targets.get(&ifindex))
            .filter(|(_, at)| now.duration_since(*at) < TARGET_RECHECK)
            .map(|(ok, _)| *ok);
        let ok = match fresh {
            Some(ok) => ok,
            None => {
                let name = ctl_name(ctl);
                let t = crate::sys::veth::redirect_target(&name);
                let ok = t.deliverable();
                let was = self.targets.insert(ifindex, (ok, now)).and_then(|x| x.0);
                if ok == Some(false) && was != Some(false) {
                    tracing::info!(ifname = %name, "fast path: frames to this interface go through the workers: {t:?}");
                }
                // refused, then seen without NAPI, now with it: the cause is gone (a refusal
                // of another cause keeps the port out: no flapping)
                if ok == Some(true) && was == Some(false) && self.refused.remove(&ifindex) {
                    tracing::info!(ifname = %name, "fast path: this interface takes redirected frames again");
                }
                ok
            }
        };
        ok != Some(false)
    }

    /// The port entries `plan` asks for, by ifindex.
    fn wanted_ports(
        &mut self,
        plan: &FastPathPlan,
        ports: &[FastPort],
    ) -> HashMap<u32, (PortEntry, PlanLink, Arc<IfaceCtl>)> {
        let mut want = HashMap::new();
        for l in &plan.links {
            let Some(p) = ports.iter().find(|p| p.port == l.port) else {
                continue;
            };
            if !p.ctl.is_up() {
                continue;
            }
            let ifindex = p.ctl.ifindex();
            // first: a target found deliverable again leaves `refused`
            let deliverable = self.deliverable(ifindex, &p.ctl);
            let egress = deliverable && !self.refused.contains(&ifindex);
            let entry = PortEntry {
                bridge: l.bridge,
                link: l.link_id,
                mac: l.autosrc.map_or([0; 6], |m| m.0),
                autosrc: l.autosrc.is_some(),
                flags: if egress { FP_EGRESS } else { 0 },
            };
            want.insert(ifindex, (entry, l.clone(), Arc::clone(&p.ctl)));
        }
        want
    }

    /// Host entries: removed when the plan no longer has them (or has them elsewhere), then
    /// added.
    fn sync_hosts(
        &mut self,
        plan: &FastPathPlan,
        want: &HashMap<u32, (PortEntry, PlanLink, Arc<IfaceCtl>)>,
    ) {
        let ifindex_of: HashMap<(NodeId, u32), u32> = (want.iter())
            .map(|(i, (e, _, _))| ((e.bridge, e.link), *i))
            .collect();
        let wanted: HashMap<(NodeId, u64), (u32, u32)> = (plan.hosts.iter())
            .filter_map(|h: &PlanHost| {
                let i = *ifindex_of.get(&(h.bridge, h.link_id))?;
                Some(((h.bridge, h.mac), (h.link_id, i)))
            })
            .collect();
        let (maps, ways) = (&self.maps, &mut self.ways);
        self.hosts.retain(|k, e| {
            let keep = wanted.get(k) == Some(&(e.link, e.ifindex));
            if !keep {
                clear_way(maps, ways, e);
            }
            keep
        });
        for (k, (link, ifindex)) in wanted {
            if self.hosts.contains_key(&k) {
                continue;
            }
            let Some(slot) = self.ports.get(&ifindex).map(|p| p.slot) else {
                continue;
            };
            let bucket = self.maps.bucket_of(k.0, k.1);
            let Some(way) = (0..WAYS).find(|w| self.ways[bucket] & (1 << w) == 0) else {
                if !self.full {
                    self.full = true;
                    tracing::warn!(
                        "fast path: a host table bucket is full ({WAYS} hosts); hosts that \
                         hash to a full bucket go through the workers"
                    );
                }
                continue;
            };
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&k.1.to_be_bytes()[2..8]);
            let w = HostWrite::new(k.0, mac, link, slot);
            match self.maps.write_way(bucket, way, Some(&w)) {
                Ok(()) => {
                    self.ways[bucket] |= 1 << way;
                    let e = HostEntry {
                        link,
                        ifindex,
                        seen: 0,
                        bucket,
                        way,
                    };
                    self.hosts.insert(k, e);
                }
                Err(e) => tracing::warn!("fast path: {e}; the host goes through the workers"),
            }
        }
    }

    fn add_port(&mut self, ifindex: u32, entry: PortEntry, link: PlanLink, ctl: Arc<IfaceCtl>) {
        let Some(slot) = self.free.pop() else {
            tracing::warn!(ifname = %ctl_name(&ctl), "fast path: no free slot (at most {MAX_SLOTS} interfaces)");
            return;
        };
        let (key, idx) = (slot.to_ne_bytes(), ifindex.to_ne_bytes());
        let ncpu = libbpf_rs::num_possible_cpus().unwrap_or(1);
        let zero = vec![vec![0u8; 48]; ncpu];
        // counters zeroed, the redirect target, then the port: the program redirects to a
        // slot only once its fp_port entry says so
        let r = (self
            .maps
            .map("fp_count")
            .update_percpu(&key, &zero, MapFlags::ANY))
        .and_then(|_| self.maps.map("fp_slot").update(&idx, &key, MapFlags::ANY))
        .and_then(|_| self.maps.map("fp_tx").update(&key, &idx, MapFlags::ANY))
        .and_then(|_| {
            (self.maps.map("fp_port")).update(&key, &entry.bytes(ifindex), MapFlags::ANY)
        });
        let ingress = super::FastIngress {
            bridge: entry.bridge,
            link: entry.link,
            slot,
        };
        let r = r
            .map_err(|e| e.to_string())
            .and_then(|_| (ctl.program().set_fast_path(Some(ingress))).map_err(|e| e.to_string()));
        if let Err(e) = r {
            tracing::warn!(ifname = %ctl_name(&ctl), "fast path: cannot add the interface: {e}");
            self.clear_slot(slot, ifindex);
            return;
        }
        tracing::info!(ifname = %ctl_name(&ctl), bridge = entry.bridge, egress = entry.flags & FP_EGRESS != 0, "fast path on for this interface");
        self.ports.insert(
            ifindex,
            Installed {
                slot,
                entry,
                link,
                ctl,
                counted: Counts::default(),
            },
        );
    }

    /// Takes an interface out: no frame from it or to it takes the fast path once this
    /// returns (the hosts behind it go too).
    fn remove_port(&mut self, ifindex: u32) {
        self.flush_one(ifindex);
        let Some(p) = self.ports.remove(&ifindex) else {
            return;
        };
        let _ = p.ctl.program().set_fast_path(None);
        self.clear_slot(p.slot, ifindex);
        tracing::info!(ifname = %ctl_name(&p.ctl), "fast path off for this interface");
        let (maps, ways) = (&self.maps, &mut self.ways);
        self.hosts.retain(|_, e| {
            let keep = e.ifindex != ifindex;
            if !keep {
                clear_way(maps, ways, e);
            }
            keep
        });
    }

    /// The port first (no redirect to the slot), then its target and index; the slot is free.
    fn clear_slot(&mut self, slot: u32, ifindex: u32) {
        let key = slot.to_ne_bytes();
        let _ = (self.maps.map("fp_port")).update(&key, &[0u8; 20], MapFlags::ANY);
        let _ = self.maps.map("fp_tx").delete(&key);
        let _ = self.maps.map("fp_slot").delete(&ifindex.to_ne_bytes());
        self.free.push(slot);
    }

    /// Takes interface `ifindex` out now (it is being detached).
    pub fn forget(&mut self, ifindex: u32) {
        self.remove_port(ifindex);
        self.refused.remove(&ifindex);
        self.targets.remove(&ifindex);
    }

    /// Adds what the fast path forwarded since the last flush to the hooks' counters (and the
    /// bridges' own), and names what the kernel dropped after a redirect: frames a target
    /// refused with an error (a veth whose peer has neither an XDP program nor GRO refuses
    /// every one) make it no longer a redirect target; frames dropped because its ring was
    /// full (the receiver did not keep up) are named, and the target stays.
    pub fn flush(&mut self) {
        let ifs: Vec<u32> = self.ports.keys().copied().collect();
        for i in ifs {
            self.flush_one(i);
        }
    }

    fn flush_one(&mut self, ifindex: u32) {
        let m = self.maps.map("fp_count");
        let Some(p) = self.ports.get_mut(&ifindex) else {
            return;
        };
        let now = Counts::read(&m, p.slot);
        let d = now.since(&p.counted);
        p.counted = now;
        if d == Counts::default() {
            return;
        }
        fast_path_counted(
            &p.link,
            (d.rx_frames, d.rx_octets),
            (d.tx_frames, d.tx_octets),
        );
        if d.tx_ring_full > 0 {
            // overload, as on any path: named, the target stays
            p.ctl.fast_path_ring_full.fetch_add(d.tx_ring_full, Relaxed);
        }
        if d.tx_refused > 0 {
            p.ctl.fast_path_refused.fetch_add(d.tx_refused, Relaxed);
            if p.entry.flags & FP_EGRESS != 0 {
                self.demote(ifindex);
            }
        }
    }

    /// Stops redirecting to `ifindex` (it refused frames); it stays an ingress.
    fn demote(&mut self, ifindex: u32) {
        let Some(p) = self.ports.get_mut(&ifindex) else {
            return;
        };
        p.entry.flags &= !FP_EGRESS;
        // look at the target again at the next sync (see `deliverable`)
        if let Some(t) = self.targets.get_mut(&ifindex) {
            let now = std::time::Instant::now();
            t.1 = now.checked_sub(TARGET_RECHECK).unwrap_or(now);
        }
        let key = p.slot.to_ne_bytes();
        let _ = (self.maps.map("fp_port")).update(&key, &p.entry.bytes(ifindex), MapFlags::ANY);
        self.refused.insert(ifindex);
        tracing::warn!(
            ifname = %ctl_name(&p.ctl),
            refused = p.ctl.fast_path_refused.load(Relaxed),
            "fast path: the kernel refused frames redirected to this interface (counted as \
             fast_path_refused; a veth whose peer has no XDP program and no GRO refuses every \
             one: ethtool -K PEER gro on); frames to it go through the workers from now on"
        );
    }

    /// Reads which hosts the fast path saw as sources since the last call, and refreshes them
    /// in their bridges (so that a host active only through the fast path does not age out).
    /// Host entries the program marked moved (their host showed up on another link) are forgotten
    /// here, so that the next `sync` adds them again where the bridge then has them.
    pub fn seen(&mut self, graph: &mut Graph) {
        let mut by_bridge: HashMap<NodeId, Vec<u64>> = HashMap::new();
        let mut buckets: HashMap<usize, Option<Vec<u8>>> = HashMap::new();
        let (maps, ways) = (&self.maps, &mut self.ways);
        self.hosts.retain(|k, e| {
            let b = buckets
                .entry(e.bucket)
                .or_insert_with(|| maps.read_bucket(e.bucket));
            match b.as_deref().and_then(|b| way_seen(b, e.way, k.0, k.1)) {
                Some(seen) => {
                    if seen != e.seen {
                        e.seen = seen;
                        by_bridge.entry(k.0).or_default().push(k.1);
                    }
                    true
                }
                None => {
                    // moved (the program marked it): the way is free again
                    clear_way(maps, ways, e);
                    false
                }
            }
        });
        for (b, macs) in by_bridge {
            graph.fast_path_seen(b, &macs);
        }
    }
}

/// Empties a host's way in fp_hosts.
fn clear_way(maps: &FastPathMaps, ways: &mut [u8], e: &HostEntry) {
    let _ = maps.write_way(e.bucket, e.way, None);
    ways[e.bucket] &= !(1 << e.way);
}

fn same_link(a: &PlanLink, b: &PlanLink) -> bool {
    Arc::ptr_eq(&a.bridge_hook, &b.bridge_hook) && Arc::ptr_eq(&a.port_hook, &b.port_hook)
}

fn ctl_name(c: &IfaceCtl) -> String {
    c.ifname()
}

impl Drop for FastPath {
    fn drop(&mut self) {
        let ifs: Vec<u32> = self.ports.keys().copied().collect();
        for i in ifs {
            self.remove_port(i);
        }
    }
}
