# The Coder v1 example: an EKS cluster made able to run Sysbox container-based virtual machines
# (CVMs), and a Coder v1 deployment switched to run its workspaces as CVMs, in one plan:
#
#   Ubuntu EKS AMI -> node group -> Sysbox on its nodes -> cluster check
#   -> Coder CVM settings (once Sysbox runs) -> private registry
#
# Coder v1 is end of life; for Coder v2 see examples/complete. The provider reads AWS credentials
# from the standard chain, the cluster from KUBECONFIG, and Coder from CODER_URL and
# CODER_SESSION_TOKEN.

terraform {
  required_providers {
    cvm = {
      source = "cvm-provider/cvm"
    }
  }
}

provider "cvm" {
  aws {
    region = var.aws_region
  }
}

variable "aws_region" {
  description = "Region of the EKS cluster."
  type        = string
}

variable "cluster_name" {
  description = "The EKS cluster the CVM nodes join."
  type        = string
}

variable "kubernetes_version" {
  description = "The cluster's Kubernetes version."
  type        = string
}

variable "node_role_arn" {
  description = "IAM role of the nodes."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the cluster's VPC for the nodes."
  type        = list(string)
}

variable "ami_parameter_prefix" {
  description = "Where Canonical's AMI parameters are read; change it only to read copies of them."
  type        = string
  default     = "/aws/service/canonical/ubuntu"
}

variable "registry_password" {
  description = "Token of the private registry's robot account."
  type        = string
  sensitive   = true
  default     = "example-robot-token"
}

# Canonical's Ubuntu 22.04 EKS image for the cluster's Kubernetes version.
data "cvm_ubuntu_ami" "ubuntu" {
  kubernetes_version = var.kubernetes_version
  ubuntu_release     = "22.04"
  parameter_prefix   = var.ami_parameter_prefix
}

# Nodes for CVMs, labelled sysbox-install=yes (install_sysbox defaults to true).
resource "cvm_nodegroup" "cvm" {
  cluster_name   = var.cluster_name
  name           = "cvm-nodes"
  node_role_arn  = var.node_role_arn
  subnet_ids     = var.subnet_ids
  instance_types = ["m6i.2xlarge"]
  ami_id         = data.cvm_ubuntu_ami.ubuntu.ami_id
  disk_size_gib  = 100
  labels         = { "example.com/cvm" = "true" }

  scaling {
    min_size     = 1
    max_size     = 4
    desired_size = 2
  }
}

# Sysbox on the node group's nodes, once they have joined the cluster.
resource "cvm_sysbox" "cvm" {
  node_selector   = { "eks.amazonaws.com/nodegroup" = cvm_nodegroup.cvm.name }
  min_ready_nodes = cvm_nodegroup.cvm.scaling.desired_size
}

# What the cluster says about the CVM nodes: distro, kernel, runtime,
# Kubernetes version, and the installer namespace's Pod Security level.
data "cvm_cluster_check" "cvm_nodes" {
  namespace     = cvm_sysbox.cvm.namespace
  node_selector = cvm_sysbox.cvm.node_selector
}

# CVMs switched on in Coder only once Sysbox runs on at least one node.
resource "cvm_settings" "coder" {
  enabled     = length(cvm_sysbox.cvm.ready_nodes) > 0
  tun_device  = true
  fuse_device = true
}

# A private registry CVM workspaces pull their images from.
resource "cvm_registry" "team" {
  friendly_name = "team-images"
  registry      = "registry.example.com"
  username      = "robot"
  password      = var.registry_password
}

output "nodes_ready_for_cvms" {
  description = "Nodes on which Sysbox runs."
  value       = cvm_sysbox.cvm.ready_nodes
}

output "runtime_class" {
  description = "The runtime class CVM pods name."
  value       = cvm_sysbox.cvm.runtime_class_name
}

output "cluster_check" {
  description = "The cluster check's verdict."
  value       = data.cvm_cluster_check.cvm_nodes.summary
}

output "coder_cvms_enabled" {
  description = "Whether the Coder deployment runs workspaces as CVMs."
  value       = cvm_settings.coder.enabled
}

output "registry_id" {
  description = "Coder's id of the private registry."
  value       = cvm_registry.team.id
}
