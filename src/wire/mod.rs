//! Typed zero-copy views over frame bytes, in the style of smoltcp's `wire` module.
//!
//! Every view wraps `T: AsRef<[u8]>` (read) or `T: AsMut<[u8]>` (write) and names its field
//! offsets. `new_checked` validates the length first, so a runt or a truncated tag comes back as
//! a [`WireError`], never as a panic or an out-of-bounds read.

pub mod checksum;
mod ethernet;
mod ipv4;
mod mac;
mod tcp;
mod vlan;

pub use ethernet::{EtherType, EthernetFrame, ETHERNET_ADDRS_LEN, ETHERNET_HEADER_LEN};
pub use ipv4::{IpProtocol, Ipv4Packet, IPV4_HEADER_LEN};
pub use mac::{MacAddr, MacParseError};
pub use tcp::{
    TcpFlags, TcpOption, TcpOptionKind, TcpOptions, TcpSegment, TCP_HEADER_LEN, TCP_MSS_OPTION_LEN,
};
pub use vlan::{is_stack_tpid, Tci, VlanHeader, VlanStack, VLAN_HEADER_LEN, VLAN_TAG_LEN};

/// Why a buffer cannot be viewed as the asked-for header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the header (a runt frame, or a tag cut short).
    #[error("truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    /// A field holds a value the header does not allow.
    #[error("malformed header: {0}")]
    Malformed(&'static str),
}

pub(crate) fn check_len(buf: &[u8], need: usize) -> Result<(), WireError> {
    if buf.len() < need {
        Err(WireError::Truncated {
            need,
            have: buf.len(),
        })
    } else {
        Ok(())
    }
}
