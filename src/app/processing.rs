//! Donations, their processing into batches and units, QC, and quarantine → release.

use chrono::{DateTime, Days, Utc};

use super::views::{BatchView, DonationView, UnitView};
use super::{invalid, record, AppError, Bank, Result};
use crate::core::config::Config;
use crate::core::ids::{self, Id, IdKind, ProductCode};
use crate::core::model::{QcResult, UnitKind};
use crate::core::rules::{self, Check, ReleaseFacts};
use crate::core::state::{batch_status, in_stock, unit_status};
use crate::store::batches::{self, Batch, Donation};
use crate::store::{audit, donors};
use crate::time::{self, local_day};
use rusqlite::Connection;

pub struct NewDonation {
    pub donor: Id,
    pub collected_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub mass_g: Option<f64>,
    pub bristol: Option<u8>,
}

/// Clock skew tolerated between benches before a time counts as "in the future".
const FUTURE_SLACK_MINUTES: i64 = 5;

fn not_future(what: &str, t: DateTime<Utc>) -> Result<()> {
    if t > time::now() + chrono::Duration::minutes(FUTURE_SLACK_MINUTES) {
        return invalid(format!("the {what} {} is in the future", time::show(t)));
    }
    Ok(())
}

fn not_found(kind: IdKind, id: &Id) -> AppError {
    AppError::NotFound { kind, id: id.display() }
}

fn load_batch(tx: &Connection, id: &Id) -> Result<Batch> {
    batches::batch(tx, id)?.ok_or_else(|| not_found(IdKind::Batch, id))
}

fn load_donation(tx: &Connection, id: &Id) -> Result<Donation> {
    batches::donation(tx, id)?.ok_or_else(|| not_found(IdKind::Donation, id))
}

impl Bank {
    /// Records a donation and gives it its DIN; refused unless the donor is eligible on the day of collection.
    pub fn add_donation(&mut self, new: NewDonation) -> Result<DonationView> {
        not_future("collection time", new.collected_at)?;
        if let Some(r) = new.received_at {
            not_future("reception time", r)?;
            if r < new.collected_at {
                return invalid("the donation is received before it was collected");
            }
        }
        if new.mass_g.is_some_and(|m| !(m > 0.0 && m.is_finite())) {
            return invalid("the mass must be a positive number of grams");
        }
        if new.bristol.is_some_and(|b| !(1..=7).contains(&b)) {
            return invalid("the Bristol stool score is 1 to 7");
        }
        let facility = self.facility()?;
        let actor = self.actor.clone();
        let config = self.config.clone();
        self.store.write(|tx| {
            let donor = donors::donor(tx, &new.donor)?.ok_or_else(|| not_found(IdKind::Donor, &new.donor))?;
            let on = local_day(new.collected_at);
            donors::facts(tx, &donor)?.check_can_donate(on, &config)?;
            let year = chrono::Datelike::year(&on);
            let seq = batches::next_din_seq(tx, year)?;
            if seq > 999_999 {
                return invalid(format!("the DIN sequence for {year} is exhausted"));
            }
            let id = Id::donation(&facility, year, seq);
            let d = Donation {
                id: id.clone(),
                donor: new.donor.clone(),
                collected_at: new.collected_at,
                received_at: new.received_at,
                mass_g: new.mass_g,
                bristol: new.bristol,
            };
            batches::insert_donation(tx, &d, year, seq, time::now())?;
            record(tx, &actor, "add-donation", "donations", id.data(), new.donor.data(), new.collected_at, None)?;
            Ok(DonationView::new(&d, Vec::new()))
        })
    }

    pub fn donation_view(&mut self, id: &Id) -> Result<DonationView> {
        self.store.read(|tx| {
            let d = load_donation(tx, id)?;
            let ids = batches::batches_of_donation(tx, id)?.into_iter().map(|b| b.id).collect();
            Ok(DonationView::new(&d, ids))
        })
    }

    /// Makes the washed preparation of a donation: the batch, its `units` doses in quarantine, and the donation's
    /// retained sample (with its first batch). `at` is when processing began.
    pub fn make_batch(
        &mut self,
        donation: &Id,
        product: &str,
        units: usize,
        volume_ml: Option<f64>,
        at: DateTime<Utc>,
    ) -> Result<BatchView> {
        let code = ProductCode::parse(product)?;
        let known: Vec<String> = self.config.products.iter().map(|p| p.code.clone()).collect();
        let product = self.config.product(code.as_str()).cloned().ok_or_else(|| {
            AppError::Invalid(format!("`{}` is not a known product; valid: {}", code.as_str(), known.join(", ")))
        })?;
        if units == 0 || units > ids::MAX_UNITS_PER_BATCH {
            return invalid(format!("a batch has 1 to {} units", ids::MAX_UNITS_PER_BATCH));
        }
        if volume_ml.is_some_and(|v| !(v > 0.0 && v.is_finite())) {
            return invalid("the volume must be a positive number of millilitres");
        }
        not_future("processing time", at)?;
        let actor = self.actor.clone();
        self.store.write(|tx| {
            let d = load_donation(tx, donation)?;
            if at < d.collected_at {
                return invalid(format!(
                    "processing at {} is before the collection at {}",
                    time::show(at),
                    time::show(d.collected_at)
                ));
            }
            let existing = batches::batches_of_donation(tx, donation)?;
            let id = Id::batch(donation, &code);
            if existing.iter().any(|b| b.id == id) {
                return invalid(format!("donation {} already has a {} batch: {}", donation, code.as_str(), id));
            }
            let expires_on = local_day(at)
                .checked_add_days(Days::new(product.shelf_life_days as u64))
                .ok_or_else(|| AppError::Invalid("shelf life out of range".into()))?;
            let b = Batch {
                id: id.clone(),
                donation: donation.clone(),
                product: code.as_str().to_string(),
                prepared_at: at,
                volume_ml,
                expires_on,
                released_at: None,
                discarded_at: None,
                discard_reason: None,
                recalled_at: None,
            };
            batches::insert_batch(tx, &b, time::now())?;
            record(tx, &actor, "make-batch", "batches", id.data(), id.data(), at, None)?;
            let mut divisions: Vec<(String, UnitKind)> =
                (0..units).filter_map(ids::division_code).map(|c| (c, UnitKind::Dose)).collect();
            if existing.is_empty() {
                divisions.push((ids::RETAINED_DIVISION.to_string(), UnitKind::Retained));
            }
            for (division, kind) in divisions {
                let unit = Id::unit(&id, &division);
                batches::insert_unit(tx, &unit, &id, kind)?;
                record(tx, &actor, "create-unit", "units", unit.data(), id.data(), at, None)?;
            }
            Ok(())
        })?;
        self.batch_view(&Id::batch(donation, &code), at)
    }

    /// A batch with its units, QC and every release rule as of `at`.
    pub fn batch_view(&mut self, id: &Id, at: DateTime<Utc>) -> Result<BatchView> {
        let config = self.config.clone();
        self.store.read(|tx| batch_view(tx, id, at, &config))
    }

    /// Records a QC result (a later result of the same test supersedes an earlier one).
    pub fn add_qc(
        &mut self,
        batch: &Id,
        test: &str,
        result: QcResult,
        value: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<BatchView> {
        let test = Config::code(&self.config.qc_required, test, "QC test").map_err(AppError::Invalid)?.to_string();
        not_future("QC time", at)?;
        let actor = self.actor.clone();
        self.store.write(|tx| {
            let b = load_batch(tx, batch)?;
            if at < b.prepared_at {
                return invalid("a QC result cannot precede the batch's preparation");
            }
            let qid = batches::insert_qc(tx, batch, &test, result, value, at, time::now())?;
            record(tx, &actor, "add-qc", "qc_results", &qid.to_string(), batch.data(), at, None)
        })?;
        self.batch_view(batch, at)
    }

    /// Releases a batch from quarantine: refused unless every release rule holds as of `at`.
    pub fn release_batch(&mut self, batch: &Id, at: DateTime<Utc>) -> Result<BatchView> {
        not_future("release time", at)?;
        let actor = self.actor.clone();
        let config = self.config.clone();
        self.store.write(|tx| {
            let view = batch_view(tx, batch, at, &config)?;
            if let Some(c) = view.release_checks.iter().find(|c| !c.passed) {
                return Err(rules::Refusal { rule: c.rule, detail: c.detail.clone() }.into());
            }
            let before = audit::row_state(tx, "batches", batch.data())?;
            batches::set_batch_released(tx, batch, at)?;
            record(tx, &actor, "release-batch", "batches", batch.data(), batch.data(), at, before)
        })?;
        self.batch_view(batch, at)
    }

    /// Discards a batch: every unit still on the shelf is discarded with it.
    pub fn discard_batch(&mut self, batch: &Id, reason: &str, at: DateTime<Utc>) -> Result<BatchView> {
        if reason.trim().is_empty() {
            return invalid("a discard needs a reason");
        }
        not_future("discard time", at)?;
        let actor = self.actor.clone();
        self.store.write(|tx| {
            let b = load_batch(tx, batch)?;
            if b.discarded_at.is_some() {
                return invalid(format!("batch {batch} is already discarded"));
            }
            let before = audit::row_state(tx, "batches", batch.data())?;
            batches::set_batch_discarded(tx, batch, at, reason.trim())?;
            record(tx, &actor, "discard-batch", "batches", batch.data(), batch.data(), at, before)?;
            for u in batches::units_of_batch(tx, batch)? {
                if u.kind == UnitKind::Dose && in_stock(unit_status(&u.facts(), at, local_day(at))) {
                    let before = audit::row_state(tx, "units", u.id.data())?;
                    batches::set_unit_discarded(tx, &u.id, at)?;
                    record(tx, &actor, "discard-unit", "units", u.id.data(), batch.data(), at, before)?;
                }
            }
            Ok(())
        })?;
        self.batch_view(batch, at)
    }

    /// Doses on the shelf (not dispensed, discarded or recalled) in identifier order, a page at a time, with
    /// their status as of `at` (quarantined, released or expired).
    pub fn units_in_stock(&mut self, after: Option<&Id>, limit: usize, at: DateTime<Utc>) -> Result<Vec<UnitView>> {
        self.store
            .read(|tx| Ok(batches::units_in_stock(tx, after, limit)?.iter().map(|u| UnitView::new(u, at)).collect()))
    }

    /// Batches waiting in quarantine, oldest first, a page at a time (the QC and release work list).
    pub fn batches_in_quarantine(&mut self, limit: usize) -> Result<Vec<Batch>> {
        self.store.read(|tx| Ok(batches::batches_in_quarantine(tx, limit)?))
    }

    /// Records where a unit (or the retained sample) is stored.
    pub fn set_location(&mut self, unit: &Id, location: &str, at: DateTime<Utc>) -> Result<UnitView> {
        if location.trim().is_empty() {
            return invalid("a location is needed");
        }
        let actor = self.actor.clone();
        self.store.write(|tx| {
            let before = audit::row_state(tx, "units", unit.data())?.ok_or_else(|| not_found(IdKind::Unit, unit))?;
            batches::set_unit_location(tx, unit, location.trim())?;
            let batch = unit.batch_of().map(|b| b.data().to_string()).unwrap_or_default();
            record(tx, &actor, "set-location", "units", unit.data(), &batch, at, Some(before))?;
            let u = batches::unit(tx, unit)?.ok_or_else(|| not_found(IdKind::Unit, unit))?;
            Ok(UnitView::new(&u, at))
        })
    }
}

pub(super) fn batch_view(tx: &Connection, id: &Id, at: DateTime<Utc>, config: &Config) -> Result<BatchView> {
    let b = load_batch(tx, id)?;
    let d = load_donation(tx, &b.donation)?;
    let donor = donors::donor(tx, &d.donor)?.ok_or_else(|| not_found(IdKind::Donor, &d.donor))?;
    let facts = donors::facts(tx, &donor)?;
    let qc = batches::qc_of_batch(tx, id)?;
    let qc_facts: Vec<_> = qc.iter().map(|q| q.fact()).collect();
    let all_units = batches::units_of_batch(tx, id)?;
    let on = local_day(at);
    let checks: Vec<Check> = rules::release_checks(
        &ReleaseFacts {
            donor: &facts,
            collected_at: d.collected_at,
            collected_on: local_day(d.collected_at),
            prepared_at: b.prepared_at,
            qc: &qc_facts,
            released_at: b.released_at,
            discarded_at: b.discarded_at,
            recalled_at: b.recalled_at,
            expires_on: b.expires_on,
            units_unverified: all_units
                .iter()
                .filter(|u| u.kind == UnitKind::Dose && u.label_verified_at.is_none())
                .count(),
            at,
            on,
        },
        config,
    );
    let (doses, retained): (Vec<_>, Vec<_>) = all_units.iter().partition(|u| u.kind == UnitKind::Dose);
    Ok(BatchView {
        id: b.id.clone(),
        donation: d.id.clone(),
        donor: d.donor.clone(),
        product: b.product.clone(),
        product_description: config.product(&b.product).map(|p| p.description.clone()),
        status: batch_status(b.released_at, b.discarded_at, b.recalled_at, b.expires_on, at, on),
        prepared_at: b.prepared_at,
        volume_ml: b.volume_ml,
        expires_on: b.expires_on,
        released_at: b.released_at,
        discarded_at: b.discarded_at,
        discard_reason: b.discard_reason.clone(),
        recalled_at: b.recalled_at,
        units: doses.iter().map(|u| UnitView::new(u, at)).collect(),
        retained_sample: retained.first().map(|u| UnitView::new(u, at)),
        qc_missing: rules::qc_missing(&qc_facts, at, config),
        qc,
        qc_required: config.qc_required.clone(),
        release_checks: checks,
    })
}
