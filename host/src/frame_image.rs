//! Writing frames pulled from a device: 16-bit grey PNG or TIFF (by the file extension), a
//! false-colour PNG preview, and side-by-side panels for comparisons.

use std::path::{Path, PathBuf};

use image::{ImageBuffer, Rgb};

use crate::colormap;

/// Why an image could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ImageWriteError {
    /// The extension is not one we write.
    #[error("{path}: unsupported image extension (use .png, .tif or .tiff)")]
    Extension {
        /// The file.
        path: PathBuf,
    },
    /// The buffer does not match the size.
    #[error("{path}: {len} values do not make a {width}x{height} image")]
    Size {
        /// The file.
        path: PathBuf,
        /// Values given.
        len: usize,
        /// Width.
        width: usize,
        /// Height.
        height: usize,
    },
    /// The encoder or the file system failed.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

fn check_ext(path: &Path) -> Result<(), ImageWriteError> {
    let ok = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "tif", "tiff"].contains(&e.to_ascii_lowercase().as_str()));
    if ok {
        Ok(())
    } else {
        Err(ImageWriteError::Extension {
            path: path.to_path_buf(),
        })
    }
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> ImageWriteError {
    ImageWriteError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Saves 16-bit grey pixels as PNG or TIFF (chosen by the extension).
pub fn save_u16(
    path: &Path,
    width: usize,
    height: usize,
    data: &[u16],
) -> Result<(), ImageWriteError> {
    check_ext(path)?;
    if data.len() != width * height {
        return Err(ImageWriteError::Size {
            path: path.to_path_buf(),
            len: data.len(),
            width,
            height,
        });
    }
    let img =
        ImageBuffer::<image::Luma<u16>, _>::from_raw(width as u32, height as u32, data.to_vec())
            .ok_or_else(|| write_err(path, "buffer size"))?;
    img.save(path).map_err(|e| write_err(path, e))
}

/// Float values as 16-bit words: a pattern (zero-mean, may be negative) is shifted by
/// `offset` and clamped to 0..=65535.
pub fn f32_to_u16(values: &[f32], offset: f32) -> Vec<u16> {
    values
        .iter()
        .map(|v| (v + offset).round().clamp(0.0, 65535.0) as u16)
        .collect()
}

/// Saves an RGB8 buffer as PNG.
pub fn save_rgb(
    path: &Path,
    width: usize,
    height: usize,
    rgb: Vec<u8>,
) -> Result<(), ImageWriteError> {
    let img =
        ImageBuffer::<Rgb<u8>, _>::from_raw(width as u32, height as u32, rgb).ok_or_else(|| {
            ImageWriteError::Size {
                path: path.to_path_buf(),
                len: 0,
                width,
                height,
            }
        })?;
    img.save(path).map_err(|e| write_err(path, e))
}

/// Saves a false-colour (inferno) PNG preview of `values`.
pub fn save_preview(
    path: &Path,
    width: usize,
    height: usize,
    values: &[f32],
) -> Result<(), ImageWriteError> {
    if values.len() != width * height {
        return Err(ImageWriteError::Size {
            path: path.to_path_buf(),
            len: values.len(),
            width,
            height,
        });
    }
    save_rgb(path, width, height, colormap::render(values))
}

/// The preview path for an output file: `shot.png` → `shot.preview.png`.
pub fn preview_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!("{stem}.preview.png"))
}

/// One panel of a side-by-side image: its values and the colour range (`None`: the panel's
/// own percentiles).
pub type Panel<'a> = (&'a [f32], Option<(f32, f32)>);

/// Panels placed left to right with a gap, each scaled up by `scale` (nearest neighbour).
/// `panels` are (values, shared colour range or None for the panel's own percentiles).
pub fn side_by_side(
    width: usize,
    height: usize,
    panels: &[Panel<'_>],
    scale: usize,
    gap: usize,
) -> (usize, usize, Vec<u8>) {
    let scale = scale.max(1);
    let (pw, ph) = (width * scale, height * scale);
    let total_w = panels.len() * pw + panels.len().saturating_sub(1) * gap;
    let mut out = vec![255u8; total_w * ph * 3];
    for (i, (values, range)) in panels.iter().enumerate() {
        let rgb = match range {
            Some((lo, hi)) => colormap::render_range(values, *lo, *hi),
            None => colormap::render(values),
        };
        let x0 = i * (pw + gap);
        for y in 0..ph {
            for x in 0..pw {
                let src = ((y / scale) * width + x / scale) * 3;
                let dst = (y * total_w + x0 + x) * 3;
                out[dst..dst + 3].copy_from_slice(&rgb[src..src + 3]);
            }
        }
    }
    (total_w, ph, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u16_png_and_tiff_round_trip_and_bad_extension_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u16> = (0..12).map(|i| i * 5000).collect();
        for name in ["a.png", "a.tiff"] {
            let p = dir.path().join(name);
            save_u16(&p, 4, 3, &data).unwrap();
            let back = image::open(&p).unwrap().into_luma16();
            assert_eq!(back.into_raw(), data);
        }
        assert!(matches!(
            save_u16(&dir.path().join("a.bmp"), 4, 3, &data),
            Err(ImageWriteError::Extension { .. })
        ));
        assert!(matches!(
            save_u16(&dir.path().join("b.png"), 5, 3, &data),
            Err(ImageWriteError::Size { .. })
        ));
    }

    #[test]
    fn side_by_side_places_panels() {
        let a = [0.0f32; 4];
        let b = [1.0f32; 4];
        let (w, h, rgb) = side_by_side(
            2,
            2,
            &[(&a, Some((0.0, 1.0))), (&b, Some((0.0, 1.0)))],
            2,
            1,
        );
        assert_eq!((w, h), (9, 4));
        assert_eq!(&rgb[0..3], &colormap::inferno(0.0));
        let right = (w - 1) * 3;
        assert_eq!(&rgb[right..right + 3], &colormap::inferno(1.0));
        assert_eq!(&rgb[4 * 3..4 * 3 + 3], &[255, 255, 255]);
    }
}
