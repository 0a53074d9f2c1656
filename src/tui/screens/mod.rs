//! One module per tab, and the few drawing helpers they share.

pub mod audit;
pub mod batches;
pub mod dispense;
pub mod donations;
pub mod donors;
pub mod followup;
pub mod home;
pub mod inventory;
pub mod paged;
pub mod recall;
pub mod reports;
pub mod trace;

use std::cell::Cell;

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::keys::{self, Action};
use super::theme;

/// Draws lines in a bordered box, scrolled so that the selected line is visible and highlighted; the title
/// says where the selection is ("3 of 46"), or which lines show when nothing is selected and not all fit.
pub fn list(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line<'static>>, selected: Option<usize>) {
    list_window(f, area, title, lines.len(), selected, |i| lines[i].clone());
}

/// A list of `total` rows of which only those that fit are made (`line(i)`), so a long list draws as fast as a
/// short one.
pub fn list_window(
    f: &mut Frame,
    area: Rect,
    title: &str,
    total: usize,
    selected: Option<usize>,
    line: impl Fn(usize) -> Line<'static>,
) {
    let inner = (area.height.saturating_sub(2) as usize).max(1);
    let sel = selected.unwrap_or(0).min(total.saturating_sub(1));
    let start = if sel >= inner { sel + 1 - inner } else { 0 };
    let place = match selected {
        Some(_) if total > 0 => format!(" · {} of {total}", sel + 1),
        _ if total > inner => format!(" · {}–{} of {total}", start + 1, (start + inner).min(total)),
        _ => String::new(),
    };
    let shown: Vec<Line> = (start..total.min(start + inner))
        .map(|i| if Some(i) == selected { line(i).style(theme::selected()) } else { line(i) })
        .collect();
    f.render_widget(
        Paragraph::new(shown).block(Block::default().borders(Borders::ALL).title(format!("{title}{place}"))),
        area,
    );
}

/// A detail pane's title: what it shows, whether another bench changed it since it was opened, and its keys.
pub fn pane_title(what: &str, changed: bool, keys: &str) -> String {
    let mut title = what.to_string();
    if changed {
        title.push_str(" · changed by another bench");
    }
    if !keys.is_empty() {
        title.push_str(" · ");
        title.push_str(keys);
    }
    title
}

pub fn panel(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line<'static>>) {
    pane(f, area, title, lines, &Scroll::default());
}

/// How far a detail pane is scrolled. The pane records at each drawing how far it can go, so that scrolling
/// stops at its end.
#[derive(Debug, Default)]
pub struct Scroll {
    offset: u16,
    max: Cell<u16>,
    page: Cell<u16>,
}

impl Scroll {
    /// The keys of [`keys::NAV`] scroll; true when the key was one of them.
    pub fn key(&mut self, key: &KeyEvent) -> bool {
        let (max, page) = (self.max.get(), self.page.get().max(1));
        self.offset = match keys::action(keys::NAV, key) {
            Some(Action::Down) => self.offset.saturating_add(1),
            Some(Action::Up) => self.offset.saturating_sub(1),
            Some(Action::PageDown) => self.offset.saturating_add(page),
            Some(Action::PageUp) => self.offset.saturating_sub(page),
            Some(Action::First) => 0,
            Some(Action::Last) => max,
            _ => return false,
        }
        .min(max);
        true
    }

    /// Half a page down (`+1`) or up (`-1`), for panes beside a list whose keys move the list.
    pub fn half_page(&mut self, step: i8) {
        let half = (self.page.get() / 2).max(1);
        self.offset = if step > 0 {
            self.offset.saturating_add(half).min(self.max.get())
        } else {
            self.offset.saturating_sub(half)
        };
    }

    pub fn reset(&mut self) {
        self.offset = 0;
    }
}

/// A detail pane: wrapped lines in a bordered box, scrolled by `scroll`; the title says which lines show when
/// not all of them fit ("lines 1–20 of 31").
pub fn pane(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line<'static>>, scroll: &Scroll) {
    let width = area.width.saturating_sub(2).max(1);
    let inner = area.height.saturating_sub(2);
    let text = Paragraph::new(lines).wrap(Wrap { trim: false });
    let total = u16::try_from(text.line_count(width)).unwrap_or(u16::MAX);
    let max = total.saturating_sub(inner);
    scroll.max.set(max);
    scroll.page.set(inner);
    let offset = scroll.offset.min(max);
    let title = if total > inner {
        format!("{title} · lines {}–{} of {total}", offset + 1, (offset + inner).min(total))
    } else {
        title.to_string()
    };
    f.render_widget(text.scroll((offset, 0)).block(Block::default().borders(Borders::ALL).title(title)), area);
}

/// The keys of [`keys::NAV`] move a selection within `len` rows; returns true when the key was a move.
pub fn move_selection(key: &KeyEvent, sel: &mut usize, len: usize) -> bool {
    match keys::action(keys::NAV, key) {
        Some(Action::Down) => *sel = (*sel + 1).min(len.saturating_sub(1)),
        Some(Action::Up) => *sel = sel.saturating_sub(1),
        Some(Action::PageDown) => *sel = (*sel + 10).min(len.saturating_sub(1)),
        Some(Action::PageUp) => *sel = sel.saturating_sub(10),
        Some(Action::First) => *sel = 0,
        Some(Action::Last) => *sel = len.saturating_sub(1),
        _ => return false,
    }
    true
}

pub fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}
