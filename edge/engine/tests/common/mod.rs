//! Helpers shared by the kernel tests: the largest difference of two tensors and a
//! finite-difference check of an analytic gradient.

use candle_core::Tensor;

/// Largest absolute elementwise difference.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Asserts that `grad` matches the central finite difference (step `eps`) of `loss` at every
/// `stride`-th entry of `at`, within 2e-2; failures name `label[i]`.
pub fn assert_fd_grad(
    label: &str,
    at: &[f64],
    grad: &[f32],
    stride: usize,
    eps: f64,
    loss: impl Fn(&[f64]) -> f64,
) {
    for i in (0..at.len()).step_by(stride) {
        let (mut p, mut m) = (at.to_vec(), at.to_vec());
        p[i] += eps;
        m[i] -= eps;
        let fd = (loss(&p) - loss(&m)) / (2.0 * eps);
        assert!(
            (fd - f64::from(grad[i])).abs() < 2e-2,
            "{label}[{i}]: fd {fd} vs {}",
            grad[i]
        );
    }
}
