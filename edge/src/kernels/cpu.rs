//! Access to the f32 data behind candle CPU tensors and storages, for the hand-written kernels.

use candle_core::{CpuStorage, Layout, Result, Storage, Tensor, bail};
use rayon::prelude::*;

/// The contiguous f32 slice a `(storage, layout)` pair describes.
pub fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!(
            "kernel input must be contiguous, got strides {:?}",
            l.stride()
        ),
    }
}

/// Runs `f` on the contiguous f32 data of `t` (made contiguous first if needed) on the CPU.
pub fn with_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (guard, layout) = t.storage_and_layout();
    match &*guard {
        Storage::Cpu(s) => f(slice(s, layout)?),
        _ => bail!("kernel called on a non-CPU tensor"),
    }
}

/// Reflection index (PyTorch `ReflectionPad`: the border pixel is not repeated) of `i` in
/// `0..n`; callers guarantee `-n < i < 2n − 1`.
#[inline(always)]
pub fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    if i < 0 {
        (-i) as usize
    } else if i >= n {
        (2 * n - 2 - i) as usize
    } else {
        i as usize
    }
}

/// A zeroed buffer of `n` floats, zeroed by the rayon threads. `vec![0.0; n]` zeroes on the
/// calling thread (memory that malloc reuses is not zero): that serial pass was 7 % of a fit
/// step's samples, all of them while the worker threads waited.
pub fn zeroed(n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    v.par_extend(rayon::iter::repeat_n(0.0f32, n));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_is_zero_even_on_reused_memory() {
        let n = 3_000_017;
        drop(vec![1.5f32; n]);
        let v = zeroed(n);
        assert_eq!(v.len(), n);
        assert!(v.iter().all(|&x| x == 0.0));
    }
}
