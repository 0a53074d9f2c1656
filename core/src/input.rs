//! What a person enters, judged before anything is written: times within a plausible range, reasons given,
//! deferral ends that make sense, plausible donations, text of a bounded length. Errors say what is wrong in the domain's words; each face (CLI,
//! TUI) adds its own hint for how to say it right.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::config::Config;

/// Clock skew tolerated between benches before a time counts as "in the future".
pub const FUTURE_SLACK_MINUTES: i64 = 5;

/// No record of a living donor, recipient or their material is older than this year.
pub const EARLIEST_YEAR: i32 = 1900;

/// "Now" as the rules see it: the clock's moment and the bank's calendar day then (the core knows no time zone,
/// so the caller gives both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub at: DateTime<Utc>,
    pub today: NaiveDate,
}

/// A moment or a calendar day that must not lie in the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    At(DateTime<Utc>),
    On(NaiveDate),
}

impl From<DateTime<Utc>> for When {
    fn from(t: DateTime<Utc>) -> When {
        When::At(t)
    }
}

impl From<NaiveDate> for When {
    fn from(d: NaiveDate) -> When {
        When::On(d)
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::At(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M UTC")),
            When::On(d) => write!(f, "{d}"),
        }
    }
}

/// Input that is well-formed but not acceptable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Invalid {
    #[error("the {what} {when} is in the future")]
    InFuture { what: &'static str, when: When },
    #[error("the {what} {when} is before {EARLIEST_YEAR}: not a plausible date")]
    TooEarly { what: &'static str, when: When },
    #[error("the {what} {when} is before the donor's birth on {birth}")]
    BeforeBirth { what: &'static str, when: NaiveDate, birth: NaiveDate },
    /// A number outside the range a bank's policy (or plain plausibility) allows.
    #[error("the {field} {value} is out of range: {range}")]
    OutOfRange { field: &'static str, value: String, range: String },
    #[error("the {0} is empty: leave it out, or give it")]
    Empty(&'static str),
    #[error("the {field} is {len} characters long; at most {max} are kept")]
    TooLong { field: &'static str, len: usize, max: usize },
    /// A screening naming one test twice: which result stands would be a guess.
    #[error("the test `{0}` is named twice; give each test one result")]
    TestRepeated(String),
    /// A safety act or a correction recorded without saying why.
    #[error("a {0} needs a reason")]
    NoReason(&'static str),
    /// A screening entered with no result at all.
    #[error("no results given: neither the whole panel negative nor any named test")]
    NoResults,
    #[error("a deferral is either permanent or until a date, not both")]
    DeferralBothEnds,
    #[error("a deferral needs an end: a date, or permanent")]
    DeferralNoEnd,
    #[error("the deferral's end {until} is not after its start {starts_on}")]
    DeferralEndsBeforeStart { until: NaiveDate, starts_on: NaiveDate },
    #[error("the donation is received before it was collected")]
    ReceivedBeforeCollected,

    #[error("the Bristol stool score is 1 to 7")]
    Bristol,
    /// An event entered before the event it follows (processing before collection, QC before preparation).
    #[error("the {what} {when} is before the {earlier} {earlier_at}")]
    BeforeEarlierEvent { what: &'static str, when: When, earlier: &'static str, earlier_at: When },
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A correction of a screening that is not the one it claims to correct.
    #[error(
        "screening {screening} is {is}, not {expected}: a correction replaces a screening of the same donor and panel"
    )]
    CorrectsAnother { screening: i64, is: String, expected: String },
    #[error("screening {screening} was already corrected by screening {by}: correct that one")]
    AlreadyCorrected { screening: i64, by: i64 },
}

/// Refuses a moment later than now (with [`FUTURE_SLACK_MINUTES`] of clock skew), a day after today, and
/// anything before [`EARLIEST_YEAR`]: every time a person enters passes here on its way in.
pub fn plausible_time(what: &'static str, when: impl Into<When>, now: Now) -> Result<(), Invalid> {
    let when = when.into();
    since_earliest_year(what, when)?;
    let future = match when {
        When::At(t) => t > now.at + Duration::minutes(FUTURE_SLACK_MINUTES),
        When::On(d) => d > now.today,
    };
    if future {
        return Err(Invalid::InFuture { what, when });
    }
    Ok(())
}

/// Refuses a time before [`EARLIEST_YEAR`] (a negative year, a mistyped century), even for a view's "as of".
pub fn since_earliest_year(what: &'static str, when: impl Into<When>) -> Result<(), Invalid> {
    let when = when.into();
    let year = match when {
        When::At(t) => t.year(),
        When::On(d) => d.year(),
    };
    if year < EARLIEST_YEAR {
        return Err(Invalid::TooEarly { what, when });
    }
    Ok(())
}

/// Refuses a day of a donor's life (a screening) before the donor was born.
pub fn not_before_birth(what: &'static str, when: NaiveDate, birth: NaiveDate) -> Result<(), Invalid> {
    if when < birth {
        return Err(Invalid::BeforeBirth { what, when, birth });
    }
    Ok(())
}

/// Refuses a number outside `min..=max`, naming the field and the range in its unit.
pub fn in_range<T: PartialOrd + fmt::Display>(
    field: &'static str,
    value: T,
    min: T,
    max: T,
    unit: &str,
) -> Result<(), Invalid> {
    if value >= min && value <= max {
        return Ok(());
    }
    Err(Invalid::OutOfRange { field, value: value.to_string(), range: format!("{min} to {max}{unit}") })
}

/// The longest free text kept: names, reasons, locations, ...
pub const MAX_TEXT: usize = 200;

/// Free text a person typed, trimmed: refused when blank or longer than [`MAX_TEXT`] characters.
/// Refuses an event dated before the event it follows.
pub fn not_before(
    what: &'static str,
    when: DateTime<Utc>,
    earlier: &'static str,
    earlier_at: DateTime<Utc>,
) -> Result<(), Invalid> {
    if when < earlier_at {
        return Err(Invalid::BeforeEarlierEvent { what, when: when.into(), earlier, earlier_at: earlier_at.into() });
    }
    Ok(())
}

/// A correction replaces a screening of the same donor and panel that nothing has corrected yet.
pub fn correction(screening: i64, of: (&str, &str, Option<i64>), expected: (&str, &str)) -> Result<(), Invalid> {
    let (donor, kind, corrected_by) = of;
    if donor != expected.0 {
        return Err(Invalid::CorrectsAnother {
            screening,
            is: format!("of donor {donor}"),
            expected: format!("of donor {}", expected.0),
        });
    }
    if kind != expected.1 {
        return Err(Invalid::CorrectsAnother {
            screening,
            is: format!("a {kind} screening"),
            expected: format!("a {} screening", expected.1),
        });
    }
    match corrected_by {
        Some(by) => Err(Invalid::AlreadyCorrected { screening, by }),
        None => Ok(()),
    }
}

pub fn text<'a>(field: &'static str, given: &'a str) -> Result<&'a str, Invalid> {
    let t = given.trim();
    let len = t.chars().count();
    if len == 0 {
        return Err(Invalid::Empty(field));
    }
    if len > MAX_TEXT {
        return Err(Invalid::TooLong { field, len, max: MAX_TEXT });
    }
    Ok(t)
}

/// A person's age in whole years on `on`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    on.years_since(birth).unwrap_or(0)
}

/// A donor registered on `on` is of an age the policy accepts at registration.
pub fn donor_birth(birth: NaiveDate, now: Now, config: &Config) -> Result<(), Invalid> {
    plausible_time("birth date", birth, now)?;
    let (min, max) = (config.donor_registration_age_min, config.donor_registration_age_max);
    in_range("donor's age at registration", age_on(birth, now.today), min, max, " years")
}

/// The reason a person gave, trimmed; refused when blank or implausibly long. `what` names the act
/// ("deferral", "discard", ...).
pub fn reason<'a>(what: &'static str, given: &'a str) -> Result<&'a str, Invalid> {
    match text("reason", given) {
        Err(Invalid::Empty(_)) => Err(Invalid::NoReason(what)),
        other => other,
    }
}

/// A deferral starting on `starts_on` ends on a later date (exclusive) or never: exactly one of the two.
pub fn deferral_end(starts_on: NaiveDate, until: Option<NaiveDate>, permanent: bool) -> Result<(), Invalid> {
    match (until, permanent) {
        (Some(_), true) => Err(Invalid::DeferralBothEnds),
        (None, false) => Err(Invalid::DeferralNoEnd),
        (Some(until), false) if until <= starts_on => Err(Invalid::DeferralEndsBeforeStart { until, starts_on }),
        _ => Ok(()),
    }
}

/// What a donation is recorded with, before it is recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DonationInput {
    pub collected_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub mass_g: Option<f64>,
    pub bristol: Option<u8>,
}

/// The Bristol stool scale's values.
pub const BRISTOL: std::ops::RangeInclusive<u8> = 1..=7;

/// A donation collected and received by now, in that order, with a mass within the policy's range and a
/// Bristol score of 1–7.
pub fn donation(d: &DonationInput, now: Now, config: &Config) -> Result<(), Invalid> {
    plausible_time("collection time", d.collected_at, now)?;
    if let Some(r) = d.received_at {
        plausible_time("reception time", r, now)?;
        if r < d.collected_at {
            return Err(Invalid::ReceivedBeforeCollected);
        }
    }
    if let Some(m) = d.mass_g {
        in_range("donation mass", m, 1.0, config.donation_mass_g_max, " g")?;
    }
    if d.bristol.is_some_and(|b| !BRISTOL.contains(&b)) {
        return Err(Invalid::Bristol);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        let at = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().to_utc();
        Now { at, today: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() }
    }

    #[test]
    fn the_future_is_refused_with_slack_for_clock_skew() {
        let n = now();
        assert_eq!(plausible_time("QC time", n.at + Duration::minutes(FUTURE_SLACK_MINUTES), n), Ok(()));
        let late = n.at + Duration::minutes(FUTURE_SLACK_MINUTES + 1);
        let err = plausible_time("QC time", late, n).unwrap_err();
        assert_eq!(err.to_string(), "the QC time 2026-03-01 12:06 UTC is in the future");
        assert_eq!(plausible_time("birth date", n.today, n), Ok(()));
        assert!(plausible_time("birth date", n.today.succ_opt().unwrap(), n).is_err());
    }

    #[test]
    fn times_before_1900_and_negative_years_are_refused() {
        let n = now();
        let old = NaiveDate::from_ymd_opt(-1, 6, 1).unwrap();
        let err = plausible_time("registration time", old, n).unwrap_err();
        assert!(matches!(err, Invalid::TooEarly { .. }), "{err}");
        assert!(err.to_string().contains("before 1900"), "{err}");
        assert!(plausible_time("birth date", NaiveDate::from_ymd_opt(1899, 12, 31).unwrap(), n).is_err());
        assert_eq!(plausible_time("birth date", NaiveDate::from_ymd_opt(1900, 1, 1).unwrap(), n), Ok(()));
    }

    #[test]
    fn text_is_bounded_and_not_blank() {
        assert_eq!(text("name", "  Ada  "), Ok("Ada"));
        assert_eq!(text("name", ""), Err(Invalid::Empty("name")));
        assert_eq!(text("name", &"x".repeat(5000)), Err(Invalid::TooLong { field: "name", len: 5000, max: MAX_TEXT }));
    }

    #[test]
    fn a_donor_is_of_a_plausible_age_at_registration() {
        let (n, c) = (now(), Config::default());
        assert_eq!(donor_birth(NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(), n, &c), Ok(()));
        let err = donor_birth(NaiveDate::from_ymd_opt(1900, 1, 1).unwrap(), n, &c).unwrap_err();
        assert_eq!(err.to_string(), "the donor's age at registration 126 is out of range: 16 to 70 years");
    }

    #[test]
    fn a_deferral_has_exactly_one_end_after_its_start() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(deferral_end(d, None, true), Ok(()));
        assert_eq!(deferral_end(d, d.succ_opt(), false), Ok(()));
        assert_eq!(deferral_end(d, None, false), Err(Invalid::DeferralNoEnd));
        assert_eq!(deferral_end(d, d.succ_opt(), true), Err(Invalid::DeferralBothEnds));
        assert!(matches!(deferral_end(d, Some(d), false), Err(Invalid::DeferralEndsBeforeStart { .. })));
    }

    #[test]
    fn a_donation_is_plausible() {
        let n = now();
        let ok = DonationInput { collected_at: n.at, received_at: Some(n.at), mass_g: Some(120.0), bristol: Some(4) };
        let c = Config::default();
        assert_eq!(donation(&ok, n, &c), Ok(()));
        let early = Some(n.at - Duration::hours(1));
        assert_eq!(donation(&DonationInput { received_at: early, ..ok }, n, &c), Err(Invalid::ReceivedBeforeCollected));
        assert!(matches!(
            donation(&DonationInput { mass_g: Some(f64::NAN), ..ok }, n, &c),
            Err(Invalid::OutOfRange { .. })
        ));
        let err = donation(&DonationInput { mass_g: Some(99_999.0), ..ok }, n, &c).unwrap_err();
        assert_eq!(err.to_string(), "the donation mass 99999 is out of range: 1 to 1000 g");
        assert_eq!(donation(&DonationInput { bristol: Some(8), ..ok }, n, &c), Err(Invalid::Bristol));
        assert_eq!(reason("discard", "  "), Err(Invalid::NoReason("discard")));
    }
}
