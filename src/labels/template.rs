//! Label templates from a TOML file a lab can edit (`labels.toml` is the default, compiled in).

use serde::{Deserialize, Serialize};

use super::LabelError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub width_in: f64,
    pub height_in: f64,
    pub dpi: u32,
    pub module_dots: u32,
    pub barcode_height_dots: u32,
    pub matrix_module_dots: u32,
    pub font_dots: u32,
    pub small_font_dots: u32,
    #[serde(default)]
    pub details: bool,
}

impl Template {
    pub fn width_dots(&self) -> u32 {
        (self.width_in * self.dpi as f64).round() as u32
    }

    pub fn height_dots(&self) -> u32 {
        (self.height_in * self.dpi as f64).round() as u32
    }

    fn validate(&self) -> Result<(), String> {
        if !matches!(self.dpi, 203 | 300 | 600) {
            return Err(format!("{}: dpi {} (203, 300 or 600)", self.name, self.dpi));
        }
        if !(0.5..=8.0).contains(&self.width_in) || !(0.25..=8.0).contains(&self.height_in) {
            return Err(format!("{}: size {}×{} in is out of range", self.name, self.width_in, self.height_in));
        }
        let positive =
            [self.module_dots, self.barcode_height_dots, self.matrix_module_dots, self.font_dots, self.small_font_dots];
        if positive.contains(&0) {
            return Err(format!("{}: every dot size must be positive", self.name));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    pub template: Vec<Template>,
}

const DEFAULT: &str = include_str!("../../labels.toml");

impl Templates {
    pub fn builtin() -> Templates {
        Templates::from_toml(DEFAULT).unwrap_or(Templates { template: Vec::new() })
    }

    pub fn from_toml(text: &str) -> Result<Templates, LabelError> {
        let t: Templates = toml::from_str(text).map_err(|e| LabelError::Templates(e.to_string()))?;
        if t.template.is_empty() {
            return Err(LabelError::Templates("no [[template]] defined".into()));
        }
        for tpl in &t.template {
            tpl.validate().map_err(LabelError::Templates)?;
        }
        Ok(t)
    }

    /// The built-in templates, or a lab's file.
    pub fn load(path: Option<&str>) -> Result<Templates, LabelError> {
        match path {
            None => Templates::from_toml(DEFAULT),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| LabelError::Templates(format!("{p}: {e}")))?;
                Templates::from_toml(&text)
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

    #[test]
    fn builtin_templates_load() {
        let t = Templates::builtin();
        assert_eq!(t.get("cryovial-2x1").unwrap().width_dots(), 406);
        assert_eq!(t.get("bag-4x2-300").unwrap().height_dots(), 600);
        assert!(matches!(t.get("a4"), Err(LabelError::UnknownTemplate { .. })));
        assert!(Templates::from_toml("[[template]]\nname='x'\n").is_err());
    }
}
