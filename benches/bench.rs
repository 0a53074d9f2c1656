//! Bench-side speed and memory on years of data: resolving a scan (check character, lookup, trace), a recall,
//! and resident memory against database size. Run: `cargo bench --bench bench` (figures in BENCHMARKS.md).
//!
//! A plain harness (no criterion) keeps the build light; each figure is the median and the 99th percentile
//! over many runs, after a warm-up, on a bank built once through the same operations the bench uses and kept
//! in `target/bench-banks/` for the next run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stoolbank::app::{Bank, RecallSelector};
use stoolbank::core::config::BenchPrefs;
use stoolbank::core::ids::Id;
use stoolbank::demo::{create_scaled, Scale};
use stoolbank::time;

fn bank_file(name: &str, scale: Scale) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-banks");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let path = dir.join(format!("{name}.db"));
    if !path.exists() {
        let started = Instant::now();
        let partial = dir.join(format!("{name}.partial.db"));
        let _ = std::fs::remove_file(&partial);
        let progress = indicatif::ProgressBar::new(0);
        let s = create_scaled(
            &partial,
            &dir.join("bench.key"),
            BenchPrefs::default(),
            "bench",
            scale,
            time::now(),
            &progress,
        )
        .expect("build bench bank");
        std::fs::rename(&partial, &path).expect("rename");
        let _ = std::fs::remove_file(dir.join(format!("{name}.partial.db-wal")));
        let _ = std::fs::remove_file(dir.join(format!("{name}.partial.db-shm")));
        println!("built {name}: {} in {:.1} s", s, started.elapsed().as_secs_f64());
    }
    path
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Stats {
    median: Duration,
    p99: Duration,
    max: Duration,
}

fn measure(runs: usize, mut f: impl FnMut(usize)) -> Stats {
    for i in 0..runs.min(20) {
        f(i);
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    times.sort();
    Stats {
        median: times[times.len() / 2],
        p99: times[(times.len() * 99 / 100).min(times.len() - 1)],
        max: times[times.len() - 1],
    }
}

fn show(what: &str, s: &Stats) {
    println!(
        "{what:<58} median {:>9.3} ms   p99 {:>9.3} ms   max {:>9.3} ms",
        s.median.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3,
        s.max.as_secs_f64() * 1e3
    );
}

fn sample_ids(bank: &mut Bank) -> (Vec<Id>, Vec<Id>) {
    let units: Vec<Id> = {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = bank.units_in_stock(after.as_ref(), 500, time::now()).expect("units");
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            out.extend(page.into_iter().map(|u| u.id.into_value().expect("a well-formed unit")));
        }
        out
    };
    let donors = bank
        .donors(None, 100_000, time::now())
        .expect("donors")
        .into_iter()
        .map(|d| d.id.into_value().expect("a well-formed donor"))
        .collect();
    (units, donors)
}

fn run(name: &str, scale: Scale) {
    let path = bank_file(name, scale);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let rss_before = rss_kib();
    let mut bank = Bank::open(&path, BenchPrefs::default(), "bench").expect("open");
    let c = bank.counts(time::now()).expect("counts");
    println!(
        "\n== {name}: {} donors, {} donations, {} batches, {} units dispensed, {} recipients; {:.1} MiB on disk",
        c.donors,
        c.donations,
        c.batches,
        c.units_dispensed,
        c.recipients,
        size as f64 / 1_048_576.0
    );
    let (units, donors) = sample_ids(&mut bank);
    let now = time::now();
    let scans: Vec<String> = units.iter().map(Id::display).collect();
    show(
        "scan → check character → lookup → trace (unit in stock)",
        &measure(2000, |i| {
            let id = bank.lookup(&scans[i % scans.len()]).expect("lookup");
            bank.trace(&id, now).expect("trace");
        }),
    );
    show(
        "trace a donor (every donation, batch, unit, recipient)",
        &measure(300, |i| {
            bank.trace(&donors[i % donors.len()], now).expect("trace");
        }),
    );
    show(
        "recall dry run by donor, from the first donation",
        &measure(300, |i| {
            let sel =
                RecallSelector::Donor { donor: donors[i % donors.len()].clone(), from: Some(chrono::NaiveDate::MIN) };
            bank.recall(&sel, "bench", false, false, now).expect("recall");
        }),
    );
    let day = time::local_day(now);
    show(
        "recall dry run by a 30-day collection window (all donors)",
        &measure(50, |i| {
            let to = day - chrono::Duration::days(30 * (i as i64 % 12) + 60);
            let sel = RecallSelector::CollectionWindow { from: to - chrono::Duration::days(30), to };
            bank.recall(&sel, "bench", false, false, now).expect("recall");
        }),
    );
    // The views a person waits for: each page and count from indexed queries, flat as the bank grows.
    show(
        "donor list: first page of 50, with eligibility",
        &measure(100, |_| {
            bank.donors(None, 50, now).expect("donors");
        }),
    );
    show(
        "audit log of a donor (newest 50 entries)",
        &measure(300, |i| {
            bank.audit_log(Some(&donors[i % donors.len()]), 50).expect("audit log");
        }),
    );
    show(
        "home screen counts",
        &measure(100, |_| {
            bank.counts(now).expect("counts");
        }),
    );
    println!("resident memory: {} KiB before opening, {} KiB after the runs", rss_before, rss_kib());

    // The bench's own loop: a scan arrives, the TUI resolves it (check character, lookup, trace) and redraws.
    let mut app = stoolbank::tui::App::new(bank, name.into());
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).expect("terminal");
    show(
        "TUI: scan → trace → redraw (120×40)",
        &measure(1000, |i| {
            app.update(stoolbank::tui::Msg::Scan(scans[i % scans.len()].clone()));
            terminal.draw(|f| app.render(f)).expect("draw");
        }),
    );
}

/// What a person waits for in the TUI on a bank: the first frame (open the bank, build every screen, draw the
/// home screen with its counts), a switch to each tab by its function key (the tab asks for its first page,
/// then redraws), and, for the tabs that read the whole bank off the event loop, how long their answer takes.
fn tui_frames(path: &Path) {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use stoolbank::tui::{screen::Tab, App, Msg};
    let key = |tab: Tab| Msg::Key(KeyEvent::new(KeyCode::F(tab.function_key()), KeyModifiers::NONE));
    let settle = Duration::from_mins(10);
    let label = path.display().to_string();
    let first = |counted: bool| {
        measure(30, |_| {
            let bank = Bank::open(path, BenchPrefs::default(), "bench").expect("open");
            let mut app = App::new(bank, label.clone());
            if counted {
                app.settle(settle);
            }
            let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).expect("terminal");
            terminal.draw(|f| app.render(f)).expect("draw");
        })
    };
    show("TUI: first frame (open, draw home; 120×40)", &first(false));
    show("TUI: home with its counts (open, count off the loop, draw)", &first(true));
    let bank = Bank::open(path, BenchPrefs::default(), "bench").expect("open");
    let mut app = App::new(bank, label);
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).expect("terminal");
    for tab in Tab::ALL {
        // From another tab each time (not timed), so that every timed key is a switch.
        let away = if tab == Tab::Home { Tab::Trace } else { Tab::Home };
        // A tab that reads the whole bank off the event loop waits for its answer after each timed switch.
        let runs = if matches!(tab, Tab::Followup | Tab::Reports) { 5 } else { 40 };
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                app.update(key(away));
                app.settle(settle);
                let t = Instant::now();
                app.update(key(tab));
                terminal.draw(|f| app.render(f)).expect("draw");
                let took = t.elapsed();
                app.settle(settle);
                took
            })
            .collect();
        times.sort();
        let s =
            Stats { median: times[times.len() / 2], p99: times[times.len() * 99 / 100], max: times[times.len() - 1] };
        show(&format!("TUI: switch to the {} tab and redraw", tab.title()), &s);
    }
    for tab in [Tab::Followup, Tab::Reports] {
        show(
            &format!("TUI: the {} tab's answer, off the event loop", tab.title()),
            &measure(3, |_| {
                app.update(key(Tab::Home));
                app.update(key(tab));
                app.settle(settle);
                terminal.draw(|f| app.render(f)).expect("draw");
            }),
        );
    }
    println!("resident memory after the TUI runs: {} KiB", rss_kib());
}

fn main() {
    // `cargo bench` passes --bench; a filter argument, if any, picks one bank. STOOLBANK_BENCH_BANK names a bank
    // already built (`stoolbank demo --scale large`) to time the TUI's frames on.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let banks = [("demo-2y", Scale::DEMO), ("bank-6y", Scale { seed: 7, donors: 240, days: 6 * 365, ..Scale::DEMO })];
    for (name, scale) in banks {
        if filter.as_deref().is_none_or(|f| name.contains(f)) {
            run(name, scale);
            tui_frames(&bank_file(name, scale));
        }
    }
    if let Some(path) = std::env::var_os("STOOLBANK_BENCH_BANK") {
        let path = PathBuf::from(path);
        println!("\n== {}", path.display());
        tui_frames(&path);
    }
}
