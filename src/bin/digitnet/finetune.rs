//! `digitnet finetune`: a trained classifier becomes a rotation-angle regressor (new head,
//! frozen early layers), trained with the same loop, progress, history and plots as `train`.

use crate::common::check_model_out;
use crate::common::{in_pool, load_split};
use crate::train::{drive, ScheduleName};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use digitnet::data::Split;
use digitnet::network::arch::{RotationInput, Task};
use digitnet::training::optim::OptimizerKind;
use digitnet::training::{Run, RunPaths, TrainConfig};
use digitnet::vision::Pipeline;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
enum FinetuneTask {
    /// Predict the digit's rotation angle in ±45° (one output, MSE loss).
    Rotation,
}

#[derive(Args)]
pub struct FinetuneArgs {
    /// The trained classifier to start from (`builtin` for the built-in one): its last layer is
    /// replaced by the regression head. With --further, a rotation model to train further.
    #[arg(long)]
    from: String,
    /// --from is a rotation model, trained further as it is (e.g. with --photos).
    #[arg(long)]
    further: bool,
    #[arg(long, value_enum, default_value = "rotation")]
    task: FinetuneTask,
    /// Freeze the first N layers (learning rate 0), or `all` for every layer but the new head.
    #[arg(long, default_value = "0")]
    freeze: String,
    #[arg(long, default_value_t = 6)]
    epochs: usize,
    /// Normalise every rotated digit again as MNIST was made (crop, fit 20×20, centre), in
    /// training and prediction, so that photos of turned digits look like the training digits.
    #[arg(long, conflicts_with = "photos")]
    normalise_input: bool,
    /// Train on photos too: half the turned digits rendered as photo-like images (pen on tinted
    /// paper, noise, blur, JPEG) and read through the photo pipeline, as `angle` reads photos.
    #[arg(long)]
    photos: bool,
    /// Train on photos alone: every turned digit rendered as a photo-like image and read
    /// through the photo pipeline (a network for photos only, validated on photos).
    #[arg(long, conflicts_with_all = ["photos", "normalise_input"])]
    photos_only: bool,
    /// Rate of the classifier's dropout layers while fine-tuning (0 turns them off).
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    #[arg(long, value_enum, default_value = "cosine")]
    schedule: ScheduleName,
    /// Training images held out for validation, each turned by a fixed seeded angle (default
    /// 5,000, or a tenth of --limit).
    #[arg(long)]
    val_split: Option<usize>,
    /// Use only the first N training images (0 = all), for a quick try.
    #[arg(long, default_value_t = 0)]
    limit: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after this many epochs without a lower validation RMSE.
    #[arg(long)]
    patience: Option<usize>,
    /// A directory with train-/t10k- IDX files (default: the shipped MNIST).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Where to write the best model (history, curves and checkpoint go beside it).
    #[arg(long)]
    out: PathBuf,
    /// Serve a live training page (loss and accuracy curves, progress) at this address; after
    /// training it keeps serving the final curves until Ctrl-C.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:8081")]
    dashboard: Option<String>,
}

pub fn run(a: FinetuneArgs) -> Result<ExitCode> {
    in_pool(a.threads, move || run_in_pool(a))
}

fn run_in_pool(a: FinetuneArgs) -> Result<ExitCode> {
    let FinetuneTask::Rotation = a.task;
    let from = if a.from == "builtin" {
        digitnet::inference::builtin::digits_classifier()?.0
    } else {
        digitnet::network::model_file::load(std::path::Path::new(&a.from), None)?.model
    };
    let mut model = if a.further {
        if from.architecture().task != Task::Rotation {
            bail!("--further trains a rotation model further, but '{}' is a {:?} model", a.from, from.architecture().task);
        }
        from
    } else {
        digitnet::tasks::rotation::regressor_from_classifier(&from, a.seed, Some(a.dropout))
            .map_err(|e| anyhow::anyhow!("{e} (or add --further to train a rotation model further)"))?
    };
    if a.normalise_input {
        model.set_rotation_input(RotationInput::Normalised);
    }
    if a.photos {
        model.set_rotation_input(RotationInput::WithPhotos);
    }
    if a.photos_only {
        model.set_rotation_input(RotationInput::Photos);
    }
    // MNIST-format digits as they are, photos through the photo pipeline.
    model.set_input_pipeline(Pipeline::Auto);
    let head = model.layers().len() - 1;
    let freeze = match a.freeze.as_str() {
        "all" => head,
        n => match n.parse::<usize>() {
            Ok(n) => n,
            Err(_) => bail!("--freeze must be a number of layers or `all`, got '{n}'"),
        },
    };
    if freeze > head {
        bail!("--freeze {freeze} is larger than the {head} layers before the new head (`--freeze all` freezes them all)");
    }
    let schedule = a.schedule.schedule(3.0, 0.1)?; // step: ×0.1 every 3 epochs, as train's defaults
    let data = load_split(a.data.as_ref(), Split::Train)?;
    let data = if a.limit > 0 { data.take(a.limit) } else { data };
    let val_split = a.val_split.unwrap_or(if a.limit > 0 { (a.limit / 10).max(1) } else { 5000 });
    let config = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        optimizer: OptimizerKind::adam(),
        weight_decay: 0.0,
        schedule,
        class_weights: None,
        val_split,
        seed: a.seed,
        patience: a.patience,
        augment: Default::default(),
        stratified: false,
        freeze,
        limit: a.limit,
    };
    config.validate(data.len())?;
    let arch = model.architecture();
    if arch.input != [1, data.rows, data.cols] {
        bail!("model '{}' takes {:?} inputs but the data has 1×{}×{} images", arch.name, arch.input, data.rows, data.cols);
    }
    check_model_out(&a.out)?;
    let mut run = Run::from_model(model, config, RunPaths::for_model(&a.out))?;
    eprintln!("fine-tuning '{}' from {} for the rotation angle", run.model.architecture().name, a.from);
    drive(&mut run, &data, a.dashboard.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
