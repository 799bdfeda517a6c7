//! A whole training run: validation split, epochs, schedule, early stopping, checkpoints,
//! resume, history.

use super::epoch::{evaluate, train_epoch, Objective, Progress, Workspace, ROTATION_THRESHOLD_DEG};
use crate::data::augment::{Augment, Augmenter};
use crate::data::split::{split_indices, split_indices_stratified};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::loss::SoftmaxCrossEntropy;
use crate::network::sequential::Sequential;
use crate::tasks::rotation::RotationSampler;
use crate::training::optim::Optimizer;

use crate::init::Rng;
use crate::network::arch::{Architecture, RotationInput, Task, DEGREES_PER_UNIT};
use crate::network::model_file;
use crate::tasks::rotation::{AngleReport, RotatedSet, MAX_DEGREES};
use crate::training::optim::OptimizerKind;
use crate::training::schedule::Schedule;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything that defines a training run (saved in checkpoints so a resume continues it).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub optimizer: OptimizerKind,
    pub weight_decay: f32,
    pub schedule: Schedule,
    pub class_weights: Option<Vec<f32>>,
    /// Training images held out for validation (chosen by a seeded permutation).
    pub val_split: usize,
    pub seed: u64,
    /// Stop after this many epochs without a better validation accuracy.
    pub patience: Option<usize>,
    /// Training-time augmentation (none by default).
    #[serde(default)]
    pub augment: Augment,
    /// Draw the validation split per class, in proportion (for folder data sets).
    #[serde(default)]
    pub stratified: bool,
    /// The first this many layers are frozen (learning rate 0), as in fine-tuning.
    #[serde(default)]
    pub freeze: usize,
    /// The run uses only the first `limit` training images (0 = all). The caller takes them
    /// from its data; recorded so that a resumed run takes the same ones.
    #[serde(default)]
    pub limit: usize,
}

impl TrainConfig {
    /// Checks the numbers a user can get wrong.
    pub fn validate(&self, train_images: usize) -> Result<()> {
        let bad = |m: String| Err(Error::config(m));
        if self.epochs == 0 {
            return bad("--epochs must be ≥ 1".into());
        }
        if self.batch_size == 0 {
            return bad("--batch-size must be ≥ 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("--lr must be a positive number, got {}", self.lr));
        }
        if self.val_split == 0 {
            return bad("--val-split must be ≥ 1: the best model is chosen on the validation split".into());
        }
        if self.val_split >= train_images {
            return bad(format!("--val-split {} leaves no training images out of {train_images}", self.val_split));
        }
        if self.patience == Some(0) {
            return bad("--patience must be ≥ 1".into());
        }
        self.augment.validate()?;
        Ok(())
    }
}

/// One line of the training history.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    pub lr: f32,
    pub seconds: f64,
    /// Rotation runs: validation RMSE in degrees (their "accuracy" is the share within 10°).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_rmse: Option<f64>,
}

/// Where a run is, saved with the weights after every epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub config: TrainConfig,
    pub epochs_done: usize,
    pub shuffle_rng: Rng,
    /// The augmentation generator.
    pub augment_rng: Rng,
    /// Each layer's own generator (dropout), by layer index.
    pub layer_rngs: Vec<(usize, Rng)>,
    pub history: Vec<EpochRecord>,
    pub best_val_acc: f64,
    /// The validation loss of the best epoch, which breaks ties in accuracy (a small
    /// validation set often scores several epochs the same).
    #[serde(default = "infinity")]
    pub best_val_loss: f64,
    pub best_epoch: usize,
    /// Optimizer state without its moment buffers (those are tensors in the file).
    pub optimizer: Optimizer,
    /// Number of training images and a hash of their labels, so a resume on other data is
    /// refused rather than silently mixing validation images into training.
    #[serde(default)]
    pub data_fingerprint: Option<(usize, u64)>,
}

fn infinity() -> f64 {
    f64::INFINITY
}

/// FNV-1a over the labels, with the count: enough to tell data sets apart.
fn fingerprint(data: &Dataset) -> (usize, u64) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &l in &data.labels {
        h = (h ^ l as u64).wrapping_mul(0x0100_0000_01b3);
    }
    (data.len(), h)
}

/// What the run reports as it goes.
pub enum Event<'a> {
    EpochStart { epoch: usize, epochs: usize, batches: usize },
    Batch(&'a Progress),
    EpochEnd { record: &'a EpochRecord, improved: bool },
    EarlyStop { epoch: usize, best_epoch: usize },
}

/// Files a run writes, all derived from the output model path.
#[derive(Clone, Debug)]
pub struct RunPaths {
    /// The best-validation model.
    pub model: PathBuf,
    /// The latest state, for `--resume`.
    pub checkpoint: PathBuf,
    pub history_json: PathBuf,
    pub history_csv: PathBuf,
    pub curves_png: PathBuf,
}

impl RunPaths {
    /// `runs/lenet.safetensors` → `runs/lenet.ckpt.safetensors`, `runs/lenet.history.json`, …
    pub fn for_model(model: &Path) -> Self {
        let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        let with = |suffix: &str| model.with_file_name(format!("{stem}{suffix}"));
        RunPaths {
            model: model.to_path_buf(),
            checkpoint: with(".ckpt.safetensors"),
            history_json: with(".history.json"),
            history_csv: with(".history.csv"),
            curves_png: with(".curves.png"),
        }
    }
}

/// A training run in progress.
pub struct Run {
    pub model: Sequential,
    pub state: RunState,
    pub paths: RunPaths,
}

const OPTIM_PREFIX: &str = "optim.";

/// A training checkpoint read from its file, not yet a run: the network's architecture and
/// the run's settings are known before the data is loaded ([`Checkpoint::into_run`] continues
/// it without reading the file again).
pub struct Checkpoint {
    path: PathBuf,
    file: model_file::ModelFile,
    extra: model_file::ExtraTensors,
    state: RunState,
}

impl Checkpoint {
    /// Reads a `.ckpt.safetensors` file: the network, its optimiser tensors, and the run's state.
    pub fn read(checkpoint_path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(checkpoint_path).map_err(|e| Error::io(checkpoint_path, e))?;
        let (file, extra) = model_file::from_bytes_with_extra(&bytes, None, checkpoint_path, Some(OPTIM_PREFIX))?;
        let text = file
            .metadata
            .get("run_state")
            .ok_or_else(|| Error::format(checkpoint_path, "not a training checkpoint (no run state): pass the .ckpt.safetensors file"))?;
        let state: RunState = serde_json::from_str(text).map_err(|e| Error::format(checkpoint_path, format!("bad run state: {e}")))?;
        Ok(Checkpoint { path: checkpoint_path.to_path_buf(), file, extra, state })
    }

    /// The architecture of the network it holds.
    pub fn architecture(&self) -> &Architecture {
        self.file.model.architecture()
    }

    /// The run's settings.
    pub fn config(&self) -> &TrainConfig {
        &self.state.config
    }

    /// How many epochs the run had finished.
    pub fn epochs_done(&self) -> usize {
        self.state.epochs_done
    }

    /// The run, ready to continue, writing to `paths`.
    pub fn into_run(self, paths: RunPaths) -> Result<Run> {
        let Checkpoint { path, file, extra, mut state } = self;
        let checkpoint_path = path.as_path();
        let mut model = file.model;
        for (i, rng) in &state.layer_rngs {
            if let Some(r) = model.layers_mut().get_mut(*i).and_then(|l| l.rng()) {
                *r = rng.clone();
            }
        }
        // Moment buffers: optim.m.K and optim.v.K.
        let take = |kind: &str| -> Vec<Vec<f32>> {
            let mut v: Vec<(usize, Vec<f32>)> = extra
                .iter()
                .filter_map(|(name, data)| name.strip_prefix(&format!("{OPTIM_PREFIX}{kind}.")).and_then(|k| k.parse().ok()).map(|k| (k, data.clone())))
                .collect();
            v.sort_by_key(|(k, _)| *k);
            v.into_iter().map(|(_, d)| d).collect()
        };
        state.optimizer.m = take("m");
        state.optimizer.v = take("v");
        let mut sizes = Vec::new();
        model.for_each_param(|_, p| {
            if p.is_trainable() {
                sizes.push(p.value.len());
            }
        });
        let adam = matches!(state.optimizer.kind, OptimizerKind::Adam { .. });
        let m_ok = state.optimizer.m.is_empty() || state.optimizer.m.iter().map(Vec::len).eq(sizes.iter().copied());
        let v_ok = if adam { state.optimizer.v.iter().map(Vec::len).eq(state.optimizer.m.iter().map(Vec::len)) } else { state.optimizer.v.is_empty() };
        if !(m_ok && v_ok) {
            return Err(Error::format(checkpoint_path, "optimizer state does not match the model's parameters"));
        }
        if !adam {
            state.optimizer.v = vec![Vec::new(); state.optimizer.m.len()];
        }
        Ok(Run { model, state, paths })
    }
}

impl Run {
    /// A new run of `arch` (initial weights from the config's seed).
    pub fn new(arch: &Architecture, config: TrainConfig, paths: RunPaths) -> Result<Self> {
        let model = Sequential::new(arch, config.seed)?;
        Self::from_model(model, config, paths)
    }

    /// A new run that starts from `model`'s weights (fine-tuning). Errors on a `freeze` that
    /// leaves nothing to train, and on the photographing augmentation (`augment.photo`) for a
    /// model whose input pipeline never reads photos (`resize`, `mnist`).
    pub fn from_model(model: Sequential, config: TrainConfig, paths: RunPaths) -> Result<Self> {
        if config.freeze >= model.layers().len() {
            return Err(Error::config(format!(
                "--freeze {} is too many: the network has {} layers, and at least its last must train",
                config.freeze,
                model.layers().len()
            )));
        }
        let pipeline = model.architecture().pipeline();
        if config.augment.photo > 0.0 && !matches!(pipeline, crate::vision::Pipeline::Photo | crate::vision::Pipeline::Auto) {
            return Err(Error::config(format!(
                "--augment-photo reads the digits back through the photo pipeline, but this model's input pipeline is '{}', which never reads images that way (use --pipeline auto or photo)",
                pipeline.name()
            )));
        }
        let optimizer = Optimizer::new(config.optimizer, config.weight_decay)?;
        let state = RunState {
            shuffle_rng: Rng::derived(config.seed, 2),
            augment_rng: Rng::derived(config.seed, 3),
            config,
            epochs_done: 0,
            layer_rngs: Vec::new(),
            history: Vec::new(),
            best_val_acc: f64::NEG_INFINITY,
            best_val_loss: f64::INFINITY,
            best_epoch: 0,
            optimizer,
            data_fingerprint: None,
        };
        Ok(Run { model, state, paths })
    }

    /// Continues a run from its checkpoint file ([`Checkpoint::read`], then
    /// [`Checkpoint::into_run`]).
    pub fn resume(checkpoint_path: &Path, paths: RunPaths) -> Result<Self> {
        Checkpoint::read(checkpoint_path)?.into_run(paths)
    }

    /// Saves the latest state atomically.
    fn save_checkpoint(&mut self) -> Result<()> {
        self.state.layer_rngs = self.model.layers_mut().iter_mut().enumerate().filter_map(|(i, l)| l.rng().map(|r| (i, r.clone()))).collect();
        let mut light = self.state.clone();
        light.optimizer.m = Vec::new();
        light.optimizer.v = Vec::new();
        let mut meta = std::collections::HashMap::new();
        meta.insert("run_state".to_string(), serde_json::to_string(&light).expect("run state serialises"));
        let mut extra: Vec<(String, Vec<f32>)> = Vec::new();
        for (k, m) in self.state.optimizer.m.iter().enumerate() {
            extra.push((format!("{OPTIM_PREFIX}m.{k}"), m.clone()));
        }
        for (k, v) in self.state.optimizer.v.iter().enumerate() {
            if !v.is_empty() {
                extra.push((format!("{OPTIM_PREFIX}v.{k}"), v.clone()));
            }
        }
        let bytes = model_file::to_bytes_with_extra(&self.model, &meta, &extra)?;
        model_file::write_atomic(&self.paths.checkpoint, &bytes)
    }

    /// Writes the history as JSON and CSV.
    fn save_history(&self) -> Result<()> {
        let json = serde_json::to_string_pretty(&self.state.history).expect("history serialises");
        model_file::write_atomic(&self.paths.history_json, json.as_bytes())?;
        let rotation = self.model.architecture().task == Task::Rotation;
        let mut csv = String::from("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds");
        csv += if rotation { ",val_rmse_deg\n" } else { "\n" };
        for r in &self.state.history {
            csv += &format!("{},{:.6},{:.6},{:.6},{:.6},{:e},{:.3}", r.epoch, r.train_loss, r.train_acc, r.val_loss, r.val_acc, r.lr, r.seconds);
            csv += &match r.val_rmse {
                Some(v) if rotation => format!(",{v:.4}\n"),
                _ => "\n".into(),
            };
        }
        model_file::write_atomic(&self.paths.history_csv, csv.as_bytes())
    }

    /// Trains until the configured number of epochs (or early stop, or `stop_after` more
    /// epochs, used to simulate an interruption). `data` is the full training set; the
    /// validation split is carved from it by the seed.
    pub fn fit(&mut self, data: &Dataset, stop_after: Option<usize>, mut on_event: impl FnMut(Event)) -> Result<()> {
        let cfg = self.state.config.clone();
        cfg.validate(data.len())?;
        let fp = fingerprint(data);
        match self.state.data_fingerprint {
            Some(saved) if saved != fp => {
                return Err(Error::Data(format!(
                    "this run was trained on {} images with other labels than the {} given now: resume with the same --data or --folder",
                    saved.0, fp.0
                )))
            }
            _ => self.state.data_fingerprint = Some(fp),
        }
        let task = self.model.architecture().task;
        let classes = self.model.architecture().outputs();
        if task == Task::Classification {
            if let Some(&bad) = data.labels.iter().find(|&&l| l as usize >= classes) {
                return Err(Error::Data(format!("label {bad} is out of range for a model with {classes} classes")));
            }
        }
        if task != Task::Classification && !cfg.augment.is_identity() {
            return Err(Error::config("augmentation flags are for classification; a rotation run already turns every image by a fresh random angle"));
        }
        self.model.freeze_first(cfg.freeze)?;
        let (mut train_idx, val_idx) =
            if cfg.stratified { split_indices_stratified(&data.labels, cfg.val_split, cfg.seed) } else { split_indices(data.len(), cfg.val_split, cfg.seed) };
        let val = data.subset(&val_idx);
        // Rotation runs validate on the held-out digits, each turned by a fixed seeded angle.
        // A model trained with photos validates on photos of them too.
        let val_rotated = (task == Task::Rotation).then(|| {
            let set = RotatedSet::generate(data, &val_idx, MAX_DEGREES, cfg.seed);
            match self.model.architecture().rotation_input {
                RotationInput::WithPhotos => set.with_photos(cfg.seed),
                RotationInput::Photos => set.photos(cfg.seed),
                _ => set,
            }
        });
        let mut objective = match task {
            Task::Classification => Objective::Classify(SoftmaxCrossEntropy::new(classes, cfg.class_weights.as_deref())?),
            Task::Rotation => {
                let mut sampler = RotationSampler::new(MAX_DEGREES, ROTATION_THRESHOLD_DEG, self.state.augment_rng.clone());
                sampler.input = self.model.architecture().rotation_input;
                Objective::Rotation(sampler)
            }
            Task::Regression => {
                return Err(Error::config("training needs a classification or rotation model (generic regression has no targets in image data sets)"))
            }
        };
        let mut ws = Workspace::default();
        let batches = train_idx.len().div_ceil(cfg.batch_size);
        let mut augmenter = (!cfg.augment.is_identity()).then(|| Augmenter::new(cfg.augment.clone(), self.state.augment_rng.clone()));
        let mut ran = 0;
        while self.state.epochs_done < cfg.epochs {
            if stop_after.is_some_and(|s| ran >= s) {
                return Ok(());
            }
            let epoch = self.state.epochs_done;
            // The order is drawn from the saved generator, so a resumed run draws what an
            // uninterrupted one would.
            train_idx.sort_unstable();
            self.state.shuffle_rng.shuffle(&mut train_idx);
            on_event(Event::EpochStart { epoch: epoch + 1, epochs: cfg.epochs, batches });
            let start = std::time::Instant::now();
            let schedule = cfg.schedule;
            let lr_at = |f: f64| schedule.lr(cfg.lr, epoch as f64 + f, cfg.epochs as f64);
            let train_stats = train_epoch(
                &mut self.model,
                &mut self.state.optimizer,
                &mut objective,
                data,
                &train_idx,
                cfg.batch_size,
                lr_at,
                &mut ws,
                augmenter.as_mut(),
                |p| on_event(Event::Batch(p)),
            )
            .map_err(|e| match e {
                // The files of the last finished epoch are untouched: say which.
                Error::Data(m) => {
                    let kept = match self.state.epochs_done {
                        0 => "nothing was saved".to_string(),
                        n => format!("the checkpoint of epoch {n} and the model of epoch {} are kept", self.state.best_epoch),
                    };
                    Error::Data(format!("epoch {}: {m}; {kept}", epoch + 1))
                }
                other => other,
            })?;
            if let Some(a) = &augmenter {
                self.state.augment_rng = a.rng.clone();
            }
            if let Objective::Rotation(s) = &objective {
                self.state.augment_rng = s.rng.clone();
            }
            let (val_loss, val_acc, val_rmse) = match &val_rotated {
                _ if val.is_empty() => (f64::NAN, f64::NAN, None),
                Some(set) => {
                    let predicted = crate::tasks::rotation::predict_dataset(&mut self.model, &set.data, 1000)?;
                    let report = AngleReport::new(&predicted, &set.angles, &set.data.labels, ROTATION_THRESHOLD_DEG as f64)?;
                    // The training loss's units: halved MSE of angle / 45°.
                    let loss = (report.rmse / DEGREES_PER_UNIT as f64).powi(2) / 2.0;
                    (loss, report.within_threshold, Some(report.rmse))
                }
                None => {
                    let e = evaluate(&mut self.model, &val, 1000, &mut ws)?;
                    (e.stats.loss, e.stats.accuracy, None)
                }
            };
            let record = EpochRecord {
                epoch: epoch + 1,
                train_loss: train_stats.loss,
                train_acc: train_stats.accuracy,
                val_loss,
                val_acc,
                lr: schedule.lr(cfg.lr, epoch as f64, cfg.epochs as f64),
                seconds: start.elapsed().as_secs_f64(),
                val_rmse,
            };
            // The best model has the highest validation accuracy, or the lowest validation
            // RMSE for rotation; without a validation split, the latest counts as the best.
            let score = match val_rmse {
                Some(rmse) => -rmse,
                None if val_acc.is_nan() => epoch as f64,
                None => val_acc,
            };
            let improved = score > self.state.best_val_acc || (score == self.state.best_val_acc && val_loss < self.state.best_val_loss);
            self.state.epochs_done += 1;
            self.state.history.push(record.clone());
            if improved {
                self.state.best_val_acc = score;
                self.state.best_val_loss = val_loss;
                self.state.best_epoch = epoch + 1;
                let mut meta = std::collections::HashMap::new();
                match val_rmse {
                    Some(rmse) => {
                        meta.insert("val_rmse_deg".into(), format!("{rmse}"));
                        meta.insert("val_within_10deg".into(), format!("{val_acc}"));
                    }
                    None => {
                        meta.insert("val_accuracy".into(), format!("{val_acc}"));
                    }
                }
                meta.insert("epoch".into(), format!("{}", epoch + 1));
                model_file::save(&self.model, &self.paths.model, &meta)?;
            }
            self.save_checkpoint()?;
            self.save_history()?;
            on_event(Event::EpochEnd { record: &record, improved });
            ran += 1;
            if let Some(p) = cfg.patience {
                if self.state.epochs_done - self.state.best_epoch >= p && self.state.epochs_done < cfg.epochs {
                    on_event(Event::EarlyStop { epoch: epoch + 1, best_epoch: self.state.best_epoch });
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resumed run's history is what the uninterrupted run recorded, to the bit: serde_json
    /// parses floats exactly only with its `float_roundtrip` feature (without it this epoch
    /// loss, one that a real run recorded, came back one unit in the last place off).
    #[test]
    fn history_survives_json_to_the_bit() {
        let r = EpochRecord {
            epoch: 1,
            train_loss: 2.3940019864869426,
            train_acc: 0.49,
            val_loss: 1.867127132435516,
            val_acc: 0.49,
            lr: 0.01,
            seconds: 0.1,
            val_rmse: Some(2.79),
        };
        let back: EpochRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back.train_loss.to_bits(), r.train_loss.to_bits());
        assert_eq!(back, r);
    }
}
