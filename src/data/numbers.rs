//! Realistic images of handwritten numbers, as scanned amounts on cheques look: MNIST digits
//! written as one number, slanted, of uneven widths and stroke weights, some touching, with
//! separators between the groups (`24.551`, `3.975,00`), a final mark (`.`, `,`, `-`, a long
//! stroke), underlines, printed wavy background patterns, scanned paper (uneven light, noise,
//! blur, JPEG). What `digitnet data numbers` writes and the number reader is measured on.
//!
//! Deterministic: the image is a function of the digits data set and the random generator's
//! state. Draw digits from MNIST's *training* split for anything that chooses (thresholds,
//! training); keep the test split for measuring.

use crate::data::Dataset;
use crate::init::Rng;
use crate::vision::gray::to_byte;
use crate::vision::Gray;

/// One generated number: its image (luminance), the digits it shows (`text`), what is
/// written, separators and marks included (`raw`), and each digit's ink box `[x, y, w, h]`.
#[derive(Clone, Debug)]
pub struct NumberImage {
    pub image: Gray,
    pub text: String,
    pub raw: String,
    pub boxes: Vec<[usize; 4]>,
}

/// Which of the difficulties an image has; [`Style::random`] draws them as they come in
/// scanned cheque amounts, and tests switch single ones on.
#[derive(Clone, Debug, PartialEq)]
pub struct Style {
    /// Digit height in pixels (MNIST's 20-pixel box scaled to it).
    pub height: f32,
    /// Gap between digits in digit heights (negative: they overlap and touch).
    pub gap: (f32, f32),
    /// Share of digit pairs drawn touching.
    pub touching: f32,
    /// Thousands separators between groups of three.
    pub separators: bool,
    /// Decimal cents (`,00`) after the amount.
    pub cents: bool,
    /// A final mark: one of `.`, `,`, `-`, `.-`, or a long stroke `_`.
    pub end_mark: Option<&'static str>,
    /// An underline under the digits, touching them or not.
    pub underline: bool,
    /// A printed line across the whole image, above or below (a form's box).
    pub form_line: bool,
    /// Printed wavy background lines.
    pub pattern: bool,
    /// Faint ink broken into pieces.
    pub broken: bool,
    /// Stroke weight: below 1 thinner than MNIST's, above 1 thicker.
    pub weight: f32,
    /// Slant: horizontal shift of the top per unit height.
    pub slant: f32,
    /// Share of the zeros after another digit written quickly with a pen:
    /// flat or small ovals, some left open, joined to the digit before by a connecting stroke
    /// (`5000` as one chain of loops), as the cents and thousands of cheque amounts often are.
    pub cursive_zeros: f32,
    /// Share of those zeros written looser still: flatter, uneven (one end pointed, the oval
    /// tilted), a third left open, started at the bottom and entered by a stroke along the
    /// baseline from the digit before (`2800` as `8o‿o`). Not drawn by [`Style::random`]
    /// (0): the number reader's training turns it on.
    pub loose_zeros: f32,
}

impl Style {
    /// A clean style: MNIST digits side by side on plain paper, apart from each other.
    pub fn plain(height: f32) -> Style {
        Style {
            height,
            gap: (0.15, 0.3),
            touching: 0.0,
            separators: false,
            cents: false,
            end_mark: None,
            underline: false,
            form_line: false,
            pattern: false,
            broken: false,
            weight: 1.0,
            slant: 0.0,
            cursive_zeros: 0.0,
            loose_zeros: 0.0,
        }
    }

    /// A style drawn at random, each difficulty about as often as in scanned cheque amounts.
    pub fn random(rng: &mut Rng) -> Style {
        let marks = [".", ",", "-", ".-", "_"];
        Style {
            height: rng.uniform(20.0, 36.0),
            gap: (rng.uniform(-0.12, 0.05), rng.uniform(0.1, 0.35)),
            touching: if rng.next_f32() < 0.5 { rng.uniform(0.1, 0.6) } else { 0.0 },
            separators: rng.next_f32() < 0.45,
            cents: rng.next_f32() < 0.12,
            end_mark: (rng.next_f32() < 0.35).then(|| marks[rng.below(marks.len())]),
            underline: rng.next_f32() < 0.2,
            form_line: rng.next_f32() < 0.1,
            pattern: rng.next_f32() < 0.7,
            broken: rng.next_f32() < 0.15,
            weight: if rng.next_f32() < 0.6 { rng.uniform(0.6, 1.0) } else { rng.uniform(1.0, 1.3) },
            slant: rng.uniform(-0.1, 0.35),
            cursive_zeros: if rng.next_f32() < 0.35 { rng.uniform(0.5, 1.0) } else { 0.0 },
            loose_zeros: 0.0,
        }
    }
}

/// The digits of a random amount: 1–7 digits, half of them round (a few digits then zeros).
pub fn random_amount(rng: &mut Rng) -> String {
    let len = [1usize, 2, 3, 3, 4, 4, 4, 5, 5, 6, 7][rng.below(11)];
    let mut s = String::new();
    let round = rng.next_f32() < 0.5 && len >= 3;
    let lead = if round { 1 + rng.below(len.min(3)) } else { len };
    for k in 0..len {
        let d = if k >= lead {
            0
        } else if k == 0 {
            1 + rng.below(9)
        } else {
            rng.below(10)
        };
        s.push(char::from(b'0' + d as u8));
    }
    s
}

/// The written form of an amount: digits with separators every three from the right (`.` or
/// `,`), cents, a final mark.
fn written(text: &str, style: &Style, sep: char) -> String {
    let mut out = String::new();
    let n = text.len();
    for (k, ch) in text.chars().enumerate() {
        if style.separators && k > 0 && (n - k).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(ch);
    }
    out
}

/// Ink coverage (0–1) of a canvas being written on.
struct Sheet {
    w: usize,
    h: usize,
    a: Vec<f32>,
}

impl Sheet {
    fn put(&mut self, x: isize, y: isize, v: f32) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let p = &mut self.a[y as usize * self.w + x as usize];
            *p = p.max(v);
        }
    }

    /// A pen stroke from (x0, y0) to (x1, y1) of width `width`, anti-aliased.
    fn line(&mut self, (x0, y0): (f32, f32), (x1, y1): (f32, f32), width: f32) {
        let r = width / 2.0;
        let (lo_x, hi_x) = ((x0.min(x1) - r - 1.0).floor() as isize, (x0.max(x1) + r + 1.0).ceil() as isize);
        let (lo_y, hi_y) = ((y0.min(y1) - r - 1.0).floor() as isize, (y0.max(y1) + r + 1.0).ceil() as isize);
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        for y in lo_y..=hi_y {
            for x in lo_x..=hi_x {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let t = (((px - x0) * dx + (py - y0) * dy) / len2).clamp(0.0, 1.0);
                let (ex, ey) = (px - (x0 + t * dx), py - (y0 + t * dy));
                let d = (ex * ex + ey * ey).sqrt();
                self.put(x, y, (r + 0.5 - d).clamp(0.0, 1.0));
            }
        }
    }
}

/// A digit's coverage, transformed: scaled to `height` pixels of ink, `stretch` wider, slanted
/// by `slant`, stroke weight changed by `weight`. Returns (coverage, width, height).
fn transform_digit(src: &[u8], height: f32, stretch: f32, slant: f32, weight: f32) -> (Vec<f32>, usize, usize) {
    let (mut bx0, mut by0, mut bx1, mut by1) = (28usize, 28usize, 0usize, 0usize);
    for (i, &v) in src.iter().enumerate() {
        if v > 0 {
            let (x, y) = (i % 28, i / 28);
            (bx0, by0, bx1, by1) = (bx0.min(x), by0.min(y), bx1.max(x), by1.max(y));
        }
    }
    if bx0 > bx1 {
        return (vec![0.0], 1, 1);
    }
    let s = height / (by1 - by0 + 1) as f32;
    let sx = s * stretch;
    let hd = height.round().max(1.0) as usize;
    let ink_w = (bx1 - bx0 + 1) as f32 * sx;
    let offset = (-slant * height).max(0.0);
    let wd = (ink_w + slant.abs() * height).ceil().max(1.0) as usize + 1;
    let sample = |x: f32, y: f32| -> f32 {
        // Bilinear at source coordinates (pixel centres at integer + ½).
        let (x, y) = (x - 0.5, y - 0.5);
        let (xi, yi) = (x.floor(), y.floor());
        let (tx, ty) = (x - xi, y - yi);
        let get = |c: isize, r: isize| if (0..28).contains(&c) && (0..28).contains(&r) { src[r as usize * 28 + c as usize] as f32 / 255.0 } else { 0.0 };
        let (c, r) = (xi as isize, yi as isize);
        (1.0 - ty) * ((1.0 - tx) * get(c, r) + tx * get(c + 1, r)) + ty * ((1.0 - tx) * get(c, r + 1) + tx * get(c + 1, r + 1))
    };
    let mut out = vec![0f32; wd * hd];
    for oy in 0..hd {
        let shift = slant * (hd as f32 - oy as f32 - 0.5);
        let sy = by0 as f32 + (oy as f32 + 0.5) / s;
        for ox in 0..wd {
            let sxp = bx0 as f32 + (ox as f32 + 0.5 - offset - shift) / sx;
            let a = sample(sxp, sy);
            // Stroke weight: a threshold moved down (thicker) or up (thinner), re-stretched.
            let a = if weight >= 1.0 { (a * weight).min(1.0) } else { ((a - (1.0 - weight)) / weight).clamp(0.0, 1.0) };
            out[oy * wd + ox] = a;
        }
    }
    (out, wd, hd)
}

/// Share of 1s and 7s written in the continental style MNIST has few of ([`pen_digit`]).
const PEN_SHARE: f32 = 0.3;

/// A 1 with a long flag (and sometimes a foot), or a 7 with a bar through its stem, drawn
/// with a pen of width `pen`, `height` tall, slanted by `slant`: shapes of European
/// handwriting that MNIST has few of. `None` for other digits. Returns (coverage, width,
/// height) as [`transform_digit`] does.
fn pen_digit(d: u32, height: f32, slant: f32, pen: f32, rng: &mut Rng) -> Option<(Vec<f32>, usize, usize)> {
    let (h, r) = (height, pen / 2.0 + 0.5);
    let mut strokes: Vec<((f32, f32), (f32, f32))> = Vec::new();
    match d {
        1 => {
            let bottom = (0.0, h - r);
            let top = (slant * h, r);
            strokes.push((bottom, top));
            strokes.push((top, (top.0 - rng.uniform(0.2, 0.45) * h, top.1 + rng.uniform(0.15, 0.4) * h)));
            if rng.next_f32() < 0.15 {
                strokes.push(((bottom.0 - 0.2 * h, bottom.1), (bottom.0 + 0.2 * h, bottom.1)));
            }
        }
        7 => {
            let bar = rng.uniform(0.45, 0.75) * h;
            let left = (slant * h, r + rng.uniform(0.0, 0.1) * h);
            let right = (left.0 + bar, r);
            let foot = (rng.uniform(0.1, 0.35) * h, h - r);
            strokes.push((left, right));
            strokes.push((right, foot));
            let mid = ((right.0 + foot.0) / 2.0, (right.1 + foot.1) / 2.0 + rng.uniform(-0.05, 0.1) * h);
            let half = rng.uniform(0.12, 0.22) * h;
            strokes.push(((mid.0 - half, mid.1), (mid.0 + half, mid.1 + rng.uniform(-0.05, 0.03) * h)));
        }
        _ => return None,
    }
    let min_x = strokes.iter().flat_map(|s| [s.0 .0, s.1 .0]).fold(f32::MAX, f32::min) - r;
    let max_x = strokes.iter().flat_map(|s| [s.0 .0, s.1 .0]).fold(f32::MIN, f32::max) + r;
    let (w, hd) = ((max_x - min_x).ceil() as usize + 1, h.round().max(1.0) as usize);
    let mut sheet = Sheet { w, h: hd, a: vec![0.0; w * hd] };
    for (a, b) in strokes {
        sheet.line((a.0 - min_x, a.1), (b.0 - min_x, b.1), pen);
    }
    Some((sheet.a, w, hd))
}

/// A zero written quickly with a pen of width `pen`: an oval `width` wide and `height` tall
/// (often flatter and smaller than the other digits), slanted by `slant`, a sixth of them left
/// open at the top right as a `c`, started and ended with a small overlap as pens do. Returns
/// (coverage, width, height) as [`transform_digit`] does.
fn pen_zero(width: f32, height: f32, slant: f32, pen: f32, rng: &mut Rng) -> (Vec<f32>, usize, usize) {
    let r = pen / 2.0 + 0.5;
    let (a, b) = ((width / 2.0 - r).max(1.0), (height / 2.0 - r).max(1.0));
    // Start at the top right, go anticlockwise (as a zero is written), end past or short of it.
    let start = rng.uniform(-0.3, 0.3) + std::f32::consts::FRAC_PI_4;
    let sweep = if rng.next_f32() < 1.0 / 6.0 { rng.uniform(4.6, 5.4) } else { rng.uniform(6.3, 6.9) };
    let steps = 28;
    let wobble = rng.uniform(-0.08, 0.08);
    let points: Vec<(f32, f32)> = (0..=steps)
        .map(|k| {
            let t = start + sweep * k as f32 / steps as f32;
            let grow = 1.0 + wobble * k as f32 / steps as f32;
            let (x, y) = (a * grow * t.cos(), -b * grow * t.sin());
            (x - slant * y, y)
        })
        .collect();
    let (cov, w, h, _) = polyline(&points, pen);
    (cov, w, h)
}

/// A pen stroke through `points` of width `pen`, on a sheet just large enough. Returns
/// (coverage, width, height, where the first point landed on it).
fn polyline(points: &[(f32, f32)], pen: f32) -> (Vec<f32>, usize, usize, (f32, f32)) {
    let r = pen / 2.0 + 0.5;
    let min_x = points.iter().map(|p| p.0).fold(f32::MAX, f32::min) - r;
    let max_x = points.iter().map(|p| p.0).fold(f32::MIN, f32::max) + r;
    let min_y = points.iter().map(|p| p.1).fold(f32::MAX, f32::min) - r;
    let max_y = points.iter().map(|p| p.1).fold(f32::MIN, f32::max) + r;
    let (w, h) = ((max_x - min_x).ceil() as usize + 1, (max_y - min_y).ceil() as usize + 1);
    let mut sheet = Sheet { w, h, a: vec![0.0; w * h] };
    for pair in points.windows(2) {
        sheet.line((pair[0].0 - min_x, pair[0].1 - min_y), (pair[1].0 - min_x, pair[1].1 - min_y), pen);
    }
    let first = points.first().map_or((0.0, 0.0), |p| (p.0 - min_x, p.1 - min_y));
    (sheet.a, w, h, first)
}

/// A zero written looser than [`pen_zero`]'s (see [`Style::loose_zeros`]): started at the
/// bottom (where a stroke along the baseline from the digit before comes in) and drawn
/// anticlockwise, `width` × `height` before its unevenness — one end pointed or blunt (an egg),
/// radii that drift along the stroke, tilted up to ±0.3 rad, slanted by `slant` — a third
/// left open. Returns (coverage, width, height, the entry point on the coverage).
fn loose_zero(width: f32, height: f32, slant: f32, pen: f32, rng: &mut Rng) -> (Vec<f32>, usize, usize, (f32, f32)) {
    let r = pen / 2.0 + 0.5;
    let (a, b) = ((width / 2.0 - r).max(1.0), (height / 2.0 - r).max(1.0));
    let start = 1.5 * std::f32::consts::PI + rng.uniform(-0.7, 0.2);
    let sweep = if rng.next_f32() < 1.0 / 3.0 { rng.uniform(4.6, 5.8) } else { rng.uniform(6.2, 7.0) };
    let (egg, drift, tilt) = (rng.uniform(-0.35, 0.35), rng.uniform(-0.15, 0.15), rng.uniform(-0.3, 0.3));
    let (sin_t, cos_t) = tilt.sin_cos();
    let steps = 32;
    let points: Vec<(f32, f32)> = (0..=steps)
        .map(|k| {
            let t = start + sweep * k as f32 / steps as f32;
            let grow = 1.0 + drift * k as f32 / steps as f32;
            let (x, y) = (a * grow * t.cos(), -b * grow * t.sin() * (1.0 + egg * t.cos()));
            let (x, y) = (x * cos_t - y * sin_t, x * sin_t + y * cos_t);
            (x - slant * y, y)
        })
        .collect();
    polyline(&points, pen)
}

/// A number image: the amount `text` written in `style` with digits from `digits` (chosen at
/// random per digit, by label), on scanned paper. See the module doc.
pub fn number_image(digits: &Dataset, text: &str, style: &Style, rng: &mut Rng) -> NumberImage {
    let mut by_label: Vec<Vec<usize>> = vec![Vec::new(); 10];
    for (i, &l) in digits.labels.iter().enumerate() {
        if (l as usize) < 10 {
            by_label[l as usize].push(i);
        }
    }
    let h = style.height;
    let pen = (h / 9.0 * style.weight).max(1.2);
    let sep = if rng.next_f32() < 0.75 { '.' } else { ',' };
    let mut raw = written(text, style, sep);
    if style.cents {
        raw.push(if sep == '.' { ',' } else { '.' });
        raw.push_str("00");
    }
    if let Some(m) = style.end_mark {
        raw.push_str(m);
    }
    let digits_only: String = raw.chars().filter(char::is_ascii_digit).collect();
    let chars: Vec<char> = raw.chars().collect();
    let raw = raw.replace('_', "-");

    // Layout on a generous sheet, cropped afterwards.
    let (sw, sh) = ((chars.len() as f32 * h * 1.6 + 4.0 * h) as usize, (3.0 * h) as usize);
    let mut sheet = Sheet { w: sw, h: sh, a: vec![0.0; sw * sh] };
    let baseline0 = 1.9 * h;
    let slope = rng.uniform(-0.04, 0.04);
    let mut x = 1.0 * h;
    let (mut ink_x0, mut ink_x1, mut ink_y0, mut ink_y1) = (f32::MAX, 0f32, f32::MAX, 0f32);
    let mut prev_digit = false;
    let mut drawn: Vec<(f32, f32, f32, f32)> = Vec::new();
    for (k, &ch) in chars.iter().enumerate() {
        let baseline = baseline0 + slope * (x - h) + rng.uniform(-0.05, 0.05) * h;
        if let Some(d) = ch.to_digit(10) {
            let pool = &by_label[d as usize];
            if pool.is_empty() {
                continue;
            }
            let img = digits.image(pool[rng.below(pool.len())]);
            let dh = h * rng.uniform(0.88, 1.08);
            let stretch = rng.uniform(0.85, 1.3);
            let slant = style.slant + rng.uniform(-0.08, 0.08);
            let weight = style.weight * rng.uniform(0.9, 1.1);
            let cursive = d == 0 && prev_digit && style.cursive_zeros > 0.0 && rng.next_f32() < style.cursive_zeros;
            let loose = cursive && style.loose_zeros > 0.0 && rng.next_f32() < style.loose_zeros;
            let mut entry = None;
            let pen_drawn = if loose {
                let zh = dh * rng.uniform(0.4, 0.85);
                let (cov, wd, hd, at) = loose_zero(zh * rng.uniform(1.0, 2.0), zh, slant, pen, rng);
                entry = Some(at);
                Some((cov, wd, hd))
            } else if cursive {
                let zh = dh * rng.uniform(0.55, 1.0);
                Some(pen_zero(zh * rng.uniform(0.8, 1.6), zh, slant, pen, rng))
            } else if rng.next_f32() < PEN_SHARE {
                pen_digit(d, dh, slant, pen, rng)
            } else {
                None
            };
            let (cov, wd, hd) = pen_drawn.unwrap_or_else(|| transform_digit(img, dh, stretch, slant, weight));
            // A connecting stroke from the digit just before (not from a separator): the pen
            // leaves it on its right, near the oval's top, and starts the oval there.
            let after_digit = k > 0 && chars[k - 1].is_ascii_digit();
            let joined_from = (cursive && after_digit && rng.next_f32() < 0.7).then(|| {
                if loose {
                    // Loose zeros are entered from low on the digit before, along the baseline.
                    (x, baseline - h * rng.uniform(0.0, 0.3))
                } else {
                    (x, baseline - hd as f32 * rng.uniform(0.7, 1.0))
                }
            });
            if prev_digit {
                let g = if cursive {
                    rng.uniform(-0.12, 0.12)
                } else if rng.next_f32() < style.touching {
                    rng.uniform(-0.22, -0.08)
                } else {
                    rng.uniform(style.gap.0, style.gap.1)
                };
                x += g * h;
            }
            let top = baseline - hd as f32;
            if let Some(from) = joined_from {
                // The pen does not lift: a stroke from the digit before to the oval's top (to a
                // loose zero's entry at its bottom).
                let to = match entry {
                    Some((ex, ey)) => (x + ex, top + ey),
                    None => (x + rng.uniform(0.3, 0.6) * wd as f32, top + pen / 2.0),
                };
                sheet.line((from.0 - pen, from.1), to, pen);
            }
            let (ox, oy) = (x.round() as isize, top.round() as isize);
            for r in 0..hd {
                for c in 0..wd {
                    let v = cov[r * wd + c];
                    if v > 0.0 {
                        sheet.put(ox + c as isize, oy + r as isize, v);
                    }
                }
            }
            // The digit's real ink extent, for the next gap and the crop.
            let (mut c0, mut c1, mut r0, mut r1) = (wd, 0, hd, 0);
            for r in 0..hd {
                for c in 0..wd {
                    if cov[r * wd + c] > 0.2 {
                        (c0, c1, r0, r1) = (c0.min(c), c1.max(c), r0.min(r), r1.max(r));
                    }
                }
            }
            if c0 > c1 {
                (c0, c1, r0, r1) = (0, wd - 1, 0, hd - 1);
            }
            drawn.push((ox as f32 + c0 as f32, oy as f32 + r0 as f32, ox as f32 + c1 as f32, oy as f32 + r1 as f32));
            ink_x0 = ink_x0.min(ox as f32 + c0 as f32);
            ink_x1 = ink_x1.max(ox as f32 + c1 as f32 + 1.0);
            ink_y0 = ink_y0.min(top);
            ink_y1 = ink_y1.max(baseline);
            x = ox as f32 + c1 as f32 + 1.0;
            prev_digit = true;
        } else {
            let next_is_digit = chars.get(k + 1).is_some_and(char::is_ascii_digit);
            x += rng.uniform(0.05, 0.2) * h;
            let mark_w = match ch {
                '.' => {
                    let (cx, cy) = (x + pen / 2.0, baseline - pen / 2.0 - rng.uniform(0.0, 0.08) * h);
                    sheet.line((cx, cy), (cx + rng.uniform(0.0, 0.6) * pen, cy + rng.uniform(-0.3, 0.3) * pen), pen * rng.uniform(1.0, 1.5));
                    pen * 1.5
                }
                ',' => {
                    let (cx, cy) = (x + pen, baseline - pen * 0.5);
                    let len = rng.uniform(0.2, 0.4) * h;
                    sheet.line((cx + 0.3 * len, cy), (cx - 0.1 * len, cy + len), pen);
                    pen + 0.4 * len
                }
                '-' => {
                    let len = rng.uniform(0.25, 0.6) * h;
                    let y = baseline - rng.uniform(0.25, 0.55) * h;
                    sheet.line((x, y), (x + len, y + rng.uniform(-0.08, 0.05) * h), pen);
                    len
                }
                _ => {
                    // A long final stroke, low or at mid height.
                    let len = rng.uniform(0.6, 1.6) * h;
                    let y = baseline - rng.uniform(0.0, 0.5) * h;
                    sheet.line((x, y), (x + len, y + rng.uniform(-0.1, 0.05) * h), pen);
                    len
                }
            };
            x += mark_w + if next_is_digit { rng.uniform(0.05, 0.25) * h } else { 0.0 };
            ink_x1 = ink_x1.max(x);
        }
    }
    let mut ink_x1 = ink_x1.max(ink_x0 + 1.0);
    if style.underline {
        let y = ink_y1 + rng.uniform(-0.05, 0.2) * h;
        let (x0, x1) = (ink_x0 - rng.uniform(0.0, 0.5) * h, ink_x1 + rng.uniform(0.0, 0.8) * h);
        sheet.line((x0, y), (x1, y + rng.uniform(-0.05, 0.05) * h), rng.uniform(0.8, 2.2));
        ink_x1 = x1;
        ink_y1 = ink_y1.max(y + 2.0);
    }
    if style.broken {
        // Gaps across the strokes: small discs of paper where the pen skipped.
        let n = ((ink_x1 - ink_x0).max(1.0) / h * rng.uniform(2.0, 5.0)) as usize;
        for _ in 0..n {
            let (cx, cy) = (rng.uniform(ink_x0, ink_x1), rng.uniform(ink_y0, ink_y1));
            let r = rng.uniform(0.5, 1.2) * pen.max(1.5) / 2.0 + 0.5;
            let (lo_x, hi_x) = ((cx - r).floor() as isize, (cx + r).ceil() as isize);
            for yy in (cy - r).floor() as isize..=(cy + r).ceil() as isize {
                for xx in lo_x..=hi_x {
                    if xx >= 0 && yy >= 0 && (xx as usize) < sheet.w && (yy as usize) < sheet.h {
                        let d = ((xx as f32 + 0.5 - cx).powi(2) + (yy as f32 + 0.5 - cy).powi(2)).sqrt();
                        if d < r {
                            sheet.a[yy as usize * sheet.w + xx as usize] *= 0.15;
                        }
                    }
                }
            }
        }
    }

    // Crop: tight margins, as the amount boxes of scanned cheques are cut.
    let mx0 = (ink_x0 - rng.uniform(0.05, 0.5) * h).max(0.0) as usize;
    let mx1 = ((ink_x1 + rng.uniform(0.05, 0.5) * h) as usize).min(sheet.w - 1);
    let my0 = (ink_y0 - rng.uniform(0.05, 0.35) * h).max(0.0) as usize;
    let my1 = ((ink_y1 + rng.uniform(0.05, 0.35) * h) as usize).min(sheet.h - 1);
    let (w, ht) = (mx1 - mx0 + 1, my1 - my0 + 1);

    // Paper: tint, light, pattern, form lines; then the ink.
    let paper = rng.uniform(175.0, 240.0);
    let light = rng.uniform(-25.0, 25.0);
    let mut lum: Vec<f32> = (0..w * ht).map(|i| paper + light * ((i % w) as f32 / w as f32 - 0.5)).collect();
    if style.pattern {
        for _ in 0..1 + rng.below(2) {
            let spacing = rng.uniform(3.0, 7.0);
            let (amp, period) = (rng.uniform(1.0, 6.0), rng.uniform(25.0, 120.0));
            let (amp2, period2) = (rng.uniform(0.0, 3.0), rng.uniform(10.0, 40.0));
            let (phase, phase2) = (rng.uniform(0.0, 6.3), rng.uniform(0.0, 6.3));
            let tilt = rng.uniform(-0.6, 0.6);
            let dark = rng.uniform(8.0, 45.0);
            let width = rng.uniform(0.5, 1.1);
            for y in 0..ht {
                for x in 0..w {
                    let xf = x as f32;
                    let curve =
                        amp * (std::f32::consts::TAU * xf / period + phase).sin() + amp2 * (std::f32::consts::TAU * xf / period2 + phase2).sin() + tilt * xf;
                    let v = (y as f32 - curve).rem_euclid(spacing);
                    let d = v.min(spacing - v);
                    lum[y * w + x] -= dark * (1.0 - d / (width + 0.5)).clamp(0.0, 1.0);
                }
            }
        }
        if rng.next_f32() < 0.3 {
            // A dotted print texture.
            for _ in 0..(w * ht) / 30 {
                let i = rng.below(w * ht);
                lum[i] -= rng.uniform(10.0, 40.0);
            }
        }
    }
    if style.form_line {
        let y = if rng.next_f32() < 0.5 { rng.below(3) } else { ht - 1 - rng.below(3) };
        let dark = rng.uniform(60.0, 150.0);
        for x in 0..w {
            lum[y * w + x] -= dark;
        }
    }
    let ink = rng.uniform(10.0, 90.0) + if style.broken { rng.uniform(10.0, 40.0) } else { 0.0 };
    for y in 0..ht {
        for x in 0..w {
            let a = sheet.a[(y + my0) * sheet.w + x + mx0];
            let p = &mut lum[y * w + x];
            *p = (1.0 - a) * *p + a * ink;
        }
    }
    // Scanner: a little blur, noise.
    if rng.next_f32() < 0.5 {
        let src = lum.clone();
        let k = rng.uniform(0.1, 0.3);
        for y in 1..ht.saturating_sub(1) {
            for x in 1..w.saturating_sub(1) {
                let i = y * w + x;
                lum[i] = (1.0 - 4.0 * k) * src[i] + k * (src[i - 1] + src[i + 1] + src[i - w] + src[i + w]);
            }
        }
    }
    let sigma = rng.uniform(1.0, 6.0);
    for p in &mut lum {
        *p += sigma * rng.normal();
    }
    let mut image = Gray { width: w, height: ht, pixels: lum.iter().map(|&v| to_byte(v)).collect() };
    let quality = 50 + rng.below(46) as u8;
    let mut jpeg = Vec::new();
    if image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality).encode(&image.pixels, w as u32, ht as u32, image::ExtendedColorType::L8).is_ok() {
        if let Ok(g) = crate::vision::decode_luma(&jpeg, "generated number") {
            image = g;
        }
    }
    let boxes = drawn
        .iter()
        .map(|&(x0, y0, x1, y1)| {
            let x = (x0 - mx0 as f32).clamp(0.0, (w - 1) as f32) as usize;
            let y = (y0 - my0 as f32).clamp(0.0, (ht - 1) as f32) as usize;
            let xe = (x1 - mx0 as f32).clamp(0.0, (w - 1) as f32) as usize;
            let ye = (y1 - my0 as f32).clamp(0.0, (ht - 1) as f32) as usize;
            [x, y, xe.max(x) - x + 1, ye.max(y) - y + 1]
        })
        .collect();
    NumberImage { image, text: digits_only, raw, boxes }
}

/// A random number image: a random amount in a random style.
pub fn random_number(digits: &Dataset, rng: &mut Rng) -> NumberImage {
    let style = Style::random(rng);
    let text = random_amount(rng);
    number_image(digits, &text, &style, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten "digits": a filled 12×20 block each, labelled 0–9.
    fn blocks() -> Dataset {
        let mut images = Vec::new();
        for _ in 0..10 {
            images.extend((0..28 * 28).map(|i| if (4..24).contains(&(i / 28)) && (8..20).contains(&(i % 28)) { 255 } else { 0 }));
        }
        Dataset { images, labels: (0..10).collect(), rows: 28, cols: 28 }
    }

    #[test]
    fn loose_zeros_are_flat_ovals_drawn_only_when_asked() {
        let digits = blocks();
        let style = Style { cursive_zeros: 1.0, ..Style::plain(30.0) };
        let loose = Style { loose_zeros: 1.0, ..style.clone() };
        let (mut flatter, mut differ) = (0, 0);
        for seed in 0..20 {
            let a = number_image(&digits, "5000", &style, &mut Rng::new(seed));
            let b = number_image(&digits, "5000", &loose, &mut Rng::new(seed));
            assert_eq!((a.text.as_str(), b.text.as_str()), ("5000", "5000"));
            assert_eq!(b.boxes.len(), 4);
            differ += usize::from(a.image.pixels != b.image.pixels);
            // A loose zero is at most 0.85 × 1.08 of the height; the block 5 is 0.88–1.08.
            let zero_h = b.boxes[1..].iter().map(|bx| bx[3]).max().unwrap_or(0) as f32;
            assert!(zero_h >= 0.3 * 30.0, "seed {seed}: a zero {zero_h} px tall");
            flatter += usize::from(zero_h < b.boxes[0][3] as f32);
        }
        assert_eq!(differ, 20, "loose zeros must change the image");
        assert!(flatter >= 17, "only {flatter} of 20 amounts had zeros lower than their first digit");
        assert_eq!(Style::random(&mut Rng::new(1)).loose_zeros, 0.0, "random styles leave them to the reader's training");
    }
}
