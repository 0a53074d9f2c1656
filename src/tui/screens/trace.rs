//! Trace: any identifier, the chain both ways as a tree — donor, donations, batches, units, recipients — and
//! Enter on a line re-roots the trace there.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::followup::clinical_lines;
use super::{list, move_selection};
use super::{pane_title, panel};
use crate::app::{ClinicalView, Trace as TraceView};
use crate::core::ids::{Id, IdKind};
use crate::tui::form::{Field, Form, FormEvent};
use crate::tui::keys::{self, Action, Binding};
use crate::tui::screen::{Ctx, Reload, Screen};
use crate::tui::theme;

pub struct Trace {
    input: Form<()>,
    typing: bool,
    tree: Vec<(String, Option<Id>, bool)>,
    sel: usize,
    /// The record traced now, and those traced before it (Backspace/Esc walks back).
    root: Option<Id>,
    back: Vec<Id>,
    /// A recipient traced: their courses, visits and adverse events.
    clinical: Option<ClinicalView>,
    /// Another bench changed the chain shown since it was traced.
    changed: bool,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            input: Form::new("Trace", vec![Field::id((), "Identifier")]),
            typing: false,
            tree: Vec::new(),
            sel: 0,
            root: None,
            back: Vec::new(),
            clinical: None,
            changed: false,
        }
    }
}

impl Trace {
    /// Traces `id`, remembering the record traced before it.
    pub fn open(&mut self, ctx: &mut Ctx, id: Id) {
        let previous = self.root.clone();
        if self.show(ctx, id) {
            if let Some(p) = previous.filter(|p| Some(p) != self.root.as_ref()) {
                self.back.push(p);
            }
        }
    }

    fn show(&mut self, ctx: &mut Ctx, id: Id) -> bool {
        let shown = match ctx.bank.trace(&id, ctx.now) {
            Ok(t) => {
                self.tree = tree(&t);
                self.sel = self.tree.iter().position(|(_, i, _)| i.as_ref() == Some(&id)).unwrap_or(0);
                self.input.set((), &id.display());
                ctx.info(format!("trace of {} {id}: {} recipient(s)", id.kind(), t.recipients.len()));
                self.clinical = None;
                if id.kind() == IdKind::Recipient {
                    match ctx.bank.clinical_view(&id) {
                        Ok(v) => self.clinical = Some(v),
                        Err(e) => ctx.fail(e),
                    }
                }
                self.root = Some(id);
                self.changed = false;
                true
            }
            Err(e) => {
                ctx.fail(e);
                false
            }
        };
        self.typing = false;
        shown
    }
}

/// The chain as indented lines, each with the identifier it names.
fn tree(t: &TraceView) -> Vec<(String, Option<Id>, bool)> {
    let mut out = Vec::new();
    for d in &t.donors {
        out.push((format!("donor {}  {}", d.id, d.status), d.id.ok().cloned(), false));
        for dn in t.donations.iter().filter(|x| x.donor == d.id) {
            out.push((
                format!("  donation {}  {}", dn.id, dn.collected_at.shown(|t| crate::time::show(*t))),
                dn.id.ok().cloned(),
                false,
            ));
            for b in t.batches.iter().filter(|b| b.donation == dn.id) {
                out.push((
                    format!("    batch {}  {}  exp {}", b.id, b.status, b.expires_on),
                    b.id.ok().cloned(),
                    false,
                ));
                for u in t.units.iter().filter(|u| u.batch == b.id) {
                    out.push((format!("      unit {}  {}", u.id, u.status), u.id.ok().cloned(), false));
                    if let (Some(r), Some(at)) = (&u.recipient, &u.dispensed_at) {
                        let route = crate::tui::words::clean(u.route.as_deref().unwrap_or(""));
                        out.push((
                            format!("        → recipient {r}  {} {route}", at.shown(|t| crate::time::show(*t))),
                            r.ok().cloned(),
                            true,
                        ));
                    }
                }
            }
        }
    }
    out
}

impl Screen for Trace {
    fn keys(&self) -> &'static [Binding] {
        keys::TRACE
    }
    fn editing(&self) -> bool {
        self.typing
    }
    fn typing_text(&self) -> bool {
        false
    }
    // Shown again (the tab is not read when it is left): the chain traced last, as it stands now.
    fn refresh(&mut self, ctx: &mut Ctx) {
        self.reload(ctx, false);
    }
    // The identifier being typed stays as it is; the chain shown is traced again, the selection kept on its line.
    fn reload(&mut self, ctx: &mut Ctx, other: bool) -> Reload {
        let Some(root) = self.root.clone() else { return Reload::Nothing };
        let t = match ctx.bank.trace(&root, ctx.now) {
            Ok(t) => t,
            Err(e) => {
                ctx.fail(e);
                return Reload::Nothing;
            }
        };
        let tree = tree(&t);
        let clinical = match root.kind() {
            IdKind::Recipient => ctx.bank.clinical_view(&root).map_err(|e| ctx.fail(e)).ok(),
            _ => None,
        };
        let lines = |c: &Option<ClinicalView>| c.as_ref().map(clinical_lines);
        if tree == self.tree && lines(&clinical) == lines(&self.clinical) {
            return Reload::Read;
        }
        let kept = self.tree.get(self.sel).map(|(line, id, _)| (line.clone(), id.clone()));
        // The same line, else the line of the same record (its status changed), else where it was.
        self.sel = kept
            .and_then(|(line, id)| {
                tree.iter()
                    .position(|(l, _, _)| *l == line)
                    .or_else(|| id.and_then(|id| tree.iter().position(|(_, i, _)| i.as_ref() == Some(&id))))
            })
            .unwrap_or(self.sel)
            .min(tree.len().saturating_sub(1));
        self.tree = tree;
        self.clinical = clinical;
        self.changed |= other;
        Reload::Changed(format!("the chain of {} {root}", root.kind()))
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        if self.typing {
            match self.input.key(key) {
                FormEvent::Submit => match ctx.bank.lookup(self.input.get(())) {
                    Ok(id) => self.open(ctx, id),
                    Err(e) => ctx.fail(e),
                },
                FormEvent::Cancel => self.typing = false,
                FormEvent::None => {}
            }
            return;
        }
        if move_selection(&key, &mut self.sel, self.tree.len()) {
            return;
        }
        match keys::action(keys::TRACE, &key) {
            Some(Action::Type) => {
                self.input.set((), "");
                self.typing = true;
            }
            Some(Action::Open) => {
                if let Some(id) = self.tree.get(self.sel).and_then(|(_, id, _)| id.clone()) {
                    self.open(ctx, id);
                }
            }
            Some(Action::Back) => match self.back.pop() {
                Some(id) => {
                    self.show(ctx, id);
                }
                None => ctx.info("no earlier trace"),
            },
            _ => {}
        }
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let [top, bottom] = Layout::vertical([Constraint::Length(4), Constraint::Min(3)]).areas(area);
        self.input.render(f, top, self.typing);
        let lines: Vec<Line> =
            self.tree
                .iter()
                .map(|(t, _, recipient)| {
                    if *recipient {
                        Line::from(Span::styled(t.clone(), theme::warn()))
                    } else {
                        Line::from(t.clone())
                    }
                })
                .collect();
        let title = if self.tree.is_empty() {
            "Chain (scan or type an identifier)".to_string()
        } else {
            pane_title("Chain", self.changed, &format!("Enter re-roots · Bksp back ({} earlier)", self.back.len()))
        };
        let chain = match &self.clinical {
            Some(v) => {
                let [chain, clinical] = Layout::vertical([Constraint::Min(3), Constraint::Length(8)]).areas(bottom);
                panel(f, clinical, "Recipient's course, visits and adverse events", clinical_lines(v));
                chain
            }
            None => bottom,
        };
        list(f, chain, &title, lines, (!self.tree.is_empty()).then_some(self.sel));
    }
}
