//! Error numbers with netgraph's meaning. Every error type of the library says which one it
//! is (`errno()`), and `ctl` shows its name in text and JSON, as ngctl shows `strerror`.

use std::fmt;

/// An errno value (`libc::E*`), named as FreeBSD and Linux name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(pub const $name: Errno = Errno(libc::$name);)*
            /// Every errno the library reports, for name look-ups.
            pub const ALL: &'static [Errno] = &[$(Errno::$name),*];
            /// The symbolic name (`"EEXIST"`); `"EIO"` for a value not in [`Errno::ALL`].
            pub fn name(self) -> &'static str {
                match self.0 {
                    $(libc::$name => stringify!($name),)*
                    _ => "EIO",
                }
            }
        }
    };
}

errnos!(
    EPERM,
    ENOENT,
    EIO,
    ENXIO,
    E2BIG,
    ENOMEM,
    EACCES,
    EBUSY,
    EEXIST,
    ENODEV,
    EINVAL,
    ENOSPC,
    EOPNOTSUPP,
    EADDRINUSE,
    ENETDOWN,
    ENOBUFS,
    EISCONN,
    ENOTCONN,
    ECONNREFUSED,
    ETIMEDOUT,
    EAGAIN,
    EPFNOSUPPORT,
    EAFNOSUPPORT,
    EPROTONOSUPPORT,
    EADDRNOTAVAIL,
    EDESTADDRREQ,
    EMSGSIZE,
    ENOPROTOOPT,
);

impl Errno {
    /// The errno named `s`, if it is one of ours.
    pub fn from_name(s: &str) -> Option<Errno> {
        Errno::ALL.iter().copied().find(|e| e.name() == s)
    }
    /// The errno of an I/O error (EIO when it carries none).
    pub fn of_io(e: &std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Errno;

    #[test]
    fn names_round_trip() {
        for e in Errno::ALL {
            assert_eq!(Errno::from_name(e.name()), Some(*e));
        }
        assert_eq!(Errno::EEXIST.name(), "EEXIST");
        assert_eq!(Errno(9999).name(), "EIO");
        let io = std::io::Error::from_raw_os_error(libc::EBUSY);
        assert_eq!(Errno::of_io(&io), Errno::EBUSY);
    }
}
