//! Architecture descriptions (serde JSON) and the built-in architectures.
//!
//! A description names the input shape `[C, H, W]`, the class names, the input normalisation
//! and the layer list. Layer indices are positions in this list, as in PyTorch's
//! `nn.Sequential`, so saved tensors are named like a PyTorch state dict (`0.weight`, …).
//!
//! ```json
//! {"name": "tiny", "input": [1, 28, 28], "classes": ["0","1","2","3","4","5","6","7","8","9"],
//!  "layers": [{"type": "conv2d", "out_channels": 4, "kernel": 3, "padding": "same"},
//!             {"type": "relu"}, {"type": "max_pool2d", "kernel": 2},
//!             {"type": "avg_pool2d", "kernel": 3, "stride": 1, "padding": 1, "count_include_pad": false},
//!             {"type": "flatten"}, {"type": "dense", "out_features": 10}]}
//! ```

use crate::error::{Error, Result};
use crate::init::Init;
use crate::kernels::geometry::{Geometry, Padding};
use crate::vision::pipeline::Pipeline;
use serde::{Deserialize, Serialize};

/// A size given as one number (square) or `[h, w]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size2 {
    Square(usize),
    Pair([usize; 2]),
}

impl Size2 {
    /// As `[h, w]`.
    pub fn pair(self) -> [usize; 2] {
        match self {
            Size2::Square(k) => [k, k],
            Size2::Pair(p) => p,
        }
    }
}

fn one() -> Size2 {
    Size2::Square(1)
}
fn yes() -> bool {
    true
}
fn is_false(b: &bool) -> bool {
    !*b
}

/// A pool's padding: one number for every side, `[h, w]` (rows above and below, columns
/// left and right), or `[top, left, bottom, right]`. Signed so that a negative number is a
/// clear error ([`PoolPadding::sides`]) rather than a failed match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PoolPadding {
    Uniform(i64),
    HeightWidth([i64; 2]),
    Sides([i64; 4]),
}

impl Default for PoolPadding {
    fn default() -> Self {
        PoolPadding::Uniform(0)
    }
}

impl PoolPadding {
    /// The shortest form of `[top, left, bottom, right]`.
    pub fn from_sides(p: [usize; 4]) -> Self {
        let p = p.map(|v| v as i64);
        if p.iter().all(|&v| v == p[0]) {
            PoolPadding::Uniform(p[0])
        } else if p[0] == p[2] && p[1] == p[3] {
            PoolPadding::HeightWidth([p[0], p[1]])
        } else {
            PoolPadding::Sides(p)
        }
    }

    /// No padding, as written by files from before pools could pad (left out of the JSON).
    pub fn is_none(&self) -> bool {
        *self == PoolPadding::Uniform(0)
    }

    /// `[top, left, bottom, right]`; an error naming `what` if any is negative. (The pool
    /// layer checks that each is smaller than the kernel.)
    pub fn sides(&self, what: &str) -> Result<[usize; 4]> {
        let p = match *self {
            PoolPadding::Uniform(v) => [v; 4],
            PoolPadding::HeightWidth([h, w]) => [h, w, h, w],
            PoolPadding::Sides(p) => p,
        };
        if p.iter().any(|&v| v < 0) {
            return Err(Error::config(format!("{what}: padding {p:?} (top, left, bottom, right) must not be negative")));
        }
        Ok(p.map(|v| v as usize))
    }
}

fn leaky_default() -> f32 {
    0.01
}

/// One layer of the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    Conv2d {
        out_channels: usize,
        kernel: Size2,
        #[serde(default = "one")]
        stride: Size2,
        #[serde(default)]
        padding: Padding,
        #[serde(default = "one")]
        dilation: Size2,
        #[serde(default = "yes")]
        bias: bool,
    },
    MaxPool2d {
        kernel: Size2,
        /// Defaults to the kernel size.
        #[serde(default)]
        stride: Option<Size2>,
        /// Padding (never the maximum); none by default.
        #[serde(default, skip_serializing_if = "PoolPadding::is_none")]
        padding: PoolPadding,
    },
    AvgPool2d {
        kernel: Size2,
        #[serde(default)]
        stride: Option<Size2>,
        /// Padding; none by default.
        #[serde(default, skip_serializing_if = "PoolPadding::is_none")]
        padding: PoolPadding,
        /// Whether padded values count in the divisor (as zeros); by default only the image's
        /// values are averaged (ONNX's default; PyTorch's is `true`).
        #[serde(default, skip_serializing_if = "is_false")]
        count_include_pad: bool,
    },
    /// Over channels for `[C, H, W]` inputs, over features for `[F]` inputs.
    BatchNorm,
    Dropout {
        rate: f32,
    },
    Dense {
        out_features: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    Flatten,
    Relu,
    LeakyRelu {
        #[serde(default = "leaky_default")]
        slope: f32,
    },
    Sigmoid,
    Tanh,
    Identity,
    Softmax,
}

/// What the network's output means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Logits, one per class; trained with softmax cross-entropy.
    #[default]
    Classification,
    /// Real-valued outputs; trained with (halved) mean squared error.
    Regression,
    /// One output: the digit's rotation angle divided by [`DEGREES_PER_UNIT`] (positive =
    /// counter-clockwise); trained with (halved) mean squared error on freshly rotated digits.
    Rotation,
}

/// A rotation network's output 1.0 means this many degrees (so targets in ±45° are ±1).
pub const DEGREES_PER_UNIT: f32 = 45.0;

/// How 8-bit pixels become network inputs: `x = (p/255 − mean) / std`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: f32,
    pub std: f32,
}

impl Default for Normalization {
    /// Pixels scaled to [0, 1], nothing more (what a PyTorch model file without digitnet
    /// metadata is taken to expect).
    fn default() -> Self {
        Normalization { mean: 0.0, std: 1.0 }
    }
}

impl Normalization {
    /// The network input for an 8-bit pixel.
    pub fn apply(&self, pixel: u8) -> f32 {
        (pixel as f32 / 255.0 - self.mean) / self.std
    }
}

/// A sequential network description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    pub name: String,
    /// Per-sample input shape `[C, H, W]`.
    pub input: [usize; 3],
    /// Class names, in output order (empty for regression).
    #[serde(default)]
    pub classes: Vec<String>,
    #[serde(default)]
    pub task: Task,
    #[serde(default)]
    pub normalization: Normalization,
    /// Initialiser of conv and dense weights.
    #[serde(default)]
    pub init: Init,
    pub layers: Vec<LayerSpec>,
    /// Rotation networks: how each turned digit is prepared in training.
    #[serde(default, skip_serializing_if = "RotationInput::is_raw")]
    pub rotation_input: RotationInput,
    /// How an image becomes this network's input; absent from files written before it was
    /// recorded (see [`Architecture::pipeline`] for what those get).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_pipeline: Option<Pipeline>,
}

/// How a rotation network's input digits are prepared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationInput {
    /// The rotated 28×28 image as it is.
    #[default]
    Raw,
    /// Every rotated digit normalised again as MNIST was made (cropped, fitted into 20×20,
    /// centred by mass), so that photos — which are normalised after they were turned — look
    /// like the training digits, and the digit's size and the blur of the rotation's
    /// interpolation cannot stand in for its shape.
    Normalised,
    /// Half the turned digits as they are (MNIST format), half rendered as photo-like images
    /// (pen on tinted paper, noise, blur, JPEG) and read through the photo pipeline, exactly as
    /// `angle` reads a photo; with the `auto` input pipeline the one network answers both.
    WithPhotos,
    /// Every turned digit rendered as a photo-like image and read through the photo pipeline:
    /// a network for photos alone (the built-in rotation model hands MNIST-format images to
    /// another network).
    Photos,
}

impl RotationInput {
    pub fn is_raw(&self) -> bool {
        *self == RotationInput::Raw
    }
}

/// At most this many layers in an architecture.
pub const MAX_LAYERS: usize = 1_000;
/// Any one size of an architecture (an input dimension, channels, features, a kernel, stride
/// or dilation) is at most this.
pub const MAX_SIZE: usize = 1 << 20;
/// At most this many parameters (weights, biases and batch-norm statistics) in a network:
/// 200 MB of `f32` values, as much again for their gradients.
pub const MAX_PARAMETERS: usize = 50_000_000;
/// At most this many values per sample in the input, every layer's output and the
/// convolutions' im2col columns together (16 MB a sample).
pub const MAX_ACTIVATIONS: usize = 4_000_000;

/// A parameter tensor an architecture asks for: layer index, state-dict suffix, shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamShape {
    pub layer: usize,
    pub name: &'static str,
    pub shape: Vec<usize>,
}

/// The names `builtin` accepts.
pub const BUILTIN_NAMES: &[&str] = &["small", "lenet", "keras", "scratch", "scratch8", "scratch16", "scratch24"];

fn digits() -> Vec<String> {
    (0..10).map(|d| d.to_string()).collect()
}

fn conv(out_channels: usize, kernel: usize, padding: Padding) -> LayerSpec {
    LayerSpec::Conv2d { out_channels, kernel: Size2::Square(kernel), stride: one(), padding, dilation: one(), bias: true }
}

fn max_pool(k: usize) -> LayerSpec {
    LayerSpec::MaxPool2d { kernel: Size2::Square(k), stride: None, padding: PoolPadding::default() }
}

fn dense(out_features: usize) -> LayerSpec {
    LayerSpec::Dense { out_features, bias: true }
}

impl Architecture {
    /// A built-in architecture by name (see [`BUILTIN_NAMES`]), as the source documents use them.
    pub fn builtin(name: &str) -> Result<Self> {
        use LayerSpec::*;
        let same = Padding::Named(crate::kernels::geometry::PaddingName::Same);
        let layers = match name {
            // Lecture slides: a tiny PyTorch net with batch norm.
            "small" => vec![
                conv(4, 3, Padding::Uniform(1)),
                BatchNorm,
                Relu,
                max_pool(2),
                conv(4, 3, Padding::Uniform(1)),
                BatchNorm,
                Relu,
                max_pool(2),
                Flatten,
                dense(10),
            ],
            // Course project: LeNet with im2col convolutions (no ReLU after the convolutions).
            "lenet" => vec![conv(20, 5, Padding::Uniform(0)), max_pool(2), conv(50, 5, Padding::Uniform(0)), max_pool(2), Flatten, dense(500), Relu, dense(10)],
            // Course assignment: the Keras sequential CNN.
            "keras" => vec![
                conv(32, 3, same),
                Relu,
                max_pool(2),
                conv(64, 3, same),
                Relu,
                max_pool(2),
                conv(128, 3, same),
                Relu,
                max_pool(2),
                Flatten,
                dense(512),
                Relu,
                dense(10),
            ],
            // Journal article: one convolution written from scratch, k = 8, 16 or 24 filters.
            "scratch" | "scratch8" | "scratch16" | "scratch24" => {
                let k = name.trim_start_matches("scratch").parse().unwrap_or(8);
                return Ok(Self::scratch(k));
            }
            other => return Err(Error::config(format!("unknown architecture '{other}' (built-in: {}; or a .json file)", BUILTIN_NAMES.join(", ")))),
        };
        // LeNet's convolutions feed max pooling with no ReLU, so the linear-unit initialiser
        // (Glorot) suits it; chosen on a validation split (0.912–0.928 vs 0.895–0.931 for He,
        // 2 epochs on 2,000 images, batch 32). The ReLU nets use He.
        let init = if name == "lenet" { Init::GlorotUniform } else { Init::HeNormal };
        Ok(Architecture {
            name: name.into(),
            input: [1, 28, 28],
            classes: digits(),
            task: Task::Classification,
            normalization: Normalization::default(),
            init,
            layers,
            rotation_input: RotationInput::Raw,
            input_pipeline: None,
        })
    }

    /// The journal article's net: Conv(1→k, 3×3, valid)-ReLU-MaxPool 2-Flatten-Dense(13·13·k→10).
    pub fn scratch(filters: usize) -> Self {
        Architecture {
            name: format!("scratch{filters}"),
            input: [1, 28, 28],
            classes: digits(),
            task: Task::Classification,
            normalization: Normalization::default(),
            init: Init::HeNormal,
            layers: vec![conv(filters, 3, Padding::Uniform(0)), LayerSpec::Relu, max_pool(2), LayerSpec::Flatten, dense(10)],
            rotation_input: RotationInput::Raw,
            input_pipeline: None,
        }
    }

    /// A copy with a Dropout of `rate` after every pooling layer (the Keras assignment's
    /// placement). A rate of 0 returns the architecture unchanged.
    pub fn with_dropout(&self, rate: f32) -> Result<Self> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::config(format!("dropout rate must be in [0, 1), got {rate}")));
        }
        let mut out = self.clone();
        if rate == 0.0 {
            return Ok(out);
        }
        out.layers.clear();
        for l in &self.layers {
            out.layers.push(l.clone());
            if matches!(l, LayerSpec::MaxPool2d { .. } | LayerSpec::AvgPool2d { .. }) {
                out.layers.push(LayerSpec::Dropout { rate });
            }
        }
        out.name = format!("{}+dropout{rate}", self.name);
        Ok(out)
    }

    /// The same network with its last Dense layer (and anything after it) replaced by a fresh
    /// Dense(→1) head for the rotation-angle task: the transfer-learning surgery of the source
    /// paper. Layer indices before the head are unchanged, so weights can be copied across.
    pub fn with_rotation_head(&self) -> Result<Self> {
        let last_dense = self
            .layers
            .iter()
            .rposition(|l| matches!(l, LayerSpec::Dense { .. }))
            .ok_or_else(|| Error::config(format!("architecture '{}' has no Dense layer to replace with a regression head", self.name)))?;
        let mut out = self.clone();
        out.layers.truncate(last_dense);
        out.layers.push(dense(1));
        out.task = Task::Rotation;
        out.classes = Vec::new();
        out.name = format!("{}-rotation", self.name.trim_end_matches("-rotation"));
        Ok(out)
    }

    /// A built-in architecture's name, or a JSON description's file (a name ending in `.json`
    /// or naming a file), as `--arch` takes them.
    pub fn resolve(spec: &str) -> Result<Self> {
        let path = std::path::Path::new(spec);
        if spec.ends_with(".json") || path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            return Architecture::from_json(&text, spec);
        }
        Architecture::builtin(spec)
    }

    /// This classifier made for `classes` classes of `rows × cols` single-channel images: the
    /// last Dense layer resized (and the classes named `0`, `1`, …) when its class count
    /// differs; an error when the input size differs or the network is not a classifier.
    pub fn fitted(mut self, rows: usize, cols: usize, classes: usize) -> Result<Self> {
        if self.task != Task::Classification {
            return Err(Error::config(format!("architecture '{}' is a {:?} network; train and sweep train classifiers", self.name, self.task)));
        }
        if self.input != [1, rows, cols] {
            return Err(Error::config(format!("architecture '{}' takes {:?} inputs but the data has 1×{rows}×{cols} images", self.name, self.input)));
        }
        if self.classes.len() != classes {
            match self.layers.last_mut() {
                Some(LayerSpec::Dense { out_features, .. }) => *out_features = classes,
                _ => {
                    return Err(Error::config(format!(
                        "the data has {classes} classes but architecture '{}' has {} and does not end in a Dense layer",
                        self.name,
                        self.classes.len()
                    )))
                }
            }
            self.classes = (0..classes).map(|c| c.to_string()).collect();
        }
        Ok(self)
    }

    /// Parses a JSON description; `origin` names its source in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let arch: Architecture = serde_json::from_str(text).map_err(|e| Error::format(origin, format!("not a valid architecture: {e}")))?;
        Ok(arch)
    }

    /// The description as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("architectures serialise")
    }

    /// The input pipeline: the recorded one, or, for a description without one (every
    /// network trained on IDX files such as MNIST, and files written before pipelines were
    /// recorded), `auto` for 28×28 single-channel networks — MNIST-format images as they are,
    /// photos through the photo pipeline, as `predict` has always read photos — and `resize`
    /// for other input sizes.
    pub fn pipeline(&self) -> Pipeline {
        self.input_pipeline.unwrap_or(if self.input == [1, 28, 28] { Pipeline::Auto } else { Pipeline::Resize })
    }

    /// Checks every size against the documented limits ([`MAX_LAYERS`], [`MAX_SIZE`],
    /// [`MAX_PARAMETERS`], [`MAX_ACTIVATIONS`]) with checked arithmetic, walks the shapes
    /// through the layer list and checks the output against the task, all before anything is
    /// allocated from them. Returns the parameter tensors the network will hold, in
    /// state-dict order (what a model file must contain).
    pub fn check(&self) -> Result<Vec<ParamShape>> {
        let name = &self.name;
        let err = |m: String| Error::config(format!("architecture '{name}' {m}"));
        if self.layers.is_empty() {
            return Err(err("has no layers".into()));
        }
        if self.layers.len() > MAX_LAYERS {
            return Err(err(format!("has {} layers, at most {MAX_LAYERS} are allowed", self.layers.len())));
        }
        let size = |what: &str, v: usize| -> std::result::Result<usize, String> {
            if v > MAX_SIZE {
                return Err(format!("{what} {v} is larger than the limit {MAX_SIZE}"));
            }
            Ok(v)
        };
        let product = |dims: &[usize]| -> Option<usize> { dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) };
        for d in self.input {
            size("input size", d).map_err(|m| err(format!("has {m}")))?;
        }
        let mut shape: Vec<usize> = self.input.to_vec();
        let mut params: Vec<ParamShape> = Vec::new();
        let mut n_params = 0usize;
        let mut activations = product(&shape).filter(|&n| n <= MAX_ACTIVATIONS).ok_or_else(|| {
            err(format!("has an input {:?} that holds more than {MAX_ACTIVATIONS} values per sample (the limit for activations)", self.input))
        })?;
        for (index, spec) in self.layers.iter().enumerate() {
            let at = |m: String| Error::config(format!("architecture '{name}', layer {index}: {m}"));
            let chw = || -> Result<[usize; 3]> {
                match *shape.as_slice() {
                    [c, h, w] => Ok([c, h, w]),
                    _ => Err(at(format!("{spec:?} needs a [C, H, W] input, got {shape:?}"))),
                }
            };
            let pair = |what: &str, s: Size2| -> Result<[usize; 2]> {
                let [a, b] = s.pair();
                Ok([size(what, a).map_err(at)?, size(what, b).map_err(at)?])
            };
            let mut layer_params: Vec<(&'static str, Vec<usize>)> = Vec::new();
            // Workspace beyond the output, per sample (a convolution's im2col columns).
            let mut workspace = 0usize;
            let out: Vec<usize> = match *spec {
                LayerSpec::Conv2d { out_channels, kernel, stride, padding, dilation, bias } => {
                    let input = chw()?;
                    size("out_channels", out_channels).map_err(at)?;
                    let geo = Geometry::new("Conv2d", input, pair("kernel", kernel)?, pair("stride", stride)?, pair("dilation", dilation)?, padding)
                        .map_err(|e| at(e.to_string()))?;
                    if out_channels == 0 {
                        return Err(at("Conv2d: out_channels must be ≥ 1".into()));
                    }
                    workspace = product(&[geo.col_rows(), geo.out_pixels()]).unwrap_or(usize::MAX);
                    layer_params.push(("weight", vec![out_channels, input[0], geo.kernel_h, geo.kernel_w]));
                    if bias {
                        layer_params.push(("bias", vec![out_channels]));
                    }
                    vec![out_channels, geo.out_h, geo.out_w]
                }
                LayerSpec::MaxPool2d { kernel, stride, padding } | LayerSpec::AvgPool2d { kernel, stride, padding, .. } => {
                    let input = chw()?;
                    let k = pair("kernel", kernel)?;
                    let s = pair("stride", stride.unwrap_or(kernel))?;
                    let pads = padding.sides("pooling").map_err(|e| at(e.to_string()))?;
                    if pads.iter().any(|&p| p > MAX_SIZE) {
                        return Err(at(format!("pooling: padding {pads:?} is larger than {MAX_SIZE}")));
                    }
                    let geo = Geometry::with_sides("pooling", input, k, s, pads).map_err(|e| at(e.to_string()))?;
                    vec![input[0], geo.out_h, geo.out_w]
                }
                LayerSpec::BatchNorm => {
                    let channels = match *shape.as_slice() {
                        [f] | [f, _, _] => f,
                        _ => return Err(at(format!("BatchNorm needs a [C, H, W] or [F] input, got {shape:?}"))),
                    };
                    for p in ["weight", "bias", "running_mean", "running_var"] {
                        layer_params.push((p, vec![channels]));
                    }
                    shape.clone()
                }
                LayerSpec::Dense { out_features, bias } => {
                    let &[in_features] = shape.as_slice() else {
                        return Err(at(format!("Dense expects a flat input, got shape {shape:?}: add a Flatten layer before it")));
                    };
                    size("out_features", out_features).map_err(at)?;
                    layer_params.push(("weight", vec![out_features, in_features]));
                    if bias {
                        layer_params.push(("bias", vec![out_features]));
                    }
                    vec![out_features]
                }
                LayerSpec::Flatten => vec![product(&shape).unwrap_or(usize::MAX)],
                LayerSpec::Dropout { .. }
                | LayerSpec::Relu
                | LayerSpec::LeakyRelu { .. }
                | LayerSpec::Sigmoid
                | LayerSpec::Tanh
                | LayerSpec::Identity
                | LayerSpec::Softmax => shape.clone(),
            };
            for (p, dims) in layer_params {
                n_params = product(&dims)
                    .and_then(|n| n_params.checked_add(n))
                    .filter(|&n| n <= MAX_PARAMETERS)
                    .ok_or_else(|| at(format!("parameter '{index}.{p}' of shape {dims:?} takes the network over the limit of {MAX_PARAMETERS} parameters")))?;
                params.push(ParamShape { layer: index, name: p, shape: dims });
            }
            activations = product(&out)
                .and_then(|n| n.checked_add(workspace))
                .and_then(|n| activations.checked_add(n))
                .filter(|&n| n <= MAX_ACTIVATIONS)
                .ok_or_else(|| at(format!("output {out:?} takes the network over the limit of {MAX_ACTIVATIONS} activations per sample")))?;
            shape = out;
        }
        if shape != [self.outputs()] {
            return Err(err(format!("ends in shape {shape:?}, but its task needs [{}] outputs", self.outputs())));
        }
        Ok(params)
    }

    /// Number of outputs the network must produce.
    pub fn outputs(&self) -> usize {
        match self.task {
            Task::Classification => self.classes.len(),
            Task::Regression => self.classes.len().max(1),
            Task::Rotation => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_defaults() {
        for name in BUILTIN_NAMES {
            let a = Architecture::builtin(name).unwrap();
            assert_eq!(Architecture::from_json(&a.to_json(), "x").unwrap(), a);
        }
        let text = r#"{"name": "t", "input": [1, 8, 8], "classes": ["a", "b"],
            "layers": [{"type": "conv2d", "out_channels": 2, "kernel": [3, 2], "padding": "same"},
                       {"type": "leaky_relu"}, {"type": "flatten"}, {"type": "dense", "out_features": 2}]}"#;
        let a = Architecture::from_json(text, "t.json").unwrap();
        assert_eq!(a.layers[1], LayerSpec::LeakyRelu { slope: 0.01 });
        assert!(matches!(a.layers[0], LayerSpec::Conv2d { stride: Size2::Square(1), bias: true, .. }));
        assert_eq!(a.normalization, Normalization { mean: 0.0, std: 1.0 });
    }

    /// Pool padding is optional (old files load unchanged and are written back unchanged);
    /// every form reads, and a negative pad is an error naming the layer.
    #[test]
    fn pool_padding_fields() {
        let pools = |layers: &str| format!(r#"{{"name": "t", "input": [1, 8, 8], "layers": [{layers}]}}"#);
        let old = Architecture::from_json(&pools(r#"{"type": "max_pool2d", "kernel": 2}, {"type": "avg_pool2d", "kernel": 2}"#), "t").unwrap();
        assert_eq!(old.layers[0], LayerSpec::MaxPool2d { kernel: Size2::Square(2), stride: None, padding: PoolPadding::Uniform(0) });
        assert_eq!(old.layers[1], LayerSpec::AvgPool2d { kernel: Size2::Square(2), stride: None, padding: PoolPadding::Uniform(0), count_include_pad: false });
        assert!(!old.to_json().contains("padding"));
        let text = pools(
            r#"{"type": "max_pool2d", "kernel": 3, "padding": [1, 0, 0, 1]},
               {"type": "avg_pool2d", "kernel": 3, "padding": [1, 2], "count_include_pad": true}"#,
        );
        let a = Architecture::from_json(&text, "t").unwrap();
        assert_eq!(Architecture::from_json(&a.to_json(), "t").unwrap(), a);
        let LayerSpec::AvgPool2d { padding, count_include_pad: true, .. } = a.layers[1] else { panic!("{:?}", a.layers[1]) };
        assert_eq!(padding.sides("p").unwrap(), [1, 2, 1, 2]);
        let LayerSpec::MaxPool2d { padding, .. } = a.layers[0] else { panic!() };
        assert_eq!(padding.sides("p").unwrap(), [1, 0, 0, 1]);
        assert_eq!(PoolPadding::from_sides([1, 0, 0, 1]), padding);
        assert_eq!(PoolPadding::from_sides([1, 1, 1, 1]), PoolPadding::Uniform(1));
        let e = PoolPadding::Uniform(-1).sides("layer 0 (MaxPool2d)").unwrap_err().to_string();
        assert!(e.contains("layer 0 (MaxPool2d)") && e.contains("must not be negative"), "{e}");
    }

    #[test]
    fn unknown_names_and_fields_are_errors() {
        assert!(Architecture::builtin("resnet").is_err());
        let bad = r#"{"name": "t", "input": [1, 8, 8], "layers": [{"type": "conv2d", "out_channels": 2, "kernel": 3, "strides": 2}]}"#;
        assert!(Architecture::from_json(bad, "t.json").is_err());
        assert!(Architecture::from_json("not json", "t.json").unwrap_err().to_string().contains("t.json"));
    }

    #[test]
    fn resolve_takes_names_and_files() {
        assert_eq!(Architecture::resolve("lenet").unwrap(), Architecture::builtin("lenet").unwrap());
        let path = std::env::temp_dir().join(format!("digitnet-resolve-{}.json", std::process::id()));
        std::fs::write(&path, Architecture::builtin("small").unwrap().to_json()).unwrap();
        assert_eq!(Architecture::resolve(path.to_str().unwrap()).unwrap(), Architecture::builtin("small").unwrap());
        std::fs::remove_file(&path).unwrap();
        let e = Architecture::resolve(path.to_str().unwrap()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("digitnet-resolve"), "{e}");
        assert!(Architecture::resolve("resnet").is_err());
    }

    #[test]
    fn fitted_resizes_the_head_for_the_data() {
        let a = Architecture::builtin("lenet").unwrap().fitted(28, 28, 3).unwrap();
        assert_eq!(a.classes, vec!["0", "1", "2"]);
        assert!(matches!(a.layers.last(), Some(LayerSpec::Dense { out_features: 3, .. })));
        // Ten classes: unchanged.
        assert_eq!(Architecture::builtin("lenet").unwrap().fitted(28, 28, 10).unwrap(), Architecture::builtin("lenet").unwrap());
        let e = Architecture::builtin("lenet").unwrap().fitted(32, 32, 10).unwrap_err().to_string();
        assert!(e.contains("1×32×32"), "{e}");
        let mut no_head = Architecture::builtin("small").unwrap();
        no_head.layers.push(LayerSpec::Softmax);
        assert!(no_head.fitted(28, 28, 4).unwrap_err().to_string().contains("does not end in a Dense layer"));
    }

    #[test]
    fn dropout_after_each_pool() {
        let a = Architecture::builtin("keras").unwrap().with_dropout(0.25).unwrap();
        let drops: Vec<usize> = a.layers.iter().enumerate().filter(|(_, l)| matches!(l, LayerSpec::Dropout { .. })).map(|(i, _)| i).collect();
        assert_eq!(drops, vec![3, 7, 11]);
        assert!(Architecture::builtin("keras").unwrap().with_dropout(1.5).is_err());
    }
}
