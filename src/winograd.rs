//! Winograd F(2×2, 3×3): a 3×3, stride-1, pad-1 ("same") convolution computed on 2×2 output
//! tiles with 16 multiplications per tile and channel pair instead of 36 (Lavin & Gray, "Fast
//! Algorithms for Convolutional Neural Networks", 2016).
//!
//! For one channel pair, a 3×3 kernel `g` and a 4×4 input tile `d` (padded-input rows
//! `2ty … 2ty+3`, columns `2tx … 2tx+3`, i.e. image rows `2ty−1 … 2ty+2`):
//!
//! ```text
//! U = G g Gᵀ        G  = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
//! V = Bᵀ d B        Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
//! Y = Aᵀ M A        Aᵀ = [1 1 1 0; 0 1 −1 −1],   M = Σ_c U ⊙ V   (element-wise, 4×4)
//! ```
//!
//! `Y` is the tile's 2×2 output. The sum over input channels, for each of the 16 positions ξ
//! of the 4×4 tile, is a matrix product over every tile of a group of images:
//! `M_ξ[OC, T] = U_ξ[OC, C] · V_ξ[C, T]` — sixteen GEMMs with 2.25× fewer multiply-adds than
//! the im2col product (`OC·C·9` per output pixel against `OC·C·16/4`).
//!
//! The same routine computes the input gradient of such a convolution: `∂L/∂x` is the "same"
//! convolution of `∂L/∂y` with the kernels turned by 180° and input/output channels swapped
//! ([`Plan::transform_kernels`] with `for_input_grad`, or [`Plan::kernels_from_forward`]).
//!
//! And its weight gradient: the forward is bilinear, `Y = Aᵀ [(G g Gᵀ) ⊙ V] A`, so its adjoint
//! in `g` is `∂L/∂g = Gᵀ [(A ∂Y Aᵀ) ⊙ V] G` with the forward's own `V` — summed over tiles,
//! `∂U_ξ[OC, C] = Σ_t M'_ξ[t, OC]ᵀ · V_ξ[t, C]` with `M' = A ∂Y Aᵀ` (the tile's 2×2 output
//! gradient spread onto 4×4), sixteen GEMMs again ([`Plan::accumulate_weight_grad`], then
//! [`Plan::weight_grad_from_transformed`]).
//!
//! Two epilogues write the tiles: [`Epilogue::Store`] (plus bias, the plain convolution) and
//! [`Epilogue::MaxPool`], which fuses bias, an optional ReLU and a 2×2/stride-2 max pool — a
//! 2×2 output tile is exactly one pooling window — for inference.

use crate::gemm::{sgemm, Strides};
use crate::simd::{multiversion, transpose16, LANES};

/// Positions in a 4×4 transformed tile.
const XI: usize = 16;

/// Tiles per GEMM (over a group of images) that the grouping aims for: large enough that the
/// sixteen products are not dominated by per-call overhead, small enough that the transformed
/// tiles stay in the core's L2 cache.
const TARGET_TILES: usize = 96;

/// Floats between consecutive transformed matrices (V_ξ, M_ξ), so that the sixteen streams a
/// transform reads or writes never sit a power of two apart (cache-set conflicts).
const SKEW: usize = 16;

/// True when a convolution with this geometry can run as F(2×2, 3×3): 3×3 kernel, stride 1,
/// dilation 1, one pixel of padding on every side.
pub fn applies(geo: &crate::conv_geometry::Geometry) -> bool {
    geo.kernel_h == 3
        && geo.kernel_w == 3
        && geo.stride_h == 1
        && geo.stride_w == 1
        && geo.dilation_h == 1
        && geo.dilation_w == 1
        && geo.pad_top == 1
        && geo.pad_bottom == 1
        && geo.pad_left == 1
        && geo.pad_right == 1
}

/// How the output tiles are written.
#[derive(Clone, Copy)]
pub enum Epilogue<'a> {
    /// `y[OC, H, W] = conv + bias`.
    Store { bias: Option<&'a [f32]> },
    /// `y[OC, ⌊H/2⌋, ⌊W/2⌋] = max over each 2×2 window of (conv + bias)`, clamped at zero with
    /// `relu`: the convolution, a ReLU and a 2×2, stride-2 max pool in one pass.
    MaxPool { bias: Option<&'a [f32]>, relu: bool },
}

/// Shapes of one F(2×2, 3×3) convolution over `[C, H, W]` samples into `OC` channels.
///
/// Channels are handled in blocks of [`LANES`] (one vector register; the last block padded
/// with zeros): the input is copied once into a padded, channel-blocked image
/// `[C/16][H+2][W+2][16]`, so that every transform works on whole registers, and the
/// transformed tiles are laid out `V_ξ[T, C]`, `M_ξ[T, OC]`.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub in_channels: usize,
    pub out_channels: usize,
    pub h: usize,
    pub w: usize,
    /// Tiles per image computed: ⌈H/2⌉ × ⌈W/2⌉ for the plain convolution; ⌊H/2⌋ × ⌊W/2⌋ when
    /// only the pooled output is wanted (a trailing odd row or column is never pooled).
    tiles_h: usize,
    tiles_w: usize,
    /// Images per group (per set of sixteen GEMMs).
    group: usize,
}

impl Plan {
    /// A plan for samples of `[in_channels, h, w]`; `pooled` when the epilogue is
    /// [`Epilogue::MaxPool`].
    pub fn new(in_channels: usize, out_channels: usize, h: usize, w: usize, pooled: bool) -> Plan {
        let (tiles_h, tiles_w) = if pooled { (h / 2, w / 2) } else { (h.div_ceil(2), w.div_ceil(2)) };
        let per_image = (tiles_h * tiles_w).max(1);
        Plan { in_channels, out_channels, h, w, tiles_h, tiles_w, group: TARGET_TILES.div_ceil(per_image) }
    }

    fn tiles_per_image(&self) -> usize {
        self.tiles_h * self.tiles_w
    }

    /// Input and output channels rounded up to whole blocks.
    fn padded_channels(&self) -> (usize, usize) {
        (self.in_channels.div_ceil(LANES) * LANES, self.out_channels.div_ceil(LANES) * LANES)
    }

    /// Rows and columns of the padded image.
    fn padded(&self) -> (usize, usize) {
        (2 * self.tiles_h + 2, 2 * self.tiles_w + 2)
    }

    /// Floats of the padded, channel-blocked image.
    fn blocked_len(&self) -> usize {
        let (ph, pw) = self.padded();
        self.padded_channels().0 * ph * pw
    }

    /// Scratch floats one thread needs: the blocked image, V (16·T·C) and M (16·T·OC), each
    /// of the last two with a skew between its 16 matrices, and one row of output tiles
    /// channels-last (two image rows of 16 channels) on its way back to NCHW.
    pub fn work_len(&self) -> usize {
        let (cp, ocp) = self.padded_channels();
        let t = self.group * self.tiles_per_image();
        self.blocked_len() + XI * (t * cp + SKEW) + XI * (t * ocp + SKEW) + self.stage_len()
    }

    /// Floats of the output staging row: two image rows of [`LANES`] channels.
    fn stage_len(&self) -> usize {
        2 * self.padded().1 * LANES
    }

    /// `work` cut into the blocked image, the largest V and M (see [`Plan::work_len`]) and
    /// the rest.
    fn split_work<'w>(&self, work: &'w mut [f32]) -> (&'w mut [f32], &'w mut [f32], &'w mut [f32], &'w mut [f32]) {
        let (cp, ocp) = self.padded_channels();
        let tmax = self.group * self.tiles_per_image();
        let (blocked, rest) = work.split_at_mut(self.blocked_len());
        let (v, rest) = rest.split_at_mut(XI * (tmax * cp + SKEW));
        let (m, rest) = rest.split_at_mut(XI * (tmax * ocp + SKEW));
        (blocked, v, m, rest)
    }

    /// Floats of the transformed kernels `U`: 16·C·OC (channels rounded up to blocks).
    pub fn kernels_len(&self) -> usize {
        let (cp, ocp) = self.padded_channels();
        XI * cp * ocp
    }

    /// `U_ξ[i, o] = (G g Gᵀ)_ξ` for this plan's kernels `g`, `u` of [`Plan::kernels_len`]
    /// floats. For the forward `w` is the layer's `[OC, C, 3, 3]` weight and `g = w[o, i]`;
    /// with `for_input_grad` the plan runs the input-gradient convolution (its input channels
    /// are the layer's outputs), `w` is still the layer's weight and `g` is `w[i, o]` turned by
    /// 180°.
    pub fn transform_kernels(&self, w: &[f32], for_input_grad: bool, u: &mut [f32]) {
        debug_assert_eq!(w.len(), self.in_channels * self.out_channels * 9);
        debug_assert_eq!(u.len(), self.kernels_len());
        transform_kernels(self, w, for_input_grad, u);
    }

    /// This input-gradient plan's kernels from the forward plan's (`forward`, laid out by
    /// [`Plan::transform_kernels`] without `for_input_grad`): no arithmetic, because turning
    /// a kernel by 180° only swaps the first and last rows and columns of its transform
    /// (`G J = P G`, `J` reversing three entries, `P` swapping entries 0 and 3 of four), and
    /// the channels swap roles.
    pub fn kernels_from_forward(&self, forward: &[f32], u: &mut [f32]) {
        let (ip, op) = self.padded_channels();
        debug_assert_eq!(forward.len(), self.kernels_len());
        debug_assert_eq!(u.len(), self.kernels_len());
        const P: [usize; 4] = [3, 1, 2, 0];
        for r in 0..4 {
            for s in 0..4 {
                let src = &forward[(P[r] * 4 + P[s]) * op * ip..(P[r] * 4 + P[s] + 1) * op * ip];
                let dst = &mut u[(r * 4 + s) * ip * op..(r * 4 + s + 1) * ip * op];
                for (i, row) in dst.chunks_mut(op).enumerate() {
                    for (o, v) in row.iter_mut().enumerate() {
                        *v = src[o * ip + i];
                    }
                }
            }
        }
    }

    /// Floats of the transformed weight gradient `∂U`: as [`Plan::kernels_len`], laid out
    /// `∂U_ξ[OC, C]` (output channels rounded up to blocks, then input channels).
    pub fn weight_grad_len(&self) -> usize {
        self.kernels_len()
    }

    /// Scratch floats one thread needs for [`Plan::accumulate_weight_grad`]: those of
    /// [`Plan::run`] plus the padded, channel-blocked output gradient.
    pub fn weight_grad_work_len(&self) -> usize {
        let (ph, pw) = self.padded();
        self.work_len() - self.stage_len() + self.padded_channels().1 * ph * pw
    }

    /// `∂U_ξ[o, c] += Σ_t M'_ξ[t, o] · V_ξ[t, c]` over every tile of the samples `x`
    /// (`[C, H, W]` each) and their output gradients `dy` (`[OC, H, W]` each, this plan's
    /// plain forward), `du` of [`Plan::weight_grad_len`] floats; `work` of at least
    /// [`Plan::weight_grad_work_len`]. Output positions past the image (odd sizes) have zero
    /// gradient, so the tiles that overhang contribute only what they should.
    pub fn accumulate_weight_grad(&self, x: &[f32], dy: &[f32], du: &mut [f32], work: &mut [f32]) {
        let (cp, ocp) = self.padded_channels();
        let (in_len, out_len) = (self.in_channels * self.h * self.w, self.out_channels * self.h * self.w);
        debug_assert_eq!(du.len(), self.weight_grad_len());
        debug_assert_eq!(x.len() / in_len, dy.len() / out_len);
        let tpi = self.tiles_per_image();
        let (blocked, v, m, rest) = self.split_work(work);
        // The output gradient blocked as the input-gradient convolution's input.
        let dy_plan = Plan { in_channels: self.out_channels, out_channels: self.in_channels, ..*self };
        let blocked_dy = &mut rest[..dy_plan.blocked_len()];
        for (xs, dys) in x.chunks(self.group * in_len).zip(dy.chunks(self.group * out_len)) {
            let t = (xs.len() / in_len) * tpi;
            let (v_stride, m_stride) = (t * cp + SKEW, t * ocp + SKEW);
            let v = &mut v[..XI * v_stride];
            let m = &mut m[..XI * m_stride];
            for (img, (xi, dyi)) in xs.chunks(in_len).zip(dys.chunks(out_len)).enumerate() {
                self.block_input(xi, blocked);
                transform_input(self, blocked, v, img * tpi);
                dy_plan.block_input(dyi, blocked_dy);
                transform_output_grad(self, blocked_dy, m, img * tpi);
            }
            for xi in 0..XI {
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

    /// `∂W[o, c] += Gᵀ ∂U[o, c] G` for every channel pair: the weight gradient, `[OC, C, 3, 3]`
    /// as the layer stores it, from `du` of [`Plan::accumulate_weight_grad`].
    pub fn weight_grad_from_transformed(&self, du: &[f32], dw: &mut [f32]) {
        let (cin, cout) = (self.in_channels, self.out_channels);
        let (cp, ocp) = self.padded_channels();
        debug_assert_eq!(du.len(), self.weight_grad_len());
        debug_assert_eq!(dw.len(), cin * cout * 9);
        for o in 0..cout {
            for i in 0..cin {
                let d = |r: usize, s: usize| du[(r * 4 + s) * ocp * cp + o * cp + i];
                // Gᵀ ∂U: combine rows (Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1]).
                let rows = [
                    [0, 1, 2, 3].map(|s| d(0, s) + 0.5 * (d(1, s) + d(2, s))),
                    [0, 1, 2, 3].map(|s| 0.5 * (d(1, s) - d(2, s))),
                    [0, 1, 2, 3].map(|s| 0.5 * (d(1, s) + d(2, s)) + d(3, s)),
                ];
                // (Gᵀ ∂U) G: combine columns.
                let g = &mut dw[(o * cin + i) * 9..(o * cin + i + 1) * 9];
                for (r, row) in rows.iter().enumerate() {
                    g[r * 3] += row[0] + 0.5 * (row[1] + row[2]);
                    g[r * 3 + 1] += 0.5 * (row[1] - row[2]);
                    g[r * 3 + 2] += 0.5 * (row[1] + row[2]) + row[3];
                }
            }
        }
    }

    /// Runs the convolution over `x` (whole `[C, H, W]` samples, any count) into `y` (the
    /// same count of outputs, shaped by the epilogue), with kernels `u` from
    /// [`Plan::transform_kernels`] and `work` of at least [`Plan::work_len`] floats.
    pub fn run(&self, u: &[f32], x: &[f32], y: &mut [f32], epilogue: Epilogue, work: &mut [f32]) {
        let (cp, ocp) = self.padded_channels();
        let in_len = self.in_channels * self.h * self.w;
        let out_len = match epilogue {
            Epilogue::Store { .. } => self.out_channels * self.h * self.w,
            Epilogue::MaxPool { .. } => self.out_channels * (self.h / 2) * (self.w / 2),
        };
        debug_assert_eq!(u.len(), self.kernels_len());
        debug_assert_eq!(x.len() / in_len, y.len() / out_len);
        let tpi = self.tiles_per_image();
        let (blocked, v, m, rest) = self.split_work(work);
        let stage = &mut rest[..self.stage_len()];
        for (xs, ys) in x.chunks(self.group * in_len).zip(y.chunks_mut(self.group * out_len)) {
            let t = (xs.len() / in_len) * tpi;
            let (v_stride, m_stride) = (t * cp + SKEW, t * ocp + SKEW);
            let v = &mut v[..XI * v_stride];
            for (img, xi) in xs.chunks(in_len).enumerate() {
                self.block_input(xi, blocked);
                transform_input(self, blocked, v, img * tpi);
            }
            for xi in 0..XI {
                sgemm(
                    t,
                    cp,
                    ocp,
                    1.0,
                    &v[xi * v_stride..xi * v_stride + t * cp],
                    Strides::row_major(cp),
                    &u[xi * cp * ocp..(xi + 1) * cp * ocp],
                    Strides::row_major(ocp),
                    0.0,
                    &mut m[xi * m_stride..xi * m_stride + t * ocp],
                    Strides::row_major(ocp),
                );
            }
            for (img, yi) in ys.chunks_mut(out_len).enumerate() {
                transform_output(self, &m[..XI * m_stride], img * tpi, epilogue, yi, stage);
            }
        }
    }

    /// `blocked[c / 16][r + 1][q + 1][c % 16] = x[c, r, q]`, zero elsewhere: sixteen channel
    /// planes at a time, sixteen pixels at a time, through a 16×16 transpose.
    fn block_input(&self, x: &[f32], blocked: &mut [f32]) {
        let (ph, pw) = self.padded();
        let (h, w) = (self.h.min(ph - 1), self.w.min(pw - 1));
        let hw = self.h * self.w;
        let mut pixels = [[0.0f32; LANES]; LANES];
        let mut lanes = [[0.0f32; LANES]; LANES];
        for (block, plane) in blocked.chunks_mut(ph * pw * LANES).enumerate() {
            // Every lane of rows 1…h, columns 1…w is written below: zero only the border.
            for (r, row) in plane.chunks_mut(pw * LANES).enumerate() {
                if r == 0 || r > h {
                    row.fill(0.0);
                } else {
                    row[..LANES].fill(0.0);
                    row[(w + 1) * LANES..].fill(0.0);
                }
            }
            let c0 = block * LANES;
            let valid = LANES.min(self.in_channels - c0);
            // Channels past the last are zero (`lanes` rows never written).
            lanes[valid..].iter_mut().for_each(|row| row.fill(0.0));
            let (mut r, mut q) = (0, 0);
            for p0 in (0..h * self.w).step_by(LANES) {
                let n = LANES.min(h * self.w - p0);
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
                    if q < w {
                        let at = ((r + 1) * pw + q + 1) * LANES;
                        plane[at..at + LANES].copy_from_slice(px);
                    }
                    q += 1;
                    if q == self.w {
                        (r, q) = (r + 1, 0);
                    }
                }
            }
        }
    }
}

/// `U = G g Gᵀ` (see [`Plan::transform_kernels`]) for sixteen output channels at a time: their
/// nine kernel values gathered into registers, the transform done lane-wise, and each of the
/// sixteen `U_ξ` rows stored whole.
#[inline(always)]
fn transform_kernels_kernel(plan: &Plan, w: &[f32], for_input_grad: bool, u: &mut [f32]) {
    let (cin, cout) = (plan.in_channels, plan.out_channels);
    let (cp, ocp) = plan.padded_channels();
    u.fill(0.0);
    for i in 0..cin {
        for o0 in (0..cout).step_by(LANES) {
            let valid = LANES.min(cout - o0);
            // g[r][q][lane] = kernel (i, o0 + lane) at row r, column q.
            let mut g = [[[0.0f32; LANES]; 3]; 3];
            for lane in 0..valid {
                let o = o0 + lane;
                let k = if for_input_grad { &w[(i * cout + o) * 9..(i * cout + o + 1) * 9] } else { &w[(o * cin + i) * 9..(o * cin + i + 1) * 9] };
                for (r, row) in g.iter_mut().enumerate() {
                    for (q, v) in row.iter_mut().enumerate() {
                        // Turning a 3×3 kernel by 180° reverses its nine values.
                        v[lane] = if for_input_grad { k[8 - (r * 3 + q)] } else { k[r * 3 + q] };
                    }
                }
            }
            // G g: combine rows.
            let mut gg = [[[0.0f32; LANES]; 3]; 4];
            for j in 0..3 {
                for l in 0..LANES {
                    gg[0][j][l] = g[0][j][l];
                    gg[1][j][l] = 0.5 * (g[0][j][l] + g[1][j][l] + g[2][j][l]);
                    gg[2][j][l] = 0.5 * (g[0][j][l] - g[1][j][l] + g[2][j][l]);
                    gg[3][j][l] = g[2][j][l];
                }
            }
            // (G g) Gᵀ: combine columns, store U_ξ[i, o0…].
            for (r, row) in gg.iter().enumerate() {
                let mut vals = [[0.0f32; LANES]; 4];
                for l in 0..LANES {
                    vals[0][l] = row[0][l];
                    vals[1][l] = 0.5 * (row[0][l] + row[1][l] + row[2][l]);
                    vals[2][l] = 0.5 * (row[0][l] - row[1][l] + row[2][l]);
                    vals[3][l] = row[2][l];
                }
                for (s, val) in vals.iter().enumerate() {
                    let at = (r * 4 + s) * cp * ocp + i * ocp + o0;
                    if valid == LANES {
                        u[at..at + LANES].copy_from_slice(val);
                    } else {
                        u[at..at + valid].copy_from_slice(&val[..valid]);
                    }
                }
            }
        }
    }
}

multiversion!(
    /// The kernel transform (see `transform_kernels_kernel`).
    fn transform_kernels => transform_kernels_kernel(plan: &Plan, w: &[f32], for_input_grad: bool, u: &mut [f32])
);

/// A register's worth of floats from `src[at..]`.
#[inline(always)]
fn load(src: &[f32], at: usize) -> [f32; LANES] {
    let mut a = [0.0; LANES];
    a.copy_from_slice(&src[at..at + LANES]);
    a
}

/// `V_ξ[t0 + t, c] = (Bᵀ d B)_ξ` for every tile `t` of one image and every channel block,
/// from the blocked image; `v` holds the 16 matrices at equal strides.
#[inline(always)]
fn transform_input_kernel(plan: &Plan, blocked: &[f32], v: &mut [f32], t0: usize) {
    let (ph, pw) = plan.padded();
    let cp = plan.padded_channels().0;
    let v_stride = v.len() / XI;
    for block in 0..cp / LANES {
        let plane = &blocked[block * ph * pw * LANES..(block + 1) * ph * pw * LANES];
        for ty in 0..plan.tiles_h {
            for tx in 0..plan.tiles_w {
                let base = (2 * ty * pw + 2 * tx) * LANES;
                let mut d = [[[0.0f32; LANES]; 4]; 4];
                for (i, row) in d.iter_mut().enumerate() {
                    for (j, lanes) in row.iter_mut().enumerate() {
                        *lanes = load(plane, base + (i * pw + j) * LANES);
                    }
                }
                // Bᵀ d: combine rows.
                let mut e = [[[0.0f32; LANES]; 4]; 4];
                for j in 0..4 {
                    for l in 0..LANES {
                        e[0][j][l] = d[0][j][l] - d[2][j][l];
                        e[1][j][l] = d[1][j][l] + d[2][j][l];
                        e[2][j][l] = d[2][j][l] - d[1][j][l];
                        e[3][j][l] = d[1][j][l] - d[3][j][l];
                    }
                }
                // (Bᵀ d) B: combine columns, store V_ξ[t, block].
                let at = (t0 + ty * plan.tiles_w + tx) * cp + block * LANES;
                for (r, er) in e.iter().enumerate() {
                    let mut vals = [[0.0f32; LANES]; 4];
                    for l in 0..LANES {
                        vals[0][l] = er[0][l] - er[2][l];
                        vals[1][l] = er[1][l] + er[2][l];
                        vals[2][l] = er[2][l] - er[1][l];
                        vals[3][l] = er[1][l] - er[3][l];
                    }
                    for (s, val) in vals.iter().enumerate() {
                        let xi = r * 4 + s;
                        v[xi * v_stride + at..xi * v_stride + at + LANES].copy_from_slice(val);
                    }
                }
            }
        }
    }
}

/// `Y = Aᵀ M A` for every tile of one image (tiles `t0…` of `m`) and every output channel,
/// written into that image's output `y` by the epilogue. The plain store collects a row of
/// tiles channels-last in `stage` (two image rows, which are contiguous in each NCHW plane)
/// and writes it out sixteen pixels at a time through a 16×16 transpose.
#[inline(always)]
fn transform_output_kernel(plan: &Plan, m: &[f32], t0: usize, epilogue: Epilogue<'_>, y: &mut [f32], stage: &mut [f32]) {
    let ocp = plan.padded_channels().1;
    let m_stride = m.len() / XI;
    let (h, w) = (plan.h, plan.w);
    let (bias, pooled, relu) = match epilogue {
        Epilogue::Store { bias } => (bias, false, false),
        Epilogue::MaxPool { bias, relu } => (bias, true, relu),
    };
    // The ReLU's clamp: max(·, 0), or max(·, −∞) which changes nothing.
    let floor = if relu { 0.0 } else { f32::NEG_INFINITY };
    let tpi = plan.tiles_per_image();
    for block in 0..ocp / LANES {
        let o0 = block * LANES;
        let valid = LANES.min(plan.out_channels - o0);
        let mut b = [0.0f32; LANES];
        if let Some(bias) = bias {
            b[..valid].copy_from_slice(&bias[o0..o0 + valid]);
        }
        for ty in 0..plan.tiles_h {
            for tx in 0..plan.tiles_w {
                let t = ty * plan.tiles_w + tx;
                let at = (t0 + t) * ocp + o0;
                let mut mm = [[0.0f32; LANES]; XI];
                for (xi, lanes) in mm.iter_mut().enumerate() {
                    *lanes = load(m, xi * m_stride + at);
                }
                // Aᵀ M: combine rows.
                let mut f = [[[0.0f32; LANES]; 4]; 2];
                for j in 0..4 {
                    for l in 0..LANES {
                        f[0][j][l] = mm[j][l] + mm[4 + j][l] + mm[8 + j][l];
                        f[1][j][l] = mm[4 + j][l] - mm[8 + j][l] - mm[12 + j][l];
                    }
                }
                // (Aᵀ M) A: combine columns, add the bias.
                let mut out = [[0.0f32; LANES]; 4];
                for l in 0..LANES {
                    out[0][l] = f[0][0][l] + f[0][1][l] + f[0][2][l] + b[l];
                    out[1][l] = f[0][1][l] - f[0][2][l] - f[0][3][l] + b[l];
                    out[2][l] = f[1][0][l] + f[1][1][l] + f[1][2][l] + b[l];
                    out[3][l] = f[1][1][l] - f[1][2][l] - f[1][3][l] + b[l];
                }
                if pooled {
                    // The pooled plane is the tile grid itself.
                    let mut best = [0.0f32; LANES];
                    for l in 0..LANES {
                        best[l] = out[0][l].max(out[1][l]).max(out[2][l]).max(out[3][l]).max(floor);
                    }
                    for (l, &val) in best[..valid].iter().enumerate() {
                        y[(o0 + l) * tpi + t] = val;
                    }
                    continue;
                }
                // stage[a · w + q] = the pixel at row 2ty + a, column q (16 channels).
                let c = 2 * tx;
                stage[c * LANES..(c + 1) * LANES].copy_from_slice(&out[0]);
                stage[(w + c) * LANES..(w + c + 1) * LANES].copy_from_slice(&out[2]);
                if c + 1 < w {
                    stage[(c + 1) * LANES..(c + 2) * LANES].copy_from_slice(&out[1]);
                    stage[(w + c + 1) * LANES..(w + c + 2) * LANES].copy_from_slice(&out[3]);
                }
            }
            if pooled {
                continue;
            }
            // Rows 2ty and 2ty + 1 (if inside the image) are `len` contiguous floats of each plane.
            let len = (h - 2 * ty).min(2) * w;
            let first = 2 * ty * w;
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
/// block, from its output gradient blocked like an input (`blocked`, padded by one pixel: the
/// tile's 2×2 gradient sits at padded rows `2ty + 1, 2ty + 2`, columns `2tx + 1, 2tx + 2`).
/// `A` is the 4×2 matrix `[1 0; 1 1; 1 −1; 0 −1]`, so a pair `(a, b)` becomes `(a, a+b, a−b, −b)`.
#[inline(always)]
fn transform_output_grad_kernel(plan: &Plan, blocked: &[f32], m: &mut [f32], t0: usize) {
    let (ph, pw) = plan.padded();
    let ocp = plan.padded_channels().1;
    let m_stride = m.len() / XI;
    for block in 0..ocp / LANES {
        let plane = &blocked[block * ph * pw * LANES..(block + 1) * ph * pw * LANES];
        for ty in 0..plan.tiles_h {
            for tx in 0..plan.tiles_w {
                let base = ((2 * ty + 1) * pw + 2 * tx + 1) * LANES;
                let d = [[load(plane, base), load(plane, base + LANES)], [load(plane, base + pw * LANES), load(plane, base + (pw + 1) * LANES)]];
                // A ∂Y: spread the two rows onto four.
                let mut e = [[[0.0f32; LANES]; 2]; 4];
                for j in 0..2 {
                    for l in 0..LANES {
                        e[0][j][l] = d[0][j][l];
                        e[1][j][l] = d[0][j][l] + d[1][j][l];
                        e[2][j][l] = d[0][j][l] - d[1][j][l];
                        e[3][j][l] = -d[1][j][l];
                    }
                }
                // (A ∂Y) Aᵀ: spread the two columns onto four, store M'_ξ[t, block].
                let at = (t0 + ty * plan.tiles_w + tx) * ocp + block * LANES;
                for (r, er) in e.iter().enumerate() {
                    let mut vals = [[0.0f32; LANES]; 4];
                    for l in 0..LANES {
                        vals[0][l] = er[0][l];
                        vals[1][l] = er[0][l] + er[1][l];
                        vals[2][l] = er[0][l] - er[1][l];
                        vals[3][l] = -er[1][l];
                    }
                    for (s, val) in vals.iter().enumerate() {
                        let xi = r * 4 + s;
                        m[xi * m_stride + at..xi * m_stride + at + LANES].copy_from_slice(val);
                    }
                }
            }
        }
    }
}

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
    fn transform_output => transform_output_kernel(plan: &Plan, m: &[f32], t0: usize, epilogue: Epilogue<'_>, y: &mut [f32], stage: &mut [f32])
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::random_tensor;

    /// Direct "same" 3×3 convolution, the definition.
    fn direct(x: &[f32], w: &[f32], bias: &[f32], n: usize, c: usize, oc: usize, h: usize, wd: usize) -> Vec<f32> {
        let mut y = vec![0.0; n * oc * h * wd];
        for s in 0..n {
            for o in 0..oc {
                for r in 0..h {
                    for q in 0..wd {
                        let mut acc = bias[o] as f64;
                        for i in 0..c {
                            for ki in 0..3 {
                                for kj in 0..3 {
                                    let (rr, qq) = (r as isize + ki as isize - 1, q as isize + kj as isize - 1);
                                    if rr >= 0 && qq >= 0 && (rr as usize) < h && (qq as usize) < wd {
                                        acc += (x[((s * c + i) * h + rr as usize) * wd + qq as usize] * w[((o * c + i) * 3 + ki) * 3 + kj]) as f64;
                                    }
                                }
                            }
                        }
                        y[((s * oc + o) * h + r) * wd + q] = acc as f32;
                    }
                }
            }
        }
        y
    }

    fn run(plan: &Plan, w: &[f32], grad: bool, x: &[f32], y: &mut [f32], epilogue: Epilogue) {
        let mut u = vec![0.0; plan.kernels_len()];
        plan.transform_kernels(w, grad, &mut u);
        let mut work = vec![f32::NAN; plan.work_len()];
        plan.run(&u, x, y, epilogue, &mut work);
    }

    #[test]
    fn matches_direct_convolution_on_even_and_odd_sizes() {
        for &(n, c, oc, h, w) in &[(3, 2, 3, 6, 6), (2, 3, 4, 7, 5), (1, 1, 2, 1, 1), (5, 4, 2, 3, 8), (9, 2, 2, 7, 7), (3, 17, 33, 6, 5), (2, 32, 16, 14, 14)] {
            let x = random_tensor(&[n, c, h, w], 1).data;
            let k = random_tensor(&[oc, c, 3, 3], 2).data;
            let b = random_tensor(&[oc], 3).data;
            let want = direct(&x, &k, &b, n, c, oc, h, w);
            let plan = Plan::new(c, oc, h, w, false);
            let mut y = vec![f32::NAN; n * oc * h * w];
            run(&plan, &k, false, &x, &mut y, Epilogue::Store { bias: Some(&b) });
            for (a, e) in y.iter().zip(&want) {
                assert!((a - e).abs() < 1e-4 * (1.0 + e.abs()), "{:?}: {a} vs {e}", (n, c, oc, h, w));
            }
        }
    }

    #[test]
    fn fused_max_pool_matches_the_layers() {
        for &(n, c, oc, h, w) in &[(4, 3, 5, 7, 7), (2, 2, 3, 6, 9), (3, 1, 4, 28, 28), (2, 20, 18, 7, 7)] {
            let x = random_tensor(&[n, c, h, w], 4).data;
            let k = random_tensor(&[oc, c, 3, 3], 5).data;
            // Biases low enough that some windows' maxima are negative (for the ReLU to clamp).
            let b: Vec<f32> = random_tensor(&[oc], 6).data.iter().map(|v| v - 3.0).collect();
            let full = direct(&x, &k, &b, n, c, oc, h, w);
            let (ph, pw) = (h / 2, w / 2);
            let plan = Plan::new(c, oc, h, w, true);
            for relu in [true, false] {
                let mut y = vec![f32::NAN; n * oc * ph * pw];
                run(&plan, &k, false, &x, &mut y, Epilogue::MaxPool { bias: Some(&b), relu });
                let mut negatives = 0;
                for s in 0..n * oc {
                    for r in 0..ph {
                        for q in 0..pw {
                            let at = |i: usize, j: usize| full[s * h * w + (2 * r + i) * w + 2 * q + j];
                            let max = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                            let want = if relu { max.max(0.0) } else { max };
                            let got = y[s * ph * pw + r * pw + q];
                            negatives += (got < 0.0) as usize;
                            assert!((got - want).abs() < 1e-4 * (1.0 + want.abs()), "relu {relu}: {got} vs {want}");
                        }
                    }
                }
                assert_eq!(negatives == 0, relu, "only the ReLU clamps");
            }
        }
    }

    /// ⟨conv(x), dy⟩ = ⟨x, conv_grad(dy)⟩: the turned, channel-swapped kernels give the adjoint.
    #[test]
    fn input_grad_kernels_give_the_adjoint() {
        let (n, c, oc, h, w) = (2, 3, 17, 7, 6);
        let x = random_tensor(&[n, c, h, w], 7).data;
        let dy = random_tensor(&[n, oc, h, w], 8).data;
        let k = random_tensor(&[oc, c, 3, 3], 9).data;
        let y = direct(&x, &k, &vec![0.0; oc], n, c, oc, h, w);
        let plan = Plan::new(oc, c, h, w, false);
        let mut dx = vec![f32::NAN; n * c * h * w];
        run(&plan, &k, true, &dy, &mut dx, Epilogue::Store { bias: None });
        let lhs: f64 = y.iter().zip(&dy).map(|(a, b)| (a * b) as f64).sum();
        let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| (a * b) as f64).sum();
        assert!((lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()), "{lhs} vs {rhs}");
    }

    /// The weight gradient from transformed tiles equals the direct sum
    /// `∂W[o, c, ki, kj] = Σ_n Σ_(r,q) ∂y[n, o, r, q] · x[n, c, r + ki − 1, q + kj − 1]`, on odd
    /// and even sizes, partial channel blocks, and batches that split into several groups;
    /// it adds onto what `dw` held.
    #[test]
    fn weight_grad_matches_direct_sum() {
        for &(n, c, oc, h, w) in &[(3, 2, 3, 6, 6), (2, 3, 4, 7, 5), (1, 1, 2, 1, 1), (5, 17, 33, 6, 5), (4, 32, 16, 14, 14), (9, 4, 5, 7, 7)] {
            let x = random_tensor(&[n, c, h, w], 21).data;
            let dy = random_tensor(&[n, oc, h, w], 22).data;
            let mut want = vec![0.0f64; oc * c * 9];
            for s in 0..n {
                for o in 0..oc {
                    for i in 0..c {
                        for k in 0..9 {
                            let (ki, kj) = (k / 3, k % 3);
                            for r in 0..h {
                                for q in 0..w {
                                    let (rr, qq) = (r as isize + ki as isize - 1, q as isize + kj as isize - 1);
                                    if rr >= 0 && qq >= 0 && (rr as usize) < h && (qq as usize) < w {
                                        want[(o * c + i) * 9 + k] += (dy[((s * oc + o) * h + r) * w + q] * x[((s * c + i) * h + rr as usize) * w + qq as usize]) as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let plan = Plan::new(c, oc, h, w, false);
            let mut du = vec![0.0; plan.weight_grad_len()];
            let mut work = vec![f32::NAN; plan.weight_grad_work_len()];
            plan.accumulate_weight_grad(&x, &dy, &mut du, &mut work);
            let mut dw = vec![1.0; oc * c * 9];
            plan.weight_grad_from_transformed(&du, &mut dw);
            let worst = dw.iter().zip(&want).map(|(a, e)| ((a - 1.0) as f64 - e).abs() / (1.0 + e.abs())).fold(0.0, f64::max);
            assert!(worst < 1e-4, "{:?}: largest relative difference {worst}", (n, c, oc, h, w));
        }
    }

    /// The permuted forward kernels equal the input-gradient kernels computed directly.
    #[test]
    fn input_grad_kernels_from_forward_kernels() {
        let (c, oc) = (5, 19);
        let k = random_tensor(&[oc, c, 3, 3], 11).data;
        let (fwd, grad) = (Plan::new(c, oc, 6, 6, false), Plan::new(oc, c, 6, 6, false));
        let (mut u, mut want, mut got) = (vec![0.0; fwd.kernels_len()], vec![0.0; grad.kernels_len()], vec![f32::NAN; grad.kernels_len()]);
        fwd.transform_kernels(&k, false, &mut u);
        grad.transform_kernels(&k, true, &mut want);
        grad.kernels_from_forward(&u, &mut got);
        // Equal up to the order of the sums inside G g Gᵀ.
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-6, "largest difference {worst}");
    }

    #[test]
    fn applies_only_to_3x3_stride_1_pad_1() {
        use crate::conv_geometry::{Geometry, Padding, PaddingName};
        let geo = |k: usize, s: usize, d: usize, p: Padding| Geometry::new("t", [2, 8, 8], [k, k], [s, s], [d, d], p).unwrap();
        assert!(applies(&geo(3, 1, 1, Padding::Named(PaddingName::Same))));
        assert!(applies(&geo(3, 1, 1, Padding::Uniform(1))));
        assert!(!applies(&geo(3, 1, 1, Padding::Uniform(0))));
        assert!(!applies(&geo(3, 2, 1, Padding::Uniform(1))));
        assert!(!applies(&geo(3, 1, 2, Padding::Uniform(1))));
        assert!(!applies(&geo(5, 1, 1, Padding::Uniform(1))));
    }
}
