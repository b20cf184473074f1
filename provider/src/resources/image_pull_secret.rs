//! `cvm_image_pull_secret`: a `kubernetes.io/dockerconfigjson` Secret with
//! the credentials of one registry, which a CVM workspace names (envbox's
//! `CODER_IMAGE_PULL_SECRET`, or a pod's `imagePullSecrets`): v2's
//! counterpart of v1's `cvm_registry`.
//!
//! **Drift.** `content_hash` is a SHA-256 over the Secret's namespace, name
//! and `.dockerconfigjson`. A refresh hashes what the Secret holds; the plan
//! hashes what the configuration asks for (a write-only password is in the
//! configuration at plan time), so a Secret changed outside Terraform, or a
//! new password, plans an in-place update that writes it again. The hash is
//! one-way, but like every state it is to be kept private: for a weak
//! password it can be tested against guesses.
//!
//! `password_wo` (Terraform 1.11 and later) keeps the password out of plan
//! and state altogether; the hash still sees a new one.
//!
//! **Credentials are checked** before the Secret is written: the registry's
//! `/v2/` must accept them ([`crate::image_registry`]), so a wrong password
//! fails the apply instead of a workspace's image pull.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tf_framework::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, Import, PlanRequest,
    PlanResponse, ReadRequest, ReadResponse, UpdateRequest, UpdateResponse,
};
use tf_framework::schema::{Attribute, Block, Schema};
use tf_framework::timeouts::Operation;
use tf_framework::{Ctx, Resource, Timeouts, ToDiagnostic, validate};
use tf_protocol::value::Attr;
use tf_protocol::{AttributePath, Diagnostic, Diagnostics, Value};

use crate::image_registry::{self, Login, RegistryError};
use crate::kube::names::{self, Grammar};
use crate::kube::{Cluster, KubeError};
use crate::provider::ProviderData;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The Secret type kubelets and envbox read registry credentials from.
const SECRET_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// The Secret's key holding the credentials.
const DATA_KEY: &str = ".dockerconfigjson";
/// Field manager of the provider's server-side applies.
const FIELD_MANAGER: &str = "terraform-provider-cvm";
/// Label marking Secrets this provider manages.
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "terraform-provider-cvm");
/// Docker Hub's credentials key, as `docker login` writes it.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The `cvm_image_pull_secret` resource.
#[derive(Debug, Default)]
pub struct ImagePullSecretResource;

/// State and configuration of `cvm_image_pull_secret`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagePullSecretModel {
    /// `namespace/name`; also the import id.
    pub id: Attr<String>,
    /// Namespace of the Secret.
    pub namespace: Attr<String>,
    /// Name of the Secret.
    pub name: Attr<String>,
    /// Registry host.
    pub registry: Attr<String>,
    /// User name for the registry.
    pub username: Attr<String>,
    /// Password, kept in state (sensitive).
    pub password: Attr<String>,
    /// Password, never stored (write-only).
    pub password_wo: Attr<String>,
    /// A number to change along with `password_wo`, for the record.
    pub password_wo_version: Attr<i64>,
    /// Whether the apply checks the credentials against the registry.
    pub check_credentials: Attr<bool>,
    /// PEM of a CA the registry's certificate is signed by, for the check.
    pub ca_certificate: Attr<String>,
    /// SHA-256 over the Secret's namespace, name and content.
    pub content_hash: Attr<String>,
    /// Time limits.
    pub timeouts: Option<Timeouts>,
}

impl ImagePullSecretModel {
    /// The password, from whichever form is configured; `None` when unknown.
    fn password(&self) -> Option<&String> {
        self.password.known().or(self.password_wo.known())
    }

    /// Whether a password is configured at all (known or not).
    fn has_password(&self) -> bool {
        !self.password.is_null() || !self.password_wo.is_null()
    }

    fn namespace(&self) -> String {
        self.namespace.known().cloned().unwrap_or_default()
    }

    fn name(&self) -> String {
        self.name.known().cloned().unwrap_or_default()
    }

    /// The `.dockerconfigjson` the configuration asks for, once every input
    /// is known.
    fn wanted_content(&self) -> Option<Vec<u8>> {
        Some(docker_config(
            self.registry.known()?,
            self.username.known()?,
            self.password()?,
        ))
    }
}

/// The `.dockerconfigjson` for one registry: `username`, `password` and
/// `auth` (base64 of `username:password`), as `docker login` writes it.
fn docker_config(registry: &str, username: &str, password: &str) -> Vec<u8> {
    let key = credentials_key(registry);
    let auth = BASE64.encode(format!("{username}:{password}"));
    let value = serde_json::json!({
        "auths": { key: { "username": username, "password": password, "auth": auth } }
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

/// The key a registry's credentials go under (Docker Hub has its own).
fn credentials_key(registry: &str) -> &str {
    if matches!(registry, "docker.io" | "index.docker.io") {
        DOCKER_HUB_KEY
    } else {
        registry
    }
}

/// The registry and user name of a `.dockerconfigjson` holding exactly one
/// registry (`docker.io` for Docker Hub's key).
fn parse_docker_config(content: &[u8]) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_slice(content).ok()?;
    let auths = value.get("auths")?.as_object()?;
    let [(key, entry)] = auths.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let registry = if key == DOCKER_HUB_KEY {
        "docker.io".to_owned()
    } else {
        key.clone()
    };
    let username = match entry.get("username").and_then(|u| u.as_str()) {
        Some(username) => username.to_owned(),
        None => {
            let auth = BASE64.decode(entry.get("auth")?.as_str()?).ok()?;
            let auth = String::from_utf8(auth).ok()?;
            auth.split_once(':')?.0.to_owned()
        }
    };
    Some((registry, username))
}

/// `content_hash`: SHA-256 over namespace, name and content, hex.
fn content_hash(namespace: &str, name: &str, content: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [namespace.as_bytes(), name.as_bytes(), content] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Secret the provider applies.
fn secret(namespace: &str, name: &str, content: Vec<u8>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY.0.to_owned(),
                MANAGED_BY.1.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some(SECRET_TYPE.to_owned()),
        data: Some(BTreeMap::from([(DATA_KEY.to_owned(), ByteString(content))])),
        ..Secret::default()
    }
}

/// What a Secret holds under [`DATA_KEY`] (empty when it holds nothing
/// there or is of another type: either differs from what is wanted).
fn stored_content(secret: &Secret) -> Vec<u8> {
    if secret.type_.as_deref() != Some(SECRET_TYPE) {
        return Vec::new();
    }
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(DATA_KEY))
        .map(|b| b.0.clone())
        .unwrap_or_default()
}

/// Exactly one password form.
fn check(config: &ImagePullSecretModel, diagnostics: &mut Diagnostics) {
    match (!config.password.is_null(), !config.password_wo.is_null()) {
        (true, true) => diagnostics.attribute_error(
            AttributePath::attr("password_wo"),
            "Two Passwords Given",
            "Set exactly one of password and password_wo: password is kept in state as a sensitive value, password_wo never is.",
        ),
        (false, false) => diagnostics.attribute_error(
            AttributePath::attr("password"),
            "Missing Password",
            "An image pull secret needs the registry's password or token: set password (kept in state as a sensitive value) or password_wo (Terraform 1.11 or later; never stored).",
        ),
        _ => {}
    }
}

/// Checks the configured credentials against the registry, unless
/// `check_credentials` is false.
async fn check_credentials(config: &ImagePullSecretModel) -> Result<(), Diagnostic> {
    if config.check_credentials.known() == Some(&false) {
        return Ok(());
    }
    let (Some(registry), Some(username), Some(password)) = (
        config.registry.known(),
        config.username.known(),
        config.password(),
    ) else {
        return Ok(());
    };
    let login = Login {
        registry,
        username,
        password,
        ca_pem: config.ca_certificate.known().map(String::as_str),
    };
    image_registry::check_login(&login).await.map_err(|e| {
        let attribute = match &e {
            RegistryError::Refused { .. } if !config.password_wo.is_null() => "password_wo",
            RegistryError::Refused { .. } => "password",
            RegistryError::InvalidCa { .. } => "ca_certificate",
            _ => "registry",
        };
        e.to_diagnostic(Some(AttributePath::attr(attribute)))
    })
}

async fn cluster(ctx: &Ctx<ProviderData>, timeout: Duration) -> Result<Cluster, KubeError> {
    ctx.data()
        .kube_cluster(Instant::now() + timeout, ctx.cancellation().clone())
        .await
}

/// Writes the Secret the configuration asks for; the state to keep.
async fn write(
    ctx: &Ctx<ProviderData>,
    plan: &ImagePullSecretModel,
    config: &ImagePullSecretModel,
    timeout: Duration,
    creating: bool,
) -> Result<ImagePullSecretModel, Diagnostic> {
    let (namespace, name) = (plan.namespace(), plan.name());
    let content = config.wanted_content().unwrap_or_default();
    check_credentials(config).await?;
    let cluster = cluster(ctx, timeout)
        .await
        .map_err(|e| e.to_diagnostic(None))?;
    let api = cluster.namespaced::<Secret>(&namespace);
    let found = cluster
        .find(&api, &name)
        .await
        .map_err(|e| e.to_diagnostic(None))?;
    if let Some(found) = &found
        && !creating
        && found.type_.as_deref() != Some(SECRET_TYPE)
    {
        // Kubernetes keeps a Secret's type immutable: one replaced outside
        // Terraform by a Secret of another type is deleted and written anew.
        tracing::info!(secret = %format!("{namespace}/{name}"), found_type = ?found.type_, "the Secret has another type; replacing it");
        cluster
            .remove(&api, &name)
            .await
            .map_err(|e| e.to_diagnostic(None))?;
    }
    if creating && let Some(found) = found {
        let managed = found
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(MANAGED_BY.0))
            .is_some_and(|v| v == MANAGED_BY.1);
        let whose = if managed {
            "It carries this provider's label: another configuration may manage it"
        } else {
            "This provider did not create it"
        };
        return Err(Diagnostic::error(
            "Secret Already Exists",
            format!(
                "Secret {namespace}/{name} already exists. {whose}. Import it with `terraform import` (id `{namespace}/{name}`) to manage it here, or choose another name."
            ),
        )
        .at(AttributePath::attr("name")));
    }
    let hash = content_hash(&namespace, &name, &content);
    cluster
        .apply(&api, &secret(&namespace, &name, content), FIELD_MANAGER)
        .await
        .map_err(|e| e.to_diagnostic(None))?;
    let mut state = plan.clone();
    state.id = Attr::Known(format!("{namespace}/{name}"));
    state.content_hash = Attr::Known(hash);
    state.password_wo = Attr::Null;
    Ok(state)
}

#[async_trait]
impl Resource for ImagePullSecretResource {
    type Data = ProviderData;
    type Model = ImagePullSecretModel;

    fn type_name(&self) -> &'static str {
        "cvm_image_pull_secret"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new(
                "A `kubernetes.io/dockerconfigjson` Secret with the credentials of one image \
                 registry, for CVM workspaces to pull private images with (envbox's \
                 `CODER_IMAGE_PULL_SECRET`, or a pod's `imagePullSecrets`). A Secret changed \
                 outside Terraform shows as a change of `content_hash` and is written again.",
            )
            .attribute(
                Attribute::string("id")
                    .computed()
                    .use_state_for_unknown()
                    .description("`namespace/name`; also the import id."),
            )
            .attribute(
                Attribute::string("namespace")
                    .required()
                    .validate(names::kube_name("namespace", Grammar::Dns1123Label))
                    .requires_replace("a Secret cannot move to another namespace")
                    .description("Namespace of the Secret: the namespace the workspaces run in."),
            )
            .attribute(
                Attribute::string("name")
                    .required()
                    .validate(names::kube_name("Secret", Grammar::Dns1123Subdomain))
                    .requires_replace("a Secret cannot be renamed")
                    .description("Name of the Secret."),
            )
            .attribute(
                Attribute::string("registry")
                    .required()
                    .validate(crate::image_reference::registry_host())
                    .description("Registry host, e.g. `registry.example.com:5000` or `docker.io` (written as Docker Hub's `https://index.docker.io/v1/`)."),
            )
            .attribute(
                Attribute::string("username")
                    .required()
                    .validate(validate::non_empty())
                    .description("User name for the registry."),
            )
            .attribute(
                Attribute::string("password")
                    .optional()
                    .sensitive()
                    .description(
                        "Password or token for the registry. Kept in state as a sensitive value; \
                         use `password_wo` to keep it out of state. Exactly one of the two.",
                    ),
            )
            .attribute(
                Attribute::string("password_wo")
                    .optional()
                    .write_only()
                    .description(
                        "Password or token, never stored in plan or state (Terraform 1.11 or \
                         later). A new one is seen through `content_hash`.",
                    ),
            )
            .attribute(
                Attribute::number("password_wo_version")
                    .optional()
                    .description("A number to change with `password_wo`, for the record; the Secret is written again when it changes."),
            )
            .attribute(
                Attribute::bool("check_credentials")
                    .default(Value::Bool(true))
                    .description(
                        "Whether the apply first checks the credentials against the registry \
                         (`GET /v2/`, with basic or token auth, as `docker login` does) and fails, \
                         naming the registry, when they are refused. Set to false for a registry \
                         not reachable from where Terraform runs.",
                    ),
            )
            .attribute(
                Attribute::string("ca_certificate")
                    .optional()
                    .validate(validate::matches(
                        r"^\s*-----BEGIN CERTIFICATE-----",
                        "must be PEM text starting with -----BEGIN CERTIFICATE-----",
                    ))
                    .description(
                        "PEM of the CA that signed the registry's certificate, for the credential \
                         check, when it is not in the system's trust store. The Secret does not \
                         carry it: the nodes' container runtime must trust that CA itself.",
                    ),
            )
            .attribute(
                Attribute::string("content_hash")
                    .computed()
                    .description("SHA-256 over the Secret's namespace, name and `.dockerconfigjson`: at plan of what the configuration asks for, at refresh of what the Secret holds. One-way, but keep state private as always."),
            )
            .block(Timeouts::block_all(DEFAULT_TIMEOUT)),
        )
    }

    async fn validate(&self, config: &ImagePullSecretModel, diagnostics: &mut Diagnostics) {
        check(config, diagnostics);
    }

    async fn modify_plan(
        &self,
        _ctx: &Ctx<ProviderData>,
        request: PlanRequest<'_, ImagePullSecretModel>,
        response: &mut PlanResponse<ImagePullSecretModel>,
    ) {
        let config = request.config;
        let plan = &mut response.plan;
        let hash = match (config.namespace.known(), config.name.known()) {
            (Some(namespace), Some(name)) => config
                .wanted_content()
                .map(|content| content_hash(namespace, name, &content)),
            _ => None,
        };
        // A write-only password may be read again at apply with another
        // value (an ephemeral source): a hash planned from the plan's value
        // would then not match what the apply writes. So with `password_wo`
        // the hash is known only when nothing is to be written.
        let write_only = !config.password_wo.is_null();
        plan.content_hash = match (hash, request.prior) {
            (Some(hash), Some(prior))
                if write_only && prior.content_hash.known() != Some(&hash) =>
            {
                Attr::Unknown
            }
            (Some(_), None) if write_only => Attr::Unknown,
            (hash, _) => hash.map_or(Attr::Unknown, Attr::Known),
        };
        if !config.has_password() {
            // An imported Secret before a password is configured: validate
            // reports it.
            plan.content_hash = Attr::Unknown;
        }
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        request: CreateRequest<ImagePullSecretModel>,
        response: &mut CreateResponse<ImagePullSecretModel>,
    ) {
        let timeout = Timeouts::get(
            request.config.timeouts.as_ref(),
            Operation::Create,
            DEFAULT_TIMEOUT,
        );
        match write(ctx, &request.plan, &request.config, timeout, true).await {
            Ok(state) => response.state = Some(state),
            Err(diagnostic) => response.diagnostics.push(diagnostic),
        }
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        request: ReadRequest<ImagePullSecretModel>,
        response: &mut ReadResponse<ImagePullSecretModel>,
    ) {
        let mut state = request.state;
        let timeout = Timeouts::get(state.timeouts.as_ref(), Operation::Read, DEFAULT_TIMEOUT);
        let id = state.id.known().cloned().unwrap_or_default();
        let Some((namespace, name)) = id.split_once('/') else {
            response.diagnostics.push(Diagnostic::error(
                "Invalid Import Id",
                format!("`{id}` is not `namespace/name` of a Secret."),
            ));
            return;
        };
        let found = match cluster(ctx, timeout).await {
            Ok(cluster) => {
                cluster
                    .find(&cluster.namespaced::<Secret>(namespace), name)
                    .await
            }
            Err(e) => Err(e),
        };
        let found = match found {
            Ok(Some(found)) => found,
            Ok(None) => {
                tracing::info!(secret = %id, "the Secret is gone; removing it from state");
                response.state = None;
                return;
            }
            Err(e) => {
                response.diagnostics.push(e.to_diagnostic(None));
                return;
            }
        };
        let content = stored_content(&found);
        state.namespace = Attr::Known(namespace.to_owned());
        state.name = Attr::Known(name.to_owned());
        state.content_hash = Attr::Known(content_hash(namespace, name, &content));
        if state.check_credentials.is_null() {
            // After an import: the default, rather than a change to it.
            state.check_credentials = Attr::Known(true);
        }
        if let Some((registry, username)) = parse_docker_config(&content) {
            // `index.docker.io` and `docker.io` are written the same way: keep
            // the spelling in state rather than show a change.
            let same_key = state
                .registry
                .known()
                .is_some_and(|prior| credentials_key(prior) == credentials_key(&registry));
            if !same_key {
                state.registry = Attr::Known(registry);
            }
            state.username = Attr::Known(username);
        }
        response.state = Some(state);
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        request: UpdateRequest<ImagePullSecretModel>,
        response: &mut UpdateResponse<ImagePullSecretModel>,
    ) {
        let timeout = Timeouts::get(
            request.config.timeouts.as_ref(),
            Operation::Update,
            DEFAULT_TIMEOUT,
        );
        match write(ctx, &request.plan, &request.config, timeout, false).await {
            Ok(state) => response.state = Some(state),
            Err(diagnostic) => response.diagnostics.push(diagnostic),
        }
    }

    async fn delete(
        &self,
        ctx: &Ctx<ProviderData>,
        request: DeleteRequest<ImagePullSecretModel>,
        response: &mut DeleteResponse,
    ) {
        let prior = &request.prior;
        let timeout = Timeouts::get(prior.timeouts.as_ref(), Operation::Delete, DEFAULT_TIMEOUT);
        let result = match cluster(ctx, timeout).await {
            Ok(cluster) => {
                cluster
                    .remove(
                        &cluster.namespaced::<Secret>(&prior.namespace()),
                        &prior.name(),
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            response.diagnostics.push(e.to_diagnostic(None));
        }
    }

    fn import(&self) -> Import {
        Import::Passthrough("id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_password_form() {
        let errors = |c: &ImagePullSecretModel| crate::resources::check_errors(c, check);
        let mut c = ImagePullSecretModel::default();
        assert_eq!(errors(&c), vec!["password"]);
        c.password = Attr::Unknown;
        assert!(errors(&c).is_empty(), "an unknown password counts as given");
        c.password_wo = Attr::Known("q".into());
        assert_eq!(errors(&c), vec!["password_wo"]);
        c.password = Attr::Null;
        assert!(errors(&c).is_empty());
    }

    #[test]
    fn docker_config_is_what_docker_login_writes_and_reads_back() {
        let content = docker_config("registry.test:5000", "robot", "p:ss");
        let value: serde_json::Value = serde_json::from_slice(&content).unwrap();
        let entry = &value["auths"]["registry.test:5000"];
        assert_eq!(entry["username"], "robot");
        assert_eq!(entry["password"], "p:ss");
        assert_eq!(entry["auth"], BASE64.encode("robot:p:ss"));
        assert_eq!(
            parse_docker_config(&content),
            Some(("registry.test:5000".into(), "robot".into()))
        );
        let hub = docker_config("docker.io", "me", "x");
        let value: serde_json::Value = serde_json::from_slice(&hub).unwrap();
        assert!(value["auths"][DOCKER_HUB_KEY].is_object());
        assert_eq!(
            parse_docker_config(&hub),
            Some(("docker.io".into(), "me".into()))
        );
        // Only `auth`, as some tools write it.
        let auth_only = br#"{"auths":{"r.test":{"auth":"dXNlcjpwdw=="}}}"#;
        assert_eq!(
            parse_docker_config(auth_only),
            Some(("r.test".into(), "user".into()))
        );
        assert_eq!(parse_docker_config(br#"{"auths":{}}"#), None);
        assert_eq!(parse_docker_config(b"not json"), None);
    }

    #[test]
    fn the_hash_depends_on_every_part_and_their_boundaries() {
        let base = content_hash("ns", "name", b"{}");
        assert_eq!(base.len(), 64);
        assert_ne!(base, content_hash("ns", "name", b"{ }"));
        assert_ne!(base, content_hash("nsn", "ame", b"{}"));
        assert_ne!(base, content_hash("ns", "other", b"{}"));
        assert_eq!(base, content_hash("ns", "name", b"{}"));
    }

    #[test]
    fn a_secret_of_another_type_holds_nothing_wanted() {
        let mut s = secret("ns", "n", b"{}".to_vec());
        assert_eq!(stored_content(&s), b"{}");
        s.type_ = Some("Opaque".into());
        assert!(stored_content(&s).is_empty());
    }
}
