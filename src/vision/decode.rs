//! Step 1 of the photo pipeline: any PNG, JPEG, BMP, GIF, TIFF or WebP → luminance, bounded
//! in bytes, pixels and the decoder's own allocations (see the [module map](super)).

use super::gray::{to_byte, Gray};
use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Largest encoded image file read: 64 MiB.
pub const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// Largest decoded image accepted: 40 megapixels (a 7300×5500 photo). Checked from the header,
/// before decoding, so a decompression bomb is rejected without allocating its pixels.
pub const MAX_PIXELS: u64 = 40_000_000;

/// The decoder's allocation limit: [`MAX_PIXELS`] at 8 bytes a pixel (16-bit RGBA) is 320 MB;
/// this leaves room for the decoder's own buffers.
const MAX_DECODE_ALLOC: u64 = 512 << 20;

/// An error naming the image's origin.
fn bad_image(origin: &str, problem: impl Into<String>) -> Error {
    Error::format(origin, problem)
}

/// Reads an image file (at most [`MAX_IMAGE_BYTES`]) and decodes it with [`decode_luma`].
pub fn load_luma(path: &Path) -> Result<Gray> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_IMAGE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(Error::format(path, format!("file is larger than the limit of {MAX_IMAGE_BYTES} bytes")));
    }
    decode_luma(&bytes, &path.display().to_string())
}

/// Decodes a PNG, JPEG, BMP, GIF (first frame), TIFF or WebP of any colour type and bit depth
/// to luminance (0 = black, 255 = white); see the module doc for the formula and for
/// transparency. The format is recognised from the bytes, not a name. `origin` names the
/// source in errors. Never panics on any input, and never decodes more than [`MAX_PIXELS`].
pub fn decode_luma(bytes: &[u8], origin: &str) -> Result<Gray> {
    if bytes.is_empty() {
        return Err(bad_image(origin, "empty file, expected an image"));
    }
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(bad_image(origin, format!("{} bytes is larger than the limit of {MAX_IMAGE_BYTES}", bytes.len())));
    }
    let format = image::guess_format(bytes).map_err(|_| bad_image(origin, "not a recognised image (expected PNG, JPEG, BMP, GIF, TIFF or WebP)"))?;
    let supported = [
        image::ImageFormat::Png,
        image::ImageFormat::Jpeg,
        image::ImageFormat::Bmp,
        image::ImageFormat::Gif,
        image::ImageFormat::Tiff,
        image::ImageFormat::WebP,
    ];
    if !supported.contains(&format) {
        return Err(bad_image(origin, format!("{format:?} images are not supported (expected PNG, JPEG, BMP, GIF, TIFF or WebP)")));
    }
    // A decoder that panics on hostile bytes must not take the program down: the panic is
    // turned into this file's error. (The image crate's decoders are fuzzed; this is a guard.)
    let decoded = std::panic::catch_unwind(|| decode_bounded(bytes, format));
    let img = match decoded {
        Ok(Ok(img)) => img,
        Ok(Err(problem)) => return Err(bad_image(origin, problem)),
        Err(_) => return Err(bad_image(origin, format!("the {format:?} decoder failed on this file (corrupt data)"))),
    };
    luma_of(&img).ok_or_else(|| bad_image(origin, "decoded image has no pixels"))
}

/// Reads the header for the size, checks it against [`MAX_PIXELS`], then decodes with the
/// decoder's limits set and turns the image upright as its EXIF orientation tag says. Errors
/// are plain messages; the caller adds the origin.
fn decode_bounded(bytes: &[u8], format: image::ImageFormat) -> std::result::Result<image::DynamicImage, String> {
    let describe = |e: image::ImageError| match e {
        image::ImageError::Limits(l) => format!("image exceeds the decoding limits ({l})"),
        image::ImageError::Unsupported(u) => format!("unsupported image variant: {u}"),
        other => format!("cannot decode {format:?} image: {other}"),
    };
    let (w, h) = image::ImageReader::with_format(std::io::Cursor::new(bytes), format).into_dimensions().map_err(describe)?;
    let pixels = w as u64 * h as u64;
    if pixels == 0 {
        return Err(format!("image is {w}×{h}, it has no pixels"));
    }
    if pixels > MAX_PIXELS {
        return Err(format!("image is {w}×{h} = {pixels} pixels, more than the limit of {MAX_PIXELS}"));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    reader.limits(limits);
    use image::ImageDecoder;
    let mut decoder = reader.into_decoder().map_err(describe)?;
    if decoder.total_bytes() > MAX_DECODE_ALLOC {
        return Err(format!("image is {w}×{h}, {} bytes decoded, more than the limit of {MAX_DECODE_ALLOC}", decoder.total_bytes()));
    }
    // The EXIF orientation tag (JPEG, TIFF, WebP; a phone stores a portrait photo sideways and
    // says so here). A tag that cannot be read leaves the image as stored.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(describe)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Luminance of any decoded image, with transparency composited (see the module doc).
fn luma_of(img: &image::DynamicImage) -> Option<Gray> {
    use image::DynamicImage as D;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return None;
    }
    let n8 = |v: u8| v as f32 * (1.0 / 255.0);
    let n16 = |v: u16| v as f32 * (1.0 / 65535.0);
    let nf = |v: f32| if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    let pixels = match img {
        D::ImageLuma8(b) => composite(b.as_raw(), 1, n8),
        D::ImageLumaA8(b) => composite(b.as_raw(), 2, n8),
        D::ImageRgb8(b) => composite(b.as_raw(), 3, n8),
        D::ImageRgba8(b) => composite(b.as_raw(), 4, n8),
        D::ImageLuma16(b) => composite(b.as_raw(), 1, n16),
        D::ImageLumaA16(b) => composite(b.as_raw(), 2, n16),
        D::ImageRgb16(b) => composite(b.as_raw(), 3, n16),
        D::ImageRgba16(b) => composite(b.as_raw(), 4, n16),
        D::ImageRgb32F(b) => composite(b.as_raw(), 3, nf),
        D::ImageRgba32F(b) => composite(b.as_raw(), 4, nf),
        other => composite(other.to_rgba16().as_raw(), 4, n16),
    };
    Gray::new(w, h, pixels).ok()
}

/// Interleaved samples with `channels` per pixel (1 = L, 2 = LA, 3 = RGB, 4 = RGBA), each
/// mapped to [0, 1] by `norm`, → luminance bytes with alpha composited.
fn composite<T: Copy>(samples: &[T], channels: usize, norm: impl Fn(T) -> f32) -> Vec<u8> {
    let luma = |px: &[T]| -> f32 {
        if channels >= 3 {
            0.299 * norm(px[0]) + 0.587 * norm(px[1]) + 0.114 * norm(px[2])
        } else {
            norm(px[0])
        }
    };
    let has_alpha = channels == 2 || channels == 4;
    let alpha = |px: &[T]| if has_alpha { norm(px[channels - 1]) } else { 1.0 };
    // Backdrop: white paper, unless what is visible is light (light ink on a clear sheet).
    let backdrop = if has_alpha {
        let (mut sum_al, mut sum_a) = (0f64, 0f64);
        for px in samples.chunks_exact(channels) {
            let a = alpha(px) as f64;
            sum_al += a * luma(px) as f64;
            sum_a += a;
        }
        if sum_a > 0.0 && sum_al / sum_a > 0.5 {
            0.0
        } else {
            1.0
        }
    } else {
        1.0
    };
    samples
        .chunks_exact(channels)
        .map(|px| {
            let a = alpha(px);
            to_byte(255.0 * (a * luma(px) + (1.0 - a) * backdrop))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::render::{corr_aligned, mnist_test};
    use crate::init::Rng;
    use crate::vision::to_mnist;
    use image::{DynamicImage, ImageBuffer, ImageEncoder, ImageFormat, Luma, LumaA, Rgba};

    fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn png_of(g: &Gray) -> Vec<u8> {
        let buf = ImageBuffer::<Luma<u8>, _>::from_raw(g.width as u32, g.height as u32, g.pixels.clone()).unwrap();
        encode(DynamicImage::ImageLuma8(buf), ImageFormat::Png)
    }

    fn err_text<T>(r: Result<T>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    // --- decoding -----------------------------------------------------------------------------

    #[test]
    fn transparent_png_composites_onto_the_right_backdrop() {
        let d = mnist_test();
        let digit = d.image(0);
        // Black ink whose coverage is the alpha channel: onto white paper, L = 255 − ink.
        let rgba: Vec<u8> = digit.iter().flat_map(|&a| [0, 0, 0, a]).collect();
        let png = encode(DynamicImage::ImageRgba8(ImageBuffer::<Rgba<u8>, _>::from_raw(28, 28, rgba).unwrap()), ImageFormat::Png);
        let g = decode_luma(&png, "dark.png").unwrap();
        assert!(g.pixels.iter().zip(digit).all(|(&l, &a)| l == 255 - a));
        assert!(corr_aligned(&to_mnist(&g).unwrap(), digit) > 0.97);
        // White ink on a clear sheet (grey + alpha): onto black, L = ink.
        let la: Vec<u8> = digit.iter().flat_map(|&a| [255, a]).collect();
        let png = encode(DynamicImage::ImageLumaA8(ImageBuffer::<LumaA<u8>, _>::from_raw(28, 28, la).unwrap()), ImageFormat::Png);
        let g = decode_luma(&png, "light.png").unwrap();
        assert!(g.pixels.iter().zip(digit).all(|(&l, &a)| l == a));
        assert!(corr_aligned(&to_mnist(&g).unwrap(), digit) > 0.97);
    }

    #[test]
    fn sixteen_bit_grey_png_decodes_to_its_top_byte() {
        // v·257 maps 0..255 onto 0..65535 exactly; 16-bit luminance v·257/65535·255 = v.
        let d = mnist_test();
        let digit = d.image(1);
        let v16: Vec<u16> = digit.iter().map(|&v| (255 - v) as u16 * 257).collect();
        let png = encode(DynamicImage::ImageLuma16(ImageBuffer::<Luma<u16>, _>::from_raw(28, 28, v16).unwrap()), ImageFormat::Png);
        let g = decode_luma(&png, "deep.png").unwrap();
        assert!(g.pixels.iter().zip(digit).all(|(&l, &v)| l == 255 - v));
        assert!(corr_aligned(&to_mnist(&g).unwrap(), digit) > 0.97);
    }

    #[test]
    fn bmp_gif_tiff_and_rgb_decode_to_the_same_luminance() {
        let d = mnist_test();
        let luma: Vec<u8> = d.image(2).iter().map(|&v| 255 - v).collect();
        let rgb: Vec<u8> = luma.iter().flat_map(|&v| [v, v, v]).collect();
        let img = DynamicImage::ImageRgb8(ImageBuffer::from_raw(28, 28, rgb).unwrap());
        for (name, format) in [("a.bmp", ImageFormat::Bmp), ("a.tiff", ImageFormat::Tiff), ("a.png", ImageFormat::Png)] {
            let g = decode_luma(&encode(img.clone(), format), name).unwrap();
            // Grey RGB: 0.299 + 0.587 + 0.114 = 1, so L = v up to rounding.
            assert!(g.pixels.iter().zip(&luma).all(|(&a, &b)| a.abs_diff(b) <= 1), "{name}");
        }
        // GIF quantises to a 256-colour palette; greys survive within a few levels.
        let g = decode_luma(&encode(img.clone(), ImageFormat::Gif), "a.gif").unwrap();
        assert!(g.pixels.iter().zip(&luma).all(|(&a, &b)| a.abs_diff(b) <= 8));
    }

    // --- bad input ----------------------------------------------------------------------------

    #[test]
    fn bad_bytes_are_errors_naming_the_origin() {
        assert!(err_text(decode_luma(&[], "empty.png")).contains("empty.png: empty file"));
        let png = png_of(&Gray::filled(64, 64, 200));
        for cut in [8, 20, 40, png.len() / 2, png.len() - 13] {
            let e = err_text(decode_luma(&png[..cut], "cut.png"));
            assert!(e.starts_with("cut.png: "), "{e}");
        }
        let mut rng = Rng::new(9);
        for len in [1, 7, 100, 5000] {
            let junk: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            assert!(err_text(decode_luma(&junk, "junk.bin")).starts_with("junk.bin: "));
            // Garbage behind each format's magic bytes.
            for magic in [&b"\x89PNG\r\n\x1a\n"[..], b"\xff\xd8\xff", b"BM", b"GIF89a", b"II*\0", b"RIFF\0\0\0\0WEBPVP8 "] {
                let bytes: Vec<u8> = magic.iter().chain(&junk).copied().collect();
                assert!(decode_luma(&bytes, "junk").is_err(), "{magic:?} + {len} bytes");
            }
        }
        assert!(err_text(load_luma(Path::new("/no/such/file.png"))).contains("/no/such/file.png"));
    }

    /// A PNG that claims to be `w × h` (8-bit grey) and holds no pixel data.
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut chunk = b"IHDR".to_vec();
        chunk.extend(w.to_be_bytes());
        chunk.extend(h.to_be_bytes());
        chunk.extend([8, 0, 0, 0, 0]);
        let mut crc = flate2::Crc::new();
        crc.update(&chunk);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend(13u32.to_be_bytes());
        out.extend(&chunk);
        out.extend(crc.sum().to_be_bytes());
        // An empty IDAT and the IEND chunk (CRCs of the bare chunk names), so the header
        // reader reaches the end of the header.
        out.extend(0u32.to_be_bytes());
        out.extend(b"IDAT");
        out.extend(0x35AF_061Eu32.to_be_bytes());
        out.extend(0u32.to_be_bytes());
        out.extend(b"IEND");
        out.extend(0xAE42_6082u32.to_be_bytes());
        out
    }

    #[test]
    fn decompression_bombs_are_rejected_from_the_header() {
        let e = err_text(decode_luma(&png_header(100_000, 100_000), "bomb.png"));
        assert!(e.contains("bomb.png") && e.contains("10000000000 pixels"), "{e}");
        // A real bomb: 8000×8000 zero bytes deflate to ~60 KB; 64 Mpx is over the limit.
        let mut big = Vec::new();
        image::codecs::png::PngEncoder::new(&mut big).write_image(&vec![0u8; 8000 * 8000], 8000, 8000, image::ExtendedColorType::L8).unwrap();
        let e = err_text(decode_luma(&big, "bomb2.png"));
        assert!(e.contains("more than the limit"), "{e}");
        // The same through a GIF logical screen of 65535×65535.
        let mut gif = b"GIF89a".to_vec();
        gif.extend([0xff, 0xff, 0xff, 0xff, 0, 0, 0]);
        assert!(decode_luma(&gif, "bomb.gif").is_err());
    }
}
