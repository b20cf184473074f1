//! Running a child process with a timeout, capturing all of its output, and limiting how many
//! Terraform processes run at once across the whole test binary.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::provider_processes::{self, CommandMark};

/// Environment variable that sets how many Terraform commands may run at the same time in one
/// test process (default [`DEFAULT_CONCURRENCY`]).
pub const CONCURRENCY_ENV: &str = "CVM_TF_CONCURRENCY";

/// Default number of concurrent Terraform commands: the CI machine has two cores, and each
/// Terraform command also runs a provider process.
pub const DEFAULT_CONCURRENCY: usize = 2;

/// How long a timed-out process gets to shut down after SIGINT before it is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(10);

/// What a finished command printed, and how it exited.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// Everything written to stdout (lossily decoded as UTF-8).
    pub stdout: String,
    /// Everything written to stderr (lossily decoded as UTF-8).
    pub stderr: String,
    /// The exit status.
    pub status: ExitStatus,
    /// Wall-clock time the command took, including waiting for a concurrency slot.
    pub elapsed: Duration,
}

/// A counting semaphore built on a mutex and a condition variable (std has none).
struct Semaphore {
    available: Mutex<usize>,
    released: Condvar,
}

/// Holding a slot of the [`Semaphore`]; the slot is returned on drop.
struct Permit<'a>(&'a Semaphore);

impl Semaphore {
    fn acquire(&self) -> Permit<'_> {
        // A poisoned lock only means another test panicked while holding it; the counter itself
        // is still consistent because it is only changed in these two short sections.
        let mut available = self
            .available
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *available == 0 {
            available = self
                .released
                .wait(available)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *available -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut available = self
            .0
            .available
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *available += 1;
        self.0.released.notify_one();
    }
}

fn terraform_slots() -> &'static Semaphore {
    static SLOTS: std::sync::OnceLock<Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let slots = std::env::var(CONCURRENCY_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_CONCURRENCY);
        Semaphore {
            available: Mutex::new(slots),
            released: Condvar::new(),
        }
    })
}

/// Shared buffer a reader thread appends to, so output is available even if the process hangs.
type Sink = Arc<Mutex<Vec<u8>>>;

fn spawn_reader(mut pipe: impl Read + Send + 'static, sink: Sink, done: mpsc::Sender<()>) {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(&buf[..n]),
            }
        }
        // The receiver may be gone if the harness gave up waiting; nothing to do then.
        let _ = done.send(());
    });
}

fn take(sink: &Sink) -> String {
    String::from_utf8_lossy(&sink.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

/// Runs `command` (stdin closed) until it exits or `timeout` elapses, holding one of the global
/// Terraform slots meanwhile. A non-zero exit is *not* an error here; callers decide.
///
/// On timeout the process gets SIGINT (Terraform then stops its providers cleanly), and after a
/// grace period SIGKILL; the returned [`Error::Timeout`] carries the output printed so far.
///
/// Every command is marked so the provider processes it starts can be found: one still running
/// [`provider_processes::EXIT_LIMIT`] after the command exited is killed and reported as
/// [`Error::ProviderOutlivedCommand`], for every command of every test.
pub fn run(
    mut command: Command,
    description: &str,
    dir: &Path,
    timeout: Duration,
) -> Result<CommandOutput, Error> {
    let _slot = terraform_slots().acquire();
    let started = Instant::now();
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mark = CommandMark::set_on(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| Error::io(format!("starting `{description}`"), e))?;

    let stdout: Sink = Arc::default();
    let stderr: Sink = Arc::default();
    let (done_tx, done_rx) = mpsc::channel();
    let mut readers = 0;
    if let Some(pipe) = child.stdout.take() {
        spawn_reader(pipe, stdout.clone(), done_tx.clone());
        readers += 1;
    }
    if let Some(pipe) = child.stderr.take() {
        spawn_reader(pipe, stderr.clone(), done_tx);
        readers += 1;
    }

    let deadline = started + timeout;
    let status = wait_until(&mut child, deadline, description)?;

    // The pipes close when the process exits, unless a grandchild inherited them; do not wait
    // forever for such a straggler.
    for _ in 0..readers {
        if done_rx.recv_timeout(Duration::from_secs(5)).is_err() {
            break;
        }
    }

    let outlived =
        provider_processes::wait_for_exit(&mark.providers(), provider_processes::EXIT_LIMIT);
    if !outlived.is_empty() {
        provider_processes::kill(&outlived);
        if status.is_some() {
            return Err(Error::ProviderOutlivedCommand {
                command: description.to_string(),
                pids: outlived,
                stdout: take(&stdout),
                stderr: take(&stderr),
            });
        }
    }

    match status {
        Some(status) => Ok(CommandOutput {
            stdout: take(&stdout),
            stderr: take(&stderr),
            status,
            elapsed: started.elapsed(),
        }),
        None => Err(Error::Timeout {
            command: description.to_string(),
            dir: dir.to_path_buf(),
            timeout,
            stdout: take(&stdout),
            stderr: take(&stderr),
        }),
    }
}

/// Waits for `child` until `deadline`; returns `None` if it had to be stopped.
fn wait_until(
    child: &mut Child,
    deadline: Instant,
    description: &str,
) -> Result<Option<ExitStatus>, Error> {
    let poll = |child: &mut Child| {
        child
            .try_wait()
            .map_err(|e| Error::io(format!("waiting for `{description}`"), e))
    };
    loop {
        if let Some(status) = poll(child)? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(25));
    }

    // Timed out: ask politely first. `kill` the command is used because sending a signal from
    // Rust needs unsafe code or another dependency; failure to run it just means we go to SIGKILL.
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let grace_end = Instant::now() + INTERRUPT_GRACE;
    while Instant::now() < grace_end {
        if poll(child)?.is_some() {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(None)
}
