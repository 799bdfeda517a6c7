//! Vision: from an image file to what a network reads — MNIST-format 28×28 digits — and
//! finding the digits in a photo of a number. Shared by `predict`, `read`, `angle`, `serve`,
//! folder data sets and the library API ([`crate::inference`]).
//!
//! The photo pipeline, as MNIST itself was made, one file a stage:
//! 1. [`decode`]: any PNG, JPEG, BMP, GIF, TIFF or WebP → turned upright as its EXIF
//!    orientation tag says (a phone stores a portrait photo sideways) → luminance `L`
//!    (0 = black, 255 = white), `L = 0.299 R + 0.587 G + 0.114 B` (ITU-R 601, what PIL's "L" mode uses).
//!    Transparent pixels are composited onto white paper, `L' = α L + (1 − α)·255`, unless the
//!    visible content is itself light (α-weighted mean of `L` above 1/2: light ink on a
//!    transparent sheet), which is composited onto black instead, so the ink always contrasts
//!    with its backdrop. Decoding is bounded: at most [`MAX_IMAGE_BYTES`] read, at most
//!    [`MAX_PIXELS`] decoded (checked from the header before any pixel buffer exists), and the
//!    decoder's own allocation limit set.
//! 2. [`ink`]: luminance → ink (0 = background, 255 = full ink, the MNIST convention).
//!    * Polarity: ink is thin and sparse, so in the right polarity it stands out of its
//!      surroundings: the black and white top-hats (the image against its closing and its
//!      opening over windows of 1/64 of the shorter side, then, when those do not decide, of
//!      1/20 — a marker's stroke) are compared; when neither clearly wins, the median of a
//!      border ring is compared with Otsu's threshold of the whole image (a light border
//!      means dark ink on light paper). `P` is the image with paper
//!      made light (`P = L` for dark ink, `255 − L` otherwise).
//!    * Uneven light and shadows: the paper's local level `B` is the morphological closing of
//!      `P` (3×3-smoothed) over a square window — every dark feature narrower than the
//!      window filled in by the paper around it; the image's edge pixels repeated beyond it,
//!      so a shadow reaching the edge keeps its level — and the ink is the fraction of light it
//!      takes away, `F = 255·(1 − P/B)`: a shadow dims paper and ink alike, so their ratio
//!      survives it. The window is 1/16 of the shorter side (at least 15 pixels), narrow
//!      enough to follow a shadow's edge; when a window of 1/4 of the side finds markedly
//!      more strong ink, the strokes are wider than the narrow window and the wide one is used.
//!    * Dividing by `B` amplifies the camera's noise where the paper is dark, so in the shade
//!      of a shadow `F`'s paper noise is several times the lit paper's: the paper pixels are
//!      grouped by their level `B` (32 bands), and each band's `F` mapped to the whole paper's
//!      median and robust deviation ([`ink::NOISE_LEVELS`], [`ink::MIN_NOISE_LEVEL_PIXELS`]),
//!      so the shade is not cut into specks. Not when the global flattening found no ink at
//!      all (a faint fine pen, below): such ink is too faint to survive being scaled with its
//!      band's noise.
//!    * Otsu's threshold `T` on `F` splits background (median μ₀, robust deviation
//!      σ₀ = 1.4826·MAD) from ink (median m₁).
//!    * No ink at all: when `m₁ − μ₀ <` [`ink::MIN_INK_CONTRAST`] or `m₁ − μ₀ <`
//!      [`ink::MIN_INK_SNR`]`·σ₀` (what Otsu finds in paper grain or sensor noise), the map is
//!      all zero — except that a photo at least [`ink::MIN_SIDE_FOR_FAINT_INK`] a side is then
//!      searched for a faint fine pen, too small a share of the pixels for Otsu to split from
//!      the paper: the threshold [`ink::FAINT_INK_SIGMAS`]`·σ₀` above `μ₀`, the ink above it
//!      mostly in one piece (failing that, the same on `F` smoothed by a 3×3 box, where the
//!      paper's single-pixel noise no longer outweighs a thin pen's strokes). The local
//!      flattening's ink on such a photo goes through the same search when Otsu's `T` fails.
//!    * Soft stroke edges are kept by hysteresis: the pixels above `T`, and every pixel above
//!      `T_low = μ₀ + max(`[`ink::SOFT_EDGE_FRACTION`]`·(m₁ − μ₀),`[`ink::SOFT_EDGE_NOISE`]`·σ₀)`
//!      connected to them (8-connectivity), get `ink = 255·(F − μ₀)/(m₁ − μ₀)` clamped to
//!      [1, 255]: half the ink saturates, as in MNIST, and the anti-aliased edges keep their
//!      grey levels. Every other pixel is 0.
//! 3. [`components`] and [`mnist`]: ruled and squared paper's lines erased (a family of
//!    parallel Hough lines); the 8-connected components of the non-zero ink; the digit is the
//!    largest that is not a bar along the photo's border, with its pieces; specks are dropped
//!    (see [`find_digit`] for the rules); the rest is cropped, its strokes brought to
//!    MNIST's width when far thinner or thicker ([`mnist::normalise_stroke`]), and handed to
//!    [`ink_to_mnist`]: fit a 20×20 box keeping the aspect ratio ([`resample`]:
//!    area-averaging when shrinking, bilinear when enlarging), stretch so the brightest pixel
//!    is 255, and shift by whole pixels so the centre of mass lands where MNIST's does (pixel
//!    14, 14).
//!
//! Photos with a side longer than [`WORK_SIDE`] are shrunk (area-averaging) to that size before
//! step 2; everything after decoding is O(pixels). [`segment`] finds the digits of a number
//! with the same ink map and components; [`rotate`] turns images (the rotation task).

pub mod components;
pub mod decode;
pub mod gray;
pub mod ink;
pub mod mnist;
pub mod number;
pub mod pipeline;
pub mod resample;
pub mod rotate;
pub mod segment;

pub use decode::{decode_luma, load_luma, MAX_IMAGE_BYTES, MAX_PIXELS};
pub use gray::Gray;
pub use ink::{border_median, ink_map};
pub use mnist::{find_digit, ink_to_mnist, to_mnist, FoundDigit, WORK_SIDE};
pub use pipeline::{Digit, Pipeline};
pub use segment::{find_digits, DigitBox};
