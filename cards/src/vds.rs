//! ICAO VDS-NC "icao.vacc" documents: `{"data":{"hdr","msg"},"sig"}`, the
//! signature over the RFC 8785 canonical form of `data`. Everything inside
//! `data` is kept ASCII with no `/` and no fractions, where every
//! canonicaliser agrees.

use serde_json::{Value, json};

use crate::{CardError, err, from_b64url};

/// The document type.
pub const TYPE: &str = "icao.vacc";

/// The signed `data` of a document with `msg` (which names `uvci`).
pub fn data(issuing_country: &str, msg: Value) -> Value {
    json!({"hdr": {"t": TYPE, "v": 1, "is": issuing_country}, "msg": msg})
}

/// The RFC 8785 canonical bytes of `data`, after checking it keeps to
/// ASCII strings without `/` and integers.
pub fn canonical(data: &Value) -> Result<Vec<u8>, CardError> {
    check_portable(data, "data")?;
    crate::jcs(data)
}

fn check_portable(v: &Value, at: &str) -> Result<(), CardError> {
    match v {
        Value::String(s) if !s.is_ascii() || s.contains('/') => err(format!(
            "{at} is not ASCII without '/', which VDS-NC canonicalisers agree on"
        )),
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => {
            err(format!("{at} is a fraction; VDS-NC data holds integers"))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_portable(x, &format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().try_for_each(|(k, x)| {
            if !k.is_ascii() {
                return err(format!("a key in {at} is not ASCII"));
            }
            check_portable(x, &format!("{at}.{k}"))
        }),
        _ => Ok(()),
    }
}

/// A signed document.
pub fn document(data: Value, cer: &[u8], sig: &[u8]) -> Value {
    json!({"data": data, "sig": {"alg": "ES256", "cer": crate::b64url(cer), "sigvl": crate::b64url(sig)}})
}

/// What a document holds, its structure checked.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The canonical bytes of `data` (what the signature covers).
    pub signed: Vec<u8>,
    /// The barcode signer certificate (DER).
    pub cer: Vec<u8>,
    /// The raw r‖s signature.
    pub sig: Vec<u8>,
    /// The issuing country.
    pub country: String,
    /// The certificate's unique id.
    pub uvci: String,
    /// `msg.pid`.
    pub pid: Value,
    /// `msg.ve`.
    pub ve: Vec<Value>,
}

/// Reads a document and checks its structure.
pub fn read(doc: &Value) -> Result<Parsed, CardError> {
    let data = doc
        .get("data")
        .ok_or_else(|| CardError("the document has no data".into()))?;
    let hdr = data
        .get("hdr")
        .ok_or_else(|| CardError("data has no hdr".into()))?;
    if hdr.get("t").and_then(Value::as_str) != Some(TYPE)
        || hdr.get("v").and_then(Value::as_i64) != Some(1)
    {
        return err(format!("hdr is not type {TYPE} version 1"));
    }
    let country = hdr
        .get("is")
        .and_then(Value::as_str)
        .ok_or_else(|| CardError("hdr has no issuing country".into()))?;
    let msg = data
        .get("msg")
        .ok_or_else(|| CardError("data has no msg".into()))?;
    let uvci = msg
        .get("uvci")
        .and_then(Value::as_str)
        .ok_or_else(|| CardError("msg has no uvci".into()))?;
    let pid = msg
        .get("pid")
        .filter(|p| p.get("n").is_some() && p.get("dob").is_some());
    let pid = pid.ok_or_else(|| CardError("msg.pid has no n and dob".into()))?;
    let ve = msg
        .get("ve")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| CardError("msg.ve lists no vaccination event".into()))?;
    for (i, event) in ve.iter().enumerate() {
        let doses = event
            .get("vd")
            .and_then(Value::as_array)
            .filter(|d| !d.is_empty());
        if event.get("des").is_none() || doses.is_none() {
            return err(format!("msg.ve[{i}] has no des or no vd"));
        }
    }
    let sig = doc
        .get("sig")
        .ok_or_else(|| CardError("the document has no sig".into()))?;
    if sig.get("alg").and_then(Value::as_str) != Some("ES256") {
        return err("sig.alg is not ES256");
    }
    let field = |k: &str| {
        sig.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| CardError(format!("sig has no {k}")))
    };
    Ok(Parsed {
        signed: canonical(data)?,
        cer: from_b64url(field("cer")?, "sig.cer")?,
        sig: from_b64url(field("sigvl")?, "sig.sigvl")?,
        country: country.to_owned(),
        uvci: uvci.to_owned(),
        pid: pid.clone(),
        ve: ve.clone(),
    })
}

/// The doses of a parsed document as a verifier answers them.
pub fn doses_json(parsed: &Parsed) -> Vec<Value> {
    let mut out = Vec::new();
    for event in &parsed.ve {
        for d in event
            .get("vd")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push(json!({
                "date": d.get("dvc"), "dose_number": d.get("seq"), "country": d.get("ctr"),
                "administered_by": d.get("adm"), "lot": d.get("lot"),
                "vaccine_code": event.get("des"), "product": event.get("nam"),
                "disease": event.get("dis"),
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_keys_and_refuses_what_canonicalisers_disagree_on() {
        let d = json!({"msg": {"b": 1, "a": "x"}, "hdr": {"t": TYPE}});
        assert_eq!(
            canonical(&d).unwrap(),
            br#"{"hdr":{"t":"icao.vacc"},"msg":{"a":"x","b":1}}"#
        );
        assert!(canonical(&json!({"n": "武田"})).is_err());
        assert!(canonical(&json!({"n": "a/b"})).is_err());
        assert!(canonical(&json!({"n": 0.5})).is_err());
    }
}
