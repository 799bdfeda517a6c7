//! The convolution lowered onto Winograd tiles ([`crate::kernels::winograd`]): the forward (plain
//! or with the max pool in its output transform), the input gradient (the same algorithm on
//! the output gradient with the kernels turned by 180°), and the weight gradient from
//! transformed tiles (`∂U += Σ_tiles (A ∂Y Aᵀ)ᵀ · V`, brought back to r×r once per backward).

use super::{chunk_len, ensure_work, ConvGrads, ConvKernel, ConvWeights, OutputGrad, WinogradPlans, SPLIT_CHANNELS_MIN_MACS};
use crate::kernels::pool::max_unpool_2x2;
use crate::kernels::simd::{self, LANES};
use crate::kernels::winograd::{Epilogue, Plan};
use rayon::prelude::*;

impl ConvKernel {
    /// Runs a forward Winograd plan over the batch, one chunk of samples per thread; with
    /// `pooled = Some(relu)` through the max-pool epilogue, recording each window's choice in
    /// `pool_choice` with `record`.
    /// With `grad_plan` (a training forward), the input gradient's kernels are transformed
    /// too when they are stale, on another thread beside the forward's.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_winograd(&mut self, plan: Plan, grad_plan: Option<Plan>, w: ConvWeights, x: &[f32], y: &mut [f32], pooled: Option<bool>, record: bool) {
        let n = x.len() / self.geo.in_len().max(1);
        if n == 0 {
            return;
        }
        if let Some(share) = self.winograd_split_share(n).filter(|_| !record) {
            self.run_winograd_split(plan, share, w, x, y, pooled);
            return;
        }
        self.ensure_winograd_kernels(plan, grad_plan, w.weight);
        let bias = w.bias;
        let chunk = chunk_len(n);
        let (in_len, out_len) = (self.geo.in_len(), y.len() / n);
        let work = ensure_work(&mut self.winograd_work, n.div_ceil(chunk), plan.work_len());
        let epilogue = match pooled {
            Some(relu) => Epilogue::MaxPool { bias, relu },
            None => Epilogue::Store { bias },
        };
        let kernels = &self.kernels;
        let pooled_values = y.len();
        let chunks = y.par_chunks_mut(chunk * out_len).zip(x.par_chunks(chunk * in_len)).zip(work.par_iter_mut());
        if record && pooled.is_some() {
            // Every pooled value's choice, for the backward.
            self.pool_choice.resize(pooled_values, 0);
            chunks.zip(self.pool_choice.par_chunks_mut(chunk * out_len)).for_each(|(((ys, xs), w), choice)| plan.run(kernels, xs, ys, epilogue, choice, w));
        } else {
            chunks.for_each(|((ys, xs), w)| plan.run(kernels, xs, ys, epilogue, &mut [], w));
        }
    }

    /// Output channels per share when a single image's Winograd forward is split across
    /// threads — whole 16-channel blocks, one share per thread — if it is: an inference
    /// forward of one image with more than one block of output channels and at least
    /// [`SPLIT_CHANNELS_MIN_MACS`] multiply-adds of the direct convolution (`keras` conv2 and
    /// conv3, `lenet` conv2). Each output channel's arithmetic is the same split or not (the
    /// GEMMs sum over input channels in one pass whatever their column count), so a single
    /// image gets the same bits on any number of threads.
    pub(crate) fn winograd_split_share(&self, n: usize) -> Option<usize> {
        let threads = rayon::current_num_threads();
        let oc = self.out_channels;
        let macs = oc * self.geo.col_rows() * self.geo.out_pixels();
        let share = oc.div_ceil(threads).div_ceil(LANES) * LANES;
        (n == 1 && threads > 1 && share < oc && macs >= SPLIT_CHANNELS_MIN_MACS).then_some(share)
    }

    /// One image through `plan` with its output channels split across threads in shares of
    /// `share`: each thread blocks and transforms the input itself (a small part of the work,
    /// done twice) and runs its share of the products and output transforms with its share of
    /// the kernels (transformed once, kept until the weights change).
    fn run_winograd_split(&mut self, plan: Plan, share: usize, w: ConvWeights, x: &[f32], y: &mut [f32], pooled: Option<bool>) {
        let oc = self.out_channels;
        let parts = oc.div_ceil(share);
        let taps = w.weight.len() / oc;
        if self.split_for != Some(share) {
            self.split_kernels.resize_with(parts, Vec::new);
            for (t, u) in self.split_kernels.iter_mut().take(parts).enumerate() {
                let part = plan.with_out_channels(share.min(oc - t * share));
                u.resize(part.kernels_len(), 0.0);
                part.transform_kernels(&w.weight[t * share * taps..(t * share + part.out_channels) * taps], false, u);
            }
            self.split_for = Some(share);
        }
        let work = ensure_work(&mut self.winograd_work, parts, plan.with_out_channels(share).work_len());
        let out_plane = y.len() / oc;
        let kernels = &self.split_kernels;
        y.par_chunks_mut(share * out_plane).zip(work.par_iter_mut()).enumerate().for_each(|(t, (ys, work))| {
            let part_oc = ys.len() / out_plane;
            let bias = w.bias.map(|b| &b[t * share..t * share + part_oc]);
            let epilogue = match pooled {
                Some(relu) => Epilogue::MaxPool { bias, relu },
                None => Epilogue::Store { bias },
            };
            plan.with_out_channels(part_oc).run(&kernels[t], x, ys, epilogue, &mut [], work);
        });
    }

    /// Transforms the weight into the forward's Winograd kernels, unless they are fresh; with
    /// `grad_plan`, into the input gradient's too (unless fresh), the two side by side.
    fn ensure_winograd_kernels(&mut self, plan: Plan, grad_plan: Option<Plan>, weight: &[f32]) {
        if self.kernels_fresh {
            return;
        }
        self.kernels.resize(plan.kernels_len(), 0.0);
        match grad_plan.filter(|_| !self.grad_kernels_fresh) {
            Some(grad_plan) => {
                self.grad_kernels.resize(grad_plan.kernels_len(), 0.0);
                let (kernels, grad_kernels) = (&mut self.kernels, &mut self.grad_kernels);
                rayon::join(|| plan.transform_kernels(weight, false, kernels), || grad_plan.transform_kernels(weight, true, grad_kernels));
                self.grad_kernels_fresh = true;
            }
            None => plan.transform_kernels(weight, false, &mut self.kernels),
        }
        self.kernels_fresh = true;
    }

    /// The backward of a Winograd convolution, one chunk of samples per thread: a pooled
    /// gradient is spread back onto the whole chunk's output first; then `∂U` and `∂b` of the
    /// chunk, and the input gradient through the input-gradient plan. The chunks' `∂U` are
    /// summed in order and turned into `∂W += Gᵀ ∂U G` once.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn backward_winograd(
        &mut self,
        plans: WinogradPlans,
        weight: &[f32],
        x: &[f32],
        n: usize,
        grad: OutputGrad,
        dx: Option<&mut [f32]>,
        grads: Option<ConvGrads>,
    ) {
        let geo = self.geo;
        let (p, oc) = (geo.out_pixels(), self.out_channels);
        let (in_len, out_len) = (geo.in_len(), oc * p);
        let chunk = chunk_len(n);
        let chunks = n.div_ceil(chunk);
        let dw_plan = grads.is_some().then_some(plans.forward);
        let dx_plan = dx.is_some().then_some(plans.input_grad);
        if let Some(plan) = dx_plan.filter(|_| !self.grad_kernels_fresh) {
            self.grad_kernels.resize(plan.kernels_len(), 0.0);
            plan.transform_kernels(weight, true, &mut self.grad_kernels);
            self.grad_kernels_fresh = true;
        }
        let pooled_len = oc * (geo.out_h / 2) * (geo.out_w / 2);
        let unpooled_chunk_len = if matches!(grad, OutputGrad::Pooled(_)) { out_len * chunk } else { 0 };
        let base_len = dw_plan.map_or(0, |plan| plan.weight_grad_len() + oc);
        let work = ensure_work(&mut self.work, chunks, base_len + unpooled_chunk_len);
        let winograd_work_len = dx_plan.map_or(0, |p| p.work_len()).max(dw_plan.map_or(0, |p| p.weight_grad_work_len()));
        let winograd_work = ensure_work(&mut self.winograd_work, chunks, winograd_work_len);
        let grad_kernels = &self.grad_kernels;
        let choice = &self.pool_choice;
        let body = |ci: usize, dxs: Option<&mut [f32]>, work: &mut Vec<f32>, winograd_work: &mut Vec<f32>| {
            let samples = chunk.min(n - ci * chunk);
            let first = ci * chunk;
            let (work, unpooled_chunk) = work.split_at_mut(base_len);
            let dys: &[f32] = match grad {
                OutputGrad::Full(dy) => &dy[first * out_len..(first + samples) * out_len],
                OutputGrad::Pooled(dy) => {
                    for (i, unpooled) in unpooled_chunk.chunks_mut(out_len).take(samples).enumerate() {
                        let at = (first + i) * pooled_len..(first + i + 1) * pooled_len;
                        max_unpool_2x2(&dy[at.clone()], &choice[at], oc, geo.out_h, geo.out_w, unpooled);
                    }
                    &unpooled_chunk[..samples * out_len]
                }
            };
            if let Some(plan) = dw_plan {
                // ∂U += Σ_tiles (A ∂Y Aᵀ)ᵀ · V, and ∂b.
                let (du, rest) = work.split_at_mut(plan.weight_grad_len());
                let db = &mut rest[..oc];
                du.fill(0.0);
                plan.accumulate_weight_grad(&x[first * in_len..(first + samples) * in_len], dys, du, winograd_work);
                db.fill(0.0);
                for dys in dys.chunks(out_len) {
                    for (d, row) in db.iter_mut().zip(dys.chunks(p)) {
                        *d += simd::sum(row);
                    }
                }
            }
            if let (Some(dxs), Some(plan)) = (dxs, dx_plan) {
                plan.run(grad_kernels, dys, dxs, Epilogue::Store { bias: None }, &mut [], winograd_work);
            }
        };
        match dx {
            Some(dx) => dx
                .par_chunks_mut(chunk * in_len)
                .zip(work.par_iter_mut().zip(winograd_work.par_iter_mut()))
                .enumerate()
                .for_each(|(ci, (dxs, (w, ww)))| body(ci, Some(dxs), w, ww)),
            None => work.par_iter_mut().zip(winograd_work.par_iter_mut()).enumerate().for_each(|(ci, (w, ww))| body(ci, None, w, ww)),
        }
        let (Some(plan), Some(grads)) = (dw_plan, grads) else { return };
        // Sum the chunks' ∂U, then ∂W += Gᵀ ∂U G once.
        let du_len = plan.weight_grad_len();
        if let Some((first, others)) = self.work[..chunks].split_first_mut() {
            // Each value summed in chunk order, whatever the thread that sums it.
            let part = (du_len + oc).div_ceil(rayon::current_num_threads()).max(1);
            first[..du_len + oc].par_chunks_mut(part).enumerate().for_each(|(t, sums)| {
                for w in others.iter() {
                    for (a, b) in sums.iter_mut().zip(&w[t * part..]) {
                        *a += b;
                    }
                }
            });
            plan.weight_grad_from_transformed(&first[..du_len], grads.weight);
            if let Some(bias) = grads.bias {
                for (g, v) in bias.iter_mut().zip(&first[du_len..du_len + oc]) {
                    *g += v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::geometry::{Geometry, Padding};

    /// A single image's Winograd forward split across two threads by output channels gives
    /// the very bits of the same image on one thread, and of the same image inside a batch:
    /// `keras` conv2 and conv3, `lenet` conv2 (50 channels: shares of 32 and 18), plain,
    /// pooled and pooled after a ReLU; and a changed weight is transformed again.
    #[test]
    fn split_single_image_gives_the_bits_of_one_thread() {
        let cases: [([usize; 3], usize, usize, usize); 3] = [([32, 14, 14], 64, 3, 1), ([64, 7, 7], 128, 3, 1), ([20, 12, 12], 50, 5, 0)];
        let mut rng = crate::init::Rng::new(5);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for (i, (input, oc, r, pad)) in cases.into_iter().enumerate() {
            let geo = Geometry::new("t", input, [r, r], [1, 1], [1, 1], Padding::Uniform(pad)).unwrap();
            let mut weight: Vec<f32> = (0..oc * geo.col_rows()).map(|_| rng.uniform(-0.3, 0.3)).collect();
            let bias: Vec<f32> = (0..oc).map(|_| rng.uniform(-0.3, 0.3)).collect();
            let x: Vec<f32> = (0..3 * geo.in_len()).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let first = &x[..geo.in_len()];
            let mut k = ConvKernel::new(geo, oc);
            assert!(k.uses_winograd(), "case {i}");
            assert!(two.install(|| k.winograd_split_share(1)).is_some(), "case {i}: not split");
            assert!(one.install(|| k.winograd_split_share(1)).is_none(), "case {i}");
            for round in 0..2 {
                if round == 1 {
                    weight.iter_mut().for_each(|v| *v *= -0.5);
                    k.weights_changed();
                }
                let w = ConvWeights { weight: &weight, bias: Some(&bias) };
                for pooled in [None, Some(false), Some(true)] {
                    let len = match pooled {
                        None => oc * geo.out_pixels(),
                        Some(_) => oc * (geo.out_h / 2) * (geo.out_w / 2),
                    };
                    let mut run = |pool: &rayon::ThreadPool, x: &[f32], n: usize| {
                        let mut y = vec![f32::NAN; n * len];
                        pool.install(|| match pooled {
                            None => k.forward(w, x, n, &mut y, false),
                            Some(relu) => k.forward_pooled(w, x, n, &mut y, relu, false),
                        });
                        y
                    };
                    let split = run(&two, first, 1);
                    assert_eq!(split, run(&one, first, 1), "case {i}, {pooled:?}, round {round}: two threads and one");
                    assert_eq!(split, run(&two, &x, 3)[..len], "case {i}, {pooled:?}, round {round}: alone and in a batch");
                }
            }
        }
    }
}
