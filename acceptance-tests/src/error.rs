//! The one error type of the harness. Every variant carries enough context (command line, working
//! directory, full stdout and stderr) that a failing test explains itself without re-running.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while driving Terraform from a test.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable Terraform could be found; `fix` is the command or setting that repairs it.
    #[error("Terraform discovery failed: {reason}\n  fix: {fix}")]
    Discovery {
        /// What is missing or wrong.
        reason: String,
        /// The command or setting that fixes it.
        fix: String,
    },

    /// Building or locating the provider binary failed.
    #[error("building the provider binary failed: {0}")]
    ProviderBuild(String),

    /// A filesystem or process-spawning operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A command exited unsuccessfully.
    #[error(
        "`{command}` failed ({status}) in {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        dir.display()
    )]
    CommandFailed {
        /// The command line, for humans.
        command: String,
        /// The working directory.
        dir: PathBuf,
        /// Exit status description.
        status: String,
        /// Everything the command printed on stdout.
        stdout: String,
        /// Everything the command printed on stderr.
        stderr: String,
    },

    /// A command ran longer than its timeout and was stopped.
    #[error(
        "`{command}` timed out after {timeout:?} in {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        dir.display()
    )]
    Timeout {
        /// The command line, for humans.
        command: String,
        /// The working directory.
        dir: PathBuf,
        /// The timeout that elapsed.
        timeout: Duration,
        /// What the command printed on stdout before it was stopped.
        stdout: String,
        /// What the command printed on stderr before it was stopped.
        stderr: String,
    },

    /// A provider process the command started was still running after the command had exited
    /// (it has been killed since).
    #[error(
        "a provider process (pid {pids:?}) outlived `{command}`\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    )]
    ProviderOutlivedCommand {
        /// The command line, for humans.
        command: String,
        /// The provider processes still running after the limit.
        pids: Vec<u32>,
        /// Everything the command printed on stdout.
        stdout: String,
        /// Everything the command printed on stderr.
        stderr: String,
    },

    /// Terraform printed JSON the harness could not parse.
    #[error("could not parse {context} as JSON: {source}\n--- text ---\n{text}")]
    Json {
        /// Which output was being parsed.
        context: String,
        /// The parser error.
        #[source]
        source: serde_json::Error,
        /// The text that failed to parse (possibly truncated).
        text: String,
    },

    /// A resource, data source, output or attribute path was not where the test looked.
    #[error("{what} not found; available: {available}")]
    NotFound {
        /// What was looked up.
        what: String,
        /// What exists instead, to spot typos.
        available: String,
    },

    /// An assertion about plans, states or diagnostics did not hold.
    #[error("{0}")]
    Assertion(String),

    /// Building, starting, driving or stopping the Coder API emulator failed.
    #[error("Coder emulator: {0}")]
    CoderEmulator(String),

    /// Starting or driving the Coder v2 test server (or its fault proxy) failed.
    #[error("Coder v2 test server: {0}")]
    CoderV2(String),

    /// Starting or driving the test image registry failed.
    #[error("test registry: {0}")]
    Registry(String),

    /// Starting or driving the test Kubernetes API server failed.
    #[error("Kubernetes test cluster: {0}")]
    Kube(#[from] crate::kube::Error),

    /// Starting or driving the moto AWS emulator failed.
    #[error("moto: {0}")]
    Moto(#[from] crate::moto::Error),

    /// A regular expression given by the test does not compile.
    #[error("invalid regular expression {pattern:?}: {source}")]
    Regex {
        /// The pattern as written in the test.
        pattern: String,
        /// The compiler error.
        #[source]
        source: regex::Error,
    },
}

impl Error {
    /// Shorthand for an [`Error::Io`] with the given context.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Shorthand for an [`Error::Json`], keeping at most 4000 characters of the offending text.
    pub(crate) fn json(context: impl Into<String>, source: serde_json::Error, text: &str) -> Self {
        const KEEP: usize = 4000;
        let text = match text.char_indices().nth(KEEP) {
            Some((cut, _)) => format!("{}… (truncated)", &text[..cut]),
            None => text.to_string(),
        };
        Error::Json {
            context: context.into(),
            source,
            text,
        }
    }
}
