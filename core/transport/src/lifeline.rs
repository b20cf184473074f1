//! Ends the plugin once whoever started it is gone.
//!
//! A go-plugin client is meant to stop its plugin (`Shutdown`, then a kill), but not every
//! client does: pulumi-terraform-bridge leaves its provider running after each Pulumi command,
//! and a client killed with SIGKILL cannot. Such a plugin would be reparented to init and idle
//! forever. Two watches, each a thread blocked in the kernel (no polling loop), end it instead:
//!
//! * **parent exit**: a pidfd of the parent process becomes readable when the parent exits;
//! * **client gone**: go-plugin reads the plugin's stdout for the plugin's whole life, so when
//!   the last reader of that pipe has closed it, `poll` reports `POLLERR` on our end.
//!
//! Either one cancels the server's shutdown token. Debug mode (`--debug`) has no lifeline: it
//! is started by a user to outlive any number of clients.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::fs::{FileType, fstat};
use rustix::process::{Pid, PidfdFlags, getppid, pidfd_open};
use tokio_util::sync::CancellationToken;

/// What to watch; see the module documentation.
#[derive(Debug)]
pub(crate) struct Lifeline {
    /// The parent's pid and a pidfd for it, opened while it was still our parent.
    parent: Option<(Pid, OwnedFd)>,
    /// The write end of the pipe the client reads our stdout from.
    client_pipe: Option<OwnedFd>,
}

impl Lifeline {
    /// This process's parent and, if stdout is a pipe, stdout.
    ///
    /// Without a parent to watch (started by init, or the parent already gone) or without a
    /// pipe on stdout, that watch is left out; an error opening either one is logged and that
    /// watch left out too, since the plugin still works without it.
    pub(crate) fn of_this_process() -> Self {
        let parent = match getppid() {
            // Had the parent exited between getppid and pidfd_open, the pidfd is readable at
            // once (a pid is not reused that fast), which stops the plugin as it should.
            Some(parent) if parent != Pid::INIT => match watch_pid(parent) {
                Ok(pidfd) => Some((parent, pidfd)),
                Err(err) => {
                    tracing::debug!(parent = parent.as_raw_nonzero().get(), %err, "not watching the parent process");
                    None
                }
            },
            _ => None,
        };
        let client_pipe = match stdout_pipe() {
            Ok(pipe) => pipe,
            Err(err) => {
                tracing::debug!(%err, "not watching stdout");
                None
            }
        };
        Self {
            parent,
            client_pipe,
        }
    }

    /// Watches `pid` (its pidfd) and `client_pipe` (the write end of a pipe); for tests.
    #[cfg(test)]
    fn new(pid: Option<Pid>, client_pipe: Option<OwnedFd>) -> io::Result<Self> {
        let parent = pid
            .map(|pid| watch_pid(pid).map(|fd| (pid, fd)))
            .transpose()?;
        Ok(Self {
            parent,
            client_pipe,
        })
    }

    /// Starts a thread per watch; each cancels `shutdown` when what it watches is gone.
    /// The threads end with the process (or when their watch fires).
    pub(crate) fn spawn(self, shutdown: &CancellationToken) {
        if let Some((pid, pidfd)) = self.parent {
            let shutdown = shutdown.clone();
            spawn_watch("plugin-parent-watch", move || {
                wait_until(&pidfd, PollFlags::IN)?;
                tracing::info!(
                    parent = pid.as_raw_nonzero().get(),
                    "the process that started the provider has exited; stopping"
                );
                shutdown.cancel();
                Ok(())
            });
        }
        if let Some(pipe) = self.client_pipe {
            let shutdown = shutdown.clone();
            spawn_watch("plugin-client-watch", move || {
                // No events asked for: poll still reports POLLERR (no reader left) and POLLHUP.
                wait_until(&pipe, PollFlags::empty())?;
                tracing::info!("the client no longer reads the provider's stdout; stopping");
                shutdown.cancel();
                Ok(())
            });
        }
    }
}

/// A pidfd for `pid`: readable once that process has exited.
fn watch_pid(pid: Pid) -> io::Result<OwnedFd> {
    Ok(pidfd_open(pid, PidfdFlags::empty())?)
}

/// A duplicate of stdout if it is a pipe (as go-plugin's clients make it), else `None`.
fn stdout_pipe() -> io::Result<Option<OwnedFd>> {
    let stdout = io::stdout();
    let stdout = stdout.as_fd();
    if FileType::from_raw_mode(fstat(stdout)?.st_mode) != FileType::Fifo {
        return Ok(None);
    }
    Ok(Some(stdout.try_clone_to_owned()?))
}

/// Blocks until `fd` reports one of `events`, an error or a hang-up.
fn wait_until(fd: &OwnedFd, events: PollFlags) -> io::Result<()> {
    let done = events | PollFlags::ERR | PollFlags::HUP;
    loop {
        let mut fds = [PollFd::new(fd, events)];
        match poll(&mut fds, None) {
            Ok(_) if fds[0].revents().intersects(done) => return Ok(()),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

/// Runs `watch` on a named thread, logging (not failing on) an error.
fn spawn_watch(name: &str, watch: impl FnOnce() -> io::Result<()> + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            if let Err(err) = watch() {
                tracing::debug!(%err, "lifeline watch stopped");
            }
        });
    if let Err(err) = spawned {
        tracing::debug!(%err, name, "could not start a lifeline watch");
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use super::*;

    /// Waits (bounded) for `token` to be cancelled.
    async fn cancelled_within(token: &CancellationToken, limit: Duration) -> bool {
        tokio::time::timeout(limit, token.cancelled()).await.is_ok()
    }

    #[tokio::test]
    async fn a_watched_process_exiting_cancels_shutdown() {
        let mut child = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .expect("sleep starts");
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
        let shutdown = CancellationToken::new();
        Lifeline::new(pid, None).unwrap().spawn(&shutdown);
        assert!(!shutdown.is_cancelled());

        child.kill().unwrap();
        child.wait().unwrap();
        assert!(cancelled_within(&shutdown, Duration::from_secs(10)).await);
    }

    #[tokio::test]
    async fn the_last_reader_closing_the_pipe_cancels_shutdown() {
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        let shutdown = CancellationToken::new();
        Lifeline::new(None, Some(writer)).unwrap().spawn(&shutdown);
        assert!(!shutdown.is_cancelled());

        drop(reader);
        assert!(cancelled_within(&shutdown, Duration::from_secs(10)).await);
    }
}
