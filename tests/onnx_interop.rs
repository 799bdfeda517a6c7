//! ONNX files from the other frameworks of the source documents, read by digitnet: a PyTorch
//! CNN of a shape digitnet does not build in (exported by `torch.onnx.export`) and a Keras CNN
//! (exported by tf2onnx), each giving the framework's own predictions on the first 1,000
//! MNIST test images and its outputs on the first 100. Then the ways into and out of digitnet:
//! an imported model fine-tuned and saved back as safetensors, and the `export` command's file
//! read back by `eval`.
//!
//! The fixtures were made by `tests/fixtures/make_interop_fixtures.py` (torch 2.15, and
//! tensorflow 2.21 / keras 3 / tf2onnx; its doc string gives the commands):
//!
//! ```python
//! # PyTorch: trained 2 epochs (Adam, lr 2e-3, batch 64) on the first 12,000 training images
//! nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
//!               nn.Conv2d(6, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12), nn.LeakyReLU(0.1),
//!               nn.Flatten(), nn.Linear(588, 32), nn.Tanh(), nn.Dropout(0.2), nn.Linear(32, 10))
//! torch.onnx.export(model.eval(), …, opset_version=17, dynamo=False)  # logits out
//! # Keras: trained 2 epochs (adam, batch 64) on the same images, NHWC input [N, 28, 28, 1]
//! keras.Sequential([Input((28, 28, 1)), Conv2D(8, 3, padding="same", activation="relu"),
//!                   MaxPooling2D(2), Conv2D(16, 3, activation="relu"), BatchNormalization(),
//!                   MaxPooling2D(2), Flatten(), Dense(32, activation="relu"), Dropout(0.25),
//!                   Dense(10, activation="softmax")])
//! tf2onnx.convert.from_function(model inference, opset=17)  # softmax probabilities out
//! ```

mod common;

use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::inference::Model;
use digitnet::layers::activation::softmax_row;
use digitnet::layers::Mode;
use digitnet::network::arch::Normalization;
use digitnet::network::loss::SoftmaxCrossEntropy;
use digitnet::network::model_file;
use digitnet::training::optim::{Optimizer, OptimizerKind};
use digitnet::Tensor;
use std::collections::HashMap;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

fn test_images(n: usize) -> (Tensor, Vec<u8>) {
    let data = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, true).unwrap().take(n);
    let (mut x, mut labels) = (Tensor::default(), Vec::new());
    data.fill_batch(&(0..n).collect::<Vec<_>>(), &Normalization::default(), &mut x, &mut labels);
    (x, labels)
}

fn first_max(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b })
}

/// Loads `<name>_cnn.onnx` through the library's model loader, runs the first 1,000 test
/// images, and compares with `<name>_cnn_outputs.json`. `probabilities`: the framework's
/// outputs are softmax probabilities (digitnet drops a final softmax and outputs logits).
fn check(name: &str, probabilities: bool) {
    let model = Model::load(&fixture(&format!("{name}_cnn.onnx"))).unwrap();
    model.require_classifier().unwrap();
    assert_eq!(model.classes().len(), 10);
    assert_eq!(model.architecture().normalization, Normalization::default(), "a foreign ONNX file reads pixels in [0, 1]");
    let mut net = model.into_network();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{name}_cnn_outputs.json"))).unwrap()).unwrap();
    let want_pred: Vec<usize> = json["predictions"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let want_out: Vec<Vec<f32>> =
        json["outputs"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()).collect();
    let (x, labels) = test_images(want_pred.len());
    let json_labels: Vec<u8> = json["labels"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u8).collect();
    assert_eq!(labels, json_labels);
    let logits = net.forward(&x, Mode::Eval).unwrap().clone();
    let ours: Vec<usize> = logits.data.chunks(10).map(first_max).collect();
    let differ: Vec<usize> = (0..ours.len()).filter(|&i| ours[i] != want_pred[i]).collect();
    // Tolerance: float32 on both sides in different summation orders; logits agree to ~1e-6
    // of their size, probabilities to ~1e-7 absolute. 1e-4 (logits, relative to max(1, |v|))
    // and 1e-5 (probabilities, absolute) are ten times that and far below a layout mistake.
    let mut worst = 0.0f32;
    for (i, want) in want_out.iter().enumerate() {
        let row = &logits.data[i * 10..(i + 1) * 10];
        let mut p = [0.0f32; 10];
        let ours = if probabilities {
            softmax_row(row, &mut p);
            &p[..]
        } else {
            row
        };
        for (a, b) in ours.iter().zip(want) {
            let err = (a - b).abs();
            let tol = if probabilities { 1e-5 } else { 1e-4 * b.abs().max(1.0) };
            assert!(err <= tol, "{name}: image {i}: digitnet {a}, framework {b}");
            worst = worst.max(err);
        }
    }
    eprintln!("{name}: {} of {} predictions equal the framework's; worst output difference {worst:.2e}", ours.len() - differ.len(), ours.len());
    assert!(differ.is_empty(), "{name}: predictions differ at images {differ:?}");
}

#[test]
fn pytorch_cnn_of_a_new_shape_matches_pytorch() {
    check("torch", false);
}

#[test]
fn keras_cnn_exported_by_tf2onnx_matches_keras() {
    check("keras", true);
}

/// An imported model trains (batch norm in training mode, the gradient through every
/// imported layer), and saved as safetensors it loads back with the same outputs.
#[test]
fn imported_model_fine_tunes_and_saves_as_safetensors() {
    let file = model_file::load(&fixture("keras_cnn.onnx"), None).unwrap();
    let mut net = file.model;
    let (x, labels) = test_images(64);
    let mut loss = SoftmaxCrossEntropy::new(10, None).unwrap();
    let mut opt = Optimizer::new(OptimizerKind::adam(), 0.0).unwrap();
    let mut d = Tensor::default();
    let mut losses = Vec::new();
    for _ in 0..5 {
        let logits = net.forward(&x, Mode::Train).unwrap().clone();
        losses.push(loss.forward_backward(&logits, &labels, Some(&mut d)).unwrap().loss);
        net.zero_grad();
        net.backward(&x, &d).unwrap();
        opt.step(&mut net, 1e-3);
    }
    assert!(losses[4] < losses[0], "fine-tuning lowers the loss on its batch: {losses:?}");
    let dir = common::temp_dir("onnx-finetune");
    let path = dir.join("tuned.safetensors");
    model_file::save(&net, &path, &HashMap::new()).unwrap();
    let mut back = model_file::load(&path, None).unwrap().model;
    assert_eq!(back.forward(&x, Mode::Eval).unwrap().data, net.forward(&x, Mode::Eval).unwrap().data);
}

/// `digitnet export` of the built-in model, then `digitnet eval` of the .onnx file: the same
/// accuracy as the built-in model on the same test images.
#[test]
fn exported_file_works_wherever_a_model_file_does() {
    let dir = common::temp_dir("onnx-cli");
    common::write_mnist_subset(&dir, 10, 200);
    let onnx = dir.join("builtin.onnx");
    let o = common::digitnet(&["export", "--model", "builtin", "--format", "onnx", "--out", onnx.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let accuracy = |model: &str| {
        let o = common::digitnet(&["eval", "--model", model, "--data", dir.to_str().unwrap(), "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["accuracy"].as_f64().unwrap()
    };
    let builtin_file = dir.join("builtin.safetensors");
    std::fs::write(&builtin_file, digitnet::inference::builtin::DIGITS_CLASSIFIER).unwrap();
    assert_eq!(accuracy(onnx.to_str().unwrap()), accuracy(builtin_file.to_str().unwrap()));
    common::fails_with(&["export", "--model", "builtin", "--out", dir.join("x.txt").to_str().unwrap()], ".onnx");
    std::fs::write(dir.join("junk.onnx"), [0x08, 0x07, 0x3a, 0xff, 0xff, 0x01]).unwrap();
    common::fails_with(&["eval", "--model", dir.join("junk.onnx").to_str().unwrap(), "--data", dir.to_str().unwrap()], "junk.onnx");
}
