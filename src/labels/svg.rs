//! SVG preview: the same layout as the printer's, one user unit per printer dot.

use std::fmt::Write;

use super::font::ascent;
use super::layout::reverse_text_height;
use super::{Element, Layout};

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn render_svg(layout: &Layout) -> String {
    let (w, h) = (layout.width, layout.height);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" shape-rendering="crispEdges">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let text = |s: &mut String, x: u32, y: u32, height: u32, t: &str, bold: bool, fill: &str| {
        let weight = if bold { r#" font-weight="bold""# } else { "" };
        let _ = writeln!(
            s,
            r#"<text x="{x}" y="{}" font-family="DejaVu Sans, sans-serif" font-size="{height}"{weight} fill="{fill}">{}</text>"#,
            (y as f32 + ascent(height)).round(),
            xml(t)
        );
    };
    for e in &layout.elements {
        match e {
            Element::Text { x, y, height, text: t, bold } => text(&mut s, *x, *y, *height, t, *bold, "black"),
            Element::Reverse { x, y, width, height, text: t } => {
                let _ = writeln!(s, r#"<rect x="{x}" y="{y}" width="{width}" height="{height}" fill="black"/>"#);
                text(&mut s, x + height / 4, y + height / 8, reverse_text_height(*height), t, true, "white");
            }
            Element::Code128 { x, y, module, height, modules, .. } => {
                // One rect per bar (a run of dark modules).
                let mut i = 0;
                while i < modules.len() {
                    if modules[i] {
                        let run = modules[i..].iter().take_while(|m| **m).count();
                        let bx = x + i as u32 * module;
                        let _ = writeln!(
                            s,
                            r#"<rect x="{bx}" y="{y}" width="{}" height="{height}"/>"#,
                            run as u32 * module
                        );
                        i += run;
                    } else {
                        i += 1;
                    }
                }
            }
            Element::DataMatrix { x, y, module, size, bits, .. } => {
                for (i, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
                    let (cx, cy) = (i as u32 % size, i as u32 / size);
                    let _ = writeln!(
                        s,
                        r#"<rect x="{}" y="{}" width="{module}" height="{module}"/>"#,
                        x + cx * module,
                        y + cy * module
                    );
                }
            }
        }
    }
    s.push_str("</svg>\n");
    s
}
