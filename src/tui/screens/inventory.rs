//! Inventory: doses on the shelf by status and location, expiry warnings, a page at a time.

use chrono::Duration;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::{list, move_selection};
use crate::app::views::UnitView;
use crate::core::model::UnitStatus;
use crate::time;
use crate::tui::app::{Ctx, Screen};
use crate::tui::theme;

#[derive(Default)]
pub struct Inventory {
    rows: Vec<UnitView>,
    sel: usize,
    today: Option<chrono::NaiveDate>,
    /// Show only units of this status (None: every unit on the shelf).
    only: Option<UnitStatus>,
}

const FILTERS: [Option<UnitStatus>; 4] =
    [None, Some(UnitStatus::Quarantined), Some(UnitStatus::Released), Some(UnitStatus::Expired)];

impl Inventory {
    fn shown(&self) -> Vec<&UnitView> {
        self.rows.iter().filter(|u| self.only.is_none_or(|s| u.status == s)).collect()
    }
}

const PAGE: usize = 500;
/// Units expiring within this many days are flagged.
const EXPIRY_WARNING_DAYS: i64 = 14;

impl Screen for Inventory {
    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("j/k ↑/↓", "move"),
            ("s", "show all / quarantined / released / expired"),
            ("Enter", "open the unit's trace"),
            ("n", "load the next page"),
            ("r", "refresh"),
        ]
    }
    fn editing(&self) -> bool {
        false
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
        let len = self.shown().len();
        if move_selection(key.code, &mut self.sel, len) {
            return;
        }
        match key.code {
            KeyCode::Enter => {
                if let Some(u) = self.shown().get(self.sel) {
                    ctx.trace(u.id.clone());
                }
            }
            KeyCode::Char('s') => {
                let i = FILTERS.iter().position(|f| *f == self.only).unwrap_or(0);
                self.only = FILTERS[(i + 1) % FILTERS.len()];
                self.sel = 0;
            }
            KeyCode::Char('r') => self.refresh(ctx),
            KeyCode::Char('n') => {
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
        list(f, area, &format!("Units in stock: {filter} ({} shown, s to filter)", shown.len()), lines, Some(self.sel));
    }
}
