//! One layout, in printer dots, computed once from a label and a template; ZPL, PNG and SVG all draw it.

use datamatrix::{DataMatrix, SymbolList};

use super::code128::code128_modules;
use super::{Label, LabelError, Template};

#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// Text whose top-left corner is at (x, y).
    Text {
        x: u32,
        y: u32,
        height: u32,
        text: String,
        bold: bool,
    },
    /// White text on a black box (status marks such as QUARANTINE).
    Reverse {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
        text: String,
    },
    Code128 {
        x: u32,
        y: u32,
        module: u32,
        height: u32,
        data: String,
        modules: Vec<bool>,
    },
    /// A square Data Matrix: `size` modules a side, `bits` row by row (true = dark).
    DataMatrix {
        x: u32,
        y: u32,
        module: u32,
        size: u32,
        bits: Vec<bool>,
        payload: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub elements: Vec<Element>,
}

/// Display width of text in dots at a height (DejaVu Sans averages about 0.6 of its height; wide East Asian
/// characters take a full em).
pub fn text_width(text: &str, height: u32) -> u32 {
    text.chars().map(|c| if is_wide(c) { height } else { height * 3 / 5 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6)
}

/// Cuts text to fit `width` dots, marking the cut with an ellipsis.
fn fit(text: &str, height: u32, width: u32) -> String {
    if text_width(text, height) <= width {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        if text_width(&out, height) + text_width(&format!("{c}…"), height) > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

impl Layout {
    pub fn new(label: &Label, t: &Template) -> Result<Layout, LabelError> {
        let (w, h) = (t.width_dots(), t.height_dots());
        let margin = t.dpi * 6 / 100; // 0.06 in
        let data = label.id.display();
        let modules = code128_modules(&data)?;
        let payload = label.datamatrix_payload();
        let dm = DataMatrix::encode_str(&payload, SymbolList::default().enforce_square())
            .map_err(|e| LabelError::Encode { what: format!("`{payload}` as Data Matrix"), why: format!("{e:?}") })?;
        let bitmap = dm.bitmap();
        let size = bitmap.width() as u32;
        let bits: Vec<bool> = {
            let mut b = vec![false; (size * size) as usize];
            for (x, y) in bitmap.pixels() {
                b[y * size as usize + x] = true;
            }
            b
        };
        let dm_dots = size * t.matrix_module_dots;
        // Quiet zones: ten modules either side of the Code 128, two around the Data Matrix.
        let quiet = 10 * t.module_dots;
        let dm_quiet = 2 * t.matrix_module_dots;
        let bar_width = modules.len() as u32 * t.module_dots;
        let available = w.saturating_sub(dm_dots + dm_quiet + margin + 2 * quiet);
        if bar_width > available {
            return Err(LabelError::TooSmall {
                template: t.name.clone(),
                id: data,
                needed: bar_width,
                available,
                module: t.module_dots,
            });
        }

        let mut el = Vec::new();
        let small = t.small_font_dots;
        let big = t.font_dots;
        let gap = (small / 3).max(2);
        // Top line: the bank, and the status mark at the right.
        let mut y = margin;
        let mark_width = label.status_mark.as_ref().map(|m| text_width(m, small) + 2 * gap).unwrap_or(0);
        let bank_room = w.saturating_sub(2 * margin + mark_width + gap);
        el.push(Element::Text {
            x: margin,
            y,
            height: small,
            text: fit(&label.bank_name, small, bank_room),
            bold: false,
        });
        if let Some(mark) = &label.status_mark {
            el.push(Element::Reverse {
                x: w - margin - mark_width,
                y: y.saturating_sub(gap / 2),
                width: mark_width,
                height: small + gap,
                text: mark.clone(),
            });
        }
        y += small + gap + gap / 2;

        // The identifier: Code 128 with its eye-readable form below, Data Matrix at the right.
        let bar_height = t.barcode_height_dots;
        el.push(Element::Code128 {
            x: quiet,
            y,
            module: t.module_dots,
            height: bar_height,
            data: data.clone(),
            modules,
        });
        el.push(Element::DataMatrix { x: w - margin - dm_dots, y, module: t.matrix_module_dots, size, bits, payload });
        let text_room = w.saturating_sub(dm_dots + dm_quiet + 2 * margin);
        y += bar_height + gap;
        el.push(Element::Text {
            x: margin,
            y,
            height: big,
            text: fit(&label.id.eye_readable(), big, text_room),
            bold: true,
        });
        y = y.max(margin + small + gap + dm_dots) + big + gap;

        // What it is, and until when it may be used.
        let line = |parts: &[Option<String>]| parts.iter().flatten().cloned().collect::<Vec<_>>().join("  ");
        let vol = label.volume_ml.map(|v| format!("{v} mL"));
        let exp = label.expires.map(|d| format!("EXP {d}"));
        let coll = label.collected.map(|d| format!("COLL {d}"));
        let mut lines = vec![line(&[label.product_code.clone(), vol, exp]), line(&[coll, Some(label.title.clone())])];
        if t.details {
            lines.insert(0, label.product_description.clone().unwrap_or_default());
            lines.push(label.storage.clone().map(|s| format!("Store {s}")).unwrap_or_default());
            lines.push(label.sec.clone().map(|s| format!("SEC {s}")).unwrap_or_default());
        }
        for text in lines.into_iter().filter(|l| !l.is_empty()) {
            if y + small > h.saturating_sub(margin / 2) {
                break;
            }
            el.push(Element::Text {
                x: margin,
                y,
                height: small,
                text: fit(&text, small, w - 2 * margin),
                bold: false,
            });
            y += small + gap;
        }
        Ok(Layout { width: w, height: h, elements: el })
    }
}
