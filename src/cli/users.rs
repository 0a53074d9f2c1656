//! Sign-in on the command line, the `user` commands and the bank's policy (`config show`, `config set`).
//!
//! One command, one sign-in: the user from `--as` (or `$STOOLBANK_USER`), the password from
//! `$STOOLBANK_PASSWORD`, else asked without echo on a terminal. That password also signs the command's signed act.

use std::io::{IsTerminal, Write};
use std::path::Path;

use chrono::{DateTime, Utc};

use super::args::{ConfigCmd, UserCmd};
use super::{emit, CliError, Result};
use crate::app::{AppError, Bank, SignInError};
use crate::core::access::{Operation, MATRIX};
use crate::core::config::Config;
use crate::demo::{DEMO_DEFAULT_USER, DEMO_PASSWORD};
use crate::escape::shown;

/// Whose sign-in a command makes: the named user, or with `--demo` and nobody named, the demo's quality manager.
pub struct SignIn<'a> {
    pub user: Option<&'a str>,
    pub demo: bool,
}

/// Signs the command's user in, when the bank has users (a bank without runs open, in set-up mode). With `signs`,
/// the same password signs the command's signed act.
pub fn sign_in(bank: &mut Bank, who: &SignIn, signs: bool) -> Result<()> {
    if !bank.access_control() {
        return Ok(());
    }
    let (name, password) = match who.user {
        Some(name) => (name.to_string(), password(name)?),
        None if who.demo => (DEMO_DEFAULT_USER.to_string(), DEMO_PASSWORD.to_string()),
        None => return Err(AppError::from(SignInError::SignedOut).into()),
    };
    bank.sign_in(&name, &password)?;
    if signs {
        bank.sign(&password)?;
    }
    Ok(())
}

/// A second user countersigns the command's recall: their password from `$STOOLBANK_COUNTERSIGN_PASSWORD`, else
/// asked on the terminal without echo.
pub fn countersign(bank: &mut Bank, name: &str) -> Result<()> {
    let password = match std::env::var("STOOLBANK_COUNTERSIGN_PASSWORD") {
        Ok(p) => p,
        Err(_) if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("countersign: password for {name}: "))?
        }
        Err(_) => {
            return Err(CliError::Usage(format!(
            "no countersign password for {name}: set STOOLBANK_COUNTERSIGN_PASSWORD, or run on a terminal to be asked"
        )))
        }
    };
    Ok(bank.countersign(name, &password)?)
}

/// `$STOOLBANK_PASSWORD`, else asked on the terminal without echo.
fn password(name: &str) -> Result<String> {
    if let Ok(p) = std::env::var("STOOLBANK_PASSWORD") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(AppError::from(SignInError::NoPassword(name.to_string())).into());
    }
    Ok(rpassword::prompt_password(format!("password for {name}: "))?)
}

/// A new password: `$STOOLBANK_NEW_PASSWORD`, else asked twice on a terminal.
fn new_password(name: &str) -> Result<String> {
    if let Ok(p) = std::env::var("STOOLBANK_NEW_PASSWORD") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(format!(
            "no new password for {name}: set STOOLBANK_NEW_PASSWORD, or run on a terminal to be asked"
        )));
    }
    let first = rpassword::prompt_password(format!("new password for {name}: "))?;
    let again = rpassword::prompt_password("the same again: ")?;
    if first != again {
        return Err(CliError::Usage("the two passwords differ; nothing was changed".into()));
    }
    Ok(first)
}

/// The access table, as `user roles` prints it.
#[derive(serde::Serialize)]
struct Row {
    operation: Operation,
    roles: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'static str>,
}

pub fn roles(out: &mut dyn Write, json: bool) -> Result<()> {
    let identity = "the bank's policy names these roles (identity_viewers)";
    let rows: Vec<Row> = MATRIX
        .iter()
        .map(|(op, roles)| Row {
            operation: *op,
            roles: roles.iter().map(|r| r.as_str()).collect(),
            note: (*op == Operation::ViewIdentity).then_some(identity),
        })
        .collect();
    emit(out, json, &rows, || {
        let width = MATRIX.iter().map(|(op, _)| op.as_str().len()).max().unwrap_or(0);
        rows.iter()
            .map(|r| {
                let who = r.note.map_or_else(|| r.roles.join(", "), ToString::to_string);
                format!("{:width$}  {who}", r.operation.as_str())
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

pub fn user(bank: &mut Bank, cmd: &UserCmd, json: bool, at: DateTime<Utc>, out: &mut dyn Write) -> Result<()> {
    match cmd {
        UserCmd::Add { name, roles } => {
            let u = bank.add_user(name, roles, &new_password(name)?, at)?;
            emit(out, json, &u, || u.name.clone())
        }
        UserCmd::Passwd { name } => {
            let name = name.clone().unwrap_or_else(|| bank.actor().to_string());
            bank.set_password(&name, &new_password(&name)?)?;
            emit(out, json, &serde_json::json!({ "user": name }), || format!("password of {name} set"))
        }
        UserCmd::Disable { name } => {
            bank.disable_user(name)?;
            emit(out, json, &serde_json::json!({ "user": name }), || format!("{name} disabled"))
        }
        UserCmd::Enable { name } => {
            bank.enable_user(name)?;
            emit(out, json, &serde_json::json!({ "user": name }), || format!("{name} enabled"))
        }
        UserCmd::SetRoles { name, roles } => {
            bank.set_roles(name, roles)?;
            emit(out, json, &serde_json::json!({ "user": name, "roles": roles }), || format!("roles of {name} set"))
        }
        UserCmd::List => {
            let all = bank.users()?;
            let limit = bank.config().lockout_after;
            emit(out, json, &all, || {
                all.iter()
                    .map(|u| {
                        let roles = u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
                        let state = match (u.disabled, u.failed_attempts >= limit) {
                            (true, _) => "disabled".to_string(),
                            (false, true) => format!("locked out ({} failed sign-ins)", u.failed_attempts),
                            (false, false) if u.failed_attempts > 0 => {
                                format!("enabled ({} failed sign-ins)", u.failed_attempts)
                            }
                            (false, false) => "enabled".to_string(),
                        };
                        format!("{}  {roles}  {state}", shown(&u.name))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        UserCmd::Roles => roles(out, json),
    }
}

pub fn config(bank: &mut Bank, cmd: &ConfigCmd, json: bool, at: DateTime<Utc>, out: &mut dyn Write) -> Result<()> {
    match cmd {
        ConfigCmd::Show => {
            write!(out, "{}", bank.policy()?.to_toml())?;
            Ok(())
        }
        ConfigCmd::Set { file } => {
            let policy = read_policy(file)?;
            let version = bank.set_policy(&policy, at)?;
            emit(out, json, &serde_json::json!({ "policy": version }), || {
                format!("policy version {version} stored and in force")
            })
        }
    }
}

/// A policy file, checked: its mistake named with the file.
fn read_policy(file: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(file).map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    Config::from_toml(&text).map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))
}
