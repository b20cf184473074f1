# A workspace image for CVMs: systemd as /sbin/init, Docker started by
# systemd, and a non-root user with sudo.
data "cvm_workspace_image" "dev" {
  base_image = "ubuntu:22.04"
  packages   = ["git", "curl", "build-essential"]
  user       = "coder"
}

# Write the Dockerfile next to the configuration, for `docker build`.
output "dockerfile" {
  value = data.cvm_workspace_image.dev.dockerfile
}
