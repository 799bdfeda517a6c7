//! Real-world use through the binary: photos of digits (`predict`) and of numbers (`read`),
//! made from MNIST *test* digits the built-in model never trained on, and every bad input.

mod common;

use common::{draw_digit, paper};
use digitnet::data::render::Canvas;
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::init::Rng;
use image::{GrayImage, Luma};
use std::path::{Path, PathBuf};
use std::process::Command;

fn digitnet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_digitnet")).args(args).output().expect("binary runs")
}

fn save_jpeg(img: &Canvas, path: &Path) {
    img.image().save_with_format(path, image::ImageFormat::Jpeg).unwrap();
}

#[test]
fn photos_of_single_digits_are_recognised() {
    let dir = common::temp_dir("photos");
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).unwrap();
    let mut rng = Rng::new(11);
    let mut paths: Vec<PathBuf> = Vec::new();
    let n = 40;
    for i in 0..n {
        let scale = 3 + (i % 4) as u32;
        let mut img = paper(200, 180, &mut rng);
        let (ox, oy) = (10 + rng.below(200 - 28 * scale as usize - 10) as u32, 5 + rng.below(180 - 28 * scale as usize - 5) as u32);
        draw_digit(&mut img, test.image(i), scale, ox, oy);
        let p = dir.join(format!("d{i}.jpg"));
        save_jpeg(&img, &p);
        paths.push(p);
    }
    let mut args = vec!["predict", "--json"];
    let strs: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(strs.iter().map(String::as_str));
    let o = digitnet(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let answers = v.as_array().unwrap();
    assert_eq!(answers.len(), n);
    let mut right = 0;
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a["path"], strs[i]);
        assert_eq!(a["probabilities"].as_array().unwrap().len(), 10);
        right += usize::from(a["digit"].as_str().unwrap() == test.labels[i].to_string());
    }
    // 40 photo-like renderings: at most one miss (the model scores ≥ 99 % on MNIST itself).
    assert!(right >= n - 1, "{right}/{n} right");
}

#[test]
fn a_strip_of_five_digits_reads_as_its_string() {
    let dir = common::temp_dir("strip");
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).unwrap();
    let mut rng = Rng::new(5);
    let picks = [0usize, 1, 2, 3, 4]; // 7 2 1 0 4
    let want: String = picks.iter().map(|&i| test.labels[i].to_string()).collect();
    let mut img = paper(5 * 100 + 40, 150, &mut rng);
    for (k, &i) in picks.iter().enumerate() {
        draw_digit(&mut img, test.image(i), 3, 20 + k as u32 * 100, 20 + rng.below(30) as u32);
    }
    let p = dir.join("strip.jpg");
    save_jpeg(&img, &p);
    let ann = dir.join("annotated.png");
    let o = digitnet(&["read", "--json", "--annotate", ann.to_str().unwrap(), p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["text"], want);
    let digits = v["digits"].as_array().unwrap();
    assert_eq!(digits.len(), 5);
    let xs: Vec<u64> = digits.iter().map(|d| d["box"][0].as_u64().unwrap()).collect();
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "boxes left to right: {xs:?}");
    assert!(ann.is_file());
}

#[test]
fn bad_images_get_per_file_errors_and_the_rest_still_answer() {
    let dir = common::temp_dir("badimg");
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).unwrap();
    let good = dir.join("good.png");
    let mut img = paper(120, 120, &mut Rng::new(1));
    draw_digit(&mut img, test.image(0), 3, 10, 10);
    img.image().save(&good).unwrap();
    let blank = dir.join("blank.png");
    paper(80, 80, &mut Rng::new(2)).image().save(&blank).unwrap();
    let empty = dir.join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let truncated = dir.join("truncated.png");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = dir.join("garbage.jpg");
    std::fs::write(&garbage, b"this is not an image at all").unwrap();
    // A PNG header claiming 100000 × 100000 pixels: a decompression bomb must be refused
    // before anything that size is allocated.
    let bomb = dir.join("bomb.png");
    let mut b = bytes.clone();
    b[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    b[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    std::fs::write(&bomb, &b).unwrap();
    let missing = dir.join("missing.png");
    let files = [&good, &blank, &empty, &truncated, &garbage, &bomb, &missing];
    let args: Vec<String> = ["predict".to_string(), "--json".to_string()].into_iter().chain(files.iter().map(|p| p.display().to_string())).collect();
    let o = digitnet(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1), "any failed input makes the exit code 1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), files.len());
    assert_eq!(a[0]["digit"], test.labels[0].to_string());
    assert!(a[1]["error"].as_str().unwrap().contains("no digit found"), "{}", a[1]);
    for (i, entry) in a.iter().enumerate().skip(2) {
        assert!(entry["error"].is_string(), "{}: {entry}", files[i].display());
        // The entry names the file once, in "path"; the message does not repeat it.
        assert_eq!(entry["path"].as_str(), Some(files[i].display().to_string().as_str()), "{entry}");
        assert!(!entry["error"].as_str().unwrap().contains(&files[i].display().to_string()), "path repeated in the message: {entry}");
    }
}

/// `filter` applies the classical kernels through the engine's convolution: on a 6×6 image
/// with a vertical step (columns 0–2 at 40, 3–5 at 200), the 3×3 average at row 2, column 2
/// is (3·40 + 3·40 + 3·200)/9 = 93.3 → 93, and |Sobel-x| there is 4·(200 − 40) = 640 → 255
/// (clamped), while inside a flat region (column 0–1 interior) it is 0.
#[test]
fn filter_applies_classical_kernels() {
    let dir = common::temp_dir("filter");
    let src = dir.join("step.png");
    GrayImage::from_fn(6, 6, |x, _| Luma([if x < 3 { 40 } else { 200 }])).save(&src).unwrap();
    let avg = dir.join("avg.png");
    let o = digitnet(&["filter", src.to_str().unwrap(), "--kernel", "average3", "--out", avg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = image::open(&avg).unwrap().to_luma8();
    assert_eq!(a.get_pixel(2, 2).0[0], 93);
    assert_eq!(a.get_pixel(4, 2).0[0], 200);
    let sob = dir.join("sobel.png");
    let o = digitnet(&["filter", src.to_str().unwrap(), "--kernel", "sobel-x", "--out", sob.to_str().unwrap()]);
    assert!(o.status.success());
    let s = image::open(&sob).unwrap().to_luma8();
    assert_eq!(s.get_pixel(2, 2).0[0], 255);
    assert_eq!(s.get_pixel(1, 2).0[0], 0);
}

/// `inspect` writes one grid per [C, H, W] layer output plus the first layer's filters.
#[test]
fn inspect_writes_feature_maps() {
    let dir = common::temp_dir("inspect");
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, false).unwrap();
    let src = dir.join("digit.png");
    let mut img = paper(100, 100, &mut Rng::new(3));
    draw_digit(&mut img, test.image(1), 2, 20, 20);
    img.image().save(&src).unwrap();
    let out = dir.join("maps");
    let o = digitnet(&["inspect", src.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["00-input.png", "01-conv2d.png", "03-relu.png", "04-maxpool2d.png", "filters.png"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
}
