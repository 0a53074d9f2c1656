//! Reports as charts: remission by indication at each time point (bars with their 95% Wilson intervals written
//! beside them), adverse events by grade and by relatedness, and follow-up completeness (assessed, lost, not yet
//! due) per time point. One report shows at a time; `n`/`p` switch, the list keys scroll the remission bars.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph};
use ratatui::Frame;

use super::move_selection;
use crate::app::{OutcomeReport, SafetyReport};
use crate::core::followup::Timepoint;
use crate::time;
use crate::tui::keys::{self, Action, Binding};
use crate::tui::loading::{Failure, Load};
use crate::tui::screen::{Ctx, Screen};
use crate::tui::{theme, words};

const TITLES: [&str; 3] = ["Remission by indication", "Adverse events", "Follow-up completeness"];

#[derive(Default)]
pub struct Reports {
    /// Which of [`TITLES`] shows.
    shown: usize,
    outcomes: Option<OutcomeReport>,
    safety: Option<SafetyReport>,
    /// The first remission bar shown.
    top: usize,
    /// A reload is under way (the last answer, if any, shows meanwhile).
    loading: bool,
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{:.0}", v * 100.0))
}

fn boxed(title: String) -> Block<'static> {
    Block::default().borders(Borders::ALL).title(title)
}

/// A bar of a count, the count written in its label (so that it never covers the bar).
fn count_bar(label: &str, n: u64, width: usize) -> Bar<'static> {
    Bar::default().label(Line::from(format!("{label:<width$} {n:>4}"))).value(n).text_value(String::new())
}

/// Horizontal bars of counts.
fn counts(title: &str, rows: &[(String, u64)]) -> BarChart<'static> {
    let width = rows.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let bars: Vec<Bar> = rows.iter().map(|(l, n)| count_bar(l, *n, width)).collect();
    BarChart::horizontal(bars).bar_gap(0).bar_style(theme::ok()).block(boxed(title.to_string()))
}

impl Reports {
    /// The app dropped the answer (it came behind the idle lock): the next refresh asks again.
    pub fn load_dropped(&mut self) {
        self.loading = false;
    }

    pub fn loaded(&mut self, ctx: &mut Ctx, answer: Result<(OutcomeReport, SafetyReport), Failure>) {
        self.loading = false;
        match answer {
            Ok((outcomes, safety)) => {
                self.top = self.top.min(outcomes.rows.len().saturating_sub(1));
                self.outcomes = Some(outcomes);
                self.safety = Some(safety);
            }
            Err(f) => ctx.failed(f),
        }
    }

    fn remission(&self, f: &mut Frame, area: Rect) {
        let Some(report) = &self.outcomes else { return };
        let rows: Vec<Bar> = report
            .rows
            .iter()
            .skip(self.top)
            .map(|r| {
                let text = if r.n == 0 {
                    format!("none assessed yet · {} lost", r.lost)
                } else {
                    format!(
                        "{}% [{}–{}] {}/{} · {} lost",
                        pct(r.rate),
                        pct(r.ci_low),
                        pct(r.ci_high),
                        r.remission,
                        r.n,
                        r.lost
                    )
                };
                let value = r.rate.map_or(0, |v| (v * 100.0).round() as u64);
                Bar::default()
                    .label(Line::from(format!("{} {}", words::clean(&r.group), r.timepoint)))
                    .value(value)
                    .text_value(text)
            })
            .collect();
        let total = report.rows.len();
        let title = format!(
            "Remission (%, 95% CI) by indication and time point · {}–{} of {total}{}",
            (self.top + 1).min(total),
            (self.top + area.height.saturating_sub(2) as usize).min(total),
            if report.not_eligible > 0 { format!(" · {} not eligible", report.not_eligible) } else { String::new() }
        );
        f.render_widget(
            BarChart::horizontal(rows).max(100).bar_gap(0).bar_style(theme::ok()).block(boxed(title)),
            area,
        );
    }

    fn adverse(&self, f: &mut Frame, area: Rect) {
        let Some(s) = &self.safety else { return };
        let [head, charts] = Layout::vertical([Constraint::Length(4), Constraint::Min(3)]).areas(area);
        let summary = vec![
            Line::from(format!(
                "{} patients in {} sessions; {} with an adverse event ({}% [{}–{}])",
                s.patients,
                s.sessions,
                s.patients_with_ae,
                pct(s.incidence_per_patient.rate),
                pct(s.incidence_per_patient.ci_low),
                pct(s.incidence_per_patient.ci_high)
            )),
            Line::from(format!("{} events, {} serious, {} related", s.events, s.serious, s.related)),
        ];
        f.render_widget(Paragraph::new(summary).block(boxed("Adverse events".into())), head);
        let [left, right] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(charts);
        let grades: Vec<(String, u64)> =
            (1..=5).map(|g| (format!("grade {g}"), s.by_grade.get(&g.to_string()).copied().unwrap_or(0))).collect();
        f.render_widget(counts("By grade", &grades), left);
        let related: Vec<(String, u64)> = crate::core::followup::Relatedness::ALL
            .iter()
            .map(|r| (r.to_string(), s.by_relatedness.get(r.as_str()).copied().unwrap_or(0)))
            .collect();
        f.render_widget(counts("By relatedness", &related), right);
    }

    fn completeness(&self, f: &mut Frame, area: Rect) {
        let Some(report) = &self.outcomes else { return };
        let groups: Vec<BarGroup> = Timepoint::ALL
            .iter()
            .map(|tp| {
                let rows = report.rows.iter().filter(|r| r.timepoint == *tp);
                let (mut assessed, mut lost, mut pending) = (0, 0, 0);
                for r in rows {
                    assessed += r.n;
                    lost += r.lost;
                    pending += r.not_yet_due;
                }
                let bar = |l: &str, n: u64| count_bar(l, n, "not yet due".len());
                BarGroup::default().label(Line::from(format!("── {tp} ──"))).bars(&[
                    bar("assessed", assessed),
                    bar("lost", lost),
                    bar("not yet due", pending),
                ])
            })
            .collect();
        let mut chart = BarChart::default()
            .direction(ratatui::layout::Direction::Horizontal)
            .bar_gap(0)
            .group_gap(1)
            .bar_style(theme::ok())
            .block(boxed("Follow-up completeness: recipients per time point".into()));
        for g in groups {
            chart = chart.data(g);
        }
        f.render_widget(chart, area);
    }
}

impl Screen for Reports {
    fn keys(&self) -> &'static [Binding] {
        keys::REPORTS
    }
    fn forms(&self) -> bool {
        false
    }
    fn editing(&self) -> bool {
        false
    }
    // The reports read every treatment and visit: off the event loop (see `tui::loading`).
    fn refresh(&mut self, ctx: &mut Ctx) {
        if !self.loading {
            self.loading = true;
            ctx.load(Load::Reports { today: time::local_day(ctx.now) });
        }
    }
    fn on_key(&mut self, ctx: &mut Ctx, key: KeyEvent) {
        let len = self.outcomes.as_ref().map_or(0, |r| r.rows.len());
        if move_selection(&key, &mut self.top, len) {
            return;
        }
        match keys::action(keys::REPORTS, &key) {
            Some(Action::NextReport) => self.shown = (self.shown + 1) % TITLES.len(),
            Some(Action::PrevReport) => self.shown = (self.shown + TITLES.len() - 1) % TITLES.len(),
            Some(Action::Refresh) => self.refresh(ctx),
            _ => {}
        }
    }
    fn render(&self, f: &mut Frame, area: Rect) {
        let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
        let names: Vec<String> = TITLES
            .iter()
            .enumerate()
            .map(|(i, t)| if i == self.shown { format!("[{t}]") } else { t.to_string() })
            .collect();
        let loading = if self.loading { " · loading…" } else { "" };
        f.render_widget(
            Paragraph::new(format!("{} · n/p: switch{loading}", names.join(" "))).style(theme::dim()),
            head,
        );
        if self.outcomes.is_none() {
            let what =
                if self.loading { "Reading every treatment and visit…" } else { "No report loaded: r reloads." };
            return f.render_widget(Paragraph::new(what).block(boxed(TITLES[self.shown].into())), body);
        }
        match self.shown {
            0 => self.remission(f, body),
            1 => self.adverse(f, body),
            _ => self.completeness(f, body),
        }
    }
}
