//! The only user of the GEMM crate: a safe, bounds-checked single-precision matrix product.
//!
//! `C ← α·A·B + β·C` with `A: m×k`, `B: k×n`, `C: m×n`, each described by a slice and its row
//! and column strides (in elements), so a transposed operand is just swapped strides: a
//! row-major `[r, c]` matrix has strides `(c, 1)`, its transpose `(1, c)`.
//!
//! The kernel is the `gemm` crate's (with its `x86-v4` feature, so AVX-512 micro-kernels are
//! used where the CPU has them; it still dispatches at run time, so other CPUs get FMA or
//! scalar code). It was chosen over `matrixmultiply` by measurement on this machine's CPU:
//! 141 vs 98 GFLOP/s single-threaded, averaged over the im2col and dense shapes of the built-in
//! networks, faster on every one of 16 shapes (docs/gemm-choice.md). It runs single-threaded:
//! the layers split work across cores themselves (by samples or by output rows), which keeps
//! results deterministic for a given thread count.
//!
//! Beware: the `gemm` crate computes `dst ← α·dst + β·lhs·rhs`, so its α and β are the reverse
//! of BLAS's; this wrapper takes them in the BLAS order.

thread_local! {
    static IN_KERNEL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True while this thread is inside the GEMM crate's kernel. The kernel allocates a small
/// scratch vector per call (`gemm-common` 0.19, `gemm_basic_generic`), which is outside this
/// crate's control; the allocation test uses this to tell those apart from ours.
pub fn in_kernel() -> bool {
    IN_KERNEL.with(|c| c.get())
}

/// A matrix operand: row stride and column stride, in elements.
#[derive(Clone, Copy, Debug)]
pub struct Strides {
    pub row: usize,
    pub col: usize,
}

impl Strides {
    /// Row-major storage with `cols` columns.
    pub const fn row_major(cols: usize) -> Self {
        Strides { row: cols, col: 1 }
    }

    /// The transpose of a row-major matrix that has `cols` columns in storage.
    pub const fn transposed(cols: usize) -> Self {
        Strides { row: 1, col: cols }
    }

    /// Smallest slice length that holds an `rows × cols` matrix with these strides.
    fn span(self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * self.row + (cols - 1) * self.col + 1
        }
    }
}

/// `C ← α·A·B + β·C`. Panics if a slice is too short for its dimensions and strides, which is
/// a bug in the caller (the layers size their buffers from the same shapes), never user input.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(m: usize, k: usize, n: usize, alpha: f32, a: &[f32], sa: Strides, b: &[f32], sb: Strides, beta: f32, c: &mut [f32], sc: Strides) {
    assert!(a.len() >= sa.span(m, k), "sgemm: A is {} values, needs {}", a.len(), sa.span(m, k));
    assert!(b.len() >= sb.span(k, n), "sgemm: B is {} values, needs {}", b.len(), sb.span(k, n));
    assert!(c.len() >= sc.span(m, n), "sgemm: C is {} values, needs {}", c.len(), sc.span(m, n));
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the asserts above guarantee every index the kernel touches,
    // (i·rs + j·cs) for i < rows and j < cols, lies inside its slice; `c` is a unique borrow so
    // it cannot alias `a` or `b`. Strides fit in isize because the slices exist. With
    // `read_dst` false, `c` is only written, never read (its old values may be anything).
    // The crate copies ("packs") the left operand into its own layout whenever the product has
    // more than `threshold × 6` columns, even when the operand is already column-major with
    // whole 16-row blocks, which its kernel reads in place. Our products are small (k = 32–576):
    // the copy costs more than it saves. At the crate's largest threshold (256) the Winograd
    // products of `keras` and `lenet` training read in place (`profile_step`, five alternating
    // pairs each: keras train 4,761 → 4,906 images/s, lenet 9,748 → 10,363, keras batch-1000
    // +3 %, 4 of 4). The setting is the crate's, process-wide; this module is its only user.
    static LHS_IN_PLACE: std::sync::Once = std::sync::Once::new();
    LHS_IN_PLACE.call_once(|| gemm::set_lhs_packing_threshold_single_thread(256));
    IN_KERNEL.with(|c| c.set(true));
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            sc.col as isize,
            sc.row as isize,
            beta != 0.0,
            a.as_ptr(),
            sa.col as isize,
            sa.row as isize,
            b.as_ptr(),
            sb.col as isize,
            sb.row as isize,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    IN_KERNEL.with(|c| c.set(false));
}

/// `y[r] += Σ_c W[r, c] · x[c]` for a row-major `W[rows, cols]` (`rows = y.len()`,
/// `cols = x.len()`): a matrix–vector product, for a single sample through a dense layer.
///
/// Each row is one pass of 16-lane multiply-adds, four rows at a time so every load of `x`
/// serves four rows. On one thread it is no faster than [`sgemm`] (`lenet`'s 800→500 layer:
/// 22.7 vs 22.3 µs — both stream the 1.6 MB weight from L3); what it gives is rows a caller
/// can split across threads, each thread then reading the same half of the weight at every
/// call, which stays in its core's L2 (`lenet` batch-1, 12 alternating rounds of
/// `profile_step lenet b1`: 55.6–65.0 µs against 67.4–72.5 µs through `sgemm`). Each row's
/// sum has a fixed order (16 interleaved partial sums, then the tail), so results do not
/// depend on how a caller splits the rows, nor on the thread count.
pub fn sgemv(w: &[f32], x: &[f32], y: &mut [f32]) {
    let (rows, cols) = (y.len(), x.len());
    assert!(w.len() >= rows * cols, "sgemv: W is {} values, needs {}", w.len(), rows * cols);
    gemv_dispatch(&w[..rows * cols], x, y);
}

crate::kernels::simd::multiversion!(
    /// [`sgemv`] compiled for the widest vector instructions the CPU has.
    fn gemv_dispatch => gemv_kernel(w: &[f32], x: &[f32], y: &mut [f32])
);

#[inline(always)]
fn gemv_kernel(w: &[f32], x: &[f32], y: &mut [f32]) {
    use crate::kernels::simd::LANES;
    let cols = x.len();
    let body = cols - cols % LANES;
    let (xs, x_tail) = x.split_at(body);
    let finish = |acc: &[f32; LANES], row: &[f32]| -> f32 {
        let tail: f32 = row[body..].iter().zip(x_tail).map(|(a, b)| a * b).sum();
        acc.iter().sum::<f32>() + tail
    };
    let done = y.len() - y.len() % 4;
    let mut quads = y.chunks_exact_mut(4);
    let mut w_quads = w.chunks_exact(4 * cols.max(1));
    for (ys, wq) in (&mut quads).zip(&mut w_quads) {
        let (r0, rest) = wq.split_at(cols);
        let (r1, rest) = rest.split_at(cols);
        let (r2, r3) = rest.split_at(cols);
        let mut acc = [[0.0f32; LANES]; 4];
        for ((((xv, a), b), c), d) in xs
            .chunks_exact(LANES)
            .zip(r0[..body].chunks_exact(LANES))
            .zip(r1[..body].chunks_exact(LANES))
            .zip(r2[..body].chunks_exact(LANES))
            .zip(r3[..body].chunks_exact(LANES))
        {
            for l in 0..LANES {
                acc[0][l] += a[l] * xv[l];
                acc[1][l] += b[l] * xv[l];
                acc[2][l] += c[l] * xv[l];
                acc[3][l] += d[l] * xv[l];
            }
        }
        for (k, row) in [r0, r1, r2, r3].into_iter().enumerate() {
            ys[k] += finish(&acc[k], row);
        }
    }
    for (yr, row) in y[done..].iter_mut().zip(w[done * cols..].chunks_exact(cols.max(1))) {
        let mut acc = [0.0f32; LANES];
        for (xv, a) in xs.chunks_exact(LANES).zip(row[..body].chunks_exact(LANES)) {
            for l in 0..LANES {
                acc[l] += a[l] * xv[l];
            }
        }
        *yr += finish(&acc, row);
    }
}

/// `C ← A·B` (α = 1, β = 0) for row-major `A[m, k]`, `B[k, n]`, `C[m, n]` with row strides
/// `lda`, `ldb`, `ldc` and `n` a multiple of 16, on a CPU with AVX2 and FMA but not AVX-512 —
/// the same bits as [`sgemm`] there. Returns false (and does nothing) where it does not
/// apply; the caller then calls [`sgemm`].
///
/// On such a CPU the `gemm` crate runs its FMA micro-kernels, which sum each output over `k`
/// in order with one fused multiply-add per term, from zero; so does this kernel (6 or 4 rows ×
/// 16 columns in twelve or eight registers, `k` terms each), so the bits do not depend on
/// which of the two computed a product (a test checks it). It has none of the crate's set-up
/// around each call and reads its operands in place: for the Winograd products of one
/// output-channel block (`T × C × 16`, operands in cache; `src/kernels/winograd.rs`,
/// `Plan::run_by_output_block`), including a single image's few tiles.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_avx2_columns(m: usize, k: usize, n: usize, a: &[f32], lda: usize, b: &[f32], ldb: usize, c: &mut [f32], ldc: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let fits = n.is_multiple_of(16) && k > 0 && lda >= k && ldb >= n && ldc >= n;
        if fits && crate::kernels::simd::level() == crate::kernels::simd::Level::Avx2Fma {
            if m == 0 || n == 0 {
                return true;
            }
            assert!(a.len() >= (m - 1) * lda + k, "sgemm_avx2_columns: A is {} values", a.len());
            assert!(b.len() >= (k - 1) * ldb + n, "sgemm_avx2_columns: B is {} values", b.len());
            assert!(c.len() >= (m - 1) * ldc + n, "sgemm_avx2_columns: C is {} values", c.len());
            // SAFETY: the CPU supports AVX2 and FMA (`level`), and the asserts above hold every
            // index the kernel reads or writes inside its slice.
            unsafe { columns_avx2(m, k, n, a, lda, b, ldb, c, ldc) };
            return true;
        }
    }
    let _ = (m, k, n, a, lda, b, ldb, c, ldc);
    false
}

/// [`sgemm_avx2_columns`]'s kernel: for each 16 columns, rows six at a time (twelve accumulators,
/// so that the fused multiply-adds of one `k` step outlast one's latency), then a last group
/// of up to four (fewer repeat their last row, computed and not stored).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn columns_avx2(m: usize, k: usize, n: usize, a: &[f32], lda: usize, b: &[f32], ldb: usize, c: &mut [f32], ldc: usize) {
    for j0 in (0..n).step_by(16) {
        let mut r0 = 0;
        while r0 < m {
            let q = m - r0;
            // SAFETY (both calls): AVX2 and FMA, this function's features; rows r0 … r0+q−1
            // (q ≥ 1) and columns j0 … j0+15 lie inside A, B and C by the caller's asserts.
            if q > 4 {
                unsafe { rows_avx2::<6>(r0, q.min(6), k, j0, a, lda, b, ldb, c, ldc) };
                r0 += q.min(6);
            } else {
                unsafe { rows_avx2::<4>(r0, q, k, j0, a, lda, b, ldb, c, ldc) };
                r0 += q;
            }
        }
    }
}

/// `C[r0 + i, j0…j0+16] = Σ_p A[r0 + i, p] · B[p, j0…j0+16]` for `i < q ≤ R`: `R` rows ×
/// 16 columns in 2·R registers, summed over `p` in order with one fused multiply-add each,
/// from zero. Rows past `q` repeat row `r0 + q − 1` and are not stored.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn rows_avx2<const R: usize>(r0: usize, q: usize, k: usize, j0: usize, a: &[f32], lda: usize, b: &[f32], ldb: usize, c: &mut [f32], ldc: usize) {
    use std::arch::x86_64::*;
    let rows: [usize; R] = std::array::from_fn(|i| (r0 + i.min(q - 1)) * lda);
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    for p in 0..k {
        // SAFETY (both loads and the broadcasts): inside `b` and `a` by the caller's asserts.
        let (b0, b1) = unsafe {
            let at = b.as_ptr().add(p * ldb + j0);
            (_mm256_loadu_ps(at), _mm256_loadu_ps(at.add(8)))
        };
        for (acc, &row) in acc.iter_mut().zip(&rows) {
            let av = _mm256_set1_ps(unsafe { *a.get_unchecked(row + p) });
            acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
            acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
        }
    }
    for (i, acc) in acc.iter().enumerate().take(q) {
        let dst = &mut c[(r0 + i) * ldc + j0..][..16];
        // SAFETY: `dst` is 16 floats, two unaligned 256-bit stores.
        unsafe {
            _mm256_storeu_ps(dst.as_mut_ptr(), acc[0]);
            _mm256_storeu_ps(dst.as_mut_ptr().add(8), acc[1]);
        }
    }
}

/// The plain triple loop, in f64 accumulation: the reference the fast path is tested against.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_naive(m: usize, k: usize, n: usize, alpha: f32, a: &[f32], sa: Strides, b: &[f32], sb: Strides, beta: f32, c: &mut [f32], sc: Strides) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f64;
            for p in 0..k {
                acc += a[i * sa.row + p * sa.col] as f64 * b[p * sb.row + j * sb.col] as f64;
            }
            let ci = &mut c[i * sc.row + j * sc.col];
            let prev = if beta == 0.0 { 0.0 } else { beta * *ci };
            *ci = alpha * acc as f32 + prev;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
    }

    /// Odd shapes, transposed operands, α and β: the fast kernel matches the triple loop to
    /// within f32 rounding of a length-k dot product (k·ε·max|a||b| ≈ 1e-5 here).
    #[test]
    fn matches_naive_on_odd_shapes() {
        let mut rng = Rng::new(7);
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 9, 50), (5, 130, 3)] {
            for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
                let a = random(m * k, &mut rng);
                let b = random(k * n, &mut rng);
                let sa = if ta { Strides::transposed(m) } else { Strides::row_major(k) };
                let sb = if tb { Strides::transposed(k) } else { Strides::row_major(n) };
                let c0 = random(m * n, &mut rng);
                let (mut c1, mut c2) = (c0.clone(), c0.clone());
                sgemm(m, k, n, 0.5, &a, sa, &b, sb, 2.0, &mut c1, Strides::row_major(n));
                sgemm_naive(m, k, n, 0.5, &a, sa, &b, sb, 2.0, &mut c2, Strides::row_major(n));
                for (x, y) in c1.iter().zip(&c2) {
                    assert!((x - y).abs() < 1e-4, "{m}x{k}x{n} ta={ta} tb={tb}: {x} vs {y}");
                }
            }
        }
    }

    /// Where it applies (AVX2 and FMA without AVX-512), our kernel gives the very bits of
    /// [`sgemm`] on the shapes of the Winograd products (a single image's, and a group's of
    /// one output-channel block) and odd ones (last groups of one to five rows, row strides
    /// wider than the matrices); elsewhere it declines and leaves `C` alone.
    #[test]
    fn avx2_columns_give_the_bits_of_sgemm() {
        let mut rng = Rng::new(11);
        for &(m, k, n) in
            &[(4, 64, 64), (16, 32, 32), (4, 64, 128), (16, 32, 64), (1, 1, 16), (7, 20, 48), (13, 50, 64), (64, 64, 16), (61, 32, 16), (5, 9, 32)]
        {
            let (lda, ldb, ldc) = (k + 3, n + 16, n + 32);
            let a = random(m * lda, &mut rng);
            let b = random(k * ldb, &mut rng);
            let mut want = vec![f32::NAN; m * ldc];
            sgemm(m, k, n, 1.0, &a, Strides::row_major(lda), &b, Strides::row_major(ldb), 0.0, &mut want, Strides::row_major(ldc));
            let mut got = vec![f32::NAN; m * ldc];
            if sgemm_avx2_columns(m, k, n, &a, lda, &b, ldb, &mut got, ldc) {
                for i in 0..m {
                    let (g, w) = (&got[i * ldc..i * ldc + n], &want[i * ldc..i * ldc + n]);
                    assert!(g.iter().zip(w).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}x{k}x{n}, row {i}: {g:?} vs {w:?}");
                    assert!(got[i * ldc + n..(i + 1) * ldc].iter().all(|v| v.is_nan()), "{m}x{k}x{n}: wrote past row {i}");
                }
            } else {
                assert!(crate::kernels::simd::level() != crate::kernels::simd::Level::Avx2Fma, "declined {m}x{k}x{n}");
                assert!(got.iter().all(|v| v.is_nan()), "declined but wrote");
            }
        }
        let mut c = vec![0.0; 4 * 8];
        assert!(!sgemm_avx2_columns(4, 4, 8, &[1.0; 16], 4, &[1.0; 32], 8, &mut c, 8), "8 columns are not a multiple of 16");
    }

    /// The matrix–vector kernel against the triple loop (`m = 1`, `B = Wᵀ`): row counts on
    /// and off its blocks of four, lengths on and off its 16 lanes, and a zero-length row;
    /// `y` starts non-zero (the kernel adds). Tolerance as above (sums of at most 500 products of
    /// values in ±1: rounding stays near 1e-5).
    #[test]
    fn gemv_matches_naive() {
        let mut rng = Rng::new(8);
        for &(rows, cols) in &[(1, 1), (3, 5), (4, 16), (7, 33), (10, 500), (9, 0), (13, 130)] {
            let w = random(rows * cols, &mut rng);
            let x = random(cols, &mut rng);
            let y0 = random(rows, &mut rng);
            let (mut fast, mut slow) = (y0.clone(), y0.clone());
            sgemv(&w, &x, &mut fast);
            sgemm_naive(1, cols, rows, 1.0, &x, Strides::row_major(cols), &w, Strides::transposed(cols), 1.0, &mut slow, Strides::row_major(rows));
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-4, "{rows}×{cols}: {a} vs {b}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "sgemm: A")]
    fn short_slice_is_caught() {
        let mut c = vec![0.0; 4];
        sgemm(2, 2, 2, 1.0, &[0.0; 3], Strides::row_major(2), &[0.0; 4], Strides::row_major(2), 0.0, &mut c, Strides::row_major(2));
    }
}
