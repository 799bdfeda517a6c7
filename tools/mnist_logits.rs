//! Writes a model's outputs (logits, or a regressor's values) for the 10,000 MNIST test
//! images as little-endian f32, `[10000, outputs]` row-major: the reference that
//! `tools/onnx_check.py` holds ONNX Runtime's outputs of the exported model to.
//!
//! Run: `cargo run --release --example mnist_logits -- MODEL OUT.f32`, where MODEL is
//! `builtin`, `builtin-rotation`, a model file (safetensors or ONNX), or `arch:NAME:SEED` (a
//! built-in architecture or JSON file with fresh weights drawn from SEED, as
//! `digitnet export --untrained --arch NAME --seed SEED` makes them).

use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::layers::Mode;
use digitnet::network::{Architecture, Sequential};
use digitnet::Tensor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, out] = args.as_slice() else {
        return Err("usage: mnist_logits MODEL OUT.f32 (MODEL: builtin, builtin-rotation, a file, or arch:NAME:SEED)".into());
    };
    let mut net: Sequential = match model.as_str() {
        "builtin" => digitnet::inference::builtin::digits_classifier()?.0,
        "builtin-rotation" => digitnet::inference::builtin::rotation_regressor()?.0,
        spec if spec.starts_with("arch:") => {
            let (name, seed) = spec[5..].rsplit_once(':').ok_or("arch:NAME:SEED")?;
            let arch = if name.ends_with(".json") { Architecture::from_json(&std::fs::read_to_string(name)?, name)? } else { Architecture::builtin(name)? };
            Sequential::new(&arch, seed.parse()?)?
        }
        path => digitnet::network::model_file::load(path.as_ref(), None)?.model,
    };
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, true)?;
    let norm = net.architecture().normalization;
    let mut bytes = Vec::new();
    let (mut x, mut labels) = (Tensor::default(), Vec::new());
    for start in (0..test.len()).step_by(1000) {
        let indices: Vec<usize> = (start..(start + 1000).min(test.len())).collect();
        test.fill_batch(&indices, &norm, &mut x, &mut labels);
        let y = net.forward(&x, Mode::Eval)?;
        bytes.extend(y.data.iter().flat_map(|v| v.to_le_bytes()));
    }
    std::fs::write(out, &bytes)?;
    eprintln!("wrote {out}: {} images × {} outputs", test.len(), net.layers().last().map(|l| l.output_shape()[0]).unwrap_or(0));
    Ok(())
}
