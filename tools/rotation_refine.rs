//! Experiment: does a second look help a rotation model? For a folder written by `digitnet data
//! rotated` (angles.csv), reads each file as `angle` does, then compares: the plain prediction;
//! test-time augmentation (the digit turned by ±d, predictions shifted back, averaged); and
//! refinement (the digit turned back by the first prediction, the residual predicted and added,
//! repeated). Prints RMSE and within-10° for each.
//!
//! Run: `cargo run --release --example rotation_refine -- MODEL FOLDER` (source in `tools/`).

use digitnet::inference::Model;
use digitnet::vision::{load_luma, rotate::rotate_into, Digit};
use std::path::Path;

fn turned(d: &Digit, degrees: f32) -> Digit {
    let mut out = [0u8; 784];
    rotate_into(&d.0, &mut out, 28, 28, degrees, 0);
    Digit(out)
}

fn report(name: &str, pred: &[f32], truth: &[f32]) {
    let n = truth.len() as f64;
    let se: f64 = pred.iter().zip(truth).map(|(p, t)| ((p - t) as f64).powi(2)).sum();
    let within = pred.iter().zip(truth).filter(|(p, t)| (*p - *t).abs() <= 10.0).count() as f64;
    println!("{name:<28} RMSE {:6.3}°  within 10° {:6.2} %", (se / n).sqrt(), within / n * 100.0);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut model = if args[1] == "builtin" { Model::builtin_rotation().unwrap() } else { Model::load(Path::new(&args[1])).unwrap() };
    let dir = Path::new(&args[2]);
    let csv = std::fs::read_to_string(dir.join("angles.csv")).unwrap();
    let (mut digits, mut truth) = (Vec::new(), Vec::new());
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let Ok(d) = model.prepare(&load_luma(&dir.join(f[0])).unwrap()) else { continue };
        digits.push(d);
        truth.push(f[2].parse::<f32>().unwrap());
    }
    let plain = model.angles(&digits).unwrap();
    report("plain", &plain, &truth);
    for d in [5.0f32, 10.0, 15.0] {
        let mut sum = plain.clone();
        for off in [-d, d] {
            let t: Vec<Digit> = digits.iter().map(|x| turned(x, off)).collect();
            for (s, p) in sum.iter_mut().zip(model.angles(&t).unwrap()) {
                *s += p - off;
            }
        }
        let avg: Vec<f32> = sum.iter().map(|s| s / 3.0).collect();
        report(&format!("tta ±{d}"), &avg, &truth);
    }
    let mut est = plain.clone();
    for round in 1..=3 {
        let t: Vec<Digit> = digits.iter().zip(&est).map(|(x, &a)| turned(x, -a)).collect();
        for (e, r) in est.iter_mut().zip(model.angles(&t).unwrap()) {
            *e += r;
        }
        report(&format!("refine x{round}"), &est, &truth);
    }
    // Refinement, then the average of plain and refined.
    let mut est = plain.clone();
    let t: Vec<Digit> = digits.iter().zip(&est).map(|(x, &a)| turned(x, -a)).collect();
    for (e, r) in est.iter_mut().zip(model.angles(&t).unwrap()) {
        *e += r;
    }
    let mix: Vec<f32> = est.iter().zip(&plain).map(|(a, b)| (a + b) / 2.0).collect();
    report("mean(plain, refine x1)", &mix, &truth);
}
