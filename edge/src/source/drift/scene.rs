//! What the simulated camera looks at, in scene units (DN at unity gain): a [`Scene`] is a
//! world larger than the view, so the camera can pan across it. [`CityScene`] is synthetic and
//! edge-rich (cold sky with a gradient and clouds, a skyline of buildings with windows, trees,
//! a textured road, warm people walking and vehicles with hot engines driving);
//! [`FrameSequenceScene`] plays a folder of real frames (cross-faded in order) as the world.

use std::path::Path;

use rand::{Rng, SeedableRng, rngs::StdRng};

/// A world the camera's view is cut from.
pub trait Scene: Send + Sync {
    /// World width and height in pixels.
    fn world_size(&self) -> (usize, usize);
    /// Writes the `w`×`h` view whose top-left corner is at (`ox`, `oy`) in the world, at scene
    /// time `t` seconds, into `out`.
    fn render(&self, t: f32, ox: usize, oy: usize, w: usize, h: usize, out: &mut [f32]);
}

/// Smooth random field: a coarse grid of uniform values in [-1, 1], bilinearly enlarged.
fn value_noise(rng: &mut StdRng, w: usize, h: usize, cell: usize) -> Vec<f32> {
    let cell = cell.max(1);
    let (gw, gh) = (w / cell + 2, h / cell + 2);
    let grid: Vec<f32> = (0..gw * gh).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        let fy = y as f32 / cell as f32;
        let (y0, ty) = (fy as usize, fy.fract());
        for x in 0..w {
            let fx = x as f32 / cell as f32;
            let (x0, tx) = (fx as usize, fx.fract());
            let g = |xx: usize, yy: usize| grid[yy * gw + xx];
            let top = g(x0, y0) * (1.0 - tx) + g(x0 + 1, y0) * tx;
            let bot = g(x0, y0 + 1) * (1.0 - tx) + g(x0 + 1, y0 + 1) * tx;
            out[y * w + x] = top * (1.0 - ty) + bot * ty;
        }
    }
    out
}

/// A warm thing moving in the world.
#[derive(Debug, Clone)]
struct Mover {
    /// Centre of its walk (people) or start (vehicles), world x.
    x0: f32,
    /// Feet / wheels row, world y.
    base_y: f32,
    /// Speed, px/s (sign = direction).
    speed: f32,
    /// Half the walking range (people); 0 = drives around the world (vehicles).
    range: f32,
    phase: f32,
    kind: MoverKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum MoverKind {
    Person { height: f32 },
    Vehicle { length: f32, height: f32 },
}

/// The synthetic city (see the module docs).
pub struct CityScene {
    width: usize,
    height: usize,
    background: Vec<f32>,
    movers: Vec<Mover>,
    level: f32,
    contrast: f32,
}

impl CityScene {
    /// A city world for a `view_w`×`view_h` camera: 3 views wide and 1.4 views high, around
    /// `level` with a range of about ±`contrast` DN.
    pub fn new(seed: u64, view_w: usize, view_h: usize, level: f32, contrast: f32) -> Self {
        let (w, h) = (view_w * 3, (view_h as f32 * 1.4) as usize);
        let mut rng = StdRng::seed_from_u64(seed ^ 0xC17E);
        let c = contrast;
        let horizon = (h as f32 * 0.62) as usize;
        let mut bg = vec![0.0f32; w * h];
        // Sky: cold at the top, warmer towards the horizon, with faint clouds.
        let clouds = value_noise(&mut rng, w, h, (view_w / 5).max(4));
        for y in 0..horizon {
            let s = y as f32 / horizon as f32;
            for x in 0..w {
                bg[y * w + x] = level - 0.9 * c + 0.45 * c * s * s + 0.07 * c * clouds[y * w + x];
            }
        }
        // Ground: a warm road band between pavements.
        let road_top = horizon + (h - horizon) / 3;
        let road_bot = horizon + 3 * (h - horizon) / 4;
        for y in horizon..h {
            let v = if (road_top..road_bot).contains(&y) {
                level + 0.2 * c
            } else {
                level - 0.05 * c
            };
            bg[y * w..(y + 1) * w].iter_mut().for_each(|p| *p = v);
        }
        let lane_y = (road_top + road_bot) / 2;
        let dash = (view_w / 16).max(2);
        for x in (0..w).step_by(dash * 3) {
            for y in lane_y..(lane_y + 1 + view_h / 100).min(h) {
                for p in &mut bg[y * w + x..(y * w + x + dash).min(y * w + w)] {
                    *p = level + 0.05 * c;
                }
            }
        }
        // Skyline: buildings of random width, height and temperature, with window grids.
        let mut x = 0usize;
        while x < w {
            let bw = rng.gen_range(0.06..0.2) * view_w as f32;
            let bh = rng.gen_range(0.2..0.55) * horizon as f32;
            let (x1, top) = (
                (x + bw as usize + 2).min(w),
                horizon.saturating_sub(bh as usize),
            );
            let facade = level + rng.gen_range(-0.35..0.25) * c;
            let lit = rng.gen_range(0.0..1.0);
            let (wx, wy) = (rng.gen_range(5..10usize), rng.gen_range(6..11usize));
            let scale = (view_w as f32 / 320.0).max(0.3);
            let (step_x, step_y) = (
                ((wx as f32) * scale) as usize + 2,
                ((wy as f32) * scale) as usize + 2,
            );
            for y in top..horizon {
                for xx in x..x1 {
                    let (ix, iy) = ((xx - x) / step_x, (y - top) / step_y);
                    let in_window =
                        (xx - x) % step_x >= step_x / 2 && (y - top) % step_y >= step_y / 2;
                    let mut v = facade;
                    if y < top + 2 {
                        v += 0.12 * c; // roof edge
                    }
                    if in_window && xx > x + 1 && xx + 2 < x1 {
                        let warm = ((ix * 7 + iy * 13 + x) % 10) as f32 / 10.0 < lit;
                        v += if warm { 0.3 * c } else { -0.15 * c };
                    }
                    bg[y * w + xx] = v;
                }
            }
            x = x1 + rng.gen_range(0..(view_w / 20).max(2));
        }
        // Trees in front of the buildings.
        for _ in 0..(w / view_w.max(1)) * 4 {
            let cx = rng.gen_range(0.0..w as f32);
            let r = rng.gen_range(0.03..0.07) * view_h as f32 + 2.0;
            let cy = horizon as f32 - r * 0.6;
            let v = level - 0.2 * c;
            for y in (cy - r).max(0.0) as usize..((cy + r) as usize).min(h) {
                for xx in (cx - r).max(0.0) as usize..((cx + r) as usize).min(w) {
                    let d = ((xx as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                    if d < r {
                        bg[y * w + xx] = v + rng.gen_range(-0.08..0.08) * c;
                    }
                }
            }
        }
        // Texture everywhere: mid-scale variation and fine grain (not temporal noise: it moves
        // with the scene).
        let mid = value_noise(&mut rng, w, h, 3);
        for (p, m) in bg.iter_mut().zip(&mid) {
            *p += 0.03 * c * m + rng.gen_range(-0.015..0.015) * c;
        }
        let feet = road_top as f32 - 1.0;
        let mut movers = Vec::new();
        for _ in 0..8 {
            movers.push(Mover {
                x0: rng.gen_range(0.0..w as f32),
                base_y: feet + rng.gen_range(-0.02..0.02) * view_h as f32,
                speed: rng.gen_range(0.02..0.05)
                    * view_w as f32
                    * if rng.r#gen() { 1.0 } else { -1.0 },
                range: rng.gen_range(0.2..0.6) * view_w as f32,
                phase: rng.gen_range(0.0..std::f32::consts::TAU),
                kind: MoverKind::Person {
                    height: rng.gen_range(0.12..0.17) * view_h as f32,
                },
            });
        }
        for i in 0..3 {
            movers.push(Mover {
                x0: rng.gen_range(0.0..w as f32),
                base_y: road_bot as f32 - 2.0 - i as f32 * 0.05 * view_h as f32,
                speed: rng.gen_range(0.12..0.25)
                    * view_w as f32
                    * if i % 2 == 0 { 1.0 } else { -1.0 },
                range: 0.0,
                phase: 0.0,
                kind: MoverKind::Vehicle {
                    length: rng.gen_range(0.14..0.22) * view_w as f32,
                    height: rng.gen_range(0.08..0.11) * view_h as f32,
                },
            });
        }
        CityScene {
            width: w,
            height: h,
            background: bg,
            movers,
            level,
            contrast,
        }
    }

    fn draw_movers(&self, t: f32, ox: usize, oy: usize, w: usize, h: usize, out: &mut [f32]) {
        let (c, level) = (self.contrast, self.level);
        for m in &self.movers {
            let x = if m.range > 0.0 {
                m.x0 + m.range * (m.speed * t / m.range + m.phase).sin()
            } else {
                (m.x0 + m.speed * t).rem_euclid(self.width as f32)
            };
            let (vx, vy) = (x - ox as f32, m.base_y - oy as f32);
            match m.kind {
                MoverKind::Person { height } => {
                    let (hw, hh) = (height * 0.16, height * 0.5);
                    let (cx, cy) = (vx, vy - hh);
                    fill(out, w, h, cx - hw, cy - hh, cx + hw, cy + hh, |dx, dy| {
                        let e = (dx / hw).powi(2) + (dy / hh).powi(2);
                        (e < 1.0).then_some(level + 0.55 * c)
                    });
                    let hr = height * 0.1;
                    let (hx, hy) = (cx, cy - hh - hr * 0.8);
                    fill(out, w, h, hx - hr, hy - hr, hx + hr, hy + hr, |dx, dy| {
                        (dx * dx + dy * dy < hr * hr).then_some(level + 0.65 * c)
                    });
                }
                MoverKind::Vehicle { length, height } => {
                    let dir = m.speed.signum();
                    fill(
                        out,
                        w,
                        h,
                        vx - length / 2.0,
                        vy - height,
                        vx + length / 2.0,
                        vy,
                        |dx, dy| {
                            let front = dx * dir > length * 0.3;
                            let wheel = dy > -height * 0.25
                                && (dx.abs() - length * 0.3).abs() < height * 0.2;
                            Some(if front {
                                level + 0.9 * c
                            } else if wheel {
                                level + 0.45 * c
                            } else {
                                level + 0.15 * c
                            })
                        },
                    );
                }
            }
        }
    }
}

/// Sets view pixels inside the box (`x0`, `y0`)–(`x1`, `y1`) (view coordinates) to what `f`
/// returns for their offset from the box centre.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fill(
    out: &mut [f32],
    w: usize,
    h: usize,
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
    f: impl Fn(f32, f32) -> Option<f32>,
) {
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let xa = x0.max(0.0) as usize;
    let xb = (x1.max(0.0) as usize).min(w);
    let ya = y0.max(0.0) as usize;
    let yb = (y1.max(0.0) as usize).min(h);
    for y in ya..yb {
        for x in xa..xb {
            if let Some(v) = f(x as f32 + 0.5 - cx, y as f32 + 0.5 - cy) {
                out[y * w + x] = v;
            }
        }
    }
}

impl Scene for CityScene {
    fn world_size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn render(&self, t: f32, ox: usize, oy: usize, w: usize, h: usize, out: &mut [f32]) {
        let ww = self.width;
        for (y, row) in out.chunks_exact_mut(w).take(h).enumerate() {
            let src = (oy + y).min(self.height - 1) * ww + ox.min(ww - w);
            row.copy_from_slice(&self.background[src..src + w]);
        }
        self.draw_movers(t, ox, oy, w, h, out);
    }
}

/// Why a frame folder cannot be used as a scene.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    /// The folder could not be listed.
    #[error("{path}: {source}")]
    Io {
        /// The folder.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A frame could not be decoded or differs in size from the first.
    #[error("{path}: {reason}")]
    Frame {
        /// The frame.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No frames were found.
    #[error("{0}: no PNG/JPEG/TIFF frames")]
    Empty(std::path::PathBuf),
}

/// Real frames (8-bit or 16-bit images, in name order) played as the world: each frame is
/// shown for `hold_s` seconds, cross-faded into the next, back and forth through the sequence;
/// grey levels are mapped linearly onto `level ± contrast`.
pub struct FrameSequenceScene {
    width: usize,
    height: usize,
    frames: Vec<Vec<f32>>,
    hold_s: f32,
}

impl FrameSequenceScene {
    /// Loads every image of `dir`, enlarged (bilinear) so the world is at least 1.5 views wide
    /// and high for a `view_w`×`view_h` camera.
    pub fn open(
        dir: &Path,
        view_w: usize,
        view_h: usize,
        level: f32,
        contrast: f32,
        hold_s: f32,
    ) -> Result<Self, SceneError> {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(|source| SceneError::Io {
                path: dir.into(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    ["png", "jpg", "jpeg", "tif", "tiff"].contains(&e.to_ascii_lowercase().as_str())
                })
            })
            .collect();
        // Numeric names sort as numbers (0.jpg, 1.jpg, ..., 10.jpg).
        paths.sort_by_key(|p| {
            let stem = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            (stem.parse::<u64>().unwrap_or(u64::MAX), stem)
        });
        if paths.is_empty() {
            return Err(SceneError::Empty(dir.into()));
        }
        let mut frames = Vec::new();
        let mut size = None;
        let mut scale = 1.0f32;
        for p in &paths {
            let img = image::open(p).map_err(|e| SceneError::Frame {
                path: p.clone(),
                reason: e.to_string(),
            })?;
            let grey = img.to_luma16();
            let (fw, fh) = (grey.width() as usize, grey.height() as usize);
            match size {
                None => {
                    scale = (1.5 * view_w as f32 / fw as f32)
                        .max(1.5 * view_h as f32 / fh as f32)
                        .max(1.0);
                    size = Some((fw, fh));
                }
                Some(s) if s != (fw, fh) => {
                    return Err(SceneError::Frame {
                        path: p.clone(),
                        reason: format!("{fw}x{fh}, the first frame is {}x{}", s.0, s.1),
                    });
                }
                Some(_) => {}
            }
            let (ww, wh) = ((fw as f32 * scale) as usize, (fh as f32 * scale) as usize);
            let src: Vec<f32> = grey
                .as_raw()
                .iter()
                .map(|&v| f32::from(v) / 65535.0)
                .collect();
            let mut world = vec![0.0f32; ww * wh];
            for y in 0..wh {
                let sy = ((y as f32 + 0.5) / scale - 0.5).clamp(0.0, (fh - 1) as f32);
                let (y0, ty) = (sy as usize, sy.fract());
                let y1 = (y0 + 1).min(fh - 1);
                for x in 0..ww {
                    let sx = ((x as f32 + 0.5) / scale - 0.5).clamp(0.0, (fw - 1) as f32);
                    let (x0, tx) = (sx as usize, sx.fract());
                    let x1 = (x0 + 1).min(fw - 1);
                    let v = (src[y0 * fw + x0] * (1.0 - tx) + src[y0 * fw + x1] * tx) * (1.0 - ty)
                        + (src[y1 * fw + x0] * (1.0 - tx) + src[y1 * fw + x1] * tx) * ty;
                    world[y * ww + x] = level + (2.0 * v - 1.0) * contrast;
                }
            }
            frames.push(world);
        }
        let (fw, fh) = size.expect("at least one frame");
        Ok(FrameSequenceScene {
            width: (fw as f32 * scale) as usize,
            height: (fh as f32 * scale) as usize,
            frames,
            hold_s: hold_s.max(0.01),
        })
    }

    /// Frames in the sequence.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the sequence is empty (never: `open` refuses an empty folder).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

impl Scene for FrameSequenceScene {
    fn world_size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn render(&self, t: f32, ox: usize, oy: usize, w: usize, h: usize, out: &mut [f32]) {
        let n = self.frames.len();
        // Back and forth through the sequence, so it never jumps from the last to the first.
        let pos = t.max(0.0) / self.hold_s;
        let span = (2 * n.saturating_sub(1)).max(1) as f32;
        let p = pos.rem_euclid(span);
        let p = if p > (n - 1) as f32 { span - p } else { p };
        let (i0, tf) = (p as usize, p.fract());
        let i1 = (i0 + 1).min(n - 1);
        let (a, b) = (&self.frames[i0.min(n - 1)], &self.frames[i1]);
        let ww = self.width;
        for (y, row) in out.chunks_exact_mut(w).take(h).enumerate() {
            let src = (oy + y).min(self.height - 1) * ww + ox.min(ww - w);
            for (o, (va, vb)) in row
                .iter_mut()
                .zip(a[src..src + w].iter().zip(&b[src..src + w]))
            {
                *o = va * (1.0 - tf) + vb * tf;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(v: &[f32]) -> f32 {
        let m = v.iter().sum::<f32>() / v.len() as f32;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / v.len() as f32).sqrt()
    }

    #[test]
    fn city_is_textured_and_people_move() {
        let s = CityScene::new(3, 160, 128, 7000.0, 2000.0);
        let (ww, wh) = s.world_size();
        assert!(ww >= 480 && wh > 128);
        let mut a = vec![0.0; 160 * 128];
        let mut b = vec![0.0; 160 * 128];
        s.render(0.0, 100, 20, 160, 128, &mut a);
        s.render(5.0, 100, 20, 160, 128, &mut b);
        assert!(spread(&a) > 300.0, "contrast {}", spread(&a));
        // Edges: many large neighbour differences.
        let edges = a.windows(2).filter(|p| (p[0] - p[1]).abs() > 200.0).count();
        assert!(edges > 500, "edges {edges}");
        let moved = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| (*x - *y).abs() > 100.0)
            .count();
        assert!(moved > 20 && moved < a.len() / 4, "moving pixels {moved}");
    }

    #[test]
    fn frame_sequence_scene_cross_fades_and_checks_sizes() {
        let dir = tempfile::tempdir().unwrap();
        for (i, v) in [0u8, 200].iter().enumerate() {
            image::GrayImage::from_pixel(40, 30, image::Luma([*v]))
                .save(dir.path().join(format!("{i}.png")))
                .unwrap();
        }
        let s = FrameSequenceScene::open(dir.path(), 40, 30, 5000.0, 1000.0, 1.0).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.world_size().0 >= 60);
        let mut out = vec![0.0; 40 * 30];
        s.render(0.5, 0, 0, 40, 30, &mut out);
        let want = 5000.0 + (2.0 * (100.0 / 255.0) - 1.0) * 1000.0;
        assert!((out[0] - want).abs() < 5.0, "{} vs {want}", out[0]);
        image::GrayImage::new(41, 30)
            .save(dir.path().join("2.png"))
            .unwrap();
        let e = FrameSequenceScene::open(dir.path(), 40, 30, 5000.0, 1000.0, 1.0)
            .err()
            .unwrap();
        assert!(e.to_string().contains("41x30"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            FrameSequenceScene::open(empty.path(), 40, 30, 0.0, 1.0, 1.0),
            Err(SceneError::Empty(_))
        ));
    }
}
