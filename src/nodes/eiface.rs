//! `eiface`: a Linux TAP interface as a node (ng_eiface).
//!
//! `mkpeer ... eiface HOOK ether` creates the TAP `ngethN` (the lowest free N) and names the
//! node after it (`ngeth0:`). Hook: `ether` only (another name: EPFNOSUPPORT; a second one:
//! EISCONN). Frames written to `ether` are received by the host on ngethN (one write(2) per
//! frame, on the worker that carries it: the TAP is this node's output device, as a TX ring is
//! a port's); what the host sends on ngethN is read by the input worker and comes out of
//! `ether`. The interface is created down (frames written to it then are dropped, counted as
//! `down`); its carrier is on while `ether` is connected. The node outlives its hook;
//! `shutdown` removes the interface (its number is free again at once), and so does the
//! daemon's exit. Frames longer than a chunk (a jumbo MTU) are read as chained frames.
//!
//! Messages: `set XX:XX:XX:XX:XX:XX` (the interface's MAC), `getifname` (→ `"ngeth0"`).
//! Hook counters: `sent` (frames written to the TAP), `received` (frames read from it),
//! `errors` (writes the TAP refused). Drops: `down`, `write_error`, `rx_no_buffers`.

use crate::buf::io::{read_burst, write_frame};
use crate::buf::Burst;
use crate::errno::Errno;
use crate::graph::{
    hook_stat, BurstBox, Create, Cx, DropReason, GraphError, HookCx, HookError, HookSpec,
    HookState, MsgCx, MsgSpec, NodeType, Slot, TypeInfo,
};
use crate::sys::netdev::{self, Tap};
use crate::value::Value;
use crate::wire::EtherType;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

crate::drop_reasons! {
    pub mod reason {
        /// A frame written while the interface is down (the TAP refuses it: EIO).
        DOWN = "down": "the interface is down: frames written to it are dropped",
        /// The TAP refused a frame for another reason.
        WRITE_ERROR = "write_error": "the TAP refused the frame (write failed)",
        /// A frame the host sent did not fit the pool (a jumbo frame as a chain).
        RX_NO_BUFFERS = "rx_no_buffers": "a frame read from the TAP did not fit the pool",
        /// An out-of-band VLAN tag could not be written in band.
        TAG_FAILED = "tag_failed": "a VLAN tag could not be inserted (no room)",
    }
}

/// Interface names are `ngeth0` ... `ngeth4095`.
const PREFIX: &str = "ngeth";
const MAX_UNIT: u32 = 4095;
const ETHER: Slot = 0;
/// Hook counters after the generic ones.
const SENT: usize = hook_stat::GENERIC;
const RECEIVED: usize = hook_stat::GENERIC + 1;
const ERRORS: usize = hook_stat::GENERIC + 2;
/// How long `shutdown` waits for the interface to go.
const GONE_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
/// Ethernet header + one VLAN tag + FCS room beyond the MTU, as the ports count it.
const OVER_MTU: usize = 22;

pub static TYPE: TypeInfo = TypeInfo {
    name: "eiface",
    summary: "a Linux TAP interface ngethN as a node (ng_eiface)",
    hooks: "ether: frames written to it are received by the host on the interface; frames the \
            host sends on it come out of ether (the only hook: another name is refused with \
            EPFNOSUPPORT, a second one with EISCONN)",
    messages: &[
        MsgSpec {
            name: "set",
            args: "<aa:bb:cc:dd:ee:ff>",
            help: "set the interface's MAC address",
        },
        MsgSpec {
            name: "getifname",
            args: "",
            help: "the interface's name (\"ngeth0\")",
        },
    ],
    hook_counters: &["sent", "received", "errors"],
    drop_reasons: reason::ALL,
    persistent: true,
    splice_on_shutdown: None,
    create: Create::Open(|_| Ok(Box::new(Eiface::open()?))),
};

pub struct Eiface {
    tap: Tap,
    /// Longest frame read from the TAP (its MTU + headers), re-read by `tick`.
    max_len: AtomicUsize,
    gone: AtomicBool,
}

impl Eiface {
    /// Creates `ngethN` (lowest free N), down, carrier off.
    pub fn open() -> Result<Eiface, GraphError> {
        let err = |e: std::io::Error| GraphError::Errno {
            node: "eiface".into(),
            cmd: "mkpeer".into(),
            errno: Errno::of_io(&e),
            why: format!("cannot create a TAP interface: {e}"),
        };
        let tap = Tap::create_numbered(PREFIX, MAX_UNIT).map_err(err)?;
        let _ = tap.set_carrier(false);
        let mtu = netdev::mtu(&tap.name).unwrap_or(1500) as usize;
        Ok(Eiface {
            tap,
            max_len: AtomicUsize::new(mtu + OVER_MTU),
            gone: AtomicBool::new(false),
        })
    }

    /// The interface's name.
    pub fn ifname(&self) -> &str {
        &self.tap.name
    }

    fn write_burst(&self, cx: &mut Cx<'_>, frames: &mut BurstBox) {
        let (mut sent, mut errors) = (0u64, 0u64);
        for mut f in frames.drain() {
            if let Some(tci) = f.oob_tag() {
                f.set_oob_tag(None);
                if (cx.pool().insert_vlan_tag(&mut f, EtherType::VLAN, tci)).is_err() {
                    cx.drop_frame(f, reason::TAG_FAILED);
                    continue;
                }
            }
            match write_frame(cx.pool(), &f, |iov| self.tap.write_vectored(iov)) {
                Ok(()) => {
                    cx.pool().free(f);
                    sent += 1;
                }
                Err(e) if e.raw_os_error() == Some(libc::EIO) => cx.drop_frame(f, reason::DOWN),
                Err(_) => {
                    errors += 1;
                    cx.drop_frame(f, reason::WRITE_ERROR);
                }
            }
        }
        if let Some(h) = cx.hook(ETHER) {
            cx.count(h, SENT, sent);
            cx.count(h, ERRORS, errors);
        }
        cx.delivered(sent);
    }

    fn carrier(&self, on: bool) {
        if let Err(e) = self.tap.set_carrier(on) {
            tracing::warn!(iface = %self.tap.name, "cannot switch the carrier: {e}");
        }
    }
}

fn refuse(errno: Errno, why: &'static str) -> HookError {
    HookError::Errno(errno, why.into())
}

impl NodeType for Eiface {
    fn new_hook(&self, name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        if name != "ether" {
            return Err(refuse(Errno::EPFNOSUPPORT, "eiface has one hook: ether"));
        }
        if cx.slot_used(ETHER) {
            return Err(refuse(Errno::EISCONN, "eiface's ether hook is connected"));
        }
        Ok(HookSpec {
            slot: ETHER,
            tag: 0,
        })
    }

    fn connected(&self, _hook: &HookState, _cx: &mut MsgCx<'_>) {
        self.carrier(true);
    }

    fn disconnected(&self, _hook: &HookState, _cx: &mut MsgCx<'_>) {
        if !self.gone.load(Relaxed) {
            self.carrier(false);
        }
    }

    fn rcv(&self, cx: &mut Cx<'_>, _slot: Slot, frames: &mut BurstBox) {
        if self.gone.load(Relaxed) {
            return cx.drop_all(frames, DropReason::NodeGone);
        }
        self.write_burst(cx, frames);
    }

    fn input_fd(&self) -> Option<RawFd> {
        Some(self.tap.fd())
    }

    fn input(&self, cx: &mut Cx<'_>) -> usize {
        let mut b = Burst::new();
        let max = self.max_len.load(Relaxed);
        // a read of 0 bytes is the retired descriptor (/dev/null) of a node being removed
        let st = read_burst(cx.pool(), &mut b, max, |iov| {
            self.tap.read_vectored(iov).filter(|&n| n > 0)
        });
        if let Some(h) = cx.hook(ETHER) {
            cx.count(h, RECEIVED, st.frames as u64);
        }
        cx.lost(reason::RX_NO_BUFFERS, st.no_buffers as u64);
        for f in b.drain() {
            cx.send(ETHER, f);
        }
        st.reads()
    }

    fn default_name(&self) -> Option<String> {
        Some(self.tap.name.clone())
    }

    /// The TAP goes when the last reference to it does: a worker inside read(2) or waiting
    /// in poll(2) holds one for a moment (poll at most 1 ms). So wait (bounded) until the
    /// interface is gone: `shutdown` returns with its number free for the next eiface.
    fn shutdown(&self) {
        self.gone.store(true, Relaxed);
        if let Err(e) = self.tap.retire() {
            tracing::warn!(iface = %self.tap.name, "cannot remove the interface: {e}");
            return;
        }
        let until = std::time::Instant::now() + GONE_WAIT;
        // gone from sysfs too: the last step of the kernel's unregistering
        while netdev::exists(&self.tap.name) && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    fn tick(&self, _cx: &mut MsgCx<'_>) {
        if let Ok(mtu) = netdev::mtu(&self.tap.name) {
            self.max_len.store(mtu as usize + OVER_MTU, Relaxed);
        }
    }

    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        match cmd {
            "set" => {
                let v = cx.need(cmd, arg)?;
                let m = v
                    .as_mac()
                    .ok_or_else(|| cx.bad(cmd, format!("expected a MAC address, got {v}")))?;
                if m.is_multicast() {
                    return Err(cx.bad(cmd, "a multicast address cannot be an interface's"));
                }
                netdev::set_mac(&self.tap.name, m).map_err(|e| GraphError::Errno {
                    node: cx.node().to_string(),
                    cmd: cmd.to_string(),
                    errno: Errno::of_io(&e),
                    why: e.to_string(),
                })?;
                Ok(None)
            }
            "getifname" => {
                cx.none(cmd, arg)?;
                Ok(Some(Value::Str(self.tap.name.clone())))
            }
            _ => Err(cx.unknown(cmd)),
        }
    }

    /// For `ctl save`: the interface's MAC (the kernel picked a random one if `set` was not
    /// sent; saving it keeps the host's view across a restart).
    fn config_msgs(&self, _cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        match netdev::mac(&self.tap.name) {
            Ok(m) => vec![("set".into(), Some(Value::Mac(m)))],
            Err(_) => Vec::new(),
        }
    }

    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        (!used("ether")).then(|| "ether".to_string())
    }
}
