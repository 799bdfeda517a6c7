//! The built-in models, embedded in the binary so every command that takes `--model` works
//! without one. `models/README.md` says how each was trained and how to reproduce it.

use crate::error::Result;
use crate::network::model_file;
use crate::network::sequential::Sequential;
use std::collections::HashMap;
use std::path::Path;

/// The built-in digit classifier's network for images in MNIST's format (28×28, light ink on
/// black: IDX data, the API's pixels, `data export`'s files), and the network `export`,
/// `summary`, transfer learning (`train --folder`, `finetune --from builtin`) start from
/// (safetensors bytes). Every other image goes to [`DIGITS_PHOTO_CLASSIFIER`].
pub static DIGITS_CLASSIFIER: &[u8] = include_bytes!("../../models/digits.safetensors");

/// Name used for the built-in classifier in messages.
pub const DIGITS_CLASSIFIER_NAME: &str = "<built-in digits model>";

/// Loads the built-in classifier and its metadata.
pub fn digits_classifier() -> Result<(Sequential, HashMap<String, String>)> {
    let file = model_file::from_bytes(DIGITS_CLASSIFIER, None, Path::new(DIGITS_CLASSIFIER_NAME))?;
    Ok((file.model, file.metadata))
}

/// The built-in classifier's network for every image not already in MNIST's format (photos,
/// scans, drawings): the same architecture trained with writer augmentations as well — stroke
/// width and the styles MNIST under-represents (flagged 1, closed 4, crossed 7) —
/// `models/README.md`. [`DIGITS_CLASSIFIER`] reads MNIST-format images (28×28, light ink on
/// black), on which it scores higher.
pub static DIGITS_PHOTO_CLASSIFIER: &[u8] = include_bytes!("../../models/digits-photos.safetensors");

/// Loads the built-in classifier's network for images not in MNIST's format, and its metadata.
pub fn digits_photo_classifier() -> Result<(Sequential, HashMap<String, String>)> {
    let file = model_file::from_bytes(DIGITS_PHOTO_CLASSIFIER, None, Path::new(DIGITS_CLASSIFIER_NAME))?;
    Ok((file.model, file.metadata))
}

/// The built-in number reader's classifier: ten digits and "none", trained on the candidate
/// digits the number reader proposes (safetensors bytes; `models/README.md`).
pub static NUMBER_READER: &[u8] = include_bytes!("../../models/reader.safetensors");

/// Name used for the built-in number reader in messages.
pub const NUMBER_READER_NAME: &str = "<built-in number reader>";

/// Loads the built-in number reader's classifier and its metadata.
pub fn number_reader() -> Result<(Sequential, HashMap<String, String>)> {
    let file = model_file::from_bytes(NUMBER_READER, None, Path::new(NUMBER_READER_NAME))?;
    Ok((file.model, file.metadata))
}

/// The built-in rotation-angle regressor (fine-tuned from the classifier; safetensors bytes).
pub static ROTATION_REGRESSOR: &[u8] = include_bytes!("../../models/rotation.safetensors");

/// Name used for the built-in rotation model in messages.
pub const ROTATION_REGRESSOR_NAME: &str = "<built-in rotation model>";

/// Loads the built-in rotation regressor and its metadata.
pub fn rotation_regressor() -> Result<(Sequential, HashMap<String, String>)> {
    let file = model_file::from_bytes(ROTATION_REGRESSOR, None, Path::new(ROTATION_REGRESSOR_NAME))?;
    crate::tasks::rotation::check_rotation_model(&file.model)?;
    Ok((file.model, file.metadata))
}

/// The built-in rotation model's network for digits already in MNIST's format (28×28, light
/// ink on black, as `data rotated` writes them and MATLAB's digit data is): the paper's
/// transfer-learning regressor trained on turned MNIST digits alone (`models/README.md`).
pub static ROTATION_MNIST_REGRESSOR: &[u8] = include_bytes!("../../models/rotation-mnist.safetensors");

/// Loads the MNIST-format rotation regressor and its metadata.
pub fn rotation_mnist_regressor() -> Result<(Sequential, HashMap<String, String>)> {
    let file = model_file::from_bytes(ROTATION_MNIST_REGRESSOR, None, Path::new(ROTATION_REGRESSOR_NAME))?;
    crate::tasks::rotation::check_rotation_model(&file.model)?;
    Ok((file.model, file.metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_classifier_loads_and_classifies_mnist() {
        let (mut model, meta) = digits_classifier().unwrap();
        assert_eq!(model.architecture().classes.len(), 10);
        assert!(meta.contains_key("val_accuracy"));
        // The first 500 test images (measuring, not choosing: the model is fixed).
        let data = crate::data::Dataset::load_idx(&crate::data::shipped_mnist_dir(), crate::data::Split::Test, true).unwrap().take(500);
        let mut ws = crate::training::Workspace::default();
        let ev = crate::training::evaluate(&mut model, &data, 250, &mut ws).unwrap();
        assert!(ev.stats.accuracy > 0.98, "built-in model accuracy {}", ev.stats.accuracy);
    }
}
