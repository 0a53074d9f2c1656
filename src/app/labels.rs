//! Labels at the bench: what a record's label says (never a donor's or recipient's identity), printing with
//! every print and reprint recorded (who, when, how many, why), and label verification by scanning back.
//!
//! A print is one `BEGIN IMMEDIATE` transaction: the reprint decision, the send to the printer and the print
//! record, so two benches cannot both print a label "for the first time", and a label the printer did not take
//! is never recorded. Printing a label again clears its verification: the new label must be scanned back.

use crate::core::access::Operation;
use chrono::{DateTime, Duration, Utc};

use super::views::UnitView;
use super::{invalid, not_found, record, Act, AppError, Bank, Result};
use crate::core::config::Config;
use crate::core::ids::{Id, IdKind};
use crate::core::model::{UnitKind, UnitStatus};
use crate::core::rules;
use crate::escape::shown;
use crate::labels::{self, Format, Label, Templates};
use crate::printers::{PrintError, PrintTarget, Printer};
use crate::store::batches::{self, Unit};
use crate::store::labels::{self as prints, Print};
use crate::store::{Key, Tx};
use crate::time::{self, local_day};

/// What a print did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Printed {
    pub target: String,
    pub labels: usize,
    pub copies: u32,
    pub reprint: bool,
    /// What the user must know: the template's notice, text the printer's font lacks, the printer's state.
    pub warnings: Vec<String>,
}

/// One line for the print and one per warning; the target and warnings are free text (a queue name, what the
/// printer said), escaped each on its own so that only the lines' own newlines act on the screen.
impl std::fmt::Display for Printed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.reprint { "reprinted" } else { "printed" };
        write!(f, "{what} {} label(s) × {} on {}", self.labels, self.copies, shown(&self.target))?;
        self.warnings.iter().try_for_each(|w| write!(f, "\nwarning: {}", shown(w)))
    }
}

/// How long a claim on a label may stay open before it is taken for abandoned (its bench stopped between the
/// claim and the record): well past the longest a send may take (each of its steps is bounded by
/// [`crate::printers::TIMEOUT`] or [`crate::printers::SPOOL_TIMEOUT`]).
const CLAIM_ABANDONED: Duration = Duration::minutes(2);

/// Closes a claim with its outcome, audited.
fn close_claim(tx: &Tx, act: &Act, claim: i64, entity: &Id, outcome: &str, at: DateTime<Utc>) -> Result<()> {
    let row = claim.to_string();
    let before = crate::store::audit::row_state(tx, "label_claims", &row)?;
    prints::close_claim(tx, claim, outcome, act.now)?;
    record(tx, act, "close-label-claim", "label_claims", &row, entity.data(), at, before)
}

/// Labels rendered to a file or preview, one output per label, with what the user must know about them.
#[derive(Debug, Clone)]
pub struct RenderedLabels {
    pub labels: Vec<(Id, Vec<u8>)>,
    pub warnings: Vec<String>,
}

fn unit_label(
    u: &Unit,
    collected: DateTime<Utc>,
    volume: Option<f64>,
    product: &str,
    config: &Config,
    at: DateTime<Utc>,
) -> Result<Label> {
    // A label is printed from facts that read as stored: one with a malformed value is refused, naming it.
    let p = config.product(product);
    let facts = u.facts()?;
    let (id, expires_on) = (u.id.get()?, facts.expires_on);
    let status = crate::core::state::unit_status(&facts, at, local_day(at));
    let (title, mark) = match (facts.kind, status) {
        (UnitKind::Retained, _) => ("RETAINED SAMPLE - NOT FOR CLINICAL USE".to_string(), Some("RETAINED")),
        (_, UnitStatus::Quarantined) => ("WASHED MICROBIOTA".to_string(), Some("QUARANTINE")),
        (_, UnitStatus::Recalled) => ("WASHED MICROBIOTA".to_string(), Some("RECALLED - DO NOT USE")),
        (_, UnitStatus::Discarded) => ("WASHED MICROBIOTA".to_string(), Some("DISCARDED")),
        (_, UnitStatus::Expired) => ("WASHED MICROBIOTA".to_string(), Some("EXPIRED")),
        (_, UnitStatus::Dispensed) => ("WASHED MICROBIOTA".to_string(), Some("DISPENSED")),
        _ => ("WASHED MICROBIOTA".to_string(), None),
    };
    let sec = config.sec_establishment.as_ref().map(|est| {
        let din = id.din().unwrap_or_default();
        let division = id.division().unwrap_or("00");
        format!("{est} {din} A{product}{division} {}", expires_on.format("%Y%m%d"))
    });
    Ok(Label {
        id: id.clone(),
        title,
        product_code: Some(product.to_string()),
        product_description: p.map(|p| p.description.clone()),
        volume_ml: volume,
        collected: Some(local_day(collected)),
        expires: Some(expires_on),
        storage: p.map(|p| p.storage.clone()),
        bank_name: config.bank_name.clone(),
        status_mark: mark.map(str::to_string),
        sec,
    })
}

fn labels_of(tx: &Tx, id: &Id, config: &Config, at: DateTime<Utc>) -> Result<Vec<Label>> {
    let missing = || not_found(id.kind(), id);
    match id.kind() {
        IdKind::Donation => {
            let d = batches::donation(tx, id)?.ok_or_else(missing)?;
            let collected = d.collected_at.value()?;
            let deadline = collected + Duration::minutes(config.processing_limit_minutes);
            Ok(vec![Label {
                id: id.clone(),
                title: format!("STOOL DONATION - PROCESS BY {}", time::show(deadline)),
                product_code: None,
                product_description: None,
                volume_ml: None,
                collected: Some(local_day(collected)),
                expires: None,
                storage: None,
                bank_name: config.bank_name.clone(),
                status_mark: Some("QUARANTINE".into()),
                sec: None,
            }])
        }
        IdKind::Batch | IdKind::Unit => {
            let batch_id = id.batch_of().unwrap_or_else(|| id.clone());
            let b = batches::batch(tx, &batch_id)?.ok_or_else(missing)?;
            let d = batches::donation(tx, &b.donation)?.ok_or_else(missing)?;
            // A batch's labels are those of the units still in the bank: a dispensed unit is asked for by its own
            // identifier.
            let units: Vec<Unit> = batches::units_of_batch(tx, &batch_id)?
                .into_iter()
                .filter(|u| if id.kind() == IdKind::Batch { u.dispense.is_none() } else { u.id.key() == id.data() })
                .collect();
            if units.is_empty() {
                return Err(missing());
            }
            let collected = d.collected_at.value()?;
            units.iter().map(|u| unit_label(u, collected, b.volume_ml, &b.product, config, at)).collect()
        }
        IdKind::Donor | IdKind::Recipient => {
            invalid(format!("{id} is a {}: labels are for donations, batches and units", id.kind()))
        }
    }
}

impl Bank {
    pub fn templates(&self) -> Result<Templates> {
        Ok(Templates::load(self.config.label_templates.as_deref())?)
    }

    /// The labels of a donation, of every unit of a batch still in the bank (and its retained sample), or of one
    /// unit.
    pub fn labels_for(&mut self, id: &Id, at: DateTime<Utc>) -> Result<Vec<Label>> {
        self.authorize(Operation::Read)?;
        let config = self.config.clone();
        self.store.read(|tx| labels_of(tx, id, &config, at))
    }

    /// Renders each label of `id`, one output per label (no record is made: a preview or a file is not a print).
    pub fn render_labels(
        &mut self,
        id: &Id,
        format: Format,
        template: Option<&str>,
        copies: u32,
        at: DateTime<Utc>,
    ) -> Result<RenderedLabels> {
        self.authorize(Operation::Read)?;
        let labels = self.labels_for(id, at)?;
        self.render(&labels, format, template, copies)
    }

    fn render(&self, labels: &[Label], format: Format, template: Option<&str>, copies: u32) -> Result<RenderedLabels> {
        let templates = self.templates()?;
        let template = templates.get(template.unwrap_or(&self.config.label_template))?;
        let mut out = RenderedLabels { labels: Vec::new(), warnings: Vec::new() };
        for l in labels {
            let r = labels::render(std::slice::from_ref(l), template, format, copies)?;
            out.warnings.extend(r.warnings.into_iter().filter(|w| !out.warnings.contains(w)).collect::<Vec<_>>());
            out.labels.push((l.id.clone(), r.bytes));
        }
        Ok(out)
    }

    /// Prints the labels of `id` as ZPL on `target` (default: the configured printer), then records the print.
    /// A reprint needs a reason. Nothing is recorded unless the printer accepted every byte.
    pub fn print_labels(
        &mut self,
        id: &Id,
        target: Option<&str>,
        template: Option<&str>,
        copies: u32,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Printed> {
        self.authorize(Operation::LabelPrint)?;
        let target = match target.filter(|t| !t.trim().is_empty()).or(self.config.printer.as_deref()) {
            Some(t) => PrintTarget::parse(t)?,
            None => return Err(PrintError::NoPrinter.into()),
        };
        self.print_to(&target, id, template, copies, reason, at)
    }

    /// As [`Bank::print_labels`], to any [`Printer`]. No transaction is open while the printer takes the labels
    /// (a jammed printer must not hold up every bench's writes), so a print is three steps: the reprint decision
    /// and a claim on each label in one short transaction (a label claimed by another bench is refused), the
    /// send, then the print record (or, on failure, the claims closed as failed) in a second. All audited.
    pub fn print_to(
        &mut self,
        printer: &dyn Printer,
        id: &Id,
        template: Option<&str>,
        copies: u32,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Printed> {
        self.authorize(Operation::LabelPrint)?;
        if !(1..=999).contains(&copies) {
            return invalid("copies are 1 to 999");
        }
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let labels = self.labels_for(id, at)?;
        let rendered = self.render(&labels, Format::Zpl, template, copies)?;
        let bytes: Vec<u8> = rendered.labels.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        let target = printer.describe();
        let act = self.act();
        let claims = self.store.write(|tx| {
            let mut claims = Vec::new();
            for (entity, _) in &rendered.labels {
                let mut again = prints::printed_before(tx, entity)?;
                if let Some(open) = prints::open_claim(tx, entity)? {
                    if act.now - open.claimed_at < CLAIM_ABANDONED {
                        return invalid(format!(
                            "the label of {entity} is being printed at another bench (since {}); try again when                              it is done",
                            time::show(open.claimed_at)
                        ));
                    }
                    // The bench that claimed it stopped before recording: the label may have come out.
                    close_claim(tx, &act, open.id, entity, "abandoned: the label may have printed", at)?;
                    again = true;
                }
                rules::check_reprint(&entity.display(), again, reason)?;
                let claim = prints::insert_claim(tx, entity, &target, again, act.now)?;
                record(tx, &act, "claim-label", "label_claims", &claim.to_string(), entity.data(), at, None)?;
                claims.push((claim, again));
            }
            Ok::<_, AppError>(claims)
        })?;
        let sent = printer.send(&bytes);
        self.store.write(|tx| {
            if let Err(e) = &sent {
                for ((entity, _), (claim, _)) in rendered.labels.iter().zip(&claims) {
                    close_claim(tx, &act, *claim, entity, &format!("failed: {e}"), at)?;
                }
                return Ok(());
            }
            for ((entity, _), &(claim, again)) in rendered.labels.iter().zip(&claims) {
                let print = Print { entity, target: &target, copies, reprint: again, reason, at, recorded_at: act.now };
                let row = prints::insert_print(tx, &print)?.to_string();
                let action = if again { "reprint-label" } else { "print-label" };
                record(tx, &act, action, "label_prints", &row, entity.data(), at, None)?;
                close_claim(tx, &act, claim, entity, "printed", at)?;
                if entity.kind() == IdKind::Unit {
                    let state = crate::store::audit::row_state(tx, "units", entity.data())?;
                    if prints::clear_verified(tx, entity)? {
                        let batch = entity.batch_of().map(|b| b.data().to_string()).unwrap_or_default();
                        record(tx, &act, "unverify-label", "units", entity.data(), &batch, at, state)?;
                    }
                }
            }
            Ok::<_, AppError>(())
        })?;
        let mut warnings = rendered.warnings;
        warnings.extend(sent?);
        let reprint = claims.iter().any(|(_, again)| *again);
        Ok(Printed { target, labels: rendered.labels.len(), copies, reprint, warnings })
    }

    /// The reason given for a reprint, judged before the print is sent (a face that prints in the background
    /// asks for it again at once when it is refused).
    pub fn reprint_reason(reason: &str) -> Result<&str> {
        Ok(crate::core::input::reason("reprint", reason)?)
    }

    /// Label verification: `scanned` (Code 128 or Data Matrix text read from the printed label) must be `unit`,
    /// whose label must have been printed; the unit is then marked verified (until its label is printed again).
    pub fn verify_label(&mut self, unit: &Id, scanned: &str, at: DateTime<Utc>) -> Result<UnitView> {
        self.authorize(Operation::LabelVerify)?;
        if unit.kind() != IdKind::Unit {
            return invalid(format!("{unit} is a {}: labels are verified unit by unit", unit.kind()));
        }
        let found = labels::parse_datamatrix_payload(scanned).map(|(id, _)| id.display()).map_err(|e| e.to_string());
        let act = self.act();
        self.store.write(|tx| {
            let missing = || not_found(IdKind::Unit, unit);
            let u = batches::unit(tx, unit)?.ok_or_else(missing)?;
            let printed = prints::printed_before(tx, unit)?;
            rules::check_label_verification(&unit.display(), printed, found.as_deref().map_err(String::as_str))?;
            if u.label_verified_at.value()?.is_none() {
                let before = crate::store::audit::row_state(tx, "units", unit.data())?;
                prints::set_verified(tx, unit, at)?;
                let batch = u.batch.key().to_string();
                record(tx, &act, "verify-label", "units", unit.data(), &batch, at, before)?;
            }
            let u = batches::unit(tx, unit)?.ok_or_else(missing)?;
            Ok(UnitView::new(u, at))
        })
    }
}
