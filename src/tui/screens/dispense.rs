//! Dispense: scan the unit (checked at once: a wrong unit — not released, expired, recalled, already
//! dispensed — stops everything with a full-screen warning), then the recipient, confirm route and time.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::Frame;

use super::panel;
use crate::app::records::Identity;
use crate::app::{AppError, NewRecipient};
use crate::core::access::Operation;
use crate::core::config::Config;
use crate::core::ids::IdKind;
use crate::core::model::{Consent, Sex};
use crate::time;
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::picker::{Picked, Picker, Source};
use crate::tui::screen::{Ctx, Screen};
use crate::tui::words;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    Unit,
    Recipient,
    Route,
    Time,
    Clinician,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum R {
    Sex,
    BirthDate,
    Indication,
    Consent,
}

pub struct Dispense {
    routes: Vec<String>,
    indications: Vec<String>,
    form: Form<F>,
    /// Registering a recipient who is not in the bank yet (Ctrl-N).
    new_recipient: Option<Form<R>>,
    picker: Option<Picker>,
    /// Esc on an empty form steps out of it (global keys work); any other key steps back in.
    resting: bool,
    checked: Option<String>,
    done: Vec<String>,
}

impl Dispense {
    pub fn new(config: &Config) -> Dispense {
        let routes = config.routes.clone();
        Dispense {
            form: Self::blank(&routes),
            routes,
            indications: config.indications.clone(),
            new_recipient: None,
            picker: None,
            resting: false,
            checked: None,
            done: Vec::new(),
        }
    }

    fn blank(routes: &[String]) -> Form<F> {
        Form::new(
            "Dispense (scan the unit, then the recipient)",
            vec![
                Field::id(F::Unit, "Unit"),
                Field::id(F::Recipient, "Recipient"),
                Field::choice(F::Route, "Route", routes, ""),
                Field::when(F::Time, "Time", ""),
                Field::text(F::Clinician, "Clinician", ""),
            ],
        )
    }

    /// The first scan's check: refuses a wrong unit before anything else is typed.
    fn check_unit(&mut self, ctx: &mut Ctx) {
        let raw = self.form.get(F::Unit).to_string();
        if raw.is_empty() || self.checked.as_deref() == Some(raw.as_str()) {
            return;
        }
        let verdict = ctx.bank.lookup_kind(&raw, IdKind::Unit).and_then(|u| ctx.bank.check_dispense(&u, ctx.now));
        match verdict {
            Ok(u) => {
                ctx.info(format!("unit {} released, expires {}: scan the recipient", u.id, u.expires_on));
                self.checked = Some(raw);
            }
            Err(e) => {
                ctx.warn(format!("{}\n{}", words::clean(&raw), words::error(&e)));
                self.form.set(F::Unit, "");
                self.form.focus = 0;
                self.checked = None;
            }
        }
    }

    fn register_recipient(&mut self, ctx: &mut Ctx) {
        let Some(form) = &self.new_recipient else { return };
        let result = (|| {
            let new = NewRecipient {
                sex: form.get(R::Sex).parse().map_err(AppError::Invalid)?,
                birth_date: time::parse_date(form.get(R::BirthDate)).map_err(|e| AppError::Invalid(e.to_string()))?,
                indication: form.get(R::Indication).to_string(),
                consent: form.get(R::Consent).parse().map_err(AppError::Invalid)?,
                cohort: None,
                identity: Identity::default(),
            };
            ctx.bank.register_recipient(new, ctx.now)
        })();
        match result {
            Ok(r) => {
                ctx.info(format!("recipient {} registered", r.id));
                self.form.set(F::Recipient, &r.id.to_string());
                self.form.focus_on(F::Route);
                self.new_recipient = None;
            }
            Err(e) => ctx.fail(e),
        }
    }

    /// Dispenses once the signer has signed; `None` while the signature is asked for.
    fn submit(&mut self, ctx: &mut Ctx) -> Result<Option<String>, AppError> {
        let unit = ctx.bank.lookup_kind(self.form.get(F::Unit), IdKind::Unit)?;
        let recipient = ctx.bank.lookup_kind(self.form.get(F::Recipient), IdKind::Recipient)?;
        let at = match self.form.get(F::Time) {
            "" => ctx.now,
            s => time::parse_timestamp(s).map_err(|e| AppError::Invalid(e.to_string()))?,
        };
        let clinician = Some(self.form.get(F::Clinician)).filter(|c| !c.is_empty());
        if !ctx.signed(Operation::Dispense, format!("dispensed to {} — unit {unit}", recipient.display()), None) {
            return Ok(None);
        }
        let u = ctx.bank.dispense(&unit, &recipient, self.form.get(F::Route), clinician, at)?;
        Ok(Some(format!("{} dispensed to {} ({})", u.id, recipient, words::clean(self.form.get(F::Route)))))
    }
}

impl Screen for Dispense {
    fn keys(&self) -> &'static [Binding] {
        keys::DISPENSE
    }
    fn scan_hint(&self) -> Option<&'static str> {
        Some("the unit first (checked at once), then the recipient")
    }
    fn editing(&self) -> bool {
        !self.resting
    }
    fn typing_text(&self) -> bool {
        !self.resting
            && (self.picker.is_some()
                || self.new_recipient.as_ref().map_or_else(|| self.form.takes_text(), Form::takes_text))
    }
    fn dirty(&self) -> bool {
        self.form.dirty()
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        let action = keys::action(keys::DISPENSE, &key);
        if std::mem::take(&mut self.resting) && action == Some(Action::Back) {
            return;
        }
        if let Some(p) = &mut self.picker {
            match p.key(ctx, key) {
                Picked::Chosen(id) => {
                    self.picker = None;
                    self.form.set(F::Recipient, &id.display());
                    self.form.focus_on(F::Route);
                }
                Picked::Closed => self.picker = None,
                Picked::Still => {}
            }
            return;
        }
        if action == Some(Action::Pick) {
            self.picker = Picker::open(ctx, Source::Recipients);
            return;
        }
        if action == Some(Action::Back) && self.new_recipient.is_none() && !self.form.dirty() {
            self.resting = true;
            return;
        }
        if let Some(form) = &mut self.new_recipient {
            match form.key(key) {
                FormEvent::Submit => self.register_recipient(ctx),
                FormEvent::Cancel => self.new_recipient = None,
                FormEvent::None => {}
            }
            return;
        }
        if action == Some(Action::NewRecipient) {
            let sexes: Vec<String> = Sex::ALL.iter().map(|s| s.as_str().to_string()).collect();
            let consents: Vec<String> = Consent::ALL.iter().map(|c| c.as_str().to_string()).collect();
            self.new_recipient = Some(Form::new(
                "New recipient",
                vec![
                    Field::choice(R::Sex, "Sex", &sexes, ""),
                    Field::when(R::BirthDate, "Birth date", ""),
                    Field::choice(R::Indication, "Indication", &self.indications, ""),
                    Field::choice(R::Consent, "Consent", &consents, ""),
                ],
            ));
            return;
        }
        let was = self.form.focused();
        match self.form.key(key) {
            FormEvent::Submit => match self.submit(ctx) {
                Ok(None) => {}
                Ok(Some(m)) => {
                    ctx.info(m.clone());
                    self.done.push(m);
                    self.form = Self::blank(&self.routes);
                    self.checked = None;
                }
                Err(AppError::Refused(r)) => ctx.warn(words::clean(&r.to_string())),
                Err(e) => ctx.fail(e),
            },
            FormEvent::Cancel => {
                self.form = Self::blank(&self.routes);
                self.checked = None;
            }
            FormEvent::None => {}
        }
        if was == Some(F::Unit) && self.form.focused() != Some(F::Unit) {
            self.check_unit(ctx);
        }
    }
    fn on_scan(&mut self, ctx: &mut Ctx, data: &str) -> bool {
        if self.new_recipient.is_some() {
            return false;
        }
        let took = self.form.fill_scan(data);
        self.check_unit(ctx);
        took
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let [top, bottom] = Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
        self.form.render(f, top, self.new_recipient.is_none() && self.picker.is_none());
        if let Some(form) = &self.new_recipient {
            return form.render(f, bottom, true);
        }
        if let Some(p) = &self.picker {
            return p.render(f, bottom);
        }
        let mut lines = vec![Line::from(
            "Time: empty for now. Ctrl-F picks a recipient, Ctrl-N registers one. Every rule is checked again when you confirm.",
        )];
        lines.extend(self.done.iter().rev().take(10).map(|d| Line::from(format!("✓ {d}"))));
        panel(f, bottom, "Dispensed this session", lines);
    }
}
