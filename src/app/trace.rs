//! Trace: from any identifier, the chain both ways (donor → donations → batches → units → recipients), as of a
//! moment: what happened after it (a later donation, batch or dispense) is not part of the chain then.

use crate::core::access::Operation;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::donors::{judge_all, status_of};
use super::views::{dangling, DonationView, RecipientView, UnitView};
use super::{invalid, not_found, Bank, Result};
use crate::core::config::Config;
use crate::core::ids::{Id, IdKind};
use crate::core::model::{BatchStatus, DonorStatus};
use crate::store::batches::{self, Batch, Donation, Unit};
use crate::store::recalls::RecallContact;
use crate::store::recipients::Recipient;
use crate::store::{donors, recipients, Key, Stored, Tx};
use crate::time::{local_day, show};

#[derive(Debug, Clone, Serialize)]
pub struct Root {
    pub kind: IdKind,
    pub id: Id,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceDonor {
    pub id: Stored<Id>,
    pub status: Stored<DonorStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceBatch {
    pub id: Stored<Id>,
    pub donation: Stored<Id>,
    pub product: String,
    pub status: Stored<BatchStatus>,
    pub expires_on: Stored<chrono::NaiveDate>,
}

impl TraceBatch {
    pub fn new(b: &Batch, at: DateTime<Utc>) -> TraceBatch {
        TraceBatch {
            id: b.id.clone(),
            donation: b.donation.clone(),
            product: b.product.clone(),
            status: b.status(at),
            expires_on: b.expires_on.clone(),
        }
    }
}

/// The chain through one record. Lists are ordered and free of duplicates. A record with a malformed field is
/// in the chain, that field marked; one whose time cannot be read counts as within the moment asked.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub root: Root,
    pub donors: Vec<TraceDonor>,
    pub donations: Vec<DonationView>,
    pub batches: Vec<TraceBatch>,
    pub units: Vec<UnitView>,
    pub recipients: Vec<RecipientView>,
}

struct Collect {
    /// The moment the chain is drawn as of.
    at: DateTime<Utc>,
    donors: BTreeMap<String, Stored<Id>>,
    /// The chain's donations as read, and for each one walked down from, the batches made of it by `at`.
    donations: BTreeMap<String, Donation>,
    made: BTreeMap<String, Vec<Stored<Id>>>,
    batches: BTreeMap<String, Batch>,
    units: BTreeMap<String, Unit>,
    recipients: BTreeMap<String, Stored<Id>>,
}

/// Records by the identifier they are stored under.
fn add(to: &mut BTreeMap<String, Stored<Id>>, id: &Stored<Id>) {
    to.insert(id.key().into(), id.clone());
}

impl Collect {
    fn new(at: DateTime<Utc>) -> Collect {
        Collect {
            at,
            donors: BTreeMap::new(),
            donations: BTreeMap::new(),
            made: BTreeMap::new(),
            batches: BTreeMap::new(),
            units: BTreeMap::new(),
            recipients: BTreeMap::new(),
        }
    }

    /// Walks down from donations to their batches (as of `self.at`), units and recipients: two statements
    /// whatever the number of donations.
    fn down_from_donations(&mut self, tx: &Tx, donations: Vec<Donation>) -> Result<()> {
        let at = self.at;
        let made: Vec<Batch> = batches::batches_of_donations(tx, donations.iter().map(|d| d.id.key()))?
            .into_iter()
            .filter(|b| b.prepared_at.at_most(&at))
            .collect();
        for d in donations {
            self.made.insert(d.id.key().into(), Vec::new());
            self.donations.insert(d.id.key().into(), d);
        }
        for b in &made {
            self.made.entry(b.donation.key().into()).or_default().push(b.id.clone());
        }
        self.down_from_batches(tx, made)
    }

    /// Walks down from batches to their units and recipients, in one statement.
    fn down_from_batches(&mut self, tx: &Tx, made: Vec<Batch>) -> Result<()> {
        batches::each_unit_of_batches(tx, made.iter().map(|b| b.id.key()), |u| self.unit(u))?;
        for b in made {
            self.batches.insert(b.id.key().into(), b);
        }
        Ok(())
    }

    /// Adds a unit as it stood at `self.at`: a later dispense is not yet there.
    fn unit(&mut self, mut u: Unit) {
        if u.dispense.as_ref().is_some_and(|d| !d.at.at_most(&self.at)) {
            u.dispense = None;
        }
        if let Some(d) = &u.dispense {
            add(&mut self.recipients, &d.recipient);
        }
        self.units.insert(u.id.key().into(), u);
    }

    /// Walks up from batches to their donations and donors, in two statements; the first batch (in the order
    /// given) that is missing or not yet made refuses the trace.
    fn up_from_batches(&mut self, tx: &Tx, ids: &[&Stored<Id>]) -> Result<()> {
        let mut found: BTreeMap<String, Batch> = batches::batches_by_id(tx, ids.iter().map(|b| b.key()))?
            .into_iter()
            .map(|b| (b.id.key().into(), b))
            .collect();
        let donations: BTreeMap<String, Donation> =
            batches::donations_by_id(tx, found.values().map(|b| b.donation.key()))?
                .into_iter()
                .map(|d| (d.id.key().into(), d))
                .collect();
        for b in ids {
            let batch = match found.remove(b.key()) {
                Some(batch) => batch,
                // Named twice (two units of one batch): already walked.
                None if self.batches.contains_key(b.key()) => continue,
                None => return Err(dangling(IdKind::Batch, b)),
            };
            not_yet(b, "made", &batch.prepared_at, self.at)?;
            let d = donations.get(batch.donation.key()).ok_or_else(|| dangling(IdKind::Donation, &batch.donation))?;
            self.donations.entry(d.id.key().into()).or_insert_with(|| d.clone());
            add(&mut self.donors, &d.donor);
            self.batches.insert(b.key().into(), batch);
        }
        Ok(())
    }
}

impl Bank {
    /// The chain through any record, statuses as of `at`.
    pub fn trace(&mut self, root: &Id, at: DateTime<Utc>) -> Result<Trace> {
        self.authorize(Operation::Read)?;
        let config = self.config.clone();
        self.store.read(|tx| trace(tx, root, at, &config))
    }
}

/// Refuses to trace a record as of a moment before it existed.
fn not_yet(id: &Stored<Id>, what: &str, when: &Stored<DateTime<Utc>>, at: DateTime<Utc>) -> Result<()> {
    match when.ok() {
        Some(when) if *when > at => {
            invalid(format!("{id} did not exist yet at {}: it was {what} at {}", show(at), show(*when)))
        }
        _ => Ok(()),
    }
}

fn trace(tx: &Tx, root: &Id, at: DateTime<Utc>, config: &Config) -> Result<Trace> {
    let mut c = Collect::new(at);
    let stored = Stored::Read(root.clone());
    match root.kind() {
        IdKind::Donor => {
            // Donors, like recipients, are often registered after the fact: their material dates them.
            donors::donor(tx, root)?.ok_or_else(|| not_found(IdKind::Donor, root))?;
            add(&mut c.donors, &stored);
            let collected: Vec<Donation> =
                batches::donations_of_donor(tx, root)?.into_iter().filter(|d| d.collected_at.at_most(&at)).collect();
            c.down_from_donations(tx, collected)?;
        }
        IdKind::Donation => {
            let d = batches::donation(tx, root)?.ok_or_else(|| not_found(IdKind::Donation, root))?;
            not_yet(&stored, "collected", &d.collected_at, at)?;
            add(&mut c.donors, &d.donor);
            c.down_from_donations(tx, vec![d])?;
        }
        IdKind::Batch => {
            c.up_from_batches(tx, &[&stored])?;
            let b = c.batches.get(stored.key()).cloned().ok_or_else(|| not_found(IdKind::Batch, root))?;
            c.down_from_batches(tx, vec![b])?;
        }
        IdKind::Unit => {
            let u = batches::unit(tx, root)?.ok_or_else(|| not_found(IdKind::Unit, root))?;
            c.up_from_batches(tx, &[&u.batch])?;
            c.unit(u);
        }
        IdKind::Recipient => {
            recipients::recipient(tx, root)?.ok_or_else(|| not_found(IdKind::Recipient, root))?;
            add(&mut c.recipients, &stored);
            // Retrospective patients are registered after their treatment: only the dispenses count here.
            let given: Vec<Unit> = batches::units_of_recipient(tx, root)?
                .into_iter()
                .filter(|u| u.dispense.as_ref().is_some_and(|d| d.at.at_most(&at)))
                .collect();
            c.up_from_batches(tx, &given.iter().map(|u| &u.batch).collect::<Vec<_>>())?;
            for u in given {
                c.unit(u);
            }
        }
    }
    assemble(tx, root, c, at, config)
}

/// Completes the chain with what the walk did not read (its donors judged, the batches of a donation reached
/// walking up, its recipients with their recall contacts), each kind in one statement.
fn assemble(tx: &Tx, root: &Id, mut c: Collect, at: DateTime<Utc>, config: &Config) -> Result<Trace> {
    let mut found = Vec::new();
    for id in c.donors.values() {
        found.push(donors::donor(tx, id)?.ok_or_else(|| dangling(IdKind::Donor, id))?);
    }
    let judged = judge_all(tx, &found, local_day(at), config)?;
    let donors_out =
        c.donors.values().zip(judged).map(|(id, j)| TraceDonor { id: id.clone(), status: status_of(&j).0 }).collect();
    // A donation reached walking up (from a batch or unit) lists every batch made of it, not only the chain's.
    let unwalked: Vec<&str> = c.donations.keys().filter(|k| !c.made.contains_key(*k)).map(String::as_str).collect();
    if !unwalked.is_empty() {
        for b in batches::batches_of_donations(tx, unwalked)?.into_iter().filter(|b| b.prepared_at.at_most(&at)) {
            c.made.entry(b.donation.key().into()).or_default().push(b.id);
        }
    }
    let donations =
        c.donations.into_iter().map(|(key, d)| DonationView::new(d, c.made.remove(&key).unwrap_or_default())).collect();
    let units: Vec<UnitView> = c.units.into_values().map(|u| UnitView::new(u, at)).collect();
    // Only the units of this chain: a recipient's other treatments are not part of this trace.
    let mut given: BTreeMap<&str, Vec<UnitView>> = BTreeMap::new();
    for u in &units {
        if let Some(r) = &u.recipient {
            given.entry(r.key()).or_default().push(u.clone());
        }
    }
    let keys = c.recipients.keys().map(String::as_str);
    let mut patients: BTreeMap<String, Recipient> =
        recipients::recipients_by_id(tx, keys.clone())?.into_iter().map(|r| (r.id.key().into(), r)).collect();
    let mut contacts: BTreeMap<String, Vec<RecallContact>> = BTreeMap::new();
    for (r, contact) in crate::store::recalls::contacts_of_recipients(tx, keys)? {
        if contact.recorded_at.at_most(&at) {
            contacts.entry(r).or_default().push(contact);
        }
    }
    let mut recipients_out = Vec::new();
    for (key, id) in &c.recipients {
        let r = patients.remove(key).ok_or_else(|| dangling(IdKind::Recipient, id))?;
        let units = given.remove(key.as_str()).unwrap_or_default();
        recipients_out.push(RecipientView::new(r, units, None, contacts.remove(key).unwrap_or_default()));
    }
    Ok(Trace {
        root: Root { kind: root.kind(), id: root.clone() },
        donors: donors_out,
        donations,
        batches: c.batches.values().map(|b| TraceBatch::new(b, at)).collect(),
        units,
        recipients: recipients_out,
    })
}
