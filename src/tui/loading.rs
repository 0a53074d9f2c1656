//! Reads of the whole bank off the event loop. A report or the follow-up work list reads every dispense and visit
//! (seconds on a national bank), and the home screen's counts walk indexes of a million entries, so the tab that
//! shows one asks for it here: it runs on its own thread, on a read-only connection of its own as the signed-in
//! user, and posts the answer back as a message. The tab switch itself stays within a frame, and the tab says
//! "loading…" meanwhile. A refresh after another bench's change runs instead on the loader's one thread and the
//! connection it keeps for the session.

use std::sync::mpsc::{self, Sender};

use chrono::{DateTime, NaiveDate, Utc};

use super::app::Msg;
use super::words;
use crate::app::records::Counts;
use crate::app::{AppError, Bank, DueVisit, GroupBy, OutcomeReport, Period, Reopen, SafetyReport};

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
    /// The thread that reads again after a change to the bank, on one connection it keeps (started at the first
    /// such read): those come every few seconds while idle benches sit on Home, and a server connection is a
    /// handshake, an authentication and checks each time.
    quiet: Option<Sender<(Load, u64, Sender<Msg>)>>,
}

impl Loader {
    pub fn new(bank: &crate::app::Bank, session: u64) -> Loader {
        Loader { bank: bank.reopener(), session, quiet: None }
    }

    /// Starts `load`; its answer arrives on `done` as [`Msg::Loaded`]. A load the user asked for runs on its own
    /// thread and connection (a report must not wait behind another); `quiet` (a refresh after a change to the
    /// bank, which the status bar does not announce) on the loader's thread, one after another.
    pub fn start(&mut self, load: Load, quiet: bool, done: Sender<Msg>) {
        if quiet {
            let work = (load, self.session, done.clone());
            let sent = match &self.quiet {
                Some(worker) => worker.send(work),
                None => Err(mpsc::SendError(work)),
            };
            // The thread is not there yet (or has gone): a new one takes it.
            if let Err(mpsc::SendError(work)) = sent {
                let worker = self.worker();
                let _ = worker.send(work);
                self.quiet = Some(worker);
            }
            return;
        }
        let bank = self.bank.clone();
        let session = self.session;
        std::thread::spawn(move || {
            let answer = read(&mut None, &bank, load);
            // The app may have quit meanwhile: nobody is left to tell.
            let _ = done.send(Msg::Loaded(session, Box::new(answer), quiet));
        });
    }

    /// The loader's thread: it ends when the loader is dropped (a sign-in makes a new one).
    fn worker(&self) -> Sender<(Load, u64, Sender<Msg>)> {
        let (tx, rx) = mpsc::channel::<(Load, u64, Sender<Msg>)>();
        let reopen = self.bank.clone();
        std::thread::spawn(move || {
            let mut bank = None;
            while let Ok((load, session, done)) = rx.recv() {
                let answer = read(&mut bank, &reopen, load);
                let _ = done.send(Msg::Loaded(session, Box::new(answer), true));
            }
        });
        tx
    }
}

/// Reads `load` through `bank`, opened read-only as the session's user when not open yet; a failure closes it,
/// to be opened again at the next read.
fn read(bank: &mut Option<Bank>, reopen: &Reopen, load: Load) -> Loaded {
    let open = match bank {
        Some(b) => Ok(b),
        None => reopen.clone().open_read_only().map(|b| bank.insert(b)),
    };
    let loaded = match load {
        Load::Counts { at } => Loaded::Counts(open.and_then(|b| b.counts(at)).map_err(Failure::from)),
        Load::Reports { today } => Loaded::Reports(
            open.and_then(|b| {
                let outcomes = b.report_outcomes(GroupBy::Indication, Period::default(), today)?;
                Ok((outcomes, b.report_safety(Period::default())?))
            })
            .map_err(Failure::from),
        ),
        Load::FollowupsDue { by } => {
            Loaded::FollowupsDue(open.and_then(|b| b.followups_due(by)).map_err(Failure::from))
        }
    };
    if failed(&loaded) {
        *bank = None;
    }
    loaded
}

fn failed(loaded: &Loaded) -> bool {
    match loaded {
        Loaded::Counts(r) => r.is_err(),
        Loaded::Reports(r) => r.is_err(),
        Loaded::FollowupsDue(r) => r.is_err(),
    }
}
