//! The helper XDP programs of `bpf/bench.bpf.c`: the generator's replay engine (BPF_PROG_RUN
//! with live frames), a counting sink, a pass program and the in-kernel redirect reference.
//! Attachments can be made inside a network namespace (the lab's far ends).

use crate::dataplane::afxdp::XdpMode;
use crate::errno::Errno;
use libbpf_rs::{MapCore, MapFlags, MapHandle, Object, ObjectBuilder, Xdp, XdpFlags};
use std::os::fd::{AsFd, OwnedFd};

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench.bpf.o"));

/// Flag for BPF_PROG_RUN: transmit the frames for real (Linux 5.18+).
pub const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = crate::sys::bpf::BPF_F_TEST_XDP_LIVE_FRAMES;

/// Counters of the helper programs.
pub mod stat {
    pub const SINK_FRAMES: u32 = 0;
    pub const SINK_OCTETS: u32 = 1;
    pub const REDIRECTS: u32 = 3;
}

/// Why a helper program could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {err}")]
pub struct XdpHelperError {
    pub what: String,
    pub err: String,
}

impl XdpHelperError {
    /// The errno: loading or attaching a program failed.
    pub fn errno(&self) -> Errno {
        Errno::EIO
    }
}

fn herr(what: impl Into<String>) -> impl FnOnce(libbpf_rs::Error) -> XdpHelperError {
    let w = what.into();
    move |e| XdpHelperError {
        what: w,
        err: e.to_string(),
    }
}

/// The loaded helper programs (one instance: its maps are shared by every attachment).
pub struct Helpers {
    obj: Object,
}

/// Runs `f` on a thread inside network namespace `ns` (or on this thread when None).
pub fn in_netns<T: Send + 'static>(
    ns: Option<&str>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, XdpHelperError> {
    match ns {
        None => Ok(f()),
        Some(ns) => {
            let ns = ns.to_string();
            std::thread::spawn(move || {
                crate::sys::netdev::enter_netns(&ns).map_err(|e| XdpHelperError {
                    what: format!("entering netns {ns}"),
                    err: e.to_string(),
                })?;
                Ok(f())
            })
            .join()
            .map_err(|_| XdpHelperError {
                what: "netns thread".into(),
                err: "panicked".into(),
            })?
        }
    }
}

/// A helper program attached to an interface; detached on drop.
pub struct Attachment {
    ns: Option<String>,
    ifindex: i32,
    flags: u32,
    fd: OwnedFd,
    pub ifname: String,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let (ifindex, flags) = (self.ifindex, self.flags);
        let fd = match self.fd.try_clone() {
            Ok(f) => f,
            Err(_) => return,
        };
        let _ = in_netns(self.ns.as_deref(), move || {
            let _ = Xdp::new(fd.as_fd()).detach(ifindex, XdpFlags::from_bits_truncate(flags));
        });
    }
}

impl Helpers {
    pub fn load() -> Result<Helpers, XdpHelperError> {
        let obj = ObjectBuilder::default()
            .open_memory(OBJECT)
            .map_err(herr("opening the helper XDP object"))?
            .load()
            .map_err(herr("loading the helper XDP programs (root? BPF enabled?)"))?;
        Ok(Helpers { obj })
    }

    fn prog_fd(&self, name: &str) -> Result<OwnedFd, XdpHelperError> {
        let p = self
            .obj
            .progs()
            .find(|p| p.name() == name)
            .ok_or_else(|| XdpHelperError {
                what: name.into(),
                err: "no such program".into(),
            })?;
        p.as_fd().try_clone_to_owned().map_err(|e| XdpHelperError {
            what: name.into(),
            err: e.to_string(),
        })
    }

    /// Attaches program `prog` to `ifname` (inside namespace `ns` if given).
    pub fn attach(
        &self,
        prog: &str,
        ns: Option<&str>,
        ifname: &str,
        mode: XdpMode,
    ) -> Result<Attachment, XdpHelperError> {
        let fd = self.prog_fd(prog)?;
        let fd2 = fd.try_clone().map_err(|e| XdpHelperError {
            what: "dup".into(),
            err: e.to_string(),
        })?;
        let name = ifname.to_string();
        let (ifindex, flags) = in_netns(ns, move || -> Result<(i32, u32), XdpHelperError> {
            let ifindex = crate::sys::netdev::ifindex(&name).map_err(|e| XdpHelperError {
                what: name.clone(),
                err: e.to_string(),
            })? as i32;
            let flags = match mode {
                XdpMode::Generic => XdpFlags::SKB_MODE,
                _ => XdpFlags::DRV_MODE,
            };
            let bits = flags.bits();
            Xdp::new(fd2.as_fd())
                .attach(ifindex, flags)
                .map_err(|e| XdpHelperError {
                    what: format!("attaching XDP to {name}"),
                    err: e.to_string(),
                })?;
            Ok((ifindex, bits))
        })??;
        Ok(Attachment {
            ns: ns.map(str::to_string),
            ifindex,
            flags,
            fd,
            ifname: ifname.into(),
        })
    }

    /// Sets the redirect program's target interface.
    pub fn set_redirect_target(&self, ifindex: u32) -> Result<(), XdpHelperError> {
        let m = self
            .obj
            .maps()
            .find(|m| m.name() == "cfg")
            .expect("cfg map");
        m.update(&0u32.to_ne_bytes(), &ifindex.to_ne_bytes(), MapFlags::ANY)
            .map_err(herr("setting the redirect target"))
    }

    /// A counter summed over CPUs.
    pub fn stat(&self, k: u32) -> u64 {
        let m = self
            .obj
            .maps()
            .find(|m| m.name() == "stats")
            .expect("stats map");
        crate::dataplane::afxdp::program::percpu_sum(&m, k)
    }

    /// Transmits `frame` `repeat` times out of interface `ifindex` (of the calling thread's
    /// namespace) with BPF_PROG_RUN live frames, in batches of `batch` (0: the kernel's 64).
    /// A signal to the calling thread ends it early (`ErrorKind::Interrupted`).
    pub fn replay(
        &self,
        ifindex: u32,
        frame: &[u8],
        repeat: u32,
        batch: u32,
    ) -> Result<(), std::io::Error> {
        let p = self
            .obj
            .progs()
            .find(|p| p.name() == "xdpgraph_gen_tx")
            .expect("gen program");
        // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex }
        let md: [u32; 6] = [0, frame.len() as u32, 0, ifindex, 0, 0];
        let mut ctx = [0u8; 24];
        for (i, w) in md.iter().enumerate() {
            ctx[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
        }
        crate::sys::bpf::run_xdp_live(p.as_fd(), frame, &mut ctx, repeat, batch)
    }

    /// The generator program's state (sequence, schedule), readable from any thread.
    pub fn gen_state(&self) -> Result<GenState, XdpHelperError> {
        let m = (self.obj.maps())
            .find(|m| m.name() == "genstate")
            .expect("genstate map");
        Ok(GenState(
            MapHandle::try_from(&m).map_err(herr("the generator's state map"))?,
        ))
    }
}

/// For a veth (in namespace `ns`): whether frames transmitted into it as XDP frames (the
/// replay engine's) reach its peer: the peer runs NAPI (a native XDP program, or GRO on;
/// `sys::veth`). None when `ifname` is not a veth or this cannot be told.
pub fn veth_peer_has_xdp(ns: Option<&str>, ifname: &str) -> Option<bool> {
    let name = ifname.to_string();
    // in the thread that entered `ns`: the peer's namespace is found relative to it
    in_netns(ns, move || {
        crate::sys::veth::redirect_target(&name).deliverable()
    })
    .ok()
    .flatten()
}

/// The generator program's state map (`struct gen_state`).
pub struct GenState(MapHandle);

impl GenState {
    /// (frames handed over since [`configure_gen`], when frame 0 went, when the last went
    /// (within 64 frames or a pacing group)), times in CLOCK_MONOTONIC ns.
    pub fn read(&self) -> (u64, u64, u64) {
        let v = (self
            .0
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten())
        .unwrap_or_else(|| vec![0; 24]);
        let w = |i: usize| u64::from_ne_bytes(v[i..i + 8].try_into().unwrap());
        (w(0), w(8), w(16))
    }
}

/// The generator program's settings (`struct gen_cfg` of `bpf/bench.bpf.c`).
#[derive(Debug, Clone, Copy, Default)]
pub struct GenProgConfig {
    /// Stamp each frame (sequence number and timestamp at `off`), vary flows over `flows`
    /// (IPv4 header at `ip_off`) and sizes; false: send the template unchanged.
    pub stamp: bool,
    pub off: u32,
    pub flows: u32,
    pub ip_off: u32,
    /// 0 (the template's), 1 (IMIX of `size[0..3]`, 7:4:1) or 2 (range `size[0]..=size[1]`),
    /// as frame lengths without FCS; the template must be the largest.
    pub sizes: u32,
    pub size: [u32; 3],
    /// Paced: every `pace_mask + 1`-th frame waits for its due time (a power of two less one).
    pub pace_mask: u32,
    /// Paced: nanoseconds between frames, times 2^16 (0: unpaced).
    pub interval_q: u64,
}

/// Configures the generator program and resets its sequence (and pacing schedule).
pub fn configure_gen(h: &Helpers, g: &GenProgConfig) -> Result<(), XdpHelperError> {
    let m = h
        .obj
        .maps()
        .find(|m| m.name() == "gencfg")
        .expect("gencfg map");
    let mut v: Vec<u8> = [
        g.stamp as u32,
        g.off,
        g.flows.max(1),
        g.ip_off,
        g.sizes,
        g.size[0],
        g.size[1],
        g.size[2],
        g.pace_mask,
        0,
    ]
    .iter()
    .flat_map(|x| x.to_ne_bytes())
    .collect();
    v.extend_from_slice(&g.interval_q.to_ne_bytes());
    m.update(&0u32.to_ne_bytes(), &v, MapFlags::ANY)
        .map_err(herr("configuring the generator"))?;
    let s = h
        .obj
        .maps()
        .find(|m| m.name() == "genstate")
        .expect("genstate map");
    s.update(&0u32.to_ne_bytes(), &[0u8; 24], MapFlags::ANY)
        .map_err(herr("resetting the sequence"))
}
