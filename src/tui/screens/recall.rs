//! Recall: choose a donor (from a date) or a batch or a collection window, see every affected unit in stock and
//! dispensed with its recipient, apply the recall (asking again when the same recall was applied before),
//! export the list as CSV to a path of the user's choosing.

use std::collections::HashMap;

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::{list, move_selection};
use crate::app::{AppError, RecallSelector, RecallSummary};
use crate::core::access::Operation;
use crate::core::ids::IdKind;
use crate::store::{Key, Stored};
use crate::time;
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::screen::{Ctx, RecallRequest, Screen};
use crate::tui::{theme, words};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    By,
    Subject,
    From,
    To,
    Reason,
}

const BY_DONOR: &str = "donor";
const BY_BATCH: &str = "batch";
const BY_WINDOW: &str = "collection window";

pub struct Recall {
    form: Form<F>,
    editing: bool,
    /// Where to write the CSV (prefilled, editable), while it is asked.
    export: Option<Form<()>>,
    result: Option<(RecallSelector, RecallSummary)>,
    sel: usize,
}

impl Default for Recall {
    fn default() -> Self {
        let selectors = vec![BY_DONOR.to_string(), BY_BATCH.to_string(), BY_WINDOW.to_string()];
        Recall {
            form: Form::new(
                "Recall",
                vec![
                    Field::choice(F::By, "Select by", &selectors, BY_DONOR),
                    Field::id(F::Subject, "Donor or batch"),
                    Field::when(F::From, "From", ""),
                    Field::when(F::To, "To", ""),
                    Field::text(F::Reason, "Reason", ""),
                ],
            ),
            editing: true,
            export: None,
            result: None,
            sel: 0,
        }
    }
}

impl Recall {
    fn selector(&self, ctx: &mut Ctx) -> Result<RecallSelector, AppError> {
        let date = |what: &str, s: &str| time::parse_date(s).map_err(|e| AppError::Invalid(format!("{what}: {e}")));
        let from = self.form.get(F::From);
        match self.form.get(F::By) {
            BY_DONOR => Ok(RecallSelector::Donor {
                donor: ctx.bank.lookup_kind(self.form.get(F::Subject), IdKind::Donor)?,
                from: if from.is_empty() { None } else { Some(date("from", from)?) },
            }),
            BY_BATCH => Ok(RecallSelector::Batch(ctx.bank.lookup_kind(self.form.get(F::Subject), IdKind::Batch)?)),
            _ => Ok(RecallSelector::CollectionWindow {
                from: date("from", from)?,
                to: date("to", self.form.get(F::To))?,
            }),
        }
    }

    /// A dry run, or with `apply` the recall applied (`again`: the user confirmed repeating an earlier one).
    fn run(&mut self, ctx: &mut Ctx, apply: bool, again: bool) {
        let sel = match &self.result {
            Some((s, _)) if apply => Ok(s.clone()),
            _ => self.selector(ctx),
        };
        let outcome =
            sel.and_then(|s| ctx.bank.recall(&s, self.form.get(F::Reason), apply, again, ctx.now).map(|r| (s, r)));
        match outcome {
            Ok((s, r)) => {
                ctx.info(format!(
                    "{}: {} units in stock, {} dispensed to {} recipients",
                    if r.applied { "recall applied" } else { "dry run" },
                    r.in_stock,
                    r.dispensed,
                    r.recipients.len()
                ));
                self.result = Some((s, r));
                self.editing = false;
                self.sel = 0;
            }
            Err(e) => ctx.fail(e),
        }
    }

    /// Applies the dry run's recall after a yes; a second yes when the same recall was applied before.
    fn apply(&mut self, ctx: &mut Ctx) {
        let Some((selector, r)) = &self.result else { return };
        if r.applied {
            return ctx.error("this recall is applied; Esc for a new one");
        }
        let earlier = match ctx.bank.earlier_recalls(selector) {
            Ok(e) => e,
            Err(e) => return ctx.fail(e),
        };
        let question = match earlier.last() {
            Some(last) => format!(
                "The same recall was applied {} time(s) before, last at {} ({}). Apply it AGAIN, quarantining {} units in stock?",
                earlier.len(),
                time::from_db(&last.at).map_or_else(|| last.at.clone(), time::show),
                words::clean(&last.reason),
                r.in_stock
            ),
            None => format!("Apply this recall: quarantine {} units in stock and record it?", r.in_stock),
        };
        let meaning = format!("recall applied: {}", self.form.get(F::Reason));
        if ctx.signed(Operation::RecallApply, meaning, Some(question)) {
            self.run(ctx, true, !earlier.is_empty());
        }
    }

    /// The donor's look-back a safety signal asks for, run as a dry run for the user to read and apply.
    pub fn prepare(&mut self, ctx: &mut Ctx, r: &RecallRequest) {
        self.form.set(F::By, BY_DONOR);
        self.form.set(F::Subject, &r.donor.to_string());
        self.form.set(F::From, &r.from.to_string());
        self.form.set(F::To, "");
        self.form.set(F::Reason, &r.reason);
        self.result = None;
        self.run(ctx, false, false);
    }

    fn describe(selector: &RecallSelector) -> String {
        match selector {
            RecallSelector::Donor { donor, from: Some(from) } => format!("donor {donor} from {from}"),
            RecallSelector::Donor { donor, from: None } => format!("donor {donor} since the last clean screening"),
            RecallSelector::Batch(b) => format!("batch {b}"),
            RecallSelector::CollectionWindow { from, to } => format!("collected {from} to {to}"),
        }
    }

    /// Writes the affected list as CSV: each row names the recall's reason and selection and the unit's donor.
    fn export(&mut self, ctx: &mut Ctx, path: &str) {
        let Some((selector, r)) = &self.result else { return ctx.error("run the recall first") };
        if path.is_empty() {
            return ctx.error("name the file to write");
        }
        let mut donors: HashMap<String, String> = HashMap::new();
        for b in &r.batches {
            let donor = match &b.donation {
                Stored::Read(donation) => match ctx.bank.donation_view(donation) {
                    Ok(d) => d.donor.to_string(),
                    Err(e) => return ctx.fail(e),
                },
                malformed @ Stored::Malformed(_) => malformed.to_string(),
            };
            donors.insert(b.id.key().to_string(), donor);
        }
        let written = (|| -> Result<(), csv::Error> {
            let mut w = csv::Writer::from_path(path)?;
            w.write_record([
                "recall_reason",
                "recall_selection",
                "donor",
                "unit",
                "batch",
                "status",
                "recipient",
                "dispensed_at",
                "route",
                "clinician",
            ])?;
            let selection = Self::describe(selector);
            for u in &r.units {
                w.write_record([
                    r.reason.as_str(),
                    selection.as_str(),
                    donors.get(u.batch.key()).map_or("", String::as_str),
                    &u.id.to_string(),
                    &u.batch.to_string(),
                    &u.status.to_string(),
                    &u.recipient.as_ref().map(ToString::to_string).unwrap_or_default(),
                    &u.dispensed_at.as_ref().map(|t| t.shown(chrono::DateTime::to_rfc3339)).unwrap_or_default(),
                    u.route.as_deref().unwrap_or(""),
                    u.clinician.as_deref().unwrap_or(""),
                ])?;
            }
            w.flush()?;
            Ok(())
        })();
        match written {
            Ok(()) => {
                self.export = None;
                ctx.info(format!("exported {} units to {}", r.units.len(), words::clean(path)));
            }
            Err(e) => ctx.error(format!("cannot write {}: {e}", words::clean(path))),
        }
    }
}

impl Screen for Recall {
    fn keys(&self) -> &'static [Binding] {
        keys::RECALL
    }
    /// The form, or the export path, holds every key.
    fn editing(&self) -> bool {
        self.editing || self.export.is_some()
    }
    fn typing_text(&self) -> bool {
        match &self.export {
            Some(f) => f.takes_text(),
            None => self.editing && self.form.takes_text(),
        }
    }
    fn dirty(&self) -> bool {
        self.editing && self.form.dirty()
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        if let Some(form) = &mut self.export {
            match form.key(key) {
                FormEvent::Submit => {
                    let path = form.get(()).to_string();
                    self.export(ctx, &path);
                }
                FormEvent::Cancel => self.export = None,
                FormEvent::None => {}
            }
            return;
        }
        if self.editing {
            match self.form.key(key) {
                FormEvent::Submit => self.run(ctx, false, false),
                FormEvent::Cancel => self.editing = self.result.is_none(),
                FormEvent::None => {}
            }
            return;
        }
        let len = self.lines().len();
        if move_selection(&key, &mut self.sel, len) {
            return;
        }
        match keys::action(keys::RECALL, &key) {
            Some(Action::Apply) => self.apply(ctx),
            Some(Action::Export) if self.result.is_some() => {
                let default = std::env::temp_dir().join(format!("recall-{}.csv", ctx.now.format("%Y%m%dT%H%M%S")));
                let field = Field::text((), "File", &default.display().to_string());
                self.export = Some(Form::new("Export the affected list as CSV", vec![field]));
            }
            Some(Action::Back) => self.editing = true,
            _ => {}
        }
    }
    fn on_scan(&mut self, _ctx: &mut Ctx, data: &str) -> bool {
        self.editing && self.export.is_none() && self.form.fill_scan(data)
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let [top, bottom] = Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
        match &self.export {
            Some(form) => form.render(f, top, true),
            None => self.form.render(f, top, self.editing),
        }
        let lines = self.lines();
        let sel = (!self.editing && !lines.is_empty()).then_some(self.sel);
        list(f, bottom, "Affected", lines, sel);
    }
}

impl Recall {
    /// What the dry run or the applied recall found, one line each.
    fn lines(&self) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        if let Some((_, r)) = &self.result {
            lines.push(Line::from(Span::styled(
                format!(
                    "{} — {} batches, {} in stock, {} dispensed, {} recipients to contact",
                    if r.applied { "APPLIED" } else { "dry run" },
                    r.batches.len(),
                    r.in_stock,
                    r.dispensed,
                    r.recipients.len()
                ),
                theme::title(),
            )));
            if let Some(m) = &r.look_back_unreadable {
                let why = format!("look-back cannot be judged on {m}: every donation of the donor is included");
                lines.push(Line::from(Span::styled(why, theme::warn())));
            }
            // The default look-back leaves out what a negative screening covers: show it, never hide it.
            if let Some(e) = &r.earlier {
                let head = format!(
                    "not included: {} earlier batches of donor {} ({} in stock, {} dispensed)",
                    e.batches.len(),
                    e.donor,
                    e.in_stock,
                    e.dispensed
                );
                let how = format!(
                    "  covered by the negative screening of {}; to include them, set From to {}",
                    e.covered_by_screening_of, e.include_from
                );
                lines.push(Line::from(Span::styled(head, theme::warn())));
                lines.push(Line::from(Span::styled(how, theme::warn())));
                for b in &e.batches {
                    lines.push(Line::from(format!("  earlier {}  {}", b.id, b.status)));
                }
            }
            for p in &r.recipients {
                let units: Vec<String> = p.units.iter().map(ToString::to_string).collect();
                lines.push(Line::from(Span::styled(
                    format!(
                        "recipient {}  {}  first {}  {}",
                        p.id,
                        words::clean(&p.indication),
                        p.first_dispensed_at.shown(|t| time::show(*t)),
                        units.join(" ")
                    ),
                    theme::warn(),
                )));
            }
            for u in r.units.iter().filter(|u| u.recipient.is_none()) {
                lines.push(Line::from(format!("in stock {}  {}", u.id, u.status)));
            }
        }
        lines
    }
}
