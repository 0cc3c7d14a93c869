//! IPv4 headers (RFC 791).
//!
//! [`Ipv4Packet`] views the bytes from the start of the IP header. `new_checked` accepts a
//! header a reader can walk safely: version 4, header length (IHL) at least 20 bytes and
//! within the buffer, total length not below the header length. A total length beyond the
//! buffer (a packet cut short) is accepted: [`Ipv4Packet::packet_len`] and the payload stop at
//! the buffer's end. A buffer longer than the total length (Ethernet padding) is fine too: the
//! payload stops at the total length.

use super::{check_len, checksum, WireError};
use std::net::Ipv4Addr;

/// Bytes of an IPv4 header without options (the least IHL allows).
pub const IPV4_HEADER_LEN: usize = 20;

mod field {
    use std::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Well-known IP protocol numbers.
pub struct IpProtocol;
impl IpProtocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checking it: accessors may panic on a short or malformed one.
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }
    /// Wraps `buffer`, refusing one too short for its header (`Truncated`) or whose version,
    /// header length or total length is impossible (`Malformed`).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Ipv4Packet { buffer };
        let b = p.buffer.as_ref();
        check_len(b, IPV4_HEADER_LEN)?;
        if p.version() != 4 {
            return Err(WireError::Malformed("IP version is not 4"));
        }
        if p.header_len() < IPV4_HEADER_LEN {
            return Err(WireError::Malformed("IPv4 header length below 20"));
        }
        check_len(b, p.header_len())?;
        if (p.total_len() as usize) < p.header_len() {
            return Err(WireError::Malformed(
                "IPv4 total length below the header length",
            ));
        }
        Ok(p)
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// The header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize * 4
    }
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }
    /// The total length field: header and payload, in bytes.
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }
    pub fn dont_frag(&self) -> bool {
        self.u16_at(field::FLG_OFF) & 0x4000 != 0
    }
    pub fn more_frags(&self) -> bool {
        self.u16_at(field::FLG_OFF) & 0x2000 != 0
    }
    /// The fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(field::FLG_OFF) & 0x1fff) << 3
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
    /// Bytes of the packet present: the total length, or less when the buffer is cut short.
    pub fn packet_len(&self) -> usize {
        (self.total_len() as usize).min(self.buffer.as_ref().len())
    }
    /// The header's options (between the fixed 20 bytes and the header length).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[IPV4_HEADER_LEN..self.header_len()]
    }
    /// The payload: from the header's end to the packet's ([`Ipv4Packet::packet_len`]).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.packet_len()]
    }
    /// Whether the header checksum is right.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Computes the header checksum and writes it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let s = checksum::data(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(!s);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), self.packet_len());
        &mut self.buffer.as_mut()[start..end]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // A TCP SYN, 10.0.0.1 -> 10.0.0.2, DF, TTL 64, ident 0x1c46; checksums computed by an
    // independent implementation (IP 0x0a74, TCP 0xf249).
    pub(crate) static SYN: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x0a, 0x74, // IP
        0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, // addresses
        0x30, 0x39, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, // TCP
        0xa0, 0x02, 0xfa, 0xf0, 0xf2, 0x49, 0x00, 0x00, // offset 10, SYN, window, sum, urg
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x12, 0x34, // options
        0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn read_fields() {
        let p = Ipv4Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(
            (p.version(), p.header_len(), p.dscp(), p.ecn()),
            (4, 20, 0, 0)
        );
        assert_eq!((p.total_len(), p.ident(), p.ttl()), (60, 0x1c46, 64));
        assert!(p.dont_frag() && !p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.protocol(), IpProtocol::TCP);
        assert_eq!(p.checksum(), 0x0a74);
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert!(p.options().is_empty());
        assert_eq!(p.payload(), &SYN[20..]);
        assert!(p.verify_checksum());
    }

    #[test]
    fn write_fields_and_checksum() {
        let mut b = SYN;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_ttl(63);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        // TTL 64 -> 63 lowers the word 0x4006 by 0x100: the checksum rises by 0x100.
        assert_eq!(p.checksum(), 0x0b74);
        p.payload_mut()[0] = 0xff;
        assert_eq!(b[20], 0xff);
    }

    #[test]
    fn padding_and_cut_short_packets() {
        let mut padded = SYN.to_vec();
        padded.extend_from_slice(&[0; 6]);
        let p = Ipv4Packet::new_checked(&padded[..]).unwrap();
        assert_eq!((p.packet_len(), p.payload().len()), (60, 40));
        let p = Ipv4Packet::new_checked(&SYN[..30]).unwrap();
        assert_eq!((p.packet_len(), p.payload().len()), (30, 10));
    }

    #[test]
    fn short_and_malformed_headers_are_errors() {
        for n in 0..IPV4_HEADER_LEN {
            assert_eq!(
                Ipv4Packet::new_checked(&SYN[..n]).unwrap_err(),
                WireError::Truncated { need: 20, have: n }
            );
        }
        let with = |i: usize, v: u8| {
            let mut b = SYN;
            b[i] = v;
            Ipv4Packet::new_checked(b.to_vec()).map(|_| ()).unwrap_err()
        };
        assert!(
            matches!(with(0, 0x65), WireError::Malformed(_)),
            "version 6"
        );
        for ihl in 0..5 {
            assert!(
                matches!(with(0, 0x40 | ihl), WireError::Malformed(_)),
                "IHL {ihl}"
            );
        }
        // IHL 15 = 60 bytes: exactly the buffer, fine; the total length (60) is not below it.
        let mut b = SYN;
        b[0] = 0x4f;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.options().len(), p.payload().len()), (40, 0));
        assert_eq!(
            Ipv4Packet::new_checked(&b[..59]).unwrap_err(),
            WireError::Truncated { need: 60, have: 59 }
        );
        assert!(
            matches!(with(3, 19), WireError::Malformed(_)),
            "total length 19"
        );
    }
}
