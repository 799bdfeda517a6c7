//! Inverted dropout.
//!
//! ```text
//! training  mᵢ = 1/(1 − p) with probability 1 − p, else 0;   y = m ⊙ x,   ∂L/∂x = m ⊙ dy
//! eval      y = x,                                             ∂L/∂x = dy
//! ```
//! Scaling by 1/(1 − p) during training keeps E\[y\] = x, so eval needs no rescaling. The mask
//! is drawn from the layer's own seeded [`Rng`], whose state checkpoints save and restore.

use super::{check_grad, check_input, Layer, Mode};
use crate::error::{Error, Result};
use crate::init::Rng;
use crate::tensor::Tensor;

/// A dropout layer.
pub struct Dropout {
    shape: Vec<usize>,
    rate: f32,
    mask: Vec<f32>,
    rng: Rng,
    /// When true, training forwards reuse the last mask instead of drawing a new one (for
    /// gradient checks, which need the same function at every evaluation).
    freeze_mask: bool,
    last_mode: Option<Mode>,
}

impl Dropout {
    /// Dropout with rate `rate` ∈ [0, 1) for inputs of `shape`, drawing masks from `rng`.
    pub fn new(shape: &[usize], rate: f32, rng: Rng) -> Result<Self> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::config(format!("Dropout rate must be in [0, 1), got {rate}")));
        }
        Ok(Dropout { shape: shape.to_vec(), rate, mask: Vec::new(), rng, freeze_mask: false, last_mode: None })
    }
}

impl Layer for Dropout {
    fn kind(&self) -> &'static str {
        "Dropout"
    }

    fn describe(&self) -> String {
        format!("p = {}", self.rate)
    }

    fn input_shape(&self) -> &[usize] {
        &self.shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.shape
    }

    fn set_frozen_pattern(&mut self, frozen: bool) {
        self.freeze_mask = frozen;
    }

    fn rng(&mut self) -> Option<&mut Rng> {
        Some(&mut self.rng)
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, mode: Mode) -> Result<()> {
        let n = check_input(self, x)?;
        y.resize(n, &self.shape);
        self.last_mode = Some(mode);
        if mode == Mode::Eval {
            y.data.copy_from_slice(&x.data);
            return Ok(());
        }
        if !(self.freeze_mask && self.mask.len() == x.len()) {
            let keep = 1.0 - self.rate;
            let scale = 1.0 / keep;
            self.mask.resize(x.len(), 0.0);
            for m in &mut self.mask {
                *m = if self.rng.next_f32() < keep { scale } else { 0.0 };
            }
        }
        for ((yv, &xv), &m) in y.data.iter_mut().zip(&x.data).zip(&self.mask) {
            *yv = xv * m;
        }
        Ok(())
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, _param_grads: bool) -> Result<()> {
        let n = check_grad(self, x, dy)?;
        let Some(dx) = dx else { return Ok(()) };
        dx.resize(n, &self.shape);
        match self.last_mode {
            Some(Mode::Train) if self.mask.len() == dy.len() => {
                for ((d, &g), &m) in dx.data.iter_mut().zip(&dy.data).zip(&self.mask) {
                    *d = g * m;
                }
            }
            Some(Mode::Eval) => dx.data.copy_from_slice(&dy.data),
            _ => return Err(Error::config("Dropout backward called without a matching forward")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::check_layer;

    #[test]
    fn eval_is_identity_and_train_keeps_the_mean() {
        let mut d = Dropout::new(&[1000], 0.3, Rng::new(1)).unwrap();
        let x = Tensor::from_vec(&[20, 1000], vec![1.0; 20_000]).unwrap();
        let mut y = Tensor::default();
        d.forward(&x, &mut y, Mode::Eval).unwrap();
        assert_eq!(y.data, x.data);
        d.forward(&x, &mut y, Mode::Train).unwrap();
        let zeros = y.data.iter().filter(|&&v| v == 0.0).count() as f64 / 20_000.0;
        // 20k Bernoulli(0.3) draws: standard error 0.0032.
        assert!((zeros - 0.3).abs() < 0.016, "dropped {zeros}");
        assert!(y.data.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
        let mean = y.data.iter().map(|&v| v as f64).sum::<f64>() / 20_000.0;
        assert!((mean - 1.0).abs() < 0.025, "mean {mean}");
    }

    #[test]
    fn same_seed_same_mask() {
        let x = Tensor::random(&[4, 50], 0);
        let (mut y1, mut y2) = (Tensor::default(), Tensor::default());
        Dropout::new(&[50], 0.5, Rng::new(9)).unwrap().forward(&x, &mut y1, Mode::Train).unwrap();
        Dropout::new(&[50], 0.5, Rng::new(9)).unwrap().forward(&x, &mut y2, Mode::Train).unwrap();
        assert_eq!(y1, y2);
    }

    #[test]
    fn gradients_match_finite_differences_with_a_fixed_mask() {
        let mut d = Dropout::new(&[3, 4, 4], 0.4, Rng::new(2)).unwrap();
        let x = Tensor::random(&[2, 3, 4, 4], 3);
        let mut y = Tensor::default();
        d.forward(&x, &mut y, Mode::Train).unwrap();
        d.set_frozen_pattern(true);
        check_layer(&mut d, &x, Mode::Train, 4).unwrap();
        assert!(d.mask.contains(&0.0) && d.mask.iter().any(|&m| m > 1.0));
    }

    #[test]
    fn bad_rate_is_an_error() {
        assert!(Dropout::new(&[3], 1.0, Rng::new(0)).is_err());
        assert!(Dropout::new(&[3], -0.1, Rng::new(0)).is_err());
    }
}
