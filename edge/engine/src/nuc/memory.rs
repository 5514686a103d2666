//! How much memory a TV-DIP fit needs, estimated from the network's shape and the frame size
//! before anything is allocated, so that a fit which would exceed the configured cap is refused
//! with a clear error instead of being killed by the kernel's OOM killer half-way.
//!
//! The activation count follows the ops of [`crate::nuc::SkipNet`] with this module's kernels:
//! every conv → BatchNorm → LeakyReLU branch keeps [`ACTIVATIONS_PER_BRANCH`] tensors of its
//! output size for the backward pass; the figures were checked against the peak resident memory
//! that `cargo bench -p engine --bench dip` measures (it prints both).

use super::SkipConfig;

/// Tensors of a branch's output size kept alive from the forward to the backward pass: the
/// conv output and the output of the fused BatchNorm + LeakyReLU op
/// ([`crate::kernels::batch_norm_lrelu`], used by `SkipNet` through `BatchNorm::forward_leaky`).
pub const ACTIVATIONS_PER_BRANCH: u64 = 2;

/// Bytes the process needs besides the fit (code, runtime, allocator slack).
pub const BASE_BYTES: u64 = 48 << 20;

/// Bytes of the im2col tiles and GEMM packing buffers the convolutions use at once.
const WORKSPACE_BYTES: u64 = 32 << 20;

const F32: u64 = 4;

/// The parts of a fit's memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FitMemory {
    /// Weights, their gradients, Adam's two moments and the optimiser's temporaries.
    pub parameters: u64,
    /// Activations kept for the backward pass, the input z and its perturbed copy.
    pub activations: u64,
    /// Gradients of activations alive at once during the backward pass, plus kernel workspace.
    pub backward: u64,
    /// The frames the fit holds (`frame_floats` × 4).
    pub frames: u64,
}

impl FitMemory {
    /// Everything, plus [`BASE_BYTES`].
    pub fn total(&self) -> u64 {
        self.parameters + self.activations + self.backward + self.frames + BASE_BYTES
    }
}

/// Trainable scalars of the network (2,217,573 for the reference configuration).
pub fn parameter_count(cfg: &SkipConfig) -> u64 {
    let (cd, cu, cs) = (
        cfg.channels_down as u64,
        cfg.channels_up as u64,
        cfg.channels_skip as u64,
    );
    let conv = |cin: u64, cout: u64, k: u64| cin * cout * k * k + cout;
    let bn = |c: u64| 2 * c;
    let mut p = 0;
    for i in 0..cfg.levels {
        let d_in = if i == 0 { cfg.input_depth as u64 } else { cd };
        let deep_out = if i + 1 < cfg.levels { cu } else { cd };
        if cs > 0 {
            p += conv(d_in, cs, 1) + bn(cs);
        }
        p += conv(d_in, cd, 3) + bn(cd) + conv(cd, cd, 3) + bn(cd);
        p += bn(cs + deep_out) + conv(cs + deep_out, cu, 3) + bn(cu) + conv(cu, cu, 1) + bn(cu);
    }
    p + conv(cu, 1, 1)
}

/// Memory of a fit of `cfg` on `fit_h`×`fit_w` frames (the network runs at
/// `cfg.padded(fit_h, fit_w)`), holding `frame_floats` f32 values of frames and targets.
pub fn estimate_fit(cfg: &SkipConfig, fit_h: usize, fit_w: usize, frame_floats: u64) -> FitMemory {
    let (h, w) = cfg.padded(fit_h, fit_w);
    let (cd, cu, cs) = (
        cfg.channels_down as u64,
        cfg.channels_up as u64,
        cfg.channels_skip as u64,
    );
    let mut act = 0u64;
    let mut widest = 0u64;
    let (mut rh, mut rw) = (h as u64, w as u64);
    for i in 0..cfg.levels {
        let r = rh * rw;
        let (nh, nw) = (rh.div_ceil(2), rw.div_ceil(2));
        let r_next = nh * nw;
        let deep_out = if i + 1 < cfg.levels { cu } else { cd };
        let merged = cs + deep_out;
        act += ACTIVATIONS_PER_BRANCH * (cs * r + 2 * cd * r_next + 2 * cu * r);
        // Upsampled deep branch, the concatenation and its BatchNorm.
        act += deep_out * r + 2 * merged * r;
        widest = widest.max(merged.max(cu) * r);
        (rh, rw) = (nh, nw);
    }
    let r0 = (h * w) as u64;
    // Output conv, sigmoid, crop and the loss's residual; z, noise and perturbed z.
    act += 4 * r0 + 3 * cfg.input_depth as u64 * r0;
    let p = parameter_count(cfg);
    FitMemory {
        parameters: 8 * p * F32,
        activations: act * F32,
        backward: 4 * widest * F32 + WORKSPACE_BYTES,
        frames: frame_floats * F32,
    }
}

/// Refusal of a fit that would not fit in the memory cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a TV-DIP fit of a {channels}-channel network on {width}x{height} frames needs about {need_mib} MiB \
     (parameters {params_mib} MiB, activations {act_mib} MiB, frames {frames_mib} MiB), over the \
     memory cap of {cap_mib} MiB: lower `net` channels, `downscale` or `max_frames`, or raise the cap"
)]
pub struct MemoryCapExceeded {
    pub channels: usize,
    pub width: usize,
    pub height: usize,
    pub need_mib: u64,
    pub params_mib: u64,
    pub act_mib: u64,
    pub frames_mib: u64,
    pub cap_mib: u64,
}

/// `Ok(estimate)` when the fit fits in `cap_bytes`, else the error that says why not.
pub fn check_cap(
    cfg: &SkipConfig,
    fit_h: usize,
    fit_w: usize,
    frame_floats: u64,
    cap_bytes: u64,
) -> Result<FitMemory, MemoryCapExceeded> {
    let m = estimate_fit(cfg, fit_h, fit_w, frame_floats);
    let mib = |b: u64| b.div_ceil(1 << 20);
    if m.total() > cap_bytes {
        return Err(MemoryCapExceeded {
            channels: cfg.channels_down.max(cfg.channels_up),
            width: fit_w,
            height: fit_h,
            need_mib: mib(m.total()),
            params_mib: mib(m.parameters),
            act_mib: mib(m.activations + m.backward),
            frames_mib: mib(m.frames),
            cap_mib: cap_bytes >> 20,
        });
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_count_matches_the_reference() {
        assert_eq!(parameter_count(&SkipConfig::reference()), 2_217_573);
    }

    #[test]
    fn estimate_grows_with_size_and_channels_and_cap_refuses() {
        let r = SkipConfig::reference();
        let small = SkipConfig {
            channels_down: 32,
            channels_up: 32,
            ..r.clone()
        };
        let a = estimate_fit(&small, 256, 320, 0).total();
        let b = estimate_fit(&r, 256, 320, 0).total();
        let c = estimate_fit(&r, 512, 640, 0).total();
        assert!(a < b && b < c, "{a} {b} {c}");
        // Activations dominate and scale with the pixel count.
        let act = |h, w| estimate_fit(&r, h, w, 0).activations as f64;
        assert!((act(512, 640) / act(256, 320) - 4.0).abs() < 0.1);
        let e = check_cap(&r, 512, 640, 1_000_000, 1 << 30).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("512") && msg.contains("1024 MiB"), "{msg}");
        assert!(check_cap(&small, 120, 160, 0, 8 << 30).is_ok());
    }
}
