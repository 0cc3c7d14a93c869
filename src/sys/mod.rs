//! Thin, `unsafe`-containing wrappers over Linux interfaces: memory mappings, AF_XDP rings and
//! the UMEM. Everything above this layer is safe code.

#![allow(unsafe_code)]

pub mod cpu;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod mmap;
pub mod netdev;
pub mod random;
pub mod xsk;
