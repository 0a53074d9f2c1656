//! Inventory: doses on the shelf by status and location, expiry warnings, a page at a time.

use chrono::Duration;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::{list, move_selection};
use crate::app::views::UnitView;
use crate::core::model::UnitStatus;
use crate::time;
use crate::tui::app::{Ctx, Screen};
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::theme;

#[derive(Default)]
pub struct Inventory {
    rows: Vec<UnitView>,
    sel: usize,
    today: Option<chrono::NaiveDate>,
    /// Show only units of this status (None: every unit on the shelf).
    only: Option<UnitStatus>,
    /// Setting a unit's storage location (the unit scanned or selected, the location scanned or typed).
    location: Option<Form>,
}

const FILTERS: [Option<UnitStatus>; 4] =
    [None, Some(UnitStatus::Quarantined), Some(UnitStatus::Released), Some(UnitStatus::Expired)];

impl Inventory {
    fn shown(&self) -> Vec<&UnitView> {
        self.rows.iter().filter(|u| self.only.is_none_or(|s| u.status == s)).collect()
    }
}

impl Inventory {
    fn set_location(&mut self, ctx: &mut Ctx) {
        let Some(form) = &self.location else { return };
        let result = ctx
            .bank
            .lookup_kind(form.get("Unit"), crate::core::ids::IdKind::Unit)
            .and_then(|u| ctx.bank.set_location(&u, form.get("Location"), ctx.now));
        match result {
            Ok(u) => {
                ctx.info(format!("unit {} is at {}", u.id, u.location.as_deref().unwrap_or("-")));
                self.location = None;
                self.refresh(ctx);
            }
            Err(e) => ctx.fail(e),
        }
    }
}

const PAGE: usize = 500;
/// Units expiring within this many days are flagged.
const EXPIRY_WARNING_DAYS: i64 = 14;

impl Screen for Inventory {
    fn keys(&self) -> &'static [Binding] {
        keys::INVENTORY
    }
    fn editing(&self) -> bool {
        self.location.is_some()
    }
    fn dirty(&self) -> bool {
        self.location.as_ref().is_some_and(Form::dirty)
    }
    fn on_scan(&mut self, _ctx: &mut Ctx, data: &str) -> bool {
        self.location.as_mut().is_some_and(|f| f.fill_scan(data))
    }
    fn refresh(&mut self, ctx: &mut Ctx) {
        self.today = Some(time::local_day(ctx.now));
        match ctx.bank.units_in_stock(None, PAGE, ctx.now) {
            Ok(rows) => self.rows = rows,
            Err(e) => ctx.fail(e),
        }
        self.sel = self.sel.min(self.rows.len().saturating_sub(1));
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
        let len = self.shown().len();
        if move_selection(&key, &mut self.sel, len) {
            return;
        }
        match keys::action(keys::INVENTORY, &key) {
            Some(Action::Location) => {
                let mut form = Form::new("Set the location", vec![Field::id("Unit"), Field::text("Location", "")]);
                if let Some(u) = self.shown().get(self.sel) {
                    form.set("Unit", &u.id.display());
                    form.set("Location", u.location.as_deref().unwrap_or(""));
                    form.focus = 1;
                }
                self.location = Some(form);
            }
            Some(Action::Open) => {
                if let Some(u) = self.shown().get(self.sel) {
                    ctx.trace(u.id.clone());
                }
            }
            Some(Action::Filter) => {
                let i = FILTERS.iter().position(|f| *f == self.only).unwrap_or(0);
                self.only = FILTERS[(i + 1) % FILTERS.len()];
                self.sel = 0;
            }
            Some(Action::Refresh) => self.refresh(ctx),
            Some(Action::NextPage) => {
                if let Some(last) = self.rows.last().map(|u| u.id.clone()) {
                    match ctx.bank.units_in_stock(Some(&last), PAGE, ctx.now) {
                        Ok(more) if more.is_empty() => ctx.info("no more units"),
                        Ok(more) => self.rows.extend(more),
                        Err(e) => ctx.fail(e),
                    }
                }
            }
            _ => {}
        }
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let today = self.today.unwrap_or_default();
        let shown = self.shown();
        let lines: Vec<Line> = shown
            .iter()
            .map(|u| {
                let soon = u.expires_on <= today + Duration::days(EXPIRY_WARNING_DAYS);
                let (exp, style) = match u.status {
                    UnitStatus::Expired => (format!("EXPIRED {}", u.expires_on), theme::error()),
                    _ if soon => (format!("expires {} !", u.expires_on), theme::warn()),
                    _ => (format!("expires {}", u.expires_on), theme::dim()),
                };
                Line::from(vec![
                    Span::raw(format!("{}  {:<11} ", u.id, u.status.as_str())),
                    Span::styled(exp, style),
                    Span::raw(format!("  {}", u.location.as_deref().unwrap_or(""))),
                ])
            })
            .collect();
        let filter = self.only.map_or("all".to_string(), |s| s.as_str().to_string());
        let title = format!("Units in stock: {filter} ({} shown, s to filter, l location)", shown.len());
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
