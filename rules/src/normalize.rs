//! Normalisation of names for lookup, so that staff typing at a counter find
//! the person however the registry wrote the name: full-width vs half-width,
//! hiragana vs katakana, small vs large kana (older systems stored only
//! large), spaces, and common variant kanji (異体字).

use unicode_normalization::UnicodeNormalization;

/// The form registries commonly use today for a variant kanji (a `match`,
/// not a table scan: this runs for every character searched).
fn common_kanji(c: char) -> char {
    match c {
        '髙' => '高',
        '﨑' | '嵜' => '崎',
        '邊' | '邉' => '辺',
        '濵' | '濱' => '浜',
        '齋' => '斎',
        '齊' => '斉',
        '澤' => '沢',
        '櫻' => '桜',
        '嶋' | '嶌' => '島',
        '國' => '国',
        '廣' => '広',
        '德' => '徳',
        '惠' => '恵',
        '實' => '実',
        '眞' => '真',
        '榮' => '栄',
        '藏' => '蔵',
        '龍' => '竜',
        '瀨' => '瀬',
        '槇' => '槙',
        c => c,
    }
}

/// The large kana older systems wrote for a small one.
fn large_kana(c: char) -> char {
    match c {
        'ァ' => 'ア',
        'ィ' => 'イ',
        'ゥ' => 'ウ',
        'ェ' => 'エ',
        'ォ' => 'オ',
        'ッ' => 'ツ',
        'ャ' => 'ヤ',
        'ュ' => 'ユ',
        'ョ' => 'ヨ',
        'ヮ' => 'ワ',
        'ヵ' => 'カ',
        'ヶ' => 'ケ',
        c => c,
    }
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '・' | '･' | '.' | ',' | '、' | '。')
}

/// The form under which a name is indexed and searched.
pub fn name_key(name: &str) -> String {
    name.nfkc()
        .filter(|c| !is_separator(*c))
        .map(|c| {
            // Hiragana to katakana: the blocks are 0x60 apart.
            let c = if ('\u{3041}'..='\u{3096}').contains(&c) {
                char::from_u32(c as u32 + 0x60).unwrap_or(c)
            } else {
                c
            };
            common_kanji(large_kana(c)).to_ascii_uppercase()
        })
        .collect()
}

/// Trims and applies NFKC: what every stored string goes through, so that
/// full-width digits and half-width kana never reach storage.
pub fn clean(value: &str) -> String {
    let value = value.trim();
    // NFKC leaves ASCII as it is; most stored values (dates, lots, ids,
    // numbers) are ASCII and every written field passes here.
    if value.is_ascii() {
        return value.to_owned();
    }
    value.nfkc().collect::<String>().trim().to_owned()
}

/// Normalises each line of a newline-separated list of names and returns
/// the total length of the keys. Used by the native-vs-wasm benchmark as a
/// piece of table-driven text logic.
pub fn name_keys_len(names: &str) -> usize {
    names.lines().map(|n| name_key(n).len()).sum()
}

#[cfg(test)]
mod tests {
    use super::{clean, name_key};
    use unicode_normalization::UnicodeNormalization;

    proptest::proptest! {
        #[test]
        fn ascii_cleans_as_nfkc_does(s in "[ -~\\t\\n\\r]{0,24}") {
            let slow = s.trim().nfkc().collect::<String>().trim().to_owned();
            proptest::prop_assert_eq!(clean(&s), slow);
        }
    }

    #[test]
    fn width_kana_small_kana_and_spaces_do_not_matter() {
        let registry = name_key("フジサワ　キョウコ");
        assert_eq!(name_key("ﾌｼﾞｻﾜ ｷｮｳｺ"), registry);
        assert_eq!(name_key("ふじさわ きょうこ"), registry);
        assert_eq!(name_key("フジサワキヨウコ"), registry);
    }

    #[test]
    fn variant_kanji_match_their_common_form() {
        assert_eq!(name_key("髙橋 邊"), name_key("高橋辺"));
        assert_eq!(name_key("山﨑"), name_key("山崎"));
        assert_ne!(name_key("斎藤"), name_key("斉藤"));
    }

    #[test]
    fn latin_letters_are_case_and_width_insensitive() {
        assert_eq!(
            name_key("ＦＵＪＩＳＡＷＡ Hanako"),
            name_key("fujisawa HANAKO")
        );
    }
}
