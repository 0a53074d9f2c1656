//! The reliability harnesses of `reliability/`, a few trials each (the long runs and their figures are in
//! RELIABILITY.md). No timing is asserted: each checks its properties after every trial.

#[path = "../reliability/harness.rs"]
mod harness;
#[path = "common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_stoolbank"))
}

fn run(f: impl FnOnce(&Path) -> harness::Result<harness::Figures>) -> harness::Figures {
    let dir = tempfile::tempdir().unwrap();
    match f(dir.path()) {
        Ok(fig) => fig,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn crash_at_random_points_leaves_nothing_partial() {
    let fig = run(|d| harness::crash(bin(), d, 6, 1));
    assert_eq!(fig.get("trials"), 6, "{fig}");
}

#[test]
fn concurrent_writers_lose_nothing_and_never_dispense_twice() {
    let fig = run(|d| harness::concurrency(bin(), d, None, 4, 4, 2));
    assert!(fig.get("dispenses acknowledged") > 0, "{fig}");
}

/// Eight benches on one bank on a PostgreSQL server: no lost write, no identifier issued twice, no unit
/// dispensed twice, and the audit chain intact (the harness checks each; `verify` runs at its end).
#[test]
fn eight_benches_on_a_server_lose_nothing_and_never_issue_or_dispense_twice() {
    let Some(admin) = pg::server("eight_benches_on_a_server_lose_nothing_and_never_issue_or_dispense_twice") else {
        return;
    };
    let server = pg::PgDb::new(admin);
    let fig = run(|d| harness::concurrency(bin(), d, Some(server.url().into()), 8, 4, 3));
    assert!(fig.get("dispenses acknowledged") > 0 && fig.get("batches made (donation and batch make)") > 0, "{fig}");
}

#[cfg(unix)]
#[test]
fn a_full_disk_gets_a_clear_message_and_nothing_partial() {
    let fig = run(|d| harness::disk_full(bin(), d, 4, 3));
    assert_eq!(fig.get("trials"), 4, "{fig}");
}

#[test]
fn flipped_bytes_are_named_or_harmless() {
    let fig = run(|d| harness::flipped_bytes(bin(), d, 12, 4));
    assert_eq!(fig.get("trials"), 12, "{fig}");
}

#[test]
fn random_command_lines_never_panic() {
    let fig = run(|d| harness::argv_fuzz(bin(), d, 60, 5));
    assert!(fig.get("trials") > 0, "{fig}");
}

/// Whether strace can inject faults here: without it the test fails when `CI` is set, and says it skipped otherwise.
fn strace_usable() -> bool {
    match harness::strace_missing() {
        None => true,
        Some(why) if std::env::var_os("CI").is_some() => panic!("strace is needed for the fault tests in CI: {why}"),
        Some(why) => {
            eprintln!("skipped: {why} (install strace to run the fault-injection tests)");
            false
        }
    }
}

#[test]
fn a_kill_at_every_write_call_leaves_each_command_whole_or_absent() {
    if strace_usable() {
        // donor add, donor screen, donation add, batch make of 4 units
        let fig = run(|d| harness::faults(bin(), d, harness::Fault::Kill, 4));
        assert_eq!(fig.get("commands"), 4, "{fig}");
        assert!(fig.get("killed") > 0, "{fig}");
    }
}

#[test]
fn an_io_error_at_every_write_call_fsync_included_is_one_clear_line_and_nothing_partial() {
    if strace_usable() {
        let fig = run(|d| harness::faults(bin(), d, harness::Fault::Error("EIO"), 4));
        assert_eq!(fig.get("commands"), 4, "{fig}");
        assert!(fig.get("refused with a one-line message (at pwrite64)") > 0, "{fig}");
    }
}

#[test]
fn a_full_disk_at_every_write_call_is_one_clear_line_and_nothing_partial() {
    if strace_usable() {
        let fig = run(|d| harness::faults(bin(), d, harness::Fault::Error("ENOSPC"), 2));
        assert_eq!(fig.get("commands"), 2, "{fig}");
        assert!(fig.get("refused with a one-line message (at pwrite64)") > 0, "{fig}");
    }
}

#[test]
fn an_io_error_at_every_read_call_is_the_whole_answer_or_one_line_naming_the_file() {
    if strace_usable() {
        // trace and verify, each faulted at every read of the database and its -wal
        let fig = run(|d| harness::read_faults(bin(), d, 2));
        assert_eq!(fig.get("commands"), 2, "{fig}");
        assert!(fig.get("refused with a one-line message naming the file (at pread64 on bank.db-wal)") > 0, "{fig}");
    }
}
