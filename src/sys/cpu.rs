//! CPU affinity.

use std::io;

/// Pins the calling thread to `core`.
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write inside it; the pointer and size
    // passed to sched_setaffinity describe that local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Cores online on this machine (not only those the calling thread may run on: a management
/// thread kept off the workers' cores still sees every core).
pub fn online_cores() -> usize {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 {
        n as usize
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
}

/// Sets the calling thread's nice value (Linux schedules threads apart: this one only, and
/// threads it spawns afterwards inherit it). Lower is more CPU; below 0 needs CAP_SYS_NICE.
pub fn set_thread_nice(nice: i32) -> io::Result<()> {
    // SAFETY: gettid has no memory effects; setpriority(PRIO_PROCESS, tid) sets one thread's
    // nice value.
    let r = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's nice value.
pub fn thread_nice() -> io::Result<i32> {
    // SAFETY: as in `set_thread_nice`; errno is cleared first because -1 is a valid answer.
    unsafe {
        *libc::__errno_location() = 0;
        let n = libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t);
        if n == -1 && *libc::__errno_location() != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n)
    }
}

/// Sets the calling thread's timer slack (how late a sleep may wake), in nanoseconds.
pub fn set_timer_slack(ns: u64) {
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long; it affects only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0);
    }
}

/// Pins thread or process `pid` (e.g. a kernel NAPI thread) to `core`.
pub fn pin_thread(pid: i32, core: usize) -> io::Result<()> {
    // SAFETY: as in `pin_current_thread`, for another thread id.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The calling thread's CPU affinity, as a list of cores.
pub fn current_affinity() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data, filled by sched_getaffinity for this thread; CPU_ISSET
    // reads inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|c| libc::CPU_ISSET(*c, &set))
            .collect())
    }
}

/// Sets the calling thread's CPU affinity to `cores`.
pub fn set_affinity(cores: &[usize]) -> io::Result<()> {
    // SAFETY: as in `pin_current_thread`, with several cores set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for c in cores {
            libc::CPU_SET(*c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The calling thread's ID (Linux TID).
pub fn thread_id() -> libc::pid_t {
    // SAFETY: gettid has no memory effects.
    unsafe { libc::gettid() }
}

extern "C" fn on_interrupt(_: libc::c_int) {}

/// Makes [`interrupt_thread`] work: installs a handler that does nothing for SIGURG (whose
/// default is to be ignored, which would not interrupt a system call), without SA_RESTART.
pub fn catch_interrupts() {
    // SAFETY: a zeroed sigaction is valid; the handler is async-signal-safe (it does nothing).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_interrupt as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGURG, &sa, std::ptr::null_mut());
    }
}

/// Interrupts a blocking system call of thread `tid` of this process (it returns EINTR) with
/// SIGURG, after [`catch_interrupts`].
pub fn interrupt_thread(tid: libc::pid_t) -> io::Result<()> {
    // SAFETY: tgkill sends a signal; the caller installed its handler (catch_interrupts).
    let r = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGURG) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The CPU's time-stamp counter (`rdtsc`, not ordered with the loads and stores around it);
/// 0 where there is none (not x86-64). A clock only where [`tsc_is_clock`] says so.
#[inline]
pub fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: rdtsc reads a register; no memory is accessed.
    unsafe {
        std::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}

/// Whether [`tsc`] is a clock: the CPU's counter runs at a constant rate in every state
/// (`constant_tsc` and `nonstop_tsc` in /proc/cpuinfo) and the kernel keeps its own time with
/// it (clocksource `tsc`: it found the counters of all CPUs in step). Read once.
pub fn tsc_is_clock() -> bool {
    static IS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IS.get_or_init(|| {
        let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let flags = flags.lines().find(|l| l.starts_with("flags")).unwrap_or("");
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        let source = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .unwrap_or_default();
        cfg!(target_arch = "x86_64")
            && has("constant_tsc")
            && has("nonstop_tsc")
            && source.trim() == "tsc"
    })
}
