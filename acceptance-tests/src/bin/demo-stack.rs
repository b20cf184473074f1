//! Runs the demo's local stack (see `acceptance_tests::demo_stack`) until told to stop, and makes
//! the demo's workspace through Coder's API.
//!
//! Usage:
//! * `demo-stack run DIR [--coder-v1]`: starts the stack (Coder v2 and the registry; the Coder v1
//!   emulator with `--coder-v1`). Writes `DIR/env.sh` (the environment Terraform needs),
//!   `DIR/terraform.tfvars` (the EKS cluster, network and role moto holds, and the registry) and
//!   then `DIR/ready`; prints what the stand-ins do; stops everything and exits when `DIR/stop`
//!   appears.
//! * `demo-stack workspace create TEMPLATE NAME`: creates the workspace NAME of the Coder v2
//!   template TEMPLATE as the first user, waits for its build, and prints where its CVM runs.
//! * `demo-stack workspace delete NAME`: deletes it (a delete build), if it exists.
//!
//! The `workspace` commands read `CODER_URL`, `CODER_SESSION_TOKEN`, `KUBECONFIG` and
//! `CVM_DEMO_KUBE_CA` from the environment `DIR/env.sh` sets. `scripts/demo` drives it all.

use std::path::{Path, PathBuf};
use std::time::Duration;

use acceptance_tests::coder_v2::CoderV2;
use acceptance_tests::demo_stack::{self, DemoStack, Generation};
use acceptance_tests::kube::KubeApi;

const USAGE: &str = "usage: demo-stack run DIR [--coder-v1] | demo-stack workspace create TEMPLATE NAME | demo-stack workspace delete NAME";

type Failure = Box<dyn std::error::Error>;

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args[..] {
        ["run", dir] => run(Path::new(dir), Generation::V2),
        ["run", dir, "--coder-v1"] => run(Path::new(dir), Generation::V1),
        ["workspace", "create", template, name] => {
            let (coder, kube) = clients()?;
            let placement = demo_stack::create_workspace(&coder, &kube, template, name)?;
            println!("workspace {name}: build succeeded");
            println!("{placement}");
            Ok(())
        }
        ["workspace", "delete", name] => {
            let (coder, _) = clients()?;
            if demo_stack::delete_workspace(&coder, name)? {
                println!("workspace {name}: deleted");
            }
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}

fn env(name: &str) -> Result<String, Failure> {
    std::env::var(name).map_err(|_| format!("{name} is not set (source the stack's env.sh)").into())
}

fn clients() -> Result<(CoderV2, KubeApi), Failure> {
    let coder = CoderV2::connect(&env("CODER_URL")?, &env("CODER_SESSION_TOKEN")?);
    let kube = KubeApi::from_kubeconfig(
        &PathBuf::from(env("KUBECONFIG")?),
        &PathBuf::from(env("CVM_DEMO_KUBE_CA")?),
    )?;
    Ok((coder, kube))
}

fn run(dir: &Path, generation: Generation) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)?;
    let _ = std::fs::remove_file(dir.join("stop"));
    let _ = std::fs::remove_file(dir.join("ready"));
    let coder = match generation {
        Generation::V1 => "the Coder v1 emulator",
        Generation::V2 => "the Coder v2 server, the image registry",
    };
    println!(
        "starting moto, kube-apiserver + etcd, {coder}, the installer double, the node joiner and the volume provisioner"
    );
    let stack = DemoStack::start(generation)?;
    let env: String = stack
        .env()
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
        .collect();
    write_private(&dir.join("env.sh"), &env)?;
    std::fs::write(dir.join("terraform.tfvars"), stack.tfvars())?;
    std::fs::write(dir.join("ready"), format!("{stack:?}\n"))?;
    println!("stack ready: {stack:?}");

    let mut seen = [0; 3];
    while !dir.join("stop").exists() {
        let journals = [
            stack.joiner_journal(),
            stack.installer_journal(),
            stack.volume_journal(),
        ];
        for (journal, seen) in journals.iter().zip(seen.iter_mut()) {
            for line in journal.iter().skip(*seen) {
                println!("{line}");
            }
            *seen = journal.len();
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    println!("stopping the stack");
    drop(stack);
    let _ = std::fs::remove_file(dir.join("ready"));
    Ok(())
}

/// Writes a file only its owner can read: it holds the Coder token and the registry password.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // The mode applies only to a new file.
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}
