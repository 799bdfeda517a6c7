//! How a convolution runs fast: its lowering onto matrix products, chosen once per layer shape,
//! and the scratch each lowering keeps between a forward and its backward.
//!
//! Shapes: `x[N, C, H, W]`, weight `W[OC, C, kh, kw]`, bias `b[OC]`, `y[N, OC, OH, OW]`
//! ([`crate::kernels::geometry`]). With `cols = im2col(x)` of shape `[K = C·kh·kw, P = OH·OW]`
//! per sample:
//!
//! ```text
//! y[OC, P] = W[OC, K] · cols[K, P] + b ⊗ 1ᵀ
//! ∂L/∂W += dy · colsᵀ            ([OC, P] · [P, K])
//! ∂L/∂b += Σ_p dy[·, p]
//! ∂L/∂x  = col2im(Wᵀ · dy)       ([K, OC] · [OC, P], scattered back onto the pixels)
//! ```
//!
//! The lowerings, one file each:
//! * [`columns`]: im2col columns, or channels-last rows for stride-1 layers with enough input
//!   channels (`y = W' · rowsᵀ` with `W'` the weight reordered like the rows), then the products
//!   above;
//! * [`winograd`]: a 3×3 or 5×5, stride-1 convolution with the same padding on every side and
//!   enough input channels runs its forward, input gradient and weight gradient as Winograd
//!   F(2×2, 3×3), F(4×4, 3×3) or F(4×4, 5×5) ([`crate::kernels::winograd`]);
//! * [`taps`]: in inference, a stride-1 im2col layer with few input channels (`C·kh·kw ≤`
//!   [`taps::TAPS_MAX_K`]) runs tap by tap, without columns or GEMM, where that is faster
//!   ([`taps::preferred`]: chosen by the layer, never by the batch size or thread count);
//! * [`direct`]: the seven-loop definition, the reference every lowering is tested against.
//!
//! Every lowering can also pool: [`ConvKernel::forward_pooled`] is the convolution, an optional
//! ReLU and a 2×2, stride-2 max pool in one pass (a Winograd layer pools in its output transform,
//! the others pool each sample's output from a per-thread scratch), recording each window's
//! choice in training; [`ConvKernel::backward`] with [`OutputGrad::Pooled`] spreads the pooled
//! gradient back from those choices before the products above.
//!
//! The batch is split into one contiguous chunk per rayon thread; each chunk accumulates its
//! own weight gradient, and the chunks are summed in order, so results depend only on the
//! thread count.

pub mod columns;
pub mod direct;
pub mod taps;
pub mod winograd;

use crate::error::{Error, Result};
use crate::kernels::geometry::Geometry;
use crate::kernels::winograd::{algorithm_for, Plan};

/// Fewest input channels for which the Winograd lowering is used: below it the transforms
/// cost more than the multiply-adds they save (`cargo run --release --example conv_ab`, batch
/// 64: 1→32 channels at 28×28, forward 1.55 ms Winograd vs 0.30 ms im2col; 4→4 at 14×14,
/// 0.37 vs 0.19 ms; 32→64 at 14×14, 1.21 vs 2.05 ms).
pub const WINOGRAD_MIN_CHANNELS: usize = 8;

/// Fewest input channels for which the columns are channels-last rows
/// ([`Geometry::im2row`]) instead of im2col columns: below it the rows' runs are too short.
pub const ROWS_MIN_CHANNELS: usize = 8;

/// Below this many multiply-adds a single image's convolution stays on one thread.
pub const SPLIT_CHANNELS_MIN_MACS: usize = 200_000;

/// The Winograd plans of a layer it applies to.
#[derive(Clone, Copy)]
pub(crate) struct WinogradPlans {
    pub forward: Plan,
    pub input_grad: Plan,
    pub relu_max_pool: Plan,
}

/// Which lowering a convolution runs (a `Copy` value read at every pass; the plans' size does
/// not matter next to the convolution's work).
#[derive(Clone, Copy)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Lowering {
    /// im2col columns `[K, P]` and GEMMs.
    Im2col,
    /// Channels-last rows `[P, K]` and GEMMs.
    Rows,
    /// Winograd tiles.
    Winograd(WinogradPlans),
}

/// The weights a pass reads.
#[derive(Clone, Copy)]
pub struct ConvWeights<'a> {
    /// `W[OC, C, kh, kw]`.
    pub weight: &'a [f32],
    /// `b[OC]`, if the layer has one.
    pub bias: Option<&'a [f32]>,
}

/// The parameter gradients a backward adds into.
pub struct ConvGrads<'a> {
    pub weight: &'a mut [f32],
    pub bias: Option<&'a mut [f32]>,
}

/// The gradient a backward starts from.
#[derive(Clone, Copy)]
pub enum OutputGrad<'a> {
    /// ∂L/∂y of the convolution's output, `[N, OC, OH, OW]`.
    Full(&'a [f32]),
    /// ∂L/∂(its 2×2 max pool, after a ReLU or not), `[N, OC, ⌊OH/2⌋, ⌊OW/2⌋]`: the backward
    /// of a training [`ConvKernel::forward_pooled`], whose recorded choices it uses.
    Pooled(&'a [f32]),
}

/// A convolution's lowering and its scratch. Buffers grow to the largest batch seen and are
/// reused, so once a batch size has been seen no pass allocates.
pub struct ConvKernel {
    pub(crate) geo: Geometry,
    pub(crate) out_channels: usize,
    pub(crate) lowering: Lowering,
    /// im2col columns (or rows): every sample's after a training forward, one per chunk otherwise.
    pub(crate) cols: Vec<f32>,
    /// Batch size whose columns `cols` holds, if it holds them all.
    pub(crate) cols_cached_for: Option<usize>,
    /// Per-chunk scratch of the backward (and of the pooled forward).
    pub(crate) work: Vec<Vec<f32>>,
    /// The forward's weight in its lowering's layout — Winograd-transformed, or reordered for
    /// rows — valid while `kernels_fresh` (cleared by [`ConvKernel::weights_changed`]).
    pub(crate) kernels: Vec<f32>,
    pub(crate) kernels_fresh: bool,
    /// Winograd kernels of the input gradient — valid while `grad_kernels_fresh` (cleared with
    /// `kernels_fresh`): transformed by a training forward beside the forward's own, or by the
    /// backward.
    pub(crate) grad_kernels: Vec<f32>,
    pub(crate) grad_kernels_fresh: bool,
    /// Per-chunk Winograd scratch.
    pub(crate) winograd_work: Vec<Vec<f32>>,
    /// A single image's Winograd forward split across threads by output channels: each
    /// share's transformed kernels, and the share (output channels) they were made for (`None`
    /// when stale: cleared with `kernels_fresh`).
    pub(crate) split_kernels: Vec<Vec<f32>>,
    pub(crate) split_for: Option<usize>,
    /// After a training [`ConvKernel::forward_pooled`]: each pooled value's position in its
    /// 2×2 window (`2·row + column`), or [`crate::kernels::pool::CLAMPED`] where the ReLU
    /// clamped it (no gradient), for `pooled_for` samples.
    pub(crate) pool_choice: Vec<u8>,
    pub(crate) pooled_for: Option<usize>,
    /// Whether an inference forward may run tap by tap where the geometry allows it
    /// ([`ConvKernel::set_taps`]; on by default).
    pub(crate) taps: bool,
}

impl ConvKernel {
    /// The kernel of a convolution with geometry `geo` and `out_channels` outputs: Winograd
    /// where the geometry allows it and there are at least [`WINOGRAD_MIN_CHANNELS`] input
    /// channels, else rows or im2col.
    pub fn new(geo: Geometry, out_channels: usize) -> Self {
        let mut k = ConvKernel {
            geo,
            out_channels,
            lowering: Lowering::Im2col,
            cols: Vec::new(),
            cols_cached_for: None,
            work: Vec::new(),
            kernels: Vec::new(),
            kernels_fresh: false,
            grad_kernels: Vec::new(),
            grad_kernels_fresh: false,
            winograd_work: Vec::new(),
            split_kernels: Vec::new(),
            split_for: None,
            pool_choice: Vec::new(),
            pooled_for: None,
            taps: true,
        };
        k.set_winograd(geo.channels >= WINOGRAD_MIN_CHANNELS);
        k
    }

    /// Chooses the lowering: Winograd where the geometry allows it (`on`), or rows / im2col.
    /// For benchmarks and tests; forgets every cache.
    pub fn set_winograd(&mut self, on: bool) {
        let geo = self.geo;
        let (c, oc) = (geo.channels, self.out_channels);
        let winograd = algorithm_for(&geo).filter(|_| on).map(|(algorithm, pad)| {
            let forward = Plan::new(algorithm, c, oc, [geo.in_h, geo.in_w], pad, false);
            WinogradPlans { forward, input_grad: forward.input_grad(), relu_max_pool: Plan::new(algorithm, c, oc, [geo.in_h, geo.in_w], pad, true) }
        });
        self.lowering = match winograd {
            Some(plans) => Lowering::Winograd(plans),
            None if geo.has_rows() && geo.channels >= ROWS_MIN_CHANNELS => Lowering::Rows,
            None => Lowering::Im2col,
        };
        self.cols_cached_for = None;
        self.pooled_for = None;
        self.kernels_fresh = false;
        self.grad_kernels_fresh = false;
        self.split_for = None;
    }

    /// Lets an inference forward run tap by tap where the geometry allows it ([`taps`]; the
    /// default), or not: then it lowers onto im2col columns as a training forward does. For
    /// benchmarks and tests.
    pub fn set_taps(&mut self, on: bool) {
        self.taps = on;
    }

    /// True when this convolution runs as Winograd (F(2×2, 3×3), F(4×4, 3×3) or F(4×4, 5×5)).
    pub fn uses_winograd(&self) -> bool {
        matches!(self.lowering, Lowering::Winograd(_))
    }

    /// True when it lowers onto channels-last rows.
    pub fn uses_rows(&self) -> bool {
        matches!(self.lowering, Lowering::Rows)
    }

    /// The weights may have changed: transformed or reordered copies must be rebuilt.
    pub fn weights_changed(&mut self) {
        self.kernels_fresh = false;
        self.grad_kernels_fresh = false;
        self.split_for = None;
    }

    /// `y = conv(x) + b` for `n` samples (`y` sized `n·OC·OH·OW`). With `keep`, the columns are
    /// kept for a backward (training).
    pub fn forward(&mut self, w: ConvWeights, x: &[f32], n: usize, y: &mut [f32], keep: bool) {
        if n == 0 {
            return;
        }
        match self.lowering {
            Lowering::Winograd(plans) => {
                // The backward builds the columns its weight gradient needs.
                self.cols_cached_for = None;
                self.run_winograd(plans.forward, keep.then_some(plans.input_grad), w, x, y, None, false);
            }
            Lowering::Rows => self.forward_rows(w, x, n, y, keep),
            Lowering::Im2col => self.forward_im2col(w, x, n, y, keep),
        }
    }

    /// The convolution, a ReLU if `relu`, and a 2×2, stride-2 max pool in one pass:
    /// `y[N, OC, ⌊OH/2⌋, ⌊OW/2⌋]`, equal (up to float rounding) to the three run one after the
    /// other. With `record` (training), each window's choice is kept (and a lowered
    /// convolution's columns) for [`ConvKernel::backward`] with [`OutputGrad::Pooled`].
    pub fn forward_pooled(&mut self, w: ConvWeights, x: &[f32], n: usize, y: &mut [f32], relu: bool, record: bool) {
        self.cols_cached_for = None;
        self.pooled_for = None;
        if n == 0 {
            return;
        }
        match self.lowering {
            Lowering::Winograd(plans) => {
                self.run_winograd(plans.relu_max_pool, record.then_some(plans.input_grad), w, x, y, Some(relu), record);
                if record {
                    self.pooled_for = Some(n);
                }
            }
            Lowering::Rows | Lowering::Im2col => self.forward_pooled_columns(w, x, n, y, relu, record),
        }
    }

    /// The backward for a batch of `n` from `grad`: with `dx` (sized `n·C·H·W`), ∂L/∂x is
    /// written into it; with `grads`, ∂L/∂W and ∂L/∂b are added into them. A pooled gradient
    /// needs the recorded choices of a training [`ConvKernel::forward_pooled`] of this batch.
    pub fn backward(&mut self, weight: &[f32], x: &[f32], n: usize, grad: OutputGrad, dx: Option<&mut [f32]>, grads: Option<ConvGrads>) -> Result<()> {
        if let OutputGrad::Pooled(dy) = grad {
            let pooled_len = self.out_channels * (self.geo.out_h / 2) * (self.geo.out_w / 2);
            let cols_ready = self.uses_winograd() || self.cols_cached_for == Some(n);
            if self.pooled_for != Some(n) || !cols_ready || dy.len() != n * pooled_len {
                return Err(Error::config("Conv2d: a pooled backward needs a matching training forward with the pool"));
            }
        }
        if n == 0 || (dx.is_none() && grads.is_none()) {
            return Ok(());
        }
        match self.lowering {
            Lowering::Winograd(plans) => self.backward_winograd(plans, weight, x, n, grad, dx, grads),
            Lowering::Rows | Lowering::Im2col => self.backward_columns(weight, x, n, grad, dx, grads),
        }
        Ok(())
    }
}

/// Every output channel's `p` values of one sample set to its bias (or zero), for a GEMM to
/// add onto.
pub(crate) fn fill_bias(ys: &mut [f32], bias: Option<&[f32]>, p: usize) {
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
pub(crate) fn ensure_work(work: &mut Vec<Vec<f32>>, chunks: usize, len: usize) -> &mut [Vec<f32>] {
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

/// Samples per chunk: one contiguous chunk per rayon thread.
pub(crate) fn chunk_len(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads()).max(1)
}
