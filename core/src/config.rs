//! The bank's policy: every number and code list DOMAIN.md calls a default lives here, overridable from a TOML
//! file (`stoolbank config show` prints the effective one). Defaults follow the international consensus on stool
//! banking (Gut 2019) as summarised in DOMAIN.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::followup::FollowupPolicy;
use super::model::ScreeningKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub code: String,
    pub description: String,
    /// Shelf life from preparation, frozen.
    pub shelf_life_days: i64,
    pub storage: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub bank_name: String,
    /// A complete negative screening counts for this many days before (eligibility, release rule 1) and after
    /// (release rule 2) a donation.
    pub screening_validity_days: i64,
    /// Processing must begin within this many minutes of collection (6 h; one-hour WMT protocols set 60).
    pub processing_limit_minutes: i64,
    pub donor_age_min: u32,
    pub donor_age_max: u32,
    /// A positive or indeterminate result of these tests defers the donor permanently; others defer until a
    /// later complete negative screening of the same panel.
    pub permanent_deferral_tests: Vec<String>,
    pub panels: BTreeMap<ScreeningKind, Vec<String>>,
    pub qc_required: Vec<String>,
    pub products: Vec<Product>,
    pub indications: Vec<String>,
    pub routes: Vec<String>,
    /// Release requires every unit label to have been scanned back and matched (label verification).
    pub require_label_verification: bool,
    /// Users (the `--as` name) allowed to see donor and recipient identity.
    pub identity_viewers: Vec<String>,
    /// Where labels print when no target is named: tcp://HOST:PORT, lp:QUEUE, or a device path.
    pub printer: Option<String>,
    /// The label template used when none is named (see labels.toml).
    pub label_template: String,
    /// A lab's own label template file, replacing the built-in labels.toml.
    pub label_templates: Option<String>,
    /// EU tissue-establishment code (ISO country + establishment number, e.g. DE000123): when set, labels
    /// carry the Single European Code line.
    pub sec_establishment: Option<String>,
    /// Follow-up windows, course grouping and the study's criteria.
    pub followup: FollowupPolicy,
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Default for Config {
    fn default() -> Self {
        let mut panels = BTreeMap::new();
        panels.insert(ScreeningKind::Questionnaire, strings(&["history", "risk-behaviour", "travel", "medications"]));
        panels.insert(
            ScreeningKind::Blood,
            strings(&[
                "hiv",
                "hbsag",
                "anti-hbc",
                "hcv",
                "hav-igm",
                "hev-igm",
                "syphilis",
                "htlv",
                "strongyloides",
                "cbc",
                "liver-panel",
                "kidney-panel",
                "crp",
            ]),
        );
        panels.insert(
            ScreeningKind::Stool,
            strings(&[
                "c-difficile",
                "salmonella",
                "shigella",
                "campylobacter",
                "stec",
                "yersinia",
                "vibrio",
                "h-pylori",
                "norovirus",
                "rotavirus",
                "adenovirus",
                "giardia",
                "cryptosporidium",
                "ova-parasites",
                "esbl",
                "cpe",
                "vre",
                "mrsa",
                "sars-cov-2",
            ]),
        );
        panels.insert(ScreeningKind::DonationDay, strings(&["symptoms", "antibiotics", "risk-exposure"]));
        let frozen = "frozen at -80 °C or below";
        Config {
            bank_name: "Stool Bank".into(),
            screening_validity_days: 60,
            processing_limit_minutes: 6 * 60,
            donor_age_min: 18,
            donor_age_max: 50,
            permanent_deferral_tests: strings(&["hiv", "hbsag", "hcv", "htlv"]),
            panels,
            qc_required: strings(&["appearance", "viable-count", "pathogen-screen"]),
            products: vec![
                Product {
                    code: "F0001".into(),
                    description: "Washed microbiota suspension, lower-GI delivery, frozen".into(),
                    shelf_life_days: 183,
                    storage: frozen.into(),
                },
                Product {
                    code: "F0002".into(),
                    description: "Washed microbiota suspension, upper-GI delivery (mid-gut TET, nasojejunal), frozen"
                        .into(),
                    shelf_life_days: 183,
                    storage: frozen.into(),
                },
                Product {
                    code: "F0003".into(),
                    description: "Washed microbiota capsules, frozen".into(),
                    shelf_life_days: 183,
                    storage: frozen.into(),
                },
            ],
            indications: strings(&["rCDI", "CDI", "UC", "CD", "IBS", "FC", "HE", "ASD", "EPI", "PD", "OTHER"]),
            routes: strings(&[
                "colonoscopy",
                "tet-colonic",
                "tet-midgut",
                "nasojejunal",
                "gastroscopy",
                "enema",
                "capsule",
            ]),
            require_label_verification: false,
            identity_viewers: Vec::new(),
            printer: None,
            label_template: "cryovial-2x1".into(),
            label_templates: None,
            sec_establishment: None,
            followup: FollowupPolicy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        for kind in ScreeningKind::ALL {
            if self.panel(*kind).is_empty() {
                return bad(format!("panel `{kind}` has no tests"));
            }
        }
        for p in &self.products {
            if crate::ids::ProductCode::parse(&p.code).is_err() {
                return bad(format!("product code `{}` is not a letter and four digits", p.code));
            }
            if p.shelf_life_days <= 0 {
                return bad(format!("product {} has a shelf life of {} days", p.code, p.shelf_life_days));
            }
        }
        if self.screening_validity_days <= 0 || self.processing_limit_minutes <= 0 {
            return bad("screening_validity_days and processing_limit_minutes must be positive".into());
        }
        if self.donor_age_min > self.donor_age_max {
            return bad("donor_age_min is above donor_age_max".into());
        }
        self.followup.validate().map_err(ConfigError::Invalid)?;
        Ok(())
    }

    pub fn panel(&self, kind: ScreeningKind) -> &[String] {
        self.panels.get(&kind).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn product(&self, code: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.code.eq_ignore_ascii_case(code))
    }

    /// Finds `value` in a configured code list, case-insensitively, or names the valid codes.
    pub fn code<'a>(list: &'a [String], value: &str, what: &str) -> Result<&'a str, String> {
        list.iter()
            .find(|c| c.eq_ignore_ascii_case(value.trim()))
            .map(String::as_str)
            .ok_or_else(|| format!("`{}` is not a known {what}; valid: {}", value.trim(), list.join(", ")))
    }

    pub fn may_see_identity(&self, user: &str) -> bool {
        self.identity_viewers.iter().any(|u| u == user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = Config::default();
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn partial_file_keeps_defaults_and_unknown_keys_are_refused() {
        let c = Config::from_toml("screening_validity_days = 30\nprocessing_limit_minutes = 60\n").unwrap();
        assert_eq!(c.screening_validity_days, 30);
        assert_eq!(c.qc_required, Config::default().qc_required);
        assert!(Config::from_toml("screening_days = 3").is_err());
    }

    #[test]
    fn unknown_code_names_the_valid_ones() {
        let c = Config::default();
        let err = Config::code(&c.routes, "rectal", "route").unwrap_err();
        assert!(err.contains("colonoscopy"), "{err}");
        assert_eq!(Config::code(&c.indications, "rcdi", "indication"), Ok("rCDI"));
    }
}
