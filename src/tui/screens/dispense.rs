//! Dispense: scan the unit (checked at once: a wrong unit — not released, expired, recalled, already
//! dispensed — stops everything with a full-screen warning), then the recipient, confirm route and time.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::Frame;

use super::panel;
use crate::app::AppError;
use crate::core::config::Config;
use crate::core::ids::IdKind;
use crate::time;
use crate::tui::app::{Ctx, Screen};
use crate::tui::form::{Field, Form, FormEvent};

pub struct Dispense {
    routes: Vec<String>,
    form: Form,
    checked: Option<String>,
    done: Vec<String>,
}

impl Dispense {
    pub fn new(config: &Config) -> Dispense {
        let routes = config.routes.clone();
        Dispense { form: Self::blank(&routes), routes, checked: None, done: Vec::new() }
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
    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("scan", "the unit first (checked at once), then the recipient"),
            ("Tab/↑↓", "move between fields"),
            ("←/→ Space", "choose the route"),
            ("Enter on the last field", "confirm the dispense"),
            ("Esc", "start over"),
        ]
    }
    fn editing(&self) -> bool {
        true
    }
    fn dirty(&self) -> bool {
        self.form.dirty()
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
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
        let took = self.form.fill_scan(data);
        self.check_unit(ctx);
        took
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let [top, bottom] = Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
        self.form.render(f, top, true);
        let mut lines = vec![Line::from("Time: empty for now. Every rule is checked again when you confirm.")];
        lines.extend(self.done.iter().rev().take(10).map(|d| Line::from(format!("✓ {d}"))));
        panel(f, bottom, "Dispensed this session", lines);
    }
}
