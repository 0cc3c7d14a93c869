//! Every reason a frame can be dropped. Each drop increments the counter of its reason on the
//! node that dropped it and in the graph-wide totals, so `ctl errors` lists them all.

macro_rules! reasons {
    ($( $v:ident = $name:literal : $desc:literal ),* $(,)?) => {
        /// Why a frame was dropped.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason { $( $v ),* }

        impl DropReason {
            pub const ALL: &'static [DropReason] = &[ $( DropReason::$v ),* ];
            pub const COUNT: usize = Self::ALL.len();
            /// Short snake_case name, as `ctl errors` prints it.
            pub fn name(self) -> &'static str {
                match self { $( DropReason::$v => $name ),* }
            }
            /// One-line explanation.
            pub fn describe(self) -> &'static str {
                match self { $( DropReason::$v => $desc ),* }
            }
            pub fn from_name(s: &str) -> Option<DropReason> {
                Self::ALL.iter().copied().find(|r| r.name() == s)
            }
        }
    };
}

reasons! {
    HopLimit = "hop_limit": "frame passed more hops than the hop limit (a cycle in the graph)",
    NotConnected = "not_connected": "sent out a hook that is not connected",
    HookGone = "hook_gone": "sent through a hook removed while the frame was in flight",
    NodeGone = "node_gone": "arrived at a node shut down while the frame was in flight",
    NoBufs = "no_buffers": "a copy was needed and the frame pool was empty",
    WorkOverflow = "work_overflow": "too many bursts pending in one worker pass",
    Unhandled = "unhandled": "a node left a frame unhandled (a bug; reported, not leaked)",
    TxFull = "tx_ring_full": "the port's transmit ring was full",
    NoPort = "no_port": "no transmit queue for this port on this worker",
    PortDown = "port_down": "the port's interface is gone or down",
    HostUnavailable = "host_unavailable": "no path to the host stack for this port",
    TagFailed = "tag_failed": "a VLAN tag could not be inserted or removed (no room, truncated)",
    Runt = "runt": "shorter than an Ethernet header",
    InvalidSrc = "invalid_source": "multicast source MAC address",
    LoopDrop = "loop_drop": "received on a bridge link muted after a loop was detected",
    SameLink = "same_link": "destination host is on the link the frame came in on",
    NoDestination = "no_destination": "no link to flood to",
    TableFull = "table_full": "bridge host table full: source could not be learned",
    NoFilter = "no_filter": "frame from a vlan hook that has no filter",
    NoActiveLink = "no_active_link": "one2many has no enabled many link",
    Discarded = "discarded": "discarded by design (hole node, socket node)",
}

#[cfg(test)]
mod tests {
    use super::DropReason;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        for r in DropReason::ALL {
            assert_eq!(DropReason::from_name(r.name()), Some(*r));
            assert!(!r.describe().is_empty());
        }
    }
}
