//! One epoch of training, and evaluation, by hand: batches in a given order, forward, fused loss,
//! backward, optimizer step. Every buffer lives in a [`Workspace`] and is reused, so a
//! steady-state step allocates nothing.

use crate::data::augment::Augmenter;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::layers::Mode;
use crate::network::loss::SoftmaxCrossEntropy;
use crate::network::sequential::Sequential;
use crate::tasks::rotation::RotationSampler;
use crate::tensor::Tensor;
use crate::training::optim::Optimizer;

/// Rotation runs count an angle within this many degrees as "correct" in their accuracy.
pub const ROTATION_THRESHOLD_DEG: f32 = 10.0;

/// What a training run optimises, with the state each needs to fill and score a batch.
pub enum Objective {
    /// Softmax cross-entropy against the data set's labels.
    Classify(SoftmaxCrossEntropy),
    /// Halved MSE against the angles of freshly rotated digits (labels unused).
    Rotation(RotationSampler),
}

/// Buffers reused across steps.
#[derive(Default)]
pub struct Workspace {
    pub x: Tensor,
    pub labels: Vec<u8>,
    pub dlogits: Tensor,
}

/// Mean loss and accuracy over the images seen.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    pub loss: f64,
    pub accuracy: f64,
    pub images: usize,
}

/// Progress of an epoch, reported after every batch.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub batch: usize,
    pub batches: usize,
    pub images: usize,
    pub running: Stats,
    pub lr: f32,
}

/// The first parameter (`grads` false) or gradient (`grads` true) holding a NaN or an
/// infinity, by its state-dict name.
fn first_non_finite(model: &Sequential, grads: bool) -> Option<String> {
    let mut found = None;
    model.for_each_param(|i, p| {
        let values = if grads { &p.grad } else { &p.value };
        if found.is_none() && !crate::kernels::simd::all_finite(values) {
            found = Some(format!("{i}.{}", p.name));
        }
    });
    found
}

/// Trains one epoch over `order` (indices into `data`) in batches of `batch_size`. A loss, a
/// gradient or an updated parameter that is not finite stops it with an error naming the step.
/// `lr_at(fraction of the epoch done)` gives the learning rate of each step. A trailing
/// remainder batch of a single image is skipped (batch norm needs two values per channel).
/// For the rotation objective, "accuracy" is the share of angles within its threshold.
#[allow(clippy::too_many_arguments)]
pub fn train_epoch(
    model: &mut Sequential,
    optimizer: &mut Optimizer,
    objective: &mut Objective,
    data: &Dataset,
    order: &[usize],
    batch_size: usize,
    lr_at: impl Fn(f64) -> f32,
    ws: &mut Workspace,
    mut augmenter: Option<&mut Augmenter>,
    mut on_batch: impl FnMut(&Progress),
) -> Result<Stats> {
    if batch_size == 0 {
        return Err(Error::config("batch size must be ≥ 1"));
    }
    let norm = model.architecture().normalization;
    let batches = order.len().div_ceil(batch_size);
    let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
    for (b, idx) in order.chunks(batch_size).enumerate() {
        if idx.len() == 1 && batch_size > 1 && b > 0 {
            continue; // a trailing remainder of one image (batch norm needs two)
        }
        let lr = lr_at(b as f64 / batches as f64);
        match (&mut *objective, augmenter.as_deref_mut()) {
            (Objective::Rotation(s), _) => s.fill_batch(data, idx, &norm, &mut ws.x),
            (Objective::Classify(_), Some(a)) => a.fill_batch(data, idx, &norm, &mut ws.x, &mut ws.labels),
            (Objective::Classify(_), None) => data.fill_batch(idx, &norm, &mut ws.x, &mut ws.labels),
        }
        model.zero_grad();
        let output = model.forward(&ws.x, Mode::Train)?;
        let r = match objective {
            Objective::Classify(loss) => loss.forward_backward(output, &ws.labels, Some(&mut ws.dlogits))?,
            Objective::Rotation(s) => s.loss(output, &mut ws.dlogits)?,
        };
        let diverged = |what: String| Error::Data(format!("training diverged at step {} of {batches}: {what} (try a smaller learning rate)", b + 1));
        if !r.loss.is_finite() {
            return Err(diverged(format!("the loss is {}", r.loss)));
        }
        model.backward(&ws.x, &ws.dlogits)?;
        if let Some(name) = first_non_finite(model, true) {
            return Err(diverged(format!("the gradient of '{name}' holds NaN or infinite values")));
        }
        optimizer.step(model, lr);
        if let Some(name) = first_non_finite(model, false) {
            return Err(diverged(format!("parameter '{name}' holds NaN or infinite values after the update")));
        }
        loss_sum += r.loss * idx.len() as f64;
        correct += r.correct;
        seen += idx.len();
        on_batch(&Progress {
            batch: b + 1,
            batches,
            images: seen,
            running: Stats { loss: loss_sum / seen as f64, accuracy: correct as f64 / seen as f64, images: seen },
            lr,
        });
    }
    Ok(Stats { loss: loss_sum / seen.max(1) as f64, accuracy: correct as f64 / seen.max(1) as f64, images: seen })
}

/// Evaluation of a classifier, in data order (never shuffled).
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    pub stats: Stats,
    /// Softmax probabilities, `[n, classes]` row-major, in data order.
    pub probabilities: Vec<f32>,
    pub classes: usize,
}

impl Evaluation {
    /// Predicted class per image (first maximum on ties).
    pub fn predictions(&self) -> Vec<usize> {
        self.probabilities.chunks(self.classes.max(1)).map(|p| p.iter().enumerate().fold(0, |b, (i, &v)| if v > p[b] { i } else { b })).collect()
    }
}

/// Runs `model` in eval mode over all of `data` in order, in batches of `batch_size`.
pub fn evaluate(model: &mut Sequential, data: &Dataset, batch_size: usize, ws: &mut Workspace) -> Result<Evaluation> {
    let order: Vec<usize> = (0..data.len()).collect();
    let norm = model.architecture().normalization;
    evaluate_batches(model, data.len(), batch_size, ws, |range, x, labels| {
        data.fill_batch(&order[range], &norm, x, labels);
        Ok(())
    })
}

/// [`evaluate`] over `n` samples that `fill(range, x, labels)` writes batch by batch (network
/// inputs `[k, C, H, W]`, normalised, and their labels) — data that is not a [`Dataset`],
/// such as arrays handed over from Python.
pub fn evaluate_batches(
    model: &mut Sequential,
    n: usize,
    batch_size: usize,
    ws: &mut Workspace,
    mut fill: impl FnMut(std::ops::Range<usize>, &mut Tensor, &mut Vec<u8>) -> Result<()>,
) -> Result<Evaluation> {
    if batch_size == 0 {
        return Err(Error::config("batch size must be ≥ 1"));
    }
    let classes = model.architecture().outputs();
    let mut loss = SoftmaxCrossEntropy::new(classes, None)?;
    let mut probabilities = Vec::with_capacity(n * classes);
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for start in (0..n).step_by(batch_size) {
        let end = (start + batch_size).min(n);
        fill(start..end, &mut ws.x, &mut ws.labels)?;
        let logits = model.forward(&ws.x, Mode::Eval)?;
        let r = loss.forward_backward(logits, &ws.labels, None)?;
        loss_sum += r.loss * (end - start) as f64;
        correct += r.correct;
        probabilities.extend_from_slice(&loss.probabilities().data);
    }
    let count = n.max(1) as f64;
    Ok(Evaluation { stats: Stats { loss: loss_sum / count, accuracy: correct as f64 / count, images: n }, probabilities, classes })
}
