//! Measures `predict` and `read` on photo-like renderings of MNIST *test* digits (which the
//! built-in model never trained on): pen or pencil on tinted paper, uneven light, noise, blur,
//! JPEG artefacts, 40–300 px tall, off centre, some transparent PNGs, 16-bit greys and BMPs.
//! It measures; it chooses nothing.
//!
//! With a third number, also `angle` on that many photos of test digits turned by random
//! angles in ±45° (the built-in rotation model, or the model file given after the numbers).
//!
//! Run: `cargo run --release --example photo_benchmark [N_DIGITS] [N_STRIPS] [N_ANGLES] [ROTATION_MODEL]`

use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::init::Rng;
use digitnet::layers::activation::softmax_row;
use digitnet::layers::Mode;
use digitnet::tensor::Tensor;
use digitnet::inference::builtin;
use digitnet::vision as preprocess;
use digitnet::vision::segment;
use image::{imageops, GrayImage, ImageBuffer, Luma, LumaA};
use std::io::Cursor;

/// Renders digits (MNIST ink images) side by side on paper and encodes the photo.
fn render(digits: &[&[u8]], rng: &mut Rng) -> Vec<u8> {
    let height = 40 + rng.below(261) as u32; // digit height in pixels, 40–300
    let scale = height as f32 / 20.0; // MNIST digits are ~20 px tall inside 28
    let cell = (28.0 * scale) as u32;
    let gap = (cell as f32 * rng.uniform(0.0, 0.25)) as u32;
    let margin = (cell / 3).max(4);
    let w = 2 * margin + digits.len() as u32 * cell + (digits.len() as u32 - 1) * gap;
    let h = 2 * margin + cell + (cell as f32 * rng.uniform(0.0, 0.5)) as u32;
    let paper = rng.uniform(170.0, 245.0);
    let light = rng.uniform(0.0, 50.0); // uneven light: a gradient across the page
    let ink = rng.uniform(0.55, 0.95); // pencil (light) to pen (dark)
    let mut img = GrayImage::from_fn(w, h, |x, y| Luma([(paper - light * (x + y) as f32 / (w + h) as f32).clamp(0.0, 255.0) as u8]));
    let oy_max = h - cell - margin;
    for (k, d) in digits.iter().enumerate() {
        let small = GrayImage::from_raw(28, 28, d.to_vec()).unwrap();
        let big = imageops::resize(&small, cell, cell, imageops::FilterType::Triangle);
        let ox = margin + k as u32 * (cell + gap);
        let oy = margin + rng.below((oy_max - margin + 1) as usize) as u32;
        for (x, y, p) in big.enumerate_pixels() {
            let a = p.0[0] as f32 / 255.0 * ink;
            let px = img.get_pixel_mut(ox + x, oy + y);
            px.0[0] = (px.0[0] as f32 * (1.0 - a)) as u8;
        }
    }
    let sigma = rng.uniform(0.0, 1.5) * scale / 4.0;
    let mut img = if sigma > 0.3 { imageops::blur(&img, sigma) } else { img };
    let noise = rng.uniform(0.0, 12.0);
    for p in img.pixels_mut() {
        p.0[0] = (p.0[0] as f32 + noise * rng.normal()).clamp(0.0, 255.0) as u8;
    }
    let mut out = Vec::new();
    match rng.below(10) {
        0 => {
            // Transparent PNG: ink in the alpha channel over nothing.
            let rgba: ImageBuffer<LumaA<u8>, Vec<u8>> = ImageBuffer::from_fn(w, h, |x, y| LumaA([0, 255 - img.get_pixel(x, y).0[0]]));
            rgba.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        }
        1 => {
            let g16: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(w, h, |x, y| Luma([img.get_pixel(x, y).0[0] as u16 * 257]));
            g16.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        }
        2 => img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Bmp).unwrap(),
        _ => {
            let q = 40 + rng.below(56) as u8;
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q).encode_image(&img).unwrap();
        }
    }
    out
}

fn classify(model: &mut digitnet::network::sequential::Sequential, images: &[[u8; 784]]) -> Vec<usize> {
    let norm = model.architecture().normalization;
    let x = Tensor::from_vec(&[images.len(), 1, 28, 28], images.iter().flat_map(|i| i.iter().map(|&p| norm.apply(p))).collect()).unwrap();
    let logits = model.forward(&x, Mode::Eval).unwrap();
    logits
        .data
        .chunks(10)
        .map(|z| {
            let mut p = [0.0; 10];
            softmax_row(z, &mut p);
            p.iter().enumerate().fold(0, |b, (i, &v)| if v > p[b] { i } else { b })
        })
        .collect()
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rotation_model = std::env::args().skip(1).find(|a| a.parse::<usize>().is_err());
    let (n_digits, n_strips) = (args.first().copied().unwrap_or(2000), args.get(1).copied().unwrap_or(300));
    let test = Dataset::load_idx(&shipped_mnist_dir(), Split::Test, true).unwrap();
    let (mut model, _) = builtin::digits_classifier().unwrap();
    let mut rng = Rng::new(2026);

    let (mut right, mut failed) = (0, 0);
    for k in 0..n_digits {
        let i = (k * 7919) % test.len();
        let bytes = render(&[test.image(i)], &mut rng);
        match preprocess::decode_luma(&bytes, "photo").and_then(|g| preprocess::to_mnist(&g)) {
            Ok(img) => right += usize::from(classify(&mut model, &[img])[0] == test.labels[i] as usize),
            Err(_) => failed += 1,
        }
    }
    println!("predict: {right}/{n_digits} right = {:.2} % ({failed} failed to preprocess)", 100.0 * right as f64 / n_digits as f64);

    let (mut exact, mut seg_wrong) = (0, 0);
    for _ in 0..n_strips {
        let len = 3 + rng.below(6);
        let picks: Vec<usize> = (0..len).map(|_| rng.below(test.len())).collect();
        let want: String = picks.iter().map(|&i| test.labels[i].to_string()).collect();
        let digits: Vec<&[u8]> = picks.iter().map(|&i| test.image(i)).collect();
        let bytes = render(&digits, &mut rng);
        let got = preprocess::decode_luma(&bytes, "strip").and_then(|g| segment::find_digits(&g));
        match got {
            Ok(boxes) => {
                if boxes.len() != len {
                    seg_wrong += 1;
                    continue;
                }
                let images: Vec<[u8; 784]> = boxes.iter().map(|b| b.image).collect();
                let text: String = classify(&mut model, &images).iter().map(|d| d.to_string()).collect();
                exact += usize::from(text == want);
            }
            Err(_) => seg_wrong += 1,
        }
    }
    println!("read: {exact}/{n_strips} strips exactly right = {:.2} % ({seg_wrong} with the wrong number of digits)", 100.0 * exact as f64 / n_strips as f64);

    let n_angles = args.get(2).copied().unwrap_or(0);
    if n_angles > 0 {
        let mut regressor = match &rotation_model {
            Some(path) => digitnet::network::model_file::load(std::path::Path::new(path), None).unwrap().model,
            None => builtin::rotation_regressor().unwrap().0,
        };
        let picks: Vec<usize> = (0..n_angles).map(|k| (k * 7919 + 13) % test.len()).collect();
        let set = digitnet::tasks::rotation::RotatedSet::generate(&test, &picks, digitnet::tasks::rotation::MAX_DEGREES, 2026);
        let (mut predicted, mut truth, mut labels, mut failed) = (Vec::new(), Vec::new(), Vec::new(), 0);
        for k in 0..picks.len() {
            let bytes = render(&[set.data.image(k)], &mut rng);
            match preprocess::decode_luma(&bytes, "photo").and_then(|g| preprocess::to_mnist(&g)) {
                Ok(img) => {
                    predicted.push(digitnet::tasks::rotation::predict_angles(&mut regressor, &[img]).unwrap()[0]);
                    truth.push(set.angles[k]);
                    labels.push(set.data.labels[k]);
                }
                Err(_) => failed += 1,
            }
        }
        let r = digitnet::tasks::rotation::AngleReport::new(&predicted, &truth, &labels, 10.0).unwrap();
        println!("angle: RMSE {:.2}°, within 10° {:.2} % on {} photos of turned digits ({failed} failed to preprocess)", r.rmse, 100.0 * r.within_threshold, r.images);
    }
}
