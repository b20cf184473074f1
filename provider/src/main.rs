//! The `terraform-provider-cvm` binary: Terraform starts it; a person
//! running it by hand gets an explanation instead.

use std::process::ExitCode;

fn main() -> ExitCode {
    tf_framework::serve::run(
        terraform_provider_cvm::provider::CvmProvider,
        terraform_provider_cvm::PROVIDER_ADDRESS,
    )
}
