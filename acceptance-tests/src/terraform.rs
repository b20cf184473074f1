//! Finding the Terraform binaries the acceptance tests run against.
//!
//! By default that is Terraform 1.0.3 from the cache that `scripts/fetch-terraform` fills, the
//! `terraform` on `PATH` if there is one (and it is 1.0 or newer), and OpenTofu where available:
//! the `tofu` on `PATH` and every `tofu` that `scripts/fetch-opentofu` built into the cache.
//! `CVM_TF_PATHS` replaces that list. Discovery also says which candidates it left out and why.

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

/// The command that builds OpenTofu's `tofu` into the cache.
pub const OPENTOFU_FETCH_COMMAND: &str = "scripts/fetch-opentofu";

/// Which implementation of the Terraform CLI a binary is. Both speak the same plugin protocol
/// and read the same configuration; they differ in version numbers (so in which features a
/// version has) and in the default registry host of provider addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Product {
    /// HashiCorp Terraform (`terraform`).
    #[default]
    Terraform,
    /// OpenTofu (`tofu`), the fork of Terraform 1.5.
    OpenTofu,
}

impl Product {
    /// The product's name as its own `version` command prints it.
    pub fn name(self) -> &'static str {
        match self {
            Product::Terraform => "Terraform",
            Product::OpenTofu => "OpenTofu",
        }
    }

    /// The registry host a provider source without a host (`cvm-provider/cvm`) resolves to.
    pub fn default_registry_host(self) -> &'static str {
        match self {
            Product::Terraform => "registry.terraform.io",
            Product::OpenTofu => "registry.opentofu.org",
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Terraform (or OpenTofu) binary and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terraform {
    /// Absolute (or as given) path of the executable.
    pub path: PathBuf,
    /// `(major, minor, patch)`; pre-release suffixes are dropped.
    pub version: (u64, u64, u64),
    /// Terraform or OpenTofu; the version numbers of the two are unrelated.
    pub product: Product,
}

impl Terraform {
    /// Runs `<path> version -json` (for the version) and `<path> version` (for the product
    /// name, which only the human-readable form states) and builds a [`Terraform`] from them.
    pub fn probe(path: &Path) -> Result<Terraform, Error> {
        let json = run_version(path, &["version", "-json"])?;
        let version = parse_version_json(&json)?;
        let text = run_version(path, &["version"])?;
        Ok(Terraform {
            path: path.to_path_buf(),
            version,
            product: parse_product(&text),
        })
    }

    /// The version as `major.minor.patch`.
    pub fn version_string(&self) -> String {
        let (major, minor, patch) = self.version;
        format!("{major}.{minor}.{patch}")
    }

    /// Product and version, e.g. `Terraform 1.11.4` or `OpenTofu 1.11.6`.
    pub fn label(&self) -> String {
        format!("{} {}", self.product, self.version_string())
    }

    /// A short name for log prefixes and directory names: the version for Terraform
    /// (`1.11.4`), `tofu-` and the version for OpenTofu (`tofu-1.11.6`).
    pub fn tag(&self) -> String {
        match self.product {
            Product::Terraform => self.version_string(),
            Product::OpenTofu => format!("tofu-{}", self.version_string()),
        }
    }

    /// Whether this binary is OpenTofu rather than HashiCorp Terraform.
    pub fn is_opentofu(&self) -> bool {
        self.product == Product::OpenTofu
    }

    /// The address Terraform gives a provider whose source is written without a host
    /// (`cvm-provider/cvm` → `registry.terraform.io/cvm-provider/cvm` on Terraform,
    /// `registry.opentofu.org/cvm-provider/cvm` on OpenTofu): the key of
    /// `providers schema -json` and the `provider_name` in state and plan JSON.
    pub fn provider_address(&self, namespace_and_type: &str) -> String {
        format!(
            "{}/{namespace_and_type}",
            self.product.default_registry_host()
        )
    }

    /// Whether this binary is `major.minor.patch` or newer. The numbers are the product's own:
    /// OpenTofu 1.7 is not Terraform 1.7, so feature checks use the `supports_…` methods.
    pub fn at_least(&self, major: u64, minor: u64, patch: u64) -> bool {
        self.version >= (major, minor, patch)
    }

    /// Provider-defined functions (`provider::cvm::…`) need Terraform 1.8 or OpenTofu 1.7.
    pub fn supports_functions(&self) -> bool {
        match self.product {
            Product::Terraform => self.at_least(1, 8, 0),
            Product::OpenTofu => self.at_least(1, 7, 0),
        }
    }

    /// Ephemeral resources need Terraform 1.10 or OpenTofu 1.11.
    pub fn supports_ephemeral_resources(&self) -> bool {
        match self.product {
            Product::Terraform => self.at_least(1, 10, 0),
            Product::OpenTofu => self.at_least(1, 11, 0),
        }
    }

    /// Write-only attributes need Terraform 1.11 or OpenTofu 1.11.
    pub fn supports_write_only(&self) -> bool {
        self.at_least(1, 11, 0)
    }

    /// The built-in `terraform_data` resource needs Terraform 1.4; every OpenTofu (1.6 and
    /// later) has it.
    pub fn supports_terraform_data(&self) -> bool {
        match self.product {
            Product::Terraform => self.at_least(1, 4, 0),
            Product::OpenTofu => true,
        }
    }
}

impl fmt::Display for Terraform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.label(), self.path.display())
    }
}

/// Runs `<path> <args>` (a `version` command) and returns its stdout; a failure is an error.
fn run_version(path: &Path, args: &[&str]) -> Result<String, Error> {
    let mut command = Command::new(path);
    command.args(args).env("CHECKPOINT_DISABLE", "1");
    let description = format!("{} {}", path.display(), args.join(" "));
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
    Ok(output.stdout)
}

/// Tells the product from the output of `<binary> version`: OpenTofu's first line is
/// `OpenTofu v1.x.y`, Terraform's `Terraform v1.x.y`. Anything else is taken for Terraform.
pub fn parse_product(version_output: &str) -> Product {
    let first = version_output.trim_start().lines().next().unwrap_or("");
    if first.starts_with("OpenTofu ") {
        Product::OpenTofu
    } else {
        Product::Terraform
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

/// Every `tofu` that `scripts/fetch-opentofu` built into `cache_dir`
/// (`<cache_dir>/opentofu/<version>/tofu`), in no particular order; empty if there is none.
pub fn cached_opentofu_paths(cache_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(cache_dir.join("opentofu")) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("tofu"))
        .filter(|candidate| candidate.is_file())
        .collect();
    paths.sort();
    paths
}

/// Looks `name` up in a `PATH`-style list of directories.
pub fn find_on_path(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A candidate client that discovery left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedClient {
    /// What was left out, e.g. "`terraform` on PATH" or "OpenTofu 1.11.6 (/usr/bin/tofu)".
    pub candidate: String,
    /// Why, in a sentence that says how to get it included where that is possible.
    pub reason: String,
}

/// The clients the acceptance tests run on, and the candidates that were left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// Terraform newest first, then OpenTofu newest first; never empty.
    pub clients: Vec<Terraform>,
    /// Every candidate that does not run the tests, each with the reason.
    pub skipped: Vec<SkippedClient>,
}

/// Discovery with explicit inputs (the environment-reading [`try_discovery`] calls this).
///
/// * `override_paths`: the value of `CVM_TF_PATHS`; if non-empty, exactly these binaries are
///   used, and every one must work.
/// * otherwise: the `terraform` from `path_var` if there is one (none, or one older than 1.0,
///   is a skip; one that does not run is an error), 1.0.3 from `cache_dir` (an error if absent),
///   and OpenTofu: `tofu` from `path_var` and every `tofu` built into `cache_dir` by
///   `scripts/fetch-opentofu` (none is a skip; one that does not run is an error).
///
/// A second binary of the same product and version is skipped as a duplicate. The clients list
/// Terraform first, newest first, then OpenTofu, newest first: the first entry is the newest
/// Terraform whenever there is one.
pub fn discover(
    override_paths: Option<&str>,
    path_var: Option<&OsStr>,
    cache_dir: &Path,
) -> Result<Discovery, Error> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    if let Some(list) = override_paths.filter(|l| !l.trim().is_empty()) {
        for entry in list.split(':').filter(|e| !e.trim().is_empty()) {
            let terraform =
                Terraform::probe(Path::new(entry.trim())).map_err(|e| Error::Discovery {
                    reason: format!("{PATHS_ENV} lists {entry:?}, which does not work: {e}"),
                    fix: format!("fix or unset {PATHS_ENV}"),
                })?;
            found.push(terraform);
        }
        skipped.push(SkippedClient {
            candidate: "the default clients (`terraform` on PATH, Terraform 1.0.3, OpenTofu)"
                .to_string(),
            reason: format!("{PATHS_ENV} replaces them"),
        });
    } else {
        match find_on_path("terraform", path_var) {
            None => skipped.push(SkippedClient {
                candidate: "`terraform` on PATH".to_string(),
                reason: "there is none; install Terraform ≥ 1.0 on PATH to run on it too"
                    .to_string(),
            }),
            Some(on_path) => {
                let newest = Terraform::probe(&on_path).map_err(|e| Error::Discovery {
                    reason: format!("`{}` does not work: {e}", on_path.display()),
                    fix: format!(
                        "install a working Terraform ≥ 1.0 on PATH, remove it from PATH, or set {PATHS_ENV}"
                    ),
                })?;
                if newest.at_least(1, 0, 0) {
                    found.push(newest);
                } else {
                    skipped.push(SkippedClient {
                        candidate: newest.to_string(),
                        reason: "older than 1.0, the oldest the provider supports".to_string(),
                    });
                }
            }
        }

        found.push(cached_oldest(cache_dir)?);

        let opentofu: Vec<PathBuf> = find_on_path("tofu", path_var)
            .into_iter()
            .chain(cached_opentofu_paths(cache_dir))
            .collect();
        if opentofu.is_empty() {
            skipped.push(SkippedClient {
                candidate: "OpenTofu".to_string(),
                reason: format!(
                    "none is built in {} and there is no `tofu` on PATH; run `{OPENTOFU_FETCH_COMMAND}`",
                    cache_dir.join("opentofu").display()
                ),
            });
        }
        for tofu in opentofu {
            let probed = Terraform::probe(&tofu).map_err(|e| Error::Discovery {
                reason: format!("OpenTofu `{}` does not work: {e}", tofu.display()),
                fix: format!(
                    "delete it and run `{OPENTOFU_FETCH_COMMAND}` again (or remove it from PATH)"
                ),
            })?;
            found.push(probed);
        }
    }
    // Stable: of two binaries with the same product and version, the one found first stays.
    found.sort_by_key(|t| (t.product, std::cmp::Reverse(t.version)));
    let mut clients: Vec<Terraform> = Vec::with_capacity(found.len());
    for terraform in found {
        match clients
            .iter()
            .find(|kept| kept.product == terraform.product && kept.version == terraform.version)
        {
            Some(kept) => skipped.push(SkippedClient {
                candidate: terraform.to_string(),
                reason: format!("the same version as {}", kept.path.display()),
            }),
            None => clients.push(terraform),
        }
    }
    if clients.is_empty() {
        return Err(Error::Discovery {
            reason: "no Terraform found".to_string(),
            fix: format!("set {PATHS_ENV} or run `{FETCH_COMMAND}`"),
        });
    }
    Ok(Discovery { clients, skipped })
}

/// Terraform 1.0.3 from `cache_dir`; an error with the fix if it is missing or not 1.0.3.
fn cached_oldest(cache_dir: &Path) -> Result<Terraform, Error> {
    let (major, minor, patch) = OLDEST_SUPPORTED;
    let cached = cached_terraform_path(cache_dir);
    if !cached.is_file() {
        return Err(Error::Discovery {
            reason: format!(
                "Terraform {major}.{minor}.{patch} is not in the cache ({} is missing)",
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
                "`{}` is version {}, expected {major}.{minor}.{patch}",
                cached.display(),
                oldest.version_string(),
            ),
            fix: format!("delete it and run `{FETCH_COMMAND}` again"),
        });
    }
    Ok(oldest)
}

/// [`discover`] from the environment (`CVM_TF_PATHS`, `PATH`, `CVM_CACHE_DIR`), once per test
/// process. The error says what is missing and how to fix it.
pub fn try_discovery() -> Result<Discovery, Error> {
    static FOUND: OnceLock<Result<Discovery, (String, String)>> = OnceLock::new();
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

/// Every available Terraform and OpenTofu (see [`try_discovery`]).
pub fn try_terraforms() -> Result<Vec<Terraform>, Error> {
    try_discovery().map(|found| found.clients)
}

/// Every available Terraform (newest first), then every available OpenTofu (newest first).
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
