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

/// One synthetic COVID-19 dose, as a VRS export would carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthDose {
    /// 1st, 2nd, ...
    pub dose_number: u32,
    /// Vaccination date.
    pub date: Date,
    /// When it was registered in VRS: `YYYYMMDDHHMMSS`.
    pub registered: String,
    /// Maker as VRS names it.
    pub maker: &'static str,
    /// Lot number in the maker's format.
    pub lot: String,
    /// Venue name.
    pub venue: &'static str,
    /// Doctor's name.
    pub doctor: &'static str,
}

/// Makers as VRS names them, and how each writes its lot numbers.
type LotFormat = fn(&mut SplitMix) -> String;
const MAKERS: &[(&str, LotFormat)] = &[
    ("ファイザー", |r| {
        format!(
            "F{}{:04}",
            (b'A' + r.below(12) as u8) as char,
            r.below(10_000)
        )
    }),
    ("モデルナ", |r| format!("3{:06}", r.below(1_000_000))),
    ("武田", |r| format!("TAK{:04}", r.below(10_000))),
    ("第一三共", |r| format!("DS{:06}", r.below(1_000_000))),
];

const VENUES: &[&str] = &[
    "藤沢市保健所",
    "湘南台集団接種会場",
    "辻堂クリニック",
    "鵠沼内科医院",
    "藤沢市民病院",
];
const DOCTORS: &[&str] = &[
    "佐藤 医師",
    "鈴木 医師",
    "高橋 医師",
    "田中 医師",
    "伊藤 医師",
];

/// The campaigns' windows (first day, days long) for doses 1 to 7: the
/// primary series in 2021, boosters in 2022-2024.
const DOSE_WINDOWS: [(i32, u32, u32, u32); 7] = [
    (2021, 4, 1, 240),
    (2021, 0, 0, 0), // dose 2 follows dose 1 by 21-28 days
    (2022, 1, 1, 150),
    (2022, 7, 1, 150),
    (2023, 5, 8, 120),
    (2023, 9, 20, 150),
    (2024, 10, 1, 90),
];

/// Synthetic dose histories, one list per resident (0-7 doses over
/// 2021-2024): older people took more boosters, children under 5 in 2021
/// none, and nobody after moving out or dying. Deterministic for a seed.
pub fn dose_histories(residents: &[Resident], seed: u64) -> Vec<Vec<SynthDose>> {
    let mut rng = SplitMix::new(seed ^ 0xD05E);
    let start = Date::new(2021, 4, 1).expect("valid").days_since_epoch();
    residents
        .iter()
        .map(|r| {
            let age = (start - r.birth_date.days_since_epoch()) / 365;
            if age < 5 {
                return Vec::new();
            }
            // How many doses, by age band: the older, the more boosters.
            let cap = match age {
                65.. => 7,
                40..=64 => 5,
                12..=39 => 4,
                _ => 3,
            };
            let roll = rng.below(100);
            let count = if roll < 15 {
                0
            } else {
                1 + rng.below(cap) as usize
            };
            let stop = [r.moved_out.as_ref().map(|m| m.0), r.died]
                .into_iter()
                .flatten()
                .min();
            let (maker, lot_of) = *rng.pick(MAKERS);
            let mut out: Vec<SynthDose> = Vec::new();
            for n in 0..count.min(7) {
                let date = match DOSE_WINDOWS[n] {
                    (_, 0, _, _) => Date::from_days_since_epoch(
                        out[n - 1].date.days_since_epoch() + 21 + rng.below(8) as i64,
                    ),
                    (y, m, d, len) => Date::from_days_since_epoch(
                        Date::new(y as u16, m as u8, d as u8)
                            .expect("valid")
                            .days_since_epoch()
                            + rng.below(u64::from(len)) as i64,
                    ),
                };
                if stop.is_some_and(|s| date >= s) {
                    break;
                }
                let registered =
                    Date::from_days_since_epoch(date.days_since_epoch() + rng.below(3) as i64);
                out.push(SynthDose {
                    dose_number: n as u32 + 1,
                    date,
                    registered: format!(
                        "{}{:02}{:02}{:02}{:02}{:02}",
                        registered.year,
                        registered.month,
                        registered.day,
                        9 + rng.below(9),
                        rng.below(60),
                        rng.below(60)
                    ),
                    maker,
                    lot: lot_of(&mut rng),
                    venue: VENUES[rng.below(VENUES.len() as u64) as usize],
                    doctor: DOCTORS[rng.below(DOCTORS.len() as u64) as usize],
                });
            }
            out
        })
        .collect()
}

/// The header of the VRS export layout (one dose per row).
pub const VRS_HEADER: &str =
    "宛名番号,登録日時,接種日,接種券番号,自治体コード,接種会場,医師名,ワクチンメーカー,ロット番号";

/// Doses as a VRS export of municipality `code` (UTF-8, matched by address
/// number: the export's ticket column is left empty).
pub fn to_vrs_csv(residents: &[Resident], histories: &[Vec<SynthDose>], code: &str) -> String {
    let mut out = String::from(VRS_HEADER);
    out.push('\n');
    for (r, doses) in residents.iter().zip(histories) {
        for d in doses {
            out.push_str(&format!(
                "{},{},{:04}{:02}{:02},,{code},{},{},{},{}\n",
                r.address_number,
                d.registered,
                d.date.year,
                d.date.month,
                d.date.day,
                d.venue,
                d.doctor,
                d.maker,
                d.lot
            ));
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

    #[test]
    fn dose_histories_are_realistic() {
        let today = Date::parse("2026-04-01").unwrap();
        let people = residents(5_000, 7, today);
        let histories = dose_histories(&people, 7);
        assert_eq!(histories, dose_histories(&people, 7));
        let counts: Vec<usize> = histories.iter().map(Vec::len).collect();
        assert!(counts.iter().all(|&c| c <= 7));
        assert!(counts.contains(&0) && counts.contains(&7));
        let first = Date::new(2021, 1, 1).unwrap();
        let last = Date::new(2024, 12, 31).unwrap();
        for (r, doses) in people.iter().zip(&histories) {
            for pair in doses.windows(2) {
                assert!(pair[0].date < pair[1].date);
                assert_eq!(pair[0].dose_number + 1, pair[1].dose_number);
            }
            for d in doses {
                assert!(d.date >= first && d.date <= last && d.date > r.birth_date);
                assert!(r.died.is_none_or(|x| d.date < x));
                assert!(!d.lot.is_empty() && d.registered.len() == 14);
            }
        }
        let csv = to_vrs_csv(&people, &histories, "142051");
        assert_eq!(csv.lines().count(), 1 + counts.iter().sum::<usize>());
    }
}
