//! The `xdpgraph` command: a thin layer over the library.

fn main() -> anyhow::Result<()> {
    println!("xdpgraph {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}
