//! Runs the demo's local stack (see `acceptance_tests::demo_stack`) until told to stop.
//!
//! Usage: `demo-stack DIR`. Writes `DIR/env.sh` (the environment Terraform needs),
//! `DIR/terraform.tfvars` (the EKS cluster, network and role moto holds) and then `DIR/ready`;
//! stops everything and exits when `DIR/stop` appears. `scripts/demo` drives it.

use std::path::PathBuf;
use std::time::Duration;

use acceptance_tests::demo_stack::DemoStack;

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: demo-stack DIR")?);
    std::fs::create_dir_all(&dir)?;
    let _ = std::fs::remove_file(dir.join("stop"));
    let _ = std::fs::remove_file(dir.join("ready"));
    println!(
        "starting moto, kube-apiserver + etcd, the Coder emulator, the installer double and the node joiner"
    );
    let stack = DemoStack::start()?;
    let env: String = stack
        .env()
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
        .collect();
    std::fs::write(dir.join("env.sh"), env)?;
    std::fs::write(dir.join("terraform.tfvars"), stack.tfvars())?;
    std::fs::write(dir.join("ready"), format!("{stack:?}\n"))?;
    println!("stack ready: {stack:?}");

    let (mut joined, mut installed) = (0, 0);
    while !dir.join("stop").exists() {
        for (journal, seen) in [
            (stack.joiner_journal(), &mut joined),
            (stack.installer_journal(), &mut installed),
        ] {
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
