//! `save`: a script of ctl commands that recreates the topology, names and node settings.
//!
//! Interface nodes are expected to exist (they come from attached interfaces). The script
//! grows the graph from `.` and the interfaces with `connect` and `mkpeer`; a part not
//! reachable from them is built from `.` through a temporary hook removed at the end. Unnamed
//! nodes get names `_savedN` so later lines can address them.

use crate::graph::{Graph, NodeId, NodeInfo};
use std::collections::{BTreeMap, HashMap, HashSet};

struct Saver {
    out: String,
    nodes: BTreeMap<NodeId, NodeInfo>,
    /// How the script addresses each node it has made (or found) so far.
    label_of: HashMap<NodeId, String>,
    /// (node, hook) pairs the script has connected.
    done: HashSet<(NodeId, String)>,
    /// Temporary hooks to remove at the end: (node label, hook).
    temps: Vec<(String, String)>,
    /// Nodes that cannot be attached to `.`.
    skipped: HashSet<NodeId>,
    unnamed: usize,
}

impl Saver {
    fn new(g: &Graph) -> Saver {
        let nodes: BTreeMap<NodeId, NodeInfo> = g.list().into_iter().map(|n| (n.id, n)).collect();
        let mut label_of = HashMap::new();
        for (id, n) in &nodes {
            if *id == g.ctl_node() {
                label_of.insert(*id, ".".to_string());
            } else if g.port_of(*id).is_some() {
                label_of.insert(*id, n.path());
            }
        }
        Saver {
            out: String::from("# xdpgraph topology, written by `ctl save`\n"),
            nodes,
            label_of,
            done: HashSet::new(),
            temps: Vec::new(),
            skipped: HashSet::new(),
            unnamed: 0,
        }
    }

    /// Names the node just made through `via`; returns how to address it from now on.
    fn name_new(&mut self, via: String, id: NodeId) -> String {
        let n = match &self.nodes[&id].name {
            Some(n) => n.clone(),
            None => {
                self.unnamed += 1;
                format!("_saved{}", self.unnamed)
            }
        };
        self.out += &format!("name {via} {n}\n");
        let label = format!("{n}:");
        self.label_of.insert(id, label.clone());
        label
    }

    /// Connects every hook of the nodes made so far, making their peers; true if it did any.
    fn grow_once(&mut self) -> bool {
        let mut progress = false;
        let made: Vec<NodeId> = (self.nodes.keys().copied())
            .filter(|i| self.label_of.contains_key(i))
            .collect();
        for id in made {
            for h in self.nodes[&id].hooks.clone() {
                if self.done.insert((id, h.name.clone())) {
                    self.done.insert((h.peer_id, h.peer_hook.clone()));
                    self.connect(id, &h);
                    progress = true;
                }
            }
        }
        progress
    }

    fn connect(&mut self, id: NodeId, h: &crate::graph::HookInfo) {
        let from = self.label_of[&id].clone();
        let (hook, peer_hook) = (&h.name, &h.peer_hook);
        if let Some(peer) = self.label_of.get(&h.peer_id) {
            self.out += &format!("connect {from} {peer} {hook} {peer_hook}\n");
            return;
        }
        let ty = self.nodes[&h.peer_id].ty;
        self.out += &format!("mkpeer {from} {ty} {hook} {peer_hook}\n");
        let via = if from == "." {
            format!(".:{hook}")
        } else {
            format!("{from}{hook}")
        };
        self.name_new(via, h.peer_id);
    }

    /// Makes a node not reached yet from `.` through a spare hook; false when none is left.
    fn attach_root(&mut self, g: &Graph) -> bool {
        let unreached = |i: &&NodeId| !self.label_of.contains_key(*i) && !self.skipped.contains(*i);
        let Some(root) = self.nodes.keys().find(unreached).copied() else {
            return false;
        };
        match g.spare_hook(root) {
            Some(spare) => {
                let tmp = format!("_save{}", self.temps.len());
                let ty = self.nodes[&root].ty;
                self.out += &format!("mkpeer . {ty} {tmp} {spare}\n");
                let label = self.name_new(format!(".:{tmp}"), root);
                self.temps.push((label, spare));
            }
            None => {
                let path = self.nodes[&root].path();
                self.out += &format!("# not saved: {path} (no free hook to attach it by)\n");
                self.skipped.insert(root);
            }
        }
        true
    }

    /// The messages that recreate every saved node's settings.
    fn settings(&mut self, g: &mut Graph) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            let Some(label) = self.label_of.get(&id).cloned() else {
                continue;
            };
            let cfg = g.node_config(id);
            if cfg.set_persistent {
                self.out += &format!("msg {label} setpersistent\n");
            }
            for (cmd, arg) in cfg.msgs {
                match arg {
                    Some(a) => self.out += &format!("msg {label} {cmd} {a}\n"),
                    None => self.out += &format!("msg {label} {cmd}\n"),
                }
            }
        }
    }
}

/// The script that recreates `g` (see the module documentation).
pub fn save(g: &mut Graph) -> String {
    let mut s = Saver::new(g);
    loop {
        while s.grow_once() {}
        if !s.attach_root(g) {
            break;
        }
    }
    s.settings(g);
    for (label, spare) in std::mem::take(&mut s.temps) {
        s.out += &format!("rmhook {label} {spare}\n");
    }
    s.out
}
