//! Text renderings of the views, for people at a terminal (scripts use --json). Every free-text field goes
//! through `shown`, so what a user typed is printed, never obeyed by the terminal.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::app::records::{Entry, Recipient, Verification};
use crate::app::views::{BatchView, DonationView, DonorSummary, DonorView, Integrity, RecipientView, UnitView};
use crate::app::RecallSummary;
use crate::core::ids::Id;
use crate::store::Stored;
use crate::time::show;

use crate::escape::shown;

/// A stored moment for people (marked when malformed).
fn when(t: &Stored<DateTime<Utc>>) -> String {
    t.shown(|t| show(*t))
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}

pub fn donor(v: &DonorView) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "donor {}  {}  born {}  {}", v.id, v.sex, v.birth_date, v.status);
    let _ = writeln!(s, "  {}", shown(&v.reason));
    if let Some(i) = v.identity.as_ref().filter(|i| !i.is_empty()) {
        let _ = writeln!(
            s,
            "  identity: {}  {}  {}",
            shown(i.name.as_deref().unwrap_or("-")),
            shown(i.phone.as_deref().unwrap_or("-")),
            shown(i.national_id.as_deref().unwrap_or("-"))
        );
    }
    let _ = writeln!(s, "screenings:");
    for sc in &v.screenings {
        let abnormal: Vec<String> = sc
            .results
            .iter()
            .filter(|r| r.result.ok().is_none_or(|r| r.as_str() != "negative"))
            .map(|r| format!("{} {}", shown(&r.test), r.result))
            .collect();
        let verdict = match (sc.complete.ok(), abnormal.is_empty()) {
            (_, false) => abnormal.join(", "),
            (Some(true), true) => "complete, negative".into(),
            (Some(false), true) => format!("incomplete ({} results)", sc.results.len()),
            (None, true) => "completeness cannot be judged".into(),
        };
        let kind = sc.kind.shown(|k| k.as_str().to_string());
        let _ = writeln!(s, "  {}  {:<13} {}", sc.date, kind, verdict);
    }
    if !v.deferrals.is_empty() {
        let _ = writeln!(s, "deferrals:");
        for d in &v.deferrals {
            let end = match &d.ends_on {
                Stored::Read(ends_on) => crate::core::rules::deferral_span(d.permanent, d.until_lifted, *ends_on),
                Stored::Malformed(_) => format!("end cannot be judged: {}", d.ends_on.shown(|_| String::new())),
            };
            let _ = writeln!(
                s,
                "  {} {}  {}{}",
                d.starts_on,
                end,
                shown(&d.reason),
                match d.active {
                    Stored::Read(true) => "  [in force]",
                    Stored::Read(false) => "",
                    Stored::Malformed(_) => "  [may be in force]",
                }
            );
        }
    }
    let _ = writeln!(s, "donations:");
    for d in &v.donations {
        let batches: Vec<String> = d.batches.iter().map(ToString::to_string).collect();
        let _ = writeln!(s, "  {}  {}  {}", d.id, when(&d.collected_at), batches.join(" "));
    }
    s.trim_end().to_string()
}

pub fn donor_list(all: &[DonorSummary]) -> String {
    let mut s = String::new();
    for d in all {
        let _ = writeln!(s, "{}  {}  {}  {:<12}  {}", d.id, d.sex, d.birth_date, d.status, shown(&d.reason));
    }
    s.trim_end().to_string()
}

pub fn donation(d: &DonationView) -> String {
    let batches: Vec<String> = d.batches.iter().map(ToString::to_string).collect();
    format!(
        "donation {}  donor {}  collected {}  {}\n  mass {}  bristol {}\n  batches: {}",
        d.id,
        d.donor,
        when(&d.collected_at),
        d.status,
        d.mass_g.map_or("-".into(), |m| format!("{m} g")),
        d.bristol.map_or("-".into(), |b| b.to_string()),
        if batches.is_empty() { "none".into() } else { batches.join(" ") }
    )
}

/// A unit's line: its identifier, status and whereabouts (the recipient, when and how, once given), written
/// straight into the answer (a recall or a donor's trace has thousands).
struct UnitLine<'a>(&'a UnitView);

impl std::fmt::Display for UnitLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let u = self.0;
        write!(f, "{}  {:<11} ", u.id, u.status)?;
        match (&u.recipient, &u.dispensed_at) {
            (Some(r), Some(at)) => write!(f, "→ {r} {} {}", when(at), u.route.as_deref().unwrap_or("")),
            _ => f.write_str(&shown(u.location.as_deref().unwrap_or_default())),
        }
    }
}

pub fn batch(b: &BatchView) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "batch {}  {}  {}", b.id, b.product, b.status);
    if let Some(d) = &b.product_description {
        let _ = writeln!(s, "  {}", shown(d));
    }
    let _ = writeln!(
        s,
        "  donation {}  donor {}  prepared {}  expires {}",
        b.donation,
        b.donor,
        when(&b.prepared_at),
        b.expires_on
    );
    if let Some(r) = &b.discard_reason {
        let _ = writeln!(s, "  discarded: {}", shown(r));
    }
    let _ = writeln!(s, "release rules:");
    match &b.release_checks {
        Stored::Read(checks) => {
            for c in checks {
                let _ = writeln!(s, "  {} {:<38} {}", mark(c.passed), c.title, shown(&c.detail));
            }
        }
        unjudged @ Stored::Malformed(_) => {
            let _ = writeln!(s, "  cannot be judged: {}", unjudged.shown(|_| String::new()));
        }
    }
    let _ = writeln!(s, "QC ({} required):", b.qc_required.join(", "));
    for q in &b.qc {
        let _ =
            writeln!(s, "  {}  {:<16} {}  {}", when(&q.at), q.test, q.result, shown(q.value.as_deref().unwrap_or("")));
    }
    let _ = writeln!(s, "units:");
    for u in &b.units {
        let _ = writeln!(s, "  {}", UnitLine(u));
    }
    if let Some(r) = &b.retained_sample {
        let _ = writeln!(s, "  {}", UnitLine(r));
    }
    s.trim_end().to_string()
}

pub fn recipient(r: &RecipientView) -> String {
    let mut s = format!(
        "recipient {}  {}  born {}  {}  {} ({})  {}\n",
        r.id, r.sex, r.birth_date, r.indication, r.cohort, r.consent, r.status
    );
    if let Some(name) = r.identity.as_ref().and_then(|i| i.name.as_deref()) {
        let _ = writeln!(s, "  identity: {}", shown(name));
    }
    for u in &r.units {
        let _ = writeln!(s, "  {}", UnitLine(u));
    }
    for c in &r.contact_for_recall {
        let _ = writeln!(s, "  CONTACT for recall {}: unit {} ({})", c.recall, c.unit, shown(&c.reason));
    }
    s.trim_end().to_string()
}

pub fn recipient_list(all: &[Recipient]) -> String {
    let mut s = String::new();
    for r in all {
        let _ = writeln!(s, "{}  {}  {}  {:<6} {}", r.id, r.sex, r.birth_date, r.indication, r.cohort);
    }
    s.trim_end().to_string()
}

pub fn trace(t: &crate::app::Trace) -> String {
    let mut s = format!("trace of {} {}\n", t.root.kind, t.root.id);
    for d in &t.donors {
        let _ = writeln!(s, "donor      {}  {}", d.id, d.status);
    }
    for d in &t.donations {
        let _ = writeln!(s, "donation   {}  collected {}", d.id, when(&d.collected_at));
    }
    for b in &t.batches {
        let _ = writeln!(s, "batch      {}  {}  expires {}", b.id, b.status, b.expires_on);
    }
    for u in &t.units {
        let _ = writeln!(s, "unit    {}", UnitLine(u));
    }
    for r in &t.recipients {
        let units: Vec<String> = r.units.iter().map(|u| u.id.to_string()).collect();
        let _ = writeln!(s, "recipient  {}  {}  received {}", r.id, r.indication, units.join(" "));
    }
    s.trim_end().to_string()
}

pub fn recall(r: &RecallSummary) -> String {
    let mut s = String::new();
    let head = if r.applied { "RECALL APPLIED" } else { "recall (dry run: nothing changed; --apply to quarantine)" };
    let _ = writeln!(s, "{head}: {}", shown(&r.reason));
    if let Some(from) = r.from {
        let _ = writeln!(s, "collected from {from}{}", r.to.map(|t| format!(" to {t}")).unwrap_or_default());
    }
    if let Some(m) = &r.look_back_unreadable {
        let _ = writeln!(s, "look-back cannot be judged on {m}: every donation of the donor is included");
    }
    let _ = writeln!(
        s,
        "{} batches, {} units in stock, {} dispensed to {} recipients",
        r.batches.len(),
        r.in_stock,
        r.dispensed,
        r.recipients.len()
    );
    for b in &r.batches {
        let _ = writeln!(s, "  batch {}  {}", b.id, b.status);
    }
    for u in &r.units {
        let _ = writeln!(s, "  {}", UnitLine(u));
    }
    if let Some(e) = &r.earlier {
        let _ = writeln!(
            s,
            "not included: {} earlier batches of donor {} ({} units in stock, {} dispensed), covered by the negative \
             screening of {}; to include them: stoolbank recall --donor {} --from {} --reason \"{}\"",
            e.batches.len(),
            e.donor,
            e.in_stock,
            e.dispensed,
            e.covered_by_screening_of,
            e.donor,
            e.include_from,
            shown(&r.reason)
        );
        for b in &e.batches {
            let _ = writeln!(s, "  earlier batch {}  {}", b.id, b.status);
        }
    }
    if !r.recipients.is_empty() {
        let _ = writeln!(s, "recipients to contact:");
        for p in &r.recipients {
            let units: Vec<String> = p.units.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                s,
                "  {}  {}  first dose {}  {}  {}  {}",
                p.id,
                p.indication,
                when(&p.first_dispensed_at),
                p.routes.join("/"),
                shown(&p.clinicians.join(", ")),
                units.join(" ")
            );
        }
    }
    for u in &r.retained_samples {
        let _ = writeln!(
            s,
            "retained sample {} at {}: re-test",
            u.id,
            shown(u.location.as_deref().unwrap_or("(location not recorded)"))
        );
    }
    s.trim_end().to_string()
}

pub fn audit_log(entries: &[Entry]) -> String {
    let mut s = String::new();
    for e in entries {
        // Identifiers are stored without their check character; shown with it, they can be pasted back.
        let record = Id::from_data(&e.entity_id).map_or_else(|| shown(&e.entity_id).into_owned(), |id| id.display());
        let _ = writeln!(s, "{:>6}  {}  {:<10} {:<18} {} {record}", e.seq, e.at, shown(&e.actor), e.action, e.entity);
    }
    s.trim_end().to_string()
}

pub fn verification(v: &Verification) -> String {
    let mut s = match v.since {
        None => format!("{} audit entries, {} records checked\n", v.entries, v.records),
        Some(seq) => format!(
            "incremental: {} audit entries after the checkpoint of entry {seq}, and the {} records they wrote, checked\n",
            v.entries, v.records
        ),
    };
    match (v.findings.is_empty(), v.since) {
        (true, None) => s.push_str("the audit chain is intact and every record matches it\n"),
        (true, Some(seq)) => {
            let _ = writeln!(s, "entry {seq} holds its signed hash, every later entry chains to it, and every record they wrote matches its last entry");
        }
        _ => {}
    }
    if v.identity_unchecked > 0 {
        let _ = writeln!(
            s,
            "({} identity rows digested under another bank key, or none: not checked)",
            v.identity_unchecked
        );
    }
    for f in &v.findings {
        let _ = writeln!(s, "✗ {}", shown(&f.what));
    }
    s.trim_end().to_string()
}

pub fn integrity(v: &Integrity) -> String {
    let mut s = String::new();
    let checks = [
        ("SQLite integrity check", &v.integrity, None),
        ("foreign keys", &v.foreign_keys, None),
        ("schema as the program embeds it", &v.schema, v.older_schema.as_deref()),
        ("stored values readable", &v.values, None),
    ];
    for (what, problems, note) in checks {
        let file_only = what == "SQLite integrity check" || what == "stored values readable";
        if let (Some(server), true) = (&v.left_to_server, file_only) {
            let _ = writeln!(s, "– {what}: left to the server ({server})");
            continue;
        }
        let _ = writeln!(s, "{} {what}", mark(problems.is_empty()));
        for p in problems {
            let _ = writeln!(s, "  {}", shown(p));
        }
        if let Some(note) = note {
            let _ = writeln!(s, "  {note}");
        }
    }
    if let Some(warning) = &v.owner_login {
        let _ = writeln!(s, "! login: {warning}");
    }
    let _ = writeln!(s, "{} audit chain and records", mark(v.audit.findings.is_empty()));
    s.push_str(&verification(&v.audit));
    s
}

pub fn restored(db: &std::path::Path, r: &crate::app::integrity::BackupReport) -> String {
    let mut s = format!(
        "{} restored from {} (audit entries to {}, {}); checked",
        shown(&db.display().to_string()),
        shown(&r.file.display().to_string()),
        r.head_seq,
        r.head_hash
    );
    if let Some(older) = &r.older_schema {
        let _ = write!(s, "\n{older}");
    }
    for f in &r.moved_aside {
        let _ = write!(s, "\nmoved aside: {}", shown(&f.display().to_string()));
    }
    s
}
