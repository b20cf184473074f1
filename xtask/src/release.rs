//! The release files the Terraform registry (and a `filesystem_mirror`)
//! expects: `terraform-provider-cvm_<version>_<os>_<arch>.zip` holding the
//! executable `terraform-provider-cvm_v<version>`, the registry manifest
//! naming protocol 6.0, and `SHA256SUMS` over both.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// The Cargo package and binary name of the provider, and the prefix of
/// every release file.
const PROVIDER: &str = "terraform-provider-cvm";

/// The registry manifest: the provider speaks plugin protocol 6.0 only.
const MANIFEST: &str = r#"{"version":1,"metadata":{"protocol_versions":["6.0"]}}"#;

/// What to release.
#[derive(Debug, Clone)]
pub struct Options {
    /// The version, `MAJOR.MINOR.PATCH` with an optional pre-release, no `v`.
    pub version: String,
    /// Where the files are written (created if missing).
    pub out_dir: PathBuf,
    /// The Cargo target directory for the build; Cargo's own choice if unset.
    pub target_dir: Option<PathBuf>,
    /// An already-built executable to package instead of building one.
    pub binary: Option<PathBuf>,
}

/// Why a release could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The version is not one Terraform accepts.
    #[error("version {0:?} is not a semantic version such as 1.2.3 or 1.2.3-rc.1")]
    Version(String),
    /// The host is a platform Terraform has no name for.
    #[error("no Terraform platform name for this host ({0})")]
    Platform(String),
    /// Reading or writing a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// Writing the zip failed.
    #[error("writing {path}: {source}")]
    Zip {
        /// The archive.
        path: String,
        /// The error.
        source: zip::result::ZipError,
    },
    /// `cargo build` failed or named no executable.
    #[error("{0}")]
    Build(String),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ReleaseError {
    let what = what.into();
    move |source| ReleaseError::Io { what, source }
}

/// Builds (unless [`Options::binary`] is given) and writes the zip, the
/// manifest and `SHA256SUMS` into [`Options::out_dir`]; returns their paths.
pub fn run(repo: &Path, options: &Options) -> Result<Vec<PathBuf>, ReleaseError> {
    let version = options
        .version
        .strip_prefix('v')
        .unwrap_or(&options.version);
    if !is_semver(version) {
        return Err(ReleaseError::Version(options.version.clone()));
    }
    let (os, arch) = host_platform()?;
    let binary = match &options.binary {
        Some(path) => path.clone(),
        None => cargo_build_release(repo, options.target_dir.as_deref())?,
    };
    let executable = std::fs::read(&binary).map_err(io_error(format!(
        "reading the provider {}",
        binary.display()
    )))?;

    std::fs::create_dir_all(&options.out_dir)
        .map_err(io_error(format!("creating {}", options.out_dir.display())))?;
    let exe_suffix = if os == "windows" { ".exe" } else { "" };
    let zip_name = format!("{PROVIDER}_{version}_{os}_{arch}.zip");
    let zip_path = options.out_dir.join(&zip_name);
    write_zip(
        &zip_path,
        &format!("{PROVIDER}_v{version}{exe_suffix}"),
        &executable,
    )?;

    let manifest_name = format!("{PROVIDER}_{version}_manifest.json");
    let manifest_path = options.out_dir.join(&manifest_name);
    std::fs::write(&manifest_path, format!("{MANIFEST}\n"))
        .map_err(io_error(format!("writing {}", manifest_path.display())))?;

    let sums_path = options
        .out_dir
        .join(format!("{PROVIDER}_{version}_SHA256SUMS"));
    let mut sums = String::new();
    let mut listed = [(&zip_name, &zip_path), (&manifest_name, &manifest_path)];
    listed.sort();
    for (name, path) in listed {
        let bytes = std::fs::read(path).map_err(io_error(format!("reading {}", path.display())))?;
        sums.push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
    }
    std::fs::write(&sums_path, sums)
        .map_err(io_error(format!("writing {}", sums_path.display())))?;
    Ok(vec![zip_path, manifest_path, sums_path])
}

/// Lower-case hex SHA-256, as `sha256sum` prints it.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `version` is `MAJOR.MINOR.PATCH[-PRE][+BUILD]` as Terraform
/// parses provider versions.
fn is_semver(version: &str) -> bool {
    let (core, _build) = version.split_once('+').unwrap_or((version, ""));
    let (core, pre) = match core.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (core, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let identifier =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        && pre.is_none_or(|p| p.split('.').all(identifier))
        && version
            .split_once('+')
            .is_none_or(|(_, b)| b.split('.').all(identifier))
}

/// The host as Terraform names platforms (Go's `GOOS` and `GOARCH`).
fn host_platform() -> Result<(&'static str, &'static str), ReleaseError> {
    let os = match std::env::consts::OS {
        "linux" => "linux",
        "macos" => "darwin",
        "windows" => "windows",
        "freebsd" => "freebsd",
        "openbsd" => "openbsd",
        other => return Err(ReleaseError::Platform(format!("os {other}"))),
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => return Err(ReleaseError::Platform(format!("arch {other}"))),
    };
    Ok((os, arch))
}

/// `cargo build --release` of the provider; returns the executable's path
/// as Cargo reports it (right whatever target directory is configured).
fn cargo_build_release(repo: &Path, target_dir: Option<&Path>) -> Result<PathBuf, ReleaseError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command.current_dir(repo).args([
        "build",
        "--release",
        "-p",
        PROVIDER,
        "--bin",
        PROVIDER,
        "--message-format=json-render-diagnostics",
    ]);
    if let Some(dir) = target_dir {
        command.arg("--target-dir").arg(dir);
    }
    eprintln!("release: cargo build --release -p {PROVIDER} (minutes when not cached)");
    // Cargo's human output (progress, diagnostics) goes to our stderr.
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(io_error("running cargo build --release"))?;
    if !output.status.success() {
        return Err(ReleaseError::Build(format!(
            "cargo build --release -p {PROVIDER} failed ({})",
            output.status
        )));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == PROVIDER)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| {
            ReleaseError::Build(format!(
                "cargo build --release -p {PROVIDER} reported no executable"
            ))
        })
}

/// Writes a zip holding one executable `name`. The timestamp is fixed so
/// the same executable always gives the same archive (and checksum).
fn write_zip(path: &Path, name: &str, executable: &[u8]) -> Result<(), ReleaseError> {
    let zip_error = |source| ReleaseError::Zip {
        path: path.display().to_string(),
        source,
    };
    let file = File::create(path).map_err(io_error(format!("creating {}", path.display())))?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o755);
    zip.start_file(name, options).map_err(zip_error)?;
    zip.write_all(executable)
        .map_err(io_error(format!("writing {}", path.display())))?;
    let mut inner = zip.finish().map_err(zip_error)?;
    inner
        .flush()
        .map_err(io_error(format!("writing {}", path.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_versions_are_checked() {
        for good in ["0.1.0", "1.2.3-rc.1", "10.0.0+build.5", "1.0.0-alpha-1"] {
            assert!(is_semver(good), "{good}");
        }
        for bad in [
            "",
            "1.2",
            "1.2.x",
            "1.2.3-",
            "1.2.3-a..b",
            "v1.2.3",
            "1.2.3.4",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn writes_zip_manifest_and_sums() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let binary = dir.join("provider");
        std::fs::write(&binary, b"#!/bin/sh\n").unwrap();
        let files = run(
            &dir,
            &Options {
                version: "v1.2.3".into(),
                out_dir: dir.join("dist"),
                target_dir: None,
                binary: Some(binary),
            },
        )
        .unwrap();
        let (os, arch) = host_platform().unwrap();
        assert!(files[0].ends_with(format!("{PROVIDER}_1.2.3_{os}_{arch}.zip")));
        let manifest = std::fs::read_to_string(&files[1]).unwrap();
        assert_eq!(manifest.trim_end(), MANIFEST);
        let sums = std::fs::read_to_string(&files[2]).unwrap();
        let zip_bytes = std::fs::read(&files[0]).unwrap();
        assert!(sums.contains(&format!(
            "{}  {PROVIDER}_1.2.3_{os}_{arch}.zip\n",
            sha256_hex(&zip_bytes)
        )));
        assert_eq!(sums.lines().count(), 2);
    }
}
