//! Losses, each fused with its gradient.
//!
//! **Softmax cross-entropy** with optional per-class weights, exactly
//!
//! ```text
//! yₙ = softmax(zₙ),   L = −(1/N) Σₙ Σᵢ wᵢ tₙᵢ ln yₙᵢ = −(1/N) Σₙ w_{cₙ} ln yₙ,cₙ
//! ∂L/∂zₙᵢ = (1/N) · w_{cₙ} · (yₙᵢ − tₙᵢ)
//! ```
//! where `cₙ` is sample n's class and `t` its one-hot target (wᵢ = 1 without weights). Note the
//! normalisation is by N, not by Σ w (unlike PyTorch's weighted mean), as the formula says.
//! `ln y` is computed as `z_c − max z − ln Σ e^(z − max z)`, so huge logits do not overflow.
//!
//! **Mean squared error**, halved as in MATLAB's `regressionLayer`:
//!
//! ```text
//! L = (1/2N) Σₙ Σⱼ (yₙⱼ − tₙⱼ)²,   ∂L/∂yₙⱼ = (yₙⱼ − tₙⱼ)/N
//! ```

use crate::error::{Error, Result};
use crate::layers::activation::softmax_row;
use crate::tensor::Tensor;

/// Loss and accuracy of one batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchLoss {
    /// The mean loss over the batch.
    pub loss: f64,
    /// Samples whose arg-max logit is the label (classification only).
    pub correct: usize,
}

/// Softmax cross-entropy over `classes` classes.
#[derive(Clone, Debug)]
pub struct SoftmaxCrossEntropy {
    classes: usize,
    weights: Vec<f32>,
    probs: Tensor,
}

impl SoftmaxCrossEntropy {
    /// The loss, with optional per-class weights (one per class, each finite and ≥ 0).
    pub fn new(classes: usize, class_weights: Option<&[f32]>) -> Result<Self> {
        let weights = match class_weights {
            None => vec![1.0; classes],
            Some(w) if w.len() != classes => {
                return Err(Error::config(format!("{} class weights given for {classes} classes", w.len())));
            }
            Some(w) if w.iter().any(|v| !v.is_finite() || *v < 0.0) => {
                return Err(Error::config(format!("class weights must be finite and ≥ 0, got {w:?}")));
            }
            Some(w) => w.to_vec(),
        };
        Ok(SoftmaxCrossEntropy { classes, weights, probs: Tensor::default() })
    }

    /// The class weights in use.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Softmax probabilities of the last call.
    pub fn probabilities(&self) -> &Tensor {
        &self.probs
    }

    /// Mean loss of `logits[N, K]` against `labels`, writing ∂L/∂logits into `dlogits` if given.
    pub fn forward_backward(&mut self, logits: &Tensor, labels: &[u8], dlogits: Option<&mut Tensor>) -> Result<BatchLoss> {
        logits.check_sample_shape(&[self.classes], "SoftmaxCrossEntropy logits")?;
        let n = logits.batch();
        if labels.len() != n {
            return Err(Error::Shape { context: "SoftmaxCrossEntropy labels".into(), expected: vec![n], found: vec![labels.len()] });
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= self.classes) {
            return Err(Error::Data(format!("label {bad} is out of range for {} classes", self.classes)));
        }
        let k = self.classes;
        self.probs.resize(n, &[k]);
        let mut total = 0.0f64;
        let mut correct = 0;
        for ((z, p), &label) in logits.data.chunks(k).zip(self.probs.data.chunks_mut(k)).zip(labels) {
            let c = label as usize;
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = z.iter().map(|&v| ((v - max) as f64).exp()).sum();
            let log_p = (z[c] - max) as f64 - sum.ln();
            total -= self.weights[c] as f64 * log_p;
            softmax_row(z, p);
            // First maximum wins ties, as argmax everywhere else.
            let pred = z.iter().enumerate().fold(0, |b, (i, &v)| if v > z[b] { i } else { b });
            correct += usize::from(pred == c);
        }
        if let Some(d) = dlogits {
            d.resize(n, &[k]);
            let inv_n = 1.0 / n.max(1) as f32;
            for ((drow, p), &label) in d.data.chunks_mut(k).zip(self.probs.data.chunks(k)).zip(labels) {
                let c = label as usize;
                let w = self.weights[c] * inv_n;
                for (i, (dv, &pv)) in drow.iter_mut().zip(p).enumerate() {
                    *dv = w * (pv - if i == c { 1.0 } else { 0.0 });
                }
            }
        }
        Ok(BatchLoss { loss: total / n.max(1) as f64, correct })
    }
}

/// Half mean squared error of `pred[N, …]` against `target` (same length), writing ∂L/∂pred.
pub fn mse(pred: &Tensor, target: &[f32], dpred: Option<&mut Tensor>) -> Result<BatchLoss> {
    if pred.len() != target.len() {
        return Err(Error::Shape { context: "MSE target".into(), expected: pred.shape().to_vec(), found: vec![target.len()] });
    }
    let n = pred.batch().max(1);
    let sum: f64 = pred.data.iter().zip(target).map(|(&y, &t)| ((y - t) as f64).powi(2)).sum();
    if let Some(d) = dpred {
        d.resize(pred.batch(), pred.sample_shape());
        let inv_n = 1.0 / n as f32;
        for ((dv, &y), &t) in d.data.iter_mut().zip(&pred.data).zip(target) {
            *dv = (y - t) * inv_n;
        }
    }
    Ok(BatchLoss { loss: sum / (2.0 * n as f64), correct: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::compare;

    /// Hand-computed: logits [0, ln 3] → p = [1/4, 3/4]; label 1 → L = −ln(3/4) = 0.287 682;
    /// with weights [1, 2], L = 0.575 364 and ∂L/∂z = 2·([1/4, 3/4] − [0, 1]) = [0.5, −0.5].
    #[test]
    fn hand_computed_weighted() {
        let z = Tensor::from_vec(&[1, 2], vec![0.0, 3f32.ln()]).unwrap();
        let mut plain = SoftmaxCrossEntropy::new(2, None).unwrap();
        let r = plain.forward_backward(&z, &[1], None).unwrap();
        assert!((r.loss - 0.287_682).abs() < 1e-6);
        assert_eq!(r.correct, 1);
        let mut weighted = SoftmaxCrossEntropy::new(2, Some(&[1.0, 2.0])).unwrap();
        let mut d = Tensor::default();
        let r = weighted.forward_backward(&z, &[1], Some(&mut d)).unwrap();
        assert!((r.loss - 0.575_364).abs() < 1e-6);
        assert!((d.data[0] - 0.5).abs() < 1e-6 && (d.data[1] + 0.5).abs() < 1e-6);
    }

    /// The weighted loss is −(1/N) Σ w_c ln p_c, normalised by N: two samples of classes 0
    /// and 1 with equal logits give −(1/2)(w₀ + w₁) ln ½.
    #[test]
    fn normalised_by_batch_size_not_weight_sum() {
        let z = Tensor::zeros(&[2, 2]);
        let mut l = SoftmaxCrossEntropy::new(2, Some(&[1.0, 3.0])).unwrap();
        let r = l.forward_backward(&z, &[0, 1], None).unwrap();
        assert!((r.loss - 2.0 * std::f64::consts::LN_2).abs() < 1e-6);
    }

    #[test]
    fn huge_logits_stay_finite() {
        let z = Tensor::from_vec(&[1, 3], vec![1e4, -1e4, 0.0]).unwrap();
        let mut l = SoftmaxCrossEntropy::new(3, None).unwrap();
        let r = l.forward_backward(&z, &[1], None).unwrap();
        assert!((r.loss - 2e4).abs() < 1.0);
    }

    #[test]
    fn cross_entropy_gradient_matches_finite_differences() {
        let mut z = Tensor::random(&[4, 5], 1);
        z.data.iter_mut().for_each(|v| *v *= 3.0);
        let labels = [0u8, 4, 2, 2];
        let mut l = SoftmaxCrossEntropy::new(5, Some(&[0.5, 1.0, 2.0, 1.5, 0.7])).unwrap();
        let mut d = Tensor::default();
        l.forward_backward(&z, &labels, Some(&mut d)).unwrap();
        let mut zp = z.clone();
        compare("cross-entropy logits", &d.data, |i, h| {
            let keep = zp.data[i];
            zp.data[i] += h;
            let r = l.forward_backward(&zp, &labels, None).unwrap().loss;
            zp.data[i] = keep;
            r
        })
        .unwrap();
    }

    /// Hand-computed: y = [1, 3], t = [0, 1] over N = 2 samples → (1 + 4)/(2·2) = 1.25.
    #[test]
    fn mse_hand_computed_and_gradient() {
        let y = Tensor::from_vec(&[2, 1], vec![1.0, 3.0]).unwrap();
        let mut d = Tensor::default();
        let r = mse(&y, &[0.0, 1.0], Some(&mut d)).unwrap();
        assert!((r.loss - 1.25).abs() < 1e-9);
        assert_eq!(d.data, vec![0.5, 1.0]);
        let y = Tensor::random(&[3, 2], 5);
        let t = [0.1, -0.3, 0.7, 0.0, 0.5, -1.0];
        mse(&y, &t, Some(&mut d)).unwrap();
        let mut yp = y.clone();
        compare("mse", &d.data, |i, h| {
            let keep = yp.data[i];
            yp.data[i] += h;
            let r = mse(&yp, &t, None).unwrap().loss;
            yp.data[i] = keep;
            r
        })
        .unwrap();
    }

    #[test]
    fn bad_labels_and_weights_are_errors() {
        let z = Tensor::zeros(&[1, 3]);
        let mut l = SoftmaxCrossEntropy::new(3, None).unwrap();
        assert!(l.forward_backward(&z, &[3], None).is_err());
        assert!(l.forward_backward(&z, &[0, 1], None).is_err());
        assert!(SoftmaxCrossEntropy::new(3, Some(&[1.0, 2.0])).is_err());
        assert!(SoftmaxCrossEntropy::new(2, Some(&[1.0, f32::NAN])).is_err());
    }
}
