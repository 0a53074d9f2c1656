//! Identity at rest and who reads it. Identity rows are sealed to the bank's identity public key, so registering
//! a person needs no secret. The identity private key is stored only in key slots, like a disk's encryption key:
//! one per enrolled identity viewer (sealed to the viewer's own X25519 key, whose private half only the viewer's
//! password unwraps), or, while no viewer is enrolled (set-up mode), one set-up slot wrapped by a key derived from
//! the bank secret in the key file outside the database.
//!
//! - Enrolling a viewer makes their key pair; their slot is made at once when the identity key is open (this
//!   session unlocked it, or it is in the set-up slot), else it is pending until any viewer next unlocks. The
//!   first enrolment removes the set-up slot.
//! - Unlocking opens the key for the session, then makes the pending slots and any re-key that is due.
//! - Revoking a viewer erases their slots and re-keys: a new identity key pair, every identity row re-sealed,
//!   slots for the remaining viewers. The re-key runs at once when the session holding the current key revokes,
//!   else at the next unlock by a viewer (until then, a copy of the key the revoked viewer could open also opens
//!   identity registered meanwhile). No change may leave the key in no usable slot: with the key closed, the
//!   viewer whose slot is the last one made is neither revoked nor enrolled afresh (a password reset); from an
//!   unlocked session the last viewer's revocation returns the key to the set-up slot.
//! - Every read of identity is an audit entry (`identity-read`: who, whose, when; never the identity itself).

use std::path::{Path, PathBuf};

use crypto_box::{PublicKey, SecretKey};
use serde::Serialize;

use super::{not_found, record, Act, AppError, Bank, Result};
use crate::core::access::{permits, Actor, Operation};
use crate::core::ids::{Id, IdKind};
use crate::core::rules::{Refusal, Rule};
use crate::store::donors::{self, Identity};
use crate::store::identity_keys::{self as keys, IdentityKey, Viewer, Wrapped};
use crate::store::secret::BankSecret;
use crate::store::{audit, settings, Tx};

/// Why identity could not be read or its keys changed. None of these words quote identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{user} is not enrolled as an identity viewer")]
    NotEnrolled { user: String },
    #[error("the password does not unlock identity for {user}")]
    WrongPassword { user: String },
    #[error("a password is needed to enrol an identity viewer")]
    NoPassword,
    #[error("identity is locked: an enrolled identity viewer unlocks it with their password")]
    Locked,
    #[error("identity stayed locked at sign-in: {0}")]
    LockedAtSignIn(String),
    #[error(
        "{user}'s identity key slot is pending: it is made the next time another identity viewer unlocks identity"
    )]
    Pending { user: String },
    #[error(
        "{user} holds the only usable copy of the identity key: unlock identity first (revoking the last viewer then \
         returns the key to the set-up slot), or have another viewer unlock so that their slot is made"
    )]
    LastViewer { user: String },
    #[error(
        "{user} holds the only usable copy of the identity key: change their password with the old one, or unlock \
         identity first, rather than enrol them afresh"
    )]
    OnlyCopy { user: String },
    #[error("the identity key is kept with the bank key file while no viewer is enrolled, and none was given")]
    NoBankKey,
    #[error("the identity set-up slot does not open with the bank key {0}: it was made with another key file")]
    OtherBankKey(PathBuf),
    #[error("this bank has no identity key yet: it is made when the bank is opened for writing with its key file")]
    NoIdentityKey,
}

/// The identity key this session holds open (zeroized when dropped), and who unlocked it.
struct OpenKey {
    key_id: i64,
    secret: SecretKey,
    user: Option<String>,
}

/// A bank's identity state in this session: where its bank key file is, and the key once unlocked.
#[derive(Default)]
pub(super) struct Session {
    key_file: Option<PathBuf>,
    open: Option<OpenKey>,
    /// Why identity stayed locked at the last sign-in, for the refusal of a read to name.
    locked_because: Option<String>,
}

/// The keys of a bank's identity, for the faces and the user administration to show.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityStatus {
    /// No viewer enrolled: the identity key is in the set-up slot, opened by the bank key file.
    pub set_up_mode: bool,
    /// The enrolled viewers.
    pub viewers: Vec<String>,
    /// Enrolled viewers whose slot waits for the next unlock by another viewer.
    pub pending: Vec<String>,
    /// Revoked viewers whose re-key waits for the next unlock by a viewer.
    pub rekey_due: Vec<String>,
    /// Whether this session holds the identity key open.
    pub unlocked: bool,
}

/// What unlocking did besides opening the key.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Unlocked {
    /// Set-up mode: nothing to unlock, the bank key file opens identity.
    pub set_up_mode: bool,
    /// Viewers whose pending slots were made.
    pub slots_made: Vec<String>,
    /// The identity key was replaced (a revocation was waiting for it).
    pub rekeyed: bool,
}

/// Identity for the user who just signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum IdentityAccess {
    /// Their roles do not see identity.
    NotViewer,
    /// Open for this session (or, with no viewer enrolled yet, opened by the bank key file).
    Unlocked,
    /// They may see identity, but it stays locked for this session: why.
    Locked(String),
}

/// What revoking did.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    pub user: String,
    /// The identity key was replaced now (else at the next unlock by a viewer).
    pub rekeyed: bool,
}

/// What enrolling did.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolled {
    pub user: String,
    /// Their slot waits for the next unlock by another viewer.
    pub pending: bool,
    /// This enrolment ended set-up mode (the set-up slot was removed).
    pub ended_set_up_mode: bool,
}

/// A change to a user's enrolment as an identity viewer, made in the transaction of the user's change.
pub(super) enum ViewerChange {
    /// Enrol (afresh) with this key pair: the public key, the private key wrapped by the password.
    Enrol { public: PublicKey, wrapped: Wrapped, setup: Option<BankSecret> },
    /// Revoke the enrolment.
    Revoke { setup: Option<BankSecret> },
}

/// What a [`ViewerChange`] did.
pub(super) enum ViewerChanged {
    Enrolled(Enrolled),
    Revoked(Revoked),
}

/// Which people's identity: donors' or recipients'.
#[derive(Debug, Clone, Copy)]
enum Whose {
    Donor,
    Recipient,
}

impl Whose {
    fn table(self) -> &'static str {
        match self {
            Whose::Donor => "donor_identities",
            Whose::Recipient => "recipient_identities",
        }
    }

    fn kind(self) -> IdKind {
        match self {
            Whose::Donor => IdKind::Donor,
            Whose::Recipient => IdKind::Recipient,
        }
    }
}

impl Bank {
    /// Remembers the bank key file; on a bank opened for writing, readies identity: makes the identity key (in
    /// the set-up slot) when there is none, and seals identity an older version stored in clear, overwriting it
    /// in place, then rebuilds the file and empties its log so that no free page keeps the clear text.
    pub(super) fn use_identity_key_file(&mut self, key_file: &Path, writable: bool) -> Result<()> {
        self.identity.key_file = Some(key_file.to_path_buf());
        if !writable {
            return Ok(());
        }
        self.store.erase_replaced_content()?;
        let (no_key, clear) =
            self.store.read(|tx| Ok::<_, AppError>((keys::current_key(tx)?.is_none(), keys::any_in_clear(tx)?)))?;
        if !no_key && !clear {
            return Ok(());
        }
        let secret = if no_key { Some(BankSecret::load_or_create(key_file)?) } else { None };
        let act = self.act();
        let sealed_any = self.store.write(|tx| {
            let key = match keys::current_key(tx)? {
                Some(k) => k.public,
                None => new_generation(tx, &act, "created", &[], secret.as_ref())?.secret.public_key(),
            };
            let rows = keys::identity_rows(tx, true)?;
            for row in &rows {
                let before = audit::row_state(tx, row.table, &row.id.to_string())?;
                keys::store_sealed(tx, row.table, row.id, &donors::seal_identity(&key, &row.clear)?)?;
                record(tx, &act, "seal-identity", row.table, &row.id.to_string(), &row.owner, act.now, before)?;
            }
            Ok::<_, AppError>(!rows.is_empty())
        })?;
        if sealed_any {
            self.store.purge_free_pages()?;
        }
        Ok(())
    }

    /// Whether `user` may see identity at all: the access table's rule in the core, for the user's stored roles
    /// (in set-up mode, whoever acts, when the policy names any identity viewer).
    fn may_read_identity(&mut self, user: &str) -> Result<()> {
        let roles = match &self.session {
            super::Session::SignedOut => return Err(super::SignInError::SignedOut.into()),
            super::Session::SetUp { .. } => None,
            super::Session::User { .. } => Some(
                self.store
                    .read(|tx| Ok::<_, AppError>(crate::store::users::user(tx, user)?))?
                    .map(|(u, _)| u.roles)
                    .unwrap_or_default(),
            ),
        };
        let actor = match &roles {
            None => Actor::SetUp,
            Some(roles) => Actor::User { name: user, roles },
        };
        if permits(&actor, Operation::ViewIdentity, &self.config.identity_viewers).is_ok() {
            return Ok(());
        }
        Err(Refusal { rule: Rule::IdentityViewer, detail: format!("{user} may not see identity") }.into())
    }

    /// A user's own key slot is theirs to change; another user's is an administrator's act (the access table).
    fn authorize_viewer_change(&self, user: &str) -> Result<()> {
        if self.access_control() && user != self.actor() {
            self.authorize(crate::core::access::Operation::UserAdmin)?;
        }
        Ok(())
    }

    fn bank_secret(&self) -> Result<Option<BankSecret>> {
        Ok(self.identity.key_file.as_deref().map(BankSecret::load).transpose()?.flatten())
    }

    /// The public key identity is sealed to now.
    pub(super) fn identity_public_key(tx: &Tx) -> Result<crypto_box::PublicKey> {
        Ok(keys::current_key(tx)?.ok_or(IdentityError::NoIdentityKey)?.public)
    }

    pub fn identity_status(&mut self) -> Result<IdentityStatus> {
        let open = self.identity.open.as_ref().map(|o| o.key_id);
        self.store.read(|tx| {
            let key = keys::current_key(tx)?;
            let viewers = keys::viewers(tx)?;
            let slots = match &key {
                Some(k) => keys::live_slots(tx, k.id)?,
                None => Vec::new(),
            };
            let pending =
                viewers.iter().filter(|v| !slots.iter().any(|s| s.viewer == Some(v.id))).map(|v| v.user.clone());
            Ok(IdentityStatus {
                set_up_mode: viewers.is_empty(),
                pending: pending.collect(),
                rekey_due: match &key {
                    Some(k) => keys::revoked_under(tx, k.id)?,
                    None => Vec::new(),
                },
                unlocked: open.is_some() && open == key.as_ref().map(|k| k.id),
                viewers: viewers.into_iter().map(|v| v.user).collect(),
            })
        })
    }

    /// Enrols `user` (whom the policy must allow to see identity) as an identity viewer with `password`. A user
    /// already enrolled is enrolled afresh (a password reset: the previous enrolment ends, no re-key). Their slot
    /// is made now when the identity key is open here or in the set-up slot, else it is pending.
    pub fn enrol_identity_viewer(&mut self, user: &str, password: &str) -> Result<Enrolled> {
        self.authorize_viewer_change(user)?;
        self.may_read_identity(user)?;
        let change = self.enrolment(password)?;
        match self.write_with_viewer_change(user, change, |_, _| Ok(()))?.1 {
            ViewerChanged::Enrolled(e) => Ok(e),
            ViewerChanged::Revoked(_) => Err(IdentityError::NotEnrolled { user: user.into() }.into()),
        }
    }

    /// What enrolling a viewer with `password` needs before its transaction: their key pair, wrapped by the
    /// password (argon2id: slow, so outside the write lock), and the bank secret that opens the set-up slot.
    pub(super) fn enrolment(&self, password: &str) -> Result<ViewerChange> {
        if password.is_empty() {
            return Err(IdentityError::NoPassword.into());
        }
        let mine = keys::generate();
        let wrapped = Wrapped::new(&mine, password)?;
        Ok(ViewerChange::Enrol { public: mine.public_key(), wrapped, setup: self.bank_secret()? })
    }

    /// What revoking a viewer needs before its transaction: the bank secret, for the set-up slot the last
    /// viewer's revocation returns the key to.
    pub(super) fn revocation(&self) -> Result<ViewerChange> {
        let setup = self.identity.key_file.as_deref().map(BankSecret::load_or_create).transpose()?;
        Ok(ViewerChange::Revoke { setup })
    }

    /// Whether `user` is enrolled as an identity viewer now.
    pub(super) fn is_identity_viewer(&mut self, user: &str) -> Result<bool> {
        self.store.read(|tx| Ok(keys::viewer(tx, user)?.is_some()))
    }

    /// Opens identity for `user`, just signed in with `password`, when their roles see identity: enrols them
    /// first when they are not yet (their slot may then wait for another viewer's unlock). Never refuses: the
    /// sign-in stands and identity stays locked, with the reason kept for a read to name.
    pub(super) fn identity_at_sign_in(&mut self, user: &str, password: &str) -> IdentityAccess {
        self.lock_identity();
        self.identity.locked_because = None;
        if self.may_read_identity(user).is_err() {
            return IdentityAccess::NotViewer;
        }
        let unlocked = self.is_identity_viewer(user).and_then(|enrolled| {
            if !enrolled {
                self.enrol_identity_viewer(user, password)?;
            }
            self.unlock_identity(user, password)
        });
        match unlocked {
            Ok(_) => IdentityAccess::Unlocked,
            Err(e) => {
                self.identity.locked_because = Some(e.to_string());
                IdentityAccess::Locked(e.to_string())
            }
        }
    }

    /// Runs `f` and then the change to `user`'s enrolment in one transaction (a user's change and its key
    /// change are one act: both, or neither).
    pub(super) fn write_with_viewer_change<T>(
        &mut self,
        user: &str,
        change: ViewerChange,
        f: impl FnOnce(&Tx, &Act) -> Result<T>,
    ) -> Result<(T, ViewerChanged)> {
        let act = self.act();
        let (key_file, open) = (self.identity.key_file.clone(), self.identity.open.as_ref());
        let (out, changed, new) = self.store.write(|tx| {
            let out = f(tx, &act)?;
            Ok::<_, AppError>(match &change {
                ViewerChange::Enrol { public, wrapped, setup } => {
                    let e = enrol(tx, &act, user, public, wrapped, setup.as_ref(), key_file.as_deref(), open)?;
                    (out, ViewerChanged::Enrolled(e), None)
                }
                ViewerChange::Revoke { setup } => {
                    let new = revoke(tx, &act, user, open, setup.as_ref())?;
                    let revoked = Revoked { user: user.into(), rekeyed: new.is_some() };
                    (out, ViewerChanged::Revoked(revoked), new)
                }
            })
        })?;
        if let ViewerChanged::Revoked(_) = &changed {
            self.after_revocation(&[user.to_string()], new)?;
        }
        Ok((out, changed))
    }

    /// The enrolled viewers whose roles would no longer see identity under `policy` (its `identity_viewers`).
    pub(super) fn viewers_losing_sight(&mut self, policy: &crate::core::config::Config) -> Result<Vec<String>> {
        self.store.read(|tx| {
            let mut losing = Vec::new();
            for viewer in keys::viewers(tx)? {
                let roles = crate::store::users::user(tx, &viewer.user)?.map(|(u, _)| u.roles).unwrap_or_default();
                let actor = Actor::User { name: &viewer.user, roles: &roles };
                if permits(&actor, Operation::ViewIdentity, &policy.identity_viewers).is_err() {
                    losing.push(viewer.user);
                }
            }
            Ok(losing)
        })
    }

    /// Runs `f` and revokes each of `users` in the same transaction (a policy change that takes the viewing role
    /// away from them: both, or neither), as [`Bank::revoke_identity_viewer`] does each: their slots erased, the
    /// identity key replaced now when this session holds it open, else at the next unlock by a viewer; refused,
    /// changing nothing, when one of them holds the only usable copy of the key and this session cannot open it.
    pub(super) fn write_with_viewers_revoked<T>(
        &mut self,
        users: &[String],
        f: impl FnOnce(&Tx, &Act) -> Result<T>,
    ) -> Result<T> {
        let setup = if users.is_empty() {
            None
        } else {
            self.identity.key_file.as_deref().map(BankSecret::load_or_create).transpose()?
        };
        let act = self.act();
        let open = self.identity.open.as_ref();
        let (out, fresh) = self.store.write(|tx| {
            let out = f(tx, &act)?;
            let mut fresh: Option<OpenKey> = None;
            for user in users {
                // After a re-key, the next revocation re-keys from the key just made.
                if let Some(new) = revoke(tx, &act, user, fresh.as_ref().or(open), setup.as_ref())? {
                    fresh = Some(new);
                }
            }
            Ok::<_, AppError>((out, fresh))
        })?;
        self.after_revocation(users, fresh)?;
        Ok(out)
    }

    /// Opens the identity key for this session with `user`'s password (the password they signed in with), then
    /// makes any pending slots and any re-key that is due (when the bank is open for writing). In set-up mode
    /// there is nothing to unlock.
    pub fn unlock_identity(&mut self, user: &str, password: &str) -> Result<Unlocked> {
        self.may_read_identity(user)?;
        let opened = self.store.read(|tx| {
            if keys::viewers(tx)?.is_empty() {
                return Ok::<_, AppError>(None);
            }
            let viewer = keys::viewer(tx, user)?.ok_or(IdentityError::NotEnrolled { user: user.into() })?;
            let mine = viewer.wrapped.open(password)?.ok_or(IdentityError::WrongPassword { user: user.into() })?;
            let key = keys::current_key(tx)?.ok_or(IdentityError::NoIdentityKey)?;
            let slot = keys::live_slots(tx, key.id)?
                .into_iter()
                .find(|s| s.viewer == Some(viewer.id))
                .ok_or(IdentityError::Pending { user: user.into() })?;
            let secret = keys::open_key(&mine, &slot.sealed)
                .filter(|s| s.public_key() == key.public)
                .ok_or_else(|| damaged_slot(slot.id))?;
            Ok(Some(OpenKey { key_id: key.id, secret, user: Some(user.into()) }))
        })?;
        let Some(open) = opened else {
            return Ok(Unlocked { set_up_mode: true, ..Unlocked::default() });
        };
        self.identity.open = Some(open);
        if self.store.opened_for_writing() {
            self.keep_identity_keys()
        } else {
            Ok(Unlocked::default())
        }
    }

    /// Forgets the identity key this session holds (zeroized).
    pub fn lock_identity(&mut self) {
        self.identity.open = None;
    }

    /// With the identity key open: makes the pending slots, and the re-key a revocation left waiting.
    fn keep_identity_keys(&mut self) -> Result<Unlocked> {
        let act = self.act();
        let Some(open) = self.identity.open.as_ref() else { return Ok(Unlocked::default()) };
        let (done, rekeyed) = self.store.write(|tx| {
            let mut done = Unlocked::default();
            let key = keys::current_key(tx)?.ok_or(IdentityError::NoIdentityKey)?;
            // Another bench re-keyed since: this session's key is no longer current.
            if key.id != open.key_id {
                return Ok::<_, AppError>((done, None));
            }
            let revoked = keys::revoked_under(tx, key.id)?;
            if !revoked.is_empty() {
                let reason = format!("re-key after revoking {}", revoked.join(", "));
                let new = rekey(tx, &act, open, &reason, None)?;
                done.rekeyed = true;
                return Ok((done, Some(new)));
            }
            let slots = keys::live_slots(tx, key.id)?;
            for v in keys::viewers(tx)? {
                if !slots.iter().any(|s| s.viewer == Some(v.id)) {
                    make_slot(tx, &act, &key, &v, &open.secret)?;
                    done.slots_made.push(v.user);
                }
            }
            Ok((done, None))
        })?;
        if let Some(mut new) = rekeyed {
            new.user = self.identity.open.take().and_then(|o| o.user);
            self.identity.open = Some(new);
            self.store.purge_free_pages()?;
        }
        Ok(done)
    }

    /// Revokes `user`'s enrolment: their slots are erased, and the identity key is replaced now when this
    /// session holds it open (else at the next unlock by a viewer).
    pub fn revoke_identity_viewer(&mut self, user: &str) -> Result<Revoked> {
        self.authorize_viewer_change(user)?;
        let change = self.revocation()?;
        match self.write_with_viewer_change(user, change, |_, _| Ok(()))?.1 {
            ViewerChanged::Revoked(r) => Ok(r),
            ViewerChanged::Enrolled(_) => Err(IdentityError::NotEnrolled { user: user.into() }.into()),
        }
    }

    /// The session after the revocation of `users`: the new key when it was replaced now, unless a revoked viewer
    /// held it (who no longer holds the key).
    fn after_revocation(&mut self, users: &[String], new: Option<OpenKey>) -> Result<()> {
        if let Some(mut new) = new {
            new.user = self.identity.open.take().and_then(|o| o.user).filter(|u| !users.contains(u));
            self.identity.open = new.user.is_some().then_some(new);
            self.store.purge_free_pages()?;
        } else if self.identity.open.as_ref().and_then(|o| o.user.as_ref()).is_some_and(|u| users.contains(u)) {
            self.identity.open = None;
        }
        Ok(())
    }

    /// Re-wraps `user`'s key with a new password (the old one must open it). The old wrapping is overwritten and
    /// erased; the log is emptied so that it does not keep the page either.
    pub fn change_viewer_password(&mut self, user: &str, old: &str, new: &str) -> Result<()> {
        self.authorize_viewer_change(user)?;
        if new.is_empty() {
            return Err(IdentityError::NoPassword.into());
        }
        let act = self.act();
        self.store.write(|tx| {
            let viewer = keys::viewer(tx, user)?.ok_or(IdentityError::NotEnrolled { user: user.into() })?;
            let mine = viewer.wrapped.open(old)?.ok_or(IdentityError::WrongPassword { user: user.into() })?;
            let before = audit::row_state(tx, "identity_viewers", &viewer.id.to_string())?;
            keys::rewrap_viewer(tx, viewer.id, &Wrapped::new(&mine, new)?)?;
            let id = viewer.id.to_string();
            record(tx, &act, "change-viewer-password", "identity_viewers", &id, user, act.now, before)?;
            Ok::<_, AppError>(())
        })?;
        Ok(self.store.empty_log()?)
    }

    /// A donor's identity, read by the acting user (who the policy must allow, with identity unlocked or in
    /// set-up mode); the read is recorded in the audit trail.
    pub fn donor_identity(&mut self, donor: &Id) -> Result<Identity> {
        self.read_identity(Whose::Donor, donor)
    }

    /// A recipient's identity, as [`Bank::donor_identity`].
    pub fn recipient_identity(&mut self, recipient: &Id) -> Result<Identity> {
        self.read_identity(Whose::Recipient, recipient)
    }

    fn read_identity(&mut self, whose: Whose, id: &Id) -> Result<Identity> {
        let actor = self.actor().to_string();
        self.may_read_identity(&actor)?;
        if id.kind() != whose.kind() {
            return Err(AppError::Invalid(format!("{} is a {}, not a {}", id.display(), id.kind(), whose.kind())));
        }
        let setup = self.bank_secret()?;
        let act = self.act();
        let (key_file, open) = (self.identity.key_file.clone(), self.identity.open.as_ref());
        let locked_because = self.identity.locked_because.as_ref();
        self.store.write(|tx| {
            if !settings::exists(tx, id)? {
                return Err(not_found(whose.kind(), id));
            }
            let key = keys::current_key(tx)?.ok_or(IdentityError::NoIdentityKey)?;
            let secret = if let Some(o) = open.filter(|o| o.key_id == key.id) {
                o.secret.clone()
            } else {
                let slots = keys::live_slots(tx, key.id)?;
                let slot = slots.iter().find(|s| s.viewer.is_none()).ok_or_else(|| match locked_because {
                    Some(why) => IdentityError::LockedAtSignIn(why.clone()),
                    None => IdentityError::Locked,
                })?;
                open_setup_slot(setup.as_ref(), key_file.as_deref(), &slot.sealed)?
            };
            let table = whose.table();
            let identity = match donors::sealed_identity(tx, table, id)? {
                Some((row, sealed)) => donors::open_identity(&secret, table, row, &sealed)?,
                None => Identity::default(),
            };
            let change = audit::Change {
                actor: &act.actor,
                action: "identity-read",
                table: "identity_reads",
                id: id.data(),
                subject: id.data(),
                at: act.now,
                recorded_at: act.now,
                before: None,
            };
            audit::record_event(tx, change, serde_json::json!({ "read": table, "of": id.data() }))?;
            Ok(identity)
        })
    }
}

/// Enrols `user` with their key pair (`public`, and the private key `wrapped` by their password): their slot is
/// made with the identity key open in this session (`open`) or in the set-up slot, else it is pending.
#[allow(clippy::too_many_arguments)]
fn enrol(
    tx: &Tx,
    act: &Act,
    user: &str,
    public: &PublicKey,
    wrapped: &Wrapped,
    setup: Option<&BankSecret>,
    key_file: Option<&Path>,
    open: Option<&OpenKey>,
) -> Result<Enrolled> {
    let key = keys::current_key(tx)?;
    let slots = match &key {
        Some(k) => keys::live_slots(tx, k.id)?,
        None => Vec::new(),
    };
    let setup_slot = slots.iter().find(|s| s.viewer.is_none());
    let secret = match (open.filter(|o| Some(o.key_id) == key.as_ref().map(|k| k.id)), setup_slot) {
        (Some(o), _) => Some(o.secret.clone()),
        (None, Some(slot)) => Some(open_setup_slot(setup, key_file, &slot.sealed)?),
        (None, None) => None,
    };
    if let Some(old) = keys::viewer(tx, user)? {
        // Enrolled afresh with the key closed: their old slot must not be the last one anybody can open.
        if key.is_some() && secret.is_none() && !held_by_another(&slots, old.id) {
            return Err(IdentityError::OnlyCopy { user: user.into() }.into());
        }
        end_enrolment(tx, act, &old, None)?;
    }
    let id = keys::insert_viewer(tx, user, public, wrapped, act.now)?;
    record(tx, act, "enrol-identity-viewer", "identity_viewers", &id.to_string(), user, act.now, None)?;
    let viewer = keys::viewer(tx, user)?.ok_or(IdentityError::NotEnrolled { user: user.into() })?;
    let Some(key) = key else {
        // No identity key yet (a bank readied without a key file): this viewer holds the first.
        new_generation(tx, act, "created", &[viewer], None)?;
        return Ok(Enrolled { user: user.into(), pending: false, ended_set_up_mode: false });
    };
    if let Some(secret) = &secret {
        make_slot(tx, act, &key, &viewer, secret)?;
    }
    if let Some(slot) = setup_slot {
        remove_slot(tx, act, slot.id, "remove-setup-slot", user)?;
    }
    Ok(Enrolled { user: user.into(), pending: secret.is_none(), ended_set_up_mode: setup_slot.is_some() })
}

/// Ends `user`'s enrolment and erases their slots; returns the new identity key when the key was open here
/// (`open`) and so replaced now (the last viewer's revocation returns it to the set-up slot, `setup`).
fn revoke(
    tx: &Tx,
    act: &Act,
    user: &str,
    open: Option<&OpenKey>,
    setup: Option<&BankSecret>,
) -> Result<Option<OpenKey>> {
    let viewer = keys::viewer(tx, user)?.ok_or(IdentityError::NotEnrolled { user: user.into() })?;
    let key = keys::current_key(tx)?.ok_or(IdentityError::NoIdentityKey)?;
    let open = open.filter(|o| o.key_id == key.id);
    // Without the key open here, another viewer's slot must still open it afterwards.
    if open.is_none() && !held_by_another(&keys::live_slots(tx, key.id)?, viewer.id) {
        return Err(IdentityError::LastViewer { user: user.into() }.into());
    }
    let last = keys::viewers(tx)?.len() == 1;
    end_enrolment(tx, act, &viewer, Some(key.id))?;
    match open {
        Some(o) => {
            let setup = if last { Some(setup.ok_or(IdentityError::NoBankKey)?) } else { None };
            Ok(Some(rekey(tx, act, o, &format!("re-key after revoking {user}"), setup)?))
        }
        None => Ok(None),
    }
}

/// Whether a viewer other than `viewer` has a slot among `slots`.
fn held_by_another(slots: &[keys::Slot], viewer: i64) -> bool {
    slots.iter().any(|s| s.viewer.is_some_and(|v| v != viewer))
}

fn damaged_slot(slot: i64) -> AppError {
    crate::store::StoreError::Corrupt(format!("identity key slot {slot} does not hold the current identity key")).into()
}

/// The identity key in the set-up slot, opened with the bank secret.
fn open_setup_slot(secret: Option<&BankSecret>, key_file: Option<&Path>, slot: &[u8]) -> Result<SecretKey> {
    let secret = secret.ok_or(IdentityError::NoBankKey)?;
    keys::open_setup(&secret.setup_slot_key(), slot)
        .ok_or_else(|| IdentityError::OtherBankKey(key_file.unwrap_or(secret.path()).to_path_buf()).into())
}

/// A new identity key generation with its slots: one per viewer, or the set-up slot when there is none.
fn new_generation(tx: &Tx, act: &Act, reason: &str, viewers: &[Viewer], setup: Option<&BankSecret>) -> Result<OpenKey> {
    let secret = keys::generate();
    let id = keys::insert_key(tx, &secret.public_key(), reason, act.now)?;
    record(tx, act, "create-identity-key", "identity_keys", &id.to_string(), "", act.now, None)?;
    let key = IdentityKey { id, public: secret.public_key() };
    if viewers.is_empty() {
        let setup = setup.ok_or(IdentityError::NoBankKey)?;
        let slot = keys::insert_slot(tx, id, None, &keys::wrap_setup(&setup.setup_slot_key(), &secret)?, act.now)?;
        record(tx, act, "make-setup-slot", "identity_key_slots", &slot.to_string(), "", act.now, None)?;
    }
    for v in viewers {
        make_slot(tx, act, &key, v, &secret)?;
    }
    Ok(OpenKey { key_id: id, secret, user: None })
}

/// The identity key sealed to a viewer's public key.
fn make_slot(tx: &Tx, act: &Act, key: &IdentityKey, viewer: &Viewer, secret: &SecretKey) -> Result<()> {
    let slot = keys::insert_slot(tx, key.id, Some(viewer.id), &keys::seal_key(&viewer.public, secret)?, act.now)?;
    record(tx, act, "make-key-slot", "identity_key_slots", &slot.to_string(), &viewer.user, act.now, None)
}

fn remove_slot(tx: &Tx, act: &Act, slot: i64, action: &str, subject: &str) -> Result<()> {
    let before = audit::row_state(tx, "identity_key_slots", &slot.to_string())?;
    keys::remove_slot(tx, slot, act.now)?;
    record(tx, act, action, "identity_key_slots", &slot.to_string(), subject, act.now, before)
}

/// Ends an enrolment and erases its slots; `rekey_from` (a revocation) names the key to replace.
fn end_enrolment(tx: &Tx, act: &Act, viewer: &Viewer, rekey_from: Option<i64>) -> Result<()> {
    let id = viewer.id.to_string();
    let before = audit::row_state(tx, "identity_viewers", &id)?;
    keys::end_viewer(tx, viewer.id, act.now, rekey_from)?;
    let action = if rekey_from.is_some() { "revoke-identity-viewer" } else { "re-enrol-identity-viewer" };
    record(tx, act, action, "identity_viewers", &id, &viewer.user, act.now, before)?;
    for slot in keys::slots_of_viewer(tx, viewer.id)? {
        remove_slot(tx, act, slot, "remove-key-slot", &viewer.user)?;
    }
    Ok(())
}

/// Replaces the identity key: the old generation's slots erased, a new key with slots for the viewers enrolled
/// (or the set-up slot when none is left), and every identity row opened with the old key and sealed to the new.
fn rekey(tx: &Tx, act: &Act, old: &OpenKey, reason: &str, setup: Option<&BankSecret>) -> Result<OpenKey> {
    for slot in keys::live_slots(tx, old.key_id)? {
        remove_slot(tx, act, slot.id, "remove-key-slot", "")?;
    }
    let new = new_generation(tx, act, reason, &keys::viewers(tx)?, setup)?;
    let public = new.secret.public_key();
    for row in keys::identity_rows(tx, false)? {
        let Some(sealed) = &row.sealed else { continue };
        let id = row.id.to_string();
        let before = audit::row_state(tx, row.table, &id)?;
        let identity = donors::open_identity(&old.secret, row.table, row.id, sealed)?;
        keys::store_sealed(tx, row.table, row.id, &donors::seal_identity(&public, &identity)?)?;
        record(tx, act, "reseal-identity", row.table, &id, &row.owner, act.now, before)?;
    }
    Ok(new)
}
