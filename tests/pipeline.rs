//! The number a user gets is the number we report: a model records how an image becomes its
//! input (its pipeline), and the same image files through `eval`, `predict` or `angle` (the
//! binary) and the library API give the same answers, for each pipeline; model files written
//! before pipelines were recorded keep their behaviour.

mod common;

use common::{digitnet, temp_dir};
use digitnet::data::render::Canvas;
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::inference::{Model, Pipeline};
use digitnet::init::Rng;
use std::path::{Path, PathBuf};

/// Writes test digits `range` as class folders of PNGs under `dir`: as they are (MNIST
/// format) or, with `photo`, as 60×60 RGB photos of dark ink on tinted paper. Returns the files.
fn write_folder(dir: &Path, data: &Dataset, range: std::ops::Range<usize>, photo: bool) -> Vec<PathBuf> {
    let mut rng = Rng::new(range.start as u64);
    let mut files = Vec::new();
    for i in range {
        let class_dir = dir.join(data.labels[i].to_string());
        std::fs::create_dir_all(&class_dir).unwrap();
        let path = class_dir.join(format!("{i:05}.png"));
        if photo {
            let mut c = Canvas::lit_paper(60, 60, &mut rng);
            c.pen(data.image(i), 2, 2 + rng.below(4), 2 + rng.below(4));
            let g = c.image();
            let rgb = image::RgbImage::from_fn(60, 60, |x, y| {
                let v = g.get_pixel(x, y).0[0];
                image::Rgb([v, v.saturating_sub(8), v.saturating_sub(25)])
            });
            rgb.save(&path).unwrap();
        } else {
            image::GrayImage::from_raw(28, 28, data.image(i).to_vec()).unwrap().save(&path).unwrap();
        }
        files.push(path);
    }
    files
}

/// `eval --folder` accuracy, and per file the digit `predict --json` gives, for `model`
/// (`None`: the built-in one).
fn eval_and_predict(model: Option<&Path>, folder: &Path, files: &[PathBuf]) -> (f64, Vec<String>) {
    let mut args = vec!["eval", "--json", "--folder", folder.to_str().unwrap()];
    let m = model.map(|m| m.to_str().unwrap().to_string());
    if let Some(m) = &m {
        args.extend(["--model", m.as_str()]);
    }
    let o = digitnet(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let accuracy = serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["accuracy"].as_f64().unwrap();
    let mut args = vec!["predict", "--json"];
    if let Some(m) = &m {
        args.extend(["--model", m.as_str()]);
    }
    let names: Vec<String> = files.iter().map(|f| f.to_str().unwrap().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let o = digitnet(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    (accuracy, answers.iter().map(|a| a["digit"].as_str().unwrap().to_string()).collect())
}

/// The share of `digits` that name their file's class folder.
fn accuracy_of(files: &[PathBuf], digits: &[String]) -> f64 {
    let right = files.iter().zip(digits).filter(|(f, d)| f.parent().unwrap().file_name().unwrap().to_str().unwrap() == d.as_str()).count();
    right as f64 / files.len() as f64
}

/// `eval --folder`, `predict` and the library agree on every file, and the library's answer
/// comes through the recorded pipeline.
fn check_agreement(model: Option<&Path>, folder: &Path, files: &[PathBuf], pipeline: Pipeline) {
    let (eval, predicted) = eval_and_predict(model, folder, files);
    assert_eq!(eval, accuracy_of(files, &predicted), "eval --folder and predict score the same files alike");
    let mut lib = match model {
        Some(m) => Model::load(m).unwrap(),
        None => Model::builtin().unwrap(),
    };
    assert_eq!(lib.pipeline(), pipeline);
    for (f, d) in files.iter().zip(&predicted) {
        assert_eq!(&lib.predict_file(f).unwrap().label, d, "{}", f.display());
    }
}

/// The built-in classifier on MNIST-format files (the auto pipeline takes them as they are):
/// eval, predict and the library agree, and nearly every digit is right.
#[test]
fn builtin_classifier_on_mnist_format_files() {
    let dir = temp_dir("pipeline-mnist");
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).unwrap();
    let files = write_folder(&dir, &test, 0..150, false);
    check_agreement(None, &dir, &files, Pipeline::Auto);
    let (eval, _) = eval_and_predict(None, &dir, &files);
    assert!(eval >= 0.98, "{eval}");
}

/// The built-in classifier reads MNIST-format images with its network trained on MNIST as it
/// is (`models/digits.safetensors`) and photos with the one trained with writer augmentations
/// (`models/digits-photos.safetensors`): the library's probabilities are each network's own,
/// loaded alone; and on a folder of both kinds, `eval --folder`, `predict` and the library
/// agree file by file.
#[test]
fn builtin_classifier_chooses_its_network_by_the_image() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = temp_dir("pipeline-mixed");
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).unwrap();
    let mut files = write_folder(&dir, &test, 0..40, false);
    files.extend(write_folder(&dir, &test, 40..80, true));
    let mut builtin = Model::builtin().unwrap();
    let mut mnist_only = Model::load(&root.join("models/digits.safetensors")).unwrap();
    let mut photos_only = Model::load(&root.join("models/digits-photos.safetensors")).unwrap();
    let (mut differ_mnist, mut differ_photo) = (0, 0);
    for (k, f) in files.iter().enumerate() {
        let g = digitnet::vision::load_luma(f).unwrap();
        let p = builtin.predict(&g).unwrap().probabilities;
        let (mine, other) = if k < 40 { (&mut mnist_only, &mut photos_only) } else { (&mut photos_only, &mut mnist_only) };
        assert_eq!(p, mine.predict(&g).unwrap().probabilities, "{}", f.display());
        let differs = usize::from(p != other.predict(&g).unwrap().probabilities);
        if k < 40 {
            differ_mnist += differs;
        } else {
            differ_photo += differs;
        }
    }
    assert!(differ_mnist > 0 && differ_photo > 0, "the two networks agree on every file: the test shows nothing");
    check_agreement(None, &dir, &files, Pipeline::Auto);
}

/// Models trained on a folder record the pipeline they were trained with — auto when starting
/// from the built-in model, resize from scratch, or the one asked for — and `predict` on the
/// folder's files agrees with `eval --folder` on the same files.
#[test]
fn folder_models_record_their_pipeline() {
    let dir = temp_dir("pipeline-folder");
    let train = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, false).unwrap();
    write_folder(&dir.join("train"), &train, 0..200, true);
    let files = write_folder(&dir.join("test"), &train, 1000..1100, true);
    let (train_dir, test_dir) = (dir.join("train"), dir.join("test"));
    for (pipeline, extra) in [
        (Pipeline::Auto, vec![]),
        (Pipeline::Resize, vec!["--from", "scratch", "--arch", "scratch8"]),
        (Pipeline::Photo, vec!["--from", "scratch", "--arch", "scratch8", "--pipeline", "photo"]),
    ] {
        let out = dir.join(format!("{}.safetensors", pipeline.name()));
        let mut args = vec!["train", "--folder", train_dir.to_str().unwrap(), "--epochs", "1", "--out", out.to_str().unwrap()];
        args.extend(extra);
        let o = digitnet(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        check_agreement(Some(&out), &test_dir, &files, pipeline);
    }
    // Starting from the built-in model, one epoch on 160 photos already reads them.
    let (eval, _) = eval_and_predict(Some(&dir.join("auto.safetensors")), &test_dir, &files);
    assert!(eval >= 0.95, "{eval}");
}

/// A rotation model: `angle` on the files `data rotated` writes, `eval --folder` on that
/// folder, and the library give the same angles.
#[test]
fn rotation_eval_and_angle_agree_on_files() {
    let dir = temp_dir("pipeline-rotation");
    let rot = dir.join("rot");
    let o = digitnet(&["data", "rotated", "--n", "40", "--split", "test", "--seed", "5", "--out", rot.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(rot.join("angles.csv")).unwrap();
    let rows: Vec<(PathBuf, f64)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (rot.join(f[0]), f[2].parse().unwrap())
        })
        .collect();
    let names: Vec<String> = rows.iter().map(|r| r.0.to_str().unwrap().to_string()).collect();
    let mut args = vec!["angle", "--json"];
    args.extend(names.iter().map(String::as_str));
    let o = digitnet(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let angles: Vec<f64> = answers.iter().map(|a| a["angle"].as_f64().unwrap()).collect();
    let rmse = (rows.iter().zip(&angles).map(|((_, t), p)| (t - p).powi(2)).sum::<f64>() / rows.len() as f64).sqrt();
    let o = digitnet(&["eval", "--json", "--folder", rot.to_str().unwrap(), "--model", "builtin-rotation"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((report["rmse"].as_f64().unwrap() - rmse).abs() < 1e-3, "eval {} against angle {rmse}", report["rmse"]);
    let mut lib = Model::builtin_rotation().unwrap();
    for ((file, _), a) in rows.iter().zip(&angles) {
        assert!((lib.angle_file(file).unwrap() as f64 - a).abs() < 1e-3, "{}", file.display());
    }
}

/// Files written before pipelines were recorded: the documented defaults (auto for 28×28
/// networks, resize otherwise), and the built-in classifier still gives MNIST test accuracy
/// 99.66 % — 9,966 of 10,000, as measured before pipelines existed.
#[test]
fn old_model_files_keep_their_behaviour() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // models/digits.safetensors predates recorded pipelines (so did rotation-mnist.safetensors
    // until it was trained further on 6 December 2026; it now records `auto`, the same one).
    let m = Model::load(&root.join("models/digits.safetensors")).unwrap();
    assert_eq!(m.architecture().input_pipeline, None, "digits.safetensors predates recorded pipelines");
    assert_eq!(m.pipeline(), Pipeline::Auto);
    let m = Model::load(&root.join("models/rotation-mnist.safetensors")).unwrap();
    assert_eq!(m.pipeline(), Pipeline::Auto);
    let mut arch = digitnet::network::Architecture::builtin("scratch8").unwrap();
    arch.input = [1, 32, 32];
    assert_eq!(arch.pipeline(), Pipeline::Resize);
    let o = digitnet(&["eval", "--json"]);
    assert!(o.status.success());
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["accuracy"].as_f64().unwrap(), 0.9966);
}
