//! `cvm_settings`: the Coder deployment's CVM switches (Manage > Admin >
//! Infrastructure), as one singleton resource over
//! `GET`/`PUT /api/v0/workspaces/config`.
//!
//! Only attributes set in configuration are managed; the others show the
//! deployment's current values. Every write is read-modify-write: the PUT
//! sends back every key the server returned, changing only managed ones.
//! The values the managed keys had before Terraform took them over are kept
//! in private state, and destroy puts them back.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tf_framework::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, Import, ReadRequest,
    ReadResponse, UpdateRequest, UpdateResponse,
};
use tf_framework::schema::{Attribute, Block, NestedBlock, Schema};
use tf_framework::timeouts::Operation;
use tf_framework::{Ctx, PrivateState, Resource, Timeouts, ToDiagnostic, validate};
use tf_protocol::value::{Attr, Type};
use tf_protocol::{AttributePath, Diagnostics};

use crate::coder::{CoderClient, CoderError};
use crate::provider::ProviderData;
use crate::resources::with_coder;

/// The only id a `cvm_settings` resource has, and its import id.
pub const SETTINGS_ID: &str = "settings";

/// Private-state key for the values managed keys had before Terraform.
const BEFORE: &str = "before";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Whether a JSON key is in the public Coder SDK or our assumption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Field of coder-sdk's `ConfigWorkspaces`.
    Confirmed,
    /// Not public: chosen by this provider (see the docs); use
    /// `extra_settings` if a deployment spells it differently.
    Assumed,
}

/// One managed switch: where it lives in the schema and in Coder's JSON.
#[derive(Clone, Copy, Debug)]
pub struct SettingKey {
    /// Attribute path in the schema, e.g. `caching.enabled`.
    pub attribute: &'static str,
    /// Key in `/api/v0/workspaces/config`.
    pub json_key: &'static str,
    /// Confirmed or assumed.
    pub source: KeySource,
}

/// The table of managed keys: the one place JSON key names are chosen.
pub const SETTING_KEYS: &[SettingKey] = &[
    SettingKey {
        attribute: "enabled",
        json_key: "enable_container_vms",
        source: KeySource::Confirmed,
    },
    SettingKey {
        attribute: "gpu_vendor",
        json_key: "gpu_vendor",
        source: KeySource::Confirmed,
    },
    SettingKey {
        attribute: "caching.enabled",
        json_key: "enable_cvm_caching",
        source: KeySource::Assumed,
    },
    SettingKey {
        attribute: "caching.auto_load_shiftfs",
        json_key: "enable_shiftfs_auto_load",
        source: KeySource::Assumed,
    },
    SettingKey {
        attribute: "default_to_cvm",
        json_key: "default_to_container_vms",
        source: KeySource::Assumed,
    },
    SettingKey {
        attribute: "tun_device",
        json_key: "enable_tun_device",
        source: KeySource::Assumed,
    },
    SettingKey {
        attribute: "fuse_device",
        json_key: "enable_fuse_device",
        source: KeySource::Assumed,
    },
    SettingKey {
        attribute: "self_contained_builds",
        json_key: "enable_self_contained_builds",
        source: KeySource::Assumed,
    },
    SettingKey {
        attribute: "process_logging",
        json_key: "enable_process_logging",
        source: KeySource::Assumed,
    },
];

fn key(attribute: &str) -> &'static str {
    SETTING_KEYS
        .iter()
        .find(|k| k.attribute == attribute)
        .map_or("", |k| k.json_key)
}

/// The `cvm_settings` resource.
#[derive(Debug, Default)]
pub struct Settings;

/// State and configuration of `cvm_settings`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsModel {
    /// Always `settings`.
    pub id: Attr<String>,
    /// Enable container-based virtual machines.
    pub enabled: Attr<bool>,
    /// GPU vendor: "" or "nvidia".
    pub gpu_vendor: Attr<String>,
    /// Cached CVMs.
    pub caching: Option<Caching>,
    /// New workspaces default to CVMs.
    pub default_to_cvm: Attr<bool>,
    /// TUN device in CVMs.
    pub tun_device: Attr<bool>,
    /// FUSE device in CVMs.
    pub fuse_device: Attr<bool>,
    /// Self-contained workspace builds.
    pub self_contained_builds: Attr<bool>,
    /// Workspace process logging.
    pub process_logging: Attr<bool>,
    /// Other keys, as JSON-encoded values.
    pub extra_settings: Attr<BTreeMap<String, Attr<String>>>,
    /// Time limits.
    pub timeouts: Option<Timeouts>,
}

/// The `caching` block.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caching {
    /// Cached CVMs on.
    pub enabled: Attr<bool>,
    /// Let Coder load the shiftfs module on nodes.
    pub auto_load_shiftfs: Attr<bool>,
}

fn bool_setting(name: &str, description: &str) -> Attribute {
    let key = SETTING_KEYS.iter().find(|k| k.attribute == name);
    let note = match key.map(|k| (k.source, k.json_key)) {
        Some((KeySource::Assumed, json)) => format!(
            " Sent as the JSON key `{json}`, which is not in Coder's public API: see the page's notes."
        ),
        _ => String::new(),
    };
    Attribute::bool(name)
        .optional()
        .computed()
        .use_state_for_unknown()
        .description(format!(
            "{description} Left unset, Terraform does not manage it and shows the deployment's value.{note}"
        ))
}

impl SettingsModel {
    /// The managed keys and the JSON values configuration gives them.
    fn managed(&self) -> Map<String, Json> {
        let mut out = Map::new();
        let mut put = |attribute: &str, value: Option<Json>| {
            if let Some(v) = value {
                out.insert(key(attribute).to_owned(), v);
            }
        };
        put("enabled", self.enabled.known().map(|b| Json::Bool(*b)));
        put(
            "gpu_vendor",
            self.gpu_vendor.known().map(|s| Json::String(s.clone())),
        );
        if let Some(c) = &self.caching {
            put("caching.enabled", c.enabled.known().map(|b| Json::Bool(*b)));
            put(
                "caching.auto_load_shiftfs",
                c.auto_load_shiftfs.known().map(|b| Json::Bool(*b)),
            );
        }
        for (attribute, value) in [
            ("default_to_cvm", &self.default_to_cvm),
            ("tun_device", &self.tun_device),
            ("fuse_device", &self.fuse_device),
            ("self_contained_builds", &self.self_contained_builds),
            ("process_logging", &self.process_logging),
        ] {
            put(attribute, value.known().map(|b| Json::Bool(*b)));
        }
        if let Attr::Known(extra) = &self.extra_settings {
            for (k, v) in extra {
                if let Some(Ok(json)) = v.known().map(|t| serde_json::from_str::<Json>(t)) {
                    out.insert(k.clone(), json);
                }
            }
        }
        out
    }

    /// Fills every attribute from the server's settings, keeping the
    /// configuration's spelling of `extra_settings` values that mean the
    /// same JSON. `show_caching` adds the `caching` block when caching is on
    /// although the state has none: only right for a fresh import, since a
    /// block that configuration leaves out must stay out of the state.
    fn refresh_from(&mut self, server: &Map<String, Json>, show_caching: bool) {
        let get_bool = |attribute: &str| match server.get(key(attribute)) {
            Some(Json::Bool(b)) => Attr::Known(*b),
            _ => Attr::Known(false),
        };
        self.id = Attr::Known(SETTINGS_ID.to_owned());
        self.enabled = get_bool("enabled");
        self.gpu_vendor = Attr::Known(match server.get(key("gpu_vendor")) {
            Some(Json::String(s)) => s.clone(),
            _ => String::new(),
        });
        let caching_on = get_bool("caching.enabled");
        let shiftfs = get_bool("caching.auto_load_shiftfs");
        // A block cannot be computed: show it when configuration manages it,
        // or, on import, when caching is on.
        if self.caching.is_some() || (show_caching && caching_on == Attr::Known(true)) {
            let c = self.caching.get_or_insert_with(Caching::default);
            c.enabled = caching_on;
            c.auto_load_shiftfs = shiftfs;
        }
        self.default_to_cvm = get_bool("default_to_cvm");
        self.tun_device = get_bool("tun_device");
        self.fuse_device = get_bool("fuse_device");
        self.self_contained_builds = get_bool("self_contained_builds");
        self.process_logging = get_bool("process_logging");
        if let Attr::Known(extra) = &mut self.extra_settings {
            for (k, v) in extra.iter_mut() {
                let current = server.get(k).cloned().unwrap_or(Json::Null);
                let same = v
                    .known()
                    .and_then(|t| serde_json::from_str::<Json>(t).ok())
                    .is_some_and(|configured| configured == current);
                if !same {
                    *v = Attr::Known(current.to_string());
                }
            }
        }
    }
}

/// Plan-time rules that need no server: caching needs CVMs, GPUs exclude
/// caching, AMD is not supported; warnings for alpha features.
fn check(config: &SettingsModel, diagnostics: &mut Diagnostics) {
    let caching_on = config
        .caching
        .as_ref()
        .is_some_and(|c| c.enabled == Attr::Known(true));
    if caching_on {
        if config.enabled != Attr::Known(true) && !config.enabled.is_unknown() {
            diagnostics.attribute_error(
                AttributePath::attr("caching").attribute("enabled"),
                "Caching Needs CVMs",
                "Cached CVMs are a mode of container-based virtual machines: set enabled = true in this resource, or turn caching off.",
            );
        }
        if config.gpu_vendor.known().is_some_and(|v| !v.is_empty()) {
            diagnostics.attribute_error(
                AttributePath::attr("gpu_vendor"),
                "GPUs Are Not Supported With Cached CVMs",
                "GPUs are not supported with cached CVMs. Set gpu_vendor = \"\" or turn caching off.",
            );
        }
        diagnostics.attribute_warning(
            AttributePath::attr("caching").attribute("enabled"),
            "Cached CVMs Are Alpha",
            "Cached CVMs are an alpha feature. Nodes need the shiftfs kernel module (modinfo shiftfs); if Coder is to load it (auto_load_shiftfs), nodes need their kernel headers installed and secure boot turned off.",
        );
    }
    if let Attr::Known(extra) = &config.extra_settings {
        for (k, v) in extra {
            let path = AttributePath::attr("extra_settings").key(k.clone());
            if let Some(text) = v.known()
                && serde_json::from_str::<Json>(text).is_err()
            {
                diagnostics.attribute_error(
                    path.clone(),
                    "Invalid JSON Value",
                    format!(
                        "extra_settings[{k:?}] must be a JSON-encoded value, e.g. jsonencode(true)."
                    ),
                );
            }
            if let Some(managed) = SETTING_KEYS.iter().find(|m| m.json_key == k) {
                diagnostics.attribute_error(
                    path,
                    "Key Managed By An Attribute",
                    format!(
                        "{k:?} is managed by the {} attribute; set that instead.",
                        managed.attribute
                    ),
                );
            }
        }
    }
}

impl Settings {
    /// Writes the managed keys of `config` and returns the new state and
    /// private state: keys managed for the first time get the value they
    /// had before recorded, so destroy can put it back.
    async fn apply_config(
        ctx: &Ctx<ProviderData>,
        timeout: Duration,
        config: &SettingsModel,
        mut state: SettingsModel,
        mut private: PrivateState,
    ) -> Result<(SettingsModel, PrivateState), CoderError> {
        let managed = config.managed();
        let managed = &managed;
        let (before, after) = with_coder(ctx, timeout, |client| async move {
            Self::write(&client, managed).await
        })
        .await?;
        let mut originals: Map<String, Json> = private.get(BEFORE).unwrap_or_default();
        for k in managed.keys() {
            if !originals.contains_key(k) {
                originals.insert(k.clone(), before.get(k).cloned().unwrap_or(Json::Null));
            }
        }
        // Only plain JSON goes in: setting it cannot fail.
        let _ = private.set(BEFORE, &originals);
        state.refresh_from(&after, false);
        Ok((state, private))
    }

    /// Read-modify-write of the managed keys; returns the settings before
    /// and after.
    async fn write(
        client: &CoderClient,
        managed: &Map<String, Json>,
    ) -> Result<(Map<String, Json>, Map<String, Json>), CoderError> {
        let client = client.v1().await?;
        let before = client.get_workspaces_config().await?;
        let mut next = before.clone();
        for (k, v) in managed {
            next.insert(k.clone(), v.clone());
        }
        if next != before {
            client.put_workspaces_config(&next).await?;
        }
        let after = client.get_workspaces_config().await?;
        Ok((before, after))
    }
}

#[async_trait]
impl Resource for Settings {
    type Data = ProviderData;
    type Model = SettingsModel;

    fn type_name(&self) -> &'static str {
        "cvm_settings"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new(
                "The Coder deployment's container-based virtual machine (CVM) settings, as under \
                 **Manage > Admin > Infrastructure**. A singleton: declare it once per deployment. \
                 Only attributes you set are managed; destroy puts back the values they had before \
                 Terraform managed them.",
            )
            .attribute(
                Attribute::string("id")
                    .computed()
                    .use_state_for_unknown()
                    .description("Always `settings`; also the import id."),
            )
            .attribute(bool_setting(
                "enabled",
                "Enable container-based virtual machines (Sysbox) for workspaces.",
            ))
            .attribute(
                Attribute::string("gpu_vendor")
                    .optional()
                    .computed()
                    .use_state_for_unknown()
                    .validate(validate::one_of(&["", "nvidia"]).rejecting(
                        "amd",
                        "Coder does not support AMD GPUs in CVMs; NVIDIA GPUs are supported on bare-metal clusters only.",
                    ))
                    .description(
                        "GPU vendor for workspaces: `\"nvidia\"` (beta, bare-metal clusters only) or \
                         `\"\"` for none. AMD GPUs are not supported.",
                    ),
            )
            .attribute(bool_setting(
                "default_to_cvm",
                "New workspaces are CVMs unless the user opts out.",
            ))
            .attribute(bool_setting("tun_device", "Give CVMs a TUN device (Kubernetes workspaces only)."))
            .attribute(bool_setting("fuse_device", "Give CVMs a FUSE device (Kubernetes workspaces only)."))
            .attribute(bool_setting(
                "self_contained_builds",
                "Build workspaces without reaching the Coder deployment's image cache.",
            ))
            .attribute(bool_setting("process_logging", "Log processes started in workspaces."))
            .attribute(
                Attribute::map("extra_settings", Type::String)
                    .optional()
                    .description(
                        "Other keys of `/api/v0/workspaces/config`, each a JSON-encoded value \
                         (`jsonencode(true)`), for settings this resource has no attribute for.",
                    ),
            )
            .block(NestedBlock::single(
                "caching",
                Block::new(
                    "Cached CVMs (alpha): faster CVM start-up. Nodes need the shiftfs kernel module.",
                )
                .attribute(
                    Attribute::bool("enabled")
                        .required()
                        .description("Turn cached CVMs on. Needs `enabled = true`; not with GPUs."),
                )
                .attribute(
                    Attribute::bool("auto_load_shiftfs")
                        .optional()
                        .computed()
                        .use_state_for_unknown()
                        .description(
                            "Let Coder load the shiftfs module on nodes (needs kernel headers and secure boot off).",
                        ),
                ),
            ))
            .block(Timeouts::block_all(DEFAULT_TIMEOUT)),
        )
    }

    async fn validate(&self, config: &SettingsModel, diagnostics: &mut Diagnostics) {
        check(config, diagnostics);
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        request: CreateRequest<SettingsModel>,
        response: &mut CreateResponse<SettingsModel>,
    ) {
        let config = &request.config;
        let timeout = Timeouts::get(config.timeouts.as_ref(), Operation::Create, DEFAULT_TIMEOUT);
        let applied = Self::apply_config(
            ctx,
            timeout,
            config,
            request.plan.clone(),
            PrivateState::default(),
        )
        .await;
        match applied {
            Ok((state, private)) => {
                response.state = Some(state);
                response.private = private;
            }
            Err(e) => response.diagnostics.push(e.to_diagnostic(None)),
        }
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        request: ReadRequest<SettingsModel>,
        response: &mut ReadResponse<SettingsModel>,
    ) {
        let timeout = Timeouts::get(
            request.state.timeouts.as_ref(),
            Operation::Read,
            DEFAULT_TIMEOUT,
        );
        let result = with_coder(ctx, timeout, |client| async move {
            client.v1().await?.get_workspaces_config().await
        })
        .await;
        match result {
            Ok(server) => {
                let mut state = request.state;
                // Only an imported state has `enabled` null: every other
                // state was refreshed from the server.
                let imported = state.enabled.is_null();
                state.refresh_from(&server, imported);
                response.state = Some(state);
            }
            Err(e) => response.diagnostics.push(e.to_diagnostic(None)),
        }
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        request: UpdateRequest<SettingsModel>,
        response: &mut UpdateResponse<SettingsModel>,
    ) {
        let config = &request.config;
        let timeout = Timeouts::get(config.timeouts.as_ref(), Operation::Update, DEFAULT_TIMEOUT);
        let applied = Self::apply_config(
            ctx,
            timeout,
            config,
            request.plan.clone(),
            request.private.clone(),
        )
        .await;
        match applied {
            Ok((state, private)) => {
                response.state = Some(state);
                response.private = private;
            }
            Err(e) => response.diagnostics.push(e.to_diagnostic(None)),
        }
    }

    async fn delete(
        &self,
        ctx: &Ctx<ProviderData>,
        request: DeleteRequest<SettingsModel>,
        response: &mut DeleteResponse,
    ) {
        let timeout = Timeouts::get(
            request.prior.timeouts.as_ref(),
            Operation::Delete,
            DEFAULT_TIMEOUT,
        );
        let originals: Map<String, Json> = request.private.get(BEFORE).unwrap_or_default();
        // Keys whose original was absent (null) are left as they are.
        let restore: Map<String, Json> = originals
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .collect();
        if restore.is_empty() {
            return;
        }
        let restore = &restore;

        let result = with_coder(ctx, timeout, |client| async move {
            Self::write(&client, restore).await
        })
        .await;
        if let Err(e) = result {
            response.diagnostics.push(e.to_diagnostic(None));
        }
    }

    fn import(&self) -> Import {
        Import::Passthrough("id")
    }
}

/// The private state a settings resource keeps (exposed for tests).
pub fn originals(private: &PrivateState) -> Map<String, Json> {
    private.get(BEFORE).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SettingsModel {
        SettingsModel {
            enabled: Attr::Known(true),
            ..Default::default()
        }
    }

    fn errors_at(d: &Diagnostics) -> Vec<String> {
        crate::resources::error_paths(d)
    }

    #[test]
    fn key_table_is_unique_and_covers_every_bool_attribute() {
        let mut keys: Vec<_> = SETTING_KEYS.iter().map(|k| k.json_key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SETTING_KEYS.len());
        let schema = Settings.schema();
        for k in SETTING_KEYS {
            let top = k.attribute.split('.').next().unwrap_or_default();
            let found = schema.block.get_attribute(top).is_some()
                || schema.block.blocks.iter().any(|b| b.type_name == top);
            assert!(found, "{} has no attribute", k.attribute);
        }
    }

    #[test]
    fn caching_needs_cvms_and_excludes_gpus() {
        let mut c = config();
        c.enabled = Attr::Known(false);
        c.gpu_vendor = Attr::Known("nvidia".into());
        c.caching = Some(Caching {
            enabled: Attr::Known(true),
            auto_load_shiftfs: Attr::Null,
        });
        let mut d = Diagnostics::new();
        check(&c, &mut d);
        assert_eq!(errors_at(&d), vec!["caching.enabled", "gpu_vendor"]);
        assert!(
            d.iter()
                .any(|d| !d.is_error() && d.summary.contains("Alpha"))
        );
    }

    #[test]
    fn unknown_enabled_is_not_an_error_yet() {
        let mut c = config();
        c.enabled = Attr::Unknown;
        c.caching = Some(Caching {
            enabled: Attr::Known(true),
            auto_load_shiftfs: Attr::Null,
        });
        let mut d = Diagnostics::new();
        check(&c, &mut d);
        assert!(errors_at(&d).is_empty());
    }

    #[test]
    fn extra_settings_must_be_json_and_not_a_managed_key() {
        let mut c = config();
        c.extra_settings = Attr::Known(BTreeMap::from([
            ("a".to_owned(), Attr::Known("not json".to_owned())),
            (
                "enable_container_vms".to_owned(),
                Attr::Known("true".to_owned()),
            ),
        ]));
        let mut d = Diagnostics::new();
        check(&c, &mut d);
        assert_eq!(
            errors_at(&d),
            vec![
                "extra_settings[\"a\"]",
                "extra_settings[\"enable_container_vms\"]"
            ]
        );
    }

    #[test]
    fn managed_keys_follow_configuration_only() {
        let mut c = config();
        c.caching = Some(Caching {
            enabled: Attr::Known(true),
            auto_load_shiftfs: Attr::Null,
        });
        c.extra_settings = Attr::Known(BTreeMap::from([(
            "enable_p2p".to_owned(),
            Attr::Known("true".to_owned()),
        )]));
        let m = c.managed();
        assert_eq!(m.get("enable_container_vms"), Some(&Json::Bool(true)));
        assert_eq!(m.get("enable_cvm_caching"), Some(&Json::Bool(true)));
        assert_eq!(m.get("enable_p2p"), Some(&Json::Bool(true)));
        assert!(!m.contains_key("enable_shiftfs_auto_load"));
        assert!(!m.contains_key("gpu_vendor"));
    }

    #[test]
    fn refresh_keeps_equivalent_extra_spelling_and_shows_drift() {
        let mut c = config();
        c.extra_settings = Attr::Known(BTreeMap::from([
            ("a".to_owned(), Attr::Known("{ \"x\": 1 }".to_owned())),
            ("b".to_owned(), Attr::Known("true".to_owned())),
        ]));
        let server: Map<String, Json> = serde_json::from_str(
            r#"{"enable_container_vms": false, "a": {"x": 1}, "b": false, "enable_cvm_caching": true}"#,
        )
        .expect("JSON");
        c.refresh_from(&server, true);
        assert_eq!(c.enabled, Attr::Known(false));
        let extra = c.extra_settings.known().cloned().unwrap_or_default();
        assert_eq!(extra["a"], Attr::Known("{ \"x\": 1 }".to_owned()));
        assert_eq!(extra["b"], Attr::Known("false".to_owned()));
        // Caching on at the server shows the block even when unmanaged.
        assert_eq!(c.caching.map(|c| c.enabled), Some(Attr::Known(true)));
    }
}
