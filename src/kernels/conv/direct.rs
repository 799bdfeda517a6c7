//! The definition of the convolution, seven loops in f64: the reference every lowering is
//! checked against (slow; for tests and benchmarks).

use crate::kernels::geometry::Geometry;

/// `y[s, o, oh, ow] = b[o] + Σ_{c, ki, kj} x[s, c, oh·sh − pt + ki·dh, ow·sw − pl + kj·dw] · W[o, c, ki, kj]`
/// (zero outside the image) for every sample of `x`, accumulated in f64.
pub fn convolve(geo: &Geometry, out_channels: usize, weight: &[f32], bias: Option<&[f32]>, x: &[f32]) -> Vec<f32> {
    let g = geo;
    let n = x.len() / g.in_len().max(1);
    let mut y = vec![0.0f32; n * out_channels * g.out_pixels()];
    for s in 0..n {
        for o in 0..out_channels {
            for oh in 0..g.out_h {
                for ow in 0..g.out_w {
                    let mut acc = bias.map_or(0.0, |b| b[o] as f64);
                    for ch in 0..g.channels {
                        for ki in 0..g.kernel_h {
                            for kj in 0..g.kernel_w {
                                let r = (oh * g.stride_h + ki * g.dilation_h) as isize - g.pad_top as isize;
                                let q = (ow * g.stride_w + kj * g.dilation_w) as isize - g.pad_left as isize;
                                if r < 0 || q < 0 || r as usize >= g.in_h || q as usize >= g.in_w {
                                    continue;
                                }
                                let xv = x[((s * g.channels + ch) * g.in_h + r as usize) * g.in_w + q as usize];
                                let wv = weight[((o * g.channels + ch) * g.kernel_h + ki) * g.kernel_w + kj];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    y[((s * out_channels + o) * g.out_h + oh) * g.out_w + ow] = acc as f32;
                }
            }
        }
    }
    y
}
