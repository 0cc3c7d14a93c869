//! The AF_XDP backend: the XDP program that steers frames, the per-interface port control,
//! and the per-queue socket ports.
//!
//! * [`backend`]: [`AfxdpBackend`], which attaches Linux interfaces (any name no other backend
//!   claims), and [`AfxdpIface`], an attached interface: its program, its queues spread over
//!   the workers, its TAP mirror.
//! * [`program`]: loads `bpf/xdpgraph.bpf.c` (built by build.rs) with libbpf-rs, attaches it in
//!   native or generic mode, flips steering through its `steer` map, registers sockets in its
//!   `xsks` map, and detaches on drop. Each copy records its owner (pid, start time, control
//!   socket) in its `owner` map: a copy whose owner is gone (a killed run) is replaced, a copy
//!   a live daemon holds is refused with the holder named, a foreign program is never touched.
//! * [`iface`]: [`IfaceCtl`], the [`PortCtl`](crate::port::PortCtl) of a real interface:
//!   MAC, promiscuity, multicast, link state, counters, steering, and its TAP mirror.
//! * [`port`]: [`XskPort`], the [`Port`](crate::port::Port) of one (interface, queue) on one
//!   worker, over the worker's shared UMEM.
//! * [`fastpath`]: the XDP fast path for learned bridge flows: the maps every copy of the
//!   program shares, and the management thread's [`FastPath`] that keeps them in step with
//!   the graph.
//! * [`l2fwd`]: the bare forwarding loop over the same sockets (the benchmarks' reference).
//!
//! Frames live in page-sized chunks after [`HEADROOM`](crate::frame::HEADROOM) bytes, the
//! kernel's `XDP_PACKET_HEADROOM` (the frame ABI, [`crate::frame`]).

pub mod backend;
pub mod fastpath;
pub mod iface;
pub mod l2fwd;
pub mod port;
pub mod program;
mod sg;

pub use backend::{tap_name, AfxdpBackend, AfxdpIface};
pub use fastpath::{FastPath, FastPathMaps, FastPort};
pub use iface::IfaceCtl;
pub use port::{QueueStats, SocketConfig, Umem, XskPort};
pub use program::{FastIngress, Owner, XdpMode, XdpProgram};

use crate::dataplane::BackendError;
use crate::errno::Errno;
use crate::frame::{max_chained_mtu, CHUNK_SIZE};
use std::io;

/// Largest MTU the AF_XDP data plane carries: a frame of up to [`crate::frame::MAX_SEGMENTS`]
/// page-sized chunks (multi-buffer, `XDP_USE_SG`), a VLAN tag kept: 18 × (4096 − 256) − 18.
pub const MAX_MTU: u32 = max_chained_mtu(CHUNK_SIZE);
/// Largest MTU veth accepts for native XDP without multi-buffer (`xdp.frags`) support.
pub const VETH_NATIVE_MAX_MTU: u32 = 3506;

/// The MTU of `ifname`, or [`AfxdpError::Mtu`] when its frames would not fit chunks made for
/// an MTU of `max`.
pub fn check_mtu(ifname: &str, max: u32) -> Result<u32, AfxdpError> {
    let mtu = crate::sys::netdev::mtu(ifname).map_err(io_ctx(format!("{ifname}: reading MTU")))?;
    if mtu > max {
        return Err(AfxdpError::Mtu {
            ifname: ifname.into(),
            mtu,
            max,
            why: if max == MAX_MTU {
                "a frame of 18 buffers, the kernel's most for one AF_XDP frame"
            } else {
                "one buffer of a DPDK frame area: beside DPDK devices, AF_XDP interfaces take \
                 no multi-buffer frames"
            },
        });
    }
    Ok(mtu)
}

/// Why the AF_XDP data plane could not do something.
#[derive(Debug, thiserror::Error)]
pub enum AfxdpError {
    #[error("{0}: {1}")]
    Io(String, #[source] io::Error),
    #[error("{ifname}: {what}: {err}")]
    Bpf {
        ifname: String,
        what: String,
        err: String,
    },
    #[error(
        "{ifname}: MTU {mtu} is larger than xdpgraph's AF_XDP frames carry ({max}): {why}; \
         lower it (ip link set {ifname} mtu {max})"
    )]
    Mtu {
        ifname: String,
        mtu: u32,
        max: u32,
        why: &'static str,
    },
    #[error(
        "{ifname}: another XDP program is attached ({name}, id {id}); xdpgraph will not replace \
         a program it did not attach (detach it with: ip link set {ifname} xdp off)"
    )]
    Busy {
        ifname: String,
        name: String,
        id: u32,
    },
    /// Another xdpgraph holds the interface: a live process (or one this process cannot see)
    /// owns the program attached there.
    #[error(
        "{ifname} is in use by another xdpgraph ({holder}); it was left as it is (stop that \
         daemon, or detach {ifname} from it, first)"
    )]
    Held { ifname: String, holder: String },
    #[error("{ifname}: {why}")]
    Queues { ifname: String, why: String },
    #[error("xdp mode must be auto, native or generic, not {0:?}")]
    Mode(String),
}

impl AfxdpError {
    /// The errno `ctl` reports for it.
    pub fn errno(&self) -> Errno {
        match self {
            AfxdpError::Io(_, e) => Errno::of_io(e),
            AfxdpError::Bpf { .. } => Errno::EIO,
            AfxdpError::Mtu { .. } | AfxdpError::Queues { .. } | AfxdpError::Mode(_) => {
                Errno::EINVAL
            }
            AfxdpError::Busy { .. } | AfxdpError::Held { .. } => Errno::EBUSY,
        }
    }
}

impl BackendError for AfxdpError {
    fn errno(&self) -> Errno {
        AfxdpError::errno(self)
    }
}

pub(crate) fn io_ctx(what: impl Into<String>) -> impl FnOnce(io::Error) -> AfxdpError {
    let w = what.into();
    move |e| AfxdpError::Io(w, e)
}

/// Number of RX queues of an interface of this thread's namespace (ETHTOOL_GCHANNELS; sysfs
/// as a fallback).
pub fn rx_queues(ifname: &str) -> io::Result<u32> {
    // ethtool answers for this thread's namespace (a generator's receiver enters the sink's);
    // /sys only for the namespace it was mounted in: the fallback, for drivers that report no
    // channels
    if let Ok(Some(n)) = crate::sys::veth::active_rx_queues(ifname) {
        return Ok(n);
    }
    let n = std::fs::read_dir(format!("/sys/class/net/{ifname}/queues"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count();
    Ok(n as u32)
}
