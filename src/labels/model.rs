//! The label of one donation, unit or retained sample: what it says, and never who gave or received it.
//!
//! What the barcodes carry:
//! - Code 128: exactly `id.display()`, the compact identifier with its check character
//!   (e.g. `G151726000001F0001A04`).
//! - Data Matrix: the same text, then `|` and the product code when the label has one
//!   (`G151726000001F0001A04|F0001`; a donation's is the identifier alone). `|` never occurs in an identifier or
//!   a product code, so the payload splits unambiguously; [`parse_datamatrix_payload`] reads it back.

use chrono::NaiveDate;

use crate::core::ids::{Id, IdError, ProductCode};

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
    /// Storage requirement, e.g. "≤ −80 °C".
    pub storage: Option<String>,
    pub bank_name: String,
    /// A status mark printed in reverse, e.g. QUARANTINE until released.
    pub status_mark: Option<String>,
    /// The EU Single European Code line, where configured.
    pub sec: Option<String>,
}

/// The separator between identifier and product code in the Data Matrix payload.
pub const PAYLOAD_SEPARATOR: char = '|';

impl Label {
    /// What the Data Matrix carries: the identifier (with its check character) and the product code,
    /// separated by `|` — `G151726000001F0001A04|F0001`, or the identifier alone for a donation.
    pub fn datamatrix_payload(&self) -> String {
        match &self.product_code {
            Some(p) => {
                let p = ProductCode::parse(p).map_or_else(|_| p.clone(), |c| c.as_str().to_string());
                format!("{}{PAYLOAD_SEPARATOR}{p}", self.id.display())
            }
            None => self.id.display(),
        }
    }

    /// The product code must have ISBT 128's shape and agree with the identifier (a batch or unit identifier
    /// contains its product code), so that the Data Matrix can never contradict the Code 128.
    pub fn check_product(&self) -> Result<(), PayloadError> {
        match (&self.product_code, self.id.product()) {
            (None, _) => Ok(()),
            (Some(p), in_id) => {
                let p = ProductCode::parse(p).map_err(PayloadError::Product)?;
                match in_id {
                    Some(q) if q != p.as_str() => {
                        Err(PayloadError::ProductMismatch { id: self.id.display(), product: p.as_str().to_string() })
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Product(IdError),
    #[error("the Data Matrix names product {product}, but identifier {id} is of another product")]
    ProductMismatch { id: String, product: String },
}

/// Strips an AIM symbology identifier (ISO/IEC 15424: `]C0` Code 128, `]d1` Data Matrix, …) that a scanner
/// may send before the data.
fn strip_aim(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 3 && b[0] == b']' && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphanumeric() {
        &s[3..]
    } else {
        s
    }
}

/// Reads a scan back: the identifier (check character verified) and the product code, from either the Code 128
/// text (identifier only) or the Data Matrix payload (identifier `|` product). A leading AIM symbology
/// identifier is ignored. The product must agree with the identifier.
pub fn parse_datamatrix_payload(s: &str) -> Result<(Id, Option<String>), PayloadError> {
    let s = strip_aim(s.trim());
    let (id, product) = match s.split_once(PAYLOAD_SEPARATOR) {
        Some((id, product)) => {
            (Id::parse(id)?, Some(ProductCode::parse(product).map_err(PayloadError::Product)?.as_str().to_string()))
        }
        None => (Id::parse(s)?, None),
    };
    if let (Some(p), Some(q)) = (&product, id.product()) {
        if p != q {
            return Err(PayloadError::ProductMismatch { id: id.display(), product: p.clone() });
        }
    }
    Ok((id, product))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit() -> Id {
        Id::parse(&format!("G151726000001F0001A0{}", crate::core::ids::check_char("G151726000001F0001A0").unwrap()))
            .unwrap()
    }

    #[test]
    fn payload_round_trips_and_is_checked() {
        let id = unit();
        let p = format!("{}|F0001", id.display());
        assert_eq!(parse_datamatrix_payload(&p), Ok((id.clone(), Some("F0001".into()))));
        assert_eq!(parse_datamatrix_payload(&format!("]d1{p}")), Ok((id.clone(), Some("F0001".into()))));
        assert_eq!(parse_datamatrix_payload(&id.display()), Ok((id.clone(), None)));
        let other = format!("{}|F0002", id.display());
        assert!(matches!(parse_datamatrix_payload(&other), Err(PayloadError::ProductMismatch { .. })));
        assert!(matches!(parse_datamatrix_payload(&format!("{}|F00", id.display())), Err(PayloadError::Product(_))));
    }
}
