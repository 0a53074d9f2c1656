//! The domain's enumerations, spelled as the domain spells them (and as `schema.sql` checks them).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares a closed enumeration with its text form, used alike by the CLI, the database and JSON.
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $s)] $var),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// Every value's text form, in declaration order (for pick lists and `--help`).
            pub fn names() -> impl Iterator<Item = &'static str> {
                $name::ALL.iter().map(|v| v.as_str())
            }
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let t = s.trim();
                $name::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(t)).ok_or_else(|| {
                    let valid: Vec<&str> = $name::names().collect();
                    format!("`{}` is not a valid {}; valid: {}", t, $what, valid.join(", "))
                })
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(Sex, "sex" { F = "F", M = "M" });

text_enum!(
    /// The screening panels of DOMAIN.md; `donation-day` is the questionnaire taken at each donation.
    ScreeningKind, "screening kind" {
        Questionnaire = "questionnaire", Blood = "blood", Stool = "stool", DonationDay = "donation-day",
    }
);

impl ScreeningKind {
    /// The three panels a complete negative screening consists of.
    pub const DONOR_PANELS: [ScreeningKind; 3] =
        [ScreeningKind::Questionnaire, ScreeningKind::Blood, ScreeningKind::Stool];
}

text_enum!(TestResult, "test result" { Negative = "negative", Positive = "positive", Indeterminate = "indeterminate" });
text_enum!(QcResult, "QC result" { Pass = "pass", Fail = "fail" });
text_enum!(Consent, "consent" { Signed = "signed", DataUse = "data-use" });
text_enum!(Cohort, "cohort" { Retrospective = "retrospective", Prospective = "prospective" });
text_enum!(UnitKind, "unit kind" { Dose = "dose", Retained = "retained" });

text_enum!(
    /// Where a unit stands at a given moment (derived from its dated events, never stored).
    UnitStatus, "unit status" {
        Quarantined = "quarantined", Released = "released", Expired = "expired", Dispensed = "dispensed",
        Discarded = "discarded", Recalled = "recalled", Retained = "retained",
    }
);

text_enum!(
    BatchStatus, "batch status" {
        Quarantined = "quarantined", Released = "released", Expired = "expired", Discarded = "discarded",
        Recalled = "recalled",
    }
);

text_enum!(DonorStatus, "donor status" { Eligible = "eligible", Deferred = "deferred", NotEligible = "not-eligible" });

impl Consent {
    /// Prospective patients sign informed consent; retrospective ones consent to the use of their data.
    pub fn cohort(self) -> Cohort {
        match self {
            Consent::Signed => Cohort::Prospective,
            Consent::DataUse => Cohort::Retrospective,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_valid_values_on_error() {
        assert_eq!("donation-day".parse::<ScreeningKind>(), Ok(ScreeningKind::DonationDay));
        let err = "urine".parse::<ScreeningKind>().unwrap_err();
        assert!(err.contains("questionnaire, blood, stool, donation-day"), "{err}");
    }
}
