//! Max and average pooling over 2-d windows, optionally padded (`nn.MaxPool2d(k)` by default:
//! no padding).
//!
//! Shapes: `x[N, C, H, W]` → `y[N, C, OH, OW]` with `OH = ⌊(H + p_top + p_bottom − k)/s⌋ + 1`
//! ([`Geometry`] owns the formula). Window `(i, j)` covers rows `i·s − p_top … i·s − p_top + k − 1`
//! and the columns alike; `W(i, j)` is the part of it inside the image.
//!
//! ```text
//! max:      y[c, i, j] = max over W(i, j) of x               (forward caches the arg-max;
//!                                                              padding is −∞, never the max)
//!           ∂L/∂x[argmax] += dy[c, i, j]                      (first maximum on ties)
//! average:  y[c, i, j] = (1 / n) Σ_{W(i, j)} x
//!           ∂L/∂x[W(i, j)] += dy[c, i, j] / n                  (spread evenly)
//!           n = kh·kw with count_include_pad (padding counts as zeros),
//!           n = |W(i, j)| without (only the image's values are averaged: ONNX's default)
//! ```
//!
//! Each pad must be smaller than the kernel, so every window keeps at least one image value
//! (`|W| ≥ 1`). Without padding the two averages agree and the layer runs the unpadded loops
//! below, exactly as before padding existed; the padded windows are cut to the image by
//! [`Geometry::window_rows`] / [`Geometry::window_cols`].
//!
//! The max-pool loops (a general window loop, the common 2×2/2 fast path that must agree
//! with it, and the padded loop) are in [`crate::kernels::pool`]; a network runs a ReLU and
//! the max pool after it as one pass through the same kernels ([`crate::network::Sequential`]'s
//! fusion plan).

use super::{check_grad, check_input, Layer, Mode};
use crate::error::{Error, Result};
use crate::kernels::geometry::Geometry;
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
    /// Average pooling: padding counts in the divisor (`n = kh·kw` at the borders too).
    count_include_pad: bool,
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
        Pool2d::padded(kind, input, kernel, stride, [0; 4], false)
    }

    /// Pooling with `pads` `[top, left, bottom, right]` (each smaller than the kernel along its
    /// axis) and, for average pooling, whether the padding counts in the divisor.
    pub fn padded(kind: PoolKind, input: [usize; 3], kernel: [usize; 2], stride: [usize; 2], pads: [usize; 4], count_include_pad: bool) -> Result<Self> {
        let what = match kind {
            PoolKind::Max => "MaxPool2d",
            PoolKind::Average => "AvgPool2d",
        };
        let geo = Geometry::with_sides(what, input, kernel, stride, pads)?;
        if pads[0] >= kernel[0] || pads[2] >= kernel[0] || pads[1] >= kernel[1] || pads[3] >= kernel[1] {
            return Err(Error::config(format!(
                "{what}: padding {pads:?} (top, left, bottom, right) must be smaller than the {}×{} kernel on every side",
                kernel[0], kernel[1]
            )));
        }
        Ok(Pool2d { kind, geo, count_include_pad, in_shape: input, out_shape: [input[0], geo.out_h, geo.out_w], argmax: Vec::new(), frozen: None })
    }

    /// The average's divisor for a window cut to `rows × cols` image values.
    #[inline]
    fn divisor(&self, rows: usize, cols: usize) -> f32 {
        if self.count_include_pad {
            (self.geo.kernel_h * self.geo.kernel_w) as f32
        } else {
            (rows * cols) as f32
        }
    }

    /// For the fusion plan: the geometry and the arg-max record of a max pool whose pattern
    /// is not frozen (`None` for average pooling, or while a gradient check freezes it).
    pub(crate) fn max_pool_state(&mut self) -> Option<(Geometry, &mut Vec<u32>)> {
        (self.kind == PoolKind::Max && self.frozen.is_none()).then_some((self.geo, &mut self.argmax))
    }
}

impl Pool2d {
    /// Padded average pooling of one sample: each window cut to the image, its sum divided by
    /// [`Pool2d::divisor`].
    fn average_padded(&self, xs: &[f32], ys: &mut [f32]) {
        let g = &self.geo;
        for (plane, out) in xs.chunks(g.in_h * g.in_w).zip(ys.chunks_mut(g.out_pixels())) {
            for oh in 0..g.out_h {
                let (r0, r1) = g.window_rows(oh);
                for ow in 0..g.out_w {
                    let (c0, c1) = g.window_cols(ow);
                    let sum: f32 = (r0..r1).map(|r| plane[r * g.in_w + c0..r * g.in_w + c1].iter().sum::<f32>()).sum();
                    out[oh * g.out_w + ow] = sum / self.divisor(r1 - r0, c1 - c0);
                }
            }
        }
    }

    /// The backward of [`Pool2d::average_padded`] for one sample: `dx` (overwritten) gets
    /// `dy / n` on every image value of each window.
    fn average_padded_backward(&self, dys: &[f32], dxs: &mut [f32]) {
        let g = &self.geo;
        dxs.fill(0.0);
        for (plane, grads) in dxs.chunks_mut(g.in_h * g.in_w).zip(dys.chunks(g.out_pixels())) {
            for oh in 0..g.out_h {
                let (r0, r1) = g.window_rows(oh);
                for ow in 0..g.out_w {
                    let (c0, c1) = g.window_cols(ow);
                    let d = grads[oh * g.out_w + ow] / self.divisor(r1 - r0, c1 - c0);
                    for r in r0..r1 {
                        plane[r * g.in_w + c0..r * g.in_w + c1].iter_mut().for_each(|v| *v += d);
                    }
                }
            }
        }
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
        let mut d = format!("{}×{}, stride {}×{}", g.kernel_h, g.kernel_w, g.stride_h, g.stride_w);
        if g.is_padded() {
            d += &format!(", padding [{}, {}, {}, {}]", g.pad_top, g.pad_left, g.pad_bottom, g.pad_right);
            if self.kind == PoolKind::Average {
                d += if self.count_include_pad { ", padding counted" } else { ", padding not counted" };
            }
        }
        d
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
            PoolKind::Average if g.is_padded() => {
                let this = &*self;
                y.data.par_chunks_mut(cs * out_len).zip(x.data.par_chunks(cs * in_len)).for_each(|(ys, xs)| {
                    for (ys, xs) in ys.chunks_mut(out_len).zip(xs.chunks(in_len)) {
                        this.average_padded(xs, ys);
                    }
                });
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
            PoolKind::Average if g.is_padded() => {
                dx.resize(n, &self.in_shape);
                let this = &*self;
                dx.data.par_chunks_mut(cs * in_len).zip(dy.data.par_chunks(cs * out_len)).for_each(|(dxs, dys)| {
                    for (dxs, dys) in dxs.chunks_mut(in_len).zip(dys.chunks(out_len)) {
                        this.average_padded_backward(dys, dxs);
                    }
                });
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

    /// Padding, worked by hand: x = 1…9 in a 3×3 plane, 2×2 windows, stride 2, one padded row
    /// above and one padded column on the left (OH = ⌊(3 + 1 − 2)/2⌋ + 1 = 2). The windows hold
    /// {1}, {2, 3}, {4, 7} and {5, 6, 8, 9}:
    /// max 1, 3, 7, 9; average with the padding counted (÷4) 0.25, 1.25, 2.75, 7;
    /// without (÷ the image values in the window) 1, 2.5, 5.5, 7.
    #[test]
    fn padded_hand_computed_example() {
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let padded = |kind, include| Pool2d::padded(kind, [1, 3, 3], [2, 2], [2, 2], [1, 1, 0, 0], include).unwrap();
        assert_eq!(run(&mut padded(PoolKind::Max, false), &x, &[1, 1, 3, 3]).data, vec![1., 3., 7., 9.]);
        assert_eq!(run(&mut padded(PoolKind::Average, true), &x, &[1, 1, 3, 3]).data, vec![0.25, 1.25, 2.75, 7.]);
        assert_eq!(run(&mut padded(PoolKind::Average, false), &x, &[1, 1, 3, 3]).data, vec![1., 2.5, 5.5, 7.]);
    }

    /// `x` with `pads` `[top, left, bottom, right]` of `fill` around every plane.
    fn pad_explicitly(x: &Tensor, pads: [usize; 4], fill: f32) -> Tensor {
        let [n, c, h, w] = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
        let (ph, pw) = (h + pads[0] + pads[2], w + pads[1] + pads[3]);
        let mut out = vec![fill; n * c * ph * pw];
        for (plane, src) in out.chunks_mut(ph * pw).zip(x.data.chunks(h * w)) {
            for r in 0..h {
                let at = (r + pads[0]) * pw + pads[1];
                plane[at..at + w].copy_from_slice(&src[r * w..(r + 1) * w]);
            }
        }
        Tensor::from_vec(&[n, c, ph, pw], out).unwrap()
    }

    /// The naive reference for the padded loops: pad the input explicitly and pool it with the
    /// unpadded layer — −∞ for max, zeros for the average with the padding counted, and for
    /// the average without, the zero-padded average divided by the zero-padded average of ones
    /// (the share of each window inside the image).
    #[test]
    fn padded_pools_match_explicit_padding() {
        let cases = [([2, 5, 6], [3, 3], [2, 2], [1, 1, 1, 1]), ([1, 7, 5], [3, 2], [2, 1], [2, 0, 1, 1]), ([3, 4, 4], [2, 2], [1, 1], [0, 1, 1, 0])];
        for (i, (input, k, s, pads)) in cases.into_iter().enumerate() {
            let x = Tensor::random(&[2, input[0], input[1], input[2]], i as u64);
            let padded_in = [input[0], input[1] + pads[0] + pads[2], input[2] + pads[1] + pads[3]];
            let plain = |kind| Pool2d::new(kind, padded_in, k, s).unwrap();
            let reference = |kind, fill| {
                let xp = pad_explicitly(&x, pads, fill);
                run(&mut plain(kind), &xp.data, xp.shape())
            };
            let ours = |kind, include| run(&mut Pool2d::padded(kind, input, k, s, pads, include).unwrap(), &x.data, x.shape());
            assert_eq!(ours(PoolKind::Max, false).data, reference(PoolKind::Max, f32::NEG_INFINITY).data, "case {i} max");
            let close = |a: &[f32], b: &[f32], what: &str| {
                assert_eq!(a.len(), b.len());
                for (p, q) in a.iter().zip(b) {
                    // Sums of a few values in [−1, 1] in another order: rounding only.
                    assert!((p - q).abs() < 1e-6, "case {i} {what}: {p} vs {q}");
                }
            };
            close(&ours(PoolKind::Average, true).data, &reference(PoolKind::Average, 0.0).data, "average, padding counted");
            let ones = Tensor::from_vec(x.shape(), vec![1.0; x.data.len()]).unwrap();
            let share = run(&mut plain(PoolKind::Average), &pad_explicitly(&ones, pads, 0.0).data, &[2, padded_in[0], padded_in[1], padded_in[2]]);
            let want: Vec<f32> = reference(PoolKind::Average, 0.0).data.iter().zip(&share.data).map(|(a, s)| a / s).collect();
            close(&ours(PoolKind::Average, false).data, &want, "average, padding not counted");
        }
    }

    /// Padded max and both averages against finite differences (same inputs and tolerances as
    /// the unpadded table above), asymmetric pads included.
    #[test]
    fn padded_gradients_match_finite_differences() {
        let cases = [([2, 6, 6], [3, 3], [2, 2], [1, 1, 1, 1]), ([2, 7, 5], [3, 2], [2, 1], [2, 1, 0, 1]), ([1, 5, 5], [2, 2], [1, 1], [1, 0, 0, 1])];
        for (i, (input, k, s, pads)) in cases.into_iter().enumerate() {
            for (kind, include) in [(PoolKind::Max, false), (PoolKind::Average, true), (PoolKind::Average, false)] {
                let mut p = Pool2d::padded(kind, input, k, s, pads, include).unwrap();
                let x = distinct_input(&[2, input[0], input[1], input[2]], 10 + i as u64);
                check_layer(&mut p, &x, Mode::Train, i as u64).unwrap_or_else(|e| panic!("case {i} {kind:?} include {include}: {e}"));
            }
        }
    }

    #[test]
    fn padding_as_large_as_the_kernel_is_an_error() {
        let e = Pool2d::padded(PoolKind::Max, [1, 6, 6], [2, 3], [2, 2], [0, 3, 0, 0], false).err().unwrap().to_string();
        assert!(e.contains("MaxPool2d") && e.contains("smaller than the 2×3 kernel"), "{e}");
        assert!(Pool2d::padded(PoolKind::Average, [1, 6, 6], [2, 2], [2, 2], [0, 0, 2, 0], true).is_err());
        assert!(Pool2d::padded(PoolKind::Average, [1, 6, 6], [2, 2], [2, 2], [1, 1, 1, 1], true).is_ok());
    }

    #[test]
    fn odd_sizes_floor() {
        let p = pool(PoolKind::Max, [128, 7, 7], 2, 2);
        assert_eq!(p.output_shape(), &[128, 3, 3]);
    }
}
