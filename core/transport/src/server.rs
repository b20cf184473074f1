//! Runs the plugin: negotiate, bind, announce, serve the gRPC services, and
//! stop on `GRPCController.Shutdown`, a signal, or when the client is gone.

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use tfplugin_proto::plugin::grpc_broker_server::GrpcBrokerServer;
use tfplugin_proto::plugin::grpc_controller_server::GrpcControllerServer;
use tfplugin_proto::plugin::grpc_stdio_server::GrpcStdioServer;
use tfplugin_proto::tfplugin6::provider_server::{Provider, ProviderServer};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;

use crate::handshake::{Announcement, negotiate_protocol};
use crate::lifeline::Lifeline;
use crate::listener::PluginSocket;
use crate::services::{Broker, Controller, Stdio};
use crate::tls::server_tls;
use crate::{ServeOptions, TransportError};

/// terraform-plugin-go's gRPC message limit (tonic's default is 4 MiB, too
/// small for big states and schemas).
const MAX_MESSAGE_SIZE: usize = 256 << 20;

/// After shutdown starts, how long open connections get to finish before
/// `serve` returns anyway. Terraform kills the plugin 2 s after `Shutdown`.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// The health service name go-plugin's client checks.
const HEALTH_SERVICE: &str = "plugin";

/// Writes the announcement somewhere; see [`ServeConfig::announce`].
pub type Announce = Box<dyn FnOnce(&Announcement) -> io::Result<()> + Send>;

/// Everything [`serve_with`] needs, with the environment already read, so
/// tests can run servers side by side without touching process state.
pub struct ServeConfig {
    /// Address, debug flag and log module.
    pub options: ServeOptions,
    /// The `PLUGIN_PROTOCOL_VERSIONS` value, if set.
    pub protocol_versions: Option<String>,
    /// The `PLUGIN_CLIENT_CERT` PEM; `None` serves plaintext. Ignored in
    /// debug mode, which is always plaintext.
    pub client_cert_pem: Option<String>,
    /// Parent of the private socket directory (`PLUGIN_UNIX_SOCKET_DIR`);
    /// `None` uses the system temp directory.
    pub socket_parent: Option<PathBuf>,
    /// Install SIGINT/SIGTERM handling (off in tests sharing one process).
    pub handle_signals: bool,
    /// Stop when the parent process exits or stops reading stdout (see the
    /// `lifeline` module); ignored in debug mode. Off in tests sharing one
    /// process.
    pub watch_client: bool,
    /// Called once with the announcement after the socket is bound and before
    /// serving; [`ServeConfig::from_env`] prints it to stdout.
    pub announce: Announce,
}

impl ServeConfig {
    /// The configuration Terraform's environment describes, announcing on
    /// stdout and handling signals.
    pub fn from_env(options: ServeOptions) -> Self {
        let non_empty = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        Self {
            options,
            protocol_versions: std::env::var("PLUGIN_PROTOCOL_VERSIONS").ok(),
            client_cert_pem: non_empty("PLUGIN_CLIENT_CERT"),
            socket_parent: non_empty("PLUGIN_UNIX_SOCKET_DIR").map(PathBuf::from),
            handle_signals: true,
            watch_client: true,
            announce: Box::new(print_to_stdout),
        }
    }
}

/// Prints the announcement on stdout and flushes, so Terraform sees it at once.
fn print_to_stdout(announcement: &Announcement) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(announcement.stdout_text().as_bytes())?;
    stdout.flush()
}

/// [`crate::serve`] with the environment passed in explicitly.
///
/// Returns once the server has stopped (after `Shutdown`, or a signal when
/// `handle_signals` is set), with the socket directory already removed.
pub async fn serve_with<P: Provider>(
    config: ServeConfig,
    provider: P,
    stop: CancellationToken,
) -> Result<(), TransportError> {
    let ServeConfig {
        options,
        protocol_versions,
        client_cert_pem,
        socket_parent,
        handle_signals,
        watch_client,
        announce,
    } = config;
    let protocol_version = negotiate_protocol(protocol_versions.as_deref())?;

    // Cancelled to stop the gRPC server; `stop` is only for the provider.
    let shutdown = CancellationToken::new();
    // Install handlers before announcing: from then on Ctrl-C reaches us, and
    // the default action would kill the process.
    let signals = if handle_signals {
        Some(Signals::install().map_err(TransportError::Signals)?)
    } else {
        None
    };

    let tls = match client_cert_pem {
        Some(pem) if !options.debug => Some(server_tls(&pem)?),
        _ => None,
    };
    let socket = PluginSocket::bind(socket_parent.as_deref()).map_err(TransportError::Socket)?;
    let announcement = Announcement {
        socket_path: socket.path().to_path_buf(),
        server_cert_der: tls.as_ref().map(|tls| tls.cert_der.clone()),
        protocol_version,
        debug: options.debug,
        provider_address: options.provider_address.clone(),
        pid: std::process::id(),
    };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status(HEALTH_SERVICE, ServingStatus::Serving)
        .await;
    let controller = Controller {
        stop: stop.clone(),
        shutdown: shutdown.clone(),
        debug: options.debug,
    };
    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(
            ProviderServer::new(provider)
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
        )
        .add_service(GrpcControllerServer::new(controller))
        .add_service(GrpcStdioServer::new(Stdio))
        .add_service(GrpcBrokerServer::new(Broker));

    let (incoming, socket_dir) =
        socket.accept_into_stream(tls.map(|tls| tls.config), shutdown.clone());
    if let Some(signals) = signals {
        tokio::spawn(signals.watch(options.debug, stop.clone(), shutdown.clone()));
    }

    // Nothing may reach stdout after this line.
    if let Err(err) = announce(&announcement) {
        shutdown.cancel();
        return Err(TransportError::Announce(err));
    }
    if watch_client && !options.debug {
        Lifeline::of_this_process().spawn(&shutdown);
    }
    tracing::debug!(
        socket = %announcement.socket_path.display(),
        tls = announcement.server_cert_der.is_some(),
        debug = options.debug,
        "plugin server listening"
    );

    let server = router.serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned());
    let result = tokio::select! {
        result = server => result.map_err(TransportError::Serve),
        () = grace_expired(shutdown.clone()) => {
            tracing::debug!("connections still open after shutdown; stopping anyway");
            Ok(())
        }
    };
    // Shutting down for any reason ends provider work too.
    stop.cancel();
    shutdown.cancel();
    drop(socket_dir);
    tracing::debug!("plugin server stopped");
    result
}

/// Completes [`SHUTDOWN_GRACE`] after `shutdown` is cancelled.
async fn grace_expired(shutdown: CancellationToken) {
    shutdown.cancelled().await;
    tokio::time::sleep(SHUTDOWN_GRACE).await;
}

/// SIGINT and SIGTERM listeners.
struct Signals {
    /// SIGINT (Ctrl-C, sent to Terraform's whole process group).
    interrupt: Signal,
    /// SIGTERM.
    terminate: Signal,
}

impl Signals {
    /// Registers both handlers (which replaces the default "terminate").
    fn install() -> io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Normal mode: SIGINT is ignored, since Terraform sees the same Ctrl-C
    /// and winds the provider down itself with StopProvider and Shutdown;
    /// SIGTERM stops. Debug mode: either signal stops.
    async fn watch(mut self, debug: bool, stop: CancellationToken, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = self.interrupt.recv() => {
                    if debug {
                        tracing::info!("SIGINT received; stopping");
                        break;
                    }
                    tracing::debug!("ignoring SIGINT; Terraform will stop the provider");
                }
                _ = self.terminate.recv() => {
                    tracing::info!("SIGTERM received; stopping");
                    break;
                }
            }
        }
        stop.cancel();
        shutdown.cancel();
    }
}
