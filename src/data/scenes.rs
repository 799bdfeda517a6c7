//! Realistic photos of handwriting for validation (issue 16): what real phone photos do to a
//! digit that [`super::render`]'s photo-like renderings do not — a sideways photo stored with
//! an EXIF orientation tag, a strong shadow across the sheet, the sheet's edge and the table
//! at the border, squared and ruled paper, fine pens and thick markers, and the shapes MNIST
//! under-represents (closed 4, flagged 1, crossed 7). Also what is *not* one digit: a number
//! of several digits, and a cartoon animal. Deterministic for a given [`Rng`].
//!
//! A digit is drawn as a pen draws it: the 28×28 MNIST digit is enlarged to the scene's
//! scale, binarised at half strength and thinned to its centre line (Zhang–Suen), and a round
//! pen of the chosen width is stamped along that line, anti-aliased (coverage
//! `clamp(r + ½ − d, 0, 1)` at distance `d` from the line). So the stroke width is the pen's,
//! whatever the digit's own width in MNIST was.
//!
//! `tools/photo_validation.rs` writes a folder of these with `labels.json`;
//! `tests/photos.rs` reads small ones through the `predict` command.

use crate::data::augment::{Augment, Scratch};
use crate::data::split::split_indices;
use crate::data::Dataset;
use crate::init::Rng;
use crate::vision::resample::resample;
use image::{imageops, GrayImage, Luma};
use std::io::Cursor;

/// What a validation photo does to the digit in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// Plain paper, a normal pen, uneven light.
    Plain,
    /// Stored sideways or upside down, with the EXIF orientation tag that says so (JPEG).
    Exif,
    /// A strong soft-edged shadow across part of the sheet, often over the digit.
    Shadow,
    /// The sheet's edge: a band of dark table along one or two borders of the photo.
    Band,
    /// Squared (graph) paper.
    Graph,
    /// Ruled paper (horizontal lines).
    Ruled,
    /// A fine pen: strokes 1–4 % of the digit's height (MNIST's are about 15 %).
    Thin,
    /// A thick marker: strokes 22–32 % of the digit's height.
    Thick,
}

/// Every kind, in a fixed order.
pub const TROUBLES: [Trouble; 8] =
    [Trouble::Plain, Trouble::Exif, Trouble::Shadow, Trouble::Band, Trouble::Graph, Trouble::Ruled, Trouble::Thin, Trouble::Thick];

impl Trouble {
    /// A short name for file names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Trouble::Plain => "plain",
            Trouble::Exif => "exif",
            Trouble::Shadow => "shadow",
            Trouble::Band => "band",
            Trouble::Graph => "graph",
            Trouble::Ruled => "ruled",
            Trouble::Thin => "thin",
            Trouble::Thick => "thick",
        }
    }
}

/// Ink coverage (0 … 1) over a scene, drawn with a round pen.
struct Ink {
    w: usize,
    h: usize,
    cov: Vec<f32>,
}

impl Ink {
    fn new(w: usize, h: usize) -> Ink {
        Ink { w, h, cov: vec![0.0; w * h] }
    }

    /// A round pen of radius `r` at (x, y): coverage `clamp(r + ½ − d, 0, 1)`, by maximum.
    fn stamp(&mut self, x: f32, y: f32, r: f32) {
        let reach = r + 1.0;
        let (x0, x1) = ((x - reach).floor().max(0.0) as usize, ((x + reach).ceil().max(0.0) as usize).min(self.w.saturating_sub(1)));
        let (y0, y1) = ((y - reach).floor().max(0.0) as usize, ((y + reach).ceil().max(0.0) as usize).min(self.h.saturating_sub(1)));
        for py in y0..=y1 {
            for px in x0..=x1 {
                let d = ((px as f32 - x).powi(2) + (py as f32 - y).powi(2)).sqrt();
                let c = (r + 0.5 - d).clamp(0.0, 1.0);
                let p = &mut self.cov[py * self.w + px];
                *p = p.max(c);
            }
        }
    }

    /// A straight stroke from `a` to `b`, stamped every half pixel.
    fn segment(&mut self, a: (f32, f32), b: (f32, f32), r: f32) {
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let n = (2.0 * len).ceil().max(1.0) as usize;
        for k in 0..=n {
            let t = k as f32 / n as f32;
            self.stamp(a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1), r);
        }
    }

    /// An elliptic arc around `c` with radii `(rx, ry)`, from angle `t0` to `t1` (radians).
    fn arc(&mut self, c: (f32, f32), rx: f32, ry: f32, t0: f32, t1: f32, r: f32) {
        let n = ((t1 - t0).abs() * rx.max(ry) * 2.0).ceil().max(2.0) as usize;
        for k in 0..=n {
            let t = t0 + (t1 - t0) * k as f32 / n as f32;
            self.stamp(c.0 + rx * t.cos(), c.1 + ry * t.sin(), r);
        }
    }

    /// A 28×28 MNIST digit written with a pen of radius `r`, its 28×28 field `side` pixels
    /// wide with its top-left corner at (x, y) (see the module doc).
    fn digit(&mut self, digit: &[u8], side: usize, x: usize, y: usize, r: f32) {
        let src: Vec<f32> = digit.iter().map(|&v| v as f32).collect();
        let big = resample(&src, 28, 28, side, side);
        let mut on: Vec<bool> = big.iter().map(|&v| v >= 128.0).collect();
        thin(&mut on, side, side);
        for (i, _) in on.iter().enumerate().filter(|(_, &o)| o) {
            self.stamp((x + i % side) as f32, (y + i / side) as f32, r);
        }
    }
}

/// Zhang–Suen thinning of a binary image (`true` = ink) to 8-connected lines one pixel wide.
fn thin(on: &mut [bool], w: usize, h: usize) {
    let at = |on: &[bool], x: isize, y: isize| x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h && on[y as usize * w + x as usize];
    loop {
        let mut changed = false;
        for pass in 0..2 {
            let mut clear = Vec::new();
            for y in 0..h as isize {
                for x in 0..w as isize {
                    if !at(on, x, y) {
                        continue;
                    }
                    // Neighbours p2 … p9, clockwise from north.
                    let p = [
                        at(on, x, y - 1),
                        at(on, x + 1, y - 1),
                        at(on, x + 1, y),
                        at(on, x + 1, y + 1),
                        at(on, x, y + 1),
                        at(on, x - 1, y + 1),
                        at(on, x - 1, y),
                        at(on, x - 1, y - 1),
                    ];
                    let b = p.iter().filter(|&&v| v).count();
                    let a = (0..8).filter(|&k| !p[k] && p[(k + 1) % 8]).count();
                    let (n, e, s, wst) = (p[0], p[2], p[4], p[6]);
                    // Pass 1: not (N·E·S) and not (E·S·W); pass 2: not (N·E·W) and not (N·S·W).
                    let ok = if pass == 0 { !(e && s && (n || wst)) } else { !(n && wst && (e || s)) };
                    if (2..=6).contains(&b) && a == 1 && ok {
                        clear.push(y as usize * w + x as usize);
                    }
                }
            }
            changed |= !clear.is_empty();
            for i in clear {
                on[i] = false;
            }
        }
        if !changed {
            return;
        }
    }
}

/// The scene: paper with light falling across it, in luminance (0 = black, 255 = white).
struct Scene {
    w: usize,
    h: usize,
    l: Vec<f32>,
}

impl Scene {
    fn paper(w: usize, h: usize, rng: &mut Rng) -> Scene {
        let paper = rng.uniform(175.0, 240.0);
        let (gx, gy) = (rng.uniform(-35.0, 35.0), rng.uniform(-35.0, 35.0));
        let l = (0..w * h).map(|i| paper + gx * ((i % w) as f32 / w as f32 - 0.5) + gy * ((i / w) as f32 / h as f32 - 0.5)).collect();
        Scene { w, h, l }
    }

    /// Darkens towards `ink` by the coverage: `L ← (1 − a)·L + a·ink`.
    fn ink(&mut self, ink: &Ink, level: f32) {
        for (p, &a) in self.l.iter_mut().zip(&ink.cov) {
            *p = (1.0 - a) * *p + a * level;
        }
    }

    /// Lines `darker` grey levels below the paper every `step` pixels (horizontal, and
    /// vertical when `squared`), `width` pixels wide, with a random phase.
    fn lines(&mut self, step: f32, width: usize, darker: f32, squared: bool, rng: &mut Rng) {
        let (px, py) = (rng.uniform(0.0, step), rng.uniform(0.0, step));
        let on = |v: usize, phase: f32| ((v as f32 - phase).rem_euclid(step)) < width as f32;
        for y in 0..self.h {
            for x in 0..self.w {
                if on(y, py) || (squared && on(x, px)) {
                    self.l[y * self.w + x] -= darker;
                }
            }
        }
    }

    /// A shadow: the light multiplied by `1 − depth·s`, `s` rising from 0 to 1 across a
    /// soft edge (`soft` pixels) along a line through (cx, cy) at angle `theta`.
    fn shadow(&mut self, cx: f32, cy: f32, theta: f32, depth: f32, soft: f32) {
        let (s, c) = theta.sin_cos();
        for y in 0..self.h {
            for x in 0..self.w {
                let d = (x as f32 - cx) * c + (y as f32 - cy) * s;
                let t = (d / soft + 0.5).clamp(0.0, 1.0);
                let t = t * t * (3.0 - 2.0 * t);
                self.l[y * self.w + x] *= 1.0 - depth * t;
            }
        }
    }

    /// The table beyond the sheet's edge: pixels within `depth` (at one end) to `depth + tilt`
    /// (at the other) of the given side become `level` with some texture.
    fn band(&mut self, side: usize, depth: f32, tilt: f32, level: f32, rng: &mut Rng) {
        let (w, h) = (self.w, self.h);
        for y in 0..h {
            for x in 0..w {
                let (d, along, len) = match side {
                    0 => (y as f32, x as f32, w as f32),
                    1 => ((h - 1 - y) as f32, x as f32, w as f32),
                    2 => (x as f32, y as f32, h as f32),
                    _ => ((w - 1 - x) as f32, y as f32, h as f32),
                };
                let edge = depth + tilt * along / len;
                let a = (edge + 0.5 - d).clamp(0.0, 1.0);
                if a > 0.0 {
                    let v = level + 8.0 * rng.normal();
                    let p = &mut self.l[y * w + x];
                    *p = (1.0 - a) * *p + a * v;
                }
            }
        }
    }

    /// Blur, sensor noise, and 8-bit grey.
    fn finish(self, blur: f32, noise: f32, rng: &mut Rng) -> GrayImage {
        let img = GrayImage::from_fn(self.w as u32, self.h as u32, |x, y| Luma([self.l[y as usize * self.w + x as usize].round().clamp(0.0, 255.0) as u8]));
        let mut img = if blur > 0.3 { imageops::blur(&img, blur) } else { img };
        for p in img.pixels_mut() {
            p.0[0] = (p.0[0] as f32 + noise * rng.normal()).round().clamp(0.0, 255.0) as u8;
        }
        img
    }
}

/// A grey JPEG of the given quality.
fn jpeg(img: &GrayImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(img).expect("JPEG encoding into memory");
    out
}

/// A PNG.
fn png(img: &GrayImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).expect("PNG encoding into memory");
    out
}

/// A JPEG with an EXIF segment (APP1) holding only the orientation tag (0x0112) set to
/// `orientation` (1–8), inserted after the JFIF segment: big-endian TIFF header, one IFD of
/// one SHORT entry, no next IFD.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut app1 = vec![0xFF, 0xE1, 0, 34];
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&[b'M', b'M', 0, 42, 0, 0, 0, 8]); // TIFF header, IFD at offset 8
    app1.extend_from_slice(&[0, 1]); // one entry
    app1.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]); // orientation, SHORT, count 1
    app1.extend_from_slice(&[(orientation >> 8) as u8, orientation as u8, 0, 0]);
    app1.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
                                           // After SOI, and after the JFIF APP0 segment when there is one.
    let mut at = 2;
    if jpeg.len() > 6 && jpeg[2] == 0xFF && jpeg[3] == 0xE0 {
        at = 4 + u16::from_be_bytes([jpeg[4], jpeg[5]]) as usize;
    }
    let at = at.min(jpeg.len());
    let mut out = jpeg[..at].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[at..]);
    out
}

/// The stored image and EXIF orientation for an upright photo: 6 (stored turned 90° counter-
/// clockwise; shown turned clockwise), 8 (the other way) or 3 (upside down).
fn stored_sideways(img: &GrayImage, rng: &mut Rng) -> (GrayImage, u16) {
    match rng.below(3) {
        0 => (imageops::rotate270(img), 6),
        1 => (imageops::rotate90(img), 8),
        _ => (imageops::rotate180(img), 3),
    }
}

/// How a scene is laid out: its size, the digit field's side and corner, and the pen.
struct Layout {
    w: usize,
    h: usize,
    side: usize,
    x: usize,
    y: usize,
    radius: f32,
}

/// A photo `long` pixels on its longer side (4:3, either way up) with a digit field of
/// `fraction` of the shorter side placed away from the borders, and a pen whose width is
/// `pen` of the digit's height (the digit is about 20/28 of its field).
fn layout(long: usize, fraction: (f32, f32), pen: (f32, f32), rng: &mut Rng) -> Layout {
    let short = long * 3 / 4;
    let (w, h) = if rng.below(2) == 0 { (long, short) } else { (short, long) };
    let side = ((short as f32 * rng.uniform(fraction.0, fraction.1)) as usize).max(28);
    let (mx, my) = (w.saturating_sub(side), h.saturating_sub(side));
    let x = mx / 6 + rng.below(mx * 2 / 3 + 1);
    let y = my / 6 + rng.below(my * 2 / 3 + 1);
    let height = side as f32 * 20.0 / 28.0;
    let radius = (height * rng.uniform(pen.0, pen.1) / 2.0).max(0.5);
    Layout { w, h, side, x, y, radius }
}

/// A realistic photo of one 28×28 MNIST digit of class `label`, `long` pixels on its longer
/// side, with `trouble`; encoded (JPEG, or PNG one time in five unless EXIF is the point).
/// One time in three, a 1, 4 or 7 gets the writer's style MNIST lacks (a flag, a closed top,
/// a cross bar; [`Augment::styles`]).
pub fn digit_photo(digit: &[u8], label: u8, trouble: Trouble, long: usize, rng: &mut Rng) -> Vec<u8> {
    let mut styled = digit.to_vec();
    if [1, 4, 7].contains(&label) && rng.below(3) == 0 {
        let spec = Augment { styles: 1.0, ..Default::default() };
        spec.apply_labelled(digit, Some(label), &mut styled, 28, 28, rng, &mut Scratch::default());
    }
    let (fraction, pen) = match trouble {
        Trouble::Thin => ((0.10, 0.35), (0.01, 0.04)),
        Trouble::Thick => ((0.25, 0.6), (0.22, 0.32)),
        Trouble::Shadow => ((0.12, 0.5), (0.03, 0.16)),
        _ => ((0.2, 0.6), (0.08, 0.17)),
    };
    let lay = layout(long, fraction, pen, rng);
    let mut scene = Scene::paper(lay.w, lay.h, rng);
    match trouble {
        Trouble::Graph => {
            let step = (lay.w.min(lay.h) as f32 * rng.uniform(0.035, 0.07)).max(8.0);
            scene.lines(step, 1 + rng.below(2), rng.uniform(35.0, 80.0), true, rng);
        }
        Trouble::Ruled => {
            let step = (lay.w.min(lay.h) as f32 * rng.uniform(0.05, 0.1)).max(10.0);
            scene.lines(step, 1 + rng.below(2), rng.uniform(35.0, 80.0), false, rng);
        }
        _ => {}
    }
    let mut ink = Ink::new(lay.w, lay.h);
    ink.digit(&styled, lay.side, lay.x, lay.y, lay.radius);
    scene.ink(&ink, rng.uniform(15.0, 70.0));
    match trouble {
        Trouble::Shadow => {
            // Through the digit's field, so part of the digit lies in the shadow.
            let (cx, cy) = ((lay.x + lay.side / 2) as f32 + rng.uniform(-0.3, 0.3) * lay.side as f32, (lay.y + lay.side / 2) as f32);
            let soft = rng.uniform(0.02, 0.2) * lay.w.min(lay.h) as f32;
            scene.shadow(cx, cy, rng.uniform(0.0, std::f32::consts::TAU), rng.uniform(0.4, 0.7), soft);
        }
        Trouble::Band => {
            let first = rng.below(4);
            // Sometimes a corner: a second band along an adjacent side.
            let adjacent = if first < 2 { 2 + rng.below(2) } else { rng.below(2) };
            let sides = if rng.below(3) == 0 { vec![first, adjacent] } else { vec![first] };
            for side in sides {
                let across = if side < 2 { lay.h } else { lay.w };
                let depth = across as f32 * rng.uniform(0.03, 0.12);
                let tilt = across as f32 * rng.uniform(-0.03, 0.03);
                scene.band(side, depth.max(4.0), tilt, rng.uniform(25.0, 120.0), rng);
            }
        }
        _ => {}
    }
    let blur = rng.uniform(0.0, 1.2);
    let img = scene.finish(blur, rng.uniform(1.0, 6.0), rng);
    let quality = 60 + rng.below(33) as u8;
    match trouble {
        Trouble::Exif => {
            let (stored, tag) = stored_sideways(&img, rng);
            with_exif_orientation(&jpeg(&stored, quality), tag)
        }
        _ if rng.below(5) == 0 => png(&img),
        _ => jpeg(&img, quality),
    }
}

/// The MNIST training digits the built-in classifier held out for validation (the 5,000 of
/// `split_indices(60000, 5000, 1)`, as `train` drew them): what the validation photos show.
pub fn held_out(train: &Dataset) -> Vec<usize> {
    split_indices(train.len(), 5000, 1).1
}

/// The `k`-th validation photo with `trouble`, `long` pixels on its longer side, and its label:
/// a held-out digit ([`held_out`]) through [`digit_photo`] with a generator of its own
/// (seed 16, one stream per kind and `k`), so any one photo can be made without the others —
/// the tests' fixtures are the first photos of the `photo_validation` tool's set at their size.
pub fn validation_photo(train: &Dataset, held_out: &[usize], trouble: Trouble, k: usize, long: usize) -> (Vec<u8>, u8) {
    let kind = TROUBLES.iter().position(|&t| t == trouble).unwrap_or(0);
    let i = held_out[(kind * 997 + k) % held_out.len()];
    let mut rng = Rng::derived(16, (kind * 100_000 + k) as u64);
    (digit_photo(train.image(i), train.labels[i], trouble, long, &mut rng), train.labels[i])
}

/// The `k`-th validation photo of what is not one digit (`what`), `long` pixels: a number of
/// 2–5 held-out digits, or a cartoon animal; its own generator as in [`validation_photo`].
pub fn validation_non_digit(train: &Dataset, held_out: &[usize], what: NotADigit, k: usize, long: usize) -> Vec<u8> {
    let mut rng = Rng::derived(17, (what as usize * 100_000 + k) as u64);
    let len = 2 + rng.below(4);
    let digits: Vec<&[u8]> = (0..len).map(|_| train.image(held_out[rng.below(held_out.len())])).collect();
    not_a_digit_photo(what, &digits, long, &mut rng)
}

/// What is not one digit, for the "not one digit" answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotADigit {
    /// A number: 2 to 5 digits written side by side.
    Number,
    /// A cartoon animal drawn with a pen (a cat's face or a fish).
    Animal,
}

/// A photo of a number (`digits`, 28×28 each, side by side with small gaps) or of a cartoon
/// animal, `long` pixels on its longer side, on plain paper with a normal pen.
pub fn not_a_digit_photo(what: NotADigit, digits: &[&[u8]], long: usize, rng: &mut Rng) -> Vec<u8> {
    let (w, h) = (long, long * 3 / 4);
    let mut scene = Scene::paper(w, h, rng);
    let mut ink = Ink::new(w, h);
    match what {
        NotADigit::Number => {
            let n = digits.len().max(1);
            let side = ((w as f32 * 0.8 / n as f32) as usize).min(h * 3 / 4).max(28);
            let step = (side as f32 * rng.uniform(0.55, 0.8)) as usize;
            let total = step * (n - 1) + side;
            let x0 = w.saturating_sub(total) / 2;
            let y0 = h.saturating_sub(side) / 2;
            let radius = (side as f32 * 20.0 / 28.0 * rng.uniform(0.08, 0.15) / 2.0).max(0.5);
            for (k, d) in digits.iter().enumerate() {
                let dy = (rng.uniform(-0.05, 0.05) * side as f32) as isize;
                ink.digit(d, side, x0 + k * step, (y0 as isize + dy).max(0) as usize, radius);
            }
        }
        NotADigit::Animal => {
            let s = h as f32 * rng.uniform(0.25, 0.4); // the head's radius
            let (cx, cy) = (w as f32 * rng.uniform(0.4, 0.6), h as f32 * rng.uniform(0.5, 0.6));
            let r = (s * rng.uniform(0.025, 0.05)).max(1.0);
            if rng.below(2) == 0 {
                // A cat's face: head, ears, eyes, nose, mouth, whiskers.
                let (rx, ry) = (s * rng.uniform(1.0, 1.2), s);
                ink.arc((cx, cy), rx, ry, 0.0, std::f32::consts::TAU, r);
                for side in [-1.0f32, 1.0] {
                    let base0 = (cx + side * rx * 0.25, cy - ry * 0.97);
                    let base1 = (cx + side * rx * 0.8, cy - ry * 0.6);
                    let tip = (cx + side * rx * 0.75, cy - ry * 1.5);
                    ink.segment(base0, tip, r);
                    ink.segment(tip, base1, r);
                    let eye = (cx + side * rx * 0.38, cy - ry * 0.2);
                    ink.arc(eye, s * 0.12, s * 0.16, 0.0, std::f32::consts::TAU, r);
                    ink.stamp(eye.0, eye.1 + s * 0.04, s * 0.07);
                    for k in -1..=1 {
                        let y = cy + ry * 0.25 + k as f32 * s * 0.1;
                        ink.segment((cx + side * rx * 0.25, y), (cx + side * rx * 1.25, y + k as f32 * s * 0.12), r * 0.7);
                    }
                    ink.arc((cx + side * s * 0.12, cy + ry * 0.3), s * 0.12, s * 0.1, 0.0, std::f32::consts::PI, r);
                }
                ink.stamp(cx, cy + ry * 0.15, s * 0.06);
            } else {
                // A fish: body, tail, eye, fins, bubbles.
                let (rx, ry) = (s * 1.4, s * rng.uniform(0.6, 0.8));
                let cx = cx - s * 0.3;
                ink.arc((cx, cy), rx, ry, 0.0, std::f32::consts::TAU, r);
                let tail = (cx + rx, cy);
                ink.segment(tail, (tail.0 + s * 0.8, cy - ry * 0.9), r);
                ink.segment(tail, (tail.0 + s * 0.8, cy + ry * 0.9), r);
                ink.segment((tail.0 + s * 0.8, cy - ry * 0.9), (tail.0 + s * 0.8, cy + ry * 0.9), r);
                ink.stamp(cx - rx * 0.6, cy - ry * 0.2, s * 0.08);
                ink.arc((cx - rx * 0.3, cy), s * 0.4, ry * 0.8, -1.2, 1.2, r);
                ink.arc((cx, cy - ry), s * 0.5, s * 0.3, std::f32::consts::PI, std::f32::consts::TAU, r);
                for k in 0..3 {
                    let b = (cx - rx * (1.2 + 0.15 * k as f32), cy - ry * (0.8 + 0.5 * k as f32));
                    ink.arc(b, s * 0.08, s * 0.08, 0.0, std::f32::consts::TAU, r * 0.8);
                }
            }
        }
    }
    scene.ink(&ink, rng.uniform(15.0, 70.0));
    let img = scene.finish(rng.uniform(0.0, 1.0), rng.uniform(1.0, 5.0), rng);
    jpeg(&img, 60 + rng.below(33) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::decode_luma;

    /// A bar 3 pixels wide and 8 tall thins to its centre line: one pixel wide, still connected.
    #[test]
    fn thinning_keeps_a_bar_s_centre_line() {
        let (w, h) = (9, 12);
        let mut on = vec![false; w * h];
        for y in 2..10 {
            for x in 3..6 {
                on[y * w + x] = true;
            }
        }
        thin(&mut on, w, h);
        // Thinning shortens the ends by a pixel or two; the middle rows keep column 4.
        for y in 4..8 {
            let row: Vec<usize> = (0..w).filter(|&x| on[y * w + x]).collect();
            assert_eq!(row, vec![4], "row {y}");
        }
    }

    /// The EXIF tag written is the one the decoder reads: an upright scene stored turned with
    /// its tag decodes upright again, pixel for pixel up to JPEG's error.
    #[test]
    fn exif_orientation_round_trips() {
        let img = GrayImage::from_fn(40, 30, |x, y| Luma([if x < 10 && y < 8 { 0 } else { 230 }]));
        for (stored, tag) in [(imageops::rotate270(&img), 6), (imageops::rotate90(&img), 8), (imageops::rotate180(&img), 3)] {
            let bytes = with_exif_orientation(&jpeg(&stored, 95), tag);
            let g = decode_luma(&bytes, "exif.jpg").unwrap();
            assert_eq!((g.width, g.height), (40, 30), "tag {tag}");
            assert!(g.pixels[2 * 40 + 2] < 60 && g.pixels[20 * 40 + 30] > 200, "tag {tag}: not upright");
        }
    }

    /// The generator is deterministic: the same seed, the same bytes.
    #[test]
    fn photos_are_deterministic() {
        let d = crate::data::render::mnist_test();
        for t in TROUBLES {
            let a = digit_photo(d.image(0), d.labels[0], t, 200, &mut Rng::new(3));
            let b = digit_photo(d.image(0), d.labels[0], t, 200, &mut Rng::new(3));
            assert_eq!(a, b, "{}", t.name());
        }
    }
}
