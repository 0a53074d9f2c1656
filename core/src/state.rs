//! The unit and batch lifecycle. Status is never stored: it is derived from dated events, so that it can be
//! judged as of any moment (quarantined → released → dispensed; quarantined/released → discarded or recalled;
//! released units expire).

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
/// then names its recipient.
pub fn unit_status(u: &UnitFacts, at: DateTime<Utc>, on: NaiveDate) -> UnitStatus {
    if u.kind == UnitKind::Retained {
        UnitStatus::Retained
    } else if by(u.dispensed_at, at) {
        UnitStatus::Dispensed
    } else if by(u.recalled_at, at) {
        UnitStatus::Recalled
    } else if by(u.discarded_at, at) {
        UnitStatus::Discarded
    } else if by(u.released_at, at) {
        if on > u.expires_on {
            UnitStatus::Expired
        } else {
            UnitStatus::Released
        }
    } else {
        UnitStatus::Quarantined
    }
}

/// Whether a unit is material on the shelf (what a recall quarantines at once).
pub fn in_stock(status: UnitStatus) -> bool {
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
    } else if by(released_at, at) {
        if on > expires_on {
            BatchStatus::Expired
        } else {
            BatchStatus::Released
        }
    } else {
        BatchStatus::Quarantined
    }
}
