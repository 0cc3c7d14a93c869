//! TCP segments (RFC 9293) and their options.
//!
//! [`TcpSegment`] views the bytes from the start of the TCP header to the end of the segment
//! (the IP payload). `new_checked` accepts a header whose data offset is at least 20 bytes and
//! within the buffer. [`TcpSegment::options_iter`] walks the options as receivers do (FreeBSD's
//! `tcp_dooptions`, Linux's `tcp_parse_options`): it ends at End of Option List or at the end
//! of the header, and stops with an error at an option whose length is below 2 or runs past
//! the header.

use super::{check_len, checksum, ipv4::IpProtocol, WireError};
use std::net::Ipv4Addr;

/// Bytes of a TCP header without options (the least the data offset allows).
pub const TCP_HEADER_LEN: usize = 20;

mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const OPTIONS: usize = 20;
}

/// The flag bits of the header's 14th byte.
pub struct TcpFlags;
impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// Option kinds.
pub struct TcpOptionKind;
impl TcpOptionKind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    /// Maximum segment size: kind 2, length 4, a 16-bit value.
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Length of a well-formed MSS option.
pub const TCP_MSS_OPTION_LEN: usize = 4;

/// One option: its kind, where its kind byte is within [`TcpSegment::options`], and its data
/// (after the kind and length bytes; empty for a NOP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOption<'a> {
    pub offset: usize,
    pub kind: u8,
    pub data: &'a [u8],
}

impl TcpOption<'_> {
    /// The value of a well-formed MSS option.
    pub fn mss(&self) -> Option<u16> {
        match (self.kind, self.data) {
            (TcpOptionKind::MSS, [a, b]) => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }
}

/// The options of a header, in order (see the module documentation for where it stops).
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    opts: &'a [u8],
    pos: usize,
}

impl<'a> TcpOptions<'a> {
    /// Walks `opts`, the bytes between the fixed header and the data offset.
    pub fn new(opts: &'a [u8]) -> Self {
        TcpOptions { opts, pos: 0 }
    }
    fn stop(&mut self, why: &'static str) -> Option<Result<TcpOption<'a>, WireError>> {
        self.pos = self.opts.len();
        Some(Err(WireError::Malformed(why)))
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.opts[self.pos.min(self.opts.len())..];
        let offset = self.pos;
        let (&kind, after) = rest.split_first()?;
        match kind {
            TcpOptionKind::END => {
                self.pos = self.opts.len();
                None
            }
            TcpOptionKind::NOP => {
                self.pos += 1;
                Some(Ok(TcpOption {
                    offset,
                    kind,
                    data: &[],
                }))
            }
            _ => {
                let Some(&len) = after.first() else {
                    return self.stop("TCP option without its length byte");
                };
                let len = len as usize;
                if len < 2 {
                    return self.stop("TCP option length below 2");
                }
                if len > rest.len() {
                    return self.stop("TCP option runs past the header");
                }
                self.pos += len;
                Some(Ok(TcpOption {
                    offset,
                    kind,
                    data: &rest[2..len],
                }))
            }
        }
    }
}

/// A read/write view of a TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpSegment<T> {
    /// Wraps `buffer` without checking it: accessors may panic on a short or malformed one.
    pub fn new_unchecked(buffer: T) -> Self {
        TcpSegment { buffer }
    }
    /// Wraps `buffer`, refusing one shorter than its header (`Truncated`) or whose data offset
    /// is below 5 words (`Malformed`).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let s = TcpSegment { buffer };
        check_len(s.buffer.as_ref(), TCP_HEADER_LEN)?;
        if s.header_len() < TCP_HEADER_LEN {
            return Err(WireError::Malformed("TCP data offset below 20 bytes"));
        }
        check_len(s.buffer.as_ref(), s.header_len())?;
        Ok(s)
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }
    fn u32_at(&self, r: std::ops::Range<usize>) -> u32 {
        let b = &self.buffer.as_ref()[r];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }
    pub fn seq_number(&self) -> u32 {
        self.u32_at(field::SEQ_NUM)
    }
    pub fn ack_number(&self) -> u32 {
        self.u32_at(field::ACK_NUM)
    }
    /// The header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        (self.buffer.as_ref()[field::DATA_OFF] >> 4) as usize * 4
    }
    /// The flag byte ([`TcpFlags`]).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    pub fn syn(&self) -> bool {
        self.flags() & TcpFlags::SYN != 0
    }
    pub fn ack(&self) -> bool {
        self.flags() & TcpFlags::ACK != 0
    }
    pub fn fin(&self) -> bool {
        self.flags() & TcpFlags::FIN != 0
    }
    pub fn rst(&self) -> bool {
        self.flags() & TcpFlags::RST != 0
    }
    pub fn window_len(&self) -> u16 {
        self.u16_at(field::WIN_SIZE)
    }
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    pub fn urgent_at(&self) -> u16 {
        self.u16_at(field::URGENT)
    }
    /// The option bytes: from the fixed header's end to the data offset.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }
    /// The options, parsed.
    pub fn options_iter(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options())
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
    /// Whether the checksum over the IPv4 pseudo-header and the whole buffer is right.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v4(src, dst, IpProtocol::TCP, b.len() as u16);
        checksum::combine(&[ph, checksum::data(b)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpSegment<T> {
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Computes the checksum over the IPv4 pseudo-header and the whole buffer, and writes it.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v4(src, dst, IpProtocol::TCP, b.len() as u16);
        let s = checksum::combine(&[ph, checksum::data(b)]);
        self.set_checksum(!s);
    }
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Ipv4Packet, IPV4_HEADER_LEN};

    // The SYN of ipv4.rs's fixture from its TCP header on (checksum 0xf249, computed by an
    // independent implementation): MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
    fn syn() -> [u8; 40] {
        let mut b = [0u8; 40];
        b.copy_from_slice(&crate::wire::ipv4::tests::SYN[IPV4_HEADER_LEN..]);
        b
    }
    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn read_fields() {
        let b = syn();
        let s = TcpSegment::new_checked(&b[..]).unwrap();
        assert_eq!((s.src_port(), s.dst_port()), (12345, 80));
        assert_eq!((s.seq_number(), s.ack_number()), (0x01020304, 0));
        assert_eq!(s.header_len(), 40);
        assert_eq!(s.flags(), TcpFlags::SYN);
        assert!(s.syn() && !s.ack() && !s.fin() && !s.rst());
        assert_eq!(
            (s.window_len(), s.checksum(), s.urgent_at()),
            (64240, 0xf249, 0)
        );
        assert_eq!(s.options().len(), 20);
        assert!(s.payload().is_empty());
        assert!(s.verify_checksum(SRC, DST));
        assert!(!s.verify_checksum(SRC, Ipv4Addr::new(10, 0, 0, 3)));
    }

    #[test]
    fn the_fixture_is_the_ip_payload() {
        let p = Ipv4Packet::new_checked(&crate::wire::ipv4::tests::SYN[..]).unwrap();
        let s = TcpSegment::new_checked(p.payload()).unwrap();
        assert!(s.verify_checksum(p.src_addr(), p.dst_addr()));
    }

    #[test]
    fn options_in_order() {
        let b = syn();
        let s = TcpSegment::new_checked(&b[..]).unwrap();
        let got: Vec<(usize, u8, usize)> = s
            .options_iter()
            .map(|o| o.unwrap())
            .map(|o| (o.offset, o.kind, o.data.len()))
            .collect();
        assert_eq!(
            got,
            [(0, 2, 2), (4, 4, 0), (6, 8, 8), (16, 1, 0), (17, 3, 1)]
        );
        let mss = s.options_iter().next().unwrap().unwrap();
        assert_eq!(mss.mss(), Some(1460));
    }

    #[test]
    fn write_fields_and_checksum() {
        let mut b = syn();
        let mut s = TcpSegment::new_checked(&mut b[..]).unwrap();
        s.set_flags(TcpFlags::SYN | TcpFlags::ACK);
        s.options_mut()[2..4].copy_from_slice(&1400u16.to_be_bytes());
        assert!(!s.verify_checksum(SRC, DST));
        s.fill_checksum(SRC, DST);
        assert!(s.verify_checksum(SRC, DST));
        s.fill_checksum(SRC, DST);
        // SYN -> SYN|ACK adds 0x0010, MSS 1460 -> 1400 takes 60 (0x3c): 0xf249 - 0x10 + 0x3c.
        assert_eq!(s.checksum(), 0xf275);
        assert_eq!(b[13], 0x12);
    }

    #[test]
    fn end_of_options_stops_the_walk() {
        let opts = [1, 0, 2, 4, 5, 0xb4];
        let got: Vec<_> = TcpOptions::new(&opts).collect();
        assert_eq!(
            got.len(),
            1,
            "NOP, then END: the MSS after it is not an option"
        );
    }

    #[test]
    fn malformed_options_stop_the_walk_with_an_error() {
        for opts in [
            &[1, 2, 0, 2, 4, 5, 0xb4][..], // length 0
            &[1, 2, 1, 2, 4, 5, 0xb4][..], // length 1
            &[1, 1, 1, 2][..],             // kind without a length byte
            &[1, 2, 4, 5][..],             // MSS cut short by the header's end
            &[8, 10, 0, 0, 0, 0][..],      // timestamps running past the header
        ] {
            let got: Vec<_> = TcpOptions::new(opts).collect();
            let last = got.last().unwrap();
            assert!(
                matches!(last, Err(WireError::Malformed(_))),
                "{opts:?}: {got:?}"
            );
            assert!(got[..got.len() - 1].iter().all(|o| o.is_ok()), "{opts:?}");
            assert!(
                got.iter().all(|o| o.map_or(true, |o| o.kind == 1)),
                "{opts:?}"
            );
        }
    }

    #[test]
    fn short_and_malformed_headers_are_errors() {
        let b = syn();
        for n in 0..TCP_HEADER_LEN {
            assert_eq!(
                TcpSegment::new_checked(&b[..n]).unwrap_err(),
                WireError::Truncated { need: 20, have: n }
            );
        }
        assert_eq!(
            TcpSegment::new_checked(&b[..39]).unwrap_err(),
            WireError::Truncated { need: 40, have: 39 }
        );
        for off in 0..5u8 {
            let mut m = b;
            m[12] = off << 4;
            assert!(matches!(
                TcpSegment::new_checked(&m[..]),
                Err(WireError::Malformed(_))
            ));
        }
    }
}
