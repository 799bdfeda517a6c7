//! PyTorch compatibility: a PyTorch `nn.Sequential` of a built-in architecture, saved with
//! `safetensors.torch.save_file(model.state_dict(), …)`, loads into digitnet by architecture
//! name and gives PyTorch's logits and predictions on real MNIST digits.
//!
//! The fixtures in `tests/fixtures/` were made with PyTorch 2.15.0 (`torch.__version__` is
//! "2.15.0+cu132", the default PyPI wheel, run on the CPU in float32) by
//! `tests/fixtures/make_torch_fixture.py`, run from the repository root as
//!
//! ```text
//! python3 -m venv /tmp/torchvenv
//! /tmp/torchvenv/bin/pip install torch numpy safetensors
//! /tmp/torchvenv/bin/python tests/fixtures/make_torch_fixture.py
//! ```
//!
//! The script, in short:
//!
//! ```python
//! torch.manual_seed(0)
//! small = nn.Sequential(nn.Conv2d(1,4,3,padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
//!                       nn.Conv2d(4,4,3,padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
//!                       nn.Flatten(), nn.Linear(196,10))
//! lenet = nn.Sequential(nn.Conv2d(1,20,5), nn.MaxPool2d(2), nn.Conv2d(20,50,5), nn.MaxPool2d(2),
//!                       nn.Flatten(), nn.Linear(800,500), nn.ReLU(), nn.Linear(500,10))
//! # BN weight ~ U(0.5, 1.5), bias ~ N(0, 0.2); then 100 Adam steps (lr 1e-3, batch 32) on the
//! # first 3,200 MNIST training images, in train mode, which also moves running_mean/var.
//! model.eval()
//! save_file(model.state_dict(), "torch_small.safetensors")  # num_batches_tracked (int64) kept
//! x = torch.from_numpy(first_20_test_images.astype(np.float32) / 255).unsqueeze(1)  # [20,1,28,28]
//! json["small"] = {"logits": model(x).tolist(), "argmax": model(x).argmax(1).tolist()}
//! ```
//!
//! `torch_outputs.json` also holds each model's logits computed by PyTorch in float64
//! (`logits_float64`), which the test uses to report how far each float32 implementation is
//! from the exact answer.

use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::layers::Mode;
use digitnet::network::arch::Architecture;
use digitnet::network::model_file;
use digitnet::Tensor;
use std::path::PathBuf;

const N: usize = 20;
const CLASSES: usize = 10;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

fn outputs() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("torch_outputs.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn matrix(v: &serde_json::Value) -> Vec<Vec<f64>> {
    let rows: Vec<Vec<f64>> =
        v.as_array().expect("a list of rows").iter().map(|r| r.as_array().expect("a row").iter().map(|x| x.as_f64().expect("a number")).collect()).collect();
    assert_eq!(rows.len(), N);
    assert!(rows.iter().all(|r| r.len() == CLASSES));
    rows
}

fn argmax(row: &[f32]) -> usize {
    // First maximum, as torch.argmax on CPU.
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Loads `torch_<name>.safetensors` with the built-in architecture `name`, runs the first 20
/// MNIST test images through it in eval mode and compares with PyTorch's logits.
fn check(name: &str) {
    let path = fixture(&format!("torch_{name}.safetensors"));
    let arch = Architecture::builtin(name).unwrap();
    let file = model_file::load(&path, Some(&arch)).unwrap();
    assert!(file.metadata.is_empty(), "a PyTorch file carries no digitnet metadata");
    let mut model = file.model;
    // A file without digitnet metadata is taken to expect pixels scaled to [0, 1], which is
    // what the script fed PyTorch.
    let norm = model.architecture().normalization;
    assert_eq!((norm.mean, norm.std), (0.0, 1.0));

    let data = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, true).unwrap().take(N);
    let indices: Vec<usize> = (0..N).collect();
    let mut x = Tensor::default();
    let mut labels: Vec<u8> = Vec::new();
    data.fill_batch(&indices, &norm, &mut x, &mut labels);
    assert_eq!(x.shape(), &[N, 1, 28, 28]);

    let logits = model.forward(&x, Mode::Eval).unwrap().clone();
    assert_eq!(logits.shape(), &[N, CLASSES]);

    let json = outputs();
    let entry = &json[name];
    let want = matrix(&entry["logits"]);
    let exact = matrix(&entry["logits_float64"]);
    let want_argmax: Vec<usize> = entry["argmax"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let json_labels: Vec<u8> = json["labels"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u8).collect();
    assert_eq!(labels, json_labels, "the same 20 test images on both sides");

    // Tolerance. Both sides compute in float32 and differ only in summation order (digitnet's
    // GEMM/im2col blocking vs PyTorch's oneDNN/MKL kernels) and in how BatchNorm folds its
    // running statistics. Each logit is a chain of dot products of at most 800 terms (LeNet's
    // dense layer; 25·20 = 500 in its second convolution), so the rounding error is about
    // √K·ε·Σ|terms| ≈ 30 · 6e-8 · Σ|terms|, i.e. ~1e-6 of the magnitudes that flow through the
    // net — for logits of size ~10 that is ~1e-5, and in practice well below 1e-4. We allow
    // 1e-4 · max(1, |logit|): about 10× the expected float32 noise, yet orders of magnitude
    // below any layout mistake (a transposed kernel, a wrong flatten order or a wrong BN eps
    // moves logits by 1e-2 to 1e1). Measured when the fixtures were made: max |digitnet −
    // torch| = 7.2e-7 (small) and 1.4e-6 (lenet), and each side is within 1.5e-6 of PyTorch's
    // float64 logits, so digitnet is as close to exact as PyTorch itself.
    let mut max_abs = 0.0f64;
    let mut max_abs_exact_ours = 0.0f64;
    let mut max_abs_exact_torch = 0.0f64;
    for i in 0..N {
        let row = &logits.data[i * CLASSES..(i + 1) * CLASSES];
        for j in 0..CLASSES {
            let (ours, theirs) = (row[j] as f64, want[i][j]);
            let diff = (ours - theirs).abs();
            max_abs = max_abs.max(diff);
            max_abs_exact_ours = max_abs_exact_ours.max((ours - exact[i][j]).abs());
            max_abs_exact_torch = max_abs_exact_torch.max((theirs - exact[i][j]).abs());
            let tol = 1e-4 * theirs.abs().max(1.0);
            assert!(diff <= tol, "{name}: image {i}, class {j}: digitnet {ours}, PyTorch {theirs} (|diff| {diff:e} > {tol:e})");
        }
    }
    let got_argmax: Vec<usize> = (0..N).map(|i| argmax(&logits.data[i * CLASSES..(i + 1) * CLASSES])).collect();
    eprintln!(
        "{name}: max |digitnet − torch| = {max_abs:.3e}; vs float64: digitnet {max_abs_exact_ours:.3e}, torch {max_abs_exact_torch:.3e}; argmax {got_argmax:?}"
    );
    assert_eq!(got_argmax, want_argmax, "{name}: predictions differ from PyTorch's");

    // Without an architecture, a file with no digitnet metadata cannot be loaded.
    let err = model_file::load(&path, None).err().expect("a PyTorch file needs an architecture by name");
    assert!(err.to_string().contains("architecture"), "{err}");
}

#[test]
fn pytorch_small_with_batch_norm_matches() {
    check("small");
}

#[test]
fn pytorch_lenet_matches() {
    check("lenet");
}

/// The fixtures are what the doc comment says: PyTorch state dicts with their int64
/// `num_batches_tracked` counters (which digitnet ignores) and no metadata.
#[test]
fn fixtures_are_plain_torch_state_dicts() {
    let json = outputs();
    assert!(json["torch_version"].as_str().unwrap().starts_with("2."));
    let keys: Vec<&str> = json["small"]["state_dict_keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    assert!(keys.contains(&"1.num_batches_tracked") && keys.contains(&"5.running_var"), "{keys:?}");
}
