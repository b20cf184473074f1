//! The Coder v2 API: organizations, files (template sources as tar
//! archives), template versions with their import jobs and logs, and
//! templates.
//!
//! A template version is made from an uploaded archive; Coder's
//! provisioner then runs Terraform on it (the import job), and only a
//! version whose job succeeded can become a template's active version.

mod types;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use types::{JobLog, WorkspaceList};
pub use types::{Organization, Template, TemplateMeta, TemplateVersion, VersionVariable};

use super::client::{Body, CoderClient};
use super::error::CoderError;

/// Longest pause between two looks at a running import job.
const MAX_POLL: Duration = Duration::from_secs(2);
/// Most lines of the provisioner's log put in an error.
const MAX_LOG_LINES: usize = 40;
/// Most workspaces named when a template cannot be deleted.
const MAX_NAMED_WORKSPACES: usize = 10;
/// The fields of `PATCH /api/v2/templates/{id}` a template also has. Coder
/// replaces rather than merges: a field left out is set to its zero value,
/// so an update sends every one of them, as Coder has it unless changed.
const PATCHED_FIELDS: [&str; 19] = [
    "name",
    "display_name",
    "description",
    "icon",
    "default_ttl_ms",
    "activity_bump_ms",
    "autostop_requirement",
    "autostart_requirement",
    "allow_user_autostart",
    "allow_user_autostop",
    "allow_user_cancel_workspace_jobs",
    "failure_ttl_ms",
    "time_til_dormant_ms",
    "time_til_dormant_autodelete_ms",
    "require_active_version",
    "deprecation_message",
    "max_port_share_level",
    "cors_behavior",
    "use_classic_parameter_flow",
];

/// The API of a deployment known to be Coder v2 (from
/// [`CoderClient::v2`]).
#[derive(Clone, Debug)]
pub struct CoderV2 {
    client: CoderClient,
    version: String,
}

impl CoderV2 {
    pub(in crate::coder) fn new(client: CoderClient, version: String) -> CoderV2 {
        CoderV2 { client, version }
    }

    /// The deployment's version, e.g. `2.30.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The organization named `name` (a name or an id), or the default one.
    pub async fn organization(&self, name: Option<&str>) -> Result<Organization, CoderError> {
        if let Some(name) = name {
            let url = self.client.endpoint(&["api", "v2", "organizations", name]);
            return self.client.call(Method::GET, url, None).await?.json();
        }
        let url = self.client.endpoint(&["api", "v2", "organizations"]);
        let all: Vec<Organization> = self
            .client
            .call(Method::GET, url.clone(), None)
            .await?
            .json()?;
        all.into_iter()
            .find(|org| org.is_default)
            .ok_or_else(|| CoderError::NotFound {
                method: Method::GET,
                url: url.to_string(),
                msg: "no organization is the default one".into(),
            })
    }

    /// `POST /api/v2/files`: uploads a tar archive and returns its id.
    /// Coder keeps files by content, so uploading the same bytes again
    /// returns the same id (and is safe to retry).
    pub async fn upload(&self, tar: Vec<u8>) -> Result<String, CoderError> {
        let url = self.client.endpoint(&["api", "v2", "files"]);
        let reply = self
            .client
            .call(
                Method::POST,
                url,
                Some(Body::bytes("application/x-tar", tar)),
            )
            .await?;
        let uploaded: types::Uploaded = reply.json()?;
        Ok(uploaded.hash)
    }

    /// `GET /api/v2/files/{id}`: an uploaded archive.
    pub async fn download(&self, file_id: &str) -> Result<Vec<u8>, CoderError> {
        let url = self.client.endpoint(&["api", "v2", "files", file_id]);
        Ok(self.client.call(Method::GET, url, None).await?.body)
    }

    /// Makes a template version of the archive `file_id` in the
    /// organization (for the template `template_id`, if given), and follows
    /// its import job until it ends. A job that fails or is canceled gives
    /// [`CoderError::ImportFailed`] with the provisioner's error log; one
    /// still running at the deadline gives [`CoderError::ImportTimedOut`].
    pub async fn import_version(
        &self,
        organization_id: &str,
        template_id: Option<&str>,
        file_id: &str,
        variables: &BTreeMap<String, String>,
    ) -> Result<TemplateVersion, CoderError> {
        let url = self.client.endpoint(&[
            "api",
            "v2",
            "organizations",
            organization_id,
            "templateversions",
        ]);
        let mut body = json!({
            "storage_method": "file",
            "provisioner": "terraform",
            "file_id": file_id,
            "user_variable_values": variables
                .iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect::<Vec<_>>(),
        });
        if let Some(template_id) = template_id {
            body["template_id"] = Value::String(template_id.to_owned());
        }
        let created: TemplateVersion = self
            .client
            .call(Method::POST, url, Some(Body::json(&body)))
            .await?
            .json()?;
        tracing::debug!(version = %created.name, id = %created.id, "template version created; following its import job");
        self.wait_for_import(created).await
    }

    async fn wait_for_import(
        &self,
        mut version: TemplateVersion,
    ) -> Result<TemplateVersion, CoderError> {
        let deadline = self.client.deadline();
        let mut pause = Duration::from_millis(200);
        loop {
            match version.job.status.as_str() {
                "succeeded" => return Ok(version),
                "failed" | "canceled" => {
                    let log = self.error_log(&version.id).await.unwrap_or_default();
                    return Err(CoderError::ImportFailed {
                        id: version.id,
                        version: version.name,
                        status: version.job.status,
                        error: version.job.error,
                        log,
                    });
                }
                _ => {}
            }
            if Instant::now() + pause >= deadline {
                return Err(CoderError::ImportTimedOut {
                    version: version.name,
                    status: version.job.status,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_POLL);
            version = self.template_version(&version.id).await?;
        }
    }

    /// The error lines of a version's import log (or its last lines when
    /// none is marked as an error).
    async fn error_log(&self, version_id: &str) -> Result<Vec<String>, CoderError> {
        let url = self
            .client
            .endpoint(&["api", "v2", "templateversions", version_id, "logs"]);
        let logs: Vec<JobLog> = self.client.call(Method::GET, url, None).await?.json()?;
        let errors: Vec<String> = logs
            .iter()
            .filter(|line| line.log_level == "error" && !line.output.trim().is_empty())
            .map(|line| line.output.trim_end().to_owned())
            .collect();
        let lines = if errors.is_empty() {
            logs.iter()
                .map(|line| line.output.trim_end().to_owned())
                .collect()
        } else {
            errors
        };
        let skip = lines.len().saturating_sub(MAX_LOG_LINES);
        Ok(lines.into_iter().skip(skip).collect())
    }

    /// `GET /api/v2/templateversions/{id}`.
    pub async fn template_version(&self, id: &str) -> Result<TemplateVersion, CoderError> {
        let url = self.client.endpoint(&["api", "v2", "templateversions", id]);
        self.client.call(Method::GET, url, None).await?.json()
    }

    /// `GET /api/v2/templateversions/{id}/variables`.
    pub async fn version_variables(&self, id: &str) -> Result<Vec<VersionVariable>, CoderError> {
        let url = self
            .client
            .endpoint(&["api", "v2", "templateversions", id, "variables"]);
        self.client.call(Method::GET, url, None).await?.json()
    }

    /// `POST /api/v2/templateversions/{id}/archive`: hides a version that
    /// is not active (a failed import, say) from Coder's version list.
    pub async fn archive_version(&self, id: &str) -> Result<(), CoderError> {
        let url = self
            .client
            .endpoint(&["api", "v2", "templateversions", id, "archive"]);
        self.client
            .call(Method::POST, url, Some(Body::json(&json!({}))))
            .await
            .map(drop)
    }

    /// `POST /api/v2/organizations/{org}/templates`: a template whose
    /// active version is `version_id`.
    pub async fn create_template(
        &self,
        organization_id: &str,
        version_id: &str,
        meta: &TemplateMeta,
    ) -> Result<Template, CoderError> {
        let url =
            self.client
                .endpoint(&["api", "v2", "organizations", organization_id, "templates"]);
        let mut body = json!({
            "name": meta.name,
            "display_name": meta.display_name,
            "description": meta.description,
            "icon": meta.icon,
            "template_version_id": version_id,
        });
        if let Some(ttl) = meta.default_ttl_ms {
            body["default_ttl_ms"] = json!(ttl);
        }
        let reply = self
            .client
            .call(Method::POST, url, Some(Body::json(&body)))
            .await?;
        Template::from_json(reply.json()?).map_err(|source| reply.invalid(source))
    }

    /// `GET /api/v2/templates/{id}`; `None` when Coder answers 404.
    pub async fn template(&self, id: &str) -> Result<Option<Template>, CoderError> {
        if id.is_empty() {
            return Ok(None);
        }
        let url = self.client.endpoint(&["api", "v2", "templates", id]);
        self.find_template(url).await
    }

    /// `GET /api/v2/organizations/{org}/templates/{name}`; `None` when Coder
    /// answers 404.
    pub async fn template_by_name(
        &self,
        organization: &str,
        name: &str,
    ) -> Result<Option<Template>, CoderError> {
        let url = self.client.endpoint(&[
            "api",
            "v2",
            "organizations",
            organization,
            "templates",
            name,
        ]);
        self.find_template(url).await
    }

    async fn find_template(&self, url: url::Url) -> Result<Option<Template>, CoderError> {
        match self.client.call(Method::GET, url, None).await {
            Ok(reply) => Template::from_json(reply.json()?)
                .map(Some)
                .map_err(|source| reply.invalid(source)),
            Err(CoderError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `PATCH /api/v2/templates/{id}` with `meta` and, for every other
    /// field, the value `current` has (Coder sets a field left out to its
    /// zero value). Coder answers 304 when nothing changes.
    pub async fn update_template_meta(
        &self,
        current: &Template,
        meta: &TemplateMeta,
    ) -> Result<(), CoderError> {
        let body = patch_body(current, meta);
        let url = self
            .client
            .endpoint(&["api", "v2", "templates", &current.id]);
        self.client
            .call(Method::PATCH, url, Some(Body::json(&body)))
            .await
            .map(drop)
    }

    /// `PATCH /api/v2/templates/{id}/versions`: makes `version_id` the
    /// template's active version.
    pub async fn activate_version(
        &self,
        template_id: &str,
        version_id: &str,
    ) -> Result<(), CoderError> {
        let url = self
            .client
            .endpoint(&["api", "v2", "templates", template_id, "versions"]);
        self.client
            .call(
                Method::PATCH,
                url,
                Some(Body::json(&json!({"id": version_id}))),
            )
            .await
            .map(drop)
    }

    /// `DELETE /api/v2/templates/{id}`. A template already gone counts as
    /// deleted; one that workspaces still use gives
    /// [`CoderError::TemplateInUse`] naming them.
    pub async fn delete_template(&self, template: &Template) -> Result<(), CoderError> {
        let url = self
            .client
            .endpoint(&["api", "v2", "templates", &template.id]);
        match self.client.call(Method::DELETE, url, None).await {
            Ok(_) | Err(CoderError::NotFound { .. }) => Ok(()),
            Err(error @ CoderError::Api { status, .. }) if status == StatusCode::BAD_REQUEST => {
                match self.in_use(template).await? {
                    Some(in_use) => Err(in_use),
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// [`CoderError::TemplateInUse`] naming the workspaces that use
    /// `template`, or `None` when none does.
    pub async fn in_use(&self, template: &Template) -> Result<Option<CoderError>, CoderError> {
        let users = self.workspaces_of(template).await?;
        Ok((users.count > 0).then(|| CoderError::TemplateInUse {
            template: template.name.clone(),
            count: users.count,
            workspaces: users.names,
        }))
    }

    async fn workspaces_of(&self, template: &Template) -> Result<Users, CoderError> {
        let mut url = self.client.endpoint(&["api", "v2", "workspaces"]);
        url.query_pairs_mut()
            .append_pair("q", &format!("template:{}", template.name))
            .append_pair("limit", "100");
        let list: WorkspaceList = self.client.call(Method::GET, url, None).await?.json()?;
        let of_template: Vec<_> = list
            .workspaces
            .into_iter()
            .filter(|w| w.template_id == template.id)
            .collect();
        Ok(Users {
            count: of_template.len(),
            names: of_template
                .iter()
                .take(MAX_NAMED_WORKSPACES)
                .map(|w| format!("{}/{}", w.owner_name, w.name))
                .collect(),
        })
    }
}

/// The workspaces that use a template.
struct Users {
    count: usize,
    names: Vec<String>,
}

/// The body of a template update: `meta` over the template's own values.
fn patch_body(current: &Template, meta: &TemplateMeta) -> Map<String, Value> {
    let mut body = Map::new();
    for field in PATCHED_FIELDS {
        if let Some(value) = current.raw.get(field) {
            body.insert(field.to_owned(), value.clone());
        }
    }
    body.insert("name".into(), json!(meta.name));
    body.insert("display_name".into(), json!(meta.display_name));
    body.insert("description".into(), json!(meta.description));
    body.insert("icon".into(), json!(meta.icon));
    if let Some(ttl) = meta.default_ttl_ms {
        body.insert("default_ttl_ms".into(), json!(ttl));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_sends_every_field_it_does_not_change() {
        let raw = json!({
            "id": "t1", "name": "old", "organization_id": "o", "organization_name": "coder",
            "active_version_id": "v1", "display_name": "Old", "description": "d", "icon": "",
            "default_ttl_ms": 3_600_000, "activity_bump_ms": 3_600_000,
            "allow_user_autostart": true, "allow_user_autostop": true,
            "allow_user_cancel_workspace_jobs": false, "failure_ttl_ms": 0,
            "time_til_dormant_ms": 0, "time_til_dormant_autodelete_ms": 0,
            "require_active_version": false, "deprecation_message": "",
            "max_port_share_level": "owner", "cors_behavior": "simple",
            "use_classic_parameter_flow": false,
            "autostop_requirement": {"days_of_week": [], "weeks": 1},
            "autostart_requirement": {"days_of_week": ["monday"]},
            "active_user_count": 3, "build_time_stats": {}
        });
        let template = Template::from_json(raw).unwrap();
        let meta = TemplateMeta {
            name: "new".into(),
            display_name: "New".into(),
            description: String::new(),
            icon: "/icon/k8s.png".into(),
            default_ttl_ms: None,
        };
        let body = patch_body(&template, &meta);
        assert_eq!(body.len(), PATCHED_FIELDS.len());
        assert_eq!(body["name"], json!("new"));
        assert_eq!(body["description"], json!(""));
        assert_eq!(body["default_ttl_ms"], json!(3_600_000));
        assert_eq!(body["allow_user_autostart"], json!(true));
        assert_eq!(
            body["autostart_requirement"],
            json!({"days_of_week": ["monday"]})
        );
        assert!(!body.contains_key("active_user_count"));
    }
}
