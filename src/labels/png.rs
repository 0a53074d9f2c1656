//! PNG preview: the layout rasterised at the printer's resolution (one pixel per dot), 8-bit grey. Text uses
//! the embedded `DejaVu` Sans, a system CJK font for characters `DejaVu` lacks, and an empty box where no font has
//! the glyph (see `font`) — never a panic.

use ab_glyph::{point, Font, GlyphId, PxScale, ScaleFont};

use super::font::{self, Face};
use super::layout::reverse_text_height;
use super::{Element, LabelError, Layout};

struct Canvas {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

impl Canvas {
    fn rect(&mut self, x: u32, y: u32, w: u32, h: u32, v: u8) {
        for yy in y..(y + h).min(self.h) {
            for xx in x..(x + w).min(self.w) {
                self.px[(yy * self.w + xx) as usize] = v;
            }
        }
    }

    /// Blends ink into a pixel by coverage.
    fn ink(&mut self, x: i64, y: i64, coverage: f32, ink: u8) {
        if x < 0 || y < 0 || x >= i64::from(self.w) || y >= i64::from(self.h) {
            return;
        }
        let p = &mut self.px[(y as u32 * self.w + x as u32) as usize];
        let c = coverage.clamp(0.0, 1.0);
        *p = (f32::from(*p) * (1.0 - c) + f32::from(ink) * c).round() as u8;
    }

    fn glyph<F: Font>(&mut self, font: &F, id: GlyphId, scale: PxScale, x: f32, baseline: f32, ink: u8) -> f32 {
        let scaled = font.as_scaled(scale);
        let glyph = id.with_scale_and_position(scale, point(x, baseline));
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|gx, gy, c| self.ink(b.min.x as i64 + i64::from(gx), b.min.y as i64 + i64::from(gy), c, ink));
        }
        scaled.h_advance(id)
    }

    fn text(&mut self, x: u32, y: u32, height: u32, text: &str, bold: bool, ink: u8) {
        let scale = PxScale::from(height as f32);
        let baseline = y as f32 + font::ascent(height);
        let mut caret = x as f32;
        for c in text.chars() {
            let advance = match font::face(c) {
                Face::Latin(id) => match font::latin() {
                    Some(f) => {
                        if bold {
                            self.glyph(f, id, scale, caret + 1.0, baseline, ink);
                        }
                        self.glyph(f, id, scale, caret, baseline, ink)
                    }
                    None => font::missing_width(height),
                },
                Face::Cjk(id) => match font::cjk() {
                    Some(f) => self.glyph(f, id, scale, caret, baseline, ink),
                    None => font::missing_width(height),
                },
                Face::Missing => {
                    // No font has it: an empty box the size of the character, so the gap is visible.
                    let side = height * 7 / 10;
                    let (bx, by) = (caret as u32, y + height / 5);
                    self.rect(bx, by, side, 1, ink);
                    self.rect(bx, by + side, side, 1, ink);
                    self.rect(bx, by, 1, side, ink);
                    self.rect(bx + side, by, 1, side + 1, ink);
                    font::missing_width(height)
                }
            };
            caret += advance;
        }
    }
}

pub fn render_png(layout: &Layout) -> Result<Vec<u8>, LabelError> {
    let mut c = Canvas { w: layout.width, h: layout.height, px: vec![255; (layout.width * layout.height) as usize] };
    for e in &layout.elements {
        match e {
            Element::Text { x, y, height, text, bold } => c.text(*x, *y, *height, text, *bold, 0),
            Element::Reverse { x, y, width, height, text } => {
                c.rect(*x, *y, *width, *height, 0);
                c.text(x + height / 4, y + height / 8, reverse_text_height(*height), text, true, 255);
            }
            Element::Code128 { x, y, module, height, modules, .. } => {
                for (i, _) in modules.iter().enumerate().filter(|(_, m)| **m) {
                    c.rect(x + i as u32 * module, *y, *module, *height, 0);
                }
            }
            Element::DataMatrix { x, y, module, size, bits, .. } => {
                for (i, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
                    c.rect(x + (i as u32 % size) * module, y + (i as u32 / size) * module, *module, *module, 0);
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, c.w, c.h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| LabelError::Png(e.to_string()))?;
        w.write_image_data(&c.px).map_err(|e| LabelError::Png(e.to_string()))?;
    }
    Ok(out)
}
