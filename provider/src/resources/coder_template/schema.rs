//! The Terraform schema of `cvm_coder_template`.

use tf_framework::schema::{Attribute, Block, Schema};
use tf_framework::{Timeouts, validate};
use tf_protocol::Value;
use tf_protocol::value::Type;

use super::DEFAULT_TIMEOUT;

/// Coder's rule for template names (`codersdk.NameValid`): letters and
/// digits in groups joined by single hyphens, at most 32 characters.
pub(super) const NAME_PATTERN: &str = "^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$";

/// The schema.
pub(super) fn schema() -> Schema {
    let empty = || Value::String(String::new());
    Schema::new(
        Block::new(
            "A Coder v2 template, managed declaratively: its files are uploaded as a template \
             version, Coder's provisioner imports it (runs Terraform on it), and the version \
             becomes the template's active one. A new version is made only when the files or \
             variables change; the display name, description, icon and TTL change in place. \
             A version activated outside Terraform is re-activated; a template deleted outside \
             is created again. Import with `organization/name`. Coder v2 only: on Coder v1 use \
             `cvm_settings` and `cvm_registry`.",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("Coder's id of the template."),
        )
        .attribute(
            Attribute::string("organization")
                .optional()
                .computed()
                .use_state_for_unknown()
                .validate(validate::non_empty())
                .requires_replace("Coder cannot move a template to another organization")
                .description(
                    "Name (or id) of the organization the template belongs to. Default: the \
                     deployment's default organization. Changing it replaces the template.",
                ),
        )
        .attribute(
            Attribute::string("organization_id")
                .computed()
                .use_state_for_unknown()
                .description("Id of the organization."),
        )
        .attribute(
            Attribute::string("name")
                .required()
                .validate(validate::matches(
                    NAME_PATTERN,
                    "must be letters and digits in groups joined by single hyphens, as Coder \
                     requires of template names",
                ))
                .description(
                    "Template name, unique in the organization (letters, digits and single \
                     hyphens, at most 32 characters). Changes in place.",
                ),
        )
        .attribute(
            Attribute::string("display_name")
                .optional()
                .default(empty())
                .description("Name shown in Coder's UI. Default: none (the name is shown)."),
        )
        .attribute(
            Attribute::string("description")
                .optional()
                .default(empty())
                .description("Description shown in Coder's UI (at most 128 characters)."),
        )
        .attribute(
            Attribute::string("icon")
                .optional()
                .default(empty())
                .description("Icon URL or Coder icon path, e.g. `/icon/k8s.png`."),
        )
        .attribute(
            Attribute::number("default_ttl_ms")
                .optional()
                .computed()
                .use_state_for_unknown()
                .validate(validate::between(0, i64::MAX))
                .description(
                    "How long a workspace stays up after it starts, in milliseconds; 0 means \
                     until stopped. Default: what Coder sets.",
                ),
        )
        .attribute(
            Attribute::map("files", Type::String)
                .optional()
                .description(
                    "The template's files: relative path → content, e.g. `{ \"main.tf\" = \
                     file(\"${path.module}/template/main.tf\") }`. Exactly one of `files` and \
                     `directory`.",
                ),
        )
        .attribute(
            Attribute::string("directory")
                .optional()
                .validate(validate::non_empty())
                .description(
                    "A directory whose files are the template (read at plan time; \
                     `.terraform` and `.git` are left out). Exactly one of `files` and \
                     `directory`.",
                ),
        )
        .attribute(
            Attribute::map("variables", Type::String)
                .optional()
                .sensitive()
                .description(
                    "Values of the template's Terraform variables, by name. A change makes a \
                     new version.",
                ),
        )
        .attribute(Attribute::string("content_hash").computed().description(
            "SHA-256 of the files and variables of the version this resource made: \
                     a new version is made only when it changes.",
        ))
        .attribute(
            Attribute::string("version_id")
                .computed()
                .description("Id of the template version made from this content."),
        )
        .attribute(
            Attribute::string("active_version_id")
                .computed()
                .description(
                    "Id of the template's active version: `version_id`, unless a version was \
                     activated outside Terraform (the next apply activates ours again).",
                ),
        )
        .block(Timeouts::block_all(DEFAULT_TIMEOUT)),
    )
}
