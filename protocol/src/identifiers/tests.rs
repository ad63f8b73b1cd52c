use std::collections::HashMap;

use super::*;

const HASH_URL_SAFE: &str = "Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg";
const HASH_STANDARD: &str = "acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk";

#[test]
fn server_names() {
    let valid = [
        ("matrix.org", "matrix.org", None),
        ("matrix.org:8888", "matrix.org", Some(8888)),
        ("1.2.3.4", "1.2.3.4", None),
        ("1.2.3.4:1234", "1.2.3.4", Some(1234)),
        ("[1234:5678::abcd]", "[1234:5678::abcd]", None),
        ("[1234:5678::abcd]:5678", "[1234:5678::abcd]", Some(5678)),
        ("[::1]", "[::1]", None),
        ("[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]", Some(80)),
        (
            "[2001:DB8:0:0:8:800:200C:417A]",
            "[2001:DB8:0:0:8:800:200C:417A]",
            None,
        ),
        ("localhost", "localhost", None),
        ("MATRIX.ORG", "MATRIX.ORG", None),
        ("a-b.c-d", "a-b.c-d", None),
        ("example.org:65535", "example.org", Some(65535)),
        ("example.org:0", "example.org", Some(0)),
        ("255.255.255.255", "255.255.255.255", None),
        // Dotted but not four groups of up to three digits: a DNS name.
        ("1.2.3", "1.2.3", None),
        ("1.2.3.4.5", "1.2.3.4.5", None),
    ];
    for (input, host, port) in valid {
        let name = ServerName::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(name.as_str(), input);
        assert_eq!(name.host(), host, "{input}");
        assert_eq!(name.port(), port, "{input}");
    }
    assert!(ServerName::parse("1.2.3.4:8").unwrap().is_ip_literal());
    assert!(ServerName::parse("[::1]:8").unwrap().is_ip_literal());
    assert!(!ServerName::parse("example.org:8").unwrap().is_ip_literal());

    let max_dns = "a".repeat(255);
    assert!(ServerName::parse(&max_dns).is_ok());
    assert!(ServerName::parse(&format!("{max_dns}:443")).is_ok());

    let invalid = [
        ("", IdError::EmptyPart("server name")),
        (":8080", IdError::EmptyPart("server name host")),
        ("example.org:", IdError::InvalidPort),
        ("example.org:123456", IdError::InvalidPort),
        ("example.org:65536", IdError::InvalidPort),
        ("example.org:http", IdError::InvalidPort),
        ("example.org:-1", IdError::InvalidPort),
        ("256.1.1.1", IdError::InvalidIpv4),
        ("1.2.3.999:80", IdError::InvalidIpv4),
        ("[1234:5678::abcd", IdError::InvalidIpv6),
        ("[]", IdError::InvalidIpv6),
        ("[:]", IdError::InvalidIpv6),
        ("[1:2:3:4:5:6:7:8:9]", IdError::InvalidIpv6),
        ("[::1%eth0]", IdError::InvalidIpv6),
        ("[::g]", IdError::InvalidIpv6),
        ("[::1]8080", IdError::InvalidPort),
        ("[::1]:", IdError::InvalidPort),
        ("[::1]:99999", IdError::InvalidPort),
        (
            "::1",
            IdError::ForbiddenCharacter {
                part: "server name",
                ch: ':',
            },
        ),
        (
            "exa_mple.org",
            IdError::ForbiddenCharacter {
                part: "server name",
                ch: '_',
            },
        ),
        (
            "exämple.org",
            IdError::ForbiddenCharacter {
                part: "server name",
                ch: 'ä',
            },
        ),
        (
            "example.org/path",
            IdError::ForbiddenCharacter {
                part: "server name",
                ch: '/',
            },
        ),
        (
            "ex ample.org",
            IdError::ForbiddenCharacter {
                part: "server name",
                ch: ' ',
            },
        ),
    ];
    for (input, error) in invalid {
        assert_eq!(ServerName::parse(input), Err(error), "{input:?}");
    }
    assert_eq!(
        ServerName::parse(&"a".repeat(256)),
        Err(IdError::TooLong { len: 256, max: 255 })
    );
}

#[test]
fn user_ids() {
    let id = UserId::parse("@alice:example.org").unwrap();
    assert_eq!(id.localpart(), "alice");
    assert_eq!(id.server_name().as_str(), "example.org");
    assert!(!id.is_historical());
    assert!(id.is_compliant());

    let id = UserId::parse("@a.b_c=d-e/f+g:[::1]:8448").unwrap();
    assert_eq!(id.localpart(), "a.b_c=d-e/f+g");
    assert_eq!(id.server_name().as_str(), "[::1]:8448");
    assert_eq!(id.server_name().port(), Some(8448));
    assert!(!id.is_historical());

    // Historical IDs: accepted, flagged.
    for (input, compliant) in [
        ("@Alice:example.org", true),
        ("@alice!#$%&'*:example.org", true),
        ("@:example.org", false),
        ("@al ice:example.org", false),
        ("@ÄLICE:example.org", false),
        ("@\u{1}\u{7f}:example.org", false),
        ("@日本:example.org", false),
    ] {
        let id = UserId::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert!(id.is_historical(), "{input:?}");
        assert_eq!(id.is_compliant(), compliant, "{input:?}");
    }

    let invalid = [
        ("", IdError::Empty),
        ("alice:example.org", IdError::MissingSigil('@')),
        ("#alice:example.org", IdError::MissingSigil('@')),
        ("@alice", IdError::MissingDelimiter),
        ("@alice:", IdError::EmptyPart("server name")),
        (
            "@al\0ice:example.org",
            IdError::ForbiddenCharacter {
                part: "user ID local part",
                ch: '\0',
            },
        ),
        ("@alice:exam:ple.org", IdError::InvalidPort),
        (
            "@alice:exam:ple.org:80",
            IdError::ForbiddenCharacter {
                part: "server name",
                ch: ':',
            },
        ),
    ];
    for (input, error) in invalid {
        assert_eq!(UserId::parse(input), Err(error), "{input:?}");
    }
}

#[test]
fn user_id_length_limit() {
    // "@" + local + ":" + "example.org" (11) = 255 bytes exactly.
    let local = "a".repeat(255 - 13);
    let at_limit = format!("@{local}:example.org");
    assert_eq!(at_limit.len(), 255);
    assert!(UserId::parse(&at_limit).is_ok());
    let server = ServerName::parse("example.org").unwrap();
    assert!(UserId::new(&local, &server).is_ok());

    let over = format!("@{local}a:example.org");
    assert_eq!(
        UserId::parse(&over),
        Err(IdError::TooLong { len: 256, max: 255 })
    );
    assert_eq!(
        UserId::new(&format!("{local}a"), &server),
        Err(IdError::TooLong { len: 256, max: 255 })
    );
    // The limit is in bytes, not characters.
    let multibyte = format!("@{}:example.org", "é".repeat(122));
    assert_eq!(multibyte.len(), 257);
    assert!(UserId::parse(&multibyte).is_err());
}

#[test]
fn user_id_strict_constructor() {
    let server = ServerName::parse("example.org").unwrap();
    let id = UserId::new("bob.smith", &server).unwrap();
    assert_eq!(id.as_str(), "@bob.smith:example.org");
    assert_eq!(id.localpart(), "bob.smith");
    for (local, ch) in [
        ("Bob", 'B'),
        ("bob smith", ' '),
        ("bob:x", ':'),
        ("bob*", '*'),
        ("bøb", 'ø'),
    ] {
        assert_eq!(
            UserId::new(local, &server),
            Err(IdError::ForbiddenCharacter {
                part: "user ID local part",
                ch
            }),
            "{local:?}"
        );
    }
    assert_eq!(
        UserId::new("", &server),
        Err(IdError::EmptyPart("user ID local part"))
    );
}

#[test]
fn room_ids() {
    let classic = RoomId::parse("!abc123:matrix.org").unwrap();
    assert_eq!(classic.server_name().unwrap().as_str(), "matrix.org");
    assert!(!classic.is_hash_based());
    assert_eq!(classic.create_event_id(), None);
    // Opaque parts may be unusual.
    assert!(RoomId::parse("!a b/é\u{1}:example.org:8448").is_ok());

    let hashed = RoomId::parse(&format!("!{HASH_URL_SAFE}")).unwrap();
    assert!(hashed.is_hash_based());
    assert_eq!(hashed.server_name(), None);
    assert_eq!(
        hashed.create_event_id().unwrap().as_str(),
        format!("${HASH_URL_SAFE}")
    );

    let invalid = [
        ("", IdError::Empty),
        ("abc:matrix.org", IdError::MissingSigil('!')),
        ("!abc", IdError::InvalidHash),
        // Standard alphabet is not allowed in room IDs.
        (&*format!("!{HASH_STANDARD}"), IdError::InvalidHash),
        // One character short / long.
        (&*format!("!{}", &HASH_URL_SAFE[..42]), IdError::InvalidHash),
        (&*format!("!{HASH_URL_SAFE}A"), IdError::InvalidHash),
        ("!abc:", IdError::EmptyPart("server name")),
        (
            "!a\0c:matrix.org",
            IdError::ForbiddenCharacter {
                part: "local part",
                ch: '\0',
            },
        ),
    ];
    for (input, error) in invalid {
        assert_eq!(RoomId::parse(input), Err(error), "{input:?}");
    }
    let long = format!("!{}:example.org", "x".repeat(255 - 13));
    assert!(RoomId::parse(&long).is_ok());
    assert!(matches!(
        RoomId::parse(&format!("{long}x")),
        Err(IdError::TooLong { .. })
    ));

    let server = ServerName::parse("example.org").unwrap();
    let a = RoomId::new_random(&server).unwrap();
    let b = RoomId::new_random(&server).unwrap();
    assert_ne!(a, b);
    assert_eq!(RoomId::parse(a.as_str()).unwrap(), a);
    assert_eq!(a.server_name(), Some(&server));
}

#[test]
fn event_ids() {
    let v1 = EventId::parse("$143273582443PhrSn:example.org").unwrap();
    assert_eq!(v1.server_name().unwrap().as_str(), "example.org");
    assert!(!v1.is_hash_based());

    for hash in [HASH_URL_SAFE, HASH_STANDARD] {
        let id = EventId::parse(&format!("${hash}")).unwrap();
        assert!(id.is_hash_based());
        assert_eq!(id.server_name(), None);
    }

    let invalid = [
        ("", IdError::Empty),
        ("143273582443PhrSn:example.org", IdError::MissingSigil('$')),
        ("$abc", IdError::InvalidHash),
        ("$", IdError::InvalidHash),
        // Mixed alphabets decode under neither.
        (
            "$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7Xc-k",
            IdError::InvalidHash,
        ),
        ("$abc:", IdError::EmptyPart("server name")),
    ];
    for (input, error) in invalid {
        assert_eq!(EventId::parse(input), Err(error), "{input:?}");
    }
    let long = format!("${}:example.org", "x".repeat(256 - 13));
    assert!(matches!(
        EventId::parse(&long),
        Err(IdError::TooLong { len: 256, .. })
    ));

    let server = ServerName::parse("example.org").unwrap();
    let generated = EventId::new_random(&server).unwrap();
    assert_eq!(EventId::parse(generated.as_str()).unwrap(), generated);
    let huge_server = ServerName::parse(&"a".repeat(250)).unwrap();
    assert!(matches!(
        EventId::new_random(&huge_server),
        Err(IdError::TooLong { .. })
    ));
}

#[test]
fn room_aliases() {
    let alias = RoomAlias::parse("#room:example.org").unwrap();
    assert_eq!(alias.localpart(), "room");
    assert_eq!(alias.server_name().as_str(), "example.org");
    assert_eq!(
        RoomAlias::parse("#Ünïcode room!:example.org:1")
            .unwrap()
            .localpart(),
        "Ünïcode room!"
    );
    let invalid = [
        ("", IdError::Empty),
        ("!room:example.org", IdError::MissingSigil('#')),
        ("#room", IdError::MissingDelimiter),
        ("#room:", IdError::EmptyPart("server name")),
        (
            "#ro\0om:example.org",
            IdError::ForbiddenCharacter {
                part: "local part",
                ch: '\0',
            },
        ),
    ];
    for (input, error) in invalid {
        assert_eq!(RoomAlias::parse(input), Err(error), "{input:?}");
    }
    let at_limit = format!("#{}:example.org", "r".repeat(255 - 13));
    assert!(RoomAlias::parse(&at_limit).is_ok());
    assert!(matches!(
        RoomAlias::parse(&format!("#r{}", &at_limit[1..])),
        Err(IdError::TooLong { len: 256, .. })
    ));
}

#[test]
fn device_ids() {
    assert!(DeviceId::parse("ABCDEFGHIJ").is_ok());
    assert!(DeviceId::parse("some device/with ünïcode").is_ok());
    assert_eq!(DeviceId::parse(""), Err(IdError::Empty));
    assert!(matches!(
        DeviceId::parse(&"d".repeat(256)),
        Err(IdError::TooLong { len: 256, .. })
    ));
    assert!(matches!(
        DeviceId::parse("a\nb"),
        Err(IdError::ForbiddenCharacter { ch: '\n', .. })
    ));
    let generated = DeviceId::generate();
    assert_eq!(generated.as_str().len(), 10);
    assert_eq!(DeviceId::parse(generated.as_str()).unwrap(), generated);
}

#[test]
fn key_ids() {
    let id = KeyId::parse("ed25519:a_AbC9").unwrap();
    assert_eq!(id.algorithm(), "ed25519");
    assert_eq!(id.version(), "a_AbC9");
    assert!(id.is_ed25519());
    assert_eq!(KeyId::ed25519("1").unwrap().as_str(), "ed25519:1");
    let other = KeyId::parse("signed_curve25519:AAAAHg").unwrap();
    assert!(!other.is_ed25519());

    let invalid = [
        ("", IdError::Empty),
        ("ed25519", IdError::MissingDelimiter),
        (":abc", IdError::EmptyPart("key algorithm")),
        ("ed25519:", IdError::EmptyPart("key version")),
        (
            "Ed25519:abc",
            IdError::ForbiddenCharacter {
                part: "key algorithm",
                ch: 'E',
            },
        ),
        (
            "ed25519:a-b",
            IdError::ForbiddenCharacter {
                part: "key version",
                ch: '-',
            },
        ),
        (
            "ed25519:a:b",
            IdError::ForbiddenCharacter {
                part: "key version",
                ch: ':',
            },
        ),
    ];
    for (input, error) in invalid {
        assert_eq!(KeyId::parse(input), Err(error), "{input:?}");
    }
}

#[test]
fn identifiers_behave_like_strings() {
    let id = UserId::parse("@alice:example.org").unwrap();
    assert_eq!(id, "@alice:example.org");
    assert_eq!(id.to_string(), "@alice:example.org");
    assert_eq!(format!("{id:?}"), r#"UserId("@alice:example.org")"#);
    let mut map = HashMap::new();
    map.insert(id.clone(), 1);
    assert_eq!(map.get("@alice:example.org"), Some(&1));
    assert_eq!(String::from(id.clone()), "@alice:example.org");
    assert_eq!(
        UserId::try_from("@alice:example.org".to_owned()).unwrap(),
        id
    );
    assert_eq!("@alice:example.org".parse::<UserId>().unwrap(), id);

    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, r#""@alice:example.org""#);
    assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), id);
    let error = serde_json::from_str::<UserId>(r#""alice""#).unwrap_err();
    assert!(error.to_string().contains("must start with '@'"), "{error}");
    assert!(serde_json::from_str::<ServerName>(r#""a:b:c""#).is_err());
}
