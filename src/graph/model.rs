//! The management thread's model of the graph, and the edits it applies.

use super::node::{
    unknown_msg, HookCx, HookRec, HookState, LiveCounts, MsgCx, NodeCore, NodeType, Slot,
};
use super::path::{check_hook_name, check_node_name, Addr, Base};
use super::snapshot::{NodeIx, SnapHook, SnapNode, Snapshot, NO_NODE};
use super::{gstat, Create, GraphError, HookSpec, NodeEnv, NodeId, Registry, TypeInfo, Worker};
use crate::buf::Pool;
use crate::counters::PerWorker;
use crate::epoch::{Epoch, EpochCell};
use crate::port::{PortCtl, PortId};
use crate::value::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Sizing and limits of a graph.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Worker threads the graph will have at most (per-worker counters are sized by this).
    pub workers: usize,
    /// Hops a frame may take before it is dropped as `hop_limit` (bounds cycles).
    pub hop_limit: u16,
    /// Bursts a worker may hold at once (bounds floods in cycles).
    pub max_bursts: usize,
    /// Graph time advances only through [`Graph::set_time`] and [`Graph::set_time_ns`] (for
    /// tests).
    pub manual_clock: bool,
    /// How workers read the topology. [`TopologyMode::RwLock`] exists only as the benchmark
    /// baseline (netgraph's pre-epoch design).
    pub topology: TopologyMode,
}

/// How the published topology is shared with the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopologyMode {
    /// Lock-free: workers pin the epoch once per burst; edits swap in a new snapshot.
    #[default]
    Epoch,
    /// Baseline: workers take a read lock once per burst; an edit is applied under the write
    /// lock (workers wait for it).
    RwLock,
}

/// The published topology.
pub(crate) enum Topo {
    Epoch(EpochCell<Snapshot>),
    Locked(std::sync::RwLock<Snapshot>),
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            workers: 4,
            hop_limit: 64,
            max_bursts: 4096,
            manual_clock: false,
            topology: TopologyMode::Epoch,
        }
    }
}

/// Graph time: real (since creation) or manual, read in whole seconds ([`Clock::now`], for
/// ageing) or in nanoseconds ([`Clock::now_ns`], for rates).
pub struct Clock {
    start: Instant,
    /// Manual time in nanoseconds.
    manual: Option<AtomicU64>,
}

impl Clock {
    /// Whole seconds.
    #[inline]
    pub fn now(&self) -> u32 {
        match &self.manual {
            Some(t) => (t.load(Ordering::Relaxed) / 1_000_000_000) as u32,
            None => self.start.elapsed().as_secs() as u32,
        }
    }
    /// Nanoseconds (a clock read when real: call it once per burst at most).
    #[inline]
    pub fn now_ns(&self) -> u64 {
        match &self.manual {
            Some(t) => t.load(Ordering::Relaxed),
            None => self.start.elapsed().as_nanos() as u64,
        }
    }
}

/// State shared by the management thread and the workers.
pub(crate) struct Shared {
    pub epoch: Epoch,
    pub topo: Topo,
    pub clock: Clock,
    pub cfg: GraphConfig,
    pub stats: PerWorker,
    pub live: Arc<LiveCounts>,
    pub taken: Box<[AtomicBool]>,
    /// Publications so far: a worker holding frames for nodes looks at them again when this
    /// changes (a node or hook may be gone; see `held.rs`).
    pub edits: AtomicU64,
    /// Nodes with a device of their own to read ([`NodeType::input`]) in the published
    /// snapshot: the input worker looks at them only while this is not zero.
    pub inputs: std::sync::atomic::AtomicUsize,
}

/// A cloneable, `Send` handle from which workers are created on their own threads.
#[derive(Clone)]
pub struct GraphHandle(Arc<Shared>);

impl GraphHandle {
    /// Creates worker `id` (0-based, below `GraphConfig::workers`) with its frame pool. Call it
    /// on the thread that will run the worker.
    pub fn worker(&self, id: usize, pool: Pool) -> Result<Worker, GraphError> {
        Worker::new(Arc::clone(&self.0), id, pool)
    }
    /// Graph-wide counter `i` (see [`super::gstat`]), summed over workers.
    pub fn stat(&self, i: usize) -> u64 {
        self.0.stats.lifetime(i)
    }
}

pub(super) struct NodeRec {
    /// Stable index in published snapshots.
    pub(super) ix: NodeIx,
    pub(super) core: Arc<NodeCore>,
    pub(super) name: Option<String>,
    pub(super) hooks: BTreeMap<String, HookRec>,
    pub(super) persistent: bool,
    pub(super) port: Option<PortId>,
}

/// The graph, as the management thread owns it. Every edit is validated, applied to this
/// model, and published to the workers before the call returns.
pub struct Graph {
    pub(super) sh: Arc<Shared>,
    pub(super) nodes: BTreeMap<NodeId, NodeRec>,
    names: HashMap<String, NodeId>,
    next_id: NodeId,
    next_uid: u64,
    ports: Vec<Option<NodeId>>,
    ctl: NodeId,
    version: u64,
    pub(super) types: Registry,
    /// The nodes of the last published snapshot (shared with it).
    published: Vec<Option<Arc<SnapNode>>>,
    /// Nodes whose snapshot entry must be rebuilt at the next publication.
    pub(super) dirty: std::collections::BTreeSet<NodeId>,
    /// Indices of removed nodes, cleared at the next publication and then reusable.
    removed: Vec<NodeIx>,
    free_ix: Vec<NodeIx>,
    /// Captures running, by the unique ID of their hook (`super::capture`).
    pub(super) captures: BTreeMap<u64, Vec<Arc<super::capture::Capture>>>,
    /// Nodes with a device of their own to read (`NodeType::input_fd`).
    inputs: std::collections::BTreeSet<NodeId>,
}

impl Drop for Graph {
    /// Nodes with OS resources of their own let go of them now (eiface's interfaces vanish
    /// with the daemon), not when the last snapshot is reclaimed.
    fn drop(&mut self) {
        for n in self.nodes.values() {
            n.core.imp.shutdown();
        }
    }
}

impl Graph {
    /// A graph that can make the node types of `types` (`crate::nodes::builtin()` for the
    /// built-in ones), with its control node `.` already there.
    pub fn new(cfg: GraphConfig, types: Registry) -> Graph {
        let workers = cfg.workers.max(1);
        let manual = cfg.manual_clock;
        let live = Arc::new(LiveCounts::default());
        let epoch = Epoch::new();
        let sh = Arc::new(Shared {
            topo: match cfg.topology {
                TopologyMode::Epoch => Topo::Epoch(EpochCell::new(&epoch, Snapshot::empty())),
                TopologyMode::RwLock => Topo::Locked(std::sync::RwLock::new(Snapshot::empty())),
            },
            clock: Clock {
                start: Instant::now(),
                manual: manual.then(|| AtomicU64::new(0)),
            },
            stats: PerWorker::new(workers, gstat::COUNT),
            live,
            taken: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            edits: AtomicU64::new(0),
            inputs: Default::default(),
            epoch,
            cfg: GraphConfig { workers, ..cfg },
        });
        let mut g = Graph {
            sh,
            nodes: BTreeMap::new(),
            names: HashMap::new(),
            next_id: 1,
            next_uid: 1,
            ports: Vec::new(),
            ctl: 1,
            version: 0,
            types,
            published: Vec::new(),
            dirty: Default::default(),
            removed: Vec::new(),
            free_ix: Vec::new(),
            captures: BTreeMap::new(),
            inputs: Default::default(),
        };
        let control = g.types.control();
        let imp = control
            .make(&NodeEnv { epoch: &g.sh.epoch })
            .expect("the control type is not per interface")
            .expect("the control node's constructor cannot fail");
        g.ctl = g.add_node(imp, control, None);
        g.publish();
        g
    }

    /// Adds a node type that `mkpeer` (or `attach_port`, for a per-interface type) can make.
    /// Fails with EEXIST if the name is taken.
    pub fn register_type(&mut self, info: &'static TypeInfo) -> Result<(), GraphError> {
        self.types.register(info)
    }

    /// What node constructors get from this graph.
    fn env(&self) -> NodeEnv<'_> {
        NodeEnv {
            epoch: &self.sh.epoch,
        }
    }

    /// The types this graph can make.
    pub fn registry(&self) -> &Registry {
        &self.types
    }

    /// A new node of type `ty` for `mkpeer`.
    fn create(&self, ty: &str) -> Result<(Box<dyn NodeType>, &'static TypeInfo), GraphError> {
        let Some(info) = self.types.get(ty) else {
            let known: Vec<_> = (self.types.iter())
                .filter(|t| t.info.user_creatable())
                .map(|t| t.info.name)
                .collect();
            return Err(GraphError::UnknownType(ty.to_string(), known.join(" ")));
        };
        let why = match info.create {
            Create::Mkpeer(make) => return Ok((make(&self.env()), info)),
            Create::Open(open) => return Ok((open(&self.env())?, info)),
            Create::Port(_) => "each attached interface has one (ctl attach IF)",
            Create::Control(_) => "the control node \".\" is the only one",
        };
        Err(GraphError::NotCreatable { ty: info.name, why })
    }

    /// Node objects alive and created (shared; outlives the graph for leak checks).
    pub fn live_handle(&self) -> Arc<LiveCounts> {
        Arc::clone(&self.sh.live)
    }

    /// A handle for creating workers.
    pub fn handle(&self) -> GraphHandle {
        GraphHandle(Arc::clone(&self.sh))
    }
    pub fn config(&self) -> &GraphConfig {
        &self.sh.cfg
    }
    pub fn epoch(&self) -> &Epoch {
        &self.sh.epoch
    }
    pub fn live(&self) -> &LiveCounts {
        &self.sh.live
    }
    /// Graph time in seconds.
    pub fn now(&self) -> u32 {
        self.sh.clock.now()
    }
    /// Graph time in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.sh.clock.now_ns()
    }
    /// Sets graph time (manual clock only).
    pub fn set_time(&self, secs: u32) {
        self.set_time_ns(secs as u64 * 1_000_000_000)
    }
    /// Sets graph time in nanoseconds (manual clock only).
    pub fn set_time_ns(&self, ns: u64) {
        if let Some(t) = &self.sh.clock.manual {
            t.store(ns, Ordering::Relaxed);
        }
    }
    /// Graph-wide counter `i` ([`gstat`]).
    pub fn stat(&self, i: usize) -> u64 {
        self.sh.stats.lifetime(i)
    }
    /// Snapshot version (increases with each published edit).
    pub fn version(&self) -> u64 {
        self.version
    }
    /// The ID of the control node (`.`).
    pub fn ctl_node(&self) -> NodeId {
        self.ctl
    }

    // ----- addressing ---------------------------------------------------------------------

    pub(super) fn label(&self, id: NodeId) -> String {
        match self.nodes.get(&id).and_then(|n| n.name.as_ref()) {
            Some(n) => format!("{n}:"),
            None => format!("[{id:x}]:"),
        }
    }

    /// Resolves an address relative to node `current`.
    fn resolve_from(&self, path: &str, current: NodeId) -> Result<NodeId, GraphError> {
        let a = Addr::parse(path)?;
        let mut id = match &a.base {
            Base::Current => current,
            Base::Name(n) => *self
                .names
                .get(n)
                .ok_or_else(|| GraphError::NoNode(format!("{n}:")))?,
            Base::Id(i) => {
                if self.nodes.contains_key(i) {
                    *i
                } else {
                    return Err(GraphError::NoNode(format!("[{i:x}]:")));
                }
            }
        };
        for hop in &a.hops {
            let n = &self.nodes[&id];
            let h = n.hooks.get(hop).ok_or_else(|| GraphError::NoHook {
                node: self.label(id),
                hook: hop.clone(),
            })?;
            id = h.peer_node;
        }
        Ok(id)
    }

    /// Resolves an absolute address (or `.`).
    pub fn resolve(&self, path: &str) -> Result<NodeId, GraphError> {
        self.resolve_from(path, self.ctl)
    }

    // ----- edits --------------------------------------------------------------------------

    fn add_node(
        &mut self,
        imp: Box<dyn NodeType>,
        info: &'static TypeInfo,
        port: Option<PortId>,
    ) -> NodeId {
        let id = self.next_id;
        self.next_id += 1;
        let drop_base = (self.types.entry(info.name))
            .expect("nodes are made of registered types")
            .drop_base;
        let core = Arc::new(NodeCore::new(
            id,
            imp,
            info,
            drop_base,
            self.sh.cfg.workers,
            Arc::clone(&self.sh.live),
        ));
        let ix = match self.free_ix.pop() {
            Some(ix) => ix,
            None => {
                self.published.push(None);
                (self.published.len() - 1) as NodeIx
            }
        };
        self.dirty.insert(id);
        if core.imp.input_fd().is_some() {
            self.inputs.insert(id);
        }
        self.nodes.insert(
            id,
            NodeRec {
                ix,
                core,
                name: None,
                hooks: BTreeMap::new(),
                persistent: info.persistent,
                port,
            },
        );
        id
    }

    /// Runs `f` with the node's type and a message context.
    pub(super) fn with_node<R>(
        &mut self,
        id: NodeId,
        f: impl FnOnce(&dyn NodeType, &mut MsgCx<'_>) -> R,
    ) -> R {
        let label = self.label(id);
        let now_ns = self.sh.clock.now_ns();
        let workers = self.sh.cfg.workers;
        let epoch = &self.sh.epoch;
        let rec = self.nodes.get_mut(&id).expect("node exists");
        let core = Arc::clone(&rec.core);
        let mut cx = MsgCx {
            node_name: label,
            info: core.info,
            hooks: &rec.hooks,
            persistent: &mut rec.persistent,
            epoch,
            now: (now_ns / 1_000_000_000) as u32,
            now_ns,
            workers,
        };
        f(&*core.imp, &mut cx)
    }

    /// Connects `a:ha` to `b:hb` after both node types accept.
    fn link(&mut self, a: NodeId, ha: &str, b: NodeId, hb: &str) -> Result<(), GraphError> {
        check_hook_name(ha)?;
        check_hook_name(hb)?;
        for (n, h) in [(a, ha), (b, hb)] {
            self.check_free_hook(n, h)?;
        }
        if a == b && ha == hb {
            // ng_con_nodes finds the hook it just added: EEXIST.
            return Err(GraphError::HookToItself {
                node: self.label(a),
                hook: ha.to_string(),
            });
        }
        let spec_a = self.ask_hook(a, ha, a == b, None)?;
        let spec_b = self.ask_hook(b, hb, a == b, (a == b).then_some(spec_a.slot))?;
        let sa = self.new_hook_state(a, ha, spec_a);
        let sb = self.new_hook_state(b, hb, spec_b);
        self.insert_hook(a, ha, &sa, b, hb);
        self.insert_hook(b, hb, &sb, a, ha);
        self.with_node(a, |t, cx| t.connected(&sa, cx));
        self.with_node(b, |t, cx| t.connected(&sb, cx));
        self.dirty.insert(a);
        self.dirty.insert(b);
        Ok(())
    }

    /// Refuses a hook name the node already has (ng_add_hook: EEXIST).
    fn check_free_hook(&self, n: NodeId, hook: &str) -> Result<(), GraphError> {
        if self.nodes[&n].hooks.contains_key(hook) {
            return Err(GraphError::HookExists {
                node: self.label(n),
                hook: hook.to_string(),
            });
        }
        Ok(())
    }

    fn new_hook_state(&mut self, n: NodeId, name: &str, spec: HookSpec) -> Arc<HookState> {
        let uid = self.next_uid;
        self.next_uid += 1;
        let ext = self.nodes[&n].core.info.hook_counters.len();
        Arc::new(HookState::new(
            uid,
            name,
            spec,
            ext,
            self.sh.cfg.workers,
            Arc::clone(&self.sh.live),
        ))
    }

    fn insert_hook(&mut self, n: NodeId, name: &str, st: &Arc<HookState>, peer: NodeId, ph: &str) {
        let rec = HookRec {
            state: Arc::clone(st),
            peer_node: peer,
            peer_hook: ph.to_string(),
        };
        let node = self.nodes.get_mut(&n).expect("node exists");
        node.hooks.insert(name.to_string(), rec);
    }

    fn ask_hook(
        &self,
        n: NodeId,
        name: &str,
        peer_is_self: bool,
        also_used: Option<Slot>,
    ) -> Result<HookSpec, GraphError> {
        let rec = &self.nodes[&n];
        // Used slots as a bitmap (O(1) per query: a type may probe many slots for a free one).
        let mut bits = vec![0u64; (super::MAX_SLOT as usize + 1).div_ceil(64)];
        for s in rec
            .hooks
            .values()
            .map(|h| h.state.slot as usize)
            .chain(also_used.map(|s| s as usize))
        {
            bits[s / 64] |= 1 << (s % 64);
        }
        let used =
            |s: Slot| (s as usize) < bits.len() * 64 && bits[s as usize / 64] >> (s % 64) & 1 == 1;
        let cx = HookCx {
            used: &used,
            peer_is_self,
            num_hooks: rec.hooks.len(),
        };
        rec.core
            .imp
            .new_hook(name, &cx)
            .map_err(|why| GraphError::HookRefused {
                ty: rec.core.info.name,
                hook: name.to_string(),
                why,
            })
    }

    /// Removes hook `h` of node `a` and its peer; returns the two nodes for the last-hook check.
    fn unlink(&mut self, a: NodeId, h: &str) -> [NodeId; 2] {
        let rec = self
            .nodes
            .get_mut(&a)
            .unwrap()
            .hooks
            .remove(h)
            .expect("hook exists");
        let b = rec.peer_node;
        let prec = self
            .nodes
            .get_mut(&b)
            .unwrap()
            .hooks
            .remove(&rec.peer_hook)
            .expect("peer hook exists");
        rec.state.alive.store(false, Ordering::Release);
        prec.state.alive.store(false, Ordering::Release);
        self.end_captures(rec.state.uid);
        self.end_captures(prec.state.uid);
        self.with_node(a, |t, cx| t.disconnected(&rec.state, cx));
        self.with_node(b, |t, cx| t.disconnected(&prec.state, cx));
        self.dirty.insert(a);
        self.dirty.insert(b);
        [a, b]
    }

    /// Shuts down nodes left without hooks (unless persistent), cascading.
    fn reap(&mut self, candidates: impl IntoIterator<Item = NodeId>) {
        for id in candidates {
            let gone = match self.nodes.get(&id) {
                Some(n) => n.hooks.is_empty() && !n.persistent,
                None => false,
            };
            if gone {
                self.destroy(id);
            }
        }
    }

    /// Removes node `id` and all its hooks (splicing first when its type asks to).
    fn destroy(&mut self, id: NodeId) {
        if let Some((l, r)) = self.nodes[&id].core.info.splice_on_shutdown {
            self.splice(id, l, r);
        }
        let mut candidates = Vec::new();
        let names: Vec<String> = self.nodes[&id].hooks.keys().cloned().collect();
        for h in names {
            // A hook looped back to this node went with its peer.
            if !self.nodes[&id].hooks.contains_key(&h) {
                continue;
            }
            let [_, b] = self.unlink(id, &h);
            if b != id {
                candidates.push(b);
            }
        }
        let rec = self.nodes.remove(&id).expect("node exists");
        self.removed.push(rec.ix);
        rec.core.alive.store(false, Ordering::Release);
        self.inputs.remove(&id);
        rec.core.imp.shutdown();
        if let Some(n) = &rec.name {
            self.names.remove(n);
        }
        if let Some(p) = rec.port {
            self.ports[p as usize] = None;
        }
        drop(rec);
        self.reap(candidates);
    }

    /// Connects the peers of node `id`'s hooks `l` and `r` to each other, removing those two
    /// hooks (ng_bypass). Nothing happens unless both are connected, to other nodes.
    fn splice(&mut self, id: NodeId, l: &str, r: &str) {
        let n = &self.nodes[&id];
        let pair = n.hooks.get(l).cloned().zip(n.hooks.get(r).cloned());
        let Some((hl, hr)) = pair.filter(|(a, b)| a.peer_node != id && b.peer_node != id) else {
            return;
        };
        // Re-point the two peers at each other; their hooks keep their state.
        let rec = self.nodes.get_mut(&id).expect("node exists");
        let own: Vec<HookRec> = [rec.hooks.remove(l), rec.hooks.remove(r)]
            .into_iter()
            .flatten()
            .collect();
        for h in own {
            h.state.alive.store(false, Ordering::Release);
            self.end_captures(h.state.uid);
        }
        for (from, to) in [(&hl, &hr), (&hr, &hl)] {
            self.dirty.insert(from.peer_node);
            let peer = (self.nodes.get_mut(&from.peer_node))
                .and_then(|p| p.hooks.get_mut(&from.peer_hook))
                .expect("peer hook exists");
            peer.peer_node = to.peer_node;
            peer.peer_hook = to.peer_hook.clone();
        }
    }

    /// Publishes the model to the workers and reclaims what they can no longer see.
    pub(super) fn publish(&mut self) {
        self.version += 1;
        let sh = Arc::clone(&self.sh);
        match &sh.topo {
            Topo::Epoch(cell) => {
                let snap = self.build_snapshot();
                cell.replace(&sh.epoch, snap);
            }
            Topo::Locked(lock) => {
                // The baseline applies the edit to the shared topology under the write lock.
                let mut w = lock.write().unwrap_or_else(|e| e.into_inner());
                *w = self.build_snapshot();
            }
        }
        sh.edits.fetch_add(1, Ordering::Release);
        sh.epoch.reclaim();
    }

    /// The next snapshot: the previous one's nodes, with removed ones cleared and touched
    /// ones rebuilt (O(nodes) pointer copies plus O(touched) work per edit).
    fn build_snapshot(&mut self) -> Snapshot {
        let mut nodes = self.published.clone();
        for ix in std::mem::take(&mut self.removed) {
            nodes[ix as usize] = None;
            self.free_ix.push(ix);
        }
        for id in std::mem::take(&mut self.dirty) {
            let Some(n) = self.nodes.get(&id) else {
                continue;
            };
            let width = n
                .hooks
                .values()
                .map(|h| h.state.slot as usize + 1)
                .max()
                .unwrap_or(0);
            let mut hooks: Vec<Option<SnapHook>> = (0..width).map(|_| None).collect();
            for h in n.hooks.values() {
                let p = &self.nodes[&h.peer_node];
                let peer = &p.hooks[&h.peer_hook].state;
                hooks[h.state.slot as usize] = Some(SnapHook {
                    state: Arc::clone(&h.state),
                    peer_node: p.ix,
                    peer_slot: peer.slot,
                    taps: self.taps_for(&h.state, peer),
                });
            }
            nodes[n.ix as usize] = Some(Arc::new(SnapNode {
                core: Arc::clone(&n.core),
                hooks: hooks.into_boxed_slice(),
            }));
        }
        self.published = nodes.clone();
        let ports = self
            .ports
            .iter()
            .map(|p| p.map_or(NO_NODE, |id| self.nodes[&id].ix))
            .collect();
        let inputs: Vec<NodeIx> = self.inputs.iter().map(|id| self.nodes[id].ix).collect();
        self.sh.inputs.store(inputs.len(), Ordering::Release);
        Snapshot {
            nodes,
            ports,
            inputs,
            version: self.version,
        }
    }

    /// `mkpeer [path] <type> <hook> <peerhook>`: creates a node of `ty` connected to
    /// `path`'s `hook` by its `peerhook`. Returns the new node's ID.
    pub fn mkpeer(
        &mut self,
        path: &str,
        ty: &str,
        hook: &str,
        peerhook: &str,
    ) -> Result<NodeId, GraphError> {
        let a = self.resolve(if path.is_empty() { "." } else { path })?;
        check_hook_name(hook)?;
        check_hook_name(peerhook)?;
        self.check_free_hook(a, hook)?;
        let (imp, info) = self.create(ty)?;
        let named = imp.default_name();
        let b = self.add_node(imp, info, None);
        if let Err(e) = self.link(a, hook, b, peerhook) {
            self.destroy(b);
            return Err(e);
        }
        // eiface: named after its interface, when the name is free (as ng_eiface does)
        if let Some(n) = named.filter(|n| !self.names.contains_key(n)) {
            let _ = self.name(&format!("[{b:x}]:"), &n);
        }
        self.publish();
        Ok(b)
    }

    /// `connect [path] <relpath> <hook> <peerhook>`: connects `path`'s `hook` to the
    /// `peerhook` of the node at `relpath` (absolute, or relative to `path`).
    pub fn connect(
        &mut self,
        path: &str,
        relpath: &str,
        hook: &str,
        peerhook: &str,
    ) -> Result<(), GraphError> {
        let a = self.resolve(if path.is_empty() { "." } else { path })?;
        let b = self.resolve_from(relpath, a)?;
        self.link(a, hook, b, peerhook)?;
        self.publish();
        Ok(())
    }

    /// `name <path> <name>`: names (or renames) a node.
    pub fn name(&mut self, path: &str, name: &str) -> Result<(), GraphError> {
        let id = self.resolve(path)?;
        check_node_name(name)?;
        if let Some(&other) = self.names.get(name) {
            if other == id {
                return Ok(());
            }
            return Err(GraphError::NameInUse(name.to_string()));
        }
        let rec = self.nodes.get_mut(&id).unwrap();
        if let Some(old) = rec.name.replace(name.to_string()) {
            self.names.remove(&old);
        }
        self.names.insert(name.to_string(), id);
        Ok(())
    }

    /// `rmhook [path] <hook>`: disconnects a hook (and its peer). Nodes left without hooks shut
    /// down unless persistent.
    pub fn rmhook(&mut self, path: &str, hook: &str) -> Result<(), GraphError> {
        let a = self.resolve(if path.is_empty() { "." } else { path })?;
        if !self.nodes[&a].hooks.contains_key(hook) {
            return Err(GraphError::NoHook {
                node: self.label(a),
                hook: hook.to_string(),
            });
        }
        let c = self.unlink(a, hook);
        self.reap(c);
        self.publish();
        Ok(())
    }

    /// `shutdown <path>`: removes a node and its hooks. An interface (ether) node only resets:
    /// its hooks go, its settings return to defaults, the node stays.
    pub fn shutdown(&mut self, path: &str) -> Result<(), GraphError> {
        let id = self.resolve(path)?;
        if id == self.ctl {
            return Err(GraphError::Refused(
                "the control node \".\" cannot be shut down".to_string(),
            ));
        }
        if self.nodes[&id].port.is_some() {
            let names: Vec<String> = self.nodes[&id].hooks.keys().cloned().collect();
            let mut cands = Vec::new();
            for h in names {
                if self.nodes[&id].hooks.contains_key(&h) {
                    let [_, b] = self.unlink(id, &h);
                    cands.push(b);
                }
            }
            self.nodes[&id].core.imp.reset();
            self.reap(cands);
        } else {
            self.destroy(id);
        }
        self.publish();
        Ok(())
    }

    /// `msg <path> <command> [argument]`: one of the node type's control messages (the
    /// generic ones, `nodeinfo` etc., are answered by `crate::ctl` from the queries).
    pub fn msg(
        &mut self,
        path: &str,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        let id = self.resolve(path)?;
        let info = self.nodes[&id].core.info;
        if info.message(cmd).is_none() {
            return Err(unknown_msg(&self.label(id), info, cmd));
        }
        self.with_node(id, |t, cx| t.msg(cx, cmd, arg))
    }

    /// Periodic housekeeping: node timers (bridge ageing) and reclamation.
    pub fn tick(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.with_node(id, |t, cx| t.tick(cx));
        }
        self.sh.epoch.reclaim();
    }

    // ----- ports --------------------------------------------------------------------------

    /// Creates the node of an interface (of the registry's per-interface type, `ether`), named
    /// after it (characters netgraph forbids in
    /// names become `_`). Returns the node and the port ID workers use for its queues.
    pub fn attach_port(&mut self, ctl: Arc<dyn PortCtl>) -> Result<(NodeId, PortId), GraphError> {
        let name = super::path::node_name_for(&ctl.ifname());
        check_node_name(&name)?;
        if self.names.contains_key(&name) {
            return Err(GraphError::NameInUse(name));
        }
        let info = self.types.port_type().ok_or_else(|| {
            GraphError::Refused("no per-interface node type (ether) is registered".into())
        })?;
        let Create::Port(make) = info.create else {
            unreachable!("port_type() is a per-interface type")
        };
        let port = match self.ports.iter().position(Option::is_none) {
            Some(p) => p,
            None => {
                self.ports.push(None);
                self.ports.len() - 1
            }
        } as PortId;
        let id = self.add_node(make(&self.env(), port, ctl), info, Some(port));
        self.ports[port as usize] = Some(id);
        self.name(&format!("[{id:x}]:"), &name)?;
        self.publish();
        Ok((id, port))
    }

    /// Removes an interface's ether node entirely (its hooks first).
    pub fn detach_port(&mut self, port: PortId) -> Result<(), GraphError> {
        let id = self
            .ports
            .get(port as usize)
            .copied()
            .flatten()
            .ok_or_else(|| GraphError::NotFound(format!("port {port}")))?;
        self.destroy(id);
        self.publish();
        Ok(())
    }

    /// The ether node of a port.
    pub fn port_node(&self, port: PortId) -> Option<NodeId> {
        self.ports.get(port as usize).copied().flatten()
    }
}
