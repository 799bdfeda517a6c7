//! Layers: the `Layer` trait, train/eval mode, parameters, and the backward contract.
//!
//! # The backward contract (written once, followed by every layer)
//!
//! * `forward(x, y, mode)` writes `y` (resizing it to `[N] ++ output_shape`) and caches in the
//!   layer what its backward needs (masks, arg-max indices, normalised values, im2col columns).
//! * `backward(x, y, dy, dx, param_grads)` is called after the matching `forward` with the same
//!   `x` and `y`. It **overwrites** `dx` with ∂L/∂x (when `dx` is `Some`) and **adds** ∂L/∂θ
//!   into each parameter's `grad` (when `param_grads` is true). Gradients are zeroed explicitly,
//!   by [`Param::zero_grad`], never implicitly.
//! * `mode` is an argument, not hidden state: `Mode::Train` uses batch statistics and dropout
//!   masks, `Mode::Eval` running statistics and the identity.
//! * Buffers are resized in place, so once a batch size has been seen, neither call allocates.

pub mod activation;
pub mod batch_norm;
pub mod conv2d;
pub mod dense;
pub mod dropout;
pub mod flatten;
pub mod gradcheck;
pub mod pool;

pub use activation::{Activation, ActivationKind};
pub use batch_norm::BatchNorm;
pub use conv2d::Conv2d;
pub use dense::Dense;
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use pool::{Pool2d, PoolKind};

use crate::error::Result;
use crate::tensor::Tensor;

/// Training or inference behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics, dropout active, caches for backward.
    Train,
    /// Running statistics, dropout is the identity.
    Eval,
}

/// A learnable parameter or a persistent buffer (running statistics), with its gradient.
#[derive(Clone, Debug)]
pub struct Param {
    /// The PyTorch state-dict suffix: `weight`, `bias`, `running_mean`, `running_var`.
    pub name: &'static str,
    /// The tensor shape in PyTorch's layout (conv `[out, in, kh, kw]`, dense `[out, in]`).
    pub shape: Vec<usize>,
    /// Current values.
    pub value: Vec<f32>,
    /// ∂L/∂value, accumulated by backward; empty for buffers that are not trained.
    pub grad: Vec<f32>,
}

impl Param {
    /// A trainable parameter initialised to zero.
    pub fn trainable(name: &'static str, shape: &[usize]) -> Self {
        let n = shape.iter().product();
        Param { name, shape: shape.to_vec(), value: vec![0.0; n], grad: vec![0.0; n] }
    }

    /// A buffer (saved with the model, not trained) with every value `fill`.
    pub fn buffer(name: &'static str, shape: &[usize], fill: f32) -> Self {
        let n = shape.iter().product();
        Param { name, shape: shape.to_vec(), value: vec![fill; n], grad: Vec::new() }
    }

    /// True for parameters the optimizer updates.
    pub fn is_trainable(&self) -> bool {
        !self.grad.is_empty()
    }

    /// Sets the gradient to zero; a large one (a dense weight) in one slice per thread.
    pub fn zero_grad(&mut self) {
        use rayon::prelude::*;
        const MIN_SLICE: usize = 1 << 16;
        if self.grad.len() <= MIN_SLICE {
            // A bias or a small kernel: not worth a hand-off between threads.
            self.grad.fill(0.0);
            return;
        }
        let slice = self.grad.len().div_ceil(rayon::current_num_threads()).max(MIN_SLICE);
        self.grad.par_chunks_mut(slice).for_each(|g| g.fill(0.0));
    }
}

/// One layer of a sequential network. Shapes are per sample (no batch dimension) and fixed at
/// construction from the input shape, so a wrong input is caught before any work is done.
///
/// Layers know nothing of each other: a network that runs some of them as one pass (a
/// convolution with the pool after it) does so by its own fusion plan, through the kernels in
/// [`crate::kernels`], and finds the concrete layers it fuses through [`AsAny`].
pub trait Layer: Send + Sync + AsAny {
    /// Short type name for summaries (`Conv2d`, `MaxPool2d`, …).
    fn kind(&self) -> &'static str;

    /// The configuration in a few words, for summaries (`32, 3×3, same`).
    fn describe(&self) -> String {
        String::new()
    }

    /// Per-sample input shape.
    fn input_shape(&self) -> &[usize];

    /// Per-sample output shape.
    fn output_shape(&self) -> &[usize];

    /// Computes `y` from `x`; see the module documentation for the contract.
    fn forward(&mut self, x: &Tensor, y: &mut Tensor, mode: Mode) -> Result<()>;

    /// Back-propagates `dy`; see the module documentation for the contract.
    fn backward(&mut self, x: &Tensor, y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, param_grads: bool) -> Result<()>;

    /// Parameters and buffers, in state-dict order.
    fn params(&self) -> &[Param] {
        &[]
    }

    /// Mutable parameters and buffers, in state-dict order.
    fn params_mut(&mut self) -> &mut [Param] {
        &mut []
    }

    /// For gradient checks of whole networks: while frozen, a piecewise layer (ReLU, leaky
    /// ReLU, max pooling, dropout) records its pattern (signs, arg-maxes, mask) at the first
    /// forward and reuses it afterwards, so the network becomes a smooth function that agrees
    /// with the real one, value and gradient, at the recorded point. Unfreezing forgets it.
    fn set_frozen_pattern(&mut self, _frozen: bool) {}

    /// The layer's own random generator, if it draws randomness (dropout masks), so training
    /// checkpoints can save and restore it.
    fn rng(&mut self) -> Option<&mut crate::init::Rng> {
        None
    }

    /// Forward floating-point operations per sample (multiply-add = 2); 0 where negligible.
    fn flops(&self) -> usize {
        0
    }
}

/// Access to a layer's concrete type (`layer.as_any_mut().downcast_mut::<Conv2d>()`), for
/// code that treats some layers specially; implemented for every layer type.
pub trait AsAny {
    fn as_any(&self) -> &dyn std::any::Any;
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

impl<T: std::any::Any> AsAny for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Checks the input of `layer` and returns the batch size.
pub(crate) fn check_input(layer: &dyn Layer, x: &Tensor) -> Result<usize> {
    x.check_sample_shape(layer.input_shape(), layer.kind())?;
    Ok(x.batch())
}

/// Checks that `dy` has the output shape for batch `n` and that `y` matches it.
pub(crate) fn check_grad(layer: &dyn Layer, x: &Tensor, dy: &Tensor) -> Result<usize> {
    let n = check_input(layer, x)?;
    dy.check_sample_shape(layer.output_shape(), layer.kind())?;
    if dy.batch() != n {
        let mut want = vec![n];
        want.extend_from_slice(layer.output_shape());
        return Err(crate::error::Error::Shape { context: format!("{} backward: dy", layer.kind()), expected: want, found: dy.shape().to_vec() });
    }
    Ok(n)
}
