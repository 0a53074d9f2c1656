//! Treatment courses, follow-up time points and their windows, the study's eligibility and the safety-signal
//! rule. A course groups a recipient's dispenses; its first FMT starts the clock of its follow-up visits.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::model::{text_enum, Cohort, Consent};

text_enum!(
    /// When a follow-up visit is due, counted from the first FMT of the course.
    Timepoint, "time point" { M3 = "3m", Y1 = "1y", Y5 = "5y" }
);

impl Timepoint {
    pub fn months(self) -> u32 {
        match self {
            Timepoint::M3 => 3,
            Timepoint::Y1 => 12,
            Timepoint::Y5 => 60,
        }
    }
}

text_enum!(
    Outcome, "outcome" {
        Remission = "remission", Response = "response", NoResponse = "no-response", Relapse = "relapse",
        Lost = "lost",
    }
);

text_enum!(
    /// How likely an adverse event was caused by the transplant (WHO-UMC style, as the national platform reports).
    Relatedness, "relatedness" {
        Unrelated = "unrelated", Unlikely = "unlikely", Possible = "possible", Probable = "probable",
        Definite = "definite",
    }
);

text_enum!(
    /// Why a recipient is excluded from the study's analysis (the protocol's two exclusion criteria).
    ExclusionGround, "exclusion ground" {
        IncompleteData = "incomplete-data", SevereComplication = "severe-complication",
    }
);

/// A span of calendar time: `14d`, `2w` or `6m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Days(u32),
    Months(u32),
}

impl Span {
    pub fn before(self, d: NaiveDate) -> Option<NaiveDate> {
        match self {
            Span::Days(n) => d.checked_sub_days(Days::new(n.into())),
            Span::Months(n) => d.checked_sub_months(Months::new(n)),
        }
    }

    pub fn after(self, d: NaiveDate) -> Option<NaiveDate> {
        match self {
            Span::Days(n) => d.checked_add_days(Days::new(n.into())),
            Span::Months(n) => d.checked_add_months(Months::new(n)),
        }
    }
}

impl FromStr for Span {
    type Err = String;
    fn from_str(s: &str) -> Result<Span, String> {
        let t = s.trim();
        let bad = || format!("`{t}` is not a span: use days, weeks or months, e.g. 14d, 2w, 6m");
        let (n, unit) = t.split_at(t.len().saturating_sub(1));
        let n: u32 = n.parse().map_err(|_| bad())?;
        match unit {
            "d" => Ok(Span::Days(n)),
            "w" => n.checked_mul(7).map(Span::Days).ok_or_else(bad),
            "m" => Ok(Span::Months(n)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::Days(n) if n % 7 == 0 && *n > 0 => write!(f, "{}w", n / 7),
            Span::Days(n) => write!(f, "{n}d"),
            Span::Months(n) => write!(f, "{n}m"),
        }
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The follow-up policy: visit windows around each time point, what starts a new course, and the study's
/// target indications and minimum age.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FollowupPolicy {
    pub window_3m: Span,
    pub window_1y: Span,
    pub window_5y: Span,
    /// A dispense more than this many days after the recipient's previous one starts a new course.
    pub course_gap_days: u32,
    /// The study's target diagnoses (indication codes).
    pub study_indications: Vec<String>,
    pub study_min_age_years: u32,
}

impl Default for FollowupPolicy {
    fn default() -> Self {
        FollowupPolicy {
            window_3m: Span::Days(14),
            window_1y: Span::Months(2),
            window_5y: Span::Months(6),
            course_gap_days: 60,
            study_indications: ["rCDI", "CDI", "UC", "CD", "IBS", "FC", "HE", "ASD", "EPI", "PD"]
                .iter()
                .map(ToString::to_string)
                .collect(),
            study_min_age_years: 3,
        }
    }
}

impl FollowupPolicy {
    pub fn span(&self, tp: Timepoint) -> Span {
        match tp {
            Timepoint::M3 => self.window_3m,
            Timepoint::Y1 => self.window_1y,
            Timepoint::Y5 => self.window_5y,
        }
    }

    /// The window of a time point of a course that started on `start` (both edges inclusive).
    pub fn window(&self, start: NaiveDate, tp: Timepoint) -> Window {
        let due = start.checked_add_months(Months::new(tp.months())).unwrap_or(NaiveDate::MAX);
        let span = self.span(tp);
        Window {
            timepoint: tp,
            due,
            from: span.before(due).unwrap_or(NaiveDate::MIN),
            to: span.after(due).unwrap_or(NaiveDate::MAX),
        }
    }

    /// The windows must not overlap, or a visit could not be told apart.
    pub fn validate(&self) -> Result<(), String> {
        let start = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
        let w: Vec<Window> = Timepoint::ALL.iter().map(|tp| self.window(start, *tp)).collect();
        if w.windows(2).any(|p| p[0].to >= p[1].from) || w[0].from <= start {
            return Err("follow-up windows overlap each other or the first FMT; narrow them".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub timepoint: Timepoint,
    pub due: NaiveDate,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Window {
    pub fn contains(&self, d: NaiveDate) -> bool {
        self.from <= d && d <= self.to
    }
}

/// One dispense, as the course grouping sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub dispense: i64,
    pub day: NaiveDate,
}

/// A recipient's course: dispenses no more than the policy's gap apart. Sessions are distinct treatment days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Course {
    pub first_dispense: i64,
    pub start: NaiveDate,
    pub last: NaiveDate,
    pub dispenses: Vec<i64>,
    pub sessions: usize,
}

impl Course {
    /// Whether a visit recorded against `dispense` follows this course. Visits name a dispense of their course,
    /// which stays in it even when a dispense entered later (retrospectively) becomes the course's first.
    pub fn includes(&self, dispense: i64) -> bool {
        self.dispenses.contains(&dispense)
    }
}

/// Groups one recipient's dispenses (any order) into courses.
pub fn courses(policy: &FollowupPolicy, sessions: &[Session]) -> Vec<Course> {
    let mut sorted = sessions.to_vec();
    sorted.sort_by_key(|s| (s.day, s.dispense));
    let mut out: Vec<Course> = Vec::new();
    for s in sorted {
        match out.last_mut() {
            Some(c) if (s.day - c.last).num_days() <= i64::from(policy.course_gap_days) => {
                if s.day != c.last {
                    c.sessions += 1;
                }
                c.last = s.day;
                c.dispenses.push(s.dispense);
            }
            _ => out.push(Course {
                first_dispense: s.dispense,
                start: s.day,
                last: s.day,
                dispenses: vec![s.dispense],
                sessions: 1,
            }),
        }
    }
    out
}

/// The course a visit on `day` follows: the latest that started on or before it.
pub fn course_on(courses: &[Course], day: NaiveDate) -> Option<&Course> {
    courses.iter().rev().find(|c| c.start <= day)
}

/// A visit is due from its window's opening; overdue days count from the due date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Due {
    pub window: Window,
    pub overdue_days: i64,
}

/// The visits of a course due by `by` that have not been recorded.
pub fn due(policy: &FollowupPolicy, start: NaiveDate, recorded: &[Timepoint], by: NaiveDate) -> Vec<Due> {
    Timepoint::ALL
        .iter()
        .filter(|tp| !recorded.contains(tp))
        .map(|tp| policy.window(start, *tp))
        .filter(|w| w.from <= by)
        .map(|w| Due { window: w, overdue_days: (by - w.due).num_days().max(0) })
        .collect()
}

/// Whole years between a birth date and a day (a birthday on 29 February counts on 1 March in common years).
pub fn age_on(birth: NaiveDate, day: NaiveDate) -> i32 {
    let mut years = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}

/// What study eligibility is computed from.
pub struct StudyFacts<'a> {
    pub birth_date: NaiveDate,
    pub indication: &'a str,
    pub cohort: Cohort,
    pub consent: Consent,
    pub first_fmt: Option<NaiveDate>,
    pub exclusion: Option<(ExclusionGround, &'a str)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eligibility {
    pub eligible: bool,
    /// Every criterion not met (empty when eligible).
    pub reasons: Vec<String>,
}

/// The study's inclusion and exclusion criteria, never typed in: a target indication, age ≥ the minimum on the
/// day of the first FMT, at least one FMT, the consent the cohort needs, and no recorded exclusion.
pub fn study_eligibility(policy: &FollowupPolicy, f: &StudyFacts) -> Eligibility {
    let mut reasons = Vec::new();
    if !policy.study_indications.iter().any(|i| i.eq_ignore_ascii_case(f.indication)) {
        reasons.push(format!("indication {} is not a target diagnosis of the study", f.indication));
    }
    match f.first_fmt {
        None => reasons.push("no FMT yet".into()),
        Some(day) => {
            let age = age_on(f.birth_date, day);
            if age < policy.study_min_age_years as i32 {
                reasons.push(format!("aged {age} on the first FMT ({day}), under {}", policy.study_min_age_years));
            }
        }
    }
    // Prospective patients need signed informed consent; retrospective ones at least consent to data use.
    if f.cohort == Cohort::Prospective && f.consent != Consent::Signed {
        reasons.push("prospective cohort without signed informed consent".into());
    }
    if let Some((ground, why)) = f.exclusion {
        reasons.push(format!("excluded ({ground}): {why}"));
    }
    Eligibility { eligible: reasons.is_empty(), reasons }
}

/// Disease and quality-of-life scores as entered (`mayo=2`): a name of letters, digits, `-` or `_` (kept in
/// lower case) and a finite number, each name once.
pub fn scores(raw: &[(String, String)]) -> Result<BTreeMap<String, f64>, String> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        let n = name.trim().to_lowercase();
        if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("score name `{name}` must be letters, digits, - or _ (e.g. mayo=2)"));
        }
        let v = value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("score {n}: `{value}` is not a number (e.g. {n}=2)"))?;
        if out.insert(n.clone(), v).is_some() {
            return Err(format!("score {n} is given twice"));
        }
    }
    Ok(out)
}

/// A serious adverse event probably or definitely related to a named unit is a safety signal: the unit's donor
/// must be looked back on (the recall's dry run).
pub fn is_safety_signal(serious: bool, relatedness: Relatedness, unit_named: bool) -> bool {
    serious && unit_named && matches!(relatedness, Relatedness::Probable | Relatedness::Definite)
}

/// The rule code that safety-signal messages name.
pub const SAFETY_SIGNAL_RULE: &str = "safety.serious-related-event";

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn windows_include_both_edges_and_nothing_beyond() {
        let p = FollowupPolicy::default();
        let w = p.window(d("2025-01-31"), Timepoint::M3);
        assert_eq!((w.due, w.from, w.to), (d("2025-04-30"), d("2025-04-16"), d("2025-05-14")));
        for (day, inside) in [
            ("2025-04-15", false),
            ("2025-04-16", true),
            ("2025-04-17", true),
            ("2025-05-13", true),
            ("2025-05-14", true),
            ("2025-05-15", false),
        ] {
            assert_eq!(w.contains(d(day)), inside, "{day}");
        }
        let y1 = p.window(d("2024-02-29"), Timepoint::Y1);
        assert_eq!((y1.due, y1.from, y1.to), (d("2025-02-28"), d("2024-12-28"), d("2025-04-28")));
        let y5 = p.window(d("2020-03-01"), Timepoint::Y5);
        assert_eq!((y5.from, y5.to), (d("2024-09-01"), d("2025-09-01")));
    }

    #[test]
    fn spans_parse_and_overlapping_windows_are_refused() {
        assert_eq!("2w".parse(), Ok(Span::Days(14)));
        assert_eq!("6m".parse(), Ok(Span::Months(6)));
        assert!("6y".parse::<Span>().unwrap_err().contains("14d, 2w, 6m"));
        let p = FollowupPolicy { window_1y: Span::Months(9), ..FollowupPolicy::default() };
        assert!(p.validate().is_err());
        assert!(FollowupPolicy::default().validate().is_ok());
    }

    #[test]
    fn courses_split_on_the_gap_and_count_treatment_days() {
        let p = FollowupPolicy::default();
        let s = |id, day| Session { dispense: id, day: d(day) };
        let c = courses(&p, &[s(3, "2025-01-03"), s(1, "2025-01-01"), s(2, "2025-01-01"), s(4, "2025-05-01")]);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].first_dispense, c[0].sessions, c[0].dispenses.len()), (1, 2, 3));
        assert_eq!(c[1].start, d("2025-05-01"));
        assert_eq!(course_on(&c, d("2025-04-30")).map(|c| c.first_dispense), Some(1));
        assert_eq!(course_on(&c, d("2024-12-31")), None);
        // A dispense entered later but given earlier becomes the first; visits naming the old first still follow.
        let c = courses(&p, &[s(1, "2025-01-01"), s(5, "2024-12-20")]);
        assert_eq!((c.len(), c[0].first_dispense, c[0].includes(1)), (1, 5, true));
    }

    #[test]
    fn due_lists_open_unrecorded_windows_with_days_overdue() {
        let p = FollowupPolicy::default();
        let start = d("2025-01-01");
        assert!(due(&p, start, &[], d("2025-03-17")).is_empty());
        let on_open = due(&p, start, &[], d("2025-03-18"));
        assert_eq!(on_open.len(), 1);
        assert_eq!(on_open[0].overdue_days, 0);
        let late = due(&p, start, &[Timepoint::M3], d("2026-01-11"));
        assert_eq!(late.len(), 1);
        assert_eq!((late[0].window.timepoint, late[0].overdue_days), (Timepoint::Y1, 10));
    }

    #[test]
    fn eligibility_counts_age_on_the_day_of_the_first_fmt() {
        let p = FollowupPolicy::default();
        let facts = |first: &str| StudyFacts {
            birth_date: d("2020-06-15"),
            indication: "rCDI",
            cohort: Cohort::Prospective,
            consent: Consent::Signed,
            first_fmt: Some(d(first)),
            exclusion: None,
        };
        assert!(!study_eligibility(&p, &facts("2023-06-14")).eligible);
        assert!(study_eligibility(&p, &facts("2023-06-15")).eligible);
        assert!(study_eligibility(&p, &facts("2023-06-16")).eligible);
        let mut f = facts("2024-01-01");
        f.consent = Consent::DataUse;
        f.indication = "OTHER";
        f.exclusion = Some((ExclusionGround::IncompleteData, "no baseline Mayo score"));
        let e = study_eligibility(&p, &f);
        assert_eq!(e.reasons.len(), 3, "{:?}", e.reasons);
        assert!(e.reasons[2].contains("incomplete-data"));
        f.first_fmt = None;
        assert!(study_eligibility(&p, &f).reasons.iter().any(|r| r == "no FMT yet"));
        assert_eq!(age_on(d("2020-02-29"), d("2023-02-28")), 2);
        assert_eq!(age_on(d("2020-02-29"), d("2023-03-01")), 3);
    }

    #[test]
    fn scores_are_named_numbers_each_once() {
        let raw = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let s = scores(&raw(&[("Mayo", "2"), ("qol", " 78.5 ")])).unwrap();
        assert_eq!((s["mayo"], s["qol"]), (2.0, 78.5));
        assert!(scores(&raw(&[("mayo", "low")])).unwrap_err().contains("not a number"));
        assert!(scores(&raw(&[("mayo", "NaN")])).unwrap_err().contains("not a number"));
        assert!(scores(&raw(&[("ma yo", "1")])).unwrap_err().contains("letters, digits"));
        assert!(scores(&raw(&[("qol", "1"), ("QOL", "2")])).unwrap_err().contains("twice"));
    }

    #[test]
    fn only_serious_probable_or_definite_events_with_a_unit_are_signals() {
        assert!(is_safety_signal(true, Relatedness::Probable, true));
        assert!(is_safety_signal(true, Relatedness::Definite, true));
        assert!(!is_safety_signal(true, Relatedness::Possible, true));
        assert!(!is_safety_signal(false, Relatedness::Definite, true));
        assert!(!is_safety_signal(true, Relatedness::Definite, false));
    }
}
