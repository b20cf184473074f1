# The complete example: everything the provider does, wired together.
# Today it renders a CVM workspace image; node groups, Sysbox and the Coder
# settings join it as they land.

terraform {
  required_providers {
    cvm = {
      source = "cvm-provider/cvm"
    }
  }
}

provider "cvm" {}

variable "base_image" {
  description = "Image the workspace image builds on."
  type        = string
  default     = "ubuntu:22.04"
}

data "cvm_workspace_image" "workspace" {
  base_image = var.base_image
  packages   = ["git", "curl", "build-essential"]
  user       = "coder"
}

output "workspace_dockerfile" {
  description = "Dockerfile of a workspace image ready for CVMs."
  value       = data.cvm_workspace_image.workspace.dockerfile
}

output "workspace_init" {
  description = "The init program Coder runs as PID 1."
  value       = data.cvm_workspace_image.workspace.init_path
}
