# A workspace is imported by `namespace/name` of its pod; its home volume claim is `<name>-home`.
terraform import cvm_workspace.dev default/coder-alice-dev
