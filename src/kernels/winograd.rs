//! Winograd minimal filtering F(m×m, r×r) (Lavin & Gray, "Fast Algorithms for Convolutional
//! Neural Networks", 2016): a stride-1 convolution computed on m×m output tiles with α² = (m+r−1)²
//! multiplications per tile and channel pair instead of m²r². Three algorithms:
//!
//! * [`Algorithm::F4x3`]: 3×3 kernels, 4×4 tiles, α = 6 — 36 multiplications for 144
//!   (`keras`'s 3×3 layers, 14×14 and 7×7);
//! * [`Algorithm::F2x3`]: 3×3 kernels, 2×2 tiles, α = 4 — 16 for 36 (outputs so small that
//!   4×4 tiles would overhang them by too much; [`algorithm_for`] chooses);
//! * [`Algorithm::F4x5`]: 5×5 kernels, 4×4 tiles, α = 8 — 64 for 400 (`lenet` conv2).
//!
//! For one channel pair, an r×r kernel `g` and an α×α input tile `d` (padded-input rows
//! `m·ty … m·ty+α−1`, columns `m·tx … m·tx+α−1`):
//!
//! ```text
//! U = G g Gᵀ     V = Bᵀ d B     Y = Aᵀ M A,   M = Σ_c U ⊙ V   (element-wise, α×α)
//! ```
//!
//! with `Aᵀ` (m×α), `G` (α×r) and `Bᵀ` (α×α) the Toom–Cook matrices of the interpolation
//! points 0, ±1 (F2x3), 0, ±1, ±2 (F4x3) or 0, ±1, ±2, ±½ (F4x5), and ∞ (derived exactly and checked against
//! the definition by `docs/winograd-matrices.py`; the tests here check every algorithm
//! against direct convolution). `Y` is the tile's m×m output. The sum over input channels,
//! for each of the α² positions ξ, is a matrix product over every tile of a group of images:
//! `M_ξ[T, OC] = V_ξ[T, C] · U_ξ[C, OC]` — α² GEMMs with `m²r²/α²` fewer multiply-adds than
//! the im2col product (2.25× for F2x3, 4× for F4x3, 6.25× for F4x5).
//!
//! The same routine computes the input gradient of such a convolution: `∂L/∂x` is the
//! convolution of `∂L/∂y`, padded by `r−1−pad`, with the kernels turned by 180° and input and
//! output channels swapped ([`Plan::transform_kernels`] with `for_input_grad`).
//!
//! And its weight gradient: the forward is bilinear, `Y = Aᵀ [(G g Gᵀ) ⊙ V] A`, so its adjoint
//! in `g` is `∂L/∂g = Gᵀ [(A ∂Y Aᵀ) ⊙ V] G` with the forward's own `V` — summed over tiles,
//! `∂U_ξ[OC, C] = Σ_t M'_ξ[t, OC]ᵀ · V_ξ[t, C]` with `M' = A ∂Y Aᵀ` (the tile's m×m output
//! gradient spread onto α×α), α² GEMMs again ([`Plan::accumulate_weight_grad`], then
//! [`Plan::weight_grad_from_transformed`]).
//!
//! Two epilogues write the tiles: [`Epilogue::Store`] (plus bias, the plain convolution) and
//! [`Epilogue::MaxPool`], which fuses bias, an optional ReLU and a 2×2/stride-2 max pool — an
//! m×m output tile holds (m/2)² whole pooling windows — recording each window's choice when
//! asked (training).
//!
//! Every transform works on [`LANES`] channels at once (one vector register), written once
//! over the algorithm's constant matrices (`combine`); inlined with the constants, the zero
//! entries vanish and the ±1 ones become additions.

use crate::kernels::gemm::{sgemm, sgemm_avx2_columns, Strides};
use crate::kernels::pool::CLAMPED;
use rayon::prelude::*;

// The pooled output's choices are masked to all ones where the ReLU clamps a window.
const _: () = assert!(CLAMPED == u8::MAX);
use crate::kernels::simd::{multiversion, transpose16, LANES};

/// A Winograd algorithm F(m×m, r×r).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// F(2×2, 3×3).
    F2x3,
    /// F(4×4, 5×5).
    F4x5,
    /// F(4×4, 3×3).
    F4x3,
}

impl Algorithm {
    /// The algorithm for a square kernel of this size, if there is one (for 3×3 the one with
    /// smaller tiles; [`algorithm_for`] chooses by the output's size).
    pub fn for_kernel(r: usize) -> Option<Algorithm> {
        match r {
            3 => Some(Algorithm::F2x3),
            5 => Some(Algorithm::F4x5),
            _ => None,
        }
    }

    /// Output tile side m.
    pub const fn m(self) -> usize {
        match self {
            Algorithm::F2x3 => 2,
            Algorithm::F4x5 | Algorithm::F4x3 => 4,
        }
    }

    /// Kernel side r.
    pub const fn r(self) -> usize {
        match self {
            Algorithm::F2x3 | Algorithm::F4x3 => 3,
            Algorithm::F4x5 => 5,
        }
    }

    /// Transformed tile side α = m + r − 1.
    pub const fn alpha(self) -> usize {
        self.m() + self.r() - 1
    }

    /// Positions ξ of a transformed tile, α².
    const fn positions(self) -> usize {
        self.alpha() * self.alpha()
    }

    /// Multiplications per channel pair over an `oh × ow` output: α² for each m×m tile of the
    /// grid that covers it (tiles that overhang the output cost as much as whole ones).
    const fn multiplications(self, oh: usize, ow: usize) -> usize {
        oh.div_ceil(self.m()) * ow.div_ceil(self.m()) * self.positions()
    }

    /// Tiles per GEMM (over a group of images) that the grouping aims for: large enough that
    /// the α² products are not dominated by per-call overhead, small enough that the
    /// transformed tiles stay in the core's L2 cache. (`lenet` conv2 with F4x5, profile_step:
    /// 24 tiles ran at half the speed of 48; 32 … 128 were alike within this machine's noise.)
    const fn target_tiles(self) -> usize {
        match self {
            Algorithm::F2x3 => 96,
            Algorithm::F4x5 => 48,
            Algorithm::F4x3 => 64,
        }
    }
}

/// The transform matrices of one algorithm: `at` = Aᵀ (m×α), `a` = A (α×m), `g` = G (α×r),
/// `gt` = Gᵀ (r×α), `bt` = Bᵀ (α×α).
struct Matrices<const M: usize, const R: usize, const A: usize> {
    at: [[f32; A]; M],
    a: [[f32; M]; A],
    g: [[f32; R]; A],
    gt: [[f32; A]; R],
    bt: [[f32; A]; A],
}

/// The transpose of a constant matrix.
const fn transpose<const R: usize, const C: usize>(m: [[f32; C]; R]) -> [[f32; R]; C] {
    let mut t = [[0.0; R]; C];
    let mut i = 0;
    while i < R {
        let mut j = 0;
        while j < C {
            t[j][i] = m[i][j];
            j += 1;
        }
        i += 1;
    }
    t
}

impl<const M: usize, const R: usize, const A: usize> Matrices<M, R, A> {
    const fn new(at: [[f32; A]; M], g: [[f32; R]; A], bt: [[f32; A]; A]) -> Self {
        Matrices { at, a: transpose(at), g, gt: transpose(g), bt }
    }
}

/// F(2×2, 3×3): points 0, 1, −1, ∞.
const F2X3: Matrices<2, 3, 4> = Matrices::new(
    [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, 1.0]],
    [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]],
    [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, -1.0, 0.0, 1.0]],
);

/// F(4×4, 5×5): points 0, 1, −1, 2, −2, ½, −½, ∞.
const F4X5: Matrices<4, 5, 8> = Matrices::new(
    [
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 0.0],
        [0.0, 1.0, 1.0, 4.0, 4.0, 0.25, 0.25, 0.0],
        [0.0, 1.0, -1.0, 8.0, -8.0, 0.125, -0.125, 1.0],
    ],
    [
        [1.0, 0.0, 0.0, 0.0, 0.0],
        [-2.0 / 9.0, -2.0 / 9.0, -2.0 / 9.0, -2.0 / 9.0, -2.0 / 9.0],
        [-2.0 / 9.0, 2.0 / 9.0, -2.0 / 9.0, 2.0 / 9.0, -2.0 / 9.0],
        [1.0 / 90.0, 1.0 / 45.0, 2.0 / 45.0, 4.0 / 45.0, 8.0 / 45.0],
        [1.0 / 90.0, -1.0 / 45.0, 2.0 / 45.0, -4.0 / 45.0, 8.0 / 45.0],
        [32.0 / 45.0, 16.0 / 45.0, 8.0 / 45.0, 4.0 / 45.0, 2.0 / 45.0],
        [32.0 / 45.0, -16.0 / 45.0, 8.0 / 45.0, -4.0 / 45.0, 2.0 / 45.0],
        [0.0, 0.0, 0.0, 0.0, 1.0],
    ],
    [
        [1.0, 0.0, -5.25, 0.0, 5.25, 0.0, -1.0, 0.0],
        [0.0, 1.0, 1.0, -4.25, -4.25, 1.0, 1.0, 0.0],
        [0.0, -1.0, 1.0, 4.25, -4.25, -1.0, 1.0, 0.0],
        [0.0, 0.5, 0.25, -2.5, -1.25, 2.0, 1.0, 0.0],
        [0.0, -0.5, 0.25, 2.5, -1.25, -2.0, 1.0, 0.0],
        [0.0, 2.0, 4.0, -2.5, -5.0, 0.5, 1.0, 0.0],
        [0.0, -2.0, 4.0, 2.5, -5.0, -0.5, 1.0, 0.0],
        [0.0, -1.0, 0.0, 5.25, 0.0, -5.25, 0.0, 1.0],
    ],
);

/// F(4×4, 3×3): points 0, 1, −1, 2, −2, ∞ (Lavin & Gray's matrices).
const F4X3: Matrices<4, 3, 6> = Matrices::new(
    [[1.0, 1.0, 1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, 2.0, -2.0, 0.0], [0.0, 1.0, 1.0, 4.0, 4.0, 0.0], [0.0, 1.0, -1.0, 8.0, -8.0, 1.0]],
    [
        [0.25, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ],
    [
        [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
        [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
        [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
        [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
        [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
    ],
);

/// Runs `$body` with `$i` bound to 0, 1, …, `$n − 1` (`$n` a constant ≤ 8), one copy per
/// value: the transforms' short loops unrolled, so that their matrices' entries are constants
/// at every use (the compiler keeps loops this size rolled, reading the entries at run time).
macro_rules! unroll {
    ($n:expr, |$i:ident| $body:block) => {{
        const { assert!($n <= 8) };
        unroll!(@ $n, $i, $body; 0 1 2 3 4 5 6 7)
    }};
    (@ $n:expr, $i:ident, $body:block; $($k:literal)*) => {{
        $(
            if $k < $n {
                let $i: usize = $k;
                $body
            }
        )*
    }};
}

/// `out[o] = Σ_i mat[o][i] · src[i]`, lane-wise. Inlined with a constant `mat`, the zero
/// terms are dropped and multiplications by ±1 become additions.
#[inline(always)]
#[allow(unused_assignments)] // `first` after the last term
fn combine<const I: usize, const O: usize>(mat: &[[f32; I]; O], src: &[[f32; LANES]; I]) -> [[f32; LANES]; O] {
    let mut out = [[0.0f32; LANES]; O];
    unroll!(O, |o| {
        let mut first = true;
        unroll!(I, |i| {
            let c = mat[o][i];
            if c != 0.0 {
                for (d, &v) in out[o].iter_mut().zip(&src[i]) {
                    *d = if first { c * v } else { *d + c * v };
                }
                first = false;
            }
        });
    });
    out
}

/// `left · x · rightᵀ` on [`LANES`]-wide entries (`x` is I×J, `left` O×I, `right` P×J): the
/// columns of `x` (entry (i, j) from `x(i, j)`) combined by `left` into `tmp` (O·J entries),
/// then the rows of that by `right`, each result row handed to `emit(o, row)`. Working one
/// column or row at a time keeps every array the compiler sees small enough to live in
/// vector registers.
#[inline(always)]
fn sandwich<const I: usize, const J: usize, const O: usize, const P: usize>(
    left: &[[f32; I]; O],
    right: &[[f32; J]; P],
    x: impl Fn(usize, usize) -> [f32; LANES],
    tmp: &mut [[f32; LANES]],
    mut emit: impl FnMut(usize, &[[f32; LANES]; P]),
) {
    let tmp = &mut tmp[..O * J];
    unroll!(J, |j| {
        let mut col = [[0.0f32; LANES]; I];
        unroll!(I, |i| {
            col[i] = x(i, j);
        });
        let out = combine(left, &col);
        unroll!(O, |o| {
            tmp[o * J + j] = out[o];
        });
    });
    unroll!(O, |o| {
        let mut row = [[0.0f32; LANES]; J];
        unroll!(J, |j| {
            row[j] = tmp[o * J + j];
        });
        emit(o, &combine(right, &row));
    });
}

/// Whether [`Plan::run`] goes one output-channel block at a time ([`Plan::run_by_output_block`],
/// on CPUs with AVX2 and FMA but no AVX-512), which reads the transformed kernels laid out by
/// block, or by position ([`Plan::run_by_position`]). Fixed for the process.
fn kernels_by_block() -> bool {
    crate::kernels::simd::level() == crate::kernels::simd::Level::Avx2Fma
}

/// Tiles per group of [`Plan::run_by_output_block`]: `V` of `keras` conv3 (64 channels,
/// α² = 36) is 147 KB for 16 tiles, beside a block's `U` (147 KB) and `M` (37 KB) in a 512 KB L2.
const BLOCK_TILES: usize = 16;

/// Entries of the scratch a transform's intermediate `left · x` needs: at most α × α.
const TILE_SCRATCH: usize = 64;

/// Floats between consecutive transformed matrices (V_ξ, M_ξ), so that the α² streams a
/// transform reads or writes never sit a power of two apart (cache-set conflicts).
const SKEW: usize = 16;

/// The Winograd algorithm and padding for a convolution with this geometry, if one applies:
/// a square 3×3 or 5×5 kernel, stride 1, dilation 1, the same padding (at most r−1) on
/// every side. For 3×3, F(4×4, 3×3) where its tiles need fewer multiplications than
/// F(2×2, 3×3)'s over this output (`keras`'s 14×14: 16 tiles × 36 against 49 × 16; 7×7:
/// 4 × 36 against 16 × 16), F(2×2, 3×3) where they need as many or more (1, 2, 5 or 6 pixels
/// a side).
pub fn algorithm_for(geo: &crate::kernels::geometry::Geometry) -> Option<(Algorithm, usize)> {
    let mut algorithm = Algorithm::for_kernel(geo.kernel_h).filter(|_| geo.kernel_w == geo.kernel_h)?;
    if algorithm == Algorithm::F2x3 && Algorithm::F4x3.multiplications(geo.out_h, geo.out_w) < algorithm.multiplications(geo.out_h, geo.out_w) {
        algorithm = Algorithm::F4x3;
    }
    let pad = geo.pad_top;
    let uniform = [geo.pad_bottom, geo.pad_left, geo.pad_right].iter().all(|&p| p == pad);
    let unit = geo.stride_h == 1 && geo.stride_w == 1 && geo.dilation_h == 1 && geo.dilation_w == 1;
    (uniform && unit && pad < algorithm.r()).then_some((algorithm, pad))
}

/// How the output tiles are written.
#[derive(Clone, Copy)]
pub enum Epilogue<'a> {
    /// `y[OC, OH, OW] = conv + bias`.
    Store { bias: Option<&'a [f32]> },
    /// `y[OC, ⌊OH/2⌋, ⌊OW/2⌋] = max over each 2×2 window of (conv + bias)`, clamped at zero
    /// with `relu`: the convolution, a ReLU and a 2×2, stride-2 max pool in one pass.
    MaxPool { bias: Option<&'a [f32]>, relu: bool },
}

/// Shapes of one Winograd convolution over `[C, H, W]` samples, padded by `pad` on every
/// side, into `[OC, OH, OW]` (`OH = H + 2·pad − r + 1`).
///
/// Channels are handled in blocks of [`LANES`] (one vector register; the last block padded
/// with zeros): the input is copied once into a padded, channel-blocked image
/// `[C/16][PH][PW][16]`, so that every transform works on whole registers, and the
/// transformed tiles are laid out `V_ξ[T, C]`, `M_ξ[T, OC]`.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    algorithm: Algorithm,
    pub in_channels: usize,
    pub out_channels: usize,
    pub h: usize,
    pub w: usize,
    pad: usize,
    out_h: usize,
    out_w: usize,
    /// Tiles per image computed: ⌈OH/m⌉ × ⌈OW/m⌉ for the plain convolution; enough to cover
    /// the ⌊OH/2⌋ × ⌊OW/2⌋ pooling windows when only the pooled output is wanted.
    tiles_h: usize,
    tiles_w: usize,
    /// Images per group (per set of α² GEMMs).
    group: usize,
}

impl Plan {
    /// A plan for samples of `[in_channels, h, w]` padded by `pad` (< r, and the padded
    /// input at least r wide); `pooled` when the epilogue is [`Epilogue::MaxPool`].
    pub fn new(algorithm: Algorithm, in_channels: usize, out_channels: usize, [h, w]: [usize; 2], pad: usize, pooled: bool) -> Plan {
        let (m, r) = (algorithm.m(), algorithm.r());
        debug_assert!(pad < r && h + 2 * pad >= r && w + 2 * pad >= r);
        let (out_h, out_w) = (h + 2 * pad + 1 - r, w + 2 * pad + 1 - r);
        let (cover_h, cover_w) = if pooled { (out_h / 2 * 2, out_w / 2 * 2) } else { (out_h, out_w) };
        let (tiles_h, tiles_w) = (cover_h.div_ceil(m), cover_w.div_ceil(m));
        let per_image = (tiles_h * tiles_w).max(1);
        let group = algorithm.target_tiles().div_ceil(per_image);
        Plan { algorithm, in_channels, out_channels, h, w, pad, out_h, out_w, tiles_h, tiles_w, group }
    }

    /// The same plan for `out_channels` of its output channels: a share of them, run on one
    /// thread with that share's kernels ([`Plan::transform_kernels`] of its rows of the weight).
    pub fn with_out_channels(&self, out_channels: usize) -> Plan {
        Plan { out_channels, ..*self }
    }

    /// The plan of this convolution's input gradient: the output gradient `[OC, OH, OW]`,
    /// padded by `r − 1 − pad`, convolved into `[C, H, W]`.
    pub fn input_grad(&self) -> Plan {
        let r = self.algorithm.r();
        Plan::new(self.algorithm, self.out_channels, self.in_channels, [self.out_h, self.out_w], r - 1 - self.pad, false)
    }

    /// Images per group for a run over `n`: as many groups as [`Plan::group`] needs, evened
    /// out (16 images with groups of 12 run as 8 + 8, not 12 + 4 with a starved second GEMM).
    fn balanced_group(&self, n: usize) -> usize {
        balanced(n, self.group)
    }

    /// Floats of one sample's output with this epilogue.
    fn out_len(&self, epilogue: Epilogue) -> usize {
        match epilogue {
            Epilogue::Store { .. } => self.out_channels * self.out_h * self.out_w,
            Epilogue::MaxPool { .. } => self.out_channels * (self.out_h / 2) * (self.out_w / 2),
        }
    }

    fn tiles_per_image(&self) -> usize {
        self.tiles_h * self.tiles_w
    }

    fn positions(&self) -> usize {
        self.algorithm.positions()
    }

    /// Input and output channels rounded up to whole blocks.
    fn padded_channels(&self) -> (usize, usize) {
        (self.in_channels.div_ceil(LANES) * LANES, self.out_channels.div_ceil(LANES) * LANES)
    }

    /// Rows and columns of the padded image: every tile's α×α input.
    fn padded(&self) -> (usize, usize) {
        let (m, r) = (self.algorithm.m(), self.algorithm.r());
        (self.tiles_h * m + r - 1, self.tiles_w * m + r - 1)
    }

    /// Floats of the padded, channel-blocked image.
    fn blocked_len(&self) -> usize {
        let (ph, pw) = self.padded();
        self.padded_channels().0 * ph * pw
    }

    /// Floats of the output gradient blocked by tiles (`[OC/16][tiles·m][tiles·m][16]`).
    fn blocked_grad_len(&self) -> usize {
        let m = self.algorithm.m();
        self.padded_channels().1 * self.tiles_h * m * self.tiles_w * m
    }

    /// Scratch floats one thread needs: the blocked image, V (α²·T·C) and M (α²·T·OC), each
    /// of the last two with a skew between its matrices, and one row of output tiles
    /// channels-last (m image rows of 16 channels) on its way back to NCHW.
    pub fn work_len(&self) -> usize {
        let (cp, ocp) = self.padded_channels();
        let t = self.group * self.tiles_per_image();
        let xi = self.positions();
        self.blocked_len() + xi * (t * cp + SKEW) + xi * (t * ocp + SKEW) + self.stage_len()
    }

    /// Floats of the output staging row: m image rows of [`LANES`] channels.
    fn stage_len(&self) -> usize {
        self.algorithm.m() * self.tiles_w * self.algorithm.m() * LANES
    }

    /// `work` cut into the blocked image, the largest V and M (see [`Plan::work_len`]) and
    /// the rest.
    fn split_work<'w>(&self, work: &'w mut [f32]) -> (&'w mut [f32], &'w mut [f32], &'w mut [f32], &'w mut [f32]) {
        let (cp, ocp) = self.padded_channels();
        let tmax = self.group * self.tiles_per_image();
        let xi = self.positions();
        let (blocked, rest) = work.split_at_mut(self.blocked_len());
        let (v, rest) = rest.split_at_mut(xi * (tmax * cp + SKEW));
        let (m, rest) = rest.split_at_mut(xi * (tmax * ocp + SKEW));
        (blocked, v, m, rest)
    }

    /// Floats of the transformed kernels `U`: α²·C·OC (channels rounded up to blocks).
    pub fn kernels_len(&self) -> usize {
        let (cp, ocp) = self.padded_channels();
        self.positions() * cp * ocp
    }

    /// `U_ξ[i, o] = (G g Gᵀ)_ξ` for this plan's kernels `g`, `u` of [`Plan::kernels_len`]
    /// floats, laid out as this CPU's [`Plan::run`] reads them: `U_ξ[C, OC]` one position after
    /// another, or `U[OC/16][α²][C][16]` block by block where it runs by output block. For the
    /// forward `w` is the layer's `[OC, C, r, r]` weight and `g = w[o, i]`; with
    /// `for_input_grad` the plan runs the input-gradient convolution (its input channels are
    /// the layer's outputs), `w` is still the layer's weight and `g` is `w[i, o]` turned by
    /// 180°.
    pub fn transform_kernels(&self, w: &[f32], for_input_grad: bool, u: &mut [f32]) {
        let r = self.algorithm.r();
        debug_assert_eq!(w.len(), self.in_channels * self.out_channels * r * r);
        debug_assert_eq!(u.len(), self.kernels_len());
        transform_kernels(self, w, for_input_grad, kernels_by_block(), u);
    }

    /// [`Plan::transform_kernels`] in the layout [`Plan::run_by_output_block`] reads
    /// (`by_block`: `U[OC/16][α²][C][16]`) or the one [`Plan::run_by_position`] reads
    /// (`U_ξ[C, OC]`).
    #[cfg(test)]
    fn transform_kernels_as(&self, w: &[f32], for_input_grad: bool, by_block: bool, u: &mut [f32]) {
        transform_kernels(self, w, for_input_grad, by_block, u);
    }

    /// Floats of the transformed weight gradient `∂U`: as [`Plan::kernels_len`], laid out
    /// `∂U_ξ[OC, C]` (output channels rounded up to blocks, then input channels).
    pub fn weight_grad_len(&self) -> usize {
        self.kernels_len()
    }

    /// Scratch floats one thread needs for [`Plan::accumulate_weight_grad`]: those of
    /// [`Plan::run`] plus the blocked output gradient.
    pub fn weight_grad_work_len(&self) -> usize {
        self.work_len() - self.stage_len() + self.blocked_grad_len()
    }

    /// `∂U_ξ[o, c] += Σ_t M'_ξ[t, o] · V_ξ[t, c]` over every tile of the samples `x`
    /// (`[C, H, W]` each) and their output gradients `dy` (`[OC, OH, OW]` each, this plan's
    /// plain forward), `du` of [`Plan::weight_grad_len`] floats; `work` of at least
    /// [`Plan::weight_grad_work_len`]. Output positions past the image (tiles that overhang)
    /// have zero gradient, so those tiles contribute only what they should.
    pub fn accumulate_weight_grad(&self, x: &[f32], dy: &[f32], du: &mut [f32], work: &mut [f32]) {
        let (cp, ocp) = self.padded_channels();
        let (in_len, out_len) = (self.in_channels * self.h * self.w, self.out_channels * self.out_h * self.out_w);
        debug_assert_eq!(du.len(), self.weight_grad_len());
        debug_assert_eq!(x.len() / in_len, dy.len() / out_len);
        let (tpi, xi_count, m_side) = (self.tiles_per_image(), self.positions(), self.algorithm.m());
        let (blocked, v, m, rest) = self.split_work(work);
        let blocked_dy = &mut rest[..self.blocked_grad_len()];
        let (gh, gw) = (self.tiles_h * m_side, self.tiles_w * m_side);
        let group = self.balanced_group(x.len() / in_len);
        for (xs, dys) in x.chunks(group * in_len).zip(dy.chunks(group * out_len)) {
            let t = (xs.len() / in_len) * tpi;
            let (v_stride, m_stride) = (t * cp + SKEW, t * ocp + SKEW);
            let v = &mut v[..xi_count * v_stride];
            let m = &mut m[..xi_count * m_stride];
            for (img, (xi, dyi)) in xs.chunks(in_len).zip(dys.chunks(out_len)).enumerate() {
                self.block_input(xi, blocked);
                transform_input(self, blocked, v, img * tpi);
                block_channels(dyi, self.out_channels, [self.out_h, self.out_w], 0, [gh, gw], blocked_dy);
                transform_output_grad(self, blocked_dy, m, img * tpi);
            }
            for xi in 0..xi_count {
                // Whole channel blocks (`ocp`, `cp`): with every dimension the GEMM kernel
                // vectorises a multiple of 16, it reads the operands in place (no packing).
                sgemm(
                    ocp,
                    t,
                    cp,
                    1.0,
                    &m[xi * m_stride..xi * m_stride + t * ocp],
                    Strides::transposed(ocp),
                    &v[xi * v_stride..xi * v_stride + t * cp],
                    Strides::row_major(cp),
                    1.0,
                    &mut du[xi * ocp * cp..(xi + 1) * ocp * cp],
                    Strides::row_major(cp),
                );
            }
        }
    }

    /// `∂W[o, c] += Gᵀ ∂U[o, c] G` for every channel pair: the weight gradient, `[OC, C, r, r]`
    /// as the layer stores it, from `du` of [`Plan::accumulate_weight_grad`]. The output
    /// channels are shared among the threads (each channel's arithmetic is the same whatever
    /// the share).
    pub fn weight_grad_from_transformed(&self, du: &[f32], dw: &mut [f32]) {
        let r = self.algorithm.r();
        debug_assert_eq!(du.len(), self.weight_grad_len());
        debug_assert_eq!(dw.len(), self.in_channels * self.out_channels * r * r);
        let per_channel = (self.in_channels * r * r).max(1);
        let share = self.out_channels.div_ceil(rayon::current_num_threads()).max(1);
        dw.par_chunks_mut(share * per_channel).enumerate().for_each(|(t, dw)| weight_grad_from_transformed(self, du, t * share, dw));
    }

    /// Runs the convolution over `x` (whole `[C, H, W]` samples, any count) into `y` (the
    /// same count of outputs, shaped by the epilogue), with kernels `u` from
    /// [`Plan::transform_kernels`] and `work` of at least [`Plan::work_len`] floats.
    ///
    /// With [`Epilogue::MaxPool`] and a non-empty `choice` (one byte per pooled value), each
    /// window's maximum is recorded as `2·row + column` (the first on ties, as the max-pool
    /// layer picks it) or [`CLAMPED`] where the ReLU clamped the window, for the backward.
    pub fn run(&self, u: &[f32], x: &[f32], y: &mut [f32], epilogue: Epilogue, choice: &mut [u8], work: &mut [f32]) {
        let (in_len, out_len) = (self.in_channels * self.h * self.w, self.out_len(epilogue));
        debug_assert_eq!(u.len(), self.kernels_len());
        debug_assert!(out_len == 0 || x.len() / in_len == y.len() / out_len);
        debug_assert!(choice.is_empty() || (matches!(epilogue, Epilogue::MaxPool { .. }) && choice.len() == y.len()));
        if kernels_by_block() {
            self.run_by_output_block(u, x, y, epilogue, choice, work);
        } else {
            self.run_by_position(u, x, y, epilogue, choice, work);
        }
    }

    /// [`Plan::run`] as α² whole products per group of images: `M_ξ[T, OC] = V_ξ · U_ξ` for
    /// every position, then the output transform of every tile. The `gemm` crate's products
    /// (on every CPU but those with AVX2 and no AVX-512).
    fn run_by_position(&self, u: &[f32], x: &[f32], y: &mut [f32], epilogue: Epilogue, choice: &mut [u8], work: &mut [f32]) {
        let (cp, ocp) = self.padded_channels();
        let (in_len, out_len) = (self.in_channels * self.h * self.w, self.out_len(epilogue));
        let (tpi, xi_count) = (self.tiles_per_image(), self.positions());
        let (blocked, v, m, rest) = self.split_work(work);
        let stage = &mut rest[..self.stage_len()];
        let group = self.balanced_group(x.len() / in_len);
        let record = !choice.is_empty();
        for (gi, (xs, ys)) in x.chunks(group * in_len).zip(y.chunks_mut((group * out_len).max(1))).enumerate() {
            let t = (xs.len() / in_len) * tpi;
            let (v_stride, m_stride) = (t * cp + SKEW, t * ocp + SKEW);
            let v = &mut v[..xi_count * v_stride];
            for (img, xi) in xs.chunks(in_len).enumerate() {
                self.block_input(xi, blocked);
                transform_input(self, blocked, v, img * tpi);
            }
            for xi in 0..xi_count {
                let (v_xi, u_xi) = (&v[xi * v_stride..xi * v_stride + t * cp], &u[xi * cp * ocp..(xi + 1) * cp * ocp]);
                let m_xi = &mut m[xi * m_stride..xi * m_stride + t * ocp];
                // The true input channels (the padded ones of V are zero), and whole blocks of
                // output channels (so the kernel reads U in place, no packing).
                sgemm(t, self.in_channels, ocp, 1.0, v_xi, Strides::row_major(cp), u_xi, Strides::row_major(ocp), 0.0, m_xi, Strides::row_major(ocp));
            }
            for (img, yi) in ys.chunks_mut(out_len.max(1)).enumerate() {
                let at = (gi * group + img) * out_len;
                let choice: &mut [u8] = if record { &mut choice[at..at + out_len] } else { &mut [] };
                let view = MView { m: &m[..xi_count * m_stride], row: ocp, blocks: (0, ocp / LANES) };
                transform_output(self, view, img * tpi, epilogue, yi, stage, choice);
            }
        }
    }

    /// [`Plan::run`] one output-channel block at a time, on CPUs with AVX2 and FMA but no
    /// AVX-512: for a group of about [`BLOCK_TILES`] tiles, `V` of every position, then for
    /// each block of 16 output channels the α² products `M_ξ[T, 16] = V_ξ · U_ξ[·, block]`
    /// (`T × C × 16`, our AVX2 kernel with the `gemm` crate's bits there) and at once the output
    /// transform of that block. The transformed tiles of a group (`V`, and `M` of one block)
    /// stay in the core's L2 and `U` streams through a block at a time, where
    /// [`Plan::run_by_position`]'s whole `M` (0.6–1.2 MB for `keras` conv2 and conv3) went out to
    /// L3 and back and its products waited on memory (`docs/experiments`, "Every Winograd
    /// product on our own kernel"). The same arithmetic in the same order, so the same bits.
    fn run_by_output_block(&self, u: &[f32], x: &[f32], y: &mut [f32], epilogue: Epilogue, choice: &mut [u8], work: &mut [f32]) {
        let (cp, ocp) = self.padded_channels();
        let (in_len, out_len) = (self.in_channels * self.h * self.w, self.out_len(epilogue));
        let (tpi, xi_count) = (self.tiles_per_image(), self.positions());
        let (blocked, v, m, rest) = self.split_work(work);
        let stage = &mut rest[..self.stage_len()];
        // About BLOCK_TILES tiles a group (at least one image, at most the group `work` was
        // sized for).
        let group = balanced(x.len() / in_len, BLOCK_TILES.div_ceil(tpi.max(1)).clamp(1, self.group));
        let record = !choice.is_empty();
        for (gi, (xs, ys)) in x.chunks(group * in_len).zip(y.chunks_mut((group * out_len).max(1))).enumerate() {
            let t = (xs.len() / in_len) * tpi;
            let (v_stride, m_stride) = (t * cp + SKEW, t * LANES + SKEW);
            let v = &mut v[..xi_count * v_stride];
            let m = &mut m[..xi_count * m_stride];
            for (img, xi) in xs.chunks(in_len).enumerate() {
                self.block_input(xi, blocked);
                transform_input(self, blocked, v, img * tpi);
            }
            for block in 0..ocp / LANES {
                for xi in 0..xi_count {
                    let v_xi = &v[xi * v_stride..xi * v_stride + t * cp];
                    let at = (block * xi_count + xi) * cp * LANES;
                    let u_xi = &u[at..at + cp * LANES];
                    let m_xi = &mut m[xi * m_stride..xi * m_stride + t * LANES];
                    // The true input channels (the padded ones of V are zero), as the crate's
                    // products in `run_by_position`; the crate where our kernel does not apply.
                    if !sgemm_avx2_columns(t, self.in_channels, LANES, v_xi, cp, u_xi, LANES, m_xi, LANES) {
                        sgemm(
                            t,
                            self.in_channels,
                            LANES,
                            1.0,
                            v_xi,
                            Strides::row_major(cp),
                            u_xi,
                            Strides::row_major(LANES),
                            0.0,
                            m_xi,
                            Strides::row_major(LANES),
                        );
                    }
                }
                for (img, yi) in ys.chunks_mut(out_len.max(1)).enumerate() {
                    let at = (gi * group + img) * out_len;
                    let choice: &mut [u8] = if record { &mut choice[at..at + out_len] } else { &mut [] };
                    let view = MView { m, row: LANES, blocks: (block, block + 1) };
                    transform_output(self, view, img * tpi, epilogue, yi, stage, choice);
                }
            }
        }
    }

    /// This plan's input, padded and channel-blocked (see [`block_channels`]).
    fn block_input(&self, x: &[f32], blocked: &mut [f32]) {
        block_channels(x, self.in_channels, [self.h, self.w], self.pad, [self.padded().0, self.padded().1], blocked);
    }
}

/// Images per group for a run over `n` with groups of at most `most`, evened out.
fn balanced(n: usize, most: usize) -> usize {
    n.div_ceil(n.div_ceil(most).max(1)).max(1)
}

/// `blocked[c / 16][r + pad][q + pad][c % 16] = x[c, r, q]` for the image pixels that fit in
/// `[ph, pw]`, zero elsewhere: sixteen channel planes at a time, sixteen pixels at a time,
/// through a 16×16 transpose. `x` is `[channels, h, w]`.
fn block_channels(x: &[f32], channels: usize, [h, w]: [usize; 2], pad: usize, [ph, pw]: [usize; 2], blocked: &mut [f32]) {
    // Image rows and columns that land inside the padded image.
    let (hc, wc) = (h.min(ph.saturating_sub(pad)), w.min(pw.saturating_sub(pad)));
    let hw = h * w;
    let mut pixels = [[0.0f32; LANES]; LANES];
    let mut lanes = [[0.0f32; LANES]; LANES];
    for (block, plane) in blocked.chunks_mut(ph * pw * LANES).enumerate() {
        // Every lane of rows pad…pad+hc, columns pad…pad+wc is written below: zero the rest.
        for (r, row) in plane.chunks_mut(pw * LANES).enumerate() {
            if r < pad || r >= pad + hc {
                row.fill(0.0);
            } else {
                row[..pad * LANES].fill(0.0);
                row[(pad + wc) * LANES..].fill(0.0);
            }
        }
        let c0 = block * LANES;
        let valid = LANES.min(channels - c0);
        // Channels past the last are zero (`lanes` rows never written).
        lanes[valid..].iter_mut().for_each(|row| row.fill(0.0));
        let (mut r, mut q) = (0, 0);
        for p0 in (0..hc * w).step_by(LANES) {
            let n = LANES.min(hc * w - p0);
            for (l, row) in lanes[..valid].iter_mut().enumerate() {
                let at = (c0 + l) * hw + p0;
                if n == LANES {
                    // A constant length: an inlined vector copy, not a memmove call.
                    *row = load(x, at);
                } else {
                    row[..n].copy_from_slice(&x[at..at + n]);
                }
            }
            transpose16(&lanes, &mut pixels);
            for px in &pixels[..n] {
                if q < wc {
                    let at = ((r + pad) * pw + q + pad) * LANES;
                    plane[at..at + LANES].copy_from_slice(px);
                }
                q += 1;
                if q == w {
                    (r, q) = (r + 1, 0);
                }
            }
        }
    }
}

/// A register's worth of floats from `src[at..]`.
#[inline(always)]
fn load(src: &[f32], at: usize) -> [f32; LANES] {
    let mut a = [0.0; LANES];
    a.copy_from_slice(&src[at..at + LANES]);
    a
}

/// Runs `$body` with `$mat` bound to the plan's algorithm's matrices (each arm compiled with
/// its own constants).
macro_rules! with_matrices {
    ($plan:expr, $mat:ident => $body:expr) => {
        match $plan.algorithm {
            Algorithm::F2x3 => {
                let $mat = &F2X3;
                $body
            }
            Algorithm::F4x5 => {
                let $mat = &F4X5;
                $body
            }
            Algorithm::F4x3 => {
                let $mat = &F4X3;
                $body
            }
        }
    };
}

/// `U = G g Gᵀ` (see [`Plan::transform_kernels`]) for sixteen output channels at a time: their
/// kernel values gathered into registers, the transform done lane-wise, and each of the α²
/// `U_ξ` rows stored whole.
#[inline(always)]
fn transform_kernels_kernel(plan: &Plan, w: &[f32], for_input_grad: bool, by_block: bool, u: &mut [f32]) {
    with_matrices!(plan, mat => kernels_with(mat, plan, w, for_input_grad, by_block, u))
}

#[inline(always)]
fn kernels_with<const M: usize, const R: usize, const A: usize>(
    mat: &Matrices<M, R, A>,
    plan: &Plan,
    w: &[f32],
    for_input_grad: bool,
    by_block: bool,
    u: &mut [f32],
) {
    let (cin, cout) = (plan.in_channels, plan.out_channels);
    let (cp, ocp) = plan.padded_channels();
    let taps = R * R;
    let mut tmp = [[0.0f32; LANES]; TILE_SCRATCH];
    if (cin, cout) != (cp, ocp) {
        // Padded channels stay zero; without them every entry is written below.
        u.fill(0.0);
    }
    for i in 0..cin {
        for o0 in (0..cout).step_by(LANES) {
            let valid = LANES.min(cout - o0);
            // g[a][b][lane] = kernel (i, o0 + lane) at row a, column b.
            let mut g = [[[0.0f32; LANES]; R]; R];
            for lane in 0..valid {
                let o = o0 + lane;
                let first = if for_input_grad { (i * cout + o) * taps } else { (o * cin + i) * taps };
                let k = &w[first..first + taps];
                for (a, row) in g.iter_mut().enumerate() {
                    for (b, v) in row.iter_mut().enumerate() {
                        // Turning a kernel by 180° reverses its values.
                        v[lane] = if for_input_grad { k[taps - 1 - (a * R + b)] } else { k[a * R + b] };
                    }
                }
            }
            // Read back whole: without the barrier the compiler forwards the scalar stores
            // above into the transform and does all of it one lane at a time.
            let g = std::hint::black_box(g);
            // Where position ξ's value of (i, o0…) goes: `first + ξ · position`.
            let (first, position) = if by_block { ((o0 / LANES) * A * A * cp * LANES + i * LANES, cp * LANES) } else { (i * ocp + o0, cp * ocp) };
            sandwich(
                &mat.g,
                &mat.g,
                |a, b| g[a][b],
                &mut tmp,
                |p, row| {
                    for (q, val) in row.iter().enumerate() {
                        let at = first + (p * A + q) * position;
                        u[at..at + valid].copy_from_slice(&val[..valid]);
                    }
                },
            );
        }
    }
}

/// `V_ξ[t0 + t, c] = (Bᵀ d B)_ξ` for every tile `t` of one image and every channel block,
/// from the blocked image; `v` holds the α² matrices at equal strides.
#[inline(always)]
fn transform_input_kernel(plan: &Plan, blocked: &[f32], v: &mut [f32], t0: usize) {
    with_matrices!(plan, mat => input_with(mat, plan, blocked, v, t0))
}

#[inline(always)]
fn input_with<const M: usize, const R: usize, const A: usize>(mat: &Matrices<M, R, A>, plan: &Plan, blocked: &[f32], v: &mut [f32], t0: usize) {
    let (ph, pw) = plan.padded();
    let cp = plan.padded_channels().0;
    let v_stride = v.len() / (A * A);
    let mut tmp = [[0.0f32; LANES]; TILE_SCRATCH];
    for block in 0..cp / LANES {
        let plane = &blocked[block * ph * pw * LANES..(block + 1) * ph * pw * LANES];
        for ty in 0..plan.tiles_h {
            for tx in 0..plan.tiles_w {
                let base = (M * ty * pw + M * tx) * LANES;
                let at = (t0 + ty * plan.tiles_w + tx) * cp + block * LANES;
                let d = |i: usize, j: usize| load(plane, base + (i * pw + j) * LANES);
                sandwich(&mat.bt, &mat.bt, d, &mut tmp, |p, row| {
                    for (q, val) in row.iter().enumerate() {
                        let xi = p * A + q;
                        v[xi * v_stride + at..xi * v_stride + at + LANES].copy_from_slice(val);
                    }
                });
            }
        }
    }
}

/// The transformed output tiles an output transform reads: `m` holds the α² matrices `M_ξ`
/// at equal strides, each tile a row of `row` floats holding the output-channel blocks
/// `blocks.0 … blocks.1` (all of them, `row` = the padded output channels, in the GEMM
/// layout; one, `row` = 16, in the blocked layout of [`Plan::run`] on AVX2).
#[derive(Clone, Copy)]
struct MView<'a> {
    m: &'a [f32],
    row: usize,
    blocks: (usize, usize),
}

/// `Y = Aᵀ M A` for every tile of one image (tiles `t0…` of `m`) and every output channel of its blocks,
/// written into that image's output `y` by the epilogue. The plain store collects a row of
/// tiles channels-last in `stage` (m image rows, which are contiguous in each NCHW plane)
/// and writes it out sixteen pixels at a time through a 16×16 transpose.
#[inline(always)]
fn transform_output_kernel(plan: &Plan, m: MView<'_>, t0: usize, epilogue: Epilogue<'_>, y: &mut [f32], stage: &mut [f32], choice: &mut [u8]) {
    with_matrices!(plan, mat => output_with(mat, plan, m, t0, epilogue, y, stage, choice))
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_with<const M: usize, const R: usize, const A: usize>(
    mat: &Matrices<M, R, A>,
    plan: &Plan,
    view: MView<'_>,
    t0: usize,
    epilogue: Epilogue<'_>,
    y: &mut [f32],
    stage: &mut [f32],
    choice: &mut [u8],
) {
    let m = view.m;
    let m_stride = m.len() / (A * A);
    let (h, w) = (plan.out_h, plan.out_w);
    let (pool_h, pool_w) = (h / 2, w / 2);
    let (bias, pooled, relu) = match epilogue {
        Epilogue::Store { bias } => (bias, false, false),
        Epilogue::MaxPool { bias, relu } => (bias, true, relu),
    };
    // The ReLU's clamp: max(·, 0), or max(·, −∞) which changes nothing.
    let floor = if relu { 0.0 } else { f32::NEG_INFINITY };
    let mut tmp = [[0.0f32; LANES]; TILE_SCRATCH];
    for block in view.blocks.0..view.blocks.1 {
        let o0 = block * LANES;
        let valid = LANES.min(plan.out_channels - o0);
        let mut b = [0.0f32; LANES];
        if let Some(bias) = bias {
            b[..valid].copy_from_slice(&bias[o0..o0 + valid]);
        }
        for ty in 0..plan.tiles_h {
            for tx in 0..plan.tiles_w {
                let at = (t0 + ty * plan.tiles_w + tx) * view.row + (block - view.blocks.0) * LANES;
                let mut out = [[[0.0f32; LANES]; M]; M];
                let mm = |i: usize, j: usize| load(m, (i * A + j) * m_stride + at);
                sandwich(&mat.at, &mat.at, mm, &mut tmp, |p, row| {
                    // Plus the bias.
                    for (dst, src) in out[p].iter_mut().zip(row) {
                        for ((d, &v), &bl) in dst.iter_mut().zip(src).zip(&b) {
                            *d = v + bl;
                        }
                    }
                });
                if pooled {
                    // The tile holds (m/2)² whole windows; those past the pooled plane are dropped.
                    for pr in 0..M / 2 {
                        for pc in 0..M / 2 {
                            let (row, col) = (ty * M / 2 + pr, tx * M / 2 + pc);
                            if row >= pool_h || col >= pool_w {
                                continue;
                            }
                            let (top, bottom) = (&out[2 * pr], &out[2 * pr + 1]);
                            let window = [&top[2 * pc], &top[2 * pc + 1], &bottom[2 * pc], &bottom[2 * pc + 1]];
                            if !choice.is_empty() {
                                // In the pool layer's order, strictly greater to win: the first
                                // maximum on ties. Selects on whole registers (32-bit positions).
                                let mut best = *window[0];
                                let mut at = [0u32; LANES];
                                for (k, v) in (1u32..).zip(&window[1..]) {
                                    for l in 0..LANES {
                                        let wins = v[l] > best[l];
                                        best[l] = if wins { v[l] } else { best[l] };
                                        at[l] = if wins { k } else { at[l] };
                                    }
                                }
                                // Whole registers first, then plain stores: a branch on `alive`
                                // per channel (the ReLU clamps about half, unpredictably) took a
                                // third of this function in a `keras` training step.
                                let mut picks = [0u8; LANES];
                                for l in 0..LANES {
                                    // All ones where the window lives, by bit masks: the
                                    // compiler turned `if`s here back into branches.
                                    let alive = ((!relu || best[l] > 0.0) as u32).wrapping_neg();
                                    best[l] = f32::from_bits(best[l].to_bits() & alive);
                                    picks[l] = (at[l] | !alive) as u8; // CLAMPED is all ones
                                }
                                let first = (o0 * pool_h + row) * pool_w + col;
                                let plane = pool_h * pool_w;
                                for (l, (&val, &pick)) in best[..valid].iter().zip(&picks).enumerate() {
                                    y[first + l * plane] = val;
                                    choice[first + l * plane] = pick;
                                }
                                continue;
                            }
                            let mut best = [0.0f32; LANES];
                            for (l, v) in best.iter_mut().enumerate() {
                                *v = window[0][l].max(window[1][l]).max(window[2][l]).max(window[3][l]).max(floor);
                            }
                            for (l, &val) in best[..valid].iter().enumerate() {
                                y[((o0 + l) * pool_h + row) * pool_w + col] = val;
                            }
                        }
                    }
                    continue;
                }
                // stage[a · w + q] = the pixel at row m·ty + a, column q (16 channels).
                for (a, row) in out.iter().enumerate() {
                    for (q, px) in row.iter().enumerate() {
                        let col = M * tx + q;
                        if col < w {
                            stage[(a * w + col) * LANES..(a * w + col + 1) * LANES].copy_from_slice(px);
                        }
                    }
                }
            }
            if pooled {
                continue;
            }
            // Rows m·ty … (inside the image) are `len` contiguous floats of each plane.
            let len = (h - M * ty).min(M) * w;
            let first = M * ty * w;
            let mut pixels = [[0.0f32; LANES]; LANES];
            let mut lanes = [[0.0f32; LANES]; LANES];
            for j0 in (0..len).step_by(LANES) {
                let n = LANES.min(len - j0);
                for (j, px) in pixels[..n].iter_mut().enumerate() {
                    *px = load(stage, (j0 + j) * LANES);
                }
                transpose16(&pixels, &mut lanes);
                for (l, lane) in lanes[..valid].iter().enumerate() {
                    let at = (o0 + l) * h * w + first + j0;
                    if n == LANES {
                        y[at..at + LANES].copy_from_slice(lane);
                    } else {
                        y[at..at + n].copy_from_slice(&lane[..n]);
                    }
                }
            }
        }
    }
}

/// `M'_ξ[t0 + t, o] = (A ∂Y Aᵀ)_ξ` for every tile `t` of one image and every output-channel
/// block, from its output gradient blocked by tiles (`blocked`, `[OC/16][tiles·m][tiles·m][16]`,
/// zero past the image).
#[inline(always)]
fn transform_output_grad_kernel(plan: &Plan, blocked: &[f32], m: &mut [f32], t0: usize) {
    with_matrices!(plan, mat => output_grad_with(mat, plan, blocked, m, t0))
}

#[inline(always)]
fn output_grad_with<const M: usize, const R: usize, const A: usize>(mat: &Matrices<M, R, A>, plan: &Plan, blocked: &[f32], m: &mut [f32], t0: usize) {
    let (gh, gw) = (plan.tiles_h * M, plan.tiles_w * M);
    let ocp = plan.padded_channels().1;
    let m_stride = m.len() / (A * A);
    let mut tmp = [[0.0f32; LANES]; TILE_SCRATCH];
    for block in 0..ocp / LANES {
        let plane = &blocked[block * gh * gw * LANES..(block + 1) * gh * gw * LANES];
        for ty in 0..plan.tiles_h {
            for tx in 0..plan.tiles_w {
                let base = (M * ty * gw + M * tx) * LANES;
                let at = (t0 + ty * plan.tiles_w + tx) * ocp + block * LANES;
                let d = |i: usize, j: usize| load(plane, base + (i * gw + j) * LANES);
                sandwich(&mat.a, &mat.a, d, &mut tmp, |p, row| {
                    for (q, val) in row.iter().enumerate() {
                        let xi = p * A + q;
                        m[xi * m_stride + at..xi * m_stride + at + LANES].copy_from_slice(val);
                    }
                });
            }
        }
    }
}

/// `∂W[o, c] += Gᵀ ∂U[o, c] G` (see [`Plan::weight_grad_from_transformed`]) for the output
/// channels `o_first…` whose weights `dw` holds, sixteen input channels at a time.
#[inline(always)]
fn weight_grad_kernel(plan: &Plan, du: &[f32], o_first: usize, dw: &mut [f32]) {
    with_matrices!(plan, mat => weight_grad_with(mat, plan, du, o_first, dw))
}

#[inline(always)]
fn weight_grad_with<const M: usize, const R: usize, const A: usize>(mat: &Matrices<M, R, A>, plan: &Plan, du: &[f32], o_first: usize, dw: &mut [f32]) {
    let cin = plan.in_channels;
    let (cp, ocp) = plan.padded_channels();
    let taps = R * R;
    let mut tmp = [[0.0f32; LANES]; TILE_SCRATCH];
    for (ol, o) in (o_first..o_first + dw.len() / (cin * taps).max(1)).enumerate() {
        for c0 in (0..cin).step_by(LANES) {
            let mut g = [[[0.0f32; LANES]; R]; R];
            let d = |i: usize, j: usize| load(du, (i * A + j) * ocp * cp + o * cp + c0);
            sandwich(&mat.gt, &mat.gt, d, &mut tmp, |a, row| g[a] = *row);
            for l in 0..LANES.min(cin - c0) {
                let k = &mut dw[(ol * cin + c0 + l) * taps..(ol * cin + c0 + l + 1) * taps];
                for (a, row) in g.iter().enumerate() {
                    for (b, val) in row.iter().enumerate() {
                        k[a * R + b] += val[l];
                    }
                }
            }
        }
    }
}

multiversion!(
    /// The kernel transform (see `transform_kernels_kernel`).
    fn transform_kernels => transform_kernels_kernel(plan: &Plan, w: &[f32], for_input_grad: bool, by_block: bool, u: &mut [f32])
);
multiversion!(
    /// Winograd output-gradient transform of one image (see `transform_output_grad_kernel`).
    fn transform_output_grad => transform_output_grad_kernel(plan: &Plan, blocked: &[f32], m: &mut [f32], t0: usize)
);
multiversion!(
    /// Winograd input transform of one image (see `transform_input_kernel`).
    fn transform_input => transform_input_kernel(plan: &Plan, blocked: &[f32], v: &mut [f32], t0: usize)
);
multiversion!(
    /// Winograd output transform of one image (see `transform_output_kernel`).
    fn transform_output => transform_output_kernel(plan: &Plan, m: MView<'_>, t0: usize, epilogue: Epilogue<'_>, y: &mut [f32], stage: &mut [f32], choice: &mut [u8])
);
multiversion!(
    /// The weight gradient back from transformed tiles, output channels `o_first…` into `dw`
    /// (see `weight_grad_kernel`).
    fn weight_grad_from_transformed => weight_grad_kernel(plan: &Plan, du: &[f32], o_first: usize, dw: &mut [f32])
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    /// Shapes of one test convolution: batch, channels in and out, input size, padding.
    #[derive(Clone, Copy, Debug)]
    struct Case {
        n: usize,
        c: usize,
        oc: usize,
        h: usize,
        w: usize,
        pad: usize,
    }

    impl Case {
        fn out(&self, r: usize) -> (usize, usize) {
            (self.h + 2 * self.pad + 1 - r, self.w + 2 * self.pad + 1 - r)
        }
    }

    /// Direct r×r convolution (cross-correlation) padded by `pad`, the definition.
    fn direct(case: Case, r: usize, x: &[f32], k: &[f32], bias: &[f32]) -> Vec<f32> {
        let Case { n, c, oc, h, w, pad } = case;
        let (oh, ow) = case.out(r);
        let mut y = vec![0.0; n * oc * oh * ow];
        for s in 0..n {
            for o in 0..oc {
                for row in 0..oh {
                    for col in 0..ow {
                        let mut acc = bias[o] as f64;
                        for i in 0..c {
                            for ki in 0..r {
                                for kj in 0..r {
                                    let (rr, qq) = ((row + ki) as isize - pad as isize, (col + kj) as isize - pad as isize);
                                    if rr >= 0 && qq >= 0 && (rr as usize) < h && (qq as usize) < w {
                                        acc += (x[((s * c + i) * h + rr as usize) * w + qq as usize] * k[((o * c + i) * r + ki) * r + kj]) as f64;
                                    }
                                }
                            }
                        }
                        y[((s * oc + o) * oh + row) * ow + col] = acc as f32;
                    }
                }
            }
        }
        y
    }

    fn run(plan: &Plan, k: &[f32], grad: bool, x: &[f32], y: &mut [f32], epilogue: Epilogue) {
        let mut u = vec![0.0; plan.kernels_len()];
        plan.transform_kernels(k, grad, &mut u);
        let mut work = vec![f32::NAN; plan.work_len()];
        plan.run(&u, x, y, epilogue, &mut [], &mut work);
    }

    /// Odd and even sizes, partial channel blocks, batches that split into several groups,
    /// every padding each algorithm allows.
    fn cases(algorithm: Algorithm) -> Vec<Case> {
        let case = |n, c, oc, h, w, pad| Case { n, c, oc, h, w, pad };
        match algorithm {
            Algorithm::F2x3 => vec![
                case(3, 2, 3, 6, 6, 1),
                case(2, 3, 4, 7, 5, 1),
                case(1, 1, 2, 1, 1, 1),
                case(5, 4, 2, 3, 8, 1),
                case(9, 2, 2, 7, 7, 1),
                case(3, 17, 33, 6, 5, 1),
                case(2, 32, 16, 14, 14, 1),
                case(3, 5, 6, 7, 6, 0),
                case(2, 3, 4, 5, 5, 2),
            ],
            Algorithm::F4x3 => vec![
                case(3, 2, 3, 6, 6, 1),
                case(2, 3, 4, 7, 5, 1),
                case(1, 1, 2, 1, 1, 1),
                case(9, 2, 2, 7, 7, 1),
                case(3, 17, 33, 6, 5, 1),
                case(2, 32, 64, 14, 14, 1),
                case(2, 64, 20, 7, 7, 1),
                case(3, 5, 6, 7, 6, 0),
                case(2, 3, 4, 5, 5, 2),
            ],
            Algorithm::F4x5 => vec![
                case(3, 20, 50, 12, 12, 0),
                case(2, 3, 4, 9, 7, 0),
                case(1, 2, 3, 5, 5, 0),
                case(4, 5, 17, 7, 8, 2),
                case(2, 3, 2, 3, 4, 4),
                case(30, 2, 3, 8, 8, 1),
                case(2, 50, 20, 8, 8, 4),
            ],
        }
    }

    /// Every algorithm with each of its cases.
    fn every_case() -> impl Iterator<Item = (Algorithm, Case)> {
        [Algorithm::F2x3, Algorithm::F4x5, Algorithm::F4x3].into_iter().flat_map(|a| cases(a).into_iter().map(move |c| (a, c)))
    }

    /// Largest error allowed, relative to the outputs' root-mean-square (plus one): about ten
    /// times what each algorithm was measured to reach on these cases (up to 1.0e-6 for
    /// F(2×2, 3×3); 1.6e-5 for F(4×4, 3×3), whose matrices hold 1/24 … 8; 2.2e-5 for
    /// F(4×4, 5×5), whose matrices hold 1/90 … 5.25), far below what a wrong matrix entry or
    /// index would give.
    fn tolerance(algorithm: Algorithm) -> f64 {
        match algorithm {
            Algorithm::F2x3 => 1e-5,
            Algorithm::F4x5 => 2e-4,
            Algorithm::F4x3 => 1e-4,
        }
    }

    /// `max |got − want| / (1 + rms(want))`.
    fn worst_error(got: &[f32], want: &[f32]) -> f64 {
        let rms = (want.iter().map(|&e| (e as f64).powi(2)).sum::<f64>() / want.len().max(1) as f64).sqrt();
        got.iter().zip(want).map(|(&a, &e)| (a as f64 - e as f64).abs()).fold(0.0, f64::max) / (1.0 + rms)
    }

    #[test]
    fn matches_direct_convolution() {
        for (algorithm, case) in every_case() {
            let r = algorithm.r();
            let Case { n, c, oc, h, w, pad } = case;
            let (oh, ow) = case.out(r);
            let x = Tensor::random(&[n, c, h, w], 1).data;
            let k = Tensor::random(&[oc, c, r, r], 2).data;
            let b = Tensor::random(&[oc], 3).data;
            let want = direct(case, r, &x, &k, &b);
            let plan = Plan::new(algorithm, c, oc, [h, w], pad, false);
            let mut y = vec![f32::NAN; n * oc * oh * ow];
            run(&plan, &k, false, &x, &mut y, Epilogue::Store { bias: Some(&b) });
            let worst = worst_error(&y, &want);
            assert!(worst < tolerance(algorithm), "{algorithm:?} {case:?}: largest error {worst} of the outputs' scale");
        }
    }

    #[test]
    fn fused_max_pool_matches_the_layers() {
        for (algorithm, case) in every_case() {
            let r = algorithm.r();
            let Case { n, c, oc, h, w, pad } = case;
            let (oh, ow) = case.out(r);
            let x = Tensor::random(&[n, c, h, w], 4).data;
            let k = Tensor::random(&[oc, c, r, r], 5).data;
            // Biases low enough that some windows' maxima are negative (for the ReLU to clamp).
            let b: Vec<f32> = Tensor::random(&[oc], 6).data.iter().map(|v| v - 3.0).collect();
            let full = direct(case, r, &x, &k, &b);
            let (ph, pw) = (oh / 2, ow / 2);
            let plan = Plan::new(algorithm, c, oc, [h, w], pad, true);
            for relu in [true, false] {
                let mut y = vec![f32::NAN; n * oc * ph * pw];
                run(&plan, &k, false, &x, &mut y, Epilogue::MaxPool { bias: Some(&b), relu });
                let mut negatives = 0;
                for s in 0..n * oc {
                    for row in 0..ph {
                        for col in 0..pw {
                            let at = |i: usize, j: usize| full[s * oh * ow + (2 * row + i) * ow + 2 * col + j];
                            let max = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                            let want = if relu { max.max(0.0) } else { max };
                            let got = y[s * ph * pw + row * pw + col];
                            negatives += (got < 0.0) as usize;
                            assert!((got - want).abs() < 1e-4 * (1.0 + want.abs()), "{algorithm:?} {case:?} relu {relu}: {got} vs {want}");
                        }
                    }
                }
                assert!(!relu || negatives == 0, "the ReLU clamps");
            }
        }
    }

    /// ⟨conv(x), dy⟩ = ⟨x, conv_grad(dy)⟩: the turned, channel-swapped kernels and the
    /// complementary padding give the adjoint.
    /// The two orders of [`Plan::run`] — whole products per position (the `gemm` crate) and
    /// one output-channel block at a time (our AVX2 kernel where it applies) — give the same
    /// outputs and pool choices: the very bits on a CPU with AVX2 and no AVX-512 (where both
    /// sum each product over the channels in order with fused multiply-adds) for products over
    /// as many channels as a Winograd layer has, within float rounding elsewhere. Every case, the plain store, the input-gradient plan, and the pool
    /// with and without the ReLU, recording its choices.
    #[test]
    fn output_blocks_give_the_bits_of_whole_products() {
        let same_bits = crate::kernels::simd::level() == crate::kernels::simd::Level::Avx2Fma;
        let extra =
            [(Algorithm::F4x3, Case { n: 5, c: 64, oc: 128, h: 7, w: 7, pad: 1 }), (Algorithm::F4x3, Case { n: 3, c: 32, oc: 64, h: 14, w: 14, pad: 1 })];
        for (algorithm, case) in every_case().chain(extra) {
            let r = algorithm.r();
            let Case { n, c, oc, h, w, pad } = case;
            let (oh, ow) = case.out(r);
            let x = Tensor::random(&[n, c, h, w], 14).data;
            let k = Tensor::random(&[oc, c, r, r], 15).data;
            let b: Vec<f32> = Tensor::random(&[oc], 16).data.iter().map(|v| v - 3.0).collect();
            let plain = Plan::new(algorithm, c, oc, [h, w], pad, false);
            let pooled = Plan::new(algorithm, c, oc, [h, w], pad, true);
            let grad = plain.input_grad();
            let dy = Tensor::random(&[n, oc, oh, ow], 17).data;
            // (plan, for the input gradient, input, floats out per sample, epilogue, record)
            #[allow(clippy::type_complexity)]
            let runs: [(&Plan, bool, &[f32], usize, Epilogue, bool); 4] = [
                (&plain, false, &x, oc * oh * ow, Epilogue::Store { bias: Some(&b) }, false),
                (&grad, true, &dy, c * h * w, Epilogue::Store { bias: None }, false),
                (&pooled, false, &x, oc * (oh / 2) * (ow / 2), Epilogue::MaxPool { bias: Some(&b), relu: true }, true),
                (&pooled, false, &x, oc * (oh / 2) * (ow / 2), Epilogue::MaxPool { bias: Some(&b), relu: false }, false),
            ];
            for (plan, for_grad, input, out_len, epilogue, record) in runs {
                let mut outputs = Vec::new();
                for by_block in [false, true] {
                    let mut u = vec![0.0; plan.kernels_len()];
                    plan.transform_kernels_as(&k, for_grad, by_block, &mut u);
                    let mut y = vec![f32::NAN; n * out_len];
                    let mut choice = vec![7u8; if record { y.len() } else { 0 }];
                    let mut work = vec![f32::NAN; plan.work_len()];
                    if by_block {
                        plan.run_by_output_block(&u, input, &mut y, epilogue, &mut choice, &mut work);
                    } else {
                        plan.run_by_position(&u, input, &mut y, epilogue, &mut choice, &mut work);
                    }
                    assert!(y.iter().all(|v| v.is_finite()), "{algorithm:?} {case:?}: every output written");
                    outputs.push((y, choice));
                }
                let ((y0, c0), (y1, c1)) = (&outputs[0], &outputs[1]);
                // Products over fewer channels than any Winograd layer has take other code in
                // the crate (its bits differ in the last place there).
                let same_bits = same_bits && plan.in_channels >= crate::kernels::conv::WINOGRAD_MIN_CHANNELS;
                for (i, (a, b)) in y0.iter().zip(y1).enumerate() {
                    if same_bits {
                        assert_eq!(a.to_bits(), b.to_bits(), "{algorithm:?} {case:?} grad {for_grad}: output {i}: {a} vs {b}");
                    } else {
                        assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "{algorithm:?} {case:?} grad {for_grad}: output {i}: {a} vs {b}");
                    }
                }
                if same_bits {
                    assert_eq!(c0, c1, "{algorithm:?} {case:?}: pool choices");
                }
            }
        }
    }

    #[test]
    fn input_grad_plan_gives_the_adjoint() {
        for (algorithm, case) in every_case() {
            let r = algorithm.r();
            let Case { n, c, oc, h, w, .. } = case;
            let (oh, ow) = case.out(r);
            let x = Tensor::random(&[n, c, h, w], 7).data;
            let dy = Tensor::random(&[n, oc, oh, ow], 8).data;
            let k = Tensor::random(&[oc, c, r, r], 9).data;
            let y = direct(case, r, &x, &k, &vec![0.0; oc]);
            let plan = Plan::new(algorithm, c, oc, [h, w], case.pad, false).input_grad();
            let mut dx = vec![f32::NAN; n * c * h * w];
            run(&plan, &k, true, &dy, &mut dx, Epilogue::Store { bias: None });
            let lhs: f64 = y.iter().zip(&dy).map(|(a, b)| (a * b) as f64).sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| (a * b) as f64).sum();
            assert!((lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()), "{algorithm:?} {case:?}: {lhs} vs {rhs}");
        }
    }

    /// The weight gradient from transformed tiles equals the direct sum
    /// `∂W[o, c, ki, kj] = Σ_n Σ_(r,q) ∂y[n, o, r, q] · x[n, c, r + ki − pad, q + kj − pad]`;
    /// it adds onto what `dw` held.
    #[test]
    fn weight_grad_matches_direct_sum() {
        for (algorithm, case) in every_case() {
            let r = algorithm.r();
            let Case { n, c, oc, h, w, pad } = case;
            let (oh, ow) = case.out(r);
            let x = Tensor::random(&[n, c, h, w], 21).data;
            let dy = Tensor::random(&[n, oc, oh, ow], 22).data;
            let mut want = vec![0.0f64; oc * c * r * r];
            for s in 0..n {
                for o in 0..oc {
                    for i in 0..c {
                        for k in 0..r * r {
                            let (ki, kj) = (k / r, k % r);
                            for row in 0..oh {
                                for col in 0..ow {
                                    let (rr, qq) = ((row + ki) as isize - pad as isize, (col + kj) as isize - pad as isize);
                                    if rr >= 0 && qq >= 0 && (rr as usize) < h && (qq as usize) < w {
                                        want[(o * c + i) * r * r + k] +=
                                            (dy[((s * oc + o) * oh + row) * ow + col] * x[((s * c + i) * h + rr as usize) * w + qq as usize]) as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let plan = Plan::new(algorithm, c, oc, [h, w], pad, false);
            let mut du = vec![0.0; plan.weight_grad_len()];
            let mut work = vec![f32::NAN; plan.weight_grad_work_len()];
            plan.accumulate_weight_grad(&x, &dy, &mut du, &mut work);
            let mut dw = vec![1.0; oc * c * r * r];
            plan.weight_grad_from_transformed(&du, &mut dw);
            let worst = dw.iter().zip(&want).map(|(a, e)| ((a - 1.0) as f64 - e).abs() / (1.0 + e.abs())).fold(0.0, f64::max);
            assert!(worst < 1e-4, "{algorithm:?} {case:?}: largest relative difference {worst}");
        }
    }

    #[test]
    fn applies_to_3x3_and_5x5_stride_1_with_uniform_padding() {
        use crate::kernels::geometry::{Geometry, Padding, PaddingName};
        let geo = |k: usize, s: usize, d: usize, p: Padding| Geometry::new("t", [2, 12, 12], [k, k], [s, s], [d, d], p).unwrap();
        assert_eq!(algorithm_for(&geo(3, 1, 1, Padding::Named(PaddingName::Same))), Some((Algorithm::F4x3, 1)));
        assert_eq!(algorithm_for(&geo(3, 1, 1, Padding::Uniform(1))), Some((Algorithm::F4x3, 1)));
        assert_eq!(algorithm_for(&geo(3, 1, 1, Padding::Uniform(0))), Some((Algorithm::F4x3, 0)));
        // 3×3 by the output's side: 4×4 tiles where they need fewer multiplications.
        let same = |side: usize| Geometry::new("t", [2, side, side], [3, 3], [1, 1], [1, 1], Padding::Named(PaddingName::Same)).unwrap();
        for (side, want) in [
            (1, Algorithm::F2x3),
            (2, Algorithm::F2x3),
            (3, Algorithm::F4x3),
            (4, Algorithm::F4x3),
            (5, Algorithm::F2x3),
            (6, Algorithm::F2x3),
            (7, Algorithm::F4x3),
            (14, Algorithm::F4x3),
            (28, Algorithm::F4x3),
        ] {
            assert_eq!(algorithm_for(&same(side)), Some((want, 1)), "{side}×{side}");
        }
        let wide = Geometry::new("t", [2, 2, 12], [3, 3], [1, 1], [1, 1], Padding::Named(PaddingName::Same)).unwrap();
        assert_eq!(algorithm_for(&wide), Some((Algorithm::F2x3, 1)), "2×12: 6 × 16 against 3 × 36");
        assert_eq!(algorithm_for(&geo(5, 1, 1, Padding::Uniform(0))), Some((Algorithm::F4x5, 0)));
        assert_eq!(algorithm_for(&geo(5, 1, 1, Padding::Named(PaddingName::Same))), Some((Algorithm::F4x5, 2)));
        assert_eq!(algorithm_for(&geo(3, 1, 1, Padding::Uniform(3))), None);
        assert_eq!(algorithm_for(&geo(3, 2, 1, Padding::Uniform(1))), None);
        assert_eq!(algorithm_for(&geo(3, 1, 2, Padding::Uniform(1))), None);
        assert_eq!(algorithm_for(&geo(7, 1, 1, Padding::Uniform(1))), None);
    }
}
