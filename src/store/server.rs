//! A bank on a PostgreSQL server: `--db postgres://USER@HOST/DB` (or `postgresql://…`). Connecting as libpq
//! users expect (a password from the address, `PGPASSWORD` or `~/.pgpass`; TLS by `sslmode` and certificates, see
//! `tls`), and refusing a database that is not a stoolbank bank, as a file is refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use postgres::config::{Host, SslMode as PgSslMode};

use super::engine::Server;
use super::migrate::LATEST_VERSION;
use super::{Engine, Result, Store, StoreError, APPLICATION_ID};

mod migrate;
mod tls;

/// The schema a new bank on a server is made with (the translation of `schema.sql` at its latest version,
/// compared with it table by table by `tests/pg_schema.rs`).
pub(super) const SCHEMA: &str = include_str!("../../schema.pg.sql");

/// The server address a `--db` value names, if it names one rather than a file.
pub(crate) fn address(db: &Path) -> Option<&str> {
    let s = db.to_str()?;
    (s.starts_with("postgres://") || s.starts_with("postgresql://")).then_some(s)
}

/// How a store opens a server bank.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Opening {
    /// Writable; an empty database becomes a new bank (`init`, `demo`).
    Create,
    /// Writable; the bank must exist.
    Existing,
    /// Reading only: every transaction is read-only on the server too.
    ReadOnly,
}

impl Store {
    /// Connects to the bank at `address`; a write waits at most `wait` for another bench's.
    pub(super) fn connect(address: &str, opening: Opening, wait: Duration) -> Result<Store> {
        let (mut client, path) = client(address, wait)?;
        let version = match identify(&mut client, &path)? {
            Some(version) => version,
            None if opening == Opening::Create => create(&mut client)?,
            None => return Err(StoreError::Missing { path }),
        };
        if version > LATEST_VERSION {
            return Err(StoreError::TooNew { path, found: version, known: LATEST_VERSION });
        }
        if version < migrate::FIRST_VERSION {
            // A server bank was never made before this version: not a bank this program made.
            let why = format!("schema version {version}; a server bank is made at version {}", migrate::FIRST_VERSION);
            return Err(StoreError::NotStoolbank { path, why });
        }
        // An older bank is read as it is and upgraded by a writer, as a file is.
        let version = if version < LATEST_VERSION && opening != Opening::ReadOnly {
            migrate::upgrade(&mut client, &path, migrate::MIGRATIONS)?
        } else {
            version
        };
        let read_only = (opening == Opening::ReadOnly).then_some(version);
        if read_only.is_some() {
            client.batch_execute("SET default_transaction_read_only = on")?;
        }
        let mut store = Store::on(Engine::Server(Box::new(Server::new(client))), path, read_only);
        store.address = Some(address.to_string());
        Ok(store)
    }
}

/// A session with the server `address` names (TLS and password as libpq users expect), and the address as shown;
/// a write waits at most `wait` for another bench's, as on a file, then says the bank is busy.
pub(super) fn client(address: &str, wait: Duration) -> Result<(postgres::Client, PathBuf)> {
    let path = PathBuf::from(shown(address));
    let (mut config, tls_options) = tls::read(address, |k| std::env::var_os(k)).map_err(|e| refused(&path, e))?;
    if config.get_password().is_none() {
        if let Some(password) = password_for(&config) {
            config.password(password);
        }
    }
    let mut client = connect_over(&mut config, &tls_options, &path)?;
    client.batch_execute(&format!("SET lock_timeout = '{}ms'", wait.as_millis())).map_err(connect_err(&path))?;
    Ok((client, path))
}

fn connect_err(path: &Path) -> impl Fn(postgres::Error) -> StoreError + '_ {
    move |source| StoreError::Connect { path: path.into(), source }
}

fn refused(path: &Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("{}: {why}", path.display()))
}

/// The session, in TLS as the options ask: over TCP only (a host name, or a `hostaddr`, which tokio-postgres
/// always reaches over TCP), since libpq never uses TLS on a Unix socket (there every sslmode connects in clear,
/// and no certificate file is read).
fn connect_over(config: &mut postgres::Config, options: &tls::Options, path: &Path) -> Result<postgres::Client> {
    let tcp = config.get_hosts().iter().any(|h| matches!(h, Host::Tcp(_))) || !config.get_hostaddrs().is_empty();
    if !tcp {
        return config.connect(postgres::NoTls).map_err(connect_err(path));
    }
    if options.mode == tls::SslMode::Disable {
        return config.ssl_mode(PgSslMode::Disable).connect(postgres::NoTls).map_err(connect_err(path));
    }
    let plan = options.plan(dirs::home_dir().as_deref()).map_err(|e| refused(path, e))?;
    let host = config.get_hosts().iter().find_map(|h| match h {
        Host::Tcp(name) => Some(name.clone()),
        #[cfg(unix)]
        Host::Unix(_) => None,
    });
    let tls_err = |e: postgres::Error| match tls::explain(&e, &plan, host.as_deref().unwrap_or("")) {
        Some(why) => refused(path, format!("cannot connect: {why}")),
        None => connect_err(path)(e),
    };
    let mode = match plan.mode {
        // allow: clear first; TLS only if the server refuses the clear connection (as libpq retries).
        tls::SslMode::Allow => match config.ssl_mode(PgSslMode::Disable).connect(postgres::NoTls) {
            Err(e) if e.as_db_error().is_some() => PgSslMode::Require,
            clear => return clear.map_err(connect_err(path)),
        },
        tls::SslMode::Prefer => PgSslMode::Prefer,
        // require and the verify modes: TLS or nothing (disable connected in clear above).
        _ => PgSslMode::Require,
    };
    config.ssl_mode(mode).connect(plan.tls.clone()).map_err(tls_err)
}

/// The bank's schema version, None for an empty database; a database holding anything else is refused.
fn identify(client: &mut postgres::Client, path: &Path) -> Result<Option<i64>> {
    let marked: bool = client.query_one("SELECT to_regclass('stoolbank_schema') IS NOT NULL", &[])?.get(0);
    if !marked {
        let tables: i64 =
            client.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()", &[])?.get(0);
        if tables > 0 {
            let why = format!("no stoolbank_schema marker, {tables} other tables");
            return Err(StoreError::NotStoolbank { path: path.into(), why });
        }
        return Ok(None);
    }
    let row = client.query_opt("SELECT application_id, version FROM stoolbank_schema", &[])?;
    match row.map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1))) {
        Some((id, version)) if id == i64::from(APPLICATION_ID) => Ok(Some(version)),
        other => Err(StoreError::NotStoolbank { path: path.into(), why: format!("marker {other:?}") }),
    }
}

/// Makes the schema in an empty database, in one transaction; two benches creating at once make it once.
fn create(client: &mut postgres::Client) -> Result<i64> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&i64::from(APPLICATION_ID)])?;
    let marked: bool = tx.query_one("SELECT to_regclass('stoolbank_schema') IS NOT NULL", &[])?.get(0);
    if !marked {
        tx.batch_execute(SCHEMA)?;
    }
    let version: i64 = tx.query_one("SELECT version FROM stoolbank_schema", &[])?.get(0);
    tx.commit()?;
    Ok(version)
}

/// The address as shown in messages: without its password, and without its options (`?…`, which can hold one).
/// Read as the address is read: the credentials run to the first `@` (a password may hold `?` or `/`), the user
/// to their first `:` (or `?`, so that nothing of an option is shown either), the options from the next `?`.
pub(super) fn shown(address: &str) -> String {
    let Some((scheme, rest)) = address.split_once("://") else { return address.to_string() };
    let (user, place) = match rest.split_once('@') {
        Some((credentials, place)) => (credentials.split([':', '?']).next(), place),
        None => (None, rest),
    };
    let place = place.split('?').next().unwrap_or(place);
    // A password with an `@` left unencoded: its tail is read as part of the host, but still not shown.
    let place = place.rsplit_once('@').map_or(place, |(_, p)| p);
    match user {
        Some(user) => format!("{scheme}://{user}@{place}"),
        None => format!("{scheme}://{place}"),
    }
}

/// A password as libpq finds one: a non-empty `PGPASSWORD`, else the first matching line of `PGPASSFILE` or
/// `~/.pgpass` (`host:port:database:user:password`; `*` matches anything, `\` escapes `:`, `\` and a literal `*`;
/// a socket connection matches its directory, or `localhost` for the default ones). The file is ignored unless
/// private to its owner, as libpq ignores it.
fn password_for(config: &postgres::Config) -> Option<String> {
    if let Some(p) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
        return p.into_string().ok();
    }
    let file =
        std::env::var_os("PGPASSFILE").map(PathBuf::from).or_else(|| dirs::home_dir().map(|h| h.join(".pgpass")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(&file).ok()?.permissions().mode() & 0o077 != 0 {
            return None;
        }
    }
    let hosts: Vec<String> = match config.get_hosts().first()? {
        postgres::config::Host::Tcp(h) => vec![h.clone()],
        #[cfg(unix)]
        postgres::config::Host::Unix(dir) => {
            let default = ["/var/run/postgresql", "/run/postgresql", "/tmp"].iter().any(|d| dir == Path::new(d));
            let mut names = vec![dir.display().to_string()];
            names.extend(default.then(|| "localhost".to_string()));
            names
        }
    };
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = config.get_user()?;
    let database = config.get_dbname().unwrap_or(user);
    let text = std::fs::read_to_string(file).ok()?;
    hosts.iter().find_map(|host| pgpass_lookup(&text, [host, &port, database, user]))
}

fn pgpass_lookup(text: &str, wanted: [&str; 4]) -> Option<String> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let fields = pgpass_fields(line);
        if fields.len() < 5 {
            return None;
        }
        let matches = fields.iter().zip(wanted).all(|((f, any), w)| *any || f == w);
        matches.then(|| fields[4].0.clone())
    })
}

/// A line's fields, each with whether it is the wildcard `*` (an escaped `\*` is a literal star).
fn pgpass_fields(line: &str) -> Vec<(String, bool)> {
    let mut fields = Vec::new();
    let (mut field, mut escaped_any) = (String::new(), false);
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                field.extend(chars.next());
                escaped_any = true;
            }
            ':' => {
                let wildcard = field == "*" && !escaped_any;
                fields.push((std::mem::take(&mut field), wildcard));
                escaped_any = false;
            }
            c => field.push(c),
        }
    }
    let wildcard = field == "*" && !escaped_any;
    fields.push((field, wildcard));
    fields
}

#[cfg(test)]
mod tests {
    use super::{pgpass_lookup, shown};

    #[test]
    fn an_address_is_shown_without_its_password() {
        assert_eq!(
            shown("postgres://bench:s3cret@db.example:5432/bank?sslmode=require"),
            "postgres://bench@db.example:5432/bank"
        );
        assert_eq!(shown("postgresql://bench@%2Ftmp%2Fpg/bank"), "postgresql://bench@%2Ftmp%2Fpg/bank");
        // A `?` or `/` in the password: the credentials end at the first `@`; an unencoded `@` hides what follows.
        assert_eq!(shown("postgres://bench:p?w@db.example/bank"), "postgres://bench@db.example/bank");
        assert_eq!(shown("postgres://bench:p/w?x@db.example/bank?sslmode=require"), "postgres://bench@db.example/bank");
        assert_eq!(shown("postgres://db.example/bank?password=s3cret"), "postgres://db.example/bank");
        // An `@` in an option: what the postgres crate takes for credentials shows no option either.
        assert_eq!(shown("postgres://db.example/bank?password=s3cret@x"), "postgres://db.example/bank@x");
        assert_eq!(shown("postgres://@/bank?hostaddr=127.0.0.1"), "postgres://@/bank");
        assert_eq!(shown("postgres://bench:s@cret@db.example/bank"), "postgres://bench@db.example/bank");
    }

    #[test]
    fn a_pgpass_line_is_matched_as_libpq_matches_it() {
        let file = "# comment\nother:5432:bank:bench:no\ndb.example:*:bank:bench:pa\\:ss\n*:*:*:*:any\n";
        assert_eq!(pgpass_lookup(file, ["db.example", "5432", "bank", "bench"]).as_deref(), Some("pa:ss"));
        assert_eq!(pgpass_lookup(file, ["elsewhere", "5432", "bank", "bench"]).as_deref(), Some("any"));
        assert_eq!(pgpass_lookup("db:1:b:u:p\n", ["db", "2", "b", "u"]), None);
        // An escaped star is a literal star, not a wildcard.
        assert_eq!(pgpass_lookup("\\*:*:*:*:p\n", ["db", "1", "b", "u"]), None);
        assert_eq!(pgpass_lookup("\\*:*:*:*:p\n", ["*", "1", "b", "u"]).as_deref(), Some("p"));
    }
}
