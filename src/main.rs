//! stoolbank: with a command, the scriptable CLI; without one, the bench TUI.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use stoolbank::cli::{self, Cli, Out};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match cli::usage_error(&e) {
            Some(line) => {
                eprintln!("{line}");
                return ExitCode::from(cli::CliError::Usage(line).exit_code());
            }
            None => e.exit(),
        },
    };
    let db = if cli.demo { cli::demo_db() } else { cli.db.clone().unwrap_or_else(cli::default_db) };
    // A file's folder is made for it; a server address (`postgres://…`) names no folder.
    let server = cli::names_server(&db);
    if let Some(dir) = db.parent().filter(|d| !server && !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("stoolbank: cannot create {}: {e}", dir.display());
            return ExitCode::from(1);
        }
    }
    let reader_gone = AtomicBool::new(false);
    let mut out = Out::new(std::io::stdout().lock(), &reader_gone);
    let result = match &cli.command {
        Some(_) => cli::run(&cli, &db, &mut out),
        None => cli::bench(&cli, &db, &mut out),
    }
    .and_then(|()| Ok(out.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cli::report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
