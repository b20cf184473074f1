//! Finding the Terraform binaries the acceptance tests run against.
//!
//! By default that is the `terraform` on `PATH` (if it is 1.0 or newer) plus Terraform 1.0.3 from
//! the cache that `scripts/fetch-terraform` fills. `CVM_TF_PATHS` replaces that list.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::Error;
use crate::process;

/// Environment variable: colon-separated Terraform binaries to use instead of discovery.
pub const PATHS_ENV: &str = "CVM_TF_PATHS";

/// Environment variable: the cache directory (default `$HOME/.cache/cvm`).
pub const CACHE_DIR_ENV: &str = "CVM_CACHE_DIR";

/// The oldest Terraform the provider supports, fetched into the cache by `scripts/fetch-terraform`.
pub const OLDEST_SUPPORTED: (u64, u64, u64) = (1, 0, 3);

/// The command that puts Terraform 1.0.3 into the cache.
pub const FETCH_COMMAND: &str = "scripts/fetch-terraform";

/// A Terraform binary and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terraform {
    /// Absolute (or as given) path of the executable.
    pub path: PathBuf,
    /// `(major, minor, patch)`; pre-release suffixes are dropped.
    pub version: (u64, u64, u64),
}

impl Terraform {
    /// Runs `<path> version -json` and builds a [`Terraform`] from its answer.
    pub fn probe(path: &Path) -> Result<Terraform, Error> {
        let mut command = Command::new(path);
        command
            .args(["version", "-json"])
            .env("CHECKPOINT_DISABLE", "1");
        let description = format!("{} version -json", path.display());
        let dir = std::env::temp_dir();
        let output = process::run(command, &description, &dir, Duration::from_secs(60))?;
        if !output.status.success() {
            return Err(Error::CommandFailed {
                command: description,
                dir,
                status: output.status.to_string(),
                stdout: output.stdout,
                stderr: output.stderr,
            });
        }
        let version = parse_version_json(&output.stdout)?;
        Ok(Terraform {
            path: path.to_path_buf(),
            version,
        })
    }

    /// The version as `major.minor.patch`.
    pub fn version_string(&self) -> String {
        let (major, minor, patch) = self.version;
        format!("{major}.{minor}.{patch}")
    }

    /// Whether this Terraform is `major.minor.patch` or newer.
    pub fn at_least(&self, major: u64, minor: u64, patch: u64) -> bool {
        self.version >= (major, minor, patch)
    }

    /// Provider-defined functions (`provider::cvm::…`) need Terraform 1.8.
    pub fn supports_functions(&self) -> bool {
        self.at_least(1, 8, 0)
    }

    /// Ephemeral resources need Terraform 1.10.
    pub fn supports_ephemeral_resources(&self) -> bool {
        self.at_least(1, 10, 0)
    }

    /// Write-only attributes need Terraform 1.11.
    pub fn supports_write_only(&self) -> bool {
        self.at_least(1, 11, 0)
    }

    /// The built-in `terraform_data` resource needs Terraform 1.4.
    pub fn supports_terraform_data(&self) -> bool {
        self.at_least(1, 4, 0)
    }
}

impl fmt::Display for Terraform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Terraform {} ({})",
            self.version_string(),
            self.path.display()
        )
    }
}

/// Parses `1.11.4`, `v1.0.3` or `1.12.0-beta1` into `(major, minor, patch)`.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let text = text.trim();
    let text = text.strip_prefix('v').unwrap_or(text);
    let core = text.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// Extracts the version from the output of `terraform version -json`.
pub fn parse_version_json(text: &str) -> Result<(u64, u64, u64), Error> {
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::json("`terraform version -json` output", e, text))?;
    let version = json
        .get("terraform_version")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Error::NotFound {
            what: "\"terraform_version\" in `terraform version -json` output".to_string(),
            available: text.to_string(),
        })?;
    parse_version(version).ok_or_else(|| {
        Error::Assertion(format!(
            "`terraform version -json` reported an unparsable version {version:?}"
        ))
    })
}

/// The cache directory: `$CVM_CACHE_DIR`, else `$HOME/.cache/cvm`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os(CACHE_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
            PathBuf::from(home).join(".cache").join("cvm")
        }
    }
}

/// Where `scripts/fetch-terraform` puts Terraform 1.0.3 inside `cache_dir`.
pub fn cached_terraform_path(cache_dir: &Path) -> PathBuf {
    let (major, minor, patch) = OLDEST_SUPPORTED;
    cache_dir
        .join("terraform")
        .join(format!("{major}.{minor}.{patch}"))
        .join("terraform")
}

/// Looks `name` up in a `PATH`-style list of directories.
pub fn find_on_path(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Discovery with explicit inputs (the environment-reading [`try_terraforms`] calls this).
///
/// * `override_paths`: the value of `CVM_TF_PATHS`; if non-empty, exactly these binaries are
///   used, and every one must work.
/// * otherwise `terraform` from `path_var` (ignored if older than 1.0; an error if absent) and
///   1.0.3 from `cache_dir` (an error if absent). Duplicates of the same version are dropped.
///
/// The result is sorted newest first.
pub fn discover(
    override_paths: Option<&str>,
    path_var: Option<&OsStr>,
    cache_dir: &Path,
) -> Result<Vec<Terraform>, Error> {
    let mut found = Vec::new();
    if let Some(list) = override_paths.filter(|l| !l.trim().is_empty()) {
        for entry in list.split(':').filter(|e| !e.trim().is_empty()) {
            let terraform =
                Terraform::probe(Path::new(entry.trim())).map_err(|e| Error::Discovery {
                    reason: format!("{PATHS_ENV} lists {entry:?}, which does not work: {e}"),
                    fix: format!("fix or unset {PATHS_ENV}"),
                })?;
            found.push(terraform);
        }
    } else {
        let on_path = find_on_path("terraform", path_var).ok_or_else(|| Error::Discovery {
            reason: "no `terraform` on PATH".to_string(),
            fix: format!(
                "install Terraform ≥ 1.0 on PATH, or set {PATHS_ENV}=/path/to/terraform[:…]"
            ),
        })?;
        let newest = Terraform::probe(&on_path).map_err(|e| Error::Discovery {
            reason: format!("`{}` does not work: {e}", on_path.display()),
            fix: format!("install a working Terraform ≥ 1.0 on PATH, or set {PATHS_ENV}"),
        })?;
        if newest.at_least(1, 0, 0) {
            found.push(newest);
        }

        let cached = cached_terraform_path(cache_dir);
        if !cached.is_file() {
            return Err(Error::Discovery {
                reason: format!(
                    "Terraform {}.{}.{} is not in the cache ({} is missing)",
                    OLDEST_SUPPORTED.0,
                    OLDEST_SUPPORTED.1,
                    OLDEST_SUPPORTED.2,
                    cached.display()
                ),
                fix: format!("run `{FETCH_COMMAND}` (it honours {CACHE_DIR_ENV})"),
            });
        }
        let oldest = Terraform::probe(&cached).map_err(|e| Error::Discovery {
            reason: format!("cached `{}` does not work: {e}", cached.display()),
            fix: format!("delete it and run `{FETCH_COMMAND}` again"),
        })?;
        if oldest.version != OLDEST_SUPPORTED {
            return Err(Error::Discovery {
                reason: format!(
                    "`{}` is version {}, expected {}.{}.{}",
                    cached.display(),
                    oldest.version_string(),
                    OLDEST_SUPPORTED.0,
                    OLDEST_SUPPORTED.1,
                    OLDEST_SUPPORTED.2
                ),
                fix: format!("delete it and run `{FETCH_COMMAND}` again"),
            });
        }
        found.push(oldest);
    }
    found.sort_by_key(|t| std::cmp::Reverse(t.version));
    found.dedup_by(|a, b| a.version == b.version);
    if found.is_empty() {
        return Err(Error::Discovery {
            reason: "no Terraform found".to_string(),
            fix: format!("set {PATHS_ENV} or run `{FETCH_COMMAND}`"),
        });
    }
    Ok(found)
}

/// Every available Terraform, discovered once per test process from the environment
/// (`CVM_TF_PATHS`, `PATH`, `CVM_CACHE_DIR`). The error says what is missing and how to fix it.
pub fn try_terraforms() -> Result<Vec<Terraform>, Error> {
    static FOUND: OnceLock<Result<Vec<Terraform>, (String, String)>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let overrides = std::env::var(PATHS_ENV).ok();
            let path_var = std::env::var_os("PATH");
            discover(overrides.as_deref(), path_var.as_deref(), &cache_dir()).map_err(|e| match e {
                Error::Discovery { reason, fix } => (reason, fix),
                other => (other.to_string(), format!("run `{FETCH_COMMAND}`")),
            })
        })
        .clone()
        .map_err(|(reason, fix)| Error::Discovery { reason, fix })
}

/// Every available Terraform, newest first.
///
/// # Panics
///
/// Panics (failing the calling test) when discovery fails, with the reason and the command that
/// fixes it: a missing Terraform is never a silent skip.
pub fn terraforms() -> Vec<Terraform> {
    match try_terraforms() {
        Ok(found) => found,
        Err(e) => panic!("{e}"),
    }
}
