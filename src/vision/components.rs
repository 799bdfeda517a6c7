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
