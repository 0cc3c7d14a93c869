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
    /// Frames the fast path forwarded (redirected to another interface).
    pub fast_path: u64,
    /// Frames whose source the fast path found on another link (left to the bridge).
    pub fast_path_moved: u64,
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
    /// The `steer` map's value (`struct steer`, bpf/fastpath.h): bits, bridge, link, slot.
    steer: std::sync::Mutex<[u32; 4]>,
}

/// `steer` bit: frames go to the queue's socket (else to the kernel).
const STEER_ON: u32 = 1;
/// `steer` bit: the fast path may forward this interface's frames (bpf/fastpath.h).
const STEER_FAST_PATH: u32 = 2;

/// What the fast path may do with an interface's own frames: its bridge, its link, its slot
/// (`struct steer` in bpf/fastpath.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastIngress {
    pub bridge: u32,
    pub link: u32,
    pub slot: u32,
}

fn fl(bits: u32) -> XdpFlags {
    XdpFlags::from_bits_truncate(bits)
}

pub(super) fn bpf_err(ifname: &str, what: &str) -> impl FnOnce(libbpf_rs::Error) -> AfxdpError {
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

/// The process that attached a copy of the program, as its `owner` map records it (written
/// before the program is attached). A pid with its start time names one process: whether the
/// owner still runs tells a live daemon's interface from one a killed daemon left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// `/proc/<pid>/stat` field 22.
    pub start_time: u64,
    /// Its PID namespace (inode of `/proc/<pid>/ns/pid`).
    pub pidns: u64,
    /// Its control socket ("" when it has none).
    pub socket: String,
}

/// Bytes of the socket path in the map value (`struct owner` in bpf/xdpgraph.bpf.c).
const OWNER_SOCKET: usize = 108;
const OWNER_SOCKET_AT: usize = 24;

impl Owner {
    /// This process, with its control socket.
    pub fn this_process(socket: Option<&str>) -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start_time: crate::sys::process::start_time(pid).unwrap_or(0),
            pidns: crate::sys::process::pid_namespace().unwrap_or(0),
            socket: socket.unwrap_or("").into(),
        }
    }

    /// The map value: `struct owner` (`size`: the map's value size).
    fn encode(&self, size: usize) -> Vec<u8> {
        let mut v = vec![0u8; size.max(OWNER_SOCKET_AT + OWNER_SOCKET)];
        v[0..4].copy_from_slice(&self.pid.to_ne_bytes());
        v[8..16].copy_from_slice(&self.start_time.to_ne_bytes());
        v[16..24].copy_from_slice(&self.pidns.to_ne_bytes());
        let s = self.socket.as_bytes();
        let n = s.len().min(OWNER_SOCKET - 1);
        v[OWNER_SOCKET_AT..OWNER_SOCKET_AT + n].copy_from_slice(&s[..n]);
        v.truncate(size);
        v
    }

    fn decode(v: &[u8]) -> Option<Owner> {
        let u64_at = |at: usize| Some(u64::from_ne_bytes(v.get(at..at + 8)?.try_into().ok()?));
        let sock = v.get(OWNER_SOCKET_AT..OWNER_SOCKET_AT + OWNER_SOCKET)?;
        let end = sock.iter().position(|b| *b == 0).unwrap_or(sock.len());
        Some(Owner {
            pid: u32::from_ne_bytes(v.get(0..4)?.try_into().ok()?),
            start_time: u64_at(8)?,
            pidns: u64_at(16)?,
            socket: String::from_utf8_lossy(&sock[..end]).into_owned(),
        })
    }

    /// Whether the owner still runs; None when this process cannot tell (another PID
    /// namespace).
    pub fn alive(&self) -> Option<bool> {
        let ours = crate::sys::process::pid_namespace().ok()?;
        (self.pidns == ours).then(|| crate::sys::process::alive(self.pid, self.start_time))
    }

    /// "pid N (control socket S)", for messages.
    pub fn describe(&self) -> String {
        let mut s = format!("pid {}", self.pid);
        if self.pidns != crate::sys::process::pid_namespace().unwrap_or(0) {
            s += " in another PID namespace";
        }
        if !self.socket.is_empty() {
            s += &format!(", control socket {}", self.socket);
        }
        s
    }
}

/// The owner recorded by attached program `prog_id` (None: it has no owner map).
pub fn owner_of(prog_id: u32) -> Option<Owner> {
    use libbpf_rs::query::{ProgInfoIter, ProgInfoQueryOptions};
    let opts = ProgInfoQueryOptions::default().include_map_ids(true);
    let info = ProgInfoIter::with_query_opts(opts).find(|p| p.id == prog_id)?;
    info.map_ids.iter().find_map(|&id| {
        let m = MapHandle::from_map_id(id).ok()?;
        if m.name() != "owner" {
            return None;
        }
        let v = m.lookup(&0u32.to_ne_bytes(), MapFlags::ANY).ok()??;
        Owner::decode(&v)
    })
}

/// Checks what is attached to `ifname` now, in any mode: nothing, or a copy of our program
/// whose owner is gone (detached here: reclaimed); a copy a live process holds, or any other
/// program, is an error and stays as it is.
fn clear_the_way(ifname: &str, ifindex: i32, fd: &impl AsFd) -> Result<(), AfxdpError> {
    for m in [XdpFlags::DRV_MODE.bits(), XdpFlags::SKB_MODE.bits()] {
        let Some((id, name)) = attached(ifindex, fl(m), fd) else {
            continue;
        };
        if name != PROG_NAME {
            return Err(AfxdpError::Busy {
                ifname: ifname.into(),
                name,
                id,
            });
        }
        let owner = owner_of(id);
        match owner.as_ref().map(|o| (o.alive(), o)) {
            Some((Some(false), o)) => {
                tracing::warn!(%ifname, id, owner = %o.describe(), "reclaiming the XDP program of an xdpgraph that is gone");
                Xdp::new(fd.as_fd())
                    .detach(ifindex, fl(m))
                    .map_err(bpf_err(ifname, "detaching the stale program"))?;
            }
            Some((_, o)) => {
                return Err(AfxdpError::Held {
                    ifname: ifname.into(),
                    holder: o.describe(),
                })
            }
            None => {
                return Err(AfxdpError::Held {
                    ifname: ifname.into(),
                    holder: format!(
                        "program id {id}, which has no owner record (an older xdpgraph?)"
                    ),
                })
            }
        }
    }
    Ok(())
}

impl XdpProgram {
    /// Loads a fresh copy of the program and attaches it to `ifname`, owned by this process
    /// ([`XdpProgram::attach_owned`]).
    pub fn attach(ifname: &str, mode: XdpMode) -> Result<XdpProgram, AfxdpError> {
        XdpProgram::attach_owned(ifname, mode, &Owner::this_process(None))
    }

    /// Loads a fresh copy of the program, records `owner` in it, and attaches it to `ifname`.
    /// A copy whose owner is gone (a killed run) is replaced; a copy a live process holds, and
    /// any other program, make this fail and are left alone.
    pub fn attach_owned(
        ifname: &str,
        mode: XdpMode,
        owner: &Owner,
    ) -> Result<XdpProgram, AfxdpError> {
        XdpProgram::attach_shared(ifname, mode, owner, None)
    }

    /// As [`XdpProgram::attach_owned`], with the fast path's maps shared (`fast`: the daemon's
    /// one copy) instead of this copy's own.
    pub fn attach_shared(
        ifname: &str,
        mode: XdpMode,
        owner: &Owner,
        fast: Option<&super::fastpath::FastPathMaps>,
    ) -> Result<XdpProgram, AfxdpError> {
        let ifindex =
            crate::sys::netdev::ifindex(ifname).map_err(super::io_ctx(ifname.to_string()))? as i32;
        let mtu = super::check_mtu(ifname, super::MAX_MTU)?;
        let mut open = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(bpf_err(ifname, "opening the XDP object"))?;
        if let Some(f) = fast {
            f.reuse_in(&mut open)
                .map_err(bpf_err(ifname, "sharing the fast path's maps"))?;
        }
        let obj = open.load().map_err(bpf_err(
            ifname,
            "loading the XDP program (are you root? is BPF enabled?)",
        ))?;
        {
            let m = obj.maps().find(|m| m.name() == "owner").expect("owner map");
            m.update(
                &0u32.to_ne_bytes(),
                &owner.encode(m.value_size() as usize),
                MapFlags::ANY,
            )
            .map_err(bpf_err(ifname, "writing the owner map"))?;
        }
        let prog = obj
            .progs()
            .find(|p| p.name() == PROG_NAME)
            .expect("program in object");
        let fd = prog.as_fd();
        clear_the_way(ifname, ifindex, &fd)?;
        let flags = attach_in_mode(ifname, ifindex, &fd, mode, mtu)?;
        let prog_id = attached(ifindex, fl(flags), &fd).map(|x| x.0).unwrap_or(0);
        let p = XdpProgram {
            obj,
            ifname: ifname.into(),
            ifindex,
            flags,
            prog_id,
            detached: false,
            steer: std::sync::Mutex::new([0; 4]),
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
        self.update_steer(|v| {
            v[0] = if on {
                v[0] | STEER_ON
            } else {
                v[0] & !STEER_ON
            };
        })
    }

    /// Lets the fast path forward this interface's frames as `f` says (None: it may not).
    pub fn set_fast_path(&self, f: Option<FastIngress>) -> Result<(), AfxdpError> {
        self.update_steer(|v| match f {
            Some(f) => *v = [v[0] | STEER_FAST_PATH, f.bridge, f.link, f.slot],
            None => *v = [v[0] & !STEER_FAST_PATH, 0, 0, 0],
        })
    }

    fn update_steer(&self, f: impl FnOnce(&mut [u32; 4])) -> Result<(), AfxdpError> {
        let mut cur = self.steer.lock().unwrap_or_else(|e| e.into_inner());
        let mut new = *cur;
        f(&mut new);
        let bytes: Vec<u8> = new.iter().flat_map(|w| w.to_ne_bytes()).collect();
        self.map("steer")
            .update(&0u32.to_ne_bytes(), &bytes, MapFlags::ANY)
            .map_err(bpf_err(&self.ifname, "updating the steer map"))?;
        *cur = new;
        Ok(())
    }

    pub fn steering(&self) -> bool {
        self.map("steer")
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .is_some_and(|v| v.first().is_some_and(|b| b & STEER_ON as u8 != 0))
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
            fast_path: get(3),
            fast_path_moved: get(4),
        }
    }
}

/// Attaches program `fd` in `mode` (auto: native, else generic); returns the mode's flags.
/// Fails when anything is attached meanwhile (a daemon starting at the same time: named).
fn attach_in_mode(
    ifname: &str,
    ifindex: i32,
    fd: &impl AsFd,
    mode: XdpMode,
    mtu: u32,
) -> Result<u32, AfxdpError> {
    let try_attach = |bits: u32| {
        Xdp::new(fd.as_fd())
            .attach(ifindex, fl(bits | XdpFlags::UPDATE_IF_NOEXIST.bits()))
            .map(|_| bits)
    };
    let (drv, skb) = (XdpFlags::DRV_MODE.bits(), XdpFlags::SKB_MODE.bits());
    let r = match mode {
        XdpMode::Native => try_attach(drv),
        XdpMode::Generic => try_attach(skb),
        XdpMode::Auto => try_attach(drv).or_else(|e| {
            tracing::info!(%ifname, "native XDP refused ({e}); using generic mode");
            try_attach(skb)
        }),
    };
    r.map_err(|e| {
        // someone attached meanwhile: say who
        if let Err(held) = clear_the_way(ifname, ifindex, fd) {
            return held;
        }
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
    })
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
