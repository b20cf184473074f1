# Sysbox on every node labelled for CVMs. The plan fails if one of them
# cannot run Sysbox (distro, kernel, Kubernetes version, architecture) or if
# the namespace refuses privileged pods.
resource "cvm_sysbox" "cvm_nodes" {
  node_selector = { "example.com/cvm" = "true" }

  timeouts {
    create = "20m"
  }
}

# CVM pods name this runtime class.
output "runtime_class_name" {
  value = cvm_sysbox.cvm_nodes.runtime_class_name
}

output "nodes_ready_for_cvms" {
  value = cvm_sysbox.cvm_nodes.ready_nodes
}
