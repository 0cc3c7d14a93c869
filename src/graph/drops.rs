//! Why a frame was dropped.
//!
//! A [`DropReason`] is a small number. Values below [`DropReason::GENERIC`] are the engine's own
//! reasons (the same for every node type: a dead hook, a full TX ring, ...); a node type's own
//! reasons follow, numbered from 0 by [`DropReason::local`] and declared with their names and
//! descriptions in the type's descriptor ([`TypeInfo::drop_reasons`](super::TypeInfo), usually
//! through [`drop_reasons!`](crate::drop_reasons)). So the same number means different things
//! in different types, and a reason is named by its (type, reason) pair.
//!
//! Each drop increments the counter of its reason on the node that dropped it, and one
//! graph-wide per-worker counter for (its node type, reason), so `ctl errors` gives exact totals
//! even for nodes shut down since.

/// Why a frame was dropped (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DropReason(u16);

/// A drop reason's name (snake_case, as `ctl errors` prints it) and one-line explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonInfo {
    pub name: &'static str,
    pub describe: &'static str,
}

macro_rules! generic_reasons {
    ($( $(#[$a:meta])* $v:ident = $name:literal : $desc:literal ),* $(,)?) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[repr(u16)]
        enum Generic { $( $v ),* }

        // The engine's reasons keep the names they had as enum variants.
        #[allow(non_upper_case_globals)]
        impl DropReason {
            $( $(#[$a])* pub const $v: DropReason = DropReason(Generic::$v as u16); )*
        }

        /// The engine's reasons, indexed by their value.
        pub const GENERIC_REASONS: &[ReasonInfo] = &[
            $( ReasonInfo { name: $name, describe: $desc } ),*
        ];
    };
}

generic_reasons! {
    /// A cycle: the frame passed more hops than `GraphConfig::hop_limit`.
    HopLimit = "hop_limit": "frame passed more hops than the hop limit (a cycle in the graph)",
    /// Sent out of a slot with no hook.
    NotConnected = "not_connected": "sent out a hook that is not connected",
    /// Sent through a hook removed while the frame was in flight.
    HookGone = "hook_gone": "sent through a hook removed while the frame was in flight",
    /// Arrived at a node shut down while the frame was in flight.
    NodeGone = "node_gone": "arrived at a node shut down while the frame was in flight",
    /// A copy was needed and the pool was empty.
    NoBufs = "no_buffers": "a copy was needed and the frame pool was empty",
    /// Too many bursts pending in one worker pass.
    WorkOverflow = "work_overflow": "too many bursts pending in one worker pass",
    /// A node left a frame unhandled in `rcv`.
    Unhandled = "unhandled": "a node left a frame unhandled (a bug; reported, not leaked)",
    /// The port's TX ring was full.
    TxFull = "tx_ring_full": "the port's transmit ring was full",
    /// This worker has no queue on the port.
    NoPort = "no_port": "no transmit queue for this port on this worker",
    /// The port's interface is gone or down.
    PortDown = "port_down": "the port's interface is gone or down",
    /// No path to the host stack.
    HostUnavailable = "host_unavailable": "no path to the host stack for this port",
    /// Discarded on purpose (a sink).
    Discarded = "discarded": "discarded by design (hole node, socket node)",
    /// Held by a node to be sent later, and freed: the node or its hook went, or the worker
    /// stopped.
    Flushed = "flushed": "held by a node to be sent later (pipe delay, car shaping queue) and \
                          freed because the node or its hook was removed or the worker stopped",
}

impl DropReason {
    /// How many engine reasons there are; a type's own reasons start here.
    pub const GENERIC: usize = GENERIC_REASONS.len();

    /// A node type's own reason number `i` (its `i`-th entry in `TypeInfo::drop_reasons`).
    pub const fn local(i: u16) -> DropReason {
        DropReason(Self::GENERIC as u16 + i)
    }

    /// The engine reason with this name.
    pub fn generic(name: &str) -> Option<DropReason> {
        GENERIC_REASONS
            .iter()
            .position(|r| r.name == name)
            .map(|i| DropReason(i as u16))
    }

    /// The reason numbered `i` (engine reasons first, then a type's own).
    pub(crate) const fn at(i: usize) -> DropReason {
        DropReason(i as u16)
    }

    /// Its number: an index into a node's drop counters.
    #[inline(always)]
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// An engine reason (the same for every type)?
    pub const fn is_generic(self) -> bool {
        (self.0 as usize) < Self::GENERIC
    }

    /// Name and description of an engine reason (None for a type's own reason: ask its
    /// [`TypeInfo`](super::TypeInfo)).
    pub fn generic_info(self) -> Option<&'static ReasonInfo> {
        GENERIC_REASONS.get(self.index())
    }
}

/// Declares a node type's own drop reasons: a module with one [`DropReason`] constant per
/// reason (numbered in order with [`DropReason::local`]) and `ALL`, their [`ReasonInfo`]s, for
/// the type's descriptor.
///
/// ```
/// xdpgraph::drop_reasons! {
///     pub mod reason {
///         /// Shorter than an Ethernet header.
///         RUNT = "runt": "shorter than an Ethernet header",
///     }
/// }
/// assert_eq!(reason::ALL[0].name, "runt");
/// assert!(!reason::RUNT.is_generic());
/// ```
#[macro_export]
macro_rules! drop_reasons {
    ($vis:vis mod $m:ident { $( $(#[$a:meta])* $c:ident = $name:literal : $desc:literal ),* $(,)? }) => {
        $vis mod $m {
            #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
            #[repr(u16)]
            enum Ix { $( $c ),* }
            $( $(#[$a])* pub const $c: $crate::graph::DropReason =
                $crate::graph::DropReason::local(Ix::$c as u16); )*
            /// Every reason of this type, in number order (for its `TypeInfo`).
            pub const ALL: &[$crate::graph::ReasonInfo] = &[
                $( $crate::graph::ReasonInfo { name: $name, describe: $desc } ),*
            ];
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_names_are_unique_and_round_trip() {
        let mut names: Vec<_> = GENERIC_REASONS.iter().map(|r| r.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::GENERIC);
        for (i, r) in GENERIC_REASONS.iter().enumerate() {
            let d = DropReason::generic(r.name).unwrap();
            assert_eq!(d.index(), i);
            assert!(d.is_generic() && !r.describe.is_empty());
            assert_eq!(d.generic_info(), Some(r));
        }
        assert_eq!(
            DropReason::HopLimit.generic_info().unwrap().name,
            "hop_limit"
        );
        assert_eq!(
            DropReason::Discarded.generic_info().unwrap().name,
            "discarded"
        );
    }

    crate::drop_reasons! {
        mod local {
            A = "a": "first",
            B = "b": "second",
        }
    }

    #[test]
    fn local_reasons_follow_the_generic_ones() {
        assert_eq!(local::A.index(), DropReason::GENERIC);
        assert_eq!(local::B.index(), DropReason::GENERIC + 1);
        assert!(!local::B.is_generic() && local::B.generic_info().is_none());
        assert_eq!(local::ALL[1].name, "b");
    }
}
