//! Donation intake: scan the donor, record collection time, mass, Bristol score and the donation-day
//! questionnaire; the DIN comes back and its label prints at once (when a printer is configured).

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::Frame;

use super::panel;
use crate::app::{AppError, NewDonation, ScreeningInput};
use crate::core::config::Config;
use crate::core::ids::{Id, IdKind};
use crate::core::model::{ScreeningKind, TestResult};
use crate::time;
use crate::tui::app::{Ctx, Screen};
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::picker::{Picked, Picker};

pub struct Donations {
    form: Form,
    picker: Option<Picker>,
    /// Esc on an empty form steps out of it, so that the global keys (? help, q quit) work; any other key
    /// steps back in.
    resting: bool,
    answers: Vec<String>,
    last: Option<Id>,
}

const ALL_NO: &str = "all no";

impl Donations {
    pub fn new(config: &Config) -> Donations {
        let mut answers = vec![ALL_NO.to_string()];
        answers.extend(config.panel(ScreeningKind::DonationDay).iter().map(|q| format!("yes: {q}")));
        Donations { form: Self::blank(&answers), picker: None, resting: false, answers, last: None }
    }

    fn blank(answers: &[String]) -> Form {
        let bristol: Vec<String> = (1..=7).map(|b| b.to_string()).collect();
        Form::new(
            "Donation intake (scan the donor)",
            vec![
                Field::id("Donor"),
                Field::text("Collected at", ""),
                Field::text("Mass g", ""),
                Field::choice("Bristol", &bristol, "4"),
                Field::choice("Questionnaire", answers, ALL_NO),
            ],
        )
    }

    fn submit(&mut self, ctx: &mut Ctx) -> Result<Id, AppError> {
        let donor = ctx.bank.lookup_kind(self.form.get("Donor"), IdKind::Donor)?;
        let collected = match self.form.get("Collected at") {
            "" => ctx.now,
            s => time::parse_timestamp(s).map_err(|e| AppError::Invalid(e.to_string()))?,
        };
        let mass = match self.form.get("Mass g") {
            "" => None,
            s => Some(s.parse::<f64>().map_err(|_| AppError::Invalid(format!("mass `{s}` is not a number of grams")))?),
        };
        let bristol = self.form.get("Bristol").parse().ok();
        let mut input = ScreeningInput { all_negative: true, tests: Vec::new() };
        if let Some(q) = self.form.get("Questionnaire").strip_prefix("yes: ") {
            input.tests.push((q.to_string(), TestResult::Positive));
        }
        let new = NewDonation {
            donor,
            collected_at: collected,
            received_at: Some(ctx.now.max(collected)),
            mass_g: mass,
            bristol,
        };
        let (_, d) = ctx.bank.intake_donation(new, &input)?;
        Ok(d.id)
    }

    fn print(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.last.clone() else { return ctx.error("no donation yet") };
        match ctx.bank.print_labels(&id, None, None, 1, None, ctx.now) {
            Ok(p) => ctx.info(p.to_string()),
            Err(e) => ctx.fail(e),
        }
    }
}

impl Screen for Donations {
    fn keys(&self) -> &'static [Binding] {
        keys::DONATIONS
    }
    fn editing(&self) -> bool {
        !self.resting
    }
    fn dirty(&self) -> bool {
        self.form.dirty()
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        if let Some(p) = &mut self.picker {
            match p.key(key) {
                Picked::Chosen(id) => {
                    self.picker = None;
                    self.form.fill_scan(&id.display());
                }
                Picked::Closed => self.picker = None,
                Picked::Still => {}
            }
            return;
        }
        let action = keys::action(keys::DONATIONS, &key);
        if action == Some(Action::Pick) {
            match ctx.bank.donors(None, 1000, ctx.now) {
                Ok(rows) => {
                    let rows = rows
                        .into_iter()
                        .map(|d| (d.id.clone(), format!("{}  {}  {}", d.id, d.status.as_str(), d.reason)))
                        .collect();
                    self.picker = Some(Picker::new("Pick the donor", rows));
                }
                Err(e) => ctx.fail(e),
            }
            return;
        }
        if std::mem::take(&mut self.resting) && action == Some(Action::Back) {
            return;
        }
        if action == Some(Action::Back) && !self.form.dirty() {
            self.resting = true;
            return;
        }
        if action == Some(Action::Print) {
            return self.print(ctx);
        }
        match self.form.key(key) {
            FormEvent::Submit => match self.submit(ctx) {
                Ok(din) => {
                    ctx.info(format!("donation {din} recorded"));
                    self.last = Some(din);
                    self.form = Self::blank(&self.answers);
                    if ctx.bank.config().printer.is_some() {
                        self.print(ctx);
                    }
                }
                Err(e) => ctx.fail(e),
            },
            FormEvent::Cancel => self.form = Self::blank(&self.answers),
            FormEvent::None => {}
        }
    }
    fn on_scan(&mut self, _ctx: &mut Ctx, data: &str) -> bool {
        self.form.fill_scan(data)
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let [top, bottom] = Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
        self.form.render(f, top, self.picker.is_none());
        if let Some(p) = &self.picker {
            return p.render(f, bottom);
        }
        let mut lines =
            vec![Line::from("Collected at: empty for now, or 2026-03-01 09:30. Ctrl-F picks the donor from a list.")];
        if let Some(d) = &self.last {
            lines.push(Line::from(format!("Last donation: {}  ({})", d, d.eye_readable())));
            lines.push(Line::from("Next: F4 Batches to process it (scan its label)."));
        }
        panel(f, bottom, "Intake", lines);
    }
}
