//! Access control at the bench: the sign-in screen (also the lock screen after idle time), the box where a signer
//! re-enters the password for a signed act, and which operation each key does — whether the signed-in user may
//! do it is the bank's answer (`core::access`, asked through `Bank::may`), never decided here.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use zeroize::Zeroizing;

use super::keys::{self, Action};
use super::{theme, words};
use crate::core::access::Operation;

/// The operation a key's action does, for the access table: `None` for moving, viewing and the like.
pub fn operation(action: Action) -> Option<Operation> {
    Some(match action {
        Action::Register => Operation::RegisterDonor,
        Action::Screening | Action::CycleResult => Operation::Screen,
        Action::Defer => Operation::Defer,
        Action::Make => Operation::MakeBatch,
        Action::Qc => Operation::QcEntry,
        Action::Release => Operation::Release,
        Action::Discard => Operation::Discard,
        Action::Print => Operation::LabelPrint,
        Action::Location => Operation::Locate,
        Action::Apply => Operation::RecallApply,
        Action::Export => Operation::Export,
        Action::NewRecipient => Operation::RecipientAdd,
        Action::Visit => Operation::FollowUp,
        Action::AdverseEvent => Operation::AdverseEvent,
        Action::OpenRecall => Operation::RecallDryRun,
        _ => return None,
    })
}

/// The most a password takes, in bytes: the core refuses longer ones (1024 characters), and a buffer that never
/// grows never leaves a copy behind in memory it gave up.
const PASSWORD_BYTES: usize = 4 * 1024;

/// A password being typed: shown as dots, wiped when cleared or dropped.
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new() -> Password {
        Password(Zeroizing::new(String::with_capacity(PASSWORD_BYTES)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wipes what was typed (after each check, right or wrong).
    pub fn clear(&mut self) {
        zeroize::Zeroize::zeroize(&mut *self.0);
    }

    /// Edits by a key: a character, or Backspace. True when the key was one of them.
    fn key(&mut self, k: &KeyEvent) -> bool {
        match k.code {
            KeyCode::Backspace => {
                self.0.pop();
            }
            KeyCode::Char(c) if !k.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => {
                if self.0.len() + c.len_utf8() <= self.0.capacity() {
                    self.0.push(c);
                }
            }
            _ => return false,
        }
        true
    }

    fn masked(&self) -> String {
        "•".repeat(self.0.chars().count())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    User,
    Password,
}

/// What a key did on the sign-in screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateEvent {
    None,
    /// Check the user name and password.
    SignIn,
    /// Ctrl-C: quit, asking first.
    Quit,
}

/// The sign-in screen, shown before anything else when the bank has users; after idle time the same screen
/// locks the bench, holding the locked user's work (their password unlocks it; another user signing in
/// discards it).
pub struct Gate {
    pub user: String,
    pub password: Password,
    focus: Field,
    /// The user whose screens are held behind the lock, and the idle minutes that locked them.
    pub locked: Option<(String, u32)>,
    /// Why the last sign-in was refused, or what happened while locked.
    pub message: Option<String>,
}

impl Gate {
    /// The sign-in screen, the user name typed in advance when given.
    pub fn sign_in(user: Option<&str>) -> Gate {
        let user = user.unwrap_or_default().to_string();
        let focus = if user.is_empty() { Field::User } else { Field::Password };
        Gate { user, password: Password::new(), focus, locked: None, message: None }
    }

    /// The lock screen over `user`'s work, after `minutes` idle.
    pub fn lock(user: &str, minutes: u32) -> Gate {
        Gate { locked: Some((user.to_string(), minutes)), ..Gate::sign_in(Some(user)) }
    }

    pub fn key(&mut self, k: KeyEvent) -> GateEvent {
        match keys::action(keys::GATE, &k) {
            Some(Action::Interrupt) => return GateEvent::Quit,
            Some(Action::FieldNext | Action::FieldPrev) => self.toggle(),
            Some(Action::FieldEnter) if self.focus == Field::Password => return GateEvent::SignIn,
            Some(Action::FieldEnter) => self.focus = Field::Password,
            Some(Action::Cancel) => self.password.clear(),
            _ if self.focus == Field::Password => {
                self.password.key(&k);
            }
            _ => type_user_name(&mut self.user, &k),
        }
        GateEvent::None
    }

    fn toggle(&mut self) {
        self.focus = if self.focus == Field::User { Field::Password } else { Field::User };
    }

    /// The whole screen: nothing of the screens behind it shows.
    pub fn render(&self, f: &mut Frame, bank_label: &str) {
        let area = f.area();
        f.render_widget(Clear, area);
        let field = |label: &str, value: String, focused: bool| {
            let style = if focused { theme::selected() } else { ratatui::style::Style::new() };
            Line::from(vec![
                Span::styled(format!("{label:>9} "), theme::title()),
                Span::styled(format!(" {value} "), style),
            ])
        };
        let mut lines = vec![Line::from(words::clean(bank_label)), Line::from("")];
        let title = match &self.locked {
            Some((user, minutes)) => {
                lines.push(Line::from(format!(
                    "Locked after {minutes} min without a key or a scan. {}'s password unlocks their work; another \
                     user may sign in instead (the unsaved forms are then discarded).",
                    words::clean(user)
                )));
                lines.push(Line::from(""));
                " Locked "
            }
            None => " Sign in ",
        };
        let user_line = lines.len();
        lines.push(field("User", words::clean(&self.user), self.focus == Field::User));
        lines.push(field("Password", self.password.masked(), self.focus == Field::Password));
        lines.push(Line::from(""));
        if let Some(m) = &self.message {
            lines.push(Line::from(Span::styled(format!("✗ {}", words::clean(m)), theme::error())));
        }
        lines.push(Line::from(Span::styled(
            "Tab next field · Enter on the password signs in · Esc clears it · Ctrl-C quit",
            theme::dim(),
        )));
        let w = area.width.min(72);
        let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + area.height / 6, width: w, height: 0 };
        let inner = usize::from(w.saturating_sub(2)).max(1);
        let r = Rect { height: (lines_rows(&lines, inner) as u16 + 2).min(area.height - r.y), ..r };
        let focused = user_line + usize::from(self.focus == Field::Password);
        let row = lines_rows(&lines[..focused], inner);
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::default().borders(Borders::ALL).title(format!(" stoolbank ·{title}"))),
            r,
        );
        let typed = match self.focus {
            Field::User => self.user.chars().count(),
            Field::Password => self.password.as_str().chars().count(),
        };
        let (x, y) = (r.x + 1 + 10 + 1 + typed as u16, r.y + 1 + row as u16);
        if x < r.right() && y < r.bottom() {
            f.set_cursor_position((x, y));
        }
    }
}

/// The rows `lines` take wrapped as the box wraps them, `width` columns wide.
fn lines_rows(lines: &[Line], width: usize) -> usize {
    Paragraph::new(lines.to_vec()).wrap(Wrap { trim: false }).line_count(u16::try_from(width).unwrap_or(u16::MAX))
}

/// A signed act waiting for its signature: what it means (as the audit trail records it), when the act asks
/// before it is done, its question, and whether a second user countersigns it (four eyes on a recall applied).
#[derive(Debug, Clone)]
pub struct SignRequest {
    pub meaning: String,
    pub question: Option<String>,
    pub countersign: bool,
}

/// The second user's name and password, asked after the signer's own signature.
pub struct Countersign {
    pub user: String,
    pub password: Password,
    focus: Field,
}

/// The box where the signer re-enters the password (and then, when the act takes four eyes, a second user
/// countersigns with theirs).
pub struct Signing {
    pub request: SignRequest,
    pub password: Password,
    /// The countersign being asked, once the signer has signed.
    pub second: Option<Countersign>,
    pub message: Option<String>,
}

/// What a key did in the signature box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignEvent {
    None,
    Sign,
    Countersign,
    Cancel,
}

impl Signing {
    pub fn new(request: SignRequest) -> Signing {
        Signing { request, password: Password::new(), second: None, message: None }
    }

    /// The signer has signed: the box now asks the second user's name and password.
    pub fn ask_countersign(&mut self) {
        self.message = None;
        self.second = Some(Countersign { user: String::new(), password: Password::new(), focus: Field::User });
    }

    pub fn key(&mut self, k: KeyEvent) -> SignEvent {
        let action = keys::action(keys::GATE, &k);
        if matches!(action, Some(Action::Cancel | Action::Interrupt)) {
            return SignEvent::Cancel;
        }
        let Some(c) = self.second.as_mut() else {
            if action == Some(Action::FieldEnter) {
                return SignEvent::Sign;
            }
            self.password.key(&k);
            return SignEvent::None;
        };
        match action {
            Some(Action::FieldNext | Action::FieldPrev) => {
                c.focus = if c.focus == Field::User { Field::Password } else { Field::User };
            }
            Some(Action::FieldEnter) if c.focus == Field::Password => return SignEvent::Countersign,
            Some(Action::FieldEnter) => c.focus = Field::Password,
            _ if c.focus == Field::Password => {
                c.password.key(&k);
            }
            _ => type_user_name(&mut c.user, &k),
        }
        SignEvent::None
    }

    /// The box's lines, for the app's centred popup.
    pub fn lines(&self, signer: &str) -> Vec<Line<'static>> {
        let mut lines =
            vec![Line::from(Span::styled(format!("Sign: {}", words::clean(&self.request.meaning)), theme::warn()))];
        if let Some(q) = &self.request.question {
            lines.push(Line::from(words::clean(q)));
        }
        lines.push(Line::from(""));
        let Some(c) = &self.second else {
            lines.push(Line::from(vec![
                Span::styled(format!("{}'s password ", words::clean(signer)), theme::title()),
                Span::styled(format!(" {} ", self.password.masked()), theme::selected()),
            ]));
            if let Some(m) = &self.message {
                lines.push(Line::from(Span::styled(format!("✗ {}", words::clean(m)), theme::error())));
            }
            lines.push(Line::from(""));
            let enter = if self.request.countersign {
                "Enter signs; a second user countersigns next"
            } else {
                "Enter signs and does it"
            };
            lines.push(Line::from(Span::styled(format!("{enter} · Esc cancels (nothing is done)"), theme::dim())));
            return lines;
        };
        lines.push(Line::from(format!(
            "✓ signed by {}. Four eyes: a second user who may apply recalls countersigns.",
            words::clean(signer)
        )));
        let field = |label: &str, value: String, focused: bool| {
            let style = if focused { theme::selected() } else { ratatui::style::Style::new() };
            Line::from(vec![
                Span::styled(format!("{label:>9} "), theme::title()),
                Span::styled(format!(" {value} "), style),
            ])
        };
        lines.push(field("User", words::clean(&c.user), c.focus == Field::User));
        lines.push(field("Password", c.password.masked(), c.focus == Field::Password));
        if let Some(m) = &self.message {
            lines.push(Line::from(Span::styled(format!("✗ {}", words::clean(m)), theme::error())));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            "Tab next field · Enter on the password countersigns and does it · Esc cancels (nothing is done)",
            theme::dim(),
        )));
        lines
    }
}

/// A key typed into a user-name field: a user name is what `check_user_name` takes; anything else is not kept.
fn type_user_name(user: &mut String, k: &KeyEvent) {
    match k.code {
        KeyCode::Backspace => {
            user.pop();
        }
        KeyCode::Char(c)
            if (c.is_ascii_alphanumeric() || ".-_".contains(c))
                && !k.modifiers.contains(KeyModifiers::CONTROL)
                && user.len() < 64 =>
        {
            user.push(c);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(p: &mut Password, code: KeyCode) {
        p.key(&KeyEvent::new(code, KeyModifiers::NONE));
    }

    #[test]
    fn a_password_is_masked_edited_by_character_and_wiped() {
        let mut p = Password::new();
        for c in "pässwörd".chars() {
            press(&mut p, KeyCode::Char(c));
        }
        press(&mut p, KeyCode::Backspace);
        assert_eq!((p.as_str(), p.masked().as_str()), ("pässwör", "•••••••"));
        p.clear();
        assert_eq!(p.as_str(), "");
    }

    #[test]
    fn a_password_never_grows_its_buffer() {
        let mut p = Password::new();
        let capacity = p.0.capacity();
        for _ in 0..capacity + 10 {
            press(&mut p, KeyCode::Char('x'));
        }
        assert_eq!((p.0.len(), p.0.capacity()), (capacity, capacity));
    }

    #[test]
    fn a_user_name_takes_only_the_characters_a_name_may_have() {
        let mut g = Gate::sign_in(None);
        for c in "an na/ k".chars() {
            g.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        assert_eq!(g.user, "annak");
        assert_eq!(g.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)), GateEvent::None);
        assert_eq!(g.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)), GateEvent::SignIn);
    }
}
