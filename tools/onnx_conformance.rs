//! Runs ONNX's own backend test cases through digitnet's ONNX importer and engine.
//!
//! Each case is a folder with `model.onnx` and `test_data_set_*/input_*.pb, output_0.pb`
//! (ONNX's `onnx/backend/test/data/{pytorch-converted,node}/`). A case is tried when its
//! operators are among those the importer supports (one of the layer ops, plus the helpers a
//! graph may need around them); a tried case either passes (every output value within
//! `|ours − expected| ≤ 1e-5·|expected| + 1e-6`), fails (imported but a different answer, or an
//! engine error), or is skipped because the importer refuses a variant of a supported op
//! (grouped or 3-d convolution, dilated pools, …), with the reason. The first data input is
//! the network's input; the others (weights, in the node cases) are bound as constants.
//!
//! Run: `cargo run --release --example onnx_conformance -- DIR…` (each DIR a folder of cases),
//! or `python3 tools/onnx_conformance.py`, which finds the folders of the installed `onnx`.
//! Exit status 1 when any tried case fails.

use digitnet::layers::Mode;
use digitnet::network::onnx::proto::{ModelProto, TensorProto};
use digitnet::network::onnx::{import_graph, Const, ImportOptions};
use digitnet::Tensor;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The operators a case must use one of to be tried, and the helpers it may use besides.
const LAYER_OPS: &[&str] = &[
    "Conv",
    "MaxPool",
    "AveragePool",
    "BatchNormalization",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Gemm",
    "MatMul",
    "Flatten",
    "Reshape",
    "Softmax",
    "Dropout",
    "Identity",
];
const HELPER_OPS: &[&str] = &["Constant", "Transpose", "Add", "Unsqueeze", "Squeeze"];

const RTOL: f32 = 1e-5;
const ATOL: f32 = 1e-6;

enum Outcome {
    Pass(f32),
    Fail(String),
    Skip(String),
}

fn tensor(path: &Path) -> Result<(String, Const), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let t = TensorProto::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((t.name.clone(), Const::from_tensor(&t).map_err(|e| format!("{}: {e}", path.display()))?))
}

fn run_case(dir: &Path) -> Result<Outcome, String> {
    let bytes = std::fs::read(dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let model = ModelProto::decode(&bytes).map_err(|e| e.to_string())?;
    let graph = model.graph.as_ref().ok_or("no graph")?;
    let initializers: Vec<&str> = graph.initializers.iter().map(|t| t.name.as_str()).collect();
    let data_inputs: Vec<&str> = graph.inputs.iter().map(|i| i.name.as_str()).filter(|n| !initializers.contains(n)).collect();
    let set = dir.join("test_data_set_0");
    if set.join("output_1.pb").exists() {
        return Ok(Outcome::Skip("more than one output".into()));
    }
    // Tensors digitnet does not compute with (int8, bool, sequences, …) are skips.
    let mut inputs = Vec::new();
    for k in 0..data_inputs.len() {
        match tensor(&set.join(format!("input_{k}.pb"))) {
            Ok((_, t)) => inputs.push(t),
            Err(e) => return Ok(Outcome::Skip(format!("input {k}: {e}"))),
        }
    }
    let expected = match tensor(&set.join("output_0.pb")) {
        Ok((_, t)) => t,
        Err(e) => return Ok(Outcome::Skip(format!("output: {e}"))),
    };
    let Some(Const::Float(x_dims, x)) = inputs.first().cloned() else {
        return Ok(Outcome::Skip("the data input is not float".into()));
    };
    let Const::Float(_, want) = expected else { return Ok(Outcome::Skip("the output is not float".into())) };
    let bind = data_inputs.iter().skip(1).map(|n| n.to_string()).zip(inputs.into_iter().skip(1)).collect();
    let options = ImportOptions { bind, input_shape: Some(x_dims.clone()), drop_final_softmax: false };
    let imported = match import_graph(&model, &options) {
        Ok(i) => i,
        Err(e) => return Ok(Outcome::Skip(e.to_string())),
    };
    let mut net = match imported.build() {
        Ok(n) => n,
        Err(e) => return Ok(Outcome::Skip(e.to_string())),
    };
    let mut shape = vec![x_dims[0]];
    shape.extend_from_slice(&net.architecture().input);
    let input = Tensor::from_vec(&shape, x).map_err(|e| e.to_string())?;
    let got = match net.forward(&input, Mode::Eval) {
        Ok(y) => y.data.clone(),
        Err(e) => return Ok(Outcome::Fail(format!("engine error: {e}"))),
    };
    if got.len() != want.len() {
        return Ok(Outcome::Fail(format!("{} output values, expected {}", got.len(), want.len())));
    }
    let mut worst = 0.0f32;
    for (i, (&a, &b)) in got.iter().zip(&want).enumerate() {
        let err = (a - b).abs();
        if err.is_nan() || err > RTOL * b.abs() + ATOL {
            return Ok(Outcome::Fail(format!("value {i}: {a} vs expected {b}")));
        }
        worst = worst.max(err / b.abs().max(1e-3));
    }
    Ok(Outcome::Pass(worst))
}

/// The reason of a skip without node names and numbers, for grouping.
fn reason_key(e: &str) -> String {
    let e = e.rsplit("invalid configuration: ").next().unwrap_or(e);
    let after_node = e.split_once("): ").map(|(_, r)| r).unwrap_or(e);
    let unquoted: String = after_node.split('\'').enumerate().map(|(i, part)| if i % 2 == 1 { "…" } else { part }).collect();
    let mut key: String = unquoted.chars().take_while(|&c| c != '(' && c != '[' && c != ':' && c != ';').collect();
    key = key.split(|c: char| c.is_ascii_digit()).collect::<Vec<_>>().join("#");
    key.trim().to_string()
}

fn main() {
    let dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        eprintln!("usage: onnx_conformance DIR… (folders of ONNX backend test cases)");
        std::process::exit(2);
    }
    let (mut pass, mut fail, mut out_of_scope) = (0, 0, 0);
    let mut skips: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut passes = Vec::new();
    for dir in &dirs {
        let mut cases: Vec<PathBuf> =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).filter_map(|e| e.ok().map(|e| e.path())).collect();
        cases.sort();
        for case in cases {
            let name = format!("{}/{}", dir.file_name().unwrap_or_default().to_string_lossy(), case.file_name().unwrap_or_default().to_string_lossy());
            let Ok(bytes) = std::fs::read(case.join("model.onnx")) else { continue };
            let Ok(model) = ModelProto::decode(&bytes) else {
                failures.push(format!("{name}: model.onnx does not decode"));
                fail += 1;
                continue;
            };
            let ops: Vec<String> = model.graph.as_ref().map(|g| g.nodes.iter().map(|n| n.op_type.clone()).collect()).unwrap_or_default();
            let layer = ops.iter().any(|o| LAYER_OPS.contains(&o.as_str()));
            let all_known = ops.iter().all(|o| LAYER_OPS.contains(&o.as_str()) || HELPER_OPS.contains(&o.as_str()));
            if !(layer && all_known) {
                out_of_scope += 1;
                continue;
            }
            match run_case(&case) {
                Ok(Outcome::Pass(w)) => {
                    pass += 1;
                    passes.push(format!("{name} (worst relative error {w:.1e})"));
                }
                Ok(Outcome::Fail(why)) | Err(why) => {
                    fail += 1;
                    failures.push(format!("{name}: {why}"));
                }
                Ok(Outcome::Skip(why)) => skips.entry(reason_key(&why)).or_default().push(format!("{name}: {why}")),
            }
        }
    }
    let skipped: usize = skips.values().map(Vec::len).sum();
    let verbose = std::env::var_os("VERBOSE").is_some();
    if verbose {
        for p in &passes {
            println!("pass  {p}");
        }
    }
    println!("skipped (variants of supported ops that digitnet does not compute):");
    for (key, cases) in &skips {
        println!("  {:3}  {key}", cases.len());
        for c in cases {
            println!("         {c}");
        }
    }
    for f in &failures {
        println!("FAIL  {f}");
    }
    println!(
        "ONNX conformance: {pass} passed, {fail} failed, {skipped} skipped of {} tried ({out_of_scope} other cases use operators outside the supported set)",
        pass + fail + skipped
    );
    if fail > 0 {
        std::process::exit(1);
    }
}
