variable "ami_parameter_prefix" {
  description = "Where Canonical's AMI parameters are read; change it only to read copies of them."
  type        = string
  default     = "/aws/service/canonical/ubuntu"
}

# Canonical's Ubuntu 24.04 EKS image for Kubernetes 1.33 on arm64.
data "cvm_ubuntu_ami" "noble" {
  kubernetes_version = "1.33"
  ubuntu_release     = "24.04"
  architecture       = "arm64"
  parameter_prefix   = var.ami_parameter_prefix
}

output "ami_id" {
  value = data.cvm_ubuntu_ami.noble.ami_id
}

output "ami_parameter" {
  value = data.cvm_ubuntu_ami.noble.parameter_name
}
