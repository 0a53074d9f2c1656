//! Donors: list with search, detail with eligibility and its reason, registration, screening (a form per
//! panel, tests prefilled from the configured panel), deferral.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::{list, move_selection, panel};
use crate::app::views::{DonorSummary, DonorView};
use crate::app::{NewDonor, ScreeningInput};
use crate::core::model::{DonorStatus, ScreeningKind, TestResult};
use crate::store::donors::Identity;
use crate::time;
use crate::tui::app::{Ctx, Screen};
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::theme;

enum Editing {
    Register(Form),
    Defer(Form),
    Screen { form: Form, tests: Vec<(String, TestResult)>, sel: usize, on_tests: bool },
    Search,
}

#[derive(Default)]
pub struct Donors {
    rows: Vec<DonorSummary>,
    sel: usize,
    search: String,
    detail: Option<DonorView>,
    editing: Option<Editing>,
}

const PAGE: usize = 500;

impl Donors {
    fn visible(&self) -> Vec<&DonorSummary> {
        let q = self.search.to_uppercase();
        self.rows
            .iter()
            .filter(|d| q.is_empty() || d.id.display().contains(&q) || d.status.as_str().to_uppercase().contains(&q))
            .collect()
    }

    fn selected(&self) -> Option<crate::core::ids::Id> {
        self.visible().get(self.sel).map(|d| d.id.clone())
    }

    fn load_detail(&mut self, ctx: &mut Ctx) {
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
        let result = match &editing {
            Editing::Register(form) => (|| {
                let sex = form.get("Sex").parse().map_err(crate::app::AppError::Invalid)?;
                let birth = time::parse_date(form.get("Birth date"))
                    .map_err(|e| crate::app::AppError::Invalid(e.to_string()))?;
                let opt = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
                let identity =
                    Identity { name: opt(form.get("Name")), phone: opt(form.get("Phone")), national_id: None };
                let d = ctx.bank.register_donor(NewDonor { sex, birth_date: birth, identity }, ctx.now)?;
                Ok(format!("registered donor {}", d.id))
            })(),
            Editing::Defer(form) => (|| {
                let donor = ctx.bank.lookup(form.get("Donor"))?;
                let permanent = form.get("Permanent") == "yes";
                let until = match form.get("Until") {
                    "" => None,
                    s => Some(time::parse_date(s).map_err(|e| crate::app::AppError::Invalid(e.to_string()))?),
                };
                ctx.bank.defer_donor(&donor, form.get("Reason"), until, permanent, ctx.now)?;
                Ok(format!("donor {donor} deferred"))
            })(),
            Editing::Screen { form, tests, .. } => (|| {
                let donor = ctx.bank.lookup(form.get("Donor"))?;
                let kind: ScreeningKind = form.get("Panel").parse().map_err(crate::app::AppError::Invalid)?;
                let date =
                    time::parse_date(form.get("Date")).map_err(|e| crate::app::AppError::Invalid(e.to_string()))?;
                let input = ScreeningInput { all_negative: false, tests: tests.clone() };
                let r = ctx.bank.record_screening(&donor, kind, date, &input, ctx.now)?;
                Ok(match r.deferral {
                    Some(d) => format!("screening recorded; donor deferred: {}", d.reason),
                    None => format!("{kind} screening of {donor} recorded"),
                })
            })(),
            Editing::Search => Ok(String::new()),
        };
        match result {
            Ok(m) if m.is_empty() => {}
            Ok(m) => {
                ctx.info(m);
                self.refresh(ctx);
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

    fn dirty(&self) -> bool {
        match &self.editing {
            Some(Editing::Register(f) | Editing::Defer(f) | Editing::Screen { form: f, .. }) => f.dirty(),
            _ => false,
        }
    }

    fn refresh(&mut self, ctx: &mut Ctx) {
        match ctx.bank.donors(None, PAGE, ctx.now) {
            Ok(rows) => self.rows = rows,
            Err(e) => ctx.fail(e),
        }
        self.sel = self.sel.min(self.visible().len().saturating_sub(1));
        self.load_detail(ctx);
    }

    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        if let Some(Editing::Search) = self.editing {
            match key.code {
                KeyCode::Esc | KeyCode::Enter => self.editing = None,
                KeyCode::Backspace => {
                    self.search.pop();
                }
                KeyCode::Char(c) => self.search.push(c),
                _ => {}
            }
            self.sel = 0;
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
            let before = form.get("Panel").to_string();
            let ev = form.key(key);
            let after = form.get("Panel").to_string();
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
        if let Some(Editing::Register(form) | Editing::Defer(form)) = &mut self.editing {
            match form.key(key) {
                FormEvent::Submit => self.submit(ctx),
                FormEvent::Cancel => self.editing = None,
                FormEvent::None => {}
            }
            return;
        }
        let len = self.visible().len();
        if move_selection(&key, &mut self.sel, len) {
            return self.load_detail(ctx);
        }
        let today = time::local_day(ctx.now).to_string();
        let donor = self.selected().map(|d| d.display()).unwrap_or_default();
        match keys::action(keys::DONORS, &key) {
            Some(Action::Search) => self.editing = Some(Editing::Search),
            Some(Action::Back) => {
                self.search.clear();
                self.load_detail(ctx);
            }
            Some(Action::Open) => {
                if let Some(id) = self.selected() {
                    ctx.trace(id);
                }
            }
            Some(Action::Register) => {
                let sexes = vec!["F".to_string(), "M".to_string()];
                let mut fields = vec![Field::choice("Sex", &sexes, "F"), Field::text("Birth date", "")];
                // Identity is asked only of those allowed to see it (configuration names them).
                if ctx.bank.may_see_identity() {
                    fields.extend([Field::text("Name", ""), Field::text("Phone", "")]);
                }
                self.editing = Some(Editing::Register(Form::new("Register a donor", fields)));
            }
            Some(Action::Screening) => {
                let kinds: Vec<String> = ScreeningKind::ALL.iter().map(|k| k.as_str().to_string()).collect();
                let mut form = Form::new(
                    "Record a screening",
                    vec![
                        Field::id("Donor"),
                        Field::choice("Panel", &kinds, "questionnaire"),
                        Field::text("Date", &today),
                    ],
                );
                form.set("Donor", &donor);
                self.editing = Some(Editing::Screen {
                    form,
                    tests: Self::screening_tests(ctx, ScreeningKind::Questionnaire),
                    sel: 0,
                    on_tests: false,
                });
            }
            Some(Action::Defer) => {
                let yes_no = vec!["no".to_string(), "yes".to_string()];
                let mut form = Form::new(
                    "Defer a donor",
                    vec![
                        Field::id("Donor"),
                        Field::text("Reason", ""),
                        Field::text("Until", ""),
                        Field::choice("Permanent", &yes_no, "no"),
                    ],
                );
                form.set("Donor", &donor);
                form.focus = 1;
                self.editing = Some(Editing::Defer(form));
            }
            Some(Action::NextPage) => {
                if let Some(last) = self.rows.last().map(|d| d.id.clone()) {
                    match ctx.bank.donors(Some(&last), PAGE, ctx.now) {
                        Ok(more) if more.is_empty() => ctx.info("no more donors"),
                        Ok(more) => self.rows.extend(more),
                        Err(e) => ctx.fail(e),
                    }
                }
            }
            _ => {}
        }
    }

    fn on_scan(&mut self, ctx: &mut Ctx, data: &str) -> bool {
        match &mut self.editing {
            Some(Editing::Register(f) | Editing::Defer(f) | Editing::Screen { form: f, .. }) => f.fill_scan(data),
            _ => {
                let _ = ctx;
                false
            }
        }
    }

    fn render(&self, f: &mut Frame, area: Rect) {
        let [left, right] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
        let rows = self.visible();
        let lines: Vec<Line> = rows
            .iter()
            .map(|d| {
                let style = match d.status {
                    DonorStatus::Eligible => theme::ok(),
                    DonorStatus::Deferred => theme::error(),
                    DonorStatus::NotEligible => theme::dim(),
                };
                Line::from(vec![
                    Span::raw(format!("{} {} ", d.id, d.sex)),
                    Span::styled(d.status.as_str().to_string(), style),
                ])
            })
            .collect();
        let title = if self.search.is_empty() {
            format!("Donors ({})", rows.len())
        } else {
            format!("Donors /{}", self.search)
        };
        list(f, left, &title, lines, Some(self.sel));
        match &self.editing {
            Some(Editing::Register(form) | Editing::Defer(form)) => form.render(f, right, true),
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
                    Some(v) => detail_lines(v),
                };
                panel(f, right, "Donor", lines);
            }
        }
    }
}

fn detail_lines(v: &DonorView) -> Vec<Line<'static>> {
    let mut l = vec![
        Line::from(Span::styled(format!("{}  {}  born {}", v.id, v.sex, v.birth_date), theme::title())),
        Line::from(Span::styled(
            format!("{}: {}", v.status.as_str(), v.reason),
            if v.status == DonorStatus::Eligible { theme::ok() } else { theme::error() },
        )),
    ];
    if let Some(i) = &v.identity {
        l.push(Line::from(format!("{}  {}", i.name.as_deref().unwrap_or("-"), i.phone.as_deref().unwrap_or("-"))));
    }
    l.push(Line::from(""));
    for s in v.screenings.iter().rev().take(8) {
        let bad: Vec<String> = s
            .results
            .iter()
            .filter(|r| r.result != TestResult::Negative)
            .map(|r| format!("{} {}", r.test, r.result))
            .collect();
        let verdict = if !bad.is_empty() {
            bad.join(", ")
        } else if s.complete {
            "negative".into()
        } else {
            "incomplete".into()
        };
        l.push(Line::from(format!("{} {:<13} {verdict}", s.date, s.kind.as_str())));
    }
    for d in v.deferrals.iter().filter(|d| d.active) {
        l.push(Line::from(Span::styled(format!("deferred since {}: {}", d.starts_on, d.reason), theme::error())));
    }
    l.push(Line::from(format!("{} donations", v.donations.len())));
    l
}
