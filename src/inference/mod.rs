//! Recognising digits: the library API that the `digitnet` binary, its server and the Python
//! package all use. A [`Model`] is a network with the input pipeline it was trained with
//! ([`Pipeline`]): an image goes through that pipeline into MNIST-format [`Digit`]s, then the
//! network.
//!
//! ```no_run
//! use digitnet::inference::Model;
//!
//! let mut model = Model::builtin()?; // or Model::load("runs/lenet.safetensors".as_ref())?
//! let prediction = model.predict_file("my-digit.jpg".as_ref())?;
//! println!("{} ({:.1} %)", prediction.label, 100.0 * prediction.confidence);
//!
//! let mut reader = Model::builtin_reader()?; // any classifier reads numbers; this one best
//! let number = reader.read_file("cheque.jpg".as_ref())?;
//! println!("{}", number.text);
//!
//! let mut turned = Model::builtin_rotation()?;
//! println!("{:.1}°", turned.angle_file("turned.png".as_ref())?);
//! # Ok::<(), digitnet::Error>(())
//! ```

pub mod builtin;
mod pixels;

use crate::error::{Error, Result};
use crate::layers::activation::softmax_row;
use crate::layers::Mode;
use crate::network::arch::{Architecture, Task};
use crate::network::model_file;
use crate::network::Sequential;
use crate::tensor::{argmax, Tensor};
use crate::vision::number::{number_candidates, Costs, NumberCandidates, ReadItem};
use crate::vision::{load_luma, FoundDigit, Gray};
use std::collections::HashMap;
use std::path::Path;

pub use crate::vision::{Digit, Pipeline};
pub use pixels::{Pixels, ARRAY_BATCH};

/// A network and how an image becomes its input.
pub struct Model {
    net: Sequential,
    metadata: HashMap<String, String>,
    origin: String,
    /// A second network for images already in MNIST's format (28×28, light ink on black):
    /// the built-in rotation model hands those to a regressor trained on turned MNIST digits
    /// alone, which reads them better than the one trained on photos too, and the built-in
    /// classifier to the one trained without writer augmentations. `None` for every model
    /// loaded from a file.
    mnist_format: Option<Box<Model>>,
    /// The built-in number reader, loaded the first time the built-in classifier needs it
    /// ([`Model::reading_of_wide_ink`]); `None` until then, and for every other model.
    reader: Option<Box<Model>>,
}

/// A classifier's answer for one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Index of the most likely class.
    pub class: usize,
    /// Its name (the digit, for digit models).
    pub label: String,
    /// Its probability.
    pub confidence: f32,
    /// Every class's probability, in class order.
    pub probabilities: Vec<f32>,
    /// Why the image does not look like one digit (several digits side by side, a drawing,
    /// too unsure), when it does not; see [`not_one_digit`]. The answer above is then only
    /// the network's best guess.
    pub not_a_digit: Option<String>,
}

impl Prediction {
    /// The answer for the probabilities `p` over `classes`.
    pub fn new(classes: &[String], probabilities: Vec<f32>) -> Prediction {
        let class = argmax(&probabilities);
        Prediction {
            class,
            label: classes.get(class).cloned().unwrap_or_default(),
            confidence: probabilities.get(class).copied().unwrap_or(0.0),
            probabilities,
            not_a_digit: None,
        }
    }

    /// The `k` most likely classes as (index, probability), most likely first.
    pub fn top(&self, k: usize) -> Vec<(usize, f32)> {
        let mut order: Vec<usize> = (0..self.probabilities.len()).collect();
        order.sort_by(|&i, &j| self.probabilities[j].total_cmp(&self.probabilities[i]));
        order.into_iter().take(k).map(|i| (i, self.probabilities[i])).collect()
    }
}

/// The feature maps of one layer whose output is `[C, H, W]`, each scaled to 0–255 for display
/// (or, with `kind` "filters", the first convolution's kernels).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FeatureMaps {
    /// The layer's index in the network.
    pub index: usize,
    pub kind: String,
    /// `[C, H, W]` (for filters: `[out channels, kh, kw]`).
    pub shape: [usize; 3],
    /// `C` maps of `H × W` bytes, row-major.
    pub maps: Vec<Vec<u8>>,
}

/// One digit of a number read from an image.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadDigit {
    pub prediction: Prediction,
    /// Where it is in the image: x, y, width, height (pixels of the original image).
    pub bbox: [usize; 4],
    /// Which line of the image it is on (0 = top).
    pub line: usize,
    /// Its candidate's index in [`NumberCandidates::images`]' order.
    pub candidate: usize,
}

/// A number read from an image.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The digits read, left to right, lines separated by `\n`.
    pub text: String,
    pub digits: Vec<ReadDigit>,
    /// The digits with the marks read between and after them (`.`, `,`, `-`): `24.551` where
    /// `text` is `24551`; lines separated by `\n`.
    pub raw: String,
}

impl Reading {
    /// The best reading of a number's candidate digits (see [`crate::vision::number`]), given
    /// each candidate's class probabilities (in [`NumberCandidates::images`]' order) and the
    /// classes' names: what [`Model::read`] and the server's `/api/read` answer.
    pub fn from_candidates(candidates: &NumberCandidates, probabilities: &[Vec<f32>], classes: &[String]) -> Result<Reading> {
        Reading::from_candidates_with(candidates, probabilities, classes, Costs::default())
    }

    /// [`Reading::from_candidates`] with other costs (to measure them).
    pub fn from_candidates_with(candidates: &NumberCandidates, probabilities: &[Vec<f32>], classes: &[String], costs: Costs) -> Result<Reading> {
        // The classes that are digits; a "none" class only lowers their probabilities.
        let mut digit_classes: Vec<usize> = (0..classes.len()).filter(|&i| classes[i].len() == 1 && classes[i].as_bytes()[0].is_ascii_digit()).collect();
        if digit_classes.is_empty() {
            digit_classes = (0..classes.len()).collect();
        }
        let lines = candidates.best_reading_with(probabilities, &digit_classes, costs)?;
        let (mut text, mut raw, mut digits) = (String::new(), String::new(), Vec::new());
        for (line, items) in lines.into_iter().enumerate() {
            if line > 0 {
                text.push('\n');
                raw.push('\n');
            }
            for item in items {
                match item {
                    ReadItem::Digit { candidate, class } => {
                        let c = candidates.candidate(candidate).ok_or_else(|| Error::Data(format!("no candidate digit {candidate}")))?;
                        let p = probabilities[candidate].clone();
                        let prediction = Prediction {
                            class,
                            label: classes.get(class).cloned().unwrap_or_default(),
                            confidence: p.get(class).copied().unwrap_or(0.0),
                            probabilities: p,
                            not_a_digit: None,
                        };
                        text += &prediction.label;
                        raw += &prediction.label;
                        digits.push(ReadDigit { prediction, bbox: c.bbox, line, candidate });
                    }
                    ReadItem::Mark { symbol, .. } => raw.push(symbol),
                }
            }
        }
        Ok(Reading { text, digits, raw })
    }
}

impl Model {
    /// The built-in digit classifier: images already in MNIST's format go to a network
    /// trained on MNIST's digits as they are, every other image (photos, scans, drawings) to
    /// one trained with writer augmentations as well ([`Model::for_image`]).
    pub fn builtin() -> Result<Model> {
        let (net, metadata) = builtin::digits_photo_classifier()?;
        let (mnist_net, mnist_metadata) = builtin::digits_classifier()?;
        let origin = builtin::DIGITS_CLASSIFIER_NAME;
        let mnist_format = Model { net: mnist_net, metadata: mnist_metadata, origin: origin.into(), mnist_format: None, reader: None };
        Ok(Model { net, metadata, origin: origin.into(), mnist_format: Some(Box::new(mnist_format)), reader: None })
    }

    /// The built-in number reader: a classifier of ten digits and "none" made for
    /// [`Model::read`] (any classifier reads numbers; this one also says when a candidate is
    /// no digit, half of one or two of them).
    pub fn builtin_reader() -> Result<Model> {
        let (net, metadata) = builtin::number_reader()?;
        Ok(Model { net, metadata, origin: builtin::NUMBER_READER_NAME.into(), mnist_format: None, reader: None })
    }

    /// The built-in rotation-angle regressor: images already in MNIST's format go to a
    /// network trained on turned MNIST digits, every other image (photos, scans, drawings) to
    /// one trained on photos of turned digits as well ([`Model::for_image`]).
    pub fn builtin_rotation() -> Result<Model> {
        let (net, metadata) = builtin::rotation_regressor()?;
        let (mnist_net, mnist_metadata) = builtin::rotation_mnist_regressor()?;
        let origin = builtin::ROTATION_REGRESSOR_NAME;
        let mnist_format = Model { net: mnist_net, metadata: mnist_metadata, origin: origin.into(), mnist_format: None, reader: None };
        Ok(Model { net, metadata, origin: origin.into(), mnist_format: Some(Box::new(mnist_format)), reader: None })
    }

    /// The model that reads `image`: the MNIST-format network of a model that has one
    /// ([`Model::builtin`], [`Model::builtin_rotation`]) when the image is in MNIST's format,
    /// this model otherwise.
    pub fn for_image(&mut self, image: &Gray) -> &mut Model {
        let mnist = self.mnist_format.is_some() && crate::vision::pipeline::is_mnist_format(image);
        self.for_mnist_format(mnist)
    }

    /// The model that reads images already in MNIST's format (`mnist` true) or others.
    pub fn for_mnist_format(&mut self, mnist: bool) -> &mut Model {
        if mnist && self.mnist_format.is_some() {
            return self.mnist_format.as_deref_mut().expect("checked above");
        }
        self
    }

    /// [`Model::for_mnist_format`] for MNIST-format images, owned.
    pub fn into_mnist_format(self) -> Model {
        match self.mnist_format {
            Some(m) => *m,
            None => self,
        }
    }

    /// The network, and the network for MNIST-format images of a model that has one
    /// ([`Model::for_image`]).
    pub fn into_networks(self) -> (Sequential, Option<Sequential>) {
        (self.net, self.mnist_format.map(|m| m.net))
    }

    /// A model file. `arch` gives the architecture of a file without digitnet metadata (a
    /// PyTorch state dict of a built-in architecture) and overrides the file's own otherwise.
    pub fn load(path: &Path) -> Result<Model> {
        Model::load_with_arch(path, None)
    }

    /// As [`Model::load`], with an architecture for files that name none.
    pub fn load_with_arch(path: &Path, arch: Option<&Architecture>) -> Result<Model> {
        let file = model_file::load(path, arch)?;
        Ok(Model { net: file.model, metadata: file.metadata, origin: path.display().to_string(), mnist_format: None, reader: None })
    }

    /// A network trained or built in this process (no file metadata).
    pub fn from_network(net: Sequential, origin: impl Into<String>) -> Model {
        Model { net, metadata: HashMap::new(), origin: origin.into(), mnist_format: None, reader: None }
    }

    /// Where the model came from: its file, or the built-in model's name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The file's metadata (validation accuracy, epoch, …); empty for a foreign file.
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    pub fn network(&self) -> &Sequential {
        &self.net
    }

    pub fn network_mut(&mut self) -> &mut Sequential {
        &mut self.net
    }

    pub fn into_network(self) -> Sequential {
        self.net
    }

    pub fn architecture(&self) -> &Architecture {
        self.net.architecture()
    }

    /// The input pipeline the model was trained with.
    pub fn pipeline(&self) -> Pipeline {
        self.architecture().pipeline()
    }

    /// Class names (empty for regressors).
    pub fn classes(&self) -> &[String] {
        &self.architecture().classes
    }

    /// An error unless this is a classifier.
    pub fn require_classifier(&self) -> Result<()> {
        let a = self.architecture();
        if a.task != Task::Classification || a.classes.len() < 2 {
            return Err(Error::config(format!("model '{}' is not a classifier (task {:?}); this needs one", a.name, a.task)));
        }
        Ok(())
    }

    /// An error unless this is a rotation model of 28×28 digits.
    pub fn require_rotation(&self) -> Result<()> {
        crate::tasks::rotation::check_rotation_model(&self.net)
    }

    /// An error unless the network reads 28×28 single-channel digits.
    fn require_digits(&self) -> Result<()> {
        let a = self.architecture();
        if a.input != [1, 28, 28] {
            return Err(Error::config(format!("model '{}' takes {:?} inputs, not 28×28 digits", a.name, a.input)));
        }
        Ok(())
    }

    /// The image as this model's input digit, through its pipeline.
    pub fn prepare(&self, image: &Gray) -> Result<Digit> {
        self.require_digits()?;
        self.pipeline().digit(image)
    }

    /// The network input for digits: `[n, 1, 28, 28]`, normalised as the model was trained.
    pub fn input_tensor(&self, digits: &[Digit]) -> Result<Tensor> {
        self.require_digits()?;
        let norm = self.architecture().normalization;
        let mut x = Tensor::zeros(&[digits.len(), 1, 28, 28]);
        for (dst, d) in x.data.chunks_mut(784).zip(digits) {
            for (v, &p) in dst.iter_mut().zip(d.iter()) {
                *v = norm.apply(p);
            }
        }
        Ok(x)
    }

    /// Class probabilities of each digit (a classifier's softmax).
    pub fn probabilities(&mut self, digits: &[Digit]) -> Result<Vec<Vec<f32>>> {
        self.require_classifier()?;
        let x = self.input_tensor(digits)?;
        let logits = self.net.forward(&x, Mode::Eval)?;
        let k = logits.sample_len();
        Ok(logits
            .data
            .chunks(k)
            .map(|row| {
                let mut p = vec![0.0; k];
                softmax_row(row, &mut p);
                p
            })
            .collect())
    }

    /// The classifier's answer for each digit.
    pub fn classify(&mut self, digits: &[Digit]) -> Result<Vec<Prediction>> {
        let probabilities = self.probabilities(digits)?;
        let classes = self.classes().to_vec();
        Ok(probabilities.into_iter().map(|p| Prediction::new(&classes, p)).collect())
    }

    /// The image as this model's input digit, through its pipeline, with what the photo
    /// pipeline found around it (see [`Pipeline::examine`]).
    pub fn examine(&self, image: &Gray) -> Result<(Digit, Option<FoundDigit>)> {
        self.require_digits()?;
        self.pipeline().examine(image)
    }

    /// The digit in an image (through the model's pipeline, by the network that reads it:
    /// [`Model::for_image`]), with the "not one digit" check ([`not_one_digit`]).
    pub fn predict(&mut self, image: &Gray) -> Result<Prediction> {
        let model = self.for_image(image);
        let (digit, found) = model.examine(image)?;
        let mut p = model.classify(&[digit])?.remove(0);
        let number = self.reading_of_wide_ink(image, found.as_ref())?;
        p.not_a_digit = not_one_digit(found.as_ref(), &p, number.as_ref());
        Ok(p)
    }

    /// The reading `read` gives of `image` with this model — by the built-in number reader
    /// for the built-in classifier, by this model for any other, as `read --model` does — when
    /// the photo pipeline found ink there at least [`NUMBER_CHECK_ASPECT`] times as wide as
    /// tall and this model reads the ten digits: what [`not_one_digit`] needs to tell two
    /// digits written close together from one wide digit. `None` otherwise, and when the
    /// reader finds no digit.
    pub fn reading_of_wide_ink(&mut self, image: &Gray, found: Option<&FoundDigit>) -> Result<Option<Reading>> {
        match wide_ink_candidates(image, found) {
            Some(candidates) if reads_ten_digits(self.classes()) => self.reading_of_candidates(&candidates),
            _ => Ok(None),
        }
    }

    /// [`Model::reading_of_wide_ink`] from the number's candidates (the server computes them
    /// with the decoding, off the inference workers).
    pub fn reading_of_candidates(&mut self, candidates: &NumberCandidates) -> Result<Option<Reading>> {
        let reader = if self.origin == builtin::DIGITS_CLASSIFIER_NAME {
            match &mut self.reader {
                Some(r) => r,
                slot @ None => slot.insert(Box::new(Model::builtin_reader()?)),
            }
        } else {
            self
        };
        Ok(reader.read_candidates(candidates).ok())
    }

    /// The digit in an image file.
    pub fn predict_file(&mut self, path: &Path) -> Result<Prediction> {
        self.predict(&load_luma(path)?)
    }

    /// Every digit of a number in an image: lines top to bottom, digits left to right.
    /// Recognition chooses the segmentation: every plausible candidate digit
    /// ([`number_candidates`]: touching digits cut, broken ones joined, marks apart) is
    /// classified, and the reading of least cost wins ([`Model::read_candidates`]).
    pub fn read(&mut self, image: &Gray) -> Result<Reading> {
        self.require_classifier()?;
        self.require_digits()?;
        self.read_candidates(&number_candidates(image)?)
    }

    /// The best reading of a number's candidate digits: [`Reading::from_candidates`] with this
    /// classifier's probabilities of them.
    pub fn read_candidates(&mut self, candidates: &NumberCandidates) -> Result<Reading> {
        self.require_classifier()?;
        let images = candidates.images();
        if images.is_empty() {
            return Err(Error::Data("no digit found".into()));
        }
        let probabilities = self.probabilities(&images)?;
        let classes = self.classes().to_vec();
        Reading::from_candidates(candidates, &probabilities, &classes)
    }

    /// [`Model::read`] of an image file.
    pub fn read_file(&mut self, path: &Path) -> Result<Reading> {
        self.read(&load_luma(path)?)
    }

    /// A rotation model's angle for each digit, degrees, counter-clockwise positive, by this
    /// model's own network (for the built-in, the photos network: choose with
    /// [`Model::for_image`] or [`Model::for_mnist_format`] first, as [`Model::angle`] does).
    pub fn angles(&mut self, digits: &[Digit]) -> Result<Vec<f32>> {
        crate::tasks::rotation::predict_angles(&mut self.net, digits)
    }

    /// The angle of the digit in an image, by the network that reads it ([`Model::for_image`])
    /// through that network's pipeline; a photo is looked at three times, turned by ∓6° too
    /// ([`crate::tasks::rotation::angle_views`], [`crate::tasks::rotation::combine_views`]).
    pub fn angle(&mut self, image: &Gray) -> Result<f32> {
        let model = self.for_image(image);
        model.require_rotation()?;
        model.require_digits()?;
        let (turns, digits): (Vec<f32>, Vec<Digit>) = crate::tasks::rotation::angle_views(model.pipeline(), image)?.into_iter().unzip();
        Ok(crate::tasks::rotation::combine_views(&turns, &model.angles(&digits)?))
    }

    /// [`Model::angle`] of an image file.
    pub fn angle_file(&mut self, path: &Path) -> Result<f32> {
        self.angle(&load_luma(path)?)
    }

    /// The feature maps of every layer with a `[C, H, W]` output for one digit, then the first
    /// convolution's filters (input channel 0).
    pub fn feature_maps(&mut self, digit: &Digit) -> Result<Vec<FeatureMaps>> {
        let x = self.input_tensor(std::slice::from_ref(digit))?;
        self.net.forward_keeping_activations(&x)?;
        let mut out = Vec::new();
        for (i, (layer, act)) in self.net.layers().iter().zip(self.net.activations()).enumerate() {
            let &[c, h, w] = layer.output_shape() else { continue };
            let maps = (0..c).map(|k| display_bytes(&act.data[k * h * w..(k + 1) * h * w])).collect();
            out.push(FeatureMaps { index: i, kind: layer.kind().to_string(), shape: [c, h, w], maps });
        }
        if let Some((i, conv)) = self.net.layers().iter().enumerate().find(|(_, l)| l.kind() == "Conv2d") {
            let wt = &conv.params()[0];
            let (oc, ic, kh, kw) = (wt.shape[0], wt.shape[1], wt.shape[2], wt.shape[3]);
            let maps = (0..oc).map(|o| display_bytes(&wt.value[o * ic * kh * kw..o * ic * kh * kw + kh * kw])).collect();
            out.push(FeatureMaps { index: i, kind: "filters".into(), shape: [oc, kh, kw], maps });
        }
        Ok(out)
    }
}

/// Values scaled to 0–255, minimum to maximum, for display.
fn display_bytes(values: &[f32]) -> Vec<u8> {
    let (lo, hi) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    values.iter().map(|&v| (((v - lo) / span) * 255.0).round() as u8).collect()
}

/// Below this confidence, the answer is "not sure" (calibration: see [`not_one_digit`]).
pub const MIN_CONFIDENCE: f32 = 0.6;

/// More digit-tall groups of ink side by side than this is a number, not one digit.
pub const MAX_SIDE_BY_SIDE: usize = 1;

/// More pieces than this (ink components kept as the digit's) is a drawing of many parts: a
/// written digit is one stroke or two (a 5's flag, a 7's bar), the cartoon animals of the
/// validation set have 3 to 8 (eyes, nose…).
pub const MAX_PIECES: usize = 2;

/// Ink wider than this many times its height is not one digit: the validation set's
/// numbers of 2–5 digits measure 1.2–4.7 (median 2.8), its single digits 0.2–1.2 (10th to
/// 90th percentile 0.5–1.2).
pub const MAX_ASPECT: f32 = 1.6;

/// Ink that the photo pipeline took for one digit at least this many times as wide as tall is
/// also read as a number ([`Model::reading_of_wide_ink`]): on the validation photos, the
/// numbers of two digits written close together that pass [`MAX_ASPECT`] measure 1.29–1.56,
/// and 22 of 319 single digits are this wide (chosen on `tools/photo_validation.rs`'s photos).
pub const NUMBER_CHECK_ASPECT: f32 = 1.1;

/// A reading of wide ink is a number when it has at least two digits, all on one line, each
/// read at least this sure (on the validation photos: all 40 numbers of 2–5 digits read so at
/// 0.9 but two, which other rules turn away; one closed-top 4 of 304 single digits read right,
/// as "17").
pub const NUMBER_CONFIDENCE: f32 = 0.9;

/// The number's candidate digits in `image` when the photo pipeline found its ink at least
/// [`NUMBER_CHECK_ASPECT`] times as wide as tall (what [`Model::reading_of_wide_ink`] reads;
/// the server computes them with the decoding); `None` otherwise, or when there are none.
pub fn wide_ink_candidates(image: &Gray, found: Option<&FoundDigit>) -> Option<NumberCandidates> {
    found.filter(|f| f.aspect >= NUMBER_CHECK_ASPECT).and_then(|_| number_candidates(image).ok())
}

/// Whether a model's classes are the ten digits, in order (a model of other classes does not
/// read numbers).
pub fn reads_ten_digits(classes: &[String]) -> bool {
    classes.len() == 10 && classes.iter().enumerate().all(|(i, c)| *c == i.to_string())
}

/// Why an answer is not one digit, or `None` when it is one: the photo pipeline's facts
/// (`found`, absent for images that did not go through it) and the classifier's confidence.
/// In order: several digit-tall groups of ink side by side (more than [`MAX_SIDE_BY_SIDE`]:
/// a number — `read` reads it); ink much wider than tall ([`MAX_ASPECT`]); a drawing of
/// many parts (more than [`MAX_PIECES`] pieces); wide ink that reads as a number of two or
/// more digits on one line, each at least [`NUMBER_CONFIDENCE`] sure (`number`, the reading
/// of [`Model::reading_of_wide_ink`]); and a classifier less than
/// [`MIN_CONFIDENCE`] sure. The thresholds were chosen on the validation photos of
/// `tools/photo_validation.rs` (MNIST training digits held out from the built-in model, and
/// the numbers and cartoon animals it draws; `tools/README.md`). With today's pipeline, on its
/// 40 photos of each kind at 1000 px they turn away 39 of 40 animals, all 40 numbers and 6 of
/// the 309 digits read right; on 80 more of each kind, 79 of 80 animals, 80 of 80 numbers and
/// 9 of 610; on 80 more never looked at, 74, 79 and 12 of 606; none of the 20 real photos of
/// `../shared/real-dev/single`.
pub fn not_one_digit(found: Option<&FoundDigit>, p: &Prediction, number: Option<&Reading>) -> Option<String> {
    if let Some(f) = found {
        if f.side_by_side > MAX_SIDE_BY_SIDE {
            return Some(format!("{} digit-sized shapes side by side: a number (digitnet read reads numbers)", f.side_by_side));
        }
        if f.aspect > MAX_ASPECT {
            return Some(format!("the ink is {:.1} times as wide as tall", f.aspect));
        }
        if f.pieces > MAX_PIECES {
            return Some(format!("a drawing of {} separate parts", f.pieces));
        }
    }
    if let Some(r) = number {
        if r.digits.len() >= 2 && r.digits.iter().all(|d| d.line == 0 && d.prediction.confidence >= NUMBER_CONFIDENCE) {
            return Some(format!("it reads as the number {} (digitnet read reads numbers)", r.text));
        }
    }
    if p.confidence < MIN_CONFIDENCE {
        return Some(format!("not sure: the best guess, {}, has only {:.1} %", p.label, 100.0 * p.confidence));
    }
    None
}

#[cfg(test)]
mod number_tests;
