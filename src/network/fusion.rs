//! The fusion plan: which runs of layers a [`Sequential`](super::Sequential) executes as one pass,
//! and the fused passes themselves (each a call into [`crate::kernels`]).
//!
//! The plan is made once, from the layer list:
//! * a convolution followed by a 2×2, stride-2 max pool, directly or after a ReLU, runs as
//!   [`ConvKernel::forward_pooled`](crate::kernels::conv::ConvKernel::forward_pooled): the
//!   convolution's full output never reaches memory. In training every window's choice is
//!   recorded, and the backward spreads the pooled gradient back from them.
//! * a ReLU followed by a max pool (any window) runs as the max pool of `max(0, x)` (the two
//!   commute), the pool's arg-maxes serving both backwards.
//! * in inference only, a convolution followed by a batch norm, a ReLU (or not) and a 2×2,
//!   stride-2 max pool runs as the pooled convolution above with the batch norm's eval-mode
//!   affine map folded into its weights ([`Conv2d::forward_pooled_affine`]); in training the
//!   batch norm needs the convolution's output (its batch statistics), so the layers run one
//!   by one there (the ReLU and pool still as one pass).
//!
//! At run time a fusion is taken when it is exact for the pass at hand: not while a gradient
//! check freezes the layers' piecewise patterns (the pool then runs as itself), and not for
//! frozen layers that run in inference mode inside a training pass. (A single image through a
//! lowered convolution in inference splits its output channels across threads, each thread
//! pooling its own.) What ran is recorded as [`Step`]s, which the backward walks in reverse.
//! Every fused pass is tested against the layers run one by one.

use crate::error::Result;
use crate::kernels::conv::OutputGrad;
use crate::kernels::pool::{max_pool, max_pool_backward};
use crate::layers::{check_grad, check_input, BatchNorm, Conv2d, Layer, Mode, Pool2d};
use crate::network::arch::LayerSpec;
use crate::tensor::Tensor;

/// A run of layers that may execute as one pass, starting at the layer it is recorded for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // every fusion so far ends in a max pool
pub(crate) enum Fusion {
    /// This convolution, a ReLU if `relu`, and the 2×2, stride-2 max pool at layer `pool`.
    ConvMaxPool { relu: bool, pool: usize },
    /// This convolution, the batch norm after it, a ReLU if `relu`, and the 2×2, stride-2 max
    /// pool at layer `pool`: inference only.
    ConvBnMaxPool { relu: bool, pool: usize },
    /// This ReLU and the max pool right after it.
    ReluMaxPool,
}

/// One step of a forward pass, as it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Layer `i` on its own.
    Layer(usize),
    /// The layers from `first` through the end of `fusion` as one pass.
    Fused { first: usize, fusion: Fusion },
}

impl Step {
    /// The first and last layer of this step.
    pub fn span(self) -> (usize, usize) {
        match self {
            Step::Layer(i) => (i, i),
            Step::Fused { first, fusion: Fusion::ConvMaxPool { pool, .. } | Fusion::ConvBnMaxPool { pool, .. } } => (first, pool),
            Step::Fused { first, fusion: Fusion::ReluMaxPool } => (first, first + 1),
        }
    }
}

/// The fusions a layer list allows, per starting layer.
#[derive(Clone, Debug)]
pub(crate) struct FusionPlan {
    at: Vec<Option<Fusion>>,
}

impl FusionPlan {
    /// Looks at the layer list once.
    pub fn new(layers: &[LayerSpec]) -> Self {
        let pool_2x2 = |spec: &LayerSpec| matches!(spec, LayerSpec::MaxPool2d { kernel, stride, padding } if kernel.pair() == [2, 2] && stride.unwrap_or(*kernel).pair() == [2, 2] && padding.is_none());
        let at = (0..layers.len())
            .map(|i| match &layers[i..] {
                [LayerSpec::Conv2d { .. }, LayerSpec::BatchNorm, LayerSpec::Relu, pool, ..] if pool_2x2(pool) => {
                    Some(Fusion::ConvBnMaxPool { relu: true, pool: i + 3 })
                }
                [LayerSpec::Conv2d { .. }, LayerSpec::BatchNorm, pool, ..] if pool_2x2(pool) => Some(Fusion::ConvBnMaxPool { relu: false, pool: i + 2 }),
                [LayerSpec::Conv2d { .. }, LayerSpec::Relu, pool, ..] if pool_2x2(pool) => Some(Fusion::ConvMaxPool { relu: true, pool: i + 2 }),
                [LayerSpec::Conv2d { .. }, pool, ..] if pool_2x2(pool) => Some(Fusion::ConvMaxPool { relu: false, pool: i + 1 }),
                [LayerSpec::Relu, LayerSpec::MaxPool2d { .. }, ..] => Some(Fusion::ReluMaxPool),
                _ => None,
            })
            .collect();
        FusionPlan { at }
    }

    /// The fusion that may start at layer `i`.
    pub fn at(&self, i: usize) -> Option<Fusion> {
        self.at.get(i).copied().flatten()
    }
}

/// A `[C, H, W]` shape copied out of a layer (no allocation: these run every step).
fn shape3(s: &[usize]) -> [usize; 3] {
    [s[0], s[1], s[2]]
}

/// The concrete layer behind a trait object.
fn downcast<T: 'static>(layer: &mut dyn Layer) -> Option<&mut T> {
    layer.as_any_mut().downcast_mut::<T>()
}

/// Runs `fusion` starting at layer `first` of `layers` on `x`, writing the output of its last
/// layer into `y`, if it is taken for this pass (`None` when it is not: the caller then runs
/// the layers one by one). `exact_in_mode`: the layers run in the pass's own mode (not frozen
/// layers inside a training pass).
pub(crate) fn try_forward(
    layers: &mut [Box<dyn Layer>],
    first: usize,
    fusion: Fusion,
    x: &Tensor,
    y: &mut Tensor,
    mode: Mode,
    exact_in_mode: bool,
) -> Option<Result<()>> {
    match fusion {
        Fusion::ConvMaxPool { relu, pool } => {
            // The pool must run as itself while its pattern is frozen.
            downcast::<Pool2d>(layers[pool].as_mut())?.max_pool_state()?;
            let conv = downcast::<Conv2d>(layers[first].as_mut())?;
            if !exact_in_mode {
                return None;
            }
            Some(conv_max_pool_forward(conv, x, y, relu, mode))
        }
        Fusion::ConvBnMaxPool { relu, pool } => {
            if mode != Mode::Eval || !exact_in_mode {
                return None;
            }
            downcast::<Pool2d>(layers[pool].as_mut())?.max_pool_state()?;
            let (head, tail) = layers.split_at_mut(first + 1);
            let conv = downcast::<Conv2d>(head[first].as_mut())?;
            let bn = tail[0].as_any().downcast_ref::<BatchNorm>()?;
            if bn.input_shape() != conv.output_shape() {
                return None;
            }
            Some(conv_bn_max_pool_forward(conv, bn, x, y, relu))
        }
        Fusion::ReluMaxPool => relu_max_pool_forward(downcast::<Pool2d>(layers[first + 1].as_mut())?, x, y),
    }
}

/// The backward of a fused step: `x` is the input of its first layer, `y` the output of its
/// last, `dy` that output's gradient; `dx`, if given, gets ∂L/∂x, and the first layer's
/// parameter gradients are added to with `param_grads`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    layers: &mut [Box<dyn Layer>],
    first: usize,
    fusion: Fusion,
    x: &Tensor,
    y: &Tensor,
    dy: &Tensor,
    dx: Option<&mut Tensor>,
    param_grads: bool,
) -> Result<()> {
    let wrong = || crate::error::Error::config("a fused backward met layers of another kind than its forward");
    match fusion {
        // Taken in eval mode only, after which no backward runs (`Sequential::backward`).
        Fusion::ConvBnMaxPool { .. } => {
            Err(crate::error::Error::config("a convolution fused with its batch norm runs in inference only: backward needs a training forward"))
        }
        Fusion::ConvMaxPool { .. } => conv_max_pool_backward(downcast::<Conv2d>(layers[first].as_mut()).ok_or_else(wrong)?, x, dy, dx, param_grads),
        Fusion::ReluMaxPool => match dx {
            Some(dx) => relu_max_pool_backward(downcast::<Pool2d>(layers[first + 1].as_mut()).ok_or_else(wrong)?, x, y, dy, dx),
            None => Ok(()),
        },
    }
}

/// The convolution, a ReLU if `relu`, and a 2×2, stride-2 max pool in one pass:
/// `y[N, OC, ⌊OH/2⌋, ⌊OW/2⌋]`. In training the choices are kept for
/// [`conv_max_pool_backward`].
pub(crate) fn conv_max_pool_forward(conv: &mut Conv2d, x: &Tensor, y: &mut Tensor, relu: bool, mode: Mode) -> Result<()> {
    let n = check_input(conv, x)?;
    let [oc, oh, ow] = [conv.output_shape()[0], conv.output_shape()[1], conv.output_shape()[2]];
    y.resize(n, &[oc, oh / 2, ow / 2]);
    let (kernel, weights, _) = conv.kernel_parts();
    kernel.forward_pooled(weights, &x.data, n, &mut y.data, relu, mode == Mode::Train);
    Ok(())
}

/// Inference through a convolution, the batch norm `bn` after it (eval mode), a ReLU if
/// `relu` and a 2×2, stride-2 max pool: `y[N, OC, ⌊OH/2⌋, ⌊OW/2⌋]`.
pub(crate) fn conv_bn_max_pool_forward(conv: &mut Conv2d, bn: &BatchNorm, x: &Tensor, y: &mut Tensor, relu: bool) -> Result<()> {
    let n = check_input(conv, x)?;
    let [oc, oh, ow] = [conv.output_shape()[0], conv.output_shape()[1], conv.output_shape()[2]];
    y.resize(n, &[oc, oh / 2, ow / 2]);
    conv.forward_pooled_affine(bn.eval_affine(), &x.data, n, &mut y.data, relu);
    Ok(())
}

/// The backward of a training [`conv_max_pool_forward`] on `x`, from the pooled output's
/// gradient `dy`.
pub(crate) fn conv_max_pool_backward(conv: &mut Conv2d, x: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, param_grads: bool) -> Result<()> {
    let n = check_input(conv, x)?;
    let in_shape = shape3(conv.input_shape());
    let dx = dx.map(|dx| {
        dx.resize(n, &in_shape);
        &mut dx.data[..]
    });
    let (kernel, weights, grads) = conv.kernel_parts();
    kernel.backward(weights.weight, &x.data, n, OutputGrad::Pooled(&dy.data), dx, grads.filter(|_| param_grads))
}

/// A ReLU and this max pool in one pass (`y` = the pool's output); `None` when the pool cannot
/// (average pooling, or a frozen pattern).
pub(crate) fn relu_max_pool_forward(pool: &mut Pool2d, x: &Tensor, y: &mut Tensor) -> Option<Result<()>> {
    let n = match check_input(pool, x) {
        Ok(n) => n,
        Err(e) => return Some(Err(e)),
    };
    let out_shape = shape3(pool.output_shape());
    let (geo, argmax) = pool.max_pool_state()?;
    y.resize(n, &out_shape);
    max_pool(&geo, &x.data, &mut y.data, argmax, true);
    Some(Ok(()))
}

/// The backward of [`relu_max_pool_forward`] on the ReLU's input `x`, with the pool's output
/// `y`: `dx = ∂L/∂x` through both layers.
pub(crate) fn relu_max_pool_backward(pool: &mut Pool2d, x: &Tensor, y: &Tensor, dy: &Tensor, dx: &mut Tensor) -> Result<()> {
    let n = check_grad(pool, x, dy)?;
    let in_shape = shape3(pool.input_shape());
    let (geo, argmax) = pool.max_pool_state().ok_or_else(|| crate::error::Error::config("only max pooling runs fused with a ReLU before it"))?;
    dx.resize(n, &in_shape);
    max_pool_backward(&geo, n, argmax, Some(&y.data), &dy.data, &mut dx.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::geometry::{Padding, PaddingName};
    use crate::layers::conv2d::tests::conv;
    use crate::layers::{Activation, ActivationKind, BatchNorm, PoolKind};

    /// The fused inference path equals Conv2d → (ReLU →) MaxPool2d(2×2) run as layers, for
    /// every lowering: Winograd F(4×4, 3×3), F(2×2, 3×3) and F(4×4, 5×5) (odd and even sizes), channels-last
    /// rows, im2col (strided, odd output), tap by tap (and the same with taps off); single
    /// images large enough to split their output channels across threads (tap by tap, im2col
    /// and rows, channel counts that give the threads different shares), each thread pooling
    /// its own; and single images through Winograd.
    #[test]
    fn fused_max_pool_matches_the_layers() {
        let same = Padding::Named(PaddingName::Same);
        let valid = Padding::Uniform(0);
        // (images, input, output channels, kernel, stride, padding, Winograd, rows)
        let cases = [
            (3, [8, 7, 6], 5, [3, 3], 1, same, true, false),
            (3, [16, 14, 14], 5, [3, 3], 1, same, true, false),
            (3, [20, 12, 12], 5, [5, 5], 1, valid, true, false),
            (3, [10, 9, 8], 5, [5, 5], 1, valid, true, false),
            (3, [10, 9, 8], 5, [5, 5], 1, valid, false, true),
            (3, [2, 11, 9], 5, [3, 3], 2, Padding::Uniform(1), false, false),
            (3, [1, 12, 12], 5, [5, 5], 1, valid, false, false),
            (1, [1, 28, 29], 33, [3, 3], 1, same, false, false),
            (1, [8, 21, 20], 17, [3, 3], 1, valid, false, true),
            (1, [20, 12, 12], 50, [5, 5], 1, valid, true, false),
            (1, [32, 15, 14], 40, [3, 3], 1, same, true, false),
            (3, [8, 6, 5], 5, [3, 3], 1, same, true, false),
            (1, [16, 6, 6], 40, [3, 3], 1, same, true, false),
        ];
        for ((i, (n, input, oc, k, s, p, winograd, rows)), taps) in cases.into_iter().enumerate().flat_map(|case| [(case, true), (case, false)]) {
            let mut c = conv(input, oc, k, s, p, 1, true, 9);
            c.set_winograd(winograd);
            c.set_taps(taps);
            assert_eq!(c.uses_winograd(), winograd);
            assert_eq!(c.kernel_parts().0.uses_rows(), rows);
            let splits = n == 1 && !winograd && rayon::current_num_threads() > 1;
            assert_eq!(c.kernel_parts().0.splits_channels(n), splits, "case {i}");
            let x = Tensor::random(&[n, input[0], input[1], input[2]], 10);
            let (mut y, mut r) = (Tensor::default(), Tensor::default());
            c.forward(&x, &mut y, Mode::Eval).unwrap();
            let shape = [oc, c.geometry().out_h, c.geometry().out_w];
            Activation::new(ActivationKind::Relu, &shape).forward(&y, &mut r, Mode::Eval).unwrap();
            for (relu, input) in [(true, &r), (false, &y)] {
                let (mut want, mut got) = (Tensor::default(), Tensor::default());
                Pool2d::new(PoolKind::Max, shape, [2, 2], [2, 2]).unwrap().forward(input, &mut want, Mode::Eval).unwrap();
                conv_max_pool_forward(&mut c, &x, &mut got, relu, Mode::Eval).unwrap();
                assert_eq!(got.shape(), want.shape());
                for (a, w) in got.data.iter().zip(&want.data) {
                    assert!((a - w).abs() < 1e-5, "case {i}, relu {relu}: {a} vs {w}");
                }
            }
        }
    }

    /// Inference through a convolution with a batch norm folded in equals Conv2d → BatchNorm
    /// (eval) → (ReLU →) MaxPool2d(2×2) run as layers, for every lowering: tap by tap, im2col
    /// (strided), rows, Winograd F(4×4, 3×3), F(2×2, 3×3) and F(4×4, 5×5), batches and single images. The
    /// folded weight is reused, and rebuilt when the convolution's weights or the batch
    /// norm's statistics change, and plain passes in between see the layer's own weights.
    #[test]
    fn folded_batch_norm_matches_the_layers() {
        let same = Padding::Named(PaddingName::Same);
        let valid = Padding::Uniform(0);
        // (images, input, output channels, kernel, stride, padding, taps, Winograd, rows)
        let cases = [
            (3, [1, 12, 11], 5, [3, 3], 1, same, true, false, false),
            (1, [4, 14, 14], 4, [3, 3], 1, Padding::Uniform(1), true, false, false),
            (3, [2, 11, 9], 5, [3, 3], 2, Padding::Uniform(1), false, false, false),
            (3, [10, 9, 8], 5, [5, 5], 1, valid, false, false, true),
            (3, [8, 7, 6], 5, [3, 3], 1, same, false, true, false),
            (3, [8, 6, 6], 5, [3, 3], 1, same, false, true, false),
            (1, [16, 10, 10], 6, [5, 5], 1, valid, false, true, false),
        ];
        let mut rng = crate::init::Rng::new(4);
        for (i, (n, input, oc, k, s, p, taps, winograd, rows)) in cases.into_iter().enumerate() {
            let mut c = conv(input, oc, k, s, p, 1, true, 9);
            c.set_winograd(winograd);
            assert_eq!(c.kernel_parts().0.uses_rows(), rows, "case {i}");
            assert_eq!(c.kernel_parts().0.runs_taps(3), taps, "case {i}");
            let shape = [oc, c.geometry().out_h, c.geometry().out_w];
            let mut bn = BatchNorm::new(&shape).unwrap();
            let x = Tensor::random(&[n, input[0], input[1], input[2]], 10 + i as u64);
            for round in 0..4 {
                if round == 0 || round == 3 {
                    crate::layers::batch_norm::tests::randomise(&mut bn, &mut rng);
                }
                if round == 2 {
                    c.params_mut()[0].value.iter_mut().for_each(|w| *w *= -0.5);
                }
                let (mut y, mut b, mut r) = (Tensor::default(), Tensor::default(), Tensor::default());
                c.forward(&x, &mut y, Mode::Eval).unwrap();
                bn.forward(&y, &mut b, Mode::Eval).unwrap();
                Activation::new(ActivationKind::Relu, &shape).forward(&b, &mut r, Mode::Eval).unwrap();
                for (relu, input) in [(true, &r), (false, &b)] {
                    let (mut want, mut got) = (Tensor::default(), Tensor::default());
                    Pool2d::new(PoolKind::Max, shape, [2, 2], [2, 2]).unwrap().forward(input, &mut want, Mode::Eval).unwrap();
                    conv_bn_max_pool_forward(&mut c, &bn, &x, &mut got, relu).unwrap();
                    assert_eq!(got.shape(), want.shape());
                    for (a, w) in got.data.iter().zip(&want.data) {
                        assert!((a - w).abs() <= 1e-4 * w.abs().max(1.0), "case {i}, round {round}, relu {relu}: {a} vs {w}");
                    }
                }
            }
        }
    }

    /// Training through a convolution fused with (ReLU and) max pooling gives the layers'
    /// outputs, parameter gradients and input gradient exactly: im2col (odd sizes, stride 2),
    /// rows, a single channel, and Winograd F(4×4, 3×3), F(2×2, 3×3) and F(4×4, 5×5) (odd sizes, a batch
    /// that splits into uneven chunks).
    #[test]
    fn fused_max_pool_training_matches_the_layers() {
        let same = Padding::Named(PaddingName::Same);
        // (input, kernel, stride, padding, Winograd)
        let cases = [
            ([2, 11, 9], [3, 3], 2, Padding::Uniform(1), false),
            ([10, 9, 8], [5, 5], 1, Padding::Uniform(0), false),
            ([1, 12, 12], [5, 5], 1, Padding::Uniform(0), false),
            ([8, 7, 6], [3, 3], 1, same, true),
            ([8, 6, 5], [3, 3], 1, same, true),
            ([20, 12, 12], [5, 5], 1, Padding::Uniform(0), true),
            ([10, 9, 8], [5, 5], 1, Padding::Uniform(0), true),
        ];
        for (i, (input, k, s, p, winograd)) in cases.into_iter().enumerate() {
            for relu in [true, false] {
                let x = Tensor::random(&[3, input[0], input[1], input[2]], 20 + i as u64);
                let (mut plain, mut fused) = (conv(input, 5, k, s, p, 1, true, 9), conv(input, 5, k, s, p, 1, true, 9));
                plain.set_winograd(winograd);
                fused.set_winograd(winograd);
                assert_eq!(fused.uses_winograd(), winograd);
                let shape = [5, plain.geometry().out_h, plain.geometry().out_w];
                let mut act = Activation::new(ActivationKind::Relu, &shape);
                let mut pool = Pool2d::new(PoolKind::Max, shape, [2, 2], [2, 2]).unwrap();
                // Layer by layer.
                let (mut y, mut r, mut want) = (Tensor::default(), Tensor::default(), Tensor::default());
                plain.forward(&x, &mut y, Mode::Train).unwrap();
                let pooled_input = if relu {
                    act.forward(&y, &mut r, Mode::Train).unwrap();
                    &r
                } else {
                    &y
                };
                pool.forward(pooled_input, &mut want, Mode::Train).unwrap();
                let dp = Tensor::random(want.shape(), 30 + i as u64);
                let (mut dpool, mut dconv, mut dx_want) = (Tensor::default(), Tensor::default(), Tensor::default());
                pool.backward(pooled_input, &want, &dp, Some(&mut dpool), true).unwrap();
                if relu {
                    act.backward(&y, &r, &dpool, Some(&mut dconv), true).unwrap();
                } else {
                    dconv = dpool;
                }
                plain.backward(&x, &y, &dconv, Some(&mut dx_want), true).unwrap();
                // Fused.
                let (mut got, mut dx_got) = (Tensor::default(), Tensor::default());
                conv_max_pool_forward(&mut fused, &x, &mut got, relu, Mode::Train).unwrap();
                conv_max_pool_backward(&mut fused, &x, &dp, Some(&mut dx_got), true).unwrap();
                assert_eq!(got.data, want.data, "case {i}, relu {relu}: forward");
                assert_eq!(dx_got.data, dx_want.data, "case {i}, relu {relu}: input gradient");
                for (a, b) in fused.params().iter().zip(plain.params()) {
                    assert_eq!(a.grad, b.grad, "case {i}, relu {relu}: {} gradient", a.name);
                }
                assert!(dx_got.data.iter().any(|&v| v != 0.0));
                // A second backward without a new forward is still valid (the choices are
                // kept); a mismatched gradient shape is an error, not a panic.
                let mut dx_again = Tensor::default();
                conv_max_pool_backward(&mut fused, &x, &dp, Some(&mut dx_again), false).unwrap();
                assert_eq!(dx_again.data, dx_want.data, "case {i}, relu {relu}: second backward");
                // Nor does a plain forward of the same input in between lose the choices.
                fused.forward(&x, &mut Tensor::default(), Mode::Train).unwrap();
                conv_max_pool_backward(&mut fused, &x, &dp, Some(&mut dx_again), false).unwrap();
                assert_eq!(dx_again.data, dx_want.data, "case {i}, relu {relu}: backward after a plain forward");
                assert!(conv_max_pool_backward(&mut fused, &x, &Tensor::zeros(&[2, 5, 1, 1]), None, true).is_err());
            }
        }
    }

    /// A ReLU and a max pool run as one pass equal the two layers one after the other,
    /// on inputs with ties, zeros, all-negative windows and a NaN; both pool paths (2×2/2 and
    /// 3×3/2). Average pooling does not fuse.
    #[test]
    fn fused_relu_matches_relu_then_pool() {
        for (k, s) in [(2, 2), (3, 2)] {
            let mut x = Tensor::random(&[2, 3, 9, 8], 11);
            x.data.iter_mut().step_by(7).for_each(|v| *v = 0.0);
            x.data.iter_mut().step_by(11).for_each(|v| *v = -0.25);
            x.data[5] = f32::NAN;
            let dy = Tensor::random(&[2, 3, (9 - k) / s + 1, (8 - k) / s + 1], 12);
            let mut relu = Activation::new(ActivationKind::Relu, &[3, 9, 8]);
            let (mut r, mut y, mut dr, mut dx) = (Tensor::default(), Tensor::default(), Tensor::default(), Tensor::default());
            relu.forward(&x, &mut r, Mode::Train).unwrap();
            let mut p = Pool2d::new(PoolKind::Max, [3, 9, 8], [k, k], [s, s]).unwrap();
            p.forward(&r, &mut y, Mode::Train).unwrap();
            p.backward(&r, &y, &dy, Some(&mut dr), true).unwrap();
            relu.backward(&x, &r, &dr, Some(&mut dx), true).unwrap();

            let mut fused = Pool2d::new(PoolKind::Max, [3, 9, 8], [k, k], [s, s]).unwrap();
            let (mut fy, mut fdx) = (Tensor::default(), Tensor::default());
            relu_max_pool_forward(&mut fused, &x, &mut fy).unwrap().unwrap();
            relu_max_pool_backward(&mut fused, &x, &fy, &dy, &mut fdx).unwrap();
            assert_eq!(fy.data, y.data, "{k}×{k}/{s} forward");
            assert_eq!(fdx.data, dx.data, "{k}×{k}/{s} backward");
            assert!(fdx.data.iter().any(|&v| v != 0.0));
        }
        let mut avg = Pool2d::new(PoolKind::Average, [1, 4, 4], [2, 2], [2, 2]).unwrap();
        assert!(relu_max_pool_forward(&mut avg, &Tensor::zeros(&[1, 1, 4, 4]), &mut Tensor::default()).is_none());
    }
}
