//! Colours readable on dark and light terminals: the terminal's own foreground and background, with reverse
//! video for selection and the basic ANSI red and green only for errors and confirmations.

use ratatui::style::{Color, Modifier, Style};

pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
}
pub fn title() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}
pub fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}
pub fn error() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}
pub fn ok() -> Style {
    Style::new().fg(Color::Green)
}
/// Magenta, not yellow: yellow on a white background is barely legible.
pub fn warn() -> Style {
    Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
}
