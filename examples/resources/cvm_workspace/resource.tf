variable "agent_token" {
  description = "coder_agent.main.token in a Coder template."
  type        = string
  sensitive   = true
}

# One CVM workspace: the image runs under Sysbox on a node where cvm_sysbox installed it, with a
# 10 GiB home volume that stays while the workspace is stopped. In a Coder template, `running` is
# `data.coder_workspace.me.start_count == 1` and the agent's token and init script come from
# `coder_agent.main`.
resource "cvm_workspace" "dev" {
  namespace         = "default"
  name              = "coder-alice-dev"
  image             = "codercom/enterprise-base:ubuntu"
  agent_token       = var.agent_token
  agent_init_script = "echo the agent's init script starts here"
  running           = true
  cpu               = "2"
  memory            = "4Gi"
  home_size         = "10Gi"
}

output "node" {
  value = cvm_workspace.dev.node_name
}
