//! A real image registry for the tests ([`Registry::shared`]: one per test process): the CNCF
//! Distribution project's `registry`, built by `scripts/registry build` and started by
//! `scripts/registry start` on loopback, with TLS from a test CA and htpasswd authentication of
//! one user the registry provisions itself.
//!
//! ```no_run
//! use acceptance_tests::registry::Registry;
//! let registry = Registry::shared()?;
//! println!("{} {}", registry.address, registry.username);
//! # Ok::<(), acceptance_tests::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::Error;

/// Longest `scripts/registry start` (certificates, then the server answering).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The repository's `scripts/registry`.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("registry")
}

fn fail(message: impl Into<String>) -> Error {
    Error::Registry(message.into())
}

/// A running registry and the one user it accepts.
pub struct Registry {
    /// `127.0.0.1:PORT`: the registry host as an image reference names it.
    pub address: String,
    /// PEM of the test CA that signed the registry's certificate.
    pub ca_pem: String,
    /// The user the registry accepts.
    pub username: String,
    /// That user's password.
    pub password: String,
    /// Holds the registry's state and log.
    pub dir: PathBuf,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is left out: Debug output ends up in test logs.
        f.debug_struct("Registry")
            .field("address", &self.address)
            .field("username", &self.username)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceLock<Result<Registry, String>> = OnceLock::new();

impl Registry {
    /// The test process's registry, started on first use. The start script watches this
    /// process and stops the registry when it exits.
    pub fn shared() -> Result<&'static Registry, Error> {
        SHARED
            .get_or_init(|| Registry::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| fail(e.clone()))
    }

    fn start() -> Result<Registry, Error> {
        let paths = Command::new(script())
            .arg("paths")
            .output()
            .map_err(|e| Error::io("running scripts/registry paths", e))?;
        let binary = String::from_utf8_lossy(&paths.stdout).trim().to_owned();
        if binary.is_empty() || !Path::new(&binary).is_file() {
            return Err(fail(format!(
                "the registry is not built (missing: {binary}); fix: run `scripts/registry build`"
            )));
        }
        let dir = std::env::temp_dir().join(format!(
            "cvm-registry-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io("creating the registry directory", e))?;
        let mut command = Command::new(script());
        command
            .arg("start")
            .arg(&dir)
            .env("CVM_REGISTRY_WATCH_PID", std::process::id().to_string());
        let out = crate::process::run(command, "scripts/registry start", &dir, START_TIMEOUT)?;
        if !out.status.success() {
            return Err(Error::CommandFailed {
                command: format!("scripts/registry start {}", dir.display()),
                dir: dir.clone(),
                status: out.status.to_string(),
                stdout: out.stdout,
                stderr: out.stderr,
            });
        }
        let lines: Vec<&str> = out.stdout.lines().collect();
        let [address, ca_path, username, password_path] = lines[..] else {
            return Err(fail(format!(
                "scripts/registry start printed {} lines, not 4: {:?}",
                lines.len(),
                out.stdout
            )));
        };
        let read = |path: &str, what: &str| {
            std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {what}"), e))
        };
        Ok(Registry {
            address: address.to_owned(),
            ca_pem: read(ca_path, "the registry's CA")?,
            username: username.to_owned(),
            password: read(password_path, "the registry's password")?
                .trim()
                .to_owned(),
            dir,
        })
    }

    /// The registry's log so far (the password it provisioned is blanked in it).
    pub fn log(&self) -> Result<String, Error> {
        std::fs::read_to_string(self.dir.join("registry.log"))
            .map_err(|e| Error::io("reading the registry's log", e))
    }

    /// The lines of the log about requests for `path` made by the provider (its user agent).
    pub fn provider_requests(&self, path: &str) -> Result<Vec<String>, Error> {
        let uri = format!("http.request.uri={path} ");
        Ok(self
            .log()?
            .lines()
            .filter(|l| l.contains(&uri) && l.contains("useragent=terraform-provider-cvm/"))
            .map(str::to_owned)
            .collect())
    }
}
