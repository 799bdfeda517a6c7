//! `digitnet predict` and `digitnet read`: photos of one digit, and photos of numbers.

use crate::common::resolve_arch;
use anyhow::{Context, Result};
use clap::Args;
use digitnet::layers::activation::softmax_row;
use digitnet::layers::Mode;
use digitnet::network::sequential::Sequential;
use digitnet::vision as photo;
use digitnet::vision::segment;
use digitnet::tensor::Tensor;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `--model FILE [--arch NAME]`, shared by the commands that run a trained model.
#[derive(Args)]
pub struct ModelArgs {
    /// A model file (default: the built-in model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Architecture for a model file without digitnet metadata (e.g. a PyTorch state dict).
    #[arg(long)]
    pub arch: Option<String>,
}

impl ModelArgs {
    /// Loads the chosen model.
    pub fn load(&self) -> Result<Sequential> {
        load_model(self.model.as_ref(), self.arch.as_deref())
    }
}

/// The model from `--model` (with `--arch` for foreign files) or the built-in one.
/// Only classifiers are accepted (predict, read, eval and inspect report classes).
pub fn load_model(model: Option<&PathBuf>, arch: Option<&str>) -> Result<Sequential> {
    Ok(load_model_with_metadata(model, arch)?.0)
}

/// As [`load_model`], with the file's metadata (e.g. `val_accuracy`, `epoch`).
pub fn load_model_with_metadata(model: Option<&PathBuf>, arch: Option<&str>) -> Result<(Sequential, HashMap<String, String>)> {
    let (m, metadata) = load_any_model_with_metadata(model, arch)?;
    Ok((check_classifier(m)?, metadata))
}

/// `m` if it is a classifier, else an error saying the command needs one.
pub fn check_classifier(m: Sequential) -> Result<Sequential> {
    let a = m.architecture();
    if a.task != digitnet::network::arch::Task::Classification || a.classes.len() < 2 {
        anyhow::bail!("model '{}' is not a classifier (task {:?}, {} classes); this command needs one", a.name, a.task, a.classes.len());
    }
    Ok(m)
}

/// The model from `--model` (with `--arch` for foreign files) or the built-in classifier,
/// whatever its task.
pub fn load_any_model(model: Option<&PathBuf>, arch: Option<&str>) -> Result<Sequential> {
    Ok(load_any_model_with_metadata(model, arch)?.0)
}

fn load_any_model_with_metadata(model: Option<&PathBuf>, arch: Option<&str>) -> Result<(Sequential, HashMap<String, String>)> {
    Ok(match model {
        Some(path) => {
            let arch = arch.map(resolve_arch).transpose()?;
            let file = digitnet::network::model_file::load(path, arch.as_ref())?;
            (file.model, file.metadata)
        }
        None => digitnet::inference::builtin::digits_classifier()?,
    })
}

/// A rotation model from `path` (`builtin` or none: the built-in one).
pub fn load_rotation_model(path: Option<&PathBuf>) -> Result<Sequential> {
    let m = match path {
        Some(p) if p.as_os_str() != "builtin" => digitnet::network::model_file::load(p, None)?.model,
        _ => digitnet::inference::builtin::rotation_regressor()?.0,
    };
    digitnet::tasks::rotation::check_rotation_model(&m)?;
    Ok(m)
}

/// The network input for MNIST-style 28×28 ink images: `[n, 1, 28, 28]`, normalised as the
/// model was trained.
pub fn input_tensor(model: &Sequential, images: &[[u8; 784]]) -> Result<Tensor> {
    let arch = model.architecture();
    if arch.input != [1, 28, 28] {
        anyhow::bail!("model '{}' takes {:?} inputs, not 28×28 digits", arch.name, arch.input);
    }
    let norm = arch.normalization;
    let mut x = Tensor::zeros(&[images.len(), 1, 28, 28]);
    for (dst, img) in x.data.chunks_mut(784).zip(images) {
        for (d, &p) in dst.iter_mut().zip(img.iter()) {
            *d = norm.apply(p);
        }
    }
    Ok(x)
}

/// Softmax probabilities for MNIST-style 28×28 ink images.
pub fn classify(model: &mut Sequential, images: &[[u8; 784]]) -> Result<Vec<Vec<f32>>> {
    let x = input_tensor(model, images)?;
    let logits = model.forward(&x, Mode::Eval)?;
    let k = logits.sample_len();
    let mut out = Vec::with_capacity(images.len());
    for row in logits.data.chunks(k) {
        let mut p = vec![0.0; k];
        softmax_row(row, &mut p);
        out.push(p);
    }
    Ok(out)
}

/// The per-file loop of `predict`, `read`, `angle` and `deskew`. `each` answers one file
/// (given its path and its name as shown): `Ok(Err(message))` is that file's failure, printed
/// to stderr unless `json` and recorded by `failure(name, message)`, and the other files still
/// get their answers; an outer `Err` stops the command. Returns the answers and whether any
/// file failed.
pub fn each_file<T>(
    images: &[PathBuf],
    json: bool,
    mut each: impl FnMut(&Path, &str) -> Result<std::result::Result<T, String>>,
    failure: impl Fn(String, String) -> T,
) -> Result<(Vec<T>, bool)> {
    let mut outputs = Vec::with_capacity(images.len());
    let mut failed = false;
    for path in images {
        let shown = path.display().to_string();
        match each(path, &shown)? {
            Ok(answer) => outputs.push(answer),
            Err(error) => {
                failed = true;
                if !json {
                    eprintln!("{shown}: error: {error}");
                }
                outputs.push(failure(shown, error));
            }
        }
    }
    Ok((outputs, failed))
}

fn argmax(p: &[f32]) -> usize {
    p.iter().enumerate().fold(0, |b, (i, &v)| if v > p[b] { i } else { b })
}

#[derive(Args)]
pub struct PredictArgs {
    /// Images of one handwritten digit each (PNG, JPEG, BMP, GIF, TIFF, WebP).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Print a JSON array, one object per image.
    #[arg(long)]
    json: bool,
    /// Also list the K most likely digits.
    #[arg(long, default_value_t = 1)]
    top: usize,
    /// Write each preprocessed 28×28 input here as PNG (what the network saw).
    #[arg(long)]
    show: Option<PathBuf>,
}

/// One image's answer in `predict --json` (and `POST /api/predict`).
#[derive(Serialize)]
#[serde(untagged)]
pub enum PredictOutput {
    Ok { path: String, digit: String, confidence: f32, probabilities: Vec<f32> },
    Err { path: String, error: String },
}

impl PredictOutput {
    /// The answer for the probabilities `p` over `classes`.
    pub fn new(path: String, classes: &[String], p: Vec<f32>) -> Self {
        let best = argmax(&p);
        PredictOutput::Ok { path, digit: classes[best].clone(), confidence: p[best], probabilities: p }
    }
}

fn save_28(path: &Path, img: &[u8; 784]) -> Result<()> {
    let g = image::GrayImage::from_raw(28, 28, img.to_vec()).context("28×28 buffer")?;
    g.save(path).with_context(|| format!("writing {}", path.display()))
}

pub fn predict(a: PredictArgs) -> Result<ExitCode> {
    let mut model = a.model.load()?;
    let classes = model.architecture().classes.clone();
    if a.top == 0 || a.top > classes.len() {
        anyhow::bail!("--top must be between 1 and {}", classes.len());
    }
    if let Some(dir) = &a.show {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (outputs, failed) = each_file(&a.images, a.json, |path, shown| {
        let img = match photo::load_luma(path).and_then(|g| photo::to_mnist(&g)) {
            Ok(img) => img,
            Err(e) => return Ok(Err(e.to_string())),
        };
        if let Some(dir) = &a.show {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
            save_28(&dir.join(format!("{stem}.28x28.png")), &img)?;
        }
        let p = classify(&mut model, &[img])?.remove(0);
        let best = argmax(&p);
        if !a.json {
            let mut order: Vec<usize> = (0..p.len()).collect();
            order.sort_by(|&i, &j| p[j].total_cmp(&p[i]));
            let alts: Vec<String> = order.iter().skip(1).take(a.top - 1).map(|&i| format!("{} {:.1} %", classes[i], p[i] * 100.0)).collect();
            let extra = if alts.is_empty() { String::new() } else { format!(" (then {})", alts.join(", ")) };
            println!("{shown}: {} ({:.1} %){extra}", classes[best], p[best] * 100.0);
        }
        Ok(Ok(PredictOutput::new(shown.to_string(), &classes, p)))
    }, |path, error| PredictOutput::Err { path, error })?;
    if a.json {
        println!("{}", serde_json::to_string(&outputs)?);
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[derive(Args)]
pub struct ReadArgs {
    /// Photos of numbers (several digits, one or more lines).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Print JSON (an array when several images are given).
    #[arg(long)]
    json: bool,
    /// Draw the boxes and the digits read onto a copy of the image (one image only).
    #[arg(long)]
    annotate: Option<PathBuf>,
}

#[derive(Serialize)]
pub struct ReadDigit {
    digit: String,
    confidence: f32,
    #[serde(rename = "box")]
    bbox: [usize; 4],
}

/// One image's answer in `read --json` (and `POST /api/read`).
#[derive(Serialize)]
#[serde(untagged)]
pub enum ReadOutput {
    Ok { path: String, text: String, digits: Vec<ReadDigit> },
    Err { path: String, error: String },
}

impl ReadOutput {
    /// The number read from the digits found (`boxes`, in reading order) and their
    /// probabilities over `classes`: a line break between lines.
    pub fn new(path: String, classes: &[String], boxes: &[segment::DigitBox], probs: &[Vec<f32>]) -> Self {
        let mut text = String::new();
        let mut digits = Vec::new();
        for (i, (b, p)) in boxes.iter().zip(probs).enumerate() {
            if i > 0 && b.line != boxes[i - 1].line {
                text.push('\n');
            }
            let best = argmax(p);
            text += &classes[best];
            digits.push(ReadDigit { digit: classes[best].clone(), confidence: p[best], bbox: [b.x, b.y, b.w, b.h] });
        }
        ReadOutput::Ok { path, text, digits }
    }
}

pub fn read(a: ReadArgs) -> Result<ExitCode> {
    if a.annotate.is_some() && a.images.len() != 1 {
        anyhow::bail!("--annotate takes exactly one image");
    }
    let mut model = a.model.load()?;
    let classes = model.architecture().classes.clone();
    let (outputs, failed) = each_file(&a.images, a.json, |path, shown| {
        let (gray, boxes) = match photo::load_luma(path).and_then(|g| segment::find_digits(&g).map(|b| (g, b))) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let images: Vec<[u8; 784]> = boxes.iter().map(|b| b.image).collect();
        let probs = classify(&mut model, &images)?;
        let output = ReadOutput::new(shown.to_string(), &classes, &boxes, &probs);
        if let ReadOutput::Ok { text, digits, .. } = &output {
            if let Some(out) = &a.annotate {
                let labelled: Vec<([usize; 4], String)> = digits.iter().map(|d| (d.bbox, d.digit.clone())).collect();
                digitnet::report::plots::annotate_boxes(out, &gray.pixels, gray.width, gray.height, &labelled)?;
            }
            if !a.json {
                println!("{shown}: {}", text.replace('\n', " / "));
            }
        }
        Ok(Ok(output))
    }, |path, error| ReadOutput::Err { path, error })?;
    if a.json {
        if outputs.len() == 1 {
            println!("{}", serde_json::to_string(&outputs[0])?);
        } else {
            println!("{}", serde_json::to_string(&outputs)?);
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
