//! Writes the seed inputs of the fuzz targets into `fuzz/corpus/<target>/seed-*`: small valid
//! files of every kind digitnet reads, and the inputs that broke it before (issue #18: absurd
//! sizes in architectures and model files, "same" padding around a dilation wider than the
//! input, IDX dimensions that overflow, a PNG claiming 10¹⁰ pixels, an EXIF-rotated JPEG,
//! malformed pixel JSON). Deterministic; MNIST training digits only.
//!
//! Run: `cargo run --release --example fuzz_seeds` (source in `tools/`); the fuzzers add their
//! own finds beside these (see fuzz/README.md).

use digitnet::data::render::Canvas;
use digitnet::data::{shipped_mnist_dir, Dataset, Split};
use digitnet::init::Rng;
use digitnet::network::{model_file, onnx, Architecture, Sequential};
use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let train = Dataset::load_idx(&shipped_mnist_dir(), Split::Train, true).expect("shipped MNIST");
    let mut seeds = Seeds { root, written: 0 };
    idx_seeds(&mut seeds, &train);
    network_seeds(&mut seeds);
    image_seeds(&mut seeds, &train);
    pixels_seeds(&mut seeds, &train);
    println!("wrote {} seeds under {}", seeds.written, seeds.root.display());
}

struct Seeds {
    root: PathBuf,
    written: usize,
}

impl Seeds {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("writing a seed");
        self.written += 1;
    }
}

fn idx_file(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The `idx` target's input: the images file's length (u16, big-endian), images, labels.
fn idx_pair(images: &[u8], labels: &[u8]) -> Vec<u8> {
    let mut out = (images.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(images);
    out.extend_from_slice(labels);
    out
}

fn idx_seeds(s: &mut Seeds, train: &Dataset) {
    let images: Vec<u8> = (0..3).flat_map(|i| train.image(i).to_vec()).collect();
    let (img3, lab3) = (idx_file(&[3, 28, 28], &images), idx_file(&[3], &train.labels[..3]));
    s.put("idx", "three-digits", &idx_pair(&img3, &lab3));
    s.put("idx", "three-digits-gzip", &idx_pair(&gzip(&img3), &gzip(&lab3)));
    s.put("idx", "small-images", &idx_pair(&idx_file(&[2, 5, 4], &[9; 40]), &idx_file(&[2], &[1, 7])));
    s.put("idx", "counts-disagree", &idx_pair(&img3, &idx_file(&[2], &[1, 7])));
    s.put("idx", "dims-overflow", &idx_pair(&idx_file(&[u32::MAX, u32::MAX, u32::MAX], &[]), &lab3));
    s.put("idx", "dims-huge-no-data", &idx_pair(&idx_file(&[60000, 65536, 65536], &[1, 2, 3]), &lab3));
    s.put("idx", "zero-dims", &idx_pair(&idx_file(&[0, 28, 28], &[]), &idx_file(&[0], &[])));
}

fn tiny(layers: &str, input: &str) -> String {
    format!(r#"{{"name": "t", "input": {input}, "classes": ["0","1","2","3","4","5","6","7","8","9"], "layers": {layers}}}"#)
}

fn network_seeds(s: &mut Seeds) {
    let archs = [
        ("dense", tiny(r#"[{"type": "flatten"}, {"type": "dense", "out_features": 10}]"#, "[1, 28, 28]")),
        (
            "conv-bn-pool",
            tiny(
                r#"[{"type": "conv2d", "out_channels": 4, "kernel": 3, "stride": 1, "padding": "same", "dilation": 1}, {"type": "batch_norm"}, {"type": "relu"}, {"type": "max_pool2d", "kernel": 2, "stride": 2, "padding": 1}, {"type": "conv2d", "out_channels": 4, "kernel": [3, 2], "padding": [1, 0], "dilation": 2}, {"type": "avg_pool2d", "kernel": 2}, {"type": "dropout", "rate": 0.5}, {"type": "flatten"}, {"type": "dense", "out_features": 10}, {"type": "softmax"}]"#,
                "[1, 12, 12]",
            ),
        ),
        ("dense-1e11", tiny(r#"[{"type": "flatten"}, {"type": "dense", "out_features": 100000000000}, {"type": "dense", "out_features": 10}]"#, "[1, 28, 28]")),
        ("input-2pow32", tiny(r#"[{"type": "flatten"}, {"type": "dense", "out_features": 10}]"#, "[1, 4294967297, 28]")),
        (
            "same-dilation-40",
            tiny(
                r#"[{"type": "conv2d", "out_channels": 2, "kernel": 3, "dilation": 40, "padding": "same"}, {"type": "flatten"}, {"type": "dense", "out_features": 10}]"#,
                "[1, 28, 28]",
            ),
        ),
        (
            "pad-stride-tiny-input",
            tiny(
                r#"[{"type": "conv2d", "out_channels": 2, "kernel": 3, "dilation": 5, "padding": 5, "stride": 2}, {"type": "flatten"}, {"type": "dense", "out_features": 10}]"#,
                "[1, 3, 3]",
            ),
        ),
    ];
    for (name, json) in &archs {
        s.put("architecture", name, json.as_bytes());
    }
    for name in ["small", "lenet", "keras"] {
        let arch = Architecture::builtin(name).unwrap();
        s.put("architecture", &format!("builtin-{name}"), arch.to_json().as_bytes());
    }
    let small = Sequential::new(&Architecture::builtin("small").unwrap(), 1).unwrap();
    s.put("onnx", "builtin-small", &onnx::to_bytes(&small, &HashMap::new()).unwrap());
    // Model files: the tiny dense network and the conv one, safetensors and ONNX, and the tiny
    // one whose architecture claims 2,500,000 outputs for the same tensors.
    for (name, json) in &archs[..2] {
        let net = Sequential::new(&Architecture::from_json(json, name).unwrap(), 1).unwrap();
        let bytes = model_file::to_bytes(&net, &HashMap::new()).unwrap();
        s.put("model_file", name, &bytes);
        s.put("onnx", name, &onnx::to_bytes(&net, &HashMap::new()).unwrap());
        if *name == "dense" {
            let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            let header = String::from_utf8(bytes[8..8 + header_len].to_vec()).unwrap();
            let lying = header.replace(r#"\"out_features\":10"#, r#"\"out_features\":2500000"#);
            assert_ne!(lying, header, "the architecture is embedded as escaped JSON");
            let mut m = (lying.len() as u64).to_le_bytes().to_vec();
            m.extend_from_slice(lying.as_bytes());
            m.extend_from_slice(&bytes[8 + header_len..]);
            s.put("model_file", "claims-2.5M-outputs", &m);
        }
    }
}

fn encode(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encoding a seed image");
    out.into_inner()
}

/// A PNG signature and an IHDR chunk claiming `w × h` pixels, and no image data.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    out
}

/// PNG's CRC-32 (bitwise; a handful of bytes here).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// `jpeg` with an EXIF APP1 segment after SOI saying "rotate 90° clockwise" (orientation 6).
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\x00\x08\x00\x00\x00".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn image_seeds(s: &mut Seeds, train: &Dataset) {
    use image::{DynamicImage, ImageFormat};
    let mut rng = Rng::new(18);
    let mut photo = Canvas::lit_paper(40, 36, &mut rng);
    photo.pen(train.image(0), 1, 6, 4);
    let photo = DynamicImage::ImageLuma8(photo.image());
    let mnist = DynamicImage::ImageLuma8(image::GrayImage::from_raw(28, 28, train.image(1).to_vec()).unwrap());
    let mut number = Canvas::lit_paper(96, 34, &mut rng);
    for k in 0..3 {
        number.pen(train.image(2 + k), 1, 4 + 30 * k, 3);
    }
    let number = DynamicImage::ImageLuma8(number.image());
    s.put("image", "photo.png", &encode(&photo, ImageFormat::Png));
    s.put("image", "photo-rgba.png", &encode(&DynamicImage::ImageRgba8(photo.to_rgba8()), ImageFormat::Png));
    s.put("image", "photo-16bit.png", &encode(&DynamicImage::ImageLuma16(photo.to_luma16()), ImageFormat::Png));
    s.put("image", "photo.jpg", &encode(&photo, ImageFormat::Jpeg));
    s.put("image", "photo-exif6.jpg", &with_exif_orientation(&encode(&DynamicImage::ImageRgb8(photo.to_rgb8()), ImageFormat::Jpeg), 6));
    s.put("image", "photo.bmp", &encode(&photo, ImageFormat::Bmp));
    s.put("image", "photo.gif", &encode(&DynamicImage::ImageRgba8(photo.to_rgba8()), ImageFormat::Gif));
    s.put("image", "photo.tiff", &encode(&photo, ImageFormat::Tiff));
    s.put("image", "photo.webp", &encode(&DynamicImage::ImageRgba8(photo.to_rgba8()), ImageFormat::WebP));
    s.put("image", "mnist-format.png", &encode(&mnist, ImageFormat::Png));
    s.put("image", "number.png", &encode(&number, ImageFormat::Png));
    s.put("image", "claims-1e10-pixels.png", &png_header_only(100_000, 100_000));
    s.put("number", "number.png", &encode(&number, ImageFormat::Png));
    s.put("number", "number.jpg", &encode(&number, ImageFormat::Jpeg));
    s.put("number", "one-digit.png", &encode(&photo, ImageFormat::Png));
    s.put("number", "claims-1e10-pixels.png", &png_header_only(100_000, 100_000));
}

fn pixels_seeds(s: &mut Seeds, train: &Dataset) {
    let list = |v: &[String]| format!("{{\"pixels\": [{}]}}", v.join(", "));
    let digit: Vec<String> = train.image(3).iter().map(|p| p.to_string()).collect();
    s.put("pixels", "digit.json", list(&digit).as_bytes());
    let mut fractional = digit.clone();
    fractional[300] = "127.5".into();
    fractional[301] = "1e2".into();
    s.put("pixels", "fractional.json", list(&fractional).as_bytes());
    s.put("pixels", "785.json", list(&[digit.clone(), vec!["0".into()]].concat()).as_bytes());
    let mut out_of_range = digit.clone();
    out_of_range[5] = "-1e400".into();
    s.put("pixels", "out-of-range.json", list(&out_of_range).as_bytes());
    s.put("pixels", "blank.json", list(&vec!["0".to_string(); 784]).as_bytes());
    s.put("pixels", "wrong-shape.json", b"[1, 2, 3]");
    s.put("pixels", "unknown-field.json", b"{\"image\": 1, \"pixels\": [1]}");
    s.put("pixels", "truncated.json", &list(&digit).as_bytes()[..100]);
}
