use ed25519_dalek::{Signature, Verifier};

use super::*;
use crate::base64;
use crate::canonical_json::object_from_json;

fn key() -> ServerSigningKey {
    ServerSigningKey::from_seed("a_1", [7; 32]).unwrap()
}

fn body() -> CanonicalJsonValue {
    CanonicalJsonValue::Object(object_from_json(serde_json::json!({ "pdus": [], "n": 1 })).unwrap())
}

fn request(content: Option<&CanonicalJsonValue>) -> SignedRequest<'_> {
    SignedRequest {
        method: "PUT",
        uri: "/_matrix/federation/v1/send/1?x=y",
        origin: "origin.example",
        destination: "destination.example:8448",
        content,
    }
}

#[test]
fn the_signature_covers_exactly_the_spec_object() {
    let content = body();
    let header = request(Some(&content)).sign(&key()).unwrap();
    // The bytes signed, written out by hand: keys sorted, no spaces.
    let signed = r#"{"content":{"n":1,"pdus":[]},"destination":"destination.example:8448","method":"PUT","origin":"origin.example","uri":"/_matrix/federation/v1/send/1?x=y"}"#;
    let signature = Signature::from_slice(&base64::decode(&header.sig).unwrap()).unwrap();
    key()
        .verifying_key()
        .verify(signed.as_bytes(), &signature)
        .unwrap();
}

#[test]
fn a_signed_request_verifies_after_a_round_trip_through_the_header() {
    let content = body();
    for content in [Some(&content), None] {
        let header = request(content).sign(&key()).unwrap();
        let text = header.to_string();
        assert!(
            text.starts_with("X-Matrix origin=\"origin.example\",destination="),
            "{text}"
        );
        let parsed = XMatrix::parse(&text).unwrap();
        assert_eq!(parsed, header);
        let r = request(content);
        parsed
            .verify(
                r.method,
                r.uri,
                r.destination,
                content,
                &key().verifying_key(),
            )
            .unwrap();
    }
}

#[test]
fn any_change_to_the_request_breaks_the_signature() {
    let content = body();
    let header = request(Some(&content)).sign(&key()).unwrap();
    let r = request(Some(&content));
    let other_body = CanonicalJsonValue::Object(
        object_from_json(serde_json::json!({ "pdus": [], "n": 2 })).unwrap(),
    );
    let other_key = ServerSigningKey::from_seed("a_1", [8; 32])
        .unwrap()
        .verifying_key();
    let cases: [(&str, &str, Option<&CanonicalJsonValue>, &VerifyingKey); 5] = [
        ("POST", r.uri, Some(&content), &key().verifying_key()),
        (
            r.method,
            "/_matrix/federation/v1/send/2?x=y",
            Some(&content),
            &key().verifying_key(),
        ),
        (r.method, r.uri, Some(&other_body), &key().verifying_key()),
        (r.method, r.uri, None, &key().verifying_key()),
        (r.method, r.uri, Some(&content), &other_key),
    ];
    for (method, uri, content, verifying_key) in cases {
        let outcome = header.verify(method, uri, r.destination, content, verifying_key);
        assert!(
            matches!(outcome, Err(XMatrixError::BadSignature(_))),
            "{method} {uri}: {outcome:?}"
        );
    }
}

#[test]
fn the_destination_is_checked_and_may_be_left_out_by_older_servers() {
    let content = body();
    let r = request(Some(&content));
    let header = r.sign(&key()).unwrap();
    // Addressed elsewhere: refused before any signature check.
    assert_eq!(
        header.verify(
            r.method,
            r.uri,
            "us.example",
            Some(&content),
            &key().verifying_key()
        ),
        Err(XMatrixError::WrongDestination(
            "destination.example:8448".into()
        ))
    );
    // Without the parameter, the receiver's own name is what was signed.
    let older = XMatrix {
        destination: None,
        ..header.clone()
    };
    older
        .verify(
            r.method,
            r.uri,
            r.destination,
            Some(&content),
            &key().verifying_key(),
        )
        .unwrap();
    assert!(older
        .verify(
            r.method,
            r.uri,
            "us.example",
            Some(&content),
            &key().verifying_key()
        )
        .is_err());
}

#[test]
fn headers_are_parsed_as_rfc_9110_auth_params() {
    let expected = XMatrix {
        origin: ServerName::parse("origin.example:8448").unwrap(),
        destination: Some(ServerName::parse("destination.example").unwrap()),
        key: KeyId::parse("ed25519:a_1").unwrap(),
        sig: "c2ln\"x".into(),
    };
    for header in [
        r#"X-Matrix origin="origin.example:8448",destination="destination.example",key="ed25519:a_1",sig="c2ln\"x""#,
        "x-matrix  ORIGIN=origin.example:8448 ,\tDestination = \"destination.example\" , key=\"ed25519:a_1\",sig=\"c2ln\\\"x\",unknown=\"ignored\"",
        r#"X-Matrix sig="c2ln\"x",key=ed25519:a_1,destination=destination.example,origin="origin.example:8448""#,
    ] {
        assert_eq!(XMatrix::parse(header).as_ref(), Ok(&expected), "{header}");
    }
    let older = XMatrix::parse(r#"X-Matrix origin=o.example,key="ed25519:k",sig=abc"#).unwrap();
    assert_eq!(older.destination, None);
}

#[test]
fn bad_headers_are_refused_with_the_reason() {
    let cases = [
        ("Bearer abc", XMatrixError::NotXMatrix),
        ("X-Matrix", XMatrixError::NotXMatrix),
        (
            r#"X-Matrix key="ed25519:k",sig="s""#,
            XMatrixError::MissingParameter("origin"),
        ),
        (
            r#"X-Matrix origin="o.example",sig="s""#,
            XMatrixError::MissingParameter("key"),
        ),
        (
            r#"X-Matrix origin="o.example",key="ed25519:k""#,
            XMatrixError::MissingParameter("sig"),
        ),
        (
            r#"X-Matrix origin="o.example",origin="p.example",key="ed25519:k",sig="s""#,
            XMatrixError::RepeatedParameter("origin"),
        ),
        (
            r#"X-Matrix origin="o.example"#,
            XMatrixError::Malformed("a quoted value is not closed"),
        ),
        (
            r#"X-Matrix origin="o.example,key="ed25519:k""#,
            XMatrixError::Malformed("parameters must be separated by commas"),
        ),
        (
            r#"X-Matrix origin"#,
            XMatrixError::Malformed("a parameter has no value"),
        ),
        (
            r#"X-Matrix origin=,key=k"#,
            XMatrixError::Malformed("a parameter value is empty"),
        ),
        (
            r#"X-Matrix origin="o.example" key="k""#,
            XMatrixError::Malformed("parameters must be separated by commas"),
        ),
    ];
    for (header, expected) in cases {
        assert_eq!(XMatrix::parse(header), Err(expected), "{header}");
    }
    assert!(matches!(
        XMatrix::parse(r#"X-Matrix origin="not a server",key="ed25519:k",sig="s""#),
        Err(XMatrixError::InvalidParameter {
            parameter: "origin",
            ..
        })
    ));
}
