//! Labels that scan back: PNG labels rendered for identifiers across the identifier space, decoded by a real
//! decoder (rxing), read back exactly — Code 128 with its check character, and the Data Matrix payload.

use proptest::prelude::*;
use rxing::BarcodeFormat;
use stoolbank::core::ids::{division_code, Facility, Id, ProductCode, RETAINED_DIVISION};
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
            let (sx, sy) = (
                i64::from(ox / zoom) - i64::from(margin) + i64::from(x),
                i64::from(oy / zoom) - i64::from(margin) + i64::from(y),
            );
            if sx >= i64::from(x) && sx < i64::from(x + rw) && sy >= i64::from(y) && sy < i64::from(y + rh) {
                out[(oy * ow + ox) as usize] = px[(sy as u32 * w + sx as u32) as usize];
            }
        }
    }
    (out, ow, oh)
}

fn decode(luma: Vec<u8>, w: u32, h: u32, format: BarcodeFormat) -> String {
    rxing::helpers::detect_in_luma(luma, w, h, Some(format)).map(|r| r.getText().to_string()).unwrap_or_default()
}

/// What the Code 128 (None on a template without one) and the Data Matrix read.
fn read_back(l: &Label, template: &str) -> (Option<String>, String) {
    let templates = Templates::builtin();
    let layout = Layout::new(l, templates.get(template).unwrap()).unwrap();
    let (px, w, _) = pixels(&render_png(&layout).unwrap());
    let mut code128 = None;
    let mut matrix = String::new();
    for e in &layout.elements {
        match e {
            Element::Code128 { x, y, module, height, modules, .. } => {
                let r = region(&px, w, (*x, *y, modules.len() as u32 * module, *height), 12 * module, 3);
                code128 = Some(decode(r.0, r.1, r.2, BarcodeFormat::CODE_128));
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
    // Kinds: donation, batch, dispensable unit (division A0..Z9), retained sample (division 00).
    (facility, 0i32..100, 0u32..1_000_000, product, 0usize..260, 0u8..4).prop_map(|(f, year, seq, p, div, kind)| {
        let din = Id::donation(&f, year, seq);
        let batch = Id::batch(&din, &p);
        let product = Some(p.as_str().to_string());
        match kind {
            0 => (din, None),
            1 => (batch, product),
            2 => (Id::unit(&batch, &division_code(div).unwrap_or_else(|| "Z9".into())), product),
            _ => (Id::unit(&batch, RETAINED_DIVISION), product),
        }
    })
}

fn templates_with_code128() -> Vec<&'static str> {
    ["cryovial-2x1-300", "bag-4x2", "bag-4x2-300"].to_vec()
}

proptest! {
    // 48 identifiers × 4 templates (both sizes, both resolutions): 192 labels decoded twice each.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_template_reads_back_exactly((id, product) in any_labelled_id()) {
        for template in ["cryovial-2x1", "cryovial-2x1-300", "bag-4x2", "bag-4x2-300"] {
            let l = label(id.clone(), product.clone());
            let (code128, matrix) = read_back(&l, template);
            let has_code128 = templates_with_code128().contains(&template);
            prop_assert_eq!(code128, has_code128.then(|| id.display()), "Code 128 on {}", template);
            let (back, back_product) = parse_datamatrix_payload(&matrix).expect("Data Matrix payload");
            prop_assert_eq!(&back, &id, "Data Matrix on {}", template);
            prop_assert_eq!(back_product, product.clone());
        }
    }
}

/// The Code 128 modules as drawn in the PNG: one sample in the middle of each module, on the middle row.
fn png_modules(px: &[u8], w: u32, (x, y, module, height, n): (u32, u32, u32, u32, usize)) -> Vec<bool> {
    let row = y + height / 2;
    (0..n as u32).map(|i| px[(row * w + x + i * module + module / 2) as usize] < 128).collect()
}

/// The Code 128 modules as drawn in the SVG: the bars (black rects at the barcode's top) mapped back to modules.
fn svg_modules(svg: &str, (x, y, module, n): (u32, u32, u32, usize)) -> Vec<bool> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    let mut modules = vec![false; n];
    let num = |node: &roxmltree::Node, a: &str| node.attribute(a).and_then(|v| v.parse::<u32>().ok());
    for r in doc.descendants().filter(|n| n.has_tag_name("rect") && n.attribute("fill").is_none()) {
        let (Some(rx), Some(ry), Some(rw)) = (num(&r, "x"), num(&r, "y"), num(&r, "width")) else { continue };
        if ry != y || rx < x || (rx - x) % module != 0 || rw % module != 0 {
            continue;
        }
        for m in (rx - x) / module..(rx - x + rw) / module {
            if let Some(slot) = modules.get_mut(m as usize) {
                *slot = true;
            }
        }
    }
    modules
}

#[test]
fn the_svg_draws_the_same_bars_as_the_png() {
    let templates = Templates::builtin();
    for (text, product) in [("G151726000001F000300", Some("F0003")), ("1517260000016", None)] {
        let id = Id::parse(&format!("{text}{}", stoolbank::core::ids::check_char(text).unwrap())).unwrap();
        let l = label(id.clone(), product.map(str::to_string));
        for t in &templates.template {
            let layout = Layout::new(&l, t).unwrap();
            let svg = stoolbank::labels::render_svg(&layout);
            let (px, w, _) = pixels(&render_png(&layout).unwrap());
            let Some(Element::Code128 { x, y, module, height, modules, .. }) =
                layout.elements.iter().find(|e| matches!(e, Element::Code128 { .. }))
            else {
                assert!(!templates_with_code128().contains(&t.name.as_str()), "no Code 128 on {}", t.name);
                continue;
            };
            let from_png = png_modules(&px, w, (*x, *y, *module, *height, modules.len()));
            let from_svg = svg_modules(&svg, (*x, *y, *module, modules.len()));
            assert_eq!(&from_png, modules, "PNG bars of {id} on {}", t.name);
            assert_eq!(from_svg, from_png, "SVG bars of {id} on {}", t.name);
            // The quiet zones either side are white in the PNG.
            let row = (y + height / 2) * w;
            let quiet = 10 * module;
            assert!((x - quiet..*x).all(|c| px[(row + c) as usize] == 255), "left quiet zone on {}", t.name);
            let end = x + modules.len() as u32 * module;
            assert!((end..end + quiet).all(|c| px[(row + c) as usize] == 255), "right quiet zone on {}", t.name);
            assert!(svg.contains("南京微生态菌群库"), "UTF-8 text is kept");
        }
    }
}

#[test]
fn a_template_too_small_for_the_barcode_is_refused_with_numbers() {
    let toml = "[[template]]\nname = \"tiny\"\nwidth_in = 1.5\nheight_in = 1.0\ndpi = 203\nmodule_dots = 2\n\
                barcode_height_dots = 30\nmatrix_module_dots = 2\nfont_dots = 12\nsmall_font_dots = 10\n";
    let err = Templates::from_toml(toml).unwrap_err().to_string();
    assert!(err.contains("template tiny is too small") && err.contains("2-dot Code 128 module"), "{err}");
    assert!(err.contains("dots across but the label is 305"), "{err}");
}

#[test]
fn text_that_would_be_cut_is_refused_not_dropped() {
    let templates = Templates::builtin();
    let mut l = label(Id::parse("G151726000001F0003007").unwrap(), Some("F0003".into()));
    l.title = "RETAINED SAMPLE - NOT FOR CLINICAL USE - ".repeat(3);
    let err = Layout::new(&l, templates.get("cryovial-2x1").unwrap()).unwrap_err().to_string();
    assert!(err.contains("does not fit") && err.contains("RETAINED SAMPLE"), "{err}");
    // A long bank name or description is shortened instead, and the label still renders.
    let mut l = label(Id::parse("G151726000001F0003007").unwrap(), Some("F0003".into()));
    l.bank_name = "A very long bank name ".repeat(10);
    let layout = Layout::new(&l, templates.get("cryovial-2x1").unwrap()).unwrap();
    assert!(layout.elements.iter().any(|e| matches!(e, Element::Text { text, .. } if text.ends_with('…'))));
}

#[test]
fn a_wrong_product_code_is_refused_before_rendering() {
    let templates = Templates::builtin();
    let l = label(Id::parse("G151726000001F0003007").unwrap(), Some("F0001".into()));
    let err = Layout::new(&l, templates.get("bag-4x2").unwrap()).unwrap_err().to_string();
    assert!(err.contains("product F0001") && err.contains("another product"), "{err}");
}
