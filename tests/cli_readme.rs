//! README.md stays true: the flags of its command table are the flags `--help` lists, and its walk through
//! the chain runs as written, with nothing but a POSIX shell and the binary.

use std::collections::BTreeSet;
use std::process::Command;

use clap::CommandFactory;
use stoolbank::cli::Cli;

const README: &str = include_str!("../README.md");

/// The long flags of a command and all its subcommands, and the global ones.
fn flags(cmd: &clap::Command, into: &mut BTreeSet<String>) {
    into.extend(cmd.get_arguments().filter_map(|a| a.get_long()).map(|l| format!("--{l}")));
    for sub in cmd.get_subcommands() {
        flags(sub, into);
    }
}

#[test]
fn the_command_table_names_only_flags_that_help_lists() {
    let mut cli = Cli::command();
    // The groups' subcommands are built when parsing enters them (`args::Group`): all of them, here.
    cli.build();
    let table = README.split("| command | what it does |").nth(1).expect("the command table");
    let mut rows = 0;
    for row in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        let usage = row.split('`').nth(1).expect("a command in backquotes");
        let name = usage.split_whitespace().next().expect("a command name");
        let name = name.split('/').next().unwrap_or(name);
        let cmd = cli.find_subcommand(name).unwrap_or_else(|| panic!("README names `{name}`, which is no command"));
        let mut known = BTreeSet::new();
        flags(cmd, &mut known);
        known.extend(cli.get_arguments().filter_map(|a| a.get_long()).map(|l| format!("--{l}")));
        for flag in row.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).filter(|w| w.starts_with("--")) {
            assert!(known.contains(flag), "README: `{name}` has no {flag} (its flags: {known:?})");
        }
        rows += 1;
    }
    assert!(rows >= 15, "the whole table was read ({rows} rows)");
}

#[test]
fn the_walk_through_the_chain_runs_as_written() {
    let walk = README.split("## A walk through the chain with the CLI").nth(1).expect("the walk");
    let script = walk.split("```sh\n").nth(1).and_then(|s| s.split("```").next()).expect("the walk's shell block");
    assert!(!script.contains("jq"), "the walk needs nothing but the shell and stoolbank");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let script = script.replace("/tmp/bank.db", db.to_str().unwrap());
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_stoolbank")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .env("USER", "walker")
        .env_remove("STOOLBANK_CONFIG")
        .env_remove("STOOLBANK_USER")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the walk ends well:\n{stdout}\n{stderr}");
    let refusals: Vec<&str> = stderr.lines().filter(|l| l.contains("refused")).collect();
    assert_eq!(refusals.len(), 1, "only the release the README says is refused:\n{stderr}");
    assert!(refusals[0].contains("release.2-screening-after"), "{stderr}");
    assert!(stdout.contains("RECALL APPLIED"), "{stdout}");
    assert!(stdout.contains("1 dispensed to 1 recipients"), "{stdout}");
}
