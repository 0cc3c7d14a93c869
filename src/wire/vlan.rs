//! 802.1Q / 802.1ad VLAN tags.
//!
//! A tagged frame carries, after the two MAC addresses, a 4-byte tag (TPID, TCI) followed by the
//! inner EtherType. [`VlanHeader`] views the bytes from offset 12 of the frame: TPID, TCI, inner
//! EtherType. [`VlanStack`] views a whole frame's stack of tags (QinQ and deeper).

use super::{check_len, EtherType, WireError, ETHERNET_ADDRS_LEN};

/// Bytes a tag adds to a frame.
pub const VLAN_TAG_LEN: usize = 4;
/// Bytes [`VlanHeader`] needs: TPID, TCI and the inner EtherType.
pub const VLAN_HEADER_LEN: usize = 6;

mod field {
    use std::ops::Range;
    pub const TPID: Range<usize> = 0..2;
    pub const TCI: Range<usize> = 2..4;
    pub const INNER_TYPE: Range<usize> = 4..6;
}

/// Tag control information: priority (PCP, 3 bits), CFI/DEI (1 bit), VLAN ID (12 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tci(pub u16);

impl Tci {
    pub const VID_MASK: u16 = 0x0fff;
    /// Builds a TCI, refusing out-of-range fields.
    pub fn new(vid: u16, pcp: u8, cfi: u8) -> Result<Tci, WireError> {
        if vid > Self::VID_MASK {
            return Err(WireError::Malformed("vid above 4095"));
        }
        if pcp > 7 {
            return Err(WireError::Malformed("pcp above 7"));
        }
        if cfi > 1 {
            return Err(WireError::Malformed("cfi above 1"));
        }
        Ok(Tci((pcp as u16) << 13 | (cfi as u16) << 12 | vid))
    }
    pub fn vid(self) -> u16 {
        self.0 & Self::VID_MASK
    }
    pub fn pcp(self) -> u8 {
        (self.0 >> 13) as u8
    }
    pub fn cfi(self) -> u8 {
        ((self.0 >> 12) & 1) as u8
    }
}

/// A view of a VLAN tag and the EtherType behind it.
#[derive(Debug, Clone, Copy)]
pub struct VlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanHeader<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        VlanHeader { buffer }
    }
    /// Wraps `buffer` (starting at the TPID), refusing a tag cut short.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_len(buffer.as_ref(), VLAN_HEADER_LEN)?;
        Ok(VlanHeader { buffer })
    }
    pub fn tpid(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::TPID];
        u16::from_be_bytes([b[0], b[1]])
    }
    pub fn tci(&self) -> Tci {
        let b = &self.buffer.as_ref()[field::TCI];
        Tci(u16::from_be_bytes([b[0], b[1]]))
    }
    pub fn inner_ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::INNER_TYPE];
        u16::from_be_bytes([b[0], b[1]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanHeader<T> {
    pub fn set_tpid(&mut self, v: u16) {
        self.buffer.as_mut()[field::TPID].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_tci(&mut self, v: Tci) {
        self.buffer.as_mut()[field::TCI].copy_from_slice(&v.0.to_be_bytes());
    }
}

/// Is `t` a TPID that [`VlanStack`] counts as a tag: 802.1Q (0x8100), 802.1ad (0x88a8), or one
/// of the pre-standard 0x9100, 0x9200, 0x9300 (the set FreeBSD's ng_vlan_rotate recognises).
pub fn is_stack_tpid(t: u16) -> bool {
    matches!(
        t,
        EtherType::VLAN
            | EtherType::QINQ
            | EtherType::VLAN_9100
            | EtherType::VLAN_9200
            | EtherType::VLAN_9300
    )
}

/// A view of a whole frame's stack of VLAN tags: the 4-byte tags (TPID, TCI) from offset 12,
/// outermost first (tag 0), up to the first EtherType that is not a tag protocol
/// ([`is_stack_tpid`]). Tag `i` is at bytes `12 + 4i .. 16 + 4i`.
#[derive(Debug, Clone, Copy)]
pub struct VlanStack<T: AsRef<[u8]>> {
    buffer: T,
    depth: usize,
}

impl<T: AsRef<[u8]>> VlanStack<T> {
    /// Wraps a frame (from its first byte) whose first `depth` tags are known to be there.
    pub fn new_unchecked(buffer: T, depth: usize) -> Self {
        VlanStack { buffer, depth }
    }
    /// Wraps a frame, counting its tags. At most `limit + 1` entries are looked at: a depth of
    /// `limit + 1` means "more than `limit` tags". As ng_vlan_rotate's `m_pullup`, it refuses a
    /// frame in which an entry looked at is cut short: the EtherType that ends the stack must
    /// be followed by two more bytes (the frame holds at least `16 + 4 * min(depth, limit)`).
    pub fn new_checked(buffer: T, limit: usize) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let mut depth = 0;
        while depth <= limit {
            let at = ETHERNET_ADDRS_LEN + VLAN_TAG_LEN * depth;
            check_len(b, at + VLAN_TAG_LEN)?;
            if !is_stack_tpid(u16::from_be_bytes([b[at], b[at + 1]])) {
                break;
            }
            depth += 1;
        }
        Ok(VlanStack { buffer, depth })
    }
    /// How many tags the stack has (see [`VlanStack::new_checked`] for the limit).
    pub fn depth(&self) -> usize {
        self.depth
    }
    /// Tag `i` (0: outermost) as a [`VlanHeader`] view (its `inner_ethertype` is the next
    /// tag's TPID, or the EtherType ending the stack; for the last tag of a stack counted to
    /// `limit + 1` it was not checked, and may be missing). Panics if `i >= depth`.
    pub fn tag(&self, i: usize) -> VlanHeader<&[u8]> {
        assert!(i < self.depth, "tag {i} of a stack of {}", self.depth);
        VlanHeader::new_unchecked(&self.buffer.as_ref()[ETHERNET_ADDRS_LEN + VLAN_TAG_LEN * i..])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanStack<T> {
    /// Rotates the tags `by` positions inwards: the tag at position `i` moves to
    /// `(i + by) mod depth`, so `rotate(1)` makes the innermost tag the outermost and
    /// `rotate(-1)` the outermost the innermost. Each tag moves whole (TPID, PCP, CFI, VID).
    pub fn rotate(&mut self, by: isize) {
        let n = self.depth;
        if n < 2 {
            return;
        }
        let k = by.rem_euclid(n as isize) as usize;
        let tags = ETHERNET_ADDRS_LEN..ETHERNET_ADDRS_LEN + VLAN_TAG_LEN * n;
        self.buffer.as_mut()[tags].rotate_right(VLAN_TAG_LEN * k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{EtherType, EthernetFrame};

    // An 802.1Q-tagged IPv4 frame header: VID 10, PCP 3, CFI 0.
    static TAGGED: [u8; 18] = [
        0x02, 0, 0, 0, 0, 2, // dst
        0x02, 0, 0, 0, 0, 1, // src
        0x81, 0x00, // TPID
        0x60, 0x0a, // PCP 3, CFI 0, VID 10
        0x08, 0x00, // inner IPv4
    ];
    // 802.1ad outer tag: VID 4095, PCP 7, DEI 1.
    static QINQ: [u8; 18] = [
        0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xa8, 0xff, 0xff, 0x81, 0x00,
    ];

    #[test]
    fn dot1q_fields() {
        let eth = EthernetFrame::new_checked(&TAGGED[..]).unwrap();
        assert!(eth.is_tagged());
        let tag = VlanHeader::new_checked(&TAGGED[12..]).unwrap();
        assert_eq!(tag.tpid(), EtherType::VLAN);
        assert_eq!(tag.tci().vid(), 10);
        assert_eq!(tag.tci().pcp(), 3);
        assert_eq!(tag.tci().cfi(), 0);
        assert_eq!(tag.inner_ethertype(), EtherType::IPV4);
    }

    #[test]
    fn qinq_fields() {
        let tag = VlanHeader::new_checked(&QINQ[12..]).unwrap();
        assert_eq!(tag.tpid(), EtherType::QINQ);
        assert_eq!(
            (tag.tci().vid(), tag.tci().pcp(), tag.tci().cfi()),
            (4095, 7, 1)
        );
        assert_eq!(tag.inner_ethertype(), EtherType::VLAN);
    }

    #[test]
    fn truncated_tag_is_an_error() {
        for n in 12..18 {
            assert!(matches!(
                VlanHeader::new_checked(&TAGGED[12..n]),
                Err(WireError::Truncated { need: 6, .. })
            ));
        }
    }

    #[test]
    fn tci_packing_and_limits() {
        let t = Tci::new(10, 3, 0).unwrap();
        assert_eq!(t.0, 0x600a);
        assert_eq!(Tci::new(4095, 7, 1).unwrap().0, 0xffff);
        assert!(Tci::new(4096, 0, 0).is_err());
        assert!(Tci::new(1, 8, 0).is_err());
        assert!(Tci::new(1, 0, 2).is_err());
    }

    #[test]
    fn write_tag() {
        let mut b = TAGGED;
        let mut tag = VlanHeader::new_checked(&mut b[12..]).unwrap();
        tag.set_tpid(EtherType::QINQ);
        tag.set_tci(Tci::new(100, 5, 1).unwrap());
        assert_eq!(&b[12..16], &[0x88, 0xa8, 0xb0, 0x64]);
    }

    // ng_vlan_rotate(4)'s example: 0x9100 vid 2 p 1, 0x88a8 vid 101 p 0, 0x8100 vid 123 p 7,
    // IPv4, then two payload bytes.
    static STACK3: [u8; 28] = [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, // dst
        0x00, 0x00, 0x00, 0x00, 0x01, 0x01, // src
        0x91, 0x00, 0x20, 0x02, // 0x9100, PCP 1, VID 2
        0x88, 0xa8, 0x00, 0x65, // 0x88a8, VID 101
        0x81, 0x00, 0xe0, 0x7b, // 0x8100, PCP 7, VID 123
        0x08, 0x00, 0x45, 0x00, // IPv4
    ];

    #[test]
    fn stack_depth_and_tags() {
        let s = VlanStack::new_checked(&STACK3[..], 10).unwrap();
        assert_eq!(s.depth(), 3);
        let t: Vec<_> = (0..3)
            .map(|i| (s.tag(i).tpid(), s.tag(i).tci().vid(), s.tag(i).tci().pcp()))
            .collect();
        assert_eq!(t, [(0x9100, 2, 1), (0x88a8, 101, 0), (0x8100, 123, 7)]);
        assert_eq!(s.tag(2).inner_ethertype(), EtherType::IPV4);
        for t in [0x8100, 0x88a8, 0x9100, 0x9200, 0x9300] {
            assert!(is_stack_tpid(t), "{t:x}");
        }
        assert!(!is_stack_tpid(EtherType::IPV4) && !is_stack_tpid(0x9400));
    }

    #[test]
    fn stack_limit_counts_one_more() {
        // Limit 2: three tags are seen as "more than 2" (3), the fourth entry is not read.
        assert_eq!(VlanStack::new_checked(&STACK3[..], 2).unwrap().depth(), 3);
        assert_eq!(VlanStack::new_checked(&STACK3[..24], 2).unwrap().depth(), 3);
        assert_eq!(VlanStack::new_checked(&STACK3[..], 1).unwrap().depth(), 2);
        assert_eq!(VlanStack::new_checked(&STACK3[..], 0).unwrap().depth(), 1);
    }

    #[test]
    fn stack_needs_two_bytes_after_the_ethertype() {
        assert!(VlanStack::new_checked(&STACK3[..28], 10).is_ok());
        for n in 0..28 {
            assert!(
                matches!(
                    VlanStack::new_checked(&STACK3[..n], 10),
                    Err(WireError::Truncated { .. })
                ),
                "{n}"
            );
        }
        // An untagged frame needs 16 bytes.
        let untagged = &TAGGED[..];
        let mut u = untagged.to_vec();
        u[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(VlanStack::new_checked(&u[..16], 10).unwrap().depth(), 0);
        assert!(VlanStack::new_checked(&u[..15], 10).is_err());
    }

    #[test]
    fn stack_rotation() {
        let mut b = STACK3;
        VlanStack::new_checked(&mut b[..], 10).unwrap().rotate(1);
        // The innermost tag (0x8100 vid 123 p 7) is now outermost; each tag kept its TPID.
        assert_eq!(
            &b[12..24],
            &[0x81, 0x00, 0xe0, 0x7b, 0x91, 0x00, 0x20, 0x02, 0x88, 0xa8, 0x00, 0x65]
        );
        assert_eq!(&b[..12], &STACK3[..12]);
        assert_eq!(&b[24..], &STACK3[24..]);
        VlanStack::new_checked(&mut b[..], 10).unwrap().rotate(-1);
        assert_eq!(b, STACK3);
        for by in -7..=7isize {
            let mut b = STACK3;
            let mut s = VlanStack::new_checked(&mut b[..], 10).unwrap();
            s.rotate(by);
            for i in 0..3 {
                let from = (i as isize - by).rem_euclid(3) as usize;
                let at = 12 + 4 * i;
                assert_eq!(
                    b[at..at + 4],
                    STACK3[12 + 4 * from..16 + 4 * from],
                    "{by} {i}"
                );
            }
        }
        // One tag or none: nothing moves.
        let mut one = TAGGED;
        VlanStack::new_unchecked(&mut one[..], 1).rotate(5);
        assert_eq!(one, TAGGED);
    }
}
