//! The long reliability harnesses, one command each (see RELIABILITY.md):
//!
//!     cargo run --release --example reliability -- crash|concurrency|concurrency-server|disk-full|flipped-bytes|argv|kill-every-write|eio-every-write|enospc-every-write|eio-every-read|all [TRIALS] [SEED]
//!
//! Each works in a fresh temporary directory with the release binary, and prints its figures; it exits 1 naming
//! the first broken property.

#[path = "harness.rs"]
mod harness;

use std::path::PathBuf;
use std::process::ExitCode;

/// One harness, run in its own directory.
type Run<'a> = Box<dyn Fn(&std::path::Path) -> harness::Result<harness::Figures> + 'a>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map_or("all", String::as_str);
    let trials: Option<u64> = args.get(1).and_then(|s| s.parse().ok());
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2026);
    // For the fault harnesses, TRIALS is how many of the chain's write commands are faulted (all 9 by default).
    let steps = trials.map_or(9, |t| t as usize);
    let bin = std::env::var_os("STOOLBANK_BIN").map_or_else(
        || {
            let exe = std::env::current_exe().unwrap_or_default();
            // target/<profile>/examples/reliability -> target/<profile>/stoolbank
            exe.parent().and_then(|p| p.parent()).map(|p| p.join("stoolbank")).unwrap_or_default()
        },
        PathBuf::from,
    );
    if !bin.exists() {
        eprintln!("no binary at {}: build it first (cargo build --release), or set STOOLBANK_BIN", bin.display());
        return ExitCode::from(2);
    }
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("cannot create a temporary directory");
        return ExitCode::from(1);
    };
    let runs: Vec<(&str, Run)> = vec![
        ("crash", Box::new(|d| harness::crash(&bin, d, trials.unwrap_or(300), seed))),
        ("concurrency", Box::new(|d| harness::concurrency(&bin, d, None, 4, trials.unwrap_or(150), seed))),
        // Eight benches on one bank on a PostgreSQL server: an empty database's address in STOOLBANK_HARNESS_PG.
        (
            "concurrency-server",
            Box::new(|d| {
                let db = std::env::var_os("STOOLBANK_HARNESS_PG")
                    .ok_or("set STOOLBANK_HARNESS_PG to an empty database's postgresql:// address")?;
                harness::concurrency(&bin, d, Some(db.into()), 8, trials.unwrap_or(60), seed)
            }),
        ),
        ("disk-full", Box::new(|d| harness::disk_full(&bin, d, trials.unwrap_or(100), seed))),
        ("flipped-bytes", Box::new(|d| harness::flipped_bytes(&bin, d, trials.unwrap_or(1000), seed))),
        ("argv", Box::new(|d| harness::argv_fuzz(&bin, d, trials.unwrap_or(5000), seed))),
        ("kill-every-write", Box::new(|d| harness::faults(&bin, d, harness::Fault::Kill, steps))),
        ("eio-every-write", Box::new(|d| harness::faults(&bin, d, harness::Fault::Error("EIO"), steps))),
        ("enospc-every-write", Box::new(|d| harness::faults(&bin, d, harness::Fault::Error("ENOSPC"), steps))),
        ("eio-every-read", Box::new(|d| harness::read_faults(&bin, d, trials.map_or(6, |t| t as usize)))),
    ];
    let mut failed = false;
    let mut ran = false;
    for (name, run) in &runs {
        if which != "all" && which != *name {
            continue;
        }
        ran = true;
        let start = std::time::Instant::now();
        match run(&dir.path().join(name)) {
            Ok(fig) => print!("{fig}  seconds: {}\n\n", start.elapsed().as_secs()),
            Err(e) => {
                eprintln!("{name}: FAILED: {e}");
                failed = true;
            }
        }
    }
    if !ran {
        eprintln!("unknown harness `{which}`: crash, concurrency, concurrency-server, disk-full, flipped-bytes, argv, kill-every-write, eio-every-write, enospc-every-write, eio-every-read or all");
        return ExitCode::from(2);
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
