//! Versioned migrations: `migrations/NNNN_name.sql`, embedded in the binary and applied in order. The schema
//! version (`PRAGMA user_version`) is the number of migrations applied. `schema.sql` is the resulting whole
//! schema for readers; a test keeps the two equal.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::{StoreError, APPLICATION_ID};

/// Every migration in order; a new one is added at the end and never edited once shipped.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial", include_str!("../../migrations/0001_initial.sql")),
    ("0002_screening_superseded_once", include_str!("../../migrations/0002_screening_superseded_once.sql")),
    ("0003_recalls_and_collections", include_str!("../../migrations/0003_recalls_and_collections.sql")),
    ("0004_followup", include_str!("../../migrations/0004_followup.sql")),
    ("0005_label_claims", include_str!("../../migrations/0005_label_claims.sql")),
    ("0006_safety_signal_deferrals", include_str!("../../migrations/0006_safety_signal_deferrals.sql")),
    ("0007_query_indexes", include_str!("../../migrations/0007_query_indexes.sql")),
    ("0008_audit_compact", include_str!("../../migrations/0008_audit_compact.sql")),
    ("0009_users", include_str!("../../migrations/0009_users.sql")),
    ("0010_followup_due_index", include_str!("../../migrations/0010_followup_due_index.sql")),
    ("0011_identity_keys", include_str!("../../migrations/0011_identity_keys.sql")),
    ("0012_donations_time_unreadable", include_str!("../../migrations/0012_donations_time_unreadable.sql")),
];

/// Rows per index that ANALYZE and `PRAGMA optimize` sample (`SQLite`'s advice for applications: a few hundred).
pub(super) const ANALYSIS_LIMIT: i64 = 400;

pub(super) const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// The oldest schema this program's reads understand (a read opens without migrating): 0003 added the columns
/// and tables every donor and recipient view reads, 0004 the follow-up tables the clinical views and reports read,
/// 0006 the deferrals' adverse-event column that eligibility reads.
pub(super) const READS_FROM: i64 = 6;

/// Applies the pending migrations in one transaction: all of them, or (refused) none.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_to(conn, LATEST_VERSION)
}

/// Applies the migrations up to schema version `target` (the schema a file of that version holds), in one
/// transaction.
pub(super) fn migrate_to(conn: &mut Connection, target: i64) -> Result<(), StoreError> {
    // Up to date (the usual case): no write lock, so opening never waits behind another bench's write.
    if conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? >= target {
        return Ok(());
    }
    // ANALYZE (0007) samples at most this many rows per index, so that a large bank migrates in moments.
    conn.pragma_update(None, "analysis_limit", ANALYSIS_LIMIT)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read again inside the write lock: another bench may have migrated meanwhile.
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current < target {
        for (version, (name, sql)) in (1..=target).zip(MIGRATIONS).filter(|(v, _)| *v > current) {
            if let Some(why) = blocked(&tx, name)? {
                return Err(StoreError::Upgrade { migration: name, why });
            }
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version)?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    Ok(tx.commit()?)
}

/// Records written before a migration that break the rule it adds, in words naming them: found before the
/// migration runs, so that the refusal names the records rather than a constraint, and nothing is lost.
fn blocked(tx: &Transaction, migration: &str) -> rusqlite::Result<Option<String>> {
    // Each query lists one offending group per row; races between two benches could once write these.
    let (rule, sql) = match migration {
        "0002_screening_superseded_once" => (
            "a screening may now be corrected only once",
            "SELECT 'screening ' || supersedes || ' by screenings ' || group_concat(id, ', ') \
             FROM (SELECT supersedes, id FROM screenings WHERE supersedes IS NOT NULL ORDER BY id) \
             GROUP BY supersedes HAVING count(*) > 1 ORDER BY supersedes",
        ),
        "0003_recalls_and_collections" => (
            "a donation may now be recorded once per donor and collection time",
            "SELECT 'donor ' || donor_id || ' collected at ' || collected_at || ' as donations ' \
             || group_concat(id, ', ') FROM (SELECT donor_id, collected_at, id FROM donations ORDER BY id) \
             GROUP BY donor_id, collected_at HAVING count(*) > 1 ORDER BY donor_id, collected_at",
        ),
        _ => return Ok(None),
    };
    let mut stmt = tx.prepare(sql)?;
    let found = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((!found.is_empty()).then(|| {
        format!(
            "{rule}, and this bank holds records that break it: {}. Which of them stands is a quality manager's \
             decision; keep using the previous stoolbank on this bank until it is made",
            found.join("; ")
        )
    }))
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
