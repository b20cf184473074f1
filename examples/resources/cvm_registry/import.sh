# Import by the registry's Coder id. Coder never returns credentials, so set
# username and password in configuration; the next apply sends them.
terraform import cvm_registry.team 5f0e1a2b3c4d5e6f
