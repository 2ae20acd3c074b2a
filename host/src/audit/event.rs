//! What an audit event holds, and the layouts earlier versions wrote.

use serde::{Deserialize, Serialize};

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// Allowed and done.
    Ok,
    /// Refused by policy, role or authentication.
    Deny,
    /// Attempted and failed (invalid input, trap, conflict, ...).
    Error,
}

impl Outcome {
    /// Lowercase name for the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Deny => "deny",
            Outcome::Error => "error",
        }
    }
}

/// One audit event. `seq` is assigned when the event is appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the tenant's chain, from 1.
    pub seq: u64,
    /// When it happened (ms since epoch).
    pub time_ms: i64,
    /// The request (or job) it belongs to.
    pub request_id: String,
    /// Staff user id, `system`, or `anonymous` for unauthenticated callers.
    pub actor: String,
    /// The plugin that acted, if one did.
    pub plugin: Option<String>,
    /// That plugin's component digest.
    pub digest: Option<String>,
    /// What was done, e.g. `residents.get`, `invoke dose-entry/record-dose`, `user.add`.
    pub action: String,
    /// The person concerned (internal id), if one is.
    pub subject: Option<u64>,
    /// Field names touched (never their values).
    pub fields: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Host-written explanation for denials and errors; never personal values.
    pub reason: Option<String>,
    /// Every person a population scan returned, in id order (empty for
    /// other events): one event per scan call instead of one per person,
    /// and each person is still found by "who looked at this person".
    /// For merged denials, the persons they concerned (bounded).
    pub subjects: Vec<u64>,
    /// How many calls the event stands for: 1, or more for denials and
    /// failures of one kind merged within an invocation.
    pub count: u64,
    /// The staff session it happened in (its public id, never the token).
    pub session: Option<String>,
    /// On a shared account's session, the named person operating it.
    pub operator: Option<String>,
    /// Done by a service account (automated work), not a person.
    pub automated: bool,
    /// The actor's role when it happened (staff and service accounts).
    pub role: Option<String>,
}

/// Who acts in a request, as the audit log names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Account name, `system`, or `anonymous`.
    pub name: String,
    /// Public id of the session, for staff sessions.
    pub session: Option<String>,
    /// The operator of a shared account's session.
    pub operator: Option<String>,
    /// A service account.
    pub automated: bool,
    /// The account's role, once authenticated.
    pub role: Option<String>,
}

impl Identity {
    /// An identity with no session (the CLI, the system, anonymous callers).
    pub fn named(name: &str) -> Identity {
        Identity {
            name: name.to_owned(),
            ..Identity::default()
        }
    }

    /// The person answerable for what is done: the operator of a shared
    /// account, else the account's holder.
    pub fn person(&self) -> &str {
        self.operator.as_deref().unwrap_or(&self.name)
    }
}

/// The layout of events written before roles were recorded.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct EventV4 {
    seq: u64,
    time_ms: i64,
    request_id: String,
    actor: String,
    plugin: Option<String>,
    digest: Option<String>,
    action: String,
    subject: Option<u64>,
    fields: Vec<String>,
    outcome: Outcome,
    reason: Option<String>,
    subjects: Vec<u64>,
    count: u64,
    session: Option<String>,
    operator: Option<String>,
    automated: bool,
}

/// The layout of events written before sessions existed.
#[derive(Deserialize)]
struct EventV3 {
    seq: u64,
    time_ms: i64,
    request_id: String,
    actor: String,
    plugin: Option<String>,
    digest: Option<String>,
    action: String,
    subject: Option<u64>,
    fields: Vec<String>,
    outcome: Outcome,
    reason: Option<String>,
    subjects: Vec<u64>,
    count: u64,
}

/// The layout of events written before `count` existed.
#[derive(Deserialize)]
struct EventV2 {
    seq: u64,
    time_ms: i64,
    request_id: String,
    actor: String,
    plugin: Option<String>,
    digest: Option<String>,
    action: String,
    subject: Option<u64>,
    fields: Vec<String>,
    outcome: Outcome,
    reason: Option<String>,
    subjects: Vec<u64>,
}

/// The layout of events written before `subjects` existed.
#[derive(Deserialize)]
struct EventV1 {
    seq: u64,
    time_ms: i64,
    request_id: String,
    actor: String,
    plugin: Option<String>,
    digest: Option<String>,
    action: String,
    subject: Option<u64>,
    fields: Vec<String>,
    outcome: Outcome,
    reason: Option<String>,
}

/// Decodes a stored event body, in the current layout or an earlier one.
pub fn decode_event(body: &[u8]) -> Result<Event, postcard::Error> {
    if let Ok(e) = postcard::from_bytes::<Event>(body) {
        return Ok(e);
    }
    let v4 = decode_v4(body)?;
    Ok(Event {
        seq: v4.seq,
        time_ms: v4.time_ms,
        request_id: v4.request_id,
        actor: v4.actor,
        plugin: v4.plugin,
        digest: v4.digest,
        action: v4.action,
        subject: v4.subject,
        fields: v4.fields,
        outcome: v4.outcome,
        reason: v4.reason,
        subjects: v4.subjects,
        count: v4.count,
        session: v4.session,
        operator: v4.operator,
        automated: v4.automated,
        role: None,
    })
}

fn decode_v4(body: &[u8]) -> Result<EventV4, postcard::Error> {
    if let Ok(e) = postcard::from_bytes::<EventV4>(body) {
        return Ok(e);
    }
    let v3 = decode_v3(body)?;
    Ok(EventV4 {
        seq: v3.seq,
        time_ms: v3.time_ms,
        request_id: v3.request_id,
        actor: v3.actor,
        plugin: v3.plugin,
        digest: v3.digest,
        action: v3.action,
        subject: v3.subject,
        fields: v3.fields,
        outcome: v3.outcome,
        reason: v3.reason,
        subjects: v3.subjects,
        count: v3.count,
        session: None,
        operator: None,
        automated: false,
    })
}

fn decode_v3(body: &[u8]) -> Result<EventV3, postcard::Error> {
    if let Ok(e) = postcard::from_bytes::<EventV3>(body) {
        return Ok(e);
    }
    let v2 = match postcard::from_bytes::<EventV2>(body) {
        Ok(v2) => v2,
        Err(_) => {
            let v1: EventV1 = postcard::from_bytes(body)?;
            EventV2 {
                seq: v1.seq,
                time_ms: v1.time_ms,
                request_id: v1.request_id,
                actor: v1.actor,
                plugin: v1.plugin,
                digest: v1.digest,
                action: v1.action,
                subject: v1.subject,
                fields: v1.fields,
                outcome: v1.outcome,
                reason: v1.reason,
                subjects: Vec::new(),
            }
        }
    };
    Ok(EventV3 {
        seq: v2.seq,
        time_ms: v2.time_ms,
        request_id: v2.request_id,
        actor: v2.actor,
        plugin: v2.plugin,
        digest: v2.digest,
        action: v2.action,
        subject: v2.subject,
        fields: v2.fields,
        outcome: v2.outcome,
        reason: v2.reason,
        subjects: v2.subjects,
        count: 1,
    })
}

impl Event {
    /// A new event with no plugin, subject or fields.
    pub fn new(
        time_ms: i64,
        request_id: &str,
        actor: &str,
        action: impl Into<String>,
        outcome: Outcome,
    ) -> Event {
        Event {
            seq: 0,
            time_ms,
            request_id: request_id.to_owned(),
            actor: actor.to_owned(),
            plugin: None,
            digest: None,
            action: action.into(),
            subject: None,
            fields: Vec::new(),
            outcome,
            reason: None,
            subjects: Vec::new(),
            count: 1,
            session: None,
            operator: None,
            automated: false,
            role: None,
        }
    }

    /// Names the session, operator, role and kind of `who` (the actor stays).
    pub fn with_identity(mut self, who: &Identity) -> Event {
        self.session.clone_from(&who.session);
        self.operator.clone_from(&who.operator);
        self.automated = who.automated;
        self.role.clone_from(&who.role);
        self
    }

    /// An event of `who`.
    pub fn by(
        time_ms: i64,
        request_id: &str,
        who: &Identity,
        action: impl Into<String>,
        outcome: Outcome,
    ) -> Event {
        Event::new(time_ms, request_id, &who.name, action, outcome).with_identity(who)
    }

    /// Sets the reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Event {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the subject.
    pub fn with_subject(mut self, subject: u64) -> Event {
        self.subject = Some(subject);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_the_layout_before_roles_still_decode() {
        let old = EventV4 {
            seq: 7,
            time_ms: 1,
            request_id: "r".into(),
            actor: "demo-clerk".into(),
            plugin: Some("dose-entry".into()),
            digest: None,
            action: "residents.get".into(),
            subject: Some(3),
            fields: vec!["kanji-name".into()],
            outcome: Outcome::Ok,
            reason: None,
            subjects: Vec::new(),
            count: 1,
            session: Some("s1".into()),
            operator: None,
            automated: false,
        };
        let body = postcard::to_allocvec(&old).unwrap();
        let e = decode_event(&body).unwrap();
        assert_eq!((e.seq, e.session.as_deref(), e.role), (7, Some("s1"), None));

        let who = Identity {
            role: Some("clerk".into()),
            ..Identity::named("demo-clerk")
        };
        let new = Event::by(1, "r", &who, "residents.get", Outcome::Ok);
        let body = postcard::to_allocvec(&new).unwrap();
        assert_eq!(decode_event(&body).unwrap().role.as_deref(), Some("clerk"));
    }
}
