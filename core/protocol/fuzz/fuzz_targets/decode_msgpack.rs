//! Feeds arbitrary bytes to the msgpack decoder under several types. The
//! first byte picks the type; the rest is the input. Whatever decodes must
//! encode again and decode to an equal value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tf_protocol::value::{Type, decode_json, decode_msgpack, encode_msgpack};

fn types() -> Vec<Type> {
    vec![
        Type::String,
        Type::Number,
        Type::Bool,
        Type::Dynamic,
        Type::list(Type::Dynamic),
        Type::set(Type::Number),
        Type::map(Type::list(Type::String)),
        Type::tuple([Type::Bool, Type::Number, Type::String]),
        Type::object([
            ("id", Type::String),
            ("size", Type::Number),
            ("tags", Type::set(Type::String)),
            ("nested", Type::list(Type::object([("a", Type::Dynamic)]))),
        ]),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let types = types();
    let ty = &types[usize::from(selector) % types.len()];
    if let Ok(value) = decode_msgpack(input, ty) {
        let encoded = encode_msgpack(&value, ty).expect("a decoded value encodes");
        let again = decode_msgpack(&encoded, ty).expect("an encoded value decodes");
        assert!(again.semantically_equal(&value));
    }
    let _ = decode_json(input, ty);
    let _ = Type::from_json(input);
});
