//! Thin, `unsafe`-containing wrappers over Linux interfaces: memory mappings, AF_XDP rings and
//! the UMEM, network devices, CPU affinity, BPF_PROG_RUN of syscall programs, and (feature
//! `dpdk`) DPDK through its C shim.
//! Everything above this layer is safe code. This layer names nothing above it except the
//! frame ABI ([`crate::frame`]) and the wire types ([`crate::wire`]).

#![allow(unsafe_code)]

pub mod bpf;
pub mod caps;
pub mod cpu;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod mmap;
pub mod netdev;
pub mod notify;
pub mod process;
pub mod random;
pub mod spsc;
pub mod tstamp;
pub mod udp;
pub mod users;
pub mod veth;
pub mod wake;
pub mod xsk;
