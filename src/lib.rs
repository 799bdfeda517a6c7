//! digitnet: convolutional neural networks for handwritten digits, with every layer's forward
//! and backward pass written by hand.
//!
//! Data flow. Training: IDX files or image folders ([`data`]) → `u8` images through the
//! model's input [`vision::Pipeline`] → `Tensor` batches (NCHW, f32) → a
//! [`network::Sequential`] built from a [`network::Architecture`] → logits →
//! [`network::loss`] → backward through each layer → [`training::optim`] step; the whole run
//! with validation, checkpoints and resume is a [`training::Run`]; models are saved as
//! safetensors ([`network::model_file`]). Recognition: an image file → [`vision`] (decode,
//! pipeline) → MNIST-format [`vision::Digit`]s → the network → answers, all behind
//! [`inference::Model`], which the binary, its server and the Python package use.
//!
//! Folders, from the ground floor up (a module imports only from its own floor and the floors
//! below it; `tests/structure.rs` checks it):
//!
//! | floor | module | what it holds |
//! |---|---|---|
//! | 0 | [`error`], [`tensor`], [`init`] | the error type, `Tensor`, random numbers and weight initialisers |
//! | 1 | [`kernels`] | GEMM, SIMD helpers, convolution geometry and lowerings (im2col, rows, Winograd), pooling kernels — each fast kernel beside its naive reference |
//! | 1 | [`vision`] | image decoding, the photo → MNIST pipeline, input pipelines, rotation of images, finding the digits of a number |
//! | 1 | [`report`] | classification metrics (scikit-learn's numbers) and PNG charts |
//! | 2 | [`layers`] | the `Layer` contract; one file per layer, forward beside backward; gradient checks |
//! | 3 | [`network`] | architectures (JSON), `Sequential` and its fusion plan, losses, model files (safetensors; ONNX export and import), summaries |
//! | 4 | [`data`] | IDX files, image folders, splits, augmentation, photo-like renderings, realistic validation photos (`data::scenes`) and numbers (`data::numbers`) |
//! | 5 | [`tasks`] | what is task-specific beyond classification: the rotation-angle regressor |
//! | 6 | [`training`] | one epoch, a whole run (validation, checkpoints, resume, early stopping), optimizers, schedules |
//! | 7 | [`inference`] | the public API: load a model, image → its input → answer; the built-in models |
//!
//! Unit tests may use test support from any floor (the MNIST fixtures and renderings of
//! [`data::render`]); library code may not.

pub mod data;
pub mod error;
pub mod inference;
pub mod init;
pub mod kernels;
pub mod layers;
pub mod network;
pub mod report;
pub mod tasks;
pub mod tensor;
pub mod training;
pub mod vision;

pub use error::{Error, Result};
pub use tensor::Tensor;
