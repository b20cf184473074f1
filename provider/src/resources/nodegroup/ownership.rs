//! Which existing AWS objects a `cvm_nodegroup` may take as its own.
//!
//! Every create draws a random token from the operating system's RNG,
//! keeps it in the resource's private state and writes it into the
//! launch template's owner tag, `cvm:nodegroup = <cluster>:<name>:<token>`,
//! before any create call. A create that meets an existing object of the
//! same name (a request the SDK resent, or a template a failed attempt of
//! this same create left) adopts it only when the tag carries that token;
//! an object another configuration made with the same names carries a
//! different token and is refused with advice to import it. Import claims
//! ownership: it reads the token from the tag into private state.

use std::collections::BTreeMap;

use super::OWNER_TAG;

/// The private state entry holding the token.
pub(super) const TOKEN_KEY: &str = "owner_token";

/// Random bytes in a token (hex-encoded, twice as many characters).
const TOKEN_BYTES: usize = 16;

/// The RNG failed to give a token.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct TokenError(getrandom::Error);

/// A new ownership token from the operating system's RNG.
pub(super) fn new_token() -> Result<String, TokenError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(TokenError)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The owner tag's value for node group `name` of `cluster` made by the
/// resource instance holding `token`.
pub(super) fn owner_tag_value(cluster: &str, name: &str, token: &str) -> String {
    format!("{cluster}:{name}:{token}")
}

/// Whether an object tagged `tags` was made by the resource instance
/// whose owner tag value is `owner`: the tag must be there and equal, so
/// a tag without a token (or from another configuration) is not ours.
pub(super) fn made_by(tags: &BTreeMap<String, String>, owner: &str) -> bool {
    tags.get(OWNER_TAG).map(String::as_str) == Some(owner)
}

/// The token in the owner tag of `tags` for node group `name` of
/// `cluster`, if the tag carries one.
pub(super) fn token_in<'t>(
    tags: &'t BTreeMap<String, String>,
    cluster: &str,
    name: &str,
) -> Option<&'t str> {
    tags.get(OWNER_TAG)?
        .strip_prefix(cluster)?
        .strip_prefix(':')?
        .strip_prefix(name)?
        .strip_prefix(':')
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(OWNER_TAG.to_owned(), value.to_owned())])
    }

    #[test]
    fn adopts_only_what_carries_its_own_token() {
        let ours = owner_tag_value("demo", "ubuntu", "0a1b");
        assert!(made_by(&tagged("demo:ubuntu:0a1b"), &ours));
        assert!(
            !made_by(&tagged("demo:ubuntu:ffff"), &ours),
            "another configuration's token"
        );
        assert!(
            !made_by(&tagged("demo:ubuntu"), &ours),
            "a tag without a token"
        );
        assert!(!made_by(&BTreeMap::new(), &ours), "no owner tag");
        assert!(
            !made_by(
                &BTreeMap::from([("team".to_owned(), "demo:ubuntu:0a1b".to_owned())]),
                &ours
            ),
            "the value under another key"
        );
    }

    #[test]
    fn tokens_are_random_hex_and_read_back_from_the_tag() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 * TOKEN_BYTES);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        let tags = tagged(&owner_tag_value("demo", "ubuntu", &a));
        assert_eq!(token_in(&tags, "demo", "ubuntu"), Some(a.as_str()));
        assert_eq!(token_in(&tags, "demo", "other"), None);
        assert_eq!(token_in(&tagged("demo:ubuntu"), "demo", "ubuntu"), None);
        assert_eq!(token_in(&tagged("demo:ubuntu:"), "demo", "ubuntu"), None);
        assert_eq!(token_in(&BTreeMap::new(), "demo", "ubuntu"), None);
    }
}
