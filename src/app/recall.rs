//! Recall and look-back: select the affected batches (by donor since a date, by batch, or by collection window
//! across donors), list every unit in stock and dispensed with its recipient, and with `apply` quarantine the
//! stock at once and record the recall with its answer.

use super::users::Signed;
use crate::core::access::Operation;
use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::Serialize;

use super::trace::TraceBatch;
use super::views::{dangling, marked, UnitView};
use super::{invalid, not_found, record, AppError, Bank, Result};
use crate::core::config::Config;
use crate::core::ids::{Id, IdKind};
use crate::core::input;
use crate::core::model::{UnitKind, UnitStatus};
use crate::core::rules::{self, EarlierRecall};
use crate::core::state::{on_shelf, unit_status};
use crate::store::batches::{Batch, Donation, Unit};
use crate::store::donors::NewDeferral;
use crate::store::recalls::{self, NewRecall};
use crate::store::recipients::Recipient;
use crate::store::{audit, batches, donors, recipients, Key, Malformed, Stored, Tx};
use crate::time::local_day;

#[derive(Debug, Clone)]
pub enum RecallSelector {
    /// Every batch of the donor collected on or after `from` (default: the donor's last clean screening).
    Donor {
        donor: Id,
        from: Option<NaiveDate>,
    },
    Batch(Id),
    /// Every batch collected within the window, inclusive, across donors.
    CollectionWindow {
        from: NaiveDate,
        to: NaiveDate,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct RecallRecipient {
    pub id: Stored<Id>,
    pub indication: String,
    pub units: Vec<Stored<Id>>,
    /// The earliest readable dispense time (marked when the only one is malformed).
    pub first_dispensed_at: Stored<DateTime<Utc>>,
    pub routes: Vec<String>,
    pub clinicians: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecallSummary {
    /// The recall's record number when applied.
    pub recall: Option<i64>,
    pub applied: bool,
    pub reason: String,
    pub selector: &'static str,
    /// Collection day from which material is affected (donor and window recalls).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub batches: Vec<TraceBatch>,
    /// Every dispensable unit of those batches, in stock or dispensed.
    pub units: Vec<UnitView>,
    /// Retained samples of the affected donations: the stored material to re-test.
    pub retained_samples: Vec<UnitView>,
    pub recipients: Vec<RecallRecipient>,
    /// Units in stock (quarantined by an applied recall).
    pub in_stock: usize,
    pub dispensed: usize,
    /// A donor recall without a start day reaches back to the donor's last clean screening: the donor's material
    /// from before it, which this recall leaves out, listed so that the investigator sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earlier: Option<EarlierMaterial>,
    /// A donor recall without a start day whose look-back cannot be judged (a screening's or deferral's stored
    /// value no reader can parse): that value, marked. The recall then reaches back to the donor's first donation,
    /// the widest window, since a recall must never miss a unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub look_back_unreadable: Option<Stored<NaiveDate>>,
}

/// A donor's material collected before the default look-back, covered by a negative screening.
#[derive(Debug, Clone, Serialize)]
pub struct EarlierMaterial {
    pub donor: Id,
    /// The day of the donor's last clean screening, where the default look-back starts.
    pub covered_by_screening_of: NaiveDate,
    /// The first collection day of that material: a recall `--from` this day includes it all.
    pub include_from: NaiveDate,
    pub batches: Vec<TraceBatch>,
    pub in_stock: usize,
    pub dispensed: usize,
}

fn local_midnight(d: NaiveDate) -> DateTime<Utc> {
    let naive = d.and_time(NaiveTime::MIN);
    chrono::Local.from_local_datetime(&naive).earliest().map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

impl Bank {
    /// Finds everything a recall affects as of `at`; with `apply`, quarantines the stock, records the recall and
    /// defers a recalled donor until a quality manager lifts it. Applying the same recall (same selector, same
    /// material) a second time is refused unless `again`.
    pub fn recall(
        &mut self,
        selector: &RecallSelector,
        reason: &str,
        apply: bool,
        again: bool,
        at: DateTime<Utc>,
    ) -> Result<RecallSummary> {
        let signer = self.signer_if(apply, Operation::RecallApply, Operation::RecallDryRun)?;
        let countersigner = if apply {
            self.countersigner()?
        } else {
            self.countersigned = None;
            None
        };
        let reason = input::reason("recall", reason)?.to_string();
        // A safety act takes effect when recorded: a recall dated in the future would leave the stock dispensable.
        input::plausible_time("recall time", at, self.rules_now())?;
        if let RecallSelector::CollectionWindow { from, to } = selector {
            if from > to {
                return invalid(format!("the collection window {from} .. {to} ends before it starts"));
            }
        }
        let act = self.act();
        let config = self.config.clone();
        if !apply {
            return self.store.read(|tx| Ok(survey(tx, selector, &reason, at, &config)?.1));
        }
        self.store.write(|tx| {
            let (Selection { batches: batch_ids, from, to, look_back_unreadable }, found) =
                survey(tx, selector, &reason, at, &config)?;
            // Rules never decide on a malformed value, and applying is deciding: refused before anything is written,
            // naming the value. Quarantining only the readable units would record this recall, answer and all, as
            // done (a repeat is then refused as the same recall, a later restatement redraws only its batches)
            // while a unit of an unreadable batch, or one a look-back that cannot be judged leaves out, stayed
            // dispensable unseen. The dry run names every unit meanwhile; repaired (`stoolbank verify`), it applies.
            if let Some(m) = look_back_unreadable {
                return Err(m.into());
            }
            let readable = batch_ids.iter().map(Stored::get).collect::<std::result::Result<Vec<&Id>, _>>()?;
            let answer = serde_json::to_value(&found).map_err(crate::store::StoreError::from)?;
            let (donor, batch) = match selector {
                RecallSelector::Donor { donor, .. } => (Some(donor), None),
                RecallSelector::Batch(b) => (None, Some(b)),
                RecallSelector::CollectionWindow { .. } => (None, None),
            };
            let new = NewRecall {
                reason: &reason,
                selector: selector_name(selector),
                donor,
                batch,
                from_date: from.map(|d| d.to_string()),
                to_date: to.map(|d| d.to_string()),
                at,
                answer: &answer,
                recorded_at: act.now,
            };
            let earlier: Vec<EarlierRecall> = recalls::recalls_like(tx, &new)?
                .into_iter()
                .map(|(id, at, answer)| EarlierRecall { id, at, found: material(&answer) })
                .collect();
            rules::check_recall_not_repeated(&earlier, &material(&answer), again)?;
            let rid = recalls::insert_recall(tx, &new)?;
            let subject = donor.or(batch).map_or_else(|| format!("recall-{rid}"), |i| i.data().to_string());
            record(tx, &act, "recall", "recalls", &rid.to_string(), &subject, at, None)?;
            if let Some(signer) = &signer {
                let meaning = format!("recall applied: {reason}");
                let rid = rid.to_string();
                let what = Signed { entity: "recalls", entity_id: &rid, subject: &subject, at };
                super::users::sign(tx, &act, signer, &meaning, &what)?;
            }
            if let Some(second) = &countersigner {
                // The countersigner's own entry on the recall, which their signature binds to (a signature signs
                // an entry of its signer's; the signer's signature holds the recall's first).
                let rid = rid.to_string();
                let by = super::Act { actor: second.name().to_string(), now: act.now };
                let before = audit::row_state(tx, "recalls", &rid)?;
                record(tx, &by, "countersign-recall", "recalls", &rid, &subject, at, before)?;
                let meaning = format!("recall countersigned: {reason}");
                let what = Signed { entity: "recalls", entity_id: &rid, subject: &subject, at };
                super::users::sign(tx, &by, second, &meaning, &what)?;
            }
            if let Some(donor) = donor {
                let reason = format!("recall {rid}: {reason}");
                let new = NewDeferral {
                    donor,
                    reason: &reason,
                    starts_on: local_day(at),
                    until: None,
                    permanent: false,
                    screening: None,
                    recall: Some(rid),
                    adverse_event: None,
                    recorded_at: act.now,
                };
                let did = donors::insert_deferral(tx, &new)?;
                record(tx, &act, "defer-donor", "deferrals", &did.to_string(), donor.data(), at, None)?;
            }
            for b in readable {
                let row = batches::batch(tx, b)?.ok_or_else(|| not_found(IdKind::Batch, b))?;
                if row.discarded_at.value()?.is_none() && row.recalled_at.value()?.is_none() {
                    let before = audit::row_state(tx, "batches", b.data())?;
                    batches::set_batch_recalled(tx, b, at)?;
                    record(tx, &act, "recall-batch", "batches", b.data(), b.data(), at, before)?;
                }
                for u in batches::units_of_batch(tx, b)? {
                    // A malformed fact refuses the whole recall, naming it: no unit is left on the shelf unseen.
                    let facts = u.facts()?;
                    let status = unit_status(&facts, at, local_day(at));
                    if facts.kind == UnitKind::Dose && u.dispense.is_none() && on_shelf(status) {
                        let id = u.id.get()?;
                        let before = audit::row_state(tx, "units", id.data())?;
                        batches::set_unit_recalled(tx, id, at, rid)?;
                        record(tx, &act, "recall-unit", "units", id.data(), b.data(), at, before)?;
                    }
                }
            }
            summarise(tx, selector, &reason, &batch_ids, from, to, at, Some(rid))
        })
    }
}

/// Draws a recorded recall's answer again, over the batches it named, as of its moment: a dispense recorded since
/// (one that happened before the recall) then appears with its recipient. Audited with the answer before.
pub(super) fn restate_answer(tx: &Tx, act: &super::Act, rid: i64) -> Result<()> {
    let row = recalls::recall(tx, rid)?.ok_or_else(|| AppError::Invalid(format!("no recall {rid} in this bank")))?;
    let selector = match (row.selector.as_str(), &row.donor, &row.batch, row.from_date, row.to_date) {
        ("donor", Some(donor), _, from, _) => RecallSelector::Donor { donor: donor.clone(), from },
        ("batch", _, Some(b), _, _) => RecallSelector::Batch(b.clone()),
        (_, _, _, Some(from), Some(to)) => RecallSelector::CollectionWindow { from, to },
        _ => return invalid(format!("recall {rid} is recorded without its selector")),
    };
    // Every batch the answer named, one marked malformed too (its stored text is still what finds it).
    let batch_ids: Vec<Stored<Id>> = row.answer["batches"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| match &b["id"] {
            serde_json::Value::String(s) => Some(Id::parse(s).map_or_else(|_| malformed_id(s), Stored::Read)),
            other => other["malformed"].as_str().map(malformed_id),
        })
        .collect();
    let found = summarise(tx, &selector, &row.reason, &batch_ids, row.from_date, row.to_date, row.at, None)?;
    let answer = serde_json::to_value(&found).map_err(crate::store::StoreError::from)?;
    let before = audit::row_state(tx, "recalls", &rid.to_string())?;
    recalls::set_answer(tx, rid, &answer)?;
    let subject = row.donor.or(row.batch).map_or_else(|| format!("recall-{rid}"), |i| i.data().to_string());
    record(tx, act, "restate-recall", "recalls", &rid.to_string(), &subject, act.now, before)
}

fn malformed_id(raw: &str) -> Stored<Id> {
    Stored::malformed(Malformed::new("identifier", raw.to_string()))
}

/// The batches and units a recall's answer names, in its order: what "the same answer" compares.
fn material(answer: &serde_json::Value) -> Vec<String> {
    ["batches", "units"]
        .iter()
        .filter_map(|k| answer[k].as_array())
        .flatten()
        .filter_map(|x| x["id"].as_str().map(str::to_string))
        .collect()
}

fn selector_name(s: &RecallSelector) -> &'static str {
    match s {
        RecallSelector::Donor { .. } => "donor",
        RecallSelector::Batch(_) => "batch",
        RecallSelector::CollectionWindow { .. } => "collection-window",
    }
}

/// What a recall selects: its batches (an unreadable identifier kept, marked), the collection days it covers, and
/// the malformed value a donor's default look-back could not be judged on, if any.
struct Selection {
    batches: Vec<Stored<Id>>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    look_back_unreadable: Option<Malformed>,
}

/// What a recall selects, and its summary with the material a donor recall's default look-back leaves out.
fn survey(
    tx: &Tx,
    selector: &RecallSelector,
    reason: &str,
    at: DateTime<Utc>,
    config: &Config,
) -> Result<(Selection, RecallSummary)> {
    let selection = select(tx, selector, at, config)?;
    let Selection { batches, from, to, .. } = &selection;
    let mut found = summarise(tx, selector, reason, batches, *from, *to, at, None)?;
    if let (RecallSelector::Donor { donor, from: None }, Some(covered)) = (selector, from) {
        found.earlier = earlier_material(tx, donor, *covered, batches, at)?;
    }
    found.look_back_unreadable = selection.look_back_unreadable.clone().map(Stored::malformed);
    Ok((selection, found))
}

/// The donor's batches collected before `covered` (the last clean screening), if any.
fn earlier_material(
    tx: &Tx,
    donor: &Id,
    covered: NaiveDate,
    selected: &[Stored<Id>],
    at: DateTime<Utc>,
) -> Result<Option<EarlierMaterial>> {
    let mut out = EarlierMaterial {
        donor: donor.clone(),
        covered_by_screening_of: covered,
        include_from: covered,
        batches: Vec::new(),
        in_stock: 0,
        dispensed: 0,
    };
    let left: Vec<Stored<Id>> =
        recalls::batches_of_donor_since(tx, donor, None)?.into_iter().filter(|b| !selected.contains(b)).collect();
    let found = Material::read(tx, &left)?;
    let donations: BTreeMap<String, Donation> =
        batches::donations_by_id(tx, found.batches.values().map(|b| b.donation.key()))?
            .into_iter()
            .map(|d| (d.id.key().into(), d))
            .collect();
    for b in &left {
        let row = found.batch(b)?;
        let d = donations.get(row.donation.key()).ok_or_else(|| dangling(IdKind::Donation, &row.donation))?;
        if let Some(collected) = d.collected_at.ok() {
            out.include_from = out.include_from.min(local_day(*collected));
        }
        for u in found.units(b).iter().filter(|u| u.is_dose()) {
            match u.status(at) {
                Stored::Read(UnitStatus::Dispensed) => out.dispensed += 1,
                Stored::Read(s) if on_shelf(s) => out.in_stock += 1,
                Stored::Read(_) => {}
                // Counted where it may be: with its recipient if it has one, else on the shelf.
                Stored::Malformed(_) if u.dispense.is_some() => out.dispensed += 1,
                Stored::Malformed(_) => out.in_stock += 1,
            }
        }
        out.batches.push(TraceBatch::new(row, at));
    }
    Ok((!out.batches.is_empty()).then_some(out))
}

/// The rows of a recall's batches, read in two statements (the batches, then all their units) instead of two per
/// batch; held for the answer, which names them all.
struct Material {
    batches: BTreeMap<String, Batch>,
    units: BTreeMap<String, Vec<Unit>>,
}

impl Material {
    fn read(tx: &Tx, ids: &[Stored<Id>]) -> Result<Material> {
        let batches = batches::batches_by_id(tx, ids.iter().map(Key::key))?
            .into_iter()
            .map(|b| (b.id.key().to_string(), b))
            .collect();
        let mut units: BTreeMap<String, Vec<Unit>> = BTreeMap::new();
        batches::each_unit_of_batches(tx, ids.iter().map(Key::key), |u| {
            units.entry(u.batch.key().to_string()).or_default().push(u);
        })?;
        for of_batch in units.values_mut() {
            batches::in_division_order(of_batch);
        }
        Ok(Material { batches, units })
    }

    fn batch(&self, b: &Stored<Id>) -> Result<&Batch> {
        self.batches.get(b.key()).ok_or_else(|| dangling(IdKind::Batch, b))
    }

    /// The batch's units, doses in division order then the retained sample (as `batches::units_of_batch`).
    fn units(&self, b: &Stored<Id>) -> &[Unit] {
        self.units.get(b.key()).map_or(&[], Vec::as_slice)
    }

    /// The same, taken out for an answer to hold.
    fn take_units(&mut self, b: &Stored<Id>) -> Vec<Unit> {
        self.units.remove(b.key()).unwrap_or_default()
    }
}

fn select(tx: &Tx, selector: &RecallSelector, at: DateTime<Utc>, config: &Config) -> Result<Selection> {
    match selector {
        RecallSelector::Donor { donor, from } => {
            let d = donors::donor(tx, donor)?.ok_or_else(|| not_found(IdKind::Donor, donor))?;
            // The default look-back starts at the last clean screening; when a fact it is judged on cannot be
            // read, the recall reaches back to the first donation (the widest window) and names the value: a
            // narrower guess could miss a unit.
            let (from, look_back_unreadable) = match from {
                Some(f) => (Some(*f), None),
                None => match marked(donors::facts(tx, &d).map_err(AppError::from))? {
                    Stored::Read(facts) => (facts.last_clean_screening(local_day(at), config), None),
                    Stored::Malformed(m) => (None, Some(*m)),
                },
            };
            let batches = recalls::batches_of_donor_since(tx, donor, from.map(local_midnight))?;
            Ok(Selection { batches, from, to: None, look_back_unreadable })
        }
        RecallSelector::Batch(b) => {
            batches::batch(tx, b)?.ok_or_else(|| not_found(IdKind::Batch, b))?;
            Ok(Selection { batches: vec![Stored::Read(b.clone())], from: None, to: None, look_back_unreadable: None })
        }
        RecallSelector::CollectionWindow { from, to } => {
            let end = to.checked_add_days(Days::new(1)).unwrap_or(*to);
            let batches = recalls::batches_collected_between(tx, local_midnight(*from), local_midnight(end))?;
            Ok(Selection { batches, from: Some(*from), to: Some(*to), look_back_unreadable: None })
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn summarise(
    tx: &Tx,
    selector: &RecallSelector,
    reason: &str,
    batch_ids: &[Stored<Id>],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    at: DateTime<Utc>,
    recall: Option<i64>,
) -> Result<RecallSummary> {
    let mut found = Material::read(tx, batch_ids)?;
    // Sized once: a window recall names thousands of units, and a list grown by doubling is copied each time.
    let mut batches_out = Vec::with_capacity(batch_ids.len());
    let mut units = Vec::with_capacity(found.units.values().map(Vec::len).sum());
    let mut retained = Vec::new();
    let mut by_recipient: BTreeMap<String, RecallRecipient> = BTreeMap::new();
    let given = found.units.values().flatten().filter_map(|u| Some(u.dispense.as_ref()?.recipient.key()));
    let mut patients: BTreeMap<String, Recipient> =
        recipients::recipients_by_id(tx, given)?.into_iter().map(|r| (r.id.key().to_string(), r)).collect();
    for b in batch_ids {
        let row = found.batch(b)?;
        batches_out.push(TraceBatch::new(row, at));
        for u in found.take_units(b) {
            if !u.is_dose() {
                retained.push(UnitView::new(u, at));
                continue;
            }
            if let Some(d) = &u.dispense {
                let entry = match by_recipient.entry(d.recipient.key().to_string()) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        let r = patients
                            .remove(d.recipient.key())
                            .ok_or_else(|| dangling(IdKind::Recipient, &d.recipient))?;
                        e.insert(RecallRecipient {
                            id: d.recipient.clone(),
                            indication: r.indication,
                            units: Vec::new(),
                            first_dispensed_at: d.at.clone(),
                            routes: Vec::new(),
                            clinicians: Vec::new(),
                        })
                    }
                };
                entry.units.push(u.id.clone());
                if let (Stored::Read(first), Stored::Read(this)) = (&entry.first_dispensed_at, &d.at) {
                    entry.first_dispensed_at = Stored::Read(*first.min(this));
                } else if entry.first_dispensed_at.ok().is_none() {
                    entry.first_dispensed_at = d.at.clone();
                }
                if !entry.routes.contains(&d.route) {
                    entry.routes.push(d.route.clone());
                }
                if let Some(c) = d.clinician.as_ref().filter(|c| !entry.clinicians.contains(c)) {
                    entry.clinicians.push(c.clone());
                }
            }
            units.push(UnitView::new(u, at));
        }
    }
    // A unit whose status cannot be read counts with its recipient if it has one, else on the shelf.
    let dispensed =
        units.iter().filter(|u| u.status.ok().map_or(u.recipient.is_some(), |s| *s == UnitStatus::Dispensed)).count();
    let in_stock_count = units
        .iter()
        .filter(|u| u.recipient.is_none() && u.status.ok().is_none_or(|s| on_shelf(*s) || *s == UnitStatus::Recalled))
        .count();
    Ok(RecallSummary {
        recall,
        applied: recall.is_some(),
        reason: reason.to_string(),
        selector: selector_name(selector),
        from,
        to,
        batches: batches_out,
        units,
        retained_samples: retained,
        recipients: by_recipient.into_values().collect(),
        in_stock: in_stock_count,
        dispensed,
        earlier: None,
        look_back_unreadable: None,
    })
}
