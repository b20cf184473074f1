//! The release archive installs the way users install providers: the zip that
//! `cargo run -p xtask -- release` builds is put in a `filesystem_mirror`, and every available
//! Terraform runs `terraform init` (no `dev_overrides`) and a plan with it. The lock file must
//! record the package's `h1:` hash, which this test computes from the zip itself.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use acceptance_tests::{self as acc, Workdir};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The version released for the test; any valid version works.
const VERSION: &str = "0.1.0";

const CONFIG: &str = r#"
terraform {
  required_providers {
    cvm = {
      source  = "cvm-provider/cvm"
      version = "0.1.0"
    }
  }
}

data "cvm_workspace_image" "dev" {
  base_image = "ubuntu:22.04"
}

output "init_path" {
  value = data.cvm_workspace_image.dev.init_path
}
"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs the release command into `out` and returns the files it printed (zip, manifest, sums).
///
/// It packages the provider binary the other acceptance tests use (`--binary`): the packaging
/// and installation are under test here, and a release build (with LTO, of the AWS SDKs) would
/// add many minutes to every run.
fn release(out: &Path) -> Vec<PathBuf> {
    let binary = acceptance_tests::provider_binary().expect("the provider builds");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(repo())
        .args(["run", "-q", "-p", "xtask", "--", "release", "--version"])
        .arg(VERSION)
        .arg("--out-dir")
        .arg(out)
        .arg("--binary")
        .arg(&binary.path)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo run -p xtask -- release failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

/// Terraform's `h1:` hash of a provider zip: SHA-256 over the lines
/// `<sha256 hex of a file>  <its name>\n`, sorted by name, in base64.
fn h1_of_zip(path: &Path) -> String {
    let file = std::fs::File::open(path).expect("the zip opens");
    let mut archive = zip::ZipArchive::new(file).expect("a zip");
    let mut lines = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("an entry");
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("the entry reads");
        lines.push(format!("{}  {}\n", sha256_hex(&bytes), entry.name()));
    }
    lines.sort();
    let summary = Sha256::digest(lines.concat().as_bytes());
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary)
    )
}

/// The release files are what the registry expects, and the zip holds one executable.
fn check_release_files(files: &[PathBuf]) -> PathBuf {
    let name = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let [zip_path, manifest, sums] = files else {
        panic!("the release command printed {files:?}, expected zip, manifest and SHA256SUMS");
    };
    let zip_name = name(zip_path);
    assert!(
        zip_name.starts_with(&format!("terraform-provider-cvm_{VERSION}_"))
            && zip_name.ends_with(".zip"),
        "{zip_name}"
    );
    assert_eq!(
        name(manifest),
        format!("terraform-provider-cvm_{VERSION}_manifest.json")
    );
    let manifest_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest).expect("manifest")).expect("JSON");
    assert_eq!(
        manifest_json,
        serde_json::json!({"version": 1, "metadata": {"protocol_versions": ["6.0"]}})
    );
    assert_eq!(
        name(sums),
        format!("terraform-provider-cvm_{VERSION}_SHA256SUMS")
    );
    let sums_text = std::fs::read_to_string(sums).expect("SHA256SUMS");
    for file in [zip_path, manifest] {
        let line = format!(
            "{}  {}",
            sha256_hex(&std::fs::read(file).expect("readable")),
            name(file)
        );
        assert!(
            sums_text.lines().any(|l| l == line),
            "{line} not in:\n{sums_text}"
        );
    }

    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(zip_path).expect("zip")).expect("a zip");
    assert_eq!(archive.len(), 1, "the zip holds only the executable");
    let entry = archive.by_index(0).expect("an entry");
    let executable = format!("terraform-provider-cvm_v{VERSION}");
    assert!(
        entry.name() == executable || entry.name() == format!("{executable}.exe"),
        "{}",
        entry.name()
    );
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    zip_path.clone()
}

#[test]
fn release_zip_installs_from_a_filesystem_mirror() {
    let dist = tempfile::tempdir().expect("a temporary directory");
    let files = release(dist.path());
    let zip_path = check_release_files(&files);
    let h1 = h1_of_zip(&zip_path);

    // The packed layout: <mirror>/<hostname>/<namespace>/<type>/<zip as released>, filled per
    // product below (Terraform and OpenTofu have different default registry hosts).
    let mirror = dist.path().join("mirror");
    let mirror_path = mirror.display().to_string().replace('\\', "/");
    let cli_config = format!(
        r#"provider_installation {{
  filesystem_mirror {{
    path    = "{mirror_path}"
    include = ["cvm-provider/cvm"]
  }}
  direct {{
    exclude = ["cvm-provider/cvm"]
  }}
}}
"#
    );

    acc::run(|tf| -> Result<(), acc::Error> {
        // No dev_overrides: the provider comes from the mirror only.
        let wd = Workdir::with_overrides(tf, &[])?;
        wd.set_cli_config(&cli_config)?;
        wd.config(CONFIG)?;
        let address = wd.provider_address();
        let package_dir = mirror.join(&address);
        std::fs::create_dir_all(&package_dir)
            .map_err(|e| acc::Error::Assertion(format!("{}: {e}", package_dir.display())))?;
        let mirrored = package_dir.join(zip_path.file_name().unwrap_or_default());
        std::fs::copy(&zip_path, &mirrored)
            .map_err(|e| acc::Error::Assertion(format!("{}: {e}", mirrored.display())))?;
        wd.terraform_ok(&["init", "-input=false", "-no-color"])?;

        let lock_path = wd.path().join(".terraform.lock.hcl");
        let lock = std::fs::read_to_string(&lock_path)
            .map_err(|e| acc::Error::Assertion(format!("{}: {e}", lock_path.display())))?;
        let recorded = lock.contains(&format!("provider \"{address}\""))
            && lock.contains(&format!("\"{VERSION}\""))
            && lock.contains(&format!("\"{h1}\""));
        if !recorded {
            return Err(acc::Error::Assertion(format!(
                "the lock file does not record {address} {VERSION} with {h1}:\n{lock}"
            )));
        }

        let plan = wd.plan()?;
        let init_path = &plan.json()["planned_values"]["outputs"]["init_path"]["value"];
        if init_path != "/sbin/init" {
            return Err(acc::Error::Assertion(format!(
                "the plan's init_path output is {init_path}, expected \"/sbin/init\""
            )));
        }
        Ok(())
    });
}
