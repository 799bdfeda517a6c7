//! The fuzz targets: one function per kind of input digitnet reads from outside, each taking
//! any bytes. Shared by cargo-fuzz (`fuzz_targets/*.rs`, coverage-guided, nightly) and the
//! stable smoke run (`tests/fuzz.rs`: every committed corpus file replayed, then seeded
//! mutants of them).
//!
//! The contract each target checks: whatever the bytes, digitnet answers with a result or an
//! error — never a panic, an abort, or an allocation beyond its documented limits (cargo-fuzz
//! runs with `-malloc_limit_mb` and `-rss_limit_mb` to catch those). What is accepted is also
//! used the way the commands use it (a network that loads runs forward, a decoded image goes
//! through every input pipeline, a number through the reader).
#![allow(dead_code)]

use digitnet::data::{idx, Dataset};
use digitnet::inference::Model;
use digitnet::layers::Mode;
use digitnet::network::{arch::Architecture, model_file, Sequential};
use digitnet::vision::{decode_luma, number::number_candidates, Digit, Pipeline};
use digitnet::Tensor;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// A fuzz target: any bytes in, nothing out (a panic or an abort is the failure).
pub type Target = fn(&[u8]);

/// Every target by name (the corpus folders are `fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Target)] =
    &[("idx", idx), ("model_file", model_file), ("architecture", architecture), ("image", image), ("number", number), ("pixels", pixels), ("onnx", onnx)];

/// A pair of IDX files as `digitnet train --data` reads them: the first two bytes (big-endian)
/// are the images file's length, the images file (raw or gzip) follows, then the labels file.
/// What pairs into a data set goes through the `auto` pipeline as training would prepare it.
pub fn idx(data: &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<2>() else { return };
    let (images, labels) = rest.split_at(usize::from(u16::from_be_bytes(*head)).min(rest.len()));
    let parse = |bytes: &[u8], name: &str| idx::decompress_maybe_gz(bytes.to_vec(), Path::new(name)).and_then(|b| idx::parse(&b, Path::new(name)));
    let (Ok(images), Ok(labels)) = (parse(images, "images"), parse(labels, "labels")) else { return };
    if let Ok(set) = Dataset::from_idx(images, labels, Path::new("images"), Path::new("labels")) {
        let _ = set.prepared(Pipeline::Auto);
    }
}

/// A model file (safetensors with the architecture in its metadata) as `predict --model`
/// loads it; one that loads classifies an input of its own shape.
pub fn model_file(data: &[u8]) {
    if let Ok(mut file) = model_file::from_bytes(data, None, Path::new("fuzz.safetensors")) {
        forward_once(&mut file.model);
    }
}

/// An ONNX file as `predict --model net.onnx` imports it (our own protobuf decoder and graph
/// import); one that imports classifies an input of its own shape.
pub fn onnx(data: &[u8]) {
    if let Ok(mut file) = digitnet::network::onnx::from_bytes(data, Path::new("fuzz.onnx")) {
        forward_once(&mut file.model);
    }
}

/// An architecture JSON file as `train --arch FILE` reads it; one that is accepted is built
/// and runs forward.
pub fn architecture(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(arch) = Architecture::from_json(text, "fuzz.json") else { return };
    if let Ok(mut net) = Sequential::new(&arch, 0) {
        forward_once(&mut net);
    }
}

/// Image bytes as `predict`, `angle` and `POST /api/predict` take them: decoded, then through
/// every input pipeline (with the "not one digit" examination), then classified by the
/// built-in model.
pub fn image(data: &[u8]) {
    let Ok(gray) = decode_luma(data, "fuzz") else { return };
    let mut digits = Vec::new();
    for pipeline in [Pipeline::Photo, Pipeline::Resize, Pipeline::Mnist, Pipeline::Auto] {
        if let Ok((digit, _found)) = pipeline.examine(&gray) {
            digits.push(digit);
        }
    }
    if !digits.is_empty() {
        let mut model = builtin(&CLASSIFIER, Model::builtin).lock().unwrap_or_else(|e| e.into_inner());
        let _ = model.classify(&digits);
    }
}

/// Image bytes as `read` and `POST /api/read` take them: decoded, cut into candidate digits,
/// read by the built-in number reader.
pub fn number(data: &[u8]) {
    let Ok(gray) = decode_luma(data, "fuzz") else { return };
    let Ok(candidates) = number_candidates(&gray) else { return };
    let mut reader = builtin(&READER, Model::builtin_reader).lock().unwrap_or_else(|e| e.into_inner());
    let _ = reader.read_candidates(&candidates);
}

/// The JSON body `{"pixels": [784 numbers]}` of the HTTP API.
pub fn pixels(data: &[u8]) {
    if let Ok(digit) = Digit::from_pixels_json(data) {
        assert!(digit.iter().any(|&p| p > 0), "an accepted digit has ink");
    }
}

static CLASSIFIER: OnceLock<Mutex<Model>> = OnceLock::new();
static READER: OnceLock<Mutex<Model>> = OnceLock::new();

/// A built-in model, loaded once per process.
fn builtin(cell: &'static OnceLock<Mutex<Model>>, load: fn() -> digitnet::Result<Model>) -> &'static Mutex<Model> {
    cell.get_or_init(|| Mutex::new(load().expect("the built-in model loads")))
}

/// One forward pass of an input of the network's own shape.
fn forward_once(net: &mut Sequential) {
    let [c, h, w] = net.architecture().input;
    let _ = net.forward(&Tensor::random(&[1, c, h, w], 1), Mode::Eval);
}
