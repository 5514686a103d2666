//! Image statistics the end-to-end checks compare: roughness of a pulled frame (the daemon's
//! own definition, so host and device agree) and the spread of a pattern.

use host::client::{Pixels, Snapshot};

/// Roughness ρ of a 16-bit snapshot (lower is smoother); `None` for float snapshots.
pub fn roughness(s: &Snapshot) -> Option<f32> {
    match &s.pixels {
        Pixels::U16(v) => Some(edge::roughness::roughness_u16(v, s.width(), s.height())),
        Pixels::F32(_) => None,
    }
}

/// Mean of the values.
pub fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    (v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64) as f32
}

/// Standard deviation of the values.
pub fn std_dev(v: &[f32]) -> f32 {
    let m = f64::from(mean(v));
    if v.is_empty() {
        return 0.0;
    }
    let var = v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / v.len() as f64;
    var.sqrt() as f32
}
