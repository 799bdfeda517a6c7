//! Data augmentation for 8-bit single-channel images, applied per image at batch time: what
//! the source documents use (horizontal flip, rotation, width/height shift, Gaussian noise,
//! and "pick one augmentation at random per image") plus scaling and elastic distortion.
//!
//! Geometric transforms are one affine map about the image centre c, sampled backwards with
//! bilinear interpolation (zero outside the image):
//!
//! ```text
//! output pixel q  ←  source  p = c + (1/s)·R(−θ)·(q − c − t)      (then x ↦ W−1−x if flipped)
//! ```
//! with θ ~ U(±rotation), s ~ U(1 ± scale), t ~ U(±shift·size). Elastic distortion (Simard et
//! al., 2003) displaces every pixel by a field of U(−1, 1) values smoothed by a Gaussian of
//! width σ and scaled by α. Noise adds N(0, σ²) (σ in pixel units, 0–255) and clamps.
//!
//! Two augmentations for real writers, applied first (before the geometric ones, which then
//! turn them along with the digit):
//! * **Stroke width**: the ink is thickened or thinned by a random amount `t` in
//!   `[−stroke/2, stroke]` pixels: `v ← (1 − f)·v + f·M(v)` applied `⌈|t|⌉` times with the
//!   last pass's `f` the fractional part, `M` the 3×3 maximum (thicker) or minimum (thinner).
//!   Pens from a fine liner to a marker, which MNIST (one pen width, normalised) lacks.
//! * **Writer styles** MNIST under-represents, each with probability `styles` on its class: a
//!   1 with a flag (a stroke from its top going down-left, and sometimes a foot), a crossed 7
//!   (a bar through the middle of its stem), a closed-top 4 (a stroke joining the top of its
//!   left arm to the top of its stem). Strokes are drawn anti-aliased, as wide as the digit's
//!   own (`2·area/perimeter` of its ink).
//!
//! And one applied last, to the augmented digit: **photographed**, with probability `photo`,
//! the 28×28 digit is drawn as a photo ([`crate::data::render::photo_gray`]: pen or pencil on
//! tinted paper, uneven light, blur, noise, JPEG) and read back through the photo pipeline
//! ([`crate::vision::Pipeline::Photo`]), as `predict` reads a photo: a network for photos
//! learns the digits as the pipeline hands them over (thresholded, cropped, refitted), not
//! only as MNIST drew them. The costliest augmentation by far (a few milliseconds an image,
//! and the rendering, its JPEG round trip and the pipeline allocate as `predict` does), so it
//! is off by default and runs on all threads, each photo from a generator of its own.

use crate::error::{Error, Result};
use crate::init::Rng;
use crate::vision::pipeline::DIGIT_SIDE;
use serde::{Deserialize, Serialize};

/// Which augmentations are on and how strong they are. The default is none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Maximum rotation in degrees (uniform in ±).
    pub rotation_deg: f32,
    /// Maximum shift as a fraction of the width and height (Keras' width/height_shift_range).
    pub shift: f32,
    /// Maximum relative change of size (zoom), e.g. 0.1 for 0.9–1.1.
    pub scale: f32,
    /// Mirror left–right with probability ½.
    pub hflip: bool,
    /// Standard deviation of additive Gaussian noise, in pixel units (0–255).
    pub noise_std: f32,
    /// Elastic distortion strength α in pixels (0 = off); σ is `elastic_sigma`.
    pub elastic_alpha: f32,
    pub elastic_sigma: f32,
    /// Apply one enabled augmentation, chosen at random per image, instead of all of them.
    pub one_at_random: bool,
    /// Maximum change of stroke width in pixels (thicker up to this, thinner up to half of
    /// it; 0 = off).
    #[serde(default)]
    pub stroke: f32,
    /// Probability of a writer's style on the digits that have one (flagged 1, crossed 7,
    /// closed 4; 0 = off). Needs the labels ([`Augment::apply_labelled`]).
    #[serde(default)]
    pub styles: f32,
    /// Probability of photographing the augmented digit and reading it back through the
    /// photo pipeline (28×28 images only; 0 = off).
    #[serde(default)]
    pub photo: f32,
}

/// Augmentation with its generator and buffers, filling training batches.
pub struct Augmenter {
    pub spec: Augment,
    pub rng: Rng,
    scratch: Scratch,
    image: Vec<u8>,
    /// The batch's augmented digits and, for those to photograph, their generators' seeds.
    images: Vec<u8>,
    photo_seeds: Vec<Option<u64>>,
}

impl Augmenter {
    /// An augmenter drawing from `rng`.
    pub fn new(spec: Augment, rng: Rng) -> Self {
        Augmenter { spec, rng, scratch: Scratch::default(), image: Vec::new(), images: Vec::new(), photo_seeds: Vec::new() }
    }

    /// As [`crate::data::Dataset::fill_batch`], each image augmented afresh.
    pub fn fill_batch(
        &mut self,
        data: &crate::data::Dataset,
        indices: &[usize],
        norm: &crate::network::arch::Normalization,
        x: &mut crate::tensor::Tensor,
        labels: &mut Vec<u8>,
    ) {
        use rayon::prelude::*;
        x.resize(indices.len(), &[1, data.rows, data.cols]);
        labels.clear();
        let n = data.rows * data.cols;
        self.image.resize(n, 0);
        let photographs = self.spec.photo > 0.0 && (data.rows, data.cols) == (DIGIT_SIDE, DIGIT_SIDE);
        self.photo_seeds.clear();
        self.images.clear();
        for (dst, &i) in x.data.chunks_mut(n).zip(indices) {
            self.spec.apply_labelled(data.image(i), Some(data.labels[i]), &mut self.image, data.rows, data.cols, &mut self.rng, &mut self.scratch);
            for (d, &p) in dst.iter_mut().zip(&self.image) {
                *d = norm.apply(p);
            }
            labels.push(data.labels[i]);
            // Drawn only when photographs are on, so other recipes keep their random streams.
            if photographs {
                let photographed = self.rng.next_f32() < self.spec.photo;
                self.photo_seeds.push(photographed.then(|| self.rng.next_u64()));
                self.images.extend_from_slice(&self.image);
            }
        }
        if photographs {
            let samples = x.data.par_chunks_mut(n).zip(self.images.par_chunks(n)).zip(self.photo_seeds.par_iter());
            samples.for_each(|((dst, image), seed)| {
                let Some(seed) = *seed else { return };
                let photo = crate::data::render::photo_gray(image, &mut Rng::new(seed));
                // A photo the pipeline finds no digit in keeps the digit as it was.
                if let Ok(digit) = crate::vision::Pipeline::Photo.digit(&photo) {
                    for (d, &p) in dst.iter_mut().zip(digit.0.iter()) {
                        *d = norm.apply(p);
                    }
                }
            });
        }
    }
}

/// Reusable buffers for one image's augmentation.
#[derive(Default)]
pub struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
    dx: Vec<f32>,
    dy: Vec<f32>,
    tmp: Vec<f32>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Affine,
    Flip,
    Noise,
    Elastic,
    Stroke,
    Styles,
}

impl Augment {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        let ok = |v: f32, hi: f32| v.is_finite() && (0.0..=hi).contains(&v);
        if !ok(self.rotation_deg, 180.0)
            || !ok(self.shift, 0.5)
            || !ok(self.scale, 0.9)
            || !ok(self.noise_std, 255.0)
            || !ok(self.elastic_alpha, 100.0)
            || !ok(self.stroke, 4.0)
            || !ok(self.styles, 1.0)
            || !ok(self.photo, 1.0)
        {
            return Err(Error::config(format!(
                "augmentation out of range: rotation {} (0–180°), shift {} (0–0.5), scale {} (0–0.9), noise {} (0–255), elastic α {} (0–100), stroke {} (0–4 px), styles {} (0–1), photo {} (0–1)",
                self.rotation_deg, self.shift, self.scale, self.noise_std, self.elastic_alpha, self.stroke, self.styles, self.photo
            )));
        }
        if self.elastic_alpha > 0.0 && !(self.elastic_sigma.is_finite() && self.elastic_sigma > 0.0 && self.elastic_sigma <= 20.0) {
            return Err(Error::config(format!("elastic σ must be in (0, 20], got {}", self.elastic_sigma)));
        }
        Ok(())
    }

    /// True when nothing is enabled.
    pub fn is_identity(&self) -> bool {
        self.enabled().1 == 0 && self.photo == 0.0
    }

    /// The enabled kinds (first `count` entries), without allocating.
    fn enabled(&self) -> ([Kind; 6], usize) {
        let mut k = [Kind::Affine; 6];
        let mut count = 0;
        for (on, kind) in [
            (self.rotation_deg > 0.0 || self.shift > 0.0 || self.scale > 0.0, Kind::Affine),
            (self.hflip, Kind::Flip),
            (self.noise_std > 0.0, Kind::Noise),
            (self.elastic_alpha > 0.0, Kind::Elastic),
            (self.stroke > 0.0, Kind::Stroke),
            (self.styles > 0.0, Kind::Styles),
        ] {
            if on {
                k[count] = kind;
                count += 1;
            }
        }
        (k, count)
    }

    /// Augments `src` (`rows × cols` bytes) into `dst`, drawing from `rng` (without a label:
    /// no writer styles).
    pub fn apply(&self, src: &[u8], dst: &mut [u8], rows: usize, cols: usize, rng: &mut Rng, s: &mut Scratch) {
        self.apply_labelled(src, None, dst, rows, cols, rng, s)
    }

    /// Augments `src` (`rows × cols` bytes, class `label` when known) into `dst`, drawing
    /// from `rng`.
    #[allow(clippy::too_many_arguments)] // the image, its label, its size, and the state
    pub fn apply_labelled(&self, src: &[u8], label: Option<u8>, dst: &mut [u8], rows: usize, cols: usize, rng: &mut Rng, s: &mut Scratch) {
        let (all, count) = self.enabled();
        let kinds = &all[..count];
        let chosen = if self.one_at_random && count > 0 { Some(kinds[rng.below(count)]) } else { None };
        let on = |k: Kind| kinds.contains(&k) && chosen.is_none_or(|c| c == k);
        let n = rows * cols;
        s.a.clear();
        s.a.extend(src.iter().map(|&v| v as f32));
        if on(Kind::Styles) && rng.next_f32() < self.styles {
            if let Some(label) = label {
                writer_style(&mut s.a, rows, cols, label, rng);
            }
        }
        if on(Kind::Stroke) {
            let t = rng.uniform(-self.stroke / 2.0, self.stroke);
            change_stroke(&mut s.a, &mut s.b, rows, cols, t);
        }
        if on(Kind::Affine) || on(Kind::Flip) {
            let theta = if on(Kind::Affine) { rng.uniform(-self.rotation_deg, self.rotation_deg).to_radians() } else { 0.0 };
            let scale = if on(Kind::Affine) { 1.0 + rng.uniform(-self.scale, self.scale) } else { 1.0 };
            let tx = if on(Kind::Affine) { rng.uniform(-self.shift, self.shift) * cols as f32 } else { 0.0 };
            let ty = if on(Kind::Affine) { rng.uniform(-self.shift, self.shift) * rows as f32 } else { 0.0 };
            let flip = on(Kind::Flip) && rng.next_f32() < 0.5;
            let (sin, cos) = theta.sin_cos();
            let (cx, cy) = ((cols as f32 - 1.0) / 2.0, (rows as f32 - 1.0) / 2.0);
            s.b.resize(n, 0.0);
            for y in 0..rows {
                for x in 0..cols {
                    let (vx, vy) = (x as f32 - cx - tx, y as f32 - cy - ty);
                    // R(−θ)·v / s
                    let mut sx = cx + (cos * vx + sin * vy) / scale;
                    let sy = cy + (-sin * vx + cos * vy) / scale;
                    if flip {
                        sx = cols as f32 - 1.0 - sx;
                    }
                    s.b[y * cols + x] = bilinear(&s.a, rows, cols, sx, sy);
                }
            }
            std::mem::swap(&mut s.a, &mut s.b);
        }
        if on(Kind::Elastic) {
            for d in [&mut s.dx, &mut s.dy] {
                d.clear();
                d.extend((0..n).map(|_| rng.uniform(-1.0, 1.0)));
            }
            let (alpha, sigma) = (self.elastic_alpha, self.elastic_sigma);
            gaussian_blur(&mut s.dx, &mut s.tmp, rows, cols, sigma);
            gaussian_blur(&mut s.dy, &mut s.tmp, rows, cols, sigma);
            // Normalise the smoothed field to unit peak so α is the maximum displacement.
            let peak = s.dx.iter().chain(&s.dy).fold(1e-6f32, |m, v| m.max(v.abs()));
            s.b.resize(n, 0.0);
            for y in 0..rows {
                for x in 0..cols {
                    let i = y * cols + x;
                    let (sx, sy) = (x as f32 + alpha * s.dx[i] / peak, y as f32 + alpha * s.dy[i] / peak);
                    s.b[i] = bilinear(&s.a, rows, cols, sx, sy);
                }
            }
            std::mem::swap(&mut s.a, &mut s.b);
        }
        if on(Kind::Noise) {
            for v in s.a.iter_mut() {
                *v += self.noise_std * rng.normal();
            }
        }
        for (d, &v) in dst.iter_mut().zip(&s.a) {
            *d = v.round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Thickens (`t > 0`) or thins (`t < 0`) the ink by `|t|` pixels: `⌈|t|⌉` passes of
/// `v ← (1 − f)·v + f·M(v)`, `M` the 3×3 maximum or minimum, `f = 1` but for the last pass,
/// whose `f` is the fractional part. `tmp` is scratch.
fn change_stroke(v: &mut [f32], tmp: &mut Vec<f32>, rows: usize, cols: usize, t: f32) {
    let mut left = t.abs();
    while left > 1e-3 {
        let f = left.min(1.0);
        tmp.clear();
        tmp.extend_from_slice(v);
        for y in 0..rows {
            for x in 0..cols {
                let mut m = tmp[y * cols + x];
                for yy in y.saturating_sub(1)..=(y + 1).min(rows - 1) {
                    for xx in x.saturating_sub(1)..=(x + 1).min(cols - 1) {
                        let u = tmp[yy * cols + xx];
                        m = if t > 0.0 { m.max(u) } else { m.min(u) };
                    }
                }
                v[y * cols + x] = (1.0 - f) * tmp[y * cols + x] + f * m;
            }
        }
        left -= f;
    }
}

/// Draws an anti-aliased segment from `a` to `b` (x, y) of width `width` at full ink:
/// coverage `clamp(width/2 + ½ − distance, 0, 1)`, combined by maximum.
fn draw_segment(v: &mut [f32], rows: usize, cols: usize, a: (f32, f32), b: (f32, f32), width: f32) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = (dx * dx + dy * dy).max(1e-6);
    let reach = width / 2.0 + 1.0;
    let (x0, x1) = ((a.0.min(b.0) - reach).floor().max(0.0) as usize, (a.0.max(b.0) + reach).ceil().min(cols as f32 - 1.0).max(0.0) as usize);
    let (y0, y1) = ((a.1.min(b.1) - reach).floor().max(0.0) as usize, (a.1.max(b.1) + reach).ceil().min(rows as f32 - 1.0).max(0.0) as usize);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (px, py) = (x as f32 - a.0, y as f32 - a.1);
            let t = ((px * dx + py * dy) / len2).clamp(0.0, 1.0);
            let d = ((px - t * dx).powi(2) + (py - t * dy).powi(2)).sqrt();
            let c = (width / 2.0 + 0.5 - d).clamp(0.0, 1.0);
            let p = &mut v[y * cols + x];
            *p = p.max(255.0 * c);
        }
    }
}

/// A writer's style on digits `1`, `4` and `7` (see the module doc); other labels, or a
/// digit without ink, are left alone.
fn writer_style(v: &mut [f32], rows: usize, cols: usize, label: u8, rng: &mut Rng) {
    let before = v.to_vec();
    let ink = |x: usize, y: usize| before[y * cols + x] >= 128.0;
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    let (mut area, mut edge) = (0usize, 0usize);
    for y in 0..rows {
        for x in 0..cols {
            if ink(x, y) {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                area += 1;
                if x == 0 || y == 0 || x + 1 == cols || y + 1 == rows || !ink(x - 1, y) || !ink(x + 1, y) || !ink(x, y - 1) || !ink(x, y + 1) {
                    edge += 1;
                }
            }
        }
    }
    if area == 0 || y1 <= y0 + 4 {
        return;
    }
    let width = (2.0 * area as f32 / edge as f32).clamp(1.5, 3.5);
    let h = (y1 - y0) as f32;
    // Mean column of the ink in row y (None for an empty row), within columns lo..=hi.
    let centre = |y: usize, lo: usize, hi: usize| -> Option<f32> {
        let xs: Vec<usize> = (lo..=hi).filter(|&x| ink(x, y)).collect();
        (!xs.is_empty()).then(|| xs.iter().sum::<usize>() as f32 / xs.len() as f32)
    };
    match label {
        1 => {
            let Some(tx) = centre(y0, x0, x1) else { return };
            let (len, angle) = (rng.uniform(0.25, 0.45) * h, rng.uniform(20.0f32, 55.0).to_radians());
            let top = (tx, y0 as f32 + 0.5);
            draw_segment(v, rows, cols, top, (tx - len * angle.cos(), top.1 + len * angle.sin()), width);
            if rng.next_f32() < 0.3 {
                if let Some(bx) = centre(y1, x0, x1) {
                    let half = rng.uniform(0.15, 0.3) * h;
                    draw_segment(v, rows, cols, (bx - half, y1 as f32), (bx + half, y1 as f32), width);
                }
            }
        }
        7 => {
            let ym = (y0 as f32 + rng.uniform(0.45, 0.6) * h).round() as usize;
            let Some(cx) = centre(ym.min(rows - 1), x0, x1) else { return };
            let (half, tilt) = (rng.uniform(0.18, 0.32) * h, rng.uniform(-0.08, 0.08) * h);
            draw_segment(v, rows, cols, (cx - half, ym as f32 + tilt), (cx + half, ym as f32 - tilt), width);
        }
        4 => {
            let w = x1 - x0;
            if w < 6 {
                return;
            }
            let (split_l, split_r) = (x0 + w * 45 / 100, x0 + w * 55 / 100);
            let top_in = |lo: usize, hi: usize| (y0..=y1).find_map(|y| centre(y, lo, hi).map(|x| (x, y as f32)));
            let (Some(left), Some(right)) = (top_in(x0, split_l), top_in(split_r, x1)) else { return };
            draw_segment(v, rows, cols, left, right, width);
        }
        _ => {}
    }
}

/// Bilinear sample of `img` at (x, y), zero outside.
fn bilinear(img: &[f32], rows: usize, cols: usize, x: f32, y: f32) -> f32 {
    if !(x > -1.0 && y > -1.0 && x < cols as f32 && y < rows as f32) {
        return 0.0;
    }
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let at = |xi: f32, yi: f32| -> f32 {
        if xi < 0.0 || yi < 0.0 || xi >= cols as f32 || yi >= rows as f32 {
            0.0
        } else {
            img[yi as usize * cols + xi as usize]
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
    let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Separable Gaussian blur in place (kernel radius 3σ, edges clamped).
fn gaussian_blur(v: &mut [f32], tmp: &mut Vec<f32>, rows: usize, cols: usize, sigma: f32) {
    let r = (3.0 * sigma).ceil() as isize;
    let w: Vec<f32> = (-r..=r).map(|i| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp()).collect();
    let norm: f32 = w.iter().sum();
    tmp.resize(v.len(), 0.0);
    for y in 0..rows {
        for x in 0..cols {
            let mut acc = 0.0;
            for (k, wk) in w.iter().enumerate() {
                let xi = (x as isize + k as isize - r).clamp(0, cols as isize - 1) as usize;
                acc += wk * v[y * cols + xi];
            }
            tmp[y * cols + x] = acc / norm;
        }
    }
    for y in 0..rows {
        for x in 0..cols {
            let mut acc = 0.0;
            for (k, wk) in w.iter().enumerate() {
                let yi = (y as isize + k as isize - r).clamp(0, rows as isize - 1) as usize;
                acc += wk * tmp[yi * cols + x];
            }
            v[y * cols + x] = acc / norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digit() -> Vec<u8> {
        // A vertical bar in columns 10–12, rows 4–23, off-centre to the left.
        let mut img = vec![0u8; 784];
        for y in 4..24 {
            for x in 10..13 {
                img[y * 28 + x] = 255;
            }
        }
        img
    }

    /// Stroke width: one pass of the 3×3 maximum widens the 3-pixel bar to 5 (columns 9–13),
    /// half a pass gives the new columns half ink; one pass of the minimum leaves column 11.
    #[test]
    fn stroke_width_changes_by_whole_and_fractional_pixels() {
        let src: Vec<f32> = digit().iter().map(|&v| v as f32).collect();
        let mut tmp = Vec::new();
        let row = |v: &[f32]| v[14 * 28..15 * 28].to_vec();
        let mut v = src.clone();
        change_stroke(&mut v, &mut tmp, 28, 28, 1.0);
        let r = row(&v);
        assert!((9..14).all(|x| r[x] == 255.0) && r[8] == 0.0 && r[14] == 0.0, "{r:?}");
        let mut v = src.clone();
        change_stroke(&mut v, &mut tmp, 28, 28, 0.5);
        let r = row(&v);
        assert_eq!((r[9], r[10], r[12], r[13], r[14]), (127.5, 255.0, 255.0, 127.5, 0.0));
        let mut v = src;
        change_stroke(&mut v, &mut tmp, 28, 28, -1.0);
        let r = row(&v);
        assert!(r[11] == 255.0 && r[10] == 0.0 && r[12] == 0.0, "{r:?}");
    }

    /// Writer styles: a 7 (the bar as its stem) gets a cross bar through the middle of its
    /// stem, wider than the stem; a 1 gets a flag to the left of its top; a 2 is left alone.
    #[test]
    fn writer_styles_draw_on_their_digits_only() {
        let src: Vec<f32> = digit().iter().map(|&v| v as f32).collect();
        let ink_left_of_stem =
            |v: &[f32], rows: std::ops::Range<usize>| rows.flat_map(|y| (0..9).map(move |x| (y, x))).filter(|&(y, x)| v[y * 28 + x] > 128.0).count();
        let mut seven = src.clone();
        writer_style(&mut seven, 28, 28, 7, &mut Rng::new(1));
        assert!(ink_left_of_stem(&seven, 12..18) > 0, "no cross bar");
        assert_eq!(ink_left_of_stem(&seven, 0..10), 0);
        let mut one = src.clone();
        writer_style(&mut one, 28, 28, 1, &mut Rng::new(1));
        assert!(ink_left_of_stem(&one, 4..14) > 0, "no flag");
        let mut two = src.clone();
        writer_style(&mut two, 28, 28, 2, &mut Rng::new(1));
        assert_eq!(two, src);
    }

    fn run(a: &Augment, seed: u64) -> Vec<u8> {
        let mut out = vec![0u8; 784];
        a.apply(&digit(), &mut out, 28, 28, &mut Rng::new(seed), &mut Scratch::default());
        out
    }

    #[test]
    fn identity_when_nothing_enabled() {
        let a = Augment::default();
        assert!(a.is_identity());
        assert_eq!(run(&a, 1), digit());
    }

    /// A 90° rotation turns the vertical bar horizontal: ink then spans many columns in row 13–14.
    #[test]
    fn rotation_rotates() {
        let a = Augment { rotation_deg: 90.0, ..Default::default() };
        // Draw until the angle is close to ±90° (uniform in ±90).
        let out = (0..200).map(|s| (s, Rng::new(s).uniform(-90.0, 90.0))).find(|(_, t)| t.abs() > 85.0).map(|(s, _)| run(&a, s)).unwrap();
        let wide_rows = (0..28).filter(|&y| (0..28).filter(|&x| out[y * 28 + x] > 128).count() > 12).count();
        assert!(wide_rows >= 2, "no horizontal bar after rotation");
    }

    /// A flip mirrors columns exactly: the bar moves from x 10–12 to 15–17.
    #[test]
    fn flip_mirrors() {
        let a = Augment { hflip: true, ..Default::default() };
        let mut flipped = 0;
        for s in 0..20 {
            let out = run(&a, s);
            if out != digit() {
                flipped += 1;
                assert!((4..24).all(|y| (15..18).all(|x| out[y * 28 + x] == 255)));
            }
        }
        assert!(flipped > 3 && flipped < 17, "flip probability ½: {flipped}/20");
    }

    #[test]
    fn noise_and_elastic_change_but_keep_ink() {
        for a in [Augment { noise_std: 20.0, ..Default::default() }, Augment { elastic_alpha: 2.0, elastic_sigma: 4.0, ..Default::default() }] {
            let out = run(&a, 3);
            assert_ne!(out, digit());
            let ink = |v: &[u8]| v.iter().map(|&p| p as f64).sum::<f64>();
            let ratio = ink(&out) / ink(&digit());
            assert!(ratio > 0.8 && ratio < 1.6, "{a:?}: ink ratio {ratio}");
        }
    }

    #[test]
    fn one_at_random_applies_a_single_kind() {
        let a = Augment { hflip: true, noise_std: 30.0, one_at_random: true, ..Default::default() };
        let (mut noisy, mut flipped_clean) = (0, 0);
        for s in 0..40 {
            let out = run(&a, s);
            let is_noisy = out.iter().zip(digit()).any(|(&o, d)| o != d && o != 0 && o != 255);
            let is_flipped = out[10 * 28 + 16] > 128 && out[10 * 28 + 11] < 128;
            assert!(!(is_noisy && is_flipped), "both applied at seed {s}");
            noisy += usize::from(is_noisy);
            flipped_clean += usize::from(is_flipped);
        }
        assert!(noisy > 5 && flipped_clean > 3, "{noisy} noisy, {flipped_clean} flipped");
    }

    /// Photographed digits come back through the photo pipeline: changed (not one batch image
    /// left as MNIST drew it) but still the same digit (their pixels correlate with the
    /// original's), only about the chosen share of them, and the same batch from the same seed
    /// however the threads share the work.
    #[test]
    fn photographed_digits_are_read_back_through_the_photo_pipeline() {
        let data = crate::data::Dataset::load_idx(&crate::data::shipped_mnist_dir(), crate::data::Split::Train, false).unwrap().take(16);
        let norm = crate::network::arch::Normalization::default();
        let idx: Vec<usize> = (0..16).collect();
        let batch = |photo: f32, seed: u64| {
            let (mut x, mut labels) = (crate::tensor::Tensor::default(), Vec::new());
            Augmenter::new(Augment { photo, ..Default::default() }, Rng::new(seed)).fill_batch(&data, &idx, &norm, &mut x, &mut labels);
            assert_eq!(labels, data.labels);
            x.data
        };
        let as_drawn = batch(0.0, 5);
        let photographed = batch(1.0, 5);
        for (k, (p, d)) in photographed.chunks(784).zip(as_drawn.chunks(784)).enumerate() {
            let r = crate::data::render::corr(p, d);
            assert!(p != d && r > 0.6, "image {k}: correlation {r} with the digit as drawn");
        }
        assert_eq!(photographed, batch(1.0, 5));
        let changed = batch(0.5, 5).chunks(784).zip(as_drawn.chunks(784)).filter(|(p, d)| p != d).count();
        assert!((3..=13).contains(&changed), "photo ½: {changed} of 16 photographed");
        assert!(Augment { photo: 1.5, ..Default::default() }.validate().is_err());
    }

    #[test]
    fn out_of_range_is_an_error() {
        assert!(Augment { rotation_deg: 400.0, ..Default::default() }.validate().is_err());
        assert!(Augment { elastic_alpha: 3.0, elastic_sigma: 0.0, ..Default::default() }.validate().is_err());
        assert!(Augment { shift: 0.1, rotation_deg: 10.0, ..Default::default() }.validate().is_ok());
    }
}
