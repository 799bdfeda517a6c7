//! An ONNX graph as a digitnet [`Architecture`] and its weights.
//!
//! The graph must be a chain: one data input, every node on the path from it to the one
//! output consuming the previous node's output (weights, biases and shapes are constants:
//! initializers, `Constant` nodes, or constant inputs the caller binds). Nodes whose inputs are
//! all constants are folded (`Transpose`, `Identity`, and integer shape arithmetic), so a
//! PyTorch export's `Transpose(weight)` before `MatMul` becomes a dense layer's weight.
//!
//! Per-sample shapes: a rank-4 value `[N, C, H, W]` is digitnet's `[C, H, W]`; a rank-3 one
//! `[N, C, L]` (1-d convolutions and pools) is `[C, L, 1]`; a rank-2 one `[N, F]` is `[F]`.
//! Reshapes that only reinterpret the data (adding or removing size-1 axes, flattening) are
//! free before the first layer and a `Flatten` layer after it.
//!
//! | ONNX | digitnet |
//! |---|---|
//! | `Sub`, `Div`, `Mul`, `Add` of scalars before any layer | the input normalisation |
//! | `Conv` (group 1; pads, `auto_pad`, strides, dilations) | Conv2d; asymmetric padding only where it is "same" |
//! | `MaxPool`, `AveragePool` (pads, asymmetric too, and `auto_pad`; `count_include_pad` both ways; dilation 1; floor or an exact ceil) | MaxPool2d, AvgPool2d |
//! | `BatchNormalization` (inference) | BatchNorm; an ε other than 1e-5 is folded into the running variance (exact in inference) |
//! | `Gemm` (transA 0, α, β folded), `MatMul` (+ `Add` of a bias) | Dense |
//! | `Flatten` (axis 1), `Reshape` to `[N, −1]` | Flatten |
//! | `Relu`, `LeakyRelu`, `Sigmoid`, `Tanh`, `Identity`, `Dropout`, `Softmax` (over each sample) | the same layer |
//! | `Transpose` to channels-last followed by a flatten (Keras' `Flatten` in tf2onnx exports) | Flatten, with the next dense layer's columns reordered |
//! | `Transpose` that moves only size-1 axes (the NHWC → NCHW transpose at a one-channel input) | nothing |
//! | `Mul` / `Add` of a per-channel constant after a layer (a Keras batch norm in tf2onnx's form) | BatchNorm with mean 0, variance 1 − ε (exact in inference) |
//! | `Shape` of the flowing value, and `Gather`, `Slice`, `Concat`, `Cast` on what it gives | folded: a reshape target computed at run time (the batch size stays symbolic) |
//!
//! Anything else is an error naming the node and its op type.

use super::proto::{GraphProto, ModelProto, NodeProto, TensorProto};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::kernels::geometry::{Geometry, Padding, PaddingName};
use crate::layers::{Layer, Pool2d, PoolKind};
use crate::network::arch::{Architecture, LayerSpec, Normalization, PoolPadding, RotationInput, Size2, Task};
use crate::network::sequential::Sequential;
use std::collections::{HashMap, HashSet};

/// A constant value: dimensions and values (floats, or integers kept exactly as i64).
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    Float(Vec<usize>, Vec<f32>),
    Int(Vec<usize>, Vec<i64>),
}

impl Const {
    /// The value of a decoded tensor.
    pub fn from_tensor(t: &TensorProto) -> Result<Const> {
        match t.data_type {
            super::proto::INT64 | super::proto::INT32 => {
                let (d, v) = t.ints()?;
                Ok(Const::Int(d, v))
            }
            _ => {
                let (d, v) = t.floats()?;
                Ok(Const::Float(d, v))
            }
        }
    }

    fn floats(&self, what: &str) -> Result<(&[usize], &[f32])> {
        match self {
            Const::Float(d, v) => Ok((d, v)),
            Const::Int(..) => Err(Error::config(format!("{what} should be a float tensor, found integers"))),
        }
    }

    fn ints(&self, what: &str) -> Result<&[i64]> {
        match self {
            Const::Int(_, v) => Ok(v),
            Const::Float(..) => Err(Error::config(format!("{what} should be an integer tensor, found floats"))),
        }
    }
}

/// The batch size in a shape computed from a `Shape` node (unknown until run time).
pub const BATCH: i64 = i64::MIN;

/// One parameter tensor of an imported layer, in digitnet's layout.
#[derive(Clone, Debug)]
pub struct ImportedParam {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// An imported graph: the architecture, each layer's parameters (state-dict order), and the
/// per-sample shape of the graph's output as ONNX gives it.
#[derive(Clone, Debug)]
pub struct Imported {
    pub arch: Architecture,
    pub params: Vec<Vec<ImportedParam>>,
    /// The output's dimensions after the batch (the network's output holds the same values,
    /// flattened).
    pub output_dims: Vec<usize>,
    /// What the import had to do that a reader may want to know (folded ε, dropped softmax).
    pub notes: Vec<String>,
}

impl Imported {
    /// The network, with the imported weights.
    pub fn build(&self) -> Result<Sequential> {
        let mut model = Sequential::new(&self.arch, 0)?;
        let mut failure = None;
        let mut k = vec![0usize; self.params.len()];
        model.for_each_param_mut(|i, _, p| {
            let Some(src) = self.params.get(i).and_then(|ps| ps.get(k[i])) else {
                failure.get_or_insert(format!("layer {i} has no imported '{}'", p.name));
                return;
            };
            k[i] += 1;
            if src.name != p.name || src.shape != p.shape {
                failure.get_or_insert(format!("layer {i}: imported {} {:?}, the layer needs {} {:?}", src.name, src.shape, p.name, p.shape));
                return;
            }
            p.value.copy_from_slice(&src.values);
        });
        if let Some(f) = failure {
            return Err(Error::config(format!("ONNX import: {f}")));
        }
        Ok(model)
    }
}

/// Per-sample layout of the value flowing along the chain.
#[derive(Clone, Debug, PartialEq)]
struct Flow {
    /// The ONNX per-sample dimensions (after the batch).
    dims: Vec<usize>,
    /// Set after a transpose to channels-last of a `[C, H, W]` value with C > 1: only a
    /// flatten may follow, and the dense layer after it reads its columns in H, W, C order.
    channels_last_of: Option<[usize; 3]>,
}

/// Digitnet's per-sample shape for ONNX per-sample dimensions.
fn engine_shape(dims: &[usize]) -> Option<Vec<usize>> {
    match *dims {
        [f] => Some(vec![f]),
        [c, l] => Some(vec![c, l, 1]),
        [c, h, w] => Some(vec![c, h, w]),
        _ => None,
    }
}

struct Importer {
    consts: HashMap<String, Const>,
    opset: i64,
    layers: Vec<LayerSpec>,
    params: Vec<Vec<ImportedParam>>,
    /// The engine's per-sample shape after the layers so far (the network input's before any).
    engine: Vec<usize>,
    /// The network input's per-sample shape, fixed once the first layer is added.
    input: Option<Vec<usize>>,
    flow: Flow,
    /// Input normalisation `x' = a·x + b` gathered before the first layer.
    affine: (f32, f32),
    /// The next dense layer's columns are in H, W, C order of this `[C, H, W]`.
    permute_dense: Option<[usize; 3]>,
    batch: Option<usize>,
    notes: Vec<String>,
    /// Layers made from a per-channel affine (a following shift may join them).
    affine_bn: Vec<usize>,
}

fn unsupported(node: &NodeProto, why: impl std::fmt::Display) -> Error {
    Error::config(format!("{}: {why}", node.describe()))
}

fn ints_attr(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    node.attribute(name).map(|a| a.ints.clone())
}

fn int_attr(node: &NodeProto, name: &str, default: i64) -> i64 {
    node.attribute(name).and_then(|a| a.i).unwrap_or(default)
}

fn float_attr(node: &NodeProto, name: &str, default: f32) -> f32 {
    node.attribute(name).and_then(|a| a.f).unwrap_or(default)
}

fn string_attr(node: &NodeProto, name: &str) -> Option<String> {
    node.attribute(name).and_then(|a| a.s.as_ref()).map(|s| String::from_utf8_lossy(s).into_owned())
}

/// Positive window numbers (kernel, strides, dilations) from an attribute.
fn window(node: &NodeProto, name: &str, values: Option<Vec<i64>>, rank: usize, default: usize) -> Result<Vec<usize>> {
    let v = values.unwrap_or_else(|| vec![default as i64; rank]);
    if v.len() != rank {
        return Err(unsupported(node, format!("{name} {v:?} for a {rank}-d window")));
    }
    v.iter().map(|&x| if (1..=65_536).contains(&x) { Ok(x as usize) } else { Err(unsupported(node, format!("{name} {v:?} out of range"))) }).collect()
}

impl Importer {
    fn konst(&self, name: &str) -> Option<&Const> {
        if name.is_empty() {
            None
        } else {
            self.consts.get(name)
        }
    }

    fn const_input(&self, node: &NodeProto, k: usize, what: &str) -> Result<Option<&Const>> {
        match node.inputs.get(k).filter(|n| !n.is_empty()) {
            None => Ok(None),
            Some(n) => {
                self.konst(n).map(Some).ok_or_else(|| unsupported(node, format!("the {what} ('{n}') must be a constant (an initializer), not computed")))
            }
        }
    }

    /// Adds a layer, fixing the network input shape at the first one.
    fn push(&mut self, node: &NodeProto, spec: LayerSpec, params: Vec<ImportedParam>, out_engine: Vec<usize>, out_dims: Vec<usize>) -> Result<()> {
        let values = out_engine.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if values.is_none_or(|v| v > MAX_SAMPLE_VALUES) {
            return Err(unsupported(node, format!("an output of {out_engine:?} values per sample is absurdly large (at most {MAX_SAMPLE_VALUES})")));
        }
        if self.input.is_none() {
            self.input = Some(self.engine.clone());
        }
        if self.flow.channels_last_of.is_some() && spec != LayerSpec::Flatten {
            return Err(unsupported(node, "a channels-last (transposed) tensor feeds it; only a flatten may follow such a transpose"));
        }
        self.layers.push(spec);
        self.params.push(params);
        self.engine = out_engine;
        self.flow.dims = out_dims;
        Ok(())
    }

    /// A data-preserving reinterpretation of the flowing value as `dims`.
    fn reinterpret(&mut self, node: &NodeProto, dims: Vec<usize>) -> Result<()> {
        let total: usize = self.flow.dims.iter().product();
        if dims.iter().product::<usize>() != total {
            return Err(unsupported(node, format!("reshapes {:?} to {dims:?}: a different number of values", self.flow.dims)));
        }
        if let Some(chw) = self.flow.channels_last_of {
            if dims.len() != 1 {
                return Err(unsupported(node, "a channels-last (transposed) tensor may only be flattened"));
            }
            self.flow.channels_last_of = None;
            self.push(node, LayerSpec::Flatten, vec![], vec![total], dims)?;
            self.permute_dense = Some(chw);
            return Ok(());
        }
        let engine = engine_shape(&dims)
            .ok_or_else(|| unsupported(node, format!("a {}-d per-sample shape {dims:?} (3-d convolutions and pools are not supported)", dims.len())))?;
        if self.input.is_none() {
            self.engine = engine;
            self.flow.dims = dims;
        } else if engine == self.engine {
            self.flow.dims = dims;
        } else if engine.len() == 1 {
            self.push(node, LayerSpec::Flatten, vec![], engine, dims)?;
        } else {
            return Err(unsupported(node, format!("reshapes {:?} to {dims:?} after a layer: digitnet can only flatten", self.flow.dims)));
        }
        Ok(())
    }

    /// The dimensions of a Reshape's target, per sample, resolving 0 and −1.
    fn reshape_target(&self, node: &NodeProto, shape: &[i64]) -> Result<Vec<usize>> {
        let total: usize = self.flow.dims.iter().product();
        let bad = || unsupported(node, format!("reshape of a [N, {:?}] tensor to {shape:?} (only reshapes that keep the batch are supported)", self.flow.dims));
        let (&first, rest) = shape.split_first().ok_or_else(bad)?;
        let batch_kept = first == 0 || first == BATCH || (first > 0 && Some(first as usize) == self.batch);
        let mut out: Vec<Option<usize>> = Vec::new();
        for (k, &d) in rest.iter().enumerate() {
            out.push(match d {
                0 => Some(*self.flow.dims.get(k).ok_or_else(bad)?),
                -1 => None,
                d if d > 0 => Some(d as usize),
                _ => return Err(bad()),
            });
        }
        let known: usize = out.iter().flatten().product();
        let unknown = out.iter().filter(|d| d.is_none()).count();
        if first == -1 {
            // The batch is inferred: the rest must be fully given and hold one sample.
            if unknown > 0 || known != total {
                return Err(bad());
            }
        } else if !batch_kept || unknown > 1 || known == 0 || !total.is_multiple_of(known) {
            return Err(bad());
        }
        Ok(out.into_iter().map(|d| d.unwrap_or(total / known.max(1))).collect())
    }

    fn conv(&mut self, node: &NodeProto) -> Result<()> {
        let (wdims, w) = self.const_input(node, 1, "weight")?.ok_or_else(|| unsupported(node, "no weight input"))?.floats("Conv weight")?;
        let (wdims, w) = (wdims.to_vec(), w.to_vec());
        let bias = match self.const_input(node, 2, "bias")? {
            Some(b) => Some(b.floats("Conv bias")?.1.to_vec()),
            None => None,
        };
        let group = int_attr(node, "group", 1);
        if group != 1 {
            return Err(unsupported(node, format!("grouped convolution (group {group}) is not supported")));
        }
        let rank = wdims.len().saturating_sub(2);
        if rank == 0 || rank > 2 || self.flow.dims.len() != rank + 1 {
            return Err(unsupported(node, format!("a {rank}-d convolution of a {:?} tensor (only 1-d and 2-d are supported)", self.flow.dims)));
        }
        let (oc, ic) = (wdims[0], wdims[1]);
        if ic != self.flow.dims[0] {
            return Err(unsupported(node, format!("weight {wdims:?} for {} input channels", self.flow.dims[0])));
        }
        let kernel = window(node, "kernel_shape", ints_attr(node, "kernel_shape").or(Some(wdims[2..].iter().map(|&d| d as i64).collect())), rank, 1)?;
        if kernel != wdims[2..] {
            return Err(unsupported(node, format!("kernel_shape {kernel:?} differs from the weight's {:?}", &wdims[2..])));
        }
        let strides = window(node, "strides", ints_attr(node, "strides"), rank, 1)?;
        let dilations = window(node, "dilations", ints_attr(node, "dilations"), rank, 1)?;
        let (kernel2, strides2, dil2) = (pair(&kernel), pair(&strides), pair(&dilations));
        let padding = self.padding(node, &kernel2, &strides2, &dil2, rank)?;
        let chw = [self.engine[0], self.engine[1], self.engine[2]];
        let geo = Geometry::new("Conv", chw, kernel2, strides2, dil2, padding).map_err(|e| unsupported(node, e))?;
        let mut params = vec![ImportedParam { name: "weight", shape: vec![oc, ic, kernel2[0], kernel2[1]], values: w }];
        if let Some(b) = &bias {
            if b.len() != oc {
                return Err(unsupported(node, format!("bias of {} values for {oc} output channels", b.len())));
            }
            params.push(ImportedParam { name: "bias", shape: vec![oc], values: b.clone() });
        }
        let spec = LayerSpec::Conv2d {
            out_channels: oc,
            kernel: Size2::Pair(kernel2),
            stride: Size2::Pair(strides2),
            padding,
            dilation: Size2::Pair(dil2),
            bias: bias.is_some(),
        };
        let out_dims = if rank == 1 { vec![oc, geo.out_h] } else { vec![oc, geo.out_h, geo.out_w] };
        self.push(node, spec, params, vec![oc, geo.out_h, geo.out_w], out_dims)
    }

    /// A convolution's padding: explicit `pads` or `auto_pad`, as digitnet's [`Padding`].
    fn padding(&self, node: &NodeProto, kernel: &[usize; 2], strides: &[usize; 2], dil: &[usize; 2], rank: usize) -> Result<Padding> {
        let chw = [self.engine[0], self.engine[1], self.engine[2]];
        let same = Geometry::new("Conv", chw, *kernel, *strides, *dil, Padding::Named(PaddingName::Same)).map_err(|e| unsupported(node, e))?;
        let auto = string_attr(node, "auto_pad").unwrap_or_else(|| "NOTSET".into());
        let (begin, end): ([usize; 2], [usize; 2]) = match auto.as_str() {
            "NOTSET" | "" => {
                let pads = ints_attr(node, "pads").unwrap_or_else(|| vec![0; 2 * rank]);
                if pads.len() != 2 * rank || pads.iter().any(|&p| !(0..=1024).contains(&p)) {
                    return Err(unsupported(node, format!("pads {pads:?}")));
                }
                let p: Vec<usize> = pads.iter().map(|&p| p as usize).collect();
                if rank == 1 {
                    ([p[0], 0], [p[1], 0])
                } else {
                    ([p[0], p[1]], [p[2], p[3]])
                }
            }
            "VALID" => ([0, 0], [0, 0]),
            "SAME_UPPER" => return Ok(Padding::Named(PaddingName::Same)),
            "SAME_LOWER" => {
                // The odd pixel at the beginning: digitnet's "same" puts it at the end, so
                // only an even total padding is the same thing.
                let t = [same.pad_top + same.pad_bottom, same.pad_left + same.pad_right];
                ([t[0] - t[0] / 2, t[1] - t[1] / 2], [t[0] / 2, t[1] / 2])
            }
            other => return Err(unsupported(node, format!("auto_pad '{other}'"))),
        };
        if begin == end {
            return Ok(Padding::HeightWidth(begin));
        }
        if [begin[0], begin[1], end[0], end[1]] == [same.pad_top, same.pad_left, same.pad_bottom, same.pad_right] {
            return Ok(Padding::Named(PaddingName::Same));
        }
        Err(unsupported(node, format!("asymmetric padding (begin {begin:?}, end {end:?}) other than \"same\" is not supported")))
    }

    fn pool(&mut self, node: &NodeProto, max: bool) -> Result<()> {
        let rank = self.flow.dims.len().saturating_sub(1);
        if rank == 0 || rank > 2 {
            return Err(unsupported(node, format!("pooling of a {:?} tensor (only 1-d and 2-d are supported)", self.flow.dims)));
        }
        if node.outputs.len() > 1 && !node.outputs[1].is_empty() {
            return Err(unsupported(node, "max-pool indices (a second output) are not supported"));
        }
        let kernel = window(node, "kernel_shape", ints_attr(node, "kernel_shape"), rank, 0)?;
        let strides = window(node, "strides", ints_attr(node, "strides"), rank, 1)?;
        let dilations = window(node, "dilations", ints_attr(node, "dilations"), rank, 1)?;
        if dilations.iter().any(|&d| d != 1) {
            return Err(unsupported(node, format!("dilated pooling (dilations {dilations:?}) is not supported")));
        }
        let (k2, s2) = (pair(&kernel), pair(&strides));
        let chw = [self.engine[0], self.engine[1], self.engine[2]];
        let pads = self.pool_pads(node, chw, k2, s2, rank)?;
        let include = !max && int_attr(node, "count_include_pad", 0) != 0;
        let kind = if max { PoolKind::Max } else { PoolKind::Average };
        // The layer itself checks the window (pads smaller than the kernel) and sizes the output.
        let layer = Pool2d::padded(kind, chw, k2, s2, pads, include).map_err(|e| unsupported(node, e))?;
        let [c, out_h, out_w] = [layer.output_shape()[0], layer.output_shape()[1], layer.output_shape()[2]];
        if int_attr(node, "ceil_mode", 0) != 0 {
            let exact = |i: usize, k: usize, s: usize| (i - k).is_multiple_of(s);
            if !(exact(chw[1] + pads[0] + pads[2], k2[0], s2[0]) && exact(chw[2] + pads[1] + pads[3], k2[1], s2[1])) {
                return Err(unsupported(node, "ceil_mode 1 where it rounds up (a partial last window) is not supported"));
            }
        }
        let (kernel, stride, padding) = (Size2::Pair(k2), Some(Size2::Pair(s2)), PoolPadding::from_sides(pads));
        let spec = if max {
            LayerSpec::MaxPool2d { kernel, stride, padding }
        } else {
            // Without padding the divisor is the window size either way.
            LayerSpec::AvgPool2d { kernel, stride, padding, count_include_pad: include && !padding.is_none() }
        };
        let out_dims = if rank == 1 { vec![c, out_h] } else { vec![c, out_h, out_w] };
        self.push(node, spec, vec![], vec![c, out_h, out_w], out_dims)
    }

    /// A pool's padding `[top, left, bottom, right]`: explicit `pads` or `auto_pad` (SAME_UPPER
    /// puts an odd pixel at the end, SAME_LOWER at the beginning).
    fn pool_pads(&self, node: &NodeProto, chw: [usize; 3], kernel: [usize; 2], strides: [usize; 2], rank: usize) -> Result<[usize; 4]> {
        let auto = string_attr(node, "auto_pad").unwrap_or_else(|| "NOTSET".into());
        match auto.as_str() {
            "NOTSET" | "" => {
                let pads = ints_attr(node, "pads").unwrap_or_else(|| vec![0; 2 * rank]);
                if pads.len() != 2 * rank || pads.iter().any(|&p| !(0..=1024).contains(&p)) {
                    return Err(unsupported(node, format!("pads {pads:?}")));
                }
                let p: Vec<usize> = pads.iter().map(|&p| p as usize).collect();
                Ok(if rank == 1 { [p[0], 0, p[1], 0] } else { [p[0], p[1], p[2], p[3]] })
            }
            "VALID" => Ok([0; 4]),
            "SAME_UPPER" | "SAME_LOWER" => {
                let g = Geometry::new("Pool", chw, kernel, strides, [1, 1], Padding::Named(PaddingName::Same)).map_err(|e| unsupported(node, e))?;
                Ok(if auto == "SAME_UPPER" { [g.pad_top, g.pad_left, g.pad_bottom, g.pad_right] } else { [g.pad_bottom, g.pad_right, g.pad_top, g.pad_left] })
            }
            other => Err(unsupported(node, format!("auto_pad '{other}'"))),
        }
    }

    fn batch_norm(&mut self, node: &NodeProto) -> Result<()> {
        if int_attr(node, "training_mode", 0) != 0 {
            return Err(unsupported(node, "training_mode 1 (batch statistics) is not supported; export the model in eval mode"));
        }
        if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
            return Err(unsupported(node, "running-statistics outputs (training mode) are not supported"));
        }
        if int_attr(node, "spatial", 1) != 1 {
            return Err(unsupported(node, "spatial 0 (per-pixel statistics) is not supported"));
        }
        let c = self.flow.dims.first().copied().unwrap_or(0);
        let mut tensors = Vec::new();
        for (k, what) in ["scale", "bias", "mean", "variance"].iter().enumerate() {
            let t = self.const_input(node, k + 1, what)?.ok_or_else(|| unsupported(node, format!("no {what} input")))?;
            let (_, v) = t.floats(what)?;
            if v.len() != c {
                return Err(unsupported(node, format!("{what} of {} values for {c} channels", v.len())));
            }
            tensors.push(v.to_vec());
        }
        let eps = float_attr(node, "epsilon", 1e-5);
        let own = crate::layers::batch_norm::EPS;
        if eps != own {
            // In inference y = γ(x − μ)/√(σ² + ε) + β = γ(x − μ)/√(σ'² + ε₀) + β with σ'² = σ² + ε − ε₀.
            for v in tensors[3].iter_mut() {
                *v = *v + eps - own;
                if *v < 0.0 {
                    return Err(unsupported(node, format!("epsilon {eps} below digitnet's {own} with a variance too small to absorb it")));
                }
            }
            self.notes.push(format!("{}: epsilon {eps} folded into the running variance (digitnet's batch norm uses {own})", node.describe()));
        }
        let names = ["weight", "bias", "running_mean", "running_var"];
        let params = names.iter().zip(tensors).map(|(&name, values)| ImportedParam { name, shape: vec![c], values }).collect();
        let (engine, dims) = (self.engine.clone(), self.flow.dims.clone());
        self.push(node, LayerSpec::BatchNorm, params, engine, dims)
    }

    /// A dense layer `y = x·Wᵀ + b` from `weight[out, in]`.
    fn dense(&mut self, node: &NodeProto, mut weight: Vec<f32>, out: usize, bias: Option<Vec<f32>>) -> Result<()> {
        let Some(&features) = self.flow.dims.first().filter(|_| self.flow.dims.len() == 1) else {
            return Err(unsupported(node, format!("a matrix product of a [N, {:?}] tensor (flatten it first)", self.flow.dims)));
        };
        if weight.len() != out * features {
            return Err(unsupported(node, format!("a weight of {} values for {features} → {out}", weight.len())));
        }
        if let Some([c, h, w]) = self.permute_dense.take() {
            // Columns in H, W, C order (a channels-last flatten) → C, H, W (digitnet's).
            let mut permuted = vec![0.0; weight.len()];
            for o in 0..out {
                for ch in 0..c {
                    for r in 0..h * w {
                        permuted[o * features + ch * h * w + r] = weight[o * features + r * c + ch];
                    }
                }
            }
            weight = permuted;
        }
        let mut params = vec![ImportedParam { name: "weight", shape: vec![out, features], values: weight }];
        let has_bias = bias.is_some();
        if let Some(b) = bias {
            params.push(ImportedParam { name: "bias", shape: vec![out], values: b });
        }
        if self.engine.len() != 1 {
            // A rank-2 input [N, F] is digitnet's [1, 1, F] before a Flatten.
            self.push(node, LayerSpec::Flatten, vec![], vec![features], vec![features])?;
        }
        self.push(node, LayerSpec::Dense { out_features: out, bias: has_bias }, params, vec![out], vec![out])
    }

    fn gemm(&mut self, node: &NodeProto) -> Result<()> {
        if int_attr(node, "transA", 0) != 0 {
            return Err(unsupported(node, "transA 1 is not supported"));
        }
        let (alpha, beta) = (float_attr(node, "alpha", 1.0), float_attr(node, "beta", 1.0));
        let (bdims, b) = self.const_input(node, 1, "B matrix")?.ok_or_else(|| unsupported(node, "no B input"))?.floats("Gemm B")?;
        if bdims.len() != 2 {
            return Err(unsupported(node, format!("B of shape {bdims:?}")));
        }
        let (bdims, b) = (bdims.to_vec(), b.to_vec());
        let trans_b = int_attr(node, "transB", 0) != 0;
        let (out, _) = if trans_b { (bdims[0], bdims[1]) } else { (bdims[1], bdims[0]) };
        let mut weight = if trans_b { b } else { transpose2(&b, bdims[0], bdims[1]) };
        weight.iter_mut().for_each(|v| *v *= alpha);
        let bias = match self.const_input(node, 2, "C (bias)")? {
            None => None,
            Some(c) => {
                let (_, cv) = c.floats("Gemm C")?;
                let full = match cv.len() {
                    1 => vec![cv[0]; out],
                    n if n == out => cv.to_vec(),
                    n => return Err(unsupported(node, format!("C of {n} values for {out} outputs (only a row vector broadcasts here)"))),
                };
                Some(full.into_iter().map(|v| v * beta).collect())
            }
        };
        self.dense(node, weight, out, bias)
    }

    fn matmul(&mut self, node: &NodeProto, bias: Option<Vec<f32>>) -> Result<()> {
        let (bdims, b) = self.const_input(node, 1, "weight matrix")?.ok_or_else(|| unsupported(node, "no second input"))?.floats("MatMul B")?;
        if bdims.len() != 2 {
            return Err(unsupported(node, format!("a batched matrix product with B of shape {bdims:?}")));
        }
        let (rows, cols) = (bdims[0], bdims[1]);
        let weight = transpose2(b, rows, cols);
        self.dense(node, weight, cols, bias)
    }

    fn activation(&mut self, node: &NodeProto, spec: LayerSpec) -> Result<()> {
        let (engine, dims) = (self.engine.clone(), self.flow.dims.clone());
        self.push(node, spec, vec![], engine, dims)
    }

    fn softmax(&mut self, node: &NodeProto) -> Result<()> {
        let rank = self.flow.dims.len() as i64 + 1;
        let default = if self.opset >= 13 { -1 } else { 1 };
        let mut axis = int_attr(node, "axis", default);
        if axis < 0 {
            axis += rank;
        }
        // digitnet's softmax runs over all of a sample's values: ONNX's before opset 13 with
        // axis 1 (the input is coerced to [N, rest]), or over the last axis of a [N, F] tensor.
        let whole_sample = axis == 1 && (self.opset < 13 || rank == 2);
        if !whole_sample {
            return Err(unsupported(node, format!("softmax over axis {axis} of a rank-{rank} tensor (only over each sample's values)")));
        }
        self.activation(node, LayerSpec::Softmax)
    }

    fn dropout(&mut self, node: &NodeProto) -> Result<()> {
        if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
            return Err(unsupported(node, "the dropout mask output is not supported"));
        }
        let mut rate = float_attr(node, "ratio", 0.5);
        if let Some(r) = self.const_input(node, 1, "ratio")? {
            rate = r.floats("Dropout ratio")?.1.first().copied().unwrap_or(0.5);
        }
        if let Some(t) = self.const_input(node, 2, "training_mode")? {
            if t.ints("training_mode").map(|v| v.iter().any(|&x| x != 0)).unwrap_or(true) {
                return Err(unsupported(node, "training_mode must be false"));
            }
        }
        if !(0.0..1.0).contains(&rate) {
            return Err(unsupported(node, format!("ratio {rate}")));
        }
        self.activation(node, LayerSpec::Dropout { rate })
    }

    /// `Sub`, `Div`, `Mul`, `Add` of a scalar: the input normalisation, before any layer.
    fn scalar_op(&mut self, node: &NodeProto, other: usize) -> Result<bool> {
        let Some(c) = self.konst(&node.inputs[other]) else { return Ok(false) };
        let Ok((_, v)) = c.floats("operand") else { return Ok(false) };
        if v.len() != 1 || self.input.is_some() || self.flow.channels_last_of.is_some() {
            return Ok(false);
        }
        let s = v[0];
        let (a, b) = self.affine;
        self.affine = match (node.op_type.as_str(), other) {
            ("Sub", 1) => (a, b - s),
            ("Add", _) => (a, b + s),
            ("Mul", _) => (a * s, b * s),
            ("Div", 1) if s != 0.0 => (a / s, b / s),
            _ => return Ok(false),
        };
        Ok(true)
    }

    /// `Mul` or `Add` of a per-channel constant after a layer (a Keras batch norm as tf2onnx
    /// writes it in inference): a BatchNorm layer with γ = scale, β = shift, running mean 0
    /// and running variance 1 − ε, so that x̂ = x exactly in inference. An `Add` right after
    /// such a layer joins its shift.
    fn channel_affine(&mut self, node: &NodeProto, other: usize) -> Result<bool> {
        let op = node.op_type.as_str();
        if self.input.is_none() || self.flow.channels_last_of.is_some() || !(op == "Mul" || op == "Add") {
            return Ok(false);
        }
        let Some(Const::Float(dims, v)) = self.konst(&node.inputs[other]).cloned() else { return Ok(false) };
        let c = self.flow.dims[0];
        // The constant must broadcast along the channel axis only: [C, 1, …] or [1, C, 1, …].
        let rank = self.flow.dims.len();
        let mut d = dims.clone();
        while d.len() > rank {
            if d[0] != 1 {
                return Ok(false);
            }
            d.remove(0);
        }
        let per_channel = v.len() == c && d.len() == rank && d[0] == c && d[1..].iter().all(|&x| x == 1);
        let values = if v.len() == 1 {
            vec![v[0]; c]
        } else if per_channel || (rank == 1 && v.len() == c) {
            v
        } else {
            return Ok(false);
        };
        let eps = crate::layers::batch_norm::EPS;
        let extends_previous = op == "Add" && self.layers.last() == Some(&LayerSpec::BatchNorm) && self.affine_bn.last() == Some(&(self.layers.len() - 1));
        if extends_previous {
            let bias = &mut self.params.last_mut().expect("a batch norm has parameters")[1].values;
            bias.iter_mut().zip(&values).for_each(|(b, s)| *b += s);
            return Ok(true);
        }
        let (gamma, beta) = if op == "Mul" { (values, vec![0.0; c]) } else { (vec![1.0; c], values) };
        let params = vec![
            ImportedParam { name: "weight", shape: vec![c], values: gamma },
            ImportedParam { name: "bias", shape: vec![c], values: beta },
            ImportedParam { name: "running_mean", shape: vec![c], values: vec![0.0; c] },
            ImportedParam { name: "running_var", shape: vec![c], values: vec![1.0 - eps; c] },
        ];
        let (engine, dims) = (self.engine.clone(), self.flow.dims.clone());
        self.push(node, LayerSpec::BatchNorm, params, engine, dims)?;
        self.affine_bn.push(self.layers.len() - 1);
        self.notes.push(format!(
            "{}: a per-channel {} imported as a batch norm (mean 0, variance 1 − ε: exact in inference; in training it normalises by batch statistics)",
            node.describe(),
            if op == "Mul" { "scale" } else { "shift" }
        ));
        Ok(true)
    }

    fn transpose(&mut self, node: &NodeProto) -> Result<()> {
        let rank = self.flow.dims.len() + 1;
        let perm = ints_attr(node, "perm").unwrap_or_else(|| (0..rank as i64).rev().collect());
        if perm.len() != rank || perm[0] != 0 || (0..rank as i64).any(|a| !perm.contains(&a)) {
            return Err(unsupported(node, format!("perm {perm:?} on a rank-{rank} tensor (the batch must stay first)")));
        }
        let full: Vec<usize> = std::iter::once(0).chain(self.flow.dims.iter().copied()).collect();
        let dims: Vec<usize> = perm[1..].iter().map(|&a| full[a as usize]).collect();
        // Data unchanged when the non-unit axes keep their order.
        let moved: Vec<i64> = perm[1..].iter().copied().filter(|&a| full[a as usize] != 1).collect();
        if moved.windows(2).all(|w| w[0] < w[1]) {
            return self.reinterpret(node, dims);
        }
        if perm == [0, 2, 3, 1] && self.flow.channels_last_of.is_none() {
            let [c, h, w] = [self.flow.dims[0], self.flow.dims[1], self.flow.dims[2]];
            self.flow.channels_last_of = Some([c, h, w]);
            self.flow.dims = dims;
            return Ok(());
        }
        Err(unsupported(node, format!("transpose {perm:?} of a [N, {:?}] tensor (only to channels-last before a flatten)", self.flow.dims)))
    }

    /// Applies one node of the chain to the flowing value; returns the value it produced,
    /// and a node it absorbed (the bias `Add` after a `MatMul`).
    fn apply(&mut self, node: &NodeProto, next: Option<&NodeProto>) -> Result<bool> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(unsupported(node, format!("operator domain '{}' is not supported", node.domain)));
        }
        match node.op_type.as_str() {
            "Conv" => self.conv(node)?,
            "MaxPool" => self.pool(node, true)?,
            "AveragePool" => self.pool(node, false)?,
            "BatchNormalization" => self.batch_norm(node)?,
            "Gemm" => self.gemm(node)?,
            "MatMul" => {
                // A bias Add right after it joins the dense layer.
                let out = &node.outputs[0];
                let bias = next.filter(|n| n.op_type == "Add" && n.inputs.len() == 2).and_then(|n| {
                    let other = if &n.inputs[0] == out { &n.inputs[1] } else { &n.inputs[0] };
                    match self.konst(other) {
                        Some(Const::Float(d, v)) if d.len() <= 2 && d.iter().rev().skip(1).all(|&x| x == 1) => Some(v.clone()),
                        _ => None,
                    }
                });
                let absorbed = bias.is_some();
                self.matmul(node, bias)?;
                return Ok(absorbed);
            }
            "Relu" => self.activation(node, LayerSpec::Relu)?,
            "LeakyRelu" => self.activation(node, LayerSpec::LeakyRelu { slope: float_attr(node, "alpha", 0.01) })?,
            "Sigmoid" => self.activation(node, LayerSpec::Sigmoid)?,
            "Tanh" => self.activation(node, LayerSpec::Tanh)?,
            "Softmax" => self.softmax(node)?,
            "Dropout" => self.dropout(node)?,
            "Identity" => self.activation(node, LayerSpec::Identity)?,
            "Flatten" => {
                let axis = int_attr(node, "axis", 1);
                if axis != 1 && axis != -(self.flow.dims.len() as i64 + 1) + 1 {
                    return Err(unsupported(node, format!("flatten at axis {axis} (only axis 1)")));
                }
                let total = self.flow.dims.iter().product();
                self.reinterpret(node, vec![total])?;
            }
            "Reshape" => {
                let shape = self.const_input(node, 1, "shape")?.map(|c| c.ints("Reshape shape").map(<[i64]>::to_vec)).transpose()?;
                let shape = shape.or_else(|| ints_attr(node, "shape")).ok_or_else(|| unsupported(node, "no target shape"))?;
                let dims = self.reshape_target(node, &shape)?;
                self.reinterpret(node, dims)?;
            }
            "Unsqueeze" | "Squeeze" => {
                let axes = match self.const_input(node, 1, "axes")? {
                    Some(c) => Some(c.ints("axes")?.to_vec()),
                    None => ints_attr(node, "axes"),
                };
                let dims = self.squeeze_dims(node, axes)?;
                self.reinterpret(node, dims)?;
            }
            "Transpose" => self.transpose(node)?,
            "Sub" | "Div" | "Mul" | "Add" if node.inputs.len() == 2 => {
                let other = if self.is_flow_input(node, 0) { 1 } else { 0 };
                if !self.scalar_op(node, other)? && !self.channel_affine(node, other)? {
                    return Err(unsupported(
                        node,
                        "element-wise arithmetic is supported only as a scalar normalisation of the input before any layer, or a per-channel scale (Mul) and shift (Add) after one",
                    ));
                }
            }
            other => return Err(unsupported(node, format!("op type '{other}' is not supported"))),
        }
        Ok(false)
    }

    fn is_flow_input(&self, node: &NodeProto, k: usize) -> bool {
        !self.consts.contains_key(&node.inputs[k])
    }

    fn squeeze_dims(&self, node: &NodeProto, axes: Option<Vec<i64>>) -> Result<Vec<usize>> {
        let unsqueeze = node.op_type == "Unsqueeze";
        let mut full: Vec<usize> = std::iter::once(0).chain(self.flow.dims.iter().copied()).collect();
        match axes {
            Some(mut axes) => {
                let r = if unsqueeze { full.len() + axes.len() } else { full.len() } as i64;
                axes.iter_mut().for_each(|a| *a = if *a < 0 { *a + r } else { *a });
                axes.sort_unstable();
                if axes.iter().any(|&a| a <= 0 || a >= r) || axes.windows(2).any(|w| w[0] == w[1]) {
                    return Err(unsupported(node, format!("axes {axes:?} touch the batch or are out of range")));
                }
                for &a in &axes {
                    if unsqueeze {
                        if a as usize > full.len() {
                            return Err(unsupported(node, format!("axes {axes:?} out of range")));
                        }
                        full.insert(a as usize, 1);
                    } else if full[a as usize] == 1 {
                        full[a as usize] = usize::MAX;
                    } else {
                        return Err(unsupported(node, format!("squeezes axis {a}, which is not of size 1")));
                    }
                }
                full.retain(|&d| d != usize::MAX);
            }
            None if !unsqueeze => full.retain(|&d| d != 1),
            None => return Err(unsupported(node, "no axes")),
        }
        Ok(full.get(1..).unwrap_or_default().to_vec())
    }

    /// Folds a node whose inputs are all constants.
    fn fold(&mut self, node: &NodeProto) -> Result<()> {
        let input = |k: usize| node.inputs.get(k).and_then(|n| self.konst(n)).cloned();
        let ints = |k: usize| match input(k) {
            Some(Const::Int(d, v)) => Some((d, v)),
            _ => None,
        };
        let value = match node.op_type.as_str() {
            "Identity" => input(0),
            "Transpose" => match input(0) {
                Some(Const::Float(d, v)) if d.len() == 2 => {
                    let perm = ints_attr(node, "perm").unwrap_or_else(|| vec![1, 0]);
                    if perm == [1, 0] {
                        Some(Const::Float(vec![d[1], d[0]], transpose2(&v, d[0], d[1])))
                    } else {
                        Some(Const::Float(d, v))
                    }
                }
                _ => None,
            },
            // Shape arithmetic on 1-d integer tensors (a flatten's target computed from Shape).
            "Cast" => match (input(0), int_attr(node, "to", 0)) {
                (Some(Const::Int(d, v)), 6 | 7) => Some(Const::Int(d, v)),
                (Some(Const::Float(d, v)), 1) => Some(Const::Float(d, v)),
                _ => None,
            },
            "Gather" => match (ints(0), ints(1)) {
                (Some((d, v)), Some((id, idx))) if d.len() == 1 && id.len() <= 1 && int_attr(node, "axis", 0) == 0 => {
                    let picked: Option<Vec<i64>> =
                        idx.iter().map(|&i| v.get(if i < 0 { (i + v.len() as i64) as usize } else { i as usize }).copied()).collect();
                    picked.map(|p| Const::Int(id.clone(), p))
                }
                _ => None,
            },
            "Concat" if int_attr(node, "axis", 0) == 0 => {
                let parts: Option<Vec<Vec<i64>>> = (0..node.inputs.len()).map(|k| ints(k).filter(|(d, _)| d.len() == 1).map(|(_, v)| v)).collect();
                parts.map(|p| {
                    let v: Vec<i64> = p.concat();
                    Const::Int(vec![v.len()], v)
                })
            }
            "Slice" => match (ints(0), ints(1), ints(2)) {
                (Some((d, v)), Some((_, starts)), Some((_, ends))) if d.len() == 1 && starts.len() == 1 && ends.len() == 1 => {
                    let steps_ok = ints(4).is_none_or(|(_, s)| s == [1]);
                    let axes_ok = ints(3).is_none_or(|(_, a)| a == [0] || a == [-1]);
                    let n = v.len() as i64;
                    let clamp = |i: i64| if i < 0 { (i + n).clamp(0, n) } else { i.min(n) } as usize;
                    let (a, b) = (clamp(starts[0]), clamp(ends[0]));
                    (steps_ok && axes_ok && a <= b).then(|| Const::Int(vec![b - a], v[a..b].to_vec()))
                }
                _ => None,
            },
            "Unsqueeze" | "Squeeze" | "Reshape" => match input(0) {
                Some(Const::Int(d, v)) if d.len() <= 1 => Some(Const::Int(vec![v.len()], v)),
                _ => None,
            },
            _ => None,
        };
        let Some(value) = value else {
            return Err(unsupported(node, "a computation on constants that digitnet cannot fold"));
        };
        self.consts.insert(node.outputs[0].clone(), value);
        Ok(())
    }
}

/// Folds every node whose inputs are all constants, until none is left (in any order).
fn fold_ready(imp: &mut Importer, graph: &GraphProto, done: &mut [bool], produced: &mut HashSet<String>) -> Result<()> {
    let mut progress = true;
    while progress {
        progress = false;
        for (k, node) in graph.nodes.iter().enumerate() {
            let ready = node.inputs.iter().all(|i| i.is_empty() || imp.consts.contains_key(i));
            if !done[k] && ready && !node.inputs.is_empty() {
                imp.fold(node)?;
                done[k] = true;
                progress = true;
                for o in &node.outputs {
                    produced.insert(o.clone());
                }
            }
        }
    }
    Ok(())
}

fn pair(v: &[usize]) -> [usize; 2] {
    if v.len() == 1 {
        [v[0], 1]
    } else {
        [v[0], v[1]]
    }
}

fn transpose2(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

/// Options for [`import_graph`].
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Constant values for graph inputs (ONNX's node test cases pass weights as inputs).
    pub bind: Vec<(String, Const)>,
    /// The data input's shape, when the graph does not give it (`[N, …]`).
    pub input_shape: Option<Vec<usize>>,
    /// Drop a final Softmax of a classifier (digitnet classifiers output logits).
    pub drop_final_softmax: bool,
}

/// Most values one sample may have at any layer (a 28×28 CNN has at most ~10⁵): a file
/// claiming more is refused before anything of that size is allocated.
const MAX_SAMPLE_VALUES: usize = 1 << 26;

/// Most nodes a graph may have here (a CNN has dozens).
const MAX_NODES: usize = 10_000;

/// Turns a decoded ONNX model into an architecture and its weights.
pub fn import_graph(model: &ModelProto, options: &ImportOptions) -> Result<Imported> {
    let graph: &GraphProto = model.graph.as_ref().ok_or_else(|| Error::config("the ONNX model has no graph"))?;
    if graph.nodes.len() > MAX_NODES {
        return Err(Error::config(format!("the graph has {} nodes (at most {MAX_NODES})", graph.nodes.len())));
    }
    if graph.sparse_initializers > 0 {
        return Err(Error::config("sparse initializers are not supported"));
    }
    let mut consts = HashMap::new();
    for t in &graph.initializers {
        if t.name.is_empty() {
            return Err(Error::config("an initializer without a name"));
        }
        consts.insert(t.name.clone(), Const::from_tensor(t)?);
    }
    for (name, value) in &options.bind {
        consts.insert(name.clone(), value.clone());
    }
    for node in &graph.nodes {
        if node.op_type == "Constant" && (node.domain.is_empty() || node.domain == "ai.onnx") {
            let value = node.attribute("value").and_then(|a| a.t.as_ref());
            let c = if let Some(t) = value {
                Const::from_tensor(t)?
            } else if let Some(f) = node.attribute("value_float").and_then(|a| a.f) {
                Const::Float(vec![], vec![f])
            } else if let Some(a) = node.attribute("value_floats") {
                Const::Float(vec![a.floats.len()], a.floats.clone())
            } else if let Some(i) = node.attribute("value_int").and_then(|a| a.i) {
                Const::Int(vec![], vec![i])
            } else if let Some(a) = node.attribute("value_ints") {
                Const::Int(vec![a.ints.len()], a.ints.clone())
            } else {
                return Err(unsupported(node, "a Constant without a value digitnet reads"));
            };
            let out = node.outputs.first().ok_or_else(|| unsupported(node, "no output"))?;
            consts.insert(out.clone(), c);
        }
    }
    // The data input: the one graph input that is not a constant.
    let data_inputs: Vec<_> = graph.inputs.iter().filter(|i| !consts.contains_key(&i.name)).collect();
    let [input] = data_inputs.as_slice() else {
        let names: Vec<&str> = data_inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(Error::config(format!("a sequential network has one data input; this graph has {} ({names:?})", names.len())));
    };
    let dims: Vec<Option<usize>> = match &options.input_shape {
        Some(s) => s.iter().map(|&d| Some(d)).collect(),
        None => input
            .dims
            .as_ref()
            .ok_or_else(|| Error::config(format!("input '{}' has no shape", input.name)))?
            .iter()
            .map(|d| d.and_then(|v| usize::try_from(v).ok()))
            .collect(),
    };
    if dims.len() < 2 {
        return Err(Error::config(format!("input '{}' has rank {}: digitnet needs [N, …], the batch first and a sample after it", input.name, dims.len())));
    }
    if input.elem_type != 0 && input.elem_type != super::proto::FLOAT {
        return Err(Error::config(format!("input '{}' is of type {}, expected float", input.name, super::proto::type_name(input.elem_type))));
    }
    let per_sample: Option<Vec<usize>> = dims.iter().skip(1).copied().collect();
    let per_sample = per_sample.filter(|d| !d.is_empty() && d.iter().all(|&x| (1..=1 << 24).contains(&x))).ok_or_else(|| {
        Error::config(format!("input '{}' has dimensions {dims:?}: every dimension after the batch must be a known positive size", input.name))
    })?;
    if per_sample.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none_or(|n| n > MAX_SAMPLE_VALUES) {
        return Err(Error::config(format!("input '{}' of {per_sample:?} values per sample is absurdly large", input.name)));
    }
    let [output] = graph.outputs.as_slice() else {
        return Err(Error::config(format!("a sequential network has one output; this graph has {}", graph.outputs.len())));
    };
    let engine = engine_shape(&per_sample).ok_or_else(|| {
        Error::config(format!("input '{}' has {} dimensions per sample; 1 to 3 are supported (3-d convolutions are not)", input.name, per_sample.len()))
    })?;
    let mut imp = Importer {
        consts,
        opset: model.default_opset(),
        layers: Vec::new(),
        params: Vec::new(),
        engine,
        input: None,
        flow: Flow { dims: per_sample, channels_last_of: None },
        affine: (1.0, 0.0),
        permute_dense: None,
        batch: dims[0],
        notes: Vec::new(),
        affine_bn: Vec::new(),
    };

    // Which nodes consume each value; a topological walk that also rejects cycles.
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (k, node) in graph.nodes.iter().enumerate() {
        for i in node.inputs.iter().filter(|i| !i.is_empty()) {
            consumers.entry(i.as_str()).or_default().push(k);
        }
    }
    let mut produced: HashSet<String> = imp.consts.keys().cloned().collect();
    produced.insert(input.name.clone());
    let mut done = vec![false; graph.nodes.len()];
    for (k, node) in graph.nodes.iter().enumerate() {
        if node.op_type == "Constant" {
            done[k] = true;
            for o in &node.outputs {
                produced.insert(o.clone());
            }
        }
    }
    fold_ready(&mut imp, graph, &mut done, &mut produced)?;
    let mut current = input.name.clone();
    let mut steps = 0;
    loop {
        steps += 1;
        if steps > graph.nodes.len() + 1 {
            return Err(Error::config("the graph has a cycle"));
        }
        if current == output.name {
            break;
        }
        let mut users: Vec<usize> = consumers.get(current.as_str()).map(|u| u.iter().copied().filter(|&k| !done[k]).collect()).unwrap_or_default();
        // `Shape` of the flowing value (a flatten's target computed at run time): its value
        // is known here, the batch size as [`BATCH`]; what is computed from it folds.
        let shapes: Vec<usize> = users.iter().copied().filter(|&k| graph.nodes[k].op_type == "Shape").collect();
        if !shapes.is_empty() {
            for &k in &shapes {
                let node = &graph.nodes[k];
                let full: Vec<i64> = std::iter::once(BATCH).chain(imp.flow.dims.iter().map(|&d| d as i64)).collect();
                let r = full.len() as i64;
                let clamp = |i: i64| if i < 0 { (i + r).clamp(0, r) } else { i.min(r) } as usize;
                let (a, b) = (clamp(int_attr(node, "start", 0)), clamp(int_attr(node, "end", r)));
                let v = full[a..b.max(a)].to_vec();
                let out = node.outputs.first().ok_or_else(|| unsupported(node, "no output"))?;
                imp.consts.insert(out.clone(), Const::Int(vec![v.len()], v));
                produced.insert(out.clone());
                done[k] = true;
            }
            fold_ready(&mut imp, graph, &mut done, &mut produced)?;
            users.retain(|k| !done[*k]);
        }
        let k = match users.as_slice() {
            [k] => *k,
            [] => return Err(Error::config(format!("value '{current}' feeds no node, but it is not the graph output '{}'", output.name))),
            many => {
                let names: Vec<String> = many.iter().map(|&k| graph.nodes[k].describe()).collect();
                return Err(Error::config(format!("not a sequential network: value '{current}' feeds {} nodes ({})", many.len(), names.join(", "))));
            }
        };
        let node = &graph.nodes[k];
        for i in node.inputs.iter().filter(|i| !i.is_empty() && **i != current) {
            if !produced.contains(i) {
                return Err(unsupported(node, format!("input '{i}' is neither a constant nor produced before it (a cycle, or a second data path)")));
            }
        }
        let out = node.outputs.first().filter(|o| !o.is_empty()).ok_or_else(|| unsupported(node, "no output"))?.clone();
        let next_users = consumers.get(out.as_str()).map(|u| u.iter().copied().filter(|&j| !done[j] && j != k).collect::<Vec<_>>()).unwrap_or_default();
        let next = if next_users.len() == 1 { Some(&graph.nodes[next_users[0]]) } else { None };
        let absorbed_next = imp.apply(node, next)?;
        done[k] = true;
        produced.insert(out.clone());
        current = out;
        if absorbed_next {
            let j = next_users[0];
            done[j] = true;
            current = graph.nodes[j].outputs.first().cloned().unwrap_or_default();
            produced.insert(current.clone());
        }
    }
    if let Some(k) = (0..graph.nodes.len()).find(|&k| !done[k]) {
        return Err(Error::config(format!("{} is not on the path from the input to the output (not a sequential network)", graph.nodes[k].describe())));
    }
    if imp.flow.channels_last_of.is_some() {
        return Err(Error::config("the graph ends in a channels-last transpose, which digitnet does not compute"));
    }
    if imp.layers.is_empty() {
        // A graph of reinterpretations only: an identity network.
        imp.input = Some(imp.engine.clone());
        imp.layers.push(LayerSpec::Identity);
        imp.params.push(Vec::new());
    }
    let output_dims = imp.flow.dims.clone();
    if imp.engine.len() != 1 {
        let total = imp.engine.iter().product();
        imp.layers.push(LayerSpec::Flatten);
        imp.params.push(Vec::new());
        imp.engine = vec![total];
    }
    let outputs = imp.engine[0];
    if options.drop_final_softmax && outputs >= 2 && imp.layers.last() == Some(&LayerSpec::Softmax) {
        imp.layers.pop();
        imp.params.pop();
        imp.notes.push("the final Softmax was dropped: digitnet classifiers output logits, and their softmax gives the same probabilities".into());
    }
    let input_engine = imp.input.clone().unwrap_or_else(|| imp.engine.clone());
    let (input3, mut layers, mut params) = match *input_engine.as_slice() {
        [c, h, w] => ([c, h, w], imp.layers, imp.params),
        [f] => {
            // A flat input: digitnet's [1, 1, F] and a Flatten first (unless one is there).
            let (mut l, mut p) = (imp.layers, imp.params);
            if l.first() != Some(&LayerSpec::Flatten) {
                l.insert(0, LayerSpec::Flatten);
                p.insert(0, Vec::new());
            }
            ([1, 1, f], l, p)
        }
        _ => return Err(Error::config(format!("input shape {input_engine:?}"))),
    };
    if layers.is_empty() {
        layers.push(LayerSpec::Identity);
        params.push(Vec::new());
    }
    let (a, b) = imp.affine;
    if !(a.is_finite() && b.is_finite() && a > 0.0) {
        return Err(Error::config(format!("the input arithmetic x·{a} + {b} is not a normalisation digitnet can express (it needs a positive scale)")));
    }
    let normalization = Normalization { mean: -b / a, std: 1.0 / a };
    let classification = outputs >= 2;
    let arch = Architecture {
        name: if graph.name.is_empty() { "onnx".into() } else { graph.name.clone() },
        input: input3,
        classes: if classification { (0..outputs).map(|c| c.to_string()).collect() } else { Vec::new() },
        task: if classification { Task::Classification } else { Task::Regression },
        normalization,
        init: Init::default(),
        layers,
        rotation_input: RotationInput::Raw,
        input_pipeline: None,
    };
    Ok(Imported { arch, params, output_dims, notes: imp.notes })
}

#[cfg(test)]
mod tests {
    use super::super::proto::{AttributeProto, ValueInfoProto, FLOAT};
    use super::*;
    use crate::layers::Mode;
    use crate::tensor::Tensor;

    /// A graph from `(op, inputs, output, attributes)` rows, its weights, an input and an
    /// output, run through encode → decode → import.
    struct G {
        nodes: Vec<NodeProto<'static>>,
        inits: Vec<TensorProto<'static>>,
        input: Vec<Option<i64>>,
        extra_inputs: Vec<String>,
    }

    impl G {
        fn new(input: &[i64]) -> G {
            G { nodes: Vec::new(), inits: Vec::new(), input: input.iter().map(|&d| if d < 0 { None } else { Some(d) }).collect(), extra_inputs: Vec::new() }
        }
        fn node(mut self, op: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto<'static>>) -> G {
            self.nodes.push(NodeProto {
                name: String::new(),
                op_type: op.into(),
                domain: String::new(),
                inputs: inputs.iter().map(|s| s.to_string()).collect(),
                outputs: vec![output.into()],
                attributes,
            });
            self
        }
        fn weight(mut self, name: &str, dims: &[usize], values: Vec<f32>) -> G {
            let leaked: &'static [f32] = Box::leak(values.into_boxed_slice());
            self.inits.push(TensorProto::from_floats(name, dims, leaked));
            self
        }
        fn ints(mut self, name: &str, values: &[i64]) -> G {
            self.inits.push(TensorProto::from_ints(name, &[values.len()], values));
            self
        }
        fn bytes(&self, opset: i64) -> Vec<u8> {
            let mut inputs = vec![ValueInfoProto { name: "x".into(), elem_type: FLOAT, dims: Some(self.input.clone()), dim_params: vec![] }];
            inputs.extend(self.extra_inputs.iter().map(|n| ValueInfoProto { name: n.clone(), elem_type: FLOAT, dims: None, dim_params: vec![] }));
            ModelProto {
                ir_version: 8,
                opset_import: vec![(String::new(), opset)],
                graph: Some(GraphProto {
                    name: "g".into(),
                    nodes: self.nodes.clone(),
                    initializers: self.inits.clone(),
                    inputs,
                    outputs: vec![ValueInfoProto { name: "y".into(), elem_type: FLOAT, dims: None, dim_params: vec![] }],
                    sparse_initializers: 0,
                }),
                ..Default::default()
            }
            .encode()
        }
        fn import(&self, opset: i64) -> Result<Imported> {
            let bytes = self.bytes(opset);
            import_graph(&ModelProto::decode(&bytes)?, &ImportOptions { drop_final_softmax: true, ..Default::default() })
        }
    }

    fn ramp(n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) * scale).collect()
    }

    fn run(imported: &Imported, x: &Tensor) -> Vec<f32> {
        imported.build().unwrap().forward(x, Mode::Eval).unwrap().data.clone()
    }

    /// `MatMul` + `Add` (a bias), `Gemm` with transB 0 and α, β, and PyTorch's
    /// `Transpose(weight)` before `MatMul` (folded), all give y = x·Wᵀ + b.
    #[test]
    fn matmul_add_gemm_and_folded_transpose_are_dense_layers() {
        let w_in_out = ramp(6 * 3, 0.1); // [in 6, out 3]
        let x = Tensor::random(&[2, 1, 1, 6], 1);
        let want: Vec<f32> = (0..2)
            .flat_map(|n| {
                let w = &w_in_out;
                let xs = x.sample(n).to_vec();
                (0..3).map(move |o| (0..6).map(|i| xs[i] * w[i * 3 + o]).sum::<f32>() * 2.0 + 0.5 * [1.0, -1.0, 0.25][o]).collect::<Vec<f32>>()
            })
            .collect();
        let matmul = G::new(&[-1, 6])
            .weight("W", &[6, 3], w_in_out.iter().map(|v| v * 2.0).collect())
            .weight("b", &[3], vec![0.5, -0.5, 0.125])
            .node("MatMul", &["x", "W"], "h", vec![])
            .node("Add", &["h", "b"], "y", vec![]);
        let gemm = G::new(&[-1, 6]).weight("W", &[6, 3], w_in_out.clone()).weight("b", &[3], vec![1.0, -1.0, 0.25]).node(
            "Gemm",
            &["x", "W", "b"],
            "y",
            vec![AttributeProto::float("alpha", 2.0), AttributeProto::float("beta", 0.5)],
        );
        let w_out_in = transpose2(&w_in_out, 6, 3);
        let torch = G::new(&[-1, 6])
            .weight("Wt", &[3, 6], w_out_in.iter().map(|v| v * 2.0).collect())
            .weight("b", &[3], vec![0.5, -0.5, 0.125])
            .node("Transpose", &["Wt"], "W", vec![AttributeProto::ints("perm", &[1, 0])])
            .node("MatMul", &["x", "W"], "h", vec![])
            .node("Add", &["b", "h"], "y", vec![]);
        for g in [matmul, gemm, torch] {
            let imp = g.import(13).unwrap();
            assert_eq!(imp.arch.input, [1, 1, 6]);
            assert!(matches!(imp.arch.layers[..], [LayerSpec::Flatten, LayerSpec::Dense { out_features: 3, bias: true }]), "{:?}", imp.arch.layers);
            for (a, b) in run(&imp, &x).iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    /// The tf2onnx shape of a Keras CNN: NHWC input transposed to NCHW (no data movement for
    /// one channel), a convolution, a transpose back to channels-last and a reshape to
    /// [N, −1] before the dense layer. digitnet reads it as Conv → Flatten → Dense with the
    /// dense columns reordered from H, W, C to C, H, W; checked against the NHWC arithmetic.
    #[test]
    fn keras_channels_last_flatten_reorders_dense_columns() {
        let (c, h, w, k) = (2, 3, 3, 4);
        let conv_w = ramp(c * 9, 0.2);
        let dense_w = ramp(c * h * w * k, 0.05); // [K, H·W·C] after transB
        let g = G::new(&[-1, 3, 3, 1])
            .weight("cw", &[c, 1, 3, 3], conv_w.clone())
            .weight("dw", &[k, h * w * c], dense_w.clone())
            .ints("shape", &[-1, (c * h * w) as i64])
            .node("Transpose", &["x"], "t", vec![AttributeProto::ints("perm", &[0, 3, 1, 2])])
            .node("Conv", &["t", "cw"], "c", vec![AttributeProto::ints("pads", &[1, 1, 1, 1])])
            .node("Transpose", &["c"], "back", vec![AttributeProto::ints("perm", &[0, 2, 3, 1])])
            .node("Reshape", &["back", "shape"], "f", vec![])
            .node("Gemm", &["f", "dw"], "y", vec![AttributeProto::int("transB", 1)]);
        let imp = g.import(13).unwrap();
        assert_eq!(imp.arch.input, [1, 3, 3]);
        let x = Tensor::random(&[1, 1, 3, 3], 4);
        // The NHWC arithmetic by hand: conv output o[ch, i, j], flattened as (i, j, ch).
        let px = |i: isize, j: isize| if (0..3).contains(&i) && (0..3).contains(&j) { x.data[(i * 3 + j) as usize] } else { 0.0 };
        let mut hwc = vec![0.0f32; c * h * w];
        for ch in 0..c {
            for i in 0..3 {
                for j in 0..3 {
                    let mut s = 0.0;
                    for ki in 0..3 {
                        for kj in 0..3 {
                            s += conv_w[ch * 9 + ki * 3 + kj] * px(i as isize + ki as isize - 1, j as isize + kj as isize - 1);
                        }
                    }
                    hwc[(i * 3 + j) * c + ch] = s;
                }
            }
        }
        let want: Vec<f32> = (0..k).map(|o| (0..c * h * w).map(|f| dense_w[o * c * h * w + f] * hwc[f]).sum()).collect();
        for (a, b) in run(&imp, &x).iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    /// auto_pad SAME_UPPER is "same"; explicit asymmetric pads equal to "same" too; other
    /// asymmetric conv pads and groups are errors naming the node. Pools pad (explicitly or
    /// by auto_pad, asymmetrically too), but not by as much as the kernel.
    #[test]
    fn padding_variants_and_clear_refusals() {
        let conv = |attrs: Vec<AttributeProto<'static>>| {
            G::new(&[1, 1, 6, 6]).weight("w", &[2, 1, 3, 3], ramp(18, 0.1)).node("Conv", &["x", "w"], "c", attrs).node("Flatten", &["c"], "y", vec![])
        };
        let same = conv(vec![
            AttributeProto { name: "auto_pad".into(), s: Some(b"SAME_UPPER".to_vec()), ..Default::default() },
            AttributeProto::ints("strides", &[2, 2]),
        ]);
        let imp = same.import(13).unwrap();
        assert!(matches!(imp.arch.layers[0], LayerSpec::Conv2d { padding: Padding::Named(PaddingName::Same), .. }));
        // Stride 2 on 6: "same" pads 0 above and 1 below.
        let explicit = conv(vec![AttributeProto::ints("pads", &[0, 0, 1, 1]), AttributeProto::ints("strides", &[2, 2])]);
        assert!(matches!(explicit.import(13).unwrap().arch.layers[0], LayerSpec::Conv2d { padding: Padding::Named(PaddingName::Same), .. }));
        let odd = conv(vec![AttributeProto::ints("pads", &[2, 0, 0, 1])]);
        assert!(odd.import(13).unwrap_err().to_string().contains("asymmetric"));
        let grouped = G::new(&[1, 2, 6, 6]).weight("w", &[2, 1, 3, 3], ramp(18, 0.1)).node("Conv", &["x", "w"], "y", vec![AttributeProto::int("group", 2)]);
        let e = grouped.import(13).unwrap_err().to_string();
        assert!(e.contains("(Conv)") && e.contains("group 2"), "{e}");
        let pool = G::new(&[1, 1, 6, 6]).node(
            "MaxPool",
            &["x"],
            "y",
            vec![AttributeProto::ints("kernel_shape", &[3, 3]), AttributeProto::ints("pads", &[1, 1, 1, 1])],
        );
        let imp = pool.import(13).unwrap();
        assert_eq!(
            imp.arch.layers[0],
            LayerSpec::MaxPool2d { kernel: Size2::Pair([3, 3]), stride: Some(Size2::Pair([1, 1])), padding: PoolPadding::Uniform(1) }
        );
        // SAME_LOWER on 5 with 2×2/2: output 3, one padded row and column, at the beginning;
        // count_include_pad is kept.
        let lower = G::new(&[1, 1, 5, 5]).node(
            "AveragePool",
            &["x"],
            "y",
            vec![
                AttributeProto::ints("kernel_shape", &[2, 2]),
                AttributeProto::ints("strides", &[2, 2]),
                AttributeProto { name: "auto_pad".into(), s: Some(b"SAME_LOWER".to_vec()), ..Default::default() },
                AttributeProto::int("count_include_pad", 1),
            ],
        );
        let imp = lower.import(13).unwrap();
        assert_eq!(
            imp.arch.layers[0],
            LayerSpec::AvgPool2d {
                kernel: Size2::Pair([2, 2]),
                stride: Some(Size2::Pair([2, 2])),
                padding: PoolPadding::Sides([1, 1, 0, 0]),
                count_include_pad: true
            }
        );
        let x = Tensor::from_vec(&[1, 1, 5, 5], ramp(25, 1.0)).unwrap();
        assert_eq!(run(&imp, &x)[..2], [ramp(25, 1.0)[0] / 4.0, (ramp(25, 1.0)[1] + ramp(25, 1.0)[2]) / 4.0]);
        let wide = G::new(&[1, 1, 6, 6]).node(
            "MaxPool",
            &["x"],
            "y",
            vec![AttributeProto::ints("kernel_shape", &[2, 2]), AttributeProto::ints("pads", &[0, 2, 0, 0])],
        );
        let e = wide.import(13).unwrap_err().to_string();
        assert!(e.contains("(MaxPool)") && e.contains("smaller than the 2×2 kernel"), "{e}");
        let unknown = G::new(&[1, 4]).node("Elu", &["x"], "y", vec![]);
        let e = unknown.import(13).unwrap_err().to_string();
        assert!(e.contains("node 'y' (Elu)") && e.contains("not supported"), "{e}");
    }

    /// Batch norm with Keras' ε = 1e-3 is folded exactly (inference); a final softmax of a
    /// classifier is dropped (logits out); scalar Sub/Div at the input become the normalisation.
    #[test]
    fn batch_norm_epsilon_softmax_and_input_normalisation() {
        let g = G::new(&[-1, 1, 2, 2])
            .weight("m", &[], vec![0.5])
            .weight("s", &[], vec![0.25])
            .weight("g", &[1], vec![1.5])
            .weight("b", &[1], vec![0.1])
            .weight("mu", &[1], vec![0.2])
            .weight("var", &[1], vec![0.04])
            .weight("dw", &[4, 3], ramp(12, 0.3))
            .node("Sub", &["x", "m"], "a", vec![])
            .node("Div", &["a", "s"], "n", vec![])
            .node("BatchNormalization", &["n", "g", "b", "mu", "var"], "bn", vec![AttributeProto::float("epsilon", 1e-3)])
            .node("Flatten", &["bn"], "f", vec![])
            .node("MatMul", &["f", "dw"], "l", vec![])
            .node("Softmax", &["l"], "y", vec![]);
        let imp = g.import(13).unwrap();
        assert_eq!(imp.arch.normalization, Normalization { mean: 0.5, std: 0.25 });
        assert_eq!(imp.arch.layers.last(), Some(&LayerSpec::Dense { out_features: 3, bias: false }));
        assert_eq!(imp.notes.len(), 2, "{:?}", imp.notes);
        // The network sees normalised input (digitnet applies the normalisation when it turns
        // pixels into tensors); batch norm then gives 1.5·(x − 0.2)/√(0.04 + 0.001) + 0.1.
        let x = Tensor::from_vec(&[1, 1, 2, 2], vec![0.0, 1.0, -1.0, 0.5]).unwrap();
        let bn: Vec<f32> = x.data.iter().map(|v| 1.5 * (v - 0.2) / (0.041f32).sqrt() + 0.1).collect();
        let dw = ramp(12, 0.3);
        let want: Vec<f32> = (0..3).map(|o| (0..4).map(|i| bn[i] * dw[i * 3 + o]).sum()).collect();
        for (a, b) in run(&imp, &x).iter().zip(&want) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    /// Graphs that are not chains: a branch, a second data input, a cycle, an unknown input
    /// size, nodes off the path.
    #[test]
    fn non_sequential_graphs_are_errors() {
        let branch = G::new(&[-1, 4]).node("Relu", &["x"], "a", vec![]).node("Sigmoid", &["x"], "b", vec![]).node("Identity", &["a"], "y", vec![]);
        assert!(branch.import(13).unwrap_err().to_string().contains("feeds 2 nodes"));
        let mut two = G::new(&[-1, 4]).node("Relu", &["x"], "y", vec![]);
        two.extra_inputs.push("z".into());
        assert!(two.import(13).unwrap_err().to_string().contains("one data input"));
        let cycle = G::new(&[-1, 4]).node("Relu", &["x"], "a", vec![]).node("Relu", &["a"], "b", vec![]).node("Relu", &["b"], "a", vec![]);
        assert!(cycle.import(13).is_err());
        let cycle2 = G::new(&[-1, 4]).weight("w", &[4, 4], ramp(16, 0.1)).node("MatMul", &["x", "c"], "a", vec![]).node("Relu", &["a"], "c", vec![]).node(
            "Identity",
            &["c"],
            "y",
            vec![],
        );
        let e = cycle2.import(13).unwrap_err().to_string();
        assert!(e.contains("cycle") || e.contains("constant"), "{e}");
        let unknown = G::new(&[-1, -1]).node("Relu", &["x"], "y", vec![]);
        assert!(unknown.import(13).unwrap_err().to_string().contains("known positive size"));
        let absurd = G::new(&[-1, 1 << 20, 1 << 20]).node("Relu", &["x"], "y", vec![]);
        assert!(absurd.import(13).is_err());
    }

    /// Absurd claims are refused before anything of their size is allocated: a weight claiming
    /// 2^29 values (2 GiB) over 8 bytes, and a 1×1 convolution to 64 channels of a 4096×4096
    /// input (2^30 values per sample).
    #[test]
    fn absurd_sizes_are_refused_up_front() {
        let huge = G::new(&[-1, 4]).weight("w", &[1 << 29], vec![1.0, 2.0]).node("MatMul", &["x", "w"], "y", vec![]);
        let e = huge.import(13).unwrap_err().to_string();
        assert!(e.contains("2.0 GiB") && e.contains("holds 2 values"), "{e}");
        let wide = G::new(&[-1, 1, 4096, 4096]).weight("w", &[64, 1, 1, 1], vec![0.5; 64]).node("Conv", &["x", "w"], "y", vec![]);
        assert!(wide.import(13).unwrap_err().to_string().contains("absurdly large"));
    }

    /// Wrong types: integer weights, an integer data input, a field of the wrong wire type.
    #[test]
    fn wrong_types_are_errors() {
        let int_weight = G::new(&[-1, 1, 4, 4]).ints("w", &[1, 2, 3, 4]).node("Conv", &["x", "w"], "y", vec![]);
        assert!(int_weight.import(13).unwrap_err().to_string().contains("should be a float tensor"));
        let g = G::new(&[-1, 4]).node("Relu", &["x"], "y", vec![]);
        let bytes = g.bytes(13);
        let mut model = ModelProto::decode(&bytes).unwrap();
        model.graph.as_mut().unwrap().inputs[0].elem_type = super::super::proto::INT64;
        let e = import_graph(&model, &ImportOptions::default()).unwrap_err().to_string();
        assert!(e.contains("int64") && e.contains("expected float"), "{e}");
        // ModelProto.graph (field 7) written as a number instead of a message.
        let e = ModelProto::decode(&[0x08, 0x08, 0x38, 0x01]).unwrap_err().to_string();
        assert!(e.contains("ModelProto.graph should be length-delimited"), "{e}");
    }

    /// A 1-d convolution and pool ([N, C, L]) run as 2-d ones of width 1.
    #[test]
    fn one_d_convolution_is_a_width_one_conv2d() {
        let g = G::new(&[-1, 2, 7])
            .weight("w", &[3, 2, 3], ramp(18, 0.1))
            .node("Conv", &["x", "w"], "c", vec![AttributeProto::ints("pads", &[1, 1]), AttributeProto::ints("strides", &[2])])
            .node("MaxPool", &["c"], "y", vec![AttributeProto::ints("kernel_shape", &[2]), AttributeProto::ints("strides", &[2])]);
        let imp = g.import(13).unwrap();
        assert_eq!(imp.arch.input, [2, 7, 1]);
        assert_eq!(imp.output_dims, vec![3, 2]);
        let x = Tensor::random(&[1, 2, 7, 1], 2);
        let w = ramp(18, 0.1);
        let px = |c: usize, i: isize| if (0..7).contains(&i) { x.data[c * 7 + i as usize] } else { 0.0 };
        let conv: Vec<f32> = (0..3)
            .flat_map(|o| (0..4).map(move |p| (o, p)))
            .map(|(o, p)| (0..2).map(|c| (0..3).map(|k| w[(o * 2 + c) * 3 + k] * px(c, 2 * p as isize + k as isize - 1)).sum::<f32>()).sum())
            .collect();
        let want: Vec<f32> = (0..3).flat_map(|o| (0..2).map(move |p| (o, p))).map(|(o, p)| conv[o * 4 + 2 * p].max(conv[o * 4 + 2 * p + 1])).collect();
        for (a, b) in run(&imp, &x).iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
