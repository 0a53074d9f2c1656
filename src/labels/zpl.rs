//! ZPL II for Zebra printers (ZPL II Programming Guide): ^XA/^XZ label format, ^CI28 UTF-8, ^PW/^LL size,
//! ^FO field origin, ^A0 scalable font, ^FH^FD escaped field data, ^GB/^FR reverse box, ^BY/^BC Code 128
//! (automatic mode), ^BX Data Matrix ECC 200, ^PQ quantity.

use std::fmt::Write;

use super::{Element, Layout};

/// Field data with `_`, `^` and `~` written as ^FH hex escapes, so no text can end a field or inject a command.
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

pub fn render_zpl(layout: &Layout, copies: u32) -> String {
    let mut z = String::new();
    let _ = write!(z, "^XA\n^CI28\n^PW{}\n^LL{}\n^LH0,0\n", layout.width, layout.height);
    for e in &layout.elements {
        let _ = match e {
            Element::Text { x, y, height, text, bold } => {
                let width = if *bold { height * 11 / 10 } else { 0 };
                writeln!(z, "^FO{x},{y}^A0N,{height},{width}^FH^FD{}^FS", field(text))
            }
            Element::Reverse { x, y, width, height, text } => writeln!(
                z,
                "^FO{x},{y}^GB{width},{height},{height},B,0^FS\n^FO{},{}^FR^A0N,{},0^FH^FD{}^FS",
                x + height / 4,
                y + height / 8,
                height * 3 / 4,
                field(text)
            ),
            Element::Code128 { x, y, module, height, data, .. } => {
                writeln!(z, "^FO{x},{y}^BY{module},3,{height}^BCN,{height},N,N,N,A^FH^FD{}^FS", field(data))
            }
            Element::DataMatrix { x, y, module, payload, .. } => {
                writeln!(z, "^FO{x},{y}^BXN,{module},200^FH^FD{}^FS", field(payload))
            }
        };
    }
    let _ = write!(z, "^PQ{},0,1,N\n^XZ\n", copies.max(1));
    z
}
