//! Convolution and pooling geometry, defined once: output size, "same" padding, dilation,
//! and the im2col / col2im lowering.
//!
//! Output size along one axis (the formula of the lecture slides, with dilation):
//!
//! ```text
//! effective kernel  k' = d·(k − 1) + 1
//! output            o  = ⌊(i + p_begin + p_end − k') / s⌋ + 1
//! ```
//!
//! "same" padding (TensorFlow's rule) makes `o = ⌈i / s⌉`, padding in total
//! `max((o − 1)·s + k' − i, 0)`, with the odd pixel at the end (bottom/right).
//!
//! im2col turns one sample `x[C, H, W]` into `cols[C·kh·kw, OH·OW]`, where row
//! `(c·kh + ki)·kw + kj` and column `oh·OW + ow` holds `x[c, oh·sh − pt + ki·dh, ow·sw − pl + kj·dw]`
//! (zero outside the image). A convolution is then `y[OC, OH·OW] = W[OC, C·kh·kw] · cols`.
//! col2im is its adjoint: it adds every column entry back onto the pixel it came from.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Padding of a convolution: a number for every side, (height, width), or "same".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Padding {
    /// The same number of zeros on every side.
    Uniform(usize),
    /// `[ph, pw]`: rows above and below, columns left and right.
    HeightWidth([usize; 2]),
    /// `"same"`: output size ⌈input / stride⌉.
    Named(PaddingName),
}

/// Named padding modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaddingName {
    Same,
    Valid,
}

impl Default for Padding {
    fn default() -> Self {
        Padding::Uniform(0)
    }
}

/// Everything about a 2-d sliding window over one `[C, H, W]` sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub pad_bottom: usize,
    pub pad_right: usize,
    pub out_h: usize,
    pub out_w: usize,
}

/// Padding before and after along one axis, and the output length.
/// `None` when the kernel does not fit (or a size overflows).
fn axis(input: usize, kernel: usize, stride: usize, dilation: usize, padding: (usize, usize, bool)) -> Option<(usize, usize, usize)> {
    let eff = dilation.checked_mul(kernel - 1)?.checked_add(1)?;
    let (begin, end) = if padding.2 {
        let out = input.div_ceil(stride);
        let total = ((out - 1).checked_mul(stride)?.checked_add(eff)?).saturating_sub(input);
        (total / 2, total - total / 2)
    } else {
        (padding.0, padding.1)
    };
    let padded = input.checked_add(begin)?.checked_add(end)?;
    if padded < eff {
        return None;
    }
    Some((begin, end, (padded - eff) / stride + 1))
}

/// `dst ← src` for the short runs of im2col (one output row, often 7–28 floats), as a few
/// fixed-size block copies the compiler inlines as vector moves, rather than a `memcpy` call
/// per run (a loop of block copies would be turned back into one).
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    if n > 32 {
        dst.copy_from_slice(src);
        return;
    }
    let mut i = 0;
    macro_rules! block {
        ($len:literal) => {
            if n - i >= $len {
                dst[i..i + $len].copy_from_slice(&src[i..i + $len]);
                i += $len;
            }
        };
    }
    block!(16);
    block!(16);
    block!(8);
    block!(4);
    block!(2);
    block!(1);
    debug_assert_eq!(i, n);
}

/// `dst ← value` for a short run (im2col's padding, usually 0–2 floats), without a `memset`
/// call.
#[inline(always)]
fn fill_short(dst: &mut [f32], value: f32) {
    if dst.len() > 8 {
        dst.fill(value);
    } else {
        for v in dst {
            *v = value;
        }
    }
}

impl Geometry {
    /// Validates the configuration and computes the output size. `what` names the layer in
    /// error messages.
    #[allow(clippy::too_many_arguments)]
    pub fn new(what: &str, input: [usize; 3], kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2], padding: Padding) -> Result<Self> {
        let (ph, pw, same) = match padding {
            Padding::Uniform(p) => (p, p, false),
            Padding::HeightWidth([ph, pw]) => (ph, pw, false),
            Padding::Named(PaddingName::Valid) => (0, 0, false),
            Padding::Named(PaddingName::Same) => (0, 0, true),
        };
        Geometry::build(what, input, kernel, stride, dilation, [ph, pw, ph, pw], same)
    }

    /// A window with its own padding on each side, `[top, left, bottom, right]` (as ONNX's
    /// `pads` lists them): the asymmetric padding pools may have. Dilation 1.
    pub fn with_sides(what: &str, input: [usize; 3], kernel: [usize; 2], stride: [usize; 2], pads: [usize; 4]) -> Result<Self> {
        Geometry::build(what, input, kernel, stride, [1, 1], pads, false)
    }

    /// The one place the output size is computed: explicit `pads` `[top, left, bottom, right]`,
    /// or TensorFlow's "same" when `same`.
    fn build(what: &str, input: [usize; 3], kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2], pads: [usize; 4], same: bool) -> Result<Self> {
        let [channels, in_h, in_w] = input;
        if channels == 0 || in_h == 0 || in_w == 0 {
            return Err(Error::config(format!("{what}: input shape {input:?} has a zero dimension")));
        }
        if kernel.contains(&0) || stride.contains(&0) || dilation.contains(&0) {
            return Err(Error::config(format!("{what}: kernel {kernel:?}, stride {stride:?} and dilation {dilation:?} must all be ≥ 1")));
        }
        if pads.iter().any(|&p| p > 1024) {
            return Err(Error::config(format!("{what}: padding {pads:?} is absurdly large")));
        }
        if same {
            // "same" padding around a dilated kernel wider than the input would pad whole
            // kernel taps with nothing but zeros.
            for (axis, i) in [(0, in_h), (1, in_w)].into_iter().filter(|&(a, _)| dilation[a] > 1) {
                let eff = dilation[axis].checked_mul(kernel[axis] - 1).and_then(|e| e.checked_add(1));
                if eff.is_none_or(|e| e > i) {
                    return Err(Error::config(format!(
                        "{what}: a {kernel:?} kernel with dilation {dilation:?} spans more than the {in_h}×{in_w} input; \"same\" padding needs it to fit"
                    )));
                }
            }
        }
        let too_small = || Error::config(format!("{what}: a {kernel:?} kernel with dilation {dilation:?} does not fit the {in_h}×{in_w} input"));
        let (pad_top, pad_bottom, out_h) = axis(in_h, kernel[0], stride[0], dilation[0], (pads[0], pads[2], same)).ok_or_else(too_small)?;
        let (pad_left, pad_right, out_w) = axis(in_w, kernel[1], stride[1], dilation[1], (pads[1], pads[3], same)).ok_or_else(too_small)?;
        Ok(Geometry {
            channels,
            in_h,
            in_w,
            kernel_h: kernel[0],
            kernel_w: kernel[1],
            stride_h: stride[0],
            stride_w: stride[1],
            dilation_h: dilation[0],
            dilation_w: dilation[1],
            pad_top,
            pad_left,
            pad_bottom,
            pad_right,
            out_h,
            out_w,
        })
    }

    /// Whether any side is padded.
    pub fn is_padded(&self) -> bool {
        self.pad_top + self.pad_left + self.pad_bottom + self.pad_right > 0
    }

    /// The input rows `begin..end` that pooling window row `oh` covers, padding cut off
    /// (window rows `oh·sh − pt … oh·sh − pt + kh − 1`, dilation 1). Empty only if a pad is
    /// at least the kernel size, which pools refuse.
    #[inline]
    pub fn window_rows(&self, oh: usize) -> (usize, usize) {
        let start = oh * self.stride_h;
        (start.saturating_sub(self.pad_top), (start + self.kernel_h).saturating_sub(self.pad_top).min(self.in_h))
    }

    /// The input columns `begin..end` that pooling window column `ow` covers (as
    /// [`Geometry::window_rows`]).
    #[inline]
    pub fn window_cols(&self, ow: usize) -> (usize, usize) {
        let start = ow * self.stride_w;
        (start.saturating_sub(self.pad_left), (start + self.kernel_w).saturating_sub(self.pad_left).min(self.in_w))
    }

    /// Rows of the im2col matrix: C·kh·kw.
    pub fn col_rows(&self) -> usize {
        self.channels * self.kernel_h * self.kernel_w
    }

    /// Columns of the im2col matrix: OH·OW.
    pub fn out_pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Values in one input sample.
    pub fn in_len(&self) -> usize {
        self.channels * self.in_h * self.in_w
    }

    /// The input row feeding output row `oh` at kernel row `ki`, if inside the image.
    #[inline]
    fn in_row(&self, oh: usize, ki: usize) -> Option<usize> {
        (oh * self.stride_h + ki * self.dilation_h).checked_sub(self.pad_top).filter(|&r| r < self.in_h)
    }

    /// The range of output columns `ow` whose input column `ow·sw − pl + kj·dw` is inside the
    /// image, as `(first, end)`.
    #[inline]
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let off = kj * self.dilation_w; // input col = ow·sw + off − pl
        let first = if off >= self.pad_left { 0 } else { (self.pad_left - off).div_ceil(self.stride_w) };
        // need ow·sw + off − pl ≤ in_w − 1
        let end = if self.in_w + self.pad_left > off { ((self.in_w - 1 + self.pad_left - off) / self.stride_w + 1).min(self.out_w) } else { 0 };
        (first.min(end), end)
    }

    /// `cols[C·kh·kw, OH·OW] ← im2col(x[C, H, W])`.
    pub fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        debug_assert_eq!(x.len(), self.in_len());
        debug_assert_eq!(cols.len(), self.col_rows() * self.out_pixels());
        let p = self.out_pixels();
        for c in 0..self.channels {
            let xc = &x[c * self.in_h * self.in_w..(c + 1) * self.in_h * self.in_w];
            for ki in 0..self.kernel_h {
                for kj in 0..self.kernel_w {
                    let row = (c * self.kernel_h + ki) * self.kernel_w + kj;
                    let dst = &mut cols[row * p..(row + 1) * p];
                    let (first, end) = self.valid_cols(kj);
                    for oh in 0..self.out_h {
                        let d = &mut dst[oh * self.out_w..(oh + 1) * self.out_w];
                        match self.in_row(oh, ki) {
                            None => d.fill(0.0),
                            Some(r) => {
                                fill_short(&mut d[..first], 0.0);
                                fill_short(&mut d[end..], 0.0);
                                let src = &xc[r * self.in_w..(r + 1) * self.in_w];
                                let base = kj * self.dilation_w;
                                if first == end {
                                    // No output column reads the image at this kernel column.
                                } else if self.stride_w == 1 {
                                    let s0 = first + base - self.pad_left;
                                    copy_short(&mut d[first..end], &src[s0..s0 + (end - first)]);
                                } else {
                                    for (ow, v) in d.iter_mut().enumerate().take(end).skip(first) {
                                        *v = src[ow * self.stride_w + base - self.pad_left];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// True when [`Geometry::im2row`] applies: stride 1 and dilation 1.
    pub fn has_rows(&self) -> bool {
        self.stride_h == 1 && self.stride_w == 1 && self.dilation_h == 1 && self.dilation_w == 1
    }

    /// Floats of the padded channels-last image [`Geometry::im2row`] works through.
    pub fn padded_hwc_len(&self) -> usize {
        (self.in_h + self.pad_top + self.pad_bottom) * (self.in_w + self.pad_left + self.pad_right) * self.channels
    }

    /// The transpose of im2col with the kernel index reordered channels-last, for stride 1 and
    /// dilation 1 ([`Geometry::has_rows`]): `rows[OH·OW, kh·kw·C]`, row `oh·OW + ow`, column
    /// `(ki·kw + kj)·C + c` holds `x[c, oh − pt + ki, ow − pl + kj]` (zero outside).
    ///
    /// Through a padded channels-last copy of `x` (`padded`, [`Geometry::padded_hwc_len`]
    /// floats), each kernel row of a window is one contiguous run of `kw·C` values, so a row of
    /// `rows` is `kh` block copies — where im2col needs `C·kh·kw·OH` short ones. With the
    /// kernel index contiguous, `rows` is what a GEMM reads without repacking.
    pub fn im2row(&self, x: &[f32], padded: &mut [f32], rows: &mut [f32]) {
        debug_assert!(self.has_rows());
        debug_assert_eq!(x.len(), self.in_len());
        debug_assert_eq!(padded.len(), self.padded_hwc_len());
        debug_assert_eq!(rows.len(), self.col_rows() * self.out_pixels());
        let c = self.channels;
        let pw = self.in_w + self.pad_left + self.pad_right;
        padded.fill(0.0);
        for (ch, plane) in x.chunks(self.in_h * self.in_w).enumerate() {
            for (r, row) in plane.chunks(self.in_w).enumerate() {
                let base = ((r + self.pad_top) * pw + self.pad_left) * c + ch;
                for (q, &v) in row.iter().enumerate() {
                    padded[base + q * c] = v;
                }
            }
        }
        let run = self.kernel_w * c;
        for (p, dst) in rows.chunks_mut(self.kernel_h * run).enumerate() {
            let (oh, ow) = (p / self.out_w, p % self.out_w);
            for (ki, d) in dst.chunks_mut(run).enumerate() {
                let at = ((oh + ki) * pw + ow) * c;
                d.copy_from_slice(&padded[at..at + run]);
            }
        }
    }

    /// `dx[C, H, W] += col2im(cols[C·kh·kw, OH·OW])`: the adjoint of [`Geometry::im2col`].
    pub fn col2im_add(&self, cols: &[f32], dx: &mut [f32]) {
        debug_assert_eq!(dx.len(), self.in_len());
        let p = self.out_pixels();
        let plain = (self.stride_h, self.stride_w, self.dilation_h, self.dilation_w) == (1, 1, 1, 1);
        if plain && self.pad_top == 0 && self.pad_left == 0 && self.pad_bottom == 0 && self.pad_right == 0 {
            // A "valid" stride-1 convolution (`lenet` conv2): every output row lands whole on
            // an input row, with none of the general path's per-row range checks (its rows of
            // 8 values made those checks the cost).
            let (ow, iw) = (self.out_w, self.in_w);
            for (c, dxc) in dx.chunks_mut(self.in_h * iw).enumerate().take(self.channels) {
                for ki in 0..self.kernel_h {
                    for kj in 0..self.kernel_w {
                        let row = (c * self.kernel_h + ki) * self.kernel_w + kj;
                        for (oh, s) in cols[row * p..(row + 1) * p].chunks_exact(ow).enumerate() {
                            let at = (oh + ki) * iw + kj;
                            for (dv, sv) in dxc[at..at + ow].iter_mut().zip(s) {
                                *dv += sv;
                            }
                        }
                    }
                }
            }
            return;
        }
        for c in 0..self.channels {
            let dxc = &mut dx[c * self.in_h * self.in_w..(c + 1) * self.in_h * self.in_w];
            for ki in 0..self.kernel_h {
                for kj in 0..self.kernel_w {
                    let row = (c * self.kernel_h + ki) * self.kernel_w + kj;
                    let src = &cols[row * p..(row + 1) * p];
                    let (first, end) = self.valid_cols(kj);
                    let base = kj * self.dilation_w;
                    for oh in 0..self.out_h {
                        if let Some(r) = self.in_row(oh, ki) {
                            let s = &src[oh * self.out_w..(oh + 1) * self.out_w];
                            let d = &mut dxc[r * self.in_w..(r + 1) * self.in_w];
                            if first == end {
                                // No output column reads the image at this kernel column.
                            } else if self.stride_w == 1 {
                                // A contiguous run: one vectorisable add.
                                let at = first + base - self.pad_left;
                                for (dv, sv) in d[at..at + (end - first)].iter_mut().zip(&s[first..end]) {
                                    *dv += sv;
                                }
                            } else {
                                for ow in first..end {
                                    d[ow * self.stride_w + base - self.pad_left] += s[ow];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Kernel columns that fall wholly into the padding (a dilated kernel wider than the
    /// input) read nothing: im2col gives zeros there and col2im adds nothing, where they used
    /// to index past the row. Checked against the definition, pixel by pixel.
    #[test]
    fn taps_wholly_in_the_padding() {
        use super::*;
        for (stride, padding) in [(1, 5), (2, 5), (1, 12)] {
            let g = Geometry::new("t", [1, 3, 3], [3, 3], [stride, stride], [5, 5], Padding::Uniform(padding)).unwrap();
            let x: Vec<f32> = (0..g.in_len()).map(|i| i as f32 + 1.0).collect();
            let p = g.out_pixels();
            let mut cols = vec![f32::NAN; g.col_rows() * p];
            g.im2col(&x, &mut cols);
            let at = |o: usize, k: usize, s: usize, pad: usize| (o * s + k * 5).checked_sub(pad).filter(|&v| v < 3);
            for ki in 0..3 {
                for kj in 0..3 {
                    for oh in 0..g.out_h {
                        for ow in 0..g.out_w {
                            let want = match (at(oh, ki, g.stride_h, g.pad_top), at(ow, kj, g.stride_w, g.pad_left)) {
                                (Some(r), Some(c)) => x[r * 3 + c],
                                _ => 0.0,
                            };
                            assert_eq!(cols[(ki * 3 + kj) * p + oh * g.out_w + ow], want, "stride {stride} padding {padding}");
                        }
                    }
                }
            }
            // col2im of all ones counts how often each pixel is read.
            let mut dx = vec![0.0; g.in_len()];
            g.col2im_add(&vec![1.0; cols.len()], &mut dx);
            let reads: f32 = cols.iter().filter(|&&v| v != 0.0).count() as f32;
            assert_eq!(dx.iter().sum::<f32>(), reads);
        }
    }

    /// im2row is im2col transposed, with the kernel index reordered channels-last.
    #[test]
    fn im2row_is_reordered_im2col_transposed() {
        use super::*;
        for (input, kernel, padding) in
            [([3, 5, 6], [3, 3], Padding::Uniform(1)), ([2, 6, 5], [2, 3], Padding::HeightWidth([0, 2])), ([4, 7, 7], [5, 5], Padding::Uniform(0))]
        {
            let g = Geometry::new("t", input, kernel, [1, 1], [1, 1], padding).unwrap();
            assert!(g.has_rows());
            let x: Vec<f32> = (0..g.in_len()).map(|i| i as f32 + 1.0).collect();
            let (k, p) = (g.col_rows(), g.out_pixels());
            let mut cols = vec![0.0; k * p];
            g.im2col(&x, &mut cols);
            let (mut padded, mut rows) = (vec![f32::NAN; g.padded_hwc_len()], vec![f32::NAN; k * p]);
            g.im2row(&x, &mut padded, &mut rows);
            let (c, kh, kw) = (g.channels, g.kernel_h, g.kernel_w);
            for ch in 0..c {
                for ki in 0..kh {
                    for kj in 0..kw {
                        for px in 0..p {
                            assert_eq!(rows[px * k + (ki * kw + kj) * c + ch], cols[((ch * kh + ki) * kw + kj) * p + px]);
                        }
                    }
                }
            }
        }
        let strided = Geometry::new("t", [1, 6, 6], [3, 3], [2, 2], [1, 1], Padding::Uniform(0)).unwrap();
        assert!(!strided.has_rows());
    }

    use super::*;

    fn geo(i: usize, k: usize, s: usize, d: usize, p: Padding) -> Geometry {
        Geometry::new("test", [1, i, i], [k, k], [s, s], [d, d], p).unwrap()
    }

    /// The slides' formula o = ⌊(i + 2p − k)/s⌋ + 1, worked by hand.
    #[test]
    fn output_sizes() {
        assert_eq!(geo(28, 5, 1, 1, Padding::Uniform(0)).out_h, 24); // 28 − 5 + 1
        assert_eq!(geo(28, 3, 1, 1, Padding::Uniform(1)).out_h, 28); // 28 + 2 − 3 + 1
        assert_eq!(geo(28, 2, 2, 1, Padding::Uniform(0)).out_h, 14); // ⌊26/2⌋ + 1
        assert_eq!(geo(7, 3, 2, 1, Padding::Uniform(1)).out_h, 4); // ⌊(7+2−3)/2⌋ + 1
        assert_eq!(geo(10, 3, 1, 2, Padding::Uniform(0)).out_h, 6); // k' = 5: 10 − 5 + 1
        let same = geo(7, 3, 2, 1, Padding::Named(PaddingName::Same));
        assert_eq!((same.out_h, same.pad_top, same.pad_bottom), (4, 1, 1)); // ⌈7/2⌉, total 2
        let same = geo(8, 3, 2, 1, Padding::Named(PaddingName::Same));
        assert_eq!((same.out_h, same.pad_top, same.pad_bottom), (4, 0, 1)); // total 1: odd at the end
        let same = geo(28, 3, 1, 2, Padding::Named(PaddingName::Same));
        assert_eq!((same.out_h, same.pad_top), (28, 2));
    }

    #[test]
    fn bad_geometry_is_an_error() {
        assert!(Geometry::new("t", [1, 4, 4], [5, 5], [1, 1], [1, 1], Padding::Uniform(0)).is_err());
        assert!(Geometry::new("t", [1, 4, 4], [3, 3], [0, 1], [1, 1], Padding::Uniform(0)).is_err());
        assert!(Geometry::new("t", [1, 4, 4], [3, 3], [1, 1], [1, 1], Padding::Uniform(5000)).is_err());
    }

    /// A naive gather, one value at a time, against the row-segment version.
    #[test]
    fn im2col_matches_definition_and_col2im_is_its_adjoint() {
        let cases = [
            (2, 6, 5, 3, 2, 1, 1, Padding::Uniform(1)),
            (1, 7, 7, 3, 3, 2, 1, Padding::Named(PaddingName::Same)),
            (3, 9, 8, 3, 2, 1, 2, Padding::HeightWidth([2, 1])),
            (1, 5, 5, 2, 2, 2, 1, Padding::Uniform(0)),
            (3, 8, 7, 3, 2, 1, 1, Padding::Uniform(0)),
        ];
        let mut rng = crate::init::Rng::new(1);
        for (c, h, w, kh, kw, s, d, p) in cases {
            let g = Geometry::new("t", [c, h, w], [kh, kw], [s, s], [d, d], p).unwrap();
            let x: Vec<f32> = (0..g.in_len()).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let mut cols = vec![f32::NAN; g.col_rows() * g.out_pixels()];
            g.im2col(&x, &mut cols);
            for ch in 0..c {
                for ki in 0..kh {
                    for kj in 0..kw {
                        for oh in 0..g.out_h {
                            for ow in 0..g.out_w {
                                let r = (oh * s + ki * d) as isize - g.pad_top as isize;
                                let q = (ow * s + kj * d) as isize - g.pad_left as isize;
                                let want =
                                    if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w { x[(ch * h + r as usize) * w + q as usize] } else { 0.0 };
                                let row = (ch * kh + ki) * kw + kj;
                                assert_eq!(cols[row * g.out_pixels() + oh * g.out_w + ow], want);
                            }
                        }
                    }
                }
            }
            // Adjoint: <im2col(x), r> = <x, col2im(r)> for a random r.
            let r: Vec<f32> = (0..cols.len()).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let lhs: f64 = cols.iter().zip(&r).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            let mut back = vec![0.0; g.in_len()];
            g.col2im_add(&r, &mut back);
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
        }
    }
}
