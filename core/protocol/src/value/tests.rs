//! Tests of the codecs and the serde bridge together.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;

fn s(v: &str) -> Value {
    Value::from(v)
}

fn num(text: &str) -> Value {
    Value::Number(text.parse().unwrap())
}

fn obj<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

fn msgpack_round_trip(value: &Value, ty: &Type) -> Value {
    let bytes = encode_msgpack(value, ty).unwrap();
    let back = decode_msgpack(&bytes, ty).unwrap();
    assert_eq!(&back, value, "msgpack {bytes:02x?}");
    back
}

fn json_round_trip(value: &Value, ty: &Type) {
    let bytes = encode_json(value, ty).unwrap();
    let back = decode_json(&bytes, ty).unwrap();
    assert_eq!(&back, value, "json {}", String::from_utf8_lossy(&bytes));
}

// ------------------------------------------------------ exact wire bytes

#[test]
fn wholly_unknown_is_d4_00_00() {
    assert_eq!(
        encode_msgpack(&Value::unknown(), &Type::String).unwrap(),
        [0xd4, 0, 0]
    );
    assert_eq!(
        decode_msgpack(&[0xd4, 0, 0], &Type::String).unwrap(),
        Value::unknown()
    );
    // Any ext code with a short payload is a wholly unknown value.
    assert_eq!(
        decode_msgpack(&[0xd4, 7, 9], &Type::Bool).unwrap(),
        Value::unknown()
    );
    assert_eq!(
        decode_msgpack(&[0xc7, 0, 0], &Type::Bool).unwrap(),
        Value::unknown()
    );
    // Refinements that say nothing still encode as ext 0.
    let empty = Value::Unknown(Refinements {
        string_prefix: Some(String::new()),
        ..Default::default()
    });
    assert_eq!(encode_msgpack(&empty, &Type::String).unwrap(), [0xd4, 0, 0]);
}

#[test]
fn refined_unknown_bytes() {
    let bytes = [0xc7, 0x07, 0x0c, 0x82, 0x01, 0xc2, 0x02, 0xa2, b'a', b'b'];
    let value = decode_msgpack(&bytes, &Type::String).unwrap();
    let expected = Value::Unknown(Refinements {
        not_null: true,
        string_prefix: Some("ab".into()),
        ..Default::default()
    });
    assert_eq!(value, expected);
    assert_eq!(encode_msgpack(&value, &Type::String).unwrap(), bytes);
}

#[test]
fn dynamic_value_bytes() {
    let mut bytes = vec![0x92, 0xc4, 0x08];
    bytes.extend_from_slice(b"\"string\"");
    bytes.extend_from_slice(&[0xa2, b'h', b'i']);
    let value = decode_msgpack(&bytes, &Type::Dynamic).unwrap();
    assert_eq!(
        value,
        Value::Dynamic(Box::new(Type::String), Box::new(s("hi")))
    );
    assert_eq!(encode_msgpack(&value, &Type::Dynamic).unwrap(), bytes);
    // A plain value at a dynamic position goes with its inferred type.
    assert_eq!(encode_msgpack(&s("hi"), &Type::Dynamic).unwrap(), bytes);
}

#[test]
fn terraform_object_bytes() {
    let bytes = b"\x82\xa2id\xc0\xa4name\xa3one";
    let ty = Type::object([("id", Type::String), ("name", Type::String)]);
    let value = decode_msgpack(bytes, &ty).unwrap();
    assert_eq!(value, obj([("id", Value::Null), ("name", s("one"))]));
    assert_eq!(encode_msgpack(&value, &ty).unwrap(), bytes);
}

#[test]
fn number_encodings() {
    let cases: [(&str, &[u8]); 6] = [
        ("1", &[0x01]),
        ("-1", &[0xff]),
        ("300", &[0xcd, 0x01, 0x2c]),
        ("-9223372036854775808", &[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        ("0.5", &[0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0]),
        ("0.1", b"\xa30.1"),
    ];
    for (text, bytes) in cases {
        assert_eq!(
            encode_msgpack(&num(text), &Type::Number).unwrap(),
            bytes,
            "{text}"
        );
        assert_eq!(
            decode_msgpack(bytes, &Type::Number).unwrap(),
            num(text),
            "{text}"
        );
    }
    // Whole numbers beyond i64 go as text, as cty sends them.
    let big = encode_msgpack(&num("18446744073709551615"), &Type::Number).unwrap();
    assert_eq!(big[0], 0xb4);
    // Every int form decodes.
    assert_eq!(
        decode_msgpack(
            &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &Type::Number
        )
        .unwrap(),
        num("18446744073709551615")
    );
    assert_eq!(
        decode_msgpack(&[0xd0, 0x80], &Type::Number).unwrap(),
        num("-128")
    );
    assert_eq!(
        decode_msgpack(&[0xca, 0x3f, 0xc0, 0, 0], &Type::Number).unwrap(),
        num("1.5")
    );
    // Infinities are float64s.
    let inf = encode_msgpack(&Value::Number(Number::infinity()), &Type::Number).unwrap();
    assert_eq!(inf, [0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        decode_msgpack(&inf, &Type::Number).unwrap(),
        Value::Number(Number::infinity())
    );
    assert!(decode_msgpack(&[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], &Type::Number).is_err());
}

#[test]
fn float_from_the_wire_keeps_its_exact_value() {
    let bytes = [0xcb, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]; // 0.1f64
    let value = decode_msgpack(&bytes, &Type::Number).unwrap();
    assert_ne!(value, num("0.1"));
    assert_eq!(encode_msgpack(&value, &Type::Number).unwrap(), bytes);
}

#[test]
fn big_numbers_round_trip() {
    let huge = format!("1{}", "0".repeat(400));
    for text in [
        huge.as_str(),
        "1e400",
        "-1e-400",
        "0.1",
        "123456789012345678901234567890.000000000000000000001",
    ] {
        let value = num(text);
        msgpack_round_trip(&value, &Type::Number);
        json_round_trip(&value, &Type::Number);
    }
    assert_eq!(encode_json(&num("0.1"), &Type::Number).unwrap(), b"0.1");
    assert_eq!(
        encode_json(&num("1e400"), &Type::Number).unwrap(),
        huge.as_bytes()
    );
    assert_eq!(decode_json(b"1e400", &Type::Number).unwrap(), num(&huge));
    assert!(encode_json(&Value::Number(Number::infinity()), &Type::Number).is_err());
}

// ------------------------------------------------------ round trips

fn every_type() -> Vec<(Type, Value)> {
    let object = Type::object([
        ("name", Type::String),
        ("size", Type::Number),
        ("tags", Type::set(Type::String)),
    ]);
    vec![
        (Type::String, s("héllo")),
        (Type::Number, num("-12.75")),
        (Type::Bool, Value::Bool(true)),
        (
            Type::list(Type::String),
            Value::List(vec![s("a"), Value::Null, s("c")]),
        ),
        (
            Type::set(Type::Number),
            Value::Set(vec![num("1"), num("2")]),
        ),
        (
            Type::map(Type::Bool),
            Value::Map(BTreeMap::from([
                ("k".to_owned(), Value::Bool(false)),
                ("n".to_owned(), Value::Null),
            ])),
        ),
        (
            Type::tuple([Type::String, Type::Number]),
            Value::Tuple(vec![s("x"), Value::Null]),
        ),
        (Type::tuple([]), Value::Tuple(vec![])),
        (
            object.clone(),
            obj([
                ("name", s("n")),
                ("size", Value::Null),
                ("tags", Value::Set(vec![s("t")])),
            ]),
        ),
        (
            Type::list(object.clone()),
            Value::List(vec![
                Value::Null,
                obj([
                    ("name", Value::Null),
                    ("size", num("3")),
                    ("tags", Value::Set(vec![])),
                ]),
            ]),
        ),
        (
            Type::Dynamic,
            Value::Dynamic(
                Box::new(Type::list(Type::Number)),
                Box::new(Value::List(vec![num("1")])),
            ),
        ),
        (
            Type::Dynamic,
            Value::Dynamic(Box::new(Type::String), Box::new(Value::Null)),
        ),
        (
            Type::map(Type::Dynamic),
            Value::Map(BTreeMap::from([
                (
                    "a".to_owned(),
                    Value::Dynamic(Box::new(Type::Bool), Box::new(Value::Bool(true))),
                ),
                ("b".to_owned(), Value::Null),
            ])),
        ),
        (Type::object(Vec::<(String, Type)>::new()), obj([])),
    ]
}

#[test]
fn every_type_round_trips_with_nulls() {
    for (ty, value) in every_type() {
        msgpack_round_trip(&value, &ty);
        json_round_trip(&value, &ty);
        // Null at the top of every type.
        msgpack_round_trip(&Value::Null, &ty);
        json_round_trip(&Value::Null, &ty);
        // And wholly unknown (msgpack only).
        msgpack_round_trip(&Value::unknown(), &ty);
        assert!(encode_json(&Value::unknown(), &ty).is_err());
    }
}

#[test]
fn refinements_survive_decode_and_encode() {
    let cases = [
        (
            Type::Number,
            Refinements {
                not_null: true,
                number_lower: Some(("-1.5".parse().unwrap(), true)),
                number_upper: Some(("1e400".parse().unwrap(), false)),
                ..Default::default()
            },
        ),
        (
            Type::list(Type::String),
            Refinements {
                length_lower: Some(1),
                length_upper: Some(70000),
                ..Default::default()
            },
        ),
        (
            Type::set(Type::String),
            Refinements {
                not_null: true,
                length_upper: Some(0),
                ..Default::default()
            },
        ),
        (
            Type::map(Type::String),
            Refinements {
                length_lower: Some(2),
                ..Default::default()
            },
        ),
        (
            Type::object([("a", Type::String)]),
            Refinements {
                not_null: true,
                ..Default::default()
            },
        ),
        (
            Type::String,
            Refinements {
                string_prefix: Some("x".repeat(200)),
                ..Default::default()
            },
        ),
    ];
    for (ty, r) in cases {
        let bytes = msgpack_round_trip(&Value::Unknown(r.clone()), &ty);
        assert_eq!(bytes, Value::Unknown(r));
    }
    // Refinements that do not fit the type are dropped on encode...
    let misfit = Value::Unknown(Refinements {
        string_prefix: Some("a".into()),
        length_lower: Some(1),
        ..Default::default()
    });
    assert_eq!(
        encode_msgpack(&misfit, &Type::Number).unwrap(),
        [0xd4, 0, 0]
    );
    // ...and dynamic unknowns carry none.
    let refined = Value::Unknown(Refinements {
        not_null: true,
        ..Default::default()
    });
    assert_eq!(
        encode_msgpack(&refined, &Type::Dynamic).unwrap(),
        [0xd4, 0, 0]
    );
    // A long prefix is cut as cty cuts it.
    let long = Value::Unknown(Refinements {
        string_prefix: Some("é".repeat(200)),
        ..Default::default()
    });
    let back = decode_msgpack(
        &encode_msgpack(&long, &Type::String).unwrap(),
        &Type::String,
    )
    .unwrap();
    let Value::Unknown(Refinements {
        string_prefix: Some(prefix),
        ..
    }) = back
    else {
        panic!("{back:?}")
    };
    assert!(prefix.len() < 256 && "é".repeat(200).starts_with(&prefix));
}

#[test]
fn refinement_decoding_rules() {
    // Unknown keys are ignored (key 9 with a nested array value).
    let bytes = [0xc7, 0x06, 0x0c, 0x82, 0x09, 0x91, 0x01, 0x01, 0xc2];
    assert_eq!(
        decode_msgpack(&bytes, &Type::String).unwrap(),
        Value::Unknown(Refinements {
            not_null: true,
            ..Default::default()
        })
    );
    // A prefix on a number is rejected.
    let bytes = [0xc7, 0x04, 0x0c, 0x81, 0x02, 0xa1, b'a'];
    assert!(decode_msgpack(&bytes, &Type::Number).is_err());
    // But dynamic unknowns ignore every refinement.
    assert_eq!(
        decode_msgpack(&bytes, &Type::Dynamic).unwrap(),
        Value::unknown()
    );
    // Payloads over 1 KiB are rejected.
    let mut big = vec![0xc8, 0x04, 0x01, 0x0c, 0x81, 0x02, 0xda, 0x03, 0xfc];
    big.extend(std::iter::repeat_n(b'a', 0x3fc));
    assert_eq!(big.len() - 4, 1025);
    assert!(decode_msgpack(&big, &Type::String).is_err());
    // A non-zero ext type with a payload is not an unknown.
    assert!(decode_msgpack(&[0xd5, 0x01, 0x81, 0x01], &Type::String).is_err());
    // "Definitely null" collapses to null, as in cty.
    assert_eq!(
        decode_msgpack(&[0xd6, 0x0c, 0x81, 0x01, 0xc3, 0x00], &Type::String).unwrap(),
        Value::Null
    );
}

#[test]
fn objects_need_every_attribute_and_no_others() {
    let ty = Type::object([("id", Type::String), ("name", Type::String)]);
    // Missing attribute.
    let err = decode_msgpack(b"\x81\xa2id\xc0", &ty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "value must be an object with 2 attributes (1 given)"
    );
    // Unknown attribute.
    let err = decode_msgpack(b"\x82\xa2id\xc0\xa3bad\xc0", &ty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "value has an unsupported attribute \"bad\""
    );
    // Repeated attribute.
    assert!(decode_msgpack(b"\x82\xa2id\xc0\xa2id\xc0", &ty).is_err());
    // JSON: missing is null, extra is an error unless lenient.
    assert_eq!(
        decode_json(br#"{"id":"x"}"#, &ty).unwrap(),
        obj([("id", s("x")), ("name", Value::Null)])
    );
    assert!(decode_json(br#"{"id":"x","old":1}"#, &ty).is_err());
    assert_eq!(
        decode_json_lenient(br#"{"id":"x","old":{"deep":[1]}}"#, &ty).unwrap(),
        obj([("id", s("x")), ("name", Value::Null)])
    );
    // Encoding: missing attributes are null, extra ones an error.
    assert_eq!(
        encode_msgpack(&obj([("name", s("one"))]), &ty).unwrap(),
        b"\x82\xa2id\xc0\xa4name\xa3one"
    );
    assert!(encode_msgpack(&obj([("nope", s("one"))]), &ty).is_err());
    assert!(encode_json(&obj([("nope", s("one"))]), &ty).is_err());
}

#[test]
fn errors_carry_paths() {
    let ty = Type::object([("items", Type::list(Type::object([("port", Type::Number)])))]);
    let bytes = b"\x81\xa5items\x92\x81\xa4port\x01\x81\xa4port\xa3abc";
    let err = decode_msgpack(bytes, &ty).unwrap_err();
    assert_eq!(
        err.path(),
        &AttributePath::attr("items").index(1).attribute("port")
    );
    let err = decode_json(br#"{"items":[{"port":true}]}"#, &ty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "value at items[0].port must be a number, not JSON a boolean"
    );
}

#[test]
fn json_conversions_follow_cty() {
    assert_eq!(
        decode_json(br#""12.5""#, &Type::Number).unwrap(),
        num("12.5")
    );
    assert_eq!(decode_json(br#"12.50"#, &Type::String).unwrap(), s("12.50"));
    assert_eq!(decode_json(br#"true"#, &Type::String).unwrap(), s("true"));
    assert_eq!(
        decode_json(br#""false""#, &Type::Bool).unwrap(),
        Value::Bool(false)
    );
    assert!(decode_json(br#""yes""#, &Type::Bool).is_err());
    let dynamic = decode_json(
        br#"{"value":[1,"a"],"type":["tuple",["number","string"]]}"#,
        &Type::Dynamic,
    )
    .unwrap();
    assert_eq!(
        dynamic,
        Value::Dynamic(
            Box::new(Type::tuple([Type::Number, Type::String])),
            Box::new(Value::Tuple(vec![num("1"), s("a")]))
        )
    );
    assert_eq!(
        encode_json(&dynamic, &Type::Dynamic).unwrap(),
        br#"{"value":[1,"a"],"type":["tuple",["number","string"]]}"#
    );
    assert!(decode_json(br#"{"value":1}"#, &Type::Dynamic).is_err());
    assert!(decode_json(br#"{"value":1,"type":"number","x":1}"#, &Type::Dynamic).is_err());
    // Sets drop repeats.
    assert_eq!(
        decode_json(br#"["a","b","a"]"#, &Type::set(Type::String)).unwrap(),
        Value::Set(vec![s("a"), s("b")])
    );
}

#[test]
fn depth_is_bounded() {
    let mut ty = Type::String;
    for _ in 0..300 {
        ty = Type::list(ty);
    }
    let bytes = vec![0x91; 300];
    let err = decode_msgpack(&bytes, &ty).unwrap_err();
    assert_eq!(err.kind(), &ValueErrorKind::TooDeep);
    let json = "[".repeat(300) + &"]".repeat(300);
    assert!(decode_json(json.as_bytes(), &ty).is_err());
    // Dynamic types nest inside each other, and the bound still holds.
    let mut nested = Vec::new();
    for _ in 0..300 {
        nested.extend_from_slice(&[0x92, 0xc4, 0x09]);
        nested.extend_from_slice(b"\"dynamic\"");
    }
    nested.push(0xc0);
    assert!(decode_msgpack(&nested, &Type::Dynamic).is_err());
}

#[test]
fn deepest_values_survive_every_operation() {
    // MAX_DEPTH - 1 nested lists around a string: the deepest value the
    // decoders accept. Everything else must handle it within a test
    // thread's stack, even in a debug build.
    let levels = MAX_DEPTH - 1;
    let mut ty = Type::String;
    for _ in 0..levels {
        ty = Type::list(ty);
    }
    let mut bytes = vec![0x91; levels];
    bytes.extend_from_slice(b"\xa1x");
    let value = decode_msgpack(&bytes, &ty).unwrap();
    assert_eq!(encode_msgpack(&value, &ty).unwrap(), bytes);
    let json = encode_json(&value, &ty).unwrap();
    assert_eq!(decode_json(&json, &ty).unwrap(), value);
    assert!(value.semantically_equal(&value.clone().conform(&ty).unwrap()));
    let as_json: serde_json::Value = from_value(value.clone()).unwrap();
    assert_eq!(to_value(&as_json).unwrap(), value);
    let dynamic = value.clone().conform(&Type::Dynamic);
    assert!(dynamic.is_err() || encode_msgpack(&dynamic.unwrap(), &Type::Dynamic).is_ok());
}

#[test]
fn huge_lengths_do_not_allocate() {
    // An array claiming 2^32-1 elements, with 3 bytes behind it.
    let bytes = [0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03];
    assert!(decode_msgpack(&bytes, &Type::list(Type::Number)).is_err());
    let bytes = [0xdb, 0xff, 0xff, 0xff, 0xff, b'a'];
    assert!(decode_msgpack(&bytes, &Type::String).is_err());
    assert!(decode_msgpack(&[0x01, 0x02], &Type::Number).is_err());
}

#[test]
fn semantic_equality_of_sets() {
    let ty = Type::set(Type::object([("a", Type::Number)]));
    let a = Value::Set(vec![obj([("a", num("1"))]), obj([("a", num("2.0"))])]);
    let b = Value::Set(vec![obj([("a", num("2"))]), obj([("a", num("1"))])]);
    assert!(a.semantically_equal(&b));
    let bytes = encode_msgpack(&b, &ty).unwrap();
    assert!(decode_msgpack(&bytes, &ty).unwrap().semantically_equal(&a));
}

#[test]
fn wholly_known_and_accessors() {
    let v = obj([
        ("a", Value::List(vec![Value::unknown()])),
        ("b", Value::Null),
    ]);
    assert!(!v.is_wholly_known());
    assert!(!v.is_unknown());
    assert!(v.get_attr("b").unwrap().is_null());
    assert!(!v.get_attr("a").unwrap().is_wholly_known());
    assert!(obj([("a", s("x"))]).is_wholly_known());
}

// ------------------------------------------------------ serde bridge

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Caching {
    enabled: bool,
    size: Attr<u32>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Fast,
    Careful,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Model {
    id: Attr<String>,
    name: String,
    description: Option<String>,
    caching: Option<Caching>,
    ports: Vec<u16>,
    zones: BTreeSet<String>,
    labels: BTreeMap<String, String>,
    ratio: f64,
    exact: Number,
    count: Attr<i64>,
    mode: Mode,
}

fn model_type() -> Type {
    Type::object([
        ("id", Type::String),
        ("name", Type::String),
        ("description", Type::String),
        (
            "caching",
            Type::object([("enabled", Type::Bool), ("size", Type::Number)]),
        ),
        ("ports", Type::list(Type::Number)),
        ("zones", Type::set(Type::String)),
        ("labels", Type::map(Type::String)),
        ("ratio", Type::Number),
        ("exact", Type::Number),
        ("count", Type::Number),
        ("mode", Type::String),
        ("computed_elsewhere", Type::String),
    ])
}

fn model() -> Model {
    Model {
        id: Attr::Unknown,
        name: "web".into(),
        description: None,
        caching: Some(Caching {
            enabled: true,
            size: Attr::Null,
        }),
        ports: vec![80, 443],
        zones: ["b".to_owned(), "a".to_owned()].into(),
        labels: [("env".to_owned(), "prod".to_owned())].into(),
        ratio: 0.1,
        exact: "1e400".parse().unwrap(),
        count: Attr::Known(-3),
        mode: Mode::Careful,
    }
}

#[test]
fn bridge_round_trips_through_msgpack() {
    let ty = model_type();
    let value = to_value(&model()).unwrap().conform(&ty).unwrap();
    assert_eq!(value.get_attr("id"), Some(&Value::unknown()));
    assert_eq!(value.get_attr("description"), Some(&Value::Null));
    assert_eq!(value.get_attr("computed_elsewhere"), Some(&Value::Null));
    assert_eq!(
        value.get_attr("zones"),
        Some(&Value::Set(vec![s("a"), s("b")]))
    );
    assert_eq!(value.get_attr("ratio"), Some(&num("0.1")));
    assert_eq!(value.get_attr("mode"), Some(&s("careful")));
    let decoded = decode_msgpack(&encode_msgpack(&value, &ty).unwrap(), &ty).unwrap();
    assert_eq!(decoded, value);
    let back: Model = from_value(decoded).unwrap();
    assert_eq!(back, model());
}

#[test]
fn unknown_needs_attr() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Plain {
        caching: Caching2,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Caching2 {
        enabled: Option<bool>,
    }
    let value = obj([("caching", obj([("enabled", Value::unknown())]))]);
    let err = from_value::<Plain>(value).unwrap_err();
    assert_eq!(
        err.to_string(),
        "value at caching.enabled is unknown; use Attr<T> for attributes that can be unknown"
    );
    assert_eq!(
        err.path(),
        &AttributePath::attr("caching").attribute("enabled")
    );
    let err = from_value::<Plain>(obj([("caching", obj([("enabled", s("x"))]))])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "value at caching.enabled must be a bool, not a string"
    );
    let err =
        from_value::<Caching>(obj([("enabled", Value::Null), ("size", Value::Null)])).unwrap_err();
    assert_eq!(err.path(), &AttributePath::attr("enabled"));
    let err = from_value::<Caching>(obj([("size", Value::Null)])).unwrap_err();
    assert_eq!(err.to_string(), "value: missing field `enabled`");
}

#[test]
fn the_nearest_attr_takes_unknowns_its_type_cannot_hold() {
    #[derive(Debug, Deserialize, PartialEq)]
    struct Taint {
        key: Attr<String>,
        value: Attr<String>,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    struct Group {
        subnets: Attr<Vec<String>>,
        labels: Attr<BTreeMap<String, String>>,
        taints: Attr<Vec<Taint>>,
        sizes: Attr<Vec<Attr<i64>>>,
    }
    let value = obj([
        ("subnets", Value::List(vec![Value::unknown(), s("b")])),
        (
            "labels",
            Value::Map(BTreeMap::from([("k".to_owned(), Value::unknown())])),
        ),
        (
            "taints",
            Value::List(vec![obj([("key", s("k")), ("value", Value::unknown())])]),
        ),
        ("sizes", Value::List(vec![num("1"), Value::unknown()])),
    ]);
    let group: Group = from_value(value).unwrap();
    assert_eq!(group.subnets, Attr::Unknown);
    assert_eq!(group.labels, Attr::Unknown);
    // Where an inner Attr can hold the unknown, it does, and the rest stays known.
    assert_eq!(
        group.taints,
        Attr::Known(vec![Taint {
            key: Attr::Known("k".to_owned()),
            value: Attr::Unknown,
        }])
    );
    assert_eq!(
        group.sizes,
        Attr::Known(vec![Attr::Known(1), Attr::Unknown])
    );
    // Other errors inside an Attr still fail, with their path.
    let err =
        from_value::<Attr<Vec<i64>>>(Value::List(vec![s("x"), Value::unknown()])).unwrap_err();
    assert_eq!(err.path(), &AttributePath::root().index(0));
    // Without an Attr around it, an unknown element is an error naming its place.
    let err = from_value::<Vec<String>>(Value::List(vec![s("a"), Value::unknown()])).unwrap_err();
    assert_eq!(err.path(), &AttributePath::root().index(1));
}

#[test]
fn numbers_read_into_many_rust_types() {
    assert_eq!(from_value::<i32>(num("-7")).unwrap(), -7);
    assert_eq!(
        from_value::<u64>(num("18446744073709551615")).unwrap(),
        u64::MAX
    );
    assert!(from_value::<u8>(num("256")).is_err());
    assert!(from_value::<i64>(num("1.5")).is_err());
    assert_eq!(from_value::<f64>(num("0.25")).unwrap(), 0.25);
    assert_eq!(from_value::<String>(num("1e3")).unwrap(), "1000");
    assert_eq!(
        from_value::<Number>(num("1e400")).unwrap(),
        "1e400".parse::<Number>().unwrap()
    );
    assert_eq!(
        to_value(&"0.1".parse::<Number>().unwrap()).unwrap(),
        num("0.1")
    );
    assert!(to_value(&f64::NAN).is_err());
    assert_eq!(to_value(&0.1f32).unwrap(), num("0.1"));
}

#[test]
fn collections_read_from_lists_sets_and_maps() {
    let set = Value::Set(vec![s("b"), s("a")]);
    assert_eq!(from_value::<Vec<String>>(set.clone()).unwrap(), ["b", "a"]);
    assert_eq!(
        from_value::<BTreeSet<String>>(set).unwrap(),
        BTreeSet::from(["a".to_owned(), "b".to_owned()])
    );
    let map = Value::Map(BTreeMap::from([("k".to_owned(), num("1"))]));
    assert_eq!(
        from_value::<HashMap<String, i64>>(map.clone()).unwrap()["k"],
        1
    );
    assert_eq!(
        from_value::<BTreeMap<String, Attr<i64>>>(map).unwrap()["k"],
        Attr::Known(1)
    );
    let dynamic = Value::Dynamic(Box::new(Type::String), Box::new(s("x")));
    assert_eq!(from_value::<String>(dynamic).unwrap(), "x");
    let list: Vec<Attr<String>> =
        from_value(Value::List(vec![Value::Null, Value::unknown(), s("z")])).unwrap();
    assert_eq!(
        list,
        [Attr::Null, Attr::Unknown, Attr::Known("z".to_owned())]
    );
    // Attributes the struct does not know are ignored, unknowns included.
    #[derive(Deserialize)]
    struct Narrow {
        a: String,
    }
    let narrow: Narrow = from_value(obj([("a", s("x")), ("b", Value::unknown())])).unwrap();
    assert_eq!(narrow.a, "x");
}

#[test]
fn attr_helpers() {
    let a: Attr<i32> = 3.into();
    assert!(a.is_known());
    assert_eq!(a.known(), Some(&3));
    assert_eq!(a.map(|x| x * 2), Attr::Known(6));
    assert_eq!(Attr::<i32>::from(None), Attr::Null);
    assert_eq!(Attr::<i32>::default(), Attr::Null);
    assert_eq!(Attr::<i32>::Unknown.into_option(), None);
    assert_eq!(
        Attr::Known(String::from("x")).as_ref().known(),
        Some(&&String::from("x"))
    );
    // Outside the bridge, Attr behaves like Option.
    assert_eq!(serde_json::to_string(&Attr::Known(1)).unwrap(), "1");
    assert_eq!(
        serde_json::to_string(&Attr::<i32>::Unknown).unwrap(),
        "null"
    );
    assert_eq!(
        serde_json::from_str::<Attr<i32>>("null").unwrap(),
        Attr::Null
    );
    assert_eq!(
        serde_json::from_str::<Attr<i32>>("5").unwrap(),
        Attr::Known(5)
    );
    assert_eq!(
        serde_json::from_str::<Number>("\"1e400\"").unwrap(),
        "1e400".parse::<Number>().unwrap()
    );
    assert_eq!(
        serde_json::from_str::<Number>("2.5").unwrap(),
        "2.5".parse::<Number>().unwrap()
    );
}

// ------------------------------------------------------ property tests

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::String),
        Just(Type::Number),
        Just(Type::Bool),
        Just(Type::Dynamic),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Type::Tuple),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4).prop_map(Type::object),
        ]
    })
}

fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", |f| f
            .is_finite()
            .then(|| Number::from_f64_exact(f).ok())
            .flatten()),
        any::<f64>().prop_filter_map("finite", |f| Number::try_from(f).ok()),
        ("-?[0-9]{1,40}(\\.[0-9]{1,40})?", -500i32..500)
            .prop_map(|(m, e)| format!("{m}e{e}").parse().unwrap()),
        Just(Number::infinity()),
        Just(Number::neg_infinity()),
    ]
}

fn arb_refinements(ty: &Type) -> BoxedStrategy<Refinements> {
    let not_null = any::<bool>();
    match ty {
        Type::String => (not_null, proptest::option::of("[a-zé]{1,10}"))
            .prop_map(|(not_null, string_prefix)| Refinements {
                not_null,
                string_prefix,
                ..Default::default()
            })
            .boxed(),
        Type::Number => (
            not_null,
            proptest::option::of((
                arb_number().prop_filter("finite", Number::is_finite),
                any::<bool>(),
            )),
            proptest::option::of((
                arb_number().prop_filter("finite", Number::is_finite),
                any::<bool>(),
            )),
        )
            .prop_map(|(not_null, number_lower, number_upper)| Refinements {
                not_null,
                number_lower,
                number_upper,
                ..Default::default()
            })
            .boxed(),
        t if t.is_collection() => (
            not_null,
            proptest::option::of(1u64..100),
            proptest::option::of(0u64..u64::MAX),
        )
            .prop_map(|(not_null, length_lower, length_upper)| Refinements {
                not_null,
                length_lower,
                length_upper,
                ..Default::default()
            })
            .boxed(),
        Type::Dynamic => Just(Refinements::default()).boxed(),
        _ => not_null
            .prop_map(|not_null| Refinements {
                not_null,
                ..Default::default()
            })
            .boxed(),
    }
}

/// A value of `ty`: null, unknown, or known with arbitrary contents.
fn arb_value(ty: Type, depth: u32) -> BoxedStrategy<Value> {
    let known = arb_known(ty.clone(), depth);
    let refinements = arb_refinements(&ty);
    prop_oneof![
        1 => Just(Value::Null),
        1 => refinements.prop_map(Value::Unknown),
        6 => known,
    ]
    .boxed()
}

fn arb_known(ty: Type, depth: u32) -> BoxedStrategy<Value> {
    match ty {
        Type::String => ".{0,12}".prop_map(Value::String).boxed(),
        Type::Number => arb_number().prop_map(Value::Number).boxed(),
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Dynamic => {
            if depth == 0 {
                return Just(Value::Dynamic(
                    Box::new(Type::Bool),
                    Box::new(Value::Bool(true)),
                ))
                .boxed();
            }
            arb_type()
                .prop_filter("concrete", |t| *t != Type::Dynamic)
                .prop_flat_map(move |t| {
                    arb_value(t.clone(), depth - 1)
                        .prop_map(move |v| Value::Dynamic(Box::new(t.clone()), Box::new(v)))
                })
                .boxed()
        }
        Type::List(e) => prop::collection::vec(arb_value(*e, depth.saturating_sub(1)), 0..4)
            .prop_map(Value::List)
            .boxed(),
        Type::Set(e) => prop::collection::vec(arb_value(*e, depth.saturating_sub(1)), 0..4)
            .prop_map(|vs| Value::Set(canonical::dedup_set(vs)))
            .boxed(),
        Type::Map(e) => {
            prop::collection::btree_map(".{0,4}", arb_value(*e, depth.saturating_sub(1)), 0..4)
                .prop_map(Value::Map)
                .boxed()
        }
        Type::Tuple(ts) => ts
            .into_iter()
            .map(|t| arb_value(t, depth.saturating_sub(1)))
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
        Type::Object(o) => o
            .attributes
            .into_iter()
            .map(|(k, t)| arb_value(t, depth.saturating_sub(1)).prop_map(move |v| (k.clone(), v)))
            .collect::<Vec<_>>()
            .prop_map(|entries| Value::Object(entries.into_iter().collect()))
            .boxed(),
    }
}

/// The value with what JSON cannot hold (unknowns, infinities) replaced
/// by null and zero.
fn json_safe(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_finite() => Value::Number(Number::zero()),
        Value::Unknown(_) => Value::Null,
        Value::List(vs) => Value::List(vs.into_iter().map(json_safe).collect()),
        Value::Set(vs) => Value::Set(canonical::dedup_set(
            vs.into_iter().map(json_safe).collect(),
        )),
        Value::Tuple(vs) => Value::Tuple(vs.into_iter().map(json_safe).collect()),
        Value::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, json_safe(v))).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, json_safe(v))).collect()),
        Value::Dynamic(t, v) => Value::Dynamic(t, Box::new(json_safe(*v))),
        other => other,
    }
}

/// Sets may hold several unknowns that decode merges when they become
/// known; avoid comparing those with `==`.
fn typed_value() -> impl Strategy<Value = (Type, Value)> {
    arb_type().prop_flat_map(|t| arb_value(t.clone(), 2).prop_map(move |v| (t.clone(), v)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn msgpack_round_trips((ty, value) in typed_value()) {
        let bytes = encode_msgpack(&value, &ty).unwrap();
        let back = decode_msgpack(&bytes, &ty).unwrap();
        prop_assert!(back.semantically_equal(&value), "{value:?} -> {bytes:02x?} -> {back:?}");
        // Encoding is deterministic.
        prop_assert_eq!(encode_msgpack(&back, &ty).unwrap(), bytes);
    }

    #[test]
    fn json_round_trips((ty, value) in typed_value()) {
        let value = json_safe(value);
        let bytes = encode_json(&value, &ty).unwrap();
        let back = decode_json(&bytes, &ty).unwrap();
        prop_assert!(back.semantically_equal(&value), "{value:?} -> {} -> {back:?}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn type_json_round_trips(ty in arb_type()) {
        prop_assert_eq!(Type::from_json(&ty.to_json()).unwrap(), ty);
    }

    #[test]
    fn number_text_round_trips(n in arb_number()) {
        prop_assert_eq!(n.to_string().parse::<Number>().unwrap(), n.clone());
        if let Some(i) = n.as_i64() {
            prop_assert_eq!(Number::from(i), n.clone());
        }
        if n.is_exact_non_integer_f64() {
            prop_assert_eq!(Number::from_f64_exact(n.as_f64()).unwrap(), n);
        }
    }
}

// ------------------------------------------------------ robustness

/// A small deterministic generator (xorshift64*), so the test needs no
/// extra dependency and always feeds the same inputs.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_bytes_never_panic() {
    let types = [
        Type::String,
        Type::Number,
        Type::Dynamic,
        Type::list(Type::Dynamic),
        Type::set(Type::Number),
        Type::map(Type::list(Type::String)),
        Type::tuple([Type::Bool, Type::Number, Type::String]),
        model_type(),
        Type::object([
            ("a", Type::Dynamic),
            ("b", Type::set(Type::object([("c", Type::Number)]))),
        ]),
    ];
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for (ty, value) in every_type() {
        seeds.push(encode_msgpack(&value, &ty).unwrap());
        seeds.push(encode_json(&value, &ty).unwrap());
    }
    let model_value = to_value(&model()).unwrap().conform(&model_type()).unwrap();
    seeds.push(encode_msgpack(&model_value, &model_type()).unwrap());
    seeds.push(b"\xc7\x07\x0c\x82\x01\xc2\x02\xa2ab".to_vec());
    seeds.push(
        br#"{"value":{"a":[1e400,"x"]},"type":["object",{"a":["tuple",["number","string"]]}]}"#
            .to_vec(),
    );

    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    for round in 0..10_000 {
        let input: Vec<u8> = if round % 2 == 0 {
            let len = rng.below(512);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let mut input = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(4) {
                match rng.below(4) {
                    0 if !input.is_empty() => {
                        let at = rng.below(input.len());
                        input[at] = rng.next() as u8;
                    }
                    1 if !input.is_empty() => {
                        let at = rng.below(input.len());
                        input.truncate(at);
                    }
                    2 => {
                        let at = rng.below(input.len() + 1);
                        input.insert(at, rng.next() as u8);
                    }
                    _ => {
                        let at = rng.below(input.len() + 1);
                        let markers = [
                            0xdd, 0xdf, 0xc9, 0xdb, 0x9f, 0x8f, 0xd4, 0x92, b'[', b'{', b'"',
                        ];
                        input.insert(at, markers[rng.below(markers.len())]);
                    }
                }
            }
            input
        };
        for ty in &types {
            if let Ok(value) = decode_msgpack(&input, ty) {
                // Whatever decodes must encode again, to the same value.
                let again = decode_msgpack(&encode_msgpack(&value, ty).unwrap(), ty).unwrap();
                assert!(again.semantically_equal(&value), "{input:02x?}");
            }
            if let Ok(value) = decode_json(&input, ty) {
                let again = decode_json(&encode_json(&value, ty).unwrap(), ty).unwrap();
                assert!(again.semantically_equal(&value), "{input:02x?}");
            }
            let _ = decode_json_lenient(&input, ty);
        }
        let _ = Type::from_json(&input);
    }
}
