//! Linux capabilities (capabilities(7)) of this process, and the resource limits that stand in
//! for some of them: what `xdpgraph run` checks at start, so that a missing privilege is named
//! before the data plane trips over it deep inside a syscall.

use std::fmt;
use std::io;

/// One capability, by its number (`<linux/capability.h>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cap(pub u8);

/// Every capability's name, by number (CAP_CHOWN = 0 .. CAP_CHECKPOINT_RESTORE = 40).
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

impl Cap {
    pub const DAC_READ_SEARCH: Cap = Cap(2);
    pub const NET_ADMIN: Cap = Cap(12);
    pub const NET_RAW: Cap = Cap(13);
    pub const IPC_LOCK: Cap = Cap(14);
    pub const SYS_ADMIN: Cap = Cap(21);
    pub const SYS_NICE: Cap = Cap(23);
    pub const SYS_RESOURCE: Cap = Cap(24);
    pub const PERFMON: Cap = Cap(38);
    pub const BPF: Cap = Cap(39);

    /// `CAP_NET_ADMIN`, ... (`CAP_<n>` for a number newer than this table).
    pub fn name(self) -> String {
        match NAMES.get(self.0 as usize) {
            Some(n) => (*n).to_string(),
            None => format!("CAP_{}", self.0),
        }
    }

    /// By name, with or without `CAP_`, in any case (`net_admin`, `CAP_BPF`).
    pub fn from_name(name: &str) -> Option<Cap> {
        let up = name.to_ascii_uppercase();
        let full = if up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        };
        NAMES.iter().position(|n| *n == full).map(|i| Cap(i as u8))
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A set of capabilities (bit n: capability n), as the kernel keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(pub u64);

impl CapSet {
    pub fn has(self, c: Cap) -> bool {
        c.0 < 64 && self.0 & (1u64 << c.0) != 0
    }
    pub fn with(self, c: Cap) -> CapSet {
        CapSet(self.0 | (1u64 << c.0))
    }
    pub fn without(self, c: Cap) -> CapSet {
        CapSet(self.0 & !(1u64 << c.0))
    }
    /// The capabilities in the set, lowest first.
    pub fn caps(self) -> Vec<Cap> {
        (0..64u8).map(Cap).filter(|c| self.has(*c)).collect()
    }
}

impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.caps().iter().map(|c| c.name()).collect();
        f.write_str(&names.join(" "))
    }
}

/// This process's capability sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub effective: CapSet,
    pub permitted: CapSet,
    pub inheritable: CapSet,
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// This process's capabilities (capget(2)).
pub fn current() -> io::Result<Caps> {
    let mut h = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let mut d = [CapData::default(); 2];
    // SAFETY: capget(2) with a version 3 header reads the header and writes two CapData
    // structs (the kernel's __user_cap_data_struct layout), which `d` holds.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut CapHeader, d.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |lo: u32, hi: u32| CapSet(u64::from(lo) | u64::from(hi) << 32);
    Ok(Caps {
        effective: join(d[0].effective, d[1].effective),
        permitted: join(d[0].permitted, d[1].permitted),
        inheritable: join(d[0].inheritable, d[1].inheritable),
    })
}

/// The effective set named `field` (`CapEff`, `CapPrm`, `CapAmb`, ...) in the text of
/// `/proc/<pid>/status`.
pub fn parse_status(status: &str, field: &str) -> Option<CapSet> {
    status.lines().find_map(|l| {
        let v = l.strip_prefix(field)?.strip_prefix(':')?;
        u64::from_str_radix(v.trim(), 16).ok().map(CapSet)
    })
}

/// A resource limit's soft value (None: unlimited).
fn soft_limit(resource: libc::__rlimit_resource_t) -> io::Result<Option<u64>> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one rlimit into `r`.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((r.rlim_cur != libc::RLIM_INFINITY).then_some(r.rlim_cur))
}

/// RLIMIT_MEMLOCK in bytes (None: unlimited): how much memory this process may pin without
/// CAP_IPC_LOCK (an AF_XDP UMEM counts against it).
pub fn memlock_limit() -> io::Result<Option<u64>> {
    soft_limit(libc::RLIMIT_MEMLOCK)
}

/// The lowest nice value this process may set without CAP_SYS_NICE (`20 - RLIMIT_NICE`, see
/// setrlimit(2)).
pub fn lowest_nice() -> io::Result<i32> {
    let lim = soft_limit(libc::RLIMIT_NICE)?.unwrap_or(40).min(40) as i32;
    Ok(20 - lim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn names_and_numbers() {
        assert_eq!(Cap::NET_ADMIN.name(), "CAP_NET_ADMIN");
        assert_eq!(Cap::BPF.name(), "CAP_BPF");
        assert_eq!(Cap::PERFMON.name(), "CAP_PERFMON");
        assert_eq!(Cap::SYS_NICE.name(), "CAP_SYS_NICE");
        assert_eq!(Cap::DAC_READ_SEARCH.name(), "CAP_DAC_READ_SEARCH");
        assert_eq!(Cap::from_name("net_raw"), Some(Cap::NET_RAW));
        assert_eq!(Cap::from_name("CAP_IPC_LOCK"), Some(Cap::IPC_LOCK));
        assert_eq!(Cap::from_name("nosuch"), None);
        assert_eq!(Cap(50).name(), "CAP_50");
        let s = CapSet::default().with(Cap::BPF).with(Cap::NET_RAW);
        assert_eq!(s.to_string(), "CAP_NET_RAW CAP_BPF");
        assert!(s.has(Cap::BPF) && !s.without(Cap::BPF).has(Cap::BPF));
    }

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn capget_agrees_with_proc() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let c = current().unwrap();
        assert_eq!(Some(c.effective), parse_status(&status, "CapEff"));
        assert_eq!(Some(c.permitted), parse_status(&status, "CapPrm"));
        assert_eq!(Some(c.inheritable), parse_status(&status, "CapInh"));
        assert_eq!(
            parse_status("CapEff:\t000000c000007000\n", "CapEff").map(|s| s.caps()),
            Some(vec![
                Cap::NET_ADMIN,
                Cap::NET_RAW,
                Cap::IPC_LOCK,
                Cap::PERFMON,
                Cap::BPF
            ])
        );
        assert!(memlock_limit().is_ok());
        let n = lowest_nice().unwrap();
        assert!((-20..=20).contains(&n), "{n}");
    }
}
