//! Runs one architecture's batch-1000 eval forward or batch-64 training step in a loop, for a
//! profiler (`perf record`): `cargo run --release --example profile_step -- keras infer 50`;
//! `b1` runs single-image eval forwards instead (the batch-1 latency path), `reps` × 1,000.
use digitnet::layers::Mode;
use digitnet::network::arch::Architecture;
use digitnet::network::sequential::Sequential;
use digitnet::Tensor;

fn main() -> digitnet::error::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arch = args.get(1).map_or("keras", |s| s.as_str());
    let what = args.get(2).map_or("infer", |s| s.as_str());
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("thread pool");
    let mut model = Sequential::new(&Architecture::builtin(arch)?, 1)?;
    pool.install(|| -> digitnet::error::Result<()> {
        let t = std::time::Instant::now();
        if what == "b1" {
            let x = Tensor::random(&[1, 1, 28, 28], 1);
            for _ in 0..reps * 1000 {
                model.forward(&x, Mode::Eval)?;
            }
            println!("{:.1} µs per image", t.elapsed().as_secs_f64() * 1e6 / (reps * 1000) as f64);
        } else if what == "infer" {
            let x = Tensor::random(&[1000, 1, 28, 28], 1);
            for _ in 0..reps {
                model.forward(&x, Mode::Eval)?;
            }
            println!("{:.0} img/s", (reps * 1000) as f64 / t.elapsed().as_secs_f64());
        } else {
            let x = Tensor::random(&[64, 1, 28, 28], 1);
            let dlogits = Tensor::random(&[64, 10], 2);
            for _ in 0..reps {
                model.forward(&x, Mode::Train)?;
                model.backward(&x, &dlogits)?;
            }
            println!("{:.0} img/s (forward + backward, no optimizer)", (reps * 64) as f64 / t.elapsed().as_secs_f64());
        }
        Ok(())
    })
}
