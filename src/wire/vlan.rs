//! 802.1Q / 802.1ad VLAN tags.
//!
//! A tagged frame carries, after the two MAC addresses, a 4-byte tag (TPID, TCI) followed by the
//! inner EtherType. [`VlanHeader`] views the bytes from offset 12 of the frame: TPID, TCI, inner
//! EtherType.

use super::{check_len, WireError};

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
}
