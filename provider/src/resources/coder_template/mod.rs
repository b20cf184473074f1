//! `cvm_coder_template`: a Coder v2 template managed declaratively.
//!
//! Coder v2 has no deployment-wide CVM switch: CVMs are chosen per
//! template (a workspace pod with the `sysbox-runc` runtime class, or
//! envbox). This resource pushes a template's files as a version, waits for
//! Coder's provisioner to import it, and keeps that version active.
//!
//! * The files and variables are hashed at plan time (`content_hash`): a
//!   new version is made only when the hash changes, never on a re-plan.
//! * Display name, description, icon and TTL change in place.
//! * A version activated outside Terraform shows as drift of
//!   `active_version_id` and is activated again; a template deleted
//!   outside is created again.
//! * A failed import is an error carrying the provisioner's log, and the
//!   template keeps the version it had.

mod content;
mod schema;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_framework::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, Import, PlanRequest,
    PlanResponse, ReadRequest, ReadResponse, UpdateRequest, UpdateResponse,
};
use tf_framework::schema::Schema;
use tf_framework::timeouts::Operation;
use tf_framework::{Ctx, Resource, Timeouts, ToDiagnostic};
use tf_protocol::value::Attr;
use tf_protocol::{AttributePath, Diagnostics};

use crate::coder::CoderError;
use crate::coder::v2::{Template, TemplateMeta};
use crate::provider::ProviderData;
use crate::resources::with_coder;
use content::{Content, ContentError};

/// Time for each operation unless `timeouts` says otherwise: an import runs
/// Terraform, which may install providers.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a destroy plan may spend asking which workspaces use the
/// template.
const PLAN_DESTROY_TIMEOUT: Duration = Duration::from_secs(30);
/// Coder's limits on template names and descriptions.
const MAX_NAME: usize = 32;
const MAX_DESCRIPTION: usize = 128;

/// Template variable values, by name.
type Variables = BTreeMap<String, String>;

/// The `cvm_coder_template` resource.
#[derive(Debug, Default)]
pub struct CoderTemplateResource;

/// State and configuration of `cvm_coder_template`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoderTemplateModel {
    /// Coder's id of the template.
    pub id: Attr<String>,
    /// The organization's name (or id, as configured).
    pub organization: Attr<String>,
    /// The organization's id.
    pub organization_id: Attr<String>,
    /// Template name.
    pub name: Attr<String>,
    /// Name shown in the UI.
    pub display_name: Attr<String>,
    /// Description.
    pub description: Attr<String>,
    /// Icon.
    pub icon: Attr<String>,
    /// Default workspace TTL in milliseconds.
    pub default_ttl_ms: Attr<i64>,
    /// Files by path.
    pub files: Attr<BTreeMap<String, String>>,
    /// A directory of files.
    pub directory: Attr<String>,
    /// Terraform variable values.
    pub variables: Attr<BTreeMap<String, String>>,
    /// Hash of the files and variables of `version_id`.
    pub content_hash: Attr<String>,
    /// The version made from this content.
    pub version_id: Attr<String>,
    /// The template's active version.
    pub active_version_id: Attr<String>,
    /// Time limits.
    pub timeouts: Option<Timeouts>,
}

impl CoderTemplateModel {
    /// Takes what Coder says of the template (the organization only when
    /// not configured: it may be given by id).
    fn adopt(&mut self, template: &Template) {
        self.id = Attr::Known(template.id.clone());
        if !self.organization.is_known() {
            self.organization = Attr::Known(template.organization_name.clone());
        }
        self.organization_id = Attr::Known(template.organization_id.clone());
        self.name = Attr::Known(template.name.clone());
        self.display_name = Attr::Known(template.display_name.clone());
        self.description = Attr::Known(template.description.clone());
        self.icon = Attr::Known(template.icon.clone());
        self.default_ttl_ms = Attr::Known(template.default_ttl_ms);
        self.active_version_id = Attr::Known(template.active_version_id.clone());
    }

    /// The metadata to give the template.
    fn meta(&self) -> TemplateMeta {
        let text = |attr: &Attr<String>| attr.known().cloned().unwrap_or_default();
        TemplateMeta {
            name: text(&self.name),
            display_name: text(&self.display_name),
            description: text(&self.description),
            icon: text(&self.icon),
            default_ttl_ms: self.default_ttl_ms.known().copied(),
        }
    }

    /// Where errors about the content belong.
    fn content_path(&self) -> AttributePath {
        if self.directory.is_null() {
            AttributePath::attr("files")
        } else {
            AttributePath::attr("directory")
        }
    }

    /// The content and variables; `Ok(None)` while either is unknown.
    fn content(&self) -> Result<Option<(Content, Variables)>, ContentError> {
        let variables = match &self.variables {
            Attr::Unknown => return Ok(None),
            Attr::Null => BTreeMap::new(),
            Attr::Known(variables) => variables.clone(),
        };
        let content = match (&self.files, &self.directory) {
            (Attr::Known(files), _) => Content::from_map(files)?,
            (_, Attr::Known(dir)) => Content::from_directory(std::path::Path::new(dir))?,
            _ => return Ok(None),
        };
        Ok(Some((content, variables)))
    }
}

/// What the meta of `template` is, to compare with a planned one.
fn meta_of(template: &Template, planned: &TemplateMeta) -> TemplateMeta {
    TemplateMeta {
        name: template.name.clone(),
        display_name: template.display_name.clone(),
        description: template.description.clone(),
        icon: template.icon.clone(),
        default_ttl_ms: planned.default_ttl_ms.map(|_| template.default_ttl_ms),
    }
}

/// Checks beyond the attributes' own validators.
fn check(config: &CoderTemplateModel, diagnostics: &mut Diagnostics) {
    // An unknown source may turn out null: the conflict is checked once
    // both are known (validation runs again at plan and apply).
    let both_known = !config.files.is_unknown() && !config.directory.is_unknown();
    match (config.files.is_null(), config.directory.is_null()) {
        (false, false) if both_known => diagnostics.attribute_error(
            AttributePath::attr("directory"),
            "Two Sources of Template Files",
            "Set exactly one of files and directory.",
        ),
        (true, true) => diagnostics.attribute_error(
            AttributePath::attr("files"),
            "Missing Template Files",
            "Set files (a map of relative path to content) or directory (a directory of \
             template files).",
        ),
        _ => {}
    }
    if let Attr::Known(files) = &config.files {
        for path in files.keys() {
            if let Err(error) = content::check_path(path) {
                diagnostics.push(error.to_diagnostic(Some(AttributePath::attr("files").key(path))));
            }
        }
    }
    if let Attr::Known(name) = &config.name
        && name.chars().count() > MAX_NAME
    {
        diagnostics.attribute_error(
            AttributePath::attr("name"),
            "Template Name Too Long",
            format!(
                "Coder allows template names of at most {MAX_NAME} characters; {name:?} has more."
            ),
        );
    }
    if let Attr::Known(description) = &config.description
        && description.chars().count() > MAX_DESCRIPTION
    {
        diagnostics.attribute_error(
            AttributePath::attr("description"),
            "Description Too Long",
            format!("Coder allows template descriptions of at most {MAX_DESCRIPTION} characters."),
        );
    }
}

/// The diagnostic for a failed call: an import failure belongs to the
/// content attribute, the rest to the resource.
fn coder_diagnostic(error: &CoderError, model: &CoderTemplateModel) -> tf_protocol::Diagnostic {
    match error {
        CoderError::ImportFailed { .. } => error.to_diagnostic(Some(model.content_path())),
        _ => error.to_diagnostic(None),
    }
}

/// The content to push at apply, which must be what the plan hashed.
fn content_to_push(
    config: &CoderTemplateModel,
    plan: &CoderTemplateModel,
    diagnostics: &mut Diagnostics,
) -> Option<(Content, Variables, String)> {
    let (content, variables) = match config.content() {
        Ok(Some(found)) => found,
        Ok(None) => {
            diagnostics.attribute_error(
                config.content_path(),
                "Template Files Unknown at Apply",
                "The template's files or variables are still unknown at apply; this is a bug in \
                 Terraform or the provider.",
            );
            return None;
        }
        Err(error) => {
            diagnostics.push(error.to_diagnostic(Some(config.content_path())));
            return None;
        }
    };
    let hash = content.hash(&variables);
    if let Attr::Known(planned) = &plan.content_hash
        && planned != &hash
    {
        diagnostics.attribute_error(
            config.content_path(),
            "Template Files Changed During Apply",
            "The template's files are not those the plan was made from (the directory changed \
             after the plan). Plan again.",
        );
        return None;
    }
    Some((content, variables, hash))
}

#[async_trait]
impl Resource for CoderTemplateResource {
    type Data = ProviderData;
    type Model = CoderTemplateModel;

    fn type_name(&self) -> &'static str {
        "cvm_coder_template"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn validate(&self, config: &CoderTemplateModel, diagnostics: &mut Diagnostics) {
        check(config, diagnostics);
    }

    async fn modify_plan(
        &self,
        _ctx: &Ctx<ProviderData>,
        request: PlanRequest<'_, CoderTemplateModel>,
        response: &mut PlanResponse<CoderTemplateModel>,
    ) {
        let hash = match request.config.content() {
            Ok(found) => found.map(|(content, variables)| content.hash(&variables)),
            Err(error) => {
                response
                    .diagnostics
                    .push(error.to_diagnostic(Some(request.config.content_path())));
                return;
            }
        };
        let plan = &mut response.plan;
        match (request.prior, hash) {
            // Same content: keep our version, and make it active again if
            // another one was activated outside Terraform.
            (Some(prior), Some(hash)) if prior.content_hash.known() == Some(&hash) => {
                plan.content_hash = Attr::Known(hash);
                plan.version_id = prior.version_id.clone();
                plan.active_version_id = prior.version_id.clone();
            }
            (_, hash) => {
                plan.content_hash = hash.map_or(Attr::Unknown, Attr::Known);
                plan.version_id = Attr::Unknown;
                plan.active_version_id = Attr::Unknown;
            }
        }
    }

    /// Warns when workspaces use the template: Coder will refuse the
    /// delete. A failure to ask is only logged (the plan is not the place
    /// to fail on it; the delete says what Coder says).
    async fn plan_destroy(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: &CoderTemplateModel,
        diagnostics: &mut Diagnostics,
    ) {
        let id = prior.id.known().cloned().unwrap_or_default();
        let id = &id;
        let result = with_coder(ctx, PLAN_DESTROY_TIMEOUT, |client| async move {
            let v2 = client.v2().await?;
            match v2.template(id).await? {
                Some(template) => v2.in_use(&template).await,
                None => Ok(None),
            }
        })
        .await;
        match result {
            Ok(Some(in_use)) => {
                let error = in_use.to_diagnostic(None);
                diagnostics.push(tf_protocol::Diagnostic::warning(
                    "Template Still in Use",
                    format!("The destroy will fail. {}", error.detail),
                ));
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(error = %error, "could not list the template's workspaces at plan");
            }
        }
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        request: CreateRequest<CoderTemplateModel>,
        response: &mut CreateResponse<CoderTemplateModel>,
    ) {
        let (config, plan) = (&request.config, &request.plan);
        let timeout = Timeouts::get(config.timeouts.as_ref(), Operation::Create, DEFAULT_TIMEOUT);
        let Some((content, variables, hash)) =
            content_to_push(config, plan, &mut response.diagnostics)
        else {
            return;
        };
        let organization = plan.organization.known().cloned();
        let meta = plan.meta();
        let (organization, meta, variables) = (&organization, &meta, &variables);
        let result = with_coder(ctx, timeout, |client| async move {
            let v2 = client.v2().await?;
            let org = v2.organization(organization.as_deref()).await?;
            let file_id = v2.upload(content.to_tar()).await?;
            // The template is made only from a version that imported: a
            // failed import leaves nothing behind that is active.
            let version = v2
                .import_version(&org.id, None, &file_id, variables)
                .await?;
            let template = v2.create_template(&org.id, &version.id, meta).await?;
            Ok((version, template))
        })
        .await;
        match result {
            Ok((version, template)) => {
                let mut state = request.plan;
                state.adopt(&template);
                state.version_id = Attr::Known(version.id);
                state.content_hash = Attr::Known(hash);
                response.state = Some(state);
            }
            Err(error) => response
                .diagnostics
                .push(coder_diagnostic(&error, &request.config)),
        }
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        request: ReadRequest<CoderTemplateModel>,
        response: &mut ReadResponse<CoderTemplateModel>,
    ) {
        let state = &request.state;
        let timeout = Timeouts::get(state.timeouts.as_ref(), Operation::Read, DEFAULT_TIMEOUT);
        let id = state.id.known().cloned();
        let organization = state.organization.known().cloned();
        let name = state.name.known().cloned().unwrap_or_default();
        let (id, organization, name) = (&id, &organization, &name);
        let result = with_coder(ctx, timeout, |client| async move {
            let v2 = client.v2().await?;
            let Some(id) = id else {
                // An import: find the template by name, and read its active
                // version's files and variables.
                let org = v2.organization(organization.as_deref()).await?;
                let Some(template) = v2.template_by_name(&org.id, name).await? else {
                    return Ok(None);
                };
                let version = v2.template_version(&template.active_version_id).await?;
                let tar = v2.download(&version.job.file_id).await?;
                let variables = v2.version_variables(&version.id).await?;
                return Ok(Some((template, Some((tar, variables)))));
            };
            Ok(v2.template(id).await?.map(|template| (template, None)))
        })
        .await;
        let found = match result {
            Ok(found) => found,
            Err(error) => {
                response.diagnostics.push(error.to_diagnostic(None));
                return;
            }
        };
        let Some((template, imported)) = found else {
            tracing::info!(template = %name, "template is gone; removing it from state");
            response.state = None;
            return;
        };
        let mut state = request.state;
        state.adopt(&template);
        if let Some((tar, version_variables)) = imported {
            let files = match Content::from_tar(&tar).and_then(|c| c.to_text().map(|t| (c, t))) {
                Ok(files) => files,
                Err(error) => {
                    response
                        .diagnostics
                        .push(error.to_diagnostic(Some(AttributePath::attr("files"))));
                    return;
                }
            };
            // The values set for this version (a default is not a value
            // the configuration gave; sensitive ones Coder does not show).
            let variables: BTreeMap<String, String> = version_variables
                .into_iter()
                .filter(|v| !v.sensitive && v.value != v.default_value)
                .map(|v| (v.name, v.value))
                .collect();
            state.content_hash = Attr::Known(files.0.hash(&variables));
            state.files = Attr::Known(files.1);
            state.variables = if variables.is_empty() {
                Attr::Null
            } else {
                Attr::Known(variables)
            };
            state.version_id = Attr::Known(template.active_version_id.clone());
        }
        response.state = Some(state);
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        request: UpdateRequest<CoderTemplateModel>,
        response: &mut UpdateResponse<CoderTemplateModel>,
    ) {
        let (config, plan, prior) = (&request.config, &request.plan, &request.prior);
        let timeout = Timeouts::get(config.timeouts.as_ref(), Operation::Update, DEFAULT_TIMEOUT);
        let push = if plan.version_id.is_known() {
            None
        } else {
            let Some(push) = content_to_push(config, plan, &mut response.diagnostics) else {
                return;
            };
            Some(push)
        };
        let template_id = prior.id.known().cloned().unwrap_or_default();
        let organization_id = prior.organization_id.known().cloned().unwrap_or_default();
        let kept_version = plan.version_id.known().cloned();
        let meta = plan.meta();
        let (template_id, organization_id, meta, push_ref) =
            (&template_id, &organization_id, &meta, &push);
        let result = with_coder(ctx, timeout, |client| async move {
            let v2 = client.v2().await?;
            let version_id = match push_ref {
                Some((content, variables, _)) => {
                    let file_id = v2.upload(content.to_tar()).await?;
                    match v2
                        .import_version(organization_id, Some(template_id), &file_id, variables)
                        .await
                    {
                        Ok(version) => version.id,
                        Err(error) => {
                            if let CoderError::ImportFailed { id, .. } = &error
                                && let Err(archive) = v2.archive_version(id).await
                            {
                                tracing::warn!(version = %id, error = %archive, "could not archive the failed version");
                            }
                            return Err(error);
                        }
                    }
                }
                None => kept_version.unwrap_or_default(),
            };
            let gone = || CoderError::NotFound {
                method: reqwest::Method::GET,
                url: format!("template {template_id}"),
                msg: "the template was deleted during the update".into(),
            };
            let current = v2.template(template_id).await?.ok_or_else(gone)?;
            if current.active_version_id != version_id {
                v2.activate_version(template_id, &version_id).await?;
            }
            if meta_of(&current, meta) != *meta {
                v2.update_template_meta(&current, meta).await?;
            }
            let after = v2.template(template_id).await?.ok_or_else(gone)?;
            Ok((version_id, after))
        })
        .await;
        match result {
            Ok((version_id, template)) => {
                let mut state = request.plan;
                state.adopt(&template);
                state.version_id = Attr::Known(version_id);
                if let Some((_, _, hash)) = push {
                    state.content_hash = Attr::Known(hash);
                }
                response.state = Some(state);
            }
            Err(error) => response
                .diagnostics
                .push(coder_diagnostic(&error, &request.config)),
        }
    }

    async fn delete(
        &self,
        ctx: &Ctx<ProviderData>,
        request: DeleteRequest<CoderTemplateModel>,
        response: &mut DeleteResponse,
    ) {
        let timeout = Timeouts::get(
            request.prior.timeouts.as_ref(),
            Operation::Delete,
            DEFAULT_TIMEOUT,
        );
        let id = request.prior.id.known().cloned().unwrap_or_default();
        let id = &id;
        let result = with_coder(ctx, timeout, |client| async move {
            let v2 = client.v2().await?;
            match v2.template(id).await? {
                Some(template) => v2.delete_template(&template).await,
                None => Ok(()),
            }
        })
        .await;
        if let Err(error) = result {
            response.diagnostics.push(error.to_diagnostic(None));
        }
    }

    fn import(&self) -> Import {
        Import::Split {
            separator: '/',
            attributes: &["organization", "name"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_at(config: &CoderTemplateModel) -> Vec<String> {
        crate::resources::check_errors(config, check)
    }

    fn files(pairs: &[(&str, &str)]) -> Attr<BTreeMap<String, String>> {
        Attr::Known(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn exactly_one_source_of_files() {
        let mut c = CoderTemplateModel::default();
        assert_eq!(errors_at(&c), vec!["files"]);
        c.files = files(&[("main.tf", "")]);
        assert!(errors_at(&c).is_empty());
        c.directory = Attr::Known("tpl".into());
        assert_eq!(errors_at(&c), vec!["directory"]);
        c.files = Attr::Null;
        assert!(errors_at(&c).is_empty());
        c.directory = Attr::Unknown;
        assert!(errors_at(&c).is_empty(), "unknown counts as set");
        c.files = files(&[("main.tf", "")]);
        assert!(
            errors_at(&c).is_empty(),
            "a conflict waits until both are known"
        );
    }

    #[test]
    fn bad_paths_and_long_names_are_named() {
        let c = CoderTemplateModel {
            files: files(&[("../main.tf", "")]),
            name: Attr::Known("a".repeat(33)),
            description: Attr::Known("d".repeat(129)),
            ..Default::default()
        };
        let errors = errors_at(&c);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors.contains(&"name".to_owned()));
        assert!(errors.contains(&"description".to_owned()));
        assert!(errors[0].starts_with("files["), "{errors:?}");
    }

    #[test]
    fn the_name_pattern_is_coders() {
        let re = regex_lite(schema::NAME_PATTERN);
        for good in ["cvm", "cvm-ubuntu-2", "A1"] {
            assert!(re(good), "{good}");
        }
        for bad in ["-cvm", "cvm-", "cvm--x", "cvm_x", "cvm x", ""] {
            assert!(!re(bad), "{bad}");
        }
    }

    /// Checks the pattern through the framework's validator, as Terraform
    /// would.
    fn regex_lite(pattern: &'static str) -> impl Fn(&str) -> bool {
        use tf_framework::validate::Validator;
        let validator = tf_framework::validate::matches(pattern, "x");
        move |s| {
            let mut d = Diagnostics::new();
            validator.validate(
                &tf_protocol::Value::String(s.to_owned()),
                &AttributePath::attr("name"),
                &mut d,
            );
            !d.has_error()
        }
    }

    #[test]
    fn metadata_compares_the_ttl_only_when_configured() {
        let raw = serde_json::json!({
            "id": "t", "name": "n", "organization_id": "o", "active_version_id": "v",
            "display_name": "", "description": "", "icon": "", "default_ttl_ms": 5
        });
        let template = Template::from_json_for_tests(raw);
        let mut planned = TemplateMeta {
            name: "n".into(),
            display_name: String::new(),
            description: String::new(),
            icon: String::new(),
            default_ttl_ms: None,
        };
        assert_eq!(meta_of(&template, &planned), planned);
        planned.default_ttl_ms = Some(7);
        assert_ne!(meta_of(&template, &planned), planned);
    }
}
