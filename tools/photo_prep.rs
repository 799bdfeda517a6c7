//! Times the photo path of `/api/predict` without HTTP: the load test's 150×140 PNG photos
//! of MNIST test digits, each decoded, preprocessed (`Pipeline::Photo`) and classified, one
//! at a time on one thread. Prints microseconds per photo for decoding, preprocessing and the
//! whole prediction, and a checksum of the digits so two builds can be seen to agree.
//!
//! Run: `cargo run --release --example photo_prep -- [ROUNDS]` (default 20 rounds of 100).

use digitnet::data::render::Canvas;
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::init::Rng;
use digitnet::vision::{decode_luma, Pipeline};
use std::time::Instant;

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).expect("shipped MNIST");
    let mut rng = Rng::new(1);
    let photos: Vec<Vec<u8>> = (0..100)
        .map(|i| {
            let mut c = Canvas::lit_paper(150, 140, &mut rng);
            c.pen(test.image(i), 4, 15, 10);
            c.png()
        })
        .collect();
    let grays: Vec<_> = photos.iter().map(|p| decode_luma(p, "photo").unwrap()).collect();
    let mut model = digitnet::inference::Model::builtin().unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| {
        let mut checksum = 0u64;
        for g in &grays {
            checksum = Pipeline::Photo.digit(g).unwrap().0.iter().fold(checksum, |s, &p| s.wrapping_mul(31).wrapping_add(p as u64));
        }
        let (mut decode, mut prep, mut whole) = (f64::MAX, f64::MAX, f64::MAX);
        for _ in 0..rounds {
            let t = Instant::now();
            for p in &photos {
                std::hint::black_box(decode_luma(p, "photo").unwrap());
            }
            decode = decode.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            for g in &grays {
                std::hint::black_box(Pipeline::Photo.digit(g).unwrap());
            }
            prep = prep.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            for p in &photos {
                let g = decode_luma(p, "photo").unwrap();
                std::hint::black_box(model.predict(&g).unwrap());
            }
            whole = whole.min(t.elapsed().as_secs_f64());
        }
        let us = |s: f64| s * 1e6 / photos.len() as f64;
        println!(
            "decode {:.1} µs, preprocess {:.1} µs, decode+predict {:.1} µs per photo (best of {rounds}); digits checksum {checksum:016x}",
            us(decode),
            us(prep),
            us(whole)
        );
    });
}
