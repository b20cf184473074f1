//! The provider itself: its configuration, and the resources, data sources
//! and functions it offers.

use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use tf_protocol::Diagnostics;

use crate::data_source::DataSource;
use crate::function::Function;
use crate::resource::Resource;
use crate::schema::Schema;
use crate::server::erased::{ErasedDataSource, ErasedResource};

/// A provider.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// What `configure` produces and every operation gets through its
    /// context: API clients and settings.
    type Data: Send + Sync + 'static;
    /// The provider block's configuration as a serde struct.
    type Config: DeserializeOwned + Send + 'static;

    /// The provider's type name, e.g. `cvm`: every resource type starts with
    /// it and an underscore.
    fn type_name(&self) -> &'static str;

    /// The provider block's schema.
    fn schema(&self) -> Schema;

    /// Checks of the provider block beyond per-attribute validators; may
    /// hold unknown values.
    async fn validate(&self, _config: &Self::Config, _diagnostics: &mut Diagnostics) {}

    /// Builds the provider's data from its configuration. Values may be
    /// unknown when they come from resources not yet created.
    async fn configure(
        &self,
        request: ConfigureRequest<Self::Config>,
        diagnostics: &mut Diagnostics,
    ) -> Option<Self::Data>;

    /// The resource types.
    fn resources(&self) -> Vec<ResourceHandle<Self::Data>>;

    /// The data source types.
    fn data_sources(&self) -> Vec<DataSourceHandle<Self::Data>>;

    /// The functions.
    fn functions(&self) -> Vec<Arc<dyn Function>> {
        Vec::new()
    }
}

/// Input to [`Provider::configure`].
#[derive(Debug)]
pub struct ConfigureRequest<C> {
    /// The provider block.
    pub config: C,
    /// The Terraform version that runs the provider.
    pub terraform_version: String,
}

/// A resource type, ready to register.
pub struct ResourceHandle<D>(pub(crate) Arc<dyn ErasedResource<D>>);

impl<D: Send + Sync + 'static> ResourceHandle<D> {
    /// Registers `resource`.
    pub fn new<R: Resource<Data = D>>(resource: R) -> Self {
        Self(Arc::new(resource))
    }

    /// The resource type's name, e.g. `cvm_settings`. Read-only, for tools
    /// such as the documentation generator.
    pub fn type_name(&self) -> &'static str {
        self.0.type_name()
    }

    /// The resource type's schema. Read-only, for tools such as the
    /// documentation generator.
    pub fn schema(&self) -> Schema {
        self.0.schema()
    }
}

/// A data source type, ready to register.
pub struct DataSourceHandle<D>(pub(crate) Arc<dyn ErasedDataSource<D>>);

impl<D: Send + Sync + 'static> DataSourceHandle<D> {
    /// Registers `data_source`.
    pub fn new<S: DataSource<Data = D>>(data_source: S) -> Self {
        Self(Arc::new(data_source))
    }

    /// The data source type's name, e.g. `cvm_cluster_check`. Read-only,
    /// for tools such as the documentation generator.
    pub fn type_name(&self) -> &'static str {
        self.0.type_name()
    }

    /// The data source type's schema. Read-only, for tools such as the
    /// documentation generator.
    pub fn schema(&self) -> Schema {
        self.0.schema()
    }
}
