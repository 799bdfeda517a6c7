//! `digitnet eval`.

use crate::common::{in_pool, load_split};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use digitnet::data::Split;
use digitnet::metrics::classification_report;
use digitnet::train::{evaluate, Workspace};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
enum SplitName {
    Test,
    Train,
}

#[derive(Args)]
pub struct EvalArgs {
    /// The model file to evaluate (default: the built-in model).
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
    /// Evaluate on a folder with one sub-folder of images per class (names must be the model's classes).
    #[arg(long, conflicts_with = "data")]
    folder: Option<PathBuf>,
}

pub fn run(a: EvalArgs) -> Result<ExitCode> {
    in_pool(a.threads, move || run_in_pool(a))
}

fn run_in_pool(a: EvalArgs) -> Result<ExitCode> {
    let mut model = crate::predict::load_model(a.model.as_ref(), a.arch.as_deref())?;
    let model_name = a.model.as_ref().map_or(digitnet::builtin::DIGITS_CLASSIFIER_NAME.to_string(), |p| p.display().to_string());
    let split = match a.split {
        SplitName::Test => Split::Test,
        SplitName::Train => Split::Train,
    };
    let data = match &a.folder {
        Some(dir) => {
            let input = model.architecture().input;
            let (mut d, names) = digitnet::data::folder::load(dir, input[1], input[2])?;
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
            d
        }
        None => load_split(a.data.as_ref(), split)?,
    };
    let input = model.architecture().input;
    if input != [1, data.rows, data.cols] {
        bail!("{} was made for {:?} inputs but the data has 1×{}×{} images", model_name, input, data.rows, data.cols);
    }
    let classes = model.architecture().classes.clone();
    if let Some(&bad) = data.labels.iter().find(|&&l| l as usize >= classes.len()) {
        bail!("label {bad} in the data is out of range for the model's {} classes", classes.len());
    }
    let mut ws = Workspace::default();
    let ev = evaluate(&mut model, &data, 1000, &mut ws)?;
    let report = classification_report(&ev.probabilities, &data.labels, &classes, ev.stats.loss)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{} on {} {} images", model_name, data.len(), if split == Split::Test { "test" } else { "train" });
        print!("{}", report.to_text());
    }
    if let Some(dir) = &a.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        digitnet::plots::confusion_heatmap(&dir.join("confusion.png"), "Confusion matrix", &report.confusion, &classes)?;
        let preds = ev.predictions();
        let wrong: Vec<usize> = (0..data.len()).filter(|&i| preds[i] != data.labels[i] as usize).take(64).collect();
        let images: Vec<&[u8]> = wrong.iter().map(|&i| data.image(i)).collect();
        let captions: Vec<String> = wrong.iter().map(|&i| format!("true {} / pred {}", classes[data.labels[i] as usize], classes[preds[i]])).collect();
        digitnet::plots::image_grid(&dir.join("misclassified.png"), &images, data.rows, data.cols, &captions, 8)?;
        eprintln!("plots: {}, {}", dir.join("confusion.png").display(), dir.join("misclassified.png").display());
    }
    Ok(ExitCode::SUCCESS)
}
