//! Follow-up operations: the study record of a recipient, follow-up visits, adverse events (with the safety
//! signal), the due list, and the clinical view of one recipient (course, eligibility, visits, events).

use super::users::Signed;
use crate::core::access::Operation;
use std::collections::BinaryHeap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{invalid, not_found, record, Act, AppError, Bank, Result};
use crate::core::config::Config;
use crate::core::followup::{
    self, Course, Eligibility, ExclusionGround, Outcome, Relatedness, Session, StudyFacts, Timepoint, Window,
    SAFETY_SIGNAL_RULE,
};
use crate::core::ids::{Id, IdKind};
use crate::core::input::{self, Now};
use crate::store::donors::{self, NewDeferral};
use crate::store::followups::{self as store, AdverseEvent, DispenseRow, Followup, StudyRecord};
use crate::store::recipients::{self, Recipient};
use crate::store::Tx;
use crate::time::local_day;

/// A change to a recipient's study record; fields left None keep their value.
#[derive(Debug, Clone, Default)]
pub struct StudyUpdate {
    pub diagnosis_date: Option<NaiveDate>,
    pub prior_therapies: Option<String>,
    /// Exclude, with the ground and why.
    pub exclude: Option<(ExclusionGround, String)>,
    /// Lift an exclusion.
    pub include: bool,
}

/// A follow-up visit as entered: raw scores are validated here, so every face gets the same answer.
#[derive(Debug, Clone)]
pub struct VisitInput {
    pub timepoint: Timepoint,
    pub outcome: Outcome,
    /// `NAME=VALUE` pairs, e.g. ("mayo", "2").
    pub scores: Vec<(String, String)>,
    /// The visit this one corrects (it then no longer counts).
    pub corrects: Option<i64>,
}

/// A recorded visit with its window: out of window is accepted with a warning and flagged in reports.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedVisit {
    #[serde(flatten)]
    pub visit: Followup,
    pub course_start: NaiveDate,
    pub window: Window,
    pub in_window: bool,
}

#[derive(Debug, Clone)]
pub struct NewAdverseEvent {
    pub onset: NaiveDate,
    pub term: String,
    pub grade: u8,
    pub serious: bool,
    pub relatedness: Relatedness,
    pub unit: Option<Id>,
    pub outcome: Option<String>,
    pub resolved_on: Option<NaiveDate>,
    pub corrects: Option<i64>,
}

/// A serious event probably or definitely caused by a unit: its donor must be looked back on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SafetySignal {
    pub rule: &'static str,
    pub unit: Id,
    pub donor: Id,
    /// The recall reaches back to the suspected unit's collection day.
    pub from: NaiveDate,
    /// The look-back's dry run (add --apply to quarantine stock).
    pub recall_command: String,
    pub message: String,
    /// The deferral of the donor it recorded, until a quality manager lifts it.
    pub deferral: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordedEvent {
    #[serde(flatten)]
    pub event: AdverseEvent,
    pub safety_signal: Option<SafetySignal>,
}

/// One row of the clinician's work list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DueVisit {
    pub recipient: Id,
    pub indication: String,
    pub timepoint: Timepoint,
    pub due: NaiveDate,
    pub window_from: NaiveDate,
    pub window_to: NaiveDate,
    pub overdue_days: i64,
}

impl DueVisit {
    /// The due list's order.
    fn order(&self) -> (NaiveDate, &str, Timepoint) {
        (self.due, self.recipient.data(), self.timepoint)
    }
}

/// A due visit ordered as the list is, for the page being gathered.
struct InOrder(DueVisit);

impl PartialEq for InOrder {
    fn eq(&self, other: &Self) -> bool {
        self.0.order() == other.0.order()
    }
}

impl Eq for InOrder {}

impl PartialOrd for InOrder {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InOrder {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.order().cmp(&other.0.order())
    }
}

/// A visit with whether it fell in its window.
#[derive(Debug, Clone, Serialize)]
pub struct VisitView {
    #[serde(flatten)]
    pub visit: Followup,
    pub in_window: bool,
}

/// Everything the recipient's clinical screen shows.
#[derive(Debug, Clone, Serialize)]
pub struct ClinicalView {
    pub recipient: Recipient,
    pub study: Option<StudyRecord>,
    pub eligibility: Eligibility,
    pub courses: Vec<Course>,
    pub followups: Vec<VisitView>,
    pub adverse_events: Vec<AdverseEvent>,
}

/// A dispense as the course grouping sees it: on the bank's calendar day.
fn session(dispense: i64, at: DateTime<Utc>) -> Session {
    Session { dispense, day: local_day(at) }
}

/// A recipient's courses from their dispenses, by the bank's calendar day.
pub(super) fn courses_of(config: &Config, dispenses: &[&DispenseRow]) -> Vec<Course> {
    let sessions: Vec<Session> = dispenses.iter().map(|d| session(d.id, d.at)).collect();
    followup::courses(&config.followup, &sessions)
}

pub(super) fn eligibility(
    config: &Config,
    r: &Recipient,
    study: Option<&StudyRecord>,
    courses: &[Course],
) -> Result<Eligibility> {
    let exclusion = study.and_then(|s| s.exclusion.zip(s.exclusion_reason.as_deref()));
    Ok(followup::study_eligibility(
        &config.followup,
        &StudyFacts {
            birth_date: r.birth_date.value()?,
            indication: &r.indication,
            cohort: r.cohort.value()?,
            consent: r.consent.value()?,
            first_fmt: courses.first().map(|c| c.start),
            exclusion,
        },
    ))
}

fn recipient(tx: &Tx, id: &Id) -> Result<Recipient> {
    recipients::recipient(tx, id)?.ok_or_else(|| not_found(IdKind::Recipient, id))
}

/// A serious adverse event probably or definitely related to a unit: the signal names the look-back to run, and
/// defers the unit's donor at once, like a recall, until a quality manager lifts it (no new donation is collected
/// while the investigation runs).
fn safety_signal(tx: &Tx, act: &Act, event: &AdverseEvent, d: &DispenseRow, at: DateTime<Utc>) -> Result<SafetySignal> {
    let id = &event.recipient;
    let reason =
        format!("safety signal: serious adverse event {} ({}) in {id}, unit {}", event.id, event.relatedness, d.unit);
    let new = NewDeferral {
        donor: &d.donor,
        reason: &reason,
        starts_on: local_day(at),
        until: None,
        permanent: false,
        screening: None,
        recall: None,
        adverse_event: Some(event.id),
        recorded_at: act.now,
    };
    let deferral = donors::insert_deferral(tx, &new)?;
    record(tx, act, "defer-donor", "deferrals", &deferral.to_string(), d.donor.data(), at, None)?;
    let from = local_day(d.collected_at);
    Ok(SafetySignal {
        rule: SAFETY_SIGNAL_RULE,
        unit: d.unit.clone(),
        donor: d.donor.clone(),
        from,
        recall_command: format!(
            "stoolbank recall --donor {} --from {from} --reason \"serious adverse event {} ({}) in {id}\"",
            d.donor, event.id, event.relatedness
        ),
        message: format!(
            "safety signal ({SAFETY_SIGNAL_RULE}): serious grade {} event \"{}\" in {id}, {} related to unit {} of \
             donor {}; the donor is deferred until a quality manager lifts it",
            event.grade, event.term, event.relatedness, d.unit, d.donor
        ),
        deferral,
    })
}

fn not_future(what: &'static str, day: NaiveDate, now: Now) -> Result<()> {
    Ok(input::plausible_time(what, day, now)?)
}

impl Bank {
    /// Records the study's facts about a recipient (diagnosis date, prior therapies, exclusion with its reason)
    /// as a new study record superseding the one in force.
    pub fn record_study(&mut self, id: &Id, update: StudyUpdate, at: DateTime<Utc>) -> Result<StudyRecord> {
        self.authorize(Operation::StudyRecord)?;
        let now = self.rules_now();
        not_future("time of the record (--at)", local_day(at), now)?;
        if let Some(d) = update.diagnosis_date {
            not_future("diagnosis date", d, now)?;
        }
        if let Some((_, why)) = &update.exclude {
            if why.trim().is_empty() {
                return invalid("an exclusion needs its reason (--reason)");
            }
            if update.include {
                return invalid("exclude or include, not both");
            }
        }
        let act = self.act();
        self.store.write(|tx| {
            let r = recipient(tx, id)?;
            let current = store::study_record(tx, id)?;
            let keep = |f: fn(&StudyRecord) -> Option<String>| current.as_ref().and_then(f);
            let (exclusion, exclusion_reason) = match (&update.exclude, update.include) {
                (Some((g, why)), _) => (Some(*g), Some(why.trim().to_string())),
                (None, true) => (None, None),
                (None, false) => (current.as_ref().and_then(|c| c.exclusion), keep(|c| c.exclusion_reason.clone())),
            };
            let mut s = StudyRecord {
                id: 0,
                recipient: id.clone(),
                diagnosis_date: update.diagnosis_date.or(current.as_ref().and_then(|c| c.diagnosis_date)),
                prior_therapies: update
                    .prior_therapies
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .or_else(|| keep(|c| c.prior_therapies.clone())),
                exclusion,
                exclusion_reason,
                at,
            };
            let birth_date = r.birth_date.value()?;
            if s.diagnosis_date.is_some_and(|d| d < birth_date) {
                return invalid(format!("the diagnosis date is before the birth date {birth_date}"));
            }
            s.id = store::insert_study_record(tx, &s, act.now)?;
            record(tx, &act, "record-study", "study_records", &s.id.to_string(), id.data(), at, None)?;
            Ok(s)
        })
    }

    /// Records a follow-up visit on the day of `at`, for the course it follows. A visit outside its window is
    /// accepted (`in_window` false, for a warning); a second visit for the same time point must correct the first.
    pub fn add_followup(&mut self, id: &Id, input: VisitInput, at: DateTime<Utc>) -> Result<RecordedVisit> {
        // A visit that corrects another is a signed act.
        let signer = self.signer_if(input.corrects.is_some(), Operation::FollowUp, Operation::FollowUp)?;
        let date = local_day(at);
        not_future("visit date", date, self.rules_now())?;
        let scores = followup::scores(&input.scores).map_err(AppError::Invalid)?;
        let act = self.act();
        let config = self.config.clone();
        self.store.write(|tx| {
            recipient(tx, id)?;
            let dispenses = store::dispenses(tx, id)?;
            let courses = courses_of(&config, &dispenses.iter().collect::<Vec<_>>());
            let course = followup::course_on(&courses, date).ok_or_else(|| {
                AppError::Invalid(format!("{id} had no FMT on or before {date}: a follow-up follows a course"))
            })?;
            let existing = store::followups(tx, id)?
                .into_iter()
                .find(|f| course.includes(f.course) && f.timepoint == input.timepoint);
            if let Some(n) = input.corrects {
                let (old, superseded) = store::followup(tx, n)?
                    .filter(|(f, _)| &f.recipient == id)
                    .ok_or_else(|| AppError::Invalid(format!("{id} has no follow-up visit {n} to correct")))?;
                if superseded {
                    return invalid(format!("follow-up visit {n} was already corrected; correct its correction"));
                }
                if !course.includes(old.course) {
                    return invalid(format!("follow-up visit {n} follows another course"));
                }
            } else if let Some(f) = existing {
                return invalid(format!(
                    "{id} already has a {} visit for the course of {} (visit {}, {}); use --corrects {} to correct it",
                    input.timepoint, course.start, f.id, f.date, f.id
                ));
            }
            let mut visit = Followup {
                id: 0,
                recipient: id.clone(),
                course: course.first_dispense,
                timepoint: input.timepoint,
                date,
                outcome: input.outcome,
                scores,
                recorded_at: act.now,
                supersedes: input.corrects,
            };
            visit.id = store::insert_followup(tx, &visit)?;
            record(tx, &act, "record-followup", "followups", &visit.id.to_string(), id.data(), at, None)?;
            if let (Some(signer), Some(old)) = (&signer, input.corrects) {
                let meaning = format!("corrects follow-up visit {old}");
                let vid = visit.id.to_string();
                let what = Signed { entity: "followups", entity_id: &vid, subject: id.data(), at };
                super::users::sign(tx, &act, signer, &meaning, &what)?;
            }
            let window = config.followup.window(course.start, input.timepoint);
            Ok(RecordedVisit { in_window: window.contains(date), window, course_start: course.start, visit })
        })
    }

    /// Records an adverse event; a serious one probably or definitely related to a unit comes back with the
    /// safety signal naming that unit's donor and the recall to run.
    pub fn add_adverse_event(&mut self, id: &Id, new: NewAdverseEvent, at: DateTime<Utc>) -> Result<RecordedEvent> {
        self.authorize(Operation::AdverseEvent)?;
        let now = self.rules_now();
        not_future("time of the report (--at)", local_day(at), now)?;
        not_future("onset", new.onset, now)?;
        if !(1..=5).contains(&new.grade) {
            return invalid(format!("grade {} is not a CTCAE grade (1–5)", new.grade));
        }
        let term = new.term.trim().to_string();
        if term.is_empty() {
            return invalid("the adverse event needs its term (--term)");
        }
        if let Some(r) = new.resolved_on {
            not_future("resolution date", r, now)?;
            if r < new.onset {
                return invalid(format!("the resolution date {r} is before the onset {}", new.onset));
            }
        }
        let act = self.act();
        self.store.write(|tx| {
            recipient(tx, id)?;
            let dispenses = store::dispenses(tx, id)?;
            let suspected = match &new.unit {
                Some(u) => Some(dispenses.iter().find(|d| &d.unit == u).ok_or_else(|| {
                    AppError::Invalid(format!("unit {u} was not given to {id}; name a unit the recipient received"))
                })?),
                None => None,
            };
            if let Some(n) = new.corrects {
                let (_, superseded) = store::adverse_event(tx, n)?
                    .filter(|(e, _)| &e.recipient == id)
                    .ok_or_else(|| AppError::Invalid(format!("{id} has no adverse event {n} to correct")))?;
                if superseded {
                    return invalid(format!("adverse event {n} was already corrected; correct its correction"));
                }
            }
            let mut event = AdverseEvent {
                id: 0,
                recipient: id.clone(),
                onset: new.onset,
                term,
                grade: new.grade,
                serious: new.serious,
                relatedness: new.relatedness,
                unit: new.unit.clone(),
                outcome: new.outcome.as_deref().map(str::trim).filter(|o| !o.is_empty()).map(str::to_string),
                resolved_on: new.resolved_on,
                recorded_at: act.now,
                supersedes: new.corrects,
            };
            event.id = store::insert_adverse_event(tx, &event)?;
            record(tx, &act, "record-adverse-event", "adverse_events", &event.id.to_string(), id.data(), at, None)?;
            let signal = suspected.filter(|_| followup::is_safety_signal(event.serious, event.relatedness, true));
            let safety_signal = match signal {
                Some(d) => Some(safety_signal(tx, &act, &event, d, at)?),
                None => None,
            };
            Ok(RecordedEvent { event, safety_signal })
        })
    }

    /// Every follow-up visit due or overdue by `by` (window open, not yet recorded), oldest due first.
    pub fn followups_due(&mut self, by: NaiveDate) -> Result<Vec<DueVisit>> {
        self.followups_due_page(by, None, usize::MAX)
    }

    /// A page of the due list: its first `limit` visits after `after`, in the list's order (due day, recipient,
    /// time point). One pass along the dispenses' index with each dispense's recorded visits, holding no more
    /// than a page in memory.
    pub fn followups_due_page(
        &mut self,
        by: NaiveDate,
        after: Option<&DueVisit>,
        limit: usize,
    ) -> Result<Vec<DueVisit>> {
        self.authorize(Operation::Read)?;
        let config = self.config.clone();
        self.store.read(|tx| {
            let mut page: BinaryHeap<InOrder> = BinaryHeap::new();
            store::dispenses_by_recipient(tx, |rid, indication, ds| {
                let sessions: Vec<Session> = ds.iter().map(|d| session(d.id, d.at)).collect();
                for c in followup::courses(&config.followup, &sessions) {
                    let recorded: Vec<Timepoint> =
                        ds.iter().filter(|d| c.includes(d.id)).flat_map(|d| d.visits.iter().copied()).collect();
                    for d in followup::due(&config.followup, c.start, &recorded, by) {
                        let visit = InOrder(DueVisit {
                            recipient: rid.clone(),
                            indication: indication.clone(),
                            timepoint: d.window.timepoint,
                            due: d.window.due,
                            window_from: d.window.from,
                            window_to: d.window.to,
                            overdue_days: d.overdue_days,
                        });
                        if after.is_some_and(|a| visit.0.order() <= a.order()) {
                            continue;
                        }
                        page.push(visit);
                        if page.len() > limit {
                            page.pop();
                        }
                    }
                }
            })?;
            Ok(page.into_sorted_vec().into_iter().map(|v| v.0).collect())
        })
    }

    /// The recipient's study record, computed eligibility, courses, follow-up visits and adverse events.
    pub fn clinical_view(&mut self, id: &Id) -> Result<ClinicalView> {
        self.authorize(Operation::Read)?;
        let config = self.config.clone();
        self.store.read(|tx| {
            let r = recipient(tx, id)?;
            let study = store::study_record(tx, id)?;
            let dispenses = store::dispenses(tx, id)?;
            let courses = courses_of(&config, &dispenses.iter().collect::<Vec<_>>());
            let followups = store::followups(tx, id)?
                .into_iter()
                .map(|v| {
                    let start = courses.iter().find(|c| c.includes(v.course)).map(|c| c.start);
                    let in_window = start.is_some_and(|s| config.followup.window(s, v.timepoint).contains(v.date));
                    VisitView { visit: v, in_window }
                })
                .collect();
            Ok(ClinicalView {
                eligibility: eligibility(&config, &r, study.as_ref(), &courses)?,
                adverse_events: store::adverse_events(tx, id)?,
                recipient: r,
                study,
                courses,
                followups,
            })
        })
    }
}
