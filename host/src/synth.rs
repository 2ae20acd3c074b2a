//! Synthetic residents for the demo, tests and benchmarks: realistic kanji
//! and kana names and Fujisawa addresses, valid My Number check digits,
//! birth dates spread over ages 0-100. Deterministic for a seed. None of it
//! is anyone's real data.

use kiroku_rules::Date;
use serde_json::{Value, json};

/// A small deterministic generator (SplitMix64): reproducible data without
/// pulling a random-number crate into the data model.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One element of a slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Common surnames: kanji and katakana.
const SURNAMES: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("山下", "ヤマシタ"),
    ("中島", "ナカジマ"),
    ("石井", "イシイ"),
    ("小川", "オガワ"),
    ("前田", "マエダ"),
    ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"),
    ("藤田", "フジタ"),
    ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"),
    ("村上", "ムラカミ"),
    ("遠藤", "エンドウ"),
    ("青木", "アオキ"),
    ("坂本", "サカモト"),
    ("髙橋", "タカハシ"),
    ("渡邊", "ワタナベ"),
    ("齋藤", "サイトウ"),
    ("福田", "フクダ"),
    ("太田", "オオタ"),
];

/// Given names (kanji, katakana), by registry sex code 1 (male) and 2 (female).
const MALE_NAMES: &[(&str, &str)] = &[
    ("翔太", "ショウタ"),
    ("大輔", "ダイスケ"),
    ("健一", "ケンイチ"),
    ("誠", "マコト"),
    ("蓮", "レン"),
    ("陽翔", "ハルト"),
    ("悠真", "ユウマ"),
    ("湊", "ミナト"),
    ("拓也", "タクヤ"),
    ("浩", "ヒロシ"),
    ("茂", "シゲル"),
    ("清", "キヨシ"),
    ("勇", "イサム"),
    ("和夫", "カズオ"),
    ("隆", "タカシ"),
    ("修", "オサム"),
    ("直樹", "ナオキ"),
    ("亮", "リョウ"),
    ("駿", "シュン"),
    ("一郎", "イチロウ"),
];
const FEMALE_NAMES: &[(&str, &str)] = &[
    ("陽子", "ヨウコ"),
    ("恵子", "ケイコ"),
    ("京子", "キョウコ"),
    ("美咲", "ミサキ"),
    ("陽菜", "ヒナ"),
    ("結衣", "ユイ"),
    ("葵", "アオイ"),
    ("凛", "リン"),
    ("さくら", "サクラ"),
    ("花子", "ハナコ"),
    ("幸子", "サチコ"),
    ("和子", "カズコ"),
    ("洋子", "ヨウコ"),
    ("由美", "ユミ"),
    ("優子", "ユウコ"),
    ("芽依", "メイ"),
    ("千尋", "チヒロ"),
    ("直美", "ナオミ"),
    ("彩", "アヤ"),
    ("智子", "トモコ"),
];

/// Fujisawa towns with their postal codes.
const TOWNS: &[(&str, &str)] = &[
    ("藤沢", "2510052"),
    ("鵠沼海岸", "2510037"),
    ("鵠沼石上", "2510025"),
    ("辻堂", "2510047"),
    ("辻堂元町", "2510043"),
    ("湘南台", "2520804"),
    ("善行", "2510871"),
    ("片瀬", "2510032"),
    ("片瀬海岸", "2510035"),
    ("江の島", "2510036"),
    ("長後", "2520802"),
    ("亀井野", "2520813"),
    ("本町", "2510053"),
    ("大庭", "2510861"),
    ("遠藤", "2520816"),
    ("石川", "2520815"),
    ("村岡東", "2510002"),
    ("渡内", "2510001"),
    ("辻堂東海岸", "2510046"),
    ("鵠沼桜が岡", "2510027"),
];

const BUILDINGS: &[&str] = &[
    "湘南ハイツ",
    "コーポ藤沢",
    "グランシーナ辻堂",
    "メゾン鵠沼",
    "パークハウス湘南台",
];

/// Where people who moved out went.
const DESTINATIONS: &[&str] = &[
    "神奈川県横浜市中区山下町1番地",
    "東京都世田谷区三軒茶屋二丁目3番4号",
    "神奈川県鎌倉市由比ガ浜三丁目5番6号",
    "静岡県静岡市葵区追手町9番6号",
    "大阪府大阪市北区中之島一丁目3番20号",
];

/// One synthetic resident as the registry feed would carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resident {
    /// 10-digit address number.
    pub address_number: String,
    /// 12-digit My Number with a valid check digit.
    pub my_number: String,
    /// Katakana name, family and given separated by a full-width space.
    pub kana_name: String,
    /// Kanji name, family and given separated by a full-width space.
    pub kanji_name: String,
    /// Birth date.
    pub birth_date: Date,
    /// `1` male, `2` female.
    pub sex: &'static str,
    /// 7-digit postal code.
    pub postal_code: &'static str,
    /// Address in Fujisawa.
    pub address: String,
    /// Building and room, for some.
    pub building: Option<String>,
    /// Phone number.
    pub phone: String,
    /// `Some((date, destination))` for those who moved out.
    pub moved_out: Option<(Date, String)>,
    /// `Some(date)` for those who died.
    pub died: Option<Date>,
}

impl Resident {
    /// The resident-sync `add` record (JSON).
    pub fn add_record(&self) -> Value {
        let mut r = json!({
            "op": "add",
            "address_number": self.address_number,
            "my_number": self.my_number,
            "kana_name": self.kana_name,
            "kanji_name": self.kanji_name,
            "birth_date": self.birth_date.to_string(),
            "sex": self.sex,
            "postal_code": self.postal_code,
            "address": self.address,
            "phone": self.phone,
        });
        if let Some(b) = &self.building {
            r["building"] = json!(b);
        }
        r
    }

    /// The status-change records that follow the `add` (move-out, death).
    pub fn change_records(&self) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some((date, dest)) = &self.moved_out {
            out.push(
                json!({"op": "move-out", "address_number": self.address_number,
                            "date": date.to_string(), "destination": dest}),
            );
        }
        if let Some(date) = self.died {
            out.push(json!({"op": "death", "address_number": self.address_number, "date": date.to_string()}));
        }
        out
    }
}

/// Generates `count` residents for seed `seed`, with birth dates over ages
/// 0-100 as of `today`. About 1% moved out and 0.5% died.
pub fn residents(count: usize, seed: u64, today: Date) -> Vec<Resident> {
    let mut rng = SplitMix::new(seed);
    let mut used_my_numbers = std::collections::HashSet::new();
    let today_days = today.days_since_epoch();
    (0..count)
        .map(|i| {
            let (family_kanji, family_kana) = *rng.pick(SURNAMES);
            let sex = if rng.below(2) == 0 { "1" } else { "2" };
            let (given_kanji, given_kana) =
                *rng.pick(if sex == "1" { MALE_NAMES } else { FEMALE_NAMES });
            let age_days = rng.below(101 * 365) as i64;
            let birth_date = Date::from_days_since_epoch(today_days - age_days);
            let (town, postal_code) = *rng.pick(TOWNS);
            let address = format!(
                "神奈川県藤沢市{town}{}丁目{}番{}号",
                1 + rng.below(5),
                1 + rng.below(30),
                1 + rng.below(20)
            );
            let building = (rng.below(4) == 0).then(|| {
                format!(
                    "{}{}号室",
                    rng.pick(BUILDINGS),
                    101 + rng.below(8) * 100 + rng.below(10)
                )
            });
            let phone = if rng.below(2) == 0 {
                format!("0466-{:02}-{:04}", 20 + rng.below(80), rng.below(10_000))
            } else {
                format!("090-{:04}-{:04}", rng.below(10_000), rng.below(10_000))
            };
            let my_number = loop {
                let mut digits = [0u8; 11];
                for d in digits.iter_mut() {
                    *d = b'0' + rng.below(10) as u8;
                }
                let full = kiroku_rules::my_number::complete(&digits);
                let s = String::from_utf8(full.to_vec()).expect("ASCII digits");
                if used_my_numbers.insert(s.clone()) {
                    break s;
                }
            };
            let roll = rng.below(1000);
            let status_day =
                || Date::from_days_since_epoch(today_days - 1 - (age_days / 3).min(900));
            let moved_out =
                (roll < 10).then(|| (status_day(), (*rng.pick(DESTINATIONS)).to_owned()));
            let died = (10..15).contains(&roll).then(status_day);
            Resident {
                address_number: format!("{:010}", 1_000_000_000u64 + i as u64 * 7 + seed % 7),
                my_number,
                kana_name: format!("{family_kana}　{given_kana}"),
                kanji_name: format!("{family_kanji}　{given_kanji}"),
                birth_date,
                sex,
                postal_code,
                address,
                building,
                phone,
                moved_out,
                died,
            }
        })
        .collect()
}

/// The header of the resident-sync CSV layout.
pub const CSV_HEADER: &str = "op,address_number,my_number,kana_name,kanji_name,birth_date,sex,postal_code,address,building,phone,date,destination";

/// Residents as a resident-sync CSV feed (adds, then status changes).
pub fn to_csv(residents: &[Resident]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in residents {
        out.push_str(&format!(
            "add,{},{},{},{},{},{},{},{},{},{},,\n",
            r.address_number,
            r.my_number,
            r.kana_name,
            r.kanji_name,
            r.birth_date,
            r.sex,
            r.postal_code,
            r.address,
            r.building.as_deref().unwrap_or(""),
            r.phone
        ));
    }
    for r in residents {
        if let Some((date, dest)) = &r.moved_out {
            out.push_str(&format!(
                "move-out,{},,,,,,,,,,{date},{dest}\n",
                r.address_number
            ));
        }
        if let Some(date) = r.died {
            out.push_str(&format!("death,{},,,,,,,,,,{date},\n", r.address_number));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_valid_distinct_residents_deterministically() {
        let today = Date::parse("2026-04-01").unwrap();
        let a = residents(2_000, 7, today);
        assert_eq!(a, residents(2_000, 7, today));
        let numbers: std::collections::HashSet<_> = a.iter().map(|r| &r.my_number).collect();
        let addresses: std::collections::HashSet<_> = a.iter().map(|r| &r.address_number).collect();
        assert_eq!((numbers.len(), addresses.len()), (2_000, 2_000));
        for r in &a {
            assert!(kiroku_rules::my_number::validate(&r.my_number).is_ok());
            let age = r.birth_date.age_on(today);
            assert!((0..=100).contains(&age), "{age}");
        }
        let oldest = a.iter().map(|r| r.birth_date.age_on(today)).max().unwrap();
        assert!(oldest >= 95, "ages should reach about 100, got {oldest}");
        assert!(a.iter().any(|r| r.moved_out.is_some()) && a.iter().any(|r| r.died.is_some()));
    }
}
