//! schema.pg.sql holds the guarantees of the `SQLite` schema (issue 14). The `SQLite` side is the schema of a bank made by
//! the program (`stoolbank init`), read through `SQLite`'s own catalogue; the `PostgreSQL` side is schema.pg.sql applied
//! to a throw-away database on the server `STOOLBANK_TEST_PG` names (tests/common/pg.rs; skipped without one, never
//! under `CI`). Compared: tables, columns in order with their types, NOT NULL, defaults and identity, primary keys,
//! foreign keys, UNIQUE constraints, the columns each CHECK reads, indexes and triggers; then behaviour: the same
//! rows in both, and every column a CHECK reads set to every probe (each enumerated value and values outside, dates,
//! timestamps, JSON, shapes, NULL) must be accepted or refused alike, partial indexes must hold the same rows, and
//! DELETE, TRUNCATE and the append-only log's UPDATE must be refused with `SQLite`'s messages.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use common::pg::{self, PgDb};
use common::Bench;
use postgres::types::ToSql;
use rusqlite::Connection;

const SCHEMA_PG: &str = include_str!("../schema.pg.sql");

/// `PostgreSQL`'s counterpart of `PRAGMA application_id` and `user_version`: a table `SQLite` has no need of.
const MARKER: &str = "stoolbank_schema";

/// Text compared by bytes: `SQLite`'s BINARY, `PostgreSQL`'s "C".
const BYTE_ORDER: &str = "C";

// ---------------------------------------------------------------------------------------------------------------
// The two databases

/// A fresh bank made by the program, and schema.pg.sql on a throw-away `PostgreSQL` database; None without a server.
struct Both {
    /// Kept for its directory, which holds the bank file.
    _bench: Bench,
    sqlite: Connection,
    pg: PgDb,
}

fn both(test: &str) -> Option<Both> {
    let server = pg::server(test)?;
    let bench = Bench::new();
    let sqlite = Connection::open_with_flags(&bench.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open bank");
    let mut pg = PgDb::new(server);
    pg.client.batch_execute(SCHEMA_PG).unwrap_or_else(|e| panic!("schema.pg.sql does not apply: {}", pg_error(&e)));
    Some(Both { _bench: bench, sqlite, pg })
}

impl Both {
    /// An empty, writable copy of the bank's schema (every table, index and trigger as the program made them),
    /// with foreign keys enforced as the program enforces them: the `SQLite` side of the behaviour tests.
    fn sqlite_copy(&self) -> Connection {
        let copy = Connection::open_in_memory().expect("in-memory database");
        copy.execute_batch("PRAGMA foreign_keys = ON").expect("foreign keys on");
        let mut stmt = self
            .sqlite
            .prepare(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 ORDER BY type = 'trigger', type = 'index', rowid",
            )
            .expect("read schema");
        let all: Vec<String> = stmt.query_map([], |r| r.get(0)).expect("schema").map(|r| r.expect("sql")).collect();
        for sql in all {
            copy.execute_batch(&sql).unwrap_or_else(|e| panic!("copy of the bank's schema: {e}: {sql}"));
        }
        copy
    }
}

/// The first `n` lines of a list of differences, and how many more there are.
fn first(diffs: &[String], n: usize) -> String {
    let mut shown = diffs.iter().take(n).cloned().collect::<Vec<_>>().join("\n  ");
    if diffs.len() > n {
        let _ = write!(shown, "\n  ... and {} more", diffs.len() - n);
    }
    shown
}

fn pg_error(e: &postgres::Error) -> String {
    e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string())
}

// ---------------------------------------------------------------------------------------------------------------
// Each schema, read into one shape

#[derive(Default, Debug)]
struct Table {
    /// Each column as `name type [NOT NULL] [DEFAULT d] [IDENTITY] [COLLATE c]`, in order.
    columns: Vec<String>,
    primary_key: Vec<String>,
    foreign_keys: BTreeSet<String>,
    uniques: BTreeSet<String>,
    /// Each CHECK as the columns it reads, `(a, b)`, sorted.
    checks: Vec<String>,
}

#[derive(Default, Debug)]
struct Schema {
    tables: BTreeMap<String, Table>,
    /// Named indexes (not those behind a key or UNIQUE): `ON table (columns) [UNIQUE] [partial]`.
    indexes: BTreeMap<String, String>,
    /// Partial indexes' predicates, by index name, in the dialect's own SQL.
    predicates: BTreeMap<String, (String, String)>,
    /// Triggers: `ON table BEFORE DELETE FOR EACH ROW [WHEN] 'message'`.
    triggers: BTreeMap<String, String>,
}

fn column(
    name: &str,
    ty: &str,
    not_null: bool,
    default: Option<&str>,
    identity: bool,
    collation: Option<&str>,
) -> String {
    let mut s = format!("{name} {ty}");
    if not_null {
        s.push_str(" NOT NULL");
    }
    if let Some(d) = default {
        let _ = write!(s, " DEFAULT {d}");
    }
    if identity {
        s.push_str(" IDENTITY");
    }
    if let Some(c) = collation {
        let _ = write!(s, " COLLATE {c}");
    }
    s
}

fn list(names: &[String]) -> String {
    format!("({})", names.join(", "))
}

/// `SQLite`'s column types and their `PostgreSQL` translations.
fn pg_type(sqlite: &str) -> &'static str {
    match sqlite.to_ascii_uppercase().as_str() {
        "TEXT" => "text",
        "INTEGER" => "bigint",
        "REAL" => "double precision",
        "BLOB" => "bytea",
        // audit_log.hash: format 1's text or format 2's bytes on SQLite, format 2's bytes only on PostgreSQL.
        "ANY" => "bytea",
        other => panic!("SQLite column type {other} has no PostgreSQL translation here"),
    }
}

fn sqlite_schema(c: &Connection) -> Schema {
    let rows = |sql: &str, arg: &str| -> Vec<Vec<rusqlite::types::Value>> {
        let mut stmt = c.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let n = stmt.column_count();
        stmt.query_map([arg], |r| (0..n).map(|i| r.get(i)).collect())
            .and_then(Iterator::collect)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let text = |v: &rusqlite::types::Value| match v {
        rusqlite::types::Value::Text(s) => Some(s.clone()),
        rusqlite::types::Value::Integer(i) => Some(i.to_string()),
        _ => None,
    };
    let int = |v: &rusqlite::types::Value| match v {
        rusqlite::types::Value::Integer(i) => *i,
        _ => 0,
    };
    let mut schema = Schema::default();
    let tables = rows(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND ?1 = ?1",
        "",
    );
    for t in &tables {
        let (name, sql) = (text(&t[0]).expect("name"), text(&t[1]).expect("sql"));
        let mut table = Table::default();
        let cols =
            rows("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid", &name);
        let pk_count = cols.iter().filter(|c| int(&c[4]) > 0).count();
        let mut pk: Vec<(i64, String)> = Vec::new();
        for c in &cols {
            let (col, ty) = (text(&c[0]).expect("column"), text(&c[1]).expect("type"));
            let in_pk = int(&c[4]) > 0;
            if in_pk {
                pk.push((int(&c[4]), col.clone()));
            }
            let pg = pg_type(&ty);
            // An INTEGER PRIMARY KEY is the rowid: numbered when left out, never NULL; a STRICT table's key is
            // NOT NULL too (the NULL probes of checks_behave_as_on_sqlite hold SQLite to this).
            let identity = ty.eq_ignore_ascii_case("INTEGER") && in_pk && pk_count == 1;
            let not_null = int(&c[2]) != 0 || in_pk;
            let collation = (pg == "text").then_some(BYTE_ORDER);
            table.columns.push(column(&col, pg, not_null, text(&c[3]).as_deref(), identity, collation));
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, c)| c).collect();
        let mut fks: BTreeMap<i64, (String, Vec<String>, Vec<String>)> = BTreeMap::new();
        for f in rows("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq", &name)
        {
            let e = fks.entry(int(&f[0])).or_insert_with(|| (text(&f[1]).expect("table"), vec![], vec![]));
            e.1.push(text(&f[2]).expect("from"));
            e.2.push(text(&f[3]).unwrap_or_else(|| "(its key)".into()));
        }
        table.foreign_keys =
            fks.into_values().map(|(t, from, to)| format!("{} -> {t} {}", list(&from), list(&to))).collect();
        for ix in rows("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1)", &name) {
            let ix_name = text(&ix[0]).expect("index name");
            let cols: Vec<String> = rows("SELECT name FROM pragma_index_info(?1) ORDER BY seqno", &ix_name)
                .iter()
                .map(|r| text(&r[0]).unwrap_or_else(|| "(expression)".into()))
                .collect();
            match text(&ix[2]).as_deref() {
                Some("pk") => {}
                Some("u") => {
                    table.uniques.insert(list(&cols));
                }
                _ => {
                    let (unique, partial) = (int(&ix[1]) != 0, int(&ix[3]) != 0);
                    schema.indexes.insert(ix_name.clone(), index(&name, &cols, unique, partial));
                    if partial {
                        let sql = rows("SELECT sql FROM sqlite_master WHERE name = ?1", &ix_name);
                        let sql = text(&sql[0][0]).expect("index sql");
                        let at = sql.rfind(" WHERE ").or_else(|| sql.rfind("\n    WHERE ")).expect("WHERE");
                        let predicate = sql[at..].trim_start().trim_start_matches("WHERE").trim().to_string();
                        schema.predicates.insert(ix_name, (name.clone(), predicate));
                    }
                }
            }
        }
        let names: Vec<String> = cols.iter().map(|c| text(&c[0]).expect("column")).collect();
        let mut checks: Vec<String> = ddl_checks(&sql).iter().map(|(_, e)| list(&read_columns(e, &names))).collect();
        checks.sort();
        table.checks = checks;
        schema.tables.insert(name, table);
    }
    for t in rows("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' AND ?1 = ?1", "") {
        let (name, table, sql) = (text(&t[0]).expect("name"), text(&t[1]).expect("table"), text(&t[2]).expect("sql"));
        let folded = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let upper = folded.to_ascii_uppercase();
        let event = ["INSERT", "UPDATE", "DELETE"]
            .into_iter()
            .find(|e| upper.contains(&format!("BEFORE {e} ON")))
            .unwrap_or_else(|| panic!("trigger {name}: not a BEFORE INSERT, UPDATE or DELETE trigger: {sql}"));
        let when = upper.split(" BEGIN ").next().is_some_and(|head| head.contains(" WHEN "));
        let message = folded
            .split("RAISE(ABORT, '")
            .nth(1)
            .and_then(|m| m.split("')").next())
            .unwrap_or_else(|| panic!("trigger {name}: no RAISE(ABORT, '...'): {sql}"));
        schema.triggers.insert(name, trigger(&table, "BEFORE", event, true, when, message));
    }
    schema
}

fn index(table: &str, columns: &[String], unique: bool, partial: bool) -> String {
    format!(
        "ON {table} {}{}{}",
        list(columns),
        if unique { " UNIQUE" } else { "" },
        if partial { " partial" } else { "" }
    )
}

fn trigger(table: &str, timing: &str, event: &str, row: bool, when: bool, message: &str) -> String {
    format!(
        "ON {table} {timing} {event} FOR EACH {}{} '{message}'",
        if row { "ROW" } else { "STATEMENT" },
        if when { " WHEN" } else { "" }
    )
}

fn pg_schema(c: &mut postgres::Client) -> Schema {
    let mut query = |sql: &str, params: &[&(dyn ToSql + Sync)]| -> Vec<postgres::Row> {
        c.query(sql, params).unwrap_or_else(|e| panic!("{sql}: {}", pg_error(&e)))
    };
    let mut schema = Schema::default();
    let tables = query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name::text <> $1",
        &[&MARKER],
    );
    for t in tables {
        let name: String = t.get(0);
        let mut table = Table::default();
        for c in query(
            "SELECT column_name::text, data_type::text, is_nullable::text = 'NO', column_default::text, \
             is_identity::text = 'YES', collation_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name::text = $1 ORDER BY ordinal_position",
            &[&name],
        ) {
            let (col, ty, default, coll): (String, String, Option<String>, Option<String>) =
                (c.get(0), c.get(1), c.get(3), c.get(5));
            table.columns.push(column(&col, &ty, c.get(2), default.as_deref(), c.get(4), coll.as_deref()));
        }
        let mut checks = Vec::new();
        for k in query(
            "SELECT con.contype::text, \
               ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i) \
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i), \
               coalesce(f.relname::text, ''), \
               ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i) \
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) \
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid LEFT JOIN pg_class f ON f.oid = con.confrelid \
             WHERE c.relname::text = $1 AND c.relnamespace = current_schema()::regnamespace",
            &[&name],
        ) {
            let (kind, cols, to_table, to_cols): (String, Vec<String>, String, Vec<String>) =
                (k.get(0), k.get(1), k.get(2), k.get(3));
            match kind.as_str() {
                "p" => table.primary_key = cols,
                "u" => {
                    table.uniques.insert(list(&cols));
                }
                "f" => {
                    table.foreign_keys.insert(format!("{} -> {to_table} {}", list(&cols), list(&to_cols)));
                }
                "c" => {
                    let mut sorted = cols;
                    sorted.sort();
                    checks.push(list(&sorted));
                }
                _ => {} // NOT NULL as a constraint (PostgreSQL 18): compared with the columns
            }
        }
        checks.sort();
        table.checks = checks;
        schema.tables.insert(name, table);
    }
    for ix in query(
        "SELECT i.relname::text, t.relname::text, ix.indisunique, ix.indpred IS NOT NULL, \
           ARRAY(SELECT CASE WHEN k.n = 0 THEN '(expression)' ELSE \
                   (SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = ix.indrelid AND a.attnum = k.n) END \
                 FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(n, i) ORDER BY k.i), \
           coalesce(pg_get_expr(ix.indpred, ix.indrelid), '') \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid \
         WHERE t.relnamespace = current_schema()::regnamespace AND t.relname::text <> $1 \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE contype IN ('p', 'u') AND conindid = ix.indexrelid)",
        &[&MARKER],
    ) {
        let (name, table, cols, predicate): (String, String, Vec<String>, String) =
            (ix.get(0), ix.get(1), ix.get(4), ix.get(5));
        schema.indexes.insert(name.clone(), index(&table, &cols, ix.get(2), ix.get(3)));
        if ix.get::<_, bool>(3) {
            schema.predicates.insert(name, (table, predicate));
        }
    }
    for t in query(
        "SELECT tg.tgname::text, c.relname::text, tg.tgtype::int4, tg.tgqual IS NOT NULL, tg.tgargs \
         FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid \
         WHERE NOT tg.tgisinternal AND c.relnamespace = current_schema()::regnamespace",
        &[],
    ) {
        let (name, table, ty, args): (String, String, i32, Vec<u8>) = (t.get(0), t.get(1), t.get(2), t.get(4));
        // pg_trigger.tgtype: 1 row, 2 before, 4 insert, 8 delete, 16 update, 32 truncate, 64 instead.
        let timing = if ty & 2 != 0 {
            "BEFORE"
        } else if ty & 64 != 0 {
            "INSTEAD OF"
        } else {
            "AFTER"
        };
        let events: Vec<&str> = [(4, "INSERT"), (8, "DELETE"), (16, "UPDATE"), (32, "TRUNCATE")]
            .iter()
            .filter(|(b, _)| ty & b != 0)
            .map(|(_, e)| *e)
            .collect();
        let message = String::from_utf8_lossy(args.split(|b| *b == 0).next().unwrap_or_default()).into_owned();
        schema.triggers.insert(name, trigger(&table, timing, &events.join(" OR "), ty & 1 != 0, t.get(3), &message));
    }
    schema
}

// ---------------------------------------------------------------------------------------------------------------
// SQLite's CREATE TABLE read: its CHECKs, the columns each reads, and its enumerations

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Num(String),
    Sym(char),
}

/// SQL split into words, 'strings', numbers and symbols; `--` comments dropped.
fn tokens(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        s.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Token::Str(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Num(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' || c == '"' {
            let quoted = c == '"';
            let start = if quoted { i + 1 } else { i };
            i = start;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || (quoted && chars[i] != '"')) {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
            if quoted {
                i += 1;
            }
        } else {
            out.push(Token::Sym(c));
            i += 1;
        }
    }
    out
}

fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(x) if x.eq_ignore_ascii_case(w))
}

/// The CHECKs of a CREATE TABLE: (the column it is written on, or None for a table constraint; its expression).
fn ddl_checks(create_table: &str) -> Vec<(Option<String>, Vec<Token>)> {
    let toks = tokens(create_table);
    let open = toks.iter().position(|t| *t == Token::Sym('(')).expect("CREATE TABLE (");
    // The items of the body, split at its top-level commas.
    let (mut items, mut item, mut depth) = (Vec::new(), Vec::new(), 0);
    for t in &toks[open + 1..] {
        match t {
            Token::Sym('(') => depth += 1,
            Token::Sym(')') if depth == 0 => break,
            Token::Sym(')') => depth -= 1,
            Token::Sym(',') if depth == 0 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(t.clone());
    }
    items.push(item);
    let mut out = Vec::new();
    for item in items {
        let owner = match item.first() {
            Some(t) if ["CHECK", "UNIQUE", "PRIMARY", "FOREIGN", "CONSTRAINT"].iter().any(|k| is_word(t, k)) => None,
            Some(Token::Word(w)) => Some(w.clone()),
            _ => None,
        };
        let mut i = 0;
        while i < item.len() {
            if is_word(&item[i], "CHECK") && item.get(i + 1) == Some(&Token::Sym('(')) {
                let (mut depth, mut j) = (0, i + 1);
                loop {
                    match item[j] {
                        Token::Sym('(') => depth += 1,
                        Token::Sym(')') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                out.push((owner.clone(), item[i + 2..j].to_vec()));
                i = j;
            }
            i += 1;
        }
    }
    out
}

/// The table's columns an expression reads.
fn read_columns(expr: &[Token], columns: &[String]) -> Vec<String> {
    let read: BTreeSet<String> = expr
        .iter()
        .filter_map(|t| match t {
            Token::Word(w) if columns.contains(w) => Some(w.clone()),
            _ => None,
        })
        .collect();
    read.into_iter().collect()
}

/// Every `column IN (v, ...)` of a CHECK whose list holds only literals: the column and its allowed values.
fn enumerations(expr: &[Token], columns: &[String]) -> Vec<(String, Vec<Token>)> {
    let mut out = Vec::new();
    for i in 0..expr.len().saturating_sub(2) {
        let Token::Word(col) = &expr[i] else { continue };
        if !columns.contains(col) || !is_word(&expr[i + 1], "IN") || expr[i + 2] != Token::Sym('(') {
            continue;
        }
        let mut values = Vec::new();
        for t in &expr[i + 3..] {
            match t {
                Token::Str(_) | Token::Num(_) => values.push(t.clone()),
                Token::Sym(',') => {}
                Token::Sym(')') => break,
                _ => {
                    values.clear();
                    break;
                }
            }
        }
        if !values.is_empty() {
            out.push((col.clone(), values));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Values in both dialects

#[derive(Clone, Debug)]
enum V {
    T(String),
    I(i64),
    R(f64),
    B(Vec<u8>),
    Null,
}

fn t(s: &str) -> V {
    V::T(s.to_string())
}

/// `n` bytes, each `n`: distinct lengths are distinct values (for UNIQUE columns).
fn b(n: usize) -> V {
    V::B(vec![n as u8; n])
}

impl V {
    fn sqlite(&self) -> rusqlite::types::Value {
        use rusqlite::types::Value;
        match self {
            V::T(s) => Value::Text(s.clone()),
            V::I(i) => Value::Integer(*i),
            V::R(r) => Value::Real(*r),
            V::B(b) => Value::Blob(b.clone()),
            V::Null => Value::Null,
        }
    }

    /// As a parameter of a `PostgreSQL` column of type `ty` (a NULL is typed after its column).
    fn pg(&self, ty: &str) -> Box<dyn ToSql + Sync> {
        match (self, ty) {
            (V::T(s), _) => Box::new(s.clone()),
            (V::I(i), _) => Box::new(*i),
            (V::R(r), _) => Box::new(*r),
            (V::B(b), _) => Box::new(b.clone()),
            (V::Null, "bigint") => Box::new(None::<i64>),
            (V::Null, "double precision") => Box::new(None::<f64>),
            (V::Null, "bytea") => Box::new(None::<Vec<u8>>),
            (V::Null, _) => Box::new(None::<String>),
        }
    }

    /// The value for a message: long text cut short, with its length.
    fn shown(&self) -> String {
        match self {
            V::T(s) if s.chars().count() > 40 => {
                format!("{:?}... ({} characters)", s.chars().take(20).collect::<String>(), s.chars().count())
            }
            V::B(b) => format!("{} bytes", b.len()),
            other => format!("{other:?}"),
        }
    }

    /// The value as an enumeration lists it (text as is, an integer in decimal).
    fn listed(&self) -> Option<String> {
        match self {
            V::T(s) => Some(s.clone()),
            V::I(i) => Some(i.to_string()),
            _ => None,
        }
    }
}

/// One valid row of every table, parents first; a second row where one row cannot show every value a CHECK allows
/// (a retained unit, an excluded study record, a removed key slot) or where a key must be free of references.
fn fixture() -> Vec<(&'static str, Vec<(&'static str, V)>)> {
    let at = || t("2026-01-02T08:00:00Z");
    let (d1, d2) = ("G151726000001", "G151726000002");
    let (b1, b2) = ("G151726000001F0001", "G151726000002F0001");
    let (dose, retained) = ("G151726000001F0001A0", "G151726000001F000100");
    vec![
        ("settings", vec![("key", t("facility")), ("value", t("G1517"))]),
        (
            "donors",
            vec![("id", t("D000001")), ("sex", t("F")), ("birth_date", t("1990-04-02")), ("registered_at", at())],
        ),
        (
            "donors",
            vec![("id", t("D000002")), ("sex", t("M")), ("birth_date", t("1991-05-03")), ("registered_at", at())],
        ),
        (
            "donor_identities",
            vec![("id", V::I(1)), ("donor_id", t("D000001")), ("recorded_at", at()), ("sealed", b(48))],
        ),
        (
            "screenings",
            vec![
                ("id", V::I(1)),
                ("donor_id", t("D000001")),
                ("kind", t("blood")),
                ("date", t("2026-01-01")),
                ("recorded_at", at()),
            ],
        ),
        (
            "screening_results",
            vec![("id", V::I(1)), ("screening_id", V::I(1)), ("test", t("hiv")), ("result", t("negative"))],
        ),
        (
            "deferrals",
            vec![
                ("id", V::I(1)),
                ("donor_id", t("D000001")),
                ("reason", t("positive screening")),
                ("starts_on", t("2026-01-01")),
                ("permanent", V::I(0)),
                ("screening_id", V::I(1)),
                ("recorded_at", at()),
            ],
        ),
        (
            "deferral_lifts",
            vec![
                ("id", V::I(1)),
                ("deferral_id", V::I(1)),
                ("lifted_on", t("2026-02-01")),
                ("reason", t("cleared")),
                ("recorded_at", at()),
            ],
        ),
        (
            "donations",
            vec![
                ("id", t(d1)),
                ("donor_id", t("D000001")),
                ("year", V::I(26)),
                ("seq", V::I(1)),
                ("collected_at", at()),
                ("mass_g", V::R(120.0)),
                ("bristol", V::I(4)),
                ("recorded_at", at()),
            ],
        ),
        (
            "donations",
            vec![
                ("id", t(d2)),
                ("donor_id", t("D000001")),
                ("year", V::I(26)),
                ("seq", V::I(2)),
                ("collected_at", t("2026-01-03T08:00:00Z")),
                ("recorded_at", at()),
            ],
        ),
        (
            "batches",
            vec![
                ("id", t(b1)),
                ("donation_id", t(d1)),
                ("product", t("F0001")),
                ("prepared_at", at()),
                ("volume_ml", V::R(50.0)),
                ("expires_on", t("2026-06-01")),
                ("recorded_at", at()),
            ],
        ),
        (
            "batches",
            vec![
                ("id", t(b2)),
                ("donation_id", t(d2)),
                ("product", t("F0001")),
                ("prepared_at", at()),
                ("expires_on", t("2026-06-02")),
                ("recorded_at", at()),
            ],
        ),
        (
            "recalls",
            vec![
                ("id", V::I(1)),
                ("reason", t("donor tested positive")),
                ("selector", t("donor")),
                ("donor_id", t("D000001")),
                ("batch_id", t(b1)),
                ("from_date", t("2026-01-01")),
                ("to_date", t("2026-02-01")),
                ("at", at()),
                ("answer", t("{\"units\":[]}")),
                ("recorded_at", at()),
            ],
        ),
        (
            "recipients",
            vec![
                ("id", t("R000001")),
                ("sex", t("F")),
                ("birth_date", t("1970-01-01")),
                ("indication", t("rcdi")),
                ("cohort", t("prospective")),
                ("consent", t("signed")),
                ("registered_at", at()),
            ],
        ),
        (
            "recipients",
            vec![
                ("id", t("R000002")),
                ("sex", t("M")),
                ("birth_date", t("1971-01-01")),
                ("indication", t("rcdi")),
                ("cohort", t("retrospective")),
                ("consent", t("data-use")),
                ("registered_at", at()),
            ],
        ),
        ("units", vec![("id", t(dose)), ("batch_id", t(b1)), ("kind", t("dose"))]),
        ("units", vec![("id", t(retained)), ("batch_id", t(b1)), ("kind", t("retained"))]),
        (
            "recall_contacts",
            vec![
                ("id", V::I(1)),
                ("recall_id", V::I(1)),
                ("recipient_id", t("R000001")),
                ("unit_id", t(dose)),
                ("reason", t("dispensed before")),
                ("recorded_at", at()),
            ],
        ),
        (
            "qc_results",
            vec![
                ("id", V::I(1)),
                ("batch_id", t(b1)),
                ("test", t("appearance")),
                ("result", t("pass")),
                ("at", at()),
                ("recorded_at", at()),
            ],
        ),
        (
            "recipient_identities",
            vec![("id", V::I(1)), ("recipient_id", t("R000001")), ("recorded_at", at()), ("sealed", b(48))],
        ),
        (
            "dispenses",
            vec![
                ("id", V::I(1)),
                ("unit_id", t(dose)),
                ("recipient_id", t("R000001")),
                ("route", t("colonoscopy")),
                ("at", at()),
                ("recorded_at", at()),
            ],
        ),
        (
            "label_prints",
            vec![
                ("id", V::I(1)),
                ("entity_id", t(dose)),
                ("format", t("zpl")),
                ("target", t("file")),
                ("copies", V::I(1)),
                ("reprint", V::I(0)),
                ("at", at()),
                ("recorded_at", at()),
            ],
        ),
        (
            "label_claims",
            vec![
                ("id", V::I(1)),
                ("entity_id", t(dose)),
                ("target", t("file")),
                ("reprint", V::I(0)),
                ("claimed_at", at()),
            ],
        ),
        (
            "audit_log",
            vec![
                ("seq", V::I(1)),
                ("at", at()),
                ("recorded_at", at()),
                ("actor", t("tester")),
                ("action", t("init")),
                ("entity", t("settings")),
                ("entity_id", t("facility")),
                ("subject", t("facility")),
                ("after", t("{\"value\":\"G1517\"}")),
                ("hash", b(32)),
            ],
        ),
        (
            "study_records",
            vec![
                ("id", V::I(1)),
                ("recipient_id", t("R000001")),
                ("diagnosis_date", t("2025-01-01")),
                ("at", at()),
                ("recorded_at", at()),
            ],
        ),
        (
            "study_records",
            vec![
                ("id", V::I(2)),
                ("recipient_id", t("R000002")),
                ("exclusion", t("incomplete-data")),
                ("exclusion_reason", t("no follow-up")),
                ("at", at()),
                ("recorded_at", at()),
            ],
        ),
        (
            "followups",
            vec![
                ("id", V::I(1)),
                ("recipient_id", t("R000001")),
                ("course_id", V::I(1)),
                ("timepoint", t("3m")),
                ("date", t("2026-04-01")),
                ("outcome", t("remission")),
                ("scores", t("{}")),
                ("recorded_at", at()),
            ],
        ),
        (
            "adverse_events",
            vec![
                ("id", V::I(1)),
                ("recipient_id", t("R000001")),
                ("onset", t("2026-03-01")),
                ("term", t("fever")),
                ("grade", V::I(2)),
                ("serious", V::I(0)),
                ("relatedness", t("possible")),
                ("unit_id", t(dose)),
                ("recorded_at", at()),
            ],
        ),
        (
            "users",
            vec![
                ("id", t("tester")),
                ("roles", t("admin")),
                ("password_hash", t("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")),
                ("disabled", V::I(0)),
                ("failed_attempts", V::I(0)),
                ("created_at", at()),
            ],
        ),
        (
            "signatures",
            vec![
                ("id", V::I(1)),
                ("signer", t("tester")),
                ("meaning", t("release")),
                ("entity", t("batch")),
                ("entity_id", t(b1)),
                ("audit_seq", V::I(1)),
                ("entry_hash", t("00")),
                ("signed_at", at()),
            ],
        ),
        ("policies", vec![("id", V::I(1)), ("toml", t("")), ("set_at", at())]),
        ("identity_keys", vec![("id", V::I(1)), ("public_key", b(32)), ("created_at", at()), ("reason", t("set-up"))]),
        (
            "identity_viewers",
            vec![
                ("id", V::I(1)),
                ("user_name", t("tester")),
                ("public_key", b(32)),
                ("kdf_salt", b(16)),
                ("kdf_m_kib", V::I(19456)),
                ("kdf_t", V::I(2)),
                ("kdf_p", V::I(1)),
                ("wrapped_key", b(72)),
                ("enrolled_at", at()),
            ],
        ),
        (
            "identity_key_slots",
            vec![
                ("id", V::I(1)),
                ("key_id", V::I(1)),
                ("viewer_id", V::I(1)),
                ("sealed_key", b(80)),
                ("made_at", at()),
            ],
        ),
        ("identity_key_slots", vec![("id", V::I(2)), ("key_id", V::I(1)), ("made_at", at()), ("removed_at", at())]),
    ]
}

/// Each table's `PostgreSQL` column types, by column.
fn pg_types(pg: &mut postgres::Client) -> BTreeMap<(String, String), String> {
    pg.query(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema()",
        &[],
    )
    .expect("column types")
    .iter()
    .map(|r| ((r.get(0), r.get(1)), r.get(2)))
    .collect()
}

/// Inserts the fixture into both databases: both must take every row.
fn load_fixture(sqlite: &Connection, pg: &mut postgres::Client) {
    let types = pg_types(pg);
    for (table, row) in fixture() {
        let names: Vec<&str> = row.iter().map(|(c, _)| *c).collect();
        let marks = |p: &str| (1..=row.len()).map(|i| format!("{p}{i}")).collect::<Vec<_>>().join(", ");
        let cols = names.join(", ");
        let values: Vec<rusqlite::types::Value> = row.iter().map(|(_, v)| v.sqlite()).collect();
        sqlite
            .execute(
                &format!("INSERT INTO {table} ({cols}) VALUES ({})", marks("?")),
                rusqlite::params_from_iter(values),
            )
            .unwrap_or_else(|e| panic!("fixture: SQLite refuses a row of {table}: {e}"));
        let boxed: Vec<Box<dyn ToSql + Sync>> =
            row.iter().map(|(c, v)| v.pg(&types[&(table.to_string(), (*c).to_string())])).collect();
        let params: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(AsRef::as_ref).collect();
        pg.execute(&format!("INSERT INTO {table} ({cols}) VALUES ({})", marks("$")), &params)
            .unwrap_or_else(|e| panic!("fixture: PostgreSQL refuses a row of {table}: {}", pg_error(&e)));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Probes: values every CHECKed column is set to, on both sides

fn text_probes() -> Vec<String> {
    let mut p: Vec<&str> = vec![
        "",
        " ",
        "x",
        "  x  ",
        "not-a-value",
        "F ",
        "f",
        "m",
        "Dose",
        // identifiers, codes and shapes
        "D123456",
        "D12345",
        "D1234567",
        "d123456",
        "D12345a",
        "D١٢٣٤٥٦",
        "R123456",
        "R12345",
        "r123456",
        "F0001",
        "f0001",
        "F001",
        "FF0001",
        "Z9999",
        "É0001",
        "hiv",
        "hiv-1",
        "-hiv",
        "1-",
        "Hiv",
        "hiv 1",
        "hiv_1",
        "h",
        "G151726000001",
        "G15172600000",
        "G1517260000011",
        "ééééééééééééé",
        "G151726000001F0001",
        "G151726000001F000",
        "G151726000001F0001A0",
        "G151726000001F000100",
        "G151726000001F0001B00",
        "$argon2id$v=19$m=19456",
        "$ARGON2ID$x",
        "$Argon2Id$",
        "$argon2id$",
        "$argon2i$x",
        "argon2id$",
        "x$argon2id$",
        // dates (date(x) IS x)
        "2026-01-01",
        "2025-12-31",
        "2026-01-02",
        "2026-12-31",
        "2024-02-29",
        "2023-02-29",
        "1900-02-29",
        "2000-02-29",
        "2023-02-30",
        "2023-04-31",
        "2023-04-30",
        "2023-13-01",
        "2023-00-10",
        "2023-01-00",
        "2023-01-32",
        "0000-01-01",
        "0000-02-29",
        "-0000-01-01",
        "-0001-01-01",
        "-0100-02-29",
        "-0400-02-29",
        "-4713-11-24",
        "-4713-11-25",
        "-4714-01-01",
        "9999-12-31",
        " 2023-01-01",
        "2023-01-01 ",
        "+2023-01-01",
        "2023-1-01",
        "20230101",
        "2023/01/01",
        "2023-01-01T00:00:00Z",
        "٢٠٢٣-01-01",
        "2023-01-01\n",
        // timestamps (strftime('%Y-%m-%dT%H:%M:%SZ', x) IS x)
        "2026-01-02T08:00:00Z",
        "2026-01-01T00:00:00Z",
        "2026-01-02T24:00:00Z",
        "2026-01-02T23:59:59Z",
        "2026-01-02T23:59:60Z",
        "2026-01-02T23:60:00Z",
        "2026-02-30T08:00:00Z",
        "2024-02-29T08:00:00Z",
        "2026-01-02T08:00:00z",
        "2026-01-02T08:00:00.000Z",
        "2026-01-02T08:00Z",
        "2026-01-02 08:00:00Z",
        "2026-01-02T08:00:00",
        "2026-01-02T08:00:00+00:00",
        "2026-01-02t08:00:00Z",
        "2026-01-02T8:00:00Z",
        "-1000-01-01T00:00:00Z",
        "-0999-01-01T00:00:00Z",
        "-4713-11-24T12:00:00Z",
        "-4713-11-24T11:59:59Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        // JSON (json_valid(x))
        "{}",
        "[]",
        "[1,2]",
        "{\"a\":1}",
        "null",
        "true",
        "1",
        "-1.5e3",
        "\"x\"",
        " {} ",
        "\t{}\n",
        "{",
        "{\"a\":}",
        "{a:1}",
        "{'a':1}",
        "[1,]",
        "{\"a\":1,}",
        "NaN",
        "Infinity",
        "01",
        "1.",
        ".5",
        "+1",
        "\"\\u0000\"",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "\"\\udc00\\ud800\"",
        "\"\\ud83d\\ude00\"",
        "\"tab\there\"",
        "/* c */ {}",
        "0x10",
        "[1] x",
        "{\"a\":1}{\"b\":2}",
        "\u{feff}{}",
        "\"\\x41\"",
        "'x'",
    ];
    // SQLite's JSON parser nests at most 1000 deep (JSON_MAX_DEPTH).
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let long = ["u".repeat(64), "u".repeat(65), nested(999), nested(1000), nested(1001), nested(2000)];
    // Brackets inside strings (one after an escaped quote) do not nest.
    let in_strings = [format!("[\"{}\"]", "[".repeat(1001)), format!("[\"\\\"{}\"]", "{".repeat(1001))];
    p.extend(long.iter().chain(&in_strings).map(String::as_str));
    p.into_iter().map(String::from).collect()
}

fn probes(ty: &str, enumerated: &BTreeSet<String>) -> Vec<V> {
    let mut out = vec![V::Null];
    match ty {
        "text" => {
            let mut all: BTreeSet<String> = text_probes().into_iter().collect();
            all.extend(enumerated.iter().cloned());
            out.extend(all.into_iter().map(V::T));
        }
        "bigint" => out.extend(
            [i64::MIN, -1, 0, 1, 2, 4, 5, 6, 7, 8, 15, 16, 99, 100, 999, 1000, 19456, 999_999, 1_000_000, i64::MAX]
                .map(V::I),
        ),
        "double precision" => {
            out.extend([-1.0, -0.0, 0.0, 1e-300, 0.5, 120.0, f64::INFINITY, f64::NEG_INFINITY].map(V::R));
        }
        "bytea" => out.extend([0, 1, 15, 16, 17, 31, 32, 33, 64].map(b)),
        other => panic!("no probes for type {other}"),
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// The tests

#[test]
fn schema_is_sqlites_table_by_table() {
    let Some(mut db) = both("schema_is_sqlites_table_by_table") else { return };
    let want = sqlite_schema(&db.sqlite);
    let have = pg_schema(&mut db.pg.client);
    let mut diffs = Vec::new();
    let (want_tables, have_tables): (BTreeSet<_>, BTreeSet<_>) =
        (want.tables.keys().collect(), have.tables.keys().collect());
    for t in want_tables.difference(&have_tables) {
        diffs.push(format!("table {t} is missing on PostgreSQL"));
    }
    for t in have_tables.difference(&want_tables) {
        diffs.push(format!("table {t} is on PostgreSQL only"));
    }
    for (name, w) in &want.tables {
        let Some(h) = have.tables.get(name) else { continue };
        for i in 0..w.columns.len().max(h.columns.len()) {
            let (wc, hc) = (w.columns.get(i), h.columns.get(i));
            if wc != hc {
                let show = |c: Option<&String>| c.map_or_else(|| "(none)".to_string(), |c| format!("`{c}`"));
                diffs.push(format!("table {name} column {}: SQLite {}, PostgreSQL {}", i + 1, show(wc), show(hc)));
            }
        }
        if w.primary_key != h.primary_key {
            diffs.push(format!("table {name}: primary key SQLite {:?}, PostgreSQL {:?}", w.primary_key, h.primary_key));
        }
        let sets = [("foreign key", &w.foreign_keys, &h.foreign_keys), ("UNIQUE", &w.uniques, &h.uniques)];
        for (what, ws, hs) in sets {
            for x in ws.difference(hs) {
                diffs.push(format!("table {name}: {what} {x} is missing on PostgreSQL"));
            }
            for x in hs.difference(ws) {
                diffs.push(format!("table {name}: {what} {x} is on PostgreSQL only"));
            }
        }
        if w.checks != h.checks {
            diffs.push(format!(
                "table {name}: the CHECKs read these columns on SQLite {:?}, on PostgreSQL {:?}",
                w.checks, h.checks
            ));
        }
    }
    let pairs = [("index", &want.indexes, &have.indexes), ("trigger", &want.triggers, &have.triggers)];
    for (what, w, h) in pairs {
        for (name, sw) in w {
            match h.get(name) {
                None => diffs.push(format!("{what} {name} ({sw}) is missing on PostgreSQL")),
                Some(sh) if sh != sw => diffs.push(format!("{what} {name}: SQLite {sw}, PostgreSQL {sh}")),
                Some(_) => {}
            }
        }
    }
    for name in have.indexes.keys().filter(|n| !want.indexes.contains_key(*n)) {
        diffs.push(format!("index {name} ({}) is on PostgreSQL only", have.indexes[name]));
    }
    // PostgreSQL's own: TRUNCATE (which skips DELETE triggers) refused on every table, and the marker's DELETE.
    let mut extra: BTreeMap<String, String> = have
        .tables
        .keys()
        .chain([&MARKER.to_string()])
        .map(|t| {
            let message = if t == "audit_log" { "audit_log is append-only" } else { "records are never deleted" };
            (format!("{t}_no_truncate"), trigger(t, "BEFORE", "TRUNCATE", false, false, message))
        })
        .collect();
    extra.insert(
        format!("{MARKER}_no_delete"),
        trigger(MARKER, "BEFORE", "DELETE", true, false, "records are never deleted"),
    );
    for (name, sh) in have.triggers.iter().filter(|(n, _)| !want.triggers.contains_key(*n)) {
        match extra.remove(name) {
            Some(e) if e == *sh => {}
            Some(e) => diffs.push(format!("trigger {name}: should be {e}, is {sh}")),
            None => diffs.push(format!("trigger {name} ({sh}) is on PostgreSQL only")),
        }
    }
    for (name, e) in extra {
        diffs.push(format!("trigger {name} ({e}) is missing on PostgreSQL"));
    }
    // DELETE refused on every table: on SQLite as the program made it, and so on PostgreSQL.
    for (side, schema) in [("SQLite", &want), ("PostgreSQL", &have)] {
        for t in schema.tables.keys() {
            let deletes = format!("ON {t} BEFORE DELETE FOR EACH ROW ");
            if !schema.triggers.values().any(|tr| tr.starts_with(&deletes)) {
                diffs.push(format!("{side}: table {t} has no trigger refusing DELETE"));
            }
        }
    }
    assert!(diffs.is_empty(), "schema.pg.sql differs from the bank's SQLite schema:\n  {}", diffs.join("\n  "));
    assert_eq!(want.tables.len(), 28, "the SQLite schema's tables (update this count with schema.sql)");
}

#[test]
fn checks_behave_as_on_sqlite() {
    let Some(mut db) = both("checks_behave_as_on_sqlite") else { return };
    let want = sqlite_schema(&db.sqlite);
    let have = pg_schema(&mut db.pg.client);
    let sqlite = db.sqlite_copy();
    let pg = &mut db.pg.client;
    load_fixture(&sqlite, pg);
    let fixture = fixture();
    let fixed: BTreeSet<&str> = fixture.iter().map(|(t, _)| *t).collect();
    let missing: Vec<&String> = want.tables.keys().filter(|t| !fixed.contains(t.as_str())).collect();
    assert!(missing.is_empty(), "the fixture has no row of {missing:?}: every table needs one");
    // The UPDATE refusals are tested in deletes_and_log_updates_are_refused_as_on_sqlite; here they would hide
    // the CHECKs of the tables they guard.
    for tr in ["audit_log_no_update", "signatures_no_update", "policies_no_update"] {
        sqlite.execute_batch(&format!("DROP TRIGGER {tr}")).expect("drop trigger on the copy");
    }
    pg.batch_execute(
        "DROP TRIGGER audit_log_no_update ON audit_log; DROP TRIGGER signatures_no_update ON signatures; \
         DROP TRIGGER policies_no_update ON policies; BEGIN",
    )
    .expect("drop triggers on the throw-away database");

    // Every column a CHECK or a partial index reads, and each enumeration, from the bank's own DDL.
    let mut probed: BTreeSet<(String, String)> = BTreeSet::new();
    let mut enums: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut stmt = sqlite.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table'").expect("tables");
    let ddl: Vec<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("tables").map(|r| r.expect("table")).collect();
    let types = pg_types(pg);
    for (table, sql) in &ddl {
        let columns: Vec<String> = types.keys().filter(|(t, _)| t == table).map(|(_, c)| c.clone()).collect();
        for (_, expr) in ddl_checks(sql) {
            for c in read_columns(&expr, &columns) {
                probed.insert((table.clone(), c));
            }
            for (c, values) in enumerations(&expr, &columns) {
                let shown = values.iter().map(|v| match v {
                    Token::Str(s) | Token::Num(s) => s.clone(),
                    _ => unreachable!(),
                });
                enums.entry((table.clone(), c)).or_default().extend(shown);
            }
        }
    }
    for (index, (table, predicate)) in &want.predicates {
        let columns: Vec<String> = types.keys().filter(|(t, _)| t == table).map(|(_, c)| c.clone()).collect();
        for c in read_columns(&tokens(predicate), &columns) {
            probed.insert((table.clone(), c));
        }
        assert!(have.predicates.contains_key(index), "partial index {index} is missing on PostgreSQL");
    }
    assert!(enums.len() >= 20, "the enumerations read from the DDL: {enums:?}");

    let mut diffs = Vec::new();
    let mut accepted: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut refused_on_pg: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut runs = 0;
    // Each probe is undone by rolling back to this savepoint, which stays for the next.
    sqlite.execute_batch("BEGIN; SAVEPOINT p").expect("savepoint");
    pg.batch_execute("SAVEPOINT p").expect("savepoint");
    for ((table, col), ty) in &types {
        if table == MARKER {
            continue;
        }
        let keys: Vec<V> = fixture.iter().filter(|(t, _)| t == table).map(|(_, row)| row[0].1.clone()).collect();
        let key = &fixture.iter().find(|(t, _)| t == table).expect("fixture row").1[0].0;
        let key_ty = &types[&(table.clone(), (*key).to_string())];
        let enumerated = enums.get(&(table.clone(), col.clone())).cloned().unwrap_or_default();
        // audit_log.hash is ANY on SQLite and 32 bytes on PostgreSQL (schema.pg.sql says why): its own test below.
        let values = if probed.contains(&(table.clone(), col.clone())) && !(table == "audit_log" && col == "hash") {
            probes(ty, &enumerated)
        } else {
            vec![V::Null]
        };
        let partial: Vec<(&String, String, postgres::Statement)> = want
            .predicates
            .iter()
            .filter(|(_, (t, _))| t == table)
            .map(|(n, (_, p))| {
                let count = format!("SELECT count(*) FROM {table} WHERE ");
                (n, format!("{count}{p}"), pg.prepare(&format!("{count}{}", have.predicates[n].1)).expect("count"))
            })
            .collect();
        let sql = format!("UPDATE {table} SET {col} = ?1 WHERE {key} = ?2");
        let mut lite_update = sqlite.prepare(&sql).expect("prepare");
        let pg_update = pg.prepare(&sql.replace('?', "$")).expect("prepare");
        for v in &values {
            for k in &keys {
                runs += 1;
                let s = lite_update.execute([v.sqlite(), k.sqlite()]).map_err(|e| e.to_string());
                let (value, key_value) = (v.pg(ty), k.pg(key_ty));
                let p = pg.execute(&pg_update, &[value.as_ref(), key_value.as_ref()]).map_err(|e| pg_error(&e));
                let shown = format!("{table}.{col} = {} (row {key} = {k:?})", v.shown());
                match (&s, &p) {
                    (Ok(_), Err(e)) => diffs.push(format!("{shown}: SQLite accepts, PostgreSQL refuses: {e}")),
                    (Err(e), Ok(_)) => diffs.push(format!("{shown}: SQLite refuses ({e}), PostgreSQL accepts")),
                    (Ok(_), Ok(_)) => {
                        for (index, lite_count, pg_count) in &partial {
                            let n: i64 = sqlite.query_row(lite_count, [], |r| r.get(0)).expect("count");
                            let m: i64 = pg.query_one(pg_count, &[]).expect("count").get(0);
                            if n != m {
                                diffs.push(format!(
                                    "{shown}: partial index {index} holds {n} rows on SQLite, {m} on PostgreSQL"
                                ));
                            }
                        }
                    }
                    (Err(_), Err(_)) => {}
                }
                if let Some(x) = v.listed().filter(|x| enumerated.contains(x) || x == "not-a-value" || x == "2") {
                    if p.is_ok() {
                        accepted.insert((table.clone(), col.clone(), x));
                    } else {
                        *refused_on_pg.entry((table.clone(), col.clone(), x)).or_default() += 1;
                    }
                }
                sqlite.execute_batch("ROLLBACK TO p").expect("rollback");
                pg.batch_execute("ROLLBACK TO SAVEPOINT p").expect("rollback");
            }
        }
    }
    // Not only the same answers: each enumerated value is taken, and a value outside the set is not.
    for ((table, col), values) in &enums {
        for v in values {
            if !accepted.contains(&(table.clone(), col.clone(), v.clone())) {
                diffs.push(format!(
                    "{table}.{col}: PostgreSQL refuses {v}, which the CHECK allows, on every fixture row"
                ));
            }
        }
        let outside = if types[&(table.clone(), col.clone())] == "text" { "not-a-value" } else { "2" };
        let rows = fixture.iter().filter(|(t, _)| t == table).count();
        if refused_on_pg.get(&(table.clone(), col.clone(), outside.to_string())) != Some(&rows) {
            diffs.push(format!("{table}.{col}: PostgreSQL takes {outside}, outside the CHECK's set"));
        }
    }
    assert!(diffs.is_empty(), "{} of {runs} probes differ:\n  {}", diffs.len(), first(&diffs, 60));

    // audit_log.hash: format 2's 32 bytes, nothing else.
    for n in [0, 31, 32, 33, 64] {
        pg.batch_execute("SAVEPOINT p").expect("savepoint");
        let r = pg.execute("UPDATE audit_log SET hash = $1 WHERE seq = 1", &[&vec![7u8; n]]);
        assert_eq!(r.is_ok(), n == 32, "audit_log.hash of {n} bytes: {r:?}");
        pg.batch_execute("ROLLBACK TO SAVEPOINT p; RELEASE SAVEPOINT p").expect("rollback");
    }
}

#[test]
fn deletes_and_log_updates_are_refused_as_on_sqlite() {
    let Some(mut db) = both("deletes_and_log_updates_are_refused_as_on_sqlite") else { return };
    let sqlite = db.sqlite_copy();
    let pg = &mut db.pg.client;
    load_fixture(&sqlite, pg);
    let tables: BTreeSet<&str> = fixture().iter().map(|(t, _)| *t).collect();
    let mut steps: Vec<(String, Option<&str>)> = tables
        .iter()
        .map(|t| {
            (
                format!("DELETE FROM {t}"),
                Some(if *t == "audit_log" { "audit_log is append-only" } else { "records are never deleted" }),
            )
        })
        .collect();
    steps.extend([
        ("DELETE FROM audit_log WHERE seq = 1".to_string(), Some("audit_log is append-only")),
        ("UPDATE audit_log SET actor = 'someone else'".into(), Some("audit_log is append-only")),
        ("UPDATE audit_log SET seq = seq".into(), Some("audit_log is append-only")),
        ("UPDATE signatures SET meaning = 'approval'".into(), Some("a signature is never changed")),
        ("UPDATE policies SET toml = 'x = 1'".into(), Some("a policy version is never changed; set a new one")),
        (
            "INSERT INTO donor_identities (donor_id, recorded_at) VALUES ('D000001', 'x')".into(),
            Some("identity is stored sealed, never in clear"),
        ),
        (
            "INSERT INTO recipient_identities (recipient_id, recorded_at) VALUES ('R000001', 'x')".into(),
            Some("identity is stored sealed, never in clear"),
        ),
        // Sealed, but with a column in clear: each branch of the trigger's WHEN.
        (
            "INSERT INTO donor_identities (donor_id, name, recorded_at, sealed) \
             SELECT donor_id, 'A Name', recorded_at, sealed FROM donor_identities"
                .into(),
            Some("identity is stored sealed, never in clear"),
        ),
        (
            "INSERT INTO recipient_identities (recipient_id, phone, recorded_at, sealed) \
             SELECT recipient_id, '555', recorded_at, sealed FROM recipient_identities"
                .into(),
            Some("identity is stored sealed, never in clear"),
        ),
        (
            "INSERT INTO recipient_identities (recipient_id, national_id, recorded_at, sealed) \
             SELECT recipient_id, 'X1', recorded_at, sealed FROM recipient_identities"
                .into(),
            Some("identity is stored sealed, never in clear"),
        ),
        ("UPDATE label_claims SET outcome = 'printed', closed_at = '2026-01-02T09:00:00Z'".into(), None),
        ("UPDATE label_claims SET target = 'printer'".into(), Some("a closed claim is never changed")),
    ]);
    let mut diffs = Vec::new();
    for (sql, refusal) in &steps {
        let s = sqlite.execute(sql, []).err().map(|e| e.to_string());
        let p = pg.execute(sql.as_str(), &[]).err().map(|e| pg_error(&e));
        if s.as_deref() != *refusal {
            diffs.push(format!("{sql}: SQLite {s:?}, expected {refusal:?}"));
        }
        if p != s {
            diffs.push(format!("{sql}: PostgreSQL {p:?}, SQLite {s:?}"));
        }
    }
    // TRUNCATE skips DELETE triggers: refused by its own (CASCADE, so that a referenced table reaches its trigger).
    for t in &tables {
        pg.batch_execute("BEGIN").expect("begin");
        let r = pg.batch_execute(&format!("TRUNCATE {t} CASCADE"));
        let code = r.as_ref().err().and_then(|e| e.code().cloned());
        if code != Some(postgres::error::SqlState::RESTRICT_VIOLATION) {
            diffs.push(format!("TRUNCATE {t}: {:?}, not refused by its trigger", r.map_err(|e| pg_error(&e))));
        }
        pg.batch_execute("ROLLBACK").expect("rollback");
    }
    for t in &tables {
        let n: i64 = pg.query_one(&format!("SELECT count(*) FROM {t}"), &[]).expect("count").get(0);
        if n == 0 {
            diffs.push(format!("{t}: its rows are gone"));
        }
    }
    assert!(diffs.is_empty(), "refusals differ:\n  {}", diffs.join("\n  "));
}

#[test]
fn marker_names_a_stoolbank_database_and_its_version() {
    let Some(mut db) = both("marker_names_a_stoolbank_database_and_its_version") else { return };
    let pragma = |p: &str| -> i64 { db.sqlite.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0)).expect("pragma") };
    let (application_id, user_version) = (pragma("application_id"), pragma("user_version"));
    let latest = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("migrations/")
        .filter_map(|e| e.ok()?.file_name().to_str()?.get(..4)?.parse::<i64>().ok())
        .max()
        .expect("a migration");
    assert_eq!(user_version, latest, "a fresh bank is at the latest migration");
    let pg = &mut db.pg.client;
    let rows = pg.query(&format!("SELECT application_id, version FROM {MARKER}"), &[]).expect("read the marker");
    assert_eq!(rows.len(), 1, "the marker is one row");
    let (id, version): (i64, i64) = (rows[0].get(0), rows[0].get(1));
    assert_eq!(id, application_id, "the marker's application_id is SQLite's PRAGMA application_id ('STB1')");
    assert_eq!(version, user_version, "schema.pg.sql's version is the latest migration's (raise it with schema.sql)");
    for sql in [
        format!("INSERT INTO {MARKER} (application_id, version) VALUES ({application_id}, 1)"),
        format!("INSERT INTO {MARKER} (application_id, version) VALUES (1, 1)"),
        format!("UPDATE {MARKER} SET application_id = 1"),
        format!("DELETE FROM {MARKER}"),
    ] {
        assert!(pg.execute(sql.as_str(), &[]).is_err(), "the marker must refuse: {sql}");
    }
}
