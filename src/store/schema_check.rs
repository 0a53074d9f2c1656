//! The live schema against the one this program embeds, and stored values against the shapes the program
//! writes. A dropped append-only trigger, a planted trigger, an extra index or a changed column is named, as is a
//! timestamp no reader can parse.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::{migrate, Result, Tx};
use crate::time;

/// A schema object: its kind, the table it belongs to, and its SQL with white space folded.
#[derive(PartialEq)]
struct Object {
    kind: String,
    table: String,
    sql: String,
}

fn objects(conn: &Tx) -> Result<BTreeMap<String, Object>> {
    let mut stmt = conn.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master")?;
    let mut rows = stmt.query([])?;
    let mut all = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let text = |i| -> rusqlite::Result<String> {
            Ok(r.get_ref(i)?.as_bytes_or_null()?.map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default())
        };
        let sql = text(3)?.split_whitespace().collect::<Vec<_>>().join(" ");
        all.insert(text(1)?, Object { kind: text(0)?, table: text(2)?, sql });
    }
    Ok(all)
}

/// The schema version a file holds (`PRAGMA user_version`).
fn version_of(conn: &Tx) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// The schema the first `version` embedded migrations build, in memory: what a file of that version holds.
fn expected(version: i64) -> Result<Connection> {
    let mut conn = Connection::open_in_memory()?;
    migrate::migrate_to(&mut conn, version)?;
    Ok(conn)
}

/// A file of an older schema version than this program's (a bank read without writing, an old backup): not a
/// difference, since its schema is checked against its own version's, but worth saying.
pub(crate) fn older_schema(live: &Tx) -> Result<Option<String>> {
    let version = version_of(live)?;
    Ok((version < migrate::LATEST_VERSION).then(|| {
        format!(
            "schema version {version}, older than this program's ({}): upgraded on the first write",
            migrate::LATEST_VERSION
        )
    }))
}

fn columns(conn: &Tx, table: &str) -> Result<BTreeMap<String, String>> {
    let mut stmt = conn.prepare("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)")?;
    let rows = stmt.query_map([table], |r| {
        let notnull: bool = r.get(2)?;
        let default: Option<String> = r.get(3)?;
        let pk: i64 = r.get(4)?;
        let mut shape = r.get::<_, String>(1)?;
        if notnull {
            shape.push_str(" NOT NULL");
        }
        if let Some(d) = default {
            let _ = write!(shape, " DEFAULT {d}");
        }
        if pk > 0 {
            shape.push_str(" PRIMARY KEY");
        }
        Ok((r.get::<_, String>(0)?, shape))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every difference between the live schema and the one the program builds for the file's own schema version,
/// one sentence each.
pub(crate) fn differences(live: &Tx) -> Result<Vec<String>> {
    let mut want_db = expected(version_of(live)?)?;
    let want_tx = want_db.transaction()?;
    let want_conn = Tx(&want_tx);
    let (want, have) = (objects(&want_conn)?, objects(live)?);
    let mut found = Vec::new();
    for (name, w) in &want {
        match have.get(name) {
            None => found.push(format!("{} {name} (on {}) is missing: dropped outside stoolbank", w.kind, w.table)),
            Some(h) if h == w => {}
            Some(h) if w.kind == "table" && h.kind == "table" => {
                let (wc, hc) = (columns(&want_conn, name)?, columns(live, name)?);
                let before = found.len();
                for (col, shape) in &wc {
                    match hc.get(col) {
                        None => found.push(format!("table {name}: column {col} is missing")),
                        Some(s) if s != shape => {
                            found.push(format!("table {name}: column {col} changed from `{shape}` to `{s}`"));
                        }
                        Some(_) => {}
                    }
                }
                for col in hc.keys().filter(|c| !wc.contains_key(*c)) {
                    found.push(format!("table {name}: column {col} was added"));
                }
                if found.len() == before {
                    found.push(format!("table {name}: its constraints differ from the program's: {}", h.sql));
                }
            }
            Some(h) => found.push(format!("{} {name} differs from the program's: {}", w.kind, h.sql)),
        }
    }
    for (name, h) in have.iter().filter(|(n, _)| !want.contains_key(*n)) {
        found.push(format!(
            "{} {name} (on {}) is not the program's: planted outside stoolbank: {}",
            h.kind, h.table, h.sql
        ));
    }
    Ok(found)
}

/// What a column holds, and the test a stored value of it must pass.
type Shape = (&'static str, fn(&str) -> bool);

/// How a column's values are shaped, by the schema's naming convention (schema.sql: timestamps `…_at`, dates
/// `…_date`, `…_on`, `date`, `until`).
fn shape_of(column: &str) -> Option<Shape> {
    if column == "at" || column.ends_with("_at") {
        Some(("timestamp", |s| time::from_db(s).is_some()))
    } else if column == "date" || column == "until" || column.ends_with("_date") || column.ends_with("_on") {
        Some(("date", |s| time::parse_date(s).is_ok()))
    } else {
        None
    }
}

/// Every stored timestamp or date no reader can parse (for instance a negative year an old version accepted).
pub(crate) fn unreadable_values(conn: &Tx) -> Result<Vec<String>> {
    let mut want_db = expected(version_of(conn)?)?;
    let want_tx = want_db.transaction()?;
    let want = Tx(&want_tx);
    let mut found = Vec::new();
    for (name, o) in objects(&want)? {
        if o.kind != "table" {
            continue;
        }
        for column in columns(&want, &name)?.into_keys() {
            let Some((what, readable)) = shape_of(&column) else { continue };
            // A table or column that is not there is a schema difference, named by `differences`.
            let sql = format!("SELECT rowid, \"{column}\" FROM \"{name}\" WHERE \"{column}\" IS NOT NULL");
            let Ok(mut stmt) = conn.prepare(&sql) else { continue };
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let ok = match r.get_ref(1)? {
                    ValueRef::Text(t) => std::str::from_utf8(t).is_ok_and(readable),
                    _ => false,
                };
                if !ok {
                    let shown = super::audit::lossy(r.get_ref(1)?);
                    let rowid: i64 = r.get(0)?;
                    found.push(format!("{name} row {rowid}: {column} `{shown}` is not a {what} this program can read"));
                }
            }
        }
    }
    Ok(found)
}
