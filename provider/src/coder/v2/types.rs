//! Wire types of the Coder v2 API, with only the fields this provider
//! reads (Coder's answers carry many more, which are ignored).

use serde::Deserialize;
use serde_json::{Map, Value};

/// An organization (`/api/v2/organizations`).
#[derive(Clone, Debug, Deserialize)]
pub struct Organization {
    /// Its id (a UUID).
    pub id: String,
    /// Its name, unique in the deployment.
    pub name: String,
    /// Whether it is the deployment's default organization.
    #[serde(default)]
    pub is_default: bool,
}

/// `{"hash": ...}`: the answer to a file upload.
#[derive(Deserialize)]
pub(super) struct Uploaded {
    pub(super) hash: String,
}

/// A template version (`/api/v2/templateversions/{id}`).
#[derive(Clone, Debug, Deserialize)]
pub struct TemplateVersion {
    /// Its id (a UUID).
    pub id: String,
    /// Its name (Coder makes one up when none is given).
    pub name: String,
    /// The uploaded archive's id, where Coder reports it.
    #[serde(default)]
    pub file_id: Option<String>,
    /// Its import job.
    pub job: Job,
}

/// A provisioner job: Coder running Terraform.
#[derive(Clone, Debug, Deserialize)]
pub struct Job {
    /// `pending`, `running`, `succeeded`, `canceling`, `canceled` or
    /// `failed`.
    pub status: String,
    /// Why it failed (empty otherwise).
    #[serde(default)]
    pub error: String,
    /// The archive it ran on.
    #[serde(default)]
    pub file_id: String,
}

/// One line of a job's log.
#[derive(Deserialize)]
pub(super) struct JobLog {
    #[serde(default)]
    pub(super) log_level: String,
    #[serde(default)]
    pub(super) output: String,
}

/// A template version's Terraform variable, with the value it was given.
#[derive(Clone, Debug, Deserialize)]
pub struct VersionVariable {
    /// The variable's name.
    pub name: String,
    /// Its value in this version (Coder hides sensitive ones).
    #[serde(default)]
    pub value: String,
    /// Its default in the template's code.
    #[serde(default)]
    pub default_value: String,
    /// Whether it is sensitive.
    #[serde(default)]
    pub sensitive: bool,
}

/// A template (`/api/v2/templates/{id}`): the fields read, and the whole
/// object as Coder sent it (an update sends most of it back).
#[derive(Clone, Debug)]
pub struct Template {
    /// Its id (a UUID).
    pub id: String,
    /// Its name, unique in the organization.
    pub name: String,
    /// The organization's id.
    pub organization_id: String,
    /// The organization's name.
    pub organization_name: String,
    /// The version new workspaces are built from.
    pub active_version_id: String,
    /// Name shown in Coder's UI.
    pub display_name: String,
    /// Description shown in Coder's UI.
    pub description: String,
    /// Icon URL or path.
    pub icon: String,
    /// Default time a workspace stays up, in milliseconds.
    pub default_ttl_ms: i64,
    /// The whole object.
    pub(super) raw: Map<String, Value>,
}

/// The typed part of [`Template`].
#[derive(Deserialize)]
struct TemplateFields {
    id: String,
    name: String,
    organization_id: String,
    #[serde(default)]
    organization_name: String,
    active_version_id: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    icon: String,
    #[serde(default)]
    default_ttl_ms: i64,
}

impl Template {
    /// A template from Coder's JSON, for tests elsewhere in the crate.
    #[cfg(test)]
    pub(crate) fn from_json_for_tests(value: Value) -> Template {
        Template::from_json(value).expect("a template's JSON")
    }

    /// A template from Coder's JSON.
    pub(super) fn from_json(value: Value) -> Result<Template, serde_json::Error> {
        let fields = TemplateFields::deserialize(&value)?;
        let raw = match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Ok(Template {
            id: fields.id,
            name: fields.name,
            organization_id: fields.organization_id,
            organization_name: fields.organization_name,
            active_version_id: fields.active_version_id,
            display_name: fields.display_name,
            description: fields.description,
            icon: fields.icon,
            default_ttl_ms: fields.default_ttl_ms,
            raw,
        })
    }
}

/// What `cvm_coder_template` manages of a template besides its versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateMeta {
    /// Name, unique in the organization.
    pub name: String,
    /// Name shown in the UI (`""`: the name).
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Icon URL or path.
    pub icon: String,
    /// Default workspace time to live; `None` leaves Coder's.
    pub default_ttl_ms: Option<i64>,
}

/// `GET /api/v2/workspaces`.
#[derive(Deserialize)]
pub(super) struct WorkspaceList {
    #[serde(default)]
    pub(super) workspaces: Vec<WorkspaceEntry>,
}

/// A workspace in a [`WorkspaceList`].
#[derive(Deserialize)]
pub(super) struct WorkspaceEntry {
    pub(super) name: String,
    #[serde(default)]
    pub(super) owner_name: String,
    #[serde(default)]
    pub(super) template_id: String,
}
