//! Measures `predict` and `read` on photo-like renderings of MNIST *test* digits (which the
//! built-in model never trained on): pen or pencil on tinted paper, uneven light, noise, blur,
//! JPEG artefacts, 40–300 px tall, off centre, some transparent PNGs, 16-bit greys and BMPs.
//! It measures; it chooses nothing.
//!
//! With a third number, also `angle` on that many photos of test digits turned by random
//! angles in ±45° (the built-in rotation model, or the model file given after the numbers).
//!
//! Run: `cargo run --release --example photo_benchmark [N_DIGITS] [N_STRIPS] [N_ANGLES] [ROTATION_MODEL]`
//! (`PHOTO_DIGITS=validation` renders held-out training digits instead of test digits, for
//! choosing; `CLASSIFIER=FILE` measures a classifier file instead of the built-in one;
//! `DUMP_MISSES=DIR` writes each photo `predict` reads wrong into DIR).

use digitnet::data::render::photo as render;
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::inference::Model;
use digitnet::init::Rng;
use digitnet::vision::decode_luma;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rotation_model = std::env::args().skip(1).find(|a| a.parse::<usize>().is_err());
    let (n_digits, n_strips) = (args.first().copied().unwrap_or(2000), args.get(1).copied().unwrap_or(300));
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, true).unwrap();
    // PHOTO_DIGITS=validation renders the 5,000 training digits the built-in classifier held
    // out for validation instead of the test digits: the same benchmark for choosing between
    // models without looking at the test set. CLASSIFIER=FILE measures a model file alone.
    let test = match std::env::var("PHOTO_DIGITS").as_deref() {
        Ok("validation") => {
            let train = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, true).unwrap();
            train.subset(&digitnet::data::scenes::held_out(&train))
        }
        _ => test,
    };
    let mut model = match std::env::var("CLASSIFIER") {
        Ok(path) => Model::load(std::path::Path::new(&path)).unwrap(),
        Err(_) => Model::builtin().unwrap(),
    };
    let mut rng = Rng::new(2026);

    let (mut right, mut failed) = (0, 0);
    for k in 0..n_digits {
        let i = (k * 7919) % test.len();
        let bytes = render(&[test.image(i)], &mut rng);
        let answer = decode_luma(&bytes, "photo").and_then(|g| model.predict(&g));
        match &answer {
            Ok(p) => right += usize::from(p.class == test.labels[i] as usize),
            Err(_) => failed += 1,
        }
        // DUMP_MISSES=DIR: each photo read wrong, to look at (named after its label and answer).
        if let (Ok(dir), false) = (std::env::var("DUMP_MISSES"), answer.as_ref().is_ok_and(|p| p.class == test.labels[i] as usize)) {
            let ext = match bytes.get(..2) {
                Some([0xFF, 0xD8]) => "jpg",
                Some(b"BM") => "bmp",
                _ => "png",
            };
            let got = answer.map_or("none".to_string(), |p| p.class.to_string());
            std::fs::write(std::path::Path::new(&dir).join(format!("miss-{k:04}-is{}-read{got}.{ext}", test.labels[i])), &bytes).unwrap();
        }
    }
    println!("predict: {right}/{n_digits} right = {:.2} % ({failed} failed to preprocess)", 100.0 * right as f64 / n_digits as f64);

    // `read` reads numbers with the built-in number reader, as the command does.
    let mut reader = Model::builtin_reader().unwrap();
    let (mut exact, mut seg_wrong) = (0, 0);
    for _ in 0..n_strips {
        let len = 3 + rng.below(6);
        let picks: Vec<usize> = (0..len).map(|_| rng.below(test.len())).collect();
        let want: String = picks.iter().map(|&i| test.labels[i].to_string()).collect();
        let digits: Vec<&[u8]> = picks.iter().map(|&i| test.image(i)).collect();
        let bytes = render(&digits, &mut rng);
        match decode_luma(&bytes, "strip").and_then(|g| reader.read(&g)) {
            Ok(reading) if reading.digits.len() == len => {
                exact += usize::from(reading.text == want);
                if reading.text != want && std::env::var_os("SHOW_MISSES").is_some() {
                    eprintln!("strip {want}: read {}", reading.text);
                }
            }
            other => {
                seg_wrong += 1;
                if std::env::var_os("SHOW_MISSES").is_some() {
                    eprintln!("strip {want}: read {:?}", other.map(|r| r.text));
                }
            }
        }
    }
    println!("read: {exact}/{n_strips} strips exactly right = {:.2} % ({seg_wrong} with the wrong number of digits)", 100.0 * exact as f64 / n_strips as f64);

    let n_angles = args.get(2).copied().unwrap_or(0);
    if n_angles > 0 {
        let mut regressor = match &rotation_model {
            Some(path) => Model::load(std::path::Path::new(path)).unwrap(),
            None => Model::builtin_rotation().unwrap(),
        };
        let picks: Vec<usize> = (0..n_angles).map(|k| (k * 7919 + 13) % test.len()).collect();
        let set = digitnet::tasks::rotation::RotatedSet::generate(&test, &picks, digitnet::tasks::rotation::MAX_DEGREES, 2026);
        let (mut predicted, mut truth, mut labels, mut failed) = (Vec::new(), Vec::new(), Vec::new(), 0);
        for k in 0..picks.len() {
            let bytes = render(&[set.data.image(k)], &mut rng);
            match decode_luma(&bytes, "photo").and_then(|g| regressor.angle(&g)) {
                Ok(angle) => {
                    predicted.push(angle);
                    truth.push(set.angles[k]);
                    labels.push(set.data.labels[k]);
                }
                Err(_) => failed += 1,
            }
        }
        let r = digitnet::tasks::rotation::AngleReport::new(&predicted, &truth, &labels, 10.0).unwrap();
        println!(
            "angle: RMSE {:.2}°, within 10° {:.2} % on {} photos of turned digits ({failed} failed to preprocess)",
            r.rmse,
            100.0 * r.within_threshold,
            r.images
        );
    }
}
