//! Line charts for reports (PSNR over time per method, in the drift bench and `dipnuc demo`),
//! drawn into an RGB image with `embedded-graphics` and its built-in bitmap font, so no system
//! font or font library is needed. Shaded bands mark the scenario's segments.

use std::convert::Infallible;
use std::path::Path;

use embedded_graphics::mono_font::{MonoTextStyle, ascii::FONT_6X10};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Line, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Alignment, Text};
use image::RgbImage;

/// One line of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text (ASCII).
    pub label: String,
    /// (x, y) points in order of x; non-finite y values break the line.
    pub points: Vec<(f32, f32)>,
}

/// A shaded x range with a label (a scenario segment).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Start and end on the x axis.
    pub from: f32,
    /// End on the x axis.
    pub to: f32,
    /// Label written at the top of the band (ASCII).
    pub label: String,
}

/// What to draw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineChart {
    /// Title (ASCII).
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Shaded bands behind them.
    pub bands: Vec<Band>,
}

const PALETTE: [Rgb888; 8] = [
    Rgb888::new(120, 120, 120),
    Rgb888::new(31, 119, 180),
    Rgb888::new(255, 127, 14),
    Rgb888::new(44, 160, 44),
    Rgb888::new(214, 39, 40),
    Rgb888::new(148, 103, 189),
    Rgb888::new(140, 86, 75),
    Rgb888::new(23, 190, 207),
];

struct Canvas(RgbImage);

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(
        &mut self,
        pixels: I,
    ) -> Result<(), Infallible> {
        let (w, h) = (self.0.width() as i32, self.0.height() as i32);
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && p.x < w && p.y < h {
                self.0
                    .put_pixel(p.x as u32, p.y as u32, image::Rgb([c.r(), c.g(), c.b()]));
            }
        }
        Ok(())
    }
}

/// A "nice" tick step for a range (1, 2 or 5 times a power of ten).
fn tick_step(range: f32, ticks: f32) -> f32 {
    let raw = (range / ticks).max(f32::MIN_POSITIVE);
    let mag = 10f32.powf(raw.log10().floor());
    let n = raw / mag;
    mag * if n < 1.5 {
        1.0
    } else if n < 3.5 {
        2.0
    } else if n < 7.5 {
        5.0
    } else {
        10.0
    }
}

impl LineChart {
    /// Draws the chart at `width`×`height` pixels.
    pub fn render(&self, width: u32, height: u32) -> RgbImage {
        let mut c = Canvas(RgbImage::from_pixel(
            width,
            height,
            image::Rgb([255, 255, 255]),
        ));
        let text = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
        let (left, right, top, bottom) = (56i32, 150i32, 28i32, 36i32);
        let (pw, ph) = (width as i32 - left - right, height as i32 - top - bottom);
        let pts = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for &(x, y) in pts {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        for b in &self.bands {
            x0 = x0.min(b.from);
            x1 = x1.max(b.to);
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if y1 - y0 < 1e-3 {
            y0 -= 1.0;
            y1 += 1.0;
        }
        let ystep = tick_step(y1 - y0, 6.0);
        let (y0, y1) = ((y0 / ystep).floor() * ystep, (y1 / ystep).ceil() * ystep);
        let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
        let px = |x: f32| left + ((x - x0) / (x1 - x0) * pw as f32).round() as i32;
        let py = |y: f32| top + ph - ((y - y0) / (y1 - y0) * ph as f32).round() as i32;
        // Bands, alternating shades, labels at the top.
        for (i, b) in self.bands.iter().enumerate() {
            let shade = if i % 2 == 0 {
                Rgb888::new(236, 240, 247)
            } else {
                Rgb888::new(248, 248, 248)
            };
            let (a, z) = (px(b.from), px(b.to));
            let _ = Rectangle::new(
                Point::new(a, top),
                Size::new((z - a).max(1) as u32, ph as u32),
            )
            .into_styled(PrimitiveStyle::with_fill(shade))
            .draw(&mut c);
            let small = MonoTextStyle::new(&FONT_6X10, Rgb888::new(90, 90, 90));
            let label: String = b
                .label
                .chars()
                .take(((z - a) / 6).max(0) as usize)
                .collect();
            let _ = Text::new(
                &label,
                Point::new(a + 2, top + 10 + 10 * (i as i32 % 2)),
                small,
            )
            .draw(&mut c);
        }
        // Axes, grid and ticks.
        let grid = PrimitiveStyle::with_stroke(Rgb888::new(215, 215, 215), 1);
        let axis = PrimitiveStyle::with_stroke(Rgb888::BLACK, 1);
        let mut y = y0;
        while y <= y1 + ystep * 0.01 {
            let _ = Line::new(Point::new(left, py(y)), Point::new(left + pw, py(y)))
                .into_styled(grid)
                .draw(&mut c);
            let _ = Text::with_alignment(
                &format!("{y:.0}"),
                Point::new(left - 4, py(y) + 3),
                text,
                Alignment::Right,
            )
            .draw(&mut c);
            y += ystep;
        }
        let xstep = tick_step(x1 - x0, 8.0);
        let mut x = (x0 / xstep).ceil() * xstep;
        while x <= x1 + xstep * 0.01 {
            let _ = Line::new(Point::new(px(x), top + ph), Point::new(px(x), top + ph + 4))
                .into_styled(axis)
                .draw(&mut c);
            let _ = Text::with_alignment(
                &format!("{x:.0}"),
                Point::new(px(x), top + ph + 14),
                text,
                Alignment::Center,
            )
            .draw(&mut c);
            x += xstep;
        }
        let _ = Rectangle::new(Point::new(left, top), Size::new(pw as u32, ph as u32))
            .into_styled(axis)
            .draw(&mut c);
        // Lines.
        for (i, s) in self.series.iter().enumerate() {
            let style = PrimitiveStyle::with_stroke(PALETTE[i % PALETTE.len()], 2);
            for w in s.points.windows(2) {
                let ((xa, ya), (xb, yb)) = (w[0], w[1]);
                if [xa, ya, xb, yb].iter().all(|v| v.is_finite()) {
                    let _ = Line::new(Point::new(px(xa), py(ya)), Point::new(px(xb), py(yb)))
                        .into_styled(style)
                        .draw(&mut c);
                }
            }
            let ly = top + 8 + 14 * i as i32;
            let lx = left + pw + 10;
            let _ = Line::new(Point::new(lx, ly - 3), Point::new(lx + 18, ly - 3))
                .into_styled(style)
                .draw(&mut c);
            let _ = Text::new(&s.label, Point::new(lx + 24, ly), text).draw(&mut c);
        }
        let _ = Text::new(&self.title, Point::new(left, 14), text).draw(&mut c);
        let _ = Text::with_alignment(
            &self.x_label,
            Point::new(left + pw / 2, height as i32 - 6),
            text,
            Alignment::Center,
        )
        .draw(&mut c);
        let _ = Text::new(&self.y_label, Point::new(4, top - 6), text).draw(&mut c);
        c.0
    }

    /// Draws and writes the chart as PNG.
    pub fn save_png(&self, path: &Path, width: u32, height: u32) -> Result<(), image::ImageError> {
        self.render(width, height).save(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_lines_bands_and_legend() {
        let chart = LineChart {
            title: "PSNR over time".into(),
            x_label: "minutes".into(),
            y_label: "dB".into(),
            series: vec![
                Series {
                    label: "none".into(),
                    points: vec![(0.0, 20.0), (10.0, 21.0)],
                },
                Series {
                    label: "tv-dip".into(),
                    points: vec![(0.0, 20.0), (5.0, f32::NAN), (10.0, 35.0)],
                },
            ],
            bands: vec![Band {
                from: 0.0,
                to: 4.0,
                label: "pan".into(),
            }],
        };
        let img = chart.render(640, 320);
        let blue = img.pixels().filter(|p| p.0 == [31, 119, 180]).count();
        let grey = img.pixels().filter(|p| p.0 == [120, 120, 120]).count();
        assert!(blue > 20 && grey > 100, "blue {blue} grey {grey}");
        let band = img.pixels().filter(|p| p.0 == [236, 240, 247]).count();
        assert!(band > 1000);
        assert_eq!(tick_step(17.0, 6.0), 2.0);
        let dir = tempfile::tempdir().unwrap();
        chart.save_png(&dir.path().join("c.png"), 320, 200).unwrap();
    }
}
