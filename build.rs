//! Compiles the XDP programs in bpf/ with libbpf-cargo (clang) into objects that the crate
//! embeds and loads with libbpf-rs, and generates their skeletons (kept for reference and for
//! tools that want the typed view).

use libbpf_cargo::SkeletonBuilder;
use std::env;
use std::path::PathBuf;

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => other,
    };
    for name in ["xdpgraph", "bench"] {
        let src = format!("bpf/{name}.bpf.c");
        SkeletonBuilder::new()
            .source(&src)
            .obj(out_dir.join(format!("{name}.bpf.o")))
            .clang_args([
                format!("-I/usr/include/{multiarch}"),
                "-O2".to_string(),
                "-Wall".to_string(),
            ])
            .build_and_generate(out_dir.join(format!("{name}.skel.rs")))
            .unwrap_or_else(|e| {
                panic!("building {src} failed (is clang installed? see README): {e:#}")
            });
        println!("cargo:rerun-if-changed={src}");
    }
}
