//! Identifier check characters catch every single-character substitution and every adjacent transposition.

use proptest::prelude::*;
use stoolbank::core::ids::{division_code, Facility, Id, ProductCode};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn any_id() -> impl Strategy<Value = Id> {
    let facility = (prop::sample::select(b"ABCDEFGHIJKLMNPQRSTUVWXYZ123456789".to_vec()), 0u32..10_000)
        .prop_map(|(c, n)| Facility::parse(&format!("{}{n:04}", c as char)).unwrap());
    let product = (prop::sample::select(ALPHABET[10..].to_vec()), 0u32..10_000)
        .prop_map(|(c, n)| ProductCode::parse(&format!("{}{n:04}", c as char)).unwrap());
    (facility, 0i32..100, 1u32..1_000_000, product, 0usize..261, 0u8..5, 1u32..1_000_000).prop_map(
        |(f, year, seq, p, div, kind, n)| {
            let din = Id::donation(&f, year, seq);
            match kind {
                0 => Id::donor(n),
                1 => Id::recipient(n),
                2 => din,
                3 => Id::batch(&din, &p),
                _ => Id::unit(&Id::batch(&din, &p), &division_code(div).unwrap_or_else(|| "00".into())),
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn round_trips(id in any_id()) {
        prop_assert_eq!(Id::parse(&id.display()).unwrap(), id.clone());
        prop_assert_eq!(Id::parse(&id.eye_readable()).unwrap(), id);
    }

    #[test]
    fn every_substitution_is_caught(id in any_id(), pos in any::<prop::sample::Index>(), with in prop::sample::select(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*".to_vec())) {
        let good = id.display().into_bytes();
        let i = pos.index(good.len());
        prop_assume!(good[i] != with);
        let mut bad = good.clone();
        bad[i] = with;
        let typed = String::from_utf8(bad).unwrap();
        // Whatever the typo, it never parses as a (different) valid identifier.
        prop_assert!(Id::parse(&typed).is_err(), "{} accepted for {}", typed, id.display());
    }

    #[test]
    fn every_adjacent_transposition_is_caught(id in any_id(), pos in any::<prop::sample::Index>()) {
        let good = id.display().into_bytes();
        let i = pos.index(good.len() - 1);
        prop_assume!(good[i] != good[i + 1]);
        let mut bad = good.clone();
        bad.swap(i, i + 1);
        let typed = String::from_utf8(bad).unwrap();
        prop_assert!(Id::parse(&typed).is_err(), "{} accepted for {}", typed, id.display());
    }
}

/// Exhaustive over one identifier of each kind: every position, every character.
#[test]
fn exhaustive_single_substitutions() {
    let din = Id::donation(&Facility::parse("G1517").unwrap(), 2026, 1);
    let batch = Id::batch(&din, &ProductCode::parse("F0001").unwrap());
    for id in [Id::donor(12), Id::recipient(7), din.clone(), batch.clone(), Id::unit(&batch, "C3")] {
        let good = id.display().into_bytes();
        for i in 0..good.len() {
            for &c in b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*" {
                if c == good[i] {
                    continue;
                }
                let mut bad = good.clone();
                bad[i] = c;
                assert!(Id::parse(std::str::from_utf8(&bad).unwrap()).is_err());
            }
        }
    }
}
