//! Recipients and dispensing: one unit to one recipient, after the dispense rules.

use super::users::Signed;
use crate::core::access::Operation;
use chrono::{DateTime, NaiveDate, Utc};

use super::views::{dangling, RecipientView, UnitView};
use super::{invalid, not_found, record, AppError, Bank, Result};
use crate::core::config::Config;
use crate::core::ids::{Id, IdKind};
use crate::core::input;
use crate::core::model::{Cohort, Consent, Sex};
use crate::core::rules;
use crate::store::donors::{self, Identity};
use crate::store::recalls::{self, RecallContact};
use crate::store::recipients::{self, NewDispense, Recipient, Registration};
use crate::store::{batches, Stored};
use crate::time::local_day;

pub struct NewRecipient {
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub indication: String,
    pub consent: Consent,
    /// Defaults to the cohort the consent implies.
    pub cohort: Option<Cohort>,
    pub identity: Identity,
}

impl Bank {
    pub fn register_recipient(&mut self, new: NewRecipient, at: DateTime<Utc>) -> Result<Recipient> {
        self.authorize(Operation::RecipientAdd)?;
        let indication = Config::code(&self.config.indications, &new.indication, "indication")
            .map_err(AppError::Invalid)?
            .to_string();
        let now = self.rules_now();
        input::plausible_time("birth date", new.birth_date, now)?;
        input::plausible_time("registration time", at, now)?;
        let new = NewRecipient { identity: super::donors::checked_identity(new.identity)?, ..new };
        let act = self.act();
        self.store.write(|tx| {
            let id = Id::recipient(recipients::next_recipient_seq(tx)?);
            recipients::insert_recipient(
                tx,
                &Registration {
                    id: &id,
                    sex: new.sex,
                    birth_date: new.birth_date,
                    indication: &indication,
                    cohort: new.cohort.unwrap_or(new.consent.cohort()),
                    consent: new.consent,
                    registered_at: at,
                },
            )?;
            record(tx, &act, "register-recipient", "recipients", id.data(), id.data(), at, None)?;
            if !new.identity.is_empty() {
                let sealed = donors::seal_identity(&Bank::identity_public_key(tx)?, &new.identity)?;
                let row = donors::insert_identity(tx, "recipient_identities", &id, &sealed, act.now)?;
                record(tx, &act, "record-identity", "recipient_identities", &row.to_string(), id.data(), at, None)?;
            }
            recipients::recipient(tx, &id)?.ok_or_else(|| not_found(IdKind::Recipient, &id))
        })
    }

    /// A recipient as of `at`, without identity: [`Bank::recipient_identity`] reads it, audited.
    pub fn recipient_view(&mut self, id: &Id, at: DateTime<Utc>) -> Result<RecipientView> {
        self.authorize(Operation::Read)?;
        self.store.read(|tx| {
            let r = recipients::recipient(tx, id)?.ok_or_else(|| not_found(IdKind::Recipient, id))?;
            let units = batches::units_of_recipient(tx, id)?.into_iter().map(|u| UnitView::new(u, at)).collect();
            Ok(RecipientView::new(r, units, None, recalls::contacts_of_recipient(tx, id)?))
        })
    }

    pub fn recipients(&mut self, after: Option<&Stored<Id>>, limit: usize) -> Result<Vec<Recipient>> {
        self.authorize(Operation::Read)?;
        self.store.read(|tx| Ok(recipients::recipients_page(tx, after, limit)?))
    }

    /// The unit as of `at`, for the dispense screen's first scan.
    pub fn unit_view(&mut self, unit: &Id, at: DateTime<Utc>) -> Result<UnitView> {
        self.authorize(Operation::Read)?;
        self.store.read(|tx| {
            let u = batches::unit(tx, unit)?.ok_or_else(|| not_found(IdKind::Unit, unit))?;
            Ok(UnitView::new(u, at))
        })
    }

    /// Checks, without writing, that `unit` may be dispensed at `at` (the two-scan check of the dispense screen).
    pub fn check_dispense(&mut self, unit: &Id, at: DateTime<Utc>) -> Result<UnitView> {
        self.authorize(Operation::Read)?;
        self.store.read(|tx| {
            let u = batches::unit(tx, unit)?.ok_or_else(|| not_found(IdKind::Unit, unit))?;
            rules::check_dispense(&u.facts()?, at, local_day(at))?;
            Ok(UnitView::new(u, at))
        })
    }

    /// Delivers one unit to one recipient: refused unless the unit is released, unexpired, not yet dispensed and
    /// not recalled at `at`, by one of its product's routes; and refused for a unit recalled since `at` (see
    /// [`Bank::dispense_happened`]).
    pub fn dispense(
        &mut self,
        unit: &Id,
        recipient: &Id,
        route: &str,
        clinician: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<UnitView> {
        self.deliver(unit, recipient, route, clinician, None, at)
    }

    /// Records a dispense that happened before the unit's recall, stated as such with a reason: the recall's
    /// answer is drawn again to name the recipient, and the recipient is flagged for contact.
    pub fn dispense_happened(
        &mut self,
        unit: &Id,
        recipient: &Id,
        route: &str,
        clinician: Option<&str>,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<UnitView> {
        let reason = input::reason("dispense recorded after a recall", reason)?;
        self.deliver(unit, recipient, route, clinician, Some(reason), at)
    }

    fn deliver(
        &mut self,
        unit: &Id,
        recipient: &Id,
        route: &str,
        clinician: Option<&str>,
        happened: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<UnitView> {
        let signer = self.signer(Operation::Dispense)?;
        let route = Config::code(&self.config.routes, route, "route").map_err(AppError::Invalid)?.to_string();
        input::plausible_time("dispense time", at, self.rules_now())?;
        let clinician = clinician.map(|c| input::text("clinician", c)).transpose()?;
        let (act, config) = (self.act(), &self.config);
        self.store.write(|tx| {
            let u = batches::unit(tx, unit)?.ok_or_else(|| not_found(IdKind::Unit, unit))?;
            // Retrospective patients are registered after their treatment, so no order of the two is imposed.
            recipients::recipient(tx, recipient)?.ok_or_else(|| not_found(IdKind::Recipient, recipient))?;
            let facts = u.facts()?;
            rules::check_dispense(&facts, at, local_day(at))?;
            rules::check_dispense_after_recall(&facts, act.now, happened.is_some())?;
            let b = batches::batch(tx, &u.batch)?.ok_or_else(|| dangling(IdKind::Batch, &u.batch))?;
            let product = config.product(&b.product).ok_or_else(|| {
                AppError::Invalid(format!(
                    "batch {} is of product {}, which the policy no longer names",
                    b.id, b.product
                ))
            })?;
            rules::check_route(product, &route)?;
            let new = NewDispense { unit, recipient, route: &route, at, clinician, recorded_at: act.now };
            let did = recipients::insert_dispense(tx, &new)?;
            record(tx, &act, "dispense", "dispenses", &did.to_string(), unit.data(), at, None)?;
            let meaning = format!("dispensed to {}", recipient.display());
            let did = did.to_string();
            let what = Signed { entity: "dispenses", entity_id: &did, subject: unit.data(), at };
            super::users::sign(tx, &act, &signer, &meaning, &what)?;
            if let Some(reason) = happened {
                let (Some(_), Some(recall)) = (facts.recalled_at, recalls::recall_of_unit(tx, unit)?) else {
                    return invalid(format!("{unit} is not recalled: record its dispense without --happened"));
                };
                let contact = RecallContact {
                    recall,
                    unit: Stored::Read(unit.clone()),
                    reason: reason.to_string(),
                    recorded_at: Stored::Read(act.now),
                };
                let cid = recalls::insert_contact(tx, recipient, &contact)?;
                record(
                    tx,
                    &act,
                    "flag-recall-contact",
                    "recall_contacts",
                    &cid.to_string(),
                    recipient.data(),
                    at,
                    None,
                )?;
                super::recall::restate_answer(tx, &act, recall)?;
            }
            let u = batches::unit(tx, unit)?.ok_or_else(|| not_found(IdKind::Unit, unit))?;
            Ok(UnitView::new(u, at))
        })
    }
}
