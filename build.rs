//! Compiles the XDP programs in bpf/ with libbpf-cargo (clang) into objects that the crate
//! embeds and loads with libbpf-rs, and generates their skeletons (kept for reference and for
//! tools that want the typed view). Also records what `xdpgraph --version` prints besides the
//! package version: the git revision the build comes from and the enabled cargo features.

use libbpf_cargo::SkeletonBuilder;
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    build_info();
    #[cfg(feature = "dpdk")]
    dpdk_shim();
}

/// `XDPGRAPH_GIT_REV` (`git rev-parse --short HEAD`, with `-dirty` when tracked files differ
/// from it; "unknown" outside a git checkout, e.g. from a crate tarball: never an error) and
/// `XDPGRAPH_FEATURES` (the enabled cargo features, comma-separated, or "none").
///
/// The revision is refreshed when HEAD, the branch it names or the index changes; an edit to a
/// tracked file that is not yet staged shows as `-dirty` from the next build that reruns this
/// script (a commit, a checkout, `git add`, or a change under bpf/).
fn build_info() {
    let rev = git_revision().unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=XDPGRAPH_GIT_REV={rev}");
    let mut features: Vec<String> = env::vars()
        .filter_map(|(k, _)| {
            let f = k.strip_prefix("CARGO_FEATURE_")?;
            Some(f.to_ascii_lowercase().replace('_', "-"))
        })
        .filter(|f| f != "default")
        .collect();
    features.sort();
    let features = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(",")
    };
    println!("cargo:rustc-env=XDPGRAPH_FEATURES={features}");
}

/// The short revision of the git work tree whose top is this package's directory (not of some
/// repository the package happens to be unpacked inside), `None` without git or a work tree.
fn git_revision() -> Option<String> {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR")?);
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            // `git status` would otherwise refresh the index, which this script watches
            .env("GIT_OPTIONAL_LOCKS", "0")
            .arg("-C")
            .arg(&dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if !same_dir(Path::new(&top), &dir) {
        return None;
    }
    // rerun when HEAD moves: HEAD itself, the branch it points at (loose or packed), the index;
    // only files that exist (cargo reruns the script on every build for a missing one)
    let mut watch = vec!["HEAD".to_string(), "index".into(), "packed-refs".into()];
    watch.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for p in &watch {
        if let Some(f) = git(&["rev-parse", "--path-format=absolute", "--git-path", p]) {
            if Path::new(&f).exists() {
                println!("cargo:rerun-if-changed={f}");
            }
        }
    }
    let rev = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{rev}-dirty") } else { rev })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
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
