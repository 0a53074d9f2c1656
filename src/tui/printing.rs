//! Printing off the event loop: a printer can take seconds per address to answer (or not), so each print job
//! runs on its own thread with its own connection to the bank, and posts its outcome back as a message. The
//! screen stays responsive and says "printing…" meanwhile.

use std::sync::mpsc::Sender;

use super::app::Msg;
use super::loading::Failure;
use super::screen::PrintJob;
use crate::app::Reopen;

/// What a finished job reports: the message for the status line, or why it failed.
#[derive(Debug, Clone)]
pub enum Printed {
    Done(String),
    Failed(Failure),
}

/// Where the worker opens the bank, and as whom.
pub struct Printer {
    bank: Reopen,
}

impl Printer {
    pub fn new(bank: &crate::app::Bank) -> Printer {
        Printer { bank: bank.reopener() }
    }

    /// Starts `job` on its own thread; its outcome arrives on `done` as [`Msg::Printed`], with the audit entries
    /// the job appended (its claims and its record), which are this bench's own changes.
    pub fn start(&self, job: PrintJob, done: Sender<Msg>) {
        let bank = self.bank.clone();
        std::thread::spawn(move || {
            // The worker's bank keeps the app's "now" of the job.
            let at = job.at;
            let mut appended = Vec::new();
            let outcome = bank.open().map(|bank| bank.with_clock(move || at)).and_then(|mut bank| {
                let printed = bank.print_labels(&job.id, None, None, 1, job.reason.as_deref(), job.at);
                appended = bank.take_appended();
                printed
            });
            let report = match outcome {
                Ok(p) => Printed::Done(p.to_string()),
                Err(e) => Printed::Failed(e.into()),
            };
            // The app may have quit meanwhile: nobody is left to tell.
            let _ = done.send(Msg::Printed(report, appended));
        });
    }
}
