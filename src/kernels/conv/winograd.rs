//! The convolution lowered onto Winograd tiles ([`crate::kernels::winograd`]): the forward (plain
//! or with the max pool in its output transform), the input gradient (the same algorithm on
//! the output gradient with the kernels turned by 180°), and the weight gradient from
//! transformed tiles (`∂U += Σ_tiles (A ∂Y Aᵀ)ᵀ · V`, brought back to r×r once per backward).

use super::{chunk_len, ensure_work, ConvGrads, ConvKernel, ConvWeights, OutputGrad, WinogradPlans};
use crate::kernels::pool::max_unpool_2x2;
use crate::kernels::simd;
use crate::kernels::winograd::{Epilogue, Plan};
use rayon::prelude::*;

impl ConvKernel {
    /// Runs a forward Winograd plan over the batch, one chunk of samples per thread; with
    /// `pooled = Some(relu)` through the max-pool epilogue, recording each window's choice in
    /// `pool_choice` with `record`.
    pub(super) fn run_winograd(&mut self, plan: Plan, w: ConvWeights, x: &[f32], y: &mut [f32], pooled: Option<bool>, record: bool) {
        let n = x.len() / self.geo.in_len().max(1);
        if n == 0 {
            return;
        }
        self.ensure_winograd_kernels(plan, w.weight);
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

    /// Transforms the weight into the forward's Winograd kernels, unless they are fresh.
    fn ensure_winograd_kernels(&mut self, plan: Plan, weight: &[f32]) {
        if !self.kernels_fresh {
            self.kernels.resize(plan.kernels_len(), 0.0);
            plan.transform_kernels(weight, false, &mut self.kernels);
            self.kernels_fresh = true;
        }
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
        if let Some(plan) = dx_plan {
            self.grad_kernels.resize(plan.kernels_len(), 0.0);
            plan.transform_kernels(weight, true, &mut self.grad_kernels);
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
            for w in others.iter() {
                for (a, b) in first[..du_len + oc].iter_mut().zip(&w[..du_len + oc]) {
                    *a += b;
                }
            }
            plan.weight_grad_from_transformed(&first[..du_len], grads.weight);
            if let Some(bias) = grads.bias {
                for (g, v) in bias.iter_mut().zip(&first[du_len..du_len + oc]) {
                    *g += v;
                }
            }
        }
    }
}
