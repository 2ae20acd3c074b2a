//! What a certificate says: the person (kanji name at home, the passport's
//! romanised name abroad) and their completed COVID-19 doses, as the SHC
//! FHIR Bundle and the VDS-NC message. Vaccines are coded in CVX for the
//! card and ICD-11 for VDS-NC; inside VDS-NC everything is ASCII.

use kiroku_cards::fhir::{self, CVX, Immunization, Patient};
use serde_json::{Value, json};

use crate::bindings::exports::kiroku::plugin::handler::Error;
use crate::bindings::kiroku::certificates::certificates::Kind;
use crate::bindings::kiroku::records::doses::{self, DoseField};
use crate::bindings::kiroku::records::passport::{self, PassportField};
use crate::bindings::kiroku::records::residents::{self, ResidentField};
use crate::host;

/// One dose as printed and signed.
#[derive(Debug, Clone)]
pub struct Dose {
    pub number: u32,
    pub date: String,
    pub maker: String,
    pub product: String,
    pub lot: String,
    pub facility: String,
    pub cvx: &'static str,
}

/// The composed content of one certificate.
#[derive(Debug, Clone)]
pub struct Card {
    pub kind: Kind,
    pub kanji_name: String,
    pub romanised_name: Option<String>,
    pub passport_number: Option<String>,
    pub birth_date: String,
    pub doses: Vec<Dose>,
    pub bundle: Value,
    pub vds_message: Option<Value>,
}

/// Maker (as recorded, by the one vocabulary) -> (CVX code, Latin maker,
/// Latin product).
fn vaccine(maker: &str) -> (&'static str, &'static str, &'static str) {
    match kiroku_rules::vaccine::maker(maker) {
        Some(m) => (m.cvx, m.latin, m.product_latin),
        None => ("213", "Other", "COVID-19 vaccine"),
    }
}

fn split_name(name: &str) -> (String, Vec<String>) {
    let mut parts = name.split([' ', '\u{3000}']).filter(|p| !p.is_empty());
    let family = parts.next().unwrap_or("").to_owned();
    (family, parts.map(str::to_owned).collect())
}

fn doses_of(person: u64) -> Result<Vec<Dose>, Error> {
    let fields = [
        DoseField::DoseNumber,
        DoseField::Date,
        DoseField::Vaccine,
        DoseField::Maker,
        DoseField::Product,
        DoseField::Lot,
        DoseField::FacilityCode,
    ];
    let mut out: Vec<Dose> = doses::for_person(person, &fields)
        .map_err(host)?
        .into_iter()
        .filter(|d| d.vaccine.as_deref().is_none_or(|v| v == "covid-19"))
        .filter_map(|d| {
            let maker = d.maker.unwrap_or_default();
            let (cvx, _, product) = vaccine(&maker);
            Some(Dose {
                number: d.dose_number?,
                date: d.date?,
                product: d
                    .product
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| product.to_owned()),
                maker,
                lot: d.lot.unwrap_or_default(),
                facility: d.facility_code.unwrap_or_default(),
                cvx,
            })
        })
        .collect();
    out.sort_by(|a, b| a.date.cmp(&b.date).then(a.number.cmp(&b.number)));
    Ok(out)
}

/// Reads the person and their doses and composes the certificate.
pub fn compose(person: u64, kind: Kind) -> Result<Card, Error> {
    let fields = [
        ResidentField::KanjiName,
        ResidentField::BirthDate,
        ResidentField::Sex,
    ];
    let r = residents::get(person, &fields).map_err(host)?;
    let sex = match r.sex.as_deref() {
        Some("1") => "M",
        Some("2") => "F",
        _ => "X",
    };
    let kanji_name = r.kanji_name.unwrap_or_default();
    let birth_date = r.birth_date.unwrap_or_default();
    let doses = doses_of(person)?;
    if doses.is_empty() {
        return Err(Error::Conflict(
            "the person has no recorded COVID-19 dose to certify".into(),
        ));
    }
    let (mut romanised_name, mut passport_number) = (None, None);
    if kind == Kind::Overseas {
        let p = passport::get(
            person,
            &[PassportField::RomanizedName, PassportField::PassportNumber],
        )
        .map_err(host)?;
        let missing: Vec<&str> = [
            ("romanised_name", p.romanized_name.is_none()),
            ("passport_number", p.passport_number.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(f, _)| *f)
        .collect();
        if !missing.is_empty() {
            return Err(Error::Conflict(format!(
                "an overseas certificate needs the person's passport data; missing: {} (register it with register-passport)",
                missing.join(", ")
            )));
        }
        romanised_name = p.romanized_name;
        passport_number = p.passport_number;
    }
    let card_name = romanised_name.clone().unwrap_or_else(|| kanji_name.clone());
    let bundle = bundle(&card_name, &birth_date, &doses);
    let vds_message = romanised_name.as_ref().map(|n| {
        vds_message(
            n,
            &birth_date,
            sex,
            passport_number.as_deref().unwrap_or(""),
            &doses,
        )
    });
    Ok(Card {
        kind,
        kanji_name,
        romanised_name,
        passport_number,
        birth_date,
        doses,
        bundle,
        vds_message,
    })
}

fn bundle(name: &str, birth_date: &str, doses: &[Dose]) -> Value {
    let (family, given) = split_name(name);
    let patient = Patient {
        family,
        given,
        birth_date: birth_date.to_owned(),
    };
    let immunizations: Vec<Immunization> = doses
        .iter()
        .map(|d| Immunization {
            date: d.date.clone(),
            code: d.cvx.to_owned(),
            system: CVX.to_owned(),
            lot: (!d.lot.is_empty()).then(|| d.lot.clone()),
            performer: (!d.facility.is_empty()).then(|| format!("Medical facility {}", d.facility)),
        })
        .collect();
    fhir::bundle(&patient, &immunizations)
}

fn ascii(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii() && *c != '/').collect()
}

fn vds_message(
    name: &str,
    birth_date: &str,
    sex: &str,
    passport_number: &str,
    doses: &[Dose],
) -> Value {
    let mut events: Vec<(&str, Vec<Value>)> = Vec::new();
    for d in doses {
        let (_, _, product) = vaccine(&d.maker);
        let entry = json!({
            "dvc": d.date, "seq": d.number, "ctr": "JPN",
            "adm": if d.facility.is_empty() { "Japan".to_owned() } else { ascii(&format!("Medical facility {}", d.facility)) },
            "lot": ascii(&d.lot),
        });
        match events.iter_mut().find(|(n, _)| *n == product) {
            Some((_, list)) => list.push(entry),
            None => events.push((product, vec![entry])),
        }
    }
    let ve: Vec<Value> = events
        .into_iter()
        .map(|(product, vd)| json!({"des": "XM68M6", "nam": ascii(product), "dis": "RA01.0", "vd": vd}))
        .collect();
    json!({
        "pid": {"n": ascii(name), "dob": birth_date, "sex": sex, "i": ascii(passport_number)},
        "ve": ve,
    })
}

/// The error for a card too big for one QR code: how many doses fit.
pub fn too_big(card: &Card, jws_len: usize) -> Error {
    // The signed JWS grows with the deflated Bundle; scale by it.
    let deflated = |n: usize| {
        let b = bundle(
            card.romanised_name.as_deref().unwrap_or(&card.kanji_name),
            &card.birth_date,
            &card.doses[..n],
        );
        kiroku_cards::jws::deflate(b.to_string().as_bytes()).len() * 4 / 3
    };
    let all = card.doses.len();
    let overhead = jws_len.saturating_sub(deflated(all));
    let fits = (1..all)
        .rev()
        .find(|&n| {
            kiroku_cards::qr::shc_code(&kiroku_cards::qr::shc_text(
                &"A".repeat(overhead + deflated(n)),
            ))
            .is_ok()
        })
        .unwrap_or(0);
    Error::Invalid(format!(
        "the card with all {all} doses does not fit one QR code (version {} at most; chunking is deprecated): at most {fits} doses fit",
        kiroku_cards::qr::MAX_SHC_VERSION
    ))
}
