//! Pick a record from a list instead of scanning it (Ctrl-F on an identifier field): j/k or arrows move,
//! typing narrows the list, Enter takes the selection, Esc closes.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::Frame;

use super::screens::{list, move_selection};
use crate::core::ids::Id;

pub struct Picker {
    title: &'static str,
    rows: Vec<(Id, String)>,
    filter: String,
    sel: usize,
}

pub enum Picked {
    Still,
    Closed,
    Chosen(Id),
}

impl Picker {
    /// `rows`: each record's identifier and what the list shows of it.
    pub fn new(title: &'static str, rows: Vec<(Id, String)>) -> Picker {
        Picker { title, rows, filter: String::new(), sel: 0 }
    }

    fn shown(&self) -> Vec<&(Id, String)> {
        let f = self.filter.to_lowercase();
        self.rows.iter().filter(|(_, text)| f.is_empty() || text.to_lowercase().contains(&f)).collect()
    }

    pub fn key(&mut self, key: KeyEvent) -> Picked {
        let len = self.shown().len();
        if matches!(key.code, KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown)
            && move_selection(&key, &mut self.sel, len)
        {
            return Picked::Still;
        }
        match key.code {
            KeyCode::Esc => Picked::Closed,
            KeyCode::Enter => self.shown().get(self.sel).map_or(Picked::Closed, |(id, _)| Picked::Chosen(id.clone())),
            KeyCode::Backspace => {
                self.filter.pop();
                self.sel = 0;
                Picked::Still
            }
            KeyCode::Char(c) => {
                self.filter.push(c);
                self.sel = 0;
                Picked::Still
            }
            _ => Picked::Still,
        }
    }

    pub fn render(&self, f: &mut Frame, area: Rect) {
        let lines: Vec<Line> = self.shown().iter().map(|(_, text)| Line::from(text.clone())).collect();
        let title = format!("{} · type to narrow: {}▏ · Enter pick · Esc close", self.title, self.filter);
        list(f, area, &title, lines, Some(self.sel));
    }
}
