//! Labels that scan back: PNG labels rendered for identifiers across the identifier space, decoded by a real
//! decoder (rxing), read back exactly — Code 128 with its check character, and the Data Matrix payload.

use proptest::prelude::*;
use rxing::BarcodeFormat;
use stoolbank::core::ids::{division_code, Facility, Id, ProductCode};
use stoolbank::labels::{parse_datamatrix_payload, render_png, Element, Label, Layout, Templates};

fn label(id: Id, product: Option<String>) -> Label {
    Label {
        id,
        title: "WASHED MICROBIOTA".into(),
        product_code: product,
        product_description: Some("Washed microbiota suspension, lower-GI delivery, frozen".into()),
        volume_ml: Some(50.0),
        collected: chrono::NaiveDate::from_ymd_opt(2026, 3, 16),
        expires: chrono::NaiveDate::from_ymd_opt(2026, 9, 15),
        storage: Some("frozen at -80 °C or below".into()),
        bank_name: "南京微生态菌群库 Stool Bank".into(),
        status_mark: Some("QUARANTINE".into()),
        sec: None,
    }
}

/// The rendered PNG, decoded back to grey pixels.
fn pixels(png_bytes: &[u8]) -> (Vec<u8>, u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    buf.truncate(info.buffer_size());
    (buf, info.width, info.height)
}

/// Crops a region with a white margin and magnifies it, as a scanner's optics see a printed label.
fn region(px: &[u8], w: u32, (x, y, rw, rh): (u32, u32, u32, u32), margin: u32, zoom: u32) -> (Vec<u8>, u32, u32) {
    let (ow, oh) = ((rw + 2 * margin) * zoom, (rh + 2 * margin) * zoom);
    let mut out = vec![255u8; (ow * oh) as usize];
    for oy in 0..oh {
        for ox in 0..ow {
            let (sx, sy) =
                ((ox / zoom) as i64 - margin as i64 + x as i64, (oy / zoom) as i64 - margin as i64 + y as i64);
            if sx >= x as i64 && sx < (x + rw) as i64 && sy >= y as i64 && sy < (y + rh) as i64 {
                out[(oy * ow + ox) as usize] = px[(sy as u32 * w + sx as u32) as usize];
            }
        }
    }
    (out, ow, oh)
}

fn decode(luma: Vec<u8>, w: u32, h: u32, format: BarcodeFormat) -> String {
    rxing::helpers::detect_in_luma(luma, w, h, Some(format)).map(|r| r.getText().to_string()).unwrap_or_default()
}

fn read_back(l: &Label, template: &str) -> (String, String) {
    let templates = Templates::builtin();
    let layout = Layout::new(l, templates.get(template).unwrap()).unwrap();
    let (px, w, _) = pixels(&render_png(&layout).unwrap());
    let mut code128 = String::new();
    let mut matrix = String::new();
    for e in &layout.elements {
        match e {
            Element::Code128 { x, y, module, height, modules, .. } => {
                let r = region(&px, w, (*x, *y, modules.len() as u32 * module, *height), 12 * module, 3);
                code128 = decode(r.0, r.1, r.2, BarcodeFormat::CODE_128);
            }
            Element::DataMatrix { x, y, module, size, .. } => {
                let r = region(&px, w, (*x, *y, size * module, size * module), 3 * module, 4);
                matrix = decode(r.0, r.1, r.2, BarcodeFormat::DATA_MATRIX);
            }
            _ => {}
        }
    }
    (code128, matrix)
}

fn any_labelled_id() -> impl Strategy<Value = (Id, Option<String>)> {
    let facility = (prop::sample::select(b"ABCDEFGHIJKLMNPQRSTUVWXYZ123456789".to_vec()), 0u32..10_000)
        .prop_map(|(c, n)| Facility::parse(&format!("{}{n:04}", c as char)).unwrap());
    let product = (prop::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ".to_vec()), 0u32..10_000)
        .prop_map(|(c, n)| ProductCode::parse(&format!("{}{n:04}", c as char)).unwrap());
    (facility, 0i32..100, 1u32..1_000_000, product, 0usize..261, 0u8..3).prop_map(|(f, year, seq, p, div, kind)| {
        let din = Id::donation(&f, year, seq);
        match kind {
            0 => (din, None),
            1 => (Id::batch(&din, &p), Some(p.as_str().to_string())),
            _ => {
                let division = division_code(div).unwrap_or_else(|| "00".into());
                (Id::unit(&Id::batch(&din, &p), &division), Some(p.as_str().to_string()))
            }
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_template_reads_back_exactly((id, product) in any_labelled_id()) {
        for template in ["cryovial-2x1", "cryovial-2x1-300", "bag-4x2", "bag-4x2-300"] {
            let l = label(id.clone(), product.clone());
            let (code128, matrix) = read_back(&l, template);
            prop_assert_eq!(&code128, &id.display(), "Code 128 on {}", template);
            let (back, back_product) = parse_datamatrix_payload(&matrix).expect("Data Matrix payload");
            prop_assert_eq!(&back, &id, "Data Matrix on {}", template);
            prop_assert_eq!(back_product, product.clone());
        }
    }
}

#[test]
fn the_svg_draws_the_same_bars_as_the_png() {
    let id = Id::parse("G151726000001F0003007").unwrap();
    let l = label(id, Some("F0003".into()));
    let templates = Templates::builtin();
    let layout = Layout::new(&l, templates.get("bag-4x2").unwrap()).unwrap();
    let svg = stoolbank::labels::render_svg(&layout);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let Some(Element::Code128 { x, y, module, modules, .. }) =
        layout.elements.iter().find(|e| matches!(e, Element::Code128 { .. }))
    else {
        panic!("no barcode")
    };
    // Every bar of the layout is one rect in the SVG, at the same place and width.
    let mut i = 0;
    while i < modules.len() {
        if modules[i] {
            let run = modules[i..].iter().take_while(|m| **m).count();
            let rect = format!(r#"<rect x="{}" y="{y}" width="{}""#, x + i as u32 * module, run as u32 * module);
            assert!(svg.contains(&rect), "missing {rect}");
            i += run;
        } else {
            i += 1;
        }
    }
    assert!(svg.contains("南京微生态菌群库"), "UTF-8 text is kept");
}

#[test]
fn a_template_too_small_for_the_barcode_is_refused_with_numbers() {
    let toml = "[[template]]\nname = \"tiny\"\nwidth_in = 1.0\nheight_in = 0.5\ndpi = 203\nmodule_dots = 2\n\
                barcode_height_dots = 30\nmatrix_module_dots = 2\nfont_dots = 12\nsmall_font_dots = 10\n";
    let templates = Templates::from_toml(toml).unwrap();
    let l = label(Id::parse("G151726000001F0003007").unwrap(), Some("F0003".into()));
    let err = Layout::new(&l, templates.get("tiny").unwrap()).unwrap_err().to_string();
    assert!(err.contains("needs") && err.contains("dots"), "{err}");
}
