//! The bench's searches: a code typed or scanned as displayed (check character included) finds its record, and
//! the start of a code finds every record whose code starts so.

mod common;

use common::{bank_at, Bench};

#[test]
fn a_code_as_displayed_finds_its_donor_and_recipient() {
    let b = Bench::new();
    let donors: Vec<String> =
        (0..12).map(|_| b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"])).collect();
    let recipient = b.ok(&["recipient", "add", "--sex", "M", "--birth-date", "1950-01-01", "--indication", "rCDI"]);
    let mut bank = bank_at(&b.db, chrono::Utc::now());
    let now = chrono::Utc::now();
    for (i, shown) in [&donors[2], &donors[11]].into_iter().enumerate() {
        let page = bank.find_donors(shown, None, 50, now).unwrap();
        let found: Vec<String> = page.rows.iter().map(|d| d.id.to_string()).collect();
        assert_eq!(found, vec![shown.clone()], "search {i} for {shown}");
        // As a scanner or a hurried hand gives it: lower case, with separators.
        let page = bank.find_donors(&format!(" {} ", shown.to_lowercase()), None, 50, now).unwrap();
        assert_eq!(page.rows.len(), 1, "{shown} in lower case");
    }
    // The start of a code: every donor whose code starts so (donors 1 to 12 share `D00000` and `D00001`).
    let start = &donors[0][..6];
    assert_eq!(bank.find_donors(start, None, 50, now).unwrap().rows.len(), 9, "{start}");
    let page = bank.find_recipients(&recipient, None, 50).unwrap();
    assert_eq!(page.rows.iter().map(|r| r.id.to_string()).collect::<Vec<_>>(), vec![recipient.clone()]);
    assert_eq!(bank.find_recipients("rcdi", None, 50).unwrap().rows.len(), 1, "by indication");
}
