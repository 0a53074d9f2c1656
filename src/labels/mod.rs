//! Labels: a record becomes a [`Label`] (plain data, never a donor's or recipient's identity), a [`Template`]
//! turns it into one [`Layout`] in printer dots, and every renderer draws that same layout — ZPL II for Zebra
//! printers ([`render_zpl`]), PNG and SVG previews ([`render_png`], [`render_svg`]) — so the preview is what the
//! printer gets, bar for bar (the ZPL names the same Code 128 character sets and the same Data Matrix size).
//!
//! The Code 128 carries exactly `id.display()` (the compact identifier with its check character); the Data
//! Matrix carries it too, followed by `|` and the product code (see [`parse_datamatrix_payload`]).
//!
//! # Templates
//! `labels.toml` at the repository root is the default (compiled in); a lab points `label_templates` in its
//! policy at its own copy. Each `[[template]]` has:
//! - `name` — what `--template` and the policy's `label_template` name, e.g. `cryovial-2x1`, `bag-4x2`;
//! - `width_in`/`height_in` or `width_mm`/`height_mm` — the label size;
//! - `dpi` — the printer's resolution, 203 or 300 (8 or 12 dots/mm);
//! - `code128` — false for no Code 128: the Data Matrix alone carries the identifier (for labels too narrow for
//!   the Code 128 at 2-dot bars), and every render says so ([`Template::notice`]);
//! - `module_dots` — the Code 128 narrow bar in dots, at least 2 (thermal dot gain closes one-dot gaps);
//! - `barcode_height_dots` — the Code 128 bar height;
//! - `matrix_module_dots` — the Data Matrix module in dots, at least 2;
//! - `font_dots`, `small_font_dots` — the eye-readable identifier's height, and every other line's;
//! - `fields` — optional lines, in any order: `description`, `product`, `volume`, `expires`, `collected`,
//!   `title`, `storage`, `sec` (default: product, volume, expires, collected, title). The bank name, status
//!   mark, both barcodes and the eye-readable identifier are always printed;
//! - `zpl_font` — optional printer-resident font for ZPL text (e.g. `E:NOTOSANSCJK.TTF`): font 0, the default,
//!   has no Chinese glyphs.
//!
//! Loading checks every template against the longest identifier (a unit): a template whose Code 128 (with its
//! ten-module quiet zones), Data Matrix, eye-readable identifier or lines do not fit is refused with the numbers
//! — a label that cannot scan is never printed. [`render`] also warns of text the printer's font 0 cannot draw.

mod code128;
mod font;
mod layout;
mod model;
mod png;
mod svg;
mod template;
mod zpl;

pub use code128::{code128_modules, code128_text, code128_zpl};
pub use font::text_width;
pub use layout::{Element, Layout};
pub use model::{parse_datamatrix_payload, Label, PayloadError, PAYLOAD_SEPARATOR};
pub use png::render_png;
pub use svg::render_svg;
pub use template::{Code128Size, Field, Template, Templates};
pub use zpl::{missing_glyphs, render_zpl};

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("label templates: {0}")]
    Templates(String),
    #[error("no label template `{name}`; templates: {known}")]
    UnknownTemplate { name: String, known: String },
    #[error(
        "template {template} is too small for the barcodes of {id}: at a {module}-dot Code 128 module, with its \
         quiet zones and the Data Matrix, they need {needed} dots across but the label is {available}; use a \
         larger template, a higher resolution, or code128 = false to print the Data Matrix alone"
    )]
    TooSmall { template: String, id: String, needed: u32, available: u32, module: u32 },
    #[error("template {template}: {what} does not fit ({needed} dots needed, {available} available)")]
    DoesNotFit { template: String, what: String, needed: u32, available: u32 },
    #[error("label data: {0}")]
    Payload(#[from] PayloadError),
    #[error("cannot encode {what}: {why}")]
    Encode { what: String, why: String },
    #[error("cannot write PNG: {0}")]
    Png(String),
}

/// The output formats of `stoolbank label`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Zpl,
    Png,
    Svg,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Zpl, Format::Png, Format::Svg];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Zpl => "zpl",
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zpl" => Ok(Format::Zpl),
            "png" => Ok(Format::Png),
            "svg" => Ok(Format::Svg),
            other => Err(format!("`{other}` is not a label format; valid: zpl, png, svg")),
        }
    }
}

/// Labels rendered, with what the user must know about them: the template's notice (a label without a Code
/// 128) and text the printer's font cannot draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub warnings: Vec<String>,
}

/// Renders labels in a format: ZPL labels concatenate (one ^XA…^XZ each); PNG and SVG take one label. The
/// warnings are the same whatever the format: a preview is checked for what the printer would do.
pub fn render(labels: &[Label], template: &Template, format: Format, copies: u32) -> Result<Rendered, LabelError> {
    let mut bytes = Vec::new();
    let mut warnings: Vec<String> = template.notice().into_iter().collect();
    for label in labels {
        let layout = Layout::new(label, template)?;
        for w in missing_glyphs(&layout) {
            let w = format!("template {}: {w}", template.name);
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        match format {
            Format::Zpl => bytes.extend(render_zpl(&layout, copies)?.into_bytes()),
            Format::Png => bytes.extend(render_png(&layout)?),
            Format::Svg => bytes.extend(render_svg(&layout).into_bytes()),
        }
    }
    Ok(Rendered { bytes, warnings })
}
