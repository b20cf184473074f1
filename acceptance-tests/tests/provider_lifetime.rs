//! No provider process outlives the client that started it.
//!
//! Every command the harness runs is already checked for a provider left running after it
//! (`provider_processes`). This test covers the client that cannot stop its provider: Terraform
//! (or OpenTofu) killed with SIGKILL while the provider is busy. The provider must notice that its
//! parent has gone and exit by itself, instead of idling on as a child of init.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

use acceptance_tests::provider_processes::{self, EXIT_LIMIT};
use acceptance_tests::{self as acc, Workdir};

/// Waits up to `limit` for the provider to connect to `listener` (which never answers), as long
/// as `terraform` runs.
fn accept_within(
    listener: &TcpListener,
    terraform: &mut Child,
    limit: Duration,
) -> io::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, _)) => return Ok(stream),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if let Some(status) = terraform.try_wait()? {
                    return Err(io::Error::other(format!(
                        "Terraform exited ({status}) first"
                    )));
                }
                if Instant::now() >= deadline {
                    return Err(io::Error::other(format!("no connection within {limit:?}")));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(err) => return Err(err),
        }
    }
}

#[test]
fn a_provider_exits_when_terraform_is_killed_mid_apply() {
    acc::run(|tf| -> Result<(), String> {
        // A "Coder" that accepts connections and never answers: the provider is mid-request
        // once the connection is accepted.
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let url = format!(
            "http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let wd = Workdir::new(tf).map_err(|e| e.to_string())?;
        wd.config(&format!(
            r#"
terraform {{
  required_providers {{
    cvm = {{ source = "cvm-provider/cvm" }}
  }}
}}
provider "cvm" {{
  coder {{
    url           = "{url}"
    session_token = "not-a-real-token"
  }}
}}
resource "cvm_registry" "main" {{
  friendly_name = "team"
  registry      = "registry.example.com"
  username      = "robot"
  password      = "not-a-real-password"
}}
"#
        ))
        .map_err(|e| e.to_string())?;

        let mut terraform = wd
            .spawn_terraform(&["apply", "-auto-approve", "-no-color"])
            .map_err(|e| e.to_string())?;
        let _held = match accept_within(&listener, &mut terraform, Duration::from_secs(120)) {
            Ok(stream) => stream,
            Err(err) => {
                let _ = terraform.kill();
                let _ = terraform.wait();
                let stderr = std::fs::read_to_string(wd.path().join("spawned.stderr"));
                return Err(format!(
                    "the provider never called the Coder endpoint ({err}); Terraform's stderr:\n{}",
                    stderr.unwrap_or_default()
                ));
            }
        };
        let found = provider_processes::provider_descendants(terraform.id());
        if found.is_empty() {
            let _ = terraform.kill();
            let _ = terraform.wait();
            return Err("no provider process runs under Terraform mid-apply".to_owned());
        }
        let (providers, clients): (Vec<u32>, Vec<u32>) = found.into_iter().unzip();

        // SIGKILL to the process each provider was started by (Terraform itself, or its
        // worker under Terraform 1.0's panic wrapper): it can neither call Shutdown nor kill
        // its plugins.
        provider_processes::kill(&clients);
        terraform.wait().map_err(|e| e.to_string())?;

        let outlived = provider_processes::wait_for_exit(&providers, EXIT_LIMIT);
        if !outlived.is_empty() {
            provider_processes::kill(&outlived);
            return Err(format!(
                "provider processes {outlived:?} were still running {EXIT_LIMIT:?} after the {} process that started them was killed",
                tf.label()
            ));
        }
        Ok(())
    });
}
