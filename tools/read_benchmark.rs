//! Measures the number reader on a folder of images with `labels.json` (file → digits), as
//! `digitnet data numbers` writes them: exact-string accuracy, and the time `Model::read` takes
//! per image (decoded images, the model loaded once; run with `RAYON_NUM_THREADS=1` for one
//! core). It measures; it chooses nothing.
//!
//! With `RESIZE=WxH` every image is first resized to W×H (the speed target is a
//! 200×60 amount: `RESIZE=200x60`); `SHOW_MISSES=1` prints each image read wrong.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo run --release --example read_benchmark -- DIR [REPEATS] [MODEL]`

use digitnet::inference::Model;
use digitnet::vision::load_luma;
use std::path::Path;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(args.first().expect("a folder with labels.json"));
    let repeats: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let mut model = match args.get(2) {
        Some(p) => Model::load(Path::new(p)).unwrap(),
        None => Model::builtin_reader().unwrap(),
    };
    let labels: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(dir.join("labels.json")).unwrap()).unwrap();
    let resize: Option<(u32, u32)> = std::env::var("RESIZE").ok().and_then(|v| {
        let (w, h) = v.split_once('x')?;
        Some((w.parse().ok()?, h.parse().ok()?))
    });
    let load = |name: &str| {
        let g = load_luma(&dir.join(name)).unwrap();
        let Some((w, h)) = resize else { return g };
        let img = image::GrayImage::from_raw(g.width as u32, g.height as u32, g.pixels).unwrap();
        let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
        digitnet::vision::Gray::new(w as usize, h as usize, small.into_raw()).unwrap()
    };
    let images: Vec<(String, String, digitnet::vision::Gray)> =
        labels.iter().map(|(name, want)| (name.clone(), want.as_str().unwrap_or_default().to_string(), load(name))).collect();
    if std::env::var_os("SWEEP").is_some() {
        // The reading's costs on a grid (candidates and probabilities computed once).
        use digitnet::inference::Reading;
        use digitnet::vision::number::{number_candidates, Costs};
        let classes = model.classes().to_vec();
        let scored: Vec<_> = images
            .iter()
            .filter_map(|(_, want, g)| {
                let c = number_candidates(g).ok()?;
                let p = model.probabilities(&c.images()).ok()?;
                Some((want.clone(), c, p))
            })
            .collect();
        let grid = |v: &str, d: &[f64]| -> Vec<f64> {
            std::env::var(v).ok().map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect()).unwrap_or_else(|| d.to_vec())
        };
        for digit in grid("DIGIT", &[1.0]) {
            for skip in grid("SKIP", &[3.0]) {
                for wide in grid("WIDE", &[1.5, 3.0, 6.0]) {
                    let costs = Costs { digit, skip, wide };
                    let right =
                        scored.iter().filter(|(want, c, p)| Reading::from_candidates_with(c, p, &classes, costs).is_ok_and(|r| &r.text == want)).count();
                    println!("digit {digit:.1} skip {skip:.1} wide {wide:.1}: {right}/{}", images.len());
                }
            }
        }
        return;
    }
    let mut exact = 0;
    let start = Instant::now();
    for r in 0..repeats {
        for (name, want, g) in &images {
            let text = model.read(g).map(|r| r.text).unwrap_or_default();
            if r == 0 {
                exact += usize::from(&text == want);
                if &text != want && std::env::var_os("SHOW_MISSES").is_some() {
                    eprintln!("{name}: want {want}, read {text}");
                }
            }
        }
    }
    let per = start.elapsed().as_secs_f64() * 1000.0 / (repeats * images.len()) as f64;
    let (w, h) = images.iter().fold((0, 0), |a, i| (a.0 + i.2.width, a.1 + i.2.height));
    println!(
        "{exact}/{} exact = {:.2} %; {per:.2} ms per image (mean size {}×{}, {repeats} passes)",
        images.len(),
        100.0 * exact as f64 / images.len() as f64,
        w / images.len(),
        h / images.len()
    );
}
