//! The convolution of a layer with few input channels, tap by tap, for inference: no columns,
//! no GEMM.
//!
//! For stride 1 and dilation 1,
//!
//! ```text
//! y[o, oh, ow] = b[o] + Σ_{c, ki, kj} W[o, c, ki, kj] · xp[c, oh + ki, ow + kj]
//! ```
//!
//! with `xp` the image zero-padded (`pt`, `pl` before, enough after). Each tap `(c, ki, kj)` is
//! one multiply-add of a weight into [`LANES`] neighbouring outputs of a row, read from the
//! padded row at offset `kj`; [`BLOCK`] output channels share each load. When `K = C·kh·kw` is
//! small (`small`'s 1→4 and 4→4 layers: 9 and 36), im2col's short copies and a GEMM with 4 rows
//! cost several times the multiply-adds themselves; here the work is the multiply-adds. The
//! reference is [`super::direct::convolve`]; [`TAPS_MAX_K`] says where this path is taken.

use crate::kernels::geometry::Geometry;
use crate::kernels::simd::{multiversion, LANES};

/// Largest `C·kh·kw` for which an inference forward runs tap by tap. Measured alternating
/// builds with `profile_step` (batch 1,000, 2 threads): `small` (K = 9 and 36) 158k → 377k
/// images/s together with the batch-norm fold (`src/network/fusion.rs`; im2col alone was a
/// third of the old profile); `lenet`, whose first layer (K = 25, 20 outputs) also runs
/// here, 37k → 38–43k. Above 64 a layer has ≥ 8 input channels for a 3×3 kernel and takes
/// rows or Winograd.
pub const TAPS_MAX_K: usize = 64;

/// Output channels computed together (each input row loaded once for all of them).
pub const BLOCK: usize = 4;

/// True when a convolution of geometry `geo` may run tap by tap: stride 1, dilation 1 and
/// `C·kh·kw ≤` [`TAPS_MAX_K`].
pub fn applies(geo: &Geometry) -> bool {
    geo.has_rows() && geo.col_rows() <= TAPS_MAX_K && geo.out_h > 0 && geo.out_w > 0
}

/// True when tap by tap beats im2col + GEMM for a batch of this layer (or one image on one
/// thread): with few outputs (≤ 2·[`BLOCK`]) or `K = C·kh·kw ≥ 16`. Measured with `taps_ab`
/// (batch 64, 2 threads; best of 200 rounds, µs, im2col / taps): 1→4 3×3 at 28×28 (one image)
/// 3.0 / 1.7, 4→4 at 14×14 4.7 / 1.3, 1→8 148 / 110, 2→16 423 / 283, 1→20 5×5 437 / 326,
/// 1→32 5×5 595 / 515 — but 1→16 3×3 175 / 179 and 1→32 3×3 300 / 357, where the GEMM's
/// fused multiply-adds over 32 rows beat a multiply and an add per tap. (A single image runs
/// tap by tap whatever this says: a 1→32 3×3 image split across two threads, 11.2 / 6.7 µs.
/// The choice never depends on the thread count: one image gets the same bits on one thread,
/// as in a Ray worker, as on two.)
pub fn preferred(geo: &Geometry, out_channels: usize) -> bool {
    out_channels <= 2 * BLOCK || geo.col_rows() >= 16
}

/// Rows and row length of the padded image: every row long enough for the last block of
/// [`LANES`] outputs to read `kw − 1` further.
fn padded_dims(geo: &Geometry) -> (usize, usize) {
    let rows = geo.out_h + geo.kernel_h - 1;
    let row = (geo.out_w.div_ceil(LANES) * LANES + geo.kernel_w - 1).max(geo.in_w + geo.pad_left);
    (rows, row)
}

/// Scratch floats one sample needs: its padded image.
pub fn scratch_len(geo: &Geometry) -> usize {
    let (rows, row) = padded_dims(geo);
    geo.channels * rows * row
}

/// Floats of the weight packed by [`pack_weights`] for `out_channels` outputs.
pub fn packed_len(geo: &Geometry, out_channels: usize) -> usize {
    out_channels.div_ceil(BLOCK) * BLOCK * geo.col_rows()
}

/// The weight `W[OC, K]` packed block by block, `[OC/BLOCK][K][BLOCK]` (zeros past the last
/// channel), so the [`BLOCK`] weights of a tap are adjacent.
pub fn pack_weights(geo: &Geometry, out_channels: usize, weight: &[f32], packed: &mut [f32]) {
    let kk = geo.col_rows();
    debug_assert_eq!(weight.len(), out_channels * kk);
    debug_assert_eq!(packed.len(), packed_len(geo, out_channels));
    for (b, block) in packed.chunks_mut(kk * BLOCK).enumerate() {
        for (k, taps) in block.chunks_mut(BLOCK).enumerate() {
            for (q, w) in taps.iter_mut().enumerate() {
                let o = b * BLOCK + q;
                *w = if o < out_channels { weight[o * kk + k] } else { 0.0 };
            }
        }
    }
}

/// One sample's convolution: `x[C, H, W]` → `y[OC, OH, OW]`, with the weight packed by
/// [`pack_weights`] and `scratch` of [`scratch_len`] floats.
pub fn convolve(geo: &Geometry, out_channels: usize, packed: &[f32], bias: Option<&[f32]>, x: &[f32], scratch: &mut [f32], y: &mut [f32]) {
    debug_assert!(applies(geo));
    debug_assert_eq!(x.len(), geo.in_len());
    debug_assert_eq!(y.len(), out_channels * geo.out_pixels());
    convolve_taps(geo, out_channels, packed, bias, x, scratch, y);
}

multiversion!(
    /// The convolution of one sample (see `convolve_kernel`). A multiply and an add, not a fused
    /// multiply-add: `f32::mul_add` here left the kernel half-vectorised (ymm, xmm and scalar
    /// FMAs) and twice as slow (`taps_ab`).
    fn convolve_taps => convolve_kernel(geo: &Geometry, out_channels: usize, packed: &[f32], bias: Option<&[f32]>, x: &[f32], scratch: &mut [f32], y: &mut [f32])
);

#[inline(always)]
fn convolve_kernel(geo: &Geometry, out_channels: usize, packed: &[f32], bias: Option<&[f32]>, x: &[f32], scratch: &mut [f32], y: &mut [f32]) {
    let (rows, row) = padded_dims(geo);
    let (c, h, w) = (geo.channels, geo.in_h, geo.in_w);
    let (kh, kw, kk) = (geo.kernel_h, geo.kernel_w, geo.col_rows());
    let (oh_len, ow_len) = (geo.out_h, geo.out_w);
    let padded = &mut scratch[..c * rows * row];
    padded.fill(0.0);
    for ch in 0..c {
        for r in 0..h {
            let pr = r + geo.pad_top;
            if pr >= rows {
                break;
            }
            let dst = &mut padded[(ch * rows + pr) * row + geo.pad_left..][..w];
            dst.copy_from_slice(&x[(ch * h + r) * w..][..w]);
        }
    }
    let padded = &*padded;
    for (b, weights) in packed.chunks_exact(kk * BLOCK).enumerate() {
        let o0 = b * BLOCK;
        let m = BLOCK.min(out_channels - o0);
        let mut start = [0.0f32; BLOCK];
        for (q, s) in start.iter_mut().enumerate().take(m) {
            *s = bias.map_or(0.0, |bias| bias[o0 + q]);
        }
        let shape = Taps { c, rows, row, kh, kw, oh_len, ow_len };
        for oh in 0..oh_len {
            let mut j0 = 0;
            while j0 < ow_len {
                // A last run of at most half a register takes a half-width block, and one of
                // 17–24 outputs one block and a half: `lenet`'s 24 outputs a row are not
                // 16 + 16 with a third of the work wasted.
                let left = ow_len - j0;
                if left <= LANES / 2 {
                    outputs_from::<{ LANES / 2 }>(&shape, padded, weights, &start, m, oh, j0, &mut y[o0 * oh_len * ow_len..]);
                    j0 += LANES / 2;
                } else if left > LANES && left <= LANES + LANES / 2 {
                    outputs_from::<{ LANES + LANES / 2 }>(&shape, padded, weights, &start, m, oh, j0, &mut y[o0 * oh_len * ow_len..]);
                    j0 += LANES + LANES / 2;
                } else {
                    outputs_from::<LANES>(&shape, padded, weights, &start, m, oh, j0, &mut y[o0 * oh_len * ow_len..]);
                    j0 += LANES;
                }
            }
        }
    }
}

/// The sizes [`outputs_from`] reads the padded image and writes the output with.
struct Taps {
    c: usize,
    rows: usize,
    row: usize,
    kh: usize,
    kw: usize,
    oh_len: usize,
    ow_len: usize,
}

/// Outputs `j0 … j0 + L` (those inside the row) of row `oh` for the [`BLOCK`] output channels
/// of `weights` (`m` of them real) starting at `start` (their bias), into `y` from the block's
/// first channel on.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn outputs_from<const L: usize>(s: &Taps, padded: &[f32], weights: &[f32], start: &[f32; BLOCK], m: usize, oh: usize, j0: usize, y: &mut [f32]) {
    let mut acc = [[0.0f32; L]; BLOCK];
    for (a, &st) in acc.iter_mut().zip(start) {
        *a = [st; L];
    }
    for ch in 0..s.c {
        for ki in 0..s.kh {
            let base = (ch * s.rows + oh + ki) * s.row + j0;
            let src = &padded[base..base + s.kw - 1 + L];
            let taps = &weights[(ch * s.kh + ki) * s.kw * BLOCK..][..s.kw * BLOCK];
            for (v, tap) in src.windows(L).zip(taps.chunks_exact(BLOCK)) {
                let v: &[f32; L] = v.try_into().expect("windows of L floats");
                let tap: &[f32; BLOCK] = tap.try_into().expect("chunks of BLOCK weights");
                for (a, &wq) in acc.iter_mut().zip(tap) {
                    for (al, &vl) in a.iter_mut().zip(v) {
                        *al += wq * vl;
                    }
                }
            }
        }
    }
    // Constant indices only (no slice of `acc` of a run-time length), so `acc` stays in
    // registers.
    let len = L.min(s.ow_len - j0);
    for (q, a) in acc.iter().enumerate() {
        if q >= m {
            continue;
        }
        let dst = &mut y[(q * s.oh_len + oh) * s.ow_len + j0..][..len];
        if let Ok(dst) = <&mut [f32; L]>::try_from(&mut *dst) {
            *dst = *a;
        } else {
            for (l, d) in dst.iter_mut().enumerate() {
                *d = a[l];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::geometry::{Padding, PaddingName};

    /// Tap by tap equals the seven-loop definition: outputs narrower and wider than a vector,
    /// channel counts that do not fill a block, asymmetric and "same" padding, 1×1 to 5×5.
    #[test]
    fn matches_the_definition() {
        // (input, output channels, kernel, padding, bias)
        type Case = ([usize; 3], usize, [usize; 2], Padding, bool);
        let cases: &[Case] = &[
            ([1, 28, 28], 4, [3, 3], Padding::Uniform(1), true),
            ([4, 14, 14], 4, [3, 3], Padding::Uniform(1), true),
            ([1, 28, 28], 20, [5, 5], Padding::Uniform(0), true),
            ([3, 9, 37], 6, [3, 2], Padding::HeightWidth([0, 1]), false),
            ([2, 5, 5], 1, [1, 1], Padding::Uniform(0), true),
            ([7, 8, 17], 9, [3, 3], Padding::Named(PaddingName::Same), true),
            ([1, 4, 3], 2, [2, 2], Padding::Uniform(3), true),
        ];
        let mut rng = crate::init::Rng::new(3);
        for (i, &(input, oc, k, pad, with_bias)) in cases.iter().enumerate() {
            let geo = Geometry::new("t", input, k, [1, 1], [1, 1], pad).unwrap();
            assert!(applies(&geo), "case {i}");
            let kk = geo.col_rows();
            let weight: Vec<f32> = (0..oc * kk).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let bias: Vec<f32> = (0..oc).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let bias = with_bias.then_some(&bias[..]);
            let x: Vec<f32> = (0..geo.in_len()).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let mut packed = vec![f32::NAN; packed_len(&geo, oc)];
            pack_weights(&geo, oc, &weight, &mut packed);
            let mut scratch = vec![f32::NAN; scratch_len(&geo)];
            let mut y = vec![f32::NAN; oc * geo.out_pixels()];
            convolve(&geo, oc, &packed, bias, &x, &mut scratch, &mut y);
            let want = super::super::direct::convolve(&geo, oc, &weight, bias, &x);
            assert_eq!(y.len(), want.len());
            for (j, (a, b)) in y.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-5, "case {i}, output {j}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn takes_only_small_stride_one_layers() {
        let geo = |c, s, d| Geometry::new("t", [c, 12, 12], [3, 3], [s, s], [d, d], Padding::Uniform(1)).unwrap();
        assert!(applies(&geo(7, 1, 1)));
        assert!(!applies(&geo(8, 1, 1)), "K = 72 > TAPS_MAX_K");
        assert!(!applies(&geo(1, 2, 1)));
        assert!(!applies(&geo(1, 1, 2)));
    }
}
