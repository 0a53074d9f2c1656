//! Donation intake: scan the donor, record collection time, mass, Bristol score and the donation-day
//! questionnaire; the DIN comes back and its label prints at once (when a printer is configured).

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::Frame;

use super::panel;
use crate::app::{AppError, Bank, Intake, NewDonation, ScreeningInput};
use crate::core::config::Config;
use crate::core::ids::{Id, IdKind};
use crate::core::model::{ScreeningKind, TestResult};
use crate::time;
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::picker::{Picked, Picker, Source};
use crate::tui::screen::{Ctx, Screen};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    Donor,
    CollectedAt,
    Mass,
    Bristol,
    Questionnaire,
}

pub struct Donations {
    form: Form<F>,
    picker: Option<Picker>,
    /// Asking why the last donation's label is printed again.
    reprint: Option<Form<()>>,
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
        Donations { form: Self::blank(&answers), picker: None, reprint: None, resting: false, answers, last: None }
    }

    fn blank(answers: &[String]) -> Form<F> {
        let bristol: Vec<String> = crate::core::input::BRISTOL.map(|b| b.to_string()).collect();
        Form::new(
            "Donation intake (scan the donor)",
            vec![
                Field::id(F::Donor, "Donor"),
                Field::when(F::CollectedAt, "Collected at", ""),
                Field::number(F::Mass, "Mass g", ""),
                Field::choice(F::Bristol, "Bristol", &bristol, "4"),
                Field::choice(F::Questionnaire, "Questionnaire", answers, ALL_NO),
            ],
        )
    }

    fn submit(&mut self, ctx: &mut Ctx) -> Result<Intake, AppError> {
        let donor = ctx.bank.lookup_kind(self.form.get(F::Donor), IdKind::Donor)?;
        let collected = match self.form.get(F::CollectedAt) {
            "" => ctx.now,
            s => time::parse_timestamp(s).map_err(|e| AppError::Invalid(e.to_string()))?,
        };
        let mass = match self.form.get(F::Mass) {
            "" => None,
            s => Some(s.parse::<f64>().map_err(|_| AppError::Invalid(format!("mass `{s}` is not a number of grams")))?),
        };
        let bristol = self.form.get(F::Bristol).parse().ok();
        let mut input = ScreeningInput { all_negative: true, tests: Vec::new() };
        if let Some(q) = self.form.get(F::Questionnaire).strip_prefix("yes: ") {
            input.tests.push((q.to_string(), TestResult::Positive));
        }
        let new = NewDonation {
            donor,
            collected_at: collected,
            // Reception is not asked at the bench: left unrecorded rather than made up.
            received_at: None,
            mass_g: mass,
            bristol,
        };
        ctx.bank.intake_donation(new, &input)
    }

    /// Prints the last donation's label: at once the first time, after asking why when it is a reprint.
    fn print(&mut self, ctx: &mut Ctx, reason: Option<&str>) {
        let Some(id) = self.last.clone() else { return ctx.error("no donation recorded in this session yet") };
        if reason.is_none() {
            match ctx.bank.label_printed(&id, ctx.now) {
                Ok(true) => {
                    let field = Field::text((), "Why print again", "");
                    self.reprint = Some(Form::new("Reprint the label (the reason is recorded)", vec![field]));
                    return;
                }
                Ok(false) => {}
                Err(e) => return ctx.fail(e),
            }
        }
        let reason = match reason.map(Bank::reprint_reason).transpose() {
            Ok(reason) => reason,
            Err(e) => return ctx.fail(e),
        };
        self.reprint = None;
        ctx.print(id, reason);
    }
}

impl Screen for Donations {
    fn keys(&self) -> &'static [Binding] {
        keys::DONATIONS
    }
    fn editing(&self) -> bool {
        !self.resting
    }
    fn typing_text(&self) -> bool {
        !self.resting
            && (self.picker.is_some() || self.reprint.as_ref().map_or_else(|| self.form.takes_text(), Form::takes_text))
    }
    fn dirty(&self) -> bool {
        self.form.dirty()
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        if let Some(p) = &mut self.picker {
            match p.key(ctx, key) {
                Picked::Chosen(id) => {
                    self.picker = None;
                    self.form.set(F::Donor, &id.display());
                    self.form.focus_on(F::CollectedAt);
                }
                Picked::Closed => self.picker = None,
                Picked::Still => {}
            }
            return;
        }
        if let Some(form) = &mut self.reprint {
            match form.key(key) {
                FormEvent::Submit => {
                    let reason = form.get(()).to_string();
                    self.print(ctx, Some(&reason));
                }
                FormEvent::Cancel => self.reprint = None,
                FormEvent::None => {}
            }
            return;
        }
        let action = keys::action(keys::DONATIONS, &key);
        if action == Some(Action::Pick) {
            self.picker = Picker::open(ctx, Source::Donors);
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
            return self.print(ctx, None);
        }
        match self.form.key(key) {
            FormEvent::Submit => match self.submit(ctx) {
                Ok(Intake { screening, donation: None }) => {
                    let answers: Vec<String> = screening.abnormal.iter().map(|a| a.test.clone()).collect();
                    ctx.error(format!(
                        "donor {} answered yes ({}) on the donation-day questionnaire: deferred, no donation \
                         recorded; the answers are kept",
                        screening.donor,
                        answers.join(", ")
                    ));
                    self.form = Self::blank(&self.answers);
                }
                Ok(Intake { donation: Some(d), .. }) => {
                    let din = d.id;
                    ctx.info(format!("donation {din} recorded"));
                    self.last = din.ok().cloned();
                    self.form = Self::blank(&self.answers);
                    if ctx.bank.config().printer.is_some() {
                        self.print(ctx, None);
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
        self.form.render(f, top, self.picker.is_none() && self.reprint.is_none());
        if let Some(p) = &self.picker {
            return p.render(f, bottom);
        }
        if let Some(form) = &self.reprint {
            return form.render(f, bottom, true);
        }
        let mut lines = vec![Line::from(
            "Collected at: empty for now, or 2026-03-01 09:30 (local time). Ctrl-F picks the donor from a list.",
        )];
        if let Some(d) = &self.last {
            lines.push(Line::from(format!("Last donation: {}  ({})", d, d.eye_readable())));
            lines.push(Line::from("Next: F4 Batches to process it (scan its label)."));
        }
        panel(f, bottom, "Intake", lines);
    }
}
