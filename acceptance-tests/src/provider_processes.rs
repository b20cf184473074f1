//! Finding the provider processes a command started, to check that none outlives it.
//!
//! Every command [`crate::process::run`] starts carries a mark in its environment, which its
//! children (Terraform's, OpenTofu's or Pulumi's plugins) inherit. After the command exits, the
//! processes with that mark whose executable is a `terraform-provider-*` must be gone: a
//! provider left running is a leak (pulumi-terraform-bridge never stops the provider it starts;
//! the provider stops itself once its parent is gone). Linux only: it reads `/proc`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The environment variable holding a command's mark.
const MARK_ENV: &str = "CVM_ACC_COMMAND";

/// The name every Terraform provider executable starts with.
const PROVIDER_PREFIX: &str = "terraform-provider-";

/// How long a provider may take to exit after the command that started it has.
pub const EXIT_LIMIT: Duration = Duration::from_secs(10);

/// A mark unique to one command of this test process.
#[derive(Debug, Clone)]
pub(crate) struct CommandMark(String);

impl CommandMark {
    /// A new mark, set in `command`'s environment.
    pub(crate) fn set_on(command: &mut Command) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mark = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        command.env(MARK_ENV, &mark);
        Self(mark)
    }

    /// The provider processes (still running) that carry this mark.
    pub(crate) fn providers(&self) -> Vec<u32> {
        let entry = format!("{MARK_ENV}={}", self.0);
        running_processes()
            .filter(|&pid| is_provider(pid))
            .filter(|&pid| {
                std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                    environ
                        .split(|&byte| byte == 0)
                        .any(|pair| pair == entry.as_bytes())
                })
            })
            .collect()
    }
}

/// The provider processes among the descendants of `root`, each with its parent's pid.
///
/// A provider need not be `root`'s own child: Terraform before 1.2 runs itself under a
/// panic-catching wrapper process, so its providers are grandchildren of the process started.
pub fn provider_descendants(root: u32) -> Vec<(u32, u32)> {
    let parents: Vec<(u32, u32)> = running_processes()
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut tree = vec![root];
    let mut providers = Vec::new();
    let mut index = 0;
    while index < tree.len() {
        let parent = tree[index];
        for &(pid, _) in parents.iter().filter(|&&(_, ppid)| ppid == parent) {
            tree.push(pid);
            if is_provider(pid) {
                providers.push((pid, parent));
            }
        }
        index += 1;
    }
    providers
}

/// Whether `pid` is a process that has not exited (a zombie has: it only waits to be reaped).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat_fields_after_name(&stat).map(|fields| fields[0] != "Z"))
        .unwrap_or(false)
}

/// Waits until each of `pids` has exited or `limit` has passed; returns those still running.
pub fn wait_for_exit(pids: &[u32], limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let running: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|&pid| is_running(pid))
            .collect();
        if running.is_empty() || Instant::now() >= deadline {
            return running;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGKILL to each of `pids` (processes this test process started, through a command).
pub fn kill(pids: &[u32]) {
    for pid in pids {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The pids listed in `/proc` that are still running.
fn running_processes() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| is_running(pid))
}

/// Whether `pid` runs an executable named `terraform-provider-*`.
fn is_provider(pid: u32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
        exe.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with(PROVIDER_PREFIX))
    }) || first_argument(pid).is_some_and(|arg| {
        Path::new(&arg)
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with(PROVIDER_PREFIX))
    })
}

/// `argv[0]` of `pid`.
fn first_argument(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let first = cmdline.split(|&byte| byte == 0).next()?;
    Some(String::from_utf8_lossy(first).into_owned())
}

/// The parent pid of `pid`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields_after_name(&stat)?.get(1)?.parse().ok()
}

/// The fields of a `/proc/<pid>/stat` line after `(comm)`: state, ppid, …
/// (the name may contain spaces and parentheses, so split after its last `)`).
fn stat_fields_after_name(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    (fields.len() >= 2).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_a_name_with_spaces_and_parentheses() {
        let fields = stat_fields_after_name("42 (a (b) c) S 7 42 42 0").unwrap();
        assert_eq!(fields[..2], ["S", "7"]);
    }

    #[test]
    fn this_process_is_running_and_is_not_a_provider() {
        let pid = std::process::id();
        assert!(is_running(pid));
        assert!(!is_provider(pid));
        assert_eq!(parent_of(pid), Some(std::os::unix::process::parent_id()));
    }

    #[test]
    fn a_marked_process_is_found_by_its_mark_only_while_it_runs() {
        // `sleep` is not a provider, so find it through the same environment scan by name.
        let mut command = Command::new("sleep");
        command.arg("600");
        let mark = CommandMark::set_on(&mut command);
        let mut child = command.spawn().unwrap();
        let pid = child.id();
        let entry = format!("{MARK_ENV}={}", mark.0);
        // spawn returns as soon as exec has started, before the new environment is in place.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut environ = Vec::new();
        while environ.is_empty() && Instant::now() < deadline {
            environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        }
        assert!(
            environ
                .split(|&b| b == 0)
                .any(|pair| pair == entry.as_bytes()),
            "{entry} not in {}",
            String::from_utf8_lossy(&environ)
        );
        assert!(mark.providers().is_empty());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!is_running(pid));
    }
}
