//! The bank's policy: every number and code list DOMAIN.md calls a default lives here, overridable from a TOML
//! file (`stoolbank config show` prints the effective one). Defaults follow the international consensus on stool
//! banking (Gut 2019) as summarised in DOMAIN.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::access::{Role, LOCKOUT_AFTER, PASSWORD_MIN_LENGTH};
use super::followup::FollowupPolicy;
use super::model::ScreeningKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub code: String,
    pub description: String,
    /// Shelf life from preparation, frozen.
    pub shelf_life_days: i64,
    pub storage: String,
    /// The routes of administration this product may be given by (dispense refuses any other).
    pub routes: Vec<String>,
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
    /// A donor's age when registered: outside it, the birth date is a typing error (a bank may register
    /// candidates a little younger or older than it accepts donations from).
    pub donor_registration_age_min: u32,
    pub donor_registration_age_max: u32,
    /// The heaviest donation a bench can plausibly receive.
    pub donation_mass_g_max: f64,
    /// The largest volume of one batch's preparation.
    pub batch_volume_ml_max: f64,
    /// The most units one batch is divided into (at most the identifiers' division codes).
    pub units_per_batch_max: usize,
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
    /// The roles whose users may see donor and recipient identity.
    pub identity_viewers: Vec<Role>,
    /// Four eyes on a recall applied: a second, different user who may apply recalls countersigns it (rule
    /// `recall.four-eyes`).
    pub recall_apply_second_person: bool,
    /// The shortest password a user may set (in characters).
    pub password_min_length: usize,
    /// A user is locked out after this many failed sign-ins in a row, until an administrator re-enables them.
    pub lockout_after: u32,
    /// The TUI locks after this many minutes without a key or a scan (the user's password unlocks it).
    pub tui_idle_lock_minutes: u32,
    /// Where labels print when no target is named: `tcp://HOST:PORT`, `lp:QUEUE`, a device under
    /// `/dev/`, or `file:PATH`.
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
    list.iter().map(ToString::to_string).collect()
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
            donor_registration_age_min: 16,
            donor_registration_age_max: 70,
            donation_mass_g_max: 1000.0,
            batch_volume_ml_max: 2000.0,
            units_per_batch_max: crate::ids::MAX_UNITS_PER_BATCH,
            permanent_deferral_tests: strings(&["hiv", "hbsag", "hcv", "htlv"]),
            panels,
            qc_required: strings(&["appearance", "viable-count", "pathogen-screen"]),
            products: vec![
                Product {
                    code: "F0001".into(),
                    description: "Washed microbiota suspension, lower-GI delivery, frozen".into(),
                    shelf_life_days: 183,
                    storage: frozen.into(),
                    routes: strings(&["colonoscopy", "tet-colonic", "enema"]),
                },
                Product {
                    code: "F0002".into(),
                    description: "Washed microbiota suspension, upper-GI delivery (mid-gut TET, nasojejunal), frozen"
                        .into(),
                    shelf_life_days: 183,
                    storage: frozen.into(),
                    routes: strings(&["tet-midgut", "nasojejunal", "gastroscopy"]),
                },
                Product {
                    code: "F0003".into(),
                    description: "Washed microbiota capsules, frozen".into(),
                    shelf_life_days: 183,
                    storage: frozen.into(),
                    routes: strings(&["capsule"]),
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
            recall_apply_second_person: false,
            password_min_length: 12,
            lockout_after: 5,
            tui_idle_lock_minutes: 10,
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

    /// Every number within its range, every code list usable: a policy file's mistake is named at load, before
    /// it can overflow a computation or make every record fail a rule.
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        for kind in ScreeningKind::ALL {
            if self.panel(*kind).is_empty() {
                return bad(format!("panel `{kind}` has no tests"));
            }
        }
        let ranges: [(&str, f64, f64, f64); 12] = [
            ("screening_validity_days", self.screening_validity_days as f64, 1.0, 365.0),
            ("processing_limit_minutes", self.processing_limit_minutes as f64, 1.0, 24.0 * 60.0),
            ("donor_age_min", self.donor_age_min.into(), 16.0, 100.0),
            ("donor_age_max", self.donor_age_max.into(), 16.0, 100.0),
            ("donor_registration_age_min", self.donor_registration_age_min.into(), 0.0, 120.0),
            ("donor_registration_age_max", self.donor_registration_age_max.into(), 0.0, 120.0),
            ("donation_mass_g_max", self.donation_mass_g_max, 1.0, 5000.0),
            ("batch_volume_ml_max", self.batch_volume_ml_max, 1.0, 10_000.0),
            ("units_per_batch_max", self.units_per_batch_max as f64, 1.0, crate::ids::MAX_UNITS_PER_BATCH as f64),
            (
                "password_min_length",
                self.password_min_length as f64,
                PASSWORD_MIN_LENGTH.0 as f64,
                PASSWORD_MIN_LENGTH.1 as f64,
            ),
            ("lockout_after", self.lockout_after.into(), LOCKOUT_AFTER.0.into(), LOCKOUT_AFTER.1.into()),
            // A working shift at most: a bench left longer than that unlocked is no lock.
            ("tui_idle_lock_minutes", self.tui_idle_lock_minutes.into(), 1.0, 480.0),
        ];
        for (key, value, min, max) in ranges {
            // `!(..)` so that NaN is out of range too.
            if !(value >= min && value <= max) {
                return bad(format!("{key} = {value} is out of range; it must be {min} to {max}"));
            }
        }
        if self.donor_age_min > self.donor_age_max {
            return bad("donor_age_min is above donor_age_max".into());
        }
        if self.donor_registration_age_min > self.donor_registration_age_max {
            return bad("donor_registration_age_min is above donor_registration_age_max".into());
        }
        for p in &self.products {
            if crate::ids::ProductCode::parse(&p.code).is_err() {
                return bad(format!("product code `{}` is not a letter and four digits", p.code));
            }
            if !(1..=3650).contains(&p.shelf_life_days) {
                return bad(format!(
                    "product {}: shelf_life_days = {} is out of range; it must be 1 to 3650",
                    p.code, p.shelf_life_days
                ));
            }
            if p.routes.is_empty() {
                return bad(format!("product {} names no routes; valid routes: {}", p.code, self.routes.join(", ")));
            }
            if let Some(r) = p.routes.iter().find(|r| !self.routes.contains(r)) {
                return bad(format!(
                    "product {} names route `{r}`, not in routes ({})",
                    p.code,
                    self.routes.join(", ")
                ));
            }
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

    /// The policy with a bench's own settings over it.
    pub fn with_bench(mut self, bench: &BenchPrefs) -> Config {
        if let Some(p) = &bench.printer {
            self.printer = Some(p.clone());
        }
        if let Some(t) = &bench.label_template {
            self.label_template.clone_from(t);
        }
        self
    }
}

/// A bench's own settings, from `--config`, `$STOOLBANK_CONFIG` or `stoolbank.toml`: which printer stands beside
/// it and the label template it takes. Never a rule: the bank's policy (numbers, panels, products, who may see
/// identity) is stored in the bank, and changed only by an administrator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BenchPrefs {
    pub printer: Option<String>,
    pub label_template: Option<String>,
}

impl BenchPrefs {
    /// The keys a bench file may set.
    pub const KEYS: &'static [&'static str] = &["printer", "label_template"];

    /// A bench file; one that sets a rule of the bank's policy is refused, naming the keys.
    pub fn from_toml(text: &str) -> Result<BenchPrefs, ConfigError> {
        let table: toml::Table = toml::from_str(text)?;
        let rules: Vec<&str> = table.keys().map(String::as_str).filter(|k| !Self::KEYS.contains(k)).collect();
        if !rules.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "this file sets {}: the bank's rules are stored in the bank (an administrator imports them with \
                 `stoolbank config set FILE`); a bench file may set only {}",
                rules.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
                Self::KEYS.join(", ")
            )));
        }
        Ok(toml::from_str(text)?)
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
    fn numbers_out_of_range_are_named_with_their_range() {
        let err = Config::from_toml("processing_limit_minutes = 153722867280912").unwrap_err().to_string();
        assert_eq!(
            err,
            "configuration: processing_limit_minutes = 153722867280912 is out of range; it must be 1 to 1440"
        );
        let err = Config::from_toml("donation_mass_g_max = nan").unwrap_err().to_string();
        assert!(err.contains("donation_mass_g_max = NaN is out of range"), "{err}");
        let err = Config::from_toml("screening_validity_days = 0").unwrap_err().to_string();
        assert!(err.contains("screening_validity_days = 0 is out of range; it must be 1 to 365"), "{err}");
    }

    #[test]
    fn a_product_names_known_routes() {
        let mut c = Config::default();
        c.products[0].routes = vec!["rectal".into()];
        let err = Config::from_toml(&c.to_toml()).unwrap_err().to_string();
        assert!(err.contains("product F0001 names route `rectal`"), "{err}");
    }

    #[test]
    fn a_bench_file_sets_no_rule() {
        let b = BenchPrefs::from_toml("printer = \"tcp://10.0.0.5:9100\"\n").unwrap();
        assert_eq!(Config::default().with_bench(&b).printer.as_deref(), Some("tcp://10.0.0.5:9100"));
        let err = BenchPrefs::from_toml("identity_viewers = [\"technician\"]\nprinter = \"lp:z\"").unwrap_err();
        assert!(err.to_string().contains("sets `identity_viewers`: the bank's rules are stored in the bank"), "{err}");
    }

    #[test]
    fn access_numbers_have_ranges() {
        let err = Config::from_toml("password_min_length = 4").unwrap_err().to_string();
        assert!(err.contains("password_min_length = 4 is out of range; it must be 8 to 128"), "{err}");
        assert!(Config::from_toml("lockout_after = 0").is_err());
        assert!(Config::from_toml("tui_idle_lock_minutes = 0").is_err());
        assert_eq!(Config::from_toml("tui_idle_lock_minutes = 3").unwrap().tui_idle_lock_minutes, 3);
        assert!(Config::from_toml("identity_viewers = [\"nobody\"]").is_err());
        assert!(!Config::default().recall_apply_second_person);
        assert!(Config::from_toml("recall_apply_second_person = true").unwrap().recall_apply_second_person);
        assert!(Config::from_toml("recall_apply_second_person = \"yes\"").is_err());
        assert!(Config::default().to_toml().contains("recall_apply_second_person = false"));
    }

    #[test]
    fn unknown_code_names_the_valid_ones() {
        let c = Config::default();
        let err = Config::code(&c.routes, "rectal", "route").unwrap_err();
        assert!(err.contains("colonoscopy"), "{err}");
        assert_eq!(Config::code(&c.indications, "rcdi", "indication"), Ok("rCDI"));
    }
}
