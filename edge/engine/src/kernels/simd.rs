//! Runtime dispatch of the element-wise kernels to AVX2 + FMA. The crate is built for the
//! baseline of its target (SSE2 only on x86-64), where the per-pixel loops of BatchNorm and
//! upsampling vectorise 4 wide or not at all; on a CPU with AVX2 they run 8 wide. aarch64 has
//! NEON in its baseline and needs no dispatch.

/// Runs `f` compiled with AVX2 and FMA enabled when this CPU has them, else as it is.
///
/// Only code inlined into `f` gets the wider instructions, so the kernels `f` calls are
/// `#[inline(always)]`.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if has_avx2_fma() {
            // SAFETY: `avx2` only enables instructions that `has_avx2_fma` has just confirmed
            // this CPU executes.
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// Whether the CPU runs AVX2 and FMA (detected once, then cached by std).
#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectorized_gives_the_plain_result() {
        let x: Vec<f32> = (0..1003).map(|i| i as f32 * 0.25 - 60.0).collect();
        let plain: Vec<f32> = x.iter().map(|v| v.max(v * 0.2) * 3.0 + 1.0).collect();
        let fast = vectorized(|| {
            x.iter()
                .map(|v| v.max(v * 0.2) * 3.0 + 1.0)
                .collect::<Vec<_>>()
        });
        assert_eq!(plain, fast);
    }
}
