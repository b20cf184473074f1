# A node group is imported by cluster and node group name. One not created by
# this provider keeps its own launch template until its AMI or disk changes.
terraform import cvm_nodegroup.cvm my-cluster:cvm-nodes
