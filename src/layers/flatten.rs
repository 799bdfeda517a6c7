//! Flatten: `[N, C, H, W]` → `[N, C·H·W]` in C, H, W order (as `nn.Flatten`), so a dense
//! layer after it has PyTorch's weight layout. Forward and backward are copies.

use super::{check_grad, check_input, Layer, Mode};
use crate::error::Result;
use crate::tensor::Tensor;

/// A flatten layer.
pub struct Flatten {
    in_shape: Vec<usize>,
    out_shape: [usize; 1],
}

impl Flatten {
    /// Flattens inputs of `shape`.
    pub fn new(shape: &[usize]) -> Self {
        Flatten { in_shape: shape.to_vec(), out_shape: [shape.iter().product()] }
    }
}

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }

    fn input_shape(&self) -> &[usize] {
        &self.in_shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.out_shape
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, _mode: Mode) -> Result<()> {
        let n = check_input(self, x)?;
        y.resize(n, &self.out_shape);
        y.data.copy_from_slice(&x.data);
        Ok(())
    }

    fn backward(&mut self, x: &Tensor, _y: &Tensor, dy: &Tensor, dx: Option<&mut Tensor>, _param_grads: bool) -> Result<()> {
        let n = check_grad(self, x, dy)?;
        if let Some(dx) = dx {
            dx.resize(n, &self.in_shape);
            dx.data.copy_from_slice(&dy.data);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_round_trip() {
        let mut f = Flatten::new(&[2, 3, 4]);
        let x = Tensor::random(&[5, 2, 3, 4], 1);
        let mut y = Tensor::default();
        f.forward(&x, &mut y, Mode::Train).unwrap();
        assert_eq!(y.shape(), &[5, 24]);
        assert_eq!(y.data, x.data);
        let mut dx = Tensor::default();
        f.backward(&x, &y, &y, Some(&mut dx), true).unwrap();
        assert_eq!(dx, x);
    }
}
