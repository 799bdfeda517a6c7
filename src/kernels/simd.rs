//! Element-wise kernels compiled for the widest vector instructions this CPU has.
//!
//! The crate is built for the baseline x86-64 target (SSE2), so a binary runs on any x86-64
//! machine. Hot element-wise kernels (the Winograd transforms) are written over fixed-size
//! arrays of [`LANES`] floats, which the compiler turns into vector code for whatever target
//! features are enabled where they are inlined; `multiversion!` inlines such a kernel into
//! copies compiled for AVX-512F and for AVX2+FMA and picks one at run time (the CPU check is
//! cached by std).

/// Floats processed together: one AVX-512 register.
pub const LANES: usize = 16;

/// Defines `pub fn $name(args)` that runs the `#[inline(always)]` function `$kernel` compiled
/// for AVX-512F, AVX2+FMA or the baseline, whichever is the widest this CPU supports.
macro_rules! multiversion {
    ($(#[$doc:meta])* $vis:vis fn $name:ident => $kernel:ident($($arg:ident: $ty:ty),* $(,)?)) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    $kernel($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $kernel($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F, checked just above.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $kernel($($arg),*)
        }
    };
}

pub(crate) use multiversion;

/// Which copy of the vector kernels (`multiversion!`) runs on a CPU. Benchmarks report it
/// beside their figures ([`Level::as_str`]): the same build is a different program on a CPU
/// without AVX-512 (README, compare run 27), and a few kernels are chosen by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// AVX-512F (the `avx512` copies).
    Avx512f,
    /// AVX2 and FMA but not AVX-512F (the `avx2` copies).
    Avx2Fma,
    /// Neither: the SSE2 baseline x86-64 guarantees, or another architecture.
    Baseline,
}

impl Level {
    /// `"avx512f"`, `"avx2+fma"` or `"baseline"`, as benchmark reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Avx512f => "avx512f",
            Level::Avx2Fma => "avx2+fma",
            Level::Baseline => "baseline",
        }
    }
}

/// The copy of the vector kernels that runs on this CPU (the same test `multiversion!` makes).
pub fn level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Level::Avx512f;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Level::Avx2Fma;
        }
    }
    Level::Baseline
}

/// The sum of `values`, in [`LANES`] interleaved partial sums: vector adds with no chain of
/// dependent additions (a plain `iter().sum()` adds one float at a time, waiting for each).
/// The order is fixed, so results are reproducible.
pub fn sum(values: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Whether every value is finite (no NaN, no infinity), the same answer as
/// `values.iter().all(|v| v.is_finite())`. A float is not finite exactly when its eight exponent
/// bits are all ones, and then adding one to the exponent field carries into the sign bit; the
/// carries are OR-ed over [`LANES`] interleaved lanes of integers, which the compiler turns into
/// vector code (the `all` form stops at the first bad value, so it checks one float at a time —
/// a few per cent of a training step when it runs over every gradient and weight).
pub fn all_finite(values: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    const ONE_IN_EXPONENT: u32 = 0x0080_0000;
    let mut acc = [0u32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder().iter().all(|v| v.is_finite());
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a |= (v.to_bits() & EXPONENT) + ONE_IN_EXPONENT;
        }
    }
    tail && acc.iter().all(|&a| a & 0x8000_0000 == 0)
}

/// `dst[j][i] = src[i][j]`: a 16×16 block transposed (channels ↔ pixels between an NCHW plane
/// and a channel-blocked image), with AVX-512 shuffles where the CPU has them, else four 8×8
/// AVX transposes (the plain loop below is what an SSE2 build makes of it: scalar moves, 1.2–1.5 %
/// of `lenet` and `keras` inference on a Zen 3 without AVX-512).
#[inline]
pub fn transpose16(src: &[[f32; LANES]; LANES], dst: &mut [[f32; LANES]; LANES]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            unsafe { transpose16_avx512(src, dst) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX, checked just above.
            unsafe { transpose16_avx(src, dst) };
            return;
        }
    }
    transpose16_plain(src, dst);
}

/// The definition, one float at a time.
fn transpose16_plain(src: &[[f32; LANES]; LANES], dst: &mut [[f32; LANES]; LANES]) {
    for (i, row) in src.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            dst[j][i] = v;
        }
    }
}

/// The 16×16 transpose as four 8×8 blocks, each in three rounds of AVX shuffles (32-bit
/// pairs, 64-bit pairs, 128-bit halves): block (a, b) of `src` becomes block (b, a) of `dst`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose16_avx(src: &[[f32; LANES]; LANES], dst: &mut [[f32; LANES]; LANES]) {
    use std::arch::x86_64::*;
    for a in 0..2 {
        for b in 0..2 {
            let mut r = [_mm256_setzero_ps(); 8];
            for (k, reg) in r.iter_mut().enumerate() {
                // SAFETY: 8 floats from column 8·b of a 16-float row, one unaligned 256-bit load.
                *reg = unsafe { _mm256_loadu_ps(src[8 * a + k][8 * b..].as_ptr()) };
            }
            let mut t = [_mm256_setzero_ps(); 8];
            for i in 0..4 {
                t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            for q in 0..2 {
                let c = 4 * q;
                r[c] = _mm256_shuffle_ps::<0x44>(t[c], t[c + 2]);
                r[c + 1] = _mm256_shuffle_ps::<0xEE>(t[c], t[c + 2]);
                r[c + 2] = _mm256_shuffle_ps::<0x44>(t[c + 1], t[c + 3]);
                r[c + 3] = _mm256_shuffle_ps::<0xEE>(t[c + 1], t[c + 3]);
            }
            for k in 0..4 {
                t[k] = _mm256_permute2f128_ps::<0x20>(r[k], r[4 + k]);
                t[4 + k] = _mm256_permute2f128_ps::<0x31>(r[k], r[4 + k]);
            }
            for (k, reg) in t.iter().enumerate() {
                // SAFETY: 8 floats at column 8·a of a 16-float row, one unaligned 256-bit store.
                unsafe { _mm256_storeu_ps(dst[8 * b + k][8 * a..].as_mut_ptr(), *reg) };
            }
        }
    }
}

/// The 16×16 transpose in four rounds of shuffles (32-bit pairs, 64-bit pairs, 128-bit lanes
/// twice), sixteen registers in and out.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose16_avx512(src: &[[f32; LANES]; LANES], dst: &mut [[f32; LANES]; LANES]) {
    use std::arch::x86_64::*;
    let mut r = [_mm512_setzero_ps(); LANES];
    for (reg, row) in r.iter_mut().zip(src) {
        // SAFETY: `row` is 16 floats, one unaligned 512-bit load.
        *reg = unsafe { _mm512_loadu_ps(row.as_ptr()) };
    }
    let mut t = [_mm512_setzero_ps(); LANES];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for q in 0..4 {
        let b = 4 * q;
        r[b] = _mm512_shuffle_ps::<0x44>(t[b], t[b + 2]);
        r[b + 1] = _mm512_shuffle_ps::<0xEE>(t[b], t[b + 2]);
        r[b + 2] = _mm512_shuffle_ps::<0x44>(t[b + 1], t[b + 3]);
        r[b + 3] = _mm512_shuffle_ps::<0xEE>(t[b + 1], t[b + 3]);
    }
    for h in 0..2 {
        let b = 8 * h;
        for k in 0..4 {
            t[b + k] = _mm512_shuffle_f32x4::<0x88>(r[b + k], r[b + 4 + k]);
            t[b + 4 + k] = _mm512_shuffle_f32x4::<0xDD>(r[b + k], r[b + 4 + k]);
        }
    }
    for k in 0..8 {
        r[k] = _mm512_shuffle_f32x4::<0x88>(t[k], t[8 + k]);
        r[8 + k] = _mm512_shuffle_f32x4::<0xDD>(t[k], t[8 + k]);
    }
    for (reg, row) in r.iter().zip(dst.iter_mut()) {
        // SAFETY: `row` is 16 floats, one unaligned 512-bit store.
        unsafe { _mm512_storeu_ps(row.as_mut_ptr(), *reg) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_adds_every_value() {
        for n in [0, 1, 15, 16, 17, 100, 1000] {
            let values: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 2.5).collect();
            let want: f64 = values.iter().map(|&v| v as f64).sum();
            assert!((sum(&values) as f64 - want).abs() < 1e-3, "{n}");
        }
    }

    #[test]
    fn all_finite_agrees_with_is_finite() {
        let specials = [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, f32::MIN_POSITIVE, -0.0, 1e-45, 0.0];
        for n in [0, 1, 15, 16, 17, 47, 100] {
            for pos in 0..n {
                for &bad in &specials {
                    let mut values: Vec<f32> = (0..n).map(|i| (i as f32 - 7.5) * 1e30).collect();
                    values[pos] = bad;
                    assert_eq!(all_finite(&values), values.iter().all(|v| v.is_finite()), "n {n}, {bad} at {pos}");
                }
            }
            let values: Vec<f32> = (0..n).map(|i| f32::from_bits(0x7f7f_ffff - i as u32)).collect();
            assert!(all_finite(&values), "{n} finite values near the largest");
        }
    }

    #[test]
    fn transpose16_transposes() {
        let mut src = [[0.0f32; LANES]; LANES];
        for (i, row) in src.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (i * 100 + j) as f32;
            }
        }
        // Every copy this CPU can run, not only the one `transpose16` picks.
        type Transpose = fn(&[[f32; LANES]; LANES], &mut [[f32; LANES]; LANES]);
        let mut copies: Vec<(&str, Transpose)> = vec![("dispatch", transpose16), ("plain", transpose16_plain)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: only called where the CPU supports AVX-512F.
                copies.push(("avx512", |s, d| unsafe { transpose16_avx512(s, d) }));
            }
            if std::arch::is_x86_feature_detected!("avx") {
                // SAFETY: only called where the CPU supports AVX.
                copies.push(("avx", |s, d| unsafe { transpose16_avx(s, d) }));
            }
        }
        for (name, copy) in copies {
            let mut dst = [[f32::NAN; LANES]; LANES];
            copy(&src, &mut dst);
            for i in 0..LANES {
                for j in 0..LANES {
                    assert_eq!(dst[j][i], src[i][j], "{name}: ({i}, {j})");
                }
            }
        }
    }
}
