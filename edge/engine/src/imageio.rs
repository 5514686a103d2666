//! Loading and saving single-channel frames: PNG and TIFF at 8 or 16 bits, JPEG (8 bits) read
//! and written; grey or R=G=B RGB(A) input (real colour is refused); the bit depth is kept.

use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageBuffer, Luma};

/// Why a frame could not be read, written or listed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The image could not be decoded or encoded, or is of an unsupported kind.
    #[error("{path}: {reason}")]
    Image { path: PathBuf, reason: String },
}

/// Bits per sample of a stored image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitDepth {
    Eight,
    Sixteen,
}

impl BitDepth {
    /// Largest sample value.
    pub fn max_value(self) -> f32 {
        match self {
            BitDepth::Eight => 255.0,
            BitDepth::Sixteen => 65535.0,
        }
    }
}

/// A grey image; samples are stored as u16 whatever the depth.
#[derive(Debug, Clone, PartialEq)]
pub struct GrayImage {
    pub width: usize,
    pub height: usize,
    pub depth: BitDepth,
    pub data: Vec<u16>,
}

impl GrayImage {
    /// Samples as f32 in the image's own units (0..=255 or 0..=65535).
    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| f32::from(v)).collect()
    }

    /// An image of `depth` from f32 samples, rounded and clamped to the depth's range.
    pub fn from_f32(width: usize, height: usize, depth: BitDepth, v: &[f32]) -> Self {
        let max = depth.max_value();
        GrayImage {
            width,
            height,
            depth,
            data: v.iter().map(|x| x.round().clamp(0.0, max) as u16).collect(),
        }
    }
}

/// File extensions read as frames.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "tif", "tiff", "jpg", "jpeg"];

fn err(path: &Path, reason: impl Into<String>) -> ImageError {
    ImageError::Image {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn is_jpeg(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"))
}

/// Loads a grey frame.
pub fn load_gray(path: &Path) -> Result<GrayImage, ImageError> {
    let img = image::ImageReader::open(path)
        .map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .decode()
        .map_err(|e| err(path, format!("cannot decode image: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    // Lossy JPEG chroma may wobble by a level or two on a grey picture.
    let tol: u16 = if is_jpeg(path) { 2 } else { 0 };
    let grey3 = |r: u16, g: u16, b: u16| r.abs_diff(g) <= tol && g.abs_diff(b) <= tol;
    let colour = || {
        err(
            path,
            "is a colour image; only grey (or R=G=B) frames are supported",
        )
    };
    let (depth, data): (BitDepth, Vec<u16>) = match img {
        DynamicImage::ImageLuma8(b) => (
            BitDepth::Eight,
            b.into_raw().into_iter().map(u16::from).collect(),
        ),
        DynamicImage::ImageLumaA8(b) => (
            BitDepth::Eight,
            b.pixels().map(|p| u16::from(p.0[0])).collect(),
        ),
        DynamicImage::ImageLuma16(b) => (BitDepth::Sixteen, b.into_raw()),
        DynamicImage::ImageLumaA16(b) => (BitDepth::Sixteen, b.pixels().map(|p| p.0[0]).collect()),
        DynamicImage::ImageRgb8(b) => {
            let mut v = Vec::with_capacity(w * h);
            for p in b.pixels() {
                let [r, g, bl] = p.0.map(u16::from);
                if !grey3(r, g, bl) {
                    return Err(colour());
                }
                v.push(g);
            }
            (BitDepth::Eight, v)
        }
        DynamicImage::ImageRgba8(b) => {
            let mut v = Vec::with_capacity(w * h);
            for p in b.pixels() {
                let [r, g, bl, _] = p.0.map(u16::from);
                if !grey3(r, g, bl) {
                    return Err(colour());
                }
                v.push(g);
            }
            (BitDepth::Eight, v)
        }
        DynamicImage::ImageRgb16(b) => {
            let mut v = Vec::with_capacity(w * h);
            for p in b.pixels() {
                let [r, g, bl] = p.0;
                if !grey3(r, g, bl) {
                    return Err(colour());
                }
                v.push(g);
            }
            (BitDepth::Sixteen, v)
        }
        DynamicImage::ImageRgba16(b) => {
            let mut v = Vec::with_capacity(w * h);
            for p in b.pixels() {
                let [r, g, bl, _] = p.0;
                if !grey3(r, g, bl) {
                    return Err(colour());
                }
                v.push(g);
            }
            (BitDepth::Sixteen, v)
        }
        other => {
            return Err(err(
                path,
                format!("unsupported pixel format {:?}", other.color()),
            ));
        }
    };
    Ok(GrayImage {
        width: w,
        height: h,
        depth,
        data,
    })
}

/// Saves a grey frame; the format follows the extension (PNG, TIFF, or JPEG for 8 bits).
pub fn save_gray(path: &Path, img: &GrayImage) -> Result<(), ImageError> {
    if img.data.len() != img.width * img.height {
        return Err(err(path, "image buffer does not match its size"));
    }
    let (w, h) = (img.width as u32, img.height as u32);
    let res = match img.depth {
        BitDepth::Eight => {
            let raw: Vec<u8> = img.data.iter().map(|&v| v.min(255) as u8).collect();
            ImageBuffer::<Luma<u8>, _>::from_raw(w, h, raw)
                .ok_or_else(|| err(path, "bad buffer"))?
                .save(path)
        }
        BitDepth::Sixteen => {
            if is_jpeg(path) {
                return Err(err(
                    path,
                    "JPEG cannot hold 16-bit samples; use .png or .tif",
                ));
            }
            ImageBuffer::<Luma<u16>, _>::from_raw(w, h, img.data.clone())
                .ok_or_else(|| err(path, "bad buffer"))?
                .save(path)
        }
    };
    res.map_err(|e| err(path, format!("cannot write image: {e}")))
}

/// The frame files of a folder (by extension), sorted by name with numbers in natural order
/// (`2.png` before `10.png`).
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let rd = std::fs::read_dir(dir).map_err(|source| ImageError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for e in rd {
        let e = e.map_err(|source| ImageError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let p = e.path();
        let ok = p.is_file()
            && p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| IMAGE_EXTENSIONS.iter().any(|k| k.eq_ignore_ascii_case(x)));
        if ok {
            files.push(p);
        }
    }
    files.sort_by_key(|p| natural_key(p));
    Ok(files)
}

fn natural_key(p: &Path) -> (String, u64, String) {
    let stem = p
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string();
    let digits: String = stem
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let prefix = stem[..stem.len() - digits.len()].to_string();
    let num = digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    (prefix, num, stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_8_and_16_bit_png_and_tiff() {
        let dir = tempfile::tempdir().unwrap();
        for (depth, ext, max) in [
            (BitDepth::Eight, "png", 255u16),
            (BitDepth::Sixteen, "png", 65535),
            (BitDepth::Sixteen, "tif", 16383),
            (BitDepth::Eight, "tiff", 255),
        ] {
            let img = GrayImage {
                width: 5,
                height: 3,
                depth,
                data: (0..15u32)
                    .map(|i| ((i * 997) % (u32::from(max) + 1)) as u16)
                    .collect(),
            };
            let p = dir.path().join(format!("a.{ext}"));
            save_gray(&p, &img).unwrap();
            assert_eq!(load_gray(&p).unwrap(), img);
        }
    }

    #[test]
    fn refuses_colour_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.png");
        image::RgbImage::from_fn(4, 4, |x, _| image::Rgb([x as u8 * 10, 0, 0]))
            .save(&p)
            .unwrap();
        let e = load_gray(&p).unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
        let g = dir.path().join("g.png");
        image::RgbImage::from_fn(4, 4, |x, _| image::Rgb([x as u8; 3]))
            .save(&g)
            .unwrap();
        assert_eq!(load_gray(&g).unwrap().data[..4], [0, 1, 2, 3]);
        let bad = dir.path().join("bad.png");
        std::fs::write(&bad, b"not a png").unwrap();
        assert!(load_gray(&bad).unwrap_err().to_string().contains("bad.png"));
    }

    #[test]
    fn lists_in_natural_order() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["10.png", "2.png", "1.tif", "notes.txt"] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        let names: Vec<String> = list_images(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["1.tif", "2.png", "10.png"]);
    }
}
