//! Node types as the graph knows them: each type's descriptor ([`TypeInfo`]), and the
//! [`Registry`] of the types a graph can make.
//!
//! A type declares everything about itself in one `static` descriptor next to its code: name,
//! hooks, control messages with their argument shapes, hook counters, drop reasons, and how its
//! nodes are made. Everything that lists types (`mkpeer`, `ctl types`, `ctl help`, `ctl errors`,
//! the documentation test) reads the registry, so adding a type is one file and one line in
//! `crate::nodes::BUILTIN` — or, outside the crate, one [`Graph::register_type`] call.
//!
//! [`Graph::register_type`]: super::Graph::register_type

use super::{DropReason, GraphError, NodeType, ReasonInfo, GENERIC_REASONS};
use crate::epoch::Epoch;
use crate::port::{PortCtl, PortId};
use std::sync::Arc;

/// Graph-wide drop counters: the engine's reasons for frames dropped outside any node, then,
/// per registered type, its engine and own reasons. Registration fails beyond this.
pub const MAX_DROP_COUNTERS: usize = 512;

/// A control message a type understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgSpec {
    pub name: &'static str,
    /// The argument's shape as ngctl and the man pages write it (`"{ vid=N hook=\"h\" }"`,
    /// `"<0|1>"`), or `""` for none.
    pub args: &'static str,
    /// One line: what it does (and what it replies).
    pub help: &'static str,
}

/// What a constructor gets from the graph it makes a node for.
pub struct NodeEnv<'a> {
    /// The graph's epoch domain: a node's [`EpochCell`](crate::epoch::EpochCell)s belong to it.
    pub epoch: &'a Epoch,
}

/// Makes the node of an attached interface (port).
pub type MakePortNode = fn(&NodeEnv<'_>, PortId, Arc<dyn PortCtl>) -> Box<dyn NodeType>;

/// How nodes of a type come to exist.
#[derive(Debug, Clone, Copy)]
pub enum Create {
    /// `mkpeer` makes them.
    Mkpeer(fn(&NodeEnv<'_>) -> Box<dyn NodeType>),
    /// `mkpeer` makes them, opening an OS resource (eiface's TAP, ksocket's socket) that may
    /// fail. A node whose mkpeer is refused afterwards (its hook) is dropped at once, and the
    /// resource with it.
    Open(fn(&NodeEnv<'_>) -> Result<Box<dyn NodeType>, GraphError>),
    /// One per attached interface, made by `Graph::attach_port` (ng_ether).
    Port(MakePortNode),
    /// Only the graph makes one: the control node `.` (ngctl's socket node).
    Control(fn(&NodeEnv<'_>) -> Box<dyn NodeType>),
}

/// Everything a node type declares about itself.
#[derive(Debug)]
pub struct TypeInfo {
    /// The type name `mkpeer` and `ctl types` use.
    pub name: &'static str,
    /// One line: what the type is.
    pub summary: &'static str,
    /// The hooks it accepts and what each does (free text, for `help`).
    pub hooks: &'static str,
    /// Its own control messages (the generic ones, `nodeinfo` etc., work on every node).
    pub messages: &'static [MsgSpec],
    /// Names of its own per-hook counters, after the generic four (`hook_stat`).
    pub hook_counters: &'static [&'static str],
    /// Its own drop reasons, numbered from 0 ([`DropReason::local`]).
    pub drop_reasons: &'static [ReasonInfo],
    /// A new node outlives the loss of its last hook.
    pub persistent: bool,
    /// On `shutdown`, connect the peers of these two hooks to each other (ng_tee's bypass).
    pub splice_on_shutdown: Option<(&'static str, &'static str)>,
    pub create: Create,
}

impl TypeInfo {
    /// Can `mkpeer` make one?
    pub fn user_creatable(&self) -> bool {
        matches!(self.create, Create::Mkpeer(_) | Create::Open(_))
    }
    /// Does making one open an OS resource (a TAP, a socket)? Tests that make nodes by the
    /// thousand leave these out.
    pub fn opens_resources(&self) -> bool {
        matches!(self.create, Create::Open(_))
    }
    /// One of its own messages.
    pub fn message(&self, name: &str) -> Option<&'static MsgSpec> {
        self.messages.iter().find(|m| m.name == name)
    }
    /// Name and description of `why` as this type counts it (an engine reason, or its own).
    pub fn reason(&self, why: DropReason) -> Option<&'static ReasonInfo> {
        match why.generic_info() {
            Some(r) => Some(r),
            None => self.drop_reasons.get(why.index() - DropReason::GENERIC),
        }
    }
    /// The reason with this name (engine or own).
    pub fn reason_named(&self, name: &str) -> Option<DropReason> {
        self.reasons().find(|(_, r)| r.name == name).map(|(d, _)| d)
    }
    /// Every reason a node of this type counts: the engine's, then its own.
    pub fn reasons(&self) -> impl Iterator<Item = (DropReason, &'static ReasonInfo)> + '_ {
        let own = self.drop_reasons;
        GENERIC_REASONS
            .iter()
            .chain(own.iter())
            .enumerate()
            .map(|(i, r)| (DropReason::at(i), r))
    }
    /// How many drop counters a node of this type has.
    pub fn drop_counters(&self) -> usize {
        DropReason::GENERIC + self.drop_reasons.len()
    }
    /// A node for `mkpeer` or for the control node (None for per-interface types).
    pub(crate) fn make(&self, env: &NodeEnv<'_>) -> Option<Result<Box<dyn NodeType>, GraphError>> {
        match self.create {
            Create::Mkpeer(f) | Create::Control(f) => Some(Ok(f(env))),
            Create::Open(f) => Some(f(env)),
            Create::Port(_) => None,
        }
    }
    /// Checks the descriptor: unique names, within the counter space.
    fn check(&self) -> Result<(), GraphError> {
        let bad = |why: String| Err(GraphError::Refused(format!("type {}: {why}", self.name)));
        if self.name.is_empty() || self.name.contains(char::is_whitespace) {
            return bad("a type name is one word".into());
        }
        for (i, r) in self.drop_reasons.iter().enumerate() {
            let dup = GENERIC_REASONS.iter().chain(&self.drop_reasons[..i]);
            if dup.into_iter().any(|o| o.name == r.name) {
                return bad(format!("drop reason \"{}\" declared twice", r.name));
            }
        }
        for (i, m) in self.messages.iter().enumerate() {
            if self.messages[..i].iter().any(|o| o.name == m.name) {
                return bad(format!("message \"{}\" declared twice", m.name));
            }
        }
        Ok(())
    }
}

/// A registered type and where its graph-wide drop counters start.
#[derive(Debug, Clone, Copy)]
pub struct Registered {
    pub info: &'static TypeInfo,
    /// Index of its first graph-wide drop counter (engine reasons, then its own).
    pub drop_base: usize,
}

/// The types a graph can make, in registration order.
#[derive(Debug, Clone)]
pub struct Registry {
    control: &'static TypeInfo,
    types: Vec<Registered>,
    next_counter: usize,
}

impl Registry {
    /// A registry with only the type of the control node `.` (which every graph has).
    ///
    /// # Panics
    /// If `control` is a per-interface type ([`Create::Port`]).
    pub fn new(control: &'static TypeInfo) -> Registry {
        assert!(
            !matches!(control.create, Create::Port(_)),
            "the control node's type cannot be a per-interface type"
        );
        let mut r = Registry {
            control,
            types: Vec::new(),
            // The first counters are the engine's reasons for frames dropped outside any node.
            next_counter: DropReason::GENERIC,
        };
        r.register(control).expect("the first type fits");
        r
    }

    /// Adds a type. Fails if its name is taken (EEXIST, as ng_newtype), its descriptor
    /// declares a name twice, or the graph-wide drop counters are used up (ENOBUFS).
    pub fn register(&mut self, info: &'static TypeInfo) -> Result<(), GraphError> {
        if self.get(info.name).is_some() {
            return Err(GraphError::TypeExists(info.name));
        }
        info.check()?;
        let need = info.drop_counters();
        if self.next_counter + need > MAX_DROP_COUNTERS {
            return Err(GraphError::NoSpace(format!(
                "type {}: the graph-wide drop counters ({MAX_DROP_COUNTERS}) are used up",
                info.name
            )));
        }
        self.types.push(Registered {
            info,
            drop_base: self.next_counter,
        });
        self.next_counter += need;
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&'static TypeInfo> {
        self.entry(name).map(|e| e.info)
    }
    /// A type with where its graph-wide drop counters start.
    pub fn entry(&self, name: &str) -> Option<&Registered> {
        self.types.iter().find(|t| t.info.name == name)
    }
    /// Every type, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Registered> + '_ {
        self.types.iter()
    }
    /// Type names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.types.iter().map(|t| t.info.name).collect();
        v.sort_unstable();
        v
    }
    /// The control node's type.
    pub fn control(&self) -> &'static TypeInfo {
        self.control
    }
    /// The per-interface type (`ether`), if one is registered.
    pub fn port_type(&self) -> Option<&'static TypeInfo> {
        self.types
            .iter()
            .map(|t| t.info)
            .find(|t| matches!(t.create, Create::Port(_)))
    }
    /// Graph-wide drop counters in use (the engine's own, then every type's).
    pub fn drop_counters(&self) -> usize {
        self.next_counter
    }
}
