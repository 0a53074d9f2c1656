//! Audit: the log, filtered by record (and everything about it).

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::Frame;

use super::{list, move_selection};
use crate::store::audit::Entry;
use crate::tui::app::{Ctx, Screen};
use crate::tui::form::{Field, Form, FormEvent};

pub struct Audit {
    filter: Form,
    typing: bool,
    rows: Vec<Entry>,
    sel: usize,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            filter: Form::new("Filter by record", vec![Field::id("Identifier")]),
            typing: false,
            rows: Vec::new(),
            sel: 0,
        }
    }
}

const SHOWN: usize = 500;

impl Screen for Audit {
    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        &[("/", "filter by a record's identifier (empty: everything)"), ("j/k ↑/↓", "move"), ("r", "refresh")]
    }
    fn editing(&self) -> bool {
        self.typing
    }
    fn refresh(&mut self, ctx: &mut Ctx) {
        let id = match self.filter.get("Identifier") {
            "" => None,
            s => match ctx.bank.lookup(s) {
                Ok(id) => Some(id),
                Err(e) => return ctx.fail(e),
            },
        };
        match ctx.bank.audit_log(id.as_ref(), SHOWN) {
            Ok(rows) => {
                self.sel = rows.len().saturating_sub(1);
                self.rows = rows;
            }
            Err(e) => ctx.fail(e),
        }
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        if self.typing {
            match self.filter.key(key) {
                FormEvent::Submit => {
                    self.typing = false;
                    self.refresh(ctx);
                }
                FormEvent::Cancel => self.typing = false,
                FormEvent::None => {}
            }
            return;
        }
        if move_selection(key.code, &mut self.sel, self.rows.len()) {
            return;
        }
        match key.code {
            KeyCode::Char('/') => self.typing = true,
            KeyCode::Char('r') => self.refresh(ctx),
            _ => {}
        }
    }
    fn on_scan(&mut self, ctx: &mut Ctx, data: &str) -> bool {
        self.filter.set("Identifier", data);
        self.typing = false;
        self.refresh(ctx);
        true
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let [top, bottom] = Layout::vertical([Constraint::Length(4), Constraint::Min(3)]).areas(area);
        self.filter.render(f, top, self.typing);
        let lines: Vec<Line> = self
            .rows
            .iter()
            .map(|e| {
                Line::from(format!(
                    "{:>6} {} {:<8} {:<16} {} {}",
                    e.seq, e.at, e.actor, e.action, e.entity, e.entity_id
                ))
            })
            .collect();
        list(f, bottom, &format!("Audit log ({} entries)", self.rows.len()), lines, Some(self.sel));
    }
}
