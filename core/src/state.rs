//! The unit and batch lifecycle. Status is never stored: it is derived from dated events, so that it can be
//! judged as of any moment (quarantined → released → dispensed; quarantined/released → discarded or recalled;
//! units on the shelf expire, released or not).

use chrono::{DateTime, NaiveDate, Utc};

use super::model::{BatchStatus, UnitKind, UnitStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFacts {
    pub kind: UnitKind,
    /// When the unit's batch was released.
    pub released_at: Option<DateTime<Utc>>,
    pub discarded_at: Option<DateTime<Utc>>,
    pub recalled_at: Option<DateTime<Utc>>,
    pub dispensed_at: Option<DateTime<Utc>>,
    /// The last day the unit may be used.
    pub expires_on: NaiveDate,
}

fn by(t: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    t.is_some_and(|t| t <= at)
}

/// A unit's status at `at` (local day `on`). A dispensed unit stays dispensed whatever happened later: a recall
/// then names its recipient. Past its last day a unit on the shelf is expired, quarantined or released: it says
/// so everywhere, and is no longer stock.
pub fn unit_status(u: &UnitFacts, at: DateTime<Utc>, on: NaiveDate) -> UnitStatus {
    if u.kind == UnitKind::Retained {
        UnitStatus::Retained
    } else if by(u.dispensed_at, at) {
        UnitStatus::Dispensed
    } else if by(u.recalled_at, at) {
        UnitStatus::Recalled
    } else if by(u.discarded_at, at) {
        UnitStatus::Discarded
    } else if on > u.expires_on {
        UnitStatus::Expired
    } else if by(u.released_at, at) {
        UnitStatus::Released
    } else {
        UnitStatus::Quarantined
    }
}

/// Whether a unit is material on the shelf (what a recall quarantines at once, a discard discards), expired
/// or not.
pub fn on_shelf(status: UnitStatus) -> bool {
    matches!(status, UnitStatus::Quarantined | UnitStatus::Released | UnitStatus::Expired)
}

pub fn batch_status(
    released_at: Option<DateTime<Utc>>,
    discarded_at: Option<DateTime<Utc>>,
    recalled_at: Option<DateTime<Utc>>,
    expires_on: NaiveDate,
    at: DateTime<Utc>,
    on: NaiveDate,
) -> BatchStatus {
    if by(discarded_at, at) {
        BatchStatus::Discarded
    } else if by(recalled_at, at) {
        BatchStatus::Recalled
    } else if on > expires_on {
        BatchStatus::Expired
    } else if by(released_at, at) {
        BatchStatus::Released
    } else {
        BatchStatus::Quarantined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_unit_says_so_whether_released_or_not_and_is_not_stock() {
        let last = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let at = DateTime::parse_from_rfc3339("2026-03-02T12:00:00Z").unwrap().to_utc();
        let on = last.succ_opt().unwrap();
        let mut u = UnitFacts {
            kind: UnitKind::Dose,
            released_at: None,
            discarded_at: None,
            recalled_at: None,
            dispensed_at: None,
            expires_on: last,
        };
        assert_eq!(unit_status(&u, at, on), UnitStatus::Expired);
        assert_eq!(unit_status(&u, at, last), UnitStatus::Quarantined);
        u.released_at = Some(at);
        assert_eq!(unit_status(&u, at, on), UnitStatus::Expired);
        assert_eq!(batch_status(None, None, None, last, at, on), BatchStatus::Expired);
    }
}
