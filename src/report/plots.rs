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

use image::codecs::png::PngEncoder;
use image::{ColorType, ImageEncoder};
use plotters::prelude::*;

use super::draw::*;
use crate::error::{Error, Result};

/// Two panels side by side: loss per epoch and accuracy per epoch, training against
/// validation (epochs numbered from 1).
///
/// `train_loss` and `train_acc` must have the same length; `val_loss` and `val_acc` must have
/// the same length, either that one or zero (no validation set: only training is drawn).
/// The image is [`TRAINING_CURVES_SIZE`].
pub fn training_curves(path: &Path, title: &str, train_loss: &[f64], val_loss: &[f64], train_acc: &[f64], val_acc: &[f64]) -> Result<()> {
    let context = "plots::training_curves";
    check_len(context, "train_acc against train_loss", train_loss.len(), train_acc.len())?;
    check_len(context, "val_acc against val_loss", val_loss.len(), val_acc.len())?;
    if !val_loss.is_empty() {
        check_len(context, "val_loss against train_loss", train_loss.len(), val_loss.len())?;
    }
    let per_epoch = |values: &[f64]| -> Vec<(f64, f64)> { values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)).collect() };
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
pub fn line_chart(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[(String, Vec<(f64, f64)>)]) -> Result<()> {
    let lines: Vec<Line> = series.iter().enumerate().map(|(i, (name, points))| Line { name, color: PALETTE[i % PALETTE.len()], points }).collect();
    let named: Vec<&Line> = lines.iter().filter(|line| !line.name.is_empty()).collect();
    let mut legend_width = 0;
    for line in &named {
        legend_width = legend_width.max(text_size(line.name, TICK_SIZE)?.0 + LEGEND_TEXT_X as u32 + 12);
    }
    let legend_width = if named.is_empty() { 0 } else { legend_width.clamp(150, LINE_CHART_SIZE.0 / 3) };
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
pub fn confusion_heatmap(path: &Path, title: &str, confusion: &[Vec<usize>], class_names: &[String]) -> Result<()> {
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
pub fn image_grid(path: &Path, images: &[&[u8]], height: usize, width: usize, captions: &[String], columns: usize) -> Result<()> {
    let context = "plots::image_grid";
    check_len(context, "captions against images", images.len(), captions.len())?;
    let pixels = height.checked_mul(width).ok_or_else(|| Error::config(format!("{context}: images of {height}×{width} pixels are too large")))?;
    for (i, img) in images.iter().enumerate() {
        if img.len() != pixels {
            return Err(Error::Length { context: format!("{context}: image {i}"), shape: vec![height, width], expected: pixels, found: img.len() });
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
        .write_image(&rgb, width as u32, height as u32, ColorType::Rgb8.into())
        .map_err(|e| Error::io(path, std::io::Error::other(format!("PNG encoding: {e}"))))?;
    std::fs::write(path, &png).map_err(|e| Error::io(path, e))
}

/// How many screen pixels one image pixel becomes in [`image_grid`].
pub const IMAGE_GRID_SCALE: usize = 3;

/// Size in pixels of [`image_grid`]'s image for these arguments.
pub fn image_grid_size(count: usize, height: usize, width: usize, captions: &[String], columns: usize) -> Result<(u32, u32)> {
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
        let dir = std::env::temp_dir().join(format!("digitnet-plots-{}-{name}", std::process::id()));
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
        std::env::temp_dir().join(format!("digitnet-plots-{}-no-such-directory", std::process::id())).join("plot.png")
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
        training_curves(&path, "lenet5 on MNIST", &train_loss, &val_loss, &train_acc, &val_acc).unwrap();
        assert_eq!(png_size(&path), TRAINING_CURVES_SIZE);
        // Something other than white was drawn in both halves (the two panels).
        let img = decode(&path);
        let (w, h) = TRAINING_CURVES_SIZE;
        let inked = |x_range: std::ops::Range<u32>| {
            x_range.flat_map(|x| (0..h).map(move |y| (x, y))).filter(|&(x, y)| img.get_pixel(x, y).0 != [255, 255, 255]).count()
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
        let err = training_curves(&path, "t", &[1.0, 2.0], &[1.0], &[0.5, 0.6], &[0.4]).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        let err = training_curves(&path, "t", &[1.0], &[1.0], &[0.5], &[]).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        assert!(!path.exists());
        let err = training_curves(&missing_dir_path(), "t", &[1.0], &[1.0], &[0.5], &[0.5]).unwrap_err();
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
            ("lr=0.01 batch=64".into(), vec![(1.0, 0.8), (2.0, 0.88), (3.0, f64::INFINITY), (4.0, 0.93)]),
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
        let many: Vec<(String, Vec<(f64, f64)>)> =
            (0..25).map(|s| (format!("run {s}"), (1..=5).map(|e| (e as f64, 0.5 + 0.01 * (s + e) as f64)).collect())).collect();
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
        assert!(matches!(confusion_heatmap(&path, "t", &ragged, &names(2)), Err(Error::Shape { .. })));
        let square = vec![vec![1, 2], vec![3, 4]];
        assert!(matches!(confusion_heatmap(&path, "t", &square, &names(3)), Err(Error::Shape { .. })));
        assert!(matches!(confusion_heatmap(&missing_dir_path(), "t", &square, &names(2)), Err(Error::Io { .. })));
        let many = vec![vec![0usize; 3000]; 3000];
        assert!(matches!(confusion_heatmap(&path, "t", &many, &names(3000)), Err(Error::Config(_))));
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
        let images: Vec<Vec<u8>> = (0..7).map(|k| (0..h * w).map(|p| (10 * k + 40 * (p / w) + 7 * (p % w)) as u8).collect()).collect();
        let refs: Vec<&[u8]> = images.iter().map(|v| v.as_slice()).collect();
        let captions: Vec<String> = (0..7).map(|k| format!("true {k} / pred {}", (k + 1) % 10)).collect();
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
                        let got = img.get_pixel((x0 + c * s + dx) as u32, (y0 + r * s + dy) as u32).0;
                        assert_eq!(got, [v, v, v], "image {k} pixel ({r}, {c}) offset ({dx}, {dy})");
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
        assert!(matches!(image_grid(&path, &one, 2, 4, &["a".into()], 4), Err(Error::Length { .. })));
        assert!(matches!(image_grid(&path, &one, 2, 3, &["a".into()], 0), Err(Error::Config(_))));
        assert!(matches!(image_grid(&missing_dir_path(), &one, 2, 3, &["a".into()], 4), Err(Error::Io { .. })));
        let huge = vec![0u8; 0];
        let zero: Vec<&[u8]> = vec![&huge];
        assert!(image_grid(&path, &zero, 0, 0, &["a".into()], 1).is_err());
        assert!(image_grid(&path, &zero, usize::MAX, 0, &["a".into()], 1).is_err());
        assert!(image_grid(&path, &zero, usize::MAX, 2, &["a".into()], 1).is_err());
        assert!(image_grid_size(usize::MAX, usize::MAX / 3, usize::MAX / 3, &[], 7).is_err());
        assert!(image_grid_size(usize::MAX, 1, 1, &[], usize::MAX).is_err());
        let wide = vec![0u8; 1_000_000];
        let wide: Vec<&[u8]> = vec![&wide];
        assert!(matches!(image_grid(&path, &wide, 1, 1_000_000, &["a".into()], 1), Err(Error::Config(_))));
        // No images at all: a small picture that says so.
        image_grid(&path, &[], 28, 28, &[], 8).unwrap();
        assert_eq!(png_size(&path), image_grid_size(0, 28, 28, &[], 8).unwrap());
    }

    #[test]
    fn bar_chart_writes_a_png_and_checks_lengths() {
        let dir = temp_dir("bars");
        let path = dir.join("labels.png");
        let counts = [5923.0, 6742.0, 5958.0, 6131.0, 5842.0, 5421.0, 5918.0, 6265.0, 5851.0, 5949.0];
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
        assert!(matches!(bar_chart(&missing_dir_path(), "t", &names(1), &[1.0]), Err(Error::Io { .. })));
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
