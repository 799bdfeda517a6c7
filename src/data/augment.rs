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

use crate::error::{Error, Result};
use crate::init::Rng;
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
}

/// Augmentation with its generator and buffers, filling training batches.
pub struct Augmenter {
    pub spec: Augment,
    pub rng: Rng,
    scratch: Scratch,
    image: Vec<u8>,
}

impl Augmenter {
    /// An augmenter drawing from `rng`.
    pub fn new(spec: Augment, rng: Rng) -> Self {
        Augmenter { spec, rng, scratch: Scratch::default(), image: Vec::new() }
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
        x.resize(indices.len(), &[1, data.rows, data.cols]);
        labels.clear();
        let n = data.rows * data.cols;
        self.image.resize(n, 0);
        for (dst, &i) in x.data.chunks_mut(n).zip(indices) {
            self.spec.apply(data.image(i), &mut self.image, data.rows, data.cols, &mut self.rng, &mut self.scratch);
            for (d, &p) in dst.iter_mut().zip(&self.image) {
                *d = norm.apply(p);
            }
            labels.push(data.labels[i]);
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
}

impl Augment {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        let ok = |v: f32, hi: f32| v.is_finite() && (0.0..=hi).contains(&v);
        if !ok(self.rotation_deg, 180.0) || !ok(self.shift, 0.5) || !ok(self.scale, 0.9) || !ok(self.noise_std, 255.0) || !ok(self.elastic_alpha, 100.0) {
            return Err(Error::config(format!(
                "augmentation out of range: rotation {} (0–180°), shift {} (0–0.5), scale {} (0–0.9), noise {} (0–255), elastic α {} (0–100)",
                self.rotation_deg, self.shift, self.scale, self.noise_std, self.elastic_alpha
            )));
        }
        if self.elastic_alpha > 0.0 && !(self.elastic_sigma.is_finite() && self.elastic_sigma > 0.0 && self.elastic_sigma <= 20.0) {
            return Err(Error::config(format!("elastic σ must be in (0, 20], got {}", self.elastic_sigma)));
        }
        Ok(())
    }

    /// True when nothing is enabled.
    pub fn is_identity(&self) -> bool {
        self.enabled().1 == 0
    }

    /// The enabled kinds (first `count` entries), without allocating.
    fn enabled(&self) -> ([Kind; 4], usize) {
        let mut k = [Kind::Affine; 4];
        let mut count = 0;
        for (on, kind) in [
            (self.rotation_deg > 0.0 || self.shift > 0.0 || self.scale > 0.0, Kind::Affine),
            (self.hflip, Kind::Flip),
            (self.noise_std > 0.0, Kind::Noise),
            (self.elastic_alpha > 0.0, Kind::Elastic),
        ] {
            if on {
                k[count] = kind;
                count += 1;
            }
        }
        (k, count)
    }

    /// Augments `src` (`rows × cols` bytes) into `dst`, drawing from `rng`.
    pub fn apply(&self, src: &[u8], dst: &mut [u8], rows: usize, cols: usize, rng: &mut Rng, s: &mut Scratch) {
        let (all, count) = self.enabled();
        let kinds = &all[..count];
        let chosen = if self.one_at_random && count > 0 { Some(kinds[rng.below(count)]) } else { None };
        let on = |k: Kind| kinds.contains(&k) && chosen.is_none_or(|c| c == k);
        let n = rows * cols;
        s.a.clear();
        s.a.extend(src.iter().map(|&v| v as f32));
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

    #[test]
    fn out_of_range_is_an_error() {
        assert!(Augment { rotation_deg: 400.0, ..Default::default() }.validate().is_err());
        assert!(Augment { elastic_alpha: 3.0, elastic_sigma: 0.0, ..Default::default() }.validate().is_err());
        assert!(Augment { shift: 0.1, rotation_deg: 10.0, ..Default::default() }.validate().is_ok());
    }
}
