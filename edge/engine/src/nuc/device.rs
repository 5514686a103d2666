//! Picks the candle device named in the configuration (`cpu`, `cuda:N`).

use candle_core::Device;

use super::NucError;

/// Parsed form of the `device` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

/// Parses `cpu`, `cuda` (= `cuda:0`) or `cuda:N`.
pub fn parse_device(name: &str) -> Result<DeviceSpec, NucError> {
    let n = name.trim();
    if n.eq_ignore_ascii_case("cpu") {
        return Ok(DeviceSpec::Cpu);
    }
    if n.eq_ignore_ascii_case("cuda") {
        return Ok(DeviceSpec::Cuda(0));
    }
    if let Some(idx) = n.strip_prefix("cuda:")
        && let Ok(i) = idx.parse()
    {
        return Ok(DeviceSpec::Cuda(i));
    }
    Err(NucError::Device {
        device: name.to_string(),
        reason: "expected \"cpu\" or \"cuda:N\"".into(),
    })
}

/// Opens the device; a CUDA device without the `cuda` feature is a clear error.
pub fn open_device(name: &str) -> Result<Device, NucError> {
    match parse_device(name)? {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(i) => {
            if !cfg!(feature = "cuda") {
                return Err(NucError::Device {
                    device: name.to_string(),
                    reason: "this build has no CUDA support (rebuild edge with --features cuda)"
                        .into(),
                });
            }
            Device::new_cuda(i).map_err(|e| NucError::Device {
                device: name.to_string(),
                reason: e.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert_eq!(parse_device("cpu").unwrap(), DeviceSpec::Cpu);
        assert_eq!(parse_device("cuda:1").unwrap(), DeviceSpec::Cuda(1));
        assert!(parse_device("gpu").is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_is_a_clear_error() {
        let e = open_device("cuda:0").unwrap_err().to_string();
        assert!(e.contains("--features cuda"), "{e}");
    }
}
