//! Ethernet II frames.

use super::{check_len, MacAddr, WireError};

/// Ethernet II header length: destination, source, EtherType.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Bytes of the two addresses at the start of a frame (where a VLAN tag is inserted).
pub const ETHERNET_ADDRS_LEN: usize = 12;

mod field {
    use std::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// Well-known EtherType values.
pub struct EtherType;
impl EtherType {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const IPV6: u16 = 0x86dd;
    /// 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag (QinQ outer tag).
    pub const QINQ: u16 = 0x88a8;
    /// The pre-standard QinQ tags some switches write (FreeBSD's ETHERTYPE_8021Q9100 ...).
    pub const VLAN_9100: u16 = 0x9100;
    pub const VLAN_9200: u16 = 0x9200;
    pub const VLAN_9300: u16 = 0x9300;
}

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` without checking its length: accessors may panic on a runt.
    pub fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }
    /// Wraps `buffer`, refusing one shorter than an Ethernet header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_len(buffer.as_ref(), ETHERNET_HEADER_LEN)?;
        Ok(EthernetFrame { buffer })
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn dst_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }
    pub fn src_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }
    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
    /// Destination and source addresses as 48-bit integers (as [`MacAddr::to_u64`]), read with
    /// two 8-byte loads: the cheap form for a bridge's per-frame lookups.
    #[inline]
    pub fn addrs_u64(&self) -> (u64, u64) {
        let b = self.buffer.as_ref();
        let d = u64::from_be_bytes(b[0..8].try_into().expect("8 bytes"));
        let s = u64::from_be_bytes(b[4..12].try_into().expect("8 bytes"));
        (d >> 16, s & 0xffff_ffff_ffff)
    }
    /// True when the EtherType is one of the VLAN tag protocol identifiers we know.
    pub fn is_tagged(&self) -> bool {
        matches!(self.ethertype(), EtherType::VLAN | EtherType::QINQ)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&a.0);
    }
    pub fn set_src_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&a.0);
    }
    pub fn set_ethertype(&mut self, t: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&t.to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ARP request from 02:00:00:00:00:01, broadcast.
    static ARP: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x08, 0x06, // ARP
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0,
        0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
    ];

    #[test]
    fn read_fields() {
        let f = EthernetFrame::new_checked(&ARP[..]).unwrap();
        assert!(f.dst_addr().is_broadcast());
        assert_eq!(f.src_addr().to_string(), "02:00:00:00:00:01");
        assert_eq!(f.ethertype(), EtherType::ARP);
        assert_eq!(f.payload().len(), 28);
        assert!(!f.is_tagged());
    }

    #[test]
    fn addresses_as_integers() {
        let f = EthernetFrame::new_checked(&ARP[..]).unwrap();
        let (d, s) = f.addrs_u64();
        assert_eq!((d, s), (f.dst_addr().to_u64(), f.src_addr().to_u64()));
    }

    #[test]
    fn write_fields() {
        let mut b = ARP;
        let mut f = EthernetFrame::new_checked(&mut b[..]).unwrap();
        f.set_src_addr("02:aa:bb:cc:dd:ee".parse().unwrap());
        f.set_ethertype(EtherType::IPV4);
        assert_eq!(&b[6..14], &[0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x08, 0x00]);
    }

    #[test]
    fn runts_are_errors() {
        for n in 0..ETHERNET_HEADER_LEN {
            assert_eq!(
                EthernetFrame::new_checked(&ARP[..n]).unwrap_err(),
                WireError::Truncated { need: 14, have: n }
            );
        }
        assert!(EthernetFrame::new_checked(&ARP[..14]).is_ok());
    }
}
