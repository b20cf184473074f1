//! Data sources: read-only lookups such as `cvm_cluster_check`.

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tf_protocol::Diagnostics;

use crate::context::Ctx;
use crate::schema::Schema;

/// A data source type.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// What the provider's `configure` produced.
    type Data: Send + Sync + 'static;
    /// The configuration and result, as a serde struct covering every
    /// attribute.
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The full type name, e.g. `cvm_workspace_image`.
    fn type_name(&self) -> &'static str;

    /// The schema.
    fn schema(&self) -> Schema;

    /// Checks beyond per-attribute validators; the configuration may hold
    /// unknown values.
    async fn validate(&self, _config: &Self::Model, _diagnostics: &mut Diagnostics) {}

    /// Reads: takes the (wholly known) configuration and returns it with
    /// the computed attributes filled in, or `None` with an error.
    async fn read(
        &self,
        ctx: &Ctx<Self::Data>,
        config: Self::Model,
        diagnostics: &mut Diagnostics,
    ) -> Option<Self::Model>;
}
