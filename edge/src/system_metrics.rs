//! Board health for telemetry, read from Linux pseudo-files: CPU load (/proc/stat deltas),
//! SoC and GPU temperatures (thermal zones), GPU load (Jetson `gpu.0/load`) and free disk space.
//! Anything a board does not have reads as `None`.

use std::path::Path;
use std::sync::Mutex;

/// Samples CPU load between calls.
#[derive(Default)]
pub struct CpuLoad {
    last: Mutex<Option<(u64, u64)>>,
}

fn read_cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let vals: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    if vals.len() < 4 {
        return None;
    }
    let idle = vals[3] + vals.get(4).copied().unwrap_or(0);
    Some((vals.iter().sum(), idle))
}

impl CpuLoad {
    /// Percentage of non-idle CPU time since the previous call (0 on the first call).
    pub fn sample(&self) -> f32 {
        let Some((total, idle)) = read_cpu_times() else {
            return 0.0;
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let pct = match *last {
            Some((t0, i0)) if total > t0 => {
                let dt = (total - t0) as f32;
                100.0 * (1.0 - (idle.saturating_sub(i0)) as f32 / dt)
            }
            _ => 0.0,
        };
        *last = Some((total, idle));
        pct.clamp(0.0, 100.0)
    }
}

/// Highest temperature of the thermal zones, °C.
pub fn soc_temp_c() -> Option<f32> {
    let dir = std::fs::read_dir("/sys/class/thermal").ok()?;
    dir.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|e| std::fs::read_to_string(e.path().join("temp")).ok())
        .filter_map(|t| t.trim().parse::<f32>().ok())
        .map(|milli| milli / 1000.0)
        .fold(None, |m: Option<f32>, t| Some(m.map_or(t, |m| m.max(t))))
}

/// GPU temperature, °C: the thermal zone whose type names the GPU (`GPU-therm` on Jetson
/// boards, `gpu-thermal` on others); `None` without one.
pub fn gpu_temp_c() -> Option<f32> {
    let dir = std::fs::read_dir("/sys/class/thermal").ok()?;
    dir.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter(|e| {
            std::fs::read_to_string(e.path().join("type"))
                .is_ok_and(|t| t.to_ascii_lowercase().contains("gpu"))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("temp")).ok())
        .filter_map(|t| t.trim().parse::<f32>().ok())
        .map(|milli| milli / 1000.0)
        .next()
}

/// GPU load on Jetson boards (percent), `None` elsewhere.
pub fn gpu_load_pct() -> Option<f32> {
    [
        "/sys/devices/gpu.0/load",
        "/sys/devices/platform/gpu.0/load",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .and_then(|s| s.trim().parse::<f32>().ok())
    .map(|permille| permille / 10.0)
}

/// Free space (MB) on the file system holding `path` (or its nearest existing ancestor).
pub fn disk_free_mb(path: &Path) -> u64 {
    let mut p = Some(path);
    while let Some(cur) = p {
        if cur.exists() {
            return rustix::fs::statvfs(cur)
                .map(|s| s.f_bavail * s.f_frsize / (1024 * 1024))
                .unwrap_or(0);
        }
        p = cur.parent();
    }
    0
}
