//! The bank generator behind every demo: the small demo's two years, the benches' banks and a national-size bank
//! (`stoolbank demo --scale large`). It writes through the same operations a bench uses, so every rule holds and
//! every change is in the audit chain; it writes in bulk (many operations to a transaction, each in its own
//! savepoint) and streams: donor by donor, then the dispenses in the order they happened, then the follow-ups.

use std::collections::VecDeque;
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use indicatif::ProgressBar;

use super::{DemoSummary, DEMO_FACILITY};
use crate::app::{
    AppError, Bank, NewAdverseEvent, NewDonation, NewDonor, NewRecipient, RecallSelector, ScreeningInput, StudyUpdate,
    VisitInput,
};
use crate::core::config::BenchPrefs;
use crate::core::followup::{ExclusionGround, Outcome, Relatedness, Timepoint};
use crate::core::ids::Id;
use crate::core::model::{Consent, QcResult, ScreeningKind, Sex, TestResult};
use crate::store::donors::Identity;
use crate::time::{self, local_day};

/// How big a bank to make.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub seed: u64,
    pub donors: u64,
    /// Days of history before today.
    pub days: i64,
    /// How long a donor keeps coming, in days (drawn between the two).
    pub stay_days: (u64, u64),
    /// Doses per batch (drawn between the two).
    pub units: (u64, u64),
}

impl Scale {
    /// The newcomer's demo: 30 donors over two years.
    pub const DEMO: Scale = Scale { seed: 2019, donors: 30, days: 730, stay_days: (90, 420), units: (3, 7) };
    /// A national platform: about 5,000 donors, 150,000 donations and 1.5 million units over twenty years.
    pub const LARGE: Scale = Scale { seed: 2019, donors: 5_000, days: 20 * 365, stay_days: (180, 900), units: (6, 14) };
    /// A tenth of [`Scale::LARGE`].
    pub const MEDIUM: Scale = Scale { donors: 500, ..Scale::LARGE };
}

/// Operations to a transaction while dispensing and following up (donors take one transaction each).
const CHUNK: usize = 2_000;
/// A course goes on with another dose when the last was fewer days ago than this.
const COURSE_DAYS: i64 = 21;

/// Fills a fresh database with a bank of the given scale, as of `now` (the moment every change is recorded at,
/// so that a seed always gives the same records), showing its progress on `progress`.
pub fn create_scaled(
    db: &Path,
    bench: BenchPrefs,
    actor: &str,
    scale: Scale,
    now: DateTime<Utc>,
    progress: &ProgressBar,
) -> Result<DemoSummary, AppError> {
    let mut bank = Bank::init_with_clock(db, Some(DEMO_FACILITY), bench, actor, move || now)?;
    load(&mut bank, scale, progress)
}

/// Fills `bank`, refused when it already holds donors; durability is off while loading and back on at the end.
pub(super) fn load(bank: &mut Bank, scale: Scale, progress: &ProgressBar) -> Result<DemoSummary, AppError> {
    if !bank.donors(None, 1, bank.now())?.is_empty() {
        return Err(AppError::Invalid(format!(
            "{} already holds donors; the demo fills a fresh database",
            bank.path().display()
        )));
    }
    bank.set_durable(false)?;
    let result = Generator::new(bank, scale).run(bank, progress);
    bank.set_durable(true)?;
    progress.finish_and_clear();
    result
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
    fn between(&mut self, (low, high): (u64, u64)) -> u64 {
        low + self.below(high.saturating_sub(low) + 1)
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

/// A dose to dispense: when, which, of which product.
struct Dose {
    at: DateTime<Utc>,
    unit: Id,
    product: &'static str,
}

/// A recipient registered while dispensing, with what the follow-up needs.
struct Patient {
    id: Id,
    birth: NaiveDate,
    indication: &'static str,
    /// The first dose given, and when (None: every dispense to them was refused).
    first: Option<(DateTime<Utc>, Id)>,
}

const PRODUCTS: [&str; 3] = ["F0001", "F0002", "F0003"];
const INDICATIONS: [&str; 13] =
    ["rCDI", "rCDI", "rCDI", "UC", "UC", "CD", "IBS", "FC", "HE", "ASD", "EPI", "PD", "OTHER"];

struct Generator {
    rng: Rng,
    scale: Scale,
    now: DateTime<Utc>,
    today: NaiveDate,
    sum: DemoSummary,
    doses: Vec<Dose>,
    patients: Vec<Patient>,
    /// Donors recalled after a positive ESBL re-test, at most one per hundred donors.
    donor_recalls: u64,
    /// The last batch released, recalled at the end after a complaint.
    last_released: Option<(Id, DateTime<Utc>)>,
}

impl Generator {
    fn new(bank: &Bank, scale: Scale) -> Generator {
        let now = bank.now();
        Generator {
            rng: Rng(scale.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            scale,
            now,
            today: local_day(now),
            sum: DemoSummary::default(),
            doses: Vec::new(),
            patients: Vec::new(),
            donor_recalls: 0,
            last_released: None,
        }
    }

    fn run(mut self, bank: &mut Bank, progress: &ProgressBar) -> Result<DemoSummary, AppError> {
        phase(progress, "donors", self.scale.donors);
        for n in 0..self.scale.donors {
            bank.bulk(|bank| self.donor(bank, n))?;
            progress.inc(1);
        }
        // Doses in the order they were given, so that only the courses still open are searched.
        let mut doses = std::mem::take(&mut self.doses);
        doses.sort_by(|a, b| (a.at, a.unit.data()).cmp(&(b.at, b.unit.data())));
        phase(progress, "dispenses", doses.len() as u64);
        let mut courses: Vec<VecDeque<(usize, DateTime<Utc>)>> = vec![VecDeque::new(); PRODUCTS.len()];
        for chunk in doses.chunks(CHUNK) {
            bank.bulk(|bank| chunk.iter().try_for_each(|dose| self.dispense(bank, dose, &mut courses)))?;
            progress.inc(chunk.len() as u64);
        }
        drop(doses);
        let patients = std::mem::take(&mut self.patients);
        phase(progress, "follow-up", patients.len() as u64);
        let mut serious_done = false;
        for (c, chunk) in patients.chunks(CHUNK).enumerate() {
            bank.bulk(|bank| {
                chunk
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, p)| self.follow_up(bank, c * CHUNK + i, p, &mut serious_done))
            })?;
            progress.inc(chunk.len() as u64);
        }
        // A released batch recalled after a complaint: sterility re-test of the retained sample came back positive.
        if let Some((batch, released)) = self.last_released.clone() {
            let at = released + Duration::days(3);
            if at < self.now {
                bank.recall(
                    &RecallSelector::Batch(batch),
                    "retained sample failed a sterility re-test",
                    true,
                    false,
                    at,
                )?;
                self.sum.recalls += 1;
            }
        }
        Ok(self.sum)
    }

    /// One donor's whole story: registration, screening rounds every eight weeks with donations in between while
    /// eligible, the batches' release or discard, and a recall when a re-test comes back positive for ESBL.
    fn donor(&mut self, bank: &mut Bank, n: u64) -> Result<(), AppError> {
        let names =
            ["Li Wei", "Zhang Min", "Anna Schmidt", "João Silva", "Emma Dubois", "王芳", "Olivia Brown", "Noah Kim"];
        let start = self.today - Duration::days(self.scale.days);
        let rng = &mut self.rng;
        let registered = start + Duration::days(rng.below((self.scale.days - 90).max(1) as u64) as i64);
        // 18 to 45 at registration, and (as registration asks) at most 50 today.
        let years_since = (self.today - registered).num_days() / 365;
        let age = 18 + rng.below((28 - years_since).clamp(1, 28) as u64) as i64;
        let birth = registered - Duration::days(365 * age + rng.below(300) as i64);
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
        self.sum.donors += 1;
        let leaves = (registered + Duration::days(self.rng.between(self.scale.stay_days) as i64)).min(self.today);
        let mut rounds = Vec::new();
        let mut batches = Vec::new();
        let mut esbl = None;
        let mut round = registered;
        let mut permanent = false;
        while round <= leaves && !permanent {
            for kind in ScreeningKind::DONOR_PANELS {
                let mut input = ScreeningInput { all_negative: true, tests: Vec::new() };
                if kind == ScreeningKind::Stool && round > registered && self.rng.chance(7) {
                    let test = *self.rng.pick(&["c-difficile", "norovirus", "esbl", "giardia", "h-pylori"]);
                    input.tests.push((test.into(), TestResult::Positive));
                    if test == "esbl" && esbl.is_none() && self.donor_recalls <= self.scale.donors / 100 {
                        esbl = Some(round);
                    }
                }
                if kind == ScreeningKind::Blood && n % 500 == 17 && round > registered + Duration::days(200) {
                    input.tests.push(("hbsag".into(), TestResult::Positive));
                    permanent = true;
                }
                bank.record_screening(&donor, kind, round, &input, at_hour(round, 8))?;
            }
            rounds.push(round);
            if n % 500 == 5 && round > registered {
                let until = round + Duration::days(90);
                bank.defer_donor(&donor, "travel to a malaria-endemic area", Some(until), false, at_hour(round, 12))?;
            }
            let next = round + Duration::days(56);
            // Donations in the weeks after this round, while the screening still counts.
            let mut day = round + Duration::days(1 + self.rng.below(4) as i64);
            while day < next.min(self.today) && day <= leaves {
                if let Some(batch) = self.donate(bank, &donor, day)? {
                    batches.push(batch);
                }
                day += Duration::days(12 + self.rng.below(16) as i64);
            }
            round = next;
        }
        for (batch, collected, product, units) in batches {
            // Released the day after the donor's first clean post-donation round, if QC and every rule allow.
            let Some(post) = rounds.iter().find(|r| **r > local_day(collected)) else { continue };
            let at = at_hour(*post + Duration::days(1), 10);
            if at > self.now {
                continue;
            }
            match bank.release(&batch, at) {
                Ok(()) => {
                    self.sum.released_batches += 1;
                    self.last_released = Some((batch.clone(), at));
                    self.plan_doses(at, product, units);
                }
                Err(AppError::Refused(_)) => {
                    let view = bank.batch_view(&batch, at)?;
                    if crate::core::rules::never_releasable(view.release_checks.get()?).is_some()
                        || !view.qc_missing.get()?.is_empty()
                    {
                        bank.discard_batch(&batch, "cannot be released: QC failed or processed too late", at)?;
                        self.sum.discarded_batches += 1;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // A positive ESBL re-test: recall everything since the last clean screening, before any dispensing that
        // would follow it (so the recall quarantines stock that later could not be dispensed).
        if let Some(day) = esbl {
            let sel = RecallSelector::Donor { donor: donor.clone(), from: None };
            bank.recall(&sel, "donor re-test positive for ESBL-producing E. coli", true, false, at_hour(day, 16))?;
            self.donor_recalls += 1;
            self.sum.recalls += 1;
            if self.sum.examples.is_empty() {
                self.sum.examples.push(donor.display());
            }
        }
        Ok(())
    }

    /// A donation with its donation-day questionnaire, its batch, the retained sample's place and QC. Returns
    /// the batch, when the donation was taken, its product and its doses.
    #[allow(clippy::type_complexity)]
    fn donate(
        &mut self,
        bank: &mut Bank,
        donor: &Id,
        day: NaiveDate,
    ) -> Result<Option<(Id, DateTime<Utc>, &'static str, Vec<Id>)>, AppError> {
        let rng = &mut self.rng;
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
            Err(AppError::Refused(_)) => return Ok(None), // deferred or out of screening: no donation that day
            Err(e) => return Err(e),
        };
        self.sum.donations += 1;
        let late = rng.chance(4);
        let prepared = collected + Duration::minutes(if late { 7 * 60 } else { 40 + rng.below(150) as i64 });
        if prepared > self.now {
            return Ok(None); // still being processed as the demo is made
        }
        let product = if rng.chance(20) {
            PRODUCTS[2]
        } else if rng.chance(25) {
            PRODUCTS[1]
        } else {
            PRODUCTS[0]
        };
        let n = rng.between(self.scale.units) as usize;
        let volume = if product == PRODUCTS[2] { 30.0 } else { 50.0 };
        let (batch, mut units) = bank.prepare_batch(&donation, product, n, Some(volume), prepared)?;
        let retained = units.split_off(n.min(units.len()));
        self.sum.batches += 1;
        self.sum.units += units.len();
        let rng = &mut self.rng;
        for r in &retained {
            let place =
                format!("freezer A-80 / rack {} / box {} / {}", 1 + rng.below(6), 1 + rng.below(20), 1 + rng.below(81));
            bank.set_location(r, &place, prepared + Duration::hours(1))?;
        }
        let qc_at = prepared + Duration::days(2);
        // QC results come back two days after preparation; batches younger than that wait for them.
        let tests = if qc_at < self.now { &["appearance", "viable-count", "pathogen-screen"][..] } else { &[] };
        for test in tests {
            let result = if *test == "pathogen-screen" && rng.chance(3) { QcResult::Fail } else { QcResult::Pass };
            let value = (*test == "viable-count").then(|| format!("{}.{}e10 CFU", 1 + rng.below(8), rng.below(10)));
            bank.record_qc(&batch, test, result, value.as_deref(), qc_at)?;
        }
        Ok(Some((batch, collected, product, units)))
    }

    /// Most doses of a released batch are given within forty days of its release.
    fn plan_doses(&mut self, released: DateTime<Utc>, product: &'static str, units: Vec<Id>) {
        for unit in units {
            if !self.rng.chance(70) {
                continue;
            }
            let at =
                released + Duration::days(1 + self.rng.below(40) as i64) + Duration::hours(self.rng.below(6) as i64);
            if at <= self.now {
                self.doses.push(Dose { at, unit, product });
            }
        }
    }

    /// One dose to a recipient whose course of this product is still open (their last dose fewer than three
    /// weeks before), or to a new recipient. `courses` holds the open courses per product, oldest dose first.
    fn dispense(
        &mut self,
        bank: &mut Bank,
        dose: &Dose,
        courses: &mut [VecDeque<(usize, DateTime<Utc>)>],
    ) -> Result<(), AppError> {
        let at = dose.at;
        let product = PRODUCTS.iter().position(|p| *p == dose.product).unwrap_or(0);
        let open = &mut courses[product];
        while open.front().is_some_and(|(_, last)| at - *last >= Duration::days(COURSE_DAYS)) {
            open.pop_front();
        }
        let rng = &mut self.rng;
        let going_on = open.front().is_some_and(|(_, last)| at > *last) && rng.chance(55);
        let patient = if going_on {
            open.pop_front().map_or(0, |(p, _)| p)
        } else {
            let birth = local_day(at) - Duration::days(365 * (5 + rng.below(75) as i64));
            let indication = *rng.pick(&INDICATIONS);
            let new = NewRecipient {
                sex: if rng.chance(50) { Sex::F } else { Sex::M },
                birth_date: birth,
                indication: indication.to_string(),
                consent: if rng.chance(30) { Consent::DataUse } else { Consent::Signed },
                cohort: None,
                identity: Identity::default(),
            };
            let id = bank.register_recipient(new, at - Duration::days(1))?.id.into_value()?;
            self.sum.recipients += 1;
            self.patients.push(Patient { id, birth, indication, first: None });
            self.patients.len() - 1
        };
        open.push_back((patient, at));
        let route = match dose.product {
            "F0003" => "capsule",
            "F0002" => *rng.pick(&["tet-midgut", "nasojejunal", "gastroscopy"]),
            _ => *rng.pick(&["colonoscopy", "tet-colonic", "tet-colonic", "enema"]),
        };
        let clinician = *rng.pick(&["Dr Zhang", "Dr Müller", "Dr Rossi", "Dr Chen"]);
        let p = &mut self.patients[patient];
        match bank.dispense(&dose.unit, &p.id, route, Some(clinician), at) {
            Ok(_) => {
                p.first.get_or_insert_with(|| (at, dose.unit.clone()));
                self.sum.dispensed += 1;
                if self.sum.examples.len() < 3 && self.sum.dispensed % 50 == 1 {
                    self.sum.examples.push(dose.unit.display());
                }
            }
            Err(AppError::Refused(_)) => {} // recalled or expired meanwhile: the rule holds the unit back
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Follow-up visits in (now and then just outside) their windows, a few lost to follow-up, the study's
    /// record of some recipients, and adverse events (mostly mild; one serious event probably related to its
    /// unit).
    fn follow_up(&mut self, bank: &mut Bank, n: usize, p: &Patient, serious_done: &mut bool) -> Result<(), AppError> {
        let Some((first, unit)) = &p.first else { return Ok(()) };
        let start = local_day(*first);
        let rng = &mut self.rng;
        if n.is_multiple_of(9) {
            let exclude = n
                .is_multiple_of(45)
                .then(|| (ExclusionGround::IncompleteData, "baseline disease score missing".to_string()));
            let update = StudyUpdate {
                // Diagnosed some months to years before the course, never before birth (the demo has children).
                diagnosis_date: Some((start - Duration::days(200 + rng.below(2000) as i64)).max(p.birth)),
                prior_therapies: Some("vancomycin; fidaxomicin; 美沙拉嗪 (mesalazine)".into()),
                exclude,
                include: false,
            };
            bank.record_study(&p.id, update, at_hour(start, 8))?;
        }
        // Remission is likelier after rCDI than after other indications.
        let remission = if p.indication == "rCDI" { 85 } else { 45 };
        for tp in Timepoint::ALL {
            let w = bank.config().followup.window(start, *tp);
            if w.from > self.today || rng.chance(10) {
                continue;
            }
            let span = (w.to - w.from).num_days().max(1) as u64;
            let mut day = w.from + Duration::days(rng.below(span + 1) as i64);
            if rng.chance(4) {
                day = w.to + Duration::days(1 + rng.below(10) as i64); // a late visit, flagged in reports
            }
            if day > self.today {
                continue;
            }
            let outcome = match rng.below(100) {
                x if x < 6 => Outcome::Lost,
                x if x < 6 + remission => Outcome::Remission,
                x if x < 80 + remission / 5 => Outcome::Response,
                _ => *rng.pick(&[Outcome::NoResponse, Outcome::Relapse]),
            };
            let scores = match p.indication {
                "UC" => vec![("mayo".to_string(), rng.below(10).to_string())],
                _ => vec![("qol".to_string(), (50 + rng.below(50)).to_string())],
            };
            let input = VisitInput { timepoint: *tp, outcome, scores, corrects: None };
            bank.add_followup(&p.id, input, at_hour(day, 10))?;
            self.sum.followups += 1;
        }
        if rng.chance(12) {
            let onset = start + Duration::days(rng.below(7) as i64);
            if onset > self.today {
                return Ok(());
            }
            let terms = ["diarrhoea", "abdominal bloating", "fever", "腹泻", "腹胀", "nausea", "transient flatulence"];
            let serious = !*serious_done && n > 20;
            *serious_done |= serious;
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
                unit: Some(unit.clone()),
                outcome: Some("recovered".into()),
                resolved_on: Some(onset + Duration::days(1 + rng.below(5) as i64)).filter(|d| *d <= self.today),
                corrects: None,
            };
            bank.add_adverse_event(&p.id, new, at_hour(onset, 15))?;
            self.sum.adverse_events += 1;
        }
        Ok(())
    }
}

/// Starts a phase of the progress bar: its name and how many steps it has.
fn phase(progress: &ProgressBar, name: &'static str, steps: u64) {
    progress.set_message(name);
    progress.set_length(steps);
    progress.set_position(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of every table, in rowid order.
    fn dump(path: &Path) -> Vec<(String, Vec<Vec<rusqlite::types::Value>>)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        tables
            .into_iter()
            .map(|t| {
                let mut stmt = conn.prepare(&format!("SELECT * FROM {t} ORDER BY rowid")).unwrap();
                let width = stmt.column_count();
                let rows = stmt
                    .query_map([], |r| (0..width).map(|i| r.get(i)).collect())
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap();
                (t, rows)
            })
            .collect()
    }

    #[test]
    fn a_seed_gives_the_same_bank_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let now = time::parse_timestamp("2026-03-01T12:00:00Z").unwrap();
        let scale = Scale { seed: 42, donors: 5, days: 400, ..Scale::LARGE };
        let make = |name: &str| {
            let path = dir.path().join(name);
            let sum = create_scaled(&path, BenchPrefs::default(), "test", scale, now, &ProgressBar::hidden()).unwrap();
            (path, sum)
        };
        let ((a, sa), (b, sb)) = (make("a.db"), make("b.db"));
        assert!(sa.dispensed > 0 && sa.followups > 0, "{sa}");
        assert_eq!(sa.to_string(), sb.to_string());
        let (da, db) = (dump(&a), dump(&b));
        assert!(da.iter().any(|(t, rows)| t == "audit_log" && rows.len() > 1000));
        assert_eq!(da, db);
        let other = Scale { seed: 43, ..scale };
        let c = dir.path().join("c.db");
        create_scaled(&c, BenchPrefs::default(), "test", other, now, &ProgressBar::hidden()).unwrap();
        assert_ne!(dump(&c), da, "another seed, another bank");
    }
}
