//! [`LoopbackServer`]: an axum router served on a free 127.0.0.1 port from a thread of its own,
//! for the harness's in-process HTTP peers (the fault proxies). Stopped on drop.

use std::net::TcpListener;
use std::thread::JoinHandle;

/// A router being served on loopback.
pub(crate) struct LoopbackServer {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LoopbackServer {
    /// Binds a free port and serves `router` there from a thread named `name`, returning once
    /// the listener accepts connections.
    pub(crate) fn start(name: &str, router: axum::Router) -> Result<LoopbackServer, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("binding: {e}"))?
            .port();
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("binding: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("creating the runtime: {e}"))?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    // Stops accepting at once on shutdown; open connections are dropped with
                    // the runtime.
                    tokio::select! {
                        _ = axum::serve(listener, router) => {}
                        _ = stopped => {}
                    }
                });
            })
            .map_err(|e| format!("starting the thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("the server thread ended at once".to_owned()),
        }
        Ok(LoopbackServer {
            url: format!("http://127.0.0.1:{port}"),
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The thread may already be gone; then there is nothing to stop.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
