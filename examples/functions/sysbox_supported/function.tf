# Requires Terraform 1.8 or later.
locals {
  # The strings a node reports in status.nodeInfo (osImage, kernelVersion).
  node_check = provider::cvm::sysbox_supported("Ubuntu 22.04.5 LTS", "6.8.0-1021-aws")
}

output "node_supported" {
  value = local.node_check.supported # true
}

output "node_reasons" {
  value = provider::cvm::sysbox_supported("Amazon Linux 2", "5.10.225-213.878.amzn2.x86_64").reasons
}
