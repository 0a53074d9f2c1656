//! The live schema against the one this program embeds, and stored values against the shapes the program
//! writes. A dropped append-only trigger, a planted trigger, an extra index or a changed column is named, as is a
//! timestamp no reader can parse.

use std::collections::{BTreeMap, BTreeSet};
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
    let mut rows = stmt.query(())?;
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
    Ok(conn.query_row("PRAGMA user_version", (), |r| r.get(0))?)
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

/// On a server: each of the schema's triggers (the refusals of DELETE, TRUNCATE and rewriting the audit log, and
/// the rules they hold) that is missing or disabled, one sentence each. Its constraints the server keeps itself;
/// its triggers an owner can drop or disable, as a tamperer drops them in a file.
pub(crate) fn server_trigger_differences(live: &Tx) -> Result<Vec<String>> {
    let mut expected: BTreeSet<String> = super::server::SCHEMA
        .split("CREATE TRIGGER ")
        .skip(1)
        .filter_map(|s| s.split_whitespace().next())
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(String::from)
        .collect();
    for table in live.tables()? {
        expected.extend(["no_delete", "no_truncate"].map(|t| format!("{table}_{t}")));
    }
    let mut stmt = live.prepare_cached(
        "SELECT t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND c.relnamespace = current_schema()::regnamespace",
    )?;
    let live: BTreeSet<String> = stmt.query_map((), |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(expected.difference(&live).map(|name| format!("trigger {name} is missing or disabled")).collect())
}

/// Every difference between the live schema and the one the program builds for the file's own schema version,
/// one sentence each.
pub(crate) fn differences(live: &Tx) -> Result<Vec<String>> {
    let mut want_db = expected(version_of(live)?)?;
    let want_tx = want_db.transaction()?;
    let digest = super::secret::IdentityDigest::default();
    let want_conn = Tx::new(super::Conn::Lite(&want_tx), &digest);
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

/// The audit log's timestamps no reader can parse (`at`, then `recorded_at`), named as the audit chain's walk
/// reads each entry, so that the values pass need not read the log again.
#[derive(Default)]
pub(crate) struct LogValues {
    at: Vec<String>,
    recorded_at: Vec<String>,
}

/// The audit log's shaped columns, whose values [`LogValues`] checks.
const LOG_SHAPED: [&str; 2] = ["at", "recorded_at"];

impl LogValues {
    /// Entry `seq`'s `at` and `recorded_at`.
    pub(crate) fn check(&mut self, seq: i64, at: ValueRef, recorded_at: ValueRef) {
        for (found, column, v) in
            [(&mut self.at, LOG_SHAPED[0], at), (&mut self.recorded_at, LOG_SHAPED[1], recorded_at)]
        {
            if let Some(shape) = shape_of(column) {
                found.extend(unreadable("audit_log", column, shape, v, seq));
            }
        }
    }
}

/// Every stored timestamp or date no reader can parse (for instance a negative year an old version accepted).
/// A table's shaped columns are read in one scan and named column by column; the audit log's entries after 0 (the
/// chain) were checked by its walk when `log` is given.
pub(crate) fn unreadable_values(conn: &Tx, log: Option<LogValues>) -> Result<Vec<String>> {
    let mut want_db = expected(version_of(conn)?)?;
    let want_tx = want_db.transaction()?;
    let digest = super::secret::IdentityDigest::default();
    let want = Tx::new(super::Conn::Lite(&want_tx), &digest);
    let mut found = Vec::new();
    let mut log = log.map(|l| [l.at, l.recorded_at]);
    for (name, o) in objects(&want)? {
        if o.kind != "table" {
            continue;
        }
        let shaped: Vec<(String, Shape)> =
            columns(&want, &name)?.into_keys().filter_map(|c| Some((c.clone(), shape_of(&c)?))).collect();
        if shaped.is_empty() {
            continue;
        }
        let walked = if name == "audit_log" && shaped.iter().map(|(c, _)| c.as_str()).eq(LOG_SHAPED) {
            log.take()
        } else {
            None
        };
        let list = shaped.iter().map(|(c, _)| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let only = if walked.is_some() { " WHERE rowid <= 0" } else { "" };
        match conn.prepare(&format!("SELECT rowid, {list} FROM \"{name}\"{only}")) {
            Ok(mut stmt) => {
                let mut by_column = vec![Vec::new(); shaped.len()];
                let mut rows = stmt.query(())?;
                while let Some(r) = rows.next()? {
                    let rowid: i64 = r.get(0)?;
                    for (i, (column, shape)) in shaped.iter().enumerate() {
                        by_column[i].extend(unreadable(&name, column, *shape, r.get_ref(i + 1)?, rowid));
                    }
                }
                for (column, walked) in by_column.iter_mut().zip(walked.into_iter().flatten()) {
                    column.extend(walked);
                }
                found.extend(by_column.into_iter().flatten());
            }
            // A table or column that is not there is a schema difference, named by `differences`; the columns
            // that are there are read one by one.
            Err(_) => {
                for (column, shape) in &shaped {
                    let sql = format!("SELECT rowid, \"{column}\" FROM \"{name}\"");
                    let Ok(mut stmt) = conn.prepare(&sql) else { continue };
                    let mut rows = stmt.query(())?;
                    while let Some(r) = rows.next()? {
                        found.extend(unreadable(&name, column, *shape, r.get_ref(1)?, r.get(0)?));
                    }
                }
            }
        }
    }
    Ok(found)
}

/// A value of the shape no reader can parse, named (NULL is no value).
fn unreadable(table: &str, column: &str, (what, readable): Shape, v: ValueRef, rowid: i64) -> Option<String> {
    let ok = match v {
        ValueRef::Null => true,
        ValueRef::Text(t) => std::str::from_utf8(t).is_ok_and(readable),
        _ => false,
    };
    (!ok).then(|| {
        let shown = super::audit::lossy(v);
        format!("{table} row {rowid}: {column} `{shown}` is not a {what} this program can read")
    })
}
