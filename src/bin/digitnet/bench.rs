//! `digitnet bench`: the peer benchmarks' three figures, measured the same way (see
//! ../shared/peers/): steady-state training images/s (20 warm-up steps, then 200 timed steps,
//! median of 3), batch-1 inference latency (median of 1,000 calls) and batch-1000 inference
//! throughput (median of 10), on MNIST training images through the real optimizer step.

use crate::common::{in_pool, load_split, resolve_arch};
use anyhow::{bail, Result};
use clap::Args;
use digitnet::data::Split;
use digitnet::init::Rng;
use digitnet::layers::Mode;
use digitnet::network::loss::SoftmaxCrossEntropy;
use digitnet::network::sequential::Sequential;
use digitnet::tensor::Tensor;
use digitnet::training::optim::{Optimizer, OptimizerKind};
use digitnet::training::{train_epoch, Objective, Workspace};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// Architectures, comma-separated (default: small, lenet, keras).
    #[arg(long, value_delimiter = ',', default_value = "small,lenet,keras")]
    arch: Vec<String>,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Timed training steps per repetition.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Print one JSON object per architecture (the peer benchmarks' keys).
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct BenchResult {
    peer: &'static str,
    arch: String,
    threads: usize,
    batch: usize,
    train_img_s: f64,
    train_img_s_reps: Vec<f64>,
    b1_latency_us: f64,
    b1_latency_us_p10_p90: [f64; 2],
    b1000_img_s: f64,
    fwd_flop_per_img: usize,
    train_gflops: f64,
    b1000_gflops: f64,
    /// Which copy of the vector kernels ran ([`digitnet::kernels::simd::level`]).
    simd: &'static str,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn run(a: BenchArgs) -> Result<ExitCode> {
    in_pool(a.threads, move || run_in_pool(a))
}

fn run_in_pool(a: BenchArgs) -> Result<ExitCode> {
    if a.batch_size == 0 || a.steps == 0 {
        bail!("--batch-size and --steps must be ≥ 1");
    }
    let train = load_split(None, Split::Train)?;
    let test = load_split(None, Split::Test)?;
    let warmup = 20;
    let reps = 3;
    let needed = (warmup + a.steps * reps) * a.batch_size;
    if needed > train.len() {
        bail!("{} steps of batch {} need {needed} images, MNIST has {}", a.steps, a.batch_size, train.len());
    }
    for name in &a.arch {
        let arch = resolve_arch(name)?;
        let mut model = Sequential::new(&arch, 0)?;
        let lr = if name == "small" { 0.01 } else { 1e-3 };
        let mut opt = Optimizer::new(OptimizerKind::adam(), 0.0)?;
        let mut loss = Objective::Classify(SoftmaxCrossEntropy::new(arch.outputs(), None)?);
        let mut ws = Workspace::default();
        let norm = arch.normalization;
        let mut order: Vec<usize> = (0..train.len()).collect();
        Rng::new(0).shuffle(&mut order);
        // The real training loop over consecutive slices of one shuffled order: the warm-up
        // steps, then `reps` timed runs of `steps` steps (`needed` was checked above).
        let (warm, rest) = order[..needed].split_at(warmup * a.batch_size);
        train_epoch(&mut model, &mut opt, &mut loss, &train, warm, a.batch_size, |_| lr, &mut ws, None, |_| {})?;
        let mut rates = Vec::new();
        for idx in rest.chunks(a.steps * a.batch_size).take(reps) {
            let t = Instant::now();
            train_epoch(&mut model, &mut opt, &mut loss, &train, idx, a.batch_size, |_| lr, &mut ws, None, |_| {})?;
            rates.push(idx.len() as f64 / t.elapsed().as_secs_f64());
        }
        let train_ips = median(&mut rates.clone());

        // Batch-1 latency: the full forward of one normalised image, eval mode.
        let mut x = Tensor::default();
        let mut labels = Vec::new();
        let mut lat = Vec::with_capacity(1000);
        for i in 0..1050 {
            test.fill_batch(&[i % test.len()], &norm, &mut x, &mut labels);
            let t = Instant::now();
            let out = model.forward(&x, Mode::Eval)?;
            std::hint::black_box(out);
            if i >= 50 {
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        lat.sort_by(|a, b| a.total_cmp(b));
        let b1 = median(&mut lat.clone());
        let p10_p90 = [percentile(&lat, 0.1), percentile(&lat, 0.9)];

        // Batch-1000 throughput.
        let idx: Vec<usize> = (0..1000).collect();
        test.fill_batch(&idx, &norm, &mut x, &mut labels);
        for _ in 0..2 {
            std::hint::black_box(model.forward(&x, Mode::Eval)?);
        }
        let mut b1000 = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            std::hint::black_box(model.forward(&x, Mode::Eval)?);
            b1000.push(1000.0 / t.elapsed().as_secs_f64());
        }
        let b1000_ips = median(&mut b1000);
        let flops = model.flops();
        let r = BenchResult {
            peer: "digitnet",
            arch: name.clone(),
            threads: rayon::current_num_threads(),
            batch: a.batch_size,
            train_img_s: train_ips,
            train_img_s_reps: rates,
            b1_latency_us: b1,
            b1_latency_us_p10_p90: p10_p90,
            b1000_img_s: b1000_ips,
            fwd_flop_per_img: flops,
            train_gflops: train_ips * 3.0 * flops as f64 / 1e9,
            b1000_gflops: b1000_ips * flops as f64 / 1e9,
            simd: digitnet::kernels::simd::level().as_str(),
        };
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "{:<8} train {:>8.0} img/s ({:>5.1} GFLOP/s) | batch-1 {:>7.1} µs (p10 {:.1}, p90 {:.1}) | batch-1000 {:>8.0} img/s ({:.1} GFLOP/s) | {}",
                r.arch, r.train_img_s, r.train_gflops, r.b1_latency_us, p10_p90[0], p10_p90[1], r.b1000_img_s, r.b1000_gflops, r.simd
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
