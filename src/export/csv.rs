//! One tidy CSV per table: UTF-8, a header row, one record per row, empty for missing, identifiers with their
//! check character: ready for R (`read.csv`) or pandas (`read_csv`) without cleaning.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{shown, ExportError};
use crate::app::{ExportTable, OutcomeRow};

pub fn write_csv(tables: &[ExportTable], dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io { path: dir.into(), source })?;
    let mut files = Vec::new();
    for t in tables {
        let path = dir.join(format!("{}.csv", t.name));
        let fail = |source| ExportError::Csv { path: path.clone(), source };
        let mut w = csv::Writer::from_path(&path).map_err(fail)?;
        w.write_record(&t.columns).map_err(fail)?;
        for row in &t.rows {
            let record = t.columns.iter().zip(row).map(|(c, v)| v.as_deref().map(|v| shown(c, v)).unwrap_or_default());
            w.write_record(record).map_err(fail)?;
        }
        w.flush().map_err(|source| ExportError::Io { path: path.clone(), source })?;
        files.push(path);
    }
    Ok(files)
}

/// The outcome report as CSV (`report outcomes --csv`).
pub fn outcome_csv(rows: &[OutcomeRow], out: &mut dyn Write) -> Result<(), ExportError> {
    let path = PathBuf::from("<stdout>");
    let fail = |source| ExportError::Csv { path: path.clone(), source };
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "group",
        "timepoint",
        "n",
        "remission",
        "lost",
        "missing",
        "out_of_window",
        "rate",
        "ci_low",
        "ci_high",
    ])
    .map_err(fail)?;
    let num = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
    for r in rows {
        w.write_record([
            r.group.clone(),
            r.timepoint.to_string(),
            r.n.to_string(),
            r.remission.to_string(),
            r.lost.to_string(),
            r.missing.to_string(),
            r.out_of_window.to_string(),
            num(r.rate),
            num(r.ci_low),
            num(r.ci_high),
        ])
        .map_err(fail)?;
    }
    w.flush().map_err(|source| ExportError::Io { path: path.clone(), source })
}
