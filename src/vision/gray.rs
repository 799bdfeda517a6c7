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

/// A float rounded and clamped to a grey level.
pub(crate) fn to_byte(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}
