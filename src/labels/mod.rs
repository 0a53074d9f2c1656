//! Labels: a record becomes a [`Label`] (plain data, never a donor's or recipient's identity), a template turns
//! it into one [`Layout`] in printer dots, and every renderer draws that same layout — ZPL II for Zebra
//! printers, PNG and SVG previews — so the preview is what the printer gets.
//!
//! Templates (`labels.toml` at the repository root is the default; a lab points `label_templates` in its policy
//! at its own file) give the label size in inches, the printer resolution (203 or 300 dpi), the Code 128 narrow
//! bar width and height in dots, the Data Matrix module size, the font heights, and which optional lines to show.
//! A template too small for an identifier's barcode at its module width is refused with the numbers, rather
//! than printing a label that cannot scan.

mod code128;
mod layout;
mod model;
mod png;
mod svg;
mod template;
mod zpl;

pub use code128::{code128_modules, code128_text};
pub use layout::{Element, Layout};
pub use model::{parse_datamatrix_payload, verify_scan, Label, VerifyError};
pub use png::render_png;
pub use svg::render_svg;
pub use template::{Template, Templates};
pub use zpl::render_zpl;

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("label templates: {0}")]
    Templates(String),
    #[error("no label template `{name}`; templates: {known}")]
    UnknownTemplate { name: String, known: String },
    #[error(
        "template {template}: the Code 128 of {id} needs {needed} dots at a {module}-dot module, but the label \
         leaves {available}; use a larger template or a higher resolution"
    )]
    TooSmall { template: String, id: String, needed: u32, available: u32, module: u32 },
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

/// Renders labels in a format: ZPL labels concatenate (one ^XA…^XZ each); PNG and SVG take one label.
pub fn render(labels: &[Label], template: &Template, format: Format, copies: u32) -> Result<Vec<u8>, LabelError> {
    let mut out = Vec::new();
    for label in labels {
        let layout = Layout::new(label, template)?;
        match format {
            Format::Zpl => out.extend(render_zpl(&layout, copies).into_bytes()),
            Format::Png => out.extend(render_png(&layout)?),
            Format::Svg => out.extend(render_svg(&layout).into_bytes()),
        }
    }
    Ok(out)
}
