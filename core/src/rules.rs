//! The safety rules, in one place: donor eligibility, batch release (the "sandwich"), dispensing.
//! Each rule has a stable code that refusals name, so a technician, a log and a test all say the same thing.
//! Rules are judged as of a moment, against the dated facts as they stood then (retrospective entry is routine).

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;

use super::access::{Operation, Role};
use super::config::{Config, Product};
use super::input::age_on;
use super::model::{DonorStatus, QcResult, ScreeningKind, TestResult, UnitKind, UnitStatus};
use super::state::{unit_status, UnitFacts};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Rule {
    DonorAge,
    DonorDeferred,
    DonorScreening,
    PreDonationScreening,
    PostDonationScreening,
    DonationDayQuestionnaire,
    ProcessingTime,
    QcPassed,
    NoInterveningEvent,
    BatchState,
    LabelsVerified,
    DiscardOnce,
    DispenseRetainedSample,
    DispenseAlreadyDispensed,
    DispenseRecalled,
    DispenseDiscarded,
    DispenseNotReleased,
    DispenseExpired,
    DispenseRoute,
    DispenseRecalledSince,
    DuplicateCollection,
    RecallRepeated,
    LabelReprintReason,
    LabelVerifyNeedsPrint,
    LabelVerifyMatches,
    /// A research model with too few of the rarer outcome per coefficient to estimate.
    PredictorsEventsPerVariable,
    /// A research model whose likelihood has no finite maximum (separation).
    PredictorsSeparation,
    /// Identity is read only by the users the policy allows ([`crate::config::Config::may_see_identity`]).
    IdentityViewer,
    /// Whoever made a batch or entered its QC does not release it.
    FourEyes,
    /// A recall applied is countersigned by a second user who may apply recalls (when the policy asks).
    RecallFourEyes,
}

impl Rule {
    /// The stable code a refusal names (release rules are numbered as in DOMAIN.md).
    pub fn code(self) -> &'static str {
        match self {
            Rule::DonorAge => "eligibility.age",
            Rule::DonorDeferred => "eligibility.not-deferred",
            Rule::DonorScreening => "eligibility.screening",
            Rule::PreDonationScreening => "release.1-screening-before",
            Rule::PostDonationScreening => "release.2-screening-after",
            Rule::DonationDayQuestionnaire => "release.3-donation-day-questionnaire",
            Rule::ProcessingTime => "release.3-processing-time",
            Rule::QcPassed => "release.4-qc",
            Rule::NoInterveningEvent => "release.5-no-intervening-event",
            Rule::BatchState => "release.6-batch-state",
            Rule::LabelsVerified => "release.7-labels-verified",
            Rule::DiscardOnce => "discard.once",
            Rule::DispenseRetainedSample => "dispense.retained-sample",
            Rule::DispenseAlreadyDispensed => "dispense.already-dispensed",
            Rule::DispenseRecalled => "dispense.recalled",
            Rule::DispenseDiscarded => "dispense.discarded",
            Rule::DispenseNotReleased => "dispense.not-released",
            Rule::DispenseExpired => "dispense.expired",
            Rule::DispenseRoute => "dispense.route",
            Rule::DispenseRecalledSince => "dispense.recalled-since",
            Rule::DuplicateCollection => "donation.not-duplicate",
            Rule::RecallRepeated => "recall.not-repeated",
            Rule::LabelReprintReason => "label.reprint-reason",
            Rule::LabelVerifyNeedsPrint => "label.verify-needs-print",
            Rule::LabelVerifyMatches => "label.verify-matches",
            Rule::PredictorsEventsPerVariable => "report.events-per-variable",
            Rule::PredictorsSeparation => "report.separation",
            Rule::IdentityViewer => "identity.viewer",
            Rule::FourEyes => "release.four-eyes",
            Rule::RecallFourEyes => "recall.four-eyes",
        }
    }

    /// What the rule demands, in a technician's words (the release screen lists these with ✓/✗).
    pub fn title(self) -> &'static str {
        match self {
            Rule::DonorAge => "donor within the age limits",
            Rule::DonorDeferred => "donor not deferred",
            Rule::DonorScreening => "complete negative screening within the validity window",
            Rule::PreDonationScreening => "complete negative screening before the donation",
            Rule::PostDonationScreening => "complete negative screening after the donation",
            Rule::DonationDayQuestionnaire => "clean donation-day questionnaire",
            Rule::ProcessingTime => "processing began within the time limit",
            Rule::QcPassed => "every required QC test passed",
            Rule::NoInterveningEvent => "no deferral, positive result or recall between the screenings",
            Rule::BatchState => "batch in quarantine, not expired, discarded or recalled",
            Rule::LabelsVerified => "every unit label scanned back and matched",
            Rule::DiscardOnce => "a batch is discarded once",
            Rule::DispenseRetainedSample => "a retained sample is never dispensed",
            Rule::DispenseAlreadyDispensed => "a unit is dispensed once",
            Rule::DispenseRecalled => "the unit is not recalled",
            Rule::DispenseDiscarded => "the unit is not discarded",
            Rule::DispenseNotReleased => "the unit is released",
            Rule::DispenseExpired => "the unit is not expired",
            Rule::DispenseRoute => "the product is given by one of its routes",
            Rule::DispenseRecalledSince => "a unit recalled since is dispensed in retrospect only when stated",
            Rule::DuplicateCollection => "one donation per donor and collection time",
            Rule::RecallRepeated => "a recall is not applied twice by mistake",
            Rule::LabelReprintReason => "a reprint says why",
            Rule::LabelVerifyNeedsPrint => "only a printed label is verified",
            Rule::LabelVerifyMatches => "the scanned label is the unit's own",
            Rule::PredictorsEventsPerVariable => "at least 10 of the rarer outcome per estimated coefficient",
            Rule::PredictorsSeparation => "the model converges (no separation)",
            Rule::IdentityViewer => "only the policy's identity viewers see identity",
            Rule::FourEyes => "released by someone who neither made the batch nor entered its QC",
            Rule::RecallFourEyes => "a recall applied is countersigned by a second user who may apply recalls",
        }
    }
}

/// A rule's refusal: which rule, and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by rule {}: {detail}", rule.code())]
pub struct Refusal {
    pub rule: Rule,
    pub detail: String,
}

fn refuse<T>(rule: Rule, detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal { rule, detail: detail.into() })
}

/// One rule checked: the release screen shows every one of these, passed or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub rule: Rule,
    pub code: &'static str,
    pub title: &'static str,
    pub passed: bool,
    pub detail: String,
}

impl Check {
    fn new(rule: Rule, outcome: Result<String, String>) -> Check {
        let passed = outcome.is_ok();
        let detail = outcome.unwrap_or_else(|e| e);
        Check { rule, code: rule.code(), title: rule.title(), passed, detail }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreeningFact {
    pub id: i64,
    pub kind: ScreeningKind,
    pub date: NaiveDate,
    pub results: Vec<(String, TestResult)>,
}

impl ScreeningFact {
    /// Complete when every test of the configured panel has a result.
    pub fn is_complete(&self, config: &Config) -> bool {
        screening_complete(self.kind, &self.results, config)
    }

    /// Tests that came back positive or indeterminate.
    pub fn abnormal(&self) -> impl Iterator<Item = &(String, TestResult)> {
        self.results.iter().filter(|(_, r)| *r != TestResult::Negative)
    }

    pub fn is_clean(&self, config: &Config) -> bool {
        self.is_complete(config) && self.abnormal().next().is_none()
    }
}

/// Complete when every test of the configured panel of `kind` has a result.
pub fn screening_complete(kind: ScreeningKind, results: &[(String, TestResult)], config: &Config) -> bool {
    config.panel(kind).iter().all(|t| results.iter().any(|(r, _)| r == t))
}

/// The deferral a screening's results cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreeningDeferral {
    pub reason: String,
    pub permanent: bool,
}

/// A positive or indeterminate result defers the donor from the screening's date: permanently when the policy
/// names the test (`permanent_deferral_tests`), otherwise until a later complete negative screening of the
/// panel. None when every result is negative.
pub fn screening_deferral(
    kind: ScreeningKind,
    date: NaiveDate,
    results: &[(String, TestResult)],
    config: &Config,
) -> Option<ScreeningDeferral> {
    let abnormal: Vec<&(String, TestResult)> = results.iter().filter(|(_, r)| *r != TestResult::Negative).collect();
    if abnormal.is_empty() {
        return None;
    }
    let permanent = abnormal.iter().any(|(t, _)| config.permanent_deferral_tests.contains(t));
    let listed: Vec<String> = abnormal.iter().map(|(t, r)| format!("{t} {r}")).collect();
    Some(ScreeningDeferral { reason: format!("{kind} screening of {date}: {}", listed.join(", ")), permanent })
}

/// How long a deferral lasts, in words: "permanently", "until 2026-05-01", "until lifted by a quality manager",
/// "until a negative re-screen".
pub fn deferral_span(permanent: bool, until_lifted: bool, until: Option<NaiveDate>) -> String {
    match (permanent, until_lifted, until) {
        (true, _, _) => "permanently".to_string(),
        (false, _, Some(u)) => format!("until {u}"),
        (false, true, None) => "until lifted by a quality manager".to_string(),
        (false, false, None) => "until a negative re-screen".to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferralFact {
    pub id: i64,
    pub starts_on: NaiveDate,
    pub until: Option<NaiveDate>,
    pub permanent: bool,
    pub reason: String,
    /// The screening whose result caused it; such a deferral (neither permanent nor dated) is lifted by a later
    /// complete negative screening of the same panel.
    pub screening: Option<(i64, ScreeningKind)>,
    /// The recall that caused it: such a deferral lasts until a quality manager lifts it.
    pub recall: Option<i64>,
    /// The safety signal (a serious adverse event probably or definitely related to a unit) that caused it:
    /// likewise until lifted.
    pub adverse_event: Option<i64>,
    /// The day it was lifted (only a recall's or a safety signal's deferral is lifted).
    pub lifted_on: Option<NaiveDate>,
}

impl DeferralFact {
    pub fn until_lifted(&self) -> bool {
        self.recall.is_some() || self.adverse_event.is_some()
    }

    /// The screening that caused this deferral and its panel, when the deferral ends with the next complete
    /// negative screening of that panel (neither permanent, nor dated, nor awaiting a quality manager's lift).
    pub fn lifted_by_screening(&self) -> Option<(i64, ScreeningKind)> {
        if self.permanent || self.until_lifted() || self.until.is_some() {
            return None;
        }
        self.screening
    }
}

/// Everything about a donor that the rules read.
///
/// Eligibility on one day `on` ([`DonorFacts::eligibility`]) reads fewer facts than release does: the birth date,
/// the deferrals, the screenings dated within [`screening_window`] of `on`, and, for each deferral begun by `on`
/// that a screening lifts ([`DeferralFact::lifted_by_screening`]), the first clean screening of its panel after
/// its cause. Facts holding just those (and no recall days) judge eligibility on `on` exactly as the whole
/// history does, so a list of donors reads a few indexed rows per donor, not every screening.
#[derive(Debug, Clone, Default)]
pub struct DonorFacts {
    pub birth_date: Option<NaiveDate>,
    pub screenings: Vec<ScreeningFact>,
    pub deferrals: Vec<DeferralFact>,
    /// Days on which a recall named this donor or one of the donor's batches.
    pub recalls: Vec<NaiveDate>,
}

/// The days whose screenings count for eligibility on `on`: the validity window ending on `on`, both inclusive.
pub fn screening_window(on: NaiveDate, config: &Config) -> (NaiveDate, NaiveDate) {
    (plus_days(on, -config.screening_validity_days), on)
}

/// The days whose screenings [`release_checks`] reads for a donation collected on `collected_on`, released on
/// `on`: the validity window before the collection to the one after it (as far as `on`), both inclusive. Facts
/// holding the screenings of these days, the deferrals with the screening lifting each one begun by the window's
/// end, and the recall days judge a release exactly as the whole history does.
pub fn release_window(collected_on: NaiveDate, on: NaiveDate, config: &Config) -> (NaiveDate, NaiveDate) {
    let days = config.screening_validity_days;
    (plus_days(collected_on, -days), plus_days(collected_on, days).min(on).max(collected_on))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Eligibility {
    /// Eligible; `rescreen_due` is the last day the current screening still counts.
    Eligible {
        rescreen_due: NaiveDate,
    },
    Deferred {
        reason: String,
        until: Option<NaiveDate>,
        permanent: bool,
        until_lifted: bool,
    },
    NotEligible {
        rule: Rule,
        reason: String,
    },
}

impl Eligibility {
    /// The donor's status and the reason for it, in a technician's words.
    pub fn status(&self) -> (DonorStatus, String) {
        match self {
            Eligibility::Eligible { rescreen_due } => {
                (DonorStatus::Eligible, format!("screened negative; re-screening due by {rescreen_due}"))
            }
            Eligibility::Deferred { reason, until, permanent, until_lifted } => (
                DonorStatus::Deferred,
                format!("deferred {}: {reason}", deferral_span(*permanent, *until_lifted, *until)),
            ),
            Eligibility::NotEligible { reason, .. } => (DonorStatus::NotEligible, reason.clone()),
        }
    }
}

fn plus_days(d: NaiveDate, n: i64) -> NaiveDate {
    if n >= 0 {
        d.checked_add_days(Days::new(n as u64)).unwrap_or(NaiveDate::MAX)
    } else {
        d.checked_sub_days(Days::new(n.unsigned_abs())).unwrap_or(NaiveDate::MIN)
    }
}

impl DonorFacts {
    /// The first day a deferral no longer applies (None: open-ended).
    pub fn deferral_end(&self, d: &DeferralFact, config: &Config) -> Option<NaiveDate> {
        if d.permanent {
            return None;
        }
        if d.until_lifted() {
            return d.lifted_on;
        }
        if let Some(until) = d.until {
            return Some(until);
        }
        let (cause_id, kind) = d.lifted_by_screening()?;
        self.screenings
            .iter()
            .filter(|s| s.kind == kind && (s.date, s.id) > (d.starts_on, cause_id) && s.is_clean(config))
            .map(|s| s.date)
            .min()
    }

    /// The deferral in force on `on`, if any (a permanent one before a dated one).
    pub fn deferral_on(&self, on: NaiveDate, config: &Config) -> Option<(&DeferralFact, Option<NaiveDate>)> {
        self.deferrals
            .iter()
            .filter(|d| d.starts_on <= on)
            .map(|d| (d, self.deferral_end(d, config)))
            .filter(|(_, end)| end.is_none_or(|e| on < e))
            .max_by_key(|(d, end)| (end.is_none(), d.permanent, *end))
    }

    /// The latest clean screening of `kind` dated within [from, to].
    fn latest_clean(&self, kind: ScreeningKind, from: NaiveDate, to: NaiveDate, c: &Config) -> Option<NaiveDate> {
        self.clean_dates(kind, from, to, c).max()
    }

    fn clean_dates<'a>(
        &'a self,
        kind: ScreeningKind,
        from: NaiveDate,
        to: NaiveDate,
        config: &'a Config,
    ) -> impl Iterator<Item = NaiveDate> + 'a {
        self.screenings
            .iter()
            .filter(move |s| s.kind == kind && s.date >= from && s.date <= to && s.is_clean(config))
            .map(|s| s.date)
    }

    /// Eligible to donate on day `on`: age limits, not deferred, and a complete negative screening of every panel
    /// dated within the validity window before `on`.
    pub fn eligibility(&self, on: NaiveDate, config: &Config) -> Eligibility {
        if let Some(birth) = self.birth_date {
            let age = age_on(birth, on);
            if age < config.donor_age_min || age > config.donor_age_max {
                return Eligibility::NotEligible {
                    rule: Rule::DonorAge,
                    reason: format!(
                        "donor is {age} on {on}; donors must be {}–{}",
                        config.donor_age_min, config.donor_age_max
                    ),
                };
            }
        }
        if let Some((d, end)) = self.deferral_on(on, config) {
            return Eligibility::Deferred {
                reason: d.reason.clone(),
                until: end,
                permanent: d.permanent,
                until_lifted: d.until_lifted(),
            };
        }
        let (from, _) = screening_window(on, config);
        let mut oldest: Option<NaiveDate> = None;
        for kind in ScreeningKind::DONOR_PANELS {
            match self.latest_clean(kind, from, on, config) {
                Some(d) => oldest = Some(oldest.map_or(d, |o| o.min(d))),
                None => {
                    return Eligibility::NotEligible {
                        rule: Rule::DonorScreening,
                        reason: format!(
                            "no complete negative {kind} screening between {from} and {on} ({} days)",
                            config.screening_validity_days
                        ),
                    }
                }
            }
        }
        let due = plus_days(oldest.unwrap_or(on), config.screening_validity_days);
        Eligibility::Eligible { rescreen_due: due }
    }

    /// Refuses a donation on `on` unless the donor is eligible.
    pub fn check_can_donate(&self, on: NaiveDate, config: &Config) -> Result<(), Refusal> {
        match self.eligibility(on, config) {
            Eligibility::Eligible { .. } => Ok(()),
            Eligibility::Deferred { reason, until, permanent, until_lifted } => refuse(
                Rule::DonorDeferred,
                format!("donor is deferred {} on {on}: {reason}", deferral_span(permanent, until_lifted, until)),
            ),
            Eligibility::NotEligible { rule, reason } => refuse(rule, reason),
        }
    }

    /// The day from which a recall of this donor reaches back by default: the last day every panel had been
    /// screened clean before `on` (the oldest of the latest clean screenings); None when never screened clean,
    /// in which case every donation is affected.
    pub fn last_clean_screening(&self, on: NaiveDate, config: &Config) -> Option<NaiveDate> {
        ScreeningKind::DONOR_PANELS
            .iter()
            .map(|k| self.latest_clean(*k, NaiveDate::MIN, on, config))
            .collect::<Option<Vec<_>>>()
            .and_then(|dates| dates.into_iter().min())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QcFact {
    pub id: i64,
    pub test: String,
    pub result: QcResult,
    pub at: DateTime<Utc>,
}

/// The latest result of each test recorded at or before `at` (a re-test supersedes).
pub fn qc_as_of<'a>(qc: &'a [QcFact], test: &str, at: DateTime<Utc>) -> Option<&'a QcFact> {
    qc.iter().filter(|q| q.test == test && q.at <= at).max_by_key(|q| (q.at, q.id))
}

/// The tests of the required QC list without a passing result as of `at`.
pub fn qc_missing(qc: &[QcFact], at: DateTime<Utc>, config: &Config) -> Vec<String> {
    config
        .qc_required
        .iter()
        .filter(|t| qc_as_of(qc, t, at).is_none_or(|q| q.result != QcResult::Pass))
        .cloned()
        .collect()
}

/// What release of a batch is judged on.
#[derive(Debug, Clone)]
pub struct ReleaseFacts<'a> {
    pub donor: &'a DonorFacts,
    pub collected_at: DateTime<Utc>,
    /// The local calendar day of collection (screening windows count days).
    pub collected_on: NaiveDate,
    pub prepared_at: DateTime<Utc>,
    pub qc: &'a [QcFact],
    pub released_at: Option<DateTime<Utc>>,
    pub discarded_at: Option<DateTime<Utc>>,
    pub recalled_at: Option<DateTime<Utc>>,
    pub expires_on: NaiveDate,
    pub units_unverified: usize,
    /// When the release happens, and its local day.
    pub at: DateTime<Utc>,
    pub on: NaiveDate,
}

/// Every release rule, checked as of `f.at`: the batch's state, then DOMAIN.md's rules 1–5, then label
/// verification where configured.
pub fn release_checks(f: &ReleaseFacts, config: &Config) -> Vec<Check> {
    let days = config.screening_validity_days;
    let c = f.collected_on;
    let donor = f.donor;
    let (before_from, window_to) = release_window(c, f.on, config);
    // The post-donation screenings count from the day after, up to `on` (before the collection: none).
    let after_to = window_to.min(f.on);

    let mut pre_dates = Vec::new();
    let pre =
        ScreeningKind::DONOR_PANELS.iter().try_for_each(|&k| match donor.latest_clean(k, before_from, c, config) {
            Some(d) => {
                pre_dates.push(d);
                Ok(())
            }
            None => Err(format!("no complete negative {k} screening between {before_from} and the donation on {c}")),
        });
    let mut post_dates = Vec::new();
    let post = ScreeningKind::DONOR_PANELS.iter().try_for_each(|&k| {
        match donor.clean_dates(k, plus_days(c, 1), after_to, config).min() {
            Some(d) => {
                post_dates.push(d);
                Ok(())
            }
            None => Err(format!(
                "no complete negative {k} screening in the {days} days after the donation on {c} (as of {}): \
                 material waits frozen until the donor re-tests negative",
                f.on
            )),
        }
    });
    let window_start = pre_dates.iter().min().copied().unwrap_or(before_from);
    let window_end = post_dates.iter().max().copied().unwrap_or(after_to);

    let day_q =
        donor.screenings.iter().filter(|s| s.kind == ScreeningKind::DonationDay && s.date == c).max_by_key(|s| s.id);
    let questionnaire = match day_q {
        None => Err(format!("no donation-day questionnaire recorded for {c}")),
        Some(s) if !s.is_complete(config) => Err(format!("the donation-day questionnaire of {c} is incomplete")),
        Some(s) => match s.abnormal().map(|(t, r)| format!("{t} {r}")).collect::<Vec<_>>() {
            yes if yes.is_empty() => Ok(format!("questionnaire of {c} clean")),
            yes => Err(format!("donation-day questionnaire answered yes: {}", yes.join(", "))),
        },
    };

    let minutes = (f.prepared_at - f.collected_at).num_minutes();
    let processing = if minutes < 0 {
        Err("processing is recorded before collection".to_string())
    } else if minutes > config.processing_limit_minutes {
        Err(format!(
            "processing began {minutes} min after collection; the limit is {}",
            config.processing_limit_minutes
        ))
    } else {
        Ok(format!("processing began {minutes} min after collection"))
    };

    let missing = qc_missing(f.qc, f.at, config);
    let qc = if missing.is_empty() {
        Ok("all required QC tests passed".to_string())
    } else {
        Err(format!("QC without a passing result: {}", missing.join(", ")))
    };

    let intervening = intervening_events(donor, window_start, window_end, config);
    let events = if intervening.is_empty() {
        Ok(format!("nothing between {window_start} and {window_end}"))
    } else {
        Err(intervening.join("; "))
    };

    let state = if f.discarded_at.is_some_and(|t| t <= f.at) {
        Err("the batch is discarded".to_string())
    } else if f.recalled_at.is_some_and(|t| t <= f.at) {
        Err("the batch is recalled".to_string())
    } else if f.released_at.is_some() {
        Err("the batch is already released".to_string())
    } else if f.on > f.expires_on {
        Err(format!("the batch expired on {}", f.expires_on))
    } else {
        Ok(format!("in quarantine, expires {}", f.expires_on))
    };

    // The batch's own state comes first: a discarded batch is refused as discarded, whatever else holds.
    let mut checks = vec![
        Check::new(Rule::BatchState, state),
        Check::new(Rule::PreDonationScreening, pre.map(|()| "screened clean before the donation".into())),
        Check::new(Rule::PostDonationScreening, post.map(|()| "screened clean after the donation".into())),
        Check::new(Rule::DonationDayQuestionnaire, questionnaire),
        Check::new(Rule::ProcessingTime, processing),
        Check::new(Rule::QcPassed, qc),
        Check::new(Rule::NoInterveningEvent, events),
    ];
    if config.require_label_verification {
        let labels = match f.units_unverified {
            0 => Ok("every unit label verified".to_string()),
            n => Err(format!("{n} unit label(s) not yet scanned back and verified")),
        };
        checks.push(Check::new(Rule::LabelsVerified, labels));
    }
    checks
}

/// Refuses a release unless every rule holds, naming the first that fails.
pub fn check_release(f: &ReleaseFacts, config: &Config) -> Result<(), Refusal> {
    match release_checks(f, config).into_iter().find(|c| !c.passed) {
        Some(c) => refuse(c.rule, c.detail),
        None => Ok(()),
    }
}

/// A failed release check that no later event can mend (processing began too late), if any: the batch can
/// never be released, and the bench should hear so when the batch is made rather than at release.
pub fn never_releasable(checks: &[Check]) -> Option<&Check> {
    checks.iter().find(|c| !c.passed && c.rule == Rule::ProcessingTime)
}

/// Refuses to discard a batch that is already discarded.
pub fn check_discard(discarded_at: Option<DateTime<Utc>>) -> Result<(), Refusal> {
    match discarded_at {
        Some(t) => refuse(Rule::DiscardOnce, format!("the batch was already discarded at {}", t.to_rfc3339())),
        None => Ok(()),
    }
}

/// Four eyes: `releaser` made none of the batch's work. `workers` are who made the batch and who entered each of
/// its QC results, with what they did.
pub fn check_four_eyes(releaser: &str, workers: &[(String, String)]) -> Result<(), Refusal> {
    let own: Vec<&str> = workers.iter().filter(|(who, _)| who == releaser).map(|(_, what)| what.as_str()).collect();
    if own.is_empty() {
        return Ok(());
    }
    refuse(
        Rule::FourEyes,
        format!("{releaser} {} this batch; another quality manager must release it", own.join(" and ")),
    )
}

/// Who countersigns a recall applied, as the bank knows them (their password already checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Countersigner<'a> {
    pub name: &'a str,
    pub roles: &'a [Role],
    pub disabled: bool,
}

/// Four eyes on a recall applied: when `required` (the policy's `recall_apply_second_person`), or whenever a
/// countersign is given, a second user, not the signer, enabled, holding a role that may apply recalls.
pub fn check_recall_four_eyes(
    required: bool,
    signer: &str,
    countersigner: Option<&Countersigner>,
) -> Result<(), Refusal> {
    let allowed = Operation::RecallApply.roles(&[]);
    let takes = allowed.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
    let Some(c) = countersigner else {
        if required {
            return refuse(
                Rule::RecallFourEyes,
                format!("the policy asks a second person to countersign a recall applied: another user ({takes})"),
            );
        }
        return Ok(());
    };
    if c.name == signer {
        return refuse(
            Rule::RecallFourEyes,
            format!("{signer} signed it already; another user ({takes}) countersigns"),
        );
    }
    if c.disabled {
        return refuse(Rule::RecallFourEyes, format!("{} is disabled and may not countersign", c.name));
    }
    if !c.roles.iter().any(|r| allowed.contains(r)) {
        let held = c.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
        return refuse(
            Rule::RecallFourEyes,
            format!("{} ({held}) may not apply recalls; a countersign takes: {takes}", c.name),
        );
    }
    Ok(())
}

/// A countersign whose sign-in was refused (an unknown user, a wrong password, a lockout), as the rule's refusal.
pub fn countersign_refused(why: impl std::fmt::Display) -> Refusal {
    Refusal { rule: Rule::RecallFourEyes, detail: format!("the countersign is refused: {why}") }
}

/// Deferrals, positive or indeterminate results and recalls touching the donor within [from, to].
fn intervening_events(donor: &DonorFacts, from: NaiveDate, to: NaiveDate, config: &Config) -> Vec<String> {
    let mut found = Vec::new();
    for d in &donor.deferrals {
        let end = donor.deferral_end(d, config);
        if d.starts_on <= to && end.is_none_or(|e| e > from) {
            found.push(format!("deferral from {} ({})", d.starts_on, d.reason));
        }
    }
    for s in donor.screenings.iter().filter(|s| s.date >= from && s.date <= to) {
        for (test, result) in s.abnormal() {
            found.push(format!("{} {test} {result} on {}", s.kind, s.date));
        }
    }
    for r in donor.recalls.iter().filter(|r| **r >= from && **r <= to) {
        found.push(format!("recall on {r}"));
    }
    found
}

/// Refuses a donation collected at the very moment of one already recorded for the donor (a double entry):
/// `existing` holds the donor's donations (DIN, collection time).
pub fn check_new_collection(existing: &[(String, DateTime<Utc>)], collected_at: DateTime<Utc>) -> Result<(), Refusal> {
    match existing.iter().find(|(_, t)| *t == collected_at) {
        Some((din, _)) => refuse(
            Rule::DuplicateCollection,
            format!("donation {din} of this donor was collected at the same moment; it is the same donation"),
        ),
        None => Ok(()),
    }
}

/// Refuses a route of administration the product is not given by, naming the ones it is.
pub fn check_route(product: &Product, route: &str) -> Result<(), Refusal> {
    if product.routes.iter().any(|r| r.eq_ignore_ascii_case(route)) {
        return Ok(());
    }
    refuse(
        Rule::DispenseRoute,
        format!(
            "product {} ({}) is given by {}, not by {route}",
            product.code,
            product.description,
            product.routes.join(", ")
        ),
    )
}

/// A recall applied earlier with the same selector and the same answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierRecall {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// What it found: batch and unit identifiers.
    pub found: Vec<String>,
}

/// Refuses to apply a recall that repeats an earlier one (same selector, same batches and units) unless the user
/// says it is meant (`again`): a second record of one recall double-counts it in every report.
pub fn check_recall_not_repeated(earlier: &[EarlierRecall], found: &[String], again: bool) -> Result<(), Refusal> {
    match earlier.iter().find(|e| e.found == found) {
        Some(e) if !again => refuse(
            Rule::RecallRepeated,
            format!(
                "recall {} applied at {} already named the same material ({} batches and units); give --again \
                 to record it once more",
                e.id,
                e.at.to_rfc3339(),
                found.len()
            ),
        ),
        _ => Ok(()),
    }
}

/// Refuses to record a dispense dated before the unit's recall once the unit is recalled (`now`), unless the
/// user states that it happened (`stated`): back-dating must not be a way round a recall, and a dispense that
/// did happen must reach the recall's answer.
pub fn check_dispense_after_recall(unit: &UnitFacts, now: DateTime<Utc>, stated: bool) -> Result<(), Refusal> {
    match unit.recalled_at {
        Some(t) if t <= now && !stated => refuse(
            Rule::DispenseRecalledSince,
            format!(
                "the unit was recalled at {}; a dispense before the recall is recorded only when stated as having \
                 happened (--happened --reason TEXT), and then its recipient is flagged for contact",
                t.to_rfc3339()
            ),
        ),
        _ => Ok(()),
    }
}

/// Refuses to dispense a unit as of `at` unless it is a released, unexpired, undispensed, unrecalled dose.
pub fn check_dispense(unit: &UnitFacts, at: DateTime<Utc>, on: NaiveDate) -> Result<(), Refusal> {
    if unit.kind == UnitKind::Retained {
        return refuse(Rule::DispenseRetainedSample, "this is the donation's retained sample; it is never dispensed");
    }
    if let Some(when) = unit.dispensed_at {
        return refuse(
            Rule::DispenseAlreadyDispensed,
            format!("the unit was already dispensed at {}", when.to_rfc3339()),
        );
    }
    match unit_status(unit, at, on) {
        UnitStatus::Released => Ok(()),
        UnitStatus::Recalled => refuse(Rule::DispenseRecalled, "the unit is recalled: it must not be used"),
        UnitStatus::Discarded => refuse(Rule::DispenseDiscarded, "the unit is discarded"),
        UnitStatus::Expired => refuse(Rule::DispenseExpired, format!("the unit expired on {}", unit.expires_on)),
        UnitStatus::Quarantined => {
            refuse(Rule::DispenseNotReleased, "the unit is quarantined: its batch has not been released")
        }
        other => refuse(Rule::DispenseNotReleased, format!("the unit is {other}")),
    }
}

/// A label printed before is reprinted only with a reason (a second label of one unit can end up on another tube).
pub fn check_reprint(id: &str, printed_before: bool, reason: Option<&str>) -> Result<(), Refusal> {
    match (printed_before, reason.map(str::trim).filter(|r| !r.is_empty())) {
        (true, None) => refuse(Rule::LabelReprintReason, format!("{id} was printed before: a reprint needs a reason")),
        _ => Ok(()),
    }
}

/// Label verification reads back a label that was printed (the latest print: a reprint needs its own
/// verification), and the label must be the unit's own. `found` is the identifier the scan reads, or why it
/// reads none.
pub fn check_label_verification(unit: &str, printed: bool, found: Result<&str, &str>) -> Result<(), Refusal> {
    if !printed {
        return refuse(
            Rule::LabelVerifyNeedsPrint,
            format!("no label of {unit} has been printed: print it, then scan the printed label"),
        );
    }
    match found {
        Ok(f) if f == unit => Ok(()),
        Ok(f) => refuse(Rule::LabelVerifyMatches, format!("label mismatch: expected {unit}, the label reads {f}")),
        Err(why) => refuse(Rule::LabelVerifyMatches, format!("the scan is not a label of this bank: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TestResult::{Negative, Positive};

    #[test]
    fn reprints_need_a_reason_and_verification_a_matching_printed_label() {
        assert_eq!(check_reprint("G1", false, None), Ok(()));
        assert_eq!(check_reprint("G1", true, Some("smudged")), Ok(()));
        assert_eq!(check_reprint("G1", true, Some("  ")).unwrap_err().rule, Rule::LabelReprintReason);
        assert_eq!(check_label_verification("U1", false, Ok("U1")).unwrap_err().rule, Rule::LabelVerifyNeedsPrint);
        assert_eq!(check_label_verification("U1", true, Ok("U1")), Ok(()));
        let e = check_label_verification("U1", true, Ok("U2")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "refused by rule label.verify-matches: label mismatch: expected U1, the label reads U2"
        );
        assert_eq!(check_label_verification("U1", true, Err("bad")).unwrap_err().rule, Rule::LabelVerifyMatches);
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn screening(id: i64, kind: ScreeningKind, date: &str, positive: Option<&str>, c: &Config) -> ScreeningFact {
        let results = c
            .panel(kind)
            .iter()
            .map(|t| (t.clone(), if Some(t.as_str()) == positive { Positive } else { Negative }))
            .collect();
        ScreeningFact { id, kind, date: day(date), results }
    }

    fn clean_round(start_id: i64, date: &str, c: &Config) -> Vec<ScreeningFact> {
        ScreeningKind::DONOR_PANELS
            .iter()
            .enumerate()
            .map(|(i, k)| screening(start_id + i as i64, *k, date, None, c))
            .collect()
    }

    #[test]
    fn eligibility_needs_every_panel_within_the_window() {
        let c = Config::default();
        let mut donor = DonorFacts { birth_date: Some(day("1990-01-01")), ..Default::default() };
        donor.screenings = clean_round(1, "2026-01-10", &c);
        assert_eq!(donor.eligibility(day("2026-02-01"), &c), Eligibility::Eligible { rescreen_due: day("2026-03-11") });
        // Day 61 after: the screening no longer counts.
        assert!(matches!(
            donor.eligibility(day("2026-03-12"), &c),
            Eligibility::NotEligible { rule: Rule::DonorScreening, .. }
        ));
        // Missing one panel.
        donor.screenings.retain(|s| s.kind != ScreeningKind::Blood);
        assert!(matches!(donor.eligibility(day("2026-02-01"), &c), Eligibility::NotEligible { .. }));
    }

    #[test]
    fn a_positive_result_defers_until_a_later_negative_screen_of_that_panel() {
        let c = Config::default();
        let mut donor = DonorFacts { birth_date: Some(day("1990-01-01")), ..Default::default() };
        donor.screenings = clean_round(1, "2026-01-10", &c);
        donor.screenings.push(screening(10, ScreeningKind::Stool, "2026-01-20", Some("norovirus"), &c));
        donor.deferrals.push(DeferralFact {
            id: 1,
            starts_on: day("2026-01-20"),
            until: None,
            permanent: false,
            reason: "norovirus positive".into(),
            screening: Some((10, ScreeningKind::Stool)),
            recall: None,
            adverse_event: None,
            lifted_on: None,
        });
        assert!(matches!(donor.eligibility(day("2026-01-25"), &c), Eligibility::Deferred { until: None, .. }));
        donor.screenings.push(screening(11, ScreeningKind::Stool, "2026-01-27", None, &c));
        assert!(matches!(donor.eligibility(day("2026-01-26"), &c), Eligibility::Deferred { .. }));
        assert!(matches!(donor.eligibility(day("2026-01-27"), &c), Eligibility::Eligible { .. }));
    }

    #[test]
    fn a_recall_defers_until_lifted_and_a_negative_screen_does_not_lift_it() {
        let c = Config::default();
        let mut donor = DonorFacts { birth_date: Some(day("1990-01-01")), ..Default::default() };
        donor.screenings = clean_round(1, "2026-01-10", &c);
        donor.deferrals.push(DeferralFact {
            id: 1,
            starts_on: day("2026-01-20"),
            until: None,
            permanent: false,
            reason: "recall 4: recipient infection".into(),
            screening: None,
            recall: Some(4),
            adverse_event: None,
            lifted_on: None,
        });
        donor.screenings.extend(clean_round(10, "2026-01-25", &c));
        let refusal = donor.check_can_donate(day("2026-01-26"), &c).unwrap_err();
        assert_eq!(refusal.rule, Rule::DonorDeferred);
        assert!(refusal.detail.contains("until lifted by a quality manager"), "{refusal}");
        assert!(refusal.detail.contains("recall 4"), "{refusal}");
        donor.deferrals[0].lifted_on = Some(day("2026-01-28"));
        assert!(donor.check_can_donate(day("2026-01-27"), &c).is_err());
        assert_eq!(donor.check_can_donate(day("2026-01-28"), &c), Ok(()));
    }

    /// A pass for every QC test the policy requires, recorded at `at`.
    fn passing_qc(c: &Config, at: DateTime<Utc>) -> Vec<QcFact> {
        let pass = |(i, t): (usize, &String)| QcFact { id: i as i64, test: t.clone(), result: QcResult::Pass, at };
        c.qc_required.iter().enumerate().map(pass).collect()
    }

    /// What a loader gives for the days `from..=to`: the screenings dated within, and the first clean screening
    /// lifting each deferral begun by `to` (the other facts whole).
    fn within(full: &DonorFacts, from: NaiveDate, to: NaiveDate, c: &Config) -> DonorFacts {
        let mut screenings: Vec<ScreeningFact> =
            full.screenings.iter().filter(|s| s.date >= from && s.date <= to).cloned().collect();
        for d in full.deferrals.iter().filter(|d| d.starts_on <= to) {
            let Some((cause, kind)) = d.lifted_by_screening() else { continue };
            let first = full
                .screenings
                .iter()
                .filter(|s| s.kind == kind && (s.date, s.id) > (d.starts_on, cause) && s.is_clean(c))
                .min_by_key(|s| (s.date, s.id));
            if let Some(s) = first.filter(|s| !screenings.contains(s)) {
                screenings.push(s.clone());
            }
        }
        DonorFacts { screenings, ..full.clone() }
    }

    /// What a loader gives for eligibility on `on` (see [`DonorFacts`]): the window's, and no recall days.
    fn reduced(full: &DonorFacts, on: NaiveDate, c: &Config) -> DonorFacts {
        let (from, to) = screening_window(on, c);
        DonorFacts { recalls: Vec::new(), ..within(full, from, to, c) }
    }

    /// Two years of a donor: clean rounds every 45 days from 2024-01-01 (a panel skipped now and then), a
    /// positive stool result lifted by a clean screening a year later, a dated deferral, a recall's deferral
    /// lifted, and at last a permanent one.
    fn history(c: &Config) -> DonorFacts {
        let mut donor = DonorFacts { birth_date: Some(day("1990-01-01")), ..Default::default() };
        let start = day("2024-01-01");
        let deferral = |id, starts_on: &str, screening, recall, until: Option<&str>, permanent| DeferralFact {
            id,
            starts_on: day(starts_on),
            until: until.map(day),
            permanent,
            reason: format!("deferral {id}"),
            screening,
            recall,
            adverse_event: None,
            lifted_on: None,
        };
        // Clean rounds every 45 days, one panel skipped now and then: the window sometimes lacks it.
        let mut id = 1;
        for n in 0..16u64 {
            let date = start + Days::new(n * 45);
            for (i, kind) in ScreeningKind::DONOR_PANELS.iter().enumerate() {
                if (n + i as u64) % 7 != 6 {
                    donor.screenings.push(screening(id, *kind, &date.to_string(), None, c));
                }
                id += 1;
            }
        }
        // A positive stool result in the first months, lifted by a clean stool screening over a year later.
        donor
            .screenings
            .retain(|s| !(s.kind == ScreeningKind::Stool && s.date > day("2024-02-01") && s.date < day("2025-03-01")));
        donor.screenings.push(screening(500, ScreeningKind::Stool, "2024-02-10", Some("norovirus"), c));
        donor.deferrals.push(deferral(1, "2024-02-10", Some((500, ScreeningKind::Stool)), None, None, false));
        // A dated deferral, a recall's deferral lifted later, and at last a permanent one.
        donor.deferrals.push(deferral(2, "2025-04-01", None, None, Some("2025-04-20"), false));
        let mut recall = deferral(3, "2025-06-01", None, Some(4), None, false);
        recall.lifted_on = Some(day("2025-07-15"));
        donor.deferrals.push(recall);
        donor.deferrals.push(deferral(4, "2025-11-01", None, None, None, true));
        donor
    }

    #[test]
    fn eligibility_from_the_window_and_the_lifting_screenings_equals_eligibility_from_the_whole_history() {
        let c = Config::default();
        let donor = history(&c);
        let start = day("2024-01-01");
        let mut seen = std::collections::HashSet::new();
        for n in 0..760 {
            let on = start + Days::new(n);
            let whole = donor.eligibility(on, &c);
            assert_eq!(reduced(&donor, on, &c).eligibility(on, &c), whole, "on {on}");
            seen.insert(std::mem::discriminant(&whole));
        }
        assert_eq!(seen.len(), 3, "the history passes through eligible, deferred and not eligible");
    }

    /// What a loader gives for a release (see [`release_window`]): the window's, with the recall days.
    fn reduced_for_release(full: &DonorFacts, collected_on: NaiveDate, on: NaiveDate, c: &Config) -> DonorFacts {
        let (from, to) = release_window(collected_on, on, c);
        within(full, from, to, c)
    }

    #[test]
    fn a_release_judged_on_the_window_and_the_lifting_screenings_equals_one_judged_on_the_whole_history() {
        let c = Config::default();
        let mut donor = history(&c);
        donor.recalls = vec![day("2025-06-01")];
        // A round soon after the one of 2025-09-22, so that a collection that day is sandwiched and releases.
        donor.screenings.extend(clean_round(900, "2025-10-01", &c));
        let start = day("2024-01-01");
        let mut seen = std::collections::HashSet::new();
        for n in (0..720).step_by(3) {
            let collected_on = start + Days::new(n);
            let mut full = donor.clone();
            full.screenings.push(screening(
                10_000 + n as i64,
                ScreeningKind::DonationDay,
                &collected_on.to_string(),
                None,
                &c,
            ));
            let collected = collected_on.and_hms_opt(8, 0, 0).unwrap().and_utc();
            let qc = passing_qc(&c, collected);
            for later in [0, 1, 20, 45, 70, 200] {
                let on = collected_on + Days::new(later);
                let reduced = reduced_for_release(&full, collected_on, on, &c);
                let facts = |donor| ReleaseFacts {
                    donor,
                    collected_at: collected,
                    collected_on,
                    prepared_at: collected + chrono::Duration::hours(2),
                    qc: &qc,
                    released_at: None,
                    discarded_at: None,
                    recalled_at: None,
                    expires_on: collected_on + Days::new(365),
                    units_unverified: 0,
                    at: on.and_hms_opt(12, 0, 0).unwrap().and_utc(),
                    on,
                };
                let whole = release_checks(&facts(&full), &c);
                assert_eq!(release_checks(&facts(&reduced), &c), whole, "collected {collected_on}, released {on}");
                seen.insert(whole.iter().find(|k| !k.passed).map(|k| k.rule));
            }
        }
        assert!(seen.contains(&None), "some releases pass: {seen:?}");
        for rule in [Rule::PreDonationScreening, Rule::PostDonationScreening, Rule::NoInterveningEvent] {
            assert!(seen.contains(&Some(rule)), "some releases are refused by {rule:?}");
        }
    }

    #[test]
    fn a_product_is_given_by_its_routes_only() {
        let c = Config::default();
        let f1 = c.product("F0001").unwrap();
        assert_eq!(check_route(f1, "colonoscopy"), Ok(()));
        let refusal = check_route(f1, "capsule").unwrap_err();
        assert_eq!(refusal.rule, Rule::DispenseRoute);
        assert!(refusal.detail.contains("colonoscopy, tet-colonic, enema"), "{refusal}");
    }

    #[test]
    fn a_repeated_recall_needs_again() {
        let t = DateTime::parse_from_rfc3339("2026-01-15T08:00:00Z").unwrap().to_utc();
        let earlier = [EarlierRecall { id: 3, at: t, found: vec!["B1".into()] }];
        let refusal = check_recall_not_repeated(&earlier, &["B1".to_string()], false).unwrap_err();
        assert!(refusal.detail.contains("recall 3"), "{refusal}");
        assert_eq!(check_recall_not_repeated(&earlier, &["B1".to_string()], true), Ok(()));
        assert_eq!(check_recall_not_repeated(&earlier, &["B2".to_string()], false), Ok(()));
    }

    #[test]
    fn release_checks_the_sandwich_and_names_what_fails() {
        let c = Config::default();
        let mut donor = DonorFacts { birth_date: Some(day("1990-01-01")), ..Default::default() };
        donor.screenings = clean_round(1, "2026-01-10", &c);
        donor.screenings.push(screening(5, ScreeningKind::DonationDay, "2026-01-15", None, &c));
        let collected = DateTime::parse_from_rfc3339("2026-01-15T08:00:00Z").unwrap().to_utc();
        let release = DateTime::parse_from_rfc3339("2026-02-20T08:00:00Z").unwrap().to_utc();
        let qc = passing_qc(&c, collected);
        fn facts<'a>(
            d: &'a DonorFacts,
            qc: &'a [QcFact],
            collected: DateTime<Utc>,
            release: DateTime<Utc>,
        ) -> ReleaseFacts<'a> {
            ReleaseFacts {
                donor: d,
                collected_at: collected,
                collected_on: day("2026-01-15"),
                prepared_at: collected + chrono::Duration::hours(2),
                qc,
                released_at: None,
                discarded_at: None,
                recalled_at: None,
                expires_on: day("2026-07-15"),
                units_unverified: 0,
                at: release,
                on: day("2026-02-20"),
            }
        }
        assert_eq!(
            check_release(&facts(&donor, &qc, collected, release), &c).unwrap_err().rule,
            Rule::PostDonationScreening
        );
        donor.screenings.extend(clean_round(20, "2026-02-14", &c));
        assert_eq!(check_release(&facts(&donor, &qc, collected, release), &c), Ok(()));
        // A positive result between the two screenings, since lifted, still blocks this batch.
        donor.screenings.push(screening(30, ScreeningKind::Stool, "2026-01-30", Some("giardia"), &c));
        assert_eq!(
            check_release(&facts(&donor, &qc, collected, release), &c).unwrap_err().rule,
            Rule::NoInterveningEvent
        );
    }

    #[test]
    fn a_screening_defers_on_an_abnormal_result_permanently_for_the_policys_tests() {
        let c = Config::default();
        let on = day("2026-01-20");
        let mut results: Vec<(String, TestResult)> =
            c.panel(ScreeningKind::Blood).iter().map(|t| (t.clone(), Negative)).collect();
        assert!(screening_complete(ScreeningKind::Blood, &results, &c));
        assert_eq!(screening_deferral(ScreeningKind::Blood, on, &results, &c), None);
        results[0].1 = TestResult::Indeterminate;
        let first = results[0].0.clone();
        let d = screening_deferral(ScreeningKind::Blood, on, &results, &c).unwrap();
        assert_eq!(d.permanent, c.permanent_deferral_tests.contains(&first));
        assert_eq!(d.reason, format!("blood screening of 2026-01-20: {first} indeterminate"));
        results.retain(|(t, _)| t != "hiv");
        results.push(("hiv".into(), Positive));
        assert!(screening_deferral(ScreeningKind::Blood, on, &results, &c).unwrap().permanent);
        results.pop();
        assert!(!screening_complete(ScreeningKind::Blood, &results, &c));
    }

    #[test]
    fn late_processing_can_never_be_released_and_a_batch_is_discarded_once() {
        let failed = |rule| Check::new(rule, Err("no".into()));
        assert_eq!(never_releasable(&[failed(Rule::QcPassed)]), None);
        assert_eq!(never_releasable(&[failed(Rule::ProcessingTime)]).map(|c| c.rule), Some(Rule::ProcessingTime));
        let t = DateTime::parse_from_rfc3339("2026-02-20T08:00:00Z").unwrap().to_utc();
        assert_eq!(check_discard(None), Ok(()));
        assert_eq!(check_discard(Some(t)).unwrap_err().rule, Rule::DiscardOnce);
    }

    #[test]
    fn four_eyes_names_what_the_releaser_did() {
        let workers =
            vec![("ann".to_string(), "made".to_string()), ("bob".to_string(), "entered QC appearance of".to_string())];
        assert_eq!(check_four_eyes("cat", &workers), Ok(()));
        let r = check_four_eyes("bob", &workers).unwrap_err();
        assert_eq!(r.rule, Rule::FourEyes);
        assert_eq!(
            r.to_string(),
            "refused by rule release.four-eyes: bob entered QC appearance of this batch; another quality manager must release it"
        );
    }

    #[test]
    fn recall_four_eyes_takes_another_enabled_user_who_may_apply_recalls() {
        let qm = [Role::QualityManager];
        let tech = [Role::Technician];
        let other = Countersigner { name: "quincy", roles: &qm, disabled: false };
        assert_eq!(check_recall_four_eyes(true, "quinn", Some(&other)), Ok(()));
        assert_eq!(check_recall_four_eyes(false, "quinn", None), Ok(()));
        let code = |r: Result<(), Refusal>| r.unwrap_err().to_string();
        let none = code(check_recall_four_eyes(true, "quinn", None));
        assert!(none.starts_with("refused by rule recall.four-eyes: the policy asks a second person"), "{none}");
        let same = Countersigner { name: "quinn", ..other.clone() };
        assert!(code(check_recall_four_eyes(true, "quinn", Some(&same))).contains("quinn signed it already"));
        let off = Countersigner { disabled: true, ..other.clone() };
        assert!(code(check_recall_four_eyes(true, "quinn", Some(&off))).contains("quincy is disabled"));
        let t = Countersigner { name: "tom", roles: &tech, disabled: false };
        assert_eq!(
            code(check_recall_four_eyes(true, "quinn", Some(&t))),
            "refused by rule recall.four-eyes: tom (technician) may not apply recalls; a countersign takes: quality-manager"
        );
        assert_eq!(countersign_refused("wrong password").rule, Rule::RecallFourEyes);
    }

    #[test]
    fn dispense_follows_the_unit_lifecycle() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let mut u = UnitFacts {
            kind: UnitKind::Dose,
            released_at: Some(t("2026-02-20T08:00:00Z")),
            discarded_at: None,
            recalled_at: None,
            dispensed_at: None,
            expires_on: day("2026-07-15"),
        };
        assert_eq!(
            check_dispense(&u, t("2026-02-19T08:00:00Z"), day("2026-02-19")).unwrap_err().rule,
            Rule::DispenseNotReleased
        );
        assert_eq!(check_dispense(&u, t("2026-03-01T08:00:00Z"), day("2026-03-01")), Ok(()));
        assert_eq!(
            check_dispense(&u, t("2026-07-16T08:00:00Z"), day("2026-07-16")).unwrap_err().rule,
            Rule::DispenseExpired
        );
        u.recalled_at = Some(t("2026-03-01T07:00:00Z"));
        assert_eq!(
            check_dispense(&u, t("2026-03-01T08:00:00Z"), day("2026-03-01")).unwrap_err().rule,
            Rule::DispenseRecalled
        );
        // A dispense that happened before the recall was entered later: allowed, and the recall names it.
        assert_eq!(check_dispense(&u, t("2026-02-28T08:00:00Z"), day("2026-02-28")), Ok(()));
        u.kind = UnitKind::Retained;
        assert_eq!(
            check_dispense(&u, t("2026-02-28T08:00:00Z"), day("2026-02-28")).unwrap_err().rule,
            Rule::DispenseRetainedSample
        );
    }
}
