//! The command line, a contract: names, flags and JSON fields are kept stable for scripts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "stoolbank", version, about = "Traceability for stool banks: donors to recipients, trace and recall")]
pub struct Cli {
    /// Database file [default: $STOOLBANK_DB, else stoolbank.db in the user's data directory]
    #[arg(long, global = true, env = "STOOLBANK_DB")]
    pub db: Option<PathBuf>,
    /// Who is acting (goes into every audit entry) [default: the login name]
    #[arg(long = "as", global = true, env = "STOOLBANK_USER", value_name = "USER")]
    pub actor: Option<String>,
    /// Print records as JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// Policy file [default: $STOOLBANK_CONFIG, else stoolbank.toml beside the database, else built-in defaults]
    #[arg(long, global = true, env = "STOOLBANK_CONFIG")]
    pub config: Option<PathBuf>,
    /// When the event happened (RFC 3339, or YYYY-MM-DD for local midnight) [default: now]; for views, "as of"
    #[arg(long, global = true, value_name = "TS")]
    pub at: Option<String>,
    /// The bank key file (signs checkpoints, keys identity digests) [default: stoolbank/bank.key in the user's
    /// configuration directory; created on first use]
    #[arg(long, global = true, env = "STOOLBANK_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Open the demo bank (created with demo data in the data directory when none exists)
    #[arg(long)]
    pub demo: bool,
    /// The TUI reads this scanner: a profile name (see `scanners list`) or a .toml file
    #[arg(long, env = "STOOLBANK_SCANNER", value_name = "PROFILE")]
    pub scanner: Option<String>,
    /// The scanner's device (serial port, /dev/hidraw*, /dev/input/event*) [default: the profile's]
    #[arg(long, env = "STOOLBANK_SCANNER_DEVICE", value_name = "PATH")]
    pub scanner_device: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the database (idempotent)
    Init {
        /// Facility identification number used in DINs (A–N, P–Z or 1–9, then four digits)
        #[arg(long)]
        facility: Option<String>,
    },
    /// Fill a fresh database with a realistic small demo bank
    Demo {
        /// Seed of the demo's pseudo-random choices
        #[arg(long, default_value_t = 2019)]
        seed: u64,
    },
    /// Donors and their screening
    #[command(subcommand)]
    Donor(DonorCmd),
    /// Donations
    #[command(subcommand)]
    Donation(DonationCmd),
    /// Batches: make, show, release, discard
    #[command(subcommand)]
    Batch(BatchCmd),
    /// Quality-control results of batches
    #[command(subcommand)]
    Qc(QcCmd),
    /// Recipients (patients)
    #[command(subcommand)]
    Recipient(RecipientCmd),
    /// Deliver one unit to one recipient
    Dispense {
        unit: String,
        #[arg(long)]
        recipient: String,
        #[arg(long)]
        route: String,
        /// Who gave it
        #[arg(long)]
        clinician: Option<String>,
        /// The dispense happened before the unit's recall and is recorded only now: the recall's answer then
        /// names the recipient, who is flagged for contact (needs --reason)
        #[arg(long, requires = "reason")]
        happened: bool,
        /// Why a dispense of a recalled unit is recorded after the recall
        #[arg(long, requires = "happened")]
        reason: Option<String>,
    },
    /// Where a unit (or a retained sample) is stored
    Locate {
        unit: String,
        /// Freezer, rack, box, position
        location: String,
    },
    /// Labels of donations, batches (every unit and the retained sample) or units: print, or render to a file
    Label {
        #[arg(required = true)]
        ids: Vec<String>,
        /// zpl | png | svg
        #[arg(long, default_value = "zpl")]
        format: String,
        /// Write to FILE (one label), or into a directory as ID.FORMAT (several previews; a name with an extension is refused)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print (ZPL) on TARGET: tcp://HOST:PORT, lp:QUEUE, or a device; alone, on the configured printer
        #[arg(long, value_name = "TARGET", num_args = 0..=1, default_missing_value = "")]
        print: Option<String>,
        #[arg(long, default_value_t = 1)]
        copies: u32,
        /// A template of labels.toml (or the policy's label_templates file)
        #[arg(long)]
        template: Option<String>,
        /// Why: required for a reprint
        #[arg(long)]
        reason: Option<String>,
    },
    /// Label verification: the text scanned from a printed label must be this unit
    VerifyLabel { unit: String, scanned: String },
    /// The chain through any identifier, both ways
    Trace { id: String },
    /// Find (and with --apply, quarantine and record) everything a recall affects
    Recall(RecallArgs),
    /// The audit trail
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Integrity check: SQLite, foreign keys, the schema, stored values, the audit chain and every record
    Verify,
    /// An online, checked copy of the bank to FILE (benches may keep writing), recorded in the audit trail
    Backup { file: PathBuf },
    /// Bring a backup back as the bank (--db): checked first, refused while the bank is in use; the bank it
    /// replaces and any leftover -wal/-shm are moved aside, never deleted
    Restore { file: PathBuf },
    /// The bank's policy
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Barcode scanners: what is attached, and a bench check that prints every scan
    #[command(subcommand)]
    Scanners(ScannersCmd),
}

#[derive(Debug, Subcommand)]
pub enum ScannersCmd {
    /// Serial ports and HID scanners present (with USB vendor/product ids), and the profiles
    List,
    /// Print each scan as it arrives (rejected reads and state changes on stderr) until interrupted
    Listen {
        /// A profile name (generic-serial, generic-hid, honeywell-xenon-serial, ...) or a .toml file
        profile: String,
        #[arg(long)]
        device: Option<String>,
        #[arg(long)]
        baud: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DonorCmd {
    /// Register a donor under a new pseudonymous code
    Add {
        #[arg(long)]
        sex: String,
        #[arg(long, value_name = "DATE")]
        birth_date: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        national_id: Option<String>,
    },
    /// Record a screening and its results
    Screen {
        donor: String,
        /// questionnaire | blood | stool | donation-day
        #[arg(long)]
        kind: String,
        #[arg(long, value_name = "DATE")]
        date: String,
        /// Every test of the configured panel negative (then --test overrides single tests)
        #[arg(long)]
        all_negative: bool,
        /// A result, NAME=negative|positive|indeterminate (repeatable)
        #[arg(long = "test", value_name = "NAME=RESULT")]
        tests: Vec<String>,
        /// This screening corrects screening ID (a mis-keyed result), which then no longer counts
        #[arg(long, value_name = "ID")]
        corrects: Option<i64>,
    },
    /// Defer a donor
    Defer {
        donor: String,
        #[arg(long)]
        reason: String,
        #[arg(long, value_name = "DATE", conflicts_with = "permanent", required_unless_present = "permanent")]
        until: Option<String>,
        #[arg(long)]
        permanent: bool,
    },
    /// Lift the deferral a recall put on a donor (a quality manager's decision; audited with the reason)
    LiftDeferral {
        donor: String,
        #[arg(long)]
        reason: String,
    },
    /// Status, eligibility and its reason, screenings, deferrals, donations
    Show { donor: String },
    /// Every donor with status
    List,
}

#[derive(Debug, Subcommand)]
pub enum DonationCmd {
    /// Record a donation (refused for a donor not eligible that day); prints its DIN
    Add {
        donor: String,
        #[arg(long, value_name = "TS")]
        collected_at: String,
        #[arg(long, value_name = "TS")]
        received_at: Option<String>,
        #[arg(long, value_name = "N")]
        mass_g: Option<f64>,
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=7))]
        bristol: Option<u8>,
    },
    Show {
        donation: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BatchCmd {
    /// Prepare a donation into a batch of N units (plus the retained sample); --at is when processing began
    Make {
        donation: String,
        #[arg(long)]
        product: String,
        /// How many dispensable units (1–260); the retained sample comes with the donation's first batch
        #[arg(long)]
        units: usize,
        /// Volume of each unit, in mL (printed on its label)
        #[arg(long, value_name = "V")]
        volume_ml: Option<f64>,
    },
    Show {
        batch: String,
    },
    /// Release from quarantine (refused unless every release rule holds)
    Release {
        batch: String,
    },
    Discard {
        batch: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QcCmd {
    /// Record a QC result: --test NAME=pass|fail
    Add {
        batch: String,
        #[arg(long = "test", value_name = "NAME=pass|fail")]
        test: String,
        #[arg(long)]
        value: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecipientCmd {
    Add {
        #[arg(long)]
        sex: String,
        #[arg(long, value_name = "DATE")]
        birth_date: String,
        #[arg(long)]
        indication: String,
        /// signed (prospective cohort) | data-use (retrospective cohort)
        #[arg(long, default_value = "signed")]
        consent: String,
        /// retrospective | prospective [default: implied by consent]
        #[arg(long)]
        cohort: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        phone: Option<String>,
    },
    Show {
        recipient: String,
    },
    List,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("selector").required(true).args(["donor", "batch", "collected_from"]))]
pub struct RecallArgs {
    #[arg(long)]
    pub donor: Option<String>,
    /// With --donor: collection day from which to recall [default: the donor's last clean screening]
    #[arg(long, value_name = "DATE", requires = "donor")]
    pub from: Option<String>,
    #[arg(long)]
    pub batch: Option<String>,
    #[arg(long, value_name = "DATE", requires = "collected_to")]
    pub collected_from: Option<String>,
    #[arg(long, value_name = "DATE", requires = "collected_from")]
    pub collected_to: Option<String>,
    #[arg(long)]
    pub reason: String,
    /// Quarantine every affected unit in stock and record the recall (without it nothing changes)
    #[arg(long)]
    pub apply: bool,
    /// Apply a recall once more although an earlier one named the same material (refused otherwise)
    #[arg(long, requires = "apply")]
    pub again: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// The log, optionally of one record (and everything about it)
    Log {
        id: Option<String>,
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Walk the hash chain and compare every record with its last audit entry (and the anchors, with --anchor)
    Verify {
        /// Check the chain against every signed checkpoint in this anchor log
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
    },
    /// Sign the chain's head with the bank key and append it to the anchor log (keep that on other media)
    Checkpoint {
        /// The anchor log [default: stoolbank/anchors.log in the user's data directory]
        #[arg(long, env = "STOOLBANK_ANCHOR", value_name = "FILE")]
        anchor: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective policy as TOML (a starting point for a bank's own file)
    Show,
}
