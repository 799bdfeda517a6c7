//! The validation photos of `finetune --photos-only` (5,000 held-out MNIST *training* digits,
//! split and turned as the run splits and turns them, seed 1, each rendered as a photo and read
//! through the photo pipeline), scored for each model given: so a network trained further can
//! be compared with the one it started from on the run's own held-out digits. With several
//! models, also the mean of their angles (an ensemble).
//!
//! Run: `cargo run --release --example rotation_val -- MODEL...` (source in `tools/`).

use digitnet::data::split::split_indices;
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::network::model_file;
use digitnet::tasks::rotation::{predict_dataset, AngleReport, RotatedSet, MAX_DEGREES};
use std::path::Path;

fn main() {
    let train = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, false).expect("shipped MNIST");
    let (_, val_idx) = split_indices(train.len(), 5000, 1);
    let turned = RotatedSet::generate(&train, &val_idx, MAX_DEGREES, 1);
    // `CLEAN=1`: the turned digits normalised as MNIST was made instead of photographed (what
    // the photo pipeline would give with no photo in between).
    let clean = std::env::var("CLEAN").is_ok_and(|v| v == "1");
    let set = if clean {
        let mut set = turned;
        for image in set.data.images.chunks_mut(784) {
            let gray = digitnet::vision::Gray { width: 28, height: 28, pixels: image.to_vec() };
            if let Ok(d) = digitnet::vision::ink_to_mnist(&gray) {
                image.copy_from_slice(&d);
            }
        }
        set
    } else {
        turned.photos(1)
    };
    let show = |name: &str, predicted: &[f32]| {
        let r = AngleReport::new(predicted, &set.angles, &set.data.labels, 10.0).expect("report");
        let kind = if clean { "normalised digits" } else { "photos" };
        println!("{name}: RMSE {:.3}°, MAE {:.3}°, within 10° {:.2} % ({} {kind})", r.rmse, r.mae, 100.0 * r.within_threshold, r.images);
        let per: Vec<String> = r.per_class_rmse.iter().enumerate().map(|(d, e)| format!("{d}: {:.2}°", e.unwrap_or(f64::NAN))).collect();
        println!("  RMSE per digit: {}", per.join(", "));
    };
    let mut sum = vec![0f32; set.angles.len()];
    let paths: Vec<String> = std::env::args().skip(1).collect();
    for path in &paths {
        let mut model = model_file::load(Path::new(path), None).expect("a rotation model").model;
        let predicted = predict_dataset(&mut model, &set.data, 1000).expect("angles");
        show(path, &predicted);
        sum.iter_mut().zip(&predicted).for_each(|(s, p)| *s += p);
    }
    if paths.len() > 1 {
        let mean: Vec<f32> = sum.iter().map(|s| s / paths.len() as f32).collect();
        show("the models' mean", &mean);
    }
}
