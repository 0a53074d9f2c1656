//! Inventory: doses on the shelf by status and location, expiry warnings, a page at a time.

use chrono::Duration;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::paged::Paged;
use super::{list, move_selection};
use crate::app::views::UnitView;
use crate::core::model::UnitStatus;
use crate::store::Stored;
use crate::time;
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::screen::{Ctx, Reload, Screen};
use crate::tui::{theme, words};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    Unit,
    Location,
}

#[derive(Default)]
pub struct Inventory {
    list: Paged<UnitView>,
    sel: usize,
    today: Option<chrono::NaiveDate>,
    /// Show only units of this status (None: every unit on the shelf).
    only: Option<UnitStatus>,
    /// Setting a unit's storage location (the unit scanned or selected, the location scanned or typed).
    location: Option<Form<F>>,
}

const FILTERS: [Option<UnitStatus>; 4] =
    [None, Some(UnitStatus::Quarantined), Some(UnitStatus::Released), Some(UnitStatus::Expired)];

impl Inventory {
    /// Loads the first page of the filter (the filter runs in SQL over every unit), or the next one.
    fn load(&mut self, ctx: &mut Ctx, more: bool) {
        let (only, now) = (self.only, ctx.now);
        self.list.load(ctx, more, "every matching unit is shown", &mut self.sel, |bank, after| {
            bank.shelf(only, after, PAGE, now)
        });
    }
}

impl Inventory {
    fn set_location(&mut self, ctx: &mut Ctx) {
        let Some(form) = &self.location else { return };
        let result = ctx
            .bank
            .lookup_kind(form.get(F::Unit), crate::core::ids::IdKind::Unit)
            .and_then(|u| ctx.bank.set_location(&u, form.get(F::Location), ctx.now));
        match result {
            Ok(u) => {
                ctx.info(format!("unit {} is at {}", u.id, words::clean(u.location.as_deref().unwrap_or("-"))));
                self.location = None;
                self.refresh(ctx);
            }
            Err(e) => ctx.fail(e),
        }
    }
}

const PAGE: usize = 200;
/// Units expiring within this many days are flagged.
const EXPIRY_WARNING_DAYS: i64 = 14;

impl Screen for Inventory {
    fn keys(&self) -> &'static [Binding] {
        keys::INVENTORY
    }
    fn editing(&self) -> bool {
        self.location.is_some()
    }
    fn typing_text(&self) -> bool {
        self.location.as_ref().is_some_and(Form::takes_text)
    }
    fn dirty(&self) -> bool {
        self.location.as_ref().is_some_and(Form::dirty)
    }
    fn on_scan(&mut self, _ctx: &mut Ctx, data: &str) -> bool {
        self.location.as_mut().is_some_and(|f| f.fill_scan(data))
    }
    fn refresh(&mut self, ctx: &mut Ctx) {
        self.today = Some(time::local_day(ctx.now));
        self.load(ctx, false);
    }
    // The location form, when open, is the user's and stays as typed.
    fn reload(&mut self, ctx: &mut Ctx, _other: bool) -> Reload {
        let (only, now) = (self.only, ctx.now);
        let left =
            self.list.reload(ctx, &mut self.sel, PAGE, |u| u.id.ok(), |bank, limit| bank.shelf(only, None, limit, now));
        left.map_or(Reload::Read, |id| Reload::Left(format!("unit {id}")))
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        if let Some(form) = &mut self.location {
            match form.key(key) {
                FormEvent::Submit => self.set_location(ctx),
                FormEvent::Cancel => self.location = None,
                FormEvent::None => {}
            }
            return;
        }
        if move_selection(&key, &mut self.sel, self.list.rows.len()) {
            return;
        }
        match keys::action(keys::INVENTORY, &key) {
            Some(Action::Location) => {
                let selected = self.list.rows.get(self.sel);
                if let Some(u) = selected {
                    if !ctx.confirmed(format!("Set the location of unit {}?", u.id)) {
                        return;
                    }
                }
                let mut form = Form::new(
                    "Set the location",
                    vec![Field::id(F::Unit, "Unit"), Field::text(F::Location, "Location", "")],
                );
                if let Some(u) = selected {
                    form.set(F::Unit, &u.id.to_string());
                    form.set(F::Location, u.location.as_deref().unwrap_or(""));
                    form.focus_on(F::Location);
                }
                self.location = Some(form);
            }
            Some(Action::Open) => {
                if let Some(id) = self.list.rows.get(self.sel).and_then(|u| u.id.ok().cloned()) {
                    ctx.trace(id);
                }
            }
            Some(Action::Filter) => {
                let i = FILTERS.iter().position(|f| *f == self.only).unwrap_or(0);
                self.only = FILTERS[(i + 1) % FILTERS.len()];
                self.sel = 0;
                self.load(ctx, false);
            }
            Some(Action::Refresh) => self.refresh(ctx),
            Some(Action::NextPage) => self.load(ctx, true),
            _ => {}
        }
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let today = self.today.unwrap_or_default();
        let lines: Vec<Line> = self
            .list
            .rows
            .iter()
            .map(|u| {
                let soon = u.expires_on.ok().is_some_and(|e| *e <= today + Duration::days(EXPIRY_WARNING_DAYS));
                let (exp, style) = match u.status {
                    Stored::Read(UnitStatus::Expired) => (format!("EXPIRED {}", u.expires_on), theme::error()),
                    Stored::Malformed(_) => (format!("expires {}", u.expires_on), theme::error()),
                    _ if soon => (format!("expires {} !", u.expires_on), theme::warn()),
                    Stored::Read(_) => (format!("expires {}", u.expires_on), theme::dim()),
                };
                Line::from(vec![
                    Span::raw(format!("{}  {:<11} ", u.id, u.status)),
                    Span::styled(exp, style),
                    Span::raw(format!("  {}", words::clean(u.location.as_deref().unwrap_or("")))),
                ])
            })
            .collect();
        let filter = self.only.map_or("all".to_string(), |s| s.as_str().to_string());
        let more = if self.list.next.is_some() { ", n more" } else { "" };
        let title = format!("Units in stock: {filter} (s filter{more})");
        match &self.location {
            Some(form) => {
                let [top, bottom] = Layout::vertical([Constraint::Min(3), Constraint::Length(5)]).areas(area);
                list(f, top, &title, lines, Some(self.sel));
                form.render(f, bottom, true);
            }
            None => list(f, area, &title, lines, Some(self.sel)),
        }
    }
}
