//! A realistic small demo bank, made through the same operations a bench uses (so every rule holds): a few
//! dozen donors screened every eight weeks over two years, with positive re-tests and deferrals, donations
//! processed into batches, QC, releases after the post-donation screen, discarded batches, a donor recall and
//! a batch recall, and units dispensed to recipients or still in stock.

use std::fmt;
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::app::{
    AppError, Bank, NewAdverseEvent, NewDonation, NewDonor, NewRecipient, RecallSelector, ScreeningInput, StudyUpdate,
    VisitInput,
};
use crate::core::config::Config;
use crate::core::followup::{ExclusionGround, Outcome, Relatedness, Timepoint};
use crate::core::ids::Id;
use crate::core::model::{Consent, QcResult, ScreeningKind, Sex, TestResult};
use crate::store::donors::Identity;
use crate::time::{self, local_day};

/// The demo's facility code (the DIN example of DOMAIN.md).
pub const DEMO_FACILITY: &str = "G1517";

#[derive(Debug, Clone, Default, Serialize)]
pub struct DemoSummary {
    pub donors: usize,
    pub donations: usize,
    pub batches: usize,
    pub units: usize,
    pub released_batches: usize,
    pub discarded_batches: usize,
    pub recipients: usize,
    pub dispensed: usize,
    pub followups: usize,
    pub adverse_events: usize,
    pub recalls: usize,
    /// A donor who was recalled, a dispensed unit and a recipient, for a newcomer to trace.
    pub examples: Vec<String>,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "demo bank: {} donors, {} donations, {} batches ({} released, {} discarded), {} units, {} recipients, \
             {} units dispensed, {} follow-up visits, {} adverse events, {} recalls\ntry: stoolbank trace {}",
            self.donors,
            self.donations,
            self.batches,
            self.released_batches,
            self.discarded_batches,
            self.units,
            self.recipients,
            self.dispensed,
            self.followups,
            self.adverse_events,
            self.recalls,
            self.examples.join(" | stoolbank trace ")
        )
    }
}

/// xorshift64*: deterministic, so a seed always gives the same bank.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn at_hour(d: NaiveDate, hour: i64) -> DateTime<Utc> {
    let midnight =
        time::parse_timestamp(&d.to_string()).unwrap_or_else(|_| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    midnight + Duration::hours(hour)
}

struct Batchplan {
    id: Id,
    product: String,
    released: Option<DateTime<Utc>>,
    units: Vec<Id>,
}

/// How big a bank to make: the demo's defaults, or years of data for benchmarks.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub seed: u64,
    pub donors: u64,
    /// Days of history before today.
    pub days: i64,
}

impl Scale {
    pub const DEMO: Scale = Scale { seed: 2019, donors: 30, days: 730 };
}

/// Fills a fresh database with the demo bank (refused when it already holds donors).
pub fn create(db: &Path, config: Config, actor: &str, seed: u64) -> Result<DemoSummary, AppError> {
    create_scaled(db, config, actor, Scale { seed, ..Scale::DEMO })
}

/// Fills a fresh database with a bank of the given scale.
pub fn create_scaled(db: &Path, config: Config, actor: &str, scale: Scale) -> Result<DemoSummary, AppError> {
    let mut bank = Bank::init(db, Some(DEMO_FACILITY), config, actor)?;
    if !bank.donors(None, 1, bank.now())?.is_empty() {
        return Err(AppError::Invalid(format!(
            "{} already holds donors; the demo fills a fresh database",
            db.display()
        )));
    }
    bank.set_durable(false)?;
    let result = fill(&mut bank, scale);
    bank.set_durable(true)?;
    result
}

fn fill(bank: &mut Bank, scale: Scale) -> Result<DemoSummary, AppError> {
    let mut rng = Rng(scale.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut sum = DemoSummary::default();
    let today = local_day(bank.now());
    let start = today - Duration::days(scale.days);
    let names =
        ["Li Wei", "Zhang Min", "Anna Schmidt", "João Silva", "Emma Dubois", "王芳", "Olivia Brown", "Noah Kim"];
    let mut batches: Vec<Batchplan> = Vec::new();
    let mut recall_donor: Option<(Id, NaiveDate)> = None;

    for n in 0..scale.donors {
        let registered = start + Duration::days(rng.below((scale.days - 90).max(1) as u64) as i64);
        let birth = registered - Duration::days(365 * (20 + rng.below(25) as i64) + rng.below(365) as i64);
        let identity = Identity {
            name: Some(format!("{} {}", rng.pick(&names), n + 1)),
            phone: Some(format!("+86 138 {:04} {:04}", rng.below(10_000), rng.below(10_000))),
            national_id: None,
        };
        let sex = if rng.chance(50) { Sex::F } else { Sex::M };
        let donor = bank
            .register_donor(NewDonor { sex, birth_date: birth, identity }, at_hour(registered, 9))?
            .id
            .into_value()?;
        sum.donors += 1;
        let leaves = (registered + Duration::days(90 + rng.below(330) as i64)).min(today);
        // Screening rounds every eight weeks; the donor donates in between while eligible.
        let mut round = registered;
        let mut permanent = false;
        while round <= leaves && !permanent {
            for kind in ScreeningKind::DONOR_PANELS {
                let mut input = ScreeningInput { all_negative: true, tests: Vec::new() };
                if kind == ScreeningKind::Stool && round > registered && rng.chance(7) {
                    let test = *rng.pick(&["c-difficile", "norovirus", "esbl", "giardia", "h-pylori"]);
                    input.tests.push((test.into(), TestResult::Positive));
                    if test == "esbl" && recall_donor.is_none() {
                        recall_donor = Some((donor.clone(), round));
                    }
                }
                if kind == ScreeningKind::Blood && n == 17 && round > registered + Duration::days(200) {
                    input.tests.push(("hbsag".into(), TestResult::Positive));
                    permanent = true;
                }
                bank.record_screening(&donor, kind, round, &input, at_hour(round, 8))?;
            }
            if n == 5 && round > registered {
                let until = round + Duration::days(90);
                bank.defer_donor(&donor, "travel to a malaria-endemic area", Some(until), false, at_hour(round, 12))?;
            }
            let next = round + Duration::days(56);
            // Donations in the weeks after this round, while the screening still counts.
            let mut day = round + Duration::days(1 + rng.below(4) as i64);
            while day < next.min(today) && day <= leaves {
                donate(bank, &mut rng, &donor, day, &mut batches, &mut sum)?;
                day += Duration::days(12 + rng.below(16) as i64);
            }
            round = next;
        }
    }

    // Release what the post-donation screening allows; the rest stays in quarantine or is discarded.
    for b in &mut batches {
        let view = bank.batch_view(&b.id, bank.now())?;
        let Some(expected) = release_time(bank, &b.id)? else { continue };
        if expected > bank.now() {
            continue;
        }
        if crate::core::rules::never_releasable(view.release_checks.get()?).is_some()
            || !view.qc_missing.get()?.is_empty()
        {
            bank.discard_batch(&b.id, "cannot be released: QC failed or processed too late", expected)?;
            sum.discarded_batches += 1;
            continue;
        }
        match bank.release_batch(&b.id, expected) {
            Ok(_) => {
                b.released = Some(expected);
                sum.released_batches += 1;
            }
            Err(AppError::Refused(_)) => {}
            Err(e) => return Err(e),
        }
    }

    // A donor's positive ESBL re-test: recall everything since the last clean screening, before any dispensing
    // that would follow it (so the recall quarantines stock that later could not be dispensed).
    if let Some((donor, day)) = &recall_donor {
        let sel = RecallSelector::Donor { donor: donor.clone(), from: None };
        bank.recall(&sel, "donor re-test positive for ESBL-producing E. coli", true, false, at_hour(*day, 16))?;
        sum.recalls += 1;
        sum.examples.push(donor.display());
    }

    dispense_all(bank, &mut rng, &batches, &mut sum)?;
    follow_up(bank, &mut rng, today, &mut sum)?;

    // A released batch recalled after a complaint: sterility re-test of the retained sample came back positive.
    if let Some(b) = batches.iter().rev().find(|b| b.released.is_some()) {
        let at = b.released.unwrap_or_else(|| bank.now()) + Duration::days(3);
        if at < bank.now() {
            bank.recall(
                &RecallSelector::Batch(b.id.clone()),
                "retained sample failed a sterility re-test",
                true,
                false,
                at,
            )?;
            sum.recalls += 1;
        }
    }
    Ok(sum)
}

/// The release moment: the day after the donor's first complete clean post-donation round.
fn release_time(bank: &mut Bank, batch: &Id) -> Result<Option<DateTime<Utc>>, AppError> {
    let view = bank.batch_view(batch, bank.now())?;
    let donor = bank.donor_view(view.donor.get()?, bank.now())?;
    let collected = bank.donation_view(view.donation.get()?)?.collected_at.value()?;
    let after = local_day(collected);
    let post =
        donor.screenings.iter().filter(|s| s.kind == ScreeningKind::Stool && s.date > after).map(|s| s.date).min();
    Ok(post.map(|d| at_hour(d + Duration::days(1), 10)))
}

fn donate(
    bank: &mut Bank,
    rng: &mut Rng,
    donor: &Id,
    day: NaiveDate,
    batches: &mut Vec<Batchplan>,
    sum: &mut DemoSummary,
) -> Result<(), AppError> {
    let collected = at_hour(day, 7) + Duration::minutes(rng.below(120) as i64);
    let mut q = ScreeningInput { all_negative: true, tests: Vec::new() };
    if rng.chance(2) {
        q.tests.push(("antibiotics".into(), TestResult::Positive));
    }
    bank.record_screening(donor, ScreeningKind::DonationDay, day, &q, collected)?;
    let new = NewDonation {
        donor: donor.clone(),
        collected_at: collected,
        received_at: Some(collected + Duration::minutes(20)),
        mass_g: Some(60.0 + rng.below(140) as f64),
        bristol: Some(3 + rng.below(3) as u8),
    };
    let donation = match bank.add_donation(new) {
        Ok(d) => d.id.into_value()?,
        Err(AppError::Refused(_)) => return Ok(()), // deferred or out of screening: no donation that day
        Err(e) => return Err(e),
    };
    sum.donations += 1;
    let late = rng.chance(4);
    let prepared = collected + Duration::minutes(if late { 7 * 60 } else { 40 + rng.below(150) as i64 });
    if prepared > bank.now() {
        return Ok(()); // still being processed as the demo is made
    }
    let product = if rng.chance(20) {
        "F0003"
    } else if rng.chance(25) {
        "F0002"
    } else {
        "F0001"
    };
    let n = 3 + rng.below(5) as usize;
    let view = bank.make_batch(&donation, product, n, Some(if product == "F0003" { 30.0 } else { 50.0 }), prepared)?;
    sum.batches += 1;
    sum.units += view.units.len();
    if let Some(r) = &view.retained_sample {
        let place =
            format!("freezer A-80 / rack {} / box {} / {}", 1 + rng.below(6), 1 + rng.below(20), 1 + rng.below(81));
        bank.set_location(r.id.get()?, &place, prepared + Duration::hours(1))?;
    }
    let qc_at = prepared + Duration::days(2);
    // QC results come back two days after preparation; batches younger than that wait for them.
    let tests = if qc_at < bank.now() { &["appearance", "viable-count", "pathogen-screen"][..] } else { &[] };
    for test in tests {
        let result = if *test == "pathogen-screen" && rng.chance(3) { QcResult::Fail } else { QcResult::Pass };
        let value = (*test == "viable-count").then(|| format!("{}.{}e10 CFU", 1 + rng.below(8), rng.below(10)));
        bank.add_qc(view.id.get()?, test, result, value.as_deref(), qc_at)?;
    }
    batches.push(Batchplan {
        id: view.id.clone().into_value()?,
        product: product.to_string(),
        released: None,
        units: view.units.iter().map(|u| u.id.clone().into_value()).collect::<Result<_, _>>()?,
    });
    Ok(())
}

fn dispense_all(bank: &mut Bank, rng: &mut Rng, batches: &[Batchplan], sum: &mut DemoSummary) -> Result<(), AppError> {
    let indications = ["rCDI", "rCDI", "rCDI", "UC", "UC", "CD", "IBS", "FC", "HE", "ASD", "EPI", "PD", "OTHER"];
    // Open courses: (recipient, product, last dose).
    let mut courses: Vec<(Id, String, DateTime<Utc>)> = Vec::new();
    for b in batches {
        let Some(released) = b.released else { continue };
        for unit in &b.units {
            if !rng.chance(70) {
                continue;
            }
            let at = released + Duration::days(1 + rng.below(40) as i64) + Duration::hours(rng.below(6) as i64);
            if at > bank.now() {
                continue;
            }
            let open = courses
                .iter()
                .position(|(_, p, last)| p == &b.product && at - *last < Duration::days(21) && at > *last);
            let recipient = if let Some(i) = open.filter(|_| rng.chance(50)) {
                courses[i].2 = at;
                courses[i].0.clone()
            } else {
                let birth = local_day(at) - Duration::days(365 * (5 + rng.below(75) as i64));
                let consent = if rng.chance(30) { Consent::DataUse } else { Consent::Signed };
                let new = NewRecipient {
                    sex: if rng.chance(50) { Sex::F } else { Sex::M },
                    birth_date: birth,
                    indication: rng.pick(&indications).to_string(),
                    consent,
                    cohort: None,
                    identity: Identity::default(),
                };
                let r = bank.register_recipient(new, at - Duration::days(1))?.id.into_value()?;
                sum.recipients += 1;
                courses.push((r.clone(), b.product.clone(), at));
                r
            };
            let route = match b.product.as_str() {
                "F0003" => "capsule",
                "F0002" => *rng.pick(&["tet-midgut", "nasojejunal", "gastroscopy"]),
                _ => *rng.pick(&["colonoscopy", "tet-colonic", "tet-colonic", "enema"]),
            };
            let clinician = *rng.pick(&["Dr Zhang", "Dr Müller", "Dr Rossi", "Dr Chen"]);
            match bank.dispense(unit, &recipient, route, Some(clinician), at) {
                Ok(_) => {
                    sum.dispensed += 1;
                    if sum.examples.len() < 3 && sum.dispensed % 50 == 1 {
                        sum.examples.push(unit.display());
                    }
                }
                Err(AppError::Refused(_)) => {} // recalled or expired meanwhile: the rule holds the unit back
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Follow-up visits in (now and then just outside) their windows, a few lost to follow-up, the study's record of
/// some recipients, and adverse events (mostly mild; one serious event probably related to its unit).
fn follow_up(bank: &mut Bank, rng: &mut Rng, today: NaiveDate, sum: &mut DemoSummary) -> Result<(), AppError> {
    let recipients = bank.recipients(None, usize::MAX >> 1)?;
    let terms = ["diarrhoea", "abdominal bloating", "fever", "腹泻", "腹胀", "nausea", "transient flatulence"];
    let mut serious_done = false;
    for (n, r) in recipients.iter().enumerate() {
        let id = r.id.get()?;
        let view = bank.clinical_view(id)?;
        let Some(course) = view.courses.first() else { continue };
        if n % 9 == 0 {
            let exclude =
                (n % 45 == 0).then(|| (ExclusionGround::IncompleteData, "baseline disease score missing".to_string()));
            let update = StudyUpdate {
                // Diagnosed some months to years before the course, never before birth (the demo has children).
                diagnosis_date: Some(
                    (course.start - Duration::days(200 + rng.below(2000) as i64)).max(r.birth_date.value()?),
                ),
                prior_therapies: Some("vancomycin; fidaxomicin; 美沙拉嗪 (mesalazine)".into()),
                exclude,
                include: false,
            };
            bank.record_study(id, update, at_hour(course.start, 8))?;
        }
        // Remission is likelier after rCDI than after other indications.
        let remission = if r.indication.eq_ignore_ascii_case("rCDI") { 85 } else { 45 };
        for tp in Timepoint::ALL {
            let w = bank.config().followup.window(course.start, *tp);
            if w.from > today || rng.chance(10) {
                continue;
            }
            let span = (w.to - w.from).num_days().max(1) as u64;
            let mut day = w.from + Duration::days(rng.below(span + 1) as i64);
            if rng.chance(4) {
                day = w.to + Duration::days(1 + rng.below(10) as i64); // a late visit, flagged in reports
            }
            if day > today {
                continue;
            }
            let outcome = match rng.below(100) {
                x if x < 6 => Outcome::Lost,
                x if x < 6 + remission => Outcome::Remission,
                x if x < 80 + remission / 5 => Outcome::Response,
                _ => *rng.pick(&[Outcome::NoResponse, Outcome::Relapse]),
            };
            let scores = match r.indication.as_str() {
                "UC" => vec![("mayo".to_string(), rng.below(10).to_string())],
                _ => vec![("qol".to_string(), (50 + rng.below(50)).to_string())],
            };
            let input = VisitInput { timepoint: *tp, outcome, scores, corrects: None };
            bank.add_followup(id, input, at_hour(day, 10))?;
            sum.followups += 1;
        }
        if rng.chance(12) {
            let onset = course.start + Duration::days(rng.below(7) as i64);
            if onset > today {
                continue;
            }
            let serious = !serious_done && n > 20;
            serious_done |= serious;
            let unit = first_unit(bank, id);
            let new = NewAdverseEvent {
                onset,
                term: if serious { "bacteraemia (E. coli)".into() } else { rng.pick(&terms).to_string() },
                grade: if serious { 3 } else { 1 + rng.below(2) as u8 },
                serious,
                relatedness: if serious {
                    Relatedness::Probable
                } else {
                    *rng.pick(&[
                        Relatedness::Unrelated,
                        Relatedness::Unlikely,
                        Relatedness::Possible,
                        Relatedness::Possible,
                    ])
                },
                unit,
                outcome: Some("recovered".into()),
                resolved_on: Some(onset + Duration::days(1 + rng.below(5) as i64)).filter(|d| *d <= today),
                corrects: None,
            };
            bank.add_adverse_event(id, new, at_hour(onset, 15))?;
            sum.adverse_events += 1;
        }
    }
    Ok(())
}

fn first_unit(bank: &mut Bank, recipient: &Id) -> Option<Id> {
    bank.recipient_view(recipient, bank.now()).ok()?.units.first().and_then(|u| u.id.ok().cloned())
}
