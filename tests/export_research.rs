//! Research exports through the binary: the CSV tables read back, and the FHIR R5 bundle checked against the
//! resources' required elements, value sets and references. Identity appears in neither.

mod common;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use common::{at, Bench};
use serde_json::Value;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

const NAME: &str = "Wang Xiaoming";
const PHONE: &str = "+86 139 0000 1111";

/// A bank with two treated recipients (one named), a follow-up correction, and two adverse events.
fn clinical_bank() -> (Bench, String, Vec<String>) {
    let b = Bench::new();
    let donor = b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02", "--name", "Donor Name Secret"]);
    b.screen_clean(&donor, d("2024-11-28"));
    let din = b.donation(&donor, d("2024-12-01"));
    let (batch, units) = b.batch(&din, d("2024-12-01"), 3);
    b.screen_clean(&donor, d("2024-12-31"));
    b.ok(&["batch", "release", &batch, "--at", "2025-01-02"]);
    let r = b.ok(&[
        "recipient",
        "add",
        "--sex",
        "M",
        "--birth-date",
        "1955-03-03",
        "--indication",
        "rCDI",
        "--name",
        NAME,
        "--phone",
        PHONE,
    ]);
    let r2 = b.ok(&["recipient", "add", "--sex", "F", "--birth-date", "1980-03-03", "--indication", "UC"]);
    b.ok(&[
        "dispense",
        &units[0],
        "--recipient",
        &r,
        "--route",
        "colonoscopy",
        "--clinician",
        "Dr Hidden",
        "--at",
        &at(d("2025-01-10"), 10),
    ]);
    b.ok(&["dispense", &units[1], "--recipient", &r, "--route", "colonoscopy", "--at", &at(d("2025-01-12"), 10)]);
    b.ok(&["dispense", &units[2], "--recipient", &r2, "--route", "enema", "--at", &at(d("2025-01-11"), 10)]);
    let first = b.ok(&["followup", "add", &r, "--at", "2025-04-09", "--timepoint", "3m", "--outcome", "response"]);
    b.ok(&[
        "followup",
        "add",
        &r,
        "--at",
        "2025-04-10",
        "--timepoint",
        "3m",
        "--outcome",
        "remission",
        "--score",
        "qol=81",
        "--corrects",
        &first,
    ]);
    b.ok(&["followup", "add", &r2, "--at", "2025-04-11", "--timepoint", "3m", "--outcome", "lost"]);
    b.ok(&[
        "ae",
        "add",
        &r,
        "--onset",
        "2025-01-11",
        "--term",
        "腹胀, bloating",
        "--grade",
        "1",
        "--serious",
        "no",
        "--relatedness",
        "possible",
        "--outcome",
        "recovered",
        "--resolved",
        "2025-01-13",
    ]);
    b.ok(&[
        "ae",
        "add",
        &r2,
        "--onset",
        "2025-01-12",
        "--term",
        "fever",
        "--grade",
        "3",
        "--serious",
        "yes",
        "--relatedness",
        "definite",
        "--unit",
        &units[2],
    ]);
    (b, r, units)
}

#[test]
fn csv_tables_read_back_tidy_and_without_identity() {
    let (b, r, units) = clinical_bank();
    let dir = b.dir.path().join("export");
    let listed = b.ok(&["export", "csv", dir.to_str().unwrap()]);
    for table in [
        "recipients",
        "study_records",
        "dispenses",
        "followups",
        "adverse_events",
        "donors",
        "donations",
        "batches",
        "units",
    ] {
        let path = dir.join(format!("{table}.csv"));
        assert!(listed.contains(path.to_str().unwrap()), "{listed}");
        let text = std::fs::read_to_string(&path).unwrap();
        for secret in [NAME, PHONE, "Donor Name Secret", "Dr Hidden"] {
            assert!(!text.contains(secret), "{table}.csv discloses identity");
        }
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let width = reader.headers().unwrap().len();
        assert!(reader.records().all(|rec| rec.unwrap().len() == width), "{table}.csv is ragged");
    }
    let read = |table: &str| -> Vec<csv::StringRecord> {
        csv::Reader::from_path(dir.join(format!("{table}.csv"))).unwrap().records().map(Result::unwrap).collect()
    };
    let header =
        |table: &str| csv::Reader::from_path(dir.join(format!("{table}.csv"))).unwrap().headers().unwrap().clone();
    // Identifiers as printed everywhere else, with their check character.
    let recipients = read("recipients");
    assert_eq!(recipients.len(), 2);
    assert_eq!(&recipients[0][0], r.as_str());
    let dispenses = read("dispenses");
    assert_eq!(dispenses.len(), 3);
    let unit_col = header("dispenses").iter().position(|h| h == "unit_id").unwrap();
    assert_eq!(&dispenses[0][unit_col], units[0].as_str());
    // Both visits are kept (the correction names the one it supersedes); the term keeps its Chinese.
    let followups = read("followups");
    assert_eq!(followups.len(), 3);
    let sup = header("followups").iter().position(|h| h == "supersedes").unwrap();
    assert_eq!(followups.iter().filter(|f| !f[sup].is_empty()).count(), 1);
    let events = read("adverse_events");
    assert!(events.iter().any(|e| e.iter().any(|v| v == "腹胀, bloating")));
    // Missing values are empty fields, not a word R or pandas would have to be told about.
    let unit_id = header("adverse_events").iter().position(|h| h == "unit_id").unwrap();
    assert_eq!(events.iter().filter(|e| e[unit_id].is_empty()).count(), 1);
}

fn resources(bundle: &Value) -> Vec<&Value> {
    bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect()
}

fn of_type<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    resources(bundle).into_iter().filter(|r| r["resourceType"] == kind).collect()
}

fn code_in(v: &Value, allowed: &[&str]) -> bool {
    v.as_str().is_some_and(|s| allowed.contains(&s))
}

#[test]
fn fhir_bundle_follows_the_r5_resource_definitions() {
    let (b, r, units) = clinical_bank();
    let file = b.dir.path().join("bundle.json");
    b.ok(&["export", "fhir", file.to_str().unwrap()]);
    let text = std::fs::read_to_string(&file).unwrap();
    for secret in [NAME, PHONE, "Donor Name Secret", "Dr Hidden"] {
        assert!(!text.contains(secret), "the bundle discloses identity");
    }
    let bundle: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((&bundle["resourceType"], &bundle["type"]), (&Value::from("Bundle"), &Value::from("collection")));

    // Every entry is named, every reference resolves to an entry of the bundle.
    let names: BTreeSet<&str> =
        bundle["entry"].as_array().unwrap().iter().map(|e| e["fullUrl"].as_str().unwrap()).collect();
    assert!(names.iter().all(|n| n.starts_with("urn:uuid:") && n.len() == 45), "{names:?}");
    assert_eq!(names.len(), bundle["entry"].as_array().unwrap().len(), "fullUrls are unique");
    let mut refs = Vec::new();
    fn collect<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("reference") {
                    out.push(r);
                }
                m.values().for_each(|x| collect(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    collect(&bundle, &mut refs);
    assert!(!refs.is_empty());
    for r in &refs {
        assert!(names.contains(r), "dangling reference {r}");
    }
    let id_ok = |v: &Value| {
        v.as_str().is_some_and(|s| {
            (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        })
    };
    assert!(resources(&bundle).iter().all(|r| id_ok(&r["id"])), "resource ids follow the FHIR id type");

    // Patient: pseudonymous, identifier = the recipient code, gender from administrative-gender.
    let patients = of_type(&bundle, "Patient");
    assert_eq!(patients.len(), 2);
    let p = patients.iter().find(|p| p["identifier"][0]["value"] == r.as_str()).unwrap();
    assert!(p.get("name").is_none() && p.get("telecom").is_none());
    assert!(patients.iter().all(|p| code_in(&p["gender"], &["male", "female", "other", "unknown"])));

    // BiologicallyDerivedProduct: units with parent batch, division, status, expiry, collection.
    let products = of_type(&bundle, "BiologicallyDerivedProduct");
    let unit = products.iter().find(|p| p["id"] == units[0].as_str()).unwrap();
    assert_eq!(unit["division"], "A0");
    assert!(code_in(&unit["productStatus"]["code"], &["available", "unavailable"]));
    assert_eq!(unit["productStatus"]["system"], "http://hl7.org/fhir/biologicallyderived-product-status");
    assert!(code_in(&unit["productCategory"]["code"], &["organ", "tissue", "fluid", "cells", "biologicalAgent"]));
    assert_eq!(unit["parent"].as_array().unwrap().len(), 1);
    assert!(unit["expirationDate"].as_str().unwrap().starts_with("2025-06"));
    let collected = chrono::DateTime::parse_from_rfc3339(unit["collection"]["collectedDateTime"].as_str().unwrap());
    assert_eq!(collected.unwrap().with_timezone(&chrono::Local).date_naive(), d("2024-12-01"));
    assert_eq!(products.len(), 4, "three units and their batch");

    // BiologicallyDerivedProductDispense: status (required binding), product and patient (1..1).
    let dispenses = of_type(&bundle, "BiologicallyDerivedProductDispense");
    assert_eq!(dispenses.len(), 3);
    let statuses =
        ["preparation", "in-progress", "allocated", "issued", "unfulfilled", "returned", "entered-in-error", "unknown"];
    for dp in &dispenses {
        assert!(code_in(&dp["status"], &statuses));
        assert!(dp["product"]["reference"].is_string() && dp["patient"]["reference"].is_string());
    }

    // Observation: status (required binding) and code (1..1); the corrected visit is not exported.
    let observations = of_type(&bundle, "Observation");
    assert_eq!(observations.len(), 2);
    let obs_status = [
        "registered",
        "specimen-in-process",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "appended",
        "cancelled",
        "entered-in-error",
        "unknown",
        "cannot-be-obtained",
    ];
    for o in &observations {
        assert!(code_in(&o["status"], &obs_status));
        assert!(o["code"].is_object() && o["subject"]["reference"].is_string());
        let tp = o["component"].as_array().unwrap().iter().find(|c| c["code"]["coding"][0]["code"] == "timepoint");
        assert_eq!(tp.unwrap()["valueString"], "3m");
    }
    assert!(observations
        .iter()
        .any(|o| o["valueCodeableConcept"]["coding"][0]["code"] == "remission" && o["status"] == "corrected"));

    // AdverseEvent: status and actuality (1..1, required bindings), subject (1..1), seriousness, grade,
    // suspectEntity.instance[x] (1..1) with causality.entityRelatedness.
    let events = of_type(&bundle, "AdverseEvent");
    assert_eq!(events.len(), 2);
    for e in &events {
        assert!(code_in(&e["status"], &["in-progress", "completed", "entered-in-error", "unknown"]));
        assert!(code_in(&e["actuality"], &["actual", "potential"]));
        assert!(e["subject"]["reference"].is_string());
        let s = &e["seriousness"]["coding"][0];
        assert_eq!(s["system"], "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness");
        assert!(code_in(&s["code"], &["serious", "non-serious"]));
        assert!((1..=5).contains(&e["extension"][0]["valueInteger"].as_u64().unwrap()));
        let suspect = &e["suspectEntity"][0];
        assert!(suspect["instanceReference"].is_object() ^ suspect["instanceCodeableConcept"].is_object());
        assert!(suspect["causality"]["entityRelatedness"]["coding"][0]["code"].is_string());
    }
    let serious = events.iter().find(|e| e["seriousness"]["coding"][0]["code"] == "serious").unwrap();
    assert_eq!(serious["suspectEntity"][0]["causality"]["entityRelatedness"]["text"], "definite");
    assert_eq!(serious["status"], "in-progress");
    assert!(events.iter().any(|e| e["code"]["text"] == "腹胀, bloating" && e["status"] == "completed"));
}
