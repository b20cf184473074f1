//! AutoMTLS: the throw-away server certificate and a rustls server
//! configuration that accepts exactly one client certificate.
//!
//! Terraform's client certificate is a self-signed P-521 certificate with
//! `CA:TRUE`. webpki refuses a CA certificate as an end entity and *ring*
//! cannot verify P-521, so instead of a chain check the verifier pins the exact
//! DER Terraform handed us in `PLUGIN_CLIENT_CERT` and checks the handshake
//! signatures with the aws-lc-rs provider.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{WebPkiSupportedAlgorithms, aws_lc_rs};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};

/// Building the TLS side failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `PLUGIN_CLIENT_CERT` did not hold a PEM certificate.
    #[error("PLUGIN_CLIENT_CERT does not hold a PEM certificate: {0}")]
    ClientCertificate(String),
    /// rcgen could not make the server certificate.
    #[error("generating the server certificate: {0}")]
    ServerCertificate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("building the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A TLS server configuration for one plugin run, and the certificate to
/// announce in the handshake line.
pub(crate) struct ServerTls {
    /// The rustls configuration to accept connections with.
    pub(crate) config: Arc<ServerConfig>,
    /// DER of the server certificate (printed base64 in the handshake).
    pub(crate) cert_der: Vec<u8>,
}

/// Builds the AutoMTLS server side from the PEM Terraform passed in
/// `PLUGIN_CLIENT_CERT`.
pub(crate) fn server_tls(client_cert_pem: &str) -> Result<ServerTls, TlsError> {
    let client_cert = CertificateDer::from_pem_slice(client_cert_pem.as_bytes())
        .map_err(|err| TlsError::ClientCertificate(err.to_string()))?;
    let (cert_der, key_der) = generate_server_certificate()?;

    let provider = Arc::new(aws_lc_rs::default_provider());
    let verifier = Arc::new(PinnedClientCert {
        expected: client_cert.into_owned(),
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
        )?;
    // grpc-go (Terraform 1.12 and later) refuses TLS peers without ALPN h2.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(ServerTls {
        config: Arc::new(config),
        cert_der,
    })
}

/// Generates the server certificate the way go-plugin's client expects it:
/// self-signed, usable as its own root (`CA:TRUE`), valid for `localhost`.
/// P-256 instead of go-plugin's P-521 because it is much faster to generate
/// and Go accepts it. Returns (certificate DER, PKCS#8 key DER).
fn generate_server_certificate() -> Result<(Vec<u8>, Vec<u8>), rcgen::Error> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "HashiCorp");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyAgreement,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    // Back-date a little so a client whose clock is slightly behind accepts it.
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::seconds(30);
    params.not_after = now + time::Duration::days(365 * 30);
    let cert = params.self_signed(&key)?;
    Ok((cert.der().to_vec(), key.serialize_der()))
}

/// Accepts exactly one client certificate, byte for byte, and checks the
/// client's handshake signatures against it.
struct PinnedClientCert {
    /// DER of the only certificate accepted.
    expected: CertificateDer<'static>,
    /// Signature algorithms of the aws-lc-rs provider (P-521 included).
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for PinnedClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedClientCert")
            .field("expected_len", &self.expected.len())
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for PinnedClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    // No CA hints: Go's client drops its certificate when hints are sent and
    // none names its issuer, and the pin makes hints pointless anyway.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_pem() -> (String, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), cert.der().to_vec())
    }

    #[test]
    fn verifier_accepts_only_the_pinned_der() {
        let (pem, der) = client_pem();
        let (_, other_der) = client_pem();
        let pinned = PinnedClientCert {
            expected: CertificateDer::from_pem_slice(pem.as_bytes()).unwrap(),
            algorithms: aws_lc_rs::default_provider().signature_verification_algorithms,
        };
        let now = UnixTime::now();
        assert!(
            pinned
                .verify_client_cert(&CertificateDer::from(der), &[], now)
                .is_ok()
        );
        assert!(
            pinned
                .verify_client_cert(&CertificateDer::from(other_der), &[], now)
                .is_err()
        );
        assert!(pinned.client_auth_mandatory());
        assert!(
            pinned
                .supported_verify_schemes()
                .contains(&SignatureScheme::ECDSA_NISTP521_SHA512)
        );
    }

    #[test]
    fn server_tls_offers_h2_and_a_der_certificate() {
        let (pem, _) = client_pem();
        let tls = server_tls(&pem).unwrap();
        assert_eq!(tls.config.alpn_protocols, vec![b"h2".to_vec()]);
        // A DER certificate is an ASN.1 SEQUENCE.
        assert_eq!(tls.cert_der.first(), Some(&0x30));
    }

    #[test]
    fn garbage_client_cert_is_an_error() {
        assert!(matches!(
            server_tls("not a certificate"),
            Err(TlsError::ClientCertificate(_))
        ));
    }
}
