//! A bench for end-to-end tests: a fresh database file in a temporary directory, and the real binary.
#![allow(dead_code)]

pub mod pg;

use std::path::PathBuf;
use std::process::{Command, Output};

use chrono::{Duration, Local, NaiveDate};
use serde_json::Value;

pub struct Bench {
    pub dir: tempfile::TempDir,
    /// The bank: a file in `dir`, or with `STOOLBANK_TEST_STORE=postgres` a server database's address.
    pub db: PathBuf,
    /// The server database the bank is in, dropped with the bench.
    pub server: Option<std::sync::Mutex<pg::PgDb>>,
    /// Who signs in, with which password, on a bank with users (None: "tester", for a bank in set-up mode).
    pub user: Option<(String, String)>,
}

impl Bench {
    pub fn new() -> Bench {
        let dir = tempfile::tempdir().expect("temp dir");
        let (db, server) = new_db(&dir);
        let mut b = Bench::on(dir, db);
        b.ok(&["init", "--facility", "G1517"]);
        if let Some(mut server) = server {
            // The owner made the bank; the bench works it without owning it.
            b.db = PathBuf::from(server.bench_login());
            b.server = Some(std::sync::Mutex::new(server));
        }
        b
    }

    /// A bench on an existing bank file (`dir` holds its key and anchor log).
    pub fn on(dir: tempfile::TempDir, db: PathBuf) -> Bench {
        Bench { dir, db, server: None, user: None }
    }

    /// From now on signs in as `name` with `password`.
    pub fn signed_in(mut self, name: &str, password: &str) -> Bench {
        self.user = Some((name.into(), password.into()));
        self
    }

    /// A connection straight to the bank, as a program other than stoolbank would open it (on a server, as the
    /// tables' owner: a tamperer with the most a login can have).
    pub fn outside(&self) -> Outside {
        match &self.server {
            Some(server) => Outside::open(&PathBuf::from(server.lock().expect("server").url())),
            None => Outside::open(&self.db),
        }
    }

    /// Writes a policy file (for `config set`); returns its path.
    pub fn policy_file(&self, toml: &str) -> String {
        let path = self.dir.path().join("policy.toml");
        std::fs::write(&path, toml).expect("write policy");
        path.display().to_string()
    }

    /// Stores a policy in the bank (`config set`), in force from now on.
    pub fn set_policy(&self, toml: &str) {
        self.ok(&["config", "set", &self.policy_file(toml)]);
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stoolbank"));
        let name = self.user.as_ref().map_or("tester", |(n, _)| n.as_str());
        cmd.arg("--db").arg(&self.db).arg("--as").arg(name);
        cmd.args(args).env_remove("STOOLBANK_DB").env_remove("STOOLBANK_CONFIG").env_remove("STOOLBANK_PASSWORD");
        if let Some((_, password)) = &self.user {
            cmd.env("STOOLBANK_PASSWORD", password);
        }
        // The bank key and anchor log stay in the test's directory, not the user's.
        cmd.env("STOOLBANK_KEY", self.dir.path().join("bank.key"));
        cmd.env("STOOLBANK_ANCHOR", self.dir.path().join("anchors.log"));
        cmd.output().expect("run stoolbank")
    }

    /// Runs a command that must succeed; returns stdout trimmed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "stoolbank {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("json output")
    }

    /// Runs a command that must be refused; returns (exit code, stderr).
    pub fn fail(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "stoolbank {args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(err.lines().count(), 1, "a refusal prints one line: {err}");
        (out.status.code().unwrap_or(-1), err)
    }

    /// A refusal by a rule: exit code 3, the rule named, and nothing changed in the database.
    pub fn refused(&self, rule: &str, args: &[&str]) -> String {
        let before = self.audit_len();
        let (code, err) = self.fail(args);
        assert_eq!(code, 3, "{args:?}: {err}");
        assert!(err.contains(rule), "{args:?} should name rule {rule}: {err}");
        assert_eq!(self.audit_len(), before, "a refused command changes nothing");
        err
    }

    /// The audit trail's entries, leaving out successful sign-ins: each command signed in as a user records its
    /// own (reading the trail included).
    pub fn audit_len(&self) -> usize {
        let log = self.json(&["audit", "log", "--limit", "1000000"]);
        let sign_in = |e: &&Value| matches!(e["action"].as_str(), Some("sign-in" | "sign-in-after-failures"));
        log.as_array().map_or(0, |all| all.iter().filter(|e| !sign_in(e)).count())
    }

    /// A donor with a complete negative screening of all three panels on `day`.
    pub fn screened_donor(&self, day: NaiveDate) -> String {
        let donor = self.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
        self.screen_clean(&donor, day);
        donor
    }

    pub fn screen_clean(&self, donor: &str, day: NaiveDate) {
        for kind in ["questionnaire", "blood", "stool"] {
            self.ok(&["donor", "screen", donor, "--kind", kind, "--date", &day.to_string(), "--all-negative"]);
        }
    }

    /// A donation on `day` at 08:00 with a clean donation-day questionnaire; returns its DIN.
    pub fn donation(&self, donor: &str, day: NaiveDate) -> String {
        self.ok(&["donor", "screen", donor, "--kind", "donation-day", "--date", &day.to_string(), "--all-negative"]);
        self.ok(&["donation", "add", donor, "--collected-at", &at(day, 8), "--mass-g", "120", "--bristol", "4"])
    }

    /// A batch made at 09:00 on `day` with every QC test passed; returns (batch, units).
    pub fn batch(&self, donation: &str, day: NaiveDate, units: usize) -> (String, Vec<String>) {
        let b = self.json(&[
            "batch",
            "make",
            donation,
            "--product",
            "F0001",
            "--units",
            &units.to_string(),
            "--at",
            &at(day, 9),
        ]);
        let batch = b["id"].as_str().expect("batch id").to_string();
        let units =
            b["units"].as_array().expect("units").iter().map(|u| u["id"].as_str().unwrap().to_string()).collect();
        for test in ["appearance", "viable-count", "pathogen-screen"] {
            self.ok(&["qc", "add", &batch, "--test", &format!("{test}=pass"), "--at", &at(day, 12)]);
        }
        (batch, units)
    }
}

/// Days ago, as a local calendar day.
pub fn days_ago(n: i64) -> NaiveDate {
    Local::now().date_naive() - Duration::days(n)
}

/// `day` at `hour`:00 local time, as the CLI takes it.
pub fn at(day: NaiveDate, hour: u32) -> String {
    format!("{day} {hour:02}:00")
}

pub fn ids(v: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> =
        v[key].as_array().expect(key).iter().map(|x| x["id"].as_str().expect("id").to_string()).collect();
    out.sort();
    out
}

/// A connection straight to a bank, on either store; statements take `$1`, `$2`… (both engines read them).
pub enum Outside {
    File(rusqlite::Connection),
    Server(postgres::Client),
}

/// Text parameters as the server's client takes them.
fn server_params<'a>(params: &'a [&'a str]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn postgres::types::ToSql + Sync)).collect()
}

impl Outside {
    pub fn open(db: &std::path::Path) -> Outside {
        match db.to_str().filter(|s| s.starts_with("postgres")) {
            Some(url) => Outside::Server(postgres::Client::connect(url, postgres::NoTls).expect("connect to the bank")),
            None => Outside::File(rusqlite::Connection::open(db).expect("open bank")),
        }
    }

    /// The rows a statement changed, or the database's refusal.
    pub fn execute(&mut self, sql: &str, params: &[&str]) -> Result<u64, String> {
        match self {
            Outside::Server(c) => c
                .execute(sql, &server_params(params))
                .map_err(|e| e.as_db_error().map_or(e.to_string(), |d| d.message().to_string())),
            Outside::File(c) => {
                c.execute(sql, rusqlite::params_from_iter(params)).map(|n| n as u64).map_err(|e| e.to_string())
            }
        }
    }

    /// Drops one of the schema's triggers (the way a tamperer gets past it).
    pub fn drop_trigger(&mut self, name: &str, table: &str) {
        let sql = match self {
            Outside::Server(_) => format!("DROP TRIGGER {name} ON {table}"),
            Outside::File(_) => format!("DROP TRIGGER {name}"),
        };
        self.execute(&sql, &[]).expect("drop the trigger");
    }

    /// The first column of each row, as text.
    pub fn texts(&mut self, sql: &str, params: &[&str]) -> Vec<String> {
        match self {
            Outside::Server(c) => {
                c.query(sql, &server_params(params)).expect("query").iter().map(|r| r.get(0)).collect()
            }
            Outside::File(c) => c
                .prepare(sql)
                .and_then(|mut s| s.query_map(rusqlite::params_from_iter(params), |r| r.get(0))?.collect())
                .expect("query"),
        }
    }

    /// A count.
    pub fn count(&mut self, sql: &str, params: &[&str]) -> i64 {
        match self {
            Outside::Server(c) => c.query_one(sql, &server_params(params)).expect("count").get(0),
            Outside::File(c) => c.query_row(sql, rusqlite::params_from_iter(params), |r| r.get(0)).expect("count"),
        }
    }

    /// The bank's tables (the server's marker left out: a file keeps it in its header).
    pub fn tables(&mut self) -> Vec<String> {
        let sql = match self {
            Outside::Server(_) => {
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()
                 AND tablename <> 'stoolbank_schema' ORDER BY 1"
            }
            Outside::File(_) => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
        };
        self.texts(sql, &[])
    }
}

/// A new bank's place: `bank.db` in `dir`, or with `STOOLBANK_TEST_STORE=postgres` a new database on the
/// server (kept alive by the returned handle).
pub fn new_db(dir: &tempfile::TempDir) -> (PathBuf, Option<pg::PgDb>) {
    if pg::store_is_server() {
        let admin = pg::server("a bench on PostgreSQL").expect("STOOLBANK_TEST_STORE=postgres needs STOOLBANK_TEST_PG");
        let server = pg::PgDb::new(admin);
        (PathBuf::from(server.url()), Some(server))
    } else {
        (dir.path().join("bank.db"), None)
    }
}

/// Every table's row count, by name: a refused operation leaves all of them as they were.
pub fn table_counts(db: &std::path::Path) -> Vec<(String, i64)> {
    let mut c = Outside::open(db);
    c.tables().into_iter().map(|t| (t.clone(), c.count(&format!("SELECT count(*) FROM {t}"), &[]))).collect()
}

/// A bank opened through the library with its clock fixed at `now`, as the TUI or a test gives it.
pub fn bank_at(db: &std::path::Path, now: chrono::DateTime<chrono::Utc>) -> stoolbank::app::Bank {
    let config = stoolbank::core::config::BenchPrefs::default();
    stoolbank::app::Bank::init(db, Some("G1517"), config, "tester").expect("init bank").with_clock(move || now)
}

/// `day` at `hour`:00 in the bank's local time zone, as a person at the bench means it: the tests hold in any zone.
pub fn local(day: &str, hour: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let naive = self::day(day).and_hms_opt(hour, 0, 0).expect("an hour of the day");
    Local.from_local_datetime(&naive).earliest().expect("a local time").with_timezone(&chrono::Utc)
}

/// A calendar day written `YYYY-MM-DD`.
pub fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("YYYY-MM-DD")
}

/// A moment as RFC 3339 text.
pub fn utc(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339").to_utc()
}
