//! Dense (fully connected) layer.
//!
//! Shapes: `x[N, I]`, weight `W[O, I]` (PyTorch's `nn.Linear` layout), bias `b[O]`, `y[N, O]`.
//!
//! ```text
//! forward   y  = x · Wᵀ + 1 ⊗ b
//! backward  ∂L/∂x  = dy · W         ([N, O] · [O, I])
//!           ∂L/∂W += dyᵀ · x        ([O, N] · [N, I])
//!           ∂L/∂b += Σₙ dy[n, ·]
//! ```
//!
//! Threads split the batch rows for `y` and `∂L/∂x`, and the output rows of `W` for `∂L/∂W`,
//! so no two threads write the same value and no reduction is needed.

use super::{check_grad, check_input, Layer, Mode, Param};
use crate::error::{Error, Result};
use crate::init::{Init, Rng};
use crate::kernels::gemm::{sgemm, sgemv, Strides};
use crate::tensor::Tensor;
use rayon::prelude::*;

/// A fully connected layer.
pub struct Dense {
    in_shape: [usize; 1],
    out_shape: [usize; 1],
    params: Vec<Param>,
}

impl Dense {
    /// A dense layer from `input` features (a 1-d shape) to `out_features`.
    pub fn new(input: &[usize], out_features: usize, bias: bool, init: Init, rng: &mut Rng) -> Result<Self> {
        let &[in_features] = input else {
            return Err(Error::config(format!("Dense expects a flat input, got shape {input:?}: add a Flatten layer before it")));
        };
        if in_features == 0 || out_features == 0 {
            return Err(Error::config(format!("Dense {in_features}→{out_features}: both sizes must be ≥ 1")));
        }
        let mut weight = Param::trainable("weight", &[out_features, in_features]);
        init.fill(&mut weight.value, in_features, out_features, rng);
        let mut params = vec![weight];
        if bias {
            params.push(Param::trainable("bias", &[out_features]));
        }
        Ok(Dense { in_shape: [in_features], out_shape: [out_features], params })
    }
}

/// Fewest multiply-adds for which a single sample's product is split across threads (each
/// thread then keeps its rows of the weight in its own cache between calls).
pub const GEMV_SPLIT_MIN_MACS: usize = 100_000;

/// Rows per parallel chunk: at least 8 so tiny batches are not split into one-row GEMMs.
fn rows_per_chunk(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads()).max(8)
}

impl Layer for Dense {
    fn kind(&self) -> &'static str {
        "Dense"
    }

    fn describe(&self) -> String {
        let nb = if self.params.len() > 1 { "" } else { ", no bias" };
        format!("{}→{}{nb}", self.in_shape[0], self.out_shape[0])
    }

    fn input_shape(&self) -> &[usize] {
        &self.in_shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.out_shape
    }

    fn params(&self) -> &[Param] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    fn flops(&self) -> usize {
        2 * self.in_shape[0] * self.out_shape[0]
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _mode: Mode) -> Result<()> {
        let n = check_input(self, x)?;
        let (i, o) = (self.in_shape[0], self.out_shape[0]);
        y.resize(n, &self.out_shape);
        if n == 0 {
            return Ok(());
        }
        let w = &self.params[0].value;
        let b = self.params.get(1).map(|p| p.value.as_slice());
        if n == 1 {
            // One sample: a matrix–vector product, its output rows split across threads when
            // there is enough work to pay for waking them.
            match b {
                Some(b) => y.data.copy_from_slice(b),
                None => y.data.fill(0.0),
            }
            let rows = if i * o >= GEMV_SPLIT_MIN_MACS { o.div_ceil(rayon::current_num_threads()) } else { o };
            y.data.par_chunks_mut(rows).zip(w.par_chunks(rows * i)).for_each(|(ys, w)| sgemv(w, &x.data, ys));
            return Ok(());
        }
        let rows = rows_per_chunk(n);
        y.data.par_chunks_mut(rows * o).zip(x.data.par_chunks(rows * i)).for_each(|(ys, xs)| {
            let m = xs.len() / i;
            match b {
                Some(b) => ys.chunks_mut(o).for_each(|row| row.copy_from_slice(b)),
                None => ys.fill(0.0),
            }
            sgemm(m, i, o, 1.0, xs, Strides::row_major(i), w, Strides::transposed(i), 1.0, ys, Strides::row_major(o));
        });
        Ok(())
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, param_grads: bool) -> Result<()> {
        let n = check_grad(self, x, dy)?;
        let (i, o) = (self.in_shape[0], self.out_shape[0]);
        if let Some(dx) = dx {
            dx.resize(n, &self.in_shape);
            let w = &self.params[0].value;
            let rows = rows_per_chunk(n);
            dx.data.par_chunks_mut(rows * i).zip(dy.data.par_chunks(rows * o)).for_each(|(dxs, dys)| {
                let m = dys.len() / o;
                sgemm(m, o, i, 1.0, dys, Strides::row_major(o), w, Strides::row_major(i), 0.0, dxs, Strides::row_major(i));
            });
        }
        if param_grads && n > 0 {
            let out_rows = o.div_ceil(rayon::current_num_threads()).max(1);
            let (wp, bp) = self.params.split_at_mut(1);
            wp[0].grad.par_chunks_mut(out_rows * i).enumerate().for_each(|(ci, dw)| {
                let o0 = ci * out_rows;
                let m = dw.len() / i;
                // dyᵀ rows o0..o0+m: element (r, s) of the block is dy[s, o0 + r].
                sgemm(m, n, i, 1.0, &dy.data[o0..], Strides { row: 1, col: o }, &x.data, Strides::row_major(i), 1.0, dw, Strides::row_major(i));
            });
            if let Some(b) = bp.first_mut() {
                for row in dy.data.chunks(o) {
                    for (g, v) in b.grad.iter_mut().zip(row) {
                        *g += v;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::check_layer;

    /// Hand-computed: W = [[1, 2], [3, 4], [5, 6]], b = [0.5, −1, 0], x = [1, −1]
    /// gives y = [1−2+0.5, 3−4−1, 5−6+0] = [−0.5, −2, −1].
    #[test]
    fn hand_computed() {
        let mut rng = Rng::new(0);
        let mut d = Dense::new(&[2], 3, true, Init::HeNormal, &mut rng).unwrap();
        d.params[0].value = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        d.params[1].value = vec![0.5, -1.0, 0.0];
        let x = Tensor::from_vec(&[1, 2], vec![1.0, -1.0]).unwrap();
        let mut y = Tensor::default();
        d.forward(&x, &mut y, Mode::Eval).unwrap();
        assert_eq!(y.data, vec![-0.5, -2.0, -1.0]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (seed, (n, i, o, bias)) in [(3, 7, 5, true), (20, 4, 9, false), (1, 12, 3, true), (64, 40, 1, true)].into_iter().enumerate() {
            let mut rng = Rng::new(seed as u64);
            let mut d = Dense::new(&[i], o, bias, Init::GlorotUniform, &mut rng).unwrap();
            if bias {
                d.params[1].value.iter_mut().for_each(|v| *v = rng.uniform(-1.0, 1.0));
            }
            let x = Tensor::random(&[n, i], 50 + seed as u64);
            check_layer(&mut d, &x, Mode::Train, seed as u64).unwrap();
        }
    }

    #[test]
    fn rejects_unflattened_input() {
        let mut rng = Rng::new(0);
        assert!(Dense::new(&[1, 28, 28], 10, true, Init::HeNormal, &mut rng).is_err());
    }
}
