//! Reading a folder of frames into a checked, same-size, same-depth set.

use std::path::{Path, PathBuf};

use engine::imageio::{BitDepth, GrayImage, list_images, load_gray};
use engine::nuc::FrameSet;

use super::OfflineError;

/// The frames of a folder, in natural name order.
#[derive(Debug, Clone)]
pub struct Folder {
    pub paths: Vec<PathBuf>,
    pub images: Vec<GrayImage>,
    pub width: usize,
    pub height: usize,
    pub depth: BitDepth,
}

impl Folder {
    /// The frames as a [`FrameSet`] in their own units.
    pub fn frame_set(&self) -> Result<FrameSet, OfflineError> {
        let frames = self.images.iter().map(GrayImage::to_f32).collect();
        Ok(FrameSet::new(self.width, self.height, frames)?)
    }

    /// File names (without folder).
    pub fn names(&self) -> Vec<String> {
        self.paths
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect()
    }
}

fn bits(d: BitDepth) -> u32 {
    match d {
        BitDepth::Eight => 8,
        BitDepth::Sixteen => 16,
    }
}

/// Loads every frame of `dir`; empty folders, unreadable files, mixed sizes and mixed depths
/// are errors that name the file.
pub fn load_folder(dir: &Path) -> Result<Folder, OfflineError> {
    let paths = list_images(dir)?;
    if paths.is_empty() {
        return Err(OfflineError::EmptyFolder(dir.to_path_buf()));
    }
    let mut images: Vec<GrayImage> = Vec::with_capacity(paths.len());
    for p in &paths {
        let img = load_gray(p)?;
        if let Some(first) = images.first() {
            if (img.width, img.height) != (first.width, first.height) {
                return Err(OfflineError::MixedSizes {
                    path: p.clone(),
                    first: paths[0].clone(),
                    got_w: img.width,
                    got_h: img.height,
                    want_w: first.width,
                    want_h: first.height,
                });
            }
            if img.depth != first.depth {
                return Err(OfflineError::MixedDepths {
                    path: p.clone(),
                    first: paths[0].clone(),
                    got: bits(img.depth),
                    want: bits(first.depth),
                });
            }
        }
        images.push(img);
    }
    let (width, height, depth) = (images[0].width, images[0].height, images[0].depth);
    Ok(Folder {
        paths,
        images,
        width,
        height,
        depth,
    })
}
