//! Disclosure: everything Kiroku holds about a person, and every access to
//! it, as one JSON document. My Number shows its last four digits only;
//! the passport number likewise. The access history is the audit log's
//! events about the person (who, which role, session, operator, when, plugin and
//! operation, fields, outcome); a person's history is bounded by
//! `MAX_DISCLOSED_EVENTS` (the rest counted, for the auditor's full query).

use serde_json::{Map, Value, json};

use super::{HISTORY_NOTE, HistoryEntry, SUSPENSION_NOTE, SuspensionRow};
use crate::clock::format_timestamp;
use crate::fields::{Class, FieldValues};

/// Index of the passport number among the passport fields.
const PASSPORT_NUMBER: usize = 3;
use crate::retention::holds::HoldRow;
use crate::runtime::invocation::Scope;
use crate::store::draft::DraftError;
use crate::store::rows;
use crate::store::tables::{HOLDS, SUSPENSIONS};

/// Most access events one disclosure lists.
pub const MAX_DISCLOSED_EVENTS: usize = 10_000;

/// Shows only the last four characters.
pub fn mask_tail(value: &str) -> String {
    let n = value.chars().count();
    value
        .chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < n { '*' } else { c })
        .collect()
}

fn fields_json(class: Class, values: &FieldValues) -> Value {
    let mut map = Map::new();
    for (i, name) in class.fields().iter().enumerate() {
        if let Some(v) = values.get(i) {
            map.insert((*name).to_owned(), Value::String(v.to_owned()));
        }
    }
    Value::Object(map)
}

fn items_json(class: Class, items: &std::collections::BTreeMap<u64, FieldValues>) -> Value {
    Value::Array(items.values().map(|v| fields_json(class, v)).collect())
}

/// The disclosure of `person` (serial; `handle` is how the staff name them).
pub fn disclose(
    scope: &mut Scope,
    person: u64,
    handle: u64,
    enquirer: &str,
) -> Result<String, DraftError> {
    let draft = &mut scope.draft;
    let resident = draft.resident(person)?;
    let my_number = draft.my_number(person)?;
    let mut passport_data = draft.passport(person)?;
    if let Some(n) = passport_data.get(PASSPORT_NUMBER).map(mask_tail) {
        passport_data.set(PASSPORT_NUMBER, Some(n));
    }
    let tickets = draft.tickets(person)?;
    let doses = draft.doses(person)?;
    let mut history = Vec::new();
    for (seq, sealed) in draft.person_history(person)? {
        let plain = draft.open_note(person, HISTORY_NOTE, seq, &sealed)?;
        let e: HistoryEntry = rows::decode(&plain).map_err(crate::store::StoreError::from)?;
        history.push(json!({
            "kind": e.kind, "at": format_timestamp(e.at_ms), "by": e.by,
            "field": e.field, "previous": e.previous, "value": e.value, "note": e.note,
        }));
    }
    let hold = match draft.person_row(HOLDS, person)? {
        Some(bytes) => {
            let row: HoldRow = rows::decode(&bytes).map_err(crate::store::StoreError::from)?;
            let reason = draft.open_note(person, "legal-hold", 0, &row.reason)?;
            json!({"since": format_timestamp(row.since_ms), "by": row.by,
                   "reason": String::from_utf8_lossy(&reason)})
        }
        None => Value::Null,
    };
    let suspension = match draft.person_row(SUSPENSIONS, person)? {
        Some(bytes) => {
            let row: SuspensionRow =
                rows::decode(&bytes).map_err(crate::store::StoreError::from)?;
            let reason = draft.open_note(person, SUSPENSION_NOTE, 0, &row.reason)?;
            json!({"since": format_timestamp(row.since_ms), "by": row.by,
                   "reason": String::from_utf8_lossy(&reason)})
        }
        None => Value::Null,
    };
    let store = draft.store().clone();
    let exchanges: Vec<Value> = crate::federation::entries::list::<
        crate::federation::entries::HeldRow,
    >(&store, "held/", 10_000)?
    .into_iter()
    .filter(|e| e.row.person == person)
    .map(|e| {
        json!({"with": e.row.previous, "purpose": e.row.purpose, "state": e.row.state,
               "received": format_timestamp(e.row.received_ms), "doses": e.row.doses.len()})
    })
    .collect();
    let query = crate::audit::Query {
        subject: Some(person),
        limit: MAX_DISCLOSED_EVENTS + 1,
        ..crate::audit::Query::default()
    };
    let mut events = crate::audit::query(store.db().as_ref(), &query)?;
    let truncated = events.len() > MAX_DISCLOSED_EVENTS;
    events.truncate(MAX_DISCLOSED_EVENTS);
    let certificates: Vec<Value> = events
        .iter()
        .filter(|e| e.action.starts_with("certificates.") && e.action != "certificates.verify")
        .map(|e| json!({"at": format_timestamp(e.time_ms), "action": e.action, "outcome": e.outcome.as_str()}))
        .collect();
    let access: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq, "at": format_timestamp(e.time_ms), "who": e.actor,
                "role": e.role, "operator": e.operator, "session": e.session, "automated": e.automated,
                "plugin": e.plugin, "action": e.action, "fields": e.fields,
                "outcome": e.outcome.as_str(), "reason": e.reason,
            })
        })
        .collect();
    let document = json!({
        "tenant": store.code().as_str(),
        "person_id": handle,
        "generated_at": format_timestamp(scope.request.now_ms),
        "enquirer": enquirer,
        "resident": fields_json(Class::Resident, &resident),
        "my_number": my_number.as_deref().map(mask_tail),
        "passport": fields_json(Class::Passport, &passport_data),
        "tickets": items_json(Class::Ticket, &tickets),
        "doses": items_json(Class::Dose, &doses),
        "certificates": certificates,
        "exchanges": exchanges,
        "history": history,
        "legal_hold": hold,
        "suspension": suspension,
        "access_history": access,
        "access_history_truncated": truncated,
    });
    let text = document.to_string();
    scope.served([text.as_str()]);
    Ok(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_all_but_the_last_four() {
        assert_eq!(super::mask_tail("123456789018"), "********9018");
        assert_eq!(super::mask_tail("12"), "12");
    }
}
