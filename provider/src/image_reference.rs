//! Container image references (`[registry/]repository[:tag][@digest]`),
//! parsed by the grammar container registries use, so a typo is caught at
//! plan time instead of when a workspace fails to pull.

use std::fmt;

use tf_framework::validate::Validator;
use tf_protocol::{AttributePath, Diagnostics, Value};

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageReference {
    /// Registry host (and port), `docker.io` when the reference names none.
    pub registry: String,
    /// Repository path; Docker Hub's official images get `library/`.
    pub repository: String,
    /// Tag, if given.
    pub tag: Option<String>,
    /// Digest (`algorithm:hex`), if given.
    pub digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Nothing was given.
    #[error("an image reference must not be empty")]
    Empty,
    /// Longer than registries accept.
    #[error("an image reference is at most 255 characters before the digest")]
    TooLong,
    /// A path component breaks the grammar.
    #[error(
        "the repository component {0:?} must be lower-case letters and digits, separated by '.', '_', '__' or '-'"
    )]
    Component(String),
    /// The registry host is not a host name.
    #[error("the registry {0:?} is not a host name with an optional port")]
    Registry(String),
    /// The tag breaks the grammar.
    #[error(
        "the tag {0:?} must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
    )]
    Tag(String),
    /// The digest breaks the grammar.
    #[error("the digest {0:?} must look like sha256:<64 hex digits>")]
    Digest(String),
}

impl ImageReference {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        if text.trim().is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (name_and_tag, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (text, None),
        };
        if name_and_tag.len() > 255 {
            return Err(ReferenceError::TooLong);
        }
        if let Some(d) = digest {
            check_digest(d)?;
        }
        // A tag follows the last ':' that comes after the last '/'; a ':'
        // before it belongs to a registry port.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_and_tag[..at], Some(&name_and_tag[at + 1..]))
            }
            None => (name_and_tag, None),
        };
        if let Some(t) = tag {
            check_tag(t)?;
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let registry = if parts.len() > 1 && is_registry(parts[0]) {
            let host = parts.remove(0);
            check_registry(host)?;
            host.to_owned()
        } else {
            "docker.io".to_owned()
        };
        for part in &parts {
            check_component(part)?;
        }
        let mut repository = parts.join("/");
        if registry == "docker.io" && parts.len() == 1 {
            repository = format!("library/{repository}");
        }
        Ok(Self {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// What an image reference looks like, for diagnostics and docs.
const REFERENCE_RULE: &str = "an image reference such as \"ubuntu:22.04\" or \
     \"registry.example.com:5000/team/image:tag\": an optional registry host, a repository of \
     lower-case components separated by '/', an optional :tag and an optional @sha256:digest";

/// Validates an image reference (`[registry/]repository[:tag][@digest]`).
pub fn image_reference() -> ImageReferenceValidator {
    ImageReferenceValidator
}

/// See [`image_reference`].
#[derive(Clone, Copy, Debug)]
pub struct ImageReferenceValidator;

impl Validator for ImageReferenceValidator {
    fn description(&self) -> String {
        format!("must be {REFERENCE_RULE}")
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        let Value::String(text) = value else { return };
        if let Err(reason) = ImageReference::parse(text) {
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Image Reference",
                format!("{path} {text:?} is not an image reference: {reason}. It must be {REFERENCE_RULE}."),
            );
        }
    }
}

/// Validates a registry host as image references name it: a host name of
/// dot-separated labels (letters, digits and '-') with an optional port,
/// no scheme and no path.
pub fn registry_host() -> RegistryHostValidator {
    RegistryHostValidator
}

/// See [`registry_host`].
#[derive(Clone, Copy, Debug)]
pub struct RegistryHostValidator;

impl Validator for RegistryHostValidator {
    fn description(&self) -> String {
        "must be a registry host name with an optional port, e.g. registry.example.com:5000 \
         (no scheme or path)"
            .to_owned()
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        let Value::String(text) = value else { return };
        if check_registry(text).is_err() {
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Registry Host",
                format!(
                    "{path} {}; got {text:?}. Each dot-separated part is letters, digits and '-', \
                     not starting or ending with '-', and a port is 1 to 65535.",
                    self.description()
                ),
            );
        }
    }
}

/// Docker's rule: the first component is a registry when it has a '.' or a
/// ':', or is `localhost`.
fn is_registry(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

fn check_registry(host: &str) -> Result<(), ReferenceError> {
    let err = || ReferenceError::Registry(host.to_owned());
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err())
    {
        return Err(err());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() || !name.split('.').all(label_ok) {
        return Err(err());
    }
    Ok(())
}

fn check_component(part: &str) -> Result<(), ReferenceError> {
    let err = || ReferenceError::Component(part.to_owned());
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(err());
    }
    // Separators: '.', '_', '__', or one or more '-'; never two different
    // ones in a row.
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return Err(err());
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), ReferenceError> {
    let ok = (1..=128).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && !tag.starts_with('.')
        && !tag.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::Tag(tag.to_owned()))
    }
}

fn check_digest(digest: &str) -> Result<(), ReferenceError> {
    let err = || ReferenceError::Digest(digest.to_owned());
    let (algorithm, hex) = digest.split_once(':').ok_or_else(err)?;
    let algorithm_ok = !algorithm.is_empty()
        && algorithm
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
    let hex_ok = hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if algorithm_ok && hex_ok {
        Ok(())
    } else {
        Err(err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ImageReference {
        ImageReference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_official_image() {
        let r = parse("ubuntu:22.04");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/ubuntu");
        assert_eq!(r.tag.as_deref(), Some("22.04"));
        assert_eq!(r.to_string(), "docker.io/library/ubuntu:22.04");
    }

    #[test]
    fn registry_with_port_and_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("registry.example.com:5000/team/img@{digest}"));
        assert_eq!(r.registry, "registry.example.com:5000");
        assert_eq!(r.repository, "team/img");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest, Some(digest));
    }

    #[test]
    fn user_repository_on_docker_hub() {
        let r = parse("codercom/enterprise-base:ubuntu");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "codercom/enterprise-base");
    }

    #[test]
    fn validator_blames_the_attribute_and_says_what_is_allowed() {
        let mut diagnostics = Diagnostics::new();
        let path = AttributePath::attr("installer_image");
        image_reference().validate(
            &Value::String("ubuntu:22.04".into()),
            &path,
            &mut diagnostics,
        );
        assert!(!diagnostics.has_error());
        image_reference().validate(
            &Value::String("Not An Image".into()),
            &path,
            &mut diagnostics,
        );
        let found: Vec<_> = diagnostics.iter().collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].attribute, Some(path));
        assert!(
            found[0].detail.contains("an optional registry host"),
            "{}",
            found[0].detail
        );
    }

    #[test]
    fn rejects_malformed_references() {
        for (input, want) in [
            ("", ReferenceError::Empty),
            ("Ubuntu", ReferenceError::Component("Ubuntu".into())),
            ("ubuntu:", ReferenceError::Tag(String::new())),
            ("ubuntu:-x", ReferenceError::Tag("-x".into())),
            (
                "ubuntu@sha256:xyz",
                ReferenceError::Digest("sha256:xyz".into()),
            ),
            ("a..b", ReferenceError::Component("a..b".into())),
            (
                "ubuntu; rm -rf /",
                ReferenceError::Component("ubuntu; rm -rf ".into()),
            ),
            (
                "host:99999/x",
                ReferenceError::Registry("host:99999".into()),
            ),
        ] {
            assert_eq!(ImageReference::parse(input), Err(want), "{input}");
        }
    }
}
