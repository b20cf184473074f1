//! A temporary Terraform working directory wired to the provider under test.
//!
//! Each test case gets its own [`Workdir`] per Terraform version: its own configuration, state,
//! CLI configuration (with `dev_overrides` pointing at the freshly built provider), environment
//! and optional log file. `terraform init` is never run: Terraform 1.0.3 fails `init` when
//! `dev_overrides` are in effect, and `plan`/`apply` work without it.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::diagnostics::{collapse_whitespace, strip_diagnostic_decoration};
use crate::error::Error;
use crate::json::{Plan, State, flatten};
use crate::process::{self, CommandOutput};
use crate::provider::{PROVIDER_SOURCE, provider_binary};
use crate::terraform::{Product, Terraform};

/// Default time one Terraform command may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Environment variable: overrides [`DEFAULT_TIMEOUT`], in seconds.
pub const TIMEOUT_ENV: &str = "CVM_TF_TIMEOUT_SECS";

/// Environment variable: when set to a non-empty value other than `0`, working directories are
/// kept (not deleted) so they can be inspected after a test.
pub const KEEP_ENV: &str = "CVM_KEEP_WORKDIRS";

/// Environment variable: a `TF_LOG` level (`TRACE`, `DEBUG`, …) captured into every working
/// directory's `terraform.log`, for debugging without changing the test.
pub const LOG_ENV: &str = "CVM_TF_LOG";

/// File names inside a working directory.
const CLI_CONFIG_FILE: &str = "cli-config.tfrc";
const LOG_FILE: &str = "terraform.log";
const MAIN_FILE: &str = "main.tf";
const STATE_FILE: &str = "terraform.tfstate";

/// Attributes never compared by [`Workdir::import_and_compare`]: they are not read back by
/// import (Terraform's own test framework skips them too).
const ALWAYS_IGNORED_ON_IMPORT: &[&str] = &["timeouts"];

/// A Terraform command that [`Workdir::expect_error`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `terraform validate`.
    Validate,
    /// `terraform plan`.
    Plan,
    /// `terraform apply -auto-approve`.
    Apply,
    /// `terraform destroy -auto-approve`.
    Destroy,
}

impl Action {
    fn args(self) -> &'static [&'static str] {
        match self {
            Action::Validate => &["validate", "-no-color"],
            Action::Plan => &["plan", "-input=false", "-no-color"],
            Action::Apply => &["apply", "-auto-approve", "-input=false", "-no-color"],
            Action::Destroy => &["destroy", "-auto-approve", "-input=false", "-no-color"],
        }
    }
}

/// One temporary Terraform working directory for one Terraform version.
///
/// On drop, if the state still holds managed resources, `terraform destroy` is attempted (errors
/// are printed and otherwise ignored) so failing tests leave nothing behind; then the directory
/// is deleted unless `CVM_KEEP_WORKDIRS` is set.
#[derive(Debug)]
pub struct Workdir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    terraform: Terraform,
    overrides: Vec<(String, PathBuf)>,
    env: BTreeMap<String, String>,
    timeout: Duration,
    destroy_on_drop: bool,
    plans: Cell<u32>,
}

impl Workdir {
    /// A working directory for `terraform` with the provider under test installed through
    /// `dev_overrides` (building it first if this is the first use in the test process).
    pub fn new(terraform: &Terraform) -> Result<Workdir, Error> {
        let provider = provider_binary()?;
        Workdir::with_overrides(terraform, &[(PROVIDER_SOURCE, &provider.overrides_dir)])
    }

    /// A working directory with explicit `dev_overrides` (`source address → directory`); with
    /// none, only Terraform's built-in providers are available. [`Workdir::new`] is the usual
    /// constructor.
    pub fn with_overrides(
        terraform: &Terraform,
        overrides: &[(&str, &Path)],
    ) -> Result<Workdir, Error> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("cvm-acc-{}-", terraform.tag()))
            .tempdir()
            .map_err(|e| Error::io("creating a temporary working directory", e))?;
        let path = dir.path().to_path_buf();
        let timeout = std::env::var(TIMEOUT_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TIMEOUT);
        let mut workdir = Workdir {
            dir: Some(dir),
            path,
            terraform: terraform.clone(),
            overrides: overrides
                .iter()
                .map(|(source, dir)| (source.to_string(), dir.to_path_buf()))
                .collect(),
            env: BTreeMap::new(),
            timeout,
            destroy_on_drop: true,
            plans: Cell::new(0),
        };
        workdir.write_file(
            CLI_CONFIG_FILE,
            &cli_config(&workdir.overrides, terraform.product),
        )?;
        if let Ok(level) = std::env::var(LOG_ENV)
            && !level.trim().is_empty()
        {
            workdir.capture_log(level.trim());
        }
        Ok(workdir)
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Terraform this directory runs.
    pub fn terraform(&self) -> &Terraform {
        &self.terraform
    }

    /// The full address of the provider under test as this directory's Terraform names it in
    /// `providers schema -json`, state and plans when the configuration says
    /// `source = "cvm-provider/cvm"`: `registry.terraform.io/cvm-provider/cvm` on Terraform,
    /// `registry.opentofu.org/cvm-provider/cvm` on OpenTofu.
    pub fn provider_address(&self) -> String {
        let host = Product::Terraform.default_registry_host();
        let namespace_and_type = PROVIDER_SOURCE
            .strip_prefix(&format!("{host}/"))
            .unwrap_or(PROVIDER_SOURCE);
        self.terraform.provider_address(namespace_and_type)
    }

    /// Sets an environment variable for every later Terraform command (and so for the provider
    /// it starts), e.g. `CODER_URL`.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets the timeout of each later Terraform command.
    pub fn set_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Captures Terraform's and the provider's log at `level` (`TF_LOG`) into this directory;
    /// read it with [`Workdir::log`].
    pub fn capture_log(&mut self, level: &str) -> &mut Self {
        let log = self.path.join(LOG_FILE).display().to_string();
        self.env("TF_LOG", level).env("TF_LOG_PATH", &log)
    }

    /// Captures only the provider's log at `level` (`TF_LOG_PROVIDER`) into this directory.
    pub fn capture_provider_log(&mut self, level: &str) -> &mut Self {
        let log = self.path.join(LOG_FILE).display().to_string();
        self.env("TF_LOG_PROVIDER", level).env("TF_LOG_PATH", &log)
    }

    /// Do not try to destroy what the state holds when this value is dropped.
    pub fn keep_resources_on_drop(&mut self) -> &mut Self {
        self.destroy_on_drop = false;
        self
    }

    /// Replaces the CLI configuration (the file `TF_CLI_CONFIG_FILE` names) with `text`, e.g. a
    /// `provider_installation` block with a `filesystem_mirror` instead of `dev_overrides`, to
    /// install the provider as users do. Use with [`Workdir::with_overrides`] and no overrides.
    pub fn set_cli_config(&self, text: &str) -> Result<PathBuf, Error> {
        self.write_file(CLI_CONFIG_FILE, text)
    }

    /// Writes `hcl` as the configuration (`main.tf`), replacing the previous one.
    pub fn config(&self, hcl: &str) -> Result<(), Error> {
        self.write_file(MAIN_FILE, hcl).map(|_| ())
    }

    /// Writes an extra file into the directory (another `.tf` file, a `.tfvars`, a fixture) and
    /// returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> Result<PathBuf, Error> {
        let path = self.path.join(name);
        std::fs::write(&path, contents)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        Ok(path)
    }

    /// `terraform <args>` with the environment every command here gets.
    fn terraform_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.terraform.path);
        command.args(args);
        // Inherited TF_* settings (a developer's TF_LOG, TF_PLUGIN_CACHE_DIR, TF_CLI_ARGS…)
        // would make runs differ between machines; only what the test sets is passed.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TF_") {
                command.env_remove(key);
            }
        }
        command
            .env("TF_CLI_CONFIG_FILE", self.path.join(CLI_CONFIG_FILE))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .envs(&self.env);
        command
    }

    /// Starts `terraform <args>` here without waiting for it, for tests of what happens while
    /// it runs (the caller waits for or kills the child). Its stdout and stderr go to the files
    /// `spawned.stdout` and `spawned.stderr` here.
    pub fn spawn_terraform(&self, args: &[&str]) -> Result<std::process::Child, Error> {
        let description = format!("terraform {}", args.join(" "));
        let output = |name: &str| {
            let path = self.path.join(name);
            std::fs::File::create(&path)
                .map_err(|e| Error::io(format!("creating {}", path.display()), e))
        };
        self.terraform_command(args)
            .current_dir(&self.path)
            .stdin(std::process::Stdio::null())
            .stdout(output("spawned.stdout")?)
            .stderr(output("spawned.stderr")?)
            .spawn()
            .map_err(|e| Error::io(format!("starting `{description}`"), e))
    }

    /// Runs `terraform <args>` here and returns its output whether or not it succeeded.
    pub fn terraform_raw(&self, args: &[&str]) -> Result<CommandOutput, Error> {
        let command = self.terraform_command(args);
        let description = format!("terraform {}", args.join(" "));
        let result = process::run(command, &description, &self.path, self.timeout);
        let outcome = match &result {
            Ok(output) if output.status.success() => format!("ok in {:.1?}", output.elapsed),
            Ok(output) => format!("failed ({}) in {:.1?}", output.status, output.elapsed),
            Err(e) => format!("error: {}", first_line(&e.to_string())),
        };
        // Visible with `--nocapture` or when the test fails.
        eprintln!("[acc {}] {description}: {outcome}", self.terraform.tag());
        result
    }

    /// Runs `terraform <args>` here; a non-zero exit is an error carrying all output.
    pub fn terraform_ok(&self, args: &[&str]) -> Result<CommandOutput, Error> {
        let output = self.terraform_raw(args)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(self.failed(args, output))
        }
    }

    fn failed(&self, args: &[&str], output: CommandOutput) -> Error {
        Error::CommandFailed {
            command: format!("terraform {} [{}]", args.join(" "), self.terraform.label()),
            dir: self.path.clone(),
            status: output.status.to_string(),
            stdout: output.stdout,
            stderr: output.stderr,
        }
    }

    /// `terraform apply -auto-approve`.
    pub fn apply(&self) -> Result<CommandOutput, Error> {
        self.terraform_ok(Action::Apply.args())
    }

    /// `terraform apply -refresh-only -auto-approve`: updates the state from the real objects.
    pub fn refresh(&self) -> Result<CommandOutput, Error> {
        self.terraform_ok(&[
            "apply",
            "-refresh-only",
            "-auto-approve",
            "-input=false",
            "-no-color",
        ])
    }

    /// `terraform destroy -auto-approve`.
    pub fn destroy(&self) -> Result<CommandOutput, Error> {
        self.terraform_ok(Action::Destroy.args())
    }

    /// Plans into a new plan file and returns the file's name.
    fn plan_file(&self) -> Result<String, Error> {
        let n = self.plans.get() + 1;
        self.plans.set(n);
        let file = format!("tfplan-{n}");
        let out = format!("-out={file}");
        self.terraform_ok(&["plan", "-input=false", "-no-color", &out])?;
        Ok(file)
    }

    /// `terraform plan -out=…` then `terraform show -json …`: the plan as JSON.
    pub fn plan(&self) -> Result<Plan, Error> {
        let file = self.plan_file()?;
        let shown = self.terraform_ok(&["show", "-json", &file])?;
        Plan::from_json(&shown.stdout)
    }

    /// Plans (with refresh) and fails unless every resource and output change is a no-op. The
    /// error lists the changes and Terraform's human-readable plan.
    pub fn assert_plan_empty(&self) -> Result<(), Error> {
        let file = self.plan_file()?;
        let shown = self.terraform_ok(&["show", "-json", &file])?;
        let plan = Plan::from_json(&shown.stdout)?;
        let pending = plan.pending_changes();
        if pending.is_empty() {
            return Ok(());
        }
        let mut message = format!(
            "expected an empty plan after apply on {}, but it has {} change(s):\n",
            self.terraform.label(),
            pending.len()
        );
        for change in &pending {
            let _ = writeln!(
                message,
                "  {}: {}",
                change.address,
                change.actions.join(", ")
            );
        }
        if let Ok(human) = self.terraform_raw(&["show", "-no-color", &file]) {
            let _ = write!(message, "--- plan ---\n{}", human.stdout);
        }
        Err(Error::Assertion(message))
    }

    /// `terraform show -json`: the current state.
    pub fn show(&self) -> Result<State, Error> {
        let shown = self.terraform_ok(&["show", "-json"])?;
        State::from_json(&shown.stdout)
    }

    /// `terraform import <address> <id>`; the configuration must declare the resource.
    pub fn import(&self, address: &str, id: &str) -> Result<CommandOutput, Error> {
        self.terraform_ok(&["import", "-input=false", "-no-color", address, id])
    }

    /// Imports `address` by `id` into a fresh state (a second working directory with the same
    /// configuration and environment) and compares its attributes with this directory's state.
    /// Attributes named in `ignore` (and everything below them, e.g. `"spec"` covers
    /// `"spec.replicas"`) and `timeouts` are not compared.
    pub fn import_and_compare(
        &self,
        address: &str,
        id: &str,
        ignore: &[&str],
    ) -> Result<(), Error> {
        let overrides: Vec<(&str, &Path)> = self
            .overrides
            .iter()
            .map(|(source, dir)| (source.as_str(), dir.as_path()))
            .collect();
        let mut other = Workdir::with_overrides(&self.terraform, &overrides)?;
        // The imported object is the one this directory manages; destroying it twice would be
        // wrong, so the second directory never destroys.
        other.keep_resources_on_drop();
        other.timeout = self.timeout;
        for (key, value) in &self.env {
            // The log goes to the other directory's own file.
            if key != "TF_LOG_PATH" {
                other.env(key, value);
            }
        }
        if self.env.contains_key("TF_LOG_PATH") {
            let log = other.path.join(LOG_FILE).display().to_string();
            other.env("TF_LOG_PATH", &log);
        }
        self.copy_configuration_to(&other)?;

        other.import(address, id)?;
        let imported_state = other.show()?;
        let applied_state = self.show()?;
        let applied = flatten(applied_state.resource(address)?.values());
        let imported = flatten(imported_state.resource(address)?.values());

        let ignored = |key: &str| {
            ignore
                .iter()
                .chain(ALWAYS_IGNORED_ON_IMPORT)
                .any(|prefix| key == *prefix || key.starts_with(&format!("{prefix}.")))
        };
        let mut keys: Vec<&String> = applied.keys().chain(imported.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut differences = String::new();
        for key in keys.into_iter().filter(|k| !ignored(k)) {
            let (a, b) = (applied.get(key), imported.get(key));
            if a != b {
                let _ = writeln!(
                    differences,
                    "  {key}: applied = {}, imported = {}",
                    show_value(a),
                    show_value(b)
                );
            }
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(Error::Assertion(format!(
                "importing {address} by id {id:?} on {} gave different attributes \
                 (ignoring {ignore:?} and timeouts):\n{differences}",
                self.terraform.label()
            )))
        }
    }

    fn copy_configuration_to(&self, other: &Workdir) -> Result<(), Error> {
        let entries = std::fs::read_dir(&self.path)
            .map_err(|e| Error::io(format!("listing {}", self.path.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::io(format!("listing {}", self.path.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_config = [".tf", ".tf.json", ".tfvars", ".tfvars.json"]
                .iter()
                .any(|suffix| name.ends_with(suffix));
            if is_config && entry.path().is_file() {
                let target = other.path.join(&name);
                std::fs::copy(entry.path(), &target)
                    .map_err(|e| Error::io(format!("copying {name} to {}", target.display()), e))?;
            }
        }
        Ok(())
    }

    /// Runs `action`, requires it to fail, and requires its stderr to match `pattern` (a regular
    /// expression). The stderr is matched after removing colours and the `│` diagnostic box, both
    /// as is (line by line) and with all whitespace collapsed to single spaces, so a message that
    /// Terraform wrapped over several lines still matches. Returns the cleaned stderr.
    pub fn expect_error(&self, action: Action, pattern: &str) -> Result<String, Error> {
        let regex = regex::Regex::new(pattern).map_err(|source| Error::Regex {
            pattern: pattern.to_string(),
            source,
        })?;
        let args = action.args();
        let output = self.terraform_raw(args)?;
        let command = format!("terraform {} [{}]", args.join(" "), self.terraform.label());
        if output.status.success() {
            return Err(Error::Assertion(format!(
                "expected `{command}` to fail with an error matching /{pattern}/, but it succeeded\n\
                 --- stdout ---\n{}\n--- stderr ---\n{}",
                output.stdout, output.stderr
            )));
        }
        let cleaned = strip_diagnostic_decoration(&output.stderr);
        if regex.is_match(&cleaned) || regex.is_match(&collapse_whitespace(&cleaned)) {
            return Ok(cleaned);
        }
        Err(Error::Assertion(format!(
            "`{command}` failed as expected, but its stderr does not match /{pattern}/\n\
             --- stderr (cleaned) ---\n{cleaned}\n--- stdout ---\n{}",
            output.stdout
        )))
    }

    /// The log captured so far (see [`Workdir::capture_log`]); empty if nothing was logged.
    pub fn log(&self) -> Result<String, Error> {
        let path = self.path.join(LOG_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// `terraform providers schema -json` for the current configuration.
    pub fn schema_json(&self) -> Result<Value, Error> {
        let output = self.terraform_ok(&["providers", "schema", "-json"])?;
        serde_json::from_str(&output.stdout)
            .map_err(|e| Error::json("`terraform providers schema -json`", e, &output.stdout))
    }

    /// Whether the local state file lists a managed resource with at least one instance. Read
    /// directly (no Terraform process) because it runs on drop.
    fn state_has_managed_resources(&self) -> bool {
        let Ok(text) = std::fs::read_to_string(self.path.join(STATE_FILE)) else {
            return false;
        };
        let Ok(state) = serde_json::from_str::<Value>(&text) else {
            // Unreadable state: try to destroy anyway, better safe.
            return true;
        };
        state
            .get("resources")
            .and_then(Value::as_array)
            .is_some_and(|resources| {
                resources.iter().any(|r| {
                    r.get("mode").and_then(Value::as_str) == Some("managed")
                        && r.get("instances")
                            .and_then(Value::as_array)
                            .is_some_and(|i| !i.is_empty())
                })
            })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if self.destroy_on_drop && self.state_has_managed_resources() {
            eprintln!(
                "[acc {}] cleaning up: destroying what {} still manages",
                self.terraform.tag(),
                self.path.display()
            );
            if let Err(e) = self.destroy() {
                eprintln!("[acc] cleanup destroy failed (ignored): {e}");
            }
        }
        let keep = std::env::var(KEEP_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
        if let Some(dir) = self.dir.take()
            && keep
        {
            eprintln!("[acc] keeping working directory {}", dir.keep().display());
        }
    }
}

/// The CLI configuration: `dev_overrides` for the given providers, everything else installed
/// directly, and no plugin cache.
///
/// OpenTofu resolves a source without a host (`cvm-provider/cvm`) to `registry.opentofu.org`,
/// so for OpenTofu every override on `registry.terraform.io` is also written for the same
/// provider on `registry.opentofu.org`; configurations then work unchanged on both.
fn cli_config(overrides: &[(String, PathBuf)], product: Product) -> String {
    let terraform_host = Product::Terraform.default_registry_host();
    let mut entries: Vec<(String, &PathBuf)> = Vec::new();
    for (source, dir) in overrides {
        entries.push((source.clone(), dir));
        if product == Product::OpenTofu
            && let Some(rest) = source.strip_prefix(&format!("{terraform_host}/"))
        {
            let own = format!("{}/{rest}", product.default_registry_host());
            if !overrides.iter().any(|(other, _)| *other == own) {
                entries.push((own, dir));
            }
        }
    }
    let mut text = String::from("provider_installation {\n");
    if !entries.is_empty() {
        text.push_str("  dev_overrides {\n");
        for (source, dir) in &entries {
            let _ = writeln!(
                text,
                "    \"{}\" = \"{}\"",
                hcl_escape(source),
                hcl_escape(&dir.display().to_string())
            );
        }
        text.push_str("  }\n");
    }
    text.push_str("  direct {}\n}\n");
    text
}

/// Escapes a string for an HCL quoted literal (quotes, backslashes, and template sequences).
fn hcl_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace("${", "$${")
        .replace("%{", "%%{")
}

fn show_value(value: Option<&Value>) -> String {
    match value {
        Some(v) => v.to_string(),
        None => "(absent)".to_string(),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
