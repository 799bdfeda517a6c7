//! Step 3 of the photo pipeline: the digit's components → MNIST's format (28×28, fitted into
//! 20×20, centred by mass), as MNIST itself was made.

use super::components::{components, extract_patch, gap, min_digit_side, remove_ruled_lines, Component};
use super::gray::{no_digit, to_byte, Gray};
use super::ink::ink_layer;
use super::pipeline::Digit;
use super::resample::{resample, shrink_to};
use crate::error::Result;

/// Longest side processed: larger images are shrunk to this before thresholding (a digit
/// needs far fewer pixels; this bounds the time and memory of everything after decoding).
pub const WORK_SIDE: usize = 2000;

/// MNIST's digits fit a 20×20 box inside the 28×28 field.
const BOX: usize = 20;
const FIELD: usize = 28;

/// Where the centre of mass of an MNIST digit lies, in pixel-index coordinates (row and
/// column both). Measured on the MNIST test set: (13.99 ± 0.29, 14.01 ± 0.29) (mean ± standard
/// deviation; see `measure_mnist` in the tests), i.e. MNIST shifted by whole pixels to put it
/// on pixel 14, not on the field's geometric centre 13.5.
const COM_TARGET: f32 = 14.0;

/// A photo of one digit (luminance, 0 = black … 255 = white) → a 28×28 MNIST-style ink image
/// (0 = background, 255 = ink). [`find_digit`] tells more: what else the photo holds.
pub fn to_mnist(img: &Gray) -> Result<Digit> {
    Ok(find_digit(img)?.digit)
}

/// What the photo pipeline found: the digit, and the facts about the ink around it that say
/// whether the photo held one digit at all (the answer's "not a digit" reasons use them).
#[derive(Clone, Debug, PartialEq)]
pub struct FoundDigit {
    /// The digit in MNIST's format.
    pub digit: Digit,
    /// How many pieces (8-connected components) the digit was put together from.
    pub pieces: usize,
    /// How many groups of pieces stand side by side, each at least half as tall as the whole,
    /// with a clear gap between them (one for a digit; several for a number).
    pub side_by_side: usize,
    /// Width over height of the digit's ink.
    pub aspect: f32,
    /// Stroke width of the digit's ink at MNIST's scale (its longer side = 20 pixels),
    /// before it was brought to MNIST's: MNIST's digits measure 2.0–4.9 (2nd–98th percentile,
    /// median 2.9), a filled shape far more.
    pub stroke_width: f32,
    /// The fraction of the digit's box covered by its ink (MNIST: median 0.33, 99th percentile
    /// 0.60).
    pub density: f32,
}

/// Strokes thinner than this at MNIST's scale (its 2nd percentile is 2.0, the estimator's
/// floor) are thickened to [`STROKE_TARGET`]: a fine pen on a large photo (0.2–0.5). A
/// marker on a close-up measures 0.9–1.8 and is read well as it is; thickening it cost
/// photo-benchmark digits.
pub const STROKE_THIN: f32 = 1.0;

/// Strokes thicker than this at MNIST's scale (MNIST's 99.9th percentile is 6.9; 98th 4.9)
/// are thinned to [`STROKE_TARGET_THICK`]: a very thick marker.
pub const STROKE_THICK: f32 = 6.5;

/// MNIST's median stroke width at its own scale (the width estimator `2·area/perimeter` on the
/// training digits binarised at 128).
pub const STROKE_TARGET: f32 = 2.9;

/// What very thick strokes are thinned to: MNIST's 95th percentile.
pub const STROKE_TARGET_THICK: f32 = 4.4;

/// A photo of one digit → the digit and what surrounds it.
///
/// After [`super::ink_map`], thin straight lines that run across the photo in a family of
/// parallel lines (ruled or squared paper) are erased (`components::remove_ruled_lines`).
/// The digit's main piece is the largest 8-connected component of the ink, passing over
/// *border bars* — components touching the photo's edge that run along most of it or are
/// long thin bars (the sheet's edge, a band of table or shadow), as long as anything else is
/// left. Then every component with at least 1/4 of the main piece's pixels (pieces of a
/// broken digit) joins — when it lies farther from the digit than [`PIECE_REACH`] of the main
/// piece's size, only if it is not in a speckle field (`SpeckleField`) — and any smaller one
/// with at least 2 % of its pixels whose bounding box lies within 1/5 of the digit's size of
/// the digit's box (a detached flag of a 5, say),
/// repeated until nothing more joins. Everything else is a speck and is erased. The result is
/// cropped, its strokes brought to MNIST's width when they are far thinner or thicker
/// ([`normalise_stroke`]) and handed to [`ink_to_mnist`]. No ink, or a digit smaller than
/// [`super::components::MIN_DIGIT_SIDE`] (or 1/100 of the image's longer side), is the error
/// "no digit found".
pub fn find_digit(img: &Gray) -> Result<FoundDigit> {
    if img.is_degenerate() {
        return Err(no_digit());
    }
    let (work, _, _) = shrink_to(img, WORK_SIDE);
    let mut layer = ink_layer(&work);
    if !layer.found {
        return Err(no_digit());
    }
    remove_ruled_lines(&mut layer);
    let (labels, comps) = components(&layer);
    let (w, h) = (work.width, work.height);
    let min_side = min_digit_side(w, h);
    let along = along_edges(&labels, comps.len(), w, h);
    let bars: Vec<bool> = comps.iter().zip(&along).map(|(c, a)| is_border_bar(c, a, w, h)).collect();
    let bar = |k: usize| bars[k];
    let big_enough = |k: usize| comps[k].width().max(comps[k].height()) >= min_side;
    // The main piece: the largest component that is not a border bar and is at least 1/20
    // of the photo's shorter side long; failing that, the largest that long (a lone 1 along
    // the edge of a tight crop); failing that, the largest that is not a bar, or the largest.
    let digit_sized = |k: usize| comps[k].width().max(comps[k].height()) >= min_side.max(w.min(h) / 20);
    let largest_where = |ok: &dyn Fn(usize) -> bool| (0..comps.len()).filter(|&k| ok(k)).max_by_key(|&k| comps[k].count);
    let main = largest_where(&|k| !bar(k) && digit_sized(k))
        .or_else(|| largest_where(&|k| digit_sized(k)))
        .or_else(|| largest_where(&|k| !bar(k) && big_enough(k)))
        .or_else(|| largest_where(&|_| true))
        .ok_or_else(no_digit)?;
    let largest = comps[main].count;
    let piece_reach = (comps[main].width().max(comps[main].height()) as f32 * PIECE_REACH) as usize;
    let mut kept: Vec<bool> = comps.iter().enumerate().map(|(k, _)| k == main).collect();
    let speckle = SpeckleField::new(&comps, w, h);
    let bbox = |kept: &[bool]| {
        comps
            .iter()
            .zip(kept)
            .filter(|(_, &k)| k)
            .fold((usize::MAX, usize::MAX, 0, 0), |b, (c, _)| (b.0.min(c.x0), b.1.min(c.y0), b.2.max(c.x1), b.3.max(c.y1)))
    };
    for _ in 0..8 {
        let b = bbox(&kept);
        let reach = (b.2 - b.0 + 1).max(b.3 - b.1 + 1) / 5;
        let mut changed = false;
        for (k, c) in comps.iter().enumerate() {
            let within = |reach: usize| gap(b.0, b.2, c.x0, c.x1) <= reach && gap(b.1, b.3, c.y0, c.y1) <= reach;
            if !kept[k]
                && !bar(k)
                && ((4 * c.count >= largest && (within(piece_reach) || !speckle.is_speckle(c))) || (50 * c.count >= largest && within(reach)))
            {
                kept[k] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let b = bbox(&kept);
    let (bw, bh) = (b.2 - b.0 + 1, b.3 - b.1 + 1);
    if bw.max(bh) < min_side {
        return Err(no_digit());
    }
    let patch = extract_patch(&layer, &labels, b, |label, _, _| kept[label as usize - 1]);
    let pieces: Vec<&Component> = comps.iter().zip(&kept).filter(|(_, &k)| k).map(|(c, _)| c).collect();
    let stroke_width = stroke_width(&patch) * BOX as f32 / bw.max(bh) as f32;
    let density = patch.pixels.iter().filter(|&&v| v >= 128).count() as f32 / (bw * bh) as f32;
    let digit = ink_to_mnist(&normalise_stroke(&patch, stroke_width))?;
    Ok(FoundDigit { digit, pieces: pieces.len(), side_by_side: side_by_side(&pieces, bh), aspect: bw as f32 / bh as f32, stroke_width, density })
}

/// A component at the image's edge (within 2 % of its side, at least 2 pixels) whose pixels
/// there run along more than half of that edge (`along`, from [`along_edges`]), or that is a
/// bar at least 6 times as long as it is wide by its box, or by its mean thickness when it
/// touches two edges or is narrower than a quarter of the photo's shorter side: the edge of
/// the sheet, a band of table or shadow at the photo's border, a speckled band's pieces — not
/// a digit. A drawing as tall as half the photo whose outline touches one edge at one point
/// (a fish's tail) is neither: it does not run along the edge by its pixels, and an outline
/// is thin for its length but wide in both directions.
fn is_border_bar(c: &Component, along: &[usize; 4], w: usize, h: usize) -> bool {
    let (mx, my) = edge_margins(w, h);
    let (left, right, top, bottom) = (c.x0 <= mx, c.x1 + mx + 1 >= w, c.y0 <= my, c.y1 + my + 1 >= h);
    if !(left || right || top || bottom) {
        return false;
    }
    let [along_left, along_right, along_top, along_bottom] = *along;
    let along = 2 * along_top.max(along_bottom) > w || 2 * along_left.max(along_right) > h;
    let (long, short) = (c.width().max(c.height()), c.width().min(c.height()));
    let thickness = c.count as f32 / long as f32;
    let sides = [left, right, top, bottom].iter().filter(|&&t| t).count();
    let thin = long as f32 >= 6.0 * thickness.max(1.0) * 2.0;
    along || long >= 6 * short || (thin && (sides >= 2 || 4 * short < w.min(h)))
}

/// A piece as large as a quarter of the digit's main piece, farther from the digit than this
/// fraction of the main piece's longer side, joins the digit only when it does not lie in a
/// speckle field ([`SPECKLE_PIECES`] components or more around it).
pub const PIECE_REACH: f32 = 0.5;

/// A piece lies in a speckle field when at least this many components (itself included) have
/// their centres within half its size of its box.
pub const SPECKLE_PIECES: usize = 10;

/// Where the ink's components lie, to tell a speckle field — a band of table or shadow beyond
/// the sheet's edge, which the local flattening (dividing the paper's level out) turns into
/// hundreds of specks, its noise as strong as the band is dark — from a drawing's parts. A
/// clump of such specks can be a quarter of a thin digit's size, and joining it to the digit
/// whatever its distance made the digit a "drawing of 38 separate parts" with a bar beside it;
/// a cartoon's parts (eyes, tail) or a number's digits have few components around them.
/// Counts of component centres on a grid of cells (1/64 of the shorter side), in prefix sums,
/// so a piece's neighbourhood is counted in four lookups whatever the number of specks.
struct SpeckleField {
    cell: usize,
    gw: usize,
    gh: usize,
    /// Prefix sums of the components' centres per cell, `(gw + 1) × (gh + 1)`.
    sums: Vec<u32>,
}

impl SpeckleField {
    fn new(comps: &[Component], w: usize, h: usize) -> Self {
        let cell = (w.min(h) / 64).max(4);
        let (gw, gh) = (w.div_ceil(cell), h.div_ceil(cell));
        let mut counts = vec![0u32; gw * gh];
        for c in comps {
            let (cx, cy) = ((c.x0 + c.x1) / 2 / cell, (c.y0 + c.y1) / 2 / cell);
            counts[cy * gw + cx] += 1;
        }
        let mut sums = vec![0u32; (gw + 1) * (gh + 1)];
        for y in 0..gh {
            for x in 0..gw {
                sums[(y + 1) * (gw + 1) + x + 1] = counts[y * gw + x] + sums[y * (gw + 1) + x + 1] + sums[(y + 1) * (gw + 1) + x] - sums[y * (gw + 1) + x];
            }
        }
        SpeckleField { cell, gw, gh, sums }
    }

    /// True when `c` lies in a speckle field: [`SPECKLE_PIECES`] components or more with their
    /// centres in its box grown by half its longer side (to whole cells).
    fn is_speckle(&self, c: &Component) -> bool {
        let e = c.width().max(c.height()) / 2;
        let (x0, y0) = (c.x0.saturating_sub(e) / self.cell, c.y0.saturating_sub(e) / self.cell);
        let (x1, y1) = (((c.x1 + e) / self.cell + 1).min(self.gw), ((c.y1 + e) / self.cell + 1).min(self.gh));
        let at = |x: usize, y: usize| self.sums[y * (self.gw + 1) + x];
        let n = at(x1, y1) + at(x0, y0) - at(x0, y1) - at(x1, y0);
        n as usize >= SPECKLE_PIECES
    }
}

/// The border margins of [`is_border_bar`]: 2 % of each side, at least 2 pixels.
fn edge_margins(w: usize, h: usize) -> (usize, usize) {
    ((w / 50).max(2), (h / 50).max(2))
}

/// For each component, how far its pixels within the border margins ([`edge_margins`]) run
/// along the left, right, top and bottom edges (from the first such pixel to the last, along
/// the edge; 0 when none).
fn along_edges(labels: &[u32], n: usize, w: usize, h: usize) -> Vec<[usize; 4]> {
    let (mx, my) = edge_margins(w, h);
    // Per component and edge: the first and last position along the edge.
    let mut span = vec![[(usize::MAX, 0usize); 4]; n];
    let mut note = |label: u32, edge: usize, at: usize| {
        if let Some(s) = label.checked_sub(1).and_then(|k| span.get_mut(k as usize)) {
            s[edge] = (s[edge].0.min(at), s[edge].1.max(at));
        }
    };
    for y in 0..h {
        let row = &labels[y * w..(y + 1) * w];
        for &l in &row[..w.min(mx + 1)] {
            note(l, 0, y);
        }
        for &l in &row[w.saturating_sub(mx + 1)..] {
            note(l, 1, y);
        }
        if y <= my || y + my + 1 >= h {
            let edge = if y <= my { 2 } else { 3 };
            for (x, &l) in row.iter().enumerate() {
                note(l, edge, x);
            }
            if y <= my && y + my + 1 >= h {
                for (x, &l) in row.iter().enumerate() {
                    note(l, 3, x);
                }
            }
        }
    }
    span.iter().map(|s| s.map(|(a, b)| if a == usize::MAX { 0 } else { b - a + 1 })).collect()
}

/// Groups of pieces that stand side by side: pieces whose column ranges overlap or nearly
/// touch (a gap under a tenth of the height) are one group; groups at least half as tall as
/// the whole (`height`) are counted.
fn side_by_side(pieces: &[&Component], height: usize) -> usize {
    let mut spans: Vec<(usize, usize, usize, usize)> = pieces.iter().map(|c| (c.x0, c.x1, c.y0, c.y1)).collect();
    spans.sort_unstable();
    let mut groups: Vec<(usize, usize, usize, usize)> = Vec::new();
    for s in spans {
        match groups.last_mut() {
            Some(g) if s.0 <= g.1 + height / 10 + 1 => *g = (g.0, g.1.max(s.1), g.2.min(s.2), g.3.max(s.3)),
            _ => groups.push(s),
        }
    }
    groups.iter().filter(|g| 2 * (g.3 - g.2 + 1) >= height).count()
}

/// The stroke width of an ink patch in its own pixels: `2·area/perimeter` of the ink at or
/// above half strength (a band `w` wide and `L` long has area `wL` and `2L` edge pixels; a
/// one-pixel line measures 2, the estimator's floor).
pub fn stroke_width(ink: &Gray) -> f32 {
    let (w, h) = (ink.width, ink.height);
    let on = |x: usize, y: usize| ink.pixels[y * w + x] >= 128;
    let (mut area, mut edge) = (0usize, 0usize);
    for y in 0..h {
        for x in 0..w {
            if !on(x, y) {
                continue;
            }
            area += 1;
            if x == 0 || y == 0 || x + 1 == w || y + 1 == h || !on(x - 1, y) || !on(x + 1, y) || !on(x, y - 1) || !on(x, y + 1) {
                edge += 1;
            }
        }
    }
    if edge == 0 {
        return 0.0;
    }
    2.0 * area as f32 / edge as f32
}

/// Brings the strokes of an ink patch to MNIST's width when they are far off it: `width` is
/// the patch's stroke width at MNIST's scale ([`FoundDigit::stroke_width`]). Under
/// [`STROKE_THIN`], the ink is redrawn at a scale where its strokes are about 2.5 pixels wide,
/// binarised at half strength and dilated (a Euclidean disk, imageproc's distance-transform
/// dilation) to [`STROKE_TARGET`]; over [`STROKE_THICK`], eroded to [`STROKE_TARGET_THICK`].
/// Binary strokes are what MNIST was made from (NIST's bilevel scans, anti-aliased by the
/// fitting into 20×20 that follows). Anything else comes back as it is.
pub fn normalise_stroke(ink: &Gray, width: f32) -> Gray {
    let long = ink.width.max(ink.height);
    if width.is_nan() || width <= 0.0 || long < 8 || (STROKE_THIN..=STROKE_THICK).contains(&width) {
        return ink.clone();
    }
    let native = width * long as f32 / BOX as f32; // stroke width in the patch's pixels
                                                   // A scale where the strokes are about 2.5 pixels wide (thin) or the patch at most 400
                                                   // pixels long (thick), never more than 1000 pixels long.
    let f = if width < STROKE_THIN { 2.5 / native.max(0.5) } else { (400.0 / long as f32).min(1.0) };
    let f = f.min(1000.0 / long as f32);
    let (sw, sh) = (((ink.width as f32 * f).round() as usize).max(1), ((ink.height as f32 * f).round() as usize).max(1));
    let src: Vec<f32> = ink.pixels.iter().map(|&p| p as f32).collect();
    let scaled = resample(&src, ink.width, ink.height, sw, sh);
    let peak = scaled.iter().copied().fold(0f32, f32::max);
    if peak <= 0.0 {
        return ink.clone();
    }
    // Margin so a dilation has room.
    let at_scale = native * f;
    let target = if width < STROKE_THIN { STROKE_TARGET } else { STROKE_TARGET_THICK } * sw.max(sh) as f32 / BOX as f32;
    let radius = ((target - at_scale).abs() / 2.0).round().clamp(0.0, 250.0) as usize;
    let pad = if width < STROKE_THIN { radius + 1 } else { 0 };
    let (pw, ph) = (sw + 2 * pad, sh + 2 * pad);
    let mut bin = image::GrayImage::new(pw as u32, ph as u32);
    for y in 0..sh {
        for x in 0..sw {
            if scaled[y * sw + x] >= 0.5 * peak.min(255.0) {
                bin.put_pixel((x + pad) as u32, (y + pad) as u32, image::Luma([255]));
            }
        }
    }
    if radius > 0 {
        let norm = imageproc::distance_transform::Norm::L2;
        if width < STROKE_THIN {
            imageproc::morphology::dilate_mut(&mut bin, norm, radius as u8);
        } else {
            let eroded = imageproc::morphology::erode(&bin, norm, radius as u8);
            // Erosion must not erase the digit: keep the original when it would.
            if eroded.pixels().any(|p| p.0[0] > 0) {
                bin = eroded;
            }
        }
    }
    Gray { width: pw, height: ph, pixels: bin.into_raw() }
}

/// An ink patch (0 = background … 255 = ink), already cleaned of specks → 28×28, as MNIST
/// was made: crop to the non-zero pixels; scale so the longer side is 20 pixels, keeping the
/// aspect ratio (area-averaging when shrinking, bilinear when enlarging; the shorter side is
/// at least 1 pixel); stretch so the brightest pixel is 255; then place it in the 28×28 field
/// shifted by whole pixels so its centre of mass `(Σ v·r / Σ v, Σ v·c / Σ v)` lands on
/// pixel (14, 14) as MNIST's does, rounding half-way shifts towards the field's top-left.
/// Ink pushed past the field's edge by the shift is cut off, as in MNIST. All-zero ink is "no digit found".
pub fn ink_to_mnist(ink: &Gray) -> Result<Digit> {
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
pub(crate) fn place_by_mass(img: &[f32], dw: usize, dh: usize) -> Digit {
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
    Digit(out)
}

#[cfg(test)]
mod tests {
    //! Synthetic photos are drawn from real MNIST test digits, so "close to the original" has
    //! a measured meaning. Reference numbers (`measure_mnist`, MNIST test set): the Pearson
    //! correlation between two different digits of the same class has median 0.43 and 99th
    //! percentile 0.87; between digits of different classes, 99.9th percentile 0.70; an MNIST
    //! digit shifted by one pixel correlates with itself at median 0.80 (1st percentile 0.54).
    //! `ink_to_mnist` maps every MNIST digit to itself (correlation 1.000 at the 0.1th
    //! percentile): MNIST is a fixed point of the last step.
    use super::*;
    use crate::data::render::{check, corr, corr_aligned, mnist_test, Canvas};
    use crate::data::Dataset;
    use crate::init::Rng;
    use crate::vision::{decode_luma, ink_map};

    fn err_text<T>(r: Result<T>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    /// On a 400×300 ink map: a band 10 pixels deep along the bottom edge is a border bar; a
    /// thin outline 250×160 (a drawing) whose tail touches the right edge at one point is not
    /// (its box is over half the photo's height, and it is thin for its length: both once made
    /// it a bar, and the drawing's eye was taken for the digit); a thin diagonal line from one
    /// edge to another, 100 pixels each way, is.
    #[test]
    fn border_bars_run_along_the_edge_by_their_pixels() {
        let (w, h) = (400usize, 300usize);
        let mut ink = Gray::filled(w, h, 0);
        let mut set = |x: usize, y: usize| ink.pixels[y * w + x] = 255;
        for y in 290..300 {
            (0..w).for_each(|x| set(x, y)); // the band
        }
        for t in 0..2000 {
            // The outline: an ellipse centred at (250, 120), radii 125 × 80, 3 pixels thick…
            let a = t as f32 / 2000.0 * std::f32::consts::TAU;
            for d in 0..3 {
                let (x, y) = (250.0 + (125.0 - d as f32) * a.cos(), 120.0 + (80.0 - d as f32) * a.sin());
                set(x.round() as usize, y.round() as usize);
            }
        }
        for x in 375..w {
            set(x, 120); // …with a tail to the right edge
        }
        for k in 0..=100 {
            set(k, 100 - k); // a thin diagonal across the top-left corner, edge to edge
        }
        let (labels, comps) = components(&super::super::ink::InkLayer { ink, found: true });
        let along = along_edges(&labels, comps.len(), w, h);
        let bar_at = |x: usize, y: usize| {
            let k = labels[y * w + x] as usize - 1;
            is_border_bar(&comps[k], &along[k], w, h)
        };
        assert!(bar_at(5, 295), "the band along the bottom");
        assert!(!bar_at(125, 120), "the outline touching the right edge at its tail");
        assert_eq!(along[labels[120 * w + 125] as usize - 1][1], 1, "the tail meets the right edge at one row");
        assert!(bar_at(50, 50), "the thin diagonal from the left edge to the top");
    }

    /// A photo of a 1 (a bar 6×120 pixels) with a blob a third its size 150 pixels away: on
    /// clean paper the blob joins (a drawing's part: two pieces), ringed by a dozen specks (a
    /// clump in a speckled band of table) it does not, and the 1 is found alone.
    #[test]
    fn a_far_piece_in_a_speckle_field_does_not_join_the_digit() {
        let photo = |specks: bool| {
            let (w, h) = (400usize, 300usize);
            let mut img = Gray::filled(w, h, 220);
            let mut ink = |x0: usize, y0: usize, x1: usize, y1: usize| {
                for y in y0..y1 {
                    img.pixels[y * w + x0..y * w + x1].fill(40);
                }
            };
            ink(150, 90, 156, 210); // the 1
            ink(306, 60, 322, 76); // the blob, 16×16
            if specks {
                // 2×2 specks on a square ring 4 pixels outside the blob, 8 pixels apart.
                for k in 0..3 {
                    let t = 302 + 8 * k;
                    for (x, y) in [(t, 54), (t + 4, 80), (300, 56 + 8 * k), (326, 58 + 8 * k)] {
                        ink(x, y, x + 2, y + 2);
                    }
                }
            }
            img
        };
        let clean = find_digit(&photo(false)).unwrap();
        assert_eq!(clean.pieces, 2, "the blob on clean paper joins");
        let speckled = find_digit(&photo(true)).unwrap();
        assert_eq!(speckled.pieces, 1, "the blob among specks stays out");
        assert!(speckled.aspect < 0.2, "the digit is the 1 alone: aspect {}", speckled.aspect);
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
        // The same at a phone photo's size, where a photo without ink is searched again for a
        // faint fine pen (`ink::hysteresis_faint`): still nothing.
        for seed in 0..6 {
            let mut c = Canvas::paper(1000, 750, rng.uniform(150.0, 240.0), rng.uniform(0.0, 60.0));
            c.noise(rng.uniform(1.0, 30.0), &mut rng);
            let g = decode_luma(&c.jpeg(60), "blank.jpg").unwrap();
            assert_eq!(err_text(to_mnist(&g)), no_digit().to_string(), "large paper {seed}");
        }
        // A single dark pixel (dust) is not a digit.
        let mut dust = Gray::filled(300, 300, 230);
        dust.pixels[150 * 300 + 150] = 20;
        assert_eq!(err_text(to_mnist(&dust)), no_digit().to_string());
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
                if d.labels[i] == d.labels[j] {
                    same.push(c)
                } else {
                    diff.push(c)
                }
            }
        }
        println!("same class: median {:.2}, p99 {:.2}", pct(&mut same, 0.5), pct(&mut same, 0.99));
        println!("different classes: p99 {:.2}, p99.9 {:.2}", pct(&mut diff, 0.99), pct(&mut diff, 0.999));
    }
}
