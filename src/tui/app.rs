//! The TUI's state and its update: messages (keys, scans, ticks) in, state changed through `Bank` operations
//! (the same ones the CLI calls), rendered from state. No rule and no SQL lives here.

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs, Wrap};
use ratatui::Frame;

use super::keys::{self, Action, Binding};
use super::screens::{audit, batches, dispense, donations, donors, home, inventory, recall, trace};
use super::theme;
use crate::app::{AppError, Bank};
use crate::core::ids::Id;
use scanners::wedge::WedgeOutput;

/// What reaches the app: from the terminal, the scanners, and the clock.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// A whole scan, from a scanner device or the terminal wedge rule.
    Scan(String),
    /// A scanner's state, for the status bar.
    Scanner(String),
    Tick,
    Resize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// What screens may do besides changing their own state.
pub struct Ctx<'a> {
    pub bank: &'a mut Bank,
    pub now: DateTime<Utc>,
    status: &'a mut Option<(Level, String)>,
    warning: &'a mut Option<String>,
    goto: &'a mut Option<Id>,
}

impl Ctx<'_> {
    pub fn info(&mut self, m: impl Into<String>) {
        *self.status = Some((Level::Info, m.into()));
    }
    pub fn error(&mut self, m: impl Into<String>) {
        *self.status = Some((Level::Error, m.into()));
    }
    /// A full-screen warning the user must dismiss (a wrong unit at the dispense check).
    pub fn warn(&mut self, m: impl Into<String>) {
        *self.warning = Some(m.into());
    }
    /// Opens the trace of a record.
    pub fn trace(&mut self, id: Id) {
        *self.goto = Some(id);
    }
    /// Reports an operation's failure on the status line.
    pub fn fail(&mut self, e: AppError) {
        self.error(e.to_string());
    }
}

/// One tab of the TUI.
pub trait Screen {
    /// The screen's table in [`keys`]: its dispatch reads it, and so does `?`.
    fn keys(&self) -> &'static [Binding];
    /// Whether the screen shows a list that the keys of [`keys::NAV`] move in.
    fn list(&self) -> bool {
        true
    }
    /// Whether a form can open on this screen (its keys are then part of `?`).
    fn forms(&self) -> bool {
        true
    }
    /// What a scan does on this screen beyond filling the field that waits for it, for `?`.
    fn scan_hint(&self) -> Option<&'static str> {
        None
    }
    /// A form is being edited: every key goes to the screen.
    fn editing(&self) -> bool;
    fn dirty(&self) -> bool {
        false
    }
    /// Called when the tab is shown: reload what it shows.
    fn refresh(&mut self, _ctx: &mut Ctx) {}
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent);
    /// A scan arrived: true when the screen took it (it fills a waiting field).
    fn on_scan(&mut self, _ctx: &mut Ctx, _data: &str) -> bool {
        false
    }
    fn render(&self, f: &mut Frame, area: Rect);
}

pub const TABS: [&str; 9] =
    ["Home", "Donors", "Donations", "Batches", "Inventory", "Dispense", "Trace", "Recall", "Audit"];

pub struct App {
    pub bank: Bank,
    pub tab: usize,
    /// Frozen clock for tests; None: the wall clock.
    pub clock: Option<DateTime<Utc>>,
    pub db_label: String,
    pub scanner: String,
    status: Option<(Level, String)>,
    warning: Option<String>,
    goto: Option<Id>,
    help: bool,
    help_scroll: u16,
    confirm_quit: bool,
    pub quit: bool,
    /// Identifier characters typed outside any form (a keyboard-wedge scan, or a person typing one).
    typed: String,
    /// A keyboard-wedge scanner typing into this terminal, recognised by its profile's prefix.
    pub wedge: Option<scanners::wedge::WedgeDetector>,
    home: home::Home,
    donors: donors::Donors,
    donations: donations::Donations,
    batches: batches::Batches,
    inventory: inventory::Inventory,
    dispense: dispense::Dispense,
    trace: trace::Trace,
    recall: recall::Recall,
    audit: audit::Audit,
}

macro_rules! with_screen {
    ($self:ident, |$s:ident, $ctx:ident| $body:expr) => {{
        let now = $self.now();
        let mut $ctx = Ctx {
            bank: &mut $self.bank,
            now,
            status: &mut $self.status,
            warning: &mut $self.warning,
            goto: &mut $self.goto,
        };
        let $s: &mut dyn Screen = match $self.tab {
            1 => &mut $self.donors,
            2 => &mut $self.donations,
            3 => &mut $self.batches,
            4 => &mut $self.inventory,
            5 => &mut $self.dispense,
            6 => &mut $self.trace,
            7 => &mut $self.recall,
            8 => &mut $self.audit,
            _ => &mut $self.home,
        };
        $body
    }};
}

impl App {
    pub fn new(bank: Bank, db_label: String) -> App {
        let config = bank.config().clone();
        let mut app = App {
            bank,
            tab: 0,
            clock: None,
            db_label,
            scanner: "no scanner".into(),
            status: None,
            warning: None,
            goto: None,
            help: false,
            help_scroll: 0,
            confirm_quit: false,
            quit: false,
            typed: String::new(),
            wedge: None,
            home: home::Home::default(),
            donors: donors::Donors::default(),
            donations: donations::Donations::new(&config),
            batches: batches::Batches::new(&config),
            inventory: inventory::Inventory::default(),
            dispense: dispense::Dispense::new(&config),
            trace: trace::Trace::default(),
            recall: recall::Recall::default(),
            audit: audit::Audit::default(),
        };
        app.switch(0);
        app
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.unwrap_or_else(crate::time::now)
    }

    pub fn switch(&mut self, tab: usize) {
        self.tab = tab.min(TABS.len() - 1);
        with_screen!(self, |s, ctx| s.refresh(&mut ctx));
    }

    fn dirty(&mut self) -> bool {
        let tab = self.tab;
        let mut any = false;
        for t in 0..TABS.len() {
            self.tab = t;
            any |= with_screen!(self, |s, _ctx| s.dirty());
        }
        self.tab = tab;
        any
    }

    pub fn update(&mut self, msg: Msg) {
        match msg {
            Msg::Key(k) => self.wedge_key(k),
            Msg::Scan(data) => self.scan(&data),
            Msg::Scanner(state) => self.scanner = state,
            Msg::Tick | Msg::Resize => {
                let rejected = self.wedge.as_mut().and_then(|w| w.poll(std::time::Instant::now()));
                if let Some(WedgeOutput::Rejected { reason, .. }) = rejected {
                    self.status = Some((Level::Error, format!("scan rejected: {reason}")));
                }
            }
        }
        if let Some(id) = self.goto.take() {
            self.tab = 6;
            let now = self.now();
            let mut ctx = Ctx {
                bank: &mut self.bank,
                now,
                status: &mut self.status,
                warning: &mut self.warning,
                goto: &mut self.goto,
            };
            self.trace.open(&mut ctx, id);
        }
    }

    fn scan(&mut self, data: &str) {
        let data = data.trim();
        if data.is_empty() {
            return;
        }
        let taken = with_screen!(self, |s, ctx| s.on_scan(&mut ctx, data));
        if !taken {
            // No field waits for it: open the record's trace (validated by its check character).
            match self.bank.lookup(data) {
                Ok(id) => self.goto = Some(id),
                Err(e) => self.status = Some((Level::Error, e.to_string())),
            }
        }
    }

    /// Keys pass through the terminal wedge detector when one is configured: what its prefix marks becomes a
    /// scan, everything else is a key as typed.
    fn wedge_key(&mut self, k: KeyEvent) {
        if k.kind != ratatui::crossterm::event::KeyEventKind::Press {
            return;
        }
        let c = match k.code {
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => c,
            KeyCode::Enter => '\r',
            KeyCode::Tab => '\t',
            _ => return self.key(k),
        };
        let Some(wedge) = self.wedge.as_mut() else { return self.key(k) };
        for out in wedge.feed(c, std::time::Instant::now()) {
            match out {
                WedgeOutput::Key('\t') => self.key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)),
                WedgeOutput::Key(c) => self.key(KeyEvent::new(KeyCode::Char(c), k.modifiers)),
                WedgeOutput::Enter { .. } => self.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
                WedgeOutput::Scan(data) => self.scan(&data),
                WedgeOutput::Rejected { reason, .. } => {
                    self.status = Some((Level::Error, format!("scan rejected: {reason}")))
                }
            }
        }
    }

    fn key(&mut self, k: KeyEvent) {
        if self.warning.is_some() {
            if matches!(k.code, KeyCode::Esc | KeyCode::Enter) {
                self.warning = None;
            }
            return;
        }
        if self.help {
            match keys::action(keys::NAV, &k) {
                Some(Action::Down) => self.help_scroll = self.help_scroll.saturating_add(1),
                Some(Action::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
                _ => self.help = false,
            }
            return;
        }
        if self.confirm_quit {
            self.quit = keys::action(keys::CONFIRM, &k) == Some(Action::Yes);
            self.confirm_quit = false;
            return;
        }
        let global = keys::action(keys::GLOBAL, &k);
        if global == Some(Action::Interrupt) {
            self.confirm_quit = true;
            return;
        }
        // Function keys switch tabs from anywhere, forms included (what was typed stays in its form).
        if global == Some(Action::Tab) {
            if let KeyCode::F(n) = k.code {
                self.switch(usize::from(n).saturating_sub(1));
            }
            return;
        }
        let editing = with_screen!(self, |s, _ctx| s.editing());
        if editing {
            with_screen!(self, |s, ctx| s.on_key(&mut ctx, k));
            return;
        }
        // Outside a form, identifier characters collect into a would-be identifier (the scan rule):
        // that is why no command key is an upper-case letter or a digit.
        match k.code {
            KeyCode::Char(c)
                if (c.is_ascii_uppercase() || c.is_ascii_digit() || c == '=')
                    && !k.modifiers.contains(KeyModifiers::CONTROL) =>
            {
                return self.typed.push(c);
            }
            KeyCode::Backspace if !self.typed.is_empty() => {
                self.typed.pop();
                return;
            }
            KeyCode::Enter if !self.typed.is_empty() => {
                let data = std::mem::take(&mut self.typed);
                return self.scan(&data);
            }
            KeyCode::Esc if !self.typed.is_empty() => return self.typed.clear(),
            _ => {}
        }
        match global {
            Some(Action::Quit) => {
                if self.dirty() {
                    self.confirm_quit = true;
                } else {
                    self.quit = true;
                }
            }
            Some(Action::Help) => {
                self.help = true;
                self.help_scroll = 0;
            }
            Some(Action::PrevTab) => self.switch((self.tab + TABS.len() - 1) % TABS.len()),
            Some(Action::NextTab) => self.switch((self.tab + 1) % TABS.len()),
            _ => with_screen!(self, |s, ctx| s.on_key(&mut ctx, k)),
        }
    }

    pub fn render(&mut self, f: &mut Frame) {
        let [tabs, body, status] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(2)]).areas(f.area());
        // Names only, so that all nine fit in 80 columns; F1–F9 are in the help.
        let titles: Vec<Line> = TABS.iter().map(|t| Line::from(*t)).collect();
        f.render_widget(
            Tabs::new(titles).select(self.tab).highlight_style(theme::selected()).padding("", "").divider("│"),
            tabs,
        );
        with_screen!(self, |s, _ctx| s.render(f, body));

        let user = self.bank.actor().to_string();
        let line1 = Line::from(vec![
            Span::styled(format!(" {user} "), theme::selected()),
            Span::raw(format!(" {}  ", self.db_label)),
            Span::styled(format!("⌁ {}", self.scanner), theme::dim()),
            Span::raw(if self.typed.is_empty() { String::new() } else { format!("   scan: {}▏", self.typed) }),
        ]);
        let line2 = match &self.status {
            Some((Level::Error, m)) => Line::from(Span::styled(format!(" ✗ {m}"), theme::error())),
            Some((Level::Info, m)) => Line::from(Span::styled(format!(" ✓ {m}"), theme::ok())),
            None => Line::from(Span::styled(" ? keys · q quit", theme::dim())),
        };
        f.render_widget(Paragraph::new(vec![line1, line2]), status);

        if self.help {
            let (table, list, forms, hint) =
                with_screen!(self, |s, _ctx| (s.keys(), s.list(), s.forms(), s.scan_hint()));
            let mut groups: Vec<(String, Vec<(String, &str)>)> =
                vec![(TABS[self.tab].to_string(), keys::help_lines(table))];
            if list {
                groups.push(("In a list".into(), keys::help_lines(keys::NAV)));
            }
            // `?` is text inside a form, so the form keys are listed wherever a form can open.
            if forms {
                groups.push(("In a form".into(), keys::help_lines(keys::FORM)));
            }
            let mut everywhere = keys::help_lines(keys::GLOBAL);
            everywhere.push((keys::TYPED_IDENTIFIER.0.to_string(), keys::TYPED_IDENTIFIER.1));
            groups.push(("Everywhere".into(), everywhere));
            let width = groups.iter().flat_map(|(_, g)| g.iter().map(|(k, _)| k.chars().count())).max().unwrap_or(0);
            let mut lines = Vec::new();
            for (title, group) in groups {
                lines.push(Line::from(Span::styled(title, theme::title())));
                lines.extend(group.into_iter().map(|(k, d)| Line::from(format!("{k:>width$}  {d}"))));
            }
            if let Some(hint) = hint {
                lines.push(Line::from(format!("Scan: {hint}")));
            }
            lines.push(Line::from(Span::styled("any key closes", theme::dim())));
            let title = if lines.len() + 2 > f.area().height as usize {
                "Help · j/k scroll · any other key closes"
            } else {
                "Help"
            };
            popup(f, f.area(), lines, title, self.help_scroll);
        }
        if self.confirm_quit {
            popup(f, f.area(), vec![Line::from("Unsaved work in a form. Quit anyway? (y/n)")], "Quit", 0);
        }
        if let Some(w) = &self.warning {
            let area = f.area();
            f.render_widget(Clear, area);
            let mut text = vec![
                Line::from(Span::styled("STOP — DO NOT USE THIS UNIT", theme::error().add_modifier(Modifier::BOLD))),
                Line::from(""),
            ];
            text.extend(w.lines().map(|l| Line::from(l.to_string())));
            text.extend([Line::from(""), Line::from(Span::styled("Esc or Enter to dismiss", theme::dim()))]);
            f.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: true })
                    .block(Block::default().borders(Borders::ALL).border_style(theme::error()).title("Warning")),
                area,
            );
        }
    }
}

/// A centred box, its lines scrolled by `scroll` (help taller than a small terminal).
fn popup(f: &mut Frame, area: Rect, lines: Vec<Line>, title: &str, scroll: u16) {
    let h = (lines.len() as u16 + 2).min(area.height);
    let w = lines.iter().map(|l| l.width() as u16 + 4).max().unwrap_or(20).min(area.width);
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(Block::default().borders(Borders::ALL).title(title.to_string()).style(Style::new())),
        r,
    );
}
