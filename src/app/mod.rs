//! The operations a user can do. Each opens one transaction, loads what the rule needs, asks `core`, writes
//! through `store` and appends the audit entry. The CLI and the TUI call these and only these, so no rule can
//! be skipped by one face.

mod donors;
pub mod integrity;
mod labels;
mod processing;
mod recall;
mod recipients;
mod trace;
pub mod views;

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use crate::core::config::Config;
use crate::core::ids::{Facility, Id, IdError, IdKind};
use crate::core::rules::Refusal;
use crate::store::{self, audit, Store, StoreError};
use crate::time;

pub use donors::{NewDonor, ScreeningInput};
pub use labels::Printed;
pub use processing::NewDonation;
pub use recall::{RecallSelector, RecallSummary};
pub use recipients::NewRecipient;
pub use trace::{Root, Trace, TraceBatch, TraceDonor};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A safety rule refused: names the rule.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Input that is well-formed but not acceptable (unknown code, date in the future, ...).
    #[error("{0}")]
    Invalid(String),
    #[error("no {kind} {id} in this bank")]
    NotFound { kind: IdKind, id: String },
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        AppError::Store(e.into())
    }
}

pub type Result<T> = std::result::Result<T, AppError>;

fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(AppError::Invalid(msg.into()))
}

/// A stool bank: its database, its policy, and who is acting.
pub struct Bank {
    store: Store,
    config: Config,
    actor: String,
}

impl Bank {
    /// Opens an existing bank.
    pub fn open(path: &Path, config: Config, actor: &str) -> Result<Bank> {
        Ok(Bank { store: Store::open(path)?, config, actor: actor.to_string() })
    }

    /// Creates the database or upgrades its schema (idempotent); sets the facility code when given.
    pub fn init(path: &Path, facility: Option<&str>, config: Config, actor: &str) -> Result<Bank> {
        let facility = facility.map(Facility::parse).transpose()?;
        let mut bank = Bank { store: Store::open_or_create(path)?, config, actor: actor.to_string() };
        let actor = bank.actor.clone();
        bank.store.write(|tx| {
            let now = time::now();
            if store::settings::get(tx, "created_at")?.is_none() {
                set_setting(tx, &actor, "created_at", &time::to_db(now), now)?;
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
                    set_setting(tx, &actor, "facility", f.as_str(), now)?;
                }
                (Some(f), None) => set_setting(tx, &actor, "facility", f.as_str(), now)?,
                (None, None) => set_setting(tx, &actor, "facility", DEFAULT_FACILITY, now)?,
                _ => {}
            }
            Ok(())
        })?;
        Ok(bank)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// See [`Store::set_durable`]: only the demo loader turns durability down, and back up.
    pub fn set_durable(&self, durable: bool) -> Result<()> {
        Ok(self.store.set_durable(durable)?)
    }

    pub fn may_see_identity(&self) -> bool {
        self.config.may_see_identity(&self.actor)
    }

    pub fn facility(&mut self) -> Result<Facility> {
        let code = self.store.read(|tx| Ok::<_, AppError>(store::settings::get(tx, "facility")?))?;
        Ok(Facility::parse(code.as_deref().unwrap_or(DEFAULT_FACILITY))?)
    }

    /// Parses an identifier (validating its check character) and confirms the record exists.
    pub fn lookup(&mut self, input: &str) -> Result<Id> {
        let id = Id::parse(input)?;
        let exists = self.store.read(|tx| Ok::<_, AppError>(store::settings::exists(tx, &id)?))?;
        if exists {
            Ok(id)
        } else {
            Err(AppError::NotFound { kind: id.kind(), id: id.display() })
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
        self.store.read(|tx| Ok(audit::log(tx, id.map(Id::data), limit)?))
    }

    pub fn counts(&mut self) -> Result<store::settings::Counts> {
        self.store.read(|tx| Ok(store::settings::counts(tx)?))
    }

    /// A unit that was dispensed and a record of the latest recall, for a newcomer's first trace.
    pub fn examples(&mut self) -> Result<(Option<Id>, Option<Id>)> {
        self.store.read(|tx| {
            let unit = store::settings::some_dispensed_unit(tx)?.and_then(|s| Id::from_data(&s));
            let recalled = store::settings::latest_recall_subject(tx)?.and_then(|s| Id::from_data(&s));
            Ok((unit, recalled))
        })
    }
}

/// The facility code used until `init --facility` sets the bank's own.
pub const DEFAULT_FACILITY: &str = "X0001";

fn set_setting(tx: &Connection, actor: &str, key: &str, value: &str, at: DateTime<Utc>) -> Result<()> {
    let before = audit::row_state(tx, "settings", key)?;
    store::settings::set(tx, key, value)?;
    record(tx, actor, "set-setting", "settings", key, key, at, before)
}

/// Appends the audit entry of a change written in this transaction.
#[allow(clippy::too_many_arguments)]
fn record(
    tx: &Connection,
    actor: &str,
    action: &str,
    table: &str,
    id: &str,
    subject: &str,
    at: DateTime<Utc>,
    before: Option<serde_json::Value>,
) -> Result<()> {
    audit::record(tx, audit::Change { actor, action, table, id, subject, at, before })?;
    Ok(())
}
