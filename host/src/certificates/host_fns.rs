//! The host side of `kiroku:certificates`: the plugin hands over a card's
//! content; the host checks its shape, adds the issuer, time and
//! revocation id, signs with the tenant's newest key, keeps what
//! revocation needs (sealed, committed with the request) and audits.
//! Every call spends host-call fuel and is bounded in size.

use std::sync::Arc;

use serde_json::Value;

use super::bindings::{CardApplication as WitApplication, Issued, Kind};
use super::revocation::{self, CertificateRow};
use super::{issuer_url, keys, sign, verify};
use crate::policy::Interface;
use crate::runtime::invocation::{Invocation, Scope};
use crate::store::commit::Op;
use crate::store::draft::DraftError;

type HostResult<T> = wasmtime::Result<Result<T, crate::runtime::bindings::types::Error>>;

/// Most bytes of a card's Bundle or VDS-NC message from a plugin.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024;
/// Most bytes of a card handed in for verification.
pub const MAX_CARD_BYTES: usize = 16 * 1024;
/// Most bytes of a revocation reason code.
const MAX_REASON_BYTES: usize = 32;

fn invalid(message: impl Into<String>) -> DraftError {
    DraftError::Invalid(message.into())
}

fn bounded(name: &str, value: &str, max: usize) -> Result<(), DraftError> {
    if value.len() > max {
        return Err(invalid(format!(
            "{name} is longer than {max} bytes, the host's limit for it"
        )));
    }
    Ok(())
}

fn json(name: &str, text: &str) -> Result<Value, DraftError> {
    bounded(name, text, MAX_CONTENT_BYTES)?;
    if crate::json_shape::depth_exceeds(text.as_bytes(), 32) {
        return Err(invalid(format!("{name} is nested too deeply")));
    }
    serde_json::from_str(text).map_err(|_| invalid(format!("{name} is not JSON")))
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Domestic => "domestic",
        Kind::Overseas => "overseas",
    }
}

fn sign_for(
    scope: &mut Scope,
    person: u64,
    kind: Kind,
    bundle: &str,
    message: Option<&str>,
) -> Result<Issued, DraftError> {
    let bundle = json("fhir-bundle", bundle)?;
    let (patient, doses) = kiroku_cards::fhir::read_bundle(&bundle)
        .map_err(|e| invalid(format!("fhir-bundle: {e}")))?;
    if patient.is_none() || doses.is_empty() {
        return Err(invalid(
            "fhir-bundle: a vaccination card names its Patient and at least one Immunization",
        ));
    }
    let message = match (kind, message) {
        (Kind::Overseas, Some(m)) => Some(json("vds-message", m)?),
        (Kind::Overseas, None) => {
            return Err(invalid("an overseas certificate needs its vds-message"));
        }
        (Kind::Domestic, Some(_)) => {
            return Err(invalid("a domestic certificate has no vds-message"));
        }
        (Kind::Domestic, None) => None,
    };
    let store = scope.draft.store().clone();
    let signing = keys::current(&store)?.ok_or_else(|| {
        DraftError::Conflict("this tenant has no certificate signing key yet".into())
    })?;
    let code = store.code().as_str();
    let entropy = scope.draft.entropy().clone();
    let id = sign::certificate_id(code, entropy.as_ref());
    let nbf = scope.request.now_ms.div_euclid(1000);
    let rid = sign::revocation_id(store.keys(), person);
    let jws = sign::health_card(
        &signing,
        &issuer_url(&scope.request.public_url, code),
        nbf,
        &bundle,
        &rid,
    );
    let vds = match message {
        Some(m) => {
            let doc = sign::vds_document(&signing, &id, m)
                .map_err(|e| invalid(format!("vds-message: {e}")))?;
            Some(doc.to_string())
        }
        None => None,
    };
    let counter = scope.request.application.is_none();
    let row = CertificateRow {
        kid: signing.kid.clone(),
        rid,
        nbf,
        channel: scope
            .request
            .application
            .as_ref()
            .map_or_else(|| "counter".to_owned(), |a| a.channel.clone()),
        kind: counter.then(|| kind_name(kind).to_owned()),
        issued_on: counter.then(|| scope.request.today.to_string()),
        revoked: None,
    };
    let sealed = revocation::seal(&store, &id, &row, entropy.as_ref());
    scope
        .draft
        .push_host_op(Op::PutCertificate(id.clone(), sealed));
    Ok(Issued {
        certificate_id: id,
        jws,
        vds,
    })
}

impl super::bindings::Host for Invocation {
    fn issue(
        &mut self,
        person: u64,
        kind: Kind,
        fhir_bundle: String,
        vds_message: Option<String>,
    ) -> HostResult<Issued> {
        let action = format!("certificate.issue {}", kind_name(kind));
        let scope = self.enter()?;
        let person = match scope.person(&action, Interface::Certificates, person) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let result = sign_for(scope, person, kind, &fhir_bundle, vds_message.as_deref());
        scope.finish(&action, Some(person), Interface::Certificates, &[], result)
    }

    fn verify_health_card(&mut self, jws: String) -> HostResult<String> {
        let scope = self.enter()?;
        let result = bounded("jws", &jws, MAX_CARD_BYTES).and_then(|()| {
            let store = scope.draft.store().clone();
            let jwks = keys::jwks(&store)?;
            let crls = jwks
                .keys
                .iter()
                .map(|k| revocation::crl(&store, &k.kid))
                .collect::<Result<Vec<_>, _>>()?;
            let iss = issuer_url(&scope.request.public_url, store.code().as_str());
            let now = scope.request.now_ms as f64 / 1000.0;
            Ok(verify::health_card(&jws, &jwks, &crls, Some(&iss), now).to_string())
        });
        scope.finish(
            "certificate.verify",
            None,
            Interface::Certificates,
            &[],
            result,
        )
    }

    fn verify_vds(&mut self, document: String) -> HostResult<String> {
        let scope = self.enter()?;
        let result = json("document", &document).and_then(|doc| {
            let store = scope.draft.store().clone();
            let csca = keys::csca(&store)?.ok_or_else(|| DraftError::Conflict("this tenant has no CSCA yet".into()))?;
            let now = scope.request.now_ms.max(0) as u64 / 1000;
            let revoked = |uvci: &str| {
                matches!(revocation::load(&store, uvci), Ok(Some(row)) if row.revoked.is_some())
            };
            Ok(verify::vds_document(&doc, &csca, now, revoked).to_string())
        });
        scope.finish(
            "certificate.verify",
            None,
            Interface::Certificates,
            &[],
            result,
        )
    }

    fn revoke(&mut self, certificate_id: String, reason: String) -> HostResult<()> {
        let scope = self.enter()?;
        let result = bounded("certificate-id", &certificate_id, 64)
            .and_then(|()| bounded("reason", &reason, MAX_REASON_BYTES))
            .and_then(|()| {
                if !reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                    return Err(invalid(
                        "reason is a short code of lowercase letters and '-'",
                    ));
                }
                let store = scope.draft.store().clone();
                let mut row = revocation::load(&store, &certificate_id)?.ok_or_else(|| {
                    DraftError::NotFound("no such certificate in this tenant".into())
                })?;
                if row.revoked.is_some() {
                    return Err(DraftError::Conflict(
                        "the certificate is already revoked".into(),
                    ));
                }
                row.revoked = Some((reason.clone(), scope.request.now_ms));
                let entry = revocation::entry(&row);
                let entropy = scope.draft.entropy().clone();
                let sealed = revocation::seal(&store, &certificate_id, &row, entropy.as_ref());
                scope
                    .draft
                    .push_host_op(Op::PutCertificate(certificate_id.clone(), sealed));
                scope
                    .draft
                    .push_host_op(Op::PutRevocation(row.kid, certificate_id.clone(), entry));
                Ok(())
            });
        let action = format!(
            "certificate.revoke {}",
            if result.is_ok() {
                reason.as_str()
            } else {
                "refused"
            }
        );
        scope.finish(&action, None, Interface::Certificates, &[], result)
    }

    fn application(&mut self) -> wasmtime::Result<Option<WitApplication>> {
        let scope = self.enter()?;
        let Some(app) = scope.request.application.clone() else {
            return Ok(None);
        };
        let app: Arc<super::application::CardApplication> = app;
        scope.served([
            app.kana_name.as_str(),
            app.kanji_name.as_str(),
            app.address.as_str(),
            app.my_number.as_str(),
        ]);
        Ok(Some(WitApplication {
            channel: app.channel.clone(),
            kana_name: app.kana_name.clone(),
            kanji_name: app.kanji_name.clone(),
            birth_date: app.birth_date.clone(),
            sex: app.sex.clone(),
            address: app.address.clone(),
            my_number: app.my_number.clone(),
            kind: if app.overseas {
                Kind::Overseas
            } else {
                Kind::Domestic
            },
        }))
    }
}
