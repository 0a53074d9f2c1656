//! The command line, a contract: names, flags and JSON fields are kept stable for scripts.
//!
//! Closed enumerations of the domain are parsed here, so `--help` lists their values and a wrong one is
//! refused with the list; the bank's own code lists (routes, products, indications, tests) live in its policy
//! and are checked by `app`, which names the valid codes.

use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use crate::app::integrity::Since;
use crate::core::access::Role;
use crate::core::model::{Cohort, Consent, QcResult, ScreeningKind, Sex, TestResult};
use crate::labels::Format;

/// A value parser for a closed enumeration: `--help` lists `all`, and clap refuses anything else with the list.
pub(super) fn one_of<T>(all: &'static [T], name: fn(T) -> &'static str) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = String> + Copy + Send + Sync + 'static,
{
    PossibleValuesParser::new(all.iter().map(|v| name(*v))).try_map(|s| s.parse::<T>())
}

/// A `NAME=VALUE` pair whose value is one of a closed enumeration (`--test hiv=negative`).
fn named<T>(s: &str) -> Result<(String, T), String>
where
    T: FromStr<Err = String>,
{
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.parse()?)),
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}

#[derive(Debug, Parser)]
#[command(name = "stoolbank", version, about = "Traceability for stool banks: donors to recipients, trace and recall")]
pub struct Cli {
    /// Database: a file, or a PostgreSQL server as `postgres://USER@HOST/DB` [default: $`STOOLBANK_DB`, else
    /// stoolbank.db in the user's data directory]
    #[arg(long, global = true, env = "STOOLBANK_DB")]
    pub db: Option<PathBuf>,
    /// Who is acting: the user who signs in (password from $`STOOLBANK_PASSWORD`, else asked on a terminal); in a
    /// bank without users, a name for the audit trail [default there: the login name]
    #[arg(long = "as", global = true, env = "STOOLBANK_USER", value_name = "USER")]
    pub actor: Option<String>,
    /// Print records as JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// This bench's settings file (printer, label template; never the bank's rules, which the bank stores)
    /// [default: $`STOOLBANK_CONFIG`, else stoolbank.toml beside the database]
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

/// The sizes of `demo --scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoScale {
    Large,
    Medium,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the database (idempotent)
    Init {
        /// Facility identification number used in DINs (A–N, P–Z or 1–9, then four digits)
        #[arg(long)]
        facility: Option<String>,
    },
    /// Fill a fresh database with a realistic small demo bank (or, with --scale, a national-size one)
    Demo {
        /// Seed of the demo's pseudo-random choices
        #[arg(long, default_value_t = 2019)]
        seed: u64,
        /// A bank of a national platform (large: 5,000 donors, 1.5 million units; medium: a tenth), made in
        /// minutes with a progress bar; the same seed gives the same records
        #[arg(long, value_enum)]
        scale: Option<DemoScale>,
    },
    /// Donors and their screening
    #[command(subcommand)]
    Donor(Group<DonorCmd>),
    /// Donations
    #[command(subcommand)]
    Donation(Group<DonationCmd>),
    /// Batches: make, show, release, discard
    #[command(subcommand)]
    Batch(Group<BatchCmd>),
    /// Quality-control results of batches
    #[command(subcommand)]
    Qc(Group<QcCmd>),
    /// Recipients (patients)
    #[command(subcommand)]
    Recipient(Group<RecipientCmd>),
    /// Deliver one unit to one recipient (refused unless every dispense rule holds)
    Dispense {
        /// The unit (scanned from its label)
        unit: String,
        /// Who receives it
        #[arg(long)]
        recipient: String,
        /// How it is given: a route of the policy (`config show` lists them)
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
        /// The unit or retained sample
        unit: String,
        /// Freezer, rack, box, position
        location: String,
    },
    /// Labels of donations, batches (every unit and the retained sample) or units: print, or render to a file
    Label {
        /// Donations, batches or units
        #[arg(required = true)]
        ids: Vec<String>,
        /// What to render
        #[arg(long, default_value = "zpl", value_parser = one_of(&Format::ALL, Format::as_str))]
        format: Format,
        /// Write to FILE (one label), or into a directory as ID.FORMAT (several previews; a name with an
        /// extension is refused)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print (ZPL) on TARGET: tcp://HOST:PORT, lp:QUEUE, /dev/DEVICE, or a file as file:PATH; alone, on the
        /// configured printer
        #[allow(clippy::doc_markdown)] // clap shows this text as it is: no Markdown
        #[arg(long, value_name = "TARGET", num_args = 0..=1, default_missing_value = "")]
        print: Option<String>,
        /// Copies of each label
        #[arg(long, default_value_t = 1)]
        copies: u32,
        /// A template of labels.toml (or the policy's `label_templates` file)
        #[arg(long)]
        template: Option<String>,
        /// Why: required for a reprint
        #[arg(long)]
        reason: Option<String>,
    },
    /// Label verification: the text scanned from a printed label must be this unit
    VerifyLabel {
        /// The unit whose label was printed
        unit: String,
        /// What the scanner read from the label
        scanned: String,
    },
    /// The chain through any identifier, both ways
    Trace {
        /// A donor, donation, batch, unit or recipient
        id: String,
    },
    /// Find (and with --apply, quarantine and record) everything a recall affects
    Recall(RecallArgs),
    /// The audit trail
    #[command(subcommand)]
    Audit(Group<AuditCmd>),
    /// Integrity check: `SQLite`, foreign keys, the schema, stored values, the audit chain and every record
    Verify,
    /// An online, checked copy of the bank to FILE (benches may keep writing), recorded in the audit trail
    Backup {
        /// Where the copy goes (a new file)
        file: PathBuf,
    },
    /// Bring a backup back as the bank (--db): checked first, refused while the bank is in use; the bank it
    /// replaces and any leftover -wal/-shm are moved aside, never deleted
    Restore {
        /// The backup to bring back
        file: PathBuf,
    },
    /// Copy the whole bank (--db), audit trail included, into an empty PostgreSQL database or a new file: the
    /// bank must verify, the copy is verified and records itself in its audit trail
    Migrate {
        /// Where the copy goes: `postgres://USER@HOST/DB` (an empty database) or a new file
        #[arg(long, value_name = "TARGET")]
        to: PathBuf,
    },
    /// The bank's policy
    #[command(subcommand)]
    Config(Group<ConfigCmd>),
    /// Users, their roles and passwords (access control)
    #[command(subcommand)]
    User(Group<UserCmd>),
    /// Barcode scanners: what is attached, and a bench check that prints every scan
    #[command(subcommand)]
    Scanners(Group<ScannersCmd>),
    /// Follow-up after the transplant: visits, the due list, the study's record of a recipient
    #[command(subcommand)]
    Followup(Group<super::clinical::FollowupCmd>),
    /// Adverse events after the transplant
    #[command(subcommand)]
    Ae(Group<super::clinical::AeCmd>),
    /// The study's reports: outcomes, safety, donors, predictors
    #[command(subcommand)]
    Report(Group<super::clinical::ReportCmd>),
    /// Research exports: one CSV per table, or an HL7 FHIR R5 bundle
    #[command(subcommand)]
    Export(Group<super::clinical::ExportCmd>),
}

/// A group of subcommands (`donor`, `batch`, …) whose subcommands, flags and help texts clap builds only when the
/// command line names the group: built all at once, on every start, they were a sixth of a small answer's
/// instructions and some fifty of its page faults.
#[derive(Debug)]
pub struct Group<T>(pub T);

impl<T: FromArgMatches> FromArgMatches for Group<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Group)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
}

impl<T: Subcommand> Subcommand for Group<T> {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_subcommands)
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_subcommands_for_update)
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

#[derive(Debug, Subcommand)]
pub enum ScannersCmd {
    /// Serial ports and HID scanners present (with USB vendor/product ids), and the profiles
    List,
    /// Print each scan as it arrives (rejected reads and state changes on stderr) until interrupted
    Listen {
        /// A profile name (generic-serial, generic-hid, honeywell-xenon-serial, ...) or a .toml file
        profile: String,
        /// The scanner's device [default: the profile's]
        #[arg(long)]
        device: Option<String>,
        /// Serial speed [default: the profile's]
        #[arg(long)]
        baud: Option<u32>,
    },
}

/// What donors and recipients both have.
#[derive(Debug, Args)]
pub struct PersonArgs {
    /// Sex
    #[arg(long, value_parser = one_of(Sex::ALL, Sex::as_str))]
    pub sex: Sex,
    /// Date of birth
    #[arg(long, value_name = "DATE")]
    pub birth_date: String,
    /// Name (identity: kept apart, shown only to the policy's identity viewers)
    #[arg(long)]
    pub name: Option<String>,
    /// Phone number (identity)
    #[arg(long)]
    pub phone: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DonorCmd {
    /// Register a donor under a new pseudonymous code
    Add {
        #[command(flatten)]
        person: PersonArgs,
        /// National identity number (identity)
        #[arg(long)]
        national_id: Option<String>,
    },
    /// Record a screening and its results
    Screen {
        /// The donor screened
        donor: String,
        /// The screening panel
        #[arg(long, value_parser = one_of(ScreeningKind::ALL, ScreeningKind::as_str))]
        kind: ScreeningKind,
        /// When the samples were taken or the questionnaire answered
        #[arg(long, value_name = "DATE")]
        date: String,
        /// Every test of the configured panel negative (then --test overrides single tests)
        #[arg(long)]
        all_negative: bool,
        /// A result, NAME=negative|positive|indeterminate, NAME a test of the panel (repeatable)
        #[arg(long = "test", value_name = "NAME=RESULT", value_parser = named::<TestResult>)]
        tests: Vec<(String, TestResult)>,
        /// This screening corrects screening ID (a mis-keyed result), which then no longer counts
        #[arg(long, value_name = "ID")]
        corrects: Option<i64>,
    },
    /// Defer a donor, for a time or for good
    Defer {
        /// The donor deferred
        donor: String,
        /// Why (kept in the audit trail and shown with the donor's status)
        #[arg(long)]
        reason: String,
        /// The day the deferral ends (the donor may donate again from that day)
        #[arg(long, value_name = "DATE", conflicts_with = "permanent", required_unless_present = "permanent")]
        until: Option<String>,
        /// The donor may never donate again
        #[arg(long)]
        permanent: bool,
    },
    /// Lift the deferral a recall put on a donor (a quality manager's decision; audited with the reason)
    LiftDeferral {
        /// The donor a recall deferred
        donor: String,
        /// Why the deferral may end (kept in the audit trail)
        #[arg(long)]
        reason: String,
    },
    /// Status, eligibility and its reason, screenings, deferrals, donations
    Show {
        /// The donor
        donor: String,
        /// Show the donor's identity too (the policy's identity viewers only, whose sign-in unlocks it); the read is
        /// recorded in the audit trail
        #[arg(long)]
        identity: bool,
    },
    /// Every donor with status (with --limit, the first page)
    List {
        /// Only the first N donors in code order (a page: each donor's eligibility is worked out)
        #[arg(long)]
        limit: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DonationCmd {
    /// Record a donation (refused for a donor not eligible that day); prints its DIN
    Add {
        /// The donor who gave it
        donor: String,
        /// When it was collected
        #[arg(long, value_name = "TS")]
        collected_at: String,
        /// When the bank received it [default: when collected]
        #[arg(long, value_name = "TS")]
        received_at: Option<String>,
        /// Mass in grams
        #[arg(long, value_name = "N")]
        mass_g: Option<f64>,
        /// Bristol stool form scale, 1–7
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=7))]
        bristol: Option<u8>,
    },
    /// A donation, its status and its batches
    Show {
        /// The donation's DIN
        donation: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BatchCmd {
    /// Prepare a donation into a batch of N units (plus the retained sample); --at is when processing began
    Make {
        /// The donation's DIN
        donation: String,
        /// A product code of the policy (`config show` lists them)
        #[arg(long)]
        product: String,
        /// How many dispensable units (1–260); the retained sample comes with the donation's first batch
        #[arg(long)]
        units: usize,
        /// Volume of each unit, in mL (printed on its label)
        #[arg(long, value_name = "V")]
        volume_ml: Option<f64>,
    },
    /// A batch: status, every release rule ✓/✗, QC results, units and the retained sample
    Show {
        /// The batch
        batch: String,
        /// Print only the batch's dispensable units, one identifier a line (for scripts)
        #[arg(long)]
        units: bool,
    },
    /// Release from quarantine (refused unless every release rule holds)
    Release {
        /// The batch
        batch: String,
    },
    /// Discard a batch and every unit of it still in stock (a discarded batch is never released)
    Discard {
        /// The batch
        batch: String,
        /// Why (kept in the audit trail and shown with the batch)
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QcCmd {
    /// Record a QC result (a re-test supersedes the earlier result)
    Add {
        /// The batch tested
        batch: String,
        /// The result, NAME=pass|fail, NAME a QC test of the policy
        #[arg(long = "test", value_name = "NAME=pass|fail", value_parser = named::<QcResult>)]
        test: (String, QcResult),
        /// The measured value, as the lab reports it
        #[arg(long)]
        value: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecipientCmd {
    /// Register a recipient (patient) under a new pseudonymous code
    Add {
        #[command(flatten)]
        person: PersonArgs,
        /// Why the transplant: an indication of the policy (`config show` lists them)
        #[arg(long)]
        indication: String,
        /// Signed informed consent (prospective cohort), or consent to the use of data (retrospective)
        #[arg(long, default_value = "signed", value_parser = one_of(Consent::ALL, Consent::as_str))]
        consent: Consent,
        /// The study cohort [default: implied by the consent]
        #[arg(long, value_parser = one_of(Cohort::ALL, Cohort::as_str))]
        cohort: Option<Cohort>,
    },
    /// A recipient and every unit received
    Show {
        /// The recipient
        recipient: String,
        /// Show the recipient's identity too (as for `donor show --identity`); the read is audited
        #[arg(long)]
        identity: bool,
    },
    /// Every recipient (with --limit, the first page)
    List {
        /// Only the first N recipients in code order
        #[arg(long)]
        limit: Option<usize>,
    },
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("selector").required(true).args(["donor", "batch", "collected_from"]))]
pub struct RecallArgs {
    /// Everything collected from this donor (since --from)
    #[arg(long)]
    pub donor: Option<String>,
    /// With --donor: collection day from which to recall [default: the donor's last clean screening]
    #[arg(long, value_name = "DATE", requires = "donor")]
    pub from: Option<String>,
    /// One batch
    #[arg(long)]
    pub batch: Option<String>,
    /// Everything collected from this day (with --collected-to)
    #[arg(long, value_name = "DATE", requires = "collected_to")]
    pub collected_from: Option<String>,
    /// Everything collected up to this day (with --collected-from)
    #[arg(long, value_name = "DATE", requires = "collected_from")]
    pub collected_to: Option<String>,
    /// Why (recorded with the recall)
    #[arg(long)]
    pub reason: String,
    /// Quarantine every affected unit in stock and record the recall (without it nothing changes)
    #[arg(long)]
    pub apply: bool,
    /// Apply a recall once more although an earlier one named the same material (refused otherwise)
    #[arg(long, requires = "apply")]
    pub again: bool,
    /// A second user countersigns the recall applied (four eyes, when the bank's policy asks for it); their
    /// password from $`STOOLBANK_COUNTERSIGN_PASSWORD`, else asked without echo
    #[arg(long, value_name = "USER", requires = "apply")]
    pub countersign: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// The log, optionally of one record (and everything about it)
    Log {
        /// Only entries about this record
        id: Option<String>,
        /// At most this many entries, the newest
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Walk the hash chain and compare every record with its last audit entry (and the anchors, with --anchor)
    Verify {
        /// Check the chain against every signed checkpoint in this anchor log (with the bank key, a full check
        /// that finds nothing signs a verified checkpoint into it)
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
        /// Check only the entries after a checkpoint signed with the bank key (its entry number, or `last`: the
        /// newest verified one) and the records they wrote [anchor log default: as for `audit checkpoint`]
        #[arg(long, value_name = "ENTRY|last", value_parser = since)]
        since: Option<Since>,
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
    /// Print the bank's stored policy as TOML (the built-in defaults until one is set)
    Show,
    /// Store FILE (TOML) as the bank's policy, checked first (an administrator's act, audited)
    Set {
        /// The policy file (start from `config show`)
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user (the first user of a bank must be an admin); the password is asked on a terminal, else taken
    /// from $`STOOLBANK_NEW_PASSWORD`
    Add {
        /// The name the user signs in with (letters, digits, `.`, `_`, `-`)
        name: String,
        /// A role the user holds (repeatable)
        #[arg(long = "role", required = true, value_parser = one_of(Role::ALL, Role::as_str))]
        roles: Vec<Role>,
    },
    /// Change your own password, or (an admin) reset another user's; the new one as for `user add`
    Passwd {
        /// Whose password [default: the signed-in user's]
        name: Option<String>,
    },
    /// Disable a user: they can no longer sign in (nothing of theirs is deleted)
    Disable {
        /// The user
        name: String,
    },
    /// Enable a user again; also lifts a lockout after failed sign-ins
    Enable {
        /// The user
        name: String,
    },
    /// Give a user these roles (replacing theirs)
    SetRoles {
        /// The user
        name: String,
        /// A role the user holds (repeatable)
        #[arg(long = "role", required = true, value_parser = one_of(Role::ALL, Role::as_str))]
        roles: Vec<Role>,
    },
    /// Every user, with roles and state
    List,
    /// The access table: which roles may do each operation
    Roles,
}

/// `--since`: an entry number of a checkpoint, or `last` (the newest verified checkpoint).
fn since(s: &str) -> Result<Since, String> {
    if s == "last" {
        return Ok(Since::LastVerified);
    }
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Since::Checkpoint)
        .ok_or_else(|| format!("`{s}` is neither a checkpoint's entry number (1 or more) nor `last`"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every subcommand, flag and argument says what it is in `--help`.
    #[test]
    fn every_flag_and_subcommand_has_a_help_line() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let here = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(here.clone());
                }
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        let mut cli = Cli::command();
        cli.build();
        walk(&cli, "stoolbank", &mut missing);
        assert!(missing.is_empty(), "without a help line: {missing:?}");
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
