//! `SkipNet`: the DIP "skip" hourglass exactly as the reference builds it (reference §3,
//! `models/skip.py`): per level a 1×1 skip branch and a deep branch (stride-2 3×3 conv, 3×3
//! conv, the next level, bilinear ×2), merged by concat → BN → 3×3 conv → 1×1 conv; a final
//! 1×1 conv to one channel and a sigmoid. Frames of any size work: the network runs on a size
//! padded up to a multiple of 2^levels and its output is cropped back.

use candle_core::{Device, Result, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::layers::{BatchNorm, Conv, Params, crop, upsample2x_bilinear};

/// Architecture of the network (the same channel counts at every level, as the reference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipConfig {
    pub levels: usize,
    pub channels_down: usize,
    pub channels_up: usize,
    /// 0 disables the skip branches.
    pub channels_skip: usize,
    /// Channels of the input z.
    pub input_depth: usize,
    /// Start the output convolution's weights at zero, so the first pattern is flat and the
    /// fit can only add structure the loss asks for (not in the reference, whose random
    /// initial output needs hundreds of steps to unlearn).
    #[serde(default)]
    pub zero_init_output: bool,
}

impl SkipConfig {
    /// 5 levels, 128 down / 128 up / 4 skip, 32 input channels: 2,217,573 parameters.
    pub fn reference() -> Self {
        SkipConfig {
            levels: 5,
            channels_down: 128,
            channels_up: 128,
            channels_skip: 4,
            input_depth: 32,
            zero_init_output: false,
        }
    }

    /// Side lengths are padded up to a multiple of this.
    pub fn multiple(&self) -> usize {
        1 << self.levels
    }

    /// The padded size the network runs at for an `h`×`w` frame: a multiple of 2^levels, and
    /// at least 2^(levels+1) so the deepest 3×3 convolution still sees 2 pixels to reflect.
    pub fn padded(&self, h: usize, w: usize) -> (usize, usize) {
        let m = self.multiple();
        let side = |n: usize| (n.div_ceil(m) * m).max(2 * m);
        (side(h), side(w))
    }
}

struct Branch {
    conv: Conv,
    bn: BatchNorm,
}

impl Branch {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.bn.forward_leaky(&self.conv.forward(x)?)
    }
}

struct Level {
    skip: Option<Branch>,
    down: Branch,
    deep: Branch,
    merge_bn: BatchNorm,
    up: Branch,
    up1x1: Branch,
}

/// The skip hourglass network; parameters live in [`SkipNet::params`].
pub struct SkipNet {
    cfg: SkipConfig,
    levels: Vec<Level>,
    out: Conv,
    params: Params,
}

impl SkipNet {
    /// A freshly initialised network (PyTorch default init drawn from `rng`).
    pub fn new(cfg: &SkipConfig, rng: &mut impl Rng, dev: &Device) -> Result<Self> {
        let mut p = Params::default();
        let mut levels = Vec::with_capacity(cfg.levels);
        let (cd, cu, cs) = (cfg.channels_down, cfg.channels_up, cfg.channels_skip);
        for i in 0..cfg.levels {
            let d_in = if i == 0 { cfg.input_depth } else { cd };
            let n = format!("l{i}");
            let mut branch = |name: &str, cin, cout, k, stride, p: &mut Params| -> Result<Branch> {
                Ok(Branch {
                    conv: Conv::new(p, &format!("{n}.{name}"), cin, cout, k, stride, rng, dev)?,
                    bn: BatchNorm::new(p, &format!("{n}.{name}_bn"), cout, dev)?,
                })
            };
            let skip = if cs > 0 {
                Some(branch("skip", d_in, cs, 1, 1, &mut p)?)
            } else {
                None
            };
            let down = branch("down", d_in, cd, 3, 2, &mut p)?;
            let deep = branch("deep", cd, cd, 3, 1, &mut p)?;
            let deep_out = if i + 1 < cfg.levels { cu } else { cd };
            let merge_bn = BatchNorm::new(&mut p, &format!("{n}.merge_bn"), cs + deep_out, dev)?;
            let up = branch("up", cs + deep_out, cu, 3, 1, &mut p)?;
            let up1x1 = branch("up1x1", cu, cu, 1, 1, &mut p)?;
            levels.push(Level {
                skip,
                down,
                deep,
                merge_bn,
                up,
                up1x1,
            });
        }
        let out = Conv::new(&mut p, "out", cu, 1, 1, 1, rng, dev)?;
        if cfg.zero_init_output {
            p.fill("out.weight", 0.0)?;
        }
        Ok(SkipNet {
            cfg: cfg.clone(),
            levels,
            out,
            params: p,
        })
    }

    pub fn config(&self) -> &SkipConfig {
        &self.cfg
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Output (1, 1, h, w) in (0, 1) for an input z of (1, input_depth, H', W') with H' ≥ h,
    /// W' ≥ w multiples of 2^levels.
    pub fn forward(&self, z: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        let y = self.level(0, z)?;
        let y = candle_nn::ops::sigmoid(&self.out.forward(&y)?)?;
        crop(&y, h, w)
    }

    fn level(&self, i: usize, x: &Tensor) -> Result<Tensor> {
        let l = &self.levels[i];
        let mut deep = l.deep.forward(&l.down.forward(x)?)?;
        if i + 1 < self.levels.len() {
            deep = self.level(i + 1, &deep)?;
        }
        let deep = upsample2x_bilinear(&deep)?;
        let merged = match &l.skip {
            Some(s) => {
                let skip = s.forward(x)?;
                // The reference's Concat centre-crops to the smaller size; with sides padded to
                // a multiple of 2^levels both are always equal.
                let (h, w) = (
                    skip.dim(2)?.min(deep.dim(2)?),
                    skip.dim(3)?.min(deep.dim(3)?),
                );
                Tensor::cat(&[crop(&skip, h, w)?, crop(&deep, h, w)?], 1)?
            }
            None => deep,
        };
        let m = l.merge_bn.forward(&merged)?;
        l.up1x1.forward(&l.up.forward(&m)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn reference_parameter_count() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let net = SkipNet::new(&SkipConfig::reference(), &mut rng, &Device::Cpu).unwrap();
        assert_eq!(net.params().count(), 2_217_573);
        // 26 convolutions (weight + bias) and 30 BatchNorms (γ + β).
        assert_eq!(net.params().vars().len(), 2 * 26 + 2 * 30);
    }

    #[test]
    fn output_shape_and_range_for_odd_sizes() {
        let cfg = SkipConfig {
            levels: 3,
            channels_down: 4,
            channels_up: 4,
            channels_skip: 2,
            input_depth: 3,
            zero_init_output: false,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let net = SkipNet::new(&cfg, &mut rng, &Device::Cpu).unwrap();
        let (h, w) = (21, 30);
        let (hp, wp) = cfg.padded(h, w);
        assert_eq!((hp, wp), (24, 32));
        let z = Tensor::rand(0f32, 0.1, (1, 3, hp, wp), &Device::Cpu).unwrap();
        let y = net.forward(&z, h, w).unwrap();
        assert_eq!(y.dims(), &[1, 1, h, w]);
        let v = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|x| *x > 0.0 && *x < 1.0));
    }
}
