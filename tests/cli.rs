//! End-to-end tests of the `digitnet` binary: a small training run, evaluation, summary, and
//! every bad input the training issue lists (one-line error, non-zero exit, no panic).

mod common;

use common::{digitnet, fails_with};

use std::path::Path;

#[test]
fn train_eval_summary_end_to_end() {
    let dir = common::temp_dir("e2e");
    common::write_mnist_subset(&dir, 400, 100);
    let data = dir.to_str().unwrap();
    let out = dir.join("m.safetensors");
    let o =
        digitnet(&["train", "--arch", "scratch8", "--data", data, "--epochs", "2", "--val-split", "100", "--batch-size", "32", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("epoch   2:"), "{stdout}");
    for f in ["m.safetensors", "m.ckpt.safetensors", "m.history.json", "m.history.csv", "m.curves.png"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(dir.join("m.history.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds"));

    let o = digitnet(&["eval", "--model", out.to_str().unwrap(), "--data", data, "--json", "--plots", dir.join("plots").to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("eval --json prints JSON");
    for key in ["accuracy", "loss", "confusion", "per_class", "macro_avg", "weighted_avg", "kappa", "top2", "confused_pairs", "roc_auc"] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    let acc = v["accuracy"].as_f64().unwrap();
    assert!(acc > 0.5, "a scratch net trained on 300 images should beat chance by far: {acc}");
    let total: u64 = v["confusion"].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap()).map(|c| c.as_u64().unwrap()).sum();
    assert_eq!(total, 100);
    assert!(dir.join("plots/confusion.png").is_file() && dir.join("plots/misclassified.png").is_file());

    let o = digitnet(&["summary", "--model", out.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Total params: 13,610"), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn bad_inputs_fail_cleanly() {
    let dir = common::temp_dir("bad");
    let good = dir.join("good");
    std::fs::create_dir_all(&good).unwrap();
    common::write_mnist_subset(&good, 120, 30);
    let g = good.to_str().unwrap();

    fails_with(&["train", "--data", "/no/such/dir", "--epochs", "1"], "/no/such/dir");
    fails_with(&["train", "--data", g, "--val-split", "20", "--arch", "resnet"], "unknown architecture");
    fails_with(&["train", "--data", g, "--val-split", "20", "--batch-size", "0"], "batch-size");
    fails_with(&["train", "--data", g, "--val-split", "20", "--epochs", "0"], "epochs");
    fails_with(&["train", "--data", g, "--val-split", "500"], "val-split");
    fails_with(&["train", "--data", g, "--epochs", "1", "--val-split", "20", "--out", "/proc/digitnet/m.safetensors"], "/proc/digitnet");
    fails_with(&["train", "--data", g, "--val-split", "20", "--class-weights", "1,2"], "class");
    fails_with(&["train", "--data", g, "--val-split", "20", "--augment-photo", "2"], "photo 2");
    fails_with(&["train", "--data", g, "--val-split", "20", "--augment-photo", "0.5", "--pipeline", "resize"], "--augment-photo");

    // Corrupt data sets, one problem each.
    type Corrupt = Box<dyn Fn(&Path)>;
    let cases: [(&str, Corrupt, &str); 3] = [
        ("magic", Box::new(|d: &Path| std::fs::write(d.join("train-images-idx3-ubyte"), common::idx_bytes(&[1], &[0])).map(|_| ()).unwrap()), "magic"),
        (
            "truncated",
            Box::new(|d: &Path| {
                let p = d.join("train-images-idx3-ubyte");
                let b = std::fs::read(&p).unwrap();
                std::fs::write(&p, &b[..b.len() - 100]).unwrap();
            }),
            "truncated",
        ),
        ("count", Box::new(|d: &Path| std::fs::write(d.join("train-labels-idx1-ubyte"), common::idx_bytes(&[5], &[1, 2, 3, 4, 5])).unwrap()), "labels"),
    ];
    for (name, corrupt, needle) in cases {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        common::write_mnist_subset(&d, 120, 30);
        corrupt(&d);
        // "magic" writes a labels-style magic into the images file: 0x00000801 ≠ 0x00000803
        // is caught as "expected images [N, rows, cols]"; accept either wording.
        let needle = if name == "magic" { "images" } else { needle };
        fails_with(&["train", "--data", d.to_str().unwrap(), "--epochs", "1", "--val-split", "20"], needle);
    }
    let d = dir.join("badmagic");
    std::fs::create_dir_all(&d).unwrap();
    common::write_mnist_subset(&d, 120, 30);
    let mut b = std::fs::read(d.join("train-labels-idx1-ubyte")).unwrap();
    b[2] = 0x0d; // float data type: not unsigned bytes
    std::fs::write(d.join("train-labels-idx1-ubyte"), b).unwrap();
    fails_with(&["train", "--data", d.to_str().unwrap(), "--epochs", "1"], "magic");

    // A model made for 28×28 inputs against 8×8 images, and labels beyond the model's classes.
    let model = dir.join("m.safetensors");
    let o = digitnet(&["train", "--arch", "scratch8", "--data", g, "--epochs", "1", "--val-split", "20", "--out", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let small = dir.join("small8");
    std::fs::create_dir_all(&small).unwrap();
    std::fs::write(small.join("t10k-images-idx3-ubyte"), common::idx_bytes(&[2, 8, 8], &[0; 128])).unwrap();
    std::fs::write(small.join("t10k-labels-idx1-ubyte"), common::idx_bytes(&[2], &[1, 2])).unwrap();
    fails_with(&["eval", "--model", model.to_str().unwrap(), "--data", small.to_str().unwrap()], "inputs");
    let big_label = dir.join("biglabel");
    std::fs::create_dir_all(&big_label).unwrap();
    std::fs::write(big_label.join("t10k-images-idx3-ubyte"), common::idx_bytes(&[2, 28, 28], &[0; 1568])).unwrap();
    std::fs::write(big_label.join("t10k-labels-idx1-ubyte"), common::idx_bytes(&[2], &[1, 12])).unwrap();
    fails_with(&["eval", "--model", model.to_str().unwrap(), "--data", big_label.to_str().unwrap()], "label 12");
    fails_with(&["eval", "--model", dir.join("missing.safetensors").to_str().unwrap()], "missing.safetensors");
    std::fs::write(dir.join("garbage.safetensors"), b"garbage").unwrap();
    fails_with(&["eval", "--model", dir.join("garbage.safetensors").to_str().unwrap()], "garbage.safetensors");
    fails_with(&["eval", "--model", model.to_str().unwrap(), "--arch", "lenet", "--data", g], "");
}

/// Folder data sets: export MNIST as class folders, train on them with a stratified 70/30
/// split, evaluate on them.
#[test]
fn folder_data_sets_train_and_evaluate() {
    let dir = common::temp_dir("folders");
    let idx = dir.join("idx");
    std::fs::create_dir_all(&idx).unwrap();
    common::write_mnist_subset(&idx, 30, 300);
    let folders = dir.join("folders");
    let o = digitnet(&["data", "export", "--data", idx.to_str().unwrap(), "--split", "test", "--out", folders.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("wrote 300 images in 10 class folders"));
    let model = dir.join("f.safetensors");
    let o = digitnet(&[
        "train",
        "--folder",
        folders.to_str().unwrap(),
        "--split",
        "0.7",
        "--arch",
        "scratch8",
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--lr",
        "0.005",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("on 210 images (90 for validation)"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = digitnet(&["eval", "--model", model.to_str().unwrap(), "--folder", folders.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["accuracy"].as_f64().unwrap() > 0.5, "{}", v["accuracy"]);
    fails_with(&["train", "--folder", dir.join("nothing").to_str().unwrap(), "--epochs", "1"], "nothing");
    fails_with(&["train", "--folder", folders.to_str().unwrap(), "--split", "1.5", "--epochs", "1"], "--split");
}

/// `bench --json` prints the peers' keys with measured (positive) figures, and which copy of
/// the vector kernels ran, as the library detects it.
#[test]
fn bench_reports_figures_and_the_kernels_copy() {
    let o = digitnet(&["bench", "--arch", "small", "--steps", "5", "--threads", "1", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("bench --json prints one JSON object");
    for key in ["train_img_s", "b1_latency_us", "b1000_img_s", "train_gflops", "b1000_gflops"] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0 && x.is_finite()), "{key}: {v}");
    }
    assert_eq!(v["arch"], "small");
    assert_eq!(v["simd"], digitnet::kernels::simd::level().as_str(), "{v}");
}
