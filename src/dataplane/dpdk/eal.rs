//! Starting DPDK's EAL: once per process, from the EAL argument string a user gives
//! (`--dpdk-eal "ARGS"`, as testpmd takes them), completed with what xdpgraph needs.
//!
//! Added when the user did not say otherwise:
//! * memory: `--in-memory` when hugepages are reserved; otherwise `--no-huge -m MB
//!   --no-shconf --no-pci`, with MB sized for the workers' frame areas (without hugepages no
//!   PCI device could be driven anyway, and probing one would only log failures). A `--no-huge` without `-m`
//!   gets the `-m` too (DPDK's default of 64 MB holds no frame area).
//! * `-l CORE` (the first worker core): the EAL's main lcore. The EAL pins the calling thread
//!   to it; xdpgraph restores the management thread's affinity right after: by then the cores
//!   without a worker (`dataplane::placement`), from which the EAL also computed its control
//!   threads' cores.
//! * `--file-prefix xdpgraph-PID`, so that several runs (and tests) do not share state.
//! * `--log-level=warning`.
//!
//! The EAL cannot be started twice in a process: a second data plane in the same process
//! reuses it (its arguments must then be the same), and [`cleanup`] runs at exit.
//!
//! The EAL leaves its runtime directory (`/var/run/dpdk/<file-prefix>`: config, fbarrays, the
//! IPC socket) behind, even after `rte_eal_cleanup`: xdpgraph removes it after the cleanup, and
//! at the exit of a process that never cleaned up (a test). A process killed by SIGKILL still
//! leaves it; the next run's EAL does not need it (its prefix has the new pid).

use crate::sys::dpdk::{self, DpdkError};
use std::sync::Mutex;

/// The final EAL argument list (program name first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EalArgs(pub Vec<String>);

/// Splits an argument string like a shell would for simple cases: whitespace separates,
/// single and double quotes group, backslash escapes the next character.
pub fn split_args(s: &str) -> Result<Vec<String>, DpdkError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, '\\') => {
                cur.push(chars.next().unwrap_or('\\'));
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err(DpdkError(format!(
            "--dpdk-eal: unterminated quote in {s:?}"
        )));
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Hugepages reserved and free on this machine (any size).
pub fn hugepages_free() -> u64 {
    let Ok(dir) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("free_hugepages")).ok())
        .filter_map(|s| s.trim().parse::<u64>().ok())
        .sum()
}

/// Completes the user's EAL arguments (see the module documentation).
pub fn build_args(
    user: &str,
    first_core: usize,
    area_bytes: u64,
    hugepages: bool,
    pid: u32,
) -> Result<EalArgs, DpdkError> {
    let u = split_args(user)?;
    // `--opt`, `--opt=v`, and for short options also `-lV`
    let has = |names: &[&str]| {
        u.iter().any(|a| {
            names.iter().any(|n| {
                a == n
                    || a.starts_with(&format!("{n}="))
                    || (n.len() == 2 && a.len() > 2 && a.starts_with(n))
            })
        })
    };
    let mut args = vec!["xdpgraph".to_string()];
    args.extend(u.iter().cloned());
    let mb = (256 + area_bytes * 5 / 4 / (1 << 20)).max(512);
    let mem_given = has(&["-m", "--socket-mem"]);
    if has(&["--no-huge"]) {
        if !mem_given {
            args.extend(["-m".into(), mb.to_string()]);
        }
    } else if !mem_given && !has(&["--in-memory", "--huge-dir", "--legacy-mem"]) {
        if hugepages {
            args.push("--in-memory".into());
        } else {
            args.extend([
                "--no-huge".into(),
                "-m".into(),
                mb.to_string(),
                "--no-shconf".into(),
            ]);
            if !has(&["--no-pci", "-a", "--allow", "-b", "--block"]) {
                args.push("--no-pci".into());
            }
        }
    }
    if !has(&["-l", "-c", "--lcores"]) {
        args.extend(["-l".into(), first_core.to_string()]);
    }
    if !has(&["--file-prefix"]) {
        args.extend(["--file-prefix".into(), format!("xdpgraph-{pid}")]);
    }
    if !has(&["--log-level"]) {
        args.push("--log-level=warning".into());
    }
    Ok(EalArgs(args))
}

static STARTED: Mutex<Option<EalArgs>> = Mutex::new(None);

/// Starts the EAL with `args`, or checks that it already runs with the same arguments.
pub fn init(args: &EalArgs) -> Result<(), DpdkError> {
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(have) = started.as_ref() {
        if have != args {
            tracing::warn!(
                running = %have.0[1..].join(" "),
                asked = %args.0[1..].join(" "),
                "the EAL is already running in this process; keeping its arguments"
            );
        }
        return Ok(());
    }
    let keep = crate::sys::cpu::current_affinity().ok();
    tracing::info!(args = %args.0[1..].join(" "), "starting the DPDK EAL");
    dpdk::eal_init(&args.0)?;
    if let Some(d) = owned_runtime_dir() {
        dpdk::remove_at_exit(d);
    }
    if let Some(cores) = keep {
        let _ = crate::sys::cpu::set_affinity(&cores);
    }
    *started = Some(args.clone());
    Ok(())
}

/// Releases the EAL at process exit (after every data plane is shut down).
pub fn cleanup() {
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    if started.take().is_some() {
        let dir = owned_runtime_dir();
        dpdk::eal_cleanup();
        if let Some(d) = dir {
            if let Err(e) = std::fs::remove_dir_all(&d) {
                tracing::warn!("removing DPDK's runtime directory {}: {e}", d.display());
            }
        }
    }
}

/// The EAL's runtime directory, when it is one the EAL made for this process's file prefix (a
/// directory under a `dpdk` directory).
fn owned_runtime_dir() -> Option<std::path::PathBuf> {
    let d = dpdk::runtime_dir()?;
    let parent = d.parent()?.file_name()?;
    (parent == "dpdk" && d.is_dir()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(
            split_args(r#" --vdev net_ring0  --vdev "net_af_xdp0,iface=a b" -l 0 ''"#).unwrap(),
            vec![
                "--vdev",
                "net_ring0",
                "--vdev",
                "net_af_xdp0,iface=a b",
                "-l",
                "0",
                ""
            ]
        );
        assert!(split_args("--vdev 'x").is_err());
    }

    #[test]
    fn defaults_without_hugepages() {
        let a = build_args("--vdev net_null0", 1, 64 << 20, false, 42)
            .unwrap()
            .0;
        assert_eq!(
            a,
            vec![
                "xdpgraph",
                "--vdev",
                "net_null0",
                "--no-huge",
                "-m",
                "512",
                "--no-shconf",
                "--no-pci",
                "-l",
                "1",
                "--file-prefix",
                "xdpgraph-42",
                "--log-level=warning"
            ]
        );
    }

    #[test]
    fn defaults_with_hugepages_and_user_choices_kept() {
        let a = build_args("", 0, 1 << 30, true, 7).unwrap().0;
        assert!(a.contains(&"--in-memory".to_string()) && !a.contains(&"--no-huge".to_string()));
        let a = build_args(
            "-l 0,1 --no-huge --file-prefix=x --log-level=8",
            0,
            1 << 30,
            false,
            7,
        )
        .unwrap()
        .0;
        assert_eq!(a.iter().filter(|x| *x == "-l").count(), 1);
        assert!(
            a.windows(2).any(|w| w[0] == "-m" && w[1] == "1536"),
            "{a:?}"
        );
        assert!(!a
            .iter()
            .any(|x| x == "--no-shconf" || x.starts_with("xdpgraph-")));
        let a = build_args("-m 2048 -c 0x3", 0, 1 << 30, false, 7)
            .unwrap()
            .0;
        assert_eq!(
            a,
            vec![
                "xdpgraph",
                "-m",
                "2048",
                "-c",
                "0x3",
                "--file-prefix",
                "xdpgraph-7",
                "--log-level=warning"
            ]
        );
    }
}
