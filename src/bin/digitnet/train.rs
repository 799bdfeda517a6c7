//! `digitnet train`.

use crate::common::{check_model_out, fit_arch_to_data, in_pool, load_split, resolve_arch};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use digitnet::data::augment::Augment;
use digitnet::data::{Dataset, Split};
use digitnet::network::arch::{Architecture, LayerSpec, Task};
use digitnet::network::Sequential;
use digitnet::training::optim::OptimizerKind;
use digitnet::training::schedule::Schedule;
use digitnet::training::{Checkpoint, Event, Run, RunPaths, TrainConfig};
use digitnet::vision::Pipeline;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// `println!` that lets a closed or full stdout go (`train … | head -n 2`): the run goes on
/// and saves its files; only the progress lines are lost.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Clone, Copy, ValueEnum)]
enum OptimizerName {
    Adam,
    Sgd,
}

/// What the network learns.
#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum TaskName {
    /// The digit's class (softmax cross-entropy).
    Classification,
    /// The digit's rotation angle in ±45° (one output, MSE), on freshly rotated digits.
    Rotation,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScheduleName {
    Constant,
    Step,
    Cosine,
}

impl ScheduleName {
    /// The schedule; `step_every` epochs and `step_gamma` apply to the step schedule.
    pub fn schedule(self, step_every: f64, step_gamma: f32) -> Result<Schedule> {
        Ok(match self {
            ScheduleName::Constant => Schedule::Constant,
            ScheduleName::Step => Schedule::parse("step", step_every, step_gamma)?,
            ScheduleName::Cosine => Schedule::Cosine { min_lr: 0.0 },
        })
    }
}

#[derive(Args)]
pub struct TrainArgs {
    /// A built-in architecture (small, lenet, keras, scratch8/16/24) or a JSON file, trained
    /// from scratch (default: lenet; with --folder, the built-in model is the default start).
    #[arg(long)]
    arch: Option<String>,
    /// Start from a trained model instead of random weights: `builtin` (the built-in digit
    /// classifier), a model file, or `scratch`. Default: `builtin` with --folder (transfer
    /// learning; a new last layer when the folder's classes are not the model's), else scratch.
    #[arg(long)]
    from: Option<String>,
    /// How images become the network's inputs, recorded in the model so `predict` and `eval`
    /// prepare them the same way: auto (MNIST-format images as they are, photos through the
    /// photo pipeline), photo, resize (grey levels resized, for images that are not digits) or
    /// mnist. Default: auto, or resize for a folder trained from scratch.
    #[arg(long)]
    pipeline: Option<Pipeline>,
    /// What to learn: the digit (classification) or its rotation angle (the architecture's
    /// last Dense layer becomes a one-output regression head; see also `finetune`).
    #[arg(long, value_enum, default_value = "classification")]
    task: TaskName,
    /// A directory with train-/t10k- IDX files (default: the shipped MNIST).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Epochs to train (default 10; with --resume, the run's own total unless given).
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: OptimizerName,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// SGD with Nesterov momentum.
    #[arg(long)]
    nesterov: bool,
    /// L2 penalty (SGD) or decoupled weight decay (Adam).
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    #[arg(long, value_enum, default_value = "constant")]
    schedule: ScheduleName,
    /// Step schedule: epochs between decays.
    #[arg(long, default_value_t = 3.0)]
    step_every: f64,
    /// Step schedule: decay factor.
    #[arg(long, default_value_t = 0.1)]
    step_gamma: f32,
    /// Dropout rate after every pooling layer (0 = none).
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// Per-class loss weights w0,w1,…
    #[arg(long, value_delimiter = ',')]
    class_weights: Option<Vec<f32>>,
    /// Training images held out for validation (default 5,000, or a tenth of --limit).
    #[arg(long)]
    val_split: Option<usize>,
    /// Train on the first N images of the data only, for a quick try (0 = all); with the
    /// default --val-split, a tenth of them validate.
    #[arg(long, default_value_t = 0)]
    limit: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Stop after this many epochs without a better validation accuracy.
    #[arg(long)]
    patience: Option<usize>,
    /// Where to write the best model (history, curves and checkpoint go beside it).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue an interrupted run from its .ckpt.safetensors file, with the saved run's
    /// settings and data (give the same --data or --folder); only --epochs and --out apply.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Augmentation: random rotation up to ± this many degrees.
    #[arg(long, default_value_t = 0.0)]
    augment_rotation: f32,
    /// Augmentation: random shift up to ± this fraction of the width and height.
    #[arg(long, default_value_t = 0.0)]
    augment_shift: f32,
    /// Augmentation: random zoom up to ± this fraction.
    #[arg(long, default_value_t = 0.0)]
    augment_scale: f32,
    /// Augmentation: mirror left–right half of the time (not for digits, whose meaning it changes).
    #[arg(long)]
    augment_flip: bool,
    /// Augmentation: Gaussian noise with this standard deviation (pixel units, 0–255).
    #[arg(long, default_value_t = 0.0)]
    augment_noise: f32,
    /// Augmentation: elastic distortion of at most this many pixels (σ from --augment-elastic-sigma).
    #[arg(long, default_value_t = 0.0)]
    augment_elastic: f32,
    #[arg(long, default_value_t = 4.0)]
    augment_elastic_sigma: f32,
    /// Augmentation: apply one enabled augmentation per image, chosen at random.
    #[arg(long)]
    augment_one_of: bool,
    /// Augmentation: thicker strokes by up to this many pixels (thinner by up to half of it).
    #[arg(long, default_value_t = 0.0)]
    augment_stroke: f32,
    /// Augmentation: with this probability, a writer's style on 1, 4 and 7 (flag, closed top, cross bar).
    #[arg(long, default_value_t = 0.0)]
    augment_styles: f32,
    /// Augmentation: with this probability, the augmented 28×28 digit photographed (pen on tinted paper, uneven light, blur, noise, JPEG) and read back through the photo pipeline, as `predict` reads photos.
    #[arg(long, default_value_t = 0.0)]
    augment_photo: f32,
    /// Train on a folder with one sub-folder of images per class (instead of IDX files).
    #[arg(long, conflicts_with = "data")]
    folder: Option<PathBuf>,
    /// With --folder: the fraction of each class used for training; the rest validates.
    #[arg(long, default_value_t = 0.8)]
    split: f64,
    /// Serve a live training-progress page at this address (default 127.0.0.1:8081); after
    /// training it keeps serving the final curves until Ctrl-C.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8081")]
    dashboard: Option<String>,
}

pub fn run(a: TrainArgs) -> Result<ExitCode> {
    in_pool(a.threads, move || run_in_pool(a))
}

/// Where a new run's weights come from.
enum Start {
    Scratch(Architecture),
    Model(Box<Sequential>),
}

impl Start {
    fn input(&self) -> [usize; 3] {
        match self {
            Start::Scratch(arch) => arch.input,
            Start::Model(m) => m.architecture().input,
        }
    }
}

fn run_in_pool(a: TrainArgs) -> Result<ExitCode> {
    // A new run: where it starts, and how its images become inputs.
    if let (Some(arch), Some(from)) = (&a.arch, a.from.as_deref().filter(|f| *f != "scratch")) {
        bail!("--arch {arch} trains a network from scratch, but --from {from} starts from a trained one: give one of them (or --from scratch)");
    }
    let start = match (a.from.as_deref(), a.folder.is_some()) {
        _ if a.resume.is_some() => None,
        (Some("scratch"), _) | (None, false) => Some(Start::Scratch(resolve_arch(a.arch.as_deref().unwrap_or("lenet"))?)),
        (None, true) if a.arch.is_some() => Some(Start::Scratch(resolve_arch(a.arch.as_deref().unwrap_or("lenet"))?)),
        (Some("builtin") | None, _) => Some(Start::Model(Box::new(digitnet::inference::builtin::digits_classifier()?.0))),
        (Some(path), _) => Some(Start::Model(Box::new(digitnet::network::model_file::load(std::path::Path::new(path), None)?.model))),
    };
    // The checkpoint is read once: its settings now, the run from it after the data is loaded.
    let mut resumed = a.resume.as_deref().map(Checkpoint::read).transpose()?;
    // A resumed run takes the images it was trained on.
    let limit = match resumed.as_ref().map(Checkpoint::config) {
        Some(config) if a.limit > 0 && a.limit != config.limit => {
            bail!(
                "--limit {}: this run was trained on {}; resume it without --limit",
                a.limit,
                if config.limit > 0 { format!("the first {} images", config.limit) } else { "all the images".into() }
            )
        }
        Some(config) => config.limit,
        None => a.limit,
    };
    let (input, pipeline) = match (resumed.as_ref().map(Checkpoint::architecture), &start) {
        (Some(arch), _) => (arch.input, arch.pipeline()),
        (None, Some(start)) => {
            let default = match start {
                Start::Scratch(_) if a.folder.is_some() => Pipeline::Resize,
                Start::Scratch(arch) => arch.pipeline(),
                Start::Model(m) => m.architecture().pipeline(),
            };
            (start.input(), a.pipeline.unwrap_or(default))
        }
        (None, None) => unreachable!("a run without --resume has a start"),
    };
    // Every image goes through the input pipeline, as `predict` will read it.
    let (data, folder_classes) = match &a.folder {
        Some(dir) => {
            if !(a.split > 0.0 && a.split < 1.0) {
                bail!("--split must be a fraction between 0 and 1, got {}", a.split);
            }
            let (d, names) = digitnet::data::folder::load(dir, pipeline, input[1], input[2])?;
            (d, Some(names))
        }
        None => {
            let (d, rejected) = load_split(a.data.as_ref(), Split::Train)?.prepared(pipeline);
            if rejected > 0 {
                eprintln!("note: the {} input pipeline found no digit in {rejected} training images; they are used as they are", pipeline.name());
            }
            (d, None)
        }
    };
    let data = if limit > 0 { data.take(limit) } else { data };
    let val_split = match &folder_classes {
        Some(_) => data.len() - ((data.len() as f64 * a.split).round() as usize).clamp(1, data.len()),
        None => a.val_split.unwrap_or(if limit > 0 { (limit / 10).max(1) } else { 5000 }),
    };
    let mut run = match &a.resume {
        Some(ckpt) => {
            let out = a.out.clone().unwrap_or_else(|| {
                let name = ckpt.file_name().map(|n| n.to_string_lossy().replace(".ckpt.safetensors", ".safetensors")).unwrap_or_default();
                ckpt.with_file_name(name)
            });
            check_model_out(&out)?;
            if out == *ckpt || RunPaths::for_model(&out).checkpoint == out {
                bail!("the output model would overwrite the checkpoint {}: give --out", ckpt.display());
            }
            let mut run = resumed.take().expect("read above with --resume").into_run(RunPaths::for_model(&out))?;
            if let Some(epochs) = a.epochs {
                run.state.config.epochs = epochs; // extend (or shorten) the resumed run
            }
            eprintln!("resuming {} after epoch {} of {}", ckpt.display(), run.state.epochs_done, run.state.config.epochs);
            run
        }
        None => {
            let optimizer = match a.optimizer {
                OptimizerName::Adam => OptimizerKind::adam(),
                OptimizerName::Sgd => OptimizerKind::Sgd { momentum: a.momentum, nesterov: a.nesterov },
            };
            let schedule = a.schedule.schedule(a.step_every, a.step_gamma)?;
            let augment = Augment {
                rotation_deg: a.augment_rotation,
                shift: a.augment_shift,
                scale: a.augment_scale,
                hflip: a.augment_flip,
                noise_std: a.augment_noise,
                elastic_alpha: a.augment_elastic,
                elastic_sigma: a.augment_elastic_sigma,
                one_at_random: a.augment_one_of,
                stroke: a.augment_stroke,
                styles: a.augment_styles,
                photo: a.augment_photo,
            };
            let config = TrainConfig {
                epochs: a.epochs.unwrap_or(10),
                batch_size: a.batch_size,
                lr: a.lr,
                optimizer,
                weight_decay: a.weight_decay,
                schedule,
                class_weights: a.class_weights.clone(),
                val_split,
                seed: a.seed,
                patience: a.patience,
                augment,
                stratified: a.folder.is_some(),
                freeze: 0,
                limit,
            };
            config.validate(data.len())?;
            let classes = folder_classes.clone().unwrap_or_else(|| (0..data.classes().max(2)).map(|c| c.to_string()).collect());
            let mut model = match start {
                Some(Start::Scratch(arch)) => {
                    let arch = arch.with_dropout(a.dropout)?;
                    let mut arch = fit_arch_to_data(arch, &data)?;
                    if a.task == TaskName::Rotation {
                        arch = arch.with_rotation_head()?;
                    }
                    if let (Some(names), TaskName::Classification) = (&folder_classes, a.task) {
                        if let Some(LayerSpec::Dense { out_features, .. }) = arch.layers.last_mut() {
                            *out_features = names.len();
                        }
                        arch.classes = names.clone();
                    }
                    Sequential::new(&arch, config.seed)?
                }
                Some(Start::Model(from)) => {
                    if a.task == TaskName::Rotation {
                        bail!("--from starts a classifier; to make a rotation model from one, use `digitnet finetune --from`");
                    }
                    let arch = from.architecture();
                    if arch.input != [1, data.rows, data.cols] {
                        bail!("the model to start from takes {:?} inputs but the data has 1×{}×{} images", arch.input, data.rows, data.cols);
                    }
                    if arch.classes == classes {
                        eprintln!("starting from {} (its classes are the data's)", a.from.as_deref().unwrap_or("the built-in model"));
                        *from
                    } else {
                        // Transfer learning: a fresh last layer for the data's classes.
                        let head = from
                            .layers()
                            .iter()
                            .rposition(|l| l.kind() == "Dense")
                            .ok_or_else(|| anyhow::anyhow!("the model to start from has no Dense layer to replace"))?;
                        let mut arch = arch.clone();
                        arch.layers[head] = LayerSpec::Dense { out_features: classes.len(), bias: true };
                        arch.classes = classes.clone();
                        eprintln!(
                            "starting from {} with a new last layer for the {} classes {:?}",
                            a.from.as_deref().unwrap_or("the built-in model"),
                            classes.len(),
                            classes
                        );
                        from.transplant(&arch, head, config.seed)?
                    }
                }
                None => unreachable!("a run without --resume has a start"),
            };
            model.set_input_pipeline(pipeline);
            let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/{}.safetensors", model.architecture().name)));
            check_model_out(&out)?;
            Run::from_model(model, config, RunPaths::for_model(&out))?
        }
    };
    if let Some(w) = &run.state.config.class_weights {
        if run.model.architecture().task != Task::Classification {
            bail!("--class-weights is for classification; a rotation model has no classes");
        }
        if w.len() != run.model.architecture().outputs() {
            bail!("--class-weights has {} values for {} classes", w.len(), run.model.architecture().outputs());
        }
    }
    drive(&mut run, &data, a.dashboard.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

/// Trains `run` on `data` with a progress bar and one line per epoch, then draws the curves
/// and says where everything went; with `dashboard`, also serves the live training page there,
/// and keeps serving it after training until Ctrl-C.
/// Shared by `train` and `finetune`.
pub fn drive(run: &mut Run, data: &Dataset, dashboard: Option<&str>) -> Result<()> {
    let rotation = run.model.architecture().task == Task::Rotation;
    let (acc_name, score_name) = if rotation { ("within10°", "RMSE") } else { ("acc", "accuracy") };
    let frozen = run.state.config.freeze;
    if frozen > 0 {
        eprintln!("the first {frozen} layers are frozen");
    }
    eprintln!(
        "training {} ({} parameters) on {} images ({} for validation), {} threads",
        run.model.architecture().name,
        run.model.trainable_count(),
        data.len() - run.state.config.val_split,
        run.state.config.val_split,
        rayon::current_num_threads()
    );
    let mut bar: Option<ProgressBar> = None;
    let mut started = Instant::now();
    let total = Instant::now();
    let mut dashboard = crate::dashboard::Dashboard::start(dashboard, &run.model.architecture().name)?;
    run.fit(data, None, |event| match dashboard.observe(event) {
        Event::EpochStart { epoch, epochs, batches } => {
            let pb = ProgressBar::new(batches as u64);
            pb.set_style(ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}").expect("valid template").progress_chars("=> "));
            pb.set_prefix(format!("{epoch}/{epochs}"));
            bar = Some(pb);
            started = Instant::now();
        }
        Event::Batch(p) => {
            if let Some(pb) = &bar {
                if p.batch % 10 == 0 || p.batch == p.batches {
                    let rate = p.images as f64 / started.elapsed().as_secs_f64().max(1e-9);
                    pb.set_message(format!("{rate:.0} img/s  loss {:.4}  {acc_name} {:.4}", p.running.loss, p.running.accuracy));
                }
                pb.set_position(p.batch as u64);
            }
        }
        Event::EpochEnd { record: r, improved } => {
            if let Some(pb) = bar.take() {
                pb.finish_and_clear();
            }
            let rmse = r.val_rmse.map(|v| format!(" rmse {v:.2}°")).unwrap_or_default();
            say!(
                "epoch {:>3}: train loss {:.4} {acc_name} {:.4} | val loss {:.4} {acc_name} {:.4}{rmse} | lr {:.2e} | {:.1}s{}",
                r.epoch,
                r.train_loss,
                r.train_acc,
                r.val_loss,
                r.val_acc,
                r.lr,
                r.seconds,
                if improved { " *" } else { "" }
            );
        }
        Event::EarlyStop { epoch, best_epoch } => {
            say!("early stop after epoch {epoch}: no better validation {score_name} since epoch {best_epoch}");
        }
    })?;
    let h = &run.state.history;
    let curves = digitnet::report::plots::training_curves(
        &run.paths.curves_png,
        &format!("{} training", run.model.architecture().name),
        &h.iter().map(|r| r.train_loss).collect::<Vec<_>>(),
        &h.iter().map(|r| r.val_loss).collect::<Vec<_>>(),
        &h.iter().map(|r| r.train_acc).collect::<Vec<_>>(),
        &h.iter().map(|r| r.val_acc).collect::<Vec<_>>(),
    );
    if let Err(e) = curves {
        eprintln!("warning: could not draw the training curves: {e}");
    }
    let best = if rotation { format!("{:.3}°", -run.state.best_val_acc) } else { format!("{:.4}", run.state.best_val_acc) };
    say!(
        "best validation {score_name} {best} at epoch {} → {} ({:.1}s in all)",
        run.state.best_epoch,
        run.paths.model.display(),
        total.elapsed().as_secs_f64()
    );
    say!(
        "history: {}, {}; curves: {}; checkpoint: {}",
        run.paths.history_json.display(),
        run.paths.history_csv.display(),
        run.paths.curves_png.display(),
        run.paths.checkpoint.display()
    );
    dashboard.stay_until_ctrl_c()
}
