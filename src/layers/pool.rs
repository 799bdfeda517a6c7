//! Max and average pooling over 2-d windows (no padding, as `nn.MaxPool2d(k)` by default).
//!
//! Shapes: `x[N, C, H, W]` → `y[N, C, OH, OW]` with `OH = ⌊(H − k)/s⌋ + 1`.
//!
//! ```text
//! max:      y[c, i, j] = max over the window of x          (forward caches the arg-max)
//!           ∂L/∂x[argmax] += dy[c, i, j]                    (first maximum on ties)
//! average:  y[c, i, j] = (1 / kh·kw) Σ_window x
//!           ∂L/∂x[window] += dy[c, i, j] / (kh·kw)          (spread evenly)
//! ```
//!
//! The max-pool loops (a general window loop and the common 2×2/2 fast path that must agree
//! with it) are in [`crate::kernels::pool`]; a network runs a ReLU and the max pool after it
//! as one pass through the same kernels ([`crate::network::Sequential`]'s fusion plan).

use super::{check_grad, check_input, Layer, Mode};
use crate::error::Result;
use crate::kernels::geometry::{Geometry, Padding};
use crate::kernels::pool::{chunk_samples, max_pool, max_pool_backward};
use crate::tensor::Tensor;
use rayon::prelude::*;

/// Which reduction the window applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average,
}

/// A pooling layer.
pub struct Pool2d {
    kind: PoolKind,
    geo: Geometry,
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    /// For max pooling: per output value, the index of its arg-max within the sample.
    argmax: Vec<u32>,
    /// `Some(recorded)` while the pattern is frozen (see [`Layer::set_frozen_pattern`]).
    frozen: Option<bool>,
}

impl Pool2d {
    /// Pooling with a `kernel` window moved by `stride`, over inputs of shape `[C, H, W]`.
    pub fn new(kind: PoolKind, input: [usize; 3], kernel: [usize; 2], stride: [usize; 2]) -> Result<Self> {
        let what = match kind {
            PoolKind::Max => "MaxPool2d",
            PoolKind::Average => "AvgPool2d",
        };
        let geo = Geometry::new(what, input, kernel, stride, [1, 1], Padding::Uniform(0))?;
        Ok(Pool2d { kind, geo, in_shape: input, out_shape: [input[0], geo.out_h, geo.out_w], argmax: Vec::new(), frozen: None })
    }

    /// For the fusion plan: the geometry and the arg-max record of a max pool whose pattern
    /// is not frozen (`None` for average pooling, or while a gradient check freezes it).
    pub(crate) fn max_pool_state(&mut self) -> Option<(Geometry, &mut Vec<u32>)> {
        (self.kind == PoolKind::Max && self.frozen.is_none()).then_some((self.geo, &mut self.argmax))
    }
}

impl Layer for Pool2d {
    fn kind(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "MaxPool2d",
            PoolKind::Average => "AvgPool2d",
        }
    }

    fn describe(&self) -> String {
        let g = &self.geo;
        format!("{}×{}, stride {}×{}", g.kernel_h, g.kernel_w, g.stride_h, g.stride_w)
    }

    fn input_shape(&self) -> &[usize] {
        &self.in_shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.out_shape
    }

    fn set_frozen_pattern(&mut self, frozen: bool) {
        self.frozen = frozen.then_some(false);
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _mode: Mode) -> Result<()> {
        let n = check_input(self, x)?;
        y.resize(n, &self.out_shape);
        let g = self.geo;
        let (in_len, out_len) = (g.in_len(), g.channels * g.out_pixels());
        let cs = chunk_samples(n);
        match self.kind {
            PoolKind::Max if self.frozen == Some(true) && self.argmax.len() == n * out_len => {
                // Frozen pattern: gather from the recorded arg-maxes.
                for ((ys, xs), am) in y.data.chunks_mut(out_len).zip(x.data.chunks(in_len)).zip(self.argmax.chunks(out_len)) {
                    for (yv, &a) in ys.iter_mut().zip(am) {
                        *yv = xs[a as usize];
                    }
                }
            }
            PoolKind::Max => {
                if self.frozen.is_some() {
                    self.frozen = Some(true);
                }
                max_pool(&g, &x.data, &mut y.data, &mut self.argmax, false);
            }
            PoolKind::Average => {
                let scale = 1.0 / (g.kernel_h * g.kernel_w) as f32;
                y.data.par_chunks_mut(cs * out_len).zip(x.data.par_chunks(cs * in_len)).for_each(|(ys, xs)| {
                    for (ys, xs) in ys.chunks_mut(out_len).zip(xs.chunks(in_len)) {
                        for c in 0..g.channels {
                            let plane = &xs[c * g.in_h * g.in_w..(c + 1) * g.in_h * g.in_w];
                            for oh in 0..g.out_h {
                                for ow in 0..g.out_w {
                                    let mut acc = 0.0;
                                    for ki in 0..g.kernel_h {
                                        let row = &plane[(oh * g.stride_h + ki) * g.in_w + ow * g.stride_w..];
                                        acc += row[..g.kernel_w].iter().sum::<f32>();
                                    }
                                    ys[(c * g.out_h + oh) * g.out_w + ow] = acc * scale;
                                }
                            }
                        }
                    }
                });
            }
        }
        Ok(())
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, _param_grads: bool) -> Result<()> {
        let n = check_grad(self, x, dy)?;
        let Some(dx) = dx else { return Ok(()) };
        let g = self.geo;
        let (in_len, out_len) = (g.in_len(), g.channels * g.out_pixels());
        let cs = chunk_samples(n);
        match self.kind {
            PoolKind::Max => {
                dx.resize(n, &self.in_shape);
                return max_pool_backward(&g, n, &self.argmax, None, &dy.data, &mut dx.data);
            }
            PoolKind::Average => {
                dx.resize(n, &self.in_shape);
                let scale = 1.0 / (g.kernel_h * g.kernel_w) as f32;
                dx.data.par_chunks_mut(cs * in_len).zip(dy.data.par_chunks(cs * out_len)).for_each(|(dxs, dys)| {
                    for (dxs, dys) in dxs.chunks_mut(in_len).zip(dys.chunks(out_len)) {
                        dxs.fill(0.0);
                        for c in 0..g.channels {
                            let plane = &mut dxs[c * g.in_h * g.in_w..(c + 1) * g.in_h * g.in_w];
                            for oh in 0..g.out_h {
                                for ow in 0..g.out_w {
                                    let d = dys[(c * g.out_h + oh) * g.out_w + ow] * scale;
                                    for ki in 0..g.kernel_h {
                                        let start = (oh * g.stride_h + ki) * g.in_w + ow * g.stride_w;
                                        plane[start..start + g.kernel_w].iter_mut().for_each(|v| *v += d);
                                    }
                                }
                            }
                        }
                    }
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;
    use crate::layers::gradcheck::check_layer;

    fn pool(kind: PoolKind, input: [usize; 3], k: usize, s: usize) -> Pool2d {
        Pool2d::new(kind, input, [k, k], [s, s]).unwrap()
    }

    fn run(p: &mut Pool2d, x: &[f32], shape: &[usize]) -> Tensor {
        let x = Tensor::from_vec(shape, x.to_vec()).unwrap();
        let mut y = Tensor::default();
        p.forward(&x, &mut y, Mode::Eval).unwrap();
        y
    }

    /// The engine issue's worked examples.
    #[test]
    fn hand_computed_examples() {
        let x = [12., 20., 30., 0., 8., 12., 2., 0., 34., 70., 37., 4., 112., 100., 25., 12.];
        let y = run(&mut pool(PoolKind::Max, [1, 4, 4], 2, 2), &x, &[1, 1, 4, 4]);
        assert_eq!(y.data, vec![20., 30., 112., 37.]);
        let x = [1., 3., 2., 1., 5., 4., 9., 7., 11., 12., 15., 7., 1., 9., 6., 8.];
        let y = run(&mut pool(PoolKind::Average, [1, 4, 4], 2, 2), &x, &[1, 1, 4, 4]);
        assert_eq!(y.data, vec![3.25, 4.75, 8.25, 9.0]);
    }

    /// Max routes the gradient to the first maximum on ties; average spreads it evenly.
    #[test]
    fn backward_routing() {
        let mut p = pool(PoolKind::Max, [1, 2, 4], 2, 2);
        let x = Tensor::from_vec(&[1, 1, 2, 4], vec![5., 5., 1., 2., 5., 0., 3., 3.]).unwrap();
        let mut y = Tensor::default();
        p.forward(&x, &mut y, Mode::Train).unwrap();
        assert_eq!(y.data, vec![5., 3.]);
        let dy = Tensor::from_vec(&[1, 1, 1, 2], vec![1.0, 2.0]).unwrap();
        let mut dx = Tensor::default();
        p.backward(&x, &y, &dy, Some(&mut dx), true).unwrap();
        assert_eq!(dx.data, vec![1., 0., 0., 0., 0., 0., 2., 0.]);

        let mut a = pool(PoolKind::Average, [1, 2, 4], 2, 2);
        a.forward(&x, &mut y, Mode::Train).unwrap();
        a.backward(&x, &y, &dy, Some(&mut dx), true).unwrap();
        assert_eq!(dx.data, vec![0.25, 0.25, 0.5, 0.5, 0.25, 0.25, 0.5, 0.5]);
    }

    /// Distinct input values at least 0.05 apart (a shuffled ramp), so a ±h = 0.01 step
    /// never changes which value is the maximum.
    fn distinct_input(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut v: Vec<f32> = (0..n).map(|i| i as f32 * 0.05 - n as f32 * 0.025).collect();
        Rng::new(seed).shuffle(&mut v);
        Tensor::from_vec(shape, v).unwrap()
    }

    #[test]
    fn gradients_match_finite_differences() {
        let cases = [([2, 6, 6], 2, 2), ([3, 7, 5], 3, 2), ([1, 5, 5], 2, 1), ([2, 8, 9], 3, 3), ([2, 7, 5], 2, 2)];
        for (i, (input, k, s)) in cases.into_iter().enumerate() {
            for kind in [PoolKind::Max, PoolKind::Average] {
                let mut p = pool(kind, input, k, s);
                let x = distinct_input(&[2, input[0], input[1], input[2]], i as u64);
                check_layer(&mut p, &x, Mode::Train, i as u64).unwrap_or_else(|e| panic!("case {i} {kind:?}: {e}"));
            }
        }
    }

    #[test]
    fn odd_sizes_floor() {
        let p = pool(PoolKind::Max, [128, 7, 7], 2, 2);
        assert_eq!(p.output_shape(), &[128, 3, 3]);
    }
}
