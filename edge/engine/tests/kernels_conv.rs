//! The reflect-padded GEMM convolution against candle's own ops (reflection pad from
//! narrow/cat, `conv2d`, autograd through `conv_transpose2d`) and against finite differences.

mod common;

use candle_core::{Device, Tensor, Var};
use common::{assert_fd_grad, max_diff};
use engine::kernels::conv2d_reflect;

fn reflect_dim(x: &Tensor, dim: usize, pad: usize) -> Tensor {
    let n = x.dim(dim).unwrap();
    let mut parts = Vec::new();
    for i in (1..=pad).rev() {
        parts.push(x.narrow(dim, i, 1).unwrap());
    }
    parts.push(x.clone());
    for i in 1..=pad {
        parts.push(x.narrow(dim, n - 1 - i, 1).unwrap());
    }
    Tensor::cat(&parts, dim).unwrap()
}

fn reference(x: &Tensor, w: &Tensor, b: &Tensor, stride: usize) -> Tensor {
    let pad = w.dim(3).unwrap() / 2;
    let xp = reflect_dim(&reflect_dim(x, 2, pad), 3, pad);
    xp.conv2d(w, 0, stride, 1, 1)
        .unwrap()
        .broadcast_add(&b.reshape((1, (), 1, 1)).unwrap())
        .unwrap()
}

fn max_abs(a: &Tensor) -> f32 {
    a.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Forward output and the gradients of `Σ out·r` for x, w, b with one implementation.
fn run(
    f: impl Fn(&Tensor, &Tensor, &Tensor) -> Tensor,
    x: &Var,
    w: &Var,
    b: &Var,
    r: &Tensor,
) -> (Tensor, Tensor, Tensor, Tensor) {
    let out = f(x.as_tensor(), w.as_tensor(), b.as_tensor());
    let loss = (&out * r).unwrap().sum_all().unwrap();
    let g = loss.backward().unwrap();
    (
        out,
        g.get(x.as_tensor()).unwrap().clone(),
        g.get(w.as_tensor()).unwrap().clone(),
        g.get(b.as_tensor()).unwrap().clone(),
    )
}

fn check_case(n: usize, cin: usize, cout: usize, h: usize, wd: usize, k: usize, stride: usize) {
    let dev = Device::Cpu;
    let x = Var::rand(-1f32, 1f32, (n, cin, h, wd), &dev).unwrap();
    let w = Var::rand(-0.5f32, 0.5f32, (cout, cin, k, k), &dev).unwrap();
    let b = Var::rand(-0.5f32, 0.5f32, cout, &dev).unwrap();
    let ho = (h + 2 * (k / 2) - k) / stride + 1;
    let wo = (wd + 2 * (k / 2) - k) / stride + 1;
    let r = Tensor::rand(-1f32, 1f32, (n, cout, ho, wo), &dev).unwrap();
    let ours = run(
        |x, w, b| conv2d_reflect(x, w, b, stride).unwrap(),
        &x,
        &w,
        &b,
        &r,
    );
    let theirs = run(|x, w, b| reference(x, w, b, stride), &x, &w, &b, &r);
    let case = format!("n{n} cin{cin} cout{cout} {h}x{wd} k{k} s{stride}");
    assert_eq!(ours.0.dims(), theirs.0.dims(), "{case}");
    for (name, a, b) in [
        ("out", &ours.0, &theirs.0),
        ("dx", &ours.1, &theirs.1),
        ("dw", &ours.2, &theirs.2),
        ("db", &ours.3, &theirs.3),
    ] {
        let d = max_diff(a, b);
        let scale = max_abs(b).max(1.0);
        assert!(
            d <= 1e-4 * scale,
            "{case}: {name} differs by {d} (scale {scale})"
        );
    }
}

#[test]
fn matches_candle_reference_3x3_stride1() {
    check_case(1, 3, 5, 6, 7, 3, 1);
    check_case(2, 4, 3, 9, 5, 3, 1);
    check_case(1, 2, 2, 2, 2, 3, 1);
}

#[test]
fn matches_candle_reference_3x3_stride2() {
    check_case(1, 3, 5, 8, 10, 3, 2);
    check_case(1, 4, 6, 7, 9, 3, 2);
    // (candle's own backward mis-sizes some small even stride-2 cases; finite differences cover them.)
    check_case(2, 2, 3, 3, 5, 3, 2);
}

#[test]
fn matches_candle_reference_1x1() {
    check_case(1, 7, 4, 5, 6, 1, 1);
    check_case(2, 3, 1, 4, 4, 1, 1);
}

#[test]
fn matches_candle_reference_across_tiles() {
    // 132 input channels × 9 = 1188 im2col rows: a 200-wide image spans several tiles.
    check_case(1, 132, 8, 20, 200, 3, 1);
    check_case(1, 132, 8, 40, 400, 3, 2);
    // 132 output channels: the stride-1 input gradient's GEMM is 1188 deep and its 22 padded
    // rows take three tiles.
    check_case(1, 8, 132, 20, 200, 3, 1);
}

#[test]
fn matches_candle_reference_with_any_thread_count() {
    // The weight gradient is summed over one band of output rows per thread: bands of one row,
    // uneven bands and more threads than rows.
    for threads in [1, 3, 5, 16] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            check_case(2, 3, 4, 7, 6, 3, 1);
            check_case(1, 4, 3, 7, 9, 3, 2);
            check_case(2, 5, 2, 6, 5, 1, 1);
        });
    }
}

#[test]
fn gradients_match_finite_differences() {
    let dev = Device::Cpu;
    for stride in [1, 2] {
        let xv: Vec<f64> = (0..2 * 5 * 6)
            .map(|i| ((i * 37) % 23) as f64 / 11.0 - 1.0)
            .collect();
        let wv: Vec<f64> = (0..3 * 2 * 9)
            .map(|i| ((i * 13) % 17) as f64 / 8.0 - 1.0)
            .collect();
        let bv = [0.1f64, -0.2, 0.3];
        let to = |v: &[f64], s: &[usize]| {
            Tensor::from_vec(v.iter().map(|&a| a as f32).collect::<Vec<_>>(), s, &dev).unwrap()
        };
        let (xs, ws) = ([1, 2, 5, 6], [3, 2, 3, 3]);
        let ho = (5 - 1) / stride + 1;
        let wo = (6 - 1) / stride + 1;
        let r = Tensor::rand(-1f32, 1f32, (1, 3, ho, wo), &dev).unwrap();
        let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
            let out = conv2d_reflect(&to(x, &xs), &to(w, &ws), &to(b, &[3]), stride).unwrap();
            f64::from(
                (out * &r)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap(),
            )
        };
        let x = Var::from_tensor(&to(&xv, &xs)).unwrap();
        let w = Var::from_tensor(&to(&wv, &ws)).unwrap();
        let b = Var::from_tensor(&to(&bv, &[3])).unwrap();
        let (_, dx, dw, db) = run(
            |x, w, b| conv2d_reflect(x, w, b, stride).unwrap(),
            &x,
            &w,
            &b,
            &r,
        );
        let dx = dx.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let dw = dw.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let db = db.to_vec1::<f32>().unwrap();
        let eps = 1e-2;
        assert_fd_grad(&format!("stride {stride} dx"), &xv, &dx, 7, eps, |p| {
            loss(p, &wv, &bv)
        });
        assert_fd_grad(&format!("stride {stride} dw"), &wv, &dw, 5, eps, |p| {
            loss(&xv, p, &bv)
        });
        assert_fd_grad(&format!("stride {stride} db"), &bv, &db, 1, eps, |p| {
            loss(&xv, &wv, p)
        });
    }
}

#[test]
fn input_without_gradient_gets_none_and_bad_shapes_are_errors() {
    let dev = Device::Cpu;
    let x = Tensor::rand(-1f32, 1f32, (1, 2, 4, 4), &dev).unwrap();
    let w = Var::rand(-1f32, 1f32, (3, 2, 3, 3), &dev).unwrap();
    let b = Var::zeros(3, candle_core::DType::F32, &dev).unwrap();
    let out = conv2d_reflect(&x, w.as_tensor(), b.as_tensor(), 1).unwrap();
    let g = out.sum_all().unwrap().backward().unwrap();
    assert!(g.get(&x).is_none());
    assert!(g.get(w.as_tensor()).is_some());
    // Channel mismatch, unsupported stride, image too small for the padding.
    assert!(
        conv2d_reflect(
            &x,
            &Tensor::zeros((3, 5, 3, 3), candle_core::DType::F32, &dev).unwrap(),
            b.as_tensor(),
            1
        )
        .is_err()
    );
    assert!(conv2d_reflect(&x, w.as_tensor(), b.as_tensor(), 3).is_err());
    let tiny = Tensor::zeros((1, 2, 1, 4), candle_core::DType::F32, &dev).unwrap();
    assert!(conv2d_reflect(&tiny, w.as_tensor(), b.as_tensor(), 1).is_err());
}
