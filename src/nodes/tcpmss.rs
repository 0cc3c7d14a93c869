//! `tcpmss`: lowers the MSS option of TCP SYN segments (ng_tcpmss).
//!
//! Hooks: any name. A hook is unconfigured until a `config` message names it as `inHook`;
//! frames from an unconfigured hook are dropped (`unconfigured`, and not counted, as in
//! ng_tcpmss). Frames from an `inHook` go out its `outHook` (which may be the same hook). When
//! an `outHook` is disconnected, the hooks that sent to it are unconfigured again (their
//! `maxMSS` stays, for `getstats`).
//!
//! Data. netgraph's tcpmss reads raw IP; ours reads Ethernet: the IPv4 header follows the
//! Ethernet header and any 802.1Q/802.1ad tags, and every other frame (ARP, IPv6, a runt, a
//! truncated tag) passes unchanged, where ng_tcpmss drops non-IP. With `maxMSS` 0 every frame
//! passes unchanged. Otherwise, as ng_tcpmss does:
//! * fewer than 20 bytes of IPv4: passes; version not 4, header length below 20 or beyond the
//!   packet (its total length, so Ethernet padding is not packet): dropped (`bad_ip_header`);
//! * not TCP: passes; so does a fragment other than the first (ng_tcpmss would read its data
//!   as a TCP header);
//! * fewer than 20 bytes of TCP: passes; data offset below 20 bytes or beyond the segment:
//!   dropped (`bad_tcp_header`);
//! * not SYN (SYN-ACK is SYN), or no options: passes. Otherwise it counts in `SYNPkts`, every
//!   well-formed MSS option (kind 2, length 4) above `maxMSS` gets `maxMSS`, the TCP checksum is
//!   updated incrementally (RFC 1624, right at an odd offset too, where ng_tcpmss's is not),
//!   and the frame counts in `FixedPkts`;
//! * options are walked as receivers walk them: to End of Option List, or up to an option of
//!   length 0 or 1 or one running past the header, where the walk stops (ng_tcpmss steps one
//!   byte past a length 1 and reads on); an MSS option before the stop is still fixed.
//!
//! Messages: `config { inHook="in" outHook="out" maxMSS=1452 }` (one direction per message;
//! both hooks must exist, else ENOENT), `getstats "in"`, `clrstats "in"`, `getclrstats "in"`:
//! `{ Octets Packets maxMSS SYNPkts FixedPkts }`.
//!
//! Hook counters (`Octets`, `Packets`, `SYNPkts`, `FixedPkts`, counted on the inHook): Octets
//! and Packets count every frame from a configured hook (whole Ethernet frames); SYNPkts the
//! SYNs with options; FixedPkts those rewritten. `clrstats` zeroes them and the hook's generic
//! counters but keeps `maxMSS`, which is configuration (ng_tcpmss's clrstats zeroes it too,
//! which turns the fix off). ng_tcpmss leaves the checksum to the stack when the mbuf asks for
//! checksum offload; frames here carry complete checksums, which are always updated.

use crate::buf::{is_vlan_tpid, BURST};
use crate::graph::{
    hook_stat, BurstBox, Create, Cx, GraphError, HookCx, HookError, HookSpec, HookState, MsgCx,
    MsgSpec, NodeType, Slot, TypeInfo,
};
use crate::value::Value;
use crate::wire::{
    checksum, EtherType, EthernetFrame, IpProtocol, Ipv4Packet, TcpSegment, VlanHeader,
    ETHERNET_HEADER_LEN, IPV4_HEADER_LEN, TCP_HEADER_LEN, VLAN_TAG_LEN,
};
use std::sync::atomic::Ordering::{Acquire, Release};

crate::drop_reasons! {
    pub mod reason {
        UNCONFIGURED = "unconfigured": "frame from a hook no config names as inHook (or whose \
                                        outHook is gone)",
        BAD_IP_HEADER = "bad_ip_header": "IPv4 version not 4, or header length below 20 or \
                                          beyond the packet",
        BAD_TCP_HEADER = "bad_tcp_header": "TCP data offset below 20 bytes or beyond the segment",
    }
}

const HOOK_ARG: &str = "\"<hook>\"";

pub static TYPE: TypeInfo = TypeInfo {
    name: "tcpmss",
    summary: "lowers the MSS option of TCP SYN segments passing from hook to hook (ng_tcpmss)",
    hooks: "any name. A hook is unconfigured until a config names it as inHook; frames from \
            an unconfigured hook are dropped (unconfigured). Frames from an inHook go out its \
            outHook, the MSS option of IPv4 TCP SYNs and SYN-ACKs above maxMSS lowered to it",
    messages: &[
        MsgSpec {
            name: "config",
            args: "{ inHook=\"<hook>\" outHook=\"<hook>\" maxMSS=N }",
            help: "frames from inHook go out outHook, MSS options above maxMSS lowered to it \
                   (0: unchanged); one direction per message, both hooks must exist",
        },
        MsgSpec {
            name: "getstats",
            args: HOOK_ARG,
            help: "an inHook's { Octets Packets maxMSS SYNPkts FixedPkts }",
        },
        MsgSpec {
            name: "clrstats",
            args: HOOK_ARG,
            help: "clear the hook's counters (maxMSS stays)",
        },
        MsgSpec {
            name: "getclrstats",
            args: HOOK_ARG,
            help: "getstats, then clrstats",
        },
    ],
    hook_counters: &["Octets", "Packets", "SYNPkts", "FixedPkts"],
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Mkpeer(|_| Box::new(TcpMss)),
};

/// Hook word bit: the hook is an inHook; bits 16..32 hold its outHook's slot, bits 0..16 its
/// maxMSS (kept when the bit is cleared).
const CONFIGURED: u64 = 1 << 32;

/// Hook counters after the generic ones ([`hook_stat`]), as `TYPE.hook_counters` names them.
pub const OCTETS: usize = hook_stat::GENERIC;
pub const PACKETS: usize = hook_stat::GENERIC + 1;
pub const SYN_PKTS: usize = hook_stat::GENERIC + 2;
pub const FIXED_PKTS: usize = hook_stat::GENERIC + 3;

/// At most this many 4-byte MSS options fit in 40 bytes of TCP options.
const MAX_MSS_OPTIONS: usize = 10;

pub struct TcpMss;

/// What [`clamp_frame`] made of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not an IPv4 TCP SYN with options: passes unchanged.
    Pass,
    /// A SYN with options whose MSS was not above the limit (or that has none): unchanged.
    Syn,
    /// A SYN whose MSS was lowered.
    Fixed,
    /// Dropped: `bad_ip_header`.
    BadIp,
    /// Dropped: `bad_tcp_header`.
    BadTcp,
}

/// Where the IPv4 header of an Ethernet frame starts, after any VLAN tags; None when the frame
/// does not carry IPv4 (or is cut short in its Ethernet header or tags).
pub fn ipv4_offset(frame: &[u8]) -> Option<usize> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let mut ty = eth.ethertype();
    let mut off = ETHERNET_HEADER_LEN;
    while is_vlan_tpid(ty) {
        // The tag's TPID is the EtherType just read: its view starts two bytes back.
        let tag = VlanHeader::new_checked(&frame[off - 2..]).ok()?;
        ty = tag.inner_ethertype();
        off += VLAN_TAG_LEN;
    }
    (ty == EtherType::IPV4).then_some(off)
}

/// Lowers every MSS option above `max` in `frame` (an Ethernet frame), as the module
/// documentation says, fixing the TCP checksum. `max` is not 0.
pub fn clamp_frame(frame: &mut [u8], max: u16) -> Verdict {
    match ipv4_offset(frame) {
        Some(off) => clamp_ipv4(&mut frame[off..], max),
        None => Verdict::Pass,
    }
}

fn clamp_ipv4(packet: &mut [u8], max: u16) -> Verdict {
    if packet.len() < IPV4_HEADER_LEN {
        return Verdict::Pass;
    }
    let Ok(mut ip) = Ipv4Packet::new_checked(packet) else {
        return Verdict::BadIp;
    };
    if ip.protocol() != IpProtocol::TCP || ip.frag_offset() != 0 {
        return Verdict::Pass;
    }
    let segment = ip.payload_mut();
    if segment.len() < TCP_HEADER_LEN {
        return Verdict::Pass;
    }
    let Ok(mut tcp) = TcpSegment::new_checked(segment) else {
        return Verdict::BadTcp;
    };
    if !tcp.syn() || tcp.header_len() == TCP_HEADER_LEN {
        return Verdict::Pass;
    }
    if clamp_options(&mut tcp, max) {
        Verdict::Fixed
    } else {
        Verdict::Syn
    }
}

/// Sets every well-formed MSS option above `max` to `max`, updating the checksum; true if any.
fn clamp_options(tcp: &mut TcpSegment<&mut [u8]>, max: u16) -> bool {
    let mut at = [0usize; MAX_MSS_OPTIONS];
    let mut n = 0;
    for o in tcp.options_iter() {
        let Ok(o) = o else { break };
        if o.mss().is_some_and(|v| v > max) && n < at.len() {
            at[n] = o.offset;
            n += 1;
        }
    }
    if n == 0 {
        return false;
    }
    let mut sum = tcp.checksum();
    for &kind_at in &at[..n] {
        let v = kind_at + 2;
        let opts = tcp.options_mut();
        let old = u16::from_be_bytes([opts[v], opts[v + 1]]);
        opts[v..v + 2].copy_from_slice(&max.to_be_bytes());
        // The value's offset from the TCP header's start decides its word alignment.
        sum = checksum::adjust(sum, TCP_HEADER_LEN + v, old, max);
    }
    tcp.set_checksum(sum);
    true
}

fn no_hook(cx: &MsgCx<'_>, hook: &str) -> GraphError {
    GraphError::NoHook {
        node: cx.node().to_string(),
        hook: hook.to_string(),
    }
}

impl TcpMss {
    /// Rewrites a burst in place and sends it on: whole when nothing is dropped.
    fn clamp_burst(cx: &mut Cx<'_>, h: &HookState, out: Slot, max: u16, frames: &mut BurstBox) {
        let mut verdicts = [Verdict::Pass; BURST];
        let (mut syn, mut fixed, mut bad) = (0u64, 0u64, false);
        for (i, f) in frames.as_slice().iter().enumerate() {
            // a jumbo frame (chained) is never a SYN with options to clamp: SYNs are small,
            // and its IPv4 length would not fit the first segment's view
            if f.is_chained() {
                continue;
            }
            let v = clamp_frame(cx.data_mut(f), max);
            verdicts[i] = v;
            syn += matches!(v, Verdict::Syn | Verdict::Fixed) as u64;
            fixed += (v == Verdict::Fixed) as u64;
            bad |= matches!(v, Verdict::BadIp | Verdict::BadTcp);
        }
        if syn != 0 {
            cx.count(h, SYN_PKTS, syn);
        }
        if fixed != 0 {
            cx.count(h, FIXED_PKTS, fixed);
        }
        if !bad {
            return cx.forward(out, frames);
        }
        for (f, v) in frames.drain().zip(verdicts) {
            match v {
                Verdict::BadIp => cx.drop_frame(f, reason::BAD_IP_HEADER),
                Verdict::BadTcp => cx.drop_frame(f, reason::BAD_TCP_HEADER),
                _ => cx.send(out, f),
            }
        }
    }

    fn config(cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<(), GraphError> {
        let a = cx.need(cmd, arg)?;
        a.check_fields(&["inHook", "outHook", "maxMSS"])
            .map_err(|e| cx.bad(cmd, e.0))?;
        // An absent field is zero, as netgraph's parser leaves it: an empty hook name.
        let name = |f: &str| match a.field(f) {
            None => Ok(""),
            Some(v) => v
                .as_str()
                .ok_or_else(|| cx.bad(cmd, format!("{f}: expected a hook name, got {v}"))),
        };
        let (in_name, out_name) = (name("inHook")?, name("outHook")?);
        let max = match a.field("maxMSS") {
            None => 0,
            Some(v) => v
                .int_in("maxMSS", 0, u16::MAX as i128)
                .map_err(|e| cx.bad(cmd, e.0))? as u16,
        };
        let inh = cx.hook(in_name).ok_or_else(|| no_hook(cx, in_name))?;
        let outh = cx.hook(out_name).ok_or_else(|| no_hook(cx, out_name))?;
        inh.word
            .store(CONFIGURED | (outh.slot as u64) << 16 | max as u64, Release);
        Ok(())
    }

    /// `getstats`, `clrstats`, `getclrstats` of a hook.
    fn stats(cx: &MsgCx<'_>, cmd: &str, arg: Option<&Value>) -> Result<Option<Value>, GraphError> {
        let a = cx.need(cmd, arg)?;
        let name = a
            .as_str()
            .ok_or_else(|| cx.bad(cmd, format!("expected a hook name, got {a}")))?;
        let h = cx.hook(name).ok_or_else(|| no_hook(cx, name))?;
        let get = |i: usize| Value::Uint(h.stats.get(i));
        let reply = Value::record([
            ("Octets", get(OCTETS)),
            ("Packets", get(PACKETS)),
            ("maxMSS", Value::Uint(h.word.load(Acquire) & 0xffff)),
            ("SYNPkts", get(SYN_PKTS)),
            ("FixedPkts", get(FIXED_PKTS)),
        ]);
        if cmd != "getstats" {
            h.stats.clear();
        }
        Ok((cmd != "clrstats").then_some(reply))
    }
}

impl NodeType for TcpMss {
    fn new_hook(&self, _name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        cx.any_slot()
    }
    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        super::spare_any(used)
    }
    /// Hooks that sent to the hook gone are unconfigured (ng_tcpmss_disconnect).
    fn disconnected(&self, hook: &HookState, cx: &mut MsgCx<'_>) {
        for h in cx.hooks() {
            let w = h.word.load(Acquire);
            if w & CONFIGURED != 0 && (w >> 16) as u16 == hook.slot {
                h.word.store(w & 0xffff, Release);
            }
        }
    }
    fn rcv(&self, cx: &mut Cx<'_>, slot: Slot, frames: &mut BurstBox) {
        let h = cx.hook(slot);
        let w = h.map_or(0, |h| h.word.load(Acquire));
        let Some(h) = h.filter(|_| w & CONFIGURED != 0) else {
            return cx.drop_all(frames, reason::UNCONFIGURED);
        };
        let (out, max) = ((w >> 16) as Slot, w as u16);
        cx.count(h, OCTETS, frames.octets());
        cx.count(h, PACKETS, frames.len() as u64);
        if max == 0 {
            return cx.forward(out, frames);
        }
        Self::clamp_burst(cx, h, out, max, frames);
    }
    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        match cmd {
            "config" => Self::config(cx, cmd, arg).map(|_| None),
            "getstats" | "clrstats" | "getclrstats" => Self::stats(cx, cmd, arg),
            _ => Err(cx.unknown(cmd)),
        }
    }
    fn config_msgs(&self, cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        let mut v = Vec::new();
        for h in cx.hooks() {
            let w = h.word.load(Acquire);
            let out = (w & CONFIGURED != 0)
                .then(|| cx.hook_at((w >> 16) as Slot))
                .flatten();
            if let Some(out) = out {
                let arg = Value::record([
                    ("inHook", Value::Str(h.name.clone())),
                    ("outHook", Value::Str(out.name.clone())),
                    ("maxMSS", Value::Uint(w & 0xffff)),
                ]);
                v.push(("config".into(), Some(arg)));
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{TcpOptionKind, WireError};
    use std::net::Ipv4Addr;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    /// An Ethernet frame (tagged with `tags`, TPIDs) carrying an IPv4 TCP segment with `flags`
    /// and `opts`, both checksums filled by the wire views.
    fn frame(tags: &[u16], flags: u8, opts: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        for (i, t) in tags.iter().enumerate() {
            f.extend_from_slice(&t.to_be_bytes());
            f.extend_from_slice(&(10 + i as u16).to_be_bytes());
        }
        f.extend_from_slice(&EtherType::IPV4.to_be_bytes());
        let l3 = f.len();
        let tcp_len = TCP_HEADER_LEN + opts.len();
        let total = (IPV4_HEADER_LEN + tcp_len) as u16;
        f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        f[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&SRC.octets());
        f.extend_from_slice(&DST.octets());
        f.extend_from_slice(&[0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0]);
        f.push(((tcp_len / 4) as u8) << 4);
        f.extend_from_slice(&[flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(opts);
        let mut ip = Ipv4Packet::new_checked(&mut f[l3..]).unwrap();
        ip.fill_checksum();
        TcpSegment::new_checked(ip.payload_mut())
            .unwrap()
            .fill_checksum(SRC, DST);
        f
    }

    fn segment(f: &[u8]) -> TcpSegment<&[u8]> {
        let ip = Ipv4Packet::new_checked(&f[ipv4_offset(f).unwrap()..]).unwrap();
        let end = ip.packet_len();
        TcpSegment::new_checked(&ip.into_inner()[IPV4_HEADER_LEN..end]).unwrap()
    }

    fn mss_values(f: &[u8]) -> Vec<u16> {
        segment(f)
            .options_iter()
            .filter_map(|o| o.ok()?.mss())
            .collect()
    }

    const MSS_1460: [u8; 4] = [TcpOptionKind::MSS, 4, 0x05, 0xb4];

    #[test]
    fn ipv4_offset_skips_tags() {
        assert_eq!(ipv4_offset(&frame(&[], 2, &MSS_1460)), Some(14));
        assert_eq!(ipv4_offset(&frame(&[0x8100], 2, &MSS_1460)), Some(18));
        assert_eq!(
            ipv4_offset(&frame(&[0x88a8, 0x8100], 2, &MSS_1460)),
            Some(22)
        );
        let mut arp = frame(&[], 2, &MSS_1460);
        arp[12..14].copy_from_slice(&EtherType::ARP.to_be_bytes());
        assert_eq!(ipv4_offset(&arp), None);
        assert_eq!(ipv4_offset(&arp[..13]), None, "runt");
        let tagged = frame(&[0x8100], 2, &MSS_1460);
        assert_eq!(ipv4_offset(&tagged[..17]), None, "tag cut short");
    }

    #[test]
    fn lowers_an_mss_above_the_limit_and_keeps_the_checksum_right() {
        let mut f = frame(&[], 2, &MSS_1460);
        assert_eq!(clamp_frame(&mut f, 1400), Verdict::Fixed);
        assert_eq!(mss_values(&f), [1400]);
        assert!(segment(&f).verify_checksum(SRC, DST));
        let before = f.clone();
        assert_eq!(clamp_frame(&mut f, 1400), Verdict::Syn, "equal: left alone");
        assert_eq!(clamp_frame(&mut f, 1500), Verdict::Syn, "below: left alone");
        assert_eq!(f, before);
    }

    #[test]
    fn odd_alignments_and_several_mss_options() {
        // NOP then MSS: the value at option offset 3 straddles a word; a 3-byte window scale
        // then MSS: at offset 5; then two MSS options, and one of another length (ignored).
        for opts in [
            &[1, 2, 4, 0x23, 0x45, 0, 0, 0][..],
            &[3, 3, 7, 2, 4, 0xff, 0xff, 0][..],
            &[
                2, 4, 0x10, 0x00, 1, 2, 4, 0x20, 0x01, 2, 3, 0x30, 0, 0, 0, 0,
            ][..],
        ] {
            let mut f = frame(&[0x8100], 0x12, opts);
            assert_eq!(clamp_frame(&mut f, 536), Verdict::Fixed, "{opts:?}");
            assert!(mss_values(&f).iter().all(|&v| v == 536), "{opts:?}");
            assert!(segment(&f).verify_checksum(SRC, DST), "{opts:?}");
        }
    }

    #[test]
    fn what_is_not_a_syn_with_options_passes() {
        for mut f in [
            frame(&[], 0x10, &MSS_1460), // ACK
            frame(&[], 2, &[]),          // SYN without options
        ] {
            let before = f.clone();
            assert_eq!(clamp_frame(&mut f, 1000), Verdict::Pass);
            assert_eq!(f, before);
        }
        let mut udp = frame(&[], 2, &MSS_1460);
        udp[14 + 9] = IpProtocol::UDP;
        assert_eq!(clamp_frame(&mut udp, 1000), Verdict::Pass);
        let mut frag = frame(&[], 2, &MSS_1460);
        frag[14 + 7] = 1; // offset 8 bytes
        assert_eq!(clamp_frame(&mut frag, 1000), Verdict::Pass);
    }

    #[test]
    fn malformed_headers() {
        let f = frame(&[], 2, &MSS_1460);
        let with = |i: usize, v: u8| {
            let mut g = f.clone();
            g[i] = v;
            let before = g.clone();
            let r = clamp_frame(&mut g, 1000);
            (r, g == before)
        };
        assert_eq!(with(14, 0x44), (Verdict::BadIp, true), "IHL 4");
        assert_eq!(with(14, 0x65), (Verdict::BadIp, true), "version 6");
        assert_eq!(
            with(14, 0x4f),
            (Verdict::BadIp, true),
            "IHL past the packet"
        );
        assert_eq!(
            with(14 + 3, 19),
            (Verdict::BadIp, true),
            "total length below IHL"
        );
        assert_eq!(
            with(34 + 12, 0x40),
            (Verdict::BadTcp, true),
            "data offset 4"
        );
        assert_eq!(
            with(34 + 12, 0x70),
            (Verdict::BadTcp, true),
            "data offset past the end"
        );
        // Too short to judge: passes, as ng_tcpmss sends on what it cannot pull up.
        let mut short = f[..14 + 19].to_vec();
        assert_eq!(clamp_frame(&mut short, 1000), Verdict::Pass);
        let mut short = f[..34 + 19].to_vec();
        short[14 + 3] = 39;
        assert_eq!(clamp_frame(&mut short, 1000), Verdict::Pass);
    }

    #[test]
    fn malformed_options_stop_the_walk_and_pass() {
        for opts in [
            &[1, 8, 0, 2, 4, 0x05, 0xb4, 0][..], // length 0
            &[8, 1, 2, 4, 0x05, 0xb4, 0, 0][..], // length 1
            &[1, 1, 1, 8, 10, 0, 0, 0][..],      // past the header
        ] {
            let mut f = frame(&[], 2, opts);
            let before = f.clone();
            assert_eq!(clamp_frame(&mut f, 1000), Verdict::Syn, "{opts:?}");
            assert_eq!(f, before, "{opts:?}");
        }
        // An MSS before the bad option is fixed.
        let mut f = frame(&[], 2, &[2, 4, 0x05, 0xb4, 8, 0, 0, 0]);
        assert_eq!(clamp_frame(&mut f, 1000), Verdict::Fixed);
        assert!(segment(&f).verify_checksum(SRC, DST));
        assert!(matches!(
            segment(&f).options_iter().nth(1),
            Some(Err(WireError::Malformed(_)))
        ));
    }

    #[test]
    fn ethernet_padding_is_not_segment() {
        let mut f = frame(&[], 2, &MSS_1460);
        f.extend_from_slice(&[0xaa; 6]);
        assert_eq!(clamp_frame(&mut f, 1000), Verdict::Fixed);
        assert!(segment(&f).verify_checksum(SRC, DST));
        assert_eq!(&f[f.len() - 6..], &[0xaa; 6]);
    }
}
