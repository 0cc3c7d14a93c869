//! Generator frames: Ethernet (optionally 802.1Q-tagged) / IPv4 / UDP, with a stamp in the
//! UDP payload: magic `XG`, a 64-bit sequence number and the 64-bit TX time (CLOCK_MONOTONIC
//! ns), both little-endian. Checksums are valid: the IPv4 header checksum always, the UDP
//! checksum computed by the AF_XDP engine (incrementally, per frame) and left at 0 ("none",
//! valid for IPv4) by the replay engine, whose XDP program rewrites the stamp.

use crate::wire::MacAddr;

pub const MAGIC: [u8; 2] = *b"XG";
/// Stamp bytes: magic (2), sequence (8), TX time (8).
pub const STAMP_LEN: usize = 18;
/// Smallest frame we build (without FCS): 14 + 20 + 8 + 18.
pub const MIN_FRAME: usize = 60;
/// UDP destination port of generator frames (discard).
pub const DST_PORT: u16 = 9;
/// UDP source port of flow 0 (flow f uses 1024 + f).
pub const SRC_PORT: u16 = 1024;

/// What to put in the headers.
#[derive(Debug, Clone)]
pub struct FrameSpec {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src_ip: [u8; 4],
    pub dst_ip: [u8; 4],
    /// 802.1Q tag (VID, PCP).
    pub vlan: Option<(u16, u8)>,
    /// Flows: flow f changes the low 16 bits of the source MAC and source IPv4 address and
    /// uses UDP source port 1024 + f.
    pub flows: u32,
    /// Flows change the low 16 bits of the destination MAC instead (nothing else): frames to
    /// many learned addresses (RFC 2889's test frames, [`super::rfc2889`]).
    pub dst_flows: bool,
}

/// Frame sizes, in bytes on the wire including the 4-byte FCS (as RFC 2544 counts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sizes {
    Fixed(usize),
    /// Every size from a to b, in a fixed pseudo-random order.
    Range(usize, usize),
    /// Simple IMIX: 7 × 64, 4 × 594, 1 × 1518 (capped at the MTU).
    Imix,
    /// Simple IMIX with jumbo frames: 7 × 64, 4 × 594, 1 × 1518, 1 × 9018 (capped at the
    /// MTU), `--size imix-jumbo`.
    ImixJumbo,
}

impl Sizes {
    /// The size of frame `seq` (on the wire, with FCS), never above `max`.
    #[inline]
    pub fn size_of(&self, seq: u64, max: usize) -> usize {
        let s = match self {
            Sizes::Fixed(n) => *n,
            Sizes::Range(a, b) => {
                let x = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 33;
                a + (x as usize) % (b - a + 1)
            }
            Sizes::Imix => match seq % 12 {
                0..=6 => 64,
                7..=10 => 594,
                _ => 1518,
            },
            Sizes::ImixJumbo => match seq % 13 {
                0..=6 => 64,
                7..=10 => 594,
                11 => 1518,
                _ => 9018,
            },
        };
        s.min(max)
    }
    /// Mean size on the wire (with FCS).
    pub fn mean(&self, max: usize) -> f64 {
        match self {
            Sizes::Fixed(n) => (*n).min(max) as f64,
            Sizes::Range(a, b) => ((*a).min(max) + (*b).min(max)) as f64 / 2.0,
            Sizes::Imix => {
                (7.0 * 64.0 + 4.0 * 594f64.min(max as f64) + 1518f64.min(max as f64)) / 12.0
            }
            Sizes::ImixJumbo => {
                let m = |s: f64| s.min(max as f64);
                (7.0 * 64.0 + 4.0 * m(594.0) + m(1518.0) + m(9018.0)) / 13.0
            }
        }
    }
    pub fn parse(s: &str) -> Result<Sizes, super::GenError> {
        use super::GenError::Invalid;
        if s == "imix" {
            return Ok(Sizes::Imix);
        }
        if s == "imix-jumbo" {
            return Ok(Sizes::ImixJumbo);
        }
        let p = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| Invalid(format!("bad size {x:?}")))
        };
        match s.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (p(a)?, p(b)?);
                if a > b {
                    return Err(Invalid(format!("size range {s} is backwards")));
                }
                Ok(Sizes::Range(a, b))
            }
            None => Ok(Sizes::Fixed(p(s)?)),
        }
    }
}

impl FrameSpec {
    pub fn l2_len(&self) -> usize {
        if self.vlan.is_some() {
            18
        } else {
            14
        }
    }
    pub fn ip_offset(&self) -> usize {
        self.l2_len()
    }
    /// Offset of the stamp (the UDP payload).
    pub fn stamp_offset(&self) -> usize {
        self.l2_len() + 28
    }
    /// Smallest size on the wire (with FCS) this spec can build.
    pub fn min_size(&self) -> usize {
        self.stamp_offset() + STAMP_LEN + 4
    }

    /// Puts frame `seq`'s flow (of [`FrameSpec::flows`]) into `buf`, a frame built for flow 0:
    /// the source's, or the destination MAC's for RFC 2889's test frames (`dst_flows`).
    pub fn set_flow_of(&self, buf: &mut [u8], seq: u64) {
        let flows = self.flows.max(1);
        if flows == 1 {
            return;
        }
        let f = (seq % flows as u64) as u32;
        if self.dst_flows {
            set_dst_flow(buf, f);
        } else {
            set_flow(buf, self.ip_offset(), f);
        }
    }

    /// A frame of `wire_size` bytes on the wire (the buffer is 4 bytes shorter: no FCS) for
    /// flow `flow`, stamp zeroed, UDP checksum valid for that zero stamp.
    pub fn build(&self, wire_size: usize, flow: u32) -> Vec<u8> {
        let len = wire_size.saturating_sub(4).max(self.min_size() - 4);
        let mut f = vec![0u8; len];
        let mut src_mac = self.src_mac;
        let mut src_ip = self.src_ip;
        if self.flows > 1 {
            src_mac.0[4] = (flow >> 8) as u8;
            src_mac.0[5] = flow as u8;
            src_ip[2] = (flow >> 8) as u8;
            src_ip[3] = flow as u8;
        }
        f[0..6].copy_from_slice(&self.dst_mac.0);
        f[6..12].copy_from_slice(&src_mac.0);
        let mut o = 12;
        if let Some((vid, pcp)) = self.vlan {
            f[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
            f[14..16].copy_from_slice(&((pcp as u16) << 13 | vid).to_be_bytes());
            o = 16;
        }
        f[o..o + 2].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = o + 2;
        let ip_len = (len - ip) as u16;
        f[ip] = 0x45;
        f[ip + 2..ip + 4].copy_from_slice(&ip_len.to_be_bytes());
        f[ip + 6] = 0x40; // don't fragment
        f[ip + 8] = 64; // TTL
        f[ip + 9] = 17; // UDP
        f[ip + 12..ip + 16].copy_from_slice(&src_ip);
        f[ip + 16..ip + 20].copy_from_slice(&self.dst_ip);
        let c = fold(sum16(&f[ip..ip + 20]));
        f[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
        let udp = ip + 20;
        let udp_len = ip_len - 20;
        let sport = if self.flows > 1 {
            SRC_PORT + (flow as u16)
        } else {
            SRC_PORT
        };
        f[udp..udp + 2].copy_from_slice(&sport.to_be_bytes());
        f[udp + 2..udp + 4].copy_from_slice(&DST_PORT.to_be_bytes());
        f[udp + 4..udp + 6].copy_from_slice(&udp_len.to_be_bytes());
        let st = udp + 8;
        f[st..st + 2].copy_from_slice(&MAGIC);
        // The rest of the payload: a fixed pattern.
        for (i, b) in f[st + STAMP_LEN..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let c = udp_checksum(&f, ip);
        f[udp + 6..udp + 8].copy_from_slice(&c.to_be_bytes());
        f
    }
}

/// Ones'-complement sum of 16-bit big-endian words (odd length padded).
pub fn sum16(b: &[u8]) -> u32 {
    let mut s: u32 = 0;
    let mut it = b.chunks_exact(2);
    for w in &mut it {
        s += u16::from_be_bytes([w[0], w[1]]) as u32;
    }
    if let [x] = it.remainder() {
        s += (*x as u32) << 8;
    }
    s
}

pub fn fold(mut s: u32) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// The UDP checksum of the IPv4/UDP packet at `ip` in `f` (pseudo-header included).
pub fn udp_checksum(f: &[u8], ip: usize) -> u16 {
    let udp = ip + 20;
    let ulen = u16::from_be_bytes([f[udp + 4], f[udp + 5]]) as usize;
    let mut s = sum16(&f[ip + 12..ip + 20]) + 17 + ulen as u32;
    // Checksum field counted as zero.
    s += sum16(&f[udp..udp + 6]);
    s += sum16(&f[udp + 8..udp + ulen]);
    let c = fold(s);
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// Writes sequence and TX time into the stamp at `off` and fixes the UDP checksum
/// incrementally (the template's checksum was computed with a zero stamp).
#[inline]
pub fn stamp(f: &mut [u8], ip: usize, off: usize, seq: u64, ts: u64) {
    f[off + 2..off + 10].copy_from_slice(&seq.to_le_bytes());
    f[off + 10..off + 18].copy_from_slice(&ts.to_le_bytes());
    let udp = ip + 20;
    let old = u16::from_be_bytes([f[udp + 6], f[udp + 7]]);
    if old == 0 {
        return;
    }
    // ~new = ~old + Σ added words (RFC 1624), with 0xffff standing for 0.
    let old = if old == 0xffff { 0 } else { old };
    let mut s = (!old) as u32 + sum16(&f[off + 2..off + 18]);
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    let mut c = !(s as u16);
    if c == 0 {
        c = 0xffff;
    }
    f[udp + 6..udp + 8].copy_from_slice(&c.to_be_bytes());
}

/// A received generator frame: (sequence, TX time, flow's UDP source port).
#[inline]
pub fn parse(f: &[u8]) -> Option<(u64, u64, u16)> {
    let mut o = 12;
    let mut t = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    while t == 0x8100 || t == 0x88a8 {
        o += 4;
        t = u16::from_be_bytes([*f.get(o)?, *f.get(o + 1)?]);
    }
    if t != 0x0800 {
        return None;
    }
    let ip = o + 2;
    let ihl = ((*f.get(ip)? & 0x0f) as usize) * 4;
    if *f.get(ip + 9)? != 17 || ihl < 20 {
        return None;
    }
    let udp = ip + ihl;
    let sport = u16::from_be_bytes([*f.get(udp)?, *f.get(udp + 1)?]);
    let st = udp + 8;
    let s = f.get(st..st + STAMP_LEN)?;
    if s[0..2] != MAGIC {
        return None;
    }
    Some((
        u64::from_le_bytes(s[2..10].try_into().ok()?),
        u64::from_le_bytes(s[10..18].try_into().ok()?),
        sport,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(vlan: Option<(u16, u8)>, flows: u32) -> FrameSpec {
        FrameSpec {
            src_mac: "02:00:00:00:00:01".parse().unwrap(),
            dst_mac: "02:00:00:00:00:02".parse().unwrap(),
            src_ip: [10, 0, 0, 1],
            dst_ip: [10, 0, 0, 2],
            vlan,
            flows,
            dst_flows: false,
        }
    }

    #[test]
    fn headers_and_checksums_are_valid() {
        let s = spec(None, 1);
        let mut f = s.build(64, 0);
        assert_eq!(f.len(), 60);
        assert_eq!(fold(sum16(&f[14..34])), 0, "IPv4 header checksum verifies");
        stamp(&mut f, 14, s.stamp_offset(), 123456789, 987654321);
        // A valid UDP checksum makes the full sum 0xffff (fold = 0).
        let ulen = 60 - 34;
        let sum = sum16(&f[26..34]) + 17 + ulen as u32 + sum16(&f[34..60]);
        assert_eq!(
            fold(sum),
            0,
            "UDP checksum verifies after incremental update"
        );
        assert_eq!(parse(&f), Some((123456789, 987654321, SRC_PORT)));
    }

    #[test]
    fn vlan_flows_and_sizes() {
        let s = spec(Some((10, 3)), 100);
        assert_eq!(s.min_size(), 68);
        let f = s.build(64, 7);
        assert_eq!(f.len(), 64, "grown to the smallest tagged frame");
        assert_eq!(&f[12..16], &[0x81, 0x00, 0x60, 0x0a]);
        assert_eq!(&f[10..12], &[0, 7], "flow in the source MAC");
        assert_eq!(parse(&f).unwrap().2, SRC_PORT + 7);
        assert_eq!(Sizes::parse("64").unwrap(), Sizes::Fixed(64));
        assert_eq!(Sizes::parse("64-128").unwrap(), Sizes::Range(64, 128));
        assert!(Sizes::parse("128-64").is_err());
        let imix: Vec<usize> = (0..12).map(|i| Sizes::Imix.size_of(i, 1518)).collect();
        assert_eq!(imix.iter().filter(|s| **s == 64).count(), 7);
        assert!((Sizes::Imix.mean(1518) - 4342.0 / 12.0).abs() < 1e-9);
        for i in 0..1000 {
            let x = Sizes::Range(64, 70).size_of(i, 1518);
            assert!((64..=70).contains(&x));
        }
    }

    #[test]
    fn parse_rejects_other_frames() {
        assert_eq!(parse(&[0u8; 10]), None);
        let mut f = spec(None, 1).build(64, 0);
        f[42] = b'Y';
        assert_eq!(parse(&f), None);
    }
}

/// RFC 1624 incremental update of a checksum when one 16-bit word changes.
#[inline]
pub fn csum_update(csum: u16, old: u16, new: u16) -> u16 {
    let mut s = (!csum) as u32 + (!old) as u32 + new as u32;
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Turns a frame built for flow 0 into flow `flow` (source MAC and IPv4 low bytes, UDP source
/// port), keeping both checksums valid.
#[inline]
/// Flow `flow` in the destination MAC's low 16 bits ([`FrameSpec::dst_flows`]).
pub fn set_dst_flow(f: &mut [u8], flow: u32) {
    f[4..6].copy_from_slice(&(flow as u16).to_be_bytes());
}

pub fn set_flow(f: &mut [u8], ip: usize, flow: u32) {
    let fl = flow as u16;
    f[10..12].copy_from_slice(&fl.to_be_bytes());
    let old_ip = u16::from_be_bytes([f[ip + 14], f[ip + 15]]);
    f[ip + 14..ip + 16].copy_from_slice(&fl.to_be_bytes());
    let c = u16::from_be_bytes([f[ip + 10], f[ip + 11]]);
    f[ip + 10..ip + 12].copy_from_slice(&csum_update(c, old_ip, fl).to_be_bytes());
    let udp = ip + 20;
    let old_port = u16::from_be_bytes([f[udp], f[udp + 1]]);
    let port = SRC_PORT.wrapping_add(fl);
    f[udp..udp + 2].copy_from_slice(&port.to_be_bytes());
    let uc = u16::from_be_bytes([f[udp + 6], f[udp + 7]]);
    if uc != 0 {
        let uc = if uc == 0xffff { 0 } else { uc };
        let mut n = csum_update(csum_update(uc, old_ip, fl), old_port, port);
        if n == 0 {
            n = 0xffff;
        }
        f[udp + 6..udp + 8].copy_from_slice(&n.to_be_bytes());
    }
}

#[cfg(test)]
mod flow_tests {
    use super::*;

    #[test]
    fn dst_flows_change_the_destination_mac_only() {
        let s = FrameSpec {
            src_mac: "02:00:00:00:00:01".parse().unwrap(),
            dst_mac: "02:00:00:00:00:02".parse().unwrap(),
            src_ip: [10, 0, 0, 1],
            dst_ip: [10, 0, 0, 2],
            vlan: None,
            flows: 4096,
            dst_flows: true,
        };
        let mut f = s.build(128, 0);
        let before = f.clone();
        set_dst_flow(&mut f, 0x0abc);
        assert_eq!(&f[..6], &[0x02, 0, 0, 0, 0x0a, 0xbc]);
        assert_eq!(&f[6..], &before[6..], "nothing else");
    }

    #[test]
    fn set_flow_matches_a_fresh_build() {
        let s = FrameSpec {
            src_mac: "02:00:00:00:00:00".parse().unwrap(),
            dst_mac: "02:00:00:00:00:02".parse().unwrap(),
            src_ip: [10, 0, 0, 0],
            dst_ip: [10, 0, 0, 2],
            vlan: None,
            flows: 1000,
            dst_flows: false,
        };
        for flow in [1u32, 7, 255, 256, 999] {
            let mut f = s.build(128, 0);
            set_flow(&mut f, 14, flow);
            assert_eq!(f, s.build(128, flow), "flow {flow}");
        }
    }
}
