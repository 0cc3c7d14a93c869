//! The built-in node types, one per file. Each file declares its type in one
//! `pub static TYPE: TypeInfo` (hooks, messages with their argument shapes, hook counters,
//! drop reasons, how its nodes are made) and implements [`NodeType`] for its nodes.
//!
//! Adding a type: a new file here and one line in [`BUILTIN`]. A type defined outside the
//! crate is added to a graph with `Graph::register_type`.

pub mod bpf;
pub mod bridge;
pub mod car;
pub mod echo;
pub mod eiface;
pub mod etf;
pub mod ether;
pub mod hole;
pub mod hosttable;
pub mod hub;
pub mod ksocket;
pub mod macfilter;
pub mod one2many;
pub mod pipe;
pub mod socket;
pub mod tcpmss;
pub mod tee;
pub mod vlan;
pub mod vlan_rotate;

use crate::graph::{HookError, HookSpec, Registry, Slot, TypeInfo};

/// The type of the control node `.`.
pub static CONTROL: &TypeInfo = &socket::TYPE;

/// Every built-in type.
pub static BUILTIN: &[&TypeInfo] = &[
    &bpf::TYPE,
    &bridge::TYPE,
    &car::TYPE,
    &echo::TYPE,
    &eiface::TYPE,
    &etf::TYPE,
    &ether::TYPE,
    &hole::TYPE,
    &hub::TYPE,
    &ksocket::TYPE,
    &macfilter::TYPE,
    &one2many::TYPE,
    &pipe::TYPE,
    &socket::TYPE,
    &tcpmss::TYPE,
    &tee::TYPE,
    &vlan::TYPE,
    &vlan_rotate::TYPE,
];

/// A registry of the built-in types, for `Graph::new`.
pub fn builtin() -> Registry {
    let mut r = Registry::new(CONTROL);
    for t in BUILTIN.iter().filter(|t| t.name != CONTROL.name) {
        r.register(t).expect("the built-in types are valid and fit");
    }
    r
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

/// For types with a fixed set of hook names: the slot of `name`, or `what` (the error naming
/// the valid hooks).
pub(crate) fn fixed_hook(
    names: &[(&str, Slot)],
    name: &str,
    what: &'static str,
) -> Result<HookSpec, HookError> {
    (names.iter())
        .find(|(n, _)| *n == name)
        .map(|(_, s)| HookSpec { slot: *s, tag: 0 })
        .ok_or_else(|| what.into())
}

/// For types with a fixed set of hook names: the first one not in use (`ctl save`'s spare).
pub(crate) fn spare_fixed(names: &[(&str, Slot)], used: &dyn Fn(&str) -> bool) -> Option<String> {
    (names.iter())
        .map(|(n, _)| n.to_string())
        .find(|n| !used(n))
}

/// For types that accept any hook name: a free name for `ctl save`'s temporary hook.
pub(crate) fn spare_any(used: &dyn Fn(&str) -> bool) -> Option<String> {
    (0..).map(|i| format!("_save{i}")).find(|n| !used(n))
}

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

    #[test]
    fn the_builtin_registry_has_every_type() {
        let r = super::builtin();
        assert_eq!(r.iter().count(), super::BUILTIN.len());
        assert_eq!(r.control().name, "socket");
        assert_eq!(r.port_type().map(|t| t.name), Some("ether"));
        for t in super::BUILTIN {
            assert!(r.get(t.name).is_some(), "{}", t.name);
        }
    }
}
