//! What the operations return: plain, serialisable views (the CLI prints them as text or JSON, the TUI renders
//! them). Statuses are derived as of the moment asked.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::core::ids::{Id, IdKind};
use crate::core::model::{BatchStatus, DonorStatus, ScreeningKind, TestResult, UnitKind, UnitStatus};
use crate::core::rules::{Check, Eligibility};
use crate::store::audit::Verification;
use crate::store::batches::{Donation, QcRow, Unit};
use crate::store::donors::Identity;
use crate::store::recalls::RecallContact;
use crate::store::recipients::Recipient;
use crate::store::{Malformed, StoreError, Stored};

use super::{AppError, Result};

/// A value derived from stored facts (a status, a rule's verdict), or the malformed fact it could not be derived
/// from, shown marked in its place; any other error stands.
pub(super) fn marked<T>(derived: Result<T>) -> Result<Stored<T>> {
    match derived {
        Ok(v) => Ok(Stored::Read(v)),
        Err(AppError::Store(StoreError::Malformed(m))) => Ok(Stored::malformed(m)),
        Err(e) => Err(e),
    }
}

/// A record that a stored reference names (looked up as stored, malformed or not) is not there.
pub(super) fn dangling(kind: IdKind, reference: &Stored<Id>) -> AppError {
    AppError::NotFound { kind: super::Record::Id(kind), id: reference.to_string() }
}

impl From<Malformed> for AppError {
    fn from(m: Malformed) -> Self {
        AppError::Store(m.into())
    }
}

/// Fields read from the file are [`Stored`]: a malformed one is shown marked (`⚠ malformed "…"`, in JSON
/// `{"malformed": "…"}`), as is a status derived from it; the record is never left out.
#[derive(Debug, Clone, Serialize)]
pub struct UnitView {
    pub id: Stored<Id>,
    pub batch: Stored<Id>,
    pub kind: Stored<UnitKind>,
    pub status: Stored<UnitStatus>,
    pub location: Option<String>,
    pub expires_on: Stored<NaiveDate>,
    pub recipient: Option<Stored<Id>>,
    pub dispensed_at: Option<Stored<DateTime<Utc>>>,
    pub route: Option<String>,
    pub clinician: Option<String>,
    pub label_verified: Stored<bool>,
}

impl UnitView {
    /// The unit's view, its values moved into it (an answer shows thousands of units).
    pub fn new(u: Unit, at: DateTime<Utc>) -> UnitView {
        let status = u.status(at);
        let (recipient, dispensed_at, route, clinician) = match u.dispense {
            Some(d) => (Some(d.recipient), Some(d.at), Some(d.route), d.clinician),
            None => (None, None, None, None),
        };
        UnitView {
            id: u.id,
            batch: u.batch,
            kind: u.kind,
            status,
            location: u.location,
            expires_on: u.expires_on,
            recipient,
            dispensed_at,
            route,
            clinician,
            label_verified: u.label_verified_at.map(|v| v.is_some()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchView {
    pub id: Stored<Id>,
    pub donation: Stored<Id>,
    pub donor: Stored<Id>,
    pub product: String,
    pub product_description: Option<String>,
    pub status: Stored<BatchStatus>,
    pub prepared_at: Stored<DateTime<Utc>>,
    pub volume_ml: Option<f64>,
    pub expires_on: Stored<NaiveDate>,
    pub released_at: Stored<Option<DateTime<Utc>>>,
    pub discarded_at: Stored<Option<DateTime<Utc>>>,
    pub discard_reason: Option<String>,
    pub recalled_at: Stored<Option<DateTime<Utc>>>,
    /// The dispensable units.
    pub units: Vec<UnitView>,
    pub retained_sample: Option<UnitView>,
    pub qc: Vec<QcRow>,
    pub qc_required: Vec<String>,
    pub qc_missing: Stored<Vec<String>>,
    /// Every release rule as it stands now (marked when a fact they judge is malformed).
    pub release_checks: Stored<Vec<Check>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DonationView {
    pub id: Stored<Id>,
    pub donor: Stored<Id>,
    pub status: &'static str,
    pub collected_at: Stored<DateTime<Utc>>,
    pub received_at: Stored<Option<DateTime<Utc>>>,
    pub mass_g: Option<f64>,
    pub bristol: Option<u8>,
    pub batches: Vec<Stored<Id>>,
}

impl DonationView {
    pub fn new(d: Donation, batches: Vec<Stored<Id>>) -> DonationView {
        DonationView {
            id: d.id,
            donor: d.donor,
            status: if batches.is_empty() { "received" } else { "processed" },
            collected_at: d.collected_at,
            received_at: d.received_at,
            mass_g: d.mass_g,
            bristol: d.bristol,
            batches,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScreeningView {
    pub id: i64,
    pub kind: Stored<ScreeningKind>,
    pub date: Stored<NaiveDate>,
    /// Marked when a field it is judged on is malformed.
    pub complete: Stored<bool>,
    pub results: Vec<TestResultView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestResultView {
    pub test: String,
    pub result: Stored<TestResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeferralView {
    pub id: i64,
    pub reason: String,
    pub starts_on: Stored<NaiveDate>,
    /// The first day it no longer applies (null: permanent, until lifted, or until a negative re-screen); marked
    /// when a value it derives from is malformed.
    pub ends_on: Stored<Option<NaiveDate>>,
    pub permanent: bool,
    /// A recall's or safety signal's deferral: it ends when a quality manager lifts it (`donor lift-deferral`).
    pub until_lifted: bool,
    /// Marked when a value it derives from is malformed.
    pub active: Stored<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DonorView {
    pub id: Stored<Id>,
    pub sex: Stored<crate::core::model::Sex>,
    pub birth_date: Stored<NaiveDate>,
    pub status: Stored<DonorStatus>,
    pub eligibility: Stored<Eligibility>,
    /// Why the donor is or is not eligible, in words.
    pub reason: String,
    /// Present only for users allowed to see identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    pub screenings: Vec<ScreeningView>,
    pub deferrals: Vec<DeferralView>,
    pub donations: Vec<DonationView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DonorSummary {
    pub id: Stored<Id>,
    pub sex: Stored<crate::core::model::Sex>,
    pub birth_date: Stored<NaiveDate>,
    pub status: Stored<DonorStatus>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecipientView {
    pub id: Stored<Id>,
    pub status: &'static str,
    pub sex: Stored<crate::core::model::Sex>,
    pub birth_date: Stored<NaiveDate>,
    pub indication: String,
    pub cohort: Stored<crate::core::model::Cohort>,
    pub consent: Stored<crate::core::model::Consent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    pub units: Vec<UnitView>,
    pub first_dispensed_at: Option<DateTime<Utc>>,
    /// Recalls this recipient is to be contacted about: units dispensed before a recall, recorded after it.
    pub contact_for_recall: Vec<RecallContact>,
}

impl RecipientView {
    pub fn new(
        r: Recipient,
        units: Vec<UnitView>,
        identity: Option<Identity>,
        contact_for_recall: Vec<RecallContact>,
    ) -> RecipientView {
        RecipientView {
            id: r.id,
            status: if units.is_empty() { "registered" } else { "treated" },
            sex: r.sex,
            birth_date: r.birth_date,
            indication: r.indication,
            cohort: r.cohort,
            consent: r.consent,
            identity,
            first_dispensed_at: units.iter().filter_map(|u| u.dispensed_at.as_ref()?.ok().copied()).min(),
            contact_for_recall,
            units,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Integrity {
    pub integrity: Vec<String>,
    pub foreign_keys: Vec<String>,
    /// Differences from the schema the program embeds (dropped triggers, planted ones, changed columns).
    pub schema: Vec<String>,
    /// A schema version older than the program's (checked against its own version's schema): not a fault.
    pub older_schema: Option<String>,
    /// Stored values no reader can parse.
    pub values: Vec<String>,
    pub audit: Verification,
    /// On a PostgreSQL server: the checks the server makes itself (its pages, its schema's constraints on every
    /// value), not repeated here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_to_server: Option<String>,
    /// On a server, when the login verifying owns the bank's tables: a warning, not a fault (an owner's login at
    /// a bench could drop the triggers that guard the history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_login: Option<String>,
}

impl Integrity {
    pub fn is_sound(&self) -> bool {
        self.integrity.is_empty()
            && self.foreign_keys.is_empty()
            && self.schema.is_empty()
            && self.values.is_empty()
            && self.audit.findings.is_empty()
    }
}
