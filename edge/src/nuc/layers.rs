//! The network's building blocks as the reference defines them (DIP `models/common.py`):
//! reflection-padded convolutions, batch-statistics BatchNorm, LeakyReLU(0.2) and bilinear ×2
//! upsampling with `align_corners = false`. Every convolution of the network goes through
//! [`Conv`], so a faster kernel can replace it in one place.

use candle_core::{D, Device, Result, Tensor, Var};
use rand::Rng;

/// Named trainable parameters, in creation order.
#[derive(Debug, Default)]
pub struct Params {
    vars: Vec<(String, Var)>,
}

impl Params {
    /// A new variable initialised U(−bound, bound) (PyTorch's default for conv weights and biases
    /// is bound = 1/√fan_in).
    pub fn uniform(
        &mut self,
        name: String,
        shape: &[usize],
        bound: f32,
        rng: &mut impl Rng,
        dev: &Device,
    ) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-bound..bound)).collect();
        self.push(name, Var::from_vec(v, shape, dev)?)
    }

    /// A new variable filled with `value`.
    pub fn constant(
        &mut self,
        name: String,
        shape: &[usize],
        value: f32,
        dev: &Device,
    ) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        self.push(name, Var::from_vec(vec![value; n], shape, dev)?)
    }

    fn push(&mut self, name: String, var: Var) -> Result<Tensor> {
        let t = var.as_tensor().clone();
        self.vars.push((name, var));
        Ok(t)
    }

    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    pub fn all_vars(&self) -> Vec<Var> {
        self.vars.iter().map(|(_, v)| v.clone()).collect()
    }

    /// Total number of scalars.
    pub fn count(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }
}

/// `[ReflectionPad2d((k−1)/2), Conv2d(cin, cout, k, stride, bias)]`.
#[derive(Debug, Clone)]
pub struct Conv {
    weight: Tensor,
    bias: Tensor,
    kernel: usize,
    stride: usize,
}

impl Conv {
    // One argument per PyTorch `Conv2d` argument plus the parameter store, rng and device.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        p: &mut Params,
        name: &str,
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        rng: &mut impl Rng,
        dev: &Device,
    ) -> Result<Self> {
        let bound = 1.0 / ((cin * kernel * kernel) as f32).sqrt();
        let weight = p.uniform(
            format!("{name}.weight"),
            &[cout, cin, kernel, kernel],
            bound,
            rng,
            dev,
        )?;
        let bias = p.uniform(format!("{name}.bias"), &[cout], bound, rng, dev)?;
        Ok(Conv {
            weight,
            bias,
            kernel,
            stride,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = match self.kernel / 2 {
            0 => x.clone(),
            pad => reflect_pad(x, pad)?,
        };
        let y = x.conv2d(&self.weight, 0, self.stride, 1, 1)?;
        y.broadcast_add(&self.bias.reshape((1, (), 1, 1))?)
    }
}

/// Reflection padding of the last two dims by `pad` (PyTorch `ReflectionPad2d`: the border
/// pixel is not repeated). Built from narrow/cat so the backward pass is candle's own.
pub fn reflect_pad(x: &Tensor, pad: usize) -> Result<Tensor> {
    let x = reflect_dim(x, 2, pad)?;
    reflect_dim(&x, 3, pad)
}

fn reflect_dim(x: &Tensor, dim: usize, pad: usize) -> Result<Tensor> {
    let n = x.dim(dim)?;
    if pad >= n {
        candle_core::bail!("reflection padding {pad} needs a side longer than {pad}, got {n}");
    }
    let mut parts = Vec::with_capacity(2 * pad + 1);
    for i in (1..=pad).rev() {
        parts.push(x.narrow(dim, i, 1)?);
    }
    parts.push(x.clone());
    for i in 1..=pad {
        parts.push(x.narrow(dim, n - 1 - i, 1)?);
    }
    Tensor::cat(&parts, dim)
}

/// BatchNorm2d always in training mode: statistics of the current batch over (N, H, W),
/// biased variance, eps 1e-5, affine γ = 1, β = 0 at init.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    gamma: Tensor,
    beta: Tensor,
}

impl BatchNorm {
    pub const EPS: f64 = 1e-5;

    pub fn new(p: &mut Params, name: &str, channels: usize, dev: &Device) -> Result<Self> {
        Ok(BatchNorm {
            gamma: p.constant(format!("{name}.weight"), &[channels], 1.0, dev)?,
            beta: p.constant(format!("{name}.bias"), &[channels], 0.0, dev)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim((0, 2, 3))?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim((0, 2, 3))?;
        let inv = (var + Self::EPS)?.sqrt()?.recip()?;
        let scale = self.gamma.reshape((1, (), 1, 1))?.broadcast_mul(&inv)?;
        xc.broadcast_mul(&scale)?
            .broadcast_add(&self.beta.reshape((1, (), 1, 1))?)
    }
}

/// LeakyReLU with slope 0.2 (= max(x, 0.2·x)).
pub fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    x.maximum(&(x * 0.2)?)
}

/// Bilinear ×2 upsampling with PyTorch's `align_corners = false`: output 2i is
/// 0.75·x[i] + 0.25·x[i−1], output 2i+1 is 0.75·x[i] + 0.25·x[i+1], clamped at the borders.
/// (candle's `upsample_bilinear2d` has no backward pass.)
pub fn upsample2x_bilinear(x: &Tensor) -> Result<Tensor> {
    let x = upsample2x_dim(x, 2)?;
    upsample2x_dim(&x, 3)
}

fn upsample2x_dim(x: &Tensor, dim: usize) -> Result<Tensor> {
    let n = x.dim(dim)?;
    let (prev, next) = if n == 1 {
        (x.clone(), x.clone())
    } else {
        (
            Tensor::cat(&[x.narrow(dim, 0, 1)?, x.narrow(dim, 0, n - 1)?], dim)?,
            Tensor::cat(&[x.narrow(dim, 1, n - 1)?, x.narrow(dim, n - 1, 1)?], dim)?,
        )
    };
    let x75 = (x * 0.75)?;
    let even = (&x75 + (prev * 0.25)?)?;
    let odd = (&x75 + (next * 0.25)?)?;
    let mut dims = x.dims().to_vec();
    dims[dim] *= 2;
    Tensor::stack(&[even, odd], dim + 1)?.reshape(dims)
}

/// Crops the last two dims to `h`×`w` from the top-left corner.
pub fn crop(x: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    let (hh, ww) = (x.dim(D::Minus2)?, x.dim(D::Minus1)?);
    let x = if hh > h {
        x.narrow(2, 0, h)?
    } else {
        x.clone()
    };
    if ww > w { x.narrow(3, 0, w) } else { Ok(x) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], shape: (usize, usize, usize, usize)) -> Tensor {
        Tensor::from_slice(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn reflect_pad_matches_pytorch() {
        // ReflectionPad2d(1) of [[1,2,3],[4,5,6]].
        let x = t(&[1., 2., 3., 4., 5., 6.], (1, 1, 2, 3));
        let y = reflect_pad(&x, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(
            y,
            vec![
                5., 4., 5., 6., 5., 2., 1., 2., 3., 2., 5., 4., 5., 6., 5., 2., 1., 2., 3., 2.
            ]
        );
    }

    #[test]
    fn bilinear_matches_pytorch_align_corners_false() {
        // torch.nn.Upsample(scale_factor=2, mode='bilinear')(tensor([[[[1., 2.], [3., 4.]]]]))
        let x = t(&[1., 2., 3., 4.], (1, 1, 2, 2));
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
        // Same as candle's forward-only kernel on a bigger input.
        let x = Tensor::rand(0f32, 1f32, (1, 3, 5, 7), &Device::Cpu).unwrap();
        let a = upsample2x_bilinear(&x).unwrap();
        let b = x.upsample_bilinear2d(10, 14, false).unwrap();
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "max diff {d}");
    }

    #[test]
    fn batchnorm_normalises_per_channel() {
        let mut p = Params::default();
        let bn = BatchNorm::new(&mut p, "bn", 2, &Device::Cpu).unwrap();
        let x = t(&[1., 2., 3., 4., 10., 10., 10., 14.], (1, 2, 2, 2));
        let y = bn
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let s = (1.25f32 + 1e-5).sqrt();
        assert!((y[0] - (-1.5 / s)).abs() < 1e-5);
        assert!((y[7] - (3.0 / (3.0f32 + 1e-5).sqrt())).abs() < 1e-4);
    }
}
