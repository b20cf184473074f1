variable "cluster_name" {
  description = "The EKS cluster the nodes join."
  type        = string
}

variable "node_role_arn" {
  description = "IAM role of the nodes (AmazonEKSWorkerNodePolicy, AmazonEC2ContainerRegistryReadOnly, AmazonEKS_CNI_Policy)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the cluster's VPC."
  type        = list(string)
}

variable "ami_parameter_prefix" {
  description = "Where Canonical's AMI parameters are read; change it only to read copies of them."
  type        = string
  default     = "/aws/service/canonical/ubuntu"
}

# Ubuntu 22.04 nodes for CVMs: the AMI is Canonical's EKS image for the
# cluster's Kubernetes version, and the nodes register with the label
# sysbox-install=yes so cvm_sysbox can select them.
resource "cvm_nodegroup" "cvm" {
  cluster_name         = var.cluster_name
  name                 = "cvm-nodes"
  node_role_arn        = var.node_role_arn
  subnet_ids           = var.subnet_ids
  instance_types       = ["m6i.2xlarge"]
  ubuntu_release       = "22.04"
  ami_parameter_prefix = var.ami_parameter_prefix
  disk_size_gib        = 100

  scaling {
    min_size     = 1
    max_size     = 4
    desired_size = 2
  }

  labels = { "example.com/cvm" = "true" }

  # Keep other workloads off the CVM nodes.
  taints {
    key    = "example.com/cvm"
    value  = "true"
    effect = "NO_SCHEDULE"
  }
}

output "nodegroup_id" {
  value = cvm_nodegroup.cvm.id
}

output "node_labels" {
  value = cvm_nodegroup.cvm.node_labels
}
