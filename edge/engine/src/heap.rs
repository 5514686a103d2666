//! Process-wide malloc tuning for fitting: keep freed memory in the process.
//!
//! A fit step allocates and frees the same few hundred MB of activations and gradients every
//! iteration. glibc serves blocks above its mmap threshold (128 KB, rising to at most 32 MB)
//! with fresh `mmap`s and gives free memory at the top of the heap back to the kernel, so every
//! step faults those pages in again, zeroed by the kernel: on the 2-core VM this was measured
//! on, 28 ms to first touch 12 MB, and a 512×640×32 step spent over a third of its time so.
//! After [`retain_freed_memory`] all blocks come from the heap and freed memory stays there
//! for the next step; the resident size then stays at the fit's peak between fits, which
//! `FitConfig::max_memory_mb` bounds anyway.

/// Serves every allocation from the malloc heap and never trims it (glibc; elsewhere a
/// no-op). Call once at the start of a program that fits; returns whether it took effect.
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets malloc parameters, under malloc's own lock; the values are
        // in range (0 mmaps, the largest trim threshold an int holds).
        let (mmap, trim) = unsafe {
            (
                libc::mallopt(libc::M_MMAP_MAX, 0),
                libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX),
            )
        };
        mmap == 1 && trim == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_blocks_are_reused_without_new_page_faults() {
        if !retain_freed_memory() {
            println!("skipped: not glibc");
            return;
        }
        // A block far above glibc's largest mmap threshold, freed and asked for again.
        let faults = || {
            // SAFETY: rusage is plain integers, for which all-zero bytes are a valid value.
            let mut u: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: getrusage only writes the struct it is given, which lives to the end.
            unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
            u.ru_minflt
        };
        let n = 48 << 20;
        drop(std::hint::black_box(vec![1u8; n]));
        let before = faults();
        let v = std::hint::black_box(vec![2u8; n]);
        let after = faults();
        assert_eq!(v[n - 1], 2);
        // 48 MB of fresh pages would be 12,288 faults.
        assert!(after - before < 1000, "{} page faults", after - before);
    }
}
