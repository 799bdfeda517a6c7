//! Batch normalisation over channels (`[C, H, W]` inputs, PyTorch's BatchNorm2d) or over
//! features (`[F]` inputs, BatchNorm1d). Both are the same computation with `S = H·W` or 1
//! values per channel per sample; `M = N·S` values per channel in a batch.
//!
//! ```text
//! training   μ = (1/M) Σ x,   σ² = (1/M) Σ (x − μ)²            (biased, per channel)
//!            x̂ = (x − μ) / √(σ² + ε),   y = γ x̂ + β
//!            running_mean ← (1 − m)·running_mean + m·μ
//!            running_var  ← (1 − m)·running_var  + m·σ²·M/(M − 1)    (unbiased, as PyTorch)
//! eval       x̂ = (x − running_mean) / √(running_var + ε)
//! backward   ∂L/∂γ += Σ dy·x̂,   ∂L/∂β += Σ dy
//!   training ∂L/∂x = γ/(M·√(σ²+ε)) · (M·dy − Σ dy − x̂·Σ dy·x̂)
//!   eval     ∂L/∂x = γ·dy / √(running_var + ε)
//! ```
//! with momentum m = 0.1 and ε = 1e-5. The forward caches x̂ and 1/√(σ²+ε) per channel.

use super::{check_grad, check_input, Layer, Mode, Param};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use rayon::prelude::*;

/// PyTorch's defaults.
pub const MOMENTUM: f32 = 0.1;
pub const EPS: f32 = 1e-5;

/// A batch-normalisation layer.
pub struct BatchNorm {
    shape: Vec<usize>,
    channels: usize,
    spatial: usize,
    /// weight (γ), bias (β), running_mean, running_var.
    params: Vec<Param>,
    x_hat: Vec<f32>,
    inv_std: Vec<f32>,
    /// Per-channel sums for the backward: Σ dy and Σ dy·x̂.
    sums: Vec<(f32, f32)>,
    last_mode: Option<Mode>,
}

impl BatchNorm {
    /// Batch norm for inputs of shape `[C, H, W]` (over channels) or `[F]` (over features).
    pub fn new(input: &[usize]) -> Result<Self> {
        let (channels, spatial) = match *input {
            [f] => (f, 1),
            [c, h, w] => (c, h * w),
            _ => return Err(Error::config(format!("BatchNorm needs a [C, H, W] or [F] input, got {input:?}"))),
        };
        if channels == 0 || spatial == 0 {
            return Err(Error::config(format!("BatchNorm: input shape {input:?} has a zero dimension")));
        }
        let mut gamma = Param::trainable("weight", &[channels]);
        gamma.value.fill(1.0);
        Ok(BatchNorm {
            shape: input.to_vec(),
            channels,
            spatial,
            params: vec![
                gamma,
                Param::trainable("bias", &[channels]),
                Param::buffer("running_mean", &[channels], 0.0),
                Param::buffer("running_var", &[channels], 1.0),
            ],
            x_hat: Vec::new(),
            inv_std: vec![0.0; channels],
            sums: vec![(0.0, 0.0); channels],
            last_mode: None,
        })
    }
}

impl BatchNorm {
    /// The eval-mode normalisation as one affine map per channel, `y = scale·x + shift` with
    /// `scale = γ / √(running_var + ε)` and `shift = β − running_mean·scale` (the same value
    /// as the eval forward up to rounding): what a convolution before it folds into its
    /// weights at inference ([`crate::network::fusion`]).
    pub(crate) fn eval_affine(&self) -> impl Iterator<Item = (f32, f32)> + '_ {
        let [gamma, beta, mean, var] = [0, 1, 2, 3].map(|i| &self.params[i].value);
        (0..self.channels).map(move |ch| {
            let scale = gamma[ch] * (1.0 / (var[ch] + EPS).sqrt());
            (scale, beta[ch] - mean[ch] * scale)
        })
    }
}

impl Layer for BatchNorm {
    fn kind(&self) -> &'static str {
        if self.shape.len() == 1 {
            "BatchNorm1d"
        } else {
            "BatchNorm2d"
        }
    }

    fn describe(&self) -> String {
        format!("{}", self.channels)
    }

    fn input_shape(&self) -> &[usize] {
        &self.shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.shape
    }

    fn params(&self) -> &[Param] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, mode: Mode) -> Result<()> {
        let n = check_input(self, x)?;
        let (c, s) = (self.channels, self.spatial);
        y.resize(n, &self.shape);
        self.x_hat.resize(n * c * s, 0.0);
        self.last_mode = Some(mode);
        if n == 0 {
            return Ok(());
        }
        let m = n * s;
        if mode == Mode::Train && m < 2 {
            return Err(Error::config(format!("{} in training needs more than one value per channel (batch of {n})", self.kind())));
        }
        // Per-channel mean and inverse std: from the batch (train) or the running buffers.
        let (gamma_beta, buffers) = self.params.split_at_mut(2);
        let mut means = std::mem::take(&mut self.sums); // reuse as (mean, inv_std) storage
        match mode {
            Mode::Train => {
                means.par_iter_mut().enumerate().for_each(|(ch, (mean, inv))| {
                    let mut sum = 0.0f64;
                    for i in 0..n {
                        sum += x.data[(i * c + ch) * s..(i * c + ch + 1) * s].iter().map(|&v| v as f64).sum::<f64>();
                    }
                    let mu = sum / m as f64;
                    let mut sq = 0.0f64;
                    for i in 0..n {
                        sq += x.data[(i * c + ch) * s..(i * c + ch + 1) * s].iter().map(|&v| (v as f64 - mu).powi(2)).sum::<f64>();
                    }
                    // Store the variance for now; it becomes 1/√(σ²+ε) below.
                    *mean = mu as f32;
                    *inv = (sq / m as f64) as f32;
                });
                let (rm, rv) = buffers.split_at_mut(1);
                for (ch, (mu, var_then_inv)) in means.iter_mut().enumerate() {
                    let var = *var_then_inv;
                    rm[0].value[ch] = (1.0 - MOMENTUM) * rm[0].value[ch] + MOMENTUM * *mu;
                    rv[0].value[ch] = (1.0 - MOMENTUM) * rv[0].value[ch] + MOMENTUM * var * m as f32 / (m - 1) as f32;
                    *var_then_inv = 1.0 / (var + EPS).sqrt();
                }
            }
            Mode::Eval => {
                for (ch, (mean, inv)) in means.iter_mut().enumerate() {
                    *mean = buffers[0].value[ch];
                    *inv = 1.0 / (buffers[1].value[ch] + EPS).sqrt();
                }
            }
        }
        let (gamma, beta) = (&gamma_beta[0].value, &gamma_beta[1].value);
        let means_ref = &means;
        y.data.par_chunks_mut(c * s).zip(x.data.par_chunks(c * s)).zip(self.x_hat.par_chunks_mut(c * s)).for_each(|((ys, xs), xh)| {
            for ch in 0..c {
                let (mu, inv) = means_ref[ch];
                let (g, b) = (gamma[ch], beta[ch]);
                let r = ch * s..(ch + 1) * s;
                for ((yv, &xv), h) in ys[r.clone()].iter_mut().zip(&xs[r.clone()]).zip(&mut xh[r]) {
                    *h = (xv - mu) * inv;
                    *yv = g * *h + b;
                }
            }
        });
        for (dst, &(_, inv)) in self.inv_std.iter_mut().zip(&means) {
            *dst = inv;
        }
        self.sums = means;
        Ok(())
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, param_grads: bool) -> Result<()> {
        let n = check_grad(self, x, dy)?;
        let Some(mode) = self.last_mode else {
            return Err(Error::config(format!("{} backward called before forward", self.kind())));
        };
        if self.x_hat.len() != dy.len() {
            return Err(Error::config(format!("{} backward: batch differs from the forward's", self.kind())));
        }
        let (c, s) = (self.channels, self.spatial);
        let m = (n * s) as f32;
        let x_hat = &self.x_hat;
        self.sums.par_iter_mut().enumerate().for_each(|(ch, (sum_dy, sum_dy_xhat))| {
            let (mut a, mut b) = (0.0f64, 0.0f64);
            for i in 0..n {
                let r = (i * c + ch) * s..(i * c + ch + 1) * s;
                for (&d, &h) in dy.data[r.clone()].iter().zip(&x_hat[r]) {
                    a += d as f64;
                    b += d as f64 * h as f64;
                }
            }
            *sum_dy = a as f32;
            *sum_dy_xhat = b as f32;
        });
        if param_grads {
            for (ch, &(sd, sdx)) in self.sums.iter().enumerate() {
                self.params[0].grad[ch] += sdx;
                self.params[1].grad[ch] += sd;
            }
        }
        if let Some(dx) = dx {
            dx.resize(n, &self.shape);
            let gamma = &self.params[0].value;
            let (sums, inv_std) = (&self.sums, &self.inv_std);
            dx.data.par_chunks_mut(c * s).zip(dy.data.par_chunks(c * s)).zip(x_hat.par_chunks(c * s)).for_each(|((dxs, dys), xh)| {
                for ch in 0..c {
                    let r = ch * s..(ch + 1) * s;
                    let k = gamma[ch] * inv_std[ch];
                    match mode {
                        Mode::Train => {
                            let (sd, sdx) = sums[ch];
                            for ((d, &g), &h) in dxs[r.clone()].iter_mut().zip(&dys[r.clone()]).zip(&xh[r]) {
                                *d = k / m * (m * g - sd - h * sdx);
                            }
                        }
                        Mode::Eval => {
                            for (d, &g) in dxs[r.clone()].iter_mut().zip(&dys[r]) {
                                *d = k * g;
                            }
                        }
                    }
                }
            });
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::layers::gradcheck::check_layer;

    /// Non-trivial statistics and affine parameters for a batch norm layer, so a fold or an
    /// eval forward that ignored one of them would show: γ ∈ [0.5, 1.5], β and the running mean
    /// ∈ [−0.5, 0.5], the running variance ∈ [0.5, 2].
    pub(crate) fn randomise(bn: &mut dyn Layer, rng: &mut crate::init::Rng) {
        for (p, (lo, hi)) in bn.params_mut().iter_mut().zip([(0.5, 1.5), (-0.5, 0.5), (-0.5, 0.5), (0.5, 2.0)]) {
            p.value.iter_mut().for_each(|v| *v = rng.uniform(lo, hi));
        }
    }

    /// Hand-computed: one channel, batch values [1, 2, 3, 6]: μ = 3, σ² = (4+1+0+9)/4 = 3.5,
    /// x̂ = (x − 3)/√3.500 01; with γ = 2, β = 1: y = 2x̂ + 1.
    /// Running mean 0.9·0 + 0.1·3 = 0.3; running var 0.9·1 + 0.1·3.5·4/3 = 1.366 667.
    #[test]
    fn hand_computed_training_and_running_stats() {
        let mut bn = BatchNorm::new(&[1]).unwrap();
        bn.params[0].value[0] = 2.0;
        bn.params[1].value[0] = 1.0;
        let x = Tensor::from_vec(&[4, 1], vec![1.0, 2.0, 3.0, 6.0]).unwrap();
        let mut y = Tensor::default();
        bn.forward(&x, &mut y, Mode::Train).unwrap();
        let sd = (3.5f32 + 1e-5).sqrt();
        for (yv, xv) in y.data.iter().zip([1.0f32, 2.0, 3.0, 6.0]) {
            assert!((yv - (2.0 * (xv - 3.0) / sd + 1.0)).abs() < 1e-6);
        }
        assert!((bn.params[2].value[0] - 0.3).abs() < 1e-6);
        assert!((bn.params[3].value[0] - 1.366_666_7).abs() < 1e-6);
        // Eval uses the running statistics.
        bn.forward(&x, &mut y, Mode::Eval).unwrap();
        let want = 2.0 * (1.0 - 0.3) / (1.366_666_7f32 + 1e-5).sqrt() + 1.0;
        assert!((y.data[0] - want).abs() < 1e-5);
    }

    /// Training mode (batch statistics) and eval mode, over channels and over features, with
    /// γ and β away from their initial values so their gradients are not trivially 0 or 1.
    #[test]
    fn gradients_match_finite_differences() {
        for (seed, shape) in [(0u64, vec![4, 3, 3, 2]), (1, vec![6, 5]), (2, vec![3, 2, 4, 4])] {
            let mut bn = BatchNorm::new(&shape[1..]).unwrap();
            let mut rng = crate::init::Rng::new(seed);
            for p in &mut bn.params[..2] {
                p.value.iter_mut().for_each(|v| *v = rng.uniform(0.5, 1.5));
            }
            let x = Tensor::random(&shape, 10 + seed);
            check_layer(&mut bn, &x, Mode::Train, seed).unwrap();
            bn.params[2].value.iter_mut().for_each(|v| *v = rng.uniform(-0.5, 0.5));
            bn.params[3].value.iter_mut().for_each(|v| *v = rng.uniform(0.5, 2.0));
            check_layer(&mut bn, &x, Mode::Eval, seed).unwrap();
        }
    }

    #[test]
    fn single_value_batch_in_training_is_an_error() {
        let mut bn = BatchNorm::new(&[3]).unwrap();
        let mut y = Tensor::default();
        assert!(bn.forward(&Tensor::zeros(&[1, 3]), &mut y, Mode::Train).is_err());
        assert!(bn.forward(&Tensor::zeros(&[1, 3]), &mut y, Mode::Eval).is_ok());
    }
}
