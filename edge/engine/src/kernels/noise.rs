//! The per-step perturbation of the network input, `z + N(0, σ²)`, drawn in parallel and
//! added in the same pass. candle's `randn` and a `StdRng` loop are single-threaded ChaCha
//! streams plus a separate add: about 5 % of a fit step at 256×320 with 32 channels.

use candle_core::{Result, Tensor};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;

use super::cpu::{with_slice, zeroed};

/// `z + N(0, σ²)`: by [`add_gaussian`] for an f32 CPU tensor, else by candle's `randn` on
/// `z`'s device (which draws from that device's own generator, not from `seed`).
pub fn perturbed(z: &Tensor, sigma: f32, seed: u64) -> Result<Tensor> {
    if !super::is_fast_path(z) {
        return z + Tensor::randn(0f32, sigma, z.shape(), z.device())?;
    }
    let v = with_slice(z, |zs| Ok(add_gaussian(zs, sigma, seed)))?;
    Tensor::from_vec(v, z.shape(), z.device())
}

/// Elements per independent random stream.
const STREAM: usize = 1 << 16;

/// `z[i] + σ·n[i]` with `n` standard normal. Block `b` of [`STREAM`] elements draws from its
/// own Xoshiro256++ stream seeded from `(seed, b)`, so the result depends on `seed` alone, not
/// on the thread count.
pub fn add_gaussian(z: &[f32], sigma: f32, seed: u64) -> Vec<f32> {
    let mut out = zeroed(z.len());
    out.par_chunks_mut(STREAM)
        .zip(z.par_chunks(STREAM))
        .enumerate()
        .for_each(|(b, (o, zb))| {
            let mut rng =
                SmallRng::seed_from_u64(seed ^ (b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for (o, &v) in o.iter_mut().zip(zb) {
                let n: f32 = rng.sample(StandardNormal);
                *o = v + sigma * n;
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_has_the_asked_moments_and_depends_on_the_seed_only() {
        let z: Vec<f32> = (0..300_001).map(|i| (i % 7) as f32).collect();
        let a = add_gaussian(&z, 0.5, 42);
        let n: Vec<f64> = a.iter().zip(&z).map(|(a, z)| f64::from(a - z)).collect();
        let m = n.iter().sum::<f64>() / n.len() as f64;
        let var = n.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n.len() as f64;
        assert!(m.abs() < 0.005, "mean {m}");
        assert!((var.sqrt() - 0.5).abs() < 0.005, "σ {}", var.sqrt());
        // Neighbouring streams are not copies of each other.
        assert_ne!(n[..100], n[STREAM..STREAM + 100]);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(pool.install(|| add_gaussian(&z, 0.5, 42)), a);
        assert_ne!(add_gaussian(&z, 0.5, 43), a);
    }
}
