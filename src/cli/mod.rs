//! The scriptable command line: parses arguments, calls `app`, prints text or JSON. No rule lives here.

mod args;
mod clinical;
mod error;
mod output;
mod print;
mod users;

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use args::Cli;
use args::{
    AuditCmd, BatchCmd, Command, ConfigCmd, DemoScale, DonationCmd, DonorCmd, Group, QcCmd, RecallArgs, RecipientCmd,
    ScannersCmd, UserCmd,
};
pub use error::{report, usage_error, CliError};
pub use output::Out;

use crate::app::records::{BankSecret, Identity};
use crate::app::{self, Bank, NewDonation, NewDonor, NewRecipient, RecallSelector, ScreeningInput};
use crate::core::config::BenchPrefs;
use crate::core::ids::{Id, IdKind};
use crate::escape::{self, shown};
use crate::store::Stored;
use crate::time::{self, parse_date, parse_timestamp};

type Result<T> = std::result::Result<T, CliError>;

/// Where the database lives when neither --db nor $`STOOLBANK_DB` says.
pub fn default_db() -> PathBuf {
    data_dir().join("stoolbank.db")
}

pub fn demo_db() -> PathBuf {
    data_dir().join("demo.db")
}

/// Whether `--db` names a PostgreSQL server (`postgres://…`) rather than a file.
pub fn names_server(db: &Path) -> bool {
    crate::store::server_address(db).is_some()
}

/// Whether there is a bank at `db` to open: its file exists, or it is on a server (which says if it is not).
fn bank_exists(db: &Path) -> bool {
    names_server(db) || db.exists()
}

fn key_file(cli: &Cli) -> PathBuf {
    cli.key.clone().unwrap_or_else(BankSecret::default_path)
}

/// Whether a command changes the bank; every other command opens it read-only, so that it never waits behind
/// a writer and works on read-only media.
fn writes(command: &Command) -> bool {
    match command {
        // Reading identity is recorded in the audit trail: a write.
        Command::Donor(Group(c)) => matches!(
            c,
            DonorCmd::Add { .. }
                | DonorCmd::Screen { .. }
                | DonorCmd::Defer { .. }
                | DonorCmd::LiftDeferral { .. }
                | DonorCmd::Show { identity: true, .. }
        ),
        Command::Donation(Group(c)) => matches!(c, DonationCmd::Add { .. }),
        Command::Batch(Group(c)) => !matches!(c, BatchCmd::Show { .. }),
        Command::Recipient(Group(c)) => {
            matches!(c, RecipientCmd::Add { .. } | RecipientCmd::Show { identity: true, .. })
        }
        Command::Recall(a) => a.apply,
        Command::Label { print, .. } => print.is_some(),
        Command::Audit(Group(c)) => matches!(c, AuditCmd::Checkpoint { .. }),
        Command::Qc(Group(_))
        | Command::Dispense { .. }
        | Command::Locate { .. }
        | Command::VerifyLabel { .. }
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Init { .. }
        | Command::Demo { .. } => true,
        // The source is only read (in one snapshot); the copy is written elsewhere.
        Command::Trace { .. } | Command::Verify | Command::Scanners(Group(_)) | Command::Migrate { .. } => false,
        Command::Config(Group(c)) => matches!(c, ConfigCmd::Set { .. }),
        Command::User(Group(c)) => !matches!(c, UserCmd::List | UserCmd::Roles),
        Command::Followup(Group(c)) => {
            matches!(c, clinical::FollowupCmd::Add { .. } | clinical::FollowupCmd::Study { .. })
        }
        Command::Ae(Group(_)) => true,
        Command::Report(Group(_)) | Command::Export(Group(_)) => false,
    }
}

fn data_dir() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("stoolbank")
}

/// The anchor log `audit checkpoint` appends to unless told otherwise.
fn default_anchor_log() -> PathBuf {
    std::env::var_os("STOOLBANK_ANCHOR").map_or_else(|| data_dir().join("anchors.log"), PathBuf::from)
}

pub fn actor(cli: &Cli) -> String {
    cli.actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether a command is a signed act: the password given for the command signs it.
fn signs(command: &Command) -> bool {
    match command {
        Command::Batch(Group(c)) => matches!(c, BatchCmd::Release { .. } | BatchCmd::Discard { .. }),
        Command::Recall(a) => a.apply,
        Command::Dispense { .. } => true,
        Command::Donor(Group(DonorCmd::Screen { corrects, .. })) => corrects.is_some(),
        Command::Followup(Group(clinical::FollowupCmd::Add { corrects, .. })) => corrects.is_some(),
        _ => false,
    }
}

/// This bench's settings: --config / $`STOOLBANK_CONFIG`, else `stoolbank.toml` beside the database, else none. A
/// file that sets a rule of the bank's policy is refused, naming the keys.
pub fn load_bench(explicit: Option<&Path>, db: &Path) -> std::result::Result<BenchPrefs, String> {
    let beside = db.with_file_name("stoolbank.toml");
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if beside.exists() => beside,
        None => return Ok(BenchPrefs::default()),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    BenchPrefs::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn who(cli: &Cli) -> users::SignIn<'_> {
    users::SignIn { user: cli.actor.as_deref(), demo: cli.demo }
}

fn at(cli: &Cli) -> Result<DateTime<Utc>> {
    Ok(match &cli.at {
        Some(s) => {
            let t = parse_timestamp(s)?;
            // Any moment may be a view's "as of", but not one before 1900: that is a typing error.
            crate::core::input::since_earliest_year("--at time", t).map_err(|e| CliError::App(e.into()))?;
            t
        }
        None => time::now(),
    })
}

fn emit<T: Serialize>(out: &mut dyn Write, json: bool, value: &T, text: impl FnOnce() -> String) -> Result<()> {
    if json {
        escape::write_json(out, value).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", text())?;
    }
    // Printed whole, each unreadable stored value marked in its place; the exit code tells a script so.
    match crate::store::malformed_in(value) {
        0 => Ok(()),
        n => Err(CliError::Incomplete(n)),
    }
}

/// Runs one command against the database. `out` receives stdout; errors are returned for `main` to print.
pub fn run(cli: &Cli, db: &Path, out: &mut Out<'_>) -> Result<()> {
    let Some(command) = &cli.command else {
        return Err(CliError::Usage("no command given; see --help".into()));
    };
    let bench = load_bench(cli.config.as_deref(), db).map_err(CliError::Usage)?;
    let name = actor(cli);
    let json = cli.json;
    match command {
        Command::Init { facility } => {
            let mut bank = Bank::create(db, bench, &name)?;
            users::sign_in(&mut bank, &who(cli), false)?;
            bank.initialize(facility.as_deref())?;
            bank.use_key_file(&key_file(cli), true)?;
            let facility = bank.facility()?;
            emit(out, json, &serde_json::json!({"db": db, "facility": facility.as_str()}), || {
                format!("{} (facility {})", shown(&db.display().to_string()), facility.as_str())
            })
        }
        Command::Demo { seed, scale } => {
            let summary = match scale {
                None => crate::demo::create(db, &key_file(cli), bench, &name, *seed)?,
                Some(size) => {
                    let scale = match size {
                        DemoScale::Large => crate::demo::Scale::LARGE,
                        DemoScale::Medium => crate::demo::Scale::MEDIUM,
                    };
                    // On stderr, hidden by indicatif when stderr is not a terminal.
                    let progress = indicatif::ProgressBar::new(0).with_style(
                        indicatif::ProgressStyle::with_template(
                            "{msg:>9} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} (eta {eta})",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    let scale = crate::demo::Scale { seed: *seed, ..scale };
                    crate::demo::create_scaled(db, &key_file(cli), bench, &name, scale, crate::time::now(), &progress)?
                }
            };
            emit(out, json, &summary, || {
                let open = reopen(cli, db);
                // The demo bank has users: naming the file alone no longer opens it.
                let open = if summary.users.is_empty() || cli.demo {
                    open
                } else {
                    format!("{open} --as {}", crate::demo::DEMO_DEFAULT_USER)
                };
                format!("{summary}\n{open}")
            })
        }
        // The defaults, before there is a bank: a starting point for its policy.
        Command::Config(Group(ConfigCmd::Show)) if !bank_exists(db) => {
            write!(out, "{}", crate::core::config::Config::default().to_toml())?;
            Ok(())
        }
        Command::User(Group(UserCmd::Roles)) => users::roles(out, json),
        Command::Scanners(Group(ScannersCmd::List)) => Ok(scanners::cli::list(out, json)?),
        Command::Scanners(Group(ScannersCmd::Listen { profile, device, baud })) => {
            // Runs until interrupted (Ctrl-C ends the process) or until the reader of stdout has gone.
            let stop = out.closed();
            let mut err = std::io::stderr();
            Ok(scanners::cli::listen(profile, device.as_deref(), *baud, json, out, &mut err, stop)?)
        }
        Command::Restore { file } => {
            let current = if bank_exists(db) {
                let mut bank = Bank::open_read_only(db, bench.clone(), &name)?;
                users::sign_in(&mut bank, &who(cli), false)?;
                Some(bank)
            } else {
                None
            };
            let (_, r) = app::integrity::restore(file, db, bench, &name, current)?;
            emit(out, json, &r, || print::restored(db, &r))
        }
        other => {
            let on_bank = || {
                let mut bank =
                    if writes(other) { Bank::open(db, bench, &name)? } else { Bank::open_read_only(db, bench, &name)? };
                users::sign_in(&mut bank, &who(cli), signs(other))?;
                if let Command::Recall(RecallArgs { countersign: Some(second), .. }) = other {
                    users::countersign(&mut bank, second)?;
                }
                bank.use_key_file(&key_file(cli), writes(other))?;
                run_on(&mut bank, cli, other, out)
            };
            on_bank().map_err(|e| e.on_file(db))
        }
    }
}

fn run_on(bank: &mut Bank, cli: &Cli, command: &Command, out: &mut dyn Write) -> Result<()> {
    let json = cli.json;
    let at = at(cli)?;
    match command {
        Command::Init { .. } | Command::Demo { .. } | Command::Scanners(Group(_)) | Command::Restore { .. } => {
            unreachable!("handled by run")
        }
        Command::Config(Group(cmd)) => users::config(bank, cmd, json, at, out),
        Command::User(Group(cmd)) => users::user(bank, cmd, json, at, out),
        Command::Donor(Group(cmd)) => match cmd {
            DonorCmd::Add { person, national_id } => {
                let identity = Identity {
                    name: person.name.clone(),
                    phone: person.phone.clone(),
                    national_id: national_id.clone(),
                };
                let new = NewDonor { sex: person.sex, birth_date: parse_date(&person.birth_date)?, identity };
                let d = bank.register_donor(new, at)?;
                emit(out, json, &d, || d.id.to_string())
            }
            DonorCmd::Screen { donor, kind, date, all_negative, tests, corrects } => {
                let donor = bank.lookup_kind(donor, IdKind::Donor)?;
                let input = ScreeningInput { all_negative: *all_negative, tests: tests.clone() };
                let r = bank.correct_screening(&donor, *kind, parse_date(date)?, &input, *corrects, at)?;
                if let Some(d) = &r.deferral {
                    eprintln!("donor {} deferred: {}", donor, shown(&d.reason));
                } else if !r.complete {
                    eprintln!(
                        "note: the {} screening is incomplete; it does not count until every test has a result",
                        r.kind
                    );
                }
                emit(out, json, &r, || r.id.to_string())
            }
            DonorCmd::Defer { donor, reason, until, permanent } => {
                let donor = bank.lookup_kind(donor, IdKind::Donor)?;
                let until = until.as_deref().map(parse_date).transpose()?;
                let d = bank.defer_donor(&donor, reason, until, *permanent, at)?;
                emit(out, json, &d, || d.id.to_string())
            }
            DonorCmd::LiftDeferral { donor, reason } => {
                let donor = bank.lookup_kind(donor, IdKind::Donor)?;
                let lifted = bank.lift_deferral(&donor, reason, at)?;
                emit(out, json, &lifted, || {
                    lifted
                        .iter()
                        .map(|d| format!("lifted deferral {}: {}", d.id, d.reason))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            DonorCmd::Show { donor, identity } => {
                let donor = bank.lookup_kind(donor, IdKind::Donor)?;
                let mut v = bank.donor_view(&donor, at)?;
                if *identity {
                    v.identity = Some(bank.donor_identity(&donor)?);
                }
                emit(out, json, &v, || print::donor(&v))
            }
            DonorCmd::List { limit } => {
                let all = match limit {
                    Some(n) => bank.donors(None, *n, at)?,
                    None => bank.all_donors(at)?,
                };
                emit(out, json, &all, || print::donor_list(&all))
            }
        },
        Command::Donation(Group(cmd)) => match cmd {
            DonationCmd::Add { donor, collected_at, received_at, mass_g, bristol } => {
                let donor = bank.lookup_kind(donor, IdKind::Donor)?;
                let new = NewDonation {
                    donor,
                    collected_at: parse_timestamp(collected_at)?,
                    received_at: received_at.as_deref().map(parse_timestamp).transpose()?,
                    mass_g: *mass_g,
                    bristol: *bristol,
                };
                let d = bank.add_donation(new)?;
                emit(out, json, &d, || d.id.to_string())
            }
            DonationCmd::Show { donation } => {
                let id = bank.lookup_kind(donation, IdKind::Donation)?;
                let d = bank.donation_view(&id)?;
                emit(out, json, &d, || print::donation(&d))
            }
        },
        Command::Batch(Group(cmd)) => match cmd {
            BatchCmd::Make { donation, product, units, volume_ml } => {
                let id = bank.lookup_kind(donation, IdKind::Donation)?;
                let b = bank.make_batch(&id, product, *units, *volume_ml, at)?;
                if let Some(c) = b.release_checks.ok().and_then(|c| crate::core::rules::never_releasable(c)) {
                    eprintln!("warning: this batch can never be released: {}", shown(&c.detail));
                }
                emit(out, json, &b, || b.id.to_string())
            }
            BatchCmd::Show { batch, units } => {
                let id = bank.lookup_kind(batch, IdKind::Batch)?;
                let b = bank.batch_view(&id, at)?;
                if *units {
                    let ids: Vec<&Stored<Id>> = b.units.iter().map(|u| &u.id).collect();
                    emit(out, json, &ids, || ids.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
                } else {
                    emit(out, json, &b, || print::batch(&b))
                }
            }
            BatchCmd::Release { batch } => {
                let id = bank.lookup_kind(batch, IdKind::Batch)?;
                let b = bank.release_batch(&id, at)?;
                emit(out, json, &b, || b.id.to_string())
            }
            BatchCmd::Discard { batch, reason } => {
                let id = bank.lookup_kind(batch, IdKind::Batch)?;
                let b = bank.discard_batch(&id, reason, at)?;
                emit(out, json, &b, || b.id.to_string())
            }
        },
        Command::Qc(Group(QcCmd::Add { batch, test: (name, result), value })) => {
            let id = bank.lookup_kind(batch, IdKind::Batch)?;
            let b = bank.add_qc(&id, name, *result, value.as_deref(), at)?;
            if let Some(missing) = b.qc_missing.ok().filter(|m| !m.is_empty()) {
                eprintln!("QC still without a pass: {}", shown(&missing.join(", ")));
            }
            emit(out, json, &b, || b.id.to_string())
        }
        Command::Recipient(Group(cmd)) => match cmd {
            RecipientCmd::Add { person, indication, consent, cohort } => {
                let new = NewRecipient {
                    sex: person.sex,
                    birth_date: parse_date(&person.birth_date)?,
                    indication: indication.clone(),
                    consent: *consent,
                    cohort: *cohort,
                    identity: Identity { name: person.name.clone(), phone: person.phone.clone(), national_id: None },
                };
                let r = bank.register_recipient(new, at)?;
                emit(out, json, &r, || r.id.to_string())
            }
            RecipientCmd::Show { recipient, identity } => {
                let id = bank.lookup_kind(recipient, IdKind::Recipient)?;
                let mut r = bank.recipient_view(&id, at)?;
                if *identity {
                    r.identity = Some(bank.recipient_identity(&id)?);
                }
                emit(out, json, &r, || print::recipient(&r))
            }
            RecipientCmd::List { limit } => {
                let all = match limit {
                    Some(n) => bank.recipients(None, *n)?,
                    None => bank.all_recipients()?,
                };
                emit(out, json, &all, || print::recipient_list(&all))
            }
        },
        Command::Dispense { unit, recipient, route, clinician, happened: _, reason } => {
            let u = bank.lookup_kind(unit, IdKind::Unit)?;
            let r = bank.lookup_kind(recipient, IdKind::Recipient)?;
            // clap makes --happened and --reason go together.
            let v = match reason {
                Some(why) => bank.dispense_happened(&u, &r, route, clinician.as_deref(), why, at)?,
                None => bank.dispense(&u, &r, route, clinician.as_deref(), at)?,
            };
            emit(out, json, &v, || v.id.to_string())
        }
        Command::Locate { unit, location } => {
            let u = bank.lookup_kind(unit, IdKind::Unit)?;
            let v = bank.set_location(&u, location, at)?;
            emit(out, json, &v, || v.id.to_string())
        }
        Command::Label { ids, format, out: file, print, copies, template, reason } => {
            let format = *format;
            let ids = ids.iter().map(|i| bank.lookup(i)).collect::<app::Result<Vec<_>>>()?;
            if let Some(target) = print {
                if format != crate::labels::Format::Zpl {
                    return Err(CliError::Usage("printers take ZPL: drop --format, or use --out for a preview".into()));
                }
                for id in &ids {
                    let p = bank.print_labels(id, Some(target), template.as_deref(), *copies, reason.as_deref(), at)?;
                    emit(out, json, &p, || p.to_string())?;
                }
                return Ok(());
            }
            let mut rendered = Vec::new();
            let mut warnings: Vec<String> = Vec::new();
            for id in &ids {
                let r = bank.render_labels(id, format, template.as_deref(), *copies, at)?;
                warnings.extend(r.warnings.into_iter().filter(|w| !warnings.contains(w)).collect::<Vec<_>>());
                rendered.extend(r.labels);
            }
            write_labels(out, file.as_deref(), format, &rendered)?;
            for w in &warnings {
                eprintln!("warning: {}", shown(w));
            }
            Ok(())
        }
        Command::VerifyLabel { unit, scanned } => {
            let u = bank.lookup_kind(unit, IdKind::Unit)?;
            let v = bank.verify_label(&u, scanned, at)?;
            emit(out, json, &v, || format!("{} label verified", v.id))
        }
        Command::Trace { id } => {
            let id = bank.lookup(id)?;
            let t = bank.trace(&id, at)?;
            emit(out, json, &t, || print::trace(&t))
        }
        Command::Recall(args) => {
            let selector = recall_selector(bank, args)?;
            let r = bank.recall(&selector, &args.reason, args.apply, args.again, at)?;
            emit(out, json, &r, || print::recall(&r))
        }
        Command::Audit(Group(AuditCmd::Log { id, limit })) => {
            let id = id.as_deref().map(|i| bank.lookup(i)).transpose()?;
            let entries = bank.audit_log(id.as_ref(), *limit)?;
            emit(out, json, &entries, || print::audit_log(&entries))
        }
        Command::Audit(Group(AuditCmd::Verify { anchor, since })) => {
            let secret = BankSecret::load(&key_file(cli))?;
            // An incremental check starts from a checkpoint, so it reads the anchor log `audit checkpoint` writes.
            let anchor = anchor.clone().or_else(|| since.map(|_| default_anchor_log()));
            let v = bank.audit_verify_against(anchor.as_deref(), secret.as_ref(), *since)?;
            emit(out, json, &v, || print::verification(&v))?;
            match v.findings.first() {
                Some(f) => Err(CliError::Findings(format!("audit verify: {}", f.what))),
                None => Ok(()),
            }
        }
        Command::Followup(Group(cmd)) => clinical::followup(bank, cmd, json, at, out),
        Command::Ae(Group(cmd)) => clinical::ae(bank, cmd, json, at, out),
        Command::Report(Group(cmd)) => clinical::report(bank, cmd, json, at, out),
        Command::Export(Group(cmd)) => clinical::export(bank, cmd, json, at, out),
        Command::Audit(Group(AuditCmd::Checkpoint { anchor })) => {
            let log = anchor.clone().unwrap_or_else(default_anchor_log);
            let a = bank.checkpoint(&BankSecret::load_or_create(&key_file(cli))?, &log)?;
            emit(out, json, &a, || {
                format!(
                    "checkpoint: entry {} ({}) signed, appended to {}",
                    a.seq,
                    a.hash,
                    shown(&log.display().to_string())
                )
            })
        }
        Command::Backup { file } => {
            let r = bank.backup(file)?;
            emit(out, json, &r, || {
                format!(
                    "{}: {} bytes, audit entries to {} ({}); checked",
                    shown(&r.file.display().to_string()),
                    r.bytes,
                    r.head_seq,
                    r.head_hash
                )
            })
        }
        Command::Migrate { to } => {
            // On stderr, hidden by indicatif when stderr is not a terminal.
            let progress = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "copying [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} rows (eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let key = key_file(cli);
            let copied = bank.copy_to(to, Some(&key), &mut |done, total| {
                progress.set_length(total);
                progress.set_position(done);
            });
            progress.finish_and_clear();
            let c = copied?;
            emit(out, json, &c, || {
                format!(
                    "{}: {} rows of {} tables copied from {}, verified; audit entry {} records the copy, chained to \
                     entry {} ({})",
                    shown(&c.to),
                    c.rows,
                    c.tables.len(),
                    shown(&c.from),
                    c.copy_seq,
                    c.head_seq,
                    c.head_hash
                ) + &c.leftover.as_ref().map_or_else(String::new, |f| {
                    format!(
                        "\nthe temporary file {} could not be removed: the copy is whole under its name; remove it",
                        shown(&f.display().to_string())
                    )
                })
            })
        }
        Command::Verify => {
            let v = bank.verify()?;
            emit(out, json, &v, || print::integrity(&v))?;
            if v.is_sound() {
                Ok(())
            } else {
                Err(CliError::Findings("verify found problems (listed above)".into()))
            }
        }
    }
}

/// One label to a file or stdout; several ZPL labels concatenate; several images go into a directory.
/// Writes rendered labels: ZPL, or a single preview, to stdout or to FILE; several previews into a directory,
/// one `ID.FORMAT` file each, named on stdout. A file name with an extension for several previews is refused:
/// it reads as one file, and quietly making a directory of that name would surprise.
fn write_labels(
    stdout: &mut dyn Write,
    file: Option<&Path>,
    format: crate::labels::Format,
    rendered: &[(crate::core::ids::Id, Vec<u8>)],
) -> Result<()> {
    let joined = || rendered.iter().flat_map(|(_, b)| b.iter().copied()).collect::<Vec<u8>>();
    let several = rendered.len() > 1 && format != crate::labels::Format::Zpl;
    match file {
        None if several => Err(CliError::Usage(format!(
            "{} labels: give --out DIRECTORY for {} previews (one file per label)",
            rendered.len(),
            format.as_str()
        ))),
        None => Ok(stdout.write_all(&joined())?),
        Some(path) if several && !path.is_dir() && path.extension().is_some() => Err(CliError::Usage(format!(
            "{} labels: --out {} names one file, but each {} preview is a file of its own; give a directory \
             (e.g. --out {}) and each label is written there as ID.{}",
            rendered.len(),
            path.display(),
            format.as_str(),
            path.with_extension("").display(),
            format.as_str()
        ))),
        Some(dir) if several => {
            std::fs::create_dir_all(dir)?;
            for (id, bytes) in rendered {
                let file = dir.join(format!("{}.{}", id.display(), format.as_str()));
                std::fs::write(&file, bytes)?;
                writeln!(stdout, "{}", shown(&file.display().to_string()))?;
            }
            Ok(())
        }
        Some(path) => Ok(std::fs::write(path, joined())?),
    }
}

fn recall_selector(bank: &mut Bank, a: &RecallArgs) -> Result<RecallSelector> {
    if let Some(donor) = &a.donor {
        let donor = bank.lookup_kind(donor, IdKind::Donor)?;
        return Ok(RecallSelector::Donor { donor, from: a.from.as_deref().map(parse_date).transpose()? });
    }
    if let Some(batch) = &a.batch {
        return Ok(RecallSelector::Batch(bank.lookup_kind(batch, IdKind::Batch)?));
    }
    match (&a.collected_from, &a.collected_to) {
        (Some(f), Some(t)) => Ok(RecallSelector::CollectionWindow { from: parse_date(f)?, to: parse_date(t)? }),
        _ => Err(CliError::Usage("choose --donor, --batch, or --collected-from with --collected-to".into())),
    }
}

/// No command: the TUI on a terminal; otherwise (piped, scripted) an overview of the bank. With --demo, the
/// demo bank is created first when missing, and the overview walks a newcomer through a trace and a recall.
pub fn bench(cli: &Cli, db: &Path, out: &mut Out<'_>) -> Result<()> {
    let bench = load_bench(cli.config.as_deref(), db).map_err(CliError::Usage)?;
    let name = actor(cli);
    if cli.demo && !db.exists() {
        eprintln!("creating the demo bank at {} ...", shown(&db.display().to_string()));
        let summary = crate::demo::create(db, &key_file(cli), bench.clone(), &name, 2019)?;
        eprintln!("{summary}");
    }
    // Piped or scripted: an overview, which only reads.
    if !(std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::io::IsTerminal::is_terminal(&std::io::stdin())) {
        let mut bank = Bank::open_read_only(db, bench, &name)?;
        users::sign_in(&mut bank, &who(cli), false)?;
        return overview(cli, bank, db, out);
    }
    // The TUI signs in on its own screen (`--as` typed in advance there); the demo's published password signs its
    // default user in at once.
    let mut bank = Bank::open(db, bench, &name)?;
    if cli.demo && cli.actor.is_none() {
        users::sign_in(&mut bank, &who(cli), false)?;
    }
    bank.use_key_file(&key_file(cli), true)?;
    let options = crate::tui::TuiOptions {
        db_label: db.display().to_string(),
        user: cli.actor.clone(),
        scanner: cli.scanner.clone().map(|p| (p, cli.scanner_device.clone())),
    };
    crate::tui::run(bank, options)?;
    if cli.demo {
        eprintln!("{}", reopen(cli, db));
    }
    Ok(())
}

/// How to come back to this bank: `--demo` finds the demo bank again; any other bank by its file.
fn reopen(cli: &Cli, db: &Path) -> String {
    if cli.demo {
        format!("open the demo bank again with: stoolbank --demo   (its file: {})", shown(&db.display().to_string()))
    } else {
        format!("open this bank with: stoolbank --db {}", quoted(&db.display().to_string()))
    }
}

/// A word as it can be pasted into a shell: quoted when the shell would read it otherwise (an identifier
/// whose check character is `*` would be a glob).
fn quoted(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", shown(&word.replace('\'', r"'\''")))
    }
}

fn overview(cli: &Cli, mut bank: Bank, db: &Path, out: &mut dyn Write) -> Result<()> {
    let who = bank.actor().to_string();
    let at = at(cli)?;
    let c = bank.counts(at)?;
    writeln!(
        out,
        "stoolbank  {}  (facility {}, acting as {})",
        shown(&db.display().to_string()),
        bank.facility()?.as_str(),
        shown(&who)
    )?;
    writeln!(
        out,
        "{} donors, {} donations, {} batches ({} in quarantine), {} units in stock, {} dispensed to {} recipients, {} recalls",
        c.donors, c.donations, c.batches, c.batches_in_quarantine, c.units_in_stock, c.units_dispensed, c.recipients, c.recalls
    )?;
    let (unit, recalled) = bank.examples()?;
    if let Some(unit) = unit {
        writeln!(out, "\n$ stoolbank trace {}", quoted(&unit.display()))?;
        writeln!(out, "{}", print::trace(&bank.trace(&unit, at)?))?;
    }
    if let Some(subject) = recalled {
        let selector = match subject.kind() {
            IdKind::Batch => RecallSelector::Batch(subject.clone()),
            _ => RecallSelector::Donor { donor: subject.clone(), from: None },
        };
        let flag = if subject.kind() == IdKind::Batch { "--batch" } else { "--donor" };
        writeln!(out, "\n$ stoolbank recall {flag} {} --reason \"look-back\"", quoted(&subject.display()))?;
        writeln!(out, "{}", print::recall(&bank.recall(&selector, "look-back", false, false, at)?))?;
    }
    writeln!(out, "\nstoolbank --help lists every command; README.md walks through the chain.")?;
    if cli.demo {
        writeln!(out, "{}", reopen(cli, db))?;
    }
    Ok(())
}
