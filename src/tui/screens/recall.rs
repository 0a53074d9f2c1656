//! Recall: choose a donor (from a date) or a batch or a collection window, see every affected unit in stock and
//! dispensed with its recipient, apply the recall, export the list as CSV.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::{list, move_selection};
use crate::app::{AppError, RecallSelector, RecallSummary};
use crate::core::ids::IdKind;
use crate::time;
use crate::tui::app::{Ctx, Screen};
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::theme;

pub struct Recall {
    form: Form,
    editing: bool,
    confirm: bool,
    result: Option<(RecallSelector, RecallSummary)>,
    sel: usize,
}

impl Default for Recall {
    fn default() -> Self {
        let selectors = vec!["donor".to_string(), "batch".to_string(), "collection window".to_string()];
        Recall {
            form: Form::new(
                "Recall",
                vec![
                    Field::choice("Select by", &selectors, "donor"),
                    Field::id("Donor or batch"),
                    Field::text("From", ""),
                    Field::text("To", ""),
                    Field::text("Reason", ""),
                ],
            ),
            editing: true,
            confirm: false,
            result: None,
            sel: 0,
        }
    }
}

impl Recall {
    fn selector(&self, ctx: &mut Ctx) -> Result<RecallSelector, AppError> {
        let date = |s: &str| time::parse_date(s).map_err(|e| AppError::Invalid(e.to_string()));
        let from = self.form.get("From");
        match self.form.get("Select by") {
            "donor" => Ok(RecallSelector::Donor {
                donor: ctx.bank.lookup_kind(self.form.get("Donor or batch"), IdKind::Donor)?,
                from: if from.is_empty() { None } else { Some(date(from)?) },
            }),
            "batch" => Ok(RecallSelector::Batch(ctx.bank.lookup_kind(self.form.get("Donor or batch"), IdKind::Batch)?)),
            _ => Ok(RecallSelector::CollectionWindow { from: date(from)?, to: date(self.form.get("To"))? }),
        }
    }

    fn run(&mut self, ctx: &mut Ctx, apply: bool) {
        let sel = match &self.result {
            Some((s, _)) if apply => Ok(s.clone()),
            _ => self.selector(ctx),
        };
        let outcome =
            sel.and_then(|s| ctx.bank.recall(&s, self.form.get("Reason"), apply, false, ctx.now).map(|r| (s, r)));
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

    fn export(&self, ctx: &mut Ctx) {
        let Some((_, r)) = &self.result else { return ctx.error("run the recall first") };
        let mut csv = String::from("unit,batch,status,recipient,dispensed_at,route,clinician\n");
        for u in &r.units {
            let field = |s: Option<String>| s.unwrap_or_default().replace(',', ";");
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                u.id,
                u.batch,
                u.status.as_str(),
                field(u.recipient.as_ref().map(|r| r.display())),
                field(u.dispensed_at.map(|t| t.to_rfc3339())),
                field(u.route.clone()),
                field(u.clinician.clone())
            ));
        }
        let path = std::env::temp_dir().join(format!("recall-{}.csv", ctx.now.format("%Y%m%dT%H%M%S")));
        match std::fs::write(&path, csv) {
            Ok(()) => ctx.info(format!("exported {} units to {}", r.units.len(), path.display())),
            Err(e) => ctx.error(format!("cannot write {}: {e}", path.display())),
        }
    }
}

impl Screen for Recall {
    fn keys(&self) -> &'static [Binding] {
        keys::RECALL
    }
    /// The form, or the apply confirmation, holds every key.
    fn editing(&self) -> bool {
        self.editing || self.confirm
    }
    fn dirty(&self) -> bool {
        self.editing && self.form.dirty()
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        if self.confirm {
            self.confirm = false;
            if keys::action(keys::CONFIRM, &key) == Some(Action::Yes) {
                self.run(ctx, true);
            }
            return;
        }
        if self.editing {
            match self.form.key(key) {
                FormEvent::Submit => self.run(ctx, false),
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
            Some(Action::Apply) if self.result.as_ref().is_some_and(|(_, r)| !r.applied) => self.confirm = true,
            Some(Action::Apply) => ctx.error("already applied; Esc for a new recall"),
            Some(Action::Export) => self.export(ctx),
            Some(Action::Back) => self.editing = true,
            _ => {}
        }
    }
    fn on_scan(&mut self, _ctx: &mut Ctx, data: &str) -> bool {
        self.editing && self.form.fill_scan(data)
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let [top, bottom] = Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
        self.form.render(f, top, self.editing);
        let lines = self.lines();
        let sel = (!self.editing && !lines.is_empty()).then_some(self.sel);
        list(f, bottom, "Affected", lines, sel);
    }
}

impl Recall {
    /// What the dry run or the applied recall found, one line each.
    fn lines(&self) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        if self.confirm {
            lines.push(Line::from(Span::styled(
                "Apply this recall: quarantine every unit in stock? y/n",
                theme::warn(),
            )));
        }
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
            for p in &r.recipients {
                let units: Vec<String> = p.units.iter().map(|u| u.display()).collect();
                lines.push(Line::from(Span::styled(
                    format!(
                        "recipient {}  {}  first {}  {}",
                        p.id,
                        p.indication,
                        time::show(p.first_dispensed_at),
                        units.join(" ")
                    ),
                    theme::warn(),
                )));
            }
            for u in r.units.iter().filter(|u| u.recipient.is_none()) {
                lines.push(Line::from(format!("in stock {}  {}", u.id, u.status.as_str())));
            }
        }
        lines
    }
}
