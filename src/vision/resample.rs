//! Resampling, separable (rows, then columns): area-averaging when shrinking, bilinear with
//! pixel centres aligned when enlarging.

use super::gray::{to_byte, Gray};

/// For each output index along one axis, the first source index and the weights from there.
/// Shrinking: area-averaging (each output pixel is the mean of the source area it covers,
/// partial pixels weighted by coverage). Enlarging: bilinear with pixel centres aligned,
/// `x_src = (i + ½)·src/dst − ½`.
pub(crate) fn taps(src: usize, dst: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|i| {
            if dst <= src {
                let (a, b) = (i as f64 * scale, (i + 1) as f64 * scale);
                let first = a.floor() as usize;
                let last = ((b.ceil() as usize).min(src)).max(first + 1);
                let w = (first..last).map(|j| ((b.min(j as f64 + 1.0) - a.max(j as f64)).max(0.0) / scale) as f32).collect();
                (first, w)
            } else {
                let x = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
                let j = (x.floor() as usize).min(src - 1);
                let t = (x - j as f64) as f32;
                if j + 1 < src && t > 0.0 {
                    (j, vec![1.0 - t, t])
                } else {
                    (j, vec![1.0])
                }
            }
        })
        .collect()
}

/// Resamples a `sw × sh` f32 image to `dw × dh` (all sizes ≥ 1).
pub(crate) fn resample(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    let tx = taps(sw, dw);
    let ty = taps(sh, dh);
    let mut rows = vec![0f32; dw * sh];
    for y in 0..sh {
        let s = &src[y * sw..(y + 1) * sw];
        for (x, (first, w)) in tx.iter().enumerate() {
            rows[y * dw + x] = w.iter().zip(&s[*first..]).map(|(a, b)| a * b).sum();
        }
    }
    let mut out = vec![0f32; dw * dh];
    for (y, (first, w)) in ty.iter().enumerate() {
        let dst = &mut out[y * dw..(y + 1) * dw];
        for (k, wk) in w.iter().enumerate() {
            let r = &rows[(first + k) * dw..(first + k + 1) * dw];
            for (d, v) in dst.iter_mut().zip(r) {
                *d += wk * v;
            }
        }
    }
    out
}

/// Shrinks an image whose longer side exceeds `max_side` to that size (area-averaging),
/// returning it and the factors `original / shrunk` along x and y (1 when left alone).
pub(crate) fn shrink_to(img: &Gray, max_side: usize) -> (std::borrow::Cow<'_, Gray>, f64, f64) {
    let long = img.width.max(img.height);
    if long <= max_side {
        return (std::borrow::Cow::Borrowed(img), 1.0, 1.0);
    }
    let f = long as f64 / max_side as f64;
    let dw = ((img.width as f64 / f).round() as usize).clamp(1, max_side);
    let dh = ((img.height as f64 / f).round() as usize).clamp(1, max_side);
    let src: Vec<f32> = img.pixels.iter().map(|&p| p as f32).collect();
    let out = resample(&src, img.width, img.height, dw, dh);
    let g = Gray { width: dw, height: dh, pixels: out.into_iter().map(to_byte).collect() };
    (std::borrow::Cow::Owned(g), img.width as f64 / dw as f64, img.height as f64 / dh as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn area_shrink_averages_and_bilinear_enlarge_interpolates() {
        // 4×2 → 2×1: each output is the mean of a 2×2 block.
        let src = [0.0, 2.0, 10.0, 20.0, 4.0, 6.0, 30.0, 40.0];
        assert_eq!(resample(&src, 4, 2, 2, 1), vec![3.0, 25.0]);
        // 3 → 2: weights by coverage, output 0 covers [0, 1.5): (1·0 + ½·3)/1.5 = 1.
        let v = resample(&[0.0, 3.0, 6.0], 3, 1, 2, 1);
        assert!((v[0] - 1.0).abs() < 1e-6 && (v[1] - 5.0).abs() < 1e-6, "{v:?}");
        // 2 → 4 bilinear with centres aligned: x_src = (i + ½)/2 − ½ = −¼, ¼, ¾, 5/4 (clamped).
        let v = resample(&[0.0, 8.0], 2, 1, 4, 1);
        assert_eq!(v, vec![0.0, 2.0, 6.0, 8.0]);
    }
}
