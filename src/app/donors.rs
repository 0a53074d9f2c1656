//! Registering donors, recording their screenings, deferring them, and judging eligibility.

use chrono::{DateTime, NaiveDate, Utc};

use super::views::{DeferralView, DonationView, DonorSummary, DonorView, ScreeningView, TestResultView};
use super::{invalid, record, AppError, Bank, Result};
use crate::core::config::Config;
use crate::core::ids::{Id, IdKind};
use crate::core::model::{DonorStatus, ScreeningKind, Sex, TestResult};
use crate::core::rules::{DonorFacts, Eligibility};
use crate::store::batches;
use crate::store::donors::{self, Donor, Identity, NewDeferral};
use crate::time::{self, local_day};

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
        for (name, result) in &self.tests {
            let test = Config::code(panel, name, &format!("{kind} test")).map_err(AppError::Invalid)?;
            match results.iter_mut().find(|(t, _)| t == test) {
                Some(entry) => entry.1 = *result,
                None => results.push((test.to_string(), *result)),
            }
        }
        if results.is_empty() {
            return invalid("no results given: pass --all-negative and/or --test NAME=RESULT");
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

fn not_future(what: &str, date: NaiveDate, now: DateTime<Utc>) -> Result<()> {
    if date > local_day(now) {
        return invalid(format!("the {what} {date} is in the future"));
    }
    Ok(())
}

impl Bank {
    pub fn register_donor(&mut self, new: NewDonor, at: DateTime<Utc>) -> Result<Donor> {
        not_future("birth date", new.birth_date, time::now())?;
        let actor = self.actor.clone();
        self.store.write(|tx| {
            let id = Id::donor(donors::next_donor_seq(tx)?);
            let donor = Donor { id: id.clone(), sex: new.sex, birth_date: new.birth_date, registered_at: at };
            donors::insert_donor(tx, &donor)?;
            record(tx, &actor, "register-donor", "donors", id.data(), id.data(), at, None)?;
            if !new.identity.is_empty() {
                let row = donors::insert_identity(tx, "donor_identities", &id, &new.identity, time::now())?;
                record(tx, &actor, "record-identity", "donor_identities", &row.to_string(), id.data(), at, None)?;
            }
            Ok(donor)
        })
    }

    fn donor_row(&mut self, id: &Id) -> Result<Donor> {
        self.store
            .read(|tx| Ok::<_, AppError>(donors::donor(tx, id)?))?
            .ok_or_else(|| AppError::NotFound { kind: IdKind::Donor, id: id.display() })
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
    /// mis-keyed result): the earlier one then no longer counts, nor does a deferral its results caused.
    pub fn correct_screening(
        &mut self,
        donor: &Id,
        kind: ScreeningKind,
        date: NaiveDate,
        input: &ScreeningInput,
        corrects: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<ScreeningRecorded> {
        let results = input.resolve(kind, &self.config)?;
        not_future("screening date", date, time::now())?;
        self.donor_row(donor)?;
        if let Some(old) = corrects {
            let owner = self.store.read(|tx| Ok::<_, AppError>(donors::screening_owner(tx, old)?))?;
            match owner {
                None => return invalid(format!("there is no screening {old}")),
                Some((d, _, _)) if &d != donor => {
                    return invalid(format!("screening {old} is of donor {d}, not {donor}"))
                }
                Some((_, k, _)) if k != kind => {
                    return invalid(format!("screening {old} is a {k} screening, not {kind}"))
                }
                Some((_, _, Some(by))) => {
                    return invalid(format!(
                        "screening {old} was already corrected by screening {by}: correct that one"
                    ))
                }
                Some(_) => {}
            }
        }
        let actor = self.actor.clone();
        let config = self.config.clone();
        self.store.write(|tx| {
            let now = time::now();
            let sid = donors::insert_screening(tx, donor, kind, date, corrects, now)?;
            let action = if corrects.is_some() { "correct-screening" } else { "record-screening" };
            record(tx, &actor, action, "screenings", &sid.to_string(), donor.data(), at, None)?;
            for (test, result) in &results {
                let rid = donors::insert_result(tx, sid, test, *result)?;
                record(tx, &actor, "record-result", "screening_results", &rid.to_string(), donor.data(), at, None)?;
            }
            let abnormal: Vec<TestResultView> = results
                .iter()
                .filter(|(_, r)| *r != TestResult::Negative)
                .map(|(t, r)| TestResultView { test: t.clone(), result: *r })
                .collect();
            let deferral = if abnormal.is_empty() {
                None
            } else {
                let permanent = abnormal.iter().any(|a| config.permanent_deferral_tests.contains(&a.test));
                let listed: Vec<String> = abnormal.iter().map(|a| format!("{} {}", a.test, a.result)).collect();
                let reason = format!("{kind} screening of {date}: {}", listed.join(", "));
                let new = NewDeferral {
                    donor,
                    reason: &reason,
                    starts_on: date,
                    until: None,
                    permanent,
                    screening: Some(sid),
                    recorded_at: now,
                };
                let did = donors::insert_deferral(tx, &new)?;
                record(tx, &actor, "defer-donor", "deferrals", &did.to_string(), donor.data(), at, None)?;
                Some(DeferralView { id: did, reason, starts_on: date, ends_on: None, permanent, active: true })
            };
            let complete = config.panel(kind).iter().all(|t| results.iter().any(|(r, _)| r == t));
            Ok(ScreeningRecorded { id: sid, donor: donor.clone(), kind, date, complete, abnormal, deferral })
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
        if reason.trim().is_empty() {
            return invalid("a deferral needs a reason");
        }
        let starts_on = local_day(at);
        match (until, permanent) {
            (Some(_), true) => return invalid("a deferral is either --permanent or --until a date, not both"),
            (None, false) => return invalid("say how long: --until DATE or --permanent"),
            (Some(u), false) if u <= starts_on => {
                return invalid(format!("--until {u} is not after the deferral's start {starts_on}"))
            }
            _ => {}
        }
        self.donor_row(donor)?;
        let actor = self.actor.clone();
        self.store.write(|tx| {
            let new = NewDeferral {
                donor,
                reason: reason.trim(),
                starts_on,
                until,
                permanent,
                screening: None,
                recorded_at: time::now(),
            };
            let did = donors::insert_deferral(tx, &new)?;
            record(tx, &actor, "defer-donor", "deferrals", &did.to_string(), donor.data(), at, None)?;
            Ok(DeferralView {
                id: did,
                reason: reason.trim().into(),
                starts_on,
                ends_on: until,
                permanent,
                active: true,
            })
        })
    }

    /// Everything about a donor as of `at`: status and the reason for it, screenings, deferrals, donations.
    pub fn donor_view(&mut self, donor: &Id, at: DateTime<Utc>) -> Result<DonorView> {
        let d = self.donor_row(donor)?;
        let show_identity = self.may_see_identity();
        let config = self.config.clone();
        self.store.read(|tx| {
            let facts = donors::facts(tx, &d)?;
            let (status, eligibility, reason) = judge(&facts, local_day(at), &config);
            let identity = if show_identity { Some(donors::identity(tx, "donor_identities", donor)?) } else { None };
            let on = local_day(at);
            let deferrals = facts
                .deferrals
                .iter()
                .map(|x| {
                    let end = facts.deferral_end(x, &config);
                    DeferralView {
                        id: x.id,
                        reason: x.reason.clone(),
                        starts_on: x.starts_on,
                        ends_on: end,
                        permanent: x.permanent,
                        active: x.starts_on <= on && end.is_none_or(|e| on < e),
                    }
                })
                .collect();
            let screenings = facts
                .screenings
                .iter()
                .map(|s| ScreeningView {
                    id: s.id,
                    kind: s.kind,
                    date: s.date,
                    complete: s.is_complete(&config),
                    results: s.results.iter().map(|(t, r)| TestResultView { test: t.clone(), result: *r }).collect(),
                })
                .collect();
            let mut donations = Vec::new();
            for dn in batches::donations_of_donor(tx, donor)? {
                let ids = batches::batches_of_donation(tx, &dn.id)?.into_iter().map(|b| b.id).collect();
                donations.push(DonationView::new(&dn, ids));
            }
            Ok::<_, AppError>(DonorView {
                id: d.id.clone(),
                sex: d.sex,
                birth_date: d.birth_date,
                status,
                eligibility,
                reason,
                identity,
                screenings,
                deferrals,
                donations,
            })
        })
    }

    /// Donors in code order with their status as of `at`, a page at a time.
    pub fn donors(&mut self, after: Option<&Id>, limit: usize, at: DateTime<Utc>) -> Result<Vec<DonorSummary>> {
        let config = self.config.clone();
        self.store.read(|tx| {
            let mut out = Vec::new();
            for d in donors::donors_page(tx, after, limit)? {
                let facts = donors::facts(tx, &d)?;
                let (status, _, reason) = judge(&facts, local_day(at), &config);
                out.push(DonorSummary { id: d.id, sex: d.sex, birth_date: d.birth_date, status, reason });
            }
            Ok::<_, AppError>(out)
        })
    }
}

/// Status, eligibility and the reason in words.
fn judge(facts: &DonorFacts, on: NaiveDate, config: &Config) -> (DonorStatus, Eligibility, String) {
    let e = facts.eligibility(on, config);
    let (status, reason) = match &e {
        Eligibility::Eligible { rescreen_due } => {
            (DonorStatus::Eligible, format!("screened negative; re-screening due by {rescreen_due}"))
        }
        Eligibility::Deferred { reason, until, permanent } => {
            let span = match (permanent, until) {
                (true, _) => "permanently".to_string(),
                (false, Some(u)) => format!("until {u}"),
                (false, None) => "until a negative re-screen".to_string(),
            };
            (DonorStatus::Deferred, format!("deferred {span}: {reason}"))
        }
        Eligibility::NotEligible { reason, .. } => (DonorStatus::NotEligible, reason.clone()),
    };
    (status, e, reason)
}
