//! The wire views over arbitrary bytes: `new_checked` must refuse what is too short, and every
//! accessor of a view it accepted must stay in bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpgraph::wire::{EthernetFrame, Ipv4Packet, MacAddr, TcpSegment, VlanHeader, VlanStack};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = EthernetFrame::new_checked(data) {
        let _ = (e.dst_addr(), e.src_addr(), e.ethertype(), e.addrs_u64());
        let _ = e.payload().len();
        if e.is_tagged() {
            if let Ok(v) = VlanHeader::new_checked(e.payload()) {
                let _ = (v.tpid(), v.tci().vid(), v.tci().pcp(), v.inner_ethertype());
            }
        }
        let mut owned = data.to_vec();
        let mut m = EthernetFrame::new_unchecked(&mut owned[..]);
        m.set_src_addr(MacAddr::from_u64(0x0200_0000_0001));
        m.set_ethertype(0x0800);
        let _ = m.payload_mut().len();
    }
    if let Ok(v) = VlanHeader::new_checked(data) {
        let _ = (v.tpid(), v.tci(), v.inner_ethertype());
    }
    if let Ok(ip) = Ipv4Packet::new_checked(data) {
        let _ = (ip.version(), ip.header_len(), ip.total_len(), ip.protocol());
        let _ = (ip.src_addr(), ip.dst_addr(), ip.frag_offset(), ip.verify_checksum());
        let _ = (ip.options().len(), ip.payload().len(), ip.packet_len());
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if let Ok(t) = TcpSegment::new_checked(ip.payload()) {
            let _ = (t.src_port(), t.dst_port(), t.flags(), t.header_len());
            let _ = (t.options().len(), t.payload().len(), t.verify_checksum(src, dst));
            for o in t.options_iter() {
                let _ = o;
            }
            let mut owned = ip.payload().to_vec();
            let mut m = TcpSegment::new_unchecked(&mut owned[..]);
            m.fill_checksum(src, dst);
        }
        let mut owned = data.to_vec();
        let mut m = Ipv4Packet::new_unchecked(&mut owned[..]);
        m.fill_checksum();
    }
    for limit in [0usize, 1, 3, 10] {
        let mut owned = data.to_vec();
        if let Ok(mut st) = VlanStack::new_checked(&mut owned[..], limit) {
            for i in 0..st.depth() {
                let _ = st.tag(i).tci();
            }
            st.rotate(data.first().copied().unwrap_or(0) as i8 as isize);
        }
    }
    if data.len() >= 6 {
        let _ = MacAddr::from_bytes(&data[..6]);
    }
    let _ = xdpgraph::gen::frame::parse(data);
});
