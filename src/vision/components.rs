//! Connected components of the ink map, and the pieces cut out of it.

use super::gray::Gray;
use super::ink::InkLayer;

/// A digit's ink must span at least this many pixels (its bounding box's longer side), and
/// at least 1/100 of the image's longer side; smaller marks are dust, not digits.
pub const MIN_DIGIT_SIDE: usize = 5;

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

/// A ruled or squared sheet has at least this many parallel lines across the photo. Two, not
/// three: the lines of a ruling away from the digit are often too faint to be ink at all
/// (under Otsu's threshold, and not reached by the hysteresis from the digit's strokes), while
/// the one or two the digit touches are, along their whole length, and joined the digit into a
/// piece several times as wide as tall (`photo_validation`'s ruled photos at 1000 px: 3 → 2
/// read 38 → 40 of the first 40, 74 → 78 of 80 fresh ones; nothing else moved, on real-dev,
/// the cheque amounts or the synthetic benchmark). One long straight stroke (the stem of a 1
/// or a 7 on a tight crop) is still not a ruling.
pub const RULED_LINES: usize = 2;

/// imageproc's [`imageproc::hough::detect_lines`] on the non-zero pixels of `ink` (one degree
/// and one pixel per bin, the same votes to the bit: the same `f32` arithmetic, the same
/// non-maximum suppression), or `None` when fewer than `at_least` bins reach
/// `vote_threshold` (the suppression keeps only bins that do, so the answer would have fewer
/// than `at_least` lines).
///
/// Faster than calling imageproc for what the photo pipeline needs: the votes are cast one
/// angle at a time over a list of the ink pixels (imageproc walks the pixels and touches all
/// 180 accumulator rows for each, a cache miss apiece), and the non-maximum suppression
/// looks only around the bins that reach the threshold (imageproc's scans the whole
/// accumulator). Measurements: docs/experiments.
pub(crate) fn hough_lines(ink: &Gray, vote_threshold: u32, suppression_radius: u32, at_least: usize) -> Option<Vec<imageproc::hough::PolarLine>> {
    let (w, h) = (ink.width as u32, ink.height as u32);
    let rmax = ((w * w + h * h) as f64).sqrt() as i32;
    let width = 2 * rmax as usize + 1;
    let (xs, ys): (Vec<f32>, Vec<f32>) =
        ink.pixels.iter().enumerate().filter(|(_, &p)| p > 0).map(|(i, _)| ((i % ink.width) as f32, (i / ink.width) as f32)).unzip();
    let mut acc = vec![0u32; width * 180];
    let mut bins = vec![0u32; xs.len()];
    // Four partial rows (one spare bin each, for out-of-range votes), so consecutive votes for
    // the same bin do not wait on each other's increments.
    let mut partial = vec![0u32; 4 * (width + 1)];
    for (deg, row) in acc.chunks_exact_mut(width).enumerate() {
        // As imageproc computes them: the angle in f32 radians, `r = x·cos + y·sin` (no fused
        // multiply-add), truncated towards zero.
        let (s, c) = (deg as f32).to_radians().sin_cos();
        vote_bins(&xs, &ys, s, c, rmax, &mut bins);
        partial.fill(0);
        let (p01, p23) = partial.split_at_mut(2 * (width + 1));
        let (p0, p1) = p01.split_at_mut(width + 1);
        let (p2, p3) = p23.split_at_mut(width + 1);
        let mut quads = bins.chunks_exact(4);
        for q in &mut quads {
            p0[q[0] as usize] += 1;
            p1[q[1] as usize] += 1;
            p2[q[2] as usize] += 1;
            p3[q[3] as usize] += 1;
        }
        for &b in quads.remainder() {
            p0[b as usize] += 1;
        }
        for (i, v) in row.iter_mut().enumerate() {
            *v = p0[i] + p1[i] + p2[i] + p3[i];
        }
    }
    // The bins at or above the threshold, row by row (imageproc's order), are the only ones
    // that can be lines.
    let candidates: Vec<(usize, usize)> = acc.iter().enumerate().filter(|(_, &v)| v >= vote_threshold).map(|(i, _)| (i % width, i / width)).collect();
    if candidates.len() < at_least {
        return None;
    }
    // imageproc's suppression keeps a bin exactly when it comes first in the order (more
    // votes, then smaller `(r, angle)`) among the bins within `suppression_radius` of it
    // (its block scan and neighbourhood checks reduce to that), so only the candidates'
    // neighbourhoods need looking at.
    let rad = suppression_radius as usize;
    let beats = |q: (usize, usize), p: (usize, usize)| {
        let (vq, vp) = (acc[q.1 * width + q.0], acc[p.1 * width + p.0]);
        vq > vp || (vq == vp && q < p)
    };
    let lines = candidates
        .into_iter()
        .filter(|&p| {
            let (xs, ys) = (p.0.saturating_sub(rad)..(p.0 + rad + 1).min(width), p.1.saturating_sub(rad)..(p.1 + rad + 1).min(180));
            !ys.flat_map(|y| xs.clone().map(move |x| (x, y))).any(|q| beats(q, p))
        })
        .map(|(r, m)| imageproc::hough::PolarLine { r: (r as i32 - rmax) as f32, angle_in_degrees: m as u32 })
        .collect();
    Some(lines)
}

crate::kernels::simd::multiversion!(
    /// Each point's accumulator bin at one angle (`2·rmax + 1`, a spare bin, when out of range).
    fn vote_bins => vote_bins_kernel(xs: &[f32], ys: &[f32], s: f32, c: f32, rmax: i32, bins: &mut [u32])
);

#[inline(always)]
fn vote_bins_kernel(xs: &[f32], ys: &[f32], s: f32, c: f32, rmax: i32, bins: &mut [u32]) {
    for ((b, &x), &y) in bins.iter_mut().zip(xs).zip(ys) {
        let r = x * c + y * s;
        // SAFETY: `r` is finite and |r| ≤ x + y < 2³¹ (pixel coordinates, |sin|, |cos| ≤ 1),
        // where this truncation equals `r as i32` (without the saturation checks that keep
        // the loop from vectorising).
        let d = unsafe { r.to_int_unchecked::<i32>() } + rmax;
        *b = if (0..=2 * rmax).contains(&d) { d as u32 } else { 2 * rmax as u32 + 1 };
    }
}

/// Erases ruled and squared paper's lines from the ink map, before its components are taken
/// (else the grid joins the digit into one component the size of the sheet).
///
/// Lines are found with imageproc's Hough transform ([`imageproc::hough::detect_lines`], one
/// degree and one pixel per bin) on the non-zero ink: straight runs of ink at least half the
/// photo's shorter side long, inked along at least half of their chord across the photo.
/// Only a family of at least [`RULED_LINES`] lines within 3° of
/// each other is taken for ruling — a digit's own stroke (the long stem of a 1 or a 7) is one
/// line, not a family; a pen stroke as long as the photo is wide is also far thicker — and
/// only lines at most 6 pixels (1/150 of the shorter side) thick: a band of ink is not a
/// ruling. Along each such line, ink within 3 pixels of it is erased where the ink
/// crosses the line no thicker than the line itself plus 2 pixels (the run of ink along the
/// line's normal), so a digit's stroke that crosses the line keeps its pixels. Photos under
/// 64 pixels a side are left alone.
pub(crate) fn remove_ruled_lines(layer: &mut InkLayer) {
    let (w, h) = (layer.ink.width, layer.ink.height);
    if w < 64 || h < 64 {
        return;
    }
    let votes = (w.min(h) / 2) as u32;
    let Some(lines) = hough_lines(&layer.ink, votes, 4, RULED_LINES) else { return };
    if lines.len() < RULED_LINES {
        return;
    }
    // Families: lines whose angles (mod 180°) lie within 3° of each other.
    let angle_gap = |a: u32, b: u32| {
        let d = a.abs_diff(b) % 180;
        d.min(180 - d)
    };
    let ruled: Vec<_> =
        lines.iter().filter(|l| lines.iter().filter(|m| angle_gap(l.angle_in_degrees, m.angle_in_degrees) <= 3).count() >= RULED_LINES).copied().collect();
    if ruled.is_empty() {
        return;
    }
    let on = |p: &[u8], x: isize, y: isize| x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h && p[y as usize * w + x as usize] > 0;
    let diag = ((w * w + h * h) as f32).sqrt();
    let max_thickness = (w.min(h) / 150).max(6);
    // The length of a line's chord across the photo (sampled at unit steps).
    let chord = |line: &imageproc::hough::PolarLine| {
        let (s, c) = (line.angle_in_degrees as f32).to_radians().sin_cos();
        let mut n = 0;
        let mut t = -diag;
        while t <= diag {
            let (x, y) = (line.r * c - t * s, line.r * s + t * c);
            if x >= 0.0 && y >= 0.0 && x < w as f32 && y < h as f32 {
                n += 1;
            }
            t += 1.0;
        }
        n
    };
    // imageproc truncates each vote's distance to a whole pixel, so the bin's `r` can lie up
    // to a pixel short of the line (and a 1-pixel line's soft edge off it): each line is moved
    // to the offset within ±2 pixels along its normal that meets the most ink.
    let inked_along = |line: &imageproc::hough::PolarLine| {
        let (s, c) = (line.angle_in_degrees as f32).to_radians().sin_cos();
        let mut n = 0;
        let mut t = -diag;
        while t <= diag {
            n += usize::from(on(&layer.ink.pixels, (line.r * c - t * s).round() as isize, (line.r * s + t * c).round() as isize));
            t += 1.0;
        }
        n
    };
    let ruled: Vec<imageproc::hough::PolarLine> =
        ruled.iter().map(|l| (-2..=2).map(|o| imageproc::hough::PolarLine { r: l.r + o as f32, ..*l }).max_by_key(|m| inked_along(m)).unwrap_or(*l)).collect();
    let mut erase = Vec::new();
    for line in &ruled {
        let (s, c) = (line.angle_in_degrees as f32).to_radians().sin_cos();
        // Points on the line: r·n + t·d, n = (cos, sin) its normal, d = (−sin, cos) along it.
        let run = |x: f32, y: f32| -> usize {
            let mut n = 0;
            for dir in [-1.0f32, 1.0] {
                for k in 1..=12 {
                    let (px, py) = ((x + dir * k as f32 * c).round() as isize, (y + dir * k as f32 * s).round() as isize);
                    if !on(&layer.ink.pixels, px, py) {
                        break;
                    }
                    n += 1;
                }
            }
            n + 1
        };
        // The line's own thickness: the median run of ink across it where it is inked.
        let mut runs = Vec::new();
        let mut t = -diag;
        while t <= diag {
            let (x, y) = (line.r * c - t * s, line.r * s + t * c);
            if on(&layer.ink.pixels, x.round() as isize, y.round() as isize) {
                runs.push(run(x, y));
            }
            t += 1.0;
        }
        // A ruling crosses the photo: ink on at least half of the line's chord.
        if runs.len() < chord(line) / 2 {
            continue;
        }
        runs.sort_unstable();
        let thickness = runs[runs.len() / 2];
        if thickness > max_thickness {
            continue; // a band of ink (a table's edge, a shadow), not a ruled line
        }
        let mut t = -diag;
        while t <= diag {
            for off in -3..=3 {
                let (x, y) = (line.r * c - t * s + off as f32 * c, line.r * s + t * c + off as f32 * s);
                let (px, py) = (x.round() as isize, y.round() as isize);
                if on(&layer.ink.pixels, px, py) && run(px as f32, py as f32) <= thickness + 2 {
                    erase.push(py as usize * w + px as usize);
                }
            }
            t += 1.0;
        }
    }
    for i in erase {
        layer.ink.pixels[i] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;

    /// Two thin ruled lines across a 400×300 photo, joined to a digit's ring (12 pixels
    /// thick) that crosses them, are erased away from the ring, and the ring keeps every pixel;
    /// a single thin line across the photo (a 1's stem on a tight crop) is left alone.
    #[test]
    fn two_ruled_lines_are_erased_one_long_stroke_is_not() {
        let (w, h) = (400usize, 300usize);
        let ring = |x: usize, y: usize| {
            let r = ((x as f32 - 200.0).powi(2) + (y as f32 - 150.0).powi(2)).sqrt();
            (r - 60.0).abs() <= 6.0
        };
        let mut ink = Gray::filled(w, h, 0);
        for y in 0..h {
            for x in 0..w {
                if ring(x, y) || (110..112).contains(&y) || (190..192).contains(&y) {
                    ink.pixels[y * w + x] = 255;
                }
            }
        }
        let mut layer = InkLayer { ink: ink.clone(), found: true };
        remove_ruled_lines(&mut layer);
        let at = |l: &InkLayer, x: usize, y: usize| l.ink.pixels[y * w + x];
        assert_eq!((at(&layer, 20, 110), at(&layer, 380, 191)), (0, 0), "the lines away from the ring are erased");
        assert!((0..w * h).all(|i| !ring(i % w, i / w) || layer.ink.pixels[i] == 255), "the ring keeps its pixels");
        let mut one = Gray::filled(w, h, 0);
        (0..h).for_each(|y| one.pixels[y * w + 200] = 255);
        let mut layer = InkLayer { ink: one.clone(), found: true };
        remove_ruled_lines(&mut layer);
        assert_eq!(layer.ink.pixels, one.pixels, "one line is not a ruling");
    }

    /// [`hough_lines`] finds exactly imageproc's lines (its reference) on images with ruled
    /// lines at several angles, a grid, a thick band, specks, and on blank and tiny images;
    /// and gives `None` only when imageproc finds fewer lines than asked for.
    #[test]
    fn hough_lines_match_imageproc() {
        let mut rng = Rng::new(3);
        let mut cases = Vec::new();
        for (w, h) in [(150, 140), (97, 203), (64, 64), (3, 2)] {
            for kind in 0..5 {
                let mut g = Gray::filled(w, h, 0);
                let mut set = |x: f32, y: f32, v: u8| {
                    let (xi, yi) = (x.round() as isize, y.round() as isize);
                    if xi >= 0 && yi >= 0 && (xi as usize) < w && (yi as usize) < h {
                        g.pixels[yi as usize * w + xi as usize] = v;
                    }
                };
                let diag = (w + h) as f32;
                match kind {
                    0 => {}
                    1 | 2 => {
                        // A family of parallel lines (kind 2: also a second family, a grid).
                        for family in 0..kind {
                            let angle = rng.uniform(0.0, 180.0).to_radians() + family as f32;
                            let (s, c) = angle.sin_cos();
                            for k in 0..4 {
                                let r = 10.0 + 17.0 * k as f32;
                                let mut t = -diag;
                                while t <= diag {
                                    set(r * c - t * s, r * s + t * c, 200);
                                    t += 0.5;
                                }
                            }
                        }
                    }
                    3 => {
                        // A thick band.
                        for y in h / 3..h / 3 + 9 {
                            for x in 0..w {
                                set(x as f32, y as f32, 255);
                            }
                        }
                    }
                    _ => {
                        for _ in 0..(w * h / 4) {
                            set(rng.uniform(0.0, w as f32), rng.uniform(0.0, h as f32), 1 + rng.below(255) as u8);
                        }
                    }
                }
                cases.push(g);
            }
        }
        let mut ruled = 0;
        for (i, g) in cases.iter().enumerate() {
            let bin = image::GrayImage::from_fn(g.width as u32, g.height as u32, |x, y| image::Luma([if g.get(x as usize, y as usize) > 0 { 255 } else { 0 }]));
            for votes in [(g.width.min(g.height) / 2) as u32, 5] {
                let want = imageproc::hough::detect_lines(&bin, imageproc::hough::LineDetectionOptions { vote_threshold: votes, suppression_radius: 4 });
                for at_least in [0, RULED_LINES] {
                    match hough_lines(g, votes, 4, at_least) {
                        Some(got) => assert_eq!(got, want, "case {i}, votes {votes}"),
                        None => assert!(want.len() < at_least, "case {i}, votes {votes}: None, but imageproc found {} lines", want.len()),
                    }
                }
                ruled += usize::from(want.len() >= RULED_LINES);
            }
        }
        assert!(ruled >= 6, "only {ruled} cases with ruled lines");
    }
}
