//! Repository tasks, run as `cargo run -p xtask -- <task>`:
//!
//! * `docs [--check]` — writes `docs/` (the Terraform registry layout) from
//!   the provider's own schema, the files under `examples/` and the prose
//!   under `templates/`; with `--check`, writes nothing and fails when the
//!   committed pages differ from what would be generated.
//! * `release [--version V] [--out-dir DIR] [--target-dir DIR] [--binary FILE]`
//!   — builds the provider in release mode for the host and writes the
//!   registry's release files (zip, manifest, `SHA256SUMS`) into `dist/`.

mod docs;
mod release;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo run -p xtask -- <task>

tasks:
  docs [--check]      generate docs/ from the provider schema, examples/ and templates/;
                      --check: write nothing, fail listing the pages that differ
  release [options]   build the provider in release mode for this host and write the
                      registry release files
      --version V       version to release (default: the workspace version, {version})
      --out-dir DIR     where to write the files (default: dist/)
      --target-dir DIR  Cargo target directory for the build (default: Cargo's own choice)
      --binary FILE     package this already-built provider executable instead of building
";

/// The repository root: this crate lives in `<root>/xtask`.
fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

fn usage() -> String {
    USAGE.replace("{version}", env!("CARGO_PKG_VERSION"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprint!("{}", usage());
        return ExitCode::from(2);
    };
    let repo = repo_root();
    match task.as_str() {
        "docs" => run_docs(&repo, rest),
        "release" => run_release(&repo, rest),
        "help" | "--help" | "-h" => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("unknown task {other:?}\n\n{}", usage());
            ExitCode::from(2)
        }
    }
}

fn run_docs(repo: &Path, args: &[String]) -> ExitCode {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            eprintln!("docs takes only --check\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let pages = match docs::generate(repo) {
        Ok(pages) => pages,
        Err(e) => {
            eprintln!("docs: {e}");
            return ExitCode::FAILURE;
        }
    };
    if check {
        match docs::check(repo, &pages) {
            Ok(differences) if differences.is_empty() => ExitCode::SUCCESS,
            Ok(differences) => {
                eprintln!("docs/ is not what `cargo run -p xtask -- docs` generates:");
                for difference in differences {
                    eprintln!("  {difference}");
                }
                eprintln!("Run `cargo run -p xtask -- docs` and commit the result.");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("docs --check: {e}");
                ExitCode::FAILURE
            }
        }
    } else {
        match docs::write(repo, &pages) {
            Ok(changed) => {
                for path in &changed {
                    println!("wrote {path}");
                }
                println!(
                    "{} page(s) generated, {} changed",
                    pages.len(),
                    changed.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("docs: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

fn run_release(repo: &Path, args: &[String]) -> ExitCode {
    let mut options = release::Options {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        out_dir: repo.join("dist"),
        target_dir: None,
        binary: None,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("{flag} needs a value\n\n{}", usage());
            return ExitCode::from(2);
        };
        match flag.as_str() {
            "--version" => options.version = value.clone(),
            "--out-dir" => options.out_dir = PathBuf::from(value),
            "--target-dir" => options.target_dir = Some(PathBuf::from(value)),
            "--binary" => options.binary = Some(PathBuf::from(value)),
            _ => {
                eprintln!("unknown option {flag:?}\n\n{}", usage());
                return ExitCode::from(2);
            }
        }
    }
    match release::run(repo, &options) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("release: {e}");
            ExitCode::FAILURE
        }
    }
}
