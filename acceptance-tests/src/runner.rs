//! Running one test body on every available Terraform, reporting which versions failed, and
//! recording which clients ran and which were skipped for `scripts/test`'s closing lines.

use std::fmt::Display;
use std::fs::OpenOptions;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Mutex, Once, PoisonError};
use std::time::Instant;

use crate::error::Error;
use crate::terraform::{Discovery, Terraform, try_discovery};

/// Environment variable: a directory into which every test process that runs acceptance tests
/// writes which clients it found, which candidates it left out and why, and, per test and client,
/// whether the test ran (and passed) or was skipped and why. One file per process,
/// `acc-<pid>.tsv`, one tab-separated record a line:
///
/// * `client <label> <path>`: a client the tests run on;
/// * `not-run <candidate> <reason>`: a candidate discovery left out;
/// * `discovery-failed <reason> <fix>`: no test of this process could run;
/// * `ran <label> <path> <test> ok|failed`: one test body on one client;
/// * `skipped <label> <path> <test> <why>`: a test that does not apply to that client.
///
/// `scripts/test` sets it and prints its closing lines from these files. Unset, nothing is written.
pub const REPORT_DIR_ENV: &str = "CVM_ACC_REPORT_DIR";

/// Runs `test` once per available Terraform (newest first; see [`crate::terraforms`]). Every
/// version is tried even after a failure; then, if any failed, this panics with one section per
/// failed version so the test fails with a readable report. A panic inside `test` (an `assert!`)
/// counts as that version's failure.
///
/// # Panics
///
/// When Terraform discovery fails or `test` fails for any version.
pub fn run<F, E>(test: F)
where
    F: FnMut(&Terraform) -> Result<(), E>,
    E: Display,
{
    run_where(|_| true, "", test);
}

/// Like [`run`], but only on the versions for which `applies` is true, e.g.
/// `run_where(Terraform::supports_functions, "provider functions need 1.8", …)`. Skipped versions
/// are printed with `why`. If no version qualifies, the test fails: a test that never runs
/// proves nothing.
///
/// # Panics
///
/// When Terraform discovery fails, no version qualifies, or `test` fails for any version.
pub fn run_where<P, F, E>(applies: P, why: &str, test: F)
where
    P: Fn(&Terraform) -> bool,
    F: FnMut(&Terraform) -> Result<(), E>,
    E: Display,
{
    let discovery = match try_discovery() {
        Ok(discovery) => discovery,
        Err(e) => {
            record_discovery_failure(&e);
            panic!("{e}");
        }
    };
    record_discovery(&discovery);
    let runs = run_on(&discovery.clients, applies, why, test);
    record_runs(&runs);
    if let Err(report) = runs.verdict() {
        panic!("{report}");
    }
}

/// What one test body did on each client (see [`run_on`]).
#[derive(Debug, Clone)]
pub struct Runs {
    /// The clients the body ran on, in order, each with `Ok` or its failure report.
    pub ran: Vec<(Terraform, Result<(), String>)>,
    /// The clients it did not apply to.
    pub skipped: Vec<Terraform>,
    /// Why those were skipped (the `why` given to [`run_on`]).
    pub why: String,
}

impl Runs {
    /// `Ok` when the body ran on at least one client and passed on every one it ran on;
    /// otherwise the report a failing test shows: which clients failed and how, or that none
    /// qualified.
    pub fn verdict(&self) -> Result<(), String> {
        if self.ran.is_empty() {
            return Err(format!(
                "no available Terraform version qualifies for this test ({})",
                self.why
            ));
        }
        let failures: Vec<String> = self
            .ran
            .iter()
            .filter_map(|(terraform, outcome)| {
                outcome
                    .as_ref()
                    .err()
                    .map(|report| format!("{terraform}{report}"))
            })
            .collect();
        if failures.is_empty() {
            return Ok(());
        }
        Err(format!(
            "failed on {} of {} Terraform version(s):\n\n{}",
            failures.len(),
            self.ran.len(),
            failures.join("\n\n")
        ))
    }
}

/// Runs `test` on each of `clients` for which `applies` is true, in order, even after one
/// fails, and returns what happened; it records and panics about nothing (that is
/// [`run_where`]'s job). A panic inside `test` counts as that client's failure.
pub fn run_on<P, F, E>(clients: &[Terraform], applies: P, why: &str, mut test: F) -> Runs
where
    P: Fn(&Terraform) -> bool,
    F: FnMut(&Terraform) -> Result<(), E>,
    E: Display,
{
    let mut runs = Runs {
        ran: Vec::new(),
        skipped: Vec::new(),
        why: why.to_string(),
    };
    for terraform in clients {
        if !applies(terraform) {
            eprintln!("[acc] skipping {terraform}: {why}");
            runs.skipped.push(terraform.clone());
            continue;
        }
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| test(terraform)));
        let elapsed = started.elapsed();
        let outcome = match outcome {
            Ok(Ok(())) => {
                eprintln!("[acc] {terraform}: ok in {elapsed:.1?}");
                Ok(())
            }
            Ok(Err(e)) => {
                eprintln!("[acc] {terraform}: FAILED in {elapsed:.1?}");
                Err(format!(":\n{e}"))
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(non-string panic payload)".to_string());
                eprintln!("[acc] {terraform}: PANICKED in {elapsed:.1?}");
                Err(format!(" panicked:\n{message}"))
            }
        };
        runs.ran.push((terraform.clone(), outcome));
    }
    runs
}

// ---------------------------------------------------------------------------------------------
// The record for scripts/test (REPORT_DIR_ENV)
// ---------------------------------------------------------------------------------------------

/// Writes the clients and the left-out candidates, once per process.
fn record_discovery(discovery: &Discovery) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for client in &discovery.clients {
            record(&[
                "client",
                &client.label(),
                &client.path.display().to_string(),
            ]);
        }
        for skipped in &discovery.skipped {
            record(&["not-run", &skipped.candidate, &skipped.reason]);
        }
    });
}

/// Writes that discovery failed, with the fix, once per process.
fn record_discovery_failure(error: &Error) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| match error {
        Error::Discovery { reason, fix } => record(&["discovery-failed", reason, fix]),
        other => record(&["discovery-failed", &other.to_string(), ""]),
    });
}

/// Writes one line per client the test ran on or skipped.
fn record_runs(runs: &Runs) {
    let current = std::thread::current();
    let test = current.name().unwrap_or("(unnamed test)");
    for (terraform, outcome) in &runs.ran {
        let result = if outcome.is_ok() { "ok" } else { "failed" };
        let path = terraform.path.display().to_string();
        record(&["ran", &terraform.label(), &path, test, result]);
    }
    for terraform in &runs.skipped {
        let path = terraform.path.display().to_string();
        record(&["skipped", &terraform.label(), &path, test, &runs.why]);
    }
}

/// Appends one tab-separated line to this process's file in `$CVM_ACC_REPORT_DIR`, if set.
///
/// # Panics
///
/// When the variable is set and the file cannot be written: the closing lines of
/// `scripts/test` would otherwise leave out what this test did.
fn record(fields: &[&str]) {
    let Some(dir) = std::env::var_os(REPORT_DIR_ENV).filter(|dir| !dir.is_empty()) else {
        return;
    };
    static WRITING: Mutex<()> = Mutex::new(());
    let mut line = fields
        .iter()
        .map(|field| field.replace(['\t', '\n', '\r'], " "))
        .collect::<Vec<_>>()
        .join("\t");
    line.push('\n');
    let file = Path::new(&dir).join(format!("acc-{}.tsv", std::process::id()));
    let _writing = WRITING.lock().unwrap_or_else(PoisonError::into_inner);
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| OpenOptions::new().create(true).append(true).open(&file))
        .and_then(|mut out| out.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!(
            "cannot write the test record {} ({REPORT_DIR_ENV}): {e}",
            file.display()
        );
    }
}
