//! Building the provider binary once per test process and exposing it to Terraform through a
//! `dev_overrides` directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::Error;
use crate::process;

/// The provider's source address, as written in the CLI configuration's `dev_overrides`.
pub const PROVIDER_SOURCE: &str = "registry.terraform.io/cvm-provider/cvm";

/// The Cargo package (and binary) name of the provider.
pub const PROVIDER_PACKAGE: &str = "terraform-provider-cvm";

/// Environment variable: use this provider executable instead of running `cargo build`.
pub const PROVIDER_BINARY_ENV: &str = "CVM_PROVIDER_BINARY";

/// Name of the directory, next to the built binary, that holds only the provider executable.
/// A dedicated directory is needed because Terraform picks the first file whose name starts with
/// `terraform-provider-cvm` followed by `.` or `_`, and Cargo's output directory also contains
/// `terraform-provider-cvm.d`.
const OVERRIDES_DIR_NAME: &str = "cvm-dev-overrides";

/// The provider executable and the directory to name in `dev_overrides`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderBinary {
    /// The executable Cargo produced (or `CVM_PROVIDER_BINARY`).
    pub path: PathBuf,
    /// A directory whose only entry is a link (or copy) of the executable named
    /// `terraform-provider-cvm`.
    pub overrides_dir: PathBuf,
}

/// Builds the provider once per test process (`cargo build -p terraform-provider-cvm`, using the
/// `CARGO` and `CARGO_TARGET_DIR` of the environment, like the `cargo test` that runs us) and
/// returns where it is. Later calls return the first answer, including a build failure.
pub fn provider_binary() -> Result<ProviderBinary, Error> {
    static BUILT: OnceLock<Result<ProviderBinary, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| locate_or_build().map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::ProviderBuild)
}

fn locate_or_build() -> Result<ProviderBinary, Error> {
    let path = match std::env::var_os(PROVIDER_BINARY_ENV) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(Error::ProviderBuild(format!(
                    "{PROVIDER_BINARY_ENV}={} is not a file",
                    path.display()
                )));
            }
            path
        }
        _ => cargo_build(PROVIDER_PACKAGE)?,
    };
    let overrides_dir = prepare_overrides_dir(&path)?;
    Ok(ProviderBinary {
        path,
        overrides_dir,
    })
}

/// The workspace root: this crate lives in `<root>/acceptance-tests`.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Runs `cargo build -p <package> --bin <package>` and reads the executable's path from Cargo's
/// JSON messages, so the answer is right whatever target directory Cargo was configured with.
pub(crate) fn cargo_build(package: &str) -> Result<PathBuf, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = workspace_root();
    let mut command = Command::new(&cargo);
    command.args([
        "build",
        "-p",
        package,
        "--bin",
        package,
        "--message-format=json-render-diagnostics",
    ]);
    let description = format!(
        "{} build -p {package} --bin {package}",
        Path::new(&cargo).display()
    );
    // Generous: a cold build on a two-core machine takes minutes.
    let output = process::run(command, &description, &root, Duration::from_secs(30 * 60))?;
    if !output.status.success() {
        return Err(Error::CommandFailed {
            command: description,
            dir: root,
            status: output.status.to_string(),
            // stdout is Cargo's JSON stream; the readable diagnostics are on stderr.
            stdout: String::new(),
            stderr: output.stderr,
        });
    }
    output
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == package)
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| {
            Error::ProviderBuild(format!(
                "`{description}` succeeded but reported no executable; stderr:\n{}",
                output.stderr
            ))
        })
}

/// Creates `<dir of binary>/cvm-dev-overrides/terraform-provider-cvm`, replaced atomically so
/// concurrent test processes never see a half-written file.
fn prepare_overrides_dir(binary: &Path) -> Result<PathBuf, Error> {
    let parent = binary.parent().unwrap_or(Path::new("."));
    let dir = parent.join(OVERRIDES_DIR_NAME);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let target = dir.join(PROVIDER_PACKAGE);
    let staging = dir.join(format!(".staging-{}", std::process::id()));
    let _ = std::fs::remove_file(&staging);
    if std::fs::hard_link(binary, &staging).is_err() {
        std::fs::copy(binary, &staging).map_err(|e| {
            Error::io(
                format!("copying {} to {}", binary.display(), staging.display()),
                e,
            )
        })?;
    }
    std::fs::rename(&staging, &target).map_err(|e| {
        Error::io(
            format!("renaming {} to {}", staging.display(), target.display()),
            e,
        )
    })?;
    Ok(dir)
}

/// A configuration's head: `required_providers` with the provider's source, and a
/// `provider "cvm"` block holding `blocks` (e.g. an `aws { ... }` or `kubernetes { ... }` block).
pub fn provider_config(blocks: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    cvm = {{ source = "cvm-provider/cvm" }}
  }}
}}

provider "cvm" {{
{blocks}
}}
"#
    )
}
