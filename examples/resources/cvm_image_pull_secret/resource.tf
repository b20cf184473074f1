variable "registry" {
  description = "The registry host, as image references name it."
  type        = string
  default     = "registry.example.com"
}

variable "registry_username" {
  description = "The registry's robot account."
  type        = string
  default     = "robot"
}

variable "registry_password" {
  description = "Token of the registry's robot account."
  type        = string
  sensitive   = true
}

variable "registry_ca" {
  description = "PEM of the CA that signed the registry's certificate, when it is a private one."
  type        = string
  default     = null
}

# The credentials CVM workspaces in the namespace `default` pull private images with. The apply
# first logs in to the registry with them, and fails if the registry refuses.
resource "cvm_image_pull_secret" "team" {
  namespace      = "default"
  name           = "team-registry"
  registry       = var.registry
  username       = var.registry_username
  password       = var.registry_password
  ca_certificate = var.registry_ca
}

output "pull_secret" {
  value = cvm_image_pull_secret.team.name
}
