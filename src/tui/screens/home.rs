//! Home: the bank at a glance.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::Frame;

use super::{pane, Scroll};
use crate::app::records::Counts;
use crate::tui::keys::{self, Action, Binding};
use crate::tui::loading::{Failure, Load};
use crate::tui::screen::{Ctx, Reload, Screen};

#[derive(Default)]
pub struct Home {
    /// The last counts read (none before the first answer).
    counts: Option<Counts>,
    /// A count is under way (see `tui::loading`).
    loading: bool,
    facility: String,
    scroll: Scroll,
}

impl Home {
    /// The app dropped the answer (it came behind the idle lock): the next refresh asks again.
    pub fn load_dropped(&mut self) {
        self.loading = false;
    }

    pub fn loaded(&mut self, ctx: &mut Ctx, answer: Result<Counts, Failure>) {
        self.loading = false;
        match answer {
            Ok(c) => self.counts = Some(c),
            Err(f) => ctx.failed(f),
        }
    }
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
        if !self.loading {
            self.loading = true;
            ctx.load(Load::Counts { at: ctx.now });
        }
        self.facility = ctx.bank.facility().map(|f| f.as_str().to_string()).unwrap_or_default();
    }
    // Counted again off the event loop; the last counts show meanwhile, without "loading…". A count under way
    // may have read before the change: the app asks again once it answered.
    fn reload(&mut self, ctx: &mut Ctx, _other: bool) -> Reload {
        if self.loading {
            return Reload::Busy;
        }
        self.loading = true;
        ctx.load_quietly(Load::Counts { at: ctx.now });
        Reload::Read
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
        let mut lines = vec![Line::from(format!("Facility {}", self.facility)), Line::from("")];
        match &self.counts {
            Some(c) => lines.extend([
                Line::from(format!("{:>8}  donors", c.donors)),
                Line::from(format!("{:>8}  donations", c.donations)),
                Line::from(format!("{:>8}  batches, {} in quarantine", c.batches, c.batches_in_quarantine)),
                Line::from(format!("{:>8}  units in stock", c.units_in_stock)),
                Line::from(format!("{:>8}  units dispensed to {} recipients", c.units_dispensed, c.recipients)),
                Line::from(format!("{:>8}  recalls", c.recalls)),
            ]),
            None => lines.push(Line::from("counting the records…")),
        }
        lines.extend([
            Line::from(""),
            Line::from("Scan any label (or type an identifier and Enter) to open its trace."),
            Line::from("F2 Donors · F3 Donations · F4 Batches · F6 Dispense · F8 Recall · F1 or ? keys"),
        ]);
        pane(f, area, "stoolbank", lines, &self.scroll);
    }
}
