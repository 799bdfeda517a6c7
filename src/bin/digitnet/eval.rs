//! `digitnet eval`.

use crate::common::{in_pool, load_split};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use digitnet::data::{Dataset, Split};
use digitnet::inference::Model;
use digitnet::network::arch::Task;
use digitnet::network::sequential::Sequential;
use digitnet::report::metrics::classification_report;
use digitnet::tasks::rotation::{deskew_dataset, predict_dataset, AngleReport, RotatedSet, MAX_DEGREES};
use digitnet::training::{evaluate, Evaluation, Workspace};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
enum SplitName {
    Test,
    Train,
}

#[derive(Args)]
pub struct EvalArgs {
    /// The model file to evaluate, or `builtin` (the default) / `builtin-rotation`.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Architecture for a model file without digitnet metadata (e.g. saved by PyTorch).
    #[arg(long)]
    arch: Option<String>,
    /// A directory with train-/t10k- IDX files (default: the shipped MNIST).
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "test")]
    split: SplitName,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
    /// Write a confusion-matrix heat map and a grid of misclassified images here.
    #[arg(long)]
    plots: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Evaluate on a folder with one sub-folder of images per class (names must be the model's
    /// classes); for a rotation model, a folder of turned digits with angles.csv, as `data
    /// rotated` writes it. Every image is read as `predict` / `angle` read it.
    #[arg(long, conflicts_with = "data")]
    folder: Option<PathBuf>,
    /// Rotation models: an angle counts as right within this many degrees.
    #[arg(long, default_value_t = 10.0)]
    threshold: f64,
    /// Classifiers: also evaluate on the test digits rotated by random angles in ±45°, before
    /// and after straightening them with the rotation model of --deskew-with.
    #[arg(long, conflicts_with = "folder")]
    rotated: bool,
    /// With --rotated: the rotation model that straightens the digits (default: the built-in one).
    #[arg(long, requires = "rotated")]
    deskew_with: Option<PathBuf>,
    /// Seed of the random angles of the rotated test digits.
    #[arg(long, default_value_t = 0)]
    angle_seed: u64,
}

pub fn run(a: EvalArgs) -> Result<ExitCode> {
    in_pool(a.threads, move || run_in_pool(a))
}

fn run_in_pool(a: EvalArgs) -> Result<ExitCode> {
    let model = crate::predict::load_model(a.model.as_ref(), a.arch.as_deref())?;
    if model.architecture().task == Task::Rotation {
        return eval_rotation_model(&a, model);
    }
    model.require_classifier()?;
    let model_name = model.origin().to_string();
    let pipeline = model.pipeline();
    let (mut model, mnist_net) = model.into_networks();
    let split = split_of(&a);
    // Every image goes through the model's input pipeline, as `predict` reads a file of it,
    // and is scored by the network `predict` gives it (`Model::for_image`: the built-in
    // classifier has one for MNIST-format images, which every IDX image is).
    let (data, rejected, mnist_format) = match &a.folder {
        Some(dir) => {
            let input = model.architecture().input;
            let (mut d, names, mnist_format) = digitnet::data::folder::load_with_kinds(dir, pipeline, input[1], input[2])?;
            // Map folder classes onto the model's classes by name.
            let classes = &model.architecture().classes;
            let mut map = Vec::with_capacity(names.len());
            for n in &names {
                match classes.iter().position(|c| c == n) {
                    Some(i) => map.push(i as u8),
                    None => bail!("folder class '{n}' is not one of the model's classes {classes:?}"),
                }
            }
            d.labels.iter_mut().for_each(|l| *l = map[*l as usize]);
            (d, 0, mnist_format)
        }
        None => {
            let (d, rejected) = load_split(a.data.as_ref(), split)?.prepared(pipeline);
            let n = d.len();
            (d, rejected, vec![true; n])
        }
    };
    if rejected > 0 {
        eprintln!("note: the {} input pipeline found no digit in {rejected} of the {} images; they are scored as they are", pipeline.name(), data.len());
    }
    let input = model.architecture().input;
    if input != [1, data.rows, data.cols] {
        bail!("{} was made for {:?} inputs but the data has 1×{}×{} images", model_name, input, data.rows, data.cols);
    }
    let classes = model.architecture().classes.clone();
    if let Some(&bad) = data.labels.iter().find(|&&l| l as usize >= classes.len()) {
        bail!("label {bad} in the data is out of range for the model's {} classes", classes.len());
    }
    let mut ws = Workspace::default();
    let mut mnist_net = mnist_net;
    if a.rotated {
        return eval_rotated(&a, mnist_net.as_mut().unwrap_or(&mut model), &data);
    }
    let ev = evaluate_by_kind(&mut model, mnist_net.as_mut(), &data, &mnist_format, &mut ws)?;
    let report = classification_report(&ev.probabilities, &data.labels, &classes, ev.stats.loss)?;
    if a.json {
        println!("{}", with_source(&report, &model_name, data.len())?);
    } else {
        println!("{} on {} {} images", model_name, data.len(), if split == Split::Test { "test" } else { "train" });
        print!("{}", report.to_text());
    }
    if let Some(dir) = &a.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        digitnet::report::plots::confusion_heatmap(&dir.join("confusion.png"), "Confusion matrix", &report.confusion, &classes)?;
        let preds = ev.predictions();
        let wrong: Vec<usize> = (0..data.len()).filter(|&i| preds[i] != data.labels[i] as usize).take(64).collect();
        let images: Vec<&[u8]> = wrong.iter().map(|&i| data.image(i)).collect();
        let captions: Vec<String> = wrong.iter().map(|&i| format!("true {} / pred {}", classes[data.labels[i] as usize], classes[preds[i]])).collect();
        digitnet::report::plots::image_grid(&dir.join("misclassified.png"), &images, data.rows, data.cols, &captions, 8)?;
        eprintln!("plots: {}, {}", dir.join("confusion.png").display(), dir.join("misclassified.png").display());
    }
    Ok(ExitCode::SUCCESS)
}

/// [`evaluate`] with each image scored by the network that reads it: `mnist_net` (when there
/// is one) for the images in MNIST's format (`mnist_format[i]`), `net` for the others; in data
/// order, loss and accuracy over all.
fn evaluate_by_kind(net: &mut Sequential, mnist_net: Option<&mut Sequential>, data: &Dataset, mnist_format: &[bool], ws: &mut Workspace) -> Result<Evaluation> {
    let Some(mnist_net) = mnist_net else { return Ok(evaluate(net, data, 1000, ws)?) };
    if mnist_format.iter().all(|&m| m) {
        return Ok(evaluate(mnist_net, data, 1000, ws)?);
    }
    if !mnist_format.iter().any(|&m| m) {
        return Ok(evaluate(net, data, 1000, ws)?);
    }
    let (mnist, other): (Vec<usize>, Vec<usize>) = (0..data.len()).partition(|&i| mnist_format[i]);
    let parts = [(evaluate(mnist_net, &data.subset(&mnist), 1000, ws)?, mnist), (evaluate(net, &data.subset(&other), 1000, ws)?, other)];
    let k = parts[0].0.classes;
    let mut all = Evaluation { probabilities: vec![0.0; data.len() * k], classes: k, ..Default::default() };
    for (ev, indices) in &parts {
        for (row, &i) in ev.probabilities.chunks(k).zip(indices) {
            all.probabilities[i * k..(i + 1) * k].copy_from_slice(row);
        }
        all.stats.loss += ev.stats.loss * ev.stats.images as f64;
        all.stats.accuracy += ev.stats.accuracy * ev.stats.images as f64;
        all.stats.images += ev.stats.images;
    }
    all.stats.loss /= all.stats.images.max(1) as f64;
    all.stats.accuracy /= all.stats.images.max(1) as f64;
    Ok(all)
}

fn split_of(a: &EvalArgs) -> Split {
    match a.split {
        SplitName::Test => Split::Test,
        SplitName::Train => Split::Train,
    }
}

/// A rotation model on the digits of the split, each turned by a seeded random angle in ±45°:
/// RMSE, mean absolute error, the share within the threshold, RMSE per class.
fn eval_rotation_model(a: &EvalArgs, mut model: Model) -> Result<ExitCode> {
    let name = model.origin().to_string();
    if a.rotated {
        bail!("--rotated is for classifiers; a rotation model is evaluated on turned digits");
    }
    if !(a.threshold.is_finite() && a.threshold > 0.0) {
        bail!("--threshold must be a positive number of degrees, got {}", a.threshold);
    }
    if let Some(dir) = &a.folder {
        return eval_rotation_folder(a, &mut model, dir);
    }
    // IDX images are in MNIST's format: the network that reads those.
    let mut model = model.into_mnist_format().into_network();
    let data = load_split(a.data.as_ref(), split_of(a))?;
    if model.architecture().input != [1, data.rows, data.cols] {
        bail!("the model takes {:?} inputs but the data has 1×{}×{} images", model.architecture().input, data.rows, data.cols);
    }
    let all: Vec<usize> = (0..data.len()).collect();
    let set = RotatedSet::generate(&data, &all, MAX_DEGREES, a.angle_seed);
    // Each turned digit through the model's input pipeline, as `angle` reads its file.
    let predicted = predict_dataset(&mut model, &set.data, 1000)?;
    let report = AngleReport::new(&predicted, &set.angles, &set.data.labels, a.threshold)?;
    if a.json {
        println!("{}", with_source(&report, &name, report.images)?);
    } else {
        println!(
            "{name} on {} rotated {} digits (angles uniform in ±{MAX_DEGREES}°, seed {})",
            report.images,
            if split_of(a) == Split::Test { "test" } else { "train" },
            a.angle_seed
        );
        println!("RMSE {:.3}°   mean absolute error {:.3}°   within {}°: {:.2} %", report.rmse, report.mae, report.threshold, report.within_threshold * 100.0);
        println!(
            "RMSE per digit: {}",
            report
                .per_class_rmse
                .iter()
                .enumerate()
                .map(|(c, r)| format!("{c}: {}", r.map_or("-".into(), |v| format!("{v:.2}°"))))
                .collect::<Vec<_>>()
                .join("  ")
        );
    }
    if let Some(dir) = &a.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let points: Vec<(f64, f64)> = set.angles.iter().zip(&predicted).map(|(&t, &p)| (t as f64, p as f64)).collect();
        let scatter = dir.join("angles.png");
        digitnet::report::plots::scatter_plot(
            &scatter,
            &format!("Predicted against true angle (RMSE {:.2}°)", report.rmse),
            "true angle (°)",
            "predicted angle (°)",
            &points,
        )?;
        let mut residuals = vec![Vec::new(); report.per_class_rmse.len()];
        for ((&t, &p), &l) in set.angles.iter().zip(&predicted).zip(&set.data.labels) {
            residuals[l as usize].push((p - t) as f64);
        }
        let labels: Vec<String> = (0..residuals.len()).map(|c| c.to_string()).collect();
        let boxes = dir.join("residuals.png");
        digitnet::report::plots::box_plot(&boxes, "Residual (predicted − true) per digit", "residual (°)", &labels, &residuals)?;
        eprintln!("plots: {}, {}", scatter.display(), boxes.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A rotation model on a folder of turned digits with their `angles.csv` (`file,digit,angle`,
/// as `digitnet data rotated` writes it): every file read exactly as `angle` reads it.
fn eval_rotation_folder(a: &EvalArgs, model: &mut Model, dir: &Path) -> Result<ExitCode> {
    let csv_path = dir.join("angles.csv");
    let csv = std::fs::read_to_string(&csv_path).with_context(|| {
        format!("reading {} (a rotation model is evaluated on a folder with angles.csv, as `digitnet data rotated` writes)", csv_path.display())
    })?;
    let (mut predicted, mut truth, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for (n, line) in csv.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let bad = || anyhow::anyhow!("{} line {}: expected file,digit,angle, found '{line}'", csv_path.display(), n + 1);
        let mut fields = line.split(',');
        let (Some(file), Some(digit), Some(angle), None) = (fields.next(), fields.next(), fields.next(), fields.next()) else { return Err(bad()) };
        let (digit, angle): (u8, f32) = (digit.trim().parse().map_err(|_| bad())?, angle.trim().parse().map_err(|_| bad())?);
        let path = dir.join(file.trim());
        predicted.push(model.angle_file(&path).with_context(|| path.display().to_string())?);
        truth.push(angle);
        labels.push(digit);
    }
    if truth.is_empty() {
        bail!("{} lists no images", csv_path.display());
    }
    let report = AngleReport::new(&predicted, &truth, &labels, a.threshold)?;
    if a.json {
        println!("{}", with_source(&report, model.origin(), report.images)?);
    } else {
        println!("{} on the {} turned digits of {}", model.origin(), report.images, dir.display());
        println!("RMSE {:.3}°   mean absolute error {:.3}°   within {}°: {:.2} %", report.rmse, report.mae, report.threshold, report.within_threshold * 100.0);
    }
    Ok(ExitCode::SUCCESS)
}

/// Accuracy of `model` on the digits as they are, turned by random angles, and straightened
/// again by a rotation model.
fn eval_rotated(a: &EvalArgs, model: &mut Sequential, data: &Dataset) -> Result<ExitCode> {
    let mut regressor = crate::predict::load_rotation_model(a.deskew_with.as_ref())?.into_mnist_format().into_network();
    let all: Vec<usize> = (0..data.len()).collect();
    let set = RotatedSet::generate(data, &all, MAX_DEGREES, a.angle_seed);
    let predicted = predict_dataset(&mut regressor, &set.data, 1000)?;
    let straightened = deskew_dataset(&set.data, &predicted);
    let angles = AngleReport::new(&predicted, &set.angles, &set.data.labels, a.threshold)?;
    let mut ws = Workspace::default();
    let upright = evaluate(model, data, 1000, &mut ws)?.stats.accuracy;
    let rotated = evaluate(model, &set.data, 1000, &mut ws)?.stats.accuracy;
    let deskewed = evaluate(model, &straightened, 1000, &mut ws)?.stats.accuracy;
    if a.json {
        let out = serde_json::json!({
            "images": data.len(), "accuracy": upright, "rotated_accuracy": rotated, "deskewed_accuracy": deskewed,
            "angle_rmse": angles.rmse, "angle_within_threshold": angles.within_threshold, "threshold": angles.threshold,
        });
        println!("{out}");
    } else {
        println!("classifier accuracy on {} digits (angles uniform in ±{MAX_DEGREES}°, seed {}):", data.len(), a.angle_seed);
        println!("  as they are            {:.2} %", upright * 100.0);
        println!("  rotated                {:.2} %", rotated * 100.0);
        println!(
            "  rotated, then deskewed {:.2} %   (angle RMSE {:.2}°, {:.2} % within {}°)",
            deskewed * 100.0,
            angles.rmse,
            angles.within_threshold * 100.0,
            angles.threshold
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A report as JSON, with the model it measured and the number of images first.
fn with_source(report: &impl serde::Serialize, model: &str, images: usize) -> Result<String> {
    let mut v = serde_json::to_value(report)?;
    if let serde_json::Value::Object(fields) = &mut v {
        let mut out = serde_json::Map::new();
        out.insert("model".into(), model.into());
        out.insert("images".into(), images.into());
        out.extend(std::mem::take(fields));
        v = serde_json::Value::Object(out);
    }
    Ok(serde_json::to_string(&v)?)
}
