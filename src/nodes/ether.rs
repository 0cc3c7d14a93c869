//! `ether`: an interface (ng_ether). One per attached port, named after the interface.
//!
//! Hooks:
//! * `lower`: while connected, every frame the interface receives goes out `lower` (and the
//!   XDP program steers the interface's traffic to the graph); frames written to `lower` are
//!   transmitted, with the source MAC rewritten to the interface's when `autosrc` is on.
//! * `upper`: frames written to `upper` are delivered to the host stack as if received; frames
//!   the host sends out of the interface come out of `upper` instead of being transmitted.
//! * `orphans`: like `lower`, but only for frames the host would not accept (unicast to another
//!   MAC, unknown EtherType); others go to the host. At most one of `lower`/`orphans`.
//!
//! With no hook connected the interface works as usual. The node is persistent: `shutdown`
//! disconnects its hooks and resets its settings (autosrc on, promiscuity it set off).
//! Messages: `getifname`, `getifindex`, `getenaddr`, `setenaddr <mac>`, `getpromisc`,
//! `setpromisc <0|1>`, `getautosrc`, `setautosrc <0|1>`, `addmulti <mac>`, `delmulti <mac>`,
//! `getstats` (interface counters).
//! Drops: `runt` (written frame < 14 bytes), `port_down`, `tx_ring_full`, `no_port`,
//! `host_unavailable`, `tag_failed` (an out-of-band VLAN tag could not be written in-band).

use crate::buf::Frame;
use crate::graph::{
    BurstBox, Cx, DropReason, GraphError, HookCx, HookSpec, HookState, MsgCx, NodeType, Slot,
    SLOT_HOST, SLOT_WIRE,
};
use crate::port::{PortCtl, PortId};
use crate::value::Value;
use crate::wire::{EtherType, MacAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

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
}

const MSGS: &[&str] = &[
    "getifname",
    "getifindex",
    "getenaddr",
    "setenaddr",
    "getpromisc",
    "setpromisc",
    "getautosrc",
    "setautosrc",
    "addmulti",
    "delmulti",
    "getstats",
];

impl Ether {
    pub fn new(port: PortId, ctl: Arc<dyn PortCtl>) -> Ether {
        let mac = ctl.mac().to_u64();
        Ether {
            port,
            ctl,
            autosrc: AtomicBool::new(true),
            mac: AtomicU64::new(mac),
            set_promisc: AtomicBool::new(false),
        }
    }

    pub fn port(&self) -> PortId {
        self.port
    }

    fn transmit(&self, cx: &mut Cx<'_>, frames: &mut BurstBox) {
        // A vanished or downed interface: its frames are dropped, counted (checked per burst).
        if !self.ctl.is_up() {
            return cx.drop_all(frames, DropReason::PortDown);
        }
        let autosrc = self.autosrc.load(Relaxed);
        if !autosrc && frames.as_slice().iter().all(|f| f.len >= 14 && f.vtag == 0) {
            return cx.port_tx_burst(self.port, frames);
        }
        let mac = MacAddr::from_u64(self.mac.load(Relaxed));
        for mut f in frames.drain() {
            if f.len < 14 {
                cx.drop_frame(f, DropReason::Runt);
                continue;
            }
            if let Some(tci) = f.oob_tag() {
                f.vtag = 0;
                if cx
                    .pool()
                    .insert_vlan_tag(&mut f, EtherType::VLAN, tci)
                    .is_err()
                {
                    cx.drop_frame(f, DropReason::TagFailed);
                    continue;
                }
            }
            if autosrc {
                cx.data_mut(&f)[6..12].copy_from_slice(&mac.0);
            }
            cx.port_tx(self.port, f);
        }
    }

    /// Would the host stack accept this frame (ether_input's tests)?
    fn host_wants(&self, cx: &Cx<'_>, f: &Frame) -> bool {
        let d = cx.data(f);
        if d.len() < 14 {
            return false;
        }
        let dst = MacAddr::from_bytes(&d[0..6]);
        let ours =
            dst.is_multicast() || dst.to_u64() == self.mac.load(Relaxed) || self.ctl.promisc();
        let t = u16::from_be_bytes([d[12], d[13]]);
        let known = matches!(
            t,
            EtherType::IPV4 | EtherType::ARP | EtherType::IPV6 | EtherType::VLAN | EtherType::QINQ
        );
        ours && known
    }

    fn to_host(&self, cx: &mut Cx<'_>, frames: &mut BurstBox) {
        for f in frames.drain() {
            if f.len < 14 {
                cx.drop_frame(f, DropReason::Runt);
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
    let v = cx.need(cmd, arg, "0 or 1")?;
    Ok(v.int_in(cmd, 0, 1).map_err(|e| cx.bad(cmd, e.0))? == 1)
}

fn mac_arg(cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<MacAddr, GraphError> {
    let v = cx.need(cmd, arg, "aa:bb:cc:dd:ee:ff")?;
    v.as_mac()
        .ok_or_else(|| cx.bad(cmd, format!("expected a MAC address, got {v}")))
}

fn io_err(cx: &MsgCx<'_>, e: std::io::Error) -> GraphError {
    GraphError::Io(cx.node().to_string(), e.to_string())
}

impl NodeType for Ether {
    fn type_name(&self) -> &'static str {
        "ether"
    }
    fn persistent(&self) -> bool {
        true
    }
    fn new_hook(&self, name: &str, cx: &HookCx<'_>) -> Result<HookSpec, String> {
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
    fn messages(&self) -> &'static [&'static str] {
        MSGS
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        Ok(match cmd {
            "getifname" => {
                cx.none(cmd, arg)?;
                Some(Value::Str(self.ctl.ifname()))
            }
            "getifindex" => {
                cx.none(cmd, arg)?;
                Some(Value::Uint(self.ctl.ifindex() as u64))
            }
            "getenaddr" => {
                cx.none(cmd, arg)?;
                Some(Value::Mac(self.ctl.mac()))
            }
            "setenaddr" => {
                let m = mac_arg(cx, cmd, arg)?;
                if m.is_multicast() {
                    return Err(cx.bad(cmd, "a multicast address cannot be an interface address"));
                }
                self.ctl.set_mac(m).map_err(|e| io_err(cx, e))?;
                self.mac.store(m.to_u64(), Relaxed);
                None
            }
            "getpromisc" => {
                cx.none(cmd, arg)?;
                Some(Value::Int(self.ctl.promisc() as i64))
            }
            "setpromisc" => {
                let on = bool_arg(cx, cmd, arg)?;
                self.ctl.set_promisc(on).map_err(|e| io_err(cx, e))?;
                self.set_promisc.store(on, Relaxed);
                None
            }
            "getautosrc" => {
                cx.none(cmd, arg)?;
                Some(Value::Int(self.autosrc.load(Relaxed) as i64))
            }
            "setautosrc" => {
                self.autosrc.store(bool_arg(cx, cmd, arg)?, Relaxed);
                None
            }
            "addmulti" | "delmulti" => {
                let m = mac_arg(cx, cmd, arg)?;
                if !m.is_multicast() {
                    return Err(cx.bad(cmd, format!("{m} is not a multicast address")));
                }
                let r = if cmd == "addmulti" {
                    self.ctl.add_multi(m)
                } else {
                    self.ctl.del_multi(m)
                };
                r.map_err(|e| io_err(cx, e))?;
                None
            }
            "getstats" => {
                cx.none(cmd, arg)?;
                let mut f: Vec<(String, Value)> =
                    vec![("up".into(), Value::Int(self.ctl.is_up() as i64))];
                f.extend(
                    self.ctl
                        .counters()
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), Value::Uint(v))),
                );
                Some(Value::Struct(f))
            }
            _ => return Err(cx.unknown(cmd, MSGS)),
        })
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
