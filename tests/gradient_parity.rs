//! Gradients that match PyTorch's: for each built-in architecture (small, lenet, keras and the
//! scratch net), on a fixed batch with fixed weights, the loss, every parameter's gradient,
//! the batch-norm running statistics after the training forward, and the parameters after one
//! Adam step, two AdamW steps and two SGD-momentum steps equal `torch.autograd` /
//! `torch.optim`'s (PyTorch 2.15, CPU, float32).
//!
//! The fixture `tests/fixtures/torch_grads.safetensors` was made by
//! `tests/fixtures/make_grad_fixture.py` (its doc string gives the command and every
//! setting); the weights are not stored but generated on both sides by the same integer hash
//! ([`fixed_values`], the script's `fixed_values`), checked here against the per-tensor sums
//! the script recorded. Large tensors are stored at 1,024 spread positions plus their full
//! L2 norm.
//!
//! Tolerance: per tensor, ‖ours − torch‖₂ / ‖torch‖₂ ≤ 1e-5 over the stored entries, and the
//! full-tensor norms within 1e-5 relative. Both sides compute in float32 with different
//! summation orders (digitnet's GEMM blocking, Winograd and im2col lowerings vs oneDNN), which
//! moves each value by a few float32 ulps relative to the magnitudes summed (~1e-7 · √K for K
//! terms); 1e-5 is about ten times what that allows and far below any real mistake (a wrong
//! momentum, bias correction or ε placement moves a tensor by 1e-3 or more of itself).
//! Two exceptions, each a tensor whose true value is zero where rounding noise is all either
//! side computes:
//! * A convolution bias followed by batch norm in training mode has a gradient of exactly 0
//!   (the batch mean removes it); both sides give noise (‖·‖ ~ 1e-5 of the weight gradient's),
//!   so those are compared relative to the same layer's weight gradient instead.
//! * Adam divides by √v̂ + ε, so an entry whose gradient is exactly 0 in PyTorch (18 % of
//!   `keras` conv3's weights: inputs that are 0 on every image of the batch) but 1e-9 of
//!   Winograd rounding noise in digitnet takes a step of up to ~lr instead of none. Those
//!   entries (zero PyTorch gradient) are left out of the Adam comparisons and only checked to
//!   differ by at most 2·lr per step (each side moves at most ~lr a step, perhaps in opposite
//!   directions); the rest must meet 1e-5. The noise gradients of
//!   biases before batch norm (above) become such steps too, and are checked the same way.

use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::layers::Mode;
use digitnet::network::arch::{Architecture, Normalization};
use digitnet::network::loss::SoftmaxCrossEntropy;
use digitnet::network::Sequential;
use digitnet::training::optim::{Optimizer, OptimizerKind};
use digitnet::Tensor;
use safetensors::SafeTensors;
use std::collections::HashMap;

const FULL: usize = 2048;
const SAMPLES: usize = 1024;
const TOL: f64 = 1e-5;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

/// The script's `fixed_values`: u in [−1, 1) with 24 bits, scaled in f64, rounded once to f32.
fn fixed_values(tensor_index: u64, n: usize, kind: &str, fan_in: usize) -> Vec<f32> {
    let base = (tensor_index + 1).wrapping_mul(0x9E3779B97F4A7C15);
    (0..n as u64)
        .map(|j| {
            let h = mix(base.wrapping_add(j.wrapping_mul(0xD1B54A32D192ED03)));
            let u = (h >> 40) as f64 / (1u64 << 23) as f64 - 1.0;
            let v = match kind {
                "weight" => u / (fan_in as f64).sqrt(),
                "bn_weight" => 1.0 + 0.2 * u,
                "running_var" => 1.0 + 0.5 * u.abs(),
                _ => 0.1 * u,
            };
            v as f32
        })
        .collect()
}

fn fixed_model(name: &str, sums: &HashMap<String, f64>) -> Sequential {
    let mut m = Sequential::new(&Architecture::builtin(name).unwrap(), 0).unwrap();
    let kinds: Vec<&str> = m.layers().iter().map(|l| l.kind()).collect();
    let mut k = 0u64;
    m.for_each_param_mut(|i, _, p| {
        let kind = if kinds[i].starts_with("BatchNorm") && p.name == "weight" { "bn_weight" } else { p.name };
        let fan_in = if p.shape.len() > 1 { p.shape[1..].iter().product() } else { 1 };
        p.value = fixed_values(k, p.value.len(), kind, fan_in);
        let sum: f64 = p.value.iter().map(|&v| v as f64).sum();
        let want = sums[&format!("{i}.{}", p.name)];
        assert!((sum - want).abs() <= 1e-9 * want.abs().max(1.0), "{name} {i}.{}: weights differ from the script's (sum {sum} vs {want})", p.name);
        k += 1;
    });
    m
}

struct Fixture<'a> {
    st: SafeTensors<'a>,
}

impl Fixture<'_> {
    fn f32s(&self, key: &str) -> Vec<f32> {
        let t = self.st.tensor(key).unwrap_or_else(|_| panic!("fixture has no {key}"));
        t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
    }

    fn f64(&self, key: &str) -> f64 {
        let t = self.st.tensor(key).unwrap_or_else(|_| panic!("fixture has no {key}"));
        f64::from_le_bytes(t.data()[..8].try_into().unwrap())
    }

    /// Compares `ours` (a whole tensor) with the fixture's `key`; returns the relative error.
    /// `scale` replaces ‖torch‖ as the denominator (for tensors whose true value is 0);
    /// `skip` (Adam) leaves out the entries where PyTorch's gradient `skip.0` is exactly 0,
    /// which must instead differ by less than `skip.1`.
    fn compare(&self, key: &str, ours: &[f32], scale: Option<f64>, skip: Option<(&[f32], f32)>) -> f64 {
        let theirs = self.f32s(key);
        let n = ours.len();
        let picked: Vec<f32> = if n > FULL { (0..SAMPLES).map(|k| ours[(k * n / SAMPLES + k % 7).min(n - 1)]).collect() } else { ours.to_vec() };
        assert_eq!(picked.len(), theirs.len(), "{key}: size");
        let (mut diff, mut norm, mut skipped) = (0.0f64, 0.0f64, 0usize);
        for (k, (&a, &b)) in picked.iter().zip(&theirs).enumerate() {
            if let Some((grad, bound)) = skip {
                if grad[k] == 0.0 {
                    skipped += 1;
                    assert!((a - b).abs() < bound, "{key}: entry {k} with zero PyTorch gradient differs by {}", (a - b).abs());
                    continue;
                }
            }
            diff += (a as f64 - b as f64).powi(2);
            norm += (b as f64).powi(2);
        }
        let rel = diff.sqrt() / scale.unwrap_or(norm.sqrt()).max(1e-30);
        let full_norm: f64 = ours.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
        let want_norm = self.f64(&format!("{key}.norm"));
        let norm_rel = (full_norm - want_norm).abs() / scale.unwrap_or(want_norm).max(1e-30);
        // Skipped entries may each differ by up to the bound: the norms by √(their count) bounds.
        let allowance = skip.map_or(0.0, |(_, bound)| bound as f64 * (skipped as f64 * n as f64 / picked.len() as f64).sqrt() / want_norm.max(1e-30));
        assert!(rel <= TOL, "{key}: relative error {rel:.3e} > {TOL:e}");
        assert!(norm_rel <= TOL + allowance, "{key}: full-tensor norm {full_norm} vs PyTorch's {want_norm} (relative {norm_rel:.3e})");
        // (With entries left out, the norm check above is an allowance, not a measurement.)
        if skipped == 0 {
            rel.max(norm_rel)
        } else {
            rel
        }
    }
}

fn check(name: &str) {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/torch_grads.safetensors")).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    let fx = Fixture { st: SafeTensors::deserialize(&bytes).unwrap() };
    let sums: HashMap<String, f64> = serde_json::from_str(&meta[&format!("{name}.sums")]).unwrap();
    let labels_json: Vec<u8> = serde_json::from_str(&meta["labels"]).unwrap();

    let data = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, true).unwrap().take(4);
    let (mut x, mut labels) = (Tensor::default(), Vec::new());
    data.fill_batch(&[0, 1, 2, 3], &Normalization::default(), &mut x, &mut labels);
    assert_eq!(labels, labels_json, "the same batch on both sides");

    let mut m = fixed_model(name, &sums);
    let logits = m.forward(&x, Mode::Train).unwrap().clone();
    let mut loss = SoftmaxCrossEntropy::new(10, None).unwrap();
    let mut dlogits = Tensor::default();
    let value = loss.forward_backward(&logits, &labels, Some(&mut dlogits)).unwrap().loss;
    m.zero_grad();
    m.backward(&x, &dlogits).unwrap();
    let want_loss = fx.f64(&format!("{name}/loss"));
    assert!((value - want_loss).abs() <= TOL * want_loss, "{name}: loss {value} vs PyTorch's {want_loss}");
    let mut worst = HashMap::new();
    let mut note = |what: &str, rel: f64| {
        let w = worst.entry(what.to_string()).or_insert(0.0f64);
        *w = w.max(rel);
    };
    let mut grads = Vec::new();
    let kinds: Vec<&str> = m.layers().iter().map(|l| l.kind()).collect();
    let mut weight_grad_norm = 0.0;
    m.for_each_param(|i, p| {
        if p.is_trainable() {
            let before_bn = p.name == "bias" && kinds[i] == "Conv2d" && kinds.get(i + 1).is_some_and(|k| k.starts_with("BatchNorm"));
            let scale = before_bn.then_some(weight_grad_norm);
            let rel = fx.compare(&format!("{name}/grad/{i}.{}", p.name), &p.grad, scale, None);
            note(if before_bn { "grad (bias before batch norm, relative to the weight gradient)" } else { "grad" }, rel);
            if p.name == "weight" {
                weight_grad_norm = p.grad.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            }
            grads.push(p.grad.clone());
        } else {
            note("running", fx.compare(&format!("{name}/running/{i}.{}", p.name), &p.value, None, None));
        }
    });
    for (run, kind, wd, lr, steps) in
        [("adam1", OptimizerKind::adam(), 0.0, 1e-3, 1), ("adamw2", OptimizerKind::adam(), 0.1, 1e-3, 2), ("sgd2", OptimizerKind::sgd(0.9), 5e-4, 0.01, 2)]
    {
        let mut stepped = fixed_model(name, &sums);
        let mut k = 0;
        stepped.for_each_param_mut(|_, _, p| {
            if p.is_trainable() {
                p.grad.copy_from_slice(&grads[k]);
                k += 1;
            }
        });
        let mut opt = Optimizer::new(kind, wd).unwrap();
        for _ in 0..steps {
            opt.step(&mut stepped, lr);
        }
        let adam = matches!(kind, OptimizerKind::Adam { .. });
        stepped.for_each_param(|i, p| {
            if p.is_trainable() {
                // A bias before batch norm has a zero true gradient everywhere: pure noise on
                // both sides, which Adam turns into ±lr steps (see the module documentation).
                let before_bn = p.name == "bias" && kinds[i] == "Conv2d" && kinds.get(i + 1).is_some_and(|k| k.starts_with("BatchNorm"));
                let torch_grad = if before_bn { vec![0.0; p.value.len()] } else { fx.f32s(&format!("{name}/grad/{i}.{}", p.name)) };
                let skip = adam.then_some((torch_grad.as_slice(), 2.0 * lr * steps as f32 * 1.01));
                note(run, fx.compare(&format!("{name}/{run}/{i}.{}", p.name), &p.value, None, skip));
            }
        });
    }
    let mut report: Vec<_> = worst.into_iter().collect();
    report.sort_by(|a, b| a.0.cmp(&b.0));
    eprintln!("{name}: loss {value:.7} (PyTorch {want_loss:.7}); worst relative error per tensor: {report:?}");
}

#[test]
fn small_matches_pytorch() {
    check("small");
}

#[test]
fn lenet_matches_pytorch() {
    check("lenet");
}

#[test]
fn keras_matches_pytorch() {
    check("keras");
}

#[test]
fn scratch_matches_pytorch() {
    check("scratch8");
}
