//! TLS to a PostgreSQL server through the real binary, as libpq users set it up (`sslmode`, `sslrootcert`,
//! `sslcert`, `sslkey` in the address or `PGSSL*`), against the TLS side of `scripts/pg-cluster`: TCP on 127.0.0.1
//! for TLS only, a certificate for `localhost` signed by a throw-away CA, and the user `stoolbank_cert` who signs in
//! by client certificate. That the session was encrypted is the server's word: its log's "SSL enabled" for the
//! connection's application name. Without `STOOLBANK_TEST_PG_TLS` the tests say they were skipped (never under CI).

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use common::pg::{self, PgDb};

/// The cluster's TLS side, as `scripts/pg-cluster start` prints it.
struct Tls {
    port: String,
    ca: PathBuf,
    other_ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    log: PathBuf,
}

fn tls(test: &str) -> Option<(Tls, postgres::Config)> {
    let Ok(address) = std::env::var("STOOLBANK_TEST_PG_TLS") else {
        let why =
            "no TLS server: set STOOLBANK_TEST_PG_TLS (eval \"$(scripts/pg-cluster start)\" with openssl installed)";
        assert!(std::env::var_os("CI").is_none(), "{test}: {why}; CI must not skip the TLS tests");
        let _ = writeln!(std::io::stderr(), "{test}: skipped: {why}");
        return None;
    };
    let var = |name: &str| PathBuf::from(std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set")));
    let port = address.rsplit_once(':').and_then(|(_, p)| p.split('/').next()).expect("STOOLBANK_TEST_PG_TLS: a port");
    let port = port.to_string();
    let ca = var("STOOLBANK_TEST_PG_CA");
    let tls = Tls {
        other_ca: ca.with_file_name("other-ca.crt"),
        cert: var("STOOLBANK_TEST_PG_CERT"),
        key: var("STOOLBANK_TEST_PG_KEY"),
        log: var("STOOLBANK_PG_CLUSTER").join("server.log"),
        port,
        ca,
    };
    Some((tls, pg::server(test)?))
}

/// One run of the binary with a home of its own (so that no `~/.postgresql` of the user's is read) and none of
/// the user's `PGSSL*` variables.
struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Run {
        Run { dir: tempfile::tempdir().expect("temp dir") }
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, db: &str, env: &[(&str, &Path)], args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stoolbank"));
        cmd.arg("--db").arg(db).arg("--as").arg("tester").args(args);
        for var in ["STOOLBANK_DB", "STOOLBANK_CONFIG", "STOOLBANK_PASSWORD", "PGPASSWORD", "PGPASSFILE"] {
            cmd.env_remove(var);
        }
        for var in ["PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.home());
        cmd.env("STOOLBANK_KEY", self.home().join("bank.key"));
        cmd.env("STOOLBANK_ANCHOR", self.home().join("anchors.log"));
        cmd.envs(env.iter().map(|(k, v)| (k, v.as_os_str())));
        cmd.output().expect("run stoolbank")
    }

    fn ok(&self, db: &str, env: &[(&str, &Path)], args: &[&str]) -> String {
        let out = self.run(db, env, args);
        assert!(out.status.success(), "{db} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A run that must fail: its exit code and its one line on stderr.
    fn fail(&self, db: &str, env: &[(&str, &Path)], args: &[&str]) -> (i32, String) {
        let out = self.run(db, env, args);
        assert!(!out.status.success(), "{db} {args:?} should have failed: {}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(err.lines().count(), 1, "a refusal prints one line: {err}");
        (out.status.code().unwrap_or(-1), err)
    }
}

/// A name no other connection in this server's log has.
fn app_name(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("pg_tls_{what}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Whether the server logged the connection of `app` as encrypted (`log_connections`: "SSL enabled (protocol=…").
fn encrypted(tls: &Tls, app: &str) -> bool {
    let log = std::fs::read_to_string(&tls.log).expect("read the server log");
    let mine: Vec<&str> = log.lines().filter(|l| l.contains(&format!("application_name={app}"))).collect();
    assert!(!mine.is_empty(), "the server logged no connection of {app}");
    mine.iter().all(|l| l.contains("SSL enabled (protocol=TLS"))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn a_bank_is_made_and_used_over_verified_tls() {
    let Some((tls, admin)) = tls("a_bank_is_made_and_used_over_verified_tls") else { return };
    let db = PgDb::new(admin);
    let run = Run::new();
    let at = |host: &str, options: &str, app: &str| {
        format!("postgresql://stoolbank@{host}:{}/{}?application_name={app}&{options}", tls.port, db.name)
    };
    let full = format!("sslmode=verify-full&sslrootcert={}", path(&tls.ca));

    let app = app_name("init");
    run.ok(&at("localhost", &full, &app), &[], &["init", "--facility", "G1517"]);
    assert!(encrypted(&tls, &app));
    let app = app_name("list");
    let listed = run.ok(&at("localhost", &full, &app), &[], &["--json", "donor", "list"]);
    assert!(listed.trim_start().starts_with('['), "donor list: {listed}");
    assert!(encrypted(&tls, &app));

    // verify-ca checks the chain, not the name: 127.0.0.1 is not in the certificate, and that is accepted.
    let app = app_name("ca");
    run.ok(
        &at("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={}", path(&tls.ca)), &app),
        &[],
        &["donor", "list"],
    );
    assert!(encrypted(&tls, &app));

    // require without a root certificate: encrypted, not verified.
    let app = app_name("require");
    run.ok(&at("localhost", "sslmode=require", &app), &[], &["donor", "list"]);
    assert!(encrypted(&tls, &app));

    // No sslmode: libpq's prefer, TLS since the server offers it.
    let app = app_name("prefer");
    run.ok(&at("localhost", "", &app), &[], &["donor", "list"]);
    assert!(encrypted(&tls, &app));

    // allow: clear first, and TLS when the server refuses clear connections (this one does).
    let app = app_name("allow");
    run.ok(&at("localhost", "sslmode=allow", &app), &[], &["donor", "list"]);
    assert!(encrypted(&tls, &app));

    // The environment is honoured where the address says nothing, and the address wins over it.
    let app = app_name("env");
    run.ok(
        &at("localhost", "", &app),
        &[("PGSSLMODE", Path::new("verify-full")), ("PGSSLROOTCERT", &tls.ca)],
        &["donor", "list"],
    );
    assert!(encrypted(&tls, &app));
    let (_, err) =
        run.fail(&at("localhost", "sslmode=verify-full", "x"), &[("PGSSLROOTCERT", &tls.other_ca)], &["donor", "list"]);
    assert!(err.contains("not trusted"), "{err}");
    let app = app_name("env_wins");
    run.ok(&at("localhost", "sslmode=require", &app), &[("PGSSLMODE", Path::new("disable"))], &["donor", "list"]);
    assert!(encrypted(&tls, &app));

    // libpq's default files: ~/.postgresql/root.crt makes verify-full work without naming it.
    let dot = run.home().join(".postgresql");
    std::fs::create_dir(&dot).expect("~/.postgresql");
    std::fs::copy(&tls.ca, dot.join("root.crt")).expect("copy root.crt");
    let app = app_name("home");
    run.ok(&at("localhost", "sslmode=verify-full", &app), &[], &["donor", "list"]);
    assert!(encrypted(&tls, &app));
}

#[test]
fn an_untrusted_or_misnamed_server_is_refused_with_what_failed() {
    let Some((tls, _)) = tls("an_untrusted_or_misnamed_server_is_refused_with_what_failed") else { return };
    let run = Run::new();
    // A password in the address is never shown.
    let at =
        |host: &str, options: &str| format!("postgresql://stoolbank:s3cret@{host}:{}/postgres?{options}", tls.port);
    let shown = |host: &str| format!("postgresql://stoolbank@{host}:{}/postgres: cannot connect: ", tls.port);

    let (code, err) = run.fail(
        &at("localhost", &format!("sslmode=verify-full&sslrootcert={}", path(&tls.other_ca))),
        &[],
        &["donor", "list"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&shown("localhost")), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert!(err.contains("the server's certificate is not trusted"), "{err}");
    assert!(err.contains(path(&tls.other_ca)), "{err}");

    let (code, err) = run.fail(
        &at("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={}", path(&tls.ca))),
        &[],
        &["donor", "list"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&shown("127.0.0.1")), "{err}");
    assert!(err.contains("the server's certificate does not name host \"127.0.0.1\""), "{err}");

    // Clear TCP: the server refuses it (hostnossl reject), in its own words.
    let (code, err) = run.fail(&at("localhost", "sslmode=disable"), &[], &["donor", "list"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&shown("localhost")), "{err}");
    assert!(err.contains("pg_hba.conf rejects connection") && err.contains("no encryption"), "{err}");

    // verify-full without a root certificate anywhere: named, with the ways out.
    let (code, err) = run.fail(&at("localhost", "sslmode=verify-full"), &[], &["donor", "list"]);
    assert_eq!(code, 1, "{err}");
    let default = run.home().join(".postgresql/root.crt");
    assert!(err.contains(&format!("root certificate file \"{}\" does not exist", default.display())), "{err}");
    assert!(err.contains("sslrootcert=system"), "{err}");

    let (code, err) = run.fail(&at("localhost", "sslmode=verify_full"), &[], &["donor", "list"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("sslmode \"verify_full\" is not one of disable, allow, prefer, require, verify-ca, verify-full"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");

    // A root certificate file turns the chain check on in every mode that uses TLS: none of them goes on with a
    // server its roots did not sign (allow after the server refused the clear attempt; prefer is not retried clear).
    for mode in ["verify-ca", "require", "prefer", "allow"] {
        let (code, err) = run.fail(
            &at("localhost", &format!("sslmode={mode}&sslrootcert={}", path(&tls.other_ca))),
            &[],
            &["donor", "list"],
        );
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("the server's certificate is not trusted"), "{mode}: {err}");
        assert!(err.contains(&format!("(sslmode={mode})")), "{mode}: {err}");
    }

    // A root certificate file named but missing is not silently skipped.
    let (_, err) =
        run.fail(&at("localhost", "sslmode=require&sslrootcert=/nonexistent/ca.crt"), &[], &["donor", "list"]);
    assert!(err.contains("root certificate file \"/nonexistent/ca.crt\" does not exist"), "{err}");
}

#[test]
fn a_hostaddr_is_reached_in_tls_or_refused_never_in_clear() {
    let Some((tls, admin)) = tls("a_hostaddr_is_reached_in_tls_or_refused_never_in_clear") else { return };
    let db = PgDb::new(admin);
    let run = Run::new();
    let port = &tls.port;
    // tokio-postgres reaches hostaddr over TCP even without a host name: there is then no name for TLS to check.
    for mode in ["verify-full", "require", "prefer"] {
        let address = format!("postgresql://stoolbank:s3cret@/postgres?hostaddr=127.0.0.1&port={port}&sslmode={mode}");
        let (code, err) = run.fail(&address, &[], &["donor", "list"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("give host=NAME with hostaddr= for TLS"), "{mode}: {err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
    // With the name beside it: TLS, the certificate checked against that name.
    let app = app_name("hostaddr");
    let address = format!(
        "postgresql://stoolbank@/{}?host=localhost&hostaddr=127.0.0.1&port={port}&application_name={app}\
         &sslmode=verify-full&sslrootcert={}",
        db.name,
        path(&tls.ca)
    );
    run.ok(&address, &[], &["init", "--facility", "G1517"]);
    assert!(encrypted(&tls, &app));
}

/// A server without TLS: it answers one client's `SSLRequest` with a single 'N' (as PostgreSQL with ssl=off does).
/// The thread fails if the client sent anything before asking for TLS.
fn server_without_tls() -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("port").port();
    let server = std::thread::spawn(move || {
        use std::io::Read as _;
        let (mut socket, _) = listener.accept().expect("accept");
        let mut request = [0u8; 8];
        socket.read_exact(&mut request).expect("SSLRequest");
        assert_eq!(request, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], "an SSLRequest");
        socket.write_all(b"N").expect("answer");
    });
    (port, server)
}

#[test]
fn require_refuses_a_server_that_does_not_offer_tls() {
    let Some(_) = tls("require_refuses_a_server_that_does_not_offer_tls") else { return };
    let run = Run::new();
    // As written plainly; with a `?` in the password; with the key percent-encoded (as the postgres crate reads
    // keys): each is require, none falls back to prefer and a clear session.
    for (credentials, options) in
        [("s3cret", "sslmode=require"), ("s3?cret", "sslmode=require"), ("s3cret", "ssl%6Dode=require")]
    {
        let (port, server) = server_without_tls();
        let (code, err) = run.fail(
            &format!("postgresql://stoolbank:{credentials}@127.0.0.1:{port}/bank?{options}"),
            &[],
            &["donor", "list"],
        );
        server.join().expect("the server side");
        assert_eq!(code, 1, "{err}");
        assert_eq!(
            err,
            format!(
                "stoolbank: postgresql://stoolbank@127.0.0.1:{port}/bank: cannot connect: the server does not offer \
                 TLS, and sslmode=require requires it"
            )
        );
    }
}

#[test]
fn a_client_certificate_signs_in_and_its_key_must_be_private() {
    let Some((tls, admin)) = tls("a_client_certificate_signs_in_and_its_key_must_be_private") else { return };
    let mut db = PgDb::new(admin);
    // stoolbank_cert signs in by certificate only (pg_hba.conf: cert); the bank's database is its own.
    db.client.batch_execute(&format!("ALTER DATABASE {} OWNER TO stoolbank_cert", db.name)).expect("owner");
    let run = Run::new();
    let at = |options: &str| {
        format!(
            "postgresql://stoolbank_cert@localhost:{}/{}?sslmode=verify-full&sslrootcert={}{options}",
            tls.port,
            db.name,
            path(&tls.ca)
        )
    };
    let with_cert = format!("&sslcert={}&sslkey={}", path(&tls.cert), path(&tls.key));
    run.ok(&at(&with_cert), &[], &["init", "--facility", "G1517"]);

    let (code, err) = run.fail(&at(""), &[], &["donor", "list"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("connection requires a valid client certificate"), "{err}");

    // The default files: ~/.postgresql/postgresql.crt and .key.
    let dot = run.home().join(".postgresql");
    std::fs::create_dir(&dot).expect("~/.postgresql");
    std::fs::copy(&tls.cert, dot.join("postgresql.crt")).expect("copy the certificate");
    std::fs::copy(&tls.key, dot.join("postgresql.key")).expect("copy the key");
    set_mode(&dot.join("postgresql.key"), 0o600);
    run.ok(&at(""), &[], &["donor", "list"]);

    // A key others can read is refused before anything is sent, as libpq refuses it.
    set_mode(&dot.join("postgresql.key"), 0o644);
    let (code, err) = run.fail(&at(""), &[], &["donor", "list"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "private key file \"{}\" has group or world access",
            dot.join("postgresql.key").display()
        )),
        "{err}"
    );

    // A key that is a directory, or not a PEM key.
    let (_, err) =
        run.fail(&at(&format!("&sslcert={}&sslkey={}", path(&tls.cert), path(&dot))), &[], &["donor", "list"]);
    assert!(err.contains(&format!("private key file \"{}\" is not a regular file", dot.display())), "{err}");
    let not_a_key = dot.join("not-a-key.pem");
    std::fs::copy(&tls.cert, &not_a_key).expect("copy the certificate");
    set_mode(&not_a_key, 0o600);
    let (_, err) =
        run.fail(&at(&format!("&sslcert={}&sslkey={}", path(&tls.cert), path(&not_a_key))), &[], &["donor", "list"]);
    assert!(err.contains("no PEM private key in it"), "{err}");

    // A certificate without its key, and a certificate file that is not there.
    let (_, err) =
        run.fail(&at(&format!("&sslcert={}&sslkey=/nonexistent/me.key", path(&tls.cert))), &[], &["donor", "list"]);
    assert!(err.contains("certificate present, but not private key file \"/nonexistent/me.key\""), "{err}");
    let (_, err) = run.fail(&at("&sslcert=/nonexistent/me.crt"), &[], &["donor", "list"]);
    assert!(err.contains("client certificate file \"/nonexistent/me.crt\" does not exist"), "{err}");
}

#[test]
fn a_unix_socket_ignores_the_tls_options_as_libpq_does() {
    let Some((tls, admin)) = tls("a_unix_socket_ignores_the_tls_options_as_libpq_does") else { return };
    let _ = tls;
    let db = PgDb::new(admin);
    let run = Run::new();
    // No TLS on a socket, whatever the mode, and no certificate file is looked for (libpq never reads them there).
    let at = |options: &str| format!("{}?{options}", db.url());
    run.ok(&at("sslmode=verify-full"), &[], &["init", "--facility", "G1517"]);
    run.ok(&at("sslmode=require&sslrootcert=/nonexistent/ca.crt"), &[], &["donor", "list"]);
    // An unknown mode is still an error there, and so are options libpq refuses together.
    let (_, err) = run.fail(&at("sslmode=on"), &[], &["donor", "list"]);
    assert!(err.contains("sslmode \"on\" is not one of"), "{err}");
    let (_, err) = run.fail(&at("sslmode=disable&sslrootcert=system"), &[], &["donor", "list"]);
    assert!(err.contains("weak sslmode \"disable\" may not be used with sslrootcert=system"), "{err}");
}

#[cfg(unix)]
fn set_mode(file: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
