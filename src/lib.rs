//! xdpgraph: FreeBSD's netgraph on Linux, in userspace, at line rate.
//!
//! Frames arrive on NIC queues through AF_XDP, run in bursts through a graph of nodes joined by
//! named hooks, and leave through TX rings. A management thread edits the graph while traffic
//! flows; the data path never takes a lock and never waits for an edit. See
//! `docs/ARCHITECTURE.md` for the map of the code.

#![deny(unsafe_code)]

pub mod afxdp;
pub mod buf;
pub mod counters;
pub mod ctl;
pub mod dataplane;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod epoch;
pub mod gen;
pub mod graph;
pub mod lab;
pub mod nodes;
pub mod port;
pub mod sys;
pub mod testkit;
pub mod value;
pub mod wire;
