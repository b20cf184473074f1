# Can the nodes meant for CVMs run Sysbox? Checked before anything is
# installed; the provider reads the cluster from its kubernetes block or
# KUBECONFIG.
data "cvm_cluster_check" "cvm_nodes" {
  node_selector = { "node.kubernetes.io/instance-type" = "m6i.2xlarge" }
}

output "cluster_ready_for_cvms" {
  value = data.cvm_cluster_check.cvm_nodes.ready
}

output "cluster_check_summary" {
  value = data.cvm_cluster_check.cvm_nodes.summary
}
