//! The traffic generator (`xdpgraph gen`). Not built yet: see issue 5.

pub mod cli;
pub mod xdp;
