//! The ready CVM template for Coder v2: the files of a Coder template whose
//! workspaces are `cvm_workspace`s, rendered from typed inputs. What a v1
//! admin got from one switch: CPU, memory, home size and image as
//! parameters a user picks, the agent started inside the CVM, the home
//! volume kept while the workspace is stopped.

use std::collections::BTreeMap;

/// The typed inputs of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvmTemplate {
    /// Namespace of the workspaces; `None`: the provider connection's.
    pub namespace: Option<String>,
    /// `sysbox-runc` or `envbox`.
    pub style: String,
    /// The image offered by default.
    pub image: String,
    /// Default and largest CPU count.
    pub cpu: (i64, i64),
    /// Default and largest memory, GiB.
    pub memory_gib: (i64, i64),
    /// Default home volume size, GiB.
    pub home_size_gib: i64,
    /// A `kubernetes.io/dockerconfigjson` Secret for the image's registry.
    pub image_pull_secret: Option<String>,
    /// Storage class of the home volumes.
    pub storage_class: Option<String>,
}

/// A Terraform string literal of `text`: quotes, backslashes and template
/// sequences escaped, so the text is taken as it is.
fn literal(text: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl CvmTemplate {
    /// The template's files: `main.tf` and `README.md`.
    pub fn files(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("main.tf".to_owned(), self.main_tf()),
            ("README.md".to_owned(), self.readme()),
        ])
    }

    fn main_tf(&self) -> String {
        let mut optional = String::new();
        if let Some(namespace) = &self.namespace {
            optional.push_str(&format!("  namespace         = {}\n", literal(namespace)));
        }
        if let Some(secret) = &self.image_pull_secret {
            optional.push_str(&format!("  image_pull_secret = {}\n", literal(secret)));
        }
        if let Some(class) = &self.storage_class {
            optional.push_str(&format!("  storage_class     = {}\n", literal(class)));
        }
        let dockerd = if self.style == "sysbox-runc" {
            "    # Sysbox lets dockerd run unprivileged inside the workspace.\n    \
             if command -v dockerd >/dev/null 2>&1 && ! pgrep -x dockerd >/dev/null; then\n      \
             sudo -n dockerd >/tmp/dockerd.log 2>&1 &\n    fi\n"
        } else {
            "    # envbox starts Docker inside the workspace.\n"
        };
        format!(
            r#"# A Coder v2 template of CVM workspaces, rendered by terraform-provider-cvm
# (data.cvm_workspace_template). Each workspace is a cvm_workspace: a pod run as a
# container-based virtual machine ({style}) and a home volume kept while it is stopped.
terraform {{
  required_providers {{
    coder = {{ source = "coder/coder" }}
    cvm   = {{ source = "cvm-provider/cvm" }}
  }}
}}

# Coder's provisioner reaches the cluster as the provider finds it: the pod's service account when
# Coder runs in the cluster, else KUBECONFIG or ~/.kube/config.
provider "cvm" {{}}

data "coder_provisioner" "me" {{}}
data "coder_workspace" "me" {{}}
data "coder_workspace_owner" "me" {{}}

data "coder_parameter" "cpu" {{
  name         = "cpu"
  display_name = "CPU"
  description  = "CPU cores of the workspace."
  type         = "number"
  default      = {cpu}
  mutable      = true
  validation {{
    min = 1
    max = {max_cpu}
  }}
}}

data "coder_parameter" "memory" {{
  name         = "memory"
  display_name = "Memory (GiB)"
  description  = "Memory of the workspace, in GiB."
  type         = "number"
  default      = {memory}
  mutable      = true
  validation {{
    min = 1
    max = {max_memory}
  }}
}}

data "coder_parameter" "home_size" {{
  name         = "home_size"
  display_name = "Home volume (GiB)"
  description  = "Size of the home volume, in GiB; it can grow later, not shrink."
  type         = "number"
  default      = {home}
  mutable      = true
  validation {{
    min       = 1
    monotonic = "increasing"
  }}
}}

data "coder_parameter" "image" {{
  name         = "image"
  display_name = "Image"
  description  = "The workspace image."
  type         = "string"
  default      = {image}
  mutable      = true
}}

resource "coder_agent" "main" {{
  os             = "linux"
  arch           = data.coder_provisioner.me.arch
  startup_script = <<-EOT
{dockerd}  EOT
}}

resource "cvm_workspace" "main" {{
{optional}  name              = "coder-${{data.coder_workspace.me.id}}"
  style             = {style_literal}
  image             = data.coder_parameter.image.value
  agent_token       = coder_agent.main.token
  agent_init_script = coder_agent.main.init_script
  agent_url         = data.coder_workspace.me.access_url
  running           = data.coder_workspace.me.start_count == 1
  cpu               = data.coder_parameter.cpu.value
  memory            = "${{data.coder_parameter.memory.value}}Gi"
  home_size         = "${{data.coder_parameter.home_size.value}}Gi"
  labels = {{
    "com.coder.workspace.id"   = data.coder_workspace.me.id
    "com.coder.workspace.name" = data.coder_workspace.me.name
    "com.coder.user.username"  = data.coder_workspace_owner.me.name
  }}
}}
"#,
            style = self.style,
            style_literal = literal(&self.style),
            cpu = self.cpu.0,
            max_cpu = self.cpu.1,
            memory = self.memory_gib.0,
            max_memory = self.memory_gib.1,
            home = self.home_size_gib,
            image = literal(&self.image),
        )
    }

    fn readme(&self) -> String {
        format!(
            "---\ndisplay_name: CVM workspaces\ndescription: Workspaces that run Docker, systemd and \
             Kubernetes-in-Docker as container-based virtual machines (Sysbox)\nicon: /icon/k8s.png\n---\n\n\
             # CVM workspaces\n\nEach workspace is a pod run as a container-based virtual machine \
             ({style}) with a home volume that is kept while the workspace is stopped. Rendered by \
             terraform-provider-cvm's `cvm_workspace_template`; its nodes need Sysbox \
             (`cvm_sysbox`){secret}.\n",
            style = self.style,
            secret = match &self.image_pull_secret {
                Some(name) => format!(", and images are pulled with the Secret `{name}`"),
                None => String::new(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> CvmTemplate {
        CvmTemplate {
            namespace: Some("coder-ws".into()),
            style: "sysbox-runc".into(),
            image: "codercom/enterprise-base:ubuntu".into(),
            cpu: (2, 8),
            memory_gib: (4, 16),
            home_size_gib: 10,
            image_pull_secret: Some("team-registry".into()),
            storage_class: None,
        }
    }

    #[test]
    fn literals_are_taken_as_they_are() {
        assert_eq!(literal("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(literal("${x} %{y} $z"), r#""$${x} %%{y} $z""#);
        assert_eq!(literal("l1\nl2"), r#""l1\nl2""#);
    }

    #[test]
    fn the_main_file_wires_the_agent_into_the_workspace() {
        let main = &template().files()["main.tf"];
        for wanted in [
            r#"namespace         = "coder-ws""#,
            r#"image_pull_secret = "team-registry""#,
            "agent_token       = coder_agent.main.token",
            "agent_init_script = coder_agent.main.init_script",
            "running           = data.coder_workspace.me.start_count == 1",
            r#"default      = "codercom/enterprise-base:ubuntu""#,
            "max = 8",
            "sudo -n dockerd",
        ] {
            assert!(main.contains(wanted), "{wanted:?} not in\n{main}");
        }
        assert!(!main.contains("storage_class"));
        let mut envbox = template();
        envbox.style = "envbox".into();
        envbox.namespace = None;
        let main = &envbox.files()["main.tf"];
        assert!(!main.contains("dockerd >/tmp"));
        assert!(!main.contains("namespace         ="));
    }
}
