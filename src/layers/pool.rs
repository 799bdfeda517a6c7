//! Max and average pooling over 2-d windows (no padding, as `nn.MaxPool2d(k)` by default).
//!
//! Shapes: `x[N, C, H, W]` → `y[N, C, OH, OW]` with `OH = ⌊(H − k)/s⌋ + 1`.
//!
//! ```text
//! max:      y[c, i, j] = max over the window of x          (forward caches the arg-max)
//!           ∂L/∂x[argmax] += dy[c, i, j]                    (first maximum on ties)
//! relu+max: y = max(0, max over the window of x)           (a ReLU and max pooling in one
//!           ∂L/∂x[argmax] += dy if y > 0                    pass: the two commute)
//! average:  y[c, i, j] = (1 / kh·kw) Σ_window x
//!           ∂L/∂x[window] += dy[c, i, j] / (kh·kw)          (spread evenly)
//! ```

use super::{check_grad, check_input, Layer, Mode};
use crate::kernels::geometry::{Geometry, Padding};
use crate::error::Result;
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

    /// Max pooling of the batch `x` into `y` (already sized), recording the arg-maxes; with
    /// `relu`, of `max(0, x)` (the maximum clamped at zero: ReLU and max commute).
    fn max_pool(&mut self, x: &Tensor, y: &mut Tensor, relu: bool) {
        let g = self.geo;
        let (in_len, out_len) = (g.in_len(), g.channels * g.out_pixels());
        let cs = chunk_samples(x.batch());
        self.argmax.resize(x.batch() * out_len, 0);
        y.data
            .par_chunks_mut(cs * out_len)
            .zip(x.data.par_chunks(cs * in_len))
            .zip(self.argmax.par_chunks_mut(cs * out_len))
            .for_each(|((ys, xs), am)| {
                for ((ys, xs), am) in ys.chunks_mut(out_len).zip(xs.chunks(in_len)).zip(am.chunks_mut(out_len)) {
                    max_pool_sample(&g, xs, ys, am, relu);
                }
            });
    }

    /// `dx[argmax] = dy` for a batch of `n`, zero elsewhere; with `relu_output` (the fused
    /// forward's `y`), only where that output is positive (the ReLU's gradient).
    fn max_pool_backward(&self, n: usize, relu_output: Option<&Tensor>, dy: &Tensor, dx: &mut Tensor) -> Result<()> {
        let g = self.geo;
        let (in_len, out_len) = (g.in_len(), g.channels * g.out_pixels());
        if self.argmax.len() != n * out_len || relu_output.is_some_and(|y| y.data.len() != n * out_len) {
            return Err(crate::error::Error::config("MaxPool2d backward called without a matching forward"));
        }
        dx.resize(n, &self.in_shape);
        let cs = chunk_samples(n);
        let ys = relu_output.map_or(&[][..], |y| &y.data[..]);
        dx.data
            .par_chunks_mut(cs * in_len)
            .zip(dy.data.par_chunks(cs * out_len))
            .zip(self.argmax.par_chunks(cs * out_len))
            .enumerate()
            .for_each(|(ci, ((dxs, dys), am))| {
                for (i, ((dxs, dys), am)) in dxs.chunks_mut(in_len).zip(dys.chunks(out_len)).zip(am.chunks(out_len)).enumerate() {
                    dxs.fill(0.0);
                    if relu_output.is_some() {
                        let s = ci * cs + i;
                        for ((&d, &a), &y) in dys.iter().zip(am).zip(&ys[s * out_len..(s + 1) * out_len]) {
                            if y > 0.0 {
                                dxs[a as usize] += d;
                            }
                        }
                    } else {
                        for (&d, &a) in dys.iter().zip(am) {
                            dxs[a as usize] += d;
                        }
                    }
                }
            });
        Ok(())
    }
}

/// Samples per parallel chunk.
fn chunk_samples(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads()).max(1)
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
                self.max_pool(x, y, false);
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

    fn forward_after_relu(&mut self, x: &Tensor, y: &mut Tensor) -> Option<Result<()>> {
        if self.kind != PoolKind::Max || self.frozen.is_some() {
            return None;
        }
        Some(check_input(self, x).map(|n| {
            y.resize(n, &self.out_shape);
            self.max_pool(x, y, true);
        }))
    }

    fn backward_after_relu(&mut self, x: &Tensor, y: &Tensor, dy: &Tensor, dx: &mut Tensor) -> Result<()> {
        if self.kind != PoolKind::Max {
            return Err(crate::error::Error::config("only max pooling runs fused with a ReLU before it"));
        }
        let n = check_grad(self, x, dy)?;
        self.max_pool_backward(n, Some(y), dy, dx)
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, _param_grads: bool) -> Result<()> {
        let n = check_grad(self, x, dy)?;
        let Some(dx) = dx else { return Ok(()) };
        let g = self.geo;
        let (in_len, out_len) = (g.in_len(), g.channels * g.out_pixels());
        let cs = chunk_samples(n);
        match self.kind {
            PoolKind::Max => return self.max_pool_backward(n, None, dy, dx),
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

/// Max pooling of one sample, recording each output's arg-max (index within the sample);
/// with `relu` every output is clamped at zero.
fn max_pool_sample(g: &Geometry, xs: &[f32], ys: &mut [f32], argmax: &mut [u32], relu: bool) {
    if (g.kernel_h, g.kernel_w, g.stride_h, g.stride_w) == (2, 2, 2, 2) {
        return max_pool_2x2(g, xs, ys, argmax, relu);
    }
    for c in 0..g.channels {
        let base = c * g.in_h * g.in_w;
        for oh in 0..g.out_h {
            for ow in 0..g.out_w {
                let first = base + oh * g.stride_h * g.in_w + ow * g.stride_w;
                let (mut best, mut best_i) = (xs[first], first);
                for ki in 0..g.kernel_h {
                    let row = first + ki * g.in_w;
                    for (kj, &v) in xs[row..row + g.kernel_w].iter().enumerate() {
                        // Strictly greater: the first maximum wins ties. NaN never wins, so a
                        // NaN in the window only propagates if it is the first value.
                        if v > best {
                            best = v;
                            best_i = row + kj;
                        }
                    }
                }
                let o = (c * g.out_h + oh) * g.out_w + ow;
                ys[o] = if relu { best.max(0.0) } else { best };
                argmax[o] = best_i as u32;
            }
        }
    }
}

/// The common 2×2, stride-2 case, two input rows at a time. Visits the window in the same
/// order as the general loop (row by row), with the same strict comparison, so ties resolve
/// identically (first maximum).
fn max_pool_2x2(g: &Geometry, xs: &[f32], ys: &mut [f32], argmax: &mut [u32], relu: bool) {
    let (h, w) = (g.in_h, g.in_w);
    for c in 0..g.channels {
        let base = c * h * w;
        for oh in 0..g.out_h {
            let r0 = base + 2 * oh * w;
            let r1 = r0 + w;
            let (top, bottom) = (&xs[r0..r0 + w], &xs[r1..r1 + w]);
            let o0 = (c * g.out_h + oh) * g.out_w;
            for ow in 0..g.out_w {
                let j = 2 * ow;
                let (mut best, mut at) = (top[j], r0 + j);
                if top[j + 1] > best {
                    best = top[j + 1];
                    at = r0 + j + 1;
                }
                if bottom[j] > best {
                    best = bottom[j];
                    at = r1 + j;
                }
                if bottom[j + 1] > best {
                    best = bottom[j + 1];
                    at = r1 + j + 1;
                }
                ys[o0 + ow] = if relu { best.max(0.0) } else { best };
                argmax[o0 + ow] = at as u32;
            }
        }
    }
}

/// The recorded choice of a pooling window the ReLU clamped to zero: it gets no gradient.
pub(crate) const CLAMPED: u8 = u8::MAX;

/// `y[c, i, j] = max(x[c, 2i…2i+1, 2j…2j+1])`, clamped at zero with `relu`, for `channels`
/// planes of `h × w` (a trailing odd row or column is never pooled): the pooling of fused
/// convolutions ([`crate::layers::Conv2d::forward_max_pool`]). With `choice`, each window's
/// maximum is also recorded as `2·row + column` (the first on ties, as [`Pool2d`] picks it), or
/// [`CLAMPED`] where the ReLU clamped the window (no gradient flows back through it).
pub(crate) fn max_pool_2x2_planes(x: &[f32], channels: usize, h: usize, w: usize, relu: bool, y: &mut [f32], choice: Option<&mut [u8]>) {
    let (oh, ow) = (h / 2, w / 2);
    let planes = x.chunks(h * w).zip(y.chunks_mut(oh * ow)).take(channels);
    let Some(choice) = choice else {
        // `if a > b { a } else { b }` is one vector max instruction; `f32::max` adds NaN fix-ups
        // and kept this loop scalar (18 % of `lenet` inference).
        let max = |a: f32, b: f32| if a > b { a } else { b };
        for (plane, out) in planes {
            for (i, out_row) in out.chunks_mut(ow).enumerate() {
                let (top, bottom) = (&plane[2 * i * w..2 * i * w + w], &plane[(2 * i + 1) * w..(2 * i + 1) * w + w]);
                // Sixteen columns (eight outputs) at a time: the two rows' maximum, then pairs.
                let mut pairs = [0.0f32; 16];
                let mut j0 = 0;
                while j0 + 8 <= ow {
                    for (q, m) in pairs.iter_mut().enumerate() {
                        *m = max(top[2 * j0 + q], bottom[2 * j0 + q]);
                    }
                    for (j, o) in out_row[j0..j0 + 8].iter_mut().enumerate() {
                        *o = max(pairs[2 * j], pairs[2 * j + 1]);
                    }
                    j0 += 8;
                }
                for (j, o) in out_row.iter_mut().enumerate().skip(j0) {
                    *o = max(max(top[2 * j], top[2 * j + 1]), max(bottom[2 * j], bottom[2 * j + 1]));
                }
                if relu {
                    out_row.iter_mut().for_each(|o| *o = max(*o, 0.0));
                }
            }
        }
        return;
    };
    for ((plane, out), choice) in planes.zip(choice.chunks_mut(oh * ow)) {
        for (i, (out_row, choice_row)) in out.chunks_mut(ow).zip(choice.chunks_mut(ow)).enumerate() {
            let (top, bottom) = (&plane[2 * i * w..2 * i * w + w], &plane[(2 * i + 1) * w..(2 * i + 1) * w + w]);
            for (j, (o, c)) in out_row.iter_mut().zip(choice_row.iter_mut()).enumerate() {
                // The window in Pool2d's order, strictly greater to win: first maximum on ties.
                let (mut best, mut at) = (top[2 * j], 0);
                for (k, v) in [top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]].into_iter().enumerate() {
                    if v > best {
                        (best, at) = (v, k as u8 + 1);
                    }
                }
                let alive = !relu || best > 0.0;
                *o = if relu { best.max(0.0) } else { best };
                *c = if alive { at } else { CLAMPED };
            }
        }
    }
}

/// The backward of [`max_pool_2x2_planes`] with choices: `dy` (pooled, `channels` planes of
/// `⌊h/2⌋ × ⌊w/2⌋`) written at each window's recorded maximum of `dx` (`h × w` planes), zero
/// everywhere else.
pub(crate) fn max_unpool_2x2(dy: &[f32], choice: &[u8], channels: usize, h: usize, w: usize, dx: &mut [f32]) {
    let (oh, ow) = (h / 2, w / 2);
    dx.fill(0.0);
    if ow == 0 {
        return;
    }
    for ((plane, grads), choice) in dx.chunks_mut(h * w).zip(dy.chunks(oh * ow)).zip(choice.chunks(oh * ow)).take(channels) {
        for (i, (g_row, c_row)) in grads.chunks(ow).zip(choice.chunks(ow)).enumerate() {
            let window_row = &mut plane[2 * i * w..(2 * i + 2) * w];
            for (j, (&g, &c)) in g_row.iter().zip(c_row).enumerate() {
                // Branch-free (the ReLU clamps about half the windows, unpredictably): a
                // clamped window writes its zero to its first position.
                let (at, g) = if c == CLAMPED { (0, 0.0) } else { (c as usize, g) };
                window_row[(at >> 1) * w + 2 * j + (at & 1)] = g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::check_layer;
    use crate::init::Rng;

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

    /// `forward_after_relu` / `backward_after_relu` equal a ReLU layer followed by this one,
    /// on inputs with ties, zeros, all-negative windows and a NaN; both pool paths (2×2/2 and
    /// 3×3/2). Average pooling does not fuse.
    #[test]
    fn fused_relu_matches_relu_then_pool() {
        use crate::layers::{Activation, ActivationKind};
        for (k, s) in [(2, 2), (3, 2)] {
            let mut x = crate::layers::gradcheck::random_tensor(&[2, 3, 9, 8], 11);
            x.data.iter_mut().step_by(7).for_each(|v| *v = 0.0);
            x.data.iter_mut().step_by(11).for_each(|v| *v = -0.25);
            x.data[5] = f32::NAN;
            let dy = crate::layers::gradcheck::random_tensor(&[2, 3, (9 - k) / s + 1, (8 - k) / s + 1], 12);
            let mut relu = Activation::new(ActivationKind::Relu, &[3, 9, 8]);
            let (mut r, mut y, mut dr, mut dx) = (Tensor::default(), Tensor::default(), Tensor::default(), Tensor::default());
            relu.forward(&x, &mut r, Mode::Train).unwrap();
            let mut p = pool(PoolKind::Max, [3, 9, 8], k, s);
            p.forward(&r, &mut y, Mode::Train).unwrap();
            p.backward(&r, &y, &dy, Some(&mut dr), true).unwrap();
            relu.backward(&x, &r, &dr, Some(&mut dx), true).unwrap();

            let mut fused = pool(PoolKind::Max, [3, 9, 8], k, s);
            let (mut fy, mut fdx) = (Tensor::default(), Tensor::default());
            fused.forward_after_relu(&x, &mut fy).unwrap().unwrap();
            fused.backward_after_relu(&x, &fy, &dy, &mut fdx).unwrap();
            assert_eq!(fy.data, y.data, "{k}×{k}/{s} forward");
            assert_eq!(fdx.data, dx.data, "{k}×{k}/{s} backward");
            assert!(fdx.data.iter().any(|&v| v != 0.0));
        }
        let mut avg = pool(PoolKind::Average, [1, 4, 4], 2, 2);
        assert!(avg.forward_after_relu(&Tensor::zeros(&[1, 1, 4, 4]), &mut Tensor::default()).is_none());
    }

    /// The 2×2 fast path gives the general loop's values and arg-maxes, ties included.
    #[test]
    fn fast_2x2_matches_general_loop() {
        let g = Geometry::new("t", [3, 9, 8], [2, 2], [2, 2], [1, 1], Padding::Uniform(0)).unwrap();
        let mut x = crate::layers::gradcheck::random_tensor(&[1, 3, 9, 8], 3).data;
        x.iter_mut().step_by(5).for_each(|v| *v = 0.5); // plenty of ties
        let n = 3 * g.out_h * g.out_w;
        let (mut y1, mut a1, mut y2, mut a2) = (vec![0.0; n], vec![0; n], vec![0.0; n], vec![0; n]);
        max_pool_2x2(&g, &x, &mut y1, &mut a1, false);
        general_max_pool(&g, &x, &mut y2, &mut a2);
        assert_eq!((y1, a1), (y2, a2));
    }

    /// The window loop written out for 2×2/2, as the general path runs it.
    fn general_max_pool(g: &Geometry, xs: &[f32], ys: &mut [f32], argmax: &mut [u32]) {
        for c in 0..g.channels {
            for oh in 0..g.out_h {
                for ow in 0..g.out_w {
                    let first = c * g.in_h * g.in_w + oh * 2 * g.in_w + ow * 2;
                    let (mut best, mut at) = (xs[first], first);
                    for ki in 0..2 {
                        for kj in 0..2 {
                            let i = first + ki * g.in_w + kj;
                            if xs[i] > best {
                                best = xs[i];
                                at = i;
                            }
                        }
                    }
                    ys[(c * g.out_h + oh) * g.out_w + ow] = best;
                    argmax[(c * g.out_h + oh) * g.out_w + ow] = at as u32;
                }
            }
        }
    }

    #[test]
    fn odd_sizes_floor() {
        let p = pool(PoolKind::Max, [128, 7, 7], 2, 2);
        assert_eq!(p.output_shape(), &[128, 3, 3]);
    }
}
