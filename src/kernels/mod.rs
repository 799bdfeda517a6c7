//! The fast numeric kernels, each beside its naive reference: matrix products, vector helpers,
//! convolution geometry and lowerings, Winograd, and the 2×2 pooling kernels. Nothing here
//! knows about layers or networks: kernels take slices and shapes.

pub mod conv;
pub mod gemm;
pub mod geometry;
pub mod pool;
pub mod simd;
pub mod winograd;
