//! How a failed command ends: one line on stderr naming what was wrong, and the exit code scripts rely on.
//! The exit codes are decided here and nowhere else (README.md documents them).

use crate::app::records::StoreError;
use crate::app::{AppError, IdentityError, SignInError};
use crate::core::input::Invalid;
use crate::core::rules::Rule;
use crate::labels::LabelError;
use crate::printers::PrintError;

use crate::escape::shown;

/// A failure of one command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Scanner(#[from] scanners::Error),
    #[error(transparent)]
    Tui(#[from] crate::tui::TuiError),
    /// The check itself ran and found problems (verify); already reported on stdout.
    #[error("{0}")]
    Findings(String),
    /// The answer was printed whole, but holds stored values no reader can parse, each marked in its place.
    #[error("the answer holds {0} stored value(s) no reader can parse, marked ⚠ malformed (in --json {{\"malformed\": …}}); `stoolbank verify` names every such value")]
    Incomplete(usize),
}

/// The exit codes, as README.md documents them.
pub mod exit {
    pub const OTHER: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const REFUSED: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const FINDINGS: u8 = 5;
    /// A printer or a label failed (not the user's input: a printer off, a template that cannot carry the data).
    /// Nobody signed in, or the sign-in (or a signature's password) refused.
    pub const SIGN_IN: u8 = 6;
    pub const PRINTER_OR_LABEL: u8 = 7;
    /// The answer is printed, but some stored values in it could not be read (marked); it may be incomplete.
    pub const INCOMPLETE: u8 = 8;
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::App(AppError::Input(_) | AppError::Invalid(_) | AppError::Id(_)) => {
                exit::BAD_INPUT
            }
            // Identity locked, a viewer not enrolled: refused, like a rule.
            CliError::App(AppError::Refused(_) | AppError::Denied(_) | AppError::Identity(_)) => exit::REFUSED,
            CliError::App(AppError::SignIn(_)) => exit::SIGN_IN,
            CliError::Incomplete(_) => exit::INCOMPLETE,
            CliError::App(AppError::NotFound { .. }) => exit::NOT_FOUND,
            CliError::Findings(_) | CliError::App(AppError::Store(StoreError::Tampered(_))) => exit::FINDINGS,
            // Naming a printer or template that cannot exist is bad input; a printer or template failing is not.
            CliError::App(
                AppError::Printer(PrintError::BadTarget(_) | PrintError::NoPrinter)
                | AppError::Label(LabelError::UnknownTemplate { .. }),
            ) => exit::BAD_INPUT,
            CliError::App(AppError::Printer(_) | AppError::Label(_)) => exit::PRINTER_OR_LABEL,
            CliError::App(AppError::Store(_)) | CliError::Io(_) | CliError::Scanner(_) | CliError::Tui(_) => {
                exit::OTHER
            }
        }
    }
}

impl CliError {
    /// A disk failure of the database, named with its file (`SQLite`'s message leaves the file out).
    pub fn on_file(self, db: &std::path::Path) -> CliError {
        match self {
            CliError::App(AppError::Store(e)) => CliError::App(AppError::Store(e.on_file(db))),
            other => other,
        }
    }
}

impl From<crate::time::TimeError> for CliError {
    fn from(e: crate::time::TimeError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        CliError::App(e.into())
    }
}

impl From<crate::time::DateError> for CliError {
    fn from(e: crate::time::DateError) -> Self {
        CliError::Usage(e.to_string())
    }
}

/// How to say it right on this command line: app and core word their errors in the domain's terms, and
/// each face adds its own way out (the TUI names fields, the CLI names flags).
fn hint(e: &CliError) -> Option<&'static str> {
    match e {
        CliError::App(AppError::Input(i)) => match i {
            Invalid::NoReason(_) => Some("give --reason TEXT"),
            Invalid::NoResults => Some("give --all-negative and/or --test NAME=RESULT"),
            Invalid::DeferralBothEnds | Invalid::DeferralNoEnd => Some("give --until DATE or --permanent"),
            _ => None,
        },
        CliError::App(AppError::Refused(r)) if r.rule == Rule::LabelReprintReason => Some("give --reason TEXT"),
        CliError::App(AppError::Refused(r)) if r.rule == Rule::RecallFourEyes => {
            Some("give --countersign USER, that user's password in STOOLBANK_COUNTERSIGN_PASSWORD")
        }
        CliError::App(AppError::Identity(IdentityError::Locked)) => {
            Some("sign in as an identity viewer (--as NAME with STOOLBANK_PASSWORD)")
        }
        CliError::App(AppError::SignIn(SignInError::SignedOut | SignInError::NoPassword(_))) => {
            Some("sign in with --as NAME (or STOOLBANK_USER) and STOOLBANK_PASSWORD, or on a terminal")
        }
        CliError::App(AppError::SignIn(SignInError::Locked { .. })) => {
            Some("an administrator runs `stoolbank user enable NAME`")
        }
        CliError::App(AppError::Printer(PrintError::NoPrinter)) => {
            Some("give --print tcp://HOST:9100, lp:QUEUE, a device under /dev/ or file:PATH")
        }
        _ => None,
    }
}

/// Prints an error as one line naming what was wrong (and, for refusals, the rule), with the flag that puts
/// it right where there is one. The message may quote what the user typed, so it is escaped like free text.
pub fn report(e: &CliError) {
    match hint(e) {
        Some(hint) => eprintln!("stoolbank: {} ({hint})", shown(&e.to_string())),
        None => eprintln!("stoolbank: {}", shown(&e.to_string())),
    }
}

/// A command line clap refused (a wrong value, a missing flag), as one line like every other error: what was
/// wrong and, for a closed list, the valid values. Help and version requests print as clap prints them.
pub fn usage_error(e: &clap::Error) -> Option<String> {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return None;
    }
    let rendered = e.render().to_string();
    let what: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let what = what.join(" ");
    Some(format!("stoolbank: {} (see --help)", shown(what.strip_prefix("error: ").unwrap_or(&what))))
}
