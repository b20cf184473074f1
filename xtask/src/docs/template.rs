//! Hand-written prose for a page: `templates/<kind>/<name>.md`.
//!
//! A template is Markdown. Text before its first `## ` heading is the
//! introduction, placed after the schema's description. Each `## ` section
//! follows the generated Schema section, except `## Import`, whose body
//! follows the generated import example. Headings inside code fences do
//! not count.

/// A parsed template.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Template {
    /// Prose after the description (may be empty).
    pub intro: String,
    /// `## ` sections other than Import, heading included, in order.
    pub sections: Vec<String>,
    /// The body of the `## Import` section, heading excluded.
    pub import: Option<String>,
}

impl Template {
    /// Splits `text` into introduction and sections.
    pub fn parse(text: &str) -> Template {
        let mut template = Template::default();
        let mut current: Option<String> = None;
        let mut intro = String::new();
        let mut in_fence = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
            }
            if !in_fence && line.starts_with("## ") {
                if let Some(section) = current.take() {
                    template.push_section(section);
                }
                current = Some(format!("{line}\n"));
                continue;
            }
            let target = current.as_mut().unwrap_or(&mut intro);
            target.push_str(line);
            target.push('\n');
        }
        if let Some(section) = current.take() {
            template.push_section(section);
        }
        template.intro = intro.trim().to_owned();
        template
    }

    fn push_section(&mut self, section: String) {
        let (heading, body) = section.split_once('\n').unwrap_or((&section, ""));
        if heading.trim() == "## Import" {
            self.import = Some(body.trim().to_owned());
        } else {
            self.sections.push(section.trim().to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_intro_sections_and_import() {
        let t = Template::parse(
            "Intro line.\n\n## Behaviour\n\n- a\n\n```hcl\n## not a heading\n```\n\n## Import\n\nNotes.\n\n## JSON keys\n\n|a|\n",
        );
        assert_eq!(t.intro, "Intro line.");
        assert_eq!(
            t.sections,
            vec![
                "## Behaviour\n\n- a\n\n```hcl\n## not a heading\n```".to_owned(),
                "## JSON keys\n\n|a|".to_owned()
            ]
        );
        assert_eq!(t.import.as_deref(), Some("Notes."));
    }

    #[test]
    fn empty_template_is_empty() {
        assert_eq!(Template::parse(""), Template::default());
    }
}
