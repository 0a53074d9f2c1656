//! Label templates from a TOML file a lab can edit (`labels.toml` is the default, compiled in). Every template
//! is checked when the file is loaded — sizes, resolution, and whether the longest identifier's Code 128 and
//! Data Matrix fit at the configured module sizes — so a bad template is refused with numbers before anything
//! is printed.

use serde::Deserialize;

use super::{Label, LabelError, Layout};
use crate::core::ids::{division_code, Facility, Id, ProductCode};

/// Optional lines a template can show (the bank name, status mark, barcodes and eye-readable identifier are
/// always on the label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// Product description, e.g. "Washed microbiota suspension, lower-GI delivery, frozen".
    Description,
    /// Product code, e.g. F0001.
    Product,
    Volume,
    Expires,
    Collected,
    /// What the item is, e.g. WASHED MICROBIOTA or RETAINED SAMPLE - NOT FOR CLINICAL USE.
    Title,
    Storage,
    /// The EU Single European Code line, when the label has one.
    Sec,
}

const DEFAULT_FIELDS: &[Field] = &[Field::Product, Field::Volume, Field::Expires, Field::Collected, Field::Title];

/// One label template. Sizes are normalised to inches; everything else is in printer dots.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawTemplate")]
pub struct Template {
    pub name: String,
    pub width_in: f64,
    pub height_in: f64,
    pub dpi: u32,
    /// The Code 128's size; None when the template prints the Data Matrix alone (`code128 = false`).
    pub code128: Option<Code128Size>,
    pub matrix_module_dots: u32,
    pub font_dots: u32,
    pub small_font_dots: u32,
    pub fields: Vec<Field>,
    /// A printer-resident font for ZPL text (e.g. `E:NOTOSANSCJK.TTF`, downloaded to the printer), used through
    /// ^A@ instead of the built-in font 0, which has no Chinese glyphs.
    pub zpl_font: Option<String>,
}

/// The Code 128 of a template, in dots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code128Size {
    /// The narrow bar: at least two dots, so that thermal dot gain (a third of a dot each side) leaves a gap.
    pub module_dots: u32,
    pub height_dots: u32,
}

/// The template as written in the file: size in inches or millimetres.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    name: String,
    width_in: Option<f64>,
    height_in: Option<f64>,
    width_mm: Option<f64>,
    height_mm: Option<f64>,
    dpi: u32,
    code128: Option<bool>,
    module_dots: Option<u32>,
    barcode_height_dots: Option<u32>,
    matrix_module_dots: u32,
    font_dots: u32,
    small_font_dots: u32,
    fields: Option<Vec<Field>>,
    zpl_font: Option<String>,
}

fn inches(name: &str, what: &str, inch: Option<f64>, mm: Option<f64>) -> Result<f64, String> {
    match (inch, mm) {
        (Some(i), None) => Ok(i),
        (None, Some(m)) => Ok(m / 25.4),
        (Some(_), Some(_)) => Err(format!("template {name}: give {what}_in or {what}_mm, not both")),
        (None, None) => Err(format!("template {name}: {what}_in or {what}_mm is missing")),
    }
}

impl TryFrom<RawTemplate> for Template {
    type Error = String;

    fn try_from(r: RawTemplate) -> Result<Template, String> {
        let code128 = match (r.code128.unwrap_or(true), r.module_dots, r.barcode_height_dots) {
            (true, Some(module_dots), Some(height_dots)) => Some(Code128Size { module_dots, height_dots }),
            (true, None, _) | (true, _, None) => {
                return Err(format!(
                    "template {}: module_dots and barcode_height_dots size the Code 128 (or set code128 = false to \
                     print the Data Matrix alone)",
                    r.name
                ))
            }
            (false, None, None) => None,
            (false, _, _) => {
                return Err(format!(
                    "template {}: code128 = false prints no Code 128, so module_dots and barcode_height_dots do not \
                     apply; remove them",
                    r.name
                ))
            }
        };
        let t = Template {
            width_in: inches(&r.name, "width", r.width_in, r.width_mm)?,
            height_in: inches(&r.name, "height", r.height_in, r.height_mm)?,
            name: r.name,
            dpi: r.dpi,
            code128,
            matrix_module_dots: r.matrix_module_dots,
            font_dots: r.font_dots,
            small_font_dots: r.small_font_dots,
            fields: r.fields.unwrap_or_else(|| DEFAULT_FIELDS.to_vec()),
            zpl_font: r.zpl_font.filter(|f| !f.trim().is_empty()),
        };
        t.validate()?;
        Ok(t)
    }
}

impl Template {
    pub fn width_dots(&self) -> u32 {
        (self.width_in * f64::from(self.dpi)).round() as u32
    }

    pub fn height_dots(&self) -> u32 {
        (self.height_in * f64::from(self.dpi)).round() as u32
    }

    pub fn shows(&self, f: Field) -> bool {
        self.fields.contains(&f)
    }

    fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        if n.trim().is_empty() {
            return Err("a template has an empty name".into());
        }
        if !matches!(self.dpi, 203 | 300) {
            return Err(format!("template {n}: dpi {} (Zebra printers here are 203 or 300 dpi)", self.dpi));
        }
        if !(0.5..=8.0).contains(&self.width_in) || !(0.25..=12.0).contains(&self.height_in) {
            return Err(format!(
                "template {n}: {:.2}×{:.2} in is out of range (0.5–8 in wide, 0.25–12 in high)",
                self.width_in, self.height_in
            ));
        }
        let bars = self.code128.map_or([None, None], |c| {
            [Some(("module_dots", c.module_dots, 2, 10)), Some(("barcode_height_dots", c.height_dots, 10, 2000))]
        });
        let sizes = bars.into_iter().flatten().chain([
            ("matrix_module_dots", self.matrix_module_dots, 2, 40),
            ("font_dots", self.font_dots, 8, 400),
            ("small_font_dots", self.small_font_dots, 8, 400),
        ]);
        for (what, v, lo, hi) in sizes {
            if !(lo..=hi).contains(&v) {
                // One-dot bars and modules close up under thermal dot gain (each dot spreads by about a third).
                let why = if v < lo { "; a one-dot bar or module does not survive thermal dot gain" } else { "" };
                return Err(format!("template {n}: {what} = {v} (allowed {lo} to {hi}){why}"));
            }
        }
        Ok(())
    }

    /// What a user of this template must know when it loads: a label without a Code 128 needs a 2D imager.
    pub fn notice(&self) -> Option<String> {
        self.code128.is_none().then(|| {
            format!(
                "template {}: the identifier is carried by the Data Matrix alone (code128 = false; its Code 128 does \
                 not fit at 2-dot bars): scan these labels with a 2D imager",
                self.name
            )
        })
    }

    /// Lays out the widest label this template must hold (a unit identifier whose Code 128 is longest, with its
    /// product and every optional line), so a template too small is refused when it is loaded.
    pub fn check_fits(&self) -> Result<(), LabelError> {
        Layout::new(&worst_case_label(), self).map(|_| ())
    }
}

/// A unit label whose Code 128 has the most modules among unit identifiers (the longest identifiers), with
/// every field filled.
fn worst_case_label() -> Label {
    let product = ProductCode::parse("F0001").ok();
    let mut best: Option<(usize, Id)> = None;
    for fac in ["G0000", "10000"] {
        let Ok(f) = Facility::parse(fac) else { continue };
        for div in [division_code(0).unwrap_or_default(), "00".to_string()] {
            // Varying the sequence varies the check character (digit, letter or `*`).
            for seq in 0..40 {
                let Some(p) = product.as_ref() else { continue };
                let id = Id::unit(&Id::batch(&Id::donation(&f, 26, seq), p), &div);
                let n = super::code128_modules(&id.display()).map_or(0, |m| m.len());
                if best.as_ref().is_none_or(|(m, _)| n > *m) {
                    best = Some((n, id));
                }
            }
        }
    }
    // The facility and product codes above are valid, so `best` is always found.
    let id = best.map_or_else(|| Id::donor(0), |(_, id)| id);
    Label {
        id,
        title: "RETAINED SAMPLE - NOT FOR CLINICAL USE".into(),
        product_code: Some("F0001".into()),
        product_description: Some("Washed microbiota suspension".into()),
        volume_ml: Some(100.0),
        collected: chrono::NaiveDate::from_ymd_opt(2026, 12, 28),
        expires: chrono::NaiveDate::from_ymd_opt(2027, 6, 28),
        storage: Some("≤ −80 °C".into()),
        bank_name: "Stool Bank".into(),
        status_mark: Some("QUARANTINE".into()),
        sec: Some("DE000123 G151726000001 AF000100 20270628".into()),
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    pub template: Vec<Template>,
}

const DEFAULT: &str = include_str!("../../labels.toml");

impl Templates {
    /// The built-in templates (`labels.toml`, checked by a unit test so this never comes back empty).
    pub fn builtin() -> Templates {
        Templates::from_toml(DEFAULT).unwrap_or(Templates { template: Vec::new() })
    }

    pub fn from_toml(text: &str) -> Result<Templates, LabelError> {
        let t: Templates = toml::from_str(text).map_err(|e| LabelError::Templates(e.to_string()))?;
        if t.template.is_empty() {
            return Err(LabelError::Templates("no [[template]] defined".into()));
        }
        for (i, tpl) in t.template.iter().enumerate() {
            if t.template[..i].iter().any(|o| o.name == tpl.name) {
                return Err(LabelError::Templates(format!("template {} is defined twice", tpl.name)));
            }
            tpl.check_fits()?;
        }
        Ok(t)
    }

    /// The built-in templates, or a lab's file.
    pub fn load(path: Option<&str>) -> Result<Templates, LabelError> {
        match path {
            None => Templates::from_toml(DEFAULT),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| LabelError::Templates(format!("{p}: {e}")))?;
                Templates::from_toml(&text).map_err(|e| match e {
                    LabelError::Templates(why) => LabelError::Templates(format!("{p}: {why}")),
                    other => other,
                })
            }
        }
    }

    pub fn get(&self, name: &str) -> Result<&Template, LabelError> {
        self.template.iter().find(|t| t.name == name).ok_or_else(|| LabelError::UnknownTemplate {
            name: name.into(),
            known: self.template.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = "[[template]]\nname = \"tiny\"\nwidth_in = 1.0\nheight_in = 0.5\ndpi = 203\nmodule_dots = 2\n\
                        barcode_height_dots = 30\nmatrix_module_dots = 2\nfont_dots = 12\nsmall_font_dots = 10\n";

    #[test]
    fn builtin_templates_load() {
        let t = Templates::from_toml(DEFAULT).unwrap();
        assert_eq!(t, Templates::builtin());
        assert_eq!(t.get("cryovial-2x1").unwrap().width_dots(), 406);
        assert_eq!(t.get("bag-4x2-300").unwrap().height_dots(), 600);
        let err = t.get("a4").unwrap_err().to_string();
        assert!(err.contains("no label template `a4`") && err.contains("cryovial-2x1"), "{err}");
    }

    #[test]
    fn millimetres_and_fields() {
        let toml = TINY
            .replace("width_in = 1.0", "width_mm = 101.6")
            .replace("height_in = 0.5", "height_mm = 50.8\nfields = [\"expires\", \"title\"]");
        let t = Templates::from_toml(&toml).unwrap();
        let t = t.get("tiny").unwrap();
        assert_eq!((t.width_dots(), t.height_dots()), (812, 406));
        assert!(t.shows(Field::Expires) && !t.shows(Field::Volume));
    }

    #[test]
    fn bad_templates_are_refused_with_reasons() {
        let err = |toml: &str| Templates::from_toml(toml).unwrap_err().to_string();
        assert!(err("[[template]]\nname='x'\n").contains("missing field"));
        let e = err(TINY);
        assert!(e.contains("template tiny") && e.contains("Code 128") && e.contains("dots"), "{e}");
        let e = err(&TINY.replace("dpi = 203", "dpi = 150"));
        assert!(e.contains("dpi 150"), "{e}");
        let e = err(&TINY.replace("\nmodule_dots = 2\n", "\nmodule_dots = 1\n"));
        assert!(e.contains("module_dots = 1 (allowed 2 to 10)") && e.contains("dot gain"), "{e}");
        let e = err(&TINY.replace("\nmodule_dots = 2\n", "\ncode128 = false\nmodule_dots = 2\n"));
        assert!(e.contains("code128 = false prints no Code 128"), "{e}");
        let e = err(&TINY.replace("width_in = 1.0", "width_in = 1.0\nwidth_mm = 25.4"));
        assert!(e.contains("not both"), "{e}");
        let e = err(&TINY.replace("dpi = 203", "dpi = 203\ncolour = 'red'"));
        assert!(e.contains("colour"), "{e}");
        let first = DEFAULT.split("[[template]]").nth(1).unwrap_or_default();
        let e = err(&format!("{DEFAULT}\n[[template]]{first}"));
        assert!(e.contains("template cryovial-2x1 is defined twice"), "{e}");
    }
}
