//! Who may do what: the roles, every operation of the bank, and the one table that joins them. `app` asks
//! [`permits`] before each operation touches the store, so neither face can skip it; `stoolbank user roles`
//! prints [`MATRIX`].

use serde::{Deserialize, Serialize};

/// A user's role. A user may hold several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Donors, screenings, intake, processing, QC entry, labels, locations.
    Technician,
    /// Release, discard, recall, audit, corrections, exports.
    QualityManager,
    /// Recipients, dispensing, follow-up, adverse events.
    Clinician,
    /// Read-only: traces, recall dry runs, reports, exports (which never carry identity).
    Investigator,
    /// Users and the bank's policy; no bench work.
    Admin,
}

impl Role {
    pub const ALL: &'static [Role] =
        &[Role::Technician, Role::QualityManager, Role::Clinician, Role::Investigator, Role::Admin];

    /// The name the command line and the policy use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Technician => "technician",
            Role::QualityManager => "quality-manager",
            Role::Clinician => "clinician",
            Role::Investigator => "investigator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL.iter().copied().find(|r| r.as_str() == s.trim()).ok_or_else(|| {
            format!(
                "`{s}` is not a role; roles: {}",
                Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
            )
        })
    }
}

/// Every operation of the bank, as the access table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    RegisterDonor,
    Screen,
    Defer,
    LiftDeferral,
    Intake,
    MakeBatch,
    QcEntry,
    LabelPrint,
    LabelVerify,
    Locate,
    Release,
    Discard,
    /// A screening or a follow-up visit that supersedes an earlier one.
    Correction,
    RecallDryRun,
    RecallApply,
    RecipientAdd,
    Dispense,
    FollowUp,
    AdverseEvent,
    StudyRecord,
    /// Shows, lists, searches, traces, label previews: the bench's reads.
    Read,
    Report,
    Export,
    AuditRead,
    AuditVerify,
    AuditCheckpoint,
    Backup,
    Restore,
    /// Create or upgrade the bank's schema, set its facility code.
    Init,
    UserAdmin,
    ConfigSet,
    ConfigShow,
    /// Names, phones and national ids of donors and recipients: the policy's `identity_viewers` roles.
    ViewIdentity,
}

use Operation as Op;
use Role::{Admin, Clinician, Investigator, QualityManager, Technician};

const BENCH: &[Role] = &[Technician, QualityManager, Clinician, Investigator];

/// The access table: for each operation, the roles that may do it. Reads are open to every bench role; the
/// administrator manages users and the policy and reads the audit trail of those changes, but does no bench work.
/// `ViewIdentity` lists no role here: the bank's policy names them (`identity_viewers`).
pub const MATRIX: &[(Operation, &[Role])] = &[
    (Op::RegisterDonor, &[Technician]),
    (Op::Screen, &[Technician]),
    (Op::Defer, &[Technician, QualityManager]),
    (Op::LiftDeferral, &[QualityManager]),
    (Op::Intake, &[Technician]),
    (Op::MakeBatch, &[Technician]),
    (Op::QcEntry, &[Technician]),
    (Op::LabelPrint, &[Technician]),
    (Op::LabelVerify, &[Technician]),
    (Op::Locate, &[Technician]),
    (Op::Release, &[QualityManager]),
    (Op::Discard, &[QualityManager]),
    (Op::Correction, &[QualityManager]),
    (Op::RecallDryRun, BENCH),
    (Op::RecallApply, &[QualityManager]),
    (Op::RecipientAdd, &[Clinician]),
    (Op::Dispense, &[Clinician]),
    (Op::FollowUp, &[Clinician]),
    (Op::AdverseEvent, &[Clinician]),
    (Op::StudyRecord, &[Clinician]),
    (Op::Read, BENCH),
    (Op::Report, &[QualityManager, Clinician, Investigator]),
    (Op::Export, &[QualityManager, Investigator]),
    (Op::AuditRead, &[QualityManager, Investigator, Admin]),
    (Op::AuditVerify, &[QualityManager, Investigator, Admin]),
    (Op::AuditCheckpoint, &[QualityManager, Admin]),
    (Op::Backup, &[QualityManager, Admin]),
    (Op::Restore, &[Admin]),
    (Op::Init, &[Admin]),
    (Op::UserAdmin, &[Admin]),
    (Op::ConfigSet, &[Admin]),
    (Op::ConfigShow, &[Technician, QualityManager, Clinician, Investigator, Admin]),
    (Op::ViewIdentity, &[]),
];

impl Operation {
    /// Every operation, in the table's order.
    pub fn all() -> impl Iterator<Item = Operation> {
        MATRIX.iter().map(|(op, _)| *op)
    }

    /// The name `user roles` prints and a refusal names.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::RegisterDonor => "register-donor",
            Op::Screen => "screen",
            Op::Defer => "defer",
            Op::LiftDeferral => "lift-deferral",
            Op::Intake => "intake",
            Op::MakeBatch => "make-batch",
            Op::QcEntry => "qc-entry",
            Op::LabelPrint => "label-print",
            Op::LabelVerify => "label-verify",
            Op::Locate => "locate",
            Op::Release => "release",
            Op::Discard => "discard",
            Op::Correction => "correction",
            Op::RecallDryRun => "recall-dry-run",
            Op::RecallApply => "recall-apply",
            Op::RecipientAdd => "recipient-add",
            Op::Dispense => "dispense",
            Op::FollowUp => "follow-up",
            Op::AdverseEvent => "adverse-event",
            Op::StudyRecord => "study-record",
            Op::Read => "read",
            Op::Report => "report",
            Op::Export => "export",
            Op::AuditRead => "audit-read",
            Op::AuditVerify => "audit-verify",
            Op::AuditCheckpoint => "audit-checkpoint",
            Op::Backup => "backup",
            Op::Restore => "restore",
            Op::Init => "init",
            Op::UserAdmin => "user-admin",
            Op::ConfigSet => "config-set",
            Op::ConfigShow => "config-show",
            Op::ViewIdentity => "view-identity",
        }
    }

    /// The roles that may do this (for `ViewIdentity`, the policy's `identity_viewers`).
    pub fn roles(self, identity_viewers: &[Role]) -> &[Role] {
        if self == Op::ViewIdentity {
            return identity_viewers;
        }
        MATRIX.iter().find(|(op, _)| *op == self).map_or(&[], |(_, roles)| roles)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is acting, as far as access is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor<'a> {
    /// A bank without users runs open (set-up mode): a free-text name, every operation allowed.
    SetUp,
    /// A signed-in user and the roles they hold.
    User { name: &'a str, roles: &'a [Role] },
}

/// A refusal of the access table: who, what, and which roles may.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by rule {RULE}: {user} ({}) may not {op}; {}", list(held), may(allowed))]
pub struct Denied {
    pub user: String,
    pub held: Vec<Role>,
    pub op: Operation,
    pub allowed: Vec<Role>,
}

/// The rule code every access refusal names.
pub const RULE: &str = "access.role";

fn list(roles: &[Role]) -> String {
    if roles.is_empty() {
        return "no role".into();
    }
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

fn may(roles: &[Role]) -> String {
    if roles.is_empty() {
        "no role may (the policy names none)".into()
    } else {
        format!("it takes: {}", list(roles))
    }
}

/// Whether `actor` may do `op`: in set-up mode everything (identity only where the policy names a viewing role at
/// all, as before users existed), else when one of the user's roles is in the table.
pub fn permits(actor: &Actor, op: Operation, identity_viewers: &[Role]) -> Result<(), Denied> {
    match actor {
        Actor::SetUp if op == Op::ViewIdentity && identity_viewers.is_empty() => {
            Err(Denied { user: "set-up mode".into(), held: Vec::new(), op, allowed: Vec::new() })
        }
        Actor::SetUp => Ok(()),
        Actor::User { name, roles } => {
            let allowed = op.roles(identity_viewers);
            if roles.iter().any(|r| allowed.contains(r)) {
                Ok(())
            } else {
                Err(Denied { user: (*name).to_string(), held: roles.to_vec(), op, allowed: allowed.to_vec() })
            }
        }
    }
}

/// Policy numbers of access control, with their ranges (the policy validates them).
pub const PASSWORD_MIN_LENGTH: (usize, usize) = (8, 128);
pub const LOCKOUT_AFTER: (u32, u32) = (3, 20);

/// A password long enough for the policy (counted in characters).
pub fn check_password(password: &str, min_length: usize) -> Result<(), String> {
    let n = password.chars().count();
    if n < min_length {
        return Err(format!("the password has {n} characters; the policy asks for at least {min_length}"));
    }
    if n > PASSWORD_MIN_LENGTH.1 * 8 {
        return Err(format!("the password has {n} characters; at most {} are taken", PASSWORD_MIN_LENGTH.1 * 8));
    }
    Ok(())
}

/// A user name: 1–64 letters, digits, `.`, `_`, `-` (it is typed on command lines and printed in the audit trail).
pub fn check_user_name(name: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || ".-_".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok) {
        return Err(format!("`{name}` is not a user name: 1 to 64 letters, digits, `.`, `_` or `-`"));
    }
    Ok(())
}

/// The roles a set of users needs: the first user of a bank is an administrator, so that someone can manage
/// the others.
pub fn check_first_user(roles: &[Role]) -> Result<(), String> {
    if roles.contains(&Admin) {
        Ok(())
    } else {
        Err("the first user of a bank must hold the admin role (--role admin), to manage the others".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_in_the_table_once() {
        let ops: Vec<Operation> = Operation::all().collect();
        for op in &ops {
            assert_eq!(ops.iter().filter(|o| *o == op).count(), 1, "{op} twice");
        }
    }

    #[test]
    fn the_matrix_follows_the_issue() {
        let may =
            |role: Role, op: Operation| permits(&Actor::User { name: "u", roles: &[role] }, op, &[Clinician]).is_ok();
        assert!(may(Technician, Op::MakeBatch) && !may(Technician, Op::Release));
        assert!(may(QualityManager, Op::Release) && may(QualityManager, Op::RecallApply));
        assert!(may(Clinician, Op::Dispense) && !may(Clinician, Op::Discard));
        for op in Operation::all() {
            let write = !matches!(
                op,
                Op::Read
                    | Op::RecallDryRun
                    | Op::Report
                    | Op::Export
                    | Op::AuditRead
                    | Op::AuditVerify
                    | Op::ConfigShow
            );
            assert!(!(write && may(Investigator, op)), "the investigator is read-only: {op}");
        }
        for op in [Op::Release, Op::Dispense, Op::MakeBatch, Op::RegisterDonor, Op::Read] {
            assert!(!may(Admin, op), "admin does no bench work: {op}");
        }
        assert!(may(Admin, Op::UserAdmin) && may(Admin, Op::ConfigSet));
        assert!(may(Clinician, Op::ViewIdentity) && !may(Technician, Op::ViewIdentity));
    }

    #[test]
    fn a_refusal_names_the_rule_the_user_and_who_may() {
        let e = permits(&Actor::User { name: "tom", roles: &[Technician] }, Op::Release, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "refused by rule access.role: tom (technician) may not release; it takes: quality-manager"
        );
        assert!(permits(&Actor::SetUp, Op::Release, &[]).is_ok());
        assert!(permits(&Actor::SetUp, Op::ViewIdentity, &[]).is_err());
        assert!(permits(&Actor::SetUp, Op::ViewIdentity, &[Clinician]).is_ok());
    }

    #[test]
    fn roles_parse_by_their_cli_names() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(*r));
        }
        assert!("qm".parse::<Role>().unwrap_err().contains("quality-manager"));
    }

    #[test]
    fn names_and_passwords() {
        assert!(check_user_name("anna.k").is_ok());
        assert!(check_user_name("a b").is_err() && check_user_name("").is_err());
        assert!(check_password("short", 12).unwrap_err().contains("at least 12"));
        assert!(check_password("correct horse battery", 12).is_ok());
        assert!(check_first_user(&[Technician]).is_err() && check_first_user(&[Admin, Technician]).is_ok());
    }
}
