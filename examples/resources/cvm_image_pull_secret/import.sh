# An existing Secret is imported by `namespace/name`; the password stays in configuration.
terraform import cvm_image_pull_secret.team default/team-registry
