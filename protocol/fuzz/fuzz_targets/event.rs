//! Treats arbitrary bytes as a PDU and runs the event algorithms over it in
//! every room version. Nothing may panic, redaction must be idempotent, and
//! whenever an event can be redacted it must also have a reference hash.
//! Events that pass PDU validation are also authorised, against no state and
//! against a state holding the event itself.

#![no_main]

use hanse_protocol::auth::{auth_types_for_event, authorize, required_signers};
use hanse_protocol::event_id::{event_id, room_id_for_create_event};
use hanse_protocol::event_signing::verify_event_signature;
use hanse_protocol::hashes::{check_content_hash, content_hash, reference_hash};
use hanse_protocol::redaction::redact;
use hanse_protocol::{canonical_json, KeyId, Pdu, RoomVersionId, ServerSigningKey};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = canonical_json::object_from_slice(data) else {
        return;
    };
    let key = ServerSigningKey::from_seed("1", [1; 32]).expect("valid version");
    let key_id = KeyId::ed25519("1").expect("valid key ID");

    let _ = content_hash(&event);
    let _ = check_content_hash(&event);
    for version in RoomVersionId::ALL {
        let rules = version.rules();
        let redacted = match redact(&event, rules) {
            Ok(redacted) => redacted,
            Err(_) => {
                assert!(reference_hash(&event, rules).is_err());
                continue;
            }
        };
        assert_eq!(
            redact(&redacted, rules).expect("redacted events stay redactable"),
            redacted
        );
        assert_eq!(
            reference_hash(&redacted, rules).expect("redacted event hashes"),
            reference_hash(&event, rules).expect("redactable event hashes"),
        );
        let _ = event_id(&event, rules);
        let _ = room_id_for_create_event(&event, rules);
        let _ = verify_event_signature(&event, rules, "domain", &key_id, &key.verifying_key());

        if let Ok(pdu) = Pdu::from_canonical(event.clone(), rules) {
            let _ = required_signers(&pdu, rules);
            let _ = auth_types_for_event(
                pdu.event_type(),
                pdu.state_key(),
                pdu.sender(),
                pdu.content(),
                rules,
            );
            let _ = authorize(&pdu, rules, &BTreeMap::new());
            let mut state = BTreeMap::new();
            if let Some(state_key) = pdu.state_key() {
                state.insert(
                    (pdu.event_type().to_owned(), state_key.to_owned()),
                    pdu.clone(),
                );
            }
            let _ = authorize(&pdu, rules, &state);
        }
    }
});
