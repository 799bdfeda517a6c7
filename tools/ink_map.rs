//! Writes what the photo pipeline sees in each image: its ink map (`NAME.ink.png`, 0 =
//! paper, white = ink) and the 28×28 digit (`NAME.28x28.png`), and prints the facts
//! `vision::find_digit` reports. For looking at failures one by one.
//!
//! Run: `cargo run --release --example ink_map OUT_DIR IMAGE...`, or
//! `cargo run --release --example ink_map OUT_DIR --benchmark N` to render the first N single
//! digits of `photo_benchmark` and write those the pipeline finds no digit in, or
//! `cargo run --release --example ink_map OUT_DIR --augment` to write a grid of training
//! digits through the writer augmentations (stroke width, styles), or
//! `cargo run --release --example ink_map OUT_DIR --facts IMAGE...` to print, one line an
//! image, the facts the "not one digit" answer is calibrated on (and the built-in's answer).

use digitnet::vision::{find_digit, ink_map, load_luma};
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().expect("usage: ink_map OUT_DIR IMAGE..."));
    std::fs::create_dir_all(&out).unwrap();
    let rest: Vec<String> = args.collect();
    if rest.first().map(String::as_str) == Some("--benchmark") {
        let n: usize = rest.get(1).and_then(|v| v.parse().ok()).unwrap_or(200);
        let test = digitnet::data::Dataset::load_idx(&digitnet::data::shipped_mnist_dir(), digitnet::data::Split::Test, true).unwrap();
        let mut rng = digitnet::init::Rng::new(2026);
        let mut model = digitnet::inference::Model::builtin().unwrap();
        for k in 0..n {
            let i = (k * 7919) % test.len();
            let bytes = digitnet::data::render::photo(&[test.image(i)], &mut rng);
            let g = digitnet::vision::decode_luma(&bytes, "photo").unwrap();
            match find_digit(&g) {
                Err(e) => {
                    println!("benchmark {k} (test {i}): {}×{}: {e}", g.width, g.height);
                    std::fs::write(out.join(format!("bench{k}.img")), &bytes).unwrap();
                }
                Ok(f) => {
                    let p = model.classify(&[f.digit]).unwrap().remove(0);
                    if p.class != test.labels[i] as usize {
                        println!(
                            "benchmark {k} (test {i}, a {}): read {} ({:.2}); pieces {}, stroke {:.2}, density {:.2}",
                            test.labels[i], p.label, p.confidence, f.pieces, f.stroke_width, f.density
                        );
                        std::fs::write(out.join(format!("bench{k}.img")), &bytes).unwrap();
                        image::GrayImage::from_raw(28, 28, f.digit.to_vec()).unwrap().save(out.join(format!("bench{k}.28x28.png"))).unwrap();
                    }
                }
            }
        }
        return;
    }
    if rest.first().map(String::as_str) == Some("--augment") {
        use digitnet::data::augment::{Augment, Scratch};
        let train = digitnet::data::Dataset::load_idx(&digitnet::data::shipped_mnist_dir(), digitnet::data::Split::Train, true).unwrap();
        let spec = Augment { stroke: 1.0, styles: 1.0, ..Default::default() };
        let mut rng = digitnet::init::Rng::new(1);
        let picks: Vec<usize> = (0..train.len()).filter(|&i| [1, 4, 7].contains(&train.labels[i])).take(64).collect();
        let mut grid = image::GrayImage::new(8 * 56, 8 * 28);
        let mut scratch = Scratch::default();
        for (k, &i) in picks.iter().enumerate() {
            let mut out = vec![0u8; 784];
            spec.apply_labelled(train.image(i), Some(train.labels[i]), &mut out, 28, 28, &mut rng, &mut scratch);
            for (p, (&before, &after)) in train.image(i).iter().zip(&out).enumerate() {
                let (x, y) = ((k % 8) * 56 + p % 28, (k / 8) * 28 + p / 28);
                grid.put_pixel(x as u32, y as u32, image::Luma([before]));
                grid.put_pixel(x as u32 + 28, y as u32, image::Luma([after]));
            }
        }
        grid.save(out.join("augment.png")).unwrap();
        return;
    }
    if rest.first().map(String::as_str) == Some("--facts") {
        // One tab-separated line an image: the facts the "not one digit" answer uses.
        let mut model = digitnet::inference::Model::builtin().unwrap();
        println!("file\tpieces\tside_by_side\taspect\tstroke\tdensity\tdigit\tconfidence");
        for path in rest.iter().skip(1).map(PathBuf::from) {
            match load_luma(&path).and_then(|g| find_digit(&g)) {
                Ok(f) => {
                    let p = model.classify(&[f.digit]).unwrap().remove(0);
                    println!(
                        "{}\t{}\t{}\t{:.2}\t{:.2}\t{:.2}\t{}\t{:.4}",
                        path.display(),
                        f.pieces,
                        f.side_by_side,
                        f.aspect,
                        f.stroke_width,
                        f.density,
                        p.label,
                        p.confidence
                    );
                }
                Err(e) => println!("{}\terror: {e}", path.display()),
            }
        }
        return;
    }
    let args = rest.into_iter();
    for path in args.map(PathBuf::from) {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let g = match load_luma(&path) {
            Ok(g) => g,
            Err(e) => {
                println!("{stem}: {e}");
                continue;
            }
        };
        // The photo as decoded (upright), at most 400 pixels a side, to look at beside its ink.
        let f = 400.0 / g.width.max(g.height).max(400) as f32;
        let (sw, sh) = (((g.width as f32 * f) as u32).max(1), ((g.height as f32 * f) as u32).max(1));
        let seen = image::GrayImage::from_raw(g.width as u32, g.height as u32, g.pixels.clone()).unwrap();
        image::imageops::resize(&seen, sw, sh, image::imageops::FilterType::Triangle).save(out.join(format!("{stem}.png"))).unwrap();
        let ink = ink_map(&g);
        image::GrayImage::from_raw(ink.width as u32, ink.height as u32, ink.pixels).unwrap().save(out.join(format!("{stem}.ink.png"))).unwrap();
        match find_digit(&g) {
            Ok(f) => {
                image::GrayImage::from_raw(28, 28, f.digit.to_vec()).unwrap().save(out.join(format!("{stem}.28x28.png"))).unwrap();
                println!(
                    "{stem}: {}×{}, pieces {}, side by side {}, aspect {:.2}, stroke {:.2}, density {:.2}",
                    g.width, g.height, f.pieces, f.side_by_side, f.aspect, f.stroke_width, f.density
                );
            }
            Err(e) => println!("{stem}: {}×{}: {e}", g.width, g.height),
        }
    }
}
