//! TLS to a PostgreSQL server as libpq sets it up: `sslmode`, `sslrootcert`, `sslcert` and `sslkey` from the
//! address's options, else from `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY`, else libpq's defaults
//! (`prefer`; `~/.postgresql/root.crt`, `postgresql.crt` and `postgresql.key` when present). The `postgres` crate
//! knows only disable/prefer/require and none of the files, so these options are taken out of the address here
//! and the rest is handed to `postgres::Config`. rustls on ring does the TLS: nothing to install but Rust.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    /// Clear first; TLS only if the server refuses a clear connection.
    Allow,
    /// TLS if the server offers it, else clear.
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

/// The TLS options of one address, as given (in the address or the environment); None: not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Options {
    pub mode: Option<SslMode>,
    /// A PEM file, or `system` (the system's trusted roots, libpq 16's meaning).
    pub rootcert: Option<String>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    #[error("sslmode \"{0}\" is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    UnknownMode(String),
    #[error("option {0} has a malformed percent-encoding")]
    Encoding(String),
    #[error("weak sslmode \"{0}\" may not be used with sslrootcert=system (use \"verify-full\")")]
    WeakWithSystem(&'static str),
    #[error("root certificate file \"{0}\" does not exist; give one with sslrootcert=FILE, use the system's trusted roots with sslrootcert=system, or choose an sslmode that does not verify the server (require)")]
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

/// Takes the TLS options out of `address` (a `postgres://` URL); the rest is returned for `postgres::Config`. An
/// option the address leaves out is taken from `env` (libpq's variables); the address wins.
pub(crate) fn split(address: &str, env: impl Fn(&str) -> Option<String>) -> Result<(String, Options), TlsError> {
    let (base, query) = address.split_once('?').unwrap_or((address, ""));
    let mut given: [Option<String>; 4] = Default::default();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match KEYS.iter().position(|(k, _)| *k == key) {
            Some(i) => given[i] = Some(decode(value).ok_or_else(|| TlsError::Encoding(key.into()))?),
            None => rest.push(pair),
        }
    }
    let [mode, rootcert, cert, key] =
        std::array::from_fn(|i| given[i].take().or_else(|| env(KEYS[i].1).filter(|v| !v.is_empty())));
    let options = Options {
        mode: mode.as_deref().map(SslMode::parse).transpose()?,
        rootcert,
        cert: cert.map(PathBuf::from),
        key: key.map(PathBuf::from),
    };
    let address = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
    Ok((address, options))
}

/// A URL's percent-decoding; None for a malformed escape or text that is not UTF-8.
fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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

/// How to connect over TCP: the mode asked for, what is checked of the server, and the TLS client.
pub(crate) struct Plan {
    pub mode: SslMode,
    pub check: Check,
    pub tls: tokio_postgres_rustls::MakeRustlsConnect,
}

impl Options {
    /// The TLS client these options ask for, its files read now (under `home`'s `.postgresql` where not named);
    /// None for `disable`.
    pub(crate) fn plan(&self, home: Option<&Path>) -> Result<Option<Plan>, TlsError> {
        let system = self.rootcert.as_deref() == Some("system");
        // libpq 16: the system's roots make verify-full the default, and refuse anything weaker.
        let mode = self.mode.unwrap_or(if system { SslMode::VerifyFull } else { SslMode::Prefer });
        if mode == SslMode::Disable {
            return Ok(None);
        }
        if system && mode != SslMode::VerifyFull {
            return Err(TlsError::WeakWithSystem(mode.name()));
        }
        let dot = home.map(|h| h.join(".postgresql"));
        let verify = matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull);
        let roots = if system {
            Some((system_roots()?, "the system's trusted roots".to_string()))
        } else {
            let file = match (&self.rootcert, &dot) {
                (Some(file), _) => Some((PathBuf::from(file), true)),
                (None, Some(dot)) => Some((dot.join("root.crt"), false)),
                (None, None) if verify => return Err(TlsError::NoHome),
                (None, None) => None,
            };
            match file {
                // As libpq: a root certificate file that exists is used whatever the mode (require then checks
                // the chain as verify-ca). Unlike libpq, one named that does not exist is an error, never a
                // silent connection without the check that was asked for.
                Some((file, _)) if file.exists() => {
                    let shown = format!("\"{}\"", file.display());
                    Some((file_roots(&file)?, shown))
                }
                Some((file, named)) if verify || named => {
                    return Err(if verify { TlsError::NoRootCert(file) } else { missing("root certificate", file) });
                }
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
        let (builder, check) = match roots {
            Some((roots, from)) if mode == SslMode::VerifyFull => {
                (builder.with_root_certificates(roots), Check::ChainAndName { from })
            }
            Some((roots, from)) => {
                let verifier = Verifier { roots: Some(Arc::new(roots)), algorithms };
                (builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)), Check::Chain { from })
            }
            None => {
                let verifier = Verifier { roots: None, algorithms };
                (builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)), Check::Nothing)
            }
        };
        let config = match self.client_cert(dot.as_deref())? {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(TlsError::ClientCert)?,
            None => builder.with_no_client_auth(),
        };
        Ok(Some(Plan { mode, check, tls: tokio_postgres_rustls::MakeRustlsConnect::new(config) }))
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
        let meta = std::fs::metadata(&key).map_err(|_| TlsError::NoKey(key.clone()))?;
        if !meta.is_file() {
            return Err(TlsError::KeyNotFile(key));
        }
        if private_key_exposed(&meta) {
            return Err(TlsError::KeyAccess(key));
        }
        let der = PrivateKeyDer::from_pem_file(&key).map_err(|e| unreadable("private key", &key, &e))?;
        Ok(Some((chain, der)))
    }
}

/// libpq's test of a key file: private to its owner, or readable by a group too when root owns it.
#[cfg(unix)]
fn private_key_exposed(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // The process's own user owns its /proc/self (std has no geteuid).
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let mode = meta.mode();
    let mine = me.is_none_or(|me| me == meta.uid());
    (mine && mode & 0o077 != 0) || (meta.uid() == 0 && mode & 0o037 != 0)
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
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of that kind in it".to_string(),
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
        rustls::Error::AlertReceived(alert) => {
            format!("the server ended the TLS handshake ({alert:?}): check the client certificate (sslcert, sslkey)")
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{split, Options, SslMode, TlsError};
    use std::path::PathBuf;

    fn env<'a>(vars: &'a [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_string())
    }

    #[test]
    fn the_tls_options_are_taken_out_of_the_address() {
        let (rest, o) = split(
            "postgres://u@db/bank?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&sslcert=c.pem&sslkey=k.pem",
            env(&[]),
        )
        .unwrap();
        assert_eq!(rest, "postgres://u@db/bank?application_name=x");
        assert_eq!(
            o,
            Options {
                mode: Some(SslMode::VerifyFull),
                rootcert: Some("/etc/ca.pem".into()),
                cert: Some(PathBuf::from("c.pem")),
                key: Some(PathBuf::from("k.pem")),
            }
        );
        let (rest, o) = split("postgres://u@db/bank", env(&[])).unwrap();
        assert_eq!((rest.as_str(), o), ("postgres://u@db/bank", Options::default()));
    }

    #[test]
    fn the_address_wins_over_the_environment() {
        let vars = [("PGSSLMODE", "require"), ("PGSSLROOTCERT", "system"), ("PGSSLCERT", ""), ("PGSSLKEY", "k")];
        let (_, o) = split("postgres://u@db/bank?sslmode=disable", env(&vars)).unwrap();
        assert_eq!(o.mode, Some(SslMode::Disable));
        assert_eq!(o.rootcert.as_deref(), Some("system"));
        // An empty variable is as good as unset, as in libpq.
        assert_eq!(o.cert, None);
        assert_eq!(o.key, Some(PathBuf::from("k")));
    }

    #[test]
    fn an_unknown_sslmode_is_named_with_the_accepted_ones() {
        let e = split("postgres://u@db/bank?sslmode=verify_full", env(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "sslmode \"verify_full\" is not one of disable, allow, prefer, require, verify-ca, verify-full"
        );
        let e = split("postgres://u@db/bank", env(&[("PGSSLMODE", "on")])).unwrap_err();
        assert!(matches!(e, TlsError::UnknownMode(m) if m == "on"));
        assert!(
            matches!(split("postgres://u@db/b?sslcert=%zz", env(&[])), Err(TlsError::Encoding(k)) if k == "sslcert")
        );
    }

    #[test]
    fn the_system_roots_make_verify_full_the_default_and_refuse_weaker_modes() {
        let o = Options { rootcert: Some("system".into()), mode: Some(SslMode::Require), ..Options::default() };
        let e = o.plan(None).err().expect("refused");
        assert_eq!(
            e.to_string(),
            "weak sslmode \"require\" may not be used with sslrootcert=system (use \"verify-full\")"
        );
    }

    #[test]
    fn verification_without_a_root_certificate_file_is_refused() {
        let home = tempfile::tempdir().unwrap();
        for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
            let o = Options { mode: Some(mode), ..Options::default() };
            let e = o.plan(Some(home.path())).err().expect("refused");
            let expected = home.path().join(".postgresql/root.crt");
            assert!(matches!(&e, TlsError::NoRootCert(p) if *p == expected), "{e}");
        }
        // Without verification and without the default file: TLS unverified, as libpq.
        let o = Options { mode: Some(SslMode::Require), ..Options::default() };
        let plan = o.plan(Some(home.path())).unwrap().expect("TLS");
        assert_eq!(plan.check, super::Check::Nothing);
        // A file named but missing is an error whatever the mode.
        let o = Options {
            mode: Some(SslMode::Require),
            rootcert: Some("/nonexistent/ca.crt".into()),
            ..Options::default()
        };
        let e = o.plan(Some(home.path())).err().expect("refused");
        assert_eq!(e.to_string(), "root certificate file \"/nonexistent/ca.crt\" does not exist");
        let o = Options { cert: Some("/nonexistent/me.crt".into()), ..Options::default() };
        let e = o.plan(Some(home.path())).err().expect("refused");
        assert_eq!(e.to_string(), "client certificate file \"/nonexistent/me.crt\" does not exist");
        assert!(Options { mode: Some(SslMode::Disable), ..Options::default() }.plan(None).unwrap().is_none());
    }
}
