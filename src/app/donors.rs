//! Registering donors, recording their screenings, deferring them, and judging eligibility.

use super::users::Signed;
use crate::core::access::Operation;
use chrono::{DateTime, NaiveDate, Utc};

use super::views::{marked, DeferralView, DonationView, DonorSummary, DonorView, ScreeningView, TestResultView};
use super::{invalid, not_found, record, record_group, Act, AppError, Bank, Record, Result};
use crate::core::config::Config;
use crate::core::ids::{Id, IdKind};
use crate::core::input::{self, Now};
use crate::core::model::{DonorStatus, ScreeningKind, Sex, TestResult};
use crate::core::rules::{self, DeferralFact, DonorFacts, Eligibility, ScreeningFact};
use crate::store::donors::{self, Donor, Identity, NewDeferral, StoredDeferral, StoredScreening};
use crate::store::{batches, Key, StoreError, Stored, Tx};
use crate::time::local_day;

pub struct NewDonor {
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub identity: Identity,
}

/// Results as entered at the bench: `all_negative` fills the whole configured panel with negatives, then each
/// named test overrides its entry.
#[derive(Debug, Clone, Default)]
pub struct ScreeningInput {
    pub all_negative: bool,
    pub tests: Vec<(String, TestResult)>,
}

impl ScreeningInput {
    /// Resolves test names against the configured panel (an unknown name is refused with the valid list).
    pub fn resolve(&self, kind: ScreeningKind, config: &Config) -> Result<Vec<(String, TestResult)>> {
        let panel = config.panel(kind);
        let mut results: Vec<(String, TestResult)> = if self.all_negative {
            panel.iter().map(|t| (t.clone(), TestResult::Negative)).collect()
        } else {
            Vec::new()
        };
        let mut named: Vec<&str> = Vec::new();
        for (name, result) in &self.tests {
            let test = Config::code(panel, name, &format!("{kind} test")).map_err(AppError::Invalid)?;
            // Named twice, one of the two results would be silently lost (a positive, perhaps).
            if named.contains(&test) {
                return Err(input::Invalid::TestRepeated(test.to_string()).into());
            }
            named.push(test);
            match results.iter_mut().find(|(t, _)| t == test) {
                Some(entry) => entry.1 = *result,
                None => results.push((test.to_string(), *result)),
            }
        }
        if results.is_empty() {
            return Err(input::Invalid::NoResults.into());
        }
        Ok(results)
    }
}

/// What recording a screening did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScreeningRecorded {
    pub id: i64,
    pub donor: Id,
    pub kind: ScreeningKind,
    pub date: NaiveDate,
    pub complete: bool,
    pub abnormal: Vec<TestResultView>,
    /// The deferral it caused, if a result was positive or indeterminate.
    pub deferral: Option<DeferralView>,
}

impl Bank {
    pub fn register_donor(&mut self, new: NewDonor, at: DateTime<Utc>) -> Result<Donor> {
        self.authorize(Operation::RegisterDonor)?;
        let act = self.act();
        let now = self.rules_now();
        input::plausible_time("registration time", at, now)?;
        input::donor_birth(new.birth_date, now, &self.config)?;
        let new = NewDonor { identity: checked_identity(new.identity)?, ..new };
        self.store.write(|tx| {
            let id = Id::donor(donors::next_donor_seq(tx)?);
            donors::insert_donor(tx, &id, new.sex, new.birth_date, at)?;
            let donor = Donor {
                id: Stored::Read(id.clone()),
                sex: Stored::Read(new.sex),
                birth_date: Stored::Read(new.birth_date),
                registered_at: Stored::Read(at),
            };
            record(tx, &act, "register-donor", "donors", id.data(), id.data(), at, None)?;
            if !new.identity.is_empty() {
                let sealed = donors::seal_identity(&Bank::identity_public_key(tx)?, &new.identity)?;
                let row = donors::insert_identity(tx, "donor_identities", &id, &sealed, act.now)?;
                record(tx, &act, "record-identity", "donor_identities", &row.to_string(), id.data(), at, None)?;
            }
            Ok(donor)
        })
    }

    fn donor_row(&mut self, id: &Id) -> Result<Donor> {
        self.store.read(|tx| load_donor(tx, id))
    }

    /// Records one screening and its results; a positive or indeterminate result defers the donor (permanently
    /// for the tests the configuration names, otherwise until a later complete negative screening of the panel).
    pub fn record_screening(
        &mut self,
        donor: &Id,
        kind: ScreeningKind,
        date: NaiveDate,
        input: &ScreeningInput,
        at: DateTime<Utc>,
    ) -> Result<ScreeningRecorded> {
        self.correct_screening(donor, kind, date, input, None, at)
    }

    /// Records a screening that, with `corrects`, supersedes an earlier one of the same donor and panel (a
    /// mis-keyed result): the earlier one then no longer counts, nor does a deferral its results caused. The
    /// check that the earlier one is not yet superseded and the write are one transaction (and the schema holds
    /// "superseded at most once"), so two benches cannot both correct it.
    pub fn correct_screening(
        &mut self,
        donor: &Id,
        kind: ScreeningKind,
        date: NaiveDate,
        input: &ScreeningInput,
        corrects: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<ScreeningRecorded> {
        // A correction is a quality manager's signed act; a first screening, the technician's.
        let signer = self.signer_if(corrects.is_some(), Operation::Correction, Operation::Screen)?;
        let results = input.resolve(kind, &self.config)?;
        let (act, now) = (self.act(), self.rules_now());
        let config = &self.config;
        self.store.write(|tx| {
            let r = screen(tx, &act, config, now, donor, Screening { kind, date, results, corrects, at })?;
            if let (Some(signer), Some(old)) = (&signer, corrects) {
                let meaning = format!("corrects screening {old}");
                let sid = r.id.to_string();
                let what = Signed { entity: "screenings", entity_id: &sid, subject: donor.data(), at };
                super::users::sign(tx, &act, signer, &meaning, &what)?;
            }
            Ok(r)
        })
    }

    /// Defers a donor from the day of `at`, until a date (exclusive) or permanently.
    pub fn defer_donor(
        &mut self,
        donor: &Id,
        reason: &str,
        until: Option<NaiveDate>,
        permanent: bool,
        at: DateTime<Utc>,
    ) -> Result<DeferralView> {
        self.authorize(Operation::Defer)?;
        let reason = input::reason("deferral", reason)?;
        // A safety act takes effect when recorded: a deferral dated in the future would leave the donor eligible.
        input::plausible_time("deferral time", at, self.rules_now())?;
        let starts_on = local_day(at);
        input::deferral_end(starts_on, until, permanent)?;
        let act = self.act();
        self.store.write(|tx| {
            load_donor(tx, donor)?;
            let new = NewDeferral {
                donor,
                reason,
                starts_on,
                until,
                permanent,
                screening: None,
                recall: None,
                adverse_event: None,
                recorded_at: act.now,
            };
            let did = donors::insert_deferral(tx, &new)?;
            record(tx, &act, "defer-donor", "deferrals", &did.to_string(), donor.data(), at, None)?;
            Ok(DeferralView {
                id: did,
                reason: reason.into(),
                starts_on: Stored::Read(starts_on),
                ends_on: Stored::Read(until),
                permanent,
                until_lifted: false,
                active: Stored::Read(true),
            })
        })
    }

    /// Lifts the deferrals a recall put on the donor (a quality manager's decision, audited with its reason),
    /// from the day of `at`. Other deferrals (permanent, dated, a positive result's) stand.
    pub fn lift_deferral(&mut self, donor: &Id, reason: &str, at: DateTime<Utc>) -> Result<Vec<DeferralView>> {
        self.authorize(Operation::LiftDeferral)?;
        let reason = input::reason("lift", reason)?;
        input::plausible_time("lift time", at, self.rules_now())?;
        let on = local_day(at);
        let (act, config) = (self.act(), &self.config);
        self.store.write(|tx| {
            let facts = donors::facts(tx, &load_donor(tx, donor)?)?;
            let open: Vec<_> = facts
                .deferrals
                .iter()
                .filter(|d| d.until_lifted() && d.lifted_on.is_none() && d.starts_on <= on)
                .collect();
            if open.is_empty() {
                return invalid(format!(
                    "donor {donor} has no deferral awaiting a lift on {on} (only a recall's or a safety signal's is lifted)"
                ));
            }
            let mut lifted = Vec::new();
            for d in open {
                let lid = donors::insert_lift(tx, d.id, on, reason, act.now)?;
                record(tx, &act, "lift-deferral", "deferral_lifts", &lid.to_string(), donor.data(), at, None)?;
                let fact = rules::DeferralFact { lifted_on: Some(on), ..d.clone() };
                lifted.push(deferral_view(&facts, &fact, on, config));
            }
            Ok(lifted)
        })
    }

    /// Everything about a donor as of `at`: status and the reason for it, screenings, deferrals, donations.
    /// Identity is not among it: [`Bank::donor_identity`] reads it, audited.
    pub fn donor_view(&mut self, donor: &Id, at: DateTime<Utc>) -> Result<DonorView> {
        self.authorize(Operation::Read)?;
        let d = self.donor_row(donor)?;
        let config = self.config.clone();
        self.store.read(|tx| {
            let on = local_day(at);
            // The view lists every screening, so it reads the whole history (and judges on it).
            let judged = marked(donors::facts(tx, &d).map_err(AppError::from).map(|f| {
                let e = f.eligibility(on, &config);
                (f, e)
            }))?;
            let eligibility = judged.map(|(_, e)| e);
            let (status, reason) = status_of(&eligibility);
            // Listed as stored, each row whether or not the judgement could read it: an unreadable value is
            // marked in its row, and every other row is shown.
            let screening_rows = donors::stored_screenings(tx, donor)?;
            let deferrals = deferral_views(&donors::stored_deferrals(tx, donor)?, &screening_rows, on, &config);
            let screenings = screening_views(&screening_rows, &config);
            let mut donations = Vec::new();
            for dn in batches::donations_of_donor(tx, donor)? {
                let ids = batches::batches_of_donation(tx, &dn.id)?.into_iter().map(|b| b.id).collect();
                donations.push(DonationView::new(dn, ids));
            }
            Ok::<_, AppError>(DonorView {
                id: d.id.clone(),
                sex: d.sex,
                birth_date: d.birth_date,
                status,
                eligibility,
                reason,
                identity: None,
                screenings,
                deferrals,
                donations,
            })
        })
    }

    /// Donors in code order with their status as of `at`, a page at a time.
    pub fn donors(&mut self, after: Option<&Stored<Id>>, limit: usize, at: DateTime<Utc>) -> Result<Vec<DonorSummary>> {
        self.authorize(Operation::Read)?;
        let config = self.config.clone();
        self.store.read(|tx| summaries(tx, donors::donors_page(tx, after, limit)?, local_day(at), &config))
    }
}

/// The facts eligibility on day `on` reads (see [`DonorFacts`]): the deferrals, the screenings of the validity
/// window, and the screening lifting each deferral that one lifts; a few indexed lookups, not the whole history.
pub(super) fn eligibility_facts(tx: &Tx, d: &Donor, on: NaiveDate, config: &Config) -> Result<DonorFacts> {
    let (from, to) = rules::screening_window(on, config);
    facts_within(tx, d, from, to, config)
}

/// The facts a release of a donation collected on `collected_on` reads on day `on` (see
/// [`rules::release_window`]): those of its window, and the recall days.
pub(super) fn release_facts(
    tx: &Tx,
    d: &Donor,
    collected_on: NaiveDate,
    on: NaiveDate,
    config: &Config,
) -> Result<DonorFacts> {
    let (from, to) = rules::release_window(collected_on, on, config);
    let mut facts = facts_within(tx, d, from, to, config)?;
    facts.recalls = donors::recall_days(tx, d.id.get()?)?.into_iter().map(local_day).collect();
    Ok(facts)
}

/// The deferrals, the screenings dated `from..=to`, and for each deferral begun by `to` that a screening lifts,
/// the first clean screening of its panel after its cause (read one screening at a time, stopping there).
fn facts_within(tx: &Tx, d: &Donor, from: NaiveDate, to: NaiveDate, config: &Config) -> Result<DonorFacts> {
    let id = d.id.get()?;
    let deferrals = donors::deferrals(tx, id)?;
    let screenings = donors::screenings_between(tx, id, from, to)?;
    with_lifting(tx, d, deferrals, screenings, to, config)
}

/// A donor's facts from their deferrals and the screenings of a window ending on `to`, with the screening lifting
/// each deferral begun by `to` that one lifts.
fn with_lifting(
    tx: &Tx,
    d: &Donor,
    deferrals: Vec<DeferralFact>,
    mut screenings: Vec<ScreeningFact>,
    to: NaiveDate,
    config: &Config,
) -> Result<DonorFacts> {
    let id = d.id.get()?;
    for deferral in deferrals.iter().filter(|x| x.starts_on <= to) {
        let Some((cause, kind)) = deferral.lifted_by_screening() else { continue };
        let lifting = donors::first_screening_after(tx, id, kind, (deferral.starts_on, cause), |s| s.is_clean(config))?;
        if let Some(s) = lifting.filter(|s| !screenings.contains(s)) {
            screenings.push(s);
        }
    }
    Ok(DonorFacts { birth_date: Some(d.birth_date.value()?), screenings, deferrals, recalls: Vec::new() })
}

/// Each donor's eligibility on day `on`, in order. Their deferrals and the screenings of the window are read for
/// all of them in two statements; when a value among those cannot be read, the donors are judged one at a time,
/// so that only the donor holding it is marked.
pub(super) fn judge_all(tx: &Tx, ds: &[Donor], on: NaiveDate, config: &Config) -> Result<Vec<Stored<Eligibility>>> {
    let together = || -> Result<Vec<Stored<Eligibility>>> {
        let (from, to) = rules::screening_window(on, config);
        let ids = ds.iter().map(|d| d.id.key());
        let mut deferrals = donors::deferrals_of(tx, ids.clone())?;
        let mut screenings = donors::screenings_between_of(tx, ids, from, to)?;
        ds.iter()
            .map(|d| {
                let key = d.id.key();
                let facts = with_lifting(
                    tx,
                    d,
                    deferrals.remove(key).unwrap_or_default(),
                    screenings.remove(key).unwrap_or_default(),
                    to,
                    config,
                )?;
                Ok(Stored::Read(facts.eligibility(on, config)))
            })
            .collect()
    };
    match together() {
        Err(AppError::Store(StoreError::Malformed(_))) => ds.iter().map(|d| judge(tx, d, on, config)).collect(),
        judged => judged,
    }
}

/// A donor's eligibility on day `on`, or the malformed stored value it cannot be judged on.
pub(super) fn judge(tx: &Tx, d: &Donor, on: NaiveDate, config: &Config) -> Result<Stored<Eligibility>> {
    marked(eligibility_facts(tx, d, on, config).map(|f| f.eligibility(on, config)))
}

/// The status a judgement gives, and why; a donor who cannot be judged has that status marked.
pub(super) fn status_of(judged: &Stored<Eligibility>) -> (Stored<DonorStatus>, String) {
    match judged {
        Stored::Read(e) => {
            let (status, reason) = e.status();
            (Stored::Read(status), reason)
        }
        Stored::Malformed(m) => (Stored::Malformed(m.clone()), format!("eligibility cannot be judged: {m}")),
    }
}

/// The lines of the donor list for `ds`.
pub(super) fn summaries(tx: &Tx, ds: Vec<Donor>, on: NaiveDate, config: &Config) -> Result<Vec<DonorSummary>> {
    let judged = judge_all(tx, &ds, on, config)?;
    Ok(ds
        .into_iter()
        .zip(judged)
        .map(|(d, judged)| {
            let (status, reason) = status_of(&judged);
            DonorSummary { id: d.id, sex: d.sex, birth_date: d.birth_date, status, reason }
        })
        .collect())
}

/// Identity as typed: each given field trimmed, not blank and of a bounded length.
pub(super) fn checked_identity(i: Identity) -> Result<Identity> {
    let field = |what: &'static str, v: Option<String>| -> Result<Option<String>> {
        Ok(v.as_deref().map(|v| input::text(what, v).map(str::to_string)).transpose()?)
    };
    Ok(Identity {
        name: field("name", i.name)?,
        phone: field("phone number", i.phone)?,
        national_id: field("national identifier", i.national_id)?,
    })
}

/// A deferral as the views show it on day `on`.
fn deferral_view(facts: &rules::DonorFacts, d: &rules::DeferralFact, on: NaiveDate, config: &Config) -> DeferralView {
    let end = facts.deferral_end(d, config);
    DeferralView {
        id: d.id,
        reason: d.reason.clone(),
        starts_on: Stored::Read(d.starts_on),
        ends_on: Stored::Read(end),
        permanent: d.permanent,
        until_lifted: d.until_lifted(),
        active: Stored::Read(d.starts_on <= on && end.is_none_or(|e| on < e)),
    }
}

/// A donor's screenings as stored, each field marked where it cannot be read (never an empty list because one
/// screening cannot be read).
fn screening_views(rows: &[StoredScreening], config: &Config) -> Vec<ScreeningView> {
    rows.iter()
        .map(|s| ScreeningView {
            id: s.id,
            kind: s.kind.clone(),
            date: s.date.clone(),
            complete: completeness(s, config).into(),
            results: s.results.iter().map(|(t, r)| TestResultView { test: t.clone(), result: r.clone() }).collect(),
        })
        .collect()
}

/// Whether a stored screening has a result for every test of its panel (its date plays no part).
fn completeness(s: &StoredScreening, config: &Config) -> std::result::Result<bool, crate::store::Malformed> {
    Ok(rules::screening_complete(s.kind.value()?, &s.results()?, config))
}

/// A donor's deferrals as stored on day `on`. A deferral whose own values, or (for one a re-screen lifts) the
/// screenings its end is judged on, cannot be read is listed with its end and whether it is in force marked.
fn deferral_views(
    rows: &[StoredDeferral],
    screenings: &[StoredScreening],
    on: NaiveDate,
    config: &Config,
) -> Vec<DeferralView> {
    let screenings: std::result::Result<Vec<_>, _> = screenings.iter().map(StoredScreening::fact).collect();
    rows.iter()
        .map(|row| {
            let judged = row.fact().and_then(|fact| {
                // Only a deferral a re-screen lifts reads the screenings for its end.
                let screenings = if fact.screening.is_some() { screenings.clone()? } else { Vec::new() };
                let facts = DonorFacts { birth_date: None, screenings, deferrals: Vec::new(), recalls: Vec::new() };
                Ok(deferral_view(&facts, &fact, on, config))
            });
            judged.unwrap_or_else(|m| DeferralView {
                id: row.id,
                reason: row.reason.clone(),
                starts_on: row.starts_on.clone(),
                ends_on: Stored::malformed(m.clone()),
                permanent: row.permanent,
                until_lifted: row.until_lifted(),
                active: Stored::malformed(m),
            })
        })
        .collect()
}

pub(super) fn load_donor(tx: &Tx, id: &Id) -> Result<Donor> {
    donors::donor(tx, id)?.ok_or_else(|| not_found(IdKind::Donor, id))
}

/// One screening to record, its results resolved against the panel.
pub(super) struct Screening {
    pub kind: ScreeningKind,
    pub date: NaiveDate,
    pub results: Vec<(String, TestResult)>,
    pub corrects: Option<i64>,
    pub at: DateTime<Utc>,
}

/// Records a screening (superseding `corrects` when given), its results and the deferral they cause, within the
/// caller's transaction.
pub(super) fn screen(
    tx: &Tx,
    act: &Act,
    config: &Config,
    now: Now,
    donor: &Id,
    s: Screening,
) -> Result<ScreeningRecorded> {
    let Screening { kind, date, results, corrects, at } = s;
    input::plausible_time("screening date", date, now)?;
    input::not_before_birth("screening date", date, load_donor(tx, donor)?.birth_date.value()?)?;
    if let Some(old) = corrects {
        let Some((d, k, by)) = donors::screening_owner(tx, old)? else {
            return Err(AppError::NotFound { kind: Record::Screening, id: old.to_string() });
        };
        input::correction(old, (&d.to_string(), k.as_str(), by), (&donor.to_string(), kind.as_str()))?;
    }
    let sid = donors::insert_screening(tx, donor, kind, date, corrects, act.now)?;
    let action = if corrects.is_some() { "correct-screening" } else { "record-screening" };
    record(tx, act, action, "screenings", &sid.to_string(), donor.data(), at, None)?;
    for (test, result) in &results {
        donors::insert_result(tx, sid, test, *result)?;
    }
    if !results.is_empty() {
        record_group(tx, act, "record-results", "screening_results", &sid.to_string(), donor.data(), at)?;
    }
    let abnormal: Vec<TestResultView> = results
        .iter()
        .filter(|(_, r)| *r != TestResult::Negative)
        .map(|(t, r)| TestResultView { test: t.clone(), result: Stored::Read(*r) })
        .collect();
    let deferral = match rules::screening_deferral(kind, date, &results, config) {
        None => None,
        Some(rules::ScreeningDeferral { reason, permanent }) => {
            let new = NewDeferral {
                donor,
                reason: &reason,
                starts_on: date,
                until: None,
                permanent,
                screening: Some(sid),
                recall: None,
                adverse_event: None,
                recorded_at: act.now,
            };
            let did = donors::insert_deferral(tx, &new)?;
            record(tx, act, "defer-donor", "deferrals", &did.to_string(), donor.data(), at, None)?;
            let until_lifted = false;
            Some(DeferralView {
                id: did,
                reason,
                starts_on: Stored::Read(date),
                ends_on: Stored::Read(None),
                permanent,
                until_lifted,
                active: Stored::Read(true),
            })
        }
    };
    let complete = rules::screening_complete(kind, &results, config);
    Ok(ScreeningRecorded { id: sid, donor: donor.clone(), kind, date, complete, abnormal, deferral })
}
