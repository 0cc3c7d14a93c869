//! The node types, one per file. Each file's header says its hooks, what each does, its
//! control messages and its counters.

pub mod bridge;
pub mod echo;
pub mod ether;
pub mod hole;
pub mod hosttable;
pub mod hub;
pub mod one2many;
pub mod socket;
pub mod tee;
pub mod vlan;

use crate::graph::{HookCx, HookSpec, NodeType, Slot, MAX_SLOT};

/// Every node type, by name.
pub const TYPES: &[&str] = &[
    "bridge", "echo", "ether", "hole", "hub", "one2many", "socket", "tee", "vlan",
];

/// Types `mkpeer` can create (ether nodes come from attached interfaces, the socket node is
/// the control node `.`).
pub fn user_types() -> Vec<&'static str> {
    TYPES
        .iter()
        .copied()
        .filter(|t| *t != "ether" && *t != "socket")
        .collect()
}

/// A new node of type `ty`, or None for an unknown (or not user-creatable) type.
pub fn create(ty: &str, epoch: &crate::epoch::Epoch) -> Option<Box<dyn NodeType>> {
    Some(match ty {
        "bridge" => Box::new(bridge::Bridge::new(epoch)),
        "echo" => Box::new(echo::Echo),
        "hole" => Box::new(hole::Hole),
        "hub" => Box::new(hub::Hub),
        "one2many" => Box::new(one2many::One2Many::new()),
        "socket" => Box::new(socket::Socket),
        "tee" => Box::new(tee::Tee),
        "vlan" => Box::new(vlan::Vlan::new()),
        _ => return None,
    })
}

/// For types that accept any hook name: the lowest free slot.
pub(crate) fn any_hook(cx: &HookCx<'_>) -> Result<HookSpec, String> {
    Ok(HookSpec {
        slot: cx.first_free(0)?,
        tag: 0,
    })
}

/// Parses `<prefix><N>` where N is a decimal without leading zeros, N <= max.
pub(crate) fn numbered(name: &str, prefix: &str, max: u32) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    (n <= max).then_some(n)
}

pub(crate) const _ASSERT_SLOTS: Slot = MAX_SLOT;

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_names() {
        use super::numbered;
        assert_eq!(numbered("link0", "link", 100), Some(0));
        assert_eq!(numbered("link17", "link", 100), Some(17));
        assert_eq!(numbered("link01", "link", 100), None);
        assert_eq!(numbered("link", "link", 100), None);
        assert_eq!(numbered("link1x", "link", 100), None);
        assert_eq!(numbered("link101", "link", 100), None);
        assert_eq!(numbered("uplink1", "link", 100), None);
    }
}
