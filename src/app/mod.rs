//! The operations a user can do. Each opens one transaction, loads what the rule needs, asks `core`, writes
//! through `store` and appends the audit entry. The CLI and the TUI call these and only these, so no rule can
//! be skipped by one face.

mod donors;
mod followup;
mod identity;
pub mod integrity;
mod labels;
mod lists;
mod processing;
mod recall;
mod recipients;
mod reports;
mod trace;
mod users;
pub mod views;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::core::access::{Denied, Operation};
use crate::core::config::{BenchPrefs, Config};
use crate::core::ids::{Facility, Id, IdError, IdKind};
use crate::core::input::{Invalid, Now};
use crate::core::rules::Refusal;
use crate::store::{self, audit, Store, StoreError, Tx};
use crate::time;

pub use crate::store::exports::Table as ExportTable;
pub use donors::{NewDonor, ScreeningInput};
pub use followup::{
    ClinicalView, DueVisit, NewAdverseEvent, RecordedEvent, RecordedVisit, SafetySignal, StudyUpdate, VisitInput,
    VisitView,
};
pub use identity::{Enrolled, IdentityAccess, IdentityError, IdentityStatus, Revoked, Unlocked};
pub use labels::Printed;
pub use lists::Page;
pub use processing::{Intake, NewDonation};
pub use recall::{EarlierMaterial, RecallSelector, RecallSummary};
pub use recipients::NewRecipient;
pub use reports::{
    DonorReport, DonorRow, GroupBy, OutcomeReport, OutcomeRow, Period, PredictorReport, Rate, SafetyReport,
    PREDICTOR_TERMS,
};
pub use trace::{Root, Trace, TraceBatch, TraceDonor};
pub use users::{Reopen, Session, SignInError};

/// The stored records and errors the faces show, as the store returns them: the CLI and the TUI name them here,
/// never `store`, which is the app's alone.
pub mod records {
    pub use crate::store::audit::{Entry, Verification};
    pub use crate::store::batches::Batch;
    pub use crate::store::donors::Identity;
    pub use crate::store::recipients::Recipient;
    pub use crate::store::secret::BankSecret;
    pub use crate::store::settings::Counts;
    pub use crate::store::users::{Signature, User};
    pub use crate::store::StoreError;
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A safety rule refused: names the rule.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The access table refused: the user's roles do not include the operation (rule `access.role`).
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Nobody is signed in, or a sign-in or signature was refused.
    #[error(transparent)]
    SignIn(#[from] SignInError),
    /// Input that is well-formed but not acceptable, judged by the core (a time in the future, no reason, ...).
    #[error(transparent)]
    Input(#[from] Invalid),
    /// Other unacceptable input (an unknown code, an identifier of the wrong kind, ...).
    #[error("{0}")]
    Invalid(String),
    #[error("no {kind} {id} in this bank")]
    NotFound { kind: Record, id: String },
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A label that cannot be made: template file, template too small, data that cannot be encoded.
    #[error(transparent)]
    Label(#[from] crate::labels::LabelError),
    /// A printer that could not be reached or did not take every byte (nothing was recorded as printed).
    #[error(transparent)]
    Printer(#[from] crate::printers::PrintError),
    /// Identity locked, a wrong password, a viewer not enrolled, a missing bank key file.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

/// What kind of record was looked for: one with an identifier, or a screening (numbered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Id(IdKind),
    Screening,
    User,
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Record::Id(kind) => kind.fmt(f),
            Record::Screening => f.write_str("screening"),
            Record::User => f.write_str("user"),
        }
    }
}

fn not_found(kind: IdKind, id: &Id) -> AppError {
    AppError::NotFound { kind: Record::Id(kind), id: id.display() }
}

pub type Result<T> = std::result::Result<T, AppError>;

fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(AppError::Invalid(msg.into()))
}

/// Where "now" comes from: the wall clock ([`time::now`]) at the bench, a fixed moment in tests.
pub type Clock = Box<dyn Fn() -> DateTime<Utc> + Send>;

/// A stool bank: its database, its policy, who is acting, and the clock that says when "now" is.
pub struct Bank {
    store: Store,
    /// The bank's stored policy, and the one in force here (with this bench's settings over it).
    policy: Config,
    config: Config,
    bench: BenchPrefs,
    session: Session,
    /// The signed-in user signed the next signed act (see [`Bank::sign`]).
    signature_armed: bool,
    /// A second user countersigned the next recall applied (see [`Bank::countersign`]).
    countersigned: Option<store::users::User>,
    clock: Clock,
    identity: identity::Session,
}

/// Who is acting and when the act is recorded: taken once per operation, so its writes and audit entries agree.
struct Act {
    actor: String,
    now: DateTime<Utc>,
}

impl Bank {
    /// Opens an existing bank under its stored policy with this bench's settings. A bank without users opens in
    /// set-up mode, acting as `actor`; one with users opens signed out ([`Bank::sign_in`]).
    pub fn open(path: &Path, bench: BenchPrefs, actor: &str) -> Result<Bank> {
        Bank::new(Store::open(path)?, bench, actor)
    }

    fn new(store: Store, bench: BenchPrefs, actor: &str) -> Result<Bank> {
        let mut bank = Bank {
            store,
            policy: Config::default(),
            config: Config::default(),
            bench,
            session: Session::SignedOut,
            signature_armed: false,
            countersigned: None,
            clock: Box::new(time::now),
            identity: identity::Session::default(),
        };
        bank.load_policy()?;
        bank.session = bank.initial_session(actor)?;
        Ok(bank)
    }

    /// The same bank with another clock (a TUI's frozen clock, a test's fixed "now").
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + 'static) -> Bank {
        self.clock = Box::new(clock);
        self
    }

    /// Now, by the bank's clock, truncated to the second as stored.
    pub fn now(&self) -> DateTime<Utc> {
        let t = (self.clock)();
        time::from_db(&time::to_db(t)).unwrap_or(t)
    }

    /// Now, as the core's rules take it: the moment and the bank's calendar day.
    pub(crate) fn rules_now(&self) -> Now {
        let at = self.now();
        Now { at, today: time::local_day(at) }
    }

    fn act(&self) -> Act {
        Act { actor: self.actor().to_string(), now: self.now() }
    }

    /// Creates the database or upgrades its schema (idempotent), and opens it as [`Bank::open`] does.
    pub fn create(path: &Path, bench: BenchPrefs, actor: &str) -> Result<Bank> {
        Bank::new(Store::open_or_create(path)?, bench, actor)
    }

    /// [`Bank::create`], then [`Bank::initialize`]: a new bank in set-up mode, ready.
    pub fn init(path: &Path, facility: Option<&str>, bench: BenchPrefs, actor: &str) -> Result<Bank> {
        Bank::init_with_clock(path, facility, bench, actor, time::now)
    }

    /// [`Bank::init`] by another clock, from its very first record (a generated bank, the same at every run).
    pub fn init_with_clock(
        path: &Path,
        facility: Option<&str>,
        bench: BenchPrefs,
        actor: &str,
        clock: impl Fn() -> DateTime<Utc> + Send + 'static,
    ) -> Result<Bank> {
        let mut bank = Bank::create(path, bench, actor)?.with_clock(clock);
        bank.initialize(facility)?;
        Ok(bank)
    }

    /// Records when the bank was created and its facility code (the default one until set); sets the facility
    /// code when given, while no donation carries the old one.
    pub fn initialize(&mut self, facility: Option<&str>) -> Result<()> {
        self.authorize(Operation::Init)?;
        let facility = facility.map(Facility::parse).transpose()?;
        let act = self.act();
        let now = act.now;
        self.store.write(|tx| {
            if store::settings::get(tx, "created_at")?.is_none() {
                set_setting(tx, &act, "created_at", &time::to_db(now), now)?;
            }
            let current = store::settings::get(tx, "facility")?;
            match (facility, current) {
                (Some(f), Some(cur)) if f.as_str() != cur => {
                    if store::settings::donation_count(tx)? > 0 {
                        return invalid(format!(
                            "the facility code is {cur} and donations carry it; it cannot change to {}",
                            f.as_str()
                        ));
                    }
                    set_setting(tx, &act, "facility", f.as_str(), now)?;
                }
                (Some(f), None) => set_setting(tx, &act, "facility", f.as_str(), now)?,
                (None, None) => set_setting(tx, &act, "facility", DEFAULT_FACILITY, now)?,
                _ => {}
            }
            Ok(())
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The bank as shown in messages.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// What opens this bank again: its file, or its server's address as given.
    pub fn location(&self) -> PathBuf {
        self.store.location()
    }

    /// See [`Store::set_durable`]: only the demo loader turns durability down, and back up.
    pub fn set_durable(&self, durable: bool) -> Result<()> {
        Ok(self.store.set_durable(durable)?)
    }

    /// Runs many operations in one transaction (a bulk load: the scaled demo bank). Each operation still runs
    /// through its rules and appends its audit entry, in its own savepoint: a refused one undoes only itself.
    /// Committed when `f` returns Ok, rolled back whole otherwise.
    pub fn bulk<T>(&mut self, f: impl FnOnce(&mut Bank) -> Result<T>) -> Result<T> {
        self.store.begin_bulk()?;
        let out = f(self);
        self.store.end_bulk(out.is_ok())?;
        out
    }

    pub fn facility(&mut self) -> Result<Facility> {
        self.authorize(Operation::Read).or_else(|_| self.authorize(Operation::Init))?;
        let code = self.store.read(|tx| Ok::<_, AppError>(store::settings::get(tx, "facility")?))?;
        Ok(Facility::parse(code.as_deref().unwrap_or(DEFAULT_FACILITY))?)
    }

    /// Parses an identifier (validating its check character) and confirms the record exists.
    pub fn lookup(&mut self, input: &str) -> Result<Id> {
        self.authorize(Operation::Read).or_else(|_| self.authorize(Operation::AuditRead))?;
        let id = Id::parse(input)?;
        let exists = self.store.read(|tx| Ok::<_, AppError>(store::settings::exists(tx, &id)?))?;
        if exists {
            Ok(id)
        } else {
            Err(not_found(id.kind(), &id))
        }
    }

    /// Like [`Bank::lookup`], and refuses an identifier of another kind.
    pub fn lookup_kind(&mut self, input: &str, kind: IdKind) -> Result<Id> {
        let id = Id::parse(input)?;
        if id.kind() != kind {
            return invalid(format!("{} is a {}, not a {kind}", id.display(), id.kind()));
        }
        self.lookup(input)
    }

    pub fn audit_log(&mut self, id: Option<&Id>, limit: usize) -> Result<Vec<audit::Entry>> {
        self.authorize(Operation::AuditRead)?;
        self.store.read(|tx| Ok(audit::log(tx, id.map(Id::data), limit)?))
    }

    /// Where the bank's history stands: the audit chain's newest entry, which moves with every change made by
    /// any bench (a face polls it to see other benches' work). Not a record read, but only for a session that may
    /// read something: nobody signed out polls the bank.
    pub fn last_change(&mut self) -> Result<i64> {
        self.authorize(Operation::Read).or_else(|_| self.authorize(Operation::AuditRead))?;
        self.store.read_one(|tx| Ok(store::checkpoint::head(tx)?.0))
    }

    /// The audit entries this bank's own writes appended since the last call, by number: a face tells its own
    /// changes from other benches' by them.
    pub fn take_appended(&mut self) -> Vec<i64> {
        self.store.take_appended()
    }

    /// Record counts; stock as of `at`: expired units are not stock.
    pub fn counts(&mut self, at: DateTime<Utc>) -> Result<store::settings::Counts> {
        self.authorize(Operation::Read)?;
        self.store.read(|tx| Ok(store::settings::counts(tx, time::local_day(at))?))
    }

    /// A unit that was dispensed and a record of the latest recall, for a newcomer's first trace.
    pub fn examples(&mut self) -> Result<(Option<Id>, Option<Id>)> {
        self.authorize(Operation::Read)?;
        self.store.read(|tx| {
            let unit = store::settings::some_dispensed_unit(tx)?.and_then(|s| Id::from_data(&s));
            let recalled = store::settings::latest_recall_subject(tx)?.and_then(|s| Id::from_data(&s));
            Ok((unit, recalled))
        })
    }
}

/// The facility code used until `init --facility` sets the bank's own.
pub const DEFAULT_FACILITY: &str = "X0001";

fn set_setting(tx: &Tx, act: &Act, key: &str, value: &str, at: DateTime<Utc>) -> Result<()> {
    let before = audit::row_state(tx, "settings", key)?;
    store::settings::set(tx, key, value)?;
    record(tx, act, "set-setting", "settings", key, key, at, before)
}

/// Appends the audit entry of a change written in this transaction.
#[allow(clippy::too_many_arguments)]
fn record(
    tx: &Tx,
    act: &Act,
    action: &str,
    table: &str,
    id: &str,
    subject: &str,
    at: DateTime<Utc>,
    before: Option<serde_json::Value>,
) -> Result<()> {
    let change = audit::Change { actor: &act.actor, action, table, id, subject, at, recorded_at: act.now, before };
    audit::record(tx, change)?;
    Ok(())
}

/// Appends one audit entry for the rows of `table` written together in this transaction, all under `group` (a
/// batch's units, a screening's results).
fn record_group(
    tx: &Tx,
    act: &Act,
    action: &str,
    table: &str,
    group: &str,
    subject: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let change =
        audit::Change { actor: &act.actor, action, table, id: group, subject, at, recorded_at: act.now, before: None };
    audit::record_group(tx, change)?;
    Ok(())
}
