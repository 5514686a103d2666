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

    /// Sets every element of the variable `name` to `value`.
    pub fn fill(&self, name: &str, value: f32) -> Result<()> {
        match self.vars.iter().find(|(n, _)| n == name) {
            Some((_, v)) => v.set(&v.ones_like()?.affine(0.0, f64::from(value))?),
            None => candle_core::bail!("no parameter named {name}"),
        }
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

    /// Reflection pad, then the convolution as one matrix product of the weights with the
    /// gathered input patches (im2col from narrow/stack): both backward products are then
    /// plain matrix products, where candle's own `conv2d` backward goes through a
    /// `conv_transpose2d` and a convolution with an image-sized kernel that are orders of
    /// magnitude slower on CPU.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if crate::kernels::is_fast_path(x)
            && crate::kernels::conv::supported(self.kernel, self.stride)
        {
            return crate::kernels::conv2d_reflect(x, &self.weight, &self.bias, self.stride);
        }
        let (n, cin, h, w) = x.dims4()?;
        let cout = self.weight.dim(0)?;
        let k = self.kernel;
        let y = if k == 1 && self.stride == 1 {
            let wm = self.weight.reshape((cout, cin))?;
            wm.broadcast_matmul(&x.reshape((n, cin, h * w))?)?
                .reshape((n, cout, h, w))?
        } else {
            let pad = k / 2;
            let s = self.stride;
            let (ho, wo) = ((h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1);
            let mut xp = if pad > 0 {
                reflect_pad(x, pad)?
            } else {
                x.clone()
            };
            // Strided taps read rows dy … dy + s·ho − 1; pad the far side when that overruns.
            let (need_h, need_w) = (k - 1 + s * ho, k - 1 + s * wo);
            if need_h > xp.dim(2)? {
                xp = xp.pad_with_zeros(2, 0, need_h - xp.dim(2)?)?;
            }
            if need_w > xp.dim(3)? {
                xp = xp.pad_with_zeros(3, 0, need_w - xp.dim(3)?)?;
            }
            let mut taps = Vec::with_capacity(k * k);
            for dy in 0..k {
                for dx in 0..k {
                    taps.push(strided_window(&xp, dy, dx, ho, wo, s)?);
                }
            }
            let patches = Tensor::stack(&taps, 2)?.reshape((n, cin * k * k, ho * wo))?;
            let wm = self.weight.reshape((cout, cin * k * k))?;
            wm.broadcast_matmul(&patches)?.reshape((n, cout, ho, wo))?
        };
        y.broadcast_add(&self.bias.reshape((1, (), 1, 1))?)
    }
}

/// `x[:, :, dy + s·i, dx + s·j]` for i < ho, j < wo.
fn strided_window(
    x: &Tensor,
    dy: usize,
    dx: usize,
    ho: usize,
    wo: usize,
    s: usize,
) -> Result<Tensor> {
    let t = x.narrow(2, dy, s * ho)?.narrow(3, dx, s * wo)?;
    if s == 1 {
        return Ok(t);
    }
    let (n, c) = (t.dim(0)?, t.dim(1)?);
    t.reshape((n, c, ho, s, wo, s))?
        .narrow(3, 0, 1)?
        .narrow(5, 0, 1)?
        .reshape((n, c, ho, wo))
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
        if crate::kernels::is_fast_path(x) {
            return crate::kernels::batch_norm_lrelu(x, &self.gamma, &self.beta, 1.0);
        }
        let mean = x.mean_keepdim((0, 2, 3))?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim((0, 2, 3))?;
        let inv = (var + Self::EPS)?.sqrt()?.recip()?;
        let scale = self.gamma.reshape((1, (), 1, 1))?.broadcast_mul(&inv)?;
        xc.broadcast_mul(&scale)?
            .broadcast_add(&self.beta.reshape((1, (), 1, 1))?)
    }

    /// `leaky_relu(self.forward(x))` as one fused op where the kernels support it (stores
    /// one activation instead of two for the backward pass).
    pub fn forward_leaky(&self, x: &Tensor) -> Result<Tensor> {
        if crate::kernels::is_fast_path(x) {
            return crate::kernels::batch_norm_lrelu(x, &self.gamma, &self.beta, 0.2);
        }
        leaky_relu(&self.forward(x)?)
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
    if crate::kernels::is_fast_path(x) {
        return crate::kernels::upsample2x_bilinear(x);
    }
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

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

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
        let d = max_diff(&a, &b);
        assert!(d < 1e-5, "max diff {d}");
    }

    /// The reference: reflection pad + candle's own conv2d.
    fn reference_conv(c: &Conv, x: &Tensor) -> Tensor {
        let xp = if c.kernel > 1 {
            reflect_pad(x, c.kernel / 2).unwrap()
        } else {
            x.clone()
        };
        xp.conv2d(&c.weight, 0, c.stride, 1, 1)
            .unwrap()
            .broadcast_add(&c.bias.reshape((1, (), 1, 1)).unwrap())
            .unwrap()
    }

    #[test]
    fn conv_matches_candle_forward_and_backward() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for (k, s, h, w) in [(3, 1, 6, 7), (3, 2, 8, 6), (3, 2, 7, 5), (1, 1, 4, 5)] {
            let mut p = Params::default();
            let c = Conv::new(&mut p, "c", 3, 4, k, s, &mut rng, &Device::Cpu).unwrap();
            let xv =
                Var::from_tensor(&Tensor::rand(-1f32, 1f32, (1, 3, h, w), &Device::Cpu).unwrap())
                    .unwrap();
            let ours = c.forward(xv.as_tensor()).unwrap();
            let theirs = reference_conv(&c, xv.as_tensor());
            assert_eq!(ours.dims(), theirs.dims(), "k{k} s{s} {h}x{w}");
            let d = max_diff(&ours, &theirs);
            assert!(d < 1e-5, "forward k{k} s{s}: {d}");
            // Same gradients for a random linear functional of the output.
            let r = Tensor::rand(-1f32, 1f32, ours.dims(), &Device::Cpu).unwrap();
            let ga = (ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let gb = (theirs * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for (name, var) in p.vars() {
                let a = ga.get(var.as_tensor()).unwrap();
                let b = gb.get(var.as_tensor()).unwrap();
                let d = max_diff(a, b);
                assert!(d < 1e-4, "{name} grad k{k} s{s}: {d}");
            }
            let a = ga.get(xv.as_tensor()).unwrap();
            let b = gb.get(xv.as_tensor()).unwrap();
            let d = max_diff(a, b);
            assert!(d < 1e-4, "input grad k{k} s{s}: {d}");
        }
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
