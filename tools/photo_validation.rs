//! Writes a realistic validation set of photos (`data::scenes`): for every kind of trouble
//! (plain, EXIF-rotated, shadow, border band, graph paper, ruled paper, fine pen, thick
//! marker) N photos of single digits, with `labels.json` (`{"file": "digit"}`, as
//! `../shared/real-dev/` has), and in `OUT_DIR/not-digit/` N numbers of 2–5 digits and N
//! cartoon animals. The digits are the 5,000 MNIST training images the built-in classifier
//! held out for validation (`split_indices(60000, 5000, 1)`): neither trained on nor the
//! MNIST test set. Deterministic: each photo has its own seeded generator
//! (`data::scenes::validation_photo`), so `tests/photos.rs`'s fixtures are this set's first
//! photos at the tests' size (`photo_validation DIR 10 480`).
//!
//! Run: `cargo run --release --example photo_validation OUT_DIR [N=50] [LONG_SIDE=1000]`, then
//! measure with `digitnet predict --json OUT_DIR/*.jpg OUT_DIR/*.png` against `labels.json`
//! (`python3 tools/score_predict.py OUT_DIR`).

use digitnet::data::scenes::{held_out, validation_non_digit, validation_photo, NotADigit, TROUBLES};
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: photo_validation OUT_DIR [N=50] [LONG_SIDE=1000]");
        std::process::exit(2);
    };
    let n: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(50);
    let long: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let train = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, true).expect("the shipped MNIST training set");
    let held = held_out(&train);
    let not_digit = out.join("not-digit");
    std::fs::create_dir_all(&not_digit).expect("creating the output folder");
    let mut labels = BTreeMap::new();
    for trouble in TROUBLES {
        for k in 0..n {
            let (bytes, label) = validation_photo(&train, &held, trouble, k, long);
            let ext = if bytes.starts_with(&[0xFF, 0xD8]) { "jpg" } else { "png" };
            let name = format!("{}-{k:03}.{ext}", trouble.name());
            std::fs::write(out.join(&name), &bytes).expect("writing a photo");
            labels.insert(name, label.to_string());
        }
    }
    std::fs::write(out.join("labels.json"), serde_json::to_string_pretty(&labels).unwrap()).expect("writing labels.json");
    let mut kinds = BTreeMap::new();
    for k in 0..n {
        for (what, name) in [(NotADigit::Number, format!("number-{k:03}.jpg")), (NotADigit::Animal, format!("animal-{k:03}.jpg"))] {
            std::fs::write(not_digit.join(&name), validation_non_digit(&train, &held, what, k, long)).expect("writing a photo");
            kinds.insert(name, format!("{what:?}").to_lowercase());
        }
    }
    std::fs::write(not_digit.join("kinds.json"), serde_json::to_string_pretty(&kinds).unwrap()).expect("writing kinds.json");
    println!("{} digit photos and {} non-digits in {}", labels.len(), kinds.len(), out.display());
}
