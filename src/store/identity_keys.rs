//! The bank's identity keys, the viewers' key pairs and the key slots, and the cryptography of all three.
//!
//! Identity is sealed to the bank's identity public key with libsodium's sealed box (`crypto_box_seal`: an
//! ephemeral X25519 key agreement and XSalsa20-Poly1305), the `RustCrypto` project's `crypto_box` with its `seal` feature. It is
//! chosen over the `age` crate because each identity row is a few dozen bytes sealed to exactly one key: a sealed
//! box adds 48 bytes and a handful of small crates already in the `RustCrypto` family this program uses, where `age`
//! adds a file format with per-recipient headers (about 200 bytes a row) and its own passphrase scheme (scrypt),
//! while the password-derived keys here are argon2id (`argon2`) with XChaCha20-Poly1305 (`chacha20poly1305`).
//! Private keys in memory are `crypto_box::SecretKey`s (zeroized when dropped) or `Zeroizing` buffers.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::XChaCha20Poly1305;
use crypto_box::{PublicKey, SecretKey};
use rusqlite::{params, OptionalExtension};
use zeroize::Zeroizing;

use super::Row;
use super::{Result, Store, StoreError, Tx};
use crate::time::to_db;

const NONCE: usize = 24;
const SALT: usize = 16;

/// A private key, generated from the operating system's randomness.
pub(crate) fn generate() -> SecretKey {
    SecretKey::generate(&mut OsRng)
}

/// `plaintext` sealed to `public`: anyone may seal, only the private key opens.
pub(crate) fn seal(public: &PublicKey, plaintext: &[u8]) -> Result<Vec<u8>> {
    public.seal(&mut OsRng, plaintext).map_err(|_| StoreError::Io("sealing failed".into()))
}

/// What `seal` sealed to this key's public half, or None (another key, or altered bytes).
pub(crate) fn open(secret: &SecretKey, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    secret.unseal(sealed).ok().map(Zeroizing::new)
}

/// A private key as 32 bytes in a sealed or wrapped slot.
fn key_from(bytes: &[u8]) -> Option<SecretKey> {
    SecretKey::from_slice(bytes).ok()
}

/// `secret` encrypted under a 32-byte key: the random nonce, then the ciphertext.
fn wrap(key: &[u8; 32], secret: &SecretKey) -> Result<Vec<u8>> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let bytes = Zeroizing::new(secret.to_bytes());
    let sealed = cipher.encrypt(&nonce, bytes.as_slice()).map_err(|_| StoreError::Io("wrapping failed".into()))?;
    Ok([nonce.as_slice(), &sealed].concat())
}

/// The key `wrap` wrapped, or None when `key` is not the one it was wrapped under.
fn unwrap(key: &[u8; 32], blob: &[u8]) -> Option<SecretKey> {
    if blob.len() <= NONCE {
        return None;
    }
    let (nonce, sealed) = blob.split_at(NONCE);
    let cipher = XChaCha20Poly1305::new(key.into());
    let bytes = Zeroizing::new(cipher.decrypt(nonce.into(), sealed).ok()?);
    key_from(&bytes)
}

/// The bank's identity private key of one generation, sealed to a viewer's public key.
pub(crate) fn seal_key(viewer: &PublicKey, identity: &SecretKey) -> Result<Vec<u8>> {
    seal(viewer, &Zeroizing::new(identity.to_bytes())[..])
}

/// The identity private key a viewer's slot holds, opened with the viewer's private key.
pub(crate) fn open_key(viewer: &SecretKey, slot: &[u8]) -> Option<SecretKey> {
    key_from(&open(viewer, slot)?)
}

/// The identity private key under a key derived from the bank secret (the set-up slot).
pub(crate) fn wrap_setup(key: &[u8; 32], identity: &SecretKey) -> Result<Vec<u8>> {
    wrap(key, identity)
}

pub(crate) fn open_setup(key: &[u8; 32], slot: &[u8]) -> Option<SecretKey> {
    unwrap(key, slot)
}

/// A viewer's private key wrapped by their password: argon2id with this salt and these costs, then
/// XChaCha20-Poly1305.
#[derive(Clone)]
pub(crate) struct Wrapped {
    salt: [u8; SALT],
    m_kib: u32,
    t: u32,
    p: u32,
    blob: Vec<u8>,
}

impl Wrapped {
    /// `secret` wrapped by `password`, at argon2's recommended costs (19 MiB, 2 passes, 1 lane).
    pub(crate) fn new(secret: &SecretKey, password: &str) -> Result<Wrapped> {
        let mut salt = [0u8; SALT];
        getrandom::fill(&mut salt).map_err(|e| StoreError::Io(format!("no randomness for a salt: {e}")))?;
        let p = argon2::Params::default();
        let mut w = Wrapped { salt, m_kib: p.m_cost(), t: p.t_cost(), p: p.p_cost(), blob: Vec::new() };
        w.blob = wrap(&*w.key(password)?, secret)?;
        Ok(w)
    }

    fn key(&self, password: &str) -> Result<Zeroizing<[u8; 32]>> {
        let bad = |e: argon2::Error| StoreError::Corrupt(format!("a viewer's key derivation: {e}"));
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32)).map_err(bad)?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; 32]);
        argon.hash_password_into(password.as_bytes(), &self.salt, key.as_mut()).map_err(bad)?;
        Ok(key)
    }

    /// The private key, or None when `password` is not the one it was wrapped with.
    pub(crate) fn open(&self, password: &str) -> Result<Option<SecretKey>> {
        Ok(unwrap(&*self.key(password)?, &self.blob))
    }
}

/// The bank's identity key of one generation (the public half; the private half is in its slots).
pub(crate) struct IdentityKey {
    pub id: i64,
    pub public: PublicKey,
}

fn public_key(r: &Row, i: usize) -> rusqlite::Result<PublicKey> {
    let bytes: Vec<u8> = r.get(i)?;
    PublicKey::from_slice(&bytes).map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Blob, "a public key of 32 bytes".into())
    })
}

/// The current identity key: the latest generation.
pub(crate) fn current_key(c: &Tx) -> Result<Option<IdentityKey>> {
    Ok(c.query_row("SELECT id, public_key FROM identity_keys ORDER BY id DESC LIMIT 1", (), |r| {
        Ok(IdentityKey { id: r.get(0)?, public: public_key(r, 1)? })
    })
    .optional()?)
}

pub(crate) fn insert_key(c: &Tx, public: &PublicKey, reason: &str, at: chrono::DateTime<chrono::Utc>) -> Result<i64> {
    c.execute(
        "INSERT INTO identity_keys (public_key, created_at, reason) VALUES (?1, ?2, ?3)",
        params![public.as_bytes().as_slice(), to_db(at), reason],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// A user enrolled to read identity.
pub(crate) struct Viewer {
    pub id: i64,
    pub user: String,
    pub public: PublicKey,
    pub wrapped: Wrapped,
}

const VIEWER: &str = "SELECT id, user_name, public_key, kdf_salt, kdf_m_kib, kdf_t, kdf_p, wrapped_key
                      FROM identity_viewers WHERE ended_at IS NULL";

fn viewer_from(r: &Row) -> rusqlite::Result<Viewer> {
    let salt: Vec<u8> = r.get(3)?;
    let salt = salt.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Blob, "a salt of 16 bytes".into())
    })?;
    Ok(Viewer {
        id: r.get(0)?,
        user: r.get(1)?,
        public: public_key(r, 2)?,
        wrapped: Wrapped { salt, m_kib: r.get(4)?, t: r.get(5)?, p: r.get(6)?, blob: r.get(7)? },
    })
}

/// The viewers enrolled now, in enrolment order.
pub(crate) fn viewers(c: &Tx) -> Result<Vec<Viewer>> {
    let mut stmt = c.prepare_cached(&format!("{VIEWER} ORDER BY id"))?;
    let rows = stmt.query_map((), viewer_from)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn viewer(c: &Tx, user: &str) -> Result<Option<Viewer>> {
    Ok(c.query_row(&format!("{VIEWER} AND user_name = ?1"), [user], viewer_from).optional()?)
}

pub(crate) fn insert_viewer(
    c: &Tx,
    user: &str,
    public: &PublicKey,
    w: &Wrapped,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<i64> {
    c.execute(
        "INSERT INTO identity_viewers (user_name, public_key, kdf_salt, kdf_m_kib, kdf_t, kdf_p, wrapped_key,
                                       enrolled_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![user, public.as_bytes().as_slice(), w.salt.as_slice(), w.m_kib, w.t, w.p, w.blob, to_db(at)],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// Replaces a viewer's wrapping (a new password): the old one is overwritten, and with `secure_delete` on,
/// erased from the page it was on.
pub(crate) fn rewrap_viewer(c: &Tx, viewer: i64, w: &Wrapped) -> Result<()> {
    c.execute(
        "UPDATE identity_viewers SET kdf_salt = ?2, kdf_m_kib = ?3, kdf_t = ?4, kdf_p = ?5, wrapped_key = ?6
         WHERE id = ?1",
        params![viewer, w.salt.as_slice(), w.m_kib, w.t, w.p, w.blob],
    )?;
    Ok(())
}

/// Ends an enrolment; `rekey_from` names the identity key the viewer could open, when it must be replaced.
pub(crate) fn end_viewer(
    c: &Tx,
    viewer: i64,
    at: chrono::DateTime<chrono::Utc>,
    rekey_from: Option<i64>,
) -> Result<()> {
    c.execute(
        "UPDATE identity_viewers SET ended_at = ?2, rekey_from = ?3 WHERE id = ?1",
        params![viewer, to_db(at), rekey_from],
    )?;
    Ok(())
}

/// Viewers revoked while `key` was current: until it is replaced, their copies of it open new identities too.
pub(crate) fn revoked_under(c: &Tx, key: i64) -> Result<Vec<String>> {
    let mut stmt = c.prepare_cached("SELECT user_name FROM identity_viewers WHERE rekey_from = ?1 ORDER BY id")?;
    let rows = stmt.query_map([key], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A key slot in force: the identity key of a generation, for a viewer or (None) the set-up slot.
pub(crate) struct Slot {
    pub id: i64,
    pub viewer: Option<i64>,
    pub sealed: Vec<u8>,
}

/// The slots in force of identity key `key`.
pub(crate) fn live_slots(c: &Tx, key: i64) -> Result<Vec<Slot>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, viewer_id, sealed_key FROM identity_key_slots WHERE key_id = ?1 AND removed_at IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([key], |r| Ok(Slot { id: r.get(0)?, viewer: r.get(1)?, sealed: r.get(2)? }))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The slots in force of a viewer, of any generation.
pub(crate) fn slots_of_viewer(c: &Tx, viewer: i64) -> Result<Vec<i64>> {
    let mut stmt =
        c.prepare_cached("SELECT id FROM identity_key_slots WHERE viewer_id = ?1 AND removed_at IS NULL ORDER BY id")?;
    let rows = stmt.query_map([viewer], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn insert_slot(
    c: &Tx,
    key: i64,
    viewer: Option<i64>,
    sealed: &[u8],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<i64> {
    c.execute(
        "INSERT INTO identity_key_slots (key_id, viewer_id, sealed_key, made_at) VALUES (?1, ?2, ?3, ?4)",
        params![key, viewer, sealed, to_db(at)],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// Removes a slot: its row stays, its key material is erased.
pub(crate) fn remove_slot(c: &Tx, slot: i64, at: chrono::DateTime<chrono::Utc>) -> Result<()> {
    c.execute(
        "UPDATE identity_key_slots SET sealed_key = NULL, removed_at = ?2 WHERE id = ?1",
        params![slot, to_db(at)],
    )?;
    Ok(())
}

/// The two identity tables and the column naming the person each row is about.
pub(crate) const IDENTITY_TABLES: [(&str, &str); 2] =
    [("donor_identities", "donor_id"), ("recipient_identities", "recipient_id")];

/// An identity row as stored: sealed, or (written before schema version 11) in clear.
pub(crate) struct IdentityRow {
    pub table: &'static str,
    pub id: i64,
    pub owner: String,
    pub sealed: Option<Vec<u8>>,
    pub clear: super::donors::Identity,
}

/// Whether any identity row is still in clear (written before schema version 11); a partial index answers.
pub(crate) fn any_in_clear(c: &Tx) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM donor_identities WHERE sealed IS NULL)
             OR EXISTS (SELECT 1 FROM recipient_identities WHERE sealed IS NULL)",
        (),
        |r| r.get(0),
    )?)
}

/// Every identity row of both tables (with `only_clear`, those still in clear).
pub(crate) fn identity_rows(c: &Tx, only_clear: bool) -> Result<Vec<IdentityRow>> {
    let mut out = Vec::new();
    for (table, owner) in IDENTITY_TABLES {
        let filter = if only_clear { "WHERE sealed IS NULL" } else { "" };
        let mut stmt = c.prepare(&format!(
            "SELECT id, {owner}, sealed, name, phone, national_id FROM {table} {filter} ORDER BY id"
        ))?;
        let rows = stmt.query_map((), |r| {
            Ok(IdentityRow {
                table,
                id: r.get(0)?,
                owner: r.get(1)?,
                sealed: r.get(2)?,
                clear: super::donors::Identity { name: r.get(3)?, phone: r.get(4)?, national_id: r.get(5)? },
            })
        })?;
        out.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
    }
    Ok(out)
}

/// Stores a row's identity sealed, emptying any clear-text columns (overwritten in place; `secure_delete` erases
/// the old cell).
pub(crate) fn store_sealed(c: &Tx, table: &str, id: i64, sealed: &[u8]) -> Result<()> {
    debug_assert!(IDENTITY_TABLES.iter().any(|(t, _)| *t == table));
    c.execute(
        &format!("UPDATE {table} SET sealed = ?2, name = NULL, phone = NULL, national_id = NULL WHERE id = ?1"),
        params![id, sealed],
    )?;
    Ok(())
}

impl Store {
    /// Overwrites deleted and replaced content with zeros from now on, so that a replaced key wrapping or
    /// clear-text identity is not left in the free part of a page (`FAST`: where that costs no extra I/O; pages
    /// freed whole are dropped by [`Store::purge_free_pages`]).
    pub fn erase_replaced_content(&self) -> Result<()> {
        let Some(conn) = self.lite().ok() else { return Ok(()) };
        Ok(conn.execute_batch("PRAGMA secure_delete = FAST;")?)
    }

    /// Rebuilds the file without free pages and empties the write-ahead log into it, so that neither keeps a
    /// page that held clear text or a replaced key. A reader holding an old snapshot can keep the log from
    /// emptying: then it is emptied at a later write's checkpoint.
    /// On a server, the dead row versions, its write-ahead log and its backups are its administrators' to
    /// purge (`VACUUM FULL`, their retention): stoolbank does not reach the server's storage.
    pub fn purge_free_pages(&self) -> Result<()> {
        let Some(conn) = self.lite().ok() else { return Ok(()) };
        conn.execute_batch("VACUUM;")?;
        self.empty_log()
    }

    /// Copies the write-ahead log into the file and truncates it (a server's log is the server's).
    pub fn empty_log(&self) -> Result<()> {
        let Some(conn) = self.lite().ok() else { return Ok(()) };
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Whether writes are allowed (not opened read-only).
    pub fn opened_for_writing(&self) -> bool {
        self.read_only.is_none()
    }
}
