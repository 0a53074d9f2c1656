//! A seeded synthetic cohort with planted truth, made through the bank's own operations, then reported on by
//! the binary: remission by indication, adverse-event incidence, the planted donor and the planted odds ratios
//! must all be recovered within their 95% intervals. The seed makes every run the same.

mod common;

use std::collections::BTreeMap;

use chrono::{Duration, Months};
use common::{day, Bench};
use serde_json::Value;
use stoolbank::app::records::Identity;
use stoolbank::app::{Bank, NewAdverseEvent, NewDonation, NewDonor, NewRecipient, ScreeningInput, VisitInput};
use stoolbank::core::config::BenchPrefs;
use stoolbank::core::followup::{Outcome, Relatedness, Timepoint};
use stoolbank::core::model::{Consent, QcResult, ScreeningKind, Sex};
use stoolbank::time::parse_timestamp;

/// The planted truth: logit P(remission at 3m) = α(indication) + β·[tet-colonic] + γ·[the planted donor].
const ALPHA: [(&str, f64); 2] = [("rCDI", 1.386_294_361), ("UC", 0.0)]; // 80% and 50% by colonoscopy
const ROUTE_OR: f64 = 2.5;
const DONOR_OR: f64 = 4.5;
const AE_RATE: f64 = 0.10;
const LOST_RATE: f64 = 0.05;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn ts(s: &str) -> chrono::DateTime<chrono::Utc> {
    parse_timestamp(s).unwrap()
}

/// What the generator planted for each recipient assessed, to compare the reports with.
#[derive(Default)]
struct Truth {
    /// Planted probabilities of the assessed, by indication and by donor.
    by_indication: BTreeMap<String, Vec<f64>>,
    by_donor: BTreeMap<String, Vec<f64>>,
    lost: u64,
    with_ae: u64,
    patients: u64,
    planted_donor: String,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn generate(bank: &mut Bank, seed: u64) -> Truth {
    let mut rng = Rng(seed);
    let mut truth = Truth::default();
    bank.set_durable(false).unwrap();
    let donors: Vec<(usize, bool)> =
        vec![(220, false), (220, false), (220, false), (220, false), (220, false), (150, true)];
    for (n, (units, planted)) in donors.into_iter().enumerate() {
        let donor = bank
            .register_donor(
                NewDonor { sex: Sex::F, birth_date: day("1990-01-01"), identity: Identity::default() },
                ts("2023-12-20"),
            )
            .unwrap()
            .id
            .into_value()
            .unwrap();
        if planted {
            truth.planted_donor = donor.display();
        }
        let clean = ScreeningInput { all_negative: true, tests: Vec::new() };
        for kind in ScreeningKind::DONOR_PANELS {
            bank.record_screening(&donor, kind, day("2024-01-01"), &clean, ts("2024-01-01 08:00")).unwrap();
        }
        bank.record_screening(&donor, ScreeningKind::DonationDay, day("2024-01-02"), &clean, ts("2024-01-02 07:00"))
            .unwrap();
        let donation = bank
            .add_donation(NewDonation {
                donor: donor.clone(),
                collected_at: ts("2024-01-02 07:30"),
                received_at: None,
                mass_g: Some(150.0),
                bristol: Some(4),
            })
            .unwrap()
            .id
            .into_value()
            .unwrap();
        let batch = bank.make_batch(&donation, "F0001", units, Some(50.0), ts("2024-01-02 09:00")).unwrap();
        for test in ["appearance", "viable-count", "pathogen-screen"] {
            bank.add_qc(batch.id.get().unwrap(), test, QcResult::Pass, None, ts("2024-01-04 09:00")).unwrap();
        }
        for kind in ScreeningKind::DONOR_PANELS {
            bank.record_screening(&donor, kind, day("2024-02-01"), &clean, ts("2024-02-01 08:00")).unwrap();
        }
        bank.release_batch(batch.id.get().unwrap(), ts("2024-02-02 10:00")).unwrap();

        for (i, unit) in batch.units.iter().enumerate() {
            let indication = if rng.uniform() < 0.55 { ALPHA[0] } else { ALPHA[1] };
            let tet = rng.uniform() < 0.4;
            let logit =
                indication.1 + f64::from(u8::from(tet)) * ROUTE_OR.ln() + f64::from(u8::from(planted)) * DONOR_OR.ln();
            let p = 1.0 / (1.0 + (-logit).exp());
            let treated = day("2024-02-05") + Duration::days(((i * 7 + n * 3) % 140) as i64);
            let birth = treated - Duration::days(365 * (20 + (rng.next() % 60) as i64));
            let r = bank
                .register_recipient(
                    NewRecipient {
                        sex: if rng.uniform() < 0.5 { Sex::F } else { Sex::M },
                        birth_date: birth,
                        indication: indication.0.into(),
                        consent: Consent::Signed,
                        cohort: None,
                        identity: Identity::default(),
                    },
                    ts(&format!("{treated} 08:00")),
                )
                .unwrap()
                .id
                .into_value()
                .unwrap();
            let route = if tet { "tet-colonic" } else { "colonoscopy" };
            bank.dispense(unit.id.get().unwrap(), &r, route, None, ts(&format!("{treated} 10:00"))).unwrap();
            truth.patients += 1;
            let lost = rng.uniform() < LOST_RATE;
            let remission = rng.uniform() < p;
            let outcome = match (lost, remission) {
                (true, _) => Outcome::Lost,
                (false, true) => Outcome::Remission,
                (false, false) => Outcome::NoResponse,
            };
            let visit_day = treated.checked_add_months(Months::new(3)).unwrap();
            let input = VisitInput { timepoint: Timepoint::M3, outcome, scores: Vec::new(), corrects: None };
            bank.add_followup(&r, input, ts(&format!("{visit_day} 10:00"))).unwrap();
            if lost {
                truth.lost += 1;
            } else {
                truth.by_indication.entry(indication.0.to_string()).or_default().push(p);
                truth.by_donor.entry(donor.display()).or_default().push(p);
            }
            if rng.uniform() < AE_RATE {
                truth.with_ae += 1;
                let new = NewAdverseEvent {
                    onset: treated + Duration::days(1),
                    term: "腹泻 diarrhoea".into(),
                    grade: 1 + (rng.next() % 3) as u8,
                    serious: false,
                    relatedness: Relatedness::Possible,
                    unit: Some(unit.id.clone().into_value().unwrap()),
                    outcome: Some("recovered".into()),
                    resolved_on: Some(treated + Duration::days(3)),
                    corrects: None,
                };
                bank.add_adverse_event(&r, new, ts(&format!("{treated} 18:00"))).unwrap();
            }
        }
    }
    bank.set_durable(true).unwrap();
    truth
}

fn within(v: &Value, truth: f64) -> bool {
    v["ci_low"].as_f64().unwrap() <= truth && truth <= v["ci_high"].as_f64().unwrap()
}

#[test]
fn reports_recover_the_planted_truth_within_their_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cohort.db");
    let mut bank = Bank::init(&db, Some("G1517"), BenchPrefs::default(), "generator").unwrap();
    let truth = generate(&mut bank, 20_191_124);
    drop(bank);
    let b = Bench::on(dir, db);

    // Remission at 3 months by indication: the planted mean lies in each interval; the lost are counted.
    let outcomes = b.json(&["report", "outcomes", "--by", "indication"]);
    let mut lost = 0;
    for (indication, ps) in &truth.by_indication {
        let row = outcomes["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"] == indication.as_str() && r["timepoint"] == "3m")
            .unwrap();
        assert_eq!(row["n"].as_u64(), Some(ps.len() as u64));
        assert!(within(row, mean(ps)), "{indication}: planted {:.3}, reported {row}", mean(ps));
        assert_eq!(row["missing"], 0);
        lost += row["lost"].as_u64().unwrap();
    }
    assert_eq!(lost, truth.lost);

    // Adverse events: the planted per-patient rate lies in the interval.
    let safety = b.json(&["report", "safety"]);
    assert_eq!(
        (safety["patients"].as_u64(), safety["patients_with_ae"].as_u64()),
        (Some(truth.patients), Some(truth.with_ae))
    );
    assert!(within(&safety["incidence_per_patient"], AE_RATE), "{}", safety["incidence_per_patient"]);

    // The planted donor is flagged above the overall rate; every donor's interval holds its planted rate.
    let donors = b.json(&["report", "donors"]);
    for d in donors["donors"].as_array().unwrap() {
        let name = d["donor"].as_str().unwrap();
        let planted = mean(&truth.by_donor[name]);
        assert!(within(d, planted), "{name}: planted {planted:.3}, reported {d}");
        if name == truth.planted_donor {
            assert_eq!(d["flag"], "above", "{d}");
        } else {
            assert_ne!(d["flag"], "above", "{d}");
        }
    }

    // The model recovers the planted odds ratios, naming its reference levels.
    let model = b.json(&["report", "predictors", "--timepoint", "3m", "--terms", "route,indication,donor"]);
    let term = |t: &str, level: &str| {
        model["terms"].as_array().unwrap().iter().find(|x| x["term"] == t && x["level"] == level).cloned().unwrap()
    };
    let route = term("route", "tet-colonic");
    assert_eq!(route["reference"], "colonoscopy");
    assert!(within(&route, ROUTE_OR), "{route}");
    assert!(route["p"].as_f64().unwrap() < 0.001);
    let uc = term("indication", "UC");
    assert_eq!(uc["reference"], "rCDI");
    assert!(within(&uc, (-ALPHA[0].1).exp()), "{uc}");
    let donor = term("donor", &truth.planted_donor);
    assert!(within(&donor, DONOR_OR), "{donor}");
    // What was recovered, for `cargo test --test reports_cohort -- --nocapture`.
    for (name, planted, got) in [
        ("route tet-colonic", ROUTE_OR, &route),
        ("indication UC", (-ALPHA[0].1).exp(), &uc),
        ("planted donor", DONOR_OR, &donor),
    ] {
        eprintln!(
            "{name}: planted OR {planted:.2}, estimated {:.2} [{:.2} – {:.2}]",
            got["odds_ratio"].as_f64().unwrap(),
            got["ci_low"].as_f64().unwrap(),
            got["ci_high"].as_f64().unwrap()
        );
    }
    assert_eq!(model["n"].as_u64(), Some(truth.by_indication.values().map(|v| v.len() as u64).sum()));

    // The CSV form of the outcome report reads back with the same numbers.
    let csv = b.ok(&["report", "outcomes", "--csv"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "group");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), outcomes["rows"].as_array().unwrap().len());
}

#[test]
fn thin_data_are_refused_naming_the_numbers() {
    let b = Bench::new();
    let (code, err) = b.fail(&["report", "predictors", "--terms", "route"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no recipient"), "{err}");
    let (code, err) = b.fail(&["report", "predictors", "--terms", "route,blood-type"]);
    assert_eq!(code, 2);
    assert!(err.contains("blood-type") && err.contains("route, indication, age"), "{err}");
}
