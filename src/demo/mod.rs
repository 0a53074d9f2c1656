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
use crate::core::config::Config;

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
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "demo bank: {} donors, {} donations, {} batches ({} released, {} discarded), {} units, {} recipients, \
             {} units dispensed, {} follow-up visits, {} adverse events, {} recalls\ntry: stoolbank trace {}",
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
            self.examples.join(" | stoolbank trace ")
        )
    }
}

/// Fills a fresh database with the demo bank (refused when it already holds donors).
pub fn create(db: &Path, config: Config, actor: &str, seed: u64) -> Result<DemoSummary, AppError> {
    let mut bank = Bank::init(db, Some(DEMO_FACILITY), config, actor)?;
    scaled::load(&mut bank, Scale { seed, ..Scale::DEMO }, &ProgressBar::hidden())
}
