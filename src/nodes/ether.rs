//! `ether`: an interface (ng_ether). One per attached port, made by `Graph::attach_port` and
//! named after the interface.
//!
//! With no hook connected the interface works as usual. The node is persistent: `shutdown`
//! disconnects its hooks and resets its settings (autosrc on, promiscuity it set off).
//! Frames carrying an out-of-band VLAN tag are transmitted with the tag written in band.

use crate::buf::{Frame, VTAG_PRESENT};
use crate::graph::offload::{Offload, PortOffload};
use crate::graph::{
    BurstBox, Create, Cx, DropReason, GraphError, HookCx, HookError, HookSpec, HookState, MsgCx,
    MsgSpec, NodeType, Slot, TypeInfo, SLOT_HOST, SLOT_WIRE,
};
use crate::port::{PortCtl, PortId};
use crate::value::Value;
use crate::wire::{EtherType, EthernetFrame, MacAddr, ETHERNET_HEADER_LEN};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

crate::drop_reasons! {
    pub mod reason {
        /// A frame written to the node was shorter than an Ethernet header.
        RUNT = "runt": "shorter than an Ethernet header",
        /// An out-of-band VLAN tag could not be written in band.
        TAG_FAILED = "tag_failed": "a VLAN tag could not be inserted or removed (no room, truncated)",
    }
}

pub static TYPE: TypeInfo = TypeInfo {
    name: "ether",
    summary: "an attached interface (ng_ether); one per interface, named after it",
    hooks: "lower: while connected, every frame the interface receives goes out lower (the XDP \
            program steers the interface's traffic to the graph); frames written to lower are \
            transmitted, with the source MAC rewritten when autosrc is on. upper: frames \
            written to upper are delivered to the host stack as if received; frames the host \
            sends come out of upper instead of being transmitted. orphans: like lower, but only \
            frames the host would not accept (unicast to another MAC, unknown EtherType). At \
            most one of lower and orphans",
    messages: &[
        MsgSpec {
            name: "getifname",
            args: "",
            help: "the interface's name",
        },
        MsgSpec {
            name: "getifindex",
            args: "",
            help: "the interface's index",
        },
        MsgSpec {
            name: "getenaddr",
            args: "",
            help: "the interface's MAC address",
        },
        MsgSpec {
            name: "setenaddr",
            args: "<aa:bb:cc:dd:ee:ff>",
            help: "set the interface's MAC address (unicast)",
        },
        MsgSpec {
            name: "getpromisc",
            args: "",
            help: "1 if the interface is promiscuous",
        },
        MsgSpec {
            name: "setpromisc",
            args: "<0|1>",
            help: "switch promiscuous mode (what this node switched on goes off on shutdown)",
        },
        MsgSpec {
            name: "getautosrc",
            args: "",
            help: "1 if frames written to lower/orphans get the interface's source MAC",
        },
        MsgSpec {
            name: "setautosrc",
            args: "<0|1>",
            help: "rewrite the source MAC of frames written to lower/orphans (default 1)",
        },
        MsgSpec {
            name: "addmulti",
            args: "<aa:bb:cc:dd:ee:ff>",
            help: "join a multicast group",
        },
        MsgSpec {
            name: "delmulti",
            args: "<aa:bb:cc:dd:ee:ff>",
            help: "leave a multicast group",
        },
        MsgSpec {
            name: "getstats",
            args: "",
            help: "{ up ... }: interface counters (sysfs, XDP program, AF_XDP socket drops)",
        },
    ],
    hook_counters: &[],
    drop_reasons: reason::ALL,
    persistent: true,
    splice_on_shutdown: None,
    create: Create::Port(|_, port, ctl| Box::new(Ether::new(port, ctl))),
};

const LOWER: Slot = 0;
const UPPER: Slot = 1;
const ORPHANS: Slot = 2;

pub struct Ether {
    port: PortId,
    ctl: Arc<dyn PortCtl>,
    autosrc: AtomicBool,
    /// The interface MAC, for autosrc and the orphan test (low 48 bits).
    mac: AtomicU64,
    /// Promiscuity this node switched on (to switch off on reset).
    set_promisc: AtomicBool,
    /// The interface's promiscuity as last read (by `tick` and `setpromisc`): the orphans
    /// test reads this, not the interface, so no frame costs a syscall.
    promisc: AtomicBool,
}

impl Ether {
    pub fn new(port: PortId, ctl: Arc<dyn PortCtl>) -> Ether {
        let mac = ctl.mac().to_u64();
        let promisc = ctl.promisc();
        Ether {
            port,
            ctl,
            autosrc: AtomicBool::new(true),
            mac: AtomicU64::new(mac),
            set_promisc: AtomicBool::new(false),
            promisc: AtomicBool::new(promisc),
        }
    }

    fn transmit(&self, cx: &mut Cx<'_>, frames: &mut BurstBox) {
        // A vanished or downed interface: its frames are dropped, counted (checked per burst).
        if !self.ctl.is_up() {
            return cx.drop_all(frames, DropReason::PortDown);
        }
        let autosrc = self.autosrc.load(Relaxed);
        // one pass without branches over the burst: any runt, any out-of-band tag?
        let odd =
            |f: &Frame| ((f.len as usize) < ETHERNET_HEADER_LEN) as u32 | f.vtag & VTAG_PRESENT;
        let flags = frames.as_slice().iter().fold(0, |a, f| a | odd(f));
        if !autosrc && flags & (1 | VTAG_PRESENT) == 0 {
            return cx.port_tx_burst(self.port, frames);
        }
        let mac = MacAddr::from_u64(self.mac.load(Relaxed));
        for mut f in frames.drain() {
            if (f.len as usize) < ETHERNET_HEADER_LEN {
                cx.drop_frame(f, reason::RUNT);
                continue;
            }
            if let Some(tci) = f.oob_tag() {
                f.set_oob_tag(None);
                if cx
                    .pool()
                    .insert_vlan_tag(&mut f, EtherType::VLAN, tci)
                    .is_err()
                {
                    cx.drop_frame(f, reason::TAG_FAILED);
                    continue;
                }
            }
            if autosrc {
                EthernetFrame::new_unchecked(cx.data_mut(&f)).set_src_addr(mac);
            }
            cx.port_tx(self.port, f);
        }
    }

    /// Would the host stack accept this frame (ether_input's tests)?
    fn host_wants(&self, cx: &Cx<'_>, f: &Frame) -> bool {
        let Ok(eth) = EthernetFrame::new_checked(cx.data(f)) else {
            return false;
        };
        let dst = eth.dst_addr();
        let ours = dst.is_multicast()
            || dst.to_u64() == self.mac.load(Relaxed)
            || self.promisc.load(Relaxed);
        let known = matches!(
            eth.ethertype(),
            EtherType::IPV4 | EtherType::ARP | EtherType::IPV6 | EtherType::VLAN | EtherType::QINQ
        );
        ours && known
    }

    fn to_host(&self, cx: &mut Cx<'_>, frames: &mut BurstBox) {
        for f in frames.drain() {
            if (f.len as usize) < ETHERNET_HEADER_LEN {
                cx.drop_frame(f, reason::RUNT);
            } else {
                cx.host_tx(self.port, f);
            }
        }
    }

    fn steer(&self, cx: &MsgCx<'_>) {
        let want = cx.hook("lower").is_some() || cx.hook("orphans").is_some();
        if let Err(e) = self.ctl.set_steering(want) {
            tracing::warn!(iface = %self.ctl.ifname(), "cannot change steering: {e}");
        }
    }
}

fn bool_arg(cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<bool, GraphError> {
    let v = cx.need(cmd, arg)?;
    Ok(v.int_in(cmd, 0, 1).map_err(|e| cx.bad(cmd, e.0))? == 1)
}

fn mac_arg(cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<MacAddr, GraphError> {
    let v = cx.need(cmd, arg)?;
    v.as_mac()
        .ok_or_else(|| cx.bad(cmd, format!("expected a MAC address, got {v}")))
}

fn io_err(cx: &MsgCx<'_>, e: std::io::Error) -> GraphError {
    GraphError::Io(cx.node().to_string(), e.to_string())
}

impl Ether {
    /// The `get*` messages (no argument).
    fn get(&self, cx: &MsgCx<'_>, cmd: &str) -> Result<Value, GraphError> {
        Ok(match cmd {
            "getifname" => Value::Str(self.ctl.ifname()),
            "getifindex" => Value::Uint(self.ctl.ifindex() as u64),
            "getenaddr" => Value::Mac(self.ctl.mac()),
            "getpromisc" => Value::Int(self.ctl.promisc() as i64),
            "getautosrc" => Value::Int(self.autosrc.load(Relaxed) as i64),
            "getstats" => {
                let up = ("up".to_string(), Value::Int(self.ctl.is_up() as i64));
                let counters = self.ctl.counters().into_iter();
                let f = counters.map(|(k, v)| (k.to_string(), Value::Uint(v)));
                Value::Struct(std::iter::once(up).chain(f).collect())
            }
            _ => return Err(cx.unknown(cmd)),
        })
    }

    fn set_enaddr(&self, cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let m = mac_arg(cx, cmd, arg)?;
        if m.is_multicast() {
            return Err(cx.bad(cmd, "a multicast address cannot be an interface address"));
        }
        self.ctl.set_mac(m).map_err(|e| io_err(cx, e))?;
        self.mac.store(m.to_u64(), Relaxed);
        Ok(())
    }

    fn set_promisc(
        &self,
        cx: &MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<(), GraphError> {
        let on = bool_arg(cx, cmd, arg)?;
        self.ctl.set_promisc(on).map_err(|e| io_err(cx, e))?;
        self.set_promisc.store(on, Relaxed);
        self.promisc.store(self.ctl.promisc(), Relaxed);
        Ok(())
    }

    /// `addmulti` / `delmulti`.
    fn multi(&self, cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let m = mac_arg(cx, cmd, arg)?;
        if !m.is_multicast() {
            return Err(cx.bad(cmd, format!("{m} is not a multicast address")));
        }
        let r = if cmd == "addmulti" {
            self.ctl.add_multi(m)
        } else {
            self.ctl.del_multi(m)
        };
        r.map_err(|e| io_err(cx, e))
    }
}

impl NodeType for Ether {
    /// Re-reads the interface's promiscuity (someone may have run `ip link set promisc`).
    fn tick(&self, _cx: &mut MsgCx<'_>) {
        self.promisc.store(self.ctl.promisc(), Relaxed);
    }

    fn new_hook(&self, name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        let slot = match name {
            "lower" => LOWER,
            "upper" => UPPER,
            "orphans" => ORPHANS,
            _ => return Err("ether hooks are lower, upper, orphans".into()),
        };
        if (slot == LOWER && cx.slot_used(ORPHANS)) || (slot == ORPHANS && cx.slot_used(LOWER)) {
            return Err("at most one of lower and orphans may be connected".into());
        }
        Ok(HookSpec { slot, tag: 0 })
    }
    fn connected(&self, _hook: &HookState, cx: &mut MsgCx<'_>) {
        self.steer(cx);
    }
    fn disconnected(&self, _hook: &HookState, cx: &mut MsgCx<'_>) {
        self.steer(cx);
    }
    fn reset(&self) {
        self.autosrc.store(true, Relaxed);
        if self.set_promisc.swap(false, Relaxed) {
            let _ = self.ctl.set_promisc(false);
        }
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        match slot {
            SLOT_WIRE => {
                if cx.is_connected(LOWER) {
                    cx.forward(LOWER, frames);
                } else if cx.is_connected(ORPHANS) {
                    for f in frames.drain() {
                        if self.host_wants(cx, &f) {
                            cx.host_tx(self.port, f);
                        } else {
                            cx.send(ORPHANS, f);
                        }
                    }
                } else {
                    self.to_host(cx, frames);
                }
            }
            SLOT_HOST => {
                if cx.is_connected(UPPER) {
                    cx.forward(UPPER, frames);
                } else {
                    self.transmit(cx, frames);
                }
            }
            LOWER | ORPHANS => self.transmit(cx, frames),
            _ => self.to_host(cx, frames),
        }
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        match cmd {
            "setenaddr" => self.set_enaddr(cx, cmd, arg)?,
            "setpromisc" => self.set_promisc(cx, cmd, arg)?,
            "setautosrc" => self.autosrc.store(bool_arg(cx, cmd, arg)?, Relaxed),
            "addmulti" | "delmulti" => self.multi(cx, cmd, arg)?,
            _ => {
                cx.none(cmd, arg)?;
                return self.get(cx, cmd).map(Some);
            }
        }
        Ok(None)
    }
    fn offload(&self) -> Option<Offload<'_>> {
        Some(Offload::Port(self))
    }

    fn config_msgs(&self, _cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        let mut v = vec![(
            "setautosrc".to_string(),
            Some(Value::Int(self.autosrc.load(Relaxed) as i64)),
        )];
        if self.set_promisc.load(Relaxed) {
            v.push(("setpromisc".to_string(), Some(Value::Int(1))));
        }
        v
    }
}

impl PortOffload for Ether {
    fn tx_source(&self) -> Option<MacAddr> {
        self.autosrc
            .load(Relaxed)
            .then(|| MacAddr::from_u64(self.mac.load(Relaxed)))
    }
    fn port_lower(&self) -> (PortId, Slot) {
        (self.port, LOWER)
    }
    fn port_up(&self) -> bool {
        self.ctl.is_up()
    }
}
