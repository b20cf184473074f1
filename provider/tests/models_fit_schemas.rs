//! Every model of the provider reads a value of its schema's full type and
//! writes it back unchanged: with every attribute set, with every element
//! and nested attribute unknown, and with every attribute unknown (a plan
//! whose inputs come from resources not created yet). A field missing from
//! a model, named apart from its attribute, or unable to hold an unknown
//! fails here instead of in a user's plan.

use terraform_provider_cvm::provider::CvmProvider;
use tf_framework::server::ProviderService;
use tokio_util::sync::CancellationToken;

#[test]
fn every_model_fits_its_schema() {
    let service = ProviderService::new(CvmProvider, CancellationToken::new());
    let problems = service.model_problems();
    assert!(
        problems.is_empty(),
        "models that do not fit their schemas:\n{}",
        problems.join("\n")
    );
}
