//! TLS to a PostgreSQL server as libpq sets it up: `sslmode`, `sslrootcert`, `sslcert` and `sslkey` from the
//! address's options, else from `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY`, else libpq's defaults
//! (`prefer`; `~/.postgresql/root.crt`, `postgresql.crt` and `postgresql.key` when present). The `postgres` crate
//! knows only disable/prefer/require and none of the files, so these options are taken out of the address here
//! and the rest is handed to `postgres::Config`. rustls on ring does the TLS: nothing to install but Rust.

use std::ffi::OsString;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use postgres::config::{Host, SslMode as PgSslMode, SslNegotiation};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    /// Clear first; TLS only if the server refuses a clear connection.
    Allow,
    /// TLS if the server offers it, else clear.
    #[default]
    Prefer,
    /// TLS or nothing; the certificate is checked only against a root certificate file that exists.
    Require,
    /// TLS, the server's certificate chain checked against the root certificates; its name not checked.
    VerifyCa,
    /// TLS, the chain and the server's name checked.
    VerifyFull,
}

const MODES: [(&str, SslMode); 6] = [
    ("disable", SslMode::Disable),
    ("allow", SslMode::Allow),
    ("prefer", SslMode::Prefer),
    ("require", SslMode::Require),
    ("verify-ca", SslMode::VerifyCa),
    ("verify-full", SslMode::VerifyFull),
];

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, TlsError> {
        MODES
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, m)| *m)
            .ok_or_else(|| TlsError::UnknownMode(value.into()))
    }

    pub(crate) fn name(self) -> &'static str {
        MODES.iter().find(|(_, m)| *m == self).map_or("?", |(name, _)| name)
    }
}

/// The TLS options of one address: the mode in effect, and the files as given (in the address or the
/// environment); None: not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Options {
    pub mode: SslMode,
    /// A PEM file, or `system` (the system's trusted roots, libpq 16's meaning).
    pub rootcert: Option<String>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    #[error("not a PostgreSQL address: {0}")]
    Address(String),
    #[error("sslmode \"{0}\" is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    UnknownMode(String),
    #[error("option {key} {why}")]
    Encoding { key: String, why: &'static str },
    #[error("{0} is not UTF-8")]
    EnvNotUtf8(&'static str),
    #[error("option {0} is not supported by stoolbank")]
    Unsupported(String),
    #[error("the address sets an sslmode stoolbank did not read; write it as ?sslmode=MODE after the host")]
    Unread,
    #[error("hostaddr= without a host name leaves TLS nothing to check: give host=NAME with hostaddr= for TLS (or sslmode=disable)")]
    HostaddrWithoutHost,
    #[error("weak sslmode \"{0}\" may not be used with sslrootcert=system (use \"verify-full\")")]
    WeakWithSystem(&'static str),
    #[error("weak sslmode \"{0}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")")]
    WeakWithDirect(&'static str),
    #[error("root certificate file \"{}\" does not exist; give one with sslrootcert=FILE, use the system's trusted roots with sslrootcert=system, or choose an sslmode that does not verify the server (require)", .0.display())]
    NoRootCert(PathBuf),
    #[error("no home directory to find ~/.postgresql/root.crt in; give sslrootcert=FILE or sslrootcert=system")]
    NoHome,
    #[error("{what} file \"{}\" does not exist", path.display())]
    Missing { what: &'static str, path: PathBuf },
    #[error("cannot read {what} file \"{}\": {why}", path.display())]
    Unreadable { what: &'static str, path: PathBuf, why: String },
    #[error("certificate present, but not private key file \"{}\"", .0.display())]
    NoKey(PathBuf),
    #[error("private key file \"{}\" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root", .0.display())]
    KeyAccess(PathBuf),
    #[error("private key file \"{}\" is not a regular file", .0.display())]
    KeyNotFile(PathBuf),
    #[error("private key file \"{}\" is encrypted: encrypted keys (sslpassword) are not supported", .0.display())]
    EncryptedKey(PathBuf),
    #[error("the system's trusted root certificates could not be loaded: {0}")]
    NoSystemRoots(String),
    #[error("client certificate and key: {0}")]
    ClientCert(rustls::Error),
    #[error("TLS set-up: {0}")]
    Setup(rustls::Error),
}

/// The names libpq gives these options in an address, and in the environment.
const KEYS: [(&str, &str); 4] =
    [("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("sslcert", "PGSSLCERT"), ("sslkey", "PGSSLKEY")];

/// libpq's other TLS and security options, which the `postgres` crate does not know: refused by name, since
/// ignoring one would weaken a check asked for (a CRL, a protocol floor, a client certificate mode, an
/// authentication requirement) or fail later for an unclear reason (an encrypted key's password).
const UNSUPPORTED: [&str; 14] = [
    "sslcrl",
    "sslcrldir",
    "sslcertmode",
    "sslpassword",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "sslsni",
    "sslcompression",
    "sslkeylogfile",
    "requiressl",
    "gssencmode",
    "gsslib",
    "require_auth",
    "requirepeer",
];

/// Values of those that ask for what is done anyway: accepted and dropped.
const HARMLESS: [(&str, &str); 4] =
    [("sslsni", "1"), ("sslcompression", "0"), ("gssencmode", "disable"), ("ssl_min_protocol_version", "TLSv1.2")];

/// Reads `address` (a `postgres://` URL) as libpq would: the TLS options taken out, an option the address leaves
/// out taken from `env` (libpq's variables; the address wins), the rest parsed by `postgres::Config`. The address
/// is split where tokio-postgres splits it, so that no option it reads can be missed here.
pub(crate) fn read(
    address: &str,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<(postgres::Config, Options), TlsError> {
    // tokio-postgres takes the credentials up to the first `@` (a password may hold a `?`), then the host and
    // database up to the first `?`.
    let after_credentials = address.find('@').map_or(0, |at| at + 1);
    let (base, query) = match address[after_credentials..].find('?') {
        Some(q) => (&address[..after_credentials + q], &address[after_credentials + q + 1..]),
        None => (address, ""),
    };
    let mut given: [Option<String>; 4] = Default::default();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // Keys are percent-decoded as tokio-postgres decodes them; one that does not decode is none of ours.
        let Ok(key) = decode(raw_key) else {
            rest.push(pair);
            continue;
        };
        if let Some(i) = KEYS.iter().position(|(k, _)| *k == key) {
            given[i] = Some(decode(value).map_err(|why| TlsError::Encoding { key, why })?);
        } else if UNSUPPORTED.contains(&key.as_str()) {
            if !HARMLESS.iter().any(|(k, v)| *k == key && decode(value).is_ok_and(|value| value == *v)) {
                return Err(TlsError::Unsupported(key));
            }
        } else {
            rest.push(pair);
        }
    }
    let rest = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
    let config: postgres::Config = rest.parse().map_err(|e: postgres::Error| {
        let cause = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
        TlsError::Address(format!("{e}{cause}"))
    })?;
    // A safety net: tokio-postgres saw an sslmode this reading missed (its own default is prefer).
    if config.get_ssl_mode() != PgSslMode::Prefer {
        return Err(TlsError::Unread);
    }

    // As libpq, an empty variable is as good as unset; an empty option in the address is given, and empty.
    let mut values: [Option<String>; 4] = Default::default();
    for (i, (_, var)) in KEYS.iter().enumerate() {
        values[i] = match given[i].take() {
            Some(v) => Some(v),
            None => env(var)
                .map(|v| v.into_string().map_err(|_| TlsError::EnvNotUtf8(var)))
                .transpose()?
                .filter(|v| !v.is_empty()),
        };
    }
    let [mode, rootcert, cert, key] = values;
    // An empty file name is no file: the default one is used (an empty sslmode is refused, as by libpq).
    let file = |v: Option<String>| v.filter(|v| !v.is_empty());
    let rootcert = file(rootcert);
    let system = rootcert.as_deref() == Some("system");
    let mode = match mode {
        Some(m) => SslMode::parse(&m)?,
        // libpq 16: the system's roots make verify-full the default.
        None if system => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    // libpq's checks of the options together, before any connection (on a socket too).
    if system && mode != SslMode::VerifyFull {
        return Err(TlsError::WeakWithSystem(mode.name()));
    }
    let tls_only = matches!(mode, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull);
    if config.get_ssl_negotiation() == SslNegotiation::Direct && !tls_only {
        return Err(TlsError::WeakWithDirect(mode.name()));
    }
    // tokio-postgres connects to hostaddr over TCP, and checks TLS against the host name beside it: without one
    // there is no name to check (it would fail, or fall back to clear).
    let named = |i: usize| matches!(config.get_hosts().get(i), Some(Host::Tcp(_)));
    if mode != SslMode::Disable && (0..config.get_hostaddrs().len()).any(|i| !named(i)) {
        return Err(TlsError::HostaddrWithoutHost);
    }
    let options = Options { mode, rootcert, cert: file(cert).map(PathBuf::from), key: file(key).map(PathBuf::from) };
    Ok((config, options))
}

/// A URL's percent-decoding, each escape two hex digits; what is wrong with it otherwise.
fn decode(value: &str) -> Result<String, &'static str> {
    const MALFORMED: &str = "has a malformed percent-encoding";
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit)).ok_or(MALFORMED)?;
            let hex = std::str::from_utf8(hex).map_err(|_| MALFORMED)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| MALFORMED)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "is not UTF-8")
}

/// What is checked of the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// Nothing but the handshake's signatures (libpq's prefer and require without a root certificate file).
    Nothing,
    /// The chain up to the roots from `from` (a file, or the system's).
    Chain { from: String },
    /// The chain and the host name.
    ChainAndName { from: String },
}

/// How to connect over TCP in TLS: the mode asked for, what is checked of the server, and the TLS client.
pub(crate) struct Plan {
    pub mode: SslMode,
    pub check: Check,
    pub tls: tokio_postgres_rustls::MakeRustlsConnect,
}

impl Options {
    /// The TLS client these options ask for, its files read now (under `home`'s `.postgresql` where not named).
    /// Not for `disable`, which connects without one.
    pub(crate) fn plan(&self, home: Option<&Path>) -> Result<Plan, TlsError> {
        let mode = self.mode;
        let dot = home.map(|h| h.join(".postgresql"));
        let file = match (&self.rootcert, &dot) {
            (Some(file), _) => Some((PathBuf::from(file), true)),
            (None, Some(dot)) => Some((dot.join("root.crt"), false)),
            (None, None) => None,
        };
        let roots = if self.rootcert.as_deref() == Some("system") {
            Some((system_roots()?, "the system's trusted roots".to_string()))
        } else {
            match &file {
                // As libpq: a root certificate file that exists is used whatever the mode (require, prefer and
                // allow then check the chain as verify-ca).
                Some((file, _)) if file.exists() => Some((file_roots(file)?, format!("\"{}\"", file.display()))),
                // Unlike libpq, one named that does not exist is an error, never a silent connection without the
                // check that was asked for.
                Some((file, true)) => return Err(missing("root certificate", file.clone())),
                _ => None,
            }
        };
        // ring, not aws-lc-rs: nothing but Rust to build. rustls deprecates it only for its lack of post-quantum key
        // exchange; its classical ones (X25519, P-256, P-384) are what libpq offers with OpenSSL before 3.5.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?;
        let algorithms = provider.signature_verification_algorithms;
        let (builder, check) = match (mode, roots) {
            (SslMode::VerifyFull, Some((roots, from))) => {
                (builder.with_root_certificates(roots), Check::ChainAndName { from })
            }
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err(file.map_or(TlsError::NoHome, |(file, _)| TlsError::NoRootCert(file)));
            }
            (_, Some((roots, from))) => {
                let verifier = Verifier { roots: Some(Arc::new(roots)), algorithms };
                (builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)), Check::Chain { from })
            }
            (_, None) => {
                let verifier = Verifier { roots: None, algorithms };
                (builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)), Check::Nothing)
            }
        };
        let mut config = match self.client_cert(dot.as_deref())? {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(TlsError::ClientCert)?,
            None => builder.with_no_client_auth(),
        };
        // As libpq 17: PostgreSQL 17 requires this ALPN for sslnegotiation=direct; older servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Plan { mode, check, tls: tokio_postgres_rustls::MakeRustlsConnect::new(config) })
    }

    /// The client certificate and its key: the files named, else `~/.postgresql/postgresql.crt` and `.key` when
    /// the certificate is there (as libpq, no certificate is no client authentication).
    fn client_cert(
        &self,
        dot: Option<&Path>,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, TlsError> {
        let cert = match (&self.cert, dot) {
            (Some(cert), _) if !cert.exists() => return Err(missing("client certificate", cert.clone())),
            (Some(cert), _) => cert.clone(),
            (None, Some(dot)) if dot.join("postgresql.crt").exists() => dot.join("postgresql.crt"),
            (None, _) => return Ok(None),
        };
        let key = match (&self.key, dot) {
            (Some(key), _) => key.clone(),
            (None, Some(dot)) => dot.join("postgresql.key"),
            (None, None) => return Err(TlsError::NoKey(PathBuf::from("~/.postgresql/postgresql.key"))),
        };
        let chain = certificates(&cert, "client certificate")?;
        Ok(Some((chain, private_key(&key)?)))
    }
}

/// A private key as libpq accepts one: a regular file, private as `private_key_exposed` says, not encrypted. The
/// file is opened once and checked and read through that one handle.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let io_err = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => TlsError::NoKey(path.into()),
        _ => TlsError::Unreadable { what: "private key", path: path.into(), why: e.to_string() },
    };
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    // Not blocking on a FIFO named as the key: it is refused below as not a regular file.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut open, rustix::fs::OFlags::NONBLOCK.bits() as i32);
    let mut file = open.open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(TlsError::KeyNotFile(path.into()));
    }
    if private_key_exposed(&meta) {
        return Err(TlsError::KeyAccess(path.into()));
    }
    let mut pem = Vec::new();
    file.read_to_end(&mut pem).map_err(io_err)?;
    // PKCS#8's encrypted form, and the traditional one's header.
    let text = String::from_utf8_lossy(&pem);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(TlsError::EncryptedKey(path.into()));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| unreadable("private key", path, &e))
}

/// libpq's test of a key file: private to its owner when the process's effective user owns it, and readable by
/// a group at most when root owns it.
#[cfg(unix)]
fn private_key_exposed(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let mode = meta.mode();
    (meta.uid() == me && mode & 0o077 != 0) || (meta.uid() == 0 && mode & 0o037 != 0)
}

#[cfg(not(unix))]
fn private_key_exposed(_meta: &std::fs::Metadata) -> bool {
    false
}

fn missing(what: &'static str, path: PathBuf) -> TlsError {
    TlsError::Missing { what, path }
}

fn unreadable(what: &'static str, path: &Path, e: &rustls::pki_types::pem::Error) -> TlsError {
    let why = match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!("no PEM {what} in it"),
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        e => format!("not PEM ({e:?})"),
    };
    TlsError::Unreadable { what, path: path.into(), why }
}

fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| unreadable(what, path, &e))?;
    if certs.is_empty() {
        return Err(unreadable(what, path, &rustls::pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}

fn file_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, "root certificate")? {
        roots.add(cert).map_err(|e| TlsError::Unreadable {
            what: "root certificate",
            path: path.into(),
            why: format!("not a usable CA certificate ({e})"),
        })?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found.errors.first().map_or_else(|| "none found".to_string(), ToString::to_string);
        return Err(TlsError::NoSystemRoots(why));
    }
    Ok(roots)
}

/// The server's certificate checked up to `roots` without its name (verify-ca), or not at all (prefer and require
/// without roots); either way the handshake's signatures are checked, so the session is with the holder of the
/// certificate's key.
#[derive(Debug)]
struct Verifier {
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What a failed TLS connection means, in the user's terms; None when it was not TLS that failed.
pub(crate) fn explain(e: &postgres::Error, plan: &Plan, host: &str) -> Option<String> {
    let mode = plan.mode.name();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        // io::Error's source() skips the error it wraps: look inside it too.
        let inner = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).map(|i| i as _);
        for candidate in [Some(err), inner].into_iter().flatten() {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                return Some(explain_rustls(tls, plan, host));
            }
            // tokio-postgres's own words for a server that answered the TLS request with no.
            if candidate.to_string() == "server does not support TLS" {
                return Some(format!("the server does not offer TLS, and sslmode={mode} requires it"));
            }
        }
        next = err.source();
    }
    None
}

fn explain_rustls(e: &rustls::Error, plan: &Plan, host: &str) -> String {
    let mode = plan.mode.name();
    let from = match &plan.check {
        Check::Chain { from } | Check::ChainAndName { from } => from.as_str(),
        Check::Nothing => "no root certificates",
    };
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "the server's certificate is not trusted: it is not signed by a root certificate in {from} (sslmode={mode})"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
                "the server's certificate does not name host \"{host}\" (sslmode=verify-full checks the name; verify-ca does not)"
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet".into()
            }
            other => format!("the server's certificate is refused ({other:?}, sslmode={mode})"),
        },
        // The alerts a server sends about the client's certificate (missing, unsigned by its CA, or refused).
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::CertificateRequired
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateUnknown),
        ) => format!("the server ended the TLS handshake ({alert:?}): check the client certificate (sslcert, sslkey)"),
        rustls::Error::AlertReceived(alert) => format!("the server ended the TLS handshake ({alert:?})"),
        other => format!("TLS handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{read, Check, Options, SslMode, TlsError, Verifier};
    use std::ffi::OsString;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn env<'a>(vars: &'a [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v))
    }

    fn options(address: &str) -> Result<Options, TlsError> {
        read(address, env(&[])).map(|(_, o)| o)
    }

    #[test]
    fn the_tls_options_are_taken_out_of_the_address() {
        let (config, o) = read(
            "postgres://u@db/bank?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&sslcert=c.pem&sslkey=k.pem",
            env(&[]),
        )
        .unwrap();
        assert_eq!(config.get_application_name(), Some("x"));
        assert_eq!(config.get_dbname(), Some("bank"));
        assert_eq!(
            o,
            Options {
                mode: SslMode::VerifyFull,
                rootcert: Some("/etc/ca.pem".into()),
                cert: Some(PathBuf::from("c.pem")),
                key: Some(PathBuf::from("k.pem")),
            }
        );
        assert_eq!(options("postgres://u@db/bank").unwrap(), Options::default());
    }

    #[test]
    fn the_address_is_split_where_the_postgres_crate_splits_it() {
        // A `?` in the password: the options still start after the host.
        let (config, o) = read("postgres://u:p?w@db/bank?sslmode=require", env(&[])).unwrap();
        assert_eq!(o.mode, SslMode::Require);
        assert_eq!(config.get_password(), Some(&b"p?w"[..]));
        // A percent-encoded key is the same key.
        assert_eq!(options("postgres://u@db/bank?ssl%6Dode=require").unwrap().mode, SslMode::Require);
        assert_eq!(options("postgres://u@db/bank?ssl%6dode=verify-full").unwrap().mode, SslMode::VerifyFull);
        let o = options("postgres://u@db/bank?%73slrootcert=%2Fca.pem").unwrap();
        assert_eq!(o.rootcert.as_deref(), Some("/ca.pem"));
        // A key that does not decode is not one of these, and the postgres crate names it.
        let e = options("postgres://u@db/bank?ssl%+6dode=require").unwrap_err();
        assert_eq!(e.to_string(), "not a PostgreSQL address: invalid connection string: unknown option `ssl%+6dode`");
    }

    #[test]
    fn other_libpq_options_are_named_when_refused() {
        for option in ["sslcrl=/crl.pem", "sslcertmode=require", "sslpassword=x", "ssl_min_protocol_version=TLSv1.3"] {
            let e = options(&format!("postgres://u@db/bank?{option}")).unwrap_err();
            let name = option.split('=').next().unwrap();
            assert_eq!(e.to_string(), format!("option {name} is not supported by stoolbank"));
        }
        assert!(matches!(options("postgres://u@db/b?ssl%63rl=x"), Err(TlsError::Unsupported(k)) if k == "sslcrl"));
        assert!(matches!(options("postgres://u@db/b?sslsni=0"), Err(TlsError::Unsupported(k)) if k == "sslsni"));
        // Values asking for what is done anyway are accepted.
        let o = options("postgres://u@db/bank?sslsni=1&sslcompression=0&gssencmode=disable&sslmode=require").unwrap();
        assert_eq!(o.mode, SslMode::Require);
        // Any other option the postgres crate does not know is named by it.
        let e = options("postgres://u@db/bank?service=bank").unwrap_err();
        assert_eq!(e.to_string(), "not a PostgreSQL address: invalid connection string: unknown option `service`");
    }

    #[test]
    fn the_address_wins_over_the_environment() {
        let vars = [("PGSSLMODE", "require"), ("PGSSLROOTCERT", "/ca.pem"), ("PGSSLCERT", ""), ("PGSSLKEY", "k")];
        let (_, o) = read("postgres://u@db/bank?sslmode=disable", env(&vars)).unwrap();
        assert_eq!(o.mode, SslMode::Disable);
        assert_eq!(o.rootcert.as_deref(), Some("/ca.pem"));
        // An empty variable is as good as unset, as in libpq.
        assert_eq!(o.cert, None);
        assert_eq!(o.key, Some(PathBuf::from("k")));
        // An empty file in the address is no file: the default, not the variable's.
        let (_, o) = read("postgres://u@db/bank?sslrootcert=&sslkey=", env(&vars)).unwrap();
        assert_eq!((o.rootcert, o.key, o.mode), (None, None, SslMode::Require));
    }

    #[cfg(unix)]
    #[test]
    fn a_variable_that_is_not_utf8_is_refused_by_name() {
        use std::os::unix::ffi::OsStringExt;
        let env = |k: &str| (k == "PGSSLROOTCERT").then(|| OsString::from_vec(b"/ca\xff.pem".to_vec()));
        let e = read("postgres://u@db/bank?sslmode=verify-full", env).unwrap_err();
        assert_eq!(e.to_string(), "PGSSLROOTCERT is not UTF-8");
    }

    #[test]
    fn an_unknown_sslmode_or_a_bad_encoding_is_named() {
        let e = options("postgres://u@db/bank?sslmode=verify_full").unwrap_err();
        assert_eq!(
            e.to_string(),
            "sslmode \"verify_full\" is not one of disable, allow, prefer, require, verify-ca, verify-full"
        );
        let e = read("postgres://u@db/bank", env(&[("PGSSLMODE", "on")])).unwrap_err();
        assert!(matches!(e, TlsError::UnknownMode(m) if m == "on"));
        assert!(matches!(options("postgres://u@db/bank?sslmode="), Err(TlsError::UnknownMode(m)) if m.is_empty()));
        for (value, why) in [("%zz", "has a malformed percent-encoding"), ("%+1", "has a malformed percent-encoding")] {
            let e = options(&format!("postgres://u@db/b?sslcert={value}")).unwrap_err();
            assert_eq!(e.to_string(), format!("option sslcert {why}"));
        }
        let e = options("postgres://u@db/b?sslcert=%ff").unwrap_err();
        assert_eq!(e.to_string(), "option sslcert is not UTF-8");
    }

    #[test]
    fn a_hostaddr_without_a_host_name_is_refused_for_tls() {
        for mode in ["", "&sslmode=prefer", "&sslmode=require", "&sslmode=verify-full", "&sslmode=allow"] {
            let e = options(&format!("postgres://u:pw@/bank?hostaddr=127.0.0.1{mode}")).unwrap_err();
            assert!(matches!(e, TlsError::HostaddrWithoutHost), "{mode}: {e}");
            assert!(e.to_string().contains("give host=NAME with hostaddr= for TLS"), "{e}");
        }
        let e = options("postgres://u@%2Ftmp/bank?hostaddr=127.0.0.1&sslmode=require").unwrap_err();
        assert!(matches!(e, TlsError::HostaddrWithoutHost), "{e}");
        // With the name beside it, TLS checks that name; sslmode=disable asks for no TLS.
        let (config, o) =
            read("postgres://u@db.example/bank?hostaddr=127.0.0.1&sslmode=verify-full", env(&[])).unwrap();
        assert_eq!((config.get_hostaddrs().len(), o.mode), (1, SslMode::VerifyFull));
        assert_eq!(options("postgres://u@/bank?hostaddr=127.0.0.1&sslmode=disable").unwrap().mode, SslMode::Disable);
    }

    #[test]
    fn libpqs_checks_of_options_together_hold_on_every_host() {
        for mode in ["require", "disable", "prefer"] {
            let e = options(&format!("postgres://u@%2Ftmp/bank?sslrootcert=system&sslmode={mode}")).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("weak sslmode \"{mode}\" may not be used with sslrootcert=system (use \"verify-full\")")
            );
        }
        assert_eq!(options("postgres://u@db/bank?sslrootcert=system").unwrap().mode, SslMode::VerifyFull);
        for mode in ["", "&sslmode=prefer", "&sslmode=allow", "&sslmode=disable"] {
            let e = options(&format!("postgres://u@db/bank?sslnegotiation=direct{mode}")).unwrap_err();
            assert!(matches!(e, TlsError::WeakWithDirect(_)), "{mode}: {e}");
        }
        assert!(options("postgres://u@db/bank?sslnegotiation=direct&sslmode=require").is_ok());
    }

    #[test]
    fn verification_without_a_root_certificate_file_is_refused() {
        let home = tempfile::tempdir().unwrap();
        for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
            let o = Options { mode, ..Options::default() };
            let e = o.plan(Some(home.path())).err().expect("refused");
            let expected = home.path().join(".postgresql/root.crt");
            assert!(matches!(&e, TlsError::NoRootCert(p) if *p == expected), "{e}");
            assert!(matches!(o.plan(None), Err(TlsError::NoHome)));
        }
        // Without verification and without the default file: TLS unverified, as libpq.
        let o = Options { mode: SslMode::Require, ..Options::default() };
        assert_eq!(o.plan(Some(home.path())).unwrap().check, Check::Nothing);
        // A file named but missing is an error whatever the mode.
        for mode in [SslMode::Require, SslMode::VerifyFull] {
            let o = Options { mode, rootcert: Some("/nonexistent/ca.crt".into()), ..Options::default() };
            let e = o.plan(Some(home.path())).err().expect("refused");
            assert_eq!(e.to_string(), "root certificate file \"/nonexistent/ca.crt\" does not exist");
        }
        let o = Options { cert: Some("/nonexistent/me.crt".into()), ..Options::default() };
        let e = o.plan(Some(home.path())).err().expect("refused");
        assert_eq!(e.to_string(), "client certificate file \"/nonexistent/me.crt\" does not exist");
    }

    /// Runs openssl in `dir`; CI must have it (`scripts/pg-cluster` needs it too).
    fn openssl(dir: &Path, args: &[&str]) -> bool {
        match Command::new("openssl").args(args).current_dir(dir).output() {
            Ok(out) => {
                assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
                true
            }
            Err(e) => {
                assert!(std::env::var_os("CI").is_none(), "openssl: {e}; CI must not skip this test");
                eprintln!("skipped: no openssl command ({e})");
                false
            }
        }
    }

    /// A CA, and a server certificate with its key that the CA signs, valid for one day from now.
    fn make_certificates(dir: &Path) -> bool {
        [
            "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key",
            "req -x509 -new -key ca.key -subj /CN=ca -days 30 -out ca.crt",
            "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key",
            "req -x509 -new -key server.key -subj /CN=localhost -CA ca.crt -CAkey ca.key -days 1 \
             -addext basicConstraints=critical,CA:FALSE -out server.crt",
        ]
        .iter()
        .all(|args| openssl(dir, &args.split_whitespace().collect::<Vec<_>>()))
    }

    #[test]
    fn verify_ca_refuses_an_expired_certificate() {
        use rustls::client::danger::ServerCertVerifier as _;
        use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
        let dir = tempfile::tempdir().unwrap();
        if !make_certificates(dir.path()) {
            return;
        }
        #[allow(deprecated)]
        let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let roots = super::file_roots(&dir.path().join("ca.crt")).unwrap();
        let verifier = Verifier { roots: Some(std::sync::Arc::new(roots)), algorithms };
        let cert = super::certificates(&dir.path().join("server.crt"), "server certificate").unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let at = |days: u64| UnixTime::since_unix_epoch(now + std::time::Duration::from_secs(days * 86_400));
        let verify = |at| verifier.verify_server_cert(&CertificateDer::from(cert[0].to_vec()), &[], &name, &[], at);
        assert!(verify(at(0)).is_ok());
        // Two days on, the one-day certificate has expired.
        let e = verify(at(2)).unwrap_err();
        assert!(
            matches!(
                e,
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. }
                )
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_client_key_must_be_a_private_unencrypted_pem_file() {
        let dir = tempfile::tempdir().unwrap();
        if !make_certificates(dir.path()) {
            return;
        }
        let file = |name: &str| dir.path().join(name);
        let plan = |key: PathBuf| {
            let o = Options {
                mode: SslMode::Require,
                cert: Some(file("server.crt")),
                key: Some(key),
                ..Options::default()
            };
            o.plan(Some(dir.path())).map(|_| ())
        };
        set_mode(&file("server.key"), 0o600);
        plan(file("server.key")).expect("a private key");

        let e = plan(dir.path().to_path_buf()).unwrap_err();
        assert!(matches!(&e, TlsError::KeyNotFile(p) if p == dir.path()), "{e}");
        // A FIFO is refused without waiting for a writer.
        assert!(Command::new("mkfifo").arg(file("fifo.key")).status().unwrap().success());
        let e = plan(file("fifo.key")).unwrap_err();
        assert!(matches!(&e, TlsError::KeyNotFile(_)), "{e}");

        std::fs::write(file("text.key"), "not a key\n").unwrap();
        set_mode(&file("text.key"), 0o600);
        let e = plan(file("text.key")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("cannot read private key file \"{}\": no PEM private key in it", file("text.key").display())
        );

        assert!(openssl(
            dir.path(),
            &["pkcs8", "-topk8", "-in", "server.key", "-passout", "pass:x", "-out", "encrypted.key"]
        ));
        set_mode(&file("encrypted.key"), 0o600);
        let e = plan(file("encrypted.key")).unwrap_err();
        assert!(e.to_string().contains("encrypted keys (sslpassword) are not supported"), "{e}");

        let e = plan(file("absent.key")).unwrap_err();
        assert!(matches!(&e, TlsError::NoKey(_)), "{e}");
    }

    fn set_mode(file: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}
