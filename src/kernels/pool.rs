//! Max-pooling kernels: the batch loops of a max-pool layer (recording arg-maxes for the
//! backward, optionally clamped at zero — a ReLU and max pooling commute), the common
//! 2×2/stride-2 fast path beside the general window loop it must agree with, and the 2×2
//! pool/unpool of whole planes that fused convolutions pool their output with.
//!
//! ```text
//! max:      y[c, i, j] = max over the window of x          (arg-max recorded)
//!           ∂L/∂x[argmax] += dy[c, i, j]                    (first maximum on ties)
//! padded:   the window cut to the image (padding is −∞, never the maximum)
//! relu+max: y = max(0, max over the window of x)
//!           ∂L/∂x[argmax] += dy if y > 0
//! ```

use crate::error::{Error, Result};
use crate::kernels::geometry::Geometry;
use rayon::prelude::*;

/// Samples per parallel chunk.
pub fn chunk_samples(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads()).max(1)
}

/// Max pooling of the batch `x` (samples of `g.in_len()` values) into `y` (already sized),
/// recording every output's arg-max (its index within the sample) in `argmax`; with `relu`,
/// of `max(0, x)`.
pub fn max_pool(g: &Geometry, x: &[f32], y: &mut [f32], argmax: &mut Vec<u32>, relu: bool) {
    let (in_len, out_len) = (g.in_len(), g.channels * g.out_pixels());
    let n = x.len().checked_div(in_len).unwrap_or(0);
    let cs = chunk_samples(n);
    argmax.resize(n * out_len, 0);
    let padded = g.is_padded();
    y.par_chunks_mut(cs * out_len).zip(x.par_chunks(cs * in_len)).zip(argmax.par_chunks_mut(cs * out_len)).for_each(|((ys, xs), am)| {
        for ((ys, xs), am) in ys.chunks_mut(out_len).zip(xs.chunks(in_len)).zip(am.chunks_mut(out_len)) {
            if padded {
                max_pool_sample_padded(g, xs, ys, am, relu);
            } else {
                max_pool_sample(g, xs, ys, am, relu);
            }
        }
    });
}

/// The backward of [`max_pool`] for a batch of `n`: `dx[argmax] = dy`, zero elsewhere; with
/// `relu_output` (the forward's `y` when it ran with `relu`), only where that output is
/// positive (the ReLU's gradient). `dx` holds `n` samples of `g.in_len()` values.
pub fn max_pool_backward(g: &Geometry, n: usize, argmax: &[u32], relu_output: Option<&[f32]>, dy: &[f32], dx: &mut [f32]) -> Result<()> {
    let (in_len, out_len) = (g.in_len(), g.channels * g.out_pixels());
    if argmax.len() != n * out_len || relu_output.is_some_and(|y| y.len() != n * out_len) || dy.len() != n * out_len || dx.len() != n * in_len {
        return Err(Error::config("MaxPool2d backward called without a matching forward"));
    }
    let cs = chunk_samples(n);
    let ys = relu_output.unwrap_or(&[]);
    dx.par_chunks_mut(cs * in_len).zip(dy.par_chunks(cs * out_len)).zip(argmax.par_chunks(cs * out_len)).enumerate().for_each(|(ci, ((dxs, dys), am))| {
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

/// Max pooling of one sample whose geometry pads: each window is cut to the image
/// ([`Geometry::window_rows`], [`Geometry::window_cols`]), as if the padding were −∞ — it
/// never wins, and every window keeps at least one real value because pools refuse a pad as
/// large as the kernel. Visits the window row by row like [`max_pool_sample`], so the first
/// maximum wins ties.
fn max_pool_sample_padded(g: &Geometry, xs: &[f32], ys: &mut [f32], argmax: &mut [u32], relu: bool) {
    for c in 0..g.channels {
        let base = c * g.in_h * g.in_w;
        for oh in 0..g.out_h {
            let (r0, r1) = g.window_rows(oh);
            for ow in 0..g.out_w {
                let (c0, c1) = g.window_cols(ow);
                let first = base + r0 * g.in_w + c0;
                let (mut best, mut best_i) = (xs[first], first);
                for r in r0..r1 {
                    let row = base + r * g.in_w;
                    for (q, &v) in xs[row + c0..row + c1].iter().enumerate() {
                        if v > best {
                            best = v;
                            best_i = row + c0 + q;
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
pub const CLAMPED: u8 = u8::MAX; // all ones: the kernels mask choices to it

/// `y[c, i, j] = max(x[c, 2i…2i+1, 2j…2j+1])`, clamped at zero with `relu`, for `channels`
/// planes of `h × w` (a trailing odd row or column is never pooled): the pooling of fused
/// convolutions ([`crate::kernels::conv::ConvKernel::forward_pooled`]). With `choice`, each window's
/// maximum is also recorded as `2·row + column` (the first on ties, as [`max_pool`] picks it), or
/// [`CLAMPED`] where the ReLU clamped the window (no gradient flows back through it).
pub fn max_pool_2x2_planes(x: &[f32], channels: usize, h: usize, w: usize, relu: bool, y: &mut [f32], choice: Option<&mut [u8]>) {
    let Some(choice) = choice else {
        max_pool_2x2_planes_eval(x, channels, h, w, relu, y);
        return;
    };
    let (oh, ow) = (h / 2, w / 2);
    let planes = x.chunks(h * w).zip(y.chunks_mut(oh * ow)).take(channels);
    for ((plane, out), choice) in planes.zip(choice.chunks_mut(oh * ow)) {
        for (i, (out_row, choice_row)) in out.chunks_mut(ow).zip(choice.chunks_mut(ow)).enumerate() {
            let (top, bottom) = (&plane[2 * i * w..2 * i * w + w], &plane[(2 * i + 1) * w..(2 * i + 1) * w + w]);
            let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
            for ((o, c), (t, b)) in out_row.iter_mut().zip(choice_row.iter_mut()).zip(windows) {
                // The window in Pool2d's order, strictly greater to win: first maximum on ties.
                let (mut best, mut at) = (t[0], 0u32);
                for (k, v) in [(1, t[1]), (2, b[0]), (3, b[1])] {
                    let wins = v > best;
                    best = if wins { v } else { best };
                    at = if wins { k } else { at };
                }
                // Bit masks, not branches: the ReLU clamps about half the windows, unpredictably.
                let alive = ((!relu || best > 0.0) as u32).wrapping_neg();
                *o = f32::from_bits(best.to_bits() & alive);
                *c = (at | !alive) as u8; // CLAMPED is all ones
            }
        }
    }
}

crate::kernels::simd::multiversion!(
    /// [`max_pool_2x2_planes`] without choices (inference), compiled for the widest vector
    /// instructions the CPU has (the baseline build's SSE2 copy of this loop was 5.6–5.9 % of
    /// `keras` and `lenet` inference on a Zen 3).
    fn max_pool_2x2_planes_eval => max_pool_2x2_planes_eval_kernel(x: &[f32], channels: usize, h: usize, w: usize, relu: bool, y: &mut [f32])
);

#[inline(always)]
fn max_pool_2x2_planes_eval_kernel(x: &[f32], channels: usize, h: usize, w: usize, relu: bool, y: &mut [f32]) {
    let (oh, ow) = (h / 2, w / 2);
    let planes = x.chunks(h * w).zip(y.chunks_mut(oh * ow)).take(channels);
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
}

/// The backward of [`max_pool_2x2_planes`] with choices: `dy` (pooled, `channels` planes of
/// `⌊h/2⌋ × ⌊w/2⌋`) written at each window's recorded maximum of `dx` (`h × w` planes), zero
/// everywhere else.
pub fn max_unpool_2x2(dy: &[f32], choice: &[u8], channels: usize, h: usize, w: usize, dx: &mut [f32]) {
    let (oh, ow) = (h / 2, w / 2);
    if ow == 0 || oh == 0 {
        dx.fill(0.0);
        return;
    }
    let mut written = 0;
    for ((plane, grads), choice) in dx.chunks_mut(h * w).zip(dy.chunks(oh * ow)).zip(choice.chunks(oh * ow)).take(channels) {
        for (i, (g_row, c_row)) in grads.chunks(ow).zip(choice.chunks(ow)).enumerate() {
            let (top, bottom) = plane[2 * i * w..(2 * i + 2) * w].split_at_mut(w);
            // Every element of the two rows written once, by comparisons that vectorise (a
            // scatter into a zeroed plane was 5 % of a `keras` training step); a clamped
            // window matches none of the four positions.
            let pairs = top.chunks_exact_mut(2).zip(bottom.chunks_exact_mut(2));
            for ((t, b), (&g, &c)) in pairs.zip(g_row.iter().zip(c_row)) {
                t[0] = if c == 0 { g } else { 0.0 };
                t[1] = if c == 1 { g } else { 0.0 };
                b[0] = if c == 2 { g } else { 0.0 };
                b[1] = if c == 3 { g } else { 0.0 };
            }
            if w % 2 == 1 {
                (top[w - 1], bottom[w - 1]) = (0.0, 0.0);
            }
        }
        plane[2 * oh * w..].fill(0.0); // an odd last row
        written += h * w;
    }
    dx[written..].fill(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::geometry::Padding;
    use crate::tensor::Tensor;

    /// The 2×2 fast path gives the general loop's values and arg-maxes, ties included.
    #[test]
    fn fast_2x2_matches_general_loop() {
        let g = Geometry::new("t", [3, 9, 8], [2, 2], [2, 2], [1, 1], Padding::Uniform(0)).unwrap();
        let mut x = Tensor::random(&[1, 3, 9, 8], 3).data;
        x.iter_mut().step_by(5).for_each(|v| *v = 0.5); // plenty of ties
        let n = 3 * g.out_h * g.out_w;
        let (mut y1, mut a1, mut y2, mut a2) = (vec![0.0; n], vec![0; n], vec![0.0; n], vec![0; n]);
        max_pool_2x2(&g, &x, &mut y1, &mut a1, false);
        general_max_pool(&g, &x, &mut y2, &mut a2);
        assert_eq!((y1, a1), (y2, a2));
    }

    /// The planes' pooling without choices (inference, vectorised) gives the values of the one
    /// with choices and of the general loop, with and without the ReLU: odd sizes, rows of
    /// fewer and more than eight windows, ties.
    #[test]
    fn planes_pool_matches_the_general_loop() {
        for (h, w) in [(6, 8), (7, 9), (28, 28), (24, 24), (5, 4), (3, 37)] {
            let channels = 3;
            let g = Geometry::new("t", [channels, h, w], [2, 2], [2, 2], [1, 1], Padding::Uniform(0)).unwrap();
            let mut x = Tensor::random(&[1, channels, h, w], 5).data;
            x.iter_mut().step_by(7).for_each(|v| *v = 0.25);
            let n = channels * g.out_h * g.out_w;
            for relu in [false, true] {
                let (mut want, mut argmax) = (vec![0.0; n], vec![0; n]);
                general_max_pool(&g, &x, &mut want, &mut argmax);
                if relu {
                    want.iter_mut().for_each(|v| *v = v.max(0.0));
                }
                let mut eval = vec![f32::NAN; n];
                max_pool_2x2_planes(&x, channels, h, w, relu, &mut eval, None);
                let (mut train, mut choice) = (vec![f32::NAN; n], vec![0u8; n]);
                max_pool_2x2_planes(&x, channels, h, w, relu, &mut train, Some(&mut choice));
                assert_eq!(eval, want, "{h}×{w}, relu {relu}");
                assert_eq!(train, want, "{h}×{w}, relu {relu} (with choices)");
            }
        }
    }

    /// The unpooling writes each gradient at its window's recorded maximum and zero everywhere
    /// else (clamped windows, an odd last row and column), as a scatter into a zeroed plane does.
    #[test]
    fn unpool_2x2_matches_a_scatter() {
        for (h, w) in [(6, 8), (7, 9), (28, 28), (5, 4)] {
            let (oh, ow, channels) = (h / 2, w / 2, 3);
            let dy = Tensor::random(&[channels * oh * ow], 7).data;
            let choice: Vec<u8> = (0..channels * oh * ow).map(|i| [0, 1, 2, 3, CLAMPED][(i * 7 + i / 3) % 5]).collect();
            let mut expected = vec![0.0; channels * h * w];
            for c in 0..channels {
                for i in 0..oh {
                    for j in 0..ow {
                        let k = (c * oh + i) * ow + j;
                        if choice[k] != CLAMPED {
                            let at = choice[k] as usize;
                            expected[c * h * w + (2 * i + at / 2) * w + 2 * j + at % 2] = dy[k];
                        }
                    }
                }
            }
            let mut dx = vec![f32::NAN; channels * h * w];
            max_unpool_2x2(&dy, &choice, channels, h, w, &mut dx);
            assert_eq!(dx, expected, "{h}×{w}");
        }
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
}
