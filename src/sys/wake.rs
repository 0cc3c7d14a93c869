//! A wake-up descriptor (eventfd(2)): one thread kicks it, another waiting in poll(2) on it
//! wakes. The management thread kicks a worker that sleeps while idle when it has a command
//! for it, so the worker can sleep long without answering late.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An eventfd, non-blocking: readable after [`Wake::kick`] until [`Wake::clear`].
#[derive(Debug)]
pub struct Wake(OwnedFd);

impl Wake {
    pub fn new() -> io::Result<Wake> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a descriptor we just opened and own alone.
        Ok(Wake(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Makes the descriptor readable (wakes a poll(2) on it). Never blocks.
    pub fn kick(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer of 8. Failing (EAGAIN: the counter at its
        // maximum) leaves it readable, which is all a kick is for.
        unsafe { libc::write(self.0.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    /// Makes it not readable again; returns whether it was kicked.
    pub fn clear(&self) -> bool {
        let mut n = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live buffer of 8.
        let r = unsafe { libc::read(self.0.as_raw_fd(), n.as_mut_ptr().cast(), n.len()) };
        r == 8
    }

    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::Wake;
    use crate::sys::xsk::PollSet;

    #[test]
    fn a_kick_wakes_a_poll_until_cleared() {
        let w = Wake::new().unwrap();
        let mut p = PollSet::new(&[w.fd()]);
        assert_eq!(p.wait(0).unwrap(), 0, "not readable before a kick");
        assert!(!w.clear());
        w.kick();
        w.kick();
        assert_eq!(p.wait(1000).unwrap(), 1);
        assert!(w.clear(), "two kicks read as one");
        assert_eq!(p.wait(0).unwrap(), 0, "cleared");
        let t = std::time::Instant::now();
        let w2 = std::sync::Arc::new(w);
        let k = w2.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            k.kick();
        });
        assert_eq!(p.wait(5000).unwrap(), 1, "a kick from another thread");
        assert!(t.elapsed() < std::time::Duration::from_secs(4));
        h.join().unwrap();
    }
}
