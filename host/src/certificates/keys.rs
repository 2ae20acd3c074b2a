//! The tenant's signing keys, one generation per rotation: an ES256 key
//! for health cards (published in the JWKS, `kid` its thumbprint) and a
//! VDS-NC barcode signer certificate (BSC) issued by the tenant's test
//! CSCA. Private keys are sealed with the tenant's issuer key; the newest
//! generation signs, older ones stay published.

use std::sync::Arc;

use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use kiroku_cards::keys::{Jwk, Jwks};

use crate::clock::Entropy;
use crate::store::commit::{Op, WriteSet};
use crate::store::tables::{ISSUER_KEYS, meta};
use crate::store::{StoreError, StoreResult, TenantStore, rows};

/// Meta key of the CSCA certificate (DER).
const CSCA_CERT: &str = meta::CSCA_CERT;
/// Meta key of the CSCA's private key (PKCS#8, sealed).
const CSCA_KEY: &str = meta::CSCA_KEY;

/// One key generation as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuerKeyRow {
    /// 1, 2, ...
    pub generation: u32,
    /// The health card key's JWK (public).
    pub jwk: String,
    /// The health card key's scalar, sealed.
    pub shc_key: Vec<u8>,
    /// The barcode signer certificate (DER, public).
    pub bsc: Vec<u8>,
    /// The BSC's private key (PKCS#8), sealed.
    pub bsc_key: Vec<u8>,
    /// When the generation was made (ms since epoch).
    pub created_ms: i64,
}

/// A generation opened for signing.
pub struct SigningKeys {
    /// The generation.
    pub generation: u32,
    /// The health card key's id.
    pub kid: String,
    /// Signs health cards.
    pub shc: SigningKey,
    /// Signs VDS-NC documents.
    pub vds: SigningKey,
    /// The BSC (DER), carried in each VDS-NC document.
    pub bsc: Vec<u8>,
}

fn what(generation: u32, part: &str) -> String {
    format!("key/{generation}/{part}")
}

fn pki_error(e: rcgen::Error) -> StoreError {
    StoreError::Damaged(format!("certificate issuer PKI: {e}"))
}

/// The CSCA's parameters (the same each time, so a BSC's authority key
/// id matches the CSCA's subject key id).
fn csca_params(code: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CountryName, "JP");
    params
        .distinguished_name
        .push(DnType::OrganizationName, format!("Municipality {code}"));
    params
        .distinguished_name
        .push(DnType::CommonName, format!("Kiroku test CSCA {code}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 12, 31);
    Ok(params)
}

fn bsc_params(code: &str, generation: u32) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CountryName, "JP");
    params
        .distinguished_name
        .push(DnType::OrganizationName, format!("Municipality {code}"));
    params.distinguished_name.push(
        DnType::CommonName,
        format!("Kiroku barcode signer {code}-{generation}"),
    );
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 12, 31);
    Ok(params)
}

/// The tenant's CSCA certificate (DER), if it has one.
pub fn csca(store: &TenantStore) -> StoreResult<Option<Vec<u8>>> {
    store.meta(CSCA_CERT)
}

/// Every generation, oldest first.
pub fn generations(store: &TenantStore) -> StoreResult<Vec<IssuerKeyRow>> {
    let txn = store.db().begin_read()?;
    let table = match txn.open_table(ISSUER_KEYS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in table.iter()? {
        let (_, v) = row?;
        out.push(rows::decode(v.value())?);
    }
    Ok(out)
}

/// The published key set: every generation's health card key, with its
/// revocation list's version when it has one.
pub fn jwks(store: &TenantStore) -> StoreResult<Jwks> {
    let mut keys = Vec::new();
    for row in generations(store)? {
        let mut jwk: Jwk = serde_json::from_str(&row.jwk)
            .map_err(|_| StoreError::Damaged("an issuer key's JWK".into()))?;
        let ctr = super::revocation::count(store, &jwk.kid)?;
        jwk.crl_version = (ctr > 0).then_some(ctr);
        keys.push(jwk);
    }
    Ok(Jwks { keys })
}

/// Generations opened for signing, by tenant and the whole stored row
/// (sealed keys and barcode signer certificate: two stores with seeded
/// test entropy can share a sealed key but never a certificate). Opening
/// costs two unseals and two scalar multiplications, more than the
/// signature itself; the tenant keys that open them are held in memory
/// anyway.
type Opened = Vec<((String, Vec<u8>), Arc<SigningKeys>)>;
static OPENED: std::sync::Mutex<Opened> = std::sync::Mutex::new(Vec::new());

/// Most opened generations kept (every tenant's newest, with room).
const MAX_OPENED: usize = 256;

/// The newest generation, opened for signing.
pub fn current(store: &TenantStore) -> StoreResult<Option<Arc<SigningKeys>>> {
    let txn = store.db().begin_read()?;
    let table = match txn.open_table(ISSUER_KEYS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some((_, v)) = table.last()? else {
        return Ok(None);
    };
    let stored = v.value();
    let id = (store.code().as_str().to_owned(), stored.to_vec());
    let opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, keys)) = opened.iter().find(|(known, _)| *known == id) {
        return Ok(Some(keys.clone()));
    }
    drop(opened);
    let row: IssuerKeyRow = rows::decode(stored)?;
    let keys = Arc::new(open(store, &row)?);
    let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    if opened.len() >= MAX_OPENED {
        opened.remove(0);
    }
    opened.push((id, keys.clone()));
    Ok(Some(keys))
}

/// Opens one generation's keys for signing.
fn open(store: &TenantStore, row: &IssuerKeyRow) -> StoreResult<SigningKeys> {
    let keys = store.keys();
    let corrupt = || StoreError::Damaged("an issuer key does not open".into());
    let mut scalar = keys
        .open_issuer(&what(row.generation, "shc"), &row.shc_key)
        .map_err(|_| corrupt())?;
    let shc = SigningKey::from_slice(&scalar).map_err(|_| corrupt())?;
    zeroize::Zeroize::zeroize(&mut scalar);
    let mut pkcs8 = keys
        .open_issuer(&what(row.generation, "bsc"), &row.bsc_key)
        .map_err(|_| corrupt())?;
    let vds = SigningKey::from_pkcs8_der(&pkcs8).map_err(|_| corrupt())?;
    zeroize::Zeroize::zeroize(&mut pkcs8);
    let jwk: Jwk = serde_json::from_str(&row.jwk).map_err(|_| corrupt())?;
    Ok(SigningKeys {
        generation: row.generation,
        kid: jwk.kid,
        shc,
        vds,
        bsc: row.bsc.clone(),
    })
}

fn random_signing_key(entropy: &dyn Entropy) -> SigningKey {
    loop {
        let mut bytes = [0u8; 32];
        entropy.fill(&mut bytes);
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            zeroize::Zeroize::zeroize(&mut bytes);
            return key;
        }
    }
}

/// Makes the next generation (and, the first time, the tenant's CSCA);
/// returns the new `kid`.
pub fn rotate(
    store: &TenantStore,
    entropy: &dyn Entropy,
    now_ms: i64,
    actor: &str,
) -> StoreResult<String> {
    let code = store.code().as_str().to_owned();
    let keys = store.keys();
    let mut ops = Vec::new();
    let (csca_key, created_csca) = match store.meta(CSCA_KEY)? {
        Some(sealed) => {
            let pkcs8 = keys
                .open_issuer("csca", &sealed)
                .map_err(|_| StoreError::Damaged("the CSCA key does not open".into()))?;
            (
                KeyPair::try_from(pkcs8.as_slice()).map_err(pki_error)?,
                false,
            )
        }
        None => (
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(pki_error)?,
            true,
        ),
    };
    let params = csca_params(&code).map_err(pki_error)?;
    if created_csca {
        let cert = params.self_signed(&csca_key).map_err(pki_error)?;
        ops.push(Op::SetMeta(CSCA_CERT.into(), cert.der().to_vec()));
        let sealed = keys.seal_issuer("csca", &csca_key.serialize_der(), entropy);
        ops.push(Op::SetMeta(CSCA_KEY.into(), sealed));
    }
    let generation = generations(store)?.last().map_or(1, |g| g.generation + 1);
    let issuer = Issuer::new(params, csca_key);
    let bsc_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(pki_error)?;
    let bsc = bsc_params(&code, generation)
        .and_then(|p| p.signed_by(&bsc_key, &issuer))
        .map_err(pki_error)?;
    let shc = random_signing_key(entropy);
    let jwk = Jwk::of(shc.verifying_key());
    let row = IssuerKeyRow {
        generation,
        jwk: serde_json::to_string(&jwk).expect("a JWK serialises"),
        shc_key: keys.seal_issuer(&what(generation, "shc"), &shc.to_bytes(), entropy),
        bsc: bsc.der().to_vec(),
        bsc_key: keys.seal_issuer(&what(generation, "bsc"), &bsc_key.serialize_der(), entropy),
        created_ms: now_ms,
    };
    ops.push(Op::PutIssuerKey(generation, rows::encode(&row)));
    let event = crate::audit::Event::new(
        now_ms,
        &format!("issuer-rotate-{generation}"),
        actor,
        "issuer.rotate",
        crate::audit::Outcome::Ok,
    )
    .with_reason(format!("generation {generation}, kid {}", jwk.kid));
    store.commit_now(WriteSet {
        ops,
        events: vec![event],
        ..WriteSet::default()
    })?;
    Ok(jwk.kid)
}

/// Makes the first generation if the tenant has none (tenants created
/// before certificates existed get theirs when they are next opened).
pub fn ensure(store: &TenantStore, entropy: &dyn Entropy, now_ms: i64) -> StoreResult<()> {
    let txn = store.db().begin_read()?;
    let has = match txn.open_table(ISSUER_KEYS) {
        Ok(t) => t.last()?.is_some(),
        Err(redb::TableError::TableDoesNotExist(_)) => false,
        Err(e) => return Err(e.into()),
    };
    drop(txn);
    if !has {
        rotate(store, entropy, now_ms, crate::store::SYSTEM_ACTOR)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FakeClock, SeededEntropy};
    use crate::datadir::DataDir;
    use crate::ids::TenantCode;

    /// Two tenants with the same code and the same seeded entropy (as two
    /// test servers in one process have) still sign with their own
    /// barcode signer certificates.
    #[test]
    fn each_store_signs_with_its_own_generation() {
        let clock = FakeClock::at(kiroku_rules::Date::parse("2026-04-01").unwrap());
        let code = TenantCode::parse("142051").unwrap();
        let opened: Vec<_> = (0..2)
            .map(|_| {
                let tmp = tempfile::tempdir().unwrap();
                let dir = DataDir::open(tmp.path()).unwrap();
                let entropy = SeededEntropy::new(11);
                let store = TenantStore::create(
                    &dir,
                    &code,
                    "test",
                    crate::roles::DEFAULT_ROLES,
                    clock.as_ref(),
                    &entropy,
                )
                .unwrap();
                ensure(&store, &entropy, clock.now_ms()).unwrap();
                let keys = current(&store).unwrap().unwrap();
                assert!(Arc::ptr_eq(&keys, &current(&store).unwrap().unwrap()));
                (keys, csca(&store).unwrap().unwrap(), tmp)
            })
            .collect();
        assert_ne!(opened[0].0.bsc, opened[1].0.bsc);
        assert_ne!(opened[0].1, opened[1].1);
    }
}
