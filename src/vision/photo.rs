//! Photo → MNIST-style 28×28, as MNIST itself was made. Shared by `predict`, `read` and `serve`.
//!
//! The steps, each one function below:
//! 1. [`decode_luma`]: any PNG, JPEG, BMP, GIF, TIFF or WebP → luminance `L` (0 = black,
//!    255 = white), `L = 0.299 R + 0.587 G + 0.114 B` (ITU-R 601, what PIL's "L" mode uses).
//!    Transparent pixels are composited onto white paper, `L' = α L + (1 − α)·255`, unless the
//!    visible content is itself light (α-weighted mean of `L` above 1/2: light ink on a
//!    transparent sheet), which is composited onto black instead, so the ink always contrasts
//!    with its backdrop. Decoding is bounded: at most [`MAX_IMAGE_BYTES`] read, at most
//!    [`MAX_PIXELS`] decoded (checked from the header before any pixel buffer exists), and the
//!    decoder's own allocation limit set.
//! 2. [`ink_map`]: luminance → ink (0 = background, 255 = full ink, the MNIST convention).
//!    * Polarity: the median of a border ring is compared with Otsu's threshold of the whole
//!      image; a light border means dark ink on light paper, and the image is inverted
//!      (`D = 255 − L`), otherwise `D = L`.
//!    * Uneven light: a quadratic surface `B(u, v) = c₀ + c₁u + c₂v + c₃u² + c₄uv + c₅v²` is
//!      fitted by least squares to the background pixels (`D` at or below Otsu's threshold),
//!      twice, re-thresholding `F = D − B` in between; `F` is the ink with the paper removed.
//!    * Otsu's threshold `T` on `F` splits background (median μ₀, robust deviation
//!      σ₀ = 1.4826·MAD) from ink (median m₁).
//!    * No ink at all: when `m₁ − μ₀ <` [`MIN_INK_CONTRAST`] or `m₁ − μ₀ <`
//!      [`MIN_INK_SNR`]`·σ₀` (what Otsu finds in paper grain or sensor noise), the map is all
//!      zero.
//!    * Soft stroke edges are kept by hysteresis: the pixels above `T`, and every pixel above
//!      `T_low = μ₀ + max(`[`SOFT_EDGE_FRACTION`]`·(m₁ − μ₀),`[`SOFT_EDGE_NOISE`]`·σ₀)` connected
//!      to them (8-connectivity), get `ink = 255·(F − μ₀)/(m₁ − μ₀)` clamped to [1, 255]: half
//!      the ink saturates, as in MNIST, and the anti-aliased edges keep their grey levels.
//!      Every other pixel is 0.
//! 3. [`to_mnist`]: the 8-connected components of the non-zero ink; specks are dropped (see
//!    [`to_mnist`] for the rule); the rest is cropped and handed to [`ink_to_mnist`]: fit a
//!    20×20 box keeping the aspect ratio (area-averaging when shrinking, bilinear when
//!    enlarging), stretch so the brightest pixel is 255, and shift by whole pixels so the
//!    centre of mass lands where MNIST's does (pixel 14, 14).
//!
//! Photos with a side longer than [`WORK_SIDE`] are shrunk (area-averaging) to that size before
//! step 2; everything after decoding is O(pixels).

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Largest encoded image file read: 64 MiB.
pub const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// Largest decoded image accepted: 40 megapixels (a 7300×5500 photo). Checked from the header,
/// before decoding, so a decompression bomb is rejected without allocating its pixels.
pub const MAX_PIXELS: u64 = 40_000_000;

/// The decoder's allocation limit: [`MAX_PIXELS`] at 8 bytes a pixel (16-bit RGBA) is 320 MB;
/// this leaves room for the decoder's own buffers.
const MAX_DECODE_ALLOC: u64 = 512 << 20;

/// Longest side processed: larger images are shrunk to this before thresholding (a digit
/// needs far fewer pixels; this bounds the time and memory of everything after decoding).
pub const WORK_SIDE: usize = 2000;

/// Smallest difference, in grey levels of `F`, between the ink's median and the background's
/// median for the image to count as having ink (about a tenth of the range). Smooth
/// variations of blank paper (shading, JPEG blocks) stay far below it.
pub const MIN_INK_CONTRAST: f32 = 24.0;

/// The ink's median must also stand this many background deviations (σ₀ = 1.4826·MAD) above
/// the background. Otsu's threshold on pure noise splits it into classes whose centres are
/// 1.9–2.7 σ₀ apart (blank paper, noise σ 1–30, raw or JPEG); a faint pencil digit (contrast
/// 50 under noise σ 8, JPEG) stands at 6.2, darker ink at 6.4 to 36 (`measure_no_ink_margins`).
pub const MIN_INK_SNR: f32 = 3.5;

/// Soft stroke edges reach down to this fraction of the ink contrast above the background…
pub const SOFT_EDGE_FRACTION: f32 = 0.02;

/// …and at least this many background deviations above it, so paper noise is not grown.
pub const SOFT_EDGE_NOISE: f32 = 3.0;

/// A digit's ink must span at least this many pixels (its bounding box's longer side), and
/// at least 1/100 of the image's longer side; smaller marks are dust, not digits.
pub const MIN_DIGIT_SIDE: usize = 5;

/// MNIST's digits fit a 20×20 box inside the 28×28 field.
const BOX: usize = 20;
const FIELD: usize = 28;

/// Where the centre of mass of an MNIST digit lies, in pixel-index coordinates (row and
/// column both). Measured on the MNIST test set: (13.99 ± 0.29, 14.01 ± 0.29) (mean ± standard
/// deviation; see `measure_mnist` in the tests), i.e. MNIST shifted by whole pixels to put it
/// on pixel 14, not on the field's geometric centre 13.5.
const COM_TARGET: f32 = 14.0;

/// A grey-scale image, row-major, one byte a pixel. What the bytes mean depends on where it
/// came from: luminance (0 = black, 255 = white) from [`decode_luma`], ink (0 = background,
/// 255 = full ink) from [`ink_map`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Gray {
    /// Wraps `pixels` (row-major, `width × height` of them); an error if the lengths disagree.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Result<Gray> {
        if width.checked_mul(height) != Some(pixels.len()) {
            return Err(Error::Length {
                context: "Gray::new".into(),
                shape: vec![height, width],
                expected: width.saturating_mul(height),
                found: pixels.len(),
            });
        }
        Ok(Gray { width, height, pixels })
    }

    /// An image of one value.
    pub fn filled(width: usize, height: usize, value: u8) -> Gray {
        Gray { width, height, pixels: vec![value; width * height] }
    }

    /// The pixel at column `x`, row `y` (panics when out of range, like slice indexing).
    pub fn get(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.width + x]
    }

    /// True when the image has no pixels, or its length does not match its size.
    fn is_degenerate(&self) -> bool {
        self.width == 0 || self.height == 0 || self.width.checked_mul(self.height) != Some(self.pixels.len())
    }
}

/// The error for an image without ink: `Error::Data("no digit found")`, displayed as
/// "data: no digit found".
pub(crate) fn no_digit() -> Error {
    Error::Data("no digit found".into())
}

/// An error naming the image's origin.
fn bad_image(origin: &str, problem: impl Into<String>) -> Error {
    Error::format(origin, problem)
}

// ---------------------------------------------------------------------------------------------
// 1. Decoding
// ---------------------------------------------------------------------------------------------

/// Reads an image file (at most [`MAX_IMAGE_BYTES`]) and decodes it with [`decode_luma`].
pub fn load_luma(path: &Path) -> Result<Gray> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_IMAGE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(Error::format(path, format!("file is larger than the limit of {MAX_IMAGE_BYTES} bytes")));
    }
    decode_luma(&bytes, &path.display().to_string())
}

/// Decodes a PNG, JPEG, BMP, GIF (first frame), TIFF or WebP of any colour type and bit depth
/// to luminance (0 = black, 255 = white); see the module doc for the formula and for
/// transparency. The format is recognised from the bytes, not a name. `origin` names the
/// source in errors. Never panics on any input, and never decodes more than [`MAX_PIXELS`].
pub fn decode_luma(bytes: &[u8], origin: &str) -> Result<Gray> {
    if bytes.is_empty() {
        return Err(bad_image(origin, "empty file, expected an image"));
    }
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(bad_image(origin, format!("{} bytes is larger than the limit of {MAX_IMAGE_BYTES}", bytes.len())));
    }
    let format = image::guess_format(bytes)
        .map_err(|_| bad_image(origin, "not a recognised image (expected PNG, JPEG, BMP, GIF, TIFF or WebP)"))?;
    let supported = [
        image::ImageFormat::Png,
        image::ImageFormat::Jpeg,
        image::ImageFormat::Bmp,
        image::ImageFormat::Gif,
        image::ImageFormat::Tiff,
        image::ImageFormat::WebP,
    ];
    if !supported.contains(&format) {
        return Err(bad_image(origin, format!("{format:?} images are not supported (expected PNG, JPEG, BMP, GIF, TIFF or WebP)")));
    }
    // A decoder that panics on hostile bytes must not take the program down: the panic is
    // turned into this file's error. (The image crate's decoders are fuzzed; this is a guard.)
    let decoded = std::panic::catch_unwind(|| decode_bounded(bytes, format));
    let img = match decoded {
        Ok(Ok(img)) => img,
        Ok(Err(problem)) => return Err(bad_image(origin, problem)),
        Err(_) => return Err(bad_image(origin, format!("the {format:?} decoder failed on this file (corrupt data)"))),
    };
    luma_of(&img).ok_or_else(|| bad_image(origin, "decoded image has no pixels"))
}

/// Reads the header for the size, checks it against [`MAX_PIXELS`], then decodes with the
/// decoder's limits set. Errors are plain messages; the caller adds the origin.
fn decode_bounded(bytes: &[u8], format: image::ImageFormat) -> std::result::Result<image::DynamicImage, String> {
    let describe = |e: image::ImageError| match e {
        image::ImageError::Limits(l) => format!("image exceeds the decoding limits ({l})"),
        image::ImageError::Unsupported(u) => format!("unsupported image variant: {u}"),
        other => format!("cannot decode {format:?} image: {other}"),
    };
    let (w, h) = image::io::Reader::with_format(std::io::Cursor::new(bytes), format).into_dimensions().map_err(describe)?;
    let pixels = w as u64 * h as u64;
    if pixels == 0 {
        return Err(format!("image is {w}×{h}, it has no pixels"));
    }
    if pixels > MAX_PIXELS {
        return Err(format!("image is {w}×{h} = {pixels} pixels, more than the limit of {MAX_PIXELS}"));
    }
    let mut limits = image::io::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = image::io::Reader::with_format(std::io::Cursor::new(bytes), format);
    reader.limits(limits);
    reader.decode().map_err(describe)
}

/// Luminance of any decoded image, with transparency composited (see the module doc).
fn luma_of(img: &image::DynamicImage) -> Option<Gray> {
    use image::DynamicImage as D;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return None;
    }
    let n8 = |v: u8| v as f32 * (1.0 / 255.0);
    let n16 = |v: u16| v as f32 * (1.0 / 65535.0);
    let nf = |v: f32| if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    let pixels = match img {
        D::ImageLuma8(b) => composite(b.as_raw(), 1, n8),
        D::ImageLumaA8(b) => composite(b.as_raw(), 2, n8),
        D::ImageRgb8(b) => composite(b.as_raw(), 3, n8),
        D::ImageRgba8(b) => composite(b.as_raw(), 4, n8),
        D::ImageLuma16(b) => composite(b.as_raw(), 1, n16),
        D::ImageLumaA16(b) => composite(b.as_raw(), 2, n16),
        D::ImageRgb16(b) => composite(b.as_raw(), 3, n16),
        D::ImageRgba16(b) => composite(b.as_raw(), 4, n16),
        D::ImageRgb32F(b) => composite(b.as_raw(), 3, nf),
        D::ImageRgba32F(b) => composite(b.as_raw(), 4, nf),
        other => composite(other.to_rgba16().as_raw(), 4, n16),
    };
    Gray::new(w, h, pixels).ok()
}

/// Interleaved samples with `channels` per pixel (1 = L, 2 = LA, 3 = RGB, 4 = RGBA), each
/// mapped to [0, 1] by `norm`, → luminance bytes with alpha composited.
fn composite<T: Copy>(samples: &[T], channels: usize, norm: impl Fn(T) -> f32) -> Vec<u8> {
    let luma = |px: &[T]| -> f32 {
        if channels >= 3 {
            0.299 * norm(px[0]) + 0.587 * norm(px[1]) + 0.114 * norm(px[2])
        } else {
            norm(px[0])
        }
    };
    let has_alpha = channels == 2 || channels == 4;
    let alpha = |px: &[T]| if has_alpha { norm(px[channels - 1]) } else { 1.0 };
    // Backdrop: white paper, unless what is visible is light (light ink on a clear sheet).
    let backdrop = if has_alpha {
        let (mut sum_al, mut sum_a) = (0f64, 0f64);
        for px in samples.chunks_exact(channels) {
            let a = alpha(px) as f64;
            sum_al += a * luma(px) as f64;
            sum_a += a;
        }
        if sum_a > 0.0 && sum_al / sum_a > 0.5 { 0.0 } else { 1.0 }
    } else {
        1.0
    };
    samples
        .chunks_exact(channels)
        .map(|px| {
            let a = alpha(px);
            to_byte(255.0 * (a * luma(px) + (1.0 - a) * backdrop))
        })
        .collect()
}

fn to_byte(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

// ---------------------------------------------------------------------------------------------
// Resampling (separable: rows, then columns)
// ---------------------------------------------------------------------------------------------

/// For each output index along one axis, the first source index and the weights from there.
/// Shrinking: area-averaging (each output pixel is the mean of the source area it covers,
/// partial pixels weighted by coverage). Enlarging: bilinear with pixel centres aligned,
/// `x_src = (i + ½)·src/dst − ½`.
fn taps(src: usize, dst: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|i| {
            if dst <= src {
                let (a, b) = (i as f64 * scale, (i + 1) as f64 * scale);
                let first = a.floor() as usize;
                let last = ((b.ceil() as usize).min(src)).max(first + 1);
                let w = (first..last).map(|j| ((b.min(j as f64 + 1.0) - a.max(j as f64)).max(0.0) / scale) as f32).collect();
                (first, w)
            } else {
                let x = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
                let j = (x.floor() as usize).min(src - 1);
                let t = (x - j as f64) as f32;
                if j + 1 < src && t > 0.0 { (j, vec![1.0 - t, t]) } else { (j, vec![1.0]) }
            }
        })
        .collect()
}

/// Resamples a `sw × sh` f32 image to `dw × dh` (all sizes ≥ 1).
fn resample(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    let tx = taps(sw, dw);
    let ty = taps(sh, dh);
    let mut rows = vec![0f32; dw * sh];
    for y in 0..sh {
        let s = &src[y * sw..(y + 1) * sw];
        for (x, (first, w)) in tx.iter().enumerate() {
            rows[y * dw + x] = w.iter().zip(&s[*first..]).map(|(a, b)| a * b).sum();
        }
    }
    let mut out = vec![0f32; dw * dh];
    for (y, (first, w)) in ty.iter().enumerate() {
        let dst = &mut out[y * dw..(y + 1) * dw];
        for (k, wk) in w.iter().enumerate() {
            let r = &rows[(first + k) * dw..(first + k + 1) * dw];
            for (d, v) in dst.iter_mut().zip(r) {
                *d += wk * v;
            }
        }
    }
    out
}

/// Shrinks an image whose longer side exceeds `max_side` to that size (area-averaging),
/// returning it and the factors `original / shrunk` along x and y (1 when left alone).
pub(crate) fn shrink_to(img: &Gray, max_side: usize) -> (std::borrow::Cow<'_, Gray>, f64, f64) {
    let long = img.width.max(img.height);
    if long <= max_side {
        return (std::borrow::Cow::Borrowed(img), 1.0, 1.0);
    }
    let f = long as f64 / max_side as f64;
    let dw = ((img.width as f64 / f).round() as usize).clamp(1, max_side);
    let dh = ((img.height as f64 / f).round() as usize).clamp(1, max_side);
    let src: Vec<f32> = img.pixels.iter().map(|&p| p as f32).collect();
    let out = resample(&src, img.width, img.height, dw, dh);
    let g = Gray { width: dw, height: dh, pixels: out.into_iter().map(to_byte).collect() };
    (std::borrow::Cow::Owned(g), img.width as f64 / dw as f64, img.height as f64 / dh as f64)
}

// ---------------------------------------------------------------------------------------------
// 2. Ink map
// ---------------------------------------------------------------------------------------------

/// Otsu's threshold of a 256-bin histogram: the `t` maximising the between-class variance
/// `ω₀ω₁(μ₀ − μ₁)²` of the classes `≤ t` and `> t`. Among equal maxima the middle one is
/// taken. `None` when all values fall in one bin (nothing to separate).
fn otsu(hist: &[u64; 256]) -> Option<usize> {
    let total: u64 = hist.iter().sum();
    let sum_all: f64 = hist.iter().enumerate().map(|(i, &c)| i as f64 * c as f64).sum();
    let (mut w0, mut sum0) = (0u64, 0f64);
    let mut best = (-1f64, 0usize, 0usize);
    for (t, &c) in hist.iter().enumerate().take(255) {
        w0 += c;
        sum0 += t as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0 || w1 == 0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0 as f64, (sum_all - sum0) / w1 as f64);
        let between = w0 as f64 * w1 as f64 * (m0 - m1) * (m0 - m1);
        if between > best.0 * (1.0 + 1e-12) {
            best = (between, t, t);
        } else if between >= best.0 * (1.0 - 1e-12) {
            best.2 = t;
        }
    }
    (best.0 > 0.0).then_some((best.1 + best.2) / 2)
}

fn histogram(values: impl Iterator<Item = f32>) -> [u64; 256] {
    let mut h = [0u64; 256];
    for v in values {
        h[to_byte(v) as usize] += 1;
    }
    h
}

/// Median of a border ring `max(1, min(w, h)/20)` pixels thick.
fn border_median(img: &Gray) -> u8 {
    let t = (img.width.min(img.height) / 20).max(1);
    let mut h = [0u64; 256];
    for y in 0..img.height {
        let row = &img.pixels[y * img.width..(y + 1) * img.width];
        if y < t || y + t >= img.height {
            row.iter().for_each(|&p| h[p as usize] += 1);
        } else {
            row[..t.min(img.width)].iter().chain(&row[img.width.saturating_sub(t)..]).for_each(|&p| h[p as usize] += 1);
        }
    }
    let half = h.iter().sum::<u64>().div_ceil(2);
    let mut acc = 0;
    for (v, &c) in h.iter().enumerate() {
        acc += c;
        if acc >= half {
            return v as u8;
        }
    }
    255
}

/// Least-squares fit of `B(u, v) = Σ cₖ φₖ(u, v)`, φ = (1, u, v, u², uv, v²), `u, v ∈ (−1, 1)`,
/// to the pixels of `d` where `is_bg` holds (sampled on a grid of at most ~250 000 points).
/// Falls back to a plane, then a constant, when the normal equations are singular (a
/// one-pixel-high strip, say). `None` when there are no background pixels at all.
#[allow(clippy::needless_range_loop)] // matrix code reads best with its indices
fn fit_background(d: &[f32], w: usize, h: usize, is_bg: impl Fn(usize) -> bool) -> Option<Vec<f64>> {
    let step = (((w * h) as f64 / 250_000.0).sqrt().floor() as usize).max(1);
    let mut ata = [[0f64; 6]; 6];
    let mut atb = [0f64; 6];
    let mut n = 0usize;
    for y in (0..h).step_by(step) {
        let v = (2 * y + 1) as f64 / h as f64 - 1.0;
        for x in (0..w).step_by(step) {
            let i = y * w + x;
            if !is_bg(i) {
                continue;
            }
            let u = (2 * x + 1) as f64 / w as f64 - 1.0;
            let phi = [1.0, u, v, u * u, u * v, v * v];
            for r in 0..6 {
                atb[r] += phi[r] * d[i] as f64;
                for c in r..6 {
                    ata[r][c] += phi[r] * phi[c];
                }
            }
            n += 1;
        }
    }
    if n == 0 {
        return None;
    }
    for r in 0..6 {
        for c in 0..r {
            ata[r][c] = ata[c][r];
        }
    }
    for k in [6, 3, 1] {
        if n >= 4 * k {
            if let Some(c) = solve(&ata, &atb, k) {
                return Some(c);
            }
        }
    }
    Some(vec![atb[0] / ata[0][0]])
}

/// Solves the leading `k×k` block of `a x = b` by Gaussian elimination with partial pivoting;
/// `None` when a pivot is negligible against the diagonal (singular or nearly so).
#[allow(clippy::needless_range_loop)] // matrix code reads best with its indices
fn solve(a: &[[f64; 6]; 6], b: &[f64; 6], k: usize) -> Option<Vec<f64>> {
    let mut m: Vec<Vec<f64>> = (0..k).map(|r| (0..k).map(|c| a[r][c]).chain([b[r]]).collect()).collect();
    let scale = (0..k).map(|r| a[r][r].abs()).fold(0f64, f64::max);
    for col in 0..k {
        let piv = (col..k).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[piv][col].abs() <= 1e-9 * scale {
            return None;
        }
        m.swap(col, piv);
        for r in col + 1..k {
            let f = m[r][col] / m[col][col];
            for c in col..=k {
                m[r][c] -= f * m[col][c];
            }
        }
    }
    let mut x = vec![0f64; k];
    for r in (0..k).rev() {
        let s: f64 = (r + 1..k).map(|c| m[r][c] * x[c]).sum();
        x[r] = (m[r][k] - s) / m[r][r];
    }
    Some(x)
}

/// `F = D − B` with `B` the fitted background, written into `f`.
fn subtract_background(d: &[f32], w: usize, h: usize, coef: &[f64], f: &mut [f32]) {
    for y in 0..h {
        let v = (2 * y + 1) as f64 / h as f64 - 1.0;
        for x in 0..w {
            let u = (2 * x + 1) as f64 / w as f64 - 1.0;
            let phi = [1.0, u, v, u * u, u * v, v * v];
            let b: f64 = coef.iter().zip(phi).map(|(c, p)| c * p).sum();
            let i = y * w + x;
            f[i] = d[i] - b.clamp(0.0, 255.0) as f32;
        }
    }
}

/// The ink map, and whether the image has ink at all (when not, the map is all zero).
pub(crate) struct InkLayer {
    pub ink: Gray,
    pub found: bool,
}

/// Luminance (0 = black … 255 = white) → ink (0 = background … 255 = full ink), with
/// polarity detection, background flattening and Otsu's threshold keeping soft stroke edges
/// (see the module doc for each rule). An image without ink gives an all-zero map.
pub fn ink_map(img: &Gray) -> Gray {
    ink_layer(img).ink
}

/// The ink strength `F = D − B` (polarity applied, background surface subtracted), Otsu's
/// threshold `t` on it (`F > t + ½` is ink), and the class statistics: background median
/// `mu0` and robust deviation `sigma0`, and `contrast = m₁ − μ₀`.
struct Flattened {
    f: Vec<f32>,
    t: f32,
    mu0: f32,
    sigma0: f32,
    contrast: f32,
}

/// Polarity, background flattening and Otsu's statistics (module doc, step 2). `None` when
/// the image is degenerate or of one value.
fn flatten(img: &Gray) -> Option<Flattened> {
    if img.is_degenerate() {
        return None;
    }
    let (w, h) = (img.width, img.height);
    // Polarity.
    let t0 = otsu(&histogram(img.pixels.iter().map(|&p| p as f32)))?;
    let dark_ink = border_median(img) as usize > t0;
    let d: Vec<f32> = img.pixels.iter().map(|&p| if dark_ink { 255.0 - p as f32 } else { p as f32 }).collect();
    let t_d = if dark_ink { 254 - t0 } else { t0 }; // `L ≤ t0` ⇔ `D ≥ 255 − t0` ⇔ `D > 254 − t0`.

    // Background flattening: fit on D ≤ T, threshold F, refit on F ≤ T'.
    let mut f = d.clone();
    let mut t = t_d as f32;
    for _ in 0..2 {
        let Some(coef) = fit_background(&d, w, h, |i| f[i] <= t + 0.5) else { break };
        subtract_background(&d, w, h, &coef, &mut f);
        t = otsu(&histogram(f.iter().copied()))? as f32;
    }

    // Class statistics at T. Background: median μ₀ and robust deviation σ₀ = 1.4826·MAD of
    // the unclipped F (paper noise is symmetric about the fitted surface, and the soft stroke
    // edges that Otsu also puts in this class are too few to move a median). Ink: median m₁.
    let mut paper_hist = vec![0u64; 511]; // F rounded, offset by 255
    let mut ink_hist = [0u64; 256];
    for &v in &f {
        if v > t + 0.5 {
            ink_hist[to_byte(v) as usize] += 1;
        } else {
            paper_hist[(v.round().clamp(-255.0, 255.0) + 255.0) as usize] += 1;
        }
    }
    let med0 = median_bin(&paper_hist)?;
    let m1 = median_bin(&ink_hist)?;
    let mu0 = med0 as f32 - 255.0;
    let mut dev_hist = vec![0u64; 511];
    for (b, &c) in paper_hist.iter().enumerate() {
        dev_hist[b.abs_diff(med0)] += c;
    }
    let sigma0 = 1.4826 * median_bin(&dev_hist).unwrap_or(0) as f32;
    Some(Flattened { f, t, mu0, sigma0, contrast: m1 as f32 - mu0 })
}

/// [`ink_map`], and whether there was any ink; see [`InkLayer`].
pub(crate) fn ink_layer(img: &Gray) -> InkLayer {
    let (w, h) = (img.width, img.height);
    let none = || InkLayer { ink: Gray { width: w, height: h, pixels: vec![0; img.pixels.len()] }, found: false };
    let Some(Flattened { f, t, mu0, sigma0, contrast }) = flatten(img) else { return none() };
    if contrast < MIN_INK_CONTRAST || contrast < MIN_INK_SNR * sigma0 {
        return none();
    }
    let core_cut = t + 0.5;

    // Soft ink by hysteresis: the pixels above T, and every pixel above the low threshold
    // connected to them (8-connectivity), stretched by (F − μ₀)/(m₁ − μ₀); at least 1, so
    // every pixel of the ink is non-zero.
    let low = (mu0 + (SOFT_EDGE_FRACTION * contrast).max(SOFT_EDGE_NOISE * sigma0)).min(t);
    let value = |v: f32| to_byte(255.0 * (v - mu0) / contrast).max(1);
    let mut ink = vec![0u8; w * h];
    let mut queue = std::collections::VecDeque::new();
    for (i, &v) in f.iter().enumerate() {
        if v > core_cut {
            ink[i] = value(v);
            queue.push_back(i);
        }
    }
    while let Some(i) = queue.pop_front() {
        let (x, y) = (i % w, i / w);
        for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
            for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                let j = yy * w + xx;
                if ink[j] == 0 && f[j] > low {
                    ink[j] = value(f[j]);
                    queue.push_back(j);
                }
            }
        }
    }
    InkLayer { ink: Gray { width: w, height: h, pixels: ink }, found: true }
}

/// The bin holding the median of a histogram; `None` when it is empty.
fn median_bin(hist: &[u64]) -> Option<usize> {
    let n: u64 = hist.iter().sum();
    let mut acc = 0;
    for (b, &c) in hist.iter().enumerate() {
        acc += c;
        if n > 0 && 2 * acc >= n {
            return Some(b);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Connected components
// ---------------------------------------------------------------------------------------------

/// One 8-connected component of the ink map (its thresholded pixels and the soft edges
/// connected to them): its bounding box (inclusive), its pixel count and its ink sum.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Component {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
    pub count: usize,
    pub ink: f64,
}

impl Component {
    pub fn width(&self) -> usize {
        self.x1 - self.x0 + 1
    }
    pub fn height(&self) -> usize {
        self.y1 - self.y0 + 1
    }
}

/// Labels the 8-connected components of the ink map's non-zero pixels: `labels[i] = k + 1`
/// for a pixel of component `k`, 0 for background. Soft edges join strokes whose
/// thresholded cores are a faint pixel apart (a quick pen stroke, a broken 5), which the
/// thresholded pixels alone would split. O(pixels), with an explicit stack (no recursion).
pub(crate) fn components(layer: &InkLayer) -> (Vec<u32>, Vec<Component>) {
    let (w, h) = (layer.ink.width, layer.ink.height);
    let ink = &layer.ink.pixels;
    let mut labels = vec![0u32; w * h];
    let mut comps = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if labels[start] != 0 || ink[start] == 0 {
            continue;
        }
        let id = comps.len() as u32 + 1;
        let mut c = Component { x0: usize::MAX, y0: usize::MAX, x1: 0, y1: 0, count: 0, ink: 0.0 };
        labels[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            c.x0 = c.x0.min(x);
            c.x1 = c.x1.max(x);
            c.y0 = c.y0.min(y);
            c.y1 = c.y1.max(y);
            c.count += 1;
            c.ink += ink[i] as f64;
            for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = yy * w + xx;
                    if labels[j] == 0 && ink[j] != 0 {
                        labels[j] = id;
                        stack.push(j);
                    }
                }
            }
        }
        comps.push(c);
    }
    (labels, comps)
}

/// The ink inside the box `[x0, x1] × [y0, y1]` (inclusive), keeping only pixels whose label
/// (and position) passes `keep`.
pub(crate) fn extract_patch(
    layer: &InkLayer,
    labels: &[u32],
    (x0, y0, x1, y1): (usize, usize, usize, usize),
    keep: impl Fn(u32, usize, usize) -> bool,
) -> Gray {
    let w = layer.ink.width;
    let (pw, ph) = (x1 - x0 + 1, y1 - y0 + 1);
    let mut pixels = vec![0u8; pw * ph];
    for y in y0..=y1 {
        for x in x0..=x1 {
            let i = y * w + x;
            if labels[i] != 0 && keep(labels[i], x, y) {
                pixels[(y - y0) * pw + (x - x0)] = layer.ink.pixels[i];
            }
        }
    }
    Gray { width: pw, height: ph, pixels }
}

/// Gap between two boxes along one axis (0 when they overlap).
pub(crate) fn gap(a0: usize, a1: usize, b0: usize, b1: usize) -> usize {
    if a1 < b0 {
        b0 - a1 - 1
    } else if b1 < a0 {
        a0 - b1 - 1
    } else {
        0
    }
}

/// The smallest digit extent accepted in an image of this size (see [`MIN_DIGIT_SIDE`]).
pub(crate) fn min_digit_side(w: usize, h: usize) -> usize {
    MIN_DIGIT_SIDE.max(w.max(h) / 100)
}

// ---------------------------------------------------------------------------------------------
// 3. To MNIST
// ---------------------------------------------------------------------------------------------

/// A photo of one digit (luminance, 0 = black … 255 = white) → a 28×28 MNIST-style ink image
/// (0 = background, 255 = ink).
///
/// After [`ink_map`], the digit is the largest 8-connected component of the ink, every
/// component with at least 1/4 of its pixels (pieces of a broken digit), and any smaller
/// component with at least 2 % of its pixels whose bounding box lies within 1/5 of the digit's
/// size of the digit's box (a detached flag of a 5, say), repeated until nothing more joins.
/// Everything else is a speck and is erased. The result is cropped and handed to
/// [`ink_to_mnist`]. No ink, or a digit smaller than [`MIN_DIGIT_SIDE`] (or 1/100 of the
/// image's longer side), is the error "no digit found".
pub fn to_mnist(img: &Gray) -> Result<[u8; 784]> {
    if img.is_degenerate() {
        return Err(no_digit());
    }
    let (work, _, _) = shrink_to(img, WORK_SIDE);
    let layer = ink_layer(&work);
    if !layer.found {
        return Err(no_digit());
    }
    let (labels, comps) = components(&layer);
    let Some(largest) = comps.iter().map(|c| c.count).max() else { return Err(no_digit()) };
    let mut kept: Vec<bool> = comps.iter().map(|c| 4 * c.count >= largest).collect();
    let bbox = |kept: &[bool]| {
        comps.iter().zip(kept).filter(|(_, &k)| k).fold((usize::MAX, usize::MAX, 0, 0), |b, (c, _)| {
            (b.0.min(c.x0), b.1.min(c.y0), b.2.max(c.x1), b.3.max(c.y1))
        })
    };
    for _ in 0..8 {
        let b = bbox(&kept);
        let reach = (b.2 - b.0 + 1).max(b.3 - b.1 + 1) / 5;
        let mut changed = false;
        for (k, c) in comps.iter().enumerate() {
            if !kept[k] && 50 * c.count >= largest && gap(b.0, b.2, c.x0, c.x1) <= reach && gap(b.1, b.3, c.y0, c.y1) <= reach {
                kept[k] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let b = bbox(&kept);
    if (b.2 - b.0 + 1).max(b.3 - b.1 + 1) < min_digit_side(work.width, work.height) {
        return Err(no_digit());
    }
    let patch = extract_patch(&layer, &labels, b, |label, _, _| kept[label as usize - 1]);
    ink_to_mnist(&patch)
}

/// An ink patch (0 = background … 255 = ink), already cleaned of specks → 28×28, as MNIST
/// was made: crop to the non-zero pixels; scale so the longer side is 20 pixels, keeping the
/// aspect ratio (area-averaging when shrinking, bilinear when enlarging; the shorter side is
/// at least 1 pixel); stretch so the brightest pixel is 255; then place it in the 28×28 field
/// shifted by whole pixels so its centre of mass `(Σ v·r / Σ v, Σ v·c / Σ v)` lands on
/// pixel (14, 14) as MNIST's does, rounding half-way shifts towards the field's top-left.
/// Ink pushed past the field's edge by the shift is cut off, as in MNIST. All-zero ink is "no digit found".
pub fn ink_to_mnist(ink: &Gray) -> Result<[u8; 784]> {
    if ink.is_degenerate() {
        return Err(no_digit());
    }
    let w = ink.width;
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (i, &p) in ink.pixels.iter().enumerate() {
        if p > 0 {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if x0 == usize::MAX {
        return Err(no_digit());
    }
    let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
    let crop: Vec<f32> = (y0..=y1).flat_map(|y| ink.pixels[y * w + x0..=y * w + x1].iter().map(|&p| p as f32)).collect();
    let s = BOX as f64 / cw.max(ch) as f64;
    let dw = ((cw as f64 * s).round() as usize).clamp(1, BOX);
    let dh = ((ch as f64 * s).round() as usize).clamp(1, BOX);
    let small = resample(&crop, cw, ch, dw, dh);
    let peak = small.iter().copied().fold(0f32, f32::max);
    if peak <= 0.0 {
        return Err(no_digit());
    }
    let small: Vec<f32> = small.iter().map(|v| v * (255.0 / peak)).collect();
    Ok(place_by_mass(&small, dw, dh))
}

/// Places a `dw × dh` ink image (dw, dh ≤ 28) in the 28×28 field so its centre of mass lands
/// on [`COM_TARGET`] (integer shift).
fn place_by_mass(img: &[f32], dw: usize, dh: usize) -> [u8; 784] {
    let (mut m, mut mr, mut mc) = (0f64, 0f64, 0f64);
    for r in 0..dh {
        for c in 0..dw {
            let v = img[r * dw + c] as f64;
            m += v;
            mr += v * r as f64;
            mc += v * c as f64;
        }
    }
    let (com_r, com_c) = if m > 0.0 { (mr / m, mc / m) } else { ((dh as f64 - 1.0) / 2.0, (dw as f64 - 1.0) / 2.0) };
    // Offsets of the image's top-left corner in the field; ties (x.5) round down.
    let off_r = (COM_TARGET as f64 - com_r - 0.5).ceil() as isize;
    let off_c = (COM_TARGET as f64 - com_c - 0.5).ceil() as isize;
    let mut out = [0u8; 784];
    for r in 0..dh {
        let fr = r as isize + off_r;
        if !(0..FIELD as isize).contains(&fr) {
            continue;
        }
        for c in 0..dw {
            let fc = c as isize + off_c;
            if (0..FIELD as isize).contains(&fc) {
                out[fr as usize * FIELD + fc as usize] = to_byte(img[r * dw + c]);
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    //! Synthetic photos are drawn from real MNIST test digits, so "close to the original" has
    //! a measured meaning. Reference numbers (`measure_mnist`, MNIST test set): the Pearson
    //! correlation between two different digits of the same class has median 0.43 and 99th
    //! percentile 0.87; between digits of different classes, 99.9th percentile 0.70; an MNIST
    //! digit shifted by one pixel correlates with itself at median 0.80 (1st percentile 0.54).
    //! `ink_to_mnist` maps every MNIST digit to itself (correlation 1.000 at the 0.1th
    //! percentile): MNIST is a fixed point of the last step.
    use super::*;
    use crate::data::{shipped_mnist_dir, Dataset, Split};
    use crate::init::Rng;
    use image::{DynamicImage, ImageBuffer, ImageEncoder, ImageOutputFormat, Luma, LumaA, Rgba};

    pub(crate) fn mnist_test() -> Dataset {
        Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).unwrap()
    }

    /// Pearson correlation of two images.
    pub(crate) fn corr(a: &[u8], b: &[u8]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().map(|&v| v as f64).sum::<f64>() / n, b.iter().map(|&v| v as f64).sum::<f64>() / n);
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            let (dx, dy) = (x as f64 - ma, y as f64 - mb);
            sab += dx * dy;
            saa += dx * dx;
            sbb += dy * dy;
        }
        sab / (saa * sbb).sqrt().max(1e-12)
    }

    /// The best correlation of `a`, shifted by up to one pixel in each direction, with `b`.
    /// Both sides are centred by mass on whole pixels, so a half-pixel difference in the
    /// estimated centre flips a one-pixel shift (MNIST's own centres spread by ±0.29 px);
    /// a network tolerates that, a plain correlation does not (median 0.80 for MNIST digits
    /// against themselves shifted by one pixel).
    pub(crate) fn corr_aligned(a: &[u8], b: &[u8]) -> f64 {
        let mut best = f64::MIN;
        for dy in -1isize..=1 {
            for dx in -1isize..=1 {
                let mut s = [0u8; 784];
                for r in 0..28isize {
                    for c in 0..28isize {
                        let (sr, sc) = (r - dy, c - dx);
                        if (0..28).contains(&sr) && (0..28).contains(&sc) {
                            s[(r * 28 + c) as usize] = a[(sr * 28 + sc) as usize];
                        }
                    }
                }
                best = best.max(corr(&s, b));
            }
        }
        best
    }

    /// A luminance canvas (f32, 0 = black … 255 = white) to draw synthetic photos on.
    pub(crate) struct Canvas {
        pub w: usize,
        pub h: usize,
        pub px: Vec<f32>,
    }

    impl Canvas {
        /// Paper of luminance `paper`, lit unevenly: `gradient` grey levels darker at the
        /// right edge than at the left.
        pub fn paper(w: usize, h: usize, paper: f32, gradient: f32) -> Canvas {
            let px = (0..w * h).map(|i| paper - gradient * (i % w) as f32 / w as f32).collect();
            Canvas { w, h, px }
        }

        /// Draws a 28×28 MNIST digit scaled by `scale` (bilinear) with its top-left corner at
        /// (x, y): ink coverage `a = digit/255` darkens the paper towards `ink`,
        /// `L ← (1 − a)·L + a·ink`. Returns the drawn box (x, y, w, h).
        pub fn draw(&mut self, digit: &[u8], scale: f32, x: usize, y: usize, ink: f32) -> (usize, usize, usize, usize) {
            let side = (28.0 * scale).round() as usize;
            let src: Vec<f32> = digit.iter().map(|&v| v as f32 / 255.0).collect();
            let big = resample(&src, 28, 28, side, side);
            for r in 0..side {
                for c in 0..side {
                    let (cx, cy) = (x + c, y + r);
                    if cx < self.w && cy < self.h {
                        let a = big[r * side + c].clamp(0.0, 1.0);
                        let p = &mut self.px[cy * self.w + cx];
                        *p = (1.0 - a) * *p + a * ink;
                    }
                }
            }
            (x, y, side, side)
        }

        /// Adds Gaussian noise of deviation `sigma`.
        pub fn noise(&mut self, sigma: f32, rng: &mut Rng) {
            for p in &mut self.px {
                *p += sigma * rng.normal();
            }
        }

        pub fn gray(&self) -> Gray {
            Gray::new(self.w, self.h, self.px.iter().map(|&v| to_byte(v)).collect()).unwrap()
        }

        /// Encoded as a grey JPEG of the given quality.
        pub fn jpeg(&self, quality: u8) -> Vec<u8> {
            let g = self.gray();
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
                .encode(&g.pixels, g.width as u32, g.height as u32, image::ColorType::L8)
                .unwrap();
            out
        }
    }

    fn encode(img: DynamicImage, format: ImageOutputFormat) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn png_of(g: &Gray) -> Vec<u8> {
        let buf = ImageBuffer::<Luma<u8>, _>::from_raw(g.width as u32, g.height as u32, g.pixels.clone()).unwrap();
        encode(DynamicImage::ImageLuma8(buf), ImageOutputFormat::Png)
    }

    fn err_text<T>(r: Result<T>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    // --- pieces -------------------------------------------------------------------------------

    #[test]
    fn otsu_splits_two_spikes_between_them() {
        // 100 pixels at 20 and 50 at 200: between-class variance ω₀ω₁(μ₀−μ₁)² is the same for
        // every t in 20..=199, so the middle of that plateau, (20 + 199)/2 = 109, is taken.
        let mut h = [0u64; 256];
        h[20] = 100;
        h[200] = 50;
        assert_eq!(otsu(&h), Some(109));
        let mut flat = [0u64; 256];
        flat[77] = 10;
        assert_eq!(otsu(&flat), None, "one value: nothing to separate");
    }

    #[test]
    fn area_shrink_averages_and_bilinear_enlarge_interpolates() {
        // 4×2 → 2×1: each output is the mean of a 2×2 block.
        let src = [0.0, 2.0, 10.0, 20.0, 4.0, 6.0, 30.0, 40.0];
        assert_eq!(resample(&src, 4, 2, 2, 1), vec![3.0, 25.0]);
        // 3 → 2: weights by coverage, output 0 covers [0, 1.5): (1·0 + ½·3)/1.5 = 1.
        let v = resample(&[0.0, 3.0, 6.0], 3, 1, 2, 1);
        assert!((v[0] - 1.0).abs() < 1e-6 && (v[1] - 5.0).abs() < 1e-6, "{v:?}");
        // 2 → 4 bilinear with centres aligned: x_src = (i + ½)/2 − ½ = −¼, ¼, ¾, 5/4 (clamped).
        let v = resample(&[0.0, 8.0], 2, 1, 4, 1);
        assert_eq!(v, vec![0.0, 2.0, 6.0, 8.0]);
    }

    #[test]
    fn centre_of_mass_lands_on_pixel_14() {
        // One lit pixel at (row 2, col 5) of a 9×6 image: offset 14 − 2 = 12 rows, 14 − 5 = 9 columns.
        let mut img = vec![0f32; 9 * 6];
        img[2 * 9 + 5] = 255.0;
        let out = place_by_mass(&img, 9, 6);
        assert_eq!(out[14 * 28 + 14], 255);
        assert_eq!(out.iter().filter(|&&v| v > 0).count(), 1);
        // Two equal pixels at columns 0 and 1: mass at 0.5, a half-way shift; rounds towards
        // the top-left, so they land on columns 13 and 14.
        let out = place_by_mass(&[255.0, 255.0], 2, 1);
        assert_eq!((out[14 * 28 + 13], out[14 * 28 + 14]), (255, 255));
    }

    #[test]
    fn mnist_digits_are_a_fixed_point() {
        // MNIST itself fits 20×20 and is centred by mass on pixel 14, so both entry points
        // must give it back. `ink_to_mnist` exactly. `to_mnist` re-thresholds: it drops the
        // faintest edge pixels (below 2 % of the contrast) and any speck or stray mark that
        // MNIST kept inside its box, then rescales the digit to fill the box again. Over all
        // 10 000 test digits the aligned correlation is ≥ 0.991 for 99 % and ≥ 0.998 for 90 %;
        // the lowest (0.35) is a 0 that MNIST boxed together with a dot above it.
        let d = mnist_test();
        let mut low = Vec::new();
        for i in 0..1000 {
            let g = Gray::new(28, 28, d.image(i).to_vec()).unwrap();
            let a = ink_to_mnist(&g).unwrap();
            assert!(corr(&a, d.image(i)) > 0.999, "digit {i}");
            let c = corr_aligned(&to_mnist(&g).unwrap(), d.image(i));
            if c < 0.95 {
                low.push((i, c));
            }
        }
        assert!(low.len() <= 10, "{} of 1000 below 0.95: {low:?}", low.len());
    }

    // --- photos -------------------------------------------------------------------------------

    /// A photo of test digit `i`: dark ink on tinted paper with uneven light, scaled ×4
    /// (bilinear), off centre in a 200×170 canvas, Gaussian noise, saved as JPEG.
    fn photo(d: &Dataset, i: usize, rng: &mut Rng) -> Vec<u8> {
        let paper = rng.uniform(200.0, 230.0);
        let mut c = Canvas::paper(200, 170, paper, rng.uniform(0.0, 40.0));
        let (x, y) = (rng.below(200 - 112), rng.below(170 - 112));
        c.draw(d.image(i), 4.0, x, y, rng.uniform(20.0, 70.0));
        c.noise(rng.uniform(2.0, 8.0), rng);
        c.jpeg(rng.uniform(60.0, 90.0) as u8)
    }

    /// Checks correlations against a floor for each and a floor for their mean, printing
    /// the figures (`cargo test -- --nocapture` shows them).
    pub(crate) fn check(what: &str, corrs: &[(usize, f64)], each: f64, mean: f64) {
        let m = corrs.iter().map(|c| c.1).sum::<f64>() / corrs.len() as f64;
        let worst = corrs.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        println!("{what}: {} digits, mean correlation {m:.3}, lowest {:.3} (digit {})", corrs.len(), worst.1, worst.0);
        assert!(worst.1 > each, "{what}: digit {} correlates {:.3} ≤ {each}", worst.0, worst.1);
        assert!(m > mean, "{what}: mean correlation {m:.3} ≤ {mean}");
    }

    #[test]
    fn jpeg_photo_of_a_digit_comes_back_as_that_digit() {
        // Floors: 0.8 for each is far above any pair of different digits (99.9th percentile
        // 0.70) and at the median of the digit against itself shifted by a pixel; the
        // rendering itself (bilinear ×4, then area-averaged back) blurs strokes, which alone
        // costs a few hundredths. Measured: mean 0.95, lowest 0.84.
        let d = mnist_test();
        let mut rng = Rng::new(5);
        let mut corrs = Vec::new();
        for i in 0..100 {
            let bytes = photo(&d, i, &mut rng);
            let g = decode_luma(&bytes, "photo.jpg").unwrap();
            assert_eq!((g.width, g.height), (200, 170));
            corrs.push((i, corr_aligned(&to_mnist(&g).unwrap(), d.image(i))));
        }
        check("JPEG photos", &corrs, 0.8, 0.9);
    }

    #[test]
    fn light_ink_on_dark_board_is_not_inverted() {
        let d = mnist_test();
        let mut rng = Rng::new(6);
        let mut corrs = Vec::new();
        for i in 0..20 {
            let mut c = Canvas::paper(150, 120, 40.0, 0.0);
            c.draw(d.image(i), 3.0, 20 + i, 15, 230.0);
            c.noise(4.0, &mut rng);
            corrs.push((i, corr_aligned(&to_mnist(&c.gray()).unwrap(), d.image(i))));
        }
        check("chalk on a board", &corrs, 0.8, 0.9);
    }

    #[test]
    fn strongly_uneven_light_is_flattened() {
        // Paper from 245 (left) to 125 (right): a single global threshold would call the dark
        // side ink. Ink is drawn at 40, so the contrast next to it is only 85 on that side.
        let d = mnist_test();
        let mut rng = Rng::new(7);
        let mut corrs = Vec::new();
        for i in 0..20 {
            let mut c = Canvas::paper(240, 160, 245.0, 120.0);
            let (x, y) = (rng.below(240 - 112), rng.below(160 - 112));
            c.draw(d.image(i), 4.0, x, y, 40.0);
            c.noise(3.0, &mut rng);
            corrs.push((i, corr_aligned(&to_mnist(&c.gray()).unwrap(), d.image(i))));
        }
        check("uneven light", &corrs, 0.8, 0.9);
    }

    #[test]
    fn specks_away_from_the_digit_are_ignored() {
        // With the specks and without them, the result must be the same digit.
        let d = mnist_test();
        let mut rng = Rng::new(8);
        let mut corrs = Vec::new();
        for i in 0..20 {
            let mut c = Canvas::paper(200, 200, 220.0, 0.0);
            c.draw(d.image(i), 3.0, 100, 100, 30.0);
            let clean = to_mnist(&c.gray()).unwrap();
            // Five 3×3 specks in the top-left quarter.
            for _ in 0..5 {
                let (x, y) = (rng.below(80), rng.below(80));
                for k in 0..9 {
                    c.px[(y + k / 3) * 200 + x + k % 3] = 30.0;
                }
            }
            let specked = to_mnist(&c.gray()).unwrap();
            // The specks move the ink statistics (Otsu's classes) a little, and so the centre
            // of mass by a fraction of a pixel, which can flip the whole-pixel shift; the
            // digit itself must not change.
            let same = corr_aligned(&specked, &clean);
            assert!(same > 0.99, "digit {i}: {same:.3}");
            corrs.push((i, corr_aligned(&specked, d.image(i))));
        }
        check("with specks", &corrs, 0.8, 0.9);
    }

    #[test]
    fn faint_pencil_is_still_ink() {
        // Pencil at luminance 150 on paper at 200, noise σ 8, JPEG 70: contrast 50 against
        // noise, the faintest case the no-ink rules must still accept (see MIN_INK_SNR).
        let d = mnist_test();
        let mut rng = Rng::new(11);
        let mut corrs = Vec::new();
        for i in 0..20 {
            let mut c = Canvas::paper(220, 160, 200.0, 0.0);
            c.draw(d.image(i), 4.0, 50, 20, 150.0);
            c.noise(8.0, &mut rng);
            let g = decode_luma(&c.jpeg(70), "pencil.jpg").unwrap();
            corrs.push((i, corr_aligned(&to_mnist(&g).unwrap(), d.image(i))));
        }
        check("faint pencil", &corrs, 0.8, 0.9);
    }

    #[test]
    fn huge_photo_is_shrunk_and_still_read() {
        // 2600×2200, longer than WORK_SIDE: shrunk first; the digit is 28×40 = 1120 px tall.
        let d = mnist_test();
        let mut c = Canvas::paper(2600, 2200, 215.0, 10.0);
        c.draw(d.image(3), 40.0, 900, 500, 50.0);
        let out = to_mnist(&c.gray()).unwrap();
        assert!(corr_aligned(&out, d.image(3)) > 0.9);
    }

    // --- decoding -----------------------------------------------------------------------------

    #[test]
    fn transparent_png_composites_onto_the_right_backdrop() {
        let d = mnist_test();
        let digit = d.image(0);
        // Black ink whose coverage is the alpha channel: onto white paper, L = 255 − ink.
        let rgba: Vec<u8> = digit.iter().flat_map(|&a| [0, 0, 0, a]).collect();
        let png = encode(DynamicImage::ImageRgba8(ImageBuffer::<Rgba<u8>, _>::from_raw(28, 28, rgba).unwrap()), ImageOutputFormat::Png);
        let g = decode_luma(&png, "dark.png").unwrap();
        assert!(g.pixels.iter().zip(digit).all(|(&l, &a)| l == 255 - a));
        assert!(corr_aligned(&to_mnist(&g).unwrap(), digit) > 0.97);
        // White ink on a clear sheet (grey + alpha): onto black, L = ink.
        let la: Vec<u8> = digit.iter().flat_map(|&a| [255, a]).collect();
        let png = encode(DynamicImage::ImageLumaA8(ImageBuffer::<LumaA<u8>, _>::from_raw(28, 28, la).unwrap()), ImageOutputFormat::Png);
        let g = decode_luma(&png, "light.png").unwrap();
        assert!(g.pixels.iter().zip(digit).all(|(&l, &a)| l == a));
        assert!(corr_aligned(&to_mnist(&g).unwrap(), digit) > 0.97);
    }

    #[test]
    fn sixteen_bit_grey_png_decodes_to_its_top_byte() {
        // v·257 maps 0..255 onto 0..65535 exactly; 16-bit luminance v·257/65535·255 = v.
        let d = mnist_test();
        let digit = d.image(1);
        let v16: Vec<u16> = digit.iter().map(|&v| (255 - v) as u16 * 257).collect();
        let png = encode(DynamicImage::ImageLuma16(ImageBuffer::<Luma<u16>, _>::from_raw(28, 28, v16).unwrap()), ImageOutputFormat::Png);
        let g = decode_luma(&png, "deep.png").unwrap();
        assert!(g.pixels.iter().zip(digit).all(|(&l, &v)| l == 255 - v));
        assert!(corr_aligned(&to_mnist(&g).unwrap(), digit) > 0.97);
    }

    #[test]
    fn bmp_gif_tiff_and_rgb_decode_to_the_same_luminance() {
        let d = mnist_test();
        let luma: Vec<u8> = d.image(2).iter().map(|&v| 255 - v).collect();
        let rgb: Vec<u8> = luma.iter().flat_map(|&v| [v, v, v]).collect();
        let img = DynamicImage::ImageRgb8(ImageBuffer::from_raw(28, 28, rgb).unwrap());
        for (name, format) in [("a.bmp", ImageOutputFormat::Bmp), ("a.tiff", ImageOutputFormat::Tiff), ("a.png", ImageOutputFormat::Png)] {
            let g = decode_luma(&encode(img.clone(), format), name).unwrap();
            // Grey RGB: 0.299 + 0.587 + 0.114 = 1, so L = v up to rounding.
            assert!(g.pixels.iter().zip(&luma).all(|(&a, &b)| a.abs_diff(b) <= 1), "{name}");
        }
        // GIF quantises to a 256-colour palette; greys survive within a few levels.
        let g = decode_luma(&encode(img.clone(), ImageOutputFormat::Gif), "a.gif").unwrap();
        assert!(g.pixels.iter().zip(&luma).all(|(&a, &b)| a.abs_diff(b) <= 8));
    }

    // --- bad input ----------------------------------------------------------------------------

    #[test]
    fn bad_bytes_are_errors_naming_the_origin() {
        assert!(err_text(decode_luma(&[], "empty.png")).contains("empty.png: empty file"));
        let png = png_of(&Gray::filled(64, 64, 200));
        for cut in [8, 20, 40, png.len() / 2, png.len() - 13] {
            let e = err_text(decode_luma(&png[..cut], "cut.png"));
            assert!(e.starts_with("cut.png: "), "{e}");
        }
        let mut rng = Rng::new(9);
        for len in [1, 7, 100, 5000] {
            let junk: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            assert!(err_text(decode_luma(&junk, "junk.bin")).starts_with("junk.bin: "));
            // Garbage behind each format's magic bytes.
            for magic in [&b"\x89PNG\r\n\x1a\n"[..], b"\xff\xd8\xff", b"BM", b"GIF89a", b"II*\0", b"RIFF\0\0\0\0WEBPVP8 "] {
                let bytes: Vec<u8> = magic.iter().chain(&junk).copied().collect();
                assert!(decode_luma(&bytes, "junk").is_err(), "{magic:?} + {len} bytes");
            }
        }
        assert!(err_text(load_luma(Path::new("/no/such/file.png"))).contains("/no/such/file.png"));
    }

    /// A PNG that claims to be `w × h` (8-bit grey) and holds no pixel data.
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut chunk = b"IHDR".to_vec();
        chunk.extend(w.to_be_bytes());
        chunk.extend(h.to_be_bytes());
        chunk.extend([8, 0, 0, 0, 0]);
        let mut crc = flate2::Crc::new();
        crc.update(&chunk);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend(13u32.to_be_bytes());
        out.extend(&chunk);
        out.extend(crc.sum().to_be_bytes());
        // An empty IDAT and the IEND chunk (CRCs of the bare chunk names), so the header
        // reader reaches the end of the header.
        out.extend(0u32.to_be_bytes());
        out.extend(b"IDAT");
        out.extend(0x35AF_061Eu32.to_be_bytes());
        out.extend(0u32.to_be_bytes());
        out.extend(b"IEND");
        out.extend(0xAE42_6082u32.to_be_bytes());
        out
    }

    #[test]
    fn decompression_bombs_are_rejected_from_the_header() {
        let e = err_text(decode_luma(&png_header(100_000, 100_000), "bomb.png"));
        assert!(e.contains("bomb.png") && e.contains("10000000000 pixels"), "{e}");
        // A real bomb: 8000×8000 zero bytes deflate to ~60 KB; 64 Mpx is over the limit.
        let mut big = Vec::new();
        image::codecs::png::PngEncoder::new(&mut big)
            .write_image(&vec![0u8; 8000 * 8000], 8000, 8000, image::ColorType::L8)
            .unwrap();
        let e = err_text(decode_luma(&big, "bomb2.png"));
        assert!(e.contains("more than the limit"), "{e}");
        // The same through a GIF logical screen of 65535×65535.
        let mut gif = b"GIF89a".to_vec();
        gif.extend([0xff, 0xff, 0xff, 0xff, 0, 0, 0]);
        assert!(decode_luma(&gif, "bomb.gif").is_err());
    }

    #[test]
    fn images_without_ink_are_no_digit_found() {
        let mut rng = Rng::new(10);
        let blank = Gray::filled(100, 80, 255);
        assert_eq!(err_text(to_mnist(&blank)), no_digit().to_string());
        assert!(no_digit().to_string().contains("no digit found"));
        assert_eq!(err_text(ink_to_mnist(&Gray::filled(28, 28, 0))), no_digit().to_string());
        assert_eq!(err_text(to_mnist(&Gray { width: 0, height: 0, pixels: vec![] })), no_digit().to_string());
        assert!(ink_map(&blank).pixels.iter().all(|&v| v == 0));
        // Tinted paper, uneven light, sensor noise (up to σ 30) and JPEG: still nothing.
        for seed in 0..16 {
            let mut c = Canvas::paper(220, 160, rng.uniform(150.0, 240.0), rng.uniform(0.0, 60.0));
            c.noise(rng.uniform(1.0, 30.0), &mut rng);
            let g = decode_luma(&c.jpeg(70), "blank.jpg").unwrap();
            assert_eq!(err_text(to_mnist(&g)), no_digit().to_string(), "paper {seed}");
        }
        // A single dark pixel (dust) is not a digit.
        let mut dust = Gray::filled(300, 300, 230);
        dust.pixels[150 * 300 + 150] = 20;
        assert_eq!(err_text(to_mnist(&dust)), no_digit().to_string());
    }

    /// The margins of the no-ink rules: contrast and contrast/σ₀ for blank paper (noise σ
    /// 1–30, raw and JPEG at quality 50 and 90) and for digits from faint to dark. Run with
    /// `cargo test --release --lib measure_no_ink_margins -- --ignored --nocapture`.
    /// Measured: blank paper 1–43 levels at 1.9–2.7 σ₀ (σ₀ rounds to 0 for σ 1 after JPEG,
    /// where the contrast is 1); digits: ink 150 on 200 under σ 8: 37 levels at 6.2 σ₀; ink
    /// 100, σ 12: 76 at 6.4; ink 60, σ 4: 108 at 36; ink 150 under σ 30 (unreadable): 2.0.
    #[test]
    #[ignore]
    fn measure_no_ink_margins() {
        let show = |what: String, g: &Gray| {
            let fl = flatten(g).unwrap();
            println!("{what}: contrast {:.0}, σ₀ {:.2}, contrast/σ₀ {:.2}", fl.contrast, fl.sigma0, fl.contrast / fl.sigma0.max(1e-3));
        };
        let mut rng = Rng::new(1);
        for sigma in [1.0f32, 4.0, 8.0, 12.0, 20.0, 30.0] {
            let mut c = Canvas::paper(220, 160, 200.0, 40.0);
            c.noise(sigma, &mut rng);
            show(format!("blank σ {sigma} raw"), &c.gray());
            for q in [50u8, 90] {
                show(format!("blank σ {sigma} JPEG {q}"), &decode_luma(&c.jpeg(q), "x").unwrap());
            }
        }
        let d = mnist_test();
        for (ink, sigma) in [(150.0f32, 8.0f32), (150.0, 30.0), (100.0, 12.0), (60.0, 4.0)] {
            let mut c = Canvas::paper(220, 160, 200.0, 0.0);
            c.draw(d.image(0), 4.0, 50, 20, ink);
            c.noise(sigma, &mut rng);
            show(format!("digit, ink {ink}, σ {sigma}, JPEG 70"), &decode_luma(&c.jpeg(70), "x").unwrap());
        }
    }

    /// The MNIST facts the code and the tests rely on, from the 10 000 test digits. Run with
    /// `cargo test --release --lib measure_mnist -- --ignored --nocapture`. Measured: centre
    /// of mass (row, column) 13.99 ± 0.29, 14.01 ± 0.29; width/height of the ink box: median
    /// 0.80, 95th percentile 1.11, 99th 1.43; a digit against itself shifted one pixel:
    /// correlation median 0.80, 1st percentile 0.54; pairs of neighbours in the set (2000 × 39):
    /// same class median 0.43, 99th percentile 0.87; different classes 99th 0.60, 99.9th 0.70.
    #[test]
    #[ignore]
    fn measure_mnist() {
        let d = mnist_test();
        let pct = |v: &mut Vec<f64>, p: f64| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[((v.len() - 1) as f64 * p) as usize]
        };
        let (mut rows, mut cols, mut aspects, mut shifted) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..d.len() {
            let im = d.image(i);
            let (mut m, mut mr, mut mc) = (0.0, 0.0, 0.0);
            for (k, &v) in im.iter().enumerate() {
                m += v as f64;
                mr += v as f64 * (k / 28) as f64;
                mc += v as f64 * (k % 28) as f64;
            }
            rows.push(mr / m);
            cols.push(mc / m);
            let mut b = (28, 28, 0, 0);
            for (k, &v) in im.iter().enumerate() {
                if v > 0 {
                    b = (b.0.min(k % 28), b.1.min(k / 28), b.2.max(k % 28), b.3.max(k / 28));
                }
            }
            aspects.push((b.2 - b.0 + 1) as f64 / (b.3 - b.1 + 1) as f64);
            let mut s = [0u8; 784];
            for k in 0..784 {
                if k % 28 > 0 {
                    s[k] = im[k - 1];
                }
            }
            shifted.push(corr(&s, im));
        }
        let mean_sd = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (m, (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt())
        };
        println!("centre of mass: row {:?}, column {:?} (mean, sd)", mean_sd(&rows), mean_sd(&cols));
        println!("aspect: median {:.2}, p95 {:.2}, p99 {:.2}", pct(&mut aspects, 0.5), pct(&mut aspects, 0.95), pct(&mut aspects, 0.99));
        println!("shifted by one pixel: median {:.2}, p1 {:.2}", pct(&mut shifted, 0.5), pct(&mut shifted, 0.01));
        let (mut same, mut diff) = (Vec::new(), Vec::new());
        for i in 0..2000 {
            for j in i + 1..i + 40 {
                let c = corr(d.image(i), d.image(j));
                if d.labels[i] == d.labels[j] { same.push(c) } else { diff.push(c) }
            }
        }
        println!("same class: median {:.2}, p99 {:.2}", pct(&mut same, 0.5), pct(&mut same, 0.99));
        println!("different classes: p99 {:.2}, p99.9 {:.2}", pct(&mut diff, 0.99), pct(&mut diff, 0.999));
    }
}
