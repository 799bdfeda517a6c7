//! criterion benchmarks of the kernels the speed work tunes: the GEMM wrapper on conv and
//! dense shapes, conv forward/backward of the `keras` and `lenet` layers (the Winograd ones
//! also fused with ReLU + max pool, and through im2col for comparison), and max pooling.
//! Run: `cargo bench --bench kernels` (add `-- conv` to filter).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use digitnet::init::{Init, Rng};
use digitnet::kernels::gemm::{sgemm, Strides};
use digitnet::kernels::geometry::{Padding, PaddingName};
use digitnet::layers::{Conv2d, Layer, Mode, Pool2d, PoolKind};
use digitnet::Tensor;

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm");
    for &(m, k, n) in &[(32, 9, 784), (64, 288, 196), (128, 576, 49), (50, 500, 64), (64, 1152, 512)] {
        let a = Tensor::random(&[m, k], 1).data;
        let b = Tensor::random(&[k, n], 2).data;
        let mut out = vec![0.0; m * n];
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        g.bench_function(BenchmarkId::from_parameter(format!("{m}x{k}x{n}")), |bench| {
            bench.iter(|| sgemm(m, k, n, 1.0, &a, Strides::row_major(k), &b, Strides::row_major(n), 0.0, &mut out, Strides::row_major(n)))
        });
    }
    g.finish();
}

fn conv(c: &mut Criterion) {
    let same = Padding::Named(PaddingName::Same);
    let layers: [(&str, [usize; 3], usize, usize, Padding); 4] = [
        ("keras-conv1", [1, 28, 28], 32, 3, same),
        ("keras-conv2", [32, 14, 14], 64, 3, same),
        ("keras-conv3", [64, 7, 7], 128, 3, same),
        ("lenet-conv2", [20, 12, 12], 50, 5, Padding::Uniform(0)),
    ];
    let mut g = c.benchmark_group("conv2d");
    g.sample_size(20);
    for (name, input, oc, k, pad) in layers {
        let mut layer = Conv2d::new(input, oc, [k, k], [1, 1], pad, [1, 1], true, Init::HeNormal, &mut Rng::new(1)).unwrap();
        let x = Tensor::random(&[64, input[0], input[1], input[2]], 3);
        let mut y = Tensor::default();
        layer.forward(&x, &mut y, Mode::Train).unwrap();
        let dy = Tensor::random(y.shape(), 4);
        let mut dx = Tensor::default();
        g.throughput(Throughput::Elements(64));
        g.bench_function(format!("{name}/forward"), |b| b.iter(|| layer.forward(&x, &mut y, Mode::Train).unwrap()));
        g.bench_function(format!("{name}/backward"), |b| b.iter(|| layer.backward(&x, &y, &dy, Some(&mut dx), true).unwrap()));
        if layer.uses_winograd() {
            // The same layer through the fused inference path, and lowered onto one GEMM per
            // sample (rows for the 5×5 layer, im2col for the 3×3 ones) for comparison.
            let mut pooled = Tensor::default();
            g.bench_function(format!("{name}/forward-relu-maxpool"), |b| b.iter(|| forward_relu_max_pool(&mut layer, &x, &mut pooled)));
            layer.set_winograd(false);
            g.bench_function(format!("{name}/forward-lowered"), |b| b.iter(|| layer.forward(&x, &mut y, Mode::Train).unwrap()));
            g.bench_function(format!("{name}/backward-lowered"), |b| b.iter(|| layer.backward(&x, &y, &dy, Some(&mut dx), true).unwrap()));
        }
    }
    g.finish();
}

fn pool(c: &mut Criterion) {
    let mut layer = Pool2d::new(PoolKind::Max, [32, 28, 28], [2, 2], [2, 2]).unwrap();
    let x = Tensor::random(&[64, 32, 28, 28], 5);
    let mut y = Tensor::default();
    layer.forward(&x, &mut y, Mode::Train).unwrap();
    let dy = Tensor::random(y.shape(), 6);
    let mut dx = Tensor::default();
    let mut g = c.benchmark_group("maxpool");
    g.throughput(Throughput::Elements(64));
    g.bench_function("keras-pool1/forward", |b| b.iter(|| layer.forward(&x, &mut y, Mode::Train).unwrap()));
    g.bench_function("keras-pool1/backward", |b| b.iter(|| layer.backward(&x, &y, &dy, Some(&mut dx), true).unwrap()));
    g.finish();
}

criterion_group!(benches, gemm, conv, pool);
criterion_main!(benches);

/// The convolution, a ReLU and a 2×2 max pool in one pass, as a network runs them in inference.
fn forward_relu_max_pool(layer: &mut Conv2d, x: &Tensor, pooled: &mut Tensor) {
    let (n, [oc, oh, ow]) = (x.batch(), [layer.output_shape()[0], layer.output_shape()[1], layer.output_shape()[2]]);
    pooled.resize(n, &[oc, oh / 2, ow / 2]);
    let (kernel, weights, _) = layer.kernel_parts();
    kernel.forward_pooled(weights, &x.data, n, &mut pooled.data, true, false);
}
