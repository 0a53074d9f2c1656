//! Audit: the log, filtered by record (and everything about it).

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::Frame;

use super::{list, move_selection};
use crate::app::records::Entry;
use crate::core::ids::Id;
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::screen::{Ctx, Reload, Screen};
use crate::tui::words;

pub struct Audit {
    filter: Form<()>,
    typing: bool,
    rows: Vec<Entry>,
    sel: usize,
    /// How many of the newest entries are loaded (n loads older ones).
    limit: usize,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            filter: Form::new("Filter by record", vec![Field::id((), "Identifier")]),
            typing: false,
            rows: Vec::new(),
            sel: 0,
            limit: PAGE,
        }
    }
}

const PAGE: usize = 500;

impl Audit {
    /// Loads the newest `limit` entries of the filter; older entries loaded above keep the selection where it was.
    fn load(&mut self, ctx: &mut Ctx) {
        let id = match self.filter.get(()) {
            "" => None,
            s => match ctx.bank.lookup(s) {
                Ok(id) => Some(id),
                Err(e) => return ctx.fail(e),
            },
        };
        match ctx.bank.audit_log(id.as_ref(), self.limit) {
            Ok(rows) => {
                let added = rows.len().saturating_sub(self.rows.len());
                self.sel = if self.rows.is_empty() { rows.len().saturating_sub(1) } else { self.sel + added };
                self.rows = rows;
            }
            Err(e) => ctx.fail(e),
        }
    }
}

impl Screen for Audit {
    fn keys(&self) -> &'static [Binding] {
        keys::AUDIT
    }
    fn editing(&self) -> bool {
        self.typing
    }
    fn typing_text(&self) -> bool {
        false
    }
    /// The newest entries, the newest selected.
    fn refresh(&mut self, ctx: &mut Ctx) {
        self.rows.clear();
        self.limit = PAGE;
        self.load(ctx);
    }
    // A filter being typed is the user's: the log is read again once it is entered. Otherwise the newest entries
    // come in at the end; the selection stays on its entry, or on the newest when it was there.
    fn reload(&mut self, ctx: &mut Ctx, _other: bool) -> Reload {
        if self.typing {
            return Reload::Nothing;
        }
        let at_end = self.sel + 1 >= self.rows.len();
        let kept = self.rows.get(self.sel).map(|e| e.seq);
        let id = match self.filter.get(()) {
            "" => None,
            s => match ctx.bank.lookup(s) {
                Ok(id) => Some(id),
                Err(_) => return Reload::Nothing,
            },
        };
        match ctx.bank.audit_log(id.as_ref(), self.limit) {
            Ok(rows) => self.rows = rows,
            Err(e) => {
                ctx.fail(e);
                return Reload::Nothing;
            }
        }
        let last = self.rows.len().saturating_sub(1);
        self.sel = match kept.and_then(|seq| self.rows.iter().position(|e| e.seq == seq)) {
            Some(i) if !at_end => i,
            _ => last,
        };
        Reload::Read
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
        if move_selection(&key, &mut self.sel, self.rows.len()) {
            return;
        }
        match keys::action(keys::AUDIT, &key) {
            Some(Action::Filter) => self.typing = true,
            Some(Action::Refresh) => self.refresh(ctx),
            Some(Action::NextPage) if self.rows.len() < self.limit => ctx.info("every entry is loaded"),
            Some(Action::NextPage) => {
                self.limit += PAGE;
                self.load(ctx);
            }
            Some(Action::Open) => match self.rows.get(self.sel).and_then(record) {
                Some(id) => ctx.trace(id),
                None => ctx.error("this entry names no traceable record"),
            },
            _ => {}
        }
    }
    /// The filter field waits for a scan only while it is open (`/`); otherwise a scan opens the trace.
    fn on_scan(&mut self, ctx: &mut Ctx, data: &str) -> bool {
        if !self.typing {
            return false;
        }
        self.filter.set((), data);
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
                let what =
                    record(e).map_or_else(|| format!("{} {}", e.entity, words::clean(&e.entity_id)), |id| id.display());
                Line::from(format!(
                    "{:>6} {} {:<8} {:<16} {what}",
                    e.seq,
                    e.at,
                    words::clean(&e.actor),
                    words::clean(&e.action)
                ))
            })
            .collect();
        let title = if self.rows.len() < self.limit { "Audit log" } else { "Audit log (newest; n loads older)" };
        list(f, bottom, title, lines, Some(self.sel));
    }
}

/// The record an entry is about: the entity itself when it is an identified record (a unit), else the subject
/// the entry is filed under (a dispense row under its unit, a QC row under its batch).
fn record(e: &Entry) -> Option<Id> {
    Id::from_data(&e.entity_id).or_else(|| Id::from_data(&e.subject))
}
