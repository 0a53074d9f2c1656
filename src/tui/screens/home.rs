//! Home: the bank at a glance.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::Frame;

use super::{pane, Scroll};
use crate::app::records::Counts;
use crate::tui::keys::{self, Action, Binding};
use crate::tui::screen::{Ctx, Screen};

#[derive(Default)]
pub struct Home {
    counts: Counts,
    facility: String,
    scroll: Scroll,
}

impl Screen for Home {
    fn keys(&self) -> &'static [Binding] {
        keys::HOME
    }
    fn forms(&self) -> bool {
        false
    }
    fn editing(&self) -> bool {
        false
    }
    fn refresh(&mut self, ctx: &mut Ctx) {
        match ctx.bank.counts(ctx.now) {
            Ok(c) => self.counts = c,
            Err(e) => ctx.fail(e),
        }
        self.facility = ctx.bank.facility().map(|f| f.as_str().to_string()).unwrap_or_default();
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        if self.scroll.key(&key) {
            return;
        }
        if keys::action(keys::HOME, &key) == Some(Action::Refresh) {
            self.refresh(ctx);
        }
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let c = &self.counts;
        let lines = vec![
            Line::from(format!("Facility {}", self.facility)),
            Line::from(""),
            Line::from(format!("{:>8}  donors", c.donors)),
            Line::from(format!("{:>8}  donations", c.donations)),
            Line::from(format!("{:>8}  batches, {} in quarantine", c.batches, c.batches_in_quarantine)),
            Line::from(format!("{:>8}  units in stock", c.units_in_stock)),
            Line::from(format!("{:>8}  units dispensed to {} recipients", c.units_dispensed, c.recipients)),
            Line::from(format!("{:>8}  recalls", c.recalls)),
            Line::from(""),
            Line::from("Scan any label (or type an identifier and Enter) to open its trace."),
            Line::from("F2 Donors · F3 Donations · F4 Batches · F6 Dispense · F8 Recall · F1 or ? keys"),
        ];
        pane(f, area, "stoolbank", lines, &self.scroll);
    }
}
