//! 2-d convolution (cross-correlation, as in every framework).
//!
//! Shapes: `x[N, C, H, W]`, weight `W[OC, C, kh, kw]`, bias `b[OC]`, `y[N, OC, OH, OW]`
//! (output size, padding and dilation: [`crate::kernels::geometry`]).
//!
//! ```text
//! y[o, i, j]  = b[o] + Σ_{c, ki, kj} W[o, c, ki, kj] · x[c, i·sh − pt + ki·dh, j·sw − pl + kj·dw]
//! ∂L/∂W[o, c, ki, kj] += Σ_{i, j} dy[o, i, j] · x[c, i·sh − pt + ki·dh, j·sw − pl + kj·dw]
//! ∂L/∂b[o]   += Σ_{i, j} dy[o, i, j]
//! ∂L/∂x[c, r, q] = Σ_{o, ki, kj : r = i·sh − pt + ki·dh, q = j·sw − pl + kj·dw} W[o, c, ki, kj] · dy[o, i, j]
//! ```
//!
//! With `cols = im2col(x)` (`[C·kh·kw, OH·OW]` per sample) these are matrix products:
//! `y = W · cols + b`, `∂W += dy · colsᵀ`, `∂x = col2im(Wᵀ · dy)`. How they run — im2col
//! columns, channels-last rows or Winograd tiles, chosen once per layer shape, and what a
//! forward keeps for its backward — is the layer's [`ConvKernel`]
//! ([`crate::kernels::conv`]); the definition itself is [`crate::kernels::conv::direct`], which
//! the tests hold every lowering to.

use super::{check_grad, check_input, Layer, Mode, Param};
use crate::error::Result;
use crate::init::{Init, Rng};
use crate::kernels::conv::{ConvGrads, ConvKernel, ConvWeights, OutputGrad};
use crate::kernels::geometry::{Geometry, Padding};
use crate::tensor::Tensor;

/// A convolution layer: its parameters and the kernel that runs it.
pub struct Conv2d {
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    padding: Padding,
    params: Vec<Param>,
    kernel: ConvKernel,
    /// The weight and bias with an affine map folded in, `[OC·K + OC]`
    /// ([`Conv2d::forward_pooled_affine`]), valid for the weights while `folded_fresh` and for
    /// the map `folded_affine`.
    folded: Vec<f32>,
    folded_affine: Vec<(f32, f32)>,
    folded_fresh: bool,
    /// True when the kernel's cached transformed or reordered weight is of `folded`, not of
    /// the layer's own weight: switching between the two rebuilds it.
    kernel_holds_folded: bool,
}

impl Conv2d {
    /// A convolution over inputs of shape `[C, H, W]`, weights drawn by `init` (fan-in
    /// `C·kh·kw`), bias zero.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        input: [usize; 3],
        out_channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: Padding,
        dilation: [usize; 2],
        bias: bool,
        init: Init,
        rng: &mut Rng,
    ) -> Result<Self> {
        if out_channels == 0 {
            return Err(crate::error::Error::config("Conv2d: out_channels must be ≥ 1"));
        }
        let geo = Geometry::new("Conv2d", input, kernel, stride, dilation, padding)?;
        let k = geo.col_rows();
        let mut weight = Param::trainable("weight", &[out_channels, input[0], kernel[0], kernel[1]]);
        init.fill(&mut weight.value, k, out_channels * kernel[0] * kernel[1], rng);
        let mut params = vec![weight];
        if bias {
            params.push(Param::trainable("bias", &[out_channels]));
        }
        Ok(Conv2d {
            in_shape: input,
            out_shape: [out_channels, geo.out_h, geo.out_w],
            padding,
            params,
            kernel: ConvKernel::new(geo, out_channels),
            folded: Vec::new(),
            folded_affine: Vec::new(),
            folded_fresh: false,
            kernel_holds_folded: false,
        })
    }

    /// Chooses the lowering: Winograd where the geometry allows it (the default for layers with
    /// enough input channels), or rows / im2col + GEMM. For benchmarks and tests.
    pub fn set_winograd(&mut self, on: bool) {
        self.kernel.set_winograd(on);
    }

    /// Lets inference run tap by tap where the geometry allows it (the default), or not (im2col
    /// columns, as in training). For benchmarks and tests.
    pub fn set_taps(&mut self, on: bool) {
        self.kernel.set_taps(on);
    }

    /// True when this layer runs as Winograd (F(2×2, 3×3), F(4×4, 3×3) or F(4×4, 5×5)).
    pub fn uses_winograd(&self) -> bool {
        self.kernel.uses_winograd()
    }

    /// The geometry (output size, padding) this layer computes with.
    pub fn geometry(&self) -> &Geometry {
        &self.kernel.geo
    }

    /// For the fusion plan and benchmarks: the kernel, the weights it reads and the gradients
    /// a backward adds into.
    pub fn kernel_parts(&mut self) -> (&mut ConvKernel, ConvWeights<'_>, Option<ConvGrads<'_>>) {
        if self.kernel_holds_folded {
            self.kernel.weights_changed();
            self.kernel_holds_folded = false;
        }
        let (w, rest) = self.params.split_at_mut(1);
        let (weight, wgrad) = (&w[0].value, &mut w[0].grad);
        let (bias, bgrad) = match rest.first_mut() {
            Some(b) => (Some(b.value.as_slice()), Some(b.grad.as_mut_slice())),
            None => (None, None),
        };
        (&mut self.kernel, ConvWeights { weight, bias }, Some(ConvGrads { weight: wgrad, bias: bgrad }))
    }

    /// Inference through this convolution, a per-channel affine map `y ↦ scale·y + shift`
    /// (an eval-mode batch norm), a ReLU if `relu`, and a 2×2, stride-2 max pool, as one
    /// pass: the map is folded into a copy of the weights, `W'[o] = scale[o]·W[o]`,
    /// `b'[o] = scale[o]·b[o] + shift[o]`, and the convolution runs pooled with them
    /// ([`ConvKernel::forward_pooled`]). `x` holds `n` samples; `y` is sized for the pooled output.
    /// The folded weight is kept while neither the weights nor the map change, so repeated
    /// inference (a server, single images) neither refolds nor re-transforms it.
    pub(crate) fn forward_pooled_affine(&mut self, affine: impl Iterator<Item = (f32, f32)>, x: &[f32], n: usize, y: &mut [f32], relu: bool) {
        let oc = self.out_shape[0];
        let k = self.kernel.geo.col_rows();
        // The map the fold was made for, then this call's after it: compared, the old dropped.
        let before = self.folded_affine.len();
        self.folded_affine.extend(affine.take(oc));
        let same = self.folded_fresh && self.folded_affine[..before] == self.folded_affine[before..];
        self.folded_affine.drain(..before);
        if !same {
            self.folded.resize(oc * k + oc, 0.0);
            let (weight, bias) = self.folded.split_at_mut(oc * k);
            let original_bias = self.params.get(1).map(|b| &b.value[..]);
            for (o, ((w, b), &(scale, shift))) in weight.chunks_mut(k).zip(bias.iter_mut()).zip(&self.folded_affine).enumerate() {
                for (dst, &src) in w.iter_mut().zip(&self.params[0].value[o * k..(o + 1) * k]) {
                    *dst = src * scale;
                }
                *b = original_bias.map_or(0.0, |b| b[o]) * scale + shift;
            }
            self.folded_fresh = true;
        }
        if !same || !self.kernel_holds_folded {
            // Lowerings that cache a transformed or reordered weight rebuild it from `folded`.
            self.kernel.weights_changed();
            self.kernel_holds_folded = true;
        }
        let (weight, bias) = self.folded.split_at(oc * k);
        self.kernel.forward_pooled(ConvWeights { weight, bias: Some(bias) }, x, n, y, relu, false);
    }

    fn has_bias(&self) -> bool {
        self.params.len() > 1
    }
}

impl Layer for Conv2d {
    fn kind(&self) -> &'static str {
        "Conv2d"
    }

    fn describe(&self) -> String {
        let g = self.geometry();
        let mut s = format!("{}→{}, {}×{}", g.channels, self.out_shape[0], g.kernel_h, g.kernel_w);
        if g.stride_h != 1 || g.stride_w != 1 {
            s += &format!(", stride {}×{}", g.stride_h, g.stride_w);
        }
        match self.padding {
            Padding::Uniform(0) => {}
            p => s += &format!(", pad {}", serde_json::to_string(&p).unwrap_or_default().trim_matches('"')),
        }
        if g.dilation_h != 1 || g.dilation_w != 1 {
            s += &format!(", dilation {}×{}", g.dilation_h, g.dilation_w);
        }
        if !self.has_bias() {
            s += ", no bias";
        }
        s
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
        // The caller may change the weights: the transformed kernels and the folded weights
        // must be rebuilt.
        self.kernel.weights_changed();
        self.folded_fresh = false;
        &mut self.params
    }

    fn flops(&self) -> usize {
        let g = self.geometry();
        2 * self.out_shape[0] * g.col_rows() * g.out_pixels()
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, mode: Mode) -> Result<()> {
        let n = check_input(self, x)?;
        y.resize(n, &self.out_shape);
        let (kernel, weights, _) = self.kernel_parts();
        kernel.forward(weights, &x.data, n, &mut y.data, mode == Mode::Train);
        Ok(())
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, param_grads: bool) -> Result<()> {
        let n = check_grad(self, x, dy)?;
        let in_shape = self.in_shape;
        let dx = dx.map(|dx| {
            dx.resize(n, &in_shape);
            &mut dx.data[..]
        });
        let (kernel, weights, grads) = self.kernel_parts();
        kernel.backward(weights.weight, &x.data, n, OutputGrad::Full(&dy.data), dx, grads.filter(|_| param_grads))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kernels::geometry::PaddingName;
    use crate::layers::gradcheck::check_layer;

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn conv(input: [usize; 3], oc: usize, k: [usize; 2], s: usize, p: Padding, d: usize, bias: bool, seed: u64) -> Conv2d {
        let mut rng = Rng::new(seed);
        let mut c = Conv2d::new(input, oc, k, [s, s], p, [d, d], bias, Init::HeNormal, &mut rng).unwrap();
        if bias {
            // Non-zero biases so a bias bug shows in the forward comparison.
            for v in c.params[1].value.iter_mut() {
                *v = rng.uniform(-0.5, 0.5);
            }
        }
        c
    }

    /// The direct 7-loop definition of the convolution, in f64.
    pub(crate) fn direct(c: &Conv2d, x: &Tensor) -> Vec<f32> {
        crate::kernels::conv::direct::convolve(&c.kernel.geo, c.kernel.out_channels, &c.params[0].value, c.params.get(1).map(|b| b.value.as_slice()), &x.data)
    }

    pub(crate) type Case = ([usize; 3], usize, [usize; 2], usize, Padding, usize, bool);

    /// The variants every conv test runs over: stride, padding, "same", dilation, no bias,
    /// non-square kernels and inputs.
    pub(crate) const CASES: &[Case] = &[
        ([1, 6, 6], 2, [3, 3], 1, Padding::Uniform(0), 1, true),
        ([2, 7, 6], 3, [3, 3], 1, Padding::Uniform(1), 1, true),
        ([2, 7, 7], 3, [3, 3], 2, Padding::Uniform(1), 1, true),
        ([2, 8, 7], 2, [3, 3], 2, Padding::Named(PaddingName::Same), 1, true),
        ([1, 9, 9], 2, [3, 3], 1, Padding::Uniform(0), 2, true),
        ([2, 8, 8], 2, [3, 2], 1, Padding::Named(PaddingName::Same), 2, false),
        ([3, 5, 6], 4, [1, 1], 1, Padding::Uniform(0), 1, false),
        ([1, 6, 5], 2, [2, 3], 3, Padding::HeightWidth([1, 2]), 1, true),
        // Channels-last rows (stride 1, ≥ 8 channels, no Winograd: non-square kernel or
        // padding).
        ([8, 6, 7], 3, [3, 2], 1, Padding::HeightWidth([0, 1]), 1, true),
        ([10, 7, 7], 4, [5, 5], 1, Padding::HeightWidth([1, 0]), 1, false),
        // Winograd F(4×4, 5×5): valid (lenet conv2's shape, smaller) and "same".
        ([10, 7, 7], 4, [5, 5], 1, Padding::Uniform(0), 1, false),
        ([8, 9, 6], 3, [5, 5], 1, Padding::Named(PaddingName::Same), 1, true),
        // Winograd F(4×4, 3×3): odd and even sizes, with and without bias; then F(2×2, 3×3),
        // on an output its 2×2 tiles cover with as few multiplications (kept last).
        ([8, 7, 6], 3, [3, 3], 1, Padding::Uniform(1), 1, true),
        ([9, 4, 5], 2, [3, 3], 1, Padding::Named(PaddingName::Same), 1, false),
        ([8, 6, 5], 3, [3, 3], 1, Padding::Uniform(1), 1, true),
    ];

    /// The cases above run through the lowering their comments name.
    #[test]
    fn cases_cover_every_lowering() {
        let lowering = |i: usize| {
            let (input, oc, k, s, p, d, b) = CASES[i];
            let c = conv(input, oc, k, s, p, d, b, 0);
            (c.uses_winograd(), c.kernel.uses_rows())
        };
        let n = CASES.len();
        assert_eq!([lowering(n - 7), lowering(n - 6)], [(false, true); 2]);
        assert_eq!([lowering(n - 5), lowering(n - 4), lowering(n - 3), lowering(n - 2), lowering(n - 1)], [(true, false); 5]);
        assert_eq!(lowering(0), (false, false));
        let algorithm = |i: usize| {
            let (input, oc, k, s, p, d, b) = CASES[i];
            crate::kernels::winograd::algorithm_for(&conv(input, oc, k, s, p, d, b, 0).kernel.geo).map(|(a, _)| a)
        };
        use crate::kernels::winograd::Algorithm::*;
        assert_eq!([n - 5, n - 4, n - 3, n - 2, n - 1].map(algorithm), [F4x5, F4x5, F4x3, F4x3, F2x3].map(Some));
    }

    /// Every case in training and in inference (tap by tap where it applies, and with taps
    /// off), on a batch and on a single image.
    #[test]
    fn forward_matches_direct_convolution() {
        for (i, &(input, oc, k, s, p, d, b)) in CASES.iter().enumerate() {
            let mut c = conv(input, oc, k, s, p, d, b, i as u64);
            let x = Tensor::random(&[3, input[0], input[1], input[2]], 100 + i as u64);
            let one = Tensor::from_vec(&[1, input[0], input[1], input[2]], x.sample(1).to_vec()).unwrap();
            for (mode, x, taps) in
                [(Mode::Train, &x, true), (Mode::Eval, &x, true), (Mode::Eval, &one, true), (Mode::Eval, &x, false), (Mode::Eval, &one, false)]
            {
                c.set_taps(taps);
                let mut y = Tensor::default();
                c.forward(x, &mut y, mode).unwrap();
                let want = direct(&c, x);
                assert_eq!(y.shape()[1..], c.out_shape);
                for (a, w) in y.data.iter().zip(&want) {
                    assert!((a - w).abs() < 1e-5, "case {i}: {a} vs {w}");
                }
            }
        }
    }

    /// A single image large enough to be split across threads by output channel (tap by tap,
    /// and im2col with taps off) matches the direct convolution, as single images through Winograd F(4×4, 3×3) and
    /// F(4×4, 5×5) do (output channels not a multiple of 16); run three times, the last after
    /// the weights change.
    #[test]
    fn single_image_channel_split_matches_direct() {
        const { assert!(16 * 36 * 900 >= crate::kernels::conv::SPLIT_CHANNELS_MIN_MACS) };
        let cases: [Case; 3] = [
            ([4, 30, 30], 16, [3, 3], 1, Padding::Uniform(1), 1, true),
            ([32, 14, 13], 40, [3, 3], 1, Padding::Named(PaddingName::Same), 1, true),
            ([20, 12, 12], 50, [5, 5], 1, Padding::Uniform(0), 1, false),
        ];
        for ((i, (input, oc, k, s, p, d, b)), taps) in cases.into_iter().enumerate().flat_map(|case| [(case, true), (case, false)]) {
            let mut c = conv(input, oc, k, s, p, d, b, 5);
            c.set_taps(taps);
            assert_eq!(c.uses_winograd(), i > 0);
            let splits = i == 0 && rayon::current_num_threads() > 1;
            assert_eq!(c.kernel.splits_channels(1), splits, "case {i}");
            assert_eq!(c.kernel.runs_taps(1), i == 0 && taps, "case {i}");
            let x = Tensor::random(&[1, input[0], input[1], input[2]], 6);
            for round in 0..3 {
                if round == 2 {
                    c.params_mut()[0].value.iter_mut().for_each(|w| *w *= -0.5);
                }
                let mut y = Tensor::default();
                c.forward(&x, &mut y, Mode::Eval).unwrap();
                for (a, w) in y.data.iter().zip(&direct(&c, &x)) {
                    assert!((a - w).abs() < 1e-4, "case {i}, round {round}: {a} vs {w}");
                }
            }
        }
    }

    /// A hand-computed case: a 3×3 input, a 2×2 kernel of ones plus bias 1, no padding.
    /// y[0,0] = 1+2+4+5 + 1 = 13, y[0,1] = 2+3+5+6 + 1 = 17, y[1,0] = 4+5+7+8 + 1 = 25,
    /// y[1,1] = 5+6+8+9 + 1 = 29.
    #[test]
    fn hand_computed() {
        let mut c = conv([1, 3, 3], 1, [2, 2], 1, Padding::Uniform(0), 1, true, 0);
        c.params[0].value.fill(1.0);
        c.params[1].value[0] = 1.0;
        let x = Tensor::from_vec(&[1, 1, 3, 3], (1..=9).map(|v| v as f32).collect()).unwrap();
        let mut y = Tensor::default();
        c.forward(&x, &mut y, Mode::Eval).unwrap();
        assert_eq!(y.data, vec![13.0, 17.0, 25.0, 29.0]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (i, &(input, oc, k, s, p, d, b)) in CASES.iter().enumerate() {
            let mut c = conv(input, oc, k, s, p, d, b, 10 + i as u64);
            let x = Tensor::random(&[2, input[0], input[1], input[2]], 200 + i as u64);
            check_layer(&mut c, &x, Mode::Train, i as u64).unwrap_or_else(|e| panic!("case {i}: {e}"));
        }
    }

    /// The Winograd kernels are rebuilt after the weights change through `params_mut`.
    #[test]
    fn winograd_follows_weight_changes() {
        let (input, oc, k, s, p, d, b) = CASES[CASES.len() - 2];
        let mut c = conv(input, oc, k, s, p, d, b, 7);
        assert!(c.uses_winograd());
        let x = Tensor::random(&[2, input[0], input[1], input[2]], 8);
        let mut y = Tensor::default();
        c.forward(&x, &mut y, Mode::Eval).unwrap();
        c.params_mut()[0].value.iter_mut().for_each(|w| *w *= -2.0);
        c.forward(&x, &mut y, Mode::Eval).unwrap();
        for (a, w) in y.data.iter().zip(&direct(&c, &x)) {
            assert!((a - w).abs() < 1e-4, "{a} vs {w}");
        }
    }

    /// Backward after an eval-mode forward recomputes the columns and gives the same answer.
    #[test]
    fn backward_after_eval_forward_recomputes_columns() {
        // Strided (rebuilt as im2col columns), and stride 1 with 8 channels (rebuilt as rows,
        // whose weight gradient is summed in another order: equal up to rounding).
        let rows_case: Case = ([8, 6, 7], 3, [3, 2], 1, Padding::HeightWidth([0, 1]), 1, true);
        for (input, oc, k, s, p, d, b) in [CASES[2], rows_case] {
            let x = Tensor::random(&[5, input[0], input[1], input[2]], 1);
            let mut grads = Vec::new();
            for mode in [Mode::Train, Mode::Eval] {
                let mut c = conv(input, oc, k, s, p, d, b, 3);
                assert!(!c.uses_winograd());
                let mut y = Tensor::default();
                c.forward(&x, &mut y, mode).unwrap();
                let dy = Tensor::random(y.shape(), 2);
                let mut dx = Tensor::default();
                c.backward(&x, &y, &dy, Some(&mut dx), true).unwrap();
                grads.push((dx.data, c.params[0].grad.clone(), c.params[1].grad.clone()));
            }
            assert_eq!(grads[0].0, grads[1].0);
            assert_eq!(grads[0].2, grads[1].2);
            for (a, b) in grads[0].1.iter().zip(&grads[1].1) {
                assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn wrong_input_shape_is_an_error() {
        let mut c = conv([1, 6, 6], 2, [3, 3], 1, Padding::Uniform(0), 1, true, 0);
        let mut y = Tensor::default();
        assert!(c.forward(&Tensor::zeros(&[1, 2, 6, 6]), &mut y, Mode::Eval).is_err());
    }
}
