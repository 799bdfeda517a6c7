//! How an image becomes a network's input: the part of a model that is not weights. A model
//! records its [`Pipeline`] (in its architecture), and every path that feeds it an image —
//! training from folders, `eval`, `predict`, `read`, `angle`, `serve`, the library and Python
//! APIs — goes through [`Pipeline::prepare`], so what a user's command gives is what the
//! evaluation measured.

use super::gray::Gray;
use super::mnist::{find_digit, to_mnist, FoundDigit};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Side of an MNIST-format digit.
pub const DIGIT_SIDE: usize = 28;

/// Pixels of an MNIST-format digit.
pub const DIGIT_PIXELS: usize = DIGIT_SIDE * DIGIT_SIDE;

/// A digit in MNIST's format: 28×28 grey levels, row-major, 0 = background, 255 = full ink,
/// fitted into 20×20 and centred by mass (what [`to_mnist`] makes of a photo).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digit(pub [u8; DIGIT_PIXELS]);

impl Digit {
    /// The digit of 784 row-major pixels; an error for any other length.
    pub fn from_slice(pixels: &[u8]) -> Result<Digit> {
        let array: [u8; DIGIT_PIXELS] = pixels.try_into().map_err(|_| Error::Length {
            context: "a 28×28 digit".into(),
            shape: vec![DIGIT_SIDE, DIGIT_SIDE],
            expected: DIGIT_PIXELS,
            found: pixels.len(),
        })?;
        Ok(Digit(array))
    }

    /// The digit a JSON body `{"pixels": [784 numbers]}` describes: 28×28 grey levels,
    /// row-major, 0 = background, 255 = full ink, rounded to whole levels and used as they are.
    /// JSON that does not parse is a [`Error::Format`] (the sender's syntax); JSON of another
    /// shape, the wrong count, values outside 0–255 or no ink at all are [`Error::Data`].
    /// Memory is bounded by the body's length (the caller bounds that).
    pub fn from_pixels_json(json: &[u8]) -> Result<Digit> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct PixelsBody {
            pixels: Vec<f64>,
        }
        let body: PixelsBody = serde_json::from_slice(json).map_err(|e| {
            if e.is_data() {
                Error::Data(format!("bad JSON body: {e}"))
            } else {
                Error::format("bad JSON body", e.to_string())
            }
        })?;
        if body.pixels.len() != DIGIT_PIXELS {
            return Err(Error::Data(format!("\"pixels\" has {} numbers; a 28×28 image needs 784", body.pixels.len())));
        }
        let mut digit = Digit([0u8; DIGIT_PIXELS]);
        for (i, (d, &v)) in digit.0.iter_mut().zip(&body.pixels).enumerate() {
            if !(0.0..=255.0).contains(&v) {
                return Err(Error::Data(format!("pixel {i} is {v}; pixels are 0 (background) to 255 (ink)")));
            }
            *d = v.round() as u8;
        }
        if digit.0.iter().all(|&p| p == 0) {
            return Err(Error::Data("no digit found: every pixel is 0".into()));
        }
        Ok(digit)
    }

    /// As a grey image.
    pub fn to_gray(&self) -> Gray {
        Gray { width: DIGIT_SIDE, height: DIGIT_SIDE, pixels: self.0.to_vec() }
    }
}

impl std::ops::Deref for Digit {
    type Target = [u8];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::fmt::Debug for Digit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digit({} ink pixels)", self.0.iter().filter(|&&p| p > 0).count())
    }
}

/// How an image becomes a model's input image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pipeline {
    /// A photo, scan or drawing of one digit, any size and polarity → MNIST's format
    /// ([`to_mnist`]: ink map, the digit's components, cropped, fitted into 20×20, centred by
    /// mass). An image already in MNIST's format comes back nearly unchanged.
    Photo,
    /// Grey levels resized to the model's input size, as they are (folders of images of
    /// anything, not necessarily digits).
    Resize,
    /// Images already in MNIST's format (light ink on black, 28×28) used as they are; another
    /// size is resized, and dark ink on light paper is inverted.
    Mnist,
    /// By what the image is: one in MNIST's format (28×28 with a dark border: light ink on
    /// black, as MNIST, `digitnet data export` and `data rotated` write them) as it is, as
    /// `mnist` does; anything else as a photo, as `photo` does. What networks trained on MNIST
    /// itself read.
    Auto,
}

impl Pipeline {
    /// The name used on the command line and in model files.
    pub fn name(self) -> &'static str {
        match self {
            Pipeline::Photo => "photo",
            Pipeline::Resize => "resize",
            Pipeline::Mnist => "mnist",
            Pipeline::Auto => "auto",
        }
    }

    /// The input image for a model taking `rows × cols` images: grey levels, row-major.
    pub fn prepare(self, image: &Gray, rows: usize, cols: usize) -> Result<Vec<u8>> {
        if image.is_degenerate() {
            return Err(Error::Data("the image has no pixels".into()));
        }
        match self {
            Pipeline::Photo => {
                if (rows, cols) != (DIGIT_SIDE, DIGIT_SIDE) {
                    return Err(Error::config(format!("the photo pipeline makes 28×28 digits; this model takes {rows}×{cols} images")));
                }
                Ok(to_mnist(image)?.0.to_vec())
            }
            Pipeline::Resize => Ok(resize(image, rows, cols)),
            Pipeline::Mnist => {
                let mut pixels = resize(image, rows, cols);
                if dark_ink_on_light(image) {
                    pixels.iter_mut().for_each(|p| *p = 255 - *p);
                }
                Ok(pixels)
            }
            Pipeline::Auto if is_mnist_format(image) => Pipeline::Mnist.prepare(image, rows, cols),
            Pipeline::Auto => Pipeline::Photo.prepare(image, rows, cols),
        }
    }

    /// [`Pipeline::prepare`] for a model of 28×28 digits.
    pub fn digit(self, image: &Gray) -> Result<Digit> {
        Digit::from_slice(&self.prepare(image, DIGIT_SIDE, DIGIT_SIDE)?)
    }

    /// True when this pipeline reads `image` as a photo ([`to_mnist`]): always for `photo`,
    /// for `auto` unless the image is already in MNIST's format.
    pub fn reads_as_photo(self, image: &Gray) -> bool {
        match self {
            Pipeline::Photo => true,
            Pipeline::Auto => !is_mnist_format(image),
            Pipeline::Resize | Pipeline::Mnist => false,
        }
    }

    /// [`Pipeline::digit`], and when the image went through the photo pipeline what it found
    /// around the digit ([`FoundDigit`]: pieces, digits side by side, stroke width…), which
    /// the "not one digit" answer uses. The same digit as [`Pipeline::digit`].
    pub fn examine(self, image: &Gray) -> Result<(Digit, Option<FoundDigit>)> {
        if self.reads_as_photo(image) && !image.is_degenerate() {
            let found = find_digit(image)?;
            return Ok((found.digit, Some(found)));
        }
        Ok((self.digit(image)?, None))
    }
}

impl std::str::FromStr for Pipeline {
    type Err = Error;
    fn from_str(s: &str) -> Result<Pipeline> {
        match s {
            "photo" => Ok(Pipeline::Photo),
            "resize" => Ok(Pipeline::Resize),
            "mnist" => Ok(Pipeline::Mnist),
            "auto" => Ok(Pipeline::Auto),
            other => Err(Error::config(format!("unknown input pipeline '{other}' (auto, photo, resize or mnist)"))),
        }
    }
}

/// Area-averaging (shrinking) or bilinear (enlarging) resize to `rows × cols`.
pub fn resize(g: &Gray, rows: usize, cols: usize) -> Vec<u8> {
    if g.width == cols && g.height == rows {
        return g.pixels.clone();
    }
    let src: Vec<f32> = g.pixels.iter().map(|&p| p as f32).collect();
    super::resample::resample(&src, g.width, g.height, cols, rows).into_iter().map(super::gray::to_byte).collect()
}

/// True for an image in MNIST's format: 28×28, its border dark (light ink on black).
pub fn is_mnist_format(g: &Gray) -> bool {
    (g.width, g.height) == (DIGIT_SIDE, DIGIT_SIDE) && !dark_ink_on_light(g)
}

/// True when the border of the image is lighter than mid-grey: dark ink on light paper.
fn dark_ink_on_light(g: &Gray) -> bool {
    super::ink::border_median(g) > 127
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::render::mnist_test;

    /// An MNIST digit goes through `mnist` unchanged, and inverted (dark on light) comes back
    /// as itself; `resize` keeps grey levels as they are; `photo` is near the identity on it.
    #[test]
    fn mnist_digits_through_each_pipeline() {
        let d = mnist_test();
        let g = Gray::new(28, 28, d.image(0).to_vec()).unwrap();
        assert_eq!(Pipeline::Mnist.prepare(&g, 28, 28).unwrap(), d.image(0));
        assert_eq!(Pipeline::Resize.prepare(&g, 28, 28).unwrap(), d.image(0));
        let inverted = Gray::new(28, 28, d.image(0).iter().map(|&p| 255 - p).collect()).unwrap();
        assert_eq!(Pipeline::Mnist.prepare(&inverted, 28, 28).unwrap(), d.image(0));
        assert_eq!(Pipeline::Resize.prepare(&inverted, 28, 28).unwrap(), inverted.pixels);
        let photo = Pipeline::Photo.digit(&g).unwrap();
        assert!(crate::data::render::corr_aligned(&photo.0, d.image(0)) > 0.95);
        // Other sizes: resized; the photo pipeline makes 28×28 only.
        assert_eq!(Pipeline::Resize.prepare(&g, 14, 14).unwrap().len(), 196);
        assert!(Pipeline::Photo.prepare(&g, 14, 14).is_err());
        assert!(Pipeline::Mnist.prepare(&Gray { width: 0, height: 0, pixels: vec![] }, 28, 28).is_err());
        // Auto: MNIST format as it is; the inverted digit (light border) as a photo.
        assert_eq!(Pipeline::Auto.prepare(&g, 28, 28).unwrap(), d.image(0));
        assert_eq!(Pipeline::Auto.digit(&inverted).unwrap(), Pipeline::Photo.digit(&inverted).unwrap());
        for p in [Pipeline::Photo, Pipeline::Resize, Pipeline::Mnist, Pipeline::Auto] {
            assert_eq!(p.name().parse::<Pipeline>().unwrap(), p);
        }
        assert!("jpeg".parse::<Pipeline>().is_err());
    }
}
