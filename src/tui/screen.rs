//! What a tab is (`Screen`), what it may do besides changing its own state (`Ctx`), and which tabs there are
//! (`Tab`). The app and every screen depend on this module; it depends on neither (as gitui's
//! `components/mod.rs`).

use chrono::{DateTime, NaiveDate, Utc};
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

use super::access::SignRequest;
use super::keys::Binding;
use super::loading::{Failure, Load};
use crate::app::{AppError, Bank};
use crate::core::access::Operation;
use crate::core::ids::Id;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// The tabs, in the order the tab bar shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Home,
    Donors,
    Donations,
    Batches,
    Inventory,
    Dispense,
    Trace,
    Recall,
    Audit,
    Followup,
    Reports,
}

impl Tab {
    pub const ALL: [Tab; 11] = [
        Tab::Home,
        Tab::Donors,
        Tab::Donations,
        Tab::Batches,
        Tab::Inventory,
        Tab::Dispense,
        Tab::Trace,
        Tab::Recall,
        Tab::Audit,
        Tab::Followup,
        Tab::Reports,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Home => "Home",
            Tab::Donors => "Donors",
            Tab::Donations => "Donations",
            Tab::Batches => "Batches",
            Tab::Inventory => "Inventory",
            Tab::Dispense => "Dispense",
            Tab::Trace => "Trace",
            Tab::Recall => "Recall",
            Tab::Audit => "Audit",
            Tab::Followup => "Follow-up",
            Tab::Reports => "Reports",
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// The function key that shows the tab: F2–F9 in tab order, Home on F10 (F1 is help), the clinical tabs
    /// after it on F11 and F12 (so that the bench's keys stay where they were).
    pub fn function_key(self) -> u8 {
        match self {
            Tab::Home => 10,
            Tab::Followup => 11,
            Tab::Reports => 12,
            other => other.index() as u8 + 1,
        }
    }

    pub fn from_function_key(n: u8) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.function_key() == n)
    }

    /// The operation reading what the tab shows: a user whose roles may not do it has nothing there to read
    /// again after a change.
    pub fn reads(self) -> Operation {
        match self {
            Tab::Audit => Operation::AuditRead,
            Tab::Reports => Operation::Report,
            _ => Operation::Read,
        }
    }

    /// Whether the tab reads the whole bank off the event loop (see `tui::loading`) when it reads again.
    pub fn loads(self) -> bool {
        matches!(self, Tab::Home | Tab::Followup | Tab::Reports)
    }

    /// The next tab (`step` 1) or the previous one (`step` -1), wrapping around.
    pub fn step(self, step: isize) -> Tab {
        let n = Tab::ALL.len() as isize;
        Tab::ALL[(self.index() as isize + step).rem_euclid(n) as usize]
    }
}

/// The labels of a record to print (on a worker thread), and why when it is a reprint.
#[derive(Debug, Clone)]
pub struct PrintJob {
    pub id: Id,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// Everything a screen asks of the app besides its own state: filled by [`Ctx`], read by the app after each
/// message.
#[derive(Default)]
pub struct Outbox {
    pub status: Option<(Level, String)>,
    /// Every status message of the session, oldest first, for the message log.
    pub log: Vec<(DateTime<Utc>, Level, String)>,
    /// A full-screen warning the user must dismiss (a wrong unit at the dispense check).
    pub warning: Option<String>,
    /// A message shown whole in a box until dismissed (a refusal).
    pub popup: Option<String>,
    pub goto: Option<Id>,
    /// Open the Recall tab with this recall's dry run (a safety signal asks for it).
    pub recall: Option<RecallRequest>,
    /// A question the user answers y/n before the key that asked it takes effect.
    pub question: Option<String>,
    /// A signed act waiting for the signer's password (the key that asked is delivered again once signed).
    pub signature: Option<SignRequest>,
    /// The key is delivered again after a yes (or a signature).
    pub confirmed: bool,
    /// Print jobs to start on their own threads.
    pub prints: Vec<PrintJob>,
    /// Reads of the whole bank to start on their own threads (true: quietly, for a refresh after a change).
    pub loads: Vec<(Load, bool)>,
    /// The status line's message came since the last key or poll (a note does not hide it then).
    pub fresh: bool,
    /// A refresh after a change is reading: a failure then opens no box and is not logged, but kept here for the
    /// app to say once.
    pub reloading: bool,
    pub reload_failed: Option<String>,
}

/// A donor's look-back from a day, with why.
#[derive(Debug, Clone)]
pub struct RecallRequest {
    pub donor: Id,
    pub from: NaiveDate,
    pub reason: String,
}

/// Messages kept for the log: a session's worth, the oldest dropped first.
const LOG_KEPT: usize = 500;

pub struct Ctx<'a> {
    pub bank: &'a mut Bank,
    pub now: DateTime<Utc>,
    pub out: &'a mut Outbox,
}

impl Ctx<'_> {
    fn say(&mut self, level: Level, m: String) {
        // The same message again (a job that fails the same way twice) is one line, at its last time.
        match self.out.log.last_mut() {
            Some(last) if last.1 == level && last.2 == m => last.0 = self.now,
            _ => {
                if self.out.log.len() >= LOG_KEPT {
                    self.out.log.remove(0);
                }
                self.out.log.push((self.now, level, m.clone()));
            }
        }
        self.out.status = Some((level, m));
        self.out.fresh = true;
    }
    pub fn info(&mut self, m: impl Into<String>) {
        self.say(Level::Info, m.into());
    }
    pub fn error(&mut self, m: impl Into<String>) {
        self.say(Level::Error, m.into());
    }
    pub fn warn(&mut self, m: impl Into<String>) {
        self.out.warning = Some(m.into());
    }
    /// Opens the trace of a record.
    pub fn trace(&mut self, id: Id) {
        self.out.goto = Some(id);
    }
    /// Reports an operation's failure in the TUI's words; a refusal (a safety rule's, or the access table's) also
    /// opens whole in a box.
    pub fn fail(&mut self, e: AppError) {
        self.failed(Failure::from(e));
    }
    /// Says why something failed; a refusal by a rule also in a box the user dismisses.
    pub fn failed(&mut self, f: Failure) {
        if self.out.reloading {
            self.out.reload_failed = Some(f.message);
            return;
        }
        if f.refused {
            self.out.popup = Some(f.message.clone());
        }
        self.error(f.message);
    }
    /// Starts a read of the whole bank off the event loop; its answer comes back to the screen that asked.
    pub fn load(&mut self, load: Load) {
        self.out.loads.push((load, false));
    }
    /// [`Ctx::load`] for a refresh after a change to the bank: the status bar does not say "loading…" for it.
    pub fn load_quietly(&mut self, load: Load) {
        self.out.loads.push((load, true));
    }
    /// A note on the status line that is not kept in the message log (it comes every time the bank changes), and
    /// that does not hide an error shown since the last key or poll (an older one stays in the log).
    pub fn note(&mut self, m: impl Into<String>) {
        if !self.out.fresh || !matches!(self.out.status, Some((Level::Error, _))) {
            self.out.status = Some((Level::Info, m.into()));
        }
    }
    /// Prints the labels of `id` off the event loop; the outcome comes to the status line when it is done.
    pub fn print(&mut self, id: Id, reason: Option<&str>) {
        self.info(format!("printing the labels of {id}…"));
        self.out.prints.push(PrintJob { id, reason: reason.map(String::from), at: self.now });
    }
    /// True when the user has answered yes to `question` for this key; otherwise asks it (the key comes back
    /// after a yes) and returns false.
    pub fn confirmed(&mut self, question: impl Into<String>) -> bool {
        if std::mem::take(&mut self.out.confirmed) {
            return true;
        }
        self.out.question = Some(question.into());
        false
    }
    /// For a signed act: true when the signer has signed it with their password (which then stands for the
    /// yes to `question` too); otherwise opens the signature box showing `meaning` (the key comes back once
    /// signed) and returns false. In set-up mode nobody signs: the act asks `question`, when it has one. A user
    /// whose roles may not do `op` is told so, and asked nothing.
    pub fn signed(&mut self, op: Operation, meaning: impl Into<String>, question: Option<String>) -> bool {
        if let Err(e) = self.bank.authorize(op) {
            self.fail(e);
            return false;
        }
        if !self.bank.access_control() {
            return question.is_none_or(|q| self.confirmed(q));
        }
        if std::mem::take(&mut self.out.confirmed) {
            return true;
        }
        let countersign = op == Operation::RecallApply && self.bank.needs_countersign();
        self.out.signature = Some(SignRequest { meaning: meaning.into(), question, countersign });
        false
    }
}

/// What a tab read again after a change to the bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The tab shows nothing read from the bank (a form), or nothing it could read again now.
    Nothing,
    /// Read again (or asked for, off the event loop).
    Read,
    /// Read again, and the record open on the tab changed: named here.
    Changed(String),
    /// Read again, and the record selected left the list (another bench's change took it out of the filter):
    /// named here. The selection is on its neighbour; a pane that showed it keeps it, read again.
    Left(String),
    /// Not read: a read of the tab is already under way, and it may have begun before the change (the app asks
    /// again later).
    Busy,
}

/// One tab of the TUI.
pub trait Screen {
    /// The screen's table in [`super::keys`]: its dispatch reads it, and so does help.
    fn keys(&self) -> &'static [Binding];
    /// Whether the screen shows a list that the keys of [`super::keys::NAV`] move in.
    fn list(&self) -> bool {
        true
    }
    /// Whether a form can open on this screen (its keys are then part of help).
    fn forms(&self) -> bool {
        true
    }
    /// What a scan does on this screen beyond filling the field that waits for it, for help.
    fn scan_hint(&self) -> Option<&'static str> {
        None
    }
    /// A form is being edited: keys go to the screen (help and quit only where no free text is typed).
    fn editing(&self) -> bool;
    /// Whether the focused field takes free text (`?` and `q` are then typed, not commands).
    fn typing_text(&self) -> bool {
        self.editing()
    }
    fn dirty(&self) -> bool {
        false
    }
    /// Called when the tab is shown: reload what it shows.
    fn refresh(&mut self, _ctx: &mut Ctx) {}
    /// The bank changed (another bench's work, or this bench's own): read again what the tab shows, through the
    /// same operations, saying nothing, keeping the selection on its record, the scroll, and whatever is being
    /// typed. `other`: another bench's change, marked on the open record when that changed.
    fn reload(&mut self, _ctx: &mut Ctx, _other: bool) -> Reload {
        Reload::Nothing
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent);
    /// A scan arrived: true when the screen took it (it fills a waiting field).
    fn on_scan(&mut self, _ctx: &mut Ctx, _data: &str) -> bool {
        false
    }
    fn render(&self, f: &mut Frame, area: Rect);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tab_has_its_own_function_key_and_f1_is_none_of_them() {
        for tab in Tab::ALL {
            assert_eq!(Tab::from_function_key(tab.function_key()), Some(tab));
        }
        assert_eq!(Tab::from_function_key(1), None);
        assert_eq!(Tab::Home.step(-1), Tab::Reports);
        assert_eq!(Tab::Reports.step(1), Tab::Home);
    }
}
