//! A/B timing of one convolution layer's lowerings in one process, alternating, best of N
//! (this machine's noise is ±20 % between runs, far less between neighbouring calls):
//! `cargo run --release --example conv_ab -- C H OC [batch] [rounds]`.
use digitnet::init::{Init, Rng};
use digitnet::kernels::geometry::{Padding, PaddingName};
use digitnet::layers::{Conv2d, Layer, Mode};
use digitnet::Tensor;
use std::time::Instant;

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let (c, h, oc) = (a.first().copied().unwrap_or(32), a.get(1).copied().unwrap_or(14), a.get(2).copied().unwrap_or(64));
    let batch = a.get(3).copied().unwrap_or(64);
    let rounds = a.get(4).copied().unwrap_or(30);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
    pool.install(|| {
        let same = Padding::Named(PaddingName::Same);
        let mut layer = Conv2d::new([c, h, h], oc, [3, 3], [1, 1], same, [1, 1], true, Init::HeNormal, &mut Rng::new(1)).unwrap();
        let x = Tensor::random(&[batch, c, h, h], 2);
        let (mut y, mut dx) = (Tensor::default(), Tensor::default());
        layer.forward(&x, &mut y, Mode::Train).unwrap();
        let dy = Tensor::random(y.shape(), 3);
        let mut best = [[f64::MAX; 5]; 2];
        let mut pooled = Tensor::default();
        for _ in 0..rounds {
            for (v, on) in [false, true].into_iter().enumerate() {
                layer.set_winograd(on);
                let t = Instant::now();
                layer.forward(&x, &mut y, Mode::Eval).unwrap();
                let f = t.elapsed().as_secs_f64();
                layer.forward(&x, &mut y, Mode::Train).unwrap();
                let t = Instant::now();
                layer.backward(&x, &y, &dy, Some(&mut dx), true).unwrap();
                let b = t.elapsed().as_secs_f64();
                let t = Instant::now();
                if on {
                    forward_relu_max_pool(&mut layer, &x, &mut pooled);
                }
                let p = t.elapsed().as_secs_f64();
                layer.forward(&x, &mut y, Mode::Train).unwrap();
                let t = Instant::now();
                layer.backward(&x, &y, &dy, None, true).unwrap();
                let dw = t.elapsed().as_secs_f64();
                let t = Instant::now();
                layer.backward(&x, &y, &dy, Some(&mut dx), false).unwrap();
                let dxt = t.elapsed().as_secs_f64();
                best[v] = [best[v][0].min(f), best[v][1].min(b), best[v][2].min(p), best[v][3].min(dw), best[v][4].min(dxt)];
            }
        }
        println!("conv {c}→{oc} {h}×{h}, batch {batch}, best of {rounds} (ms)");
        println!(
            "im2col   forward {:.3}  backward {:.3} (weight grad only {:.3}, input grad only {:.3})",
            best[0][0] * 1e3,
            best[0][1] * 1e3,
            best[0][3] * 1e3,
            best[0][4] * 1e3
        );
        println!(
            "winograd forward {:.3}  backward {:.3} (weight grad only {:.3}, input grad only {:.3})  fused relu+pool {:.3}",
            best[1][0] * 1e3,
            best[1][1] * 1e3,
            best[1][3] * 1e3,
            best[1][4] * 1e3,
            best[1][2] * 1e3
        );
    });
}

/// The convolution, a ReLU and a 2×2 max pool in one pass, as a network runs them in inference.
fn forward_relu_max_pool(layer: &mut Conv2d, x: &Tensor, pooled: &mut Tensor) {
    let (n, [oc, oh, ow]) = (x.batch(), [layer.output_shape()[0], layer.output_shape()[1], layer.output_shape()[2]]);
    pooled.resize(n, &[oc, oh / 2, ow / 2]);
    let (kernel, weights, _) = layer.kernel_parts();
    kernel.forward_pooled(weights, &x.data, n, &mut pooled.data, true, false);
}
