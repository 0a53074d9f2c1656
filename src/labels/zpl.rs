//! ZPL II for Zebra printers. Commands used (ZPL II Programming Guide, Zebra P/N 45541L / P1012728):
//! - ^XA … ^XZ  start and end of a label format;
//! - ^CI28      field data is UTF-8 (so a bank's name can be in Chinese);
//! - ^PW, ^LL   print width and label length in dots; ^LH0,0 label home;
//! - ^FO x,y    field origin (top-left, in dots); ^FS field separator;
//! - ^A0N,h,w   scalable font 0, or ^A@N,h,w,d:f.x a printer-resident font (`zpl_font` in the template);
//! - ^FH ^FD    field data with `_` hex escapes, so no text can end a field or inject a command;
//! - ^GB w,h,t,B  a filled black box, and ^FR to print the status text reversed in it;
//! - ^BY w,r,h  module width for the Code 128; ^BCo,h,f,g,e,m Code 128 with no interpretation line, no UCC
//!   check digit and mode N: the field data names its subsets (>: >; >5 >6), so the bars are the preview's;
//! - ^BXo,h,s,c,r,f,g Data Matrix, ECC 200, the module size and the preview's symbol size forced (c = r);
//! - ^PQ q,p,r,o  print quantity (copies).

use std::fmt::Write;

use super::code128::code128_zpl;
use super::layout::reverse_text_height;
use super::{Element, LabelError, Layout};

/// Field data with `_`, `^` and `~` written as ^FH hex escapes (and control characters dropped), so no text can
/// end a field or inject a command.
fn field(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '_' => out.push_str("_5F"),
            '^' => out.push_str("_5E"),
            '~' => out.push_str("_7E"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn font(layout: &Layout, height: u32) -> String {
    match &layout.zpl_font {
        Some(f) => format!("^A@N,{height},0,{}", field(f)),
        None => format!("^A0N,{height},0"),
    }
}

/// Whether ZPL's built-in font 0 has a glyph for `c` under ^CI28: ASCII and Zebra Code Page 1252 (Latin-1 and
/// its additions), nothing beyond (no CJK, no ≤ or −).
fn font0_has(c: char) -> bool {
    matches!(c, ' '..='~' | '\u{A0}'..='\u{FF}') || "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ".contains(c)
}

/// The texts of a layout that the printer's font cannot draw (only known for font 0: a downloaded font named by
/// `zpl_font` is the lab's to choose), each with the characters missing. The preview draws them; the printer would
/// not, so the caller warns.
pub fn missing_glyphs(layout: &Layout) -> Vec<String> {
    if layout.zpl_font.is_some() {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for e in &layout.elements {
        let (Element::Text { text, .. } | Element::Reverse { text, .. }) = e else { continue };
        let mut missing: Vec<char> = text.chars().filter(|c| !font0_has(*c)).collect();
        missing.dedup();
        if missing.is_empty() {
            continue;
        }
        let chars: String = missing.iter().collect();
        let note = format!(
            "the printer's font 0 has no glyph for `{chars}` in `{text}`: the printed label will not show what the \
             preview shows; name a Unicode font downloaded to the printer as zpl_font in the template"
        );
        if !out.contains(&note) {
            out.push(note);
        }
    }
    out
}

/// One ^XA…^XZ label format, printed `copies` times (at least once).
pub fn render_zpl(layout: &Layout, copies: u32) -> Result<String, LabelError> {
    let mut z = String::new();
    let _ = write!(z, "^XA\n^CI28\n^PW{}\n^LL{}\n^LH0,0\n", layout.width, layout.height);
    for e in &layout.elements {
        let _ = match e {
            Element::Text { x, y, height, text, .. } => {
                writeln!(z, "^FO{x},{y}{}^FH^FD{}^FS", font(layout, *height), field(text))
            }
            Element::Reverse { x, y, width, height, text } => writeln!(
                z,
                "^FO{x},{y}^GB{width},{height},{height},B,0^FS\n^FO{},{}^FR{}^FH^FD{}^FS",
                x + height / 4,
                y + height / 8,
                font(layout, reverse_text_height(*height)),
                field(text)
            ),
            Element::Code128 { x, y, module, height, data, .. } => {
                let fd = code128_zpl(data).ok_or_else(|| LabelError::Encode {
                    what: format!("`{data}` as ZPL Code 128"),
                    why: "only 0-9, A-Z and * are printed".into(),
                })?;
                writeln!(z, "^FO{x},{y}^BY{module},3,{height}^BCN,{height},N,N,N,N^FD{fd}^FS")
            }
            Element::DataMatrix { x, y, module, size, payload, .. } => {
                // The payload is an identifier, `|` and a product code (checked by the layout): nothing ^FH or the
                // ^BX escape character (`~`, named explicitly because older firmware defaults to `_`) would touch.
                writeln!(z, "^FO{x},{y}^BXN,{module},200,{size},{size},,~^FD{payload}^FS")
            }
        };
    }
    let _ = write!(z, "^PQ{},0,1,N\n^XZ\n", copies.max(1));
    Ok(z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_data_cannot_inject_commands() {
        assert_eq!(field("a^XZ~JA_b\n"), "a_5EXZ_7EJA_5Fb");
        assert_eq!(field("南京 Stool"), "南京 Stool");
    }

    #[test]
    fn font0_covers_latin1_and_not_chinese() {
        assert!("Stool Bank München 37 °C …".chars().all(font0_has));
        assert!(!font0_has('南') && !font0_has('≤') && !font0_has('−'));
    }
}
