//! Pick a record from a list instead of scanning it (Ctrl-F on an identifier field): ↑/↓ PgUp/PgDn move,
//! typing narrows the list (a search in the database over every record, not a filter of what is loaded),
//! moving past the last loaded row loads the next page, Enter takes the selection, Esc closes.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::Frame;

use super::screen::Ctx;
use super::screens::{list, move_selection};
use super::words;
use crate::app::AppError;
use crate::core::ids::Id;
use crate::store::Stored;

/// What a picker lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Donors,
    Recipients,
}

pub struct Picker {
    source: Source,
    /// Each row's identifier (None: malformed, shown marked but not to be chosen) and its text.
    rows: Vec<(Option<Id>, String)>,
    next: Option<Stored<Id>>,
    filter: String,
    sel: usize,
}

pub enum Picked {
    Still,
    Closed,
    Chosen(Id),
}

const PAGE: usize = 100;

impl Picker {
    pub fn open(ctx: &mut Ctx, source: Source) -> Option<Picker> {
        let mut p = Picker { source, rows: Vec::new(), next: None, filter: String::new(), sel: 0 };
        match p.load(ctx, false) {
            Ok(()) => Some(p),
            Err(e) => {
                ctx.fail(e);
                None
            }
        }
    }

    fn load(&mut self, ctx: &mut Ctx, more: bool) -> Result<(), AppError> {
        let after = if more { self.next.clone() } else { None };
        let (rows, next): (Vec<(Option<Id>, String)>, _) = match self.source {
            Source::Donors => {
                let page = ctx.bank.find_donors(&self.filter, after.as_ref(), PAGE, ctx.now)?;
                let rows = page
                    .rows
                    .into_iter()
                    .map(|d| (d.id.ok().cloned(), format!("{}  {}  {}", d.id, d.status, words::clean(&d.reason))))
                    .collect();
                (rows, page.next)
            }
            Source::Recipients => {
                let page = ctx.bank.find_recipients(&self.filter, after.as_ref(), PAGE)?;
                let rows = page
                    .rows
                    .into_iter()
                    .map(|r| {
                        let text =
                            format!("{}  {}  {}  born {}", r.id, words::clean(&r.indication), r.sex, r.birth_date);
                        (r.id.ok().cloned(), text)
                    })
                    .collect();
                (rows, page.next)
            }
        };
        if !more {
            self.rows = Vec::new();
            self.sel = 0;
        }
        self.rows.extend(rows);
        self.next = next;
        Ok(())
    }

    pub fn key(&mut self, ctx: &mut Ctx, key: KeyEvent) -> Picked {
        if matches!(key.code, KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown | KeyCode::End) {
            // Moving past what is loaded loads the next page.
            let wants_more = matches!(key.code, KeyCode::Down | KeyCode::PageDown | KeyCode::End)
                && self.sel + 1 >= self.rows.len()
                && self.next.is_some();
            if wants_more {
                if let Err(e) = self.load(ctx, true) {
                    ctx.fail(e);
                }
            }
            move_selection(&key, &mut self.sel, self.rows.len());
            return Picked::Still;
        }
        let refilter = match key.code {
            KeyCode::Esc => return Picked::Closed,
            KeyCode::Enter => {
                return match self.rows.get(self.sel) {
                    None => Picked::Closed,
                    Some((Some(id), _)) => Picked::Chosen(id.clone()),
                    Some((None, text)) => {
                        ctx.info(format!("{text}: its identifier cannot be read; `stoolbank verify` names it"));
                        Picked::Still
                    }
                };
            }
            KeyCode::Backspace => self.filter.pop().is_some(),
            KeyCode::Char(c) if !c.is_control() => {
                self.filter.push(c);
                true
            }
            _ => false,
        };
        if refilter {
            if let Err(e) = self.load(ctx, false) {
                ctx.fail(e);
            }
        }
        Picked::Still
    }

    pub fn render(&self, f: &mut Frame, area: Rect) {
        let lines: Vec<Line> = self.rows.iter().map(|(_, text)| Line::from(text.clone())).collect();
        let what = match self.source {
            Source::Donors => "Pick the donor",
            Source::Recipients => "Pick the recipient",
        };
        let more = if self.next.is_some() { " (more below)" } else { "" };
        let title = format!("{what}{more} · type to search: {}▏ · Enter pick · Esc close", words::clean(&self.filter));
        list(f, area, &title, lines, Some(self.sel));
    }
}
