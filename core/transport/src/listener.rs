//! The unix socket the plugin listens on, in a private temporary directory,
//! and the stream of (optionally TLS-wrapped) connections fed to tonic.

use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

/// File name of the socket inside the private directory.
const SOCKET_NAME: &str = "plugin.sock";

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections ready for gRPC that tonic has not picked up yet.
const PENDING_CONNECTIONS: usize = 16;

/// A bound socket in its own 0700 directory. Dropping it removes both.
pub(crate) struct PluginSocket {
    /// The listener (taken by [`PluginSocket::accept_into_stream`]).
    listener: UnixListener,
    /// Full path of the socket file.
    path: PathBuf,
    /// The private directory; removed (with the socket) on drop.
    dir: TempDir,
}

impl PluginSocket {
    /// Creates a private directory under `parent` (the system temp dir when
    /// `None`) and binds a socket in it.
    pub(crate) fn bind(parent: Option<&Path>) -> io::Result<Self> {
        let mut builder = tempfile::Builder::new();
        builder
            .prefix("plugin")
            .permissions(std::fs::Permissions::from_mode(0o700));
        let dir = match parent {
            Some(parent) => builder.tempdir_in(parent)?,
            None => builder.tempdir()?,
        };
        let path = dir.path().join(SOCKET_NAME);
        let listener = UnixListener::bind(&path)?;
        Ok(Self {
            listener,
            path,
            dir,
        })
    }

    /// Full path of the socket file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Starts accepting connections (TLS-wrapped when `tls` is given) and
    /// returns them as a stream for tonic, plus a guard that removes the
    /// directory when dropped. Accepting stops when `stop_accepting` fires.
    pub(crate) fn accept_into_stream(
        self,
        tls: Option<Arc<rustls::ServerConfig>>,
        stop_accepting: CancellationToken,
    ) -> (ReceiverStream<io::Result<PluginConnection>>, SocketDirGuard) {
        let (sender, receiver) = mpsc::channel(PENDING_CONNECTIONS);
        let acceptor = tls.map(TlsAcceptor::from);
        tokio::spawn(accept_loop(self.listener, acceptor, sender, stop_accepting));
        (
            ReceiverStream::new(receiver),
            SocketDirGuard { _dir: self.dir },
        )
    }
}

/// Removes the private socket directory (and the socket in it) when dropped.
pub(crate) struct SocketDirGuard {
    /// Held only for its `Drop`.
    _dir: TempDir,
}

/// Accepts until told to stop or the receiver goes away. TLS handshakes run in
/// their own tasks so a slow or hostile client cannot hold up the others, and
/// a failed handshake only costs that one connection.
async fn accept_loop(
    listener: UnixListener,
    acceptor: Option<TlsAcceptor>,
    sender: mpsc::Sender<io::Result<PluginConnection>>,
    stop_accepting: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            () = stop_accepting.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::debug!(error = %err, "accepting a plugin connection failed");
                    // Avoid a hot loop on persistent errors such as EMFILE.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        match &acceptor {
            None => {
                if sender
                    .send(Ok(PluginConnection::Plain(stream)))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => {
                            // The receiver is gone only when the server stopped.
                            let _ = sender.send(Ok(PluginConnection::Tls(Box::new(tls)))).await;
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(error = %err, "TLS handshake with a plugin client failed");
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake with a plugin client timed out");
                        }
                    }
                });
            }
        }
    }
}

/// One accepted connection, plaintext or TLS.
pub(crate) enum PluginConnection {
    /// No AutoMTLS (debug mode, or Terraform run with `TF_DISABLE_PLUGIN_TLS`).
    Plain(UnixStream),
    /// AutoMTLS: the handshake has completed and the client cert was accepted.
    Tls(Box<TlsStream<UnixStream>>),
}

impl tonic::transport::server::Connected for PluginConnection {
    // Peers on a private unix socket carry no useful address.
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for PluginConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PluginConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(stream) => stream.is_write_vectored(),
            Self::Tls(stream) => stream.is_write_vectored(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn socket_lives_in_a_private_directory_removed_on_drop() {
        let parent = tempfile::tempdir().unwrap();
        let socket = PluginSocket::bind(Some(parent.path())).unwrap();
        let path = socket.path().to_path_buf();
        let dir = path.parent().unwrap().to_path_buf();
        assert_eq!(dir.parent(), Some(parent.path()));
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(path.exists());
        let (_stream, guard) = socket.accept_into_stream(None, CancellationToken::new());
        drop(guard);
        assert!(!dir.exists());
    }
}
