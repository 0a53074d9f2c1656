//! The two database engines behind the store's one interface: `SQLite` (a file, the embedded default) and a
//! PostgreSQL server. The store's modules write their statements once, in `SQLite`'s words; a statement for the
//! server is translated here (placeholders, the JSON key lists), and its rows and values are read through the
//! same vocabulary as `SQLite`'s (`rusqlite`'s `ValueRef`), so every column decoder (`sql.rs`) serves both.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt::Write as _;

use postgres::types::{FromSql as PgFromSql, IsNull, ToSql as PgToSql, Type};
use rusqlite::types::{FromSql, FromSqlError, ToSqlOutput, Value, ValueRef};
use rusqlite::ToSql;

use super::secret::IdentityDigest;

/// Parameters of a statement: `params![…]`, an array of values, or `()` for none.
pub(crate) trait Args {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R;
}

impl Args for () {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        f(&[])
    }
}

impl Args for &[&dyn ToSql] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        f(self)
    }
}

impl<T: ToSql, const N: usize> Args for [T; N] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        f(&self.each_ref().map(|v| v as &dyn ToSql))
    }
}

/// A connection to a PostgreSQL server, with the statements it has prepared (each once, as for `SQLite`).
pub(crate) struct Server {
    client: RefCell<postgres::Client>,
    prepared: RefCell<HashMap<String, postgres::Statement>>,
    /// Cursors declared so far: each streamed read's is named by its number.
    cursors: std::cell::Cell<u64>,
}

/// Rows a streamed read fetches from its cursor at a time: few enough to keep memory flat, enough that the
/// round trips cost little beside the rows.
const FETCH: usize = 512;

impl Server {
    pub fn new(client: postgres::Client) -> Server {
        Server {
            client: RefCell::new(client),
            prepared: RefCell::new(HashMap::new()),
            cursors: std::cell::Cell::new(0),
        }
    }

    /// Runs statements without parameters or rows (transaction control, the schema).
    pub fn batch(&self, sql: &str) -> super::Result<()> {
        Ok(self.client.borrow_mut().batch_execute(sql)?)
    }

    /// Begins a transaction. A write takes the bank's write lock first (its application id, held until the
    /// transaction ends): one writer at a time across every bench, as `SQLite`'s `BEGIN IMMEDIATE` gives on a
    /// file, so identifiers, the audit chain's sequence and hash, and a unit's one dispense are decided by one
    /// writer that sees every commit before it (READ COMMITTED reads the latest commit at each statement). A
    /// read is one snapshot, as `SQLite`'s read transaction.
    pub fn begin(&self, write: bool) -> super::Result<()> {
        let begin = if write {
            format!("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({})", super::APPLICATION_ID)
        } else {
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".to_string()
        };
        // A lock not had in time leaves the transaction begun and spoilt: end it, so the session stays usable.
        self.batch(&begin).inspect_err(|_| {
            let _ = self.batch("ROLLBACK");
        })
    }

    /// Ends the transaction: commits it, or rolls it back. The server answers a COMMIT of a transaction spoilt
    /// by a failed statement with a silent rollback: asked first, so that no write is reported as kept.
    pub fn end(&self, commit: bool) -> super::Result<()> {
        if commit {
            if let Err(spoilt) = self.batch("SELECT 1") {
                let _ = self.batch("ROLLBACK");
                return Err(spoilt);
            }
            return self.batch("COMMIT");
        }
        self.batch("ROLLBACK")
    }

    fn prepare(&self, sql: &str) -> rusqlite::Result<postgres::Statement> {
        if let Some(found) = self.prepared.borrow().get(sql) {
            return Ok(found.clone());
        }
        let stmt = self.client.borrow_mut().prepare(&for_server(sql)).map_err(server_error)?;
        self.prepared.borrow_mut().insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    fn rows(&self, stmt: &postgres::Statement, args: &[&dyn ToSql]) -> rusqlite::Result<Vec<postgres::Row>> {
        with_bound(args, |a| self.client.borrow_mut().query(stmt, a))
    }

    fn execute(&self, stmt: &postgres::Statement, args: &[&dyn ToSql]) -> rusqlite::Result<usize> {
        let n = with_bound(args, |a| self.client.borrow_mut().execute(stmt, a))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

/// One engine's open connection, as a transaction's statements see it.
#[derive(Clone, Copy)]
pub(crate) enum Conn<'c> {
    Lite(&'c rusqlite::Connection),
    Server(&'c Server),
}

/// One open transaction, handed by [`super::Store::read`] and [`super::Store::write`] to the operations, which
/// pass it to the store's functions. Its SQL methods are private to `store`, so that no statement is written
/// anywhere else and no caller depends on which engine is underneath.
pub(crate) struct Tx<'c> {
    conn: Conn<'c>,
    digest: &'c IdentityDigest,
    /// The audit entries this transaction appended, by number (kept by the store once committed).
    appended: RefCell<Vec<i64>>,
}

impl<'c> Tx<'c> {
    pub(super) fn new(conn: Conn<'c>, digest: &'c IdentityDigest) -> Tx<'c> {
        Tx { conn, digest, appended: RefCell::new(Vec::new()) }
    }

    /// Notes an audit entry appended in this transaction.
    pub(super) fn appended(&self, seq: i64) {
        self.appended.borrow_mut().push(seq);
    }

    pub(super) fn take_appended(&self) -> Vec<i64> {
        self.appended.take()
    }

    /// The engine's connection, for what only one engine does (its schema, its file).
    #[cfg(test)]
    pub(super) fn conn(&self) -> Conn<'c> {
        self.conn
    }

    pub(super) fn on_server(&self) -> bool {
        matches!(self.conn, Conn::Server(_))
    }

    /// The bank's tables (a file of an older schema version has fewer).
    pub(super) fn tables(&self) -> rusqlite::Result<Vec<String>> {
        let sql = match self.conn {
            Conn::Lite(_) => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            Conn::Server(_) => "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
        };
        self.prepare_cached(sql)?.query_map((), |r| r.get(0))?.collect()
    }

    pub(super) fn has_table(&self, name: &str) -> rusqlite::Result<bool> {
        let sql = match self.conn {
            Conn::Lite(_) => "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            Conn::Server(_) => "SELECT to_regclass(?1) IS NOT NULL",
        };
        self.query_row(sql, [name], |r| r.get(0))
    }

    /// The keyed digest the audit trail holds of an identity row.
    pub(super) fn identity_digest(&self, row: &str) -> super::Result<String> {
        self.digest.digest(row)
    }

    // Every statement is prepared once per connection and kept: a bulk load runs each of them a million times.
    pub(super) fn execute(&self, sql: &str, args: impl Args) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(args)
    }

    /// A statement whose text is made for the occasion (on a file prepared for this use; a server keeps each).
    pub(super) fn prepare(&self, sql: &str) -> rusqlite::Result<Stmt<'c>> {
        match self.conn {
            Conn::Lite(c) => c.prepare(sql).map(Stmt::Lite),
            Conn::Server(s) => Ok(Stmt::Server(s, s.prepare(sql)?, sql.to_string())),
        }
    }

    pub(super) fn prepare_cached(&self, sql: &str) -> rusqlite::Result<Stmt<'c>> {
        match self.conn {
            Conn::Lite(c) => c.prepare_cached(sql).map(Stmt::LiteCached),
            Conn::Server(s) => Ok(Stmt::Server(s, s.prepare(sql)?, sql.to_string())),
        }
    }

    pub(super) fn query_row<T>(
        &self,
        sql: &str,
        args: impl Args,
        f: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(args, f)
    }

    /// The key the last INSERT gave its row (`SQLite`'s rowid; the server's identity column).
    pub(super) fn last_insert_rowid(&self) -> rusqlite::Result<i64> {
        match self.conn {
            Conn::Lite(c) => Ok(c.last_insert_rowid()),
            Conn::Server(_) => self.query_row("SELECT lastval()", (), |r| r.get(0)),
        }
    }
}

/// A prepared statement of either engine.
pub(crate) enum Stmt<'c> {
    Lite(rusqlite::Statement<'c>),
    LiteCached(rusqlite::CachedStatement<'c>),
    /// The server's prepared statement, and its text in `SQLite`'s words (a streamed read declares a cursor of it).
    Server(&'c Server, postgres::Statement, String),
}

impl<'c> Stmt<'c> {
    fn lite(&mut self) -> Option<&mut rusqlite::Statement<'c>> {
        match self {
            Stmt::Lite(s) => Some(s),
            Stmt::LiteCached(s) => Some(s),
            Stmt::Server(..) => None,
        }
    }

    pub fn execute(&mut self, args: impl Args) -> rusqlite::Result<usize> {
        match self {
            Stmt::Server(server, stmt, _) => args.with(|a| server.execute(stmt, a)),
            lite => args.with(|a| lite.lite().expect("a SQLite statement").execute(a)),
        }
    }

    pub fn exists(&mut self, args: impl Args) -> rusqlite::Result<bool> {
        Ok(self.query(args)?.next()?.is_some())
    }

    pub fn column_names(&self) -> Vec<String> {
        match self {
            Stmt::Lite(s) => s.column_names().map(String::from).collect(),
            Stmt::LiteCached(s) => s.column_names().map(String::from).collect(),
            Stmt::Server(_, s, _) => s.columns().iter().map(|c| c.name().to_string()).collect(),
        }
    }

    /// The rows, read one at a time (on a server, received whole: for an answer a person waits for).
    pub fn query(&mut self, args: impl Args) -> rusqlite::Result<Rows<'_>> {
        match self {
            Stmt::Server(server, stmt, _) => {
                let rows = args.with(|a| server.rows(stmt, a))?;
                Ok(Rows::Server { rows: rows.into_iter(), current: None, cursor: None })
            }
            lite => {
                let stmt = lite.lite().expect("a SQLite statement");
                args.with(|a| stmt.query(a)).map(Rows::Lite)
            }
        }
    }

    /// The rows of a walk over a whole table or cohort, read one at a time: on a server from a cursor, a few
    /// hundred rows per round trip, so that memory stays flat however large the bank (`query` receives a whole
    /// answer in one round trip, which is quicker for the small answers a person waits for).
    pub fn stream(&mut self, args: impl Args) -> rusqlite::Result<Rows<'_>> {
        let Stmt::Server(server, _, sql) = self else { return self.query(args) };
        let n = server.cursors.get() + 1;
        server.cursors.set(n);
        let name = format!("stoolbank_rows_{n}");
        let declare = format!("DECLARE {name} NO SCROLL CURSOR FOR {}", for_server(sql));
        args.with(|a| with_bound(a, |a| server.client.borrow_mut().execute(declare.as_str(), a)))?;
        Ok(Rows::Server {
            rows: Vec::new().into_iter(),
            current: None,
            cursor: Some(Cursor { server, name, done: false }),
        })
    }

    /// [`Stmt::stream`], each row mapped by `f`.
    pub fn stream_map<'s, T, F: FnMut(&Row) -> rusqlite::Result<T> + 's>(
        &'s mut self,
        args: impl Args,
        f: F,
    ) -> rusqlite::Result<impl Iterator<Item = rusqlite::Result<T>> + 's> {
        Ok(mapped(self.stream(args)?, f))
    }

    pub fn query_map<'s, T, F: FnMut(&Row) -> rusqlite::Result<T> + 's>(
        &'s mut self,
        args: impl Args,
        f: F,
    ) -> rusqlite::Result<impl Iterator<Item = rusqlite::Result<T>> + 's> {
        Ok(mapped(self.query(args)?, f))
    }
    pub fn query_row<T>(
        &mut self,
        args: impl Args,
        f: impl FnOnce(&Row) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut rows = self.query(args)?;
        match rows.next()? {
            Some(r) => f(r),
            None => Err(rusqlite::Error::QueryReturnedNoRows),
        }
    }
}

/// Rows mapped by `f`, one at a time.
fn mapped<'s, T>(
    mut rows: Rows<'s>,
    mut f: impl FnMut(&Row) -> rusqlite::Result<T> + 's,
) -> impl Iterator<Item = rusqlite::Result<T>> + 's {
    std::iter::from_fn(move || match rows.next() {
        Ok(Some(r)) => Some(f(r)),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    })
}

/// The rows of a query, one at a time.
pub(crate) enum Rows<'s> {
    Lite(rusqlite::Rows<'s>),
    /// The rows received and not yet read, the row being read, and for a streamed read its cursor.
    Server {
        rows: std::vec::IntoIter<postgres::Row>,
        current: Option<postgres::Row>,
        cursor: Option<Cursor<'s>>,
    },
}

/// A streamed read's cursor on the server, closed when its rows are dropped (the transaction's end would close
/// it too, but a bulk load's transaction holds millions of operations).
pub(crate) struct Cursor<'s> {
    server: &'s Server,
    name: String,
    done: bool,
}

impl Drop for Cursor<'_> {
    fn drop(&mut self) {
        // Nothing is lost if this fails: the cursor ends with its transaction.
        let _ = self.server.batch(&format!("CLOSE {}", self.name));
    }
}

impl Rows<'_> {
    #[allow(clippy::should_implement_trait)] // a lending iterator: each row borrows the rows
    pub fn next(&mut self) -> rusqlite::Result<Option<&Row<'_>>> {
        match self {
            Rows::Lite(rows) => Ok(rows.next()?.map(|r| r as &Row)),
            Rows::Server { rows, current, cursor } => {
                *current = rows.next();
                if let (None, Some(c)) = (&current, cursor.as_mut().filter(|c| !c.done)) {
                    let fetched = c
                        .server
                        .client
                        .borrow_mut()
                        .query(&format!("FETCH {FETCH} FROM {}", c.name), &[])
                        .map_err(server_error)?;
                    c.done = fetched.len() < FETCH;
                    *rows = fetched.into_iter();
                    *current = rows.next();
                }
                Ok(current.as_ref().map(|r| r as &Row))
            }
        }
    }
}

/// A row's values as `SQLite` holds them, whichever engine read it.
pub(crate) trait Values {
    fn value(&self, i: usize) -> rusqlite::Result<ValueRef<'_>>;
}

/// One row of either engine.
pub(crate) type Row<'r> = dyn Values + 'r;

impl Values for rusqlite::Row<'_> {
    fn value(&self, i: usize) -> rusqlite::Result<ValueRef<'_>> {
        self.get_ref(i)
    }
}

impl Values for postgres::Row {
    fn value(&self, i: usize) -> rusqlite::Result<ValueRef<'_>> {
        server_value(self, i)
    }
}

/// A column's position (what `rusqlite`'s `RowIndex` is for positions, so that `r.get(0)` reads as before).
pub(crate) trait Column {
    fn at(self) -> usize;
}

impl Column for usize {
    fn at(self) -> usize {
        self
    }
}

impl Row<'_> {
    /// The value at `i` as `T` (the conversion errors `rusqlite` gives).
    pub fn get<I: Column, T: FromSql>(&self, i: I) -> rusqlite::Result<T> {
        let i = i.at();
        let v = self.value(i)?;
        T::column_result(v).map_err(|e| match e {
            FromSqlError::InvalidType => rusqlite::Error::InvalidColumnType(i, String::new(), v.data_type()),
            FromSqlError::OutOfRange(n) => rusqlite::Error::IntegralValueOutOfRange(i, n),
            FromSqlError::Other(why) => rusqlite::Error::FromSqlConversionFailure(i, v.data_type(), why),
            other => rusqlite::Error::FromSqlConversionFailure(i, v.data_type(), Box::new(other)),
        })
    }

    pub fn get_ref(&self, i: usize) -> rusqlite::Result<ValueRef<'_>> {
        self.value(i)
    }
}

/// A server's value as `SQLite` holds it: integers (and booleans, 0 or 1), reals, text (JSON included) and blobs.
fn server_value(r: &postgres::Row, i: usize) -> rusqlite::Result<ValueRef<'_>> {
    let column = r.columns().get(i).ok_or(rusqlite::Error::InvalidColumnIndex(i))?;
    let ty = column.type_().clone();
    let failed =
        |e: postgres::Error| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Null, Box::new(e));
    let v = match ty {
        Type::INT8 => r.try_get::<_, Option<i64>>(i).map_err(failed)?.map(ValueRef::Integer),
        Type::INT4 => r.try_get::<_, Option<i32>>(i).map_err(failed)?.map(|v| ValueRef::Integer(v.into())),
        Type::INT2 => r.try_get::<_, Option<i16>>(i).map_err(failed)?.map(|v| ValueRef::Integer(v.into())),
        Type::BOOL => r.try_get::<_, Option<bool>>(i).map_err(failed)?.map(|v| ValueRef::Integer(v.into())),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i).map_err(failed)?.map(ValueRef::Real),
        Type::FLOAT4 => r.try_get::<_, Option<f32>>(i).map_err(failed)?.map(|v| ValueRef::Real(v.into())),
        Type::BYTEA => r.try_get::<_, Option<&[u8]>>(i).map_err(failed)?.map(ValueRef::Blob),
        ref t if is_text(t) || *t == Type::JSON => {
            r.try_get::<_, Option<Raw>>(i).map_err(failed)?.map(|v| ValueRef::Text(v.0))
        }
        // A binary JSONB value is its text after a version byte.
        Type::JSONB => {
            r.try_get::<_, Option<Raw>>(i).map_err(failed)?.map(|v| ValueRef::Text(v.0.get(1..).unwrap_or(&[])))
        }
        // A type none of the store's statements reads: the statement's fault, not a stored value's.
        other => {
            let what = format!("{} (server type {other})", column.name());
            return Err(rusqlite::Error::InvalidColumnType(i, what, rusqlite::types::Type::Null));
        }
    };
    Ok(v.unwrap_or(ValueRef::Null))
}

/// A value's bytes as the server sent them.
struct Raw<'a>(&'a [u8]);

impl<'a> PgFromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A parameter as `SQLite` would bind it, written in the type the server expects at its place.
#[derive(Debug)]
struct Arg(Value);

/// Runs `f` with `args` bound as the server takes them.
fn with_bound<T>(
    args: &[&dyn ToSql],
    f: impl FnOnce(&[&(dyn PgToSql + Sync)]) -> Result<T, postgres::Error>,
) -> rusqlite::Result<T> {
    let bound = bind(args)?;
    let refs: Vec<&(dyn PgToSql + Sync)> = bound.iter().map(|a| a as &(dyn PgToSql + Sync)).collect();
    f(&refs).map_err(server_error)
}

fn bind(args: &[&dyn ToSql]) -> rusqlite::Result<Vec<Arg>> {
    args.iter()
        .map(|a| {
            Ok(Arg(match a.to_sql()? {
                ToSqlOutput::Borrowed(v) => match v {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Integer(i),
                    ValueRef::Real(f) => Value::Real(f),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                },
                ToSqlOutput::Owned(v) => v,
                other => {
                    let why = format!("a parameter of a kind the server is not sent ({other:?})");
                    return Err(rusqlite::Error::ToSqlConversionFailure(why.into()));
                }
            }))
        })
        .collect()
}

impl PgToSql for Arg {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match (&self.0, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Integer(i), &Type::INT8) => PgToSql::to_sql(&i, ty, out),
            (Value::Integer(i), &Type::INT4) => PgToSql::to_sql(&i32::try_from(*i)?, ty, out),
            (Value::Integer(i), &Type::INT2) => PgToSql::to_sql(&i16::try_from(*i)?, ty, out),
            (Value::Integer(i), &Type::BOOL) => PgToSql::to_sql(&(*i != 0), ty, out),
            (Value::Integer(i), &Type::FLOAT8) => PgToSql::to_sql(&(*i as f64), ty, out),
            (Value::Integer(i), t) if is_text(t) => PgToSql::to_sql(&i.to_string(), ty, out),
            (Value::Real(f), &Type::FLOAT8) => PgToSql::to_sql(&f, ty, out),
            (Value::Real(f), &Type::FLOAT4) => PgToSql::to_sql(&(*f as f32), ty, out),
            (Value::Real(f), t) if is_text(t) => PgToSql::to_sql(&f.to_string(), ty, out),
            (Value::Text(s), t) if is_text(t) => PgToSql::to_sql(&s.as_str(), &Type::TEXT, out),
            // A column of integers compared with text: `SQLite` converts text that reads as an integer (its type
            // affinity), and so does this.
            (Value::Text(s), &Type::INT8 | &Type::INT4 | &Type::INT2) => match s.trim().parse::<i64>() {
                Ok(i) => Arg(Value::Integer(i)).to_sql(ty, out),
                Err(_) => Err(format!("`{s}` is not an integer, which the server expects here").into()),
            },
            (Value::Text(s), &Type::JSON) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Value::Text(s), &Type::JSONB) => {
                out.extend_from_slice(&[1]);
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Value::Blob(b), &Type::BYTEA) => PgToSql::to_sql(&b.as_slice(), ty, out),
            (v, t) => Err(format!("a {:?} value cannot be sent where the server expects {t}", v.data_type()).into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// The server's text types: read and written as `SQLite`'s text.
fn is_text(t: &Type) -> bool {
    [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(t)
}

/// A server's failure, carried in `rusqlite`'s error as the store's statements return it (see
/// [`super::StoreError`]'s conversion, which takes it out again).
pub(super) fn server_error(e: postgres::Error) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(e))
}

/// A statement in `SQLite`'s words said in the server's. Each rule is one `SQLite` idiom the store's statements
/// use; quoted text is left as it is.
/// - `?N` becomes `$N` (a bare `?` the next number); `IS ?N` / `IS NOT ?N` (`SQLite`'s NULL-safe comparison)
///   become `IS NOT DISTINCT FROM $N` / `IS DISTINCT FROM $N`.
/// - `json_each(X)`, a JSON list of keys, becomes `jsonb_array_elements_text((X)::jsonb)` (its column is `value`
///   in both).
/// - `group_concat(X[, S])` becomes `string_agg((X)::text, S or ',')`.
/// - `typeof(X) = 'blob'` becomes `pg_typeof(X) = 'bytea'::regtype`.
/// - `strftime('%Y-%m-%dT%H:%M:%SZ', X) IS NOT X` becomes `NOT sqlite_timestamp_is(X)`, the server schema's
///   function for the same test (see `schema.pg.sql`).
/// - `CAST(X AS INTEGER)` takes the leading integer of X's text, 0 when there is none, as `SQLite` does, where
///   the server's cast would fail the statement (a text key such as a batch code met in the same column).
/// - `LIKE` becomes `ILIKE`: `SQLite`'s LIKE ignores ASCII case, as ILIKE does under the schema's `C` collation
///   (the store's patterns name their ESCAPE, since the two default escapes differ).
/// - `INDEXED BY name` (a plan `SQLite` is held to) is dropped, and `CROSS JOIN … ON` (`SQLite`'s way of fixing
///   the join order; the store's all have ON) becomes `JOIN … ON`: the server's planner chooses.
pub(crate) fn for_server(sql: &str) -> String {
    said_for_server(&numbered(sql))
}

/// [`for_server`] on a statement whose placeholders are all numbered.
fn said_for_server(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 32);
    let mut at = 0;
    while at < sql.len() {
        let rest = &sql[at..];
        let c = rest.chars().next().unwrap_or(' ');
        if c == '\'' || c == '"' {
            let end = rest[1..].find(c).map_or(rest.len(), |i| i + 2);
            out.push_str(&rest[..end]);
            at += end;
            continue;
        }
        let word_start = !out.ends_with(|p: char| p.is_ascii_alphanumeric() || p == '_');
        // A call of `name` here: its arguments, and its length to the closing parenthesis.
        let call = |name: &str| -> Option<(Vec<String>, usize)> {
            let args_at = name.len() + 1;
            (word_start && rest.starts_with(name) && rest[name.len()..].starts_with('(')).then_some(())?;
            let (args, close) = call_args(&rest[args_at..])?;
            Some((args, args_at + close + 1))
        };
        let after_word = |word: &str| {
            out.strip_suffix(word).is_some_and(|before| !before.ends_with(|p: char| p.is_ascii_alphanumeric()))
        };
        if c == '?' {
            let digits: String = rest[1..].chars().take_while(char::is_ascii_digit).collect();
            if after_word("IS NOT ") {
                out.truncate(out.len() - "NOT ".len());
                out.push_str("DISTINCT FROM ");
            } else if after_word("IS ") {
                out.push_str("NOT DISTINCT FROM ");
            }
            out.push('$');
            out.push_str(&digits);
            at += 1 + digits.len();
        } else if let Some((args, len)) = call("json_each") {
            let inner = said_for_server(&args[0]);
            let _ = write!(out, "jsonb_array_elements_text(({inner})::jsonb)");
            at += len;
        } else if let Some((args, len)) = call("group_concat") {
            let inner = said_for_server(&args[0]);
            let separator = args.get(1).map_or("','".to_string(), |s| said_for_server(s));
            let _ = write!(out, "string_agg(({inner})::text, {separator})");
            at += len;
        } else if let Some((args, len)) = call("typeof").filter(|(_, len)| rest[*len..].starts_with(" = 'blob'")) {
            let inner = said_for_server(&args[0]);
            let _ = write!(out, "pg_typeof({inner}) = 'bytea'::regtype");
            at += len + " = 'blob'".len();
        } else if let Some((args, len)) = call("strftime").filter(|(args, _)| args.len() == 2) {
            let column = args[1].trim();
            let tail = format!(" IS NOT {column}");
            if rest[len..].starts_with(&tail) {
                let _ = write!(out, "NOT sqlite_timestamp_is({column})");
                at += len + tail.len();
            } else {
                let args: Vec<String> = args.iter().map(|a| said_for_server(a)).collect();
                let _ = write!(out, "strftime({})", args.join(","));
                at += len;
            }
        } else if let Some((args, len)) =
            call("CAST").filter(|(args, _)| args.len() == 1 && args[0].ends_with(" AS INTEGER"))
        {
            let inner = said_for_server(args[0].trim_end_matches(" AS INTEGER"));
            let _ = write!(
                out,
                "CASE WHEN ({inner}) IS NULL THEN NULL \
                 ELSE COALESCE(CAST(substring(({inner})::text from '^\\s*([-+]?[0-9]{{1,18}})') AS bigint), 0) END"
            );
            at += len;
        } else if word_start && rest.starts_with("LIKE ") {
            out.push_str("ILIKE ");
            at += "LIKE ".len();
        } else if word_start && rest.starts_with("CROSS JOIN ") {
            out.push_str("JOIN ");
            at += "CROSS JOIN ".len();
        } else if word_start && rest.starts_with("INDEXED BY ") {
            let name_len =
                rest["INDEXED BY ".len()..].find(char::is_whitespace).unwrap_or(rest.len() - "INDEXED BY ".len());
            at += "INDEXED BY ".len() + name_len;
        } else {
            out.push(c);
            at += c.len_utf8();
        }
    }
    out
}

/// The characters of a statement with where each stands: its byte position, the depth of parentheses around
/// it, and whether it is inside quotes (where nothing is a placeholder, a parenthesis or a comma).
fn scan(sql: &str) -> impl Iterator<Item = (usize, char, u32, bool)> + '_ {
    let (mut depth, mut quote) = (0u32, None);
    sql.char_indices().map(move |(i, c)| {
        let here = (i, c, depth, quote.is_some());
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
        here
    })
}

/// Bare `?` placeholders numbered as `SQLite` numbers them: one past the highest so far.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut highest = 0u32;
    let mut chars = scan(sql).peekable();
    while let Some((_, c, _, quoted)) = chars.next() {
        out.push(c);
        if c == '?' && !quoted {
            let mut digits = String::new();
            while let Some((_, d, _, _)) = chars.next_if(|(_, d, _, _)| d.is_ascii_digit()) {
                digits.push(d);
            }
            let n = if digits.is_empty() { highest + 1 } else { digits.parse().unwrap_or(u32::MAX) };
            highest = highest.max(n);
            out.push_str(&n.to_string());
        }
    }
    out
}

/// A call's arguments, split at its top-level commas, and the position of its closing parenthesis, in `sql`
/// after the opening one.
fn call_args(sql: &str) -> Option<(Vec<String>, usize)> {
    let mut args = vec![String::new()];
    for (i, c, depth, quoted) in scan(sql) {
        match c {
            ')' if depth == 0 && !quoted => return Some((args, i)),
            ',' if depth == 0 && !quoted => args.push(String::new()),
            c => args.last_mut()?.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::for_server;

    #[test]
    fn a_statement_is_said_in_the_servers_words() {
        assert_eq!(for_server("SELECT a FROM t WHERE b = ?1 AND c = ?2"), "SELECT a FROM t WHERE b = $1 AND c = $2");
        assert_eq!(for_server("VALUES (?, ?, '?')"), "VALUES ($1, $2, '?')");
        assert_eq!(
            for_server("WHERE id IN (SELECT value FROM json_each(?1)) AND x = ?2"),
            "WHERE id IN (SELECT value FROM jsonb_array_elements_text(($1)::jsonb)) AND x = $2"
        );
        assert_eq!(for_server("json_each(?) , ?"), "jsonb_array_elements_text(($1)::jsonb) , $2");
        assert_eq!(
            for_server("a IS ?2 AND b IS NOT ?3 AND THIS ?4"),
            "a IS NOT DISTINCT FROM $2 AND b IS DISTINCT FROM $3 AND THIS $4"
        );
        assert_eq!(
            for_server(
                "SELECT group_concat(f.t), group_concat(id, ', ') FROM x INDEXED BY x_i CROSS JOIN y ON y.a = x.a"
            ),
            "SELECT string_agg((f.t)::text, ','), string_agg((id)::text,  ', ') FROM x  JOIN y ON y.a = x.a"
        );
        assert_eq!(
            for_server("WHERE typeof(a.hash) = 'blob' AND strftime('%Y-%m-%dT%H:%M:%SZ', d.at) IS NOT d.at"),
            "WHERE pg_typeof(a.hash) = 'bytea'::regtype AND NOT sqlite_timestamp_is(d.at)"
        );
        assert_eq!(for_server("strftime('%Y', ?1)"), "strftime('%Y', $1)");
        assert_eq!(
            for_server("q.id = CAST(a.entity_id AS INTEGER)"),
            "q.id = CASE WHEN (a.entity_id) IS NULL THEN NULL \
             ELSE COALESCE(CAST(substring((a.entity_id)::text from '^\\s*([-+]?[0-9]{1,18})') AS bigint), 0) END"
        );
        assert_eq!(
            for_server("a LIKE ?1 ESCAPE '\\' OR a NOT LIKE 'x' OR UNLIKELY(b) OR 'LIKE '"),
            "a ILIKE $1 ESCAPE '\\' OR a NOT ILIKE 'x' OR UNLIKELY(b) OR 'LIKE '"
        );
    }
}
