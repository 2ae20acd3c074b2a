//! The one vocabulary of COVID-19 vaccine makers and products, for every
//! way a dose arrives (the counter, a VRS export, a Kiroku CSV, another
//! municipality) and every reader (search, statistics, certificates).
//! Doses store the maker's id (`pfizer`); earlier data may hold the
//! Japanese name VRS writes (`ファイザー`), which reads as the same maker.

use unicode_normalization::UnicodeNormalization;

/// Vaccines Kiroku records.
pub const VACCINES: &[&str] = &["covid-19"];

/// A maker authorised in Japan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Maker {
    /// What doses store: lowercase ASCII.
    pub id: &'static str,
    /// The name VRS exports and Japanese staff use.
    pub japanese: &'static str,
    /// The name in Latin letters (certificates).
    pub latin: &'static str,
    /// Other spellings accepted on input.
    pub aliases: &'static [&'static str],
    /// Its products: the Japanese then the Latin brand name.
    pub products: &'static [&'static str],
    /// The product in Latin letters (certificates).
    pub product_latin: &'static str,
    /// The CVX code of its COVID-19 vaccine (SMART Health Cards).
    pub cvx: &'static str,
}

/// Every maker, in a fixed order.
pub const MAKERS: &[Maker] = &[
    Maker {
        id: "pfizer",
        japanese: "ファイザー",
        latin: "Pfizer",
        aliases: &["pfizer-biontech", "biontech"],
        products: &["コミナティ", "comirnaty"],
        product_latin: "Comirnaty",
        cvx: "208",
    },
    Maker {
        id: "moderna",
        japanese: "モデルナ",
        latin: "Moderna",
        aliases: &["武田/モデルナ"],
        products: &["スパイクバックス", "spikevax"],
        product_latin: "Spikevax",
        cvx: "207",
    },
    Maker {
        id: "takeda",
        japanese: "武田",
        latin: "Takeda",
        aliases: &["武田薬品", "武田薬品工業", "novavax", "ノババックス"],
        products: &["ヌバキソビッド", "nuvaxovid"],
        product_latin: "Nuvaxovid",
        cvx: "211",
    },
    Maker {
        id: "astrazeneca",
        japanese: "アストラゼネカ",
        latin: "AstraZeneca",
        aliases: &[],
        products: &["バキスゼブリア", "vaxzevria"],
        product_latin: "Vaxzevria",
        cvx: "210",
    },
    Maker {
        id: "daiichi-sankyo",
        japanese: "第一三共",
        latin: "Daiichi Sankyo",
        aliases: &[],
        products: &["ダイチロナ", "daichirona"],
        product_latin: "Daichirona",
        cvx: "213",
    },
    Maker {
        id: "meiji-seika",
        japanese: "Meiji Seikaファルマ",
        latin: "Meiji Seika Pharma",
        aliases: &["明治製菓", "meiji-seika-pharma", "meiji"],
        products: &["コスタイベ", "kostaive"],
        product_latin: "Kostaive",
        cvx: "213",
    },
];

/// Width-folded, lowercase, without spaces, `_`, `-` or `・`. `None`
/// for text with a control or format character (a BOM, a zero-width
/// space): those are never part of a maker's name.
fn folded(value: &str) -> Option<String> {
    // NFKC leaves ASCII as it is: skip it for the common case (ids and
    // Latin names), which every dose read and imported row asks for.
    if value.is_ascii() {
        if value.bytes().any(|b| b.is_ascii_control()) {
            return None;
        }
        return Some(
            value
                .trim()
                .bytes()
                .filter(|b| !matches!(b, b' ' | b'_' | b'-'))
                .map(|b| char::from(b.to_ascii_lowercase()))
                .collect(),
        );
    }
    folded_unicode(value)
}

fn folded_unicode(value: &str) -> Option<String> {
    let wide: String = value.nfkc().collect();
    if wide.chars().any(|c| c.is_control() || is_format(c)) {
        return None;
    }
    let trimmed = wide.trim();
    Some(
        trimmed
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-' | '・'))
            .flat_map(char::to_lowercase)
            .collect(),
    )
}

/// Unicode format characters that NFKC keeps (BOM, zero-width joiners,
/// bidi controls).
fn is_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}')
}

/// Every name of every maker and product, folded once.
struct Folded {
    /// (folded name, maker) for ids, Japanese and Latin names and aliases.
    names: Vec<(String, &'static Maker)>,
    /// (folded product, product as written, maker id).
    products: Vec<(String, &'static str, &'static str)>,
}

fn table() -> &'static Folded {
    static TABLE: std::sync::LazyLock<Folded> = std::sync::LazyLock::new(|| {
        let fold = |name: &str| folded(name).expect("the table's names fold");
        let mut names = Vec::new();
        let mut products = Vec::new();
        for m in MAKERS {
            for name in [m.id, m.japanese, m.latin].iter().chain(m.aliases) {
                names.push((fold(name), m));
            }
            for p in m.products {
                products.push((fold(p), *p, m.id));
            }
        }
        Folded { names, products }
    });
    &TABLE
}

/// The maker `value` names (its id, Japanese or Latin name, or an alias,
/// in any width or case), or `None`.
pub fn maker(value: &str) -> Option<&'static Maker> {
    // Stored doses hold the id: no folding needed for them.
    if let Some(m) = MAKERS.iter().find(|m| m.id == value) {
        return Some(m);
    }
    let v = folded(value)?;
    table().names.iter().find(|(n, _)| *n == v).map(|(_, m)| *m)
}

/// The maker's id for a stored or queried value: known makers compare by
/// id, anything else by its text as it is.
pub fn maker_key(value: &str) -> &str {
    maker(value).map_or(value, |m| m.id)
}

/// The product of `maker` that `value` names, as written in the table.
pub fn product(maker: &Maker, value: &str) -> Option<&'static str> {
    let v = folded(value)?;
    table()
        .products
        .iter()
        .find(|(p, _, id)| *id == maker.id && *p == v)
        .map(|(_, written, _)| *written)
}

/// The known makers' ids, for error messages.
pub fn maker_ids() -> String {
    MAKERS.iter().map(|m| m.id).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_names_one_maker() {
        for v in [
            "pfizer",
            "Pfizer",
            " PFIZER ",
            "ファイザー",
            "ﾌｧｲｻﾞｰ",
            "ｐｆｉｚｅｒ",
        ] {
            assert_eq!(maker(v).map(|m| m.id), Some("pfizer"), "{v}");
        }
        assert_eq!(
            maker("Daiichi Sankyo").map(|m| m.id),
            Some("daiichi-sankyo")
        );
        assert_eq!(
            maker("daiichi_sankyo").map(|m| m.id),
            Some("daiichi-sankyo")
        );
        assert_eq!(maker("武田").map(|m| m.id), Some("takeda"));
        assert_eq!(
            maker("Meiji Seika ファルマ").map(|m| m.id),
            Some("meiji-seika")
        );
    }

    #[test]
    fn unknown_and_disguised_makers_are_refused() {
        for v in [
            "acme",
            "",
            "ファイ\u{FEFF}ザー",
            "\u{FEFF}pfizer",
            "pfi\u{200B}zer",
            "pfizer\n",
            "ファイザ",
        ] {
            assert_eq!(maker(v), None, "{v:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn ascii_folds_as_unicode_does(s in "[ -~\\t\\n\\x00\\x7f]{0,24}") {
            proptest::prop_assert_eq!(folded(&s), folded_unicode(&s));
        }
    }

    #[test]
    fn products_belong_to_their_maker() {
        let pfizer = maker("pfizer").unwrap();
        assert_eq!(product(pfizer, "Comirnaty"), Some("comirnaty"));
        assert_eq!(product(pfizer, "コミナティ"), Some("コミナティ"));
        assert_eq!(product(pfizer, "spikevax"), None);
        assert_eq!(maker_key("ファイザー"), "pfizer");
        assert_eq!(maker_key("unknown maker"), "unknown maker");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Every name of every maker, with the maker it names.
    fn names() -> Vec<(&'static str, &'static str)> {
        MAKERS
            .iter()
            .flat_map(|m| {
                [m.id, m.japanese, m.latin]
                    .into_iter()
                    .chain(m.aliases.iter().copied())
                    .map(move |n| (n, m.id))
            })
            .collect()
    }

    /// Full width for ASCII letters and digits, as spreadsheets write them.
    fn full_width(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
                c => c,
            })
            .collect()
    }

    proptest! {
        /// Case, width, spaces and separators do not change the maker.
        #[test]
        fn a_maker_is_found_however_it_is_written(
            pick in any::<prop::sample::Index>(),
            upper in any::<bool>(),
            wide in any::<bool>(),
            at in any::<prop::sample::Index>(),
            sep in prop::sample::select(vec![" ", "-", "_", "・", "\u{3000}"]),
        ) {
            let all = names();
            let (name, id) = all[pick.index(all.len())];
            let mut written = if upper { name.to_uppercase() } else { name.to_owned() };
            let cut = written.char_indices().map(|(i, _)| i).nth(at.index(written.chars().count())).unwrap_or(0);
            written.insert_str(cut, sep);
            if wide {
                written = full_width(&written);
            }
            prop_assert_eq!(maker(&written).map(|m| m.id), Some(id), "{}", written);
        }

        /// A control or invisible character anywhere: not a maker.
        #[test]
        fn a_hidden_character_is_never_a_maker(
            pick in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            hidden in prop::sample::select(vec!['\u{0007}', '\u{200B}', '\u{FEFF}', '\u{202E}', '\u{0000}']),
        ) {
            let all = names();
            let (name, _) = all[pick.index(all.len())];
            let mut written = name.to_owned();
            let cut = written.char_indices().map(|(i, _)| i).nth(at.index(written.chars().count())).unwrap_or(0);
            written.insert(cut, hidden);
            prop_assert!(maker(&written).is_none(), "{:?}", written);
        }
    }
}
