# The settings are a singleton: the import id is always "settings".
terraform import cvm_settings.main settings
