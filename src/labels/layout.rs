//! One layout, in printer dots, computed once from a label and a template; ZPL, PNG and SVG all draw it, so the
//! preview is what the printer gets.
//!
//! Nothing that identifies or restricts the material is ever cut to fit: the identifier, status mark, title,
//! dates, product, volume, storage and SEC either fit or the layout is refused naming what did not fit. Only
//! the bank name and the product description are shortened (with an ellipsis) when the label is too narrow.

use datamatrix::{DataMatrix, SymbolList};

use super::code128::code128_modules;
use super::font::text_width;
use super::template::Field;
use super::{Label, LabelError, Template};

#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// Text whose top-left corner is at (x, y); `height` is the font height in dots.
    Text { x: u32, y: u32, height: u32, text: String, bold: bool },
    /// White text on a black box (status marks such as QUARANTINE).
    Reverse { x: u32, y: u32, width: u32, height: u32, text: String },
    /// Code 128 of `data`: `modules` from start to stop character (true = bar), each `module` dots wide.
    Code128 { x: u32, y: u32, module: u32, height: u32, data: String, modules: Vec<bool> },
    /// A square ECC 200 Data Matrix: `size` modules a side, `bits` row by row (true = dark).
    DataMatrix { x: u32, y: u32, module: u32, size: u32, bits: Vec<bool>, payload: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub elements: Vec<Element>,
    /// The printer-resident font ZPL text uses (None: built-in font 0).
    pub zpl_font: Option<String>,
}

/// Text inside a reverse box is drawn at 3/4 of the box height, indented by a quarter of it.
pub(crate) fn reverse_text_height(box_height: u32) -> u32 {
    box_height * 3 / 4
}

/// Cuts text to fit `width` dots, marking the cut with an ellipsis.
fn shorten(text: &str, height: u32, width: u32) -> String {
    if text_width(text, height, false) <= width {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        let mut next = out.clone();
        next.push(c);
        next.push('…');
        if text_width(&next, height, false) > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// The ECC 200 symbol of `payload` (square, smallest that holds it): (modules a side, dark modules row by row).
fn datamatrix(payload: &str) -> Result<(u32, Vec<bool>), LabelError> {
    let dm = DataMatrix::encode_str(payload, SymbolList::default().enforce_square())
        .map_err(|e| LabelError::Encode { what: format!("`{payload}` as Data Matrix"), why: format!("{e:?}") })?;
    let bitmap = dm.bitmap();
    let size = bitmap.width();
    let mut bits = vec![false; size * bitmap.height()];
    for (x, y) in bitmap.pixels() {
        if let Some(b) = bits.get_mut(y * size + x) {
            *b = true;
        }
    }
    Ok((size as u32, bits))
}

impl Layout {
    pub fn new(label: &Label, t: &Template) -> Result<Layout, LabelError> {
        let (w, h) = (t.width_dots(), t.height_dots());
        let margin = t.dpi * 6 / 100; // 0.06 in: what Zebra printers reliably print from the label edge
        let too_small = |what: String, needed: u32, available: u32| LabelError::DoesNotFit {
            template: t.name.clone(),
            what,
            needed,
            available,
        };
        label.check_product()?;
        let data = label.id.display();
        let payload = label.datamatrix_payload();
        let (size, bits) = datamatrix(&payload)?;
        let dm_dots = size * t.matrix_module_dots;
        // Quiet zones: ten modules either side of the Code 128 (ISO/IEC 15417), two around the Data Matrix (ISO/IEC
        // 16022 asks for one).
        let dm_quiet = 2 * t.matrix_module_dots;
        let dm_x = w.saturating_sub(margin + dm_dots);
        let bars = match t.code128 {
            None => None,
            Some(c) => {
                let modules = code128_modules(&data)?;
                let quiet = 10 * c.module_dots;
                let bar_x = quiet.max(margin);
                let bar_width = modules.len() as u32 * c.module_dots;
                let available = dm_x.saturating_sub(dm_quiet + quiet + bar_x);
                if bar_width > available {
                    return Err(LabelError::TooSmall {
                        template: t.name.clone(),
                        id: data,
                        needed: bar_width + 2 * quiet + dm_dots + dm_quiet + margin,
                        available: w,
                        module: c.module_dots,
                    });
                }
                Some((c, bar_x, modules))
            }
        };

        let mut el = Vec::new();
        let (small, big) = (t.small_font_dots, t.font_dots);
        let gap = (small / 3).max(2);
        let full = w.saturating_sub(2 * margin);

        // Top line: the bank, and the status mark in reverse at the right.
        let mut top_bottom = margin + small;
        let mut mark_width = 0;
        if let Some(mark) = &label.status_mark {
            let box_h = small + gap;
            mark_width = text_width(mark, reverse_text_height(box_h), true) + box_h / 2;
            if mark_width > full {
                return Err(too_small(format!("the status mark `{mark}`"), mark_width, full));
            }
            let y = margin.saturating_sub(gap / 2);
            el.push(Element::Reverse {
                x: w - margin - mark_width,
                y,
                width: mark_width,
                height: box_h,
                text: mark.clone(),
            });
            top_bottom = y + box_h;
        }
        let bank_room = full.saturating_sub(mark_width + gap);
        el.push(Element::Text {
            x: margin,
            y: margin,
            height: small,
            text: shorten(&label.bank_name, small, bank_room),
            bold: false,
        });

        // The identifier: Code 128 with its eye-readable form below, Data Matrix at the right.
        let bar_y = margin + small + gap + gap / 2;
        let dm_y = bar_y.max(top_bottom + dm_quiet);
        // Without a Code 128 the eye-readable identifier takes its place, beside the Data Matrix.
        let eye_y = match bars {
            Some((c, bar_x, modules)) => {
                el.push(Element::Code128 {
                    x: bar_x,
                    y: bar_y,
                    module: c.module_dots,
                    height: c.height_dots,
                    data,
                    modules,
                });
                bar_y + c.height_dots + gap
            }
            None => bar_y,
        };
        el.push(Element::DataMatrix { x: dm_x, y: dm_y, module: t.matrix_module_dots, size, bits, payload });
        let dm_bottom = dm_y + dm_dots + dm_quiet;
        let eye = label.id.eye_readable();
        let eye_room = if eye_y < dm_bottom { dm_x.saturating_sub(dm_quiet + margin) } else { full };
        let eye_width = text_width(&eye, big, true);
        if eye_width > eye_room {
            return Err(too_small(format!("the eye-readable identifier {eye}"), eye_width, eye_room));
        }
        el.push(Element::Text { x: margin, y: eye_y, height: big, text: eye, bold: true });
        let mut y = (eye_y + big).max(dm_y + dm_dots) + gap;

        // What it is, and until when it may be used: parts packed into lines, never cut.
        let mut lines: Vec<String> = Vec::new();
        if let Some(d) = label.product_description.as_ref().filter(|_| t.shows(Field::Description)) {
            lines.push(shorten(d, small, full));
        }
        let part = |f: Field, text: Option<String>| text.filter(|_| t.shows(f));
        let parts = [
            part(Field::Product, label.product_code.clone()),
            part(Field::Volume, label.volume_ml.map(|v| format!("{v} mL"))),
            part(Field::Expires, label.expires.map(|d| format!("EXP {d}"))),
            part(Field::Collected, label.collected.map(|d| format!("COLL {d}"))),
            part(Field::Title, Some(label.title.clone()).filter(|s| !s.trim().is_empty())),
            part(Field::Storage, label.storage.as_ref().map(|s| format!("Store {s}"))),
        ];
        let mut current = String::new();
        for p in parts.into_iter().flatten() {
            let pw = text_width(&p, small, false);
            if pw > full {
                return Err(too_small(format!("`{p}`"), pw, full));
            }
            let joined = if current.is_empty() { p.clone() } else { format!("{current}  {p}") };
            if text_width(&joined, small, false) <= full {
                current = joined;
            } else {
                lines.push(std::mem::replace(&mut current, p));
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
        if let Some(sec) = label.sec.as_ref().filter(|_| t.shows(Field::Sec)) {
            let line = format!("SEC {sec}");
            let lw = text_width(&line, small, false);
            if lw > full {
                return Err(too_small(format!("`{line}`"), lw, full));
            }
            lines.push(line);
        }
        let bottom = h.saturating_sub(margin / 2);
        let needed = y + lines.len() as u32 * (small + gap) - gap;
        if !lines.is_empty() && needed > bottom {
            let first_out = lines.iter().enumerate().find(|(i, _)| y + (*i as u32 + 1) * (small + gap) - gap > bottom);
            let what = first_out.map_or_else(|| "the text".into(), |(_, l)| format!("the line `{l}`"));
            return Err(too_small(format!("{what} (label height)"), needed, bottom));
        }
        for text in lines {
            el.push(Element::Text { x: margin, y, height: small, text, bold: false });
            y += small + gap;
        }
        Ok(Layout { width: w, height: h, elements: el, zpl_font: t.zpl_font.clone() })
    }
}
