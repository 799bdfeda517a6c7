//! `digitnet.train`: the options of `digitnet train` (same names without the dashes, same
//! defaults) turned into the library's [`TrainConfig`] and a [`Run`] of a fresh network, as
//! the binary's `train` does for a run from scratch.

use digitnet::data::augment::Augment;
use digitnet::data::Dataset;
use digitnet::network::arch::Architecture;
use digitnet::network::Sequential;
use digitnet::training::optim::OptimizerKind;
use digitnet::training::schedule::Schedule;
use digitnet::training::{Run, RunPaths, TrainConfig};
use digitnet::vision::Pipeline;
use digitnet::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// The keyword options of `digitnet.train`; an unknown one is an error naming it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    epochs: usize,
    batch_size: usize,
    optimizer: String,
    lr: f32,
    momentum: f32,
    nesterov: bool,
    weight_decay: f32,
    schedule: String,
    step_every: f64,
    step_gamma: f32,
    dropout: f32,
    class_weights: Option<Vec<f32>>,
    /// A fraction of the images (below 1) or a number of images held out for validation.
    validation_split: f64,
    seed: u64,
    patience: Option<usize>,
    pipeline: Option<String>,
    augment_rotation: f32,
    augment_shift: f32,
    augment_scale: f32,
    augment_flip: bool,
    augment_noise: f32,
    augment_elastic: f32,
    augment_elastic_sigma: f32,
    augment_one_of: bool,
    augment_stroke: f32,
    augment_styles: f32,
    augment_photo: f32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            epochs: 10,
            batch_size: 64,
            optimizer: "adam".into(),
            lr: 1e-3,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
            schedule: "constant".into(),
            step_every: 3.0,
            step_gamma: 0.1,
            dropout: 0.0,
            class_weights: None,
            validation_split: 0.1,
            seed: 1,
            patience: None,
            pipeline: None,
            augment_rotation: 0.0,
            augment_shift: 0.0,
            augment_scale: 0.0,
            augment_flip: false,
            augment_noise: 0.0,
            augment_elastic: 0.0,
            augment_elastic_sigma: 4.0,
            augment_one_of: false,
            augment_stroke: 0.0,
            augment_styles: 0.0,
            augment_photo: 0.0,
        }
    }
}

impl Options {
    /// The `pipeline` option, or `default`.
    pub fn pipeline_or(&self, default: Pipeline) -> Result<Pipeline> {
        self.pipeline.as_deref().map_or(Ok(default), str::parse)
    }

    /// Images held out of `n` for validation.
    fn validation_images(&self, n: usize) -> Result<usize> {
        let v = self.validation_split;
        if v > 0.0 && v < 1.0 {
            // As `train --folder --split`: the training share is rounded, the rest validates.
            return Ok(n - ((n as f64 * (1.0 - v)).round() as usize).clamp(1, n));
        }
        if v >= 1.0 && v.fract() == 0.0 {
            return Ok(v as usize);
        }
        Err(Error::config(format!("validation_split must be a fraction in (0, 1) or a whole number of images, got {v}")))
    }

    fn config(&self, n: usize, stratified: bool) -> Result<TrainConfig> {
        let optimizer = match self.optimizer.as_str() {
            "adam" => OptimizerKind::adam(),
            "sgd" => OptimizerKind::Sgd { momentum: self.momentum, nesterov: self.nesterov },
            other => return Err(Error::config(format!("unknown optimizer '{other}' (adam or sgd)"))),
        };
        let config = TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            optimizer,
            weight_decay: self.weight_decay,
            schedule: Schedule::parse(&self.schedule, self.step_every, self.step_gamma)?,
            class_weights: self.class_weights.clone(),
            val_split: self.validation_images(n)?,
            seed: self.seed,
            patience: self.patience,
            augment: Augment {
                rotation_deg: self.augment_rotation,
                shift: self.augment_shift,
                scale: self.augment_scale,
                hflip: self.augment_flip,
                noise_std: self.augment_noise,
                elastic_alpha: self.augment_elastic,
                elastic_sigma: self.augment_elastic_sigma,
                one_at_random: self.augment_one_of,
                stroke: self.augment_stroke,
                styles: self.augment_styles,
                photo: self.augment_photo,
            },
            stratified,
            freeze: 0,
            limit: 0,
        };
        config.validate(n)?;
        Ok(config)
    }
}

/// A run of a fresh `arch` network on `data` (with the folder's class `names`, if any) that
/// records `pipeline` as its input pipeline, its best model written to `out` and its checkpoint and history beside it.
pub fn prepare(arch: Architecture, data: &Dataset, names: Option<Vec<String>>, pipeline: Pipeline, options: &Options, out: &Path) -> Result<Run> {
    let config = options.config(data.len(), names.is_some())?;
    let classes = names.as_ref().map_or(data.classes().max(2), Vec::len);
    let mut arch = arch.with_dropout(options.dropout)?.fitted(data.rows, data.cols, classes)?;
    if let Some(names) = names {
        arch.classes = names;
    }
    if let Some(w) = &config.class_weights {
        if w.len() != arch.classes.len() {
            return Err(Error::config(format!("class_weights has {} values for {} classes", w.len(), arch.classes.len())));
        }
    }
    let mut model = Sequential::new(&arch, config.seed)?;
    model.set_input_pipeline(pipeline);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    Run::from_model(model, config, RunPaths::for_model(out))
}
