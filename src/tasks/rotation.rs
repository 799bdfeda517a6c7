//! Rotated digits and the rotation-angle regression task: the transfer-learning workflow of
//! the source paper (a trained classifier becomes a network that predicts how far a digit is
//! turned, and the prediction straightens it).
//!
//! Rotating an image is [`crate::vision::rotate`].
//!
//! **Targets.** A rotation network has one output, the angle divided by
//! [`DEGREES_PER_UNIT`] (45°), so that angles drawn uniformly from ±45° are targets in ±1;
//! the loss is the halved mean squared error of [`crate::network::loss::mse`] on those targets.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::init::Rng;
use crate::layers::Mode;
use crate::network::arch::{RotationInput, Task, DEGREES_PER_UNIT};
use crate::network::loss::{mse, BatchLoss};
use crate::network::sequential::Sequential;
use crate::tensor::Tensor;
use crate::vision::rotate::{rotate_into, rotate_shifted_into};
use crate::vision::{Digit, Gray, Pipeline};
use serde::Serialize;

/// The angle range of the task: uniform in ±45°, as the issue and the source paper use.
pub const MAX_DEGREES: f32 = 45.0;

/// The turns (degrees) of a second and third look at a photo of a turned digit: the photo
/// turned by these before its pipeline reads it, each view's angle shifted back by its turn and
/// the three averaged (test-time augmentation; [`angle_views`], [`combine_views`]). Chosen on
/// 600 validation photos of turned *training* digits (`tools/rotation_refine.rs … photo`):
/// 7.78° → 7.25° RMSE; ±4 and ±8° (five looks) gave 7.24°, ±5 to ±15° 7.37°. Turning the
/// prepared 28×28 instead makes every network worse (`docs/experiments/rotation-second-look.md`):
/// it blurs the digit a second time, where a turned photo is normalised anew.
pub const VIEW_TURNS: [f32; 2] = [-6.0, 6.0];

/// The digits a rotation model reads for one image through `pipeline`: the image as it is,
/// then — when the pipeline reads it as a photo (not an image already in MNIST's format, whose
/// networks read its pixels as they are) — the image turned by each of [`VIEW_TURNS`] about
/// its centre, the uncovered corners filled with its border's median (the paper). Each digit
/// comes with its turn; a turned view in which no digit is found is left out. The first
/// image's failure is the error.
pub fn angle_views(pipeline: Pipeline, image: &Gray) -> Result<Vec<(f32, Digit)>> {
    let plain = pipeline.digit(image)?;
    let mut views = vec![(0.0, plain)];
    if pipeline.reads_as_photo(image) {
        let paper = crate::vision::border_median(image);
        for turn in VIEW_TURNS {
            if let Ok(d) = pipeline.digit(&crate::vision::rotate::rotate_gray(image, turn, paper)) {
                views.push((turn, d));
            }
        }
    }
    Ok(views)
}

/// The angle of a digit from the network's angles for its [`angle_views`] (`turns[i]` the
/// turn of the view whose angle is `angles[i]`; the first, the image as it is, has turn 0):
/// the mean of the first angle and, for each of [`VIEW_TURNS`], the angle of that view minus
/// its turn — where the first angle plus a turn leaves the ±45° the networks learned, the
/// opposite turn's view stands in for it. With one view, its angle.
pub fn combine_views(turns: &[f32], angles: &[f32]) -> f32 {
    let Some(&first) = angles.first() else { return 0.0 };
    let (mut sum, mut n) = (first, 1.0);
    for turn in VIEW_TURNS {
        let turn = if (first + turn).abs() > MAX_DEGREES { -turn } else { turn };
        if let Some(i) = turns.iter().position(|&t| t == turn) {
            sum += angles[i] - turn;
            n += 1.0;
        }
    }
    sum / n
}

/// Digits, each rotated by its own angle.
#[derive(Clone, Debug)]
pub struct RotatedSet {
    /// The rotated images, with the digits' class labels.
    pub data: Dataset,
    /// Each image's rotation in degrees (counter-clockwise).
    pub angles: Vec<f32>,
}

impl RotatedSet {
    /// Rotates the images of `source` at `indices` by angles drawn uniformly from
    /// ±`max_degrees` by a generator seeded with `seed` (same seed ⇒ same set).
    pub fn generate(source: &Dataset, indices: &[usize], max_degrees: f32, seed: u64) -> RotatedSet {
        let mut rng = Rng::derived(seed, 0x0207);
        let n = source.rows * source.cols;
        let mut data = source.subset(indices);
        let mut angles = Vec::with_capacity(indices.len());
        for (k, &i) in indices.iter().enumerate() {
            let angle = rng.uniform(-max_degrees, max_degrees);
            rotate_into(source.image(i), &mut data.images[k * n..(k + 1) * n], source.cols, source.rows, angle, 0);
            angles.push(angle);
        }
        RotatedSet { data, angles }
    }

    /// The set followed by a photo of each of its digits (rendered by a generator seeded with
    /// `seed`, read through the photo pipeline as `angle` reads a photo), at the same angles:
    /// the validation set of a rotation model trained with photos.
    pub fn with_photos(&self, seed: u64) -> RotatedSet {
        let photos = self.photos(seed);
        let mut data = self.data.clone();
        data.images.extend_from_slice(&photos.data.images);
        data.labels.extend_from_slice(&photos.data.labels);
        RotatedSet { data, angles: self.angles.iter().chain(&photos.angles).copied().collect() }
    }

    /// A photo of each of the set's digits instead of the digit (as [`RotatedSet::with_photos`]
    /// renders them): the validation set of a rotation model trained on photos alone.
    pub fn photos(&self, seed: u64) -> RotatedSet {
        use rayon::prelude::*;
        let n = self.data.rows * self.data.cols;
        let mut data = self.data.clone();
        data.images.par_chunks_mut(n.max(1)).enumerate().for_each(|(k, image)| {
            let mut rng = Rng::derived(seed, 0x9407 + k as u64);
            if let Ok(digit) = Pipeline::Photo.digit(&crate::data::render::photo_gray(image, &mut rng)) {
                image.copy_from_slice(&digit.0);
            }
        });
        RotatedSet { data, angles: self.angles.clone() }
    }
}

/// Fills training batches with digits rotated by a fresh random angle each time they are seen,
/// and scores the network's outputs against those angles.
#[derive(Clone, Debug)]
pub struct RotationSampler {
    pub max_degrees: f32,
    /// How each turned digit is prepared ([`RotationInput`]).
    pub input: RotationInput,
    /// Predictions within this many degrees count as "correct" in the running accuracy.
    pub threshold: f32,
    pub rng: Rng,
    targets: Vec<f32>,
    /// Per sample of the batch: its generator's seed (photos are rendered in parallel), and
    /// its turned image.
    seeds: Vec<u64>,
    images: Vec<u8>,
}

impl RotationSampler {
    /// A sampler drawing angles in ±`max_degrees` from `rng`.
    pub fn new(max_degrees: f32, threshold: f32, rng: Rng) -> Self {
        RotationSampler { max_degrees, input: RotationInput::Raw, threshold, rng, targets: Vec::new(), seeds: Vec::new(), images: Vec::new() }
    }

    /// Writes the images at `indices`, each freshly rotated, into `x` as network inputs, and
    /// remembers their targets (angle / [`DEGREES_PER_UNIT`]) for [`RotationSampler::loss`].
    /// Every sample draws from a generator of its own, seeded from `rng`, so the batch is the
    /// same however many threads prepare it.
    pub fn fill_batch(&mut self, data: &Dataset, indices: &[usize], norm: &crate::network::arch::Normalization, x: &mut Tensor) {
        use rayon::prelude::*;
        x.resize(indices.len(), &[1, data.rows, data.cols]);
        let n = data.rows * data.cols;
        self.seeds.clear();
        self.seeds.extend(indices.iter().map(|_| self.rng.next_u64()));
        self.targets.resize(indices.len(), 0.0);
        self.images.resize(indices.len() * n, 0);
        let (input, max_degrees) = (self.input, self.max_degrees);
        let samples = x.data.par_chunks_mut(n.max(1)).zip(self.images.par_chunks_mut(n.max(1)));
        samples.zip(indices.par_iter()).zip(self.seeds.par_iter()).zip(self.targets.par_iter_mut()).for_each(|((((dst, image), &i), &seed), target)| {
            let mut rng = Rng::new(seed);
            let angle = rng.uniform(-max_degrees, max_degrees);
            turned_input(data.image(i), image, data.cols, data.rows, angle, input, &mut rng);
            for (d, &p) in dst.iter_mut().zip(image.iter()) {
                *d = norm.apply(p);
            }
            *target = angle / DEGREES_PER_UNIT;
        });
    }

    /// Halved MSE of `output[N, 1]` against the last batch's targets, its gradient in `doutput`;
    /// `correct` counts predictions within the threshold.
    pub fn loss(&self, output: &Tensor, doutput: &mut Tensor) -> Result<BatchLoss> {
        let mut r = mse(output, &self.targets, Some(doutput))?;
        r.correct = output.data.iter().zip(&self.targets).filter(|(&y, &t)| ((y - t) * DEGREES_PER_UNIT).abs() <= self.threshold).count();
        Ok(r)
    }
}

/// One training input: `src` turned by `angle`, prepared as `input` says, into `dst`.
fn turned_input(src: &[u8], dst: &mut [u8], width: usize, height: usize, angle: f32, input: RotationInput, rng: &mut Rng) {
    match input {
        RotationInput::Raw => rotate_into(src, dst, width, height, angle, 0),
        RotationInput::Normalised => {
            // A random sub-pixel shift gives every angle, 0° included, some interpolation
            // blur, so the blur does not tell the angle; normalising hides the size.
            let shift = (rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5));
            rotate_shifted_into(src, dst, width, height, angle, 0, shift);
            prepare_in_place(dst, width, height);
        }
        RotationInput::WithPhotos | RotationInput::Photos => {
            rotate_into(src, dst, width, height, angle, 0);
            // `WithPhotos`: every other digit, drawn at random; `Photos`: all of them.
            if (width, height) == (28, 28) && (input == RotationInput::Photos || rng.below(2) == 0) {
                // The turned digit photographed, then read as `angle` reads a photo.
                if let Ok(digit) = Pipeline::Photo.digit(&crate::data::render::photo_gray(dst, rng)) {
                    dst.copy_from_slice(&digit.0);
                }
            }
        }
    }
}

/// Normalises a 28×28 digit as MNIST was made ([`crate::vision::ink_to_mnist`]); other
/// sizes, and images without ink, are left as they are.
fn prepare_in_place(image: &mut [u8], width: usize, height: usize) {
    if (width, height) != (28, 28) {
        return;
    }
    if let Ok(n) = crate::vision::ink_to_mnist(&Gray { width, height, pixels: image.to_vec() }) {
        image.copy_from_slice(&n);
    }
}

/// Checks that `model` is a rotation network on 28×28 digits.
pub fn check_rotation_model(model: &Sequential) -> Result<()> {
    let a = model.architecture();
    if a.task != Task::Rotation {
        return Err(Error::config(format!(
            "model '{}' is not a rotation model (task {:?}); train one with `digitnet finetune --task rotation`",
            a.name, a.task
        )));
    }
    Ok(())
}

/// Predicted angles in degrees (counter-clockwise) for MNIST-style 28×28 digits (a model
/// trained on re-normalised digits re-normalises them first).
pub fn predict_angles(model: &mut Sequential, digits: &[Digit]) -> Result<Vec<f32>> {
    check_rotation_model(model)?;
    let arch = model.architecture();
    if arch.input != [1, 28, 28] {
        return Err(Error::config(format!("model '{}' takes {:?} inputs, not 28×28 digits", arch.name, arch.input)));
    }
    let (norm, input) = (arch.normalization, arch.rotation_input);
    let mut x = Tensor::zeros(&[digits.len(), 1, 28, 28]);
    let mut img = [0u8; 784];
    for (dst, src) in x.data.chunks_mut(784).zip(digits) {
        img.copy_from_slice(&src.0);
        if input == RotationInput::Normalised {
            prepare_in_place(&mut img, 28, 28);
        }
        for (d, &p) in dst.iter_mut().zip(img.iter()) {
            *d = norm.apply(p);
        }
    }
    Ok(model.forward(&x, Mode::Eval)?.data.iter().map(|&y| y * DEGREES_PER_UNIT).collect())
}

/// Predicted angles in degrees for every image of `data`, in order, `batch_size` at a time,
/// each image first through the model's input pipeline, as `angle` reads the same image from a
/// file (an image the pipeline finds no digit in is taken as it is).
pub fn predict_dataset(model: &mut Sequential, data: &Dataset, batch_size: usize) -> Result<Vec<f32>> {
    check_rotation_model(model)?;
    let (mut prepared, _) = data.prepared(model.architecture().pipeline());
    if model.architecture().rotation_input == RotationInput::Normalised {
        let n = prepared.rows * prepared.cols;
        for image in prepared.images.chunks_mut(n) {
            prepare_in_place(image, prepared.cols, prepared.rows);
        }
    }
    let norm = model.architecture().normalization;
    let (mut x, mut labels) = (Tensor::default(), Vec::new());
    let mut out = Vec::with_capacity(prepared.len());
    let order: Vec<usize> = (0..prepared.len()).collect();
    for idx in order.chunks(batch_size.max(1)) {
        prepared.fill_batch(idx, &norm, &mut x, &mut labels);
        out.extend(model.forward(&x, Mode::Eval)?.data.iter().map(|&y| y * DEGREES_PER_UNIT));
    }
    Ok(out)
}

/// Each image of `data` rotated back by minus its angle in `angles` (the straightened digits).
pub fn deskew_dataset(data: &Dataset, angles: &[f32]) -> Dataset {
    let n = data.rows * data.cols;
    let mut out = data.clone();
    for (i, &a) in angles.iter().enumerate().take(data.len()) {
        rotate_into(data.image(i), &mut out.images[i * n..(i + 1) * n], data.cols, data.rows, -a, 0);
    }
    out
}

/// How well predicted angles match the true ones.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AngleReport {
    pub images: usize,
    /// Root mean squared error, degrees.
    pub rmse: f64,
    /// Mean absolute error, degrees.
    pub mae: f64,
    /// Fraction of predictions within `threshold` degrees of the truth.
    pub within_threshold: f64,
    pub threshold: f64,
    /// RMSE per digit class (index = class; `null` for a class with no images).
    pub per_class_rmse: Vec<Option<f64>>,
}

impl AngleReport {
    /// Compares `predicted` with `truth` (degrees), per class of `labels`.
    pub fn new(predicted: &[f32], truth: &[f32], labels: &[u8], threshold: f64) -> Result<AngleReport> {
        if predicted.len() != truth.len() || labels.len() != truth.len() {
            return Err(Error::Data(format!("{} predictions, {} angles and {} labels", predicted.len(), truth.len(), labels.len())));
        }
        let classes = labels.iter().copied().max().map_or(0, |m| m as usize + 1);
        let (mut sq, mut abs, mut within) = (0.0f64, 0.0f64, 0usize);
        let mut class_sq = vec![(0.0f64, 0usize); classes];
        for ((&p, &t), &l) in predicted.iter().zip(truth).zip(labels) {
            let e = (p - t) as f64;
            sq += e * e;
            abs += e.abs();
            within += usize::from(e.abs() <= threshold);
            class_sq[l as usize].0 += e * e;
            class_sq[l as usize].1 += 1;
        }
        let n = truth.len().max(1) as f64;
        Ok(AngleReport {
            images: truth.len(),
            rmse: (sq / n).sqrt(),
            mae: abs / n,
            within_threshold: within as f64 / n,
            threshold,
            per_class_rmse: class_sq.iter().map(|&(s, k)| (k > 0).then(|| (s / k as f64).sqrt())).collect(),
        })
    }
}

/// A rotation network made from a trained classifier, as the source paper does: every layer
/// before the classifier's last Dense keeps its trained weights (and batch-norm statistics),
/// and a fresh Dense(→1) head (initialised from `seed`) replaces the rest. With `dropout`,
/// every dropout layer gets that rate (0 turns them off: dropout's noise right before a
/// regression head costs accuracy, and the layer indices stay the same).
pub fn regressor_from_classifier(classifier: &Sequential, seed: u64, dropout: Option<f32>) -> Result<Sequential> {
    let from = classifier.architecture();
    if from.task != Task::Classification || from.classes.len() < 2 {
        return Err(Error::config(format!("model '{}' is not a classifier (task {:?}); --from needs a trained classification model", from.name, from.task)));
    }
    let mut arch = from.with_rotation_head()?;
    if let Some(r) = dropout {
        for layer in &mut arch.layers {
            if let crate::network::arch::LayerSpec::Dropout { rate } = layer {
                *rate = r;
            }
        }
    }
    let head = arch.layers.len() - 1;
    let model = classifier.transplant(&arch, head, seed)?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: each turned view's angle shifted back by its turn and averaged with the first;
    /// near ±45° the opposite turn's view stands in; a missing view is left out; one view is
    /// its own angle.
    #[test]
    fn views_combine_by_hand() {
        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
        // 10, 4.5 + 6, 16.5 − 6 → (10 + 10.5 + 10.5) / 3.
        assert!(close(combine_views(&[0.0, -6.0, 6.0], &[10.0, 4.5, 16.5]), 31.0 / 3.0));
        // 42 + 6 is past 45°: the −6° view twice, (42 + 42 + 42) / 3.
        assert!(close(combine_views(&[0.0, -6.0, 6.0], &[42.0, 36.0, 47.0]), 42.0));
        // −42 − 6 is past −45°: the +6° view twice, (−42 − 43 − 43) / 3.
        assert!(close(combine_views(&[0.0, -6.0, 6.0], &[-42.0, -49.0, -37.0]), -128.0 / 3.0));
        assert!(close(combine_views(&[0.0, 6.0], &[10.0, 17.0]), 10.5));
        assert!(close(combine_views(&[0.0], &[-7.5]), -7.5));
    }

    /// A photo (dark ink on light paper, not 28×28) gets the three looks, with their turns; an
    /// image in MNIST's format through `auto`, and anything through `mnist` or `resize`, one.
    #[test]
    fn only_photos_are_looked_at_three_times() {
        let mut photo = Gray::filled(90, 120, 230);
        for y in 30..90 {
            for x in 40..50 {
                photo.pixels[y * 90 + x + (y - 30) / 4] = 20; // a slanted bar: a 1
            }
        }
        let turns = |p: Pipeline, g: &Gray| angle_views(p, g).unwrap().into_iter().map(|(t, _)| t).collect::<Vec<_>>();
        assert_eq!(turns(Pipeline::Photo, &photo), [0.0, VIEW_TURNS[0], VIEW_TURNS[1]]);
        assert_eq!(turns(Pipeline::Auto, &photo), [0.0, VIEW_TURNS[0], VIEW_TURNS[1]]);
        assert_eq!(turns(Pipeline::Resize, &photo), [0.0]);
        let mut mnist = Gray::filled(28, 28, 0);
        (6..22).for_each(|y| mnist.pixels[y * 28 + 14] = 255);
        assert_eq!(turns(Pipeline::Auto, &mnist), [0.0]);
        assert_eq!(turns(Pipeline::Mnist, &mnist), [0.0]);
        // The views differ: the photo was turned before the pipeline read it.
        let views = angle_views(Pipeline::Photo, &photo).unwrap();
        assert_ne!(views[0].1 .0, views[1].1 .0);
        assert_ne!(views[1].1 .0, views[2].1 .0);
    }

    /// Hand-computed: errors 1, −2, 3 (classes 0, 0, 1) → RMSE √(14/3), MAE 2, within 2° 2/3,
    /// class RMSEs √(5/2) and 3.
    #[test]
    fn angle_report_by_hand() {
        let r = AngleReport::new(&[11.0, -2.0, 3.0], &[10.0, 0.0, 0.0], &[0, 0, 1], 2.0).unwrap();
        assert!((r.rmse - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((r.mae - 2.0).abs() < 1e-12);
        assert!((r.within_threshold - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.per_class_rmse[0].unwrap() - 2.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(r.per_class_rmse[1], Some(3.0));
        assert!(AngleReport::new(&[1.0], &[1.0, 2.0], &[0, 0], 10.0).is_err());
    }

    /// The sampler's targets are the drawn angles over 45°, the same seed draws the same batch.
    #[test]
    fn sampler_targets_and_loss() {
        let data = Dataset { images: (0..2 * 784).map(|i| (i % 251) as u8).collect(), labels: vec![3, 5], rows: 28, cols: 28 };
        let norm = crate::network::arch::Normalization::default();
        let mut a = RotationSampler::new(45.0, 10.0, Rng::new(7));
        let mut b = RotationSampler::new(45.0, 10.0, Rng::new(7));
        let (mut xa, mut xb) = (Tensor::default(), Tensor::default());
        a.fill_batch(&data, &[0, 1], &norm, &mut xa);
        b.fill_batch(&data, &[0, 1], &norm, &mut xb);
        assert_eq!(xa, xb);
        assert!(a.targets.iter().all(|t| t.abs() <= 1.0));
        // A perfect output has zero loss and both within the threshold.
        let out = Tensor::from_vec(&[2, 1], a.targets.clone()).unwrap();
        let mut d = Tensor::default();
        let r = a.loss(&out, &mut d).unwrap();
        assert_eq!((r.loss, r.correct), (0.0, 2));
    }

    /// `Photos` renders every turned digit as a photo and reads it back through the photo
    /// pipeline, `WithPhotos` some of them, at the angles `Raw` draws from the same seed; the
    /// validation set of a photos-only run is the photo half of a `WithPhotos` run's.
    #[test]
    fn photos_inputs_render_all_or_some_digits() {
        let test = crate::data::render::mnist_test();
        let data = test.subset(&(0..16).collect::<Vec<_>>());
        let idx: Vec<usize> = (0..16).collect();
        let norm = crate::network::arch::Normalization::default();
        let batch = |input: RotationInput| {
            let mut s = RotationSampler::new(45.0, 10.0, Rng::new(11));
            s.input = input;
            let mut x = Tensor::default();
            s.fill_batch(&data, &idx, &norm, &mut x);
            (x, s.targets)
        };
        let (raw, angles) = batch(RotationInput::Raw);
        let changed = |x: &Tensor| x.data.chunks(784).zip(raw.data.chunks(784)).filter(|(a, b)| a != b).count();
        let (photos, photo_angles) = batch(RotationInput::Photos);
        let (some, _) = batch(RotationInput::WithPhotos);
        assert_eq!(photo_angles, angles, "the same angles, whatever the input");
        // Every digit is photographed; one whose photo the pipeline finds no digit in (a faint
        // pen, say: one of these 16) stays as it was turned.
        let (all, part) = (changed(&photos), changed(&some));
        assert!(all >= 14 && (1..all).contains(&part), "photographed: {all} of 16 with Photos, {part} with WithPhotos");

        let set = RotatedSet::generate(&data, &idx, MAX_DEGREES, 3);
        let (only, both) = (set.photos(3), set.with_photos(3));
        assert_eq!(only.angles, set.angles);
        assert_eq!(both.data.images[16 * 784..], only.data.images[..]);
        assert_eq!(both.data.images[..16 * 784], set.data.images[..]);
        assert!(only.data.images.chunks(784).zip(set.data.images.chunks(784)).filter(|(a, b)| a != b).count() >= 14);
    }
}
