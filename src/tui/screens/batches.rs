//! Processing, QC and release: make a batch from a scanned donation, enter QC results, see every release rule
//! with ✓/✗ (release is refused while any fails), discard, print unit labels, verify labels by scanning them.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::{list, mark, move_selection, panel};
use crate::app::views::BatchView;
use crate::app::AppError;
use crate::core::config::Config;
use crate::core::ids::{Id, IdKind};
use crate::core::model::QcResult;
use crate::store::batches::Batch;
use crate::tui::app::{Ctx, Screen};
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::theme;

enum Editing {
    Make(Form),
    Qc(Form),
    Discard(Form),
    ConfirmRelease,
}

pub struct Batches {
    products: Vec<String>,
    qc_tests: Vec<String>,
    queue: Vec<Batch>,
    sel: usize,
    view: Option<BatchView>,
    editing: Option<Editing>,
    /// Lines of the batch panel scrolled away (a long failing rule can push units off an 80×24 screen).
    scroll: u16,
}

impl Batches {
    pub fn new(config: &Config) -> Batches {
        Batches {
            products: config.products.iter().map(|p| p.code.clone()).collect(),
            qc_tests: config.qc_required.clone(),
            queue: Vec::new(),
            sel: 0,
            view: None,
            editing: None,
            scroll: 0,
        }
    }

    fn show(&mut self, ctx: &mut Ctx, id: &Id) {
        match ctx.bank.batch_view(id, ctx.now) {
            Ok(v) => {
                if self.view.as_ref().is_none_or(|old| old.id != v.id) {
                    self.scroll = 0;
                }
                self.view = Some(v);
            }
            Err(e) => ctx.fail(e),
        }
    }

    fn current(&self) -> Option<Id> {
        self.view.as_ref().map(|v| v.id.clone())
    }

    fn submit(&mut self, ctx: &mut Ctx) {
        let Some(editing) = self.editing.take() else { return };
        let result: Result<(Id, String), AppError> = match &editing {
            Editing::Make(form) => (|| {
                let donation = ctx.bank.lookup_kind(form.get("Donation"), IdKind::Donation)?;
                let units = form.get("Units").parse().map_err(|_| AppError::Invalid("units: a whole number".into()))?;
                let volume = match form.get("Volume mL") {
                    "" => None,
                    v => Some(v.parse().map_err(|_| AppError::Invalid(format!("volume `{v}` is not a number")))?),
                };
                let v = ctx.bank.make_batch(&donation, form.get("Product"), units, volume, ctx.now)?;
                Ok((v.id.clone(), format!("batch {} made with {} units", v.id, v.units.len())))
            })(),
            Editing::Qc(form) => (|| {
                let batch = self.current().ok_or_else(|| AppError::Invalid("select a batch first".into()))?;
                let result: QcResult = form.get("Result").parse().map_err(AppError::Invalid)?;
                let value = Some(form.get("Value")).filter(|v| !v.is_empty());
                ctx.bank.add_qc(&batch, form.get("Test"), result, value, ctx.now)?;
                Ok((batch, format!("QC {} {result} recorded", form.get("Test"))))
            })(),
            Editing::Discard(form) => (|| {
                let batch = self.current().ok_or_else(|| AppError::Invalid("select a batch first".into()))?;
                ctx.bank.discard_batch(&batch, form.get("Reason"), ctx.now)?;
                Ok((batch.clone(), format!("batch {batch} discarded")))
            })(),
            Editing::ConfirmRelease => (|| {
                let batch = self.current().ok_or_else(|| AppError::Invalid("select a batch first".into()))?;
                ctx.bank.release_batch(&batch, ctx.now)?;
                Ok((batch.clone(), format!("batch {batch} released")))
            })(),
        };
        match result {
            Ok((id, m)) => {
                ctx.info(m);
                self.refresh(ctx);
                self.show(ctx, &id);
            }
            Err(e) => {
                ctx.fail(e);
                if !matches!(editing, Editing::ConfirmRelease) {
                    self.editing = Some(editing);
                }
            }
        }
    }
}

impl Screen for Batches {
    fn keys(&self) -> &'static [Binding] {
        keys::BATCHES
    }
    fn scan_hint(&self) -> Option<&'static str> {
        Some("a batch shows it; a unit label of the shown batch is verified")
    }
    /// A form or the release confirmation holds every key.
    fn editing(&self) -> bool {
        self.editing.is_some()
    }
    fn dirty(&self) -> bool {
        matches!(&self.editing, Some(Editing::Make(f) | Editing::Qc(f) | Editing::Discard(f)) if f.dirty())
    }
    fn refresh(&mut self, ctx: &mut Ctx) {
        match ctx.bank.batches_in_quarantine(500) {
            Ok(q) => self.queue = q,
            Err(e) => ctx.fail(e),
        }
        self.sel = self.sel.min(self.queue.len().saturating_sub(1));
        if self.view.is_none() {
            if let Some(b) = self.queue.get(self.sel).map(|b| b.id.clone()) {
                self.show(ctx, &b);
            }
        } else if let Some(id) = self.current() {
            self.show(ctx, &id);
        }
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        if let Some(Editing::ConfirmRelease) = self.editing {
            if keys::action(keys::CONFIRM, &key) == Some(Action::Yes) {
                self.submit(ctx);
            } else {
                self.editing = None;
            }
            return;
        }
        if let Some(Editing::Make(f) | Editing::Qc(f) | Editing::Discard(f)) = &mut self.editing {
            match f.key(key) {
                FormEvent::Submit => self.submit(ctx),
                FormEvent::Cancel => self.editing = None,
                FormEvent::None => {}
            }
            return;
        }
        if move_selection(&key, &mut self.sel, self.queue.len()) {
            if let Some(b) = self.queue.get(self.sel).map(|b| b.id.clone()) {
                self.show(ctx, &b);
            }
            return;
        }
        match keys::action(keys::BATCHES, &key) {
            Some(Action::Make) => {
                self.editing = Some(Editing::Make(Form::new(
                    "Make a batch",
                    vec![
                        Field::id("Donation"),
                        Field::choice("Product", &self.products, "F0001"),
                        Field::text("Units", "4"),
                        Field::text("Volume mL", ""),
                    ],
                )))
            }
            Some(Action::Qc) if self.view.is_some() => {
                let results = vec!["pass".to_string(), "fail".to_string()];
                let missing = self.view.as_ref().and_then(|v| v.qc_missing.first().cloned()).unwrap_or_default();
                self.editing = Some(Editing::Qc(Form::new(
                    "QC result",
                    vec![
                        Field::choice("Test", &self.qc_tests, &missing),
                        Field::choice("Result", &results, "pass"),
                        Field::text("Value", ""),
                    ],
                )))
            }
            Some(Action::Discard) if self.view.is_some() => {
                self.editing = Some(Editing::Discard(Form::new("Discard the batch", vec![Field::text("Reason", "")])))
            }
            Some(Action::Release) if self.view.is_some() => {
                match self.view.as_ref().and_then(|v| v.release_checks.iter().find(|c| !c.passed)) {
                    Some(c) => ctx.error(format!("cannot release: {} — {}", c.title, c.detail)),
                    None => self.editing = Some(Editing::ConfirmRelease),
                }
            }
            Some(Action::Print) => {
                if let Some(id) = self.current() {
                    match ctx.bank.print_labels(&id, None, None, 1, Some("printed from the bench"), ctx.now) {
                        Ok(p) => ctx.info(p.to_string()),
                        Err(e) => ctx.fail(e),
                    }
                }
            }
            Some(Action::ScrollDown) => self.scroll = self.scroll.saturating_add(5),
            Some(Action::ScrollUp) => self.scroll = self.scroll.saturating_sub(5),
            Some(Action::Open) => {
                if let Some(id) = self.current() {
                    ctx.trace(id);
                }
            }
            _ => {}
        }
    }
    fn on_scan(&mut self, ctx: &mut Ctx, data: &str) -> bool {
        if let Some(Editing::Make(f) | Editing::Qc(f) | Editing::Discard(f)) = &mut self.editing {
            return f.fill_scan(data);
        }
        let Ok(id) = ctx.bank.lookup(data) else { return false };
        match id.kind() {
            IdKind::Batch => {
                self.show(ctx, &id);
                true
            }
            IdKind::Unit if self.current().is_some_and(|b| id.batch_of().as_ref() == Some(&b)) => {
                match ctx.bank.verify_label(&id, data, ctx.now) {
                    Ok(u) => ctx.info(format!("label of {} verified", u.id)),
                    Err(e) => ctx.fail(e),
                }
                if let Some(b) = self.current() {
                    self.show(ctx, &b);
                }
                true
            }
            _ => false,
        }
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let [left, right] = Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)]).areas(area);
        let lines: Vec<Line> = self.queue.iter().map(|b| Line::from(b.id.display())).collect();
        list(f, left, &format!("In quarantine ({})", self.queue.len()), lines, Some(self.sel));
        if let Some(Editing::Make(form) | Editing::Qc(form) | Editing::Discard(form)) = &self.editing {
            return form.render(f, right, true);
        }
        let Some(v) = &self.view else {
            return panel(f, right, "Batch", vec![Line::from("m makes a batch from a scanned donation.")]);
        };
        let mut l = vec![
            Line::from(Span::styled(format!("{}  {}  {}", v.id, v.product, v.status.as_str()), theme::title())),
            Line::from(format!("donation {}  expires {}", v.donation, v.expires_on)),
            Line::from(Span::styled("Release rules", theme::title())),
        ];
        // A passing rule is one line; a failing one also says why, so that 80×24 still shows QC and units.
        for c in &v.release_checks {
            let style = if c.passed { theme::ok() } else { theme::error() };
            let text = if c.passed { c.title.to_string() } else { format!("{} — {}", c.title, c.detail) };
            l.push(Line::from(vec![Span::styled(format!("{} ", mark(c.passed)), style), Span::raw(text)]));
        }
        if matches!(self.editing, Some(Editing::ConfirmRelease)) {
            l.push(Line::from(Span::styled("Release this batch? y to confirm, any other key cancels", theme::warn())));
        }
        l.push(Line::from(Span::styled("QC", theme::title())));
        for q in &v.qc {
            l.push(Line::from(format!("  {} {} {}", q.test, q.result, q.value.as_deref().unwrap_or(""))));
        }
        l.push(Line::from(Span::styled("Units", theme::title())));
        for u in v.units.iter().chain(&v.retained_sample) {
            let label = if u.label_verified { "label ✓" } else { "" };
            l.push(Line::from(format!("  {} {} {label}", u.id, u.status.as_str())));
        }
        let title = if self.scroll > 0 { "Batch (Ctrl-U scrolls up)" } else { "Batch (Ctrl-D scrolls down)" };
        f.render_widget(
            Paragraph::new(l)
                .wrap(Wrap { trim: false })
                .scroll((self.scroll, 0))
                .block(Block::default().borders(Borders::ALL).title(title)),
            right,
        );
    }
}
