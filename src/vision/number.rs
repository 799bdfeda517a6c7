//! Reading a handwritten number on a real document (a cheque amount, a postcode on a form):
//! the candidate digits of every plausible segmentation, and the best reading among them once
//! a classifier has scored each candidate. Recognition chooses the segmentation: touching
//! digits are cut where the classifier is surest of both halves, broken digits are joined where
//! the pieces read as one digit, and separators and dashes are read as marks, not digits.
//!
//! [`number_candidates`] (this floor: no network here):
//! 1. The ink map of [`crate::vision::ink_map`] (polarity, flattened background, Otsu's
//!    threshold with soft edges; photos longer than [`WORK_SIDE`] shrunk first). Printed
//!    background patterns (the fine wavy lines of a cheque) are lighter than the pen's ink and
//!    mostly fall below Otsu's threshold; what survives are short thin fragments, read as marks
//!    in step 5.
//! 2. Rules are erased: in every component wider than [`RULE_LENGTH`]` × H` (`H` the typical
//!    digit height, the median height of the components with at least a quarter of the largest
//!    one's pixels), each horizontal run of ink at least [`RULE_RUN`]` × H` long loses its
//!    pixels whose vertical run is at most [`RULE_THICKNESS`]` × H` thick (an underline, also
//!    where it touches the digits: the digit's stroke crossing it is thicker and stays); the
//!    same for vertical runs in components taller than [`RULE_LENGTH`]` × H` (a box's edge).
//!    Components and `H` are then found again.
//! 3. Lines: components at least `H/2` tall (or with a quarter of the largest one's pixels)
//!    are in one line when their rows overlap by at least [`LINE_OVERLAP`] of the shorter one's
//!    height, transitively (a slanted or uneven amount stays one line; two lines of digits do
//!    not overlap). Smaller components join the line whose rows are nearest, within `H`.
//! 4. Pieces: a component wider than [`CUT_WIDTH`]` × H` may be touching digits, and is cut
//!    at candidate places: the local minima of its column ink profile and the columns that
//!    divide it evenly into digits of [`TYPICAL_WIDTH`]` × H`, each refined to the top-to-bottom
//!    path of least ink nearby (a seam that follows the gap between leaning digits); cuts
//!    closer than [`CUT_SPACING`]` × H` keep the one crossing less ink. The pieces between cuts,
//!    and the uncut components, are ordered by their centre's column.
//! 5. Candidates: every run of up to [`MAX_GROUP`] consecutive pieces at most
//!    [`MAX_DIGIT_WIDTH`]` × H` wide (one piece may be wider: it can still be chosen, at a
//!    cost) and at least [`MIN_DIGIT_HEIGHT`]` × H` tall, in MNIST's format
//!    ([`ink_to_mnist`]), with a shape cost for being wider or shorter than a digit.
//!
//! [`NumberCandidates::best_reading`] then takes the classifier's probabilities of every
//! candidate and finds, per line by dynamic programming over the pieces, the reading of least
//! cost: each piece is either part of one digit candidate, costing
//! `−ln p(class) + shape cost + `[`DIGIT_COST`], or a mark, costing [`NumberCandidates`]'s
//! skip cost of its size (nothing for a dot, a comma, a dash or a fragment of the background;
//! [`SKIP_DIGIT_COST`] for something of a digit's size). Marks are reported in the raw text
//! as `.` (small, on the baseline), `,` (small, reaching below it) or `-` (flat).

use crate::error::Result;
use crate::vision::components::{components, Component};
use crate::vision::gray::{no_digit, Gray};
use crate::vision::ink::{ink_layer, InkLayer};
use crate::vision::mnist::{ink_to_mnist, WORK_SIDE};
use crate::vision::pipeline::Digit;
use crate::vision::resample::shrink_to;
use crate::vision::segment::{least_ink_path, median};

/// A component longer than this many typical heights may hold a rule (an underline, a box's
/// edge): no single digit is, and two digits are joined by their strokes, not by long straight
/// runs.
pub const RULE_LENGTH: f64 = 1.5;

/// A horizontal (or vertical) run of ink at least this many typical heights long is a rule's.
/// The top bar of a 5 or a 7 is at most about one height long.
pub const RULE_RUN: f64 = 1.2;

/// A rule's pixels are those whose run across the rule is at most this many typical heights
/// thick (at least 3 pixels): a pen's line. A digit's stroke crossing the rule adds its own
/// length to the run and survives.
pub const RULE_THICKNESS: f64 = 0.18;

/// Two tall components are in one line when their rows overlap by at least this fraction of
/// the shorter one's height.
pub const LINE_OVERLAP: f64 = 0.3;

/// Components wider than this many typical heights are cut into candidate pieces.
pub const CUT_WIDTH: f64 = 0.6;

/// The width of a digit, in typical heights, for the evenly spaced candidate cuts (MNIST's
/// median width-to-height ratio is 0.8; amounts are written a little narrower).
pub const TYPICAL_WIDTH: f64 = 0.75;

/// Candidate cuts closer than this many typical heights are one cut.
pub const CUT_SPACING: f64 = 0.18;

/// At most this many consecutive pieces make one digit (a digit cut in three, and a detached
/// flag; a wide flat 0 of an amount's cents, cut evenly into four or five). Four lost the
/// second of two joined flat zeros on real cheques; six read no better and costs more.
pub const MAX_GROUP: usize = 5;

/// A candidate of several pieces is at most this many typical heights wide.
pub const MAX_DIGIT_WIDTH: f64 = 1.8;

/// A digit is at least this many typical heights tall; anything shorter is only a mark.
pub const MIN_DIGIT_HEIGHT: f64 = 0.45;

/// What every digit of a reading costs, in nats, besides its classification: without it a
/// digit cut into two pieces that each look like a digit would read as two.
pub const DIGIT_COST: f64 = 0.3;

/// What reading a piece of a digit's size as a mark costs, in nats.
pub const SKIP_DIGIT_COST: f64 = 3.0;

/// What a digit costs per typical height of width beyond [`WIDE_FROM`], in nats.
pub const WIDE_COST: f64 = 2.5;

/// Digits up to this many typical heights wide cost nothing for their width (a wide oval 0 of
/// an amount is about this wide; two digits side by side are wider).
pub const WIDE_FROM: f64 = 1.1;

/// What a digit costs per typical height it is shorter than [`SHORT_FROM`], in nats.
pub const SHORT_COST: f64 = 6.0;

/// Digits at least this many typical heights tall cost nothing for their height.
pub const SHORT_FROM: f64 = 0.7;

/// The costs of a reading that are not the classifier's, in nats (module doc).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Costs {
    /// Every digit read ([`DIGIT_COST`]).
    pub digit: f64,
    /// A piece of a digit's size read as no digit ([`SKIP_DIGIT_COST`]).
    pub skip: f64,
    /// A digit per typical height of width beyond [`WIDE_FROM`] ([`WIDE_COST`]).
    pub wide: f64,
}

impl Default for Costs {
    fn default() -> Self {
        Costs { digit: DIGIT_COST, skip: SKIP_DIGIT_COST, wide: WIDE_COST }
    }
}

impl Costs {
    /// What a candidate's shape costs: wider than a digit (touching digits read as one),
    /// shorter than one.
    pub fn shape(&self, c: &Candidate) -> f64 {
        self.wide * (c.width - WIDE_FROM).max(0.0) + SHORT_COST * (SHORT_FROM - c.height).max(0.0)
    }
}

/// Components whose ink comes this many typical heights close are one blob (a stroke broken by
/// a faint stretch); blobs are cut again where recognition says so.
pub const JOIN_DISTANCE: f64 = 0.08;

/// Digits taller than this many pixels (in the image shrunk to [`WORK_SIDE`]) are read from
/// the image shrunk further, until they are [`WORK_HEIGHT`] tall: the 28×28 digits need no
/// more, and the work of joining and cutting grows with the square of the height.
pub const MAX_WORK_HEIGHT: f64 = 64.0;

/// See [`MAX_WORK_HEIGHT`].
pub const WORK_HEIGHT: f64 = 48.0;

/// Most pieces in one line (the largest ones), bounding the work on pathological inputs.
const MAX_PIECES: usize = 200;

/// A piece of a line: one component, or the part of it between two cuts, with its box in
/// work-image pixels (inclusive).
#[derive(Clone, Debug)]
struct Piece {
    blob: usize,
    cut: Option<Region>,
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

impl Piece {
    fn owns(&self, blob: usize, x: usize, y: usize) -> bool {
        blob == self.blob && self.cut.as_ref().is_none_or(|c| c.contains(x, y))
    }
    fn w(&self) -> usize {
        self.x1 - self.x0 + 1
    }
    fn h(&self) -> usize {
        self.y1 - self.y0 + 1
    }
}

/// The part of a component between two cutting paths: row `y` keeps columns
/// `left[y − y0] ≤ x < right[y − y0]`.
#[derive(Clone, Debug)]
struct Region {
    y0: usize,
    left: Vec<usize>,
    right: Vec<usize>,
}

impl Region {
    fn contains(&self, x: usize, y: usize) -> bool {
        y.checked_sub(self.y0).and_then(|r| Some(self.left.get(r)? <= &x && &x < self.right.get(r)?)).unwrap_or(false)
    }
}

/// A candidate digit: pieces `first..=last` of its line, its MNIST-format image, its box
/// `[x, y, w, h]` in the original image's pixels, and its width and height in the line's
/// typical digit heights.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub first: usize,
    pub last: usize,
    pub image: Digit,
    pub bbox: [usize; 4],
    pub width: f64,
    pub height: f64,
}

/// One line of a number: its pieces (how much of a digit's size each has, 0–1, which prices
/// reading it as no digit; the mark it would be; its box in the original image) and its
/// candidate digits.
#[derive(Clone, Debug)]
pub struct LineCandidates {
    pub skip_size: Vec<f64>,
    pub marks: Vec<Option<char>>,
    pub piece_boxes: Vec<[usize; 4]>,
    pub candidates: Vec<Candidate>,
}

/// Every line's candidates, top line first.
#[derive(Clone, Debug)]
pub struct NumberCandidates {
    pub lines: Vec<LineCandidates>,
}

/// One item of a reading, left to right.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadItem {
    /// A digit: the index of its candidate in [`NumberCandidates::images`]' order and its class.
    Digit { candidate: usize, class: usize },
    /// A mark that is not a digit (`.`, `,`, `-`), with its box `[x, y, w, h]`.
    Mark { symbol: char, bbox: [usize; 4] },
}

impl NumberCandidates {
    /// Every candidate's image, line by line: what the classifier scores.
    pub fn images(&self) -> Vec<Digit> {
        self.lines.iter().flat_map(|l| l.candidates.iter().map(|c| c.image)).collect()
    }

    /// The candidate with index `k` in [`NumberCandidates::images`]' order.
    pub fn candidate(&self, mut k: usize) -> Option<&Candidate> {
        for l in &self.lines {
            if k < l.candidates.len() {
                return Some(&l.candidates[k]);
            }
            k -= l.candidates.len();
        }
        None
    }

    /// The reading of least cost (module doc), given each candidate's class probabilities in
    /// [`NumberCandidates::images`]' order and which classes are digits (a classifier may
    /// also have a "none" class, whose probability then counts against every digit): per
    /// line, its items left to right; lines without a digit are left out. An error when no
    /// line has a digit, or the probabilities do not match the candidates.
    pub fn best_reading(&self, probabilities: &[Vec<f32>], digit_classes: &[usize]) -> Result<Vec<Vec<ReadItem>>> {
        self.best_reading_with(probabilities, digit_classes, Costs::default())
    }

    /// [`NumberCandidates::best_reading`] with other costs (to measure them).
    pub fn best_reading_with(&self, probabilities: &[Vec<f32>], digit_classes: &[usize], costs: Costs) -> Result<Vec<Vec<ReadItem>>> {
        let total: usize = self.lines.iter().map(|l| l.candidates.len()).sum();
        if probabilities.len() != total {
            return Err(crate::Error::Data(format!("{} candidate digits but {} probability rows", total, probabilities.len())));
        }
        let mut out = Vec::new();
        let mut base = 0;
        for line in &self.lines {
            let probs = &probabilities[base..base + line.candidates.len()];
            let items = line.best(probs, digit_classes, costs, base);
            base += line.candidates.len();
            if items.iter().any(|i| matches!(i, ReadItem::Digit { .. })) {
                out.push(items);
            }
        }
        if out.is_empty() {
            return Err(no_digit());
        }
        Ok(out)
    }
}

impl LineCandidates {
    /// Dynamic programming over the pieces: `cost[k]` is the least cost of reading pieces
    /// `0..k`; a piece is skipped as a mark, or a candidate starting at it is read as a digit.
    fn best(&self, probs: &[Vec<f32>], digit_classes: &[usize], costs: Costs, base: usize) -> Vec<ReadItem> {
        let n = self.skip_size.len();
        let mut cost = vec![f64::INFINITY; n + 1];
        // How each prefix ends: None = piece k−1 skipped, Some(c) = candidate c.
        let mut how: Vec<Option<usize>> = vec![None; n + 1];
        cost[0] = 0.0;
        let mut starting: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (c, cand) in self.candidates.iter().enumerate() {
            starting[cand.first].push(c);
        }
        for k in 0..n {
            if !cost[k].is_finite() {
                continue;
            }
            let skip = cost[k] + costs.skip * self.skip_size[k];
            if skip < cost[k + 1] {
                cost[k + 1] = skip;
                how[k + 1] = None;
            }
            for &c in &starting[k] {
                let cand = &self.candidates[c];
                let (_, p) = best_class(&probs[c], digit_classes);
                let v = cost[k] + digit_cost(p) + costs.shape(cand) + costs.digit;
                if v < cost[cand.last + 1] {
                    cost[cand.last + 1] = v;
                    how[cand.last + 1] = Some(c);
                }
            }
        }
        let mut items = Vec::new();
        let mut k = n;
        while k > 0 {
            match how[k] {
                Some(c) => {
                    let cand = &self.candidates[c];
                    items.push(ReadItem::Digit { candidate: base + c, class: best_class(&probs[c], digit_classes).0 });
                    k = cand.first;
                }
                None => {
                    if let Some(symbol) = self.marks[k - 1] {
                        items.push(ReadItem::Mark { symbol, bbox: self.piece_boxes[k - 1] });
                    }
                    k -= 1;
                }
            }
        }
        items.reverse();
        items
    }
}

/// The most likely of the digit classes and its probability.
fn best_class(p: &[f32], digit_classes: &[usize]) -> (usize, f32) {
    digit_classes.iter().filter_map(|&i| Some((i, *p.get(i)?))).fold((0, 0.0), |b, (i, v)| if v > b.1 { (i, v) } else { b })
}

/// What the classification of a candidate as a digit of probability `p` costs.
fn digit_cost(p: f32) -> f64 {
    -(p.max(1e-6) as f64).ln()
}

/// The candidate digits of the number in an image (luminance, 0 = black … 255 = white); see
/// the module doc. An image without ink is the error "no digit found".
pub fn number_candidates(img: &Gray) -> Result<NumberCandidates> {
    if img.is_degenerate() {
        return Err(no_digit());
    }
    let (mut work, mut fx, mut fy) = shrink_to(img, WORK_SIDE);
    let mut layer = ink_layer(&work);
    if !layer.found {
        return Err(no_digit());
    }
    // 2. Rules.
    let (mut labels, mut comps) = components(&layer);
    let mut h0 = typical_height(&comps);
    if h0 == 0.0 {
        return Err(no_digit());
    }
    if h0 > MAX_WORK_HEIGHT {
        // Large digits: the rest works at a scale where they are WORK_HEIGHT tall.
        let side = ((work.width.max(work.height) as f64 * WORK_HEIGHT / h0).round() as usize).max(1);
        (work, fx, fy) = shrink_to(img, side);
        layer = ink_layer(&work);
        (labels, comps) = components(&layer);
        h0 = typical_height(&comps);
        if !layer.found || h0 == 0.0 {
            return Err(no_digit());
        }
    }
    let (labels, comps) = if erase_rules(&mut layer, &labels, &comps, h0) { components(&layer) } else { (labels, comps) };
    let h_typ = typical_height(&comps);
    if h_typ == 0.0 {
        return Err(no_digit());
    }
    let largest = comps.iter().map(|c| c.count).max().unwrap_or(0);
    // Dust: too small to be even a decimal point.
    let kept: Vec<bool> = comps.iter().map(|c| c.count >= 3 && 100 * c.count >= largest).collect();
    // Blobs: components whose ink comes within JOIN_DISTANCE × H of each other (a stroke
    // broken by a faint stretch of ink), joined.
    let blob_of = join_nearby(&labels, &kept, work.width, work.height, ((JOIN_DISTANCE * h_typ).round() as usize).max(1));
    let n_blobs = blob_of.iter().filter_map(|b| *b).max().map_or(0, |m| m + 1);
    let mut blobs = vec![Component { x0: usize::MAX, y0: usize::MAX, x1: 0, y1: 0, count: 0, ink: 0.0 }; n_blobs];
    for (k, c) in comps.iter().enumerate() {
        if let Some(b) = blob_of[k] {
            let o = &mut blobs[b];
            (o.x0, o.y0, o.x1, o.y1) = (o.x0.min(c.x0), o.y0.min(c.y0), o.x1.max(c.x1), o.y1.max(c.y1));
            o.count += c.count;
            o.ink += c.ink;
        }
    }
    let comps = blobs;
    let largest = comps.iter().map(|c| c.count).max().unwrap_or(0);
    let kept: Vec<usize> = (0..comps.len()).collect();

    // 3. Lines.
    let tall = |k: usize| comps[k].height() as f64 >= 0.5 * h_typ || 4 * comps[k].count >= largest;
    let big: Vec<usize> = kept.iter().copied().filter(|&k| tall(k)).collect();
    let mut parent: Vec<usize> = (0..big.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..big.len() {
        for j in i + 1..big.len() {
            let (a, b) = (&comps[big[i]], &comps[big[j]]);
            let overlap = (a.y1.min(b.y1) + 1).saturating_sub(a.y0.max(b.y0)) as f64;
            if overlap >= LINE_OVERLAP * a.height().min(b.height()) as f64 {
                let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                parent[ri] = rj;
            }
        }
    }
    let mut line_of_root: Vec<Option<usize>> = vec![None; big.len()];
    let mut lines: Vec<(usize, usize, Vec<usize>)> = Vec::new(); // (top, bottom, components)
    for i in 0..big.len() {
        let r = root(&mut parent, i);
        let c = &comps[big[i]];
        match line_of_root[r] {
            Some(l) => {
                let line = &mut lines[l];
                line.0 = line.0.min(c.y0);
                line.1 = line.1.max(c.y1);
                line.2.push(big[i]);
            }
            None => {
                line_of_root[r] = Some(lines.len());
                lines.push((c.y0, c.y1, vec![big[i]]));
            }
        }
    }
    if lines.is_empty() {
        return Err(no_digit());
    }
    for &k in kept.iter().filter(|&&k| !tall(k)) {
        let c = &comps[k];
        let centre = (c.y0 + c.y1) as f64 / 2.0;
        let nearest = lines
            .iter()
            .enumerate()
            .map(|(l, (top, bottom, _))| (l, (*top as f64 - centre).max(centre - *bottom as f64).max(0.0)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((l, d)) = nearest {
            if d <= h_typ {
                lines[l].2.push(k);
            }
        }
    }
    lines.sort_by_key(|l| l.0);

    // 4–5. Pieces and candidates, per line.
    let to_original = |x0: usize, y0: usize, x1: usize, y1: usize| {
        let x = ((x0 as f64 * fx).floor() as usize).min(img.width - 1);
        let y = ((y0 as f64 * fy).floor() as usize).min(img.height - 1);
        let x_end = (((x1 + 1) as f64 * fx).ceil() as usize).clamp(x + 1, img.width);
        let y_end = (((y1 + 1) as f64 * fy).ceil() as usize).clamp(y + 1, img.height);
        [x, y, x_end - x, y_end - y]
    };
    let mut out = Vec::new();
    for (_, bottom, members) in lines {
        // The line's own digit height: its tall components' median (a line of small digits
        // beside one of large ones).
        let mut hs: Vec<usize> = members.iter().filter(|&&k| tall(k)).map(|&k| comps[k].height()).collect();
        let h = (median(&mut hs) as f64).max(0.5 * h_typ).max(1.0);
        let mut pieces = Vec::new();
        for &k in &members {
            if tall(k) && comps[k].width() as f64 > CUT_WIDTH * h {
                pieces.extend(cut_blob(&layer, &labels, &blob_of, k, &comps[k], h));
            } else {
                let c = &comps[k];
                pieces.push(Piece { blob: k, cut: None, x0: c.x0, y0: c.y0, x1: c.x1, y1: c.y1 });
            }
        }
        if pieces.len() > MAX_PIECES {
            pieces.sort_by_key(|p| std::cmp::Reverse(p.w() * p.h()));
            pieces.truncate(MAX_PIECES);
        }
        pieces.sort_by_key(|p| p.x0 + p.x1);
        let baseline = line_baseline(&pieces, h, bottom);
        let marks: Vec<Option<char>> = pieces.iter().map(|p| mark_symbol(p, h, baseline)).collect();
        let skip_size: Vec<f64> = pieces.iter().zip(&marks).map(|(p, m)| if m.is_some() { 0.0 } else { skip_size(p, h) }).collect();
        let piece_boxes: Vec<[usize; 4]> = pieces.iter().map(|p| to_original(p.x0, p.y0, p.x1, p.y1)).collect();
        let mut candidates = Vec::new();
        for first in 0..pieces.len() {
            let mut b = (usize::MAX, usize::MAX, 0, 0);
            for last in first..(first + MAX_GROUP).min(pieces.len()) {
                let p = &pieces[last];
                if last > first && crate::vision::components::gap(b.0, b.2, p.x0, p.x1) as f64 > 0.35 * h {
                    break;
                }
                b = (b.0.min(p.x0), b.1.min(p.y0), b.2.max(p.x1), b.3.max(p.y1));
                let (w, ht) = ((b.2 - b.0 + 1) as f64, (b.3 - b.1 + 1) as f64);
                if last > first && w > MAX_DIGIT_WIDTH * h {
                    break;
                }
                if ht < MIN_DIGIT_HEIGHT * h {
                    continue;
                }
                let group = &pieces[first..=last];
                let patch = crate::vision::components::extract_patch(&layer, &labels, b, |label, x, y| {
                    blob_of[label as usize - 1].is_some_and(|blob| group.iter().any(|p| p.owns(blob, x, y)))
                });
                let Ok(image) = ink_to_mnist(&patch) else { continue };
                candidates.push(Candidate { first, last, image, bbox: to_original(b.0, b.1, b.2, b.3), width: w / h, height: ht / h });
            }
        }
        out.push(LineCandidates { skip_size, marks, piece_boxes, candidates });
    }
    Ok(NumberCandidates { lines: out })
}

/// Median height of the components with at least a quarter of the largest one's pixels (the
/// whole digits, not their broken pieces or specks); 0 without components.
fn typical_height(comps: &[Component]) -> f64 {
    let largest = comps.iter().map(|c| c.count).max().unwrap_or(0);
    let mut hs: Vec<usize> = comps.iter().filter(|c| 4 * c.count >= largest).map(Component::height).collect();
    median(&mut hs) as f64
}

/// Erases rules from the ink map (module doc, step 2); whether anything was erased.
fn erase_rules(layer: &mut InkLayer, labels: &[u32], comps: &[Component], h: f64) -> bool {
    let (w, ht) = (layer.ink.width, layer.ink.height);
    let run = (RULE_RUN * h).ceil() as usize;
    let thick = ((RULE_THICKNESS * h).round() as usize).max(3);
    let mut erase = Vec::new();
    for (k, c) in comps.iter().enumerate() {
        let id = k as u32 + 1;
        let mine = |x: usize, y: usize| labels[y * w + x] == id;
        if c.width() as f64 > RULE_LENGTH * h {
            for y in c.y0..=c.y1 {
                let mut x = c.x0;
                while x <= c.x1 {
                    if !mine(x, y) {
                        x += 1;
                        continue;
                    }
                    let start = x;
                    while x <= c.x1 && mine(x, y) {
                        x += 1;
                    }
                    if x - start >= run {
                        for xx in start..x {
                            let up = (0..y).rev().take_while(|&yy| mine(xx, yy)).count();
                            let down = (y + 1..ht).take_while(|&yy| mine(xx, yy)).count();
                            if up + down < thick {
                                erase.push(y * w + xx);
                            }
                        }
                    }
                }
            }
        }
        if c.height() as f64 > RULE_LENGTH * h {
            for x in c.x0..=c.x1 {
                let mut y = c.y0;
                while y <= c.y1 {
                    if !mine(x, y) {
                        y += 1;
                        continue;
                    }
                    let start = y;
                    while y <= c.y1 && mine(x, y) {
                        y += 1;
                    }
                    if y - start >= run {
                        for yy in start..y {
                            let left = (0..x).rev().take_while(|&xx| mine(xx, yy)).count();
                            let right = (x + 1..w).take_while(|&xx| mine(xx, yy)).count();
                            if left + right < thick {
                                erase.push(yy * w + x);
                            }
                        }
                    }
                }
            }
        }
    }
    for &i in &erase {
        layer.ink.pixels[i] = 0;
    }
    !erase.is_empty()
}

/// Cuts blob `k` (box and counts in `c`) into pieces at its candidate cuts (module doc,
/// step 4).
fn cut_blob(layer: &InkLayer, labels: &[u32], blob_of: &[Option<usize>], k: usize, c: &Component, h: f64) -> Vec<Piece> {
    let w = layer.ink.width;
    let mine = |x: usize, y: usize| {
        let l = labels[y * w + x];
        l != 0 && blob_of[l as usize - 1] == Some(k)
    };
    let ink = |x: usize, y: usize| if mine(x, y) { layer.ink.pixels[y * w + x] as f64 } else { 0.0 };
    let rows = c.height();
    let profile: Vec<f64> = (c.x0..=c.x1).map(|x| (c.y0..=c.y1).map(|y| ink(x, y)).sum()).collect();
    let margin = ((0.2 * h).round() as usize).max(2);
    let radius = ((0.08 * h).round() as usize).max(1);
    let mut centres: Vec<f64> = Vec::new();
    if c.width() > 2 * margin {
        for i in margin..c.width() - margin {
            let lo = i.saturating_sub(radius);
            let hi = (i + radius).min(profile.len() - 1);
            if (lo..=hi).all(|j| profile[i] <= profile[j]) && (lo..=hi).any(|j| profile[i] < profile[j]) {
                centres.push((c.x0 + i) as f64);
            }
        }
    }
    let n = ((c.width() as f64 / (TYPICAL_WIDTH * h)).round() as usize).max(2);
    for j in 1..n {
        centres.push(c.x0 as f64 + j as f64 * c.width() as f64 / n as f64);
    }
    let window = ((0.15 * h).round() as usize).max(2);
    let mut cuts: Vec<(f64, f64, Vec<usize>)> = Vec::new(); // (mean column, ink crossed, path)
    for &e in &centres {
        let lo = ((e as usize).saturating_sub(window)).max(c.x0 + 1);
        let hi = (e as usize + window).min(c.x1);
        if lo > hi {
            continue;
        }
        let path = least_ink_path(lo, hi, c.y0, rows, e, &ink);
        let crossed: f64 = path.iter().enumerate().map(|(r, &x)| ink(x, c.y0 + r)).sum();
        let mean = path.iter().sum::<usize>() as f64 / rows as f64;
        cuts.push((mean, crossed, path));
    }
    // Nearby cuts: keep the one crossing less ink.
    cuts.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut chosen: Vec<(f64, f64, Vec<usize>)> = Vec::new();
    for cut in cuts {
        if chosen.iter().all(|k| (k.0 - cut.0).abs() >= CUT_SPACING * h) {
            chosen.push(cut);
        }
    }
    chosen.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut paths = vec![vec![c.x0; rows]];
    for (_, _, mut path) in chosen {
        let prev = paths.last().expect("the left edge");
        for (x, &p) in path.iter_mut().zip(prev) {
            *x = (*x).max(p);
        }
        paths.push(path);
    }
    paths.push(vec![c.x1 + 1; rows]);
    let mut pieces = Vec::new();
    for pair in paths.windows(2) {
        let region = Region { y0: c.y0, left: pair[0].clone(), right: pair[1].clone() };
        let mut b = (usize::MAX, usize::MAX, 0, 0);
        for y in c.y0..=c.y1 {
            for x in region.left[y - c.y0]..region.right[y - c.y0] {
                if mine(x, y) {
                    b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
                }
            }
        }
        if b.0 != usize::MAX {
            pieces.push(Piece { blob: k, cut: Some(region), x0: b.0, y0: b.1, x1: b.2, y1: b.3 });
        }
    }
    pieces
}

/// Blobs of the kept components (`kept[k]`): components with pixels at most `r` apart
/// (chessboard distance) are in one blob. Returns each component's blob (`None` for the ones
/// not kept), blobs numbered from 0 in order of their first component.
fn join_nearby(labels: &[u32], kept: &[bool], w: usize, h: usize, r: usize) -> Vec<Option<usize>> {
    let mut parent: Vec<usize> = (0..kept.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for y in 0..h {
        for x in 0..w {
            let a = labels[y * w + x];
            if a == 0 || !kept[a as usize - 1] {
                continue;
            }
            // Only pixels on a component's edge can be nearest to another's.
            for yy in y.saturating_sub(r)..=(y + r).min(h - 1) {
                for xx in x.saturating_sub(r)..=(x + r).min(w - 1) {
                    let b = labels[yy * w + xx];
                    if b != 0 && b != a && kept[b as usize - 1] {
                        let (ra, rb) = (root(&mut parent, a as usize - 1), root(&mut parent, b as usize - 1));
                        if ra != rb {
                            parent[ra] = rb;
                        }
                    }
                }
            }
        }
    }
    let mut number: Vec<Option<usize>> = vec![None; kept.len()];
    let mut next = 0;
    let mut out = vec![None; kept.len()];
    for k in 0..kept.len() {
        if kept[k] {
            let r = root(&mut parent, k);
            let b = *number[r].get_or_insert_with(|| {
                next += 1;
                next - 1
            });
            out[k] = Some(b);
        }
    }
    out
}

/// The line's baseline: the median bottom row of its pieces at least `h/2` tall.
fn line_baseline(pieces: &[Piece], h: f64, fallback: usize) -> usize {
    let mut bottoms: Vec<usize> = pieces.iter().filter(|p| p.h() as f64 >= 0.5 * h).map(|p| p.y1).collect();
    if bottoms.is_empty() {
        fallback
    } else {
        median(&mut bottoms)
    }
}

/// How much of a digit's size a piece that is not a mark has (see [`mark_symbol`]; marks have
/// none), which prices reading it as no digit: from 0 for a speck of a quarter of a digit's
/// height to 1 for one of three quarters or more (a fragment of the background pattern is cheap
/// to leave out, a digit's stroke is not).
fn skip_size(p: &Piece, h: f64) -> f64 {
    let side = p.w().max(p.h()) as f64 / h;
    ((side - 0.25) / 0.5).clamp(0.0, 1.0)
}

/// The mark a piece is when it is not read as a digit: `-` for a flat one, `.` for a small one
/// on the baseline, `,` for a small one reaching below it; `None` otherwise (a fragment, or a
/// piece cut from a blob: the bar of a 7 cut from its stem is no dash).
fn mark_symbol(p: &Piece, h: f64, baseline: usize) -> Option<char> {
    if p.cut.is_some() {
        return None; // a mark is a blob of its own, not a piece cut from one
    }
    let (w, ht) = (p.w() as f64, p.h() as f64);
    if ht <= 0.3 * h && w >= 1.5 * ht && w >= 0.2 * h {
        return Some('-');
    }
    let low = (p.y0 + p.y1) as f64 / 2.0 >= baseline as f64 - 0.4 * h;
    if !low {
        return None;
    }
    if ht <= 0.3 * h && w <= 0.3 * h {
        return Some('.');
    }
    if ht <= 0.55 * h && w <= 0.35 * h && p.y1 as f64 > baseline as f64 + 0.1 * h {
        return Some(',');
    }
    None
}
