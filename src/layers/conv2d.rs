//! 2-d convolution (cross-correlation, as in every framework), lowered onto GEMM via im2col.
//!
//! Shapes: `x[N, C, H, W]`, weight `W[OC, C, kh, kw]`, bias `b[OC]`, `y[N, OC, OH, OW]`
//! (output size, padding and dilation: [`crate::kernels::geometry`]).
//!
//! Forward, per sample, with `cols = im2col(x)` of shape `[K = C·kh·kw, P = OH·OW]`:
//!
//! ```text
//! y[OC, P] = W[OC, K] · cols[K, P] + b ⊗ 1ᵀ
//! ```
//!
//! Backward, per sample, given `dy[OC, P]`:
//!
//! ```text
//! ∂L/∂W += dy · colsᵀ            ([OC, P] · [P, K])
//! ∂L/∂b += Σ_p dy[·, p]
//! ∂L/∂x  = col2im(Wᵀ · dy)       ([K, OC] · [OC, P], scattered back onto the pixels)
//! ```
//!
//! In training mode the forward keeps every sample's `cols` for the backward; in eval mode it
//! only keeps one per thread (a backward after an eval forward recomputes them).
//! The batch is split into one contiguous chunk per rayon thread; each chunk accumulates its
//! own weight gradient, and the chunks are summed in order, so results depend only on the
//! thread count.
//!
//! The lowering is chosen per layer shape:
//! * a 3×3 or 5×5, stride-1 convolution with the same padding on every side and enough input
//!   channels (every 3×3 layer of `keras` but the first, `lenet` conv2) runs its forward and
//!   its input gradient as Winograd F(2×2, 3×3) or F(4×4, 5×5) ([`crate::kernels::winograd`]): 2.25×
//!   or 6.25× fewer multiply-adds, no im2col in the forward, no col2im in the backward. Its
//!   weight gradient is Winograd too: the transformed output gradient times the transformed
//!   input, summed over tiles ([`Plan::accumulate_weight_grad`]), then brought back to r×r
//!   once per step;
//! * another stride-1 convolution with enough input channels computes `y = W' · rowsᵀ` with
//!   `W'` the weight reordered like the rows, and keeps the rows for the weight gradient;
//! * everything else uses the im2col products above.
//!
//! Training and inference can fuse a following (ReLU and) 2×2 max pool into any of them
//! ([`Conv2d::forward_max_pool`]): a Winograd layer pools in its output transform, the others
//! pool each sample's output from a per-thread scratch; in training every window's choice is
//! recorded, and [`Conv2d::backward_max_pool`] rebuilds `dy` from the pooled gradient and the
//! choices (per sample, or per chunk for Winograd) before the products above.

use super::{check_grad, check_input, Layer, Mode, Param};
use crate::kernels::geometry::{Geometry, Padding};
use crate::error::Result;
use crate::kernels::gemm::{sgemm, Strides};
use crate::init::{Init, Rng};
use crate::layers::pool::{max_pool_2x2_planes, max_unpool_2x2};
use crate::tensor::Tensor;
use crate::kernels::winograd::{self, Epilogue, Plan};
use rayon::prelude::*;

/// Fewest input channels for which the Winograd lowering is used: below it the transforms
/// cost more than the multiply-adds they save (`cargo run --release --example conv_ab`, batch
/// 64: 1→32 channels at 28×28, forward 1.55 ms Winograd vs 0.30 ms im2col; 4→4 at 14×14,
/// 0.37 vs 0.19 ms; 32→64 at 14×14, 1.21 vs 2.05 ms).
const WINOGRAD_MIN_CHANNELS: usize = 8;

/// Fewest input channels for which the weight gradient builds channels-last rows
/// ([`Geometry::im2row`]) instead of im2col columns: below it the rows' runs are too short.
const ROWS_MIN_CHANNELS: usize = 8;

/// The Winograd plans of a layer it applies to.
#[derive(Clone, Copy)]
struct WinogradPlans {
    forward: Plan,
    input_grad: Plan,
    relu_max_pool: Plan,
}

/// Below this many multiply-adds a single image's convolution stays on one thread.
const SPLIT_CHANNELS_MIN_MACS: usize = 200_000;

/// A convolution layer.
pub struct Conv2d {
    geo: Geometry,
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    out_channels: usize,
    padding: Padding,
    params: Vec<Param>,
    /// im2col columns: every sample's after a training forward, one per chunk otherwise.
    cols: Vec<f32>,
    /// Batch size whose columns `cols` holds, if it holds them all.
    cols_cached_for: Option<usize>,
    /// Per-chunk scratch for the backward: `[∂W part (OC·K), ∂b part (OC), ∂cols (K·P),
    /// recomputed cols (K·P)]`.
    work: Vec<Vec<f32>>,
    /// Winograd plans, when the geometry allows them.
    winograd: Option<WinogradPlans>,
    /// The forward's weight in its lowering's layout — Winograd-transformed, or reordered for
    /// rows — valid while `kernels_fresh` (cleared whenever the weights may change:
    /// [`Layer::params_mut`]).
    kernels: Vec<f32>,
    kernels_fresh: bool,
    /// Winograd kernels of the input gradient (permuted from `kernels` at each backward).
    grad_kernels: Vec<f32>,
    /// Per-chunk Winograd scratch.
    winograd_work: Vec<Vec<f32>>,
    /// After a training forward fused with a max pool ([`Conv2d::forward_max_pool`]): each
    /// pooled value's position in its 2×2 window (`2·row + column`), or
    /// [`crate::layers::pool::CLAMPED`] where the ReLU clamped it (no gradient), for `pooled_for`
    /// samples.
    pool_choice: Vec<u8>,
    pooled_for: Option<usize>,
    /// While a network's piecewise patterns are frozen (gradient checks), the pool after this
    /// layer must run as itself, with its recorded pattern: no fusing.
    patterns_frozen: bool,
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
        let mut conv = Conv2d {
            geo,
            in_shape: input,
            out_shape: [out_channels, geo.out_h, geo.out_w],
            out_channels,
            padding,
            params,
            cols: Vec::new(),
            cols_cached_for: None,
            work: Vec::new(),
            winograd: None,
            kernels: Vec::new(),
            kernels_fresh: false,
            grad_kernels: Vec::new(),
            winograd_work: Vec::new(),
            pool_choice: Vec::new(),
            pooled_for: None,
            patterns_frozen: false,
        };
        conv.set_winograd(input[0] >= WINOGRAD_MIN_CHANNELS);
        Ok(conv)
    }

    /// Chooses the lowering: Winograd where the geometry allows it (the default for layers with
    /// enough input channels), or rows / im2col + GEMM. For benchmarks and tests.
    pub fn set_winograd(&mut self, on: bool) {
        let [c, h, w] = self.in_shape;
        let oc = self.out_channels;
        self.winograd = winograd::algorithm_for(&self.geo).filter(|_| on).map(|(algorithm, pad)| {
            let forward = Plan::new(algorithm, c, oc, [h, w], pad, false);
            WinogradPlans { forward, input_grad: forward.input_grad(), relu_max_pool: Plan::new(algorithm, c, oc, [h, w], pad, true) }
        });
        self.cols_cached_for = None;
        self.pooled_for = None;
        self.kernels_fresh = false;
    }

    /// True when the forward lowers onto channels-last rows ([`Geometry::im2row`]) instead of
    /// im2col columns (stride 1, dilation 1, enough input channels, no Winograd): `cols` then
    /// holds rows, and `kernels` the weight with its kernel index reordered the same way.
    fn rows_layout(&self) -> bool {
        self.winograd.is_none() && self.geo.has_rows() && self.geo.channels >= ROWS_MIN_CHANNELS
    }

    /// True when this layer runs as Winograd (F(2×2, 3×3) or F(4×4, 5×5)).
    pub fn uses_winograd(&self) -> bool {
        self.winograd.is_some()
    }

    /// Inference through this convolution, a ReLU and a 2×2, stride-2 max pool in one pass
    /// (see [`Conv2d::forward_max_pool`]).
    pub fn forward_relu_max_pool(&mut self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        self.forward_max_pool(x, y, true, Mode::Eval)
    }

    /// This convolution, a ReLU if `relu`, and a 2×2, stride-2 max pool in one pass:
    /// `y[N, OC, ⌊OH/2⌋, ⌊OW/2⌋]`, equal (up to float rounding) to the layers run one after the
    /// other. A Winograd layer pools in its output transform; the others compute each sample's
    /// convolution into a per-thread scratch and pool it from there, so the full convolution
    /// output never goes out to memory. In training they keep each window's choice (and the
    /// lowered ones their columns) for [`Conv2d::backward_max_pool`].
    pub fn forward_max_pool(&mut self, x: &Tensor, y: &mut Tensor, relu: bool, mode: Mode) -> Result<()> {
        let n = check_input(self, x)?;
        y.resize(n, &[self.out_channels, self.geo.out_h / 2, self.geo.out_w / 2]);
        self.cols_cached_for = None;
        self.pooled_for = None;
        if n == 0 {
            return Ok(());
        }
        let train = mode == Mode::Train;
        match self.winograd {
            Some(plans) => {
                self.run_winograd(plans.relu_max_pool, x, y, Some(relu), train);
                if train {
                    self.pooled_for = Some(n);
                }
            }
            None => self.forward_pooled_lowered(x, y, relu, train),
        }
        Ok(())
    }

    /// The backward of a training [`Conv2d::forward_max_pool`]: `dy` is ∂L/∂(pooled output),
    /// and the convolution's own output gradient is rebuilt per sample from the recorded
    /// choices (`dy` at each window's maximum, zero elsewhere and where the ReLU clamped).
    pub fn backward_max_pool(&mut self, x: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, param_grads: bool) -> Result<()> {
        let n = check_input(self, x)?;
        let pooled_len = self.out_channels * (self.geo.out_h / 2) * (self.geo.out_w / 2);
        let cols_ready = self.winograd.is_some() || self.cols_cached_for == Some(n);
        if self.pooled_for != Some(n) || !cols_ready || dy.data.len() != n * pooled_len {
            return Err(crate::error::Error::config("Conv2d: backward_max_pool needs a matching training forward_max_pool"));
        }
        let choice = std::mem::take(&mut self.pool_choice);
        let result = self.backward_from(x, n, OutputGrad::Pooled { grad: &dy.data, choice: &choice }, dx, param_grads);
        self.pool_choice = choice;
        result
    }

    /// [`Conv2d::forward_max_pool`] through im2col columns or channels-last rows; with `train`,
    /// every sample's columns are kept (as a training forward keeps them) and each window's
    /// choice recorded.
    fn forward_pooled_lowered(&mut self, x: &Tensor, y: &mut Tensor, relu: bool, train: bool) {
        let rows = self.rows_layout();
        if rows {
            self.ensure_rows_kernels();
        }
        let geo = self.geo;
        let (kk, p, oc) = (geo.col_rows(), geo.out_pixels(), self.out_channels);
        let n = x.batch();
        let chunk = n.div_ceil(rayon::current_num_threads()).max(1);
        let (in_len, out_len) = (geo.in_len(), y.sample_len());
        let chunks = n.div_ceil(chunk);
        let padded_len = if rows { geo.padded_hwc_len() } else { 0 };
        let work = ensure_work(&mut self.work, chunks, oc * p + padded_len);
        // Training keeps every sample's columns (sample s at s·K·P) and choices; inference one
        // column buffer per chunk and no choices (one unused byte per chunk, for the zip).
        let cols_per_chunk = if train { chunk } else { 1 };
        self.cols.resize(chunks * cols_per_chunk * kk * p, 0.0);
        let choices_per_chunk = if train { chunk * out_len } else { 1 };
        self.pool_choice.resize(if train { n * out_len } else { chunks }, 0);
        let weight = if rows { &self.kernels } else { &self.params[0].value };
        let bias = self.params.get(1).map(|b| b.value.as_slice());
        y.data
            .par_chunks_mut(chunk * out_len)
            .zip(x.data.par_chunks(chunk * in_len))
            .zip(work.par_iter_mut())
            .zip(self.cols.par_chunks_mut(cols_per_chunk * kk * p))
            .zip(self.pool_choice.par_chunks_mut(choices_per_chunk))
            .for_each(|((((ys, xs), work), cols), choices)| {
                let (conv, rest) = work.split_at_mut(oc * p);
                let padded = &mut rest[..padded_len];
                for (i, (ys, xs)) in ys.chunks_mut(out_len).zip(xs.chunks(in_len)).enumerate() {
                    let cols = if train { &mut cols[i * kk * p..(i + 1) * kk * p] } else { &mut cols[..] };
                    fill_bias(conv, bias, p);
                    if rows {
                        geo.im2row(xs, padded, cols);
                        sgemm(oc, kk, p, 1.0, weight, Strides::row_major(kk), cols, Strides::transposed(kk), 1.0, conv, Strides::row_major(p));
                    } else {
                        geo.im2col(xs, cols);
                        sgemm(oc, kk, p, 1.0, weight, Strides::row_major(kk), cols, Strides::row_major(p), 1.0, conv, Strides::row_major(p));
                    }
                    let choice = train.then(|| &mut choices[i * out_len..(i + 1) * out_len]);
                    max_pool_2x2_planes(conv, oc, geo.out_h, geo.out_w, relu, ys, choice);
                }
            });
        if train {
            self.cols_cached_for = Some(n);
            self.pooled_for = Some(n);
        }
    }

    /// Makes `kernels` the weight in the rows' order, `W'[oc, (ki·kw + kj)·C + c] = W[oc, c, ki, kj]`,
    /// unless it already is.
    fn ensure_rows_kernels(&mut self) {
        if self.kernels_fresh {
            return;
        }
        let geo = self.geo;
        let kk = geo.col_rows();
        let (c, taps) = (geo.channels, geo.kernel_h * geo.kernel_w);
        self.kernels.resize(self.out_channels * kk, 0.0);
        for (dst, src) in self.kernels.chunks_mut(kk).zip(self.params[0].value.chunks(kk)) {
            for ch in 0..c {
                for k in 0..taps {
                    dst[k * c + ch] = src[ch * taps + k];
                }
            }
        }
        self.kernels_fresh = true;
    }

    /// The forward through channels-last rows: per sample `y = W' · rowsᵀ + b`, where `W'` is
    /// the weight with its kernel index in the rows' order `(ki, kj, c)`. `cols` has been sized
    /// for the batch (`keep_all`: every sample's rows, kept for the backward).
    fn forward_rows(&mut self, x: &Tensor, y: &mut Tensor, keep_all: bool) {
        let geo = self.geo;
        let (kk, p, oc) = (geo.col_rows(), geo.out_pixels(), self.out_channels);
        let (in_len, out_len) = (geo.in_len(), oc * p);
        let n = x.batch();
        let chunk = n.div_ceil(rayon::current_num_threads()).max(1);
        self.ensure_rows_kernels();
        let padded = ensure_work(&mut self.work, n.div_ceil(chunk), geo.padded_hwc_len());
        let cols_per_chunk = if keep_all { chunk } else { 1 };
        let weight = &self.kernels;
        let bias = self.params.get(1).map(|b| b.value.as_slice());
        y.data
            .par_chunks_mut(chunk * out_len)
            .zip(x.data.par_chunks(chunk * in_len))
            .zip(self.cols.par_chunks_mut(cols_per_chunk * kk * p))
            .zip(padded.par_iter_mut())
            .for_each(|(((ys, xs), rows), padded)| {
                for (i, (ys, xs)) in ys.chunks_mut(out_len).zip(xs.chunks(in_len)).enumerate() {
                    let r = if keep_all { &mut rows[i * kk * p..(i + 1) * kk * p] } else { &mut rows[..kk * p] };
                    geo.im2row(xs, &mut padded[..geo.padded_hwc_len()], r);
                    fill_bias(ys, bias, p);
                    sgemm(oc, kk, p, 1.0, weight, Strides::row_major(kk), r, Strides::transposed(kk), 1.0, ys, Strides::row_major(p));
                }
            });
    }

    /// Runs a forward Winograd plan over the batch, one chunk of samples per thread; with
    /// `pooled = Some(relu)` through the max-pool epilogue, recording each window's choice in
    /// `pool_choice` with `record`.
    fn run_winograd(&mut self, plan: Plan, x: &Tensor, y: &mut Tensor, pooled: Option<bool>, record: bool) {
        let n = x.batch();
        if n == 0 {
            return;
        }
        if !self.kernels_fresh {
            self.kernels.resize(plan.kernels_len(), 0.0);
            plan.transform_kernels(&self.params[0].value, false, &mut self.kernels);
            self.kernels_fresh = true;
        }
        let chunk = n.div_ceil(rayon::current_num_threads()).max(1);
        let (in_len, out_len) = (x.sample_len(), y.sample_len());
        let work = ensure_work(&mut self.winograd_work, n.div_ceil(chunk), plan.work_len());
        let bias = self.params.get(1).map(|b| b.value.as_slice());
        let epilogue = match pooled {
            Some(relu) => Epilogue::MaxPool { bias, relu },
            None => Epilogue::Store { bias },
        };
        let kernels = &self.kernels;
        let pooled_values = y.data.len();
        let chunks = y.data.par_chunks_mut(chunk * out_len).zip(x.data.par_chunks(chunk * in_len)).zip(work.par_iter_mut());
        if record && pooled.is_some() {
            // Every pooled value's choice, for the backward.
            self.pool_choice.resize(pooled_values, 0);
            chunks.zip(self.pool_choice.par_chunks_mut(chunk * out_len)).for_each(|(((ys, xs), w), choice)| plan.run(kernels, xs, ys, epilogue, choice, w));
        } else {
            chunks.for_each(|((ys, xs), w)| plan.run(kernels, xs, ys, epilogue, &mut [], w));
        }
    }

    /// The geometry (output size, padding) this layer computes with.
    pub fn geometry(&self) -> &Geometry {
        &self.geo
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
        let g = &self.geo;
        let mut s = format!("{}→{}, {}×{}", g.channels, self.out_channels, g.kernel_h, g.kernel_w);
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
        // The caller may change the weights: the transformed kernels must be rebuilt.
        self.kernels_fresh = false;
        &mut self.params
    }

    fn set_frozen_pattern(&mut self, frozen: bool) {
        self.patterns_frozen = frozen;
    }

    fn forward_max_pool(&mut self, x: &Tensor, y: &mut Tensor, relu: bool, mode: Mode) -> Option<Result<()>> {
        if self.patterns_frozen {
            return None;
        }
        let fuses = match (self.winograd.is_some(), mode) {
            (true, _) => true,
            // A single image through a lowered convolution keeps its channel split across
            // threads (latency) and runs unfused.
            (false, Mode::Eval) => x.batch() >= rayon::current_num_threads(),
            (false, Mode::Train) => true,
        };
        fuses.then(|| Conv2d::forward_max_pool(self, x, y, relu, mode))
    }

    fn backward_max_pool(&mut self, x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, param_grads: bool) -> Result<()> {
        Conv2d::backward_max_pool(self, x, dy, dx, param_grads)
    }

    fn flops(&self) -> usize {
        2 * self.out_channels * self.geo.col_rows() * self.geo.out_pixels()
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, mode: Mode) -> Result<()> {
        let n = check_input(self, x)?;
        y.resize(n, &self.out_shape);
        if n == 0 {
            return Ok(());
        }
        if let Some(plans) = self.winograd {
            // The backward builds the columns its weight gradient needs.
            self.cols_cached_for = None;
            self.run_winograd(plans.forward, x, y, None, false);
            return Ok(());
        }
        let geo = self.geo;
        let (kk, p, oc) = (geo.col_rows(), geo.out_pixels(), self.out_channels);
        let (in_len, out_len) = (geo.in_len(), oc * p);
        let chunk = n.div_ceil(rayon::current_num_threads()).max(1);
        let keep_all = mode == Mode::Train;
        let cols_per_chunk = if keep_all { chunk } else { 1 };
        self.cols.resize(n.div_ceil(chunk) * cols_per_chunk * kk * p, 0.0);
        self.cols_cached_for = keep_all.then_some(n);
        if self.rows_layout() {
            self.forward_rows(x, y, keep_all);
            return Ok(());
        }
        let weight = &self.params[0].value;
        let bias = self.params.get(1).map(|b| b.value.as_slice());
        let threads = rayon::current_num_threads();
        if n == 1 && threads > 1 && oc * kk * p >= SPLIT_CHANNELS_MIN_MACS {
            // One image (latency): split the output channels across threads instead of samples.
            let cols = &mut self.cols[..kk * p];
            geo.im2col(&x.data, cols);
            let cols = &*cols;
            let rows = oc.div_ceil(threads);
            y.data.par_chunks_mut(rows * p).zip(weight.par_chunks(rows * kk)).enumerate().for_each(|(t, (ys, w))| {
                let m = w.len() / kk;
                for (o, row) in ys.chunks_mut(p).enumerate() {
                    row.fill(bias.map_or(0.0, |b| b[t * rows + o]));
                }
                sgemm(m, kk, p, 1.0, w, Strides::row_major(kk), cols, Strides::row_major(p), 1.0, ys, Strides::row_major(p));
            });
            return Ok(());
        }
        y.data
            .par_chunks_mut(chunk * out_len)
            .zip(x.data.par_chunks(chunk * in_len))
            .zip(self.cols.par_chunks_mut(cols_per_chunk * kk * p))
            .for_each(|((ys, xs), cols)| {
                for (i, (ys, xs)) in ys.chunks_mut(out_len).zip(xs.chunks(in_len)).enumerate() {
                    let c = if keep_all { &mut cols[i * kk * p..(i + 1) * kk * p] } else { &mut cols[..] };
                    geo.im2col(xs, c);
                    fill_bias(ys, bias, p);
                    sgemm(oc, kk, p, 1.0, weight, Strides::row_major(kk), c, Strides::row_major(p), 1.0, ys, Strides::row_major(p));
                }
            });
        Ok(())
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, param_grads: bool) -> Result<()> {
        let n = check_grad(self, x, dy)?;
        self.backward_from(x, n, OutputGrad::Full(&dy.data), dx, param_grads)
    }
}

/// The gradient a backward starts from.
#[derive(Clone, Copy)]
enum OutputGrad<'a> {
    /// ∂L/∂y of the convolution's output, `[N, OC, OH, OW]`.
    Full(&'a [f32]),
    /// ∂L/∂(its 2×2 max pool, after a ReLU or not), `[N, OC, ⌊OH/2⌋, ⌊OW/2⌋]`, with each
    /// window's recorded choice ([`Conv2d::forward_max_pool`] in training).
    Pooled { grad: &'a [f32], choice: &'a [u8] },
}

impl Conv2d {
    /// The backward from `grad` (see [`OutputGrad`]) for a batch of `n`.
    fn backward_from(&mut self, x: &Tensor, n: usize, grad: OutputGrad, dx: Option<&mut Tensor>, param_grads: bool) -> Result<()> {
        if n == 0 || (dx.is_none() && !param_grads) {
            return Ok(());
        }
        let geo = self.geo;
        let (kk, p, oc) = (geo.col_rows(), geo.out_pixels(), self.out_channels);
        let (in_len, out_len) = (geo.in_len(), oc * p);
        let chunk = n.div_ceil(rayon::current_num_threads()).max(1);
        let chunks = n.div_ceil(chunk);
        let cached = self.cols_cached_for == Some(n);
        // A Winograd layer's weight gradient comes from transformed tiles, into ∂U.
        let winograd_dw = self.winograd.filter(|_| param_grads).map(|plans| plans.forward);
        // Else columns to build for the weight gradient: as rows (channels-last, read by the
        // GEMM without repacking) where the geometry allows, else as im2col.
        let rows_cached = cached && self.rows_layout();
        let use_rows = param_grads && winograd_dw.is_none() && (rows_cached || (!cached && geo.has_rows() && geo.channels >= ROWS_MIN_CHANNELS));
        let padded_len = if use_rows && !rows_cached { geo.padded_hwc_len() } else { 0 };
        // A pooled gradient is spread back onto one sample's output at a time.
        let (pooled_len, unpooled_len) = match grad {
            OutputGrad::Full(_) => (0, 0),
            OutputGrad::Pooled { .. } => (oc * (geo.out_h / 2) * (geo.out_w / 2), out_len),
        };
        // A Winograd backward takes a whole chunk's output gradient: a pooled one is spread
        // back onto all of the chunk's samples first, into the end of the chunk's scratch.
        let winograd = self.winograd.is_some();
        let unpooled_chunk_len = if winograd { unpooled_len * chunk } else { 0 };
        let base_len = match winograd_dw {
            Some(plan) => plan.weight_grad_len() + oc,
            None => oc * kk + oc + 2 * kk * p + padded_len + unpooled_len,
        };
        let work = ensure_work(&mut self.work, chunks, base_len + unpooled_chunk_len);
        let winograd_dx = match (self.winograd, dx.is_some()) {
            (Some(plans), true) => {
                let plan = plans.input_grad;
                self.grad_kernels.resize(plan.kernels_len(), 0.0);
                plan.transform_kernels(&self.params[0].value, true, &mut self.grad_kernels);
                Some(plan)
            }
            _ => None,
        };
        let winograd_work_len = winograd_dx.map_or(0, |p| p.work_len()).max(winograd_dw.map_or(0, |p| p.weight_grad_work_len()));
        let winograd_work = ensure_work(&mut self.winograd_work, chunks, winograd_work_len);
        let cols = &self.cols;
        let weight = &self.params[0].value;
        let grad_kernels = &self.grad_kernels;
        let body = |ci: usize, dxs: Option<&mut [f32]>, work: &mut Vec<f32>, winograd_work: &mut Vec<f32>| {
            let samples = chunk.min(n - ci * chunk);
            let first = ci * chunk;
            let (work, unpooled_chunk) = work.split_at_mut(base_len);
            // This chunk's output gradient, when it is given whole (or, for Winograd, made whole).
            let dys: &[f32] = match grad {
                OutputGrad::Full(dy) => &dy[first * out_len..(first + samples) * out_len],
                OutputGrad::Pooled { grad, choice } if winograd => {
                    for (i, unpooled) in unpooled_chunk.chunks_mut(out_len).take(samples).enumerate() {
                        let at = (first + i) * pooled_len..(first + i + 1) * pooled_len;
                        max_unpool_2x2(&grad[at.clone()], &choice[at], oc, geo.out_h, geo.out_w, unpooled);
                    }
                    &unpooled_chunk[..samples * out_len]
                }
                OutputGrad::Pooled { .. } => &[],
            };
            if let Some(plan) = winograd_dw {
                // ∂U += Σ_tiles (A ∂Y Aᵀ)ᵀ · V, and ∂b.
                let (du, rest) = work.split_at_mut(plan.weight_grad_len());
                let db = &mut rest[..oc];
                du.fill(0.0);
                let xs = &x.data[first * in_len..(first + samples) * in_len];
                plan.accumulate_weight_grad(xs, dys, du, winograd_work);
                db.fill(0.0);
                for dys in dys.chunks(out_len) {
                    for (d, row) in db.iter_mut().zip(dys.chunks(p)) {
                        *d += crate::kernels::simd::sum(row);
                    }
                }
                // The input gradient of a Winograd layer is Winograd too.
                if let (Some(dxs), Some(dx_plan)) = (dxs, winograd_dx) {
                    dx_plan.run(grad_kernels, dys, dxs, Epilogue::Store { bias: None }, &mut [], winograd_work);
                }
                return;
            }
            let (dw, rest) = work.split_at_mut(oc * kk);
            let (db, rest) = rest.split_at_mut(oc);
            let (dcols, rest) = rest.split_at_mut(kk * p);
            let (own_cols, rest) = rest.split_at_mut(kk * p);
            let (padded, rest) = rest.split_at_mut(padded_len);
            let unpooled = &mut rest[..unpooled_len];
            if param_grads {
                dw.fill(0.0);
                db.fill(0.0);
            }
            let mut dxs = dxs;
            if let (Some(dxs), Some(plan)) = (dxs.as_deref_mut(), winograd_dx) {
                // A Winograd layer without parameter gradients: its input gradient only.
                plan.run(grad_kernels, dys, dxs, Epilogue::Store { bias: None }, &mut [], winograd_work);
                return;
            }
            for i in 0..samples {
                let s = first + i;
                let dys: &[f32] = match grad {
                    OutputGrad::Full(_) => &dys[i * out_len..(i + 1) * out_len],
                    OutputGrad::Pooled { grad, choice } => {
                        let at = s * pooled_len..(s + 1) * pooled_len;
                        max_unpool_2x2(&grad[at.clone()], &choice[at], oc, geo.out_h, geo.out_w, unpooled);
                        unpooled
                    }
                };
                if param_grads {
                    if use_rows {
                        // ∂W (kernel index channels-last) += dy · rows.
                        let rows: &[f32] = if rows_cached {
                            &cols[s * kk * p..(s + 1) * kk * p]
                        } else {
                            geo.im2row(&x.data[s * in_len..(s + 1) * in_len], padded, own_cols);
                            own_cols
                        };
                        sgemm(oc, p, kk, 1.0, dys, Strides::row_major(p), rows, Strides::row_major(kk), 1.0, dw, Strides::row_major(kk));
                    } else {
                        let c: &[f32] = if cached {
                            &cols[s * kk * p..(s + 1) * kk * p]
                        } else {
                            // After an eval-mode forward: build this sample's columns.
                            geo.im2col(&x.data[s * in_len..(s + 1) * in_len], own_cols);
                            own_cols
                        };
                        sgemm(oc, p, kk, 1.0, dys, Strides::row_major(p), c, Strides::transposed(p), 1.0, dw, Strides::row_major(kk));
                    }
                    for (d, row) in db.iter_mut().zip(dys.chunks(p)) {
                        *d += crate::kernels::simd::sum(row);
                    }
                }
                if let Some(dxs) = dxs.as_deref_mut() {
                    let d = &mut dxs[i * in_len..(i + 1) * in_len];
                    sgemm(kk, oc, p, 1.0, weight, Strides::transposed(kk), dys, Strides::row_major(p), 0.0, dcols, Strides::row_major(p));
                    d.fill(0.0);
                    geo.col2im_add(dcols, d);
                }
            }
        };
        match dx {
            Some(dx) => {
                dx.resize(n, &self.in_shape);
                dx.data
                    .par_chunks_mut(chunk * in_len)
                    .zip(work.par_iter_mut().zip(winograd_work.par_iter_mut()))
                    .enumerate()
                    .for_each(|(ci, (dxs, (w, ww)))| body(ci, Some(dxs), w, ww));
            }
            None => {
                work.par_iter_mut().zip(winograd_work.par_iter_mut()).enumerate().for_each(|(ci, (w, ww))| body(ci, None, w, ww));
            }
        }
        if let Some(plan) = winograd_dw {
            // Sum the chunks' ∂U, then ∂W += Gᵀ ∂U G once.
            let du_len = plan.weight_grad_len();
            if let Some((first, others)) = self.work[..chunks].split_first_mut() {
                for w in others.iter() {
                    for (a, b) in first[..du_len + oc].iter_mut().zip(&w[..du_len + oc]) {
                        *a += b;
                    }
                }
                plan.weight_grad_from_transformed(&first[..du_len], &mut self.params[0].grad);
                if let Some(bias) = self.params.get_mut(1) {
                    for (g, v) in bias.grad.iter_mut().zip(&first[du_len..du_len + oc]) {
                        *g += v;
                    }
                }
            }
        } else if param_grads {
            let has_bias = self.has_bias();
            let (c, kh, kw) = (geo.channels, geo.kernel_h, geo.kernel_w);
            for w in &self.work[..chunks] {
                if use_rows {
                    // Back from (oc, ki, kj, c) to the weight's (oc, c, ki, kj).
                    for (g, v) in self.params[0].grad.chunks_mut(kk).zip(w[..oc * kk].chunks(kk)) {
                        for ch in 0..c {
                            for k in 0..kh * kw {
                                g[ch * kh * kw + k] += v[k * c + ch];
                            }
                        }
                    }
                } else {
                    for (g, v) in self.params[0].grad.iter_mut().zip(&w[..oc * kk]) {
                        *g += v;
                    }
                }
                if has_bias {
                    for (g, v) in self.params[1].grad.iter_mut().zip(&w[oc * kk..oc * kk + oc]) {
                        *g += v;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Every output channel's `p` values of one sample set to its bias (or zero), for a GEMM to
/// add onto.
fn fill_bias(ys: &mut [f32], bias: Option<&[f32]>, p: usize) {
    match bias {
        Some(b) => {
            for (row, &bv) in ys.chunks_mut(p).zip(b) {
                row.fill(bv);
            }
        }
        None => ys.fill(0.0),
    }
}

/// At least `chunks` scratch vectors of `len` floats each (growing only; no allocation once
/// a batch size has been seen).
fn ensure_work(work: &mut Vec<Vec<f32>>, chunks: usize, len: usize) -> &mut [Vec<f32>] {
    if work.len() < chunks {
        work.resize_with(chunks, Vec::new);
    }
    for w in &mut work[..chunks] {
        if w.len() < len {
            w.resize(len, 0.0);
        }
    }
    &mut work[..chunks]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::geometry::PaddingName;
    use crate::layers::gradcheck::{check_layer, random_tensor};

    fn conv(input: [usize; 3], oc: usize, k: [usize; 2], s: usize, p: Padding, d: usize, bias: bool, seed: u64) -> Conv2d {
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
    fn direct(c: &Conv2d, x: &Tensor) -> Vec<f32> {
        let g = c.geo;
        let n = x.batch();
        let w = &c.params[0].value;
        let mut y = vec![0.0f32; n * c.out_channels * g.out_pixels()];
        for s in 0..n {
            for o in 0..c.out_channels {
                for oh in 0..g.out_h {
                    for ow in 0..g.out_w {
                        let mut acc = c.params.get(1).map_or(0.0, |b| b.value[o] as f64);
                        for ch in 0..g.channels {
                            for ki in 0..g.kernel_h {
                                for kj in 0..g.kernel_w {
                                    let r = (oh * g.stride_h + ki * g.dilation_h) as isize - g.pad_top as isize;
                                    let q = (ow * g.stride_w + kj * g.dilation_w) as isize - g.pad_left as isize;
                                    if r < 0 || q < 0 || r as usize >= g.in_h || q as usize >= g.in_w {
                                        continue;
                                    }
                                    let xv = x.data[((s * g.channels + ch) * g.in_h + r as usize) * g.in_w + q as usize];
                                    let wv = w[((o * g.channels + ch) * g.kernel_h + ki) * g.kernel_w + kj];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
                        y[((s * c.out_channels + o) * g.out_h + oh) * g.out_w + ow] = acc as f32;
                    }
                }
            }
        }
        y
    }

    type Case = ([usize; 3], usize, [usize; 2], usize, Padding, usize, bool);

    /// The variants every conv test runs over: stride, padding, "same", dilation, no bias,
    /// non-square kernels and inputs.
    const CASES: &[Case] = &[
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
        // Winograd F(2×2, 3×3): odd and even sizes, with and without bias (kept last).
        ([8, 7, 6], 3, [3, 3], 1, Padding::Uniform(1), 1, true),
        ([9, 4, 5], 2, [3, 3], 1, Padding::Named(PaddingName::Same), 1, false),
    ];

    /// The cases above run through the lowering their comments name.
    #[test]
    fn cases_cover_every_lowering() {
        let lowering = |i: usize| {
            let (input, oc, k, s, p, d, b) = CASES[i];
            let c = conv(input, oc, k, s, p, d, b, 0);
            (c.uses_winograd(), c.rows_layout())
        };
        let n = CASES.len();
        assert_eq!([lowering(n - 6), lowering(n - 5)], [(false, true); 2]);
        assert_eq!([lowering(n - 4), lowering(n - 3), lowering(n - 2), lowering(n - 1)], [(true, false); 4]);
        assert_eq!(lowering(0), (false, false));
    }

    #[test]
    fn forward_matches_direct_convolution() {
        for (i, &(input, oc, k, s, p, d, b)) in CASES.iter().enumerate() {
            let mut c = conv(input, oc, k, s, p, d, b, i as u64);
            let x = random_tensor(&[3, input[0], input[1], input[2]], 100 + i as u64);
            for (mode, x) in [(Mode::Train, &x), (Mode::Eval, &x), (Mode::Eval, &Tensor::from_vec(&[1, input[0], input[1], input[2]], x.sample(1).to_vec()).unwrap())] {
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

    /// A single image large enough to be split across threads by output channel matches the
    /// direct convolution, and the same image inside a batch.
    #[test]
    fn single_image_channel_split_matches_direct() {
        let mut c = conv([4, 30, 30], 16, [3, 3], 1, Padding::Uniform(1), 1, true, 5);
        assert!(16 * 36 * 900 >= SPLIT_CHANNELS_MIN_MACS);
        let x = random_tensor(&[1, 4, 30, 30], 6);
        let mut y = Tensor::default();
        c.forward(&x, &mut y, Mode::Eval).unwrap();
        for (a, w) in y.data.iter().zip(&direct(&c, &x)) {
            assert!((a - w).abs() < 1e-5, "{a} vs {w}");
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
            let x = random_tensor(&[2, input[0], input[1], input[2]], 200 + i as u64);
            check_layer(&mut c, &x, Mode::Train, i as u64).unwrap_or_else(|e| panic!("case {i}: {e}"));
        }
    }

    /// The Winograd kernels are rebuilt after the weights change through `params_mut`.
    #[test]
    fn winograd_follows_weight_changes() {
        let (input, oc, k, s, p, d, b) = CASES[CASES.len() - 2];
        let mut c = conv(input, oc, k, s, p, d, b, 7);
        assert!(c.uses_winograd());
        let x = random_tensor(&[2, input[0], input[1], input[2]], 8);
        let mut y = Tensor::default();
        c.forward(&x, &mut y, Mode::Eval).unwrap();
        c.params_mut()[0].value.iter_mut().for_each(|w| *w *= -2.0);
        c.forward(&x, &mut y, Mode::Eval).unwrap();
        for (a, w) in y.data.iter().zip(&direct(&c, &x)) {
            assert!((a - w).abs() < 1e-4, "{a} vs {w}");
        }
    }

    /// The fused inference path equals Conv2d → (ReLU →) MaxPool2d(2×2) run as layers, for
    /// every lowering: Winograd F(2×2, 3×3) and F(4×4, 5×5) (odd and even sizes), channels-last
    /// rows, im2col (strided, odd output).
    #[test]
    fn fused_max_pool_matches_the_layers() {
        use crate::layers::{Activation, ActivationKind, Pool2d, PoolKind};
        let same = Padding::Named(PaddingName::Same);
        let valid = Padding::Uniform(0);
        // (input, kernel, stride, padding, Winograd, rows)
        let cases = [
            ([8, 7, 6], [3, 3], 1, same, true, false),
            ([16, 14, 14], [3, 3], 1, same, true, false),
            ([20, 12, 12], [5, 5], 1, valid, true, false),
            ([10, 9, 8], [5, 5], 1, valid, true, false),
            ([10, 9, 8], [5, 5], 1, valid, false, true),
            ([2, 11, 9], [3, 3], 2, Padding::Uniform(1), false, false),
            ([1, 12, 12], [5, 5], 1, valid, false, false),
        ];
        for (i, (input, k, s, p, winograd, rows)) in cases.into_iter().enumerate() {
            let mut c = conv(input, 5, k, s, p, 1, true, 9);
            c.set_winograd(winograd);
            assert_eq!(c.uses_winograd(), winograd);
            assert_eq!(c.rows_layout(), rows);
            let x = random_tensor(&[3, input[0], input[1], input[2]], 10);
            let (mut y, mut r) = (Tensor::default(), Tensor::default());
            c.forward(&x, &mut y, Mode::Eval).unwrap();
            let shape = [5, c.geo.out_h, c.geo.out_w];
            Activation::new(ActivationKind::Relu, &shape).forward(&y, &mut r, Mode::Eval).unwrap();
            for (relu, input) in [(true, &r), (false, &y)] {
                let (mut want, mut got) = (Tensor::default(), Tensor::default());
                Pool2d::new(PoolKind::Max, shape, [2, 2], [2, 2]).unwrap().forward(input, &mut want, Mode::Eval).unwrap();
                c.forward_max_pool(&x, &mut got, relu, Mode::Eval).unwrap();
                assert_eq!(got.shape(), want.shape());
                for (a, w) in got.data.iter().zip(&want.data) {
                    assert!((a - w).abs() < 1e-5, "case {i}, relu {relu}: {a} vs {w}");
                }
            }
        }
    }

    /// Training through a convolution fused with (ReLU and) max pooling gives the layers'
    /// outputs, parameter gradients and input gradient exactly: im2col (odd sizes, stride 2),
    /// rows, a single channel, and Winograd F(2×2, 3×3) and F(4×4, 5×5) (odd sizes, a batch
    /// that splits into uneven chunks).
    #[test]
    fn fused_max_pool_training_matches_the_layers() {
        use crate::layers::{Activation, ActivationKind, Pool2d, PoolKind};
        let same = Padding::Named(PaddingName::Same);
        // (input, kernel, stride, padding, Winograd)
        let cases = [
            ([2, 11, 9], [3, 3], 2, Padding::Uniform(1), false),
            ([10, 9, 8], [5, 5], 1, Padding::Uniform(0), false),
            ([1, 12, 12], [5, 5], 1, Padding::Uniform(0), false),
            ([8, 7, 6], [3, 3], 1, same, true),
            ([20, 12, 12], [5, 5], 1, Padding::Uniform(0), true),
            ([10, 9, 8], [5, 5], 1, Padding::Uniform(0), true),
        ];
        for (i, (input, k, s, p, winograd)) in cases.into_iter().enumerate() {
            for relu in [true, false] {
                let x = random_tensor(&[3, input[0], input[1], input[2]], 20 + i as u64);
                let (mut plain, mut fused) = (conv(input, 5, k, s, p, 1, true, 9), conv(input, 5, k, s, p, 1, true, 9));
                plain.set_winograd(winograd);
                fused.set_winograd(winograd);
                assert_eq!(fused.uses_winograd(), winograd);
                let shape = [5, plain.geo.out_h, plain.geo.out_w];
                let mut act = Activation::new(ActivationKind::Relu, &shape);
                let mut pool = Pool2d::new(PoolKind::Max, shape, [2, 2], [2, 2]).unwrap();
                // Layer by layer.
                let (mut y, mut r, mut want) = (Tensor::default(), Tensor::default(), Tensor::default());
                plain.forward(&x, &mut y, Mode::Train).unwrap();
                let pooled_input = if relu {
                    act.forward(&y, &mut r, Mode::Train).unwrap();
                    &r
                } else {
                    &y
                };
                pool.forward(pooled_input, &mut want, Mode::Train).unwrap();
                let dp = random_tensor(want.shape(), 30 + i as u64);
                let (mut dpool, mut dconv, mut dx_want) = (Tensor::default(), Tensor::default(), Tensor::default());
                pool.backward(pooled_input, &want, &dp, Some(&mut dpool), true).unwrap();
                if relu {
                    act.backward(&y, &r, &dpool, Some(&mut dconv), true).unwrap();
                } else {
                    dconv = dpool;
                }
                plain.backward(&x, &y, &dconv, Some(&mut dx_want), true).unwrap();
                // Fused.
                let (mut got, mut dx_got) = (Tensor::default(), Tensor::default());
                fused.forward_max_pool(&x, &mut got, relu, Mode::Train).unwrap();
                fused.backward_max_pool(&x, &dp, Some(&mut dx_got), true).unwrap();
                assert_eq!(got.data, want.data, "case {i}, relu {relu}: forward");
                assert_eq!(dx_got.data, dx_want.data, "case {i}, relu {relu}: input gradient");
                for (a, b) in fused.params.iter().zip(&plain.params) {
                    assert_eq!(a.grad, b.grad, "case {i}, relu {relu}: {} gradient", a.name);
                }
                assert!(dx_got.data.iter().any(|&v| v != 0.0));
                // A second backward without a new forward is still valid (the choices are
                // kept); a mismatched gradient shape is an error, not a panic.
                let mut dx_again = Tensor::default();
                fused.backward_max_pool(&x, &dp, Some(&mut dx_again), false).unwrap();
                assert_eq!(dx_again.data, dx_want.data, "case {i}, relu {relu}: second backward");
                // Nor does a plain forward of the same input in between lose the choices.
                fused.forward(&x, &mut Tensor::default(), Mode::Train).unwrap();
                fused.backward_max_pool(&x, &dp, Some(&mut dx_again), false).unwrap();
                assert_eq!(dx_again.data, dx_want.data, "case {i}, relu {relu}: backward after a plain forward");
                assert!(fused.backward_max_pool(&x, &Tensor::zeros(&[2, 5, 1, 1]), None, true).is_err());
            }
        }
    }

    /// Backward after an eval-mode forward recomputes the columns and gives the same answer.
    #[test]
    fn backward_after_eval_forward_recomputes_columns() {
        // Strided (rebuilt as im2col columns), and stride 1 with 8 channels (rebuilt as rows,
        // whose weight gradient is summed in another order: equal up to rounding).
        let rows_case: Case = ([8, 6, 7], 3, [3, 2], 1, Padding::HeightWidth([0, 1]), 1, true);
        for (input, oc, k, s, p, d, b) in [CASES[2], rows_case] {
            let x = random_tensor(&[5, input[0], input[1], input[2]], 1);
            let mut grads = Vec::new();
            for mode in [Mode::Train, Mode::Eval] {
                let mut c = conv(input, oc, k, s, p, d, b, 3);
                assert!(!c.uses_winograd());
                let mut y = Tensor::default();
                c.forward(&x, &mut y, mode).unwrap();
                let dy = random_tensor(y.shape(), 2);
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
