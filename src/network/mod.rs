//! Networks: the architecture description, [`Sequential`] and its fusion plan, the losses,
//! and model files (safetensors, and ONNX in and out).

pub mod arch;
mod fusion;
pub mod loss;
pub mod model_file;
pub mod onnx;
pub mod sequential;
mod summary;

pub use arch::{Architecture, LayerSpec, Task};
pub use sequential::{Sequential, EVAL_CHUNK};
