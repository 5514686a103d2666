//! Hand-written CPU kernels for fitting the skip network, as differentiable candle ops:
//! reflect-padded convolutions on GEMM ([`conv2d_reflect`]), batch-statistics BatchNorm fused
//! with LeakyReLU ([`batch_norm_lrelu`]), bilinear ×2 upsampling ([`upsample2x_bilinear`]),
//! the perturbation of the network input ([`noise`]), and a fused Adam step ([`adam`]). Each op works on f32 CPU tensors; callers fall back
//! to candle's generic ops on other devices (see [`is_fast_path`]). Element-wise loops run
//! under AVX2 where the CPU has it ([`simd`]).

pub mod adam;
pub mod batchnorm;
pub mod conv;
mod cpu;
pub mod gemm;
pub mod noise;
pub mod simd;
pub mod upsample;

pub use batchnorm::batch_norm_lrelu;
pub use conv::conv2d_reflect;
pub use upsample::upsample2x_bilinear;

use candle_core::{DType, Tensor};

/// Whether the kernels of this module can run on `t` (an f32 tensor on the CPU).
pub fn is_fast_path(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}
