//! ZPL output as reviewed snapshots, one per template (with a Chinese bank name: ^CI28 UTF-8).

use stoolbank::core::ids::Id;
use stoolbank::labels::{render_zpl, Label, Layout, Templates};

fn label() -> Label {
    Label {
        id: Id::parse("G151726000001F0003007").unwrap(),
        title: "WASHED MICROBIOTA".into(),
        product_code: Some("F0003".into()),
        product_description: Some("Washed microbiota capsules, frozen".into()),
        volume_ml: Some(30.0),
        collected: chrono::NaiveDate::from_ymd_opt(2026, 3, 16),
        expires: chrono::NaiveDate::from_ymd_opt(2026, 9, 15),
        storage: Some("frozen at -80 °C or below".into()),
        bank_name: "南京微生态菌群库 ^Stool~Bank_".into(),
        status_mark: Some("QUARANTINE".into()),
        sec: Some("DE000123 G151726000001 AF000300 20260915".into()),
    }
}

#[test]
fn zpl_per_template() {
    let templates = Templates::builtin();
    for t in &templates.template {
        let layout = Layout::new(&label(), t).unwrap();
        insta::assert_snapshot!(format!("zpl_{}", t.name), render_zpl(&layout, 2));
    }
}
