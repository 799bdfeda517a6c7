//! Transfer learning: classifier → rotation regressor (new head, frozen layers), the rotation
//! commands end to end, their bad inputs, and the built-in rotation model's accuracy.

mod common;

use common::{digitnet, fails_with};

use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::network::arch::{Architecture, Task};
use digitnet::network::sequential::Sequential;
use digitnet::tasks::rotation::{deskew_dataset, predict_dataset, regressor_from_classifier, AngleReport, RotatedSet, MAX_DEGREES};
use digitnet::training::{evaluate, Run, RunPaths, TrainConfig, Workspace};

/// A small classifier with batch norm, so that freezing must also keep running statistics.
fn small_bn_classifier() -> Sequential {
    let text = r#"{"name": "tiny-bn", "input": [1, 28, 28], "classes": ["0","1","2","3","4","5","6","7","8","9"],
        "layers": [
          {"type": "conv2d", "out_channels": 4, "kernel": 3, "padding": "same"}, {"type": "batch_norm"}, {"type": "relu"},
          {"type": "max_pool2d", "kernel": 2},
          {"type": "conv2d", "out_channels": 8, "kernel": 3, "padding": "same"}, {"type": "batch_norm"}, {"type": "relu"},
          {"type": "max_pool2d", "kernel": 2}, {"type": "flatten"},
          {"type": "dense", "out_features": 16}, {"type": "relu"}, {"type": "dense", "out_features": 10}]}"#;
    Sequential::new(&Architecture::from_json(text, "tiny").unwrap(), 5).unwrap()
}

fn params_of(m: &Sequential) -> Vec<(usize, String, Vec<f32>)> {
    let mut v = Vec::new();
    m.for_each_param(|i, p| v.push((i, p.name.to_string(), p.value.clone())));
    v
}

fn config(epochs: usize, freeze: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 32,
        lr: 3e-3,
        optimizer: digitnet::training::optim::OptimizerKind::adam(),
        weight_decay: 0.0,
        schedule: digitnet::training::schedule::Schedule::Constant,
        class_weights: None,
        val_split: 200,
        seed: 3,
        patience: None,
        augment: Default::default(),
        stratified: false,
        freeze,
        limit: 0,
    }
}

/// The surgery keeps every layer before the head, weights and batch-norm statistics included;
/// after training with the first 6 layers frozen, those are bit-identical (batch norm's
/// running mean and variance too), while the unfrozen layers and the new head have moved.
#[test]
fn frozen_layers_are_bit_identical_after_fine_tuning() {
    let classifier = small_bn_classifier();
    let model = regressor_from_classifier(&classifier, 9, Some(0.0)).unwrap();
    assert_eq!(model.architecture().task, Task::Rotation);
    assert_eq!(model.layers().len(), classifier.layers().len());
    let head = model.layers().len() - 1;
    let before = params_of(&model);
    for ((i, name, v), (j, name2, w)) in params_of(&classifier).iter().zip(&before) {
        if *i < head {
            assert_eq!((i, name, v), (j, name2, w), "layer {i} {name} was not copied");
        }
    }
    let data = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, true).unwrap().take(1200);
    let dir = common::temp_dir("freeze");
    let mut run = Run::from_model(model, config(2, 6), RunPaths::for_model(&dir.join("r.safetensors"))).unwrap();
    run.fit(&data, None, |_| {}).unwrap();
    let after = params_of(&run.model);
    for ((i, name, v), (_, _, w)) in before.iter().zip(&after) {
        if *i < 6 {
            assert!(v.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()), "frozen layer {i} {name} changed");
        } else if name != "running_mean" && name != "running_var" {
            assert_ne!(v, w, "trainable layer {i} {name} did not move");
        }
    }
    assert!(dir.join("r.safetensors").is_file() && dir.join("r.history.csv").is_file());
    let csv = std::fs::read_to_string(dir.join("r.history.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",val_rmse_deg"), "{csv}");
}

/// Freezing everything but the head, or more layers than exist, and fine-tuning a model that is
/// not a classifier, are errors before any training.
#[test]
fn bad_fine_tuning_requests_are_errors() {
    let classifier = small_bn_classifier();
    let model = regressor_from_classifier(&classifier, 1, None).unwrap();
    let n = model.layers().len();
    let dir = common::temp_dir("freeze-bad");
    assert!(Run::from_model(model, config(1, n), RunPaths::for_model(&dir.join("x.safetensors"))).is_err());
    let regressor = regressor_from_classifier(&classifier, 1, None).unwrap();
    let err = regressor_from_classifier(&regressor, 1, None).err().expect("a regressor is not a classifier");
    assert!(err.to_string().contains("not a classifier"), "{err}");
}

/// Regression learns: a LeNet trained from scratch for the angle on 6,000 digits for 3 epochs
/// predicts the angles of 1,000 held-out training digits far better than guessing 0° (whose
/// RMSE is 45/√3 ≈ 26°). Measured: 12.2° RMSE.
#[test]
fn rotation_regression_learns() {
    let all = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, true).unwrap();
    let train = all.take(6000);
    let held_out: Vec<usize> = (50_000..51_000).collect();
    let arch = Architecture::builtin("lenet").unwrap().with_rotation_head().unwrap();
    let dir = common::temp_dir("rot-learn");
    let mut cfg = config(3, 0);
    cfg.lr = 1e-3;
    cfg.val_split = 500;
    let mut run = Run::new(&arch, cfg, RunPaths::for_model(&dir.join("l.safetensors"))).unwrap();
    run.fit(&train, None, |_| {}).unwrap();
    let set = RotatedSet::generate(&all, &held_out, MAX_DEGREES, 11);
    let predicted = predict_dataset(&mut run.model, &set.data, 500).unwrap();
    let r = AngleReport::new(&predicted, &set.angles, &set.data.labels, 10.0).unwrap();
    eprintln!("lenet rotation, 3 epochs on 6,000: RMSE {:.2}°, within 10° {:.3}", r.rmse, r.within_threshold);
    assert!(r.rmse < 15.0, "RMSE {}", r.rmse);
}

/// Angle report and classifier accuracies (upright, deskewed) of a rotation model on all 10,000
/// test digits, each turned by a seeded random angle (measuring fixed models, choosing nothing).
fn measure_on_rotated_test(regressor: &mut Sequential) -> (AngleReport, f64, f64) {
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, true).unwrap();
    let idx: Vec<usize> = (0..test.len()).collect();
    let set = RotatedSet::generate(&test, &idx, MAX_DEGREES, 0);
    let predicted = predict_dataset(regressor, &set.data, 1000).unwrap();
    let r = AngleReport::new(&predicted, &set.angles, &set.data.labels, 10.0).unwrap();
    let (mut classifier, _) = digitnet::inference::builtin::digits_classifier().unwrap();
    let mut ws = Workspace::default();
    let upright = evaluate(&mut classifier, &test, 1000, &mut ws).unwrap().stats.accuracy;
    let deskewed = evaluate(&mut classifier, &deskew_dataset(&set.data, &predicted), 1000, &mut ws).unwrap().stats.accuracy;
    eprintln!("RMSE {:.3}°, within 10° {:.4}; classifier upright {upright:.4}, deskewed {deskewed:.4}", r.rmse, r.within_threshold);
    (r, upright, deskewed)
}

/// `models/rotation-mnist.safetensors` (raw 28×28 inputs, the issue's benchmark pipeline):
/// measured RMSE 2.79°, 99.30 % within 10°, classifier 99.62 % after deskewing against 99.66 %
/// upright (the 28-epoch network; trained 8 epochs further since) — the issue's targets
/// (≤ 3.5°, ≥ 98 %, within 1 point).
#[test]
fn mnist_rotation_model_on_rotated_test_digits() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/rotation-mnist.safetensors");
    let mut regressor = digitnet::network::model_file::load(&path, None).unwrap().model;
    let (r, upright, deskewed) = measure_on_rotated_test(&mut regressor);
    assert!(r.rmse <= 3.5, "RMSE {}", r.rmse);
    assert!(r.within_threshold >= 0.98, "within 10° {}", r.within_threshold);
    assert!(upright - deskewed <= 0.01, "upright {upright}, deskewed {deskewed}");
}

/// The built-in rotation model's photos network (`models/rotation.safetensors`: the
/// MNIST-format network trained further on turned digits and photos of them, then on photos
/// alone) still reads turned MNIST-format digits, though the built-in hands those to the other
/// network: on all 10,000 turned test digits in memory, measured 5.13° RMSE and 95.30 % within
/// 10°, and deskewing with it keeps the classifier within 1 point (99.55 % against 99.66 %).
#[test]
fn builtin_photos_rotation_network_on_rotated_test_digits() {
    let (mut regressor, _) = digitnet::inference::builtin::rotation_regressor().unwrap();
    assert_eq!(regressor.architecture().rotation_input, digitnet::network::arch::RotationInput::Photos);
    let (r, upright, deskewed) = measure_on_rotated_test(&mut regressor);
    assert!(r.rmse <= 6.0, "RMSE {}", r.rmse);
    assert!(r.within_threshold >= 0.94, "within 10° {}", r.within_threshold);
    assert!(upright - deskewed <= 0.01, "upright {upright}, deskewed {deskewed}");
}

/// The built-in rotation model through the commands a user runs, on files: `data rotated`
/// (28×28 MNIST-format digits) and `data rotated --photos` (photo-like renderings: pen or
/// pencil on tinted paper, light, noise, blur, JPEG/PNG/BMP), scored by `eval --folder`, which
/// reads each file as `angle` does. Measured: 2.52° RMSE / 99.75 % within 10° on the 400
/// digits, 7.90° / 87.3 % on the 300 photos, each looked at three times (8.59° / 86.0 % with one
/// look, 9.57° / 78.0 % with the photos network before it was trained on photos alone). The
/// bounds catch the failure of the issue (11.4° and 69 % on MNIST-format files), a model that
/// answers ~0° (about 26° RMSE on ±45°).
#[test]
fn builtin_rotation_model_through_the_commands() {
    let dir = common::temp_dir("rot-files");
    for (kind, n, seed, max_rmse, min_within) in [("digits", "400", "11", 3.3, 0.985), ("photos", "300", "12", 9.5, 0.8)] {
        let out = dir.join(kind);
        let mut args = vec!["data", "rotated", "--n", n, "--split", "test", "--seed", seed, "--out", out.to_str().unwrap()];
        if kind == "photos" {
            args.push("--photos");
        }
        let o = digitnet(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = digitnet(&["eval", "--folder", out.to_str().unwrap(), "--model", "builtin-rotation", "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let (rmse, within) = (v["rmse"].as_f64().unwrap(), v["within_threshold"].as_f64().unwrap());
        eprintln!("{kind}: RMSE {rmse:.2}°, within 10° {within:.4}");
        assert_eq!(v["images"].as_u64(), Some(n.parse().unwrap()), "{kind}");
        assert!(rmse <= max_rmse, "{kind}: RMSE {rmse}");
        assert!(within >= min_within, "{kind}: within 10° {within}");
    }
}

/// The built-in rotation model reads an image in MNIST's format with its network trained on
/// turned MNIST digits, and a photo with the one trained on photos too: each answer is that
/// network's own, loaded alone from `models/`.
#[test]
fn builtin_rotation_chooses_its_network_by_the_image() {
    use digitnet::inference::Model;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut builtin = Model::builtin_rotation().unwrap();
    let mut mnist_only = Model::load(&root.join("models/rotation-mnist.safetensors")).unwrap();
    let mut photos_only = Model::load(&root.join("models/rotation.safetensors")).unwrap();
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, true).unwrap();
    let set = RotatedSet::generate(&test, &[5, 6, 7], MAX_DEGREES, 3);
    let mut differ = 0;
    for k in 0..3 {
        let turned = digitnet::vision::Gray { width: 28, height: 28, pixels: set.data.image(k).to_vec() };
        let a = builtin.angle(&turned).unwrap();
        assert_eq!(a, mnist_only.angle(&turned).unwrap(), "digit {k}");
        differ += usize::from(a != photos_only.angle(&turned).unwrap());
    }
    assert!(differ > 0, "the two networks agree on every digit: the test shows nothing");
    let photo = digitnet::vision::load_luma(&root.join("web/fixtures/rotated.png")).unwrap();
    assert_eq!(builtin.angle(&photo).unwrap(), photos_only.angle(&photo).unwrap());
}

/// The commands end to end: data rotated → angle (JSON, per-file errors) → deskew → eval
/// (JSON keys, plots) → eval --rotated; train --task rotation and finetune write their files.
#[test]
fn rotation_commands_end_to_end() {
    let dir = common::temp_dir("rot-cli");
    let d = |p: &str| dir.join(p).to_str().unwrap().to_string();
    let o = digitnet(&["data", "rotated", "--n", "3", "--split", "test", "--seed", "4", "--out", &d("rot")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(dir.join("rot/angles.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let truth: Vec<f32> = csv.lines().skip(1).map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect();
    assert!(truth.iter().all(|a| a.abs() <= 45.0));

    std::fs::write(dir.join("garbage.png"), b"not an image").unwrap();
    let o = digitnet(&["angle", "--json", &d("rot/00000.png"), &d("garbage.png"), &d("rot/00001.png"), &d("missing.png")]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 4);
    for (k, i) in [(0, 0), (2, 1)] {
        let angle = items[k]["angle"].as_f64().unwrap();
        assert!((angle - truth[i] as f64).abs() < 15.0, "image {i}: predicted {angle}, true {}", truth[i]);
    }
    assert!(items[1]["error"].is_string() && items[3]["error"].is_string());

    let o = digitnet(&["deskew", &d("rot/00000.png"), &d("rot/00002.png"), "--out", &d("straight")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("straight/00000.png").is_file() && dir.join("straight/00002.png").is_file());

    common::write_mnist_subset(&dir, 600, 300);
    // One epoch on the subset, 100 digits held out, the model to `out`.
    let short_run = |args: &[&str], out: &str| {
        let data = d("");
        let out = d(out);
        let mut all = args.to_vec();
        all.extend(["--data", &data, "--epochs", "1", "--val-split", "100", "--out", &out]);
        digitnet(&all)
    };
    let o = short_run(&["train", "--arch", "small", "--task", "rotation"], "scratch.safetensors");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("rmse"));
    let o = short_run(&["finetune", "--from", "builtin", "--freeze", "all"], "ft.safetensors");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["ft.safetensors", "ft.ckpt.safetensors", "ft.history.json", "ft.curves.png"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    // Trained further on photos alone: the model records it, and validates on photos.
    let o = short_run(&["finetune", "--from", &d("ft.safetensors"), "--further", "--photos-only"], "ftp.safetensors");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let further = digitnet::network::model_file::load(&dir.join("ftp.safetensors"), None).unwrap().model;
    assert_eq!(further.architecture().rotation_input, digitnet::network::arch::RotationInput::Photos);

    let o = digitnet(&["eval", "--model", &d("ft.safetensors"), "--data", &d(""), "--json", "--threshold", "15", "--plots", &d("plots")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in ["rmse", "mae", "within_threshold", "threshold", "per_class_rmse"] {
        assert!(!v[key].is_null(), "{key} missing in {v}");
    }
    assert_eq!(v["threshold"].as_f64(), Some(15.0));
    assert_eq!(v["per_class_rmse"].as_array().unwrap().len(), 10);
    assert!(dir.join("plots/angles.png").is_file() && dir.join("plots/residuals.png").is_file());

    let o = digitnet(&["eval", "--rotated", "--data", &d(""), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["deskewed_accuracy"].as_f64().unwrap() > v["rotated_accuracy"].as_f64().unwrap(), "{v}");
}

/// Bad requests: a regressor as --from, too many frozen layers, a classifier where a rotation
/// model is needed, an absurd threshold — one error line each, no panic.
#[test]
fn rotation_bad_inputs() {
    let dir = common::temp_dir("rot-bad");
    let d = |p: &str| dir.join(p).to_str().unwrap().to_string();
    std::fs::write(dir.join("rot.safetensors"), digitnet::inference::builtin::ROTATION_REGRESSOR).unwrap();
    std::fs::write(dir.join("cls.safetensors"), digitnet::inference::builtin::DIGITS_CLASSIFIER).unwrap();
    fails_with(&["finetune", "--from", &d("rot.safetensors"), "--out", &d("x.safetensors")], "not a classifier");
    fails_with(&["finetune", "--from", "builtin", "--freeze", "99", "--out", &d("x.safetensors")], "--freeze 99");
    fails_with(&["finetune", "--from", "builtin", "--freeze", "some", "--out", &d("x.safetensors")], "--freeze");
    fails_with(&["finetune", "--from", "builtin", "--photos", "--photos-only", "--out", &d("x.safetensors")], "--photos-only");
    fails_with(&["finetune", "--from", &d("missing.safetensors"), "--out", &d("x.safetensors")], "missing.safetensors");
    fails_with(&["angle", "--model", &d("cls.safetensors"), &d("x.png")], "not a rotation model");
    fails_with(&["eval", "--model", &d("rot.safetensors"), "--threshold=-1"], "--threshold");
    fails_with(&["eval", "--rotated", "--deskew-with", &d("cls.safetensors")], "not a rotation model");
    fails_with(&["data", "rotated", "--n", "0", "--out", &d("r")], "--n");
    fails_with(&["train", "--task", "rotation", "--class-weights", "1,2", "--out", &d("w.safetensors")], "--class-weights");
    fails_with(&["train", "--task", "rotation", "--augment-rotation", "10", "--epochs", "1", "--out", &d("a.safetensors")], "augmentation");
}
