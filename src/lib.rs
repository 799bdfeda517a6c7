//! digitnet: convolutional neural networks for handwritten digits, with every layer's forward
//! and backward pass written by hand.
//!
//! Data flow: IDX files ([`data::idx`]) → `Tensor` batches (NCHW, f32) → a [`model::Sequential`]
//! built from an [`arch::Architecture`] → logits → [`loss`] → backward through each layer →
//! [`optim`] step. Models are saved as safetensors ([`checkpoint`]).
//!
//! Module map:
//! * [`tensor`], [`gemm`], [`conv_geometry`], [`init`]: the numeric ground floor.
//! * [`layers`]: one file per layer, forward beside backward, the math in the doc comment.
//! * [`loss`], [`optim`], [`schedule`]: what training needs besides the layers.
//! * [`model`], [`arch`], [`checkpoint`]: networks, their descriptions and their files.
//! * [`gradcheck`]: the finite-difference checker every backward is tested with.
//! * [`data`], [`train`]: data sets (IDX files, image folders, augmentation) and the training
//!   loop with validation, checkpoints and resume.
//! * [`metrics`], [`plots`]: the classification report and the PNG charts.
//! * [`preprocess`], [`segment`]: photo → MNIST-style 28×28, and finding the digits in a photo
//!   of a number (shared by `predict`, `read` and `inspect`).
//! * [`builtin`]: the trained models embedded in the binary.

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
