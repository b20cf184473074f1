//! Shared pieces for the integration tests: a tiny provider, Terraform-like
//! client certificates, a server started in-process, and gRPC clients that
//! dial the plugin socket with or without TLS.

#![allow(dead_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, aws_lc_rs};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tf_transport::{Announcement, ServeConfig, ServeOptions, TransportError};
use tfplugin_proto::tfplugin6::provider_server::Provider;
use tfplugin_proto::tfplugin6::{get_provider_schema, validate_provider_config};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A provider that answers `GetProviderSchema` and `ValidateProviderConfig`
/// with empty responses and leaves the rest `Unimplemented`.
pub struct TestProvider;

#[tonic::async_trait]
impl Provider for TestProvider {
    async fn get_provider_schema(
        &self,
        _request: Request<get_provider_schema::Request>,
    ) -> Result<Response<get_provider_schema::Response>, Status> {
        Ok(Response::new(get_provider_schema::Response::default()))
    }

    async fn validate_provider_config(
        &self,
        _request: Request<validate_provider_config::Request>,
    ) -> Result<Response<validate_provider_config::Response>, Status> {
        Ok(Response::new(validate_provider_config::Response::default()))
    }
}

/// A client certificate like Terraform's: self-signed ECDSA P-521 signed
/// with SHA-512, `CA:TRUE`, CN/SAN localhost.
pub struct ClientCert {
    pub pem: String,
    pub der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

pub fn terraform_like_client_cert() -> ClientCert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "HashiCorp");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.self_signed(&key).unwrap();
    ClientCert {
        pem: cert.pem(),
        der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

/// A server running in a background task.
pub struct RunningServer {
    pub announcement: Announcement,
    pub stop: CancellationToken,
    pub task: JoinHandle<Result<(), TransportError>>,
}

pub fn options(debug: bool) -> ServeOptions {
    ServeOptions {
        provider_address: "registry.terraform.io/cvm-provider/cvm".to_owned(),
        debug,
        log_module: "provider.terraform-provider-cvm".to_owned(),
    }
}

/// A configuration with nothing taken from the environment.
pub fn config(
    debug: bool,
    client_cert_pem: Option<String>,
    socket_parent: Option<PathBuf>,
    handle_signals: bool,
) -> (ServeConfig, oneshot::Receiver<Announcement>) {
    let (sender, receiver) = oneshot::channel();
    let config = ServeConfig {
        options: options(debug),
        protocol_versions: Some("5,6".to_owned()),
        client_cert_pem,
        socket_parent,
        handle_signals,
        watch_client: false,
        announce: Box::new(move |announcement| {
            sender
                .send(announcement.clone())
                .map_err(|_| io::Error::other("test stopped listening"))
        }),
    };
    (config, receiver)
}

/// Starts `serve_with` and waits for its announcement.
pub async fn start(
    config: ServeConfig,
    announced: oneshot::Receiver<Announcement>,
) -> RunningServer {
    let stop = CancellationToken::new();
    let task = tokio::spawn(tf_transport::serve_with(config, TestProvider, stop.clone()));
    let announcement = tokio::time::timeout(Duration::from_secs(5), announced)
        .await
        .expect("announced in time")
        .expect("announced");
    RunningServer {
        announcement,
        stop,
        task,
    }
}

/// Trusts exactly the server certificate from the handshake line, as
/// go-plugin's client does (webpki would refuse a CA cert as a leaf).
#[derive(Debug)]
struct PinnedServerCert {
    expected: Vec<u8>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServerCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "unexpected server certificate".to_owned(),
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

/// A rustls client configuration that pins `server_cert_der`, offers ALPN
/// h2, and presents `client` (or no certificate).
pub fn client_tls(
    server_cert_der: &[u8],
    client: Option<&ClientCert>,
) -> Arc<rustls::ClientConfig> {
    client_tls_with(
        server_cert_der,
        client,
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    )
}

/// [`client_tls`] limited to the given TLS versions.
pub fn client_tls_with(
    server_cert_der: &[u8],
    client: Option<&ClientCert>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let verifier = Arc::new(PinnedServerCert {
        expected: server_cert_der.to_vec(),
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client {
        Some(client) => builder
            .with_client_auth_cert(
                vec![client.der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(client.key_der.clone())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// Opens one TLS connection to the plugin socket.
pub async fn tls_connect(
    socket: &Path,
    config: Arc<rustls::ClientConfig>,
) -> io::Result<TlsStream<UnixStream>> {
    let stream = UnixStream::connect(socket).await?;
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    TlsConnector::from(config).connect(name, stream).await
}

/// A gRPC channel over TLS on the plugin socket.
pub async fn tls_channel(
    socket: &Path,
    config: Arc<rustls::ClientConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let socket = socket.to_path_buf();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            let config = Arc::clone(&config);
            async move { tls_connect(&socket, config).await.map(TokioIo::new) }
        }))
        .await
}

/// A plaintext gRPC channel on the plugin socket.
pub async fn plain_channel(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    let socket = socket.to_path_buf();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move { UnixStream::connect(&socket).await.map(TokioIo::new) }
        }))
        .await
}

/// Asks the health service about "plugin".
pub async fn plugin_health(channel: Channel) -> Result<ServingStatus, Status> {
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "plugin".to_owned(),
        })
        .await?;
    Ok(response.into_inner().status())
}

/// Waits for the server task and checks it ended cleanly within `limit`.
pub async fn expect_exit(task: JoinHandle<Result<(), TransportError>>, limit: Duration) {
    let result = tokio::time::timeout(limit, task)
        .await
        .expect("serve returned in time")
        .expect("serve task did not panic");
    assert!(result.is_ok(), "{result:?}");
}

/// The private directory holding the socket.
pub fn socket_dir(announcement: &Announcement) -> PathBuf {
    announcement
        .socket_path
        .parent()
        .expect("socket has a parent")
        .to_path_buf()
}
