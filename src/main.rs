//! stoolbank: with a command, the scriptable CLI; without one, the bench TUI.

use std::process::ExitCode;

use clap::Parser;
use stoolbank::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let db = if cli.demo { cli::demo_db() } else { cli.db.clone().unwrap_or_else(cli::default_db) };
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("stoolbank: cannot create {}: {e}", dir.display());
            return ExitCode::from(1);
        }
    }
    let mut out = std::io::stdout().lock();
    let result = match &cli.command {
        Some(_) => cli::run(&cli, &db, &mut out),
        None => cli::bench(&cli, &db, &mut out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cli::report(&e);
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
