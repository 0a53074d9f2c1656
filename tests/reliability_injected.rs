//! Faults and interleavings set up with strace, so that each happens at one known system call: the directory
//! sync when a `-wal` is created, and benches starting while `restore` holds the bank in its locked swap.

#[path = "../reliability/harness.rs"]
mod harness;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use harness::Bank;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_stoolbank"))
}

/// Whether strace can trace here: without it the test fails when `CI` is set, and says it skipped otherwise.
fn strace_usable() -> bool {
    match harness::strace_missing() {
        None => true,
        Some(why) if std::env::var_os("CI").is_some() => panic!("strace is needed for these tests in CI: {why}"),
        Some(why) => {
            eprintln!("skipped: {why} (install strace to run the fault-injection tests)");
            false
        }
    }
}

/// `args` of the bank's command line, run under strace with `strace_args` before it.
fn under_strace(bank: &Bank, strace_args: &[&str], args: &[&str]) -> Command {
    let inner = bank.command(args);
    let mut cmd = Command::new("strace");
    cmd.args(strace_args).arg(inner.get_program()).args(inner.get_args()).current_dir(&bank.dir);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn count(db: &Path, table: &str) -> i64 {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

/// `SQLite` syncs the directory when it opens a `-wal` but ignores a failure: commits acknowledged into that
/// `-wal` could vanish with its entry at a power loss. The command is refused instead, before writing (here the
/// `-wal` is one an earlier reader left, whose entry nothing synced).
#[test]
fn a_failed_directory_sync_for_a_new_wal_refuses_the_write() {
    if !strace_usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (bank, _) = Bank::create(bin(), dir.path()).unwrap();
    let before = count(&bank.db, "donors");
    let dir_arg = bank.dir.to_str().unwrap();
    let add = ["donor", "add", "--sex", "M", "--birth-date", "1980-01-01"];
    let out = under_strace(
        &bank,
        &["-f", "-qq", "-o", "/dev/null", "-P", dir_arg, "-e", "inject=fsync:error=EIO:when=1"],
        &add,
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(dir_arg) && err.contains("directory entry") && err.contains("Input/output error"), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(count(&bank.db, "donors"), before, "nothing written");
    bank.ok(&add).unwrap();
    assert_eq!(count(&bank.db, "donors"), before + 1);
    bank.verified().unwrap();
}

/// Reads a child's stderr (strace's trace and the command's messages) line by line until `until` matches one,
/// then keeps draining it in a thread (so that strace never blocks on a full pipe); returns that line and
/// the thread, which gives the rest.
fn wait_for(child: &mut Child, until: impl Fn(&str) -> bool) -> (String, std::thread::JoinHandle<String>) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let found = loop {
        match lines.next() {
            Some(Ok(line)) if until(&line) => break line,
            Some(Ok(_)) => {}
            other => panic!("the process ended before the awaited line: {other:?}"),
        }
    };
    (found, std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n")))
}

/// While `restore` holds the bank's exclusive lock in its swap (stopped there by strace at its first write into
/// the bank), a bench's read and write commands wait; once it goes on, they see the restored bank, and nothing
/// is written into the file being swapped.
#[test]
fn a_bench_starting_during_a_restore_waits_and_then_sees_the_restored_bank() {
    if !strace_usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (bank, kept) = Bank::create(bin(), dir.path()).unwrap();
    let backup = bank.dir.join("kept.db");
    bank.ok(&["backup", backup.to_str().unwrap()]).unwrap();
    // Added after the backup: known by its birth date (the donor added during the restore may get its identifier).
    bank.ok(&["donor", "add", "--sex", "M", "--birth-date", "1980-01-01"]).unwrap();
    let wal = format!("{}-wal", bank.db.display());
    let mut restore = under_strace(
        &bank,
        &["-f", "-o", "/dev/stderr", "-P", &wal, "-e", "trace=pwrite64", "-e", "inject=pwrite64:signal=STOP:when=1"],
        &["restore", backup.to_str().unwrap()],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let (stopped, restore_rest) =
        wait_for(&mut restore, |l| l.contains("stopped (SIGSTOP)") || l.contains("--- stopped by SIGSTOP"));
    let pid = stopped.split_whitespace().next().unwrap().to_string();

    // A bench's commands, each traced for its lock attempts: each is seen refused the lock before restore goes on.
    let bench = |args: &[&str]| {
        let mut child = under_strace(&bank, &["-f", "-o", "/dev/stderr", "-e", "trace=fcntl"], args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let blocked = wait_for(&mut child, |l| l.contains("F_SETLK") && l.contains("EAGAIN"));
        (child, blocked.1)
    };
    let (list, list_err) = bench(&["donor", "list"]);
    let (add, add_err) = bench(&["donor", "add", "--sex", "F", "--birth-date", "1985-05-05"]);

    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    let restored = restore.wait_with_output().unwrap();
    let log = restore_rest.join().unwrap();
    assert!(restored.status.success(), "{log}");

    let list_out = list.wait_with_output().unwrap();
    let list_log = list_err.join().unwrap();
    assert!(list_out.status.success(), "{list_log}");
    let listed = String::from_utf8_lossy(&list_out.stdout);
    assert!(listed.contains(&kept), "the restored bank's donor: {listed}");
    assert!(!listed.contains("1980-01-01"), "never the bank being replaced: {listed}");

    let add_out = add.wait_with_output().unwrap();
    let add_log = add_err.join().unwrap();
    assert!(add_out.status.success(), "{add_log}");
    // The restored bank holds its donor and the one added meanwhile; the bank moved aside is as it was.
    assert_eq!(count(&bank.db, "donors"), 2);
    let aside: Vec<_> = std::fs::read_dir(&bank.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("bank.db.replaced-") && !n.ends_with("-wal")
            })
        })
        .collect();
    let aside = aside.first().unwrap_or_else(|| panic!("no bank moved aside"));
    assert_eq!(count(aside, "donors"), 2, "the replaced bank: its two donors, nothing added to it");
    bank.verified().unwrap();
}
