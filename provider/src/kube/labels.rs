//! The grammar of Kubernetes label keys and values, which taint keys and
//! values share.

/// Whether `key` is a Kubernetes label or taint key (optional DNS prefix
/// and a name of at most 63 characters).
pub(crate) fn check_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    });
    prefix_ok && check_label_value(name) && !name.is_empty()
}

/// Whether `value` is a Kubernetes label value (at most 63 characters,
/// alphanumerics with `-`, `_`, `.` inside).
pub(crate) fn check_label_value(value: &str) -> bool {
    if value.is_empty() {
        return true;
    }
    let bytes = value.as_bytes();
    value.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
