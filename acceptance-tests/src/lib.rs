//! Acceptance-test harness: tests write Terraform configurations, and the real `terraform` CLI
//! (every available version) drives the real provider binary.
//!
//! ```no_run
//! use acceptance_tests::{self as acc, Workdir};
//!
//! acc::run(|tf| {
//!     let wd = Workdir::new(tf)?;
//!     wd.config(r#"
//!         terraform {
//!           required_providers {
//!             cvm = { source = "cvm-provider/cvm" }
//!           }
//!         }
//!     "#)?;
//!     wd.apply()?;
//!     wd.assert_plan_empty()?;
//!     Ok::<(), acc::Error>(())
//! });
//! ```
//!
//! See `acceptance-tests/README.md` for the environment variables.

pub mod coder;
pub mod coder_v2;
pub mod demo_stack;
mod diagnostics;
mod error;
pub mod installer_double;
mod json;
pub mod kube;
mod loopback;
pub mod moto;
mod process;
mod provider;
pub mod provider_processes;
pub mod pulumi;
pub mod registry;
mod runner;
mod terraform;
mod workdir;

pub use diagnostics::{collapse_whitespace, strip_ansi, strip_diagnostic_decoration};
pub use error::Error;
pub use json::{Attributes, Change, LookupResult, Plan, State, flatten, lookup};
pub use process::{CONCURRENCY_ENV, CommandOutput, DEFAULT_CONCURRENCY};
pub use provider::{
    PROVIDER_BINARY_ENV, PROVIDER_PACKAGE, PROVIDER_SOURCE, ProviderBinary, provider_binary,
    provider_config,
};
pub use runner::{REPORT_DIR_ENV, Runs, run, run_on, run_where};
pub use terraform::{
    CACHE_DIR_ENV, Discovery, OLDEST_SUPPORTED, OPENTOFU_FETCH_COMMAND, PATHS_ENV, Product,
    SkippedClient, Terraform, cache_dir, cached_opentofu_paths, cached_terraform_path, discover,
    find_on_path, parse_product, parse_version, parse_version_json, terraforms, try_terraforms,
};
pub use workdir::{Action, DEFAULT_TIMEOUT, KEEP_ENV, LOG_ENV, TIMEOUT_ENV, Workdir};
