//! One module per tab, and the few drawing helpers they share.

pub mod audit;
pub mod batches;
pub mod dispense;
pub mod donations;
pub mod donors;
pub mod home;
pub mod inventory;
pub mod recall;
pub mod trace;

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::keys::{self, Action};
use super::theme;

/// Draws lines in a bordered box, scrolled so that the selected line is visible and highlighted.
pub fn list(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line<'static>>, selected: Option<usize>) {
    let inner = area.height.saturating_sub(2) as usize;
    let sel = selected.unwrap_or(0);
    let start = if sel >= inner { sel + 1 - inner } else { 0 };
    let shown: Vec<Line> = lines
        .into_iter()
        .enumerate()
        .skip(start)
        .take(inner.max(1))
        .map(|(i, l)| if Some(i) == selected { l.style(theme::selected()) } else { l })
        .collect();
    f.render_widget(Paragraph::new(shown).block(Block::default().borders(Borders::ALL).title(title.to_string())), area);
}

pub fn panel(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line<'static>>) {
    f.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(title.to_string())),
        area,
    );
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
