//! ONNX models in and out.
//!
//! * [`to_onnx`] writes any [`Sequential`] as an ONNX model ([`export`] says how each layer
//!   maps, what the input and output hold and what the metadata names).
//! * [`from_bytes`] reads an ONNX model as a digitnet network: a sequential CNN of the
//!   operators [`import`] lists, with weights as initializers. A file digitnet wrote gets its
//!   whole architecture back from its metadata (classes, task, input pipeline, initialiser); a
//!   foreign file gets classes `0`…`K−1`, a classifier's final softmax dropped (digitnet
//!   classifiers output logits) and, like a state dict without metadata, is taken to read
//!   pixels scaled to [0, 1] — unless the graph itself normalises its input.
//!
//! [`crate::network::model_file`] dispatches to this module by content, so every command and
//! library call that loads a model file also loads ONNX files. Decoding ([`proto`]) checks
//! every length and element count against the bytes present before allocating, so a
//! truncated or hostile file is an error in memory bounded by its size.

pub mod export;
pub mod import;
pub mod proto;

pub use export::{to_onnx, OPSET};
pub use import::{import_graph, Const, ImportOptions, Imported};

use crate::error::{Error, Result};
use crate::network::arch::Architecture;
use crate::network::model_file::{ModelFile, FORMAT_VERSION};
use crate::network::sequential::Sequential;
use proto::ModelProto;
use std::collections::HashMap;
use std::path::Path;

/// True when `bytes` start like an ONNX model (a protobuf `ModelProto` opening with its
/// `ir_version`, field 1, as every writer puts it) rather than a safetensors file (an 8-byte
/// header length, then `{`).
pub fn looks_like_onnx(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x08) && !(bytes.len() > 8 && bytes[8] == b'{')
}

/// Reads an ONNX model file's bytes as a network (`origin` names it in errors).
pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<ModelFile> {
    let bad = |e: Error| match e {
        Error::Config(m) => Error::format(origin, m),
        other => other,
    };
    let proto = ModelProto::decode(bytes).map_err(bad)?;
    let options = ImportOptions { drop_final_softmax: true, ..Default::default() };
    let imported = import_graph(&proto, &options).map_err(bad)?;
    let mut metadata: HashMap<String, String> = proto.metadata.iter().cloned().collect();
    let model = adopt_metadata(&imported, &metadata).map_err(bad)?;
    if !metadata.contains_key("format") {
        metadata.insert("onnx.producer".into(), format!("{} {}", proto.producer_name, proto.producer_version).trim().to_string());
    }
    if !imported.notes.is_empty() {
        metadata.insert("onnx.import_notes".into(), imported.notes.join("; "));
    }
    Ok(ModelFile { model, metadata })
}

/// The network: with the architecture recorded in digitnet's metadata when the graph is that
/// architecture (same layers, shapes and parameters), else as the graph says.
fn adopt_metadata(imported: &Imported, metadata: &HashMap<String, String>) -> Result<Sequential> {
    let graph_model = imported.build()?;
    let recorded = match (metadata.get("format").map(String::as_str), metadata.get("architecture")) {
        (Some("digitnet"), Some(text)) => {
            let v = metadata.get("format_version").map(String::as_str).unwrap_or("?");
            if v != FORMAT_VERSION {
                return Err(Error::config(format!("digitnet model format version {v}, this build reads version {FORMAT_VERSION}")));
            }
            Architecture::from_json(text, "the ONNX metadata")?
        }
        _ => return Ok(graph_model),
    };
    let Ok(mut model) = Sequential::new(&recorded, 0) else { return Ok(graph_model) };
    let same = |a: &Sequential, b: &Sequential| {
        let shapes = |m: &Sequential| {
            let mut v = Vec::new();
            m.for_each_param(|_, p| v.push((p.name, p.shape.clone())));
            (m.architecture().input, m.layers().iter().map(|l| (l.kind(), l.output_shape().to_vec())).collect::<Vec<_>>(), v)
        };
        shapes(a) == shapes(b)
    };
    let (na, nb) = (recorded.normalization, graph_model.architecture().normalization);
    let close = |x: f32, y: f32| (x - y).abs() <= 1e-5 * x.abs().max(y.abs()).max(1.0);
    if !same(&model, &graph_model) || !close(na.mean, nb.mean) || !close(na.std, nb.std) {
        return Ok(graph_model);
    }
    let mut values = Vec::new();
    graph_model.for_each_param(|_, p| values.push(p.value.clone()));
    let mut k = 0;
    model.for_each_param_mut(|_, _, p| {
        p.value.copy_from_slice(&values[k]);
        k += 1;
    });
    Ok(model)
}

/// The ONNX bytes of `model` with the model file's `extra` metadata.
pub fn to_bytes(model: &Sequential, extra: &HashMap<String, String>) -> Result<Vec<u8>> {
    to_onnx(model, extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::Mode;
    use crate::network::arch::{LayerSpec, Normalization, BUILTIN_NAMES};
    use crate::tensor::Tensor;

    /// Every layer type, odd padding, stride, dilation, a no-bias conv, average pooling,
    /// dropout, 1-d batch norm, and a normalisation that is not the identity.
    const EVERY_LAYER: &str = r#"{"name": "every", "input": [1, 28, 28], "classes": ["a","b","c"],
        "normalization": {"mean": 0.1307, "std": 0.3081}, "input_pipeline": "photo",
        "layers": [{"type": "conv2d", "out_channels": 3, "kernel": [3, 2], "padding": "same", "stride": 2},
                   {"type": "batch_norm"}, {"type": "leaky_relu", "slope": 0.2},
                   {"type": "conv2d", "out_channels": 4, "kernel": 3, "padding": [1, 2], "dilation": 2, "bias": false},
                   {"type": "tanh"}, {"type": "avg_pool2d", "kernel": 2}, {"type": "dropout", "rate": 0.3},
                   {"type": "max_pool2d", "kernel": 3, "stride": 1}, {"type": "sigmoid"}, {"type": "identity"},
                   {"type": "flatten"}, {"type": "dense", "out_features": 7}, {"type": "batch_norm"}, {"type": "relu"},
                   {"type": "dense", "out_features": 3}]}"#;

    /// A network with every parameter (and batch-norm statistics) away from its initial value.
    fn randomised(arch: &Architecture, seed: u64) -> Sequential {
        let mut m = Sequential::new(arch, seed).unwrap();
        let mut rng = crate::init::Rng::new(seed);
        m.for_each_param_mut(|_, _, p| {
            let var = p.name == "running_var";
            p.value.iter_mut().for_each(|v| *v = if var { rng.uniform(0.5, 2.0) } else { *v + rng.uniform(-0.1, 0.1) });
        });
        m
    }

    fn round_trip(arch: &Architecture) {
        let mut m = randomised(arch, 3);
        let mut extra = HashMap::new();
        extra.insert("val_accuracy".to_string(), "0.99".to_string());
        let bytes = to_onnx(&m, &extra).unwrap();
        assert!(looks_like_onnx(&bytes));
        let mut file = crate::network::model_file::from_bytes(&bytes, None, Path::new("m.onnx")).unwrap();
        assert_eq!(file.model.architecture(), m.architecture(), "{}: the architecture comes back from the metadata", arch.name);
        assert_eq!(file.metadata.get("val_accuracy").map(String::as_str), Some("0.99"));
        let x = Tensor::random(&[3, arch.input[0], arch.input[1], arch.input[2]], 5);
        let want = m.forward(&x, Mode::Eval).unwrap().clone();
        let got = file.model.forward(&x, Mode::Eval).unwrap().clone();
        assert_eq!(want.data, got.data, "{}: identical outputs", arch.name);
        // Without its metadata, the graph alone gives the same function.
        let mut proto = ModelProto::decode(&bytes).unwrap();
        proto.metadata.clear();
        let bare = proto.encode();
        let mut foreign = from_bytes(&bare, Path::new("bare.onnx")).unwrap().model;
        let n = foreign.architecture().normalization;
        assert!((n.mean - arch.normalization.mean).abs() < 1e-6 && (n.std - arch.normalization.std).abs() < 1e-6, "{n:?}");
        let got = foreign.forward(&x, Mode::Eval).unwrap().clone();
        for (a, b) in got.data.iter().zip(&want.data) {
            // Same layers and weights; only the dense/conv geometry spelling may differ
            // (explicit pads for "same"), which changes nothing but may choose another lowering.
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{}: {a} vs {b}", arch.name);
        }
    }

    #[test]
    fn export_import_round_trips_every_builtin_architecture() {
        for name in BUILTIN_NAMES {
            round_trip(&Architecture::builtin(name).unwrap());
        }
    }

    #[test]
    fn export_import_round_trips_every_layer_and_a_rotation_regressor() {
        round_trip(&Architecture::from_json(EVERY_LAYER, "every").unwrap());
        let rotation = Architecture::builtin("small").unwrap().with_rotation_head().unwrap();
        round_trip(&rotation);
    }

    /// Padded pools (symmetric, by height and width, and one pad per side; averages with and
    /// without the padding counted) leave as `pads` / `count_include_pad` and come back.
    #[test]
    fn export_import_round_trips_padded_pools() {
        let text = r#"{"name": "pads", "input": [1, 12, 12], "classes": ["a","b","c"],
            "layers": [{"type": "conv2d", "out_channels": 2, "kernel": 3},
                       {"type": "max_pool2d", "kernel": 2, "stride": 1, "padding": [1, 0, 0, 1]},
                       {"type": "avg_pool2d", "kernel": 3, "stride": 2, "padding": 1, "count_include_pad": true},
                       {"type": "avg_pool2d", "kernel": 2, "padding": [0, 1]},
                       {"type": "flatten"}, {"type": "dense", "out_features": 3}]}"#;
        let arch = Architecture::from_json(text, "pads").unwrap();
        round_trip(&arch);
        let bytes = to_onnx(&randomised(&arch, 1), &HashMap::new()).unwrap();
        let proto = ModelProto::decode(&bytes).unwrap();
        let pools: Vec<_> = proto.graph.as_ref().unwrap().nodes.iter().filter(|n| n.op_type.ends_with("Pool")).collect();
        let ints = |k: usize, name: &str| pools[k].attribute(name).map(|a| a.ints.clone());
        let int = |k: usize, name: &str| pools[k].attribute(name).and_then(|a| a.i);
        assert_eq!((ints(0, "pads"), int(0, "count_include_pad")), (Some(vec![1, 0, 0, 1]), None));
        assert_eq!((ints(1, "pads"), int(1, "count_include_pad")), (Some(vec![1, 1, 1, 1]), Some(1)));
        assert_eq!((ints(2, "pads"), int(2, "count_include_pad")), (Some(vec![0, 1, 0, 1]), Some(0)));
    }

    /// The built-in classifier's ONNX file names its classes, pipeline and conventions.
    #[test]
    fn exported_metadata_names_classes_and_preprocessing() {
        let (m, meta) = crate::inference::builtin::digits_classifier().unwrap();
        let bytes = to_onnx(&m, &meta).unwrap();
        let proto = ModelProto::decode(&bytes).unwrap();
        let get = |k: &str| proto.metadata.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_default();
        assert_eq!(get("classes"), r#"["0","1","2","3","4","5","6","7","8","9"]"#);
        assert_eq!(get("pipeline"), m.architecture().pipeline().name());
        assert!(get("input").contains("pixel / 255"));
        assert_eq!(proto.default_opset(), OPSET);
        let g = proto.graph.unwrap();
        assert_eq!(g.inputs[0].dims, Some(vec![None, Some(1), Some(28), Some(28)]));
        assert_eq!(g.outputs[0].dims, Some(vec![None, Some(10)]));
    }

    #[test]
    fn softmax_over_a_feature_map_is_refused_on_export() {
        let mut arch = Architecture::builtin("scratch8").unwrap();
        arch.layers.insert(1, LayerSpec::Softmax);
        let m = Sequential::new(&arch, 0).unwrap();
        assert!(to_onnx(&m, &HashMap::new()).unwrap_err().to_string().contains("Softmax"));
        let _ = Normalization::default();
    }

    /// Truncations at many points, bytes flipped, and an ONNX file given an architecture are
    /// errors (never panics), each naming the file.
    #[test]
    fn malformed_files_are_errors() {
        let m = randomised(&Architecture::builtin("small").unwrap(), 1);
        let bytes = to_onnx(&m, &HashMap::new()).unwrap();
        let origin = Path::new("bad.onnx");
        for cut in [1, 2, 7, 30, 100, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
            let e = crate::network::model_file::from_bytes(&bytes[..cut], None, origin).err().unwrap_or_else(|| panic!("cut {cut} loaded"));
            assert!(e.to_string().contains("bad.onnx"), "{e}");
        }
        let mut rng = crate::init::Rng::new(9);
        for _ in 0..200 {
            let mut b = bytes.clone();
            let at = (rng.uniform(0.0, 1.0) * b.len() as f32) as usize % b.len();
            b[at] ^= 1 << ((rng.uniform(0.0, 8.0) as u32) % 8);
            let _ = crate::network::model_file::from_bytes(&b, None, origin); // any Result, no panic
        }
        let arch = Architecture::builtin("small").unwrap();
        assert!(crate::network::model_file::from_bytes(&bytes, Some(&arch), origin).err().unwrap().to_string().contains("own architecture"));
    }
}
