//! The library's folders are floors (see the crate documentation in `src/lib.rs`): a module's
//! code may use its own floor and the floors below, never one above, so the picture of the code
//! stays the picture of the system. This test reads every source file under `src/` (but the
//! binary's) and checks each `crate::…` path outside comments and unit tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The floor of each top-level module.
const FLOORS: &[(&str, usize)] = &[
    ("error", 0),
    ("tensor", 0),
    ("init", 0),
    ("kernels", 1),
    ("vision", 1),
    ("report", 1),
    ("layers", 2),
    ("network", 3),
    ("data", 4),
    ("tasks", 5),
    ("training", 6),
    ("inference", 7),
];

fn floor(module: &str) -> Option<usize> {
    FLOORS.iter().find(|(m, _)| *m == module).map(|&(_, f)| f)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file's library code names through `crate::`, with line numbers.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            break; // unit tests sit at the bottom of each file
        }
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + 7..];
            // `crate::{a, b::c}` names several modules at once.
            let group = rest.strip_prefix('{').map(|g| &g[..g.find('}').unwrap_or(g.len())]);
            for part in group.map_or(vec![rest], |g| g.split(',').collect()) {
                let name: String = part.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                found.push((n + 1, name));
            }
        }
    }
    found
}

#[test]
fn no_module_uses_a_floor_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut uses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "bin" || top == "lib" {
            continue;
        }
        let own = floor(&top).unwrap_or_else(|| panic!("src/{} is in no floor: add '{top}' to FLOORS and to the table in src/lib.rs", rel.display()));
        let text = std::fs::read_to_string(file).unwrap();
        for (line, used) in crate_paths(&text) {
            let Some(f) = floor(&used) else { continue }; // re-exports such as crate::Result
            if used != top {
                uses.entry(top.clone()).or_default().push(used.clone());
            }
            if f > own {
                violations.push(format!("src/{}:{line}: {top} (floor {own}) uses {used} (floor {f})", rel.display()));
            }
        }
    }
    assert!(violations.is_empty(), "imports that run up a floor:\n{}", violations.join("\n"));
    // The floors are not empty words: most modules do lean on lower ones.
    assert!(uses.get("inference").is_some_and(|u| u.iter().any(|m| m == "network")));
    assert!(uses.get("layers").is_some_and(|u| u.iter().any(|m| m == "kernels")));
}

/// A file the scan reads as test code only from its `#[cfg(test)]` line on: a use above it
/// is caught, below it not.
#[test]
fn the_scan_sees_code_and_skips_comments_and_tests() {
    let text = "use crate::error::Result;\n// crate::inference in a comment\nfn f() { crate::kernels::gemm::sgemm(); }\nuse crate::{data::Dataset, network};\n#[cfg(test)]\nmod tests { use crate::training::Run; }\n";
    let names: Vec<String> = crate_paths(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["error", "kernels", "data", "network"]);
}
