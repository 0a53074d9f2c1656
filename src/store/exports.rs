//! Whole tables for research exports. Identity lives in its own tables, which are never among these.

use rusqlite::types::ValueRef;

use super::{Result, Tx};

/// The tables a research export carries, in the order of the chain (recipients and their clinical record first).
pub const EXPORTED: &[&str] = &[
    "recipients",
    "study_records",
    "dispenses",
    "followups",
    "adverse_events",
    "donors",
    "donations",
    "batches",
    "units",
];

/// Columns left out of exports: they name people (staff), which research data do not need.
const LEFT_OUT: &[(&str, &str)] = &[("dispenses", "clinician")];

/// A table's column names and its rows as text (NULL as None), in key order.
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

pub(crate) fn table(c: &Tx, name: &'static str) -> Result<Table> {
    // Only the fixed names above reach the SQL text.
    let name = EXPORTED.iter().find(|t| **t == name).copied().unwrap_or("recipients");
    let mut stmt = c.prepare(&format!("SELECT * FROM {name} ORDER BY 1"))?;
    let kept: Vec<(usize, String)> =
        stmt.column_names().into_iter().enumerate().filter(|(_, c)| !LEFT_OUT.contains(&(name, c.as_str()))).collect();
    let rows = stmt.query_map((), |r| {
        kept.iter()
            .map(|(i, _)| {
                let i = *i;
                Ok(match r.get_ref(i)? {
                    ValueRef::Null => None,
                    ValueRef::Integer(n) => Some(n.to_string()),
                    ValueRef::Real(f) => Some(f.to_string()),
                    ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Some(hex::encode(b)),
                })
            })
            .collect::<rusqlite::Result<Vec<_>>>()
    })?;
    let rows = rows.collect::<rusqlite::Result<_>>()?;
    Ok(Table { name, columns: kept.into_iter().map(|(_, c)| c).collect(), rows })
}
