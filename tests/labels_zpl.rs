//! ZPL output as reviewed snapshots, one per template (with a Chinese bank name: ^CI28 UTF-8), and proof that
//! the printer draws the preview's bars: the ^BC field data, read as the ZPL II guide defines its subset
//! invocations, encodes to exactly the layout's Code 128 modules, and ^BX forces the preview's symbol size.

use barcoders::sym::code128::Code128;
use stoolbank::core::ids::Id;
use stoolbank::labels::{render_zpl, Element, Label, Layout, Templates};

fn label() -> Label {
    Label {
        id: Id::parse("G151726000001F0003007").unwrap(),
        title: "WASHED MICROBIOTA".into(),
        product_code: Some("F0003".into()),
        product_description: Some("Washed microbiota capsules, frozen".into()),
        volume_ml: Some(30.0),
        collected: chrono::NaiveDate::from_ymd_opt(2026, 3, 16),
        expires: chrono::NaiveDate::from_ymd_opt(2026, 9, 15),
        storage: Some("≤ −80 °C".into()),
        bank_name: "南京微生态菌群库 ^Stool~Bank_".into(),
        status_mark: Some("QUARANTINE".into()),
        sec: Some("DE000123 G151726000001 AF000300 20260915".into()),
    }
}

#[test]
fn zpl_per_template() {
    let templates = Templates::builtin();
    assert!(templates.template.len() >= 4);
    for t in &templates.template {
        let layout = Layout::new(&label(), t).unwrap();
        insta::assert_snapshot!(format!("zpl_{}", t.name), render_zpl(&layout, 2).unwrap());
    }
}

/// The ^FD of a `^BC…,N` field, with its subset invocations turned back into `barcoders` character-set marks.
fn bc_data_as_barcoders(zpl: &str) -> String {
    let line = zpl.lines().find(|l| l.contains("^BC")).expect("a ^BC field");
    assert!(line.contains("^BCN,") && line.contains(",N,N,N,N^FD"), "mode N, no check digit: {line}");
    let fd = &line[line.find("^FD").unwrap() + 3..line.find("^FS").unwrap()];
    let mut out = String::new();
    let mut chars = fd.chars();
    while let Some(c) = chars.next() {
        if c != '>' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some(':' | '6') => 'Ɓ',
            Some(';' | '5') => 'Ć',
            Some('9' | '7') => 'À',
            other => panic!("unexpected invocation >{other:?} in {fd}"),
        });
    }
    out
}

#[test]
fn the_printer_draws_the_preview_bars() {
    let templates = Templates::builtin();
    let ids = ["G151726000001F000300", "1517260000016", "Z999999999999F9999Z9", "A000000000001"];
    for t in &templates.template {
        for text in ids {
            let id = Id::parse(&format!("{text}{}", stoolbank::core::ids::check_char(text).unwrap())).unwrap();
            let mut l = label();
            l.product_code = id.product().map(str::to_string);
            l.id = id;
            let layout = Layout::new(&l, t).unwrap();
            let zpl = render_zpl(&layout, 1).unwrap();
            // A template without a Code 128 (the Data Matrix alone) prints none either.
            assert_eq!(zpl.contains("^BC"), t.code128.is_some(), "{zpl}");
            for e in &layout.elements {
                match e {
                    Element::Code128 { modules, data, module, .. } => {
                        let printed: Vec<bool> = Code128::new(bc_data_as_barcoders(&zpl))
                            .unwrap()
                            .encode()
                            .into_iter()
                            .map(|b| b == 1)
                            .collect();
                        assert_eq!(&printed, modules, "{} on {}", data, t.name);
                        assert!(zpl.contains(&format!("^BY{module},")));
                    }
                    Element::DataMatrix { size, module, payload, .. } => {
                        let bx = format!("^BXN,{module},200,{size},{size},,~^FD{payload}^FS");
                        assert!(zpl.contains(&bx), "{bx} in {zpl}");
                    }
                    _ => {}
                }
            }
            assert!(zpl.starts_with("^XA\n^CI28\n") && zpl.ends_with("^PQ1,0,1,N\n^XZ\n"));
        }
    }
}

#[test]
fn a_printer_resident_font_is_used_for_text_when_configured() {
    let toml = include_str!("../labels.toml")
        .replace("name = \"bag-4x2\"\n", "name = \"bag-4x2\"\nzpl_font = \"E:NOTOSANSCJK.TTF\"\n");
    let templates = Templates::from_toml(&toml).unwrap();
    let zpl = render_zpl(&Layout::new(&label(), templates.get("bag-4x2").unwrap()).unwrap(), 1).unwrap();
    assert!(zpl.contains("^A@N,18,0,E:NOTOSANSCJK.TTF^FH^FD南京微生态菌群库"), "{zpl}");
    assert!(!zpl.contains("^A0N"));
}
