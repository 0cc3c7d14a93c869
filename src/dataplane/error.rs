//! Why the data plane refused something, with the errno `ctl` reports for it.

use crate::graph::GraphError;
use std::io;

/// A backend's own error (AF_XDP, DPDK, ...), carried by [`DataplaneError::Backend`].
pub trait BackendError: std::error::Error + Send + Sync + 'static {
    /// The errno's name for `ctl` (`"EBUSY"`, ...).
    fn errno(&self) -> &'static str;
}

/// Why the data plane refused something.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// The name is attached already (`what`: "interface xg0", "DPDK device net_null0").
    #[error("{0}: already exists")]
    Exists(String),
    /// Nothing of that name is attached.
    #[error("{0}: no such entry")]
    NotAttached(String),
    /// A bad setting (no cores, a core that does not exist, ...).
    #[error("{0}")]
    Invalid(String),
    /// Something this build or this backend cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// A worker could not be started or asked.
    #[error("{0}")]
    Worker(String),
    /// A worker refused an interface's port.
    #[error("{name}: worker {worker}: {source}")]
    Port {
        name: String,
        worker: usize,
        #[source]
        source: Box<DataplaneError>,
    },
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Backend(BackendFailure),
}

/// A backend's error in a [`DataplaneError`]: shows as the backend's error, with its source.
#[derive(Debug)]
pub struct BackendFailure(pub Box<dyn BackendError>);

impl std::fmt::Display for BackendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BackendFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl<E: BackendError> From<E> for DataplaneError {
    fn from(e: E) -> DataplaneError {
        DataplaneError::Backend(BackendFailure(Box::new(e)))
    }
}

impl DataplaneError {
    /// The errno's name `ctl` reports (`"EEXIST"`, ...).
    pub fn errno(&self) -> &'static str {
        match self {
            DataplaneError::Exists(_) => "EEXIST",
            DataplaneError::NotAttached(_) => "ENOENT",
            DataplaneError::Invalid(_) => "EINVAL",
            DataplaneError::Unsupported(_) => "EOPNOTSUPP",
            DataplaneError::Io { source, .. } => io_errno(source),
            DataplaneError::Worker(_) => "EIO",
            DataplaneError::Port { source, .. } => source.errno(),
            DataplaneError::Graph(e) => errno_name(e.errno()),
            DataplaneError::Backend(e) => e.0.errno(),
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> DataplaneError {
        let what = what.into();
        move |source| DataplaneError::Io { what, source }
    }
}

/// The errno name of an I/O error (EIO when it has no OS error number).
pub fn io_errno(e: &io::Error) -> &'static str {
    e.raw_os_error().map_or("EIO", errno_name)
}

/// The name of an errno value (the common ones; EIO for the rest).
pub fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EEXIST => "EEXIST",
        libc::ENOENT => "ENOENT",
        libc::EINVAL => "EINVAL",
        libc::EBUSY => "EBUSY",
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::ENOMEM => "ENOMEM",
        libc::ENODEV => "ENODEV",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOTCONN => "ENOTCONN",
        libc::EISCONN => "EISCONN",
        libc::ENXIO => "ENXIO",
        libc::ENETDOWN => "ENETDOWN",
        libc::E2BIG => "E2BIG",
        _ => "EIO",
    }
}
