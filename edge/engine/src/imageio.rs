//! Loading and saving single-channel frames: PNG, TIFF and PGM/PPM/PAM at 8 or 16 bits, JPEG
//! and BMP at 8 bits, read and written; the format read is the one the content holds, whatever
//! the name. Grey or R=G=B RGB(A) input (real colour is refused); the bit depth is kept.

use std::path::{Path, PathBuf};

use image::codecs::pnm::{
    ArbitraryHeader, ArbitraryTuplType, GraymapHeader, PixmapHeader, PnmDecoder, PnmEncoder,
    PnmHeader, PnmSubtype, SampleEncoding,
};
use image::{DynamicImage, ImageBuffer, ImageFormat, Luma};

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

/// File extensions listed as frames; what a file holds is read from its content, so a BMP
/// saved under a `.png` name is still read.
pub const IMAGE_EXTENSIONS: [&str; 10] = [
    "png", "tif", "tiff", "jpg", "jpeg", "bmp", "pgm", "pnm", "ppm", "pam",
];

/// The formats frames are read from, as named in errors.
const READ_FORMATS: &str = "PNG, TIFF, JPEG, BMP or PGM/PPM/PAM";

fn err(path: &Path, reason: impl Into<String>) -> ImageError {
    ImageError::Image {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Loads a grey frame. The format is taken from the file's content, not its name. PNM
/// samples are kept in the file's own units (a 14-bit PGM with maxval 16383 reads as
/// 0..=16383 at 16 bits), where the image crate would stretch them to the full range.
pub fn load_gray(path: &Path) -> Result<GrayImage, ImageError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let format = image::guess_format(&bytes)
        .map_err(|_| err(path, format!("not a {READ_FORMATS} image")))?;
    let (img, pnm_maxval) = match format {
        ImageFormat::Pnm => {
            let (img, maxval) = load_pnm(&bytes).map_err(|reason| err(path, reason))?;
            (img, Some(maxval))
        }
        ImageFormat::Png | ImageFormat::Tiff | ImageFormat::Jpeg | ImageFormat::Bmp => {
            let img = image::load_from_memory_with_format(&bytes, format)
                .map_err(|e| err(path, format!("cannot decode {format:?} image: {e}")))?;
            (img, None)
        }
        other => {
            return Err(err(
                path,
                format!("is a {other:?} image; frames are read from {READ_FORMATS}"),
            ));
        }
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    // Lossy JPEG chroma may wobble by a level or two on a grey picture.
    let tol: u16 = if format == ImageFormat::Jpeg { 2 } else { 0 };
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
    if let Some(maxval) = pnm_maxval
        && let Some(v) = data.iter().find(|&&v| u32::from(v) > maxval)
    {
        return Err(err(
            path,
            format!("sample {v} exceeds the PNM maxval {maxval}"),
        ));
    }
    Ok(GrayImage {
        width: w,
        height: h,
        depth,
        data,
    })
}

/// A PGM, PPM or grey PAM with its samples as stored, and its maxval. The crate parses the
/// header (comments, PAM tuple types); the samples are read here because its decoder rescales
/// any maxval other than 255 or 65535 to the full range in `f32`, which does not round-trip
/// for maxvals near 65535.
fn load_pnm(bytes: &[u8]) -> Result<(DynamicImage, u32), String> {
    let decoder = PnmDecoder::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("cannot decode PNM image: {e}"))?;
    let (rest, header) = decoder.into_inner();
    let (w, h, maxval) = (header.width(), header.height(), header.maximal_sample());
    let (channels, encoding) = match header.subtype() {
        PnmSubtype::Graymap(enc) => (1, enc),
        PnmSubtype::Pixmap(enc) => (3, enc),
        PnmSubtype::ArbitraryMap => match header.as_arbitrary().map(|a| (&a.tupltype, a.depth)) {
            Some((Some(ArbitraryTuplType::Grayscale), 1)) => (1, SampleEncoding::Binary),
            Some((Some(ArbitraryTuplType::RGB), 3)) => (3, SampleEncoding::Binary),
            _ => return Err("is a PAM that is neither GRAYSCALE nor RGB".into()),
        },
        PnmSubtype::Bitmap(_) => return Err("is a 1-bit PBM bitmap, not a grey frame".into()),
    };
    let n = w as usize * h as usize * channels;
    let body = &bytes[(rest.position() as usize).min(bytes.len())..];
    let samples: Vec<u16> = match encoding {
        SampleEncoding::Binary if maxval <= 255 => body.iter().take(n).map(|&b| b.into()).collect(),
        SampleEncoding::Binary => body
            .chunks_exact(2)
            .take(n)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect(),
        SampleEncoding::Ascii => body
            .split(u8::is_ascii_whitespace)
            .filter(|t| !t.is_empty())
            .take(n)
            .map(|t| {
                std::str::from_utf8(t)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| format!("bad sample {:?}", String::from_utf8_lossy(t)))
            })
            .collect::<Result<_, _>>()?,
    };
    if samples.len() < n {
        return Err(format!(
            "truncated PNM image: {} of {n} samples",
            samples.len()
        ));
    }
    let img = match (channels, maxval <= 255) {
        (1, true) => ImageBuffer::from_raw(w, h, samples.iter().map(|&v| v as u8).collect())
            .map(DynamicImage::ImageLuma8),
        (1, false) => ImageBuffer::from_raw(w, h, samples).map(DynamicImage::ImageLuma16),
        (_, true) => ImageBuffer::from_raw(w, h, samples.iter().map(|&v| v as u8).collect())
            .map(DynamicImage::ImageRgb8),
        (_, false) => ImageBuffer::from_raw(w, h, samples).map(DynamicImage::ImageRgb16),
    };
    Ok((img.ok_or("PNM size does not match its samples")?, maxval))
}

/// How a frame is written, chosen by the extension of its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteAs {
    Png,
    Tiff,
    Jpeg,
    Bmp,
    /// `P5` (`.pgm`, `.pnm`).
    Pgm,
    /// `P6` with R=G=B (`.ppm`).
    Ppm,
    /// `P7` GRAYSCALE (`.pam`).
    Pam,
}

impl WriteAs {
    fn of(path: &Path) -> Option<WriteAs> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "png" => WriteAs::Png,
            "tif" | "tiff" => WriteAs::Tiff,
            "jpg" | "jpeg" => WriteAs::Jpeg,
            "bmp" => WriteAs::Bmp,
            "pgm" | "pnm" => WriteAs::Pgm,
            "ppm" => WriteAs::Ppm,
            "pam" => WriteAs::Pam,
            _ => return None,
        })
    }
}

/// Checks that a frame of `depth` can be saved under this name (by its extension), so that a
/// tool can refuse before it does the work rather than after.
pub fn check_writable(path: &Path, depth: BitDepth) -> Result<(), ImageError> {
    write_as(path, depth).map(|_| ())
}

fn write_as(path: &Path, depth: BitDepth) -> Result<WriteAs, ImageError> {
    let Some(kind) = WriteAs::of(path) else {
        return Err(err(
            path,
            "unknown extension; use .png, .tif, .jpg, .bmp, .pgm, .ppm or .pam",
        ));
    };
    if depth == BitDepth::Sixteen && matches!(kind, WriteAs::Jpeg | WriteAs::Bmp | WriteAs::Ppm) {
        return Err(err(
            path,
            format!("{kind:?} is written at 8 bits only; use .png, .tif or .pgm for 16-bit frames"),
        ));
    }
    Ok(kind)
}

/// Saves a grey frame; the format follows the extension: PNG, TIFF, PGM and PAM at 8 or 16
/// bits, JPEG, BMP and PPM at 8 bits (see [`check_writable`]).
pub fn save_gray(path: &Path, img: &GrayImage) -> Result<(), ImageError> {
    if img.data.len() != img.width * img.height {
        return Err(err(path, "image buffer does not match its size"));
    }
    let kind = write_as(path, img.depth)?;
    let (w, h) = (img.width as u32, img.height as u32);
    let sixteen = img.depth == BitDepth::Sixteen;
    let bad = || err(path, "bad buffer");
    let grey8 = || {
        ImageBuffer::<Luma<u8>, _>::from_raw(
            w,
            h,
            img.data.iter().map(|&v| v.min(255) as u8).collect(),
        )
        .ok_or_else(bad)
    };
    let grey16 = || ImageBuffer::<Luma<u16>, _>::from_raw(w, h, img.data.clone()).ok_or_else(bad);
    let res = match kind {
        WriteAs::Png | WriteAs::Tiff | WriteAs::Jpeg | WriteAs::Bmp => {
            if sixteen {
                grey16()?.save(path)
            } else {
                grey8()?.save(path)
            }
        }
        WriteAs::Pgm | WriteAs::Ppm | WriteAs::Pam => {
            let file = std::fs::File::create(path).map_err(io_err(path))?;
            let out = std::io::BufWriter::new(file);
            let maxval = if sixteen { 65535 } else { 255 };
            let header: PnmHeader = match kind {
                WriteAs::Pgm => GraymapHeader {
                    encoding: SampleEncoding::Binary,
                    width: w,
                    height: h,
                    maxwhite: maxval,
                }
                .into(),
                WriteAs::Ppm => PixmapHeader {
                    encoding: SampleEncoding::Binary,
                    width: w,
                    height: h,
                    maxval,
                }
                .into(),
                _ => ArbitraryHeader {
                    width: w,
                    height: h,
                    depth: 1,
                    maxval,
                    tupltype: Some(ArbitraryTuplType::Grayscale),
                }
                .into(),
            };
            let enc = PnmEncoder::new(out).with_header(header);
            match (kind, sixteen) {
                (WriteAs::Ppm, _) => DynamicImage::ImageLuma8(grey8()?)
                    .to_rgb8()
                    .write_with_encoder(enc),
                (_, true) => grey16()?.write_with_encoder(enc),
                (_, false) => grey8()?.write_with_encoder(enc),
            }
        }
    };
    res.map_err(|e| err(path, format!("cannot write image: {e}")))
}

/// The frame files of a folder (by extension), sorted by name with numbers in natural order
/// (`2.png` before `10.png`).
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let rd = std::fs::read_dir(dir).map_err(io_err(dir))?;
    let mut files = Vec::new();
    for e in rd {
        let e = e.map_err(io_err(dir))?;
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

    fn ramp(depth: BitDepth, max: u16) -> GrayImage {
        GrayImage {
            width: 7,
            height: 3,
            depth,
            data: (0..21u32)
                .map(|i| ((i * 997) % (u32::from(max) + 1)) as u16)
                .collect(),
        }
    }

    #[test]
    fn round_trips_bmp_and_pnm_at_their_depths() {
        let dir = tempfile::tempdir().unwrap();
        for (depth, ext, max) in [
            (BitDepth::Eight, "bmp", 255u16),
            (BitDepth::Eight, "pgm", 255),
            (BitDepth::Sixteen, "pgm", 65535),
            (BitDepth::Sixteen, "pnm", 16383),
            (BitDepth::Eight, "ppm", 255),
            (BitDepth::Sixteen, "pam", 4095),
        ] {
            let img = ramp(depth, max);
            let p = dir.path().join(format!("a.{ext}"));
            save_gray(&p, &img).unwrap();
            assert_eq!(load_gray(&p).unwrap(), img, "{ext} at {depth:?}");
        }
        let magic =
            |ext: &str| std::fs::read(dir.path().join(format!("a.{ext}"))).unwrap()[..2].to_vec();
        assert_eq!(magic("pgm"), b"P5");
        assert_eq!(magic("ppm"), b"P6");
        assert_eq!(magic("pam"), b"P7");
        assert_eq!(magic("bmp"), b"BM");
        for ext in ["bmp", "ppm", "jpg"] {
            let e = save_gray(
                &dir.path().join(format!("b.{ext}")),
                &ramp(BitDepth::Sixteen, 65535),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("8 bits only"), "{e}");
        }
        // A 16-bit PPM is still read.
        std::fs::write(
            dir.path().join("c.ppm"),
            b"P6 1 1 65535 \x01\x02\x01\x02\x01\x02",
        )
        .unwrap();
        assert_eq!(load_gray(&dir.path().join("c.ppm")).unwrap().data, [0x0102]);
    }

    #[test]
    fn the_format_comes_from_the_content_not_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let img = ramp(BitDepth::Eight, 255);
        let bmp = dir.path().join("a.bmp");
        save_gray(&bmp, &img).unwrap();
        let named_png = dir.path().join("really-a-bmp.png");
        std::fs::rename(&bmp, &named_png).unwrap();
        assert_eq!(load_gray(&named_png).unwrap(), img);
        let pgm = dir.path().join("a.pgm");
        save_gray(&pgm, &img).unwrap();
        let named_tif = dir.path().join("really-a-pgm.tif");
        std::fs::rename(&pgm, &named_tif).unwrap();
        assert_eq!(load_gray(&named_tif).unwrap(), img);
        // A format that is recognised but not read is named as such.
        let gif = dir.path().join("g.png");
        std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
        let e = load_gray(&gif).unwrap_err().to_string();
        assert!(e.contains("Gif") && e.contains("g.png"), "{e}");
    }

    #[test]
    fn pgm_samples_keep_their_units_for_any_maxval() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.pgm");
        // The image crate would stretch these to 0..=65535 (x4 for 16383) in f32; a maxval
        // near 65535 is where that stretch stops being invertible.
        for maxval in [16383u16, 4095, 1023, 65000, 65534, 100] {
            let samples = [0, 1, 10, maxval / 2, maxval / 2 + 1, maxval - 1, maxval];
            let mut bytes = format!("P5\n# a comment\n7 1\n{maxval}\n").into_bytes();
            for v in samples {
                if maxval > 255 {
                    bytes.extend(v.to_be_bytes());
                } else {
                    bytes.push(v as u8);
                }
            }
            std::fs::write(&p, &bytes).unwrap();
            let img = load_gray(&p).unwrap();
            assert_eq!(img.data, samples, "maxval {maxval}");
            let want = if maxval > 255 {
                BitDepth::Sixteen
            } else {
                BitDepth::Eight
            };
            assert_eq!(img.depth, want);
        }
        // ASCII graymap (P2).
        std::fs::write(&p, "P2\n3 2 16383\n0 5 16383\n  7\n8 9\n").unwrap();
        assert_eq!(load_gray(&p).unwrap().data, [0, 5, 16383, 7, 8, 9]);
    }

    #[test]
    fn refuses_bad_pnm_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.pgm");
        let cases: [(&[u8], &str); 5] = [
            (b"P5\n2 2\n255\n\x01\x02\x03", "truncated"),
            (b"P2\n2 1 100\n5 101\n", "exceeds the PNM maxval 100"),
            (b"P2\n2 1 100\n5 x\n", "bad sample"),
            (b"P4\n8 1\n\xff", "PBM"),
            (b"P5\n2 2\n", "cannot decode PNM"),
        ];
        for (bytes, want) in cases {
            std::fs::write(&p, bytes).unwrap();
            let e = load_gray(&p).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("bad.pgm"), "{want}: {e}");
        }
    }

    #[test]
    fn lists_in_natural_order() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["10.png", "2.png", "1.tif", "3.BMP", "4.pgm", "notes.txt"] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        let names: Vec<String> = list_images(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["1.tif", "2.png", "3.BMP", "4.pgm", "10.png"]);
    }
}
