//! Protocol negotiation and what the plugin prints on stdout once it listens:
//! go-plugin's handshake line, or the reattach instructions in debug mode.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// go-plugin's own wire version; the only one that exists.
const CORE_PROTOCOL_VERSION: u32 = 1;

/// The only Terraform plugin protocol this crate serves.
pub const PROTOCOL_VERSION: u32 = 6;

/// Terraform offered only protocol versions this provider does not speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this provider speaks protocol 6 only; Terraform 0.15 or later is required \
     (Terraform offered protocol versions: {offered:?})"
)]
pub struct UnsupportedProtocol {
    /// The raw `PLUGIN_PROTOCOL_VERSIONS` value Terraform sent.
    pub offered: String,
}

/// Picks the plugin protocol version from `PLUGIN_PROTOCOL_VERSIONS`.
///
/// The variable is a comma-separated set in no particular order (Terraform
/// builds it from a map). Unset or empty means the client did not say, and
/// go-plugin then uses the server's own version, so 6 is fine. Entries that are
/// not numbers are skipped, as go-plugin does.
pub(crate) fn negotiate_protocol(offered: Option<&str>) -> Result<u32, UnsupportedProtocol> {
    let Some(offered) = offered.filter(|value| !value.trim().is_empty()) else {
        return Ok(PROTOCOL_VERSION);
    };
    let speaks_ours = offered
        .split(',')
        .filter_map(|entry| entry.trim().parse::<u32>().ok())
        .any(|version| version == PROTOCOL_VERSION);
    if speaks_ours {
        Ok(PROTOCOL_VERSION)
    } else {
        Err(UnsupportedProtocol {
            offered: offered.to_owned(),
        })
    }
}

/// Where the plugin listens and how to reach it: the facts printed on stdout
/// once the listener is bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The unix socket the gRPC server listens on.
    pub socket_path: PathBuf,
    /// DER of the throw-away server certificate, when serving TLS.
    pub server_cert_der: Option<Vec<u8>>,
    /// The negotiated plugin protocol version (always 6).
    pub protocol_version: u32,
    /// Debug (reattach) mode: print reattach instructions, not the handshake.
    pub debug: bool,
    /// The full provider source address, the key of `TF_REATTACH_PROVIDERS`.
    pub provider_address: String,
    /// This process's id, for `TF_REATTACH_PROVIDERS`.
    pub pid: u32,
}

impl Announcement {
    /// go-plugin's handshake line, without the trailing newline:
    /// `1|6|unix|<socket>|grpc|<base64 RawStd DER, or empty>`.
    ///
    /// Exactly six fields: go-plugin 1.4 splits into at most six, so a seventh
    /// would be glued onto the certificate.
    pub fn handshake_line(&self) -> String {
        let cert = self
            .server_cert_der
            .as_deref()
            .map(|der| STANDARD_NO_PAD.encode(der))
            .unwrap_or_default();
        format!(
            "{CORE_PROTOCOL_VERSION}|{}|unix|{}|grpc|{cert}",
            self.protocol_version,
            self.socket_path.display()
        )
    }

    /// The `TF_REATTACH_PROVIDERS` JSON value for this process.
    ///
    /// `Test: true` marks the provider as unmanaged: Terraform connects to it
    /// without TLS and never asks it to shut down.
    pub fn reattach_json(&self) -> String {
        let entry = serde_json::json!({
            "Protocol": "grpc",
            "ProtocolVersion": self.protocol_version,
            "Pid": self.pid,
            "Test": true,
            "Addr": {"Network": "unix", "String": path_text(&self.socket_path)},
        });
        let mut providers = serde_json::Map::new();
        providers.insert(self.provider_address.clone(), entry);
        serde_json::Value::Object(providers).to_string()
    }

    /// The text printed on stdout: the handshake line, or in debug mode the
    /// reattach instructions. Ends with a newline.
    pub fn stdout_text(&self) -> String {
        if self.debug {
            format!(
                "Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS \
                 environment variable with the following:\n\
                 TF_REATTACH_PROVIDERS='{}'\n",
                self.reattach_json()
            )
        } else {
            format!("{}\n", self.handshake_line())
        }
    }
}

/// A path as text for JSON (lossy only for non-UTF-8 paths, which a temp dir
/// we created ourselves does not have unless `PLUGIN_UNIX_SOCKET_DIR` does).
fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcement(cert: Option<Vec<u8>>, debug: bool) -> Announcement {
        Announcement {
            socket_path: PathBuf::from("/tmp/plugin123/provider.sock"),
            server_cert_der: cert,
            protocol_version: 6,
            debug,
            provider_address: "registry.terraform.io/cvm-provider/cvm".to_owned(),
            pid: 4242,
        }
    }

    #[test]
    fn negotiation_accepts_6_in_any_order() {
        assert_eq!(negotiate_protocol(Some("5,6")), Ok(6));
        assert_eq!(negotiate_protocol(Some("6,5")), Ok(6));
        assert_eq!(negotiate_protocol(Some("6")), Ok(6));
        assert_eq!(negotiate_protocol(Some(" 5 , 6 ")), Ok(6));
        assert_eq!(negotiate_protocol(Some("x,6")), Ok(6));
    }

    #[test]
    fn negotiation_assumes_6_when_unset() {
        assert_eq!(negotiate_protocol(None), Ok(6));
        assert_eq!(negotiate_protocol(Some("")), Ok(6));
    }

    #[test]
    fn negotiation_rejects_a_set_without_6() {
        let err = negotiate_protocol(Some("4,5")).unwrap_err();
        assert_eq!(err.offered, "4,5");
        assert!(
            err.to_string()
                .contains("this provider speaks protocol 6 only; Terraform 0.15 or later")
        );
        assert!(negotiate_protocol(Some("60")).is_err());
        assert!(negotiate_protocol(Some("5")).is_err());
    }

    #[test]
    fn handshake_line_with_certificate() {
        // 0xfb 0xff encodes to "+/8" with standard alphabet and no padding.
        let line = announcement(Some(vec![0xfb, 0xff]), false).handshake_line();
        assert_eq!(line, "1|6|unix|/tmp/plugin123/provider.sock|grpc|+/8");
        assert_eq!(line.split('|').count(), 6);
    }

    #[test]
    fn handshake_line_without_certificate_has_empty_last_field() {
        let a = announcement(None, false);
        assert_eq!(
            a.handshake_line(),
            "1|6|unix|/tmp/plugin123/provider.sock|grpc|"
        );
        assert_eq!(
            a.stdout_text(),
            "1|6|unix|/tmp/plugin123/provider.sock|grpc|\n"
        );
    }

    #[test]
    fn debug_text_carries_reattach_json() {
        let text = announcement(None, true).stdout_text();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(
                "Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS \
                 environment variable with the following:"
            )
        );
        let reattach = lines.next().unwrap_or_default();
        let json = reattach
            .strip_prefix("TF_REATTACH_PROVIDERS='")
            .and_then(|rest| rest.strip_suffix('\''))
            .expect("quoted JSON");
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"registry.terraform.io/cvm-provider/cvm": {
                "Protocol": "grpc", "ProtocolVersion": 6, "Pid": 4242, "Test": true,
                "Addr": {"Network": "unix", "String": "/tmp/plugin123/provider.sock"}}})
        );
        assert_eq!(lines.next(), None);
    }
}
