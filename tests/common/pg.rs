//! A throw-away `PostgreSQL` database for the `PostgreSQL` tests, on the server that `STOOLBANK_TEST_PG` names: a libpq
//! connection string, key=value (`host=/tmp/stoolbank-pg.XXXX user=stoolbank dbname=postgres`, what
//! `scripts/pg-cluster start` prints; a host that is a directory means its Unix socket) or a URL
//! (`postgresql://stoolbank@%2Ftmp%2Fstoolbank-pg.XXXX/postgres`). The user must be allowed to create databases.
//! Without it a test says it was skipped and why; under `CI` it fails instead: CI never skips them.

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};

use postgres::{Client, Config, NoTls};

/// The server to test on, or None (after saying so) on a machine without one.
pub fn server(test: &str) -> Option<Config> {
    match std::env::var("STOOLBANK_TEST_PG") {
        Ok(s) if !s.trim().is_empty() => {
            Some(s.parse().unwrap_or_else(|e| panic!("STOOLBANK_TEST_PG is not a libpq connection string: {e}")))
        }
        _ => {
            let why = "no PostgreSQL server: set STOOLBANK_TEST_PG (eval \"$(scripts/pg-cluster start)\"; see .ci/run)";
            assert!(std::env::var_os("CI").is_none(), "{test}: {why}; CI must not skip the PostgreSQL tests");
            // Past the test harness's capture, so that a passing run still shows what it did not test.
            let _ = writeln!(std::io::stderr(), "{test}: skipped: {why}");
            None
        }
    }
}

/// A database made for one test and dropped at its end, on the server `config` names.
pub struct PgDb {
    pub client: Client,
    pub name: String,
    admin: Config,
}

impl PgDb {
    /// A new, empty UTF8 database with a name no other test or run uses.
    pub fn new(admin: Config) -> PgDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!("stoolbank_test_{}_{nanos}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut client = admin.connect(NoTls).expect("connect to the server STOOLBANK_TEST_PG names");
        // template0 and the C locale: a UTF8 database whatever the server's default encoding and locale.
        client
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
            ))
            .expect("create a throw-away database (the user needs CREATEDB)");
        let client = admin.clone().dbname(&name).connect(NoTls).expect("connect to the throw-away database");
        PgDb { client, name, admin }
    }

    /// The database's address as `--db` takes it: `postgresql://USER@HOST/NAME` (a socket folder as the host,
    /// percent-encoded).
    pub fn url(&self) -> String {
        let host = match self.admin.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(dir)) => dir.display().to_string(),
            None => "localhost".into(),
        };
        let host: String = host
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let port = self.admin.get_ports().first().map_or(String::new(), |p| format!(":{p}"));
        let user = self.admin.get_user().unwrap_or("postgres");
        format!("postgresql://{user}@{host}{port}/{}", self.name)
    }

    /// After `stoolbank init` made the bank (as the owner, this test's admin): the address of a login that works
    /// it as a bench does, with only what `schema.pg.grants.sql` grants, so that every suite run on the server
    /// proves those grants enough for every command.
    pub fn bench_login(&mut self) -> String {
        // Roles are the cluster's, shared by every test: made once, whichever test gets there first.
        for role in ["stoolbank_bench NOLOGIN", "stoolbank_bench_login LOGIN IN ROLE stoolbank_bench"] {
            self.client
                .batch_execute(&format!(
                    "DO $$ BEGIN CREATE ROLE {role};
                     EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
                ))
                .expect("make the bench roles");
        }
        self.client.batch_execute(include_str!("../../schema.pg.grants.sql")).expect("schema.pg.grants.sql");
        let owner = self.admin.get_user().unwrap_or("postgres").to_string();
        self.url().replacen(&format!("//{owner}@"), "//stoolbank_bench_login@", 1)
    }
}

/// Whether this run's benches are on the PostgreSQL server `STOOLBANK_TEST_PG` names rather than in files
/// (`STOOLBANK_TEST_STORE=postgres`): the suites that run on both stores are one suite, run twice.
pub fn store_is_server() -> bool {
    std::env::var("STOOLBANK_TEST_STORE").is_ok_and(|s| s == "postgres")
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // FORCE ends this test's own connection too (PostgreSQL 13 and later).
        if let Ok(mut c) = self.admin.connect(NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
