//! The clinical commands: follow-up visits and the due list, adverse events, the study's reports and research
//! exports. Parsing and printing only; every rule is in `core`, every operation in `app`.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Subcommand, ValueEnum};

use super::args::one_of;
use super::{emit, CliError, Result};
use crate::app::{Bank, GroupBy, NewAdverseEvent, OutcomeRow, Period, StudyUpdate, VisitInput};
use crate::core::followup::{ExclusionGround, Outcome, Relatedness, Timepoint};
use crate::core::ids::IdKind;
use crate::time::{local_day, parse_date};

/// Declares a command-line choice without a domain enumeration of its own text form (clap's `ValueEnum`).
macro_rules! choice {
    ($name:ident => $target:ty { $($var:ident = $s:literal => $to:expr),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
        pub enum $name { $(#[value(name = $s)] $var),+ }
        impl From<$name> for $target {
            fn from(v: $name) -> $target {
                match v { $($name::$var => $to),+ }
            }
        }
    };
}

choice!(YesNo => bool { Yes = "yes" => true, No = "no" => false });
choice!(GroupByArg => GroupBy {
    Indication = "indication" => GroupBy::Indication,
    Route = "route" => GroupBy::Route,
    Donor = "donor" => GroupBy::Donor,
    Cohort = "cohort" => GroupBy::Cohort,
    Product = "product" => GroupBy::Product,
});

#[derive(Debug, Subcommand)]
pub enum FollowupCmd {
    /// Record a follow-up visit on the day of --at (a visit outside its window is kept, with a warning)
    Add {
        /// The recipient (R… code)
        recipient: String,
        /// Time point after the first FMT of the course
        #[arg(long, value_parser = one_of(Timepoint::ALL, Timepoint::as_str))]
        timepoint: Timepoint,
        /// Clinical outcome at the visit
        #[arg(long, value_parser = one_of(Outcome::ALL, Outcome::as_str))]
        outcome: Outcome,
        /// A disease or quality-of-life score, NAME=VALUE (repeatable), e.g. mayo=2, qol=78
        #[arg(long = "score", value_name = "NAME=VALUE", value_parser = score)]
        scores: Vec<(String, String)>,
        /// This visit corrects visit ID, which then no longer counts
        #[arg(long, value_name = "ID")]
        corrects: Option<i64>,
    },
    /// Every visit due or overdue by a date, with its window
    Due {
        /// [default: today]
        #[arg(long, value_name = "DATE")]
        by: Option<String>,
    },
    /// The recipient's study record, eligibility, courses, visits and adverse events
    Show {
        /// The recipient (R… code)
        recipient: String,
    },
    /// The study's record of a recipient: diagnosis date, prior therapies, exclusion with its reason
    Study {
        /// The recipient (R… code)
        recipient: String,
        /// When the indication was diagnosed
        #[arg(long, value_name = "DATE")]
        diagnosis_date: Option<String>,
        /// Treatments before the FMT (free text, any language)
        #[arg(long, value_name = "TEXT")]
        prior_therapies: Option<String>,
        /// Exclude from the study's analysis (needs --reason)
        #[arg(long, value_parser = one_of(ExclusionGround::ALL, ExclusionGround::as_str), requires = "reason", conflicts_with = "include")]
        exclude: Option<ExclusionGround>,
        /// Why the recipient is excluded
        #[arg(long, value_name = "TEXT", requires = "exclude")]
        reason: Option<String>,
        /// Lift an exclusion
        #[arg(long)]
        include: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AeCmd {
    /// Record an adverse event; a serious one probably or definitely related to a unit is a safety signal
    Add {
        /// The recipient (R… code)
        recipient: String,
        /// When the event began
        #[arg(long, value_name = "DATE")]
        onset: String,
        /// What happened (free text, any language)
        #[arg(long)]
        term: String,
        /// CTCAE grade
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
        grade: u8,
        /// Serious (hospitalisation, disability, life-threatening, death)
        #[arg(long, value_enum)]
        serious: YesNo,
        /// How likely the transplant caused it
        #[arg(long, value_parser = one_of(Relatedness::ALL, Relatedness::as_str))]
        relatedness: Relatedness,
        /// The unit suspected
        #[arg(long)]
        unit: Option<String>,
        /// How it ended (free text), e.g. recovered
        #[arg(long, value_name = "TEXT")]
        outcome: Option<String>,
        /// When it resolved
        #[arg(long, value_name = "DATE")]
        resolved: Option<String>,
        /// This record corrects adverse event ID, which then no longer counts
        #[arg(long, value_name = "ID")]
        corrects: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCmd {
    /// Remission at each time point by group, with 95% Wilson intervals
    Outcomes {
        /// What the rows are grouped by
        #[arg(long, value_enum, default_value = "indication")]
        by: GroupByArg,
        /// First FMT from this day
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// First FMT up to this day
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// CSV on stdout
        #[arg(long)]
        csv: bool,
    },
    /// Adverse-event incidence per patient and per session, by grade, seriousness and relatedness
    Safety {
        /// Treatments and events from this day
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Treatments and events up to this day
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
    },
    /// Remission by donor with intervals; flags a donor whose interval lies off the overall rate
    Donors {
        /// The time point whose remission is counted
        #[arg(long, default_value = "3m", value_parser = one_of(Timepoint::ALL, Timepoint::as_str))]
        timepoint: Timepoint,
    },
    /// Logistic regression of remission: odds ratios, 95% Wald intervals, p-values
    Predictors {
        /// The time point whose remission is counted
        #[arg(long, default_value = "3m", value_parser = one_of(Timepoint::ALL, Timepoint::as_str))]
        timepoint: Timepoint,
        /// Comma-separated: route, indication, age, sex, donor, product, cohort
        #[arg(long, value_delimiter = ',', default_value = "route,indication,age,sex,donor")]
        terms: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCmd {
    /// One CSV per table (identity excluded) into DIR
    Csv {
        /// Directory for the files (created if missing)
        dir: PathBuf,
    },
    /// An HL7 FHIR R5 Bundle (collection) of patients, products, dispenses, outcomes and adverse events
    Fhir {
        /// The JSON file to write
        file: PathBuf,
    },
}

/// `NAME=VALUE`, split here; the core judges the name and the number.
fn score(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not NAME=VALUE (e.g. mayo=2)")),
    }
}

fn period(from: Option<&str>, to: Option<&str>) -> Result<Period> {
    let p = Period { from: from.map(parse_date).transpose()?, to: to.map(parse_date).transpose()? };
    if let (Some(f), Some(t)) = (p.from, p.to) {
        if f > t {
            return Err(CliError::Usage(format!("--from {f} is after --to {t}")));
        }
    }
    Ok(p)
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "–".into())
}

pub fn followup(bank: &mut Bank, cmd: &FollowupCmd, json: bool, at: DateTime<Utc>, out: &mut dyn Write) -> Result<()> {
    match cmd {
        FollowupCmd::Add { recipient, timepoint, outcome, scores, corrects } => {
            let id = bank.lookup_kind(recipient, IdKind::Recipient)?;
            let input =
                VisitInput { timepoint: *timepoint, outcome: *outcome, scores: scores.clone(), corrects: *corrects };
            let v = bank.add_followup(&id, input, at)?;
            if !v.in_window {
                eprintln!(
                    "warning: this {} visit on {} is outside its window {} – {} (due {}); recorded, and flagged in reports",
                    v.visit.timepoint, v.visit.date, v.window.from, v.window.to, v.window.due
                );
            }
            emit(out, json, &v, || v.visit.id.to_string())
        }
        FollowupCmd::Due { by } => {
            let by = match by {
                Some(d) => parse_date(d)?,
                None => local_day(at),
            };
            let due = bank.followups_due(by)?;
            // Serialized from the list itself: a JSON tree of a national bank's work list would take ten times
            // its memory.
            #[derive(serde::Serialize)]
            struct Due<'a> {
                due: &'a [crate::app::DueVisit],
            }
            emit(out, json, &Due { due: &due }, || {
                if due.is_empty() {
                    return format!("no follow-up visit due by {by}");
                }
                due.iter()
                    .map(|d| {
                        let late = match d.overdue_days {
                            0 => "due".to_string(),
                            n => format!("{n} days overdue"),
                        };
                        format!(
                            "{}  {:<6} {:<3} due {}  window {} – {}  {late}",
                            d.recipient, d.indication, d.timepoint, d.due, d.window_from, d.window_to
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        FollowupCmd::Show { recipient } => {
            let id = bank.lookup_kind(recipient, IdKind::Recipient)?;
            let v = bank.clinical_view(&id)?;
            emit(out, json, &v, || {
                let mut s = format!(
                    "{}  {}  born {}  {}  {} cohort\nstudy: {}",
                    v.recipient.id,
                    v.recipient.sex,
                    v.recipient.birth_date,
                    v.recipient.indication,
                    v.recipient.cohort,
                    if v.eligibility.eligible { "eligible".into() } else { v.eligibility.reasons.join("; ") }
                );
                if let Some(st) = &v.study {
                    if let Some(d) = st.diagnosis_date {
                        let _ = write!(s, "\ndiagnosed {d}");
                    }
                    if let Some(p) = &st.prior_therapies {
                        let _ = write!(s, "\nprior therapies: {p}");
                    }
                }
                for c in &v.courses {
                    let _ =
                        write!(s, "\ncourse from {}: {} sessions, {} units", c.start, c.sessions, c.dispenses.len());
                }
                for f in &v.followups {
                    let flag = if f.in_window { "" } else { "  (out of window)" };
                    let scores: Vec<String> = f.visit.scores.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let _ = write!(
                        s,
                        "\n{} visit {} on {}: {} {}{flag}",
                        f.visit.timepoint,
                        f.visit.id,
                        f.visit.date,
                        f.visit.outcome,
                        scores.join(" ")
                    );
                }
                for e in &v.adverse_events {
                    let _ = write!(
                        s,
                        "\nadverse event {} from {}: {} (grade {}, {}, {}){}",
                        e.id,
                        e.onset,
                        e.term,
                        e.grade,
                        if e.serious { "serious" } else { "not serious" },
                        e.relatedness,
                        e.unit.as_ref().map(|u| format!(", unit {u}")).unwrap_or_default()
                    );
                }
                s
            })
        }
        FollowupCmd::Study { recipient, diagnosis_date, prior_therapies, exclude, reason, include } => {
            let id = bank.lookup_kind(recipient, IdKind::Recipient)?;
            let update = StudyUpdate {
                diagnosis_date: diagnosis_date.as_deref().map(parse_date).transpose()?,
                prior_therapies: prior_therapies.clone(),
                exclude: exclude.map(|g| (g, reason.clone().unwrap_or_default())),
                include: *include,
            };
            let s = bank.record_study(&id, update, at)?;
            emit(out, json, &s, || s.id.to_string())
        }
    }
}

pub fn ae(bank: &mut Bank, cmd: &AeCmd, json: bool, at: DateTime<Utc>, out: &mut dyn Write) -> Result<()> {
    let AeCmd::Add { recipient, onset, term, grade, serious, relatedness, unit, outcome, resolved, corrects } = cmd;
    let id = bank.lookup_kind(recipient, IdKind::Recipient)?;
    let unit = unit.as_deref().map(|u| bank.lookup_kind(u, IdKind::Unit)).transpose()?;
    let new = NewAdverseEvent {
        onset: parse_date(onset)?,
        term: term.clone(),
        grade: *grade,
        serious: (*serious).into(),
        relatedness: *relatedness,
        unit,
        outcome: outcome.clone(),
        resolved_on: resolved.as_deref().map(parse_date).transpose()?,
        corrects: *corrects,
    };
    let e = bank.add_adverse_event(&id, new, at)?;
    if let Some(s) = &e.safety_signal {
        eprintln!(
            "{}\nlook back on the donor (dry run; add --apply to quarantine stock): {}",
            s.message, s.recall_command
        );
    }
    emit(out, json, &e, || e.event.id.to_string())
}

fn outcome_table(rows: &[OutcomeRow]) -> String {
    let mut s = format!(
        "{:<14} {:<3} {:>5} {:>9} {:>6} {:>8} {:>22} {:>13}",
        "group", "tp", "n", "remission", "lost", "rate", "95% CI (Wilson)", "out of window"
    );
    for r in rows {
        let _ = write!(
            s,
            "\n{:<14} {:<3} {:>5} {:>9} {:>6} {:>8} {:>22} {:>13}",
            r.group,
            r.timepoint,
            r.n,
            r.remission,
            r.lost,
            pct(r.rate),
            format!("{} – {}", pct(r.ci_low), pct(r.ci_high)),
            r.out_of_window
        );
    }
    s
}

pub fn report(bank: &mut Bank, cmd: &ReportCmd, json: bool, at: DateTime<Utc>, out: &mut dyn Write) -> Result<()> {
    let today = local_day(at);
    match cmd {
        ReportCmd::Outcomes { by, from, to, csv } => {
            let r = bank.report_outcomes((*by).into(), period(from.as_deref(), to.as_deref())?, today)?;
            if *csv {
                return crate::export::outcome_csv(&r.rows, out).map_err(|e| CliError::Usage(e.to_string()));
            }
            emit(out, json, &r, || {
                format!(
                    "{}\n({} recipients not eligible for the study are left out; lost includes windows closed without a visit)",
                    outcome_table(&r.rows),
                    r.not_eligible
                )
            })
        }
        ReportCmd::Safety { from, to } => {
            let r = bank.report_safety(period(from.as_deref(), to.as_deref())?)?;
            emit(out, json, &r, || {
                let counts = |m: &std::collections::BTreeMap<String, u64>| {
                    m.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
                };
                format!(
                    "{} patients treated in {} sessions; {} with an adverse event ({} [{} – {}]); {} events ({} per session), {} serious, {} related\nby grade: {}\nby relatedness: {}\nserious, by relatedness: {}",
                    r.patients,
                    r.sessions,
                    r.patients_with_ae,
                    pct(r.incidence_per_patient.rate),
                    pct(r.incidence_per_patient.ci_low),
                    pct(r.incidence_per_patient.ci_high),
                    r.events,
                    r.events_per_session.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into()),
                    r.serious,
                    r.related,
                    counts(&r.by_grade),
                    counts(&r.by_relatedness),
                    counts(&r.serious_by_relatedness)
                )
            })
        }
        ReportCmd::Donors { timepoint } => {
            let r = bank.report_donors(*timepoint, today)?;
            emit(out, json, &r, || {
                let mut s = format!(
                    "remission at {} by donor; overall {} of {} = {} [{} – {}]",
                    r.timepoint,
                    r.overall.remission,
                    r.overall.n,
                    pct(r.overall.rate),
                    pct(r.overall.ci_low),
                    pct(r.overall.ci_high)
                );
                for d in &r.donors {
                    let flag = match d.flag {
                        Some(f) => format!("  ← interval wholly {f} the overall rate"),
                        None => String::new(),
                    };
                    let _ = write!(
                        s,
                        "\n{}  {:>4}/{:<4} {:>7}  [{} – {}]{flag}",
                        d.donor,
                        d.remission,
                        d.n,
                        pct(d.rate),
                        pct(d.ci_low),
                        pct(d.ci_high)
                    );
                }
                s
            })
        }
        ReportCmd::Predictors { timepoint, terms } => {
            let terms: Vec<String> = terms.iter().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect();
            let r = bank.report_predictors(*timepoint, &terms)?;
            emit(out, json, &r, || {
                let mut s = format!(
                    "remission at {}: {} recipients assessed, {} remissions; odds ratios with 95% Wald intervals",
                    r.timepoint, r.n, r.events
                );
                for t in &r.terms {
                    let vs = t.reference.as_deref().map(|r| format!(" vs {r}")).unwrap_or_default();
                    let _ = write!(
                        s,
                        "\n{:<10} {:<24} OR {:>7.3}  [{:.3} – {:.3}]  p = {:.4}",
                        t.term,
                        format!("{}{vs}", t.level),
                        t.odds_ratio,
                        t.ci_low,
                        t.ci_high,
                        t.p
                    );
                }
                s
            })
        }
    }
}

pub fn export(bank: &mut Bank, cmd: &ExportCmd, json: bool, at: DateTime<Utc>, out: &mut dyn Write) -> Result<()> {
    let tables = bank.export_tables()?;
    let fail = |e: crate::export::ExportError| CliError::Usage(e.to_string());
    match cmd {
        ExportCmd::Csv { dir } => {
            let files = crate::export::write_csv(&tables, dir).map_err(fail)?;
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            emit(out, json, &serde_json::json!({ "files": names }), || names.join("\n"))
        }
        ExportCmd::Fhir { file } => {
            let bundle = crate::export::fhir_bundle(&tables, bank.config(), at).map_err(fail)?;
            let count = bundle["entry"].as_array().map_or(0, Vec::len);
            crate::export::write_json(&bundle, file).map_err(fail)?;
            emit(out, json, &serde_json::json!({ "file": file, "entries": count }), || {
                format!("{} ({count} resources)", file.display())
            })
        }
    }
}
