//! `digitnet predict` and `digitnet read`: photos of one digit, and photos of numbers.

use crate::common::{output_path, resolve_arch};
use anyhow::{Context, Result};
use clap::Args;
use digitnet::inference::{not_one_digit, Digit, Model, Prediction, Reading};
use digitnet::vision::load_luma;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `--model FILE [--arch NAME]`, shared by the commands that run a trained model.
#[derive(Args)]
pub struct ModelArgs {
    /// A model file, or `builtin` (the default) / `builtin-rotation` for the built-in models.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Architecture for a model file without digitnet metadata (e.g. a PyTorch state dict).
    #[arg(long)]
    pub arch: Option<String>,
}

impl ModelArgs {
    /// Loads the chosen classifier.
    pub fn load(&self) -> Result<Model> {
        let m = self.load_any()?;
        m.require_classifier()?;
        Ok(m)
    }

    /// Loads the classifier that reads numbers: the chosen one, or the built-in number reader.
    pub fn load_reader(&self) -> Result<Model> {
        let m = match &self.model {
            Some(_) => self.load_any()?,
            None => Model::builtin_reader()?,
        };
        m.require_classifier()?;
        Ok(m)
    }

    /// Loads the chosen model, whatever its task.
    pub fn load_any(&self) -> Result<Model> {
        load_model(self.model.as_ref(), self.arch.as_deref())
    }
}

/// The model from `--model` (with `--arch` for foreign files; `builtin` and
/// `builtin-rotation` name the built-in models) or the built-in classifier.
pub fn load_model(model: Option<&PathBuf>, arch: Option<&str>) -> Result<Model> {
    Ok(match model {
        Some(name) if name.as_os_str() == "builtin" => Model::builtin()?,
        Some(name) if name.as_os_str() == "builtin-rotation" => Model::builtin_rotation()?,
        Some(path) => {
            let arch = arch.map(resolve_arch).transpose()?;
            Model::load_with_arch(path, arch.as_ref())?
        }
        None => Model::builtin()?,
    })
}

/// A rotation model from `path` (`builtin` or none: the built-in one).
pub fn load_rotation_model(path: Option<&PathBuf>) -> Result<Model> {
    let m = match path {
        Some(p) if p.as_os_str() != "builtin" && p.as_os_str() != "builtin-rotation" => Model::load(p)?,
        _ => Model::builtin_rotation()?,
    };
    m.require_rotation()?;
    Ok(m)
}

/// File extensions read as images when a folder is given.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"];

/// The command line's images, each folder replaced by the images in it (sorted by name; other
/// files and sub-folders skipped, with a note saying how many).
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in inputs {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(path).with_context(|| format!("reading the folder {}", path.display()))?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        let is_image =
            |p: &PathBuf| p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        let skipped = files.iter().filter(|p| !is_image(p)).count();
        files.retain(is_image);
        if skipped > 0 {
            eprintln!(
                "note: {}: skipped {skipped} entr{} that {} not an image file ({})",
                path.display(),
                if skipped == 1 { "y" } else { "ies" },
                if skipped == 1 { "is" } else { "are" },
                IMAGE_EXTENSIONS.join(", ")
            );
        }
        if files.is_empty() {
            anyhow::bail!("{}: the folder holds no image files ({})", path.display(), IMAGE_EXTENSIONS.join(", "));
        }
        out.extend(files);
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
                // The path is said once: as the line's (or the JSON object's) own.
                let error = error.strip_prefix(&format!("{shown}: ")).map(str::to_string).unwrap_or(error);
                if !json {
                    eprintln!("{shown}: error: {error}");
                }
                outputs.push(failure(shown, error));
            }
        }
    }
    Ok((outputs, failed))
}

#[derive(Args)]
pub struct PredictArgs {
    /// Images of one handwritten digit each (PNG, JPEG, BMP, GIF, TIFF, WebP), or folders of them.
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
    /// `digit` is the network's answer; with `not_a_digit` true only its best guess, and
    /// `reason` says why the image does not look like one digit.
    Ok {
        path: String,
        digit: String,
        confidence: f32,
        probabilities: Vec<f32>,
        not_a_digit: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// With `--top K` (K > 1): the K most likely classes, most likely first.
        #[serde(skip_serializing_if = "Option::is_none")]
        top: Option<Vec<Ranked>>,
    },
    Err {
        path: String,
        error: String,
    },
}

/// One of the most likely classes.
#[derive(Serialize)]
pub struct Ranked {
    digit: String,
    probability: f32,
}

impl PredictOutput {
    /// The answer for one image.
    pub fn new(path: String, p: Prediction) -> Self {
        PredictOutput::Ok {
            path,
            digit: p.label,
            confidence: p.confidence,
            probabilities: p.probabilities,
            not_a_digit: p.not_a_digit.is_some(),
            reason: p.not_a_digit,
            top: None,
        }
    }

    /// The answer with the `k` most likely classes listed.
    fn with_top(path: String, p: Prediction, classes: &[String], k: usize) -> Self {
        let ranked = (k > 1).then(|| p.top(k).into_iter().map(|(i, q)| Ranked { digit: classes[i].clone(), probability: q }).collect());
        match PredictOutput::new(path, p) {
            PredictOutput::Ok { path, digit, confidence, probabilities, not_a_digit, reason, .. } => {
                PredictOutput::Ok { path, digit, confidence, probabilities, not_a_digit, reason, top: ranked }
            }
            err => err,
        }
    }
}

fn save_28(path: &Path, img: &Digit) -> Result<()> {
    let g = image::GrayImage::from_raw(28, 28, img.to_vec()).context("28×28 buffer")?;
    g.save(path).with_context(|| format!("writing {}", path.display()))
}

pub fn predict(a: PredictArgs) -> Result<ExitCode> {
    let images = expand_inputs(&a.images)?;
    let mut model = a.model.load()?;
    let classes = model.classes().to_vec();
    if a.top == 0 || a.top > classes.len() {
        anyhow::bail!("--top must be between 1 and {}", classes.len());
    }
    if let Some(dir) = &a.show {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut shown_files = std::collections::HashSet::new();
    let (outputs, failed) = each_file(
        &images,
        a.json,
        |path, shown| {
            // The network that reads this image (the built-in has one for MNIST-format images).
            let (g, img, found) = match load_luma(path).and_then(|g| {
                let (img, found) = model.for_image(&g).examine(&g)?;
                Ok((g, img, found))
            }) {
                Ok(v) => v,
                Err(e) => return Ok(Err(e.to_string())),
            };
            if let Some(dir) = &a.show {
                save_28(&output_path(dir, path, ".28x28.png", &mut shown_files, &images), &img)?;
            }
            let mut p = model.for_image(&g).classify(&[img])?.remove(0);
            let number = model.reading_of_wide_ink(&g, found.as_ref())?;
            p.not_a_digit = not_one_digit(found.as_ref(), &p, number.as_ref());
            if !a.json {
                let alts: Vec<String> = p.top(a.top).iter().skip(1).map(|&(i, q)| format!("{} {:.1} %", classes[i], q * 100.0)).collect();
                let extra = if alts.is_empty() { String::new() } else { format!(" (then {})", alts.join(", ")) };
                match &p.not_a_digit {
                    Some(reason) => println!("{shown}: not one digit: {reason} (best guess {}, {:.1} %{extra})", p.label, p.confidence * 100.0),
                    None => println!("{shown}: {} ({:.1} %){extra}", p.label, p.confidence * 100.0),
                }
            }
            Ok(Ok(PredictOutput::with_top(shown.to_string(), p, &classes, a.top)))
        },
        |path, error| PredictOutput::Err { path, error },
    )?;
    if a.json {
        println!("{}", serde_json::to_string(&outputs)?);
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[derive(Args)]
pub struct ReadArgs {
    /// Photos of numbers (several digits, one or more lines), or folders of them.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// A classifier to read the digits with (default: the built-in number reader, which also
    /// knows "none").
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
    Ok {
        path: String,
        text: String,
        /// The digits with the marks read among them (`24.551` for the text `24551`).
        raw: String,
        digits: Vec<ReadDigit>,
    },
    Err {
        path: String,
        error: String,
    },
}

impl ReadOutput {
    /// The number read from one image.
    pub fn new(path: String, reading: Reading) -> Self {
        let digits = reading.digits.into_iter().map(|d| ReadDigit { digit: d.prediction.label, confidence: d.prediction.confidence, bbox: d.bbox }).collect();
        ReadOutput::Ok { path, text: reading.text, raw: reading.raw, digits }
    }
}

pub fn read(a: ReadArgs) -> Result<ExitCode> {
    let images = expand_inputs(&a.images)?;
    if a.annotate.is_some() && images.len() != 1 {
        anyhow::bail!("--annotate takes exactly one image");
    }
    if let Some(out) = &a.annotate {
        crate::common::refuse_to_overwrite(&images[0], out, "--annotate")?;
    }
    let mut model = a.model.load_reader()?;
    let (outputs, failed) = each_file(
        &images,
        a.json,
        |path, shown| {
            let (gray, reading) = match load_luma(path).and_then(|g| model.read(&g).map(|r| (g, r))) {
                Ok(v) => v,
                Err(e) => return Ok(Err(e.to_string())),
            };
            let output = ReadOutput::new(shown.to_string(), reading);
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
        },
        |path, error| ReadOutput::Err { path, error },
    )?;
    if a.json {
        if outputs.len() == 1 {
            println!("{}", serde_json::to_string(&outputs[0])?);
        } else {
            println!("{}", serde_json::to_string(&outputs)?);
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
