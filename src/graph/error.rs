//! Errors of graph edits and control messages. Each names what was wrong; `errno()` gives the
//! error number FreeBSD's netgraph (ng_base.c, the node types) returns for the same condition.

use crate::errno::Errno;
use std::borrow::Cow;

/// An edit or message the graph refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("no such node \"{0}\"")]
    NoNode(String),
    #[error("{node} has no hook \"{hook}\"")]
    NoHook { node: String, hook: String },
    /// `mkpeer` of a type nobody registered (ng_make_node: ENXIO).
    #[error("unknown node type \"{0}\" (known types: {1})")]
    UnknownType(String, String),
    /// A registered type `mkpeer` cannot make (ng_make_node without a constructor: EINVAL).
    #[error("{ty} nodes cannot be created: {why}")]
    NotCreatable { ty: &'static str, why: &'static str },
    /// `register_type` of a name already taken (ng_newtype: EEXIST).
    #[error("node type \"{0}\" is already registered")]
    TypeExists(&'static str),
    /// The node already has a hook of that name (ng_add_hook: EEXIST).
    #[error("hook \"{hook}\" of {node} is already connected")]
    HookExists { node: String, hook: String },
    /// `connect . . h h`: both ends would be the same hook (ng_con_nodes: EEXIST).
    #[error("cannot connect hook \"{hook}\" of {node} to itself")]
    HookToItself { node: String, hook: String },
    #[error("node type {ty} refuses hook \"{hook}\": {why}")]
    HookRefused {
        ty: &'static str,
        hook: String,
        why: HookError,
    },
    #[error("invalid hook name \"{0}\": {1}")]
    BadHookName(String, &'static str),
    #[error("invalid node name \"{0}\": {1}")]
    BadName(String, &'static str),
    #[error("name \"{0}\" is already in use")]
    NameInUse(String),
    #[error("bad path \"{0}\": {1}")]
    BadPath(String, String),
    #[error("unknown message \"{cmd}\" for {node} (messages: {known})")]
    UnknownMsg {
        node: String,
        cmd: String,
        known: String,
    },
    #[error("{node} {cmd}: {why}")]
    BadArg {
        node: String,
        cmd: String,
        why: String,
    },
    /// A setting the type knows and does not implement here (EOPNOTSUPP).
    #[error("{node} {cmd}: not supported: {why}")]
    NotSupported {
        node: String,
        cmd: String,
        why: String,
    },
    #[error("{0}: not connected")]
    NotConnected(String),
    #[error("{0}: already exists")]
    Exists(String),
    #[error("{0}: no such entry")]
    NotFound(String),
    /// A table or counter space is full.
    #[error("{0}")]
    NoSpace(String),
    /// Worker `id` cannot be made (out of range, or made already).
    #[error("worker {id} {why}")]
    Worker { id: usize, why: String },
    #[error("{0}")]
    Refused(String),
    #[error("{0}: {1}")]
    Io(String, String),
    /// A system call a node made for a message failed, or a condition netgraph reports
    /// with a specific error number (ksocket's EAFNOSUPPORT, ENOTCONN...).
    #[error("{node} {cmd}: {why}")]
    Errno {
        node: String,
        cmd: String,
        errno: Errno,
        why: String,
    },
}

impl GraphError {
    /// The errno netgraph returns for the same condition.
    pub fn errno(&self) -> Errno {
        match self {
            GraphError::NoNode(_) | GraphError::NoHook { .. } | GraphError::NotFound(_) => {
                Errno::ENOENT
            }
            GraphError::UnknownType(..) => Errno::ENXIO,
            GraphError::HookExists { .. }
            | GraphError::HookToItself { .. }
            | GraphError::TypeExists(_)
            | GraphError::Exists(_) => Errno::EEXIST,
            GraphError::HookRefused { why, .. } => why.errno(),
            GraphError::NameInUse(_) => Errno::EADDRINUSE,
            GraphError::NotConnected(_) => Errno::ENOTCONN,
            GraphError::NoSpace(_) => Errno::ENOBUFS,
            GraphError::Io(..) => Errno::EIO,
            GraphError::Errno { errno, .. } => *errno,
            GraphError::NotSupported { .. } => Errno::EOPNOTSUPP,
            GraphError::NotCreatable { .. }
            | GraphError::BadHookName(..)
            | GraphError::BadName(..)
            | GraphError::BadPath(..)
            | GraphError::UnknownMsg { .. }
            | GraphError::BadArg { .. }
            | GraphError::Worker { .. }
            | GraphError::Refused(_) => Errno::EINVAL,
        }
    }
}

/// Why a node type refuses a hook ([`NodeType::new_hook`](super::NodeType::new_hook)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// The type does not accept this hook here (a newhook method's EINVAL).
    #[error("{0}")]
    Refused(Cow<'static, str>),
    /// Every hook slot is taken.
    #[error("node has no free hook slot (limit {limit})")]
    NoSlot { limit: usize },
    /// Refused with a specific error number (eiface: EPFNOSUPPORT for a hook other than
    /// `ether`, EISCONN for a second one; ksocket: EPROTONOSUPPORT...).
    #[error("{1}")]
    Errno(Errno, Cow<'static, str>),
}

impl HookError {
    pub fn errno(&self) -> Errno {
        match self {
            HookError::Refused(_) => Errno::EINVAL,
            HookError::NoSlot { .. } => Errno::ENOBUFS,
            HookError::Errno(e, _) => *e,
        }
    }
}

impl From<&'static str> for HookError {
    fn from(s: &'static str) -> HookError {
        HookError::Refused(Cow::Borrowed(s))
    }
}

impl From<String> for HookError {
    fn from(s: String) -> HookError {
        HookError::Refused(Cow::Owned(s))
    }
}
