//! Photo-like renderings of digits, one renderer for every test, example and benchmark: a
//! luminance canvas (tinted, unevenly lit paper) that 28×28 ink images are drawn onto at any
//! scale, noise, and JPEG encoding; and the image correlations the tests measure with.

use crate::data::{shipped_mnist_dir, Dataset, Split};
use crate::init::Rng;
use crate::vision::gray::to_byte;
use crate::vision::resample::resample;
use crate::vision::Gray;
use image::{imageops, GrayImage, ImageBuffer, Luma, LumaA};
use std::io::Cursor;

pub fn mnist_test() -> Dataset {
    Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).unwrap()
}

/// Pearson correlation of two images (bytes, or the normalised `f32` a network reads).
pub fn corr<T: Copy + Into<f64>>(a: &[T], b: &[T]) -> f64 {
    let n = a.len() as f64;
    let mean = |v: &[T]| v.iter().map(|&x| x.into()).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x.into() - ma, y.into() - mb);
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
pub fn corr_aligned(a: &[u8], b: &[u8]) -> f64 {
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
pub struct Canvas {
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

    /// Tinted paper lit from the left (200 grey levels at the left edge, 230 at the right)
    /// with sensor noise of deviation 6: the scene of the command-line and server tests.
    pub fn lit_paper(w: usize, h: usize, rng: &mut Rng) -> Canvas {
        let mut c = Canvas::paper(w, h, 200.0, -30.0);
        c.noise(6.0, rng);
        c
    }

    /// A digit in dark pen (the ink at 15 % of the paper's luminance), scaled by `scale`.
    pub fn pen(&mut self, digit: &[u8], scale: usize, x: usize, y: usize) {
        self.draw(digit, scale as f32, x, y, 32.0);
    }

    pub fn gray(&self) -> Gray {
        Gray { width: self.w, height: self.h, pixels: self.px.iter().map(|&v| to_byte(v)).collect() }
    }

    /// As an `image` grey image (to save or encode).
    pub fn image(&self) -> image::GrayImage {
        let g = self.gray();
        image::GrayImage::from_raw(g.width as u32, g.height as u32, g.pixels).expect("the canvas's size")
    }

    /// Encoded as PNG.
    pub fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.image().write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).expect("PNG encoding into memory");
        out
    }

    /// Encoded as a grey JPEG of the given quality.
    pub fn jpeg(&self, quality: u8) -> Vec<u8> {
        let g = self.gray();
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode(&g.pixels, g.width as u32, g.height as u32, image::ExtendedColorType::L8)
            .unwrap();
        out
    }
}

/// A photo-like rendering of one 28×28 digit, as the grey levels a decoder would give: pen or
/// pencil on tinted paper with uneven light, the digit 40–120 pixels tall (its 28×28 field)
/// somewhere on a page a little larger, sensor noise, sometimes blur, and in three cases of four
/// a JPEG round trip at quality 40–95. What rotation models train on to read photos of turned
/// digits (`finetune --photos`), and what their validation photos are made of.
pub fn photo_gray(digit: &[u8], rng: &mut Rng) -> Gray {
    let side = 40 + rng.below(81);
    let scale = side as f32 / 28.0;
    let margin = side / 4 + rng.below(side / 2 + 1);
    let (w, h) = (side + 2 * margin, side + 2 * margin);
    let mut c = Canvas::paper(w, h, rng.uniform(170.0, 245.0), rng.uniform(-40.0, 40.0));
    let (x, y) = (rng.below(2 * margin + 1), rng.below(2 * margin + 1));
    c.draw(digit, scale, x.min(w - side), y.min(h - side), rng.uniform(15.0, 110.0));
    let sigma = rng.uniform(0.0, 1.5) * scale / 4.0;
    let mut img = c.image();
    if sigma > 0.3 {
        img = imageops::blur(&img, sigma);
    }
    let mut c = Canvas { w, h, px: img.pixels().map(|p| p.0[0] as f32).collect() };
    c.noise(rng.uniform(0.0, 10.0), rng);
    if rng.below(4) == 0 {
        return c.gray();
    }
    let bytes = c.jpeg(40 + rng.below(56) as u8);
    match image::load_from_memory(&bytes) {
        Ok(decoded) => {
            let g = decoded.to_luma8();
            Gray { width: g.width() as usize, height: g.height() as usize, pixels: g.into_raw() }
        }
        Err(_) => c.gray(),
    }
}

/// Checks correlations against a floor for each and a floor for their mean, printing
/// the figures (`cargo test -- --nocapture` shows them).
pub fn check(what: &str, corrs: &[(usize, f64)], each: f64, mean: f64) {
    let m = corrs.iter().map(|c| c.1).sum::<f64>() / corrs.len() as f64;
    let worst = corrs.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    println!("{what}: {} digits, mean correlation {m:.3}, lowest {:.3} (digit {})", corrs.len(), worst.1, worst.0);
    assert!(worst.1 > each, "{what}: digit {} correlates {:.3} ≤ {each}", worst.0, worst.1);
    assert!(m > mean, "{what}: mean correlation {m:.3} ≤ {mean}");
}

/// A photo of digits (28×28 MNIST ink images) side by side on paper, encoded: pen or pencil
/// on tinted paper, uneven light, noise, blur, 40–300 px tall, off centre; 10 % transparent
/// PNGs (ink in the alpha channel), 10 % 16-bit grey PNGs, 10 % BMPs, the rest JPEG at quality
/// 40–95. What `tools/photo_benchmark.rs` measures `predict` and `read` on.
pub fn photo(digits: &[&[u8]], rng: &mut Rng) -> Vec<u8> {
    let height = 40 + rng.below(261) as u32; // digit height in pixels, 40–300
    let scale = height as f32 / 20.0; // MNIST digits are ~20 px tall inside 28
    let cell = (28.0 * scale) as u32;
    let gap = (cell as f32 * rng.uniform(0.0, 0.25)) as u32;
    let margin = (cell / 3).max(4);
    let w = 2 * margin + digits.len() as u32 * cell + (digits.len() as u32 - 1) * gap;
    let h = 2 * margin + cell + (cell as f32 * rng.uniform(0.0, 0.5)) as u32;
    let paper = rng.uniform(170.0, 245.0);
    let light = rng.uniform(0.0, 50.0); // uneven light: a gradient across the page
    let ink = rng.uniform(0.55, 0.95); // pencil (light) to pen (dark)
    let mut img = GrayImage::from_fn(w, h, |x, y| Luma([(paper - light * (x + y) as f32 / (w + h) as f32).clamp(0.0, 255.0) as u8]));
    let oy_max = h - cell - margin;
    for (k, d) in digits.iter().enumerate() {
        let small = GrayImage::from_raw(28, 28, d.to_vec()).unwrap();
        let big = imageops::resize(&small, cell, cell, imageops::FilterType::Triangle);
        let ox = margin + k as u32 * (cell + gap);
        let oy = margin + rng.below((oy_max - margin + 1) as usize) as u32;
        for (x, y, p) in big.enumerate_pixels() {
            let a = p.0[0] as f32 / 255.0 * ink;
            let px = img.get_pixel_mut(ox + x, oy + y);
            px.0[0] = (px.0[0] as f32 * (1.0 - a)) as u8;
        }
    }
    let sigma = rng.uniform(0.0, 1.5) * scale / 4.0;
    let mut img = if sigma > 0.3 { imageops::blur(&img, sigma) } else { img };
    let noise = rng.uniform(0.0, 12.0);
    for p in img.pixels_mut() {
        p.0[0] = (p.0[0] as f32 + noise * rng.normal()).clamp(0.0, 255.0) as u8;
    }
    let mut out = Vec::new();
    match rng.below(10) {
        0 => {
            // Transparent PNG: ink in the alpha channel over nothing.
            let rgba: ImageBuffer<LumaA<u8>, Vec<u8>> = ImageBuffer::from_fn(w, h, |x, y| LumaA([0, 255 - img.get_pixel(x, y).0[0]]));
            rgba.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        }
        1 => {
            let g16: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(w, h, |x, y| Luma([img.get_pixel(x, y).0[0] as u16 * 257]));
            g16.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        }
        2 => img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Bmp).unwrap(),
        _ => {
            let q = 40 + rng.below(56) as u8;
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q).encode_image(&img).unwrap();
        }
    }
    out
}
