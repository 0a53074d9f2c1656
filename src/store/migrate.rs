//! Versioned migrations: `migrations/NNNN_name.sql`, embedded in the binary and applied in order. The schema
//! version (`PRAGMA user_version`) is the number of migrations applied. `schema.sql` is the resulting whole
//! schema for readers; a test keeps the two equal.

use rusqlite::{Connection, TransactionBehavior};

use super::APPLICATION_ID;

/// Every migration in order; a new one is added at the end and never edited once shipped.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial", include_str!("../../migrations/0001_initial.sql")),
    ("0002_screening_superseded_once", include_str!("../../migrations/0002_screening_superseded_once.sql")),
];

pub(super) const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    migrate_to(conn, LATEST_VERSION)
}

/// Applies the migrations up to schema version `target`: the schema a file of that version holds.
pub(super) fn migrate_to(conn: &mut Connection, target: i64) -> rusqlite::Result<()> {
    // Up to date (the usual case): no write lock, so opening never waits behind another bench's write.
    if conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? >= target {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read again inside the write lock: another bench may have migrated meanwhile.
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current < target {
        for (version, (_, sql)) in (1..=target).zip(MIGRATIONS).filter(|(v, _)| *v > current) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version)?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every schema object, its SQL with comments dropped and white space folded, by (type, name).
    fn objects(conn: &Connection) -> Vec<(String, String, String)> {
        let mut stmt = conn
            .prepare("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name")
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?))).unwrap();
        rows.map(|r| {
            let (t, n, sql) = r.unwrap();
            let text: String = sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join(" ");
            (t, n, text.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .collect()
    }

    #[test]
    fn migrations_are_named_in_order() {
        for (i, (name, _)) in MIGRATIONS.iter().enumerate() {
            assert!(name.starts_with(&format!("{:04}_", i + 1)), "migration {} is named {name}", i + 1);
        }
    }

    #[test]
    fn schema_sql_is_what_the_migrations_build() {
        let mut migrated = Connection::open_in_memory().unwrap();
        migrate(&mut migrated).unwrap();
        let whole = Connection::open_in_memory().unwrap();
        whole.execute_batch(include_str!("../../schema.sql")).unwrap();
        let (a, b) = (objects(&migrated), objects(&whole));
        for (m, s) in a.iter().zip(&b) {
            assert_eq!(m, s, "schema.sql differs from the migrations (left: migrated, right: schema.sql)");
        }
        assert_eq!(a.len(), b.len(), "schema.sql and the migrations hold different objects");
        let version: i64 = migrated.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, LATEST_VERSION);
    }
}
