//! Research exports: one tidy CSV per table (`csv`), and an HL7 FHIR R5 Bundle (`fhir`). Both are built from the
//! same snapshot of the tables, which never include identity.

mod csv;
mod fhir;

use std::path::{Path, PathBuf};

pub use self::csv::{outcome_csv, write_csv};
pub use fhir::fhir_bundle;

use crate::app::ExportTable;
use crate::core::ids::Id;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Csv { path: PathBuf, source: ::csv::Error },
    #[error("export: {0}")]
    Json(#[from] serde_json::Error),
}

/// A stored value for people and other programs: identifiers with their check character.
fn shown(column: &str, value: &str) -> String {
    if column == "id" || column.ends_with("_id") {
        if let Some(id) = Id::from_data(value) {
            return id.display();
        }
    }
    value.to_string()
}

/// Rows of one exported table, read by column name.
struct Rows<'a> {
    table: &'a ExportTable,
}

impl<'a> Rows<'a> {
    fn of(tables: &'a [ExportTable], name: &str) -> Option<Rows<'a>> {
        tables.iter().find(|t| t.name == name).map(|table| Rows { table })
    }

    fn iter(&self) -> impl Iterator<Item = Row<'a>> + '_ {
        self.table.rows.iter().map(|values| Row { table: self.table, values })
    }
}

#[derive(Clone, Copy)]
struct Row<'a> {
    table: &'a ExportTable,
    values: &'a [Option<String>],
}

impl<'a> Row<'a> {
    fn raw(&self, column: &str) -> Option<&'a str> {
        let i = self.table.columns.iter().position(|c| c == column)?;
        self.values.get(i)?.as_deref()
    }

    fn get(&self, column: &str) -> Option<String> {
        let i = self.table.columns.iter().position(|c| c == column)?;
        self.values.get(i)?.as_deref().map(|v| shown(column, v))
    }
}

pub fn write_json(value: &serde_json::Value, file: &Path) -> Result<(), ExportError> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(file, text).map_err(|source| ExportError::Io { path: file.into(), source })
}
