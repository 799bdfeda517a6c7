//! A/B timing of one inference convolution tap by tap (`src/kernels/conv/taps.rs`) and through
//! im2col + GEMM, alternating in one process, best of 200 rounds of 20 forwards:
//! `cargo run --release --example taps_ab -- C H OC K BATCH THREADS` (K = 3: "same" padding,
//! else valid). The figures behind `taps::preferred`.
use digitnet::init::{Init, Rng};
use digitnet::kernels::geometry::{Padding, PaddingName};
use digitnet::layers::{Conv2d, Layer, Mode};
use digitnet::Tensor;
use std::time::Instant;
fn main() {
    let a: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let [c, h, oc, k, batch, threads] = a[..] else {
        eprintln!("usage: taps_ab C H OC K BATCH THREADS");
        std::process::exit(2);
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let pad = if k == 3 { Padding::Named(PaddingName::Same) } else { Padding::Uniform(0) };
        let mut layer = Conv2d::new([c, h, h], oc, [k, k], [1, 1], pad, [1, 1], true, Init::HeNormal, &mut Rng::new(1)).unwrap();
        let x = Tensor::random(&[batch, c, h, h], 2);
        let mut y = Tensor::default();
        let mut best = [f64::MAX; 2];
        for _ in 0..200 {
            for (v, on) in [false, true].into_iter().enumerate() {
                layer.set_taps(on);
                let t = Instant::now();
                for _ in 0..20 {
                    layer.forward(&x, &mut y, Mode::Eval).unwrap();
                }
                best[v] = best[v].min(t.elapsed().as_secs_f64() / 20.0);
            }
        }
        println!("conv {c}->{oc} {h}x{h} k{k} batch {batch} threads {threads}: im2col {:.2} us, taps {:.2} us", best[0] * 1e6, best[1] * 1e6);
    });
}
