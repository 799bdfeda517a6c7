//! A [`Sequential`] as an ONNX model (opset [`OPSET`]).
//!
//! The graph reads `input[N, C, H, W]` float32 holding pixel / 255 (0 = background, 1 = ink:
//! the MNIST-format digit after the model's input pipeline), applies the model's own input
//! normalisation (`Sub` mean, `Div` std, only when it is not the identity), then one node per
//! layer, and writes `output[N, K]`: a classifier's logits (class scores before softmax), a
//! rotation regressor's angle / 45°. Weights are initializers named as in the safetensors file
//! (`3.weight`); convolution padding is written out explicitly (`pads`), so "same" needs no
//! `auto_pad` interpretation on the reading side.
//!
//! | layer | ONNX |
//! |---|---|
//! | Conv2d | `Conv` (kernel_shape, strides, pads, dilations, group 1) |
//! | MaxPool2d / AvgPool2d | `MaxPool` / `AveragePool` (kernel_shape, strides; pads and count_include_pad when padded) |
//! | BatchNorm | `BatchNormalization` (epsilon 1e-5, momentum 0.9 = 1 − PyTorch's 0.1) |
//! | Dense | `Gemm` (transB = 1) |
//! | Flatten | `Flatten` (axis 1) |
//! | ReLU, LeakyReLU, Sigmoid, Tanh, Identity | the same-named op |
//! | Softmax (over a flat input) | `Softmax` (axis −1) |
//! | Dropout | `Dropout` (ratio input; inference: identity) |
//!
//! The model's metadata (`metadata_props`) holds the digitnet model-file keys (`format`,
//! `format_version`, `architecture`, `normalization`, and the caller's extras such as
//! `val_accuracy`) plus `classes` (JSON list), `task`, `pipeline` (how an image becomes the
//! input digit) and `input` / `output` (the conventions above, in words).

use super::proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, FLOAT};
use crate::error::{Error, Result};
use crate::kernels::geometry::Geometry;
use crate::network::arch::{LayerSpec, Task, DEGREES_PER_UNIT};
use crate::network::model_file::FORMAT_VERSION;
use crate::network::sequential::Sequential;
use std::collections::HashMap;

/// The operator set written.
pub const OPSET: i64 = 21;
/// The IR version that goes with it.
pub const IR_VERSION: i64 = 10;

/// What the input holds, in words (also in the file's metadata).
pub const INPUT_CONVENTION: &str =
    "input [N, C, H, W] float32 = pixel / 255 (0 = background, 1 = ink), the digit after the model's input pipeline; the model's normalisation is inside the graph";

/// A parameter as an initializer: its name, shape and values.
type NamedTensor = (String, Vec<usize>, Vec<f32>);

struct Builder<'a> {
    nodes: Vec<NodeProto<'a>>,
    initializers: Vec<TensorProto<'a>>,
    current: String,
    counter: usize,
}

impl<'a> Builder<'a> {
    fn node(&mut self, op: &str, extra_inputs: &[String], attributes: Vec<AttributeProto<'a>>) {
        self.counter += 1;
        let out = format!("{}_{}", op.to_lowercase(), self.counter);
        let mut inputs = vec![self.current.clone()];
        inputs.extend_from_slice(extra_inputs);
        self.nodes.push(NodeProto { name: out.clone(), op_type: op.into(), domain: String::new(), inputs, outputs: vec![out.clone()], attributes });
        self.current = out;
    }

    fn constant(&mut self, name: String, dims: &[usize], values: &'a [f32]) -> String {
        self.initializers.push(TensorProto::from_floats(&name, dims, values));
        name
    }
}

fn usize_ints(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

/// The ONNX model of `model`, with `extra` metadata (the model file's own keys).
pub fn to_onnx(model: &Sequential, extra: &HashMap<String, String>) -> Result<Vec<u8>> {
    let arch = model.architecture();
    let norm = arch.normalization;
    let scalars = [norm.mean, norm.std];
    let mut params: Vec<Vec<NamedTensor>> = vec![Vec::new(); model.layers().len()];
    model.for_each_param(|i, p| params[i].push((format!("{i}.{}", p.name), p.shape.clone(), p.value.clone())));
    let mut b = Builder { nodes: Vec::new(), initializers: Vec::new(), current: "input".into(), counter: 0 };
    if norm.mean != 0.0 {
        let m = b.constant("normalization.mean".into(), &[], &scalars[0..1]);
        b.node("Sub", &[m], vec![]);
    }
    if norm.std != 1.0 {
        let s = b.constant("normalization.std".into(), &[], &scalars[1..2]);
        b.node("Div", &[s], vec![]);
    }
    let dropout_ratios: Vec<[f32; 1]> = arch.layers.iter().map(|l| if let LayerSpec::Dropout { rate } = l { [*rate] } else { [0.0] }).collect();
    for (i, (spec, layer)) in arch.layers.iter().zip(model.layers()).enumerate() {
        let input = layer.input_shape();
        let names: Vec<String> = params[i].iter().map(|(n, _, _)| n.clone()).collect();
        for (name, shape, values) in &params[i] {
            // Only BatchNorm's running statistics and the weights: all are initializers.
            b.initializers.push(TensorProto::from_floats(name, shape, values));
        }
        match *spec {
            LayerSpec::Conv2d { kernel, stride, padding, dilation, .. } => {
                let chw = [input[0], input[1], input[2]];
                let g = Geometry::new("Conv2d", chw, kernel.pair(), stride.pair(), dilation.pair(), padding)?;
                b.node(
                    "Conv",
                    &names,
                    vec![
                        AttributeProto::ints("kernel_shape", &usize_ints(&kernel.pair())),
                        AttributeProto::ints("strides", &usize_ints(&stride.pair())),
                        AttributeProto::ints("pads", &usize_ints(&[g.pad_top, g.pad_left, g.pad_bottom, g.pad_right])),
                        AttributeProto::ints("dilations", &usize_ints(&dilation.pair())),
                        AttributeProto::int("group", 1),
                    ],
                );
            }
            LayerSpec::MaxPool2d { kernel, stride, padding } | LayerSpec::AvgPool2d { kernel, stride, padding, .. } => {
                let (op, include) = match spec {
                    LayerSpec::AvgPool2d { count_include_pad, .. } => ("AveragePool", Some(*count_include_pad)),
                    _ => ("MaxPool", None),
                };
                let mut attributes = vec![
                    AttributeProto::ints("kernel_shape", &usize_ints(&kernel.pair())),
                    AttributeProto::ints("strides", &usize_ints(&stride.unwrap_or(kernel).pair())),
                ];
                // Unpadded pools are written as before padding existed.
                if !padding.is_none() {
                    // ONNX's order is digitnet's: [top, left, bottom, right].
                    attributes.push(AttributeProto::ints("pads", &usize_ints(&padding.sides(op)?)));
                    if let Some(include) = include {
                        attributes.push(AttributeProto::int("count_include_pad", include as i64));
                    }
                }
                b.node(op, &[], attributes);
            }
            LayerSpec::BatchNorm => b.node(
                "BatchNormalization",
                &names,
                vec![
                    AttributeProto::float("epsilon", crate::layers::batch_norm::EPS),
                    AttributeProto::float("momentum", 1.0 - crate::layers::batch_norm::MOMENTUM),
                ],
            ),
            LayerSpec::Dense { .. } => b.node("Gemm", &names, vec![AttributeProto::int("transB", 1)]),
            LayerSpec::Flatten => b.node("Flatten", &[], vec![AttributeProto::int("axis", 1)]),
            LayerSpec::Relu => b.node("Relu", &[], vec![]),
            LayerSpec::LeakyRelu { slope } => b.node("LeakyRelu", &[], vec![AttributeProto::float("alpha", slope)]),
            LayerSpec::Sigmoid => b.node("Sigmoid", &[], vec![]),
            LayerSpec::Tanh => b.node("Tanh", &[], vec![]),
            LayerSpec::Identity => b.node("Identity", &[], vec![]),
            LayerSpec::Softmax => {
                if input.len() != 1 {
                    return Err(Error::config(format!(
                        "layer {i}: a Softmax over a {input:?} tensor (all of each sample's values) has no single ONNX Softmax; flatten before it"
                    )));
                }
                b.node("Softmax", &[], vec![AttributeProto::int("axis", -1)]);
            }
            LayerSpec::Dropout { .. } => {
                let ratio = b.constant(format!("{i}.ratio"), &[], &dropout_ratios[i]);
                b.node("Dropout", &[ratio], vec![]);
            }
        }
    }
    // The last node writes the graph output.
    let last = b.nodes.last_mut().ok_or_else(|| Error::config("a network without layers cannot be exported"))?;
    last.outputs = vec!["output".into()];
    let batch = Some("N".to_string());
    let mut in_dims = vec![None];
    in_dims.extend(arch.input.iter().map(|&d| Some(d as i64)));
    let out_len = model.layers().last().map(|l| l.output_shape().iter().product::<usize>()).unwrap_or(0);
    let graph = GraphProto {
        name: arch.name.clone(),
        nodes: b.nodes,
        initializers: b.initializers,
        inputs: vec![ValueInfoProto { name: "input".into(), elem_type: FLOAT, dims: Some(in_dims), dim_params: vec![batch.clone()] }],
        outputs: vec![ValueInfoProto { name: "output".into(), elem_type: FLOAT, dims: Some(vec![None, Some(out_len as i64)]), dim_params: vec![batch] }],
        sparse_initializers: 0,
    };
    let mut meta: Vec<(String, String)> = extra.iter().filter(|(k, _)| !k.starts_with("onnx.")).map(|(k, v)| (k.clone(), v.clone())).collect();
    let output = match arch.task {
        Task::Classification => "output [N, classes] float32: class scores (logits; softmax gives probabilities), in the order of `classes`".to_string(),
        Task::Regression => format!("output [N, {out_len}] float32: the regression outputs"),
        Task::Rotation => format!("output [N, 1] float32: the digit's rotation angle / {DEGREES_PER_UNIT}° (counter-clockwise positive)"),
    };
    let task = serde_json::to_string(&arch.task).expect("serialises");
    for (k, v) in [
        ("format", "digitnet".to_string()),
        ("format_version", FORMAT_VERSION.to_string()),
        ("architecture", serde_json::to_string(arch).expect("architectures serialise")),
        ("normalization", serde_json::to_string(&norm).expect("serialises")),
        ("classes", serde_json::to_string(&arch.classes).expect("serialises")),
        ("task", task.trim_matches('"').to_string()),
        ("pipeline", arch.pipeline().name().to_string()),
        ("input", INPUT_CONVENTION.to_string()),
        ("output", output),
    ] {
        meta.retain(|(key, _)| key != k);
        meta.push((k.to_string(), v));
    }
    meta.sort();
    let proto = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "digitnet".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("digitnet model '{}'", arch.name),
        opset_import: vec![(String::new(), OPSET)],
        metadata: meta,
        graph: Some(graph),
    };
    Ok(proto.encode())
}
