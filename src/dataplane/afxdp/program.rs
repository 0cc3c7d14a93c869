//! The XDP program: load, attach, steer, detach.

use super::AfxdpError;
use libbpf_rs::{MapCore, MapFlags, MapHandle, Object, ObjectBuilder, Xdp, XdpFlags};
use std::os::fd::AsFd;

/// The compiled program (build.rs).
static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xdpgraph.bpf.o"));
/// The program's name, by which a stale copy is recognised.
pub const PROG_NAME: &str = "xdpgraph_steer";

/// How to attach (`--xdp-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpMode {
    /// Native if the driver supports it, else generic.
    #[default]
    Auto,
    Native,
    Generic,
}

impl std::str::FromStr for XdpMode {
    type Err = AfxdpError;
    fn from_str(s: &str) -> Result<Self, AfxdpError> {
        match s {
            "auto" => Ok(XdpMode::Auto),
            "native" | "drv" => Ok(XdpMode::Native),
            "generic" | "skb" => Ok(XdpMode::Generic),
            _ => Err(AfxdpError::Mode(s.into())),
        }
    }
}

/// Counters kept by the program (per CPU, summed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgStats {
    /// Frames given to the kernel (steering off).
    pub pass: u64,
    /// Frames redirected to an AF_XDP socket.
    pub redirect: u64,
    /// Frames passed because their queue had no socket while steering was on.
    pub no_socket: u64,
}

/// The program attached to one interface. Detached on drop.
pub struct XdpProgram {
    obj: Object,
    ifname: String,
    ifindex: i32,
    /// XdpFlags bits of the mode attached in.
    flags: u32,
    prog_id: u32,
    detached: bool,
}

fn fl(bits: u32) -> XdpFlags {
    XdpFlags::from_bits_truncate(bits)
}

fn bpf_err(ifname: &str, what: &str) -> impl FnOnce(libbpf_rs::Error) -> AfxdpError {
    let (i, w) = (ifname.to_string(), what.to_string());
    move |e| AfxdpError::Bpf {
        ifname: i,
        what: w,
        err: e.to_string(),
    }
}

/// The (id, name) of the XDP program attached to `ifindex` in `flags`' mode, if any.
fn attached(ifindex: i32, flags: XdpFlags, any: &impl AsFd) -> Option<(u32, String)> {
    let id = Xdp::new(any.as_fd())
        .query_id(ifindex, flags)
        .ok()
        .filter(|id| *id != 0)?;
    let name = libbpf_rs::query::ProgInfoIter::default()
        .find(|p| p.id == id)
        .map(|p| p.name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "?".into());
    Some((id, name))
}

impl XdpProgram {
    /// Loads a fresh copy of the program and attaches it to `ifname`. A copy left by an earlier
    /// run is replaced; any other program makes this fail.
    pub fn attach(ifname: &str, mode: XdpMode) -> Result<XdpProgram, AfxdpError> {
        let ifindex =
            crate::sys::netdev::ifindex(ifname).map_err(super::io_ctx(ifname.to_string()))? as i32;
        let mtu = super::check_mtu(ifname, super::MAX_MTU)?;
        let obj = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(bpf_err(ifname, "opening the XDP object"))?
            .load()
            .map_err(bpf_err(
                ifname,
                "loading the XDP program (are you root? is BPF enabled?)",
            ))?;
        let prog = obj
            .progs()
            .find(|p| p.name() == PROG_NAME)
            .expect("program in object");
        let fd = prog.as_fd();
        // Whatever is attached now, in any mode.
        for m in [XdpFlags::DRV_MODE.bits(), XdpFlags::SKB_MODE.bits()] {
            if let Some((id, name)) = attached(ifindex, fl(m), &fd) {
                if name == PROG_NAME {
                    tracing::warn!(%ifname, id, "replacing an xdpgraph XDP program left by an earlier run");
                    Xdp::new(fd)
                        .detach(ifindex, fl(m))
                        .map_err(bpf_err(ifname, "detaching the stale program"))?;
                } else {
                    return Err(AfxdpError::Busy {
                        ifname: ifname.into(),
                        name,
                        id,
                    });
                }
            }
        }
        let try_attach = |bits: u32| {
            Xdp::new(fd)
                .attach(ifindex, fl(bits | XdpFlags::UPDATE_IF_NOEXIST.bits()))
                .map(|_| bits)
        };
        let (drv, skb) = (XdpFlags::DRV_MODE.bits(), XdpFlags::SKB_MODE.bits());
        let flags = match mode {
            XdpMode::Native => try_attach(drv),
            XdpMode::Generic => try_attach(skb),
            XdpMode::Auto => try_attach(drv).or_else(|e| {
                tracing::info!(%ifname, "native XDP refused ({e}); using generic mode");
                try_attach(skb)
            }),
        }
        .map_err(|e| {
            let hint = if mtu > super::VETH_NATIVE_MAX_MTU {
                format!(
                    " (MTU {mtu}: veth's native XDP needs {} or less)",
                    super::VETH_NATIVE_MAX_MTU
                )
            } else {
                String::new()
            };
            AfxdpError::Bpf {
                ifname: ifname.into(),
                what: format!("attaching XDP{hint}"),
                err: e.to_string(),
            }
        })?;
        let prog_id = attached(ifindex, fl(flags), &fd).map(|x| x.0).unwrap_or(0);
        let p = XdpProgram {
            obj,
            ifname: ifname.into(),
            ifindex,
            flags,
            prog_id,
            detached: false,
        };
        p.set_steering(false)?;
        Ok(p)
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }
    pub fn ifindex(&self) -> u32 {
        self.ifindex as u32
    }
    /// "native" or "generic".
    pub fn mode(&self) -> &'static str {
        if fl(self.flags).contains(XdpFlags::SKB_MODE) {
            "generic"
        } else {
            "native"
        }
    }
    pub fn prog_id(&self) -> u32 {
        self.prog_id
    }

    fn map(&self, name: &str) -> libbpf_rs::Map<'_> {
        self.obj
            .maps()
            .find(|m| m.name() == name)
            .expect("map in object")
    }

    /// Steers received frames to the sockets (`true`) or to the kernel.
    pub fn set_steering(&self, on: bool) -> Result<(), AfxdpError> {
        self.map("steer")
            .update(
                &0u32.to_ne_bytes(),
                &(on as u32).to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(bpf_err(&self.ifname, "updating the steer map"))
    }

    pub fn steering(&self) -> bool {
        self.map("steer")
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .is_some_and(|v| v.first() == Some(&1))
    }

    /// An owned handle on the `xsks` map, for workers to register their sockets.
    pub fn xsks(&self) -> Result<MapHandle, AfxdpError> {
        MapHandle::try_from(&self.map("xsks"))
            .map_err(bpf_err(&self.ifname, "duplicating the xsks map"))
    }

    pub fn stats(&self) -> ProgStats {
        let m = self.map("stats");
        let get = |k: u32| percpu_sum(&m, k);
        ProgStats {
            pass: get(0),
            redirect: get(1),
            no_socket: get(2),
        }
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        self.detach();
    }
}

impl XdpProgram {
    /// Detaches the program now (idempotent). Only our own copy is detached: the interface may
    /// be gone, or someone may have replaced the program.
    pub fn detach(&mut self) {
        if std::mem::replace(&mut self.detached, true) {
            return;
        }
        let prog = self
            .obj
            .progs()
            .find(|p| p.name() == PROG_NAME)
            .expect("program");
        let fd = prog.as_fd();
        // Detach only our own copy (the interface may be gone, or someone replaced it).
        match attached(self.ifindex, fl(self.flags), &fd) {
            Some((id, _)) if id == self.prog_id => {
                if let Err(e) = Xdp::new(fd).detach(self.ifindex, fl(self.flags)) {
                    tracing::warn!(ifname = %self.ifname, "detaching XDP: {e}");
                }
            }
            _ => {}
        }
    }
}

/// A per-CPU u64 counter of a BPF array map, summed over CPUs (0 when it cannot be read).
pub fn percpu_sum(m: &impl MapCore, key: u32) -> u64 {
    m.lookup_percpu(&key.to_ne_bytes(), MapFlags::ANY)
        .ok()
        .flatten()
        .map(|v| {
            v.iter()
                .map(|c| u64::from_ne_bytes(c[..8].try_into().unwrap()))
                .sum()
        })
        .unwrap_or(0)
}

/// Registers socket `fd` for `queue` in an `xsks` map.
pub fn register_socket(xsks: &MapHandle, queue: u32, fd: i32) -> Result<(), libbpf_rs::Error> {
    xsks.update(
        &queue.to_ne_bytes(),
        &(fd as u32).to_ne_bytes(),
        MapFlags::ANY,
    )
}

/// Removes `queue`'s socket from an `xsks` map.
pub fn unregister_socket(xsks: &MapHandle, queue: u32) {
    let _ = xsks.delete(&queue.to_ne_bytes());
}
