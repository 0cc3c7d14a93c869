//! pcapng, as `xdpgraph ctl capture -w` writes it and as the tests read it back.
//!
//! One Section Header Block (SHB), one Interface Description Block (IDB) per capture point
//! (link type 1, Ethernet; `if_name`; `if_tsresol` = 9, nanoseconds; the snap length), and one
//! Enhanced Packet Block (EPB) per frame: interface, 64-bit timestamp in nanoseconds since the
//! UNIX epoch, captured and original lengths, the bytes padded to 32 bits, and the `epb_flags`
//! option whose low two bits are the direction (1 inbound, 2 outbound). Every block starts with
//! its type and total length and ends with the total length again; options are (code, length,
//! value padded to 32 bits) and end with `opt_endofopt`. Little-endian (the byte-order magic
//! says so to readers). Layout per draft-ietf-opsawg-pcapng; tcpdump and Wireshark read it.
//!
//! The [`read`] side is a small strict reader for tests: it checks the lengths at both ends of
//! every block, the padding and the option lists.

use crate::graph::capture::Dir;
use std::io::{self, Write};

/// Block types.
pub const SHB: u32 = 0x0A0D_0D0A;
pub const IDB: u32 = 0x0000_0001;
pub const EPB: u32 = 0x0000_0006;
/// The SHB's byte-order magic.
pub const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u16 = 1;

/// Option codes.
const OPT_ENDOFOPT: u16 = 0;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// A block under construction: body, then options.
struct Block {
    ty: u32,
    body: Vec<u8>,
}

impl Block {
    fn new(ty: u32) -> Block {
        Block {
            ty,
            body: Vec::with_capacity(64),
        }
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Bytes padded with zeros to 32 bits.
    fn padded(&mut self, b: &[u8]) -> &mut Self {
        self.body.extend_from_slice(b);
        self.body
            .resize(self.body.len() + pad4(b.len()) - b.len(), 0);
        self
    }
    fn opt(&mut self, code: u16, v: &[u8]) -> &mut Self {
        self.u16(code).u16(v.len() as u16).padded(v)
    }
    fn end_opts(&mut self) -> &mut Self {
        self.u16(OPT_ENDOFOPT).u16(0)
    }
    fn write(&self, w: &mut dyn Write) -> io::Result<()> {
        let total = (12 + self.body.len()) as u32;
        let mut b = Vec::with_capacity(total as usize);
        b.extend_from_slice(&self.ty.to_le_bytes());
        b.extend_from_slice(&total.to_le_bytes());
        b.extend_from_slice(&self.body);
        b.extend_from_slice(&total.to_le_bytes());
        w.write_all(&b)
    }
}

/// Writes a pcapng section: [`Writer::new`] writes the SHB, [`Writer::interface`] an IDB,
/// [`Writer::packet`] an EPB.
pub struct Writer<W: Write> {
    w: W,
    interfaces: u32,
}

impl<W: Write> Writer<W> {
    /// Starts a section (the SHB, naming `app` as the writing application).
    pub fn new(mut w: W, app: &str) -> io::Result<Writer<W>> {
        let mut b = Block::new(SHB);
        b.u32(BYTE_ORDER_MAGIC).u16(1).u16(0);
        b.body.extend_from_slice(&(-1i64).to_le_bytes()); // section length: unknown
        b.opt(SHB_USERAPPL, app.as_bytes()).end_opts();
        b.write(&mut w)?;
        Ok(Writer { w, interfaces: 0 })
    }

    /// Describes a capture point (Ethernet, nanosecond timestamps); returns its interface ID.
    pub fn interface(&mut self, name: &str, snaplen: u32) -> io::Result<u32> {
        let mut b = Block::new(IDB);
        b.u16(LINKTYPE_ETHERNET).u16(0).u32(snaplen);
        b.opt(IF_NAME, name.as_bytes())
            .opt(IF_TSRESOL, &[9])
            .end_opts();
        b.write(&mut self.w)?;
        self.interfaces += 1;
        Ok(self.interfaces - 1)
    }

    /// One frame: `data` are its first bytes (caplen), `origlen` its length.
    pub fn packet(
        &mut self,
        iface: u32,
        ts_ns: u64,
        dir: Dir,
        data: &[u8],
        origlen: u32,
    ) -> io::Result<()> {
        let mut b = Block::new(EPB);
        b.body.reserve(data.len() + 32);
        b.u32(iface)
            .u32((ts_ns >> 32) as u32)
            .u32(ts_ns as u32)
            .u32(data.len() as u32)
            .u32(origlen)
            .padded(data);
        b.opt(EPB_FLAGS, &(dir as u32).to_le_bytes()).end_opts();
        b.write(&mut self.w)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }
    pub fn into_inner(self) -> W {
        self.w
    }
}

/// An interface as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub linktype: u16,
    pub snaplen: u32,
    pub name: Option<String>,
    /// `if_tsresol`'s value (6, microseconds, when absent).
    pub tsresol: u8,
}

/// A frame as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub iface: u32,
    /// The raw 64-bit timestamp (in units of the interface's `if_tsresol`).
    pub ts: u64,
    pub data: Vec<u8>,
    pub origlen: u32,
    /// `epb_flags`, if present.
    pub flags: Option<u32>,
}

impl Packet {
    /// The direction from `epb_flags`.
    pub fn dir(&self) -> Option<Dir> {
        Dir::from_bits(self.flags? as u64 & 3)
    }
}

/// What a pcapng file held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    pub sections: usize,
    pub interfaces: Vec<Interface>,
    pub packets: Vec<Packet>,
}

/// Why a file is not the pcapng we write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcapngError {
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("block at byte {at}: {why}")]
    Bad { at: usize, why: String },
}

/// Little-endian fields of a block, checked against its end.
struct Cur<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cur<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], PcapngError> {
        let s = self.b.get(self.at..self.at + n);
        let s = s.ok_or(PcapngError::Truncated(self.at))?;
        self.at += n;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, PcapngError> {
        Ok(u16::from_le_bytes(self.bytes(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, PcapngError> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().expect("4")))
    }
    /// Options up to `opt_endofopt`: (code, value).
    fn options(&mut self) -> Result<Vec<(u16, Vec<u8>)>, PcapngError> {
        let mut v = Vec::new();
        loop {
            let (code, len) = (self.u16()?, self.u16()? as usize);
            if code == OPT_ENDOFOPT {
                return Ok(v);
            }
            let val = self.bytes(pad4(len))?;
            if val[len..].iter().any(|b| *b != 0) {
                return Err(self.bad(format!("option {code}: padding is not zero")));
            }
            v.push((code, val[..len].to_vec()));
        }
    }
    fn bad(&self, why: String) -> PcapngError {
        PcapngError::Bad { at: self.at, why }
    }
}

/// Reads a whole pcapng file (little-endian, as [`Writer`] writes it), strictly.
pub fn read(b: &[u8]) -> Result<Capture, PcapngError> {
    let mut out = Capture::default();
    let mut at = 0;
    while at < b.len() {
        let mut c = Cur { b, at };
        let (ty, total) = (c.u32()?, c.u32()? as usize);
        if total < 12 || total % 4 != 0 {
            return Err(c.bad(format!("block length {total}")));
        }
        let body = c.bytes(total - 12)?;
        let end = c.u32()? as usize;
        if end != total {
            return Err(c.bad(format!(
                "block length {total} at the start, {end} at the end"
            )));
        }
        let mut body = Cur { b: body, at: 0 };
        match ty {
            SHB => read_shb(&mut body, &mut out)?,
            IDB => read_idb(&mut body, &mut out)?,
            EPB => read_epb(&mut body, &mut out)?,
            _ => {} // other blocks are allowed, and skipped
        }
        if ty != SHB && out.sections == 0 {
            return Err(PcapngError::Bad {
                at,
                why: "block before the section header".into(),
            });
        }
        if body.at != body.b.len() {
            return Err(PcapngError::Bad {
                at,
                why: format!("{} bytes after the options", body.b.len() - body.at),
            });
        }
        at += total;
    }
    Ok(out)
}

fn read_shb(c: &mut Cur<'_>, out: &mut Capture) -> Result<(), PcapngError> {
    if c.u32()? != BYTE_ORDER_MAGIC {
        return Err(c.bad("byte-order magic: not little-endian pcapng".into()));
    }
    let (major, _minor) = (c.u16()?, c.u16()?);
    if major != 1 {
        return Err(c.bad(format!("version {major}")));
    }
    c.bytes(8)?;
    c.options()?;
    out.sections += 1;
    Ok(())
}

fn read_idb(c: &mut Cur<'_>, out: &mut Capture) -> Result<(), PcapngError> {
    let linktype = c.u16()?;
    c.u16()?;
    let snaplen = c.u32()?;
    let mut i = Interface {
        linktype,
        snaplen,
        name: None,
        tsresol: 6,
    };
    for (code, v) in c.options()? {
        match code {
            IF_NAME => i.name = Some(String::from_utf8_lossy(&v).into_owned()),
            IF_TSRESOL => i.tsresol = *v.first().ok_or_else(|| c.bad("empty if_tsresol".into()))?,
            _ => {}
        }
    }
    out.interfaces.push(i);
    Ok(())
}

fn read_epb(c: &mut Cur<'_>, out: &mut Capture) -> Result<(), PcapngError> {
    let iface = c.u32()?;
    let ts = (c.u32()? as u64) << 32 | c.u32()? as u64;
    let (caplen, origlen) = (c.u32()? as usize, c.u32()?);
    if iface as usize >= out.interfaces.len() {
        return Err(c.bad(format!("interface {iface} was not described")));
    }
    let data = c.bytes(pad4(caplen))?;
    if data[caplen..].iter().any(|b| *b != 0) {
        return Err(c.bad("packet padding is not zero".into()));
    }
    let data = data[..caplen].to_vec();
    let mut flags = None;
    if c.at < c.b.len() {
        for (code, v) in c.options()? {
            if code == EPB_FLAGS && v.len() == 4 {
                flags = Some(u32::from_le_bytes(v[..4].try_into().expect("4")));
            }
        }
    }
    out.packets.push(Packet {
        iface,
        ts,
        data,
        origlen,
        flags,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le32(v: u32) -> [u8; 4] {
        v.to_le_bytes()
    }

    #[test]
    fn section_header_bytes() {
        let w = Writer::new(Vec::new(), "xg").unwrap().into_inner();
        let mut want = Vec::new();
        want.extend(le32(SHB));
        want.extend(le32(40)); // 12 + magic 4 + version 4 + length 8 + option 8 + end 4
        want.extend(le32(0x1A2B_3C4D));
        want.extend([1, 0, 0, 0]); // major 1, minor 0
        want.extend([0xff; 8]); // section length -1
        want.extend([4, 0, 2, 0, b'x', b'g', 0, 0]); // shb_userappl "xg", padded
        want.extend([0, 0, 0, 0]); // opt_endofopt
        want.extend(le32(40));
        assert_eq!(w, want);
    }

    #[test]
    fn interface_and_packet_bytes() {
        let mut w = Writer::new(Vec::new(), "xg").unwrap();
        let skip = w.get_mut().len();
        assert_eq!(w.interface("br0:link1", 96).unwrap(), 0);
        let ts = 0x0000_0001_0000_0002u64;
        w.packet(0, ts, Dir::Out, &[0xaa, 0xbb, 0xcc, 0xdd, 0xee], 60)
            .unwrap();
        let b = w.into_inner()[skip..].to_vec();
        let mut want = Vec::new();
        // IDB: 12 + 8 + if_name (4 + 12) + if_tsresol (4 + 4) + end 4 = 48
        want.extend(le32(IDB));
        want.extend(le32(48));
        want.extend([1, 0, 0, 0]); // LINKTYPE_ETHERNET, reserved
        want.extend(le32(96));
        want.extend([2, 0, 9, 0]);
        want.extend(b"br0:link1\0\0\0");
        want.extend([9, 0, 1, 0, 9, 0, 0, 0]); // if_tsresol = 9 (10^-9 s)
        want.extend([0, 0, 0, 0]);
        want.extend(le32(48));
        // EPB: 12 + 20 + data 8 (5 padded) + epb_flags 8 + end 4 = 52
        want.extend(le32(EPB));
        want.extend(le32(52));
        want.extend(le32(0)); // interface 0
        want.extend(le32(1)); // timestamp, high 32 bits
        want.extend(le32(2)); // low 32 bits
        want.extend(le32(5)); // captured
        want.extend(le32(60)); // original
        want.extend([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0, 0, 0]);
        want.extend([2, 0, 4, 0, 2, 0, 0, 0]); // epb_flags: outbound
        want.extend([0, 0, 0, 0]);
        want.extend(le32(52));
        assert_eq!(b, want);
    }

    #[test]
    fn round_trip() {
        let mut w = Writer::new(Vec::new(), "xdpgraph").unwrap();
        w.interface("a:b", 262_144).unwrap();
        w.interface("c:d", 20).unwrap();
        for (i, n) in [0usize, 1, 3, 4, 60, 1514].into_iter().enumerate() {
            let data: Vec<u8> = (0..n).map(|k| k as u8).collect();
            let dir = if i % 2 == 0 { Dir::In } else { Dir::Out };
            w.packet(
                (i % 2) as u32,
                1_700_000_000_123_456_789 + i as u64,
                dir,
                &data,
                n as u32 + 1,
            )
            .unwrap();
        }
        let c = read(&w.into_inner()).unwrap();
        assert_eq!(c.sections, 1);
        assert_eq!(c.interfaces.len(), 2);
        let a = &c.interfaces[0];
        assert_eq!(
            (a.linktype, a.snaplen, a.name.as_deref(), a.tsresol),
            (1, 262_144, Some("a:b"), 9)
        );
        assert_eq!(c.packets.len(), 6);
        for (i, p) in c.packets.iter().enumerate() {
            assert_eq!(p.ts, 1_700_000_000_123_456_789 + i as u64);
            assert_eq!(p.origlen as usize, p.data.len() + 1);
            assert_eq!(p.dir(), Some(if i % 2 == 0 { Dir::In } else { Dir::Out }));
        }
    }

    #[test]
    fn the_reader_is_strict() {
        let mut w = Writer::new(Vec::new(), "xg").unwrap();
        w.interface("a:b", 100).unwrap();
        w.packet(0, 1, Dir::In, &[1, 2, 3], 3).unwrap();
        let good = w.into_inner();
        assert!(read(&good).is_ok());
        // the trailing length disagrees
        let mut b = good.clone();
        let n = b.len();
        b[n - 4] ^= 4;
        assert!(
            matches!(read(&b), Err(PcapngError::Bad { .. })),
            "{:?}",
            read(&b)
        );
        // truncated
        assert!(matches!(
            read(&good[..n - 2]),
            Err(PcapngError::Truncated(_))
        ));
        // a packet of an interface never described
        let mut w = Writer::new(Vec::new(), "xg").unwrap();
        w.packet(0, 1, Dir::In, &[1], 1).unwrap();
        assert!(read(&w.into_inner()).is_err());
    }
}
