//! `xdpgraph gen` arguments.

/// Traffic generator options.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Interface to send on.
    #[arg(long)]
    pub tx: String,
}

/// Runs the generator.
pub fn main(_a: GenArgs) -> Result<(), std::io::Error> {
    Err(std::io::Error::other(
        "the traffic generator is not implemented yet",
    ))
}
