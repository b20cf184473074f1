//! `docs/` in the Terraform registry layout, generated from the provider's
//! own schema (through the framework's [`Provider`] trait), the examples
//! under `examples/`, and optional hand-written prose under `templates/`
//! (see [`template`]).
//!
//! | page | schema | example (required) | template (optional) |
//! |---|---|---|---|
//! | `docs/index.md` | provider block | `examples/provider/provider.tf` | `templates/index.md` |
//! | `docs/resources/<name>.md` | resource `cvm_<name>` | `examples/resources/cvm_<name>/resource.tf` (+ `import.sh`) | `templates/resources/<name>.md` |
//! | `docs/data-sources/<name>.md` | data source `cvm_<name>` | `examples/data-sources/cvm_<name>/data-source.tf` | `templates/data-sources/<name>.md` |
//! | `docs/functions/<name>.md` | function `<name>` | `examples/functions/<name>/function.tf` | `templates/functions/<name>.md` |
//! | `docs/guides/<name>.md` | none | any file it names in an `{{ example "<path>" }}` line | `templates/guides/<name>.md` (required) |
//!
//! A guide is prose about the provider as a whole (e.g. using it from Pulumi): its template's
//! first line is `# Title`, and each line `{{ example "<path>" }}` becomes that file, fenced,
//! so the example shown is the example tested.

mod schema_markdown;
mod template;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use terraform_provider_cvm::provider::CvmProvider;
use tf_framework::Provider;
use tf_framework::function::Signature;
use tf_framework::schema::Schema;

use schema_markdown::{schema_section, type_expression, type_label};
use template::Template;

/// One generated page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Path relative to the repository, with `/` separators.
    pub path: String,
    /// The page's Markdown.
    pub text: String,
}

/// Why the pages could not be generated, checked or written.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Every page shows an example; this one has none.
    #[error("{what} has no example: write {path} (every page shows one)")]
    MissingExample {
        /// The resource, data source or function.
        what: String,
        /// The example file to write.
        path: String,
    },
    /// An example or template names a type the provider does not have.
    #[error("{path} belongs to no {kind} of the provider (it has: {known}); rename or remove it")]
    Orphan {
        /// The example directory or template.
        path: String,
        /// `resource`, `data source` or `function`.
        kind: &'static str,
        /// The names the provider has.
        known: String,
    },
    /// A template has import notes but there is no import example.
    #[error("{template} has an `## Import` section but {example} does not exist")]
    ImportNotesWithoutExample {
        /// The template.
        template: String,
        /// The missing example.
        example: String,
    },
    /// A type name lacks the provider's prefix.
    #[error("{name} does not start with {prefix}")]
    Prefix {
        /// The type name.
        name: String,
        /// `cvm_`.
        prefix: String,
    },
}

/// The kinds of pages with one page per type.
#[derive(Clone, Copy)]
enum Kind {
    Resource,
    DataSource,
    Function,
}

impl Kind {
    /// Directory under `docs/`, `examples/` and `templates/`.
    fn dir(self) -> &'static str {
        match self {
            Kind::Resource => "resources",
            Kind::DataSource => "data-sources",
            Kind::Function => "functions",
        }
    }

    fn example_file(self) -> &'static str {
        match self {
            Kind::Resource => "resource.tf",
            Kind::DataSource => "data-source.tf",
            Kind::Function => "function.tf",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Resource => "resource",
            Kind::DataSource => "data source",
            Kind::Function => "function",
        }
    }

    /// As in page titles: `Resource`, `Data Source`.
    fn title(self) -> &'static str {
        match self {
            Kind::Resource => "Resource",
            Kind::DataSource => "Data Source",
            Kind::Function => "function",
        }
    }
}

/// Generates every page, sorted by path.
pub fn generate(repo: &Path) -> Result<Vec<Page>, DocsError> {
    let provider = CvmProvider;
    let name = provider.type_name();
    let prefix = format!("{name}_");
    let mut pages = vec![index_page(repo, name, &provider.schema())?];

    let resources: Vec<(&str, Schema)> = provider
        .resources()
        .iter()
        .map(|r| (r.type_name(), r.schema()))
        .collect();
    let data_sources: Vec<(&str, Schema)> = provider
        .data_sources()
        .iter()
        .map(|d| (d.type_name(), d.schema()))
        .collect();
    for (kind, types) in [
        (Kind::Resource, &resources),
        (Kind::DataSource, &data_sources),
    ] {
        let mut short_names = Vec::new();
        for (type_name, schema) in types {
            let short = type_name
                .strip_prefix(&prefix)
                .ok_or_else(|| DocsError::Prefix {
                    name: (*type_name).to_owned(),
                    prefix: prefix.clone(),
                })?;
            short_names.push(short.to_owned());
            pages.push(type_page(repo, kind, name, type_name, short, schema)?);
        }
        let type_names: Vec<String> = types.iter().map(|(t, _)| (*t).to_owned()).collect();
        check_orphans(repo, kind, &type_names, &short_names)?;
    }

    let functions = provider.functions();
    let mut function_names = Vec::new();
    for function in &functions {
        function_names.push(function.name().to_owned());
        pages.push(function_page(
            repo,
            name,
            function.name(),
            &function.signature(),
        )?);
    }
    check_orphans(repo, Kind::Function, &function_names, &function_names)?;
    for entry in list_dir(repo, "templates/guides")? {
        if let Some(stem) = entry.strip_suffix(".md") {
            pages.push(guide_page(repo, stem)?);
        }
    }

    pages.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(pages)
}

/// Compares `pages` with `docs/`: one line per page that differs or is
/// missing, and per Markdown file under `docs/` that no page produces.
pub fn check(repo: &Path, pages: &[Page]) -> Result<Vec<String>, DocsError> {
    let mut differences = Vec::new();
    for page in pages {
        match std::fs::read_to_string(repo.join(&page.path)) {
            Ok(text) if text == page.text => {}
            Ok(_) => differences.push(format!("{} differs", page.path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                differences.push(format!("{} is missing", page.path));
            }
            Err(source) => {
                return Err(DocsError::Io {
                    path: page.path.clone(),
                    source,
                });
            }
        }
    }
    for stale in stale_pages(repo, pages)? {
        differences.push(format!(
            "{stale} is not generated (remove it, or add its type)"
        ));
    }
    Ok(differences)
}

/// Writes the pages that changed and removes Markdown files under `docs/`
/// that no page produces; returns what changed.
pub fn write(repo: &Path, pages: &[Page]) -> Result<Vec<String>, DocsError> {
    let mut changed = Vec::new();
    for page in pages {
        let path = repo.join(&page.path);
        if std::fs::read_to_string(&path).is_ok_and(|text| text == page.text) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| DocsError::Io {
                path: parent.display().to_string(),
                source,
            })?;
        }
        std::fs::write(&path, &page.text).map_err(|source| DocsError::Io {
            path: page.path.clone(),
            source,
        })?;
        changed.push(page.path.clone());
    }
    for stale in stale_pages(repo, pages)? {
        std::fs::remove_file(repo.join(&stale)).map_err(|source| DocsError::Io {
            path: stale.clone(),
            source,
        })?;
        changed.push(format!("{stale} (removed)"));
    }
    Ok(changed)
}

/// Markdown files under `docs/` that are not among `pages`.
fn stale_pages(repo: &Path, pages: &[Page]) -> Result<Vec<String>, DocsError> {
    let generated: BTreeSet<&str> = pages.iter().map(|p| p.path.as_str()).collect();
    let mut stale = Vec::new();
    let mut dirs = vec!["docs".to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in list_dir(repo, &dir)? {
            let path = format!("{dir}/{entry}");
            if repo.join(&path).is_dir() {
                dirs.push(path);
            } else if entry.ends_with(".md") && !generated.contains(path.as_str()) {
                stale.push(path);
            }
        }
    }
    stale.sort();
    Ok(stale)
}

/// Entry names of `repo/dir`, sorted; none when it does not exist.
fn list_dir(repo: &Path, dir: &str) -> Result<Vec<String>, DocsError> {
    let io = |source| DocsError::Io {
        path: dir.to_owned(),
        source,
    };
    let entries = match std::fs::read_dir(repo.join(dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        names.push(
            entry
                .map_err(io)?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    Ok(names)
}

/// Fails when an example directory or template names no type of `kind`.
fn check_orphans(
    repo: &Path,
    kind: Kind,
    example_names: &[String],
    template_names: &[String],
) -> Result<(), DocsError> {
    let orphan = |path: String, known: &[String]| DocsError::Orphan {
        path,
        kind: kind.noun(),
        known: if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        },
    };
    let examples_dir = format!("examples/{}", kind.dir());
    for entry in list_dir(repo, &examples_dir)? {
        if !example_names.contains(&entry) {
            return Err(orphan(format!("{examples_dir}/{entry}"), example_names));
        }
    }
    let templates_dir = format!("templates/{}", kind.dir());
    for entry in list_dir(repo, &templates_dir)? {
        let known = entry
            .strip_suffix(".md")
            .is_some_and(|stem| template_names.iter().any(|n| n == stem));
        if !known {
            return Err(orphan(format!("{templates_dir}/{entry}"), template_names));
        }
    }
    Ok(())
}

/// The text of `repo/path`, `None` when it does not exist.
fn read_optional(repo: &Path, path: &str) -> Result<Option<String>, DocsError> {
    match std::fs::read_to_string(repo.join(path)) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DocsError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn read_example(repo: &Path, path: &str, what: String) -> Result<String, DocsError> {
    read_optional(repo, path)?.ok_or_else(|| DocsError::MissingExample {
        what,
        path: path.to_owned(),
    })
}

fn read_template(repo: &Path, path: &str) -> Result<Template, DocsError> {
    Ok(read_optional(repo, path)?
        .map(|text| Template::parse(&text))
        .unwrap_or_default())
}

/// The first sentence of `text`: up to the first `.` followed by a space
/// and a capital letter, or all of it.
fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices(". ") {
        if bytes.get(i + 2).is_some_and(u8::is_ascii_uppercase) {
            return &text[..=i];
        }
    }
    text
}

/// The page's YAML front matter.
fn front_matter(title: &str, description: &str) -> String {
    let mut out = format!("---\npage_title: \"{title}\"\nsubcategory: \"\"\ndescription: |-\n");
    for line in first_sentence(description).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out.push_str("---\n");
    out
}

/// A Markdown paragraph followed by a blank line, or nothing when blank.
fn paragraph(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!("{text}\n\n")
    }
}

fn fenced(language: &str, code: &str) -> String {
    format!("```{language}\n{}\n```\n\n", code.trim_end())
}

/// Appends the template's extra sections.
fn push_sections(out: &mut String, template: &Template) {
    for section in &template.sections {
        out.push_str(&paragraph(section));
    }
}

/// Ends a page with exactly one newline.
fn finish(mut text: String) -> String {
    let end = text.trim_end().len();
    text.truncate(end);
    text.push('\n');
    text
}

/// `docs/guides/<name>.md` from `templates/guides/<name>.md` (see the module documentation).
fn guide_page(repo: &Path, name: &str) -> Result<Page, DocsError> {
    let path = format!("templates/guides/{name}.md");
    let text = read_example(repo, &path, format!("the guide {name}"))?;
    let mut lines = text.lines();
    let title = lines
        .next()
        .and_then(|line| line.strip_prefix("# "))
        .unwrap_or(name)
        .trim()
        .to_owned();
    let body: Vec<&str> = lines.collect();
    let description = body
        .iter()
        .skip_while(|line| line.trim().is_empty())
        .take_while(|line| !line.trim().is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let mut out =
        front_matter(&title, &description).replace("subcategory: \"\"", "subcategory: \"Guides\"");
    let _ = write!(out, "\n# {title}\n");
    for line in body {
        match line
            .trim()
            .strip_prefix("{{ example \"")
            .and_then(|rest| rest.strip_suffix("\" }}"))
        {
            Some(example_path) => {
                let example = read_example(repo, example_path, format!("the guide {name}"))?;
                let language = match example_path.rsplit('.').next() {
                    Some("tf") => "terraform",
                    Some("sh") => "shell",
                    Some(other) => other,
                    None => "",
                };
                out.push_str(&fenced(language, &example));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(Page {
        path: format!("docs/guides/{name}.md"),
        text: finish(out),
    })
}

fn index_page(repo: &Path, name: &str, schema: &Schema) -> Result<Page, DocsError> {
    let example = read_example(
        repo,
        "examples/provider/provider.tf",
        "the provider".to_owned(),
    )?;
    let template = read_template(repo, "templates/index.md")?;
    let description = &schema.block.description;
    let mut out = front_matter(&format!("{name} Provider"), description);
    let _ = write!(out, "\n# {name} Provider\n\n");
    out.push_str(&paragraph(description));
    out.push_str(&paragraph(&template.intro));
    out.push_str("## Example Usage\n\n");
    out.push_str(&fenced("terraform", &example));
    out.push_str(&paragraph(&schema_section(&schema.block)));
    push_sections(&mut out, &template);
    Ok(Page {
        path: "docs/index.md".to_owned(),
        text: finish(out),
    })
}

fn type_page(
    repo: &Path,
    kind: Kind,
    provider: &str,
    type_name: &str,
    short: &str,
    schema: &Schema,
) -> Result<Page, DocsError> {
    let example_dir = format!("examples/{}/{type_name}", kind.dir());
    let example = read_example(
        repo,
        &format!("{example_dir}/{}", kind.example_file()),
        format!("{} {type_name}", kind.noun()),
    )?;
    let import_path = format!("{example_dir}/import.sh");
    let import = match kind {
        Kind::Resource => read_optional(repo, &import_path)?,
        Kind::DataSource | Kind::Function => None,
    };
    let template_path = format!("templates/{}/{short}.md", kind.dir());
    let template = read_template(repo, &template_path)?;
    if template.import.is_some() && import.is_none() {
        return Err(DocsError::ImportNotesWithoutExample {
            template: template_path,
            example: import_path,
        });
    }

    let description = &schema.block.description;
    let mut out = front_matter(
        &format!("{type_name} {} - {provider}", kind.title()),
        description,
    );
    let _ = write!(out, "\n# {type_name} ({})\n\n", kind.title());
    out.push_str(&paragraph(description));
    out.push_str(&paragraph(&template.intro));
    out.push_str("## Example Usage\n\n");
    out.push_str(&fenced("terraform", &example));
    out.push_str(&paragraph(&schema_section(&schema.block)));
    push_sections(&mut out, &template);
    if let Some(import) = import {
        out.push_str("## Import\n\n");
        out.push_str(&fenced("shell", &import));
        out.push_str(&paragraph(template.import.as_deref().unwrap_or("")));
    }
    Ok(Page {
        path: format!("docs/{}/{short}.md", kind.dir()),
        text: finish(out),
    })
}

fn function_page(
    repo: &Path,
    provider: &str,
    name: &str,
    signature: &Signature,
) -> Result<Page, DocsError> {
    let kind = Kind::Function;
    let example = read_example(
        repo,
        &format!("examples/functions/{name}/function.tf"),
        format!("function {name}"),
    )?;
    let template = read_template(repo, &format!("templates/functions/{name}.md"))?;

    let summary = if signature.summary.trim().is_empty() {
        &signature.description
    } else {
        &signature.summary
    };
    let mut out = front_matter(&format!("{name} {} - {provider}", kind.title()), summary);
    let _ = write!(out, "\n# function: {name}\n\n");
    out.push_str(&paragraph(&signature.description));
    if let Some(message) = &signature.deprecation {
        out.push_str(&paragraph(&format!("**Deprecated:** {message}")));
    }
    out.push_str(&paragraph(&template.intro));
    out.push_str("## Example Usage\n\n");
    out.push_str(&fenced("terraform", &example));

    let mut parameters: Vec<String> = signature
        .parameters
        .iter()
        .map(|p| format!("{} {}", p.name, type_expression(&p.ty, false)))
        .collect();
    if let Some(p) = &signature.variadic {
        parameters.push(format!("{}... {}", p.name, type_expression(&p.ty, false)));
    }
    out.push_str("## Signature\n\n");
    out.push_str(&fenced(
        "text",
        &format!(
            "{name}({}) {}",
            parameters.join(", "),
            type_expression(&signature.returns, false)
        ),
    ));

    out.push_str("## Arguments\n\n");
    let mut arguments = String::new();
    let numbered = signature.parameters.iter().map(|p| (p, false));
    let variadic = signature.variadic.iter().map(|p| (p, true));
    for (i, (parameter, is_variadic)) in numbered.chain(variadic).enumerate() {
        let mut label = type_label(&parameter.ty);
        if parameter.allow_null {
            label.push_str(", Nullable");
        }
        if is_variadic {
            label.push_str(", Variadic");
        }
        let _ = write!(arguments, "{}. `{}` ({label})", i + 1, parameter.name);
        if !parameter.description.trim().is_empty() {
            let _ = write!(arguments, " {}", parameter.description.trim());
        }
        arguments.push('\n');
    }
    if arguments.is_empty() {
        arguments.push_str("None.\n");
    }
    out.push_str(&paragraph(&arguments));

    out.push_str("## Return Value\n\n");
    out.push_str(&paragraph(&format!(
        "`{}`",
        type_expression(&signature.returns, true)
    )));
    push_sections(&mut out, &template);
    Ok(Page {
        path: format!("docs/functions/{name}.md"),
        text: finish(out),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sentence_stops_before_a_capital() {
        assert_eq!(
            first_sentence("Splits a reference, e.g. `a:b`. Fails on junk."),
            "Splits a reference, e.g. `a:b`."
        );
        assert_eq!(first_sentence("One sentence."), "One sentence.");
        assert_eq!(first_sentence(" A b. c d. "), "A b. c d.");
    }
}
