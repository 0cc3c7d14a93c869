//! Random numbers from the kernel (getrandom(2)), for hash keys.

/// `N` random words. getrandom(2) without flags blocks only until the kernel's pool is first
/// initialised at boot; should it fail anyway, the clock and an address are mixed in instead
/// (a key that is hard to guess, not a cryptographic one).
pub fn u64s<const N: usize>() -> [u64; N] {
    let mut b = [0u64; N];
    let len = std::mem::size_of_val(&b);
    // SAFETY: getrandom writes at most `len` bytes into the array of `len` bytes it is given.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), len, 0) };
    if n != len as isize {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ (&b as *const _ as u64);
        for (i, w) in b.iter_mut().enumerate() {
            *w = (t ^ i as u64)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(29);
        }
    }
    b
}

#[cfg(test)]
mod tests {
    #[test]
    fn words_differ() {
        let a = super::u64s::<4>();
        let b = super::u64s::<4>();
        assert_ne!(a, b);
        assert_ne!(a[0], a[1]);
    }
}
