//! The drawing machinery under [`super::plots`]: the embedded font, text measurement, PNG
//! encoding, round axis ticks, line panels with legends, bars, heat-map and image-grid layouts.

use std::path::Path;
use std::sync::OnceLock;

use image::codecs::png::PngEncoder;
use image::{ColorType, ImageEncoder};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;

use super::plots::IMAGE_GRID_SCALE;
use crate::error::{Error, Result};

/// The family name the embedded font is registered under; plotters' `SansSerif` asks for it.
pub(crate) const FONT: &str = "sans-serif";
pub(crate) const FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

pub(crate) const TITLE_SIZE: f64 = 26.0;
pub(crate) const CAPTION_SIZE: f64 = 20.0;
pub(crate) const AXIS_DESC_SIZE: f64 = 17.0;
pub(crate) const TICK_SIZE: f64 = 14.0;

/// Largest image we agree to allocate (pixels); a grid of thousands of digits stays far below.
pub(crate) const MAX_PIXELS: u64 = 40_000_000;

/// Tableau 10: distinct, colour-blind-friendlier than the primaries.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
pub(crate) const GRID_GREY: RGBColor = RGBColor(225, 225, 225);
pub(crate) const FRAME_GREY: RGBColor = RGBColor(150, 150, 150);

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
pub(crate) type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

// ---------------------------------------------------------------------------------------
// Shared machinery: font, rendering to PNG, argument checks, axes.

/// Registers the embedded font with plotters once per process.
pub(crate) fn ensure_font() -> std::result::Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font could not be parsed".to_string())
    }
}

pub(crate) fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FONT), size, FontStyle::Normal)
}

/// Width and height in pixels of `text` in the embedded font at `size`.
pub(crate) fn text_size(text: &str, size: f64) -> Result<(u32, u32)> {
    ensure_font().map_err(Error::config)?;
    font(size).box_size(text).map_err(|e| Error::config(format!("measuring text {text:?}: {e}")))
}

pub(crate) type TickedChart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<TickedAxis, TickedAxis>>;

/// The grid, axes, tick labels and axis descriptions every chart here shares.
pub(crate) fn draw_mesh(
    chart: &mut TickedChart,
    x_label: &str,
    y_label: &str,
    x_format: &dyn Fn(&f64) -> String,
    y_format: &dyn Fn(&f64) -> String,
) -> DrawResult {
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(x_format)
        .y_label_formatter(y_format)
        .label_style(font(TICK_SIZE))
        .axis_desc_style(font(AXIS_DESC_SIZE))
        .bold_line_style(GRID_GREY)
        .axis_style(FRAME_GREY)
        .draw()?;
    Ok(())
}

/// Draws into a white `size` canvas and writes it to `path` as an RGB PNG.
pub(crate) fn render_png(path: &Path, (width, height): (u32, u32), draw: impl FnOnce(&Area) -> DrawResult) -> Result<()> {
    let pixels = width as u64 * height as u64;
    if width == 0 || height == 0 || pixels > MAX_PIXELS {
        return Err(Error::config(format!("{}: a {width}×{height} image is outside 1..={MAX_PIXELS} pixels", path.display())));
    }
    let drawing_failed = |msg: String| Error::io(path, std::io::Error::other(format!("drawing failed: {msg}")));
    ensure_font().map_err(drawing_failed)?;
    let mut rgb = vec![255u8; pixels as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| drawing_failed(e.to_string()))?;
        draw(&root).map_err(|e| drawing_failed(e.to_string()))?;
        root.present().map_err(|e| drawing_failed(e.to_string()))?;
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&rgb, width, height, ColorType::Rgb8.into())
        .map_err(|e| Error::io(path, std::io::Error::other(format!("PNG encoding: {e}"))))?;
    std::fs::write(path, &png).map_err(|e| Error::io(path, e))
}

pub(crate) fn check_len(context: &str, what: &str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::Shape { context: format!("{context}: {what}"), expected: vec![expected], found: vec![found] })
    }
}

/// Draws `title` centred at the top and returns the area below it (the whole area if empty).
pub(crate) fn titled<'a>(root: &Area<'a>, title: &str) -> std::result::Result<Area<'a>, Box<dyn std::error::Error>> {
    if title.is_empty() {
        Ok(root.margin(10, 0, 0, 0))
    } else {
        Ok(root.margin(12, 0, 0, 0).titled(title, font(TITLE_SIZE).color(&BLACK))?)
    }
}

/// The smallest and largest finite value, widened so the data does not touch the frame:
/// by `pad` of the span on each side, or around a single value by 10 % of it (0.5 at zero).
/// With no finite value the range is 0..1. The ends are kept within ±1e300 so the span is
/// finite.
pub(crate) fn axis_range(values: impl Iterator<Item = f64>, pad: f64, include_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    if include_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    let (lo, hi) = (lo.clamp(-1e300, 1e300), hi.clamp(-1e300, 1e300));
    let span = hi - lo;
    if span == 0.0 {
        let d = if lo == 0.0 { 0.5 } else { lo.abs() * 0.1 };
        return (lo - d, hi + d);
    }
    let pad = span * pad;
    let (lo_padded, hi_padded) = (lo - pad, hi + pad);
    // Padding must not push a non-negative axis (counts, accuracies) below zero.
    (if lo >= 0.0 && include_zero { lo } else { lo_padded }, hi_padded)
}

/// "Nice" tick positions (1, 2 or 5 times a power of ten apart) inside `lo..=hi`, at most
/// `max_ticks + 1` of them, and how many decimals their labels need. `integer` forces a step
/// of at least 1, so integral data (epochs) gets integral ticks.
pub(crate) fn nice_ticks(lo: f64, hi: f64, max_ticks: usize, integer: bool) -> (Vec<f64>, usize) {
    let span = hi - lo;
    let raw = span / max_ticks.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return (vec![lo, hi], 2);
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    if integer && step < 1.0 {
        step = 1.0;
    }
    if !(step.is_finite() && step > 0.0) {
        return (vec![lo, hi], 2);
    }
    let first = (lo / step).ceil();
    let ticks = (0..=max_ticks + 1).map(|k| (first + k as f64) * step).take_while(|t| *t <= hi + step * 1e-9).collect();
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()).clamp(0.0, 12.0) as usize };
    (ticks, decimals)
}

/// A tick label: `decimals` places, scientific notation for very large magnitudes, no "-0".
pub(crate) fn format_tick(value: f64, decimals: usize) -> String {
    if value.abs() >= 1e7 {
        return format!("{value:.2e}");
    }
    let text = format!("{value:.decimals$}");
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => text,
    }
}

/// A value written on a chart: integers as integers, other values with up to 4 significant
/// digits and no trailing zeros.
pub(crate) fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return format!("{value}");
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let digits = if value == 0.0 { 0 } else { value.abs().log10().floor() as i32 };
    let decimals = (3 - digits).clamp(0, 12) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

// ---------------------------------------------------------------------------------------
// Line charts.

/// One named polyline in a line panel.
pub(crate) struct Line<'a> {
    pub(crate) name: &'a str,
    pub(crate) color: RGBColor,
    pub(crate) points: &'a [(f64, f64)],
}

/// Runs of consecutive finite points: a NaN or infinity breaks the line there.
pub(crate) fn finite_runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            current.push((x, y));
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// Where the legend hides the least data: the upper or lower right corner, whichever has
/// fewer points in the right half and outer third of the panel.
pub(crate) fn emptier_corner(lines: &[Line], (x_lo, x_hi): (f64, f64), (y_lo, y_hi): (f64, f64)) -> SeriesLabelPosition {
    let (mut upper, mut lower) = (0usize, 0usize);
    let x_mid = x_lo + (x_hi - x_lo) / 2.0;
    let third = (y_hi - y_lo) / 3.0;
    for &(x, y) in lines.iter().flat_map(|line| line.points.iter()) {
        if x.is_finite() && y.is_finite() && x >= x_mid {
            if y >= y_hi - third {
                upper += 1;
            } else if y <= y_lo + third {
                lower += 1;
            }
        }
    }
    if upper <= lower {
        SeriesLabelPosition::UpperRight
    } else {
        SeriesLabelPosition::LowerRight
    }
}

/// One framed line chart in `area`: nice ticks, a light grid, markers on short series and,
/// if `inside_legend`, a legend in the emptier right corner.
pub(crate) fn line_panel(area: &Area, caption: &str, x_label: &str, y_label: &str, lines: &[Line], inside_legend: bool) -> DrawResult {
    let all = || lines.iter().flat_map(|line| line.points.iter());
    let finite = || all().filter(|(x, y)| x.is_finite() && y.is_finite());
    let x_integer = finite().count() > 0 && finite().all(|(x, _)| x.fract() == 0.0);
    let x_range = axis_range(finite().map(|p| p.0), 0.02, false);
    let y_range = axis_range(finite().map(|p| p.1), 0.08, false);
    let (width, _) = area.dim_in_pixel();
    let max_x_ticks = if width < 800 { 8 } else { 12 };
    let (x_ticks, x_decimals) = nice_ticks(x_range.0, x_range.1, max_x_ticks, x_integer);
    let (y_ticks, y_decimals) = nice_ticks(y_range.0, y_range.1, 8, false);

    let mut builder = ChartBuilder::on(area);
    builder.margin(14).margin_right(24).x_label_area_size(52).y_label_area_size(78);
    if !caption.is_empty() {
        builder.caption(caption, font(CAPTION_SIZE));
    }
    let mut chart = builder.build_cartesian_2d(TickedAxis::new(x_range, x_ticks), TickedAxis::new(y_range, y_ticks))?;
    let x_format = |v: &f64| format_tick(*v, x_decimals);
    let y_format = |v: &f64| format_tick(*v, y_decimals);
    draw_mesh(&mut chart, x_label, y_label, &x_format, &y_format)?;

    for (index, line) in lines.iter().enumerate() {
        let color = line.color;
        let mut runs = finite_runs(line.points);
        if runs.is_empty() {
            // No finite point at all: an empty run still lists the series in the legend.
            runs.push(Vec::new());
        }
        let with_markers = line.points.len() <= 40;
        for (k, run) in runs.iter().enumerate() {
            let drawn = chart.draw_series(LineSeries::new(run.iter().copied(), color.stroke_width(2)))?;
            if k == 0 && inside_legend && !line.name.is_empty() {
                // The legend sample: a short line with the marker in its middle.
                let outline: Vec<(i32, i32)> = marker_outline(index).into_iter().map(|(x, y)| (x + 12, y)).collect();
                drawn.label(line.name).legend(move |at| {
                    EmptyElement::at(at) + PathElement::new(vec![(0, 0), (24, 0)], color.stroke_width(2)) + Polygon::new(outline.clone(), color.filled())
                });
            }
            if with_markers {
                let outline = marker_outline(index);
                let markers = run.iter().map(|&p| EmptyElement::at(p) + Polygon::new(outline.clone(), color.filled()));
                chart.draw_series(markers)?;
            }
        }
    }
    if inside_legend && lines.iter().any(|line| !line.name.is_empty()) {
        chart
            .configure_series_labels()
            .position(emptier_corner(lines, x_range, y_range))
            .background_style(WHITE.mix(0.85))
            .border_style(FRAME_GREY)
            .label_font(font(TICK_SIZE))
            .margin(12)
            .draw()?;
    }
    Ok(())
}

/// Where a side-legend row's name starts, right of its line-and-marker sample.
pub(crate) const LEGEND_TEXT_X: i32 = 44;
pub(crate) const LEGEND_ROW: i32 = 24;

/// The legend as a column of rows (sample, name) at the top of `area`; names too long for
/// the column are shortened with "…", and rows that do not fit are summed up in a last row.
pub(crate) fn side_legend(area: &Area, lines: &[&Line]) -> DrawResult {
    let (width, height) = area.dim_in_pixel();
    let fits = ((height as i32 - 2 * LEGEND_ROW) / LEGEND_ROW).max(1) as usize;
    let shown = if lines.len() > fits { fits - 1 } else { lines.len() };
    let style = font(TICK_SIZE).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    let name_width = width.saturating_sub(LEGEND_TEXT_X as u32 + 8);
    let mut y = 14 + LEGEND_ROW / 2;
    for (index, line) in lines.iter().take(shown).enumerate() {
        let color = line.color;
        area.draw(&PathElement::new(vec![(8, y), (32, y)], color.stroke_width(2)))?;
        let outline: Vec<(i32, i32)> = marker_outline(index).into_iter().map(|(dx, dy)| (20 + dx, y + dy)).collect();
        area.draw(&Polygon::new(outline, color.filled()))?;
        area.draw(&Text::new(fit_text(line.name, TICK_SIZE, name_width)?, (LEGEND_TEXT_X, y), style.clone()))?;
        y += LEGEND_ROW;
    }
    if shown < lines.len() {
        let more = format!("… and {} more", lines.len() - shown);
        area.draw(&Text::new(more, (LEGEND_TEXT_X, y), style))?;
    }
    Ok(())
}

/// `text`, cut short with "…" if it is wider than `max_width` pixels at `size`.
pub(crate) fn fit_text(text: &str, size: f64, max_width: u32) -> Result<String> {
    if text_size(text, size)?.0 <= max_width {
        return Ok(text.to_string());
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let shorter: String = chars.iter().chain(std::iter::once(&'…')).collect();
        if text_size(&shorter, size)?.0 <= max_width {
            return Ok(shorter);
        }
    }
    Ok(String::new())
}

/// The marker of the `index`-th series as a polygon around (0, 0) in pixels: circles, then
/// triangles, then squares once the ten colours have been used. One element type for all
/// three keeps the legend closure's return type concrete (a `DynElement` there would force
/// the backend's lifetime to be `'static`).
pub(crate) fn marker_outline(index: usize) -> Vec<(i32, i32)> {
    match (index / PALETTE.len()) % 3 {
        0 => (0..12)
            .map(|k| {
                let angle = k as f64 * std::f64::consts::TAU / 12.0;
                ((4.0 * angle.cos()).round() as i32, (4.0 * angle.sin()).round() as i32)
            })
            .collect(),
        1 => vec![(0, -5), (5, 4), (-5, 4)],
        _ => vec![(-4, -4), (4, -4), (4, 4), (-4, 4)],
    }
}

/// An f64 axis whose ticks are given rather than chosen by plotters (plotters' own
/// `WithKeyPoints` over an f64 range loses the label formatter that `configure_mesh` needs).
pub(crate) struct TickedAxis {
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    pub(crate) ticks: Vec<f64>,
}

impl TickedAxis {
    pub(crate) fn new((lo, hi): (f64, f64), ticks: Vec<f64>) -> TickedAxis {
        TickedAxis { lo, hi, ticks }
    }
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, (start, end): (i32, i32)) -> i32 {
        let span = self.hi - self.lo;
        let t = if span > 0.0 && value.is_finite() { (value - self.lo) / span } else { 0.5 };
        let offset = (t * (end - start) as f64).round();
        // Saturating: a point far outside the range lands far outside the panel, never wraps.
        start.saturating_add(offset.clamp(i32::MIN as f64, i32::MAX as f64) as i32)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

// ---------------------------------------------------------------------------------------
// Bar chart.

pub(crate) fn draw_bars(area: &Area, labels: &[String], values: &[f64]) -> DrawResult {
    let n = labels.len();
    let (y_lo, y_hi) = axis_range(values.iter().copied(), 0.12, true);
    let (y_ticks, y_decimals) = nice_ticks(y_lo, y_hi, 8, false);
    // Every bar labelled up to 40 bars, then every k-th so that labels do not overlap.
    let label_every = n.div_ceil(40).max(1);
    let x_ticks: Vec<f64> = (0..n).step_by(label_every).map(|i| i as f64).collect();
    let x_hi = n.max(1) as f64 - 0.5;
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .margin_right(24)
        .x_label_area_size(40)
        .y_label_area_size(78)
        .build_cartesian_2d(TickedAxis::new((-0.5, x_hi), x_ticks), TickedAxis::new((y_lo, y_hi), y_ticks))?;
    let x_format = |v: &f64| {
        let i = v.round();
        if i >= 0.0 && (i as usize) < n {
            labels[i as usize].clone()
        } else {
            String::new()
        }
    };
    let y_format = |v: &f64| format_tick(*v, y_decimals);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .label_style(font(TICK_SIZE))
        .bold_line_style(GRID_GREY)
        .axis_style(FRAME_GREY)
        .draw()?;
    let bars = values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, &v)| {
        let x = i as f64;
        Rectangle::new([(x - 0.38, 0.0), (x + 0.38, v.clamp(y_lo, y_hi))], PALETTE[0].filled())
    });
    chart.draw_series(bars)?;
    if n <= 30 {
        let value_font = font(13.0);
        let labels = values.iter().enumerate().map(|(i, &v)| {
            let (anchor, dy) = if v >= 0.0 || !v.is_finite() { (VPos::Bottom, -4) } else { (VPos::Top, 4) };
            let y = if v.is_finite() { v.clamp(y_lo, y_hi) } else { 0.0 };
            let style = value_font.color(&BLACK).pos(Pos::new(HPos::Center, anchor));
            EmptyElement::at((i as f64, y)) + Text::new(format_value(v), (0, dy), style)
        });
        chart.draw_series(labels)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Confusion heat map, laid out by hand so the cells are square and the labels centred.

pub(crate) struct HeatmapLayout {
    pub(crate) size: (u32, u32),
    /// Side of one cell in pixels.
    pub(crate) cell: i32,
    /// Top-left corner of the grid.
    pub(crate) origin: (i32, i32),
    pub(crate) count_size: f64,
}

impl HeatmapLayout {
    const TICK: f64 = 15.0;
    const DESC: f64 = AXIS_DESC_SIZE;

    pub(crate) fn new(title: &str, class_names: &[String]) -> Result<HeatmapLayout> {
        // Laid out in i64 so that no number of classes or length of name can overflow; the
        // size check at the end keeps every later i32 coordinate small.
        let n = class_names.len().max(1) as i64;
        let cell = (560 / n).clamp(14, 64);
        let mut name_width = 0i64;
        for name in class_names {
            name_width = name_width.max(text_size(name, Self::TICK)?.0 as i64);
        }
        let title_width = if title.is_empty() { 0 } else { text_size(title, TITLE_SIZE)?.0 as i64 };
        let left = 16 + 24 + 10 + name_width + 10;
        let top = 12 + 40 + 26 + 24;
        let (right, bottom) = (24, 24);
        let grid = n * cell;
        let width = (left + grid + right).max(title_width + 40).max(360);
        let height = top + grid + bottom;
        if width.saturating_mul(height) > MAX_PIXELS as i64 {
            return Err(Error::config(format!(
                "plots::confusion_heatmap: {n} classes make a {width}×{height} image, \
                 more than {MAX_PIXELS} pixels"
            )));
        }
        // Centre the grid in what is left of the width after the row labels.
        let origin_x = left + (width - left - right - grid) / 2;
        let count_size = (cell as f64 * 0.3).clamp(9.0, 17.0);
        Ok(HeatmapLayout { size: (width as u32, height as u32), cell: cell as i32, origin: (origin_x as i32, top as i32), count_size })
    }
}

/// White through the ColorBrewer "Blues" to dark blue, `t` in 0..=1.
pub(crate) fn blues(t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let (a, b) = ((247.0, 251.0, 255.0), (8.0, 48.0, 107.0));
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

pub(crate) fn draw_heatmap(root: &Area, layout: &HeatmapLayout, title: &str, confusion: &[Vec<usize>], class_names: &[String]) -> DrawResult {
    let n = confusion.len() as i32;
    let cell = layout.cell;
    let (x0, y0) = layout.origin;
    let grid = n * cell;
    let (width, _) = layout.size;
    let centred = |size: f64| font(size).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));

    if !title.is_empty() {
        root.draw(&Text::new(title, (width as i32 / 2, 12 + 20), centred(TITLE_SIZE)))?;
    }
    root.draw(&Text::new("predicted class", (x0 + grid / 2, 12 + 40 + 12), centred(HeatmapLayout::DESC)))?;
    let true_style = font(HeatmapLayout::DESC).transform(FontTransform::Rotate270).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new("true class", (16 + 12, y0 + grid / 2), true_style))?;

    let tick_right = font(HeatmapLayout::TICK).color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, name) in class_names.iter().enumerate() {
        let centre = cell * i as i32 + cell / 2;
        root.draw(&Text::new(name.as_str(), (x0 + centre, y0 - 14), centred(HeatmapLayout::TICK)))?;
        root.draw(&Text::new(name.as_str(), (x0 - 8, y0 + centre), tick_right.clone()))?;
    }

    for (i, row) in confusion.iter().enumerate() {
        let total: f64 = row.iter().map(|&c| c as f64).sum();
        for (j, &count) in row.iter().enumerate() {
            let share = if total > 0.0 { count as f64 / total } else { 0.0 };
            let shade = share.sqrt();
            let (cx, cy) = (x0 + j as i32 * cell, y0 + i as i32 * cell);
            root.draw(&Rectangle::new([(cx, cy), (cx + cell, cy + cell)], blues(shade).filled()))?;
            let text = count.to_string();
            let (text_width, _) = font(layout.count_size).box_size(&text)?;
            if (text_width as i32) < cell - 4 {
                let ink = if shade > 0.6 {
                    WHITE
                } else if count == 0 {
                    RGBColor(175, 175, 175)
                } else {
                    BLACK
                };
                let style = font(layout.count_size).color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
                root.draw(&Text::new(text, (cx + cell / 2, cy + cell / 2), style))?;
            }
        }
    }
    // Thin white lines between cells, then a frame.
    for k in 1..n {
        let at = k * cell;
        root.draw(&PathElement::new(vec![(x0 + at, y0), (x0 + at, y0 + grid)], WHITE))?;
        root.draw(&PathElement::new(vec![(x0, y0 + at), (x0 + grid, y0 + at)], WHITE))?;
    }
    root.draw(&Rectangle::new([(x0, y0), (x0 + grid, y0 + grid)], FRAME_GREY))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Image grid.

pub(crate) struct GridLayout {
    pub(crate) size: (u32, u32),
    pub(crate) columns: usize,
    /// Size of one slot (image and caption), without the padding between slots.
    pub(crate) slot: (usize, usize),
    pub(crate) image: (usize, usize),
    pub(crate) pad: usize,
}

impl GridLayout {
    const CAPTION: f64 = 14.0;
    const CAPTION_HEIGHT: usize = 22;

    pub(crate) fn new(count: usize, height: usize, width: usize, captions: &[String], columns: usize) -> Result<GridLayout> {
        let context = "plots::image_grid";
        if columns == 0 {
            return Err(Error::config(format!("{context}: columns must be at least 1")));
        }
        let pad = 12;
        if count == 0 {
            return Ok(GridLayout { size: (240, 60), columns: 1, slot: (0, 0), image: (0, 0), pad });
        }
        if height == 0 || width == 0 {
            return Err(Error::config(format!("{context}: images of {height}×{width} pixels are empty")));
        }
        let too_big = || Error::config(format!("{context}: {count} images of {height}×{width} make too large a picture"));
        let image_w = width.checked_mul(IMAGE_GRID_SCALE).ok_or_else(too_big)?;
        let image_h = height.checked_mul(IMAGE_GRID_SCALE).ok_or_else(too_big)?;
        let mut caption_width = 0;
        for caption in captions {
            caption_width = caption_width.max(text_size(caption, Self::CAPTION)?.0 as usize);
        }
        let slot_h = image_h.checked_add(4 + Self::CAPTION_HEIGHT).ok_or_else(too_big)?;
        let slot = (image_w.max(caption_width), slot_h);
        let columns = columns.min(count);
        let rows = count.div_ceil(columns);
        // pad + k·(slot + pad), checked: image_grid_size takes sizes without any images.
        let extent = |slot: usize, k: usize| slot.checked_add(pad)?.checked_mul(k)?.checked_add(pad);
        let total_w = extent(slot.0, columns).ok_or_else(too_big)?;
        let total_h = extent(slot.1, rows).ok_or_else(too_big)?;
        if (total_w as u64).saturating_mul(total_h as u64) > MAX_PIXELS {
            return Err(too_big());
        }
        Ok(GridLayout { size: (total_w as u32, total_h as u32), columns, slot, image: (image_w, image_h), pad })
    }

    /// Top-left corner of the `k`-th slot.
    pub(crate) fn slot_origin(&self, k: usize) -> (i32, i32) {
        let (row, col) = (k / self.columns, k % self.columns);
        let x = self.pad + col * (self.slot.0 + self.pad);
        let y = self.pad + row * (self.slot.1 + self.pad);
        (x as i32, y as i32)
    }

    /// Top-left corner of the `k`-th scaled image, centred in its slot.
    pub(crate) fn image_origin(&self, k: usize) -> (i32, i32) {
        let (x, y) = self.slot_origin(k);
        (x + ((self.slot.0 - self.image.0) / 2) as i32, y)
    }
}

pub(crate) fn draw_grid(root: &Area, layout: &GridLayout, images: &[&[u8]], captions: &[String]) -> DrawResult {
    let caption_style = font(GridLayout::CAPTION).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
    if images.is_empty() {
        let (w, h) = layout.size;
        let style = font(GridLayout::CAPTION).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new("(no images)", (w as i32 / 2, h as i32 / 2), style))?;
        return Ok(());
    }
    let scale = IMAGE_GRID_SCALE as i32;
    let width = layout.image.0 / IMAGE_GRID_SCALE;
    for (k, (pixels, caption)) in images.iter().zip(captions).enumerate() {
        let (x0, y0) = layout.image_origin(k);
        for (index, &value) in pixels.iter().enumerate() {
            let (r, c) = ((index / width) as i32, (index % width) as i32);
            let (x, y) = (x0 + c * scale, y0 + r * scale);
            // The bitmap backend fills an opaque rectangle over [x0, x1) × [y0, y1).
            let rect = Rectangle::new([(x, y), (x + scale, y + scale)], RGBColor(value, value, value).filled());
            root.draw(&rect)?;
        }
        let (slot_x, _) = layout.slot_origin(k);
        let caption_at = (slot_x + layout.slot.0 as i32 / 2, y0 + layout.image.1 as i32 + 4);
        root.draw(&Text::new(caption.as_str(), caption_at, caption_style.clone()))?;
    }
    Ok(())
}
