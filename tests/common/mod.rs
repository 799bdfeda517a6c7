//! Helpers shared by the end-to-end tests: small IDX data sets in temporary directories,
//! the running binary, and an HTTP client for the server. Photo-like renderings of digits are
//! the library's ([`digitnet::data::render`]).
#![allow(dead_code)]

pub mod http;

use digitnet::data::render::Canvas;
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::init::Rng;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("digitnet-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// IDX bytes for `[n, rows, cols]` images or `[n]` labels.
pub fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// Writes a four-file raw IDX data set made of the first `n_train` / `n_test` MNIST images.
pub fn write_mnist_subset(dir: &Path, n_train: usize, n_test: usize) {
    let train = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, false).unwrap().take(n_train);
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).unwrap().take(n_test);
    for (stem, d) in [("train", &train), ("t10k", &test)] {
        std::fs::write(dir.join(format!("{stem}-images-idx3-ubyte")), idx_bytes(&[d.len() as u32, 28, 28], &d.images)).unwrap();
        std::fs::write(dir.join(format!("{stem}-labels-idx1-ubyte")), idx_bytes(&[d.len() as u32], &d.labels)).unwrap();
    }
}

/// Runs the `digitnet` binary with two worker threads.
pub fn digitnet(args: &[&str]) -> Output {
    let binary = env!("CARGO_BIN_EXE_digitnet");
    Command::new(binary).args(args).env("RAYON_NUM_THREADS", "2").output().expect("binary runs")
}

/// Asserts a clean failure: non-zero exit, a one-line `error:` on stderr mentioning `needle`,
/// and no panic.
pub fn fails_with(args: &[&str], needle: &str) {
    let out = digitnet(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let line = err.lines().find(|l| l.starts_with("error")).unwrap_or_else(|| panic!("{args:?}: no error line in {err}"));
    assert!(line.contains(needle), "{args:?}: '{line}' does not mention '{needle}'");
    assert_eq!(err.lines().filter(|l| l.starts_with("error")).count(), 1, "{err}");
}

/// An MNIST digit drawn in dark pen, scaled ×`scale`, at (`ox`, `oy`) on a canvas.
pub fn draw_digit(canvas: &mut Canvas, digit: &[u8], scale: u32, ox: u32, oy: u32) {
    canvas.pen(digit, scale as usize, ox as usize, oy as usize);
}

/// Tinted paper with a light gradient and noise.
pub fn paper(w: u32, h: u32, rng: &mut Rng) -> Canvas {
    Canvas::lit_paper(w as usize, h as usize, rng)
}
