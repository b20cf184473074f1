variable "registry_password" {
  description = "Token of the registry's robot account."
  type        = string
  sensitive   = true
  default     = "example-robot-token"
}

# The credentials CVM workspaces in the namespace `default` pull private images with.
resource "cvm_image_pull_secret" "team" {
  namespace = "default"
  name      = "team-registry"
  registry  = "registry.example.com"
  username  = "robot"
  password  = var.registry_password
}

output "pull_secret" {
  value = cvm_image_pull_secret.team.name
}
