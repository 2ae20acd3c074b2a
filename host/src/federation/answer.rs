//! The answering host (move-out provision). Before any plugin runs it
//! opens the signed envelope (peer certificate = querier, signature, time,
//! nonce), checks the allow-list, and looks the My Number up through the
//! keyed-hash index **among persons who moved out only**: the exchange
//! exists for persons who left this municipality, so a current resident's
//! or a deceased person's number is answered exactly like an unknown one
//! ("no record"), and a querier cannot learn who lives here. A miss stores
//! nothing; the audit event records a keyed hash of the number, never the
//! number. A hit runs the `move-out-provision` plugin for that one person
//! (its handle is its only input) and keeps only the allowed items of what
//! it answers; under a no-automatic-answer flag the query waits in the
//! queue for a `federation-approver` instead.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde_json::{Value, json};

use super::Refusal;
use super::entries::{self, QueuedRow};
use super::envelope::{Envelope, open};
use super::identity::code_of;
use super::node::Node;
use super::rules::{Decision, Rules};
use super::wire::{CollectBody, DoseItems, MAX_ANSWERED_DOSES, QueryBody, Reply, new_query_id};
use crate::app::{App, Tenant};
use crate::audit::{Event, Identity, Outcome};
use crate::crypto::IndexKind;
use crate::fields::{DOSE_FIELDS, resident};
use crate::ids::TenantCode;
use crate::runtime::RequestInfo;
use crate::store::commit::{Op, WriteSet};
use crate::store::draft::Draft;

/// The plugin that answers.
pub const PROVISION_PLUGIN: &str = "move-out-provision";
/// Its operation.
pub const PROVISION_OPERATION: &str = "provide";

/// One incoming request, as the listener read it.
pub struct Incoming<'a> {
    /// The client certificate of the connection (leaf).
    pub peer: &'a CertificateDer<'static>,
    /// The answering municipality named in the path.
    pub answerer: &'a str,
    /// `query` or `collect`.
    pub operation: &'a str,
    /// The signature header.
    pub signature: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// Answers one request: an HTTP status and the reply.
pub async fn answer(app: &Arc<App>, node: &Node, incoming: Incoming<'_>) -> (u16, Reply) {
    let Ok(code) = TenantCode::parse(incoming.answerer) else {
        return (404, Reply::refused("unknown-municipality"));
    };
    let tenant = match app.tenant(&code) {
        Ok(Some(t)) if node.speaks_for(&code) => t,
        Ok(_) => return (404, Reply::refused("unknown-municipality")),
        Err(e) => {
            tracing::error!(tenant = %code, "federation: opening the tenant failed: {e}");
            return (503, Reply::refused("unavailable"));
        }
    };
    let mut at = Answering {
        app,
        tenant: &tenant,
        code,
        now_ms: app.runtime.clock().now_ms(),
        request_id: format!("fed-{}", new_query_id(app.runtime.entropy().as_ref())),
        querier: code_of(incoming.peer)
            .map(|c| c.to_string())
            .unwrap_or_else(|_| "unknown".into()),
    };
    let result = match incoming.operation {
        "query" => match at.open::<QueryBody>(node, &incoming) {
            Ok(envelope) => at.query(envelope.body).await,
            Err(refused) => at.refuse("query", refused).await,
        },
        "collect" => match at.open::<CollectBody>(node, &incoming) {
            Ok(envelope) => at.collect(envelope.body).await,
            Err(refused) => at.refuse("collect", refused).await,
        },
        _ => return (404, Reply::refused("unknown-operation")),
    };
    match result {
        Ok(reply) => (200, reply),
        Err(refused) => refused.into_reply(),
    }
}

/// Why an answer is a refusal: what the querier and the audit log see.
enum Refused {
    Envelope(Refusal),
    Rule(&'static str),
    Unavailable,
}

impl Refused {
    fn code(&self) -> &'static str {
        match self {
            Refused::Envelope(r) => r.code(),
            Refused::Rule(code) => code,
            Refused::Unavailable => "unavailable",
        }
    }

    fn into_reply(self) -> (u16, Reply) {
        let status = match self {
            Refused::Envelope(Refusal::Busy) | Refused::Unavailable => 503,
            Refused::Envelope(_) => 403,
            Refused::Rule("unknown-query") => 404,
            Refused::Rule(_) => 403,
        };
        (status, Reply::refused(self.code()))
    }
}

struct Answering<'a> {
    app: &'a Arc<App>,
    tenant: &'a Arc<Tenant>,
    code: TenantCode,
    now_ms: i64,
    request_id: String,
    /// The peer's municipality (from its certificate), for the audit log.
    querier: String,
}

impl Answering<'_> {
    fn event(&self, operation: &str, outcome: Outcome, reason: String) -> Event {
        let mut event = Event::new(
            self.now_ms,
            &self.request_id,
            &format!("municipality:{}", self.querier),
            format!("federation.provide {operation} from {}", self.querier),
            outcome,
        )
        .with_reason(reason);
        event.automated = true;
        event
    }

    async fn record(&self, events: Vec<Event>, ops: Vec<Op>) -> Result<(), Refused> {
        let set = WriteSet {
            ops,
            events,
            ..Default::default()
        };
        self.tenant.committer.commit(set).await.map_err(|e| {
            tracing::error!(tenant = %self.code, "federation: audit commit failed: {e}");
            Refused::Unavailable
        })?;
        Ok(())
    }

    /// Opens the envelope; a refusal is audited here.
    fn open<T: serde::de::DeserializeOwned>(
        &mut self,
        node: &Node,
        incoming: &Incoming<'_>,
    ) -> Result<Envelope<T>, Refused> {
        open::<T>(
            incoming.body,
            incoming.signature,
            incoming.peer,
            &self.code,
            &node.guard,
            self.now_ms,
        )
        .map_err(Refused::Envelope)
    }

    async fn refuse(&self, operation: &str, refused: Refused) -> Result<Reply, Refused> {
        let event = self.event(operation, Outcome::Deny, refused.code().to_owned());
        self.record(vec![event], Vec::new()).await?;
        Err(refused)
    }

    async fn query(&mut self, body: QueryBody) -> Result<Reply, Refused> {
        let querier = TenantCode::parse(&self.querier).map_err(|_| Refused::Rule("malformed"))?;
        let rules = Rules::load(&self.tenant.store).map_err(|_| Refused::Unavailable)?;
        let (items, manual) = match rules.decide(&querier, &body.purpose) {
            Decision::Refuse => return self.refuse("query", Refused::Rule("not-allowed")).await,
            Decision::Answer { items, manual } => (items, manual),
        };
        if kiroku_rules::my_number::validate(&body.my_number).is_err() {
            return self.refuse("query", Refused::Rule("malformed")).await;
        }
        let hash = self
            .tenant
            .store
            .keys()
            .queried_number_hash(&body.my_number);
        let Some(person) = self
            .moved_out(&body.my_number)
            .map_err(|_| Refused::Unavailable)?
        else {
            let reason = format!("no-record {} number-hash {hash}", body.purpose);
            let event = self.event("query", Outcome::Ok, reason);
            self.record(vec![event], Vec::new()).await?;
            return Ok(Reply::no_record());
        };
        if manual {
            let id = new_query_id(self.app.runtime.entropy().as_ref());
            let row = QueuedRow {
                person,
                querier: self.querier.clone(),
                purpose: body.purpose.clone(),
                items,
                received_ms: self.now_ms,
                state: "pending".into(),
                decided_by: None,
            };
            let key = entries::queue_key(&id);
            let sealed = entries::seal(
                &self.tenant.store,
                &key,
                &row,
                self.app.runtime.entropy().as_ref(),
            );
            let event = self
                .event(
                    "query",
                    Outcome::Ok,
                    format!("pending {} number-hash {hash}", body.purpose),
                )
                .with_subject(person);
            self.record(vec![event], vec![Op::PutFederation(key, sealed)])
                .await?;
            return Ok(Reply::pending(&id));
        }
        let doses = self.provide(person, &items).await?;
        let reason = format!("found {} number-hash {hash}", body.purpose);
        let mut event = self
            .event("query", Outcome::Ok, reason)
            .with_subject(person);
        event.fields = item_names(&items);
        event.count = doses.len() as u64;
        self.record(vec![event], Vec::new()).await?;
        Ok(Reply::found(doses))
    }

    async fn collect(&mut self, body: CollectBody) -> Result<Reply, Refused> {
        let key = entries::queue_key(&body.query_id);
        let entry = match super::wire::is_query_id(&body.query_id) {
            true => entries::read::<QueuedRow>(&self.tenant.store, &key)
                .map_err(|_| Refused::Unavailable)?,
            false => None,
        };
        // Another municipality's query id is as unknown as a made-up one.
        let Some(entry) = entry.filter(|e| e.row.querier == self.querier) else {
            return self.refuse("collect", Refused::Rule("unknown-query")).await;
        };
        let row = &entry.row;
        match row.state.as_str() {
            "pending" => Ok(Reply::pending(&body.query_id)),
            "refused" => {
                let event = self
                    .event(
                        "collect",
                        Outcome::Deny,
                        format!("refused-by-staff {}", row.purpose),
                    )
                    .with_subject(row.person);
                let ops = vec![Op::RemoveFederation(key)];
                self.record(vec![event], ops).await?;
                Ok(Reply::refused("refused-by-staff"))
            }
            _ => {
                let doses = self.provide(row.person, &row.items).await?;
                let mut event = self
                    .event("collect", Outcome::Ok, format!("found {}", row.purpose))
                    .with_subject(row.person);
                event.fields = item_names(&row.items);
                event.count = doses.len() as u64;
                let set = WriteSet {
                    checks: vec![entry.unchanged(key.clone())],
                    ops: vec![Op::RemoveFederation(key)],
                    events: vec![event],
                    ..Default::default()
                };
                match self.tenant.committer.commit(set).await {
                    Ok(_) => Ok(Reply::found(doses)),
                    Err(_) => Err(Refused::Rule("unknown-query")),
                }
            }
        }
    }

    /// The serial of the person who moved out holding `number`, if any.
    fn moved_out(&self, number: &str) -> Result<Option<u64>, crate::store::draft::DraftError> {
        let mut draft = Draft::new(
            self.tenant.store.clone(),
            self.app.runtime.entropy().clone(),
        );
        let Some(person) = draft.find_unique(IndexKind::MyNumber, number)? else {
            return Ok(None);
        };
        let values = draft.resident(person)?;
        let status = values.0.get(resident::STATUS).cloned().flatten();
        Ok((status.as_deref() == Some("moved-out")).then_some(person))
    }

    /// Runs the provision plugin for one person; only `items` are kept.
    async fn provide(&self, person: u64, items: &[usize]) -> Result<Vec<DoseItems>, Refused> {
        let registry = self
            .tenant
            .registry(self.app)
            .await
            .map_err(|_| Refused::Unavailable)?;
        let Some(slot) = registry.plugins.get(PROVISION_PLUGIN) else {
            return Err(Refused::Rule("not-provided"));
        };
        let plugin = slot
            .ready(Duration::from_millis(crate::app::MAX_LOAD_WAIT_MS))
            .await
            .map_err(|_| Refused::Unavailable)?;
        let handle = self.tenant.store.keys().person_handles().handle(person);
        let request = Arc::new(RequestInfo {
            who: Identity {
                automated: true,
                ..Identity::named(&format!("municipality:{}", self.querier))
            },
            request_id: self.request_id.clone(),
            now_ms: self.now_ms,
            today: self.app.runtime.clock().today(),
            replay_guard: None,
            job: None,
            public_url: self.app.public_url(),
            application: None,
            federation: None,
        });
        let input = json!({ "person_id": handle, "items": item_names(items) }).to_string();
        let output = self
            .tenant
            .invoke(self.app, &plugin, request, PROVISION_OPERATION, &input)
            .await
            .map_err(|e| {
                tracing::warn!(tenant = %self.code, "federation: {PROVISION_PLUGIN} failed: {e}");
                Refused::Unavailable
            })?;
        Ok(allowed_doses(&output.output, items))
    }
}

fn item_names(items: &[usize]) -> Vec<String> {
    items.iter().map(|&i| DOSE_FIELDS[i].to_owned()).collect()
}

/// The plugin's `{"doses": [{item: value}]}`, keeping only allowed items
/// with string (or number) values; anything else it said is dropped.
fn allowed_doses(output: &str, items: &[usize]) -> Vec<DoseItems> {
    let names = item_names(items);
    let Ok(Value::Object(answer)) = serde_json::from_str::<Value>(output) else {
        return Vec::new();
    };
    let Some(Value::Array(doses)) = answer.get("doses") else {
        return Vec::new();
    };
    doses
        .iter()
        .take(MAX_ANSWERED_DOSES)
        .filter_map(Value::as_object)
        .map(|dose| {
            names
                .iter()
                .filter_map(|name| {
                    let value = match dose.get(name)? {
                        Value::String(s) if s.len() <= 256 => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => return None,
                    };
                    Some((name.clone(), value))
                })
                .collect::<DoseItems>()
        })
        .filter(|d| !d.is_empty())
        .collect()
}
