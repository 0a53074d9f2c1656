//! Fonts for the previews and for text measurement in the layout: the embedded `DejaVu` Sans (its licence, in
//! `fonts/LICENSE`, allows embedding and redistribution), falling back to a system CJK font (`WenQuanYi`, Noto
//! CJK, Droid Sans Fallback) for characters `DejaVu` lacks. A character no font has is drawn as an empty box of
//! [`missing_width`], so a gap is visible rather than silently dropped.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, FontVec, GlyphId, PxScale, ScaleFont};

static DEJAVU_TTF: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

const CJK_FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
];

pub(crate) fn latin() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(DEJAVU_TTF).ok()).as_ref()
}

pub(crate) fn cjk() -> Option<&'static FontVec> {
    static FONT: OnceLock<Option<FontVec>> = OnceLock::new();
    FONT.get_or_init(|| {
        CJK_FONTS.iter().find_map(|p| std::fs::read(p).ok().and_then(|b| FontVec::try_from_vec_and_index(b, 0).ok()))
    })
    .as_ref()
}

/// Which font draws a character.
pub(crate) enum Face {
    Latin(GlyphId),
    Cjk(GlyphId),
    Missing,
}

pub(crate) fn face(c: char) -> Face {
    if let Some(f) = latin() {
        let id = f.glyph_id(c);
        if id.0 != 0 || c == ' ' {
            return Face::Latin(id);
        }
    }
    match cjk().map(|f| f.glyph_id(c)) {
        Some(id) if id.0 != 0 => Face::Cjk(id),
        _ => Face::Missing,
    }
}

/// Width of the box drawn for a character that no font has.
pub(crate) fn missing_width(height: u32) -> f32 {
    (height * 7 / 10) as f32 + 2.0
}

/// Advance of one character at a pixel height (bold text is struck twice, one dot apart).
pub(crate) fn advance(c: char, height: u32) -> f32 {
    let scale = PxScale::from(height as f32);
    match face(c) {
        Face::Latin(id) => latin().map_or(0.0, |f| f.as_scaled(scale).h_advance(id)),
        Face::Cjk(id) => cjk().map_or(0.0, |f| f.as_scaled(scale).h_advance(id)),
        Face::Missing => missing_width(height),
    }
}

/// Width of text in dots at a height, as the preview draws it. ZPL's scalable font 0 (CG Triumvirate Bold
/// Condensed) is narrower than `DejaVu` Sans, so text that fits the preview fits the printed label too.
pub fn text_width(text: &str, height: u32, bold: bool) -> u32 {
    let w: f32 = text.chars().map(|c| advance(c, height)).sum();
    w.ceil() as u32 + u32::from(bold)
}

/// Distance from the top of a line of text to its baseline, at a pixel height.
pub(crate) fn ascent(height: u32) -> f32 {
    latin().map_or(height as f32 * 0.8, |f| f.as_scaled(PxScale::from(height as f32)).ascent())
}
