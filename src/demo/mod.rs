//! A realistic small demo bank, made through the same operations a bench uses (so every rule holds): a few
//! dozen donors screened every eight weeks over two years, with positive re-tests and deferrals, donations
//! processed into batches, QC, releases after the post-donation screen, discarded batches, a donor recall and
//! a batch recall, and units dispensed to recipients or still in stock. The generator behind it, which also
//! makes the benches' and a national platform's banks, is [`scaled`].

mod scaled;

use std::fmt;
use std::path::Path;

use indicatif::ProgressBar;
use serde::Serialize;

use crate::app::{AppError, Bank};
use crate::core::access::Role;
use crate::core::config::BenchPrefs;

pub use scaled::{create_scaled, Scale};

/// The demo's facility code (the DIN example of DOMAIN.md).
pub const DEMO_FACILITY: &str = "G1517";

#[derive(Debug, Clone, Default, Serialize)]
pub struct DemoSummary {
    pub donors: usize,
    pub donations: usize,
    pub batches: usize,
    pub units: usize,
    pub released_batches: usize,
    pub discarded_batches: usize,
    pub recipients: usize,
    pub dispensed: usize,
    pub followups: usize,
    pub adverse_events: usize,
    pub recalls: usize,
    /// A donor who was recalled, a dispensed unit and a recipient, for a newcomer to trace.
    pub examples: Vec<String>,
    /// The demo users (all with [`DEMO_PASSWORD`]); none in a bank made at another scale.
    pub users: Vec<String>,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "demo bank: {} donors, {} donations, {} batches ({} released, {} discarded), {} units, {} recipients, \
             {} units dispensed, {} follow-up visits, {} adverse events, {} recalls",
            self.donors,
            self.donations,
            self.batches,
            self.released_batches,
            self.discarded_batches,
            self.units,
            self.recipients,
            self.dispensed,
            self.followups,
            self.adverse_events,
            self.recalls,
        )?;
        // With users, a command signs in: the demo's password is public (README.md).
        let signed = if self.users.is_empty() {
            String::new()
        } else {
            writeln!(f, "\nusers: {} (password: {DEMO_PASSWORD})", self.users.join(", "))?;
            format!("--as {DEMO_DEFAULT_USER} ")
        };
        let prefix = if self.users.is_empty() { "\n" } else { "" };
        write!(
            f,
            "{prefix}try: stoolbank {signed}trace {}",
            self.examples.join(&format!(" | stoolbank {signed}trace "))
        )
    }
}

/// The demo bank's users, one per role (README.md lists them): name, role. They share [`DEMO_PASSWORD`].
pub const DEMO_USERS: &[(&str, Role)] = &[
    ("admin", Role::Admin),
    ("tech", Role::Technician),
    ("qm", Role::QualityManager),
    ("clinician", Role::Clinician),
    ("investigator", Role::Investigator),
];

/// The demo users' password: published in README.md, so a demo bank holds nothing worth protecting.
pub const DEMO_PASSWORD: &str = "stoolbank-demo";

/// The demo user `stoolbank --demo` signs in as when no user is named: the quality manager sees every tab's work.
pub const DEMO_DEFAULT_USER: &str = "qm";

/// Fills a fresh database with the demo bank (refused when it already holds donors), then gives it its demo
/// users: the bank is filled in set-up mode, and access control is on from then on.
pub fn create(db: &Path, bench: BenchPrefs, actor: &str, seed: u64) -> Result<DemoSummary, AppError> {
    let mut bank = Bank::init(db, Some(DEMO_FACILITY), bench, actor)?;
    let mut summary = scaled::load(&mut bank, Scale { seed, ..Scale::DEMO }, &ProgressBar::hidden())?;
    let now = bank.now();
    for (i, (name, role)) in DEMO_USERS.iter().enumerate() {
        bank.add_user(name, &[*role], DEMO_PASSWORD, now)?;
        if i == 0 {
            // The first user is the administrator, who adds the others.
            bank.sign_in(name, DEMO_PASSWORD)?;
        }
        summary.users.push((*name).to_string());
    }
    Ok(summary)
}
