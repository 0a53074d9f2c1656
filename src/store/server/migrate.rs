//! Versioned migrations of a bank on a server. A server bank is first made at schema version 12 from
//! `schema.pg.sql`, which is always the latest schema; each later `SQLite` migration (`migrations/NNNN_name.sql`)
//! ships with its translation (`migrations/pg/NNNN_name.sql`, listed in [`MIGRATIONS`]), and `tests/pg_schema.rs`
//! keeps `schema.pg.sql` equal to `schema.sql`. A bank at an older version is brought up to date when it is
//! opened for writing, as a file is: in one transaction, under the bank's write lock, all pending migrations or
//! (refused) none. Changing the schema is the owner's: a bench login (`schema.pg.grants.sql`) is told so.

use std::path::Path;

use postgres::error::SqlState;

use super::super::migrate::LATEST_VERSION;
use super::super::{Result, StoreError, APPLICATION_ID};

/// The version a server bank is first made at: the first schema made on a server.
pub(super) const FIRST_VERSION: i64 = 12;

/// Each server migration after [`FIRST_VERSION`], in order; one per `SQLite` migration after 0012.
pub(super) const MIGRATIONS: &[(&str, &str)] = &[];

// A schema migration without its server translation does not build.
const _: () = assert!(
    FIRST_VERSION + MIGRATIONS.len() as i64 == LATEST_VERSION,
    "each migration after 0012 needs its server translation in migrations/pg/ and server/migrate.rs"
);

/// Applies the pending `migrations` (those after [`FIRST_VERSION`], in order) to the bank `client` is connected
/// to; returns its version after.
pub(super) fn upgrade(client: &mut postgres::Client, path: &Path, migrations: &[(&'static str, &str)]) -> Result<i64> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&i64::from(APPLICATION_ID)])?;
    // Read again under the lock: another bench may have upgraded meanwhile.
    let current: i64 = tx.query_one("SELECT version FROM stoolbank_schema", &[])?.get(0);
    let mut version = current;
    for (to, (name, sql)) in (FIRST_VERSION + 1..).zip(migrations).filter(|(to, _)| *to > current) {
        let refused = |e: postgres::Error| {
            let why = match e.code() {
                Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => format!(
                    "{}: this login may not change the schema; open the bank once as the login that made it (its \
                     owner), then run schema.pg.grants.sql again",
                    path.display()
                ),
                _ => super::super::server_says(&e),
            };
            StoreError::Upgrade { migration: name, why }
        };
        tx.batch_execute(sql).map_err(refused)?;
        tx.execute("UPDATE stoolbank_schema SET version = $1", &[&to]).map_err(refused)?;
        version = to;
    }
    tx.commit()?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::{upgrade, FIRST_VERSION};
    use crate::store::StoreError;

    /// A new bank in a throw-away database on the server `STOOLBANK_TEST_PG` names, connected as its owner and
    /// as a bench login; None (after saying so) without a server, except under CI.
    fn bank(test: &str) -> Option<(postgres::Client, postgres::Client, Dropped)> {
        let Some(admin) = std::env::var("STOOLBANK_TEST_PG").ok().filter(|s| !s.trim().is_empty()) else {
            assert!(std::env::var_os("CI").is_none(), "{test}: CI must not skip the PostgreSQL tests");
            let _ = writeln!(std::io::stderr(), "{test}: skipped: no PostgreSQL server (STOOLBANK_TEST_PG)");
            return None;
        };
        let admin: postgres::Config = admin.parse().expect("STOOLBANK_TEST_PG");
        let name = format!("stoolbank_unit_{}_{test}", std::process::id());
        let mut c = admin.connect(postgres::NoTls).expect("connect");
        c.batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        ))
        .expect("a throw-away database");
        c.batch_execute(
            "DO $$ BEGIN CREATE ROLE stoolbank_unit_bench LOGIN;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        )
        .expect("a bench login");
        let mut owner = admin.clone().dbname(&name).connect(postgres::NoTls).expect("connect to it");
        assert_eq!(super::super::create(&mut owner).expect("make the bank"), FIRST_VERSION);
        // As schema.pg.grants.sql grants (PostgreSQL 14 still lets every login create tables in `public`).
        owner
            .batch_execute(
                "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO stoolbank_unit_bench;
                 REVOKE INSERT, UPDATE ON stoolbank_schema FROM stoolbank_unit_bench",
            )
            .unwrap();
        let bench = admin.clone().dbname(&name).user("stoolbank_unit_bench").connect(postgres::NoTls).expect("bench");
        Some((owner, bench, Dropped { admin, name }))
    }

    struct Dropped {
        admin: postgres::Config,
        name: String,
    }

    impl Drop for Dropped {
        fn drop(&mut self) {
            if let Ok(mut c) = self.admin.connect(postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
            }
        }
    }

    fn version(c: &mut postgres::Client) -> i64 {
        c.query_one("SELECT version FROM stoolbank_schema", &[]).unwrap().get(0)
    }

    fn has_table(c: &mut postgres::Client, t: &str) -> bool {
        c.query_one("SELECT to_regclass($1) IS NOT NULL", &[&t]).unwrap().get(0)
    }

    #[test]
    fn pending_migrations_apply_once_in_order_and_all_or_none() {
        let Some((mut owner, mut bench, _db)) = bank("upgrade") else { return };
        let path = std::path::Path::new("postgresql://test/bank");
        let next = [("0013_probe", "CREATE TABLE probe (x bigint)"), ("0014_probe_index", "CREATE INDEX ON probe (x)")];
        // A bench login may not change the schema: told so, and nothing changed.
        match upgrade(&mut bench, path, &next) {
            Err(StoreError::Upgrade { migration: "0013_probe", why }) => assert!(why.contains("owner"), "{why}"),
            other => panic!("a bench login upgraded: {other:?}"),
        }
        assert_eq!((version(&mut owner), has_table(&mut owner, "probe")), (FIRST_VERSION, false));
        // The owner: both, in order, once.
        assert_eq!(upgrade(&mut owner, path, &next).unwrap(), FIRST_VERSION + 2);
        assert_eq!(upgrade(&mut owner, path, &next).unwrap(), FIRST_VERSION + 2, "nothing is applied twice");
        assert!(has_table(&mut owner, "probe"));
        // A refused migration leaves the bank as it was, the ones before it in the same upgrade included.
        let more = [
            next[0],
            next[1],
            ("0015_more", "CREATE TABLE more (x bigint)"),
            ("0016_bad", "CREATE TABLE donors (x bigint)"),
        ];
        match upgrade(&mut owner, path, &more) {
            Err(StoreError::Upgrade { migration: "0016_bad", why }) => assert!(why.contains("donors"), "{why}"),
            other => panic!("a failing migration was kept: {other:?}"),
        }
        assert_eq!((version(&mut owner), has_table(&mut owner, "more")), (FIRST_VERSION + 2, false));
    }
}
