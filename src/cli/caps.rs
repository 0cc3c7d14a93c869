//! `xdpgraph run`'s check of its privileges at start: the capabilities AF_XDP needs on Linux,
//! found missing before the data plane starts, each named with what needs it, instead of an
//! EPERM deep inside a syscall. Proven on Linux 6.18 by tests/privilege.rs (a non-root user with
//! exactly these capabilities as ambient ones attaches, forwards and answers `ctl`; without
//! any one of the required ones it stops here, naming it).
//!
//! Required (for interfaces: `--iface`, `--dpdk`; without them only warned about, since
//! `ctl attach` would need them later):
//! * CAP_NET_ADMIN: attaching the XDP program, its XSK and device maps, the TAP mirrors;
//! * CAP_NET_RAW: AF_XDP sockets;
//! * CAP_BPF (or CAP_SYS_ADMIN): loading BPF programs and maps;
//! * CAP_PERFMON (or CAP_SYS_ADMIN): the verifier refuses the XDP program's pointer handling
//!   without it, and the fast path's tracepoint programs need it;
//! * CAP_IPC_LOCK, or an RLIMIT_MEMLOCK that holds the workers' UMEMs: AF_XDP pins them.
//!
//! Optional (a warning, and the daemon does without):
//! * CAP_SYS_NICE (or an RLIMIT_NICE that allows it): the workers' nice −10; they stay at 0.
//!
//! Not needed: CAP_DAC_READ_SEARCH (the fast path's tracepoint programs are BTF-typed raw
//! tracepoints, attached without tracefs: until 2026-12-03 they were tracefs tracepoints, whose
//! ids in the root-only /sys/kernel/tracing needed it, and a machine without tracefs mounted had
//! no fast path), CAP_SYS_RESOURCE (BPF memory is charged to the memory cgroup since Linux 5.11),
//! CAP_SYS_ADMIN (its one use, entering a veth peer's namespace to see whether it runs NAPI,
//! falls back to "unknown", which the fast path treats as deliverable: a veth whose peer in
//! another namespace has no NAPI then costs the first redirected frames, counted as
//! `fast_path_refused` with a warning, before the interface is left to the workers; physical
//! interfaces are not concerned). DPDK's EAL may need more (hugepage files, physical
//! addresses): not checked.

use xdpgraph::sys::caps::{Cap, CapSet};

/// A capability the data plane needs, and what for.
struct Need {
    cap: Cap,
    /// A capability that does instead (CAP_SYS_ADMIN for CAP_BPF and CAP_PERFMON).
    alt: Option<Cap>,
    what: &'static str,
}

const REQUIRED: [Need; 5] = [
    Need {
        cap: Cap::NET_ADMIN,
        alt: None,
        what: "attaching the XDP program to the interfaces, creating its socket and device maps, the TAP mirrors",
    },
    Need {
        cap: Cap::NET_RAW,
        alt: None,
        what: "opening the AF_XDP sockets",
    },
    Need {
        cap: Cap::BPF,
        alt: Some(Cap::SYS_ADMIN),
        what: "loading the XDP program and its maps",
    },
    Need {
        cap: Cap::PERFMON,
        alt: Some(Cap::SYS_ADMIN),
        what: "loading the XDP program (the verifier refuses its pointer handling without it) and the fast path's tracepoint programs",
    },
    Need {
        cap: Cap::IPC_LOCK,
        alt: None,
        what: "pinning the workers' frame memory (the AF_XDP UMEM)",
    },
];

/// What this process has.
#[derive(Debug, Clone)]
pub struct Have {
    pub caps: CapSet,
    /// RLIMIT_MEMLOCK in bytes (None: unlimited).
    pub memlock: Option<u64>,
    /// The lowest nice value RLIMIT_NICE allows without CAP_SYS_NICE.
    pub lowest_nice: i32,
}

impl Have {
    /// This process, now.
    pub fn now() -> std::io::Result<Have> {
        use xdpgraph::sys::caps;
        Ok(Have {
            caps: caps::current()?.effective,
            memlock: caps::memlock_limit()?,
            lowest_nice: caps::lowest_nice()?,
        })
    }
}

/// What `run` is about to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Interfaces at start (`--iface`, `--dpdk`): the capabilities are required.
    pub interfaces: bool,
    pub dpdk: bool,
    /// Bytes of UMEM all workers pin.
    pub umem_bytes: u64,
    /// `--worker-nice`, when given.
    pub nice: Option<i32>,
    /// The nice the workers get by default (−10 when some core has no worker).
    pub default_nice: i32,
}

/// The outcome: what is missing (each line names the capability and what needs it), what to
/// warn about, and how the daemon does without the optional ones.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub missing: Vec<String>,
    pub warnings: Vec<String>,
    /// Keep the workers at nice 0 (no CAP_SYS_NICE).
    pub nice_zero: bool,
}

fn has(h: &Have, n: &Need) -> bool {
    h.caps.has(n.cap) || n.alt.is_some_and(|a| h.caps.has(a))
}

/// Checks `plan` against what the process `h` has.
pub fn check(h: &Have, plan: &Plan) -> Verdict {
    let mut v = Verdict::default();
    let mut lacking = Vec::new();
    for n in &REQUIRED {
        let memlock_does = n.cap == Cap::IPC_LOCK && h.memlock.is_none_or(|m| m >= plan.umem_bytes);
        if has(h, n) || memlock_does {
            continue;
        }
        let name = match (n.alt, n.cap) {
            (Some(a), c) => format!("{c} (or {a})"),
            (None, Cap::IPC_LOCK) => format!(
                "{} (or a memlock limit of {} MiB: ulimit -l, LimitMEMLOCK=)",
                Cap::IPC_LOCK,
                plan.umem_bytes.div_ceil(1 << 20)
            ),
            (None, c) => c.to_string(),
        };
        lacking.push(format!("{name}: {}", n.what));
    }
    if plan.interfaces {
        v.missing = lacking;
    } else {
        (v.warnings).extend(lacking.into_iter().map(|l| {
            format!("missing {l} (needed once an interface is attached: `ctl attach` will fail)")
        }));
    }
    nice(h, plan, &mut v);
    if plan.dpdk && !h.caps.has(Cap::SYS_ADMIN) {
        v.warnings.push(format!("without {}: DPDK's EAL may need more than the capabilities checked here (hugepage files, physical addresses, vfio devices; not proven without root: run --dpdk as root if it fails)", Cap::SYS_ADMIN));
    }
    v
}

/// CAP_SYS_NICE: needed for `--worker-nice` below what RLIMIT_NICE allows; by default the
/// workers keep nice 0 without it (a warning).
fn nice(h: &Have, plan: &Plan, v: &mut Verdict) {
    if h.caps.has(Cap::SYS_NICE) {
        return;
    }
    match plan.nice {
        Some(n) if n < h.lowest_nice => v.missing.push(format!(
            "{} (or RLIMIT_NICE): --worker-nice {n} (without it the lowest is {})",
            Cap::SYS_NICE,
            h.lowest_nice
        )),
        Some(_) => {}
        None if plan.default_nice < h.lowest_nice => {
            v.nice_zero = true;
            v.warnings.push(format!(
                "missing {}: the workers run at nice 0, not {}, so other threads on their cores compete with them as equals",
                Cap::SYS_NICE,
                plan.default_nice
            ));
        }
        None => {}
    }
}

/// The required capabilities, for the message that lists them all.
pub fn required_names() -> String {
    REQUIRED
        .iter()
        .map(|n| n.cap.name())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> CapSet {
        [
            Cap::NET_ADMIN,
            Cap::NET_RAW,
            Cap::BPF,
            Cap::PERFMON,
            Cap::IPC_LOCK,
        ]
        .into_iter()
        .fold(CapSet::default(), CapSet::with)
        .with(Cap::SYS_NICE)
    }

    fn have(caps: CapSet) -> Have {
        Have {
            caps,
            memlock: Some(8 << 20),
            lowest_nice: 0,
        }
    }

    fn plan() -> Plan {
        Plan {
            interfaces: true,
            dpdk: false,
            umem_bytes: 128 << 20,
            nice: None,
            default_nice: -10,
        }
    }

    #[test]
    fn the_full_set_passes_and_each_missing_one_is_named() {
        assert_eq!(check(&have(all()), &plan()), Verdict::default());
        for n in &REQUIRED {
            let v = check(&have(all().without(n.cap)), &plan());
            assert_eq!(v.missing.len(), 1, "{v:?}");
            assert!(v.missing[0].starts_with(&n.cap.name()), "{v:?}");
            assert!(v.missing[0].contains(n.what), "{v:?}");
        }
        // CAP_SYS_ADMIN does for CAP_BPF and CAP_PERFMON; a memlock limit for CAP_IPC_LOCK
        let admin = all()
            .without(Cap::BPF)
            .without(Cap::PERFMON)
            .with(Cap::SYS_ADMIN);
        assert!(check(&have(admin), &plan()).missing.is_empty());
        let mut h = have(all().without(Cap::IPC_LOCK));
        h.memlock = None;
        assert!(check(&h, &plan()).missing.is_empty());
        h.memlock = Some(64 << 20);
        assert!(check(&h, &plan()).missing[0].contains("128 MiB"));
    }

    #[test]
    fn without_interfaces_only_warnings() {
        let p = Plan {
            interfaces: false,
            ..plan()
        };
        let v = check(&have(all().without(Cap::BPF)), &p);
        assert!(v.missing.is_empty());
        assert!(v.warnings[0].contains("CAP_BPF") && v.warnings[0].contains("ctl attach"));
    }

    #[test]
    fn nice_and_fast_path_degrade() {
        let v = check(&have(all().without(Cap::SYS_NICE)), &plan());
        assert!(v.missing.is_empty() && v.nice_zero, "{v:?}");
        assert!(v.warnings[0].contains("CAP_SYS_NICE"), "{v:?}");
        // asked for explicitly: required
        let p = Plan {
            nice: Some(-5),
            ..plan()
        };
        let v = check(&have(all().without(Cap::SYS_NICE)), &p);
        assert!(v.missing[0].contains("--worker-nice -5"), "{v:?}");
    }
}
