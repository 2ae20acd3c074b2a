//! Sealing, wrapping and index hashes.
use super::*;
use crate::clock::SeededEntropy;

fn keys(tenant: &str) -> TenantKeys {
    TenantKeys::derive(&TenantKey::from_bytes([7; 32]), tenant)
}

#[test]
fn sealed_values_open_only_in_their_own_context() {
    let entropy = SeededEntropy::new(1);
    let key = DataKey::generate(&entropy);
    let here = SealContext::new("142051", "resident", 1, 0);
    let sealed = key.seal(&here, "藤沢 花子".as_bytes(), &entropy);
    assert_eq!(key.open(&here, &sealed).unwrap(), "藤沢 花子".as_bytes());
    assert!(
        key.open(&SealContext::new("142051", "resident", 2, 0), &sealed)
            .is_err()
    );
    assert!(
        key.open(&SealContext::new("141003", "resident", 1, 0), &sealed)
            .is_err()
    );
    let mut altered = sealed.clone();
    *altered.last_mut().unwrap() ^= 1;
    assert!(key.open(&here, &altered).is_err());
}

#[test]
fn data_keys_unwrap_only_for_their_person_and_tenant() {
    let entropy = SeededEntropy::new(2);
    let key = DataKey::generate(&entropy);
    let secret = PersonSecret::generate(&entropy);
    let wrapped = keys("142051").wrap(9, &key, &secret, &entropy);
    let back = keys("142051").unwrap(9, &wrapped, &secret).unwrap();
    assert_eq!(back.0, key.0);
    assert!(keys("142051").unwrap(10, &wrapped, &secret).is_err());
    assert!(keys("141003").unwrap(9, &wrapped, &secret).is_err());
    // Without the secret the unwrapped bytes are not the key.
    let other = PersonSecret::generate(&entropy);
    assert_ne!(keys("142051").unwrap(9, &wrapped, &other).unwrap().0, key.0);
}

#[test]
fn index_hashes_are_keyed_and_kind_separated() {
    let a = keys("142051");
    let b = keys("141003");
    assert_eq!(
        a.index_hash(IndexKind::Ticket, "1"),
        a.index_hash(IndexKind::Ticket, "1")
    );
    assert_ne!(
        a.index_hash(IndexKind::Ticket, "1"),
        b.index_hash(IndexKind::Ticket, "1")
    );
    assert_ne!(
        a.index_hash(IndexKind::Ticket, "1"),
        a.index_hash(IndexKind::MyNumber, "1")
    );
}

#[test]
fn ticket_keys_are_tagged_and_the_other_kinds_kept_as_in_schema_1() {
    let a = keys("142051");
    for number in ["1234567890", "0000000018"] {
        let key = a.index_hash(IndexKind::Ticket, number);
        let v1 = a.index_hash_v1(IndexKind::Ticket, number);
        assert_eq!(key[0], TICKET_KEY_TAG);
        assert_eq!(
            key[1..],
            v1[..INDEX_HASH_LEN - 1],
            "the same keyed hash, shifted"
        );
    }
    for kind in [IndexKind::AddressNumber, IndexKind::MyNumber] {
        assert_eq!(a.index_hash(kind, "1"), a.index_hash_v1(kind, "1"));
    }
}
