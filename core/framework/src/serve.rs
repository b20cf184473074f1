//! The provider binary's entry point: checks how it was started, sets up
//! logging and the runtime, and serves until Terraform is done.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::provider::Provider;
use crate::server::ProviderService;

/// Runs `provider` as a Terraform plugin and returns the process exit code.
///
/// `address` is the provider's full source address, e.g.
/// `registry.terraform.io/cvm-provider/cvm`. With `--debug` the provider
/// runs on its own and prints `TF_REATTACH_PROVIDERS` for Terraform to
/// attach to; otherwise it must be started by Terraform.
pub fn run<P: Provider>(provider: P, address: &str) -> ExitCode {
    let mut debug = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--debug" | "-debug" => debug = true,
            "--version" | "-version" => {
                println!("{} {}", binary_name(address), env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!(
                    "unknown argument {other:?}\n\nusage: {} [--debug | --version]",
                    binary_name(address)
                );
                return ExitCode::from(2);
            }
        }
    }
    if !debug && let Err(explanation) = tf_transport::check_magic_cookie() {
        eprintln!("{explanation}");
        return ExitCode::from(1);
    }
    let module = format!("provider.{}", binary_name(address));
    tf_transport::logging::init(&module);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let stop = CancellationToken::new();
    let service = ProviderService::new(provider, stop.clone());
    let options = tf_transport::ServeOptions {
        provider_address: address.to_owned(),
        debug,
        log_module: module,
    };
    match runtime.block_on(tf_transport::serve(options, service, stop)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "plugin server failed");
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// `terraform-provider-<type>` from a source address.
fn binary_name(address: &str) -> String {
    let provider_type = address.rsplit('/').next().unwrap_or(address);
    format!("terraform-provider-{provider_type}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn binary_name_from_address() {
        assert_eq!(
            super::binary_name("registry.terraform.io/cvm-provider/cvm"),
            "terraform-provider-cvm"
        );
    }
}
