//! xdpgraph: FreeBSD's netgraph on Linux, in userspace, at line rate.
//!
//! Frames arrive on NIC queues through AF_XDP (or DPDK), run in bursts through a graph of nodes
//! joined by named hooks, and leave through TX rings. A management thread edits the graph while
//! traffic flows; the data path never takes a lock and never waits for an edit. See
//! `docs/ARCHITECTURE.md` for the map of the code.

#![deny(unsafe_code)]

pub mod buf;
pub mod counters;
pub mod ctl;
pub mod daemon;
pub mod dataplane;
pub mod epoch;
pub mod errno;
pub mod frame;
pub mod gen;
pub mod graph;
pub mod lab;
pub mod nodes;
pub mod port;
pub mod sys;
/// Helpers for tests and benchmarks (feature `testkit`, which the tests and benchmarks turn on
/// through the package's dev-dependency on itself).
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod value;
pub mod wire;
