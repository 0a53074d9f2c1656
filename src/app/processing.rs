//! Donations, their processing into batches and units, QC, and quarantine → release.

use super::users::Signed;
use crate::core::access::Operation;
use chrono::{DateTime, Days, Utc};

use super::donors::{load_donor, release_facts, screen, Screening, ScreeningInput, ScreeningRecorded};
use super::views::{dangling, marked, BatchView, DonationView, UnitView};
use super::{invalid, not_found, record, record_group, AppError, Bank, Result};
use crate::core::config::Config;
use crate::core::ids::{self, Id, IdKind, ProductCode};
use crate::core::input::{self, DonationInput, Invalid};
use crate::core::model::{QcResult, ScreeningKind, UnitKind};
use crate::core::rules::{self, DonorFacts, QcFact, ReleaseFacts};
use crate::core::state::{on_shelf, unit_status};
use crate::store::batches::{self, Batch, Collection, Donation, Preparation, Unit};
use crate::store::{audit, donors, users, Malformed, Stored, Tx};
use crate::time::local_day;

pub struct NewDonation {
    pub donor: Id,
    pub collected_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub mass_g: Option<f64>,
    pub bristol: Option<u8>,
}

impl NewDonation {
    fn input(&self) -> DonationInput {
        DonationInput {
            collected_at: self.collected_at,
            received_at: self.received_at,
            mass_g: self.mass_g,
            bristol: self.bristol,
        }
    }
}

fn load_batch(tx: &Tx, id: &Id) -> Result<Batch> {
    batches::batch(tx, id)?.ok_or_else(|| not_found(IdKind::Batch, id))
}

fn load_donation(tx: &Tx, id: &Id) -> Result<Donation> {
    batches::donation(tx, id)?.ok_or_else(|| not_found(IdKind::Donation, id))
}

impl Bank {
    /// Records a donation and gives it its DIN; refused unless the donor is eligible on the day of collection.
    pub fn add_donation(&mut self, new: NewDonation) -> Result<DonationView> {
        self.authorize(Operation::Intake)?;
        input::donation(&new.input(), self.rules_now(), &self.config)?;
        let facility = self.facility()?;
        let (act, config) = (self.act(), &self.config);
        self.store.write(|tx| donate(tx, &act, config, &facility, &new))
    }

    /// A donation at the bench: the donation-day questionnaire and the donation, in one transaction. Refused
    /// as a whole (nothing recorded, not even the questionnaire) when the donor may not donate. A "yes" on the
    /// questionnaire is a safety fact, never lost: the questionnaire and the deferral it causes are kept, and no
    /// donation is recorded (`Intake::donation` is `None`).
    pub fn intake_donation(&mut self, new: NewDonation, questionnaire: &ScreeningInput) -> Result<Intake> {
        self.authorize(Operation::Intake)?;
        input::donation(&new.input(), self.rules_now(), &self.config)?;
        let kind = ScreeningKind::DonationDay;
        let results = questionnaire.resolve(kind, &self.config)?;
        let facility = self.facility()?;
        let (act, now, config) = (self.act(), self.rules_now(), &self.config);
        let date = local_day(new.collected_at);
        self.store.write(|tx| {
            check_collection(tx, config, &new)?;
            let at = new.collected_at;
            let day = Screening { kind, date, results, corrects: None, at };
            let screening = screen(tx, &act, config, now, &new.donor, day)?;
            let donation = match screening.deferral {
                Some(_) => None,
                None => Some(donate(tx, &act, config, &facility, &new)?),
            };
            Ok(Intake { screening, donation })
        })
    }

    pub fn donation_view(&mut self, id: &Id) -> Result<DonationView> {
        self.authorize(Operation::Read)?;
        self.store.read(|tx| {
            let d = load_donation(tx, id)?;
            let ids = batches::batches_of_donation(tx, id)?.into_iter().map(|b| b.id).collect();
            Ok(DonationView::new(d, ids))
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
        let (batch, _) = self.prepare_batch(donation, product, units, volume_ml, at)?;
        self.batch_view(&batch, at)
    }

    /// [`Bank::make_batch`] without reading the view back (a bulk load): the batch and the units made, doses
    /// first, then the retained sample when one was made.
    pub(crate) fn prepare_batch(
        &mut self,
        donation: &Id,
        product: &str,
        units: usize,
        volume_ml: Option<f64>,
        at: DateTime<Utc>,
    ) -> Result<(Id, Vec<Id>)> {
        self.authorize(Operation::MakeBatch)?;
        let code = ProductCode::parse(product)?;
        let known: Vec<String> = self.config.products.iter().map(|p| p.code.clone()).collect();
        let product = self.config.product(code.as_str()).cloned().ok_or_else(|| {
            AppError::Invalid(format!("`{}` is not a known product; valid: {}", code.as_str(), known.join(", ")))
        })?;
        input::in_range("number of units", units, 1, self.config.units_per_batch_max, " per batch")?;
        if let Some(v) = volume_ml {
            input::in_range("batch volume", v, 1.0, self.config.batch_volume_ml_max, " ml")?;
        }
        input::plausible_time("processing time", at, self.rules_now())?;
        let act = self.act();
        self.store.write(|tx| {
            let d = load_donation(tx, donation)?;
            input::not_before("processing time", at, "collection", d.collected_at.value()?)?;
            let existing = batches::batches_of_donation(tx, donation)?;
            let id = Id::batch(donation, &code);
            if existing.iter().any(|b| b.id.ok() == Some(&id)) {
                let what = format!("the {} batch of donation {donation}, {id},", code.as_str());
                return Err(AppError::from(Invalid::AlreadyExists(what)));
            }
            let expires_on = local_day(at)
                .checked_add_days(Days::new(product.shelf_life_days as u64))
                .ok_or_else(|| AppError::Invalid("shelf life out of range".into()))?;
            let b = Preparation { id: &id, donation, product: code.as_str(), prepared_at: at, volume_ml, expires_on };
            batches::insert_batch(tx, &b, act.now)?;
            record(tx, &act, "make-batch", "batches", id.data(), id.data(), at, None)?;
            let mut divisions: Vec<(String, UnitKind)> =
                (0..units).filter_map(ids::division_code).map(|c| (c, UnitKind::Dose)).collect();
            if existing.is_empty() {
                divisions.push((ids::RETAINED_DIVISION.to_string(), UnitKind::Retained));
            }
            let mut made = Vec::with_capacity(divisions.len());
            for (division, kind) in divisions {
                let unit = Id::unit(&id, &division);
                batches::insert_unit(tx, &unit, &id, kind)?;
                made.push(unit);
            }
            record_group(tx, &act, "create-units", "units", id.data(), id.data(), at)?;
            Ok((id, made))
        })
    }

    /// A batch with its units, QC and every release rule as of `at`.
    pub fn batch_view(&mut self, id: &Id, at: DateTime<Utc>) -> Result<BatchView> {
        self.authorize(Operation::Read)?;
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
        self.record_qc(batch, test, result, value, at)?;
        self.batch_view(batch, at)
    }

    /// [`Bank::add_qc`] without reading the view back (a bulk load).
    pub(crate) fn record_qc(
        &mut self,
        batch: &Id,
        test: &str,
        result: QcResult,
        value: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.authorize(Operation::QcEntry)?;
        let test = Config::code(&self.config.qc_required, test, "QC test").map_err(AppError::Invalid)?.to_string();
        input::plausible_time("QC time", at, self.rules_now())?;
        let value = value.map(|v| input::text("QC value", v)).transpose()?;
        let act = self.act();
        self.store.write(|tx| {
            let b = load_batch(tx, batch)?;
            input::not_before("QC time", at, "batch's preparation", b.prepared_at.value()?)?;
            let qid = batches::insert_qc(tx, batch, &test, result, value, at, act.now)?;
            record(tx, &act, "add-qc", "qc_results", &qid.to_string(), batch.data(), at, None)
        })
    }

    /// Releases a batch from quarantine: refused unless every release rule holds as of `at`.
    pub fn release_batch(&mut self, batch: &Id, at: DateTime<Utc>) -> Result<BatchView> {
        self.release(batch, at)?;
        self.batch_view(batch, at)
    }

    /// [`Bank::release_batch`] without reading the view back (a bulk load).
    pub(crate) fn release(&mut self, batch: &Id, at: DateTime<Utc>) -> Result<()> {
        let signer = self.signer(Operation::Release)?;
        input::plausible_time("release time", at, self.rules_now())?;
        let (act, config) = (self.act(), &self.config);
        // Four eyes needs people told apart: in set-up mode (free-text names, no sign-in) it is not judged.
        let four_eyes = self.access_control();
        self.store.write(|tx| {
            rules::check_release(&ReleaseInputs::load(tx, batch, at, config)?.facts(at)?, config)?;
            if four_eyes {
                rules::check_four_eyes(&act.actor, &users::batch_workers(tx, batch.data())?)?;
            }
            let before = audit::row_state(tx, "batches", batch.data())?;
            batches::set_batch_released(tx, batch, at)?;
            record(tx, &act, "release-batch", "batches", batch.data(), batch.data(), at, before)?;
            let what = Signed { entity: "batches", entity_id: batch.data(), subject: batch.data(), at };
            super::users::sign(tx, &act, &signer, "released for clinical use", &what)
        })
    }

    /// Discards a batch: every unit still on the shelf is discarded with it.
    pub fn discard_batch(&mut self, batch: &Id, reason: &str, at: DateTime<Utc>) -> Result<BatchView> {
        let signer = self.signer(Operation::Discard)?;
        let reason = input::reason("discard", reason)?;
        input::plausible_time("discard time", at, self.rules_now())?;
        let act = self.act();
        self.store.write(|tx| {
            rules::check_discard(load_batch(tx, batch)?.discarded_at.value()?)?;
            let before = audit::row_state(tx, "batches", batch.data())?;
            batches::set_batch_discarded(tx, batch, at, reason)?;
            record(tx, &act, "discard-batch", "batches", batch.data(), batch.data(), at, before)?;
            let what = Signed { entity: "batches", entity_id: batch.data(), subject: batch.data(), at };
            super::users::sign(tx, &act, &signer, &format!("discarded: {reason}"), &what)?;
            for u in batches::units_of_batch(tx, batch)? {
                let facts = u.facts()?;
                if facts.kind == UnitKind::Dose && on_shelf(unit_status(&facts, at, local_day(at))) {
                    let id = u.id.get()?;
                    let before = audit::row_state(tx, "units", id.data())?;
                    batches::set_unit_discarded(tx, id, at)?;
                    record(tx, &act, "discard-unit", "units", id.data(), batch.data(), at, before)?;
                }
            }
            Ok::<_, AppError>(())
        })?;
        self.batch_view(batch, at)
    }

    /// Doses on the shelf (not dispensed, discarded or recalled) in identifier order, a page at a time, with
    /// their status as of `at` (quarantined, released or expired).
    pub fn units_in_stock(
        &mut self,
        after: Option<&Stored<Id>>,
        limit: usize,
        at: DateTime<Utc>,
    ) -> Result<Vec<UnitView>> {
        self.authorize(Operation::Read)?;
        self.store.read(|tx| {
            Ok(batches::units_in_stock(tx, after, limit)?.into_iter().map(|u| UnitView::new(u, at)).collect())
        })
    }

    /// Records where a unit (or the retained sample) is stored.
    pub fn set_location(&mut self, unit: &Id, location: &str, at: DateTime<Utc>) -> Result<UnitView> {
        self.authorize(Operation::Locate)?;
        let location = input::text("location", location)?;
        let act = self.act();
        self.store.write(|tx| {
            let before = audit::row_state(tx, "units", unit.data())?.ok_or_else(|| not_found(IdKind::Unit, unit))?;
            batches::set_unit_location(tx, unit, location)?;
            let batch = unit.batch_of().map(|b| b.data().to_string()).unwrap_or_default();
            record(tx, &act, "set-location", "units", unit.data(), &batch, at, Some(before))?;
            let u = batches::unit(tx, unit)?.ok_or_else(|| not_found(IdKind::Unit, unit))?;
            Ok(UnitView::new(u, at))
        })
    }
}

/// The facts a batch's release is judged on, loaded in one transaction.
/// The stored facts the rules judge are read as stored: a malformed one makes the rules' verdict an error
/// (release refused, naming it), while the batch itself can still be shown.
struct ReleaseInputs {
    batch: Batch,
    donation: Donation,
    donor: Stored<DonorFacts>,
    qc: Stored<Vec<QcFact>>,
    units: Vec<Unit>,
}

impl ReleaseInputs {
    /// What a release at `at` reads: of the donor, the facts of the release's window (the whole history when
    /// the collection time cannot be read, so that the check names that value as before).
    fn load(tx: &Tx, id: &Id, at: DateTime<Utc>, config: &Config) -> Result<ReleaseInputs> {
        let batch = load_batch(tx, id)?;
        let donation =
            batches::donation(tx, &batch.donation)?.ok_or_else(|| dangling(IdKind::Donation, &batch.donation))?;
        let donor = marked(donation.donor.get().map_err(AppError::from).and_then(|donor| {
            let d = load_donor(tx, donor)?;
            match donation.collected_at.ok() {
                Some(c) => release_facts(tx, &d, local_day(*c), local_day(at), config),
                None => Ok(donors::facts(tx, &d)?),
            }
        }))?;
        let qc = batches::qc_of_batch(tx, id)?;
        let qc = qc.iter().map(batches::QcRow::fact).collect::<std::result::Result<_, _>>().into();
        let units = batches::units_of_batch(tx, id)?;
        Ok(ReleaseInputs { batch, donation, donor, qc, units })
    }

    fn facts(&self, at: DateTime<Utc>) -> std::result::Result<ReleaseFacts<'_>, Malformed> {
        let (b, d) = (&self.batch, &self.donation);
        let mut units_unverified = 0;
        for u in &self.units {
            if u.kind.value()? == UnitKind::Dose && u.label_verified_at.value()?.is_none() {
                units_unverified += 1;
            }
        }
        let collected_at = d.collected_at.value()?;
        Ok(ReleaseFacts {
            donor: self.donor.get()?,
            collected_at,
            collected_on: local_day(collected_at),
            prepared_at: b.prepared_at.value()?,
            qc: self.qc.get()?,
            released_at: b.released_at.value()?,
            discarded_at: b.discarded_at.value()?,
            recalled_at: b.recalled_at.value()?,
            expires_on: b.expires_on.value()?,
            units_unverified,
            at,
            on: local_day(at),
        })
    }
}

/// Records a donation and gives it its DIN, within the caller's transaction; refused unless the donor is
/// eligible on the day of collection.
/// What a donation at the bench recorded: the donation-day questionnaire always, the donation unless the
/// questionnaire deferred the donor.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Intake {
    pub screening: ScreeningRecorded,
    pub donation: Option<DonationView>,
}

/// The rules a new collection must pass before anything of it is written: not a duplicate, donor eligible.
fn check_collection(tx: &Tx, config: &Config, new: &NewDonation) -> Result<()> {
    let donor = load_donor(tx, &new.donor)?;
    let mut existing: Vec<(String, DateTime<Utc>)> = Vec::new();
    for d in batches::donations_of_donor(tx, &new.donor)? {
        existing.push((d.id.to_string(), d.collected_at.value()?));
    }
    rules::check_new_collection(&existing, new.collected_at)?;
    let on = local_day(new.collected_at);
    super::donors::eligibility_facts(tx, &donor, on, config)?.check_can_donate(on, config)?;
    Ok(())
}

fn donate(
    tx: &Tx,
    act: &super::Act,
    config: &Config,
    facility: &ids::Facility,
    new: &NewDonation,
) -> Result<DonationView> {
    check_collection(tx, config, new)?;
    let on = local_day(new.collected_at);
    let year = chrono::Datelike::year(&on);
    let seq = batches::next_din_seq(tx, year)?;
    if seq > 999_999 {
        return invalid(format!("the DIN sequence for {year} is exhausted"));
    }
    let id = Id::donation(facility, year, seq);
    let d = Collection {
        id: &id,
        donor: &new.donor,
        collected_at: new.collected_at,
        received_at: new.received_at,
        mass_g: new.mass_g,
        bristol: new.bristol,
    };
    batches::insert_donation(tx, &d, year, seq, act.now)?;
    record(tx, act, "add-donation", "donations", id.data(), new.donor.data(), new.collected_at, None)?;
    Ok(DonationView::new(load_donation(tx, &id)?, Vec::new()))
}

pub(super) fn batch_view(tx: &Tx, id: &Id, at: DateTime<Utc>, config: &Config) -> Result<BatchView> {
    let inputs = ReleaseInputs::load(tx, id, at, config)?;
    let checks = inputs.facts(at).map(|f| rules::release_checks(&f, config)).into();
    let qc_missing = inputs.qc.as_ref().map(|qc| rules::qc_missing(qc, at, config));
    let ReleaseInputs { batch: b, donation: d, units: all_units, .. } = inputs;
    let qc = batches::qc_of_batch(tx, id)?;
    let (doses, retained): (Vec<_>, Vec<_>) = all_units.into_iter().partition(Unit::is_dose);
    Ok(BatchView {
        product_description: config.product(&b.product).map(|p| p.description.clone()),
        status: b.status(at),
        id: b.id,
        donation: d.id,
        donor: d.donor,
        product: b.product,
        prepared_at: b.prepared_at,
        volume_ml: b.volume_ml,
        expires_on: b.expires_on,
        released_at: b.released_at,
        discarded_at: b.discarded_at,
        discard_reason: b.discard_reason,
        recalled_at: b.recalled_at,
        units: doses.into_iter().map(|u| UnitView::new(u, at)).collect(),
        retained_sample: retained.into_iter().next().map(|u| UnitView::new(u, at)),
        qc_missing,
        qc,
        qc_required: config.qc_required.clone(),
        release_checks: checks,
    })
}
