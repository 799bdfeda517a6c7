//! A new user's first hour (issue #17), as they meet it on the command line: negative numbers
//! reach our own checks, a checkpoint given as a model says what to give instead, folders are
//! read as their images, errors carry no internal prefix and name a path once, and the small
//! conveniences (`train --limit`, `predict --top` with `--json`, `eval --json`'s model and
//! image count, `sweep`'s best line, `summary`'s thousands separators).

mod common;

use common::{digitnet, fails_with};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn negative_numbers_reach_our_checks() {
    let dir = common::temp_dir("negative");
    common::write_mnist_subset(&dir, 120, 30);
    let d = dir.to_str().unwrap();
    // A count flag: our words, not clap's "unexpected argument '-1' found".
    for (flag, value) in [("--epochs", "-1"), ("--batch-size", "-64"), ("--epochs", "2.5")] {
        let o = digitnet(&["train", "--data", d, flag, value]);
        assert_eq!(o.status.code(), Some(2));
        let e = stderr(&o);
        assert_eq!(e.trim(), format!("error: {flag} takes a whole number, 0 or more; got {value}"), "{e}");
    }
    // A real-valued flag: the value reaches the command's own validation.
    fails_with(&["train", "--data", d, "--lr", "-1"], "--lr must be a positive number, got -1");
    fails_with(
        &["train", "--data", d, "--val-split", "20", "--epochs", "1", "--optimizer", "sgd", "--momentum", "-0.5"],
        "momentum must be in [0, 1), got -0.5",
    );
}

#[test]
fn a_checkpoint_given_as_a_model_says_what_to_give() {
    let dir = common::temp_dir("ckpt-hint");
    common::write_mnist_subset(&dir, 200, 40);
    let d = dir.to_str().unwrap();
    let out = dir.join("m.safetensors");
    let o = digitnet(&["train", "--arch", "scratch8", "--data", d, "--epochs", "1", "--val-split", "40", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ckpt = dir.join("m.ckpt.safetensors");
    for args in [vec!["eval", "--data", d], vec!["summary"], vec!["predict", "--json", ckpt.to_str().unwrap()]] {
        let o = digitnet(&[args.as_slice(), &["--model", ckpt.to_str().unwrap()]].concat());
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        assert!(e.contains("this is a training checkpoint, not a model"), "{e}");
        assert!(e.contains(&format!("({})", out.display())), "names the model beside it: {e}");
        assert!(e.contains("digitnet train --resume"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    // The checkpoint still resumes.
    let o = digitnet(&["train", "--resume", ckpt.to_str().unwrap(), "--data", d, "--epochs", "2", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn folders_are_read_as_their_images_and_errors_say_a_path_once() {
    let dir = common::temp_dir("folders");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_mnist_subset(&data, 40, 12);
    let export = dir.join("export");
    let o = digitnet(&["data", "export", "--data", data.to_str().unwrap(), "--split", "test", "--out", export.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // One flat folder of images, plus a file that is not an image and a sub-folder.
    let photos = dir.join("photos");
    std::fs::create_dir_all(photos.join("sub")).unwrap();
    let mut copied = Vec::new();
    for class in std::fs::read_dir(&export).unwrap().flatten().filter(|e| e.path().is_dir()) {
        let Some(first) = std::fs::read_dir(class.path()).unwrap().flatten().map(|e| e.path()).min() else { continue };
        let name = format!("{}.png", class.file_name().to_string_lossy());
        std::fs::copy(&first, photos.join(&name)).unwrap();
        copied.push(name);
    }
    copied.sort();
    std::fs::write(photos.join("notes.txt"), "not an image").unwrap();

    let o = digitnet(&["predict", "--json", photos.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let paths: Vec<String> = v.as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap().to_string()).collect();
    let expected: Vec<String> = copied.iter().map(|n| photos.join(n).display().to_string()).collect();
    assert_eq!(paths, expected, "the folder's images, sorted");
    let e = stderr(&o);
    assert!(e.contains("skipped 2 entries that are not an image file"), "non-images (a text file, a sub-folder) are skipped with a note: {e}");

    // An empty folder, and a missing file: one line each, the path said once.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = digitnet(&["predict", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("holds no image files"), "{}", stderr(&o));
    let missing = dir.join("missing.png");
    let o = digitnet(&["predict", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.matches(&missing.display().to_string()).count(), 1, "path said once: {e}");

    // A blank image: the reason without the library's internal "data:" prefix.
    let blank = dir.join("blank.png");
    image::GrayImage::from_pixel(60, 60, image::Luma([255])).save(&blank).unwrap();
    let o = digitnet(&["predict", blank.to_str().unwrap()]);
    let e = stderr(&o);
    assert!(e.contains("no digit found") && !e.contains("data:") && !e.contains("invalid configuration:"), "{e}");
}

#[test]
fn small_conveniences() {
    let dir = common::temp_dir("conveniences");
    common::write_mnist_subset(&dir, 400, 50);
    let d = dir.to_str().unwrap();
    let out = dir.join("m.safetensors");

    // train --limit: a subset, with a tenth held out for validation unless --val-split says.
    let o = digitnet(&["train", "--arch", "scratch8", "--data", d, "--epochs", "1", "--limit", "200", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("on 180 images (20 for validation)"), "{}", stderr(&o));
    // A resumed run takes the same images; another --limit is refused.
    let ckpt = dir.join("m.ckpt.safetensors");
    let o = digitnet(&["train", "--resume", ckpt.to_str().unwrap(), "--data", d, "--epochs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("on 180 images (20 for validation)"), "{}", stderr(&o));
    fails_with(&["train", "--resume", ckpt.to_str().unwrap(), "--data", d, "--epochs", "3", "--limit", "300"], "this run was trained on the first 200 images");

    // predict --top K with --json.
    let export = dir.join("export");
    assert!(digitnet(&["data", "export", "--data", d, "--split", "test", "--out", export.to_str().unwrap()]).status.success());
    let one = std::fs::read_dir(export.join("3")).unwrap().flatten().map(|e| e.path()).min().unwrap();
    let o = digitnet(&["predict", "--json", "--top", "3", "--model", out.to_str().unwrap(), one.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let top = v[0]["top"].as_array().expect("top list");
    assert_eq!(top.len(), 3);
    assert_eq!(top[0]["digit"], v[0]["digit"]);
    let p: Vec<f64> = top.iter().map(|t| t["probability"].as_f64().unwrap()).collect();
    assert!(p[0] >= p[1] && p[1] >= p[2], "{p:?}");

    // eval --json says which model and how many images.
    let o = digitnet(&["eval", "--json", "--model", out.to_str().unwrap(), "--data", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["model"].as_str(), Some(out.to_str().unwrap()));
    assert_eq!(v["images"].as_u64(), Some(50));

    // sweep points out the best combination.
    let o = digitnet(&[
        "sweep",
        "--filters",
        "4",
        "--lr",
        "0.001,0.01",
        "--epochs",
        "1",
        "--limit",
        "200",
        "--val-split",
        "50",
        "--data",
        d,
        "--out-dir",
        dir.join("sweep").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    let best = s.lines().find(|l| l.starts_with("best: ")).unwrap_or_else(|| panic!("{s}"));
    assert!(best.contains("at lr 0.001") || best.contains("at lr 0.01"), "{best}");

    // summary separates thousands.
    let o = digitnet(&["summary", "--arch", "keras"]);
    assert!(stdout(&o).contains("Total params: "), "{}", stdout(&o));
    assert!(
        !stdout(&o).lines().any(|l| l.contains("Total params: ") && l.chars().filter(char::is_ascii_digit).count() > 3 && !l.contains(',')),
        "{}",
        stdout(&o)
    );
}
