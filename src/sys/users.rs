//! Users and groups: names to IDs and back (through the C library, so NSS sources count), and
//! who is at the other end of a Unix socket (its uid, gid and supplementary groups).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;

/// A group's ID by name (`getgrnam_r`); a number is taken as it is. None: no such group.
pub fn group_id(name: &str) -> io::Result<Option<u32>> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(Some(n));
    }
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut found = None;
    with_group_buf(
        |grp, buf, out| {
            // SAFETY: getgrnam_r writes the group into `grp`, its strings into `buf` (of the
            // length given), and `out` (null or `grp`).
            unsafe { libc::getgrnam_r(c.as_ptr(), grp, buf.as_mut_ptr(), buf.len(), out) }
        },
        |g| found = Some(g.gr_gid),
    )?;
    Ok(found)
}

/// A group's name by ID (`getgrgid_r`); None: the ID has no entry.
pub fn group_name(gid: u32) -> io::Result<Option<String>> {
    let mut found = None;
    with_group_buf(
        |grp, buf, out| {
            // SAFETY: as in `group_id`, with getgrgid_r.
            unsafe { libc::getgrgid_r(gid, grp, buf.as_mut_ptr(), buf.len(), out) }
        },
        |g| {
            // SAFETY: gr_name points at a NUL-terminated string in the buffer, alive during this
            // closure.
            found = Some(
                unsafe { CStr::from_ptr(g.gr_name) }
                    .to_string_lossy()
                    .into_owned(),
            )
        },
    )?;
    Ok(found)
}

/// Runs a `getgr*_r` call with a buffer that grows on ERANGE; `found` sees the entry.
fn with_group_buf(
    mut call: impl FnMut(*mut libc::group, &mut Vec<libc::c_char>, *mut *mut libc::group) -> i32,
    found: impl FnOnce(&libc::group),
) -> io::Result<()> {
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: an all-zero `struct group` is valid (null pointers, zero gid).
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::group = std::ptr::null_mut();
        match call(&mut grp, &mut buf, &mut out) {
            0 if out.is_null() => return Ok(()),
            0 => {
                found(&grp);
                return Ok(());
            }
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            // "not found" comes as one of these from some NSS modules
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(()),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// A user's name by ID (`getpwuid_r`); None: the ID has no entry.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf: Vec<libc::c_char> = vec![0; 4096];
    // SAFETY: an all-zero `struct passwd` is valid (null pointers, zero ids).
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes the entry into `pw`, its strings into `buf`, and `out`.
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if r != 0 || out.is_null() {
        return None;
    }
    // SAFETY: pw_name points at a NUL-terminated string in `buf`, which is alive here.
    Some(
        unsafe { CStr::from_ptr(pw.pw_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Who is connected at the other end of a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    /// Its primary group when it connected.
    pub gid: u32,
    /// Its supplementary groups (SO_PEERGROUPS).
    pub groups: Vec<u32>,
}

impl Peer {
    /// Whether the peer is in group `gid` (primary or supplementary).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// The credentials of the process at the other end of the connected Unix socket `fd`.
pub fn peer(fd: RawFd) -> io::Result<Peer> {
    // SAFETY: zeroed ucred is valid; the kernel writes at most `len` bytes into it.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED on a connected Unix socket writes a ucred.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut libc::ucred as *mut libc::c_void,
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Peer {
        uid: cred.uid,
        gid: cred.gid,
        groups: peer_groups(fd)?,
    })
}

/// SO_PEERGROUPS: the peer's supplementary groups (the buffer grows on ERANGE).
fn peer_groups(fd: RawFd) -> io::Result<Vec<u32>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: SO_PEERGROUPS writes at most `len` bytes of gid_t into `groups`, and the
        // length it needs (or wrote) into `len`.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr() as *mut libc::c_void,
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if r == 0 {
            groups.truncate(n);
            return Ok(groups);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ERANGE) && n > groups.len() && n <= 1 << 16 {
            groups.resize(n, 0);
            continue;
        }
        return Err(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn groups_by_name_and_number() {
        assert_eq!(group_id("root").unwrap(), Some(0));
        assert_eq!(group_id("4242").unwrap(), Some(4242));
        assert_eq!(group_id("no-such-group-xg").unwrap(), None);
        assert_eq!(group_name(0).unwrap().as_deref(), Some("root"));
        assert_eq!(user_name(0).as_deref(), Some("root"));
    }

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn the_peer_is_this_process() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let p = peer(a.as_raw_fd()).unwrap();
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!((p.uid, p.gid), (uid, gid));
        assert!(p.in_group(gid));
    }
}
