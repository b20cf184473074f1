# An existing installation is imported by the namespace of its objects.
terraform import cvm_sysbox.cvm_nodes kube-system
