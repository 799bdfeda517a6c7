//! `Tensor`: a shape and a contiguous `Vec<f32>`, row-major. Images are NCHW.
//!
//! The type is deliberately plain: layers read and write `data` directly. Buffers are resized
//! in place with [`Tensor::resize`], which only allocates when the new size exceeds the
//! capacity already reserved, so a training loop that keeps its tensors allocates nothing after
//! the first step.

use crate::error::{Error, Result};

/// A dense f32 tensor, row-major (the last index varies fastest).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    /// The values, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor { shape: shape.to_vec(), data: vec![0.0; shape.iter().product()] }
    }

    /// Wraps `data` with `shape`; an error if the lengths disagree.
    pub fn from_vec(shape: &[usize], data: Vec<f32>) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(Error::Length { context: "Tensor::from_vec".into(), shape: shape.to_vec(), expected, found: data.len() });
        }
        Ok(Tensor { shape: shape.to_vec(), data })
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Leading dimension (the batch size for activations).
    pub fn batch(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// The shape without the leading (batch) dimension.
    pub fn sample_shape(&self) -> &[usize] {
        if self.shape.is_empty() {
            &[]
        } else {
            &self.shape[1..]
        }
    }

    /// Values per sample (product of the non-batch dimensions).
    pub fn sample_len(&self) -> usize {
        self.sample_shape().iter().product()
    }

    /// Sets the shape to `[batch] ++ sample_shape` and resizes the buffer in place. New values
    /// are zero; existing values are left as they are (callers overwrite them). Allocates only
    /// when the buffer must grow beyond its capacity.
    pub fn resize(&mut self, batch: usize, sample_shape: &[usize]) {
        self.shape.clear();
        self.shape.push(batch);
        self.shape.extend_from_slice(sample_shape);
        let n = batch * sample_shape.iter().product::<usize>();
        self.data.resize(n, 0.0);
    }

    /// Reinterprets the values with a new shape of the same size.
    pub fn reshape(&mut self, shape: &[usize]) -> Result<()> {
        let expected: usize = shape.iter().product();
        if expected != self.data.len() {
            return Err(Error::Shape { context: "Tensor::reshape".into(), expected: shape.to_vec(), found: self.shape.clone() });
        }
        self.shape.clear();
        self.shape.extend_from_slice(shape);
        Ok(())
    }

    /// The values of sample `i` of the leading dimension.
    pub fn sample(&self, i: usize) -> &[f32] {
        let n = self.sample_len();
        &self.data[i * n..(i + 1) * n]
    }

    /// Fills with `value`.
    pub fn fill(&mut self, value: f32) {
        self.data.iter_mut().for_each(|v| *v = value);
    }

    /// Index of the largest value in each row of a `[N, K]` tensor (first on ties).
    pub fn argmax_rows(&self) -> Vec<usize> {
        self.data.chunks(self.sample_len().max(1)).map(argmax).collect()
    }

    /// A tensor with values drawn uniformly from [−1, 1) by a generator seeded with `seed`
    /// (test inputs, gradient checks, benchmarks).
    pub fn random(shape: &[usize], seed: u64) -> Self {
        let mut rng = crate::init::Rng::new(seed);
        let n = shape.iter().product();
        Tensor { shape: shape.to_vec(), data: (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect() }
    }

    /// Checks that the per-sample shape is `expected`; `context` names the caller.
    pub fn check_sample_shape(&self, expected: &[usize], context: &str) -> Result<()> {
        if self.shape.is_empty() || self.sample_shape() != expected {
            let mut want = vec![self.batch()];
            want.extend_from_slice(expected);
            return Err(Error::Shape { context: context.into(), expected: want, found: self.shape.clone() });
        }
        Ok(())
    }
}

/// Index of the largest value (the first on ties; NaN never wins); 0 for an empty slice.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vec_checks_length() {
        assert!(Tensor::from_vec(&[2, 3], vec![0.0; 5]).is_err());
        let t = Tensor::from_vec(&[2, 3], (0..6).map(|v| v as f32).collect()).unwrap();
        assert_eq!(t.sample(1), &[3.0, 4.0, 5.0]);
        assert_eq!(t.sample_len(), 3);
    }

    #[test]
    fn resize_keeps_capacity() {
        let mut t = Tensor::zeros(&[8, 10]);
        let cap = t.data.capacity();
        t.resize(4, &[10]);
        assert_eq!(t.shape(), &[4, 10]);
        t.resize(8, &[10]);
        assert_eq!(t.data.capacity(), cap);
    }

    #[test]
    fn argmax_first_on_ties() {
        let t = Tensor::from_vec(&[2, 3], vec![1.0, 3.0, 3.0, 5.0, 0.0, 5.0]).unwrap();
        assert_eq!(t.argmax_rows(), vec![1, 0]);
    }

    #[test]
    fn shape_check_is_an_error() {
        let t = Tensor::zeros(&[2, 1, 28, 28]);
        assert!(t.check_sample_shape(&[1, 28, 28], "x").is_ok());
        assert!(t.check_sample_shape(&[3, 28, 28], "x").is_err());
    }
}
