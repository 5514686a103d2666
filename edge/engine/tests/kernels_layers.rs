//! The fused BatchNorm + LeakyReLU and the bilinear ×2 upsampling ops against candle's own
//! ops (forward and autograd) and finite differences.

mod common;

use candle_core::{Device, Tensor, Var};
use common::{assert_fd_grad, max_diff};
use engine::kernels::{batch_norm_lrelu, upsample2x_bilinear};

/// BatchNorm (batch statistics, biased variance) then LeakyReLU from candle's generic ops.
fn reference_bn(x: &Tensor, g: &Tensor, b: &Tensor, slope: f64) -> Tensor {
    let mean = x.mean_keepdim((0, 2, 3)).unwrap();
    let xc = x.broadcast_sub(&mean).unwrap();
    let var = xc.sqr().unwrap().mean_keepdim((0, 2, 3)).unwrap();
    let inv = (var + 1e-5).unwrap().sqrt().unwrap().recip().unwrap();
    let y = xc
        .broadcast_mul(&inv)
        .unwrap()
        .broadcast_mul(&g.reshape((1, (), 1, 1)).unwrap())
        .unwrap()
        .broadcast_add(&b.reshape((1, (), 1, 1)).unwrap())
        .unwrap();
    if slope == 1.0 {
        y
    } else {
        y.maximum(&(&y * slope).unwrap()).unwrap()
    }
}

#[test]
fn batch_norm_lrelu_matches_candle_forward_and_backward() {
    let dev = Device::Cpu;
    // The larger planes span several 1,024-element blocks and end in a partial lane group.
    for (n, c, h, w, slope) in [
        (1, 3, 5, 7, 0.2f32),
        (2, 4, 3, 3, 0.2),
        (1, 5, 8, 6, 1.0),
        (1, 3, 37, 71, 0.2),
        (2, 2, 33, 35, 0.2),
    ] {
        let x = Var::rand(-2f32, 3f32, (n, c, h, w), &dev).unwrap();
        let g = Var::rand(0.5f32, 1.5f32, c, &dev).unwrap();
        let b = Var::rand(-0.5f32, 0.5f32, c, &dev).unwrap();
        let r = Tensor::rand(-1f32, 1f32, (n, c, h, w), &dev).unwrap();
        let ours = batch_norm_lrelu(x.as_tensor(), g.as_tensor(), b.as_tensor(), slope).unwrap();
        let theirs = reference_bn(
            x.as_tensor(),
            g.as_tensor(),
            b.as_tensor(),
            f64::from(slope),
        );
        assert!(max_diff(&ours, &theirs) < 1e-5, "forward {n}x{c}x{h}x{w}");
        let ga = (&ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (&theirs * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, v) in [("x", &x), ("gamma", &g), ("beta", &b)] {
            let d = max_diff(
                ga.get(v.as_tensor()).unwrap(),
                gb.get(v.as_tensor()).unwrap(),
            );
            assert!(
                d < 1e-4,
                "{name} gradient differs by {d} ({n}x{c}x{h}x{w}, slope {slope})"
            );
        }
    }
}

/// A tensor that feeds two ops gets the sum of both gradients; the first one reaches the
/// gradient store as it is (patched candle backprop, `patches/README.md`), the second is added.
#[test]
fn a_tensor_used_twice_gets_both_gradients() {
    let dev = Device::Cpu;
    let x = Var::rand(-2f32, 3f32, (1, 3, 6, 5), &dev).unwrap();
    let g = Tensor::new(&[1.2f32, 0.8, 1.0], &dev).unwrap();
    let b = Tensor::new(&[0.1f32, -0.2, 0.0], &dev).unwrap();
    let r1 = Tensor::rand(-1f32, 1f32, (1, 3, 6, 5), &dev).unwrap();
    let r2 = Tensor::rand(-1f32, 1f32, (1, 3, 12, 10), &dev).unwrap();
    let loss = |bn: &Tensor, up: &Tensor| {
        ((bn * &r1).unwrap().sum_all().unwrap() + (up * &r2).unwrap().sum_all().unwrap()).unwrap()
    };
    let bn = batch_norm_lrelu(x.as_tensor(), &g, &b, 0.2).unwrap();
    let up = upsample2x_bilinear(x.as_tensor()).unwrap();
    let both = loss(&bn, &up).backward().unwrap();
    let only_bn = (&bn * &r1).unwrap().sum_all().unwrap().backward().unwrap();
    let only_up = (&up * &r2).unwrap().sum_all().unwrap().backward().unwrap();
    let want = (only_bn.get(x.as_tensor()).unwrap() + only_up.get(x.as_tensor()).unwrap()).unwrap();
    let d = max_diff(both.get(x.as_tensor()).unwrap(), &want);
    assert!(d < 1e-5, "summed gradient differs by {d}");
    // And the sum is not just one of its parts.
    assert!(max_diff(&want, only_bn.get(x.as_tensor()).unwrap()) > 1e-2);
}

#[test]
fn batch_norm_lrelu_gradient_matches_finite_differences() {
    let dev = Device::Cpu;
    let xs: Vec<f64> = (0..2 * 3 * 4)
        .map(|i| ((i * 29) % 19) as f64 / 6.0 - 1.5)
        .collect();
    let gs = [1.2f64, 0.7];
    let to = |v: &[f64], s: &[usize]| {
        Tensor::from_vec(v.iter().map(|&a| a as f32).collect::<Vec<_>>(), s, &dev).unwrap()
    };
    let r = Tensor::rand(-1f32, 1f32, (1, 2, 3, 4), &dev).unwrap();
    let beta = Tensor::new(&[0.1f32, -0.3], &dev).unwrap();
    let loss = |x: &[f64], g: &[f64]| -> f64 {
        let y = batch_norm_lrelu(&to(x, &[1, 2, 3, 4]), &to(g, &[2]), &beta, 0.2).unwrap();
        f64::from(
            (y * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
        )
    };
    let x = Var::from_tensor(&to(&xs, &[1, 2, 3, 4])).unwrap();
    let g = Var::from_tensor(&to(&gs, &[2])).unwrap();
    let y = batch_norm_lrelu(x.as_tensor(), g.as_tensor(), &beta, 0.2).unwrap();
    let grads = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let dx = grads
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let dg = grads.get(g.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
    let eps = 1e-3;
    assert_fd_grad("dx", &xs, &dx, 1, eps, |p| loss(p, &gs));
    assert_fd_grad("dgamma", &gs, &dg, 1, eps, |p| loss(&xs, p));
}

#[test]
fn batch_norm_rejects_bad_shapes_and_slopes() {
    let dev = Device::Cpu;
    let x = Tensor::zeros((1, 3, 2, 2), candle_core::DType::F32, &dev).unwrap();
    let g = Tensor::ones(3, candle_core::DType::F32, &dev).unwrap();
    assert!(
        batch_norm_lrelu(
            &x,
            &g,
            &Tensor::zeros(2, candle_core::DType::F32, &dev).unwrap(),
            0.2
        )
        .is_err()
    );
    assert!(batch_norm_lrelu(&x, &g, &g, 0.0).is_err());
    assert!(batch_norm_lrelu(&x.reshape((3, 4)).unwrap(), &g, &g, 0.2).is_err());
}

#[test]
fn upsample_matches_candle_and_pytorch_values() {
    let dev = Device::Cpu;
    // torch.nn.Upsample(scale_factor=2, mode='bilinear')(tensor([[[[1., 2.], [3., 4.]]]]))
    let x = Tensor::new(&[1f32, 2., 3., 4.], &dev)
        .unwrap()
        .reshape((1, 1, 2, 2))
        .unwrap();
    let y = upsample2x_bilinear(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let want = [
        1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
    ];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{y:?}");
    }
    for (n, c, h, w) in [(1, 3, 5, 7), (2, 2, 1, 4), (1, 1, 6, 1)] {
        let x = Tensor::rand(0f32, 1f32, (n, c, h, w), &dev).unwrap();
        let a = upsample2x_bilinear(&x).unwrap();
        let b = x.upsample_bilinear2d(2 * h, 2 * w, false).unwrap();
        assert!(max_diff(&a, &b) < 1e-5, "{n}x{c}x{h}x{w}");
    }
}

#[test]
fn upsample_backward_is_the_adjoint() {
    // <up(x), g> == <x, up'(g)> for random x, g.
    let dev = Device::Cpu;
    for (n, c, h, w) in [(1, 3, 5, 7), (2, 1, 1, 3), (1, 2, 4, 4)] {
        let x = Var::rand(-1f32, 1f32, (n, c, h, w), &dev).unwrap();
        let g = Tensor::rand(-1f32, 1f32, (n, c, 2 * h, 2 * w), &dev).unwrap();
        let up = upsample2x_bilinear(x.as_tensor()).unwrap();
        let lhs = (&up * &g).unwrap().sum_all().unwrap();
        let grads = lhs.backward().unwrap();
        let dx = grads.get(x.as_tensor()).unwrap();
        let rhs = (x.as_tensor() * dx)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let lhs = lhs.to_scalar::<f32>().unwrap();
        assert!(
            (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}
