//! An HL7 FHIR R5 (5.0.0) Bundle of type `collection`: pseudonymous `Patient`s (identifier = recipient code, no
//! name), the dispensed units and their batches as `BiologicallyDerivedProduct`,
//! `BiologicallyDerivedProductDispense`, follow-up outcomes as `Observation` and `AdverseEvent`. Entries are named `urn:uuid:` (derived from the record,
//! so an export is reproducible) and refer to each other by those names. Corrected records are left out: the
//! correction stands in their place.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{ExportError, Row, Rows};
use crate::app::ExportTable;
use crate::core::config::Config;
use crate::time;

/// Code systems of this bank's own codes (URIs, as FHIR requires of a system).
const SYSTEM: &str = "urn:stoolbank";
const SERIOUSNESS: &str = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness";
const PRODUCT_STATUS: &str = "http://hl7.org/fhir/biologicallyderived-product-status";
const PRODUCT_CATEGORY: &str = "http://hl7.org/fhir/product-category";

fn full_url(kind: &str, id: &str) -> String {
    let h = Sha256::digest(format!("{kind}/{id}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50; // name-based UUID
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("urn:uuid:{}-{}-{}-{}-{}", &x[0..8], &x[8..12], &x[12..16], &x[16..20], &x[20..32])
}

fn reference(kind: &str, id: &str) -> Value {
    json!({ "reference": full_url(kind, id) })
}

fn coding(system: &str, code: &str) -> Value {
    json!({ "system": system, "code": code })
}

/// An instant for FHIR: the stored UTC moment.
fn instant(stored: &str) -> String {
    time::from_db(stored).map(time::to_db).unwrap_or_else(|| stored.to_string())
}

/// Rows in force: those no later row supersedes.
fn in_force<'a>(rows: &'a Rows<'a>) -> Vec<Row<'a>> {
    let superseded: BTreeSet<String> = rows.iter().filter_map(|r| r.get("supersedes")).collect();
    rows.iter().filter(|r| r.get("id").is_some_and(|id| !superseded.contains(&id))).collect()
}

pub fn fhir_bundle(tables: &[ExportTable], config: &Config, at: DateTime<Utc>) -> Result<Value, ExportError> {
    let table = |name: &str| {
        Rows::of(tables, name)
            .ok_or_else(|| ExportError::Json(serde::de::Error::custom(format!("the export lacks the {name} table"))))
    };
    let (recipients, dispenses, followups, events) =
        (table("recipients")?, table("dispenses")?, table("followups")?, table("adverse_events")?);
    let (units, batches, donations) = (table("units")?, table("batches")?, table("donations")?);
    let batch_rows: BTreeMap<String, Row> = batches.iter().filter_map(|r| Some((r.get("id")?, r))).collect();
    let donation_rows: BTreeMap<String, Row> = donations.iter().filter_map(|r| Some((r.get("id")?, r))).collect();
    let unit_rows: BTreeMap<String, Row> = units.iter().filter_map(|r| Some((r.get("id")?, r))).collect();

    let mut entries = Vec::new();
    let mut push = |kind: &str, id: &str, resource: Value| {
        entries.push(json!({ "fullUrl": full_url(kind, id), "resource": resource }));
    };

    for r in recipients.iter() {
        let Some(id) = r.get("id") else { continue };
        let gender = match r.get("sex").as_deref() {
            Some("F") => "female",
            Some("M") => "male",
            _ => "unknown",
        };
        let mut patient = json!({
            "resourceType": "Patient",
            "id": id,
            "identifier": [{ "system": format!("{SYSTEM}:recipient"), "value": id }],
            "gender": gender,
        });
        if let Some(b) = r.get("birth_date") {
            patient["birthDate"] = json!(b);
        }
        push("Patient", &id, patient);
    }

    // The dispensed units and the batches they came from.
    let mut products: BTreeSet<String> = BTreeSet::new();
    let mut parents: BTreeSet<String> = BTreeSet::new();
    for d in dispenses.iter() {
        let (Some(unit), Some(u)) = (d.get("unit_id"), d.get("unit_id").and_then(|u| unit_rows.get(&u).copied()))
        else {
            continue;
        };
        let Some(batch_id) = u.get("batch_id") else { continue };
        let batch = batch_rows.get(&batch_id);
        let donation = batch.and_then(|b| b.get("donation_id")).and_then(|d| donation_rows.get(&d).copied());
        let product_code = batch.and_then(|b| b.get("product")).unwrap_or_default();
        let product = config.product(&product_code);
        let mut p = json!({
            "resourceType": "BiologicallyDerivedProduct",
            "id": unit,
            "productCategory": coding(PRODUCT_CATEGORY, "biologicalAgent"),
            "productCode": {
                "coding": [coding(&format!("{SYSTEM}:product"), &product_code)],
                "text": product.map(|p| p.description.clone()).unwrap_or_else(|| product_code.clone()),
            },
            "parent": [reference("BiologicallyDerivedProduct", &batch_id)],
            "identifier": [{ "system": format!("{SYSTEM}:unit"), "value": unit }],
            // Dispensed: no longer available.
            "productStatus": coding(PRODUCT_STATUS, "unavailable"),
            "storageTempRequirements": { "high": { "value": -80, "unit": "°C", "system": "http://unitsofmeasure.org", "code": "Cel" } },
        });
        // The division is the last two characters of the stored unit identifier (before the check character).
        if let Some(div) = u.raw("id").and_then(|raw| raw.get(18..20)) {
            p["division"] = json!(div);
        }
        if let Some(e) = batch.and_then(|b| b.get("expires_on")) {
            p["expirationDate"] = json!(e);
        }
        if let Some(dn) = donation {
            if let Some(din) = dn.get("id") {
                p["biologicalSourceEvent"] = json!({ "system": format!("{SYSTEM}:din"), "value": din });
            }
            if let Some(c) = dn.get("collected_at") {
                p["collection"] = json!({ "collectedDateTime": instant(&c) });
            }
        }
        if products.insert(unit.clone()) {
            push("BiologicallyDerivedProduct", &unit, p);
        }
        parents.insert(batch_id);

        let Some(did) = d.get("id") else { continue };
        let mut dispense = json!({
            "resourceType": "BiologicallyDerivedProductDispense",
            "id": format!("dispense-{did}"),
            "status": "issued",
            "product": reference("BiologicallyDerivedProduct", &unit),
            "patient": reference("Patient", &d.get("recipient_id").unwrap_or_default()),
            "usageInstruction": format!("route: {}", d.get("route").unwrap_or_default()),
        });
        if let Some(t) = d.get("at") {
            dispense["whenHandedOver"] = json!(instant(&t));
        }
        if let Some(t) = batch.and_then(|b| b.get("prepared_at")) {
            dispense["preparedDate"] = json!(instant(&t));
        }
        push("BiologicallyDerivedProductDispense", &format!("dispense-{did}"), dispense);
    }
    for batch_id in &parents {
        let Some(b) = batch_rows.get(batch_id) else { continue };
        let mut p = json!({
            "resourceType": "BiologicallyDerivedProduct",
            "id": batch_id,
            "productCategory": coding(PRODUCT_CATEGORY, "biologicalAgent"),
            "productCode": { "coding": [coding(&format!("{SYSTEM}:product"), &b.get("product").unwrap_or_default())] },
            "identifier": [{ "system": format!("{SYSTEM}:batch"), "value": batch_id }],
        });
        if let Some(e) = b.get("expires_on") {
            p["expirationDate"] = json!(e);
        }
        push("BiologicallyDerivedProduct", batch_id, p);
    }

    for f in in_force(&followups) {
        let Some(id) = f.get("id") else { continue };
        let outcome = f.get("outcome").unwrap_or_default();
        let mut components = vec![json!({
            "code": { "coding": [coding(&format!("{SYSTEM}:followup"), "timepoint")], "text": "time point after the first FMT of the course" },
            "valueString": f.get("timepoint").unwrap_or_default(),
        })];
        let scores: BTreeMap<String, f64> =
            f.get("scores").and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
        for (name, value) in scores {
            components.push(json!({
                "code": { "coding": [coding(&format!("{SYSTEM}:score"), &name)], "text": name },
                "valueQuantity": { "value": value },
            }));
        }
        let o = json!({
            "resourceType": "Observation",
            "id": format!("followup-{id}"),
            "status": if f.get("supersedes").is_some() { "corrected" } else { "final" },
            "code": {
                "coding": [coding(&format!("{SYSTEM}:followup"), "fmt-outcome")],
                "text": "clinical outcome after faecal microbiota transplantation",
            },
            "subject": reference("Patient", &f.get("recipient_id").unwrap_or_default()),
            "effectiveDateTime": f.get("date"),
            "valueCodeableConcept": { "coding": [coding(&format!("{SYSTEM}:outcome"), &outcome)], "text": outcome },
            "component": components,
        });
        push("Observation", &format!("followup-{id}"), o);
    }

    for e in in_force(&events) {
        let Some(id) = e.get("id") else { continue };
        let serious = e.get("serious").as_deref() == Some("1");
        let relatedness = e.get("relatedness").unwrap_or_default();
        let causality = json!({
            "entityRelatedness": {
                "coding": [coding(&format!("{SYSTEM}:relatedness"), &relatedness)],
                "text": relatedness,
            }
        });
        let suspect = match e.get("unit_id") {
            Some(u) => {
                json!({ "instanceReference": reference("BiologicallyDerivedProduct", &u), "causality": causality })
            }
            None => json!({
                "instanceCodeableConcept": { "text": "faecal microbiota transplantation" },
                "causality": causality,
            }),
        };
        let mut ae = json!({
            "resourceType": "AdverseEvent",
            "id": format!("ae-{id}"),
            "extension": [{
                "url": format!("{SYSTEM}:fhir:ctcae-grade"),
                "valueInteger": e.get("grade").and_then(|g| g.parse::<u8>().ok()),
            }],
            "status": if e.get("resolved_on").is_some() { "completed" } else { "in-progress" },
            "actuality": "actual",
            "subject": reference("Patient", &e.get("recipient_id").unwrap_or_default()),
            "code": { "text": e.get("term").unwrap_or_default() },
            "occurrenceDateTime": e.get("onset"),
            "seriousness": {
                "coding": [{
                    "system": SERIOUSNESS,
                    "code": if serious { "serious" } else { "non-serious" },
                    "display": if serious { "Serious" } else { "Non-serious" },
                }]
            },
            "suspectEntity": [suspect],
        });
        if let Some(o) = e.get("outcome") {
            ae["outcome"] = json!([{ "text": o }]);
        }
        push("AdverseEvent", &format!("ae-{id}"), ae);
    }

    Ok(json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": time::to_db(at),
        "entry": entries,
    }))
}
