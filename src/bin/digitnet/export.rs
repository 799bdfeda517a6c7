//! `digitnet export`: a model as an ONNX file (the library's `network::onnx` does the work).

use crate::common::{check_writable, resolve_arch};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use digitnet::network::sequential::Sequential;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// ONNX (opset 21): input [N, 1, 28, 28] pixel / 255, output class scores [N, classes].
    Onnx,
}

#[derive(Args)]
pub struct ExportArgs {
    /// A model file, `builtin` (the built-in classifier) or `builtin-rotation` (the built-in
    /// rotation regressor).
    #[arg(long, required_unless_present = "untrained")]
    model: Option<String>,
    /// Architecture for a model file without digitnet metadata (e.g. a PyTorch state dict), or,
    /// with `--untrained`, the architecture to export with fresh weights.
    #[arg(long)]
    arch: Option<String>,
    /// Export `--arch` with freshly initialised weights (seed `--seed`) instead of a model file.
    #[arg(long, requires = "arch")]
    untrained: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value = "onnx")]
    format: Format,
    /// The file to write.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: ExportArgs) -> Result<ExitCode> {
    let Format::Onnx = a.format;
    let (model, metadata): (Sequential, HashMap<String, String>) = if a.untrained {
        let arch = resolve_arch(a.arch.as_deref().unwrap_or_default())?;
        (Sequential::new(&arch, a.seed)?, HashMap::new())
    } else {
        match a.model.as_deref().unwrap_or("builtin") {
            "builtin" => digitnet::inference::builtin::digits_classifier()?,
            "builtin-rotation" => digitnet::inference::builtin::rotation_regressor()?,
            path => {
                let arch = a.arch.as_deref().map(resolve_arch).transpose()?;
                let file = digitnet::network::model_file::load(path.as_ref(), arch.as_ref()).with_context(|| format!("loading {path}"))?;
                (file.model, file.metadata)
            }
        }
    };
    if a.out.extension().is_some_and(|e| e != "onnx") {
        bail!("--out {} should end in .onnx", a.out.display());
    }
    check_writable(&a.out)?;
    let bytes = digitnet::network::onnx::to_onnx(&model, &metadata)?;
    digitnet::network::model_file::write_atomic(&a.out, &bytes)?;
    let arch = model.architecture();
    eprintln!(
        "wrote {} ({} bytes): '{}', ONNX opset {}, input [N, {}] float32 = pixel / 255, output [N, {}]",
        a.out.display(),
        bytes.len(),
        arch.name,
        digitnet::network::onnx::OPSET,
        arch.input.map(|d| d.to_string()).join(", "),
        arch.outputs()
    );
    Ok(ExitCode::SUCCESS)
}
