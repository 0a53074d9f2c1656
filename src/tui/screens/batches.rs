//! Processing, QC and release: make a batch from a scanned donation, enter QC results, see every release rule
//! with ✓/✗ (release is refused while any fails), discard, print unit labels, verify labels by scanning them.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use chrono::{DateTime, Utc};

use super::paged::Paged;
use super::{list, mark, move_selection, pane, pane_title, panel, Scroll};
use crate::app::records::Batch;
use crate::app::views::BatchView;
use crate::app::{AppError, Bank};
use crate::core::access::Operation;
use crate::core::config::Config;
use crate::core::ids::{Id, IdKind};
use crate::core::model::QcResult;
use crate::store::Stored;
use crate::time;
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::screen::{Ctx, Reload, Screen};
use crate::tui::{theme, words};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum M {
    Donation,
    Product,
    Units,
    Volume,
    At,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Q {
    Test,
    Result,
    Value,
    At,
}

enum Editing {
    Make(Form<M>),
    Qc(Form<Q>),
    Discard(Form<()>),
    /// Why the labels are printed again.
    Reprint(Form<()>),
}

pub struct Batches {
    products: Vec<String>,
    qc_tests: Vec<String>,
    /// The work list: batches in quarantine, a page at a time.
    queue: Paged<Batch>,
    sel: usize,
    view: Option<BatchView>,
    editing: Option<Editing>,
    /// The batch pane scrolls (a long failing rule can push units off an 80×24 screen).
    scroll: Scroll,
    /// Another bench changed the batch shown since it was opened.
    changed: bool,
}

/// Batches read from the bank at a time.
const PAGE: usize = 200;

/// An event time as typed (local), or now when left empty.
fn event_time(ctx: &Ctx, typed: &str, what: &str) -> Result<DateTime<Utc>, AppError> {
    match typed {
        "" => Ok(ctx.now),
        s => time::parse_timestamp(s).map_err(|e| AppError::Invalid(format!("{what}: {e}"))),
    }
}

impl Batches {
    pub fn new(config: &Config) -> Batches {
        Batches {
            products: config.products.iter().map(|p| p.code.clone()).collect(),
            qc_tests: config.qc_required.clone(),
            queue: Paged::default(),
            sel: 0,
            view: None,
            editing: None,
            scroll: Scroll::default(),
            changed: false,
        }
    }

    fn show(&mut self, ctx: &mut Ctx, id: &Id) {
        match ctx.bank.batch_view(id, ctx.now) {
            Ok(v) => {
                if self.view.as_ref().is_none_or(|old| old.id != v.id) {
                    self.scroll.reset();
                    self.changed = false;
                }
                self.view = Some(v);
            }
            Err(e) => ctx.fail(e),
        }
    }

    fn current(&self) -> Option<Id> {
        self.view.as_ref().and_then(|v| v.id.ok().cloned())
    }

    fn submit(&mut self, ctx: &mut Ctx) {
        if let (Some(Editing::Discard(form)), Some(batch)) = (&self.editing, self.current()) {
            // A discard is signed: the form stays until the signer has signed (or cancelled).
            if !ctx.signed(Operation::Discard, format!("discarded: {} — batch {batch}", form.get(())), None) {
                return;
            }
        }
        let Some(editing) = self.editing.take() else { return };
        let result: Result<(Id, String), AppError> = match &editing {
            Editing::Make(form) => (|| {
                let donation = ctx.bank.lookup_kind(form.get(M::Donation), IdKind::Donation)?;
                let units =
                    form.get(M::Units).parse().map_err(|_| AppError::Invalid("units: a whole number".into()))?;
                let volume = match form.get(M::Volume) {
                    "" => None,
                    v => Some(v.parse().map_err(|_| AppError::Invalid(format!("volume `{v}` is not a number")))?),
                };
                let at = event_time(ctx, form.get(M::At), "processed at")?;
                let v = ctx.bank.make_batch(&donation, form.get(M::Product), units, volume, at)?;
                Ok((v.id.clone().into_value()?, format!("batch {} made with {} units", v.id, v.units.len())))
            })(),
            Editing::Qc(form) => (|| {
                let batch = self.current().ok_or_else(|| AppError::Invalid("select a batch first".into()))?;
                let result: QcResult = form.get(Q::Result).parse().map_err(AppError::Invalid)?;
                let value = Some(form.get(Q::Value)).filter(|v| !v.is_empty());
                let at = event_time(ctx, form.get(Q::At), "tested at")?;
                ctx.bank.add_qc(&batch, form.get(Q::Test), result, value, at)?;
                Ok((batch, format!("QC {} {result} recorded", form.get(Q::Test))))
            })(),
            Editing::Discard(form) => (|| {
                let batch = self.current().ok_or_else(|| AppError::Invalid("select a batch first".into()))?;
                ctx.bank.discard_batch(&batch, form.get(()), ctx.now)?;
                Ok((batch.clone(), format!("batch {batch} discarded")))
            })(),
            Editing::Reprint(form) => (|| {
                let batch = self.current().ok_or_else(|| AppError::Invalid("select a batch first".into()))?;
                let reason = Bank::reprint_reason(form.get(()))?;
                ctx.print(batch.clone(), Some(reason));
                Ok((batch.clone(), format!("printing the labels of {batch}…")))
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
                self.editing = Some(editing);
            }
        }
    }

    fn release(&mut self, ctx: &mut Ctx) {
        let Some(v) = &self.view else { return };
        let (checks, Some(id)) = (v.release_checks.get(), v.id.ok().cloned()) else { return };
        match checks {
            Err(m) => return ctx.error(format!("cannot release {}: {m}", v.id)),
            Ok(checks) => {
                if let Some(c) = checks.iter().find(|c| !c.passed) {
                    return ctx.error(format!("cannot release {}: {} — {}", v.id, c.title, c.detail));
                }
            }
        }
        let question =
            format!("RELEASE batch {} ({} units) for clinical use? Every release rule passes.", v.id, v.units.len());
        if !ctx.signed(Operation::Release, format!("released for clinical use — batch {}", v.id), Some(question)) {
            return;
        }
        match ctx.bank.release_batch(&id, ctx.now) {
            Ok(_) => ctx.info(format!("batch {id} released")),
            Err(e) => ctx.fail(e),
        }
        self.refresh(ctx);
        self.show(ctx, &id);
    }

    /// Prints the shown batch's unit labels: at once the first time, after asking why when it is a reprint.
    fn print(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.current() else { return };
        match ctx.bank.label_printed(&id, ctx.now) {
            Ok(true) => {
                let field = Field::text((), "Why print again", "");
                self.editing =
                    Some(Editing::Reprint(Form::new("Reprint the labels (the reason is recorded)", vec![field])));
            }
            Ok(false) => ctx.print(id, None),
            Err(e) => ctx.fail(e),
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
    fn typing_text(&self) -> bool {
        match &self.editing {
            Some(Editing::Make(f)) => f.takes_text(),
            Some(Editing::Qc(f)) => f.takes_text(),
            Some(Editing::Discard(f) | Editing::Reprint(f)) => f.takes_text(),
            None => false,
        }
    }
    fn dirty(&self) -> bool {
        match &self.editing {
            Some(Editing::Make(f)) => f.dirty(),
            Some(Editing::Qc(f)) => f.dirty(),
            Some(Editing::Discard(f) | Editing::Reprint(f)) => f.dirty(),
            None => false,
        }
    }
    fn refresh(&mut self, ctx: &mut Ctx) {
        // As many rows as were loaded, so that a refresh keeps the pages read.
        let limit = self.queue.rows.len().max(PAGE);
        self.queue.load(ctx, false, "", &mut self.sel, |bank, _| bank.quarantine_page(None, limit));
        if self.view.is_none() {
            if let Some(b) = self.queue.rows.get(self.sel).and_then(|b| b.id.ok().cloned()) {
                self.show(ctx, &b);
            }
        } else if let Some(id) = self.current() {
            self.show(ctx, &id);
        }
    }
    // A form, when open, is the user's and stays as typed; the batch it acts on is read again beside it (a
    // release rule another bench's QC result changed shows at once).
    fn reload(&mut self, ctx: &mut Ctx, other: bool) -> Reload {
        let left =
            self.queue.reload(ctx, &mut self.sel, PAGE, |b| b.id.ok(), |bank, limit| bank.quarantine_page(None, limit));
        let Some(id) = self.current() else { return Reload::Read };
        let before = self.view.as_ref().map(batch_lines);
        self.show(ctx, &id);
        let changed = self.view.as_ref().map(batch_lines) != before;
        self.changed |= changed && other;
        match left {
            Some(gone) => Reload::Left(format!("batch {gone}")),
            None if changed => Reload::Changed(format!("batch {id}")),
            None => Reload::Read,
        }
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        let event = match &mut self.editing {
            Some(Editing::Make(f)) => Some(f.key(key)),
            Some(Editing::Qc(f)) => Some(f.key(key)),
            Some(Editing::Discard(f) | Editing::Reprint(f)) => Some(f.key(key)),
            None => None,
        };
        match event {
            Some(FormEvent::Submit) => return self.submit(ctx),
            Some(FormEvent::Cancel) => return self.editing = None,
            Some(FormEvent::None) => return,
            None => {}
        }
        if move_selection(&key, &mut self.sel, self.queue.rows.len()) {
            match self.queue.rows.get(self.sel).map(|b| &b.id) {
                Some(Stored::Read(b)) => {
                    let b = b.clone();
                    self.show(ctx, &b);
                }
                Some(malformed) => ctx.error(format!("batch {malformed}: `stoolbank verify` names it")),
                None => {}
            }
            return;
        }
        let now = time::show(ctx.now);
        let shown = self.current().map(|b| b.display()).unwrap_or_default();
        match keys::action(keys::BATCHES, &key) {
            Some(Action::Make) => {
                self.editing = Some(Editing::Make(Form::new(
                    "Make a batch",
                    vec![
                        Field::id(M::Donation, "Donation"),
                        Field::choice(M::Product, "Product", &self.products, ""),
                        Field::number(M::Units, "Units", "4"),
                        Field::number(M::Volume, "Volume mL", ""),
                        Field::when(M::At, "Processed at", &now),
                    ],
                )));
            }
            Some(Action::Qc) if self.view.is_some() => {
                if !ctx.confirmed(format!("Enter a QC result for batch {shown}?")) {
                    return;
                }
                let results: Vec<String> = QcResult::ALL.iter().map(|r| r.as_str().to_string()).collect();
                let missing = self.view.as_ref().and_then(|v| v.qc_missing.ok()?.first().cloned()).unwrap_or_default();
                self.editing = Some(Editing::Qc(Form::new(
                    "QC result",
                    vec![
                        Field::choice(Q::Test, "Test", &self.qc_tests, &missing),
                        Field::choice(Q::Result, "Result", &results, ""),
                        Field::text(Q::Value, "Value", ""),
                        Field::when(Q::At, "Tested at", &now),
                    ],
                )));
            }
            Some(Action::Discard) if self.view.is_some() => {
                if !ctx.confirmed(format!("Discard batch {shown}? (its reason is asked next)")) {
                    return;
                }
                let field = Field::text((), "Reason", "");
                self.editing = Some(Editing::Discard(Form::new("Discard the batch", vec![field])));
            }
            Some(Action::Release) => self.release(ctx),
            Some(Action::Print)
                if self.view.is_some() && ctx.confirmed(format!("Print the unit labels of batch {shown}?")) =>
            {
                self.print(ctx);
            }
            Some(Action::ScrollDown) => self.scroll.half_page(1),
            Some(Action::ScrollUp) => self.scroll.half_page(-1),
            Some(Action::NextPage) => {
                self.queue.load(ctx, true, "every batch in quarantine is shown", &mut self.sel, |bank, after| {
                    bank.quarantine_page(after, PAGE)
                });
            }
            Some(Action::Open) => {
                if let Some(id) = self.current() {
                    ctx.trace(id);
                }
            }
            _ => {}
        }
    }
    fn on_scan(&mut self, ctx: &mut Ctx, data: &str) -> bool {
        match &mut self.editing {
            Some(Editing::Make(f)) => return f.fill_scan(data),
            Some(Editing::Qc(f)) => return f.fill_scan(data),
            Some(Editing::Discard(f) | Editing::Reprint(f)) => return f.fill_scan(data),
            None => {}
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
        let lines: Vec<Line> = self.queue.rows.iter().map(|b| Line::from(b.id.to_string())).collect();
        // Narrow at 80 columns: the count of all when not all are loaded (`n` loads more, as `?` says).
        let title = match (self.queue.next.is_some(), self.queue.total) {
            (true, Some(total)) => format!("{total} in quarantine"),
            _ => "In quarantine".to_string(),
        };
        list(f, left, &title, lines, Some(self.sel));
        match &self.editing {
            Some(Editing::Make(form)) => return form.render(f, right, true),
            Some(Editing::Qc(form)) => return form.render(f, right, true),
            Some(Editing::Discard(form) | Editing::Reprint(form)) => return form.render(f, right, true),
            None => {}
        }
        let Some(v) = &self.view else {
            return panel(f, right, "Batch", vec![Line::from("m makes a batch from a scanned donation.")]);
        };
        let title = pane_title("Batch", self.changed, "Ctrl-D/Ctrl-U scroll");
        pane(f, right, &title, batch_lines(v), &self.scroll);
    }
}

/// The batch pane: its release rules, QC results and units.
fn batch_lines(v: &BatchView) -> Vec<Line<'static>> {
    let mut l = vec![
        Line::from(Span::styled(format!("{}  {}  {}", v.id, v.product, v.status), theme::title())),
        Line::from(format!("donation {}  expires {}", v.donation, v.expires_on)),
        Line::from(Span::styled("Release rules", theme::title())),
    ];
    // A passing rule is one line; a failing one also says why.
    if let Stored::Malformed(_) = &v.release_checks {
        let text = format!("  cannot be judged: {}", v.release_checks.shown(|_| String::new()));
        l.push(Line::from(Span::styled(text, theme::error())));
    }
    for c in v.release_checks.ok().into_iter().flatten() {
        let style = if c.passed { theme::ok() } else { theme::error() };
        let text = if c.passed { c.title.to_string() } else { format!("{} — {}", c.title, c.detail) };
        l.push(Line::from(vec![Span::styled(format!("{} ", mark(c.passed)), style), Span::raw(text)]));
    }
    l.push(Line::from(Span::styled("QC", theme::title())));
    for (i, q) in v.qc.iter().enumerate() {
        // A later result of the same test supersedes this one.
        let superseded = v.qc[i + 1..].iter().any(|later| later.test == q.test);
        let line = format!(
            "  {} {} {} {}",
            words::clean(&q.test),
            q.result,
            words::clean(q.value.as_deref().unwrap_or("")),
            q.at.shown(|t| time::show(*t))
        );
        l.push(if superseded {
            Line::from(Span::styled(format!("{line}  superseded"), theme::dim()))
        } else {
            Line::from(line)
        });
    }
    l.push(Line::from(Span::styled("Units", theme::title())));
    for u in v.units.iter().chain(&v.retained_sample) {
        let label = u.label_verified.shown(|v| if *v { "label ✓".into() } else { String::new() });
        l.push(Line::from(format!("  {} {} {label}", u.id, u.status)));
    }
    l
}
