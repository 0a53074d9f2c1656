//! The bench's lists over whole tables: searches and filters run in SQL ([`crate::store::lists`]) a page at a
//! time, and where a status is the core's to judge, pages are read until the page is full or the table ends.

use crate::core::access::Operation;
use chrono::{DateTime, Utc};

use super::donors::summaries;
use super::recall::RecallSelector;
use super::views::{DonorSummary, UnitView};
use super::{Bank, Result};
use crate::core::ids::Id;
use crate::core::model::{DonorStatus, UnitStatus};
use crate::store::batches::{self, Batch};
use crate::store::lists::{self, EarlierRecall, Shelf};
use crate::store::recipients::{self, Recipient};
use crate::store::{donors, labels, Stored};
use crate::time::local_day;

/// One page of a list, and where the next one starts (None: the list ends here).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub next: Option<Stored<Id>>,
    /// How many rows the whole list holds, where it is cheap to count (None otherwise).
    pub total: Option<usize>,
}

/// Rows read per query while filling a page that the core filters.
const SCAN: usize = 200;

/// The stored form of a code typed or scanned: a whole identifier (its check character valid) without the check
/// character, else the start of a code in compact form (separators dropped, capitals).
fn stored_code(query: &str) -> String {
    match Id::parse(query) {
        Ok(id) => id.data().to_string(),
        Err(_) => query.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect(),
    }
}

impl Bank {
    /// Donors matching `query`, a page at a time: a status (eligible, deferred, not-eligible) as of `at`, or
    /// else a donor code as displayed (check character included) or the start of one; empty: every donor.
    pub fn find_donors(
        &mut self,
        query: &str,
        after: Option<&Stored<Id>>,
        limit: usize,
        at: DateTime<Utc>,
    ) -> Result<Page<DonorSummary>> {
        self.authorize(Operation::Read)?;
        let query = query.trim();
        if let Ok(status) = query.parse::<DonorStatus>() {
            return self.fill(after, limit, |bank, after| {
                let page = bank.donors(after, SCAN, at)?;
                let last = page.last().map(|d| d.id.clone());
                // A donor who cannot be judged is shown (marked) under every status.
                Ok((page.into_iter().filter(|d| d.status.ok().is_none_or(|s| *s == status)).collect(), last))
            });
        }
        let code = stored_code(query);
        let config = self.config.clone();
        self.store.read(|tx| {
            let ids = lists::by_code(tx, lists::Coded::Donors, &code, after, limit)?;
            let mut found = Vec::with_capacity(ids.len());
            for id in &ids {
                found.extend(donors::donor(tx, id)?);
            }
            let rows = summaries(tx, found, local_day(at), &config)?;
            Ok(Page { next: if ids.len() < limit { None } else { ids.last().cloned() }, rows, total: None })
        })
    }

    /// Batches waiting in quarantine, in the order their donations came in, a page at a time, with how many
    /// there are in all (the QC and release work list).
    pub fn quarantine_page(&mut self, after: Option<&Stored<Id>>, limit: usize) -> Result<Page<Batch>> {
        self.authorize(Operation::Read)?;
        self.store.read(|tx| {
            let ids = lists::batches_in_quarantine(tx, after, limit)?;
            let rows = ids
                .iter()
                .filter_map(|id| batches::batch(tx, id).transpose())
                .collect::<std::result::Result<_, _>>()?;
            let total = Some(lists::batches_in_quarantine_count(tx)?);
            Ok::<_, super::AppError>(Page {
                next: if ids.len() < limit { None } else { ids.last().cloned() },
                rows,
                total,
            })
        })
    }

    /// Recipients whose code is `text` as displayed, or starts with it, or whose indication contains it, a page
    /// at a time.
    pub fn find_recipients(&mut self, text: &str, after: Option<&Stored<Id>>, limit: usize) -> Result<Page<Recipient>> {
        self.authorize(Operation::Read)?;
        let text = text.trim().to_string();
        let code = stored_code(&text);
        self.store.read(|tx| {
            let ids = match Id::parse(&text) {
                // A whole identifier is a code, not words of an indication.
                Ok(_) => lists::by_code(tx, lists::Coded::Recipients, &code, after, limit)?,
                Err(_) => lists::recipients_matching(tx, &code, &text, after, limit)?,
            };
            let rows = ids
                .iter()
                .filter_map(|id| recipients::recipient(tx, id).transpose())
                .collect::<std::result::Result<_, _>>()?;
            Ok::<_, super::AppError>(Page {
                next: if ids.len() < limit { None } else { ids.last().cloned() },
                rows,
                total: None,
            })
        })
    }

    /// Doses on the shelf with status `only` as of `at` (None: all of them), a page at a time.
    pub fn shelf(
        &mut self,
        only: Option<UnitStatus>,
        after: Option<&Stored<Id>>,
        limit: usize,
        at: DateTime<Utc>,
    ) -> Result<Page<UnitView>> {
        self.authorize(Operation::Read)?;
        let today = local_day(at);
        let shelf = match only {
            None => Shelf::All,
            Some(UnitStatus::Released) => Shelf::ReleasedInDate(today),
            Some(UnitStatus::Expired) => Shelf::PastExpiry(today),
            Some(_) => Shelf::NotReleased,
        };
        self.fill(after, limit, |bank, after| {
            bank.store.read(|tx| {
                let ids = lists::units_on_shelf(tx, shelf, after, SCAN)?;
                let mut rows = Vec::new();
                for id in &ids {
                    if let Some(u) = batches::unit(tx, id)? {
                        let v = UnitView::new(u, at);
                        // A unit whose status cannot be derived is shown (marked) under every filter.
                        if only.is_none_or(|s| v.status.ok().is_none_or(|status| *status == s)) {
                            rows.push(v);
                        }
                    }
                }
                Ok((rows, ids.last().cloned()))
            })
        })
    }

    /// Every donor, with status as of `at`, in code order (the CLI lists them whole; the TUI keeps to pages).
    pub fn all_donors(&mut self, at: DateTime<Utc>) -> Result<Vec<DonorSummary>> {
        self.authorize(Operation::Read)?;
        let page = self.fill(None, usize::MAX, |bank, after| {
            let page = bank.donors(after, SCAN, at)?;
            let last = page.last().map(|d| d.id.clone());
            Ok((page, last))
        })?;
        Ok(page.rows)
    }

    /// Every recipient, in code order.
    pub fn all_recipients(&mut self) -> Result<Vec<Recipient>> {
        self.authorize(Operation::Read)?;
        let page = self.fill(None, usize::MAX, |bank, after| {
            let page = bank.recipients(after, SCAN)?;
            let last = page.last().map(|r| r.id.clone());
            Ok((page, last))
        })?;
        Ok(page.rows)
    }

    /// Reads pages of `SCAN` rows through `page` (rows kept, last row read) until `limit` rows are kept or the
    /// table ends.
    fn fill<T>(
        &mut self,
        after: Option<&Stored<Id>>,
        limit: usize,
        mut page: impl FnMut(&mut Bank, Option<&Stored<Id>>) -> Result<(Vec<T>, Option<Stored<Id>>)>,
    ) -> Result<Page<T>> {
        let mut rows = Vec::new();
        let mut cursor = after.cloned();
        loop {
            let (kept, last) = page(self, cursor.as_ref())?;
            rows.extend(kept);
            match last {
                Some(last) if rows.len() < limit => cursor = Some(last),
                Some(last) => return Ok(Page { rows, next: Some(last), total: None }),
                None => return Ok(Page { rows, next: None, total: None }),
            }
        }
    }

    /// Whether a label of `id` (or of any unit it labels) was printed before: printing again is a reprint.
    pub fn label_printed(&mut self, id: &Id, at: DateTime<Utc>) -> Result<bool> {
        self.authorize(Operation::Read)?;
        let entities: Vec<Id> = self.labels_for(id, at)?.into_iter().map(|l| l.id).collect();
        self.store.read(|tx| entities.iter().try_fold(false, |any, e| Ok(any || labels::printed_before(tx, e)?)))
    }

    /// Recalls already applied with the same selection (by donor, by batch, or the same collection window).
    pub fn earlier_recalls(&mut self, selector: &RecallSelector) -> Result<Vec<EarlierRecall>> {
        self.authorize(Operation::Read)?;
        let (name, subject, window) = match selector {
            RecallSelector::Donor { donor, .. } => ("donor", Some(donor), None),
            RecallSelector::Batch(b) => ("batch", Some(b), None),
            RecallSelector::CollectionWindow { from, to } => ("collection-window", None, Some((*from, *to))),
        };
        Ok(self.store.read(|tx| lists::recalls_like(tx, name, subject, window))?)
    }
}
