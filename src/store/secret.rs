//! The bank secret: 32 random bytes in a key file kept outside the database (created 0600 on first use), from
//! which the checkpoint signing key, the identity digest key and the key of the identity set-up slot are derived.
//! Whoever can rewrite the database file cannot forge a signed checkpoint, nor test guessed names against the
//! audit log, nor (while no identity viewer is enrolled) open the identity key, without it.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::{Result, StoreError};

type HmacSha256 = Hmac<Sha256>;

pub struct BankSecret {
    bytes: [u8; 32],
    path: PathBuf,
}

/// HMAC-SHA-256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl BankSecret {
    /// `stoolbank/bank.key` in the user's configuration directory.
    pub fn default_path() -> PathBuf {
        dirs::config_dir().unwrap_or_else(|| PathBuf::from(".")).join("stoolbank").join("bank.key")
    }

    /// The secret in `path`, or None when there is no file there yet.
    pub fn load(path: &Path) -> Result<Option<BankSecret>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::Io(format!("bank key {}: {e}", path.display()))),
        };
        let bad = || StoreError::Io(format!("bank key {}: not a stoolbank key (64 hex digits)", path.display()));
        let bytes = hex::decode(text.trim()).map_err(|_| bad())?.try_into().map_err(|_| bad())?;
        Ok(Some(BankSecret { bytes, path: path.into() }))
    }

    /// The secret in `path`, created (readable by its owner only) when missing.
    pub fn load_or_create(path: &Path) -> Result<BankSecret> {
        if let Some(s) = Self::load(path)? {
            return Ok(s);
        }
        let io = |e: std::io::Error| StoreError::Io(format!("bank key {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::Io(format!("no randomness for a bank key: {e}")))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut f) => {
                writeln!(f, "{}", hex::encode(bytes)).and_then(|()| f.sync_all()).map_err(io)?;
                Ok(BankSecret { bytes, path: path.into() })
            }
            // Another bench created it meanwhile: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path)?.ok_or_else(|| io(e)),
            Err(e) => Err(io(e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn derive(&self, purpose: &str) -> [u8; 32] {
        hmac_sha256(&self.bytes, purpose.as_bytes())
    }

    /// The key that wraps the bank's identity private key in the set-up slot (while no viewer is enrolled).
    pub(crate) fn setup_slot_key(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.derive("stoolbank identity set-up slot v1"))
    }

    pub fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.derive("stoolbank checkpoint signing v1"))
    }

    /// The key of identity digests, and its public name (so that a digest made under another key is told apart
    /// from a changed row).
    pub fn identity_key(&self) -> ([u8; 32], String) {
        let key = self.derive("stoolbank identity digest v1");
        let id = hex::encode(&hmac_sha256(&key, b"key id")[..8]);
        (key, id)
    }
}

impl Drop for BankSecret {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// The keyed digest the audit trail holds of an identity row instead of the row: keyed by the bank secret in
/// its key file (read, or with `create` created, at the first identity row), else withheld: an unkeyed digest of
/// a name is guessable.
#[derive(Default)]
pub(crate) struct IdentityDigest {
    key_file: Option<(PathBuf, bool)>,
    key: std::sync::OnceLock<Option<([u8; 32], String)>>,
}

impl IdentityDigest {
    pub fn keyed(key_file: &Path, create: bool) -> IdentityDigest {
        IdentityDigest { key_file: Some((key_file.to_path_buf(), create)), key: std::sync::OnceLock::new() }
    }

    /// The digest of a row (its canonical JSON) as the audit entry's state.
    pub fn digest(&self, row: &str) -> super::Result<String> {
        if self.key.get().is_none() {
            let secret = match &self.key_file {
                Some((path, true)) => BankSecret::load_or_create(path).map(Some),
                Some((path, false)) => BankSecret::load(path),
                None => Ok(None),
            }?;
            let _ = self.key.set(secret.as_ref().map(BankSecret::identity_key));
        }
        let state = match self.key.get() {
            Some(Some((k, id))) => {
                serde_json::json!({ "hmac_sha256": hex::encode(hmac_sha256(k, row.as_bytes())), "key": id })
            }
            _ => serde_json::json!({ "withheld": "no bank key" }),
        };
        Ok(state.to_string())
    }
}
