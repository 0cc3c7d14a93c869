//! The wire views over arbitrary bytes: `new_checked` must refuse what is too short, and every
//! accessor of a view it accepted must stay in bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdpgraph::wire::{EthernetFrame, MacAddr, VlanHeader};

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
    if data.len() >= 6 {
        let _ = MacAddr::from_bytes(&data[..6]);
    }
    let _ = xdpgraph::gen::frame::parse(data);
});
