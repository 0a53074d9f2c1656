//! Follow-up: the clinician's work list for the day (every visit due or overdue), a visit's outcome and scores
//! entered from the selected row, adverse events with the safety-signal banner that opens the recall's dry run,
//! and the selected recipient's course, visits and events.

use chrono::NaiveDate;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::{list_window, move_selection, pane, pane_title, Scroll};
use crate::app::{AppError, ClinicalView, DueVisit, NewAdverseEvent, SafetySignal, VisitInput};
use crate::core::followup::{Outcome, Relatedness, Timepoint};
use crate::core::ids::{Id, IdKind};
use crate::time;
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::loading::{Failure, Load};
use crate::tui::screen::{Ctx, RecallRequest, Reload, Screen};
use crate::tui::{theme, words};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V {
    Recipient,
    Timepoint,
    Date,
    Outcome,
    Scores,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum A {
    Recipient,
    Onset,
    Term,
    Grade,
    Serious,
    Relatedness,
    Unit,
    Outcome,
}

enum Editing {
    Visit(Form<V>),
    Event(Form<A>),
}

/// A safety signal raised here, with the recall it asks for.
struct Signal {
    signal: SafetySignal,
    reason: String,
}

#[derive(Default)]
pub struct Followup {
    due: Vec<DueVisit>,
    sel: usize,
    form: Option<Editing>,
    /// The selected recipient's clinical view.
    view: Option<ClinicalView>,
    scroll: Scroll,
    signal: Option<Signal>,
    /// The work list is being read again (the last one shows meanwhile).
    loading: bool,
    /// The read under way was asked after another bench's change.
    other: bool,
    /// Another bench changed the recipient shown since it was opened.
    changed: bool,
}

fn names<T: Copy + std::fmt::Display>(all: &[T]) -> Vec<String> {
    all.iter().map(ToString::to_string).collect()
}

fn date(what: &str, s: &str) -> Result<NaiveDate, AppError> {
    time::parse_date(s).map_err(|e| AppError::Invalid(format!("{what}: {e}")))
}

/// `mayo=2 qol=78` (spaces or commas between) as name–value pairs; the values are checked by the operation.
fn scores(s: &str) -> Result<Vec<(String, String)>, AppError> {
    s.split([' ', ','])
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.split_once('=')
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .ok_or_else(|| AppError::Invalid(format!("score `{t}` is not NAME=VALUE (e.g. mayo=2)")))
        })
        .collect()
}

impl Followup {
    /// The app dropped the answer (it came behind the idle lock): the next refresh asks again.
    pub fn load_dropped(&mut self) {
        self.loading = false;
    }

    /// A new work list: the selection stays on the visit it was on (or the nearest row when that one is done),
    /// and the pane shows the recipient it showed, read again, or the selected row's. `here`: the tab is shown
    /// (else a change is marked on the pane, not said).
    pub fn loaded(&mut self, ctx: &mut Ctx, answer: Result<Vec<DueVisit>, Failure>, here: bool) {
        self.loading = false;
        let other = std::mem::take(&mut self.other);
        let due = match answer {
            Ok(due) => due,
            Err(f) => return ctx.failed(f),
        };
        let was = self.selected().map(|d| (d.recipient.clone(), d.timepoint));
        self.due = due;
        let same = was.and_then(|(r, t)| self.due.iter().position(|d| d.recipient == r && d.timepoint == t));
        self.sel = same.unwrap_or(self.sel).min(self.due.len().saturating_sub(1));
        let shown = self.view.as_ref().and_then(|v| v.recipient.id.ok().cloned());
        let before = self.view.as_ref().map(clinical_lines);
        match shown.clone() {
            Some(id) => self.show(ctx, Some(id)),
            None => self.load_view(ctx),
        }
        if let Some(id) =
            shown.filter(|_| other && before.is_some() && self.view.as_ref().map(clinical_lines) != before)
        {
            self.changed = true;
            if here {
                ctx.info(format!("updated: another bench changed recipient {id}, open here"));
            }
        }
    }

    fn selected(&self) -> Option<&DueVisit> {
        self.due.get(self.sel)
    }

    /// Shows the selected row's recipient.
    fn load_view(&mut self, ctx: &mut Ctx) {
        let id = self.selected().map(|d| d.recipient.clone());
        self.show(ctx, id);
    }

    /// Shows a recipient's view, read again; the pane stays scrolled where it was when it is the same recipient.
    fn show(&mut self, ctx: &mut Ctx, id: Option<Id>) {
        if self.view.as_ref().and_then(|v| v.recipient.id.ok()) != id.as_ref() {
            self.scroll.reset();
            self.changed = false;
        }
        self.view = match id {
            Some(id) => match ctx.bank.clinical_view(&id) {
                Ok(v) => Some(v),
                Err(e) => {
                    ctx.fail(e);
                    None
                }
            },
            None => None,
        };
    }

    fn visit_form(&self, now: chrono::DateTime<chrono::Utc>) -> Form<V> {
        let row = self.selected();
        let mut form = Form::new(
            "Follow-up visit",
            vec![
                Field::id(V::Recipient, "Recipient"),
                Field::choice(
                    V::Timepoint,
                    "Time point",
                    &names(Timepoint::ALL),
                    row.map_or("3m", |r| r.timepoint.as_str()),
                ),
                Field::when(V::Date, "Date", &time::show(now)),
                Field::choice(V::Outcome, "Outcome", &names(Outcome::ALL), "remission"),
                Field::text(V::Scores, "Scores", ""),
            ],
        );
        if let Some(r) = row {
            form.set(V::Recipient, &r.recipient.to_string());
            form.focus_on(V::Outcome);
        }
        form
    }

    fn event_form(&self, now: chrono::DateTime<chrono::Utc>) -> Form<A> {
        let grades: Vec<String> = (1..=5).map(|g: u8| g.to_string()).collect();
        let yes_no = vec!["no".to_string(), "yes".to_string()];
        let mut form = Form::new(
            "Adverse event",
            vec![
                Field::id(A::Recipient, "Recipient"),
                Field::when(A::Onset, "Onset", &time::local_day(now).to_string()),
                Field::text(A::Term, "Term", ""),
                Field::choice(A::Grade, "Grade", &grades, "1"),
                Field::choice(A::Serious, "Serious", &yes_no, "no"),
                Field::choice(A::Relatedness, "Relatedness", &names(Relatedness::ALL), "possible"),
                Field::id(A::Unit, "Unit suspected"),
                Field::text(A::Outcome, "Outcome", ""),
            ],
        );
        if let Some(r) = self.selected() {
            form.set(A::Recipient, &r.recipient.to_string());
            form.focus_on(A::Onset);
        }
        form
    }

    fn save_visit(ctx: &mut Ctx, form: &Form<V>) -> Result<Id, AppError> {
        let id = ctx.bank.lookup_kind(form.get(V::Recipient), IdKind::Recipient)?;
        let at = time::parse_timestamp(form.get(V::Date)).map_err(|e| AppError::Invalid(format!("date: {e}")))?;
        let input = VisitInput {
            timepoint: form.get(V::Timepoint).parse().map_err(AppError::Invalid)?,
            outcome: form.get(V::Outcome).parse().map_err(AppError::Invalid)?,
            scores: scores(form.get(V::Scores))?,
            corrects: None,
        };
        let v = ctx.bank.add_followup(&id, input, at)?;
        let w = &v.window;
        let said = format!("{} visit of {id} recorded on {}: {}", v.visit.timepoint, v.visit.date, v.visit.outcome);
        if v.in_window {
            ctx.info(said);
        } else {
            ctx.error(format!(
                "OUTSIDE its window {}–{} (due {}), kept and flagged in reports: {said}",
                w.from, w.to, w.due
            ));
        }
        Ok(id)
    }

    fn save_event(&mut self, ctx: &mut Ctx, form: &Form<A>) -> Result<Id, AppError> {
        let id = ctx.bank.lookup_kind(form.get(A::Recipient), IdKind::Recipient)?;
        let unit = match form.get(A::Unit) {
            "" => None,
            u => Some(ctx.bank.lookup_kind(u, IdKind::Unit)?),
        };
        let new = NewAdverseEvent {
            onset: date("onset", form.get(A::Onset))?,
            term: form.get(A::Term).to_string(),
            grade: form.get(A::Grade).parse().map_err(|_| AppError::Invalid("grade: choose 1–5".into()))?,
            serious: form.get(A::Serious) == "yes",
            relatedness: form.get(A::Relatedness).parse().map_err(AppError::Invalid)?,
            unit,
            outcome: Some(form.get(A::Outcome).to_string()),
            resolved_on: None,
            corrects: None,
        };
        let e = ctx.bank.add_adverse_event(&id, new, ctx.now)?;
        let ev = &e.event;
        match e.safety_signal {
            Some(signal) => {
                ctx.error(words::clean(&signal.message));
                let reason = format!("serious adverse event {} ({}) in {id}", ev.id, ev.relatedness);
                self.signal = Some(Signal { signal, reason });
            }
            None => ctx.info(format!(
                "adverse event {} of {id} recorded: {} (grade {})",
                ev.id,
                words::clean(&ev.term),
                ev.grade
            )),
        }
        Ok(id)
    }

    fn submit(&mut self, ctx: &mut Ctx) {
        let saved = match self.form.take() {
            Some(Editing::Visit(f)) => Self::save_visit(ctx, &f).map_err(|e| (e, Editing::Visit(f))),
            Some(Editing::Event(f)) => self.save_event(ctx, &f).map_err(|e| (e, Editing::Event(f))),
            None => return,
        };
        match saved {
            // The work list moves on; the pane shows the recipient just recorded.
            Ok(id) => {
                self.refresh(ctx);
                self.show(ctx, Some(id));
            }
            // Nothing typed is lost: the form stays open with the message.
            Err((e, form)) => {
                self.form = Some(form);
                ctx.fail(e);
            }
        }
    }

    fn open_recall(&mut self, ctx: &mut Ctx) {
        match &self.signal {
            Some(s) => {
                ctx.out.recall = Some(RecallRequest {
                    donor: s.signal.donor.clone(),
                    from: s.signal.from,
                    reason: s.reason.clone(),
                });
            }
            None => ctx.error("no safety signal to act on"),
        }
    }

    fn due_line(&self, i: usize) -> Line<'static> {
        let d = &self.due[i];
        let late = if d.overdue_days > 0 {
            Span::styled(format!("  {} d overdue", d.overdue_days), theme::warn())
        } else {
            Span::raw("  due")
        };
        Line::from(vec![
            Span::raw(format!(
                "{} {:<2} {}  {}  {}–{}",
                d.due,
                d.timepoint,
                d.recipient,
                words::clean(&d.indication),
                d.window_from,
                d.window_to
            )),
            late,
        ])
    }
}

/// A recipient's course, eligibility, visits and adverse events, for the detail pane.
pub fn clinical_lines(v: &ClinicalView) -> Vec<Line<'static>> {
    let r = &v.recipient;
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{} · {} · {} · {}",
            r.id,
            words::clean(&r.indication),
            r.cohort,
            if v.eligibility.eligible { "in the study".to_string() } else { v.eligibility.reasons.join("; ") }
        ),
        theme::title(),
    ))];
    for c in &v.courses {
        lines.push(Line::from(format!("course from {} to {}: {} session(s)", c.start, c.last, c.sessions)));
    }
    for f in &v.followups {
        let scores: Vec<String> = f.visit.scores.iter().map(|(n, s)| format!("{}={s}", words::clean(n))).collect();
        let mut spans = vec![Span::raw(format!(
            "visit {} {} {}: {} {}",
            f.visit.id,
            f.visit.timepoint,
            f.visit.date,
            f.visit.outcome,
            scores.join(" ")
        ))];
        if !f.in_window {
            spans.push(Span::styled(" (out of window)", theme::warn()));
        }
        if let Some(n) = f.visit.supersedes {
            spans.push(Span::raw(format!(" corrects {n}")));
        }
        lines.push(Line::from(spans));
    }
    for e in &v.adverse_events {
        let style = if e.serious { theme::error() } else { ratatui::style::Style::new() };
        lines.push(Line::from(Span::styled(
            format!(
                "AE {} from {}: {} · grade {}{} · {}{}{}",
                e.id,
                e.onset,
                words::clean(&e.term),
                e.grade,
                if e.serious { " serious" } else { "" },
                e.relatedness,
                e.unit.as_ref().map(|u| format!(" · unit {u}")).unwrap_or_default(),
                e.outcome.as_deref().map(|o| format!(" · {}", words::clean(o))).unwrap_or_default()
            ),
            style,
        )));
    }
    lines
}

impl Screen for Followup {
    fn keys(&self) -> &'static [Binding] {
        keys::FOLLOWUP
    }
    fn scan_hint(&self) -> Option<&'static str> {
        Some("in a form, a recipient or the suspected unit fills its field")
    }
    fn editing(&self) -> bool {
        self.form.is_some()
    }
    fn typing_text(&self) -> bool {
        match &self.form {
            Some(Editing::Visit(f)) => f.takes_text(),
            Some(Editing::Event(f)) => f.takes_text(),
            None => false,
        }
    }
    fn dirty(&self) -> bool {
        match &self.form {
            Some(Editing::Visit(f)) => f.dirty(),
            Some(Editing::Event(f)) => f.dirty(),
            None => false,
        }
    }
    // The work list reads every dispense and visit: off the event loop (see `tui::loading`).
    fn refresh(&mut self, ctx: &mut Ctx) {
        if !self.loading {
            self.loading = true;
            ctx.load(Load::FollowupsDue { by: time::local_day(ctx.now) });
        }
    }
    // Read again off the event loop (a form, when open, stays as typed); the selection stays on its visit.
    fn reload(&mut self, ctx: &mut Ctx, other: bool) -> Reload {
        if self.loading {
            return Reload::Busy;
        }
        self.loading = true;
        self.other = other;
        ctx.load_quietly(Load::FollowupsDue { by: time::local_day(ctx.now) });
        Reload::Read
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        let event = match &mut self.form {
            Some(Editing::Visit(f)) => Some(f.key(key)),
            Some(Editing::Event(f)) => Some(f.key(key)),
            None => None,
        };
        match event {
            Some(FormEvent::Submit) => return self.submit(ctx),
            Some(FormEvent::Cancel) => return self.form = None,
            Some(FormEvent::None) => return,
            None => {}
        }
        if move_selection(&key, &mut self.sel, self.due.len()) {
            return self.load_view(ctx);
        }
        match keys::action(keys::FOLLOWUP, &key) {
            Some(Action::Visit) => self.form = Some(Editing::Visit(self.visit_form(ctx.now))),
            Some(Action::AdverseEvent) => self.form = Some(Editing::Event(self.event_form(ctx.now))),
            Some(Action::OpenRecall) => self.open_recall(ctx),
            Some(Action::Refresh) => self.refresh(ctx),
            Some(Action::ScrollDown) => self.scroll.half_page(1),
            Some(Action::ScrollUp) => self.scroll.half_page(-1),
            _ => {}
        }
    }
    fn on_scan(&mut self, _ctx: &mut Ctx, data: &str) -> bool {
        match &mut self.form {
            Some(Editing::Visit(f)) => f.fill_scan(data),
            Some(Editing::Event(f)) => f.fill_scan(data),
            None => false,
        }
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let banner = if self.signal.is_some() { 3 } else { 0 };
        let bottom = match &self.form {
            Some(Editing::Visit(form)) => form.fields.len() as u16 + 3,
            Some(Editing::Event(form)) => form.fields.len() as u16 + 3,
            None => 8,
        };
        let [top, mid, low] =
            Layout::vertical([Constraint::Length(banner), Constraint::Min(3), Constraint::Length(bottom)]).areas(area);
        if let Some(s) = &self.signal {
            let text = format!("{} · s: open the Recall tab with the donor's dry run", words::clean(&s.signal.message));
            f.render_widget(
                Paragraph::new(Span::styled(text, theme::error()))
                    .wrap(Wrap { trim: true })
                    .block(Block::default().borders(Borders::TOP).border_style(theme::error()).title("SAFETY SIGNAL")),
                top,
            );
        }
        let loading = if self.loading { " · loading…" } else { "" };
        let title = format!("Visits due by today ({}){loading}", self.due.len());
        let sel = (!self.due.is_empty()).then_some(self.sel);
        list_window(f, mid, &title, self.due.len(), sel, |i| self.due_line(i));
        match &self.form {
            Some(Editing::Visit(form)) => form.render(f, low, true),
            Some(Editing::Event(form)) => form.render(f, low, true),
            None => {
                let lines = self.view.as_ref().map(clinical_lines).unwrap_or_default();
                let title = pane_title("Recipient", self.changed, "");
                pane(f, low, &title, lines, &self.scroll);
            }
        }
    }
}
