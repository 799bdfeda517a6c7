//! Finite-difference gradient checking, used by every layer's tests and the network tests.
//!
//! The scalar checked is `L = Σ r ⊙ y` with a fixed random `r` (so the upstream gradient is
//! not all ones and a transposed or mis-indexed backward shows), summed in f64. Each checked
//! entry θᵢ gets the central difference
//!
//! ```text
//! gᵢ ≈ (L(θᵢ + h) − L(θᵢ − h)) / 2h,   h = 1e-2
//! ```
//!
//! Tolerance, justified: the forward runs in f32, so each output carries a rounding error of
//! about ε = 6e-8 relative; summed over a few hundred outputs with random signs the loss error
//! is ≲ 1e-6, i.e. ≲ 1e-4 after dividing by 2h. The truncation error of the central difference
//! is h²/6·|∂³L| ≈ 2e-5 for the smooth layers here. An entry passes when
//! `|g_num − g_ana| ≤ 1e-3 + 1e-2·max(|g_num|, |g_ana|)`: ten times those errors, and far below
//! what a wrong index, a missing factor or a sign error produces.
//!
//! Kinks (ReLU at 0, a max-pool arg-max changing, a dropout mask) make the difference quotient
//! meaningless where a perturbation crosses one. Layer tests keep inputs away from kinks;
//! whole-network tests freeze the piecewise pattern of the checked point
//! ([`crate::layers::Layer::set_frozen_pattern`]), which leaves value and gradient there
//! unchanged and makes the function smooth around it.

use crate::layers::{Layer, Mode};
use crate::tensor::Tensor;

/// Step of the central difference.
pub const STEP: f32 = 1e-2;
const ATOL: f64 = 1e-3;
const RTOL: f64 = 1e-2;
/// Entries checked per tensor at most (spread evenly over the tensor).
const MAX_CHECKS: usize = 48;

/// `Σ r ⊙ y` in f64.
pub fn weighted_sum(r: &[f32], y: &[f32]) -> f64 {
    r.iter().zip(y).map(|(a, b)| *a as f64 * *b as f64).sum()
}

/// Compares `analytic` with central differences of `loss_at(i, δ)` (the loss with entry `i`
/// moved by δ; the closure restores it). `what` names the tensor in the error.
pub fn compare(what: &str, analytic: &[f32], mut loss_at: impl FnMut(usize, f32) -> f64) -> Result<(), String> {
    let step = STEP;
    let n = analytic.len();
    let stride = n.div_ceil(MAX_CHECKS).max(1);
    let mut i = 0;
    while i < n {
        let num = (loss_at(i, step) - loss_at(i, -step)) / (2.0 * step as f64);
        let ana = analytic[i] as f64;
        let bound = ATOL + RTOL * num.abs().max(ana.abs());
        if (num - ana).abs() > bound {
            return Err(format!("{what}[{i}]: analytic {ana:.6}, numerical {num:.6}"));
        }
        i += stride;
    }
    Ok(())
}

/// Checks a layer's backward for its input and every trainable parameter, with `L = Σ r ⊙ y`.
pub fn check_layer(layer: &mut dyn Layer, x: &Tensor, mode: Mode, seed: u64) -> Result<(), String> {
    let err = |e: crate::error::Error| e.to_string();
    let mut y = Tensor::default();
    layer.forward(x, &mut y, mode).map_err(err)?;
    let r = Tensor::random(y.shape(), seed ^ 0x5EED);
    for p in layer.params_mut() {
        p.zero_grad();
    }
    let mut dx = Tensor::default();
    layer.backward(x, &y, &r, Some(&mut dx), true).map_err(err)?;
    if dx.shape() != x.shape() {
        return Err(format!("dx has shape {:?}, x {:?}", dx.shape(), x.shape()));
    }
    let kind = layer.kind();

    let mut xp = x.clone();
    let mut yp = Tensor::default();
    compare(&format!("{kind} input"), &dx.data, |i, d| {
        let keep = xp.data[i];
        xp.data[i] += d;
        layer.forward(&xp, &mut yp, mode).expect("forward worked once");
        xp.data[i] = keep;
        weighted_sum(&r.data, &yp.data)
    })?;

    for pi in 0..layer.params().len() {
        if !layer.params()[pi].is_trainable() {
            continue;
        }
        let analytic = layer.params()[pi].grad.clone();
        let name = layer.params()[pi].name;
        compare(&format!("{kind} {name}"), &analytic, |i, d| {
            let keep = layer.params()[pi].value[i];
            layer.params_mut()[pi].value[i] += d;
            layer.forward(x, &mut yp, mode).expect("forward worked once");
            layer.params_mut()[pi].value[i] = keep;
            weighted_sum(&r.data, &yp.data)
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checker itself must fail on a wrong gradient.
    #[test]
    fn compare_rejects_a_wrong_gradient() {
        // L(θ) = Σ θᵢ² → ∂L/∂θᵢ = 2θᵢ.
        let mut theta = vec![0.3f32, -0.7, 1.1];
        let right: Vec<f32> = theta.iter().map(|t| 2.0 * t).collect();
        let wrong: Vec<f32> = theta.iter().map(|t| 1.9 * t).collect();
        let loss = |i: usize, d: f32, th: &mut Vec<f32>| {
            let keep = th[i];
            th[i] += d;
            let l = th.iter().map(|v| (*v as f64).powi(2)).sum();
            th[i] = keep;
            l
        };
        let t2 = &mut theta.clone();
        assert!(compare("θ", &right, |i, d| loss(i, d, &mut theta)).is_ok());
        assert!(compare("θ", &wrong, |i, d| loss(i, d, t2)).is_err());
    }
}
