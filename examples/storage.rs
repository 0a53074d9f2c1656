//! Bytes per unit: where a bank's file goes, by table and index, read from `SQLite`'s `dbstat` table.
//!
//! ```sh
//! cargo run --release --example storage -- BANK                        # measure a bank
//! cargo run --release --example storage -- BANK --build DONORS DAYS   # build it first (seed 2026) if absent
//! ```
//!
//! Prints the file's pages, the bytes per unit and per dispensed unit, and each table and index with its share;
//! the audit log's columns are broken down too (they are most of a bank).

use std::path::PathBuf;
use std::process::ExitCode;

use rusqlite::{Connection, OpenFlags};
use stoolbank::core::config::BenchPrefs;
use stoolbank::demo::{create_scaled, Scale};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("storage: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: storage BANK [--build DONORS DAYS]";
    let bank = PathBuf::from(args.first().ok_or(usage)?);
    if let Some(pos) = args.iter().position(|a| a == "--build") {
        let number = |i: usize| -> Result<i64, String> {
            let text = args.get(pos + i).ok_or(usage)?;
            text.parse().map_err(|_| format!("`{text}` is not a whole number ({usage})"))
        };
        let (donors, days) = (number(1)?, number(2)?);
        if !bank.exists() {
            let scale = Scale { seed: 2026, donors: donors.max(1) as u64, days, ..Scale::DEMO };
            let progress = indicatif::ProgressBar::hidden();
            let summary =
                create_scaled(&bank, BenchPrefs::default(), "storage", scale, stoolbank::time::now(), &progress)
                    .map_err(|e| e.to_string())?;
            eprintln!("built {}: {summary}", bank.display());
        }
    }
    let conn = Connection::open_with_flags(&bank, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("{}: {e}", bank.display()))?;
    report(&conn).map_err(|e| format!("{}: {e}", bank.display()))
}

fn report(conn: &Connection) -> rusqlite::Result<()> {
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    let units = count("SELECT count(*) FROM units")?.max(1);
    let dispensed = count("SELECT count(*) FROM dispenses")?.max(1);
    let entries = count("SELECT count(*) FROM audit_log")?;
    let file = count("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size")?;
    println!("file {file} bytes; {units} units, {dispensed} dispensed, {entries} audit entries");
    println!(
        "{:.0} bytes per unit, {:.0} per dispensed unit, {:.0} per audit entry\n",
        file as f64 / units as f64,
        file as f64 / dispensed as f64,
        file as f64 / entries.max(1) as f64
    );
    println!("{:<34} {:>12} {:>7} {:>10} {:>8}", "table or index", "bytes", "share", "per unit", "payload");
    let mut stmt = conn
        .prepare("SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name ORDER BY sum(pgsize) DESC, name")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
    for row in rows {
        let (name, bytes, payload) = row?;
        println!(
            "{name:<34} {bytes:>12} {:>6.1}% {:>10.0} {payload:>8}",
            100.0 * bytes as f64 / file.max(1) as f64,
            bytes as f64 / units as f64
        );
    }
    println!("\naudit_log columns (bytes stored, per entry):");
    let columns = conn
        .prepare("SELECT name FROM pragma_table_info('audit_log') ORDER BY cid")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for column in columns {
        let bytes = count(&format!("SELECT coalesce(sum(length(CAST(\"{column}\" AS BLOB))), 0) FROM audit_log"))?;
        println!("  {column:<12} {bytes:>12} {:>8.1}", bytes as f64 / entries.max(1) as f64);
    }
    Ok(())
}
