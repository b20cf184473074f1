# Import by organization/name. Import reads the active version's files into `files`, so the
# next plan is empty when the configuration holds the same files.
terraform import cvm_coder_template.cvm coder/cvm-ubuntu
