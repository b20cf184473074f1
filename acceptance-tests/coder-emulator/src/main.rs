//! `coder-emulator`: serves the emulated Coder v1 API on loopback until SIGTERM or SIGINT.
//! Prints `listening on http://127.0.0.1:PORT` on stdout once it accepts connections.

use std::io::Write;
use std::process::ExitCode;

use coder_emulator::cli::{CommandLine, USAGE};
use coder_emulator::{Emulator, serve};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

fn main() -> ExitCode {
    let command_line = match CommandLine::parse(std::env::args_os().skip(1)) {
        Ok(command_line) => command_line,
        Err(error) => {
            eprintln!("coder-emulator: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("coder-emulator: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command_line)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("coder-emulator: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command_line: CommandLine) -> Result<(), String> {
    let listener = TcpListener::bind(command_line.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", command_line.listen))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let url = format!("http://{address}");
    // Signal handlers are installed before the URL is announced, so a harness that stops the
    // emulator right after reading the URL always gets a clean shutdown.
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    if let Some(path) = &command_line.url_file {
        std::fs::write(path, format!("{url}\n"))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {url}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    drop(stdout);

    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    };
    serve(listener, Emulator::new(command_line.options), shutdown)
        .await
        .map_err(|e| format!("server failed: {e}"))
}
