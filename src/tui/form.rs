//! A keyboard form: fields named by a screen's own enum (never looked up by their label), edited in place (any
//! Unicode in free text, cursor by character, drawn at display width); identifier, number and time fields take
//! only their own characters (so `?` and `q` stay commands there), choices cycle with ←/→/Space, identifier
//! fields are what a scan fills.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::keys::{self, Action};

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Free text: any character.
    Text,
    /// An identifier: a scan fills it; typed, it takes capitals, digits and the separators people type.
    Id,
    /// A number.
    Number,
    /// A date or a date and time.
    When,
    Choice(Vec<String>),
}

impl Kind {
    /// Whether a typed character belongs in a field of this kind.
    fn takes(&self, c: char) -> bool {
        match self {
            Kind::Text => !c.is_control(),
            Kind::Id => c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, ' ' | '-' | '*' | '='),
            Kind::Number => c.is_ascii_digit() || matches!(c, '.' | '-'),
            Kind::When => c.is_ascii_digit() || matches!(c, '-' | ':' | ' ' | 'T' | 'Z' | '+'),
            Kind::Choice(_) => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field<K> {
    pub key: K,
    pub label: &'static str,
    pub value: String,
    pub kind: Kind,
    cursor: usize,
}

impl<K> Field<K> {
    fn new(key: K, label: &'static str, kind: Kind, value: &str) -> Field<K> {
        Field { key, label, value: value.into(), kind, cursor: value.chars().count() }
    }
    pub fn text(key: K, label: &'static str, value: &str) -> Field<K> {
        Field::new(key, label, Kind::Text, value)
    }
    pub fn id(key: K, label: &'static str) -> Field<K> {
        Field::new(key, label, Kind::Id, "")
    }
    pub fn number(key: K, label: &'static str, value: &str) -> Field<K> {
        Field::new(key, label, Kind::Number, value)
    }
    pub fn when(key: K, label: &'static str, value: &str) -> Field<K> {
        Field::new(key, label, Kind::When, value)
    }
    pub fn choice(key: K, label: &'static str, options: &[String], value: &str) -> Field<K> {
        let value = if options.iter().any(|o| o == value) {
            value.to_string()
        } else {
            options.first().cloned().unwrap_or_default()
        };
        Field { key, label, value, kind: Kind::Choice(options.to_vec()), cursor: 0 }
    }

    fn byte_at(&self, char_index: usize) -> usize {
        self.value.char_indices().nth(char_index).map_or(self.value.len(), |(i, _)| i)
    }

    fn cycle(&mut self, step: isize) {
        if let Kind::Choice(options) = &self.kind {
            if options.is_empty() {
                return;
            }
            let i = options.iter().position(|o| o == &self.value).unwrap_or(0) as isize;
            let n = options.len() as isize;
            self.value = options[((i + step).rem_euclid(n)) as usize].clone();
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormEvent {
    None,
    Submit,
    Cancel,
}

#[derive(Debug, Clone)]
pub struct Form<K> {
    pub title: &'static str,
    pub fields: Vec<Field<K>>,
    pub focus: usize,
    edited: bool,
}

impl<K: Copy + PartialEq> Form<K> {
    pub fn new(title: &'static str, fields: Vec<Field<K>>) -> Form<K> {
        Form { title, fields, focus: 0, edited: false }
    }

    pub fn get(&self, key: K) -> &str {
        self.fields.iter().find(|f| f.key == key).map_or("", |f| f.value.trim())
    }

    pub fn set(&mut self, key: K, value: &str) {
        if let Some(f) = self.fields.iter_mut().find(|f| f.key == key) {
            f.value = value.to_string();
            f.cursor = value.chars().count();
        }
    }

    /// Moves the focus to the field.
    pub fn focus_on(&mut self, key: K) {
        if let Some(i) = self.fields.iter().position(|f| f.key == key) {
            self.focus = i;
        }
    }

    pub fn focused(&self) -> Option<K> {
        self.fields.get(self.focus).map(|f| f.key)
    }

    /// Whether the focused field takes free text (where `?` and `q` are characters, not commands).
    pub fn takes_text(&self) -> bool {
        self.fields.get(self.focus).is_some_and(|f| f.kind == Kind::Text)
    }

    /// Whether anything was typed or scanned (quitting then asks first).
    pub fn dirty(&self) -> bool {
        self.edited
    }

    /// A scan fills the focused identifier field, or else the first empty one; then focus moves on.
    pub fn fill_scan(&mut self, data: &str) -> bool {
        let target = if self.fields.get(self.focus).is_some_and(|f| f.kind == Kind::Id) {
            Some(self.focus)
        } else {
            self.fields.iter().position(|f| f.kind == Kind::Id && f.value.is_empty())
        };
        let Some(i) = target else { return false };
        self.fields[i].value = data.to_string();
        self.fields[i].cursor = data.chars().count();
        self.focus = (i + 1).min(self.fields.len() - 1);
        self.edited = true;
        true
    }

    pub fn key(&mut self, key: KeyEvent) -> FormEvent {
        let n = self.fields.len();
        let Some(field) = self.fields.get_mut(self.focus) else { return FormEvent::Cancel };
        let choice = matches!(field.kind, Kind::Choice(_));
        // ←/→ are bound twice in the table: they change a choice field and move in a text field.
        let action = keys::actions(keys::FORM, &key).find(|a| match a {
            Action::Choice => choice,
            Action::Edit => !choice,
            _ => true,
        });
        match action {
            Some(Action::Cancel) => return FormEvent::Cancel,
            Some(Action::Submit) => return FormEvent::Submit,
            Some(Action::FieldEnter) if self.focus + 1 >= n => return FormEvent::Submit,
            Some(Action::FieldEnter | Action::FieldNext) => self.focus = (self.focus + 1).min(n - 1),
            Some(Action::FieldPrev) => self.focus = self.focus.saturating_sub(1),
            Some(Action::Choice) => field.cycle(if key.code == KeyCode::Left { -1 } else { 1 }),
            Some(Action::Edit) => match key.code {
                KeyCode::Left => field.cursor = field.cursor.saturating_sub(1),
                KeyCode::Right => field.cursor = (field.cursor + 1).min(field.value.chars().count()),
                KeyCode::Home => field.cursor = 0,
                KeyCode::End => field.cursor = field.value.chars().count(),
                KeyCode::Backspace if field.cursor > 0 => {
                    let at = field.byte_at(field.cursor - 1);
                    field.value.remove(at);
                    field.cursor -= 1;
                    self.edited = true;
                }
                KeyCode::Delete if field.cursor < field.value.chars().count() => {
                    let at = field.byte_at(field.cursor);
                    field.value.remove(at);
                    self.edited = true;
                }
                _ => {}
            },
            _ => match key.code {
                KeyCode::Char(c)
                    if field.kind.takes(c) && !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
                {
                    let at = field.byte_at(field.cursor);
                    field.value.insert(at, c);
                    field.cursor += 1;
                    self.edited = true;
                }
                _ => {}
            },
        }
        FormEvent::None
    }

    pub fn render(&self, f: &mut Frame, area: Rect, active: bool) {
        let width = self.fields.iter().map(|x| x.label.width()).max().unwrap_or(0);
        let mut lines = Vec::new();
        let mut cursor = None;
        for (i, field) in self.fields.iter().enumerate() {
            let focused = active && i == self.focus;
            let style = if focused { Style::new().add_modifier(Modifier::REVERSED) } else { Style::new() };
            let shown = match &field.kind {
                Kind::Choice(_) => format!("‹ {} ›", field.value),
                _ => field.value.clone(),
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{:>width$} ", field.label), Style::new().add_modifier(Modifier::BOLD)),
                Span::styled(format!(" {shown} "), style),
            ]));
            if focused && !matches!(field.kind, Kind::Choice(_)) {
                let before: String = field.value.chars().take(field.cursor).collect();
                cursor = Some((area.x + 1 + width as u16 + 2 + before.width() as u16, area.y + 1 + i as u16));
            }
        }
        let hint = if active { "Tab/↑↓ move · Enter next/submit · Ctrl-S submit · Esc cancel" } else { "" };
        lines.push(Line::from(Span::styled(hint, Style::new().add_modifier(Modifier::DIM))));
        f.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(self.title)), area);
        if let Some((x, y)) = cursor.filter(|(x, y)| *x < area.right() && *y < area.bottom()) {
            f.set_cursor_position((x, y));
        }
    }
}
