//! Trace: from any identifier, the chain both ways (donor → donations → batches → units → recipients), as of a
//! moment: what happened after it (a later donation, batch or dispense) is not part of the chain then.

use crate::core::access::Operation;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::donors::{judge, status_of};
use super::views::{dangling, DonationView, RecipientView, UnitView};
use super::{invalid, not_found, Bank, Result};
use crate::core::config::Config;
use crate::core::ids::{Id, IdKind};
use crate::core::model::{BatchStatus, DonorStatus};
use crate::store::batches::{self, Batch, Unit};
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
    donations: BTreeMap<String, Stored<Id>>,
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
            batches: BTreeMap::new(),
            units: BTreeMap::new(),
            recipients: BTreeMap::new(),
        }
    }

    /// Walks down from batches to their units and recipients.
    fn down_from_batch(&mut self, tx: &Tx, b: Batch) -> Result<()> {
        for u in batches::units_of_batch(tx, &b.id)? {
            self.unit(u);
        }
        self.batches.insert(b.id.key().into(), b);
        Ok(())
    }

    fn down_from_donation(&mut self, tx: &Tx, d: &Stored<Id>) -> Result<()> {
        add(&mut self.donations, d);
        let at = self.at;
        for b in batches::batches_of_donation(tx, d)?.into_iter().filter(|b| b.prepared_at.at_most(&at)) {
            self.down_from_batch(tx, b)?;
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

    /// Walks up from a batch to its donation and donor.
    fn up_from_batch(&mut self, tx: &Tx, b: &Stored<Id>) -> Result<()> {
        let batch = batches::batch(tx, b)?.ok_or_else(|| dangling(IdKind::Batch, b))?;
        not_yet(b, "made", &batch.prepared_at, self.at)?;
        let d = batches::donation(tx, &batch.donation)?.ok_or_else(|| dangling(IdKind::Donation, &batch.donation))?;
        add(&mut self.donations, &d.id);
        add(&mut self.donors, &d.donor);
        self.batches.insert(b.key().into(), batch);
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
            for d in batches::donations_of_donor(tx, root)?.into_iter().filter(|d| d.collected_at.at_most(&at)) {
                c.down_from_donation(tx, &d.id)?;
            }
        }
        IdKind::Donation => {
            let d = batches::donation(tx, root)?.ok_or_else(|| not_found(IdKind::Donation, root))?;
            not_yet(&stored, "collected", &d.collected_at, at)?;
            add(&mut c.donors, &d.donor);
            c.down_from_donation(tx, &stored)?;
        }
        IdKind::Batch => {
            c.up_from_batch(tx, &stored)?;
            let b = batches::batch(tx, root)?.ok_or_else(|| not_found(IdKind::Batch, root))?;
            c.down_from_batch(tx, b)?;
        }
        IdKind::Unit => {
            let u = batches::unit(tx, root)?.ok_or_else(|| not_found(IdKind::Unit, root))?;
            c.up_from_batch(tx, &u.batch)?;
            c.unit(u);
        }
        IdKind::Recipient => {
            recipients::recipient(tx, root)?.ok_or_else(|| not_found(IdKind::Recipient, root))?;
            add(&mut c.recipients, &stored);
            // Retrospective patients are registered after their treatment: only the dispenses count here.
            for u in batches::units_of_recipient(tx, root)?
                .into_iter()
                .filter(|u| u.dispense.as_ref().is_some_and(|d| d.at.at_most(&at)))
            {
                c.up_from_batch(tx, &u.batch)?;
                c.unit(u);
            }
        }
    }
    assemble(tx, root, c, at, config)
}

fn assemble(tx: &Tx, root: &Id, c: Collect, at: DateTime<Utc>, config: &Config) -> Result<Trace> {
    let on = local_day(at);
    let mut donors_out = Vec::new();
    for id in c.donors.values() {
        let d = donors::donor(tx, id)?.ok_or_else(|| dangling(IdKind::Donor, id))?;
        let (status, _) = status_of(&judge(tx, &d, on, config)?);
        donors_out.push(TraceDonor { id: id.clone(), status });
    }
    let mut donations = Vec::new();
    for id in c.donations.values() {
        let d = batches::donation(tx, id)?.ok_or_else(|| dangling(IdKind::Donation, id))?;
        let ids = batches::batches_of_donation(tx, id)?
            .into_iter()
            .filter(|b| b.prepared_at.at_most(&at))
            .map(|b| b.id)
            .collect();
        donations.push(DonationView::new(&d, ids));
    }
    let mut recipients_out = Vec::new();
    for id in c.recipients.values() {
        let r = recipients::recipient(tx, id)?.ok_or_else(|| dangling(IdKind::Recipient, id))?;
        // Only the units of this chain: a recipient's other treatments are not part of this trace.
        let units = c
            .units
            .values()
            .filter(|u| u.dispense.as_ref().is_some_and(|d| d.recipient.key() == id.key()))
            .map(|u| UnitView::new(u, at))
            .collect();
        let contacts = crate::store::recalls::contacts_of_recipient(tx, id)?
            .into_iter()
            .filter(|c| c.recorded_at.at_most(&at))
            .collect();
        recipients_out.push(RecipientView::new(&r, units, None, contacts));
    }
    Ok(Trace {
        root: Root { kind: root.kind(), id: root.clone() },
        donors: donors_out,
        donations,
        batches: c.batches.values().map(|b| TraceBatch::new(b, at)).collect(),
        units: c.units.values().map(|u| UnitView::new(u, at)).collect(),
        recipients: recipients_out,
    })
}
