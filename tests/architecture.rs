//! The module layering of docs/ARCHITECTURE.md, checked: every `crate::` path in the library's
//! code (unit-test modules aside) names a module of a lower layer, so imports go downward and
//! never in circles.

use std::collections::BTreeMap;
use std::path::Path;

/// Top-level modules by layer, lowest first (docs/ARCHITECTURE.md, "The tree").
const LAYERS: &[&[&str]] = &[
    &["wire", "errno"],
    &["frame"],
    &["sys"],
    &["buf", "lab"],
    &["port", "value", "counters", "epoch"],
    &["graph"],
    &["nodes"],
    &["ctl"],
    &["dataplane"],
    &["gen", "testkit"],
    &["daemon"],
];

fn layer(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (importing module, imported module) -> a file where it happens.
fn imports() -> BTreeMap<(String, String), String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let top = rel.split(['/', '.']).next().unwrap().to_string();
        if top == "main" || top == "cli" || top == "lib" {
            continue; // the binary, and the crate root's `mod` lines
        }
        let text = std::fs::read_to_string(&f).unwrap();
        // the library's code: unit tests (at the end of a file) may use anything
        let code = text.split("#[cfg(test)]").next().unwrap();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + 7..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let is_macro = rest[name.len()..].starts_with('!');
                if !name.is_empty() && name != top && !is_macro {
                    edges
                        .entry((top.clone(), name))
                        .or_insert_with(|| rel.clone());
                }
            }
        }
    }
    edges
}

#[test]
fn every_module_has_a_layer() {
    for ((a, b), file) in imports() {
        assert!(layer(&a).is_some(), "module {a} ({file}) is in no layer");
        assert!(
            layer(&b).is_some(),
            "module {b} (used in {file}) is in no layer"
        );
    }
}

#[test]
fn imports_go_downward() {
    let mut wrong = Vec::new();
    for ((a, b), file) in imports() {
        if let (Some(la), Some(lb)) = (layer(&a), layer(&b)) {
            if lb >= la {
                wrong.push(format!("{a} -> {b} (in src/{file})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that do not go down a layer:\n{}",
        wrong.join("\n")
    );
}
