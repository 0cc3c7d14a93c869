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
    for name in ["xdpgraph", "fastpath", "bench"] {
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
    println!("cargo:rerun-if-changed=bpf/fastpath.h");
    #[cfg(feature = "dpdk")]
    dpdk_shim();
}

/// Builds src/sys/dpdk_shim.c against libdpdk. The shim is compiled (and its link line
/// emitted) before the DPDK libraries: pkg-config's flags start with `--as-needed`, so the
/// libraries must come after the object that uses them.
#[cfg(feature = "dpdk")]
fn dpdk_shim() {
    let lib = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("libdpdk")
        .unwrap_or_else(|e| {
            panic!("the dpdk feature needs libdpdk (apt-get install libdpdk-dev): {e}")
        });
    let cflags = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("pkg-config");
    let cflags = String::from_utf8_lossy(&cflags.stdout).to_string();
    let mut b = cc::Build::new();
    b.file("src/sys/dpdk_shim.c")
        .warnings(true)
        .warnings_into_errors(true)
        .opt_level(3);
    // all of DPDK's flags, including `-include rte_config.h` and `-march=...`
    let mut words = cflags.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-include" {
            if let Some(f) = words.next() {
                b.flag("-include").flag(f);
            }
        } else {
            b.flag(w);
        }
    }
    b.compile("xdpgraph_dpdk_shim");
    for p in &lib.link_paths {
        println!("cargo:rustc-link-search=native={}", p.display());
    }
    for l in &lib.libs {
        println!("cargo:rustc-link-lib=dylib={l}");
    }
    println!("cargo:rustc-link-lib=dylib=dl");
    println!("cargo:rerun-if-changed=src/sys/dpdk_shim.c");
}
