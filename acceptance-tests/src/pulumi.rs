//! Driving the provider through Pulumi: the real `pulumi` CLI, the YAML language host and
//! pulumi-terraform-bridge's "Any Terraform Provider" plugin, as `scripts/fetch-pulumi` builds
//! them, on a project of the test's own.
//!
//! Each [`PulumiProject`] is hermetic: its own `PULUMI_HOME`, a `file://` backend in its
//! directory, a fixed passphrase for secrets, no update check, no plugin downloads and no
//! plugins taken from `PATH`. The provider is added the way a user adds it,
//! `pulumi package add terraform-provider <the built binary>`. Every command runs through
//! [`crate::process::run`], so a provider process outliving a Pulumi command fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::error::Error;
use crate::process::{self, CommandOutput};
use crate::provider::provider_binary;

/// The version the terraform-provider plugin is stamped and installed under
/// (`plugin_version` in `scripts/fetch-pulumi`).
const PLUGIN_VERSION: &str = "v1.1.0";

/// The passphrase that encrypts the test stacks' secrets.
const PASSPHRASE: &str = "cvm-acceptance-tests";

/// The name of every test project.
const PROJECT_NAME: &str = "cvm-acceptance";

/// How long one Pulumi command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// The directory holding `pulumi`, `pulumi-language-yaml` and
/// `pulumi-resource-terraform-provider`, as `scripts/fetch-pulumi paths` names it.
pub fn pulumi_bin_dir() -> Result<PathBuf, Error> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/fetch-pulumi");
    let output = Command::new(&script)
        .arg("paths")
        .output()
        .map_err(|e| Error::io(format!("running {} paths", script.display()), e))?;
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if !output.status.success() || !dir.join("pulumi").is_file() {
        return Err(Error::Discovery {
            reason: format!("Pulumi is not built ({} has no pulumi)", dir.display()),
            fix: "scripts/fetch-pulumi (scripts/test runs it)".to_owned(),
        });
    }
    Ok(dir)
}

/// A Pulumi YAML project with the provider added as the package `cvm`, and one stack.
#[derive(Debug)]
pub struct PulumiProject {
    root: tempfile::TempDir,
    bin: PathBuf,
    /// The `packages:` section `pulumi package add` wrote, kept in every program.
    packages: String,
    env: Vec<(String, String)>,
}

impl PulumiProject {
    /// Logs in to a fresh `file://` backend, installs the plugin, adds the provider and
    /// creates the stack `test`.
    pub fn new() -> Result<Self, Error> {
        let bin = pulumi_bin_dir()?;
        let root = tempfile::Builder::new()
            .prefix("cvm-pulumi-")
            .tempdir()
            .map_err(|e| Error::io("creating a Pulumi project directory", e))?;
        for dir in ["home", "state", "project"] {
            std::fs::create_dir(root.path().join(dir))
                .map_err(|e| Error::io(format!("creating {dir}"), e))?;
        }
        let mut project = Self {
            root,
            bin,
            packages: String::new(),
            env: Vec::new(),
        };
        project.write_program("")?;
        let state = format!("file://{}", project.root.path().join("state").display());
        project.ok(&["login", &state])?;
        let plugin = project.bin.join("pulumi-resource-terraform-provider");
        project.ok(&[
            "plugin",
            "install",
            "resource",
            "terraform-provider",
            PLUGIN_VERSION,
            "--file",
            &plugin.to_string_lossy(),
        ])?;
        let provider = provider_binary()?;
        project.ok(&[
            "package",
            "add",
            "terraform-provider",
            &provider.path.to_string_lossy(),
        ])?;
        let written = std::fs::read_to_string(project.dir().join("Pulumi.yaml"))
            .map_err(|e| Error::io("reading Pulumi.yaml", e))?;
        let start = written.find("packages:").ok_or_else(|| {
            Error::Assertion(format!(
                "`pulumi package add` recorded no package:\n{written}"
            ))
        })?;
        project.packages = written[start..].to_owned();
        project.ok(&["stack", "init", "test"])?;
        Ok(project)
    }

    /// The project directory (where `Pulumi.yaml` is).
    pub fn dir(&self) -> PathBuf {
        self.root.path().join("project")
    }

    /// The `packages:` section `pulumi package add` recorded.
    pub fn packages(&self) -> &str {
        &self.packages
    }

    /// Sets an environment variable for every later command (e.g. `CODER_SESSION_TOKEN`).
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Writes `Pulumi.yaml`: the project header, the recorded package and `body` (YAML:
    /// `resources:`, `variables:`, `outputs:` …).
    pub fn write_program(&self, body: &str) -> Result<(), Error> {
        let text = format!(
            "name: {PROJECT_NAME}\nruntime: yaml\n{}\n{body}\n",
            self.packages
        );
        std::fs::write(self.dir().join("Pulumi.yaml"), text)
            .map_err(|e| Error::io("writing Pulumi.yaml", e))
    }

    /// Writes `text` as `Pulumi.yaml`, its `packages:` section replaced by the one recorded
    /// here (an example names the provider binary by a path of its own) and its `name:` by this
    /// project's (which the stack belongs to).
    pub fn write_project(&self, text: &str) -> Result<(), Error> {
        let mut out = String::new();
        let mut in_packages = false;
        for line in text.lines() {
            if line.starts_with("name:") {
                out.push_str(&format!("name: {PROJECT_NAME}\n"));
                continue;
            }
            if line.starts_with("packages:") {
                in_packages = true;
                out.push_str(self.packages.trim_end());
                out.push('\n');
                continue;
            }
            if in_packages && (line.starts_with(' ') || line.is_empty()) {
                continue;
            }
            in_packages = false;
            out.push_str(line);
            out.push('\n');
        }
        std::fs::write(self.dir().join("Pulumi.yaml"), out)
            .map_err(|e| Error::io("writing Pulumi.yaml", e))
    }

    /// The stack's state file as stored by the `file://` backend, for checks of what is
    /// kept in plain text.
    pub fn stored_state_text(&self) -> Result<String, Error> {
        let mut text = String::new();
        let mut dirs = vec![self.root.path().join("state")];
        while let Some(dir) = dirs.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|ext| ext == "json") {
                    text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
                }
            }
        }
        Ok(text)
    }

    /// Runs `pulumi <args>` in the project and returns its output, whatever its exit status.
    pub fn pulumi(&self, args: &[&str]) -> Result<CommandOutput, Error> {
        let home = self.root.path().join("home");
        let mut command = Command::new(self.bin.join("pulumi"));
        command
            .args(args)
            .env("PULUMI_HOME", &home)
            .env("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
            .env("PULUMI_SKIP_UPDATE_CHECK", "true")
            .env("PULUMI_IGNORE_AMBIENT_PLUGINS", "true")
            .env("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
            .env("PULUMI_SKIP_CONFIRMATIONS", "true")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TF_") {
                command.env_remove(key);
            }
        }
        let description = format!("pulumi {}", args.join(" "));
        let result = process::run(command, &description, &self.dir(), COMMAND_TIMEOUT);
        let outcome = match &result {
            Ok(output) if output.status.success() => format!("ok in {:.1?}", output.elapsed),
            Ok(output) => format!("failed ({}) in {:.1?}", output.status, output.elapsed),
            Err(e) => format!("error: {}", e.to_string().lines().next().unwrap_or("")),
        };
        eprintln!("[acc pulumi] {description}: {outcome}");
        result
    }

    /// Runs `pulumi <args>`; a non-zero exit is an error carrying all output.
    pub fn ok(&self, args: &[&str]) -> Result<CommandOutput, Error> {
        let output = self.pulumi(args)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(Error::CommandFailed {
                command: format!("pulumi {}", args.join(" ")),
                dir: self.dir(),
                status: output.status.to_string(),
                stdout: output.stdout,
                stderr: output.stderr,
            })
        }
    }

    /// `pulumi up --yes`.
    pub fn up(&self) -> Result<CommandOutput, Error> {
        self.ok(&["up", "--yes", "--skip-preview"])
    }

    /// The stack's outputs, secrets shown.
    pub fn outputs(&self) -> Result<Value, Error> {
        let output = self.ok(&["stack", "output", "--json", "--show-secrets"])?;
        parse_json(&output.stdout, "pulumi stack output --json")
    }

    /// The stack's state (`pulumi stack export`, secrets shown).
    pub fn state(&self) -> Result<Value, Error> {
        let output = self.ok(&["stack", "export", "--show-secrets"])?;
        parse_json(&output.stdout, "pulumi stack export")
    }

    /// The schema Pulumi derives from the provider (`pulumi package get-schema`).
    pub fn schema(&self) -> Result<Value, Error> {
        let provider = provider_binary()?;
        let output = self.ok(&[
            "package",
            "get-schema",
            "terraform-provider",
            &provider.path.to_string_lossy(),
        ])?;
        parse_json(&output.stdout, "pulumi package get-schema")
    }
}

/// `text` parsed as JSON, or an error naming `context`.
fn parse_json(text: &str, context: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|source| Error::Json {
        context: context.to_owned(),
        source,
        text: text.chars().take(4000).collect(),
    })
}
