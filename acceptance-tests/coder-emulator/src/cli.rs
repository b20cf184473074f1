//! Command-line arguments of the `coder-emulator` binary:
//! `coder-emulator --listen 127.0.0.1:0 --token <token> [--version 1.44.0] [--v2]
//! [--settings-put replace|merge] [--url-file PATH]`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{DEFAULT_VERSION, Options, SettingsPut};

/// Usage text printed with argument errors.
pub const USAGE: &str = "usage: coder-emulator --listen 127.0.0.1:0 --token <session token> \
                         [--version 1.44.0] [--v2] [--settings-put replace|merge] \
                         [--url-file PATH]";

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// Loopback address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Where to also write the URL, if anywhere.
    pub url_file: Option<PathBuf>,
    /// Behaviour of the emulator.
    pub options: Options,
}

/// Why the command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// An option the emulator does not know.
    #[error("unknown argument {0:?}")]
    UnknownArgument(String),
    /// An option given without its value.
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    /// A required option is missing.
    #[error("{0} is required")]
    Required(&'static str),
    /// `--listen` is not an `IP:PORT`.
    #[error("--listen {0:?} is not an IP:PORT address")]
    BadAddress(String),
    /// `--listen` is not a loopback address.
    #[error("--listen {0} is not a loopback address; the emulator binds 127.0.0.1 or ::1 only")]
    NotLoopback(SocketAddr),
    /// `--token` is empty.
    #[error("--token must not be empty")]
    EmptyToken,
    /// `--settings-put` is neither `replace` nor `merge`.
    #[error("--settings-put {0:?} must be replace or merge")]
    BadSettingsPut(String),
    /// An argument is not valid UTF-8.
    #[error("arguments must be valid UTF-8")]
    NotUtf8,
}

impl CommandLine {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<CommandLine, CliError> {
        let mut args = args.into_iter();
        let mut listen = None;
        let mut token = None;
        let mut version = DEFAULT_VERSION.to_owned();
        let mut v2 = false;
        let mut settings_put = SettingsPut::default();
        let mut url_file = None;
        while let Some(arg) = args.next() {
            let arg = arg.into_string().map_err(|_| CliError::NotUtf8)?;
            // Both `--flag value` and `--flag=value` are accepted.
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => {
                    (name.to_owned(), Some(value.to_owned()))
                }
                _ => (arg.clone(), None),
            };
            let mut value = |flag: &'static str| -> Result<String, CliError> {
                match inline.clone() {
                    Some(value) => Ok(value),
                    None => args
                        .next()
                        .ok_or(CliError::MissingValue(flag))?
                        .into_string()
                        .map_err(|_| CliError::NotUtf8),
                }
            };
            match name.as_str() {
                "--listen" => listen = Some(value("--listen")?),
                "--token" => token = Some(value("--token")?),
                "--version" => version = value("--version")?,
                "--settings-put" => {
                    let mode = value("--settings-put")?;
                    settings_put = mode.parse().map_err(|_| CliError::BadSettingsPut(mode))?;
                }
                "--url-file" => url_file = Some(PathBuf::from(value("--url-file")?)),
                "--v2" if inline.is_none() => v2 = true,
                _ => return Err(CliError::UnknownArgument(arg)),
            }
        }
        let listen = listen.ok_or(CliError::Required("--listen"))?;
        let listen: SocketAddr = listen
            .parse()
            .map_err(|_| CliError::BadAddress(listen.clone()))?;
        if !listen.ip().is_loopback() {
            return Err(CliError::NotLoopback(listen));
        }
        let token = token.ok_or(CliError::Required("--token"))?;
        if token.is_empty() {
            return Err(CliError::EmptyToken);
        }
        Ok(CommandLine {
            listen,
            url_file,
            options: Options {
                token,
                version,
                v2,
                settings_put,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<CommandLine, CliError> {
        CommandLine::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn full_command_line() {
        let cli = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--token=t",
            "--version",
            "1.30.0",
            "--v2",
            "--settings-put",
            "merge",
            "--url-file",
            "/tmp/u",
        ])
        .unwrap();
        assert_eq!(cli.options.settings_put, SettingsPut::Merge);
        assert_eq!(cli.listen.to_string(), "127.0.0.1:0");
        assert_eq!(cli.options.token, "t");
        assert_eq!(cli.options.version, "1.30.0");
        assert!(cli.options.v2);
        assert_eq!(cli.url_file, Some(PathBuf::from("/tmp/u")));
    }

    #[test]
    fn settings_put_replaces_by_default() {
        let cli = parse(&["--listen", "127.0.0.1:0", "--token", "t"]).unwrap();
        assert_eq!(cli.options.settings_put, SettingsPut::Replace);
        assert_eq!(
            parse(&[
                "--listen",
                "127.0.0.1:0",
                "--token",
                "t",
                "--settings-put=patch"
            ]),
            Err(CliError::BadSettingsPut("patch".into()))
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse(&["--token", "t"]),
            Err(CliError::Required("--listen"))
        );
        assert_eq!(
            parse(&["--listen", "0.0.0.0:0", "--token", "t"]),
            Err(CliError::NotLoopback("0.0.0.0:0".parse().unwrap()))
        );
        assert_eq!(
            parse(&["--listen", "127.0.0.1:0", "--token", ""]),
            Err(CliError::EmptyToken)
        );
        assert_eq!(
            parse(&["--listen", "127.0.0.1:0", "--token"]),
            Err(CliError::MissingValue("--token"))
        );
        assert_eq!(
            parse(&["--listen", "localhost", "--token", "t"]),
            Err(CliError::BadAddress("localhost".into()))
        );
        assert!(matches!(
            parse(&["--frobnicate"]),
            Err(CliError::UnknownArgument(_))
        ));
    }
}
