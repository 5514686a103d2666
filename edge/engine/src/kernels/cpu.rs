//! Access to the f32 data behind candle CPU tensors and storages, for the hand-written kernels.

use std::cell::RefCell;

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

thread_local! {
    /// Scratch buffers of this thread, kept between kernel calls.
    static SCRATCH: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A scratch buffer of this thread, kept between kernel calls, so that the im2col and GEMM tile
/// buffers (up to 8 MB, several per convolution) are neither allocated nor zeroed again on every
/// call. It holds whatever an earlier user left: write every element before reading it.
/// Buffers taken while another is held are distinct; dropping one gives it back.
pub struct Scratch {
    buf: Vec<f32>,
    len: usize,
}

impl Scratch {
    /// A buffer of `len` floats.
    pub fn take(len: usize) -> Self {
        let mut buf = SCRATCH.with(|s| s.borrow_mut().pop()).unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        Scratch { buf, len }
    }
}

impl std::ops::Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[..self.len]
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[..self.len]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        // Not during thread teardown, when the thread-local may be gone.
        let _ = SCRATCH.try_with(|s| s.borrow_mut().push(buf));
    }
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

    #[test]
    fn nested_scratch_buffers_are_distinct_and_kept() {
        let (outer, inner) = {
            let mut a = Scratch::take(1000);
            a.fill(1.0);
            let inner = {
                let mut b = Scratch::take(500);
                b.fill(2.0);
                b.as_ptr()
            };
            assert!(
                a.iter().all(|&x| x == 1.0),
                "the inner buffer aliased the outer"
            );
            assert_eq!(a.len(), 1000);
            (a.as_ptr(), inner)
        };
        // The next buffer of this thread is a kept one, not a fresh allocation.
        let again = Scratch::take(800);
        assert!(again.as_ptr() == outer || again.as_ptr() == inner);
        assert_eq!(again.len(), 800);
    }
}
