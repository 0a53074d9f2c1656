//! The reliability harnesses: each drives the real binary against real bank files and returns its figures, or
//! the first property it saw broken. `reliability/main.rs` runs the long variants; `tests/reliability_harness.rs`
//! runs a few trials of each in the test suite.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, Local, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OpenFlags};
use stoolbank::core::ids::Id;

/// The exit codes the README documents: 0, 1 anything else, 2 bad input, 3 refused by a rule, 4 not found,
/// 5 verification found problems, 7 a printer or label failure, 8 an answer holding unreadable stored values.
pub const EXIT_CODES: [i32; 8] = [0, 1, 2, 3, 4, 5, 7, 8];

/// What a harness measured: named counts, printed one a line.
pub struct Figures {
    pub name: &'static str,
    pub counts: BTreeMap<String, u64>,
}

impl Figures {
    fn new(name: &'static str) -> Figures {
        Figures { name, counts: BTreeMap::new() }
    }
    fn add(&mut self, what: impl Into<String>, n: u64) {
        *self.counts.entry(what.into()).or_default() += n;
    }
    pub fn get(&self, what: &str) -> u64 {
        self.counts.get(what).copied().unwrap_or(0)
    }
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        writeln!(f, "{}", self.name)?;
        for (what, n) in &self.counts {
            writeln!(f, "  {what}: {n}")?;
        }
        Ok(())
    }
}

pub type Result<T> = std::result::Result<T, String>;

/// A bank (a file, or a PostgreSQL server's database) and the binary that works on it.
#[derive(Clone)]
pub struct Bank {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub db: PathBuf,
}

fn day(days_ago: i64) -> NaiveDate {
    Local::now().date_naive() - Days::days(days_ago)
}

impl Bank {
    /// A fresh bank in `dir` with a screened donor; returns the bank and the donor.
    pub fn create(bin: &Path, dir: &Path) -> Result<(Bank, String)> {
        Bank::create_at(bin, dir, dir.join("bank.db"))
    }

    /// The same at `db`: a file, or an empty database on a server (`postgresql://…`); `dir` holds its key.
    pub fn create_at(bin: &Path, dir: &Path, db: PathBuf) -> Result<(Bank, String)> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let bank = Bank { bin: bin.into(), dir: dir.into(), db };
        bank.ok(&["init", "--facility", "G1517"])?;
        let donor = bank.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"])?;
        for kind in ["questionnaire", "blood", "stool"] {
            bank.ok(&["donor", "screen", &donor, "--kind", kind, "--date", &day(30).to_string(), "--all-negative"])?;
        }
        Ok((bank, donor))
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(&self.dir).arg("--db").arg(&self.db).arg("--as").arg("harness").args(args);
        cmd.env_remove("STOOLBANK_DB").env_remove("STOOLBANK_CONFIG");
        cmd.env("STOOLBANK_KEY", self.dir.join("bank.key")).env("STOOLBANK_ANCHOR", self.dir.join("anchors.log"));
        cmd.stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Result<Output> {
        self.command(args).output().map_err(|e| format!("cannot run {}: {e}", self.bin.display()))
    }

    pub fn ok(&self, args: &[&str]) -> Result<String> {
        let out = self.run(args)?;
        if !out.status.success() {
            return Err(format!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A donation of the donor `days_ago`, with its donation-day screening.
    pub fn donation(&self, donor: &str, days_ago: i64) -> Result<String> {
        let d = day(days_ago).to_string();
        self.ok(&["donor", "screen", donor, "--kind", "donation-day", "--date", &d, "--all-negative"])?;
        self.ok(&["donation", "add", donor, "--collected-at", &format!("{d} 08:00")])
    }

    /// `verify` passes: `SQLite`, schema, values, audit chain and every record.
    pub fn verified(&self) -> Result<()> {
        let out = self.run(&["verify"])?;
        match out.status.code() {
            Some(0) => Ok(()),
            _ => Err(format!(
                "verify failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }

    /// The first column of each row as text, read straight from the bank on either store.
    fn texts(&self, sql: &str) -> Result<Vec<String>> {
        match self.db.to_str().filter(|s| s.starts_with("postgres")) {
            Some(url) => {
                let mut c = postgres::Client::connect(url, postgres::NoTls).map_err(|e| e.to_string())?;
                Ok(c.query(sql, &[]).map_err(|e| e.to_string())?.iter().map(|r| r.get(0)).collect())
            }
            None => self.sql(sql),
        }
    }

    fn sql<T: rusqlite::types::FromSql>(&self, sql: &str) -> Result<Vec<T>> {
        let c = Connection::open_with_flags(&self.db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| e.to_string())?;
        let mut stmt = c.prepare(sql).map_err(|e| e.to_string())?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| e.to_string())?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| e.to_string())
    }

    /// No batch with some of its units: each holds all it was made with, or does not exist.
    fn no_partial_batches(&self, units: usize) -> Result<()> {
        let partial: Vec<String> = self.sql(&format!(
            "SELECT batch_id FROM units WHERE kind = 'dose' GROUP BY batch_id HAVING count(*) <> {units}"
        ))?;
        match partial.first() {
            Some(b) => Err(format!("batch {b} holds only part of its units")),
            None => Ok(()),
        }
    }
}

/// Waits for a child, killing it after `limit`; None when it had to be killed.
fn wait_at_most(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

const UNITS: usize = 60;

/// SIGKILL at a random moment while a batch of units is written: nothing partial, the audit intact.
pub fn crash(bin: &Path, dir: &Path, trials: u64, seed: u64) -> Result<Figures> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (bank, donor) = Bank::create(bin, dir)?;
    let mut fig = Figures::new("crash: SIGKILL during `batch make` (one transaction of 60 units and their entries)");
    // How long one write takes here, so that the kills land before, during and after its commit.
    let start = Instant::now();
    let first = bank.donation(&donor, 29)?;
    bank.ok(&["batch", "make", &first, "--product", "F0001", "--units", &UNITS.to_string()])?;
    let span = start.elapsed().as_micros().max(1000) as u64;
    for t in 0..trials {
        let donation = bank.donation(&donor, 28 - (t as i64 % 27))?;
        let mut child = bank
            .command(&["batch", "make", &donation, "--product", "F0001", "--units", &UNITS.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..span)));
        let _ = child.kill();
        match child.wait().map_err(|e| e.to_string())?.code() {
            None => fig.add("killed mid-run", 1),
            Some(0) => fig.add("finished before the kill", 1),
            Some(c) => return Err(format!("trial {t}: exit {c} without a kill reason")),
        }
        bank.verified().map_err(|e| format!("trial {t}: {e}"))?;
        bank.no_partial_batches(UNITS).map_err(|e| format!("trial {t}: {e}"))?;
        fig.add("trials", 1);
    }
    fig.add("partial records", 0);
    fig.add("batches committed", bank.sql::<i64>("SELECT count(*) FROM batches")?[0] as u64);
    Ok(fig)
}

/// A bank with a released batch of `units` doses; returns it, the donor, the batch and its units.
fn stocked(bin: &Path, dir: &Path, db: Option<PathBuf>, units: usize) -> Result<(Bank, String, String, Vec<String>)> {
    let (bank, donor) = Bank::create_at(bin, dir, db.unwrap_or_else(|| dir.join("bank.db")))?;
    let donation = bank.donation(&donor, 20)?;
    let units = units.to_string();
    let at = format!("{} 09:00", day(20));
    let made =
        bank.ok(&["--json", "batch", "make", &donation, "--product", "F0001", "--units", &units, "--at", &at])?;
    let made: serde_json::Value = serde_json::from_str(&made).map_err(|e| e.to_string())?;
    let batch = made["id"].as_str().ok_or("no batch id")?.to_string();
    let units: Vec<String> = made["units"]
        .as_array()
        .ok_or("no units")?
        .iter()
        .filter(|u| u["kind"] == "dose")
        .filter_map(|u| u["id"].as_str().map(String::from))
        .collect();
    for test in ["appearance", "viable-count", "pathogen-screen"] {
        bank.ok(&["qc", "add", &batch, "--test", &format!("{test}=pass")])?;
    }
    for kind in ["questionnaire", "blood", "stool"] {
        bank.ok(&["donor", "screen", &donor, "--kind", kind, "--date", &day(2).to_string(), "--all-negative"])?;
    }
    bank.ok(&["batch", "release", &batch])?;
    Ok((bank, donor, batch, units))
}

/// `writers` processes registering recipients and dispensing random units at once, readers tracing and
/// dry-running recalls meanwhile: no lost write, no unit dispensed twice, no identifier given twice.
/// `writers` bench processes each registering a recipient and dispensing a random unit of one released batch,
/// and every fourth round collecting a donation and making a batch of it (identifiers of every kind issued
/// at once), while two readers trace and dry-run recalls; on the bank at `db` (a file in `dir` when None).
pub fn concurrency(
    bin: &Path,
    dir: &Path,
    db: Option<PathBuf>,
    writers: u64,
    rounds: u64,
    seed: u64,
) -> Result<Figures> {
    let (bank, donor, batch, units) = stocked(bin, dir, db, 200)?;
    let units = Arc::new(units);
    let acked = Arc::new(Mutex::new((Vec::<String>::new(), Vec::<(String, String)>::new(), Vec::<String>::new())));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut fig =
        Figures::new("concurrency: writer processes (recipient add + dispense) and readers (trace, recall dry run)");
    let busy = Arc::new(Mutex::new(0u64));
    let refused = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut threads = Vec::new();
    for w in 0..writers {
        let (bank, units, acked, failures) = (bank.clone(), units.clone(), acked.clone(), failures.clone());
        let (busy, refused, donor) = (busy.clone(), refused.clone(), donor.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(seed + w);
            for round in 0..rounds {
                if round % 4 == w % 4 {
                    // A moment of its own for each writer's round (one donor's donations at one moment are one).
                    let d = day(3 + (round as i64 / 60) % 25).to_string();
                    let at = format!("{d} {:02}:{:02}", 8 + w % 12, round % 60);
                    let made = bank
                        .ok(&["donor", "screen", &donor, "--kind", "donation-day", "--date", &d, "--all-negative"])
                        .and_then(|_| bank.ok(&["donation", "add", &donor, "--collected-at", &at]))
                        .and_then(|donation| {
                            bank.ok(&["--json", "batch", "make", &donation, "--product", "F0001", "--units", "2"])
                        });
                    match made {
                        Ok(made) => acked.lock().unwrap().2.push(made),
                        Err(e) if e.contains("busy") => *busy.lock().unwrap() += 1,
                        Err(e) => return failures.lock().unwrap().push(e),
                    }
                }
                let add = ["recipient", "add", "--sex", "M", "--birth-date", "1970-01-01", "--indication", "rCDI"];
                let out = match bank.run(&add) {
                    Ok(o) => o,
                    Err(e) => return failures.lock().unwrap().push(e),
                };
                match out.status.code() {
                    Some(0) => {}
                    Some(1) => {
                        *busy.lock().unwrap() += 1;
                        continue;
                    }
                    c => return failures.lock().unwrap().push(format!("recipient add exit {c:?}")),
                }
                let r = String::from_utf8_lossy(&out.stdout).trim().to_string();
                acked.lock().unwrap().0.push(r.clone());
                let u = units[rng.gen_range(0..units.len())].clone();
                let out = match bank.run(&["dispense", &u, "--recipient", &r, "--route", "colonoscopy"]) {
                    Ok(o) => o,
                    Err(e) => return failures.lock().unwrap().push(e),
                };
                match out.status.code() {
                    Some(0) => acked.lock().unwrap().1.push((u, r)),
                    Some(3) => *refused.lock().unwrap() += 1,
                    Some(1) => *busy.lock().unwrap() += 1,
                    c => {
                        return failures
                            .lock()
                            .unwrap()
                            .push(format!("dispense exit {c:?}: {}", String::from_utf8_lossy(&out.stderr)))
                    }
                }
            }
        }));
    }
    let reads = Arc::new(Mutex::new(0u64));
    let mut readers = Vec::new();
    for r in 0..2 {
        let (bank, units, failures, stop, reads, batch) =
            (bank.clone(), units.clone(), failures.clone(), stop.clone(), reads.clone(), batch.clone());
        readers.push(std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(seed + 100 + r);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let u = units[rng.gen_range(0..units.len())].clone();
                let args: Vec<&str> = if rng.gen_bool(0.5) {
                    vec!["trace", &u]
                } else {
                    vec!["recall", "--batch", &batch, "--reason", "drill"]
                };
                match bank.run(&args) {
                    Ok(o) if o.status.success() => *reads.lock().unwrap() += 1,
                    Ok(o) => failures.lock().unwrap().push(format!("{args:?}: {}", String::from_utf8_lossy(&o.stderr))),
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }
        }));
    }
    for t in threads {
        t.join().map_err(|_| "a writer thread panicked")?;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in readers {
        t.join().map_err(|_| "a reader thread panicked")?;
    }
    if let Some(f) = failures.lock().unwrap().first() {
        return Err(f.clone());
    }
    let (recipients, dispenses, batches) = std::mem::take(&mut *acked.lock().unwrap());
    let stored_recipients: BTreeSet<String> = bank.texts("SELECT id FROM recipients")?.into_iter().collect();
    let stored: BTreeMap<String, String> = bank
        .texts("SELECT unit_id || ' ' || recipient_id FROM dispenses")?
        .into_iter()
        .filter_map(|row| row.split_once(' ').map(|(u, r)| (u.to_string(), r.to_string())))
        .collect();
    let stored_units: BTreeSet<String> = bank.texts("SELECT id FROM units")?.into_iter().collect();
    let unique: BTreeSet<&String> = recipients.iter().collect();
    // Each batch made as acknowledged: its identifier and its units', none issued twice.
    let (mut made, mut made_units) = (Vec::new(), Vec::new());
    for answer in &batches {
        let v: serde_json::Value =
            serde_json::from_str(answer).map_err(|e| format!("batch make answered {answer}: {e}"))?;
        made.push(v["id"].as_str().unwrap_or_default().to_string());
        made_units
            .extend(v["units"].as_array().into_iter().flatten().filter_map(|u| u["id"].as_str().map(String::from)));
    }
    made.extend(made_units.iter().cloned());
    let unique_made: BTreeSet<&String> = made.iter().collect();
    // The CLI prints identifiers with their check character; the database keeps the data.
    let data = |id: &str| Id::parse(id).map(|i| i.data().to_string()).unwrap_or_default();
    let lost_recipients = recipients.iter().filter(|r| !stored_recipients.contains(&data(r))).count();
    let mut per_unit: BTreeMap<&String, u64> = BTreeMap::new();
    for (u, _) in &dispenses {
        *per_unit.entry(u).or_default() += 1;
    }
    let lost_dispenses = dispenses.iter().filter(|(u, r)| stored.get(&data(u)) != Some(&data(r))).count();
    // A batch's units are stored as made (the batch's own identifier is checked by `verify`'s walk).
    let lost_units = made_units.iter().filter(|id| !stored_units.contains(&data(id))).count();
    fig.add("recipients acknowledged", recipients.len() as u64);
    fig.add("dispenses acknowledged", dispenses.len() as u64);
    fig.add("dispenses refused (unit already dispensed)", *refused.lock().unwrap());
    fig.add("busy (clear message, nothing written)", *busy.lock().unwrap());
    fig.add("reads answered", *reads.lock().unwrap());
    fig.add("batches made (donation and batch make)", batches.len() as u64);
    fig.add("lost writes", (lost_recipients + lost_dispenses + lost_units) as u64);
    fig.add("double dispenses", per_unit.values().filter(|n| **n > 1).count() as u64);
    fig.add("duplicate identifiers", (recipients.len() - unique.len() + made.len() - unique_made.len()) as u64);
    bank.verified()?;
    if fig.get("lost writes") + fig.get("double dispenses") + fig.get("duplicate identifiers") > 0 {
        return Err(format!("{fig}"));
    }
    Ok(fig)
}

/// Writes under a file-size limit (`ulimit -f`: writes past it fail with EFBIG, as on a full disk): a clear message,
/// nothing partial, and the bank verifies once space is back.
pub fn disk_full(bin: &Path, dir: &Path, trials: u64, seed: u64) -> Result<Figures> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (bank, donor) = Bank::create(bin, dir)?;
    let mut fig = Figures::new("disk full: `batch make` under a random file-size limit of 0-256 KiB");
    for t in 0..trials {
        let donation = bank.donation(&donor, 28 - (t as i64 % 27))?;
        // Commits go to the -wal (from its start) and reach the main file at checkpoints: a limit anywhere up to
        // 256 KiB makes either fail, before or after the commit.
        let blocks = rng.gen_range(0..256 * 1024u64) / 512;
        let line = format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" --db \"$1\" --as harness batch make \"$2\" --product F0001 --units {UNITS}"
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(line).arg(&bank.bin).arg(&bank.db).arg(&donation).current_dir(&bank.dir);
        cmd.env("STOOLBANK_KEY", bank.dir.join("bank.key")).env_remove("STOOLBANK_DB");
        let out = cmd.output().map_err(|e| e.to_string())?;
        let err = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => fig.add("written within the limit", 1),
            Some(1) if err.lines().count() == 1 && err.starts_with("stoolbank: ") => {
                fig.add("refused with a one-line message", 1);
            }
            c => return Err(format!("trial {t}: exit {c:?}: {err}")),
        }
        bank.verified().map_err(|e| format!("trial {t}: {e}"))?;
        bank.no_partial_batches(UNITS).map_err(|e| format!("trial {t}: {e}"))?;
        fig.add("trials", 1);
    }
    fig.add("partial records", 0);
    Ok(fig)
}

/// Every row of every table, for telling a harmless flip from a silent change.
fn dump(db: &Path) -> Option<Vec<String>> {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    let tables: Vec<String> = {
        let mut s = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .ok()?;
        let rows = s.query_map([], |r| r.get(0)).ok()?;
        rows.collect::<rusqlite::Result<_>>().ok()?
    };
    let mut all = Vec::new();
    for t in tables {
        let mut s = c.prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid")).ok()?;
        let n = s.column_count();
        let rows = s
            .query_map([], |r| Ok((0..n).map(|i| format!("{:?}", r.get_ref(i))).collect::<Vec<_>>().join("|")))
            .ok()?;
        for row in rows {
            all.push(format!("{t}: {}", row.ok()?));
        }
    }
    Some(all)
}

/// One byte flipped at random in a bank file: `verify` names the damage, or every record reads as before
/// (the byte was in unused space); it never passes a changed record.
pub fn flipped_bytes(bin: &Path, dir: &Path, trials: u64, seed: u64) -> Result<Figures> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (bank, donor) = Bank::create(bin, &dir.join("source"))?;
    let donation = bank.donation(&donor, 20)?;
    bank.ok(&["batch", "make", &donation, "--product", "F0001", "--units", "20"])?;
    bank.ok(&[
        "recipient",
        "add",
        "--sex",
        "M",
        "--birth-date",
        "1970-01-01",
        "--indication",
        "rCDI",
        "--name",
        "Ann",
    ])?;
    let pristine = dir.join("pristine.db");
    bank.ok(&["backup", pristine.to_str().ok_or("path")?])?;
    let expected = dump(&pristine).ok_or("cannot read the pristine copy")?;
    let bytes = std::fs::read(&pristine).map_err(|e| e.to_string())?;
    let mut fig = Figures::new("flipped bytes: one random byte of a bank file changed, then `verify`");
    let trial = dir.join("trial");
    std::fs::create_dir_all(&trial).map_err(|e| e.to_string())?;
    let copy = Bank { bin: bin.into(), dir: trial.clone(), db: trial.join("bank.db") };
    for t in 0..trials {
        for f in std::fs::read_dir(&trial).map_err(|e| e.to_string())? {
            let _ = std::fs::remove_file(f.map_err(|e| e.to_string())?.path());
        }
        let mut damaged = bytes.clone();
        let at = rng.gen_range(0..damaged.len());
        damaged[at] ^= rng.gen_range(1..=255u8);
        std::fs::write(&copy.db, &damaged).map_err(|e| e.to_string())?;
        let out = copy.run(&["verify"])?;
        match out.status.code() {
            Some(5) => fig.add("damage named by verify (exit 5)", 1),
            Some(1) => fig.add("file refused with a message (exit 1)", 1),
            Some(0) if dump(&copy.db).as_ref() == Some(&expected) => {
                fig.add("harmless (unused space): verify passes, records unchanged", 1);
            }
            Some(0) => return Err(format!("trial {t}: byte {at} changed a record and verify passed")),
            c => return Err(format!("trial {t}: byte {at}: exit {c:?}: {}", String::from_utf8_lossy(&out.stderr))),
        }
        fig.add("trials", 1);
    }
    fig.add("silent changes", 0);
    Ok(fig)
}

/// Random command lines (commands, flags, identifiers, dates, numbers, control characters): no panic, no
/// hang, every exit code in the documented set.
pub fn argv_fuzz(bin: &Path, dir: &Path, trials: u64, seed: u64) -> Result<Figures> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (bank, _, batch, units) = stocked(bin, dir, None, 10)?;
    let ids: Vec<String> = std::iter::once(batch.clone()).chain(units.iter().take(3).cloned()).collect();
    let words: Vec<String> = [
        "donor",
        "add",
        "screen",
        "defer",
        "show",
        "list",
        "donation",
        "batch",
        "make",
        "release",
        "discard",
        "qc",
        "recipient",
        "dispense",
        "locate",
        "label",
        "verify-label",
        "trace",
        "recall",
        "audit",
        "log",
        "verify",
        "checkpoint",
        "config",
        "init",
        "backup",
        "restore",
        "--json",
        "--at",
        "--sex",
        "--birth-date",
        "--name",
        "--kind",
        "--date",
        "--all-negative",
        "--test",
        "--reason",
        "--until",
        "--permanent",
        "--collected-at",
        "--units",
        "--product",
        "--recipient",
        "--route",
        "--donor",
        "--batch",
        "--apply",
        "--from",
        "--format",
        "--limit",
        "--anchor",
        "--copies",
        "--collected-from",
        "--collected-to",
        "F",
        "M",
        "F0001",
        "colonoscopy",
        "rCDI",
        "hiv=negative",
        "appearance=pass",
        "svg",
        "png",
        "zpl",
        "--help",
        "-h",
        "D0000001",
        "R0000001",
        "2026-01-01",
        "1900-01-01",
        "-0001-06-01",
        "9999-12-31",
        "2026-02-30",
        "0",
        "-1",
        "153722867280912",
        "18446744073709551616",
        "1e308",
        "NaN",
        "",
        " ",
        "\u{1b}[2K",
        "é",
        "日本",
        "x\ty",
        "=",
        "==",
        "--",
    ]
    .iter()
    .map(ToString::to_string)
    .chain(ids.iter().cloned())
    .collect();
    let commands = [
        "donor add",
        "donor screen",
        "donor defer",
        "donor show",
        "donor list",
        "donation add",
        "donation show",
        "batch make",
        "batch show",
        "batch release",
        "batch discard",
        "qc add",
        "recipient add",
        "recipient show",
        "dispense",
        "locate",
        "label",
        "verify-label",
        "trace",
        "recall",
        "audit log",
        "audit verify",
        "verify",
        "config show",
    ];
    let mut fig =
        Figures::new("argv fuzzing: a command (80%) or none, then 0-6 random words (and sometimes random bytes)");
    for t in 0..trials {
        // Mostly a real command with random arguments (deep paths), sometimes any words at all.
        let mut args: Vec<String> = if rng.gen_bool(0.8) {
            commands[rng.gen_range(0..commands.len())].split(' ').map(String::from).collect()
        } else {
            Vec::new()
        };
        // Most commands take an identifier first: give one of the bank's, so that the run gets past parsing.
        if !args.is_empty() && rng.gen_bool(0.6) {
            args.push(ids[rng.gen_range(0..ids.len())].clone());
        }
        let n = rng.gen_range(usize::from(args.is_empty())..=6);
        args.extend((0..n).map(|_| words[rng.gen_range(0..words.len())].clone()));
        if rng.gen_bool(0.1) {
            args.push((0..rng.gen_range(1..40)).map(|_| rng.gen_range(1u8..128) as char).collect());
        }
        // A printer or a scanner would wait on hardware; they have their own tests.
        if args.iter().any(|a| a == "--print" || a == "scanners") {
            continue;
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child =
            bank.command(&refs).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().map_err(|e| e.to_string())?;
        let stderr = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut e) = stderr {
                let _ = std::io::Read::read_to_string(&mut e, &mut s);
            }
            s
        });
        let status = wait_at_most(&mut child, Duration::from_mins(1));
        let err = reader.join().unwrap_or_default();
        let Some(status) = status else { return Err(format!("trial {t}: {args:?} hung")) };
        let code = status.code().unwrap_or(-1);
        if !EXIT_CODES.contains(&code) || err.contains("panicked") {
            return Err(format!("trial {t}: {args:?}: exit {code}: {err}"));
        }
        fig.add(["exit 0", "exit 1", "exit 2", "exit 3", "exit 4", "exit 5"][code as usize], 1);
        fig.add("trials", 1);
    }
    fig.add("panics", 0);
    Ok(fig)
}

/// How the N-th write-type system call on the bank's files is made to go wrong (strace's fault injection).
#[derive(Clone, Copy)]
pub enum Fault {
    /// SIGKILL at that call: a bench losing power mid-write.
    Kill,
    /// The call fails with this errno (EIO, ENOSPC), fsync included.
    Error(&'static str),
}

impl Fault {
    fn inject(self, call: &str, n: u64) -> String {
        match self {
            Fault::Kill => format!("inject={call}:signal=KILL:when={n}"),
            Fault::Error(errno) => format!("inject={call}:error={errno}:when={n}"),
        }
    }
}

/// The system calls that write: strace counts and injects each separately (per call name).
const WRITE_CALLS: [&str; 4] = ["write", "pwrite64", "fsync", "fdatasync"];

/// Why strace cannot be used here, or None when it can.
pub fn strace_missing() -> Option<String> {
    // Tracing a process, not just finding the binary: ptrace may be forbidden here.
    match Command::new("strace").args(["-qq", "-o", "/dev/null", "true"]).stderr(Stdio::null()).status() {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!("`strace true` exited {s}")),
        Err(e) => Some(format!("cannot run strace: {e}")),
    }
}

/// One system call strace saw on the bank's files: its name and the file's suffix ("" for the database, "-wal").
pub struct Call {
    pub name: String,
    pub file: String,
}

/// How many calls of each name: strace numbers its injections per call name.
fn per_name(calls: &[Call]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for c in calls {
        *counts.entry(c.name.clone()).or_default() += 1;
    }
    counts
}

impl Bank {
    /// `args` run under strace tracing `which` calls on the bank's files (`-P` also limits injection to them),
    /// with `inject` when given; returns the output and the traced calls in order.
    fn traced(&self, args: &[&str], which: &[&str], inject: Option<String>) -> Result<(Output, Vec<Call>)> {
        let log = self.dir.join("strace.log");
        let mut cmd = Command::new("strace");
        // -y: each descriptor with its path, so that a call is told to be on the database or its -wal.
        cmd.args(["-f", "-qq", "-y", "-o"]).arg(&log).arg("-e").arg(format!("trace={}", which.join(",")));
        for suffix in ["", "-wal", "-journal"] {
            let mut path = self.db.clone().into_os_string();
            path.push(suffix);
            cmd.arg("-P").arg(path);
        }
        if let Some(inject) = inject {
            cmd.arg("-e").arg(inject);
        }
        let inner = self.command(args);
        cmd.arg(inner.get_program()).args(inner.get_args()).current_dir(&self.dir);
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot run strace: {e}"))?;
        let text = std::fs::read_to_string(&log).map_err(|e| format!("strace log: {e}"))?;
        let db = self.db.to_string_lossy().to_string();
        let mut calls = Vec::new();
        for line in text.lines() {
            // `PID name(FD</path>, args) = result`
            let Some((name, rest)) = line.split_whitespace().nth(1).and_then(|w| w.split_once('(')) else { continue };
            if which.contains(&name) {
                let file = rest.split_once('<').and_then(|(_, p)| p.split_once('>')).map(|(p, _)| p).unwrap_or("");
                let file = file.strip_prefix(db.as_str()).unwrap_or(file).to_string();
                calls.push(Call { name: name.to_string(), file });
            }
        }
        Ok((out, calls))
    }

    /// The row count of every table, audit log included: what an operation adds, all or nothing.
    fn row_counts(&self) -> Result<Vec<(String, i64)>> {
        let tables: Vec<String> =
            self.sql("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?;
        tables.into_iter().map(|t| Ok((t.clone(), self.sql(&format!("SELECT count(*) FROM \"{t}\""))?[0]))).collect()
    }

    /// A copy of the bank's files (database, key, anchors) in `dir`, for a run that may be spoiled.
    fn copy_to(&self, dir: &Path) -> Result<Bank> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        for name in ["bank.db", "bank.db-wal", "bank.key", "anchors.log"] {
            let from = self.dir.join(name);
            if from.exists() {
                std::fs::copy(&from, dir.join(name)).map_err(|e| format!("copy {name}: {e}"))?;
            }
        }
        Ok(Bank { bin: self.bin.clone(), dir: dir.into(), db: dir.join("bank.db") })
    }
}

/// One write command under `fault` at every one of its write-type calls, each on a fresh copy of `bank`:
/// afterwards `verify` passes, every table holds its count from before or from after a clean run (never
/// between), a failure is one line with exit 1, and the command then works. Returns the clean run's output.
fn fault_every_call(bank: &Bank, args: &[&str], fault: Fault, fig: &mut Figures) -> Result<String> {
    let scratch = bank.dir.join("scratch");
    let before = bank.row_counts()?;
    let clean = bank.copy_to(&scratch)?;
    let (out, calls) = clean.traced(args, &WRITE_CALLS, None)?;
    let calls = per_name(&calls);
    if !out.status.success() {
        return Err(format!("{args:?} failed untouched: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let after = clean.row_counts()?;
    let what = format!("{args:?}");
    // The command without its identifiers, for the per-command figures.
    let name = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .take_while(|a| a.chars().all(|c| c.is_ascii_lowercase()))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    for (call, count) in &calls {
        for n in 1..=*count {
            let at = format!("{what} at {call} #{n}");
            let copy = bank.copy_to(&scratch)?;
            let (out, _) = copy.traced(args, &WRITE_CALLS, Some(fault.inject(call, n)))?;
            let err = String::from_utf8_lossy(&out.stderr);
            match (fault, out.status.code()) {
                (Fault::Kill, None) => fig.add("killed", 1),
                (_, Some(0)) => fig.add(format!("finished despite the fault (at {call})"), 1),
                (Fault::Error(_), Some(1)) if err.lines().count() == 1 && err.starts_with("stoolbank: ") => {
                    fig.add(format!("refused with a one-line message (at {call})"), 1);
                }
                (_, c) => return Err(format!("{at}: exit {c:?}: {err}")),
            }
            copy.verified().map_err(|e| format!("{at}: {e}"))?;
            let now = copy.row_counts()?;
            if now == before {
                // Wholly absent: the same command now works.
                copy.ok(args).map_err(|e| format!("{at}, then again: {e}"))?;
                if copy.row_counts()? != after {
                    return Err(format!("{at}: run again, it did not write what a clean run writes"));
                }
            } else if now != after {
                return Err(format!("{at}: partial: {now:?}, before {before:?}, after {after:?}"));
            }
            if out.status.success() && now != after {
                return Err(format!("{at}: reported success, but its records are not there"));
            }
            fig.add("faults injected", 1);
        }
        fig.add(format!("`{name}`: {call} calls faulted"), *count);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    bank.ok(args)
}

/// The write commands of the chain (donor add and screen, donation add, batch make of several units, QC, release,
/// recipient add, dispense, recall --apply), each faulted at every write-type call; `steps` limits how many.
pub fn faults(bin: &Path, dir: &Path, fault: Fault, steps: usize) -> Result<Figures> {
    let name = match fault {
        Fault::Kill => "faults: SIGKILL at every write-type system call of each write command",
        Fault::Error("EIO") => "faults: EIO at every write-type system call (fsync included) of each write command",
        Fault::Error(_) => "faults: ENOSPC at every write-type system call of each write command",
    };
    let mut fig = Figures::new(name);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let bank = Bank { bin: bin.into(), dir: dir.into(), db: dir.join("bank.db") };
    bank.ok(&["init", "--facility", "G1517"])?;
    let mut done = 0;
    let mut step = |args: &[&str], fig: &mut Figures| -> Result<String> {
        done += 1;
        if done > steps {
            return bank.ok(args);
        }
        fig.add("commands", 1);
        fault_every_call(&bank, args, fault, fig)
    };
    let donor = step(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"], &mut fig)?;
    let screen = |kind: &str, days_ago: i64| {
        let date = day(days_ago).to_string();
        let args = ["donor", "screen", &donor, "--kind", kind, "--date", &date, "--all-negative"];
        args.map(String::from)
    };
    let args = screen("questionnaire", 30);
    step(&args.iter().map(String::as_str).collect::<Vec<_>>(), &mut fig)?;
    for (kind, days_ago) in [("blood", 30), ("stool", 30), ("donation-day", 20)] {
        let args = screen(kind, days_ago);
        bank.ok(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    let at = format!("{} 08:00", day(20));
    let donation = step(&["donation", "add", &donor, "--collected-at", &at], &mut fig)?;
    let at = format!("{} 09:00", day(20));
    let made =
        step(&["--json", "batch", "make", &donation, "--product", "F0001", "--units", "4", "--at", &at], &mut fig)?;
    let made: serde_json::Value = serde_json::from_str(&made).map_err(|e| e.to_string())?;
    let batch = made["id"].as_str().ok_or("no batch id")?.to_string();
    let unit = made["units"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["kind"] == "dose"))
        .and_then(|u| u["id"].as_str())
        .ok_or("no dose unit")?
        .to_string();
    step(&["qc", "add", &batch, "--test", "appearance=pass"], &mut fig)?;
    for test in ["viable-count", "pathogen-screen"] {
        bank.ok(&["qc", "add", &batch, "--test", &format!("{test}=pass")])?;
    }
    for kind in ["questionnaire", "blood", "stool"] {
        let args = screen(kind, 2);
        bank.ok(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    step(&["batch", "release", &batch], &mut fig)?;
    let recipient =
        step(&["recipient", "add", "--sex", "M", "--birth-date", "1970-01-01", "--indication", "rCDI"], &mut fig)?;
    step(&["dispense", &unit, "--recipient", &recipient, "--route", "colonoscopy"], &mut fig)?;
    step(&["recall", "--batch", &batch, "--reason", "drill", "--apply"], &mut fig)?;
    fig.add("partial records", 0);
    Ok(fig)
}

/// The system calls that read: strace counts and injects each separately (per call name).
const READ_CALLS: [&str; 2] = ["read", "pread64"];

/// One command with EIO at every one of its read calls on the database and its `-wal`, each on a fresh copy of
/// `bank`: it gives the whole answer a clean run gives (exit 0, the same stdout), or a one-line message naming
/// the file with exit 1 and nothing on stdout; no write is left half-done (every table as before or as after a
/// clean run, `verify` passing) and the bank is not marked damaged by a read.
fn read_fault_every_call(bank: &Bank, args: &[&str], fig: &mut Figures) -> Result<()> {
    let scratch = bank.dir.join("scratch");
    let before = bank.row_counts()?;
    let clean = bank.copy_to(&scratch)?;
    let (out, calls) = clean.traced(args, &READ_CALLS, None)?;
    if !out.status.success() {
        return Err(format!("{args:?} failed untouched: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let answer = out.stdout;
    let after = clean.row_counts()?;
    let name = args.iter().take_while(|a| a.chars().all(|c| c.is_ascii_lowercase())).copied().collect::<Vec<_>>();
    let name = name.join(" ");
    for (call, count) in per_name(&calls) {
        for (n, on) in calls.iter().filter(|c| c.name == call).enumerate() {
            let n = n + 1;
            let file = format!("bank.db{}", on.file);
            let at = format!("{args:?} at {call} #{n} (on {file})");
            let copy = bank.copy_to(&scratch)?;
            let (out, _) = copy.traced(args, &READ_CALLS, Some(format!("inject={call}:error=EIO:when={n}")))?;
            let err = String::from_utf8_lossy(&out.stderr);
            let named = err.contains(&copy.db.display().to_string());
            match out.status.code() {
                Some(0) if out.stdout == answer => fig.add("answered whole despite the fault", 1),
                Some(0) => return Err(format!("{at}: exit 0 with an answer other than a clean run's")),
                Some(1) if err.lines().count() == 1 && err.starts_with("stoolbank: ") && named => {
                    if !out.stdout.is_empty() {
                        let part = String::from_utf8_lossy(&out.stdout);
                        return Err(format!("{at}: printed part of an answer before failing: {part}"));
                    }
                    fig.add(format!("refused with a one-line message naming the file (at {call} on {file})"), 1);
                }
                c => return Err(format!("{at}: exit {c:?}: {err}")),
            }
            if copy.db.with_extension("db.damaged").exists() {
                return Err(format!("{at}: a failed read marked the bank damaged"));
            }
            copy.verified().map_err(|e| format!("{at}: {e}"))?;
            let now = copy.row_counts()?;
            if now == before && before != after {
                // Wholly absent: the same command now works.
                copy.ok(args).map_err(|e| format!("{at}, then again: {e}"))?;
                if copy.row_counts()? != after {
                    return Err(format!("{at}: run again, it did not write what a clean run writes"));
                }
            } else if now != after {
                return Err(format!("{at}: partial: {now:?}, before {before:?}, after {after:?}"));
            }
            if out.status.success() && now != after {
                return Err(format!("{at}: reported success, but its records are not there"));
            }
            fig.add("faults injected", 1);
        }
        fig.add(format!("`{name}`: {call} calls faulted"), count);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Read commands (trace, verify, donor list, a recall dry run, audit log) and a write command's reads
/// (dispense), each with EIO at every read call on the database and its `-wal`; `steps` limits how many. The
/// bank's last commits are left in its `-wal` (a connection held open keeps them from the checkpoint), so that
/// reads go to both files.
pub fn read_faults(bin: &Path, dir: &Path, steps: usize) -> Result<Figures> {
    let mut fig = Figures::new("faults: EIO at every read system call of each command on the database and its -wal");
    let (bank, donor, batch, units) = stocked(bin, dir, None, 4)?;
    let holder = Connection::open(&bank.db).map_err(|e| e.to_string())?;
    holder.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())).map_err(|e| e.to_string())?;
    let recipient =
        bank.ok(&["recipient", "add", "--sex", "M", "--birth-date", "1970-01-01", "--indication", "rCDI"])?;
    bank.ok(&["dispense", &units[0], "--recipient", &recipient, "--route", "colonoscopy"])?;
    let commands: [Vec<&str>; 6] = [
        vec!["trace", &batch],
        vec!["verify"],
        vec!["donor", "list"],
        vec!["recall", "--donor", &donor, "--reason", "drill"],
        vec!["audit", "log"],
        vec!["dispense", &units[1], "--recipient", &recipient, "--route", "colonoscopy"],
    ];
    for args in commands.iter().take(steps) {
        fig.add("commands", 1);
        read_fault_every_call(&bank, args, &mut fig)?;
    }
    drop(holder);
    fig.add("partial answers", 0);
    Ok(fig)
}
