//! Why the data plane refused something, with the errno `ctl` reports for it.

use crate::errno::Errno;
use crate::graph::GraphError;
use std::io;

/// A backend's own error (AF_XDP, DPDK, ...), carried by [`DataplaneError::Backend`].
pub trait BackendError: std::error::Error + Send + Sync + 'static {
    /// The errno `ctl` reports for it.
    fn errno(&self) -> Errno;
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
    /// The errno `ctl` reports for it.
    pub fn errno(&self) -> Errno {
        match self {
            DataplaneError::Exists(_) => Errno::EEXIST,
            DataplaneError::NotAttached(_) => Errno::ENOENT,
            DataplaneError::Invalid(_) => Errno::EINVAL,
            DataplaneError::Unsupported(_) => Errno::EOPNOTSUPP,
            DataplaneError::Io { source, .. } => Errno::of_io(source),
            DataplaneError::Worker(_) => Errno::EIO,
            DataplaneError::Port { source, .. } => source.errno(),
            DataplaneError::Graph(e) => e.errno(),
            DataplaneError::Backend(e) => e.0.errno(),
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> DataplaneError {
        let what = what.into();
        move |source| DataplaneError::Io { what, source }
    }
}
