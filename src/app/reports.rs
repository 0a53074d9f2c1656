//! The study's reports: remission by group and time point with Wilson intervals, adverse-event incidence and
//! relatedness, response by donor, and the logistic model of remission's predictors. Reports carry codes, never
//! identity. Outcomes, donors and predictors count the study-eligible recipients' first course.

use crate::core::access::Operation;
use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::followup::{courses_of, eligibility};
use super::{invalid, Bank, Result};
use crate::core::followup::{age_on, Course, Outcome, Relatedness, Timepoint};
use crate::core::stats::{self, Term, TermValues};
use crate::store::exports::Table as ExportTable;
use crate::store::followups::{self as store, DispenseRow, Followup};
use crate::store::recipients::Recipient;
use crate::time::local_day;

/// What outcome rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Indication,
    Route,
    Donor,
    Cohort,
    Product,
}

/// A date range, both ends inclusive (either open).
#[derive(Debug, Clone, Copy, Default)]
pub struct Period {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Period {
    fn contains(self, d: NaiveDate) -> bool {
        self.from.is_none_or(|f| f <= d) && self.to.is_none_or(|t| d <= t)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeRow {
    pub group: String,
    pub timepoint: Timepoint,
    /// Recipients assessed (the lost excluded).
    pub n: u64,
    pub remission: u64,
    /// Lost to follow-up: recorded as lost, or the window closed without a visit (`missing`).
    pub lost: u64,
    pub missing: u64,
    /// Visits outside their window (counted, and flagged).
    pub out_of_window: u64,
    /// No visit yet and the window still open (the TUI's completeness chart; not part of the reports' contract).
    #[serde(skip)]
    pub not_yet_due: u64,
    pub rate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutcomeReport {
    pub rows: Vec<OutcomeRow>,
    /// Recipients left out as not eligible for the study.
    pub not_eligible: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub rate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

impl Rate {
    fn of(x: u64, n: u64) -> Rate {
        let ci = stats::wilson(x, n);
        Rate { rate: (n > 0).then(|| x as f64 / n as f64), ci_low: ci.map(|c| c.0), ci_high: ci.map(|c| c.1) }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SafetyReport {
    /// Recipients treated in the period, and their treatment days (sessions).
    pub patients: u64,
    pub sessions: u64,
    pub patients_with_ae: u64,
    pub events: u64,
    pub serious: u64,
    /// Events possibly, probably or definitely related.
    pub related: u64,
    pub by_grade: BTreeMap<String, u64>,
    pub by_relatedness: BTreeMap<String, u64>,
    pub serious_by_relatedness: BTreeMap<String, u64>,
    /// Share of patients with at least one event.
    pub incidence_per_patient: Rate,
    /// Events per treatment session.
    pub events_per_session: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DonorRow {
    pub donor: String,
    pub n: u64,
    pub remission: u64,
    pub rate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// `above` or `below` when the interval lies wholly above or below the bank's overall rate.
    pub flag: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DonorReport {
    pub timepoint: Timepoint,
    pub overall: OutcomeRow,
    pub donors: Vec<DonorRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PredictorReport {
    pub timepoint: Timepoint,
    pub n: usize,
    pub events: usize,
    pub terms: Vec<stats::Coefficient>,
}

/// The terms `report predictors` knows.
pub const PREDICTOR_TERMS: &[&str] = &["route", "indication", "age", "sex", "donor", "product", "cohort"];

/// One recipient's first course, as the reports see it.
struct Case {
    recipient: Recipient,
    eligible: bool,
    course: Course,
    first: DispenseRow,
    visits: Vec<Followup>,
}

impl Case {
    fn group(&self, by: GroupBy) -> String {
        match by {
            GroupBy::Indication => self.recipient.indication.clone(),
            GroupBy::Route => self.first.route.clone(),
            GroupBy::Donor => self.first.donor.display(),
            GroupBy::Cohort => self.recipient.cohort.to_string(),
            GroupBy::Product => self.first.product.clone(),
        }
    }

    fn visit(&self, tp: Timepoint) -> Option<&Followup> {
        self.visits.iter().find(|v| v.timepoint == tp)
    }
}

#[derive(Default)]
struct Tally {
    n: u64,
    remission: u64,
    lost: u64,
    missing: u64,
    out_of_window: u64,
    not_yet_due: u64,
}

impl Tally {
    fn row(&self, group: String, timepoint: Timepoint) -> OutcomeRow {
        let r = Rate::of(self.remission, self.n);
        OutcomeRow {
            group,
            timepoint,
            n: self.n,
            remission: self.remission,
            lost: self.lost,
            missing: self.missing,
            out_of_window: self.out_of_window,
            not_yet_due: self.not_yet_due,
            rate: r.rate,
            ci_low: r.ci_low,
            ci_high: r.ci_high,
        }
    }
}

impl Bank {
    /// Hands `f` each treated recipient's first course, one at a time (see `store::followups::each_treated`).
    fn each_case(&mut self, mut f: impl FnMut(Case) -> Result<()>) -> Result<()> {
        let config = self.config.clone();
        self.store.read(|tx| {
            store::each_treated(tx, |h| {
                let ds: Vec<&DispenseRow> = h.dispenses.iter().collect();
                let courses = courses_of(&config, &ds);
                let Some(course) = courses.first().cloned() else { return Ok(()) };
                let Some(first) = h.dispenses.iter().find(|d| d.id == course.first_dispense).cloned() else {
                    return Ok(());
                };
                let eligible = eligibility(&config, &h.recipient, h.study.as_ref(), &courses)?.eligible;
                let visits = h.visits.into_iter().filter(|v| course.includes(v.course)).collect();
                f(Case { recipient: h.recipient, eligible, course, first, visits })
            })
        })
    }

    /// Remission by group and time point, as of `today` (a window closed without a visit counts as lost).
    pub fn report_outcomes(&mut self, by: GroupBy, period: Period, today: NaiveDate) -> Result<OutcomeReport> {
        self.authorize(Operation::Report)?;
        let policy = self.config.followup.clone();
        let mut tallies: BTreeMap<(String, Timepoint), Tally> = BTreeMap::new();
        let mut not_eligible = 0;
        self.each_case(|c| {
            if !period.contains(c.course.start) {
                return Ok(());
            }
            if !c.eligible {
                not_eligible += 1;
                return Ok(());
            }
            for tp in Timepoint::ALL {
                let window = policy.window(c.course.start, *tp);
                let t = tallies.entry((c.group(by), *tp)).or_default();
                match c.visit(*tp) {
                    Some(v) => {
                        if !window.contains(v.date) {
                            t.out_of_window += 1;
                        }
                        match v.outcome {
                            Outcome::Lost => t.lost += 1,
                            o => {
                                t.n += 1;
                                t.remission += u64::from(o == Outcome::Remission);
                            }
                        }
                    }
                    None if window.to < today => {
                        t.lost += 1;
                        t.missing += 1;
                    }
                    None => t.not_yet_due += 1,
                }
            }
            Ok(())
        })?;
        let rows = tallies.into_iter().map(|((g, tp), t)| t.row(g, tp)).collect();
        Ok(OutcomeReport { rows, not_eligible })
    }

    /// Adverse-event incidence per patient and per session, by grade, seriousness and relatedness.
    pub fn report_safety(&mut self, period: Period) -> Result<SafetyReport> {
        self.authorize(Operation::Report)?;
        let mut by_grade: BTreeMap<String, u64> = (1..=5).map(|g| (g.to_string(), 0)).collect();
        let mut by_relatedness: BTreeMap<String, u64> =
            Relatedness::ALL.iter().map(|r| (r.as_str().to_string(), 0)).collect();
        let mut serious_by_relatedness = by_relatedness.clone();
        let (mut p, mut s, mut with_ae, mut events, mut serious, mut related) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        // One recipient at a time (see `store::followups::each_exposed`): memory stays flat.
        self.store.read(|tx| {
            store::each_exposed(tx, |given, their_events| {
                let days: BTreeSet<NaiveDate> =
                    given.into_iter().map(local_day).filter(|d| period.contains(*d)).collect();
                let their_events: Vec<_> = their_events.into_iter().filter(|e| period.contains(e.onset)).collect();
                if !days.is_empty() {
                    p += 1;
                    s += days.len() as u64;
                    with_ae += u64::from(!their_events.is_empty());
                }
                for e in &their_events {
                    events += 1;
                    *by_grade.entry(e.grade.to_string()).or_default() += 1;
                    *by_relatedness.entry(e.relatedness.to_string()).or_default() += 1;
                    if e.serious {
                        serious += 1;
                        *serious_by_relatedness.entry(e.relatedness.to_string()).or_default() += 1;
                    }
                    related += u64::from(matches!(
                        e.relatedness,
                        Relatedness::Possible | Relatedness::Probable | Relatedness::Definite
                    ));
                }
                Ok::<_, super::AppError>(())
            })
        })?;
        Ok(SafetyReport {
            patients: p,
            sessions: s,
            patients_with_ae: with_ae,
            events,
            serious,
            related,
            by_grade,
            by_relatedness,
            serious_by_relatedness,
            incidence_per_patient: Rate::of(with_ae, p),
            events_per_session: (s > 0).then(|| events as f64 / s as f64),
        })
    }

    /// Remission by donor at a time point, flagging a donor whose interval lies wholly off the overall rate.
    pub fn report_donors(&mut self, timepoint: Timepoint, today: NaiveDate) -> Result<DonorReport> {
        self.authorize(Operation::Report)?;
        let report = self.report_outcomes(GroupBy::Donor, Period::default(), today)?;
        let rows: Vec<OutcomeRow> = report.rows.into_iter().filter(|r| r.timepoint == timepoint).collect();
        let mut all = Tally::default();
        for r in &rows {
            all.n += r.n;
            all.remission += r.remission;
            all.lost += r.lost;
            all.missing += r.missing;
            all.out_of_window += r.out_of_window;
        }
        let overall = all.row("all donors".into(), timepoint);
        let donors = rows
            .into_iter()
            .map(|r| {
                let flag = match (overall.rate, r.ci_low, r.ci_high) {
                    (Some(rate), Some(lo), _) if lo > rate => Some("above"),
                    (Some(rate), _, Some(hi)) if hi < rate => Some("below"),
                    _ => None,
                };
                DonorRow {
                    donor: r.group,
                    n: r.n,
                    remission: r.remission,
                    rate: r.rate,
                    ci_low: r.ci_low,
                    ci_high: r.ci_high,
                    flag,
                }
            })
            .collect();
        Ok(DonorReport { timepoint, overall, donors })
    }

    /// Logistic regression of remission at `timepoint` on the named terms, among eligible recipients assessed.
    pub fn report_predictors(&mut self, timepoint: Timepoint, terms: &[String]) -> Result<PredictorReport> {
        self.authorize(Operation::Report)?;
        if terms.is_empty() {
            return invalid(format!("name at least one term; known: {}", PREDICTOR_TERMS.join(", ")));
        }
        let mut seen = BTreeSet::new();
        for t in terms {
            if !PREDICTOR_TERMS.contains(&t.as_str()) {
                return invalid(format!("`{t}` is not a predictor term; known: {}", PREDICTOR_TERMS.join(", ")));
            }
            if !seen.insert(t) {
                return invalid(format!("term {t} is named twice"));
            }
        }
        // The model's rows: each eligible recipient assessed at the time point (a regression needs them all).
        let mut cases: Vec<(Case, bool)> = Vec::new();
        self.each_case(|c| {
            if let Some(v) = c.visit(timepoint).filter(|v| c.eligible && v.outcome != Outcome::Lost) {
                let y = v.outcome == Outcome::Remission;
                cases.push((c, y));
            }
            Ok(())
        })?;
        if cases.is_empty() {
            return invalid(format!("no recipient eligible for the study has a {timepoint} outcome yet"));
        }
        let cat = |f: &dyn Fn(&Case) -> String| TermValues::Categorical(cases.iter().map(|(c, _)| f(c)).collect());
        let ages = cases
            .iter()
            .map(|(c, _)| Ok(f64::from(age_on(c.recipient.birth_date.value()?, c.course.start)) / 10.0))
            .collect::<Result<Vec<f64>>>()?;
        let model_terms: Vec<Term> = terms
            .iter()
            .map(|t| Term {
                name: t.clone(),
                values: match t.as_str() {
                    "age" => TermValues::Numeric(ages.clone(), "per 10 years".into()),
                    "route" => cat(&|c| c.first.route.clone()),
                    "indication" => cat(&|c| c.recipient.indication.clone()),
                    "sex" => cat(&|c| c.recipient.sex.to_string()),
                    "donor" => cat(&|c| c.first.donor.display()),
                    "product" => cat(&|c| c.first.product.clone()),
                    // "cohort", the last of the validated names.
                    _ => cat(&|c| c.recipient.cohort.to_string()),
                },
            })
            .collect();
        let y: Vec<bool> = cases.iter().map(|(_, y)| *y).collect();
        let model = stats::logistic(&y, &model_terms).map_err(|e| match e {
            stats::ModelError::Refused(r) => super::AppError::Refused(r),
            stats::ModelError::Degenerate(m) => super::AppError::Invalid(m),
        })?;
        Ok(PredictorReport { timepoint, n: model.n, events: model.events, terms: model.terms })
    }

    /// Whole tables for a research export (no identity table is among them).
    pub fn export_tables(&mut self) -> Result<Vec<ExportTable>> {
        self.authorize(Operation::Export)?;
        self.store.read(|tx| {
            crate::store::exports::EXPORTED.iter().map(|name| Ok(crate::store::exports::table(tx, name)?)).collect()
        })
    }
}
