//! Versioned migrations cut from `schema.sql`: the section after `-- migration: N` is migration N.

use rusqlite::{Connection, TransactionBehavior};

use super::APPLICATION_ID;

const SCHEMA: &str = include_str!("../../schema.sql");
const MARKER: &str = "-- migration:";

/// (version, SQL) in order: a line `-- migration: N` starts section N; text before the first is commentary.
fn migrations() -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = Vec::new();
    for line in SCHEMA.lines() {
        match line.strip_prefix(MARKER).and_then(|v| v.trim().parse().ok()) {
            Some(version) => out.push((version, String::new())),
            None => {
                if let Some((_, sql)) = out.last_mut() {
                    sql.push_str(line);
                    sql.push('\n');
                }
            }
        }
    }
    out
}

pub const LATEST_VERSION: i64 = 1;

pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read again inside the write lock: another bench may have migrated meanwhile.
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current < LATEST_VERSION {
        for (version, sql) in migrations().into_iter().filter(|(v, _)| *v > current) {
            tx.execute_batch(&sql)?;
            tx.pragma_update(None, "user_version", version)?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_numbered_in_order_up_to_latest() {
        let versions: Vec<i64> = migrations().iter().map(|(v, _)| *v).collect();
        assert_eq!(versions, (1..=LATEST_VERSION).collect::<Vec<_>>());
    }
}
