//! Seeing other benches' work. Several benches share one bank (a file over SSH, or a PostgreSQL server), and each
//! change is one transaction with its audit entry, so the audit chain's newest entry moves exactly when the bank
//! changes, on both stores. The event loop asks about once a second ([`super::POLL`]) where it stands, and the app
//! reads again what the tab shows when it moved.
//!
//! Polling was chosen over LISTEN/NOTIFY for both stores: a notification needs a server connection held open for
//! it and a trigger in the schema, and a file has neither. `PRAGMA data_version` would be cheaper on a file, but it
//! is per connection and file-only; the chain's head is one primary-key lookup on either store. Measured (debug
//! build, a busy two-core machine): about 65 µs on a file; 0.8–1.5 ms on a server over a local Unix socket as
//! three round trips (begin, select, end), now one statement (one round trip), but still a network's latency on a
//! remote server. So the poll is made off the event loop: a thread of its own asks, on one read-only connection it
//! keeps for the session, as the signed-in user, and posts the answer back as a message. The one read on the event
//! loop is at sign-in, where the head is taken as the starting point.

use std::sync::mpsc::{self, Sender};

use super::app::Msg;
use super::loading::Failure;
use crate::app::{Bank, Reopen};

/// The watcher's thread, while someone is signed in; `session` numbers the watchers, so that an answer from one
/// stopped since (a sign-out, the idle lock) is dropped.
pub struct Watch {
    ask: Option<Sender<()>>,
    pub session: u64,
}

impl Watch {
    /// No watcher: nobody is signed in, so nothing asks the bank anything.
    pub fn off() -> Watch {
        Watch { ask: None, session: 0 }
    }

    /// A watcher for the session signed in on `bank`; its answers arrive on `done` as [`Msg::Head`].
    pub fn start(bank: &Bank, session: u64, done: Sender<Msg>) -> Watch {
        let (ask, asked) = mpsc::channel::<()>();
        let reopen = bank.reopener();
        std::thread::spawn(move || {
            let mut bank: Option<Bank> = None;
            // Ends when the app stops this watcher (the sender is dropped) or quits.
            while asked.recv().is_ok() {
                let answer = head(&mut bank, &reopen);
                if answer.is_err() {
                    // A connection lost is opened again at the next ask.
                    bank = None;
                }
                if done.send(Msg::Head(session, answer.map_err(Failure::from))).is_err() {
                    break;
                }
            }
        });
        Watch { ask: Some(ask), session }
    }

    /// Asks where the bank stands; false when nobody watches (signed out, or the thread is gone).
    pub fn ask(&self) -> bool {
        self.ask.as_ref().is_some_and(|a| a.send(()).is_ok())
    }

    pub fn watching(&self) -> bool {
        self.ask.is_some()
    }

    /// Stops asking: the thread ends, and its connection closes, at its next turn.
    pub fn stop(&mut self) {
        self.ask = None;
        self.session += 1;
    }
}

/// The chain's head, through the bank opened (once) read-only as the session's user.
fn head(bank: &mut Option<Bank>, reopen: &Reopen) -> crate::app::Result<i64> {
    let open = match bank {
        Some(b) => b,
        None => bank.insert(reopen.clone().open_read_only()?),
    };
    open.last_change()
}
