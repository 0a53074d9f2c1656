//! The label of one donation, unit or retained sample: what it says, and never who gave or received it.

use chrono::NaiveDate;

use crate::core::ids::{Id, IdError};

#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub id: Id,
    /// What the item is, e.g. "WASHED MICROBIOTA" or "RETAINED SAMPLE - NOT FOR CLINICAL USE".
    pub title: String,
    pub product_code: Option<String>,
    pub product_description: Option<String>,
    pub volume_ml: Option<f64>,
    pub collected: Option<NaiveDate>,
    pub expires: Option<NaiveDate>,
    pub storage: Option<String>,
    pub bank_name: String,
    /// A status mark printed in reverse, e.g. QUARANTINE until released.
    pub status_mark: Option<String>,
    /// The EU Single European Code line, where configured.
    pub sec: Option<String>,
}

impl Label {
    /// What the Data Matrix carries: the identifier (with its check character) and the product code,
    /// separated by `|` — `G151726000001F0001A04|F0001`, or the identifier alone for a donation.
    pub fn datamatrix_payload(&self) -> String {
        match &self.product_code {
            Some(p) => format!("{}|{p}", self.id.display()),
            None => self.id.display(),
        }
    }
}

/// Reads a Data Matrix payload back: the identifier (check character verified) and the product code.
pub fn parse_datamatrix_payload(s: &str) -> Result<(Id, Option<String>), IdError> {
    match s.split_once('|') {
        Some((id, product)) => Ok((Id::parse(id)?, Some(product.trim().to_string()))),
        None => Ok((Id::parse(s)?, None)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the scan is not a label of this bank: {0}")]
    Unreadable(#[from] IdError),
    #[error("label mismatch: expected {expected}, the label reads {found}")]
    Mismatch { expected: String, found: String },
}

/// Label verification: the text scanned from a printed label (Code 128 or Data Matrix) must be this record.
pub fn verify_scan(expected: &Id, scanned: &str) -> Result<(), VerifyError> {
    let (found, _) = parse_datamatrix_payload(scanned.trim())?;
    if &found == expected {
        Ok(())
    } else {
        Err(VerifyError::Mismatch { expected: expected.display(), found: found.display() })
    }
}
