//! Donors: list with search, detail with eligibility and its reason, registration, screening (a form per
//! panel, tests prefilled from the configured panel), deferral.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::paged::Paged;
use super::{list, move_selection, pane, pane_title, Scroll};
use crate::app::records::Identity;
use crate::app::views::{DonorSummary, DonorView};
use crate::app::{AppError, NewDonor, ScreeningInput};
use crate::core::ids::Id;
use crate::core::model::{DonorStatus, ScreeningKind, Sex, TestResult};
use crate::store::Stored;
use crate::time;
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::screen::{Ctx, Reload, Screen};
use crate::tui::{theme, words};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reg {
    Sex,
    BirthDate,
    Name,
    Phone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Def {
    Donor,
    Reason,
    Until,
    Permanent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scr {
    Donor,
    Panel,
    Date,
}

enum Editing {
    Register(Form<Reg>),
    Defer(Form<Def>),
    Screen { form: Form<Scr>, tests: Vec<(String, TestResult)>, sel: usize, on_tests: bool },
    Search,
}

#[derive(Default)]
pub struct Donors {
    /// The donors loaded: the search's matches over the whole table, a page at a time.
    list: Paged<DonorSummary>,
    sel: usize,
    search: String,
    detail: Option<DonorView>,
    /// The identity shown for the donor in `detail`, after an audited reveal.
    revealed: Option<(Id, Identity)>,
    scroll: Scroll,
    editing: Option<Editing>,
    /// Another bench changed the donor shown since it was opened.
    changed: bool,
}

/// Donors a page holds: each is judged (deferrals, screenings, the screening that lifts each deferral) as the
/// page loads, on the tab switch, so a page is two screenfuls rather than the other lists' 200 (`n` loads more).
const PAGE: usize = 100;
const YES: &str = "yes";
const NO: &str = "no";

impl Donors {
    fn selected(&self) -> Option<Id> {
        self.list.rows.get(self.sel).and_then(|d| d.id.ok().cloned())
    }

    /// Loads the first page of the search (run in the database over every donor), or the next one.
    fn load(&mut self, ctx: &mut Ctx, more: bool) {
        let (search, now) = (&self.search, ctx.now);
        self.list.load(ctx, more, "every matching donor is shown", &mut self.sel, |bank, after| {
            bank.find_donors(search, after, PAGE, now)
        });
    }

    /// Selects `id`, loading pages until it shows (a donor just registered is the last one).
    fn select(&mut self, ctx: &mut Ctx, id: &Id) {
        self.search.clear();
        self.load(ctx, false);
        while !self.list.rows.iter().any(|d| d.id.ok() == Some(id)) && self.list.next.is_some() {
            self.load(ctx, true);
        }
        self.sel = self.list.rows.iter().position(|d| d.id.ok() == Some(id)).unwrap_or(self.sel);
        self.load_detail(ctx);
    }

    fn load_detail(&mut self, ctx: &mut Ctx) {
        self.scroll.reset();
        self.changed = false;
        // Identity stays on screen only for the donor it was revealed for.
        self.revealed = self.revealed.take().filter(|(id, _)| Some(id) == self.selected().as_ref());
        self.detail = match self.selected() {
            Some(id) => ctx.bank.donor_view(&id, ctx.now).map_err(|e| ctx.fail(e)).ok(),
            None => None,
        };
    }

    fn screening_tests(ctx: &Ctx, kind: ScreeningKind) -> Vec<(String, TestResult)> {
        ctx.bank.config().panel(kind).iter().map(|t| (t.clone(), TestResult::Negative)).collect()
    }

    fn submit(&mut self, ctx: &mut Ctx) {
        let Some(editing) = self.editing.take() else { return };
        let result: Result<(Option<Id>, String), AppError> = match &editing {
            Editing::Register(form) => (|| {
                let sex = form.get(Reg::Sex).parse().map_err(AppError::Invalid)?;
                let birth = time::parse_date(form.get(Reg::BirthDate))
                    .map_err(|e| AppError::Invalid(format!("birth date: {e}")))?;
                let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
                let identity =
                    Identity { name: opt(form.get(Reg::Name)), phone: opt(form.get(Reg::Phone)), national_id: None };
                let d = ctx.bank.register_donor(NewDonor { sex, birth_date: birth, identity }, ctx.now)?;
                Ok((d.id.ok().cloned(), format!("registered donor {}", d.id)))
            })(),
            Editing::Defer(form) => (|| {
                let donor = ctx.bank.lookup(form.get(Def::Donor))?;
                let permanent = form.get(Def::Permanent) == YES;
                let until = match form.get(Def::Until) {
                    "" => None,
                    s => Some(time::parse_date(s).map_err(|e| AppError::Invalid(format!("until: {e}")))?),
                };
                // The form's own words for the two ways a deferral's length can be missing or doubled.
                match (until, permanent) {
                    (None, false) => {
                        return Err(AppError::Invalid("say how long: a date in Until, or Permanent: yes".into()))
                    }
                    (Some(_), true) => {
                        return Err(AppError::Invalid("either a date in Until or Permanent: yes, not both".into()))
                    }
                    _ => {}
                }
                ctx.bank.defer_donor(&donor, form.get(Def::Reason), until, permanent, ctx.now)?;
                Ok((Some(donor.clone()), format!("donor {donor} deferred")))
            })(),
            Editing::Screen { form, tests, .. } => (|| {
                let donor = ctx.bank.lookup(form.get(Scr::Donor))?;
                let kind: ScreeningKind = form.get(Scr::Panel).parse().map_err(AppError::Invalid)?;
                let date =
                    time::parse_date(form.get(Scr::Date)).map_err(|e| AppError::Invalid(format!("date: {e}")))?;
                let input = ScreeningInput { all_negative: false, tests: tests.clone() };
                let r = ctx.bank.record_screening(&donor, kind, date, &input, ctx.now)?;
                Ok((
                    Some(donor.clone()),
                    match r.deferral {
                        Some(d) => format!("screening recorded; donor deferred: {}", words::clean(&d.reason)),
                        None => format!("{kind} screening of {donor} recorded"),
                    },
                ))
            })(),
            Editing::Search => Ok((None, String::new())),
        };
        match result {
            Ok((_, m)) if m.is_empty() => {}
            Ok((id, m)) => {
                ctx.info(m);
                match id {
                    Some(id) => self.select(ctx, &id),
                    None => self.refresh(ctx),
                }
            }
            Err(e) => {
                ctx.fail(e);
                self.editing = Some(editing); // keep what was typed
            }
        }
    }
}

impl Screen for Donors {
    fn keys(&self) -> &'static [Binding] {
        keys::DONORS
    }

    fn editing(&self) -> bool {
        self.editing.is_some()
    }

    fn typing_text(&self) -> bool {
        match &self.editing {
            Some(Editing::Register(f)) => f.takes_text(),
            Some(Editing::Defer(f)) => f.takes_text(),
            Some(Editing::Screen { form, on_tests, .. }) => !on_tests && form.takes_text(),
            Some(Editing::Search) => true,
            None => false,
        }
    }

    fn dirty(&self) -> bool {
        match &self.editing {
            Some(Editing::Register(f)) => f.dirty(),
            Some(Editing::Defer(f)) => f.dirty(),
            Some(Editing::Screen { form, .. }) => form.dirty(),
            _ => false,
        }
    }

    fn refresh(&mut self, ctx: &mut Ctx) {
        self.load(ctx, false);
        self.load_detail(ctx);
    }

    fn reload(&mut self, ctx: &mut Ctx, other: bool) -> Reload {
        // The search as it stands (a search being typed is the user's: it is read, never changed).
        let (search, now) = (&self.search, ctx.now);
        let left = self.list.reload(
            ctx,
            &mut self.sel,
            PAGE,
            |d| d.id.ok(),
            |bank, limit| bank.find_donors(search, None, limit, now),
        );
        let shown = self.detail.as_ref().and_then(|v| v.id.ok().cloned());
        // A donor that left the list stays in the pane, read again; otherwise the pane follows the selection.
        if shown.is_none() || (shown != self.selected() && shown != left) {
            self.load_detail(ctx);
            return Reload::Read;
        }
        let Some(id) = shown else { return Reload::Read };
        let before = self.detail.as_ref().map(|v| detail_lines(v, None));
        match ctx.bank.donor_view(&id, ctx.now) {
            Ok(v) => self.detail = Some(v),
            Err(e) => ctx.fail(e),
        }
        let changed = self.detail.as_ref().map(|v| detail_lines(v, None)) != before;
        self.changed |= changed && other;
        match left {
            Some(gone) => Reload::Left(format!("donor {gone}")),
            None if changed => Reload::Changed(format!("donor {id}")),
            None => Reload::Read,
        }
    }

    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        if let Some(Editing::Search) = self.editing {
            match key.code {
                KeyCode::Esc | KeyCode::Enter => self.editing = None,
                KeyCode::Backspace => {
                    self.search.pop();
                }
                KeyCode::Char(c) if !c.is_control() => self.search.push(c),
                _ => return,
            }
            self.sel = 0;
            self.load(ctx, false);
            self.load_detail(ctx);
            return;
        }
        if let Some(Editing::Screen { form, tests, sel, on_tests }) = &mut self.editing {
            if keys::action(keys::FORM, &key) == Some(Action::Submit) {
                return self.submit(ctx);
            }
            if *on_tests {
                if keys::action(keys::DONORS, &key) == Some(Action::CycleResult) {
                    if let Some(t) = tests.get_mut(*sel) {
                        t.1 = match t.1 {
                            TestResult::Negative => TestResult::Positive,
                            TestResult::Positive => TestResult::Indeterminate,
                            TestResult::Indeterminate => TestResult::Negative,
                        };
                    }
                    return;
                }
                if move_selection(&key, sel, tests.len()) {
                    return;
                }
                match keys::action(keys::FORM, &key) {
                    Some(Action::FieldNext | Action::FieldPrev) => *on_tests = false,
                    Some(Action::Cancel) => self.editing = None,
                    Some(Action::FieldEnter) => return self.submit(ctx),
                    _ => {}
                }
                return;
            }
            let before = form.get(Scr::Panel).to_string();
            let ev = form.key(key);
            let after = form.get(Scr::Panel).to_string();
            if before != after {
                if let Ok(kind) = after.parse() {
                    *tests = Self::screening_tests(ctx, kind);
                    *sel = 0;
                }
            }
            match ev {
                FormEvent::Submit => *on_tests = true,
                FormEvent::Cancel => self.editing = None,
                FormEvent::None => {}
            }
            return;
        }
        let event = match &mut self.editing {
            Some(Editing::Register(form)) => Some(form.key(key)),
            Some(Editing::Defer(form)) => Some(form.key(key)),
            _ => None,
        };
        match event {
            Some(FormEvent::Submit) => return self.submit(ctx),
            Some(FormEvent::Cancel) => return self.editing = None,
            Some(FormEvent::None) => return,
            None => {}
        }
        if move_selection(&key, &mut self.sel, self.list.rows.len()) {
            return self.load_detail(ctx);
        }
        let today = time::local_day(ctx.now).to_string();
        let donor = self.selected().map(|d| d.display()).unwrap_or_default();
        match keys::action(keys::DONORS, &key) {
            Some(Action::Search) => self.editing = Some(Editing::Search),
            Some(Action::Back) => {
                self.search.clear();
                self.refresh(ctx);
            }
            Some(Action::Open) => {
                if let Some(id) = self.selected() {
                    ctx.trace(id);
                }
            }
            Some(Action::Register) => {
                let sexes: Vec<String> = Sex::ALL.iter().map(|s| s.as_str().to_string()).collect();
                let mut fields =
                    vec![Field::choice(Reg::Sex, "Sex", &sexes, ""), Field::when(Reg::BirthDate, "Birth date", "")];
                // Identity is asked only of those allowed to see it (configuration names them).
                if ctx.bank.may_see_identity() {
                    fields.extend([Field::text(Reg::Name, "Name", ""), Field::text(Reg::Phone, "Phone", "")]);
                }
                self.editing = Some(Editing::Register(Form::new("Register a donor", fields)));
            }
            Some(Action::Screening) => {
                if !donor.is_empty() && !ctx.confirmed(format!("Record a screening of donor {donor}?")) {
                    return;
                }
                let kinds: Vec<String> = ScreeningKind::ALL.iter().map(|k| k.as_str().to_string()).collect();
                let mut form = Form::new(
                    "Record a screening",
                    vec![
                        Field::id(Scr::Donor, "Donor"),
                        Field::choice(Scr::Panel, "Panel", &kinds, ""),
                        Field::when(Scr::Date, "Date", &today),
                    ],
                );
                form.set(Scr::Donor, &donor);
                let kind = form.get(Scr::Panel).parse().unwrap_or(ScreeningKind::Questionnaire);
                self.editing =
                    Some(Editing::Screen { form, tests: Self::screening_tests(ctx, kind), sel: 0, on_tests: false });
            }
            Some(Action::Defer) => {
                if !donor.is_empty() && !ctx.confirmed(format!("Defer donor {donor}?")) {
                    return;
                }
                let yes_no = vec![NO.to_string(), YES.to_string()];
                let mut form = Form::new(
                    "Defer a donor",
                    vec![
                        Field::id(Def::Donor, "Donor"),
                        Field::text(Def::Reason, "Reason", ""),
                        Field::when(Def::Until, "Until", ""),
                        Field::choice(Def::Permanent, "Permanent", &yes_no, NO),
                    ],
                );
                form.set(Def::Donor, &donor);
                form.focus_on(Def::Reason);
                self.editing = Some(Editing::Defer(form));
            }
            Some(Action::RevealIdentity) => {
                let Some(id) = self.selected() else { return };
                if !ctx.confirmed(format!("Show the identity of donor {donor}? (the read is recorded)")) {
                    return;
                }
                match ctx.bank.donor_identity(&id) {
                    Ok(identity) => {
                        ctx.info(format!("identity of donor {id} shown (recorded in the audit trail)"));
                        self.revealed = Some((id, identity));
                    }
                    Err(e) => ctx.fail(e),
                }
            }
            Some(Action::NextPage) => self.load(ctx, true),
            Some(Action::ScrollDown) => self.scroll.half_page(1),
            Some(Action::ScrollUp) => self.scroll.half_page(-1),
            _ => {}
        }
    }

    fn on_scan(&mut self, _ctx: &mut Ctx, data: &str) -> bool {
        match &mut self.editing {
            Some(Editing::Register(f)) => f.fill_scan(data),
            Some(Editing::Defer(f)) => f.fill_scan(data),
            Some(Editing::Screen { form, .. }) => form.fill_scan(data),
            _ => false,
        }
    }

    fn render(&self, f: &mut Frame, area: Rect) {
        let [left, right] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
        let lines: Vec<Line> = self
            .list
            .rows
            .iter()
            .map(|d| {
                let style = match d.status {
                    Stored::Read(DonorStatus::Eligible) => theme::ok(),
                    Stored::Read(DonorStatus::Deferred) | Stored::Malformed(_) => theme::error(),
                    Stored::Read(DonorStatus::NotEligible) => theme::dim(),
                };
                Line::from(vec![Span::raw(format!("{} {} ", d.id, d.sex)), Span::styled(d.status.to_string(), style)])
            })
            .collect();
        let more = if self.list.next.is_some() { " (n: more)" } else { "" };
        let title = if self.search.is_empty() {
            format!("Donors{more}")
        } else {
            format!("Donors /{}{more}", words::clean(&self.search))
        };
        list(f, left, &title, lines, Some(self.sel));
        match &self.editing {
            Some(Editing::Register(form)) => form.render(f, right, true),
            Some(Editing::Defer(form)) => form.render(f, right, true),
            Some(Editing::Screen { form, tests, sel, on_tests }) => {
                let [top, bottom] = Layout::vertical([Constraint::Length(6), Constraint::Min(3)]).areas(right);
                form.render(f, top, !on_tests);
                let lines: Vec<Line> = tests
                    .iter()
                    .map(|(t, r)| {
                        let style = if *r == TestResult::Negative { theme::ok() } else { theme::error() };
                        Line::from(vec![Span::raw(format!("{t:<18}")), Span::styled(r.as_str().to_string(), style)])
                    })
                    .collect();
                let title = if *on_tests {
                    "Results · Space cycle · Enter/Ctrl-S save · Tab back"
                } else {
                    "Results (Enter on Date to edit)"
                };
                list(f, bottom, title, lines, on_tests.then_some(*sel));
            }
            _ => {
                let lines = match &self.detail {
                    None => vec![Line::from("No donor selected. a registers one.")],
                    Some(v) => detail_lines(v, self.revealed.as_ref().map(|(_, i)| i)),
                };
                let title = pane_title("Donor", self.changed, "Ctrl-D/Ctrl-U scroll");
                pane(f, right, &title, lines, &self.scroll);
            }
        }
    }
}

fn detail_lines(v: &DonorView, identity: Option<&Identity>) -> Vec<Line<'static>> {
    let mut l = vec![
        Line::from(Span::styled(format!("{}  {}  born {}", v.id, v.sex, v.birth_date), theme::title())),
        Line::from(Span::styled(
            format!("{}: {}", v.status, words::clean(&v.reason)),
            if v.status == Stored::Read(DonorStatus::Eligible) { theme::ok() } else { theme::error() },
        )),
    ];
    if let Some(i) = identity {
        l.push(Line::from(format!(
            "{}  {}",
            words::clean(i.name.as_deref().unwrap_or("-")),
            words::clean(i.phone.as_deref().unwrap_or("-"))
        )));
    }
    l.push(Line::from(""));
    for s in v.screenings.iter().rev() {
        let bad: Vec<String> = s
            .results
            .iter()
            .filter(|r| r.result != Stored::Read(TestResult::Negative))
            .map(|r| format!("{} {}", words::clean(&r.test), r.result))
            .collect();
        let verdict = match (bad.is_empty(), &s.complete) {
            (false, _) => bad.join(", "),
            (true, Stored::Read(true)) => "negative".into(),
            (true, Stored::Read(false)) => "incomplete".into(),
            (true, Stored::Malformed(_)) => "cannot be judged".into(),
        };
        let kind = s.kind.shown(|k| k.as_str().to_string());
        l.push(Line::from(format!("{} {kind:<13} {verdict}", s.date)));
    }
    // A deferral whose end cannot be judged may be in force: shown.
    for d in v.deferrals.iter().filter(|d| d.active.ok().is_none_or(|a| *a)) {
        let reason = words::clean(&d.reason);
        l.push(Line::from(Span::styled(format!("deferred since {}: {reason}", d.starts_on), theme::error())));
    }
    l.push(Line::from(format!("{} donations", v.donations.len())));
    l
}
