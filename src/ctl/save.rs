//! `save`: a script of ctl commands that recreates the topology, names and node settings.
//!
//! Interface nodes are expected to exist (they come from attached interfaces). The script
//! grows the graph from `.` and the interfaces with `connect` and `mkpeer`; a part not
//! reachable from them is built from `.` through a temporary hook removed at the end. Unnamed
//! nodes get names `_savedN` so later lines can address them.
//!
//! `save -w` ([`save_to_boot`]) writes the script to the daemon's boot script (the file it was
//! started with, `run -f`), atomically: a temporary file in the same directory, renamed over
//! it, so a crash leaves the old script or the new one, never half of one.

use super::exec::Reply;
use crate::errno::Errno;
use crate::graph::{Graph, NodeId, NodeInfo};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

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

/// `save -w`: the script of `g` written to `boot` (the daemon's `-f` file), atomically.
pub fn save_to_boot(g: &mut Graph, boot: Option<&str>) -> Reply {
    let Some(path) = boot.filter(|p| *p != "-") else {
        return Reply::err(
            "save -w: this daemon was started without a boot script (run -f FILE): there is no file to write (save FILE writes one where you say)",
            Errno::ENOENT,
        );
    };
    let script = save(g);
    match write_atomically(Path::new(path), &script) {
        Ok(()) => Reply::ok(
            format!("saved the running graph to {path}\n"),
            serde_json::json!({"saved": path, "script": script}),
        ),
        Err(e) => Reply::err(format!("save -w: {path}: {e}"), Errno::of_io(&e)),
    }
}

/// Replaces `path` with `text`: written to a temporary file in the same directory, synced,
/// and renamed over it (the directory synced too). A symbolic link is followed (its target is
/// replaced); the file keeps its permission bits (new: 0644).
pub fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = (path.parent())
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mode = std::fs::metadata(&path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    let write = || -> io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    let r = write();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: files
    fn written_atomically_with_the_old_mode() {
        let dir = std::env::temp_dir().join(format!("xg-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("graph.ngctl");
        write_atomically(&f, "one\n").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "one\n");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&f), 0o644);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        // through a symbolic link: the target is replaced, the link stays
        let link = dir.join("link.ngctl");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        write_atomically(&link, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "two\n");
        assert_eq!(mode(&f), 0o640);
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        // no temporary file left behind, also when the write fails (a directory in the way)
        let blocked = dir.join("sub");
        std::fs::create_dir_all(blocked.join("x")).unwrap();
        assert!(write_atomically(&blocked, "three\n").is_err());
        let names: Vec<String> = (std::fs::read_dir(&dir).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: files
    fn save_w_needs_a_boot_script() {
        let mut g = Graph::new(
            crate::graph::GraphConfig::default(),
            crate::nodes::builtin(),
        );
        let r = save_to_boot(&mut g, None);
        assert_eq!(r.errno, Some("ENOENT"));
        assert!(r.error.unwrap().contains("run -f FILE"));
        assert!(!save_to_boot(&mut g, Some("-")).ok);
    }
}
