//! The fuzz targets (`fuzz/targets.rs`) on stable Rust: every committed corpus file replayed
//! (the seeds, the inputs that broke digitnet before, and what the coverage-guided runs kept),
//! then seeded mutants of them — bit flips, interesting bytes, cuts, splices, and numbers
//! replaced by sizes that have broken things. Deterministic: a failure names the target and the
//! mutant, and writes the input to `target/fuzz-failures/` to replay.
//!
//! `DIGITNET_FUZZ_MUTANTS` sets the mutants per target (default 1,000, about a second per target); the
//! long coverage-guided runs are `cargo +nightly fuzz run` (fuzz/README.md).

#[path = "../fuzz/targets.rs"]
mod targets;

use digitnet::init::Rng;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

/// Sizes that have broken things before, as text (for JSON) and as big-endian u32 (for IDX).
const NASTY: &[&str] = &["0", "1", "2", "3", "28", "-1", "1e400", "1048577", "2500000", "4294967297", "100000000000", "18446744073709551615"];

/// One mutant of `seed`: one to four random edits, some splicing in bytes of `other`.
fn mutate(seed: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(m.len() + 1);
        let byte = at.min(m.len().saturating_sub(1));
        match rng.below(7) {
            0 if !m.is_empty() => m[byte] ^= 1 << rng.below(8),
            1 if !m.is_empty() => m[byte] = [0, 1, 0x7f, 0x80, 0xff, b'"', b'{', b'['][rng.below(8)],
            2 => m.truncate(at),
            3 => {
                let len = rng.below(64.min(m.len() - at) + 1);
                m.drain(at..at + len);
            }
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let len = 1 + rng.below(256.min(other.len() - from));
                m.splice(at..at, other[from..from + len].iter().copied());
            }
            5 => {
                // A run of digits (a size in JSON text) replaced by a nasty number.
                if let Some(start) = (at..m.len()).find(|&i| m[i].is_ascii_digit()) {
                    let end = (start..m.len()).find(|&i| !m[i].is_ascii_digit()).unwrap_or(m.len());
                    m.splice(start..end, NASTY[rng.below(NASTY.len())].bytes());
                }
            }
            _ if m.len() >= 4 => {
                // A 32-bit big-endian field (IDX dimensions) set to an extreme.
                let at = at.min(m.len() - 4);
                let v = [0u32, 1, 0xffff, 0x7fff_ffff, u32::MAX][rng.below(5)];
                m[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
            _ => m.push(rng.below(256) as u8),
        }
    }
    m
}

/// Runs `target` on `input`; a panic fails the test naming `what`, after saving the input.
fn run(name: &str, target: fn(&[u8]), input: &[u8], what: &str) {
    if std::panic::catch_unwind(|| target(input)).is_err() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}-{}", what.replace(['/', ' '], "_")));
        std::fs::write(&path, input).unwrap();
        panic!("fuzz target {name} panicked on {what} (input saved to {})", path.display());
    }
}

fn fuzz(name: &str) {
    let target = targets::TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f).expect("a target of that name");
    let files = corpus(name);
    assert!(files.len() >= 3, "fuzz/corpus/{name} has {} files; the seeds are `cargo run --release --example fuzz_seeds`", files.len());
    for (path, bytes) in &files {
        run(name, target, bytes, &path.file_name().unwrap().to_string_lossy());
    }
    let mutants: usize = std::env::var("DIGITNET_FUZZ_MUTANTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let mut rng = Rng::new(18);
    for i in 0..mutants {
        let (seed, other) = (&files[rng.below(files.len())].1, &files[rng.below(files.len())].1);
        run(name, target, &mutate(seed, other, &mut rng), &format!("mutant {i}"));
    }
}

#[test]
fn fuzz_idx() {
    fuzz("idx");
}

#[test]
fn fuzz_model_file() {
    fuzz("model_file");
}

#[test]
fn fuzz_onnx() {
    fuzz("onnx");
}

#[test]
fn fuzz_architecture() {
    fuzz("architecture");
}

#[test]
fn fuzz_image() {
    fuzz("image");
}

#[test]
fn fuzz_number() {
    fuzz("number");
}

#[test]
fn fuzz_pixels() {
    fuzz("pixels");
}

/// The smoke run would prove nothing if the targets swallowed everything: a corpus seed of
/// each kind is accepted by the code it feeds (a model that loads, an image that decodes…).
#[test]
fn seeds_reach_past_the_parsers() {
    let model = corpus("model_file").into_iter().find(|(p, _)| p.ends_with("seed-dense")).unwrap().1;
    assert!(digitnet::network::model_file::from_bytes(&model, None, Path::new("m")).is_ok());
    let onnx = corpus("onnx").into_iter().find(|(p, _)| p.ends_with("seed-conv-bn-pool")).unwrap().1;
    assert!(digitnet::network::onnx::from_bytes(&onnx, Path::new("m.onnx")).is_ok());
    let seed = |p: &Path| p.file_name().unwrap().to_string_lossy().starts_with("seed-");
    for (path, bytes) in corpus("image").iter().filter(|(p, _)| seed(p) && !p.to_string_lossy().contains("claims")) {
        assert!(digitnet::vision::decode_luma(bytes, "seed").is_ok(), "{}", path.display());
    }
    let pixels = corpus("pixels").into_iter().find(|(p, _)| p.ends_with("seed-digit.json")).unwrap().1;
    assert!(digitnet::vision::Digit::from_pixels_json(&pixels).is_ok());
}
