//! The convolution lowered onto GEMMs through columns: im2col columns `cols[K, P]`
//! (`y = W · cols`), or, for stride-1 layers with at least [`super::ROWS_MIN_CHANNELS`] input
//! channels, channels-last rows `rows[P, K]` (`y = W' · rowsᵀ`, with `W'` the weight's kernel
//! index reordered like the rows, `(ki, kj, c)`), which the GEMM reads without repacking.
//!
//! A training forward keeps every sample's columns for the weight gradient; an inference
//! forward keeps one buffer per chunk (a backward after it rebuilds each sample's columns).

use super::{chunk_len, ensure_work, fill_bias, taps, ConvGrads, ConvKernel, ConvWeights, Lowering, OutputGrad, SPLIT_CHANNELS_MIN_MACS};
use crate::kernels::gemm::{sgemm, Strides};
use crate::kernels::pool::{max_pool_2x2_planes, max_unpool_2x2};
use crate::kernels::simd;
use rayon::prelude::*;

impl ConvKernel {
    /// Sizes `cols` for a batch of `n` (every sample's with `keep`, else one per chunk) and
    /// records whether they will all be there for a backward.
    fn size_columns(&mut self, n: usize, keep: bool) {
        let (kk, p) = (self.geo.col_rows(), self.geo.out_pixels());
        let chunk = chunk_len(n);
        let cols_per_chunk = if keep { chunk } else { 1 };
        self.cols.resize(n.div_ceil(chunk) * cols_per_chunk * kk * p, 0.0);
        self.cols_cached_for = keep.then_some(n);
    }

    /// The im2col forward: per sample `y = W · im2col(x) + b`. A single image large enough
    /// splits its output channels across threads (latency) instead of samples.
    pub(super) fn forward_im2col(&mut self, w: ConvWeights, x: &[f32], n: usize, y: &mut [f32], keep: bool) {
        if !keep && self.runs_taps(n) {
            self.forward_taps(w, x, n, y, None);
            return;
        }
        self.size_columns(n, keep);
        let geo = self.geo;
        let (kk, p, oc) = (geo.col_rows(), geo.out_pixels(), self.out_channels);
        let (in_len, out_len) = (geo.in_len(), oc * p);
        let (weight, bias) = (w.weight, w.bias);
        if self.splits_channels(n) {
            self.forward_split_channels(w, x, y, None);
            return;
        }
        let chunk = chunk_len(n);
        let cols_per_chunk = if keep { chunk } else { 1 };
        y.par_chunks_mut(chunk * out_len).zip(x.par_chunks(chunk * in_len)).zip(self.cols.par_chunks_mut(cols_per_chunk * kk * p)).for_each(
            |((ys, xs), cols)| {
                for (i, (ys, xs)) in ys.chunks_mut(out_len).zip(xs.chunks(in_len)).enumerate() {
                    let c = if keep { &mut cols[i * kk * p..(i + 1) * kk * p] } else { &mut cols[..] };
                    geo.im2col(xs, c);
                    fill_bias(ys, bias, p);
                    sgemm(oc, kk, p, 1.0, weight, Strides::row_major(kk), c, Strides::row_major(p), 1.0, ys, Strides::row_major(p));
                }
            },
        );
    }

    /// True when a batch of `n` through this lowered (not Winograd) convolution is a single
    /// image with enough work to split its output channels across threads (latency) instead
    /// of samples.
    pub(crate) fn splits_channels(&self, n: usize) -> bool {
        let (kk, p) = (self.geo.col_rows(), self.geo.out_pixels());
        !self.uses_winograd() && n == 1 && rayon::current_num_threads() > 1 && self.out_channels * kk * p >= SPLIT_CHANNELS_MIN_MACS
    }

    /// True when an inference forward of `n` images runs tap by tap ([`taps`]): an im2col
    /// layer of stride 1 with few input channels, where that is faster for batches
    /// ([`taps::preferred`]), and for a single image always (one image of `keras` conv1, 1→32
    /// 3×3, split across two threads: 11.2 µs through im2col, 6.7 tap by tap). Never chosen by
    /// the thread count, so a single image gets the same bits on any number of threads.
    pub(crate) fn runs_taps(&self, n: usize) -> bool {
        self.taps && matches!(self.lowering, Lowering::Im2col) && taps::applies(&self.geo) && (n == 1 || taps::preferred(&self.geo, self.out_channels))
    }

    /// The inference forward tap by tap ([`taps::convolve`]), each thread's samples in turn —
    /// or, for a single image large enough to split ([`ConvKernel::splits_channels`]), each
    /// thread's share of the output channels (whole blocks of [`taps::BLOCK`]); with
    /// `pool = Some(relu)` each output is pooled (a ReLU first if `relu`) from a per-thread
    /// scratch, so `y` gets the 2×2-pooled output. Keeps no columns.
    fn forward_taps(&mut self, w: ConvWeights, x: &[f32], n: usize, y: &mut [f32], pool: Option<bool>) {
        let geo = self.geo;
        let (oc, p, kk) = (self.out_channels, geo.out_pixels(), geo.col_rows());
        let split = self.splits_channels(n) && oc > taps::BLOCK;
        self.cols_cached_for = None;
        // `kernels` is otherwise unused by an im2col layer: the packed weight, rebuilt per call.
        self.kernels.resize(taps::packed_len(&geo, oc), 0.0);
        taps::pack_weights(&geo, oc, w.weight, &mut self.kernels);
        self.kernels_fresh = false;
        self.grad_kernels_fresh = false;
        let out_plane = if pool.is_some() { (geo.out_h / 2) * (geo.out_w / 2) } else { p };
        let (packed, bias) = (&self.kernels[..], w.bias);
        let convolve = |m: usize, packed: &[f32], bias: Option<&[f32]>, xs: &[f32], work: &mut [f32], ys: &mut [f32]| {
            let (conv, scratch) = work.split_at_mut(if pool.is_some() { m * p } else { 0 });
            match pool {
                Some(relu) => {
                    taps::convolve(&geo, m, packed, bias, xs, scratch, conv);
                    max_pool_2x2_planes(conv, m, geo.out_h, geo.out_w, relu, ys, None);
                }
                None => taps::convolve(&geo, m, packed, bias, xs, scratch, ys),
            }
        };
        if split {
            let per = oc.div_ceil(rayon::current_num_threads()).div_ceil(taps::BLOCK) * taps::BLOCK;
            let conv_len = if pool.is_some() { per * p } else { 0 };
            let work = ensure_work(&mut self.work, oc.div_ceil(per), conv_len + taps::scratch_len(&geo));
            y.par_chunks_mut(per * out_plane).zip(packed.par_chunks(per * kk)).zip(work.par_iter_mut()).enumerate().for_each(|(t, ((ys, packed), work))| {
                let m = ys.len() / out_plane;
                convolve(m, packed, bias.map(|b| &b[t * per..t * per + m]), x, work, ys);
            });
            return;
        }
        let chunk = chunk_len(n);
        let conv_len = if pool.is_some() { oc * p } else { 0 };
        let work = ensure_work(&mut self.work, n.div_ceil(chunk), conv_len + taps::scratch_len(&geo));
        let (out_len, in_len) = (oc * out_plane, geo.in_len());
        y.par_chunks_mut(chunk * out_len).zip(x.par_chunks(chunk * in_len)).zip(work.par_iter_mut()).for_each(|((ys, xs), work)| {
            for (ys, xs) in ys.chunks_mut(out_len).zip(xs.chunks(in_len)) {
                convolve(oc, packed, bias, xs, work, ys);
            }
        });
    }

    /// One image's forward with its output channels split across threads: the columns (or
    /// rows) built once, then each thread's rows of the weight times them; with
    /// `pool = Some(relu)`, each thread pools its own channels (a ReLU first if `relu`) from a
    /// scratch, so `y` gets the 2×2-pooled output.
    fn forward_split_channels(&mut self, w: ConvWeights, x: &[f32], y: &mut [f32], pool: Option<bool>) {
        let rows_lowering = matches!(self.lowering, Lowering::Rows);
        if rows_lowering {
            self.ensure_rows_kernels(w.weight);
        }
        self.size_columns(1, false);
        let geo = self.geo;
        let (kk, p, oc) = (geo.col_rows(), geo.out_pixels(), self.out_channels);
        let threads = rayon::current_num_threads();
        let per = oc.div_ceil(threads);
        let padded_len = if rows_lowering { geo.padded_hwc_len() } else { 0 };
        let scratch_len = if pool.is_some() { per * p } else { 0 };
        let work = ensure_work(&mut self.work, threads, scratch_len.max(padded_len));
        let cols = &mut self.cols[..kk * p];
        let (weight, cols_strides) = if rows_lowering {
            geo.im2row(x, &mut work[0][..padded_len], cols);
            (&self.kernels[..], Strides::transposed(kk))
        } else {
            geo.im2col(x, cols);
            (w.weight, Strides::row_major(p))
        };
        let cols = &*cols;
        let out_plane = if pool.is_some() { (geo.out_h / 2) * (geo.out_w / 2) } else { p };
        let bias = w.bias;
        y.par_chunks_mut(per * out_plane).zip(weight.par_chunks(per * kk)).zip(work.par_iter_mut()).enumerate().for_each(|(t, ((ys, w), work))| {
            let m = w.len() / kk;
            let bias = bias.map(|b| &b[t * per..t * per + m]);
            let product = |conv: &mut [f32]| {
                fill_bias(conv, bias, p);
                sgemm(m, kk, p, 1.0, w, Strides::row_major(kk), cols, cols_strides, 1.0, conv, Strides::row_major(p));
            };
            match pool {
                Some(relu) => {
                    let conv = &mut work[..m * p];
                    product(conv);
                    max_pool_2x2_planes(conv, m, geo.out_h, geo.out_w, relu, ys, None);
                }
                None => product(ys),
            }
        });
    }

    /// Makes `kernels` the weight in the rows' order, `W'[oc, (ki·kw + kj)·C + c] = W[oc, c, ki, kj]`,
    /// unless it already is.
    fn ensure_rows_kernels(&mut self, weight: &[f32]) {
        if self.kernels_fresh {
            return;
        }
        let geo = self.geo;
        let kk = geo.col_rows();
        let (c, taps) = (geo.channels, geo.kernel_h * geo.kernel_w);
        self.kernels.resize(self.out_channels * kk, 0.0);
        for (dst, src) in self.kernels.chunks_mut(kk).zip(weight.chunks(kk)) {
            for ch in 0..c {
                for k in 0..taps {
                    dst[k * c + ch] = src[ch * taps + k];
                }
            }
        }
        self.kernels_fresh = true;
    }

    /// The forward through channels-last rows: per sample `y = W' · rowsᵀ + b`.
    pub(super) fn forward_rows(&mut self, w: ConvWeights, x: &[f32], n: usize, y: &mut [f32], keep: bool) {
        self.size_columns(n, keep);
        self.ensure_rows_kernels(w.weight);
        let geo = self.geo;
        let (kk, p, oc) = (geo.col_rows(), geo.out_pixels(), self.out_channels);
        let (in_len, out_len) = (geo.in_len(), oc * p);
        let chunk = chunk_len(n);
        let padded = ensure_work(&mut self.work, n.div_ceil(chunk), geo.padded_hwc_len());
        let cols_per_chunk = if keep { chunk } else { 1 };
        let weight = &self.kernels;
        let bias = w.bias;
        y.par_chunks_mut(chunk * out_len)
            .zip(x.par_chunks(chunk * in_len))
            .zip(self.cols.par_chunks_mut(cols_per_chunk * kk * p))
            .zip(padded.par_iter_mut())
            .for_each(|(((ys, xs), rows), padded)| {
                for (i, (ys, xs)) in ys.chunks_mut(out_len).zip(xs.chunks(in_len)).enumerate() {
                    let r = if keep { &mut rows[i * kk * p..(i + 1) * kk * p] } else { &mut rows[..kk * p] };
                    geo.im2row(xs, &mut padded[..geo.padded_hwc_len()], r);
                    fill_bias(ys, bias, p);
                    sgemm(oc, kk, p, 1.0, weight, Strides::row_major(kk), r, Strides::transposed(kk), 1.0, ys, Strides::row_major(p));
                }
            });
    }

    /// [`ConvKernel::forward_pooled`] through im2col columns or rows: each sample's
    /// convolution goes to a per-thread scratch and is pooled from there, so the full output
    /// never reaches memory. With `record`, every sample's columns are kept (as a training
    /// forward keeps them) and each window's choice recorded.
    pub(super) fn forward_pooled_columns(&mut self, w: ConvWeights, x: &[f32], n: usize, y: &mut [f32], relu: bool, record: bool) {
        if !record && self.runs_taps(n) {
            self.forward_taps(w, x, n, y, Some(relu));
            return;
        }
        if !record && self.splits_channels(n) {
            self.forward_split_channels(w, x, y, Some(relu));
            return;
        }
        let rows = matches!(self.lowering, Lowering::Rows);
        if rows {
            self.ensure_rows_kernels(w.weight);
        }
        let geo = self.geo;
        let (kk, p, oc) = (geo.col_rows(), geo.out_pixels(), self.out_channels);
        let chunk = chunk_len(n);
        let (in_len, out_len) = (geo.in_len(), oc * (geo.out_h / 2) * (geo.out_w / 2));
        let chunks = n.div_ceil(chunk);
        let padded_len = if rows { geo.padded_hwc_len() } else { 0 };
        let work = ensure_work(&mut self.work, chunks, oc * p + padded_len);
        // Training keeps every sample's columns (sample s at s·K·P) and choices; inference one
        // column buffer per chunk and no choices (one unused byte per chunk, for the zip).
        let cols_per_chunk = if record { chunk } else { 1 };
        self.cols.resize(chunks * cols_per_chunk * kk * p, 0.0);
        let choices_per_chunk = if record { chunk * out_len } else { 1 };
        self.pool_choice.resize(if record { n * out_len } else { chunks }, 0);
        let weight = if rows { &self.kernels } else { w.weight };
        let bias = w.bias;
        y.par_chunks_mut(chunk * out_len)
            .zip(x.par_chunks(chunk * in_len))
            .zip(work.par_iter_mut())
            .zip(self.cols.par_chunks_mut(cols_per_chunk * kk * p))
            .zip(self.pool_choice.par_chunks_mut(choices_per_chunk))
            .for_each(|((((ys, xs), work), cols), choices)| {
                let (conv, rest) = work.split_at_mut(oc * p);
                let padded = &mut rest[..padded_len];
                for (i, (ys, xs)) in ys.chunks_mut(out_len).zip(xs.chunks(in_len)).enumerate() {
                    let cols = if record { &mut cols[i * kk * p..(i + 1) * kk * p] } else { &mut cols[..] };
                    fill_bias(conv, bias, p);
                    if rows {
                        geo.im2row(xs, padded, cols);
                        sgemm(oc, kk, p, 1.0, weight, Strides::row_major(kk), cols, Strides::transposed(kk), 1.0, conv, Strides::row_major(p));
                    } else {
                        geo.im2col(xs, cols);
                        sgemm(oc, kk, p, 1.0, weight, Strides::row_major(kk), cols, Strides::row_major(p), 1.0, conv, Strides::row_major(p));
                    }
                    let choice = record.then(|| &mut choices[i * out_len..(i + 1) * out_len]);
                    max_pool_2x2_planes(conv, oc, geo.out_h, geo.out_w, relu, ys, choice);
                }
            });
        if record {
            self.cols_cached_for = Some(n);
            self.pooled_for = Some(n);
        }
    }

    /// The backward through columns, sample by sample within each thread's chunk: the output
    /// gradient (rebuilt from the pool's choices for a pooled one), then `∂W += dy · colsᵀ`
    /// (or `dy · rows`), `∂b += Σ dy`, and `∂x = col2im(Wᵀ · dy)`.
    pub(super) fn backward_columns(&mut self, weight: &[f32], x: &[f32], n: usize, grad: OutputGrad, dx: Option<&mut [f32]>, grads: Option<ConvGrads>) {
        let geo = self.geo;
        let (kk, p, oc) = (geo.col_rows(), geo.out_pixels(), self.out_channels);
        let (in_len, out_len) = (geo.in_len(), oc * p);
        let chunk = chunk_len(n);
        let chunks = n.div_ceil(chunk);
        let cached = self.cols_cached_for == Some(n);
        let param_grads = grads.is_some();
        let rows = matches!(self.lowering, Lowering::Rows);
        let padded_len = if rows && !cached { geo.padded_hwc_len() } else { 0 };
        // A pooled gradient is spread back onto one sample's output at a time.
        let (pooled_len, unpooled_len) = match grad {
            OutputGrad::Full(_) => (0, 0),
            OutputGrad::Pooled(_) => (oc * (geo.out_h / 2) * (geo.out_w / 2), out_len),
        };
        let work = ensure_work(&mut self.work, chunks, oc * kk + oc + 2 * kk * p + padded_len + unpooled_len);
        let cols = &self.cols;
        let choice = &self.pool_choice;
        let body = |ci: usize, mut dxs: Option<&mut [f32]>, work: &mut Vec<f32>| {
            let samples = chunk.min(n - ci * chunk);
            let first = ci * chunk;
            let (dw, rest) = work.split_at_mut(oc * kk);
            let (db, rest) = rest.split_at_mut(oc);
            let (dcols, rest) = rest.split_at_mut(kk * p);
            let (own_cols, rest) = rest.split_at_mut(kk * p);
            let (padded, rest) = rest.split_at_mut(padded_len);
            let unpooled = &mut rest[..unpooled_len];
            if param_grads {
                dw.fill(0.0);
                db.fill(0.0);
            }
            for s in first..first + samples {
                let i = s - first;
                let dys: &[f32] = match grad {
                    OutputGrad::Full(dy) => &dy[s * out_len..(s + 1) * out_len],
                    OutputGrad::Pooled(dy) => {
                        let at = s * pooled_len..(s + 1) * pooled_len;
                        max_unpool_2x2(&dy[at.clone()], &choice[at], oc, geo.out_h, geo.out_w, unpooled);
                        unpooled
                    }
                };
                if param_grads {
                    let c: &[f32] = if cached {
                        &cols[s * kk * p..(s + 1) * kk * p]
                    } else if rows {
                        // After an inference forward: build this sample's rows.
                        geo.im2row(&x[s * in_len..(s + 1) * in_len], padded, own_cols);
                        own_cols
                    } else {
                        geo.im2col(&x[s * in_len..(s + 1) * in_len], own_cols);
                        own_cols
                    };
                    if rows {
                        // ∂W (kernel index channels-last) += dy · rows.
                        sgemm(oc, p, kk, 1.0, dys, Strides::row_major(p), c, Strides::row_major(kk), 1.0, dw, Strides::row_major(kk));
                    } else {
                        sgemm(oc, p, kk, 1.0, dys, Strides::row_major(p), c, Strides::transposed(p), 1.0, dw, Strides::row_major(kk));
                    }
                    for (d, row) in db.iter_mut().zip(dys.chunks(p)) {
                        *d += simd::sum(row);
                    }
                }
                if let Some(dxs) = dxs.as_deref_mut() {
                    let d = &mut dxs[i * in_len..(i + 1) * in_len];
                    sgemm(kk, oc, p, 1.0, weight, Strides::transposed(kk), dys, Strides::row_major(p), 0.0, dcols, Strides::row_major(p));
                    d.fill(0.0);
                    geo.col2im_add(dcols, d);
                }
            }
        };
        match dx {
            Some(dx) => dx.par_chunks_mut(chunk * in_len).zip(work.par_iter_mut()).enumerate().for_each(|(ci, (dxs, w))| body(ci, Some(dxs), w)),
            None => work.par_iter_mut().enumerate().for_each(|(ci, w)| body(ci, None, w)),
        }
        let Some(mut grads) = grads else { return };
        let (c, taps) = (geo.channels, geo.kernel_h * geo.kernel_w);
        for w in &self.work[..chunks] {
            if rows {
                // Back from (oc, ki, kj, c) to the weight's (oc, c, ki, kj).
                for (g, v) in grads.weight.chunks_mut(kk).zip(w[..oc * kk].chunks(kk)) {
                    for ch in 0..c {
                        for k in 0..taps {
                            g[ch * taps + k] += v[k * c + ch];
                        }
                    }
                }
            } else {
                for (g, v) in grads.weight.iter_mut().zip(&w[..oc * kk]) {
                    *g += v;
                }
            }
            if let Some(bias) = grads.bias.as_deref_mut() {
                for (g, v) in bias.iter_mut().zip(&w[oc * kk..oc * kk + oc]) {
                    *g += v;
                }
            }
        }
    }
}
