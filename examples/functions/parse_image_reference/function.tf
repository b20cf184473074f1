# Requires Terraform 1.8 or later.
output "workspace_registry" {
  value = provider::cvm::parse_image_reference("registry.example.com:5000/team/dev:2024").registry
}
