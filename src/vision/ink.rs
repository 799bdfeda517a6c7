//! Step 2 of the photo pipeline: luminance → ink (0 = background, 255 = full ink): polarity,
//! uneven light flattened, Otsu's threshold keeping soft stroke edges (see the
//! [module map](super)).

use super::gray::{to_byte, Gray};

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

/// Otsu's threshold of a 256-bin histogram: the `t` maximising the between-class variance
/// `ω₀ω₁(μ₀ − μ₁)²` of the classes `≤ t` and `> t`. Among equal maxima the middle one is
/// taken. `None` when all values fall in one bin (nothing to separate).
pub(crate) fn otsu(hist: &[u64; 256]) -> Option<usize> {
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

/// The 256-bin histogram of `values` rounded to grey levels ([`to_byte`]).
pub(crate) fn histogram(values: &[f32]) -> [u64; 256] {
    bin_counts(values, |v| to_byte(v) as usize)
}

/// How many of `values` fall in each of `N` bins (`bin` must give an index below `N`).
/// Counted into four partial histograms, a value apiece in turn, and added: neighbouring
/// pixels mostly fall in the same bin, and with one running count each increment waits on
/// the one before (the histograms were a third of the global flattening).
pub(crate) fn bin_counts<T: Copy, const N: usize>(values: &[T], bin: impl Fn(T) -> usize) -> [u64; N] {
    let mut part = [[0u64; N]; 4];
    let mut quads = values.chunks_exact(4);
    for q in &mut quads {
        for (p, &v) in part.iter_mut().zip(q) {
            p[bin(v)] += 1;
        }
    }
    for &v in quads.remainder() {
        part[0][bin(v)] += 1;
    }
    std::array::from_fn(|b| part.iter().map(|p| p[b]).sum())
}

/// Median of a border ring `max(1, min(w, h)/20)` pixels thick: the paper's grey level around a
/// photographed digit (what decides the ink's polarity when nothing else does, and what the
/// corners of a turned photo are filled with: `angle`'s extra looks and `deskew`'s output).
pub fn border_median(img: &Gray) -> u8 {
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
pub(crate) fn fit_background(d: &[f32], w: usize, h: usize, is_bg: impl Fn(usize) -> bool) -> Option<Vec<f64>> {
    let step = (((w * h) as f64 / 250_000.0).sqrt().floor() as usize).max(1);
    // AᵀA's entries are sums of u^a·v^b (a, b ≤ 4) and Aᵀb's of u^a·v^b·d (a, b ≤ 2), and v
    // is fixed along a row: each row's background samples are summed into the moments Σu^a
    // and Σu^a·d, and the row adds v^b times them (eight sums a sample, not the 42 products
    // of φφᵀ and φ·d).
    let us: Vec<f64> = (0..w).step_by(step).map(|x| (2 * x + 1) as f64 / w as f64 - 1.0).collect();
    let mut ata = [[0f64; 6]; 6];
    let mut atb = [0f64; 6];
    let mut n = 0usize;
    for y in (0..h).step_by(step) {
        let v = (2 * y + 1) as f64 / h as f64 - 1.0;
        let (mut su, mut sd) = ([0f64; 5], [0f64; 3]);
        for (k, x) in (0..w).step_by(step).enumerate() {
            let i = y * w + x;
            if is_bg(i) {
                let (u, di) = (us[k], d[i] as f64);
                let u2 = u * u;
                su[0] += 1.0;
                su[1] += u;
                su[2] += u2;
                su[3] += u2 * u;
                su[4] += u2 * u2;
                sd[0] += di;
                sd[1] += u * di;
                sd[2] += u2 * di;
                n += 1;
            }
        }
        add_row_moments(&su, &sd, v, &mut ata, &mut atb);
    }
    if n == 0 {
        return None;
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

/// The exponents `(a, b)` of `u^a·v^b` in `φ = (1, u, v, u², uv, v²)`.
const PHI_POWERS: [(usize, usize); 6] = [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)];

/// `AᵀA += Σ φφᵀ` and `Aᵀb += Σ φ·d` over one row's samples at height `v`, from their
/// moments `su[a] = Σ u^a` (a ≤ 4) and `sd[a] = Σ u^a·d` (a ≤ 2). `AᵀA` stays exactly
/// symmetric (entry `(r, c)` and `(c, r)` are the same product).
#[allow(clippy::needless_range_loop)] // matrix code reads best with its indices
fn add_row_moments(su: &[f64; 5], sd: &[f64; 3], v: f64, ata: &mut [[f64; 6]; 6], atb: &mut [f64; 6]) {
    let vp = [1.0, v, v * v, v * v * v, v * v * v * v];
    for (r, &(ar, br)) in PHI_POWERS.iter().enumerate() {
        for (c, &(ac, bc)) in PHI_POWERS.iter().enumerate() {
            ata[r][c] += su[ar + ac] * vp[br + bc];
        }
        atb[r] += sd[ar] * vp[br];
    }
}

/// Solves the leading `k×k` block of `a x = b` by Gaussian elimination with partial pivoting;
/// `None` when a pivot is negligible against the diagonal (singular or nearly so).
#[allow(clippy::needless_range_loop)] // matrix code reads best with its indices
pub(crate) fn solve(a: &[[f64; 6]; 6], b: &[f64; 6], k: usize) -> Option<Vec<f64>> {
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
pub(crate) fn subtract_background(d: &[f32], w: usize, h: usize, coef: &[f64], f: &mut [f32]) {
    let c = |k: usize| coef.get(k).copied().unwrap_or(0.0);
    let us: Vec<f64> = (0..w).map(|x| (2 * x + 1) as f64 / w as f64 - 1.0).collect();
    for y in 0..h {
        let v = (2 * y + 1) as f64 / h as f64 - 1.0;
        // Along a row, B = p₀ + p₁u + p₂u².
        let (p0, p1, p2) = (c(0) + c(2) * v + c(5) * v * v, c(1) + c(4) * v, c(3));
        for ((fi, &di), &u) in f[y * w..(y + 1) * w].iter_mut().zip(&d[y * w..(y + 1) * w]).zip(&us) {
            let b = p0 + (p1 + p2 * u) * u;
            *fi = di - b.clamp(0.0, 255.0) as f32;
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

/// The ink strength `F` (polarity applied, local paper level divided out), Otsu's threshold
/// `t` on it (`F > t + ½` is ink), and the class statistics: background median `mu0` and
/// robust deviation `sigma0`, and `contrast = m₁ − μ₀`.
pub(crate) struct Flattened {
    /// Dark ink on light paper (else light on dark).
    dark: bool,
    f: Vec<f32>,
    t: f32,
    mu0: f32,
    sigma0: f32,
    contrast: f32,
}

/// Smallest side of the windows over which the paper's local level is taken (pixels).
pub const MIN_PAPER_WINDOW: usize = 15;

/// The narrow paper window is this fraction of the image's shorter side: wider than a pen's
/// stroke on a photo of a sheet, narrow enough to follow a shadow's edge.
pub const NARROW_WINDOW_FRACTION: f32 = 1.0 / 16.0;

/// The wide paper window is this fraction of the shorter side (at least 25 pixels): wider
/// than any stroke (a marker's on a tight crop, a brush's on a canvas).
pub const WIDE_WINDOW_FRACTION: f32 = 0.25;

/// One polarity's top-hat must carry this many times the other's ink for the decision to be
/// taken from the top-hats; otherwise the border decides (see `dark_ink`). The fine window's;
/// the coarse one's is [`COARSE_POLARITY_RATIO`].
pub const POLARITY_RATIO: f64 = 3.0;

/// The coarse top-hat window's [`POLARITY_RATIO`]: there a marker's strokes fit inside the
/// window and the gaps between them are light features about as narrow, so the right polarity
/// wins by less; and the coarse window is looked at only when the fine one did not decide,
/// where the alternative is the border's polarity, which a shadow along the border turns.
/// Measured on `photo_validation`'s photos at 1000 px: 3 → 1.5 read shadow 35 → 37 of the
/// first 40 and 67 → 68 of 80 fresh ones (k = 40–119), border band 72 → 73 of 80 fresh; no
/// other kind, real-dev or the synthetic benchmark moved.
pub const COARSE_POLARITY_RATIO: f64 = 1.5;

/// The narrow and wide paper windows for an image of `w × h` (odd sides, at most the longer
/// side).
pub(crate) fn paper_windows(w: usize, h: usize) -> (usize, usize) {
    let side = |fraction: f32, min: usize| (((w.min(h) as f32 * fraction) as usize).max(min).min(w.max(h)) | 1).max(1);
    (side(NARROW_WINDOW_FRACTION, MIN_PAPER_WINDOW), side(WIDE_WINDOW_FRACTION, 25))
}

/// The ink as the fraction of the paper's light it takes away, `F = 255·(1 − P/B)`, `B` the
/// paper's level: the closing over `k × k` of `P` smoothed by a 3×3 box (so one bright speck
/// of grain does not lift the level of a whole window).
fn ink_fraction(p: &[f32], smooth: &[f32], w: usize, h: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
    let b = closing_edge_replicated(smooth, w, h, k);
    (p.iter().zip(&b).map(|(&p, &b)| 255.0 * (1.0 - p / b.max(1.0)).max(0.0)).collect(), b)
}

/// 3×3 box mean, edges clamped.
fn box3(src: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (mut sum, mut n) = (0f32, 0f32);
            for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    sum += src[yy * w + xx];
                    n += 1.0;
                }
            }
            out[y * w + x] = sum / n;
        }
    }
    out
}

/// Sliding-window maximum (`max = true`) or minimum over a `k × k` square (clipped at the
/// image's edges), separably, rows then columns. Written here rather than taken from
/// imageproc's `grayscale_dilate`/`grayscale_erode`, which visit every mask element at every
/// pixel (O(n·k²)): the paper window is hundreds of pixels wide on a phone photo, and a
/// monotone deque makes each pass O(n) whatever `k`.
pub(crate) fn window_extreme(src: &[f32], w: usize, h: usize, k: usize, max: bool) -> Vec<f32> {
    let r = k / 2;
    let better = |a: f32, b: f32| if max { a >= b } else { a <= b };
    // One line of `n` values at stride `step` from `start`, into `out` at the same places.
    let run = |src: &[f32], out: &mut [f32], start: usize, step: usize, n: usize, deque: &mut std::collections::VecDeque<usize>| {
        deque.clear();
        let at = |i: usize| src[start + i * step];
        let mut next = 0; // the next index to enter the window
        for i in 0..n {
            let hi = (i + r).min(n - 1);
            while next <= hi {
                while deque.back().is_some_and(|&j| better(at(next), at(j))) {
                    deque.pop_back();
                }
                deque.push_back(next);
                next += 1;
            }
            while deque.front().is_some_and(|&j| j + r < i) {
                deque.pop_front();
            }
            out[start + i * step] = at(*deque.front().expect("the window holds i"));
        }
    };
    let mut deque = std::collections::VecDeque::new();
    let mut rows = vec![0f32; w * h];
    for y in 0..h {
        run(src, &mut rows, y * w, 1, w, &mut deque);
    }
    let mut out = vec![0f32; w * h];
    for x in 0..w {
        run(&rows, &mut out, x, w, h, &mut deque);
    }
    out
}

/// Morphological closing (maximum, then minimum, over `k × k`): the image with every dark
/// feature narrower than the window filled in by its surroundings — for dark ink on paper,
/// the paper's level under the ink, shadows and gradients included.
pub(crate) fn closing(src: &[f32], w: usize, h: usize, k: usize) -> Vec<f32> {
    window_extreme(&window_extreme(src, w, h, k, true), w, h, k, false)
}

/// [`closing`] of the image extended beyond its edges by repeating its edge pixels, cropped
/// back: the paper's level under a shadow that reaches the photo's edge. With windows clipped
/// at the edges, a strip of shadow between a lit area and the edge that is narrower than half
/// the window is filled in by the lit area (no pixel of the strip survives the maximum, and
/// the minimum has none beyond the edge to bring it back), so the strip's corner became a
/// wedge of "ink" beside the digit; extended, the shadow runs on past the edge and keeps its
/// level. A stroke crossing the edge stays a narrow dark feature and is filled in as before.
pub(crate) fn closing_edge_replicated(src: &[f32], w: usize, h: usize, k: usize) -> Vec<f32> {
    edge_replicated(src, w, h, k, closing)
}

/// The opening (minimum, then maximum, over `k × k`: every light feature narrower than the
/// window removed) of the image extended beyond its edges by repeating its edge pixels, as
/// [`closing_edge_replicated`] does for the closing: a strip of lit paper between a shadow and
/// the photo's edge is not a light feature.
pub(crate) fn opening_edge_replicated(src: &[f32], w: usize, h: usize, k: usize) -> Vec<f32> {
    edge_replicated(src, w, h, k, |p, pw, ph, k| window_extreme(&window_extreme(p, pw, ph, k, false), pw, ph, k, true))
}

/// `op` (a closing or an opening over `k × k`) of the image extended by half the window with
/// copies of its edge pixels, cropped back to the image.
fn edge_replicated(src: &[f32], w: usize, h: usize, k: usize, op: impl Fn(&[f32], usize, usize, usize) -> Vec<f32>) -> Vec<f32> {
    // Extending by half the window is as good as extending for ever: a clipped window reaching
    // past the extension sees only copies of an edge pixel it holds already.
    let r = k / 2;
    let (pw, ph) = (w + 2 * r, h + 2 * r);
    let mut padded = Vec::with_capacity(pw * ph);
    for y in 0..ph {
        let row = &src[y.saturating_sub(r).min(h - 1) * w..][..w];
        padded.extend(std::iter::repeat_n(row[0], r));
        padded.extend_from_slice(row);
        padded.extend(std::iter::repeat_n(row[w - 1], r));
    }
    let done = op(&padded, pw, ph, k);
    (0..h).flat_map(|y| done[(y + r) * pw + r..][..w].iter().copied()).collect()
}

/// A top-hat pixel counts as ink when it takes at least this fraction of its surroundings
/// light (paper grain and shading take far less; a pen or pencil stroke more).
pub const TOPHAT_INK: f32 = 0.3;

/// Polarity: true for dark ink on light paper. Ink is thin: in the right polarity it stands
/// out of its surroundings within a window a few strokes wide (a top-hat over windows of
/// 1/64 of the shorter side, at least 9 pixels, of the 3×3-smoothed image), while in the wrong
/// polarity only the narrow gaps between strokes do. Each polarity's ink is the sum of the
/// fractions of light its top-hat takes, over the pixels where that is at least
/// [`TOPHAT_INK`]. When one holds [`POLARITY_RATIO`] times the other's and at least 1/5000 of
/// the pixels' worth (a thin pen digit on a large photo holds about 1/2000), it decides;
/// otherwise (strokes too thick for the window, or no ink) the border does: a border lighter than Otsu's
/// threshold of the whole image is paper around dark ink. The border alone is fooled by a
/// shadow over half the sheet.
pub(crate) fn dark_ink(img: &Gray, l: &[f32]) -> Option<bool> {
    let t0 = otsu(&histogram(l))?;
    Some(tophat_polarity(img, l).unwrap_or(border_median(img) as usize > t0))
}

/// The coarser top-hat window of the ink polarity decision (`tophat_polarity`), as a fraction of the shorter side: wide
/// enough to span a marker's stroke on a phone photo, which the fine window (1/64) sits inside.
pub const COARSE_TOPHAT_FRACTION: f32 = 1.0 / 20.0;

/// The top-hats' polarity decision of [`dark_ink`]: `None` when they do not decide. The fine
/// window (1/64 of the shorter side, at least 9 pixels) is tried first; when it does not
/// decide (strokes wider than it: a marker), the coarse one ([`COARSE_TOPHAT_FRACTION`], at
/// least 25 pixels) is, and its decision stands only when the winning polarity's ink covers at
/// most [`MAX_GLOBAL_INK`] of the image (the cells of squared paper are bright features
/// narrower than the coarse window, and would otherwise be taken for light ink). Without it a
/// marker digit on a sheet with a dark band of table at the border was read in the border's
/// polarity: the sheet taken for ink.
pub(crate) fn tophat_polarity(img: &Gray, l: &[f32]) -> Option<bool> {
    tophat_polarity_with(img, l, TOPHAT_ENOUGH)
}

/// Least ink, as a share of the pixels, for a top-hat to decide the polarity (a thin pen digit
/// on a large photo holds about 1/2000).
pub const TOPHAT_ENOUGH: f64 = 1.0 / 5000.0;

/// Least ink share for the top-hats to decide when the global flattening found no ink at all on
/// a large photo (see `ink_layer`): a fine, faint pen digit a few hundredths of the photo tall
/// holds about 1/10000. Only there: elsewhere the lower bar lets paper texture beside a band or
/// under a shadow decide (measured: 294 → 285 of the 320 validation photos).
pub const FAINT_TOPHAT_ENOUGH: f64 = 1.0 / 20000.0;

/// [`tophat_polarity`] with the least ink share `enough`.
fn tophat_polarity_with(img: &Gray, l: &[f32], enough: f64) -> Option<bool> {
    let (w, h) = (img.width, img.height);
    let smooth = box3(l, w, h);
    let fine = ((w.min(h) / 64).max(9).min(w.max(h)) | 1).max(1);
    let coarse = (((w.min(h) as f32 * COARSE_TOPHAT_FRACTION) as usize).max(25).min(w.max(h)) | 1).max(1);
    tophat_polarity_at(&smooth, w, h, fine, 1.0, POLARITY_RATIO, enough).or_else(|| {
        if coarse > fine {
            tophat_polarity_at(&smooth, w, h, coarse, MAX_GLOBAL_INK, COARSE_POLARITY_RATIO, enough)
        } else {
            None
        }
    })
}

/// One window's top-hat polarity decision (see [`dark_ink`]) on the 3×3-smoothed luminance:
/// the polarity whose ink holds `ratio` times the other's; `None` also when the winning
/// polarity's ink pixels cover more than `max_cover` of the image.
fn tophat_polarity_at(smooth: &[f32], w: usize, h: usize, k: usize, max_cover: f32, ratio: f64, enough: f64) -> Option<bool> {
    // (Sum of the fractions of light taken, pixels counted) over the ink pixels.
    let ink =
        |fractions: &mut dyn Iterator<Item = f32>| -> (f64, usize) { fractions.filter(|&r| r >= TOPHAT_INK).fold((0.0, 0), |(s, n), r| (s + r as f64, n + 1)) };
    let closed = closing_edge_replicated(smooth, w, h, k);
    // The paper's level in each hypothesis is floored at 96 (under half of white): in the
    // wrong hypothesis the "paper" is the dark ink or board, and dividing by it would make
    // grain look like ink.
    let (dark, dark_n) = ink(&mut closed.iter().zip(smooth).map(|(c, v)| (c - v) / c.max(96.0)));
    let opened = opening_edge_replicated(smooth, w, h, k);
    let (light, light_n) = ink(&mut smooth.iter().zip(&opened).map(|(v, o)| (v - o) / (255.0 - o).max(96.0)));
    let enough = (w * h) as f64 * enough;
    let sparse = |n: usize| n as f32 <= max_cover * (w * h) as f32;
    if dark > ratio * light && dark > enough && sparse(dark_n) {
        Some(true)
    } else if light > ratio * dark && light > enough && sparse(light_n) {
        Some(false)
    } else {
        None
    }
}

/// The local flattening (module doc, step 2): polarity `dark`, the paper's local level divided
/// out, the paper's noise evened out by level when `even` (`even_out_noise`), and Otsu's
/// statistics. `None` when the image is of one value.
pub(crate) fn flatten_local(img: &Gray, l: &[f32], dark: bool, even: bool) -> Option<Flattened> {
    let (w, h) = (img.width, img.height);
    // Paper made light: P = L for dark ink, 255 − L for light ink.
    let p: Vec<f32> = if dark { l.to_vec() } else { l.iter().map(|v| 255.0 - v).collect() };
    // The paper's level B under each pixel, and the ink as the fraction of light it takes
    // away: a shadow dims paper and ink alike, so their ratio survives it. The narrow window
    // follows shadows; strokes wider than it vanish in it (the closing fills them in), so when
    // the wide window finds markedly more strong ink (taking at least half the light), the
    // strokes are thick and the wide window is used.
    let smooth = box3(&p, w, h);
    let (narrow, wide) = paper_windows(w, h);
    let strong = |f: &[f32]| f.iter().filter(|&&v| v >= 128.0).count();
    let (mut f, mut b) = ink_fraction(&p, &smooth, w, h, narrow);
    if wide > narrow {
        let (f_wide, b_wide) = ink_fraction(&p, &smooth, w, h, wide);
        if 2 * strong(&f_wide) > 3 * strong(&f) + 40 {
            f = f_wide;
            b = b_wide;
        }
    }
    let t = otsu(&histogram(&f))? as f32;
    let t = if even { even_out_noise(&mut f, &b, t).unwrap_or(t) } else { t };

    // Class statistics at T. Background: median μ₀ and robust deviation σ₀ = 1.4826·MAD of
    // F (the soft stroke edges that Otsu also puts in this class are too few to move a
    // median). Ink: median m₁.
    let mut paper_hist = [0u64; 256];
    let mut ink_hist = [0u64; 256];
    for &v in &f {
        if v > t + 0.5 {
            ink_hist[to_byte(v) as usize] += 1;
        } else {
            paper_hist[to_byte(v) as usize] += 1;
        }
    }
    let (med0, sigma0) = median_and_deviation(&paper_hist)?;
    let m1 = median_bin(&ink_hist)?;
    let mu0 = med0 as f32;
    Some(Flattened { dark, f, t, mu0, sigma0, contrast: m1 as f32 - mu0 })
}

/// The paper's level `B` is cut into this many bands of equal width when the local
/// flattening evens out the paper's noise (`even_out_noise`).
pub const NOISE_LEVELS: usize = 32;

/// A band of paper levels holding at least this many paper pixels has its own noise
/// statistics in `even_out_noise`; fewer (the edge of a shadow, the inside of a thick
/// stroke) are left as they are.
pub const MIN_NOISE_LEVEL_PIXELS: u64 = 500;

/// The local flattening's paper noise made the same all over the image, returning Otsu's
/// threshold of the result. Dividing by the paper's level `B` amplifies the camera's noise
/// where the paper is dark: in the shade of a shadow, `F`'s paper median and spread are several
/// times those of the lit paper, and Otsu's threshold of the whole image cut the shade into
/// thousands of specks, which joined the digit ("a drawing of 274 separate parts"). So the
/// paper pixels (`F ≤ t`) are grouped by their paper level ([`NOISE_LEVELS`] bands; a shadow
/// dims a whole region to about one level), each band's median `m` and robust deviation `s`
/// (1.4826·MAD, at least the whole paper's σ₀) taken, and every pixel of the band mapped to
/// `μ₀ + (F − m)·σ₀/s` — the whole paper's median and deviation — so the shade's noise stands
/// as far below the threshold as the lit paper's, and ink keeps its place relative to the
/// noise around it (a dark stroke in the shade stays far above it).
///
/// Validation photos (`photo_validation`, the built-in through `predict`): shadow 183 → 187 of
/// 200 and band 191 → 191 (one gained, one lost) of the first 1,600, all 1,548 → 1,552; shadow
/// 73 → 75 of 80 fresh ones (k = 200–279), the rest of those unchanged; cartoon animals said
/// "not one digit" 197 → 198 of 200; the real development photos read the same. Grouping
/// by square tiles of the narrow window instead gained 3 shadows but kept specks along the
/// shadow's edge, where a tile holds both sides; bands with too few pixels given the nearest
/// band's statistics lost 3 band photos (the darker middle of a thick marker's crossing, where
/// the narrow window's closing sits inside the stroke, took the table's statistics and went
/// black); evening out the noise also when the global flattening found no ink at all (the
/// faint fine pens) lost 2 fresh fine-pen photos.
fn even_out_noise(f: &mut [f32], b: &[f32], t: f32) -> Option<f32> {
    let level = |b: f32| (to_byte(b) as usize * NOISE_LEVELS / 256).min(NOISE_LEVELS - 1);
    let mut hists = vec![[0u64; 256]; NOISE_LEVELS];
    for (&v, &b) in f.iter().zip(b) {
        if v <= t + 0.5 {
            hists[level(b)][to_byte(v) as usize] += 1;
        }
    }
    let all: [u64; 256] = std::array::from_fn(|bin| hists.iter().map(|h| h[bin]).sum());
    let (m0, s0) = median_and_deviation(&all)?;
    let (mu0, sigma0) = (m0 as f32, s0.max(1.0));
    let stats: Vec<Option<(f32, f32)>> = hists
        .iter()
        .map(|h| if h.iter().sum::<u64>() >= MIN_NOISE_LEVEL_PIXELS { median_and_deviation(h).map(|(m, s)| (m as f32, s.max(sigma0))) } else { None })
        .collect();
    for (v, &b) in f.iter_mut().zip(b) {
        if let Some((m, s)) = stats[level(b)] {
            *v = (mu0 + (*v - m) * sigma0 / s).max(0.0);
        }
    }
    Some(otsu(&histogram(f))? as f32)
}

/// The global flattening (module doc, step 2): polarity by the border, a quadratic surface
/// fitted to the background and subtracted, and Otsu's statistics. `None` when the image is
/// of one value.
pub(crate) fn flatten_global(img: &Gray) -> Option<Flattened> {
    let (w, h) = (img.width, img.height);
    // Polarity.
    let t0 = otsu(&bin_counts(&img.pixels, |p| p as usize))?;
    let dark_ink = border_median(img) as usize > t0;
    let d: Vec<f32> = img.pixels.iter().map(|&p| if dark_ink { 255.0 - p as f32 } else { p as f32 }).collect();
    let t_d = if dark_ink { 254 - t0 } else { t0 }; // `L ≤ t0` ⇔ `D ≥ 255 − t0` ⇔ `D > 254 − t0`.

    // Background flattening: fit on D ≤ T, threshold F, refit on F ≤ T'.
    let mut f = d.clone();
    let mut t = t_d as f32;
    for _ in 0..2 {
        let Some(coef) = fit_background(&d, w, h, |i| f[i] <= t + 0.5) else { break };
        subtract_background(&d, w, h, &coef, &mut f);
        t = otsu(&histogram(&f))? as f32;
    }

    // Class statistics at T. Background: median μ₀ and robust deviation σ₀ = 1.4826·MAD of
    // the unclipped F (paper noise is symmetric about the fitted surface, and the soft stroke
    // edges that Otsu also puts in this class are too few to move a median). Ink: median m₁.
    // One histogram of 767 bins: the paper's F rounded and clamped to ±255, offset by 255
    // (bins 0–510; rounding is symmetric about 0), then the ink's grey levels (511–766).
    let both: [u64; 767] = bin_counts(&f, |v| {
        if v > t + 0.5 {
            511 + to_byte(v) as usize
        } else if v < 0.0 {
            255 - to_byte(-v) as usize
        } else {
            255 + to_byte(v) as usize
        }
    });
    let (paper_hist, ink_hist) = both.split_at(511);
    let (med0, sigma0) = median_and_deviation(paper_hist)?;
    let m1 = median_bin(ink_hist)?;
    let mu0 = med0 as f32 - 255.0;
    Some(Flattened { dark: dark_ink, f, t, mu0, sigma0, contrast: m1 as f32 - mu0 })
}

/// The global flattening's ink may cover at most this fraction of the image; more is shading
/// taken for ink (a shadow over part of the sheet), and the local flattening is used.
pub const MAX_GLOBAL_INK: f32 = 0.25;

/// Global ink over more than this fraction of a photo that also runs along its border for
/// more than 1/8 of the shorter side (see `border_run`) is a shadow, not ink: a digit on a
/// sheet touches the border in a few places at most, grid lines cross it for a pixel or two,
/// and a band of table beyond the sheet's edge (which the global flattening handles) covers
/// less of the photo.
pub const MAX_GLOBAL_INK_AT_BORDER: f32 = 0.12;

/// The longest stretch along the image's border (walked round it, in pixels) where the ink
/// reaches through the outer 1 % of the image (at least 2 pixels deep).
fn border_run(ink: &Gray) -> usize {
    let (w, h) = (ink.width, ink.height);
    let (mx, my) = ((w / 100).max(2).min(w), (h / 100).max(2).min(h));
    let on = |x: usize, y: usize| ink.pixels[y * w + x] > 0;
    let mut through = Vec::with_capacity(2 * (w + h));
    through.extend((0..w).map(|x| (0..my).all(|y| on(x, y))));
    through.extend((0..h).map(|y| (0..mx).all(|d| on(w - 1 - d, y))));
    through.extend((0..w).rev().map(|x| (0..my).all(|d| on(x, h - 1 - d))));
    through.extend((0..h).rev().map(|y| (0..mx).all(|x| on(x, y))));
    // Longest circular run: walk twice round.
    let (mut best, mut run) = (0, 0);
    for &t in through.iter().chain(&through) {
        run = if t { run + 1 } else { 0 };
        best = best.max(run);
    }
    best.min(through.len())
}

/// The shorter side from which a photo where the global flattening finds no ink is looked at
/// again with the local one (see `ink_layer`).
pub const MIN_SIDE_FOR_FAINT_INK: usize = 400;

/// [`ink_map`], and whether there was any ink; see [`InkLayer`]. The global flattening (a
/// quadratic background, the border's polarity) is used unless it finds no ink, ink over
/// more than [`MAX_GLOBAL_INK`] of a photo, or over more than [`MAX_GLOBAL_INK_AT_BORDER`]
/// of it running along its border (shading taken for ink, or the paper itself when a shadow
/// on the border turned the polarity); then the local one (the paper's level under
/// each pixel, the top-hats' polarity) is — what a strong shadow over part of a sheet needs;
/// after no ink at all, only on a photo at least [`MIN_SIDE_FOR_FAINT_INK`] a side and when
/// the top-hats decide the polarity. On a photo at least that large, the local flattening's
/// ink goes through the faint-ink search (`hysteresis_faint`) whenever Otsu's threshold fails
/// the no-ink rules: a small, thin pen digit under a shadow is as small a share of the photo
/// as a faint one on plain paper (on 80 fresh shadow validation photos, 68 → 74 read right;
/// no blank page of 165 gained a confident digit).
/// Images under 64 pixels a side keep the global.
pub(crate) fn ink_layer(img: &Gray) -> InkLayer {
    let (w, h) = (img.width, img.height);
    let none = || InkLayer { ink: Gray { width: w, height: h, pixels: vec![0; img.pixels.len()] }, found: false };
    if img.is_degenerate() {
        return none();
    }
    let global = flatten_global(img).and_then(|fl| Some((fl.dark, hysteresis(fl, w, h)?)));
    if w.min(h) < 64 {
        return global.map(|g| g.1).unwrap_or_else(none);
    }
    if let Some((_, layer)) = &global {
        let covered = layer.ink.pixels.iter().filter(|&&v| v > 0).count() as f32 / (w * h) as f32;
        let shadow_at_border = covered > MAX_GLOBAL_INK_AT_BORDER && border_run(&layer.ink) > w.min(h) / 8;
        if covered <= MAX_GLOBAL_INK && !shadow_at_border {
            return global.map(|g| g.1).unwrap_or_else(none);
        }
    }
    let l: Vec<f32> = img.pixels.iter().map(|&p| p as f32).collect();
    // When the global flattening found no ink at all, the local one is tried only on a photo
    // at least [`MIN_SIDE_FOR_FAINT_INK`] pixels a side whose top-hats see thin ink of one
    // polarity: a fine pen under a shadow on a large phone photo, where the digit is a tiny
    // fraction of the pixels. On a small image of blank, noisy paper the top-hats' grain can
    // tip one way, and there is no digit.
    if global.is_none() && w.min(h) < MIN_SIDE_FOR_FAINT_INK {
        return none();
    }
    let faint = global.is_none();
    let dark = if faint { tophat_polarity_with(img, &l, FAINT_TOPHAT_ENOUGH) } else { dark_ink(img, &l) };
    let Some(dark) = dark else { return none() };
    let layer =
        flatten_local(img, &l, dark, !faint).and_then(|fl| if w.min(h) >= MIN_SIDE_FOR_FAINT_INK { hysteresis_faint(fl, w, h) } else { hysteresis(fl, w, h) });
    layer.unwrap_or_else(none)
}

/// A faint ink's threshold stands this many background deviations above the background.
pub const FAINT_INK_SIGMAS: f32 = 8.0;

/// [`hysteresis`] for the faint-ink search: when Otsu's threshold fails the no-ink rules
/// because the ink is too small a share of the photo for Otsu to split it from the paper
/// (Otsu then splits the paper's noise), the threshold is set [`FAINT_INK_SIGMAS`] background
/// deviations above the background instead, and the ink above it must again pass the no-ink
/// rules (contrast, signal to noise) and hold at least [`FAINT_TOPHAT_ENOUGH`] of the pixels.
/// When that fails, it is tried once more on `F` smoothed by a 3×3 box
/// (`smoothed_flattening`): on a large photo a faint thin pen's strokes are two or three
/// pixels wide, and the paper's noise above the threshold (its spread under-estimated by a
/// median of whole levels) was more ink than the digit's piece. Validation photos at 1000 px:
/// fine pen 69 → 74 of 80 fresh ones, 307 → 309 of the first 320; the 165 blank pages and the
/// non-digits answered as before.
fn hysteresis_faint(fl: Flattened, w: usize, h: usize) -> Option<InkLayer> {
    if fl.contrast >= MIN_INK_CONTRAST && fl.contrast >= MIN_INK_SNR * fl.sigma0 {
        return hysteresis(fl, w, h);
    }
    faint_threshold(&fl, w, h).or_else(|| faint_threshold(&smoothed_flattening(&fl, w, h)?, w, h))
}

/// `fl` with `F` smoothed by a 3×3 box and the paper's statistics taken again over all the
/// pixels (a faint digit is a tiny share of them): single-pixel noise shrinks to a third of its
/// spread, a stroke two or three pixels wide keeps most of its level.
fn smoothed_flattening(fl: &Flattened, w: usize, h: usize) -> Option<Flattened> {
    let f = box3(&fl.f, w, h);
    let (med0, sigma0) = median_and_deviation(&histogram(&f))?;
    Some(Flattened { dark: fl.dark, f, t: fl.t, mu0: med0 as f32, sigma0, contrast: 0.0 })
}

/// The faint-ink threshold of [`hysteresis_faint`] on `fl`.
fn faint_threshold(fl: &Flattened, w: usize, h: usize) -> Option<InkLayer> {
    let t = (fl.mu0 + FAINT_INK_SIGMAS * fl.sigma0.max(1.0)).min(254.0);
    let mut ink_hist = [0u64; 256];
    for &v in &fl.f {
        if v > t + 0.5 {
            ink_hist[to_byte(v) as usize] += 1;
        }
    }
    let n: u64 = ink_hist.iter().sum();
    if (n as f64) < (w * h) as f64 * FAINT_TOPHAT_ENOUGH {
        return None;
    }
    // Ink is strokes: most of it in one piece at least 1/40 of the shorter side long. Paper
    // texture and noise above the threshold are scattered specks.
    let above = InkLayer { ink: Gray { width: w, height: h, pixels: fl.f.iter().map(|&v| if v > t + 0.5 { 255 } else { 0 }).collect() }, found: true };
    let (_, pieces) = super::components::components(&above);
    // The first of the largest pieces (`max_by_key` keeps the last of equals, hence `rev`).
    let largest = pieces.iter().rev().max_by_key(|c| c.count)?;
    if 2 * largest.count < n as usize || largest.width().max(largest.height()) < w.min(h) / 40 {
        return None;
    }
    let m1 = median_bin(&ink_hist)? as f32;
    hysteresis(Flattened { dark: fl.dark, f: fl.f.clone(), t, mu0: fl.mu0, sigma0: fl.sigma0, contrast: m1 - fl.mu0 }, w, h)
}

/// Otsu's statistics → the ink map (module doc, step 2: the no-ink rules, then soft edges by
/// hysteresis); `None` when there is no ink.
fn hysteresis(fl: Flattened, w: usize, h: usize) -> Option<InkLayer> {
    let Flattened { f, t, mu0, sigma0, contrast, .. } = fl;
    if contrast < MIN_INK_CONTRAST || contrast < MIN_INK_SNR * sigma0 {
        return None;
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
    Some(InkLayer { ink: Gray { width: w, height: h, pixels: ink }, found: true })
}

/// The bin holding the median of a histogram, and the robust deviation about it,
/// `1.4826·MAD` in bins (the median of the bins' distances from it, scaled to a normal
/// distribution's σ); `None` when the histogram is empty.
fn median_and_deviation(hist: &[u64]) -> Option<(usize, f32)> {
    let med = median_bin(hist)?;
    let mut dev_hist = vec![0u64; hist.len()];
    for (b, &c) in hist.iter().enumerate() {
        dev_hist[b.abs_diff(med)] += c;
    }
    Some((med, 1.4826 * median_bin(&dev_hist).unwrap_or(0) as f32))
}

/// The bin holding the median of a histogram; `None` when it is empty.
pub(crate) fn median_bin(hist: &[u64]) -> Option<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::render::{mnist_test, Canvas};
    use crate::init::Rng;
    use crate::vision::decode_luma;

    /// A sheet half in shade (the paper's level 70 against 210, the camera's noise 6 grey
    /// levels): in `F` the shade's paper noise is nearly four times the lit paper's and stands
    /// higher, and Otsu's threshold of the whole image leaves thousands of its pixels
    /// above it. Evened out by paper level, the shade's noise falls as far below the threshold
    /// as the lit paper's (a handful of pixels above it), and a stroke in the shade stays ink.
    #[test]
    fn the_shade_s_noise_is_evened_out_and_its_ink_kept() {
        let (w, h) = (200, 100);
        let mut rng = Rng::new(7);
        let b: Vec<f32> = (0..w * h).map(|i| if i % w < w / 2 { 210.0 } else { 70.0 }).collect();
        let stroke = |i: usize| i % w >= 140 && i % w < 144 && i / w >= 20 && i / w < 80;
        let mut f: Vec<f32> = (0..w * h)
            .map(|i| {
                let (m, s) = if i % w < w / 2 { (6.0, 6.0) } else { (25.0, 22.0) };
                if stroke(i) {
                    170.0 + 8.0 * rng.normal()
                } else {
                    (m + s * rng.normal()).max(0.0)
                }
            })
            .collect();
        let shade_above = |f: &[f32], t: f32| (0..w * h).filter(|&i| i % w >= w / 2 && !stroke(i) && f[i] > t + 0.5).count();
        let t = otsu(&histogram(&f)).unwrap() as f32;
        let before = shade_above(&f, t);
        let t = even_out_noise(&mut f, &b, t).unwrap();
        let after = shade_above(&f, t);
        println!("shade pixels above the threshold: {before} before, {after} after");
        assert!(before > 1000, "{before} shade pixels above Otsu's threshold before");
        assert!(after < 20, "{after} shade pixels above the threshold after");
        assert!((0..w * h).filter(|&i| stroke(i)).all(|i| f[i] > t + 0.5), "the stroke in the shade is lost");
    }

    /// The normal equations summed by rows' moments equal φφᵀ and φ·d summed sample by
    /// sample (to rounding), `AᵀA` is exactly symmetric, and a quadratic background with
    /// holes (the ink left out) is recovered and subtracted to nothing.
    #[test]
    #[allow(clippy::needless_range_loop)]
    fn background_fit_by_moments() {
        let (w, h) = (37usize, 23usize);
        let coef = [90.0, -20.0, 15.0, 8.0, -6.0, 4.0];
        let d: Vec<f32> = (0..w * h)
            .map(|i| {
                let (u, v) = ((2 * (i % w) + 1) as f64 / w as f64 - 1.0, (2 * (i / w) + 1) as f64 / h as f64 - 1.0);
                (coef[0] + coef[1] * u + coef[2] * v + coef[3] * u * u + coef[4] * u * v + coef[5] * v * v) as f32
            })
            .collect();
        let ink = |i: usize| (i * 7919).is_multiple_of(5);
        let (mut ata, mut atb) = ([[0f64; 6]; 6], [0f64; 6]);
        for y in 0..h {
            let v = (2 * y + 1) as f64 / h as f64 - 1.0;
            let (mut su, mut sd) = ([0f64; 5], [0f64; 3]);
            let (mut naive_a, mut naive_b) = ([[0f64; 6]; 6], [0f64; 6]);
            for x in (0..w).filter(|&x| !ink(y * w + x)) {
                let (u, di) = ((2 * x + 1) as f64 / w as f64 - 1.0, d[y * w + x] as f64);
                let phi = [1.0, u, v, u * u, u * v, v * v];
                for r in 0..6 {
                    for c in 0..6 {
                        naive_a[r][c] += phi[r] * phi[c];
                    }
                    naive_b[r] += phi[r] * di;
                }
                for a in 0..5 {
                    su[a] += u.powi(a as i32);
                }
                for a in 0..3 {
                    sd[a] += u.powi(a as i32) * di;
                }
            }
            let (mut row_a, mut row_b) = ([[0f64; 6]; 6], [0f64; 6]);
            add_row_moments(&su, &sd, v, &mut row_a, &mut row_b);
            for r in 0..6 {
                for c in 0..6 {
                    assert!((row_a[r][c] - naive_a[r][c]).abs() <= 1e-9 * naive_a[0][0], "row {y} ({r}, {c})");
                    assert_eq!(row_a[r][c].to_bits(), row_a[c][r].to_bits());
                    ata[r][c] += row_a[r][c];
                }
                assert!((row_b[r] - naive_b[r]).abs() <= 1e-9 * naive_b[0].abs().max(1.0), "row {y} {r}");
                atb[r] += row_b[r];
            }
        }
        let fitted = fit_background(&d, w, h, |i| !ink(i)).expect("background samples");
        assert_eq!(fitted.len(), 6);
        for (got, want) in fitted.iter().zip(coef) {
            assert!((got - want).abs() < 1e-6, "{fitted:?}");
        }
        let mut f = vec![0f32; w * h];
        subtract_background(&d, w, h, &fitted, &mut f);
        assert!(f.iter().all(|v| v.abs() < 1e-3), "the background is subtracted to nothing");
        assert!(solve(&ata, &std::array::from_fn(|r| atb[r]), 6).is_some());
    }

    /// A shadow strip 6 pixels wide along the right edge (level 80 beside lit paper at 200),
    /// with a window of 21: clipped windows fill the strip in with the lit level (the wedge of
    /// "ink" under a shadow at the edge); the edge-replicated closing keeps its level. A dark
    /// stroke 3 pixels wide crossing the left edge is filled in by both.
    #[test]
    fn edge_replicated_closing_keeps_a_shadow_at_the_edge() {
        let (w, h) = (60usize, 40usize);
        let mut img = vec![200f32; w * h];
        for y in 0..h {
            for x in 0..w {
                if x >= w - 6 {
                    img[y * w + x] = 80.0;
                } else if (20..23).contains(&y) && x < 10 {
                    img[y * w + x] = 30.0;
                }
            }
        }
        let clipped = closing(&img, w, h, 21);
        let replicated = closing_edge_replicated(&img, w, h, 21);
        assert_eq!(clipped[10 * w + w - 2], 200.0, "clipped windows lift the strip to the lit level");
        assert_eq!(replicated[10 * w + w - 2], 80.0, "the strip keeps its own level");
        assert_eq!(replicated[10 * w + w - 7], 200.0, "the lit paper beside it keeps its level");
        assert_eq!((clipped[21 * w], replicated[21 * w]), (200.0, 200.0), "the stroke is filled in by both");
    }

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

    /// A marker's ring (strokes 28 pixels wide, wider than the fine top-hat window of 9) on a
    /// light sheet with a dark band of table along three sides of the photo: the border is
    /// dark, so the border's polarity takes the sheet for ink; the coarse top-hat sees the
    /// ring as dark ink, and the ink layer is the ring, not the sheet. (Before the coarse
    /// window, the sheet was the ink.)
    #[test]
    fn a_marker_digit_beside_a_dark_band_keeps_dark_ink() {
        let (w, h) = (600usize, 800usize);
        let mut pixels = vec![225u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 - 330.0, y as f32 - 400.0);
                let r = (dx * dx + dy * dy).sqrt();
                if x < 70 || y < 70 || y >= h - 70 {
                    pixels[y * w + x] = 60;
                } else if (r - 90.0).abs() <= 14.0 {
                    pixels[y * w + x] = 30;
                }
            }
        }
        let img = Gray { width: w, height: h, pixels };
        let l: Vec<f32> = img.pixels.iter().map(|&p| p as f32).collect();
        assert!(border_median(&img) < 100, "the border is the dark band");
        assert_eq!(tophat_polarity(&img, &l), Some(true));
        let layer = ink_layer(&img);
        assert!(layer.found);
        let at = |x: usize, y: usize| layer.ink.pixels[y * w + x];
        assert!(at(330 + 90, 400) > 0 && at(330, 400 - 90) > 0, "the ring's stroke is ink");
        assert_eq!(at(330, 400), 0, "the sheet inside the ring is paper");
        assert_eq!(at(500, 150), 0, "the sheet is paper");
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
            let fl = flatten_global(g).unwrap();
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
}
