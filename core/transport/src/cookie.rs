//! The go-plugin magic cookie: proof that Terraform started this process.

/// Environment variable Terraform sets when it launches a provider.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";

/// The value Terraform puts in [`MAGIC_COOKIE_KEY`] (the same for every
/// provider; it is not a secret, only a guard against running by hand).
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// The binary was run without Terraform's magic cookie, most likely by hand.
///
/// Its `Display` text is a short explanation meant for a person at a
/// terminal: print it to stderr and exit with status 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "This binary is a Terraform provider plugin. It is not meant to be run by hand: \
     Terraform starts it when a configuration needs it.\n\
     \n\
     To use it, declare the provider in a `required_providers` block of your Terraform \
     configuration. To try a local build, add a `dev_overrides` entry for the provider's \
     source address to your Terraform CLI configuration (~/.terraformrc or \
     TF_CLI_CONFIG_FILE), pointing at the directory that holds this binary.\n\
     \n\
     To run it under a debugger, start it with --debug and set the TF_REATTACH_PROVIDERS \
     value it prints in the shell where you run terraform."
)]
pub struct NotLaunchedByTerraform;

/// Checks that Terraform launched this process, by looking for its magic
/// cookie in the environment.
///
/// Skip this check in `--debug` mode, where the provider is started by hand.
pub fn check_magic_cookie() -> Result<(), NotLaunchedByTerraform> {
    check_cookie_value(std::env::var(MAGIC_COOKIE_KEY).ok().as_deref())
}

/// The check itself, on the variable's value (`None` when unset).
pub(crate) fn check_cookie_value(value: Option<&str>) -> Result<(), NotLaunchedByTerraform> {
    match value {
        Some(MAGIC_COOKIE_VALUE) => Ok(()),
        _ => Err(NotLaunchedByTerraform),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_exact_cookie() {
        assert_eq!(check_cookie_value(Some(MAGIC_COOKIE_VALUE)), Ok(()));
        assert_eq!(check_cookie_value(None), Err(NotLaunchedByTerraform));
        assert_eq!(check_cookie_value(Some("")), Err(NotLaunchedByTerraform));
        assert_eq!(
            check_cookie_value(Some("d602bf8f")),
            Err(NotLaunchedByTerraform)
        );
        let padded = format!("{MAGIC_COOKIE_VALUE} ");
        assert_eq!(
            check_cookie_value(Some(&padded)),
            Err(NotLaunchedByTerraform)
        );
    }

    #[test]
    fn explanation_tells_a_person_what_to_do() {
        let text = NotLaunchedByTerraform.to_string();
        assert!(text.contains("Terraform provider plugin"));
        assert!(text.contains("Terraform starts it"));
        assert!(text.contains("required_providers"));
        assert!(text.contains("dev_overrides"));
        assert!(text.contains("--debug"));
    }
}
