//! Element-wise activations and softmax.
//!
//! ```text
//! ReLU        y = max(x, 0)              ∂L/∂x = dy · [x > 0]
//! LeakyReLU   y = x if x > 0 else a·x    ∂L/∂x = dy · (1 if x > 0 else a)
//! Sigmoid     y = 1 / (1 + e^(−x))       ∂L/∂x = dy · y(1 − y)
//! Tanh        y = tanh x                 ∂L/∂x = dy · (1 − y²)
//! Identity    y = x                      ∂L/∂x = dy
//! Softmax     yᵢ = e^(xᵢ − max x) / Σⱼ e^(xⱼ − max x)   over each sample's values
//!             ∂L/∂xᵢ = yᵢ (dyᵢ − Σⱼ dyⱼ yⱼ)
//! ```
//! The backward reads `x` for the piecewise-linear ones and `y` for the others; nothing is
//! cached. (For training a classifier, use the fused softmax cross-entropy loss instead of a
//! Softmax layer: it is cheaper and numerically safer.)

use super::{check_grad, check_input, Layer, Mode};
use crate::error::Result;
use crate::tensor::Tensor;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Values per parallel task for element-wise work: large enough to amortise the task.
const PAR_CHUNK: usize = 1 << 15;

/// Which function.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ActivationKind {
    Relu,
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    Identity,
    Softmax,
}

/// An activation layer.
pub struct Activation {
    kind: ActivationKind,
    shape: Vec<usize>,
    /// Recorded slopes (1 or a) of a frozen ReLU/LeakyReLU; `frozen` is `Some(recorded)`.
    slopes: Vec<f32>,
    frozen: Option<bool>,
}

impl Activation {
    /// An activation over inputs of `shape`.
    pub fn new(kind: ActivationKind, shape: &[usize]) -> Self {
        Activation { kind, shape: shape.to_vec(), slopes: Vec::new(), frozen: None }
    }

    /// Which function this layer applies.
    pub fn function(&self) -> ActivationKind {
        self.kind
    }
}

fn sigmoid(x: f32) -> f32 {
    // Split by sign so e^(−x) never overflows.
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Softmax of one row, in place safe (`y` may be a fresh buffer).
pub fn softmax_row(x: &[f32], y: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = (xv - max).exp();
        sum += *yv;
    }
    let inv = 1.0 / sum;
    y.iter_mut().for_each(|v| *v *= inv);
}

impl Layer for Activation {
    fn kind(&self) -> &'static str {
        match self.kind {
            ActivationKind::Relu => "ReLU",
            ActivationKind::LeakyRelu(_) => "LeakyReLU",
            ActivationKind::Sigmoid => "Sigmoid",
            ActivationKind::Tanh => "Tanh",
            ActivationKind::Identity => "Identity",
            ActivationKind::Softmax => "Softmax",
        }
    }

    fn describe(&self) -> String {
        match self.kind {
            ActivationKind::LeakyRelu(a) => format!("slope {a}"),
            _ => String::new(),
        }
    }

    fn input_shape(&self) -> &[usize] {
        &self.shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.shape
    }

    fn set_frozen_pattern(&mut self, frozen: bool) {
        self.frozen = frozen.then_some(false);
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _mode: Mode) -> Result<()> {
        let n = check_input(self, x)?;
        y.resize(n, &self.shape);
        let kind = self.kind;
        if let (Some(recorded), ActivationKind::Relu | ActivationKind::LeakyRelu(_)) = (self.frozen, kind) {
            let a = if let ActivationKind::LeakyRelu(a) = kind { a } else { 0.0 };
            if !recorded || self.slopes.len() != x.len() {
                self.slopes.clear();
                self.slopes.extend(x.data.iter().map(|&v| if v > 0.0 { 1.0 } else { a }));
                self.frozen = Some(true);
            }
            for ((yv, &xv), &s) in y.data.iter_mut().zip(&x.data).zip(&self.slopes) {
                *yv = xv * s;
            }
            return Ok(());
        }
        if kind == ActivationKind::Softmax {
            let k = x.sample_len().max(1);
            y.data.par_chunks_mut(k).zip(x.data.par_chunks(k)).for_each(|(ys, xs)| softmax_row(xs, ys));
            return Ok(());
        }
        y.data.par_chunks_mut(PAR_CHUNK).zip(x.data.par_chunks(PAR_CHUNK)).for_each(|(ys, xs)| {
            let pairs = ys.iter_mut().zip(xs);
            match kind {
                ActivationKind::Relu => pairs.for_each(|(y, &x)| *y = x.max(0.0)),
                ActivationKind::LeakyRelu(a) => pairs.for_each(|(y, &x)| *y = if x > 0.0 { x } else { a * x }),
                ActivationKind::Sigmoid => pairs.for_each(|(y, &x)| *y = sigmoid(x)),
                ActivationKind::Tanh => pairs.for_each(|(y, &x)| *y = x.tanh()),
                ActivationKind::Identity | ActivationKind::Softmax => pairs.for_each(|(y, &x)| *y = x),
            }
        });
        Ok(())
    }

    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, _param_grads: bool) -> Result<()> {
        let n = check_grad(self, x, dy)?;
        let Some(dx) = dx else { return Ok(()) };
        y.check_sample_shape(&self.shape, self.kind())?;
        dx.resize(n, &self.shape);
        let kind = self.kind;
        if kind == ActivationKind::Softmax {
            let k = x.sample_len().max(1);
            dx.data.par_chunks_mut(k).zip(dy.data.par_chunks(k)).zip(y.data.par_chunks(k)).for_each(|((dxs, dys), ys)| {
                let dot: f32 = dys.iter().zip(ys).map(|(a, b)| a * b).sum();
                for ((d, &g), &yv) in dxs.iter_mut().zip(dys).zip(ys) {
                    *d = yv * (g - dot);
                }
            });
            return Ok(());
        }
        dx.data.par_chunks_mut(PAR_CHUNK).zip(dy.data.par_chunks(PAR_CHUNK)).zip(x.data.par_chunks(PAR_CHUNK).zip(y.data.par_chunks(PAR_CHUNK))).for_each(
            |((dxs, dys), (xs, ys))| {
                let it = dxs.iter_mut().zip(dys).zip(xs.iter().zip(ys));
                match kind {
                    ActivationKind::Relu => it.for_each(|((d, &g), (&x, _))| *d = if x > 0.0 { g } else { 0.0 }),
                    ActivationKind::LeakyRelu(a) => it.for_each(|((d, &g), (&x, _))| *d = if x > 0.0 { g } else { a * g }),
                    ActivationKind::Sigmoid => it.for_each(|((d, &g), (_, &y))| *d = g * y * (1.0 - y)),
                    ActivationKind::Tanh => it.for_each(|((d, &g), (_, &y))| *d = g * (1.0 - y * y)),
                    ActivationKind::Identity | ActivationKind::Softmax => it.for_each(|((d, &g), _)| *d = g),
                }
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::check_layer;

    const ALL: [ActivationKind; 6] = [
        ActivationKind::Relu,
        ActivationKind::LeakyRelu(0.1),
        ActivationKind::Sigmoid,
        ActivationKind::Tanh,
        ActivationKind::Identity,
        ActivationKind::Softmax,
    ];

    #[test]
    fn hand_computed_values() {
        let x = Tensor::from_vec(&[1, 4], vec![-2.0, -0.5, 0.0, 3.0]).unwrap();
        let expect = |kind, want: [f32; 4]| {
            let mut y = Tensor::default();
            Activation::new(kind, &[4]).forward(&x, &mut y, Mode::Eval).unwrap();
            for (a, b) in y.data.iter().zip(want) {
                assert!((a - b).abs() < 1e-6, "{kind:?}: {a} vs {b}");
            }
        };
        expect(ActivationKind::Relu, [0.0, 0.0, 0.0, 3.0]);
        expect(ActivationKind::LeakyRelu(0.1), [-0.2, -0.05, 0.0, 3.0]);
        expect(ActivationKind::Sigmoid, [0.119_202_92, 0.377_540_67, 0.5, 0.952_574_1]);
        expect(ActivationKind::Tanh, [-0.964_027_6, -0.462_117_16, 0.0, 0.995_054_7]);
        // e^(x − 3) = [e^−5, e^−3.5, e^−3, 1] = [0.006 738, 0.030 197, 0.049 787, 1], sum 1.086 722.
        expect(ActivationKind::Softmax, [0.006_200_247, 0.027_787_578, 0.045_813_97, 0.920_198_2]);
    }

    #[test]
    fn softmax_survives_huge_logits() {
        let x = Tensor::from_vec(&[1, 3], vec![1000.0, 1000.0, -1000.0]).unwrap();
        let mut y = Tensor::default();
        Activation::new(ActivationKind::Softmax, &[3]).forward(&x, &mut y, Mode::Eval).unwrap();
        assert_eq!(y.data, vec![0.5, 0.5, 0.0]);
    }

    /// Inputs with |x| ≥ 0.05 > h so no ReLU kink is crossed by a ±h step.
    #[test]
    fn gradients_match_finite_differences() {
        let mut x = Tensor::random(&[3, 2, 3, 3], 1);
        x.data.iter_mut().for_each(|v| *v = if v.abs() < 0.05 { v.signum() * 0.05 + *v } else { *v * 2.0 });
        for (i, kind) in ALL.into_iter().enumerate() {
            let mut a = Activation::new(kind, &[2, 3, 3]);
            check_layer(&mut a, &x, Mode::Train, i as u64).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        }
    }
}
