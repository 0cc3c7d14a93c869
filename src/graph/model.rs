//! The management thread's model of the graph, and the edits it applies.

use super::node::{HookCx, HookRec, HookState, LiveCounts, MsgCx, NodeCore, NodeType, Slot};
use super::path::{check_hook_name, check_node_name, Addr, Base};
use super::snapshot::{NodeIx, SnapHook, SnapNode, Snapshot, NO_NODE};
use super::{gstat, DropReason, GraphError, NodeId, Worker};
use crate::buf::Pool;
use crate::counters::PerWorker;
use crate::epoch::{Epoch, EpochCell};
use crate::port::{PortCtl, PortId};
use crate::value::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Makes a node of a custom type (see `Graph::add_type`).
pub type NodeCtor = fn() -> Box<dyn NodeType>;

/// Sizing and limits of a graph.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Worker threads the graph will have at most (per-worker counters are sized by this).
    pub workers: usize,
    /// Hops a frame may take before it is dropped as `hop_limit` (bounds cycles).
    pub hop_limit: u16,
    /// Bursts a worker may hold at once (bounds floods in cycles).
    pub max_bursts: usize,
    /// Graph time advances only through [`Graph::set_time`] (for tests).
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

/// Graph time in whole seconds: real (since creation) or manual.
pub struct Clock {
    start: Instant,
    manual: Option<AtomicU32>,
}

impl Clock {
    #[inline]
    pub fn now(&self) -> u32 {
        match &self.manual {
            Some(t) => t.load(Ordering::Relaxed),
            None => self.start.elapsed().as_secs() as u32,
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

struct NodeRec {
    /// Stable index in published snapshots.
    ix: NodeIx,
    core: Arc<NodeCore>,
    name: Option<String>,
    hooks: BTreeMap<String, HookRec>,
    persistent: bool,
    port: Option<PortId>,
}

/// A node as `list`/`show` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: NodeId,
    pub name: Option<String>,
    pub ty: &'static str,
    pub hooks: Vec<HookInfo>,
}

impl NodeInfo {
    /// `name:` or `[id]:`.
    pub fn path(&self) -> String {
        match &self.name {
            Some(n) => format!("{n}:"),
            None => format!("[{:x}]:", self.id),
        }
    }
}

/// A hook as `show` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookInfo {
    pub name: String,
    pub peer_id: NodeId,
    pub peer_name: Option<String>,
    pub peer_type: &'static str,
    pub peer_hook: String,
}

/// Counters of a node and its hooks.
#[derive(Debug, Clone)]
pub struct NodeStats {
    pub info: NodeInfo,
    pub copies: u64,
    pub drops: Vec<(DropReason, u64)>,
    /// Per hook: name, then (counter name, value) pairs.
    pub hooks: Vec<(String, Vec<(&'static str, u64)>)>,
}

/// One line of `ctl errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRow {
    /// `name:`/`[id]:`, or `graph` for frames dropped before reaching a node.
    pub node: String,
    pub reason: DropReason,
    pub count: u64,
}

/// The graph, as the management thread owns it. Every edit is validated, applied to this
/// model, and published to the workers before the call returns.
pub struct Graph {
    sh: Arc<Shared>,
    nodes: BTreeMap<NodeId, NodeRec>,
    names: HashMap<String, NodeId>,
    next_id: NodeId,
    next_uid: u64,
    ports: Vec<Option<NodeId>>,
    ctl: NodeId,
    version: u64,
    custom: Vec<(&'static str, NodeCtor)>,
    /// The nodes of the last published snapshot (shared with it).
    published: Vec<Option<Arc<SnapNode>>>,
    /// Nodes whose snapshot entry must be rebuilt at the next publication.
    dirty: std::collections::BTreeSet<NodeId>,
    /// Indices of removed nodes, cleared at the next publication and then reusable.
    removed: Vec<NodeIx>,
    free_ix: Vec<NodeIx>,
}

impl Default for Graph {
    fn default() -> Self {
        Self::new(GraphConfig::default())
    }
}

impl Graph {
    pub fn new(cfg: GraphConfig) -> Graph {
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
                manual: manual.then(|| AtomicU32::new(0)),
            },
            stats: PerWorker::new(workers, gstat::COUNT),
            live,
            taken: (0..workers).map(|_| AtomicBool::new(false)).collect(),
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
            custom: Vec::new(),
            published: Vec::new(),
            dirty: Default::default(),
            removed: Vec::new(),
            free_ix: Vec::new(),
        };
        let imp = crate::nodes::create("socket", &g.sh.epoch).expect("socket type exists");
        g.ctl = g.add_node(imp, None);
        g.publish();
        g
    }

    /// Adds a node type (beyond the built-in ones) that `mkpeer` can create.
    pub fn add_type(&mut self, name: &'static str, make: NodeCtor) {
        self.custom.retain(|(n, _)| *n != name);
        self.custom.push((name, make));
    }

    fn create(&self, ty: &str) -> Result<Box<dyn NodeType>, GraphError> {
        if ty == "ether" {
            return Err(GraphError::Refused(
                "ether nodes cannot be created: each attached interface has one (ctl attach IF)"
                    .into(),
            ));
        }
        if let Some((_, make)) = self.custom.iter().find(|(n, _)| *n == ty) {
            return Ok(make());
        }
        crate::nodes::create(ty, &self.sh.epoch)
            .filter(|_| ty != "socket")
            .ok_or_else(|| {
                let mut known = crate::nodes::user_types();
                known.extend(self.custom.iter().map(|(n, _)| *n));
                GraphError::UnknownType(ty.to_string(), known.join(" "))
            })
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
    /// Sets graph time (manual clock only).
    pub fn set_time(&self, secs: u32) {
        if let Some(t) = &self.sh.clock.manual {
            t.store(secs, Ordering::Relaxed);
        }
    }
    /// Graph-wide counter `i` ([`gstat`]).
    pub fn stat(&self, i: usize) -> u64 {
        self.sh.stats.lifetime(i)
    }
    /// Total drops for `why`, across all nodes (live or gone) and workers.
    pub fn drops(&self, why: DropReason) -> u64 {
        self.stat(gstat::DROPS + why as usize)
    }
    pub fn total_drops(&self) -> u64 {
        DropReason::ALL.iter().map(|r| self.drops(*r)).sum()
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

    fn label(&self, id: NodeId) -> String {
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

    fn add_node(&mut self, imp: Box<dyn NodeType>, port: Option<PortId>) -> NodeId {
        let id = self.next_id;
        self.next_id += 1;
        let persistent = imp.persistent();
        let core = Arc::new(NodeCore::new(
            id,
            imp,
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
        self.nodes.insert(
            id,
            NodeRec {
                ix,
                core,
                name: None,
                hooks: BTreeMap::new(),
                persistent,
                port,
            },
        );
        id
    }

    /// Runs `f` with the node's type and a message context.
    fn with_node<R>(
        &mut self,
        id: NodeId,
        f: impl FnOnce(&dyn NodeType, &mut MsgCx<'_>) -> R,
    ) -> R {
        let label = self.label(id);
        let now = self.sh.clock.now();
        let workers = self.sh.cfg.workers;
        let epoch = &self.sh.epoch;
        let rec = self.nodes.get_mut(&id).expect("node exists");
        let core = Arc::clone(&rec.core);
        let mut cx = MsgCx {
            node_name: label,
            hooks: &rec.hooks,
            persistent: &mut rec.persistent,
            epoch,
            now,
            workers,
        };
        f(&*core.imp, &mut cx)
    }

    /// Connects `a:ha` to `b:hb` after both node types accept.
    fn link(&mut self, a: NodeId, ha: &str, b: NodeId, hb: &str) -> Result<(), GraphError> {
        check_hook_name(ha)?;
        check_hook_name(hb)?;
        for (n, h) in [(a, ha), (b, hb)] {
            if self.nodes[&n].hooks.contains_key(h) {
                return Err(GraphError::HookExists {
                    node: self.label(n),
                    hook: h.to_string(),
                });
            }
        }
        if a == b && ha == hb {
            return Err(GraphError::Refused(format!(
                "{}: cannot connect hook \"{ha}\" to itself",
                self.label(a)
            )));
        }
        let spec_a = self.ask_hook(a, ha, a == b, None)?;
        let spec_b = self.ask_hook(b, hb, a == b, (a == b).then_some(spec_a.slot))?;
        let workers = self.sh.cfg.workers;
        let mk = |g: &mut Graph, n: NodeId, name: &str, spec| {
            let uid = g.next_uid;
            g.next_uid += 1;
            let ext = g.nodes[&n].core.imp.hook_counters().len();
            Arc::new(HookState::new(
                uid,
                name,
                spec,
                ext,
                workers,
                Arc::clone(&g.sh.live),
            ))
        };
        let sa = mk(self, a, ha, spec_a);
        let sb = mk(self, b, hb, spec_b);
        self.nodes.get_mut(&a).unwrap().hooks.insert(
            ha.to_string(),
            HookRec {
                state: Arc::clone(&sa),
                peer_node: b,
                peer_hook: hb.to_string(),
            },
        );
        self.nodes.get_mut(&b).unwrap().hooks.insert(
            hb.to_string(),
            HookRec {
                state: Arc::clone(&sb),
                peer_node: a,
                peer_hook: ha.to_string(),
            },
        );
        self.with_node(a, |t, cx| t.connected(&sa, cx));
        self.with_node(b, |t, cx| t.connected(&sb, cx));
        self.dirty.insert(a);
        self.dirty.insert(b);
        Ok(())
    }

    fn ask_hook(
        &self,
        n: NodeId,
        name: &str,
        peer_is_self: bool,
        also_used: Option<Slot>,
    ) -> Result<super::HookSpec, GraphError> {
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
                ty: rec.core.imp.type_name(),
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
        let mut candidates = Vec::new();
        if let Some((l, r)) = self.nodes[&id].core.imp.splice_on_shutdown() {
            let n = &self.nodes[&id];
            // Both sides connected, and not to this node itself (nothing to splice then).
            let pair = n.hooks.get(l).cloned().zip(n.hooks.get(r).cloned());
            if let Some((hl, hr)) = pair.filter(|(a, b)| a.peer_node != id && b.peer_node != id) {
                // Re-point the two peers at each other; their hooks keep their state.
                let rec = self.nodes.get_mut(&id).unwrap();
                let own_l = rec.hooks.remove(l).unwrap();
                let own_r = rec.hooks.remove(r).unwrap();
                own_l.state.alive.store(false, Ordering::Release);
                own_r.state.alive.store(false, Ordering::Release);
                self.dirty.insert(hl.peer_node);
                self.dirty.insert(hr.peer_node);
                {
                    let pl = self
                        .nodes
                        .get_mut(&hl.peer_node)
                        .unwrap()
                        .hooks
                        .get_mut(&hl.peer_hook)
                        .unwrap();
                    pl.peer_node = hr.peer_node;
                    pl.peer_hook = hr.peer_hook.clone();
                }
                {
                    let pr = self
                        .nodes
                        .get_mut(&hr.peer_node)
                        .unwrap()
                        .hooks
                        .get_mut(&hr.peer_hook)
                        .unwrap();
                    pr.peer_node = hl.peer_node;
                    pr.peer_hook = hl.peer_hook.clone();
                }
            }
        }
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
        let rec = self.nodes.remove(&id).unwrap();
        self.removed.push(rec.ix);
        rec.core.alive.store(false, Ordering::Release);
        if let Some(n) = &rec.name {
            self.names.remove(n);
        }
        if let Some(p) = rec.port {
            self.ports[p as usize] = None;
        }
        drop(rec);
        self.reap(candidates);
    }

    /// Publishes the model to the workers and reclaims what they can no longer see.
    fn publish(&mut self) {
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
                hooks[h.state.slot as usize] = Some(SnapHook {
                    state: Arc::clone(&h.state),
                    peer_node: p.ix,
                    peer_slot: p.hooks[&h.peer_hook].state.slot,
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
        Snapshot {
            nodes,
            ports,
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
        if self.nodes[&a].hooks.contains_key(hook) {
            return Err(GraphError::HookExists {
                node: self.label(a),
                hook: hook.to_string(),
            });
        }
        let imp = self.create(ty)?;
        let b = self.add_node(imp, None);
        if let Err(e) = self.link(a, hook, b, peerhook) {
            self.destroy(b);
            return Err(e);
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

    /// `msg <path> <command> [argument]`: a control message to a node. Generic messages
    /// (`nodeinfo`, `listhooks`, `listnodes`, `listtypes`) work on every node.
    pub fn msg(
        &mut self,
        path: &str,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        let id = self.resolve(path)?;
        match cmd {
            "nodeinfo" => return Ok(Some(info_value(&self.node_info(id), false))),
            "listhooks" => return Ok(Some(info_value(&self.node_info(id), true))),
            "listnodes" => {
                let list = self.list();
                return Ok(Some(Value::record([
                    ("numnames", Value::Uint(list.len() as u64)),
                    (
                        "nodeinfo",
                        Value::Array(list.iter().map(|n| info_value(n, false)).collect()),
                    ),
                ])));
            }
            "listtypes" => {
                let t = self.types();
                return Ok(Some(Value::record([
                    ("numtypes", Value::Uint(t.len() as u64)),
                    (
                        "typeinfo",
                        Value::Array(
                            t.iter()
                                .map(|(n, c)| {
                                    Value::record([
                                        ("typename", Value::Str(n.to_string())),
                                        ("numnodes", Value::Uint(*c as u64)),
                                    ])
                                })
                                .collect(),
                        ),
                    ),
                ])));
            }
            _ => {}
        }
        let r = self.with_node(id, |t, cx| {
            if !t.messages().contains(&cmd) {
                let mut known: Vec<&str> = t.messages().to_vec();
                known.extend(["nodeinfo", "listhooks", "listnodes", "listtypes"]);
                return Err(cx.unknown(cmd, &known));
            }
            t.msg(cx, cmd, arg)
        })?;
        Ok(r)
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

    /// Creates the `ether` node of an interface, named after it (characters netgraph forbids in
    /// names become `_`). Returns the node and the port ID workers use for its queues.
    pub fn attach_port(&mut self, ctl: Arc<dyn PortCtl>) -> Result<(NodeId, PortId), GraphError> {
        let name = super::path::node_name_for(&ctl.ifname());
        check_node_name(&name)?;
        if self.names.contains_key(&name) {
            return Err(GraphError::NameInUse(name));
        }
        let port = match self.ports.iter().position(Option::is_none) {
            Some(p) => p,
            None => {
                self.ports.push(None);
                self.ports.len() - 1
            }
        } as PortId;
        let imp = Box::new(crate::nodes::ether::Ether::new(port, ctl));
        let id = self.add_node(imp, Some(port));
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

    // ----- queries ------------------------------------------------------------------------

    fn node_info(&self, id: NodeId) -> NodeInfo {
        let n = &self.nodes[&id];
        NodeInfo {
            id,
            name: n.name.clone(),
            ty: n.core.imp.type_name(),
            hooks: n
                .hooks
                .iter()
                .map(|(name, h)| {
                    let p = &self.nodes[&h.peer_node];
                    HookInfo {
                        name: name.clone(),
                        peer_id: h.peer_node,
                        peer_name: p.name.clone(),
                        peer_type: p.core.imp.type_name(),
                        peer_hook: h.peer_hook.clone(),
                    }
                })
                .collect(),
        }
    }

    /// Every node, by ID.
    pub fn list(&self) -> Vec<NodeInfo> {
        self.nodes.keys().map(|id| self.node_info(*id)).collect()
    }

    /// One node and its hooks.
    pub fn show(&self, path: &str) -> Result<NodeInfo, GraphError> {
        Ok(self.node_info(self.resolve(path)?))
    }

    /// Node types and how many nodes of each exist.
    pub fn types(&self) -> Vec<(&'static str, usize)> {
        crate::nodes::TYPES
            .iter()
            .copied()
            .chain(self.custom.iter().map(|(n, _)| *n))
            .map(|t| {
                (
                    t,
                    self.nodes
                        .values()
                        .filter(|n| n.core.imp.type_name() == t)
                        .count(),
                )
            })
            .collect()
    }

    /// Counters of one node and its hooks.
    pub fn node_stats(&self, path: &str) -> Result<NodeStats, GraphError> {
        let id = self.resolve(path)?;
        let n = &self.nodes[&id];
        let ext = n.core.imp.hook_counters();
        Ok(NodeStats {
            info: self.node_info(id),
            copies: n.core.counters.get(NodeCore::COPIES),
            drops: DropReason::ALL
                .iter()
                .map(|r| (*r, n.core.drops(*r)))
                .filter(|(_, c)| *c > 0)
                .collect(),
            hooks: n
                .hooks
                .iter()
                .map(|(name, h)| {
                    let mut v: Vec<(&'static str, u64)> = super::hook_stat::NAMES
                        .iter()
                        .enumerate()
                        .map(|(i, k)| (*k, h.state.stats.get(i)))
                        .collect();
                    v.extend(
                        ext.iter()
                            .enumerate()
                            .map(|(i, k)| (*k, h.state.stats.get(super::hook_stat::GENERIC + i))),
                    );
                    (name.clone(), v)
                })
                .collect(),
        })
    }

    /// Every drop reason with a non-zero count, per node, then graph-wide totals (which also
    /// include nodes since shut down, and frames that never reached a node).
    pub fn errors(&self) -> (Vec<ErrorRow>, Vec<(DropReason, u64)>) {
        let mut rows = Vec::new();
        for (id, n) in &self.nodes {
            for r in DropReason::ALL {
                let c = n.core.drops(*r);
                if c > 0 {
                    rows.push(ErrorRow {
                        node: self.label(*id),
                        reason: *r,
                        count: c,
                    });
                }
            }
        }
        let totals = DropReason::ALL
            .iter()
            .map(|r| (*r, self.drops(*r)))
            .filter(|(_, c)| *c > 0)
            .collect();
        (rows, totals)
    }

    /// Graphviz of the live graph, in the style of ngctl's `dot`: a record per node (name,
    /// type, ID), an octagon per hook, hooks joined in pairs, unconnected nodes in their own
    /// cluster. With `counters`, each hook also shows the frames that entered (`in`) and
    /// left (`out`) its node through it, and each node its drops.
    pub fn dot(&self, counters: bool) -> String {
        fn q(s: &str) -> String {
            s.replace('\\', "\\\\").replace('"', "\\\"")
        }
        // record labels also give meaning to { } | < >
        fn rec(s: &str) -> String {
            let mut o = String::new();
            for c in q(s).chars() {
                if "{}|<>".contains(c) {
                    o.push('\\');
                }
                o.push(c);
            }
            o
        }
        let mut s = String::from(
            "graph xdpgraph {\n  graph [rankdir=LR, fontname=\"monospace\"];\n  edge [weight=1.0];\n",
        );
        let list = self.list();
        let label = |n: &NodeInfo| {
            let mut l = format!(
                "{}|{}|[{:x}]:",
                n.name
                    .as_deref()
                    .map(rec)
                    .unwrap_or_else(|| "\\<unnamed\\>".into()),
                n.ty,
                n.id
            );
            if counters {
                let drops: u64 = DropReason::ALL
                    .iter()
                    .map(|r| self.nodes[&n.id].core.drops(*r))
                    .sum();
                if drops > 0 {
                    l += &format!("|drops {drops}");
                }
            }
            l
        };
        s += "  node [shape=record, fontsize=12, fontname=\"monospace\"];\n";
        for n in list.iter().filter(|n| !n.hooks.is_empty()) {
            s += &format!("  \"{:x}\" [label=\"{}\"];\n", n.id, label(n));
        }
        if list.iter().any(|n| n.hooks.is_empty()) {
            s += "  subgraph cluster_disconnected {\n    bgcolor=pink;\n    label=\"not connected\";\n";
            for n in list.iter().filter(|n| n.hooks.is_empty()) {
                s += &format!("    \"{:x}\" [label=\"{}\"];\n", n.id, label(n));
            }
            s += "  }\n";
        }
        s += "  node [shape=octagon, fontsize=10];\n";
        for n in &list {
            let hooks = &self.nodes[&n.id].hooks;
            for h in &n.hooks {
                let mut l = q(&h.name);
                if counters {
                    if let Some(st) = hooks.get(&h.name) {
                        l += &format!(
                            "\\nin {} out {}",
                            st.state.stats.get(super::hook_stat::IN_FRAMES),
                            st.state.stats.get(super::hook_stat::OUT_FRAMES)
                        );
                    }
                }
                s += &format!("  \"{:x}.{}\" [label=\"{}\"];\n", n.id, q(&h.name), l);
            }
        }
        for n in &list {
            for h in &n.hooks {
                s += &format!("  \"{:x}\" -- \"{:x}.{}\";\n", n.id, n.id, q(&h.name));
                if (n.id, h.name.as_str()) < (h.peer_id, h.peer_hook.as_str()) {
                    s += &format!(
                        "  \"{:x}.{}\" -- \"{:x}.{}\" [weight=2.0];\n",
                        n.id,
                        q(&h.name),
                        h.peer_id,
                        q(&h.peer_hook)
                    );
                }
            }
        }
        s += "}\n";
        s
    }

    /// A script of ctl commands that recreates the topology, names and node settings. Ether
    /// nodes are expected to exist (they come from attached interfaces). A part of the graph
    /// not reachable from an interface or `.` is built from `.` through a temporary hook
    /// that is removed at the end; unnamed nodes get names `_savedN` so later lines can
    /// address them.
    pub fn save(&mut self) -> String {
        use std::collections::HashSet;
        let mut out = String::from("# xdpgraph topology, written by `ctl save`\n");
        let mut label_of: HashMap<NodeId, String> = HashMap::new();
        for (id, n) in &self.nodes {
            if n.port.is_some() || *id == self.ctl {
                label_of.insert(
                    *id,
                    if *id == self.ctl {
                        ".".into()
                    } else {
                        self.label(*id)
                    },
                );
            }
        }
        let mut done: HashSet<(NodeId, String)> = HashSet::new();
        let mut temps: Vec<(String, String)> = Vec::new();
        let mut skipped: HashSet<NodeId> = HashSet::new();
        let mut unnamed = 0usize;
        let name_new =
            |g: &Graph, out: &mut String, via: String, id: NodeId, unnamed: &mut usize| -> String {
                let n = match &g.nodes[&id].name {
                    Some(n) => n.clone(),
                    None => {
                        *unnamed += 1;
                        format!("_saved{unnamed}")
                    }
                };
                *out += &format!("name {via} {n}\n");
                format!("{n}:")
            };
        loop {
            // Grow from every node already created.
            let mut progress = true;
            while progress {
                progress = false;
                let ids: Vec<NodeId> = self
                    .nodes
                    .keys()
                    .copied()
                    .filter(|i| label_of.contains_key(i))
                    .collect();
                for id in ids {
                    let hooks: Vec<(String, HookRec)> = self.nodes[&id]
                        .hooks
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    for (h, rec) in hooks {
                        if done.contains(&(id, h.clone())) {
                            continue;
                        }
                        let from = label_of[&id].clone();
                        if let Some(peer) = label_of.get(&rec.peer_node) {
                            out += &format!("connect {from} {peer} {h} {}\n", rec.peer_hook);
                        } else {
                            let ty = self.nodes[&rec.peer_node].core.imp.type_name();
                            out += &format!("mkpeer {from} {ty} {h} {}\n", rec.peer_hook);
                            let via = if from == "." {
                                format!(".:{h}")
                            } else {
                                format!("{from}{h}")
                            };
                            let lbl = name_new(self, &mut out, via, rec.peer_node, &mut unnamed);
                            label_of.insert(rec.peer_node, lbl);
                        }
                        done.insert((id, h));
                        done.insert((rec.peer_node, rec.peer_hook));
                        progress = true;
                    }
                }
            }
            // A node not reached yet: attach it to `.` through a spare hook.
            let Some(root) = self
                .nodes
                .keys()
                .copied()
                .find(|i| !label_of.contains_key(i) && !skipped.contains(i))
            else {
                break;
            };
            let rec = &self.nodes[&root];
            let used = |n: &str| rec.hooks.contains_key(n);
            match rec.core.imp.spare_hook(&used) {
                Some(spare) => {
                    let tmp = format!("_save{}", temps.len());
                    out += &format!("mkpeer . {} {tmp} {spare}\n", rec.core.imp.type_name());
                    let lbl = name_new(self, &mut out, format!(".:{tmp}"), root, &mut unnamed);
                    temps.push((lbl.clone(), spare));
                    label_of.insert(root, lbl);
                }
                None => {
                    out += &format!(
                        "# not saved: {} (no free hook to attach it by)\n",
                        self.label(root)
                    );
                    skipped.insert(root);
                }
            }
        }
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            let Some(lbl) = label_of.get(&id).cloned() else {
                continue;
            };
            let (msgs, persistent) = self.with_node(id, |t, cx| {
                (t.config_msgs(cx), cx.is_persistent() && !t.persistent())
            });
            if persistent {
                out += &format!("msg {lbl} setpersistent\n");
            }
            for (cmd, arg) in msgs {
                match arg {
                    Some(a) => out += &format!("msg {lbl} {cmd} {a}\n"),
                    None => out += &format!("msg {lbl} {cmd}\n"),
                }
            }
        }
        for (lbl, spare) in temps {
            out += &format!("rmhook {lbl} {spare}\n");
        }
        out
    }
}

fn info_value(n: &NodeInfo, with_hooks: bool) -> Value {
    let mut f = vec![
        (
            "name".to_string(),
            Value::Str(n.name.clone().unwrap_or_default()),
        ),
        ("type".to_string(), Value::Str(n.ty.to_string())),
        ("id".to_string(), Value::Hex(n.id as u64)),
        ("hooks".to_string(), Value::Uint(n.hooks.len() as u64)),
    ];
    if with_hooks {
        f.push((
            "hooklist".to_string(),
            Value::Array(
                n.hooks
                    .iter()
                    .map(|h| {
                        Value::record([
                            ("ourhook", Value::Str(h.name.clone())),
                            ("peerhook", Value::Str(h.peer_hook.clone())),
                            (
                                "nodeinfo",
                                Value::record([
                                    ("name", Value::Str(h.peer_name.clone().unwrap_or_default())),
                                    ("type", Value::Str(h.peer_type.to_string())),
                                    ("id", Value::Hex(h.peer_id as u64)),
                                ]),
                            ),
                        ])
                    })
                    .collect(),
            ),
        ));
    }
    Value::Struct(f)
}
