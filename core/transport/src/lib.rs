//! The go-plugin transport for a Terraform provider written in Rust.
//!
//! Terraform starts a provider as a child process and talks to it with
//! HashiCorp's go-plugin protocol: the provider checks a magic cookie, picks a
//! protocol version, binds a unix socket, prints one handshake line on stdout
//! and serves gRPC on the socket, with mutual TLS ("AutoMTLS") when Terraform
//! passes its client certificate. This crate does all of that around a
//! `tfplugin6.Provider` service:
//!
//! * [`check_magic_cookie`]: refuse to run when not started by Terraform;
//! * [`serve`]: negotiate, listen, announce and serve until Terraform shuts
//!   the plugin down or goes away (or, with `--debug`, until SIGINT/SIGTERM);
//! * [`logging::init`]: JSON log lines on stderr that Terraform understands.
//!
//! Unix only: the plugin listens on a unix socket.

mod cookie;
mod handshake;
mod lifeline;
mod listener;
pub mod logging;
mod server;
mod services;
mod tls;

pub use cookie::{
    MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, NotLaunchedByTerraform, check_magic_cookie,
};
pub use handshake::{Announcement, PROTOCOL_VERSION, UnsupportedProtocol};
pub use server::{Announce, ServeConfig, serve_with};
pub use tls::TlsError;

use tfplugin_proto::tfplugin6::provider_server::Provider;
use tokio_util::sync::CancellationToken;

/// What [`serve`] needs to know about the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Full source address, e.g. `registry.terraform.io/cvm-provider/cvm`;
    /// the key of `TF_REATTACH_PROVIDERS` in debug mode.
    pub provider_address: String,
    /// `--debug`: reattach mode. No cookie check, no TLS; prints
    /// `TF_REATTACH_PROVIDERS` instead of the handshake line and serves until
    /// SIGINT or SIGTERM.
    pub debug: bool,
    /// The `@module` of log lines, e.g. `provider.terraform-provider-cvm`.
    /// [`serve`] passes it to [`logging::init`], which only acts on its first
    /// call, so a `main` that already initialised logging keeps its setup.
    pub log_module: String,
}

/// Why [`serve`] could not run or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Terraform does not offer protocol 6.
    #[error(transparent)]
    UnsupportedProtocol(#[from] UnsupportedProtocol),
    /// The AutoMTLS set-up failed.
    #[error("setting up AutoMTLS: {0}")]
    Tls(#[from] TlsError),
    /// The socket directory or the socket could not be created.
    #[error("creating the plugin socket: {0}")]
    Socket(#[source] std::io::Error),
    /// SIGINT/SIGTERM handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// The handshake (or reattach instructions) could not be written.
    #[error("writing the plugin handshake to stdout: {0}")]
    Announce(#[source] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Runs the plugin until Terraform shuts it down.
///
/// `provider` is the tonic service for `tfplugin6.Provider`. Reads
/// `PLUGIN_PROTOCOL_VERSIONS`, `PLUGIN_CLIENT_CERT` and
/// `PLUGIN_UNIX_SOCKET_DIR` from the environment, prints the handshake line
/// on stdout, and serves the provider with the health, controller, stdio and
/// broker services go-plugin's client expects.
///
/// The server also stops when the process that started it exits or no longer
/// reads its stdout, so a client that never calls `Shutdown` (or was killed)
/// leaves no provider process behind.
///
/// `stop` is cancelled when `GRPCController.Shutdown` arrives, on SIGTERM
/// (and SIGINT in debug mode), and when `serve` returns, so in-flight work
/// can end. Cancelling it from outside does not stop the server. SIGINT is
/// ignored outside debug mode: Terraform gets the same Ctrl-C and stops the
/// provider itself. The socket and its directory are removed before `serve`
/// returns. In debug mode `Shutdown` is ignored: one debug process serves any
/// number of Terraform runs until it gets a signal.
pub async fn serve<P: Provider>(
    opts: ServeOptions,
    provider: P,
    stop: CancellationToken,
) -> Result<(), TransportError> {
    logging::init(&opts.log_module);
    serve_with(ServeConfig::from_env(opts), provider, stop).await
}
