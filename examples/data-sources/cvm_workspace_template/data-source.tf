# The ready CVM template: workspaces of a private image, pulled with a cvm_image_pull_secret, in
# the namespace `coder-workspaces`; users pick CPU, memory, home size and image when they create one.
data "cvm_workspace_template" "cvm" {
  namespace         = "coder-workspaces"
  image             = "registry.example.com/team/dev:2026.12"
  image_pull_secret = "team-registry"
  max_cpu           = 16
  max_memory_gib    = 64
}

# Push it to Coder v2 as it is (the files are also there to start a template of your own from).
resource "cvm_coder_template" "cvm" {
  name         = "cvm"
  display_name = "CVM workspaces"
  files        = data.cvm_workspace_template.cvm.files
}
