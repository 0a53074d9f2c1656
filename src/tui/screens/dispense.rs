//! Dispense: scan the unit (checked at once: a wrong unit — not released, expired, recalled, already
//! dispensed — stops everything with a full-screen warning), then the recipient, confirm route and time.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::Frame;

use super::panel;
use crate::app::{AppError, NewRecipient};
use crate::core::config::Config;
use crate::core::ids::IdKind;
use crate::store::donors::Identity;
use crate::time;
use crate::tui::app::{Ctx, Screen};
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::picker::{Picked, Picker};

pub struct Dispense {
    routes: Vec<String>,
    indications: Vec<String>,
    form: Form,
    /// Registering a recipient who is not in the bank yet (Ctrl-N).
    new_recipient: Option<Form>,
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

    fn blank(routes: &[String]) -> Form {
        Form::new(
            "Dispense (scan the unit, then the recipient)",
            vec![
                Field::id("Unit"),
                Field::id("Recipient"),
                Field::choice("Route", routes, "colonoscopy"),
                Field::text("Time", ""),
                Field::text("Clinician", ""),
            ],
        )
    }

    /// The first scan's check: refuses a wrong unit before anything else is typed.
    fn check_unit(&mut self, ctx: &mut Ctx) {
        let raw = self.form.get("Unit").to_string();
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
                ctx.warn(format!("{raw}\n{e}"));
                self.form.set("Unit", "");
                self.form.focus = 0;
                self.checked = None;
            }
        }
    }

    fn register_recipient(&mut self, ctx: &mut Ctx) {
        let Some(form) = &self.new_recipient else { return };
        let result = (|| {
            let new = NewRecipient {
                sex: form.get("Sex").parse().map_err(AppError::Invalid)?,
                birth_date: time::parse_date(form.get("Birth date")).map_err(|e| AppError::Invalid(e.to_string()))?,
                indication: form.get("Indication").to_string(),
                consent: form.get("Consent").parse().map_err(AppError::Invalid)?,
                cohort: None,
                identity: Identity::default(),
            };
            ctx.bank.register_recipient(new, ctx.now)
        })();
        match result {
            Ok(r) => {
                ctx.info(format!("recipient {} registered", r.id));
                self.form.set("Recipient", &r.id.display());
                self.form.focus = 2;
                self.new_recipient = None;
            }
            Err(e) => ctx.fail(e),
        }
    }

    fn submit(&mut self, ctx: &mut Ctx) -> Result<String, AppError> {
        let unit = ctx.bank.lookup_kind(self.form.get("Unit"), IdKind::Unit)?;
        let recipient = ctx.bank.lookup_kind(self.form.get("Recipient"), IdKind::Recipient)?;
        let at = match self.form.get("Time") {
            "" => ctx.now,
            s => time::parse_timestamp(s).map_err(|e| AppError::Invalid(e.to_string()))?,
        };
        let clinician = Some(self.form.get("Clinician")).filter(|c| !c.is_empty());
        let u = ctx.bank.dispense(&unit, &recipient, self.form.get("Route"), clinician, at)?;
        Ok(format!("{} dispensed to {} ({})", u.id, recipient, self.form.get("Route")))
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
    fn dirty(&self) -> bool {
        self.form.dirty()
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        let action = keys::action(keys::DISPENSE, &key);
        if std::mem::take(&mut self.resting) && action == Some(Action::Back) {
            return;
        }
        if let Some(p) = &mut self.picker {
            match p.key(key) {
                Picked::Chosen(id) => {
                    self.picker = None;
                    self.form.set("Recipient", &id.display());
                    self.form.focus = 2;
                }
                Picked::Closed => self.picker = None,
                Picked::Still => {}
            }
            return;
        }
        if action == Some(Action::Pick) {
            match ctx.bank.recipients(None, 1000) {
                Ok(rows) => {
                    let rows = rows
                        .into_iter()
                        .map(|r| {
                            (r.id.clone(), format!("{}  {}  {}  born {}", r.id, r.indication, r.sex, r.birth_date))
                        })
                        .collect();
                    self.picker = Some(Picker::new("Pick the recipient", rows));
                }
                Err(e) => ctx.fail(e),
            }
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
            let sexes = vec!["F".to_string(), "M".to_string()];
            let consents = vec!["signed".to_string(), "data-use".to_string()];
            self.new_recipient = Some(Form::new(
                "New recipient",
                vec![
                    Field::choice("Sex", &sexes, "F"),
                    Field::text("Birth date", ""),
                    Field::choice("Indication", &self.indications, "rCDI"),
                    Field::choice("Consent", &consents, "signed"),
                ],
            ));
            return;
        }
        let was = self.form.focus;
        match self.form.key(key) {
            FormEvent::Submit => match self.submit(ctx) {
                Ok(m) => {
                    ctx.info(m.clone());
                    self.done.push(m);
                    self.form = Self::blank(&self.routes);
                    self.checked = None;
                }
                Err(AppError::Refused(r)) => ctx.warn(r.to_string()),
                Err(e) => ctx.fail(e),
            },
            FormEvent::Cancel => {
                self.form = Self::blank(&self.routes);
                self.checked = None;
            }
            FormEvent::None => {}
        }
        if was == 0 && self.form.focus != 0 {
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
