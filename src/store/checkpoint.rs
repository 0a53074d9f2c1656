//! Signed checkpoints of the audit chain. The head (sequence number and hash) is signed with the bank's Ed25519
//! key and appended to an anchor log kept apart from the database (other media). Whoever rewrites the database
//! file, even with every hash recomputed, cannot make the chain agree with the anchors: a rewritten entry, a
//! removed tail and entries slipped in behind an anchor with a false date are each named.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use super::{audit, Result, StoreError, Tx};

/// One line of the anchor log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    /// The last audit entry when the checkpoint was taken, and its hash.
    pub seq: i64,
    pub hash: String,
    /// When the checkpoint was taken (UTC, as stored): no entry after `seq` can have been recorded earlier.
    pub at: String,
    /// Signed after a full `audit verify` found the whole chain and every record sound up to `seq`: an
    /// incremental check may start here (`audit verify --since last`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
    /// The public key that signed it, and the signature (hex).
    pub key: String,
    pub signature: String,
}

impl Anchor {
    /// The signed text; a verified anchor says so in it (and an anchor of before that flag signs what it did).
    fn message(seq: i64, hash: &str, at: &str, verified: bool) -> String {
        let verified = if verified { "verified\n" } else { "" };
        format!("stoolbank checkpoint v1\nseq {seq}\nhash {hash}\nat {at}\n{verified}")
    }

    pub fn sign(seq: i64, hash: &str, at: &str, verified: bool, key: &SigningKey) -> Anchor {
        let signature = key.sign(Self::message(seq, hash, at, verified).as_bytes());
        Anchor {
            seq,
            hash: hash.into(),
            at: at.into(),
            verified,
            key: hex::encode(key.verifying_key().as_bytes()),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// The key that signed it, if the signature holds.
    fn signer(&self) -> Option<VerifyingKey> {
        let key: [u8; 32] = hex::decode(&self.key).ok()?.try_into().ok()?;
        let sig: [u8; 64] = hex::decode(&self.signature).ok()?.try_into().ok()?;
        let key = VerifyingKey::from_bytes(&key).ok()?;
        key.verify(
            Self::message(self.seq, &self.hash, &self.at, self.verified).as_bytes(),
            &Signature::from_bytes(&sig),
        )
        .ok()
        .map(|()| key)
    }
}

/// The last entry of the chain (0 and the genesis hash for an empty log). Its number moves exactly when the bank
/// changes, since every change is one transaction with its entry: one primary-key lookup on either store.
pub(crate) fn head(conn: &Tx) -> Result<(i64, String)> {
    let last = conn
        .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", (), |r| {
            Ok((r.get(0)?, audit::hash_hex(r.get_ref(1)?)))
        })
        .optional()?;
    Ok(last.unwrap_or((0, "0".repeat(64))))
}

/// Appends one anchor to the log, flushed to disk before returning.
pub fn append(log: &Path, anchor: &Anchor) -> Result<()> {
    let io = |e: std::io::Error| StoreError::Io(format!("anchor log {}: {e}", log.display()));
    if let Some(dir) = log.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let line = serde_json::to_string(anchor)?;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(io)?;
    writeln!(f, "{line}").and_then(|()| f.sync_all()).map_err(io)
}

/// The anchors of a log, and a finding for each line that is not one.
pub fn read(log: &Path) -> Result<(Vec<Anchor>, Vec<String>)> {
    let text = std::fs::read(log).map_err(|e| StoreError::Io(format!("anchor log {}: {e}", log.display())))?;
    let (mut anchors, mut bad) = (Vec::new(), Vec::new());
    for (n, line) in String::from_utf8_lossy(&text).lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<Anchor>(line) {
            Ok(a) => anchors.push(a),
            Err(e) => bad.push(format!("anchor log line {} is not an anchor ({e}): the log was edited", n + 1)),
        }
    }
    Ok((anchors, bad))
}

/// The anchor an incremental check starts from: the one of entry `seq`, or with None the newest verified one,
/// signed by `trusted` (this bank's key).
pub(crate) fn start(anchors: &[Anchor], seq: Option<i64>, trusted: VerifyingKey) -> Option<Anchor> {
    let mut signed = anchors.iter().filter(|a| a.signer() == Some(trusted));
    match seq {
        Some(seq) => signed.rfind(|a| a.seq == seq),
        None => signed.rfind(|a| a.verified),
    }
    .cloned()
}

/// When the chain's last entry was recorded: a verified anchor's time (no later entry was recorded before it).
pub(crate) fn recorded_at(conn: &Tx, seq: i64) -> Result<Option<String>> {
    Ok(conn.query_row("SELECT recorded_at FROM audit_log WHERE seq = ?1", [seq], |r| r.get(0)).optional()?)
}

/// Checks the chain against every anchor. `trusted` is this bank's key when at hand; without it, every anchor
/// must at least be signed by the same key as the first.
pub(crate) fn check(conn: &Tx, anchors: &[Anchor], trusted: Option<VerifyingKey>) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let (head_seq, _) = head(conn)?;
    let mut hash_at = conn.prepare("SELECT hash FROM audit_log WHERE seq = ?1")?;
    let mut recorded_before = conn
        .prepare("SELECT seq, recorded_at FROM audit_log WHERE seq > ?1 AND recorded_at < ?2 ORDER BY seq LIMIT 1")?;
    let mut expected_key = trusted;
    for a in anchors {
        let when = format!("the anchor of {} (entry {})", a.at, a.seq);
        match a.signer() {
            None => {
                found.push(format!("{when}: its signature does not hold: the anchor log was edited"));
                continue;
            }
            Some(k) if expected_key.is_some_and(|e| e != k) => {
                found.push(format!("{when}: signed by another key ({}), not this bank's", a.key));
                continue;
            }
            Some(k) => expected_key = Some(k),
        }
        if a.seq > head_seq {
            found.push(format!(
                "the chain ends at entry {head_seq} but {when} vouches for entry {}: the tail was removed (truncated)",
                a.seq
            ));
            continue;
        }
        let stored: Option<String> = hash_at.query_row([a.seq], |r| Ok(audit::hash_hex(r.get_ref(0)?))).optional()?;
        match stored {
            None => found.push(format!("entry {} is missing, though {when} vouches for it", a.seq)),
            Some(h) if h != a.hash => {
                found.push(format!("entry {}'s hash differs from {when}: the chain was rewritten", a.seq));
            }
            Some(_) => {}
        }
        let slipped: Option<(i64, String)> =
            recorded_before.query_row(rusqlite::params![a.seq, a.at], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        if let Some((seq, recorded)) = slipped {
            found.push(format!(
                "entry {seq} claims to be recorded at {recorded}, before {when} that ends the chain earlier: \
                 forged and appended afterwards"
            ));
        }
    }
    Ok(found)
}
