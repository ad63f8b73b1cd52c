use proptest::prelude::*;
use serde_json::json;

use super::*;

fn canon(input: &str) -> String {
    from_str(input)
        .unwrap_or_else(|e| panic!("{input:?} failed to parse: {e}"))
        .to_canonical_string()
}

/// The input/output pairs from the "Canonical JSON" examples in the
/// appendix, except the `-0`/`1e10` one which has its own test below.
#[test]
fn appendix_examples() {
    let cases = [
        ("{}", "{}"),
        (
            r#"{
                "one": 1,
                "two": "Two"
            }"#,
            r#"{"one":1,"two":"Two"}"#,
        ),
        (
            r#"{
                "b": "2",
                "a": "1"
            }"#,
            r#"{"a":"1","b":"2"}"#,
        ),
        (r#"{"b":"2","a":"1"}"#, r#"{"a":"1","b":"2"}"#),
        (
            r#"{
                "auth": {
                    "success": true,
                    "mxid": "@john.doe:example.com",
                    "profile": {
                        "display_name": "John Doe",
                        "three_pids": [
                            {
                                "medium": "email",
                                "address": "john.doe@example.org"
                            },
                            {
                                "medium": "msisdn",
                                "address": "123456789"
                            }
                        ]
                    }
                }
            }"#,
            r#"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"#,
        ),
        (r#"{"a": "日本語"}"#, r#"{"a":"日本語"}"#),
        (r#"{"本": 2, "日": 1}"#, r#"{"日":1,"本":2}"#),
        (r#"{"a": "\u65E5"}"#, r#"{"a":"日"}"#),
        (r#"{"a": null}"#, r#"{"a":null}"#),
    ];
    for (input, expected) in cases {
        assert_eq!(canon(input), expected, "input: {input}");
    }
}

/// The appendix example `{"a": -0, "b": 1e10}`. The value conversion judges
/// numbers by value and reproduces it; the text parser accepts the integer
/// literal `-0` but, by design, refuses exponent notation.
#[test]
fn appendix_negative_zero_and_exponent_example() {
    let value: serde_json::Value = serde_json::from_str(r#"{"a": -0, "b": 1e10}"#).unwrap();
    let value = CanonicalJsonValue::try_from(value).unwrap();
    assert_eq!(value.to_canonical_string(), r#"{"a":0,"b":10000000000}"#);

    assert_eq!(canon(r#"{"a": -0}"#), r#"{"a":0}"#);
    assert_eq!(
        from_str(r#"{"a": -0, "b": 1e10}"#),
        Err(CanonicalJsonError::Float("1e10".into()))
    );
}

#[test]
fn strings_use_only_the_required_escapes() {
    let value = CanonicalJsonValue::String(
        "q\" b\\ \u{8}\t\n\u{c}\r \u{0}\u{1}\u{b}\u{e}\u{f}\u{10}\u{1a}\u{1f} / \u{7f} é 😀".into(),
    );
    assert_eq!(
        value.to_canonical_string(),
        "\"q\\\" b\\\\ \\b\\t\\n\\f\\r \\u0000\\u0001\\u000b\\u000e\\u000f\\u0010\\u001a\\u001f / \u{7f} é 😀\""
    );
}

#[test]
fn redundant_escapes_in_input_are_normalised() {
    assert_eq!(canon(r#""\/\u0041\u00e9\ud83d\ude00""#), "\"/Aé😀\"");
    assert_eq!(canon(r#""\u001F\u007f""#), "\"\\u001f\u{7f}\"");
}

#[test]
fn keys_sort_by_code_point_not_utf16() {
    // U+FF61 sorts before U+1F600 by code point, but after it in UTF-16.
    let out = canon(r#"{"😀": 1, "｡": 2, "Z": 3, "a": 4, "": 5}"#);
    assert_eq!(out, r#"{"":5,"Z":3,"a":4,"｡":2,"😀":1}"#);
}

#[test]
fn integer_range_boundaries() {
    assert_eq!(canon("9007199254740991"), "9007199254740991");
    assert_eq!(canon("-9007199254740991"), "-9007199254740991");
    for out_of_range in [
        "9007199254740992",
        "-9007199254740992",
        "18446744073709551616",
        "123456789012345678901234567890",
    ] {
        assert_eq!(
            from_str(out_of_range),
            Err(CanonicalJsonError::IntegerOutOfRange(out_of_range.into()))
        );
    }
    assert!(CanonicalJsonValue::integer(MAX_SAFE_INTEGER + 1).is_err());
    assert!(CanonicalJsonValue::integer(MIN_SAFE_INTEGER - 1).is_err());
    assert!(CanonicalJsonValue::try_from(u64::MAX).is_err());
}

#[test]
fn floats_are_rejected() {
    for float in ["1.5", "1.0", "0.0", "1e3", "1E3", "-2e-2", "1e+2", "0.5e1"] {
        assert_eq!(
            from_str(float),
            Err(CanonicalJsonError::Float(float.into())),
            "{float}"
        );
    }
    // Inside a structure too.
    assert!(matches!(
        from_str(r#"{"a":[1,2.5]}"#),
        Err(CanonicalJsonError::Float(_))
    ));
    // Value conversion: non-integral values are floats.
    assert_eq!(
        CanonicalJsonValue::try_from(json!(1.5)),
        Err(CanonicalJsonError::Float("1.5".into()))
    );
    assert!(matches!(
        CanonicalJsonValue::try_from(json!(1e300)),
        Err(CanonicalJsonError::IntegerOutOfRange(_))
    ));
    assert!(matches!(
        CanonicalJsonValue::try_from(json!(u64::MAX)),
        Err(CanonicalJsonError::IntegerOutOfRange(_))
    ));
    assert!(matches!(
        CanonicalJsonValue::try_from(json!(9007199254740992_i64)),
        Err(CanonicalJsonError::IntegerOutOfRange(_))
    ));
}

#[test]
fn duplicate_keys_are_rejected() {
    assert_eq!(
        from_str(r#"{"a": 1, "a": 2}"#),
        Err(CanonicalJsonError::DuplicateKey("a".into()))
    );
    // Equal after unescaping counts as duplicate.
    assert_eq!(
        from_str(r#"{"x": {"b": 1, "\u0062": 1}}"#),
        Err(CanonicalJsonError::DuplicateKey("b".into()))
    );
    assert_eq!(
        CanonicalJsonError::DuplicateKey("a".into()).to_string(),
        r#"duplicate key "a" in object"#
    );
}

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn nested_objects(depth: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

#[test]
fn nesting_limit() {
    assert!(from_str(&nested_arrays(MAX_DEPTH)).is_ok());
    assert!(from_str(&nested_objects(MAX_DEPTH)).is_ok());
    assert_eq!(
        from_str(&nested_arrays(MAX_DEPTH + 1)),
        Err(CanonicalJsonError::TooDeep)
    );
    assert_eq!(
        from_str(&nested_objects(MAX_DEPTH + 1)),
        Err(CanonicalJsonError::TooDeep)
    );
    // Far beyond the limit must fail cleanly, not overflow the stack.
    assert_eq!(
        from_str(&nested_arrays(1_000_000)),
        Err(CanonicalJsonError::TooDeep)
    );

    let deep: serde_json::Value = serde_json::from_str(&nested_arrays(MAX_DEPTH + 1)).unwrap();
    assert_eq!(
        CanonicalJsonValue::try_from(deep),
        Err(CanonicalJsonError::TooDeep)
    );
}

#[test]
fn syntax_errors() {
    for bad in [
        "",
        " ",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "{'a':1}",
        "{a:1}",
        "01",
        "-",
        "+1",
        "1.",
        "1e",
        ".5",
        "NaN",
        "Infinity",
        "tru",
        "nul",
        "\"unterminated",
        "\"raw\ncontrol\"",
        r#""\x""#,
        r#""\u12""#,
        r#""\ud800""#,
        r#""\ud800\u0041""#,
        r#""\udc00""#,
        "{} {}",
        "[1 2]",
        "{\"a\" 1}",
        "\u{feff}{}",
    ] {
        assert!(
            matches!(from_str(bad), Err(CanonicalJsonError::Syntax { .. })),
            "{bad:?} gave {:?}",
            from_str(bad)
        );
    }
    assert_eq!(
        from_slice(b"\"\xff\""),
        Err(CanonicalJsonError::Syntax {
            position: 1,
            reason: "input is not valid UTF-8"
        })
    );
}

#[test]
fn whitespace_around_tokens_is_accepted() {
    assert_eq!(
        canon(" \t\r\n{ \"a\" : [ 1 , true , null ] , \"b\" : { } } \n"),
        r#"{"a":[1,true,null],"b":{}}"#
    );
}

#[test]
fn object_helpers() {
    assert_eq!(object_from_str("[]"), Err(CanonicalJsonError::NotAnObject));
    assert_eq!(
        object_from_json(json!("x")),
        Err(CanonicalJsonError::NotAnObject)
    );
    let object = object_from_slice(br#"{"b":1,"a":2}"#).unwrap();
    assert_eq!(object_to_canonical_string(&object), r#"{"a":2,"b":1}"#);
    assert_eq!(
        canonical_string_without(&object, &["a", "missing"]),
        r#"{"b":1}"#
    );
}

#[test]
fn serde_json_value_round_trip() {
    let original = json!({"b": [1, "x", null, false], "a": {"c": -5}});
    let value = CanonicalJsonValue::try_from(original.clone()).unwrap();
    assert_eq!(serde_json::Value::from(value), original);
}

#[test]
fn deserialize_impl_enforces_the_rules() {
    fn parse(input: &str) -> serde_json::Result<CanonicalJsonValue> {
        serde_json::from_str(input)
    }
    assert_eq!(
        parse(r#"{"b":2,"a":[1,"x"]}"#)
            .unwrap()
            .to_canonical_string(),
        r#"{"a":[1,"x"],"b":2}"#
    );
    assert_eq!(parse("-0").unwrap(), CanonicalJsonValue::Integer(0));
    let error = |input: &str| parse(input).unwrap_err().to_string();
    assert!(error(r#"{"a":1,"a":2}"#).contains(r#"duplicate key "a""#));
    assert!(error("1.5").contains("floating-point"));
    assert!(error("1e10").contains("floating-point"));
    assert!(error("9007199254740992").contains("outside the allowed range"));
    assert!(error("-9007199254740992").contains("outside the allowed range"));
    assert!(error("99999999999999999999").contains("outside the allowed range"));
    assert!(error(&nested_arrays(MAX_DEPTH + 1)).contains("nested deeper"));
    assert!(parse(&nested_arrays(MAX_DEPTH)).is_ok());

    // Serialize goes through serde_json and agrees with the canonical form.
    let value = from_str(r#"{"z":"\u0001","a":[1,{}]}"#).unwrap();
    assert_eq!(
        serde_json::to_value(&value).unwrap(),
        serde_json::Value::from(value.clone())
    );
}

/// Arbitrary canonical values, with strings drawn from all of Unicode so
/// escapes and multi-byte characters are exercised.
pub(crate) fn arb_value() -> BoxedStrategy<CanonicalJsonValue> {
    let string = prop::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter);
    let leaf = prop_oneof![
        Just(CanonicalJsonValue::Null),
        any::<bool>().prop_map(CanonicalJsonValue::Bool),
        (MIN_SAFE_INTEGER..=MAX_SAFE_INTEGER).prop_map(CanonicalJsonValue::Integer),
        (-3i64..3).prop_map(CanonicalJsonValue::Integer),
        string.clone().prop_map(CanonicalJsonValue::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(CanonicalJsonValue::Array),
            prop::collection::btree_map(string.clone(), inner, 0..6)
                .prop_map(CanonicalJsonValue::Object),
        ]
    })
    .boxed()
}

proptest! {
    #[test]
    fn canonical_form_round_trips_and_is_stable(value in arb_value()) {
        let text = value.to_canonical_string();
        let reparsed = from_str(&text).unwrap();
        prop_assert_eq!(&reparsed, &value);
        prop_assert_eq!(reparsed.to_canonical_string(), text);
    }

    #[test]
    fn pretty_printed_input_parses_to_the_same_value(value in arb_value()) {
        // serde_json is an independent encoder; its pretty output adds
        // whitespace and its own choice of escapes.
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        prop_assert_eq!(from_str(&pretty).unwrap(), value);
    }

    #[test]
    fn serde_json_agrees_with_canonical_output(value in arb_value()) {
        let ours: serde_json::Value = serde_json::from_str(&value.to_canonical_string()).unwrap();
        prop_assert_eq!(&ours, &serde_json::Value::from(value.clone()));
        prop_assert_eq!(CanonicalJsonValue::try_from(ours).unwrap(), value);
    }

    #[test]
    fn parser_never_panics(input in ".{0,64}") {
        let _ = from_str(&input);
    }
}
