//! Lookups that every node group of one cluster makes alike, made once per
//! provider process and shared.
//!
//! The rule for what may be shared: only what a *create* needs and what does
//! not change while one Terraform command runs — the cluster's access data
//! (endpoint, CA bundle, Kubernetes version, DNS IP) from DescribeCluster and
//! the AMI id an SSM parameter holds. Terraform starts a provider process per
//! command, so "once per process" means "once per plan or apply". Reads
//! (refresh) and updates never use these: they must see what AWS holds now
//! (a new AMI published under the same parameter is what an update rolls
//! out), so they call the clients directly.
//!
//! Concurrent creates for one key wait for a single in-flight lookup. A
//! failed lookup, and an SSM parameter that does not exist, is not kept: the
//! next caller asks again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use super::eks::{ClusterAccess, EksClient};
use super::error::AwsError;
use super::ssm::SsmClient;

/// One value per key, looked up once; see the [module docs](self).
struct KeyedOnce<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> KeyedOnce<K, V> {
    fn new() -> Self {
        Self {
            cells: Mutex::new(HashMap::new()),
        }
    }

    /// The value for `key`: the kept one, or `lookup`'s. Callers that come
    /// while a lookup for `key` runs wait for it; an error is returned to
    /// the caller that ran the lookup and not kept, so a waiting caller
    /// runs the lookup again.
    async fn get_or_try<E, F, Fut>(&self, key: &K, lookup: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = {
            // The lock only guards the map; it is never held across an await.
            let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(cells.entry(key.clone()).or_default())
        };
        cell.get_or_try_init(lookup).await.cloned()
    }

    /// How many keys have a value kept.
    fn kept(&self) -> usize {
        self.cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|cell| cell.initialized())
            .count()
    }
}

/// Why a parameter lookup left nothing to keep.
enum ParameterMiss {
    Absent,
    Failed(AwsError),
}

/// The per-process lookups shared by the node groups of a cluster; held by
/// [`AwsClients`](super::AwsClients), so every resource of one provider
/// process uses the same ones.
pub struct SharedLookups {
    clusters: KeyedOnce<String, ClusterAccess>,
    parameters: KeyedOnce<String, String>,
}

impl Default for SharedLookups {
    /// Nothing looked up yet.
    fn default() -> Self {
        Self {
            clusters: KeyedOnce::new(),
            parameters: KeyedOnce::new(),
        }
    }
}

impl SharedLookups {
    /// The access data of cluster `name` for creating a node group on it:
    /// DescribeCluster once per process.
    pub async fn cluster_access(
        &self,
        eks: &EksClient,
        name: &str,
    ) -> Result<ClusterAccess, AwsError> {
        self.clusters
            .get_or_try(&name.to_owned(), || eks.cluster_access(name))
            .await
    }

    /// SSM parameter `name`'s value for creating a node group: GetParameter
    /// once per process while the parameter exists; `None` (asked again next
    /// time) when it does not.
    pub async fn parameter(&self, ssm: &SsmClient, name: &str) -> Result<Option<String>, AwsError> {
        let found = self
            .parameters
            .get_or_try(&name.to_owned(), || async {
                match ssm.get_parameter(name).await {
                    Ok(Some(value)) => Ok(value),
                    Ok(None) => Err(ParameterMiss::Absent),
                    Err(e) => Err(ParameterMiss::Failed(e)),
                }
            })
            .await;
        match found {
            Ok(value) => Ok(Some(value)),
            Err(ParameterMiss::Absent) => Ok(None),
            Err(ParameterMiss::Failed(e)) => Err(e),
        }
    }
}

impl std::fmt::Debug for SharedLookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLookups")
            .field("clusters", &self.clusters.kept())
            .field("parameters", &self.parameters.kept())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_lookup_and_errors_are_not_kept() {
        let keyed = Arc::new(KeyedOnce::<String, u32>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let failing = keyed
            .get_or_try(&"a".to_owned(), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<u32, &str>("throttled for good")
            })
            .await;
        assert_eq!(failing, Err("throttled for good"));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (keyed, calls, mut released) =
                    (Arc::clone(&keyed), Arc::clone(&calls), released.clone());
                tokio::spawn(async move {
                    keyed
                        .get_or_try(&"a".to_owned(), || async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            // Hold the lookup open until every caller has come.
                            released.wait_for(|go| *go).await.ok();
                            Ok::<u32, &str>(7)
                        })
                        .await
                })
            })
            .collect();
        tokio::task::yield_now().await;
        release.send(true).unwrap();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(7));
        }
        // One failed call, then one shared successful one.
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(keyed.kept(), 1);
    }
}
