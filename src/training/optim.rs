//! Optimizers: SGD (momentum, Nesterov, L2 weight decay) and Adam (bias correction, optional
//! decoupled weight decay), with PyTorch's update rules. Each parameter's effective learning
//! rate is `lr × the layer's factor`; a factor of 0 freezes the layer (no update, no decay).
//!
//! ```text
//! SGD     g ← ∇ + λ·w;   v ← μ·v + g;   step = g + μ·v (Nesterov) or v;   w ← w − η·step
//! Adam    m ← β₁m + (1−β₁)∇;   v ← β₂v + (1−β₂)∇²;   m̂ = m/(1−β₁ᵗ);   v̂ = v/(1−β₂ᵗ)
//!         w ← w − η·λ·w (decoupled, AdamW);   w ← w − η·m̂/(√v̂ + ε)
//! ```
//! Moment buffers are allocated on the first step, in parameter-visitor order, and reused.

use crate::error::{Error, Result};
use crate::network::sequential::Sequential;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which update rule, with its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerKind {
    Sgd { momentum: f32, nesterov: bool },
    Adam { beta1: f32, beta2: f32, eps: f32 },
}

impl OptimizerKind {
    /// Adam with β₁ 0.9, β₂ 0.999, ε 1e-8.
    pub fn adam() -> Self {
        OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }

    /// SGD with the given momentum, no Nesterov.
    pub fn sgd(momentum: f32) -> Self {
        OptimizerKind::Sgd { momentum, nesterov: false }
    }
}

/// Optimizer state: the rule, weight decay, step count and moment buffers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    /// λ: L2 penalty for SGD, decoupled decay for Adam.
    pub weight_decay: f32,
    /// Steps taken (Adam's t).
    pub steps: u64,
    /// First moments (SGD: velocity), one buffer per trainable parameter.
    pub m: Vec<Vec<f32>>,
    /// Second moments (Adam only).
    pub v: Vec<Vec<f32>>,
}

impl Optimizer {
    /// A fresh optimizer; hyper-parameters are checked here.
    pub fn new(kind: OptimizerKind, weight_decay: f32) -> Result<Self> {
        let bad = |what: &str| Err(Error::config(format!("optimizer: {what}")));
        if !(weight_decay.is_finite() && weight_decay >= 0.0) {
            return bad(&format!("weight decay must be ≥ 0, got {weight_decay}"));
        }
        match kind {
            OptimizerKind::Sgd { momentum, .. } if !(0.0..1.0).contains(&momentum) => {
                return bad(&format!("momentum must be in [0, 1), got {momentum}"));
            }
            OptimizerKind::Adam { beta1, beta2, eps } if !((0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2) && eps > 0.0) => {
                return bad(&format!("Adam needs β₁, β₂ in [0, 1) and ε > 0, got {beta1}, {beta2}, {eps}"));
            }
            _ => {}
        }
        Ok(Optimizer { kind, weight_decay, steps: 0, m: Vec::new(), v: Vec::new() })
    }

    /// Applies one update with base learning rate `lr` to every trainable parameter of `model`
    /// using the gradients accumulated in it.
    pub fn step(&mut self, model: &mut Sequential, lr: f32) {
        self.steps += 1;
        let t = self.steps as i32;
        let wd = self.weight_decay;
        let kind = self.kind;
        let (ms, vs) = (&mut self.m, &mut self.v);
        let mut k = 0;
        model.for_each_param_mut(|_, factor, p| {
            if !p.is_trainable() {
                return;
            }
            if ms.len() <= k {
                ms.push(vec![0.0; p.value.len()]);
            }
            if vs.len() <= k {
                vs.push(if matches!(kind, OptimizerKind::Adam { .. }) { vec![0.0; p.value.len()] } else { Vec::new() });
            }
            let (m, v) = (&mut ms[k], &mut vs[k]);
            k += 1;
            let eta = lr * factor;
            if eta == 0.0 {
                return;
            }
            match kind {
                OptimizerKind::Sgd { momentum, nesterov } => {
                    for ((w, &g), vel) in p.value.iter_mut().zip(&p.grad).zip(m.iter_mut()) {
                        let g = g + wd * *w;
                        *vel = momentum * *vel + g;
                        let step = if nesterov { g + momentum * *vel } else { *vel };
                        *w -= eta * step;
                    }
                }
                OptimizerKind::Adam { beta1, beta2, eps } => {
                    let rule = AdamRule { beta1, beta2, eps, c1: 1.0 - beta1.powi(t), c2: 1.0 - beta2.powi(t), eta, wd };
                    // Large tensors (the dense weights) are split across threads; every value
                    // gets the same arithmetic either way, so results do not depend on it.
                    let chunk = p.value.len().div_ceil(rayon::current_num_threads()).max(ADAM_MIN_CHUNK);
                    p.value
                        .par_chunks_mut(chunk)
                        .zip(p.grad.par_chunks(chunk))
                        .zip(m.par_chunks_mut(chunk))
                        .zip(v.par_chunks_mut(chunk))
                        .for_each(|(((w, g), m1), m2)| adam_update(rule, w, g, m1, m2));
                }
            }
        });
    }
}

/// Fewest values per thread in a parallel Adam update.
const ADAM_MIN_CHUNK: usize = 1 << 15;

/// The constants of one Adam step for one parameter: `c1 = 1 − β₁ᵗ`, `c2 = 1 − β₂ᵗ`, the
/// effective learning rate `eta` and the decoupled decay `wd`.
#[derive(Clone, Copy)]
struct AdamRule {
    beta1: f32,
    beta2: f32,
    eps: f32,
    c1: f32,
    c2: f32,
    eta: f32,
    wd: f32,
}

/// Adam's update of `w` from `g`, with its moments `m1`, `m2` (see the module documentation).
#[inline(always)]
fn adam_update_kernel(r: AdamRule, w: &mut [f32], g: &[f32], m1: &mut [f32], m2: &mut [f32]) {
    for (((w, &g), m1), m2) in w.iter_mut().zip(g).zip(m1.iter_mut()).zip(m2.iter_mut()) {
        *m1 = r.beta1 * *m1 + (1.0 - r.beta1) * g;
        *m2 = r.beta2 * *m2 + (1.0 - r.beta2) * g * g;
        *w -= r.eta * r.wd * *w;
        *w -= r.eta * (*m1 / r.c1) / ((*m2 / r.c2).sqrt() + r.eps);
    }
}

crate::kernels::simd::multiversion!(
    /// Adam's update, compiled for the widest vectors this CPU has (see `adam_update_kernel`).
    fn adam_update => adam_update_kernel(r: AdamRule, w: &mut [f32], g: &[f32], m1: &mut [f32], m2: &mut [f32])
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::arch::Architecture;

    fn one_dense() -> Sequential {
        let text = r#"{"name": "d", "input": [1, 1, 2], "classes": ["a", "b"], "task": "classification",
            "layers": [{"type": "flatten"}, {"type": "dense", "out_features": 2}]}"#;
        Sequential::new(&Architecture::from_json(text, "t").unwrap(), 0).unwrap()
    }

    fn set(m: &mut Sequential, w: f32, g: f32) {
        m.for_each_param_mut(|_, _, p| {
            p.value.fill(w);
            p.grad.fill(g);
        });
    }

    fn first(m: &Sequential) -> f32 {
        let mut v = None;
        m.for_each_param(|_, p| v = v.or(Some(p.value[0])));
        v.unwrap()
    }

    /// Hand-computed SGD: w = 1, g = 0.5, λ = 0.1, μ = 0.9, η = 0.1.
    /// step 1: g' = 0.6, v = 0.6, w = 1 − 0.06 = 0.94.
    /// step 2 (same g): g' = 0.5 + 0.094 = 0.594, v = 0.54 + 0.594 = 1.134, w = 0.94 − 0.1134 = 0.8266.
    /// Nesterov step 1: v = 0.6, step = 0.6 + 0.54 = 1.14, w = 0.886.
    #[test]
    fn sgd_hand_computed() {
        let mut m = one_dense();
        set(&mut m, 1.0, 0.5);
        let mut o = Optimizer::new(OptimizerKind::sgd(0.9), 0.1).unwrap();
        o.step(&mut m, 0.1);
        assert!((first(&m) - 0.94).abs() < 1e-6);
        o.step(&mut m, 0.1);
        assert!((first(&m) - 0.8266).abs() < 1e-6);
        set(&mut m, 1.0, 0.5);
        let mut o = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9, nesterov: true }, 0.1).unwrap();
        o.step(&mut m, 0.1);
        assert!((first(&m) - 0.886).abs() < 1e-6);
    }

    /// Hand-computed Adam: the first bias-corrected step is η·g/(|g| + ε) = η·sign(g):
    /// w = 1 − 0.01 = 0.99. With decoupled decay λ = 0.5 first w ← 1 − 0.01·0.5 = 0.995, then
    /// 0.985. Second step with g = 0.5 again: m̂ = 0.5, v̂ = 0.25 → another −0.01.
    #[test]
    fn adam_hand_computed() {
        let mut m = one_dense();
        set(&mut m, 1.0, 0.5);
        let mut o = Optimizer::new(OptimizerKind::adam(), 0.0).unwrap();
        o.step(&mut m, 0.01);
        assert!((first(&m) - 0.99).abs() < 1e-6);
        o.step(&mut m, 0.01);
        assert!((first(&m) - 0.98).abs() < 1e-6);
        set(&mut m, 1.0, 0.5);
        let mut o = Optimizer::new(OptimizerKind::adam(), 0.5).unwrap();
        o.step(&mut m, 0.01);
        assert!((first(&m) - 0.985).abs() < 1e-6);
    }

    #[test]
    fn frozen_layers_do_not_move() {
        let mut m = one_dense();
        set(&mut m, 1.0, 0.5);
        m.set_lr_factor(1, 0.0).unwrap();
        let mut o = Optimizer::new(OptimizerKind::adam(), 0.1).unwrap();
        o.step(&mut m, 0.01);
        m.for_each_param(|_, p| assert!(p.value.iter().all(|&v| v == 1.0)));
        m.set_lr_factor(1, 0.5).unwrap();
        o.step(&mut m, 0.01);
        m.for_each_param(|_, p| assert!(p.value.iter().all(|&v| v < 1.0)));
    }

    #[test]
    fn bad_hyperparameters_are_errors() {
        assert!(Optimizer::new(OptimizerKind::sgd(1.5), 0.0).is_err());
        assert!(Optimizer::new(OptimizerKind::adam(), -1.0).is_err());
        assert!(Optimizer::new(OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 0.0 }, 0.0).is_err());
    }
}
