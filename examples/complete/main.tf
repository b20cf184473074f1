# The complete example: an EKS cluster made able to run Sysbox container-based virtual machines
# (CVMs), and a Coder v2 deployment given a template whose workspaces are CVMs, in one plan:
#
#   Ubuntu EKS AMI -> node group -> Sysbox on its nodes -> cluster check
#   -> registry credentials (checked against the registry) -> the ready CVM template in Coder
#
# Coder v2 has no CVM switch: a template makes each workspace's pod. The template pushed here
# runs `cvm_workspace` (a `sysbox-runc` pod on a Sysbox node, with a home volume kept while the
# workspace is stopped) when a user creates a workspace. For Coder v1 see examples/coder-v1.
#
# The provider reads AWS credentials from the standard chain, the cluster from KUBECONFIG, and
# Coder from CODER_URL and CODER_SESSION_TOKEN. Coder's provisioner needs this provider too (from
# a registry or a filesystem mirror) and a way to the cluster: inside it, its service account.

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

variable "workspace_namespace" {
  description = "The namespace CVM workspaces run in; it must exist (Coder's Helm chart, or your cluster's setup, makes it)."
  type        = string
  default     = "coder-workspaces"
}

variable "registry" {
  description = "The private registry workspace images come from, as image references name it."
  type        = string
}

variable "registry_username" {
  description = "The registry's robot account."
  type        = string
}

variable "registry_password" {
  description = "Token of the registry's robot account."
  type        = string
  sensitive   = true
}

variable "registry_ca" {
  description = "PEM of the CA that signed the registry's certificate, when it is a private one."
  type        = string
  default     = null
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

# The credentials workspaces pull their images with. The apply first logs in to the registry with
# them, and fails, naming the registry, if it refuses.
resource "cvm_image_pull_secret" "team" {
  namespace      = var.workspace_namespace
  name           = "team-registry"
  registry       = var.registry
  username       = var.registry_username
  password       = var.registry_password
  ca_certificate = var.registry_ca
}

# The ready CVM template: users pick CPU, memory, home size and image when they create a workspace.
data "cvm_workspace_template" "cvm" {
  namespace         = var.workspace_namespace
  image             = "${var.registry}/team/dev:2026.12"
  image_pull_secret = cvm_image_pull_secret.team.name
  max_cpu           = 8
  max_memory_gib    = 32
}

# Pushed to Coder once Sysbox runs, so no workspace is built before there is a node for it.
resource "cvm_coder_template" "cvm" {
  name         = "cvm-ubuntu"
  display_name = "Ubuntu CVM"
  description  = "Ubuntu workspaces that run Docker, in a Sysbox container-based VM."
  icon         = "/icon/ubuntu.svg"
  files        = data.cvm_workspace_template.cvm.files

  depends_on = [cvm_sysbox.cvm]
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

output "template" {
  description = "The Coder template users create CVM workspaces of."
  value       = cvm_coder_template.cvm.name
}

output "template_version" {
  description = "Coder's id of the template's active version."
  value       = cvm_coder_template.cvm.version_id
}
