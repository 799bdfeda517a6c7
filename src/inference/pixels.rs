//! Digits handed over as arrays of pixels (numpy arrays from Python, the JSON API's
//! `pixels`): already in the model's input format, so they go to the network as they are —
//! normalised as the model was trained, not through its input [`Pipeline`](crate::vision::Pipeline),
//! which is for image files. An MNIST-format digit (28×28, light ink on black) passes the
//! `auto` and `mnist` pipelines unchanged, so for such digits the answers are those of
//! `digitnet eval`.

use super::Model;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::layers::activation::softmax_row;
use crate::layers::Mode;
use crate::network::arch::Normalization;
use crate::report::metrics::{classification_report, ClassificationReport};
use crate::tensor::Tensor;
use crate::training::{evaluate_batches, Workspace};

/// Images a batch when arrays are run through a model: `eval`'s batch size, and the batch
/// size of `bench`'s throughput figure.
pub const ARRAY_BATCH: usize = 1000;

/// `n` images of the model's input size, row-major, one after the other; 0 = background.
#[derive(Clone, Copy, Debug)]
pub enum Pixels<'a> {
    /// Grey levels 0–255, as image files and IDX files hold them.
    Bytes(&'a [u8]),
    /// Grey levels scaled to 0–1.
    Unit(&'a [f32]),
}

impl Pixels<'_> {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Pixels::Bytes(p) => p.len(),
            Pixels::Unit(p) => p.len(),
        }
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of images of `per_image` values; an error when the values are not whole
    /// images, or (for 0–1 values) one is not a number or outside [0, 1].
    pub fn images(&self, per_image: usize) -> Result<usize> {
        if per_image == 0 || !self.len().is_multiple_of(per_image) {
            return Err(Error::Data(format!("images of {per_image} pixels each were expected, but {} values are not a whole number of them", self.len())));
        }
        if let Pixels::Unit(values) = self {
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !(0.0..=1.0).contains(*v)) {
                return Err(Error::Data(format!(
                    "float pixels must be grey levels in [0, 1], found {v} in image {} (pass uint8 for levels 0–255)",
                    i / per_image
                )));
            }
        }
        Ok(self.len() / per_image)
    }

    /// Images `range` (of `per_image` values each) as network inputs `[k, shape…]`, normalised.
    fn fill(&self, range: std::ops::Range<usize>, shape: &[usize; 3], norm: &Normalization, x: &mut Tensor) {
        let per_image: usize = shape.iter().product();
        x.resize(range.len(), shape);
        let values = range.start * per_image..range.end * per_image;
        match self {
            Pixels::Bytes(p) => x.data.iter_mut().zip(&p[values]).for_each(|(d, &v)| *d = norm.apply(v)),
            Pixels::Unit(p) => x.data.iter_mut().zip(&p[values]).for_each(|(d, &v)| *d = (v - norm.mean) / norm.std),
        }
    }

    /// The images as bytes (0–1 values scaled to 0–255 and rounded), with their labels, as a
    /// data set of `rows × cols` images for training.
    pub fn to_dataset(&self, labels: &[u8], rows: usize, cols: usize) -> Result<Dataset> {
        let n = self.images(rows * cols)?;
        if labels.len() != n {
            return Err(Error::Data(format!("{n} images but {} labels", labels.len())));
        }
        let images = match self {
            Pixels::Bytes(p) => p.to_vec(),
            Pixels::Unit(p) => p.iter().map(|&v| (v * 255.0).round() as u8).collect(),
        };
        Ok(Dataset { images, labels: labels.to_vec(), rows, cols })
    }
}

impl Model {
    /// Class probabilities `[n × classes]`, row-major, of `n` images of the model's input
    /// size, in batches of [`ARRAY_BATCH`] (softmax as [`Model::classify`] computes it).
    /// Arrays of pixels are digits in MNIST's format, as IDX data is: a model with a network
    /// for those (the built-in classifier, [`Model::for_image`]) uses it.
    pub fn probabilities_of(&mut self, pixels: Pixels<'_>) -> Result<Vec<f32>> {
        if let Some(m) = self.mnist_format.as_deref_mut() {
            return m.probabilities_of(pixels);
        }
        self.require_classifier()?;
        let arch = self.architecture();
        let (shape, norm, k) = (arch.input, arch.normalization, arch.classes.len());
        let n = pixels.images(shape.iter().product())?;
        let mut out = vec![0.0; n * k];
        let mut x = Tensor::zeros(&[0, shape[0], shape[1], shape[2]]);
        for (b, dst) in out.chunks_mut(ARRAY_BATCH * k).enumerate() {
            let start = b * ARRAY_BATCH;
            pixels.fill(start..start + dst.len() / k, &shape, &norm, &mut x);
            let logits = self.net.forward(&x, Mode::Eval)?;
            for (row, p) in logits.data.chunks(k).zip(dst.chunks_mut(k)) {
                softmax_row(row, p);
            }
        }
        Ok(out)
    }

    /// The report of `digitnet eval` (accuracy, loss, confusion, per-class figures, …) on `n`
    /// images of the model's input size and their labels (class indices); by the network for
    /// MNIST-format images of a model that has one, as [`Model::probabilities_of`].
    pub fn evaluate_pixels(&mut self, pixels: Pixels<'_>, labels: &[u8]) -> Result<ClassificationReport> {
        if let Some(m) = self.mnist_format.as_deref_mut() {
            return m.evaluate_pixels(pixels, labels);
        }
        self.require_classifier()?;
        let arch = self.architecture();
        let (shape, norm, classes) = (arch.input, arch.normalization, arch.classes.clone());
        let n = pixels.images(shape.iter().product())?;
        if labels.len() != n {
            return Err(Error::Data(format!("{n} images but {} labels", labels.len())));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes.len()) {
            return Err(Error::Data(format!("label {bad} in the data is out of range for the model's {} classes", classes.len())));
        }
        let mut ws = Workspace::default();
        let ev = evaluate_batches(&mut self.net, n, ARRAY_BATCH, &mut ws, |range, x, l| {
            l.clear();
            l.extend_from_slice(&labels[range.clone()]);
            pixels.fill(range, &shape, &norm, x);
            Ok(())
        })?;
        classification_report(&ev.probabilities, labels, &classes, ev.stats.loss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{shipped_mnist_dir, Split};
    use crate::training::evaluate;

    fn test_images(n: usize) -> Dataset {
        Dataset::load_idx(&shipped_mnist_dir(), Split::Test, true).unwrap().take(n)
    }

    /// Bytes and the same levels as 0–1 floats give the probabilities of `classify` on the
    /// same digits, batch boundaries included (1,003 images: a last batch of 3).
    #[test]
    fn arrays_answer_as_classify_does() {
        let data = test_images(1003);
        let mut model = Model::builtin().unwrap();
        let from_bytes = model.probabilities_of(Pixels::Bytes(&data.images)).unwrap();
        let unit: Vec<f32> = data.images.iter().map(|&p| p as f32 / 255.0).collect();
        let from_unit = model.probabilities_of(Pixels::Unit(&unit)).unwrap();
        let digits: Vec<_> = (0..data.len()).map(|i| super::super::Digit::from_slice(data.image(i)).unwrap()).collect();
        // Arrays are MNIST-format digits: the built-in's network for those.
        let expected: Vec<f32> = model.for_mnist_format(true).probabilities(&digits).unwrap().concat();
        assert_eq!(from_bytes.len(), 1003 * 10);
        // Same inputs, same batches (classify runs all 1,003 at once): only the GEMM's
        // summation order may differ with the batch size, a few float32 ulps.
        for ((a, b), c) in from_bytes.iter().zip(&from_unit).zip(&expected) {
            assert!((a - c).abs() < 1e-5 && (b - c).abs() < 1e-5, "{a} {b} {c}");
        }
    }

    /// `evaluate_pixels` is `eval`'s evaluation of the same data set, figure for figure.
    #[test]
    fn evaluate_pixels_is_evals_report() {
        let data = test_images(1500);
        let mut model = Model::builtin().unwrap();
        let report = model.evaluate_pixels(Pixels::Bytes(&data.images), &data.labels).unwrap();
        let classes = model.classes().to_vec();
        let mut net = Model::builtin().unwrap().into_mnist_format().into_network();
        let ev = evaluate(&mut net, &data, 1000, &mut Workspace::default()).unwrap();
        let expected = classification_report(&ev.probabilities, &data.labels, &classes, ev.stats.loss).unwrap();
        assert_eq!(report, expected);
    }

    #[test]
    fn bad_arrays_are_errors() {
        let mut model = Model::builtin().unwrap();
        let e = model.probabilities_of(Pixels::Bytes(&[0; 785])).unwrap_err().to_string();
        assert!(e.contains("784") && e.contains("785"), "{e}");
        let mut unit = vec![0.0f32; 2 * 784];
        unit[784 + 5] = f32::NAN;
        let e = model.probabilities_of(Pixels::Unit(&unit)).unwrap_err().to_string();
        assert!(e.contains("NaN") && e.contains("image 1"), "{e}");
        unit[784 + 5] = 255.0;
        assert!(model.probabilities_of(Pixels::Unit(&unit)).unwrap_err().to_string().contains("[0, 1]"));
        let e = model.evaluate_pixels(Pixels::Bytes(&[0; 784]), &[10]).unwrap_err().to_string();
        assert!(e.contains("label 10"), "{e}");
        let e = Model::builtin_rotation().unwrap().probabilities_of(Pixels::Bytes(&[0; 784])).unwrap_err().to_string();
        assert!(e.contains("not a classifier"), "{e}");
    }

    #[test]
    fn float_pixels_become_bytes_for_training() {
        let d = Pixels::Unit(&[0.0, 0.5, 1.0, 0.2]).to_dataset(&[3], 2, 2).unwrap();
        // 0.5·255 = 127.5 rounds to 128; 0.2·255 = 51.
        assert_eq!(d.images, vec![0, 128, 255, 51]);
        assert!(Pixels::Bytes(&[0; 8]).to_dataset(&[1], 2, 2).is_err());
    }
}
