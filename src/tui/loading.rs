//! Reads of the whole bank off the event loop. A report or the follow-up work list reads every dispense and visit
//! (seconds on a national bank), and the home screen's counts walk indexes of a million entries, so the tab that
//! shows one asks for it here: it runs on its own thread, on a read-only connection of its own as the signed-in
//! user, and posts the answer back as a message. The tab switch itself stays within a frame, and the tab says
//! "loading…" meanwhile.

use std::sync::mpsc::Sender;

use chrono::{DateTime, NaiveDate, Utc};

use super::app::Msg;
use super::words;
use crate::app::records::Counts;
use crate::app::{AppError, DueVisit, GroupBy, OutcomeReport, Period, Reopen, SafetyReport};

/// A read a tab asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// The home screen's counts as of `at` (each count walks an index: tens of milliseconds on a national bank).
    Counts { at: DateTime<Utc> },
    /// Remission by indication as of `today`, and the safety report.
    Reports { today: NaiveDate },
    /// The visits due by `by`.
    FollowupsDue { by: NaiveDate },
}

/// Its answer.
#[derive(Debug, Clone)]
pub enum Loaded {
    Counts(Result<Counts, Failure>),
    Reports(Result<(OutcomeReport, SafetyReport), Failure>),
    FollowupsDue(Result<Vec<DueVisit>, Failure>),
}

/// Why a load failed, as the status line says it, and whether a rule refused it (a box the user dismisses).
#[derive(Debug, Clone)]
pub struct Failure {
    pub message: String,
    pub refused: bool,
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Failure {
        Failure { refused: matches!(e, AppError::Refused(_) | AppError::Denied(_)), message: words::error(&e) }
    }
}

/// Where the worker opens the bank, and as whom; `session` numbers the app's sessions, so that an answer read as
/// a user who has since signed out is dropped, not shown to the next one.
pub struct Loader {
    bank: Reopen,
    pub session: u64,
}

impl Loader {
    pub fn new(bank: &crate::app::Bank, session: u64) -> Loader {
        Loader { bank: bank.reopener(), session }
    }

    /// Starts `load` on its own thread; its answer arrives on `done` as [`Msg::Loaded`] (`quiet`: asked by a
    /// refresh after a change to the bank, which the status bar does not announce).
    pub fn start(&self, load: Load, quiet: bool, done: Sender<Msg>) {
        let bank = self.bank.clone();
        let session = self.session;
        std::thread::spawn(move || {
            let answer = match load {
                Load::Counts { at } => {
                    Loaded::Counts(bank.open_read_only().and_then(|mut bank| bank.counts(at)).map_err(Failure::from))
                }
                Load::Reports { today } => Loaded::Reports(
                    bank.open_read_only()
                        .and_then(|mut bank| {
                            let outcomes = bank.report_outcomes(GroupBy::Indication, Period::default(), today)?;
                            Ok((outcomes, bank.report_safety(Period::default())?))
                        })
                        .map_err(Failure::from),
                ),
                Load::FollowupsDue { by } => Loaded::FollowupsDue(
                    bank.open_read_only().and_then(|mut bank| bank.followups_due(by)).map_err(Failure::from),
                ),
            };
            // The app may have quit meanwhile: nobody is left to tell.
            let _ = done.send(Msg::Loaded(session, Box::new(answer), quiet));
        });
    }
}
