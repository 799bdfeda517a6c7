//! PNG figures for training reports: learning curves, sweep curves, confusion matrices,
//! example grids and bar charts.
//!
//! Every function draws with `plotters` into an RGB buffer of a known size and encodes it as PNG
//! with `image`, then writes the file in one go, so a bad path is an [`Error::Io`] carrying the
//! operating system's own error. Text is drawn with DejaVu Sans, embedded from
//! `assets/DejaVuSans.ttf` (licence in `assets/DejaVuSans-LICENSE.txt`) through plotters'
//! `ab_glyph` feature, so nothing here needs a system font library.
//!
//! Input rules, shared by all functions: lengths that must agree are checked first (an
//! [`Error::Shape`] names both); NaN and infinite values are left out of the axis ranges and
//! break a line rather than bend it; empty data gives empty axes, never a panic.
//!
//! The image sizes are fixed by the functions below (`*_size`), which the tests read too.

use std::path::Path;
use std::sync::OnceLock;

use image::codecs::png::PngEncoder;
use image::{ColorType, ImageEncoder};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;

use crate::error::{Error, Result};

/// The family name the embedded font is registered under; plotters' `SansSerif` asks for it.
const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

const TITLE_SIZE: f64 = 26.0;
const CAPTION_SIZE: f64 = 20.0;
const AXIS_DESC_SIZE: f64 = 17.0;
const TICK_SIZE: f64 = 14.0;

/// Largest image we agree to allocate (pixels); a grid of thousands of digits stays far below.
const MAX_PIXELS: u64 = 40_000_000;

/// Tableau 10: distinct, colour-blind-friendlier than the primaries.
const PALETTE: [RGBColor; 10] = [
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
const GRID_GREY: RGBColor = RGBColor(225, 225, 225);
const FRAME_GREY: RGBColor = RGBColor(150, 150, 150);

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Two panels side by side: loss per epoch and accuracy per epoch, training against
/// validation (epochs numbered from 1).
///
/// `train_loss` and `train_acc` must have the same length; `val_loss` and `val_acc` must have
/// the same length, either that one or zero (no validation set: only training is drawn).
/// The image is [`TRAINING_CURVES_SIZE`].
pub fn training_curves(
    path: &Path,
    title: &str,
    train_loss: &[f64],
    val_loss: &[f64],
    train_acc: &[f64],
    val_acc: &[f64],
) -> Result<()> {
    let context = "plots::training_curves";
    check_len(context, "train_acc against train_loss", train_loss.len(), train_acc.len())?;
    check_len(context, "val_acc against val_loss", val_loss.len(), val_acc.len())?;
    if !val_loss.is_empty() {
        check_len(context, "val_loss against train_loss", train_loss.len(), val_loss.len())?;
    }
    let per_epoch = |values: &[f64]| -> Vec<(f64, f64)> {
        values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)).collect()
    };
    let (train_loss, val_loss) = (per_epoch(train_loss), per_epoch(val_loss));
    let (train_acc, val_acc) = (per_epoch(train_acc), per_epoch(val_acc));
    let train = PALETTE[0];
    let val = PALETTE[1];
    let mut loss_lines = vec![Line { name: "training", color: train, points: &train_loss }];
    let mut acc_lines = vec![Line { name: "training", color: train, points: &train_acc }];
    if !val_loss.is_empty() {
        loss_lines.push(Line { name: "validation", color: val, points: &val_loss });
        acc_lines.push(Line { name: "validation", color: val, points: &val_acc });
    }
    render_png(path, TRAINING_CURVES_SIZE, |root| {
        let body = titled(root, title)?;
        let panels = body.split_evenly((1, 2));
        line_panel(&panels[0], "Loss", "epoch", "loss", &loss_lines, true)?;
        line_panel(&panels[1], "Accuracy", "epoch", "accuracy", &acc_lines, true)?;
        Ok(())
    })
}

/// Size in pixels of [`training_curves`]' image.
pub const TRAINING_CURVES_SIZE: (u32, u32) = (1400, 560);

/// Several named series on one chart (e.g. hyperparameter sweep curves: validation accuracy
/// per epoch per combination), with the legend in a column to the right of the plot so that
/// many series do not hide the data. Colours cycle through ten; past ten series the marker
/// shape changes too. Series with an empty name are drawn but not listed. The image is
/// [`LINE_CHART_SIZE`].
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<()> {
    let lines: Vec<Line> = series
        .iter()
        .enumerate()
        .map(|(i, (name, points))| Line { name, color: PALETTE[i % PALETTE.len()], points })
        .collect();
    let named: Vec<&Line> = lines.iter().filter(|line| !line.name.is_empty()).collect();
    let mut legend_width = 0;
    for line in &named {
        legend_width =
            legend_width.max(text_size(line.name, TICK_SIZE)?.0 + LEGEND_TEXT_X as u32 + 12);
    }
    let legend_width =
        if named.is_empty() { 0 } else { legend_width.clamp(150, LINE_CHART_SIZE.0 / 3) };
    render_png(path, LINE_CHART_SIZE, |root| {
        let body = titled(root, title)?;
        let (width, _) = body.dim_in_pixel();
        let (plot, legend) = body.split_horizontally(width.saturating_sub(legend_width));
        line_panel(&plot, "", x_label, y_label, &lines, false)?;
        side_legend(&legend, &named)
    })
}

/// Size in pixels of [`line_chart`]'s image.
pub const LINE_CHART_SIZE: (u32, u32) = (1000, 640);

/// Confusion-matrix heat map with counts written in the cells, true class on rows, predicted
/// on columns, class names as tick labels.
///
/// A cell's shade is the square root of its share of the row (the fraction of that true
/// class predicted as the column), so that a 1 % confusion is still visible next to a 98 %
/// diagonal. Counts are written when they fit in the cell. The image is
/// [`confusion_heatmap_size`].
pub fn confusion_heatmap(
    path: &Path,
    title: &str,
    confusion: &[Vec<usize>],
    class_names: &[String],
) -> Result<()> {
    let context = "plots::confusion_heatmap";
    let n = confusion.len();
    if n == 0 {
        return Err(Error::config(format!("{context}: the confusion matrix has no classes")));
    }
    for (i, row) in confusion.iter().enumerate() {
        check_len(context, &format!("row {i} of the confusion matrix"), n, row.len())?;
    }
    check_len(context, "class_names against the confusion matrix", n, class_names.len())?;
    let layout = HeatmapLayout::new(title, class_names)?;
    render_png(path, layout.size, |root| draw_heatmap(root, &layout, title, confusion, class_names))
}

/// Size in pixels of [`confusion_heatmap`]'s image for these class names and title.
pub fn confusion_heatmap_size(title: &str, class_names: &[String]) -> Result<(u32, u32)> {
    Ok(HeatmapLayout::new(title, class_names)?.size)
}

/// A grid of small grey-scale images (each `height*width` bytes, row-major, 0 = black,
/// 255 = white), scaled up ×[`IMAGE_GRID_SCALE`], each with its caption underneath (e.g.
/// "true 4 / pred 9"), `columns` per row.
///
/// No images gives a small image that says so (a model with no mistakes has none to show).
/// The image is [`image_grid_size`].
pub fn image_grid(
    path: &Path,
    images: &[&[u8]],
    height: usize,
    width: usize,
    captions: &[String],
    columns: usize,
) -> Result<()> {
    let context = "plots::image_grid";
    check_len(context, "captions against images", images.len(), captions.len())?;
    let pixels = height.checked_mul(width).ok_or_else(|| {
        Error::config(format!("{context}: images of {height}×{width} pixels are too large"))
    })?;
    for (i, img) in images.iter().enumerate() {
        if img.len() != pixels {
            return Err(Error::Length {
                context: format!("{context}: image {i}"),
                shape: vec![height, width],
                expected: pixels,
                found: img.len(),
            });
        }
    }
    let layout = GridLayout::new(images.len(), height, width, captions, columns)?;
    render_png(path, layout.size, |root| draw_grid(root, &layout, images, captions))
}

/// A copy of a grey-scale photo (`luma`: `width × height` bytes, 0 = black) with a box drawn
/// around each detection and its label written above it, as PNG (`digitnet read --annotate`).
pub fn annotate_boxes(path: &Path, luma: &[u8], width: usize, height: usize, boxes: &[([usize; 4], String)]) -> Result<()> {
    check_len("plots::annotate_boxes", "pixels", width * height, luma.len())?;
    let pixels = width as u64 * height as u64;
    if width == 0 || height == 0 || pixels > MAX_PIXELS {
        return Err(Error::config(format!("{}: a {width}×{height} image is outside 1..={MAX_PIXELS} pixels", path.display())));
    }
    let drawing_failed = |msg: String| Error::io(path, std::io::Error::other(format!("drawing failed: {msg}")));
    ensure_font().map_err(drawing_failed)?;
    let mut rgb: Vec<u8> = luma.iter().flat_map(|&v| [v, v, v]).collect();
    let size = ((height as f64 / 12.0).clamp(12.0, 64.0)).round();
    let stroke = ((height.min(width) / 200).max(2)) as u32;
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width as u32, height as u32)).into_drawing_area();
        for ([x, y, w, h], label) in boxes {
            let (x0, y0) = (*x as i32, *y as i32);
            let (x1, y1) = ((x + w) as i32, (y + h) as i32);
            root.draw(&Rectangle::new([(x0, y0), (x1, y1)], PALETTE[3].stroke_width(stroke))).map_err(|e| drawing_failed(e.to_string()))?;
            let ty = (y0 - size as i32 - 2).max(0);
            root.draw(&Text::new(label.clone(), (x0, ty), font(size).color(&PALETTE[3]))).map_err(|e| drawing_failed(e.to_string()))?;
        }
        root.present().map_err(|e| drawing_failed(e.to_string()))?;
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&rgb, width as u32, height as u32, ColorType::Rgb8)
        .map_err(|e| Error::io(path, std::io::Error::other(format!("PNG encoding: {e}"))))?;
    std::fs::write(path, &png).map_err(|e| Error::io(path, e))
}

/// How many screen pixels one image pixel becomes in [`image_grid`].
pub const IMAGE_GRID_SCALE: usize = 3;

/// Size in pixels of [`image_grid`]'s image for these arguments.
pub fn image_grid_size(
    count: usize,
    height: usize,
    width: usize,
    captions: &[String],
    columns: usize,
) -> Result<(u32, u32)> {
    Ok(GridLayout::new(count, height, width, captions, columns)?.size)
}

/// Bar chart (e.g. label histogram: count per class), with each bar's value written above it
/// while there are at most 30 bars. The image is [`bar_chart_size`].
pub fn bar_chart(path: &Path, title: &str, labels: &[String], values: &[f64]) -> Result<()> {
    check_len("plots::bar_chart", "values against labels", labels.len(), values.len())?;
    render_png(path, bar_chart_size(labels.len()), |root| {
        let body = titled(root, title)?;
        draw_bars(&body, labels, values)
    })
}

/// Size in pixels of [`bar_chart`]'s image for `bars` bars: 56 pixels a bar, within
/// 640..=2400 wide.
pub fn bar_chart_size(bars: usize) -> (u32, u32) {
    let width = (160 + 56 * bars.min(100)).clamp(640, 2400);
    (width as u32, 560)
}

/// Scatter plot of `(x, y)` points (e.g. predicted against true angle) with the diagonal
/// y = x drawn for reference; non-finite points are left out. The image is [`SCATTER_SIZE`].
pub fn scatter_plot(path: &Path, title: &str, x_label: &str, y_label: &str, points: &[(f64, f64)]) -> Result<()> {
    let finite: Vec<(f64, f64)> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    let range = axis_range(finite.iter().flat_map(|&(x, y)| [x, y]), 0.04, false);
    let (ticks, decimals) = nice_ticks(range.0, range.1, 10, false);
    render_png(path, SCATTER_SIZE, |root| {
        let body = titled(root, title)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(14)
            .margin_right(24)
            .x_label_area_size(52)
            .y_label_area_size(78)
            .build_cartesian_2d(TickedAxis::new(range, ticks.clone()), TickedAxis::new(range, ticks))?;
        let format = |v: &f64| format_tick(*v, decimals);
        draw_mesh(&mut chart, x_label, y_label, &format, &format)?;
        chart.draw_series(LineSeries::new([(range.0, range.0), (range.1, range.1)], PALETTE[3].stroke_width(2)))?;
        let dot = PALETTE[0].mix(0.35).filled();
        chart.draw_series(finite.iter().map(|&p| Circle::new(p, 2, dot)))?;
        Ok(())
    })
}

/// Size in pixels of [`scatter_plot`]'s image.
pub const SCATTER_SIZE: (u32, u32) = (760, 760);

/// Box plots of several groups of values (e.g. residuals per digit class): the box spans the
/// quartiles with a line at the median, whiskers reach the furthest values within 1.5
/// inter-quartile ranges, and values beyond are drawn as dots. Empty groups are left blank;
/// non-finite values are left out. The image is [`box_plot_size`].
pub fn box_plot(path: &Path, title: &str, y_label: &str, labels: &[String], groups: &[Vec<f64>]) -> Result<()> {
    check_len("plots::box_plot", "groups against labels", labels.len(), groups.len())?;
    let sorted: Vec<Vec<f64>> = groups
        .iter()
        .map(|g| {
            let mut v: Vec<f64> = g.iter().copied().filter(|v| v.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    let y_range = axis_range(sorted.iter().flatten().copied(), 0.06, true);
    let (y_ticks, decimals) = nice_ticks(y_range.0, y_range.1, 10, false);
    let n = labels.len().max(1);
    let x_ticks: Vec<f64> = (0..labels.len()).map(|i| i as f64).collect();
    render_png(path, box_plot_size(labels.len()), |root| {
        let body = titled(root, title)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(14)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(78)
            .build_cartesian_2d(TickedAxis::new((-0.6, n as f64 - 0.4), x_ticks), TickedAxis::new(y_range, y_ticks))?;
        let x_format = |v: &f64| labels.get(v.round().max(0.0) as usize).cloned().unwrap_or_default();
        let y_format = |v: &f64| format_tick(*v, decimals);
        draw_mesh(&mut chart, "", y_label, &x_format, &y_format)?;
        for (i, v) in sorted.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            let q = |p: f64| {
                let at = p * (v.len() - 1) as f64;
                let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
                v[lo] + (v[hi] - v[lo]) * (at - lo as f64)
            };
            let (q1, median, q3) = (q(0.25), q(0.5), q(0.75));
            let reach = 1.5 * (q3 - q1);
            let low = v.iter().copied().find(|&x| x >= q1 - reach).unwrap_or(q1);
            let high = v.iter().rev().copied().find(|&x| x <= q3 + reach).unwrap_or(q3);
            let x = i as f64;
            let color = PALETTE[i % PALETTE.len()];
            chart.draw_series([Rectangle::new([(x - 0.3, q1), (x + 0.3, q3)], color.mix(0.3).filled())])?;
            chart.draw_series([Rectangle::new([(x - 0.3, q1), (x + 0.3, q3)], color.stroke_width(2))])?;
            chart.draw_series(LineSeries::new([(x - 0.3, median), (x + 0.3, median)], BLACK.stroke_width(2)))?;
            for (a, b) in [(low, q1), (q3, high)] {
                chart.draw_series(LineSeries::new([(x, a), (x, b)], color.stroke_width(1)))?;
            }
            for end in [low, high] {
                chart.draw_series(LineSeries::new([(x - 0.12, end), (x + 0.12, end)], color.stroke_width(1)))?;
            }
            let outliers = v.iter().filter(|&&y| y < low || y > high).map(|&y| Circle::new((x, y), 2, color.filled()));
            chart.draw_series(outliers)?;
        }
        Ok(())
    })
}

/// Size in pixels of [`box_plot`]'s image for `groups` boxes.
pub fn box_plot_size(groups: usize) -> (u32, u32) {
    ((200 + 70 * groups.min(60)).max(640) as u32, 600)
}

// ---------------------------------------------------------------------------------------
// Shared machinery: font, rendering to PNG, argument checks, axes.

/// Registers the embedded font with plotters once per process.
fn ensure_font() -> std::result::Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font could not be parsed".to_string())
    }
}

fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FONT), size, FontStyle::Normal)
}

/// Width and height in pixels of `text` in the embedded font at `size`.
fn text_size(text: &str, size: f64) -> Result<(u32, u32)> {
    ensure_font().map_err(Error::config)?;
    font(size).box_size(text).map_err(|e| Error::config(format!("measuring text {text:?}: {e}")))
}

type TickedChart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<TickedAxis, TickedAxis>>;

/// The grid, axes, tick labels and axis descriptions every chart here shares.
fn draw_mesh(chart: &mut TickedChart, x_label: &str, y_label: &str, x_format: &dyn Fn(&f64) -> String, y_format: &dyn Fn(&f64) -> String) -> DrawResult {
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
fn render_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Area) -> DrawResult,
) -> Result<()> {
    let pixels = width as u64 * height as u64;
    if width == 0 || height == 0 || pixels > MAX_PIXELS {
        return Err(Error::config(format!(
            "{}: a {width}×{height} image is outside 1..={MAX_PIXELS} pixels",
            path.display()
        )));
    }
    let drawing_failed =
        |msg: String| Error::io(path, std::io::Error::other(format!("drawing failed: {msg}")));
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
        .write_image(&rgb, width, height, ColorType::Rgb8)
        .map_err(|e| Error::io(path, std::io::Error::other(format!("PNG encoding: {e}"))))?;
    std::fs::write(path, &png).map_err(|e| Error::io(path, e))
}

fn check_len(context: &str, what: &str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::Shape {
            context: format!("{context}: {what}"),
            expected: vec![expected],
            found: vec![found],
        })
    }
}

/// Draws `title` centred at the top and returns the area below it (the whole area if empty).
fn titled<'a>(
    root: &Area<'a>,
    title: &str,
) -> std::result::Result<Area<'a>, Box<dyn std::error::Error>> {
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
fn axis_range(values: impl Iterator<Item = f64>, pad: f64, include_zero: bool) -> (f64, f64) {
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
fn nice_ticks(lo: f64, hi: f64, max_ticks: usize, integer: bool) -> (Vec<f64>, usize) {
    let span = hi - lo;
    let raw = span / max_ticks.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return (vec![lo, hi], 2);
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    if integer && step < 1.0 {
        step = 1.0;
    }
    if !(step.is_finite() && step > 0.0) {
        return (vec![lo, hi], 2);
    }
    let first = (lo / step).ceil();
    let ticks = (0..=max_ticks + 1)
        .map(|k| (first + k as f64) * step)
        .take_while(|t| *t <= hi + step * 1e-9)
        .collect();
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()).clamp(0.0, 12.0) as usize };
    (ticks, decimals)
}

/// A tick label: `decimals` places, scientific notation for very large magnitudes, no "-0".
fn format_tick(value: f64, decimals: usize) -> String {
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
fn format_value(value: f64) -> String {
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
struct Line<'a> {
    name: &'a str,
    color: RGBColor,
    points: &'a [(f64, f64)],
}

/// Runs of consecutive finite points: a NaN or infinity breaks the line there.
fn finite_runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
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
fn emptier_corner(
    lines: &[Line],
    (x_lo, x_hi): (f64, f64),
    (y_lo, y_hi): (f64, f64),
) -> SeriesLabelPosition {
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
fn line_panel(
    area: &Area,
    caption: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
    inside_legend: bool,
) -> DrawResult {
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
    let mut chart = builder
        .build_cartesian_2d(TickedAxis::new(x_range, x_ticks), TickedAxis::new(y_range, y_ticks))?;
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
            let drawn =
                chart.draw_series(LineSeries::new(run.iter().copied(), color.stroke_width(2)))?;
            if k == 0 && inside_legend && !line.name.is_empty() {
                // The legend sample: a short line with the marker in its middle.
                let outline: Vec<(i32, i32)> =
                    marker_outline(index).into_iter().map(|(x, y)| (x + 12, y)).collect();
                drawn.label(line.name).legend(move |at| {
                    EmptyElement::at(at)
                        + PathElement::new(vec![(0, 0), (24, 0)], color.stroke_width(2))
                        + Polygon::new(outline.clone(), color.filled())
                });
            }
            if with_markers {
                let outline = marker_outline(index);
                let markers = run
                    .iter()
                    .map(|&p| EmptyElement::at(p) + Polygon::new(outline.clone(), color.filled()));
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
const LEGEND_TEXT_X: i32 = 44;
const LEGEND_ROW: i32 = 24;

/// The legend as a column of rows (sample, name) at the top of `area`; names too long for
/// the column are shortened with "…", and rows that do not fit are summed up in a last row.
fn side_legend(area: &Area, lines: &[&Line]) -> DrawResult {
    let (width, height) = area.dim_in_pixel();
    let fits = ((height as i32 - 2 * LEGEND_ROW) / LEGEND_ROW).max(1) as usize;
    let shown = if lines.len() > fits { fits - 1 } else { lines.len() };
    let style = font(TICK_SIZE).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    let name_width = width.saturating_sub(LEGEND_TEXT_X as u32 + 8);
    let mut y = 14 + LEGEND_ROW / 2;
    for (index, line) in lines.iter().take(shown).enumerate() {
        let color = line.color;
        area.draw(&PathElement::new(vec![(8, y), (32, y)], color.stroke_width(2)))?;
        let outline: Vec<(i32, i32)> =
            marker_outline(index).into_iter().map(|(dx, dy)| (20 + dx, y + dy)).collect();
        area.draw(&Polygon::new(outline, color.filled()))?;
        area.draw(&Text::new(
            fit_text(line.name, TICK_SIZE, name_width)?,
            (LEGEND_TEXT_X, y),
            style.clone(),
        ))?;
        y += LEGEND_ROW;
    }
    if shown < lines.len() {
        let more = format!("… and {} more", lines.len() - shown);
        area.draw(&Text::new(more, (LEGEND_TEXT_X, y), style))?;
    }
    Ok(())
}

/// `text`, cut short with "…" if it is wider than `max_width` pixels at `size`.
fn fit_text(text: &str, size: f64, max_width: u32) -> Result<String> {
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
fn marker_outline(index: usize) -> Vec<(i32, i32)> {
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
struct TickedAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl TickedAxis {
    fn new((lo, hi): (f64, f64), ticks: Vec<f64>) -> TickedAxis {
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

fn draw_bars(area: &Area, labels: &[String], values: &[f64]) -> DrawResult {
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
        .build_cartesian_2d(
            TickedAxis::new((-0.5, x_hi), x_ticks),
            TickedAxis::new((y_lo, y_hi), y_ticks),
        )?;
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
            let (anchor, dy) =
                if v >= 0.0 || !v.is_finite() { (VPos::Bottom, -4) } else { (VPos::Top, 4) };
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

struct HeatmapLayout {
    size: (u32, u32),
    /// Side of one cell in pixels.
    cell: i32,
    /// Top-left corner of the grid.
    origin: (i32, i32),
    count_size: f64,
}

impl HeatmapLayout {
    const TICK: f64 = 15.0;
    const DESC: f64 = AXIS_DESC_SIZE;

    fn new(title: &str, class_names: &[String]) -> Result<HeatmapLayout> {
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
        Ok(HeatmapLayout {
            size: (width as u32, height as u32),
            cell: cell as i32,
            origin: (origin_x as i32, top as i32),
            count_size,
        })
    }
}

/// White through the ColorBrewer "Blues" to dark blue, `t` in 0..=1.
fn blues(t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let (a, b) = ((247.0, 251.0, 255.0), (8.0, 48.0, 107.0));
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn draw_heatmap(
    root: &Area,
    layout: &HeatmapLayout,
    title: &str,
    confusion: &[Vec<usize>],
    class_names: &[String],
) -> DrawResult {
    let n = confusion.len() as i32;
    let cell = layout.cell;
    let (x0, y0) = layout.origin;
    let grid = n * cell;
    let (width, _) = layout.size;
    let centred = |size: f64| font(size).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));

    if !title.is_empty() {
        root.draw(&Text::new(title, (width as i32 / 2, 12 + 20), centred(TITLE_SIZE)))?;
    }
    root.draw(&Text::new(
        "predicted class",
        (x0 + grid / 2, 12 + 40 + 12),
        centred(HeatmapLayout::DESC),
    ))?;
    let true_style = font(HeatmapLayout::DESC)
        .transform(FontTransform::Rotate270)
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new("true class", (16 + 12, y0 + grid / 2), true_style))?;

    let tick_right =
        font(HeatmapLayout::TICK).color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
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
                let style =
                    font(layout.count_size).color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
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

struct GridLayout {
    size: (u32, u32),
    columns: usize,
    /// Size of one slot (image and caption), without the padding between slots.
    slot: (usize, usize),
    image: (usize, usize),
    pad: usize,
}

impl GridLayout {
    const CAPTION: f64 = 14.0;
    const CAPTION_HEIGHT: usize = 22;

    fn new(
        count: usize,
        height: usize,
        width: usize,
        captions: &[String],
        columns: usize,
    ) -> Result<GridLayout> {
        let context = "plots::image_grid";
        if columns == 0 {
            return Err(Error::config(format!("{context}: columns must be at least 1")));
        }
        let pad = 12;
        if count == 0 {
            return Ok(GridLayout {
                size: (240, 60),
                columns: 1,
                slot: (0, 0),
                image: (0, 0),
                pad,
            });
        }
        if height == 0 || width == 0 {
            return Err(Error::config(format!(
                "{context}: images of {height}×{width} pixels are empty"
            )));
        }
        let too_big = || {
            Error::config(format!(
                "{context}: {count} images of {height}×{width} make too large a picture"
            ))
        };
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
        let extent =
            |slot: usize, k: usize| slot.checked_add(pad)?.checked_mul(k)?.checked_add(pad);
        let total_w = extent(slot.0, columns).ok_or_else(too_big)?;
        let total_h = extent(slot.1, rows).ok_or_else(too_big)?;
        if (total_w as u64).saturating_mul(total_h as u64) > MAX_PIXELS {
            return Err(too_big());
        }
        Ok(GridLayout {
            size: (total_w as u32, total_h as u32),
            columns,
            slot,
            image: (image_w, image_h),
            pad,
        })
    }

    /// Top-left corner of the `k`-th slot.
    fn slot_origin(&self, k: usize) -> (i32, i32) {
        let (row, col) = (k / self.columns, k % self.columns);
        let x = self.pad + col * (self.slot.0 + self.pad);
        let y = self.pad + row * (self.slot.1 + self.pad);
        (x as i32, y as i32)
    }

    /// Top-left corner of the `k`-th scaled image, centred in its slot.
    fn image_origin(&self, k: usize) -> (i32, i32) {
        let (x, y) = self.slot_origin(k);
        (x + ((self.slot.0 - self.image.0) / 2) as i32, y)
    }
}

fn draw_grid(
    root: &Area,
    layout: &GridLayout,
    images: &[&[u8]],
    captions: &[String],
) -> DrawResult {
    let caption_style =
        font(GridLayout::CAPTION).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
    if images.is_empty() {
        let (w, h) = layout.size;
        let style =
            font(GridLayout::CAPTION).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
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
            let rect = Rectangle::new(
                [(x, y), (x + scale, y + scale)],
                RGBColor(value, value, value).filled(),
            );
            root.draw(&rect)?;
        }
        let (slot_x, _) = layout.slot_origin(k);
        let caption_at = (slot_x + layout.slot.0 as i32 / 2, y0 + layout.image.1 as i32 + 4);
        root.draw(&Text::new(caption.as_str(), caption_at, caption_style.clone()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary one, removed when dropped.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn join(&self, name: &str) -> std::path::PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn temp_dir(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("digitnet-plots-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Width and height from the PNG header: the IHDR chunk's two big-endian u32 at 16..24.
    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        (width, height)
    }

    fn decode(path: &Path) -> image::RgbImage {
        image::open(path).unwrap().to_rgb8()
    }

    /// A path in a directory that does not exist.
    fn missing_dir_path() -> std::path::PathBuf {
        std::env::temp_dir()
            .join(format!("digitnet-plots-{}-no-such-directory", std::process::id()))
            .join("plot.png")
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| i.to_string()).collect()
    }

    #[test]
    fn training_curves_writes_a_png_of_the_documented_size() {
        let dir = temp_dir("curves");
        let path = dir.join("curves.png");
        let train_loss = [2.3, 0.9, 0.5, 0.35, 0.28, 0.24];
        let val_loss = [1.2, 0.7, 0.45, 0.4, 0.38, 0.39];
        let train_acc = [0.45, 0.78, 0.88, 0.91, 0.93, 0.94];
        let val_acc = [0.65, 0.82, 0.89, 0.90, 0.91, 0.905];
        training_curves(&path, "lenet5 on MNIST", &train_loss, &val_loss, &train_acc, &val_acc)
            .unwrap();
        assert_eq!(png_size(&path), TRAINING_CURVES_SIZE);
        // Something other than white was drawn in both halves (the two panels).
        let img = decode(&path);
        let (w, h) = TRAINING_CURVES_SIZE;
        let inked = |x_range: std::ops::Range<u32>| {
            x_range
                .flat_map(|x| (0..h).map(move |y| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0 != [255, 255, 255])
                .count()
        };
        assert!(inked(0..w / 2) > 1000 && inked(w / 2..w) > 1000);
    }

    #[test]
    fn training_curves_without_validation_or_epochs_still_draw() {
        let dir = temp_dir("curves-partial");
        let path = dir.join("train-only.png");
        training_curves(&path, "training only", &[1.0, 0.5], &[], &[0.5, 0.8], &[]).unwrap();
        assert_eq!(png_size(&path), TRAINING_CURVES_SIZE);
        let path = dir.join("empty.png");
        training_curves(&path, "", &[], &[], &[], &[]).unwrap();
        assert_eq!(png_size(&path), TRAINING_CURVES_SIZE);
        let path = dir.join("one-epoch.png");
        training_curves(&path, "one", &[1.0], &[1.1], &[0.5], &[0.4]).unwrap();
        assert_eq!(png_size(&path), TRAINING_CURVES_SIZE);
    }

    #[test]
    fn training_curves_rejects_mismatched_lengths_and_bad_paths() {
        let dir = temp_dir("curves-bad");
        let path = dir.join("bad.png");
        let err = training_curves(&path, "t", &[1.0, 2.0], &[], &[0.5], &[]).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        let err =
            training_curves(&path, "t", &[1.0, 2.0], &[1.0], &[0.5, 0.6], &[0.4]).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        let err = training_curves(&path, "t", &[1.0], &[1.0], &[0.5], &[]).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        assert!(!path.exists());
        let err =
            training_curves(&missing_dir_path(), "t", &[1.0], &[1.0], &[0.5], &[0.5]).unwrap_err();
        match err {
            Error::Io { cause, .. } => assert_eq!(cause.kind(), std::io::ErrorKind::NotFound),
            other => panic!("expected an I/O error, got {other}"),
        }
    }

    #[test]
    fn line_chart_survives_nan_infinity_and_extreme_values() {
        let dir = temp_dir("lines");
        let series: Vec<(String, Vec<(f64, f64)>)> = vec![
            ("lr=0.1 batch=64".into(), vec![(1.0, 0.9), (2.0, f64::NAN), (3.0, 0.95), (4.0, 0.96)]),
            (
                "lr=0.01 batch=64".into(),
                vec![(1.0, 0.8), (2.0, 0.88), (3.0, f64::INFINITY), (4.0, 0.93)],
            ),
            ("all NaN".into(), vec![(f64::NAN, f64::NAN)]),
            ("empty".into(), vec![]),
            (String::new(), vec![(1.0, 0.5), (4.0, 0.6)]),
        ];
        let path = dir.join("sweep.png");
        line_chart(&path, "sweep", "epoch", "validation accuracy", &series).unwrap();
        assert_eq!(png_size(&path), LINE_CHART_SIZE);

        let extremes: Vec<(String, Vec<(f64, f64)>)> = vec![
            ("huge".into(), vec![(-1e308, -1e308), (1e308, 1e308)]),
            ("tiny".into(), vec![(0.0, 0.0), (1e-300, 5e-324)]),
            ("flat".into(), vec![(2.0, 3.0), (2.0, 3.0)]),
        ];
        for (i, one) in extremes.into_iter().enumerate() {
            let path = dir.join(&format!("extreme-{i}.png"));
            line_chart(&path, "extreme", "x", "y", &[one]).unwrap();
            assert_eq!(png_size(&path), LINE_CHART_SIZE);
        }
        let path = dir.join("nothing.png");
        line_chart(&path, "", "", "", &[]).unwrap();
        assert_eq!(png_size(&path), LINE_CHART_SIZE);
        // Many series: colours cycle and markers change without panicking.
        let many: Vec<(String, Vec<(f64, f64)>)> = (0..25)
            .map(|s| {
                (
                    format!("run {s}"),
                    (1..=5).map(|e| (e as f64, 0.5 + 0.01 * (s + e) as f64)).collect(),
                )
            })
            .collect();
        let path = dir.join("many.png");
        line_chart(&path, "many", "epoch", "accuracy", &many).unwrap();
        assert!(line_chart(&missing_dir_path(), "t", "x", "y", &many).is_err());
    }

    #[test]
    fn confusion_heatmap_colours_cells_by_row_share() {
        let dir = temp_dir("confusion");
        let path = dir.join("confusion.png");
        let n = 10;
        let mut confusion = vec![vec![0usize; n]; n];
        for (i, row) in confusion.iter_mut().enumerate() {
            row[i] = 950 + 7 * i;
            row[(i + 3) % n] = 12;
            row[(i + 7) % n] = 3;
        }
        confusion[4][9] = 41;
        let class_names = names(n);
        confusion_heatmap(&path, "confusion on the test set", &confusion, &class_names).unwrap();
        let size = confusion_heatmap_size("confusion on the test set", &class_names).unwrap();
        assert_eq!(png_size(&path), size);

        // A cell's corner pixel (away from the written count) has the shade of its row share.
        let layout = HeatmapLayout::new("confusion on the test set", &class_names).unwrap();
        let img = decode(&path);
        let pixel_of = |i: usize, j: usize| {
            let (x0, y0) = layout.origin;
            let (x, y) = (x0 + j as i32 * layout.cell + 3, y0 + i as i32 * layout.cell + 3);
            img.get_pixel(x as u32, y as u32).0
        };
        let row4: f64 = confusion[4].iter().sum::<usize>() as f64;
        let expected = blues((41.0 / row4).sqrt());
        assert_eq!(pixel_of(4, 9), [expected.0, expected.1, expected.2]);
        let expected = blues(0.0);
        assert_eq!(pixel_of(4, 5), [expected.0, expected.1, expected.2]);
    }

    #[test]
    fn confusion_heatmap_rejects_bad_shapes_and_paths() {
        let dir = temp_dir("confusion-bad");
        let path = dir.join("bad.png");
        assert!(matches!(confusion_heatmap(&path, "t", &[], &[]), Err(Error::Config(_))));
        let ragged = vec![vec![1, 2], vec![3]];
        assert!(matches!(
            confusion_heatmap(&path, "t", &ragged, &names(2)),
            Err(Error::Shape { .. })
        ));
        let square = vec![vec![1, 2], vec![3, 4]];
        assert!(matches!(
            confusion_heatmap(&path, "t", &square, &names(3)),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            confusion_heatmap(&missing_dir_path(), "t", &square, &names(2)),
            Err(Error::Io { .. })
        ));
        let many = vec![vec![0usize; 3000]; 3000];
        assert!(matches!(
            confusion_heatmap(&path, "t", &many, &names(3000)),
            Err(Error::Config(_))
        ));
        // A single class and an all-zero row are fine.
        confusion_heatmap(&path, "", &[vec![0]], &names(1)).unwrap();
        assert_eq!(png_size(&path), confusion_heatmap_size("", &names(1)).unwrap());
    }

    #[test]
    fn image_grid_places_scaled_pixels_in_order() {
        let dir = temp_dir("grid");
        let path = dir.join("grid.png");
        let (h, w) = (4, 5);
        // Image k has pixel (r, c) = 10k + 40r + 7c, so every pixel of every image differs.
        let images: Vec<Vec<u8>> = (0..7)
            .map(|k| (0..h * w).map(|p| (10 * k + 40 * (p / w) + 7 * (p % w)) as u8).collect())
            .collect();
        let refs: Vec<&[u8]> = images.iter().map(|v| v.as_slice()).collect();
        let captions: Vec<String> =
            (0..7).map(|k| format!("true {k} / pred {}", (k + 1) % 10)).collect();
        image_grid(&path, &refs, h, w, &captions, 3).unwrap();
        let layout = GridLayout::new(7, h, w, &captions, 3).unwrap();
        assert_eq!(png_size(&path), layout.size);
        assert_eq!(layout.size, image_grid_size(7, h, w, &captions, 3).unwrap());

        let img = decode(&path);
        let s = IMAGE_GRID_SCALE as i32;
        for (k, pixels) in images.iter().enumerate() {
            let (x0, y0) = layout.image_origin(k);
            for r in 0..h as i32 {
                for c in 0..w as i32 {
                    let v = pixels[r as usize * w + c as usize];
                    // Every screen pixel of the enlarged pixel, including both far edges.
                    for (dx, dy) in [(0, 0), (s - 1, 0), (0, s - 1), (s - 1, s - 1)] {
                        let got =
                            img.get_pixel((x0 + c * s + dx) as u32, (y0 + r * s + dy) as u32).0;
                        assert_eq!(
                            got,
                            [v, v, v],
                            "image {k} pixel ({r}, {c}) offset ({dx}, {dy})"
                        );
                    }
                }
            }
        }
        // Seven images in rows of three: slot 6 starts the third row.
        assert_eq!(layout.slot_origin(6).0, layout.slot_origin(0).0);
        assert!(layout.slot_origin(6).1 > layout.slot_origin(3).1);
    }

    #[test]
    fn image_grid_rejects_bad_arguments_without_panicking() {
        let dir = temp_dir("grid-bad");
        let path = dir.join("bad.png");
        let image = vec![0u8; 6];
        let one: Vec<&[u8]> = vec![&image];
        assert!(matches!(image_grid(&path, &one, 2, 3, &[], 4), Err(Error::Shape { .. })));
        assert!(matches!(
            image_grid(&path, &one, 2, 4, &["a".into()], 4),
            Err(Error::Length { .. })
        ));
        assert!(matches!(image_grid(&path, &one, 2, 3, &["a".into()], 0), Err(Error::Config(_))));
        assert!(matches!(
            image_grid(&missing_dir_path(), &one, 2, 3, &["a".into()], 4),
            Err(Error::Io { .. })
        ));
        let huge = vec![0u8; 0];
        let zero: Vec<&[u8]> = vec![&huge];
        assert!(image_grid(&path, &zero, 0, 0, &["a".into()], 1).is_err());
        assert!(image_grid(&path, &zero, usize::MAX, 0, &["a".into()], 1).is_err());
        assert!(image_grid(&path, &zero, usize::MAX, 2, &["a".into()], 1).is_err());
        assert!(image_grid_size(usize::MAX, usize::MAX / 3, usize::MAX / 3, &[], 7).is_err());
        assert!(image_grid_size(usize::MAX, 1, 1, &[], usize::MAX).is_err());
        let wide = vec![0u8; 1_000_000];
        let wide: Vec<&[u8]> = vec![&wide];
        assert!(matches!(
            image_grid(&path, &wide, 1, 1_000_000, &["a".into()], 1),
            Err(Error::Config(_))
        ));
        // No images at all: a small picture that says so.
        image_grid(&path, &[], 28, 28, &[], 8).unwrap();
        assert_eq!(png_size(&path), image_grid_size(0, 28, 28, &[], 8).unwrap());
    }

    #[test]
    fn bar_chart_writes_a_png_and_checks_lengths() {
        let dir = temp_dir("bars");
        let path = dir.join("labels.png");
        let counts =
            [5923.0, 6742.0, 5958.0, 6131.0, 5842.0, 5421.0, 5918.0, 6265.0, 5851.0, 5949.0];
        bar_chart(&path, "training labels", &names(10), &counts).unwrap();
        assert_eq!(png_size(&path), bar_chart_size(10));
        let path = dir.join("odd.png");
        bar_chart(&path, "odd values", &names(4), &[-2.5, f64::NAN, 0.0, f64::INFINITY]).unwrap();
        let path = dir.join("many.png");
        let values: Vec<f64> = (0..500).map(|i| (i % 17) as f64).collect();
        bar_chart(&path, "many bars", &names(500), &values).unwrap();
        assert_eq!(png_size(&path), bar_chart_size(500));
        let path = dir.join("empty.png");
        bar_chart(&path, "", &[], &[]).unwrap();
        assert_eq!(png_size(&path), bar_chart_size(0));
        assert!(matches!(bar_chart(&path, "t", &names(2), &[1.0]), Err(Error::Shape { .. })));
        assert!(matches!(
            bar_chart(&missing_dir_path(), "t", &names(1), &[1.0]),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn nice_ticks_are_round_and_inside_the_range() {
        // 0.88..1.02 over at most 8 ticks: raw step 0.0175 → 0.02, first tick 0.88.
        let (ticks, decimals) = nice_ticks(0.88, 1.02, 8, false);
        assert_eq!(decimals, 2);
        assert_eq!(ticks.len(), 8);
        assert!((ticks[0] - 0.88).abs() < 1e-12 && (ticks[7] - 1.02).abs() < 1e-9);
        // Epochs 1..=3 padded to 0.96..3.04: integer steps only.
        let (ticks, decimals) = nice_ticks(0.96, 3.04, 12, true);
        assert_eq!((ticks, decimals), (vec![1.0, 2.0, 3.0], 0));
        assert_eq!(format_tick(-0.0001, 2), "0.00");
        assert_eq!(format_tick(0.9, 2), "0.90");
        assert_eq!(format_value(5923.0), "5923");
        assert_eq!(format_value(0.12345), "0.1235");
        assert_eq!(format_value(-2.5), "-2.5");
    }
}
