//! Running one test body on every available Terraform and reporting which versions failed.

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use crate::terraform::{Terraform, terraforms};

/// Runs `test` once per available Terraform (newest first; see [`terraforms`]). Every version is
/// tried even after a failure; then, if any failed, this panics with one section per failed
/// version so the test fails with a readable report. A panic inside `test` (an `assert!`) counts
/// as that version's failure.
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
pub fn run_where<P, F, E>(applies: P, why: &str, mut test: F)
where
    P: Fn(&Terraform) -> bool,
    F: FnMut(&Terraform) -> Result<(), E>,
    E: Display,
{
    let mut failures = Vec::new();
    let mut ran = 0;
    for terraform in terraforms() {
        if !applies(&terraform) {
            eprintln!("[acc] skipping {terraform}: {why}");
            continue;
        }
        ran += 1;
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| test(&terraform)));
        let elapsed = started.elapsed();
        match outcome {
            Ok(Ok(())) => eprintln!("[acc] {terraform}: ok in {elapsed:.1?}"),
            Ok(Err(e)) => {
                eprintln!("[acc] {terraform}: FAILED in {elapsed:.1?}");
                failures.push(format!("{terraform}:\n{e}"));
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(non-string panic payload)".to_string());
                eprintln!("[acc] {terraform}: PANICKED in {elapsed:.1?}");
                failures.push(format!("{terraform} panicked:\n{message}"));
            }
        }
    }
    if ran == 0 {
        panic!("no available Terraform version qualifies for this test ({why})");
    }
    if !failures.is_empty() {
        panic!(
            "failed on {} of {ran} Terraform version(s):\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}
