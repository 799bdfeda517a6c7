//! [`Gray`]: the grey-scale image every stage of the photo pipeline passes on.

use crate::error::{Error, Result};

/// A grey-scale image, row-major, one byte a pixel. What the bytes mean depends on where it
/// came from: luminance (0 = black, 255 = white) from [`super::decode_luma`], ink (0 = background,
/// 255 = full ink) from [`super::ink_map`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Gray {
    /// Wraps `pixels` (row-major, `width × height` of them); an error if the lengths disagree.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Result<Gray> {
        if width.checked_mul(height) != Some(pixels.len()) {
            return Err(Error::Length { context: "Gray::new".into(), shape: vec![height, width], expected: width.saturating_mul(height), found: pixels.len() });
        }
        Ok(Gray { width, height, pixels })
    }

    /// An image of one value.
    pub fn filled(width: usize, height: usize, value: u8) -> Gray {
        Gray { width, height, pixels: vec![value; width * height] }
    }

    /// The pixel at column `x`, row `y` (panics when out of range, like slice indexing).
    pub fn get(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.width + x]
    }

    /// True when the image has no pixels, or its length does not match its size.
    pub(crate) fn is_degenerate(&self) -> bool {
        self.width == 0 || self.height == 0 || self.width.checked_mul(self.height) != Some(self.pixels.len())
    }
}

/// The error for an image without ink: `Error::Data("no digit found")`, displayed as
/// "no digit found".
pub(crate) fn no_digit() -> Error {
    Error::Data("no digit found".into())
}

/// A float rounded (half-way cases away from zero) and clamped to a grey level: the bits of
/// `v.round().clamp(0.0, 255.0) as u8`, NaN giving 0, without the C library call `f32::round`
/// compiles to on x86-64 before SSE4.1 (the photo pipeline rounds every pixel several times;
/// with the call, `to_byte` was a fifth of the global flattening). From ½ up, `v + ½` is
/// exact or rounds within the same whole number (its binade is never finer than `v`'s), so
/// truncating it rounds `v`; below ½ — where `v + ½` can round up to 1 — the answer is 0.
#[inline]
pub(crate) fn to_byte(v: f32) -> u8 {
    let r = (v.min(255.0) + 0.5) as u8;
    // A select, not a branch: the background's levels lie either side of ½ at random.
    if v >= 0.5 {
        r
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`to_byte`] gives the bits of the library's rounding and clamping on whole and half-way
    /// values, their neighbours one ulp either side, a sweep of fractions, huge values,
    /// infinities and NaN.
    #[test]
    fn to_byte_matches_the_library() {
        let mut values = vec![0.0f32, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, 8_388_607.5, 1e30, -1e30, f32::MIN_POSITIVE, f32::NAN];
        for k in -600..=600 {
            let half = k as f32 * 0.5;
            values.extend([half, f32::from_bits(half.to_bits() + 1), f32::from_bits(half.to_bits().saturating_sub(1))]);
            values.extend((0..50).map(|j| k as f32 + j as f32 / 50.0));
        }
        for v in values {
            assert_eq!(to_byte(v), v.round().clamp(0.0, 255.0) as u8, "{v:e}");
        }
    }
}
