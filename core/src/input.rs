//! What a person enters, judged before anything is written: times not in the future, reasons given, deferral
//! ends that make sense, plausible donations. Errors say what is wrong in the domain's words; each face (CLI,
//! TUI) adds its own hint for how to say it right.

use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Clock skew tolerated between benches before a time counts as "in the future".
pub const FUTURE_SLACK_MINUTES: i64 = 5;

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
    #[error("the mass must be a positive number of grams")]
    Mass,
    #[error("the Bristol stool score is 1 to 7")]
    Bristol,
}

/// Refuses a moment later than now (with [`FUTURE_SLACK_MINUTES`] of clock skew) or a day after today.
pub fn not_in_future(what: &'static str, when: impl Into<When>, now: Now) -> Result<(), Invalid> {
    let when = when.into();
    let future = match when {
        When::At(t) => t > now.at + Duration::minutes(FUTURE_SLACK_MINUTES),
        When::On(d) => d > now.today,
    };
    if future {
        return Err(Invalid::InFuture { what, when });
    }
    Ok(())
}

/// The reason a person gave, trimmed; refused when blank. `what` names the act ("deferral", "discard", ...).
pub fn reason<'a>(what: &'static str, given: &'a str) -> Result<&'a str, Invalid> {
    match given.trim() {
        "" => Err(Invalid::NoReason(what)),
        r => Ok(r),
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

/// A donation collected and received by now, in that order, with a positive mass and a Bristol score of 1–7.
pub fn donation(d: &DonationInput, now: Now) -> Result<(), Invalid> {
    not_in_future("collection time", d.collected_at, now)?;
    if let Some(r) = d.received_at {
        not_in_future("reception time", r, now)?;
        if r < d.collected_at {
            return Err(Invalid::ReceivedBeforeCollected);
        }
    }
    if d.mass_g.is_some_and(|m| !(m > 0.0 && m.is_finite())) {
        return Err(Invalid::Mass);
    }
    if d.bristol.is_some_and(|b| !(1..=7).contains(&b)) {
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
        assert_eq!(not_in_future("QC time", n.at + Duration::minutes(FUTURE_SLACK_MINUTES), n), Ok(()));
        let late = n.at + Duration::minutes(FUTURE_SLACK_MINUTES + 1);
        let err = not_in_future("QC time", late, n).unwrap_err();
        assert_eq!(err.to_string(), "the QC time 2026-03-01 12:06 UTC is in the future");
        assert_eq!(not_in_future("birth date", n.today, n), Ok(()));
        assert!(not_in_future("birth date", n.today.succ_opt().unwrap(), n).is_err());
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
        assert_eq!(donation(&ok, n), Ok(()));
        let early = Some(n.at - Duration::hours(1));
        assert_eq!(donation(&DonationInput { received_at: early, ..ok }, n), Err(Invalid::ReceivedBeforeCollected));
        assert_eq!(donation(&DonationInput { mass_g: Some(f64::NAN), ..ok }, n), Err(Invalid::Mass));
        assert_eq!(donation(&DonationInput { bristol: Some(8), ..ok }, n), Err(Invalid::Bristol));
        assert_eq!(reason("discard", "  "), Err(Invalid::NoReason("discard")));
    }
}
