variable "registry_password" {
  description = "Token of the registry's robot account."
  type        = string
  sensitive   = true
  default     = "example-robot-token"
}

# A private registry CVM workspaces can pull images from.
resource "cvm_registry" "team" {
  friendly_name = "team-images"
  registry      = "registry.example.com"
  username      = "robot"
  password      = var.registry_password
}

output "registry_id" {
  value = cvm_registry.team.id
}
