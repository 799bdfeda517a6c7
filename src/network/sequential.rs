//! `Sequential`: a network built from an [`Architecture`], its activation workspace, the one
//! parameter visitor everything else walks parameters through, and its summary table.
//!
//! The workspace keeps one output tensor per layer and two gradient buffers; they are resized
//! in place, so once a batch size has been seen, forward and backward allocate nothing.

use super::fusion::{self, Fusion, FusionPlan, Step};
use crate::error::{Error, Result};
use crate::init::Rng;
use crate::layers::{Activation, ActivationKind, BatchNorm, Conv2d, Dense, Dropout, Flatten, Layer, Mode, Param, Pool2d, PoolKind};
use crate::network::arch::{Architecture, LayerSpec, Task};
use crate::tensor::Tensor;

/// A sequential network.
pub struct Sequential {
    arch: Architecture,
    layers: Vec<Box<dyn Layer>>,
    /// Learning-rate factor per layer; 0 freezes the layer.
    lr_factors: Vec<f32>,
    /// Output of each layer for the last forward.
    acts: Vec<Tensor>,
    grad_cur: Tensor,
    grad_next: Tensor,
    /// Eval-mode chunking buffers: one chunk of input, the whole batch's output.
    eval_in: Tensor,
    eval_out: Tensor,
    /// Which runs of layers may execute as one pass ([`super::fusion`]).
    plan: FusionPlan,
    /// The steps the last forward ran, in order, and its mode (a backward walks them back).
    steps: Vec<Step>,
    steps_mode: Mode,
}

/// Images per chunk when a large batch is run in eval mode. 128 since convolutions fuse the
/// pool after them (their full-size outputs no longer reach memory): alternating
/// `profile_step … infer` runs, 128 beat 64 for `keras` (5 of 5) and `lenet` (4 of 5) and
/// 256 for `small` (4 of 4).
pub const EVAL_CHUNK: usize = 128;

/// Builds one layer for a per-sample input shape.
fn build_layer(spec: &LayerSpec, input: &[usize], arch: &Architecture, index: usize, rng: &mut Rng, seed: u64) -> Result<Box<dyn Layer>> {
    let chw = || -> Result<[usize; 3]> {
        match *input {
            [c, h, w] => Ok([c, h, w]),
            _ => Err(Error::config(format!("layer {index} ({spec:?}) needs a [C, H, W] input, got {input:?}"))),
        }
    };
    Ok(match *spec {
        LayerSpec::Conv2d { out_channels, kernel, stride, padding, dilation, bias } => {
            Box::new(Conv2d::new(chw()?, out_channels, kernel.pair(), stride.pair(), padding, dilation.pair(), bias, arch.init, rng)?)
        }
        LayerSpec::MaxPool2d { kernel, stride, padding } => {
            let pads = padding.sides(&format!("layer {index} (MaxPool2d)"))?;
            Box::new(Pool2d::padded(PoolKind::Max, chw()?, kernel.pair(), stride.unwrap_or(kernel).pair(), pads, false)?)
        }
        LayerSpec::AvgPool2d { kernel, stride, padding, count_include_pad } => {
            let pads = padding.sides(&format!("layer {index} (AvgPool2d)"))?;
            Box::new(Pool2d::padded(PoolKind::Average, chw()?, kernel.pair(), stride.unwrap_or(kernel).pair(), pads, count_include_pad)?)
        }
        LayerSpec::BatchNorm => Box::new(BatchNorm::new(input)?),
        LayerSpec::Dropout { rate } => Box::new(Dropout::new(input, rate, Rng::derived(seed, 1000 + index as u64))?),
        LayerSpec::Dense { out_features, bias } => Box::new(Dense::new(input, out_features, bias, arch.init, rng)?),
        LayerSpec::Flatten => Box::new(Flatten::new(input)),
        LayerSpec::Relu => Box::new(Activation::new(ActivationKind::Relu, input)),
        LayerSpec::LeakyRelu { slope } => Box::new(Activation::new(ActivationKind::LeakyRelu(slope), input)),
        LayerSpec::Sigmoid => Box::new(Activation::new(ActivationKind::Sigmoid, input)),
        LayerSpec::Tanh => Box::new(Activation::new(ActivationKind::Tanh, input)),
        LayerSpec::Identity => Box::new(Activation::new(ActivationKind::Identity, input)),
        LayerSpec::Softmax => Box::new(Activation::new(ActivationKind::Softmax, input)),
    })
}

impl Sequential {
    /// Builds the network, drawing initial weights from `seed` (same seed ⇒ same weights).
    /// Checks that every layer fits its input and the output matches the task.
    pub fn new(arch: &Architecture, seed: u64) -> Result<Self> {
        if arch.layers.is_empty() {
            return Err(Error::config(format!("architecture '{}' has no layers", arch.name)));
        }
        if arch.task == Task::Classification && arch.classes.len() < 2 {
            return Err(Error::config(format!("architecture '{}' needs at least two classes", arch.name)));
        }
        if !(arch.normalization.std.is_finite() && arch.normalization.std > 0.0 && arch.normalization.mean.is_finite()) {
            return Err(Error::config(format!("architecture '{}': normalisation std must be > 0", arch.name)));
        }
        // Every size is checked before anything is allocated from it.
        arch.check()?;
        let mut rng = Rng::new(seed);
        let mut shape = arch.input.to_vec();
        let mut layers = Vec::with_capacity(arch.layers.len());
        for (i, spec) in arch.layers.iter().enumerate() {
            let layer = build_layer(spec, &shape, arch, i, &mut rng, seed).map_err(|e| match e {
                Error::Config(m) => Error::config(format!("architecture '{}', layer {i}: {m}", arch.name)),
                other => other,
            })?;
            shape = layer.output_shape().to_vec();
            layers.push(layer);
        }
        if shape != [arch.outputs()] {
            return Err(Error::config(format!("architecture '{}' ends in shape {shape:?}, but its task needs [{}] outputs", arch.name, arch.outputs())));
        }
        let n = layers.len();
        Ok(Sequential {
            arch: arch.clone(),
            layers,
            lr_factors: vec![1.0; n],
            acts: (0..n).map(|_| Tensor::default()).collect(),
            plan: FusionPlan::new(&arch.layers),
            steps: Vec::with_capacity(n),
            steps_mode: Mode::Eval,
            grad_cur: Tensor::default(),
            grad_next: Tensor::default(),
            eval_in: Tensor::default(),
            eval_out: Tensor::default(),
        })
    }

    /// The description the network was built from.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// Sets how a rotation network's digits are prepared (part of its description, saved with it).
    pub fn set_rotation_input(&mut self, input: crate::network::arch::RotationInput) {
        self.arch.rotation_input = input;
    }

    /// A network of the description `arch` — this one with a different head (the transfer
    /// learning of the source paper: a classifier with new classes, or a regressor) — that
    /// starts from this network's weights and buffers for every layer before `head`, which
    /// must be the same layers in both, and from fresh weights (drawn from `seed`) after.
    pub fn transplant(&self, arch: &Architecture, head: usize, seed: u64) -> Result<Sequential> {
        let mismatch = || Error::config(format!("architecture '{}' does not share its first {head} layers with '{}'", arch.name, self.arch.name));
        if head > self.layers.len() || arch.input != self.arch.input {
            return Err(mismatch());
        }
        let mut model = Sequential::new(arch, seed)?;
        let mut values: Vec<(usize, &'static str, Vec<usize>, Vec<f32>)> = Vec::new();
        self.for_each_param(|i, p| {
            if i < head {
                values.push((i, p.name, p.shape.clone(), p.value.clone()));
            }
        });
        let mut theirs = Vec::new();
        model.for_each_param(|i, p| {
            if i < head {
                theirs.push((i, p.name, p.shape.clone()));
            }
        });
        if theirs.len() != values.len() || theirs.iter().zip(&values).any(|(a, b)| (a.0, a.1, &a.2) != (b.0, b.1, &b.2)) {
            return Err(mismatch());
        }
        let mut k = 0;
        model.for_each_param_mut(|i, _, p| {
            if i < head {
                p.value.copy_from_slice(&values[k].3);
                k += 1;
            }
        });
        Ok(model)
    }

    /// Records how images become this network's inputs (saved with it).
    pub fn set_input_pipeline(&mut self, pipeline: crate::vision::Pipeline) {
        self.arch.input_pipeline = Some(pipeline);
    }

    /// The layers.
    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    /// The layers, mutable (e.g. for a layer's random generator).
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Layer>] {
        &mut self.layers
    }

    /// Output of each layer for the last forward (feature maps: after
    /// [`Sequential::forward_keeping_activations`], since [`Sequential::forward`] does not form
    /// every layer's).
    pub fn activations(&self) -> &[Tensor] {
        &self.acts
    }

    /// The last layer's output for the last forward (for a chunked eval forward, the last
    /// chunk's; use the value `forward` returns for the whole batch).
    pub fn output(&self) -> &Tensor {
        self.acts.last().expect("a network has layers")
    }

    /// Runs the network on `x[N, C, H, W]`; returns the output (logits).
    ///
    /// In eval mode a large batch runs through the network [`EVAL_CHUNK`] images at a time, so
    /// every layer's activations stay in cache (a batch of 1,000 through `keras` would otherwise
    /// stream 100 MB activations through memory layer by layer); the output is the same, and
    /// [`Sequential::activations`] then hold the last chunk's. A ReLU followed by max pooling
    /// runs as one pass in either mode (its own activation is not formed), and a convolution,
    /// the batch norm (in eval mode) and ReLU (if any) and the 2×2 max pool after it run as one
    /// pass, so the activations of such a convolution, batch norm and ReLU are not kept (use
    /// [`Sequential::forward_keeping_activations`] for feature maps), and no backward may
    /// follow an eval forward (it needs a training-mode forward anyway).
    pub fn forward(&mut self, x: &Tensor, mode: Mode) -> Result<&Tensor> {
        self.forward_impl(x, mode, true)
    }

    /// An eval-mode forward that keeps every layer's activations (for feature maps): no
    /// layers fused, no chunking.
    pub fn forward_keeping_activations(&mut self, x: &Tensor) -> Result<&Tensor> {
        x.check_sample_shape(&self.arch.input, "network input")?;
        self.forward_layers(x, Mode::Eval, false)?;
        Ok(self.output())
    }

    fn forward_impl(&mut self, x: &Tensor, mode: Mode, fuse: bool) -> Result<&Tensor> {
        x.check_sample_shape(&self.arch.input, "network input")?;
        let n = x.batch();
        if mode == Mode::Train || n <= EVAL_CHUNK {
            self.forward_layers(x, mode, fuse)?;
            return Ok(self.output());
        }
        let in_len = x.sample_len();
        let out_shape = self.layers.last().expect("a network has layers").output_shape().to_vec();
        let out_len: usize = out_shape.iter().product();
        let mut chunk = std::mem::take(&mut self.eval_in);
        let mut out = std::mem::take(&mut self.eval_out);
        out.resize(n, &out_shape);
        let mut result = Ok(());
        for start in (0..n).step_by(EVAL_CHUNK) {
            let m = EVAL_CHUNK.min(n - start);
            chunk.resize(m, &self.arch.input);
            chunk.data.copy_from_slice(&x.data[start * in_len..(start + m) * in_len]);
            result = self.forward_layers(&chunk, mode, fuse);
            if result.is_err() {
                break;
            }
            out.data[start * out_len..(start + m) * out_len].copy_from_slice(&self.output().data);
        }
        self.eval_in = chunk;
        self.eval_out = out;
        result?;
        Ok(&self.eval_out)
    }

    /// Runs every layer. In training, the frozen prefix (the first layers with learning-rate
    /// factor 0) runs in eval mode, as Keras runs frozen layers: batch norm there normalises
    /// with its running statistics and does not update them, so a frozen layer's state stays
    /// bit-identical; no gradient ever flows into that prefix (see [`Sequential::backward`]).
    ///
    /// With `fuse`, the runs of layers the fusion plan allows execute as one pass where it
    /// takes them ([`super::fusion`]); the steps taken are recorded for the backward.
    fn forward_layers(&mut self, x: &Tensor, mode: Mode, fuse: bool) -> Result<()> {
        let frozen_prefix = self.lr_factors.iter().take_while(|&&f| f == 0.0).count();
        self.steps.clear();
        self.steps_mode = mode;
        let mut i = 0;
        while i < self.layers.len() {
            let (before, after) = self.acts.split_at_mut(i);
            let input = if i == 0 { x } else { &before[i - 1] };
            // Frozen layers run in eval mode within a training forward: not fused there, so a
            // backward through them (for an input gradient) finds their activations.
            let layer_mode = if i < frozen_prefix { Mode::Eval } else { mode };
            if let Some(fusion) = self.plan.at(i).filter(|_| fuse) {
                let step = Step::Fused { first: i, fusion };
                let last = step.span().1;
                if let Some(done) = fusion::try_forward(&mut self.layers, i, fusion, input, &mut after[last - i], mode, layer_mode == mode) {
                    done?;
                    self.steps.push(step);
                    i = last + 1;
                    continue;
                }
            }
            self.layers[i].forward(input, &mut after[0], layer_mode)?;
            self.steps.push(Step::Layer(i));
            i += 1;
        }
        Ok(())
    }

    /// True when the last forward ran in eval mode with a convolution fused with its pool:
    /// the convolution's activations are stale and no backward may follow.
    fn fused_last(&self) -> bool {
        self.steps_mode == Mode::Eval
            && self.steps.iter().any(|s| matches!(s, Step::Fused { fusion: Fusion::ConvMaxPool { .. } | Fusion::ConvBnMaxPool { .. }, .. }))
    }

    /// True when layer `i` has parameters the optimizer updates.
    fn trains(&self, i: usize) -> bool {
        self.lr_factors[i] != 0.0 && self.layers[i].params().iter().any(Param::is_trainable)
    }

    /// Back-propagates `dlogits` (∂L/∂output of the last forward on `x`), adding into the
    /// parameter gradients. Stops at the first layer that trains: frozen layers before it get
    /// no gradient work at all, and no layer computes ∂L/∂x that nobody needs.
    pub fn backward(&mut self, x: &Tensor, dlogits: &Tensor) -> Result<()> {
        self.backward_impl(x, dlogits, None)
    }

    /// As [`Sequential::backward`], and also writes ∂L/∂x (the network input) into `dx`.
    pub fn backward_with_input_grad(&mut self, x: &Tensor, dlogits: &Tensor, dx: &mut Tensor) -> Result<()> {
        self.backward_impl(x, dlogits, Some(dx))
    }

    fn backward_impl(&mut self, x: &Tensor, dlogits: &Tensor, mut input_grad: Option<&mut Tensor>) -> Result<()> {
        if self.fused_last() {
            return Err(Error::config("backward needs a training-mode forward first (the last forward ran in eval mode with fused layers)"));
        }
        let last = self.layers.len() - 1;
        let first = if input_grad.is_some() {
            0
        } else {
            match (0..=last).find(|&i| self.trains(i)) {
                Some(f) => f,
                None => return Ok(()),
            }
        };
        for k in (0..self.steps.len()).rev() {
            let step = self.steps[k];
            let (start, end) = step.span();
            if end < first {
                break;
            }
            let dy = if end == last { dlogits } else { &self.grad_cur };
            let input = if start == 0 { x } else { &self.acts[start - 1] };
            let trains = self.trains(start);
            let dx = if start > first { Some(&mut self.grad_next) } else { input_grad.as_deref_mut() };
            match step {
                Step::Layer(i) => self.layers[i].backward(input, &self.acts[i], dy, dx, trains)?,
                Step::Fused { first: f, fusion } => fusion::backward(&mut self.layers, f, fusion, input, &self.acts[end], dy, dx, trains)?,
            }
            std::mem::swap(&mut self.grad_cur, &mut self.grad_next);
        }
        Ok(())
    }

    /// Sets every parameter gradient to zero.
    pub fn zero_grad(&mut self) {
        self.for_each_param_mut(|_, _, p| p.zero_grad());
    }

    /// The parameter visitor (read-only): `(layer index, parameter)` in state-dict order.
    pub fn for_each_param(&self, mut f: impl FnMut(usize, &Param)) {
        for (i, layer) in self.layers.iter().enumerate() {
            for p in layer.params() {
                f(i, p);
            }
        }
    }

    /// The parameter visitor: `(layer index, learning-rate factor, parameter)` in state-dict
    /// order. The optimizer, checkpoints, freezing and gradient checks all walk through it.
    pub fn for_each_param_mut(&mut self, mut f: impl FnMut(usize, f32, &mut Param)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            for p in layer.params_mut() {
                f(i, self.lr_factors[i], p);
            }
        }
    }

    /// Sets layer `layer`'s learning-rate factor (0 freezes it).
    pub fn set_lr_factor(&mut self, layer: usize, factor: f32) -> Result<()> {
        if layer >= self.layers.len() || !factor.is_finite() || factor < 0.0 {
            return Err(Error::config(format!("learning-rate factor {factor} for layer {layer} of {}", self.layers.len())));
        }
        self.lr_factors[layer] = factor;
        Ok(())
    }

    /// Learning-rate factors per layer.
    pub fn lr_factors(&self) -> &[f32] {
        &self.lr_factors
    }

    /// Freezes the first `n` layers (learning-rate factor 0).
    pub fn freeze_first(&mut self, n: usize) -> Result<()> {
        if n > self.layers.len() {
            return Err(Error::config(format!("cannot freeze {n} layers of a {}-layer network", self.layers.len())));
        }
        for i in 0..n {
            self.lr_factors[i] = 0.0;
        }
        Ok(())
    }

    /// Number of trainable values.
    pub fn trainable_count(&self) -> usize {
        let mut n = 0;
        self.for_each_param(|_, p| n += if p.is_trainable() { p.value.len() } else { 0 });
        n
    }

    /// Forward FLOPs per sample (multiply-add = 2), conv and dense layers.
    pub fn flops(&self) -> usize {
        self.layers.iter().map(|l| l.flops()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::compare;
    use crate::network::arch::BUILTIN_NAMES;
    use crate::network::loss::SoftmaxCrossEntropy;

    /// Parameter counts, worked by hand:
    /// small: conv 4·9+4 = 40, BN 4·4 = 16 (8 trainable + 8 running), conv 4·36+4 = 148,
    ///        BN 16, dense 196·10+10 = 1970 → 2190.
    /// lenet: 20·25+20 = 520, 50·500+50 = 25 050, 800·500+500 = 400 500, 500·10+10 = 5010 → 431 080.
    /// keras: 320 + 18 496 + 73 856 + 1152·512+512 = 590 336 + 5130 → 688 138.
    /// scratch24: 24·9+24 = 240, 13·13·24·10+10 = 40 570 → 40 810.
    #[test]
    fn builtin_parameter_counts() {
        let count = |name: &str| {
            let m = Sequential::new(&Architecture::builtin(name).unwrap(), 0).unwrap();
            let mut n = 0;
            m.for_each_param(|_, p| n += p.value.len());
            n
        };
        assert_eq!(count("small"), 2190);
        assert_eq!(count("lenet"), 431_080);
        assert_eq!(count("keras"), 688_138);
        assert_eq!(count("scratch24"), 40_810);
        for name in BUILTIN_NAMES {
            let m = Sequential::new(&Architecture::builtin(name).unwrap(), 0).unwrap();
            assert!(m.summary().contains("Total params"), "{name}");
        }
    }

    /// A chunked eval forward gives the per-image outputs, up to float rounding: the GEMM
    /// kernel's blocking depends on the number of rows, which changes the summation order of
    /// the dense layer by a few ulps (measured ≤ 2e-6 here; 1e-5 relative allowed).
    #[test]
    fn chunked_eval_matches_small_batches() {
        let mut m = Sequential::new(&Architecture::builtin("small").unwrap(), 1).unwrap();
        let n = EVAL_CHUNK * 2 + 5;
        let x = Tensor::random(&[n, 1, 28, 28], 3);
        let all = m.forward(&x, Mode::Eval).unwrap().clone();
        assert_eq!(all.shape(), &[n, 10]);
        for i in [0, EVAL_CHUNK, n - 1] {
            let xi = Tensor::from_vec(&[1, 1, 28, 28], x.sample(i).to_vec()).unwrap();
            let yi = m.forward(&xi, Mode::Eval).unwrap();
            for (a, b) in yi.data.iter().zip(all.sample(i)) {
                assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
            }
        }
    }

    /// In eval mode `keras` fuses its convolutions (two Winograd, one im2col) with the ReLU and
    /// pool after them, `lenet` its convolutions (im2col, Winograd F(4×4, 5×5)) with the pool after them,
    /// `scratch8` its im2col convolution with ReLU and pool, and `small` its convolutions (tap
    /// by tap) with the batch norm (folded into the weights; its statistics made non-trivial
    /// here), ReLU and pool after them; the logits match the layers run one by one, chunked
    /// or not, and backward needs a training forward.
    #[test]
    fn fused_eval_matches_layer_by_layer() {
        for (name, relu) in [("keras", true), ("lenet", false), ("scratch8", true), ("small", true)] {
            check_fused_eval(name, relu);
        }
    }

    fn check_fused_eval(name: &str, relu: bool) {
        let mut m = Sequential::new(&Architecture::builtin(name).unwrap(), 2).unwrap();
        let convs: Vec<usize> = (0..m.layers.len()).filter(|&i| m.layers[i].kind() == "Conv2d").collect();
        let with_bn = name == "small";
        assert!(
            convs.iter().all(|&i| match m.plan.at(i) {
                Some(Fusion::ConvMaxPool { relu: r, .. }) => r == relu && !with_bn,
                Some(Fusion::ConvBnMaxPool { relu: r, .. }) => r == relu && with_bn,
                _ => false,
            }),
            "{name}: every convolution is followed by a pool"
        );
        let mut rng = crate::init::Rng::new(12);
        for layer in m.layers.iter_mut().filter(|l| l.kind() == "BatchNorm2d") {
            crate::layers::batch_norm::tests::randomise(layer.as_mut(), &mut rng);
        }
        let n = EVAL_CHUNK + 3;
        let x = Tensor::random(&[n, 1, 28, 28], 4);
        let fused = m.forward(&x, Mode::Eval).unwrap().clone();
        assert!(m.fused_last());
        let mut dl = Tensor::default();
        dl.resize(n, &[10]);
        assert!(m.backward(&x, &dl).is_err(), "backward after a fused forward is an error");
        let whole = m.forward_keeping_activations(&x).unwrap().clone();
        assert!(!m.fused_last());
        for (a, b) in fused.data.iter().zip(&whole.data) {
            assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{name}: {a} vs {b}");
        }
        let x1 = Tensor::from_vec(&[1, 1, 28, 28], x.sample(n - 1).to_vec()).unwrap();
        let one = m.forward(&x1, Mode::Eval).unwrap().clone();
        for (a, b) in one.data.iter().zip(whole.sample(n - 1)) {
            assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{name}: {a} vs {b}");
        }
        // A training forward makes backward possible again.
        m.forward(&x, Mode::Train).unwrap();
        m.backward(&x, &dl).unwrap();
    }

    /// A single image's eval logits are the same bits on one thread as on two, for the
    /// built-in architectures and the built-in classifier's (batch norm folded, statistics
    /// made non-trivial): `predict` and the library run the engine on every core, a Ray worker
    /// on one, and their answers must agree exactly (`python/tests/test_ray.py`). Covers the
    /// lowerings a single image takes (tap by tap, im2col split across threads or not,
    /// Winograd single-image).
    #[test]
    fn single_image_logits_do_not_depend_on_the_thread_count() {
        let digits = Architecture::from_json(include_str!("../../models/digits-arch.json"), "digits-arch.json").unwrap();
        let archs = ["small", "lenet", "keras", "scratch8"].map(|name| Architecture::builtin(name).unwrap());
        for arch in archs.into_iter().chain([digits]) {
            let mut m = Sequential::new(&arch, 5).unwrap();
            let mut rng = crate::init::Rng::new(13);
            for layer in m.layers.iter_mut().filter(|l| l.kind() == "BatchNorm2d") {
                crate::layers::batch_norm::tests::randomise(layer.as_mut(), &mut rng);
            }
            let x = Tensor::random(&[1, 1, 28, 28], 14);
            let mut logits = Vec::new();
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                logits.push(pool.install(|| m.forward(&x, Mode::Eval).unwrap().data.clone()));
            }
            assert_eq!(logits[0], logits[1], "{}: one thread and two", arch.name);
        }
    }

    /// In training a ReLU followed by max pooling runs as one pass, and a convolution followed
    /// by (a ReLU and) a 2×2 max pool too; outputs, parameter gradients and the input
    /// gradient equal those of the layers run one by one (the whole-network gradient checks
    /// below run them unfused, with frozen patterns). Covers a ReLU after batch norm (`small`),
    /// after Winograd convolutions and an im2col one fused (`keras`), convolution → pool
    /// (`lenet`, im2col and Winograd F(4×4, 5×5)), a general 3×3/2 pool, and a ReLU as the very first layer
    /// with the input gradient asked for.
    #[test]
    fn fused_relu_max_pool_training_matches_layer_by_layer() {
        let mut first_relu = Architecture::builtin("small").unwrap();
        first_relu.layers.insert(0, LayerSpec::Relu);
        first_relu.layers.insert(
            1,
            LayerSpec::MaxPool2d {
                kernel: crate::network::arch::Size2::Square(3),
                stride: Some(crate::network::arch::Size2::Square(2)),
                padding: Default::default(),
            },
        );
        first_relu.layers.insert(
            2,
            LayerSpec::Conv2d {
                out_channels: 2,
                kernel: crate::network::arch::Size2::Square(3),
                stride: crate::network::arch::Size2::Square(1),
                padding: crate::kernels::geometry::Padding::Uniform(4),
                dilation: crate::network::arch::Size2::Square(1),
                bias: true,
            },
        );
        let archs = ["keras", "small", "lenet", "scratch8"].map(|name| Architecture::builtin(name).unwrap());
        for arch in archs.into_iter().chain([first_relu]) {
            let n = 5;
            let x = Tensor::random(&[n, 1, 28, 28], 7);
            let dl = Tensor::random(&[n, 10], 8);
            let run = |fuse: bool| {
                let mut m = Sequential::new(&arch, 3).unwrap();
                m.forward_layers(&x, Mode::Train, fuse).unwrap();
                let fused_any = m.steps.iter().any(|s| matches!(s, Step::Fused { .. }));
                assert_eq!(fused_any, fuse, "{}", arch.name);
                let out = m.output().clone();
                let mut dx = Tensor::default();
                m.backward_with_input_grad(&x, &dl, &mut dx).unwrap();
                let mut grads = Vec::new();
                m.for_each_param(|_, p| grads.extend_from_slice(&p.grad));
                (out.data, grads, dx.data)
            };
            let (fused, plain) = (run(true), run(false));
            assert!(fused.1.iter().any(|&g| g != 0.0) && fused.2.iter().any(|&g| g != 0.0));
            assert!(fused == plain, "{}: fused and layer-by-layer training differ", arch.name);
        }
    }

    #[test]
    fn same_seed_same_weights() {
        let a = Architecture::builtin("lenet").unwrap();
        let (m1, m2, m3) = (Sequential::new(&a, 5).unwrap(), Sequential::new(&a, 5).unwrap(), Sequential::new(&a, 6).unwrap());
        let values = |m: &Sequential| {
            let mut v = Vec::new();
            m.for_each_param(|_, p| v.extend_from_slice(&p.value));
            v
        };
        assert_eq!(values(&m1), values(&m2));
        assert_ne!(values(&m1), values(&m3));
    }

    #[test]
    fn mismatched_architectures_are_errors() {
        let mut a = Architecture::builtin("lenet").unwrap();
        a.layers.pop(); // ends in 500 outputs, not 10
        assert!(Sequential::new(&a, 0).is_err());
        let mut a = Architecture::builtin("lenet").unwrap();
        a.input = [1, 8, 8]; // 5×5 → 4×4 → pool 2×2 → 5×5 conv does not fit
        let e = Sequential::new(&a, 0).err().unwrap().to_string();
        assert!(e.contains("layer 2"), "{e}");
        let mut m = Sequential::new(&Architecture::builtin("small").unwrap(), 0).unwrap();
        assert!(m.forward(&Tensor::zeros(&[2, 1, 27, 28]), Mode::Eval).is_err());
    }

    /// End-to-end gradient check of a whole network with the cross-entropy loss, for the input
    /// and a sample of every trainable tensor.
    ///
    /// A first-layer weight moves thousands of pre-activations at once, so any step h large
    /// enough to rise above f32 rounding crosses some ReLU or max-pool kink (measured: 2–5
    /// crossings per entry at h = 1e-3 for `small` and `lenet`). The check therefore freezes
    /// the piecewise pattern (ReLU signs, max-pool arg-maxes) of the point being checked: the
    /// frozen network is smooth and has the same value and gradient there, so its central
    /// differences must match the analytic gradient with the ordinary tolerance, no entry
    /// skipped.
    fn check_network(name: &str, batch: usize, seed: u64) {
        check_arch(&Architecture::builtin(name).unwrap(), batch, seed);
    }

    fn check_arch(arch: &Architecture, batch: usize, seed: u64) {
        let name = arch.name.as_str();
        let arch = arch.clone();
        let mut m = Sequential::new(&arch, seed).unwrap();
        // Random biases so no unit sits exactly at a kink for every input.
        let mut rng = Rng::new(seed);
        m.for_each_param_mut(|_, _, p| {
            if p.name == "bias" {
                p.value.iter_mut().for_each(|v| *v = rng.uniform(-0.1, 0.1));
            }
        });
        let [c, h, w] = arch.input;
        let x = Tensor::random(&[batch, c, h, w], seed + 1);
        let labels: Vec<u8> = (0..batch).map(|i| (i * 3 % arch.outputs()) as u8).collect();
        let mut loss = SoftmaxCrossEntropy::new(arch.outputs(), None).unwrap();
        let mut dlogits = Tensor::default();
        m.zero_grad();
        let logits = m.forward(&x, Mode::Train).unwrap().clone();
        loss.forward_backward(&logits, &labels, Some(&mut dlogits)).unwrap();
        let mut dx = Tensor::default();
        m.backward_with_input_grad(&x, &dlogits, &mut dx).unwrap();

        for l in m.layers_mut() {
            l.set_frozen_pattern(true);
        }
        let frozen_logits = m.forward(&x, Mode::Train).unwrap().clone();
        assert_eq!(frozen_logits.data, logits.data, "freezing changes nothing at the recorded point");
        let mut eval = |m: &mut Sequential, x: &Tensor| {
            let logits = m.forward(x, Mode::Train).unwrap().clone();
            loss.forward_backward(&logits, &labels, None).unwrap().loss
        };
        // Parameters, tensor by tensor.
        let mut grads = Vec::new();
        m.for_each_param(|i, p| {
            if p.is_trainable() {
                grads.push((i, p.name, p.grad.clone()));
            }
        });
        for (pi, (layer, name, grad)) in grads.iter().enumerate() {
            compare(&format!("layer {layer} {name}"), grad, |e, d| {
                let mut k = 0;
                m.for_each_param_mut(|_, _, p| {
                    if p.is_trainable() {
                        if k == pi {
                            p.value[e] += d;
                        }
                        k += 1;
                    }
                });
                let l = eval(&mut m, &x);
                let mut k = 0;
                m.for_each_param_mut(|_, _, p| {
                    if p.is_trainable() {
                        if k == pi {
                            p.value[e] -= d;
                        }
                        k += 1;
                    }
                });
                l
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        // The input, through every layer's ∂L/∂x.
        let mut xp = x.clone();
        compare("network input", &dx.data, |e, d| {
            let keep = xp.data[e];
            xp.data[e] += d;
            let l = eval(&mut m, &xp);
            xp.data[e] = keep;
            l
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    /// A smooth network (tanh, average pooling) has no kinks even without freezing: this
    /// pins the composition of conv (stride, padding, dilation), batch norm, pooling, flatten,
    /// dense and the loss without any allowance.
    #[test]
    fn smooth_network_gradients_without_kink_allowance() {
        let text = r#"{"name": "smooth", "input": [1, 12, 12], "classes": ["a","b","c"],
            "layers": [{"type": "conv2d", "out_channels": 3, "kernel": 3, "padding": 1, "dilation": 2},
                       {"type": "batch_norm"}, {"type": "tanh"},
                       {"type": "avg_pool2d", "kernel": 2},
                       {"type": "conv2d", "out_channels": 4, "kernel": 3, "stride": 2, "padding": "same"},
                       {"type": "sigmoid"}, {"type": "flatten"},
                       {"type": "dense", "out_features": 6}, {"type": "batch_norm"}, {"type": "leaky_relu", "slope": 1.0},
                       {"type": "dense", "out_features": 3}]}"#;
        let arch = Architecture::from_json(text, "smooth").unwrap();
        check_arch(&arch, 3, 7);
    }

    #[test]
    fn small_network_gradients() {
        check_network("small", 4, 1);
    }

    #[test]
    fn lenet_network_gradients() {
        check_network("lenet", 2, 2);
    }

    /// Frozen layers: no gradient work, and the optimizer never touches them.
    #[test]
    fn frozen_layers_get_no_gradient() {
        let arch = Architecture::builtin("lenet").unwrap();
        let mut m = Sequential::new(&arch, 3).unwrap();
        m.freeze_first(4).unwrap();
        let x = Tensor::random(&[3, 1, 28, 28], 4);
        let logits = m.forward(&x, Mode::Train).unwrap().clone();
        let mut loss = SoftmaxCrossEntropy::new(10, None).unwrap();
        let mut d = Tensor::default();
        loss.forward_backward(&logits, &[1, 2, 3], Some(&mut d)).unwrap();
        m.zero_grad();
        m.backward(&x, &d).unwrap();
        m.for_each_param(|i, p| {
            let nonzero = p.grad.iter().any(|&g| g != 0.0);
            assert_eq!(nonzero, i >= 4, "layer {i} {}", p.name);
        });
    }
}
