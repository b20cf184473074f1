# A Coder v2 template, pushed and kept active by Terraform. Here its one file is inline; a
# real template usually reads its files, e.g. file("${path.module}/template/main.tf"), or
# names a directory instead of files.
resource "cvm_coder_template" "cvm" {
  name         = "cvm-ubuntu"
  display_name = "Ubuntu CVM"
  description  = "Ubuntu workspaces that run Docker, in a Sysbox container-based VM."
  icon         = "/icon/ubuntu.svg"

  files = {
    "main.tf" = <<-EOT
      terraform {
        required_providers {
          coder = { source = "coder/coder" }
        }
      }

      data "coder_workspace" "me" {}

      resource "coder_agent" "main" {
        os             = "linux"
        arch           = "amd64"
        startup_script = "sudo dockerd >/tmp/dockerd.log 2>&1 &"
      }
    EOT
  }
}

output "template_version" {
  value = cvm_coder_template.cvm.version_id
}
