//! go-plugin's own gRPC services that Terraform's plugin client talks to next
//! to the provider: controller (shutdown), stdio and broker.

use tfplugin_proto::plugin::Empty;
use tfplugin_proto::plugin::grpc_broker_server::GrpcBroker;
use tfplugin_proto::plugin::grpc_controller_server::GrpcController;
use tfplugin_proto::plugin::grpc_stdio_server::GrpcStdio;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// `plugin.GRPCController`: Terraform's client calls `Shutdown` when it is
/// done with the provider, then waits two seconds before killing it.
pub(crate) struct Controller {
    /// Cancelled on `Shutdown` so in-flight provider work ends.
    pub(crate) stop: CancellationToken,
    /// Cancelled on `Shutdown` to stop the gRPC server.
    pub(crate) shutdown: CancellationToken,
    /// Debug (reattach) mode: `Shutdown` is acknowledged but ignored, because
    /// one debug process serves many Terraform runs and only a signal ends
    /// it. (Terraform never sends it there anyway: with `Test: true` go-plugin
    /// keeps no process handle, so it never kills the provider.)
    pub(crate) debug: bool,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        if self.debug {
            tracing::info!("ignoring GRPCController.Shutdown in debug mode");
        } else {
            tracing::debug!("GRPCController.Shutdown received; stopping");
            self.stop.cancel();
            self.shutdown.cancel();
        }
        Ok(Response::new(Empty {}))
    }
}

/// `plugin.GRPCStdio`: answers `Unimplemented`.
///
/// go-plugin uses this stream to forward a Go plugin's redirected stdout and
/// stderr. We never redirect them: logs go straight to stderr, which Terraform
/// reads line by line, and nothing but the handshake goes to stdout. On
/// `Unimplemented` the client logs that stdio is not available and carries on.
/// An empty stream held open instead would keep the connection busy and slow
/// the graceful shutdown down.
pub(crate) struct Stdio;

#[tonic::async_trait]
impl GrpcStdio for Stdio {}

/// `plugin.GRPCBroker`: answers `Unimplemented`. Terraform providers never
/// open broker connections and the client ignores `StartStream` errors.
pub(crate) struct Broker;

#[tonic::async_trait]
impl GrpcBroker for Broker {}
