//! Trains the number reader's classifier (`models/reader.safetensors`, architecture
//! `models/reader-arch.json`): ten digits and "none". Its data: the MNIST training digits, and
//! every candidate digit that `vision::number::number_candidates` proposes on generated number
//! images (`data::numbers`, written with MNIST *training* digits), labelled by its box against
//! the generator's digit boxes: the digit when it covers one digit (IoU ≥ 0.7, no more than a
//! quarter of any other), "none" when it covers none well (IoU < 0.45: half a digit, a digit
//! and a piece of the next) or two of them more than 40 % each (touching digits read as one),
//! left out in between. So the classifier learns what the reader shows it,
//! and to say when a cut is wrong.
//!
//! Run: `cargo run --release --example train_reader -- [NUMBERS] [EPOCHS] [OUT]`
//! (defaults 6000, 6, runs/reader/reader.safetensors). `READER_STROKE=PX` and
//! `READER_STYLES=P` add the stroke-width and writer-style augmentations (`train --augment-stroke`,
//! `--augment-styles`), `READER_ELASTIC=PX` elastic distortion (σ 4, `train --augment-elastic`);
//! `READER_ARCH=FILE` trains another architecture, `READER_SEED=N` with another seed (default 1).
//! `READER_LOOSE_ZEROS=P` writes that share of the joined zeros looser (`Style::loose_zeros`);
//! `READER_SAMPLES=DIR` writes the first 40 generated numbers there as PNGs, to look at.

use digitnet::data::augment::Augment;
use digitnet::data::numbers::{number_image, random_amount, Style};
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::init::Rng;
use digitnet::network::{Architecture, Sequential};
use digitnet::training::optim::OptimizerKind;
use digitnet::training::schedule::Schedule;
use digitnet::training::{Event, Run, RunPaths, TrainConfig};
use digitnet::vision::number::number_candidates;
use std::path::PathBuf;

/// Intersection over union of two `[x, y, w, h]` boxes.
fn iou(a: [usize; 4], b: [usize; 4]) -> f64 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]).saturating_sub(a[0].max(b[0]));
    let iy = (a[1] + a[3]).min(b[1] + b[3]).saturating_sub(a[1].max(b[1]));
    let inter = (ix * iy) as f64;
    inter / ((a[2] * a[3] + b[2] * b[3]) as f64 - inter).max(1.0)
}

/// The share of box `b` that box `a` covers.
fn covers(a: [usize; 4], b: [usize; 4]) -> f64 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]).saturating_sub(a[0].max(b[0]));
    let iy = (a[1] + a[3]).min(b[1] + b[3]).saturating_sub(a[1].max(b[1]));
    (ix * iy) as f64 / ((b[2] * b[3]) as f64).max(1.0)
}

/// An augmentation setting from the environment (0 when unset).
fn env_f32(name: &str) -> f32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(6000);
    let epochs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(6);
    let out = PathBuf::from(args.get(2).cloned().unwrap_or_else(|| "runs/reader/reader.safetensors".into()));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let train = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, true).unwrap();
    let (mut images, mut labels) = (train.images.clone(), train.labels.clone());
    let mut rng = Rng::new(2026);
    let (mut digits, mut none, mut unsure) = (0, 0, 0);
    let loose = env_f32("READER_LOOSE_ZEROS");
    let samples = std::env::var("READER_SAMPLES").ok().map(PathBuf::from);
    for k in 0..numbers {
        // `data::numbers::random_number`, with the loose zeros' share set.
        let style = Style { loose_zeros: loose, ..Style::random(&mut rng) };
        let text = random_amount(&mut rng);
        let number = number_image(&train, &text, &style, &mut rng);
        if let Some(dir) = &samples {
            if k == 40 {
                return;
            }
            std::fs::create_dir_all(dir).unwrap();
            let g = &number.image;
            let img = image::GrayImage::from_raw(g.width as u32, g.height as u32, g.pixels.clone()).unwrap();
            img.save(dir.join(format!("{k:03}-{}.png", number.text))).unwrap();
            continue;
        }
        let Ok(candidates) = number_candidates(&number.image) else { continue };
        let text: Vec<u8> = number.text.bytes().map(|b| b - b'0').collect();
        for line in &candidates.lines {
            for c in &line.candidates {
                let mut scores: Vec<(f64, usize)> = number.boxes.iter().enumerate().map(|(i, b)| (iou(c.bbox, *b), i)).collect();
                scores.sort_by(|a, b| b.0.total_cmp(&a.0));
                let best = scores.first().copied().unwrap_or((0.0, 0));
                // How many digits the candidate covers more than 40 % of (two: a merged pair).
                let covered = number.boxes.iter().filter(|b| covers(c.bbox, **b) > 0.4).count();
                let others = number.boxes.iter().enumerate().filter(|&(i, b)| i != best.1 && covers(c.bbox, *b) > 0.25).count();
                let label = if best.0 >= 0.7 && others == 0 {
                    digits += 1;
                    text[best.1]
                } else if best.0 < 0.45 || covered >= 2 {
                    none += 1;
                    10
                } else {
                    unsure += 1;
                    continue;
                };
                images.extend_from_slice(&c.image.0);
                labels.push(label);
            }
        }
    }
    println!("{} MNIST digits + {digits} candidate digits + {none} candidates of no digit ({unsure} left out)", train.len());
    let data = Dataset { images, labels, rows: 28, cols: 28 };
    // `READER_ARCH=FILE` trains another architecture on the same data.
    let arch = match std::env::var("READER_ARCH") {
        Ok(path) => Architecture::from_json(&std::fs::read_to_string(&path).unwrap(), &path).unwrap(),
        Err(_) => Architecture::from_json(include_str!("../models/reader-arch.json"), "models/reader-arch.json").unwrap(),
    };
    let model = Sequential::new(&arch, 1).unwrap();
    let config = TrainConfig {
        epochs,
        batch_size: 64,
        lr: 0.002,
        optimizer: OptimizerKind::adam(),
        weight_decay: 0.0,
        schedule: Schedule::Cosine { min_lr: 0.0 },
        class_weights: None,
        val_split: 5000,
        seed: std::env::var("READER_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1),
        patience: None,
        augment: Augment {
            rotation_deg: 8.0,
            shift: 0.06,
            scale: 0.08,
            stroke: env_f32("READER_STROKE"),
            styles: env_f32("READER_STYLES"),
            elastic_alpha: env_f32("READER_ELASTIC"),
            elastic_sigma: 4.0,
            ..Default::default()
        },
        stratified: false,
        freeze: 0,
        limit: 0,
    };
    let mut run = Run::from_model(model, config, RunPaths::for_model(&out)).unwrap();
    run.fit(&data, None, |e| {
        if let Event::EpochEnd { record: r, .. } = e {
            println!(
                "epoch {}: train loss {:.4} acc {:.4}, val loss {:.4} acc {:.4} ({:.0} s)",
                r.epoch, r.train_loss, r.train_acc, r.val_loss, r.val_acc, r.seconds
            );
        }
    })
    .unwrap();
    println!("best model: {}", out.display());
}
