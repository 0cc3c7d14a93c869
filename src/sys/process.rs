//! Processes by pid, through /proc: whether a pid still names the process it named when it
//! was recorded (its start time), and which PID namespace this process is in.

use std::io;
use std::os::unix::fs::MetadataExt;

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks after boot. With
/// the pid, it names one process: a pid reused later has another start time.
pub fn start_time(pid: u32) -> io::Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_start_time(&s).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat: no start time"),
        )
    })
}

/// The start time in a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses
/// and may hold spaces and parentheses itself: fields are counted after the last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // field 3 (state) is the first word after the name: field 22 is the 20th
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The inode of this process's PID namespace (`/proc/self/ns/pid`): pids name the same
/// processes only within one namespace.
pub fn pid_namespace() -> io::Result<u64> {
    Ok(std::fs::metadata("/proc/self/ns/pid")?.ino())
}

/// Whether process `pid` started at `start_time` still exists (in this PID namespace).
pub fn alive(pid: u32, start_time: u64) -> bool {
    pid != 0 && self::start_time(pid).is_ok_and(|t| t == start_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn start_times() {
        let line = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 \
                    1 0 987654 12345678 100 18446744073709551615";
        assert_eq!(parse_start_time(line), Some(987654));
        assert_eq!(parse_start_time("1 (x) S 0"), None);
        let me = std::process::id();
        let t = start_time(me).unwrap();
        assert!(alive(me, t));
        assert!(
            !alive(me, t + 1),
            "same pid, another start time: another process"
        );
        assert!(!alive(0, t));
        assert!(pid_namespace().unwrap() > 0);
    }
}
