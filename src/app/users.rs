//! Access control in the bank: who is signed in, what they may do (asked of `core::access` before every
//! operation), users and their passwords (argon2id), signatures of signed acts, and the bank's stored policy.
//!
//! The two faces use it alike: the CLI signs in once per command (`--as`, `STOOLBANK_PASSWORD`) and that password
//! also signs a signed act; the TUI signs in at its login screen, signs each signed act with the password
//! re-entered ([`Bank::sign`]), and signs out when idle ([`Bank::sign_out`]).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Utc};

use super::identity::ViewerChange;
use super::{record, Act, AppError, Bank, IdentityAccess, Result};
use crate::core::access::{self, Actor, Operation, Role};
use crate::core::config::{BenchPrefs, Config};
use crate::core::rules::{self, Countersigner};
use crate::store::users::{self, Signature, User};
use crate::store::{audit, Store, StoreError, Tx};

/// How long a sign-in beside a read waits for the write lock to record itself before the read goes on.
const SIGN_IN_RECORD_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Who is acting on this bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    /// The bank has no users: access control is off (set-up mode), acts are recorded under this free-text name.
    SetUp { name: String },
    /// The bank has users and nobody is signed in (before sign-in, after sign-out or an idle lock).
    SignedOut,
    /// A signed-in user and their roles.
    User { name: String, roles: Vec<Role> },
}

/// Why a sign-in (or a signature) was refused. Nothing changes but the failed-attempt count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("sign-in refused: no user {0} in this bank")]
    UnknownUser(String),
    #[error("sign-in refused: wrong password for {name} ({failed} failed in a row; locked out at {limit})")]
    WrongPassword { name: String, failed: u32, limit: u32 },
    #[error("sign-in refused: {name} is locked out after {failed} failed sign-ins; an administrator re-enables them")]
    Locked { name: String, failed: u32 },
    #[error("sign-in refused: user {0} is disabled")]
    Disabled(String),
    #[error("sign-in refused: no password given for {0}")]
    NoPassword(String),
    #[error("this bank has users: nobody is signed in")]
    SignedOut,
    #[error("a signed act: {0} signs it with their password")]
    SignatureNeeded(String),
}

/// What a face needs to open the same bank again on another thread, as the same user (a print job's own
/// connection): the session is carried over, not signed in again.
#[derive(Debug, Clone)]
pub struct Reopen {
    path: std::path::PathBuf,
    bench: BenchPrefs,
    session: Session,
}

impl Reopen {
    pub fn open(self) -> Result<Bank> {
        let mut bank = Bank::new(Store::open(&self.path)?, self.bench, "")?;
        bank.session = self.session;
        Ok(bank)
    }

    /// The same, for reading only (no write lock, no upgrade): a view's long read beside the bench's work.
    pub fn open_read_only(self) -> Result<Bank> {
        let mut bank = Bank::new(Store::open_read_only(&self.path)?, self.bench, "")?;
        bank.session = self.session;
        Ok(bank)
    }
}

/// The signer of a signed act, taken before the act's transaction.
pub(super) struct Signer(String);

impl Signer {
    pub(super) fn name(&self) -> &str {
        &self.0
    }
}

fn argon2() -> Argon2<'static> {
    // argon2id, version 19, the crate's default cost (19 MiB, 2 passes): OWASP's recommended minimum.
    Argon2::default()
}

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| StoreError::Io(format!("no randomness for a password salt: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Io(format!("password salt: {e}")))?;
    let hash = argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| StoreError::Io(format!("password hash: {e}")))?;
    Ok(hash.to_string())
}

/// Whether `password` is the one `phc` was made from (a malformed stored hash matches nothing).
fn password_matches(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

impl Bank {
    /// The session a bank opens with: set-up mode (under `actor`) while it has no users, else signed out.
    pub(super) fn initial_session(&mut self, actor: &str) -> Result<Session> {
        // Any schema version: `verify` and backups open old files, which have no users.
        let any = self.store.inspect(|tx| Ok::<_, AppError>(users::any(tx)?))?;
        Ok(if any { Session::SignedOut } else { Session::SetUp { name: actor.to_string() } })
    }

    /// The stored policy with this bench's settings over it; the built-in defaults when none is stored.
    pub(super) fn load_policy(&mut self) -> Result<()> {
        let stored: Option<(i64, String)> = self.store.inspect(|tx| Ok::<_, AppError>(users::policy(tx)?))?;
        self.policy = match stored {
            Some((id, text)) => Config::from_toml(&text)
                .map_err(|e| StoreError::Corrupt(format!("the bank's policy (version {id}): {e}")))?,
            None => Config::default(),
        };
        self.config = self.policy.clone().with_bench(&self.bench);
        Ok(())
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Whether access control is on (the bank has users).
    pub fn access_control(&self) -> bool {
        !matches!(self.session, Session::SetUp { .. })
    }

    /// Who is acting: the signed-in user, the set-up name, or "" when signed out.
    pub fn actor(&self) -> &str {
        match &self.session {
            Session::SetUp { name } | Session::User { name, .. } => name,
            Session::SignedOut => "",
        }
    }

    /// The signed-in user's roles (none in set-up mode or signed out).
    pub fn roles(&self) -> &[Role] {
        match &self.session {
            Session::User { roles, .. } => roles,
            _ => &[],
        }
    }

    /// Asks the access table whether the session may do `op`: every public operation calls this first.
    pub fn authorize(&self, op: Operation) -> Result<()> {
        let actor = match &self.session {
            Session::SetUp { .. } => Actor::SetUp,
            Session::SignedOut => return Err(SignInError::SignedOut.into()),
            Session::User { name, roles } => Actor::User { name, roles },
        };
        Ok(access::permits(&actor, op, &self.config.identity_viewers)?)
    }

    /// Whether the session may do `op` (a face offers only the keys and commands it may use).
    pub fn may(&self, op: Operation) -> bool {
        self.authorize(op).is_ok()
    }

    pub fn may_see_identity(&self) -> bool {
        self.may(Operation::ViewIdentity)
    }

    /// What a face needs to open this bank again elsewhere as the same session.
    pub fn reopener(&self) -> Reopen {
        Reopen { path: self.location(), bench: self.bench.clone(), session: self.session.clone() }
    }

    /// Signs `name` in with `password`. A wrong password counts toward the lockout (recorded in the audit trail,
    /// on a bank opened read-only too, through a write of its own); a success after failures resets the count.
    /// The same password opens identity when the user's roles see it (an identity problem does not refuse the
    /// sign-in: identity stays locked, and the answer says why).
    pub fn sign_in(&mut self, name: &str, password: &str) -> Result<IdentityAccess> {
        let user = self.check_password(name, password, true)?;
        let name = user.name.clone();
        self.session = Session::User { name: user.name, roles: user.roles };
        self.drop_signatures();
        Ok(self.identity_at_sign_in(&name, password))
    }

    /// Signs out (an idle lock, a user leaving the bench): every operation is refused until the next sign-in.
    pub fn sign_out(&mut self) {
        if self.access_control() {
            self.session = Session::SignedOut;
            self.lock_identity();
        }
        self.drop_signatures();
    }

    /// Drops a signature and a countersign given for an act that is not going to be done (a cancelled signature
    /// box): the next signed act asks again.
    pub fn drop_signatures(&mut self) {
        self.signature_armed = false;
        self.countersigned = None;
    }

    /// Whether a recall applied needs a second person's countersign under the bank's policy (a face asks for it).
    pub fn needs_countersign(&self) -> bool {
        self.access_control() && self.config.recall_apply_second_person
    }

    /// A second user countersigns the next recall applied with their own password (four eyes, rule
    /// `recall.four-eyes`). Refused by that rule for an unknown, disabled or locked-out user, a wrong password
    /// (counted toward that user's lockout, like any), the signed-in user themself, or a user whose roles may not
    /// apply recalls. Used up by the next recall, applied or refused.
    pub fn countersign(&mut self, name: &str, password: &str) -> Result<()> {
        self.countersigned = None;
        if !self.access_control() {
            return Ok(());
        }
        self.authorize(Operation::RecallApply)?;
        let signer = self.actor().to_string();
        if name == signer {
            let me = Countersigner { name, roles: self.roles(), disabled: false };
            rules::check_recall_four_eyes(true, &signer, Some(&me))?;
        }
        let user = self.check_password(name, password, false).map_err(|e| match e {
            AppError::SignIn(e) => {
                let why = e.to_string();
                AppError::Refused(rules::countersign_refused(why.trim_start_matches("sign-in refused: ")))
            }
            other => other,
        })?;
        let facts = Countersigner { name: &user.name, roles: &user.roles, disabled: user.disabled };
        rules::check_recall_four_eyes(true, &signer, Some(&facts))?;
        self.countersigned = Some(user);
        Ok(())
    }

    /// Four eyes on a recall applied: the countersign given (used up here), checked by the core's rule; the
    /// countersigner's signature to record, if any. Open banks (set-up mode) have nobody to countersign.
    pub(super) fn countersigner(&mut self) -> Result<Option<Signer>> {
        let given = self.countersigned.take();
        if !self.access_control() {
            return Ok(None);
        }
        let facts = given.as_ref().map(|u| Countersigner { name: &u.name, roles: &u.roles, disabled: u.disabled });
        rules::check_recall_four_eyes(self.config.recall_apply_second_person, self.actor(), facts.as_ref())?;
        Ok(given.map(|u| Signer(u.name)))
    }

    /// The signed-in user signs the next signed act with their password (re-entered at the bench; the CLI's
    /// password given for the command). A wrong one refuses and counts toward the lockout. The signature is used
    /// up by that act, done or refused.
    pub fn sign(&mut self, password: &str) -> Result<()> {
        let Session::User { name, .. } = &self.session else {
            return match self.session {
                Session::SignedOut => Err(SignInError::SignedOut.into()),
                _ => Ok(()),
            };
        };
        let name = name.clone();
        self.check_password(&name, password, false)?;
        self.signature_armed = true;
        Ok(())
    }

    /// Authorizes a signed act and takes its signature: the signed-in user's armed signature (used up here), or
    /// in set-up mode the acting name.
    pub(super) fn signer(&mut self, op: Operation) -> Result<Signer> {
        self.authorize(op)?;
        match &self.session {
            Session::User { name, .. } if !std::mem::take(&mut self.signature_armed) => {
                Err(SignInError::SignatureNeeded(name.clone()).into())
            }
            _ => Ok(Signer(self.actor().to_string())),
        }
    }

    /// `signed_op`, a signed act, when `signed` (a correction, a recall applied); else the plain `op`.
    pub(super) fn signer_if(&mut self, signed: bool, signed_op: Operation, op: Operation) -> Result<Option<Signer>> {
        if signed {
            return self.signer(signed_op).map(Some);
        }
        self.authorize(op)?;
        Ok(None)
    }

    /// Checks a user's password. A wrong one counts toward the lockout; with `sign_in`, a right one is recorded
    /// in the audit trail (`sign-in`: who and when, never a secret). Both are written through a write of their
    /// own on a bank opened read-only (a read command). A successful sign-in that cannot be recorded (a bank on
    /// read-only media, of an older schema, or kept busy by a writer past [`SIGN_IN_RECORD_WAIT`]) still stands:
    /// a read goes on, and a write command's own write would wait for the lock or be refused anyway.
    fn check_password(&mut self, name: &str, password: &str, sign_in: bool) -> Result<User> {
        let limit = self.config.lockout_after;
        let found = self.store.read(|tx| Ok::<_, AppError>(users::user(tx, name)?))?;
        let Some((user, phc)) = found else {
            return Err(SignInError::UnknownUser(name.to_string()).into());
        };
        if user.disabled {
            return Err(SignInError::Disabled(user.name).into());
        }
        if user.failed_attempts >= limit {
            return Err(SignInError::Locked { name: user.name, failed: user.failed_attempts }.into());
        }
        if password.is_empty() {
            return Err(SignInError::NoPassword(user.name).into());
        }
        let ok = password_matches(&phc, password);
        if ok && user.failed_attempts == 0 && !sign_in {
            return Ok(user);
        }
        let act = Act { actor: user.name.clone(), now: self.now() };
        let record = |tx: &Tx| count_attempt(tx, &act, &user.name, ok, limit);
        if ok {
            // Recording the sign-in, or starting the count over, is not worth refusing a right password for (a
            // bank on read-only media), nor holding a read up behind a writer for: beside a read it waits at most
            // a second for the write lock (the bank's writes take milliseconds) and never upgrades the schema.
            let _ = match self.store.write(record) {
                Err(AppError::Store(StoreError::OpenedReadOnly { .. })) => {
                    Store::open_beside_read(&self.location(), SIGN_IN_RECORD_WAIT)
                        .map_err(AppError::from)
                        .and_then(|mut side| side.write(record))
                }
                other => other,
            };
            return Ok(user);
        }
        let counted = self.write_even_if_read_only(record)?;
        if counted >= limit {
            Err(SignInError::Locked { name: user.name, failed: counted }.into())
        } else {
            Err(SignInError::WrongPassword { name: user.name, failed: counted, limit }.into())
        }
    }

    /// A write a read-only open must still make (a failed sign-in's count): through a connection of its own.
    fn write_even_if_read_only<T>(&mut self, f: impl Fn(&Tx) -> Result<T>) -> Result<T> {
        match self.store.write(&f) {
            Err(AppError::Store(StoreError::OpenedReadOnly { .. })) => Store::open(&self.location())?.write(f),
            other => other,
        }
    }

    /// The bank's users.
    pub fn users(&mut self) -> Result<Vec<User>> {
        self.authorize(Operation::UserAdmin)?;
        self.store.read(|tx| Ok(users::users(tx)?))
    }

    /// A new user with `roles` and `password`. The first user of a bank (created in set-up mode) must be an
    /// administrator; after that, only an administrator adds users. A user whose roles see identity is enrolled as
    /// an identity viewer with the same password, in the same act.
    pub fn add_user(&mut self, name: &str, roles: &[Role], password: &str, at: DateTime<Utc>) -> Result<User> {
        self.authorize(Operation::UserAdmin)?;
        access::check_user_name(name).map_err(AppError::Invalid)?;
        if roles.is_empty() {
            return super::invalid("a user needs at least one role (--role ROLE)");
        }
        access::check_password(password, self.config.password_min_length).map_err(AppError::Invalid)?;
        let hash = hash_password(password)?;
        let first = !self.access_control();
        let add = |tx: &Tx, act: &Act| {
            if first && users::any(tx)? {
                return Err(SignInError::SignedOut.into());
            }
            if first {
                access::check_first_user(roles).map_err(AppError::Invalid)?;
            }
            if users::user(tx, name)?.is_some() {
                return super::invalid(format!("user {name} exists already"));
            }
            users::insert_user(tx, name, roles, &hash, act.now)?;
            record(tx, act, "add-user", "users", name, name, at, None)?;
            Ok(users::user(tx, name)?.map(|(u, _)| u))
        };
        let added = if self.views_identity(name, roles) {
            let enrol = self.enrolment(password)?;
            self.write_with_viewer_change(name, enrol, add)?.0
        } else {
            let act = self.act();
            self.store.write(|tx| add(tx, &act))?
        };
        added.ok_or_else(|| StoreError::Corrupt(format!("user {name} was not stored")).into())
    }

    /// Whether a user with `roles` sees identity under the bank's policy.
    fn views_identity(&self, name: &str, roles: &[Role]) -> bool {
        let actor = Actor::User { name, roles };
        access::permits(&actor, Operation::ViewIdentity, &self.config.identity_viewers).is_ok()
    }

    /// Sets a user's password: one's own (any signed-in user, who proved the old one by signing in), or another's
    /// (an administrator's reset). An identity viewer is enrolled afresh with the new password in the same act:
    /// their slot is made now when this session holds identity open (one's own change after unlocking at
    /// sign-in), else it waits for another viewer's unlock; refused, changing nothing, when their slot holds the
    /// only usable copy of the identity key and this session cannot open it.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<()> {
        if name != self.actor() || !self.access_control() {
            self.authorize(Operation::UserAdmin)?;
        }
        access::check_password(password, self.config.password_min_length).map_err(AppError::Invalid)?;
        let hash = hash_password(password)?;
        let enrol = if self.is_identity_viewer(name)? { Some(self.enrolment(password)?) } else { None };
        self.change_user(name, "set-password", enrol, |tx| Ok(users::set_password_hash(tx, name, &hash)?))
    }

    /// Disables a user (who leaves, or must not sign in for now); nothing of theirs is deleted. The last enabled
    /// administrator is not disabled: nobody could manage the users after.
    pub fn disable_user(&mut self, name: &str) -> Result<()> {
        self.authorize(Operation::UserAdmin)?;
        let revoke = if self.is_identity_viewer(name)? { Some(self.revocation()?) } else { None };
        self.change_user(name, "disable-user", revoke, |tx| {
            let admins = users::users(tx)?
                .into_iter()
                .filter(|u| !u.disabled && u.name != name && u.roles.contains(&Role::Admin))
                .count();
            let is_admin = users::user(tx, name)?.is_some_and(|(u, _)| u.roles.contains(&Role::Admin));
            if is_admin && admins == 0 {
                return Err(AppError::Invalid(format!(
                    "{name} is the last enabled administrator: add or enable another first"
                )));
            }
            Ok(users::set_disabled(tx, name, true)?)
        })
    }

    /// Enables a user again, and lifts a lockout (the failed-attempt count starts over).
    pub fn enable_user(&mut self, name: &str) -> Result<()> {
        self.authorize(Operation::UserAdmin)?;
        self.change_user(name, "enable-user", None, |tx| {
            users::set_disabled(tx, name, false)?;
            Ok(users::set_failed_attempts(tx, name, 0)?)
        })
    }

    /// Changes a user's roles. An identity viewer whose new roles no longer see identity is revoked in the same
    /// act (one who gains a viewing role is enrolled at their next sign-in, with their password).
    pub fn set_roles(&mut self, name: &str, roles: &[Role]) -> Result<()> {
        self.authorize(Operation::UserAdmin)?;
        if roles.is_empty() {
            return super::invalid("a user needs at least one role (--role ROLE)");
        }
        let revoke = if !self.views_identity(name, roles) && self.is_identity_viewer(name)? {
            Some(self.revocation()?)
        } else {
            None
        };
        self.change_user(name, "set-roles", revoke, |tx| Ok(users::set_roles(tx, name, roles)?))
    }

    /// One audited update of a user's row, with the change to their identity enrolment it brings, as one act.
    fn change_user(
        &mut self,
        name: &str,
        action: &str,
        viewer: Option<ViewerChange>,
        f: impl FnOnce(&Tx) -> Result<()>,
    ) -> Result<()> {
        let change = |tx: &Tx, act: &Act| {
            let before = audit::row_state(tx, "users", name)?;
            if before.is_none() {
                return Err(AppError::NotFound { kind: super::Record::User, id: name.to_string() });
            }
            f(tx)?;
            record(tx, act, action, "users", name, name, act.now, before)
        };
        if let Some(viewer) = viewer {
            return self.write_with_viewer_change(name, viewer, change).map(|_| ());
        }
        let act = self.act();
        self.store.write(|tx| change(tx, &act))
    }

    /// The bank's policy as stored (without this bench's settings).
    pub fn policy(&self) -> Result<&Config> {
        self.authorize(Operation::ConfigShow)?;
        Ok(&self.policy)
    }

    /// Stores a new version of the bank's policy (an administrator's act, audited) and puts it in force. Viewers
    /// whose roles it no longer names in `identity_viewers` are revoked in the same act, as a role change revokes
    /// them (refused, changing nothing, when one holds the only usable copy of the identity key).
    pub fn set_policy(&mut self, policy: &Config, at: DateTime<Utc>) -> Result<i64> {
        self.authorize(Operation::ConfigSet)?;
        let text = policy.to_toml();
        // What is stored must load again: a policy that does not round-trip is refused before it is in force.
        Config::from_toml(&text).map_err(|e| AppError::Invalid(e.to_string()))?;
        let losing = self.viewers_losing_sight(policy)?;
        let id = self.write_with_viewers_revoked(&losing, |tx, act| {
            let id = users::insert_policy(tx, &text, act.now)?;
            record(tx, act, "set-policy", "policies", &id.to_string(), "policy", at, None)?;
            Ok::<_, AppError>(id)
        })?;
        self.load_policy()?;
        Ok(id)
    }

    /// The signatures of a record.
    pub fn signatures(&mut self, id: &crate::core::ids::Id) -> Result<Vec<Signature>> {
        self.authorize(Operation::Read)?;
        self.store.read(|tx| Ok(users::signatures_of(tx, id.data())?))
    }
}

/// Records a failed sign-in (the count, and a lockout when it reaches `limit`), or a success (`sign-in`, or after
/// failures `sign-in-after-failures`, which starts the count over).
fn count_attempt(tx: &Tx, act: &Act, name: &str, ok: bool, limit: u32) -> Result<u32> {
    let (user, _) = users::user(tx, name)?.ok_or_else(|| StoreError::Corrupt(format!("user {name} vanished")))?;
    let n = if ok { 0 } else { user.failed_attempts.saturating_add(1) };
    let action = match (ok, n >= limit) {
        (true, _) if user.failed_attempts == 0 => "sign-in",
        (true, _) => "sign-in-after-failures",
        (false, true) => "lock-out-user",
        (false, false) => "sign-in-failed",
    };
    let before = audit::row_state(tx, "users", name)?;
    users::set_failed_attempts(tx, name, n)?;
    record(tx, act, action, "users", name, name, act.now, before)?;
    Ok(n)
}

/// What a signature signs: the record just written in this transaction, the identifier its audit entries are
/// filed under, and when the act happened.
pub(super) struct Signed<'a> {
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub subject: &'a str,
    pub at: DateTime<Utc>,
}

/// Signs the act just recorded on a record in this transaction: the signature row binds the signer and the
/// meaning to that record's audit entry, and is audited itself (filed under the same record, at the act's time).
pub(super) fn sign(tx: &Tx, act: &Act, signer: &Signer, meaning: &str, what: &Signed) -> Result<()> {
    let id = users::insert_signature(tx, &signer.0, meaning, what.entity, what.entity_id, act.now)?;
    record(tx, act, "sign", "signatures", &id.to_string(), what.subject, what.at, None)
}
