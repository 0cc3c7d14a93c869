//! Errors of graph edits and control messages. Each names what was wrong; `errno()` gives the
//! netgraph error number a FreeBSD user would expect.

/// An edit or message the graph refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("no such node \"{0}\"")]
    NoNode(String),
    #[error("{node} has no hook \"{hook}\"")]
    NoHook { node: String, hook: String },
    #[error("unknown node type \"{0}\" (known types: {1})")]
    UnknownType(String, String),
    #[error("hook \"{hook}\" of {node} is already connected")]
    HookExists { node: String, hook: String },
    #[error("node type {ty} refuses hook \"{hook}\": {why}")]
    HookRefused {
        ty: &'static str,
        hook: String,
        why: String,
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
    #[error("{0}: not connected")]
    NotConnected(String),
    #[error("{0}: already exists")]
    Exists(String),
    #[error("{0}: no such entry")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}: {1}")]
    Io(String, String),
}

impl GraphError {
    /// The errno netgraph returns for the same condition.
    pub fn errno(&self) -> i32 {
        match self {
            GraphError::NoNode(_) | GraphError::NoHook { .. } | GraphError::NotFound(_) => {
                libc::ENOENT
            }
            GraphError::HookExists { .. } => libc::EISCONN,
            GraphError::NameInUse(_) => libc::EADDRINUSE,
            GraphError::Exists(_) => libc::EEXIST,
            GraphError::NotConnected(_) => libc::ENOTCONN,
            GraphError::Io(..) => libc::EIO,
            _ => libc::EINVAL,
        }
    }
}
